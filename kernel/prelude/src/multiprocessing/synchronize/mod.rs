//! Locks and friends that work across processes (Python's
//! `multiprocessing.synchronize`), in shared memory. A lock whose holder died
//! is recovered instead of hanging everyone.
//!
//! One file per type, as in `threading/`.

mod barrier;
mod condition;
mod event;
mod lock;
mod semaphore;

pub use barrier::Barrier;
pub use condition::Condition;
pub use event::Event;
pub use lock::{Lock, LockGuard, RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, Semaphore};

use crate::error::Result;
use crate::sys::shm::Shared;
use crate::sys::sync::Acquired;

fn new_shared<T>(init: impl FnOnce(*mut T) -> Result<()>) -> Result<Shared<T>> {
    // SAFETY: `init` initializes every field of the fresh, zeroed T when it
    // returns `Ok`; on an error the half-built mapping is dropped unread.
    unsafe { Shared::try_new_with(0, init) }
}

fn warn_if_recovered(acquired: Acquired) -> Acquired {
    if acquired.is_recovered() {
        eprintln!(
            "warning: the previous holder of a lock died while holding it; \
             the lock was recovered, but the data it protects may be half-updated"
        );
    }
    acquired
}

//! Python's `threading`: named threads, timers, and the locks between them.
//!
//! Thin layers over `std::thread` and `std::sync`, with Python's names and
//! interruptible waits. Every primitive is `Clone`; clones share it.
//!
//! | Python | Rust |
//! |---|---|
//! | `Thread(target=f, name="t1", daemon=True)` | `Thread::new("t1", f).daemon(true)` |
//! | `current_thread()`, `main_thread()`, `enumerate()`, `active_count()` | the same names |
//! | `get_ident()`, `get_native_id()` | the same names |
//! | `Timer(2.0, f)` | `Timer::new(Duration::from_secs(2), f)` |
//! | `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`, `Event`, `Condition`, `Barrier` | the same names |

mod barrier;
mod condition;
mod event;
mod lock;
mod semaphore;
mod thread;
mod timer;

pub use barrier::Barrier;
pub use condition::{Condition, ConditionGuard};
pub use event::Event;
pub use lock::{Lock, LockGuard, RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, Semaphore};
pub use thread::{
    Thread, ThreadInfo, active_count, current_thread, enumerate, get_ident, get_native_id,
    main_thread,
};
pub use timer::Timer;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks, ignoring poisoning: every state behind these mutexes is updated in
/// one step, so a panic elsewhere never leaves it half-written.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The kernel's id of the calling thread.
fn native_id() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

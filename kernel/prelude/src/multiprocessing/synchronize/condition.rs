//! [`Condition`], over the core it shares with `threading::Condition`.

use super::{new_shared, warn_if_recovered};
use crate::error::{Error, Result};
use crate::sys::condition::{Waits, settle};
use crate::sys::deadline::Deadline;
use crate::sys::shm::Shared;
use crate::sys::sync::{Acquired, RawCond, RawMutex};
use crate::sys::waiters::{Slot, Waiters};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// How many threads (in all processes) may wait on one `Condition` at once.
const MAX_CONDITION_WAITERS: usize = 4096;

#[repr(C)]
struct ConditionCell {
    mutex: RawMutex,
    cond: RawCond,
    /// The kernel thread id of the lock's holder (0: nobody), so that `wait`
    /// and `notify` can refuse callers that do not hold it.
    owner: AtomicI32,
    waiters: UnsafeCell<Waiters<[Slot; MAX_CONDITION_WAITERS]>>,
}

// SAFETY: `waiters` is only touched while `mutex` is held; `owner` is atomic.
unsafe impl Sync for ConditionCell {}

fn my_tid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// A condition variable shared between processes, like Python's
/// `multiprocessing.Condition`: `acquire`, then `wait` until another process
/// `notify`s, then `release`. `wait` and `notify` without holding the lock
/// are `Err(NotHeld)` (Python's `RuntimeError`), and `notify(n)` wakes the
/// `n` oldest waiters still waiting — never one that timed out or was
/// interrupted meanwhile. Its lock is not recursive.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Condition, Process, Value};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let condition = Condition::new()?;
/// let ready = Value::new(false)?;
/// let (notifier, flag) = (condition.clone(), ready.clone());
/// let mut p = Process::new(move || {
///     notifier.acquire().expect("acquire");
///     flag.set(true).expect("set");
///     notifier.notify_all().expect("notify");
///     notifier.release().expect("release");
/// });
/// p.start()?;
/// condition.acquire()?;
/// condition.wait_for(|| ready.get().unwrap_or(false))?;
/// condition.release()?;
/// p.join()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Condition {
    cell: Shared<ConditionCell>,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Condition")
    }
}

impl Condition {
    /// A new condition with its own lock.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Condition;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let condition = Condition::new()?;
    /// condition.acquire()?;
    /// condition.release()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn new() -> Result<Condition> {
        Ok(Condition {
            cell: new_shared(|at: *mut ConditionCell| {
                // SAFETY: `at` is fresh zeroed memory; zeros are a valid
                // `owner` and an empty waiter table.
                unsafe {
                    RawMutex::init(std::ptr::addr_of_mut!((*at).mutex), false)?;
                    RawCond::init(std::ptr::addr_of_mut!((*at).cond))
                }
            })?,
        })
    }

    /// Takes the condition's lock (interruptibly).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Acquired, Condition};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let condition = Condition::new()?;
    /// assert_eq!(condition.acquire()?, Acquired::Clean);
    /// condition.release()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn acquire(&self) -> Result<Acquired> {
        let cell = self.cell.get();
        let acquired = warn_if_recovered(cell.mutex.lock(&Deadline::forever())?);
        cell.owner.store(my_tid(), Ordering::Relaxed);
        Ok(acquired)
    }

    /// Releases the condition's lock; `Err(NotOwner)` unless this thread holds it.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Condition, Error};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(matches!(Condition::new()?.release(), Err(Error::NotOwner)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn release(&self) -> Result<()> {
        let cell = self.cell.get();
        if cell.owner.load(Ordering::Relaxed) != my_tid() {
            return Err(Error::NotOwner);
        }
        cell.owner.store(0, Ordering::Relaxed);
        cell.mutex.unlock()
    }

    fn check_held(&self, operation: &'static str) -> Result<&ConditionCell> {
        let cell = self.cell.get();
        if cell.owner.load(Ordering::Relaxed) == my_tid() {
            Ok(cell)
        } else {
            Err(Error::NotHeld { operation })
        }
    }

    /// Releases the lock, waits (interruptibly) for a `notify`, and takes the
    /// lock again. `Err(NotHeld)` unless the caller holds the lock.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Condition, Error};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let condition = Condition::new()?;
    /// assert!(matches!(condition.wait(), Err(Error::NotHeld { operation: "wait" })));
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait(&self) -> Result<()> {
        Waits::wait(self)
    }

    /// Like [`wait`](Condition::wait) for at most `timeout`; `Ok(false)` on timeout.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Condition;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let condition = Condition::new()?;
    /// condition.acquire()?;
    /// assert!(!condition.wait_timeout(Duration::from_millis(10))?);
    /// condition.release()?; // the lock is held again after the wait
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        Waits::wait_timeout(self, timeout)
    }

    /// Waits until `predicate()` holds (checked with the lock held), like
    /// Python's `wait_for`.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Condition;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let condition = Condition::new()?;
    /// condition.acquire()?;
    /// condition.wait_for(|| true)?; // already true: no wait
    /// condition.release()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait_for(&self, predicate: impl FnMut() -> bool) -> Result<()> {
        Waits::wait_for(self, predicate)
    }

    /// Like [`wait_for`](Condition::wait_for) for at most `timeout`; returns
    /// the predicate's last value, as Python does.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Condition;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let condition = Condition::new()?;
    /// condition.acquire()?;
    /// assert!(!condition.wait_for_timeout(|| false, Duration::from_millis(10))?);
    /// condition.release()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait_for_timeout(
        &self,
        predicate: impl FnMut() -> bool,
        timeout: Duration,
    ) -> Result<bool> {
        Waits::wait_for_timeout(self, predicate, timeout)
    }

    /// Wakes the `n` oldest waiters still waiting. `Err(NotHeld)` unless the
    /// caller holds the lock.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Condition;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let condition = Condition::new()?;
    /// condition.acquire()?;
    /// condition.notify(1)?; // nobody waits: nothing happens
    /// condition.release()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn notify(&self, n: usize) -> Result<()> {
        let cell = self.check_held("notify")?;
        // SAFETY: we hold the mutex, which guards the waiter table.
        if unsafe { (*cell.waiters.get()).notify(n) } > 0 {
            cell.cond.notify_all();
        }
        Ok(())
    }

    /// Wakes every waiter. `Err(NotHeld)` unless the caller holds the lock.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Condition, Error};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let condition = Condition::new()?;
    /// assert!(matches!(condition.notify_all(), Err(Error::NotHeld { .. })));
    /// # Ok(())
    /// # }
    /// ```
    pub fn notify_all(&self) -> Result<()> {
        self.notify(usize::MAX)
    }
}

impl Waits for Condition {
    fn wait_deadline(&self, deadline: Deadline) -> Result<bool> {
        let cell = self.check_held("wait")?;
        let me = my_tid();
        // SAFETY (every block below): we hold the mutex, which guards the
        // waiter table; `wait_slice` gives it back to us before returning.
        let slot = unsafe { (*cell.waiters.get()).enqueue() }
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EAGAIN))?;
        let outcome = loop {
            if unsafe { (*cell.waiters.get()).is_notified(slot) } {
                break Ok(());
            }
            let slice = match deadline.slice() {
                Ok(slice) => slice,
                Err(error) => break Err(error),
            };
            cell.owner.store(0, Ordering::Relaxed);
            let waited = cell.cond.wait_slice(&cell.mutex, slice);
            cell.owner.store(me, Ordering::Relaxed);
            if let Err(error) = waited.map(warn_if_recovered) {
                break Err(error);
            }
        };
        let (settled, passed_on) = settle(unsafe { &mut *cell.waiters.get() }, slot, outcome);
        if passed_on {
            cell.cond.notify_all();
        }
        settled
    }
}

//! Locks and friends that work across processes (Python's
//! `multiprocessing.synchronize`), in shared memory. A lock whose holder died
//! is recovered instead of hanging everyone.

use super::{Acquired, Error, Result};
use crate::sys::barrier::{Arrival, BarrierState};
use crate::sys::condition::{Waits, settle};
use crate::sys::deadline::{Deadline, timed};
use crate::sys::shm::Shared;
use crate::sys::sync::{Monitor, RawCond, RawMutex};
use crate::sys::waiters::{Slot, Waiters};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

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

macro_rules! mutex_lock {
    ($name:ident, $guard:ident, $recursive:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone)]
        pub struct $name {
            mutex: Shared<RawMutex>,
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($name))
            }
        }

        impl $name {
            /// A new, released lock.
            ///
            /// ```
            #[doc = concat!("use ferrokernel_prelude::multiprocessing::", stringify!($name), ";")]
            /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
            #[doc = concat!("let lock = ", stringify!($name), "::new()?;")]
            /// assert!(lock.try_acquire()?);
            /// lock.release()?;
            /// # Ok(())
            /// # }
            /// ```
            pub fn new() -> Result<$name> {
                Ok($name {
                    // SAFETY: `at` is fresh memory for the mutex.
                    mutex: new_shared(|at| unsafe { RawMutex::init(at, $recursive) })?,
                })
            }

            /// Waits for the lock (interruptibly). Says whether its previous
            /// holder died holding it (and warns on stderr when so).
            ///
            /// ```
            #[doc = concat!("use ferrokernel_prelude::multiprocessing::{Acquired, Process, ", stringify!($name), "};")]
            /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
            #[doc = concat!("let lock = ", stringify!($name), "::new()?;")]
            /// let holder = lock.clone();
            /// let mut p = Process::new(move || {
            ///     holder.acquire().expect("acquire");
            ///     std::process::exit(0); // dies holding the lock
            /// });
            /// p.start()?;
            /// p.join()?;
            /// assert_eq!(lock.acquire()?, Acquired::Recovered);
            /// lock.release()?;
            /// # Ok(())
            /// # }
            /// ```
            pub fn acquire(&self) -> Result<Acquired> {
                self.mutex
                    .get()
                    .lock(&Deadline::forever())
                    .map(warn_if_recovered)
            }

            /// Waits at most `timeout`; `Ok(false)` if the lock stayed taken.
            ///
            /// ```
            #[doc = concat!("use ferrokernel_prelude::multiprocessing::", stringify!($name), ";")]
            /// use std::time::Duration;
            /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
            #[doc = concat!("let lock = ", stringify!($name), "::new()?;")]
            /// let _held = lock.lock()?;
            /// let other = lock.clone();
            /// let waited = std::thread::spawn(move || other.acquire_timeout(Duration::from_millis(10)));
            /// assert!(!waited.join().expect("thread")?);
            /// # Ok(())
            /// # }
            /// ```
            pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
                timed(self.mutex.get().lock(&Deadline::after(Some(timeout))).map(warn_if_recovered))
            }

            /// Takes the lock if it is free; `Ok(false)` otherwise
            /// (Python's `acquire(block=False)`).
            ///
            /// ```
            #[doc = concat!("use ferrokernel_prelude::multiprocessing::", stringify!($name), ";")]
            /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
            #[doc = concat!("let lock = ", stringify!($name), "::new()?;")]
            /// assert!(lock.try_acquire()?);
            /// lock.release()?;
            /// # Ok(())
            /// # }
            /// ```
            pub fn try_acquire(&self) -> Result<bool> {
                Ok(self
                    .mutex
                    .get()
                    .try_lock()?
                    .map(warn_if_recovered)
                    .is_some())
            }

            /// Releases the lock; `Err(NotOwner)` unless this thread holds it.
            ///
            /// ```
            #[doc = concat!("use ferrokernel_prelude::multiprocessing::{Error, ", stringify!($name), "};")]
            /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
            #[doc = concat!("let lock = ", stringify!($name), "::new()?;")]
            /// assert!(matches!(lock.release(), Err(Error::NotOwner)));
            /// # Ok(())
            /// # }
            /// ```
            pub fn release(&self) -> Result<()> {
                self.mutex.get().unlock()
            }

            /// Acquires and returns a guard that releases on drop (Python's `with lock:`).
            ///
            /// ```
            #[doc = concat!("use ferrokernel_prelude::multiprocessing::", stringify!($name), ";")]
            /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
            #[doc = concat!("let lock = ", stringify!($name), "::new()?;")]
            /// {
            ///     let _held = lock.lock()?;
            /// }
            /// assert!(lock.try_acquire()?);
            /// # Ok(())
            /// # }
            /// ```
            pub fn lock(&self) -> Result<$guard<'_>> {
                let acquired = self.acquire()?;
                Ok($guard {
                    mutex: self.mutex.get(),
                    acquired,
                })
            }
        }

        /// Holds the lock until dropped.
        pub struct $guard<'a> {
            mutex: &'a RawMutex,
            acquired: Acquired,
        }

        impl $guard<'_> {
            /// Whether the previous holder died holding the lock.
            ///
            /// ```
            #[doc = concat!("use ferrokernel_prelude::multiprocessing::", stringify!($name), ";")]
            /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
            #[doc = concat!("assert!(!", stringify!($name), "::new()?.lock()?.recovered());")]
            /// # Ok(())
            /// # }
            /// ```
            pub fn recovered(&self) -> bool {
                self.acquired.is_recovered()
            }
        }

        impl Drop for $guard<'_> {
            fn drop(&mut self) {
                let _ = self.mutex.unlock();
            }
        }
    };
}

mutex_lock!(
    Lock,
    LockGuard,
    false,
    "A lock shared between processes, like Python's `multiprocessing.Lock`.\n\n\
     Clones (and copies moved into child processes) are the same lock. If a \
     process dies holding it, the next `acquire` gets it anyway and reports \
     [`Acquired::Recovered`]."
);
mutex_lock!(
    RLock,
    RLockGuard,
    true,
    "A lock its holder may take again (released as many times), like Python's \
     `multiprocessing.RLock`."
);

struct SemaphoreState {
    value: usize,
    bound: Option<usize>,
}

/// A counter of permits shared between processes, like Python's `multiprocessing.Semaphore`.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Process, Semaphore};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let permits = Semaphore::new(0)?;
/// let giver = permits.clone();
/// let mut p = Process::new(move || giver.release().expect("release"));
/// p.start()?;
/// permits.acquire()?; // waits for the child's permit
/// p.join()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Semaphore {
    monitor: Shared<Monitor<SemaphoreState>>,
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Semaphore")
    }
}

impl Semaphore {
    /// A semaphore with `value` permits.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Semaphore;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Semaphore::new(3)?.value()?, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(value: usize) -> Result<Semaphore> {
        Semaphore::with_bound(value, None)
    }

    fn with_bound(value: usize, bound: Option<usize>) -> Result<Semaphore> {
        Ok(Semaphore {
            // SAFETY: `at` is fresh memory for the monitor.
            monitor: new_shared(|at| unsafe {
                Monitor::init(at, SemaphoreState { value, bound })
            })?,
        })
    }

    fn take(&self, deadline: Deadline) -> Result<()> {
        let mut state = self.monitor.get().lock(&deadline)?;
        state.wait_until(&deadline, |s| s.value > 0)?;
        state.value -= 1;
        Ok(())
    }

    /// Takes a permit, waiting (interruptibly) for one.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Semaphore;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let s = Semaphore::new(1)?;
    /// s.acquire()?;
    /// assert_eq!(s.value()?, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn acquire(&self) -> Result<()> {
        self.take(Deadline::forever())
    }

    /// Waits at most `timeout`; `Ok(false)` if no permit came.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Semaphore;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(!Semaphore::new(0)?.acquire_timeout(Duration::from_millis(10))?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        timed(self.take(Deadline::after(Some(timeout))))
    }

    /// Takes a permit if one is free; `Ok(false)` otherwise (Python's `acquire(False)`).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Semaphore;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let s = Semaphore::new(1)?;
    /// assert!(s.try_acquire()?);
    /// assert!(!s.try_acquire()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_acquire(&self) -> Result<bool> {
        self.acquire_timeout(Duration::ZERO)
    }

    /// Gives a permit back.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Semaphore;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let s = Semaphore::new(0)?;
    /// s.release()?;
    /// assert_eq!(s.value()?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn release(&self) -> Result<()> {
        let mut state = self.monitor.get().lock(&Deadline::forever())?;
        if state.bound.is_some_and(|bound| state.value >= bound) {
            return Err(Error::TooManyReleases);
        }
        state.value += 1;
        drop(state);
        self.monitor.get().notify_one();
        Ok(())
    }

    /// How many permits are free now (Python's `get_value()`).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Semaphore;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Semaphore::new(2)?.value()?, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn value(&self) -> Result<usize> {
        Ok(self.monitor.get().lock(&Deadline::forever())?.value)
    }
}

/// A [`Semaphore`] that refuses to be released above its initial value, like
/// Python's `multiprocessing.BoundedSemaphore`.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{BoundedSemaphore, Error};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let s = BoundedSemaphore::new(1)?;
/// assert!(matches!(s.release(), Err(Error::TooManyReleases)));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct BoundedSemaphore(Semaphore);

impl BoundedSemaphore {
    /// A bounded semaphore with `value` permits.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::BoundedSemaphore;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let s = BoundedSemaphore::new(2)?;
    /// s.acquire()?;
    /// s.release()?;
    /// assert_eq!(s.value()?, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(value: usize) -> Result<BoundedSemaphore> {
        Ok(BoundedSemaphore(Semaphore::with_bound(value, Some(value))?))
    }
}

impl std::ops::Deref for BoundedSemaphore {
    type Target = Semaphore;
    fn deref(&self) -> &Semaphore {
        &self.0
    }
}

/// A flag processes can wait for, like Python's `multiprocessing.Event`.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Event, Process};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let started = Event::new()?;
/// let setter = started.clone();
/// let mut p = Process::new(move || setter.set().expect("set"));
/// p.start()?;
/// started.wait()?;
/// assert!(started.is_set()?);
/// p.join()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Event {
    monitor: Shared<Monitor<bool>>,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Event")
    }
}

impl Event {
    /// A cleared event.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Event;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(!Event::new()?.is_set()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new() -> Result<Event> {
        Ok(Event {
            // SAFETY: `at` is fresh memory for the monitor.
            monitor: new_shared(|at| unsafe { Monitor::init(at, false) })?,
        })
    }

    fn store(&self, flag: bool) -> Result<()> {
        *self.monitor.get().lock(&Deadline::forever())? = flag;
        if flag {
            self.monitor.get().notify_all();
        }
        Ok(())
    }

    /// Sets the flag and wakes every waiter.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Event;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let e = Event::new()?;
    /// e.set()?;
    /// assert!(e.is_set()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn set(&self) -> Result<()> {
        self.store(true)
    }

    /// Clears the flag.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Event;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let e = Event::new()?;
    /// e.set()?;
    /// e.clear()?;
    /// assert!(!e.is_set()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn clear(&self) -> Result<()> {
        self.store(false)
    }

    /// Whether the flag is set.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Event;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(!Event::new()?.is_set()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_set(&self) -> Result<bool> {
        Ok(*self.monitor.get().lock(&Deadline::forever())?)
    }

    /// Waits (interruptibly) until the flag is set.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Event;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let e = Event::new()?;
    /// e.set()?;
    /// e.wait()?; // returns at once
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait(&self) -> Result<()> {
        let deadline = Deadline::forever();
        let mut state = self.monitor.get().lock(&deadline)?;
        state.wait_until(&deadline, |set| *set)
    }

    /// Waits at most `timeout`; returns whether the flag is set.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Event;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(!Event::new()?.wait_timeout(Duration::from_millis(10))?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        let deadline = Deadline::after(Some(timeout));
        let mut state = self.monitor.get().lock(&deadline)?;
        timed(state.wait_until(&deadline, |set| *set))
    }
}

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

/// Makes `n` processes (or threads) wait for each other, like Python's
/// `multiprocessing.Barrier`.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Barrier, Process};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let barrier = Barrier::new(2)?;
/// let other = barrier.clone();
/// let mut p = Process::new(move || {
///     other.wait().expect("wait");
/// });
/// p.start()?;
/// let index = barrier.wait()?; // 0 or 1: each party gets its own
/// assert!(index < 2);
/// p.join()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Barrier {
    monitor: Shared<Monitor<BarrierState>>,
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Barrier")
    }
}

impl Barrier {
    /// A barrier for `parties` participants.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Barrier;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Barrier::new(3)?.parties()?, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(parties: usize) -> Result<Barrier> {
        let state = BarrierState::new(parties);
        Ok(Barrier {
            // SAFETY: `at` is fresh memory for the monitor.
            monitor: new_shared(|at| unsafe { Monitor::init(at, state) })?,
        })
    }

    /// Waits until all parties arrived; returns this party's arrival index
    /// (`0..parties`). An interrupt ends the wait with `Err(Interrupted)` and
    /// the round with `Err(BrokenBarrier)` for the others, but does not break
    /// the barrier: the next round works.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Barrier;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Barrier::new(1)?.wait()?, 0); // one party: passes at once
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait(&self) -> Result<usize> {
        self.wait_deadline(Deadline::forever())
    }

    /// Like [`wait`](Barrier::wait) for at most `timeout`: then `Err(Timeout)`
    /// here, and the barrier is broken (as in Python) until [`reset`](Barrier::reset).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Barrier, Error};
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let barrier = Barrier::new(2)?;
    /// assert!(matches!(barrier.wait_timeout(Duration::from_millis(10)), Err(Error::Timeout)));
    /// assert!(barrier.broken()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        self.wait_deadline(Deadline::after(Some(timeout)))
    }

    fn wait_deadline(&self, deadline: Deadline) -> Result<usize> {
        let monitor = self.monitor.get();
        let mut state = monitor.lock(&deadline)?;
        let ticket = match state.arrive()? {
            Arrival::Tripped(index) => {
                drop(state);
                monitor.notify_all();
                return Ok(index);
            }
            Arrival::Waiting(ticket) => ticket,
        };
        match state.wait_until(&deadline, |s| s.outcome(&ticket).is_some()) {
            Ok(()) => state.outcome(&ticket).unwrap_or(Err(Error::BrokenBarrier)),
            Err(why) => {
                let result = state.give_up(&ticket, why);
                drop(state);
                monitor.notify_all();
                result
            }
        }
    }

    /// Breaks the barrier: current and future waiters get `Err(BrokenBarrier)`
    /// until [`reset`](Barrier::reset).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Barrier, Error};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let barrier = Barrier::new(2)?;
    /// barrier.abort()?;
    /// assert!(matches!(barrier.wait(), Err(Error::BrokenBarrier)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn abort(&self) -> Result<()> {
        self.monitor.get().lock(&Deadline::forever())?.abort();
        self.monitor.get().notify_all();
        Ok(())
    }

    /// Empties the barrier and mends it: waiters still inside get
    /// `Err(BrokenBarrier)`, later ones wait for a fresh round.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Barrier;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let barrier = Barrier::new(2)?;
    /// barrier.abort()?;
    /// barrier.reset()?;
    /// assert!(!barrier.broken()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn reset(&self) -> Result<()> {
        self.monitor.get().lock(&Deadline::forever())?.reset();
        self.monitor.get().notify_all();
        Ok(())
    }

    /// How many parties it waits for.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Barrier;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Barrier::new(4)?.parties()?, 4);
    /// # Ok(())
    /// # }
    /// ```
    pub fn parties(&self) -> Result<usize> {
        Ok(self.monitor.get().lock(&Deadline::forever())?.parties())
    }

    /// How many are waiting now.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Barrier;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Barrier::new(2)?.n_waiting()?, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn n_waiting(&self) -> Result<usize> {
        Ok(self.monitor.get().lock(&Deadline::forever())?.n_waiting())
    }

    /// Whether the barrier is broken.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Barrier;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(!Barrier::new(2)?.broken()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn broken(&self) -> Result<bool> {
        Ok(self.monitor.get().lock(&Deadline::forever())?.broken())
    }
}

//! [`Condition`] between threads.

use super::lock;
use crate::error::{Error, Result};
use crate::sys::condition::{Waits, settle};
use crate::sys::deadline::Deadline;
use crate::sys::deadline::timed;
use crate::sys::wait::wait_until_keeping;
use crate::sys::waiters::{Slot, Waiters};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::Duration;

struct State {
    /// The lock's holder and how many times it holds it (the lock is an RLock).
    owner: Option<(ThreadId, usize)>,
    waiters: Waiters<Vec<Slot>>,
}

struct Inner {
    state: Mutex<State>,
    /// Signalled when the lock is freed or a waiter is notified.
    changed: Condvar,
}

/// A condition variable with its own re-entrant lock, like Python's
/// `threading.Condition()`. `wait` and `notify` without holding the lock are
/// `Err(NotHeld)` (Python's `RuntimeError`); `notify(n)` wakes the `n` oldest
/// threads still waiting, never one that timed out or was interrupted.
///
/// ```
/// use ferrokernel_prelude::threading::{Condition, Thread};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let (condition, ready) = (Condition::new(), Arc::new(AtomicBool::new(false)));
/// let (notifier, flag) = (condition.clone(), ready.clone());
/// let mut t = Thread::new("producer", move || {
///     let _held = notifier.lock().expect("lock");
///     flag.store(true, Ordering::SeqCst);
///     notifier.notify_all().expect("notify");
/// });
/// t.start()?;
/// {
///     let _held = condition.lock()?;
///     condition.wait_for(|| ready.load(Ordering::SeqCst))?;
/// }
/// t.join()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Condition {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Condition")
    }
}

impl Default for Condition {
    fn default() -> Condition {
        Condition::new()
    }
}

impl Condition {
    /// A condition with its own (re-entrant) lock.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Condition;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let condition = Condition::new();
    /// condition.acquire()?;
    /// condition.release()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn new() -> Condition {
        Condition {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    owner: None,
                    waiters: Waiters::new(Vec::new()),
                }),
                changed: Condvar::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }

    /// Waits on `changed` until `done`, or the deadline.
    fn wait_in<'a>(
        &self,
        state: MutexGuard<'a, State>,
        deadline: &Deadline,
        done: impl FnMut(&mut State) -> bool,
    ) -> (MutexGuard<'a, State>, Result<()>) {
        wait_until_keeping(&self.inner.changed, state, deadline, done)
    }

    fn take(&self, deadline: &Deadline, depth: usize) -> Result<()> {
        let me = std::thread::current().id();
        let (mut state, waited) = self.wait_in(self.state(), deadline, |s| {
            s.owner.is_none_or(|(holder, _)| holder == me)
        });
        waited?;
        let held = state.owner.map_or(0, |(_, held)| held);
        state.owner = Some((me, held + depth));
        Ok(())
    }

    /// Takes the lock (interruptibly), or takes it again if this thread holds it.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Condition;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let condition = Condition::new();
    /// condition.acquire()?;
    /// condition.acquire()?;
    /// condition.release()?;
    /// condition.release()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn acquire(&self) -> Result<()> {
        self.take(&Deadline::forever(), 1)
    }

    /// Waits at most `timeout` for the lock; `Ok(false)` if another thread kept it.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Condition;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(Condition::new().acquire_timeout(Duration::from_millis(10))?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        timed(self.take(&Deadline::after(Some(timeout)), 1))
    }

    /// Releases the lock once; `Err(NotOwner)` unless this thread holds it.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Error;
    /// use ferrokernel_prelude::threading::Condition;
    /// assert!(matches!(Condition::new().release(), Err(Error::NotOwner)));
    /// ```
    pub fn release(&self) -> Result<()> {
        let me = std::thread::current().id();
        let mut state = self.state();
        match state.owner {
            Some((holder, depth)) if holder == me => {
                state.owner = (depth > 1).then_some((me, depth - 1));
                drop(state);
                self.inner.changed.notify_all();
                Ok(())
            }
            _ => Err(Error::NotOwner),
        }
    }

    /// Acquires, returning a guard that releases once on drop (Python's `with cond:`).
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Condition;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let condition = Condition::new();
    /// let _held = condition.lock()?;
    /// condition.notify(1)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn lock(&self) -> Result<ConditionGuard<'_>> {
        self.acquire()?;
        Ok(ConditionGuard { condition: self })
    }

    /// Releases the lock (however often this thread holds it), waits
    /// (interruptibly) for a `notify`, and takes the lock back as it was.
    /// `Err(NotHeld)` unless this thread holds the lock. After an interrupt
    /// the lock is held again only if it was free to take back.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Error;
    /// use ferrokernel_prelude::threading::Condition;
    /// assert!(matches!(Condition::new().wait(), Err(Error::NotHeld { operation: "wait" })));
    /// ```
    pub fn wait(&self) -> Result<()> {
        Waits::wait(self)
    }

    /// Like [`wait`](Condition::wait) for at most `timeout`; `Ok(false)` on timeout.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Condition;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let condition = Condition::new();
    /// let _held = condition.lock()?;
    /// assert!(!condition.wait_timeout(Duration::from_millis(10))?);
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
    /// use ferrokernel_prelude::threading::Condition;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let condition = Condition::new();
    /// let _held = condition.lock()?;
    /// condition.wait_for(|| true)?;
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
    /// use ferrokernel_prelude::threading::Condition;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let condition = Condition::new();
    /// let _held = condition.lock()?;
    /// assert!(!condition.wait_for_timeout(|| false, Duration::from_millis(10))?);
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

    /// Wakes the `n` oldest threads still waiting. `Err(NotHeld)` unless this
    /// thread holds the lock.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Error;
    /// use ferrokernel_prelude::threading::Condition;
    /// assert!(matches!(Condition::new().notify(1), Err(Error::NotHeld { operation: "notify" })));
    /// ```
    pub fn notify(&self, n: usize) -> Result<()> {
        let me = std::thread::current().id();
        let mut state = self.state();
        if !state.owner.is_some_and(|(holder, _)| holder == me) {
            return Err(Error::NotHeld {
                operation: "notify",
            });
        }
        if state.waiters.notify(n) > 0 {
            drop(state);
            self.inner.changed.notify_all();
        }
        Ok(())
    }

    /// Wakes every waiting thread. `Err(NotHeld)` unless this thread holds the lock.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Condition;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let condition = Condition::new();
    /// let _held = condition.lock()?;
    /// condition.notify_all()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn notify_all(&self) -> Result<()> {
        self.notify(usize::MAX)
    }
}

impl Waits for Condition {
    fn wait_deadline(&self, deadline: Deadline) -> Result<bool> {
        let me = std::thread::current().id();
        let mut state = self.state();
        let depth = match state.owner {
            Some((holder, depth)) if holder == me => depth,
            _ => return Err(Error::NotHeld { operation: "wait" }),
        };
        state.owner = None;
        let slot = state.waiters.enqueue().unwrap_or_default();
        self.inner.changed.notify_all();
        let (mut state, waited) = self.wait_in(state, &deadline, |s| s.waiters.is_notified(slot));
        let (settled, _) = settle(&mut state.waiters, slot, waited);
        drop(state);
        self.inner.changed.notify_all();
        // Take the lock back before returning, as Python does; after an
        // interrupt, only if it is free now (the call must end).
        let retake = match &settled {
            Ok(_) => Deadline::forever(),
            Err(_) => Deadline::after(Some(Duration::ZERO)),
        };
        let retaken = self.take(&retake, depth);
        match settled {
            Ok(woken) => retaken.map(|()| woken),
            Err(error) => Err(error),
        }
    }
}

/// Holds a [`Condition`]'s lock once until dropped.
///
/// ```
/// use ferrokernel_prelude::threading::Condition;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let condition = Condition::new();
/// {
///     let _held = condition.lock()?;
///     condition.notify_all()?; // allowed: the lock is held
/// }
/// assert!(condition.notify_all().is_err()); // released by the drop
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ConditionGuard<'a> {
    condition: &'a Condition,
}

impl Drop for ConditionGuard<'_> {
    fn drop(&mut self) {
        let _ = self.condition.release();
    }
}

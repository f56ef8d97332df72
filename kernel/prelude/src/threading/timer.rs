//! [`Timer`]: a thread that runs a closure after a delay, unless cancelled.

use super::{Thread, lock};
use crate::error::Result;
use crate::sys::globals::globals;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Runs a closure after a delay in a thread of its own, like Python's
/// `threading.Timer`; [`cancel`](Timer::cancel) stops it while it waits.
///
/// The countdown is not cut short by interrupts (a timer set in one cell
/// still fires after a later cell was interrupted, as in Python); waiting for
/// the timer with [`join`](Timer::join) is interruptible.
///
/// ```
/// use ferrokernel_prelude::threading::Timer;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::Duration;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let fired = Arc::new(AtomicBool::new(false));
/// let flag = fired.clone();
/// let mut timer = Timer::new(Duration::from_millis(20), move || flag.store(true, Ordering::SeqCst));
/// timer.start()?;
/// timer.join()?;
/// assert!(fired.load(Ordering::SeqCst));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Timer {
    thread: Thread,
    cancelled: Arc<(Mutex<bool>, Condvar)>,
}

impl Timer {
    /// A timer that will run `function` `delay` after [`start`](Timer::start).
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Timer;
    /// let timer = Timer::new(std::time::Duration::from_secs(1), || println!("late"));
    /// assert!(timer.name().starts_with("Timer-"));
    /// ```
    pub fn new(delay: Duration, function: impl FnOnce() + Send + 'static) -> Timer {
        let cancelled: Arc<(Mutex<bool>, Condvar)> = Arc::default();
        let watched = Arc::clone(&cancelled);
        let n = globals().timers.fetch_add(1, Ordering::Relaxed) + 1;
        let thread = Thread::new(format!("Timer-{n}"), move || {
            let until = Instant::now() + delay;
            let (flag, condvar) = &*watched;
            let mut cancelled = lock(flag);
            while !*cancelled {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                cancelled = condvar
                    .wait_timeout(cancelled, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            if !*cancelled {
                drop(cancelled);
                function();
            }
        });
        Timer { thread, cancelled }
    }

    /// Sets the daemon flag (builder), as for [`Thread::daemon`].
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Timer;
    /// let timer = Timer::new(std::time::Duration::from_secs(1), || {}).daemon(true);
    /// assert!(timer.is_daemon());
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Timer {
        self.thread = self.thread.daemon(daemon);
        self
    }

    /// Whether the timer's thread is a daemon thread.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Timer;
    /// assert!(!Timer::new(std::time::Duration::ZERO, || {}).is_daemon());
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.thread.is_daemon()
    }

    /// The timer thread's name (`Timer-1`, ...).
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Timer;
    /// assert!(Timer::new(std::time::Duration::ZERO, || {}).name().starts_with("Timer-"));
    /// ```
    pub fn name(&self) -> &str {
        self.thread.name()
    }

    /// Starts the countdown (once; again is `Err(AlreadyStarted)`).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Error;
    /// use ferrokernel_prelude::threading::Timer;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut timer = Timer::new(std::time::Duration::ZERO, || {});
    /// timer.start()?;
    /// assert!(matches!(timer.start(), Err(Error::AlreadyStarted)));
    /// timer.join()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn start(&mut self) -> Result<()> {
        self.thread.start()
    }

    /// Stops the timer if it is still waiting; the closure then never runs.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Timer;
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let fired = Arc::new(AtomicBool::new(false));
    /// let flag = fired.clone();
    /// let mut timer = Timer::new(Duration::from_secs(30), move || flag.store(true, Ordering::SeqCst));
    /// timer.start()?;
    /// timer.cancel();
    /// timer.join()?; // ends at once
    /// assert!(!fired.load(Ordering::SeqCst));
    /// # Ok(())
    /// # }
    /// ```
    pub fn cancel(&self) {
        *lock(&self.cancelled.0) = true;
        self.cancelled.1.notify_all();
    }

    /// Waits (interruptibly) until the timer has fired or was cancelled.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Timer;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut timer = Timer::new(std::time::Duration::from_millis(5), || {});
    /// timer.start()?;
    /// timer.join()?;
    /// assert!(!timer.is_alive());
    /// # Ok(())
    /// # }
    /// ```
    pub fn join(&mut self) -> Result<()> {
        self.thread.join()
    }

    /// Waits at most `timeout`; `Ok(true)` if the timer's thread ended.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Timer;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut timer = Timer::new(Duration::from_secs(30), || {});
    /// timer.start()?;
    /// assert!(!timer.join_timeout(Duration::from_millis(5))?);
    /// timer.cancel();
    /// assert!(timer.join_timeout(Duration::from_secs(5))?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<bool> {
        self.thread.join_timeout(timeout)
    }

    /// Whether the timer's thread has started and not ended.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Timer;
    /// assert!(!Timer::new(std::time::Duration::ZERO, || {}).is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        self.thread.is_alive()
    }
}

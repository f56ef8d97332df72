//! [`Semaphore`] and [`BoundedSemaphore`] between threads.

use super::lock;
use crate::error::{Error, Result};
use crate::sys::deadline::Deadline;
use crate::sys::deadline::timed;
use crate::sys::wait::wait_until;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

struct Permits {
    value: usize,
    bound: Option<usize>,
}

/// A counter of permits, like Python's `threading.Semaphore`.
///
/// ```
/// use ferrokernel_prelude::threading::{Semaphore, Thread};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let permits = Semaphore::new(0);
/// let giver = permits.clone();
/// let mut t = Thread::new("giver", move || giver.release());
/// t.start()?;
/// permits.acquire()?; // waits for the thread's permit
/// t.join()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Semaphore {
    inner: Arc<(Mutex<Permits>, Condvar)>,
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.value())
            .finish()
    }
}

impl Semaphore {
    /// A semaphore with `value` permits.
    ///
    /// ```
    /// assert_eq!(ferrokernel_prelude::threading::Semaphore::new(2).value(), 2);
    /// ```
    pub fn new(value: usize) -> Semaphore {
        Semaphore::with_bound(value, None)
    }

    fn with_bound(value: usize, bound: Option<usize>) -> Semaphore {
        Semaphore {
            inner: Arc::new((Mutex::new(Permits { value, bound }), Condvar::new())),
        }
    }

    fn take(&self, deadline: Deadline) -> Result<()> {
        let (permits, condvar) = &*self.inner;
        let mut permits = wait_until(condvar, lock(permits), &deadline, |p| p.value > 0)?;
        permits.value -= 1;
        Ok(())
    }

    /// Takes a permit, waiting (interruptibly).
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Semaphore;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let s = Semaphore::new(1);
    /// s.acquire()?;
    /// assert_eq!(s.value(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn acquire(&self) -> Result<()> {
        self.take(Deadline::forever())
    }

    /// Waits at most `timeout` for a permit; `Ok(false)` if none came.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Semaphore;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(!Semaphore::new(0).acquire_timeout(Duration::from_millis(10))?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        timed(self.take(Deadline::after(Some(timeout))))
    }

    /// Takes a permit if one is free (Python's `acquire(blocking=False)`).
    ///
    /// ```
    /// let s = ferrokernel_prelude::threading::Semaphore::new(1);
    /// assert!(s.try_acquire());
    /// assert!(!s.try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        let mut permits = lock(&self.inner.0);
        if permits.value == 0 {
            return false;
        }
        permits.value -= 1;
        true
    }

    fn give(&self) -> Result<()> {
        let mut permits = lock(&self.inner.0);
        if permits.bound.is_some_and(|bound| permits.value >= bound) {
            return Err(Error::TooManyReleases);
        }
        permits.value += 1;
        drop(permits);
        self.inner.1.notify_one();
        Ok(())
    }

    /// Gives a permit back.
    ///
    /// ```
    /// let s = ferrokernel_prelude::threading::Semaphore::new(0);
    /// s.release();
    /// assert_eq!(s.value(), 1);
    /// ```
    pub fn release(&self) {
        // An unbounded semaphore never refuses a release.
        let _ = self.give();
    }

    /// How many permits are free now.
    ///
    /// ```
    /// assert_eq!(ferrokernel_prelude::threading::Semaphore::new(3).value(), 3);
    /// ```
    pub fn value(&self) -> usize {
        lock(&self.inner.0).value
    }
}

/// A semaphore that refuses to be released above its initial value, like
/// Python's `threading.BoundedSemaphore`.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::Error;
/// use ferrokernel_prelude::threading::BoundedSemaphore;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let s = BoundedSemaphore::new(1);
/// s.acquire()?;
/// s.release()?;
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
    /// assert_eq!(ferrokernel_prelude::threading::BoundedSemaphore::new(2).value(), 2);
    /// ```
    pub fn new(value: usize) -> BoundedSemaphore {
        BoundedSemaphore(Semaphore::with_bound(value, Some(value)))
    }

    /// Takes a permit, waiting (interruptibly).
    ///
    /// ```
    /// use ferrokernel_prelude::threading::BoundedSemaphore;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// BoundedSemaphore::new(1).acquire()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn acquire(&self) -> Result<()> {
        self.0.acquire()
    }

    /// Waits at most `timeout` for a permit; `Ok(false)` if none came.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::BoundedSemaphore;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(!BoundedSemaphore::new(0).acquire_timeout(Duration::from_millis(10))?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        self.0.acquire_timeout(timeout)
    }

    /// Takes a permit if one is free.
    ///
    /// ```
    /// assert!(ferrokernel_prelude::threading::BoundedSemaphore::new(1).try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        self.0.try_acquire()
    }

    /// Gives a permit back; `Err(TooManyReleases)` above the initial value
    /// (Python's `ValueError`).
    ///
    /// ```
    /// use ferrokernel_prelude::threading::BoundedSemaphore;
    /// assert!(BoundedSemaphore::new(1).release().is_err());
    /// ```
    pub fn release(&self) -> Result<()> {
        self.0.give()
    }

    /// How many permits are free now.
    ///
    /// ```
    /// assert_eq!(ferrokernel_prelude::threading::BoundedSemaphore::new(1).value(), 1);
    /// ```
    pub fn value(&self) -> usize {
        self.0.value()
    }
}

//! [`Semaphore`] and [`BoundedSemaphore`].

use super::new_shared;
use crate::error::{Error, Result};
use crate::sys::deadline::{Deadline, timed};
use crate::sys::shm::Shared;
use crate::sys::sync::Monitor;
use std::time::Duration;

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

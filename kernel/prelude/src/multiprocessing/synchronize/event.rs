//! [`Event`].

use super::new_shared;
use crate::error::Result;
use crate::sys::deadline::{Deadline, timed};
use crate::sys::shm::Shared;
use crate::sys::sync::Monitor;
use std::time::Duration;

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

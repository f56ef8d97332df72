//! [`Event`] between threads.

use super::lock;
use crate::error::Result;
use crate::sys::deadline::Deadline;
use crate::sys::deadline::timed;
use crate::sys::wait::wait_until;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// A flag threads can wait for, like Python's `threading.Event`.
///
/// ```
/// use ferrokernel_prelude::threading::{Event, Thread};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let ready = Event::new();
/// let setter = ready.clone();
/// let mut t = Thread::new("setter", move || setter.set());
/// t.start()?;
/// ready.wait()?;
/// t.join()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Event {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Event").field(&self.is_set()).finish()
    }
}

impl Event {
    /// A cleared event.
    ///
    /// ```
    /// assert!(!ferrokernel_prelude::threading::Event::new().is_set());
    /// ```
    pub fn new() -> Event {
        Event::default()
    }

    /// Sets the flag and wakes every waiter.
    ///
    /// ```
    /// let e = ferrokernel_prelude::threading::Event::new();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    pub fn set(&self) {
        *lock(&self.inner.0) = true;
        self.inner.1.notify_all();
    }

    /// Clears the flag.
    ///
    /// ```
    /// let e = ferrokernel_prelude::threading::Event::new();
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// ```
    pub fn clear(&self) {
        *lock(&self.inner.0) = false;
    }

    /// Whether the flag is set.
    ///
    /// ```
    /// assert!(!ferrokernel_prelude::threading::Event::new().is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        *lock(&self.inner.0)
    }

    /// Waits (interruptibly) for the flag.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Event;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let e = Event::new();
    /// e.set();
    /// e.wait()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait(&self) -> Result<()> {
        wait_until(
            &self.inner.1,
            lock(&self.inner.0),
            &Deadline::forever(),
            |set| *set,
        )
        .map(drop)
    }

    /// Waits at most `timeout`; returns whether the flag is set.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Event;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(!Event::new().wait_timeout(Duration::from_millis(10))?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        timed(wait_until(
            &self.inner.1,
            lock(&self.inner.0),
            &Deadline::after(Some(timeout)),
            |set| *set,
        ))
    }
}

//! [`EventProxy`]: a event living in a manager's server process.

use crate::error::Result;
use crate::multiprocessing::managers::protocol::{Request, Response};
use crate::multiprocessing::managers::unexpected;
use crate::sys::deadline::{Deadline, timed};
use std::time::Duration;

proxy!(
    EventProxy<>,
    Event,
    "An event living in a [`Manager`](crate::multiprocessing::Manager)'s server process (Python's `manager.Event()`).

```
use ferrokernel_prelude::multiprocessing::Manager;
# fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
let manager = Manager::new()?;
let ready = manager.event()?;
assert!(!ready.is_set()?);
ready.set()?;
ready.wait()?;
# Ok(())
# }
```"
);

impl EventProxy {
    /// Sets the flag, waking every waiter.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let event = manager.event()?;
    /// event.set()?;
    /// assert!(event.is_set()?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn set(&self) -> Result<()> {
        self.done(Request::SetEvent(self.id))
    }

    /// Clears the flag.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let event = manager.event()?;
    /// event.set()?;
    /// event.clear()?;
    /// assert!(!event.is_set()?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn clear(&self) -> Result<()> {
        self.done(Request::ClearEvent(self.id))
    }

    /// Whether the flag is set.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// assert!(!manager.event()?.is_set()?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn is_set(&self) -> Result<bool> {
        self.flag(Request::IsSet(self.id))
    }

    /// Waits (interruptibly) until the flag is set.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let event = manager.event()?;
    /// event.set()?;
    /// event.wait()?;
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn wait(&self) -> Result<()> {
        self.wait_deadline(&Deadline::forever())
    }

    /// Like [`wait`](EventProxy::wait), at most `timeout`; whether the flag was set.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// assert!(!manager.event()?.wait_timeout(Duration::from_millis(10))?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        timed(self.wait_deadline(&Deadline::after(Some(timeout))))
    }

    fn wait_deadline(&self, deadline: &Deadline) -> Result<()> {
        match self
            .transport
            .call_until(|| Request::WaitSet(self.id), deadline)?
        {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

//! [`QueueProxy`]: a queue living in a manager's server process.

use crate::codec;
use crate::error::Result;
use crate::multiprocessing::managers::EncodeAs;
use crate::multiprocessing::managers::protocol::{Request, Response};
use crate::multiprocessing::managers::unexpected;
use crate::sys::deadline::Deadline;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

proxy!(
    QueueProxy<T>,
    Queue,
    "A FIFO queue living in a [`Manager`](crate::multiprocessing::Manager)'s server process (Python's
`manager.Queue()`), reachable from any client of a served manager — the way
to hand out jobs to workers on other machines.

```
use ferrokernel_prelude::multiprocessing::Manager;
# fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
let manager = Manager::new()?;
let jobs = manager.queue::<u32>()?;
jobs.put(7)?;
assert_eq!(jobs.qsize()?, 1);
assert_eq!(jobs.get()?, 7);
assert_eq!(jobs.try_get()?, None);
# Ok(())
# }
```"
);

impl<T: Serialize + DeserializeOwned> QueueProxy<T> {
    /// Adds an item at the back (never waits: the queue is unbounded).
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let q = manager.queue::<u8>()?;
    /// q.put(1)?;
    /// # assert_eq!(q.get()?, 1);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn put(&self, item: impl EncodeAs<T>) -> Result<()> {
        self.done(Request::Put(self.id, codec::encode(&item)?))
    }

    /// Takes the item at the front, waiting (interruptibly) for one.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let q = manager.queue::<u8>()?;
    /// q.put(1)?;
    /// assert_eq!(q.get()?, 1);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn get(&self) -> Result<T> {
        self.get_deadline(&Deadline::forever())
    }

    /// Like [`get`](QueueProxy::get), waiting at most `timeout` (`Err(Timeout)` then).
    ///
    /// ```
    /// # use ferrokernel_prelude::multiprocessing::Error;
    /// # use std::time::Duration;
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let q = manager.queue::<u8>()?;
    /// assert!(matches!(q.get_timeout(Duration::from_millis(10)), Err(Error::Timeout)));
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_deadline(&Deadline::after(Some(timeout)))
    }

    fn get_deadline(&self, deadline: &Deadline) -> Result<T> {
        match self
            .transport
            .call_until(|| Request::TryGet(self.id), deadline)?
        {
            Response::Item(bytes) => codec::decode(&bytes),
            other => Err(unexpected(other)),
        }
    }

    /// Takes the front item if there is one, without waiting (Python's `get_nowait`).
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let q = manager.queue::<u8>()?;
    /// assert_eq!(q.try_get()?, None);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn try_get(&self) -> Result<Option<T>> {
        match self.call(Request::TryGet(self.id))? {
            Response::Item(bytes) => codec::decode(&bytes).map(Some),
            Response::WouldBlock(_) => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// How many items wait.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let q = manager.queue::<u8>()?;
    /// q.put(1)?;
    /// assert_eq!(q.qsize()?, 1);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn qsize(&self) -> Result<usize> {
        self.number(Request::Len(self.id))
    }

    /// Whether none waits.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// assert!(manager.queue::<u8>()?.empty()?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn empty(&self) -> Result<bool> {
        Ok(self.qsize()? == 0)
    }
}

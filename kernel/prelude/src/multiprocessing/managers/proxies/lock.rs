//! [`LockProxy`]: a lock living in a manager's server process.

use crate::error::Result;
use crate::multiprocessing::managers::protocol::{Request, Response};
use crate::multiprocessing::managers::unexpected;
use crate::sys::deadline::{Deadline, timed};
use std::time::Duration;

proxy!(
    LockProxy,
    Lock,
    "A lock living in a [`Manager`](crate::multiprocessing::Manager)'s server process (Python's
`manager.Lock()`, a `threading.Lock` in the server): any client may release
it, and releasing it unlocked is `Err(NotOwner)`. Unlike
[`multiprocessing::Lock`](crate::multiprocessing::Lock) it is not recovered
when its holder dies.

```
use ferrokernel_prelude::multiprocessing::Manager;
# fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
let manager = Manager::new()?;
let lock = manager.lock()?;
lock.acquire()?;
assert!(!lock.try_acquire()?);
lock.release()?;
# Ok(())
# }
```"
);

impl LockProxy {
    /// Takes the lock, waiting (interruptibly) while another client holds it.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let lock = manager.lock()?;
    /// lock.acquire()?;
    /// assert!(lock.locked()?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn acquire(&self) -> Result<()> {
        self.acquire_deadline(&Deadline::forever())
    }

    /// Like [`acquire`](LockProxy::acquire), waiting at most `timeout`;
    /// `Ok(false)` if the lock was not had.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let lock = manager.lock()?;
    /// assert!(lock.acquire_timeout(Duration::from_millis(10))?);
    /// assert!(!lock.acquire_timeout(Duration::from_millis(10))?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        timed(self.acquire_deadline(&Deadline::after(Some(timeout))))
    }

    fn acquire_deadline(&self, deadline: &Deadline) -> Result<()> {
        match self
            .transport
            .call_until(|| Request::TryAcquire(self.id), deadline)?
        {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Takes the lock if it is free, without waiting.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let lock = manager.lock()?;
    /// assert!(lock.try_acquire()?);
    /// assert!(!lock.try_acquire()?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn try_acquire(&self) -> Result<bool> {
        match self.call(Request::TryAcquire(self.id))? {
            Response::Done => Ok(true),
            Response::WouldBlock(_) => Ok(false),
            other => Err(unexpected(other)),
        }
    }

    /// Releases the lock; `Err(NotOwner)` when it is not held (Python's `RuntimeError`).
    ///
    /// ```
    /// # use ferrokernel_prelude::multiprocessing::Error;
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let lock = manager.lock()?;
    /// lock.acquire()?;
    /// lock.release()?;
    /// assert!(matches!(lock.release(), Err(Error::NotOwner)));
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn release(&self) -> Result<()> {
        self.done(Request::Release(self.id))
    }

    /// Whether some client holds it.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// assert!(!manager.lock()?.locked()?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn locked(&self) -> Result<bool> {
        self.flag(Request::Locked(self.id))
    }
}

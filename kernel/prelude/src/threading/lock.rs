//! [`Lock`] and [`RLock`] between threads.

use super::lock;
use crate::error::{Error, Result};
use crate::sys::deadline::Deadline;
use crate::sys::deadline::timed;
use crate::sys::wait::wait_until;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

/// A lock between threads, like Python's `threading.Lock` (any thread may release it).
///
/// ```
/// use ferrokernel_prelude::threading::{Lock, Thread};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let (lock, total) = (Lock::new(), Arc::new(AtomicU64::new(0)));
/// let mut threads: Vec<Thread> = (0..2)
///     .map(|i| {
///         let (lock, total) = (lock.clone(), total.clone());
///         Thread::new(format!("t{i}"), move || {
///             for _ in 0..1000 {
///                 let _held = lock.lock().expect("lock");
///                 total.store(total.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
///             }
///         })
///     })
///     .collect();
/// threads.iter_mut().try_for_each(|t| t.start())?;
/// threads.iter_mut().try_for_each(|t| t.join())?;
/// assert_eq!(total.load(Ordering::Relaxed), 2000);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Lock {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .finish()
    }
}

impl Lock {
    /// A released lock.
    ///
    /// ```
    /// assert!(!ferrokernel_prelude::threading::Lock::new().locked());
    /// ```
    pub fn new() -> Lock {
        Lock::default()
    }

    fn take(&self, deadline: Deadline) -> Result<()> {
        let (held, condvar) = &*self.inner;
        let mut held = wait_until(condvar, lock(held), &deadline, |held| !*held)?;
        *held = true;
        Ok(())
    }

    /// Waits (interruptibly) for the lock.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Lock;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let lock = Lock::new();
    /// lock.acquire()?;
    /// assert!(lock.locked());
    /// lock.release()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn acquire(&self) -> Result<()> {
        self.take(Deadline::forever())
    }

    /// Waits at most `timeout`; `Ok(false)` if it stayed taken.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Lock;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let lock = Lock::new();
    /// assert!(lock.acquire_timeout(Duration::from_millis(10))?);
    /// assert!(!lock.acquire_timeout(Duration::from_millis(10))?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        timed(self.take(Deadline::after(Some(timeout))))
    }

    /// Takes the lock if free (Python's `acquire(blocking=False)`).
    ///
    /// ```
    /// let lock = ferrokernel_prelude::threading::Lock::new();
    /// assert!(lock.try_acquire());
    /// assert!(!lock.try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        let mut held = lock(&self.inner.0);
        !std::mem::replace(&mut *held, true)
    }

    /// Releases the lock; `Err(NotOwner)` if it was not held.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Error;
    /// let lock = ferrokernel_prelude::threading::Lock::new();
    /// assert!(matches!(lock.release(), Err(Error::NotOwner)));
    /// ```
    pub fn release(&self) -> Result<()> {
        let mut held = lock(&self.inner.0);
        if !*held {
            return Err(Error::NotOwner);
        }
        *held = false;
        drop(held);
        self.inner.1.notify_one();
        Ok(())
    }

    /// Whether the lock is held.
    ///
    /// ```
    /// let lock = ferrokernel_prelude::threading::Lock::new();
    /// let _held = lock.lock();
    /// assert!(lock.locked());
    /// ```
    pub fn locked(&self) -> bool {
        *lock(&self.inner.0)
    }

    /// Acquires, returning a guard that releases on drop (Python's `with lock:`).
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Lock;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let lock = Lock::new();
    /// {
    ///     let _held = lock.lock()?;
    ///     assert!(lock.locked());
    /// }
    /// assert!(!lock.locked());
    /// # Ok(())
    /// # }
    /// ```
    pub fn lock(&self) -> Result<LockGuard<'_>> {
        self.acquire()?;
        Ok(LockGuard { lock: self })
    }
}

/// Holds a [`Lock`] until dropped.
///
/// ```
/// use ferrokernel_prelude::threading::Lock;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let lock = Lock::new();
/// let held = lock.lock()?;
/// assert!(lock.locked());
/// drop(held);
/// assert!(!lock.locked());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.release();
    }
}

/// Which thread holds an [`RLock`], and how many times.
type Holder = Option<(ThreadId, usize)>;

/// A lock its holder may take again, like Python's `threading.RLock`.
///
/// ```
/// use ferrokernel_prelude::threading::RLock;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let rlock = RLock::new();
/// rlock.acquire()?;
/// rlock.acquire()?; // the holder takes it again
/// rlock.release()?;
/// rlock.release()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct RLock {
    inner: Arc<(Mutex<Holder>, Condvar)>,
}

impl std::fmt::Debug for RLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RLock")
    }
}

impl RLock {
    /// A released lock.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::RLock;
    /// assert!(RLock::new().try_acquire());
    /// ```
    pub fn new() -> RLock {
        RLock::default()
    }

    fn take(&self, deadline: Deadline) -> Result<()> {
        let me = std::thread::current().id();
        let (owner, condvar) = &*self.inner;
        let mut owner = wait_until(condvar, lock(owner), &deadline, |owner| {
            owner.is_none_or(|(holder, _)| holder == me)
        })?;
        let depth = owner.map_or(0, |(_, depth)| depth);
        *owner = Some((me, depth + 1));
        Ok(())
    }

    /// Waits (interruptibly) for the lock, or takes it again if this thread holds it.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::RLock;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let rlock = RLock::new();
    /// rlock.acquire()?;
    /// rlock.release()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn acquire(&self) -> Result<()> {
        self.take(Deadline::forever())
    }

    /// Waits at most `timeout`; `Ok(false)` if another thread kept it.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::RLock;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let rlock = RLock::new();
    /// rlock.acquire()?;
    /// let other = rlock.clone();
    /// let waited = std::thread::spawn(move || other.acquire_timeout(Duration::from_millis(10)));
    /// assert!(!waited.join().expect("thread")?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        timed(self.take(Deadline::after(Some(timeout))))
    }

    /// Takes the lock if it is free or already this thread's.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::RLock;
    /// let rlock = RLock::new();
    /// assert!(rlock.try_acquire() && rlock.try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        matches!(self.take(Deadline::after(Some(Duration::ZERO))), Ok(()))
    }

    /// Releases once; `Err(NotOwner)` unless this thread holds it.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Error;
    /// use ferrokernel_prelude::threading::RLock;
    /// assert!(matches!(RLock::new().release(), Err(Error::NotOwner)));
    /// ```
    pub fn release(&self) -> Result<()> {
        let me = std::thread::current().id();
        let mut owner = lock(&self.inner.0);
        match *owner {
            Some((holder, depth)) if holder == me => {
                *owner = (depth > 1).then_some((me, depth - 1));
                drop(owner);
                self.inner.1.notify_one();
                Ok(())
            }
            _ => Err(Error::NotOwner),
        }
    }

    /// Acquires, returning a guard that releases once on drop.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::RLock;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let rlock = RLock::new();
    /// let _outer = rlock.lock()?;
    /// let _inner = rlock.lock()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn lock(&self) -> Result<RLockGuard<'_>> {
        self.acquire()?;
        Ok(RLockGuard { lock: self })
    }
}

/// Holds an [`RLock`] once until dropped.
///
/// ```
/// use ferrokernel_prelude::threading::RLock;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let rlock = RLock::new();
/// drop(rlock.lock()?);
/// assert!(rlock.release().is_err(), "the guard released it");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.release();
    }
}

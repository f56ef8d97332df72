//! [`Lock`] and [`RLock`] (one macro makes both) and their guards.

use super::{new_shared, warn_if_recovered};
use crate::error::Result;
use crate::sys::deadline::{Deadline, timed};
use crate::sys::shm::Shared;
use crate::sys::sync::{Acquired, RawMutex};
use std::time::Duration;

macro_rules! mutex_lock {
    ($name:ident, $guard:ident, $recursive:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone)]
        pub struct $name {
            mutex: Shared<RawMutex>,
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($name))
            }
        }

        impl $name {
            /// A new, released lock.
            ///
            /// ```
            #[doc = concat!("use ferrokernel_prelude::multiprocessing::", stringify!($name), ";")]
            /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
            #[doc = concat!("let lock = ", stringify!($name), "::new()?;")]
            /// assert!(lock.try_acquire()?);
            /// lock.release()?;
            /// # Ok(())
            /// # }
            /// ```
            pub fn new() -> Result<$name> {
                Ok($name {
                    // SAFETY: `at` is fresh memory for the mutex.
                    mutex: new_shared(|at| unsafe { RawMutex::init(at, $recursive) })?,
                })
            }

            /// Waits for the lock (interruptibly). Says whether its previous
            /// holder died holding it (and warns on stderr when so).
            ///
            /// ```
            #[doc = concat!("use ferrokernel_prelude::multiprocessing::{Acquired, Process, ", stringify!($name), "};")]
            /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
            #[doc = concat!("let lock = ", stringify!($name), "::new()?;")]
            /// let holder = lock.clone();
            /// let mut p = Process::new(move || {
            ///     holder.acquire().expect("acquire");
            ///     std::process::exit(0); // dies holding the lock
            /// });
            /// p.start()?;
            /// p.join()?;
            /// assert_eq!(lock.acquire()?, Acquired::Recovered);
            /// lock.release()?;
            /// # Ok(())
            /// # }
            /// ```
            pub fn acquire(&self) -> Result<Acquired> {
                self.mutex
                    .get()
                    .lock(&Deadline::forever())
                    .map(warn_if_recovered)
            }

            /// Waits at most `timeout`; `Ok(false)` if the lock stayed taken.
            ///
            /// ```
            #[doc = concat!("use ferrokernel_prelude::multiprocessing::", stringify!($name), ";")]
            /// use std::time::Duration;
            /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
            #[doc = concat!("let lock = ", stringify!($name), "::new()?;")]
            /// let _held = lock.lock()?;
            /// let other = lock.clone();
            /// let waited = std::thread::spawn(move || other.acquire_timeout(Duration::from_millis(10)));
            /// assert!(!waited.join().expect("thread")?);
            /// # Ok(())
            /// # }
            /// ```
            pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
                timed(self.mutex.get().lock(&Deadline::after(Some(timeout))).map(warn_if_recovered))
            }

            /// Takes the lock if it is free; `Ok(false)` otherwise
            /// (Python's `acquire(block=False)`).
            ///
            /// ```
            #[doc = concat!("use ferrokernel_prelude::multiprocessing::", stringify!($name), ";")]
            /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
            #[doc = concat!("let lock = ", stringify!($name), "::new()?;")]
            /// assert!(lock.try_acquire()?);
            /// lock.release()?;
            /// # Ok(())
            /// # }
            /// ```
            pub fn try_acquire(&self) -> Result<bool> {
                Ok(self
                    .mutex
                    .get()
                    .try_lock()?
                    .map(warn_if_recovered)
                    .is_some())
            }

            /// Releases the lock; `Err(NotOwner)` unless this thread holds it.
            ///
            /// ```
            #[doc = concat!("use ferrokernel_prelude::multiprocessing::{Error, ", stringify!($name), "};")]
            /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
            #[doc = concat!("let lock = ", stringify!($name), "::new()?;")]
            /// assert!(matches!(lock.release(), Err(Error::NotOwner)));
            /// # Ok(())
            /// # }
            /// ```
            pub fn release(&self) -> Result<()> {
                self.mutex.get().unlock()
            }

            /// Acquires and returns a guard that releases on drop (Python's `with lock:`).
            ///
            /// ```
            #[doc = concat!("use ferrokernel_prelude::multiprocessing::", stringify!($name), ";")]
            /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
            #[doc = concat!("let lock = ", stringify!($name), "::new()?;")]
            /// {
            ///     let _held = lock.lock()?;
            /// }
            /// assert!(lock.try_acquire()?);
            /// # Ok(())
            /// # }
            /// ```
            pub fn lock(&self) -> Result<$guard<'_>> {
                let acquired = self.acquire()?;
                Ok($guard {
                    mutex: self.mutex.get(),
                    acquired,
                })
            }
        }

        /// Holds the lock until dropped.
        pub struct $guard<'a> {
            mutex: &'a RawMutex,
            acquired: Acquired,
        }

        impl $guard<'_> {
            /// Whether the previous holder died holding the lock.
            ///
            /// ```
            #[doc = concat!("use ferrokernel_prelude::multiprocessing::", stringify!($name), ";")]
            /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
            #[doc = concat!("assert!(!", stringify!($name), "::new()?.lock()?.recovered());")]
            /// # Ok(())
            /// # }
            /// ```
            pub fn recovered(&self) -> bool {
                self.acquired.is_recovered()
            }
        }

        impl Drop for $guard<'_> {
            fn drop(&mut self) {
                let _ = self.mutex.unlock();
            }
        }
    };
}

mutex_lock!(
    Lock,
    LockGuard,
    false,
    "A lock shared between processes, like Python's `multiprocessing.Lock`.\n\n\
     Clones (and copies moved into child processes) are the same lock. If a \
     process dies holding it, the next `acquire` gets it anyway and reports \
     [`Acquired::Recovered`]."
);
mutex_lock!(
    RLock,
    RLockGuard,
    true,
    "A lock its holder may take again (released as many times), like Python's \
     `multiprocessing.RLock`."
);

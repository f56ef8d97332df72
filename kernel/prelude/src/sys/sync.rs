//! Process-shared, robust locks and condition variables in shared memory.
//!
//! Built on glibc's `pthread_mutex_t` with `PTHREAD_PROCESS_SHARED` and
//! `PTHREAD_MUTEX_ROBUST`: when a process dies holding the mutex, the next
//! locker gets `EOWNERDEAD`, marks it consistent and carries on — nobody hangs
//! for ever on a dead holder. Waits are sliced (see [`crate::interrupt`]) so
//! every one of them can be interrupted.

use crate::error::{Error, Result};
use crate::sys::deadline::Deadline;
use std::cell::UnsafeCell;
use std::time::Duration;

/// How a lock was obtained.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Acquired, Lock};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let lock = Lock::new()?;
/// assert_eq!(lock.acquire()?, Acquired::Clean);
/// lock.release()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// Normally.
    Clean,
    /// From a holder that died: the lock is ours and consistent again, but what
    /// it protected may be half-updated.
    Recovered,
}

impl Acquired {
    /// Whether the previous holder died holding the lock.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Acquired;
    /// assert!(Acquired::Recovered.is_recovered() && !Acquired::Clean.is_recovered());
    /// ```
    pub fn is_recovered(self) -> bool {
        self == Acquired::Recovered
    }
}

/// A robust, process-shared pthread mutex, to be placed in shared memory.
#[repr(C)]
pub(crate) struct RawMutex {
    inner: UnsafeCell<libc::pthread_mutex_t>,
}

// SAFETY: pthread mutexes are made to be used from many threads and (with
// PTHREAD_PROCESS_SHARED) processes; all access goes through pthread calls.
unsafe impl Sync for RawMutex {}
// SAFETY: as above.
unsafe impl Send for RawMutex {}

fn check(code: libc::c_int) -> Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(code).into())
    }
}

fn abs_realtime(after: Duration) -> libc::timespec {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    add(now, after)
}

fn abs_monotonic(after: Duration) -> libc::timespec {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    add(now, after)
}

fn add(mut at: libc::timespec, after: Duration) -> libc::timespec {
    at.tv_sec += after.as_secs() as libc::time_t;
    at.tv_nsec += after.subsec_nanos() as libc::c_long;
    if at.tv_nsec >= 1_000_000_000 {
        at.tv_sec += 1;
        at.tv_nsec -= 1_000_000_000;
    }
    at
}

impl RawMutex {
    /// Initializes a mutex in place.
    ///
    /// # Safety
    /// `at` points to writable memory for a `RawMutex` that nothing else uses yet.
    pub(crate) unsafe fn init(at: *mut RawMutex, recursive: bool) -> Result<()> {
        // SAFETY: the attribute object is ours and initialized before use; `at`
        // is valid per the caller's promise.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            check(libc::pthread_mutexattr_init(&mut attr))?;
            check(libc::pthread_mutexattr_setpshared(
                &mut attr,
                libc::PTHREAD_PROCESS_SHARED,
            ))?;
            check(libc::pthread_mutexattr_setrobust(
                &mut attr,
                libc::PTHREAD_MUTEX_ROBUST,
            ))?;
            let kind = if recursive {
                libc::PTHREAD_MUTEX_RECURSIVE
            } else {
                libc::PTHREAD_MUTEX_ERRORCHECK
            };
            check(libc::pthread_mutexattr_settype(&mut attr, kind))?;
            let result = libc::pthread_mutex_init((*at).inner.get(), &attr);
            libc::pthread_mutexattr_destroy(&mut attr);
            check(result)
        }
    }

    fn ptr(&self) -> *mut libc::pthread_mutex_t {
        self.inner.get()
    }

    fn settle(&self, code: libc::c_int) -> Option<Result<Acquired>> {
        match code {
            0 => Some(Ok(Acquired::Clean)),
            libc::EOWNERDEAD => {
                // SAFETY: we hold the mutex (EOWNERDEAD means it was handed to us).
                let made = unsafe { libc::pthread_mutex_consistent(self.ptr()) };
                Some(check(made).map(|()| Acquired::Recovered))
            }
            libc::ETIMEDOUT | libc::EBUSY | libc::EINTR => None,
            other => Some(check(other).map(|()| Acquired::Clean)),
        }
    }

    /// Locks, waiting until `deadline` (interruptibly).
    pub(crate) fn lock(&self, deadline: &Deadline) -> Result<Acquired> {
        // SAFETY: the mutex was initialized by `init`.
        if let Some(done) = self.settle(unsafe { libc::pthread_mutex_trylock(self.ptr()) }) {
            return done;
        }
        loop {
            let slice = deadline.slice()?;
            let until = abs_realtime(slice);
            // SAFETY: as above; `until` lives across the call.
            let code = unsafe { libc::pthread_mutex_timedlock(self.ptr(), &until) };
            if let Some(done) = self.settle(code) {
                return done;
            }
        }
    }

    /// Tries to lock without waiting.
    pub(crate) fn try_lock(&self) -> Result<Option<Acquired>> {
        // SAFETY: the mutex was initialized by `init`.
        match self.settle(unsafe { libc::pthread_mutex_trylock(self.ptr()) }) {
            Some(done) => done.map(Some),
            None => Ok(None),
        }
    }

    /// Unlocks; `Err(NotOwner)` if the caller does not hold it.
    pub(crate) fn unlock(&self) -> Result<()> {
        // SAFETY: the mutex was initialized; an error-checking or recursive
        // mutex reports EPERM instead of misbehaving when we do not own it.
        match unsafe { libc::pthread_mutex_unlock(self.ptr()) } {
            0 => Ok(()),
            libc::EPERM => Err(Error::NotOwner),
            other => check(other),
        }
    }
}

/// A process-shared condition variable on the monotonic clock.
#[repr(C)]
pub(crate) struct RawCond {
    inner: UnsafeCell<libc::pthread_cond_t>,
}

// SAFETY: see RawMutex.
unsafe impl Sync for RawCond {}
// SAFETY: see RawMutex.
unsafe impl Send for RawCond {}

impl RawCond {
    /// Initializes a condition variable in place.
    ///
    /// # Safety
    /// `at` points to writable memory for a `RawCond` that nothing else uses yet.
    pub(crate) unsafe fn init(at: *mut RawCond) -> Result<()> {
        // SAFETY: attribute object ours; `at` valid per the caller.
        unsafe {
            let mut attr: libc::pthread_condattr_t = std::mem::zeroed();
            check(libc::pthread_condattr_init(&mut attr))?;
            check(libc::pthread_condattr_setpshared(
                &mut attr,
                libc::PTHREAD_PROCESS_SHARED,
            ))?;
            check(libc::pthread_condattr_setclock(
                &mut attr,
                libc::CLOCK_MONOTONIC,
            ))?;
            let result = libc::pthread_cond_init((*at).inner.get(), &attr);
            libc::pthread_condattr_destroy(&mut attr);
            check(result)
        }
    }

    /// Waits one slice (at most `slice`) for a signal; the caller holds `mutex`
    /// and re-checks its condition afterwards. Reports a recovered mutex.
    pub(crate) fn wait_slice(&self, mutex: &RawMutex, slice: Duration) -> Result<Acquired> {
        let until = abs_monotonic(slice);
        // SAFETY: both objects are initialized and the caller holds `mutex`.
        let code = unsafe { libc::pthread_cond_timedwait(self.inner.get(), mutex.ptr(), &until) };
        match code {
            0 | libc::ETIMEDOUT | libc::EINTR => Ok(Acquired::Clean),
            libc::EOWNERDEAD => {
                // SAFETY: the mutex is ours again, and inconsistent.
                check(unsafe { libc::pthread_mutex_consistent(mutex.ptr()) })?;
                Ok(Acquired::Recovered)
            }
            other => check(other).map(|()| Acquired::Clean),
        }
    }

    /// Wakes one waiter.
    pub(crate) fn notify_one(&self) {
        // SAFETY: initialized by `init`.
        unsafe { libc::pthread_cond_signal(self.inner.get()) };
    }

    /// Wakes every waiter.
    pub(crate) fn notify_all(&self) {
        // SAFETY: initialized by `init`.
        unsafe { libc::pthread_cond_broadcast(self.inner.get()) };
    }
}

/// A mutex and a condition variable guarding a `T`, all in shared memory: the
/// building block of semaphores, events, barriers and queues.
#[repr(C)]
pub(crate) struct Monitor<T> {
    mutex: RawMutex,
    cond: RawCond,
    state: UnsafeCell<T>,
}

// SAFETY: `state` is only reached through a guard, which holds `mutex`.
unsafe impl<T: Send> Sync for Monitor<T> {}

impl<T> Monitor<T> {
    /// Initializes a monitor in place.
    ///
    /// # Safety
    /// `at` points to writable memory for a `Monitor<T>` that nothing else uses yet.
    pub(crate) unsafe fn init(at: *mut Monitor<T>, state: T) -> Result<()> {
        // SAFETY: the caller gives us exclusive, valid memory.
        unsafe {
            RawMutex::init(std::ptr::addr_of_mut!((*at).mutex), false)?;
            RawCond::init(std::ptr::addr_of_mut!((*at).cond))?;
            std::ptr::addr_of_mut!((*at).state).write(UnsafeCell::new(state));
        }
        Ok(())
    }

    /// Locks the state (interruptibly).
    pub(crate) fn lock(&self, deadline: &Deadline) -> Result<MonitorGuard<'_, T>> {
        let acquired = self.mutex.lock(deadline)?;
        Ok(MonitorGuard {
            monitor: self,
            recovered: acquired.is_recovered(),
        })
    }

    /// Wakes one waiter.
    pub(crate) fn notify_one(&self) {
        self.cond.notify_one();
    }

    /// Wakes every waiter.
    pub(crate) fn notify_all(&self) {
        self.cond.notify_all();
    }
}

/// Holds a monitor's mutex; derefs to its state.
pub(crate) struct MonitorGuard<'a, T> {
    monitor: &'a Monitor<T>,
    /// Whether the mutex was taken over from a dead holder at some point.
    pub(crate) recovered: bool,
}

impl<T> MonitorGuard<'_, T> {
    /// Waits (releasing the mutex meanwhile) until `done(state)` holds, the
    /// deadline passes, or an interrupt comes.
    pub(crate) fn wait_until(
        &mut self,
        deadline: &Deadline,
        mut done: impl FnMut(&mut T) -> bool,
    ) -> Result<()> {
        while !done(self) {
            let slice = deadline.slice()?;
            if self.monitor.cond.wait_slice(&self.monitor.mutex, slice)? == Acquired::Recovered {
                self.recovered = true;
            }
        }
        Ok(())
    }
}

impl<T> std::ops::Deref for MonitorGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: we hold the mutex, so nobody else touches the state.
        unsafe { &*self.monitor.state.get() }
    }
}

impl<T> std::ops::DerefMut for MonitorGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: we hold the mutex, so nobody else touches the state.
        unsafe { &mut *self.monitor.state.get() }
    }
}

impl<T> Drop for MonitorGuard<'_, T> {
    fn drop(&mut self) {
        let _ = self.monitor.mutex.unlock();
    }
}

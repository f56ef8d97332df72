//! [`AsyncResult`]: the result of `apply_async` and `map_async`, with
//! Python's `callback` and `error_callback`.
//!
//! Without callbacks, `get` collects the result itself, in the caller's
//! thread. The first callback attached starts a watcher thread that collects
//! the result as soon as it arrives, stores it, and runs the callbacks there
//! (as Python's result-handler thread does); `get` then takes the stored
//! result. A callback attached after the result arrived runs at once.

use super::job::Job;
use crate::error::{Error, Result};
use crate::sys::deadline::{Deadline, timed};
use crate::sys::wait::wait_until;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Collects a job's result (`collect` for `map_async`, its single item for `apply_async`).
pub(super) type Collector<R> = fn(&Job, &Deadline) -> Result<R>;

type OnSuccess<R> = Box<dyn FnOnce(&R) + Send>;
type OnError = Box<dyn FnOnce(&Error) + Send>;

enum Stage<R> {
    Running,
    Ready(Result<R>),
    Taken,
}

/// The result's stage and the callbacks still to run.
type Slot<R> = (Stage<R>, Option<OnSuccess<R>>, Option<OnError>);

/// What the watcher thread and the handle share.
struct Watched<R> {
    stage: Mutex<Slot<R>>,
    ready: Condvar,
}

type Guard<'a, R> = MutexGuard<'a, Slot<R>>;

impl<R> Watched<R> {
    fn lock(&self) -> Guard<'_, R> {
        self.stage.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs the callbacks that apply to a stored result (none after `terminate`,
/// as in Python).
fn run_callbacks<R>(guard: &mut Guard<'_, R>) {
    let (stage, on_success, on_error) = &mut **guard;
    match stage {
        Stage::Ready(Ok(value)) => {
            if let Some(callback) = on_success.take() {
                callback(value);
            }
            on_error.take();
        }
        Stage::Ready(Err(Error::PoolNotRunning)) => {
            on_success.take();
            on_error.take();
        }
        Stage::Ready(Err(error)) => {
            if let Some(callback) = on_error.take() {
                callback(error);
            }
            on_success.take();
        }
        Stage::Running | Stage::Taken => {}
    }
}

/// The result of a `*_async` call, like Python's `AsyncResult`.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::Pool;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let pool = Pool::with_processes(2)?;
/// let pending = pool.map_async(|n: u32| n * 10, 1..=3)?;
/// pending.wait()?;
/// assert!(pending.ready() && pending.successful()?);
/// assert_eq!(pending.get()?, [10, 20, 30]);
/// # Ok(())
/// # }
/// ```
pub struct AsyncResult<R> {
    job: Arc<Job>,
    collect: Collector<R>,
    watched: Option<Arc<Watched<R>>>,
    taken: bool,
}

impl<R> std::fmt::Debug for AsyncResult<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.ready())
            .finish()
    }
}

impl<R> AsyncResult<R> {
    pub(super) fn new(job: Arc<Job>, collect: Collector<R>) -> AsyncResult<R> {
        AsyncResult {
            job,
            collect,
            watched: None,
            taken: false,
        }
    }

    /// Whether the work has finished (successfully or not).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(1)?;
    /// let slow = pool.apply_async(|| std::thread::sleep(std::time::Duration::from_millis(200)))?;
    /// assert!(!slow.ready());
    /// slow.get()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn ready(&self) -> bool {
        match &self.watched {
            Some(watched) => !matches!(watched.lock().0, Stage::Running),
            None => self.job.ready(),
        }
    }

    /// Whether the work finished without a panic or a dead worker;
    /// `Err(NotReady)` before it finished (Python's `ValueError`).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Error, Pool};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(1)?;
    /// let failing = pool.apply_async(|| -> u8 { panic!("no") })?;
    /// failing.wait()?;
    /// assert!(!failing.successful()?);
    /// let slow = pool.apply_async(|| std::thread::sleep(std::time::Duration::from_secs(5)))?;
    /// assert!(matches!(slow.successful(), Err(Error::NotReady)));
    /// pool.terminate();
    /// # Ok(())
    /// # }
    /// ```
    pub fn successful(&self) -> Result<bool> {
        if let Some(watched) = &self.watched {
            return match &watched.lock().0 {
                Stage::Running => Err(Error::NotReady),
                Stage::Ready(result) => Ok(result.is_ok()),
                Stage::Taken => Ok(true),
            };
        }
        if !self.job.ready() {
            return Err(Error::NotReady);
        }
        Ok(self.job.failure().is_none())
    }

    /// Waits (interruptibly) until the work has finished.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(1)?;
    /// let pending = pool.apply_async(|| 7)?;
    /// pending.wait()?;
    /// assert!(pending.ready());
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait(&self) -> Result<()> {
        self.wait_deadline(&Deadline::forever())
    }

    /// Waits at most `timeout`; returns whether the work has finished.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(1)?;
    /// let slow = pool.apply_async(|| std::thread::sleep(Duration::from_millis(300)))?;
    /// assert!(!slow.wait_timeout(Duration::from_millis(10))?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        timed(self.wait_deadline(&Deadline::after(Some(timeout))))
    }

    fn wait_deadline(&self, deadline: &Deadline) -> Result<()> {
        if let Some(watched) = &self.watched {
            drop(wait_until(
                &watched.ready,
                watched.lock(),
                deadline,
                |guard| !matches!(guard.0, Stage::Running),
            )?);
            return Ok(());
        }
        match self.job.wait_for(deadline, Job::all_done) {
            Ok(()) => Ok(()),
            Err(Error::TaskPanicked { .. } | Error::WorkerDied { .. } | Error::PoolNotRunning) => {
                Ok(())
            }
            Err(other) => Err(other),
        }
    }

    /// The result, waiting (interruptibly) for it.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(1)?;
    /// assert_eq!(pool.apply_async(|| "done".to_string())?.get()?, "done");
    /// # Ok(())
    /// # }
    /// ```
    pub fn get(mut self) -> Result<R> {
        self.taken = true;
        let Some(watched) = self.watched.clone() else {
            return (self.collect)(&self.job, &Deadline::forever());
        };
        self.wait_deadline(&Deadline::forever())?;
        let mut guard = watched.lock();
        match std::mem::replace(&mut guard.0, Stage::Taken) {
            Stage::Ready(result) => result,
            Stage::Running | Stage::Taken => Err(Error::NotReady),
        }
    }

    /// Like [`get`](AsyncResult::get), drawing one progress bar over the
    /// call's items while it waits (see [`Pool::map_progress`](super::Pool::map_progress)).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(2)?;
    /// let pending = pool.map_async(|n: u32| n + 1, 0..100)?;
    /// assert_eq!(pending.get_progress()?.len(), 100);
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_progress(self) -> Result<R> {
        super::watch::watch(&self.job)?;
        self.get()
    }

    /// The result, waiting at most `timeout` (`Err(Timeout)`; the work goes on).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Error, Pool};
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(1)?;
    /// let never = pool.apply_async(|| std::thread::sleep(Duration::from_secs(30)))?;
    /// assert!(matches!(never.get_timeout(Duration::from_millis(10)), Err(Error::Timeout)));
    /// pool.terminate();
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_timeout(self, timeout: Duration) -> Result<R> {
        if !self.wait_timeout(timeout)? {
            return Err(Error::Timeout);
        }
        self.get()
    }
}

impl<R: Send + 'static> AsyncResult<R> {
    /// Runs `callback` with the result in this process as soon as the work
    /// succeeds (Python's `callback=`); `get` still returns the result. Runs at
    /// once if it already did.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// use std::sync::mpsc;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(2)?;
    /// let (tx, rx) = mpsc::channel();
    /// let pending = pool
    ///     .map_async(|n: u64| n * n, 1..=4)?
    ///     .callback(move |squares: &Vec<u64>| tx.send(squares.iter().sum::<u64>()).expect("send"));
    /// assert_eq!(rx.recv().expect("the callback ran"), 30);
    /// assert_eq!(pending.get()?, [1, 4, 9, 16]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn callback(mut self, callback: impl FnOnce(&R) + Send + 'static) -> AsyncResult<R> {
        let watched = self.watch();
        let mut guard = watched.lock();
        guard.1 = Some(Box::new(callback));
        run_callbacks(&mut guard);
        drop(guard);
        self
    }

    /// Runs `callback` with the error in this process as soon as the work
    /// fails (Python's `error_callback=`); not after `terminate`.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Error, Pool};
    /// use std::sync::mpsc;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(1)?;
    /// let (tx, rx) = mpsc::channel();
    /// let pending = pool
    ///     .apply_async(|| -> u8 { panic!("bad input") })?
    ///     .error_callback(move |error: &Error| tx.send(error.to_string()).expect("send"));
    /// assert!(rx.recv().expect("the callback ran").contains("bad input"));
    /// assert!(matches!(pending.get(), Err(Error::TaskPanicked { .. })));
    /// # Ok(())
    /// # }
    /// ```
    pub fn error_callback(
        mut self,
        callback: impl FnOnce(&Error) + Send + 'static,
    ) -> AsyncResult<R> {
        let watched = self.watch();
        let mut guard = watched.lock();
        guard.2 = Some(Box::new(callback));
        run_callbacks(&mut guard);
        drop(guard);
        self
    }

    /// Starts the watcher thread (once).
    fn watch(&mut self) -> Arc<Watched<R>> {
        if let Some(watched) = &self.watched {
            return Arc::clone(watched);
        }
        let watched = Arc::new(Watched {
            stage: Mutex::new((Stage::Running, None, None)),
            ready: Condvar::new(),
        });
        self.watched = Some(Arc::clone(&watched));
        if self.job.ready() {
            // The result is there: collect it here, so the callback runs at once.
            watched.lock().0 =
                Stage::Ready((self.collect)(&self.job, &Deadline::uninterruptible()));
            return watched;
        }
        let (job, collect, shared) = (Arc::clone(&self.job), self.collect, Arc::clone(&watched));
        let spawned = std::thread::Builder::new()
            .name("pool-result-handler".to_owned())
            .spawn(move || {
                // Not the caller's wait: an interrupt does not end it; the
                // pool's terminate does.
                let result = collect(&job, &Deadline::uninterruptible());
                let mut guard = shared.lock();
                guard.0 = Stage::Ready(result);
                run_callbacks(&mut guard);
                drop(guard);
                shared.ready.notify_all();
            });
        if let Err(error) = spawned {
            // No thread: store the failure, so `get` reports it.
            watched.lock().0 = Stage::Ready(Err(error.into()));
        }
        watched
    }
}

impl<R> Drop for AsyncResult<R> {
    fn drop(&mut self) {
        // A watched result is reaped by its watcher; the pool reaps the rest.
        if !self.taken && self.watched.is_none() && self.job.all_done() {
            let _ = self.job.finish(&Deadline::uninterruptible());
        }
    }
}

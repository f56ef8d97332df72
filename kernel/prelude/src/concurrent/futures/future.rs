//! [`Future`]: the eventual result of a submitted call.
//!
//! A future's state sits behind one mutex. Whoever finishes it — an
//! executor's worker thread, its dispatcher, or a caller waiting in
//! `result` who sees the worker process's result first — stores the result,
//! runs the done callbacks and fires the wakers of `wait` and `as_completed`,
//! all in one step under that mutex, so each happens exactly once.
//!
//! A process call waits in a worker's batch before it runs: its future is
//! pending with a driver, and `cancel` asks the driver to take the call back
//! from the batch — which fails once the worker has claimed it (the future
//! is running then).

use crate::error::{Error, Result};
use crate::sys::deadline::Deadline;
use crate::sys::wait::wait_slice;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

type Callback<T> = Box<dyn FnOnce(std::result::Result<&T, &Error>) + Send>;

enum Stage<T> {
    Pending,
    Running,
    /// `None` once `result` took it.
    Finished(Option<Result<T>>),
    Cancelled,
}

/// Something that moves a future on (a worker process's result that a
/// waiting caller may collect itself).
pub(crate) trait Drive: Send + Sync {
    /// Completes the future if its result is there (marking it running once
    /// its worker started it); `true` once it is finished.
    fn poll(&self) -> bool;
    /// Waits at most `slice` for the result to come.
    fn wait(&self, slice: Duration);
    /// Takes the call back before its worker starts it; `false` once started.
    fn cancel(&self) -> bool;
}

/// Fires when any of the futures it was given to finishes (for `wait` and
/// `as_completed`).
#[derive(Default)]
pub(crate) struct Waker {
    fired: Mutex<bool>,
    condvar: Condvar,
}

impl Waker {
    pub(crate) fn fire(&self) {
        *self.fired.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.condvar.notify_all();
    }

    /// Clears the flag (before checking the futures again).
    pub(crate) fn reset(&self) {
        *self.fired.lock().unwrap_or_else(PoisonError::into_inner) = false;
    }

    /// Waits at most `slice` for a fire since the last reset.
    pub(crate) fn wait(&self, slice: Duration) {
        let fired = self.fired.lock().unwrap_or_else(PoisonError::into_inner);
        if !*fired {
            drop(wait_slice(&self.condvar, fired, slice));
        }
    }
}

struct State<T> {
    stage: Stage<T>,
    callbacks: Vec<Callback<T>>,
    wakers: Vec<Arc<Waker>>,
    driver: Option<Arc<dyn Drive>>,
}

/// The shared state behind a [`Future`]; executors keep a handle to finish it.
pub(crate) struct Core<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
}

impl<T> Core<T> {
    pub(crate) fn new() -> Arc<Core<T>> {
        Arc::new(Core {
            state: Mutex::new(State {
                stage: Stage::Pending,
                callbacks: Vec::new(),
                wakers: Vec::new(),
                driver: None,
            }),
            changed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves a pending future to running; `false` if it was cancelled.
    pub(crate) fn set_running(&self) -> bool {
        let mut state = self.lock();
        match state.stage {
            Stage::Pending => {
                state.stage = Stage::Running;
                true
            }
            _ => false,
        }
    }

    /// Gives a pending future the driver that finishes it (and that a
    /// waiting caller may use); `false`, and no driver, if it was cancelled.
    pub(crate) fn attach(&self, driver: Arc<dyn Drive>) -> bool {
        let mut state = self.lock();
        if !matches!(state.stage, Stage::Pending) {
            return false;
        }
        state.driver = Some(driver);
        drop(state);
        // A caller waiting without a driver looks again now.
        self.changed.notify_all();
        true
    }

    /// Marks a pending future running (its worker claimed the call).
    pub(crate) fn mark_running(&self) {
        let mut state = self.lock();
        if matches!(state.stage, Stage::Pending) {
            state.stage = Stage::Running;
        }
    }

    /// Stores the result (once), runs the callbacks and fires the wakers.
    pub(crate) fn finish(&self, result: Result<T>) {
        let mut state = self.lock();
        if matches!(state.stage, Stage::Finished(_) | Stage::Cancelled) {
            return;
        }
        state.stage = Stage::Finished(Some(result));
        state.driver = None;
        let callbacks = std::mem::take(&mut state.callbacks);
        if let Stage::Finished(Some(result)) = &state.stage {
            for callback in callbacks {
                callback(result.as_ref());
            }
        }
        for waker in state.wakers.drain(..) {
            waker.fire();
        }
        drop(state);
        self.changed.notify_all();
    }

    /// Cancels a pending future; `false` once it runs or ran.
    pub(crate) fn cancel(&self) -> bool {
        let mut state = self.lock();
        match state.stage {
            Stage::Pending if state.driver.as_ref().is_some_and(|d| !d.cancel()) => {
                // Its worker got to it first.
                state.stage = Stage::Running;
                false
            }
            Stage::Pending => {
                state.driver = None;
                state.stage = Stage::Cancelled;
                let callbacks = std::mem::take(&mut state.callbacks);
                let cancelled = Error::Cancelled;
                for callback in callbacks {
                    callback(Err(&cancelled));
                }
                for waker in state.wakers.drain(..) {
                    waker.fire();
                }
                drop(state);
                self.changed.notify_all();
                true
            }
            Stage::Cancelled => true,
            Stage::Running | Stage::Finished(_) => false,
        }
    }

    fn done_now(&self) -> bool {
        matches!(self.lock().stage, Stage::Finished(_) | Stage::Cancelled)
    }

    fn driver(&self) -> Option<Arc<dyn Drive>> {
        self.lock().driver.clone()
    }
}

/// The eventual result of a call submitted to an executor, like Python's
/// `concurrent.futures.Future`.
///
/// ```
/// use ferrokernel_prelude::concurrent::futures::ThreadPoolExecutor;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let executor = ThreadPoolExecutor::with_max_workers(2)?;
/// let future = executor.submit(|| 6 * 7)?;
/// assert_eq!(future.result()?, 42);
/// assert!(future.done());
/// # Ok(())
/// # }
/// ```
///
/// `result` moves the value out: a second call is `Err(ResultTaken)`.
pub struct Future<T> {
    core: Arc<Core<T>>,
}

impl<T> std::fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.core.lock().stage {
            Stage::Pending => "pending",
            Stage::Running => "running",
            Stage::Finished(_) => "finished",
            Stage::Cancelled => "cancelled",
        };
        f.debug_struct("Future").field("state", &state).finish()
    }
}

impl<T> Future<T> {
    pub(crate) fn new(core: Arc<Core<T>>) -> Future<T> {
        Future { core }
    }

    /// Whether the call finished or was cancelled.
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ThreadPoolExecutor;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let executor = ThreadPoolExecutor::new()?;
    /// let future = executor.submit(|| 1)?;
    /// future.result()?;
    /// assert!(future.done());
    /// # Ok(())
    /// # }
    /// ```
    pub fn done(&self) -> bool {
        if self.core.done_now() {
            return true;
        }
        self.core.driver().is_some_and(|driver| driver.poll())
    }

    /// Whether the call is running now.
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ThreadPoolExecutor;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let executor = ThreadPoolExecutor::with_max_workers(1)?;
    /// let slow = executor.submit(|| std::thread::sleep(Duration::from_millis(100)))?;
    /// std::thread::sleep(Duration::from_millis(20));
    /// assert!(slow.running());
    /// slow.result()?;
    /// assert!(!slow.running());
    /// # Ok(())
    /// # }
    /// ```
    pub fn running(&self) -> bool {
        !self.done() && matches!(self.core.lock().stage, Stage::Running)
    }

    /// Whether the call was cancelled.
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ThreadPoolExecutor;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let executor = ThreadPoolExecutor::new()?;
    /// let future = executor.submit(|| 1)?;
    /// future.result()?;
    /// assert!(!future.cancelled());
    /// # Ok(())
    /// # }
    /// ```
    pub fn cancelled(&self) -> bool {
        matches!(self.core.lock().stage, Stage::Cancelled)
    }

    /// Cancels the call if it has not started; `true` if it is (now) cancelled.
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ThreadPoolExecutor;
    /// use ferrokernel_prelude::multiprocessing::Error;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let executor = ThreadPoolExecutor::with_max_workers(1)?;
    /// let busy = executor.submit(|| std::thread::sleep(Duration::from_millis(100)))?;
    /// let queued = executor.submit(|| "never")?;
    /// assert!(queued.cancel());
    /// assert!(matches!(queued.result(), Err(Error::Cancelled)));
    /// busy.result()?;
    /// assert!(!busy.cancel(), "it already ran");
    /// # Ok(())
    /// # }
    /// ```
    pub fn cancel(&self) -> bool {
        self.core.cancel()
    }

    /// The call's result, waiting (interruptibly) for it: its value, the
    /// panic as `Err(TaskPanicked)`, or `Err(Cancelled)`. An interrupt leaves
    /// the future as it was.
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ProcessPoolExecutor;
    /// use ferrokernel_prelude::multiprocessing::Error;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let executor = ProcessPoolExecutor::with_max_workers(1)?;
    /// let future = executor.submit(|| -> u8 { panic!("boom") })?;
    /// assert!(matches!(future.result(), Err(Error::TaskPanicked { message }) if message == "boom"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn result(&self) -> Result<T> {
        self.result_deadline(Deadline::forever())
    }

    /// Like [`result`](Future::result), waiting at most `timeout`
    /// (`Err(Timeout)`, the future unchanged).
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ThreadPoolExecutor;
    /// use ferrokernel_prelude::multiprocessing::Error;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let executor = ThreadPoolExecutor::with_max_workers(1)?;
    /// let slow = executor.submit(|| {
    ///     std::thread::sleep(Duration::from_millis(100));
    ///     5
    /// })?;
    /// assert!(matches!(slow.result_timeout(Duration::from_millis(5)), Err(Error::Timeout)));
    /// assert_eq!(slow.result_timeout(Duration::from_secs(5))?, 5);
    /// # Ok(())
    /// # }
    /// ```
    pub fn result_timeout(&self, timeout: Duration) -> Result<T> {
        self.result_deadline(Deadline::after(Some(timeout)))
    }

    fn result_deadline(&self, deadline: Deadline) -> Result<T> {
        loop {
            let mut state = self.core.lock();
            match &mut state.stage {
                Stage::Finished(result) => return result.take().unwrap_or(Err(Error::ResultTaken)),
                Stage::Cancelled => return Err(Error::Cancelled),
                Stage::Pending | Stage::Running => {}
            }
            let driver = state.driver.clone();
            let slice = deadline.slice()?;
            match driver {
                Some(driver) => {
                    drop(state);
                    if !driver.poll() {
                        driver.wait(slice);
                    }
                }
                None => {
                    drop(wait_slice(&self.core.changed, state, slice));
                }
            }
        }
    }

    /// Calls `callback` with the result (or the error, `Cancelled` included)
    /// when the future finishes — at once if it has (Python's
    /// `add_done_callback`). It runs in the thread that finishes the future.
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ThreadPoolExecutor;
    /// use std::sync::mpsc;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let executor = ThreadPoolExecutor::new()?;
    /// let (tx, rx) = mpsc::channel();
    /// let future = executor.submit(|| 21 * 2)?;
    /// future.add_done_callback(move |result| tx.send(*result.expect("ok")).expect("send"));
    /// assert_eq!(rx.recv().expect("called"), 42);
    /// # Ok(())
    /// # }
    /// ```
    pub fn add_done_callback(
        &self,
        callback: impl FnOnce(std::result::Result<&T, &Error>) + Send + 'static,
    ) {
        // A process future finishes when someone looks: look first.
        let _ = self.done();
        let mut state = self.core.lock();
        match &state.stage {
            Stage::Finished(Some(result)) => callback(result.as_ref()),
            Stage::Finished(None) => callback(Err(&Error::ResultTaken)),
            Stage::Cancelled => callback(Err(&Error::Cancelled)),
            Stage::Pending | Stage::Running => state.callbacks.push(Box::new(callback)),
        }
    }

    /// Registers `waker` to fire when the future finishes; `true` if it
    /// already has.
    pub(crate) fn watch(&self, waker: &Arc<Waker>) -> bool {
        if self.done() {
            return true;
        }
        let mut state = self.core.lock();
        if matches!(state.stage, Stage::Finished(_) | Stage::Cancelled) {
            return true;
        }
        state.wakers.push(Arc::clone(waker));
        false
    }

    /// Whether the future finished with an error (for `FIRST_EXCEPTION`).
    pub(crate) fn failed(&self) -> bool {
        matches!(self.core.lock().stage, Stage::Finished(Some(Err(_))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_future_finishes_once_and_runs_each_callback_once() {
        let core = Core::new();
        let future = Future::new(Arc::clone(&core));
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        future.add_done_callback(move |result| {
            assert_eq!(result.ok(), Some(&7));
            counter.fetch_add(1, Ordering::SeqCst);
        });
        assert!(core.set_running());
        assert!(!future.cancel(), "a running future is not cancelled");
        core.finish(Ok(7));
        core.finish(Ok(8));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(future.result().expect("value"), 7, "the first result stays");
        assert!(matches!(future.result(), Err(Error::ResultTaken)));
    }

    #[test]
    fn a_cancelled_future_never_runs_and_fires_its_wakers() {
        let core: Arc<Core<u8>> = Core::new();
        let future = Future::new(Arc::clone(&core));
        let waker = Arc::new(Waker::default());
        assert!(!future.watch(&waker));
        assert!(future.cancel());
        assert!(!core.set_running(), "a cancelled call is not started");
        waker.wait(Duration::from_secs(5));
        assert!(*waker.fired.lock().expect("mutex"));
        assert!(future.cancelled() && future.done());
        assert!(matches!(future.result(), Err(Error::Cancelled)));
    }
}

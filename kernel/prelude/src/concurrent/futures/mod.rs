//! Python's `concurrent.futures`: [`ProcessPoolExecutor`] and
//! [`ThreadPoolExecutor`] run closures and hand back [`Future`]s;
//! [`as_completed`] and [`wait`] watch many at once.
//!
//! | Python | Rust |
//! |---|---|
//! | `ProcessPoolExecutor()`, `ProcessPoolExecutor(max_workers=4)` | `ProcessPoolExecutor::new()?`, `ProcessPoolExecutor::with_max_workers(4)?` |
//! | `ThreadPoolExecutor()` | `ThreadPoolExecutor::new()?` (same methods) |
//! | `ex.submit(f, x)` | `ex.submit(move \|\| f(x))?` |
//! | `ex.map(f, xs)` | `ex.map(f, xs)?` (a `Vec`, in order) |
//! | `ex.shutdown(wait=True)` | `ex.shutdown(true)?` |
//! | `fut.result()`, `fut.result(timeout)` | `fut.result()?`, `fut.result_timeout(d)?` |
//! | `fut.done()`, `fut.running()`, `fut.cancel()`, `fut.cancelled()` | the same names |
//! | `fut.add_done_callback(fn)` | `fut.add_done_callback(\|result\| ..)` |
//! | `as_completed(fs)`, `as_completed(fs, timeout)` | `as_completed(&fs)`, `as_completed_timeout(&fs, d)` |
//! | `wait(fs, return_when=FIRST_COMPLETED)` | `wait(&fs, FIRST_COMPLETED)?`, `wait_timeout(&fs, d, ..)?` |

mod batch;
pub(crate) mod future;
mod process;
mod thread;

pub use future::Future;
pub use process::ProcessPoolExecutor;
pub use thread::ThreadPoolExecutor;

use crate::error::{Error, Result};
use crate::sys::deadline::Deadline;
use future::Waker;
use std::sync::Arc;
use std::time::Duration;

/// When [`wait`] returns.
///
/// ```
/// use ferrokernel_prelude::concurrent::futures::{ALL_COMPLETED, ReturnWhen};
/// assert_eq!(ALL_COMPLETED, ReturnWhen::AllCompleted);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// When any future finishes or is cancelled.
    FirstCompleted,
    /// When any future finishes with an error, or all finish.
    FirstException,
    /// When all futures finish or are cancelled.
    AllCompleted,
}

/// [`wait`] returns when any future finishes (Python's `FIRST_COMPLETED`).
///
/// ```
/// use ferrokernel_prelude::concurrent::futures::{FIRST_COMPLETED, ThreadPoolExecutor, wait};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let executor = ThreadPoolExecutor::new()?;
/// let futures = [executor.submit(|| 1)?];
/// assert_eq!(wait(&futures, FIRST_COMPLETED)?.done.len(), 1);
/// # Ok(())
/// # }
/// ```
pub const FIRST_COMPLETED: ReturnWhen = ReturnWhen::FirstCompleted;
/// [`wait`] returns when any future fails, or all finish (Python's `FIRST_EXCEPTION`).
///
/// ```
/// use ferrokernel_prelude::concurrent::futures::{FIRST_EXCEPTION, ThreadPoolExecutor, wait};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let executor = ThreadPoolExecutor::new()?;
/// let futures = [executor.submit(|| -> u8 { panic!("first") })?];
/// assert_eq!(wait(&futures, FIRST_EXCEPTION)?.done.len(), 1);
/// # Ok(())
/// # }
/// ```
pub const FIRST_EXCEPTION: ReturnWhen = ReturnWhen::FirstException;
/// [`wait`] returns when all futures finish (Python's `ALL_COMPLETED`).
///
/// ```
/// use ferrokernel_prelude::concurrent::futures::{ALL_COMPLETED, ThreadPoolExecutor, wait};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let executor = ThreadPoolExecutor::new()?;
/// let futures = [executor.submit(|| 1)?, executor.submit(|| 2)?];
/// assert!(wait(&futures, ALL_COMPLETED)?.not_done.is_empty());
/// # Ok(())
/// # }
/// ```
pub const ALL_COMPLETED: ReturnWhen = ReturnWhen::AllCompleted;

/// What [`wait`] found: the futures that are done and those that are not
/// (Python's `DoneAndNotDoneFutures`), in the order they were given.
///
/// ```
/// use ferrokernel_prelude::concurrent::futures::{ALL_COMPLETED, ThreadPoolExecutor, wait};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let executor = ThreadPoolExecutor::new()?;
/// let futures = [executor.submit(|| 1)?];
/// let waited = wait(&futures, ALL_COMPLETED)?;
/// for future in waited.done {
///     assert_eq!(future.result()?, 1);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Waited<'a, T> {
    /// The futures that finished or were cancelled.
    pub done: Vec<&'a Future<T>>,
    /// The others.
    pub not_done: Vec<&'a Future<T>>,
}

/// Waits (interruptibly) until `return_when` holds for `futures`, like
/// Python's `concurrent.futures.wait`.
///
/// ```
/// use ferrokernel_prelude::concurrent::futures::{FIRST_COMPLETED, ThreadPoolExecutor, wait};
/// use std::time::Duration;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let executor = ThreadPoolExecutor::with_max_workers(2)?;
/// let quick = executor.submit(|| 1)?;
/// let slow = executor.submit(|| {
///     std::thread::sleep(Duration::from_millis(300));
///     2
/// })?;
/// let futures = [quick, slow];
/// let waited = wait(&futures, FIRST_COMPLETED)?;
/// assert_eq!((waited.done.len(), waited.not_done.len()), (1, 1));
/// # Ok(())
/// # }
/// ```
pub fn wait<'a, T: 'a>(
    futures: impl IntoIterator<Item = &'a Future<T>>,
    return_when: ReturnWhen,
) -> Result<Waited<'a, T>> {
    wait_deadline(futures, Deadline::forever(), return_when)
}

/// Like [`wait`] for at most `timeout`; then returns what it found (no error,
/// as in Python).
///
/// ```
/// use ferrokernel_prelude::concurrent::futures::{ALL_COMPLETED, ThreadPoolExecutor, wait_timeout};
/// use std::time::Duration;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let executor = ThreadPoolExecutor::with_max_workers(1)?;
/// let futures = [executor.submit(|| std::thread::sleep(Duration::from_millis(300)))?];
/// let waited = wait_timeout(&futures, Duration::from_millis(10), ALL_COMPLETED)?;
/// assert_eq!(waited.not_done.len(), 1);
/// # Ok(())
/// # }
/// ```
pub fn wait_timeout<'a, T: 'a>(
    futures: impl IntoIterator<Item = &'a Future<T>>,
    timeout: Duration,
    return_when: ReturnWhen,
) -> Result<Waited<'a, T>> {
    wait_deadline(futures, Deadline::after(Some(timeout)), return_when)
}

fn wait_deadline<'a, T: 'a>(
    futures: impl IntoIterator<Item = &'a Future<T>>,
    deadline: Deadline,
    return_when: ReturnWhen,
) -> Result<Waited<'a, T>> {
    let futures: Vec<&Future<T>> = futures.into_iter().collect();
    let waker = Arc::new(Waker::default());
    for future in &futures {
        future.watch(&waker);
    }
    loop {
        waker.reset();
        let (done, not_done): (Vec<&Future<T>>, Vec<&Future<T>>) =
            futures.iter().partition(|future| future.done());
        let enough = match return_when {
            ReturnWhen::AllCompleted => not_done.is_empty(),
            ReturnWhen::FirstCompleted => !done.is_empty() || not_done.is_empty(),
            ReturnWhen::FirstException => {
                not_done.is_empty() || done.iter().any(|future| future.failed())
            }
        };
        if enough {
            return Ok(Waited { done, not_done });
        }
        match deadline.slice() {
            Ok(slice) => waker.wait(slice),
            Err(Error::Timeout) => return Ok(Waited { done, not_done }),
            Err(other) => return Err(other),
        }
    }
}

/// The futures of [`as_completed`], each as it finishes.
///
/// ```
/// use ferrokernel_prelude::concurrent::futures::{ThreadPoolExecutor, as_completed};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let executor = ThreadPoolExecutor::new()?;
/// let futures = [executor.submit(|| 1)?, executor.submit(|| 2)?];
/// assert_eq!(as_completed(&futures).count(), 2);
/// # Ok(())
/// # }
/// ```
pub struct AsCompleted<'a, T> {
    pending: Vec<&'a Future<T>>,
    waker: Arc<Waker>,
    deadline: Deadline,
    failed: bool,
}

impl<T> std::fmt::Debug for AsCompleted<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsCompleted")
            .field("pending", &self.pending.len())
            .finish()
    }
}

/// Yields each of `futures` as it finishes (or is cancelled), like Python's
/// `concurrent.futures.as_completed`. Waiting is interruptible: an interrupt
/// yields `Err(Interrupted)` and ends the iteration, the futures untouched.
///
/// ```
/// use ferrokernel_prelude::concurrent::futures::{ProcessPoolExecutor, as_completed};
/// use std::time::Duration;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let executor = ProcessPoolExecutor::with_max_workers(2)?;
/// let slow = executor.submit(|| {
///     std::thread::sleep(Duration::from_millis(300));
///     "slow".to_string()
/// })?;
/// let quick = executor.submit(|| "quick".to_string())?;
/// let futures = [slow, quick];
/// let order: Vec<String> = as_completed(&futures)
///     .map(|future| future?.result())
///     .collect::<Result<_, _>>()?;
/// assert_eq!(order, ["quick", "slow"]);
/// # Ok(())
/// # }
/// ```
pub fn as_completed<'a, T: 'a>(
    futures: impl IntoIterator<Item = &'a Future<T>>,
) -> AsCompleted<'a, T> {
    as_completed_deadline(futures, Deadline::forever())
}

/// Like [`as_completed`], giving up after `timeout` with `Err(Timeout)`
/// (Python's `TimeoutError`).
///
/// ```
/// use ferrokernel_prelude::concurrent::futures::{ThreadPoolExecutor, as_completed_timeout};
/// use ferrokernel_prelude::multiprocessing::Error;
/// use std::time::Duration;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let executor = ThreadPoolExecutor::with_max_workers(1)?;
/// let futures = [executor.submit(|| std::thread::sleep(Duration::from_millis(300)))?];
/// let mut finished = as_completed_timeout(&futures, Duration::from_millis(10));
/// assert!(matches!(finished.next(), Some(Err(Error::Timeout))));
/// assert!(finished.next().is_none());
/// # Ok(())
/// # }
/// ```
pub fn as_completed_timeout<'a, T: 'a>(
    futures: impl IntoIterator<Item = &'a Future<T>>,
    timeout: Duration,
) -> AsCompleted<'a, T> {
    as_completed_deadline(futures, Deadline::after(Some(timeout)))
}

fn as_completed_deadline<'a, T: 'a>(
    futures: impl IntoIterator<Item = &'a Future<T>>,
    deadline: Deadline,
) -> AsCompleted<'a, T> {
    let pending: Vec<&Future<T>> = futures.into_iter().collect();
    let waker = Arc::new(Waker::default());
    for future in &pending {
        future.watch(&waker);
    }
    AsCompleted {
        pending,
        waker,
        deadline,
        failed: false,
    }
}

impl<'a, T> Iterator for AsCompleted<'a, T> {
    type Item = Result<&'a Future<T>>;

    fn next(&mut self) -> Option<Result<&'a Future<T>>> {
        if self.failed {
            return None;
        }
        loop {
            self.waker.reset();
            if self.pending.is_empty() {
                return None;
            }
            if let Some(at) = self.pending.iter().position(|future| future.done()) {
                return Some(Ok(self.pending.remove(at)));
            }
            match self.deadline.slice() {
                Ok(slice) => self.waker.wait(slice),
                Err(error) => {
                    self.failed = true;
                    return Some(Err(error));
                }
            }
        }
    }

    /// One per future (a timeout or an interrupt ends it early), so
    /// `progress(as_completed(&futures))` knows its total.
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = if self.failed { 0 } else { self.pending.len() };
        (left, Some(left))
    }
}

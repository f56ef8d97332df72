//! [`ThreadPoolExecutor`]: each submitted closure runs in a worker thread.

use super::future::{Core, Future};
use crate::error::{Error, Result};
use crate::sys::deadline::Deadline;
use crate::sys::globals::globals;
use crate::sys::wait::wait_until;
use crate::threading::Thread;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

type Work = Box<dyn FnOnce() + Send>;

struct State {
    queue: VecDeque<Work>,
    /// Worker threads alive, and how many of them wait for work.
    threads: usize,
    idle: usize,
    shutdown: bool,
}

struct Shared {
    max_workers: usize,
    /// Numbers this executor's threads' names (`ThreadPoolExecutor-1_0`, ...).
    number: usize,
    state: Mutex<State>,
    /// Signalled when work arrives or on shutdown.
    work: Condvar,
    /// Signalled when a worker thread ends.
    ended: Condvar,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs submitted closures in up to `max_workers` threads, like Python's
/// `concurrent.futures.ThreadPoolExecutor`. Threads start as work arrives
/// and are reused.
///
/// ```
/// use ferrokernel_prelude::concurrent::futures::{ALL_COMPLETED, ThreadPoolExecutor, wait};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let executor = ThreadPoolExecutor::with_max_workers(4)?;
/// let futures: Vec<_> = (0..8u32)
///     .map(|n| executor.submit(move || n + 1))
///     .collect::<Result<_, _>>()?;
/// let waited = wait(&futures, ALL_COMPLETED)?;
/// assert_eq!(waited.done.len(), 8);
/// let total: u32 = futures.iter().map(|f| f.result()).sum::<Result<u32, _>>()?;
/// assert_eq!(total, 36);
/// # Ok(())
/// # }
/// ```
///
/// Dropping the executor shuts it down and waits for its calls, as leaving
/// Python's `with` block does.
pub struct ThreadPoolExecutor {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.state();
        f.debug_struct("ThreadPoolExecutor")
            .field("max_workers", &self.shared.max_workers)
            .field("threads", &state.threads)
            .field("queued", &state.queue.len())
            .finish()
    }
}

impl ThreadPoolExecutor {
    /// An executor with Python's default size: `min(32, cpu_count + 4)` threads.
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ThreadPoolExecutor;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let cpus = ferrokernel_prelude::multiprocessing::cpu_count();
    /// assert_eq!(ThreadPoolExecutor::new()?.max_workers(), (cpus + 4).min(32));
    /// # Ok(())
    /// # }
    /// ```
    pub fn new() -> Result<ThreadPoolExecutor> {
        ThreadPoolExecutor::with_max_workers((crate::multiprocessing::cpu_count() + 4).min(32))
    }

    /// An executor with at most `max_workers` threads.
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ThreadPoolExecutor;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(ThreadPoolExecutor::with_max_workers(2)?.max_workers(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_max_workers(max_workers: usize) -> Result<ThreadPoolExecutor> {
        Ok(ThreadPoolExecutor {
            shared: Arc::new(Shared {
                max_workers: max_workers.max(1),
                number: globals().executors.fetch_add(1, Ordering::Relaxed) + 1,
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    threads: 0,
                    idle: 0,
                    shutdown: false,
                }),
                work: Condvar::new(),
                ended: Condvar::new(),
            }),
        })
    }

    /// How many threads it runs at most.
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ThreadPoolExecutor;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(ThreadPoolExecutor::with_max_workers(3)?.max_workers(), 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn max_workers(&self) -> usize {
        self.shared.max_workers
    }

    /// Schedules `f()` in a worker thread and returns its [`Future`];
    /// `Err(ExecutorShutdown)` after [`shutdown`](ThreadPoolExecutor::shutdown).
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ThreadPoolExecutor;
    /// use ferrokernel_prelude::threading::current_thread;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let executor = ThreadPoolExecutor::with_max_workers(1)?;
    /// let name = executor.submit(|| current_thread().name().to_owned())?.result()?;
    /// assert!(name.starts_with("ThreadPoolExecutor-"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn submit<T, F>(&self, f: F) -> Result<Future<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let core = Core::new();
        let finisher = Arc::clone(&core);
        let work: Work = Box::new(move || {
            if !finisher.set_running() {
                return;
            }
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
                Error::TaskPanicked {
                    message: crate::multiprocessing::pool::job::panic_text(&panic),
                }
            });
            finisher.finish(outcome);
        });
        let mut state = self.shared.state();
        if state.shutdown {
            return Err(Error::ExecutorShutdown);
        }
        state.queue.push_back(work);
        if state.idle == 0 && state.threads < self.shared.max_workers {
            let index = state.threads;
            state.threads += 1;
            drop(state);
            if let Err(error) = spawn_worker(&self.shared, index) {
                self.shared.state().threads -= 1;
                return Err(error);
            }
        } else {
            drop(state);
        }
        self.shared.work.notify_one();
        Ok(Future::new(core))
    }

    /// `f` over every item in the worker threads, the results in input order
    /// (Python's `executor.map`, collected); the first failure is the error.
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ThreadPoolExecutor;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let executor = ThreadPoolExecutor::with_max_workers(3)?;
    /// assert_eq!(executor.map(|s: &str| s.len(), ["a", "bb", "ccc"])?, [1, 2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn map<T, R, F>(&self, f: F, items: impl IntoIterator<Item = T>) -> Result<Vec<R>>
    where
        F: Fn(T) -> R + Send + Sync + 'static,
        T: Send + 'static,
        R: Send + 'static,
    {
        let f = Arc::new(f);
        let futures: Vec<Future<R>> = items
            .into_iter()
            .map(|item| {
                let f = Arc::clone(&f);
                self.submit(move || f(item))
            })
            .collect::<Result<_>>()?;
        futures.iter().map(Future::result).collect()
    }

    /// Takes no more calls; with `wait`, waits (interruptibly) until every
    /// call submitted has finished and the threads have ended.
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ThreadPoolExecutor;
    /// use ferrokernel_prelude::multiprocessing::Error;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let executor = ThreadPoolExecutor::new()?;
    /// let future = executor.submit(|| 1)?;
    /// executor.shutdown(true)?;
    /// assert!(future.done());
    /// assert!(matches!(executor.submit(|| 2), Err(Error::ExecutorShutdown)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn shutdown(&self, wait: bool) -> Result<()> {
        let mut state = self.shared.state();
        state.shutdown = true;
        self.shared.work.notify_all();
        if !wait {
            return Ok(());
        }
        drop(wait_until(
            &self.shared.ended,
            state,
            &Deadline::forever(),
            |state| state.threads == 0,
        )?);
        Ok(())
    }
}

impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        let _ = self.shutdown(true);
    }
}

fn spawn_worker(shared: &Arc<Shared>, index: usize) -> Result<()> {
    let shared_for_thread = Arc::clone(shared);
    let name = format!("ThreadPoolExecutor-{}_{index}", shared.number);
    // Daemonic: a program's exit waits for the executor through its drop,
    // not for idle workers.
    let mut thread = Thread::new(name, move || work(&shared_for_thread)).daemon(true);
    thread.start()
}

/// A worker thread's loop: runs queued calls until shutdown empties the queue.
fn work(shared: &Shared) {
    let mut state = shared.state();
    loop {
        if let Some(work) = state.queue.pop_front() {
            drop(state);
            work();
            state = shared.state();
            continue;
        }
        if state.shutdown {
            state.threads -= 1;
            drop(state);
            shared.ended.notify_all();
            return;
        }
        state.idle += 1;
        state = shared
            .work
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner);
        state.idle -= 1;
    }
}

//! [`ProcessPoolExecutor`]: each submitted closure runs in a worker process.
//!
//! Design: as with `Pool`, a worker is forked *for each call* — a closure
//! cannot be sent to a process that already runs, but a process forked
//! afterwards has it, and every notebook cell loaded so far. At most
//! `max_workers` calls run at once; the others wait in a queue.
//!
//! A call that finds a free slot is forked at once by the thread that
//! submits it. A dispatcher thread (started with the first call) forks the
//! queued ones as slots free, finishes futures whose worker has delivered
//! (so done-callbacks run without anyone waiting), and reaps the workers. It
//! sleeps in `poll` on the workers' pidfds and an eventfd that `submit` and
//! `shutdown` write. A caller waiting in `result` does not wait for the
//! dispatcher: it watches the worker's result slot itself and finishes the
//! future the moment the result is written — the worker's exit is reaped later.

use super::future::{Core, Drive, Future};
use crate::error::{Error, Result};
use crate::multiprocessing::pool::job::{self, Job, collect_first};
use crate::sys::deadline::Deadline;
use crate::sys::timeline::Group;
use crate::sys::wait::wait_until;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Forks a call's worker; `None` if its future was cancelled meanwhile. With
/// `report`, a failure to fork finishes the future with the error (and is
/// `None` too); without, it is returned to the caller of `submit`.
type Start = Box<dyn FnOnce(bool) -> Option<Result<Arc<dyn Running>>> + Send>;

/// A call whose worker was forked.
trait Running: Drive {
    /// The job (for its workers' pidfds and reaping).
    fn job(&self) -> &Arc<Job>;
}

/// One call in a worker process: finishes its future from the worker's result.
struct ProcessCall<T> {
    job: Arc<Job>,
    core: Arc<Core<T>>,
    claimed: AtomicBool,
}

impl<T: DeserializeOwned + Send> Drive for ProcessCall<T> {
    fn poll(&self) -> bool {
        if self.claimed.load(Ordering::Acquire) {
            return true;
        }
        let outcome = if self.job.chunk_done(0) {
            Some(collect_first::<T>(&self.job))
        } else {
            self.job.failure().map(Err)
        };
        let Some(outcome) = outcome else {
            return false;
        };
        // Whoever claims it first finishes the future; the others see it done.
        if !self.claimed.swap(true, Ordering::AcqRel) {
            self.core.finish(outcome);
        }
        true
    }

    fn wait(&self, slice: Duration) {
        let _ = self
            .job
            .wait_for(&Deadline::after(Some(slice)), |job| job.chunk_done(0));
    }
}

impl<T: DeserializeOwned + Send> Running for ProcessCall<T> {
    fn job(&self) -> &Arc<Job> {
        &self.job
    }
}

struct State {
    queue: VecDeque<Start>,
    running: Vec<Arc<dyn Running>>,
    /// Slots taken by calls being forked outside the lock.
    starting: usize,
    shutdown: bool,
    dispatcher: Option<JoinHandle<()>>,
}

struct Shared {
    max_workers: usize,
    /// The executor's workers, one group in the timeline for its life.
    group: Arc<Group>,
    state: Mutex<State>,
    /// Signalled when the last call is done after `shutdown`.
    idle: Condvar,
    /// Written to wake the dispatcher.
    wake: OwnedFd,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer to our eventfd; a full
        // counter (EAGAIN) already means "wake up".
        unsafe { libc::write(self.wake.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }

    fn drain_wake(&self) {
        let mut count = [0u8; 8];
        // SAFETY: reads into a live 8-byte buffer; the eventfd is non-blocking.
        unsafe {
            libc::read(
                self.wake.as_raw_fd(),
                count.as_mut_ptr().cast(),
                count.len(),
            )
        };
    }
}

/// Runs each submitted closure in a worker process of its own, at most
/// `max_workers` at a time, like Python's
/// `concurrent.futures.ProcessPoolExecutor` — closures from any notebook
/// cell work, as with [`Pool`](crate::multiprocessing::Pool).
///
/// ```
/// use ferrokernel_prelude::concurrent::futures::{ProcessPoolExecutor, as_completed};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let executor = ProcessPoolExecutor::with_max_workers(2)?;
/// let futures: Vec<_> = (1..=4u64)
///     .map(|n| executor.submit(move || n * n))
///     .collect::<Result<_, _>>()?;
/// let mut squares: Vec<u64> = Vec::new();
/// for future in as_completed(&futures) {
///     squares.push(future?.result()?);
/// }
/// squares.sort_unstable();
/// assert_eq!(squares, [1, 4, 9, 16]);
/// # Ok(())
/// # }
/// ```
///
/// Dropping the executor shuts it down and waits for its calls, as leaving
/// Python's `with` block does.
pub struct ProcessPoolExecutor {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.state();
        f.debug_struct("ProcessPoolExecutor")
            .field("max_workers", &self.shared.max_workers)
            .field("running", &state.running.len())
            .field("queued", &state.queue.len())
            .finish()
    }
}

impl ProcessPoolExecutor {
    /// An executor with one worker per CPU.
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ProcessPoolExecutor;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let executor = ProcessPoolExecutor::new()?;
    /// assert_eq!(executor.max_workers(), ferrokernel_prelude::multiprocessing::cpu_count());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new() -> Result<ProcessPoolExecutor> {
        ProcessPoolExecutor::with_max_workers(crate::multiprocessing::cpu_count())
    }

    /// An executor running at most `max_workers` calls at once.
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ProcessPoolExecutor;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(ProcessPoolExecutor::with_max_workers(3)?.max_workers(), 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_max_workers(max_workers: usize) -> Result<ProcessPoolExecutor> {
        // SAFETY: eventfd takes an initial value and flags; it returns a new fd or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        // SAFETY: the fd was just returned to us alone.
        let wake = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(ProcessPoolExecutor {
            shared: Arc::new(Shared {
                max_workers: max_workers.max(1),
                group: Arc::new(Group::new(format!(
                    "ProcessPoolExecutor({})",
                    max_workers.max(1)
                ))),
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    running: Vec::new(),
                    starting: 0,
                    shutdown: false,
                    dispatcher: None,
                }),
                idle: Condvar::new(),
                wake,
            }),
        })
    }

    /// How many calls run at once at most.
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ProcessPoolExecutor;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(ProcessPoolExecutor::with_max_workers(2)?.max_workers(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn max_workers(&self) -> usize {
        self.shared.max_workers
    }

    /// Schedules `f()` in a worker process and returns its [`Future`];
    /// `Err(ExecutorShutdown)` after [`shutdown`](ProcessPoolExecutor::shutdown).
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ProcessPoolExecutor;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let executor = ProcessPoolExecutor::with_max_workers(1)?;
    /// let words = vec!["fork", "per", "call"];
    /// let future = executor.submit(move || words.join(" "))?;
    /// assert_eq!(future.result()?, "fork per call");
    /// # Ok(())
    /// # }
    /// ```
    pub fn submit<T, F>(&self, f: F) -> Result<Future<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
    {
        let core = Core::new();
        let start = start_call(f, Arc::clone(&core), Arc::clone(&self.shared.group));
        let mut state = self.shared.state();
        if state.shutdown {
            return Err(Error::ExecutorShutdown);
        }
        ensure_dispatcher(&self.shared, &mut state)?;
        if state.running.len() + state.starting < self.shared.max_workers {
            // A free slot: fork here and now, without waking anyone first.
            state.starting += 1;
            drop(state);
            let started = start(false);
            let mut state = self.shared.state();
            state.starting -= 1;
            match started {
                // The dispatcher picks the call up at its next tick (at most
                // `BUSY_TICK`): waking it now would only take CPU from the
                // worker, and a waiting caller finishes the future itself.
                Some(Ok(call)) => state.running.push(call),
                Some(Err(error)) => return Err(error),
                None => {}
            }
        } else {
            state.queue.push_back(start);
            drop(state);
            self.shared.wake();
        }
        Ok(Future::new(core))
    }

    /// `f` over every item in worker processes, the results in input order
    /// (Python's `executor.map`, collected). Runs as
    /// [`Pool::map`](crate::multiprocessing::Pool::map) does, with
    /// `max_workers` processes; the first failure is the error.
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ProcessPoolExecutor;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let executor = ProcessPoolExecutor::with_max_workers(2)?;
    /// assert_eq!(executor.map(|n: u32| n * 2, 1..=4)?, [2, 4, 6, 8]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn map<T, R, F>(&self, f: F, items: impl IntoIterator<Item = T>) -> Result<Vec<R>>
    where
        F: Fn(T) -> R,
        R: Serialize + DeserializeOwned,
    {
        if self.shared.state().shutdown {
            return Err(Error::ExecutorShutdown);
        }
        let job = Job::start(
            items.into_iter().collect(),
            &f,
            self.shared.max_workers,
            None,
            None,
            &self.shared.group,
        )?;
        job::collect(&job, &Deadline::forever())
    }

    /// Takes no more calls; with `wait`, waits (interruptibly) until every
    /// call submitted has finished (Python's `shutdown(wait=True)`). Without,
    /// the calls still run.
    ///
    /// ```
    /// use ferrokernel_prelude::concurrent::futures::ProcessPoolExecutor;
    /// use ferrokernel_prelude::multiprocessing::Error;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let executor = ProcessPoolExecutor::with_max_workers(1)?;
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
        self.shared.wake();
        if !wait {
            return Ok(());
        }
        drop(wait_until(
            &self.shared.idle,
            state,
            &Deadline::forever(),
            |state| state.queue.is_empty() && state.running.is_empty() && state.starting == 0,
        )?);
        Ok(())
    }
}

impl Drop for ProcessPoolExecutor {
    fn drop(&mut self) {
        let _ = self.shutdown(true);
    }
}

/// The closure that forks `f`'s worker once its future may run.
fn start_call<T, F>(f: F, core: Arc<Core<T>>, group: Arc<Group>) -> Start
where
    F: FnOnce() -> T + Send + 'static,
    T: Serialize + DeserializeOwned + Send + 'static,
{
    Box::new(move |report| {
        if !core.set_running() {
            return None;
        }
        let once = Mutex::new(Some(f));
        let call = |(): ()| {
            let f = once.lock().unwrap_or_else(PoisonError::into_inner).take();
            f.map(|f| f())
        };
        let job = match Job::start(vec![()], &call, 1, Some(1), None, &group) {
            Ok(job) => job,
            Err(error) if report => {
                core.finish(Err(error));
                return None;
            }
            Err(error) => return Some(Err(error)),
        };
        let running = Arc::new(ProcessCall {
            job,
            core: Arc::clone(&core),
            claimed: AtomicBool::new(false),
        });
        core.set_driver(Arc::clone(&running) as Arc<dyn Drive>);
        Some(Ok(running as Arc<dyn Running>))
    })
}

/// Starts the dispatcher thread if it is not running.
fn ensure_dispatcher(shared: &Arc<Shared>, state: &mut State) -> Result<()> {
    if state.dispatcher.as_ref().is_some_and(|d| !d.is_finished()) {
        return Ok(());
    }
    let for_thread = Arc::clone(shared);
    let handle = std::thread::Builder::new()
        .name("ProcessPoolExecutor-dispatcher".to_owned())
        .spawn(move || dispatch(&for_thread))?;
    state.dispatcher = Some(handle);
    Ok(())
}

/// The dispatcher's loop (see the module notes). It keeps running while any
/// worker it or a caller forked lives, so the workers' parent thread does not end.
fn dispatch(shared: &Shared) {
    loop {
        // Finish what delivered (outside the lock: done-callbacks may submit),
        // then forget the calls whose workers have left.
        let running: Vec<Arc<dyn Running>> = shared.state().running.clone();
        let left: Vec<bool> = running
            .iter()
            .map(|call| {
                call.poll();
                call.job().reaped()
            })
            .collect();
        let mut state = shared.state();
        state.running.retain(|call| {
            !running
                .iter()
                .zip(&left)
                .any(|(seen, left)| *left && Arc::ptr_eq(seen, call))
        });
        // Fork queued calls into free slots.
        while state.running.len() + state.starting < shared.max_workers {
            let Some(start) = state.queue.pop_front() else {
                break;
            };
            state.starting += 1;
            drop(state);
            let started = start(true);
            state = shared.state();
            state.starting -= 1;
            if let Some(Ok(call)) = started {
                state.running.push(call);
            }
        }
        let idle = state.queue.is_empty() && state.running.is_empty() && state.starting == 0;
        if idle {
            shared.idle.notify_all();
            if state.shutdown {
                state.dispatcher = None;
                return;
            }
        }
        let fds: Vec<i32> = state
            .running
            .iter()
            .flat_map(|call| call.job().worker_fds())
            .collect();
        drop(state);
        wait_for_any(shared, &fds);
    }
}

/// How long the dispatcher sleeps at most while calls run (it learns of
/// calls forked by `submit` at its next tick), and while none do.
const BUSY_TICK: libc::c_int = 5;
const IDLE_TICK: libc::c_int = 50;

/// Sleeps until a worker exits, `submit`/`shutdown` writes the eventfd, or a tick passes.
fn wait_for_any(shared: &Shared, fds: &[i32]) {
    let mut polled: Vec<libc::pollfd> = std::iter::once(shared.wake.as_fd().as_raw_fd())
        .chain(fds.iter().copied())
        .map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `polled` is a live array of pollfds; the fds belong to the
    // eventfd and to jobs the caller keeps in `running` (only this thread
    // removes them, after the poll).
    let tick = if fds.is_empty() { IDLE_TICK } else { BUSY_TICK };
    unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, tick) };
    shared.drain_wake();
}

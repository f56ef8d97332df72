//! [`ProcessPoolExecutor`]: each submitted closure runs in a worker process.
//!
//! Design: a closure cannot be sent to a process that already runs, but a
//! process forked afterwards has it, and every notebook cell loaded so far.
//! So workers are forked for the calls there are: a call submitted to an
//! idle executor gets a worker of its own at once; calls submitted while
//! workers are busy queue up, and as slots free, each takes a share of the
//! calls waiting (a `max_workers`-th), forked as one [`Batch`] whose
//! worker runs them in turn and streams each result back (see `batch`). A
//! burst of calls pays a few forks, not one per call; a lone call pays one.
//!
//! A slot is busy while its worker has calls left to run. The thread that
//! submits forks only when no worker is busy (a lone call waits for no other
//! thread); otherwise a dispatcher thread (started with the first call)
//! forks the queued calls into free slots — at once when woken by the first
//! call queued, and as workers leave — while the submitter goes on queueing.
//! It also finishes futures whose results came (so done-callbacks run
//! without anyone waiting), and reaps the workers. It sleeps in `poll` on
//! the workers' pidfds and an eventfd that `submit` writes when a call
//! queues and `shutdown` writes. A caller waiting in `result` does not wait
//! for the dispatcher: it watches its call's result itself and finishes the
//! future the moment it is written.

use super::batch::{self, Batch, Queued};
use super::future::{Core, Future};
use crate::error::{Error, Result};
use crate::multiprocessing::pool::job::{self, Job};
use crate::sys::deadline::Deadline;
use crate::sys::timeline::Group;
use crate::sys::wait::wait_until;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

struct State {
    queue: VecDeque<Queued>,
    /// Batches until their worker has left.
    batches: Vec<Arc<Batch>>,
    /// Slots taken by batches being forked outside the lock.
    starting: usize,
    shutdown: bool,
    dispatcher: Option<JoinHandle<()>>,
}

impl State {
    /// Workers still running calls (or being forked).
    fn busy(&self) -> usize {
        self.batches.iter().filter(|batch| batch.busy()).count() + self.starting
    }

    fn idle(&self) -> bool {
        self.queue.is_empty() && self.batches.is_empty() && self.starting == 0
    }
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

/// Runs each submitted closure in a worker process, at most `max_workers`
/// at a time, like Python's `concurrent.futures.ProcessPoolExecutor` —
/// closures from any notebook cell work, as with
/// [`Pool`](crate::multiprocessing::Pool). Calls that queue up while every
/// worker is busy share a worker forked for them, which runs them in turn
/// and hands back each result as it finishes.
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
            .field("busy", &state.busy())
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
                    batches: Vec::new(),
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
        let queued = batch::queued(f, Arc::clone(&core));
        forget_left_batches(&self.shared);
        let mut state = self.shared.state();
        if state.shutdown {
            return Err(Error::ExecutorShutdown);
        }
        ensure_dispatcher(&self.shared, &mut state)?;
        // An idle executor forks here and now: a lone call waits for no
        // other thread. Otherwise the call queues and the dispatcher forks
        // as slots free, so a burst of submits never waits for a fork and
        // the calls that pile up meanwhile share one.
        let idle = state.busy() == 0;
        let first_queued = state.queue.is_empty();
        state.queue.push_back(queued);
        let started = if idle {
            let (state, started) = pump(&self.shared, state);
            drop(state);
            started
        } else {
            drop(state);
            if first_queued {
                self.shared.wake();
            }
            Ok(())
        };
        started?;
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
            |state| state.idle(),
        )?);
        Ok(())
    }
}

impl Drop for ProcessPoolExecutor {
    fn drop(&mut self) {
        let _ = self.shutdown(true);
    }
}

/// Forks workers for the queued calls while slots are free, each taking a
/// `1 / max_workers` share of the calls waiting as one batch. The
/// lock is let go while forking. A failed fork fails its calls' futures and
/// ends the round with the error.
fn pump<'a>(
    shared: &'a Shared,
    mut state: MutexGuard<'a, State>,
) -> (MutexGuard<'a, State>, Result<()>) {
    loop {
        let free = shared.max_workers.saturating_sub(state.busy());
        if free == 0 || state.queue.is_empty() {
            return (state, Ok(()));
        }
        // A share as if every slot were free: the other workers free their
        // slots soon, and calls of even length then end about together
        // (taking the whole queue into one free slot would run it on one
        // core while the other slots free up).
        let share = state.queue.len().div_ceil(shared.max_workers);
        let calls: Vec<Queued> = state.queue.drain(..share).collect();
        state.starting += 1;
        drop(state);
        let started = Batch::start(calls, &shared.group);
        state = shared.state();
        state.starting -= 1;
        match started {
            Ok(batch) => state.batches.push(Arc::new(batch)),
            Err(error) => return (state, Err(error)),
        }
    }
}

/// Forgets the batches whose workers have left, finishing their futures
/// first (outside the lock: done-callbacks may submit). The dispatcher does
/// this at its next tick too; doing it here keeps calls made one at a time
/// from piling up the shared mappings of dozens of finished batches, each
/// of which every fork would copy (measured: ~230 mappings at 2.5 k calls/s).
/// Not from a done-callback: the batch being polled up this thread's stack
/// would wait for itself (the dispatcher or that poll will get to them).
fn forget_left_batches(shared: &Shared) {
    if batch::polling_here() {
        return;
    }
    let left: Vec<Arc<Batch>> = {
        let mut state = shared.state();
        let (left, running) = std::mem::take(&mut state.batches)
            .into_iter()
            // A busy worker has not left: no need to ask the system.
            .partition(|batch| !batch.busy() && batch.reaped());
        state.batches = running;
        left
    };
    for batch in &left {
        batch.poll();
    }
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
        // Finish what came (outside the lock: done-callbacks may submit),
        // then forget the batches whose workers have left. Reaped first: a
        // worker that left has delivered all it ever will, so the look after
        // it finishes every future of its batch.
        let batches: Vec<Arc<Batch>> = shared.state().batches.clone();
        let left: Vec<bool> = batches.iter().map(|batch| batch.reaped()).collect();
        for batch in &batches {
            batch.poll();
        }
        let mut state = shared.state();
        state.batches.retain(|batch| {
            !batches
                .iter()
                .zip(&left)
                .any(|(seen, left)| *left && Arc::ptr_eq(seen, batch))
        });
        // A failed fork has already failed its calls' futures.
        let (state, _) = pump(shared, state);
        if state.idle() {
            shared.idle.notify_all();
            if state.shutdown {
                let mut state = state;
                state.dispatcher = None;
                return;
            }
        }
        // Only workers with calls left can free a slot or fail a call: the
        // exit of one whose results are all in waits for the next tick, so
        // a lone call's worker leaving does not wake this thread to reap and
        // unmap while the caller forks the next one.
        let fds: Vec<i32> = state
            .batches
            .iter()
            .filter(|batch| batch.busy())
            .flat_map(|batch| batch.worker_fds())
            .collect();
        let tick = if state.batches.is_empty() {
            IDLE_TICK
        } else {
            BUSY_TICK
        };
        drop(state);
        wait_for_any(shared, &fds, tick);
    }
}

/// How long the dispatcher sleeps at most while calls run (it learns of
/// calls forked by `submit` at its next tick), and while none do.
const BUSY_TICK: libc::c_int = 5;
const IDLE_TICK: libc::c_int = 50;

/// Sleeps until a worker exits, `submit`/`shutdown` writes the eventfd, or a tick passes.
fn wait_for_any(shared: &Shared, fds: &[i32], tick: libc::c_int) {
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
    unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, tick) };
    shared.drain_wake();
}

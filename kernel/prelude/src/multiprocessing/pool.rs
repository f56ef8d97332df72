//! [`Pool`]: a closure mapped over items by worker processes.
//!
//! Design: workers are forked *for each call*, not once when the pool is made.
//! A notebook cell is a shared object loaded into the process after any earlier
//! fork, and a closure cannot be sent to another process — but a forked worker
//! inherits the closure, the items and every cell loaded so far. So a pool made
//! in one cell maps functions defined in later cells (Python's fork pools fail
//! there), closures may capture anything, and items need not be serializable.
//!
//! The items are cut into chunks (a quarter of a chunk per worker, like
//! Python); workers claim chunks from an atomic counter in shared memory, run
//! the closure, and write each chunk's encoded results into their own region of
//! a large lazily-mapped arena. The parent reads chunks in input order (or as
//! they finish, for `imap_unordered`). A panic stops the job with
//! `Err(TaskPanicked)` carrying its message; a worker that dies is
//! `Err(WorkerDied)`; an interrupt kills the workers. The pool stays usable
//! after any of these, since nothing outlives the call.

use super::{Error, Result};
use crate::codec;
use crate::interrupt::Deadline;
use crate::sys::child::{self, ChildWaiter};
use crate::sys::fork;
use crate::sys::shm::{Mapping, Shared};
use crate::sys::sync::Monitor;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Virtual room for one worker's results; pages cost memory only once written.
const ARENA_PER_WORKER: usize = 4 << 30;

const DONE: u32 = 2;
const PANICKED: u32 = 3;

#[repr(C)]
struct Slot {
    state: AtomicU32,
    offset: AtomicU64,
    len: AtomicU64,
}

#[repr(C, align(64))]
struct Header {
    next_chunk: AtomicUsize,
    finished: AtomicUsize,
    failed: AtomicBool,
    /// Counts finished chunks; parked waiters are woken through it.
    progress: Monitor<u64>,
}

/// One call's shared state: which chunks are done, and where their results are.
struct Job {
    header: Shared<Header>,
    arena: Arc<Mapping>,
    items: usize,
    chunk_size: usize,
    chunks: usize,
    workers: Mutex<Vec<Worker>>,
}

struct Worker {
    waiter: ChildWaiter,
    exit: Option<i32>,
}

impl Job {
    fn slots(&self) -> &[Slot] {
        // SAFETY: the header's tail holds `2 * chunks` slots (results, then the
        // completion order), zero-initialized, which is a valid Slot.
        unsafe { std::slice::from_raw_parts(self.header.tail().cast::<Slot>(), self.chunks * 2) }
    }

    fn slot(&self, chunk: usize) -> &Slot {
        &self.slots()[chunk]
    }

    /// The chunk that finished `nth`, once it has.
    fn finished_nth(&self, nth: usize) -> Option<usize> {
        let value = self.slots()[self.chunks + nth]
            .offset
            .load(Ordering::Acquire);
        (value > 0).then(|| value as usize - 1)
    }

    fn bytes(&self, chunk: usize) -> &[u8] {
        let slot = self.slot(chunk);
        let offset = slot.offset.load(Ordering::Acquire) as usize;
        let len = slot.len.load(Ordering::Acquire) as usize;
        // SAFETY: the worker wrote `len` bytes at `offset` inside the arena
        // before publishing the slot's state (release), which we read (acquire).
        unsafe { std::slice::from_raw_parts(self.arena.ptr().add(offset), len) }
    }

    /// Why chunk `chunk` failed, if it panicked.
    fn panic_message(&self, chunk: usize) -> Option<String> {
        (self.slot(chunk).state.load(Ordering::Acquire) == PANICKED)
            .then(|| String::from_utf8_lossy(self.bytes(chunk)).into_owned())
    }

    /// Reaps workers that ended; a worker that died abnormally while chunks
    /// were unfinished is an error.
    fn check_workers(&self) -> Result<bool> {
        let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
        for worker in workers.iter_mut().filter(|w| w.exit.is_none()) {
            worker.exit = child::poll_exit(worker.waiter.pid())?;
        }
        let all_done = self.header.get().finished.load(Ordering::Acquire) == self.chunks;
        if !all_done && !self.header.get().failed.load(Ordering::Acquire) {
            if let Some(code) = workers
                .iter()
                .filter_map(|w| w.exit)
                .find(|code| *code != 0)
            {
                return Err(Error::WorkerDied {
                    reason: describe_exit(code),
                });
            }
            if workers.iter().all(|w| w.exit.is_some()) {
                return Err(Error::WorkerDied {
                    reason: "every worker left with chunks unfinished".to_owned(),
                });
            }
        }
        Ok(workers.iter().all(|w| w.exit.is_some()))
    }

    /// Waits until `ready()` holds, watching for panics, dead workers and interrupts.
    fn wait_for(&self, deadline: &Deadline, ready: impl Fn(&Job) -> bool) -> Result<()> {
        loop {
            if ready(self) {
                return Ok(());
            }
            if let Some(message) = self.first_panic() {
                return Err(Error::TaskPanicked { message });
            }
            self.check_workers()?;
            let slice = deadline.slice()?.min(Duration::from_millis(10));
            let seen = self.header.get().finished.load(Ordering::Acquire) as u64;
            let mut progress = self.header.get().progress.lock(deadline)?;
            let _ = progress.wait_until(&Deadline::after(Some(slice)), |count| *count != seen);
        }
    }

    fn first_panic(&self) -> Option<String> {
        if !self.header.get().failed.load(Ordering::Acquire) {
            return None;
        }
        (0..self.chunks).find_map(|chunk| self.panic_message(chunk))
    }

    fn chunk_done(&self, chunk: usize) -> bool {
        self.slot(chunk).state.load(Ordering::Acquire) == DONE
    }

    /// The indices of the items in `chunk`.
    fn chunk_range(&self, chunk: usize) -> std::ops::Range<usize> {
        chunk * self.chunk_size..((chunk + 1) * self.chunk_size).min(self.items)
    }

    fn decode<R: DeserializeOwned>(&self, chunk: usize) -> Result<Vec<R>> {
        let mut out = Vec::with_capacity(self.chunk_size);
        self.decode_into(chunk, &mut out)?;
        Ok(out)
    }

    fn decode_into<R: DeserializeOwned>(&self, chunk: usize, out: &mut Vec<R>) -> Result<()> {
        codec::decode_many_into(self.bytes(chunk), self.chunk_range(chunk).len(), out)
    }

    /// Kills the workers and reaps them.
    fn kill(&self) {
        let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
        for worker in workers.iter_mut().filter(|w| w.exit.is_none()) {
            child::signal(worker.waiter.pid(), nix::sys::signal::Signal::SIGKILL);
            worker.exit = worker
                .waiter
                .wait(&Deadline::uninterruptible())
                .ok()
                .flatten();
        }
    }

    /// Waits for the workers to leave after a successful job.
    fn finish(&self, deadline: &Deadline) -> Result<()> {
        loop {
            if self.check_workers()? {
                let workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
                for worker in workers.iter() {
                    child::forget(worker.waiter.pid());
                }
                return Ok(());
            }
            let slice = deadline.slice()?;
            let workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
            let waiting: Vec<&ChildWaiter> = workers
                .iter()
                .filter(|w| w.exit.is_none())
                .map(|w| &w.waiter)
                .collect();
            child::wait_any(&waiting, slice);
        }
    }

    /// Runs `f` over `items` in `processes` forked workers.
    fn start<T, R, F>(
        items: Vec<T>,
        f: &F,
        processes: usize,
        chunk_size: Option<usize>,
    ) -> Result<Arc<Job>>
    where
        F: Fn(T) -> R,
        R: Serialize,
    {
        let len = items.len();
        let chunk_size = chunk_size
            .unwrap_or_else(|| default_chunk_size(len, processes))
            .max(1);
        let chunks = len.div_ceil(chunk_size);
        let slots = std::mem::size_of::<Slot>() * chunks.max(1) * 2;
        let mut failed = None;
        // SAFETY: fresh zeroed memory for the header and its slots (zeros are valid).
        let header = unsafe {
            Shared::new_with(slots, |at: *mut Header| {
                if let Err(error) = Monitor::init(std::ptr::addr_of_mut!((*at).progress), 0u64) {
                    failed = Some(error);
                }
            })?
        };
        if let Some(error) = failed {
            return Err(error);
        }
        let workers = processes.min(chunks).max(usize::from(chunks > 0));
        let arena = Mapping::new(ARENA_PER_WORKER * workers.max(1), true)?;
        let job = Arc::new(Job {
            header,
            arena,
            items: len,
            chunk_size,
            chunks,
            workers: Mutex::new(Vec::new()),
        });
        // Each worker reads (moves) its chunks' items out of its own copy of
        // this vector and never drops it (it leaves with `_exit`); the parent
        // never reads them and drops its copy normally.
        let shared_items: &[T] = &items;
        let mut spawn_error = None;
        for index in 0..workers {
            let worker_job = Arc::clone(&job);
            let spawned = fork::spawn(move || {
                run_worker(&worker_job, index, shared_items, f);
                0
            });
            match spawned {
                Ok(pid) => job
                    .workers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Worker {
                        waiter: ChildWaiter::new(pid),
                        exit: None,
                    }),
                Err(error) => {
                    spawn_error = Some(error);
                    break;
                }
            }
        }
        drop(items);
        if let Some(error) = spawn_error {
            job.kill();
            return Err(error);
        }
        Ok(job)
    }
}

fn default_chunk_size(len: usize, processes: usize) -> usize {
    len.div_ceil(processes.max(1) * 4).max(1)
}

fn describe_exit(code: i32) -> String {
    if code < 0 {
        format!("killed by signal {}", -code)
    } else {
        format!("exited with code {code}")
    }
}

/// A worker's loop, in the child process: claims chunks and encodes their
/// results straight into its own region of the arena.
fn run_worker<T, R, F>(job: &Job, index: usize, items: &[T], f: &F)
where
    F: Fn(T) -> R,
    R: Serialize,
{
    let header = job.header.get();
    let base = index * ARENA_PER_WORKER;
    // SAFETY: this worker alone writes this region of the arena; the parent
    // reads a chunk's bytes only after `publish` releases them.
    let region =
        unsafe { std::slice::from_raw_parts_mut(job.arena.ptr().add(base), ARENA_PER_WORKER) };
    let mut used = 0usize;
    loop {
        if header.failed.load(Ordering::Acquire) {
            return;
        }
        let chunk = header.next_chunk.fetch_add(1, Ordering::AcqRel);
        if chunk >= job.chunks {
            return;
        }
        let range = job.chunk_range(chunk);
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| -> Result<Option<usize>> {
            let mut encoder = codec::SliceEncoder::new(&mut region[used..]);
            for at in range {
                // SAFETY: each chunk is claimed by exactly one worker, so each
                // item of this process's copy of the vector is read once; the
                // vector itself is never dropped here (the worker `_exit`s).
                let item = unsafe { std::ptr::read(&items[at]) };
                if !encoder.push(&f(item))? {
                    return Ok(None);
                }
            }
            Ok(Some(used + encoder.written()))
        }));
        let failure = match outcome {
            Ok(Ok(Some(end))) => {
                publish(job, chunk, DONE, base + used, end - used);
                used = end;
                continue;
            }
            Ok(Ok(None)) => "the results of one worker exceed 4 GiB".to_owned(),
            Ok(Err(error)) => error.to_string(),
            Err(panic) => panic_text(&panic),
        };
        // The chunk's partial results are overwritten by why it failed.
        let message = failure.as_bytes();
        let len = message.len().min(ARENA_PER_WORKER - used);
        region[used..used + len].copy_from_slice(&message[..len]);
        publish(job, chunk, PANICKED, base + used, len);
        return;
    }
}

fn publish(job: &Job, chunk: usize, state: u32, offset: usize, len: usize) {
    let header = job.header.get();
    let slot = job.slot(chunk);
    slot.offset.store(offset as u64, Ordering::Relaxed);
    slot.len.store(len as u64, Ordering::Relaxed);
    slot.state.store(state, Ordering::Release);
    if state == PANICKED {
        header.failed.store(true, Ordering::Release);
    }
    let nth = header.finished.fetch_add(1, Ordering::AcqRel);
    job.slots()[job.chunks + nth]
        .offset
        .store(chunk as u64 + 1, Ordering::Release);
    if let Ok(mut progress) = header.progress.lock(&Deadline::uninterruptible()) {
        *progress += 1;
    }
    header.progress.notify_all();
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_owned())
}

/// Runs a job to completion and decodes every chunk in order.
fn collect<R: DeserializeOwned>(job: &Job, deadline: &Deadline) -> Result<Vec<R>> {
    let outcome = (|| {
        // Decoding chunk by chunk as they finish overlaps it with the workers.
        let mut results = Vec::with_capacity(job.items);
        for chunk in 0..job.chunks {
            job.wait_for(deadline, |job| job.chunk_done(chunk))?;
            job.decode_into(chunk, &mut results)?;
        }
        job.finish(deadline)?;
        Ok(results)
    })();
    if outcome.is_err() {
        job.kill();
    }
    outcome
}

struct PoolState {
    running: bool,
    outstanding: Vec<Arc<Job>>,
}

/// A pool of worker processes, like Python's `multiprocessing.Pool`.
///
/// ```no_run
/// use ferrokernel_prelude::multiprocessing::Pool;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let pool = Pool::with_processes(2)?;
/// let squares: Vec<u64> = pool.map(|n: u64| n * n, 1..=5)?;
/// assert_eq!(squares, [1, 4, 9, 16, 25]);
/// # Ok(())
/// # }
/// ```
///
/// See the module notes: workers are forked per call, so `f` may be any
/// function or capturing closure, defined anywhere — including notebook cells
/// run after the pool was made.
pub struct Pool {
    processes: usize,
    state: Mutex<PoolState>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("processes", &self.processes)
            .finish()
    }
}

impl Pool {
    /// A pool with one worker per CPU.
    pub fn new() -> Result<Pool> {
        Pool::with_processes(super::cpu_count())
    }

    /// A pool with `processes` workers.
    pub fn with_processes(processes: usize) -> Result<Pool> {
        Ok(Pool {
            processes: processes.max(1),
            state: Mutex::new(PoolState {
                running: true,
                outstanding: Vec::new(),
            }),
        })
    }

    /// How many workers a call uses.
    pub fn processes(&self) -> usize {
        self.processes
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_running(&self) -> Result<()> {
        if self.state().running {
            Ok(())
        } else {
            Err(Error::PoolNotRunning)
        }
    }

    fn track(&self, job: &Arc<Job>) {
        let mut state = self.state();
        state.outstanding.retain(|job| Arc::strong_count(job) > 1);
        state.outstanding.push(Arc::clone(job));
    }

    /// `f` applied to every item, in order (waits, interruptibly).
    pub fn map<T, R, F>(&self, f: F, items: impl IntoIterator<Item = T>) -> Result<Vec<R>>
    where
        F: Fn(T) -> R,
        R: Serialize + DeserializeOwned,
    {
        self.map_chunked(f, items, None)
    }

    /// Like [`map`](Pool::map) with `chunk_size` items per task.
    pub fn map_chunked<T, R, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = T>,
        chunk_size: Option<usize>,
    ) -> Result<Vec<R>>
    where
        F: Fn(T) -> R,
        R: Serialize + DeserializeOwned,
    {
        self.check_running()?;
        let job = Job::start(items.into_iter().collect(), &f, self.processes, chunk_size)?;
        collect(&job, &Deadline::forever())
    }

    /// Starts a `map` and returns at once; [`AsyncResult::get`] collects it.
    pub fn map_async<T, R, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = T>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        F: Fn(T) -> R,
        R: Serialize + DeserializeOwned,
    {
        self.check_running()?;
        let job = Job::start(items.into_iter().collect(), &f, self.processes, None)?;
        self.track(&job);
        Ok(AsyncResult::new(job, |job, deadline| {
            collect(job, deadline)
        }))
    }

    /// `f()` in a worker (waits, interruptibly).
    pub fn apply<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R,
        R: Serialize + DeserializeOwned,
    {
        self.apply_async(f)?.get()
    }

    /// Starts `f()` in a worker and returns at once.
    pub fn apply_async<R, F>(&self, f: F) -> Result<AsyncResult<R>>
    where
        F: FnOnce() -> R,
        R: Serialize + DeserializeOwned,
    {
        self.check_running()?;
        let once = Mutex::new(Some(f));
        let call = |(): ()| {
            let f = once.lock().unwrap_or_else(PoisonError::into_inner).take();
            f.map(|f| f())
        };
        let job = Job::start(vec![()], &call, 1, Some(1))?;
        self.track(&job);
        Ok(AsyncResult::new(job, |job, deadline| {
            let mut results: Vec<Option<R>> = collect(job, deadline)?;
            results.pop().flatten().ok_or_else(|| Error::WorkerDied {
                reason: "the task produced no result".to_owned(),
            })
        }))
    }

    /// Results in input order, as each becomes available.
    pub fn imap<T, R, F>(&self, f: F, items: impl IntoIterator<Item = T>) -> Result<IMap<R>>
    where
        F: Fn(T) -> R,
        R: Serialize + DeserializeOwned,
    {
        self.check_running()?;
        let job = Job::start(items.into_iter().collect(), &f, self.processes, None)?;
        Ok(IMap::new(job, true))
    }

    /// Results in the order they finish.
    pub fn imap_unordered<T, R, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = T>,
    ) -> Result<IMapUnordered<R>>
    where
        F: Fn(T) -> R,
        R: Serialize + DeserializeOwned,
    {
        self.check_running()?;
        let job = Job::start(items.into_iter().collect(), &f, self.processes, None)?;
        Ok(IMapUnordered(IMap::new(job, false)))
    }

    /// Takes no more work (`Err(PoolNotRunning)` afterwards).
    pub fn close(&self) {
        self.state().running = false;
    }

    /// Waits (interruptibly) for the work started with `*_async` to finish.
    /// Call [`close`](Pool::close) first, as in Python.
    pub fn join(&self) -> Result<()> {
        let jobs: Vec<Arc<Job>> = self.state().outstanding.clone();
        let deadline = Deadline::forever();
        for job in jobs {
            job.wait_for(&deadline, |job| {
                job.header.get().finished.load(Ordering::Acquire) == job.chunks
            })?;
        }
        Ok(())
    }

    /// Kills every worker still running and takes no more work.
    pub fn terminate(&self) {
        let mut state = self.state();
        state.running = false;
        for job in state.outstanding.drain(..) {
            job.kill();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.terminate();
    }
}

type Collector<R> = fn(&Job, &Deadline) -> Result<R>;

/// The result of a `*_async` call, like Python's `AsyncResult`.
pub struct AsyncResult<R> {
    job: Arc<Job>,
    collect: Collector<R>,
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
    fn new(job: Arc<Job>, collect: Collector<R>) -> AsyncResult<R> {
        AsyncResult {
            job,
            collect,
            taken: false,
        }
    }

    /// Whether the work has finished (successfully or not).
    pub fn ready(&self) -> bool {
        let header = self.job.header.get();
        header.finished.load(Ordering::Acquire) == self.job.chunks
            || header.failed.load(Ordering::Acquire)
            || self.job.check_workers().is_err()
    }

    /// Waits (interruptibly) until the work has finished.
    pub fn wait(&self) -> Result<()> {
        self.wait_deadline(&Deadline::forever())
    }

    /// Waits at most `timeout`; returns whether the work has finished.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        match self.wait_deadline(&Deadline::after(Some(timeout))) {
            Ok(()) => Ok(true),
            Err(Error::Timeout) => Ok(false),
            Err(other) => Err(other),
        }
    }

    fn wait_deadline(&self, deadline: &Deadline) -> Result<()> {
        match self.job.wait_for(deadline, |job| {
            job.header.get().finished.load(Ordering::Acquire) == job.chunks
        }) {
            Ok(()) | Err(Error::TaskPanicked { .. } | Error::WorkerDied { .. }) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// The result, waiting (interruptibly) for it.
    pub fn get(mut self) -> Result<R> {
        self.taken = true;
        (self.collect)(&self.job, &Deadline::forever())
    }

    /// The result, waiting at most `timeout` (`Err(Timeout)`; the work goes on).
    pub fn get_timeout(self, timeout: Duration) -> Result<R> {
        if !self.wait_timeout(timeout)? {
            return Err(Error::Timeout);
        }
        self.get()
    }
}

impl<R> Drop for AsyncResult<R> {
    fn drop(&mut self) {
        if !self.taken && self.ready() {
            let _ = self.job.finish(&Deadline::uninterruptible());
        }
    }
}

struct Cursor {
    job: Arc<Job>,
    /// Chunks handed out so far.
    next: usize,
    failed: bool,
}

impl Cursor {
    fn new(job: Arc<Job>) -> Cursor {
        Cursor {
            job,
            next: 0,
            failed: false,
        }
    }
}

/// Results of [`Pool::imap`], in input order, each as soon as its chunk is done.
pub struct IMap<R> {
    cursor: Cursor,
    ordered: bool,
    buffered: VecDeque<R>,
}

/// Results of [`Pool::imap_unordered`], chunk by chunk in the order they finish.
pub struct IMapUnordered<R>(IMap<R>);

impl<R> std::fmt::Debug for IMap<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IMap")
            .field("ordered", &self.ordered)
            .finish()
    }
}

impl<R> std::fmt::Debug for IMapUnordered<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IMapUnordered")
    }
}

impl<R: DeserializeOwned> IMap<R> {
    fn new(job: Arc<Job>, ordered: bool) -> IMap<R> {
        IMap {
            cursor: Cursor::new(job),
            ordered,
            buffered: VecDeque::new(),
        }
    }

    fn next_chunk(&mut self) -> Option<Result<Vec<R>>> {
        let cursor = &mut self.cursor;
        if cursor.failed {
            return None;
        }
        if cursor.next >= cursor.job.chunks {
            if cursor.next == cursor.job.chunks {
                cursor.next += 1;
                if let Err(error) = cursor.job.finish(&Deadline::forever()) {
                    return Some(Err(error));
                }
            }
            return None;
        }
        let nth = cursor.next;
        let ordered = self.ordered;
        let ready = |job: &Job| {
            if ordered {
                job.chunk_done(nth)
            } else {
                job.finished_nth(nth)
                    .is_some_and(|chunk| job.chunk_done(chunk))
            }
        };
        if let Err(error) = cursor.job.wait_for(&Deadline::forever(), ready) {
            cursor.failed = true;
            cursor.job.kill();
            return Some(Err(error));
        }
        let chunk = if ordered {
            nth
        } else {
            cursor.job.finished_nth(nth).unwrap_or(nth)
        };
        cursor.next += 1;
        Some(cursor.job.decode(chunk))
    }
}

impl<R: DeserializeOwned> Iterator for IMap<R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        loop {
            if let Some(item) = self.buffered.pop_front() {
                return Some(Ok(item));
            }
            match self.next_chunk()? {
                Ok(items) => self.buffered.extend(items),
                Err(error) => {
                    self.cursor.failed = true;
                    return Some(Err(error));
                }
            }
        }
    }
}

impl<R: DeserializeOwned> Iterator for IMapUnordered<R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        self.0.next()
    }
}

impl<R> Drop for IMap<R> {
    fn drop(&mut self) {
        if self.cursor.next <= self.cursor.job.chunks {
            // Abandoned early: the workers have nothing left to do for anyone.
            self.cursor.job.kill();
        }
    }
}

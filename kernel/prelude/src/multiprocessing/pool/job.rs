//! One pool call's shared state and its forked workers (see the pool's
//! module notes for the design).

use crate::codec;
use crate::error::{Error, Result};
use crate::sys::books::ChildKind;
use crate::sys::child::{self, ChildWaiter};
use crate::sys::deadline::Deadline;
use crate::sys::fork::{self, NewChild};
use crate::sys::globals::books;
use crate::sys::globals::globals;
use crate::sys::shm::{Mapping, Shared};
use crate::sys::sync::Monitor;
use crate::sys::timeline::Group;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Virtual room for one worker's results; pages cost memory only once written.
const ARENA_PER_WORKER: usize = 4 << 30;

// A chunk's state: unclaimed (0), claimed by a worker, done, failed, or
// cancelled by the parent before any worker claimed it (executor calls).
const CLAIMED: u32 = 1;
const DONE: u32 = 2;
const PANICKED: u32 = 3;
const CANCELLED: u32 = 4;

/// What every worker of a pool runs first (Python's `initializer`).
pub(crate) type Initializer = Arc<dyn Fn() + Send + Sync>;

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
pub(crate) struct Job {
    header: Shared<Header>,
    arena: Arc<Mapping>,
    items: usize,
    chunk_size: usize,
    chunks: usize,
    /// How many workers `spawn` forks.
    planned: usize,
    workers: Mutex<Vec<Worker>>,
    /// Set by `kill` (the pool was terminated, or the caller gave up).
    killed: AtomicBool,
}

struct Worker {
    name: String,
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

    fn workers(&self) -> MutexGuard<'_, Vec<Worker>> {
        self.workers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many chunks the items were cut into.
    pub(crate) fn chunks(&self) -> usize {
        self.chunks
    }

    /// How many items the job has.
    pub(crate) fn items(&self) -> usize {
        self.items
    }

    /// How many items chunk `chunk` has.
    pub(crate) fn chunk_len(&self, chunk: usize) -> usize {
        self.chunk_range(chunk).len()
    }

    /// The chunk that finished `nth`, once it has.
    pub(crate) fn finished_nth(&self, nth: usize) -> Option<usize> {
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

    /// Whether every chunk is done.
    pub(crate) fn all_done(&self) -> bool {
        self.header.get().finished.load(Ordering::Acquire) == self.chunks
    }

    /// Whether every chunk has been claimed by a worker (the next call's
    /// workers may start).
    pub(crate) fn all_claimed(&self) -> bool {
        self.header.get().next_chunk.load(Ordering::Acquire) >= self.chunks
    }

    /// Whether the job is over: done, failed, killed, or its workers died.
    pub(crate) fn ready(&self) -> bool {
        self.all_done()
            || self.header.get().failed.load(Ordering::Acquire)
            || self.killed.load(Ordering::Acquire)
            || self.check_workers().is_err()
    }

    /// The error that ended the job, if one did (`None` while it runs or after success).
    pub(crate) fn failure(&self) -> Option<Error> {
        if self.killed.load(Ordering::Acquire) {
            return Some(Error::PoolNotRunning);
        }
        if let Some(message) = self.first_panic() {
            return Some(Error::TaskPanicked { message });
        }
        self.check_workers().err()
    }

    /// Reaps workers that ended; a worker that died abnormally while chunks
    /// were unfinished is an error. `Ok(true)` once every worker has left.
    fn check_workers(&self) -> Result<bool> {
        let mut workers = self.workers();
        for worker in workers.iter_mut().filter(|w| w.exit.is_none()) {
            worker.exit = child::poll_exit(worker.waiter.pid())?;
        }
        if !self.all_done() && !self.header.get().failed.load(Ordering::Acquire) {
            if let Some(worker) = workers.iter().find(|w| w.exit.is_some_and(|c| c != 0)) {
                let code = worker.exit.unwrap_or_default();
                return Err(Error::WorkerDied {
                    reason: format!("{} {}", worker.name, child::describe(code)),
                });
            }
            // (Before `spawn` has forked them all, some are still to come.)
            if workers.len() == self.planned && workers.iter().all(|w| w.exit.is_some()) {
                return Err(Error::WorkerDied {
                    reason: "every worker left with chunks unfinished".to_owned(),
                });
            }
        }
        Ok(workers.iter().all(|w| w.exit.is_some()))
    }

    /// The longest a waiter sleeps between looks for failures: a finished chunk or a
    /// `kill` wakes it, but a worker that dies (SIGKILL, out of memory) wakes
    /// nobody, so the waiter looks every 10 ms and reports it that soon.
    const FAILURE_POLL: Duration = Duration::from_millis(10);

    /// Waits until `ready()` holds, watching for panics, dead workers,
    /// `kill` and interrupts.
    pub(crate) fn wait_for(&self, deadline: &Deadline, ready: impl Fn(&Job) -> bool) -> Result<()> {
        loop {
            if ready(self) {
                return Ok(());
            }
            if let Some(error) = self.failure() {
                return Err(error);
            }
            let slice = deadline.slice()?.min(Self::FAILURE_POLL);
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

    /// Whether chunk `chunk` is done.
    pub(crate) fn chunk_done(&self, chunk: usize) -> bool {
        self.slot(chunk).state.load(Ordering::Acquire) == DONE
    }

    /// Whether a worker has started chunk `chunk` (claimed it, or finished it).
    pub(crate) fn chunk_started(&self, chunk: usize) -> bool {
        !matches!(
            self.slot(chunk).state.load(Ordering::Acquire),
            0 | CANCELLED
        )
    }

    /// Whether chunk `chunk` was taken back by [`Job::cancel_chunk`].
    pub(crate) fn chunk_cancelled(&self, chunk: usize) -> bool {
        self.slot(chunk).state.load(Ordering::Acquire) == CANCELLED
    }

    /// Takes chunk `chunk` away from the workers if none has claimed it yet
    /// (they skip it, and it counts as finished); `false` once one has.
    pub(crate) fn cancel_chunk(&self, chunk: usize) -> bool {
        let slot = self.slot(chunk);
        if slot
            .state
            .compare_exchange(0, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return slot.state.load(Ordering::Acquire) == CANCELLED;
        }
        count_finished(self, chunk);
        true
    }

    /// The encoded bytes chunk `chunk`'s worker wrote, once it is done.
    pub(crate) fn chunk_bytes(&self, chunk: usize) -> Option<&[u8]> {
        self.chunk_done(chunk).then(|| self.bytes(chunk))
    }

    /// Whether the job still occupies a worker: chunks left, and a worker
    /// not known to have left. Reads only what is at hand (no reaping), so
    /// it is cheap enough for every `submit`.
    pub(crate) fn busy(&self) -> bool {
        !self.all_done()
            && !self.header.get().failed.load(Ordering::Acquire)
            && !self.killed.load(Ordering::Acquire)
            && self.workers().iter().any(|w| w.exit.is_none())
    }

    /// The indices of the items in `chunk`.
    fn chunk_range(&self, chunk: usize) -> std::ops::Range<usize> {
        chunk * self.chunk_size..((chunk + 1) * self.chunk_size).min(self.items)
    }

    /// Decodes chunk `chunk`'s results onto the end of `out`.
    pub(crate) fn decode_into<R: DeserializeOwned>(
        &self,
        chunk: usize,
        out: &mut impl Extend<R>,
    ) -> Result<()> {
        let mut decoded = Vec::with_capacity(self.chunk_range(chunk).len());
        codec::decode_many_into(
            self.bytes(chunk),
            self.chunk_range(chunk).len(),
            &mut decoded,
        )?;
        out.extend(decoded);
        Ok(())
    }

    /// Decodes chunk `chunk`'s results straight into `out` (no copy).
    fn decode_vec<R: DeserializeOwned>(&self, chunk: usize, out: &mut Vec<R>) -> Result<()> {
        codec::decode_many_into(self.bytes(chunk), self.chunk_range(chunk).len(), out)
    }

    /// Kills the workers and reaps them; later waits end with `Err(PoolNotRunning)`.
    pub(crate) fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        let mut workers = self.workers();
        for worker in workers.iter_mut().filter(|w| w.exit.is_none()) {
            child::signal(worker.waiter.pid(), nix::sys::signal::Signal::SIGKILL);
            worker.exit = worker
                .waiter
                .wait(&Deadline::uninterruptible())
                .ok()
                .flatten();
        }
        for worker in workers.iter() {
            child::forget(worker.waiter.pid());
        }
        drop(workers);
        self.header.get().progress.notify_all();
    }

    /// Whether every worker has left (reaping those that did), without waiting.
    pub(crate) fn reaped(&self) -> bool {
        let mut workers = self.workers();
        for worker in workers.iter_mut().filter(|w| w.exit.is_none()) {
            worker.exit = child::poll_exit(worker.waiter.pid()).ok().flatten();
        }
        workers.iter().all(|w| w.exit.is_some())
    }

    /// The pidfds of the workers still running (readable once they exit).
    pub(crate) fn worker_fds(&self) -> Vec<i32> {
        use std::os::fd::AsRawFd;
        self.workers()
            .iter()
            .filter(|w| w.exit.is_none())
            .filter_map(|w| w.waiter.pidfd().map(|fd| fd.as_raw_fd()))
            .collect()
    }

    /// Waits (interruptibly) until the job is over and its workers have
    /// left, whatever the outcome; the outcome is the caller's to collect.
    pub(crate) fn wait_exited(&self, deadline: &Deadline) -> Result<()> {
        match self.wait_for(deadline, Job::all_done) {
            Ok(()) | Err(Error::TaskPanicked { .. } | Error::WorkerDied { .. }) => {}
            Err(Error::PoolNotRunning) => return Ok(()),
            Err(other) => return Err(other),
        }
        loop {
            if self.reaped() {
                return Ok(());
            }
            let slice = deadline.slice()?;
            let workers = self.workers();
            let waiting: Vec<&ChildWaiter> = workers
                .iter()
                .filter(|w| w.exit.is_none())
                .map(|w| &w.waiter)
                .collect();
            child::wait_any(&waiting, slice);
        }
    }

    /// Waits for the workers to leave after a successful job.
    pub(crate) fn finish(&self, deadline: &Deadline) -> Result<()> {
        loop {
            if self.check_workers()? {
                for worker in self.workers().iter() {
                    child::forget(worker.waiter.pid());
                }
                return Ok(());
            }
            let slice = deadline.slice()?;
            let workers = self.workers();
            let waiting: Vec<&ChildWaiter> = workers
                .iter()
                .filter(|w| w.exit.is_none())
                .map(|w| &w.waiter)
                .collect();
            child::wait_any(&waiting, slice);
        }
    }

    /// Runs `f` over `items` in up to `processes` forked workers, each of
    /// which runs `initializer` first; the timeline shows them in `group`.
    pub(crate) fn start<T, R, F>(
        items: Vec<T>,
        f: &F,
        processes: usize,
        chunk_size: Option<usize>,
        initializer: Option<&Initializer>,
        group: &Group,
    ) -> Result<Arc<Job>>
    where
        F: Fn(T) -> R,
        R: Serialize,
    {
        let job = Job::prepare(items.len(), processes, chunk_size)?;
        job.spawn(items, f, initializer, group)?;
        Ok(job)
    }

    /// A job for `len` items, its workers not forked yet (see [`Job::spawn`]):
    /// whoever needs to know the job before any worker runs (the executor,
    /// to let a queued call be cancelled) can take it now.
    pub(crate) fn prepare(
        len: usize,
        processes: usize,
        chunk_size: Option<usize>,
    ) -> Result<Arc<Job>> {
        fork::may_have_children()?;
        let chunk_size = chunk_size
            .unwrap_or_else(|| default_chunk_size(len, processes))
            .max(1);
        let chunks = len.div_ceil(chunk_size);
        let slots = std::mem::size_of::<Slot>() * chunks.max(1) * 2;
        // SAFETY: fresh zeroed memory for the header and its slots (zeros are valid).
        let header = unsafe {
            Shared::try_new_with(slots, |at: *mut Header| {
                Monitor::init(std::ptr::addr_of_mut!((*at).progress), 0u64)
            })?
        };
        let planned = processes.min(chunks).max(usize::from(chunks > 0));
        let arena = Mapping::new(ARENA_PER_WORKER * planned.max(1), true)?;
        Ok(Arc::new(Job {
            header,
            arena,
            items: len,
            chunk_size,
            chunks,
            planned,
            workers: Mutex::new(Vec::new()),
            killed: AtomicBool::new(false),
        }))
    }

    /// Forks the workers of a [prepared](Job::prepare) job over `items` (as
    /// many as it was prepared for); a failed fork kills those already forked.
    pub(crate) fn spawn<T, R, F>(
        self: &Arc<Job>,
        items: Vec<T>,
        f: &F,
        initializer: Option<&Initializer>,
        group: &Group,
    ) -> Result<()>
    where
        F: Fn(T) -> R,
        R: Serialize,
    {
        // Each worker reads (moves) its chunks' items out of its own copy of
        // this vector and never drops it (it leaves with `_exit`); the parent
        // never reads them and drops its copy normally.
        let shared_items: &[T] = &items;
        let group = if self.planned > 0 { group.id() } else { None };
        let mut spawn_error = None;
        for index in 0..self.planned {
            let worker_job = Arc::clone(self);
            let n = globals().pool_workers.fetch_add(1, Ordering::Relaxed) + 1;
            let new = NewChild {
                name: format!("ForkPoolWorker-{n}"),
                daemon: true,
                kind: ChildKind::PoolWorker,
                group,
            };
            let name = new.name.clone();
            let spawned = fork::spawn_child(new, move || {
                if let Some(initializer) = initializer {
                    initializer();
                }
                run_worker(&worker_job, index, shared_items, f);
                0
            });
            match spawned {
                Ok(pid) => self.workers().push(Worker {
                    name,
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
            self.kill();
            return Err(error);
        }
        Ok(())
    }
}

/// A job's workers that still run when the last handle goes are left to
/// whoever reaps children next, and their statuses are not kept.
impl Drop for Job {
    fn drop(&mut self) {
        let workers = self
            .workers
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let mut books = books();
        for worker in workers.iter() {
            books.reaped.remove(&worker.waiter.pid());
            if worker.exit.is_none()
                && let Some(record) = books
                    .children
                    .iter_mut()
                    .find(|c| c.pid == worker.waiter.pid())
            {
                record.orphan = true;
            }
        }
    }
}

fn default_chunk_size(len: usize, processes: usize) -> usize {
    len.div_ceil(processes.max(1) * 4).max(1)
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
        // A chunk the parent cancelled meanwhile is skipped (it already
        // counts as finished); its item is never read here.
        let claimed =
            job.slot(chunk)
                .state
                .compare_exchange(0, CLAIMED, Ordering::AcqRel, Ordering::Acquire);
        if claimed.is_err() {
            continue;
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
    count_finished(job, chunk);
}

/// Counts chunk `chunk` as finished (in the completion order too) and wakes
/// whoever waits for progress.
fn count_finished(job: &Job, chunk: usize) {
    let header = job.header.get();
    let nth = header.finished.fetch_add(1, Ordering::AcqRel);
    job.slots()[job.chunks + nth]
        .offset
        .store(chunk as u64 + 1, Ordering::Release);
    if let Ok(mut progress) = header.progress.lock(&Deadline::uninterruptible()) {
        *progress += 1;
    }
    header.progress.notify_all();
}

/// The text of a panic payload.
pub(crate) fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_owned())
}

/// Runs a job to completion and decodes every chunk in order.
pub(crate) fn collect<R: DeserializeOwned>(job: &Job, deadline: &Deadline) -> Result<Vec<R>> {
    let outcome = (|| {
        // Decoding chunk by chunk as they finish overlaps it with the workers.
        let mut results = Vec::with_capacity(job.items);
        for chunk in 0..job.chunks {
            job.wait_for(deadline, |job| job.chunk_done(chunk))?;
            job.decode_vec(chunk, &mut results)?;
        }
        job.finish(deadline)?;
        Ok(results)
    })();
    if outcome.is_err() {
        job.kill();
    }
    outcome
}

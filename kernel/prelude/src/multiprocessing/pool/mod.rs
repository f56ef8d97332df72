//! [`Pool`]: a closure mapped over items by worker processes.
//!
//! Design: workers are forked *for each call*, not once when the pool is made.
//! A notebook cell is a shared object loaded into the process after any earlier
//! fork, and a closure cannot be sent to another process — but a forked worker
//! inherits the closure, the items and every cell loaded so far. So a pool made
//! in one cell maps functions defined in later cells (Python's fork pools fail
//! there), closures may capture anything, and items need not be serializable.
//!
//! The items are cut into chunks (four per worker, like Python's `map`; one
//! item each for `imap`); workers claim chunks from an atomic counter in
//! shared memory, run the closure, and write each chunk's encoded results
//! into their own region of a large lazily-mapped arena. The parent reads
//! chunks in input order (or as they finish, for `imap_unordered`). A panic
//! stops the job with `Err(TaskPanicked)` carrying its message; a worker that
//! dies is `Err(WorkerDied)`, naming how (`killed by SIGSEGV`); an interrupt
//! kills the workers. The pool stays usable after any of these, since
//! nothing outlives the call. `imap` pulls its input in waves (see `imap`).
//!
//! Bookkeeping: the pool keeps every call's job until its workers have left,
//! so `terminate` kills and `join` waits for all of them — `imap` waves and
//! results nobody holds any more included — and workers are listed by
//! `active_children` (as `ForkPoolWorker-N`), which reaps them like any child.

use crate::error::{Error, Result};
use crate::sys::deadline::Deadline;
use crate::sys::timeline::Group;
use job::{Initializer, Job, collect};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

mod async_result;
mod imap;
pub(crate) mod job;
mod watch;

pub use async_result::AsyncResult;
pub use imap::{IMap, IMapUnordered};

struct PoolState {
    running: bool,
    terminated: bool,
    /// Every call's job until its workers have left.
    outstanding: Vec<Arc<Job>>,
}

/// What a pool's calls (and its `imap` iterators) share.
struct PoolShared {
    processes: usize,
    initializer: Option<Initializer>,
    state: Mutex<PoolState>,
}

impl PoolShared {
    fn state(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_running(&self) -> Result<()> {
        if self.state().running {
            Ok(())
        } else {
            Err(Error::PoolNotRunning)
        }
    }

    fn terminated(&self) -> bool {
        self.state().terminated
    }

    /// Keeps `job` until its workers leave; forgets jobs whose workers left.
    fn track(&self, job: &Arc<Job>) {
        let mut state = self.state();
        state.outstanding.retain(|job| !job.reaped());
        state.outstanding.push(Arc::clone(job));
    }

    /// Starts a call (`call`: its name, as the timeline shows it).
    fn start<T, R, F>(
        &self,
        call: &str,
        items: Vec<T>,
        f: &F,
        chunk_size: Option<usize>,
    ) -> Result<Arc<Job>>
    where
        F: Fn(T) -> R,
        R: Serialize,
    {
        self.check_running()?;
        // Released at once: it stays while its workers run.
        let group = Group::new(self.label(call, Some(items.len())));
        let job = Job::start(
            items,
            f,
            self.processes,
            chunk_size,
            self.initializer.as_ref(),
            &group,
        )?;
        self.track(&job);
        Ok(job)
    }

    /// `Pool(4).map, 100 items`: a call's group in the timeline.
    fn label(&self, call: &str, items: Option<usize>) -> String {
        let mut label = format!("Pool({}).{call}", self.processes);
        match items {
            Some(1) => label.push_str(", 1 item"),
            Some(n) => label.push_str(&format!(", {n} items")),
            None => {}
        }
        label
    }
}

/// A pool of worker processes, like Python's `multiprocessing.Pool`.
///
/// ```
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
/// run after the pool was made. Dropping the pool terminates it, as leaving
/// Python's `with Pool() as pool:` block does.
pub struct Pool {
    shared: PoolShared,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("processes", &self.shared.processes)
            .finish()
    }
}

/// Makes a [`Pool`] step by step, like Python's `Pool(processes, initializer)`.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::Pool;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let pool = Pool::builder()
///     .processes(2)
///     .initializer(|| println!("worker {} ready", ferrokernel_prelude::os::getpid()))
///     .build()?;
/// assert_eq!(pool.processes(), 2);
/// # Ok(())
/// # }
/// ```
#[derive(Default)]
pub struct PoolBuilder {
    processes: Option<usize>,
    initializer: Option<Initializer>,
}

impl std::fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field("initializer", &self.initializer.is_some())
            .finish()
    }
}

impl PoolBuilder {
    /// How many workers a call uses (default: one per CPU).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Pool::builder().processes(3).build()?.processes(), 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn processes(mut self, processes: usize) -> PoolBuilder {
        self.processes = Some(processes);
        self
    }

    /// Runs `initializer` once in each worker process before its tasks.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Pool, Value};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let started = Value::<u32>::new(0)?;
    /// let counter = started.clone();
    /// let pool = Pool::builder()
    ///     .processes(2)
    ///     .initializer(move || *counter.get_lock().expect("lock") += 1)
    ///     .build()?;
    /// pool.map(|n: u32| n, 0..100)?;
    /// assert_eq!(started.get()?, 2); // once per worker
    /// # Ok(())
    /// # }
    /// ```
    pub fn initializer(mut self, initializer: impl Fn() + Send + Sync + 'static) -> PoolBuilder {
        self.initializer = Some(Arc::new(initializer));
        self
    }

    /// The pool.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::builder().build()?;
    /// assert_eq!(pool.processes(), ferrokernel_prelude::multiprocessing::cpu_count());
    /// # Ok(())
    /// # }
    /// ```
    pub fn build(self) -> Result<Pool> {
        Ok(Pool {
            shared: PoolShared {
                processes: self.processes.unwrap_or_else(super::cpu_count).max(1),
                initializer: self.initializer,
                state: Mutex::new(PoolState {
                    running: true,
                    terminated: false,
                    outstanding: Vec::new(),
                }),
            },
        })
    }
}

impl Pool {
    /// A pool with one worker per CPU.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Pool, cpu_count};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Pool::new()?.processes(), cpu_count());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new() -> Result<Pool> {
        Pool::builder().build()
    }

    /// A pool with `processes` workers.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Pool::with_processes(4)?.processes(), 4);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_processes(processes: usize) -> Result<Pool> {
        Pool::builder().processes(processes).build()
    }

    /// A builder for a pool with an initializer.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::builder().processes(1).build()?;
    /// assert_eq!(pool.apply(|| 2 + 2)?, 4);
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// How many workers a call uses.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Pool::with_processes(2)?.processes(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn processes(&self) -> usize {
        self.shared.processes
    }

    /// `f` applied to every item, in order (waits, interruptibly).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(2)?;
    /// let offset = 10;
    /// assert_eq!(pool.map(|n: i32| n + offset, [1, 2, 3])?, [11, 12, 13]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn map<T, R, F>(&self, f: F, items: impl IntoIterator<Item = T>) -> Result<Vec<R>>
    where
        F: Fn(T) -> R,
        R: Serialize + DeserializeOwned,
    {
        self.map_chunked(f, items, None)
    }

    /// Like [`map`](Pool::map) with `chunk_size` items per task (`None`:
    /// Python's default, four chunks per worker).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(2)?;
    /// let doubled = pool.map_chunked(|n: u32| n * 2, 0..10, Some(3))?;
    /// assert_eq!(doubled, (0..10).map(|n| n * 2).collect::<Vec<_>>());
    /// # Ok(())
    /// # }
    /// ```
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
        let job = self
            .shared
            .start("map", items.into_iter().collect(), &f, chunk_size)?;
        collect(&job, &Deadline::forever())
    }

    /// Like [`map`](Pool::map), drawing one progress bar while it waits —
    /// in a notebook a display updated in place, at most ten times a second,
    /// ending at 100 % or where a task failed (tqdm over a pool, for the
    /// blocking call; `progress(pool.imap(f, xs)?)` does it for `imap`). It
    /// counts items as their chunks finish.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(2)?;
    /// assert_eq!(pool.map_progress(|n: u64| n * n, 0..4)?, [0, 1, 4, 9]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn map_progress<T, R, F>(&self, f: F, items: impl IntoIterator<Item = T>) -> Result<Vec<R>>
    where
        F: Fn(T) -> R,
        R: Serialize + DeserializeOwned,
    {
        let job = self
            .shared
            .start("map", items.into_iter().collect(), &f, None)?;
        if let Err(error) = watch::watch(&job) {
            job.kill();
            return Err(error);
        }
        collect(&job, &Deadline::forever())
    }

    /// Starts a `map` and returns at once; [`AsyncResult::get`] collects it.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(2)?;
    /// let pending = pool.map_async(|n: u8| n + 1, [1, 2, 3])?;
    /// assert_eq!(pending.get()?, [2, 3, 4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn map_async<T, R, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = T>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        F: Fn(T) -> R,
        R: Serialize + DeserializeOwned,
    {
        let job = self
            .shared
            .start("map_async", items.into_iter().collect(), &f, None)?;
        Ok(AsyncResult::new(job, |job, deadline| {
            collect(job, deadline)
        }))
    }

    /// `f()` in a worker (waits, interruptibly).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(1)?;
    /// let captured = String::from("captured");
    /// assert_eq!(pool.apply(move || captured.len())?, 8);
    /// # Ok(())
    /// # }
    /// ```
    pub fn apply<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R,
        R: Serialize + DeserializeOwned,
    {
        self.apply_async(f)?.get()
    }

    /// Starts `f()` in a worker and returns at once.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(1)?;
    /// let pending = pool.apply_async(|| 6 * 7)?;
    /// assert_eq!(pending.get()?, 42);
    /// # Ok(())
    /// # }
    /// ```
    pub fn apply_async<R, F>(&self, f: F) -> Result<AsyncResult<R>>
    where
        F: FnOnce() -> R,
        R: Serialize + DeserializeOwned,
    {
        let once = Mutex::new(Some(f));
        let call = |(): ()| {
            let f = once.lock().unwrap_or_else(PoisonError::into_inner).take();
            f.map(|f| f())
        };
        let job = self.shared.start("apply_async", vec![()], &call, Some(1))?;
        Ok(AsyncResult::new(job, |job, deadline| {
            let mut results: Vec<Option<R>> = collect(job, deadline)?;
            results.pop().flatten().ok_or_else(|| Error::WorkerDied {
                reason: "the task produced no result".to_owned(),
            })
        }))
    }

    /// Results in input order, each as soon as its task is done (one item
    /// per task, Python's default); the input is consumed lazily, so it may
    /// be endless.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(2)?;
    /// for (i, square) in pool.imap(|n: u64| n * n, 0..4)?.enumerate() {
    ///     assert_eq!(square?, (i * i) as u64);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn imap<'a, T, R, F>(
        &'a self,
        f: F,
        items: impl IntoIterator<Item = T> + 'a,
    ) -> Result<IMap<'a, R>>
    where
        T: 'a,
        F: Fn(T) -> R + 'a,
        R: Serialize + DeserializeOwned,
    {
        self.imap_chunked(f, items, 1)
    }

    /// Like [`imap`](Pool::imap) with `chunk_size` items per task (Python's
    /// `chunksize`): results still come one by one, a chunk at a time.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(2)?;
    /// let total: u64 = pool.imap_chunked(|n: u64| n, 0..1000, 100)?.map(|r| r.unwrap_or(0)).sum();
    /// assert_eq!(total, 499_500);
    /// # Ok(())
    /// # }
    /// ```
    pub fn imap_chunked<'a, T, R, F>(
        &'a self,
        f: F,
        items: impl IntoIterator<Item = T> + 'a,
        chunk_size: usize,
    ) -> Result<IMap<'a, R>>
    where
        T: 'a,
        F: Fn(T) -> R + 'a,
        R: Serialize + DeserializeOwned,
    {
        IMap::new(&self.shared, f, items, chunk_size.max(1))
    }

    /// Results in the order they finish, each as soon as its task is done;
    /// the input is consumed lazily.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(2)?;
    /// let mut got: Vec<u8> = pool.imap_unordered(|n: u8| n, [3, 1, 2])?.collect::<Result<_, _>>()?;
    /// got.sort_unstable();
    /// assert_eq!(got, [1, 2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn imap_unordered<'a, T, R, F>(
        &'a self,
        f: F,
        items: impl IntoIterator<Item = T> + 'a,
    ) -> Result<IMapUnordered<'a, R>>
    where
        T: 'a,
        F: Fn(T) -> R + 'a,
        R: Serialize + DeserializeOwned,
    {
        self.imap_unordered_chunked(f, items, 1)
    }

    /// Like [`imap_unordered`](Pool::imap_unordered) with `chunk_size` items per task.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(2)?;
    /// assert_eq!(pool.imap_unordered_chunked(|n: u32| n, 0..500, 50)?.count(), 500);
    /// # Ok(())
    /// # }
    /// ```
    pub fn imap_unordered_chunked<'a, T, R, F>(
        &'a self,
        f: F,
        items: impl IntoIterator<Item = T> + 'a,
        chunk_size: usize,
    ) -> Result<IMapUnordered<'a, R>>
    where
        T: 'a,
        F: Fn(T) -> R + 'a,
        R: Serialize + DeserializeOwned,
    {
        IMapUnordered::new(&self.shared, f, items, chunk_size.max(1))
    }

    /// Takes no more work (`Err(PoolNotRunning)` afterwards); work already
    /// started, `imap` iterators included, goes on.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Error, Pool};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(1)?;
    /// pool.close();
    /// assert!(matches!(pool.apply(|| 1), Err(Error::PoolNotRunning)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(&self) {
        self.shared.state().running = false;
    }

    /// Waits (interruptibly) until the workers of every call started so far
    /// have left. Call [`close`](Pool::close) first, as in Python. Task
    /// errors are not reported here but by each call's result.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Pool, Value};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(2)?;
    /// let done = Value::<u32>::new(0)?;
    /// for _ in 0..3 {
    ///     let done = done.clone();
    ///     // The results are dropped: the work still runs, and `join` waits for it.
    ///     drop(pool.apply_async(move || *done.get_lock().expect("lock") += 1)?);
    /// }
    /// pool.close();
    /// pool.join()?;
    /// assert_eq!(done.get()?, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn join(&self) -> Result<()> {
        let jobs: Vec<Arc<Job>> = self.shared.state().outstanding.clone();
        let deadline = Deadline::forever();
        for job in &jobs {
            job.wait_exited(&deadline)?;
        }
        self.shared.state().outstanding.retain(|job| !job.reaped());
        Ok(())
    }

    /// Kills every worker still running — `imap` waves and results nobody
    /// holds included — and takes no more work.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pool;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let pool = Pool::with_processes(1)?;
    /// let stuck = pool.apply_async(|| std::thread::sleep(std::time::Duration::from_secs(30)))?;
    /// pool.terminate();
    /// assert!(stuck.ready());
    /// # Ok(())
    /// # }
    /// ```
    pub fn terminate(&self) {
        let jobs = {
            let mut state = self.shared.state();
            state.running = false;
            state.terminated = true;
            std::mem::take(&mut state.outstanding)
        };
        for job in jobs {
            job.kill();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.terminate();
    }
}

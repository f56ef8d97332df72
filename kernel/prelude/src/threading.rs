//! Python's `threading`: named threads and the locks between them.
//!
//! Thin layers over `std::thread` and `std::sync`, with Python's names and
//! interruptible waits. Every primitive is `Clone`; clones share it.

use crate::interrupt::Deadline;
use crate::multiprocessing::{Error, Result};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

type Target = Box<dyn FnOnce() + Send + 'static>;

/// A named thread, like Python's `threading.Thread`.
///
/// ```
/// use ferrokernel_prelude::threading::{Thread, current_thread};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let mut t1 = Thread::new("t1", || println!("{} says hi", current_thread().name()));
/// t1.start()?;
/// t1.join()?;
/// # Ok(())
/// # }
/// ```
pub struct Thread {
    name: String,
    target: Option<Target>,
    handle: Option<JoinHandle<()>>,
    done: Arc<(Mutex<bool>, Condvar)>,
}

impl std::fmt::Debug for Thread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thread").field("name", &self.name).finish()
    }
}

/// Waits on `condvar` in slices until `done(state)` or the deadline.
fn wait_until<'a, T>(
    condvar: &Condvar,
    mut guard: MutexGuard<'a, T>,
    deadline: &Deadline,
    mut done: impl FnMut(&mut T) -> bool,
) -> Result<MutexGuard<'a, T>> {
    while !done(&mut guard) {
        let slice = deadline.slice()?;
        guard = condvar
            .wait_timeout(guard, slice)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    Ok(guard)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Thread {
    /// A thread named `name` that will run `target` once started.
    pub fn new(name: impl Into<String>, target: impl FnOnce() + Send + 'static) -> Thread {
        Thread {
            name: name.into(),
            target: Some(Box::new(target)),
            handle: None,
            done: Arc::default(),
        }
    }

    /// The thread's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts the thread (once; again is `Err(AlreadyStarted)`).
    pub fn start(&mut self) -> Result<()> {
        let target = self.target.take().ok_or(Error::AlreadyStarted)?;
        let done = Arc::clone(&self.done);
        let handle = std::thread::Builder::new()
            .name(self.name.clone())
            .spawn(move || {
                struct MarkDone(Arc<(Mutex<bool>, Condvar)>);
                impl Drop for MarkDone {
                    fn drop(&mut self) {
                        *lock(&self.0.0) = true;
                        self.0.1.notify_all();
                    }
                }
                let _mark = MarkDone(done);
                target();
            })?;
        self.handle = Some(handle);
        Ok(())
    }

    /// Waits (interruptibly) for the thread to end; `Err(TaskPanicked)` if it panicked.
    pub fn join(&mut self) -> Result<()> {
        self.join_deadline(Deadline::forever()).map(drop)
    }

    /// Waits at most `timeout`; `Ok(true)` if the thread ended.
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<bool> {
        self.join_deadline(Deadline::after(Some(timeout)))
    }

    fn join_deadline(&mut self, deadline: Deadline) -> Result<bool> {
        if self.target.is_some() {
            return Err(Error::NotStarted);
        }
        let Some(handle) = self.handle.take() else {
            return Ok(true);
        };
        let (flag, condvar) = &*self.done;
        match wait_until(condvar, lock(flag), &deadline, |done| *done) {
            Ok(_) => {}
            Err(Error::Timeout) => {
                self.handle = Some(handle);
                return Ok(false);
            }
            Err(other) => {
                self.handle = Some(handle);
                return Err(other);
            }
        }
        handle.join().map_err(|panic| Error::TaskPanicked {
            message: panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "Box<dyn Any>".to_owned()),
        })?;
        Ok(true)
    }

    /// Whether the thread has started and not ended.
    pub fn is_alive(&self) -> bool {
        self.handle.is_some() && !*lock(&self.done.0)
    }
}

/// The running thread, as `threading.current_thread()` describes it.
#[derive(Debug, Clone)]
pub struct CurrentThread {
    name: String,
    id: ThreadId,
}

impl CurrentThread {
    /// `MainThread` for the process's first thread, else the thread's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The thread's id.
    pub fn ident(&self) -> ThreadId {
        self.id
    }
}

/// The running thread.
pub fn current_thread() -> CurrentThread {
    let thread = std::thread::current();
    // SAFETY: gettid has no preconditions.
    let is_main = unsafe { libc::gettid() } == crate::os::getpid();
    let name = if is_main {
        "MainThread".to_owned()
    } else {
        thread
            .name()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("Thread-{:?}", thread.id()))
    };
    CurrentThread {
        name,
        id: thread.id(),
    }
}

/// A lock between threads, like Python's `threading.Lock` (any thread may release it).
#[derive(Clone, Default)]
pub struct Lock {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .finish()
    }
}

impl Lock {
    /// A released lock.
    pub fn new() -> Lock {
        Lock::default()
    }

    fn take(&self, deadline: Deadline) -> Result<()> {
        let (held, condvar) = &*self.inner;
        let mut held = wait_until(condvar, lock(held), &deadline, |held| !*held)?;
        *held = true;
        Ok(())
    }

    /// Waits (interruptibly) for the lock.
    pub fn acquire(&self) -> Result<()> {
        self.take(Deadline::forever())
    }

    /// Waits at most `timeout`; `Ok(false)` if it stayed taken.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        match self.take(Deadline::after(Some(timeout))) {
            Ok(()) => Ok(true),
            Err(Error::Timeout) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Takes the lock if free.
    pub fn try_acquire(&self) -> bool {
        let mut held = lock(&self.inner.0);
        !std::mem::replace(&mut *held, true)
    }

    /// Releases the lock; `Err(NotOwner)` if it was not held.
    pub fn release(&self) -> Result<()> {
        let mut held = lock(&self.inner.0);
        if !*held {
            return Err(Error::NotOwner);
        }
        *held = false;
        drop(held);
        self.inner.1.notify_one();
        Ok(())
    }

    /// Whether the lock is held.
    pub fn locked(&self) -> bool {
        *lock(&self.inner.0)
    }

    /// Acquires, returning a guard that releases on drop.
    pub fn lock(&self) -> Result<LockGuard<'_>> {
        self.acquire()?;
        Ok(LockGuard { lock: self })
    }
}

/// Holds a [`Lock`] until dropped.
#[derive(Debug)]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.release();
    }
}

/// Which thread holds an [`RLock`], and how many times.
type Holder = Option<(ThreadId, usize)>;

/// A lock its holder may take again, like Python's `threading.RLock`.
#[derive(Clone, Default)]
pub struct RLock {
    inner: Arc<(Mutex<Holder>, Condvar)>,
}

impl std::fmt::Debug for RLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RLock")
    }
}

impl RLock {
    /// A released lock.
    pub fn new() -> RLock {
        RLock::default()
    }

    /// Waits (interruptibly) for the lock, or takes it again if this thread holds it.
    pub fn acquire(&self) -> Result<()> {
        let me = std::thread::current().id();
        let (owner, condvar) = &*self.inner;
        let mut owner = wait_until(condvar, lock(owner), &Deadline::forever(), |owner| {
            owner.is_none_or(|(holder, _)| holder == me)
        })?;
        let depth = owner.map_or(0, |(_, depth)| depth);
        *owner = Some((me, depth + 1));
        Ok(())
    }

    /// Releases once; `Err(NotOwner)` unless this thread holds it.
    pub fn release(&self) -> Result<()> {
        let me = std::thread::current().id();
        let mut owner = lock(&self.inner.0);
        match *owner {
            Some((holder, depth)) if holder == me => {
                *owner = (depth > 1).then_some((me, depth - 1));
                drop(owner);
                self.inner.1.notify_one();
                Ok(())
            }
            _ => Err(Error::NotOwner),
        }
    }
}

/// A flag threads can wait for, like Python's `threading.Event`.
#[derive(Clone, Default)]
pub struct Event {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Event").field(&self.is_set()).finish()
    }
}

impl Event {
    /// A cleared event.
    pub fn new() -> Event {
        Event::default()
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        *lock(&self.inner.0) = true;
        self.inner.1.notify_all();
    }

    /// Clears the flag.
    pub fn clear(&self) {
        *lock(&self.inner.0) = false;
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        *lock(&self.inner.0)
    }

    /// Waits (interruptibly) for the flag.
    pub fn wait(&self) -> Result<()> {
        wait_until(
            &self.inner.1,
            lock(&self.inner.0),
            &Deadline::forever(),
            |set| *set,
        )
        .map(drop)
    }

    /// Waits at most `timeout`; returns whether the flag is set.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        match wait_until(
            &self.inner.1,
            lock(&self.inner.0),
            &Deadline::after(Some(timeout)),
            |set| *set,
        ) {
            Ok(_) => Ok(true),
            Err(Error::Timeout) => Ok(false),
            Err(other) => Err(other),
        }
    }
}

/// A counter of permits, like Python's `threading.Semaphore`.
#[derive(Clone)]
pub struct Semaphore {
    inner: Arc<(Mutex<usize>, Condvar)>,
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Semaphore")
    }
}

impl Semaphore {
    /// A semaphore with `value` permits.
    pub fn new(value: usize) -> Semaphore {
        Semaphore {
            inner: Arc::new((Mutex::new(value), Condvar::new())),
        }
    }

    /// Takes a permit, waiting (interruptibly).
    pub fn acquire(&self) -> Result<()> {
        let mut permits = wait_until(
            &self.inner.1,
            lock(&self.inner.0),
            &Deadline::forever(),
            |n| *n > 0,
        )?;
        *permits -= 1;
        Ok(())
    }

    /// Gives a permit back.
    pub fn release(&self) {
        *lock(&self.inner.0) += 1;
        self.inner.1.notify_one();
    }
}

struct BarrierState {
    parties: usize,
    arrived: usize,
    generation: u64,
    broken: bool,
}

/// Makes `n` threads wait for each other, like Python's `threading.Barrier`.
#[derive(Clone)]
pub struct Barrier {
    inner: Arc<(Mutex<BarrierState>, Condvar)>,
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Barrier")
    }
}

impl Barrier {
    /// A barrier for `parties` threads.
    pub fn new(parties: usize) -> Barrier {
        Barrier {
            inner: Arc::new((
                Mutex::new(BarrierState {
                    parties: parties.max(1),
                    arrived: 0,
                    generation: 0,
                    broken: false,
                }),
                Condvar::new(),
            )),
        }
    }

    /// Waits until all parties arrived; returns this thread's arrival index.
    pub fn wait(&self) -> Result<usize> {
        let (state, condvar) = &*self.inner;
        let mut guard = lock(state);
        if guard.broken {
            return Err(Error::BrokenBarrier);
        }
        let index = guard.arrived;
        guard.arrived += 1;
        if guard.arrived == guard.parties {
            guard.arrived = 0;
            guard.generation += 1;
            drop(guard);
            condvar.notify_all();
            return Ok(index);
        }
        let generation = guard.generation;
        match wait_until(condvar, guard, &Deadline::forever(), |s| {
            s.generation != generation || s.broken
        }) {
            Ok(guard) if guard.generation != generation => Ok(index),
            Ok(_) => Err(Error::BrokenBarrier),
            Err(error) => {
                lock(state).broken = true;
                condvar.notify_all();
                Err(error)
            }
        }
    }
}

//! Locks and friends that work across processes (Python's
//! `multiprocessing.synchronize`), in shared memory. A lock whose holder died
//! is recovered instead of hanging everyone.

use super::{Acquired, Error, Result};
use crate::interrupt::Deadline;
use crate::sys::shm::Shared;
use crate::sys::sync::{Monitor, RawCond, RawMutex};
use std::time::Duration;

fn new_shared<T>(init: impl FnOnce(*mut T) -> Result<()>) -> Result<Shared<T>> {
    let mut failed = None;
    // SAFETY: `init` initializes every field of the fresh, zeroed T; a failure
    // is reported below and the half-built mapping dropped.
    let shared = unsafe {
        Shared::new_with(0, |at| {
            if let Err(error) = init(at) {
                failed = Some(error);
            }
        })?
    };
    match failed {
        Some(error) => Err(error),
        None => Ok(shared),
    }
}

fn warn_if_recovered(acquired: Acquired) -> Acquired {
    if acquired.is_recovered() {
        eprintln!(
            "warning: the previous holder of a lock died while holding it; \
             the lock was recovered, but the data it protects may be half-updated"
        );
    }
    acquired
}

fn timed(result: Result<Acquired>) -> Result<bool> {
    match result {
        Ok(acquired) => {
            warn_if_recovered(acquired);
            Ok(true)
        }
        Err(Error::Timeout) => Ok(false),
        Err(other) => Err(other),
    }
}

macro_rules! mutex_lock {
    ($name:ident, $guard:ident, $recursive:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone)]
        pub struct $name {
            mutex: Shared<RawMutex>,
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($name))
            }
        }

        impl $name {
            /// A new, released lock.
            pub fn new() -> Result<$name> {
                Ok($name {
                    // SAFETY: `at` is fresh memory for the mutex.
                    mutex: new_shared(|at| unsafe { RawMutex::init(at, $recursive) })?,
                })
            }

            /// Waits for the lock (interruptibly). Says whether its previous
            /// holder died holding it (and warns on stderr when so).
            pub fn acquire(&self) -> Result<Acquired> {
                self.mutex
                    .get()
                    .lock(&Deadline::forever())
                    .map(warn_if_recovered)
            }

            /// Waits at most `timeout`; `Ok(false)` if the lock stayed taken.
            pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
                timed(self.mutex.get().lock(&Deadline::after(Some(timeout))))
            }

            /// Takes the lock if it is free; `Ok(false)` otherwise.
            pub fn try_acquire(&self) -> Result<bool> {
                Ok(self
                    .mutex
                    .get()
                    .try_lock()?
                    .map(warn_if_recovered)
                    .is_some())
            }

            /// Releases the lock; `Err(NotOwner)` unless this thread holds it.
            pub fn release(&self) -> Result<()> {
                self.mutex.get().unlock()
            }

            /// Acquires and returns a guard that releases on drop.
            pub fn lock(&self) -> Result<$guard<'_>> {
                let acquired = self.acquire()?;
                Ok($guard {
                    mutex: self.mutex.get(),
                    acquired,
                })
            }
        }

        /// Holds the lock until dropped.
        pub struct $guard<'a> {
            mutex: &'a RawMutex,
            acquired: Acquired,
        }

        impl $guard<'_> {
            /// Whether the previous holder died holding the lock.
            pub fn recovered(&self) -> bool {
                self.acquired.is_recovered()
            }
        }

        impl Drop for $guard<'_> {
            fn drop(&mut self) {
                let _ = self.mutex.unlock();
            }
        }
    };
}

mutex_lock!(
    Lock,
    LockGuard,
    false,
    "A lock shared between processes, like Python's `multiprocessing.Lock`.\n\n\
     Clones (and copies moved into child processes) are the same lock. If a \
     process dies holding it, the next `acquire` gets it anyway and reports \
     [`Acquired::Recovered`]."
);
mutex_lock!(
    RLock,
    RLockGuard,
    true,
    "A lock its holder may take again (released as many times), like Python's \
     `multiprocessing.RLock`."
);

struct SemaphoreState {
    value: usize,
    bound: Option<usize>,
}

/// A counter of permits shared between processes, like Python's `multiprocessing.Semaphore`.
#[derive(Clone)]
pub struct Semaphore {
    monitor: Shared<Monitor<SemaphoreState>>,
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Semaphore")
    }
}

impl Semaphore {
    /// A semaphore with `value` permits.
    pub fn new(value: usize) -> Result<Semaphore> {
        Semaphore::with_bound(value, None)
    }

    fn with_bound(value: usize, bound: Option<usize>) -> Result<Semaphore> {
        Ok(Semaphore {
            // SAFETY: `at` is fresh memory for the monitor.
            monitor: new_shared(|at| unsafe {
                Monitor::init(at, SemaphoreState { value, bound })
            })?,
        })
    }

    fn take(&self, deadline: Deadline) -> Result<()> {
        let mut state = self.monitor.get().lock(&deadline)?;
        state.wait_until(&deadline, |s| s.value > 0)?;
        state.value -= 1;
        Ok(())
    }

    /// Takes a permit, waiting (interruptibly) for one.
    pub fn acquire(&self) -> Result<()> {
        self.take(Deadline::forever())
    }

    /// Waits at most `timeout`; `Ok(false)` if no permit came.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        match self.take(Deadline::after(Some(timeout))) {
            Ok(()) => Ok(true),
            Err(Error::Timeout) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Gives a permit back.
    pub fn release(&self) -> Result<()> {
        let mut state = self.monitor.get().lock(&Deadline::forever())?;
        if state.bound.is_some_and(|bound| state.value >= bound) {
            return Err(Error::TooManyReleases);
        }
        state.value += 1;
        drop(state);
        self.monitor.get().notify_one();
        Ok(())
    }

    /// How many permits are free now.
    pub fn value(&self) -> Result<usize> {
        Ok(self.monitor.get().lock(&Deadline::forever())?.value)
    }
}

/// A [`Semaphore`] that refuses to be released above its initial value, like
/// Python's `multiprocessing.BoundedSemaphore`.
#[derive(Clone, Debug)]
pub struct BoundedSemaphore(Semaphore);

impl BoundedSemaphore {
    /// A bounded semaphore with `value` permits.
    pub fn new(value: usize) -> Result<BoundedSemaphore> {
        Ok(BoundedSemaphore(Semaphore::with_bound(value, Some(value))?))
    }
}

impl std::ops::Deref for BoundedSemaphore {
    type Target = Semaphore;
    fn deref(&self) -> &Semaphore {
        &self.0
    }
}

/// A flag processes can wait for, like Python's `multiprocessing.Event`.
#[derive(Clone)]
pub struct Event {
    monitor: Shared<Monitor<bool>>,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Event").field(&self.is_set()).finish()
    }
}

impl Event {
    /// A cleared event.
    pub fn new() -> Result<Event> {
        Ok(Event {
            // SAFETY: `at` is fresh memory for the monitor.
            monitor: new_shared(|at| unsafe { Monitor::init(at, false) })?,
        })
    }

    fn store(&self, flag: bool) {
        if let Ok(mut state) = self.monitor.get().lock(&Deadline::forever()) {
            *state = flag;
        }
        if flag {
            self.monitor.get().notify_all();
        }
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        self.store(true);
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.store(false);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.monitor
            .get()
            .lock(&Deadline::forever())
            .map(|state| *state)
            .unwrap_or(false)
    }

    /// Waits (interruptibly) until the flag is set.
    pub fn wait(&self) -> Result<()> {
        let deadline = Deadline::forever();
        let mut state = self.monitor.get().lock(&deadline)?;
        state.wait_until(&deadline, |set| *set)
    }

    /// Waits at most `timeout`; returns whether the flag is set.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        let deadline = Deadline::after(Some(timeout));
        let mut state = self.monitor.get().lock(&deadline)?;
        match state.wait_until(&deadline, |set| *set) {
            Ok(()) => Ok(true),
            Err(Error::Timeout) => Ok(false),
            Err(other) => Err(other),
        }
    }
}

#[repr(C)]
struct ConditionCell {
    mutex: RawMutex,
    cond: RawCond,
    /// Waiters take tickets; a notify lets the oldest tickets through.
    next_ticket: std::cell::UnsafeCell<u64>,
    let_through: std::cell::UnsafeCell<u64>,
}

// SAFETY: the ticket counters are only touched while `mutex` is held.
unsafe impl Sync for ConditionCell {}

/// A condition variable shared between processes, like Python's
/// `multiprocessing.Condition`: `acquire`, then `wait` until another process
/// `notify`s, then `release`.
#[derive(Clone)]
pub struct Condition {
    cell: Shared<ConditionCell>,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Condition")
    }
}

impl Condition {
    /// A new condition with its own lock.
    pub fn new() -> Result<Condition> {
        Ok(Condition {
            cell: new_shared(|at: *mut ConditionCell| {
                // SAFETY: `at` is fresh memory; the counters start at zero.
                unsafe {
                    RawMutex::init(std::ptr::addr_of_mut!((*at).mutex), false)?;
                    RawCond::init(std::ptr::addr_of_mut!((*at).cond))
                }
            })?,
        })
    }

    /// Takes the condition's lock (interruptibly).
    pub fn acquire(&self) -> Result<Acquired> {
        self.cell
            .get()
            .mutex
            .lock(&Deadline::forever())
            .map(warn_if_recovered)
    }

    /// Releases the condition's lock.
    pub fn release(&self) -> Result<()> {
        self.cell.get().mutex.unlock()
    }

    /// Releases the lock, waits for a `notify`, and takes the lock again.
    /// The caller must hold the lock.
    pub fn wait(&self) -> Result<()> {
        self.wait_deadline(Deadline::forever()).map(drop)
    }

    /// Like [`wait`](Condition::wait) for at most `timeout`; `Ok(false)` on timeout.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.wait_deadline(Deadline::after(Some(timeout)))
    }

    /// Waits until `predicate()` holds (checked with the lock held), like
    /// Python's `wait_for`.
    pub fn wait_for(&self, mut predicate: impl FnMut() -> bool) -> Result<()> {
        while !predicate() {
            self.wait()?;
        }
        Ok(())
    }

    fn wait_deadline(&self, deadline: Deadline) -> Result<bool> {
        let cell = self.cell.get();
        // SAFETY (both blocks): the caller holds the mutex, which guards the counters.
        let ticket = unsafe {
            let ticket = *cell.next_ticket.get();
            *cell.next_ticket.get() = ticket + 1;
            ticket
        };
        loop {
            if unsafe { *cell.let_through.get() } > ticket {
                return Ok(true);
            }
            let slice = match deadline.slice() {
                Ok(slice) => slice,
                Err(Error::Timeout) => return Ok(false),
                Err(other) => return Err(other),
            };
            warn_if_recovered(cell.cond.wait_slice(&cell.mutex, slice)?);
        }
    }

    /// Wakes `n` waiters. The caller must hold the lock.
    pub fn notify(&self, n: usize) {
        let cell = self.cell.get();
        // SAFETY: the caller holds the mutex.
        unsafe {
            let next = *cell.next_ticket.get();
            let through = (*cell.let_through.get()).saturating_add(n as u64).min(next);
            *cell.let_through.get() = through;
        }
        cell.cond.notify_all();
    }

    /// Wakes every waiter. The caller must hold the lock.
    pub fn notify_all(&self) {
        let cell = self.cell.get();
        // SAFETY: the caller holds the mutex.
        unsafe { *cell.let_through.get() = *cell.next_ticket.get() };
        cell.cond.notify_all();
    }
}

struct BarrierState {
    parties: usize,
    arrived: usize,
    generation: u64,
    broken: bool,
}

/// Makes `n` processes (or threads) wait for each other, like Python's
/// `multiprocessing.Barrier`.
#[derive(Clone)]
pub struct Barrier {
    monitor: Shared<Monitor<BarrierState>>,
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Barrier")
    }
}

impl Barrier {
    /// A barrier for `parties` participants.
    pub fn new(parties: usize) -> Result<Barrier> {
        let state = BarrierState {
            parties: parties.max(1),
            arrived: 0,
            generation: 0,
            broken: false,
        };
        Ok(Barrier {
            // SAFETY: `at` is fresh memory for the monitor.
            monitor: new_shared(|at| unsafe { Monitor::init(at, state) })?,
        })
    }

    /// Waits until all parties arrived; returns this party's arrival index
    /// (`0..parties`). An interrupted waiter breaks the barrier for all.
    pub fn wait(&self) -> Result<usize> {
        self.wait_deadline(Deadline::forever())
    }

    /// Like [`wait`](Barrier::wait), but breaks the barrier after `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        self.wait_deadline(Deadline::after(Some(timeout)))
    }

    fn wait_deadline(&self, deadline: Deadline) -> Result<usize> {
        let monitor = self.monitor.get();
        let mut state = monitor.lock(&deadline)?;
        if state.broken {
            return Err(Error::BrokenBarrier);
        }
        let index = state.arrived;
        state.arrived += 1;
        if state.arrived == state.parties {
            state.arrived = 0;
            state.generation += 1;
            drop(state);
            monitor.notify_all();
            return Ok(index);
        }
        let generation = state.generation;
        match state.wait_until(&deadline, |s| s.generation != generation || s.broken) {
            Ok(()) if state.generation != generation => Ok(index),
            Ok(()) => Err(Error::BrokenBarrier),
            Err(error) => {
                state.broken = true;
                drop(state);
                monitor.notify_all();
                Err(error)
            }
        }
    }

    /// Breaks the barrier: current and future waiters get `Err(BrokenBarrier)`.
    pub fn abort(&self) -> Result<()> {
        self.monitor.get().lock(&Deadline::forever())?.broken = true;
        self.monitor.get().notify_all();
        Ok(())
    }

    /// Mends a broken barrier (waiters still inside get `Err(BrokenBarrier)`).
    pub fn reset(&self) -> Result<()> {
        let mut state = self.monitor.get().lock(&Deadline::forever())?;
        state.broken = false;
        state.arrived = 0;
        state.generation += 1;
        Ok(())
    }

    /// How many parties it waits for.
    pub fn parties(&self) -> Result<usize> {
        Ok(self.monitor.get().lock(&Deadline::forever())?.parties)
    }

    /// How many are waiting now.
    pub fn n_waiting(&self) -> Result<usize> {
        Ok(self.monitor.get().lock(&Deadline::forever())?.arrived)
    }

    /// Whether the barrier is broken.
    pub fn broken(&self) -> Result<bool> {
        Ok(self.monitor.get().lock(&Deadline::forever())?.broken)
    }
}

//! [`Barrier`] between threads.

use super::lock;
use crate::error::Result;
use crate::sys::barrier::{Arrival, BarrierState};
use crate::sys::deadline::Deadline;
use crate::sys::wait::wait_until_keeping;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Makes `n` threads wait for each other, like Python's `threading.Barrier`.
///
/// ```
/// use ferrokernel_prelude::threading::{Barrier, Thread};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let barrier = Barrier::new(2);
/// let other = barrier.clone();
/// let mut t = Thread::new("b", move || {
///     other.wait().expect("wait");
/// });
/// t.start()?;
/// assert!(barrier.wait()? < 2);
/// t.join()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Barrier {
    inner: Arc<(Mutex<BarrierState>, Condvar)>,
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.broken())
            .finish()
    }
}

impl Barrier {
    /// A barrier for `parties` threads.
    ///
    /// ```
    /// assert_eq!(ferrokernel_prelude::threading::Barrier::new(3).parties(), 3);
    /// ```
    pub fn new(parties: usize) -> Barrier {
        Barrier {
            inner: Arc::new((Mutex::new(BarrierState::new(parties)), Condvar::new())),
        }
    }

    /// Waits until all parties arrived; returns this thread's arrival index
    /// (`0..parties`, different for each). An interrupt ends the wait with
    /// `Err(Interrupted)` and the round with `Err(BrokenBarrier)` for the
    /// others, but does not break the barrier: the next round works.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Barrier;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Barrier::new(1).wait()?, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait(&self) -> Result<usize> {
        self.wait_deadline(Deadline::forever())
    }

    /// Like [`wait`](Barrier::wait) for at most `timeout`: then `Err(Timeout)`
    /// here, and the barrier is broken (as in Python) until [`reset`](Barrier::reset).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Error;
    /// use ferrokernel_prelude::threading::Barrier;
    /// use std::time::Duration;
    /// let barrier = Barrier::new(2);
    /// assert!(matches!(barrier.wait_timeout(Duration::from_millis(10)), Err(Error::Timeout)));
    /// assert!(barrier.broken());
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        self.wait_deadline(Deadline::after(Some(timeout)))
    }

    fn wait_deadline(&self, deadline: Deadline) -> Result<usize> {
        let (state, condvar) = &*self.inner;
        let mut guard = lock(state);
        let ticket = match guard.arrive()? {
            Arrival::Tripped(index) => {
                drop(guard);
                condvar.notify_all();
                return Ok(index);
            }
            Arrival::Waiting(ticket) => ticket,
        };
        let mut outcome = None;
        let (mut guard, waited) = wait_until_keeping(condvar, guard, &deadline, |state| {
            outcome = state.outcome(&ticket);
            outcome.is_some()
        });
        match (waited, outcome) {
            (Ok(()), Some(done)) => done,
            (Ok(()), None) => unreachable!("the wait ends with an outcome or an error"),
            (Err(why), _) => {
                let result = guard.give_up(&ticket, why);
                drop(guard);
                condvar.notify_all();
                result
            }
        }
    }

    /// Breaks the barrier: current and future waiters get `Err(BrokenBarrier)`
    /// until [`reset`](Barrier::reset).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Error;
    /// use ferrokernel_prelude::threading::Barrier;
    /// let barrier = Barrier::new(2);
    /// barrier.abort();
    /// assert!(matches!(barrier.wait(), Err(Error::BrokenBarrier)));
    /// ```
    pub fn abort(&self) {
        lock(&self.inner.0).abort();
        self.inner.1.notify_all();
    }

    /// Empties the barrier and mends it: threads still waiting get
    /// `Err(BrokenBarrier)`, later ones wait for a fresh round.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Barrier;
    /// let barrier = Barrier::new(2);
    /// barrier.abort();
    /// barrier.reset();
    /// assert!(!barrier.broken());
    /// ```
    pub fn reset(&self) {
        lock(&self.inner.0).reset();
        self.inner.1.notify_all();
    }

    /// How many threads a round needs.
    ///
    /// ```
    /// assert_eq!(ferrokernel_prelude::threading::Barrier::new(2).parties(), 2);
    /// ```
    pub fn parties(&self) -> usize {
        lock(&self.inner.0).parties()
    }

    /// How many threads are waiting now.
    ///
    /// ```
    /// assert_eq!(ferrokernel_prelude::threading::Barrier::new(2).n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        lock(&self.inner.0).n_waiting()
    }

    /// Whether the barrier is broken.
    ///
    /// ```
    /// assert!(!ferrokernel_prelude::threading::Barrier::new(2).broken());
    /// ```
    pub fn broken(&self) -> bool {
        lock(&self.inner.0).broken()
    }
}

//! [`Barrier`].

use super::new_shared;
use crate::error::{Error, Result};
use crate::sys::barrier::{Arrival, BarrierState};
use crate::sys::deadline::Deadline;
use crate::sys::shm::Shared;
use crate::sys::sync::Monitor;
use std::time::Duration;

/// Makes `n` processes (or threads) wait for each other, like Python's
/// `multiprocessing.Barrier`.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Barrier, Process};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let barrier = Barrier::new(2)?;
/// let other = barrier.clone();
/// let mut p = Process::new(move || {
///     other.wait().expect("wait");
/// });
/// p.start()?;
/// let index = barrier.wait()?; // 0 or 1: each party gets its own
/// assert!(index < 2);
/// p.join()?;
/// # Ok(())
/// # }
/// ```
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
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Barrier;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Barrier::new(3)?.parties()?, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(parties: usize) -> Result<Barrier> {
        let state = BarrierState::new(parties);
        Ok(Barrier {
            // SAFETY: `at` is fresh memory for the monitor.
            monitor: new_shared(|at| unsafe { Monitor::init(at, state) })?,
        })
    }

    /// Waits until all parties arrived; returns this party's arrival index
    /// (`0..parties`). An interrupt ends the wait with `Err(Interrupted)` and
    /// the round with `Err(BrokenBarrier)` for the others, but does not break
    /// the barrier: the next round works.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Barrier;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Barrier::new(1)?.wait()?, 0); // one party: passes at once
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
    /// use ferrokernel_prelude::multiprocessing::{Barrier, Error};
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let barrier = Barrier::new(2)?;
    /// assert!(matches!(barrier.wait_timeout(Duration::from_millis(10)), Err(Error::Timeout)));
    /// assert!(barrier.broken()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        self.wait_deadline(Deadline::after(Some(timeout)))
    }

    fn wait_deadline(&self, deadline: Deadline) -> Result<usize> {
        let monitor = self.monitor.get();
        let mut state = monitor.lock(&deadline)?;
        let ticket = match state.arrive()? {
            Arrival::Tripped(index) => {
                drop(state);
                monitor.notify_all();
                return Ok(index);
            }
            Arrival::Waiting(ticket) => ticket,
        };
        match state.wait_until(&deadline, |s| s.outcome(&ticket).is_some()) {
            Ok(()) => state.outcome(&ticket).unwrap_or(Err(Error::BrokenBarrier)),
            Err(why) => {
                let result = state.give_up(&ticket, why);
                drop(state);
                monitor.notify_all();
                result
            }
        }
    }

    /// Breaks the barrier: current and future waiters get `Err(BrokenBarrier)`
    /// until [`reset`](Barrier::reset).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Barrier, Error};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let barrier = Barrier::new(2)?;
    /// barrier.abort()?;
    /// assert!(matches!(barrier.wait(), Err(Error::BrokenBarrier)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn abort(&self) -> Result<()> {
        self.monitor.get().lock(&Deadline::forever())?.abort();
        self.monitor.get().notify_all();
        Ok(())
    }

    /// Empties the barrier and mends it: waiters still inside get
    /// `Err(BrokenBarrier)`, later ones wait for a fresh round.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Barrier;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let barrier = Barrier::new(2)?;
    /// barrier.abort()?;
    /// barrier.reset()?;
    /// assert!(!barrier.broken()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn reset(&self) -> Result<()> {
        self.monitor.get().lock(&Deadline::forever())?.reset();
        self.monitor.get().notify_all();
        Ok(())
    }

    /// How many parties it waits for.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Barrier;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Barrier::new(4)?.parties()?, 4);
    /// # Ok(())
    /// # }
    /// ```
    pub fn parties(&self) -> Result<usize> {
        Ok(self.monitor.get().lock(&Deadline::forever())?.parties())
    }

    /// How many are waiting now.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Barrier;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Barrier::new(2)?.n_waiting()?, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn n_waiting(&self) -> Result<usize> {
        Ok(self.monitor.get().lock(&Deadline::forever())?.n_waiting())
    }

    /// Whether the barrier is broken.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Barrier;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(!Barrier::new(2)?.broken()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn broken(&self) -> Result<bool> {
        Ok(self.monitor.get().lock(&Deadline::forever())?.broken())
    }
}

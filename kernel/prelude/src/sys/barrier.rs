//! The state of a barrier, shared by `threading::Barrier` (behind a
//! `std::sync::Mutex`) and `multiprocessing::Barrier` (in shared memory behind
//! a robust mutex): plain data, so it may live in either.
//!
//! Design: each round of waiting is a *generation*; the party that completes a
//! round starts the next one, and waiters of the old round see the generation
//! move on and pass. A `reset` (or an interrupted waiter) starts a new *epoch*
//! instead: waiters of the old epoch see it move and leave with
//! `BrokenBarrier`, while the barrier itself stays usable. `abort` (and a
//! timeout, as in Python) sets `broken`, which only `reset` clears.

use crate::error::{Error, Result};

/// A barrier's state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BarrierState {
    parties: usize,
    arrived: usize,
    generation: u64,
    epoch: u64,
    broken: bool,
}

/// What a waiter remembers of the round it joined.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    index: usize,
    generation: u64,
    epoch: u64,
}

/// The result of arriving at the barrier.
#[derive(Debug)]
pub(crate) enum Arrival {
    /// This party completed the round: wake the others; this is its index.
    Tripped(usize),
    /// Wait until [`BarrierState::outcome`] says how the round ended.
    Waiting(Ticket),
}

impl BarrierState {
    /// A barrier for `parties` (at least one).
    pub(crate) fn new(parties: usize) -> BarrierState {
        BarrierState {
            parties: parties.max(1),
            arrived: 0,
            generation: 0,
            epoch: 0,
            broken: false,
        }
    }

    /// Arrives: `Err(BrokenBarrier)` if the barrier is broken.
    pub(crate) fn arrive(&mut self) -> Result<Arrival> {
        if self.broken {
            return Err(Error::BrokenBarrier);
        }
        let index = self.arrived;
        self.arrived += 1;
        if self.arrived == self.parties {
            self.arrived = 0;
            self.generation += 1;
            return Ok(Arrival::Tripped(index));
        }
        Ok(Arrival::Waiting(Ticket {
            index,
            generation: self.generation,
            epoch: self.epoch,
        }))
    }

    /// How the ticket's round ended, or `None` while it is still filling.
    pub(crate) fn outcome(&self, ticket: &Ticket) -> Option<Result<usize>> {
        if self.generation != ticket.generation {
            Some(Ok(ticket.index))
        } else if self.broken || self.epoch != ticket.epoch {
            Some(Err(Error::BrokenBarrier))
        } else {
            None
        }
    }

    /// A waiter stops waiting because of `why` (a timeout or an interrupt),
    /// unless its round ended meanwhile. A timeout breaks the barrier, as in
    /// Python; an interrupt only ends the round (the others get
    /// `BrokenBarrier`) and leaves the barrier usable.
    pub(crate) fn give_up(&mut self, ticket: &Ticket, why: Error) -> Result<usize> {
        if let Some(done) = self.outcome(ticket) {
            return done;
        }
        match why {
            Error::Timeout => self.broken = true,
            _ => self.new_epoch(),
        }
        Err(why)
    }

    fn new_epoch(&mut self) {
        self.epoch += 1;
        self.arrived = 0;
    }

    /// Python's `reset()`: waiters now inside leave with `BrokenBarrier`, and
    /// the barrier is empty and unbroken.
    pub(crate) fn reset(&mut self) {
        self.new_epoch();
        self.broken = false;
    }

    /// Python's `abort()`: the barrier is broken until `reset`.
    pub(crate) fn abort(&mut self) {
        self.broken = true;
    }

    /// How many parties a round needs.
    pub(crate) fn parties(&self) -> usize {
        self.parties
    }

    /// How many are waiting in the current round.
    pub(crate) fn n_waiting(&self) -> usize {
        if self.broken { 0 } else { self.arrived }
    }

    /// Whether the barrier is broken.
    pub(crate) fn broken(&self) -> bool {
        self.broken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(arrival: Result<Arrival>) -> Ticket {
        match arrival {
            Ok(Arrival::Waiting(ticket)) => ticket,
            other => panic!("expected to wait, got {other:?}"),
        }
    }

    #[test]
    fn the_last_party_trips_the_round_and_every_index_differs() {
        let mut state = BarrierState::new(3);
        let first = waiting(state.arrive());
        let second = waiting(state.arrive());
        assert!(state.outcome(&first).is_none());
        assert_eq!(state.n_waiting(), 2);
        assert!(matches!(state.arrive(), Ok(Arrival::Tripped(2))));
        assert!(matches!(state.outcome(&first), Some(Ok(0))));
        assert!(matches!(state.outcome(&second), Some(Ok(1))));
        assert_eq!(state.n_waiting(), 0);
    }

    #[test]
    fn reset_breaks_the_current_waiters_but_not_the_barrier() {
        let mut state = BarrierState::new(2);
        let inside = waiting(state.arrive());
        state.reset();
        assert!(matches!(
            state.outcome(&inside),
            Some(Err(Error::BrokenBarrier))
        ));
        assert!(!state.broken());
        let again = waiting(state.arrive());
        assert!(matches!(state.arrive(), Ok(Arrival::Tripped(1))));
        assert!(matches!(state.outcome(&again), Some(Ok(0))));
    }

    #[test]
    fn an_interrupted_waiter_ends_its_round_only_and_a_timeout_breaks_the_barrier() {
        let mut state = BarrierState::new(3);
        let other = waiting(state.arrive());
        let interrupted = waiting(state.arrive());
        assert!(matches!(
            state.give_up(&interrupted, Error::Interrupted),
            Err(Error::Interrupted)
        ));
        assert!(matches!(
            state.outcome(&other),
            Some(Err(Error::BrokenBarrier))
        ));
        assert!(!state.broken() && state.n_waiting() == 0);
        let timed_out = waiting(state.arrive());
        assert!(matches!(
            state.give_up(&timed_out, Error::Timeout),
            Err(Error::Timeout)
        ));
        assert!(state.broken());
        assert!(matches!(state.arrive(), Err(Error::BrokenBarrier)));
    }

    #[test]
    fn giving_up_after_the_round_tripped_still_passes() {
        let mut state = BarrierState::new(2);
        let ticket = waiting(state.arrive());
        assert!(matches!(state.arrive(), Ok(Arrival::Tripped(1))));
        assert!(matches!(state.give_up(&ticket, Error::Timeout), Ok(0)));
        assert!(!state.broken());
    }
}

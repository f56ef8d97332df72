//! The core both `Condition`s wrap: `threading::Condition` (between threads,
//! over a `std` mutex and condvar) and `multiprocessing::Condition` (between
//! processes, over process-shared pthread objects).
//!
//! They differ only in how the lock is held and how a waiter sleeps; what
//! Python's `Condition` promises on top is the same and is written here once:
//!
//! - [`Waits`]: `wait`, `wait_timeout`, `wait_for` and `wait_for_timeout`
//!   from one `wait_deadline` each side provides. `wait_for_timeout` returns
//!   the predicate's last value, as Python does, and waits again after a
//!   wake-up that left the predicate false, until the deadline.
//! - [`settle`]: how a waiter leaves the waiter table (`sys::waiters`). A
//!   waiter that was notified counts as woken even if its time ran out at the
//!   same moment; one that leaves with an error (an interrupt) after being
//!   notified passes the notification on to the next-oldest waiter rather
//!   than lose it.

use crate::error::{Error, Result};
use crate::sys::deadline::Deadline;
use crate::sys::waiters::{Slots, Waiters};
use std::time::Duration;

/// The four waits of a `Condition`, from the one wait each kind provides.
pub(crate) trait Waits {
    /// Releases the lock, waits for a `notify` or the deadline, and takes the
    /// lock back: `Ok(true)` when notified, `Ok(false)` when the time ran out,
    /// `Err(NotHeld)` unless the caller holds the lock.
    fn wait_deadline(&self, deadline: Deadline) -> Result<bool>;

    /// Waits (interruptibly) for a `notify`.
    fn wait(&self) -> Result<()> {
        self.wait_deadline(Deadline::forever()).map(drop)
    }

    /// Waits at most `timeout`; `Ok(false)` on timeout.
    fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.wait_deadline(Deadline::after(Some(timeout)))
    }

    /// Waits until `predicate()` holds (checked with the lock held).
    fn wait_for(&self, mut predicate: impl FnMut() -> bool) -> Result<()> {
        while !predicate() {
            self.wait()?;
        }
        Ok(())
    }

    /// Like `wait_for` for at most `timeout`; the predicate's last value.
    fn wait_for_timeout(
        &self,
        mut predicate: impl FnMut() -> bool,
        timeout: Duration,
    ) -> Result<bool> {
        let deadline = Deadline::after(Some(timeout));
        loop {
            if predicate() {
                return Ok(true);
            }
            if deadline.expired() || !self.wait_deadline(deadline)? {
                return Ok(predicate());
            }
        }
    }
}

/// A waiter in `slot` leaves the table after its wait ended with `waited`
/// (under the condition's lock): `Ok(true)` if it was woken, `Ok(notified)`
/// after a timeout, or the error — having passed a notification it received
/// on to the next waiter. The `bool` says whether it did (the caller then
/// wakes the sleepers so that one finds its flag).
pub(crate) fn settle<S: Slots>(
    waiters: &mut Waiters<S>,
    slot: usize,
    waited: Result<()>,
) -> (Result<bool>, bool) {
    let notified = waiters.leave(slot);
    match waited {
        Ok(()) => (Ok(true), false),
        Err(Error::Timeout) => (Ok(notified), false),
        Err(error) => {
            if notified {
                waiters.notify(1);
            }
            (Err(error), notified)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::waiters::Slot;

    #[test]
    fn an_interrupted_waiter_passes_its_notification_on() {
        let mut waiters = Waiters::new(Vec::<Slot>::new());
        let first = waiters.enqueue().unwrap();
        let second = waiters.enqueue().unwrap();
        waiters.notify(1);
        let (result, passed) = settle(&mut waiters, first, Err(Error::Interrupted));
        assert!(matches!(result, Err(Error::Interrupted)) && passed);
        assert!(waiters.is_notified(second));
    }

    #[test]
    fn a_timed_out_waiter_reports_whether_it_was_notified() {
        let mut waiters = Waiters::new(Vec::<Slot>::new());
        let slot = waiters.enqueue().unwrap();
        assert!(matches!(
            settle(&mut waiters, slot, Err(Error::Timeout)),
            (Ok(false), false)
        ));
    }
}

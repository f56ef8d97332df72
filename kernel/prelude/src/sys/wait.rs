//! The one interruptible wait on a `std::sync::Condvar`.
//!
//! A condvar wait cannot see the interrupt count or a deadline, so every
//! blocking call between threads waits in slices: [`Deadline::slice`] says how
//! long the next wait may be (at most `interrupt::SLICE`), or that the call
//! must end (`Timeout`, `Interrupted`); the state is re-checked after each
//! slice. A notify still wakes the waiter at once; the slice only bounds how
//! late an interrupt or a deadline is seen. Poisoning is ignored: every state
//! behind these mutexes is updated in one step, so a panic elsewhere never
//! leaves it half-written.
//!
//! (Waits between processes use `sys::sync`'s `RawCond::wait_slice`, the same
//! idea over a process-shared pthread condvar.)

use crate::error::Result;
use crate::sys::deadline::Deadline;
use std::sync::{Condvar, MutexGuard, PoisonError};
use std::time::Duration;

/// Waits on `condvar` for at most `slice` (a notify ends it sooner).
pub(crate) fn wait_slice<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    slice: Duration,
) -> MutexGuard<'a, T> {
    condvar
        .wait_timeout(guard, slice)
        .unwrap_or_else(PoisonError::into_inner)
        .0
}

/// Waits on `condvar` until `done(state)`, or the deadline: the guard comes
/// back either way, for callers that must tidy up after a timeout or an
/// interrupt (a barrier gives up its place, a condition leaves its queue).
pub(crate) fn wait_until_keeping<'a, T>(
    condvar: &Condvar,
    mut guard: MutexGuard<'a, T>,
    deadline: &Deadline,
    mut done: impl FnMut(&mut T) -> bool,
) -> (MutexGuard<'a, T>, Result<()>) {
    while !done(&mut guard) {
        match deadline.slice() {
            Ok(slice) => guard = wait_slice(condvar, guard, slice),
            Err(error) => return (guard, Err(error)),
        }
    }
    (guard, Ok(()))
}

/// Waits on `condvar` until `done(state)`, or the deadline (the error).
pub(crate) fn wait_until<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    deadline: &Deadline,
    done: impl FnMut(&mut T) -> bool,
) -> Result<MutexGuard<'a, T>> {
    let (guard, waited) = wait_until_keeping(condvar, guard, deadline, done);
    waited.map(|()| guard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use std::sync::Mutex;

    #[test]
    fn a_deadline_ends_the_wait_and_keeps_the_guard() {
        let (mutex, condvar) = (Mutex::new(0), Condvar::new());
        let deadline = Deadline::after(Some(Duration::from_millis(5)));
        let (guard, waited) =
            wait_until_keeping(&condvar, mutex.lock().unwrap(), &deadline, |n| *n > 0);
        assert!(matches!(waited, Err(Error::Timeout)));
        assert_eq!(*guard, 0);
    }

    #[test]
    fn a_state_already_done_does_not_wait() {
        let (mutex, condvar) = (Mutex::new(1), Condvar::new());
        let guard = wait_until(&condvar, mutex.lock().unwrap(), &Deadline::forever(), |n| {
            *n > 0
        });
        assert_eq!(*guard.ok().unwrap(), 1);
    }
}

//! When a blocking call started, and until when it may wait: the clock and
//! the interrupt count every blocking call in this crate looks at (see
//! [`crate::interrupt`] for the handler that moves the count).
//!
//! It sits in `sys` because every waiting mechanism here (rings, mailboxes,
//! locks, sockets, children) needs it, and it needs nothing but the
//! process-wide globals.

use crate::error::{Error, Result};
use crate::sys::globals::globals;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The longest a blocking call waits before looking at the interrupt count.
///
/// ```
/// assert!(ferrokernel_prelude::interrupt::SLICE.as_millis() <= 100);
/// ```
pub const SLICE: Duration = Duration::from_millis(50);

/// How many interrupts this process has seen (`interrupt::count`).
pub(crate) fn interrupts() -> u64 {
    globals().interrupts.load(Ordering::SeqCst)
}

/// When a blocking call started, and until when it may wait.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    interrupts: u64,
    interruptible: bool,
    until: Option<Instant>,
}

impl Deadline {
    /// A deadline `timeout` from now (`None`: wait for ever, but interruptibly).
    pub(crate) fn after(timeout: Option<Duration>) -> Deadline {
        Deadline {
            interrupts: interrupts(),
            interruptible: true,
            until: timeout.map(|t| Instant::now() + t),
        }
    }

    /// No timeout, and deaf to interrupts: for the few-instruction critical
    /// sections of this crate's own bookkeeping, which must not be left half done.
    pub(crate) fn uninterruptible() -> Deadline {
        Deadline {
            interrupts: 0,
            interruptible: false,
            until: None,
        }
    }

    /// No timeout.
    pub(crate) fn forever() -> Deadline {
        Deadline::after(None)
    }

    /// `Err(Interrupted)` if an interrupt arrived since the call started.
    pub(crate) fn check(&self) -> Result<()> {
        if self.interruptible && interrupts() != self.interrupts {
            return Err(Error::Interrupted);
        }
        Ok(())
    }

    /// How long the next wait may last: at most [`SLICE`], `Err(Timeout)` when
    /// the time is up, `Err(Interrupted)` after an interrupt.
    pub(crate) fn slice(&self) -> Result<Duration> {
        self.check()?;
        match self.until {
            None => Ok(SLICE),
            Some(until) => {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Err(Error::Timeout)
                } else {
                    Ok(left.min(SLICE))
                }
            }
        }
    }

    /// Whether the time is up (interrupts aside).
    pub(crate) fn expired(&self) -> bool {
        self.until.is_some_and(|until| Instant::now() >= until)
    }
}

/// `Ok(true)` when `result` is `Ok`, `Ok(false)` for a timeout, else the
/// error: what every `*_timeout` call returns (Python's `acquire(timeout=)`,
/// `wait(timeout)`). Kept here, beside the deadline that produces the
/// `Timeout`, so that no caller spells the match out again.
pub(crate) fn timed<T>(result: Result<T>) -> Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(Error::Timeout) => Ok(false),
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `interrupt::trigger` does (the layer above is not used from here).
    fn trigger() {
        globals().interrupts.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn an_interrupt_before_the_call_does_not_count() {
        trigger();
        let deadline = Deadline::forever();
        assert!(deadline.check().is_ok());
        trigger();
        assert!(matches!(deadline.slice(), Err(Error::Interrupted)));
    }

    #[test]
    fn timeouts_expire() {
        let deadline = Deadline::after(Some(Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(5));
        assert!(matches!(deadline.slice(), Err(Error::Timeout)) || deadline.check().is_err());
    }
}

//! Who is waiting on a condition variable, so that `notify(n)` wakes exactly
//! the `n` oldest waiters still waiting.
//!
//! Design: each waiter takes a slot holding a ticket (taken in arrival order)
//! and a `notified` flag, and watches its own flag; `notify(n)` sets the flag
//! of the `n` oldest waiters not yet notified and broadcasts. A waiter that
//! leaves — notified, timed out or interrupted — frees its slot, so a notify
//! can never be spent on someone who already left (the bug of a bare
//! "let tickets through up to N" counter). Every operation runs under the
//! condition's own lock. The storage is a fixed array when the table lives in
//! shared memory (`multiprocessing::Condition`), a growing `Vec` between
//! threads.

/// One waiter's place; `ticket == 0` means free.
#[derive(Debug, Default, Clone, Copy)]
#[repr(C)]
pub(crate) struct Slot {
    ticket: u64,
    notified: bool,
}

/// Where the slots are kept.
pub(crate) trait Slots {
    /// All the slots.
    fn slots(&mut self) -> &mut [Slot];
    /// Makes room for one more waiter; `false` if the storage is fixed.
    fn grow(&mut self) -> bool;
}

impl<const N: usize> Slots for [Slot; N] {
    fn slots(&mut self) -> &mut [Slot] {
        self
    }
    fn grow(&mut self) -> bool {
        false
    }
}

impl Slots for Vec<Slot> {
    fn slots(&mut self) -> &mut [Slot] {
        self
    }
    fn grow(&mut self) -> bool {
        self.push(Slot::default());
        true
    }
}

/// The waiters of one condition variable.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct Waiters<S> {
    next_ticket: u64,
    /// One past the highest slot in use: scans stop there.
    high: usize,
    store: S,
}

impl<S: Slots> Waiters<S> {
    /// Waiters kept in `store` (all slots free).
    pub(crate) fn new(store: S) -> Waiters<S> {
        Waiters {
            next_ticket: 0,
            high: 0,
            store,
        }
    }

    /// Takes a slot for a new waiter; `None` when a fixed table is full.
    pub(crate) fn enqueue(&mut self) -> Option<usize> {
        let free = self.store.slots().iter().position(|slot| slot.ticket == 0);
        let at = match free {
            Some(at) => at,
            None if self.store.grow() => self.store.slots().len() - 1,
            None => return None,
        };
        self.next_ticket += 1;
        self.store.slots()[at] = Slot {
            ticket: self.next_ticket,
            notified: false,
        };
        self.high = self.high.max(at + 1);
        Some(at)
    }

    /// Notifies the `n` oldest waiters not yet notified; returns how many there were.
    pub(crate) fn notify(&mut self, n: usize) -> usize {
        let high = self.high;
        let slots = &mut self.store.slots()[..high];
        let mut woken = 0;
        while woken < n {
            let oldest = slots
                .iter_mut()
                .filter(|slot| slot.ticket != 0 && !slot.notified)
                .min_by_key(|slot| slot.ticket);
            match oldest {
                Some(slot) => slot.notified = true,
                None => break,
            }
            woken += 1;
        }
        woken
    }

    /// Notifies every waiter.
    #[cfg(test)]
    pub(crate) fn notify_all(&mut self) -> usize {
        self.notify(usize::MAX)
    }

    /// Whether the waiter in slot `at` was notified.
    pub(crate) fn is_notified(&mut self, at: usize) -> bool {
        self.store.slots().get(at).is_some_and(|slot| slot.notified)
    }

    /// Frees slot `at`; returns whether its waiter had been notified.
    pub(crate) fn leave(&mut self, at: usize) -> bool {
        let slots = self.store.slots();
        let Some(slot) = slots.get_mut(at) else {
            return false;
        };
        let notified = slot.notified;
        *slot = Slot::default();
        while self.high > 0 && slots[self.high - 1].ticket == 0 {
            self.high -= 1;
        }
        notified
    }

    /// How many are waiting (notified or not, until they leave).
    #[cfg(test)]
    pub(crate) fn len(&mut self) -> usize {
        let high = self.high;
        self.store.slots()[..high]
            .iter()
            .filter(|slot| slot.ticket != 0)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_skips_waiters_that_left_and_wakes_the_oldest_first() {
        let mut waiters = Waiters::new([Slot::default(); 4]);
        let first = waiters.enqueue().expect("room");
        let second = waiters.enqueue().expect("room");
        let third = waiters.enqueue().expect("room");
        // The first waiter times out before anyone notifies.
        assert!(!waiters.leave(first));
        assert_eq!(waiters.notify(1), 1);
        assert!(
            waiters.is_notified(second),
            "the oldest live waiter is woken"
        );
        assert!(!waiters.is_notified(third));
        assert!(waiters.leave(second));
        assert_eq!(waiters.notify_all(), 1);
        assert!(waiters.leave(third));
        assert_eq!((waiters.len(), waiters.notify(5)), (0, 0));
    }

    #[test]
    fn a_fixed_table_fills_and_a_vec_grows() {
        let mut fixed = Waiters::new([Slot::default(); 2]);
        assert!(fixed.enqueue().is_some() && fixed.enqueue().is_some());
        assert!(fixed.enqueue().is_none());
        let mut growing = Waiters::new(Vec::new());
        for _ in 0..100 {
            assert!(growing.enqueue().is_some());
        }
        assert_eq!(growing.len(), 100);
        assert_eq!(growing.notify(30), 30);
    }

    #[test]
    fn a_freed_slot_is_reused_with_a_newer_ticket() {
        let mut waiters = Waiters::new([Slot::default(); 2]);
        let old = waiters.enqueue().expect("room");
        let newer = waiters.enqueue().expect("room");
        waiters.leave(old);
        let newest = waiters.enqueue().expect("room");
        assert_eq!(newest, old);
        waiters.notify(1);
        assert!(waiters.is_notified(newer) && !waiters.is_notified(newest));
    }
}

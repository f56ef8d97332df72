//! A message ring in shared memory: the channel under [`Queue`] and [`Pipe`].
//!
//! Messages (length-prefixed byte strings) go into a circular buffer guarded
//! by a robust process-shared mutex, with condition variables for "not empty",
//! "not full" and "all tasks done". A reader that finds the ring empty spins
//! for a few microseconds, watching an atomic count, before it parks: when the
//! writer runs on another core that keeps a ping-pong entirely in user space
//! (~1 µs), instead of paying two futex wake-ups (~60 µs) per round trip.
//!
//! [`Queue`]: crate::multiprocessing::Queue
//! [`Pipe`]: crate::multiprocessing::Pipe

use crate::error::{Error, Result};
use crate::sys::deadline::Deadline;
use crate::sys::shm::Shared;
use crate::sys::spin::spin_until;
use crate::sys::sync::{RawCond, RawMutex};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long a reader looks again (yielding the core between looks, see
/// `sys::spin`) before parking: a message from a writer usually lands within
/// it, and a reader that never parks is never woken (the futex round trip is
/// most of a small message's cost).
const SPIN: Duration = Duration::from_micros(50);
const HEADER: usize = 4;

#[derive(Default)]
struct State {
    read: usize,
    write: usize,
    used: usize,
    unfinished: usize,
}

#[repr(C, align(64))]
pub(crate) struct Ring {
    mutex: RawMutex,
    not_empty: RawCond,
    not_full: RawCond,
    all_done: RawCond,
    state: UnsafeCell<State>,
    capacity: usize,
    /// At most this many messages at once (0: as many as fit).
    max_messages: usize,
    /// Messages in the ring, readable without the lock (for spinning and `qsize`).
    count: AtomicUsize,
}

// SAFETY: `state` and the buffer are only touched with `mutex` held.
unsafe impl Sync for Ring {}

/// A handle to a ring; clones share it.
#[derive(Clone)]
pub(crate) struct RingHandle {
    ring: Shared<Ring>,
}

struct Locked<'a> {
    ring: &'a Ring,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let _ = self.ring.mutex.unlock();
    }
}

impl Locked<'_> {
    fn state(&mut self) -> &mut State {
        // SAFETY: a Locked exists only while the mutex is held.
        unsafe { &mut *self.ring.state.get() }
    }
}

impl RingHandle {
    /// A ring with `capacity` bytes for messages.
    pub(crate) fn new(capacity: usize) -> Result<RingHandle> {
        RingHandle::bounded(capacity, 0)
    }

    /// A ring with `capacity` bytes for at most `max_messages` messages (0: no limit).
    pub(crate) fn bounded(capacity: usize, max_messages: usize) -> Result<RingHandle> {
        // SAFETY: `at` is fresh zeroed memory with room for the ring and its
        // buffer; on `Ok` every field is initialized.
        let ring = unsafe {
            Shared::try_new_with(capacity, |at: *mut Ring| {
                RawMutex::init(std::ptr::addr_of_mut!((*at).mutex), false)?;
                RawCond::init(std::ptr::addr_of_mut!((*at).not_empty))?;
                RawCond::init(std::ptr::addr_of_mut!((*at).not_full))?;
                RawCond::init(std::ptr::addr_of_mut!((*at).all_done))?;
                std::ptr::addr_of_mut!((*at).capacity).write(capacity);
                std::ptr::addr_of_mut!((*at).max_messages).write(max_messages);
                Ok(())
            })?
        };
        Ok(RingHandle { ring })
    }

    fn ring(&self) -> &Ring {
        self.ring.get()
    }

    fn lock(&self, deadline: &Deadline) -> Result<Locked<'_>> {
        self.ring().mutex.lock(deadline)?;
        Ok(Locked { ring: self.ring() })
    }

    fn copy_in(&self, at: usize, bytes: &[u8]) {
        let capacity = self.ring().capacity;
        let first = bytes.len().min(capacity - at);
        let buffer = self.ring.tail();
        // SAFETY: at < capacity, and both pieces stay inside the buffer, which
        // only the lock holder touches.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), buffer.add(at), first);
            std::ptr::copy_nonoverlapping(bytes.as_ptr().add(first), buffer, bytes.len() - first);
        }
    }

    fn copy_out(&self, at: usize, out: &mut [u8]) {
        let capacity = self.ring().capacity;
        let first = out.len().min(capacity - at);
        let buffer = self.ring.tail();
        // SAFETY: as in copy_in.
        unsafe {
            std::ptr::copy_nonoverlapping(buffer.add(at), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(buffer, out.as_mut_ptr().add(first), out.len() - first);
        }
    }

    /// Appends a message, waiting (interruptibly) for room. With `alive`, gives
    /// up with `Err(BrokenPipe)` once nobody can read any more.
    pub(crate) fn push(
        &self,
        message: &[u8],
        deadline: &Deadline,
        alive: Option<&dyn Fn() -> bool>,
    ) -> Result<()> {
        let needed = HEADER + message.len();
        let capacity = self.ring().capacity;
        if needed > capacity {
            return Err(Error::TooLarge {
                size: message.len(),
                capacity: capacity - HEADER,
            });
        }
        let max = self.ring().max_messages;
        let mut locked = self.lock(deadline)?;
        while capacity - locked.state().used < needed || (max > 0 && self.len() >= max) {
            if alive.is_some_and(|alive| !alive()) {
                return Err(Error::BrokenPipe);
            }
            let slice = deadline.slice()?;
            self.ring().not_full.wait_slice(&self.ring().mutex, slice)?;
        }
        let at = locked.state().write;
        let length = (message.len() as u32).to_le_bytes();
        self.copy_in(at, &length);
        self.copy_in((at + HEADER) % capacity, message);
        let state = locked.state();
        state.write = (at + needed) % capacity;
        state.used += needed;
        state.unfinished += 1;
        self.ring().count.fetch_add(1, Ordering::Release);
        drop(locked);
        self.ring().not_empty.notify_one();
        Ok(())
    }

    /// Takes the oldest message, waiting until `deadline`. With `alive`, gives
    /// up with `Err(Eof)` once the ring is empty and no writer is left.
    pub(crate) fn pop(
        &self,
        deadline: &Deadline,
        alive: Option<&dyn Fn() -> bool>,
    ) -> Result<Vec<u8>> {
        self.spin_for_message(deadline);
        let mut locked = self.lock(deadline)?;
        while locked.state().used == 0 {
            if alive.is_some_and(|alive| !alive()) {
                return Err(Error::Eof);
            }
            let slice = deadline.slice()?;
            self.ring()
                .not_empty
                .wait_slice(&self.ring().mutex, slice)?;
        }
        let capacity = self.ring().capacity;
        let at = locked.state().read;
        let mut length = [0u8; HEADER];
        self.copy_out(at, &mut length);
        let len = u32::from_le_bytes(length) as usize;
        let mut message = vec![0u8; len];
        self.copy_out((at + HEADER) % capacity, &mut message);
        let state = locked.state();
        state.read = (at + HEADER + len) % capacity;
        state.used -= HEADER + len;
        self.ring().count.fetch_sub(1, Ordering::Release);
        drop(locked);
        self.ring().not_full.notify_one();
        Ok(message)
    }

    /// Takes the oldest message if there is one.
    pub(crate) fn try_pop(&self) -> Result<Option<Vec<u8>>> {
        if self.len() == 0 {
            return Ok(None);
        }
        match self.pop(&Deadline::after(Some(Duration::ZERO)), None) {
            Ok(message) => Ok(Some(message)),
            Err(Error::Timeout) => Ok(None),
            Err(other) => Err(other),
        }
    }

    fn spin_for_message(&self, deadline: &Deadline) {
        if self.len() > 0 || deadline.expired() {
            return;
        }
        spin_until(SPIN, || self.len() > 0);
    }

    /// Waits until a message is there (`Ok(true)`), no writer is left
    /// (`Ok(true)`: a read would not block), or the deadline passes (`Ok(false)`).
    pub(crate) fn wait_readable(
        &self,
        deadline: &Deadline,
        alive: &dyn Fn() -> bool,
    ) -> Result<bool> {
        self.spin_for_message(deadline);
        let mut locked = self.lock(deadline)?;
        while locked.state().used == 0 {
            if !alive() {
                return Ok(true);
            }
            let slice = match deadline.slice() {
                Ok(slice) => slice,
                Err(Error::Timeout) => return Ok(false),
                Err(other) => return Err(other),
            };
            self.ring()
                .not_empty
                .wait_slice(&self.ring().mutex, slice)?;
        }
        Ok(true)
    }

    /// Messages waiting (a snapshot).
    pub(crate) fn len(&self) -> usize {
        self.ring().count.load(Ordering::Acquire)
    }

    /// Whether the message limit is reached (a snapshot; never for a ring
    /// bounded by bytes only).
    pub(crate) fn full(&self) -> bool {
        let max = self.ring().max_messages;
        max > 0 && self.len() >= max
    }

    /// Marks one message as processed (`JoinableQueue::task_done`).
    pub(crate) fn task_done(&self) -> Result<()> {
        let mut locked = self.lock(&Deadline::forever())?;
        let state = locked.state();
        if state.unfinished == 0 {
            return Err(Error::TooManyReleases);
        }
        state.unfinished -= 1;
        if state.unfinished == 0 {
            drop(locked);
            self.ring().all_done.notify_all();
        }
        Ok(())
    }

    /// Waits (interruptibly) until every message put was marked done.
    pub(crate) fn join(&self) -> Result<()> {
        let deadline = Deadline::forever();
        let mut locked = self.lock(&deadline)?;
        while locked.state().unfinished > 0 {
            let slice = deadline.slice()?;
            self.ring().all_done.wait_slice(&self.ring().mutex, slice)?;
        }
        Ok(())
    }

    /// Wakes readers so they re-check whether writers are still alive.
    pub(crate) fn wake_readers(&self) {
        self.ring().not_empty.notify_all();
        self.ring().not_full.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_wrap_around_the_buffer_intact() {
        let ring = RingHandle::new(64).expect("ring");
        let forever = Deadline::forever();
        for round in 0..50u8 {
            let message: Vec<u8> = (0..(round % 40)).map(|i| i ^ round).collect();
            ring.push(&message, &forever, None).expect("push");
            assert_eq!(ring.len(), 1);
            assert_eq!(ring.pop(&forever, None).expect("pop"), message);
        }
        assert!(matches!(
            ring.push(&[0; 61], &forever, None),
            Err(Error::TooLarge { .. })
        ));
        assert_eq!(ring.try_pop().expect("try"), None);
    }

    #[test]
    fn a_ring_bounded_by_messages_refuses_one_more() {
        let ring = RingHandle::bounded(1024, 2).expect("ring");
        let forever = Deadline::forever();
        ring.push(b"a", &forever, None).expect("one");
        assert!(!ring.full());
        ring.push(b"b", &forever, None).expect("two");
        assert!(ring.full());
        let soon = Deadline::after(Some(Duration::from_millis(5)));
        assert!(matches!(ring.push(b"c", &soon, None), Err(Error::Timeout)));
        assert_eq!(ring.pop(&forever, None).expect("pop"), b"a");
        ring.push(b"c", &forever, None).expect("room again");
    }
}

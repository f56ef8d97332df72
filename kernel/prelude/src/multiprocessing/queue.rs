//! [`Queue`] and [`JoinableQueue`]: many producers and consumers, any processes.

use super::Result;
use crate::codec;
use crate::interrupt::Deadline;
use crate::sys::ring::RingHandle;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Borrow;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How many bytes of encoded items a queue holds by default before `put` waits.
pub const DEFAULT_CAPACITY: usize = 4 << 20;

/// A first-in first-out queue shared between processes, like Python's
/// `multiprocessing.Queue`. Items are encoded (serde) into shared memory, so
/// they may be anything `Serialize + DeserializeOwned`.
///
/// The queue holds [`DEFAULT_CAPACITY`] bytes of encoded items (or what
/// [`with_capacity`](Queue::with_capacity) says); a `put` into a full queue
/// waits — interruptibly — for room, and never drops an item.
pub struct Queue<T> {
    ring: RingHandle,
    closed: Arc<AtomicBool>,
    _items: PhantomData<fn() -> T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            ring: self.ring.clone(),
            closed: Arc::clone(&self.closed),
            _items: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.ring.len())
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned + Send> Queue<T> {
    /// An empty queue.
    pub fn new() -> Result<Queue<T>> {
        Queue::with_capacity(DEFAULT_CAPACITY)
    }

    /// An empty queue holding up to `bytes` of encoded items.
    pub fn with_capacity(bytes: usize) -> Result<Queue<T>> {
        Ok(Queue {
            ring: RingHandle::new(bytes.max(64))?,
            closed: Arc::new(AtomicBool::new(false)),
            _items: PhantomData,
        })
    }

    /// Adds an item, waiting (interruptibly) while the queue is full.
    pub fn put(&self, item: impl Borrow<T>) -> Result<()> {
        self.put_deadline(item.borrow(), Deadline::forever())
    }

    /// Adds an item, waiting at most `timeout` for room (`Err(Timeout)`, like Python's `Full`).
    pub fn put_timeout(&self, item: impl Borrow<T>, timeout: Duration) -> Result<()> {
        self.put_deadline(item.borrow(), Deadline::after(Some(timeout)))
    }

    fn put_deadline(&self, item: &T, deadline: Deadline) -> Result<()> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(super::Error::Closed);
        }
        self.ring.push(&codec::encode(item)?, &deadline, None)
    }

    /// Removes and returns the oldest item, waiting (interruptibly) for one.
    pub fn get(&self) -> Result<T> {
        codec::decode(&self.ring.pop(&Deadline::forever(), None)?)
    }

    /// Like [`get`](Queue::get), waiting at most `timeout` (`Err(Timeout)`, like Python's `Empty`).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        codec::decode(&self.ring.pop(&Deadline::after(Some(timeout)), None)?)
    }

    /// The oldest item if there is one, without waiting.
    pub fn try_get(&self) -> Result<Option<T>> {
        self.ring
            .try_pop()?
            .map(|bytes| codec::decode(&bytes))
            .transpose()
    }

    /// Whether the queue is empty (a snapshot, as in Python).
    pub fn empty(&self) -> bool {
        self.ring.len() == 0
    }

    /// How many items are queued (a snapshot).
    pub fn qsize(&self) -> usize {
        self.ring.len()
    }

    /// Says this process will put nothing more; later `put`s here fail with `Err(Closed)`.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

/// A [`Queue`] whose consumers report each item done, so a producer can
/// [`join`](JoinableQueue::join) until all are processed.
pub struct JoinableQueue<T> {
    queue: Queue<T>,
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T> std::fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("qsize", &self.queue.ring.len())
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned + Send> JoinableQueue<T> {
    /// An empty queue.
    pub fn new() -> Result<JoinableQueue<T>> {
        Ok(JoinableQueue {
            queue: Queue::new()?,
        })
    }

    /// Marks one item taken with `get` as processed.
    pub fn task_done(&self) -> Result<()> {
        self.queue.ring.task_done()
    }

    /// Waits (interruptibly) until every item put has been marked done.
    pub fn join(&self) -> Result<()> {
        self.queue.ring.join()
    }
}

impl<T> std::ops::Deref for JoinableQueue<T> {
    type Target = Queue<T>;
    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

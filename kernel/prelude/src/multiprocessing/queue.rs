//! [`Queue`], [`JoinableQueue`] and [`SimpleQueue`]: many producers and
//! consumers, any processes.

use super::{Error, Result};
use crate::codec;
use crate::sys::deadline::Deadline;
use crate::sys::ring::RingHandle;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Borrow;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// How many bytes of encoded items a queue holds by default before `put` waits.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{DEFAULT_CAPACITY, Queue};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let same = Queue::<u8>::with_capacity(DEFAULT_CAPACITY)?; // what `Queue::new` makes
/// assert!(same.empty());
/// # Ok(())
/// # }
/// ```
pub const DEFAULT_CAPACITY: usize = 4 << 20;

/// A first-in first-out queue shared between processes, like Python's
/// `multiprocessing.Queue`. Items are encoded (serde) into shared memory, so
/// they may be anything `Serialize + DeserializeOwned`.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Process, Queue};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let q = Queue::<i32>::new()?;
/// let producer = q.clone();
/// let mut p = Process::new(move || {
///     for n in [1, 2, 3] {
///         producer.put(n * n).expect("put");
///     }
/// });
/// p.start()?;
/// assert_eq!([q.get()?, q.get()?, q.get()?], [1, 4, 9]);
/// p.join()?;
/// # Ok(())
/// # }
/// ```
///
/// A queue holds [`DEFAULT_CAPACITY`] bytes of encoded items (or what
/// [`with_capacity`](Queue::with_capacity) says), and at most `maxsize` items
/// when made by [`with_maxsize`](Queue::with_maxsize); a `put` into a full
/// queue waits — interruptibly — for room, and never drops an item.
///
/// [`close`](Queue::close) works as in Python: afterwards `put` and `get` in
/// this process are `Err(Closed)` (a `get` blocked in another thread of this
/// process returns so too), while other processes — including children
/// forked later — keep using the queue.
pub struct Queue<T> {
    ring: RingHandle,
    /// The pid of the process that closed this queue (0: open).
    closed_by: Arc<AtomicI32>,
    _items: PhantomData<fn() -> T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            ring: self.ring.clone(),
            closed_by: Arc::clone(&self.closed_by),
            _items: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.ring.len())
            .field("closed", &self.closed())
            .finish()
    }
}

impl<T> Queue<T> {
    /// Whether this process closed the queue.
    fn closed(&self) -> bool {
        let by = self.closed_by.load(Ordering::Acquire);
        by != 0 && by == crate::os::getpid()
    }

    fn check_open(&self) -> Result<()> {
        if self.closed() {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// Whether a `get` would return at once (an item, or `Err(Closed)`).
    pub(crate) fn readable(&self) -> bool {
        self.ring.len() > 0 || self.closed()
    }
}

impl<T: Serialize + DeserializeOwned + Send> Queue<T> {
    /// An empty queue (Python's `Queue()`).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Queue;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(Queue::<String>::new()?.empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new() -> Result<Queue<T>> {
        Queue::with_capacity(DEFAULT_CAPACITY)
    }

    /// An empty queue holding at most `maxsize` items (Python's
    /// `Queue(maxsize)`; 0 means no limit but room).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Error, Queue};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = Queue::<u8>::with_maxsize(1)?;
    /// q.put(1)?;
    /// assert!(q.full());
    /// assert!(matches!(q.put_nowait(2), Err(Error::Full)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_maxsize(maxsize: usize) -> Result<Queue<T>> {
        Queue::build(DEFAULT_CAPACITY, maxsize)
    }

    /// An empty queue holding up to `bytes` of encoded items.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Queue;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = Queue::<u64>::with_capacity(64)?;
    /// while q.put_timeout(7, Duration::from_millis(1)).is_ok() {}
    /// assert!(q.qsize() > 0); // full: as many as 64 bytes hold
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_capacity(bytes: usize) -> Result<Queue<T>> {
        Queue::build(bytes, 0)
    }

    fn build(bytes: usize, maxsize: usize) -> Result<Queue<T>> {
        Ok(Queue {
            ring: RingHandle::bounded(bytes.max(64), maxsize)?,
            closed_by: Arc::new(AtomicI32::new(0)),
            _items: PhantomData,
        })
    }

    /// Adds an item, waiting (interruptibly) while the queue is full.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Queue;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = Queue::<String>::new()?;
    /// q.put("owned".to_string())?;
    /// q.put(&"borrowed".to_string())?;
    /// assert_eq!(q.qsize(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn put(&self, item: impl Borrow<T>) -> Result<()> {
        self.put_deadline(item.borrow(), Deadline::forever())
    }

    /// Adds an item, waiting at most `timeout` for room (`Err(Timeout)`).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Error, Queue};
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = Queue::<u8>::with_maxsize(1)?;
    /// q.put_timeout(1, Duration::from_millis(10))?;
    /// assert!(matches!(q.put_timeout(2, Duration::from_millis(10)), Err(Error::Timeout)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn put_timeout(&self, item: impl Borrow<T>, timeout: Duration) -> Result<()> {
        self.put_deadline(item.borrow(), Deadline::after(Some(timeout)))
    }

    /// Adds an item if there is room now, else `Err(Full)` (Python's
    /// `put_nowait`, which raises `queue.Full`).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Error, Queue};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = Queue::<u8>::with_maxsize(2)?;
    /// q.put_nowait(1)?;
    /// q.put_nowait(2)?;
    /// assert!(matches!(q.put_nowait(3), Err(Error::Full)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn put_nowait(&self, item: impl Borrow<T>) -> Result<()> {
        match self.put_deadline(item.borrow(), Deadline::after(Some(Duration::ZERO))) {
            Err(Error::Timeout) => Err(Error::Full),
            other => other,
        }
    }

    fn put_deadline(&self, item: &T, deadline: Deadline) -> Result<()> {
        self.check_open()?;
        let open = || !self.closed();
        match self
            .ring
            .push(&codec::encode(item)?, &deadline, Some(&open))
        {
            Err(Error::BrokenPipe) => Err(Error::Closed),
            other => other,
        }
    }

    /// Removes and returns the oldest item, waiting (interruptibly) for one.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Queue;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = Queue::<(String, u32)>::new()?;
    /// q.put(("Sam".to_string(), 10))?;
    /// assert_eq!(q.get()?, ("Sam".to_string(), 10));
    /// # Ok(())
    /// # }
    /// ```
    pub fn get(&self) -> Result<T> {
        self.get_deadline(Deadline::forever())
    }

    /// Like [`get`](Queue::get), waiting at most `timeout` (`Err(Timeout)`).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Error, Queue};
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = Queue::<u8>::new()?;
    /// assert!(matches!(q.get_timeout(Duration::from_millis(10)), Err(Error::Timeout)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_deadline(Deadline::after(Some(timeout)))
    }

    /// The oldest item if there is one now, else `Err(Empty)` (Python's
    /// `get_nowait`, which raises `queue.Empty`).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Error, Queue};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = Queue::<u8>::new()?;
    /// assert!(matches!(q.get_nowait(), Err(Error::Empty)));
    /// q.put(5)?;
    /// assert_eq!(q.get_nowait()?, 5);
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_nowait(&self) -> Result<T> {
        self.try_get()?.ok_or(Error::Empty)
    }

    /// The oldest item if there is one, without waiting (`Ok(None)` if empty).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Queue;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = Queue::<u8>::new()?;
    /// assert_eq!(q.try_get()?, None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_get(&self) -> Result<Option<T>> {
        self.check_open()?;
        self.ring
            .try_pop()?
            .map(|bytes| codec::decode(&bytes))
            .transpose()
    }

    fn get_deadline(&self, deadline: Deadline) -> Result<T> {
        self.check_open()?;
        let open = || !self.closed();
        match self.ring.pop(&deadline, Some(&open)) {
            Ok(bytes) => codec::decode(&bytes),
            Err(Error::Eof) => Err(Error::Closed),
            Err(other) => Err(other),
        }
    }

    /// Whether the queue is empty (a snapshot, as in Python).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Queue;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = Queue::<u8>::new()?;
    /// assert!(q.empty());
    /// q.put(1)?;
    /// assert!(!q.empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn empty(&self) -> bool {
        self.ring.len() == 0
    }

    /// Whether the queue holds `maxsize` items (a snapshot; always `false`
    /// without a `maxsize`, as in Python).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Queue;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(!Queue::<u8>::new()?.full());
    /// # Ok(())
    /// # }
    /// ```
    pub fn full(&self) -> bool {
        self.ring.full()
    }

    /// How many items are queued (a snapshot).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Queue;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = Queue::<u8>::new()?;
    /// q.put(1)?;
    /// q.put(2)?;
    /// assert_eq!(q.qsize(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn qsize(&self) -> usize {
        self.ring.len()
    }

    /// Says this process will use the queue no more: later `put`s and `get`s
    /// here are `Err(Closed)`, and calls blocked in other threads of this
    /// process return so. Other processes are not affected.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Error, Process, Queue};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = Queue::<u8>::new()?;
    /// q.put(1)?;
    /// q.close();
    /// assert!(matches!(q.put(2), Err(Error::Closed)));
    /// assert!(matches!(q.get(), Err(Error::Closed)));
    /// let child_view = q.clone();
    /// let mut p = Process::new(move || assert_eq!(child_view.get().expect("open in the child"), 1));
    /// p.start()?;
    /// p.join()?;
    /// assert_eq!(p.exitcode(), Some(0));
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(&self) {
        self.closed_by.store(crate::os::getpid(), Ordering::Release);
        self.ring.wake_readers();
    }
}

/// A [`Queue`] whose consumers report each item done, so a producer can
/// [`join`](JoinableQueue::join) until all are processed.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{JoinableQueue, Process};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let q = JoinableQueue::<u32>::new()?;
/// for n in 0..3 {
///     q.put(n)?;
/// }
/// let worker = q.clone();
/// let mut p = Process::new(move || {
///     for _ in 0..3 {
///         worker.get().expect("get");
///         worker.task_done().expect("done");
///     }
/// });
/// p.start()?;
/// q.join()?; // every item was marked done
/// p.join()?;
/// # Ok(())
/// # }
/// ```
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
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::JoinableQueue;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// JoinableQueue::<u8>::new()?.join()?; // nothing put: returns at once
    /// # Ok(())
    /// # }
    /// ```
    pub fn new() -> Result<JoinableQueue<T>> {
        Ok(JoinableQueue {
            queue: Queue::new()?,
        })
    }

    /// An empty queue holding at most `maxsize` items.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::JoinableQueue;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = JoinableQueue::<u8>::with_maxsize(1)?;
    /// q.put(1)?;
    /// assert!(q.full());
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_maxsize(maxsize: usize) -> Result<JoinableQueue<T>> {
        Ok(JoinableQueue {
            queue: Queue::with_maxsize(maxsize)?,
        })
    }

    /// Marks one item taken with `get` as processed.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Error, JoinableQueue};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = JoinableQueue::<u8>::new()?;
    /// assert!(matches!(q.task_done(), Err(Error::TooManyReleases)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn task_done(&self) -> Result<()> {
        self.queue.ring.task_done()
    }

    /// Waits (interruptibly) until every item put has been marked done.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::JoinableQueue;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = JoinableQueue::<u8>::new()?;
    /// q.put(1)?;
    /// q.get()?;
    /// q.task_done()?;
    /// q.join()?;
    /// # Ok(())
    /// # }
    /// ```
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

/// The simplest queue between processes, like Python's
/// `multiprocessing.SimpleQueue`: `put`, `get`, `empty` and `close`.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Process, SimpleQueue};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let q = SimpleQueue::<String>::new()?;
/// let sender = q.clone();
/// let mut p = Process::new(move || sender.put("hello".to_string()).expect("put"));
/// p.start()?;
/// assert_eq!(q.get()?, "hello");
/// p.join()?;
/// # Ok(())
/// # }
/// ```
pub struct SimpleQueue<T> {
    queue: Queue<T>,
}

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        SimpleQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T> std::fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("empty", &(self.queue.ring.len() == 0))
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned + Send> SimpleQueue<T> {
    /// An empty queue.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::SimpleQueue;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(SimpleQueue::<u8>::new()?.empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new() -> Result<SimpleQueue<T>> {
        Ok(SimpleQueue {
            queue: Queue::new()?,
        })
    }

    /// Adds an item, waiting (interruptibly) while the queue is full.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::SimpleQueue;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = SimpleQueue::<u8>::new()?;
    /// q.put(3)?;
    /// assert!(!q.empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn put(&self, item: impl Borrow<T>) -> Result<()> {
        self.queue.put(item)
    }

    /// Removes and returns the oldest item, waiting (interruptibly) for one.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::SimpleQueue;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = SimpleQueue::<u8>::new()?;
    /// q.put(3)?;
    /// assert_eq!(q.get()?, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn get(&self) -> Result<T> {
        self.queue.get()
    }

    /// Whether the queue is empty (a snapshot).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::SimpleQueue;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(SimpleQueue::<u8>::new()?.empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn empty(&self) -> bool {
        self.queue.empty()
    }

    /// Says this process will use the queue no more, as [`Queue::close`].
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Error, SimpleQueue};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = SimpleQueue::<u8>::new()?;
    /// q.close();
    /// assert!(matches!(q.get(), Err(Error::Closed)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(&self) {
        self.queue.close()
    }
}

impl<T> SimpleQueue<T> {
    /// Whether a `get` would return at once.
    pub(crate) fn readable(&self) -> bool {
        self.queue.readable()
    }
}

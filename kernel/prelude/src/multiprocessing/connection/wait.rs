//! [`wait`]: until one of many pipe ends, queues or processes is ready.
//!
//! Design: pipes and queues live in shared memory and have no file
//! descriptor to `poll`, so `wait` checks each object, spins for a few
//! microseconds (a message from another core usually arrives then), and
//! then sleeps in steps that grow from 100 µs to 5 ms, checking again after
//! each: a message is noticed within 5 ms at worst, and a long wait costs a
//! few hundred wake-ups a second. The sleep is a `poll` on the pidfds of the
//! processes waited for, so a process's exit ends it at once. Every step is
//! at most an interrupt slice, so the wait is interruptible.

use crate::multiprocessing::{
    Connection, Error, JoinableQueue, Process, Queue, Result, SimpleQueue,
};
use crate::sys::deadline::Deadline;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

/// How long `wait` spins before it sleeps: a message from another core
/// usually arrives within it (see the module's note).
const SPIN: Duration = Duration::from_micros(50);
/// The first sleep after the spin: short, since a message that missed the
/// spin often comes soon after.
const FIRST_STEP: Duration = Duration::from_micros(100);
/// The longest sleep, which the steps double up to: a message is noticed
/// within 5 ms at worst, and a long wait costs a few hundred wake-ups a second.
const LONGEST_STEP: Duration = Duration::from_millis(5);

/// Something [`wait`] can wait on: a pipe end ([`Connection`]), a queue, or
/// a [`Process`].
///
/// ```
/// use ferrokernel_prelude::multiprocessing::connection::Waitable;
/// use ferrokernel_prelude::multiprocessing::{Process, Queue};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let (q, mut p) = (Queue::<u8>::new()?, Process::new(|| {}));
/// let objects: [&dyn Waitable; 2] = [&q, &p];
/// assert!(!objects[0].ready() && objects[1].ready()); // never started: nothing to wait for
/// p.start()?;
/// p.join()?;
/// assert!(p.ready());
/// # Ok(())
/// # }
/// ```
pub trait Waitable {
    /// Whether waiting on it would end at once: a pipe end or queue has
    /// something to read (or its `recv`/`get` would fail at once, as at end
    /// of file or after `close`), a process has ended (or was never started).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Queue, connection::Waitable};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let q = Queue::<u8>::new()?;
    /// assert!(!q.ready());
    /// q.put(1)?;
    /// assert!(q.ready());
    /// # Ok(())
    /// # }
    /// ```
    fn ready(&self) -> bool;

    /// A descriptor that becomes readable when the object is ready, if it has
    /// one (a process's pidfd): `wait` then wakes at once.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Queue, connection::Waitable};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(Queue::<u8>::new()?.poll_fd().is_none());
    /// # Ok(())
    /// # }
    /// ```
    fn poll_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

impl<T> Waitable for Connection<T> {
    fn ready(&self) -> bool {
        self.readable()
    }
}

impl<T> Waitable for Queue<T> {
    fn ready(&self) -> bool {
        self.readable()
    }
}

impl<T> Waitable for JoinableQueue<T> {
    fn ready(&self) -> bool {
        self.readable()
    }
}

impl<T> Waitable for SimpleQueue<T> {
    fn ready(&self) -> bool {
        self.readable()
    }
}

impl Waitable for Process {
    fn ready(&self) -> bool {
        !self.started() || self.exitcode().is_some()
    }

    fn poll_fd(&self) -> Option<BorrowedFd<'_>> {
        self.waiter().and_then(|waiter| waiter.pidfd())
    }
}

/// Waits (interruptibly) until at least one of `objects` is ready, and
/// returns those that are, in the order given — like Python's
/// `multiprocessing.connection.wait(object_list, timeout)`. With a
/// `timeout`, an empty list when it passes (`Some(Duration::ZERO)` only looks).
///
/// ```
/// use ferrokernel_prelude::multiprocessing::connection::{Waitable, wait};
/// use ferrokernel_prelude::multiprocessing::{Pipe, Process, Queue};
/// use std::time::Duration;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let (reader, writer) = Pipe::<String>::new()?;
/// let q = Queue::<u32>::new()?;
/// let mut p = Process::new(move || writer.send("hi".to_string()).expect("send"));
/// p.start()?;
/// let waited: [&dyn Waitable; 2] = [&reader, &q];
/// let ready = wait(waited, None)?;
/// assert_eq!(ready.len(), 1); // the pipe end, not the queue
/// assert_eq!(reader.recv()?, "hi");
/// assert!(wait([&q], Some(Duration::ZERO))?.is_empty());
/// p.join()?;
/// # Ok(())
/// # }
/// ```
pub fn wait<'a, W>(
    objects: impl IntoIterator<Item = &'a W>,
    timeout: Option<Duration>,
) -> Result<Vec<&'a W>>
where
    W: Waitable + ?Sized + 'a,
{
    let objects: Vec<&W> = objects.into_iter().collect();
    let deadline = Deadline::after(timeout);
    let started = Instant::now();
    let mut step = FIRST_STEP;
    loop {
        let ready: Vec<&W> = objects.iter().copied().filter(|o| o.ready()).collect();
        if !ready.is_empty() {
            return Ok(ready);
        }
        let slice = match deadline.slice() {
            Ok(slice) => slice,
            Err(Error::Timeout) => return Ok(Vec::new()),
            Err(other) => return Err(other),
        };
        if started.elapsed() < SPIN {
            // Yielding, not spinning: a peer sharing this core runs meanwhile.
            std::thread::yield_now();
            continue;
        }
        sleep_on(&objects, slice.min(step));
        step = (step * 2).min(LONGEST_STEP);
    }
}

/// Sleeps `duration`, or less if a pidfd among `objects` becomes readable.
fn sleep_on<W: Waitable + ?Sized>(objects: &[&W], duration: Duration) {
    let mut fds: Vec<libc::pollfd> = objects
        .iter()
        .filter_map(|o| o.poll_fd())
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    if fds.is_empty() {
        std::thread::sleep(duration);
        return;
    }
    let timeout = libc::timespec {
        tv_sec: duration.as_secs() as libc::time_t,
        tv_nsec: duration.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `fds` is a live array of pollfds whose descriptors are borrowed
    // from `objects`, which outlive the call; `timeout` lives across it; a
    // null signal mask leaves the mask as it is.
    unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &timeout,
            std::ptr::null(),
        )
    };
}

//! [`Pipe`]: two connected ends, for two processes.

use super::{Error, Result};
use crate::codec;
use crate::sys::deadline::Deadline;
use crate::sys::ring::RingHandle;
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, recv, socketpair};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Borrow;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

/// Bytes each direction holds before `send` waits.
const CAPACITY: usize = 1 << 20;

/// Makes connected pairs, like Python's `multiprocessing.Pipe()`.
///
/// Messages travel through shared memory; each end also holds one end of a
/// socket pair that carries no data: when every copy of one end is closed (in
/// every process), the other end's `recv` returns `Err(Eof)` once it has read
/// what was left — it never hangs.
///
/// As in Python, a child process inherits a copy of every end that exists when
/// it starts (moved into its closure or not), and that copy counts as open
/// until the child exits. Moving an end into the child's closure closes it in
/// the parent; end a conversation with a message (like the seed's `"end"`)
/// when the other side must stop while a child still runs.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Pipe, Process};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let (parent, child) = Pipe::<String>::new()?;
/// let mut p = Process::new(move || {
///     let word = child.recv().expect("recv");
///     child.send(word.to_uppercase()).expect("send");
/// });
/// p.start()?;
/// parent.send("hey".to_string())?;
/// assert_eq!(parent.recv()?, "HEY");
/// p.join()?;
/// # Ok(())
/// # }
/// ```
pub struct Pipe<T>(PhantomData<T>);

impl<T: Serialize + DeserializeOwned + Send> Pipe<T> {
    /// A duplex pair: both ends send and receive.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pipe;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let (a, b) = Pipe::<u8>::new()?;
    /// a.send(1)?;
    /// b.send(2)?;
    /// assert_eq!((b.recv()?, a.recv()?), (1, 2));
    /// # Ok(())
    /// # }
    /// ```
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> Result<(Connection<T>, Connection<T>)> {
        let (a_to_b, b_to_a) = (RingHandle::new(CAPACITY)?, RingHandle::new(CAPACITY)?);
        let (a, b) = sockets()?;
        Ok((
            Connection::new(Some(b_to_a.clone()), Some(a_to_b.clone()), a),
            Connection::new(Some(a_to_b), Some(b_to_a), b),
        ))
    }

    /// A one-way pair `(receiver, sender)`, like `Pipe(duplex=False)`.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Error, Pipe};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let (receiver, sender) = Pipe::<u8>::one_way()?;
    /// sender.send(7)?;
    /// assert_eq!(receiver.recv()?, 7);
    /// assert!(matches!(receiver.send(1), Err(Error::BrokenPipe)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn one_way() -> Result<(Connection<T>, Connection<T>)> {
        let ring = RingHandle::new(CAPACITY)?;
        let (a, b) = sockets()?;
        Ok((
            Connection::new(Some(ring.clone()), None, a),
            Connection::new(None, Some(ring), b),
        ))
    }
}

fn sockets() -> Result<(OwnedFd, OwnedFd)> {
    Ok(socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?)
}

/// One end of a [`Pipe`]. Move it into a child process's closure to give it
/// to that process.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Connection, Pipe};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let (a, b): (Connection<u32>, Connection<u32>) = Pipe::new()?;
/// a.send(5)?;
/// assert!(b.poll(Some(std::time::Duration::ZERO))?);
/// # Ok(())
/// # }
/// ```
pub struct Connection<T> {
    incoming: Option<RingHandle>,
    outgoing: Option<RingHandle>,
    socket: Option<OwnedFd>,
    _messages: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Connection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("readable", &self.incoming.is_some())
            .field("writable", &self.outgoing.is_some())
            .field("closed", &self.socket.is_none())
            .finish()
    }
}

impl<T> Connection<T> {
    fn new(
        incoming: Option<RingHandle>,
        outgoing: Option<RingHandle>,
        socket: OwnedFd,
    ) -> Connection<T> {
        Connection {
            incoming,
            outgoing,
            socket: Some(socket),
            _messages: PhantomData,
        }
    }

    /// Whether some copy of the other end is still open somewhere.
    fn peer_alive(&self) -> bool {
        let Some(socket) = &self.socket else {
            return false;
        };
        let mut byte = [0u8; 1];
        // Nothing is ever written to the socket: end of file is the only thing
        // to read, and it means the other end is closed everywhere.
        !matches!(
            recv(
                socket.as_raw_fd(),
                &mut byte,
                MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT
            ),
            Ok(0)
        )
    }

    /// Whether a `recv` would return at once: a message is waiting, or the
    /// other end is closed everywhere (end of file). A one-way sending end never is.
    pub(crate) fn readable(&self) -> bool {
        match &self.incoming {
            Some(incoming) => incoming.len() > 0 || !self.peer_alive(),
            None => false,
        }
    }

    fn wake_peer(&self) {
        for ring in self.incoming.iter().chain(self.outgoing.iter()) {
            ring.wake_readers();
        }
    }

    /// Closes this end (also done on drop). The other end sees `Err(Eof)` once
    /// every copy of this end is closed.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Error, Pipe};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let (mut a, b) = Pipe::<u8>::new()?;
    /// a.close();
    /// assert!(matches!(b.recv(), Err(Error::Eof)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(&mut self) {
        if self.socket.take().is_some() {
            self.wake_peer();
        }
    }
}

impl<T: Serialize + DeserializeOwned + Send> Connection<T> {
    /// Sends a message; `Err(BrokenPipe)` when the other end is closed everywhere.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pipe;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let (a, b) = Pipe::<(String, u32)>::new()?;
    /// a.send(("Sam".to_string(), 10))?;
    /// assert_eq!(b.recv()?.1, 10);
    /// # Ok(())
    /// # }
    /// ```
    pub fn send(&self, message: impl Borrow<T>) -> Result<()> {
        let outgoing = self.outgoing.as_ref().ok_or(Error::BrokenPipe)?;
        if !self.peer_alive() {
            return Err(Error::BrokenPipe);
        }
        let alive = || self.peer_alive();
        outgoing.push(
            &codec::encode(message.borrow())?,
            &Deadline::forever(),
            Some(&alive),
        )
    }

    /// Receives the next message, waiting (interruptibly); `Err(Eof)` when the
    /// other end is closed everywhere and nothing is left.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Error, Pipe};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let (a, b) = Pipe::<u8>::new()?;
    /// a.send(3)?;
    /// drop(a);
    /// assert_eq!(b.recv()?, 3); // what was left, then end of file
    /// assert!(matches!(b.recv(), Err(Error::Eof)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn recv(&self) -> Result<T> {
        self.recv_deadline(Deadline::forever())
    }

    /// Like [`recv`](Connection::recv), waiting at most `timeout`.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Error, Pipe};
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let (_a, b) = Pipe::<u8>::new()?;
    /// assert!(matches!(b.recv_timeout(Duration::from_millis(10)), Err(Error::Timeout)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T> {
        self.recv_deadline(Deadline::after(Some(timeout)))
    }

    fn recv_deadline(&self, deadline: Deadline) -> Result<T> {
        let incoming = self.incoming.as_ref().ok_or(Error::Eof)?;
        let alive = || self.peer_alive();
        codec::decode(&incoming.pop(&deadline, Some(&alive))?)
    }

    /// Whether a `recv` would return at once (a message, or end of file),
    /// waiting at most `timeout`; `None` waits for ever (interruptibly), and
    /// `Some(Duration::ZERO)` does not wait — as in Python.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Pipe;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let (a, b) = Pipe::<u8>::new()?;
    /// assert!(!b.poll(Some(Duration::ZERO))?);
    /// a.send(1)?;
    /// assert!(b.poll(None)?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool> {
        let Some(incoming) = &self.incoming else {
            return Ok(false);
        };
        let alive = || self.peer_alive();
        let deadline = Deadline::after(timeout);
        incoming.wait_readable(&deadline, &alive)
    }
}

impl<T> Drop for Connection<T> {
    fn drop(&mut self) {
        self.close();
    }
}

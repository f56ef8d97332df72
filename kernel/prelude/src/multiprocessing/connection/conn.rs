//! [`Connection`]: one end of an authenticated socket, and [`Client`], which makes one.

use super::{Address, AuthKey, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_FRAME, ToAddress};
use crate::codec;
use crate::error::{Error, Result};
use crate::sys::challenge::{self, Frames};
use crate::sys::deadline::Deadline;
use crate::sys::endpoint;
use crate::sys::stream::Stream;
use crate::sys::wire::{self, FrameReader};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How long a reader spins before it sleeps: on loopback an answer usually
/// lands within it, and a reader that never sleeps is never woken (see
/// `sys::stream`).
pub(crate) const SPIN: Duration = Duration::from_micros(50);

/// One end of a connection made by a [`Listener`](super::Listener) or a
/// [`Client`], speaking CPython's `multiprocessing.connection` wire format.
///
/// [`send_bytes`](Connection::send_bytes) and
/// [`recv_bytes`](Connection::recv_bytes) exchange byte strings with any peer
/// that speaks it — a Python `Connection` included. [`send`](Connection::send)
/// and [`recv`](Connection::recv) carry any `serde` value, encoded with this
/// crate's own codec (postcard): Python's pickle is out of scope, so typed
/// messages are for Rust peers, and bytes for Python ones.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::connection::{Client, Listener};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let listener = Listener::bind(0u16, "secret")?;
/// let address = listener.address().clone();
/// let client = std::thread::spawn(move || -> ferrokernel_prelude::multiprocessing::Result<String> {
///     let conn = Client::connect(&address, "secret")?;
///     conn.send(&("hello".to_string(), 42u32))?;
///     conn.recv::<String>()
/// });
/// let conn = listener.accept()?;
/// let (greeting, n): (String, u32) = conn.recv()?;
/// conn.send(&format!("{greeting} {n}"))?;
/// assert_eq!(client.join().expect("client")?, "hello 42");
/// # Ok(())
/// # }
/// ```
///
/// Calls take `&self` and may come from several threads (each frame is sent
/// and received whole). Every wait is interruptible; a receive interrupted
/// part way through a frame carries on where it stopped on the next call. A
/// send interrupted after part of a frame went out would tear the stream, so
/// later sends return `Err(BrokenPipe)`; so do receives after a frame was
/// refused as too large ([`set_max_frame`](Connection::set_max_frame)).
pub struct Connection {
    stream: Stream,
    reader: Mutex<FrameReader>,
    writer: Mutex<()>,
    send_broken: AtomicBool,
    recv_broken: AtomicBool,
    max_frame: AtomicUsize,
    peer: Option<Address>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.stream.as_raw_fd())
            .field("peer", &self.peer)
            .finish()
    }
}

impl Connection {
    pub(crate) fn from_fd(fd: OwnedFd, max_frame: usize) -> Connection {
        let peer = endpoint::peer_of(&fd);
        Connection {
            stream: Stream::new(fd),
            reader: Mutex::new(FrameReader::default()),
            writer: Mutex::new(()),
            send_broken: AtomicBool::new(false),
            recv_broken: AtomicBool::new(false),
            max_frame: AtomicUsize::new(max_frame),
            peer,
        }
    }

    /// Sends `bytes` as one message (Python's `send_bytes`).
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
        self.send_deadline(bytes, &Deadline::forever())
    }

    pub(crate) fn send_deadline(&self, bytes: &[u8], deadline: &Deadline) -> Result<()> {
        let _turn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if self.send_broken.load(Ordering::Acquire) {
            return Err(Error::BrokenPipe);
        }
        wire::write_frame(&self.stream, bytes, deadline).map_err(|failure| {
            if failure.started {
                self.send_broken.store(true, Ordering::Release);
            }
            failure.error
        })
    }

    /// Receives the next message (Python's `recv_bytes`), waiting for it
    /// (interruptibly); `Err(Eof)` once the peer closed the connection.
    pub fn recv_bytes(&self) -> Result<Vec<u8>> {
        self.recv_deadline(&Deadline::forever())
    }

    /// Like [`recv_bytes`](Connection::recv_bytes), waiting at most `timeout`
    /// (`Err(Timeout)` then).
    ///
    /// ```
    /// # use ferrokernel_prelude::multiprocessing::{Error, connection::{Client, Listener}};
    /// # use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// # let listener = Listener::bind(0u16, "k")?;
    /// # let address = listener.address().clone();
    /// # let client = std::thread::spawn(move || Client::connect(&address, "k"));
    /// # let conn = listener.accept()?;
    /// # let _client = client.join().expect("client")?;
    /// let quiet = conn.recv_bytes_timeout(Duration::from_millis(10));
    /// assert!(matches!(quiet, Err(Error::Timeout)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn recv_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>> {
        self.recv_deadline(&Deadline::after(Some(timeout)))
    }

    pub(crate) fn recv_deadline(&self, deadline: &Deadline) -> Result<Vec<u8>> {
        let mut reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        if self.recv_broken.load(Ordering::Acquire) {
            return Err(Error::BrokenPipe);
        }
        let limit = self.max_frame.load(Ordering::Relaxed);
        let result = reader.read(&self.stream, limit, deadline, SPIN);
        if matches!(
            result,
            Err(Error::FrameTooLarge { .. } | Error::Malformed(_))
        ) {
            self.recv_broken.store(true, Ordering::Release);
        }
        result
    }

    /// Sends a value, encoded with this crate's codec (a Rust peer decodes it
    /// with [`recv`](Connection::recv)).
    pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.send_bytes(&codec::encode(value)?)
    }

    /// [`send`](Connection::send) and [`recv`](Connection::recv) for the
    /// crate's own background threads, which a notebook's interrupt must
    /// not stop (it is meant for the cell's call, not for them).
    pub(crate) fn send_uninterruptible<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.send_deadline(&codec::encode(value)?, &Deadline::uninterruptible())
    }

    pub(crate) fn recv_uninterruptible<T: DeserializeOwned>(&self) -> Result<T> {
        codec::decode(&self.recv_deadline(&Deadline::uninterruptible())?)
    }

    /// Receives a value sent with [`send`](Connection::send).
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T> {
        codec::decode(&self.recv_bytes()?)
    }

    /// Like [`recv`](Connection::recv), waiting at most `timeout`.
    pub fn recv_timeout<T: DeserializeOwned>(&self, timeout: Duration) -> Result<T> {
        codec::decode(&self.recv_bytes_timeout(timeout)?)
    }

    /// Whether a receive would return at once (a message has begun to
    /// arrive, or the peer closed), waiting at most `timeout`: `None` waits
    /// for ever (interruptibly), `Some(Duration::ZERO)` not at all — as in Python.
    ///
    /// ```
    /// # use ferrokernel_prelude::multiprocessing::connection::{Client, Listener};
    /// # use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// # let listener = Listener::bind(0u16, "k")?;
    /// # let address = listener.address().clone();
    /// # let client = std::thread::spawn(move || Client::connect(&address, "k"));
    /// # let conn = listener.accept()?;
    /// # let client = client.join().expect("client")?;
    /// assert!(!conn.poll(Some(Duration::ZERO))?);
    /// client.send_bytes(b"hi")?;
    /// assert!(conn.poll(Some(Duration::from_secs(5)))?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool> {
        // A thread blocked in a receive holds the reader: then only the
        // socket can tell.
        let buffered = self.reader.try_lock().is_ok_and(|reader| reader.buffered());
        Ok(buffered || self.stream.readable(&Deadline::after(timeout))?)
    }

    /// The largest message [`recv_bytes`](Connection::recv_bytes) accepts
    /// (default [`DEFAULT_MAX_FRAME`], 64 MiB).
    pub fn max_frame(&self) -> usize {
        self.max_frame.load(Ordering::Relaxed)
    }

    /// Sets the largest message accepted; a longer one is refused with
    /// `Err(FrameTooLarge)` before any of it is read.
    ///
    /// ```
    /// # use ferrokernel_prelude::multiprocessing::{Error, connection::{Client, Listener}};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// # let listener = Listener::bind(0u16, "k")?;
    /// # let address = listener.address().clone();
    /// # let client = std::thread::spawn(move || Client::connect(&address, "k"));
    /// # let conn = listener.accept()?;
    /// # let client = client.join().expect("client")?;
    /// conn.set_max_frame(4);
    /// client.send_bytes(b"too long")?;
    /// assert!(matches!(conn.recv_bytes(), Err(Error::FrameTooLarge { size: 8, limit: 4 })));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_max_frame(&self, bytes: usize) {
        self.max_frame.store(bytes, Ordering::Relaxed);
    }

    /// The peer's address (TCP peers, and Unix peers bound to a path).
    pub fn peer_address(&self) -> Option<&Address> {
        self.peer.as_ref()
    }

    /// Closes the connection (also done on drop); the peer's receives then
    /// return `Err(Eof)`.
    pub fn close(self) {}

    /// The handshake's view of this connection: frames with a deadline.
    pub(crate) fn handshake(&self, deadline: Deadline) -> Handshake<'_> {
        Handshake {
            conn: self,
            deadline,
        }
    }
}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl AsRawFd for Connection {
    fn as_raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
}

/// A connection during the authkey challenge: every frame within one deadline.
pub(crate) struct Handshake<'a> {
    conn: &'a Connection,
    deadline: Deadline,
}

impl Frames for Handshake<'_> {
    fn send_frame(&mut self, bytes: &[u8]) -> Result<()> {
        self.conn.send_deadline(bytes, &self.deadline)
    }

    fn recv_frame(&mut self, limit: usize) -> Result<Vec<u8>> {
        let mut reader = self
            .conn
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        reader.read(&self.conn.stream, limit, &self.deadline, Duration::ZERO)
    }
}

/// Connects to a [`Listener`](super::Listener) — ours or Python's (Python's
/// `multiprocessing.connection.Client`).
///
/// ```
/// use ferrokernel_prelude::multiprocessing::connection::{Client, Listener};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let listener = Listener::bind(0u16, b"secret")?;
/// let address = listener.address().clone();
/// let echo = std::thread::spawn(move || -> ferrokernel_prelude::multiprocessing::Result<()> {
///     let conn = listener.accept()?;
///     conn.send_bytes(&conn.recv_bytes()?)
/// });
/// let conn = Client::connect(&address, b"secret")?;
/// conn.send_bytes(b"ping")?;
/// assert_eq!(conn.recv_bytes()?, b"ping");
/// echo.join().expect("echo")?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub enum Client {}

impl Client {
    /// Connects to `address` and runs the authkey challenge both ways;
    /// `Err(AuthenticationError)` when the keys differ. The connection is
    /// made interruptibly; the challenge must finish within
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn connect(address: impl ToAddress, authkey: impl Into<AuthKey>) -> Result<Connection> {
        Client::connect_timeout(address, authkey, DEFAULT_HANDSHAKE_TIMEOUT)
    }

    /// Like [`connect`](Client::connect), with the whole of it — connecting
    /// and the challenge — within `timeout` (`Err(Timeout)` then).
    ///
    /// ```
    /// # use ferrokernel_prelude::multiprocessing::{Error, connection::Client};
    /// # use std::time::Duration;
    /// // A listening socket that never answers the challenge.
    /// let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    /// let address = silent.local_addr().expect("address");
    /// let attempt = Client::connect_timeout(address, "k", Duration::from_millis(50));
    /// assert!(matches!(attempt, Err(Error::Timeout)));
    /// ```
    pub fn connect_timeout(
        address: impl ToAddress,
        authkey: impl Into<AuthKey>,
        timeout: Duration,
    ) -> Result<Connection> {
        let address = address.to_address()?;
        let authkey = authkey.into();
        let deadline = Deadline::after(Some(timeout));
        let fd = endpoint::connect_at(&address, &deadline)?;
        let conn = Connection::from_fd(fd, DEFAULT_MAX_FRAME);
        challenge::client(&mut conn.handshake(deadline), authkey.as_bytes())?;
        Ok(conn)
    }
}

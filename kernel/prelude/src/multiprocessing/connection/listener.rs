//! [`Listener`]: a bound socket that hands out authenticated connections.

use super::{
    Address, AuthKey, Connection, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_FRAME, ToAddress,
};
use crate::error::Result;
use crate::sys::challenge;
use crate::sys::deadline::Deadline;
use crate::sys::endpoint;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// A socket listening for connections (Python's
/// `multiprocessing.connection.Listener`), over TCP or a Unix socket.
///
/// Every connection is challenged with the authkey in both directions, the
/// way CPython does, before [`accept`](Listener::accept) hands it out: a
/// Python `Client(address, authkey=...)` connects to it, and a peer with the
/// wrong key gets `AuthenticationError` (and so does `accept`).
///
/// ```
/// use ferrokernel_prelude::multiprocessing::connection::{Address, Client, Listener};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let listener = Listener::bind(0u16, "secret")?; // port 0: the system picks one
/// let Address::Tcp(bound) = listener.address() else { unreachable!() };
/// assert!(bound.ip().is_loopback() && bound.port() != 0);
/// let address = listener.address().clone();
/// let client = std::thread::spawn(move || Client::connect(address, "secret"));
/// let conn = listener.accept()?;
/// client.join().expect("client")?.send_bytes(b"hi")?;
/// assert_eq!(conn.recv_bytes()?, b"hi");
/// # Ok(())
/// # }
/// ```
///
/// A port alone (or `"localhost:port"`) binds the loopback interface: other
/// machines can connect only when asked for, with [`Address::any`] or an
/// interface's address. A Unix socket file is created owner-only (0600) and
/// removed when the listener is dropped in the process that bound it.
pub struct Listener {
    fd: OwnedFd,
    address: Address,
    authkey: AuthKey,
    max_frame: usize,
    handshake_timeout: Duration,
    owner: i32,
    last_accepted: Mutex<Option<Address>>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("address", &self.address)
            .finish()
    }
}

impl Listener {
    /// Binds `address` and listens; connections must prove `authkey`.
    pub fn bind(address: impl ToAddress, authkey: impl Into<AuthKey>) -> Result<Listener> {
        let (fd, address) = endpoint::listen_at(&address.to_address()?)?;
        Ok(Listener {
            fd,
            address,
            authkey: authkey.into(),
            max_frame: DEFAULT_MAX_FRAME,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            owner: crate::os::getpid(),
            last_accepted: Mutex::new(None),
        })
    }

    /// The address it listens at (with the port the system picked for port 0).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Waits (interruptibly) for a connection and authenticates it;
    /// `Err(AuthenticationError)` when the peer's key is wrong — the listener
    /// keeps listening, and the next `accept` takes the next peer. A peer that
    /// does not finish the challenge within the handshake timeout (10 s by
    /// default) is dropped with `Err(Timeout)`.
    pub fn accept(&self) -> Result<Connection> {
        self.accept_deadline(&Deadline::forever())
    }

    /// Like [`accept`](Listener::accept), waiting at most `timeout` for a peer
    /// to connect.
    ///
    /// ```
    /// # use ferrokernel_prelude::multiprocessing::{Error, connection::Listener};
    /// # use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let listener = Listener::bind(0u16, "k")?;
    /// assert!(matches!(listener.accept_timeout(Duration::from_millis(10)), Err(Error::Timeout)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn accept_timeout(&self, timeout: Duration) -> Result<Connection> {
        self.accept_deadline(&Deadline::after(Some(timeout)))
    }

    fn accept_deadline(&self, deadline: &Deadline) -> Result<Connection> {
        let fd = endpoint::accept_on(&self.fd, deadline)?;
        let conn = Connection::from_fd(fd, self.max_frame);
        *self
            .last_accepted
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = conn.peer_address().cloned();
        let handshake = Deadline::after(Some(self.handshake_timeout));
        challenge::server(&mut conn.handshake(handshake), self.authkey.as_bytes())?;
        Ok(conn)
    }

    /// The address of the last peer accepted (Python's `last_accepted`).
    pub fn last_accepted(&self) -> Option<Address> {
        self.last_accepted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sets the largest message the connections it accepts will receive
    /// (default [`DEFAULT_MAX_FRAME`]).
    ///
    /// ```
    /// # use ferrokernel_prelude::multiprocessing::connection::Listener;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut listener = Listener::bind(0u16, "k")?;
    /// listener.set_max_frame(1 << 20);
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_max_frame(&mut self, bytes: usize) {
        self.max_frame = bytes;
    }

    /// Sets how long a peer has to finish the authkey challenge (default 10 s).
    ///
    /// ```
    /// # use ferrokernel_prelude::multiprocessing::connection::Listener;
    /// # use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut listener = Listener::bind(0u16, "k")?;
    /// listener.set_handshake_timeout(Duration::from_secs(2));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_handshake_timeout(&mut self, timeout: Duration) {
        self.handshake_timeout = timeout;
    }

    /// Stops listening (also done on drop).
    pub fn close(self) {}
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Copies inherited by forked children leave the file to the owner.
        if let Address::Unix(path) = &self.address
            && crate::os::getpid() == self.owner
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

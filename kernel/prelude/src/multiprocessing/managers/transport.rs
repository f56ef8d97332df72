//! How a proxy reaches the server: the shared-memory mailbox when this
//! process was forked from the manager's creator, an authenticated socket
//! otherwise — one request, one response, either way.
//!
//! Socket connections are pooled per process: a call takes an idle one (or
//! opens one: connect, authkey challenge) and gives it back when the answer
//! is in, so threads calling at once each have their own, and a blocking
//! call holds one without stalling the others. A forked child never uses the
//! connections it inherited (they are its parent's streams): the pool
//! belongs to the process id that filled it.

use super::protocol::{Call, PROTOCOL_VERSION, Request, Response};
use crate::codec;
use crate::error::{Error, Malformed, Result};
use crate::multiprocessing::connection::{Address, AuthKey, Connection};
use crate::sys::deadline::Deadline;
use crate::sys::mailbox::{GRACE, MailboxHandle};
use crate::sys::{challenge, endpoint};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, PoisonError, TryLockError};
use std::time::Duration;

/// The largest response a client accepts: the mailbox's capacity.
const RESPONSE_LIMIT: usize = 256 << 20;
/// How long a connection has to connect and pass the challenge: enough for
/// a slow network's round trips, short enough that a `connect` to an
/// address nobody answers fails instead of hanging the cell.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections kept per process.
const POOLED: usize = 8;

pub(crate) struct Remote {
    address: Address,
    authkey: AuthKey,
    /// The process the pooled connections belong to.
    pid: AtomicI32,
    idle: Mutex<Vec<Connection>>,
}

pub(crate) enum Transport {
    Local(MailboxHandle),
    Remote(Remote),
}

/// Turns the errors of a dead or vanished server into `ManagerGone`.
fn gone(error: Error) -> Error {
    match error {
        Error::Eof | Error::BrokenPipe | Error::Malformed(Malformed::TruncatedFrame) => {
            Error::ManagerGone
        }
        Error::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::NotFound
            ) =>
        {
            Error::ManagerGone
        }
        other => other,
    }
}

impl Remote {
    fn open(&self) -> Result<Connection> {
        let deadline = Deadline::after(Some(CONNECT_TIMEOUT));
        let fd = endpoint::connect_at(&self.address, &deadline).map_err(gone)?;
        let conn = Connection::from_fd(fd, RESPONSE_LIMIT);
        challenge::client(&mut conn.handshake(deadline), self.authkey.as_bytes()).map_err(gone)?;
        Ok(conn)
    }

    fn take(&self) -> Result<Connection> {
        let pid = crate::os::getpid();
        let forked = self.pid.load(Ordering::Acquire) != pid;
        let pooled = match self.idle.try_lock() {
            Ok(mut idle) => {
                if forked {
                    // Inherited streams are the parent's: close our copies.
                    idle.clear();
                    self.pid.store(pid, Ordering::Release);
                }
                idle.pop()
            }
            // Held by a thread that did not survive a fork: go around it.
            Err(TryLockError::WouldBlock) if forked => None,
            Err(_) => self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop(),
        };
        match pooled {
            Some(conn) => Ok(conn),
            None => self.open(),
        }
    }

    fn give_back(&self, conn: Connection) {
        if self.pid.load(Ordering::Acquire) != crate::os::getpid() {
            return;
        }
        if let Ok(mut idle) = self.idle.try_lock()
            && idle.len() < POOLED
        {
            idle.push(conn);
        }
    }

    /// One exchange. An interrupt while the server works still waits
    /// [`GRACE`] for the answer (as the mailbox does); past that the
    /// connection, out of step now, is dropped.
    fn exchange(&self, call: &Call) -> Result<Response> {
        let conn = self.take()?;
        let deadline = Deadline::forever();
        conn.send_deadline(&codec::encode(call)?, &deadline)
            .map_err(gone)?;
        let answer = match conn.recv_deadline(&deadline) {
            Err(Error::Interrupted) => match conn.recv_deadline(&Deadline::after(Some(GRACE))) {
                Ok(bytes) => bytes,
                Err(Error::Timeout | Error::Interrupted) => return Err(Error::Interrupted),
                Err(other) => return Err(gone(other)),
            },
            other => other.map_err(gone)?,
        };
        let response = codec::decode(&answer)?;
        self.give_back(conn);
        Ok(response)
    }
}

impl Transport {
    /// The mailbox of a manager this process (or its parent) started.
    pub(crate) fn local(mailbox: MailboxHandle) -> Transport {
        Transport::Local(mailbox)
    }

    /// Connects to the manager at `address`, checking the protocol version.
    pub(crate) fn remote(address: Address, authkey: AuthKey) -> Result<Transport> {
        let remote = Remote {
            address,
            authkey,
            pid: AtomicI32::new(crate::os::getpid()),
            idle: Mutex::new(Vec::new()),
        };
        // The first connection is made here, so that a wrong key or address
        // is reported by `connect` itself rather than by the first call.
        let conn = remote.open()?;
        remote.give_back(conn);
        let transport = Transport::Remote(remote);
        match transport.call(Request::Hello(PROTOCOL_VERSION))? {
            Response::Hello(PROTOCOL_VERSION) => Ok(transport),
            Response::Hello(other) => Err(Error::Manager(format!(
                "the manager speaks protocol {other}, this crate {PROTOCOL_VERSION}"
            ))),
            _ => Err(Error::Malformed(Malformed::UnexpectedResponse)),
        }
    }

    fn exchange(&self, call: &Call) -> Result<Response> {
        match self {
            Transport::Local(mailbox) => codec::decode(&mailbox.call(&codec::encode(call)?)?),
            Transport::Remote(remote) => remote.exchange(call),
        }
    }

    /// Sends `request`; the server's refusals come back as errors.
    pub(crate) fn call(&self, request: Request) -> Result<Response> {
        match self.exchange(&Call {
            wait_ms: 0,
            request,
        })? {
            Response::IndexOutOfRange { index, len } => Err(Error::IndexOutOfRange { index, len }),
            Response::NotFound => Err(Error::NotFound),
            Response::KeyNotFound => Err(Error::KeyNotFound),
            Response::NotOwner => Err(Error::NotOwner),
            Response::Refused(why) => Err(Error::Manager(why)),
            other => Ok(other),
        }
    }

    /// Sends the request `make` builds until the answer is not `WouldBlock`,
    /// waiting (interruptibly, until `deadline`) for a change in between.
    pub(crate) fn call_until(
        &self,
        make: impl Fn() -> Request,
        deadline: &Deadline,
    ) -> Result<Response> {
        loop {
            match self.call(make())? {
                Response::WouldBlock(seen) => self.wait_change(seen, deadline)?,
                other => return Ok(other),
            }
        }
    }

    fn wait_change(&self, seen: u64, deadline: &Deadline) -> Result<()> {
        match self {
            Transport::Local(mailbox) => mailbox.wait_generation(seen, deadline),
            Transport::Remote(remote) => {
                let slice = deadline.slice()?;
                remote.exchange(&Call {
                    wait_ms: slice.as_millis() as u32,
                    request: Request::WaitChange(seen),
                })?;
                deadline.check()
            }
        }
    }

    /// The mailbox, for the manager that owns it.
    pub(crate) fn mailbox(&self) -> Option<&MailboxHandle> {
        match self {
            Transport::Local(mailbox) => Some(mailbox),
            Transport::Remote(_) => None,
        }
    }
}

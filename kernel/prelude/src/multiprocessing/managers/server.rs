//! The manager's server process: one [`Store`], served through the
//! shared-memory mailbox (main thread) and, for a manager started with
//! `serve`, through a socket (an accepting thread and a thread per
//! connection).
//!
//! The socket side never trusts its peers: a connection must pass the
//! authkey challenge within the handshake timeout before any request is
//! read; frames over the size limit, undecodable requests and peers that
//! vanish mid-request end (or are refused on) that connection only; a
//! request is applied only once it arrived whole, and answered only once
//! applied, so what a client saw acknowledged is in the store. Connections
//! beyond the limit are closed at once. Like Python's manager server, the
//! process ignores SIGINT: interrupts are for the notebook, not for it.

use super::protocol::{Call, Request, Response};
use super::store::Store;
use crate::codec;
use crate::error::{Error, Result};
use crate::multiprocessing::connection::{Address, AuthKey, Connection};
use crate::sys::challenge;
use crate::sys::deadline::Deadline;
use crate::sys::endpoint;
use crate::sys::mailbox::MailboxHandle;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How a networked manager treats its peers.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::managers::ServerOptions;
/// use std::time::Duration;
/// let options = ServerOptions::default()
///     .max_frame(1 << 20)
///     .handshake_timeout(Duration::from_secs(2))
///     .max_connections(16);
/// assert_eq!(options.frame_limit(), 1 << 20);
/// ```
#[derive(Debug, Clone)]
pub struct ServerOptions {
    max_frame: usize,
    handshake_timeout: Duration,
    max_connections: usize,
}

impl Default for ServerOptions {
    /// Frames up to [`DEFAULT_MAX_FRAME`](crate::multiprocessing::connection::DEFAULT_MAX_FRAME)
    /// (64 MiB), 10 s to pass the challenge, 128 connections at once.
    fn default() -> ServerOptions {
        ServerOptions {
            max_frame: crate::multiprocessing::connection::DEFAULT_MAX_FRAME,
            handshake_timeout: crate::multiprocessing::connection::DEFAULT_HANDSHAKE_TIMEOUT,
            max_connections: 128,
        }
    }
}

impl ServerOptions {
    /// The largest request accepted; a connection announcing a larger one is closed.
    pub fn max_frame(mut self, bytes: usize) -> ServerOptions {
        self.max_frame = bytes;
        self
    }

    /// How long a new connection has to pass the authkey challenge.
    pub fn handshake_timeout(mut self, timeout: Duration) -> ServerOptions {
        self.handshake_timeout = timeout;
        self
    }

    /// How many connections are served at once; more are closed at once.
    pub fn max_connections(mut self, connections: usize) -> ServerOptions {
        self.max_connections = connections;
        self
    }

    /// The frame limit set.
    pub fn frame_limit(&self) -> usize {
        self.max_frame
    }
}

/// A bound socket, handed to the server process.
pub(crate) struct Endpoint {
    pub(crate) fd: OwnedFd,
    pub(crate) address: Address,
    pub(crate) authkey: AuthKey,
    pub(crate) options: ServerOptions,
}

/// What the server's threads share.
struct Shared {
    store: Mutex<Store>,
    changed: Condvar,
    mailbox: MailboxHandle,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `request`, and tells every kind of waiter when it changed
    /// something they wait for.
    fn apply(&self, request: Request) -> Response {
        let mut store = self.store();
        let before = store.generation();
        let response = store.handle(request);
        let after = store.generation();
        drop(store);
        if after != before {
            self.changed.notify_all();
            self.mailbox.publish(after);
        }
        response
    }

    /// Holds a socket client's wait: until the generation leaves `seen`, or
    /// `wait` passes.
    fn wait_change(&self, seen: u64, wait: Duration) {
        let until = Instant::now() + wait;
        let mut store = self.store();
        while store.generation() == seen {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            store = self
                .changed
                .wait_timeout(store, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// The server process's life; returns its exit code.
pub(crate) fn run(mailbox: MailboxHandle, endpoint: Option<Endpoint>, owner: i32) -> i32 {
    // SAFETY: replacing the SIGINT disposition is async-signal-safe and
    // affects only this (server) process.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    mailbox.serving(crate::os::getpid());
    let shared = Arc::new(Shared {
        store: Mutex::new(Store::default()),
        changed: Condvar::new(),
        mailbox: mailbox.clone(),
    });
    let unix_path = endpoint.as_ref().and_then(|e| match &e.address {
        Address::Unix(path) => Some(path.clone()),
        Address::Tcp(_) => None,
    });
    if let Some(endpoint) = endpoint {
        let shared = Arc::clone(&shared);
        // If no thread can be had, the mailbox still serves the owner.
        let _ = std::thread::Builder::new()
            .name("manager-accept".into())
            .spawn(move || accept_loop(&endpoint, &shared));
    }
    let owner_alive = || nix::sys::signal::kill(nix::unistd::Pid::from_raw(owner), None).is_ok();
    while let Some(bytes) = mailbox.next_request(&owner_alive) {
        let (response, stop) = match codec::decode::<Call>(&bytes) {
            Ok(Call {
                request: Request::Shutdown,
                ..
            }) => (Response::Done, true),
            Ok(call) => (shared.apply(call.request), false),
            Err(error) => (Response::Refused(error.to_string()), false),
        };
        let encoded = codec::encode(&response).unwrap_or_default();
        let fallback = codec::encode(&Response::Refused("the response is too large".into()))
            .unwrap_or_default();
        mailbox.respond(&encoded, &fallback);
        if stop {
            break;
        }
    }
    if let Some(path) = unix_path {
        let _ = std::fs::remove_file(path);
    }
    mailbox.stopped();
    0
}

/// How long the accept loop pauses after a failed `accept` (out of file
/// descriptors, or the like) before it tries again: long enough not to spin
/// on an error that persists, short enough that clients barely notice.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// The longest a `WaitChange` request holds its connection's thread, whatever
/// the client asked: the client asks again when it ends (see `protocol`), and
/// a bound keeps a client that asks for hours from pinning the thread past
/// its own departure.
const WAIT_CHANGE_MAX_MS: u32 = 1000;

fn accept_loop(endpoint: &Endpoint, shared: &Arc<Shared>) {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let fd = match endpoint::accept_on(&endpoint.fd, &Deadline::forever()) {
            Ok(fd) => fd,
            // Out of descriptors, or the like: wait a little, keep serving.
            Err(_) => {
                std::thread::sleep(ACCEPT_RETRY);
                continue;
            }
        };
        if active.load(Ordering::Acquire) >= endpoint.options.max_connections {
            continue; // dropping the fd closes it
        }
        active.fetch_add(1, Ordering::AcqRel);
        let conn = Connection::from_fd(fd, endpoint.options.max_frame);
        let (shared, active_here) = (Arc::clone(shared), Arc::clone(&active));
        let (authkey, timeout) = (endpoint.authkey.clone(), endpoint.options.handshake_timeout);
        let spawned = std::thread::Builder::new()
            .name("manager-conn".into())
            .spawn(move || {
                serve_connection(&conn, &authkey, timeout, &shared);
                active_here.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// How long the server waits to hand a client its answer: a client that
/// stopped reading (stuck, or gone without closing) would otherwise pin its
/// connection's thread for ever; 30 s is far beyond any live client's pause.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

fn serve_connection(conn: &Connection, authkey: &AuthKey, timeout: Duration, shared: &Shared) {
    let handshake = Deadline::after(Some(timeout));
    if challenge::server(&mut conn.handshake(handshake), authkey.as_bytes()).is_err() {
        return;
    }
    loop {
        let bytes = match conn.recv_deadline(&Deadline::forever()) {
            Ok(bytes) => bytes,
            // End of file, a torn or oversized frame, a reset: this peer is done.
            Err(_) => return,
        };
        let response = match codec::decode::<Call>(&bytes) {
            // Only the manager's creator (through the mailbox) shuts it down.
            Ok(Call {
                request: Request::Shutdown,
                ..
            }) => Response::Refused("only the manager's creator can shut it down".into()),
            Ok(Call {
                wait_ms,
                request: Request::WaitChange(seen),
            }) => {
                shared.wait_change(
                    seen,
                    Duration::from_millis(u64::from(wait_ms.min(WAIT_CHANGE_MAX_MS))),
                );
                Response::Done
            }
            Ok(call) => shared.apply(call.request),
            Err(error) => Response::Refused(format!("undecodable request: {error}")),
        };
        if send(conn, &response).is_err() {
            return;
        }
    }
}

fn send(conn: &Connection, response: &Response) -> Result<()> {
    let encoded = codec::encode(response)
        .or_else(|_| codec::encode(&Response::Refused("the response is too large".into())))?;
    conn.send_deadline(&encoded, &Deadline::after(Some(SEND_TIMEOUT)))
        .map_err(|error| match error {
            Error::Timeout => Error::BrokenPipe,
            other => other,
        })
}

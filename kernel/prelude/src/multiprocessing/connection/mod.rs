//! Python's `multiprocessing.connection`: [`Listener`] and [`Client`] over TCP
//! and Unix sockets, with an [`AuthKey`] challenge, byte-compatible with
//! CPython's (`send_bytes`/`recv_bytes` frames and the HMAC handshake of
//! 3.11 and of 3.12+), so Rust and Python processes talk to each other.
//!
//! | Python | Rust |
//! |---|---|
//! | `Listener(('localhost', 0), authkey=b'k')` | `Listener::bind(0u16, b"k")?` |
//! | `listener.address`, `listener.accept()` | `listener.address()`, `listener.accept()?` |
//! | `Client(address, authkey=b'k')` | `Client::connect(address, b"k")?` |
//! | `conn.send_bytes(b)`, `conn.recv_bytes()` | `conn.send_bytes(b)?`, `conn.recv_bytes()?` |
//! | `conn.send(obj)`, `conn.recv()` (pickle) | `conn.send(&value)?`, `conn.recv::<T>()?` (postcard: Rust peers only) |
//! | `conn.poll(timeout)` | `conn.poll(Some(timeout))?` |
//!
//! | `connection.wait([a, b], timeout)` | [`wait`]`([&a, &b], Some(timeout))?` |
//!
//! The frame format and the challenge are described beside their code, in
//! `sys/wire.rs` and `sys/challenge.rs`.

mod address;
mod authkey;
mod conn;
mod listener;
mod wait;

pub use address::{Address, ToAddress};
pub use authkey::AuthKey;
pub use conn::{Client, Connection};
pub use listener::Listener;
pub use wait::{Waitable, wait};

/// The largest message a connection receives unless told otherwise: 64 MiB.
pub const DEFAULT_MAX_FRAME: usize = crate::sys::wire::DEFAULT_MAX_FRAME;

/// How long a peer has to finish the authkey challenge unless told otherwise: 10 s.
pub const DEFAULT_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

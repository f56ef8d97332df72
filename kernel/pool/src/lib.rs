//! Warm engines, ready before a kernel needs one.
//!
//! Starting evcxr costs seconds that no kernel can save inside its own process
//! (rust-analyzer loads the standard library, the prelude loads, the first
//! `let` is typed). So the engine runs in a process of its own, an *engine
//! host* ([`host`]), and a per-user *pool* ([`server`]) keeps one host started
//! and warmed in advance. A kernel that starts asks the pool for it
//! ([`client`]) and gets the host's socket; from then on the kernel and its
//! host talk directly (the engine conversation,
//! [`ferrokernel_engine::conversation`]), and the pool starts the next spare. Without a pool the kernel starts a host of its own,
//! cold; nothing else differs.
//!
//! What it guarantees, and how:
//! - **One engine, one kernel at a time.** A spare leaves the pool's list
//!   before its socket is sent, and the pool keeps no copy of the socket: only
//!   the kernel can talk to it. A kernel that ends idle gives the engine back
//!   (`Return`, the socket attached); the engine stops sending the kernel's
//!   output the moment it is asked to (`Recycle`), makes itself fresh
//!   ([`ferrokernel_engine::Engine::recycle`]) and becomes a spare again.
//! - **Nothing outlives its owner.** A spare dies with the pool
//!   (`PR_SET_PDEATHSIG`, and the end of its socket); a claimed host lives
//!   exactly as long as its kernel's end of the socket, so a kernel killed at
//!   any point — even with the socket still in flight — takes its host and
//!   everything the host started with it. The pool ends itself after
//!   [`server::DEFAULT_IDLE`] without requests or live engines.
//! - **Only its user.** The socket lives in a directory only the user can
//!   enter ([`place`]), is mode 0600, and the pool checks each peer's uid
//!   (`SO_PEERCRED`) and the protocol version before answering.
//!
//! The messages are typed ([`messages`]) and framed as length-prefixed JSON
//! ([`wire`]).

pub mod client;
pub mod host;
pub mod messages;
pub mod place;
pub mod priority;
pub mod server;
mod spawn;

pub use ferrokernel_engine::conversation::wire;

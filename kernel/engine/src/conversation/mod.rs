//! The one conversation between a kernel and its engine.
//!
//! Whoever runs cells — an engine host process, or a thread of `ferrokernel
//! run` — serves an [`Engine`](crate::Engine) with [`serve`] over a Unix
//! socket; the kernel's side holds the other end and reads it at all times,
//! so output that arrives between requests (threads, child processes) is
//! published at once. Messages are typed ([`EngineRequest`], [`EngineEvent`]),
//! versioned by a `Hello`, and framed as length-prefixed JSON ([`wire`]); a
//! message of an unknown type decodes to `Unknown` and is refused, not fatal.
//!
//! ```text
//! kernel                          engine side (serve)
//!   Hello{protocol}          ->
//!                            <-   Welcome | Refused
//!   Claim{env}               ->   (takes on the kernel's directory and environment)
//!                            <-   Progress{phase}* , Ready | StartFailed
//!   Execute{id,cell,code}    ->
//!                            <-   Output{cell,output}* , InputRequest* , Executed{id}
//!   Interrupt, InputReply    ->   (handled at once, even while a cell runs)
//! ```

mod comm_relay;
mod env;
mod messages;
mod serve;
pub mod wire;

pub use env::EngineEnv;
pub use messages::{EngineEvent, EngineRequest, PROTOCOL_VERSION, RequestId};
pub use serve::{ServeOptions, StartEngine, serve, spawn_in_process};

mod source;
pub use source::{Connection, EngineSource, InProcessSource};

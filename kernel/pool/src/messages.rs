//! What kernels, the pool and engine hosts say to each other.
//!
//! A kernel (or `ferrokernel pool status|stop`) and the pool: [`PoolRequest`]
//! and [`PoolReply`], starting with `Hello`, whose protocol version must match.
//! What a kernel then says to the engine host it was handed is the engine
//! conversation ([`ferrokernel_engine::conversation`]).

pub use ferrokernel_engine::conversation::EngineEnv;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Bumped whenever a message changes shape.
pub const PROTOCOL_VERSION: u32 = 3;

/// From a kernel or the command line to the pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PoolRequest {
    /// The first message: who is asking.
    Hello {
        /// [`PROTOCOL_VERSION`] of the asker.
        protocol: u32,
    },
    /// An engine for a kernel with this environment. Answered by
    /// [`PoolReply::Engine`] with the host's socket attached.
    Acquire {
        /// The kernel's environment.
        env: EngineEnv,
    },
    /// A kernel that is done gives its engine back, its socket attached: the
    /// engine makes itself fresh and becomes a spare. Answered by
    /// [`PoolReply::Taken`] or [`PoolReply::Refused`].
    Return {
        /// The engine host's process id, as the pool handed it out.
        pid: i32,
    },
    /// How the pool is doing.
    Status,
    /// End the pool and its spare (claimed engines stay with their kernels).
    Stop,
}

/// From the pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PoolReply {
    /// Answer to `Hello`: go on.
    Welcome {
        /// The pool's process id.
        pid: i32,
    },
    /// The request is not served, and why.
    Refused {
        /// A sentence for the log or the user.
        reason: String,
    },
    /// An engine host; its socket travels with this message.
    Engine {
        /// The host's process id.
        pid: i32,
        /// Whether it had finished starting when it was handed over.
        ready: bool,
    },
    /// Answer to `Return`: the pool holds the engine now.
    Taken,
    /// Answer to `Status`.
    Status(PoolStatus),
    /// Answer to `Stop`: the pool ends now.
    Stopping,
}

/// What `ferrokernel pool status` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolStatus {
    /// The pool's process id.
    pub pid: i32,
    /// Its socket.
    pub socket: PathBuf,
    /// Seconds since it started.
    pub uptime_secs: f64,
    /// Seconds since the last request.
    pub idle_secs: f64,
    /// After how many idle seconds without live engines it ends.
    pub idle_limit_secs: f64,
    /// The spare engine the next kernel gets, if one is kept.
    pub spare: Option<SpareStatus>,
    /// How many spare engines are kept (the one above and engines given back).
    pub spares: usize,
    /// How many of them are ready now.
    #[serde(default)]
    pub ready_spares: usize,
    /// How many it keeps when at rest (`FERROKERNEL_POOL_SPARES`).
    #[serde(default)]
    pub spares_wanted: usize,
    /// Engines kernels gave back to be used again, since the pool started.
    pub given_back: u64,
    /// Engines handed to kernels that are still running.
    pub engines_in_use: usize,
    /// Engines handed out since the pool started.
    pub handed_out: u64,
}

/// The spare engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpareStatus {
    /// Its host's process id.
    pub pid: i32,
    /// Whether it has finished starting and warming up (or, given back,
    /// making itself fresh).
    pub ready: bool,
    /// Whether a kernel used it before and gave it back.
    pub given_back: bool,
    /// Seconds since it was started.
    pub age_secs: f64,
}

//! What the kernel and a cluster worker say to each other: postcard-encoded
//! frames over the prelude's authenticated connection.

use serde::{Deserialize, Serialize};

/// Bumped whenever a message changes; a worker of another version is refused.
pub(crate) const PROTOCOL: u32 = 1;

/// Sent by a worker first, after the authkey challenge.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Hello {
    pub(crate) protocol: u32,
    /// The worker program's version (`ferrokernel-prelude`'s).
    pub(crate) version: String,
    /// The target it runs on: a shipped library must have been built for it.
    pub(crate) target: String,
    pub(crate) host: String,
    pub(crate) pid: u32,
    /// Its rank among the launcher's processes (MPI's, Slurm's), when it has one.
    pub(crate) rank: Option<u32>,
}

/// From the kernel to a worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Order {
    /// Keep this library, known by its content hash, loaded from now on.
    /// Libraries come in the order they must be loaded (std first).
    Load {
        hash: String,
        file_name: String,
        bytes: Vec<u8>,
    },
    /// Call the entry point at `entry` bytes past the base of library `library`.
    Run {
        task: u64,
        library: String,
        entry: u64,
        context: Vec<u8>,
        items: Vec<u8>,
    },
    /// Exit.
    Stop,
}

/// From a worker to the kernel, after the hello.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Report {
    /// A task's encoded `Vec<Result<R, String>>`, or why it could not run.
    Done {
        task: u64,
        output: Result<Vec<u8>, String>,
    },
}

/// The target this build runs on, as the worker reports it.
pub(crate) fn target() -> String {
    let env = if cfg!(target_env = "musl") {
        "musl"
    } else {
        "gnu"
    };
    format!("{}-{}-{env}", std::env::consts::ARCH, std::env::consts::OS)
}

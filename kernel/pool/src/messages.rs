//! What kernels, the pool and engine hosts say to each other.
//!
//! Two conversations:
//! - a kernel (or `ferrokernel pool status|stop`) and the pool: [`PoolRequest`]
//!   and [`PoolReply`], starting with `Hello`, whose protocol version must match;
//! - a kernel and its engine host: [`HostRequest`] and [`HostEvent`], starting
//!   with `Claim`. The host speaks first only to say how its start goes.

use ferrokernel_engine::{CellError, Completions, InputPrompt, MimeBundle, Output};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Bumped whenever a message changes shape.
pub const PROTOCOL_VERSION: u32 = 1;

/// Environment variables an engine reads when it starts: two engines whose
/// values differ here are not interchangeable. Every other variable is applied
/// when a kernel claims an engine (see [`HostRequest::Claim`]).
const ENGINE_VARIABLES: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LD_LIBRARY_PATH",
    "RUSTFLAGS",
    "RUSTC_WRAPPER",
    "XDG_CACHE_HOME",
];

/// Prefixes of engine-start variables (the toolchain, evcxr, ferrokernel's own settings).
const ENGINE_VARIABLE_PREFIXES: &[&str] = &["RUSTUP_", "CARGO_", "EVCXR_", "FERROKERNEL_"];

/// Variables that differ between kernels without mattering to the pool itself.
const POOL_IGNORED: &[&str] = &["FERROKERNEL_POOL_DIR", "FERROKERNEL_POOL_IDLE_SECS"];

/// The environment and working directory a kernel wants its engine to have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineEnv {
    /// Every environment variable.
    pub vars: BTreeMap<String, String>,
    /// The working directory.
    pub cwd: PathBuf,
}

impl EngineEnv {
    /// This process's environment and working directory.
    pub fn current() -> EngineEnv {
        EngineEnv {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        }
    }

    /// What an engine started with this environment depends on: engines with
    /// the same key can serve each other's kernels.
    pub fn engine_key(&self) -> BTreeMap<&str, &str> {
        self.vars
            .iter()
            .filter(|(name, _)| is_engine_variable(name))
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect()
    }

    /// What a host started with `self` must change to look like `wanted`:
    /// variables to set (`Some`) or remove (`None`), engine-start variables
    /// excepted (they are equal when the pool hands an engine over).
    pub fn changes_to(&self, wanted: &EngineEnv) -> Vec<(String, Option<String>)> {
        let mut changes = Vec::new();
        for (name, value) in &wanted.vars {
            if !is_engine_variable(name) && self.vars.get(name) != Some(value) {
                changes.push((name.clone(), Some(value.clone())));
            }
        }
        for name in self.vars.keys() {
            if !is_engine_variable(name) && !wanted.vars.contains_key(name) {
                changes.push((name.clone(), None));
            }
        }
        changes
    }
}

fn is_engine_variable(name: &str) -> bool {
    !POOL_IGNORED.contains(&name)
        && (ENGINE_VARIABLES.contains(&name)
            || ENGINE_VARIABLE_PREFIXES
                .iter()
                .any(|prefix| name.starts_with(prefix)))
}

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
    /// The spare engine, if one is kept.
    pub spare: Option<SpareStatus>,
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
    /// Whether it has finished starting and warming up.
    pub ready: bool,
    /// Seconds since it was started.
    pub age_secs: f64,
}

/// From a kernel to its engine host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HostRequest {
    /// The first message: the host now belongs to this kernel, and takes on
    /// its working directory and environment.
    Claim {
        /// The kernel's environment.
        env: EngineEnv,
    },
    /// Run a cell.
    Execute {
        /// The cell.
        code: String,
    },
    /// The answer to [`HostEvent::InputRequest`] (`None`: no input possible).
    InputReply(Option<String>),
    /// Interrupt the running cell (handled at once, even while a cell runs).
    Interrupt,
    /// Completions at a byte offset.
    Complete {
        /// The code.
        code: String,
        /// Byte offset.
        cursor: usize,
    },
    /// Documentation at a byte offset.
    Inspect {
        /// The code.
        code: String,
        /// Byte offset.
        cursor: usize,
    },
    /// Forget every variable and definition.
    Reset,
    /// End every process the engine started, then the host.
    Shutdown,
}

/// From an engine host to its kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HostEvent {
    /// What the host is doing while it starts.
    Progress(String),
    /// The engine is ready for cells.
    Ready,
    /// The engine could not start; the host ends.
    StartFailed(String),
    /// Output of the running cell (or of processes it started).
    Output(Output),
    /// The running cell asks for a line of input.
    InputRequest(InputPrompt),
    /// A cell finished.
    Executed(Result<Option<MimeBundle>, CellError>),
    /// Answer to `Complete`.
    Completed(Completions),
    /// Answer to `Inspect`.
    Inspected(Option<MimeBundle>),
    /// Answer to `Reset`.
    ResetDone(Result<(), CellError>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)], cwd: &str) -> EngineEnv {
        EngineEnv {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cwd: PathBuf::from(cwd),
        }
    }

    #[test]
    fn engines_match_on_toolchain_and_settings_only() {
        let spare = env(
            &[
                ("PATH", "/bin"),
                ("JPY_SESSION_NAME", "a.ipynb"),
                ("FERROKERNEL_POOL_DIR", "/x"),
            ],
            "/a",
        );
        let kernel = env(
            &[
                ("PATH", "/bin"),
                ("JPY_SESSION_NAME", "b.ipynb"),
                ("LANG", "C"),
            ],
            "/b",
        );
        assert_eq!(spare.engine_key(), kernel.engine_key());
        let other = env(&[("PATH", "/usr/bin"), ("RUSTUP_TOOLCHAIN", "beta")], "/a");
        assert_ne!(spare.engine_key(), other.engine_key());
    }

    #[test]
    fn a_claim_applies_every_other_difference() {
        let spare = env(
            &[
                ("PATH", "/bin"),
                ("JPY_SESSION_NAME", "a.ipynb"),
                ("OLD", "1"),
            ],
            "/a",
        );
        let kernel = env(
            &[
                ("PATH", "/bin"),
                ("JPY_SESSION_NAME", "b.ipynb"),
                ("LANG", "C"),
            ],
            "/b",
        );
        let mut changes = spare.changes_to(&kernel);
        changes.sort();
        assert_eq!(
            changes,
            vec![
                ("JPY_SESSION_NAME".to_owned(), Some("b.ipynb".to_owned())),
                ("LANG".to_owned(), Some("C".to_owned())),
                ("OLD".to_owned(), None),
            ]
        );
    }
}

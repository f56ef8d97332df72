//! Getting an engine: from the pool when there is one (starting the pool if
//! needed), else by starting a host of our own; and talking to the pool for
//! `ferrokernel pool status|stop`.

use crate::messages::{EngineEnv, PROTOCOL_VERSION, PoolReply, PoolRequest, PoolStatus};
use crate::place::{Place, PlaceError};
use crate::spawn::spawn_host;
use crate::wire::{self, WireError};
use ferrokernel_engine::conversation::{Connection, EngineSource};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// How long the pool may take to answer (it answers at once, or is broken).
const POOL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the pool could not be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PoolError {
    /// Its directory is unusable.
    #[error(transparent)]
    Place(#[from] PlaceError),
    /// No pool listens (and none could be started).
    #[error("no engine pool is running at {0}")]
    NotRunning(PathBuf),
    /// The pool could not be started.
    #[error("cannot start the engine pool: {0}")]
    Start(String),
    /// Talking to it failed.
    #[error("engine pool: {0}")]
    Wire(#[from] WireError),
    /// It refused.
    #[error("the engine pool refused: {0}")]
    Refused(String),
    /// It answered something unexpected.
    #[error("the engine pool answered {0}")]
    Unexpected(String),
}

impl From<std::io::Error> for PoolError {
    fn from(error: std::io::Error) -> PoolError {
        PoolError::Wire(WireError::Io(error))
    }
}

/// A connection to the pool, past the version handshake.
fn connect(place: &Place) -> Result<UnixStream, PoolError> {
    let stream = UnixStream::connect(&place.socket)
        .map_err(|_| PoolError::NotRunning(place.socket.clone()))?;
    stream.set_read_timeout(Some(POOL_TIMEOUT))?;
    stream.set_write_timeout(Some(POOL_TIMEOUT))?;
    wire::send(
        &stream,
        &PoolRequest::Hello {
            protocol: PROTOCOL_VERSION,
        },
    )?;
    match wire::recv::<PoolReply>(&stream)? {
        Some(PoolReply::Welcome { .. }) => Ok(stream),
        Some(PoolReply::Refused { reason }) => Err(PoolError::Refused(reason)),
        other => Err(PoolError::Unexpected(format!("{other:?}"))),
    }
}

/// Asks the pool of this build how it is doing.
pub fn status(place: &Place) -> Result<PoolStatus, PoolError> {
    let stream = connect(place)?;
    wire::send(&stream, &PoolRequest::Status)?;
    match wire::recv::<PoolReply>(&stream)? {
        Some(PoolReply::Status(status)) => Ok(status),
        other => Err(PoolError::Unexpected(format!("{other:?}"))),
    }
}

/// Stops the pool of this build (its spare too; engines in use stay).
pub fn stop(place: &Place) -> Result<(), PoolError> {
    let stream = connect(place)?;
    wire::send(&stream, &PoolRequest::Stop)?;
    match wire::recv::<PoolReply>(&stream)? {
        Some(PoolReply::Stopping) => Ok(()),
        other => Err(PoolError::Unexpected(format!("{other:?}"))),
    }
}

/// Starts the pool daemon (`exe pool serve --daemon`), which returns once it
/// listens — or at once if another pool of this build already runs.
pub fn start_pool(exe: &std::path::Path) -> Result<(), PoolError> {
    run_pool_daemon(std::process::Command::new(exe))
}

/// Starts the pool daemon like [`start_pool`], with `env` as its whole
/// environment and `env.cwd` as its directory, so that its first spare suits
/// kernels launched with that environment (`ferrokernel install` passes the
/// one its kernelspec gives them).
pub fn start_pool_with_env(exe: &std::path::Path, env: &EngineEnv) -> Result<(), PoolError> {
    let mut command = std::process::Command::new(exe);
    command.env_clear().envs(&env.vars);
    if env.cwd.is_dir() {
        command.current_dir(&env.cwd);
    }
    run_pool_daemon(command)
}

fn run_pool_daemon(mut command: std::process::Command) -> Result<(), PoolError> {
    let status = command
        .args(["pool", "serve", "--daemon"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| PoolError::Start(e.to_string()))?;
    if status.success() {
        Ok(())
    } else {
        Err(PoolError::Start(format!(
            "`pool serve` ended with {status}"
        )))
    }
}

/// Asks the pool (started if need be) for an engine host; with its pid.
fn from_pool(place: &Place, exe: &Path, env: &EngineEnv) -> Result<(Connection, i32), PoolError> {
    let stream = match connect(place) {
        Ok(stream) => stream,
        Err(PoolError::NotRunning(_)) => {
            start_pool(exe)?;
            connect(place)?
        }
        Err(error) => return Err(error),
    };
    wire::send(&stream, &PoolRequest::Acquire { env: env.clone() })?;
    match wire::recv_with_fd::<PoolReply>(&stream)? {
        Some((PoolReply::Engine { pid, ready }, Some(fd))) => {
            tracing::info!(pid, ready, "engine from the pool");
            let connection = Connection {
                socket: UnixStream::from(fd),
                child: None,
                ready,
            };
            Ok((connection, pid))
        }
        Some((PoolReply::Refused { reason }, _)) => Err(PoolError::Refused(reason)),
        other => Err(PoolError::Unexpected(format!(
            "{:?}",
            other.map(|(m, _)| m)
        ))),
    }
}

/// Engines for a kernel: the pool's spare first, else (and after an engine
/// died) a host of the kernel's own.
#[derive(Debug, Clone)]
pub struct HostSource {
    /// The ferrokernel binary, to start hosts (and the pool) with.
    pub exe: PathBuf,
    /// Whether to ask the pool.
    pub use_pool: bool,
    /// The kernel's environment.
    pub env: EngineEnv,
    /// The engine host the pool handed us, which goes back to it.
    pub from_pool: Option<i32>,
}

/// Why no engine host could be found.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HostError {
    /// The path of the running binary is unknown.
    #[error("cannot find the ferrokernel binary: {0}")]
    NoBinary(std::io::Error),
    /// The host process could not be started.
    #[error("cannot start the Rust engine process: {0}")]
    Spawn(std::io::Error),
}

impl HostSource {
    /// The source for the kernel running now; `no_pool` (or `FERROKERNEL_POOL=0`)
    /// skips the pool.
    pub fn for_this_kernel(no_pool: bool) -> Result<HostSource, HostError> {
        let exe = std::env::current_exe().map_err(HostError::NoBinary)?;
        let disabled = std::env::var("FERROKERNEL_POOL").is_ok_and(|v| v == "0" || v == "false");
        Ok(HostSource {
            exe,
            use_pool: !(no_pool || disabled),
            env: EngineEnv::current(),
            from_pool: None,
        })
    }
}

impl EngineSource for HostSource {
    fn connect(
        &mut self,
        attempt: u32,
    ) -> Result<Connection, Box<dyn std::error::Error + Send + Sync>> {
        // A replacement for an engine that died is never a spare: the spare
        // may be what fails.
        if self.use_pool && attempt == 0 {
            let pooled = Place::for_this_build()
                .map_err(PoolError::from)
                .and_then(|place| from_pool(&place, &self.exe, &self.env));
            match pooled {
                Ok((connection, pid)) => {
                    self.from_pool = Some(pid);
                    return Ok(connection);
                }
                Err(error) => {
                    tracing::warn!(%error, "no engine from the pool; starting one of our own")
                }
            }
        }
        self.from_pool = None;
        let spawned = spawn_host(&self.exe, &self.env, false).map_err(HostError::Spawn)?;
        drop(spawned.status);
        Ok(Connection {
            socket: spawned.socket,
            child: Some(spawned.child),
            ready: false,
        })
    }

    fn takes_back(&self, pid: i32) -> bool {
        self.from_pool == Some(pid)
    }

    fn give_back(
        &mut self,
        socket: UnixStream,
        pid: i32,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if !self.takes_back(pid) {
            return Err(format!("engine {pid} did not come from the pool").into());
        }
        self.from_pool = None;
        let place = Place::for_this_build().map_err(PoolError::from)?;
        give_back_to_pool(&place, &socket, pid)?;
        tracing::info!(pid, "gave the engine back to the pool");
        Ok(())
    }
}

/// Gives the pool back the engine host `pid` it handed out, with our end of
/// its socket (already asked to `Recycle`).
fn give_back_to_pool(place: &Place, socket: &UnixStream, pid: i32) -> Result<(), PoolError> {
    let stream = connect(place)?;
    wire::send_with_fd(&stream, &PoolRequest::Return { pid }, socket.as_fd())?;
    match wire::recv::<PoolReply>(&stream)? {
        Some(PoolReply::Taken) => Ok(()),
        Some(PoolReply::Refused { reason }) => Err(PoolError::Refused(reason)),
        other => Err(PoolError::Unexpected(format!("{other:?}"))),
    }
}

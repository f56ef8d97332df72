//! Getting an engine: from the pool when there is one (starting the pool if
//! needed), else by starting a host of our own; and talking to the pool for
//! `ferrokernel pool status|stop`.

use crate::messages::{
    EngineEnv, HostEvent, HostRequest, PROTOCOL_VERSION, PoolReply, PoolRequest, PoolStatus,
};
use crate::place::{Place, PlaceError};
use crate::spawn::spawn_host;
use crate::wire::{self, WireError};
use ferrokernel_engine::{MimeBundle, Output, Publisher};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};
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

/// An engine host from the pool (started if it is not running). The host may
/// still be starting; [`HostConnection::claim`] waits for it.
fn from_pool(
    place: &Place,
    exe: &std::path::Path,
    env: &EngineEnv,
) -> Result<HostConnection, PoolError> {
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
        Some((PoolReply::Engine { pid, ready }, Some(fd))) => Ok(HostConnection {
            socket: UnixStream::from(fd),
            pid,
            child: None,
            pooled: true,
            ready_when_handed: ready,
        }),
        Some((PoolReply::Refused { reason }, _)) => Err(PoolError::Refused(reason)),
        other => Err(PoolError::Unexpected(format!(
            "{:?}",
            other.map(|(m, _)| m)
        ))),
    }
}

/// A host this kernel talks to.
pub struct HostConnection {
    /// The socket to the host.
    pub socket: UnixStream,
    /// The host's process id.
    pub pid: i32,
    /// The host, when this process started it (otherwise the pool reaps it).
    child: Option<Child>,
    /// Whether it came from the pool.
    pub pooled: bool,
    /// Whether it was ready when the pool handed it over.
    pub ready_when_handed: bool,
}

impl HostConnection {
    /// How the host ended, for an error message.
    pub(crate) fn exit_description(&mut self) -> String {
        let status = self.child.as_mut().and_then(|child| {
            // It may take a moment to be reapable after its socket closed.
            for _ in 0..20 {
                if let Ok(Some(status)) = child.try_wait() {
                    return Some(status);
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            None
        });
        match status {
            Some(status) => format!("ended unexpectedly ({status})"),
            None => "ended unexpectedly".to_owned(),
        }
    }

    /// Waits (at most `limit`) for a host this process started to exit, so it
    /// leaves no zombie.
    pub(crate) fn wait_for_exit(&mut self, limit: Duration) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Makes the host ours (its directory and environment become `env`'s) and
    /// waits until it is ready, showing progress to a waiting cell.
    fn claim(
        mut self,
        env: &EngineEnv,
        publisher: &dyn Publisher,
        cell_waiting: &dyn Fn() -> bool,
    ) -> Result<HostConnection, String> {
        wire::send(&self.socket, &HostRequest::Claim { env: env.clone() })
            .map_err(|error| format!("the engine process did not take the claim: {error}"))?;
        let mut progress = StartProgress::new(self.pooled && !self.ready_when_handed);
        let outcome = loop {
            if !readable_within(&self.socket, Duration::from_millis(250)) {
                progress.tick(publisher, cell_waiting(), None);
                continue;
            }
            match wire::recv::<HostEvent>(&self.socket) {
                Ok(Some(HostEvent::Ready)) => break Ok(()),
                Ok(Some(HostEvent::Progress(phase))) => {
                    progress.tick(publisher, cell_waiting(), Some(phase));
                }
                Ok(Some(HostEvent::StartFailed(reason))) => break Err(reason),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    let pid = self.pid;
                    break Err(format!(
                        "the Rust engine process (pid {pid}) {}",
                        self.exit_description()
                    ));
                }
            }
        };
        progress.finish(publisher);
        if outcome.is_err() {
            self.wait_for_exit(Duration::from_secs(1));
        }
        outcome.map(|()| self)
    }
}

fn readable_within(socket: &UnixStream, timeout: Duration) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    // SAFETY: the socket outlives this call, which only polls its descriptor.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(socket.as_raw_fd()) };
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    matches!(poll(&mut fds, PollTimeout::from(millis)), Ok(n) if n > 0)
}

/// Where a kernel's engines come from.
#[derive(Debug, Clone)]
pub struct EngineSource {
    /// The ferrokernel binary (run as `engine-host` and `pool serve`).
    pub exe: PathBuf,
    /// Whether to use the pool; without it every engine starts cold.
    pub use_pool: bool,
    /// The kernel's environment and directory, for its engines.
    pub env: EngineEnv,
}

impl EngineSource {
    /// The source for this process: this binary, its environment, the pool
    /// unless `no_pool` or `FERROKERNEL_POOL=0`.
    pub fn for_this_kernel(no_pool: bool) -> Result<EngineSource, String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find the ferrokernel binary: {e}"))?;
        let disabled = std::env::var("FERROKERNEL_POOL").is_ok_and(|v| v == "0" || v == "false");
        Ok(EngineSource {
            exe,
            use_pool: !(no_pool || disabled),
            env: EngineEnv::current(),
        })
    }

    /// A ready engine host: the pool's spare if possible, else one of our own.
    /// `cell_waiting` says whether a cell waits for it (then progress is shown).
    pub fn obtain(
        &self,
        publisher: &dyn Publisher,
        cell_waiting: &dyn Fn() -> bool,
    ) -> Result<HostConnection, String> {
        if self.use_pool {
            let pooled = Place::for_this_build()
                .map_err(PoolError::from)
                .and_then(|place| from_pool(&place, &self.exe, &self.env));
            match pooled {
                Ok(connection) => {
                    tracing::info!(
                        pid = connection.pid,
                        ready = connection.ready_when_handed,
                        "engine from the pool"
                    );
                    match connection.claim(&self.env, publisher, cell_waiting) {
                        Ok(connection) => return Ok(connection),
                        Err(reason) => {
                            tracing::warn!(%reason, "the pool's engine failed; starting one of our own")
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "no engine from the pool; starting one of our own")
                }
            }
        }
        let spawned = spawn_host(&self.exe, &self.env, false)
            .map_err(|e| format!("cannot start the Rust engine process: {e}"))?;
        let connection = HostConnection {
            socket: spawned.socket,
            pid: spawned.child.id() as i32,
            child: Some(spawned.child),
            pooled: false,
            ready_when_handed: false,
        };
        drop(spawned.status);
        connection.claim(&self.env, publisher, cell_waiting)
    }
}

/// What a cell that waits for the engine shows: one line, updated in place
/// every second, cleared when the engine is ready.
struct StartProgress {
    started: Instant,
    from_pool: bool,
    phase: Option<String>,
    shown: bool,
    last: Option<Instant>,
}

/// The display id of the progress line.
const PROGRESS_ID: &str = "ferrokernel-engine-start";

impl StartProgress {
    fn new(from_pool: bool) -> StartProgress {
        StartProgress {
            started: Instant::now(),
            from_pool,
            phase: None,
            shown: false,
            last: None,
        }
    }

    fn tick(&mut self, publisher: &dyn Publisher, cell_waiting: bool, phase: Option<String>) {
        if phase.is_some() {
            self.phase = phase;
        }
        // Quick starts show nothing; slow ones a line a second.
        let due = match self.last {
            None => self.started.elapsed() >= Duration::from_millis(500),
            Some(last) => last.elapsed() >= Duration::from_secs(1),
        };
        if !cell_waiting || !due {
            return;
        }
        self.last = Some(Instant::now());
        let text = self.text();
        let bundle = MimeBundle::from([("text/plain".to_owned(), text)]);
        let id = PROGRESS_ID.to_owned();
        publisher.publish(if self.shown {
            Output::UpdateDisplay { bundle, id }
        } else {
            Output::Display {
                bundle,
                id: Some(id),
            }
        });
        self.shown = true;
    }

    fn text(&self) -> String {
        let source = if self.from_pool {
            "the engine pool's spare engine is still starting"
        } else {
            "no warm engine was ready"
        };
        let phase = self
            .phase
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        format!(
            "Starting the Rust engine{phase}: {:.0} s so far; {source}.",
            self.started.elapsed().as_secs_f64()
        )
    }

    /// Takes the progress line away before the cell's own output.
    fn finish(self, publisher: &dyn Publisher) {
        if self.shown {
            publisher.publish(Output::ClearOutput { wait: false });
        }
    }
}

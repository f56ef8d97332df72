//! The pool: one process per user (and build) that keeps a spare engine host
//! started and warm, and hands it to the next kernel that asks.
//!
//! One thread, one `poll` loop over the listening socket and the status pipes
//! of its hosts: the spare's (ready? dead?) and those of hosts it handed out
//! (still in use?). Requests are short and answered at once; a peer gets a few
//! seconds to say hello before it is dropped.
//!
//! The pool keeps [`DEFAULT_SPARES`] spares, made one at a time at the lowest
//! CPU priority where a kernel can undo that (else not while a handed-out
//! host is still starting), so on a small machine a new kernel's engine does
//! not compete with the next spare for the CPU: a second notebook opened
//! seconds after the first still finds one ready. A kernel that is done
//! (shut down, or restarted) gives its engine back: the engine makes itself
//! fresh in about a second and counts as a spare too, so kernels restarted
//! one after another each find one ready.

use crate::messages::{
    EngineEnv, PROTOCOL_VERSION, PoolReply, PoolRequest, PoolStatus, SpareStatus,
};
use crate::place::Place;
use crate::spawn::{FRESH, READY, Spawned, spawn_host};
use crate::wire;
use nix::fcntl::{Flock, FlockArg};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use thiserror::Error;

/// How long the pool lives without requests and without engines in use
/// (sccache's server idles out after as long): it spans a pause between
/// notebooks, and a pool nobody uses does not keep a spare engine's memory.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(600);
/// How long a peer may take to send its request: clients send it at once,
/// and a silent one must not hold up the pool, which serves one at a time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// After a spare died without becoming ready, wait this long before the next,
/// so a spare that cannot start (a broken toolchain) is not retried in a loop.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);
/// Where spares cannot start at the lowest priority ([`crate::priority`]):
/// after a handover, wait at least this long before making the next spare,
/// and then until the machine is idle enough (or [`SPARE_DELAY_MAX`] passed):
/// a new kernel's first cells get the CPU to themselves.
const SPARE_DELAY: Duration = Duration::from_secs(5);
/// The longest a spare waits for an idle machine after a handover, so a
/// busy machine still gets a warm engine.
const SPARE_DELAY_MAX: Duration = Duration::from_secs(60);
/// The idle CPU share (over the last poll tick) that counts as idle enough.
const IDLE_ENOUGH: f64 = 0.5;
/// Spares kept (`FERROKERNEL_POOL_SPARES`): two, so that a second notebook
/// opened right after the first, or restarts in a row, find one ready while
/// the next is made. Each holds ~0.6 GB.
pub const DEFAULT_SPARES: usize = 2;

/// Why the pool could not run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Another pool of this build holds the lock (not an error for `--daemon`).
    #[error("an engine pool already runs at {0}")]
    AlreadyRunning(PathBuf),
    /// The socket or lock could not be set up.
    #[error("cannot listen at {path}: {source}")]
    Listen {
        /// Where.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// How to run the pool.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The ferrokernel binary hosts are started from.
    pub exe: PathBuf,
    /// Idle time before the pool ends.
    pub idle: Duration,
    /// How many spares to keep (at least one).
    pub spares: usize,
    /// The environment of the first spare (later spares take the last kernel's).
    pub first_env: EngineEnv,
}

impl ServerOptions {
    /// Options for this process: this binary, its environment,
    /// `FERROKERNEL_POOL_IDLE_SECS` (default [`DEFAULT_IDLE`]) and
    /// `FERROKERNEL_POOL_SPARES` (default [`DEFAULT_SPARES`]).
    pub fn for_this_process() -> Result<ServerOptions, std::io::Error> {
        let idle = std::env::var("FERROKERNEL_POOL_IDLE_SECS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(DEFAULT_IDLE, Duration::from_secs_f64);
        Ok(ServerOptions {
            exe: std::env::current_exe()?,
            idle,
            first_env: EngineEnv::current(),
            spares: std::env::var("FERROKERNEL_POOL_SPARES")
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
                .map_or(DEFAULT_SPARES, |n| n.max(1)),
        })
    }
}

/// A pool that is listening but not serving yet: [`Listening::serve`] runs it.
/// Split so that a daemon can fork in between, once the socket is reachable.
pub struct Listening {
    place: Place,
    listener: UnixListener,
    _lock: Flock<std::fs::File>,
}

/// Takes this build's lock and listens on its socket.
pub fn listen(place: &Place) -> Result<Listening, ServerError> {
    let error = |path: &PathBuf| {
        let path = path.clone();
        move |source| ServerError::Listen { path, source }
    };
    let lock_file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&place.lock)
        .map_err(error(&place.lock))?;
    let lock = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock)
        .map_err(|_| ServerError::AlreadyRunning(place.socket.clone()))?;
    // We hold the lock, so a socket file left here is a dead pool's.
    let _ = std::fs::remove_file(&place.socket);
    let listener = UnixListener::bind(&place.socket).map_err(error(&place.socket))?;
    std::fs::set_permissions(&place.socket, std::fs::Permissions::from_mode(0o600))
        .map_err(error(&place.socket))?;
    listener
        .set_nonblocking(true)
        .map_err(error(&place.socket))?;
    Ok(Listening {
        place: place.clone(),
        listener,
        _lock: lock,
    })
}

/// A host the pool started.
struct Host {
    pid: i32,
    /// Our end of its socket; `None` once handed to a kernel.
    socket: Option<UnixStream>,
    status: std::fs::File,
    started: Instant,
    ready: bool,
    /// Whether a kernel used it and gave it back.
    given_back: bool,
    /// How often kernels gave it back, and how often it said `FRESH` since
    /// (one for each, possibly before the pool handled the `Return`): it is
    /// ready again when the two agree.
    returns: u32,
    fresh: u32,
    /// The engine-start variables it was started with.
    key: BTreeMap<String, String>,
}

impl Host {
    fn start(options: &ServerOptions, env: &EngineEnv) -> std::io::Result<Host> {
        let Spawned {
            child,
            socket,
            status,
        } = spawn_host(&options.exe, env, true)?;
        let pid = child.id() as i32;
        // The pool reaps its hosts with waitpid(-1); std's handle is not needed.
        drop(child);
        tracing::info!(pid, "started a spare engine");
        Ok(Host {
            pid,
            socket: Some(socket),
            status: std::fs::File::from(status),
            started: Instant::now(),
            ready: false,
            given_back: false,
            returns: 0,
            fresh: 0,
            key: owned_key(env),
        })
    }

    /// Which spare goes first (lowest): a ready one, then one given back
    /// (fresh within a second or so), then one starting from nothing.
    fn rank(&self) -> (bool, bool) {
        (!self.ready, !self.given_back)
    }

    /// Reads the status pipe after poll said it is readable; false when the host is gone.
    fn read_status(&mut self) -> bool {
        let mut buffer = [0u8; 16];
        match self.status.read(&mut buffer) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                if buffer[..n].contains(&READY) {
                    self.ready = true;
                }
                let fresh = buffer[..n].iter().filter(|b| **b == FRESH).count();
                self.fresh += fresh as u32;
                if self.given_back && self.fresh >= self.returns {
                    self.ready = true;
                }
                true
            }
        }
    }
}

fn owned_key(env: &EngineEnv) -> BTreeMap<String, String> {
    env.engine_key()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

struct Pool {
    place: Place,
    options: ServerOptions,
    started: Instant,
    last_request: Instant,
    /// Engines ready (or getting ready) for the next kernels.
    spares: Vec<Host>,
    handed: Vec<Host>,
    handed_out: u64,
    given_back: u64,
    next_env: EngineEnv,
    last_failure: Option<Instant>,
    last_handover: Option<Instant>,
    cpu: CpuMeter,
}

impl Listening {
    /// Serves until stopped or idle; removes the socket when it ends. Spares end with it.
    pub fn serve(self, options: ServerOptions) {
        let now = Instant::now();
        let mut pool = Pool {
            place: self.place,
            next_env: options.first_env.clone(),
            options,
            started: now,
            last_request: now,
            spares: Vec::new(),
            handed: Vec::new(),
            handed_out: 0,
            given_back: 0,
            last_failure: None,
            last_handover: None,
            cpu: CpuMeter::default(),
        };
        tracing::info!(socket = %pool.place.socket.display(), "engine pool listening");
        loop {
            reap_children();
            pool.keep_a_spare();
            if pool.handed.is_empty() && pool.last_request.elapsed() >= pool.options.idle {
                tracing::info!("idle; the engine pool ends");
                break;
            }
            if pool.poll_once(&self.listener) == Flow::Stop {
                break;
            }
        }
        let _ = std::fs::remove_file(&pool.place.socket);
        // Dropping a spare's socket ends it (and PDEATHSIG would, too).
        pool.spares.clear();
        reap_children();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Go,
    Stop,
}

impl Pool {
    fn keep_a_spare(&mut self) {
        // A spare at the lowest priority does not compete with a kernel's
        // engine that is still starting; one at normal priority would.
        let starting = !crate::priority::can_restore() && self.handed.iter().any(|h| !h.ready);
        let backing_off = self
            .last_failure
            .is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE);
        let idle = self.cpu.idle_share();
        // A spare at the lowest priority takes only CPU nobody else wants:
        // it is started at once.
        let just_handed = !crate::priority::can_restore()
            && self.last_handover.is_some_and(|at| {
                let since = at.elapsed();
                since < SPARE_DELAY
                    || (since < SPARE_DELAY_MAX && idle.is_some_and(|i| i < IDLE_ENOUGH))
            });
        // One at a time: a spare made from nothing is ~10 s of one core.
        let making = self.spares.iter().any(|s| !s.ready && !s.given_back);
        let wanted = self.spares.len() < self.options.spares;
        if wanted && !making && !starting && !backing_off && !just_handed {
            match Host::start(&self.options, &self.next_env) {
                Ok(host) => self.spares.push(host),
                Err(error) => {
                    tracing::error!(%error, "cannot start a spare engine");
                    self.last_failure = Some(Instant::now());
                }
            }
        }
    }

    fn poll_once(&mut self, listener: &UnixListener) -> Flow {
        let mut fds = vec![PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        for spare in &self.spares {
            fds.push(PollFd::new(spare.status.as_fd(), PollFlags::POLLIN));
        }
        for host in &self.handed {
            fds.push(PollFd::new(host.status.as_fd(), PollFlags::POLLIN));
        }
        if poll(&mut fds, PollTimeout::from(1000u16)).is_err() {
            return Flow::Go;
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let index = 1 + self.spares.len();
        let mut kept = Vec::with_capacity(self.spares.len());
        for (mut spare, readable) in self.spares.drain(..).zip(ready[1..index].iter()) {
            if !*readable || spare.read_status() {
                kept.push(spare);
            } else if spare.given_back {
                tracing::info!(
                    pid = spare.pid,
                    "an engine given back was not kept; see its log"
                );
            } else if !spare.ready {
                tracing::warn!("the spare engine died while starting; see its log");
                self.last_failure = Some(Instant::now());
            }
        }
        self.spares = kept;
        let mut alive = Vec::with_capacity(self.handed.len());
        for (mut host, readable) in self.handed.drain(..).zip(ready[index..].iter()) {
            if !*readable || host.read_status() {
                alive.push(host);
            } else {
                tracing::info!(pid = host.pid, "an engine in use has ended");
            }
        }
        self.handed = alive;
        if ready[0] {
            loop {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if self.serve_peer(stream) == Flow::Stop {
                            return Flow::Stop;
                        }
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        break;
                    }
                }
            }
        }
        Flow::Go
    }

    fn serve_peer(&mut self, stream: UnixStream) -> Flow {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
        let _ = stream.set_write_timeout(Some(HANDSHAKE_TIMEOUT));
        if let Err(refused) = check_peer(&stream) {
            tracing::warn!(reason = %refused, "refused a connection");
            let reason = refused.to_string();
            let _ = wire::send(&stream, &PoolReply::Refused { reason });
            return Flow::Go;
        }
        match wire::recv::<PoolRequest>(&stream) {
            Ok(Some(PoolRequest::Hello { protocol })) if protocol == PROTOCOL_VERSION => {}
            Ok(Some(PoolRequest::Hello { protocol })) => {
                let reason = format!("protocol {protocol} is not this pool's ({PROTOCOL_VERSION})");
                let _ = wire::send(&stream, &PoolReply::Refused { reason });
                return Flow::Go;
            }
            other => {
                tracing::warn!(?other, "a peer did not say hello");
                return Flow::Go;
            }
        }
        let welcome = PoolReply::Welcome {
            pid: std::process::id() as i32,
        };
        if wire::send(&stream, &welcome).is_err() {
            return Flow::Go;
        }
        let (request, fd) = match wire::recv_with_fd::<PoolRequest>(&stream) {
            Ok(Some(request)) => request,
            _ => return Flow::Go,
        };
        self.last_request = Instant::now();
        match request {
            PoolRequest::Acquire { env } => self.hand_over(&stream, env),
            PoolRequest::Return { pid } => self.take_back(&stream, pid, fd),
            PoolRequest::Status => {
                let _ = wire::send(&stream, &PoolReply::Status(self.status()));
            }
            PoolRequest::Stop => {
                let _ = wire::send(&stream, &PoolReply::Stopping);
                return Flow::Stop;
            }
            PoolRequest::Hello { .. } => {}
        }
        Flow::Go
    }

    /// Gives the kernel the spare if it suits its environment, else a host
    /// started for it now (the kernel then waits for it to start).
    fn hand_over(&mut self, stream: &UnixStream, env: EngineEnv) {
        let key = owned_key(&env);
        let mut host = match self.take_spare(&key) {
            Some(spare) => spare,
            None => match Host::start(&self.options, &env) {
                Ok(host) => host,
                Err(error) => {
                    let reason = format!("cannot start an engine: {error}");
                    let _ = wire::send(stream, &PoolReply::Refused { reason });
                    return;
                }
            },
        };
        // A host that died (read end at EOF) must not be handed out.
        if !host_alive(&mut host) {
            match Host::start(&self.options, &env) {
                Ok(fresh) => host = fresh,
                Err(_) => return,
            }
        }
        self.next_env = env;
        let Some(socket) = host.socket.take() else {
            return;
        };
        let reply = PoolReply::Engine {
            pid: host.pid,
            ready: host.ready,
        };
        match wire::send_with_fd(stream, &reply, socket.as_fd()) {
            Ok(()) => {
                // Our copy goes now: the kernel's is the only one.
                drop(socket);
                self.handed_out += 1;
                self.last_handover = Some(Instant::now());
                tracing::info!(pid = host.pid, ready = host.ready, "handed an engine over");
                self.handed.push(host);
            }
            Err(error) => {
                // Not sent, so still ours: keep it for the next kernel.
                tracing::warn!(%error, "could not hand the engine over");
                host.socket = Some(socket);
                self.spares.push(host);
            }
        }
    }

    /// The best spare ([`Host::rank`]) for a kernel with engine variables `key`.
    /// Spares made for another environment suit nobody any more: the next
    /// ones are made for this kernel's.
    fn take_spare(&mut self, key: &BTreeMap<String, String>) -> Option<Host> {
        self.spares.retain(|spare| spare.key == *key);
        let best = (self.spares.iter().enumerate())
            .filter(|(_, spare)| spare.key == *key)
            .min_by_key(|(_, spare)| spare.rank())
            .map(|(at, _)| at)?;
        Some(self.spares.remove(best))
    }

    /// Takes back the engine host `pid` that a kernel is done with, its
    /// socket in `fd`: it is kept as a spare (making itself fresh), or, with
    /// as many as wanted kept already, let go.
    fn take_back(&mut self, stream: &UnixStream, pid: i32, fd: Option<std::os::fd::OwnedFd>) {
        let refuse = |reason: String| {
            tracing::warn!(%reason, "refused an engine given back");
            let _ = wire::send(stream, &PoolReply::Refused { reason });
        };
        let Some(fd) = fd else {
            return refuse("no engine socket came with the request".to_owned());
        };
        let Some(at) = self.handed.iter().position(|host| host.pid == pid) else {
            return refuse(format!("engine {pid} is not one this pool handed out"));
        };
        let mut host = self.handed.remove(at);
        host.socket = Some(UnixStream::from(fd));
        host.given_back = true;
        host.returns += 1;
        host.ready = host.fresh >= host.returns;
        host.started = Instant::now();
        let _ = wire::send(stream, &PoolReply::Taken);
        self.given_back += 1;
        tracing::info!(pid, "an engine was given back");
        if self.spares.len() >= self.options.spares {
            // One still starting from nothing is ready later than this one.
            match (self.spares.iter()).position(|spare| !spare.ready && !spare.given_back) {
                Some(cold) => drop(self.spares.remove(cold)),
                // Dropping our end ends it once its kernel has exited.
                None => return,
            }
        }
        self.spares.push(host);
    }

    /// The spare a kernel of the last environment would get.
    fn next_spare(&self) -> Option<&Host> {
        let key = owned_key(&self.next_env);
        (self.spares.iter())
            .filter(|spare| spare.key == key)
            .min_by_key(|spare| spare.rank())
            .or_else(|| self.spares.first())
    }

    fn status(&self) -> PoolStatus {
        PoolStatus {
            pid: std::process::id() as i32,
            socket: self.place.socket.clone(),
            uptime_secs: self.started.elapsed().as_secs_f64(),
            idle_secs: self.last_request.elapsed().as_secs_f64(),
            idle_limit_secs: self.options.idle.as_secs_f64(),
            spare: self.next_spare().map(|spare| SpareStatus {
                pid: spare.pid,
                ready: spare.ready,
                given_back: spare.given_back,
                age_secs: spare.started.elapsed().as_secs_f64(),
            }),
            spares: self.spares.len(),
            ready_spares: self.spares.iter().filter(|spare| spare.ready).count(),
            spares_wanted: self.options.spares,
            given_back: self.given_back,
            engines_in_use: self.handed.len(),
            handed_out: self.handed_out,
        }
    }
}

/// The machine's idle CPU share between two readings of `/proc/stat`.
#[derive(Debug, Default)]
struct CpuMeter {
    last: Option<(u64, u64)>,
}

impl CpuMeter {
    /// Idle share since the last call (`None` on the first, or without `/proc`).
    fn idle_share(&mut self) -> Option<f64> {
        let now = cpu_times()?;
        let share = self.last.and_then(|(idle, total)| {
            let total = now.1.checked_sub(total).filter(|t| *t > 0)?;
            Some(now.0.saturating_sub(idle) as f64 / total as f64)
        });
        self.last = Some(now);
        share
    }
}

/// (idle + iowait, total) jiffies of all CPUs.
fn cpu_times() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some((idle, fields.iter().sum()))
}

/// Why a connection was refused before its first request was read.
#[derive(Debug, Error)]
enum PeerRefused {
    /// `SO_PEERCRED` failed.
    #[error("cannot read the peer's credentials: {0}")]
    Credentials(nix::Error),
    /// Another user's process.
    #[error("uid {peer} may not use the engine pool of uid {mine}")]
    OtherUser { peer: u32, mine: u32 },
}

/// Only processes of the pool's own user are served.
fn check_peer(stream: &UnixStream) -> Result<(), PeerRefused> {
    let credentials =
        nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials)
            .map_err(PeerRefused::Credentials)?;
    let mine = nix::unistd::getuid().as_raw();
    if credentials.uid() != mine {
        return Err(PeerRefused::OtherUser {
            peer: credentials.uid(),
            mine,
        });
    }
    Ok(())
}

/// Whether the host's process still runs (its status pipe is not at EOF).
fn host_alive(host: &mut Host) -> bool {
    let mut fds = [PollFd::new(host.status.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(0) => true,
        Ok(_) => host.read_status(),
        Err(_) => true,
    }
}

/// Collects every exited child, so hosts leave no zombies.
fn reap_children() {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

//! Starting a cluster: the launcher started, every worker joined (checked,
//! probed for a dead host) and shown in the timeline; or, when anything
//! fails first, the launcher ended.

use super::dispatch::Dispatcher;
use super::launch::{self, end_launcher};
use super::{ClusterBuilder, ClusterFailure, WorkerInfo, library, wire, worker};
use crate::error::{Error, Result};
use crate::multiprocessing::connection::{Connection, Listener};
use crate::sys::deadline::Deadline;
use crate::sys::timeline::{self, Group};
use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

/// What a started cluster is made of.
pub(super) struct Started {
    pub(super) dispatcher: Arc<Dispatcher>,
    /// By rank.
    pub(super) workers: Vec<WorkerInfo>,
    pub(super) connections: Vec<Arc<Connection>>,
    pub(super) launcher: Vec<Child>,
    /// One per host, so the timeline shows the workers by host.
    pub(super) timeline_groups: Vec<Group>,
}

/// Starts the launcher and waits for every worker to join.
pub(super) fn start(builder: &ClusterBuilder) -> Result<Started> {
    let standard_library = library::standard_library()?;
    let launcher = &builder.launcher;
    let expected = launcher.workers();
    let mut key = [0u8; 32];
    crate::sys::authkey::fill_random(&mut key)?;
    let bind_to = if launcher.is_local() {
        "127.0.0.1:0"
    } else {
        "0.0.0.0:0"
    };
    let mut listener = Listener::bind(bind_to, key.as_slice())?;
    listener.set_max_frame(worker::MAX_FRAME);
    let port = listener.address().to_string();
    let port = port.rsplit(':').next().unwrap_or_default().to_owned();
    let addresses = launch::kernel_addresses(launcher.is_local())
        .iter()
        .map(|address| format!("{address}:{port}"))
        .collect::<Vec<_>>()
        .join(",");
    // The launcher writes to the same output: what came before goes first.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let _ = std::io::Write::flush(&mut std::io::stderr());
    let children = launcher
        .spawn(
            &launch::worker_program(),
            &builder.extra_args,
            &library::hex(&key),
            &addresses,
        )
        .map_err(|e| {
            Error::Cluster(ClusterFailure::Launch {
                launcher: launcher.program().to_owned(),
                reason: e.to_string(),
            })
        })?;
    let mut starting = Starting {
        launcher: children,
        connections: Vec::new(),
    };
    let dispatcher = Dispatcher::new(standard_library);
    let deadline = Deadline::after(Some(builder.start_timeout));
    let mut workers = Vec::new();
    while workers.len() < expected {
        deadline.check()?;
        if let Some(status) = starting.launcher_exited() {
            return Err(Error::Cluster(ClusterFailure::LauncherExited {
                launcher: launcher.program().to_owned(),
                status,
                connected: workers.len(),
                expected,
            }));
        }
        if deadline.expired() {
            return Err(Error::Cluster(ClusterFailure::StartTimeout {
                connected: workers.len(),
                expected,
                seconds: builder.start_timeout.as_secs(),
                addresses,
            }));
        }
        let conn = match listener.accept_timeout(Duration::from_millis(100)) {
            Ok(conn) => conn,
            Err(Error::Timeout) => continue,
            // A peer without the key, or one that hung up: not a worker.
            Err(Error::AuthenticationError(_) | Error::Eof | Error::Io(_)) => continue,
            Err(other) => return Err(other),
        };
        conn.set_max_frame(worker::MAX_FRAME);
        keep_alive(&conn);
        let hello: wire::Hello = conn.recv_timeout(Duration::from_secs(10))?;
        check(&hello)?;
        let info = WorkerInfo {
            host: hello.host,
            pid: hello.pid,
            rank: hello.rank,
        };
        let conn = Arc::new(conn);
        starting.connections.push(Arc::clone(&conn));
        workers.push((conn, info));
    }
    workers.sort_by_key(|(_, info)| (info.rank, info.host.clone(), info.pid));
    let timeline_groups = record_in_timeline(launcher.program(), &workers);
    for (conn, info) in &workers {
        dispatcher.serve(Arc::clone(conn), info.clone());
    }
    Ok(Started {
        dispatcher,
        workers: workers.iter().map(|(_, info)| info.clone()).collect(),
        connections: std::mem::take(&mut starting.connections),
        launcher: std::mem::take(&mut starting.launcher),
        timeline_groups,
    })
}

/// Shows the workers in the notebook's timeline, grouped by host
/// (`Cluster on node1 (mpirun)`), from now until they stop.
fn record_in_timeline(launcher: &str, workers: &[(Arc<Connection>, WorkerInfo)]) -> Vec<Group> {
    let mut groups: Vec<(String, Group)> = Vec::new();
    for (_, worker) in workers {
        if !groups.iter().any(|(host, _)| *host == worker.host) {
            let label = format!("Cluster on {} ({launcher})", worker.host);
            groups.push((worker.host.clone(), Group::new(label)));
        }
        let group = groups
            .iter()
            .find(|(host, _)| *host == worker.host)
            .and_then(|(_, group)| group.id());
        let name = match worker.rank {
            Some(rank) => format!("worker {rank}"),
            None => "worker".to_owned(),
        };
        timeline::record_remote_start(worker.pid as i32, &name, group);
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

/// A cluster being started: ends the launcher if the start fails.
struct Starting {
    launcher: Vec<Child>,
    connections: Vec<Arc<Connection>>,
}

impl Starting {
    /// How a launcher process ended, if one did: before every worker has
    /// joined, that is a failure (an ssh's worker exited, or mpirun gave up).
    fn launcher_exited(&mut self) -> Option<String> {
        self.launcher
            .iter_mut()
            .find_map(|child| match child.try_wait() {
                Ok(Some(status)) => Some(status.to_string()),
                Ok(None) => None,
                Err(e) => Some(e.to_string()),
            })
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        for conn in &self.connections {
            let _ = conn.send_uninterruptible(&wire::Order::Stop);
        }
        // At once and off this thread: a start given up (an interrupt among
        // others) must return before the kernel's interrupt grace runs out.
        let children = std::mem::take(&mut self.launcher);
        std::thread::spawn(move || end_launcher(children, Duration::ZERO));
    }
}

/// Has the system probe an idle connection, so a host that froze or dropped
/// off the network fails its worker's task within about 30 s instead of
/// never (a dead process closes its socket at once; a dead host does not).
fn keep_alive(conn: &Connection) {
    use nix::sys::socket::{setsockopt, sockopt};
    let _ = setsockopt(conn, sockopt::KeepAlive, &true);
    let _ = setsockopt(conn, sockopt::TcpKeepIdle, &15);
    let _ = setsockopt(conn, sockopt::TcpKeepInterval, &5);
    let _ = setsockopt(conn, sockopt::TcpKeepCount, &3);
}

/// Refuses a worker that cannot run what the kernel ships.
fn check(hello: &wire::Hello) -> Result<()> {
    let mismatch = |what: &str, ours: String, theirs: String| {
        Err(Error::Cluster(ClusterFailure::Mismatch {
            host: hello.host.clone(),
            what: what.to_owned(),
            ours,
            theirs,
        }))
    };
    if hello.protocol != wire::PROTOCOL {
        return mismatch(
            "cluster protocol",
            wire::PROTOCOL.to_string(),
            hello.protocol.to_string(),
        );
    }
    let version = env!("CARGO_PKG_VERSION");
    if hello.version != version {
        return mismatch(
            "ferrokernel version",
            version.to_owned(),
            hello.version.clone(),
        );
    }
    if hello.target != wire::target() {
        return mismatch("target", wire::target(), hello.target.clone());
    }
    Ok(())
}

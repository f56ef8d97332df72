//! Beyond one machine: a [`Pool`](ClusterPool) and an
//! [`Executor`](ClusterExecutor) whose workers run on many hosts, started by
//! the launchers clusters already have (Open MPI's `mpirun`, Slurm's `srun`,
//! or plain `ssh`).
//!
//! ```no_run
//! use ferrokernel_prelude::cluster::Cluster;
//! # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
//! fn square(n: u64) -> u64 {
//!     n * n
//! }
//! let cluster = Cluster::mpirun(["h1:2", "h2:2", "h3:2"])?; // as `mpirun -H` takes them
//! let pool = cluster.pool()?;
//! let squares = pool.map(square, 0..600u64)?;
//! let offsets = pool.map_with(&10u64, |offset, n: u64| n + offset, 0..6u64)?;
//! cluster.shutdown()?;
//! # Ok(())
//! # }
//! ```
//!
//! **What runs remotely.** A notebook cell is compiled into a shared library;
//! a cluster call ships that library (and the toolchain's `libstd`, once) to
//! the workers by content hash, and they call the function by its place in
//! it: nothing is recompiled on the hosts and no toolchain is needed there,
//! but they must run the same target (checked when a worker joins). So the
//! function must be a `fn` item or a closure that captures nothing — a
//! closure that captures is a compile-time error that points to `map_with`,
//! which sends one serializable context with the call. Items and results are
//! serde types (postcard). Code outside a shared library (a plain program's
//! `main`) cannot be shipped: [`ClusterFailure::NotInSharedLibrary`].
//!
//! **Failures.** A panic in a worker fails its item with the panic's message
//! (the worker lives on); a worker that dies fails the chunk it held with
//! [`Error::WorkerDied`] naming its host, and takes no more work; the others
//! go on. An interrupt ends the call; chunks already on workers finish there
//! and are dropped, and the cluster stays usable.
//!
//! **Security.** Workers connect back over the prelude's authenticated
//! connection with a fresh random key per cluster, passed to them in their
//! environment through mpirun or srun, or through ssh's standard input —
//! never on a command line. The kernel
//! listens on loopback when every host is `localhost`, else on all
//! interfaces. Nothing is encrypted: across untrusted networks, tunnel.

mod dispatch;
mod entry;
mod executor;
mod launch;
mod library;
mod pool;
mod start;
mod wire;
pub mod worker;

pub use executor::ClusterExecutor;
pub use pool::{ClusterIMap, ClusterIMapUnordered, ClusterPool};

use crate::error::Result;
use crate::multiprocessing::connection::Connection;
use crate::sys::timeline::Group;
use dispatch::Dispatcher;
use launch::{Launcher, end_launcher};
use std::ffi::OsString;
use std::process::Child;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use thiserror::Error;

/// What went wrong with a cluster.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClusterFailure {
    /// The launcher could not be started.
    #[error("could not start {launcher}: {reason}")]
    Launch {
        /// `mpirun` or `srun`.
        launcher: String,
        /// Why.
        reason: String,
    },
    /// The launcher ended before every worker had connected.
    #[error(
        "{launcher} exited ({status}) after {connected} of {expected} workers connected; its messages are above"
    )]
    LauncherExited {
        /// `mpirun` or `srun`.
        launcher: String,
        /// How it ended.
        status: String,
        /// Workers that had connected.
        connected: usize,
        /// Workers asked for.
        expected: usize,
    },
    /// Not every worker connected in time.
    #[error(
        "only {connected} of {expected} workers connected within {seconds} s (can the hosts reach this machine at {addresses}? set FERROKERNEL_CLUSTER_ADDRESS to the address they can)"
    )]
    StartTimeout {
        /// Workers that had connected.
        connected: usize,
        /// Workers asked for.
        expected: usize,
        /// The time allowed.
        seconds: u64,
        /// The addresses the workers were given.
        addresses: String,
    },
    /// A worker differs from the kernel in a way that matters.
    #[error("the worker on {host} differs: its {what} is {theirs}, the kernel's is {ours}")]
    Mismatch {
        /// The worker's host.
        host: String,
        /// What differs (`target`, `protocol`).
        what: String,
        /// The kernel's.
        ours: String,
        /// The worker's.
        theirs: String,
    },
    /// The function to run is not in a shared library, so it cannot be shipped.
    #[error(
        "the function to run is in {path}, not in a shared library: a cluster ships notebook cells' code (compiled as shared libraries)"
    )]
    NotInSharedLibrary {
        /// The object the function is in.
        path: String,
    },
    /// A task could not run on a worker (its library did not load, its input did not decode).
    #[error("{worker}: {message}")]
    TaskFailed {
        /// The worker.
        worker: String,
        /// Why.
        message: String,
    },
    /// Every worker is gone.
    #[error("no worker of the cluster is left")]
    NoWorkersLeft,
    /// The cluster was shut down.
    #[error("the cluster was shut down")]
    ShutDown,
    /// A worker broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// One worker of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// The host it runs on (its hostname).
    pub host: String,
    /// Its process id there.
    pub pid: u32,
    /// Its rank among the launcher's processes, when the launcher gives one.
    pub rank: Option<u32>,
}

impl WorkerInfo {
    fn nobody() -> WorkerInfo {
        WorkerInfo {
            host: "-".to_owned(),
            pid: 0,
            rank: None,
        }
    }
}

impl std::fmt::Display for WorkerInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.rank {
            Some(rank) => write!(f, "worker {rank} on {} (pid {})", self.host, self.pid),
            None => write!(f, "worker on {} (pid {})", self.host, self.pid),
        }
    }
}

/// How to start a [`Cluster`]: [`Cluster::mpirun`] and [`Cluster::srun`]
/// with their defaults, or this builder for launcher options and timeouts.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    launcher: Launcher,
    extra_args: Vec<OsString>,
    start_timeout: Duration,
}

impl ClusterBuilder {
    /// `launcher` with no options of its own and 60 s for the workers to join.
    fn new(launcher: Launcher) -> ClusterBuilder {
        ClusterBuilder {
            launcher,
            extra_args: Vec::new(),
            start_timeout: Duration::from_secs(60),
        }
    }

    /// Arguments for the launcher, before the worker program (`--oversubscribe`,
    /// `--mca btl_tcp_if_include eth0`, `--partition=debug`, ...).
    pub fn launcher_args(mut self, args: impl IntoIterator<Item = impl Into<OsString>>) -> Self {
        self.extra_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// How long every worker has to connect (default 60 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Starts the launcher and waits for every worker to connect.
    pub fn start(self) -> Result<Cluster> {
        Cluster::start(self)
    }
}

/// Workers on many hosts, started by a launcher; make pools and executors on it.
///
/// Dropping it (or [`shutdown`](Cluster::shutdown)) stops the workers and the
/// launcher. It is cheap to clone: clones share the workers.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    dispatcher: Arc<Dispatcher>,
    workers: Vec<WorkerInfo>,
    connections: Vec<Arc<Connection>>,
    launcher_name: &'static str,
    launcher: Mutex<Vec<Child>>,
    /// One per host, so the timeline shows the workers by host.
    _timeline_groups: Vec<Group>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("launcher", &self.inner.launcher_name)
            .field("workers", &self.inner.workers.len())
            .field("alive", &self.inner.dispatcher.alive())
            .finish()
    }
}

impl Cluster {
    /// Workers started by Open MPI's `mpirun` on `hosts`, written as
    /// `mpirun -H` takes them (`"node1:4"` for four slots, `"node2"` for one).
    pub fn mpirun(hosts: impl IntoIterator<Item = impl AsRef<str>>) -> Result<Cluster> {
        Cluster::mpirun_builder(hosts).start()
    }

    /// A builder for [`mpirun`](Cluster::mpirun), for launcher options.
    pub fn mpirun_builder(hosts: impl IntoIterator<Item = impl AsRef<str>>) -> ClusterBuilder {
        ClusterBuilder::new(Launcher::Mpirun {
            hosts: hosts.into_iter().map(|h| h.as_ref().to_owned()).collect(),
        })
    }

    /// `workers` workers started by `mpirun --hostfile hostfile` (Open MPI's
    /// hostfile: `node1 slots=4` per line).
    pub fn mpirun_hostfile(
        hostfile: impl Into<std::path::PathBuf>,
        workers: usize,
    ) -> Result<Cluster> {
        Cluster::mpirun_hostfile_builder(hostfile, workers).start()
    }

    /// A builder for [`mpirun_hostfile`](Cluster::mpirun_hostfile), for launcher options.
    pub fn mpirun_hostfile_builder(
        hostfile: impl Into<std::path::PathBuf>,
        workers: usize,
    ) -> ClusterBuilder {
        ClusterBuilder::new(Launcher::MpirunHostfile {
            hostfile: hostfile.into(),
            workers,
        })
    }

    /// Workers started over `ssh` on `hosts` (`"node1:4"`: four on node1),
    /// for machines without MPI or Slurm. Each worker gets the key through
    /// ssh's standard input; `FERROKERNEL_CLUSTER_SSH` names another program
    /// taking ssh's arguments.
    pub fn ssh(hosts: impl IntoIterator<Item = impl AsRef<str>>) -> Result<Cluster> {
        Cluster::ssh_builder(hosts).start()
    }

    /// A builder for [`ssh`](Cluster::ssh), for ssh's options (`-o BatchMode=yes`, `-p 2222`).
    pub fn ssh_builder(hosts: impl IntoIterator<Item = impl AsRef<str>>) -> ClusterBuilder {
        ClusterBuilder::new(Launcher::Ssh {
            hosts: hosts.into_iter().map(|h| h.as_ref().to_owned()).collect(),
        })
    }

    /// `tasks` workers started by Slurm's `srun` inside an allocation
    /// (`salloc`, `sbatch`).
    pub fn srun(tasks: usize) -> Result<Cluster> {
        Cluster::srun_builder(tasks).start()
    }

    /// A builder for [`srun`](Cluster::srun), for launcher options.
    pub fn srun_builder(tasks: usize) -> ClusterBuilder {
        ClusterBuilder::new(Launcher::Srun { tasks })
    }

    fn start(builder: ClusterBuilder) -> Result<Cluster> {
        let started = start::start(&builder)?;
        Ok(Cluster {
            inner: Arc::new(Inner {
                dispatcher: started.dispatcher,
                workers: started.workers,
                connections: started.connections,
                launcher_name: builder.launcher.program(),
                launcher: Mutex::new(started.launcher),
                _timeline_groups: started.timeline_groups,
            }),
        })
    }

    /// The workers that joined, by rank.
    pub fn workers(&self) -> Vec<WorkerInfo> {
        self.inner.workers.clone()
    }

    /// How many workers are still serving.
    pub fn alive(&self) -> usize {
        self.inner.dispatcher.alive()
    }

    /// A pool over every worker of the cluster.
    pub fn pool(&self) -> Result<ClusterPool> {
        Ok(ClusterPool::new(self.clone()))
    }

    /// A `concurrent.futures`-style executor over every worker of the cluster.
    pub fn executor(&self) -> Result<ClusterExecutor> {
        Ok(ClusterExecutor::new(self.clone()))
    }

    pub(crate) fn dispatcher(&self) -> &Arc<Dispatcher> {
        &self.inner.dispatcher
    }

    /// Stops the workers and waits for the launcher to end (it is ended
    /// after 5 s). Pools and executors of the cluster fail from then on.
    pub fn shutdown(&self) -> Result<()> {
        self.inner.shutdown();
        Ok(())
    }
}

impl Inner {
    fn shutdown(&self) {
        self.dispatcher.stop();
        for conn in &self.connections {
            let _ = conn.send_uninterruptible(&wire::Order::Stop);
        }
        let children =
            std::mem::take(&mut *self.launcher.lock().unwrap_or_else(PoisonError::into_inner));
        end_launcher(children, Duration::from_secs(5));
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

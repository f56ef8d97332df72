//! Starting workers with the launchers clusters already have: Open MPI's
//! `mpirun` and Slurm's `srun`. The launcher starts `ferrokernel
//! cluster-worker` on every slot; each worker connects back to the kernel.

use super::worker::{ADDRESSES_VAR, KEY_VAR};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// How a cluster's workers are started.
#[derive(Debug, Clone)]
pub(crate) enum Launcher {
    /// `mpirun -H host:slots,... -np N`.
    Mpirun { hosts: Vec<String> },
    /// `mpirun --hostfile FILE -np N`.
    MpirunHostfile { hostfile: PathBuf, workers: usize },
    /// `srun -n N` inside a Slurm allocation.
    Srun { tasks: usize },
}

impl Launcher {
    pub(crate) fn program(&self) -> &'static str {
        match self {
            Launcher::Mpirun { .. } | Launcher::MpirunHostfile { .. } => "mpirun",
            Launcher::Srun { .. } => "srun",
        }
    }

    /// How many workers the launcher starts.
    pub(crate) fn workers(&self) -> usize {
        match self {
            Launcher::Mpirun { hosts } => hosts.iter().map(|host| slots_of(host)).sum(),
            Launcher::MpirunHostfile { workers, .. } => *workers,
            Launcher::Srun { tasks } => *tasks,
        }
    }

    /// Whether every worker runs on this machine (then the kernel listens on
    /// loopback only).
    pub(crate) fn is_local(&self) -> bool {
        match self {
            Launcher::Mpirun { hosts } => hosts.iter().all(|host| {
                let name = host.split(':').next().unwrap_or(host);
                matches!(name, "localhost" | "127.0.0.1" | "::1")
            }),
            Launcher::MpirunHostfile { .. } | Launcher::Srun { .. } => false,
        }
    }

    /// The launcher's command, which starts `worker cluster-worker` everywhere
    /// with the key and the kernel's addresses in its environment.
    pub(crate) fn command(
        &self,
        worker: &PathBuf,
        extra_args: &[OsString],
        key: &str,
        addresses: &str,
    ) -> Command {
        let mut command = Command::new(self.program());
        match self {
            Launcher::Mpirun { hosts } => {
                command.arg("-H").arg(hosts.join(","));
            }
            Launcher::MpirunHostfile { hostfile, .. } => {
                command.arg("--hostfile").arg(hostfile);
            }
            Launcher::Srun { .. } => {}
        }
        match self {
            Launcher::Mpirun { .. } | Launcher::MpirunHostfile { .. } => {
                command
                    .arg("-np")
                    .arg(self.workers().to_string())
                    // A worker that dies fails its own chunk; without this,
                    // mpirun would end every other worker too.
                    .arg("--enable-recovery")
                    // Exported to the workers by name: the key never appears
                    // on a command line.
                    .args(["-x", KEY_VAR, "-x", ADDRESSES_VAR]);
            }
            Launcher::Srun { tasks } => {
                command.arg("-n").arg(tasks.to_string()).arg("--export=ALL");
            }
        }
        command
            .args(extra_args)
            .arg(worker)
            .arg("cluster-worker")
            .env(KEY_VAR, key)
            .env(ADDRESSES_VAR, addresses)
            .stdin(Stdio::null());
        // A notebook's runtime is the ferrokernel program started with these:
        // a worker (the same program, on this host too) must not inherit them.
        for engine_var in [
            "EVCXR_IS_RUNTIME",
            "EVCXR_RUSTC_WRAPPER",
            "FERROKERNEL_DEBUG_SOURCES",
        ] {
            command.env_remove(engine_var);
        }
        command
    }
}

/// The slots of an `mpirun -H` entry: `host:4` has four, `host` one.
fn slots_of(host: &str) -> usize {
    host.rsplit_once(':')
        .and_then(|(_, slots)| slots.parse().ok())
        .unwrap_or(1)
}

/// The program the launcher starts on every host: `FERROKERNEL_CLUSTER_WORKER`,
/// else this program when it is ferrokernel (a notebook's runtime is), else
/// `ferrokernel` on the hosts' PATH.
pub(crate) fn worker_program() -> PathBuf {
    if let Some(path) = std::env::var_os("FERROKERNEL_CLUSTER_WORKER") {
        return PathBuf::from(path);
    }
    std::env::current_exe()
        .ok()
        .filter(|exe| {
            exe.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("ferrokernel"))
        })
        .unwrap_or_else(|| PathBuf::from("ferrokernel"))
}

/// This machine's addresses the workers may reach it at: the one named by
/// `FERROKERNEL_CLUSTER_ADDRESS` if set, else every IPv4 interface's, the
/// loopback last.
pub(crate) fn kernel_addresses(local: bool) -> Vec<String> {
    if let Ok(address) = std::env::var("FERROKERNEL_CLUSTER_ADDRESS") {
        return address.split(',').map(str::to_owned).collect();
    }
    if local {
        return vec!["127.0.0.1".to_owned()];
    }
    let mut addresses: Vec<std::net::Ipv4Addr> = nix::ifaddrs::getifaddrs()
        .map(|interfaces| {
            interfaces
                .filter_map(|interface| interface.address?.as_sockaddr_in().map(|a| a.ip()))
                .collect()
        })
        .unwrap_or_default();
    addresses.sort_by_key(|address| address.is_loopback());
    addresses.dedup();
    addresses
        .iter()
        .map(|address| address.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_mpiruns_host_syntax() {
        let launcher = Launcher::Mpirun {
            hosts: vec!["h1:2".into(), "h2".into(), "h3:3".into()],
        };
        assert_eq!(launcher.workers(), 6);
        assert!(!launcher.is_local());
        let local = Launcher::Mpirun {
            hosts: vec!["localhost:4".into()],
        };
        assert!(local.is_local());
    }
}

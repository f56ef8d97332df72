//! Starting workers with the launchers clusters already have: Open MPI's
//! `mpirun`, Slurm's `srun`, or plain `ssh`. The launcher starts
//! `ferrokernel cluster-worker` on every slot; each worker connects back to
//! the kernel.

use super::worker::{ADDRESSES_VAR, KEY_VAR, RANK_VAR};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How a cluster's workers are started.
#[derive(Debug, Clone)]
pub(crate) enum Launcher {
    /// `mpirun -H host:slots,... -np N`.
    Mpirun { hosts: Vec<String> },
    /// `mpirun --hostfile FILE -np N`.
    MpirunHostfile { hostfile: PathBuf, workers: usize },
    /// `srun -n N` inside a Slurm allocation.
    Srun { tasks: usize },
    /// `ssh HOST ... cluster-worker`, once per slot.
    Ssh { hosts: Vec<String> },
}

impl Launcher {
    pub(crate) fn program(&self) -> &'static str {
        match self {
            Launcher::Mpirun { .. } | Launcher::MpirunHostfile { .. } => "mpirun",
            Launcher::Srun { .. } => "srun",
            Launcher::Ssh { .. } => "ssh",
        }
    }

    /// How many workers the launcher starts.
    pub(crate) fn workers(&self) -> usize {
        match self {
            Launcher::Mpirun { hosts } | Launcher::Ssh { hosts } => {
                hosts.iter().map(|host| slots_of(host)).sum()
            }
            Launcher::MpirunHostfile { workers, .. } => *workers,
            Launcher::Srun { tasks } => *tasks,
        }
    }

    /// Whether every worker runs on this machine (then the kernel listens on
    /// loopback only).
    pub(crate) fn is_local(&self) -> bool {
        match self {
            Launcher::Mpirun { hosts } | Launcher::Ssh { hosts } => hosts.iter().all(|host| {
                let name = host.split(':').next().unwrap_or(host);
                matches!(name, "localhost" | "127.0.0.1")
            }),
            Launcher::MpirunHostfile { .. } | Launcher::Srun { .. } => false,
        }
    }

    /// Starts the launcher's processes (one for mpirun and srun, one per
    /// slot for ssh), which start `worker cluster-worker` everywhere with the
    /// key and the kernel's addresses.
    pub(crate) fn spawn(
        &self,
        worker: &Path,
        extra_args: &[OsString],
        key: &str,
        addresses: &str,
    ) -> std::io::Result<Vec<Child>> {
        let Launcher::Ssh { hosts } = self else {
            let mut command = self.command(worker, extra_args);
            // Exported to the workers by name: the key never appears on a
            // command line.
            command.env(KEY_VAR, key).env(ADDRESSES_VAR, addresses);
            return Ok(vec![command.spawn()?]);
        };
        let mut children = Vec::new();
        let slots = hosts.iter().flat_map(|host| {
            let name = host.split(':').next().unwrap_or(host);
            std::iter::repeat_n(name, slots_of(host))
        });
        for (rank, host) in slots.enumerate() {
            let mut child = ssh_command(host, rank, worker, extra_args, addresses).spawn()?;
            if let Some(mut stdin) = child.stdin.take() {
                // A worker that never reads it simply never joins.
                let _ = writeln!(stdin, "{key}");
            }
            children.push(child);
        }
        Ok(children)
    }

    /// mpirun's or srun's command line.
    fn command(&self, worker: &Path, extra_args: &[OsString]) -> Command {
        let mut command = base(self.program());
        match self {
            Launcher::Mpirun { hosts } => {
                command.arg("-H").arg(hosts.join(","));
            }
            Launcher::MpirunHostfile { hostfile, .. } => {
                command.arg("--hostfile").arg(hostfile);
            }
            Launcher::Srun { .. } | Launcher::Ssh { .. } => {}
        }
        match self {
            Launcher::Mpirun { .. } | Launcher::MpirunHostfile { .. } => {
                command
                    .arg("-np")
                    .arg(self.workers().to_string())
                    // A worker that dies fails its own chunk; without this,
                    // mpirun would end every other worker too.
                    .arg("--enable-recovery")
                    .args(["-x", KEY_VAR, "-x", ADDRESSES_VAR]);
            }
            Launcher::Srun { tasks } => {
                command.arg("-n").arg(tasks.to_string()).arg("--export=ALL");
            }
            Launcher::Ssh { .. } => {}
        }
        command.args(extra_args).arg(worker).arg("cluster-worker");
        command
    }
}

/// A launcher process with stdin closed and without the runtime's variables.
fn base(program: &str) -> Command {
    let mut command = Command::new(program);
    command.stdin(Stdio::null());
    // A notebook's runtime is the ferrokernel program started with these: a
    // worker (the same program, on this host too) must not inherit them.
    for engine_var in [
        "EVCXR_IS_RUNTIME",
        "EVCXR_RUSTC_WRAPPER",
        "FERROKERNEL_DEBUG_SOURCES",
    ] {
        command.env_remove(engine_var);
    }
    command
}

/// `ssh HOST ... cluster-worker` for the worker of rank `rank`. The key is
/// not in it: the remote command reads it from stdin (`-`).
fn ssh_command(
    host: &str,
    rank: usize,
    worker: &Path,
    extra_args: &[OsString],
    addresses: &str,
) -> Command {
    let remote = format!(
        "{ADDRESSES_VAR}={} {KEY_VAR}=- {RANK_VAR}={rank} {} cluster-worker",
        shell_quoted(addresses),
        shell_quoted(&worker.to_string_lossy())
    );
    let mut command = base(&ssh_program());
    command
        .args(extra_args)
        .arg(host)
        .arg(remote)
        .stdin(Stdio::piped());
    command
}

/// `ssh`, or the program `FERROKERNEL_CLUSTER_SSH` names (same arguments:
/// host, then the remote command), as Open MPI's `plm_rsh_agent`.
fn ssh_program() -> String {
    std::env::var("FERROKERNEL_CLUSTER_SSH").unwrap_or_else(|_| "ssh".to_owned())
}

/// `text` as one word for a POSIX shell.
fn shell_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Waits up to `grace` for the launcher's processes to exit, then asks them
/// to (SIGTERM, which makes mpirun end its daemons and clean its session
/// directory), then kills them.
pub(crate) fn end_launcher(mut children: Vec<Child>, grace: Duration) {
    for (signal, wait) in [
        (None, grace),
        (
            Some(nix::sys::signal::Signal::SIGTERM),
            Duration::from_secs(5),
        ),
        (
            Some(nix::sys::signal::Signal::SIGKILL),
            Duration::from_secs(5),
        ),
    ] {
        if let Some(signal) = signal {
            for child in &children {
                let pid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::kill(pid, signal);
            }
        }
        let until = Instant::now() + wait;
        loop {
            children.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
            if children.is_empty() {
                return;
            }
            if Instant::now() >= until {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for mut child in children {
        let _ = child.wait();
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
    fn an_ssh_worker_reads_its_key_from_stdin_not_from_its_command() {
        let command = ssh_command(
            "node2",
            3,
            Path::new("/opt/fk/ferrokernel"),
            &["-p".into(), "2222".into()],
            "10.0.0.5:4000",
        );
        let args: Vec<String> = command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args[..3], ["-p", "2222", "node2"]);
        assert_eq!(
            args[3],
            "FERROKERNEL_CLUSTER_ADDRESSES='10.0.0.5:4000' FERROKERNEL_CLUSTER_KEY=- \
             FERROKERNEL_CLUSTER_RANK=3 '/opt/fk/ferrokernel' cluster-worker"
        );
        assert!(command.get_envs().all(|(name, _)| name != KEY_VAR));
    }

    #[test]
    fn a_path_is_one_shell_word() {
        assert_eq!(shell_quoted("/opt/fk/ferrokernel"), "'/opt/fk/ferrokernel'");
        assert_eq!(shell_quoted("/it's"), "'/it'\\''s'");
    }

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

//! A memory limit for the runtime and everything it starts
//! (`FERROKERNEL_MEMORY_LIMIT=2G`, in the kernel's environment or kernelspec),
//! and telling a death by lack of memory from other deaths.
//!
//! ## How the limit is held
//! The runtime applies the limit to itself, after its relay is forked (the
//! relay must live on to deliver the last output) and before any cell runs:
//! - with cgroup v2 where its memory controller can be used, the runtime moves
//!   into a cgroup of its own (`ferrokernel-runtime-<pid>`, beside its
//!   current one) with `memory.max` set and swap off, so everything it forks
//!   shares the one limit and going past it is a kill by the kernel's OOM
//!   killer, counted in that cgroup's `memory.events`;
//! - otherwise with `RLIMIT_DATA` (soft), which each process it forks
//!   inherits: an allocation past the limit fails, and Rust's allocator
//!   reports `memory allocation of N bytes failed` before it aborts. It counts
//!   each process's private memory, not the shared mappings the prelude's
//!   queues, pools and managers reserve (gigabytes of address space, barely
//!   touched), which is why it is not `RLIMIT_AS`.
//!
//! An engine made in advance gets the limit when a kernel claims it (through
//! the runtime's control pipe), and so does every runtime restarted later.
//!
//! ## How a death is explained
//! The engine reads what evcxr says about the runtime's end: its exit status
//! (a signal, named), the allocator's last words, the runtime cgroup's OOM
//! kills, and the system's count of OOM kills (`/proc/vmstat`), which grows
//! when the kernel's OOM killer ended the runtime for want of memory on the
//! whole machine.

use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The variable that sets the limit.
pub const LIMIT_VARIABLE: &str = "FERROKERNEL_MEMORY_LIMIT";
/// Names the runtime's cgroup (with its pid).
const CGROUP_PREFIX: &str = "ferrokernel-runtime-";

/// A memory limit in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimit {
    bytes: u64,
}

/// Why a memory limit was not understood.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error(
    "cannot read the memory limit {given:?} ({LIMIT_VARIABLE}): give a size such as `2G`, `512M` or `1.5GiB`"
)]
pub struct MemoryLimitError {
    given: String,
}

impl MemoryLimit {
    /// Reads `2G`, `512M`, `512MB`, `1.5GiB`, `1048576`. K, M, G and T count
    /// 1024s, as memory sizes usually do (`ulimit`, Docker).
    pub fn parse(text: &str) -> Result<MemoryLimit, MemoryLimitError> {
        let error = || MemoryLimitError {
            given: text.to_owned(),
        };
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let value: f64 = number.trim().parse().map_err(|_| error())?;
        let scale = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1u64,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            "t" | "tb" | "tib" => 1 << 40,
            _ => return Err(error()),
        };
        let bytes = value * scale as f64;
        if !(bytes.is_finite() && bytes >= 1.0) {
            return Err(error());
        }
        Ok(MemoryLimit {
            bytes: bytes as u64,
        })
    }

    /// The limit [`LIMIT_VARIABLE`] sets, if it is set (and understood).
    pub fn from_env() -> Option<MemoryLimit> {
        MemoryLimit::from_value(std::env::var(LIMIT_VARIABLE).ok().as_deref())
    }

    /// The limit a value of [`LIMIT_VARIABLE`] sets; an empty value sets none.
    pub fn from_value(value: Option<&str>) -> Option<MemoryLimit> {
        let value = value.filter(|v| !v.trim().is_empty())?;
        match MemoryLimit::parse(value) {
            Ok(limit) => Some(limit),
            Err(error) => {
                tracing::warn!(%error, "no memory limit");
                None
            }
        }
    }

    /// In bytes.
    pub fn bytes(self) -> u64 {
        self.bytes
    }
}

impl fmt::Display for MemoryLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [
            ("TiB", 1u64 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ];
        for (name, size) in units {
            if self.bytes >= size {
                let value = self.bytes as f64 / size as f64;
                let text = format!("{value:.1}");
                return write!(f, "{} {name}", text.trim_end_matches(".0"));
            }
        }
        write!(f, "{} bytes", self.bytes)
    }
}

/// How the runtime holds its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Enforced {
    /// In this cgroup v2 directory.
    Cgroup(PathBuf),
    /// With `RLIMIT_DATA`.
    DataSize,
    /// Not at all (no limit).
    Unlimited,
}

/// In the runtime: holds `limit` (or lifts it, with `None`), with cgroup v2
/// where it can, else `RLIMIT_DATA`. Must run while the runtime is single
/// threaded or no cell runs.
pub(crate) fn apply_in_runtime(limit: Option<MemoryLimit>) -> Enforced {
    let cgroup = own_cgroup();
    let in_ours = cgroup.clone().filter(|dir| is_runtime_cgroup(dir));
    let Some(limit) = limit else {
        if let Some(dir) = &in_ours {
            let _ = std::fs::write(dir.join("memory.max"), "max");
        }
        set_data_limit(None);
        return Enforced::Unlimited;
    };
    let joined = in_ours.or_else(|| cgroup.and_then(|dir| join_new_cgroup(&dir)));
    if let Some(dir) = joined
        && std::fs::write(dir.join("memory.max"), limit.bytes.to_string()).is_ok()
    {
        // Swapping would turn "out of memory" into a machine that crawls.
        let _ = std::fs::write(dir.join("memory.swap.max"), "0");
        set_data_limit(None);
        return Enforced::Cgroup(dir);
    }
    set_data_limit(Some(limit.bytes));
    Enforced::DataSize
}

fn is_runtime_cgroup(dir: &Path) -> bool {
    dir.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with(CGROUP_PREFIX))
}

/// Moves this process into a new cgroup beside `parent`'s children, with the
/// memory controller on; `None` (and nothing left behind) where not allowed.
fn join_new_cgroup(parent: &Path) -> Option<PathBuf> {
    let controllers = std::fs::read_to_string(parent.join("cgroup.controllers")).ok()?;
    if !controllers.split_whitespace().any(|c| c == "memory") {
        return None;
    }
    let subtree = parent.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&subtree)
        .is_ok_and(|s| s.split_whitespace().any(|c| c == "memory"));
    // Refused (EBUSY) in a cgroup that holds processes, unless it is a root.
    if !enabled && std::fs::write(&subtree, "+memory").is_err() {
        return None;
    }
    let dir = parent.join(format!("{CGROUP_PREFIX}{}", std::process::id()));
    std::fs::create_dir(&dir).ok()?;
    let moved = dir.join("memory.max").exists()
        && std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string()).is_ok();
    if !moved {
        let _ = std::fs::remove_dir(&dir);
        return None;
    }
    Some(dir)
}

fn set_data_limit(bytes: Option<u64>) {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass, nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_DATA, &mut current) } != 0 {
        return;
    }
    let wanted = libc::rlimit {
        rlim_cur: bytes.map_or(current.rlim_max, |b| b.min(current.rlim_max)),
        rlim_max: current.rlim_max,
    };
    // SAFETY: setrlimit reads the struct we pass, nothing else.
    unsafe { libc::setrlimit(libc::RLIMIT_DATA, &wanted) };
}

/// This process's cgroup v2 directory, if cgroup v2 is mounted.
fn own_cgroup() -> Option<PathBuf> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let relative = cgroups.lines().find_map(|line| line.strip_prefix("0::"))?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let (root, mount_point) = cgroup2_mount(&mounts)?;
    let inside = relative.strip_prefix(root.as_str()).unwrap_or(relative);
    Some(PathBuf::from(mount_point).join(inside.trim_start_matches('/')))
}

/// The cgroup2 mount's root within the hierarchy and its mount point.
fn cgroup2_mount(mountinfo: &str) -> Option<(String, String)> {
    mountinfo.lines().find_map(|line| {
        let (mount, fs) = line.split_once(" - ")?;
        if !fs.starts_with("cgroup2 ") {
            return None;
        }
        let fields: Vec<&str> = mount.split(' ').collect();
        Some((fields.get(3)?.to_string(), fields.get(4)?.to_string()))
    })
}

/// Where the runtime with this pid keeps its cgroup, when it made one: beside
/// the engine's own (the runtime starts in the engine's cgroup).
pub(crate) fn runtime_cgroup(runtime_pid: i32) -> Option<PathBuf> {
    let dir = own_cgroup()?.join(format!("{CGROUP_PREFIX}{runtime_pid}"));
    dir.is_dir().then_some(dir)
}

/// How many processes the OOM killer ended in this cgroup.
pub(crate) fn cgroup_oom_kills(dir: &Path) -> Option<u64> {
    let events = std::fs::read_to_string(dir.join("memory.events")).ok()?;
    counter(&events, "oom_kill")
}

/// How many processes the kernel's OOM killer ended since the machine started.
pub(crate) fn system_oom_kills() -> Option<u64> {
    counter(&std::fs::read_to_string("/proc/vmstat").ok()?, "oom_kill")
}

fn counter(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok()).flatten()
    })
}

/// Removes the cgroup of a runtime that ended (it is empty by then).
pub(crate) fn remove_runtime_cgroup(runtime_pid: i32) {
    if let Some(dir) = runtime_cgroup(runtime_pid) {
        let _ = std::fs::remove_dir(dir);
    }
}

/// How the runtime ended, from evcxr's report of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Death {
    /// Ended by this signal.
    Signal(i32),
    /// Exited with this status.
    Exit(i32),
    /// evcxr did not say.
    Unknown,
}

impl Death {
    /// Reads evcxr's `Subprocess terminated with status: signal: 9 (SIGKILL)`
    /// (or `exit status: 3`).
    pub(crate) fn from_report(report: &str) -> Death {
        let Some(status) = report
            .lines()
            .rev()
            .find_map(|line| line.split_once("terminated with status: ").map(|(_, s)| s))
        else {
            return Death::Unknown;
        };
        let number = |prefix: &str| {
            status
                .strip_prefix(prefix)?
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<i32>()
                .ok()
        };
        if let Some(signal) = number("signal: ") {
            Death::Signal(signal)
        } else if let Some(code) = number("exit status: ") {
            Death::Exit(code)
        } else {
            Death::Unknown
        }
    }

    /// `the Rust runtime was killed by SIGSEGV (invalid memory access)`.
    pub(crate) fn sentence(&self) -> String {
        match self {
            Death::Signal(signal) => {
                let name = signal_name(*signal);
                match signal_meaning(*signal) {
                    Some(meaning) => format!("the Rust runtime was killed by {name} ({meaning})"),
                    None => format!("the Rust runtime was killed by {name}"),
                }
            }
            Death::Exit(code) => format!("the Rust runtime exited with status {code}"),
            Death::Unknown => "the Rust runtime died".to_owned(),
        }
    }
}

fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|_| format!("signal {signal}"))
}

fn signal_meaning(signal: i32) -> Option<&'static str> {
    Some(match signal {
        libc::SIGSEGV => "invalid memory access: a segmentation fault, or a stack overflow",
        libc::SIGBUS => "invalid memory access: a bus error",
        libc::SIGILL => "an illegal instruction",
        libc::SIGFPE => "an arithmetic error",
        libc::SIGABRT => "it aborted",
        libc::SIGKILL => "killed from outside",
        libc::SIGTERM => "asked to end",
        _ => return None,
    })
}

/// Whether the allocator said it could not allocate (Rust's last words when
/// an allocation fails).
pub(crate) fn allocation_failed(report: &str) -> bool {
    report
        .lines()
        .any(|line| line.contains("memory allocation of ") && line.contains(" failed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_binary_sizes() {
        let bytes = |t| MemoryLimit::parse(t).map(|l| l.bytes()).expect(t);
        assert_eq!(bytes("2G"), 2 << 30);
        assert_eq!(bytes("512M"), 512 << 20);
        assert_eq!(bytes("512 MB"), 512 << 20);
        assert_eq!(bytes("1.5GiB"), 3 << 29);
        assert_eq!(bytes("1048576"), 1 << 20);
        for bad in ["", "lots", "2X", "-1G", "0"] {
            assert!(MemoryLimit::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            MemoryLimit::parse("512M").map(|l| l.to_string()),
            Ok("512 MiB".into())
        );
        assert_eq!(
            MemoryLimit::parse("1.5G").map(|l| l.to_string()),
            Ok("1.5 GiB".into())
        );
        assert_eq!(MemoryLimit::from_value(Some("")), None);
    }

    #[test]
    fn deaths_are_read_from_evcxrs_report_and_signals_named() {
        let killed = Death::from_report(
            "last words\nSubprocess terminated with status: signal: 9 (SIGKILL)",
        );
        assert_eq!(killed, Death::Signal(9));
        assert_eq!(
            killed.sentence(),
            "the Rust runtime was killed by SIGKILL (killed from outside)"
        );
        let segfault = Death::from_report(
            "Subprocess terminated with status: signal: 11 (SIGSEGV) (core dumped)",
        );
        assert!(
            segfault
                .sentence()
                .contains("SIGSEGV (invalid memory access")
        );
        assert_eq!(
            Death::from_report("Subprocess terminated with status: exit status: 3"),
            Death::Exit(3)
        );
        assert_eq!(Death::from_report("nothing"), Death::Unknown);
        assert!(allocation_failed(
            "x\nmemory allocation of 1073741824 bytes failed\n"
        ));
        assert!(!allocation_failed("memory is fine"));
    }

    #[test]
    fn cgroup_mounts_and_counters_are_read() {
        let mountinfo = "24 30 0:21 / /proc rw - proc proc rw\n\
                         35 25 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_mount(mountinfo),
            Some(("/".to_owned(), "/sys/fs/cgroup".to_owned()))
        );
        assert_eq!(
            counter("low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\n", "oom_kill"),
            Some(1)
        );
        assert_eq!(counter("pgfault 5\n", "oom_kill"), None);
        assert!(is_runtime_cgroup(Path::new(
            "/sys/fs/cgroup/x/ferrokernel-runtime-12"
        )));
        assert!(!is_runtime_cgroup(Path::new("/sys/fs/cgroup/user.slice")));
    }
}

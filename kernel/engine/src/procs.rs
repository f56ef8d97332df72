//! The process tree under the kernel, read from `/proc`: who started whom, and when.
//! Used to end what a cell started when it is interrupted, and everything on shutdown.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// One process, as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Its id.
    pub pid: i32,
    /// Its parent's id.
    pub ppid: i32,
    /// Its name (`comm`), at most 15 bytes.
    pub name: String,
    /// When it started, in clock ticks since boot.
    pub start_ticks: u64,
}

/// Reads one process's stat line; `None` if it is gone.
pub fn info(pid: i32) -> Option<ProcessInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

fn parse_stat(stat: &str) -> Option<ProcessInfo> {
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses, so split at the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let pid = stat[..open].trim().parse().ok()?;
    let name = stat[open + 1..close].to_owned();
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After comm: state(0) ppid(1) ... starttime is field 22 of the line, index 19 here.
    let ppid = fields.get(1)?.parse().ok()?;
    let start_ticks = fields.get(19)?.parse().ok()?;
    Some(ProcessInfo {
        pid,
        ppid,
        name,
        start_ticks,
    })
}

/// Every process in the system (those that vanish while reading are skipped).
fn all() -> Vec<ProcessInfo> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(info)
        .collect()
}

/// All descendants of `root` (not `root` itself), parents before children.
pub fn descendants(root: i32) -> Vec<ProcessInfo> {
    let everyone = all();
    let mut found: Vec<ProcessInfo> = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for process in everyone.iter().filter(|p| p.ppid == parent) {
            frontier.push(process.pid);
            found.push(process.clone());
        }
    }
    found
}

/// Sends SIGKILL to each process; those already gone are ignored.
pub fn kill_all(processes: &[ProcessInfo]) {
    for process in processes {
        let _ = kill(Pid::from_raw(process.pid), Signal::SIGKILL);
    }
}

/// Sends SIGKILL to every process in the group led by `leader` (members stay
/// in the group after their leader dies, so this reaches orphans too).
pub fn kill_group(leader: i32) {
    if leader > 1 {
        let _ = nix::sys::signal::killpg(Pid::from_raw(leader), Signal::SIGKILL);
    }
}

/// Whether `pid` has exited (gone, or a zombie nobody has reaped yet): the
/// prelude's check, one for both crates.
pub use ferrokernel_prelude::procfs::gone as exited;

/// Ends everything below `root`: each process, and the process group of each
/// group leader among them (the runtime leads one holding the notebook's processes).
pub fn end_tree(root: i32) {
    let below = descendants(root);
    for process in &below {
        if nix::unistd::getpgid(Some(Pid::from_raw(process.pid)))
            .is_ok_and(|g| g.as_raw() == process.pid)
        {
            kill_group(process.pid);
        }
    }
    kill_all(&below);
}

/// The current time in clock ticks since boot, comparable with [`ProcessInfo::start_ticks`].
pub fn now_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let uptime = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
    uptime_ticks(&uptime, hz).unwrap_or(0)
}

/// `/proc/uptime`'s first field (`1028.09`: seconds and hundredths) in ticks
/// of `hz`, in integers: as a float, 1028.09 × 100 is 102808.99…, one tick
/// early, and a process started in that tick would look younger than the cell.
fn uptime_ticks(uptime: &str, hz: u64) -> Option<u64> {
    let field = uptime.split_whitespace().next()?;
    let (seconds, fraction) = field.split_once('.').unwrap_or((field, ""));
    let hundredths: u64 = format!("{fraction:0<2}").get(..2)?.parse().ok()?;
    Some(seconds.parse::<u64>().ok()? * hz + hundredths * hz / 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_is_read_in_whole_ticks() {
        // 1028.09 * 100.0 truncates to 102808 in floating point.
        assert_eq!(uptime_ticks("1028.09 5283.13\n", 100), Some(102_809));
        assert_eq!(uptime_ticks("7.5 1.0", 100), Some(750));
        assert_eq!(uptime_ticks("3 1", 100), Some(300));
        assert_eq!(uptime_ticks("", 100), None);
    }

    #[test]
    fn parses_names_with_spaces_and_parentheses() {
        let stat = "42 (a (b) c) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 0 0";
        let info = parse_stat(stat).expect("parses");
        assert_eq!(
            (info.pid, info.ppid, info.name.as_str()),
            (42, 7, "a (b) c")
        );
        assert_eq!(info.start_ticks, 12345);
    }

    #[test]
    fn finds_a_child_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep runs");
        let me = std::process::id() as i32;
        let found = descendants(me);
        assert!(
            found
                .iter()
                .any(|p| p.pid == child.id() as i32 && p.name == "sleep")
        );
        let mine = info(child.id() as i32).expect("alive");
        assert!(mine.start_ticks <= now_ticks() + 1);
        kill_all(
            &found
                .into_iter()
                .filter(|p| p.name == "sleep")
                .collect::<Vec<_>>(),
        );
        let status = child.wait().expect("reaped");
        assert!(!status.success());
    }
}

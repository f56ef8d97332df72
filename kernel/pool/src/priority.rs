//! Spares built at the lowest CPU priority, so that making the next one right
//! after a handover never slows the kernel that just took the last one.
//!
//! A spare starts at nice 19. The kernel that claims it gets normal priority
//! back for the host and everything it runs (every thread of every process:
//! nice is per thread on Linux). Raising priority again needs root or an
//! `RLIMIT_NICE` of 20 or more; where that is not allowed, the pool does not
//! lower spares and waits for an idle machine instead (see `server`).

/// The niceness spares start with.
const SPARE_NICE: i32 = 19;

/// Whether a claimed spare may be given normal priority back.
pub(crate) fn can_restore() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NICE, &mut limit) } == 0;
    // An RLIMIT_NICE of n allows nice values down to 20 - n.
    read && limit.rlim_cur >= 20
}

/// In a freshly forked child, before exec: the lowest priority.
/// Only the async-signal-safe `setpriority` system call.
pub(crate) fn lower_this_process() {
    // SAFETY: setpriority takes integers and touches no memory of ours.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, SPARE_NICE) };
}

/// Gives every thread of `root` and of the processes below it normal priority.
pub fn restore_tree(root: i32) {
    set_tree(root, 0);
}

/// Gives every thread of `root` and of the processes below it the lowest
/// priority again (an engine given back to the pool becomes a spare).
pub(crate) fn lower_tree(root: i32) {
    set_tree(root, SPARE_NICE);
}

fn set_tree(root: i32, nice: i32) {
    let below = ferrokernel_engine::procs::descendants(root);
    for pid in std::iter::once(root).chain(below.iter().map(|p| p.pid)) {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            if let Some(tid) = task
                .file_name()
                .to_str()
                .and_then(|t| t.parse::<u32>().ok())
            {
                // SAFETY: as above; a thread that ended meanwhile just fails.
                unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nice_of(tid: i32) -> i32 {
        let stat =
            std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // Field 19 of stat is nice; after the name, it is the 17th.
        fields
            .get(16)
            .and_then(|n| n.parse().ok())
            .unwrap_or(i32::MIN)
    }

    #[test]
    fn a_lowered_thread_gets_normal_priority_back_when_allowed() {
        if !can_restore() {
            eprintln!("skipped: raising priority needs root or RLIMIT_NICE >= 20");
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::spawn(move || {
            lower_this_process();
            let _ = tx.send(nix::unistd::gettid().as_raw());
            let _ = done_rx.recv();
        });
        let tid = rx.recv().expect("the thread's id");
        assert_eq!(nice_of(tid), SPARE_NICE);
        restore_tree(std::process::id() as i32);
        assert_eq!(nice_of(tid), 0);
        let _ = done_tx.send(());
        let _ = worker.join();
    }
}

//! What `/proc` says about a process.
//!
//! `kill(pid, 0)` succeeds for a zombie, so a process that died but was not
//! reaped yet (its parent is busy, or is itself waiting on it) would look
//! alive for ever. `/proc/<pid>/stat` tells: its state field, after the
//! command name in parentheses (which may itself hold spaces and `)`, hence
//! the last `)`), is `Z` for a zombie and `X` for one being reaped.
//!
//! At the bottom of the crate, outside `sys` and its `multiprocessing`
//! feature, so the engine (which builds the prelude without it) uses the same
//! check; not part of the cells' API.

/// Whether process `pid` is gone: no such process, or a zombie nobody reaped yet.
pub fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_not_gone_and_a_reaped_child_is() {
        assert!(!gone(std::process::id() as i32));
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id() as i32;
        child.wait().expect("wait");
        assert!(gone(pid));
    }
}

//! Out-of-memory forensics: why the runtime died, from evcxr's report, the
//! runtime's last stderr lines and the kernel's OOM counters.

use super::EvcxrEngine;
use crate::memory::{self, Death};

/// Why the runtime died.
pub(super) enum Cause {
    OutOfMemory(String),
    Crash(String),
}

impl EvcxrEngine {
    /// Why the runtime with `pid` died, from evcxr's report, the runtime's
    /// last stderr lines and the OOM counters.
    pub(super) fn cause_of_death(&self, report: &str, last_stderr: &[String], pid: i32) -> Cause {
        let limit = match self.memory_limit {
            Some(limit) => format!(": it may use {limit} ({})", memory::LIMIT_VARIABLE),
            None => String::new(),
        };
        if memory::allocation_failed(report) || memory::allocation_failed(&last_stderr.join("\n")) {
            return Cause::OutOfMemory(format!("the cell ran out of memory{limit}"));
        }
        let death = Death::from_report(report);
        if death == Death::Signal(libc::SIGKILL) {
            let in_cgroup = memory::runtime_cgroup(pid)
                .and_then(|dir| memory::cgroup_oom_kills(&dir))
                .is_some_and(|kills| kills > 0);
            if in_cgroup {
                return Cause::OutOfMemory(format!(
                    "the cell ran out of memory{limit}, so the kernel's OOM killer ended the Rust runtime"
                ));
            }
            let killed_more = matches!(
                (self.oom_kills_before, memory::system_oom_kills()),
                (Some(before), Some(now)) if now > before
            );
            if killed_more {
                return Cause::OutOfMemory(
                    "the kernel's OOM killer ended the Rust runtime: the machine ran out of memory"
                        .to_owned(),
                );
            }
        }
        Cause::Crash(death.sentence())
    }
}

/// What the runtime printed before it died, its last line (evcxr's status)
/// replaced by `sentence`.
pub(super) fn with_sentence(detail: &str, sentence: &str) -> String {
    let mut lines: Vec<&str> = detail
        .lines()
        .filter(|line| !line.contains("terminated with status: "))
        .collect();
    lines.push(sentence);
    lines.join("\n")
}

//! Which cell a line of output comes from, as the relay tells it.
//!
//! The runtime's stdout and stderr are Unix sockets that carry the writer's
//! process id with every write (`SO_PASSCRED`). The runtime says when each
//! cell starts ([`CELL_START`]), and the prelude says, right after each fork,
//! which process it started ([`FORKED`]). So the relay knows the cell that
//! started every process the prelude forked — and its children — and tags
//! their lines ([`FROM`]): a child started by cell 3 prints under cell 3,
//! also while cell 5 runs. Lines of the runtime itself (its threads) and of
//! processes started otherwise carry no tag: the kernel puts them under the
//! cell that runs, or ran last, as ipykernel does.

use std::collections::HashMap;

pub(crate) use ferrokernel_prelude::notebook::protocol::FORKED;

/// Followed by a cell number: the runtime is about to run that cell.
pub(crate) const CELL_START: &str = "\u{1e}FK:cell-start:";
/// Followed by a cell number, or `-`: the lines that follow, up to the next
/// such marker, come from a process that cell started (`-`: no such process).
pub(crate) const FROM: &str = "\u{1e}FK:from:";

/// How many forked processes are remembered (a notebook may fork a lot).
const REMEMBERED: usize = 100_000;

/// What the relay knows about the runtime's processes.
#[derive(Debug)]
pub(crate) struct Origins {
    /// The runtime's own process id.
    runtime: i32,
    /// The cell running (or that ran last).
    current: Option<u64>,
    /// Processes forked through the prelude, and the cell that started each.
    forked: HashMap<i32, u64>,
}

impl Origins {
    pub(crate) fn new(runtime: i32) -> Origins {
        Origins {
            runtime,
            current: None,
            forked: HashMap::new(),
        }
    }

    /// Handles a marker line written by `pid`; false if `line` is none of ours.
    pub(crate) fn take_marker(&mut self, pid: Option<i32>, line: &str) -> bool {
        if let Some(cell) = line.strip_prefix(CELL_START) {
            if let Ok(cell) = cell.trim().parse() {
                self.current = Some(cell);
            }
            return true;
        }
        if let Some(child) = line.strip_prefix(FORKED) {
            let origin = pid.and_then(|pid| self.of(pid)).or(self.current);
            if let (Ok(child), Some(cell)) = (child.trim().parse::<i32>(), origin) {
                if self.forked.len() >= REMEMBERED {
                    self.forked.clear();
                }
                self.forked.insert(child, cell);
            }
            return true;
        }
        false
    }

    /// The cell that started the process `pid`, when a cell's fork did.
    pub(crate) fn of(&self, pid: i32) -> Option<u64> {
        if pid == self.runtime {
            return None;
        }
        self.forked.get(&pid).copied()
    }
}

/// The marker line that tags what follows as `origin`'s.
pub(crate) fn from_line(origin: Option<u64>) -> String {
    match origin {
        Some(cell) => format!("{FROM}{cell}"),
        None => format!("{FROM}-"),
    }
}

/// Decodes the payload of a [`FROM`] line.
pub(crate) fn parse_from(payload: &str) -> Option<u64> {
    payload.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_forked_during_a_cell_is_that_cells_and_so_are_its_children() {
        let mut origins = Origins::new(100);
        assert!(origins.take_marker(Some(100), &format!("{CELL_START}3")));
        assert!(origins.take_marker(Some(100), &format!("{FORKED}200")));
        assert!(origins.take_marker(Some(100), &format!("{CELL_START}5")));
        assert!(origins.take_marker(Some(200), &format!("{FORKED}300")));
        assert!(origins.take_marker(Some(100), &format!("{FORKED}400")));
        assert_eq!(origins.of(200), Some(3));
        assert_eq!(origins.of(300), Some(3), "a grandchild is its ancestor's");
        assert_eq!(origins.of(400), Some(5));
        assert_eq!(origins.of(100), None, "the runtime's own threads");
        assert_eq!(origins.of(999), None, "started by other means");
        assert!(!origins.take_marker(Some(100), "plain text"));
        assert_eq!(parse_from(&from_line(Some(3))[FROM.len()..]), Some(3));
        assert_eq!(parse_from(&from_line(None)[FROM.len()..]), None);
    }
}

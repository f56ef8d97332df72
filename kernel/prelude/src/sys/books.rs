//! The process's bookkeeping: who this process is, the children it started,
//! the exit statuses it reaped, and the threads `threading` started.
//!
//! All of it sits behind one mutex in the process-wide [`Globals`] (locked by
//! [`books()`](crate::sys::globals::books), which lives there so that this
//! module, the data, needs nothing from the globals, its owner), and
//! [`fork::spawn`](crate::sys::fork::spawn) holds that mutex across every
//! `fork()`. So a child is never born with the books locked by a thread that
//! does not exist in it (which would deadlock its first `Process::start`), and
//! it starts from a consistent copy that it then resets: no children, no
//! reaped statuses, and only the thread that forked.
//!
//! [`Globals`]: crate::sys::globals::Globals

use std::collections::HashMap;

/// Python's exit code: the status, or minus the signal that killed the process.
pub(crate) type ExitCode = i32;

/// What started a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildKind {
    /// A [`Process`](crate::multiprocessing::Process).
    Process,
    /// A worker forked by a pool or an executor for one call.
    PoolWorker,
}

/// A child started here and not reaped yet.
#[derive(Debug, Clone)]
pub(crate) struct ChildRecord {
    pub(crate) pid: i32,
    pub(crate) name: String,
    pub(crate) daemon: bool,
    /// Nobody will ask for its status (its pool call is gone): once reaped,
    /// the status is dropped instead of kept.
    pub(crate) orphan: bool,
}

/// A thread started by `threading` (or a `Timer`), while it runs.
#[derive(Debug, Clone)]
pub(crate) struct ThreadRecord {
    /// The kernel's thread id: Python's `native_id`, and our `ident`.
    pub(crate) native_id: i32,
    pub(crate) name: String,
    pub(crate) daemon: bool,
}

/// The parent, as a child saw it when it was forked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParentRecord {
    pub(crate) name: String,
    pub(crate) pid: i32,
}

/// The bookkeeping itself (see the module notes).
#[derive(Debug, Default)]
pub(crate) struct Books {
    /// This process's name, once it is a child started by `Process::start`
    /// or a pool worker (`None`: `MainProcess`).
    pub(crate) name: Option<String>,
    /// Whether this process is a daemonic `Process` (which may not start children).
    pub(crate) daemonic: bool,
    /// The process that forked this one, if the prelude did.
    pub(crate) parent: Option<ParentRecord>,
    /// Children started here and not reaped yet.
    pub(crate) children: Vec<ChildRecord>,
    /// Exit codes of reaped children not yet handed out.
    pub(crate) reaped: HashMap<i32, ExitCode>,
    /// Threads started by `threading`, while they run.
    pub(crate) threads: Vec<ThreadRecord>,
}

impl Books {
    /// The name `current_process()` reports.
    pub(crate) fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| "MainProcess".to_owned())
    }

    /// Resets the copy a freshly forked child holds: the parent's children,
    /// statuses and threads are not its own.
    pub(crate) fn after_fork(&mut self, parent_pid: i32) {
        self.parent = Some(ParentRecord {
            name: self.display_name(),
            pid: parent_pid,
        });
        self.name = None;
        self.daemonic = false;
        self.children.clear();
        self.reaped.clear();
        self.threads.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forked_copy_forgets_the_parents_children_and_names_the_parent() {
        let mut books = Books {
            name: Some("Process-2".to_owned()),
            daemonic: true,
            ..Books::default()
        };
        books.children.push(ChildRecord {
            pid: 7,
            name: "Process-2:1".to_owned(),
            daemon: false,
            orphan: false,
        });
        books.reaped.insert(8, 0);
        books.after_fork(42);
        assert_eq!(
            books.parent,
            Some(ParentRecord {
                name: "Process-2".to_owned(),
                pid: 42
            })
        );
        assert!(books.children.is_empty() && books.reaped.is_empty());
        assert_eq!(
            (books.display_name().as_str(), books.daemonic),
            ("MainProcess", false)
        );
    }
}

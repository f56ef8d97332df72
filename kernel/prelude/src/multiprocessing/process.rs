//! [`Process`]: a closure run in a forked child process.

use super::{Error, Result};
use crate::interrupt::Deadline;
use crate::sys::child::{self, ChildWaiter};
use crate::sys::fork;
use crate::sys::globals::globals;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::Duration;

// The process-wide bookkeeping (created count, this process's name, children
// not joined yet) lives in `sys::globals`, shared by every copy of the crate.

type Target = Box<dyn FnOnce() + Send + 'static>;

enum State {
    Created(Target),
    /// The fork failed; the target is gone.
    Failed,
    Started(ChildWaiter),
    Finished {
        pid: i32,
        exitcode: i32,
    },
}

/// A process running a closure, like Python's `multiprocessing.Process`.
///
/// ```no_run
/// use ferrokernel_prelude::multiprocessing::Process;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let mut p = Process::new(|| println!("Cube: {}", 3 * 3 * 3)).name("cuber");
/// p.start()?;
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(0));
/// # Ok(())
/// # }
/// ```
///
/// The child is a `fork()` of this process: it sees everything the closure
/// captured (moved in, or copied on write), and nothing it does to ordinary
/// memory is seen by the parent — use [`Value`](super::Value), [`Queue`](super::Queue)
/// and friends to share. It dies with its parent.
pub struct Process {
    /// The process's name (`Process-1`, ... unless set).
    pub name: String,
    /// Informational, as in Python: every child already dies with its parent.
    pub daemon: bool,
    state: State,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.pid())
            .field("exitcode", &self.exitcode())
            .finish()
    }
}

impl Process {
    /// A process that will run `target` once started.
    pub fn new(target: impl FnOnce() + Send + 'static) -> Process {
        let n = globals().created.fetch_add(1, Ordering::SeqCst) + 1;
        let name = match current_name() {
            Some(parent) => format!("{parent}:{n}"),
            None => format!("Process-{n}"),
        };
        Process {
            name,
            daemon: false,
            state: State::Created(Box::new(target)),
        }
    }

    /// Sets the name (builder).
    pub fn name(mut self, name: impl Into<String>) -> Process {
        self.name = name.into();
        self
    }

    /// Sets the daemon flag (builder).
    pub fn daemon(mut self, daemon: bool) -> Process {
        self.daemon = daemon;
        self
    }

    /// Starts the child. A process starts once; again is `Err(AlreadyStarted)`.
    pub fn start(&mut self) -> Result<()> {
        let target = match std::mem::replace(&mut self.state, State::Failed) {
            State::Created(target) => target,
            other => {
                self.state = other;
                return Err(Error::AlreadyStarted);
            }
        };
        reap_finished();
        let name = self.name.clone();
        let pid = fork::spawn(move || {
            *globals()
                .current_name
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(name);
            globals().created.store(0, Ordering::SeqCst);
            globals()
                .children
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
            target();
            0
        })?;
        globals()
            .children
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(ActiveChild {
                pid,
                name: self.name.clone(),
            });
        self.state = State::Started(ChildWaiter::new(pid));
        Ok(())
    }

    /// Waits for the child to end.
    pub fn join(&mut self) -> Result<()> {
        self.wait(Deadline::forever()).map(drop)
    }

    /// Waits at most `timeout`; `Ok(true)` if the child ended.
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<bool> {
        self.wait(Deadline::after(Some(timeout)))
    }

    fn wait(&mut self, deadline: Deadline) -> Result<bool> {
        let (pid, code) = match &self.state {
            State::Created(_) | State::Failed => return Err(Error::NotStarted),
            State::Finished { .. } => return Ok(true),
            State::Started(waiter) => match waiter.wait(&deadline)? {
                Some(code) => (waiter.pid(), code),
                None => return Ok(false),
            },
        };
        self.finish(pid, code);
        Ok(true)
    }

    fn finish(&mut self, pid: i32, exitcode: i32) {
        self.state = State::Finished { pid, exitcode };
        child::forget(pid);
        globals()
            .children
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|c| c.pid != pid);
    }

    /// Whether the child has started and not ended.
    pub fn is_alive(&mut self) -> bool {
        let State::Started(waiter) = &self.state else {
            return false;
        };
        let pid = waiter.pid();
        match child::poll_exit(pid) {
            Ok(Some(code)) => {
                self.finish(pid, code);
                false
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// The child's process id, once started.
    pub fn pid(&self) -> Option<i32> {
        match &self.state {
            State::Created(_) | State::Failed => None,
            State::Started(waiter) => Some(waiter.pid()),
            State::Finished { pid, .. } => Some(*pid),
        }
    }

    /// The exit code once the child ended and was joined (or seen dead by
    /// `is_alive`): 0 for success, 1 after a panic, `-N` when killed by signal N.
    pub fn exitcode(&self) -> Option<i32> {
        match &self.state {
            State::Finished { exitcode, .. } => Some(*exitcode),
            _ => None,
        }
    }

    /// Asks the child to stop (SIGTERM).
    pub fn terminate(&self) {
        if let State::Started(waiter) = &self.state {
            child::signal(waiter.pid(), nix::sys::signal::Signal::SIGTERM);
        }
    }

    /// Stops the child at once (SIGKILL).
    pub fn kill(&self) {
        if let State::Started(waiter) = &self.state {
            child::signal(waiter.pid(), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

fn current_name() -> Option<String> {
    globals()
        .current_name
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Reaps children that ended without being joined, so no zombies pile up.
fn reap_finished() {
    let mut children = globals()
        .children
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    children.retain(|c| matches!(child::poll_exit(c.pid), Ok(None)));
}

/// A child started here that is still running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveChild {
    /// Its process id.
    pub pid: i32,
    /// Its name.
    pub name: String,
}

/// The children started by this process that are still running
/// (`multiprocessing.active_children()`); ended ones are reaped.
pub fn active_children() -> Vec<ActiveChild> {
    reap_finished();
    globals()
        .children
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// This process, as `multiprocessing.current_process()` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentProcess {
    name: String,
    pid: i32,
}

impl CurrentProcess {
    /// `MainProcess`, or the name of the `Process` this is.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }
}

/// This process.
pub fn current_process() -> CurrentProcess {
    CurrentProcess {
        name: current_name().unwrap_or_else(|| "MainProcess".to_owned()),
        pid: crate::os::getpid(),
    }
}

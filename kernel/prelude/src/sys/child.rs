//! Waiting for child processes: interruptibly, without losing exit statuses.
//!
//! A pidfd (Linux 5.3+) becomes readable the moment its process exits, so a
//! wait is a `poll` that wakes at once — with a slice timeout for interrupts.
//! Exit statuses are kept in a table, so whoever reaps a child (a `join`, or
//! `active_children` tidying up) the status is not lost.

use crate::error::{Error, Result};
use crate::sys::books::Books;
pub(crate) use crate::sys::books::ExitCode;
use crate::sys::deadline::Deadline;
use crate::sys::globals::books;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

/// Forgets a child whose status was handed out and will not be asked again.
pub(crate) fn forget(pid: i32) {
    books().reaped.remove(&pid);
}

/// Reaps `pid` if it has exited; its exit code, or `None` while it runs.
pub(crate) fn poll_exit(pid: i32) -> Result<Option<ExitCode>> {
    poll_exit_in(&mut books(), pid)
}

/// [`poll_exit`] with the books already locked. The status is kept in the
/// books until [`forget`] is called, so whoever reaps first, nothing is lost.
pub(crate) fn poll_exit_in(books: &mut Books, pid: i32) -> Result<Option<ExitCode>> {
    if let Some(code) = books.reaped.get(&pid) {
        return Ok(Some(*code));
    }
    let code = match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => code,
        Ok(WaitStatus::Signaled(_, signal, _)) => -(signal as i32),
        Ok(_) => return Ok(None),
        // Reaped elsewhere without us (SIGCHLD ignored): report it as done.
        Err(nix::Error::ECHILD) => 0,
        Err(errno) => return Err(errno.into()),
    };
    crate::sys::timeline::record_exit(pid, code);
    let orphan = books
        .children
        .iter()
        .any(|child| child.pid == pid && child.orphan);
    if !orphan {
        books.reaped.insert(pid, code);
    }
    books.children.retain(|child| child.pid != pid);
    Ok(Some(code))
}

/// How a process with Python's exit code `code` ended, in words that name the
/// signal: `exited with code 3`, `was killed by SIGSEGV (signal 11)`.
pub(crate) fn describe(code: ExitCode) -> String {
    if code >= 0 {
        return format!("exited with code {code}");
    }
    match nix::sys::signal::Signal::try_from(-code) {
        Ok(signal) => format!("was killed by {} (signal {})", signal.as_str(), -code),
        Err(_) => format!("was killed by signal {}", -code),
    }
}

/// A handle to wait on a child process.
#[derive(Debug)]
pub(crate) struct ChildWaiter {
    pid: i32,
    pidfd: Option<OwnedFd>,
}

impl ChildWaiter {
    /// A waiter for `pid` (a child of this process).
    pub(crate) fn new(pid: i32) -> ChildWaiter {
        // SAFETY: pidfd_open takes a pid and flags; it returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let pidfd = (fd >= 0).then(|| {
            // SAFETY: the syscall just returned this fd to us alone.
            unsafe { OwnedFd::from_raw_fd(fd as i32) }
        });
        ChildWaiter { pid, pidfd }
    }

    /// The child's pid.
    pub(crate) fn pid(&self) -> i32 {
        self.pid
    }

    /// The pidfd, readable once the child has exited (`None` on kernels
    /// without pidfds).
    pub(crate) fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.pidfd.as_ref().map(AsFd::as_fd)
    }

    /// Waits until the child exits or the deadline passes; `Ok(None)` on timeout.
    pub(crate) fn wait(&self, deadline: &Deadline) -> Result<Option<ExitCode>> {
        loop {
            if let Some(code) = poll_exit(self.pid)? {
                return Ok(Some(code));
            }
            let slice = match deadline.slice() {
                Ok(slice) => slice,
                Err(Error::Timeout) => return Ok(None),
                Err(other) => return Err(other),
            };
            match &self.pidfd {
                Some(fd) => {
                    let mut fds = [nix::poll::PollFd::new(
                        fd.as_fd(),
                        nix::poll::PollFlags::POLLIN,
                    )];
                    let millis = u16::try_from(slice.as_millis()).unwrap_or(u16::MAX).max(1);
                    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(millis));
                }
                None => std::thread::sleep(slice.min(NO_PIDFD_POLL)),
            }
        }
    }
}

/// How often a wait looks for a child's exit when it has no pidfd (kernels
/// before 5.3, or pidfd_open refused): nothing wakes the waiter then, so it
/// polls `waitpid`; 2 ms makes `join` return within 2 ms of the exit, and a
/// `waitpid` every 2 ms costs nothing measurable.
const NO_PIDFD_POLL: std::time::Duration = std::time::Duration::from_millis(2);

/// Waits for any of `waiters` to change, at most one slice; used by the pool.
pub(crate) fn wait_any(waiters: &[&ChildWaiter], slice: std::time::Duration) {
    let fds: Vec<nix::poll::PollFd<'_>> = waiters
        .iter()
        .filter_map(|w| w.pidfd.as_ref())
        .map(|fd| nix::poll::PollFd::new(fd.as_fd(), nix::poll::PollFlags::POLLIN))
        .collect();
    let millis = u16::try_from(slice.as_millis()).unwrap_or(u16::MAX).max(1);
    if fds.is_empty() {
        std::thread::sleep(slice.min(NO_PIDFD_POLL));
    } else {
        let mut fds = fds;
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(millis));
    }
}

/// Sends `signal` to `pid`, ignoring a process that is already gone.
pub(crate) fn signal(pid: i32, signal: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(Pid::from_raw(pid), signal);
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn an_exit_by_signal_is_described_by_the_signals_name() {
        assert_eq!(describe(0), "exited with code 0");
        assert_eq!(describe(3), "exited with code 3");
        assert_eq!(describe(-11), "was killed by SIGSEGV (signal 11)");
        assert_eq!(describe(-9), "was killed by SIGKILL (signal 9)");
        assert_eq!(describe(-200), "was killed by signal 200");
    }
}

//! Starting a child process by `fork()`: the child runs a closure and leaves
//! with `_exit`, never returning into its caller (which may be a notebook
//! engine's loop, or a test harness).

use crate::multiprocessing::Result;
use std::io::Write;
use std::panic::AssertUnwindSafe;

/// The exit code of a child whose closure panicked (Python's for an exception).
pub(crate) const PANIC_EXIT: i32 = 1;

/// Forks; the child runs `child` and exits with the code it returns (or
/// [`PANIC_EXIT`] if it panics). Returns the child's pid in the parent, where
/// `child` is dropped — so whatever it captured (pipe ends, handles) is released
/// in the parent.
pub(crate) fn spawn(child: impl FnOnce() -> i32) -> Result<i32> {
    // The child inherits the default authkey only if it exists now.
    crate::sys::authkey::current();
    // Hold stdout and stderr across the fork: no other thread can be halfway
    // through a print, so the child does not inherit a lock that nobody will
    // release, and nothing buffered is printed twice.
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let _ = out.flush();
    let _ = err.flush();
    let parent = nix::unistd::getpid();
    // SAFETY: the child only runs `child` and then `_exit`s. Locks other
    // threads might hold (other than stdout/stderr, held above) are not
    // touched by this crate in the child before `child` runs; glibc makes
    // malloc fork-safe.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { child: pid } => Ok(pid.as_raw()),
        nix::unistd::ForkResult::Child => {
            drop((out, err));
            die_with_parent(parent);
            let code = match std::panic::catch_unwind(AssertUnwindSafe(child)) {
                Ok(code) => code,
                // The panic hook has already printed the message to stderr.
                Err(_) => PANIC_EXIT,
            };
            exit(code)
        }
    }
}

/// Asks the kernel to kill this process when its parent dies, so nothing
/// started from a notebook outlives it.
fn die_with_parent(parent: nix::unistd::Pid) {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number, no pointers.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    if nix::unistd::getppid() != parent {
        // The parent died before the request took effect.
        exit(1);
    }
}

/// Flushes output and leaves without running the parent's exit handlers.
pub(crate) fn exit(code: i32) -> ! {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: _exit ends the process immediately; nothing after it runs.
    unsafe { libc::_exit(code) }
}

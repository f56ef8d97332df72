//! Python's `os.getpid()`, `os.getppid()`, `os.kill()` and `os.cpu_count()`,
//! with the signal numbers `kill` is usually given.

use crate::error::Result;

/// Defines the signal-number constants, each with its example.
macro_rules! signals {
    ($($name:ident = $number:literal, $what:literal;)*) => {$(
        #[doc = concat!("`signal.", stringify!($name), "`: ", $what, ".\n\n```\nassert_eq!(ferrokernel_prelude::os::", stringify!($name), ", ", $number, ");\n```")]
        pub const $name: i32 = libc::$name;
    )*};
}

signals! {
    SIGHUP = 1, "the terminal hung up";
    SIGINT = 2, "an interrupt (what the notebook's stop button sends)";
    SIGKILL = 9, "kill, which cannot be caught";
    SIGUSR1 = 10, "for the user's own use";
    SIGSEGV = 11, "an invalid memory access";
    SIGUSR2 = 12, "for the user's own use";
    SIGTERM = 15, "a request to terminate";
    SIGCONT = 18, "continue a stopped process";
    SIGSTOP = 19, "stop, which cannot be caught";
}

/// The id of this process.
///
/// ```
/// assert_eq!(ferrokernel_prelude::os::getpid(), std::process::id() as i32);
/// ```
pub fn getpid() -> i32 {
    nix::unistd::getpid().as_raw()
}

/// The id of this process's parent.
///
/// ```
/// assert!(ferrokernel_prelude::os::getppid() > 0);
/// ```
pub fn getppid() -> i32 {
    nix::unistd::getppid().as_raw()
}

/// Sends signal number `signal` to process `pid` (`os.kill`); signal 0 only
/// checks that the process exists. A process that does not exist is
/// `Err(Io)` holding `ESRCH` (Python's `ProcessLookupError`).
///
/// ```
/// use ferrokernel_prelude::multiprocessing::Process;
/// use ferrokernel_prelude::os;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let mut p = Process::new(|| std::thread::sleep(std::time::Duration::from_secs(5)));
/// p.start()?;
/// let pid = p.pid().expect("started");
/// os::kill(pid, 0)?; // it exists
/// os::kill(pid, os::SIGTERM)?;
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(-os::SIGTERM));
/// # Ok(())
/// # }
/// ```
pub fn kill(pid: i32, signal: i32) -> Result<()> {
    // SAFETY: kill(2) takes two integers; a bad signal number is EINVAL.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().into())
    }
}

/// How many CPUs the machine has (`os.cpu_count()`); see
/// [`multiprocessing::cpu_count`](crate::multiprocessing::cpu_count) for how
/// many this process may use.
///
/// ```
/// assert!(ferrokernel_prelude::os::cpu_count() >= 1);
/// ```
pub fn cpu_count() -> usize {
    // SAFETY: sysconf takes a constant and returns a number.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(online)
        .ok()
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

//! Starting an engine host: `ferrokernel engine-host`, with its end of a socket
//! pair as fd 3 and the write end of a status pipe as fd 4.

use crate::messages::EngineEnv;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The host's descriptor for its socket to the kernel.
pub(crate) const SOCKET_FD: i32 = 3;
/// The host's descriptor for the status pipe: it writes [`READY`] when warm.
pub(crate) const STATUS_FD: i32 = 4;
/// Written to the status pipe once the engine is ready.
pub(crate) const READY: u8 = b'R';
/// Written to the status pipe each time the engine, given back by a kernel,
/// has made itself fresh for the next one.
pub(crate) const FRESH: u8 = b'F';

/// A host just started.
pub(crate) struct Spawned {
    /// The process.
    pub(crate) child: Child,
    /// Our end of its socket.
    pub(crate) socket: UnixStream,
    /// The read end of its status pipe: [`READY`], then end of file when it exits.
    pub(crate) status: OwnedFd,
}

/// Starts `exe engine-host` with `env` as its whole environment and `env.cwd`
/// as its directory. With `pooled`, it dies with the calling thread (the pool)
/// until a kernel claims it, and starts at the lowest CPU priority when the
/// claiming kernel can give it normal priority back ([`crate::priority`]).
pub(crate) fn spawn_host(exe: &Path, env: &EngineEnv, pooled: bool) -> std::io::Result<Spawned> {
    let low_priority = pooled && crate::priority::can_restore();
    let (ours, theirs) = UnixStream::pair()?;
    let (status_read, status_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // Above the fds the child is given, so that the dup2s below cannot clobber one another.
    let theirs = high_fd(theirs.into())?;
    let status_write = high_fd(status_write)?;
    let (socket_fd, status_fd) = (theirs.as_raw_fd(), status_write.as_raw_fd());
    let cwd = if env.cwd.is_dir() {
        env.cwd.as_path()
    } else {
        Path::new("/")
    };
    let mut command = Command::new(exe);
    command
        .arg("engine-host")
        .args(pooled.then_some("--pooled"))
        .env_clear()
        .envs(&env.vars)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    // SAFETY: between fork and exec the closure only makes async-signal-safe
    // system calls (dup2, fcntl, prctl, getppid) on descriptors it owns.
    unsafe {
        command.pre_exec(move || {
            for (from, to) in [(socket_fd, SOCKET_FD), (status_fd, STATUS_FD)] {
                // dup2 leaves the copy without O_CLOEXEC, so it survives exec.
                if libc::dup2(from, to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if pooled {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            }
            if low_priority {
                crate::priority::lower_this_process();
            }
            Ok(())
        });
    }
    let child = command.spawn()?;
    drop((theirs, status_write));
    Ok(Spawned {
        child,
        socket: ours,
        status: status_read,
    })
}

/// A copy of `fd` numbered 10 or above, close-on-exec; the original is closed.
fn high_fd(fd: OwnedFd) -> std::io::Result<OwnedFd> {
    let copy = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(10))?;
    // SAFETY: fcntl just returned this new descriptor; we are its only owner.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(copy) })
}

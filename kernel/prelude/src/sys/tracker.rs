//! Design note: the shared-memory tracker, which unlinks the blocks a
//! program created and never unlinked once the program is gone.
//!
//! A block in `/dev/shm` outlives every process that uses it; a notebook
//! that creates one and is then shut down (or crashes, or is killed) would
//! leave it in RAM until reboot. CPython solves this with its
//! `resource_tracker`, and so do we, the same way: a small process reads the
//! names of created blocks from a pipe whose write end every process of the
//! program holds (children inherit it), and when the pipe reports end of
//! file — every holder has exited, however it exited — it unlinks the names
//! still registered. [`SharedMemory::unlink`] unregisters a name.
//!
//! The tracker is started by the first block a process creates; children
//! forked afterwards share it. It must survive the kernel's shutdown, which
//! SIGKILLs the runtime's whole process tree and group: so it is forked
//! twice and starts a session of its own (no parent in the tree, no group in
//! common), ignores SIGINT and SIGTERM, and closes every descriptor but the
//! pipe's read end — holding anything else open (the pipe's write end, a
//! test harness's stdout) would keep its own end of file from coming. It
//! cannot outlive the program: end of file is its only way out, and the
//! program's exit is what brings it.
//!
//! Like CPython's, the tracker only tracks blocks *created* here; unlike
//! CPython 3.11's, it never registers a block a process merely attached to,
//! so attaching to a Python block does not unlink it behind Python's back.
//! Messages are `R name\n` and `U name\n`, each written at once (well under
//! `PIPE_BUF`, so writes from several processes never interleave).
//!
//! [`SharedMemory::unlink`]: crate::multiprocessing::shared_memory::SharedMemory::unlink

use crate::error::Result;
use crate::sys::globals::globals;
use std::collections::BTreeSet;
use std::io::BufRead;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};

/// Records that this program created block `name`, starting the tracker if
/// needed. Best effort: without a tracker the block is only left behind if
/// nobody unlinks it.
pub(crate) fn register(name: &str) {
    if let Some(fd) = tracker() {
        send(fd, &format!("R {name}\n"));
    }
}

/// Records that block `name` was unlinked.
pub(crate) fn unregister(name: &str) {
    if let Some(&fd) = globals().shm_tracker.get()
        && fd >= 0
    {
        send(fd, &format!("U {name}\n"));
    }
}

fn send(fd: i32, line: &str) {
    // SAFETY: writes from a buffer we own to a pipe descriptor that lives as
    // long as the process; a short write is impossible below PIPE_BUF.
    unsafe { libc::write(fd, line.as_ptr().cast(), line.len()) };
}

/// The write end of the tracker's pipe, or `None` when it cannot run.
fn tracker() -> Option<i32> {
    let fd = *globals().shm_tracker.get_or_init(|| start().unwrap_or(-1));
    (fd >= 0).then_some(fd)
}

fn start() -> Result<i32> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let write_fd = write.into_raw_fd();
    // SAFETY: the child only calls async-signal-safe functions (setsid, fork,
    // _exit) before the grandchild runs `serve`, which uses the allocator
    // like every forked child of this crate (glibc's is fork-safe).
    match unsafe { libc::fork() } {
        -1 => {
            // SAFETY: we own write_fd and nothing else uses it.
            drop(unsafe { OwnedFd::from_raw_fd(write_fd) });
            Err(std::io::Error::last_os_error().into())
        }
        0 => {
            // SAFETY: see above; the grandchild never returns.
            unsafe {
                libc::setsid();
                if libc::fork() == 0 {
                    serve(read, write_fd);
                }
                libc::_exit(0)
            }
        }
        intermediate => {
            drop(read);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(intermediate), None);
            // Kept open for the life of the process (and its children).
            Ok(write_fd)
        }
    }
}

/// The tracker's life: read names until end of file, then unlink the rest.
fn serve(read: OwnedFd, write_fd: i32) -> ! {
    let read_fd = read.into_raw_fd();
    // SAFETY: plain system calls on descriptors this process owns; after them
    // only the pipe's read end (as stdin) and /dev/null stay open.
    unsafe {
        libc::close(write_fd);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        libc::dup2(read_fd, 0);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        libc::dup2(null, 1);
        libc::dup2(null, 2);
        if libc::close_range(3, u32::MAX, 0) != 0 {
            for fd in 3..4096 {
                libc::close(fd);
            }
        }
    }
    let mut names = BTreeSet::new();
    // SAFETY: fd 0 is the pipe's read end, now owned by this reader alone.
    let input = std::io::BufReader::new(unsafe { std::fs::File::from_raw_fd(0) });
    for line in input.split(b'\n').map_while(std::result::Result::ok) {
        match line.split_first() {
            Some((b'R', name)) => names.insert(name.trim_ascii().to_vec()),
            Some((b'U', name)) => names.remove(name.trim_ascii()),
            _ => false,
        };
    }
    for name in names {
        if let Ok(name) = std::str::from_utf8(&name) {
            let _ = crate::sys::named_shm::unlink(name);
        }
    }
    // SAFETY: ends this process at once, as every forked child does.
    unsafe { libc::_exit(0) }
}

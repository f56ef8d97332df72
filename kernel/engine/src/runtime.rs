//! What runs inside the runtime process, the child that loads and runs cell code.
//!
//! evcxr re-executes the kernel binary as that child; [`hook`] must be the first
//! thing `main` calls. In the runtime it:
//! - ties the runtime's life to the kernel's (`PR_SET_PDEATHSIG`), so a killed
//!   kernel leaves nothing behind;
//! - starts the *relay*, a small forked process that owns the runtime's real
//!   stdout and stderr. The runtime (and everything it forks) writes into two
//!   pipes; the relay tags stderr lines so both streams arrive on one ordered
//!   channel, and marks evcxr's panic and `?` notifications, which evcxr would
//!   otherwise swallow. It also turns evcxr's display blocks into marker lines
//!   in place (see [`crate::blocks`]) and marks the end of each cell. Because
//!   the relay is a separate process, what a cell printed just before it
//!   aborted or segfaulted still reaches the notebook.
//!
//!   The ordered channel is the runtime's real *stderr*: evcxr reads that at
//!   all times, while it reads stdout only while a cell runs. So what threads
//!   and child processes print between cells arrives when printed. Only
//!   evcxr's own protocol lines (the end of a cell, panics, `?` errors, input
//!   requests, changed types, and everything before the set-up's
//!   [`markers::RELAY_BLOCKS`]) go to stdout, where evcxr waits for them.

use crate::markers;
use crate::origins::{self, Origins};
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg, setsockopt,
    socketpair, sockopt,
};
use nix::unistd::{ForkResult, dup, dup2_stderr, dup2_stdout, fork};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

/// The name the relay shows in `ps`, so process sweeps can tell it apart.
pub const RELAY_NAME: &str = "fk-relay";

/// Call first thing in `main`. In the kernel it returns at once; in a runtime or
/// compiler-wrapper or cargo-wrapper process started by evcxr or cargo it
/// never returns.
pub fn hook() {
    crate::cell_build::run_if_invoked();
    crate::debug_build::wrap_rustc_if_asked();
    if std::env::var_os("EVCXR_IS_RUNTIME").is_some() {
        prepare_runtime();
    }
    evcxr::runtime_hook();
}

fn prepare_runtime() {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and no pointers.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    if nix::unistd::getppid().as_raw() == 1 {
        // The kernel died before the death signal was armed.
        std::process::exit(1);
    }
    // Lead a process group of our own: everything the notebook starts joins it,
    // so the kernel can end all of it at once, even processes orphaned by a
    // crashed runtime.
    let _ = nix::unistd::setpgid(nix::unistd::Pid::from_raw(0), nix::unistd::Pid::from_raw(0));
    // evcxr asks for backtraces in the runtime; a notebook wants the panic message,
    // which the kernel reports itself.
    // SAFETY: the runtime is still single-threaded here, so nothing reads the
    // environment concurrently.
    unsafe { std::env::remove_var("RUST_BACKTRACE") };
    // SAFETY: as above, still single-threaded.
    unsafe { crate::cell_build::leave_runtime() };
    if let Err(error) = start_relay() {
        // Without the relay the runtime still works; only markers are missing.
        eprintln!("ferrokernel: could not start the output relay: {error}");
    }
    // After the relay is forked (it must outlive a runtime that ran out of
    // memory, to deliver its last output), before any cell runs.
    if let Some(limit) = crate::memory::MemoryLimit::from_env() {
        crate::memory::apply_in_runtime(Some(limit));
    }
    // After the fork above: the relay must not inherit a thread.
    crate::runtime_control::serve_in_runtime();
}

/// A socket for one of the runtime's streams: the relay's end learns the
/// writer's process id with every write (see [`crate::origins`]).
fn stream_socket() -> nix::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    setsockopt(&read, sockopt::PassCred, &true)?;
    Ok((read, write))
}

fn start_relay() -> nix::Result<()> {
    let (out_read, out_write) = stream_socket()?;
    let (err_read, err_write) = stream_socket()?;
    let real_stdout = dup(std::io::stdout().as_fd())?;
    let real_stderr = dup(std::io::stderr().as_fd())?;
    // SAFETY: the runtime is single-threaded at this point (nothing but `main`
    // has run), so the child may run arbitrary code.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(out_write);
            drop(err_write);
            become_relay(out_read, err_read, real_stdout, real_stderr)
        }
        ForkResult::Parent { .. } => {
            dup2_stdout(&out_write)?;
            dup2_stderr(&err_write)?;
            Ok(())
        }
    }
}

fn become_relay(
    out_read: OwnedFd,
    err_read: OwnedFd,
    real_stdout: OwnedFd,
    real_stderr: OwnedFd,
) -> ! {
    let name = std::ffi::CString::new(RELAY_NAME).unwrap_or_default();
    // SAFETY: PR_SET_NAME reads a NUL-terminated string that outlives the call.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, name.as_ptr());
    }
    // The relay outlives the runtime's group when the kernel ends it: it must
    // deliver what the group printed last.
    let _ = nix::unistd::setpgid(nix::unistd::Pid::from_raw(0), nix::unistd::Pid::from_raw(0));
    // The kernel interrupts the runtime, never the relay; a terminal's Ctrl-C
    // reaches the whole process group and must not cut the output short.
    // SAFETY: installing SIG_IGN runs no code in signal context.
    unsafe {
        let _ = signal(Signal::SIGINT, SigHandler::SigIgn);
    }
    // Keep evcxr's command pipe open only in the runtime.
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(null);
    }
    // Readiness can go stale (draining stderr early consumes what poll saw), so
    // reads never block: an empty pipe just means "nothing yet".
    for fd in [&out_read, &err_read] {
        let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
    }
    let mut relay = Relay::new(
        std::fs::File::from(real_stdout),
        std::fs::File::from(real_stderr),
        nix::unistd::getppid().as_raw(),
    );
    relay.run(out_read, err_read);
    let _ = relay.ordered.flush();
    let _ = relay.out.flush();
    // SAFETY: leaving with _exit skips atexit handlers inherited from the runtime.
    unsafe { libc::_exit(0) }
}

struct Relay {
    /// evcxr's protocol lines.
    out: std::io::BufWriter<std::fs::File>,
    /// Everything else, in order, once the set-up has run (see the module's notes).
    ordered: std::io::BufWriter<std::fs::File>,
    stdout_partial: Vec<u8>,
    stderr_partial: Vec<u8>,
    /// Who wrote what the partial lines hold.
    stdout_writer: Option<i32>,
    stderr_writer: Option<i32>,
    origins: Origins,
    /// The cell the lines being written come from, and the one last said.
    line_origin: Option<u64>,
    said_origin: Option<u64>,
    blocks: crate::blocks::Blocks,
    /// Display blocks are taken out only once the runtime's set-up said so
    /// ([`markers::RELAY_BLOCKS`]): evcxr's own start-up evaluation reads its
    /// block itself.
    taking_blocks: bool,
}

impl Relay {
    fn new(out: std::fs::File, ordered: std::fs::File, runtime: i32) -> Relay {
        Relay {
            out: std::io::BufWriter::with_capacity(1 << 16, out),
            ordered: std::io::BufWriter::with_capacity(1 << 16, ordered),
            stdout_partial: Vec::new(),
            stderr_partial: Vec::new(),
            stdout_writer: None,
            stderr_writer: None,
            origins: Origins::new(runtime),
            line_origin: None,
            said_origin: None,
            blocks: crate::blocks::Blocks::default(),
            taking_blocks: false,
        }
    }

    fn run(&mut self, out_read: OwnedFd, err_read: OwnedFd) {
        let mut out_open = true;
        let mut err_open = true;
        let mut buffer = vec![0u8; 1 << 16];
        while out_open || err_open {
            let mut fds = Vec::with_capacity(2);
            if out_open {
                fds.push(PollFd::new(out_read.as_fd(), PollFlags::POLLIN));
            }
            if err_open {
                fds.push(PollFd::new(err_read.as_fd(), PollFlags::POLLIN));
            }
            if poll(&mut fds, PollTimeout::NONE).is_err() {
                continue;
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            let (out_ready, err_ready) = match (out_open, err_open) {
                (true, true) => (ready[0], ready[1]),
                (true, false) => (ready[0], false),
                _ => (false, ready[0]),
            };
            if out_ready && !self.pump_stdout(&out_read, &err_read, &mut buffer) {
                out_open = false;
                self.finish_partial(false);
            }
            if err_ready && !self.pump_stderr(&err_read, &mut buffer, false) {
                err_open = false;
                self.finish_partial(true);
            }
            if self.ordered.flush().is_err() || self.out.flush().is_err() {
                return; // evcxr went away; nobody is listening.
            }
        }
    }

    /// Reads stdout once; false on end of file.
    fn pump_stdout(&mut self, out_read: &OwnedFd, err_read: &OwnedFd, buffer: &mut [u8]) -> bool {
        let (n, writer) = match read_with_writer(out_read, buffer) {
            Ok((0, _)) => return false,
            Ok(read) => read,
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => return true,
            Err(_) => return false,
        };
        // A line another process left unfinished is finished here: lines of
        // two writers never run into each other.
        if writer != self.stdout_writer && !self.stdout_partial.is_empty() {
            let line = std::mem::take(&mut self.stdout_partial);
            self.stdout_line(&line, self.stdout_writer, err_read, buffer);
        }
        self.stdout_writer = writer;
        self.stdout_partial.extend_from_slice(&buffer[..n]);
        while let Some(end) = self.stdout_partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.stdout_partial.drain(..=end).collect();
            self.stdout_line(&line[..line.len() - 1], writer, err_read, buffer);
        }
        true
    }

    fn stdout_line(
        &mut self,
        line: &[u8],
        writer: Option<i32>,
        err_read: &OwnedFd,
        buffer: &mut [u8],
    ) {
        let text = String::from_utf8_lossy(line);
        if self.origins.take_marker(writer, &text) {
            return;
        }
        self.line_origin = writer.and_then(|pid| self.origins.of(pid));
        if !self.taking_blocks {
            if text == markers::RELAY_BLOCKS {
                self.taking_blocks = true;
                return;
            }
            return self.text_line(&text, line, err_read, buffer);
        }
        let mut replaced = Vec::new();
        let rest = self.blocks.feed(&text, &mut replaced);
        for marker in &replaced {
            self.write_block(marker);
        }
        let Some(rest) = rest else {
            return;
        };
        // Written as read (not lossily) when nothing was taken out.
        let raw = if rest.len() == text.len() {
            line
        } else {
            rest.as_bytes()
        };
        self.text_line(rest, raw, err_read, buffer);
    }

    /// An ordinary stdout line, or one of evcxr's protocol lines.
    fn text_line(&mut self, text: &str, line: &[u8], err_read: &OwnedFd, buffer: &mut [u8]) {
        for (notice, marker) in [
            (markers::EVCXR_EXECUTION_COMPLETE, Some(markers::CELL_END)),
            (markers::EVCXR_ERROR_OCCURRED, Some(markers::USER_ERROR)),
            (markers::EVCXR_PANIC_NOTIFICATION, Some(markers::PANICKED)),
            (markers::EVCXR_INPUT_REQUEST, None),
            (markers::EVCXR_VARIABLE_CHANGED_TYPE, None),
        ] {
            let Some(at) = text.find(notice) else {
                continue;
            };
            let (before, notice_line) = text.split_at(at);
            // evcxr's notices are written by the cell's thread after anything it
            // printed to stderr, so stderr is drained first to keep that order.
            let origin = self.line_origin;
            self.drain_stderr(err_read, buffer);
            self.line_origin = origin;
            if !before.is_empty() {
                // A `print!` without newline ran into the notice; keep both.
                self.write_line(before.as_bytes());
            }
            // Before the set-up, evcxr reads stdout alone, and only its own lines.
            if let Some(marker) = marker.filter(|_| self.taking_blocks) {
                self.write_line(marker.as_bytes());
            }
            self.write_protocol_line(notice_line.as_bytes());
            return;
        }
        self.write_line(line);
    }

    /// A line for evcxr: what the cell printed before it is sent first.
    fn write_protocol_line(&mut self, line: &[u8]) {
        let _ = self.ordered.flush();
        let _ = self.out.write_all(line);
        let _ = self.out.write_all(b"\n");
        let _ = self.out.flush();
    }

    fn drain_stderr(&mut self, err_read: &OwnedFd, buffer: &mut [u8]) {
        let flags = nix::fcntl::fcntl(err_read, nix::fcntl::FcntlArg::F_GETFL)
            .map(OFlag::from_bits_truncate)
            .unwrap_or(OFlag::empty());
        let _ = nix::fcntl::fcntl(
            err_read,
            nix::fcntl::FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK),
        );
        while self.pump_stderr(err_read, buffer, true) {}
        let _ = nix::fcntl::fcntl(err_read, nix::fcntl::FcntlArg::F_SETFL(flags));
    }

    /// Reads stderr once; false on end of file (or, when draining, when nothing is left).
    fn pump_stderr(&mut self, err_read: &OwnedFd, buffer: &mut [u8], draining: bool) -> bool {
        let (n, writer) = match read_with_writer(err_read, buffer) {
            Ok((0, _)) => return false,
            Ok(read) => read,
            Err(nix::errno::Errno::EINTR) => return true,
            Err(nix::errno::Errno::EAGAIN) => return !draining,
            Err(_) => return false,
        };
        if writer != self.stderr_writer && !self.stderr_partial.is_empty() {
            let line = std::mem::take(&mut self.stderr_partial);
            self.line_origin = self.stderr_writer.and_then(|pid| self.origins.of(pid));
            self.write_stderr_line(&line);
        }
        self.stderr_writer = writer;
        self.line_origin = writer.and_then(|pid| self.origins.of(pid));
        self.stderr_partial.extend_from_slice(&buffer[..n]);
        while let Some(end) = self.stderr_partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.stderr_partial.drain(..=end).collect();
            self.write_stderr_line(&line[..line.len() - 1]);
        }
        true
    }

    fn finish_partial(&mut self, stderr: bool) {
        if stderr && !self.stderr_partial.is_empty() {
            let line = std::mem::take(&mut self.stderr_partial);
            self.write_stderr_line(&line);
        } else if !stderr {
            let mut unfinished = Vec::new();
            self.blocks.finish(&mut unfinished);
            for marker in &unfinished {
                self.write_block(marker);
            }
            if !self.stdout_partial.is_empty() {
                let line = std::mem::take(&mut self.stdout_partial);
                self.write_line(&line);
            }
        }
    }

    fn write_stderr_line(&mut self, line: &[u8]) {
        let mut tagged = markers::STDERR_LINE.as_bytes().to_vec();
        tagged.extend_from_slice(line);
        self.write_line(&tagged);
    }

    /// A line on the ordered channel (before the set-up ran: on stdout,
    /// where evcxr reads its own start-up evaluation).
    fn write_line(&mut self, line: &[u8]) {
        if self.taking_blocks && self.line_origin != self.said_origin {
            self.said_origin = self.line_origin;
            let tag = origins::from_line(self.line_origin);
            let _ = self.ordered.write_all(tag.as_bytes());
            let _ = self.ordered.write_all(b"\n");
        }
        let channel = if self.taking_blocks {
            &mut self.ordered
        } else {
            &mut self.out
        };
        let _ = channel.write_all(line);
        let _ = channel.write_all(b"\n");
    }

    fn write_block(&mut self, marker: &str) {
        self.write_line(marker.as_bytes());
    }
}

/// Reads what one writer wrote, and who that was (the kernel never joins the
/// writes of two processes in one read when credentials are passed).
fn read_with_writer(fd: &OwnedFd, buffer: &mut [u8]) -> nix::Result<(usize, Option<i32>)> {
    use std::os::fd::AsRawFd;
    let mut space = nix::cmsg_space!(nix::sys::socket::UnixCredentials);
    let mut iov = [std::io::IoSliceMut::new(buffer)];
    let received = recvmsg::<()>(
        fd.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut writer = None;
    if let Ok(messages) = received.cmsgs() {
        for message in messages {
            if let ControlMessageOwned::ScmCredentials(credentials) = message {
                writer = Some(credentials.pid());
            }
        }
    }
    Ok((received.bytes, writer))
}

/// Whether the process `pid` is a relay (by its name).
pub fn is_relay(comm: &str) -> bool {
    comm == RELAY_NAME
}

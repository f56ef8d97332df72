//! Starting a child process by `fork()`: the child runs a closure and leaves
//! with `_exit`, never returning into its caller (which may be a notebook
//! engine's loop, or a test harness).
//!
//! Fork safety: only the forking thread exists in the child, so any lock
//! another thread held at that moment stays held for ever there. `spawn`
//! therefore holds, across the fork, every lock the child may need before the
//! user's closure runs: stdout, stderr and the prelude's books (see
//! `sys::books`). Other threads wait for the fork (a few hundred
//! microseconds); no thread can be halfway through them. The timeline's
//! recorder is held too, and the child is recorded in the same step.

use crate::error::{Error, Result};
use crate::sys::books::{ChildKind, ChildRecord};
use crate::sys::globals::books;
use crate::sys::timeline::{self, GroupId};
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicI32, Ordering};

/// The exit code of a child whose closure panicked (Python's for an exception).
pub(crate) const PANIC_EXIT: i32 = 1;

/// The signals a crash handler may catch. A child resets them to their
/// default action before running its closure: a notebook's runtime installs a
/// handler that prints a backtrace and aborts, and a child inheriting it would
/// report SIGABRT for a segfault instead of SIGSEGV.
const CRASH_SIGNALS: [libc::c_int; 5] = [
    libc::SIGSEGV,
    libc::SIGILL,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGABRT,
];

/// How a child registered in the books is known.
#[derive(Debug, Clone)]
pub(crate) struct NewChild {
    /// Its name (`Process-3`, `ForkPoolWorker-2`).
    pub(crate) name: String,
    /// Whether it is daemonic (terminated, not joined, when its parent ends).
    pub(crate) daemon: bool,
    /// What started it.
    pub(crate) kind: ChildKind,
    /// The pool call it works for, shown so in the timeline.
    pub(crate) group: Option<GroupId>,
}

/// Forks; the child runs `child` and exits with the code it returns (or
/// [`PANIC_EXIT`] if it panics). Returns the child's pid in the parent, where
/// `child` is dropped — so whatever it captured (pipe ends, handles) is released
/// in the parent. The child is not listed in `active_children`; the timeline
/// shows it as `shown_as`.
pub(crate) fn spawn(shown_as: &str, child: impl FnOnce() -> i32) -> Result<i32> {
    fork_with(None, shown_as, None, child)
}

/// Like [`spawn`], and lists the child in the books (`active_children`) in
/// the same step; in the child, `current_process()` is `new.name`.
pub(crate) fn spawn_child(new: NewChild, child: impl FnOnce() -> i32) -> Result<i32> {
    let (name, group) = (new.name.clone(), new.group);
    fork_with(Some(new), &name, group, child)
}

/// `Err(DaemonicChildren)` in a daemonic process, as Python refuses there.
pub(crate) fn may_have_children() -> Result<()> {
    if books().daemonic {
        return Err(Error::DaemonicChildren);
    }
    Ok(())
}

/// In the kernel's runtime, says on stdout which process was just forked, so
/// its output goes under the cell that started it. Written straight to the
/// descriptor: the caller holds stdout's lock, with its buffer flushed.
fn announce_fork(child: i32) {
    if !crate::sys::globals::in_runtime() {
        return;
    }
    let line = format!("{}{child}\n", crate::protocol::FORKED);
    // SAFETY: writes a buffer we own to fd 1; a short or failed write only
    // loses the tag, never output.
    unsafe { libc::write(1, line.as_ptr().cast(), line.len()) };
}

fn fork_with(
    new: Option<NewChild>,
    shown_as: &str,
    group: Option<GroupId>,
    child: impl FnOnce() -> i32,
) -> Result<i32> {
    // The child inherits the default authkey only if it exists now.
    crate::sys::authkey::current();
    // Hold stdout and stderr across the fork: no other thread can be halfway
    // through a print, so the child does not inherit a lock that nobody will
    // release, and nothing buffered is printed twice.
    // Widgets' state first (their lock comes before stdout's, see
    // `widgets::comms`): no thread is halfway through a widget.
    #[cfg(feature = "widgets")]
    let widgets = crate::sys::globals::globals().widgets.wire();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let _ = out.flush();
    let _ = err.flush();
    let mut books = books();
    let mut recorder = timeline::hold();
    let parent = nix::unistd::getpid();
    // SAFETY: the locks the child needs before `child` runs are held by this
    // thread across the fork (see the module notes) and released in the child
    // by the only thread there; glibc makes malloc fork-safe. The child only
    // runs `child` and then `_exit`s.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { child: pid } => {
            announce_fork(pid.as_raw());
            if let Some(recorder) = recorder.as_mut() {
                recorder.record_start(pid.as_raw(), shown_as, group);
            }
            if let Some(new) = new {
                books.children.push(ChildRecord {
                    pid: pid.as_raw(),
                    name: new.name,
                    daemon: new.daemon,
                    orphan: false,
                });
            }
            Ok(pid.as_raw())
        }
        nix::unistd::ForkResult::Child => {
            books.after_fork(parent.as_raw());
            if let Some(new) = new {
                books.daemonic = new.daemon && new.kind == ChildKind::Process;
                books.name = Some(new.name);
            }
            drop(books);
            if let Some(mut recorder) = recorder {
                recorder.forget_in_child();
            }
            drop((out, err));
            #[cfg(feature = "widgets")]
            drop(widgets);
            reset_crash_signals();
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

/// Gives the crash signals their default action (see [`CRASH_SIGNALS`]).
fn reset_crash_signals() {
    for signal in CRASH_SIGNALS {
        // SAFETY: installing SIG_DFL takes no handler code and touches no memory
        // of ours; the signal numbers are valid.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
        }
    }
}

/// The pid of the process that forked this one (set in the child, read by
/// [`on_parent_thread_exit`]; a static of this copy of the crate, as is the
/// handler that reads it).
static PARENT: AtomicI32 = AtomicI32::new(0);

/// The signal the kernel sends when the forking thread ends (see
/// [`die_with_parent`]): a real-time signal nothing else here uses.
fn parent_death_signal() -> libc::c_int {
    libc::SIGRTMAX() - 7
}

extern "C" fn on_parent_thread_exit(_signal: libc::c_int) {
    // Async-signal-safe: getppid, an atomic load and kill.
    // SAFETY: both calls take plain integers.
    unsafe {
        if libc::getppid() != PARENT.load(Ordering::Relaxed) {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// Asks the kernel to end this process when its parent dies, so nothing
/// started from a notebook outlives it.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked us ends, not the
/// process: a child started from a `Thread` would die with that thread. So
/// the signal is a catchable one whose handler ends the child only if the
/// parent process is gone (we were re-parented to another process); when
/// only the thread ended, the kernel has re-parented us to another thread of
/// the same process, and the signal stays armed for when that one ends.
fn die_with_parent(parent: nix::unistd::Pid) {
    PARENT.store(parent.as_raw(), Ordering::Relaxed);
    // SAFETY: the handler only calls async-signal-safe functions; SA_RESTART
    // keeps the closure's system calls from failing with EINTR; prctl takes
    // a signal number, no pointers.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_parent_thread_exit as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        action.sa_flags = libc::SA_RESTART;
        libc::sigaction(parent_death_signal(), &action, std::ptr::null_mut());
        libc::prctl(libc::PR_SET_PDEATHSIG, parent_death_signal());
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

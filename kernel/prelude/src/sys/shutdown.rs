//! What happens when a program (or a child process) that used the prelude
//! ends, as in Python: non-daemon threads are waited for, daemonic children
//! are terminated, and the other children are joined.
//!
//! A child process does this when its closure returns (Python's
//! `Process._bootstrap`). A program using the prelude as a library does it
//! when `main` returns or `std::process::exit` is called, through an `atexit`
//! handler registered by the first `Process::start` or `Thread::start`.
//! ferrokernel's notebook runtime registers none: a kernel restart must never
//! wait for a cell's children, which die with the runtime anyway.

use crate::sys::child::{self, ChildWaiter};
use crate::sys::deadline::Deadline;
use crate::sys::globals::books;
use crate::sys::globals::{globals, in_runtime};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Registers the exit handler once per process (outside the notebook runtime).
pub(crate) fn register_exit_hook() {
    if in_runtime() || globals().exit_hook.swap(true, Ordering::SeqCst) {
        return;
    }
    // SAFETY: `at_exit` is an `extern "C"` function that never unwinds (it
    // catches panics); atexit only stores its address.
    unsafe {
        libc::atexit(at_exit);
    }
}

extern "C" fn at_exit() {
    // A panic must not unwind into libc; there is nothing left to report to.
    let _ = std::panic::catch_unwind(finish);
}

/// Waits for non-daemon threads, terminates daemonic children and joins the
/// others. An interrupt (when the handler is installed) stops the waiting.
pub(crate) fn finish() {
    let deadline = Deadline::forever();
    wait_for_threads(&deadline);
    finish_children(&deadline);
}

/// How often the exit handler looks whether the non-daemon threads ended:
/// nothing signals a thread's end to the books, so we look; 2 ms keeps the
/// exit within a blink of the last thread's end, at no measurable cost.
const THREAD_END_POLL: Duration = Duration::from_millis(2);

/// Waits until only daemon threads (and the caller) are left.
fn wait_for_threads(deadline: &Deadline) {
    // SAFETY: gettid has no preconditions.
    let me = unsafe { libc::gettid() };
    while books()
        .threads
        .iter()
        .any(|thread| !thread.daemon && thread.native_id != me)
    {
        if deadline.check().is_err() {
            return;
        }
        std::thread::sleep(THREAD_END_POLL);
    }
}

/// Terminates daemonic children (SIGTERM, as Python) and joins them all.
fn finish_children(deadline: &Deadline) {
    let children = books().children.clone();
    for record in children.iter().filter(|c| c.daemon) {
        child::signal(record.pid, nix::sys::signal::Signal::SIGTERM);
    }
    for record in children {
        let waiter = ChildWaiter::new(record.pid);
        if !matches!(waiter.wait(deadline), Ok(Some(_))) {
            return;
        }
        child::forget(record.pid);
    }
}

//! Set-up of the process that runs a notebook's cells.

use super::protocol;
use std::io::Write;

/// Prepares the process that runs the cells (the kernel calls it once per
/// runtime, first thing): the cell thread's panics are reported to the kernel
/// as one marker line instead of a backtrace, and, with the `multiprocessing`
/// feature, SIGINT interrupts the prelude's blocking calls.
///
/// Panics of other threads, and of processes forked from the cell, keep the
/// default report on stderr.
///
/// A segmentation fault, bus error or illegal instruction ends the process by
/// its own signal (evcxr's runtime would print a backtrace and abort, so
/// every such death read as `SIGABRT`): the kernel then names the signal.
pub fn install_runtime() {
    restore_fault_signals();
    #[cfg(feature = "multiprocessing")]
    {
        crate::interrupt::install_handler();
        // Before any cell runs: it publishes its address in the environment.
        crate::sys::timeline::init();
    }
    // The one reader of the frontend's widget messages.
    #[cfg(feature = "widgets")]
    crate::widgets::start_reader();
    {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let _ = writeln!(out, "{}", protocol::RELAY_BLOCKS);
        let _ = out.flush();
    }
    let cell_thread = std::thread::current().id();
    let runtime_pid = std::process::id();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::process::id() == runtime_pid && std::thread::current().id() == cell_thread {
            let message = info.payload_as_str().unwrap_or("Box<dyn Any>");
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let _ = writeln!(
                out,
                "{}{}",
                protocol::PANIC_MESSAGE,
                protocol::escape(message)
            );
            let _ = out.flush();
        } else {
            default_hook(info);
        }
    }));
}

/// Puts the default action back on the signals of faults (see `install_runtime`).
fn restore_fault_signals() {
    // The notebook part of the crate has no dependencies; `signal` is libc's.
    unsafe extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIG_DFL: usize = 0;
    // SIGILL, SIGBUS and SIGSEGV on Linux.
    for number in [4, 7, 11] {
        // SAFETY: installing the default action runs no code of ours in
        // signal context; the numbers are valid signals on Linux.
        unsafe {
            signal(number, SIG_DFL);
        }
    }
}

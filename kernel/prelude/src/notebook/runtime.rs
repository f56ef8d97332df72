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
pub fn install_runtime() {
    #[cfg(feature = "multiprocessing")]
    {
        crate::interrupt::install_handler();
        // Before any cell runs: it publishes its address in the environment.
        crate::sys::timeline::init();
    }
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

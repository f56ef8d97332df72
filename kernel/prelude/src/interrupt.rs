//! Making blocking calls interruptible.
//!
//! [`install_handler`] installs a SIGINT handler that only counts signals. Every
//! blocking call in this crate notes the count when it starts and waits in
//! slices of at most [`SLICE`]; when the count has moved, the call returns
//! [`Error::Interrupted`](crate::multiprocessing::Error::Interrupted). So an
//! interrupt reaches a blocked call within 100 ms whichever thread the signal
//! lands on, a signal that arrived before the call started does not affect it,
//! and all state survives — nothing unwinds through foreign code.
//!
//! Without the handler SIGINT keeps its default meaning (the process ends).

pub use crate::sys::deadline::SLICE;
use crate::sys::globals::{globals, globals_if_ready};
use std::sync::atomic::Ordering;

extern "C" fn on_sigint(_signal: libc::c_int) {
    // Async-signal-safe: two atomic loads and one atomic add. The globals are
    // ready: they are set up before the handler is installed.
    if let Some(globals) = globals_if_ready() {
        globals.interrupts.fetch_add(1, Ordering::SeqCst);
    }
}

/// Makes SIGINT interrupt this crate's blocking calls instead of ending the
/// process. Idempotent. Children started afterwards inherit the handler.
///
/// ```
/// use ferrokernel_prelude::{interrupt, multiprocessing::{Error, Queue}};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// interrupt::install_handler();
/// let q = Queue::<u8>::new()?;
/// std::thread::spawn(|| {
///     std::thread::sleep(std::time::Duration::from_millis(50));
///     // What Ctrl-C (or the notebook's stop button) sends:
///     ferrokernel_prelude::os::kill(ferrokernel_prelude::os::getpid(), ferrokernel_prelude::os::SIGINT)
/// });
/// assert!(matches!(q.get(), Err(Error::Interrupted)));
/// # Ok(())
/// # }
/// ```
pub fn install_handler() {
    // Once per process: the count lives in the process-wide globals (see
    // `sys::globals`), whichever copy of this crate installs the handler.
    if !globals().handler_installed.swap(true, Ordering::SeqCst) {
        // SAFETY: the handler only performs an atomic add, which is
        // async-signal-safe; no SA_RESTART, so blocking system calls on the
        // signalled thread return early with EINTR.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigint as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = 0;
            libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
        }
    }
}

/// Interrupts the blocking calls in progress in this process, as a SIGINT would.
///
/// ```
/// use ferrokernel_prelude::{interrupt, multiprocessing::{Error, Event}};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let never = Event::new()?;
/// std::thread::spawn(|| {
///     std::thread::sleep(std::time::Duration::from_millis(50));
///     interrupt::trigger();
/// });
/// assert!(matches!(never.wait(), Err(Error::Interrupted)));
/// # Ok(())
/// # }
/// ```
pub fn trigger() {
    globals().interrupts.fetch_add(1, Ordering::SeqCst);
}

/// How many interrupts this process has seen.
///
/// ```
/// use ferrokernel_prelude::interrupt;
/// let before = interrupt::count();
/// interrupt::trigger();
/// assert_eq!(interrupt::count(), before + 1);
/// ```
pub fn count() -> u64 {
    crate::sys::deadline::interrupts()
}

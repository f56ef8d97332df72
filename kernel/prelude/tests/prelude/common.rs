//! Helpers shared by the tests.

use ferrokernel_prelude::interrupt;
use ferrokernel_prelude::multiprocessing::{Error, Result};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

/// One test at a time: forks and interrupts are process-wide.
pub(crate) fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `call` (which blocks), sends this process a real SIGINT 100 ms in, and
/// checks that the call returns `Err(Interrupted)` soon after. Returns the delay
/// between the signal and the return.
pub(crate) fn assert_interrupted<T: std::fmt::Debug>(
    what: &str,
    call: impl FnOnce() -> Result<T>,
) -> Duration {
    interrupt::install_handler();
    let signal_at = std::sync::Arc::new(Mutex::new(None::<Instant>));
    let stamp = signal_at.clone();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        *stamp.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGINT)
            .expect("signal");
    });
    let result = call();
    let returned = Instant::now();
    sender.join().expect("sender");
    let sent = signal_at
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .expect("the signal was sent");
    assert!(
        matches!(result, Err(Error::Interrupted)),
        "{what}: expected Err(Interrupted), got {result:?}"
    );
    let latency = returned.saturating_duration_since(sent);
    println!("{what}: interrupted {latency:?} after SIGINT");
    // The guarantee is 100 ms; the margin keeps a loaded CI machine from flaking.
    assert!(
        latency < Duration::from_millis(600),
        "{what}: took {latency:?} to notice the interrupt"
    );
    latency
}

/// Polls `condition` for up to `timeout`.
pub(crate) fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    condition()
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet).
pub(crate) fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

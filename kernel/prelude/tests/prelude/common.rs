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

pub(crate) use ferrokernel_prelude::procfs::gone;

/// A `python3` helper process running a script, its stdout read line by line.
pub(crate) struct Python {
    child: std::process::Child,
    out: std::io::BufReader<std::process::ChildStdout>,
    last: String,
}

/// Starts `python3 -c script args...`; the script is ended by an alarm after
/// 30 s, so a test never hangs on it.
pub(crate) fn python(script: &str, args: &[&str]) -> Python {
    let script = format!("import signal; signal.alarm(30)\n{script}");
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (CPython 3.11 is on every machine)");
    let out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    Python {
        child,
        out,
        last: String::new(),
    }
}

impl Python {
    /// The next line it prints.
    pub(crate) fn line(&mut self) -> String {
        use std::io::BufRead;
        let mut line = String::new();
        let _ = self.out.read_line(&mut line);
        if line.is_empty() {
            let status = self.child.wait().expect("wait");
            let mut err = String::new();
            if let Some(mut stderr) = self.child.stderr.take() {
                use std::io::Read;
                let _ = stderr.read_to_string(&mut err);
            }
            panic!("python ended ({status}) without printing more: {err}");
        }
        self.last = line.trim().to_owned();
        self.last.clone()
    }

    /// Waits for it to exit successfully; returns the last line it printed.
    pub(crate) fn finish(mut self) -> String {
        use std::io::{BufRead, Read};
        for line in (&mut self.out).lines().map_while(std::result::Result::ok) {
            if !line.trim().is_empty() {
                self.last = line.trim().to_owned();
            }
        }
        let status = self.child.wait().expect("wait");
        let mut err = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut err);
        }
        assert!(status.success(), "python failed ({status}): {err}");
        self.last
    }
}

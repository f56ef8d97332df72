//! Turns the runtime's output lines into [`Output`]s and cell facts.
//!
//! One thread reads evcxr's stdout and stderr channels for the whole life of the
//! engine, so output printed between cells (by threads and child processes) is
//! published too. Marker lines from the relay and the panic hook are not shown:
//! they are recorded in the [`CellReport`] that `execute` reads after a cell.

use crate::markers;
use crate::{Output, Publisher, StreamKind};
use crossbeam_channel::{Receiver, Sender, select};
use std::sync::{Arc, Mutex, PoisonError};

/// What the markers said about the current cell.
#[derive(Debug, Default)]
pub(super) struct CellReport {
    /// evcxr caught a panic of the cell.
    pub(super) panicked: bool,
    /// The last panic message from the cell's thread.
    pub(super) panic_message: Option<String>,
    /// A top-level `?` returned an error.
    pub(super) user_error: bool,
    /// The stderr lines since the last stdout line: for a `?` error, its message.
    pub(super) recent_stderr: Vec<String>,
}

/// Shared between the pump thread and the engine.
pub(super) type SharedReport = Arc<Mutex<CellReport>>;

pub(super) fn lock(report: &SharedReport) -> std::sync::MutexGuard<'_, CellReport> {
    report.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts the pump; send a `Sender<()>` on the returned channel to wait until
/// every line received so far has been handled.
pub(super) fn start(
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    publisher: Arc<dyn Publisher>,
    report: SharedReport,
) -> Sender<Sender<()>> {
    let (fence_tx, fence_rx) = crossbeam_channel::unbounded::<Sender<()>>();
    let pump = Pump { publisher, report };
    std::thread::Builder::new()
        .name("engine-output".into())
        .spawn(move || pump.run(stdout, stderr, fence_rx))
        .ok();
    fence_tx
}

struct Pump {
    publisher: Arc<dyn Publisher>,
    report: SharedReport,
}

impl Pump {
    fn run(self, stdout: Receiver<String>, stderr: Receiver<String>, fences: Receiver<Sender<()>>) {
        loop {
            select! {
                recv(stdout) -> line => match line {
                    Ok(line) => self.stdout_line(line),
                    Err(_) => return,
                },
                recv(stderr) -> line => {
                    if let Ok(line) = line {
                        self.stream(StreamKind::Stderr, line);
                    }
                },
                recv(fences) -> done => {
                    while let Ok(line) = stdout.try_recv() {
                        self.stdout_line(line);
                    }
                    while let Ok(line) = stderr.try_recv() {
                        self.stream(StreamKind::Stderr, line);
                    }
                    if let Ok(done) = done {
                        let _ = done.send(());
                    }
                },
            }
        }
    }

    fn stdout_line(&self, line: String) {
        let Some(marker) = line.strip_prefix(markers::PREFIX) else {
            lock(&self.report).recent_stderr.clear();
            return self.stream(StreamKind::Stdout, line);
        };
        let full = format!("{}{marker}", markers::PREFIX);
        if let Some(text) = full.strip_prefix(markers::STDERR_LINE) {
            lock(&self.report).recent_stderr.push(text.to_owned());
            self.stream(StreamKind::Stderr, text.to_owned());
        } else if full == markers::USER_ERROR {
            lock(&self.report).user_error = true;
        } else if full == markers::PANICKED {
            lock(&self.report).panicked = true;
        } else if let Some(message) = full.strip_prefix(markers::PANIC_MESSAGE) {
            lock(&self.report).panic_message = Some(markers::unescape(message));
        } else if let Some(pairs) = full.strip_prefix(markers::DISPLAY) {
            self.publisher.publish(Output::Display {
                bundle: markers::parse_display(pairs),
                id: None,
            });
        } else if let Some(rest) = full.strip_prefix(markers::CLEAR_OUTPUT) {
            self.publisher.publish(Output::ClearOutput {
                wait: rest == ":wait",
            });
        }
    }

    fn stream(&self, stream: StreamKind, mut text: String) {
        text.push('\n');
        self.publisher.publish(Output::Stream { stream, text });
    }
}

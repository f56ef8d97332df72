//! Turns the runtime's output lines into [`Output`]s and cell facts.
//!
//! One thread reads evcxr's stdout and stderr channels for the whole life of the
//! engine, so output printed between cells (by threads and child processes) is
//! published too, under the cell that ran last. The relay sends everything on
//! the runtime's stderr, which evcxr reads at all times (see
//! [`crate::runtime`]); stdout carries only what came before the set-up. Marker lines from the relay and the panic hook are not shown:
//! they are recorded in the [`CellReport`] that `execute` reads after a cell.
//!
//! ## Display blocks
//! The relay turns each evcxr display block into a marker line where it was
//! printed. Blocks printed back to back with different MIME types are one
//! value in several formats (that is how evcxr crates print one), so they
//! gather into one bundle; a MIME type the bundle already has, or any other
//! output, closes it. A closed bundle is a `display_data` — except the one
//! open when the cell ends, in a cell that ends in an expression: that one is
//! the cell's value (`execute_result`). The prelude's display traits print a
//! [`VALUE`](crate::markers::VALUE) marker first, so a value never merges with
//! a display printed just before it. A bundle nothing follows for
//! [`QUIET`] is shown as a display at once (a chart drawn before a long
//! computation appears when drawn), unless it was marked as a value.
//! A marked value is not closed by output that arrives before the cell ends:
//! the cell's own thread prints nothing after its value, so that output comes
//! from other threads or processes (a pool worker's panic message relayed a
//! moment late, a child's display) and must not turn the value into a display.
//! At the first such output the value is set aside, complete, tagged with its
//! cell; the cell's end takes it as the value only if it is that cell's.

use crate::markers;
use crate::{CellId, MimeBundle, Output, Publisher, StreamKind};
use crossbeam_channel::{Receiver, Sender, select};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How long an open bundle waits for more formats before it is shown.
const QUIET: Duration = Duration::from_millis(100);
/// How long the pump sleeps when nothing waits to be shown.
const IDLE: Duration = Duration::from_secs(3600);

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
    /// Set by the engine before a cell runs: the cell ends in an expression,
    /// so the bundle open at its end is its value.
    pub(super) expects_value: bool,
    /// A cell runs (from `execute` until the relay's cell end).
    pub(super) running: bool,
    /// The cell running, or the one that ran last: output is its.
    pub(super) cell: Option<CellId>,
    /// The cell's value, from the display blocks its final expression printed.
    pub(super) value: Option<MimeBundle>,
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
    let pump = Pump::new(publisher, report);
    std::thread::Builder::new()
        .name("engine-output".into())
        .spawn(move || pump.run(stdout, stderr, fence_rx))
        .ok();
    fence_tx
}

/// Display blocks gathered into one bundle.
#[derive(Debug)]
struct OpenBundle {
    bundle: MimeBundle,
    /// After a [`markers::VALUE`] marker: the prelude showing a final value.
    marked_value: bool,
}

/// A marked value set aside while output from elsewhere is shown.
#[derive(Debug)]
struct HeldValue {
    cell: Option<CellId>,
    bundle: MimeBundle,
}

struct Pump {
    publisher: Arc<dyn Publisher>,
    report: SharedReport,
    open: Option<OpenBundle>,
    held_value: Option<HeldValue>,
    /// A value marker was seen; the next block opens a marked bundle.
    value_marked: bool,
    /// The cell the relay said the lines come from (a process it started).
    origin: Option<CellId>,
}

impl Pump {
    fn new(publisher: Arc<dyn Publisher>, report: SharedReport) -> Pump {
        Pump {
            publisher,
            report,
            open: None,
            held_value: None,
            value_marked: false,
            origin: None,
        }
    }

    fn run(
        mut self,
        stdout: Receiver<String>,
        stderr: Receiver<String>,
        fences: Receiver<Sender<()>>,
    ) {
        loop {
            let waiting = self.open.is_some() || self.held_value.is_some();
            let wait = if waiting { QUIET } else { IDLE };
            select! {
                recv(stdout) -> line => match line {
                    Ok(line) => self.line(line),
                    Err(_) => {
                        self.close_bundle();
                        return self.show_held_value();
                    }
                },
                recv(stderr) -> line => {
                    if let Ok(line) = line {
                        self.line(line);
                    }
                },
                recv(fences) -> done => {
                    while let Ok(line) = stdout.try_recv() {
                        self.line(line);
                    }
                    while let Ok(line) = stderr.try_recv() {
                        self.line(line);
                    }
                    if let Ok(done) = done {
                        let _ = done.send(());
                    }
                },
                default(wait) => self.quiet(),
            }
        }
    }

    /// A line from the relay: text the cell printed to stdout, or a marker.
    fn line(&mut self, line: String) {
        let Some(marker) = line.strip_prefix(markers::PREFIX) else {
            lock(&self.report).recent_stderr.clear();
            return self.stream(StreamKind::Stdout, line);
        };
        let full = format!("{}{marker}", markers::PREFIX);
        if let Some(payload) = full.strip_prefix(markers::BLOCK) {
            let (mime, content) = markers::parse_block(payload);
            return self.block(mime, content);
        }
        if full == markers::VALUE {
            self.close_bundle();
            self.value_marked = true;
            return;
        }
        if full == markers::CELL_END {
            return self.cell_end();
        }
        if let Some(payload) = full.strip_prefix(crate::origins::FROM) {
            self.close_bundle_before_output();
            self.origin = crate::origins::parse_from(payload).map(CellId);
            return;
        }
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
            self.publish(Output::Display {
                bundle: markers::parse_display(pairs),
                id: None,
            });
        } else if let Some(payload) = full.strip_prefix(markers::DISPLAY_WITH_ID) {
            let (id, bundle) = markers::parse_display_id(payload);
            self.publish(Output::Display {
                bundle,
                id: Some(id),
            });
        } else if let Some(payload) = full.strip_prefix(markers::UPDATE_DISPLAY) {
            let (id, bundle) = markers::parse_display_id(payload);
            self.publish(Output::UpdateDisplay { bundle, id });
        } else if let Some(json) = full.strip_prefix(markers::COMM) {
            match crate::CommMessage::from_line(json) {
                Ok(message) => self.publish(Output::Comm(message)),
                Err(error) => tracing::warn!(%error, "a comm line that does not parse"),
            }
        } else if let Some(rest) = full.strip_prefix(markers::CLEAR_OUTPUT) {
            self.publish(Output::ClearOutput {
                wait: rest == ":wait",
            });
        }
    }

    fn block(&mut self, mime: String, content: String) {
        if self
            .open
            .as_ref()
            .is_some_and(|open| open.bundle.contains_key(&mime))
        {
            self.close_bundle_before_output();
        }
        let marked_value = std::mem::take(&mut self.value_marked);
        self.open
            .get_or_insert_with(|| OpenBundle {
                bundle: MimeBundle::new(),
                marked_value,
            })
            .bundle
            .insert(mime, content);
    }

    /// The open bundle, if any, becomes a display.
    fn close_bundle(&mut self) {
        self.value_marked = false;
        if let Some(open) = self.open.take() {
            let cell = self.origin.or(lock(&self.report).cell);
            self.publish_display(cell, open.bundle);
        }
    }

    /// A finished bundle shown as a display of `cell`.
    fn publish_display(&self, cell: Option<CellId>, bundle: MimeBundle) {
        self.publisher
            .publish(cell, Output::Display { bundle, id: None });
    }

    /// The cell's code returned: its value is the bundle set aside for it, or
    /// else the open one, if the cell ends in an expression.
    fn cell_end(&mut self) {
        self.value_marked = false;
        let open = self.open.take().map(|open| open.bundle);
        let held = self.held_value.take();
        // One critical section: the engine takes the report as soon as it
        // sees the cell is no longer running, so the value must be in it then.
        let shown = {
            let mut report = lock(&self.report);
            report.running = false;
            let expects_value = std::mem::take(&mut report.expects_value);
            let mut shown = Vec::new();
            let held = match held {
                Some(held) if held.cell == report.cell => Some(held.bundle),
                Some(stale) => {
                    shown.push((stale.cell, stale.bundle));
                    None
                }
                None => None,
            };
            // What was set aside for the cell is its value; what is open then
            // came from elsewhere.
            let (value, open) = match held {
                Some(held) => (Some(held), open),
                None => (open, None),
            };
            if expects_value {
                report.value = value;
            } else {
                shown.extend(value.map(|bundle| (report.cell, bundle)));
            }
            shown.extend(open.map(|bundle| (report.cell, bundle)));
            shown
        };
        for (cell, bundle) in shown {
            self.publish_display(cell, bundle);
        }
    }

    /// Nothing arrived for a while: an open bundle is complete, and a value
    /// set aside is no value once its cell is over.
    fn quiet(&mut self) {
        // A marked value of the running cell may yet get more formats.
        if !self.open_is_running_cells_value() {
            self.close_bundle();
        }
        let held_cell_over = self.held_value.as_ref().is_some_and(|held| {
            let report = lock(&self.report);
            !report.running || report.cell != held.cell
        });
        if held_cell_over {
            self.show_held_value();
        }
    }

    /// The value set aside, if any, becomes a display of its cell.
    fn show_held_value(&mut self) {
        if let Some(held) = self.held_value.take() {
            self.publish_display(held.cell, held.bundle);
        }
    }

    fn open_is_running_cells_value(&self) -> bool {
        self.open.as_ref().is_some_and(|open| open.marked_value) && lock(&self.report).running
    }

    /// The open bundle is complete; the running cell's value is set aside.
    fn close_bundle_before_output(&mut self) {
        if !self.open_is_running_cells_value() {
            return self.close_bundle();
        }
        let cell = lock(&self.report).cell;
        if let Some(open) = self.open.take() {
            self.show_held_value();
            self.held_value = Some(HeldValue {
                cell,
                bundle: open.bundle,
            });
        }
    }

    /// Any other output closes the open bundle first, keeping the order.
    fn publish(&mut self, output: Output) {
        self.close_bundle_before_output();
        let cell = self.origin.or(lock(&self.report).cell);
        self.publisher.publish(cell, output);
    }

    fn stream(&mut self, stream: StreamKind, mut text: String) {
        text.push('\n');
        self.publish(Output::Stream { stream, text });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Output>>);

    impl Publisher for Recorder {
        fn publish(&self, _cell: Option<CellId>, output: Output) {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(output);
        }
    }

    /// Runs `lines` through a pump for a cell that does or does not end in an
    /// expression; returns what was published and the cell's value.
    fn pump(lines: &[String], expects_value: bool) -> (Vec<Output>, Option<MimeBundle>) {
        let recorder = Arc::new(Recorder::default());
        let report = SharedReport::default();
        {
            let mut report = lock(&report);
            report.expects_value = expects_value;
            report.running = true;
        }
        let mut pump = Pump::new(recorder.clone(), report.clone());
        for line in lines {
            pump.line(line.clone());
        }
        let value = lock(&report).value.take();
        let published =
            std::mem::take(&mut *recorder.0.lock().unwrap_or_else(PoisonError::into_inner));
        (published, value)
    }

    fn block(mime: &str, content: &str) -> String {
        markers::block_line(mime, content)
    }

    fn display(pairs: &[(&str, &str)]) -> Output {
        Output::Display {
            bundle: pairs
                .iter()
                .map(|(m, c)| (m.to_string(), c.to_string()))
                .collect(),
            id: None,
        }
    }

    fn stdout(text: &str) -> Output {
        Output::Stream {
            stream: StreamKind::Stdout,
            text: format!("{text}\n"),
        }
    }

    #[test]
    fn blocks_are_displays_in_order_with_text() {
        let (published, value) = pump(
            &[
                "one".into(),
                block("text/html", "<b>1</b>"),
                "two".into(),
                block("text/html", "<b>2</b>"),
                markers::CELL_END.into(),
            ],
            false,
        );
        assert_eq!(
            published,
            [
                stdout("one"),
                display(&[("text/html", "<b>1</b>")]),
                stdout("two"),
                display(&[("text/html", "<b>2</b>")]),
            ]
        );
        assert_eq!(value, None);
    }

    #[test]
    fn formats_printed_together_are_one_bundle_and_a_repeated_type_a_new_one() {
        let (published, _) = pump(
            &[
                block("image/svg+xml", "<svg/>"),
                block("text/plain", "chart 1"),
                block("image/svg+xml", "<svg id='2'/>"),
                block("image/svg+xml", "<svg id='3'/>"),
                markers::CELL_END.into(),
            ],
            false,
        );
        assert_eq!(
            published,
            [
                display(&[("image/svg+xml", "<svg/>"), ("text/plain", "chart 1")]),
                display(&[("image/svg+xml", "<svg id='2'/>")]),
                display(&[("image/svg+xml", "<svg id='3'/>")]),
            ]
        );
    }

    #[test]
    fn the_last_bundle_of_a_cell_ending_in_an_expression_is_its_value() {
        let lines = [
            block("text/html", "<i>drawn</i>"),
            "text".into(),
            block("text/html", "<b>value</b>"),
            block("text/plain", "value"),
            markers::CELL_END.into(),
        ];
        let (published, value) = pump(&lines, true);
        assert_eq!(
            published,
            [display(&[("text/html", "<i>drawn</i>")]), stdout("text")]
        );
        assert_eq!(
            value,
            Some(MimeBundle::from([
                ("text/html".to_owned(), "<b>value</b>".to_owned()),
                ("text/plain".to_owned(), "value".to_owned()),
            ]))
        );
        // Without a final expression, the same blocks are all displays.
        let (published, value) = pump(&lines, false);
        assert_eq!(published.len(), 3);
        assert_eq!(value, None);
    }

    #[test]
    fn a_marked_value_does_not_merge_with_a_display_before_it() {
        let (published, value) = pump(
            &[
                block("text/html", "<svg/>"),
                markers::VALUE.into(),
                block("text/plain", "()"),
                markers::CELL_END.into(),
            ],
            true,
        );
        assert_eq!(published, [display(&[("text/html", "<svg/>")])]);
        assert_eq!(
            value,
            Some(MimeBundle::from([(
                "text/plain".to_owned(),
                "()".to_owned()
            )]))
        );
    }

    #[test]
    fn output_from_elsewhere_after_a_marked_value_leaves_it_the_value() {
        let worker_panic = format!("{}thread panicked: thirty", markers::STDERR_LINE);
        let (published, value) = pump(
            &[
                markers::VALUE.into(),
                block("text/plain", "Err(TaskPanicked)"),
                worker_panic,
                "late stdout".into(),
                markers::CELL_END.into(),
            ],
            true,
        );
        assert_eq!(
            published,
            [
                Output::Stream {
                    stream: StreamKind::Stderr,
                    text: "thread panicked: thirty\n".to_owned(),
                },
                stdout("late stdout"),
            ]
        );
        assert_eq!(
            value,
            Some(MimeBundle::from([(
                "text/plain".to_owned(),
                "Err(TaskPanicked)".to_owned()
            )]))
        );
    }

    #[test]
    fn a_child_s_display_after_a_marked_value_leaves_it_the_value() {
        let value = || MimeBundle::from([("text/plain".to_owned(), "42".to_owned())]);
        // A different type would have joined the value; the same type turned it
        // into a display.
        for child_mime in ["text/html", "text/plain"] {
            let (published, shown_value) = pump(
                &[
                    markers::VALUE.into(),
                    block("text/plain", "42"),
                    crate::origins::from_line(Some(7)),
                    block(child_mime, "child"),
                    crate::origins::from_line(None),
                    markers::CELL_END.into(),
                ],
                true,
            );
            assert_eq!(
                published,
                [display(&[(child_mime, "child")])],
                "{child_mime}"
            );
            assert_eq!(shown_value, Some(value()), "{child_mime}");
        }
        // Without the origin line in between, too.
        let (published, shown_value) = pump(
            &[
                markers::VALUE.into(),
                block("text/plain", "42"),
                block("text/plain", "child"),
                markers::CELL_END.into(),
            ],
            true,
        );
        assert_eq!(published, [display(&[("text/plain", "child")])]);
        assert_eq!(shown_value, Some(value()));
    }

    #[test]
    fn a_value_set_aside_is_no_value_of_a_later_cell() {
        let recorder = Arc::new(Recorder::default());
        let report = SharedReport::default();
        *lock(&report) = CellReport {
            expects_value: true,
            running: true,
            cell: Some(CellId(1)),
            ..CellReport::default()
        };
        let mut pump = Pump::new(recorder.clone(), report.clone());
        pump.line(markers::VALUE.into());
        pump.line(block("text/plain", "1"));
        pump.line("from elsewhere".into());
        // The runtime died before cell 1's end; cell 2 starts.
        *lock(&report) = CellReport {
            expects_value: true,
            running: true,
            cell: Some(CellId(2)),
            ..CellReport::default()
        };
        pump.line(markers::CELL_END.into());
        assert_eq!(lock(&report).value, None);
        assert_eq!(
            recorder.0.lock().map(|p| p.clone()).unwrap_or_default(),
            [stdout("from elsewhere"), display(&[("text/plain", "1")])]
        );
        // Between cells, quiet shows it.
        let mut pump = Pump::new(recorder.clone(), report.clone());
        pump.line(markers::VALUE.into());
        pump.line(block("text/plain", "2"));
        pump.line("more".into());
        lock(&report).running = false;
        pump.quiet();
        assert_eq!(recorder.0.lock().map(|p| p.len()).unwrap_or_default(), 4);
    }

    #[test]
    fn displays_with_ids_and_their_updates_keep_their_id() {
        let show = ferrokernel_prelude::notebook::protocol::display_id_line(
            "bar",
            &[("text/plain", "1/2")],
            false,
        );
        let update = ferrokernel_prelude::notebook::protocol::display_id_line(
            "bar",
            &[("text/plain", "2/2")],
            true,
        );
        let (published, _) = pump(&[show, update], false);
        assert_eq!(
            published,
            [
                Output::Display {
                    bundle: MimeBundle::from([("text/plain".to_owned(), "1/2".to_owned())]),
                    id: Some("bar".to_owned()),
                },
                Output::UpdateDisplay {
                    bundle: MimeBundle::from([("text/plain".to_owned(), "2/2".to_owned())]),
                    id: "bar".to_owned(),
                },
            ]
        );
    }

    #[test]
    fn the_pump_thread_publishes_lines_before_a_fence_returns() {
        let recorder = Arc::new(Recorder::default());
        let (out_tx, out_rx) = crossbeam_channel::unbounded();
        let (_err_tx, err_rx) = crossbeam_channel::unbounded::<String>();
        let fences = start(out_rx, err_rx, recorder.clone(), SharedReport::default());
        out_tx.send("hello".to_owned()).expect("send");
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        fences.send(done_tx).expect("fence");
        done_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("fenced");
        assert_eq!(
            recorder.0.lock().map(|p| p.clone()).unwrap_or_default(),
            [stdout("hello")]
        );
    }

    #[test]
    fn a_bundle_nothing_follows_is_shown_unless_it_is_a_value_being_shown() {
        let recorder = Arc::new(Recorder::default());
        let report = SharedReport::default();
        lock(&report).running = true;
        let mut pump = Pump::new(recorder.clone(), report.clone());
        pump.line(block("text/html", "<b>now</b>"));
        pump.quiet();
        assert_eq!(recorder.0.lock().map(|p| p.len()).unwrap_or_default(), 1);
        pump.line(markers::VALUE.into());
        pump.line(block("text/plain", "42"));
        pump.quiet();
        assert_eq!(recorder.0.lock().map(|p| p.len()).unwrap_or_default(), 1);
        // Between cells nothing is a value.
        lock(&report).running = false;
        pump.quiet();
        assert_eq!(recorder.0.lock().map(|p| p.len()).unwrap_or_default(), 2);
    }
}

//! Running notebook cells through the kernel's own engine conversation
//! ([`EngineClient`]), collecting their outputs as nbformat outputs (and, for
//! `ferrokernel run`, echoing them to the terminal). Output that arrives after
//! its cell ended, from the threads and processes it started, is collected
//! under that cell.

use super::format::{Output, Text};
use crate::engine_client::EngineClient;
use crate::iopub::mime_bundle;
use crate::output_limit::{Limit, OutputLimiter, take_cell_limit};
use ferrokernel_engine::conversation::{EngineEnv, EngineSource};
use ferrokernel_engine::{
    CellError, CellId, MimeBundle, Output as EngineOutput, Publisher, StreamKind,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use thiserror::Error;

/// How often a runner looks whether its engine has started.
const START_POLL: Duration = Duration::from_millis(20);
/// How long the engine may take to end its processes after the last notebook.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(5);

/// Collects each cell's outputs; optionally prints them as they come.
pub struct Collector {
    cells: Mutex<Cells>,
    echo: bool,
}

/// The outputs of every cell so far.
#[derive(Default)]
struct Cells {
    by_cell: BTreeMap<CellId, Collected>,
    /// Output of no known cell goes to the last.
    last: Option<CellId>,
}

/// A cell's outputs so far, and where each display with an id sits among them.
#[derive(Default)]
struct Collected {
    outputs: Vec<Output>,
    display_ids: std::collections::HashMap<String, usize>,
    /// Displays with an id not echoed yet: a terminal gets them once, in the
    /// state they have when the cell shows something else or ends (a
    /// progress bar at its end, not each of its redraws).
    unechoed: Vec<String>,
}

impl Collected {
    fn echo_held(&mut self) {
        for id in std::mem::take(&mut self.unechoed) {
            if let Some(output) = self.display_ids.get(&id).and_then(|i| self.outputs.get(*i)) {
                echo(output);
            }
        }
    }
}

impl Collector {
    /// A collector; `echo` prints outputs to the terminal too.
    pub fn new(echo: bool) -> Arc<Collector> {
        Arc::new(Collector {
            cells: Mutex::default(),
            echo,
        })
    }

    /// The outputs of `cell` (or of the last cell, for `None`).
    fn lock(&self, cell: Option<CellId>) -> CellGuard<'_> {
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        let cell = cell.or(cells.last).unwrap_or(CellId(0));
        cells.by_cell.entry(cell).or_default();
        CellGuard { cells, cell }
    }

    /// A cell begins: output of no known cell is its from now on.
    fn begin(&self, cell: CellId) {
        self.cells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last = Some(cell);
    }

    /// What `cell` has shown so far (held displays echoed now).
    pub fn outputs_of(&self, cell: CellId) -> Vec<Output> {
        let mut collected = self.lock(Some(cell));
        if self.echo {
            collected.echo_held();
        }
        collected.outputs.clone()
    }

    /// Forgets every cell (between notebooks).
    fn forget(&self) {
        *self.cells.lock().unwrap_or_else(PoisonError::into_inner) = Cells::default();
    }

    fn push_display(&self, cell: Option<CellId>, output: Output, id: Option<String>) {
        let mut collected = self.lock(cell);
        if self.echo {
            collected.echo_held();
            if id.is_none() {
                echo(&output);
            }
        }
        if let Some(id) = id {
            let index = collected.outputs.len();
            collected.display_ids.insert(id.clone(), index);
            if self.echo {
                collected.unechoed.push(id);
            }
        }
        collected.outputs.push(output);
    }

    /// An `update_display_data`: the display keeps its place, with new data.
    fn update_display(&self, cell: Option<CellId>, id: &str, new_data: Map<String, Value>) {
        let mut collected = self.lock(cell);
        let Some(&index) = collected.display_ids.get(id) else {
            return;
        };
        if let Some(Output::DisplayData { data, .. }) = collected.outputs.get_mut(index) {
            *data = new_data;
        }
    }

    fn push(&self, cell: Option<CellId>, output: Output) {
        let mut collected = self.lock(cell);
        if self.echo {
            collected.echo_held();
            echo(&output);
        }
        let outputs = &mut collected.outputs;
        // Consecutive text on one stream is one output, as frontends store it.
        if let (
            Some(Output::Stream { name, text }),
            Output::Stream {
                name: new_name,
                text: new_text,
            },
        ) = (outputs.last_mut(), &output)
            && name == new_name
        {
            text.0.push_str(&new_text.0);
            return;
        }
        outputs.push(output);
    }
}

/// One cell's outputs, locked.
struct CellGuard<'a> {
    cells: std::sync::MutexGuard<'a, Cells>,
    cell: CellId,
}

impl std::ops::Deref for CellGuard<'_> {
    type Target = Collected;
    fn deref(&self) -> &Collected {
        &self.cells.by_cell[&self.cell]
    }
}

impl std::ops::DerefMut for CellGuard<'_> {
    fn deref_mut(&mut self) -> &mut Collected {
        self.cells.by_cell.entry(self.cell).or_default()
    }
}

impl Publisher for Collector {
    fn publish(&self, from: Option<CellId>, output: EngineOutput) {
        match output {
            EngineOutput::Stream { stream, text } => self.push(
                from,
                Output::Stream {
                    name: match stream {
                        StreamKind::Stdout => "stdout",
                        StreamKind::Stderr => "stderr",
                    }
                    .to_owned(),
                    text: Text(text),
                },
            ),
            EngineOutput::Display { bundle, id } => self.push_display(
                from,
                Output::DisplayData {
                    data: data(bundle),
                    metadata: Map::new(),
                },
                id,
            ),
            EngineOutput::UpdateDisplay { bundle, id } => {
                self.update_display(from, &id, data(bundle))
            }
            EngineOutput::ClearOutput { .. } => *self.lock(from) = Collected::default(),
            // Widgets live in a frontend; a written notebook keeps their views.
            EngineOutput::Comm(_) => {}
        }
    }
}

fn data(bundle: MimeBundle) -> Map<String, Value> {
    mime_bundle(bundle).into_iter().collect()
}

fn echo(output: &Output) {
    match output {
        Output::Stream { name, text } if name == "stderr" => {
            let _ = std::io::stderr().write_all(text.0.as_bytes());
        }
        Output::Stream { text, .. } => {
            let _ = std::io::stdout().write_all(text.0.as_bytes());
        }
        Output::DisplayData { data, .. } | Output::ExecuteResult { data, .. } => {
            if let Some(text) = data.get("text/plain").and_then(Value::as_str) {
                println!("{text}");
            }
        }
        Output::Error { traceback, .. } => {
            for line in traceback {
                eprintln!("{line}");
            }
        }
    }
}

/// What running one cell produced.
#[derive(Debug)]
pub struct CellRun {
    /// Its outputs, in nbformat.
    pub outputs: Vec<Output>,
    /// Its execution counter.
    pub execution_count: u32,
    /// Why it failed, if it did.
    pub error: Option<CellError>,
    /// Whether it was stopped for running past the timeout.
    pub timed_out: bool,
    /// The kernel's number for it, under which later output is collected.
    pub cell: CellId,
    /// How long it took.
    pub elapsed: Duration,
}

/// The runner's engine did not start.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("the Rust engine cannot start: {reason}")]
pub struct StartFailed {
    /// Why, as the engine or its source said.
    pub reason: String,
}

/// Runs cells one after another, counting executions like a kernel.
pub struct Runner {
    engine: EngineClient,
    collector: Arc<Collector>,
    limiter: Arc<OutputLimiter>,
    execution_count: u32,
    cells: u64,
}

impl Runner {
    /// A runner over an engine from `source`, whose output passes the
    /// kernel's output limit on its way to the collector: what is collected
    /// is what a page would have received. `echo` prints it too.
    pub fn start(source: Box<dyn EngineSource>, echo: bool) -> Runner {
        let collector = Collector::new(echo);
        let limiter = OutputLimiter::new(collector.clone(), Limit::from_env());
        let engine = EngineClient::start(source, EngineEnv::current(), limiter.clone());
        Runner {
            engine,
            collector,
            limiter,
            execution_count: 0,
            cells: 0,
        }
    }

    /// Waits until the engine has started (or failed to); says why it failed.
    pub fn wait_until_started(&self) -> Result<(), StartFailed> {
        use crate::engine_client::EngineState;
        let mut state = self.engine.state();
        loop {
            match &*state.borrow_and_update() {
                EngineState::Ready => return Ok(()),
                EngineState::Failed(reason) => {
                    return Err(StartFailed {
                        reason: reason.clone(),
                    });
                }
                EngineState::Starting { .. } | EngineState::Stopped => {}
            }
            std::thread::sleep(START_POLL);
        }
    }

    /// Starts afresh for the next notebook: no variables, counter at zero.
    pub fn reset(&mut self) -> Result<(), CellError> {
        self.execution_count = 0;
        let result = self
            .engine
            .reset()
            .blocking_recv()
            .unwrap_or_else(|_| Err(engine_gone()));
        self.collector.forget();
        result
    }

    /// Runs one cell; a cell running past `timeout` is interrupted.
    pub fn run_cell(&mut self, code: &str, timeout: Option<Duration>) -> CellRun {
        self.execution_count += 1;
        self.cells += 1;
        let cell = CellId(self.cells);
        self.collector.begin(cell);
        let started = Instant::now();
        let finished = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Some(timeout) = timeout {
            let engine = self.engine.clone();
            let finished = Arc::clone(&finished);
            let timed_out = Arc::clone(&timed_out);
            std::thread::spawn(move || {
                let (lock, signal) = &*finished;
                let done = lock.lock().unwrap_or_else(PoisonError::into_inner);
                let (done, _) = signal
                    .wait_timeout_while(done, timeout, |done| !*done)
                    .unwrap_or_else(PoisonError::into_inner);
                if !*done {
                    timed_out.store(true, std::sync::atomic::Ordering::SeqCst);
                    engine.interrupt();
                }
            });
        }
        let result = match take_cell_limit(code) {
            Err(error) => Err(CellError::Engine(error.to_string())),
            Ok((limit, code)) => {
                self.limiter.begin_cell(cell, limit);
                let result = self
                    .engine
                    .execute(cell, &code, None)
                    .blocking_recv()
                    .unwrap_or_else(|_| Err(engine_gone()));
                self.limiter.end_cell();
                result
            }
        };
        {
            let (lock, signal) = &*finished;
            *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
            signal.notify_all();
        }
        let error = match result {
            Ok(Some(bundle)) => {
                self.collector.push(
                    Some(cell),
                    Output::ExecuteResult {
                        data: data(bundle),
                        metadata: Map::new(),
                        execution_count: Some(self.execution_count),
                    },
                );
                None
            }
            Ok(None) => None,
            Err(error) => {
                self.collector.push(
                    Some(cell),
                    Output::Error {
                        ename: error.ename().to_owned(),
                        evalue: error.evalue(),
                        traceback: error.traceback(),
                    },
                );
                Some(error)
            }
        };
        CellRun {
            outputs: self.collector.outputs_of(cell),
            execution_count: self.execution_count,
            error,
            timed_out: timed_out.load(std::sync::atomic::Ordering::SeqCst),
            elapsed: started.elapsed(),
            cell,
        }
    }

    /// What `cell` has shown by now: its outputs when it ended, and what its
    /// threads and processes printed since.
    pub fn outputs_of(&self, cell: CellId) -> Vec<Output> {
        self.collector.outputs_of(cell)
    }

    /// Ends the engine's processes.
    pub fn shutdown(&mut self) {
        self.engine.shutdown(SHUTDOWN_LIMIT);
    }
}

fn engine_gone() -> CellError {
    CellError::Unavailable("the engine connection closed".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokernel_engine::fake::FakeEngine;

    fn runner() -> Runner {
        let start: ferrokernel_engine::conversation::StartEngine =
            Box::new(|publisher, _| Ok(Box::new(FakeEngine::new(publisher)) as Box<_>));
        let source = ferrokernel_engine::conversation::InProcessSource::new(start);
        Runner::start(Box::new(source), false)
    }

    #[test]
    fn collects_merged_streams_results_and_errors() {
        let mut runner = runner();
        let run = runner.run_cell("print:a\nprint:b\neprint:c\nvalue:4", None);
        assert_eq!(run.execution_count, 1);
        assert_eq!(run.outputs.len(), 3);
        assert!(matches!(&run.outputs[0], Output::Stream { text, .. } if text.0 == "a\nb\n"));
        assert!(matches!(
            &run.outputs[2],
            Output::ExecuteResult {
                execution_count: Some(1),
                ..
            }
        ));
        let failed = runner.run_cell("panic:boom", None);
        assert!(matches!(&failed.outputs[..], [Output::Error { ename, .. }] if ename == "Panic"));
        runner.reset().expect("reset");
        assert_eq!(runner.run_cell("value:1", None).execution_count, 1);
    }

    #[test]
    fn a_display_updated_in_place_is_kept_in_its_final_state_and_place() {
        let collector = Collector::new(false);
        let bar = |text: &str| MimeBundle::from([("text/plain".to_owned(), text.to_owned())]);
        collector.publish(
            None,
            EngineOutput::Display {
                bundle: bar("0/2"),
                id: Some("bar".into()),
            },
        );
        collector.publish(
            None,
            EngineOutput::Stream {
                stream: StreamKind::Stdout,
                text: "working\n".into(),
            },
        );
        collector.publish(
            None,
            EngineOutput::UpdateDisplay {
                bundle: bar("2/2"),
                id: "bar".into(),
            },
        );
        let outputs = collector.outputs_of(CellId(0));
        assert!(
            matches!(&outputs[0], Output::DisplayData { data, .. } if data["text/plain"] == "2/2")
        );
        assert!(matches!(&outputs[1], Output::Stream { .. }));
    }

    #[test]
    fn late_output_is_collected_under_its_own_cell() {
        let mut runner = runner();
        let first = runner.run_cell("later:200:late\nprint:early", None);
        let second = runner.run_cell("sleep:600\nprint:second", None);
        let text = |outputs: Vec<Output>| -> String {
            outputs
                .iter()
                .filter_map(|o| match o {
                    Output::Stream { text, .. } => Some(text.0.clone()),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(text(runner.outputs_of(first.cell)), "early\nlate\n");
        assert_eq!(text(runner.outputs_of(second.cell)), "second\n");
    }

    #[test]
    fn a_cell_past_its_timeout_is_interrupted() {
        let mut runner = runner();
        let run = runner.run_cell("spin", Some(Duration::from_millis(200)));
        assert!(run.timed_out);
        assert!(matches!(run.error, Some(CellError::Interrupted { .. })));
    }
}

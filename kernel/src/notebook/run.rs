//! Running notebook cells through an engine, collecting their outputs as
//! nbformat outputs (and, for `ferrokernel run`, echoing them to the terminal).

use super::format::{Output, Text};
use crate::iopub::mime_bundle;
use crate::output_limit::{OutputLimiter, take_cell_limit};
use ferrokernel_engine::{
    CellError, Engine, MimeBundle, Output as EngineOutput, Publisher, StreamKind,
};
use serde_json::{Map, Value};
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Collects a cell's outputs; optionally prints them as they come.
pub struct Collector {
    outputs: Mutex<Collected>,
    echo: bool,
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
            outputs: Mutex::default(),
            echo,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Collected> {
        self.outputs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self) -> Vec<Output> {
        let mut collected = self.lock();
        if self.echo {
            collected.echo_held();
        }
        std::mem::take(&mut *collected).outputs
    }

    fn push_display(&self, output: Output, id: Option<String>) {
        let mut collected = self.lock();
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
    fn update_display(&self, id: &str, new_data: Map<String, Value>) {
        let mut collected = self.lock();
        let Some(&index) = collected.display_ids.get(id) else {
            return;
        };
        if let Some(Output::DisplayData { data, .. }) = collected.outputs.get_mut(index) {
            *data = new_data;
        }
    }

    fn push(&self, output: Output) {
        let mut collected = self.lock();
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

impl Publisher for Collector {
    fn publish(&self, output: EngineOutput) {
        match output {
            EngineOutput::Stream { stream, text } => self.push(Output::Stream {
                name: match stream {
                    StreamKind::Stdout => "stdout",
                    StreamKind::Stderr => "stderr",
                }
                .to_owned(),
                text: Text(text),
            }),
            EngineOutput::Display { bundle, id } => self.push_display(
                Output::DisplayData {
                    data: data(bundle),
                    metadata: Map::new(),
                },
                id,
            ),
            EngineOutput::UpdateDisplay { bundle, id } => self.update_display(&id, data(bundle)),
            EngineOutput::ClearOutput { .. } => *self.lock() = Collected::default(),
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
    /// How long it took.
    pub elapsed: Duration,
}

/// Runs cells one after another, counting executions like a kernel.
pub struct Runner {
    engine: Box<dyn Engine>,
    collector: Arc<Collector>,
    limiter: Arc<OutputLimiter>,
    execution_count: u32,
}

impl Runner {
    /// A runner over `engine`, which publishes to `limiter`, in front of
    /// `collector`: what is collected is what a page would have received.
    pub fn new(
        engine: Box<dyn Engine>,
        collector: Arc<Collector>,
        limiter: Arc<OutputLimiter>,
    ) -> Runner {
        Runner {
            engine,
            collector,
            limiter,
            execution_count: 0,
        }
    }

    /// Starts afresh for the next notebook: no variables, counter at zero.
    pub fn reset(&mut self) -> Result<(), CellError> {
        self.execution_count = 0;
        let result = self.engine.reset();
        self.collector.take();
        result
    }

    /// Runs one cell; a cell running past `timeout` is interrupted.
    pub fn run_cell(&mut self, code: &str, timeout: Option<Duration>) -> CellRun {
        self.execution_count += 1;
        self.collector.take();
        let started = Instant::now();
        let finished = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Some(timeout) = timeout {
            let interrupter = self.engine.interrupter();
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
                    interrupter.interrupt();
                }
            });
        }
        let mut no_input = |_| None;
        let result = match take_cell_limit(code) {
            Err(error) => Err(CellError::Engine(error.to_string())),
            Ok((limit, code)) => {
                self.limiter.begin_cell(limit);
                let result = self.engine.execute(&code, &mut no_input);
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
                self.collector.push(Output::ExecuteResult {
                    data: data(bundle),
                    metadata: Map::new(),
                    execution_count: Some(self.execution_count),
                });
                None
            }
            Ok(None) => None,
            Err(error) => {
                self.collector.push(Output::Error {
                    ename: error.ename().to_owned(),
                    evalue: error.evalue(),
                    traceback: error.traceback(),
                });
                Some(error)
            }
        };
        CellRun {
            outputs: self.collector.take(),
            execution_count: self.execution_count,
            error,
            timed_out: timed_out.load(std::sync::atomic::Ordering::SeqCst),
            elapsed: started.elapsed(),
        }
    }

    /// Ends the engine's processes.
    pub fn shutdown(&mut self) {
        self.engine.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokernel_engine::fake::FakeEngine;

    fn runner() -> Runner {
        let collector = Collector::new(false);
        let limiter = OutputLimiter::new(collector.clone(), crate::output_limit::Limit::default());
        Runner::new(
            Box::new(FakeEngine::new(limiter.clone())),
            collector,
            limiter,
        )
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
        collector.publish(EngineOutput::Display {
            bundle: bar("0/2"),
            id: Some("bar".into()),
        });
        collector.publish(EngineOutput::Stream {
            stream: StreamKind::Stdout,
            text: "working\n".into(),
        });
        collector.publish(EngineOutput::UpdateDisplay {
            bundle: bar("2/2"),
            id: "bar".into(),
        });
        let outputs = collector.take();
        assert!(
            matches!(&outputs[0], Output::DisplayData { data, .. } if data["text/plain"] == "2/2")
        );
        assert!(matches!(&outputs[1], Output::Stream { .. }));
    }

    #[test]
    fn a_cell_past_its_timeout_is_interrupted() {
        let mut runner = runner();
        let run = runner.run_cell("spin", Some(Duration::from_millis(200)));
        assert!(run.timed_out);
        assert!(matches!(run.error, Some(CellError::Interrupted { .. })));
    }
}

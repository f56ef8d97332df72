//! The engine on a thread of its own, behind request and reply channels, so the
//! kernel's sockets (heartbeat, control, interrupts) never wait for a cell.

use crate::output_limit::{Limit, OutputLimiter, take_cell_limit};
use ferrokernel_engine::{
    CellError, Completions, Engine, InputPrompt, Interrupt, MimeBundle, Publisher,
};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// Builds the engine on its thread (evcxr's context must stay on the thread
/// that made it). The [`StartWatch`] says whether a cell already waits for it,
/// so that the factory can tell the cell how the start is going.
pub type EngineFactory =
    Box<dyn FnOnce(Arc<dyn Publisher>, StartWatch) -> Result<Box<dyn Engine>, String> + Send>;

/// Whether a cell of an interactive frontend waits for the engine to start.
///
/// Only frontends that allow input (JupyterLab, VS Code) are shown how the
/// start goes: headless runners (nbval, nbconvert, papermill) send
/// `allow_stdin: false` and compare or store outputs, so they get exactly the
/// cell's own.
#[derive(Debug, Clone, Default)]
pub struct StartWatch(Arc<AtomicBool>);

impl StartWatch {
    /// True once an interactive frontend's cell was sent to the engine.
    pub fn cell_waiting(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A cell asks for a line of input; answer on `answer` (`None`: no input available).
#[derive(Debug)]
pub struct InputNeeded {
    /// What the cell asked.
    pub prompt: InputPrompt,
    /// Where the answer goes.
    pub answer: std::sync::mpsc::Sender<Option<String>>,
}

/// The result of running a cell.
pub type CellResult = Result<Option<MimeBundle>, CellError>;

enum Request {
    Execute {
        code: String,
        inputs: Option<mpsc::UnboundedSender<InputNeeded>>,
        reply: oneshot::Sender<CellResult>,
    },
    Complete {
        code: String,
        cursor: usize,
        reply: oneshot::Sender<Completions>,
    },
    Inspect {
        code: String,
        cursor: usize,
        reply: oneshot::Sender<Option<MimeBundle>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// The kernel's side of the engine thread.
#[derive(Clone)]
pub struct EngineHandle {
    requests: std::sync::mpsc::Sender<Request>,
    interrupter: Arc<OnceLock<Arc<dyn Interrupt>>>,
    watch: StartWatch,
}

impl EngineHandle {
    /// Starts the engine thread; the engine is built there, in the background.
    /// Its text reaches `publisher` within each cell's output limit (the
    /// kernel's from `FERROKERNEL_OUTPUT_LIMIT`; see [`crate::output_limit`]).
    pub fn spawn(factory: EngineFactory, publisher: Arc<dyn Publisher>) -> EngineHandle {
        let publisher = OutputLimiter::new(publisher, Limit::from_env());
        let (requests, receiver) = std::sync::mpsc::channel();
        let interrupter: Arc<OnceLock<Arc<dyn Interrupt>>> = Arc::default();
        let slot = Arc::clone(&interrupter);
        let watch = StartWatch::default();
        let factory_watch = watch.clone();
        let spawned = std::thread::Builder::new()
            .name("engine".into())
            .spawn(move || serve(factory, factory_watch, publisher, &slot, receiver));
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the engine thread");
        }
        EngineHandle {
            requests,
            interrupter,
            watch,
        }
    }

    /// Runs a cell. `inputs` receives the cell's input requests; without it the
    /// cell reads empty lines.
    pub async fn execute(
        &self,
        code: &str,
        inputs: Option<mpsc::UnboundedSender<InputNeeded>>,
    ) -> CellResult {
        if inputs.is_some() {
            self.watch.0.store(true, Ordering::SeqCst);
        }
        let (reply, receive) = oneshot::channel();
        let request = Request::Execute {
            code: code.to_owned(),
            inputs,
            reply,
        };
        if self.requests.send(request).is_err() {
            return Err(gone());
        }
        receive.await.unwrap_or_else(|_| Err(gone()))
    }

    /// Completions at byte offset `cursor`.
    /// While the engine starts there are none: an answer now beats a late one,
    /// which frontends drop (JupyterLab after 1 s) while it holds up the shell.
    pub async fn complete(&self, code: &str, cursor: usize) -> Completions {
        if !self.is_ready() {
            return Completions {
                matches: Vec::new(),
                start: cursor,
                end: cursor,
            };
        }
        let (reply, receive) = oneshot::channel();
        let request = Request::Complete {
            code: code.to_owned(),
            cursor,
            reply,
        };
        if self.requests.send(request).is_err() {
            return Completions::default();
        }
        receive.await.unwrap_or_default()
    }

    /// Documentation at byte offset `cursor`.
    /// Nothing while the engine starts (see [`EngineHandle::complete`]).
    pub async fn inspect(&self, code: &str, cursor: usize) -> Option<MimeBundle> {
        if !self.is_ready() {
            return None;
        }
        let (reply, receive) = oneshot::channel();
        let request = Request::Inspect {
            code: code.to_owned(),
            cursor,
            reply,
        };
        self.requests.send(request).ok()?;
        receive.await.ok().flatten()
    }

    /// Whether the engine has started (its interrupter is known from then on).
    pub fn is_ready(&self) -> bool {
        self.interrupter.get().is_some()
    }

    /// Interrupts the running cell, if the engine has started.
    pub fn interrupt(&self) {
        if let Some(interrupter) = self.interrupter.get() {
            interrupter.interrupt();
        }
    }

    /// Asks the engine to end its processes, once it is free.
    pub async fn shutdown(&self) {
        let (reply, receive) = oneshot::channel();
        if self.requests.send(Request::Shutdown { reply }).is_ok() {
            let _ = receive.await;
        }
    }
}

fn gone() -> CellError {
    CellError::Unavailable("the engine thread has stopped".to_owned())
}

fn serve(
    factory: EngineFactory,
    watch: StartWatch,
    publisher: Arc<OutputLimiter>,
    interrupter: &OnceLock<Arc<dyn Interrupt>>,
    requests: std::sync::mpsc::Receiver<Request>,
) {
    let started = std::time::Instant::now();
    let mut engine = match factory(publisher.clone(), watch) {
        Ok(engine) => engine,
        Err(reason) => {
            tracing::error!(%reason, "the engine failed to start");
            return serve_unavailable(&reason, requests);
        }
    };
    tracing::info!(elapsed = ?started.elapsed(), "engine ready");
    let _ = interrupter.set(engine.interrupter());
    for request in requests {
        match request {
            Request::Execute {
                code,
                inputs,
                reply,
            } => {
                let mut read_line = |prompt: InputPrompt| ask(&inputs, prompt);
                let result = match take_cell_limit(&code) {
                    Err(error) => Err(CellError::Engine(error.to_string())),
                    Ok((limit, code)) => {
                        publisher.begin_cell(limit);
                        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                            engine.execute(&code, &mut read_line)
                        }))
                        .unwrap_or_else(|panic| Err(internal_error(panic)));
                        publisher.end_cell();
                        result
                    }
                };
                let _ = reply.send(result);
            }
            Request::Complete {
                code,
                cursor,
                reply,
            } => {
                let found =
                    std::panic::catch_unwind(AssertUnwindSafe(|| engine.complete(&code, cursor)))
                        .unwrap_or_default();
                let _ = reply.send(found);
            }
            Request::Inspect {
                code,
                cursor,
                reply,
            } => {
                let found =
                    std::panic::catch_unwind(AssertUnwindSafe(|| engine.inspect(&code, cursor)))
                        .unwrap_or_default();
                let _ = reply.send(found);
            }
            Request::Shutdown { reply } => {
                engine.shutdown();
                let _ = reply.send(());
            }
        }
    }
    engine.shutdown();
}

fn ask(inputs: &Option<mpsc::UnboundedSender<InputNeeded>>, prompt: InputPrompt) -> Option<String> {
    let inputs = inputs.as_ref()?;
    let (answer, receive) = std::sync::mpsc::channel();
    inputs.send(InputNeeded { prompt, answer }).ok()?;
    receive.recv().ok().flatten()
}

fn internal_error(panic: Box<dyn std::any::Any + Send>) -> CellError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    tracing::error!(%message, "the engine panicked");
    CellError::Engine(format!("internal engine error: {message}"))
}

fn serve_unavailable(reason: &str, requests: std::sync::mpsc::Receiver<Request>) {
    for request in requests {
        match request {
            Request::Execute { reply, .. } => {
                let _ = reply.send(Err(CellError::Unavailable(reason.to_owned())));
            }
            Request::Complete { reply, .. } => {
                let _ = reply.send(Completions::default());
            }
            Request::Inspect { reply, .. } => {
                let _ = reply.send(None);
            }
            Request::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }
}

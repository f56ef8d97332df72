//! The one serve loop: an engine answering its kernel over a socket.
//!
//! The engine lives on the thread that calls [`serve`] (evcxr's context must
//! stay on the thread that made it). A reader thread takes the kernel's
//! messages as they come: interrupts and input answers act at once, even while
//! a cell runs; everything else is queued for the engine, in order. Every call
//! into the engine is guarded by `catch_unwind`, so a panic in the engine
//! answers the request with an error and the conversation goes on.

use super::comm_relay::CommRelay;
use super::wire::{self, WireError};
use super::{EngineEnv, EngineEvent, EngineRequest, PROTOCOL_VERSION};
use crate::{
    CellError, DebugSwitch, Engine, InputPrompt, Interrupt, Output, Publisher, RecycleRefused,
};
use std::os::unix::net::UnixStream;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// Makes the engine, on the serving thread, reporting its phases to the
/// callback; says why when it cannot.
pub type StartEngine = Box<
    dyn FnOnce(
            Arc<dyn Publisher>,
            &dyn Fn(&str),
        ) -> Result<Box<dyn Engine>, Box<dyn std::error::Error + Send + Sync>>
        + Send,
>;

/// A kernel that could not wait for the warm-up gets it once it has been
/// idle this long (while its user reads the first result).
const IDLE_BEFORE_WARM_UP: Duration = Duration::from_millis(500);

/// How a serving side differs: an engine host made in advance, one made for a
/// kernel, or a thread of `ferrokernel run`.
#[derive(Default)]
pub struct ServeOptions {
    /// Warm up before saying `Ready` when no kernel waits yet (a pool's spare).
    pub warm_up_first: bool,
    /// Called once the engine is ready.
    pub on_ready: Option<Box<dyn FnOnce() + Send>>,
    /// Called when a kernel claims the engine, on the serving thread, in turn.
    pub on_claim: Option<Box<dyn FnMut() + Send>>,
    /// Called the moment a kernel's claim arrives, on the reader thread, even
    /// while the engine still starts (a spare gets its priority back).
    pub on_claim_received: Option<Box<dyn FnMut() + Send>>,
    /// Called on the serving thread each time a kernel gave the engine back
    /// and it made itself fresh, before it says `Ready` again (a pool's
    /// engine becomes a spare again).
    pub on_recycled: Option<Box<dyn FnMut() + Send>>,
    /// Called on the reader thread when the kernel's end of the socket
    /// closes, even while a cell runs (an engine host ends itself and its
    /// processes there). Without it, the engine is interrupted and shut down.
    pub on_disconnect: Option<Box<dyn FnOnce() + Send>>,
}

/// Sends events to the kernel; output only once it claimed the engine (what
/// a warm-up prints is nobody's).
struct Outlet {
    socket: Mutex<UnixStream>,
    claimed: AtomicBool,
    /// From a kernel's `Recycle` until the next kernel's claim is handled.
    between_kernels: AtomicBool,
}

impl Outlet {
    fn send(&self, event: &EngineEvent) {
        // Between a kernel's `Recycle` and the next kernel's claim, what a
        // request of the last kernel answers late is nobody's.
        if for_the_claimer(event) && self.between_kernels.load(Ordering::SeqCst) {
            return;
        }
        let socket = self.socket.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(error) = wire::send(&socket, event) {
            tracing::debug!(%error, "could not send to the kernel");
        }
    }
}

impl Publisher for Outlet {
    fn publish(&self, cell: Option<crate::CellId>, output: Output) {
        if self.claimed.load(Ordering::SeqCst) {
            self.send(&EngineEvent::Output { cell, output });
        }
    }
}

/// Whether an event is for the kernel that claimed the engine only (output,
/// answers), rather than about the engine (its start, `Ready`, the handshake).
fn for_the_claimer(event: &EngineEvent) -> bool {
    match event {
        EngineEvent::Output { .. }
        | EngineEvent::InputRequest { .. }
        | EngineEvent::Executed { .. }
        | EngineEvent::Completed { .. }
        | EngineEvent::Inspected { .. }
        | EngineEvent::ResetDone { .. }
        | EngineEvent::Unknown => true,
        EngineEvent::Welcome { .. }
        | EngineEvent::Refused { .. }
        | EngineEvent::Progress { .. }
        | EngineEvent::Ready
        | EngineEvent::StartFailed { .. }
        // Asked by whoever is connected; answered even before a claim.
        | EngineEvent::Debugging { .. }
        | EngineEvent::Recycling => false,
    }
}

/// Serves the kernel at the other end of `socket` with the engine `start`
/// makes, until the kernel asks for a shutdown or goes away.
pub fn serve(socket: UnixStream, start: StartEngine, mut options: ServeOptions) {
    let outlet = match socket.try_clone() {
        Ok(clone) => Arc::new(Outlet {
            socket: Mutex::new(clone),
            claimed: AtomicBool::new(false),
            between_kernels: AtomicBool::new(false),
        }),
        Err(error) => {
            tracing::error!(%error, "cannot use the kernel's socket");
            return;
        }
    };
    let handles: Arc<OnceLock<Handles>> = Arc::default();
    let comms: Arc<CommRelay> = Arc::default();
    let (requests_tx, requests) = std::sync::mpsc::channel();
    let (inputs_tx, inputs) = std::sync::mpsc::channel();
    let reader = Reader {
        socket,
        outlet: Arc::clone(&outlet),
        handles: Arc::clone(&handles),
        comms: Arc::clone(&comms),
        requests: requests_tx,
        inputs: inputs_tx,
        on_disconnect: options.on_disconnect.take(),
        on_claim_received: options.on_claim_received.take(),
    };
    if let Err(error) = std::thread::Builder::new()
        .name("engine-requests".into())
        .spawn(move || reader.run())
    {
        tracing::error!(%error, "cannot start the request reader");
        return;
    }

    let progress = |phase: &str| {
        outlet.send(&EngineEvent::Progress {
            phase: phase.to_owned(),
        })
    };
    let started = std::time::Instant::now();
    let engine = std::panic::catch_unwind(AssertUnwindSafe(|| {
        start(outlet.clone() as Arc<dyn Publisher>, &progress)
    }));
    let mut engine = match engine {
        Ok(Ok(engine)) => engine,
        Ok(Err(error)) => return start_failed(&outlet, error.to_string(), requests),
        Err(panic) => return start_failed(&outlet, panic_message(&panic), requests),
    };
    tracing::info!(elapsed = ?started.elapsed(), "engine ready");
    let _ = handles.set(Handles {
        interrupter: engine.interrupter(),
        debug_switch: engine.debug_switch(),
    });
    comms.ready(engine.comm_inbox());

    // A kernel already waiting gets the engine now; the warm-up is for the next one.
    let mut pending = match requests.try_recv() {
        Ok(request) => Some(request),
        Err(TryRecvError::Empty) => None,
        Err(TryRecvError::Disconnected) => return engine.shutdown(),
    };
    let mut warmed = false;
    if pending.is_none() && options.warm_up_first {
        progress("warming up");
        guarded(|| engine.warm_up(), ());
        warmed = true;
    }
    let mut session = Session {
        engine: engine.as_mut(),
        outlet: &outlet,
        inputs,
        on_claim: options.on_claim.take(),
        on_ready: options.on_ready.take(),
        on_recycled: options.on_recycled.take(),
    };
    session.ready();
    loop {
        let request = match pending.take() {
            Some(request) => request,
            None if !warmed => match requests.recv_timeout(IDLE_BEFORE_WARM_UP) {
                Ok(request) => request,
                Err(RecvTimeoutError::Timeout) => {
                    guarded(|| session.engine.warm_up(), ());
                    warmed = true;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            },
            None => match requests.recv() {
                Ok(request) => request,
                Err(_) => break,
            },
        };
        if !session.handle(request) {
            break;
        }
    }
    guarded(|| session.engine.shutdown(), ());
}

/// The engine and what it answers through, while it serves.
struct Session<'a> {
    engine: &'a mut dyn Engine,
    outlet: &'a Outlet,
    inputs: Receiver<Option<String>>,
    on_claim: Option<Box<dyn FnMut() + Send>>,
    on_ready: Option<Box<dyn FnOnce() + Send>>,
    on_recycled: Option<Box<dyn FnMut() + Send>>,
}

impl Session<'_> {
    /// Says the engine is ready for cells.
    fn ready(&mut self) {
        self.outlet.send(&EngineEvent::Ready);
        if let Some(on_ready) = self.on_ready.take() {
            on_ready();
        }
    }

    /// Makes the engine fresh for the next kernel; false when it cannot be
    /// (the serving side then ends).
    fn recycle(&mut self) -> bool {
        let engine = &mut *self.engine;
        let started = std::time::Instant::now();
        let recycled = std::panic::catch_unwind(AssertUnwindSafe(|| engine.recycle()))
            .unwrap_or_else(|panic| Err(RecycleRefused::Failed(panic_message(&panic))));
        match recycled {
            Ok(()) => {
                tracing::info!(elapsed = ?started.elapsed(), "made fresh for the next kernel");
                if let Some(on_recycled) = self.on_recycled.as_mut() {
                    on_recycled();
                }
                self.ready();
                true
            }
            Err(refused) => {
                tracing::info!(%refused, "not kept for another kernel");
                false
            }
        }
    }

    /// Handles one queued request; false when the kernel asked to shut down.
    fn handle(&mut self, request: EngineRequest) -> bool {
        match request {
            EngineRequest::Claim { env } => {
                if let Some(on_claim) = self.on_claim.as_mut() {
                    on_claim();
                }
                self.outlet.claimed.store(true, Ordering::SeqCst);
                self.outlet.between_kernels.store(false, Ordering::SeqCst);
                take_on(self.engine, &env);
            }
            EngineRequest::Execute {
                id,
                cell,
                code,
                allow_input,
            } => {
                // An answer left over from an earlier, interrupted cell is stale.
                while self.inputs.try_recv().is_ok() {}
                let (outlet, inputs) = (self.outlet, &self.inputs);
                let mut read_line = |prompt: InputPrompt| {
                    if !allow_input {
                        return None;
                    }
                    outlet.send(&EngineEvent::InputRequest { prompt });
                    inputs.recv().ok().flatten()
                };
                let engine = &mut *self.engine;
                let result = guarded_result(|| engine.execute(cell, &code, &mut read_line));
                self.outlet.send(&EngineEvent::Executed { id, result });
            }
            EngineRequest::Complete { id, code, cursor } => {
                let engine = &mut *self.engine;
                let found = guarded(
                    || engine.complete(&code, cursor),
                    crate::Completions::none_at(cursor),
                );
                self.outlet.send(&EngineEvent::Completed { id, found });
            }
            EngineRequest::Inspect { id, code, cursor } => {
                let engine = &mut *self.engine;
                let found = guarded(|| engine.inspect(&code, cursor), None);
                self.outlet.send(&EngineEvent::Inspected { id, found });
            }
            EngineRequest::Reset { id } => {
                let engine = &mut *self.engine;
                let result = guarded_result(|| engine.reset());
                self.outlet.send(&EngineEvent::ResetDone { id, result });
            }
            EngineRequest::Shutdown => return false,
            EngineRequest::Recycle => return self.recycle(),
            // Answered by the reader.
            EngineRequest::Hello { .. }
            | EngineRequest::Interrupt
            | EngineRequest::Comm { .. }
            | EngineRequest::Debug { .. }
            | EngineRequest::InputReply { .. }
            | EngineRequest::Unknown => {}
        }
        true
    }
}

/// What the reader uses while the engine is busy: set once the engine started.
struct Handles {
    interrupter: Arc<dyn Interrupt>,
    debug_switch: Option<Arc<dyn DebugSwitch>>,
}

/// Reads the kernel's messages as they come.
struct Reader {
    socket: UnixStream,
    outlet: Arc<Outlet>,
    handles: Arc<OnceLock<Handles>>,
    comms: Arc<CommRelay>,
    requests: Sender<EngineRequest>,
    inputs: Sender<Option<String>>,
    on_disconnect: Option<Box<dyn FnOnce() + Send>>,
    on_claim_received: Option<Box<dyn FnMut() + Send>>,
}

/// Why the reader stopped reading a kernel's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The socket closed or failed, or the engine went.
    Gone,
    /// The kernel gave the engine back: the next kernel says `Hello`.
    Recycled,
}

impl Reader {
    fn run(mut self) {
        while self.handshake() && self.serve_requests() == Ended::Recycled {}
        match self.on_disconnect.take() {
            Some(on_disconnect) => on_disconnect(),
            None => {
                // A cell may be running for nobody: stop it, then let the
                // engine shut down (the closed queue ends the serve loop).
                if let Some(handles) = self.handles.get() {
                    handles.interrupter.interrupt();
                }
                let _ = self.inputs.send(None);
            }
        }
    }

    /// The first message must be a `Hello` of our version.
    fn handshake(&self) -> bool {
        let refusal = match wire::recv::<EngineRequest>(&self.socket) {
            Ok(Some(EngineRequest::Hello { protocol })) if protocol == PROTOCOL_VERSION => {
                self.outlet.send(&EngineEvent::Welcome {
                    pid: std::process::id() as i32,
                });
                return true;
            }
            Ok(Some(EngineRequest::Hello { protocol })) => format!(
                "the engine speaks protocol {PROTOCOL_VERSION}, the kernel {protocol}: \
                 restart the kernel so both are the same version"
            ),
            Ok(Some(other)) => format!("expected Hello first, got {other:?}"),
            Ok(None) => return false,
            Err(error) => format!("a bad first message: {error}"),
        };
        tracing::warn!(%refusal, "refused a kernel");
        self.outlet.send(&EngineEvent::Refused { reason: refusal });
        false
    }

    fn serve_requests(&mut self) -> Ended {
        loop {
            match wire::recv::<EngineRequest>(&self.socket) {
                Ok(Some(claim @ EngineRequest::Claim { .. })) => {
                    if let Some(received) = self.on_claim_received.as_mut() {
                        received();
                    }
                    if self.requests.send(claim).is_err() {
                        return Ended::Gone;
                    }
                }
                Ok(Some(EngineRequest::Recycle)) => {
                    // From here on nothing is this kernel's; it stops reading
                    // at `Recycling`, so what follows is the next kernel's.
                    self.outlet.claimed.store(false, Ordering::SeqCst);
                    self.outlet.between_kernels.store(true, Ordering::SeqCst);
                    self.outlet.send(&EngineEvent::Recycling);
                    if self.requests.send(EngineRequest::Recycle).is_err() {
                        return Ended::Gone;
                    }
                    return Ended::Recycled;
                }
                Ok(Some(EngineRequest::Interrupt)) => {
                    if let Some(handles) = self.handles.get() {
                        handles.interrupter.interrupt();
                    }
                }
                Ok(Some(EngineRequest::Comm { message })) => self.comms.deliver(message),
                Ok(Some(EngineRequest::Debug { id, on })) => {
                    let debuggee = self
                        .handles
                        .get()
                        .and_then(|handles| handles.debug_switch.as_ref())
                        .and_then(|switch| switch.set(on));
                    self.outlet.send(&EngineEvent::Debugging { id, debuggee });
                }
                Ok(Some(EngineRequest::InputReply { answer })) => {
                    let _ = self.inputs.send(answer);
                }
                Ok(Some(EngineRequest::Unknown)) => {
                    tracing::warn!("ignored a request of an unknown type");
                }
                Ok(Some(EngineRequest::Hello { .. })) => {
                    tracing::warn!("ignored a second Hello");
                }
                Ok(Some(request)) => {
                    if self.requests.send(request).is_err() {
                        return Ended::Gone;
                    }
                }
                // A frame that is whole but not a request: the stream is
                // still in step, so say so and go on.
                Err(WireError::Decode(error)) => {
                    tracing::warn!(%error, "ignored a malformed request");
                }
                Ok(None) => return Ended::Gone,
                Err(error) => {
                    tracing::warn!(%error, "the kernel's socket failed");
                    return Ended::Gone;
                }
            }
        }
    }
}

/// After a failed start: says why to the kernel, and answers what it sends
/// until it goes away, so it never waits for an engine that will not come.
fn start_failed(outlet: &Outlet, reason: String, requests: Receiver<EngineRequest>) {
    tracing::error!(%reason, "the engine failed to start");
    outlet.send(&EngineEvent::StartFailed {
        reason: reason.clone(),
    });
    let unavailable = || CellError::Unavailable(reason.clone());
    for request in requests {
        let event = match request {
            EngineRequest::Execute { id, .. } => EngineEvent::Executed {
                id,
                result: Err(unavailable()),
            },
            EngineRequest::Complete { id, cursor, .. } => EngineEvent::Completed {
                id,
                found: crate::Completions::none_at(cursor),
            },
            EngineRequest::Inspect { id, .. } => EngineEvent::Inspected { id, found: None },
            EngineRequest::Reset { id } => EngineEvent::ResetDone {
                id,
                result: Err(unavailable()),
            },
            EngineRequest::Shutdown => return,
            _ => continue,
        };
        outlet.send(&event);
    }
}

/// Takes on the claiming kernel's working directory and environment.
fn take_on(engine: &mut dyn Engine, wanted: &EngineEnv) {
    let changes = EngineEnv::current().changes_to(wanted);
    if let Err(error) = std::env::set_current_dir(&wanted.cwd) {
        tracing::warn!(cwd = %wanted.cwd.display(), %error, "cannot enter the kernel's directory");
    }
    let applied = guarded_result(|| engine.set_environment(&wanted.cwd, &changes));
    if let Err(error) = applied {
        tracing::warn!(%error, "cannot give the runtime the kernel's environment");
    }
}

/// Runs `call`; a panic gives `fallback`.
fn guarded<T>(call: impl FnOnce() -> T, fallback: T) -> T {
    std::panic::catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|panic| {
        tracing::error!(message = %panic_message(&panic), "the engine panicked");
        fallback
    })
}

/// Runs `call`; a panic becomes the request's error.
fn guarded_result<T>(call: impl FnOnce() -> Result<T, CellError>) -> Result<T, CellError> {
    std::panic::catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|panic| {
        let message = panic_message(&panic);
        tracing::error!(%message, "the engine panicked");
        Err(CellError::Engine(format!(
            "internal engine error: {message}"
        )))
    })
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Serves an engine on a thread of this process; returns the kernel's end of
/// the socket. For `ferrokernel run`/`test`, install's warm-up and tests: the
/// same conversation as with an engine host, in memory.
pub fn spawn_in_process(start: StartEngine) -> std::io::Result<UnixStream> {
    let (kernel_end, engine_end) = UnixStream::pair()?;
    std::thread::Builder::new()
        .name("engine".into())
        .spawn(move || serve(engine_end, start, ServeOptions::default()))?;
    Ok(kernel_end)
}

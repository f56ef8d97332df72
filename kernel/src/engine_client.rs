//! The kernel's side of the engine conversation
//! ([`ferrokernel_engine::conversation`]).
//!
//! One reader thread per connection takes the engine's events at all times:
//! output is published the moment it arrives (also between requests, from the
//! threads and processes earlier cells started), answers are paired with
//! their requests by id, and the engine's start is followed in
//! [`EngineState`], which the kernel shows as its status. If the engine dies,
//! what waited gets an error that says so, and the next request asks the
//! source for a new engine.

use ferrokernel_engine::conversation::{
    Connection, EngineEnv, EngineEvent, EngineRequest, EngineSource, PROTOCOL_VERSION, RequestId,
    wire,
};
use ferrokernel_engine::{
    CellError, CellId, CommMessage, Completions, Debuggee, InputPrompt, MimeBundle, Publisher,
};
use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};

/// The result of running a cell.
pub type CellResult = Result<Option<MimeBundle>, CellError>;

/// How the engine is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineState {
    /// Starting (no engine was ready), in this phase, since then.
    Starting {
        /// What it is doing, once it said.
        phase: Option<String>,
        /// When the kernel asked for it.
        since: Instant,
    },
    /// Ready for cells.
    Ready,
    /// It could not start, and why; the next request tries again.
    Failed(String),
    /// Shut down, or died; the next request starts a new one.
    Stopped,
}

/// Called with each new [`EngineState`].
pub type StateObserver = Arc<dyn Fn(&EngineState) + Send + Sync>;

/// A running cell asks for a line of input; answer with [`EngineClient::answer_input`].
#[derive(Debug)]
pub struct InputNeeded {
    /// What it asks.
    pub prompt: InputPrompt,
}

/// Talks to one engine at a time, from any thread (cheap to clone).
#[derive(Clone)]
pub struct EngineClient {
    shared: Arc<Shared>,
}

struct Shared {
    publisher: Arc<dyn Publisher>,
    env: EngineEnv,
    source: Mutex<Box<dyn EngineSource>>,
    link: Mutex<Link>,
    waiting: Mutex<HashMap<RequestId, Waiter>>,
    /// Where the running cell's input requests go.
    inputs: Mutex<Option<mpsc::UnboundedSender<InputNeeded>>>,
    state: watch::Sender<EngineState>,
    /// Told of each change of state on the thread that saw it, before the
    /// engine's later events are handled (so a status precedes the output).
    observer: Mutex<Option<StateObserver>>,
    next_id: AtomicU64,
    /// Cells sent and not answered yet.
    cells_in_flight: AtomicUsize,
    shutting_down: AtomicBool,
    /// Where the reader hands the socket once the engine answered `Recycle`.
    recycled: Mutex<Option<std::sync::mpsc::Sender<UnixStream>>>,
    /// The frontend said it has the widget manager: every engine connected
    /// later is told too (the frontend says it once, maybe before any engine).
    widget_manager: AtomicBool,
}

/// The current connection.
#[derive(Default)]
struct Link {
    /// Where requests go, once the handshake is done.
    writer: Option<UnixStream>,
    /// Requests made while no engine was connected, sent after the handshake.
    backlog: Vec<EngineRequest>,
    connecting: bool,
    attempts: u32,
    /// The engine process, if it is our child.
    child: Option<std::process::Child>,
    pid: Option<i32>,
}

enum Waiter {
    Execute(oneshot::Sender<CellResult>),
    Complete(oneshot::Sender<Completions>),
    Inspect(oneshot::Sender<Option<MimeBundle>>),
    Reset(oneshot::Sender<Result<(), CellError>>),
    Debug(oneshot::Sender<Option<Debuggee>>),
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl EngineClient {
    /// A client for engines from `source`, which take on `env` when claimed,
    /// publishing their output to `publisher`. It asks for the first engine
    /// at once, in the background.
    pub fn start(
        source: Box<dyn EngineSource>,
        env: EngineEnv,
        publisher: Arc<dyn Publisher>,
    ) -> EngineClient {
        let client = EngineClient {
            shared: Arc::new(Shared {
                publisher,
                env,
                source: Mutex::new(source),
                link: Mutex::default(),
                waiting: Mutex::default(),
                inputs: Mutex::default(),
                state: watch::channel(EngineState::Stopped).0,
                observer: Mutex::default(),
                next_id: AtomicU64::new(1),
                cells_in_flight: AtomicUsize::new(0),
                shutting_down: AtomicBool::new(false),
                recycled: Mutex::default(),
                widget_manager: AtomicBool::new(false),
            }),
        };
        client.connect_if_needed(&mut lock(&client.shared.link));
        client
    }

    /// Calls `observer` with every later change of state, on the thread that
    /// saw it, before the engine's next events are handled.
    pub fn observe(&self, observer: StateObserver) {
        *lock(&self.shared.observer) = Some(observer);
    }

    fn set_state(&self, state: EngineState) {
        self.shared.state.send_replace(state.clone());
        let observer = lock(&self.shared.observer).clone();
        if let Some(observer) = observer {
            observer(&state);
        }
    }

    /// How the engine is doing, and a way to wait for changes.
    pub fn state(&self) -> watch::Receiver<EngineState> {
        self.shared.state.subscribe()
    }

    /// Whether the engine is ready and no cell runs: it can answer at once.
    pub fn is_free(&self) -> bool {
        *self.shared.state.borrow() == EngineState::Ready
            && self.shared.cells_in_flight.load(Ordering::SeqCst) == 0
    }

    /// Runs `cell`. Its input requests go to `inputs`; without it the cell
    /// reads empty lines. Resolves when the cell ended (or the engine died).
    pub fn execute(
        &self,
        cell: CellId,
        code: &str,
        inputs: Option<mpsc::UnboundedSender<InputNeeded>>,
    ) -> oneshot::Receiver<CellResult> {
        let (reply, answer) = oneshot::channel();
        let allow_input = inputs.is_some();
        *lock(&self.shared.inputs) = inputs;
        let id = self.request_id();
        self.shared.cells_in_flight.fetch_add(1, Ordering::SeqCst);
        lock(&self.shared.waiting).insert(id, Waiter::Execute(reply));
        self.send(EngineRequest::Execute {
            id,
            cell,
            code: code.to_owned(),
            allow_input,
        });
        answer
    }

    /// Completions from the engine, or `None` at once when it is busy or not
    /// ready (the caller has another source; a late answer is worth nothing).
    pub fn complete(&self, code: &str, cursor: usize) -> Option<oneshot::Receiver<Completions>> {
        if !self.is_free() {
            return None;
        }
        let (reply, answer) = oneshot::channel();
        let id = self.request_id();
        lock(&self.shared.waiting).insert(id, Waiter::Complete(reply));
        let code = code.to_owned();
        self.send(EngineRequest::Complete { id, code, cursor });
        Some(answer)
    }

    /// Documentation from the engine, or `None` at once when it is busy (see
    /// [`EngineClient::complete`]).
    pub fn inspect(
        &self,
        code: &str,
        cursor: usize,
    ) -> Option<oneshot::Receiver<Option<MimeBundle>>> {
        if !self.is_free() {
            return None;
        }
        let (reply, answer) = oneshot::channel();
        let id = self.request_id();
        lock(&self.shared.waiting).insert(id, Waiter::Inspect(reply));
        let code = code.to_owned();
        self.send(EngineRequest::Inspect { id, code, cursor });
        Some(answer)
    }

    /// Forgets every variable and definition (between notebooks).
    pub fn reset(&self) -> oneshot::Receiver<Result<(), CellError>> {
        let (reply, answer) = oneshot::channel();
        let id = self.request_id();
        lock(&self.shared.waiting).insert(id, Waiter::Reset(reply));
        self.send(EngineRequest::Reset { id });
        answer
    }

    /// Cells compiled from now on carry debug info (`on`) or not; resolves to
    /// the process a debugger attaches to. Answered at once, also while a
    /// cell runs; an engine that is not connected yet is asked once it is.
    pub fn debug(&self, on: bool) -> oneshot::Receiver<Option<Debuggee>> {
        let (reply, answer) = oneshot::channel();
        let id = self.request_id();
        lock(&self.shared.waiting).insert(id, Waiter::Debug(reply));
        self.send(EngineRequest::Debug { id, on });
        answer
    }

    /// Interrupts the running cell.
    pub fn interrupt(&self) {
        self.send_if_connected(EngineRequest::Interrupt);
    }

    /// Passes a comm message from the frontend to the runtime at once, also
    /// while a cell runs. Without a connected engine it is dropped: the
    /// widgets it is for are gone with their runtime.
    pub fn send_comm(&self, message: CommMessage) {
        self.send_if_connected(EngineRequest::Comm { message });
    }

    /// The frontend has the widget manager: the runtime of now is told, and
    /// every engine connected later, so that what a cell shows (a progress
    /// bar as a widget or as HTML) does not depend on whether an engine was
    /// ready when the frontend said so.
    pub fn widget_manager_connected(&self) {
        self.shared.widget_manager.store(true, Ordering::SeqCst);
        self.send_comm(CommMessage::WidgetManager);
    }

    /// Sends to a connected engine only (what is about the engine of now).
    fn send_if_connected(&self, request: EngineRequest) {
        let link = lock(&self.shared.link);
        if let Some(writer) = &link.writer
            && let Err(error) = wire::send(writer, &request)
        {
            tracing::warn!(%error, ?request, "could not send to the engine");
        }
    }

    /// Answers the running cell's input request (`None`: no input).
    pub fn answer_input(&self, answer: Option<String>) {
        self.send(EngineRequest::InputReply { answer });
    }

    /// Gives an idle engine back to where it came from (the pool), which
    /// makes it fresh for another kernel; else asks the engine to end its
    /// processes and itself, waits up to `limit`, then kills an engine
    /// process of ours that is still there.
    pub fn shutdown(&self, limit: Duration) {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        if self.give_back() {
            return;
        }
        let child = {
            let mut link = lock(&self.shared.link);
            if let Some(writer) = &link.writer {
                let _ = wire::send(writer, &EngineRequest::Shutdown);
            }
            link.backlog.clear();
            link.child.take()
        };
        let deadline = Instant::now() + limit;
        let mut state = self.state();
        while Instant::now() < deadline && *state.borrow_and_update() != EngineState::Stopped {
            std::thread::sleep(SHUTDOWN_POLL);
        }
        if let Some(mut child) = child {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(SHUTDOWN_POLL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Asks an idle engine to `Recycle` and gives its socket back to the
    /// source; false when the engine is not taken back (busy, starting, or
    /// not the pool's), so the caller shuts it down.
    fn give_back(&self) -> bool {
        if *self.shared.state.borrow() != EngineState::Ready
            || self.shared.cells_in_flight.load(Ordering::SeqCst) > 0
        {
            return false;
        }
        let (answered_tx, answered) = std::sync::mpsc::channel();
        let pid = {
            let link = lock(&self.shared.link);
            let (Some(writer), Some(pid)) = (&link.writer, link.pid) else {
                return false;
            };
            if !lock(&self.shared.source).takes_back(pid) {
                return false;
            }
            *lock(&self.shared.recycled) = Some(answered_tx);
            if wire::send(writer, &EngineRequest::Recycle).is_err() {
                return false;
            }
            pid
        };
        let Ok(socket) = answered.recv_timeout(RECYCLE_ANSWER_LIMIT) else {
            tracing::warn!(pid, "the engine did not answer Recycle; shutting it down");
            return false;
        };
        // Given back or not, this kernel is done with it: an engine nobody
        // took ends when the socket closes.
        if let Err(error) = lock(&self.shared.source).give_back(socket, pid) {
            tracing::warn!(pid, %error, "could not give the engine back");
        }
        true
    }

    /// The engine answered `Recycle`: what follows on the socket is the next
    /// kernel's, so stop reading and hand the socket to [`Self::give_back`].
    fn recycling(&self) {
        let socket = {
            let mut link = lock(&self.shared.link);
            link.pid = None;
            link.writer.take()
        };
        self.set_state(EngineState::Stopped);
        let answer = lock(&self.shared.recycled).take();
        if let (Some(socket), Some(answer)) = (socket, answer) {
            let _ = answer.send(socket);
        }
    }

    fn request_id(&self) -> RequestId {
        RequestId(self.shared.next_id.fetch_add(1, Ordering::SeqCst))
    }

    /// Sends now, or after the handshake of a connection on its way.
    fn send(&self, request: EngineRequest) {
        let mut link = lock(&self.shared.link);
        match &link.writer {
            // A failed send means the engine is going; its reader answers
            // what waits.
            Some(writer) => {
                if let Err(error) = wire::send(writer, &request) {
                    tracing::debug!(%error, "could not send to the engine");
                }
            }
            None => {
                link.backlog.push(request);
                self.connect_if_needed(&mut link);
            }
        }
    }

    fn connect_if_needed(&self, link: &mut Link) {
        if link.connecting
            || link.writer.is_some()
            || self.shared.shutting_down.load(Ordering::SeqCst)
        {
            return;
        }
        link.connecting = true;
        let attempt = link.attempts;
        link.attempts += 1;
        self.set_state(EngineState::Starting {
            phase: None,
            since: Instant::now(),
        });
        let client = self.clone();
        let spawned = std::thread::Builder::new()
            .name("engine-events".into())
            .spawn(move || client.converse(attempt));
        if let Err(error) = spawned {
            link.connecting = false;
            self.set_state(EngineState::Failed(error.to_string()));
        }
    }

    /// Connects, then reads the engine's events until the connection ends.
    fn converse(self, attempt: u32) {
        let connection = lock(&self.shared.source).connect(attempt);
        let reader = match connection
            .map_err(ConnectError::Source)
            .and_then(|c| self.handshake(c))
        {
            Ok(reader) => reader,
            Err(error) => {
                let reason = error.to_string();
                tracing::error!(%reason, "no engine");
                return self.connection_ended(&EngineState::Failed(reason.clone()), &reason);
            }
        };
        let ended = loop {
            match wire::recv::<EngineEvent>(&reader) {
                Ok(Some(EngineEvent::Recycling)) => return self.recycling(),
                Ok(Some(event)) => self.handle(event),
                Ok(None) => break None,
                Err(wire::WireError::Decode(error)) => {
                    tracing::warn!(%error, "ignored a malformed event from the engine");
                }
                Err(error) => break Some(error.to_string()),
            }
        };
        let detail = self.exit_description(ended);
        let state = match &*self.shared.state.borrow() {
            EngineState::Failed(reason) => EngineState::Failed(reason.clone()),
            _ => EngineState::Stopped,
        };
        self.connection_ended(&state, &detail);
    }

    /// `Hello` and `Claim`; then the backlog goes out. Returns the reading end.
    fn handshake(&self, connection: Connection) -> Result<UnixStream, ConnectError> {
        let Connection { socket, child, .. } = connection;
        let failed = ConnectError::NoAnswer;
        wire::send(
            &socket,
            &EngineRequest::Hello {
                protocol: PROTOCOL_VERSION,
            },
        )
        .map_err(failed)?;
        // An engine made in advance said how its start went before anyone
        // listened: those events come first, and count after the handshake.
        let mut earlier = Vec::new();
        let pid = loop {
            match wire::recv::<EngineEvent>(&socket).map_err(failed)? {
                Some(EngineEvent::Welcome { pid }) => break pid,
                Some(EngineEvent::Refused { reason }) => return Err(ConnectError::Refused(reason)),
                Some(event) => earlier.push(event),
                None => return Err(ConnectError::ClosedAtOnce),
            }
        };
        let env = self.shared.env.clone();
        wire::send(&socket, &EngineRequest::Claim { env }).map_err(failed)?;
        let reader = socket.try_clone().map_err(ConnectError::Socket)?;
        let mut link = lock(&self.shared.link);
        for request in std::mem::take(&mut link.backlog) {
            wire::send(&socket, &request).map_err(failed)?;
        }
        if self.shared.widget_manager.load(Ordering::SeqCst) {
            let told = EngineRequest::Comm {
                message: CommMessage::WidgetManager,
            };
            wire::send(&socket, &told).map_err(failed)?;
        }
        link.writer = Some(socket);
        link.child = child;
        link.pid = Some(pid);
        link.connecting = false;
        drop(link);
        for event in earlier {
            self.handle(event);
        }
        Ok(reader)
    }

    fn handle(&self, event: EngineEvent) {
        match event {
            EngineEvent::Output { cell, output } => self.shared.publisher.publish(cell, output),
            EngineEvent::Progress { phase } => {
                self.shared.state.send_modify(|state| {
                    if let EngineState::Starting { phase: now, .. } = state {
                        *now = Some(phase);
                    }
                });
            }
            EngineEvent::Ready => self.set_state(EngineState::Ready),
            EngineEvent::StartFailed { reason } => self.set_state(EngineState::Failed(reason)),
            EngineEvent::InputRequest { prompt } => {
                let inputs = lock(&self.shared.inputs);
                let asked = inputs
                    .as_ref()
                    .is_some_and(|inputs| inputs.send(InputNeeded { prompt }).is_ok());
                drop(inputs);
                if !asked {
                    self.answer_input(None);
                }
            }
            EngineEvent::Executed { id, result } => {
                if let Some(Waiter::Execute(reply)) = self.take_waiter(id) {
                    self.shared.cells_in_flight.fetch_sub(1, Ordering::SeqCst);
                    let _ = reply.send(result);
                }
            }
            EngineEvent::Completed { id, found } => {
                if let Some(Waiter::Complete(reply)) = self.take_waiter(id) {
                    let _ = reply.send(found);
                }
            }
            EngineEvent::Inspected { id, found } => {
                if let Some(Waiter::Inspect(reply)) = self.take_waiter(id) {
                    let _ = reply.send(found);
                }
            }
            EngineEvent::ResetDone { id, result } => {
                if let Some(Waiter::Reset(reply)) = self.take_waiter(id) {
                    let _ = reply.send(result);
                }
            }
            EngineEvent::Debugging { id, debuggee } => {
                if let Some(Waiter::Debug(reply)) = self.take_waiter(id) {
                    let _ = reply.send(debuggee);
                }
            }
            EngineEvent::Welcome { .. }
            | EngineEvent::Refused { .. }
            | EngineEvent::Recycling
            | EngineEvent::Unknown => {
                tracing::warn!(?event, "unexpected event from the engine");
            }
        }
    }

    fn take_waiter(&self, id: RequestId) -> Option<Waiter> {
        lock(&self.shared.waiting).remove(&id)
    }

    /// Why the connection ended, in a sentence, with the exit status of an
    /// engine process of ours.
    fn exit_description(&self, error: Option<String>) -> String {
        let mut link = lock(&self.shared.link);
        let pid = link.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
        let status = link.child.as_mut().and_then(|child| {
            // The socket closes a moment before the process is reaped.
            for _ in 0..EXIT_STATUS_POLLS {
                if let Ok(Some(status)) = child.try_wait() {
                    return Some(status);
                }
                std::thread::sleep(EXIT_STATUS_POLL);
            }
            None
        });
        let how = match (status, error) {
            (Some(status), _) => format!("ended unexpectedly ({status})"),
            (None, Some(error)) => format!("stopped answering ({error})"),
            (None, None) => "ended unexpectedly".to_owned(),
        };
        format!("the Rust engine process{pid} {how}")
    }

    /// Answers everything that waited, and forgets the connection: the next
    /// request asks for a new engine.
    fn connection_ended(&self, state: &EngineState, detail: &str) {
        {
            let mut link = lock(&self.shared.link);
            link.writer = None;
            link.connecting = false;
            link.pid = None;
            // Their waiters are answered below; what comes later connects anew.
            link.backlog.clear();
            if let Some(mut child) = link.child.take() {
                let _ = child.try_wait();
            }
        }
        let shutting_down = self.shared.shutting_down.load(Ordering::SeqCst);
        if !shutting_down {
            tracing::warn!(%detail, "the engine is gone; the next request starts a new one");
        }
        self.set_state(state.clone());
        let waiters: Vec<Waiter> = lock(&self.shared.waiting).drain().map(|(_, w)| w).collect();
        let error = || match state {
            EngineState::Failed(reason) => CellError::Unavailable(reason.clone()),
            _ => CellError::RuntimeCrashed {
                detail: detail.to_owned(),
                lost_variables: Vec::new(),
            },
        };
        for waiter in waiters {
            match waiter {
                Waiter::Execute(reply) => {
                    self.shared.cells_in_flight.fetch_sub(1, Ordering::SeqCst);
                    let _ = reply.send(Err(error()));
                }
                Waiter::Complete(reply) => {
                    let _ = reply.send(Completions::default());
                }
                Waiter::Inspect(reply) => {
                    let _ = reply.send(None);
                }
                Waiter::Reset(reply) => {
                    let _ = reply.send(Err(error()));
                }
                Waiter::Debug(reply) => {
                    let _ = reply.send(None);
                }
            }
        }
    }
}

/// Why a conversation with an engine did not begin.
#[derive(Debug, Error)]
enum ConnectError {
    /// The source could not provide an engine.
    #[error(transparent)]
    Source(Box<dyn std::error::Error + Send + Sync>),
    /// The engine did not answer the handshake.
    #[error("the engine did not answer: {0}")]
    NoAnswer(wire::WireError),
    /// The engine refused the kernel, and said why.
    #[error("{0}")]
    Refused(String),
    /// The engine closed the connection before its welcome.
    #[error("the engine closed the connection at once")]
    ClosedAtOnce,
    /// The socket could not be cloned for reading.
    #[error(transparent)]
    Socket(std::io::Error),
}

/// How long the exit status of an engine whose socket closed is waited for:
/// this many looks, [`EXIT_STATUS_POLL`] apart (half a second in all; the
/// process is reaped a moment after its socket closes).
const EXIT_STATUS_POLLS: u32 = 20;
/// The pause between two looks at the exit status of an engine that went away.
const EXIT_STATUS_POLL: Duration = Duration::from_millis(25);
/// How often a shutdown looks whether the engine stopped and its process
/// ended: short, since the kernel's shutdown reply waits for it.
const SHUTDOWN_POLL: Duration = Duration::from_millis(10);
/// How long an engine may take to answer `Recycle`: its reader answers at
/// once, so a slower one is stuck and is shut down instead.
const RECYCLE_ANSWER_LIMIT: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokernel_engine::{Output, StreamKind};

    /// A source whose engine is the test itself, at the other end of a socket.
    struct Scripted(Option<UnixStream>);

    impl EngineSource for Scripted {
        fn connect(
            &mut self,
            _attempt: u32,
        ) -> Result<Connection, Box<dyn std::error::Error + Send + Sync>> {
            let socket = self.0.take().ok_or("used once")?;
            Ok(Connection {
                socket,
                child: None,
                ready: true,
            })
        }
    }

    #[derive(Default)]
    struct Seen(Mutex<Vec<(Option<CellId>, Output)>>);

    impl Publisher for Seen {
        fn publish(&self, from: Option<CellId>, output: Output) {
            lock(&self.0).push((from, output));
        }
    }

    fn raw_frame(mut socket: &UnixStream, body: &[u8]) {
        use std::io::Write;
        let length = u32::try_from(body.len()).unwrap_or(0).to_be_bytes();
        socket.write_all(&length).expect("write");
        socket.write_all(body).expect("write");
    }

    #[test]
    fn malformed_events_from_an_engine_are_passed_over_and_output_between_requests_is_published() {
        let (kernel_end, engine_end) = UnixStream::pair().expect("pair");
        let seen = Arc::new(Seen::default());
        let client = EngineClient::start(
            Box::new(Scripted(Some(kernel_end))),
            EngineEnv::current(),
            seen.clone(),
        );
        assert!(matches!(
            wire::recv::<EngineRequest>(&engine_end),
            Ok(Some(EngineRequest::Hello { .. }))
        ));
        wire::send(&engine_end, &EngineEvent::Welcome { pid: 1 }).expect("welcome");
        assert!(matches!(
            wire::recv::<EngineRequest>(&engine_end),
            Ok(Some(EngineRequest::Claim { .. }))
        ));
        raw_frame(&engine_end, b"{garbage");
        raw_frame(&engine_end, br#"{"type":"from_the_future"}"#);
        wire::send(&engine_end, &EngineEvent::Ready).expect("ready");
        let answer = client.execute(CellId(1), "x", None);
        let Ok(Some(EngineRequest::Execute { id, .. })) = wire::recv(&engine_end) else {
            panic!("no execute request");
        };
        let result = Ok(None);
        wire::send(&engine_end, &EngineEvent::Executed { id, result }).expect("executed");
        assert_eq!(answer.blocking_recv().expect("answered"), Ok(None));
        // Later output of the cell, with no request in flight.
        let output = Output::Stream {
            stream: StreamKind::Stdout,
            text: "late\n".into(),
        };
        let cell = Some(CellId(1));
        let late = EngineEvent::Output { cell, output };
        wire::send(&engine_end, &late).expect("output");
        let deadline = Instant::now() + Duration::from_secs(5);
        while lock(&seen.0).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(lock(&seen.0).first().map(|(cell, _)| *cell), Some(cell));
        // The engine goes away: the next cell is told so, and nothing hangs.
        drop(engine_end);
        let answer = client.execute(CellId(2), "y", None);
        assert!(answer.blocking_recv().expect("answered").is_err());
    }
}

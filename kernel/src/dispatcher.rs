//! What the kernel does with each request, independent of sockets and engines.
//!
//! Shell requests are taken in order by the [`ShellWorker`], which answers
//! everything but cells at once — also while a cell runs or the engine starts
//! (completions then come from the [`QuickCompleter`], which is always
//! ready). Cells go to the [`Executor`], which runs them one after another.
//! Control requests ([`Control`]) are handled as they arrive: that is how
//! interrupts and shutdowns get through, and subshells are made. Stdin
//! carries the frontend's answers to a cell's `input()`.
//!
//! Comm messages are answered by the shell worker at once, like everything
//! but cells: a slider moved while a cell runs reaches the runtime then, on
//! the main shell as on a subshell.

use crate::comms::CommTable;
use crate::debugger::Debugger;
use crate::engine_client::{EngineClient, EngineState, InputNeeded};
use crate::history::History;
use crate::info;
use crate::iopub::{IopubEvent, mime_bundle};
use crate::output_limit::{OutputLimiter, take_cell_limit};
use crate::quick_complete::QuickCompleter;
use crate::subshells::Shells;
use ferrokernel_engine::completeness::{self, Completeness as Verdict};
use ferrokernel_engine::{CellError, CellId, CommMessage, Completions};
use ferrokernel_protocol::{
    CommClose, CommInfo, CommInfoReply, CommOpen, CompleteReply, Completeness, Content,
    CreateSubshellReply, DeleteSubshellReply, ErrorInfo, ExecuteInput, ExecuteReply,
    ExecuteRequest, ExecuteResult, ExecutionState, InputRequest, InspectReply, IsCompleteReply,
    ListSubshellReply, Message, ReplyStatus, ShutdownReply, Status, StatusReply,
};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::sync::watch;

/// How long a completion or inspection waits for a free engine before the
/// quick completer answers instead: JupyterLab drops replies after 1 s.
const ENGINE_ANSWER_LIMIT: Duration = Duration::from_millis(600);
/// When the quick completer knows nothing either (paths like
/// `std::collections::Hash`), a late answer of the engine still serves
/// clients that wait longer than JupyterLab (consoles, VS Code, tests).
const ENGINE_LATE_LIMIT: Duration = Duration::from_secs(10);

/// The ROUTER socket a reply goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Replies to shell requests.
    Shell,
    /// Replies to control requests.
    Control,
    /// Input requests to the frontend.
    Stdin,
}

/// A message for one of the ROUTER sockets.
#[derive(Debug)]
pub struct Reply {
    /// Which socket.
    pub channel: Channel,
    /// The message, with the requester's routing identities.
    pub message: Message,
}

/// What the kernel does next after a control request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Keep serving.
    No,
    /// End every process and exit; `restart` is informational (the client restarts us).
    Yes {
        /// Whether the client will start a new kernel.
        restart: bool,
    },
}

/// Where the dispatcher sends messages.
#[derive(Debug, Clone)]
pub struct Outbox {
    session: String,
    replies: UnboundedSender<Reply>,
    iopub: UnboundedSender<IopubEvent>,
}

impl Outbox {
    /// An outbox for `session`, sending replies and iopub events to these channels.
    pub fn new(
        session: &str,
        replies: UnboundedSender<Reply>,
        iopub: UnboundedSender<IopubEvent>,
    ) -> Outbox {
        Outbox {
            session: session.to_owned(),
            replies,
            iopub,
        }
    }

    /// This kernel's session id.
    pub fn session(&self) -> &str {
        &self.session
    }

    pub(crate) fn reply(&self, channel: Channel, request: &Message, content: impl Into<Content>) {
        let message = request.child(content, &self.session);
        // A closed channel means the transport is gone (shutdown); nothing to do.
        let _ = self.replies.send(Reply { channel, message });
    }

    fn publish(&self, request: &Message, content: impl Into<Content>) {
        self.publish_child(request, content);
    }

    /// Publishes `content` on iopub with `request` as its parent.
    pub(crate) fn publish_child(&self, request: &Message, content: impl Into<Content>) {
        let _ = self.iopub.send(IopubEvent::Publish(Box::new(
            request.child(content, &self.session),
        )));
    }

    /// Publishes `status` without a parent (the kernel's `starting`).
    pub fn publish_orphan(&self, content: impl Into<Content>) {
        let _ = self.iopub.send(IopubEvent::Publish(Box::new(Message::new(
            content,
            &self.session,
        ))));
    }

    pub(crate) fn status(&self, request: &Message, state: ExecutionState) {
        self.publish(
            request,
            Status {
                execution_state: state,
            },
        );
    }
}

/// State shared by the shell worker, the executor and the control and stdin handlers.
pub struct Shared {
    engine: EngineClient,
    limiter: Arc<OutputLimiter>,
    quick: Mutex<QuickCompleter>,
    /// A cell waits for an `input_reply`.
    awaiting_input: AtomicBool,
    /// The execute request of the cell that runs, if one does: the kernel is
    /// busy on its behalf while other requests are answered, and `starting`
    /// while the engine it waits for starts.
    running: Mutex<Option<Message>>,
    /// The running cell's status says `starting` (changed under `running`'s lock).
    starting_shown: AtomicBool,
    history: Mutex<History>,
    shutdown: watch::Sender<Shutdown>,
    comms: CommTable,
    debugger: Debugger,
}

impl Shared {
    /// Shared state around `engine`, whose output passes through `limiter`;
    /// `quick` answers completions when the engine cannot; `comms` are the
    /// comms the runtime opened (kept by the iopub task).
    pub fn new(
        engine: EngineClient,
        limiter: Arc<OutputLimiter>,
        quick: QuickCompleter,
        comms: CommTable,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            comms,
            debugger: Debugger::new(engine.clone()),
            engine,
            limiter,
            quick: Mutex::new(quick),
            awaiting_input: AtomicBool::new(false),
            running: Mutex::new(None),
            starting_shown: AtomicBool::new(false),
            history: Mutex::new(History::default()),
            shutdown: watch::channel(Shutdown::No).0,
        })
    }

    /// Shows the engine's start as the kernel's status while a cell waits
    /// for it: `starting`, then `busy` again once it is ready. (Not as output:
    /// nothing the user's code did not print enters a cell's outputs.)
    pub fn show_engine_state(&self, outbox: &Outbox) {
        // Read under the lock the executor takes to begin a cell, and from
        // the watch the client updates before it calls its observer: the
        // state seen here is never older than the one shown.
        let running = self.running();
        let Some(request) = running.as_ref() else {
            return;
        };
        // Only changes are shown: a cell that began after the engine was
        // ready is busy already.
        match *self.engine.state().borrow() {
            EngineState::Starting { .. } => {
                if !self.starting_shown.swap(true, Ordering::SeqCst) {
                    outbox.status(request, ExecutionState::Starting);
                }
            }
            EngineState::Ready | EngineState::Failed(_) => {
                if self.starting_shown.swap(false, Ordering::SeqCst) {
                    outbox.status(request, ExecutionState::Busy);
                }
            }
            EngineState::Stopped => {}
        }
    }

    /// Has the engine's changes of state shown as the kernel's status (see
    /// [`Shared::show_engine_state`]).
    pub fn watch_engine(self: &Arc<Shared>, outbox: Outbox) {
        let shared = Arc::downgrade(self);
        self.engine.observe(Arc::new(move |_| {
            if let Some(shared) = shared.upgrade() {
                shared.show_engine_state(&outbox);
            }
        }));
    }

    /// Resolves when a shutdown was requested (on shell or control).
    pub fn shutdown_requested(&self) -> watch::Receiver<Shutdown> {
        self.shutdown.subscribe()
    }

    /// The engine.
    pub fn engine(&self) -> &EngineClient {
        &self.engine
    }

    fn answer_input(&self, answer: Option<String>) {
        if self.awaiting_input.swap(false, Ordering::SeqCst) {
            self.engine.answer_input(answer);
        }
    }

    fn request_shutdown(&self, restart: bool) {
        self.shutdown.send_replace(Shutdown::Yes { restart });
    }

    fn running(&self) -> MutexGuard<'_, Option<Message>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn quick(&self) -> MutexGuard<'_, QuickCompleter> {
        self.quick.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn history(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Completions from the engine when it is free and quick, else from the
    /// quick completer (also when the engine found nothing).
    async fn completions(&self, code: &str, cursor: usize) -> Completions {
        let quick = || {
            let quick = self.quick().complete(code, cursor);
            Completions {
                matches: quick.matches,
                start: quick.start,
                end: quick.end,
            }
        };
        let Some(mut answer) = self.engine.complete(code, cursor) else {
            return quick();
        };
        match tokio::time::timeout(ENGINE_ANSWER_LIMIT, &mut answer).await {
            Ok(Ok(found)) if !found.matches.is_empty() => found,
            Ok(_) => quick(),
            Err(_) => {
                let quick = quick();
                if !quick.matches.is_empty() {
                    return quick;
                }
                match tokio::time::timeout(ENGINE_LATE_LIMIT, answer).await {
                    Ok(Ok(found)) => found,
                    _ => quick,
                }
            }
        }
    }

    /// Documentation from the engine when it is free and quick, else what the
    /// quick completer knows.
    async fn inspection(
        &self,
        code: &str,
        cursor: usize,
    ) -> Option<ferrokernel_engine::MimeBundle> {
        if let Some(answer) = self.engine.inspect(code, cursor)
            && let Ok(Ok(Some(found))) = tokio::time::timeout(ENGINE_ANSWER_LIMIT, answer).await
        {
            return Some(found);
        }
        let text = self.quick().inspect(code, cursor)?;
        Some(ferrokernel_engine::MimeBundle::from([(
            "text/plain".to_owned(),
            text,
        )]))
    }
}

/// Handles shell requests in order; cells go to the [`Executor`].
pub struct ShellWorker {
    outbox: Outbox,
    shared: Arc<Shared>,
    cells: UnboundedSender<Message>,
}

/// Whether requests queued behind a failed cell should be aborted.
enum Flow {
    Continue,
    AbortQueued,
}

impl ShellWorker {
    /// A worker answering through `outbox`, sending cells to `cells`.
    pub fn new(
        outbox: Outbox,
        shared: Arc<Shared>,
        cells: UnboundedSender<Message>,
    ) -> ShellWorker {
        ShellWorker {
            outbox,
            shared,
            cells,
        }
    }

    /// Serves requests from `queue` until it closes.
    pub async fn run(self, mut queue: UnboundedReceiver<Message>) {
        while let Some(request) = queue.recv().await {
            if matches!(request.content, Content::ExecuteRequest(_)) {
                let _ = self.cells.send(request);
                continue;
            }
            self.outbox.status(&request, ExecutionState::Busy);
            self.dispatch(&request).await;
            self.outbox.status(&request, ExecutionState::Idle);
            // Frontends track one state: while a cell runs, it is still busy
            // (or waits for the engine to start).
            if let Some(running) = self.shared.running().as_ref() {
                let state = if self.shared.starting_shown.load(Ordering::SeqCst) {
                    ExecutionState::Starting
                } else {
                    ExecutionState::Busy
                };
                self.outbox.status(running, state);
            }
        }
    }

    async fn dispatch(&self, request: &Message) {
        match &request.content {
            Content::KernelInfoRequest(_) => {
                self.outbox
                    .reply(Channel::Shell, request, info::kernel_info());
            }
            Content::IsCompleteRequest(is_complete) => {
                let reply = match completeness::check(&is_complete.code) {
                    Verdict::Complete => IsCompleteReply {
                        status: Completeness::Complete,
                        indent: None,
                    },
                    Verdict::Incomplete { indent } => IsCompleteReply {
                        status: Completeness::Incomplete,
                        indent: Some(indent),
                    },
                    Verdict::Invalid => IsCompleteReply {
                        status: Completeness::Invalid,
                        indent: None,
                    },
                };
                self.outbox.reply(Channel::Shell, request, reply);
            }
            Content::CompleteRequest(complete) => {
                let cursor = byte_offset(&complete.code, complete.cursor_pos);
                let found = self.shared.completions(&complete.code, cursor).await;
                let reply = CompleteReply {
                    status: ReplyStatus::Ok,
                    matches: found.matches,
                    cursor_start: char_offset(&complete.code, found.start),
                    cursor_end: char_offset(&complete.code, found.end),
                    metadata: Default::default(),
                };
                self.outbox.reply(Channel::Shell, request, reply);
            }
            Content::InspectRequest(inspect) => {
                let cursor = byte_offset(&inspect.code, inspect.cursor_pos);
                let found = self.shared.inspection(&inspect.code, cursor).await;
                let reply = InspectReply {
                    status: ReplyStatus::Ok,
                    found: found.is_some(),
                    data: found.map(mime_bundle).unwrap_or_default(),
                    metadata: Default::default(),
                };
                self.outbox.reply(Channel::Shell, request, reply);
            }
            Content::HistoryRequest(history) => {
                let reply = ferrokernel_protocol::HistoryReply {
                    status: ReplyStatus::Ok,
                    history: self.shared.history().query(history),
                };
                self.outbox.reply(Channel::Shell, request, reply);
            }
            Content::CommInfoRequest(info) => {
                let target = info.target_name.as_deref();
                if target == Some(WIDGET_TARGET) {
                    // The widget manager asks this when it connects.
                    self.shared.engine.widget_manager_connected();
                }
                let comms = self.shared.comms.list(target);
                let reply = CommInfoReply {
                    status: ReplyStatus::Ok,
                    comms: comms
                        .into_iter()
                        .map(|(id, target_name)| (id, CommInfo { target_name }))
                        .collect(),
                };
                self.outbox.reply(Channel::Shell, request, reply);
            }
            Content::CommOpen(open) => self.refuse_comm(request, open),
            Content::CommMsg(message) => {
                if self.shared.comms.is_open(&message.comm_id) {
                    self.shared.engine.send_comm(CommMessage::Msg {
                        comm_id: message.comm_id.clone(),
                        data: message.data.clone(),
                    });
                } else {
                    tracing::warn!(comm_id = %message.comm_id, "comm_msg for no open comm: ignored");
                }
            }
            Content::CommClose(close) => {
                if self.shared.comms.closed(&close.comm_id) {
                    self.shared.engine.send_comm(CommMessage::Close {
                        comm_id: close.comm_id.clone(),
                        data: close.data.clone(),
                    });
                } else {
                    tracing::warn!(comm_id = %close.comm_id, "comm_close for no open comm: ignored");
                }
            }
            Content::ShutdownRequest(shutdown) => {
                shutdown_reply(&self.outbox, Channel::Shell, request, shutdown.restart);
                self.shared.request_shutdown(shutdown.restart);
            }
            other => unknown_request(&self.outbox, Channel::Shell, request, other.msg_type()),
        }
    }
}

impl ShellWorker {
    /// A comm the frontend opens: the kernel has no targets for those (widgets
    /// are opened by the runtime), so it is closed, as ipykernel closes comms
    /// for unknown targets. The widget manager's control comm says that
    /// widgets can be shown.
    fn refuse_comm(&self, request: &Message, open: &CommOpen) {
        if open.target_name == WIDGET_CONTROL_TARGET {
            self.shared.engine.widget_manager_connected();
        }
        tracing::info!(target = %open.target_name, "no such comm target");
        let close = CommClose {
            comm_id: open.comm_id.clone(),
            data: Default::default(),
        };
        self.outbox.publish(request, close);
    }
}

/// The comm target of ipywidgets' widgets.
const WIDGET_TARGET: &str = "jupyter.widget";
/// The comm target ipywidgets' manager opens to restore widgets.
const WIDGET_CONTROL_TARGET: &str = "jupyter.widget.control";

/// Runs cells one after another.
pub struct Executor {
    outbox: Outbox,
    shared: Arc<Shared>,
    execution_count: u32,
    cells: u64,
}

impl Executor {
    /// An executor answering through `outbox`.
    pub fn new(outbox: Outbox, shared: Arc<Shared>) -> Executor {
        Executor {
            outbox,
            shared,
            execution_count: 0,
            cells: 0,
        }
    }

    /// Runs the cells from `queue` until it closes.
    pub async fn run(mut self, mut queue: UnboundedReceiver<Message>) {
        let mut waiting = VecDeque::new();
        loop {
            let request = match waiting.pop_front() {
                Some(request) => request,
                None => match queue.recv().await {
                    Some(request) => request,
                    None => return,
                },
            };
            let Content::ExecuteRequest(execute) = &request.content else {
                continue;
            };
            if let Flow::AbortQueued = self.execute(&request, execute).await {
                // Like ipykernel: cells queued behind a failure are not run,
                // those of the same shell (another subshell's cells still are).
                while let Ok(queued) = queue.try_recv() {
                    waiting.push_back(queued);
                }
                let shell = &request.header.subshell_id;
                waiting.retain(|queued: &Message| {
                    let same_shell = &queued.header.subshell_id == shell;
                    if same_shell {
                        self.abort(queued);
                    }
                    !same_shell
                });
            }
        }
    }

    async fn execute(&mut self, request: &Message, execute: &ExecuteRequest) -> Flow {
        {
            let mut running = self.shared.running();
            self.outbox.status(request, ExecutionState::Busy);
            *running = Some(request.clone());
        }
        let flow = self.run_cell(request, execute).await;
        {
            let mut running = self.shared.running();
            *running = None;
            self.shared.starting_shown.store(false, Ordering::SeqCst);
        }
        self.outbox.status(request, ExecutionState::Idle);
        flow
    }

    async fn run_cell(&mut self, request: &Message, execute: &ExecuteRequest) -> Flow {
        let silent = execute.silent;
        if execute.store_history && !silent {
            self.execution_count += 1;
            self.shared
                .history()
                .record(self.execution_count, &execute.code);
        }
        let count = self.execution_count;
        if !silent {
            let input = ExecuteInput {
                code: execute.code.clone(),
                execution_count: count,
            };
            self.outbox.publish(request, input);
        }
        self.cells += 1;
        let cell = CellId(self.cells);
        let _ = self.outbox.iopub.send(IopubEvent::Cell {
            cell,
            request: Box::new(request.clone()),
        });
        // A cell that waits for the engine to start says so.
        self.shared.show_engine_state(&self.outbox);
        let result = match take_cell_limit(&execute.code) {
            Err(error) => Err(CellError::Engine(error.to_string())),
            Ok((limit, code)) => {
                self.shared.limiter.begin_cell(cell, limit);
                let result = self.run_in_engine(request, cell, &code, execute).await;
                self.shared.limiter.end_cell();
                result
            }
        };
        let _ = self.outbox.iopub.send(IopubEvent::CellDone(cell));
        match result {
            Ok(value) => {
                self.shared.quick().learn(&execute.code);
                if let (Some(bundle), false) = (value, silent) {
                    if let Some(text) = bundle.get("text/plain") {
                        self.shared.history().set_output(count, text.clone());
                    }
                    let result = ExecuteResult {
                        execution_count: count,
                        data: mime_bundle(bundle),
                        metadata: Default::default(),
                    };
                    self.outbox.publish(request, result);
                }
                self.outbox
                    .reply(Channel::Shell, request, execute_reply(count, None));
                Flow::Continue
            }
            Err(error) => {
                let info = ErrorInfo {
                    ename: error.ename().to_owned(),
                    evalue: error.evalue(),
                    traceback: error.traceback(),
                };
                if !silent {
                    self.outbox.publish(request, Content::Error(info.clone()));
                }
                self.outbox
                    .reply(Channel::Shell, request, execute_reply(count, Some(info)));
                if execute.stop_on_error {
                    Flow::AbortQueued
                } else {
                    Flow::Continue
                }
            }
        }
    }

    /// Sends the cell and waits for it, passing its input requests on.
    async fn run_in_engine(
        &self,
        request: &Message,
        cell: CellId,
        code: &str,
        execute: &ExecuteRequest,
    ) -> Result<Option<ferrokernel_engine::MimeBundle>, CellError> {
        let (inputs, mut needed) = mpsc::unbounded_channel::<InputNeeded>();
        let inputs = execute.allow_stdin.then_some(inputs);
        self.shared.debugger.cell_started(code);
        let execution = self.shared.engine.execute(cell, code, inputs);
        tokio::pin!(execution);
        loop {
            tokio::select! {
                result = &mut execution => {
                    return result.unwrap_or_else(|_| {
                        Err(CellError::Unavailable("the engine connection closed".to_owned()))
                    });
                }
                Some(input) = needed.recv() => self.request_input(request, input),
            }
        }
    }

    fn request_input(&self, request: &Message, input: InputNeeded) {
        self.shared.awaiting_input.store(true, Ordering::SeqCst);
        let content = InputRequest {
            prompt: input.prompt.prompt,
            password: input.prompt.password,
        };
        self.outbox.reply(Channel::Stdin, request, content);
    }

    fn abort(&self, request: &Message) {
        self.outbox.status(request, ExecutionState::Busy);
        let reply = ExecuteReply {
            status: ReplyStatus::Aborted,
            execution_count: self.execution_count,
            user_expressions: Default::default(),
            payload: Vec::new(),
            error: None,
        };
        self.outbox.reply(Channel::Shell, request, reply);
        self.outbox.status(request, ExecutionState::Idle);
    }
}

fn execute_reply(count: u32, error: Option<ErrorInfo>) -> ExecuteReply {
    ExecuteReply {
        status: if error.is_some() {
            ReplyStatus::Error
        } else {
            ReplyStatus::Ok
        },
        execution_count: count,
        user_expressions: Default::default(),
        payload: Vec::new(),
        error,
    }
}

fn shutdown_reply(outbox: &Outbox, channel: Channel, request: &Message, restart: bool) {
    let reply = ShutdownReply {
        status: ReplyStatus::Ok,
        restart,
    };
    // Jupyter clients also watch iopub for the shutdown reply.
    outbox.publish(request, reply.clone());
    outbox.reply(channel, request, reply);
}

fn unknown_request(outbox: &Outbox, channel: Channel, request: &Message, msg_type: &str) {
    match Content::unknown_request_reply(msg_type) {
        Some(reply) => {
            tracing::warn!(%msg_type, "unsupported request, answered with an error");
            outbox.reply(channel, request, reply);
        }
        None => tracing::warn!(%msg_type, "ignored message of unknown type"),
    }
}

/// Handles control requests as they arrive.
pub struct Control {
    outbox: Outbox,
    shared: Arc<Shared>,
    shells: Arc<Shells>,
}

impl Control {
    /// A control handler answering through `outbox`, making subshells in `shells`.
    pub fn new(outbox: Outbox, shared: Arc<Shared>, shells: Arc<Shells>) -> Control {
        shared.debugger.start(outbox.clone());
        Control {
            outbox,
            shared,
            shells,
        }
    }

    /// Handles one request; says whether the kernel should shut down.
    pub fn handle(&self, request: &Message) -> Shutdown {
        self.outbox.status(request, ExecutionState::Busy);
        let mut outcome = Shutdown::No;
        match &request.content {
            Content::KernelInfoRequest(_) => {
                self.outbox
                    .reply(Channel::Control, request, info::kernel_info());
            }
            Content::InterruptRequest(_) => {
                self.shared.engine.interrupt();
                self.shared.debugger.interrupted();
                // A cell waiting for input cannot see the interrupt; answer it.
                self.shared.answer_input(None);
                let reply = StatusReply {
                    status: ReplyStatus::Ok,
                    error: None,
                };
                self.outbox
                    .reply(Channel::Control, request, Content::InterruptReply(reply));
            }
            Content::ShutdownRequest(shutdown) => {
                shutdown_reply(&self.outbox, Channel::Control, request, shutdown.restart);
                self.shared.request_shutdown(shutdown.restart);
                outcome = Shutdown::Yes {
                    restart: shutdown.restart,
                };
            }
            Content::CreateSubshellRequest(_) => {
                let reply = CreateSubshellReply {
                    status: ReplyStatus::Ok,
                    subshell_id: self.shells.create(),
                };
                self.outbox.reply(Channel::Control, request, reply);
            }
            Content::DeleteSubshellRequest(delete) => {
                let reply = if self.shells.delete(&delete.subshell_id) {
                    StatusReply {
                        status: ReplyStatus::Ok,
                        error: None,
                    }
                } else {
                    StatusReply {
                        status: ReplyStatus::Error,
                        error: Some(ErrorInfo {
                            ename: "SubshellNotFound".to_owned(),
                            evalue: format!("no subshell with id {}", delete.subshell_id),
                            traceback: Vec::new(),
                        }),
                    }
                };
                self.outbox
                    .reply(Channel::Control, request, DeleteSubshellReply(reply));
            }
            // Answered on the debugger's thread, in order.
            Content::DebugRequest(_) => self.shared.debugger.submit(request),
            Content::ListSubshellRequest(_) => {
                let reply = ListSubshellReply {
                    status: ReplyStatus::Ok,
                    subshell_id: self.shells.list(),
                };
                self.outbox.reply(Channel::Control, request, reply);
            }
            other => unknown_request(&self.outbox, Channel::Control, request, other.msg_type()),
        }
        self.outbox.status(request, ExecutionState::Idle);
        outcome
    }

    /// Handles a message on stdin: the answer to an input request.
    pub fn handle_stdin(&self, message: &Message) {
        match &message.content {
            Content::InputReply(reply) => self.shared.answer_input(Some(reply.value.clone())),
            other => tracing::warn!(msg_type = %other.msg_type(), "unexpected message on stdin"),
        }
    }

    /// Interrupts the running cell (SIGINT to the kernel).
    pub fn interrupt(&self) {
        self.shared.engine.interrupt();
        self.shared.debugger.interrupted();
        self.shared.answer_input(None);
    }
}

/// Jupyter counts cursor positions in code points; Rust strings index bytes.
fn byte_offset(code: &str, chars: usize) -> usize {
    code.char_indices()
        .nth(chars)
        .map_or(code.len(), |(index, _)| index)
}

fn char_offset(code: &str, bytes: usize) -> usize {
    code.get(..bytes)
        .map_or_else(|| code.chars().count(), |prefix| prefix.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_convert_between_code_points_and_bytes() {
        let code = "let é = 1; é.";
        assert_eq!(byte_offset(code, 5), 6);
        assert_eq!(char_offset(code, 6), 5);
        assert_eq!(byte_offset(code, 100), code.len());
    }
}

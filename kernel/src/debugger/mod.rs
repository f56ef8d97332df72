//! The JupyterLab debugger for Rust cells, through lldb-dap.
//!
//! JupyterLab speaks the Debug Adapter Protocol to the kernel in
//! `debug_request`s on the control channel and hears `debug_event`s on iopub.
//! The kernel answers its own requests (`debugInfo`, `dumpCell`, the variable
//! explorer's) and passes the rest to lldb-dap, attached to the runtime
//! process that runs the cells: the kernel itself keeps answering while the
//! runtime is stopped.
//!
//! The frontend knows a cell by a path made of its code's hash; lldb knows
//! a cell by the source the engine generated for it (the engine keeps one
//! per cell compiled for debugging, see `ferrokernel_engine`'s debug builds).
//! The two are joined when a cell starts: a breakpoint on every cell's entry
//! (`run_user_code_*`) stops the runtime for a moment, the kernel pairs the
//! cell's lines with the generated ones ([`line_map`]), sets the frontend's
//! breakpoints there and lets it go on. Stack frames come back the other way,
//! in the cell's own path and lines.

mod adapter;
mod line_map;
mod murmur2;

use crate::dispatcher::{Channel, Outbox};
use crate::engine_client::EngineClient;
use adapter::{Adapter, Event, Request, Response};
use ferrokernel_engine::Debuggee;
use ferrokernel_protocol::{Content, DebugEvent, DebugReply, DebugRequest, Message};
use line_map::LineMap;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// The seed of the cell-path hash, as ipykernel uses it (any works: the
/// frontend takes it from `debugInfo`).
const HASH_SEED: u32 = 0xC70F_6907;

/// What the frontend calls break-on-panic (`setExceptionBreakpoints`).
const PANIC_FILTER: &str = "rust_panic";

/// The function every cell's code runs in, numbered by the engine.
const CELL_FUNCTION: &str = "run_user_code_";

/// How long `attach` waits for the engine (it may still be starting).
const ENGINE_WAIT: Duration = Duration::from_secs(180);

/// The lldb-dap to use: `FERROKERNEL_LLDB_DAP`, else the first `lldb-dap`
/// (or Debian's versioned `lldb-dap-N`) on `PATH`.
pub fn find_adapter() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("FERROKERNEL_LLDB_DAP").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let names = std::iter::once("lldb-dap".to_owned())
        .chain((15..=30).rev().map(|version| format!("lldb-dap-{version}")));
    let dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    names
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(&name)))
        .find(|candidate| candidate.is_file())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A thread named `name` that hands everything `received` brings to
/// `handle`, in order, until the sending side is gone.
fn handle_each<T: Send + 'static>(
    name: &str,
    received: mpsc::Receiver<T>,
    mut handle: impl FnMut(T) + Send + 'static,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || received.into_iter().for_each(&mut handle))
        .map(drop)
}

/// The kernel's debugger: takes `debug_request`s, answers them on control and
/// publishes `debug_event`s on iopub.
pub struct Debugger {
    inner: Arc<Inner>,
    requests: OnceLock<mpsc::Sender<Message>>,
}

struct Inner {
    engine: EngineClient,
    adapter_path: Option<PathBuf>,
    /// Where dumped cells go: `prefix + hash + suffix`.
    tmp_prefix: String,
    outbox: OnceLock<Outbox>,
    state: Mutex<State>,
}

/// A source the engine generated for a cell compiled for debugging.
struct Generated {
    path: String,
    text: String,
    /// Where each known cell's lines are in it (computed when first needed).
    maps: HashMap<String, LineMap>,
    /// Whether lldb was given breakpoints in it (to clear them later).
    has_breakpoints: bool,
}

#[derive(Default)]
struct State {
    adapter: Option<Arc<Adapter>>,
    attached: bool,
    debuggee: Option<Debuggee>,
    /// Every cell seen (dumped or run), by path: its code.
    cells: HashMap<String, String>,
    /// The frontend's breakpoints, by cell path.
    breakpoints: BTreeMap<String, Vec<u32>>,
    generated: Vec<Generated>,
    /// The path of the cell that runs (or ran last).
    running: Option<String>,
    /// lldb's numbers for the cell-entry and panic breakpoints.
    entry_breakpoint: Option<i64>,
    panic_breakpoint: Option<i64>,
    break_on_panic: bool,
    stopped_threads: BTreeSet<i64>,
    /// The stop is at a panic: frames above the cell's are std's.
    stopped_at_panic: bool,
    /// The breakpoint and location of the last stop, and whether the
    /// runtime went on from it by `continue` (not a step).
    last_stop: Option<(i64, i64)>,
    continued: bool,
    /// The request the last events answer to (the iopub parent).
    parent: Option<Message>,
    seq: i64,
}

impl Debugger {
    /// A debugger for the cells `engine` runs; lldb-dap is looked for now.
    pub fn new(engine: EngineClient) -> Debugger {
        let tmp_prefix = std::env::temp_dir()
            .join(format!("ferrokernel-debug-{}", std::process::id()))
            .display()
            .to_string()
            + "/";
        Debugger {
            inner: Arc::new(Inner {
                engine,
                adapter_path: find_adapter(),
                tmp_prefix,
                outbox: OnceLock::new(),
                state: Mutex::new(State::default()),
            }),
            requests: OnceLock::new(),
        }
    }

    /// Starts answering: requests are handled in order on a thread of their
    /// own, so the control channel never waits for lldb.
    pub fn start(&self, outbox: Outbox) {
        let _ = self.inner.outbox.set(outbox);
        let (sender, received) = mpsc::channel::<Message>();
        if self.requests.set(sender).is_err() {
            return;
        }
        let inner = Arc::clone(&self.inner);
        if let Err(error) = handle_each("fk-debugger", received, move |message| {
            inner.answer(&message);
        }) {
            tracing::error!(%error, "cannot start the debugger thread");
        }
    }

    /// Takes a `debug_request` message.
    pub fn submit(&self, message: &Message) {
        if let Some(requests) = self.requests.get() {
            let _ = requests.send(message.clone());
        }
    }

    /// The cell is interrupted: a runtime stopped in the debugger goes on, so
    /// that it sees the interrupt (lldb passes SIGINT on without stopping).
    pub fn interrupted(&self) {
        let threads: Vec<i64> = lock(&self.inner.state)
            .stopped_threads
            .iter()
            .copied()
            .collect();
        if threads.is_empty() {
            return;
        }
        let inner = Arc::clone(&self.inner);
        // Off the control thread: lldb may take a moment.
        let resumed = std::thread::Builder::new()
            .name("fk-debug-resume".to_owned())
            .spawn(move || {
                for thread in threads {
                    let request = Request {
                        seq: 0,
                        command: "continue".to_owned(),
                        arguments: json!({ "threadId": thread }),
                    };
                    let _ = inner.forward(&request);
                }
            });
        if let Err(error) = resumed {
            tracing::warn!(%error, "cannot resume the stopped runtime for the interrupt");
        }
    }

    /// A cell is about to run `code`: a stop at its entry is for it.
    pub fn cell_started(&self, code: &str) {
        let path = self.inner.cell_path(code);
        let mut state = lock(&self.inner.state);
        state.cells.insert(path.clone(), code.to_owned());
        state.running = Some(path);
    }
}

impl Inner {
    fn cell_path(&self, code: &str) -> String {
        format!(
            "{}{}.rs",
            self.tmp_prefix,
            murmur2::murmur2(code, HASH_SEED)
        )
    }

    fn answer(self: &Arc<Self>, message: &Message) {
        let Content::DebugRequest(DebugRequest(json)) = &message.content else {
            return;
        };
        lock(&self.state).parent = Some(message.clone());
        let mut response = match serde_json::from_value::<Request>(json.clone()) {
            Ok(request) => self.handle(&request),
            Err(error) => Response {
                seq: 0,
                kind: "response".to_owned(),
                request_seq: json.get("seq").and_then(Value::as_i64).unwrap_or_default(),
                success: false,
                command: json
                    .get("command")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                message: Some(format!("a malformed debug request: {error}")),
                body: Value::Null,
            },
        };
        response.seq = self.next_seq();
        if let Some(outbox) = self.outbox.get() {
            let body = serde_json::to_value(&response).unwrap_or(Value::Null);
            outbox.reply(Channel::Control, message, DebugReply(body));
        }
    }

    fn next_seq(&self) -> i64 {
        let mut state = lock(&self.state);
        state.seq += 1;
        state.seq
    }

    fn handle(self: &Arc<Self>, request: &Request) -> Response {
        match request.command.as_str() {
            "debugInfo" => Response::success(request, self.debug_info()),
            "initialize" => self.initialize(request),
            "attach" => self.attach(request),
            "dumpCell" => self.dump_cell(request),
            "setBreakpoints" => self.set_breakpoints(request),
            "setExceptionBreakpoints" => self.set_exception_breakpoints(request),
            // Done at attach: JupyterLab sends it only from "Restart and Debug".
            "configurationDone" => Response::success(request, Value::Null),
            "stackTrace" => self.stack_trace(request),
            "variables" => self.variables(request),
            "source" => source(request),
            // The notebook's variables are the cell frame's locals while
            // stopped; between cells the explorer shows nothing.
            "inspectVariables" => Response::success(request, json!({ "variables": [] })),
            "richInspectVariables" => {
                Response::success(request, json!({ "data": {}, "metadata": {} }))
            }
            "copyToGlobals" => Response::failure(
                request,
                "copying a frame's variable to the notebook is not supported for Rust cells",
            ),
            "modules" if !lock(&self.state).attached => {
                Response::success(request, json!({ "modules": [], "totalModules": 0 }))
            }
            "disconnect" => self.disconnect(request),
            _ => self.forward(request),
        }
    }

    fn debug_info(&self) -> Value {
        let state = lock(&self.state);
        let breakpoints: Vec<Value> = state
            .breakpoints
            .iter()
            .map(|(path, lines)| {
                json!({
                    "source": path,
                    "breakpoints": lines.iter().map(|line| json!({ "line": line })).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "isStarted": state.attached,
            "hashMethod": "Murmur2",
            "hashSeed": HASH_SEED,
            "tmpFilePrefix": self.tmp_prefix,
            "tmpFileSuffix": ".rs",
            "breakpoints": breakpoints,
            "stoppedThreads": state.stopped_threads.iter().collect::<Vec<_>>(),
            "richRendering": false,
            "exceptionPaths": [],
            "copyToGlobals": false,
        })
    }

    /// The adapter, started on first use with a thread for its events.
    fn adapter(self: &Arc<Self>) -> Result<Arc<Adapter>, String> {
        let mut state = lock(&self.state);
        if let Some(adapter) = &state.adapter {
            return Ok(Arc::clone(adapter));
        }
        let path = self.adapter_path.as_ref().ok_or_else(|| {
            "the debugger needs lldb-dap, which was not found: install it \
             (Debian: apt install lldb-19) or set FERROKERNEL_LLDB_DAP"
                .to_owned()
        })?;
        let (events, received) = mpsc::channel();
        let adapter = Arc::new(Adapter::start(path, events).map_err(|error| error.to_string())?);
        let inner = Arc::clone(self);
        handle_each("fk-dap-events", received, move |event| {
            inner.on_event(event)
        })
        .map_err(|error| error.to_string())?;
        state.adapter = Some(Arc::clone(&adapter));
        Ok(adapter)
    }

    fn initialize(self: &Arc<Self>, request: &Request) -> Response {
        let adapter = match self.adapter() {
            Ok(adapter) => adapter,
            Err(reason) => return Response::failure(request, reason),
        };
        let mut arguments = request.arguments.clone();
        if let Some(arguments) = arguments.as_object_mut() {
            arguments.insert("adapterID".to_owned(), json!("ferrokernel"));
        }
        match adapter.request("initialize", arguments) {
            Ok(mut response) => {
                if let Some(body) = response.body.as_object_mut() {
                    body.insert(
                        "exceptionBreakpointFilters".to_owned(),
                        json!([{
                            "filter": PANIC_FILTER,
                            "label": "Rust panics",
                            "description": "Stop where a cell panics",
                            "default": false,
                        }]),
                    );
                }
                response.request_seq = request.seq;
                response
            }
            Err(error) => Response::failure(request, error.to_string()),
        }
    }

    fn attach(self: &Arc<Self>, request: &Request) -> Response {
        if lock(&self.state).attached {
            return Response::success(request, Value::Null);
        }
        let adapter = match self.adapter() {
            Ok(adapter) => adapter,
            Err(reason) => return Response::failure(request, reason),
        };
        let Some(debuggee) = self.ask_engine(true) else {
            return Response::failure(
                request,
                "the engine has no runtime to attach to (it may have failed to start)",
            );
        };
        let attached = adapter.request(
            "attach",
            json!({ "pid": debuggee.pid, "initCommands": rust_formatters() }),
        );
        match attached {
            Ok(response) if response.success => {}
            Ok(response) => {
                return Response::failure(
                    request,
                    format!(
                        "lldb could not attach to the runtime (pid {}): {}",
                        debuggee.pid,
                        response.message.unwrap_or_default()
                    ),
                );
            }
            Err(error) => return Response::failure(request, error.to_string()),
        }
        // Signals are the notebook's (interrupts, children ending), not stops.
        let _ = lldb_command(
            &adapter,
            "process handle -p true -s false -n false SIGINT SIGTERM SIGCHLD SIGPIPE SIGUSR1 SIGUSR2 SIGALRM SIGWINCH",
        );
        let entry = lldb_command(&adapter, &format!("breakpoint set -r ^{CELL_FUNCTION}"))
            .and_then(|output| breakpoint_number(&output));
        let break_on_panic = {
            let mut state = lock(&self.state);
            state.entry_breakpoint = entry;
            state.debuggee = Some(debuggee);
            state.attached = true;
            state.break_on_panic
        };
        self.apply_panic_breakpoint(&adapter, break_on_panic);
        if let Err(error) = adapter.request("configurationDone", Value::Null) {
            tracing::warn!(%error, "the debug adapter did not resume the runtime");
        }
        Response::success(request, Value::Null)
    }

    /// Asks the engine for debug builds on or off; waits for the answer.
    fn ask_engine(&self, on: bool) -> Option<Debuggee> {
        let mut answer = self.engine.debug(on);
        let deadline = Instant::now() + ENGINE_WAIT;
        while Instant::now() < deadline {
            match answer.try_recv() {
                Ok(debuggee) => return debuggee,
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => return None,
            }
        }
        None
    }

    fn dump_cell(&self, request: &Request) -> Response {
        let Some(code) = request.arguments.get("code").and_then(Value::as_str) else {
            return Response::failure(request, "dumpCell needs `code`");
        };
        let path = self.cell_path(code);
        let written =
            std::fs::create_dir_all(&self.tmp_prefix).and_then(|()| std::fs::write(&path, code));
        if let Err(error) = written {
            return Response::failure(request, format!("cannot write {path}: {error}"));
        }
        lock(&self.state)
            .cells
            .insert(path.clone(), code.to_owned());
        Response::success(request, json!({ "sourcePath": path }))
    }

    fn set_breakpoints(&self, request: &Request) -> Response {
        let Some(path) = request
            .arguments
            .pointer("/source/path")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return Response::failure(request, "setBreakpoints needs `source.path`");
        };
        let lines: Vec<u32> = request
            .arguments
            .get("breakpoints")
            .and_then(Value::as_array)
            .map(|breakpoints| {
                breakpoints
                    .iter()
                    .filter_map(|b| b.get("line").and_then(Value::as_u64))
                    .filter_map(|line| u32::try_from(line).ok())
                    .collect()
            })
            .unwrap_or_default();
        let adapter = {
            let mut state = lock(&self.state);
            if lines.is_empty() {
                state.breakpoints.remove(&path);
            } else {
                state.breakpoints.insert(path.clone(), lines.clone());
            }
            state.attached.then(|| state.adapter.clone()).flatten()
        };
        if let Some(adapter) = adapter {
            let mut state = lock(&self.state);
            for index in 0..state.generated.len() {
                sync_breakpoints(&adapter, &mut state, index);
            }
        }
        let source = json!({ "path": path });
        let breakpoints: Vec<Value> = lines
            .iter()
            .map(|line| json!({ "verified": true, "line": line, "source": source }))
            .collect();
        Response::success(request, json!({ "breakpoints": breakpoints }))
    }

    fn set_exception_breakpoints(&self, request: &Request) -> Response {
        let on = request
            .arguments
            .get("filters")
            .and_then(Value::as_array)
            .is_some_and(|filters| filters.iter().any(|f| f == PANIC_FILTER));
        let adapter = {
            let mut state = lock(&self.state);
            state.break_on_panic = on;
            state.attached.then(|| state.adapter.clone()).flatten()
        };
        if let Some(adapter) = adapter {
            self.apply_panic_breakpoint(&adapter, on);
        }
        Response::success(request, json!({ "breakpoints": [] }))
    }

    fn apply_panic_breakpoint(&self, adapter: &Adapter, on: bool) {
        let existing = lock(&self.state).panic_breakpoint;
        match (on, existing) {
            (true, None) => {
                let number = lldb_command(adapter, "breakpoint set -n rust_panic")
                    .and_then(|output| breakpoint_number(&output));
                lock(&self.state).panic_breakpoint = number;
            }
            (false, Some(number)) => {
                let _ = lldb_command(adapter, &format!("breakpoint delete {number}"));
                lock(&self.state).panic_breakpoint = None;
            }
            _ => {}
        }
    }

    fn stack_trace(&self, request: &Request) -> Response {
        let mut response = self.forward(request);
        let Some(frames) = response
            .body
            .get_mut("stackFrames")
            .and_then(Value::as_array_mut)
        else {
            return response;
        };
        let mut state = lock(&self.state);
        let mut kept = Vec::new();
        let mut last_in_cell = None;
        for mut frame in frames.drain(..) {
            if !frame.is_object() {
                // Not a frame: nothing to show (and nothing to index into).
                continue;
            }
            let name = frame
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let is_cell_function = name
                .strip_prefix("ctx::")
                .unwrap_or(name)
                .starts_with(CELL_FUNCTION)
                && !name.contains("closure");
            frame["name"] = json!(tidy_frame_name(name));
            if frame.get("source").is_none() {
                // JupyterLab's call stack reads every frame's source.path.
                frame["source"] = json!({ "name": "(no source)", "path": "" });
            }
            let in_cell = translate_frame(&mut frame, &mut state);
            if in_cell && state.stopped_at_panic && last_in_cell.is_none() {
                // Where the panic happened: std's frames above it are noise.
                kept.clear();
            }
            kept.push(frame);
            if in_cell {
                last_in_cell = Some(kept.len());
            }
            if is_cell_function {
                // Below it is the engine's runtime.
                break;
            }
        }
        // Below the cell's outermost line are the engine's wrappers around it.
        if let Some(end) = last_in_cell {
            kept.truncate(end);
        }
        let total = kept.len();
        *frames = kept;
        if let Some(count) = response.body.get_mut("totalFrames") {
            *count = json!(total);
        }
        response
    }

    /// Locals without the engine's own variables.
    fn variables(&self, request: &Request) -> Response {
        let mut response = self.forward(request);
        if let Some(variables) = response
            .body
            .get_mut("variables")
            .and_then(Value::as_array_mut)
        {
            variables.retain(|variable| {
                !variable
                    .get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|name| name.starts_with("evcxr_"))
            });
        }
        response
    }

    fn disconnect(&self, request: &Request) -> Response {
        let adapter = lock(&self.state).adapter.take();
        if let Some(adapter) = adapter {
            let _ = adapter.request("disconnect", json!({ "terminateDebuggee": false }));
            adapter.stop();
        }
        // Not waited for: later cells compile without debug info.
        drop(self.engine.debug(false));
        let mut state = lock(&self.state);
        state.attached = false;
        state.entry_breakpoint = None;
        state.panic_breakpoint = None;
        state.stopped_threads.clear();
        state.generated.clear();
        Response::success(request, Value::Null)
    }

    fn forward(&self, request: &Request) -> Response {
        let adapter = {
            let state = lock(&self.state);
            state.attached.then(|| state.adapter.clone()).flatten()
        };
        let Some(adapter) = adapter else {
            return Response::failure(request, "the debugger is not started");
        };
        if matches!(
            request.command.as_str(),
            "continue" | "next" | "stepIn" | "stepOut"
        ) {
            let mut state = lock(&self.state);
            state.stopped_threads.clear();
            state.stopped_at_panic = false;
            state.continued = request.command == "continue";
        }
        match adapter.request(&request.command, request.arguments.clone()) {
            Ok(mut response) => {
                response.request_seq = request.seq;
                response
            }
            Err(error) => Response::failure(request, error.to_string()),
        }
    }

    fn on_event(self: &Arc<Self>, event: Event) {
        match event.event.as_str() {
            "stopped" => self.on_stopped(event),
            "continued" => {
                lock(&self.state).stopped_threads.clear();
                self.publish(event);
            }
            "exited" | "terminated" => {
                {
                    let mut state = lock(&self.state);
                    state.attached = false;
                    state.stopped_threads.clear();
                }
                self.publish(event);
            }
            "adapterExited" => {
                let mut state = lock(&self.state);
                state.adapter = None;
                state.attached = false;
                state.stopped_threads.clear();
            }
            // About lldb's own view (its breakpoints in generated sources,
            // every library loaded): nothing the frontend can use.
            "breakpoint" | "module" | "process" | "loadedSource" | "capabilities" => {}
            _ => self.publish(event),
        }
    }

    fn on_stopped(self: &Arc<Self>, event: Event) {
        let thread = event.body.get("threadId").and_then(Value::as_i64);
        let location = event
            .body
            .get("description")
            .and_then(Value::as_str)
            .and_then(stop_location);
        let number = location.map(|(number, _)| number);
        let (entry, panic) = {
            let state = lock(&self.state);
            (state.entry_breakpoint, state.panic_breakpoint)
        };
        if number.is_some() && number == entry {
            if let Some(thread) = thread {
                self.at_cell_entry(thread, &event);
            }
            return;
        }
        let same_line_again = {
            let mut state = lock(&self.state);
            let again = state.continued && same_line_again(state.last_stop, location);
            state.last_stop = location;
            again
        };
        if same_line_again
            && let (Some(thread), Some(adapter)) = (thread, lock(&self.state).adapter.clone())
        {
            // A line compiled to several places (a macro's, a loop header's)
            // is one stop for the user.
            if adapter
                .request("continue", json!({ "threadId": thread }))
                .is_ok()
            {
                return;
            }
        }
        {
            let mut state = lock(&self.state);
            if let Some(thread) = thread {
                state.stopped_threads.insert(thread);
            }
            state.stopped_at_panic = number.is_some() && number == panic;
        }
        self.publish(event);
    }

    /// A cell starts: pair its lines with the generated source, give lldb
    /// the breakpoints there, and let it run (or stop, if one is right here).
    fn at_cell_entry(self: &Arc<Self>, thread: i64, event: &Event) {
        let Some(adapter) = lock(&self.state).adapter.clone() else {
            return;
        };
        let trace = adapter.request(
            "stackTrace",
            json!({ "threadId": thread, "startFrame": 0, "levels": 1 }),
        );
        let generated_path = trace.ok().and_then(|response| {
            response
                .body
                .pointer("/stackFrames/0/source/path")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let also_a_user_breakpoint = event
            .body
            .get("hitBreakpointIds")
            .and_then(Value::as_array)
            .is_some_and(|ids| ids.len() > 1);
        if let Some(path) = generated_path {
            let mut state = lock(&self.state);
            let kept_by_engine = state
                .debuggee
                .as_ref()
                .is_some_and(|debuggee| Path::new(&path).starts_with(&debuggee.sources));
            if kept_by_engine && !state.generated.iter().any(|g| g.path == path) {
                match std::fs::read_to_string(&path) {
                    Ok(text) => {
                        state.generated.push(Generated {
                            path,
                            text,
                            maps: HashMap::new(),
                            has_breakpoints: false,
                        });
                        let index = state.generated.len() - 1;
                        sync_breakpoints(&adapter, &mut state, index);
                    }
                    Err(error) => tracing::warn!(%error, %path, "cannot read a generated source"),
                }
            }
        }
        if also_a_user_breakpoint {
            lock(&self.state).stopped_threads.insert(thread);
            self.publish(event.clone());
        } else if let Err(error) = adapter.request("continue", json!({ "threadId": thread })) {
            tracing::warn!(%error, "could not resume the runtime after a cell's entry");
        }
    }

    fn publish(&self, mut event: Event) {
        event.seq = self.next_seq();
        let parent = lock(&self.state).parent.clone();
        if let (Some(outbox), Some(parent)) = (self.outbox.get(), parent) {
            let body = serde_json::to_value(&event).unwrap_or(Value::Null);
            outbox.publish_child(&parent, DebugEvent(body));
        }
    }
}

/// Gives lldb the frontend's breakpoints that fall in generated source `index`.
fn sync_breakpoints(adapter: &Adapter, state: &mut State, index: usize) {
    let State {
        cells,
        breakpoints,
        generated,
        ..
    } = state;
    let Some(generated) = generated.get_mut(index) else {
        return;
    };
    let mut lines = BTreeSet::new();
    for (path, cell_lines) in breakpoints.iter() {
        let Some(code) = cells.get(path) else {
            continue;
        };
        let map = generated
            .maps
            .entry(path.clone())
            .or_insert_with(|| LineMap::align(code, &generated.text));
        lines.extend(
            cell_lines
                .iter()
                .filter_map(|line| map.generated_line(*line)),
        );
    }
    if lines.is_empty() && !generated.has_breakpoints {
        return;
    }
    let arguments = json!({
        "source": { "path": generated.path },
        "breakpoints": lines.iter().map(|line| json!({ "line": line })).collect::<Vec<_>>(),
    });
    if let Err(error) = adapter.request("setBreakpoints", arguments) {
        tracing::warn!(%error, "could not set breakpoints");
    }
    generated.has_breakpoints = !lines.is_empty();
}

/// Puts `frame` in its cell's path and lines, if it is in a cell; says so.
fn translate_frame(frame: &mut Value, state: &mut State) -> bool {
    let Some(path) = frame.pointer("/source/path").and_then(Value::as_str) else {
        return false;
    };
    let Some(line) = frame
        .get("line")
        .and_then(Value::as_u64)
        .and_then(|line| u32::try_from(line).ok())
    else {
        return false;
    };
    let State {
        cells,
        generated,
        running,
        ..
    } = state;
    let Some(generated) = generated.iter_mut().find(|g| g.path == path) else {
        return false;
    };
    // The running cell first: an earlier cell's item may read the same.
    let candidates = running
        .iter()
        .chain(cells.keys().filter(|path| Some(*path) != running.as_ref()));
    for cell_path in candidates {
        let Some(code) = cells.get(cell_path) else {
            continue;
        };
        let map = generated
            .maps
            .entry(cell_path.clone())
            .or_insert_with(|| LineMap::align(code, &generated.text));
        if let Some(cell_line) = map.cell_line(line) {
            frame["source"] = json!({ "name": "Cell", "path": cell_path });
            frame["line"] = json!(cell_line);
            return true;
        }
    }
    false
}

/// A frame's function as a reader would name it: lldb's legacy-mangled
/// `ctx::run_user_code_5::_$u7b$$u7b$closure$u7d$$u7d$::h0123…` reads
/// `cell::{{closure}}`; a function a cell defined loses the `ctx::`.
fn tidy_frame_name(name: &str) -> String {
    let without_hash = match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => name,
    };
    let mut tidy = without_hash.replace("::_$", "::$");
    for (mangled, plain) in [
        ("$u7b$", "{"),
        ("$u7d$", "}"),
        ("$LT$", "<"),
        ("$GT$", ">"),
        ("$RF$", "&"),
        ("$BP$", "*"),
        ("$C$", ","),
        ("$u20$", " "),
        ("$u27$", "'"),
        ("$u5b$", "["),
        ("$u5d$", "]"),
        ("..", "::"),
    ] {
        tidy = tidy.replace(mangled, plain);
    }
    let Some(rest) = tidy.strip_prefix("ctx::") else {
        return tidy;
    };
    match rest.strip_prefix(CELL_FUNCTION) {
        Some(cell) => match cell.split_once("::") {
            Some((_, inner)) => format!("cell::{inner}"),
            None => "cell".to_owned(),
        },
        None => rest.to_owned(),
    }
}

/// `source`: the text of a frame's file that is not a cell's.
fn source(request: &Request) -> Response {
    let path = request
        .arguments
        .pointer("/source/path")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match std::fs::read_to_string(path) {
        Ok(content) => Response::success(request, json!({ "content": content })),
        Err(error) => Response::failure(request, format!("cannot read {path}: {error}")),
    }
}

/// Runs an lldb command through the adapter's console; returns its output.
fn lldb_command(adapter: &Adapter, command: &str) -> Option<String> {
    let response = adapter
        .request(
            "evaluate",
            json!({ "expression": format!("`{command}"), "context": "repl" }),
        )
        .ok()?;
    let output = response
        .body
        .get("result")
        .and_then(Value::as_str)?
        .to_owned();
    if !response.success {
        tracing::warn!(%command, %output, "lldb refused a command");
    }
    Some(output)
}

/// `Breakpoint 3: ...` → 3 (lldb's console echoes the command first).
fn breakpoint_number(output: &str) -> Option<i64> {
    output.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix("Breakpoint ")?;
        rest.split(':').next()?.trim().parse().ok()
    })
}

/// A stop's description, `breakpoint 3.1` → breakpoint 3, location 1.
fn stop_location(description: &str) -> Option<(i64, i64)> {
    let (number, location) = description.strip_prefix("breakpoint ")?.split_once('.')?;
    Some((number.trim().parse().ok()?, location.trim().parse().ok()?))
}

/// Whether a stop at `now` right after one at `last` (and a `continue`) is
/// the same line reached again at a later place of its code: the same
/// breakpoint, a later location. (A loop's next turn comes back to the
/// first location, and stops.)
fn same_line_again(last: Option<(i64, i64)>, now: Option<(i64, i64)>) -> bool {
    matches!((last, now), (Some((a, i)), Some((b, j))) if a == b && i < j)
}

/// The toolchain's lldb formatters, so `Vec`, `String` and `HashMap` read
/// as values.
fn rust_formatters() -> Vec<String> {
    let sysroot = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned());
    let Some(sysroot) = sysroot else {
        return Vec::new();
    };
    let etc = Path::new(&sysroot).join("lib/rustlib/etc");
    if !etc.join("lldb_lookup.py").is_file() {
        return Vec::new();
    }
    vec![
        format!(
            "command script import \"{}\"",
            etc.join("lldb_lookup.py").display()
        ),
        format!(
            "command source -s 0 \"{}\"",
            etc.join("lldb_commands").display()
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lldbs_breakpoint_numbers_are_read() {
        let output = "(lldb) breakpoint set -n f\nBreakpoint 2: no locations (pending).\n";
        assert_eq!(breakpoint_number(output), Some(2));
        assert_eq!(breakpoint_number("error: bad"), None);
        assert_eq!(stop_location("breakpoint 12.1"), Some((12, 1)));
        assert_eq!(stop_location("step over"), None);
        assert!(same_line_again(Some((2, 1)), Some((2, 2))));
        assert!(
            !same_line_again(Some((2, 2)), Some((2, 1))),
            "a loop's next turn"
        );
        assert!(!same_line_again(Some((2, 1)), Some((3, 2))));
    }

    #[test]
    fn frame_names_read_as_written() {
        let closure = "ctx::run_user_code_5::_$u7b$$u7b$closure$u7d$$u7d$::h6d023969f19134e8";
        assert_eq!(tidy_frame_name(closure), "cell::{{closure}}");
        assert_eq!(tidy_frame_name("ctx::run_user_code_5"), "cell");
        assert_eq!(tidy_frame_name("ctx::double::h0123456789abcdef"), "double");
        assert_eq!(
            tidy_frame_name("std::panicking::begin_panic"),
            "std::panicking::begin_panic"
        );
        assert_eq!(
            tidy_frame_name("core::ptr::drop_in_place$LT$alloc..string..String$GT$"),
            "core::ptr::drop_in_place<alloc::string::String>"
        );
    }

    #[test]
    fn frames_in_a_generated_source_become_cell_frames() {
        let mut state = State::default();
        let cell = "/tmp/c/1.rs".to_owned();
        state
            .cells
            .insert(cell.clone(), "let x: i32 = 41;\nlet y = x + 1;".to_owned());
        state.running = Some(cell.clone());
        state.generated.push(Generated {
            path: "/w/debug-sources/cell-1.rs".to_owned(),
            text: "use a;\nfn run_user_code_3() {\nlet x: i32 = 41;\nlet y = x + 1;\n}".to_owned(),
            maps: HashMap::new(),
            has_breakpoints: false,
        });
        let mut frame = json!({
            "name": "run_user_code_3", "line": 4,
            "source": { "path": "/w/debug-sources/cell-1.rs" },
        });
        assert!(translate_frame(&mut frame, &mut state));
        assert_eq!(frame["line"], 2);
        assert_eq!(frame["source"]["path"], cell.as_str());
        let mut engine_line =
            json!({ "line": 2, "source": { "path": "/w/debug-sources/cell-1.rs" } });
        assert!(!translate_frame(&mut engine_line, &mut state));
    }
}

//! The widget registry and the reader of the frontend's messages.
//!
//! ## Design note
//! One [`Comms`] per process, in the crate's `Globals` (every cell's copy of
//! the crate finds the same one): the open widgets by comm id, whether a
//! widget manager is present, and the one reader thread.
//!
//! **One lock.** Every read or change of any widget's state happens under
//! `Comms::wire`, which is also held while the resulting comm line is
//! written, so the frontend sees changes in the order they were made. A fork
//! (`sys::fork`) takes `wire` before stdout, so no other thread is halfway
//! through a widget when the child is made, and the child may use widgets
//! (its lines reach the frontend as the parent's do; its state is its own
//! copy). Lock order: `wire`, then a widget's `state`, then stdout.
//!
//! **Callbacks run unlocked.** Observers and click handlers are cloned out
//! under the lock and called after it is released, so they may use any
//! widget. Those the frontend caused run on a callback thread of their own,
//! in order: the reader never waits for user code, so a value the frontend
//! changed is seen at once even while a click handler runs for minutes.
//! Those caused by this side (`set_value`) run on the caller's thread, as
//! traitlets does.
//!
//! **The reader.** `notebook::install_runtime` starts one thread that reads
//! JSON lines of [`CommMessage`] from the pipe named by
//! [`COMM_FD_VAR`](crate::comm::COMM_FD_VAR); the descriptor is made
//! close-on-exec, and a forked child has no copy of the thread.

use super::model::{self, Kind, Model};
use crate::comm::CommMessage;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Called with an attribute's new value.
pub(crate) type Handler = Arc<dyn Fn(&Value) + Send + Sync>;
/// Called on a button's click.
pub(crate) type Click = Arc<dyn Fn() + Send + Sync>;
type Job = Box<dyn FnOnce() + Send>;

/// The process's widgets (see the module notes).
#[derive(Default)]
pub(crate) struct Comms {
    /// Held across every state access and the line it writes.
    wire: Mutex<()>,
    /// The open widgets, by comm id (under `wire`).
    open: Mutex<HashMap<String, Arc<Core>>>,
    /// A frontend with the widget manager said so.
    manager: AtomicBool,
    /// The reader thread was started.
    reader: AtomicBool,
    /// Where callbacks the frontend caused run (none: at once).
    callbacks: Mutex<Option<Sender<Job>>>,
    /// Tests: messages and log lines kept instead of written.
    record: Option<Recorder>,
    /// Fallback for comm ids when the system has no random bytes.
    ids: AtomicU64,
}

#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) sent: Mutex<Vec<CommMessage>>,
    pub(crate) logged: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Comms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Comms")
            .field("manager", &self.manager)
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Proof that `Comms::wire` is held.
pub(crate) struct Wire<'a>(#[allow(dead_code)] MutexGuard<'a, ()>);

impl Comms {
    /// A registry that records what it would send (for tests).
    #[cfg(test)]
    pub(crate) fn recording() -> Comms {
        Comms {
            record: Some(Recorder::default()),
            ..Comms::default()
        }
    }

    /// The recorder of a [`Comms::recording`].
    #[cfg(test)]
    pub(crate) fn recorder(&self) -> &Recorder {
        self.record.as_ref().expect("a recording Comms")
    }

    /// Takes the lock every widget access holds (see the module notes).
    pub(crate) fn wire(&self) -> Wire<'_> {
        Wire(lock(&self.wire))
    }

    /// Whether a frontend with the widget manager is connected.
    pub(crate) fn has_manager(&self) -> bool {
        self.manager.load(Ordering::Relaxed)
    }

    /// A new comm id: 32 random hex digits.
    pub(crate) fn new_id(&self) -> String {
        let mut bytes = [0u8; 16];
        if crate::sys::authkey::fill_random(&mut bytes).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let n = self.ids.fetch_add(1, Ordering::Relaxed);
            return format!("{:08x}{:016x}{n:08x}", std::process::id(), nanos as u64);
        }
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Writes a message to the kernel: only inside ferrokernel's runtime
    /// (elsewhere nobody reads it), and under the wire lock.
    fn send(&self, _wire: &Wire<'_>, message: CommMessage) {
        if let Some(record) = &self.record {
            lock(&record.sent).push(message);
            return;
        }
        if !crate::sys::globals::in_runtime() {
            return;
        }
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let _ = writeln!(out, "{}{}", crate::protocol::COMM, message.to_line());
        let _ = out.flush();
    }

    /// One short line on stderr about a message that changed nothing.
    fn log(&self, text: String) {
        match &self.record {
            Some(record) => lock(&record.logged).push(text),
            None => eprintln!("widgets: {text}"),
        }
    }

    /// Runs a callback the frontend caused: on the callback thread when there
    /// is one, else now.
    fn dispatch(&self, job: Job) {
        let job = match &*lock(&self.callbacks) {
            Some(sender) => match sender.send(job) {
                Ok(()) => return,
                Err(failed) => failed.0,
            },
            None => job,
        };
        job();
    }

    /// Handles one line from the kernel.
    pub(crate) fn handle_line(&self, line: &str) {
        match CommMessage::from_line(line) {
            Ok(message) => self.handle(message),
            Err(error) => self.log(format!("unreadable comm message ({error})")),
        }
    }

    /// Handles one message from the kernel.
    pub(crate) fn handle(&self, message: CommMessage) {
        let (comm_id, data) = match message {
            CommMessage::WidgetManager => {
                self.manager.store(true, Ordering::Relaxed);
                return;
            }
            CommMessage::Msg { comm_id, data } => (comm_id, Some(data)),
            CommMessage::Close { comm_id, .. } => (comm_id, None),
            other => {
                let kind = other.to_line();
                return self.log(format!("unexpected message from the kernel: {kind}"));
            }
        };
        let wire = self.wire();
        let Some(core) = lock(&self.open).get(&comm_id).cloned() else {
            drop(wire);
            return self.log(format!("no widget with comm id {comm_id}"));
        };
        match data {
            None => {
                lock(&core.state).status = Status::Closed;
                lock(&self.open).remove(&comm_id);
            }
            Some(data) => {
                let outcome = core.on_message(&wire, &data);
                drop(wire);
                match outcome {
                    Ok(calls) => {
                        if !calls.is_empty() {
                            self.dispatch(Box::new(move || calls.run()));
                        }
                    }
                    Err(why) => self.log(format!("{comm_id}: {why}; nothing changed")),
                }
            }
        }
    }

    /// Starts the one reader of the kernel's pipe, if this process has one.
    pub(crate) fn start_reader(&'static self) {
        let Some(fd) = std::env::var(crate::comm::COMM_FD_VAR)
            .ok()
            .and_then(|v| v.trim().parse::<i32>().ok())
        else {
            return;
        };
        if fd < 0 || self.reader.swap(true, Ordering::AcqRel) {
            return;
        }
        // SAFETY: fcntl on a descriptor number changes only its flags; a bad
        // number fails with EBADF, which we check.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
            return self.log(format!("no comm pipe at fd {fd}"));
        }
        // SAFETY: the kernel handed this descriptor to the runtime for this
        // reader alone; `reader` makes sure only one `File` owns it.
        let pipe = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let (sender, jobs) = std::sync::mpsc::channel::<Job>();
        *lock(&self.callbacks) = Some(sender);
        let _ = std::thread::Builder::new()
            .name("widget-callbacks".into())
            .spawn(move || {
                for job in jobs {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            });
        let _ = std::thread::Builder::new()
            .name("widget-comms".into())
            .spawn(move || self.read(std::io::BufReader::new(pipe)));
    }

    /// Handles lines until the end of `input`.
    pub(crate) fn read(&self, input: impl BufRead) {
        for line in input.lines() {
            match line {
                Ok(line) if line.trim().is_empty() => {}
                Ok(line) => self.handle_line(&line),
                Err(_) => break,
            }
        }
    }
}

/// Whether a widget has been opened on the kernel's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    New,
    Opening,
    Open,
    Closed,
}

/// One widget: its model, its state, and who listens.
pub(crate) struct Core {
    pub(crate) comms: &'static Comms,
    pub(crate) id: String,
    /// The Python class name (for the `text/plain` repr).
    pub(crate) class: &'static str,
    pub(crate) model: &'static Model,
    state: Mutex<State>,
}

struct State {
    attrs: Map<String, Value>,
    status: Status,
    /// Widgets this one references (layout, style, children): opened first.
    refs: Vec<Arc<Core>>,
    observers: Vec<(&'static str, Handler)>,
    clicks: Vec<Click>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.repr())
    }
}

/// Callbacks to run once the lock is released.
#[derive(Default)]
pub(crate) struct Calls(Vec<(Handler, Value)>, Vec<Click>);

impl Calls {
    fn is_empty(&self) -> bool {
        self.0.is_empty() && self.1.is_empty()
    }

    /// Runs them; a panic in one does not stop the others.
    pub(crate) fn run(self) {
        for (handler, value) in self.0 {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&value)));
        }
        for click in self.1 {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| click()));
        }
    }
}

impl Core {
    /// A new widget of `model`, with its layout and style widgets, not yet open.
    pub(crate) fn new(
        comms: &'static Comms,
        model: &'static Model,
        class: &'static str,
    ) -> Arc<Core> {
        let mut attrs = model.defaults();
        let mut refs = Vec::new();
        if model.layout {
            let layout = Core::new(comms, &model::LAYOUT, "Layout");
            attrs.insert("layout".into(), model::reference(&layout.id).into());
            refs.push(layout);
        }
        if let Some(style) = model.style {
            let style = Core::new(comms, style, "Style");
            attrs.insert("style".into(), model::reference(&style.id).into());
            refs.push(style);
        }
        Arc::new(Core {
            comms,
            id: comms.new_id(),
            class,
            model,
            state: Mutex::new(State {
                attrs,
                status: Status::New,
                refs,
                observers: Vec::new(),
                clicks: Vec::new(),
            }),
        })
    }

    fn state(&self, _wire: &Wire<'_>) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// An attribute's value (`Null` if the model has none).
    pub(crate) fn get(&self, attr: &str) -> Value {
        let wire = self.comms.wire();
        self.state(&wire)
            .attrs
            .get(attr)
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Whether the widget is open.
    #[cfg(test)]
    pub(crate) fn is_open(&self) -> bool {
        let wire = self.comms.wire();
        self.state(&wire).status == Status::Open
    }

    /// Sets attributes; when open, sends an `update` of those that changed;
    /// then calls their observers on this thread.
    pub(crate) fn set(&self, changes: Vec<(&str, Value)>) {
        let wire = self.comms.wire();
        let mut state = self.state(&wire);
        let mut changed = Map::new();
        for (attr, value) in changes {
            if state.attrs.get(attr) != Some(&value) {
                state.attrs.insert(attr.to_owned(), value.clone());
                changed.insert(attr.to_owned(), value);
            }
        }
        if changed.is_empty() {
            return;
        }
        if state.status == Status::Open {
            let message = update(&self.id, changed.clone());
            self.comms.send(&wire, message);
        }
        let calls = observers_of(&state, &changed);
        drop(state);
        drop(wire);
        calls.run();
    }

    /// Replaces the widgets this one references besides its layout and style
    /// (a box's children), opening them first when this one is open.
    pub(crate) fn set_children(&self, children: Vec<Arc<Core>>) {
        let open = {
            let wire = self.comms.wire();
            self.state(&wire).status == Status::Open
        };
        if open {
            for child in &children {
                child.open();
            }
        }
        let ids: Vec<Value> = children
            .iter()
            .map(|c| model::reference(&c.id).into())
            .collect();
        {
            let wire = self.comms.wire();
            let mut state = self.state(&wire);
            let fixed = usize::from(self.model.layout) + usize::from(self.model.style.is_some());
            state.refs.truncate(fixed);
            state.refs.extend(children);
        }
        self.set(vec![("children", Value::Array(ids))]);
    }

    /// The widgets this one references beyond layout and style.
    pub(crate) fn children(&self) -> Vec<Arc<Core>> {
        let wire = self.comms.wire();
        let fixed = usize::from(self.model.layout) + usize::from(self.model.style.is_some());
        self.state(&wire).refs.iter().skip(fixed).cloned().collect()
    }

    /// Calls `handler` with the attribute's new value on every change.
    pub(crate) fn observe(&self, attr: &'static str, handler: Handler) {
        let wire = self.comms.wire();
        self.state(&wire).observers.push((attr, handler));
    }

    /// Calls `click` on every click in the frontend.
    pub(crate) fn on_click(&self, click: Click) {
        let wire = self.comms.wire();
        self.state(&wire).clicks.push(click);
    }

    /// Runs the click handlers now.
    pub(crate) fn click(&self) {
        let clicks = {
            let wire = self.comms.wire();
            self.state(&wire).clicks.clone()
        };
        Calls(Vec::new(), clicks).run();
    }

    /// Opens the comm (and first those of the widgets it references), unless
    /// it is open already; registers the widget for the frontend's messages.
    pub(crate) fn open(self: &Arc<Self>) {
        let refs = {
            let wire = self.comms.wire();
            let mut state = self.state(&wire);
            if state.status != Status::New {
                return;
            }
            state.status = Status::Opening;
            state.refs.clone()
        };
        for reference in &refs {
            reference.open();
        }
        let wire = self.comms.wire();
        let mut state = self.state(&wire);
        if state.status != Status::Opening {
            return;
        }
        state.status = Status::Open;
        lock(&self.comms.open).insert(self.id.clone(), Arc::clone(self));
        let message = open_message(&self.id, state.attrs.clone());
        self.comms.send(&wire, message);
    }

    /// Closes the comm; the widget keeps its state but no longer talks.
    pub(crate) fn close(&self) {
        let wire = self.comms.wire();
        let mut state = self.state(&wire);
        if state.status == Status::Open {
            let message = CommMessage::Close {
                comm_id: self.id.clone(),
                data: Map::new(),
            };
            self.comms.send(&wire, message);
        }
        state.status = Status::Closed;
        lock(&self.comms.open).remove(&self.id);
    }

    /// Tells the kernel to start or stop sending the cell's output to this
    /// (Output) widget; opens it first.
    pub(crate) fn capture(self: &Arc<Self>, active: bool) {
        self.open();
        let wire = self.comms.wire();
        let message = CommMessage::Capture {
            comm_id: self.id.clone(),
            active,
        };
        self.comms.send(&wire, message);
    }

    /// A `comm_msg` from the frontend: the callbacks it causes, or why it
    /// changed nothing.
    fn on_message(&self, wire: &Wire<'_>, data: &Map<String, Value>) -> Result<Calls, String> {
        match data.get("method").and_then(Value::as_str) {
            Some("update") => {
                let Some(update) = data.get("state").and_then(Value::as_object) else {
                    return Err("an update without a state".into());
                };
                self.apply_update(wire, update)
            }
            Some("request_state") => {
                let full = self.state(wire).attrs.clone();
                self.comms.send(wire, update(&self.id, full));
                Ok(Calls::default())
            }
            Some("custom") => {
                let event = data
                    .get("content")
                    .and_then(|c| c.get("event"))
                    .and_then(Value::as_str);
                let state = self.state(wire);
                match event {
                    Some("click") if self.model.name == "ButtonModel" => {
                        Ok(Calls(Vec::new(), state.clicks.clone()))
                    }
                    _ => Err(format!(
                        "unknown custom message {}",
                        Value::Object(data.clone())
                    )),
                }
            }
            other => Err(format!("unknown method {other:?}")),
        }
    }

    /// Checks every attribute of an update, then applies all or none.
    fn apply_update(&self, wire: &Wire<'_>, update: &Map<String, Value>) -> Result<Calls, String> {
        let mut state = self.state(wire);
        let mut changed = Map::new();
        for (attr, value) in update {
            let current = state.attrs.get(attr);
            match self.model.kind(attr) {
                None => {
                    self.comms
                        .log(format!("{}: ignored unknown attribute {attr:?}", self.id));
                }
                Some(_) if current == Some(value) => {}
                Some(kind) if !kind.admits(value) => {
                    return Err(format!("{attr} cannot be {value} ({kind:?})"));
                }
                Some(_) => {
                    changed.insert(attr.clone(), value.clone());
                }
            }
        }
        check_consistent(self.model, &state.attrs, &changed)?;
        for (attr, value) in &changed {
            state.attrs.insert(attr.clone(), value.clone());
        }
        Ok(observers_of(&state, &changed))
    }

    /// ipywidgets' `repr`: `IntSlider(value=5, description='workers', max=100)`:
    /// the value first, then the other attributes that differ from their
    /// default, in name order, without `_` names, layout and style.
    pub(crate) fn repr(&self) -> String {
        let wire = self.comms.wire();
        let state = self.state(&wire);
        let mut parts = Vec::new();
        if self.model.name == "DropdownModel" {
            return dropdown_repr(self.class, &self.model_defaults_differing(&state));
        }
        if let Some(value) = state.attrs.get("value") {
            parts.push(format!("value={}", model::python_repr(value)));
        }
        let children = (self.model.kind("children") == Some(Kind::Refs)).then(|| {
            let fixed = usize::from(self.model.layout) + usize::from(self.model.style.is_some());
            state.refs[fixed.min(state.refs.len())..].to_vec()
        });
        for (attr, value) in self.model_defaults_differing(&state) {
            if attr == "value" {
                continue;
            }
            if attr == "children" {
                continue;
            }
            parts.push(format!("{attr}={}", model::python_repr(&value)));
        }
        drop(state);
        drop(wire);
        if let Some(children) = children.filter(|c| !c.is_empty()) {
            let reprs: Vec<String> = children.iter().map(|c| c.repr()).collect();
            let comma = if reprs.len() == 1 { "," } else { "" };
            parts.insert(0, format!("children=({}{comma})", reprs.join(", ")));
        }
        format!("{}({})", self.class, parts.join(", "))
    }

    fn model_defaults_differing(&self, state: &State) -> Vec<(String, Value)> {
        self.model
            .attrs
            .iter()
            .filter(|(name, kind, _)| !name.starts_with('_') && *kind != Kind::Ref)
            .filter_map(|(name, _, _)| {
                let value = state.attrs.get(*name)?;
                (Some(value) != self.model.default_of(name).as_ref())
                    .then(|| ((*name).to_owned(), value.clone()))
            })
            .chain((self.model.name == "DropdownModel").then(|| {
                (
                    "_options_labels".to_owned(),
                    state.attrs["_options_labels"].clone(),
                )
            }))
            .collect()
    }
}

/// `Dropdown(index=1, options=('a', 'b'), value='b')`, as ipywidgets writes it.
fn dropdown_repr(class: &str, differing: &[(String, Value)]) -> String {
    let mut parts: Vec<(String, String)> = Vec::new();
    let mut labels = Vec::new();
    let mut index = None;
    for (attr, value) in differing {
        match attr.as_str() {
            "_options_labels" => labels = value.as_array().cloned().unwrap_or_default(),
            "index" => index = value.as_u64(),
            _ => parts.push((attr.clone(), model::python_repr(value))),
        }
    }
    if let Some(i) = index.filter(|i| *i != 0) {
        parts.push(("index".into(), i.to_string()));
    }
    let chosen = index
        .and_then(|i| labels.get(usize::try_from(i).ok()?).cloned())
        .unwrap_or(Value::Null);
    parts.push(("options".into(), model::python_repr(&Value::Array(labels))));
    parts.push(("value".into(), model::python_repr(&chosen)));
    parts.sort();
    let parts: Vec<String> = parts.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{class}({})", parts.join(", "))
}

/// Checks that go beyond one attribute's type.
fn check_consistent(
    model: &Model,
    attrs: &Map<String, Value>,
    changed: &Map<String, Value>,
) -> Result<(), String> {
    if model.name == "DropdownModel"
        && let Some(index) = changed.get("index").and_then(Value::as_u64)
    {
        let len = attrs
            .get("_options_labels")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if usize::try_from(index).map_or(true, |i| i >= len) {
            return Err(format!("index {index} is past the {len} options"));
        }
    }
    Ok(())
}

/// The observers of the attributes that changed, with their new values.
fn observers_of(state: &State, changed: &Map<String, Value>) -> Calls {
    let mut calls = Calls::default();
    for (attr, handler) in &state.observers {
        if let Some(value) = changed.get(*attr) {
            calls.0.push((Arc::clone(handler), value.clone()));
        }
    }
    calls
}

/// `comm_open` of a widget with its full state.
pub(crate) fn open_message(id: &str, state: Map<String, Value>) -> CommMessage {
    let data = json!({"state": state, "buffer_paths": []});
    let metadata = json!({"version": model::PROTOCOL_VERSION});
    CommMessage::Open {
        comm_id: id.to_owned(),
        target_name: model::TARGET.to_owned(),
        data: data.as_object().cloned().unwrap_or_default(),
        metadata: metadata.as_object().cloned().unwrap_or_default(),
    }
}

/// An `update` of these attributes.
pub(crate) fn update(id: &str, state: Map<String, Value>) -> CommMessage {
    let data = json!({"method": "update", "state": state, "buffer_paths": []});
    CommMessage::Msg {
        comm_id: id.to_owned(),
        data: data.as_object().cloned().unwrap_or_default(),
    }
}

//! What goes out on iopub: stream output coalesced into few messages, each
//! under the request of the cell that produced it — also when it arrives
//! after that cell ended, from its threads and child processes, while the
//! kernel is idle or another cell runs.
//!
//! Headless runners (nbval, nbconvert, papermill: they send `allow_stdin:
//! false`) store or compare outputs, and nbval ignores `update_display_data`.
//! So for them a display with an id (a progress bar) is held back, with
//! everything the cell shows after it, until the cell ends, and then sent once
//! in its final state, in its place: what they keep is the bar at its end, as
//! a person watching would last have seen it.

use crate::comms::CommTable;
use ferrokernel_engine::{CellId, CommMessage, MimeBundle, Output, Publisher, StreamKind};
use ferrokernel_protocol::{
    ClearOutput, CommClose, CommMsg, CommOpen, Content, DisplayData, Message, Stream, StreamName,
    UpdateDisplayData,
};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// How long stream text may wait to be joined by more before it is sent.
pub const STREAM_FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Pending stream text larger than this is sent at once.
const STREAM_FLUSH_BYTES: usize = 64 * 1024;
/// How many cells' requests are remembered for their late output; older
/// cells' output goes under the last cell.
const REMEMBERED_CELLS: usize = 10_000;

/// An instruction for the iopub task.
#[derive(Debug)]
pub enum IopubEvent {
    /// Send this message (after any pending stream text).
    Publish(Box<Message>),
    /// Output of `cell` belongs under `request`, from now on and later.
    Cell {
        /// The kernel's number for the cell.
        cell: CellId,
        /// Its execute request.
        request: Box<Message>,
    },
    /// The cell's code returned: what was held for a headless runner goes out.
    CellDone(CellId),
    /// Engine output, of `from` (or of the last cell, when not known).
    Output {
        /// Whose.
        from: Option<CellId>,
        /// What.
        output: Output,
    },
}

/// The engine's [`Publisher`], feeding the iopub task.
#[derive(Debug, Clone)]
pub struct IopubPublisher(pub UnboundedSender<IopubEvent>);

impl Publisher for IopubPublisher {
    fn publish(&self, from: Option<CellId>, output: Output) {
        // A closed channel means the kernel is shutting down; output has nowhere to go.
        let _ = self.0.send(IopubEvent::Output { from, output });
    }
}

/// Stream text waiting to be joined by more of the same cell and stream.
#[derive(Debug)]
struct Pending {
    cell: Option<CellId>,
    name: StreamName,
    text: String,
}

/// Turns events into messages, joining consecutive stream text.
#[derive(Debug)]
pub struct IopubAssembler {
    session: String,
    parents: BTreeMap<CellId, Message>,
    /// Cells in the order they began, to forget the oldest.
    order: VecDeque<CellId>,
    last: Option<CellId>,
    pending: Option<Pending>,
    /// For a headless cell: outputs held since its first display with an id.
    held: Option<(CellId, Vec<Output>)>,
    /// Open comms, as the runtime opens and closes them.
    comms: CommTable,
}

impl IopubAssembler {
    /// An assembler for messages of `session`, keeping `comms` up to date.
    pub fn new(session: &str, comms: CommTable) -> IopubAssembler {
        IopubAssembler {
            comms,
            session: session.to_owned(),
            parents: BTreeMap::new(),
            order: VecDeque::new(),
            last: None,
            pending: None,
            held: None,
        }
    }

    /// Whether `cell` is a cell of a frontend that allows no input (a headless runner).
    fn headless(&self, cell: Option<CellId>) -> bool {
        let parent = cell.and_then(|cell| self.parents.get(&cell));
        matches!(
            parent.map(|p| &p.content),
            Some(Content::ExecuteRequest(request)) if !request.allow_stdin
        )
    }

    /// Sends what was held, displays in their final state.
    fn release(&mut self, ready: &mut Vec<Message>) {
        if let Some((cell, held)) = self.held.take() {
            for output in held {
                self.output(Some(cell), output, ready);
            }
        }
    }

    /// Whether stream text waits to be sent.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Handles one event; returns the messages to send now, in order.
    pub fn push(&mut self, event: IopubEvent) -> Vec<Message> {
        let mut ready = Vec::new();
        match event {
            IopubEvent::Publish(message) => {
                if self.held_for(&message) {
                    self.release(&mut ready);
                }
                ready.extend(self.flush());
                ready.push(*message);
            }
            IopubEvent::Cell { cell, request } => self.remember(cell, *request),
            IopubEvent::CellDone(cell) => {
                if self.held.as_ref().is_some_and(|(held, _)| *held == cell) {
                    self.release(&mut ready);
                }
            }
            IopubEvent::Output { from, output } => {
                let cell = from.or(self.last);
                if let Output::Comm(message) = output {
                    // Widgets are not cell output: never held back.
                    self.comm(cell, message, &mut ready);
                    return ready;
                }
                let starts_hold = self.held.is_none()
                    && matches!(&output, Output::Display { id: Some(_), .. })
                    && self.headless(cell);
                match (self.held.as_mut(), cell) {
                    (Some((held_cell, held)), Some(cell)) if *held_cell == cell => {
                        hold(held, output)
                    }
                    (None, Some(cell)) if starts_hold => {
                        ready.extend(self.flush());
                        self.held = Some((cell, vec![output]));
                    }
                    _ => self.output(cell, output, &mut ready),
                }
            }
        }
        ready
    }

    /// Whether `message` answers the request of the cell whose output is held.
    fn held_for(&self, message: &Message) -> bool {
        let Some((cell, _)) = &self.held else {
            return false;
        };
        let parent = message.parent_header.as_ref().map(|h| &h.msg_id);
        self.parents.get(cell).map(|p| &p.header.msg_id) == parent
    }

    fn remember(&mut self, cell: CellId, request: Message) {
        self.parents.insert(cell, request);
        self.order.push_back(cell);
        self.last = Some(cell);
        while self.order.len() > REMEMBERED_CELLS {
            if let Some(oldest) = self.order.pop_front() {
                self.parents.remove(&oldest);
            }
        }
    }

    fn output(&mut self, cell: Option<CellId>, output: Output, ready: &mut Vec<Message>) {
        match output {
            Output::Stream { stream, text } => {
                let name = match stream {
                    StreamKind::Stdout => StreamName::Stdout,
                    StreamKind::Stderr => StreamName::Stderr,
                };
                match &mut self.pending {
                    Some(pending) if pending.name == name && pending.cell == cell => {
                        pending.text.push_str(&text)
                    }
                    _ => {
                        ready.extend(self.flush());
                        self.pending = Some(Pending { cell, name, text });
                    }
                }
                if self
                    .pending
                    .as_ref()
                    .is_some_and(|p| p.text.len() >= STREAM_FLUSH_BYTES)
                {
                    ready.extend(self.flush());
                }
            }
            Output::ClearOutput { wait } => {
                ready.extend(self.flush());
                ready.push(self.child(cell, ClearOutput { wait }));
            }
            Output::Display { bundle, id } => {
                ready.extend(self.flush());
                ready.push(self.child(cell, display_data(bundle, id)));
            }
            Output::UpdateDisplay { bundle, id } => {
                ready.extend(self.flush());
                let update = UpdateDisplayData(display_data(bundle, Some(id)));
                ready.push(self.child(cell, update));
            }
            Output::Comm(message) => self.comm(cell, message, ready),
        }
    }

    /// A comm message of the runtime, under `cell`'s request.
    fn comm(&mut self, cell: Option<CellId>, message: CommMessage, ready: &mut Vec<Message>) {
        // After the text printed before it: an Output widget's capture
        // must not take what came earlier.
        ready.extend(self.flush());
        let published = match message {
            CommMessage::Open {
                comm_id,
                target_name,
                data,
                metadata,
            } => {
                self.comms.opened(&comm_id, &target_name);
                let open = CommOpen {
                    comm_id,
                    target_name,
                    target_module: None,
                    data,
                };
                let mut message = self.child(cell, open);
                message.metadata = metadata;
                message
            }
            CommMessage::Msg { comm_id, data } => self.child(cell, CommMsg { comm_id, data }),
            CommMessage::Close { comm_id, data } => {
                self.comms.closed(&comm_id);
                self.child(cell, CommClose { comm_id, data })
            }
            CommMessage::Capture { comm_id, active } => {
                // The Output widget shows the messages whose parent is `msg_id`.
                let msg_id = match (active, self.parent(cell)) {
                    (true, Some(parent)) => parent.header.msg_id.clone(),
                    _ => String::new(),
                };
                let data = serde_json::json!({
                    "method": "update",
                    "state": {"msg_id": msg_id},
                    "buffer_paths": [],
                });
                let data = data.as_object().cloned().unwrap_or_default();
                self.child(cell, CommMsg { comm_id, data })
            }
            CommMessage::WidgetManager => return,
        };
        ready.push(published);
    }

    /// The pending stream text as one message, if any.
    pub fn flush(&mut self) -> Option<Message> {
        let Pending { cell, name, text } = self.pending.take()?;
        Some(self.child(cell, Stream { name, text }))
    }

    /// The request of `cell` (or of the last cell, if it was forgotten).
    fn parent(&self, cell: Option<CellId>) -> Option<&Message> {
        cell.and_then(|cell| self.parents.get(&cell))
            .or_else(|| self.last.and_then(|last| self.parents.get(&last)))
    }

    /// A message under `cell`'s request (or the last cell's, if it was forgotten).
    fn child(&self, cell: Option<CellId>, content: impl Into<Content>) -> Message {
        match self.parent(cell) {
            Some(parent) => parent.child(content, &self.session),
            None => Message::new(content, &self.session),
        }
    }
}

/// Adds `output` to what is held: an update of a held display replaces what it shows.
fn hold(held: &mut Vec<Output>, output: Output) {
    if let Output::UpdateDisplay { bundle, id } = &output {
        let shown = held.iter_mut().find_map(|held| match held {
            Output::Display {
                bundle,
                id: Some(held_id),
            } if held_id == id => Some(bundle),
            _ => None,
        });
        if let Some(shown) = shown {
            *shown = bundle.clone();
            return;
        }
    }
    held.push(output);
}

fn display_data(bundle: MimeBundle, id: Option<String>) -> DisplayData {
    let mut transient = serde_json::Map::new();
    if let Some(id) = id {
        transient.insert("display_id".to_owned(), Value::String(id));
    }
    DisplayData {
        data: mime_bundle(bundle),
        metadata: Default::default(),
        transient,
    }
}

/// Engine bundles hold text; JSON types are sent as JSON values.
pub fn mime_bundle(bundle: MimeBundle) -> ferrokernel_protocol::MimeBundle {
    bundle
        .into_iter()
        .map(|(mime, text)| {
            let is_json = mime == "application/json" || mime.ends_with("+json");
            let value = if is_json {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            } else {
                Value::String(text)
            };
            (mime, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokernel_protocol::{Content, ExecuteRequest, Status};

    fn text(stream: StreamKind, text: &str) -> IopubEvent {
        IopubEvent::Output {
            from: None,
            output: Output::Stream {
                stream,
                text: text.to_owned(),
            },
        }
    }

    fn cell(n: u64, request: &Message) -> IopubEvent {
        IopubEvent::Cell {
            cell: CellId(n),
            request: Box::new(request.clone()),
        }
    }

    #[test]
    fn consecutive_stream_text_is_joined_and_flushed_before_other_messages() {
        let mut assembler = IopubAssembler::new("kernel", CommTable::default());
        let request = Message::new(ExecuteRequest::default(), "client");
        assert!(assembler.push(cell(1, &request)).is_empty());
        assert!(assembler.push(text(StreamKind::Stdout, "a\n")).is_empty());
        assert!(assembler.push(text(StreamKind::Stdout, "b\n")).is_empty());
        let switched = assembler.push(text(StreamKind::Stderr, "oops\n"));
        assert_eq!(switched.len(), 1);
        match &switched[0].content {
            Content::Stream(stream) => assert_eq!(stream.text, "a\nb\n"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            switched[0].parent_header.as_ref().map(|h| &h.msg_id),
            Some(&request.header.msg_id)
        );
        let idle = request.child(Status::idle(), "kernel");
        let sent = assembler.push(IopubEvent::Publish(Box::new(idle)));
        assert_eq!(sent.len(), 2, "pending stderr first, then the status");
        assert_eq!(sent[0].header.msg_type, "stream");
        assert_eq!(sent[1].header.msg_type, "status");
    }

    #[test]
    fn big_output_is_sent_at_once_and_intact() {
        let mut assembler = IopubAssembler::new("kernel", CommTable::default());
        let line = "x".repeat(5 * 1024 * 1024) + "\n";
        let sent = assembler.push(text(StreamKind::Stdout, &line));
        match &sent[..] {
            [message] => match &message.content {
                Content::Stream(stream) => assert_eq!(stream.text.len(), line.len()),
                other => panic!("unexpected {other:?}"),
            },
            other => panic!("expected one message, got {}", other.len()),
        }
    }

    #[test]
    fn headless_runners_get_a_display_with_an_id_once_in_its_final_state_in_its_place() {
        let bar = |text: &str| MimeBundle::from([("text/plain".to_owned(), text.to_owned())]);
        let events = |assembler: &mut IopubAssembler, request: Message| {
            let mut sent = Vec::new();
            sent.extend(assembler.push(cell(1, &request)));
            sent.extend(assembler.push(IopubEvent::Output {
                from: Some(CellId(1)),
                output: Output::Display {
                    bundle: bar("0/2"),
                    id: Some("bar".into()),
                },
            }));
            sent.extend(assembler.push(text(StreamKind::Stdout, "working\n")));
            for done in ["1/2", "2/2"] {
                sent.extend(assembler.push(IopubEvent::Output {
                    from: Some(CellId(1)),
                    output: Output::UpdateDisplay {
                        bundle: bar(done),
                        id: "bar".into(),
                    },
                }));
            }
            let idle = request.child(Status::idle(), "kernel");
            sent.extend(assembler.push(IopubEvent::Publish(Box::new(idle))));
            sent.iter()
                .map(|m| match &m.content {
                    Content::DisplayData(d) => format!("display {}", d.data["text/plain"]),
                    Content::UpdateDisplayData(d) => format!("update {}", d.0.data["text/plain"]),
                    Content::Stream(s) => format!("stream {:?}", s.text),
                    other => other.msg_type().to_owned(),
                })
                .collect::<Vec<_>>()
        };
        let headless = Message::new(
            ExecuteRequest {
                allow_stdin: false,
                ..ExecuteRequest::default()
            },
            "client",
        );
        assert_eq!(
            events(
                &mut IopubAssembler::new("kernel", CommTable::default()),
                headless
            ),
            ["display \"2/2\"", "stream \"working\\n\"", "status"]
        );
        let interactive = Message::new(ExecuteRequest::default(), "client");
        assert_eq!(
            events(
                &mut IopubAssembler::new("kernel", CommTable::default()),
                interactive
            ),
            [
                "display \"0/2\"",
                "stream \"working\\n\"",
                "update \"1/2\"",
                "update \"2/2\"",
                "status"
            ]
        );
    }

    #[test]
    fn late_output_goes_under_its_own_cell_while_another_runs() {
        let mut assembler = IopubAssembler::new("kernel", CommTable::default());
        let first = Message::new(ExecuteRequest::default(), "client");
        let second = Message::new(ExecuteRequest::default(), "client");
        assembler.push(cell(1, &first));
        assembler.push(cell(2, &second));
        let late = |from: u64, text: &str| IopubEvent::Output {
            from: Some(CellId(from)),
            output: Output::Stream {
                stream: StreamKind::Stdout,
                text: text.to_owned(),
            },
        };
        assert!(assembler.push(late(2, "second\n")).is_empty());
        let sent = assembler.push(late(1, "first, late\n"));
        let flushed: Vec<Message> = sent.into_iter().chain(assembler.flush()).collect();
        let parents: Vec<&str> = flushed
            .iter()
            .filter_map(|m| m.parent_header.as_ref().map(|h| h.msg_id.as_str()))
            .collect();
        assert_eq!(
            parents,
            [second.header.msg_id.as_str(), first.header.msg_id.as_str()]
        );
    }

    #[test]
    fn json_bundles_are_sent_as_json() {
        let bundle = MimeBundle::from([
            ("application/json".to_owned(), "{\"a\": 1}".to_owned()),
            ("text/plain".to_owned(), "{\"a\": 1}".to_owned()),
        ]);
        let converted = mime_bundle(bundle);
        assert_eq!(converted["application/json"]["a"], 1);
        assert!(converted["text/plain"].is_string());
    }

    #[test]
    fn comms_open_in_the_table_and_capture_points_at_the_cells_request() {
        let comms = CommTable::default();
        let mut assembler = IopubAssembler::new("kernel", comms.clone());
        let request = Message::new(ExecuteRequest::default(), "client");
        assembler.push(cell(1, &request));
        let metadata = serde_json::json!({"version": "2.1.0"});
        let open = CommMessage::Open {
            comm_id: "w1".into(),
            target_name: "jupyter.widget".into(),
            data: Default::default(),
            metadata: metadata.as_object().cloned().unwrap_or_default(),
        };
        let from = Some(CellId(1));
        let sent = assembler.push(IopubEvent::Output {
            from,
            output: Output::Comm(open),
        });
        assert_eq!(sent[0].header.msg_type, "comm_open");
        assert_eq!(
            sent[0].metadata.get("version"),
            Some(&serde_json::json!("2.1.0"))
        );
        assert!(comms.is_open("w1"));
        let capture = CommMessage::Capture {
            comm_id: "w1".into(),
            active: true,
        };
        let sent = assembler.push(IopubEvent::Output {
            from,
            output: Output::Comm(capture),
        });
        let Content::CommMsg(update) = &sent[0].content else {
            panic!("not a comm_msg: {sent:?}");
        };
        assert_eq!(
            update.data["state"]["msg_id"],
            request.header.msg_id.as_str()
        );
        let close = CommMessage::Close {
            comm_id: "w1".into(),
            data: Default::default(),
        };
        assembler.push(IopubEvent::Output {
            from,
            output: Output::Comm(close),
        });
        assert!(!comms.is_open("w1"));
    }
}

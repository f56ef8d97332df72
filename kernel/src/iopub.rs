//! What goes out on iopub: stream output coalesced into few messages, each
//! attributed to the request that is running (or ran last, for output that
//! arrives late from threads and child processes, as ipykernel does).
//!
//! Headless runners (nbval, nbconvert, papermill: they send `allow_stdin:
//! false`) store or compare outputs, and nbval ignores `update_display_data`.
//! So for them a display with an id (a progress bar) is held back, with
//! everything the cell shows after it, until the cell ends, and then sent once
//! in its final state, in its place: what they keep is the bar at its end, as
//! a person watching would last have seen it.

use ferrokernel_engine::{MimeBundle, Output, Publisher, StreamKind};
use ferrokernel_protocol::{
    ClearOutput, DisplayData, Message, Stream, StreamName, UpdateDisplayData,
};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// How long stream text may wait to be joined by more before it is sent.
pub const STREAM_FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Pending stream text larger than this is sent at once.
const STREAM_FLUSH_BYTES: usize = 64 * 1024;

/// An instruction for the iopub task.
#[derive(Debug)]
pub enum IopubEvent {
    /// Send this message (after any pending stream text).
    Publish(Box<Message>),
    /// Output from now on belongs to this request.
    Parent(Box<Message>),
    /// Engine output, attributed to the current parent.
    Output(Output),
}

/// The engine's [`Publisher`], feeding the iopub task.
#[derive(Debug, Clone)]
pub struct IopubPublisher(pub UnboundedSender<IopubEvent>);

impl Publisher for IopubPublisher {
    fn publish(&self, output: Output) {
        // A closed channel means the kernel is shutting down; output has nowhere to go.
        let _ = self.0.send(IopubEvent::Output(output));
    }
}

/// Turns events into messages, joining consecutive stream text.
#[derive(Debug)]
pub struct IopubAssembler {
    session: String,
    parent: Option<Message>,
    pending: Option<(StreamName, String)>,
    /// For a headless parent: outputs held since its first display with an id.
    held: Option<Vec<Output>>,
}

impl IopubAssembler {
    /// An assembler for messages of `session`.
    pub fn new(session: &str) -> IopubAssembler {
        IopubAssembler {
            session: session.to_owned(),
            parent: None,
            pending: None,
            held: None,
        }
    }

    /// Whether the current parent is a cell of a frontend that allows no
    /// input (a headless runner).
    fn headless(&self) -> bool {
        matches!(
            self.parent.as_ref().map(|p| &p.content),
            Some(ferrokernel_protocol::Content::ExecuteRequest(request)) if !request.allow_stdin
        )
    }

    /// Sends what was held, displays in their final state.
    fn release(&mut self, ready: &mut Vec<Message>) {
        for output in self.held.take().unwrap_or_default() {
            self.output(output, ready);
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
                self.release(&mut ready);
                ready.extend(self.flush());
                ready.push(*message);
            }
            IopubEvent::Parent(parent) => {
                self.release(&mut ready);
                ready.extend(self.flush());
                self.parent = Some(*parent);
            }
            IopubEvent::Output(output) => {
                if let Some(held) = self.held.as_mut() {
                    hold(held, output);
                } else if matches!(&output, Output::Display { id: Some(_), .. }) && self.headless()
                {
                    self.held = Some(vec![output]);
                } else {
                    self.output(output, &mut ready);
                }
            }
        }
        ready
    }

    fn output(&mut self, output: Output, ready: &mut Vec<Message>) {
        match output {
            Output::Stream { stream, text } => {
                let name = match stream {
                    StreamKind::Stdout => StreamName::Stdout,
                    StreamKind::Stderr => StreamName::Stderr,
                };
                match &mut self.pending {
                    Some((pending_name, pending)) if *pending_name == name => {
                        pending.push_str(&text)
                    }
                    _ => {
                        ready.extend(self.flush());
                        self.pending = Some((name, text));
                    }
                }
                if self
                    .pending
                    .as_ref()
                    .is_some_and(|(_, t)| t.len() >= STREAM_FLUSH_BYTES)
                {
                    ready.extend(self.flush());
                }
            }
            Output::ClearOutput { wait } => {
                ready.extend(self.flush());
                ready.push(self.child(ClearOutput { wait }));
            }
            Output::Display { bundle, id } => {
                ready.extend(self.flush());
                ready.push(self.child(display_data(bundle, id)));
            }
            Output::UpdateDisplay { bundle, id } => {
                ready.extend(self.flush());
                ready.push(self.child(UpdateDisplayData(display_data(bundle, Some(id)))));
            }
        }
    }

    /// The pending stream text as one message, if any.
    pub fn flush(&mut self) -> Option<Message> {
        let (name, text) = self.pending.take()?;
        Some(self.child(Stream { name, text }))
    }

    fn child(&self, content: impl Into<ferrokernel_protocol::Content>) -> Message {
        match &self.parent {
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
        IopubEvent::Output(Output::Stream {
            stream,
            text: text.to_owned(),
        })
    }

    #[test]
    fn consecutive_stream_text_is_joined_and_flushed_before_other_messages() {
        let mut assembler = IopubAssembler::new("kernel");
        let request = Message::new(ExecuteRequest::default(), "client");
        assert!(
            assembler
                .push(IopubEvent::Parent(Box::new(request.clone())))
                .is_empty()
        );
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
        let mut assembler = IopubAssembler::new("kernel");
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
            sent.extend(assembler.push(IopubEvent::Parent(Box::new(request.clone()))));
            sent.extend(assembler.push(IopubEvent::Output(Output::Display {
                bundle: bar("0/2"),
                id: Some("bar".into()),
            })));
            sent.extend(assembler.push(text(StreamKind::Stdout, "working\n")));
            for done in ["1/2", "2/2"] {
                sent.extend(assembler.push(IopubEvent::Output(Output::UpdateDisplay {
                    bundle: bar(done),
                    id: "bar".into(),
                })));
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
            events(&mut IopubAssembler::new("kernel"), headless),
            ["display \"2/2\"", "stream \"working\\n\"", "status"]
        );
        let interactive = Message::new(ExecuteRequest::default(), "client");
        assert_eq!(
            events(&mut IopubAssembler::new("kernel"), interactive),
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
    fn json_bundles_are_sent_as_json() {
        let bundle = MimeBundle::from([
            ("application/json".to_owned(), "{\"a\": 1}".to_owned()),
            ("text/plain".to_owned(), "{\"a\": 1}".to_owned()),
        ]);
        let converted = mime_bundle(bundle);
        assert_eq!(converted["application/json"]["a"], 1);
        assert!(converted["text/plain"].is_string());
    }
}

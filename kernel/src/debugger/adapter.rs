//! The debug adapter process (lldb-dap) and the Debug Adapter Protocol on
//! its stdin and stdout: `Content-Length` framed JSON, requests answered by
//! responses paired by `request_seq`, and events at any time.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use thiserror::Error;

/// A request to the adapter (or from the frontend).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Request {
    #[serde(default)]
    pub seq: i64,
    pub command: String,
    #[serde(default)]
    pub arguments: Value,
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Response {
    #[serde(default)]
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub request_seq: i64,
    pub success: bool,
    pub command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub body: Value,
}

impl Response {
    /// A success for `request` carrying `body`.
    pub(crate) fn success(request: &Request, body: Value) -> Response {
        Response {
            seq: 0,
            kind: "response".to_owned(),
            request_seq: request.seq,
            success: true,
            command: request.command.clone(),
            message: None,
            body,
        }
    }

    /// A failure for `request`, saying why.
    pub(crate) fn failure(request: &Request, message: impl Into<String>) -> Response {
        Response {
            success: false,
            message: Some(message.into()),
            ..Response::success(request, Value::Null)
        }
    }
}

/// Something the adapter tells without being asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Event {
    #[serde(default)]
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub event: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub body: Value,
}

impl Event {
    pub(crate) fn new(event: &str, body: Value) -> Event {
        Event {
            seq: 0,
            kind: "event".to_owned(),
            event: event.to_owned(),
            body,
        }
    }
}

/// What the adapter writes: told apart by `type` (which both keep).
#[derive(Debug)]
enum Incoming {
    Response(Response),
    Event(Event),
    Other,
}

impl Incoming {
    fn decode(frame: &[u8]) -> serde_json::Result<Incoming> {
        let message: Value = serde_json::from_slice(frame)?;
        Ok(match message.get("type").and_then(Value::as_str) {
            Some("response") => Incoming::Response(serde_json::from_value(message)?),
            Some("event") => Incoming::Event(serde_json::from_value(message)?),
            _ => Incoming::Other,
        })
    }
}

/// Why a request to the adapter got no answer.
#[derive(Debug, Error)]
pub(crate) enum AdapterError {
    #[error("cannot start the debug adapter {path}: {source}")]
    Start {
        path: String,
        source: std::io::Error,
    },
    #[error("the debug adapter is gone")]
    Gone,
    #[error("the debug adapter did not answer `{0}` in time")]
    Timeout(String),
}

/// How long an answer may take: attaching reads the runtime's symbols.
const ANSWER_LIMIT: Duration = Duration::from_secs(60);

type Pending = Arc<Mutex<HashMap<i64, mpsc::Sender<Response>>>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running lldb-dap.
pub(crate) struct Adapter {
    child: Mutex<Child>,
    stdin: Mutex<ChildStdin>,
    next_seq: AtomicI64,
    pending: Pending,
}

impl Adapter {
    /// Starts the adapter at `path`; its events go to `events`, and a last
    /// `adapterExited` event when it ends.
    pub(crate) fn start(path: &Path, events: mpsc::Sender<Event>) -> Result<Adapter, AdapterError> {
        let start_error = |source| AdapterError::Start {
            path: path.display().to_string(),
            source,
        };
        let mut child = Command::new(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(start_error)?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(start_error(std::io::Error::other("no pipes")));
        };
        let pending: Pending = Arc::default();
        let reader_pending = Arc::clone(&pending);
        std::thread::Builder::new()
            .name("fk-dap-reader".to_owned())
            .spawn(move || read_messages(BufReader::new(stdout), &reader_pending, &events))
            .map_err(start_error)?;
        Ok(Adapter {
            child: Mutex::new(child),
            stdin: Mutex::new(stdin),
            next_seq: AtomicI64::new(1),
            pending,
        })
    }

    /// Sends `command` and waits for its answer.
    pub(crate) fn request(
        &self,
        command: &str,
        arguments: Value,
    ) -> Result<Response, AdapterError> {
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        let (reply, answer) = mpsc::channel();
        lock(&self.pending).insert(seq, reply);
        let message = serde_json::json!({
            "seq": seq, "type": "request", "command": command, "arguments": arguments,
        });
        let body = message.to_string();
        let written = {
            let mut stdin = lock(&self.stdin);
            write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len())
                .and_then(|()| stdin.flush())
        };
        if written.is_err() {
            lock(&self.pending).remove(&seq);
            return Err(AdapterError::Gone);
        }
        match answer.recv_timeout(ANSWER_LIMIT) {
            Ok(response) => Ok(response),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                lock(&self.pending).remove(&seq);
                Err(AdapterError::Timeout(command.to_owned()))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(AdapterError::Gone),
        }
    }

    /// Ends the adapter (after `disconnect`, or when the kernel goes).
    pub(crate) fn stop(&self) {
        let mut child = lock(&self.child);
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Adapter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The reader thread: answers go to their waiters, events on.
fn read_messages(mut stdout: impl BufRead, pending: &Pending, events: &mpsc::Sender<Event>) {
    while let Some(frame) = read_frame(&mut stdout) {
        match Incoming::decode(&frame) {
            Ok(Incoming::Response(response)) => {
                if let Some(waiter) = lock(pending).remove(&response.request_seq) {
                    let _ = waiter.send(response);
                }
            }
            Ok(Incoming::Event(event)) => {
                if events.send(event).is_err() {
                    break;
                }
            }
            Ok(Incoming::Other) => {}
            Err(error) => tracing::warn!(%error, "a malformed message from the debug adapter"),
        }
    }
    // Waiters learn the adapter is gone when their senders drop.
    lock(pending).clear();
    let _ = events.send(Event::new("adapterExited", Value::Null));
}

/// One `Content-Length` framed message, or `None` at the end of the stream.
fn read_frame(stdout: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("Content-Length:") {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut frame = vec![0; length?];
    stdout.read_exact(&mut frame).ok()?;
    Some(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_whole_and_sorted_into_answers_and_events() {
        let frame = |json: &str| format!("Content-Length: {}\r\n\r\n{json}", json.len());
        let stream = frame(r#"{"type":"response","request_seq":3,"success":true,"command":"x"}"#)
            + &frame(r#"{"type":"event","event":"stopped","seq":9}"#);
        let pending: Pending = Arc::default();
        let (reply, answer) = mpsc::channel();
        lock(&pending).insert(3, reply);
        let (events, received) = mpsc::channel();
        read_messages(stream.as_bytes(), &pending, &events);
        assert_eq!(answer.recv().expect("answer").command, "x");
        assert_eq!(received.recv().expect("event").event, "stopped");
        assert_eq!(received.recv().expect("end").event, "adapterExited");
    }
}

//! Jupyter comms between a cell's runtime and the kernel: the one definition
//! of what travels each way.
//!
//! Runtime → kernel: a stdout line of [`COMM`](crate::notebook::protocol::COMM)
//! followed by a [`CommMessage`] as one line of JSON; the kernel publishes it
//! as `comm_open` / `comm_msg` / `comm_close` under the cell it came from. An
//! [`CommMessage::Capture`] asks the kernel to point an Output widget at that
//! cell's output (only the kernel knows Jupyter's message ids).
//!
//! Kernel → runtime: JSON lines of [`CommMessage`] on the pipe named by
//! [`COMM_FD_VAR`], read by one thread of the runtime at all times, so a
//! running cell sees what the frontend changed a moment ago.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Names the runtime's end of the pipe that carries the frontend's comm messages.
pub const COMM_FD_VAR: &str = "FERROKERNEL_COMM_FD";

/// One comm message, either way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum CommMessage {
    /// `comm_open`: a new comm for `target_name`.
    Open {
        /// The comm's id.
        comm_id: String,
        /// The handler the other side routes it to (`jupyter.widget`).
        target_name: String,
        /// The content's `data`.
        #[serde(default)]
        data: Map<String, Value>,
        /// The message's metadata (ipywidgets: `{"version": "2.1.0"}`).
        #[serde(default)]
        metadata: Map<String, Value>,
    },
    /// `comm_msg`.
    Msg {
        /// The comm's id.
        comm_id: String,
        /// The content's `data`.
        #[serde(default)]
        data: Map<String, Value>,
    },
    /// `comm_close`.
    Close {
        /// The comm's id.
        comm_id: String,
        /// The content's `data`.
        #[serde(default)]
        data: Map<String, Value>,
    },
    /// Runtime → kernel: from now (`active`) until told otherwise, the Output
    /// widget `comm_id` shows what the writing cell prints (the kernel sets the
    /// widget's `msg_id` to that cell's request id, or clears it).
    Capture {
        /// The Output widget's comm id.
        comm_id: String,
        /// Start or stop.
        active: bool,
    },
    /// Kernel → runtime: a frontend with a widget manager is connected (it
    /// asked which `jupyter.widget` comms exist), so progress bars may be widgets.
    WidgetManager,
}

impl CommMessage {
    /// The comm it concerns, if one.
    pub fn comm_id(&self) -> Option<&str> {
        match self {
            CommMessage::Open { comm_id, .. }
            | CommMessage::Msg { comm_id, .. }
            | CommMessage::Close { comm_id, .. }
            | CommMessage::Capture { comm_id, .. } => Some(comm_id),
            CommMessage::WidgetManager => None,
        }
    }

    /// The message as one line of JSON (no newline inside; none at the end).
    pub fn to_line(&self) -> String {
        // Maps with string keys and JSON values always serialize.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads one line of JSON.
    pub fn from_line(line: &str) -> Result<CommMessage, serde_json::Error> {
        serde_json::from_str(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_on_one_line() {
        let open = CommMessage::Open {
            comm_id: "abc".into(),
            target_name: "jupyter.widget".into(),
            data: serde_json::json!({"state": {"value": 5, "description": "a\nb"}})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            metadata: Map::new(),
        };
        let line = open.to_line();
        assert!(
            !line.contains('\n') && line.starts_with(r#"{"op":"open""#),
            "{line}"
        );
        assert_eq!(CommMessage::from_line(&line).ok(), Some(open));
        let manager = CommMessage::WidgetManager.to_line();
        assert_eq!(
            CommMessage::from_line(&manager).ok(),
            Some(CommMessage::WidgetManager)
        );
        assert!(CommMessage::from_line(r#"{"op":"msg"}"#).is_err());
    }
}

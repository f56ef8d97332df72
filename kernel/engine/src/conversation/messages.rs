//! What a kernel and its engine say to each other.

use super::EngineEnv;
use crate::{
    CellError, CellId, CommMessage, Completions, Debuggee, InputPrompt, MimeBundle, Output,
};
use serde::{Deserialize, Serialize};

/// Bumped whenever a message changes shape; both sides must agree (`Hello`).
pub const PROTOCOL_VERSION: u32 = 5;

/// Pairs an answer with its request: completions and cells may be in flight
/// at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u64);

/// From a kernel to its engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineRequest {
    /// The first message: the asker's [`PROTOCOL_VERSION`].
    Hello {
        /// Its version.
        protocol: u32,
    },
    /// The engine now belongs to this kernel, and takes on its working
    /// directory and environment. Output is sent only from then on.
    Claim {
        /// The kernel's environment.
        env: EngineEnv,
    },
    /// Run a cell; answered by [`EngineEvent::Executed`].
    Execute {
        /// Pairs the answer.
        id: RequestId,
        /// The kernel's number for the cell, which its output carries.
        cell: CellId,
        /// The code.
        code: String,
        /// Whether the cell may ask for input (else it reads empty lines).
        allow_input: bool,
    },
    /// Completions at a byte offset; answered by [`EngineEvent::Completed`].
    Complete {
        /// Pairs the answer.
        id: RequestId,
        /// The code.
        code: String,
        /// Byte offset.
        cursor: usize,
    },
    /// Documentation at a byte offset; answered by [`EngineEvent::Inspected`].
    Inspect {
        /// Pairs the answer.
        id: RequestId,
        /// The code.
        code: String,
        /// Byte offset.
        cursor: usize,
    },
    /// Forget every variable and definition; answered by [`EngineEvent::ResetDone`].
    Reset {
        /// Pairs the answer.
        id: RequestId,
    },
    /// Interrupt the running cell (handled at once, even while a cell runs).
    Interrupt,
    /// A comm message from the frontend for the runtime (handled at once,
    /// even while a cell runs).
    Comm {
        /// The message.
        message: CommMessage,
    },
    /// The answer to [`EngineEvent::InputRequest`] (`None`: no input possible).
    InputReply {
        /// The line typed.
        answer: Option<String>,
    },
    /// Build the next cells for a debugger (`on`) or not; answered by
    /// [`EngineEvent::Debugging`] at once, also while a cell runs.
    Debug {
        /// Pairs the answer.
        id: RequestId,
        /// Debug builds on or off.
        on: bool,
    },
    /// End every process the engine started, then the engine.
    Shutdown,
    /// The kernel is done with this engine and gives it back to its pool:
    /// answered at once by [`EngineEvent::Recycling`], the last event this
    /// kernel reads; the engine then makes itself fresh (or ends itself)
    /// and waits for the next kernel's `Hello`.
    Recycle,
    /// A message of a type this side does not know (a newer peer).
    #[serde(other)]
    Unknown,
}

/// From an engine to its kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineEvent {
    /// Answer to `Hello`: go on.
    Welcome {
        /// The serving process's id.
        pid: i32,
    },
    /// The conversation cannot go on, and why (a version mismatch, a bad message).
    Refused {
        /// A sentence for the log or the user.
        reason: String,
    },
    /// What the engine is doing while it starts.
    Progress {
        /// The phase, in a few words.
        phase: String,
    },
    /// The engine is ready for cells.
    Ready,
    /// The engine could not start; the serving side ends.
    StartFailed {
        /// Why.
        reason: String,
    },
    /// Output, sent as it is produced: of a running cell, or later of the
    /// threads and processes a cell started.
    Output {
        /// The cell it belongs to (`None`: nobody's, before any cell).
        cell: Option<CellId>,
        /// The output.
        output: Output,
    },
    /// The running cell asks for a line of input.
    InputRequest {
        /// What it asks.
        prompt: InputPrompt,
    },
    /// A cell finished.
    Executed {
        /// The request.
        id: RequestId,
        /// Its value or error.
        result: Result<Option<MimeBundle>, CellError>,
    },
    /// Answer to `Complete`.
    Completed {
        /// The request.
        id: RequestId,
        /// The completions.
        found: Completions,
    },
    /// Answer to `Inspect`.
    Inspected {
        /// The request.
        id: RequestId,
        /// The documentation, if any.
        found: Option<MimeBundle>,
    },
    /// Answer to `Debug`.
    Debugging {
        /// The request.
        id: RequestId,
        /// What to attach to (`None`: this engine cannot be debugged now).
        debuggee: Option<Debuggee>,
    },
    /// Answer to `Recycle`: nothing after it belongs to this kernel.
    Recycling,
    /// Answer to `Reset`.
    ResetDone {
        /// The request.
        id: RequestId,
        /// Whether it worked.
        result: Result<(), CellError>,
    },
    /// A message of a type this side does not know (a newer peer).
    #[serde(other)]
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_json_and_unknown_types_decode_as_unknown() {
        let request = EngineRequest::Execute {
            id: RequestId(7),
            cell: CellId(3),
            code: "1 + 1".into(),
            allow_input: false,
        };
        let json = serde_json::to_string(&request).expect("encode");
        assert!(json.starts_with(r#"{"type":"execute""#), "{json}");
        assert_eq!(
            serde_json::from_str::<EngineRequest>(&json).expect("decode"),
            request
        );
        let newer: EngineRequest =
            serde_json::from_str(r#"{"type":"telepathy","seq":1}"#).expect("decode");
        assert_eq!(newer, EngineRequest::Unknown);
        let newer: EngineEvent = serde_json::from_str(r#"{"type":"comm_msg"}"#).expect("decode");
        assert_eq!(newer, EngineEvent::Unknown);
    }
}

//! Message contents, one type per `msg_type`, gathered in [`Content`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A MIME bundle: `{"text/plain": "...", "text/html": "...", ...}`.
pub type MimeBundle = BTreeMap<String, Value>;

fn yes() -> bool {
    true
}

/// Outcome of a request, as every reply reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ReplyStatus {
    /// The request succeeded.
    #[default]
    Ok,
    /// The request failed; the reply carries `ename`, `evalue` and `traceback`.
    Error,
    /// The request was not run because an earlier cell failed.
    Aborted,
}

/// What went wrong, as carried by `error` messages and failed replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ErrorInfo {
    /// The error's name, e.g. `CompileError` or `Panic`.
    pub ename: String,
    /// The error's message.
    pub evalue: String,
    /// Lines a person reads to understand the error (may hold ANSI colour codes).
    pub traceback: Vec<String>,
}

/// `execute_request`: run a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteRequest {
    /// The cell's source.
    pub code: String,
    /// Run without broadcasting anything or counting the execution.
    #[serde(default)]
    pub silent: bool,
    /// Record the cell in the history and count it.
    #[serde(default = "yes")]
    pub store_history: bool,
    /// Expressions to evaluate after the cell (not supported for Rust; answered empty).
    #[serde(default)]
    pub user_expressions: Map<String, Value>,
    /// Whether the frontend answers `input_request`s.
    #[serde(default = "yes")]
    pub allow_stdin: bool,
    /// Whether a failure aborts the requests queued behind this one.
    #[serde(default = "yes")]
    pub stop_on_error: bool,
}

impl Default for ExecuteRequest {
    fn default() -> Self {
        ExecuteRequest {
            code: String::new(),
            silent: false,
            store_history: true,
            user_expressions: Map::new(),
            allow_stdin: true,
            stop_on_error: true,
        }
    }
}

/// `execute_reply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteReply {
    /// ok, error or aborted.
    pub status: ReplyStatus,
    /// The execution counter after this request.
    pub execution_count: u32,
    /// Always empty: Rust cells have no user expressions.
    #[serde(default)]
    pub user_expressions: Map<String, Value>,
    /// Always empty: no pager or next-input payloads.
    #[serde(default)]
    pub payload: Vec<Value>,
    /// Present when `status` is error.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

/// `kernel_info_request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct KernelInfoRequest {}

/// A link shown in the frontend's help menu.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HelpLink {
    /// The menu text.
    pub text: String,
    /// Where it points.
    pub url: String,
}

/// The language the kernel runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanguageInfo {
    /// `rust`.
    pub name: String,
    /// The rustc version.
    pub version: String,
    /// `text/rust`.
    pub mimetype: String,
    /// `.rs`.
    pub file_extension: String,
    /// Lexer for syntax highlighting in exports. Optional in the spec.
    #[serde(default)]
    pub pygments_lexer: String,
    /// Editor mode in the notebook. Optional in the spec.
    #[serde(default)]
    pub codemirror_mode: String,
    /// nbconvert exporter for "download as". Optional in the spec.
    #[serde(default)]
    pub nbconvert_exporter: String,
}

/// `kernel_info_reply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelInfoReply {
    /// Always ok.
    pub status: ReplyStatus,
    /// The messaging protocol version.
    pub protocol_version: String,
    /// The kernel's name.
    pub implementation: String,
    /// The kernel's version.
    pub implementation_version: String,
    /// The language it runs.
    pub language_info: LanguageInfo,
    /// Shown by consoles at start. Optional in the spec.
    #[serde(default)]
    pub banner: String,
    /// Help menu entries. Optional in the spec.
    #[serde(default)]
    pub help_links: Vec<HelpLink>,
    /// Whether the kernel implements the debug protocol. Optional in the spec.
    #[serde(default)]
    pub debugger: bool,
    /// Optional protocol features the kernel offers (`"kernel subshells"`).
    #[serde(default)]
    pub supported_features: Vec<String>,
}

/// `complete_request`: what could follow the cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompleteRequest {
    /// The cell's source.
    pub code: String,
    /// Cursor position in unicode code points.
    pub cursor_pos: usize,
}

/// `complete_reply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompleteReply {
    /// Always ok.
    pub status: ReplyStatus,
    /// Candidate replacements for `code[cursor_start..cursor_end]`.
    pub matches: Vec<String>,
    /// Start of the replaced range (code points).
    pub cursor_start: usize,
    /// End of the replaced range (code points).
    pub cursor_end: usize,
    /// Extra information, unused.
    pub metadata: Map<String, Value>,
}

/// `inspect_request`: what is the thing under the cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectRequest {
    /// The cell's source.
    pub code: String,
    /// Cursor position in unicode code points.
    pub cursor_pos: usize,
    /// 0 or 1; more detail for 1.
    #[serde(default)]
    pub detail_level: u8,
}

/// `inspect_reply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectReply {
    /// Always ok.
    pub status: ReplyStatus,
    /// Whether anything was found.
    pub found: bool,
    /// The documentation as a MIME bundle.
    pub data: MimeBundle,
    /// Extra information, unused.
    pub metadata: Map<String, Value>,
}

/// `is_complete_request`: would this code run as it is?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsCompleteRequest {
    /// The code typed so far.
    pub code: String,
}

/// Verdict of an `is_complete_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Completeness {
    /// Ready to run.
    Complete,
    /// More lines are expected.
    Incomplete,
    /// Cannot become valid by adding lines.
    Invalid,
    /// The kernel cannot tell.
    Unknown,
}

/// `is_complete_reply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsCompleteReply {
    /// The verdict.
    pub status: Completeness,
    /// For incomplete code: the indentation of the next line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indent: Option<String>,
}

/// How a `history_request` selects entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HistAccess {
    /// The last `n` entries.
    Tail,
    /// Entries `start..stop` of a session.
    Range,
    /// Entries matching a glob pattern.
    Search,
}

/// `history_request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRequest {
    /// Include outputs.
    #[serde(default)]
    pub output: bool,
    /// Raw input (no transformation; the same for Rust).
    #[serde(default)]
    pub raw: bool,
    /// tail, range or search.
    pub hist_access_type: HistAccess,
    /// For range: the session number (0 or negative means this session).
    #[serde(default)]
    pub session: Option<i64>,
    /// For range: the first line.
    #[serde(default)]
    pub start: Option<i64>,
    /// For range: one past the last line.
    #[serde(default)]
    pub stop: Option<i64>,
    /// For tail and search: how many entries at most.
    #[serde(default)]
    pub n: Option<i64>,
    /// For search: a glob pattern (`*` and `?`).
    #[serde(default)]
    pub pattern: Option<String>,
    /// For search: drop duplicate inputs.
    #[serde(default)]
    pub unique: bool,
}

/// One history entry: `[session, line, input]` or `[session, line, [input, output]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HistoryEntry {
    /// Input only.
    Input(i64, u32, String),
    /// Input and its text output, if any.
    InputOutput(i64, u32, (String, Option<String>)),
}

/// `history_reply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryReply {
    /// Always ok.
    pub status: ReplyStatus,
    /// The selected entries, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// `comm_info_request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CommInfoRequest {
    /// Only comms for this target, if given.
    #[serde(default)]
    pub target_name: Option<String>,
}

/// One open comm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommInfo {
    /// The comm's target.
    pub target_name: String,
}

/// `comm_info_reply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommInfoReply {
    /// Always ok.
    pub status: ReplyStatus,
    /// Open comms by id.
    pub comms: BTreeMap<String, CommInfo>,
}

/// `comm_open`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommOpen {
    /// The comm's id.
    pub comm_id: String,
    /// The handler it asks for.
    pub target_name: String,
    /// Where the target is defined, if the sender says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_module: Option<String>,
    /// Initial data.
    #[serde(default)]
    pub data: Map<String, Value>,
}

/// `comm_msg`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommMsg {
    /// The comm's id.
    pub comm_id: String,
    /// The payload.
    #[serde(default)]
    pub data: Map<String, Value>,
}

/// `comm_close`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommClose {
    /// The comm's id.
    pub comm_id: String,
    /// Final data.
    #[serde(default)]
    pub data: Map<String, Value>,
}

/// `shutdown_request` / `shutdown_reply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ShutdownRequest {
    /// Whether the kernel will be restarted.
    #[serde(default)]
    pub restart: bool,
}

/// `shutdown_reply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShutdownReply {
    /// Always ok.
    pub status: ReplyStatus,
    /// Echoes the request.
    pub restart: bool,
}

/// `interrupt_request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct InterruptRequest {}

/// A reply that only reports a status (`interrupt_reply`) or an error (unknown requests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReply {
    /// ok or error.
    pub status: ReplyStatus,
    /// Present when `status` is error.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

/// `input_request`, sent on stdin when a cell reads a line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRequest {
    /// Text shown before the input box.
    pub prompt: String,
    /// Hide what is typed.
    #[serde(default)]
    pub password: bool,
}

/// `input_reply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputReply {
    /// The line the user typed.
    pub value: String,
}

/// The kernel's state, broadcast on iopub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionState {
    /// Working on a request.
    Busy,
    /// Waiting for requests.
    Idle,
    /// Starting up.
    Starting,
}

/// `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// busy, idle or starting.
    pub execution_state: ExecutionState,
}

impl Status {
    /// `status: busy`.
    pub fn busy() -> Status {
        Status {
            execution_state: ExecutionState::Busy,
        }
    }
    /// `status: idle`.
    pub fn idle() -> Status {
        Status {
            execution_state: ExecutionState::Idle,
        }
    }
    /// `status: starting`.
    pub fn starting() -> Status {
        Status {
            execution_state: ExecutionState::Starting,
        }
    }
}

/// Which output stream a `stream` message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamName {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// `stream`: text a cell printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stream {
    /// stdout or stderr.
    pub name: StreamName,
    /// The text, newlines included.
    pub text: String,
}

/// `execute_input`: the code being run, rebroadcast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteInput {
    /// The cell's source.
    pub code: String,
    /// The execution counter for this cell.
    pub execution_count: u32,
}

/// `execute_result`: the value of a cell's final expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteResult {
    /// The execution counter for this cell.
    pub execution_count: u32,
    /// The value as a MIME bundle.
    pub data: MimeBundle,
    /// Per-MIME metadata.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// `display_data`: rich output shown while a cell runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisplayData {
    /// The output as a MIME bundle.
    pub data: MimeBundle,
    /// Per-MIME metadata.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Data not stored in the notebook (e.g. display ids).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub transient: Map<String, Value>,
}

/// `update_display_data`: new content for an earlier display with the same
/// `transient.display_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UpdateDisplayData(pub DisplayData);

/// `clear_output`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ClearOutput {
    /// Wait for the next output before clearing.
    #[serde(default)]
    pub wait: bool,
}

/// `create_subshell_request` (JEP 91), on control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CreateSubshellRequest {}

/// `create_subshell_reply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateSubshellReply {
    /// Always ok.
    pub status: ReplyStatus,
    /// The new subshell's id.
    pub subshell_id: String,
}

/// `delete_subshell_request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteSubshellRequest {
    /// Which subshell.
    pub subshell_id: String,
}

/// `delete_subshell_reply`: ok, or an error for an unknown id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeleteSubshellReply(pub StatusReply);

/// `list_subshell_request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ListSubshellRequest {}

/// `list_subshell_reply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListSubshellReply {
    /// Always ok.
    pub status: ReplyStatus,
    /// The ids of the subshells (not the main shell).
    pub subshell_id: Vec<String>,
}

/// `debug_request`: one Debug Adapter Protocol request (its own `seq`,
/// `command`, `arguments`), which the kernel's debugger reads with its own types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DebugRequest(pub Value);

/// `debug_reply`: the Debug Adapter Protocol response to a `debug_request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DebugReply(pub Value);

/// `debug_event`: a Debug Adapter Protocol event, on iopub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DebugEvent(pub Value);

/// A message type this crate does not model, kept as raw JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownContent {
    /// The `msg_type` from the header.
    pub msg_type: String,
    /// The content as sent.
    pub content: Value,
}

macro_rules! contents {
    ($($variant:ident($ty:ty) = $name:literal,)*) => {
        /// The content of a message, one variant per `msg_type`.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum Content {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant($ty),
            )*
            /// Anything else; answered gracefully or logged, never a panic.
            Unknown(UnknownContent),
        }

        impl Content {
            /// The `msg_type` that goes in the header.
            pub fn msg_type(&self) -> &str {
                match self {
                    $(Content::$variant(_) => $name,)*
                    Content::Unknown(unknown) => &unknown.msg_type,
                }
            }

            /// Decodes `json` as the content of a `msg_type` message.
            pub fn decode(msg_type: &str, json: &[u8]) -> Result<Content, serde_json::Error> {
                Ok(match msg_type {
                    $($name => Content::$variant(serde_json::from_slice(json)?),)*
                    _ => Content::Unknown(UnknownContent {
                        msg_type: msg_type.to_owned(),
                        content: serde_json::from_slice(json)?,
                    }),
                })
            }

            /// Encodes the content as JSON.
            pub fn encode(&self) -> Vec<u8> {
                // Our content types hold only strings, numbers, maps with string
                // keys and JSON values, so serialization cannot fail.
                let encoded = match self {
                    $(Content::$variant(content) => serde_json::to_vec(content),)*
                    Content::Unknown(unknown) => serde_json::to_vec(&unknown.content),
                };
                encoded.unwrap_or_else(|_| b"{}".to_vec())
            }
        }

        $(
            impl From<$ty> for Content {
                fn from(content: $ty) -> Content {
                    Content::$variant(content)
                }
            }
        )*
    };
}

contents! {
    ExecuteRequest(ExecuteRequest) = "execute_request",
    ExecuteReply(ExecuteReply) = "execute_reply",
    KernelInfoRequest(KernelInfoRequest) = "kernel_info_request",
    KernelInfoReply(Box<KernelInfoReply>) = "kernel_info_reply",
    CompleteRequest(CompleteRequest) = "complete_request",
    CompleteReply(CompleteReply) = "complete_reply",
    InspectRequest(InspectRequest) = "inspect_request",
    InspectReply(InspectReply) = "inspect_reply",
    IsCompleteRequest(IsCompleteRequest) = "is_complete_request",
    IsCompleteReply(IsCompleteReply) = "is_complete_reply",
    HistoryRequest(HistoryRequest) = "history_request",
    HistoryReply(HistoryReply) = "history_reply",
    CommInfoRequest(CommInfoRequest) = "comm_info_request",
    CommInfoReply(CommInfoReply) = "comm_info_reply",
    CommOpen(CommOpen) = "comm_open",
    CommMsg(CommMsg) = "comm_msg",
    CommClose(CommClose) = "comm_close",
    ShutdownRequest(ShutdownRequest) = "shutdown_request",
    CreateSubshellRequest(CreateSubshellRequest) = "create_subshell_request",
    CreateSubshellReply(CreateSubshellReply) = "create_subshell_reply",
    DeleteSubshellRequest(DeleteSubshellRequest) = "delete_subshell_request",
    DeleteSubshellReply(DeleteSubshellReply) = "delete_subshell_reply",
    ListSubshellRequest(ListSubshellRequest) = "list_subshell_request",
    ListSubshellReply(ListSubshellReply) = "list_subshell_reply",
    ShutdownReply(ShutdownReply) = "shutdown_reply",
    InterruptRequest(InterruptRequest) = "interrupt_request",
    InterruptReply(StatusReply) = "interrupt_reply",
    InputRequest(InputRequest) = "input_request",
    InputReply(InputReply) = "input_reply",
    Status(Status) = "status",
    Stream(Stream) = "stream",
    ExecuteInput(ExecuteInput) = "execute_input",
    ExecuteResult(ExecuteResult) = "execute_result",
    DisplayData(DisplayData) = "display_data",
    UpdateDisplayData(UpdateDisplayData) = "update_display_data",
    Error(ErrorInfo) = "error",
    ClearOutput(ClearOutput) = "clear_output",
    DebugRequest(DebugRequest) = "debug_request",
    DebugReply(DebugReply) = "debug_reply",
    DebugEvent(DebugEvent) = "debug_event",
}

impl From<KernelInfoReply> for Content {
    fn from(reply: KernelInfoReply) -> Content {
        Content::KernelInfoReply(Box::new(reply))
    }
}

impl Content {
    /// An error reply for a request this kernel does not handle: `foo_request`
    /// is answered by `foo_reply` with status error. `None` for non-requests.
    pub fn unknown_request_reply(msg_type: &str) -> Option<Content> {
        let error = ErrorInfo {
            ename: "UnknownMessageType".to_owned(),
            evalue: format!("ferrokernel does not handle {msg_type}"),
            traceback: Vec::new(),
        };
        Content::error_reply(msg_type, error)
    }

    /// The reply to a `foo_request` that failed with `error`: `foo_reply`
    /// with status error. `None` for non-requests.
    pub fn error_reply(msg_type: &str, error: ErrorInfo) -> Option<Content> {
        let stem = msg_type.strip_suffix("_request")?;
        let reply = StatusReply {
            status: ReplyStatus::Error,
            error: Some(error),
        };
        Some(Content::Unknown(UnknownContent {
            msg_type: format!("{stem}_reply"),
            content: serde_json::to_value(reply).unwrap_or(Value::Null),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_stays_small() {
        // Boxing the big variants keeps every message cheap to move around.
        assert!(
            std::mem::size_of::<Content>() <= 160,
            "{}",
            std::mem::size_of::<Content>()
        );
    }

    #[test]
    fn execute_request_defaults_follow_the_spec() {
        let content = Content::decode("execute_request", br#"{"code": "1"}"#).expect("valid");
        let Content::ExecuteRequest(request) = content else {
            panic!("wrong variant");
        };
        assert!(request.store_history && request.allow_stdin && request.stop_on_error);
        assert!(!request.silent);
    }

    #[test]
    fn error_reply_flattens_error_fields() {
        let reply = ExecuteReply {
            status: ReplyStatus::Error,
            execution_count: 3,
            user_expressions: Map::new(),
            payload: Vec::new(),
            error: Some(ErrorInfo {
                ename: "Panic".into(),
                evalue: "boom".into(),
                traceback: vec!["boom".into()],
            }),
        };
        let json: Value = serde_json::from_slice(&Content::from(reply).encode()).expect("json");
        assert_eq!(json["status"], "error");
        assert_eq!(json["ename"], "Panic");
        assert_eq!(json["traceback"][0], "boom");
    }

    #[test]
    fn unknown_types_are_kept_and_requests_get_error_replies() {
        let content = Content::decode("usage_request", b"{}").expect("valid json");
        assert_eq!(content.msg_type(), "usage_request");
        let reply = Content::unknown_request_reply("usage_request").expect("a request");
        assert_eq!(reply.msg_type(), "usage_reply");
        assert!(Content::unknown_request_reply("comm_open").is_none());
    }

    #[test]
    fn history_entries_serialize_as_arrays() {
        let entries = vec![
            HistoryEntry::Input(1, 2, "x".into()),
            HistoryEntry::InputOutput(1, 3, ("y".into(), Some("4".into()))),
        ];
        let json = serde_json::to_string(&entries).expect("json");
        assert_eq!(json, r#"[[1,2,"x"],[1,3,["y","4"]]]"#);
    }
}

use serde::{Deserialize, Serialize};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: &str = "5.5";

/// A message header: who sent what, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Unique id of this message.
    pub msg_id: String,
    /// Unique id of the sending session.
    pub session: String,
    /// The user name, informational.
    #[serde(default)]
    pub username: String,
    /// ISO 8601 timestamp; kept as text because clients differ in precision.
    #[serde(default)]
    pub date: String,
    /// What the content is, e.g. `execute_request`.
    pub msg_type: String,
    /// Protocol version of the sender.
    #[serde(default)]
    pub version: String,
    /// The kernel subshell a shell or stdin request is for (JEP 91); absent
    /// for the main shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subshell_id: Option<String>,
}

/// A fresh unique id (a UUID v4): for messages, sessions and subshells.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Header {
    /// A fresh header for a message of `msg_type` sent from `session`.
    pub fn new(msg_type: &str, session: &str) -> Header {
        Header {
            msg_id: new_id(),
            session: session.to_owned(),
            username: "ferrokernel".to_owned(),
            date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            msg_type: msg_type.to_owned(),
            version: PROTOCOL_VERSION.to_owned(),
            subshell_id: None,
        }
    }
}

use thiserror::Error;

/// Why an incoming multipart message was rejected.
///
/// Every variant means the message is dropped unexecuted; the kernel logs it
/// and goes on serving.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// No `<IDS|MSG>` frame separates the routing identities from the message.
    #[error("no <IDS|MSG> delimiter among the {frames} frames")]
    MissingDelimiter {
        /// How many frames arrived.
        frames: usize,
    },
    /// Fewer than the five frames (signature, header, parent, metadata, content) follow the delimiter.
    #[error(
        "expected signature, header, parent_header, metadata and content after the delimiter, got {found} frames"
    )]
    MissingFrames {
        /// How many frames followed the delimiter.
        found: usize,
    },
    /// The signature does not match the message (or is not valid hex).
    #[error("invalid HMAC signature")]
    BadSignature,
    /// A frame that must be JSON is not, or does not have the expected shape.
    #[error("invalid JSON in the {part} frame: {source}")]
    Json {
        /// Which frame: header, parent_header, metadata or content.
        part: &'static str,
        /// The parser's complaint.
        source: serde_json::Error,
    },
    /// The connection file could not be read.
    #[error("cannot read connection file {path}: {source}")]
    ConnectionFile {
        /// The path given.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The connection file is not valid JSON of the expected shape.
    #[error("invalid connection file {path}: {source}")]
    ConnectionFileFormat {
        /// The path given.
        path: String,
        /// The parser's complaint.
        source: serde_json::Error,
    },
    /// The connection file names a signature scheme other than hmac-sha256.
    #[error("unsupported signature scheme {0:?} (only hmac-sha256 is supported)")]
    UnsupportedSignatureScheme(String),
}

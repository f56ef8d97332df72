//! Frames on the wire: `[identities…, "<IDS|MSG>", signature, header, parent_header, metadata, content, buffers…]`.

use crate::content::Content;
use crate::error::ProtocolError;
use crate::header::Header;
use crate::signer::Signer;
use serde_json::{Map, Value};

/// The frame that separates routing identities from the message proper.
pub const DELIMITER: &[u8] = b"<IDS|MSG>";

/// One Jupyter message, decoded.
#[derive(Debug, Clone)]
pub struct Message {
    /// Routing identities (ROUTER sockets) of the peer, echoed on replies.
    pub identities: Vec<Vec<u8>>,
    /// This message's header.
    pub header: Header,
    /// The header of the request this message answers, if any.
    pub parent_header: Option<Header>,
    /// Free-form metadata.
    pub metadata: Map<String, Value>,
    /// The typed content, chosen by `header.msg_type`.
    pub content: Content,
    /// Binary buffers after the content frame.
    pub buffers: Vec<Vec<u8>>,
}

impl Message {
    /// A new message with no parent, e.g. the kernel's first `status: starting`.
    pub fn new(content: impl Into<Content>, session: &str) -> Message {
        let content = content.into();
        Message {
            identities: Vec::new(),
            header: Header::new(content.msg_type(), session),
            parent_header: None,
            metadata: Map::new(),
            content,
            buffers: Vec::new(),
        }
    }

    /// A message caused by `self`: same routing identities, `self`'s header as
    /// parent, and the same subshell.
    pub fn child(&self, content: impl Into<Content>, session: &str) -> Message {
        let mut message = Message::new(content, session);
        message.identities.clone_from(&self.identities);
        message.parent_header = Some(self.header.clone());
        message
            .header
            .subshell_id
            .clone_from(&self.header.subshell_id);
        message
    }

    /// Decodes and verifies frames received from a socket.
    pub fn from_frames<F: AsRef<[u8]>>(
        frames: &[F],
        signer: &Signer,
    ) -> Result<Message, ProtocolError> {
        let delimiter = frames
            .iter()
            .position(|frame| frame.as_ref() == DELIMITER)
            .ok_or(ProtocolError::MissingDelimiter {
                frames: frames.len(),
            })?;
        let rest = &frames[delimiter + 1..];
        let [signature, header, parent, metadata, content, buffers @ ..] = rest else {
            return Err(ProtocolError::MissingFrames { found: rest.len() });
        };
        let parts = [
            header.as_ref(),
            parent.as_ref(),
            metadata.as_ref(),
            content.as_ref(),
        ];
        if !signer.verify(signature.as_ref(), parts) {
            return Err(ProtocolError::BadSignature);
        }
        let header: Header = parse("header", header.as_ref())?;
        let parent: Value = parse("parent_header", parent.as_ref())?;
        let parent_header = match parent {
            Value::Object(ref map) if map.is_empty() => None,
            Value::Null => None,
            other => Some(
                serde_json::from_value(other).map_err(|source| ProtocolError::Json {
                    part: "parent_header",
                    source,
                })?,
            ),
        };
        let metadata = parse("metadata", metadata.as_ref())?;
        let content = Content::decode(&header.msg_type, content.as_ref()).map_err(|source| {
            ProtocolError::Json {
                part: "content",
                source,
            }
        })?;
        Ok(Message {
            identities: frames[..delimiter]
                .iter()
                .map(|frame| frame.as_ref().to_vec())
                .collect(),
            header,
            parent_header,
            metadata,
            content,
            buffers: buffers.iter().map(|b| b.as_ref().to_vec()).collect(),
        })
    }

    /// Encodes and signs this message into frames for a socket.
    pub fn to_frames(&self, signer: &Signer) -> Vec<Vec<u8>> {
        let header = to_json(&self.header);
        let parent = match &self.parent_header {
            Some(parent) => to_json(parent),
            None => b"{}".to_vec(),
        };
        let metadata = to_json(&self.metadata);
        let content = self.content.encode();
        let signature = signer.sign([&header, &parent, &metadata, &content]);
        let mut frames = Vec::with_capacity(self.identities.len() + 6 + self.buffers.len());
        frames.extend(self.identities.iter().cloned());
        frames.push(DELIMITER.to_vec());
        frames.push(signature.into_bytes());
        frames.extend([header, parent, metadata, content]);
        frames.extend(self.buffers.iter().cloned());
        frames
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    part: &'static str,
    bytes: &[u8],
) -> Result<T, ProtocolError> {
    serde_json::from_slice(bytes).map_err(|source| ProtocolError::Json { part, source })
}

/// Serializing our own plain data types cannot fail: they have string keys and no
/// fallible `Serialize` impls.
fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{ExecuteRequest, KernelInfoRequest};

    fn signed_request(signer: &Signer) -> Vec<Vec<u8>> {
        let mut request = Message::new(
            ExecuteRequest {
                code: "1 + 1".into(),
                ..ExecuteRequest::default()
            },
            "client",
        );
        request.identities = vec![b"peer".to_vec()];
        request.to_frames(signer)
    }

    #[test]
    fn round_trip_keeps_identities_and_content() {
        let signer = Signer::new(b"key");
        let frames = signed_request(&signer);
        let message = Message::from_frames(&frames, &signer).expect("valid message");
        assert_eq!(message.identities, vec![b"peer".to_vec()]);
        assert_eq!(message.header.msg_type, "execute_request");
        match message.content {
            Content::ExecuteRequest(request) => assert_eq!(request.code, "1 + 1"),
            other => panic!("unexpected content {other:?}"),
        }
    }

    #[test]
    fn forged_and_malformed_messages_are_rejected() {
        let signer = Signer::new(b"key");
        let mut frames = signed_request(&signer);
        let last = frames.len() - 1;
        frames[last] = br#"{"code": "evil()"}"#.to_vec();
        assert!(matches!(
            Message::from_frames(&frames, &signer),
            Err(ProtocolError::BadSignature)
        ));
        let no_delimiter: Vec<Vec<u8>> = vec![b"a".to_vec(), b"b".to_vec()];
        assert!(matches!(
            Message::from_frames(&no_delimiter, &signer),
            Err(ProtocolError::MissingDelimiter { .. })
        ));
        let short = &signed_request(&signer)[..4];
        assert!(matches!(
            Message::from_frames(short, &signer),
            Err(ProtocolError::MissingFrames { .. })
        ));
        let unsigned = Signer::new(b"");
        let mut bad_json = signed_request(&unsigned);
        bad_json[3] = b"{not json".to_vec();
        assert!(matches!(
            Message::from_frames(&bad_json, &unsigned),
            Err(ProtocolError::Json { part: "header", .. })
        ));
    }

    #[test]
    fn replies_are_children_of_their_request() {
        let request = Message::new(KernelInfoRequest {}, "client");
        let reply = request.child(crate::content::Status::busy(), "kernel");
        assert_eq!(
            reply.parent_header.as_ref().map(|h| h.msg_id.as_str()),
            Some(request.header.msg_id.as_str())
        );
        assert_eq!(reply.header.msg_type, "status");
    }
}

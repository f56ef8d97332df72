//! The Jupyter messaging protocol (version 5.3) as typed Rust values.
//!
//! This crate knows nothing of sockets or engines: it turns the frames of a
//! multipart message into a [`Message`] (checking the HMAC signature) and back.
//! Transport lives in the kernel binary, execution behind the engine trait.

mod connection;
mod content;
mod error;
mod header;
mod signer;
mod wire;

pub use connection::{ConnectionInfo, Transport};
pub use content::*;
pub use error::ProtocolError;
pub use header::{Header, PROTOCOL_VERSION, new_id};
pub use signer::Signer;
pub use wire::{DELIMITER, Message};

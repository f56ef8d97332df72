//! The pipe that takes the frontend's comm messages to the runtime, where the
//! prelude's widgets read it on a thread of their own (see
//! `ferrokernel_prelude::comm`).
//!
//! Made with the runtime control pipe, before evcxr starts the runtime, so
//! every runtime (also one restarted after a crash) inherits its read end.
//! Writes go through a thread of their own: the engine's request reader hands
//! a message over and goes on, even when the runtime is stopped or gone.

use crate::{CommInbox, CommMessage};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Mutex, OnceLock, PoisonError};

pub(crate) use ferrokernel_prelude::comm::COMM_FD_VAR;

/// Messages waiting for the runtime before new ones are dropped: a runtime
/// that takes none of them is not reading at all (stopped, or between runs).
const WAITING_LIMIT: usize = 4096;

/// The engine's end of the pipe.
pub(crate) struct RuntimeComms {
    pipe: Mutex<Option<std::fs::File>>,
    writer: OnceLock<SyncSender<String>>,
}

impl std::fmt::Debug for RuntimeComms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeComms").finish_non_exhaustive()
    }
}

impl RuntimeComms {
    /// Takes the pipe's write end.
    pub(crate) fn new(write_end: OwnedFd) -> RuntimeComms {
        RuntimeComms {
            pipe: Mutex::new(Some(std::fs::File::from(write_end))),
            writer: OnceLock::new(),
        }
    }

    /// The writer thread's queue, started on first use.
    fn writer(&self) -> Option<&SyncSender<String>> {
        if let Some(writer) = self.writer.get() {
            return Some(writer);
        }
        let pipe = self
            .pipe
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        let (queue, lines) = std::sync::mpsc::sync_channel::<String>(WAITING_LIMIT);
        let spawned = std::thread::Builder::new()
            .name("fk-comms".into())
            .spawn(move || {
                let mut pipe = pipe;
                for line in lines {
                    if let Err(error) = pipe.write_all(line.as_bytes()) {
                        tracing::warn!(%error, "cannot reach the runtime's comm pipe");
                        return;
                    }
                }
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the comm writer");
            return None;
        }
        Some(self.writer.get_or_init(|| queue))
    }
}

impl CommInbox for RuntimeComms {
    fn deliver(&self, message: &CommMessage) {
        let Some(writer) = self.writer() else {
            return;
        };
        let line = format!("{}\n", message.to_line());
        match writer.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!("the runtime reads no comm messages: one dropped")
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::warn!("the comm pipe is closed: a message dropped")
            }
        }
    }
}

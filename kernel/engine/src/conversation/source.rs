//! Where a kernel's engine comes from: a pool's spare, a host process of its
//! own, or a thread of this process.

use super::serve::{StartEngine, spawn_in_process};
use std::os::unix::net::UnixStream;

/// A socket to a serving engine, before the `Hello`.
pub struct Connection {
    /// The kernel's end.
    pub socket: UnixStream,
    /// The engine's process, when it is a child of ours (for its exit status).
    pub child: Option<std::process::Child>,
    /// Whether the engine had finished starting when it was handed over.
    pub ready: bool,
}

/// Makes connections to engines; asked again when an engine died.
pub trait EngineSource: Send {
    /// A new engine; `attempt` counts the engines asked for before, so a source
    /// can fall back (a pool's spare first, then one of its own).
    fn connect(
        &mut self,
        attempt: u32,
    ) -> Result<Connection, Box<dyn std::error::Error + Send + Sync>>;

    /// Whether the engine served by process `pid` can be given back
    /// ([`EngineSource::give_back`]) instead of shut down.
    fn takes_back(&self, pid: i32) -> bool {
        let _ = pid;
        false
    }

    /// Gives back the engine served by process `pid`, which was asked to
    /// `Recycle`, with the kernel's end of its socket; says why not when it
    /// could not (the engine then ends when the socket closes).
    fn give_back(
        &mut self,
        socket: UnixStream,
        pid: i32,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        drop(socket);
        Err(format!("engine {pid} has nowhere to go back to").into())
    }
}

/// An engine on a thread of this process, made once: `ferrokernel run` and
/// `test`, install's warm-up, and tests. (The evcxr engine restarts its own
/// runtime after a crash; its serve loop does not end with it.)
pub struct InProcessSource(Option<StartEngine>);

impl InProcessSource {
    /// A source serving the engine `start` makes.
    pub fn new(start: StartEngine) -> InProcessSource {
        InProcessSource(Some(start))
    }
}

impl EngineSource for InProcessSource {
    fn connect(
        &mut self,
        _attempt: u32,
    ) -> Result<Connection, Box<dyn std::error::Error + Send + Sync>> {
        let start = self
            .0
            .take()
            .ok_or("the engine of this process has ended")?;
        Ok(Connection {
            socket: spawn_in_process(start)?,
            child: None,
            ready: false,
        })
    }
}

//! The engine room: what runs a cell.
//!
//! The kernel talks to an [`Engine`] and never to evcxr directly, so the
//! protocol layer can be tested with [`fake::FakeEngine`]. Output produced
//! while a cell runs (or afterwards, by its threads and child processes) goes
//! to the [`Publisher`] the engine was created with.

mod blocks;
mod cell_build;
pub mod cell_commands;
mod cell_error;
pub mod completeness;
pub mod conversation;
mod debug_build;
mod evcxr_engine;
pub mod fake;
mod labels;
mod markers;
pub mod memory;
mod origins;
mod prelude_source;
pub mod procs;
pub mod runtime;
mod runtime_comms;
mod runtime_control;
pub mod toolchain;
mod workdir;

pub use cell_error::{CellError, Diagnostic, DiagnosticLine, Label};
pub use debug_build::{DebugSwitch, Debuggee};
pub use evcxr_engine::{
    EngineOptions, EvcxrEngine, PrepareError, Prepared, SetupError, StartError, prepare_environment,
};
pub use ferrokernel_prelude::comm::CommMessage;
pub use prelude_source::{rust_sources as prelude_sources, unpacked_dir as prelude_dir};
pub use toolchain::{Toolchain, ToolchainError};
pub use workdir::{Workdir, WorkdirError};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Output in several representations, keyed by MIME type (`text/plain`, `text/html`, ...).
pub type MimeBundle = BTreeMap<String, String>;

/// Which stream a piece of text was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamKind {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Something a cell (or a process it started) produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Output {
    /// Text, one or more whole lines, newlines included.
    Stream {
        /// stdout or stderr.
        stream: StreamKind,
        /// The text.
        text: String,
    },
    /// Rich output shown while the cell runs (`display_data`). With an `id`,
    /// later [`Output::UpdateDisplay`]s with that id replace it in place.
    Display {
        /// The output, by MIME type.
        bundle: MimeBundle,
        /// The display id (Jupyter's `transient.display_id`).
        id: Option<String>,
    },
    /// Replaces what the display with this id shows (`update_display_data`).
    UpdateDisplay {
        /// The new output.
        bundle: MimeBundle,
        /// Which display.
        id: String,
    },
    /// Clear the cell's output so far (at the next output, when `wait`).
    ClearOutput {
        /// Wait for new output before clearing.
        wait: bool,
    },
    /// A comm message from the runtime (a widget opened, changed, closed).
    Comm(CommMessage),
}

/// Which cell a request ran, as the kernel numbers them: output is published
/// under the cell that produced it, also when it arrives after the cell ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CellId(pub u64);

impl std::fmt::Display for CellId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cell {}", self.0)
    }
}

/// Receives output as it is produced, from any thread.
pub trait Publisher: Send + Sync {
    /// Publishes one piece of output of cell `from`; `None` before any cell
    /// ran (start-up and warm-up), which is nobody's.
    fn publish(&self, from: Option<CellId>, output: Output);
}

/// A request from a running cell for a line of input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputPrompt {
    /// The text shown before the input box.
    pub prompt: String,
    /// Hide what is typed.
    pub password: bool,
}

/// Answers a cell's input requests; `None` when the frontend does not allow input.
pub type InputReader<'a> = &'a mut dyn FnMut(InputPrompt) -> Option<String>;

/// Candidate completions for `code[start..end]` (byte offsets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completions {
    /// The replacements.
    pub matches: Vec<String>,
    /// Start of the replaced range, in bytes.
    pub start: usize,
    /// End of the replaced range, in bytes.
    pub end: usize,
}

impl Completions {
    /// No completions, for a cursor at byte offset `cursor`.
    pub fn none_at(cursor: usize) -> Completions {
        Completions {
            matches: Vec::new(),
            start: cursor,
            end: cursor,
        }
    }
}

/// Stops the cell that is running, from another thread.
pub trait Interrupt: Send + Sync {
    /// Asks the running cell to stop; does nothing when no cell runs.
    fn interrupt(&self);
}

/// Takes the frontend's comm messages to the runtime, from any thread, also
/// while a cell runs (so the cell sees a slider moved a moment ago).
pub trait CommInbox: Send + Sync {
    /// Passes `message` on; a runtime that cannot take it now loses it (logged).
    fn deliver(&self, message: &CommMessage);
}

/// Why an engine cannot serve another kernel (see [`Engine::recycle`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecycleRefused {
    /// This kind of engine is never reused.
    #[error("this engine is not reused")]
    Unsupported,
    /// A cell changed what a fresh engine would not have.
    #[error("a cell changed the engine itself ({0})")]
    Changed(String),
    /// Making it fresh failed.
    #[error("could not make the engine fresh: {0}")]
    Failed(String),
}

/// What runs cells. One engine serves one kernel, on one thread.
pub trait Engine {
    /// Runs `cell` and returns the value of its final expression, if it has one.
    /// Output is published while the cell runs; everything the cell printed before
    /// it finished has been published when this returns. What its threads and
    /// processes print later is published under `cell` too, where the engine
    /// can tell, else under the cell that ran last (as ipykernel does).
    fn execute(
        &mut self,
        cell: CellId,
        code: &str,
        input: InputReader<'_>,
    ) -> Result<Option<MimeBundle>, CellError>;

    /// Completions at byte offset `cursor`.
    fn complete(&mut self, code: &str, cursor: usize) -> Completions;

    /// Documentation or the type of the name at byte offset `cursor`, if known.
    fn inspect(&mut self, code: &str, cursor: usize) -> Option<MimeBundle>;

    /// Forgets every variable and definition, as a fresh kernel would start
    /// (used between notebooks; keeps what was compiled).
    fn reset(&mut self) -> Result<(), CellError>;

    /// Makes the engine what a freshly started one is, for the next kernel:
    /// ends every process it started, replaces the runtime, forgets variables,
    /// definitions and the environment it took on, and keeps what was
    /// compiled. Refused when that cannot be promised (a `:dep` changed what
    /// every cell links): the engine is then thrown away.
    fn recycle(&mut self) -> Result<(), RecycleRefused> {
        Err(RecycleRefused::Unsupported)
    }

    /// A handle that interrupts this engine's running cell from another thread.
    fn interrupter(&self) -> Arc<dyn Interrupt>;

    /// A handle that takes comm messages to the runtime from another thread;
    /// `None` for an engine without comms.
    fn comm_inbox(&self) -> Option<Arc<dyn CommInbox>> {
        None
    }

    /// A handle that turns debug builds on and off from another thread;
    /// `None` for an engine that cannot be debugged.
    fn debug_switch(&self) -> Option<Arc<dyn DebugSwitch>> {
        None
    }

    /// Ends every process this engine started. Called before the kernel exits.
    fn shutdown(&mut self);

    /// Does once, ahead of time, the slow work a first cell would otherwise
    /// wait for (type inference, completion data). For engines made in advance.
    fn warm_up(&mut self) {}

    /// Moves the running cells into `cwd` and applies environment changes
    /// (`None` removes a variable): an engine made in advance takes on the
    /// directory and environment of the kernel that claims it.
    fn set_environment(
        &mut self,
        cwd: &std::path::Path,
        changes: &[(String, Option<String>)],
    ) -> Result<(), CellError> {
        let _ = (cwd, changes);
        Ok(())
    }
}

//! Why a `ferrokernel` command failed: one error type for every command,
//! printed by `main` as `ferrokernel: <message>`.
//!
//! Most variants wrap the typed error of the library that failed and print
//! its message unchanged; the rest are the commands' own outcomes (a cell
//! failed, a warm-up cell failed).

use ferrokernel::doctor::DoctorError;
use ferrokernel::install::InstallError;
use ferrokernel::notebook::commands::CommandError;
use ferrokernel::notebook::run::StartFailed;
use ferrokernel::transport::TransportError;
use ferrokernel_engine::{CellError, PrepareError};
use ferrokernel_pool::client::{HostError, PoolError};
use ferrokernel_pool::place::PlaceError;
use ferrokernel_pool::server::ServerError;
use ferrokernel_protocol::ProtocolError;
use std::path::PathBuf;
use thiserror::Error;

/// Why a command failed.
#[derive(Debug, Error)]
pub(crate) enum CliError {
    /// The connection file Jupyter wrote could not be read.
    #[error(transparent)]
    Connection(#[from] ProtocolError),
    /// No way to start an engine host (no binary path).
    #[error(transparent)]
    Host(#[from] HostError),
    /// tokio's runtime did not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The kernel's sockets could not be served.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// evcxr's environment could not be prepared.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// The engine of `run`, `test` or `install` did not start.
    #[error(transparent)]
    EngineStart(#[from] StartFailed),
    /// `run`/`test` could not read or write a notebook.
    #[error(transparent)]
    Notebook(#[from] CommandError),
    /// `run`: a cell failed.
    #[error("a cell failed")]
    CellFailed,
    /// `test`: cells' outputs differed from the stored ones.
    #[error("{failed} of {total} cells failed")]
    CellsFailed {
        /// How many failed.
        failed: usize,
        /// How many were compared.
        total: usize,
    },
    /// `install`/`uninstall`: the kernelspec could not be written or removed.
    #[error(transparent)]
    Install(#[from] InstallError),
    /// `install`'s warm-up cell failed.
    #[error("the warm-up cell failed: {0}")]
    WarmUp(CellError),
    /// `doctor` found something broken.
    #[error(transparent)]
    Doctor(#[from] DoctorError),
    /// The pool's directory could not be used.
    #[error(transparent)]
    Place(#[from] PlaceError),
    /// The pool did not answer as it should.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// `pool serve` could not listen.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// `pool serve`: this process's options (its binary, its directory).
    #[error(transparent)]
    ServerOptions(std::io::Error),
    /// `pool serve --daemon`: the pool's log file could not be opened.
    #[error("cannot open {path}: {source}")]
    Log {
        /// The log file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// `pool serve --daemon`: the fork failed.
    #[error(transparent)]
    Fork(nix::Error),
    /// `pool status --json`: the status could not be written as JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

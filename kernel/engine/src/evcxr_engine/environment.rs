//! The process environment evcxr starts in: its work directory, a private
//! config directory, the unpacked prelude and the pipes to the runtime, set up
//! with `set_var` while the process still has one thread.

use super::library_path::runtime_library_path;
use crate::runtime_comms::{self, RuntimeComms};
use crate::{Workdir, WorkdirError, prelude_source, runtime_control};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// Prepares the process environment for evcxr: its work directory (a persistent
/// slot, so dependency builds survive restarts), a private config directory (so a
/// user's own evcxr set-up does not leak in) and the unpacked prelude.
///
/// # Safety
/// Sets environment variables, so it must run while the process has one thread
/// (first thing in `main`, right after [`crate::runtime::hook`]).
pub unsafe fn prepare_environment(cache_root: &Path) -> Result<Prepared, PrepareError> {
    let workdir = Workdir::acquire(cache_root)?;
    let (control, control_fd) = runtime_control::create().map_err(|source| PrepareError::Io {
        path: PathBuf::from("a pipe to the runtime"),
        source,
    })?;
    let (comms, comms_fd) = runtime_control::create().map_err(|source| PrepareError::Io {
        path: PathBuf::from("a comm pipe to the runtime"),
        source,
    })?;
    let config_dir = cache_root.join("evcxr-config");
    std::fs::create_dir_all(&config_dir).map_err(|source| PrepareError::Io {
        path: config_dir.clone(),
        source,
    })?;
    let prelude = prelude_source::unpack(cache_root).map_err(|source| PrepareError::Io {
        path: cache_root.to_owned(),
        source,
    })?;
    let library_path = runtime_library_path();
    // SAFETY: the caller guarantees the process is single-threaded.
    let cell_builds = unsafe { crate::cell_build::prepare(workdir.path()) };
    // SAFETY: the caller guarantees the process is single-threaded.
    unsafe {
        std::env::set_var("EVCXR_TMPDIR", workdir.path());
        std::env::set_var("EVCXR_CONFIG_DIR", &config_dir);
        std::env::set_var(runtime_control::CONTROL_FD_VAR, control_fd.to_string());
        std::env::set_var(runtime_comms::COMM_FD_VAR, comms_fd.to_string());
        if let Some(path) = library_path {
            std::env::set_var("LD_LIBRARY_PATH", path);
        }
    }
    Ok(Prepared {
        workdir,
        cell_builds,
        prelude,
        control: std::fs::File::from(control),
        comms: Arc::new(RuntimeComms::new(comms)),
    })
}

/// What [`prepare_environment`] made ready for one engine: its locked work
/// directory, the unpacked prelude, and the pipe to its runtime.
#[derive(Debug)]
pub struct Prepared {
    /// Held for its lock: no other engine builds in this directory.
    workdir: Workdir,
    /// Cells are built by rustc alone while only the cell changes (see
    /// [`crate::cell_build`]).
    pub(super) cell_builds: bool,
    pub(super) prelude: PathBuf,
    pub(super) control: std::fs::File,
    /// The frontend's comm messages go to the runtime through it.
    pub(super) comms: Arc<RuntimeComms>,
}

impl Prepared {
    /// The engine's own work directory.
    pub fn workdir(&self) -> &Path {
        self.workdir.path()
    }

    /// The prelude crate's directory.
    pub fn prelude(&self) -> &Path {
        &self.prelude
    }
}

/// Why the environment could not be prepared.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// No work directory.
    #[error(transparent)]
    Workdir(#[from] WorkdirError),
    /// The cache directory is not writable.
    #[error("cannot write {path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

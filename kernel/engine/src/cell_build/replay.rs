//! A recorded build run again: rustc alone, then what cargo does after it
//! that evcxr relies on.
//!
//! rustc's diagnostics go to evcxr as they are (JSON lines on stderr, which
//! evcxr reads with or without cargo's wrapping). On success the library is
//! linked from `deps/` to the profile directory under the crate's plain name,
//! as cargo's "uplift" does, and its path is written where evcxr looks for
//! it first (`EVCXR_EXECUTION_SO_PATH`), else printed as cargo's artifact message.

use super::exit_code;
use super::record::Invocation;
use crate::debug_build::CELL_CRATE;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use thiserror::Error;

/// Where evcxr wants the built library's path written.
const SO_PATH_VAR: &str = "EVCXR_EXECUTION_SO_PATH";

/// Why a recorded build could not be run (cargo then builds the cell).
#[derive(Debug, Error)]
pub(super) enum ReplayError {
    #[error("the recorded command has no --out-dir")]
    NoOutDir,
    #[error("cannot run {rustc}: {source}")]
    Spawn {
        rustc: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot link {library} to {uplifted}: {source}")]
    Uplift {
        library: PathBuf,
        uplifted: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot tell evcxr where the library is: {0}")]
    Report(std::io::Error),
}

/// Runs the recorded command; its exit code (a compile error is a normal
/// outcome, for evcxr to read).
pub(super) fn run(invocation: &Invocation) -> Result<i32, ReplayError> {
    let out_dir = invocation
        .value_of("--out-dir")
        .map(Path::new)
        .ok_or(ReplayError::NoOutDir)?;
    let status = Command::new(&invocation.rustc)
        .args(&invocation.args)
        .env_clear()
        .envs(invocation.env.iter().map(|(name, value)| (name, value)))
        .current_dir(&invocation.dir)
        .status()
        .map_err(|source| ReplayError::Spawn {
            rustc: invocation.rustc.clone(),
            source,
        })?;
    if status.success() {
        report(&uplift(out_dir)?)?;
    }
    Ok(exit_code(status))
}

/// `deps/libctx.so` linked as `libctx.so` one directory up, as cargo does.
fn uplift(out_dir: &Path) -> Result<PathBuf, ReplayError> {
    let name = format!("lib{CELL_CRATE}.so");
    let library = out_dir.join(&name);
    let uplifted = out_dir.parent().unwrap_or(out_dir).join(&name);
    let link = || -> std::io::Result<()> {
        match std::fs::remove_file(&uplifted) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        std::fs::hard_link(&library, &uplifted)
            .or_else(|_| std::fs::copy(&library, &uplifted).map(drop))
    };
    link().map_err(|source| ReplayError::Uplift {
        library: library.clone(),
        uplifted: uplifted.clone(),
        source,
    })?;
    Ok(uplifted)
}

fn report(library: &Path) -> Result<(), ReplayError> {
    if let Some(file) = std::env::var_os(SO_PATH_VAR) {
        return std::fs::write(file, library.as_os_str().as_encoded_bytes())
            .map_err(ReplayError::Report);
    }
    let message = Artifact {
        reason: "compiler-artifact",
        target: Target { name: CELL_CRATE },
        filenames: [library],
    };
    let line =
        serde_json::to_string(&message).map_err(|error| ReplayError::Report(error.into()))?;
    println!("{line}");
    Ok(())
}

/// The part of cargo's artifact message evcxr reads.
#[derive(Serialize)]
struct Artifact<'a> {
    reason: &'static str,
    target: Target,
    filenames: [&'a Path; 1],
}

#[derive(Serialize)]
struct Target {
    name: &'static str,
}

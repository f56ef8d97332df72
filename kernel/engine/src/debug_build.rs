//! Cells compiled for a debugger.
//!
//! evcxr writes every cell to the same `src/lib.rs` and strips debug info.
//! While a debugger is attached, the engine sets this binary as cargo's
//! `RUSTC_WORKSPACE_WRAPPER` (which wraps the cell crate only, so the
//! prelude and its dependencies keep their compiled form). [`wrap_rustc_if_asked`]
//! then keeps a copy of the generated source under a name of its own and
//! adds debug info, no optimisation, and a path remap to that copy: a
//! debugger sees each cell's library point at its own file, never at the
//! shared `src/lib.rs` that the next cell overwrites.

use serde::{Deserialize, Serialize};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set (through cargo) for the wrapper: the directory of the sources kept.
pub(crate) const SOURCES_VAR: &str = "FERROKERNEL_DEBUG_SOURCES";

/// The crate evcxr compiles every cell into.
pub(crate) const CELL_CRATE: &str = "ctx";

/// What a debugger attaches to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Debuggee {
    /// The runtime process, which loads and runs the cells.
    pub pid: i32,
    /// Where the generated source of each cell compiled for debugging is kept.
    pub sources: PathBuf,
}

/// Turns debug builds on and off from any thread, also while a cell runs
/// (the change applies from the next cell on).
pub trait DebugSwitch: Send + Sync {
    /// Cells compiled from now on carry debug info (`on`) or not; says what
    /// to attach to (`None` while there is no runtime).
    fn set(&self, on: bool) -> Option<Debuggee>;
}

/// The evcxr engine's switch: the wish, read by the engine before each cell.
pub(crate) struct DebugBuilds {
    wanted: AtomicBool,
    sources: PathBuf,
    runtime_pid: Arc<dyn Fn() -> i32 + Send + Sync>,
}

impl DebugBuilds {
    pub(crate) fn new(
        sources: PathBuf,
        runtime_pid: Arc<dyn Fn() -> i32 + Send + Sync>,
    ) -> DebugBuilds {
        DebugBuilds {
            wanted: AtomicBool::new(false),
            sources,
            runtime_pid,
        }
    }

    pub(crate) fn wanted(&self) -> bool {
        self.wanted.load(Ordering::SeqCst)
    }

    /// The `:build_env` commands that make cargo build the next cells as
    /// `on` says.
    pub(crate) fn build_env_commands(&self, on: bool) -> Vec<String> {
        let (wrapper, sources) = if on {
            let wrapper = std::env::current_exe().unwrap_or_default();
            (
                wrapper.display().to_string(),
                self.sources.display().to_string(),
            )
        } else {
            // Empty is unset for cargo, and for the wrapper.
            (String::new(), String::new())
        };
        vec![
            format!(":build_env RUSTC_WORKSPACE_WRAPPER={wrapper}"),
            format!(":build_env {SOURCES_VAR}={sources}"),
        ]
    }
}

impl DebugSwitch for DebugBuilds {
    fn set(&self, on: bool) -> Option<Debuggee> {
        self.wanted.store(on, Ordering::SeqCst);
        if on && let Err(error) = std::fs::create_dir_all(&self.sources) {
            tracing::warn!(%error, dir = %self.sources.display(), "cannot make the debug sources directory");
        }
        let pid = (self.runtime_pid)();
        (pid > 0).then(|| Debuggee {
            pid,
            sources: self.sources.clone(),
        })
    }
}

/// Called first thing in `main`: when cargo runs this binary as the cell
/// crate's compiler wrapper, runs the compiler (never returns).
pub(crate) fn wrap_rustc_if_asked() {
    let Some(sources) = std::env::var_os(SOURCES_VAR).filter(|dir| !dir.is_empty()) else {
        return;
    };
    let mut args = std::env::args_os().skip(1);
    let Some(rustc) = args.next() else {
        return;
    };
    let mut args: Vec<OsString> = args.collect();
    if crate_name(&args) == Some(OsStr::new(CELL_CRATE)) {
        match keep_source(&args, Path::new(&sources)) {
            Ok(Some((given, kept))) => args.extend(debug_flags(&given, &kept)),
            Ok(None) => {}
            Err(error) => eprintln!("ferrokernel: the cell is built without debug info: {error}"),
        }
    }
    let error = std::os::unix::process::CommandExt::exec(
        std::process::Command::new(&rustc)
            .args(&args)
            .env_remove(SOURCES_VAR),
    );
    eprintln!(
        "ferrokernel: cannot run {}: {error}",
        Path::new(&rustc).display()
    );
    std::process::exit(1);
}

/// The `--crate-name` of a rustc command.
pub(crate) fn crate_name(args: &[OsString]) -> Option<&OsStr> {
    args.windows(2)
        .find(|pair| pair[0] == "--crate-name")
        .map(|pair| pair[1].as_os_str())
}

/// Copies the crate's source file into `sources` under a name made of its
/// content: returns the path as rustc was given it and the copy's path.
fn keep_source(args: &[OsString], sources: &Path) -> std::io::Result<Option<(OsString, PathBuf)>> {
    let Some(given) = args
        .iter()
        .find(|arg| Path::new(arg).extension() == Some(OsStr::new("rs")))
    else {
        return Ok(None);
    };
    let code = std::fs::read(given)?;
    std::fs::create_dir_all(sources)?;
    let kept = sources.join(format!("cell-{:016x}.rs", fnv1a(&code)));
    std::fs::write(&kept, &code)?;
    Ok(Some((given.clone(), kept)))
}

/// Later `-C` options win over cargo's (`opt-level`, `strip`, `debuginfo`).
fn debug_flags(given: &OsStr, kept: &Path) -> Vec<OsString> {
    let mut remap = OsString::from("--remap-path-prefix=");
    remap.push(given);
    remap.push("=");
    remap.push(kept);
    ["-Cdebuginfo=2", "-Cstrip=none", "-Copt-level=0"]
        .into_iter()
        .map(OsString::from)
        .chain([remap])
        .collect()
}

/// A stable 64-bit content hash (names only; not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn only_the_cell_crate_is_kept_and_remapped_to_its_copy() {
        let dir = std::env::temp_dir().join(format!("fk-debug-build-{}", std::process::id()));
        let src = dir.join("lib.rs");
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(&src, "pub fn f() {}\n").expect("write");
        let args = os(&[
            "--crate-name",
            "ctx",
            "--edition=2024",
            src.to_str().expect("utf-8"),
        ]);
        assert_eq!(crate_name(&args), Some(OsStr::new("ctx")));
        let (given, kept) = keep_source(&args, &dir.join("kept"))
            .expect("kept")
            .expect("a source");
        assert_eq!(
            std::fs::read_to_string(&kept).expect("read"),
            "pub fn f() {}\n"
        );
        let flags = debug_flags(&given, &kept);
        assert!(flags.contains(&OsString::from("-Cdebuginfo=2")));
        let remap = format!("--remap-path-prefix={}={}", src.display(), kept.display());
        assert!(flags.contains(&OsString::from(remap)));
        assert_eq!(
            crate_name(&os(&["--crate-name", "nix"])),
            Some(OsStr::new("nix"))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

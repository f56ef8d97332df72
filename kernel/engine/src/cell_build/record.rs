//! The cell crate's rustc command, as cargo ran it, and the plan kept beside
//! the build.
//!
//! During a recording build this binary is cargo's `RUSTC_WORKSPACE_WRAPPER`
//! (which wraps workspace members only: the cell crate, never a dependency,
//! so their compiled forms stay as they are). It writes down the compiler,
//! arguments, environment and directory cargo gave the cell crate, then
//! becomes that compiler.

use super::RECORD_VAR;
use super::key::{Key, Stamps};
use crate::debug_build::{CELL_CRATE, crate_name};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Cargo's variables that name things of that one cargo run (its jobserver):
/// left out, rustc then runs its own.
const PER_RUN_VARS: [&str; 3] = ["CARGO_MAKEFLAGS", "MAKEFLAGS", "MFLAGS"];

/// How cargo ran rustc for the cell crate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Invocation {
    pub(super) rustc: PathBuf,
    pub(super) args: Vec<String>,
    pub(super) env: Vec<(String, String)>,
    pub(super) dir: PathBuf,
}

impl Invocation {
    pub(super) fn load(path: &Path) -> Option<Invocation> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// The value following `flag` (`--out-dir DIR`).
    pub(super) fn value_of(&self, flag: &str) -> Option<&str> {
        self.args
            .windows(2)
            .find(|pair| pair[0] == flag)
            .map(|pair| pair[1].as_str())
    }

    /// Each `--extern name=path` artifact.
    pub(super) fn externs(&self) -> impl Iterator<Item = &Path> {
        self.args
            .windows(2)
            .filter(|pair| pair[0] == "--extern")
            .filter_map(|pair| pair[1].split_once('=').map(|(_, path)| Path::new(path)))
    }
}

/// What a build may be replayed from: valid while `key` and `stamps` hold.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Plan {
    pub(super) key: Key,
    pub(super) stamps: Stamps,
    pub(super) invocation: Invocation,
}

impl Plan {
    pub(super) fn load(path: &Path) -> Option<Plan> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// Written whole or not at all.
    pub(super) fn save(&self, path: &Path) -> std::io::Result<()> {
        let fresh = path.with_extension("new");
        std::fs::write(&fresh, serde_json::to_vec(self)?)?;
        std::fs::rename(fresh, path)
    }
}

/// The wrapper's job (never returns): records the cell crate's command when
/// it is one we can replay (a `cdylib`, every argument UTF-8), then runs
/// rustc as cargo asked.
pub(super) fn record_and_run_rustc(record: &Path) -> ! {
    let mut args = std::env::args_os().skip(1);
    let rustc = PathBuf::from(args.next().unwrap_or_default());
    let args: Vec<OsString> = args.collect();
    if crate_name(&args) == Some(std::ffi::OsStr::new(CELL_CRATE))
        && let Some(invocation) = invocation(&rustc, &args)
        && let Ok(json) = serde_json::to_vec(&invocation)
    {
        // A failed write only means the next build goes through cargo again.
        let _ = std::fs::write(record, json);
    }
    let error = std::os::unix::process::CommandExt::exec(
        std::process::Command::new(&rustc)
            .args(&args)
            .env_remove(RECORD_VAR),
    );
    eprintln!("ferrokernel: cannot run {}: {error}", rustc.display());
    std::process::exit(1);
}

fn invocation(rustc: &Path, args: &[OsString]) -> Option<Invocation> {
    let args: Vec<String> = args
        .iter()
        .map(|arg| arg.to_str().map(str::to_owned))
        .collect::<Option<_>>()?;
    let cdylib = args
        .windows(2)
        .any(|pair| pair[0] == "--crate-type" && pair[1] == "cdylib");
    if !cdylib {
        return None;
    }
    let env = std::env::vars()
        .filter(|(name, _)| {
            name != RECORD_VAR
                && name != "RUSTC_WORKSPACE_WRAPPER"
                && !PER_RUN_VARS.contains(&name.as_str())
        })
        .collect();
    Some(Invocation {
        rustc: rustc.to_owned(),
        args,
        env,
        dir: std::env::current_dir().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_cdylib_with_utf8_arguments_is_recorded() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        let cell = args(&[
            "--crate-name",
            "ctx",
            "--crate-type",
            "cdylib",
            "--out-dir",
            "/t/deps",
            "--extern",
            "ferrokernel_prelude=/t/deps/libferrokernel_prelude-1.rlib",
        ]);
        let recorded = invocation(Path::new("/bin/rustc"), &cell).expect("recorded");
        assert_eq!(recorded.value_of("--out-dir"), Some("/t/deps"));
        assert_eq!(
            recorded.externs().collect::<Vec<_>>(),
            [Path::new("/t/deps/libferrokernel_prelude-1.rlib")]
        );
        assert!(
            recorded
                .env
                .iter()
                .all(|(name, _)| name != "CARGO_MAKEFLAGS")
        );
        assert!(invocation(Path::new("/bin/rustc"), &args(&["--crate-type", "rlib"])).is_none());
    }
}

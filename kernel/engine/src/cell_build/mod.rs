//! Cells built by rustc alone while only the cell changes.
//!
//! evcxr builds every cell with `cargo build`. With the prelude in the graph
//! (~45 packages, ~70 units), cargo's own work around the one crate that
//! changed — resolving, checking every unit, uplifting — costs about as much
//! as rustc compiling the cell: measured here, 210 ms for `cargo build`
//! against 115 ms for the same rustc command run alone. So the first build,
//! and the first after anything but the cell changed, runs cargo and records
//! the cell crate's rustc command ([`record`]); the builds after it, while
//! nothing but the cell's source changed, run that command themselves
//! ([`replay`]).
//!
//! How evcxr is led here: when its linker is `mold`, evcxr runs
//! `mold -run <cargo> <command> ...`, looking `mold` up on PATH — the one
//! place where evcxr runs a program of our choice around cargo. The engine
//! sets `:linker mold` ([`SETUP`]) and, while it still has one thread, puts a
//! link named `mold` to this binary first on its PATH ([`prepare`]); the
//! runtime, where cells run, takes that directory off its PATH again
//! ([`leave_runtime`]). No mold runs: rustc links as with `:linker system`,
//! and a mold on the user's PATH is never picked. (The directory is on the
//! engine's own PATH, not in a `:build_env PATH`: a command whose PATH is
//! changed cannot be spawned by `posix_spawn`, and forking the ~600 MB engine
//! for every cell cost more than cargo did.)
//!
//! "Nothing else changed" is [`key::Key`] (the cargo command, directory and
//! environment; the manifest, lock file and cargo configuration files, read
//! whole) and [`key::Stamps`] (the compiler and the `--extern` artifacts the
//! cell links; the newest file in each local package, so that editing a
//! crate added with `:dep name = { path = ... }` rebuilds it through cargo).
//! Every other cargo command (`check`, `clean`, `metadata`), and builds a
//! debugger wraps, go to cargo as they are.

mod key;
mod record;
mod replay;

use key::{Key, Stamps};
use record::{Invocation, Plan};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The name evcxr runs around cargo when its linker is mold.
const SHIM_NAME: &str = "mold";

/// Set by the recording build for the wrapper: where to write the cell
/// crate's rustc command.
const RECORD_VAR: &str = "FERROKERNEL_CELL_BUILD_RECORD";

/// If set, each build appends a line saying how it was built (`rustc`, or
/// `cargo: <why>`, and how long it took): for tests and for anyone wondering.
const LOG_VAR: &str = "FERROKERNEL_CELL_BUILD_LOG";

/// Off switch: `FERROKERNEL_CELL_BUILD=cargo` builds every cell with cargo.
const SWITCH_VAR: &str = "FERROKERNEL_CELL_BUILD";

/// Where the plan is kept, under the crate's target directory (evcxr sets
/// `CARGO_TARGET_DIR=target`), so `cargo clean` takes it too.
const PLAN_FILE: &str = "ferrokernel-cell-build.json";

/// Called first thing in `main` (through [`crate::runtime::hook`]): as
/// cargo's wrapper during a recording build, or as evcxr's `mold`, does its
/// job and exits; otherwise returns at once.
pub(crate) fn run_if_invoked() {
    if let Some(file) = std::env::var_os(RECORD_VAR) {
        record::record_and_run_rustc(Path::new(&file));
    }
    let mut args = std::env::args_os();
    let invoked_as = args.next().unwrap_or_default();
    if Path::new(&invoked_as).file_name() != Some(OsStr::new(SHIM_NAME)) {
        return;
    }
    let args: Vec<OsString> = args.collect();
    let code = match args.split_first() {
        Some((flag, rest)) if flag == "-run" && !rest.is_empty() => build(&rest[0], &rest[1..]),
        _ => {
            eprintln!(
                "ferrokernel: started as mold, but not as evcxr runs it (`mold -run cargo ...`)"
            );
            2
        }
    };
    std::process::exit(code);
}

/// The set-up command that routes the engine's builds through here, once
/// [`prepare`] said yes.
pub(crate) const SETUP: &str = ":linker mold\n";

/// Names the directory of the `mold` link for the runtime to take off PATH.
const SHIM_DIR_VAR: &str = "FERROKERNEL_CELL_BUILD_DIR";

/// Makes `workdir/bin/mold` a link to this binary and puts that directory
/// first on PATH; false when switched off (`FERROKERNEL_CELL_BUILD=cargo`) or
/// the link cannot be made (cells are then built by cargo alone, as evcxr does).
///
/// # Safety
/// Sets environment variables: the process must have one thread.
pub(crate) unsafe fn prepare(workdir: &Path) -> bool {
    if std::env::var(SWITCH_VAR).is_ok_and(|value| value == "cargo") {
        return false;
    }
    let bin = workdir.join("bin");
    if let Err(error) = make_link(&bin) {
        tracing::warn!(%error, dir = %bin.display(), "cells are built by cargo alone");
        return false;
    }
    let mut path = std::ffi::OsString::from(&bin);
    if let Some(rest) = std::env::var_os("PATH") {
        path.push(":");
        path.push(rest);
    }
    // SAFETY: the caller guarantees the process is single-threaded.
    unsafe {
        std::env::set_var("PATH", path);
        std::env::set_var(SHIM_DIR_VAR, &bin);
    }
    true
}

/// In the runtime: PATH as the user's code should see it, without the
/// directory of the `mold` link.
///
/// # Safety
/// Sets environment variables: the process must have one thread.
pub(crate) unsafe fn leave_runtime() {
    let Some(bin) = std::env::var_os(SHIM_DIR_VAR) else {
        return;
    };
    let path = std::env::var_os("PATH").unwrap_or_default();
    let kept: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|dir| dir.as_os_str() != bin)
        .collect();
    // SAFETY: the caller guarantees the process is single-threaded.
    unsafe {
        std::env::remove_var(SHIM_DIR_VAR);
        match std::env::join_paths(kept) {
            Ok(path) => std::env::set_var("PATH", path),
            Err(_) => std::env::set_var("PATH", path),
        }
    }
}

/// `bin/mold` → this binary, replaced whole (a kernel of another version may
/// have made it).
fn make_link(bin: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(bin)?;
    let exe = std::env::current_exe()?;
    let fresh = bin.join(format!(".{SHIM_NAME}-{}", std::process::id()));
    let _ = std::fs::remove_file(&fresh);
    std::os::unix::fs::symlink(exe, &fresh)?;
    std::fs::rename(&fresh, bin.join(SHIM_NAME))
}

/// One build of the cell crate: replayed when the plan still holds, else
/// through cargo, recording a new plan. Returns the exit code.
fn build(cargo: &OsStr, args: &[OsString]) -> i32 {
    let Ok(dir) = std::env::current_dir() else {
        return run_cargo(cargo, args, None);
    };
    let plan_path = dir.join("target").join(PLAN_FILE);
    if let Some(reason) = not_replayable(args) {
        if command_of(args) == Some(OsStr::new("clean")) {
            let _ = std::fs::remove_file(&plan_path);
        }
        log(&format!("cargo: {reason}"));
        return run_cargo(cargo, args, None);
    }
    let started = std::time::Instant::now();
    let key = Key::of(cargo, args, &dir);
    let why_cargo = match Plan::load(&plan_path) {
        None => "no plan yet".to_owned(),
        Some(plan) if plan.key != key => "the build's inputs changed".to_owned(),
        Some(plan) => match plan.stamps.changed() {
            Some(path) => format!("{} changed", path.display()),
            None => match (started.elapsed(), replay::run(&plan.invocation)) {
                (checked, Ok(code)) => {
                    log(&format!(
                        "rustc ({} ms, {} ms of them checking the plan)",
                        started.elapsed().as_millis(),
                        checked.as_millis()
                    ));
                    return code;
                }
                (_, Err(error)) => format!("replay failed: {error}"),
            },
        },
    };
    let _ = std::fs::remove_file(&plan_path);
    let record_path = plan_path.with_extension("rustc.json");
    let _ = std::fs::remove_file(&record_path);
    let code = run_cargo(cargo, args, Some(&record_path));
    log(&format!(
        "cargo: {why_cargo} ({} ms)",
        started.elapsed().as_millis()
    ));
    if code == 0 {
        save_plan(cargo, args, &dir, &record_path, &plan_path);
    }
    code
}

/// Why this cargo command is not a plain build we may replay.
fn not_replayable(args: &[OsString]) -> Option<&'static str> {
    let set = |var: &str| std::env::var_os(var).is_some_and(|value| !value.is_empty());
    if command_of(args) != Some(OsStr::new("build")) {
        Some("not a build")
    } else if set("RUSTC_WRAPPER") || set("RUSTC_WORKSPACE_WRAPPER") {
        Some("a wrapped build")
    } else {
        None
    }
}

/// Cargo's subcommand: the first argument that is not an option.
fn command_of(args: &[OsString]) -> Option<&OsStr> {
    args.iter()
        .map(OsString::as_os_str)
        .find(|arg| !arg.to_string_lossy().starts_with('-'))
}

/// Keeps what the recording build learnt, keyed by the inputs as they are
/// after it (cargo may have written the lock file).
fn save_plan(cargo: &OsStr, args: &[OsString], dir: &Path, record_path: &Path, plan_path: &Path) {
    let Some(invocation) = Invocation::load(record_path) else {
        return;
    };
    let _ = std::fs::remove_file(record_path);
    let Some(stamps) = Stamps::take(&invocation, cargo, dir) else {
        return;
    };
    let plan = Plan {
        key: Key::of(cargo, args, dir),
        stamps,
        invocation,
    };
    if let Err(error) = plan.save(plan_path) {
        log(&format!("cannot keep the plan: {error}"));
    }
}

/// Runs cargo as evcxr asked, its output going straight to evcxr; with
/// `record`, this binary wraps the cell crate's rustc to write its command there.
fn run_cargo(cargo: &OsStr, args: &[OsString], record: Option<&Path>) -> i32 {
    let mut command = Command::new(cargo);
    command.args(args);
    if let Some(record) = record
        && let Ok(exe) = std::env::current_exe()
    {
        command
            .env("RUSTC_WORKSPACE_WRAPPER", exe)
            .env(RECORD_VAR, record);
    }
    match command.status() {
        Ok(status) => exit_code(status),
        Err(error) => {
            eprintln!(
                "ferrokernel: cannot run {}: {error}",
                Path::new(cargo).display()
            );
            1
        }
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

fn log(line: &str) {
    let Some(path) = std::env::var_os(LOG_VAR).map(PathBuf::from) else {
        return;
    };
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(file, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn only_plain_builds_are_replayed() {
        assert_eq!(
            command_of(&os(&["--offline", "build", "--target", "x"])),
            Some(OsStr::new("build"))
        );
        assert_eq!(command_of(&os(&["clean"])), Some(OsStr::new("clean")));
        assert_eq!(
            not_replayable(&os(&["check", "--message-format=json"])),
            Some("not a build")
        );
        assert_eq!(command_of(&os(&["--offline"])), None);
    }
}

//! `ferrokernel doctor`: checks a set-up the way a kernel will meet it, one
//! line per check, each ✗ with the command or step that fixes it.
//!
//! Three outcomes: ✓ fine; `!` works, but something is missing (no rust-src:
//! no std completions; prelude not built yet: a slow first cell); ✗ broken (a
//! kernel will not start or its cells will not run). The exit status is
//! non-zero when anything is broken.

mod cache;
mod kernelspecs;
mod linker;

use crate::info::VERSION;
use ferrokernel_engine::toolchain::{Setting, Toolchain};
use ferrokernel_engine::{ToolchainError, Workdir};
use serde::Serialize;
use thiserror::Error;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, with something missing.
    Warning,
    /// A kernel will not start, or its cells will not run.
    Broken,
}

impl Status {
    fn mark(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Warning => "!",
            Status::Broken => "✗",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked (`toolchain`, `rust-src`, `cache`, ...).
    pub name: &'static str,
    /// How it came out.
    pub status: Status,
    /// What was found.
    pub summary: String,
    /// What to do, for anything but [`Status::Ok`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Facts for scripts (paths, versions, sizes).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl Check {
    fn ok(name: &'static str, summary: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Ok,
            summary: summary.into(),
            fix: None,
            details: serde_json::Value::Null,
        }
    }

    fn warning(name: &'static str, summary: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            status: Status::Warning,
            fix: Some(fix.into()),
            ..Check::ok(name, summary)
        }
    }

    fn broken(name: &'static str, summary: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            status: Status::Broken,
            fix: Some(fix.into()),
            ..Check::ok(name, summary)
        }
    }

    fn with_details(mut self, details: serde_json::Value) -> Check {
        self.details = details;
        self
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// This ferrokernel's version.
    pub version: &'static str,
    /// This binary.
    pub binary: String,
    /// No check is broken.
    pub ok: bool,
    /// Every check, in the order printed.
    pub checks: Vec<Check>,
}

impl Report {
    /// The text `ferrokernel doctor` prints.
    pub fn render(&self) -> String {
        let width = self
            .checks
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0);
        let mut text = format!("ferrokernel {} doctor ({})\n", self.version, self.binary);
        for check in &self.checks {
            text.push_str(&format!(
                "{} {:width$}  {}\n",
                check.status.mark(),
                check.name,
                check.summary
            ));
            if let Some(fix) = &check.fix {
                text.push_str(&format!("  {:width$}  fix: {fix}\n", ""));
            }
        }
        let count = |status| self.checks.iter().filter(|c| c.status == status).count();
        let (broken, warnings) = (count(Status::Broken), count(Status::Warning));
        text.push_str(&match (broken, warnings) {
            (0, 0) => "Everything a kernel needs is in place.\n".to_owned(),
            (0, w) => format!("Kernels will work; {w} thing(s) to improve (the ! lines).\n"),
            (b, _) => format!("{b} problem(s) will stop kernels: see the fix under each ✗.\n"),
        });
        text
    }
}

/// Runs every check.
pub fn examine() -> Report {
    let binary = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "ferrokernel".to_owned());
    let probed = Toolchain::probe();
    let cache_root = Workdir::default_cache_root();
    let mut checks = vec![toolchain_check(&probed), rust_src_check(&probed)];
    checks.push(cache::writable_check(&cache_root));
    checks.push(cache::prelude_check(&cache_root));
    checks.extend(kernelspecs::checks());
    checks.push(match &probed {
        Ok(toolchain) => linker::check(toolchain),
        Err(_) => not_checked("linker"),
    });
    checks.push(pool_check());
    checks.push(debugger_check());
    Report {
        version: VERSION,
        binary,
        ok: checks.iter().all(|c| c.status != Status::Broken),
        checks,
    }
}

/// JupyterLab's debugger needs lldb-dap; kernels work without it.
fn debugger_check() -> Check {
    match crate::debugger::find_adapter() {
        Some(path) => Check::ok(
            "debugger",
            format!(
                "lldb-dap at {}: JupyterLab's debugger works",
                path.display()
            ),
        ),
        None => Check::warning(
            "debugger",
            "no lldb-dap: JupyterLab's debugger stays off",
            "install lldb with lldb-dap (Debian 12: `apt install lldb-19`; or set              FERROKERNEL_LLDB_DAP), then run `ferrokernel install` again",
        ),
    }
}

/// Why `ferrokernel doctor` fails.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DoctorError {
    /// The report could not be written as JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// These checks found the set-up broken.
    #[error("broken: {}", .0.join(", "))]
    Broken(Vec<&'static str>),
}

/// `ferrokernel doctor [--json]`: prints the report; fails when something is broken.
pub fn run(json: bool) -> Result<(), DoctorError> {
    use std::io::Write;
    let report = examine();
    let text = if json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        report.render()
    };
    // A reader that stopped early (`| head`) is no error of ours.
    let _ = std::io::stdout().write_all(text.as_bytes());
    let broken = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Broken)
        .map(|c| c.name)
        .collect::<Vec<_>>();
    if broken.is_empty() {
        Ok(())
    } else {
        Err(DoctorError::Broken(broken))
    }
}

fn not_checked(name: &'static str) -> Check {
    Check::warning(
        name,
        "not checked: no working toolchain",
        "fix the toolchain first (the ✗ toolchain line)",
    )
}

fn describe_setting(name: &str, setting: &Option<Setting>) -> Option<String> {
    let setting = setting.as_ref()?;
    let how = if setting.implied {
        " (implied by HOME)"
    } else {
        ""
    };
    Some(format!("{name}={}{how}", setting.path.display()))
}

fn toolchain_check(probed: &Result<Toolchain, ToolchainError>) -> Check {
    match probed {
        Ok(toolchain) => {
            // "cargo 1.95.0 (f2d3ce0bd 2026-03-21)" → "cargo 1.95.0".
            let short = |version: &str| version.split(' ').take(2).collect::<Vec<_>>().join(" ");
            let dirs: Vec<String> = toolchain
                .bin_dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            let mut parts = vec![format!(
                "{} and {} for {}, in {}",
                short(&toolchain.cargo.version),
                short(&toolchain.rustc.version),
                toolchain.host,
                dirs.join(" and ")
            )];
            parts.extend(describe_setting("RUSTUP_HOME", &toolchain.rustup_home));
            parts.extend(describe_setting("CARGO_HOME", &toolchain.cargo_home));
            if let Some(name) = &toolchain.rustup_toolchain {
                parts.push(format!("RUSTUP_TOOLCHAIN={name}"));
            }
            Check::ok("toolchain", parts.join("; ")).with_details(serde_json::json!(toolchain))
        }
        Err(error) => Check::broken("toolchain", &error.problem, &error.fix),
    }
}

fn rust_src_check(probed: &Result<Toolchain, ToolchainError>) -> Check {
    let Ok(toolchain) = probed else {
        return not_checked("rust-src");
    };
    match &toolchain.rust_src {
        Some(path) => Check::ok("rust-src", path.display().to_string()),
        None => Check::warning(
            "rust-src",
            format!(
                "missing from {}: completions of std items will be missing",
                toolchain.sysroot.display()
            ),
            toolchain.rust_src_fix(),
        ),
    }
}

fn pool_check() -> Check {
    use ferrokernel_pool::client::{self, PoolError};
    use ferrokernel_pool::place::{Place, PlaceError};
    if std::env::var("FERROKERNEL_POOL").is_ok_and(|v| v == "0" || v == "false") {
        return Check::ok(
            "engine pool",
            "disabled (FERROKERNEL_POOL=0): each kernel starts its own engine",
        );
    }
    let place = match Place::for_this_build() {
        Ok(place) => place,
        Err(error @ PlaceError::NotPrivate { .. }) => {
            return Check::broken(
                "engine pool",
                error.to_string(),
                "remove that directory (kernels recreate it private), or set FERROKERNEL_POOL_DIR",
            );
        }
        Err(error) => {
            return Check::warning(
                "engine pool",
                format!("{error}; kernels will start their own engines"),
                "set FERROKERNEL_POOL_DIR to a directory only you can write",
            );
        }
    };
    match client::status(&place) {
        Ok(status) => {
            let spare = match &status.spare {
                Some(spare) if spare.ready => {
                    format!("a spare engine is ready (pid {})", spare.pid)
                }
                Some(spare) => format!("a spare engine is starting (pid {})", spare.pid),
                None => "no spare engine".to_owned(),
            };
            Check::ok(
                "engine pool",
                format!(
                    "running (pid {}): {spare}, {} engine(s) in use",
                    status.pid, status.engines_in_use
                ),
            )
            .with_details(serde_json::json!(status))
        }
        Err(PoolError::NotRunning(socket)) => Check::ok(
            "engine pool",
            format!(
                "not running (the next kernel starts it at {})",
                socket.display()
            ),
        ),
        Err(error) => Check::warning(
            "engine pool",
            format!("{error}; kernels will start their own engines"),
            format!(
                "`ferrokernel pool stop`, or remove {} (its log: {})",
                place.socket.display(),
                place.log.display()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_has_a_mark_per_line_and_a_fix_under_each_problem() {
        let report = Report {
            version: "0.1.0",
            binary: "/bin/ferrokernel".to_owned(),
            ok: false,
            checks: vec![
                Check::ok("toolchain", "cargo 1.95.0"),
                Check::broken("cache", "cannot write /c", "set FERROKERNEL_CACHE_DIR"),
                Check::warning("rust-src", "missing", "rustup component add rust-src"),
            ],
        };
        let text = report.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "✓ toolchain  cargo 1.95.0");
        assert_eq!(lines[2], "✗ cache      cannot write /c");
        assert_eq!(lines[3], "             fix: set FERROKERNEL_CACHE_DIR");
        assert_eq!(lines[4], "! rust-src   missing");
        assert!(lines[6].starts_with("1 problem(s)"), "{text}");
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["checks"][1]["status"], "broken");
        assert!(json["checks"][0].get("fix").is_none());
    }
}

//! Finding the Rust toolchain cells will be compiled with, before evcxr starts.
//!
//! evcxr's own errors name nothing a user can act on ("No such file or
//! directory (os error 2)") when Jupyter is launched from somewhere without
//! `~/.cargo/bin` on PATH or without a HOME that leads rustup to its
//! toolchains. So the engine looks first: `cargo` and `rustc` on PATH, that
//! they run (a rustup proxy without a toolchain does not), rustc's host and
//! sysroot, `rust-src` there, and the rustup and cargo homes as set or implied
//! by HOME. A failure says which tool, where it was looked for and what to do.
//! `ferrokernel install` pins what this finds, and `ferrokernel doctor` shows it.

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use thiserror::Error;

/// Where to get Rust, in every message that says it is missing.
const RUSTUP_URL: &str = "https://rustup.rs";

/// A toolchain that answers: `cargo` and `rustc` found and running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Toolchain {
    /// `cargo`, as found on PATH.
    pub cargo: Tool,
    /// `rustc`, as found on PATH.
    pub rustc: Tool,
    /// rustc's host target, e.g. `x86_64-unknown-linux-gnu` (cells are built for it).
    pub host: String,
    /// rustc's release, e.g. `1.95.0`.
    pub release: String,
    /// `rustc --print sysroot`.
    pub sysroot: PathBuf,
    /// The standard library's source (`rust-src`), which completions of std items need.
    pub rust_src: Option<PathBuf>,
    /// Where rustup keeps its toolchains, when rustup is in use.
    pub rustup_home: Option<Setting>,
    /// Where cargo keeps its registry and binaries.
    pub cargo_home: Option<Setting>,
    /// `RUSTUP_TOOLCHAIN`, when set (otherwise rustup's default or a directory override applies).
    pub rustup_toolchain: Option<String>,
}

/// A program of the toolchain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tool {
    /// Where it was found on PATH (not resolved: a rustup proxy stays a proxy).
    pub path: PathBuf,
    /// Its `--version` line, e.g. `cargo 1.95.0 (f2d3ce0bd 2026-03-21)`.
    pub version: String,
}

/// A directory the toolchain depends on, and whether it was set or implied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    /// The directory.
    pub path: PathBuf,
    /// Not set in the environment: the default under HOME, which exists.
    pub implied: bool,
}

/// Why there is no usable toolchain: which tool, what is wrong, what to do.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{problem}\n{fix}")]
#[non_exhaustive]
pub struct ToolchainError {
    /// `cargo` or `rustc`.
    pub tool: &'static str,
    /// What is wrong, naming the tool and where it was looked for.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

/// The environment a probe looks with: variable names to values.
pub type Variables = BTreeMap<String, String>;

/// This process's environment, as [`Variables`] (values that are not UTF-8 are left out).
pub fn current_variables() -> Variables {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

impl Toolchain {
    /// The toolchain this process would use.
    pub fn probe() -> Result<Toolchain, ToolchainError> {
        Toolchain::probe_in(&current_variables())
    }

    /// The toolchain a process with environment `vars` would use; the tools are
    /// run with exactly that environment.
    pub fn probe_in(vars: &Variables) -> Result<Toolchain, ToolchainError> {
        let homes = Homes::of(vars);
        let cargo_path = find("cargo", vars, &homes)?;
        let cargo_version = run(&cargo_path, "cargo", &["--version"], vars, &homes)?;
        let rustc_path = find("rustc", vars, &homes)?;
        let verbose = run(&rustc_path, "rustc", &["-vV"], vars, &homes)?;
        let field = |name: &str| {
            verbose
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .map(|value| value.trim().to_owned())
        };
        let Some(host) = field("host:") else {
            return Err(ToolchainError {
                tool: "rustc",
                problem: format!(
                    "`rustc -vV` ({}) printed no host line: {}",
                    rustc_path.display(),
                    first_line(&verbose)
                ),
                fix: "Reinstall the toolchain (with rustup: `rustup toolchain install stable`)."
                    .to_owned(),
            });
        };
        let release = field("release:").unwrap_or_default();
        let sysroot = PathBuf::from(run(
            &rustc_path,
            "rustc",
            &["--print", "sysroot"],
            vars,
            &homes,
        )?);
        let rust_src = vars
            .get("RUST_SRC_PATH")
            .map(PathBuf::from)
            .or_else(|| Some(sysroot.join("lib/rustlib/src/rust/library")))
            .filter(|path| path.is_dir());
        Ok(Toolchain {
            cargo: Tool {
                path: cargo_path,
                version: first_line(&cargo_version).to_owned(),
            },
            rustc: Tool {
                path: rustc_path,
                version: first_line(&verbose).to_owned(),
            },
            host,
            release,
            sysroot,
            rust_src,
            rustup_home: homes.rustup.clone(),
            cargo_home: homes.cargo.clone(),
            rustup_toolchain: vars.get("RUSTUP_TOOLCHAIN").cloned(),
        })
    }

    /// The directories of `cargo` and `rustc` (one when they share it), in that order.
    pub fn bin_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for tool in [&self.cargo, &self.rustc] {
            if let Some(dir) = tool.path.parent()
                && !dirs.iter().any(|d| d == dir)
            {
                dirs.push(dir.to_owned());
            }
        }
        dirs
    }

    /// What makes `rust-src` appear, for a message that says it is missing.
    pub fn rust_src_fix(&self) -> String {
        if self.rustup_home.is_some() {
            match &self.rustup_toolchain {
                Some(toolchain) => {
                    format!("rustup component add rust-src --toolchain {toolchain}")
                }
                None => "rustup component add rust-src".to_owned(),
            }
        } else {
            "install your distribution's rust-src package (Debian, Ubuntu: apt install rust-src)"
                .to_owned()
        }
    }
}

/// RUSTUP_HOME and CARGO_HOME as set, or implied by HOME when the default exists.
#[derive(Debug, Clone)]
struct Homes {
    rustup: Option<Setting>,
    cargo: Option<Setting>,
    home: Option<String>,
}

impl Homes {
    fn of(vars: &Variables) -> Homes {
        let home = vars.get("HOME").filter(|h| !h.is_empty()).cloned();
        let setting = |variable: &str, default: &str| match vars.get(variable) {
            Some(value) if !value.is_empty() => Some(Setting {
                path: PathBuf::from(value),
                implied: false,
            }),
            _ => home
                .as_ref()
                .map(|home| Path::new(home).join(default))
                .filter(|path| path.is_dir())
                .map(|path| Setting {
                    path,
                    implied: true,
                }),
        };
        Homes {
            rustup: setting("RUSTUP_HOME", ".rustup"),
            cargo: setting("CARGO_HOME", ".cargo"),
            home,
        }
    }

    /// Where rustup looks for toolchains, said for a message.
    fn rustup_looked(&self) -> String {
        match (&self.rustup, &self.home) {
            (Some(setting), _) if !setting.implied => {
                format!("RUSTUP_HOME is {}", setting.path.display())
            }
            (_, Some(home)) => format!(
                "RUSTUP_HOME is not set, so rustup looks in {}",
                Path::new(home).join(".rustup").display()
            ),
            (_, None) => "neither RUSTUP_HOME nor HOME is set".to_owned(),
        }
    }

    /// Copies of `tool` in the usual rustup places, for a PATH that missed them.
    fn strays(&self, tool: &str) -> Vec<PathBuf> {
        let mut places = Vec::new();
        if let Some(cargo) = &self.cargo {
            places.push(cargo.path.join("bin").join(tool));
        }
        if let Some(home) = &self.home {
            places.push(Path::new(home).join(".cargo/bin").join(tool));
        }
        places.dedup();
        places.retain(|path| is_executable(path));
        places
    }
}

/// `tool` on PATH, like a shell finds it.
fn find(tool: &'static str, vars: &Variables, homes: &Homes) -> Result<PathBuf, ToolchainError> {
    let path_var = vars.get("PATH").map(String::as_str).unwrap_or("");
    let found = std::env::split_paths(path_var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(tool))
        .find(|candidate| is_executable(candidate));
    if let Some(found) = found {
        return Ok(found);
    }
    let shown_path = if path_var.is_empty() {
        "(PATH is empty)".to_owned()
    } else {
        path_var.to_owned()
    };
    let strays = homes.strays(tool);
    Err(match strays.first() {
        Some(stray) => {
            let dir = stray.parent().unwrap_or(stray).display();
            ToolchainError {
                tool,
                problem: format!(
                    "`{tool}` was not found on PATH ({shown_path}); \
                     there is one at {}, which that PATH leaves out",
                    stray.display()
                ),
                fix: format!(
                    "Put {dir} on PATH (`. ~/.cargo/env` in a shell). For Jupyter, re-run \
                     `ferrokernel install` from a shell where `{tool} --version` works: the \
                     kernelspec then records {dir}, whatever launches the kernel."
                ),
            }
        }
        None => ToolchainError {
            tool,
            problem: format!("`{tool}` was not found on PATH ({shown_path})"),
            fix: format!(
                "Install Rust with rustup ({RUSTUP_URL}). For Jupyter, then re-run `ferrokernel \
                 install` from a shell where `{tool} --version` works: the kernelspec records \
                 where the toolchain is, whatever launches the kernel."
            ),
        },
    })
}

/// Runs `path args` with `vars`; its standard output, or why it did not run.
fn run(
    path: &Path,
    tool: &'static str,
    args: &[&str],
    vars: &Variables,
    homes: &Homes,
) -> Result<String, ToolchainError> {
    let output = Command::new(path)
        .args(args)
        .env_clear()
        .envs(vars)
        .stdin(std::process::Stdio::null())
        .output();
    let detail = match output {
        Ok(output) if output.status.success() => {
            return Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned());
        }
        Ok(output) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let said = stderr
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty())
                .map(str::to_owned);
            said.unwrap_or_else(|| format!("it ended with {}", output.status))
        }
        Err(error) => error.to_string(),
    };
    let mentions_rustup = detail.contains("rustup");
    let problem = if mentions_rustup || homes.rustup.is_some() {
        format!(
            "`{tool}` ({}) did not run: {detail} ({})",
            path.display(),
            homes.rustup_looked()
        )
    } else {
        format!("`{tool}` ({}) did not run: {detail}", path.display())
    };
    let fix = if mentions_rustup {
        format!(
            "Use a shell where `{tool} --version` works; for Jupyter, re-run `ferrokernel \
             install` from one: the kernelspec then records RUSTUP_HOME and CARGO_HOME. If \
             rustup has no toolchain at all, `rustup default stable` installs one."
        )
    } else {
        format!(
            "Check that `{} {}` works in a shell, or reinstall Rust with rustup ({RUSTUP_URL}).",
            path.display(),
            args.join(" ")
        )
    };
    Err(ToolchainError { tool, problem, fix })
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A directory of fake tools: shell scripts that print what real ones would.
    struct Fakes {
        root: PathBuf,
    }

    impl Fakes {
        fn new(name: &str) -> Fakes {
            let root =
                std::env::temp_dir().join(format!("fk-toolchain-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(root.join("bin")).expect("temp dir");
            Fakes { root }
        }

        fn tool(&self, relative: &str, script: &str) -> PathBuf {
            let path = self.root.join(relative);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
            std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("script");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            path
        }

        fn working_toolchain(&self) {
            let sysroot = self.root.join("sysroot");
            std::fs::create_dir_all(sysroot.join("lib/rustlib/src/rust/library")).expect("src");
            self.tool("bin/cargo", "echo 'cargo 1.95.0 (f2d3ce0bd 2026-03-21)'");
            self.tool(
                "bin/rustc",
                &format!(
                    "case \"$1\" in\n\
                     -vV) printf 'rustc 1.95.0 (59807616e 2026-04-14)\\nhost: x86_64-unknown-linux-gnu\\nrelease: 1.95.0\\n' ;;\n\
                     --print) echo {} ;;\n\
                     esac",
                    sysroot.display()
                ),
            );
        }

        fn vars(&self, path: &str) -> Variables {
            let home = self.root.join("home");
            std::fs::create_dir_all(&home).expect("home");
            Variables::from([
                ("PATH".to_owned(), path.to_owned()),
                ("HOME".to_owned(), home.display().to_string()),
            ])
        }

        fn bin(&self) -> String {
            format!("{}:/usr/bin:/bin", self.root.join("bin").display())
        }
    }

    impl Drop for Fakes {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    #[test]
    fn a_working_toolchain_is_found_with_its_versions_and_rust_src() {
        let fakes = Fakes::new("ok");
        fakes.working_toolchain();
        let toolchain = Toolchain::probe_in(&fakes.vars(&fakes.bin())).expect("found");
        assert_eq!(toolchain.cargo.path, fakes.root.join("bin/cargo"));
        assert_eq!(
            toolchain.cargo.version,
            "cargo 1.95.0 (f2d3ce0bd 2026-03-21)"
        );
        assert_eq!(toolchain.host, "x86_64-unknown-linux-gnu");
        assert_eq!(toolchain.release, "1.95.0");
        assert_eq!(toolchain.sysroot, fakes.root.join("sysroot"));
        assert!(toolchain.rust_src.is_some());
        assert_eq!(toolchain.bin_dirs(), vec![fakes.root.join("bin")]);
        assert_eq!(toolchain.rustup_home, None, "no ~/.rustup in the fake home");
    }

    #[test]
    fn homes_are_implied_by_home_when_their_directories_exist() {
        let fakes = Fakes::new("homes");
        fakes.working_toolchain();
        let mut vars = fakes.vars(&fakes.bin());
        let home = PathBuf::from(&vars["HOME"]);
        std::fs::create_dir_all(home.join(".rustup")).expect("rustup home");
        vars.insert("CARGO_HOME".to_owned(), "/opt/cargo".to_owned());
        vars.insert("RUSTUP_TOOLCHAIN".to_owned(), "nightly".to_owned());
        let toolchain = Toolchain::probe_in(&vars).expect("found");
        assert_eq!(
            toolchain.rustup_home,
            Some(Setting {
                path: home.join(".rustup"),
                implied: true
            })
        );
        assert_eq!(
            toolchain.cargo_home,
            Some(Setting {
                path: PathBuf::from("/opt/cargo"),
                implied: false
            })
        );
        assert_eq!(toolchain.rustup_toolchain.as_deref(), Some("nightly"));
        assert_eq!(
            toolchain.rust_src_fix(),
            "rustup component add rust-src --toolchain nightly"
        );
    }

    #[test]
    fn a_missing_cargo_is_named_with_the_path_searched_and_rustup_as_the_fix() {
        let fakes = Fakes::new("missing");
        let error = Toolchain::probe_in(&fakes.vars("/usr/bin:/bin")).expect_err("no cargo");
        assert_eq!(error.tool, "cargo");
        let message = error.to_string();
        assert!(message.contains("`cargo` was not found"), "{message}");
        assert!(message.contains("/usr/bin:/bin"), "{message}");
        assert!(message.contains("rustup"), "{message}");
        assert!(message.contains("ferrokernel install"), "{message}");
    }

    #[test]
    fn a_cargo_left_off_path_is_pointed_at() {
        let fakes = Fakes::new("stray");
        let vars = fakes.vars("/usr/bin:/bin");
        let stray = fakes.tool("home/.cargo/bin/cargo", "echo cargo 1.95.0");
        let error = Toolchain::probe_in(&vars).expect_err("not on PATH");
        assert!(
            error.problem.contains(&stray.display().to_string()),
            "{error}"
        );
        assert!(error.fix.contains("home/.cargo/bin"), "{error}");
    }

    #[test]
    fn a_rustup_proxy_without_a_toolchain_says_where_rustup_looked() {
        let fakes = Fakes::new("proxy");
        fakes.tool(
            "bin/cargo",
            "echo \"error: rustup could not choose a version of cargo to run, because one \
             wasn't specified explicitly, and no default is configured.\" >&2; exit 1",
        );
        let vars = fakes.vars(&fakes.bin());
        let error = Toolchain::probe_in(&vars).expect_err("proxy fails");
        assert_eq!(error.tool, "cargo");
        assert!(
            error
                .problem
                .contains("did not run: error: rustup could not choose")
        );
        assert!(
            error
                .problem
                .contains(&format!("rustup looks in {}/.rustup", vars["HOME"])),
            "{error}"
        );
        assert!(error.fix.contains("RUSTUP_HOME"), "{error}");
    }
}

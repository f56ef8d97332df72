//! Writing and removing the kernelspec, like `python -m ipykernel install`.

use crate::pin;
use ferrokernel_engine::Toolchain;
use ferrokernel_engine::toolchain::Variables;
use ferrokernel_pool::messages::EngineEnv;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The kernelspec's default name (what notebooks' metadata refers to).
pub const DEFAULT_NAME: &str = "ferrokernel";
/// What the launcher shows.
pub const DEFAULT_DISPLAY_NAME: &str = "Rust (ferrokernel)";

const LOGO_32: &[u8] = include_bytes!("../../install/logo-32x32.png");
const LOGO_64: &[u8] = include_bytes!("../../install/logo-64x64.png");
const LOGO_SVG: &[u8] = include_bytes!("../../install/logo.svg");

/// Where kernelspecs go, as `jupyter kernelspec` understands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The user's Jupyter data directory (`~/.local/share/jupyter`).
    User,
    /// The active Python environment (`$VIRTUAL_ENV`, or `sys.prefix` of `python3`).
    SysPrefix,
    /// `<prefix>/share/jupyter`.
    Prefix(PathBuf),
    /// The system-wide directory (`/usr/local/share/jupyter`), the default like ipykernel's.
    System,
}

/// Why installing failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The directory could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// `--sys-prefix` without a virtual environment or a `python3` to ask.
    #[error("cannot find the Python prefix: no $VIRTUAL_ENV and `python3` did not answer ({0})")]
    NoPython(String),
    /// Neither `$HOME` nor `$JUPYTER_DATA_DIR` is set.
    #[error("cannot find the user's Jupyter data directory: $HOME is not set")]
    NoHome,
    /// The path of this binary is unknown.
    #[error("cannot find the ferrokernel binary's own path: {0}")]
    NoExecutable(std::io::Error),
    /// Nothing to uninstall.
    #[error("no kernelspec named {0:?} is installed there")]
    NotInstalled(String),
    /// The toolchain to pin could not be found or did not run.
    #[error(
        "cannot pin the Rust toolchain in the kernelspec: {0}\n\
         (Or pass --no-pin-toolchain to leave finding it to whatever launches Jupyter.)"
    )]
    NoToolchain(ferrokernel_engine::ToolchainError),
}

/// What goes into the kernelspec besides its names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecOptions {
    /// The kernel's `env` (the pinned toolchain, see [`crate::pin`]).
    pub env: BTreeMap<String, String>,
    /// The kernel starts its own engine instead of using the engine pool.
    pub no_pool: bool,
}

/// The toolchain `install` found, and the kernelspec `env` that pins it.
#[derive(Debug)]
pub struct ToolchainPin {
    /// What the probe found in this process's environment.
    pub probed: Result<Toolchain, ferrokernel_engine::ToolchainError>,
    /// The kernelspec `env` (empty when not pinning).
    pub vars: Variables,
}

impl ToolchainPin {
    /// Probes the toolchain; with `pin`, a missing one is an error (without, the
    /// launcher is trusted to provide it).
    pub fn find(pin: bool) -> Result<ToolchainPin, InstallError> {
        let probed = Toolchain::probe();
        let vars = match (&probed, pin) {
            (Ok(toolchain), true) => pin::variables(toolchain),
            (Err(error), true) => return Err(InstallError::NoToolchain(error.clone())),
            (_, false) => Variables::new(),
        };
        Ok(ToolchainPin { probed, vars })
    }

    /// Gives this process the environment pinned kernels will have.
    ///
    /// # Safety
    /// Sets environment variables: the process must have one thread.
    pub unsafe fn apply_to_this_process(&self) {
        // SAFETY: the caller guarantees the process is single-threaded.
        unsafe { pin::apply_to_this_process(&self.vars) };
    }

    /// What `install` says about the toolchain: found, pinned, what is missing.
    pub fn describe(&self) -> String {
        let toolchain = match &self.probed {
            Ok(toolchain) => toolchain,
            Err(error) => {
                return format!(
                    "Note: this shell has no working Rust toolchain, so kernels need one from \
                     their launcher:\n{error}\n"
                );
            }
        };
        let mut text = format!(
            "Toolchain: {} and {}\n",
            toolchain.cargo.version, toolchain.rustc.version
        );
        if self.vars.is_empty() {
            text.push_str(
                "Not pinned (--no-pin-toolchain): kernels use the cargo their launcher's PATH finds.\n",
            );
        } else {
            text.push_str("Pinned in the kernelspec, so kernels find it from any launcher:\n");
            text.push_str(&pin::describe(toolchain, &self.vars));
        }
        if toolchain.rust_src.is_none() {
            text.push_str(&format!(
                "Note: rust-src is missing, so completions of std items will be too: {}\n",
                toolchain.rust_src_fix()
            ));
        }
        text
    }
}

/// Starts the engine pool with `kernel_env`, the environment kernels of the new
/// kernelspec will have, so the first of them gets a warm engine; says how it
/// went. `FERROKERNEL_POOL=0` (as for kernels) starts none.
pub fn start_pool(kernel_env: &EngineEnv) -> String {
    if std::env::var("FERROKERNEL_POOL").is_ok_and(|v| v == "0" || v == "false") {
        return "Engine pool not started (FERROKERNEL_POOL=0).".to_owned();
    }
    let running = ferrokernel_pool::place::Place::for_this_build()
        .ok()
        .and_then(|place| ferrokernel_pool::client::status(&place).ok());
    if let Some(status) = running {
        // Left alone: its engines in use are kernels' own, and its next spare
        // follows the environment of the kernels it serves.
        return format!(
            "An engine pool already runs (pid {}); `ferrokernel pool stop` and install again \
             for a spare made with this kernelspec's environment.",
            status.pid
        );
    }
    let started: Result<(), Box<dyn std::error::Error>> =
        std::env::current_exe().map_err(Into::into).and_then(|exe| {
            ferrokernel_pool::client::start_pool_with_env(&exe, kernel_env).map_err(Into::into)
        });
    match started {
        Ok(()) => "Started the engine pool: it warms an engine for the next kernel \
                   (`ferrokernel pool status`)."
            .to_owned(),
        Err(error) => format!(
            "Note: the engine pool did not start ({error}); kernels start it when they need it."
        ),
    }
}

/// The `kernel.json` Jupyter reads.
#[derive(Debug, Serialize)]
struct KernelJson {
    argv: Vec<String>,
    display_name: String,
    language: &'static str,
    interrupt_mode: &'static str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    env: BTreeMap<String, String>,
    metadata: serde_json::Value,
}

impl Location {
    /// The `kernels` directory of this location.
    pub fn kernels_dir(&self) -> Result<PathBuf, InstallError> {
        let data_dir = match self {
            Location::User => user_data_dir()?,
            Location::SysPrefix => python_prefix()?.join("share").join("jupyter"),
            Location::Prefix(prefix) => prefix.join("share").join("jupyter"),
            Location::System => PathBuf::from("/usr/local/share/jupyter"),
        };
        Ok(data_dir.join("kernels"))
    }
}

fn user_data_dir() -> Result<PathBuf, InstallError> {
    if let Some(dir) = std::env::var_os("JUPYTER_DATA_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        return Ok(PathBuf::from(dir).join("jupyter"));
    }
    let home = std::env::var_os("HOME").ok_or(InstallError::NoHome)?;
    Ok(PathBuf::from(home).join(".local/share/jupyter"))
}

fn python_prefix() -> Result<PathBuf, InstallError> {
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        return Ok(PathBuf::from(venv));
    }
    let output = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.prefix)"])
        .output()
        .map_err(|e| InstallError::NoPython(e.to_string()))?;
    let prefix = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || prefix.is_empty() {
        return Err(InstallError::NoPython(
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ));
    }
    Ok(PathBuf::from(prefix))
}

/// Writes the kernelspec `name` under `location`; returns its directory.
pub fn install(
    location: &Location,
    name: &str,
    display_name: &str,
    options: &SpecOptions,
) -> Result<PathBuf, InstallError> {
    let executable = std::env::current_exe().map_err(InstallError::NoExecutable)?;
    let dir = location.kernels_dir()?.join(name);
    write_kernelspec(&dir, &executable, display_name, options)?;
    Ok(dir)
}

fn write_kernelspec(
    dir: &Path,
    executable: &Path,
    display_name: &str,
    options: &SpecOptions,
) -> Result<(), InstallError> {
    let io = |source| InstallError::Io {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut argv = vec![
        executable.display().to_string(),
        "kernel".to_owned(),
        "--connection-file".to_owned(),
        "{connection_file}".to_owned(),
    ];
    if options.no_pool {
        argv.push("--no-pool".to_owned());
    }
    let spec = KernelJson {
        argv,
        display_name: display_name.to_owned(),
        language: "rust",
        interrupt_mode: "message",
        env: options.env.clone(),
        // `ferrokernel doctor` recognises its kernelspecs by this, whatever the binary is called.
        metadata: serde_json::json!({
            // JupyterLab enables its debugger by this alone.
            "debugger": crate::debugger::find_adapter().is_some(),
            "ferrokernel": { "version": env!("CARGO_PKG_VERSION") },
        }),
    };
    let json = serde_json::to_vec_pretty(&spec).map_err(|e| io(std::io::Error::other(e)))?;
    std::fs::write(dir.join("kernel.json"), json).map_err(io)?;
    std::fs::write(dir.join("logo-32x32.png"), LOGO_32).map_err(io)?;
    std::fs::write(dir.join("logo-64x64.png"), LOGO_64).map_err(io)?;
    std::fs::write(dir.join("logo-svg.svg"), LOGO_SVG).map_err(io)?;
    Ok(())
}

/// Removes the kernelspec `name` from `location`; returns the removed directory.
pub fn uninstall(location: &Location, name: &str) -> Result<PathBuf, InstallError> {
    let dir = location.kernels_dir()?.join(name);
    if !dir.join("kernel.json").exists() {
        return Err(InstallError::NotInstalled(name.to_owned()));
    }
    std::fs::remove_dir_all(&dir).map_err(|source| InstallError::Io {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_kernelspec_jupyter_can_launch() {
        let root = std::env::temp_dir().join(format!("fk-install-test-{}", std::process::id()));
        let location = Location::Prefix(root.clone());
        let dir = location.kernels_dir().expect("dir").join("fk-test");
        let read = || -> serde_json::Value {
            serde_json::from_slice(&std::fs::read(dir.join("kernel.json")).expect("read"))
                .expect("json")
        };
        let executable = Path::new("/opt/bin/ferrokernel");
        let plain = SpecOptions::default();
        write_kernelspec(&dir, executable, "Rust (test)", &plain).expect("written");
        let spec = read();
        assert_eq!(spec["argv"][0], "/opt/bin/ferrokernel");
        assert_eq!(spec["argv"][3], "{connection_file}");
        assert_eq!(spec["argv"].as_array().map(Vec::len), Some(4));
        assert_eq!(spec["language"], "rust");
        assert_eq!(spec["interrupt_mode"], "message");
        assert!(spec.get("env").is_none(), "nothing pinned, no env");
        assert_eq!(
            spec["metadata"]["ferrokernel"]["version"],
            env!("CARGO_PKG_VERSION")
        );
        let pinned = SpecOptions {
            env: BTreeMap::from([("RUSTUP_HOME".to_owned(), "/r".to_owned())]),
            no_pool: true,
        };
        write_kernelspec(&dir, executable, "Rust (test)", &pinned).expect("rewritten");
        let spec = read();
        assert_eq!(spec["argv"][4], "--no-pool");
        assert_eq!(spec["env"]["RUSTUP_HOME"], "/r");
        assert!(dir.join("logo-64x64.png").exists());
        assert_eq!(uninstall(&location, "fk-test").expect("removed"), dir);
        assert!(matches!(
            uninstall(&location, "fk-test"),
            Err(InstallError::NotInstalled(_))
        ));
        let _ = std::fs::remove_dir_all(root);
    }
}

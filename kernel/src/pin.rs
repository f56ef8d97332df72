//! The toolchain a kernelspec pins, and how a kernel applies it when it starts.
//!
//! `ferrokernel install` records in the kernelspec's `env` what it found: the
//! directories of `cargo` and `rustc` ([`TOOLCHAIN_PATH_VAR`]) and RUSTUP_HOME,
//! CARGO_HOME and RUSTUP_TOOLCHAIN when set or implied. The directories are not
//! written as `"PATH": "dir:${PATH}"`: launchers that do not substitute
//! `${PATH}` (VS Code's Jupyter extension before 2024, jupyter_client before 7)
//! would hand the kernel that literal text and lose `/usr/bin`. Instead the
//! kernel puts them in front of whatever PATH it was given ([`path_with`]).

use ferrokernel_engine::Toolchain;
use ferrokernel_engine::toolchain::Variables;

/// The kernelspec variable that holds the toolchain's directories (PATH syntax).
pub const TOOLCHAIN_PATH_VAR: &str = "FERROKERNEL_TOOLCHAIN_PATH";

/// Directories on every PATH a launcher gives: a toolchain there (a distribution's
/// cargo) needs no pin, and putting them in front would shadow the launcher's own
/// (a venv's `python` for cells that run it).
const ALWAYS_ON_PATH: &[&str] = &["/usr/bin", "/bin"];

/// The kernelspec `env` that makes a kernel find `toolchain` whatever launches it.
pub fn variables(toolchain: &Toolchain) -> Variables {
    let mut vars = Variables::new();
    let dirs: Vec<_> = toolchain
        .bin_dirs()
        .into_iter()
        .filter(|dir| {
            !ALWAYS_ON_PATH
                .iter()
                .any(|always| dir.as_os_str() == *always)
        })
        .collect();
    if !dirs.is_empty()
        && let Ok(joined) = std::env::join_paths(&dirs)
    {
        vars.insert(
            TOOLCHAIN_PATH_VAR.to_owned(),
            joined.to_string_lossy().into_owned(),
        );
    }
    if let Some(home) = &toolchain.rustup_home {
        vars.insert("RUSTUP_HOME".to_owned(), home.path.display().to_string());
    }
    if let Some(home) = &toolchain.cargo_home {
        vars.insert("CARGO_HOME".to_owned(), home.path.display().to_string());
    }
    if let Some(name) = &toolchain.rustup_toolchain {
        vars.insert("RUSTUP_TOOLCHAIN".to_owned(), name.clone());
    }
    vars
}

/// `path` with the `pinned` directories in front, or unchanged when it already
/// starts with them (so applying it twice, or to a PATH that already works, is
/// a no-op and engines' pool keys stay equal).
pub fn path_with(path: &str, pinned: &str) -> String {
    let pinned: Vec<&str> = pinned.split(':').filter(|d| !d.is_empty()).collect();
    let current: Vec<&str> = path.split(':').collect();
    if pinned.is_empty() || current.starts_with(&pinned) {
        return path.to_owned();
    }
    let mut joined = pinned.join(":");
    if !path.is_empty() {
        joined.push(':');
        joined.push_str(path);
    }
    joined
}

/// `vars` as a kernel launched with them sees its environment: PATH with the
/// pinned directories in front.
pub fn applied(mut vars: Variables) -> Variables {
    if let Some(pinned) = vars.get(TOOLCHAIN_PATH_VAR).cloned() {
        let path = vars.get("PATH").map(String::as_str).unwrap_or("");
        let path = path_with(path, &pinned);
        vars.insert("PATH".to_owned(), path);
    }
    vars
}

/// Sets `vars` in this process, then applies the pinned PATH (see [`applied`]).
///
/// # Safety
/// Sets environment variables: the process must have one thread.
pub unsafe fn apply_to_this_process(vars: &Variables) {
    for (name, value) in vars {
        // SAFETY: the caller guarantees the process is single-threaded.
        unsafe { std::env::set_var(name, value) };
    }
    // SAFETY: as above.
    unsafe { apply_pinned_path() };
}

/// Puts the kernelspec's pinned toolchain directories in front of PATH.
///
/// # Safety
/// Sets an environment variable: the process must have one thread.
pub unsafe fn apply_pinned_path() {
    let Some(pinned) = std::env::var_os(TOOLCHAIN_PATH_VAR) else {
        return;
    };
    let path = std::env::var_os("PATH").unwrap_or_default();
    let updated = path_with(&path.to_string_lossy(), &pinned.to_string_lossy());
    if updated != path.to_string_lossy() {
        // SAFETY: the caller guarantees the process is single-threaded.
        unsafe { std::env::set_var("PATH", updated) };
    }
}

/// What `install` says it pinned, one line per variable.
pub fn describe(toolchain: &Toolchain, vars: &Variables) -> String {
    let how = |setting: &Option<ferrokernel_engine::toolchain::Setting>| match setting {
        Some(setting) if setting.implied => " (implied by HOME)",
        _ => "",
    };
    let mut text = String::new();
    for (name, value) in vars {
        let note = match name.as_str() {
            TOOLCHAIN_PATH_VAR => " (put in front of PATH by the kernel)",
            "RUSTUP_HOME" => how(&toolchain.rustup_home),
            "CARGO_HOME" => how(&toolchain.cargo_home),
            _ => "",
        };
        text.push_str(&format!("  {name}={value}{note}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokernel_engine::toolchain::{Setting, Tool};
    use std::path::PathBuf;

    fn toolchain(cargo: &str, rustc: &str) -> Toolchain {
        let tool = |path: &str| Tool {
            path: PathBuf::from(path),
            version: "1.95.0".to_owned(),
        };
        Toolchain {
            cargo: tool(cargo),
            rustc: tool(rustc),
            host: "x86_64-unknown-linux-gnu".to_owned(),
            release: "1.95.0".to_owned(),
            sysroot: PathBuf::from("/sysroot"),
            rust_src: None,
            rustup_home: Some(Setting {
                path: PathBuf::from("/home/ada/.rustup"),
                implied: true,
            }),
            cargo_home: None,
            rustup_toolchain: Some("nightly".to_owned()),
        }
    }

    #[test]
    fn the_toolchain_directories_and_homes_are_pinned() {
        let vars = variables(&toolchain(
            "/home/ada/.cargo/bin/cargo",
            "/opt/rustc/bin/rustc",
        ));
        assert_eq!(
            vars[TOOLCHAIN_PATH_VAR],
            "/home/ada/.cargo/bin:/opt/rustc/bin"
        );
        assert_eq!(vars["RUSTUP_HOME"], "/home/ada/.rustup");
        assert_eq!(vars["RUSTUP_TOOLCHAIN"], "nightly");
        assert!(!vars.contains_key("CARGO_HOME"));
        let described = describe(&toolchain("/a/cargo", "/a/rustc"), &vars);
        assert!(described.contains("RUSTUP_HOME=/home/ada/.rustup (implied by HOME)"));
        // A distribution's cargo is on every PATH already.
        let system = variables(&toolchain("/usr/bin/cargo", "/usr/bin/rustc"));
        assert!(!system.contains_key(TOOLCHAIN_PATH_VAR), "{system:?}");
    }

    #[test]
    fn pinned_directories_go_in_front_once() {
        assert_eq!(
            path_with("/usr/bin:/bin", "/root/.cargo/bin"),
            "/root/.cargo/bin:/usr/bin:/bin"
        );
        let once = path_with("/usr/bin:/bin", "/a:/b");
        assert_eq!(once, "/a:/b:/usr/bin:/bin");
        assert_eq!(path_with(&once, "/a:/b"), once);
        assert_eq!(path_with("", "/a"), "/a");
        assert_eq!(path_with("/usr/bin", ""), "/usr/bin");
        // Later in PATH is not in front: a shadowing cargo could come first.
        assert_eq!(path_with("/x:/a", "/a"), "/a:/x:/a");
    }

    #[test]
    fn applied_sets_path_from_the_pinned_directories() {
        let vars = Variables::from([
            ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
            (TOOLCHAIN_PATH_VAR.to_owned(), "/opt/rust/bin".to_owned()),
        ]);
        assert_eq!(applied(vars)["PATH"], "/opt/rust/bin:/usr/bin:/bin");
        let unpinned = Variables::from([("PATH".to_owned(), "/usr/bin".to_owned())]);
        assert_eq!(applied(unpinned)["PATH"], "/usr/bin");
    }
}

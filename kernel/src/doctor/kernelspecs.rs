//! The ferrokernel kernelspecs Jupyter would find, searched like
//! `jupyter kernelspec list` does, and whether each one can start a kernel.

use super::Check;
use crate::install::Location;
use crate::pin;
use ferrokernel_engine::Toolchain;
use ferrokernel_engine::toolchain::{Variables, current_variables};
use std::path::{Path, PathBuf};

/// The PATH a bare launcher (systemd, a desktop entry) gives: the pinned
/// toolchain must work with it alone.
const BARE_PATH: &str = "/usr/bin:/bin";

/// Where Jupyter looks for kernelspecs, first match winning (jupyter_core's
/// `jupyter_path("kernels")`): `$JUPYTER_PATH`, the user's data directory, the
/// Python environment's (before the user's with `JUPYTER_PREFER_ENV_PATH`), then
/// the system's.
pub(super) fn search_path() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("JUPYTER_PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| p.join("kernels"))
                .collect()
        })
        .unwrap_or_default();
    let user: Vec<PathBuf> = Location::User.kernels_dir().into_iter().collect();
    let mut env: Vec<PathBuf> = Vec::new();
    if let Some(conda) = std::env::var_os("CONDA_PREFIX").filter(|p| !p.is_empty()) {
        env.push(PathBuf::from(conda).join("share/jupyter/kernels"));
    }
    env.extend(Location::SysPrefix.kernels_dir());
    let prefer_env = std::env::var("JUPYTER_PREFER_ENV_PATH").is_ok_and(|v| {
        !matches!(
            v.to_ascii_lowercase().as_str(),
            "" | "0" | "false" | "no" | "off"
        )
    });
    if prefer_env {
        dirs.extend(env);
        dirs.extend(user);
    } else {
        dirs.extend(user);
        dirs.extend(env);
    }
    dirs.push(PathBuf::from("/usr/local/share/jupyter/kernels"));
    dirs.push(PathBuf::from("/usr/share/jupyter/kernels"));
    let mut unique = Vec::new();
    for dir in dirs {
        if !unique.contains(&dir) {
            unique.push(dir);
        }
    }
    unique
}

/// A kernelspec of ours, as found.
#[derive(Debug, Clone)]
struct Found {
    name: String,
    dir: PathBuf,
    argv: Vec<String>,
    env: Variables,
    /// An earlier directory has a kernelspec of this name: Jupyter uses that one.
    shadowed_by: Option<PathBuf>,
}

/// One check per ferrokernel kernelspec found (or one saying there is none).
pub(super) fn checks() -> Vec<Check> {
    let search = search_path();
    let found = find_in(&search);
    if found.is_empty() {
        let searched: Vec<String> = search.iter().map(|d| d.display().to_string()).collect();
        return vec![Check::broken(
            "kernelspec",
            format!(
                "Jupyter would find no ferrokernel kernelspec (searched {})",
                searched.join(", ")
            ),
            "`ferrokernel install --user` (or `--sys-prefix` with the venv Jupyter runs from activated)",
        )];
    }
    found.iter().map(check).collect()
}

/// The ferrokernel kernelspecs in `search`, in Jupyter's order of preference.
fn find_in(search: &[PathBuf]) -> Vec<Found> {
    let mut seen: Vec<(String, PathBuf)> = Vec::new();
    let mut found = Vec::new();
    for kernels in search {
        let Ok(entries) = std::fs::read_dir(kernels) else {
            continue;
        };
        let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        dirs.sort();
        for dir in dirs {
            let Some(name) = dir.file_name().map(|n| n.to_string_lossy().to_lowercase()) else {
                continue;
            };
            let Ok(text) = std::fs::read_to_string(dir.join("kernel.json")) else {
                continue;
            };
            let shadowed_by = seen
                .iter()
                .find(|(seen_name, _)| *seen_name == name)
                .map(|(_, dir)| dir.clone());
            if shadowed_by.is_none() {
                seen.push((name.clone(), dir.clone()));
            }
            let Ok(spec) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            if !is_ours(&spec) {
                continue;
            }
            let argv = spec["argv"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let env = spec["env"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default();
            found.push(Found {
                name,
                dir,
                argv,
                env,
                shadowed_by,
            });
        }
    }
    found
}

/// Ours: marked by `install` in its metadata, or launching a binary named ferrokernel.
fn is_ours(spec: &serde_json::Value) -> bool {
    spec["metadata"].get("ferrokernel").is_some()
        || spec["argv"][0]
            .as_str()
            .and_then(|exe| Path::new(exe).file_name())
            .is_some_and(|name| name.to_string_lossy().starts_with("ferrokernel"))
}

fn check(found: &Found) -> Check {
    let label = format!("{} in {}", found.name, found.dir.display());
    if let Some(winner) = &found.shadowed_by {
        return Check::ok(
            "kernelspec",
            format!(
                "{label}: shadowed by {}, so Jupyter does not use it",
                winner.display()
            ),
        );
    }
    let reinstall = reinstall_command(found);
    let Some(exe) = found.argv.first() else {
        return Check::broken(
            "kernelspec",
            format!("{label}: its argv is empty"),
            reinstall,
        );
    };
    let fix_binary = format!(
        "{reinstall} (it rewrites the kernelspec with this binary), or `jupyter kernelspec remove {}`",
        found.name
    );
    let exe_path = Path::new(exe);
    if !exe_path.is_file() {
        return Check::broken(
            "kernelspec",
            format!("{label}: its binary {exe} does not exist"),
            fix_binary,
        );
    }
    let version = std::process::Command::new(exe_path)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output();
    let version = match version {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        }
        Ok(output) => {
            return Check::broken(
                "kernelspec",
                format!("{label}: `{exe} --version` failed ({})", output.status),
                fix_binary,
            );
        }
        Err(error) => {
            return Check::broken(
                "kernelspec",
                format!("{label}: cannot run its binary {exe}: {error}"),
                fix_binary,
            );
        }
    };
    let this = std::env::current_exe().ok();
    let same_binary = this.as_deref().is_some_and(|this| {
        std::fs::canonicalize(exe_path).ok().as_deref()
            == std::fs::canonicalize(this).ok().as_deref()
    });
    let mut summary = format!(
        "{label}: {version} at {exe}{}",
        if same_binary { " (this binary)" } else { "" }
    );
    let details = serde_json::json!({
        "name": found.name, "dir": found.dir, "argv": found.argv, "env": found.env,
    });
    match found.env.get(pin::TOOLCHAIN_PATH_VAR) {
        Some(pinned) => {
            if let Err(error) = Toolchain::probe_in(&launched_with(&found.env)) {
                return Check::broken(
                    "kernelspec",
                    format!(
                        "{label}: its pinned toolchain ({pinned}) does not work: {}",
                        error.problem
                    ),
                    format!("{reinstall} from a shell where `cargo --version` works"),
                )
                .with_details(details);
            }
            summary.push_str(&format!("; toolchain pinned ({pinned})"));
        }
        None => summary.push_str("; toolchain not pinned (the launcher's PATH must find cargo)"),
    }
    if version != format!("ferrokernel {}", crate::info::VERSION) {
        return Check::warning(
            "kernelspec",
            format!("{summary}; this is ferrokernel {}", crate::info::VERSION),
            format!("{reinstall} to launch this version"),
        )
        .with_details(details);
    }
    Check::ok("kernelspec", summary).with_details(details)
}

/// The environment a kernel from this kernelspec gets from a bare launcher.
fn launched_with(spec_env: &Variables) -> Variables {
    let mut vars: Variables = current_variables()
        .into_iter()
        .filter(|(name, _)| name == "HOME" || name == "USER" || name == "LANG")
        .collect();
    vars.insert("PATH".to_owned(), BARE_PATH.to_owned());
    vars.extend(spec_env.clone());
    pin::applied(vars)
}

/// The `ferrokernel install` that rewrites this kernelspec in place.
fn reinstall_command(found: &Found) -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "ferrokernel".to_owned());
    let kernels = found.dir.parent().unwrap_or(&found.dir);
    let same = |location: Location| location.kernels_dir().is_ok_and(|dir| dir == kernels);
    let location = if same(Location::User) {
        " --user".to_owned()
    } else if same(Location::SysPrefix) {
        " --sys-prefix".to_owned()
    } else if same(Location::System) {
        String::new()
    } else {
        match prefix_of(kernels) {
            Some(prefix) => format!(" --prefix {}", prefix.display()),
            None => " --user".to_owned(),
        }
    };
    let name = if found.name == crate::install::DEFAULT_NAME {
        String::new()
    } else {
        format!(" --name {}", found.name)
    };
    format!("`{exe} install{location}{name}`")
}

/// `PREFIX` of a `PREFIX/share/jupyter/kernels` directory.
fn prefix_of(kernels: &Path) -> Option<&Path> {
    if !kernels.ends_with("share/jupyter/kernels") {
        return None;
    }
    kernels.parent()?.parent()?.parent()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_spec(kernels: &Path, name: &str, argv0: &str, marked: bool) {
        let dir = kernels.join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        let metadata = if marked {
            serde_json::json!({ "ferrokernel": { "version": "0.1.0" } })
        } else {
            serde_json::json!({})
        };
        let spec = serde_json::json!({
            "argv": [argv0, "kernel", "--connection-file", "{connection_file}"],
            "display_name": name, "language": "rust", "metadata": metadata,
        });
        std::fs::write(dir.join("kernel.json"), spec.to_string()).expect("kernel.json");
    }

    #[test]
    fn ours_are_found_in_order_and_a_later_namesake_is_shadowed() {
        let root = std::env::temp_dir().join(format!("fk-doctor-specs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let first = root.join("a/share/jupyter/kernels");
        let second = root.join("b/kernels");
        write_spec(&first, "ferrokernel", "/gone/ferrokernel", false);
        write_spec(&first, "python3", "/usr/bin/python3", false);
        write_spec(&second, "ferrokernel", "/opt/fk", true);
        write_spec(&second, "rust-nightly", "/opt/renamed-binary", true);
        let found = find_in(&[first.clone(), second.clone()]);
        let names: Vec<(&str, bool)> = found
            .iter()
            .map(|f| (f.name.as_str(), f.shadowed_by.is_some()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("ferrokernel", false),
                ("ferrokernel", true),
                ("rust-nightly", false)
            ]
        );
        let missing = check(&found[0]);
        assert_eq!(missing.status, super::super::Status::Broken);
        assert!(
            missing.summary.contains("/gone/ferrokernel does not exist"),
            "{}",
            missing.summary
        );
        assert!(
            missing
                .fix
                .as_deref()
                .is_some_and(|f| f.contains("install --prefix"))
        );
        assert!(
            missing
                .fix
                .as_deref()
                .is_some_and(|f| f.contains(&root.join("a").display().to_string()))
        );
        assert_eq!(
            check(&found[1]).status,
            super::super::Status::Ok,
            "shadowed: not Jupyter's"
        );
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn a_prefix_is_recovered_from_its_kernels_directory() {
        let kernels = Path::new("/opt/x/share/jupyter/kernels");
        assert_eq!(prefix_of(kernels), Some(Path::new("/opt/x")));
        assert_eq!(prefix_of(Path::new("/opt/kernels")), None);
    }
}

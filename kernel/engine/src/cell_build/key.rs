//! What must not have changed for a recorded build to be replayed.
//!
//! [`Key`] is what cargo reads to decide what to build: its command,
//! directory and environment, the manifest, the lock file and the cargo
//! configuration files (read whole: they are small). [`Stamps`] are the
//! files the cell's compilation depends on besides its source: the compiler,
//! the `--extern` artifacts (cargo rebuilt a dependency: another file),
//! every local package's directory (an edited `:dep` on a path), and the
//! paths outside any package that build scripts asked cargo to watch
//! (`rerun-if-changed` on an absolute path).

use super::record::Invocation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Key {
    cargo: String,
    args: Vec<String>,
    dir: PathBuf,
    env: BTreeMap<String, String>,
    /// Each file cargo reads, and its content (`None`: absent).
    files: Vec<(PathBuf, Option<String>)>,
}

impl Key {
    pub(super) fn of(cargo: &OsStr, args: &[OsString], dir: &Path) -> Key {
        let lossy = |text: &OsStr| text.to_string_lossy().into_owned();
        let files = cargo_reads(dir)
            .into_iter()
            .map(|path| {
                let content = std::fs::read(&path)
                    .ok()
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
                (path, content)
            })
            .collect();
        Key {
            cargo: lossy(cargo),
            args: args.iter().map(|arg| lossy(arg)).collect(),
            dir: dir.to_owned(),
            env: std::env::vars_os()
                .map(|(name, value)| (lossy(&name), lossy(&value)))
                .collect(),
            files,
        }
    }
}

/// The manifest, the lock file, and the configuration files cargo looks for
/// from the crate's directory up, then in cargo's home.
fn cargo_reads(dir: &Path) -> Vec<PathBuf> {
    let configs = |base: &Path| [base.join("config.toml"), base.join("config")];
    let mut files = vec![dir.join("Cargo.toml"), dir.join("Cargo.lock")];
    for ancestor in dir.ancestors() {
        files.extend(configs(&ancestor.join(".cargo")));
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    if let Some(home) = cargo_home {
        files.extend(configs(&home));
    }
    files
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Stamps {
    files: Vec<(PathBuf, FileStamp)>,
    /// Local packages' directories and the newest file in each.
    packages: Vec<(PathBuf, FileStamp)>,
    /// Absolute paths build scripts watch (`None`: absent then).
    #[serde(default)]
    watched: Vec<(PathBuf, Option<FileStamp>)>,
}

/// Enough of a file's metadata to see that it was rewritten or replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct FileStamp {
    len: u64,
    modified_ns: i128,
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            len: meta.len(),
            modified_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            inode: meta.ino(),
        })
    }

    /// A file's stamp, or a directory's newest file's, as cargo watches both.
    fn of_path(path: &Path) -> Option<FileStamp> {
        if path.is_dir() {
            FileStamp::of_tree(path)
        } else {
            FileStamp::of(path)
        }
    }

    /// The newest file under `dir` (its build output and hidden directories
    /// left out), with the count of files as its length.
    fn of_tree(dir: &Path) -> Option<FileStamp> {
        let mut newest = FileStamp {
            len: 0,
            modified_ns: i128::MIN,
            inode: 0,
        };
        let mut pending = vec![dir.to_owned()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).ok()?.flatten() {
                let name = entry.file_name();
                if name.to_string_lossy().starts_with('.') || name == "target" {
                    continue;
                }
                let path = entry.path();
                if entry.file_type().ok()?.is_dir() {
                    pending.push(path);
                } else if let Some(stamp) = FileStamp::of(&path) {
                    newest.len += 1;
                    if stamp.modified_ns > newest.modified_ns {
                        newest.modified_ns = stamp.modified_ns;
                        newest.inode = stamp.inode;
                    }
                }
            }
        }
        Some(newest)
    }
}

impl Stamps {
    /// Stamps of what `invocation` depends on; `None` when they cannot all
    /// be taken (the build is then not replayed).
    pub(super) fn take(invocation: &Invocation, cargo: &OsStr, dir: &Path) -> Option<Stamps> {
        let files = std::iter::once(invocation.rustc.as_path())
            .chain(invocation.externs())
            .map(|path| Some((path.to_owned(), FileStamp::of(path)?)))
            .collect::<Option<_>>()?;
        let packages = local_packages(cargo, dir)?
            .into_iter()
            .map(|dir| {
                let stamp = FileStamp::of_tree(&dir)?;
                Some((dir, stamp))
            })
            .collect::<Option<_>>()?;
        let watched = invocation
            .value_of("--out-dir")
            .and_then(|deps| Path::new(deps).parent())
            .map(|profile| watched_by_build_scripts(&profile.join("build")))
            .unwrap_or_default();
        Some(Stamps {
            files,
            packages,
            watched,
        })
    }

    /// The first stamped path that is not as it was.
    pub(super) fn changed(&self) -> Option<&Path> {
        let files = self
            .files
            .iter()
            .find(|(path, stamp)| FileStamp::of(path) != Some(*stamp));
        let packages = || {
            self.packages
                .iter()
                .find(|(dir, stamp)| FileStamp::of_tree(dir) != Some(*stamp))
        };
        let watched = || {
            self.watched
                .iter()
                .find(|(path, stamp)| FileStamp::of_path(path) != *stamp)
                .map(|(path, _)| path)
        };
        files
            .or_else(packages)
            .map(|(path, _)| path)
            .or_else(watched)
            .map(PathBuf::as_path)
    }
}

/// The absolute paths the build scripts whose output is under `build_dir`
/// asked cargo to watch, stamped as they are now. Relative ones are inside
/// their package, stamped with it when it is local, and never change when it
/// comes from a registry.
fn watched_by_build_scripts(build_dir: &Path) -> Vec<(PathBuf, Option<FileStamp>)> {
    let Ok(entries) = std::fs::read_dir(build_dir) else {
        return Vec::new();
    };
    let mut watched: Vec<PathBuf> = entries
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("output")).ok())
        .flat_map(|output| {
            output
                .lines()
                .filter_map(|line| {
                    line.strip_prefix("cargo::rerun-if-changed=")
                        .or_else(|| line.strip_prefix("cargo:rerun-if-changed="))
                })
                .map(PathBuf::from)
                .filter(|path| path.is_absolute())
                .collect::<Vec<_>>()
        })
        .collect();
    watched.sort();
    watched.dedup();
    watched
        .into_iter()
        .map(|path| {
            let stamp = FileStamp::of_path(&path);
            (path, stamp)
        })
        .collect()
}

/// The directories of the packages in the graph that come from a path (the
/// prelude, a `:dep` on a local crate), the cell crate left out.
fn local_packages(cargo: &OsStr, dir: &Path) -> Option<Vec<PathBuf>> {
    #[derive(Deserialize)]
    struct Metadata {
        packages: Vec<Package>,
    }
    #[derive(Deserialize)]
    struct Package {
        source: Option<String>,
        manifest_path: PathBuf,
    }
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(dir)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let metadata: Metadata = serde_json::from_slice(&output.stdout).ok()?;
    Some(
        metadata
            .packages
            .into_iter()
            .filter(|package| package.source.is_none())
            .filter_map(|package| package.manifest_path.parent().map(Path::to_owned))
            .filter(|package_dir| package_dir != dir)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_written_anywhere_in_a_local_package_is_seen() {
        let dir = std::env::temp_dir().join(format!("fk-cell-build-{}", std::process::id()));
        let src = dir.join("src");
        std::fs::create_dir_all(src.join("deep")).expect("dirs");
        std::fs::create_dir_all(dir.join("target")).expect("target");
        std::fs::write(src.join("lib.rs"), "pub fn v() -> i32 { 1 }").expect("write");
        let stamps = Stamps {
            files: vec![],
            packages: vec![(dir.clone(), FileStamp::of_tree(&dir).expect("stamp"))],
            watched: vec![],
        };
        assert_eq!(stamps.changed(), None);
        // Build output is not the package's source.
        std::fs::write(dir.join("target").join("out"), "x").expect("write");
        assert_eq!(stamps.changed(), None);
        std::fs::write(src.join("deep").join("new.rs"), "").expect("write");
        assert_eq!(stamps.changed(), Some(dir.as_path()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_key_reads_the_manifest_and_configuration_up_the_tree() {
        let files = cargo_reads(Path::new("/a/b"));
        assert!(files.contains(&PathBuf::from("/a/b/Cargo.toml")));
        assert!(files.contains(&PathBuf::from("/a/b/Cargo.lock")));
        assert!(files.contains(&PathBuf::from("/a/.cargo/config.toml")));
        assert!(files.contains(&PathBuf::from("/.cargo/config.toml")));
    }

    #[test]
    fn absolute_paths_build_scripts_watch_are_stamped() {
        let dir = std::env::temp_dir().join(format!("fk-cell-watch-{}", std::process::id()));
        let build = dir.join("build");
        let outside = dir.join("outside.txt");
        let missing = dir.join("not-yet.txt");
        for package in ["one-1", "two-2"] {
            std::fs::create_dir_all(build.join(package)).expect("dirs");
        }
        std::fs::write(&outside, "one").expect("write");
        std::fs::write(
            build.join("one-1").join("output"),
            format!(
                "cargo:rerun-if-changed=build.rs\ncargo:rustc-env=X=1\ncargo:rerun-if-changed={}\n",
                outside.display()
            ),
        )
        .expect("output");
        std::fs::write(
            build.join("two-2").join("output"),
            format!(
                "cargo::rerun-if-changed={}\ncargo::rerun-if-changed={}\n",
                outside.display(),
                missing.display()
            ),
        )
        .expect("output");
        let watched = watched_by_build_scripts(&build);
        let paths: Vec<&PathBuf> = watched.iter().map(|(path, _)| path).collect();
        assert_eq!(paths, [&missing, &outside]);
        let stamps = Stamps {
            files: vec![],
            packages: vec![],
            watched,
        };
        assert_eq!(stamps.changed(), None);
        std::fs::write(&outside, "two!").expect("edit");
        assert_eq!(stamps.changed(), Some(outside.as_path()));
        std::fs::write(&outside, "one").expect("restore");
        std::fs::write(&missing, "").expect("create");
        assert!(stamps.changed().is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

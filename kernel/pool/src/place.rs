//! Where a pool listens: a directory only its user can enter.
//!
//! `$FERROKERNEL_POOL_DIR` if set, else `$XDG_RUNTIME_DIR/ferrokernel`, else
//! `/tmp/ferrokernel-<uid>`. The directory is created mode 0700 and must be
//! owned by this user and not be a symlink; anything else is refused (a
//! directory someone else made could hand our kernels their engine). Each build
//! of the binary has its own socket there, so a rebuilt or upgraded ferrokernel
//! never talks to a pool of the previous one.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why the pool's directory cannot be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PlaceError {
    /// It could not be created or inspected.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// It exists but others could reach into it.
    #[error(
        "{path} is not private to this user (owner uid {owner}, mode {mode:o}); remove it or set FERROKERNEL_POOL_DIR"
    )]
    NotPrivate {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Its permission bits.
        mode: u32,
    },
}

/// The files of one build's pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The private directory.
    pub dir: PathBuf,
    /// The listening socket.
    pub socket: PathBuf,
    /// Held (flock) by the running pool, so only one runs per build.
    pub lock: PathBuf,
    /// The pool's log.
    pub log: PathBuf,
}

impl Place {
    /// The place of the pool for this build of the binary (see [`build_id`]).
    pub fn for_this_build() -> Result<Place, PlaceError> {
        Place::in_dir(&private_dir()?, &build_id())
    }

    /// The place for build `build` in the private directory `dir`.
    pub fn in_dir(dir: &Path, build: &str) -> Result<Place, PlaceError> {
        ensure_private(dir)?;
        Ok(Place {
            dir: dir.to_owned(),
            socket: dir.join(format!("pool-{build}.sock")),
            lock: dir.join(format!("pool-{build}.lock")),
            log: dir.join(format!("pool-{build}.log")),
        })
    }
}

/// The private directory, created if missing.
pub fn private_dir() -> Result<PathBuf, PlaceError> {
    let dir = if let Some(dir) = std::env::var_os("FERROKERNEL_POOL_DIR") {
        PathBuf::from(dir)
    } else if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        PathBuf::from(runtime).join("ferrokernel")
    } else {
        std::env::temp_dir().join(format!("ferrokernel-{}", nix::unistd::getuid()))
    };
    ensure_private(&dir)?;
    Ok(dir)
}

/// Creates `dir` mode 0700 if missing; checks that it is ours and private.
fn ensure_private(dir: &Path) -> Result<(), PlaceError> {
    let io = |source| PlaceError::Io {
        path: dir.to_owned(),
        source,
    };
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(io(error)),
    }
    // lstat: a symlink planted at this path must not redirect us.
    let metadata = std::fs::symlink_metadata(dir).map_err(io)?;
    let mode = metadata.permissions().mode() & 0o7777;
    let me = nix::unistd::getuid().as_raw();
    if !metadata.is_dir() || metadata.uid() != me || mode & 0o077 != 0 {
        return Err(PlaceError::NotPrivate {
            path: dir.to_owned(),
            owner: metadata.uid(),
            mode,
        });
    }
    Ok(())
}

/// Names this build of the binary: its version, the pool protocol, and the
/// executable's path, size and modification time (a rebuild changes them).
pub fn build_id() -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    crate::messages::PROTOCOL_VERSION.hash(&mut hasher);
    if let Ok(exe) = std::env::current_exe() {
        exe.hash(&mut hasher);
        if let Ok(metadata) = std::fs::metadata(&exe) {
            metadata.len().hash(&mut hasher);
            metadata.mtime().hash(&mut hasher);
            metadata.mtime_nsec().hash(&mut hasher);
        }
    }
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_directory_is_private_and_others_are_refused() {
        let root = std::env::temp_dir().join(format!("fk-place-{}", std::process::id()));
        let place = Place::in_dir(&root, "b").expect("created");
        let mode = std::fs::metadata(&place.dir)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(place.socket.ends_with("pool-b.sock"));
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert!(matches!(
            Place::in_dir(&root, "b"),
            Err(PlaceError::NotPrivate { .. })
        ));
        let link = root.with_extension("link");
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::os::unix::fs::symlink(&root, &link).expect("symlink");
        assert!(matches!(
            Place::in_dir(&link, "b"),
            Err(PlaceError::NotPrivate { .. })
        ));
        let _ = std::fs::remove_file(link);
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn the_build_id_is_stable_within_a_build() {
        assert_eq!(build_id(), build_id());
        assert_eq!(build_id().len(), 16);
    }
}

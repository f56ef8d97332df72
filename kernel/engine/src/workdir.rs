//! Where the engine builds: a persistent directory per concurrent kernel.
//!
//! evcxr compiles every cell as a crate in a work directory and keeps the
//! dependencies it built there (the prelude with nix, rayon, serde...). A fresh
//! temporary directory per kernel would rebuild them at every start, so kernels
//! reuse *slots* under the cache directory instead: a kernel takes the first slot
//! whose lock file it can lock, and keeps the lock while it runs. Restarting a
//! kernel, or opening another notebook after closing one, finds the build warm.

use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// How many kernels may run at once before slots are exhausted.
const MAX_SLOTS: usize = 32;

/// Why no work directory could be had.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WorkdirError {
    /// The cache directory could not be created or written.
    #[error("cannot use the cache directory {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Every slot is locked by a running kernel.
    #[error("all {MAX_SLOTS} engine work directories under {0} are in use")]
    AllSlotsBusy(PathBuf),
}

/// A locked, persistent work directory; unlocked when dropped.
#[derive(Debug)]
pub struct Workdir {
    cache_root: PathBuf,
    slot: PathBuf,
    _lock: Flock<File>,
}

impl Workdir {
    /// The cache root: `$FERROKERNEL_CACHE_DIR`, else `$XDG_CACHE_HOME/ferrokernel`,
    /// else `~/.cache/ferrokernel`.
    pub fn default_cache_root() -> PathBuf {
        if let Some(dir) = std::env::var_os("FERROKERNEL_CACHE_DIR") {
            return PathBuf::from(dir);
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("ferrokernel")
    }

    /// Takes the first free slot under `cache_root`.
    pub fn acquire(cache_root: &Path) -> Result<Workdir, WorkdirError> {
        let engine_dir = cache_root.join("engine");
        let io = |source| WorkdirError::Io {
            path: engine_dir.clone(),
            source,
        };
        std::fs::create_dir_all(&engine_dir).map_err(io)?;
        for index in 0..MAX_SLOTS {
            let lock_path = engine_dir.join(format!("slot-{index}.lock"));
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(io)?;
            let Ok(lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
                continue;
            };
            let slot = engine_dir.join(format!("slot-{index}"));
            if !slot.join("target").exists() {
                seed_from_a_warm_slot(&engine_dir, &slot);
            }
            std::fs::create_dir_all(&slot).map_err(io)?;
            return Ok(Workdir {
                cache_root: cache_root.to_owned(),
                slot,
                _lock: lock,
            });
        }
        Err(WorkdirError::AllSlotsBusy(engine_dir))
    }

    /// The cache root this slot lives under.
    pub fn cache_root(&self) -> &Path {
        &self.cache_root
    }

    /// The slot directory (evcxr's work directory).
    pub fn path(&self) -> &Path {
        &self.slot
    }
}

/// A new slot starts as a copy of a warm one (its compiled dependencies), so a
/// second notebook open at once does not rebuild the prelude from scratch.
/// Best effort: on any failure the slot simply starts cold.
fn seed_from_a_warm_slot(engine_dir: &Path, slot: &Path) {
    let Ok(entries) = std::fs::read_dir(engine_dir) else {
        return;
    };
    let warm = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path != slot && path.join("target").is_dir())
        .max_by_key(|path| {
            std::fs::metadata(path.join("target"))
                .and_then(|m| m.modified())
                .ok()
        });
    let Some(warm) = warm else {
        return;
    };
    let staging = slot.with_extension(format!("seeding-{}", std::process::id()));
    let copied = std::process::Command::new("cp")
        .args(["-a", "--reflink=auto"])
        .arg(&warm)
        .arg(&staging)
        .status()
        .is_ok_and(|status| status.success());
    if copied {
        let _ = std::fs::remove_dir_all(slot);
        if std::fs::rename(&staging, slot).is_ok() {
            tracing::info!(from = %warm.display(), to = %slot.display(), "seeded a new engine slot");
            return;
        }
    }
    let _ = std::fs::remove_dir_all(&staging);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_holders_get_different_slots_and_free_ones_are_reused() {
        let root = std::env::temp_dir().join(format!("fk-workdir-test-{}", std::process::id()));
        let first = Workdir::acquire(&root).expect("slot");
        let second = Workdir::acquire(&root).expect("slot");
        assert_ne!(first.path(), second.path());
        let first_path = first.path().to_owned();
        drop(first);
        let third = Workdir::acquire(&root).expect("slot");
        assert_eq!(third.path(), first_path);
        drop((second, third));
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn a_new_slot_starts_as_a_copy_of_a_warm_one() {
        let root = std::env::temp_dir().join(format!("fk-seed-test-{}", std::process::id()));
        let first = Workdir::acquire(&root).expect("slot");
        std::fs::create_dir_all(first.path().join("target/debug")).expect("target");
        std::fs::write(first.path().join("target/debug/built"), "artifact").expect("write");
        let second = Workdir::acquire(&root).expect("slot");
        assert_eq!(
            std::fs::read_to_string(second.path().join("target/debug/built")).expect("seeded"),
            "artifact"
        );
        drop((first, second));
        let _ = std::fs::remove_dir_all(root);
    }
}

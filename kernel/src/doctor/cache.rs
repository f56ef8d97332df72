//! The build cache: can the engine write it, how big it is, and whether this
//! version's prelude is compiled there.

use super::Check;
use std::path::Path;

/// Whether the engine can write the cache (tried, not inferred from the mode:
/// root ignores modes, a read-only mount does not), and its size.
pub(super) fn writable_check(cache_root: &Path) -> Check {
    let shown = cache_root.display();
    let fix = format!(
        "make {shown} a directory this user can write, or set FERROKERNEL_CACHE_DIR to one \
         (it holds the compiled prelude, some hundreds of MB)"
    );
    if cache_root.exists() && !cache_root.is_dir() {
        return Check::broken("cache", format!("{shown} is not a directory"), fix);
    }
    // The engine creates it the same way on its first start.
    if let Err(error) = std::fs::create_dir_all(cache_root) {
        return Check::broken("cache", format!("cannot create {shown}: {error}"), fix);
    }
    let probe = cache_root.join(format!(".doctor-{}", std::process::id()));
    let written = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&probe);
    if let Err(error) = written {
        return Check::broken("cache", format!("cannot write {shown}: {error}"), fix);
    }
    let _ = std::fs::remove_file(&probe);
    let bytes = disk_usage(cache_root);
    Check::ok("cache", format!("{shown}: writable, {}", human(bytes)))
        .with_details(serde_json::json!({ "path": cache_root, "bytes": bytes }))
}

/// Whether some work directory holds a compiled copy of this version's prelude.
pub(super) fn prelude_check(cache_root: &Path) -> Check {
    let prelude = ferrokernel_engine::prelude_dir(cache_root);
    let slots = built_slots(&cache_root.join("engine"), &prelude);
    if slots.is_empty() {
        return Check::warning(
            "prelude",
            format!(
                "not built yet for this version (source {}): the first cell of the first \
                 notebook builds it, which takes a minute or more",
                prelude.display()
            ),
            "`ferrokernel install` builds it now (or just run a notebook once)",
        );
    }
    Check::ok(
        "prelude",
        format!(
            "built in {} engine work director{} under {}",
            slots.len(),
            if slots.len() == 1 { "y" } else { "ies" },
            cache_root.join("engine").display()
        ),
    )
    .with_details(serde_json::json!({ "source": prelude, "slots": slots }))
}

/// The slots under `engine_dir` with a compiled library built from `prelude`:
/// a `libferrokernel_prelude-*.rlib` whose dep-info names that source.
fn built_slots(engine_dir: &Path, prelude: &Path) -> Vec<std::path::PathBuf> {
    let marker = prelude.join("src").join("lib.rs").display().to_string();
    let Ok(entries) = std::fs::read_dir(engine_dir) else {
        return Vec::new();
    };
    let mut slots: Vec<std::path::PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|slot| slot.is_dir())
        .filter(|slot| {
            let Ok(targets) = std::fs::read_dir(slot.join("target")) else {
                return false;
            };
            targets
                .filter_map(|entry| entry.ok().map(|e| e.path().join("debug").join("deps")))
                .any(|deps| has_prelude_library(&deps, &marker))
        })
        .collect();
    slots.sort();
    slots
}

fn has_prelude_library(deps: &Path, marker: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(deps) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some(hash) = name
            .strip_prefix("ferrokernel_prelude-")
            .and_then(|rest| rest.strip_suffix(".d"))
        else {
            return false;
        };
        deps.join(format!("libferrokernel_prelude-{hash}.rlib"))
            .exists()
            && std::fs::read_to_string(entry.path()).is_ok_and(|info| info.contains(marker))
    })
}

/// Bytes on disk under `dir`, like `du` (symlinks not followed).
fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let Ok(metadata) = entry.path().symlink_metadata() else {
                continue;
            };
            total += metadata.blocks() * 512;
            if metadata.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    total
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    #[test]
    fn sizes_read_like_du_h() {
        assert_eq!(human(512), "512 bytes");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(537 * 1024 * 1024), "537.0 MiB");
    }

    #[test]
    fn a_cache_under_a_file_is_broken_and_a_compiled_prelude_is_found() {
        let root = std::env::temp_dir().join(format!("fk-doctor-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("root");
        let blocker = root.join("blocker");
        std::fs::write(&blocker, b"").expect("file");
        let check = writable_check(&blocker.join("cache"));
        assert_eq!(check.status, Status::Broken);
        assert!(check.summary.contains("blocker/cache"), "{}", check.summary);
        assert_eq!(writable_check(&blocker).status, Status::Broken);

        let cache = root.join("cache");
        assert_eq!(writable_check(&cache).status, Status::Ok);
        assert_eq!(prelude_check(&cache).status, Status::Warning);
        let prelude = ferrokernel_engine::prelude_dir(&cache);
        let deps = cache.join("engine/slot-0/target/x86_64-unknown-linux-gnu/debug/deps");
        std::fs::create_dir_all(&deps).expect("deps");
        std::fs::write(
            deps.join("ferrokernel_prelude-abc.d"),
            format!("x: {}/src/lib.rs\n", prelude.display()),
        )
        .expect("dep-info");
        assert_eq!(prelude_check(&cache).status, Status::Warning, "no rlib yet");
        std::fs::write(deps.join("libferrokernel_prelude-abc.rlib"), b"").expect("rlib");
        assert_eq!(prelude_check(&cache).status, Status::Ok);
        let _ = std::fs::remove_dir_all(root);
    }
}

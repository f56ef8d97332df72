//! The prelude's source, carried inside the binary and unpacked on first use.

use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/prelude_files.rs"));

/// Where this build's prelude is (or will be) unpacked under `cache_root`.
pub fn unpacked_dir(cache_root: &Path) -> PathBuf {
    cache_root.join("prelude").join(HASH)
}

/// Writes the embedded prelude under `cache_root` (once per prelude version) and
/// returns the crate's directory.
pub(crate) fn unpack(cache_root: &Path) -> std::io::Result<PathBuf> {
    let target = unpacked_dir(cache_root);
    if target.join("Cargo.toml").exists() {
        return Ok(target);
    }
    // Write into a private directory, then rename, so that two kernels starting
    // at once never see a half-written crate.
    let staging = cache_root
        .join("prelude")
        .join(format!(".{HASH}-{}", std::process::id()));
    for (relative, contents) in FILES {
        let path = staging.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, contents)?;
    }
    match std::fs::rename(&staging, &target) {
        Ok(()) => Ok(target),
        // Another kernel won the race; its copy is identical.
        Err(_) if target.join("Cargo.toml").exists() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(target)
        }
        Err(error) => Err(error),
    }
}

/// The prelude's Rust source texts (for completions that need no engine).
pub fn rust_sources() -> impl Iterator<Item = &'static str> {
    FILES
        .iter()
        .filter(|(path, _)| path.ends_with(".rs") && path.starts_with("src/"))
        .map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn unpacks_a_complete_crate_once() {
        let root = std::env::temp_dir().join(format!("fk-prelude-test-{}", std::process::id()));
        let dir = super::unpack(&root).expect("unpacks");
        assert!(dir.join("Cargo.toml").exists());
        assert!(dir.join("src/lib.rs").exists());
        assert_eq!(super::unpack(&root).expect("again"), dir);
        let _ = std::fs::remove_dir_all(root);
    }
}

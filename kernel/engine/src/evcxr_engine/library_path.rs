//! The rustc probe: where the toolchain's target libraries are, for the
//! runtime's `LD_LIBRARY_PATH`.

use std::path::PathBuf;

/// `LD_LIBRARY_PATH` with the toolchain's target libraries first.
///
/// Cells are shared objects linked against the toolchain's `libstd-*.so` and
/// found through a relative RUNPATH computed for the `deps/` directory; evcxr
/// loads a copy one directory up, so when the cache and the toolchain share a
/// path prefix (both under `$HOME`) that RUNPATH misses. Naming the library
/// directory outright makes loading independent of where the cache lives.
pub(super) fn runtime_library_path() -> Option<std::ffi::OsString> {
    let output = std::process::Command::new("rustc")
        .args(["--print", "target-libdir"])
        .output()
        .ok()?;
    let libdir = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    if !output.status.success() || libdir.is_empty() {
        return None;
    }
    let mut paths = vec![PathBuf::from(libdir)];
    if let Some(existing) = std::env::var_os("LD_LIBRARY_PATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(paths).ok()
}

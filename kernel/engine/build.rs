//! Embeds the prelude crate's sources, so an installed `ferrokernel` binary can
//! compile the prelude into notebooks without a checkout.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs" || e == "md") {
            files.push(path);
        }
    }
}

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let prelude = manifest_dir.join("../prelude");
    let mut files = vec![prelude.join("Cargo.toml")];
    collect(&prelude.join("src"), &mut files);
    files.sort();

    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut table = String::from("&[\n");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let relative = file.strip_prefix(&prelude).expect("inside the prelude");
        relative.hash(&mut hasher);
        std::fs::read(file).expect("readable").hash(&mut hasher);
        table.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            relative.to_string_lossy(),
            file.canonicalize().expect("exists")
        ));
    }
    table.push(']');
    println!("cargo:rerun-if-changed={}", prelude.join("src").display());
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    std::fs::write(
        out.join("prelude_files.rs"),
        format!(
            "/// Every file of the prelude crate, relative path and contents.\n\
             pub(crate) const FILES: &[(&str, &str)] = {table};\n\
             /// Changes whenever any embedded file changes.\n\
             pub(crate) const HASH: &str = \"{:016x}\";\n",
            hasher.finish()
        ),
    )
    .expect("OUT_DIR is writable");
}

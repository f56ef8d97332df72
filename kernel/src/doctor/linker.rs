//! The linker cells are linked with, found by linking one.
//!
//! The engine adds no `-fuse-ld` of its own (evcxr's `:linker mold` only routes
//! its cargo runs through ferrokernel, see the engine's `cell_build`; no mold
//! runs), so rustc's default for the host applies (on x86_64 Linux since Rust 1.90: `cc` driving
//! the toolchain's own rust-lld). Rather than guess that default, the check
//! links an empty shared library the way cells are built (`cdylib`,
//! `-C prefer-dynamic`) and reads the command from `--print link-args`.

use super::Check;
use ferrokernel_engine::Toolchain;

pub(super) fn check(toolchain: &Toolchain) -> Check {
    let dir = std::env::temp_dir().join(format!("fk-doctor-link-{}", std::process::id()));
    let linked = link_empty_library(toolchain, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let override_note = cargo_linker_override(&toolchain.host)
        .map(|(name, value)| format!("; but {name}={value} makes cargo link cells with {value}"))
        .unwrap_or_default();
    match linked {
        Ok(link_args) => {
            let linker = Linker::from_link_args(&link_args);
            let driver = find_on_path(&linker.program)
                .map(|path| format!("{} ({})", linker.program, path.display()))
                .unwrap_or_else(|| linker.program.clone());
            let summary = match &linker.backend {
                Some(backend) => format!("{driver} driving {backend}"),
                None => driver,
            };
            Check::ok(
                "linker",
                format!(
                    "{summary}: rustc's default for {} (the engine adds no -fuse-ld){override_note}",
                    toolchain.host
                ),
            )
            .with_details(serde_json::json!({
                "program": linker.program, "backend": linker.backend,
            }))
        }
        Err(error) => {
            let fix = if error.contains("not found") {
                "install a C compiler, which rustc drives to link (Debian, Ubuntu: \
                 `apt install gcc`; Fedora: `dnf install gcc`)"
                    .to_owned()
            } else {
                format!(
                    "`{} --crate-type cdylib --print link-args` on an empty file shows the \
                     command that fails",
                    toolchain.rustc.path.display()
                )
            };
            Check::broken(
                "linker",
                format!("cells cannot be linked: {error}{override_note}"),
                fix,
            )
        }
    }
}

/// Links an empty `cdylib` in `dir`; rustc's `--print link-args` output, or its error.
fn link_empty_library(toolchain: &Toolchain, dir: &std::path::Path) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let source = dir.join("empty.rs");
    std::fs::write(&source, b"").map_err(|e| format!("cannot write {}: {e}", source.display()))?;
    let output = std::process::Command::new(&toolchain.rustc.path)
        .args([
            "--crate-type",
            "cdylib",
            "-C",
            "prefer-dynamic",
            "--print",
            "link-args",
        ])
        .arg("-o")
        .arg(dir.join("libempty.so"))
        .arg(&source)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", toolchain.rustc.path.display()))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(stderr
        .lines()
        .find(|line| line.starts_with("error"))
        .or_else(|| stderr.lines().next())
        .unwrap_or("rustc failed")
        .trim_start_matches("error: ")
        .to_owned())
}

/// What `--print link-args` says about the linker.
#[derive(Debug, PartialEq, Eq)]
struct Linker {
    /// The program rustc runs (`cc`).
    program: String,
    /// The linker that program is told to use, when one is named (`rust-lld`, `mold`).
    backend: Option<String>,
}

impl Linker {
    fn from_link_args(text: &str) -> Linker {
        let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let words = split_quoted(line);
        // Leading NAME="value" words are the environment rustc sets for the linker.
        let mut words = words
            .into_iter()
            .skip_while(|(word, quoted)| !quoted && word.contains('='));
        let program = words.next().map(|(w, _)| w).unwrap_or_default();
        let args: Vec<String> = words.map(|(w, _)| w).collect();
        let fuse = args.iter().find_map(|a| a.strip_prefix("-fuse-ld="));
        let self_contained = args
            .iter()
            .any(|a| a.starts_with("-B") && a.ends_with("gcc-ld"));
        let backend = match fuse {
            Some("lld") if self_contained => Some("rust-lld (the toolchain's own)".to_owned()),
            Some(other) => Some(other.to_owned()),
            None => None,
        };
        Linker { program, backend }
    }
}

/// Splits a command line as rustc prints it: words, some in double quotes
/// (with backslash escapes). Says for each word whether it was quoted whole.
fn split_quoted(line: &str) -> Vec<(String, bool)> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return words;
        };
        let quoted_whole = first == '"';
        let mut word = String::new();
        let mut in_quotes = false;
        while let Some(c) = chars.next() {
            match c {
                '"' => in_quotes = !in_quotes,
                '\\' if in_quotes => {
                    if let Some(escaped) = chars.next() {
                        word.push(escaped);
                    }
                }
                c if c.is_whitespace() && !in_quotes => break,
                c => word.push(c),
            }
        }
        words.push((word, quoted_whole));
    }
}

/// `CARGO_TARGET_<HOST>_LINKER`, which cargo passes to rustc for cells.
fn cargo_linker_override(host: &str) -> Option<(String, String)> {
    let name = format!(
        "CARGO_TARGET_{}_LINKER",
        host.to_uppercase().replace(['-', '.'], "_")
    );
    let value = std::env::var(&name).ok().filter(|v| !v.is_empty())?;
    Some((name, value))
}

fn find_on_path(program: &str) -> Option<std::path::PathBuf> {
    if program.contains('/') {
        return Some(std::path::PathBuf::from(program));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_self_contained_rust_lld_is_recognised_behind_cc() {
        let printed = r#"LC_ALL="C" PATH="/r/bin:/usr/bin" VSLANG="1033" "cc" "-Wl,--version-script=/t/list" "-m64" "/t/a.o" "-B/r/lib/rustlib/x86_64-unknown-linux-gnu/bin/gcc-ld" "-fuse-ld=lld" "-o" "/t/libe.so" "-shared""#;
        assert_eq!(
            Linker::from_link_args(printed),
            Linker {
                program: "cc".to_owned(),
                backend: Some("rust-lld (the toolchain's own)".to_owned()),
            }
        );
        let plain = r#"LC_ALL="C" "cc" "-m64" "-o" "x""#;
        assert_eq!(Linker::from_link_args(plain).backend, None);
        let mold = r#""cc" "-fuse-ld=mold""#;
        assert_eq!(
            Linker::from_link_args(mold).backend.as_deref(),
            Some("mold")
        );
    }

    #[test]
    fn quoted_words_keep_their_spaces_and_escapes() {
        assert_eq!(
            split_quoted(r#"A="x y" "c c" "q\"t""#),
            vec![
                ("A=x y".to_owned(), false),
                ("c c".to_owned(), true),
                ("q\"t".to_owned(), true)
            ]
        );
    }
}

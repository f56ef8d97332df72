//! A pipe from the engine to its runtime process, for what must change in the
//! runtime without compiling a cell: its working directory and environment,
//! when a kernel claims an engine made in advance (see `Engine::set_environment`).
//!
//! The engine creates the pipe before evcxr starts the runtime and names the
//! read end in [`CONTROL_FD_VAR`]; every runtime (also one restarted after a
//! crash) inherits it, and a thread there applies each record: `cd`, `set` or
//! `unset`, fields separated by `\x1f`, records ended by `\0`. Records are sent
//! only while no cell runs, so nothing reads the environment as it changes.

use std::io::{BufRead, BufReader};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

/// Names the runtime's end of the pipe.
pub(crate) const CONTROL_FD_VAR: &str = "FERROKERNEL_RUNTIME_CONTROL_FD";

const FIELD: char = '\u{1f}';

/// A new pipe: the write end (close-on-exec) and the raw read end, which is
/// inherited by processes this one starts.
pub(crate) fn create() -> std::io::Result<(OwnedFd, i32)> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    nix::fcntl::fcntl(
        &read,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )?;
    let raw = std::os::fd::IntoRawFd::into_raw_fd(read);
    Ok((write, raw))
}

/// The records that move the runtime to `cwd` and apply `changes`.
pub(crate) fn encode(cwd: &Path, changes: &[(String, Option<String>)]) -> Vec<u8> {
    let mut records = format!("cd{FIELD}{}\0", cwd.to_string_lossy());
    for (name, value) in changes {
        match value {
            Some(value) => records.push_str(&format!("set{FIELD}{name}{FIELD}{value}\0")),
            None => records.push_str(&format!("unset{FIELD}{name}\0")),
        }
    }
    records.into_bytes()
}

/// The record that tells the runtime which cell runs next (the output relay
/// tags the output of processes it starts; see [`crate::origins`]).
pub(crate) fn encode_cell(cell: u64) -> Vec<u8> {
    format!("cell{FIELD}{cell}\0").into_bytes()
}

/// In the runtime: starts the thread that applies records, if the engine gave us a pipe.
pub(crate) fn serve_in_runtime() {
    let Some(fd) = std::env::var(CONTROL_FD_VAR)
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
    else {
        return;
    };
    // SAFETY: the engine put the pipe's read end at this number for us (see
    // `create`); it is not used by anything else in this process.
    let pipe = unsafe { OwnedFd::from_raw_fd(fd) };
    // Processes the cells start must not hold it.
    let _ = nix::fcntl::fcntl(
        &pipe,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    let _ = std::thread::Builder::new()
        .name("fk-control".into())
        .spawn(move || {
            let mut reader = BufReader::new(std::fs::File::from(pipe));
            let mut record = Vec::new();
            while reader.read_until(0, &mut record).is_ok_and(|n| n > 0) {
                if record.last() == Some(&0) {
                    record.pop();
                }
                apply(&String::from_utf8_lossy(&record));
                record.clear();
            }
        });
}

fn apply(record: &str) {
    let fields: Vec<&str> = record.split(FIELD).collect();
    match fields.as_slice() {
        ["cd", path] => {
            let _ = std::env::set_current_dir(path);
        }
        // SAFETY: records arrive only while no cell runs (see the module
        // docs), so no other thread of the runtime reads the environment.
        ["set", name, value] => unsafe { std::env::set_var(name, value) },
        ["unset", name] => unsafe { std::env::remove_var(name) },
        ["cell", cell] => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}{cell}", crate::origins::CELL_START);
            let _ = out.flush();
        }
        _ => {}
    }
    // The claiming kernel's memory limit holds from now on (see `memory`).
    if let ["set" | "unset", name, ..] = fields.as_slice()
        && *name == crate::memory::LIMIT_VARIABLE
    {
        crate::memory::apply_in_runtime(crate::memory::MemoryLimit::from_env());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_the_directory_and_each_change() {
        let bytes = encode(
            Path::new("/work/nb"),
            &[("A".into(), Some("1=2".into())), ("B".into(), None)],
        );
        let records: Vec<&[u8]> = bytes.split(|b| *b == 0).filter(|r| !r.is_empty()).collect();
        assert_eq!(
            records,
            vec![
                "cd\u{1f}/work/nb".as_bytes(),
                "set\u{1f}A\u{1f}1=2".as_bytes(),
                "unset\u{1f}B".as_bytes()
            ]
        );
    }
}

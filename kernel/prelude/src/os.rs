//! Python's `os.getpid()` and `os.getppid()`.

/// The id of this process.
pub fn getpid() -> i32 {
    nix::unistd::getpid().as_raw()
}

/// The id of this process's parent.
pub fn getppid() -> i32 {
    nix::unistd::getppid().as_raw()
}

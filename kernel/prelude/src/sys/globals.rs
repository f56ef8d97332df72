//! The crate's process-wide state, one per process however often the crate is
//! linked into it.
//!
//! In a notebook each cell is compiled into its own shared library, and each
//! library carries its own copy of this crate — with its own copy of every
//! `static`. A SIGINT handler installed by one cell's copy would count
//! interrupts that a wait in a later cell's copy never sees, and children
//! started from one cell would be unknown to `active_children` in the next. So
//! that state lives in one [`Globals`], and the copies find it through an
//! environment variable holding its address.
//!
//! The `Globals` sit in a private mapping of a memfd named for them: forked
//! children get their own copy of it (as of any memory), and a copy checks the
//! address against `/proc/self/maps` before using it, so a program `exec`ed
//! from here — which inherits the variable but not the memory — ignores it.
//! The variable is only published inside ferrokernel's runtime, whose set-up
//! creates the `Globals` before any cell code runs; an ordinary program holds
//! one copy of the crate and needs none of this.

use crate::sys::books::Books;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::sync::{MutexGuard, PoisonError};

/// The variable naming the address; versioned, since the layout is.
const VARIABLE: &str = concat!(
    "FERROKERNEL_PRELUDE_GLOBALS_",
    env!("CARGO_PKG_VERSION_MAJOR"),
    "_",
    env!("CARGO_PKG_VERSION_MINOR"),
    "_",
    env!("CARGO_PKG_VERSION_PATCH")
);
/// The memfd's name, as `/proc/self/maps` shows it.
const MAPPING_NAME: &str = "ferrokernel-prelude-globals";

/// State that must be process-wide.
#[derive(Debug, Default)]
pub(crate) struct Globals {
    /// SIGINTs seen by this process.
    pub(crate) interrupts: AtomicU64,
    /// Whether the SIGINT handler is installed.
    pub(crate) handler_installed: AtomicBool,
    /// `Process` objects created in this process (for default names).
    pub(crate) created: AtomicUsize,
    /// Pool workers forked in this process (for their names).
    pub(crate) pool_workers: AtomicUsize,
    /// `threading::Timer`s made in this process (for their names).
    pub(crate) timers: AtomicUsize,
    /// `ThreadPoolExecutor`s made in this process (for their threads' names).
    pub(crate) executors: AtomicUsize,
    /// Whether the exit handler (daemonic children, non-daemon threads) is registered.
    pub(crate) exit_hook: AtomicBool,
    /// Who this process is, its children and threads: one lock, held across
    /// every fork (see `sys::books`).
    pub(crate) books: Mutex<Books>,
    /// The default authkey (see `sys::authkey`), made before the first fork.
    pub(crate) authkey: OnceLock<[u8; 32]>,
    /// The write end of the shared-memory tracker's pipe (see `sys::tracker`).
    pub(crate) shm_tracker: OnceLock<i32>,
    /// The widgets: registry, comm reader and the lock of their state (see
    /// `widgets::comms`).
    #[cfg(feature = "widgets")]
    pub(crate) widgets: crate::widgets::Comms,
}

/// This copy's pointer to the process's `Globals`; an atomic so that a signal
/// handler may read it.
static GLOBALS: AtomicPtr<Globals> = AtomicPtr::new(std::ptr::null_mut());
static INIT: std::sync::Once = std::sync::Once::new();

/// The process's `Globals`.
pub(crate) fn globals() -> &'static Globals {
    INIT.call_once(|| {
        let found = find_or_create(VARIABLE, MAPPING_NAME, Globals::default);
        GLOBALS.store(found, Ordering::Release);
    });
    // SAFETY: set once above to a `Globals` that lives as long as the process.
    unsafe { &*GLOBALS.load(Ordering::Acquire) }
}

/// The `Globals`, if this copy has found them; for signal handlers, which
/// must not initialize anything.
pub(crate) fn globals_if_ready() -> Option<&'static Globals> {
    let pointer = GLOBALS.load(Ordering::Acquire);
    // SAFETY: non-null only once set to a `Globals` that lives for ever.
    (!pointer.is_null()).then(|| unsafe { &*pointer })
}

/// Locks the process's books. Held briefly; never across a blocking wait.
pub(crate) fn books() -> MutexGuard<'static, Books> {
    globals()
        .books
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Whether this process is ferrokernel's runtime (or forked from it).
pub(crate) fn in_runtime() -> bool {
    std::env::var_os("EVCXR_IS_RUNTIME").is_some()
}

/// The process-wide `T` that the variable `variable` names in a live mapping
/// of the memfd `mapping_name` (created by another copy of the crate), or a
/// new one, made by `make` and published under `variable` when in the
/// runtime. The mechanism of the `Globals`, for state with a layout of its own
/// (`sys::timeline`'s recorder).
pub(crate) fn find_or_create<T>(
    variable: &str,
    mapping_name: &str,
    make: impl FnOnce() -> T,
) -> *mut T {
    match inherited(variable, mapping_name) {
        Some(found) => found,
        None => create(variable, mapping_name, make),
    }
}

/// The `T` another copy created, if the variable names a live one.
fn inherited<T>(variable: &str, mapping_name: &str) -> Option<*mut T> {
    let address = usize::from_str_radix(std::env::var(variable).ok()?.as_str(), 16).ok()?;
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let ours = maps.lines().any(|line| {
        let start = line.split('-').next().unwrap_or_default();
        usize::from_str_radix(start, 16) == Ok(address)
            && line.contains(&format!("/memfd:{mapping_name}"))
    });
    ours.then_some(address as *mut T)
}

/// A new `T`, published for the other copies when in the runtime.
fn create<T>(variable: &str, mapping_name: &str, make: impl FnOnce() -> T) -> *mut T {
    if in_runtime()
        && let Some(mapped) = map_named::<T>(mapping_name)
    {
        // SAFETY: `mapped` is fresh, writable, page-aligned memory of at
        // least `size_of::<T>()` bytes.
        unsafe { mapped.write(make()) };
        // SAFETY: the runtime's set-up calls this before any cell code runs,
        // while nothing else reads the environment.
        unsafe { std::env::set_var(variable, format!("{:x}", mapped as usize)) };
        return mapped;
    }
    Box::into_raw(Box::new(make()))
}

/// A private mapping of a named memfd, big enough for a `T`.
fn map_named<T>(mapping_name: &str) -> Option<*mut T> {
    let name = std::ffi::CString::new(mapping_name).ok()?;
    // SAFETY: plain system calls; the fd is closed once mapped (the mapping
    // keeps the memory), and the mapping is never unmapped.
    unsafe {
        let fd = libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let len = std::mem::size_of::<T>().next_multiple_of(4096);
        let sized = libc::ftruncate(fd, len as libc::off_t) == 0;
        let mapped = if sized {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE,
                fd,
                0,
            )
        } else {
            libc::MAP_FAILED
        };
        libc::close(fd);
        (mapped != libc::MAP_FAILED).then_some(mapped.cast::<T>())
    }
}

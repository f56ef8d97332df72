//! The worker: what a launcher starts on each host (`ferrokernel
//! cluster-worker`). It connects back to the kernel, keeps the libraries it
//! is sent in a private directory, and runs the tasks it is given, one at a
//! time, until told to stop or the kernel goes away.

use super::entry::Entry;
use super::library::load_bias;
use super::wire::{self, Hello, Order, Report};
use crate::multiprocessing::connection::{Client, Connection};
use std::collections::HashMap;
use std::ffi::{CString, c_void};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The environment a launcher passes to every worker.
pub(crate) const KEY_VAR: &str = "FERROKERNEL_CLUSTER_KEY";
pub(crate) const ADDRESSES_VAR: &str = "FERROKERNEL_CLUSTER_ADDRESSES";
/// The worker's rank, for launchers that give none (ssh).
pub(crate) const RANK_VAR: &str = "FERROKERNEL_CLUSTER_RANK";

/// The largest frame a worker takes: libraries are tens of megabytes.
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// How long each of the kernel's addresses gets to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs a worker; returns its exit status. Called by `ferrokernel cluster-worker`.
pub fn main() -> i32 {
    match run() {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("ferrokernel cluster worker on {}: {message}", host_name());
            // Exiting non-zero would make mpirun end every other rank.
            0
        }
    }
}

fn run() -> Result<(), String> {
    let mut key = std::env::var(KEY_VAR).map_err(|_| format!("{KEY_VAR} is not set"))?;
    if key == "-" {
        // Sent through stdin (ssh), so no command line shows it.
        key.clear();
        std::io::stdin()
            .read_line(&mut key)
            .map_err(|e| format!("reading the key from stdin: {e}"))?;
        key.truncate(key.trim_end().len());
    }
    let key = unhex(&key).ok_or_else(|| format!("{KEY_VAR} is not hex"))?;
    // SAFETY: no other thread runs yet. Read once, the key is not left for
    // the processes a task starts (nor in /proc/PID/environ's later readers).
    unsafe { std::env::remove_var(KEY_VAR) };
    let addresses =
        std::env::var(ADDRESSES_VAR).map_err(|_| format!("{ADDRESSES_VAR} is not set"))?;
    let conn = connect(&addresses, &key)?;
    conn.set_max_frame(MAX_FRAME);
    conn.send(&Hello {
        protocol: wire::PROTOCOL,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        target: wire::target(),
        host: host_name(),
        pid: std::process::id(),
        rank: rank(),
    })
    .map_err(|e| format!("hello: {e}"))?;
    let conn = Arc::new(conn);
    let store = Arc::new(Store::new()?);
    let (tasks, queued) = mpsc::channel();
    {
        let (conn, store) = (Arc::clone(&conn), Arc::clone(&store));
        // Reads orders while the main thread runs tasks, so a kernel that
        // goes away ends the worker even in the middle of a long task.
        std::thread::spawn(move || {
            read_orders(&conn, &store, &tasks);
            exit(&store);
        });
    }
    for (task, library, entry, context, items) in queued {
        let output = store.run(&library, entry, &context, &items);
        if conn
            .send_uninterruptible(&Report::Done { task, output })
            .is_err()
        {
            break;
        }
    }
    exit(&store)
}

/// The worker's one way out: its directory removed, then `_exit`, without
/// running the loaded libraries' destructors, which another thread may be
/// in the middle of using.
fn exit(store: &Store) -> ! {
    store.remove();
    // SAFETY: _exit ends the process at once; nothing runs after it.
    unsafe { libc::_exit(0) }
}

type Queued = (u64, String, u64, Vec<u8>, Vec<u8>);

fn read_orders(conn: &Connection, store: &Store, tasks: &mpsc::Sender<Queued>) {
    while let Ok(order) = conn.recv_uninterruptible::<Order>() {
        match order {
            Order::Load {
                hash,
                file_name,
                bytes,
            } => store.load(hash, &file_name, &bytes),
            Order::Run {
                task,
                library,
                entry,
                context,
                items,
            } => {
                if tasks.send((task, library, entry, context, items)).is_err() {
                    return;
                }
            }
            Order::Stop => return,
        }
    }
}

/// Tries the kernel's addresses in turn (it may have several interfaces, and
/// only one may be reachable from this host).
fn connect(addresses: &str, key: &[u8]) -> Result<Connection, String> {
    let mut failures = Vec::new();
    for address in addresses.split(',').filter(|a| !a.is_empty()) {
        match Client::connect_timeout(address, key, CONNECT_TIMEOUT) {
            Ok(conn) => return Ok(conn),
            Err(e) => failures.push(format!("{address}: {e}")),
        }
    }
    Err(format!(
        "could not reach the kernel ({})",
        failures.join("; ")
    ))
}

/// The launcher's rank for this process, if it gives one.
fn rank() -> Option<u32> {
    [
        RANK_VAR,
        "OMPI_COMM_WORLD_RANK",
        "PMIX_RANK",
        "SLURM_PROCID",
        "PMI_RANK",
    ]
    .iter()
    .find_map(|name| std::env::var(name).ok()?.parse().ok())
}

pub(crate) fn host_name() -> String {
    nix::unistd::gethostname()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

/// A loaded library: its handle's load bias, or why it did not load.
type Loaded = Result<usize, String>;

/// The worker's libraries, in a directory only it uses.
struct Store {
    dir: PathBuf,
    loaded: Mutex<HashMap<String, Loaded>>,
}

impl Store {
    fn new() -> Result<Store, String> {
        let mut random = [0u8; 8];
        crate::sys::authkey::fill_random(&mut random).map_err(|e| e.to_string())?;
        let dir = std::env::temp_dir().join(format!(
            "ferrokernel-worker-{}-{}",
            std::process::id(),
            super::library::hex(&random)
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Store {
            dir,
            loaded: Mutex::new(HashMap::new()),
        })
    }

    fn load(&self, hash: String, file_name: &str, bytes: &[u8]) {
        let loaded = self.write_and_open(&hash, file_name, bytes);
        self.loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(hash, loaded);
    }

    fn write_and_open(&self, hash: &str, file_name: &str, bytes: &[u8]) -> Loaded {
        let name = Path::new(file_name)
            .file_name()
            .ok_or_else(|| format!("bad library name {file_name:?}"))?;
        let actual = super::library::hex(&<sha2::Sha256 as sha2::Digest>::digest(bytes));
        if actual != hash {
            return Err(format!("{file_name}: content does not match its hash"));
        }
        // Each library in a directory of its own: two cells' libraries may share a name.
        let dir = self.dir.join(hash);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
        // The standard library goes first and globally, so the cells' libraries
        // find it by its soname instead of through their toolchain paths.
        let flags = if file_name.starts_with("libstd-") {
            libc::RTLD_NOW | libc::RTLD_GLOBAL
        } else {
            libc::RTLD_NOW | libc::RTLD_LOCAL
        };
        // SAFETY: loading a library runs its initializers; it is the library the
        // kernel's cell was built into, sent over an authenticated connection.
        let handle = unsafe { libc::dlopen(c_path.as_ptr(), flags) };
        let error = handle.is_null().then(dlerror);
        // Loaded (or not): the file is not needed any more, and a worker
        // that is killed leaves nothing behind.
        let _ = std::fs::remove_dir_all(&dir);
        if let Some(error) = error {
            return Err(format!("could not load {file_name}: {error}"));
        }
        load_bias(handle).ok_or_else(|| format!("{file_name}: no link map"))
    }

    fn run(
        &self,
        library: &str,
        entry: u64,
        context: &[u8],
        items: &[u8],
    ) -> Result<Vec<u8>, String> {
        let bias = match self
            .loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(library)
        {
            Some(Ok(bias)) => *bias,
            Some(Err(why)) => return Err(why.clone()),
            None => return Err(format!("library {library} was never sent")),
        };
        // SAFETY: the kernel computed `entry` as the offset of a `run_chunk`
        // instance in this very library (same bytes, checked by hash).
        let entry: Entry = unsafe { std::mem::transmute::<usize, Entry>(bias + entry as usize) };
        let mut output = Vec::new();
        // SAFETY: the buffers live across the call; `collect` matches `Write`.
        let status = unsafe {
            entry(
                context.as_ptr(),
                context.len(),
                items.as_ptr(),
                items.len(),
                (&raw mut output).cast::<c_void>(),
                collect,
            )
        };
        match status {
            0 => Ok(output),
            _ => Err(String::from_utf8_lossy(&output).into_owned()),
        }
    }

    fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

unsafe extern "C" fn collect(sink: *mut c_void, bytes: *const u8, len: usize) {
    // SAFETY: `sink` is the `Vec<u8>` `run` passed; `bytes` has `len` bytes.
    unsafe {
        let output = &mut *sink.cast::<Vec<u8>>();
        output.extend_from_slice(std::slice::from_raw_parts(bytes, len));
    }
}

fn dlerror() -> String {
    // SAFETY: dlerror returns the thread's last message or null.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        return "unknown error".to_owned();
    }
    // SAFETY: a C string owned by the loader until the next dl call.
    unsafe { std::ffi::CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned()
}

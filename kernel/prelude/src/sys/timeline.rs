//! What processes this notebook started and how each ended, recorded for
//! [`multiprocessing::timeline`](crate::multiprocessing::timeline).
//!
//! ## Design
//! - **Process-wide, like `sys::globals`.** Every cell carries its own copy of
//!   this crate; a process started from one cell must show up in a timeline
//!   drawn from a later one. So the records live in one [`Recorder`] in a
//!   private mapping of a memfd named for it, whose address an environment
//!   variable hands to the other copies; a copy checks the address against
//!   `/proc/self/maps` before use, so an `exec`ed program ignores it. This is
//!   the mechanism of `sys/globals.rs`, in a mapping of its own (the globals'
//!   layout belongs to the process code). The runtime's set-up creates it
//!   ([`init`]), before any cell runs.
//! - **Cheap enough to record always.** Recording a start or an exit is one
//!   short lock and a push (well under a microsecond, against a fork and a
//!   wait of hundreds); nothing is written anywhere else.
//! - **Bounded.** A timeline shows what started since the last one; records
//!   it showed are forgotten once they ended. At most [`MAX_RECORDS`] are
//!   kept; beyond that the oldest ended ones make room and are counted.
//! - **Forked children** get a copy of the records (as of any memory); what
//!   they record stays theirs. A notebook's timeline is its runtime's.
//!
//! ## Who calls what
//! The process code calls [`record_start`] in the parent right after a fork
//! succeeded and [`record_exit`] where a child's exit status is collected;
//! a pool brackets its workers with [`open_group`] and [`close_group`] and
//! passes the group to [`record_start`] for each worker. In today's code:
//! - `multiprocessing/process.rs`, `Process::start`, after `fork::spawn` returned `pid`:
//!   `crate::sys::timeline::record_start(pid, &self.name, None);`
//! - `sys/child.rs`, `remember(pid, code)` (every reaped child's code passes there):
//!   `crate::sys::timeline::record_exit(pid, code);`
//! - `multiprocessing/pool.rs`, `Job::start`, before forking the workers:
//!   `let group = crate::sys::timeline::open_group(&format!("Pool({processes}), {len} items"));`
//!   (kept in a `group: GroupId` field of `Job`);
//! - the same, in the `Ok(pid)` arm of each worker's fork:
//!   `crate::sys::timeline::record_start(pid, &format!("PoolWorker-{}", index + 1), Some(group));`
//! - when the call's workers are done (`Job`'s `Drop`, or where the last is reaped):
//!   `crate::sys::timeline::close_group(self.group);`

// Until Process and Pool make the calls above (they join with the
// prelude-parity work), only the tests record.
#![allow(
    dead_code,
    reason = "the recording calls join Process and Pool with the prelude-parity branch"
)]

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The variable naming the address; versioned, since the layout is.
const VARIABLE: &str = concat!(
    "FERROKERNEL_PRELUDE_TIMELINE_",
    env!("CARGO_PKG_VERSION_MAJOR"),
    "_",
    env!("CARGO_PKG_VERSION_MINOR"),
    "_",
    env!("CARGO_PKG_VERSION_PATCH")
);
/// The memfd's name, as `/proc/self/maps` shows it.
const MAPPING_NAME: &str = "ferrokernel-prelude-timeline";
/// How many process records are kept at most.
pub(crate) const MAX_RECORDS: usize = 100_000;

/// A group of processes (a pool's workers), as [`open_group`] returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct GroupId(pub(crate) u64);

/// A started process.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProcessRecord {
    pub(crate) pid: i32,
    pub(crate) parent: i32,
    pub(crate) name: String,
    pub(crate) group: Option<GroupId>,
    /// Since the recorder's epoch.
    pub(crate) started: Duration,
    /// When it was seen to end, and its exit code (Python's: `-N` for signal N).
    pub(crate) ended: Option<(Duration, i32)>,
    /// Shown by a timeline already.
    shown: bool,
}

#[cfg(test)]
impl ProcessRecord {
    /// A record with fixed times, for the renderer's tests.
    pub(crate) fn for_test(
        pid: i32,
        parent: i32,
        name: &str,
        group: Option<GroupId>,
        started: Duration,
        ended: Option<(Duration, i32)>,
    ) -> ProcessRecord {
        ProcessRecord {
            pid,
            parent,
            name: name.to_owned(),
            group,
            started,
            ended,
            shown: false,
        }
    }
}

/// A group of processes and its life.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupRecord {
    pub(crate) id: GroupId,
    pub(crate) label: String,
    pub(crate) opened: Duration,
    pub(crate) closed: Option<Duration>,
}

/// What a timeline gets: the records started since the last one.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Recorded {
    pub(crate) processes: Vec<ProcessRecord>,
    pub(crate) groups: Vec<GroupRecord>,
    /// When it was taken (since the epoch).
    pub(crate) now: Duration,
    /// Records dropped to stay within [`MAX_RECORDS`].
    pub(crate) dropped: u64,
}

#[derive(Debug, Default)]
struct Records {
    processes: Vec<ProcessRecord>,
    groups: Vec<GroupRecord>,
    dropped: u64,
}

/// The process-wide recorder.
#[derive(Debug)]
pub(crate) struct Recorder {
    epoch: Instant,
    next_group: AtomicU64,
    records: Mutex<Records>,
}

impl Recorder {
    fn new() -> Recorder {
        Recorder {
            epoch: Instant::now(),
            next_group: AtomicU64::new(1),
            records: Mutex::new(Records::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn since_epoch(&self) -> Duration {
        self.epoch.elapsed()
    }

    fn start(&self, pid: i32, parent: i32, name: &str, group: Option<GroupId>) {
        let started = self.since_epoch();
        let mut records = self.lock();
        if records.processes.len() >= MAX_RECORDS {
            // A tenth makes room at once: the oldest ended records (else the oldest).
            let excess = MAX_RECORDS / 10;
            let mut removed = 0;
            records.processes.retain(|p| {
                let drop = removed < excess && p.ended.is_some();
                removed += usize::from(drop);
                !drop
            });
            if removed == 0 {
                records.processes.drain(..excess);
                removed = excess;
            }
            records.dropped += removed as u64;
        }
        records.processes.push(ProcessRecord {
            pid,
            parent,
            name: name.to_owned(),
            group,
            started,
            ended: None,
            shown: false,
        });
    }

    fn exit(&self, pid: i32, exitcode: i32) {
        let ended = self.since_epoch();
        let mut records = self.lock();
        // The latest process with this pid (pids are reused).
        if let Some(record) = records
            .processes
            .iter_mut()
            .rev()
            .find(|p| p.pid == pid && p.ended.is_none())
        {
            record.ended = Some((ended, exitcode));
        }
    }

    fn open_group(&self, label: &str) -> GroupId {
        let id = GroupId(self.next_group.fetch_add(1, Ordering::Relaxed));
        let opened = self.since_epoch();
        self.lock().groups.push(GroupRecord {
            id,
            label: label.to_owned(),
            opened,
            closed: None,
        });
        id
    }

    fn close_group(&self, id: GroupId) {
        let closed = self.since_epoch();
        if let Some(group) = self.lock().groups.iter_mut().find(|g| g.id == id) {
            group.closed.get_or_insert(closed);
        }
    }

    /// The processes started since the last call, with their groups; what is
    /// shown and over is forgotten.
    fn take_unshown(&self) -> Recorded {
        let now = self.since_epoch();
        let mut records = self.lock();
        let processes: Vec<ProcessRecord> = records
            .processes
            .iter()
            .filter(|p| !p.shown)
            .cloned()
            .collect();
        for record in records.processes.iter_mut() {
            record.shown = true;
        }
        records.processes.retain(|p| p.ended.is_none());
        let groups: Vec<GroupRecord> = records
            .groups
            .iter()
            .filter(|g| processes.iter().any(|p| p.group == Some(g.id)))
            .cloned()
            .collect();
        // A closed group no running process still refers to is done with.
        let Records {
            processes: kept,
            groups: all_groups,
            ..
        } = &mut *records;
        all_groups.retain(|g| g.closed.is_none() || kept.iter().any(|p| p.group == Some(g.id)));
        Recorded {
            processes,
            groups,
            now,
            dropped: std::mem::take(&mut records.dropped),
        }
    }
}

/// This copy's pointer to the process's recorder.
static RECORDER: AtomicPtr<Recorder> = AtomicPtr::new(std::ptr::null_mut());
static INIT: std::sync::Once = std::sync::Once::new();

/// The process's recorder.
fn recorder() -> &'static Recorder {
    INIT.call_once(|| {
        let found = inherited().unwrap_or_else(create);
        RECORDER.store(found, Ordering::Release);
    });
    // SAFETY: set once above to a `Recorder` that lives as long as the process.
    unsafe { &*RECORDER.load(Ordering::Acquire) }
}

/// Creates (or finds) the process's recorder; the runtime's set-up calls it
/// before any cell runs, while the variable can still be set safely.
pub(crate) fn init() {
    let _ = recorder();
}

/// Records that this process started child `pid`, named `name`, in `group`.
pub(crate) fn record_start(pid: i32, name: &str, group: Option<GroupId>) {
    recorder().start(pid, std::process::id() as i32, name, group);
}

/// Records that child `pid` ended with `exitcode` (Python's: `-N` for signal N).
pub(crate) fn record_exit(pid: i32, exitcode: i32) {
    recorder().exit(pid, exitcode);
}

/// Opens a group (a pool), labelled as the timeline shows it (`Pool(4)`).
pub(crate) fn open_group(label: &str) -> GroupId {
    recorder().open_group(label)
}

/// Closes a group (the pool was closed, terminated or dropped).
pub(crate) fn close_group(id: GroupId) {
    recorder().close_group(id);
}

/// What started since the last call (see [`Recorder::take_unshown`]).
pub(crate) fn take_unshown() -> Recorded {
    recorder().take_unshown()
}

/// Whether this process is ferrokernel's runtime (or forked from it).
fn in_runtime() -> bool {
    std::env::var_os("EVCXR_IS_RUNTIME").is_some()
}

/// The recorder another copy created, if the variable names a live one.
fn inherited() -> Option<*mut Recorder> {
    let address = usize::from_str_radix(std::env::var(VARIABLE).ok()?.as_str(), 16).ok()?;
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let ours = maps.lines().any(|line| {
        let start = line.split('-').next().unwrap_or_default();
        usize::from_str_radix(start, 16) == Ok(address)
            && line.contains(&format!("/memfd:{MAPPING_NAME}"))
    });
    ours.then_some(address as *mut Recorder)
}

/// A new recorder, published for the other copies when in the runtime.
fn create() -> *mut Recorder {
    if in_runtime()
        && let Some(mapped) = map_named()
    {
        // SAFETY: `mapped` is fresh, writable, page-aligned memory of at
        // least `size_of::<Recorder>()` bytes.
        unsafe { mapped.write(Recorder::new()) };
        // SAFETY: the runtime's set-up calls this (through `init`) before any
        // cell code runs, while nothing else reads the environment.
        unsafe { std::env::set_var(VARIABLE, format!("{:x}", mapped as usize)) };
        return mapped;
    }
    Box::into_raw(Box::new(Recorder::new()))
}

/// A private mapping of a named memfd, big enough for a `Recorder`.
fn map_named() -> Option<*mut Recorder> {
    let name = std::ffi::CString::new(MAPPING_NAME).ok()?;
    // SAFETY: plain system calls; the fd is closed once mapped (the mapping
    // keeps the memory), and the mapping is never unmapped.
    unsafe {
        let fd = libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let len = std::mem::size_of::<Recorder>().next_multiple_of(4096);
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
        (mapped != libc::MAP_FAILED).then_some(mapped.cast::<Recorder>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_gets_what_started_since_the_last_and_running_processes_keep_their_record() {
        let recorder = Recorder::new();
        let pool = recorder.open_group("Pool(2)");
        recorder.start(10, 1, "Process-1", None);
        recorder.start(11, 1, "PoolWorker-1", Some(pool));
        recorder.start(12, 1, "PoolWorker-2", Some(pool));
        recorder.exit(10, 0);
        recorder.exit(11, -9);
        let first = recorder.take_unshown();
        assert_eq!(first.processes.len(), 3);
        assert_eq!(first.groups.len(), 1);
        assert_eq!(first.processes[1].ended.map(|(_, code)| code), Some(-9));
        assert_eq!(first.processes[2].ended, None);
        // Shown and over is forgotten; the running worker's exit is still recorded.
        recorder.exit(12, 0);
        recorder.close_group(pool);
        recorder.start(13, 1, "Process-2", None);
        let second = recorder.take_unshown();
        assert_eq!(
            second.processes.iter().map(|p| p.pid).collect::<Vec<_>>(),
            [13]
        );
        assert!(second.groups.is_empty());
        assert_eq!(recorder.lock().processes.len(), 1);
        assert!(recorder.lock().groups.is_empty());
    }

    #[test]
    fn past_the_cap_the_oldest_ended_records_make_room() {
        let recorder = Recorder::new();
        recorder.start(1, 1, "running", None);
        for pid in 2..=MAX_RECORDS as i32 + 1 {
            recorder.start(pid, 1, "short", None);
            recorder.exit(pid, 0);
        }
        let recorded = recorder.take_unshown();
        assert_eq!(recorded.dropped, (MAX_RECORDS / 10) as u64);
        assert_eq!(recorded.processes[0].pid, 1, "the running one is kept");
        assert_eq!(recorded.processes.len(), MAX_RECORDS + 1 - MAX_RECORDS / 10);
    }

    #[test]
    fn a_reused_pid_ends_its_latest_process() {
        let recorder = Recorder::new();
        recorder.start(20, 1, "a", None);
        recorder.exit(20, 0);
        recorder.start(20, 1, "b", None);
        recorder.exit(20, 3);
        let recorded = recorder.take_unshown();
        let codes: Vec<_> = recorded
            .processes
            .iter()
            .map(|p| p.ended.map(|(_, c)| c))
            .collect();
        assert_eq!(codes, [Some(0), Some(3)]);
    }
}

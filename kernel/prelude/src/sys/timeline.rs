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
//! - `sys/fork.rs` records every child it forks, in the parent, while it
//!   still holds the recorder's lock across the fork (so a child never
//!   inherits it locked): `Process::start` (named as the process), a pool's
//!   and an executor's workers (`ForkPoolWorker-N`, in their group), and a
//!   manager's server (`Manager`).
//! - `sys/child.rs`, `poll_exit_in`, where every reaped child's exit status
//!   passes, records the exit.
//! - A pool opens one [`Group`] per call (`Pool(4).map, 100 items`; an
//!   `imap`'s waves share their call's), a `ProcessPoolExecutor` one for its
//!   life (`ProcessPoolExecutor(2)`: its calls come one by one, and a chart
//!   of its workers is read as one pool). A group is opened when its first
//!   worker is forked, is running while any member runs, and ends with its
//!   last member's exit.
//! - Setting `FERROKERNEL_TIMELINE=0` before the recorder is made turns
//!   recording off: the benchmark measures recording's cost with it.
//!
//! Outside a notebook (a plain program has one copy of this crate) the
//! recorder is made lazily, on first use, in ordinary memory.

use std::collections::HashSet;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
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
/// Set to `0` to record nothing (read once, when the recorder is made).
const SWITCH: &str = "FERROKERNEL_TIMELINE";
/// How many process records are kept at most.
pub(crate) const MAX_RECORDS: usize = 100_000;

/// A group of processes (a pool's workers), as [`Group::id`] names it.
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

/// A group as the recorder keeps it.
#[derive(Debug)]
struct GroupState {
    record: GroupRecord,
    /// Members started and not seen to end.
    running: usize,
    /// Its [`Group`] handle was dropped: no member will join.
    released: bool,
    /// Shown by a timeline already.
    shown: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Records {
    processes: Vec<ProcessRecord>,
    groups: Vec<GroupState>,
    dropped: u64,
}

impl Records {
    fn group(&mut self, id: GroupId) -> Option<&mut GroupState> {
        self.groups.iter_mut().rev().find(|g| g.record.id == id)
    }
}

/// The process-wide recorder.
#[derive(Debug)]
pub(crate) struct Recorder {
    epoch: Instant,
    enabled: bool,
    next_group: AtomicU64,
    records: Mutex<Records>,
}

impl Recorder {
    fn new() -> Recorder {
        Recorder {
            epoch: Instant::now(),
            enabled: std::env::var_os(SWITCH).is_none_or(|value| value != "0"),
            next_group: AtomicU64::new(1),
            records: Mutex::new(Records::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn since_epoch(&self) -> Duration {
        self.epoch.elapsed()
    }

    #[cfg(test)]
    fn start(&self, pid: i32, parent: i32, name: &str, group: Option<GroupId>) {
        self.start_in(&mut self.lock(), pid, parent, name, group);
    }

    fn start_in(
        &self,
        records: &mut Records,
        pid: i32,
        parent: i32,
        name: &str,
        group: Option<GroupId>,
    ) {
        let started = self.since_epoch();
        if let Some(state) = group.and_then(|id| records.group(id)) {
            state.running += 1;
            state.record.closed = None;
        }
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

    fn exit(&self, pid: i32, exitcode: i32, remote: bool) {
        let ended = self.since_epoch();
        let mut records = self.lock();
        // The latest process with this pid (pids are reused), on this host or not.
        let Some(record) =
            records.processes.iter_mut().rev().find(|p| {
                p.pid == pid && p.ended.is_none() && (p.parent == REMOTE_PARENT) == remote
            })
        else {
            return;
        };
        record.ended = Some((ended, exitcode));
        // A group ends with its last member (and goes on if another joins).
        if let Some(state) = record.group.and_then(|id| records.group(id)) {
            state.running = state.running.saturating_sub(1);
            if state.running == 0 {
                state.record.closed = Some(ended);
            }
        }
    }

    fn open_group(&self, label: &str) -> GroupId {
        let id = GroupId(self.next_group.fetch_add(1, Ordering::Relaxed));
        let opened = self.since_epoch();
        self.lock().groups.push(GroupState {
            record: GroupRecord {
                id,
                label: label.to_owned(),
                opened,
                closed: None,
            },
            running: 0,
            released: false,
            shown: false,
        });
        id
    }

    fn release_group(&self, id: GroupId) {
        if let Some(state) = self.lock().group(id) {
            state.released = true;
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
        let shown: HashSet<GroupId> = processes.iter().filter_map(|p| p.group).collect();
        let mut groups = Vec::new();
        for state in records
            .groups
            .iter_mut()
            .filter(|g| shown.contains(&g.record.id))
        {
            let mut group = state.record.clone();
            // Shown before (an executor's, used again): it starts anew here.
            if state.shown {
                let first = processes.iter().filter(|p| p.group == Some(group.id));
                group.opened = first.map(|p| p.started).min().unwrap_or(group.opened);
            }
            state.shown = true;
            groups.push(group);
        }
        // A group is done with once no member runs and none can join.
        records.groups.retain(|g| g.running > 0 || !g.released);
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
        let found = crate::sys::globals::find_or_create(VARIABLE, MAPPING_NAME, Recorder::new);
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

/// The recorder locked (`None` when recording is off): `sys/fork.rs` holds
/// it across a fork, so that no child inherits it locked by another thread.
pub(crate) fn hold() -> Option<Held> {
    let recorder = recorder();
    recorder.enabled.then(|| Held {
        recorder,
        records: recorder.lock(),
    })
}

/// The recorder, locked by [`hold`].
pub(crate) struct Held {
    recorder: &'static Recorder,
    records: MutexGuard<'static, Records>,
}

impl Held {
    /// Records that this process started child `pid`, named `name`, in `group`.
    pub(crate) fn record_start(&mut self, pid: i32, name: &str, group: Option<GroupId>) {
        let parent = std::process::id() as i32;
        self.recorder
            .start_in(&mut self.records, pid, parent, name, group);
    }

    /// In a new child: the parent's records are not the child's to show.
    /// They are forgotten without being freed, so their pages stay shared.
    pub(crate) fn forget_in_child(&mut self) {
        std::mem::forget(std::mem::take(&mut *self.records));
    }
}

/// Records that child `pid` ended with `exitcode` (Python's: `-N` for signal N).
pub(crate) fn record_exit(pid: i32, exitcode: i32) {
    let recorder = recorder();
    if recorder.enabled {
        recorder.exit(pid, exitcode, false);
    }
}

/// The parent recorded for a process on another host (a cluster's worker).
pub(crate) const REMOTE_PARENT: i32 = -1;

/// Records that process `pid` on another host joined, named `name`, in `group`.
pub(crate) fn record_remote_start(pid: i32, name: &str, group: Option<GroupId>) {
    let recorder = recorder();
    if recorder.enabled {
        recorder.start_in(&mut recorder.lock(), pid, REMOTE_PARENT, name, group);
    }
}

/// The exit code recorded for a remote process whose connection was lost.
pub(crate) const LOST: i32 = i32::MIN;

/// Records that process `pid` on another host ended (or was [`LOST`]).
pub(crate) fn record_remote_exit(pid: i32, exitcode: i32) {
    let recorder = recorder();
    if recorder.enabled {
        recorder.exit(pid, exitcode, true);
    }
}

/// One pool call's workers (or an executor's), shown under `label`: opened
/// when its first worker is forked, done with once dropped and its members
/// ended.
#[derive(Debug)]
pub(crate) struct Group {
    label: String,
    id: OnceLock<Option<GroupId>>,
}

impl Group {
    /// A group labelled as the timeline shows it (`Pool(4).map, 100 items`).
    pub(crate) fn new(label: String) -> Group {
        Group {
            label,
            id: OnceLock::new(),
        }
    }

    /// Its id, opening it on first use (`None` when recording is off). Not
    /// to be called while [`hold`]ing the recorder.
    pub(crate) fn id(&self) -> Option<GroupId> {
        *self.id.get_or_init(|| {
            let recorder = recorder();
            recorder.enabled.then(|| recorder.open_group(&self.label))
        })
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(Some(id)) = self.id.get() {
            recorder().release_group(*id);
        }
    }
}

/// What started since the last call (see [`Recorder::take_unshown`]).
pub(crate) fn take_unshown() -> Recorded {
    recorder().take_unshown()
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
        recorder.exit(10, 0, false);
        recorder.exit(11, -9, false);
        let first = recorder.take_unshown();
        assert_eq!(first.processes.len(), 3);
        assert_eq!(first.groups.len(), 1);
        assert_eq!(first.processes[1].ended.map(|(_, code)| code), Some(-9));
        assert_eq!(first.processes[2].ended, None);
        // Shown and over is forgotten; the running worker's exit is still recorded.
        recorder.exit(12, 0, false);
        recorder.release_group(pool);
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
    fn a_group_runs_while_a_member_does_and_a_group_shown_again_starts_anew() {
        let recorder = Recorder::new();
        let executor = recorder.open_group("ProcessPoolExecutor(2)");
        recorder.start(30, 1, "ForkPoolWorker-1", Some(executor));
        recorder.exit(30, 0, false);
        let closed = recorder.lock().groups[0].record.closed;
        assert!(closed.is_some(), "closed with its last member");
        recorder.start(31, 1, "ForkPoolWorker-2", Some(executor));
        assert_eq!(recorder.lock().groups[0].record.closed, None, "reopened");
        let first = recorder.take_unshown();
        assert_eq!(first.groups.len(), 1);
        assert_eq!(
            first.groups[0].opened,
            recorder.lock().groups[0].record.opened
        );
        recorder.exit(31, 0, false);
        std::thread::sleep(Duration::from_millis(5));
        recorder.start(32, 1, "ForkPoolWorker-3", Some(executor));
        let second = recorder.take_unshown();
        assert_eq!(second.processes.len(), 1);
        assert_eq!(second.groups[0].opened, second.processes[0].started);
        // Kept while its handle lives, though no member runs; then forgotten.
        recorder.exit(32, 0, false);
        let _ = recorder.take_unshown();
        assert_eq!(recorder.lock().groups.len(), 1);
        recorder.release_group(executor);
        let _ = recorder.take_unshown();
        assert!(recorder.lock().groups.is_empty());
    }

    #[test]
    fn past_the_cap_the_oldest_ended_records_make_room() {
        let recorder = Recorder::new();
        recorder.start(1, 1, "running", None);
        for pid in 2..=MAX_RECORDS as i32 + 1 {
            recorder.start(pid, 1, "short", None);
            recorder.exit(pid, 0, false);
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
        recorder.exit(20, 0, false);
        recorder.start(20, 1, "b", None);
        recorder.exit(20, 3, false);
        let recorded = recorder.take_unshown();
        let codes: Vec<_> = recorded
            .processes
            .iter()
            .map(|p| p.ended.map(|(_, c)| c))
            .collect();
        assert_eq!(codes, [Some(0), Some(3)]);
    }
}

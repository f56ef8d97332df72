//! Interrupting a cell that runs in the runtime process.
//!
//! An interrupt sends SIGINT to the runtime. The prelude's handler makes any
//! prelude call that is blocked return `Err(Interrupted)` within 100 ms, so a
//! cell waiting on a queue, a lock or a child ends with an error and keeps every
//! variable. A cell that does not stop (a busy loop, a plain `sleep`) is killed
//! after a grace period; evcxr then restarts the runtime and the cell's error
//! says which variables were lost.

use crate::{Interrupt, procs};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

#[derive(Debug, Default)]
struct CellState {
    /// The id of the running cell, if one runs.
    running: Option<u64>,
    /// Whether the running cell was asked to stop.
    requested: bool,
}

/// Shared by the engine (which marks cells) and the kernel (which interrupts).
#[derive(Debug)]
pub(super) struct Interrupter {
    runtime_pid: AtomicI32,
    state: Mutex<CellState>,
    grace: Duration,
}

impl Interrupter {
    pub(super) fn new(grace: Duration) -> Arc<Interrupter> {
        let interrupter = Arc::new(Interrupter {
            runtime_pid: AtomicI32::new(0),
            state: Mutex::default(),
            grace,
        });
        let watched = Arc::downgrade(&interrupter);
        std::thread::Builder::new()
            .name("runtime-watch".into())
            .spawn(move || watch(watched))
            .ok();
        interrupter
    }

    fn state(&self) -> std::sync::MutexGuard<'_, CellState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the runtime's pid, after a start or restart.
    pub(super) fn set_runtime_pid(&self, pid: i32) {
        self.runtime_pid.store(pid, Ordering::SeqCst);
    }

    pub(super) fn runtime_pid(&self) -> i32 {
        self.runtime_pid.load(Ordering::SeqCst)
    }

    /// Marks cell `id` as running.
    pub(super) fn begin(&self, id: u64) {
        *self.state() = CellState {
            running: Some(id),
            requested: false,
        };
    }

    /// Marks the cell as finished; returns whether it was interrupted.
    pub(super) fn end(&self) -> bool {
        let mut state = self.state();
        state.running = None;
        std::mem::take(&mut state.requested)
    }

    fn signal(&self, signal: Signal) {
        let pid = self.runtime_pid();
        if pid > 0 {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }

    /// Kills the runtime and every process of its group.
    fn end_runtime(&self) {
        procs::kill_group(self.runtime_pid());
    }
}

/// How often the watch looks whether the runtime died: a dead runtime's
/// cell hangs until then, and each look reads one `/proc` file.
const RUNTIME_WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// While a cell runs, notices a runtime that died (abort, segfault, a signal):
/// processes it left behind still hold its output pipe, and evcxr would wait
/// for them forever, so they are ended.
fn watch(interrupter: Weak<Interrupter>) {
    loop {
        std::thread::sleep(RUNTIME_WATCH_INTERVAL);
        let Some(interrupter) = interrupter.upgrade() else {
            return;
        };
        let pid = interrupter.runtime_pid();
        if interrupter.state().running.is_some() && pid > 0 && procs::exited(pid) {
            tracing::info!(pid, "the runtime died; ending what it left behind");
            interrupter.end_runtime();
        }
    }
}

/// The handle given to the kernel.
#[derive(Debug, Clone)]
pub(super) struct InterruptHandle(pub(super) Arc<Interrupter>);

impl Interrupt for InterruptHandle {
    fn interrupt(&self) {
        let cell = {
            let mut state = self.0.state();
            let Some(cell) = state.running else {
                return;
            };
            state.requested = true;
            cell
        };
        tracing::info!(cell, "interrupting the runtime");
        self.0.signal(Signal::SIGINT);
        let interrupter = Arc::clone(&self.0);
        std::thread::spawn(move || {
            std::thread::sleep(interrupter.grace);
            if interrupter.state().running == Some(cell) {
                tracing::warn!(cell, "the cell ignored the interrupt; killing the runtime");
                interrupter.end_runtime();
            }
        });
    }
}

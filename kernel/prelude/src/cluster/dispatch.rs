//! Handing tasks to whichever worker is free.
//!
//! Every worker has a link thread that takes the next task from the shared
//! queue, sends the libraries the worker lacks, sends the task and waits for
//! its report: one task in flight per worker, so chunks go to whichever
//! worker finishes first. A worker that dies fails the task it held (with
//! its host's name) and takes no more; when none is left, queued tasks fail.

use super::library::{Library, Place};
use super::wire::{Order, Report};
use super::{ClusterFailure, WorkerInfo};
use crate::error::{Error, Result};
use crate::multiprocessing::connection::Connection;
use crate::sys::timeline;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// The encoded `Vec<Result<R, String>>` of a chunk, or why it has none.
pub(crate) type Outcome = Result<Vec<u8>>;

/// Who waits for a task.
pub(crate) trait Reply: Send {
    /// Called when a worker takes the task; `false` skips it (cancelled).
    fn claim(&mut self) -> bool;
    /// The task's outcome, and the worker that ran it.
    fn done(self: Box<Self>, outcome: Outcome, worker: &WorkerInfo);
}

/// One chunk of one call.
pub(crate) struct Task {
    pub(crate) place: Place,
    pub(crate) context: Arc<Vec<u8>>,
    pub(crate) items: Vec<u8>,
    pub(crate) reply: Box<dyn Reply>,
    /// Taken by a worker once (a task put back is not claimed again).
    claimed: bool,
}

impl Task {
    pub(crate) fn new(
        place: Place,
        context: Arc<Vec<u8>>,
        items: Vec<u8>,
        reply: Box<dyn Reply>,
    ) -> Task {
        Task {
            place,
            context,
            items,
            reply,
            claimed: false,
        }
    }
}

#[derive(Default)]
struct Queue {
    tasks: VecDeque<Task>,
    stopping: bool,
}

/// The queue shared by the link threads.
pub(crate) struct Dispatcher {
    queue: Mutex<Queue>,
    ready: Condvar,
    alive: AtomicUsize,
    next_task: AtomicU64,
    standard_library: Arc<Library>,
}

impl Dispatcher {
    pub(crate) fn new(standard_library: Arc<Library>) -> Arc<Dispatcher> {
        Arc::new(Dispatcher {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            alive: AtomicUsize::new(0),
            next_task: AtomicU64::new(0),
            standard_library,
        })
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues tasks; fails them at once when no worker is left.
    pub(crate) fn submit(&self, tasks: impl IntoIterator<Item = Task>) -> Result<()> {
        let mut queue = self.queue();
        if queue.stopping {
            return Err(Error::Cluster(ClusterFailure::ShutDown));
        }
        if self.alive.load(Ordering::SeqCst) == 0 {
            return Err(Error::Cluster(ClusterFailure::NoWorkersLeft));
        }
        queue.tasks.extend(tasks);
        drop(queue);
        self.ready.notify_all();
        Ok(())
    }

    /// Starts serving one worker on a thread of its own.
    pub(crate) fn serve(self: &Arc<Dispatcher>, conn: Arc<Connection>, worker: WorkerInfo) {
        self.alive.fetch_add(1, Ordering::SeqCst);
        let dispatcher = Arc::clone(self);
        std::thread::spawn(move || {
            let mut link = Link {
                conn,
                worker,
                sent: HashSet::new(),
            };
            // Counted out however the thread ends, a panic included, so the
            // last link always fails what is still queued.
            let _ended = LinkEnded(&dispatcher);
            let mut lost = false;
            while let Some(task) = dispatcher.next() {
                if !link.run(&dispatcher, task) {
                    lost = true;
                    break;
                }
            }
            let ending = if lost { timeline::LOST } else { 0 };
            timeline::record_remote_exit(link.worker.pid as i32, ending);
        });
    }

    /// Puts back a task no worker has run (its worker was found gone before
    /// the task reached it).
    fn requeue(&self, task: Task) {
        self.queue().tasks.push_front(task);
        self.ready.notify_all();
    }

    fn next(&self) -> Option<Task> {
        let mut queue = self.queue();
        loop {
            if queue.stopping {
                return None;
            }
            if let Some(task) = queue.tasks.pop_front() {
                return Some(task);
            }
            queue = self
                .ready
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// A link thread ended; the last one fails whatever is still queued.
    fn link_ended(&self) {
        if self.alive.fetch_sub(1, Ordering::SeqCst) != 1 {
            return;
        }
        let orphans: Vec<Task> = self.queue().tasks.drain(..).collect();
        let nobody = WorkerInfo::nobody();
        for task in orphans {
            task.reply
                .done(Err(Error::Cluster(ClusterFailure::NoWorkersLeft)), &nobody);
        }
    }

    /// Workers still serving.
    pub(crate) fn alive(&self) -> usize {
        self.alive.load(Ordering::SeqCst)
    }

    /// Ends the link threads once they finish their current task.
    pub(crate) fn stop(&self) {
        let orphans: Vec<Task> = {
            let mut queue = self.queue();
            queue.stopping = true;
            queue.tasks.drain(..).collect()
        };
        self.ready.notify_all();
        let nobody = WorkerInfo::nobody();
        for task in orphans {
            task.reply
                .done(Err(Error::Cluster(ClusterFailure::ShutDown)), &nobody);
        }
    }
}

/// Calls [`Dispatcher::link_ended`] when its link thread ends.
struct LinkEnded<'a>(&'a Dispatcher);

impl Drop for LinkEnded<'_> {
    fn drop(&mut self) {
        self.0.link_ended();
    }
}

/// Why a task did not come back from a worker.
enum Failure {
    /// The worker was gone before it got the task: another may run it.
    NotSent,
    /// The worker went away with the task.
    Lost(Error),
}

/// The kernel's end of one worker.
struct Link {
    conn: Arc<Connection>,
    worker: WorkerInfo,
    /// Libraries this worker already has.
    sent: HashSet<String>,
}

impl Link {
    /// Runs one task; `false` when the worker is gone.
    fn run(&mut self, dispatcher: &Dispatcher, mut task: Task) -> bool {
        if !task.claimed {
            if !task.reply.claim() {
                return true;
            }
            task.claimed = true;
        }
        let id = dispatcher.next_task.fetch_add(1, Ordering::Relaxed);
        let outcome = match self.exchange(dispatcher, &task, id) {
            Ok(outcome) => outcome,
            Err(Failure::NotSent) => {
                dispatcher.requeue(task);
                return false;
            }
            Err(Failure::Lost(reason)) => {
                let lost = Error::WorkerDied {
                    reason: format!("{} ({reason})", self.worker),
                };
                finish(task, Err(lost), &self.worker);
                return false;
            }
        };
        finish(task, outcome, &self.worker);
        true
    }

    /// Sends what the task needs and waits for its report. `Err` only when
    /// the connection failed.
    fn exchange(
        &mut self,
        dispatcher: &Dispatcher,
        task: &Task,
        id: u64,
    ) -> std::result::Result<Outcome, Failure> {
        for library in [&dispatcher.standard_library, &task.place.library] {
            if !self.sent.contains(&library.hash) {
                self.conn
                    .send_uninterruptible(&Order::Load {
                        hash: library.hash.clone(),
                        file_name: library.file_name.clone(),
                        bytes: library.bytes.clone(),
                    })
                    .map_err(|_| Failure::NotSent)?;
                self.sent.insert(library.hash.clone());
            }
        }
        self.conn
            .send_uninterruptible(&Order::Run {
                task: id,
                library: task.place.library.hash.clone(),
                entry: task.place.offset,
                context: task.context.as_ref().clone(),
                items: task.items.clone(),
            })
            .map_err(|_| Failure::NotSent)?;
        let Report::Done { task: done, output } = self
            .conn
            .recv_uninterruptible::<Report>()
            .map_err(Failure::Lost)?;
        if done != id {
            return Err(Failure::Lost(Error::Cluster(ClusterFailure::Protocol(
                format!("{} answered task {done} for task {id}", self.worker),
            ))));
        }
        Ok(output.map_err(|message| {
            Error::Cluster(ClusterFailure::TaskFailed {
                worker: self.worker.to_string(),
                message,
            })
        }))
    }
}

/// Hands a task's outcome to whoever waits for it. A panic there (a future's
/// done-callback is the caller's code) must not take the link down with it.
fn finish(task: Task, outcome: Outcome, worker: &WorkerInfo) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        task.reply.done(outcome, worker);
    }));
}

//! A batch: the calls that queued up while the executor's workers were busy,
//! run in turn by one forked worker that streams each result back as it
//! finishes — so a burst of calls pays a few forks, not one per call.
//!
//! A batch is a pool [`Job`] with one worker and one call per chunk, so the
//! pool's machinery carries it: the worker claims the calls in order, writes
//! each call's encoded outcome into its arena and counts it finished; the
//! parent finishes each call's future from its chunk. A call's panic is
//! caught in the worker and becomes that call's `TaskPanicked`, and the batch
//! goes on. A call cancelled before the worker claims it is skipped (the
//! job's chunk is taken back, see `Job::cancel_chunk`); once claimed it runs.
//! A worker that dies fails the calls it had not finished with `WorkerDied`;
//! those it finished keep their results.
//!
//! Every future is given its driver before the worker is forked, so a
//! `cancel` either takes the call back or finds it claimed: never both.

use super::future::{Core, Drive};
use crate::codec::{self, Encoded};
use crate::error::{Error, Result};
use crate::multiprocessing::pool::job::{Job, panic_text};
use crate::sys::deadline::Deadline;
use crate::sys::spin::spin_until;
use crate::sys::timeline::Group;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How long a caller waiting for a result looks again before parking (see
/// `sys::spin`): a short call's result, from a worker forked a moment ago,
/// usually comes within it.
const RESULT_SPIN: Duration = Duration::from_micros(200);

/// A call as its worker runs it: the closure, its panic caught, the outcome
/// (`Result<T, String>`: the value or the panic's message) encoded.
type Call = Box<dyn FnOnce() -> Encoded + Send>;

/// A call waiting for a worker: what the worker runs, and its future.
pub(super) struct Queued {
    call: Call,
    future: Arc<dyn Member>,
}

/// Wraps `f` for a worker, with `core` the future it finishes.
pub(super) fn queued<T, F>(f: F, core: Arc<Core<T>>) -> Queued
where
    F: FnOnce() -> T + Send + 'static,
    T: Serialize + DeserializeOwned + Send + 'static,
{
    let call: Call = Box::new(move || {
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_text(&p));
        let bytes = codec::encode(&outcome)
            .or_else(|error| codec::encode(&Err::<T, String>(error.to_string())));
        // Encoding a `String` does not fail; empty bytes would be a decode error.
        Encoded(bytes.unwrap_or_default())
    });
    Queued { call, future: core }
}

/// A queued call's future, whatever its result type.
trait Member: Send + Sync {
    /// Gives the future its driver for chunk `chunk` of `job`; `None` if it
    /// was cancelled while queued.
    fn enlist(self: Arc<Self>, job: &Arc<Job>, chunk: usize) -> Option<Arc<dyn Drive>>;
    /// Finishes the future with `error` (its worker could not be forked).
    fn fail(&self, error: Error);
}

impl<T: DeserializeOwned + Send + 'static> Member for Core<T> {
    fn enlist(self: Arc<Self>, job: &Arc<Job>, chunk: usize) -> Option<Arc<dyn Drive>> {
        let driver: Arc<dyn Drive> = Arc::new(BatchCall {
            job: Arc::clone(job),
            chunk,
            core: Arc::clone(&self),
            claimed: AtomicBool::new(false),
        });
        self.attach(Arc::clone(&driver)).then_some(driver)
    }

    fn fail(&self, error: Error) {
        self.finish(Err(error));
    }
}

/// One call of a batch: finishes its future from its chunk of the job.
struct BatchCall<T> {
    job: Arc<Job>,
    chunk: usize,
    core: Arc<Core<T>>,
    claimed: AtomicBool,
}

impl<T: DeserializeOwned> BatchCall<T> {
    fn outcome(&self) -> Option<Result<T>> {
        if let Some(bytes) = self.job.chunk_bytes(self.chunk) {
            return Some(decode(bytes));
        }
        self.job
            .failure()
            .map(|error| match error {
                // Say so when the worker died before this call's turn.
                Error::WorkerDied { reason } if !self.job.chunk_started(self.chunk) => {
                    Error::WorkerDied {
                        reason: format!("{reason} before this call, queued in its batch, started"),
                    }
                }
                other => other,
            })
            .map(Err)
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let outcome = codec::decode::<std::result::Result<T, String>>(codec::decode_encoded(bytes)?)?;
    outcome.map_err(|message| Error::TaskPanicked { message })
}

impl<T: DeserializeOwned + Send> Drive for BatchCall<T> {
    fn poll(&self) -> bool {
        if self.claimed.load(Ordering::Acquire) || self.job.chunk_cancelled(self.chunk) {
            return true;
        }
        let Some(outcome) = self.outcome() else {
            if self.job.chunk_started(self.chunk) {
                self.core.mark_running();
            }
            return false;
        };
        // Whoever claims it first finishes the future; the others see it done.
        if !self.claimed.swap(true, Ordering::AcqRel) {
            self.core.finish(outcome);
        }
        true
    }

    fn wait(&self, slice: Duration) {
        let ready = || self.job.chunk_done(self.chunk) || self.job.chunk_cancelled(self.chunk);
        if spin_until(RESULT_SPIN, ready) {
            return;
        }
        let _ = self.job.wait_for(&Deadline::after(Some(slice)), |job| {
            job.chunk_done(self.chunk) || job.chunk_cancelled(self.chunk)
        });
    }

    fn cancel(&self) -> bool {
        self.job.cancel_chunk(self.chunk)
    }
}

/// Calls forked together into one worker.
pub(super) struct Batch {
    job: Arc<Job>,
    /// The calls' drivers, in the order the worker runs them.
    drivers: Vec<Arc<dyn Drive>>,
    /// Drivers before this one have finished their futures.
    finished: Mutex<usize>,
}

impl Batch {
    /// Forks one worker for `calls` (those cancelled meanwhile are skipped);
    /// the timeline shows it in `group`. If it cannot be forked, every
    /// call's future fails with the reason, which is returned too.
    pub(super) fn start(calls: Vec<Queued>, group: &Group) -> Result<Batch> {
        let (items, futures): (Vec<Call>, Vec<Arc<dyn Member>>) =
            calls.into_iter().map(|q| (q.call, q.future)).unzip();
        let job = match Job::prepare(items.len(), 1, Some(1)) {
            Ok(job) => job,
            Err(error) => {
                for future in &futures {
                    future.fail(not_forked(&error));
                }
                return Err(error);
            }
        };
        let mut drivers = Vec::with_capacity(futures.len());
        for (chunk, future) in futures.iter().enumerate() {
            match Arc::clone(future).enlist(&job, chunk) {
                Some(driver) => drivers.push(driver),
                None => {
                    job.cancel_chunk(chunk);
                }
            }
        }
        if !drivers.is_empty()
            && let Err(error) = job.spawn(items, &|call: Call| call(), None, group)
        {
            for future in &futures {
                future.fail(not_forked(&error));
            }
            return Err(error);
        }
        Ok(Batch {
            job,
            drivers,
            finished: Mutex::new(0),
        })
    }

    /// Whether its worker still has calls to run.
    pub(super) fn busy(&self) -> bool {
        self.job.busy()
    }

    /// Finishes the futures whose results came (running their callbacks).
    /// The worker delivers in order, so this stops at the first call still
    /// running: a long batch costs one look per call, not one per tick.
    pub(super) fn poll(&self) {
        let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        let _polling = PollingHere::enter();
        while let Some(driver) = self.drivers.get(*finished) {
            if !driver.poll() {
                break;
            }
            *finished += 1;
        }
    }

    /// Whether its worker has left (reaping it if it has).
    pub(super) fn reaped(&self) -> bool {
        self.job.reaped()
    }

    /// The pidfd of its worker while it runs.
    pub(super) fn worker_fds(&self) -> Vec<i32> {
        self.job.worker_fds()
    }
}

thread_local! {
    /// Set while this thread finishes a batch's futures (and so runs their
    /// done-callbacks).
    static POLLING: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread as finishing a batch's futures until dropped.
struct PollingHere {
    was: bool,
}

impl PollingHere {
    fn enter() -> PollingHere {
        PollingHere {
            was: POLLING.replace(true),
        }
    }
}

impl Drop for PollingHere {
    fn drop(&mut self) {
        POLLING.set(self.was);
    }
}

/// Whether this thread is inside [`Batch::poll`] (a done-callback that
/// submits): polling another batch from here could wait for this very thread.
pub(super) fn polling_here() -> bool {
    POLLING.get()
}

fn not_forked(error: &Error) -> Error {
    Error::WorkerDied {
        reason: format!("no worker could be forked for this call: {error}"),
    }
}

//! [`ClusterExecutor`]: `concurrent.futures`' executor over a cluster's workers.

use super::dispatch::{Outcome, Reply, Task};
use super::entry::{Plain, place_of};
use super::{Cluster, ClusterFailure, WorkerInfo};
use crate::concurrent::futures::Future;
use crate::concurrent::futures::future::Core;
use crate::error::{Error, Result};
use crate::sys::deadline::Deadline;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// Like Python's `MPIPoolExecutor`: `submit(f, arg)` runs `f(arg)` on a free
/// worker and gives a [`Future`] (which works with `wait` and `as_completed`);
/// `map` returns the results in order.
#[derive(Debug, Clone)]
pub struct ClusterExecutor {
    cluster: Cluster,
    shut_down: Arc<AtomicBool>,
    outstanding: Arc<Outstanding>,
}

impl ClusterExecutor {
    pub(super) fn new(cluster: Cluster) -> ClusterExecutor {
        ClusterExecutor {
            cluster,
            shut_down: Arc::new(AtomicBool::new(false)),
            outstanding: Arc::default(),
        }
    }

    /// `f(arg)` on whichever worker is free first. `f` must capture nothing.
    pub fn submit<T, R, F>(&self, f: F, arg: T) -> Result<Future<R>>
    where
        F: Fn(T) -> R,
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        if self.shut_down.load(Ordering::SeqCst) {
            return Err(Error::ExecutorShutdown);
        }
        submit_one(&self.cluster, &self.outstanding, f, arg)
    }

    /// `f` over the items, results in order (as `Executor.map`, collected).
    pub fn map<T, R, F>(&self, f: F, items: impl IntoIterator<Item = T>) -> Result<Vec<R>>
    where
        F: Fn(T) -> R,
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        if self.shut_down.load(Ordering::SeqCst) {
            return Err(Error::ExecutorShutdown);
        }
        self.cluster.pool()?.map(f, items)
    }

    /// Takes no more work; with `wait`, returns once every submitted call
    /// has finished (interruptibly). The cluster's workers stay; end them
    /// with [`Cluster::shutdown`].
    pub fn shutdown(&self, wait: bool) -> Result<()> {
        self.shut_down.store(true, Ordering::SeqCst);
        if wait {
            self.outstanding.wait()?;
        }
        Ok(())
    }
}

/// Calls submitted and not yet finished (or dropped), for `join` and
/// `shutdown(wait)`.
#[derive(Debug, Default)]
pub(super) struct Outstanding {
    count: Mutex<usize>,
    changed: Condvar,
}

impl Outstanding {
    fn count(&self) -> std::sync::MutexGuard<'_, usize> {
        self.count.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self) {
        *self.count() += 1;
    }

    fn finished(&self) {
        let mut count = self.count();
        *count = count.saturating_sub(1);
        drop(count);
        self.changed.notify_all();
    }

    /// Waits until nothing is outstanding; `Err(Interrupted)` on an interrupt.
    pub(super) fn wait(&self) -> Result<()> {
        let deadline = Deadline::forever();
        let mut count = self.count();
        while *count > 0 {
            count = self
                .changed
                .wait_timeout(count, deadline.slice()?)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Ok(())
    }
}

/// Queues `f(arg)` as a task of one item whose outcome finishes a future.
pub(super) fn submit_one<T, R, F>(
    cluster: &Cluster,
    outstanding: &Arc<Outstanding>,
    f: F,
    arg: T,
) -> Result<Future<R>>
where
    F: Fn(T) -> R,
    T: Serialize + DeserializeOwned,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    let _ = f; // Only its type travels.
    let place = place_of::<Plain<F>, (), T, R>()?;
    let core = Core::new();
    cluster.dispatcher().submit([Task::new(
        place,
        Arc::new(postcard::to_allocvec(&())?),
        postcard::to_allocvec(&vec![arg])?,
        Box::new(FutureReply::new(&core, outstanding)),
    )])?;
    Ok(Future::new(core))
}

struct FutureReply<R> {
    core: Arc<Core<R>>,
    outstanding: Arc<Outstanding>,
}

impl<R> FutureReply<R> {
    fn new(core: &Arc<Core<R>>, outstanding: &Arc<Outstanding>) -> FutureReply<R> {
        outstanding.add();
        FutureReply {
            core: Arc::clone(core),
            outstanding: Arc::clone(outstanding),
        }
    }
}

/// Finished, skipped as cancelled, or never queued: no longer outstanding.
impl<R> Drop for FutureReply<R> {
    fn drop(&mut self) {
        self.outstanding.finished();
    }
}

impl<R: DeserializeOwned + Send> Reply for FutureReply<R> {
    fn claim(&mut self) -> bool {
        self.core.set_running()
    }

    fn done(self: Box<Self>, outcome: Outcome, worker: &WorkerInfo) {
        let result = outcome.and_then(|bytes| {
            let mut results: Vec<std::result::Result<R, String>> = postcard::from_bytes(&bytes)?;
            match results.pop() {
                Some(Ok(value)) => Ok(value),
                Some(Err(message)) => Err(Error::TaskPanicked {
                    message: format!("on {worker}: {message}"),
                }),
                None => Err(Error::Cluster(ClusterFailure::Protocol(
                    "a task of one item returned nothing".to_owned(),
                ))),
            }
        });
        self.core.finish(result);
    }
}

//! [`ClusterExecutor`]: `concurrent.futures`' executor over a cluster's workers.

use super::dispatch::{Outcome, Reply, Task};
use super::entry::Plain;
use super::pool::place_of;
use super::{Cluster, ClusterFailure, WorkerInfo};
use crate::concurrent::futures::Future;
use crate::concurrent::futures::future::Core;
use crate::error::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Like Python's `MPIPoolExecutor`: `submit(f, arg)` runs `f(arg)` on a free
/// worker and gives a [`Future`] (which works with `wait` and `as_completed`);
/// `map` returns the results in order.
#[derive(Debug, Clone)]
pub struct ClusterExecutor {
    cluster: Cluster,
    shut_down: Arc<AtomicBool>,
}

impl ClusterExecutor {
    pub(super) fn new(cluster: Cluster) -> ClusterExecutor {
        ClusterExecutor {
            cluster,
            shut_down: Arc::new(AtomicBool::new(false)),
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
        submit_one(&self.cluster, f, arg)
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

    /// Takes no more work. With `wait`, nothing else is needed: submitted
    /// calls hold their own futures. The cluster's workers stay; end them
    /// with [`Cluster::shutdown`].
    pub fn shutdown(&self, wait: bool) -> Result<()> {
        let _ = wait;
        self.shut_down.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// Queues `f(arg)` as a task of one item whose outcome finishes a future.
pub(super) fn submit_one<T, R, F>(cluster: &Cluster, f: F, arg: T) -> Result<Future<R>>
where
    F: Fn(T) -> R,
    T: Serialize + DeserializeOwned,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    let _ = f; // Only its type travels.
    let place = place_of::<Plain<F>, (), T, R>()?;
    let core = Core::new();
    cluster.dispatcher().submit([Task {
        place,
        context: Arc::new(postcard::to_allocvec(&())?),
        items: postcard::to_allocvec(&vec![arg])?,
        reply: Box::new(FutureReply {
            core: Arc::clone(&core),
        }),
    }])?;
    Ok(Future::new(core))
}

struct FutureReply<R> {
    core: Arc<Core<R>>,
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

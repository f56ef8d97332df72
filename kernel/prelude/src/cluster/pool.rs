//! [`ClusterPool`]: Python's `Pool` API over a cluster's workers.

use super::Cluster;
use super::dispatch::{Outcome, Reply, Task};
use super::entry::{Call, Plain, WithContext, place_of};
use super::executor::Outstanding;
use super::{ClusterFailure, WorkerInfo};
use crate::error::{Error, Result};
use crate::sys::deadline::Deadline;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};

/// A pool whose workers are a [`Cluster`]'s: `map`, `map_with`, `imap`,
/// `imap_unordered`, `apply_async`, `close`, `join` and `terminate`, as
/// Python's `Pool` has them.
#[derive(Debug, Clone)]
pub struct ClusterPool {
    cluster: Cluster,
    closed: Arc<AtomicBool>,
    outstanding: Arc<Outstanding>,
}

impl ClusterPool {
    pub(super) fn new(cluster: Cluster) -> ClusterPool {
        ClusterPool {
            cluster,
            closed: Arc::new(AtomicBool::new(false)),
            outstanding: Arc::default(),
        }
    }

    /// How many workers serve the pool.
    pub fn processes(&self) -> usize {
        self.cluster.alive()
    }

    /// `f` applied to every item on the workers, results in the items' order.
    /// `f` must capture nothing (see [`map_with`](ClusterPool::map_with)).
    pub fn map<T, R, F>(&self, f: F, items: impl IntoIterator<Item = T>) -> Result<Vec<R>>
    where
        F: Fn(T) -> R,
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.map_chunked(f, items, None)
    }

    /// Like [`map`](ClusterPool::map) with `chunk_size` items per task (`None`:
    /// Python's default, four chunks per worker).
    pub fn map_chunked<T, R, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = T>,
        chunk_size: Option<usize>,
    ) -> Result<Vec<R>>
    where
        F: Fn(T) -> R,
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let call = self.start::<Plain<F>, (), T, R>(Plain(f), &(), items, chunk_size)?;
        call.collect()
    }

    /// `f(&context, item)` for every item: how data reaches a cluster's
    /// workers besides the items (a closure there cannot capture). The
    /// context is sent once per chunk.
    pub fn map_with<C, T, R, F>(
        &self,
        context: &C,
        f: F,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Vec<R>>
    where
        F: Fn(&C, T) -> R,
        C: Serialize + DeserializeOwned,
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let call = self.start::<WithContext<F>, C, T, R>(WithContext(f), context, items, None)?;
        call.collect()
    }

    /// Results in the items' order, each as soon as it and those before it are
    /// in (one item per task, as Python's default).
    pub fn imap<T, R, F>(&self, f: F, items: impl IntoIterator<Item = T>) -> Result<ClusterIMap<R>>
    where
        F: Fn(T) -> R,
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let call = self.start::<Plain<F>, (), T, R>(Plain(f), &(), items, Some(1))?;
        Ok(ClusterIMap {
            call,
            next: 0,
            ready: HashMap::new(),
        })
    }

    /// Results as they finish, in no particular order (one item per task).
    pub fn imap_unordered<T, R, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ClusterIMapUnordered<R>>
    where
        F: Fn(T) -> R,
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let call = self.start::<Plain<F>, (), T, R>(Plain(f), &(), items, Some(1))?;
        Ok(ClusterIMapUnordered {
            call,
            pending: Vec::new(),
            yielded: 0,
        })
    }

    /// `f(arg)` on one worker; its result is a future
    /// (`result()`, `done()`, `add_done_callback`, `wait`, `as_completed`).
    pub fn apply_async<T, R, F>(
        &self,
        f: F,
        arg: T,
    ) -> Result<crate::concurrent::futures::Future<R>>
    where
        F: Fn(T) -> R,
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.running()?;
        super::executor::submit_one(&self.cluster, &self.outstanding, f, arg)
    }

    /// Takes no more work; calls already made finish.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Waits for every `apply_async` call to finish (`map` and the `imap`s
    /// finish before they return or as they are read), interruptibly.
    pub fn join(&self) -> Result<()> {
        self.outstanding.wait()
    }

    /// Takes no more work. The cluster's workers stay for other pools; end
    /// them with [`Cluster::shutdown`].
    pub fn terminate(&self) {
        self.close();
    }

    fn running(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            Err(Error::PoolNotRunning)
        } else {
            Ok(())
        }
    }

    fn start<K, C, T, R>(
        &self,
        call: K,
        context: &C,
        items: impl IntoIterator<Item = T>,
        chunk_size: Option<usize>,
    ) -> Result<InFlight<R>>
    where
        K: Call<C, T, R>,
        C: Serialize + DeserializeOwned,
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.running()?;
        let _ = call; // Only its type travels: the workers make their own.
        let place = place_of::<K, C, T, R>()?;
        let items: Vec<T> = items.into_iter().collect();
        let workers = self.cluster.alive().max(1);
        let chunk_size = chunk_size
            .unwrap_or_else(|| items.len().div_ceil(workers * 4))
            .max(1);
        let context = Arc::new(postcard::to_allocvec(context)?);
        let cancelled = Arc::new(AtomicBool::new(false));
        let (sender, receiver) = mpsc::channel();
        let mut tasks = Vec::new();
        let mut sizes = Vec::new();
        for (index, chunk) in items.chunks(chunk_size).enumerate() {
            sizes.push(chunk.len());
            tasks.push(Task::new(
                place.clone(),
                Arc::clone(&context),
                postcard::to_allocvec(chunk)?,
                Box::new(ChunkReply {
                    index,
                    cancelled: Arc::clone(&cancelled),
                    sender: sender.clone(),
                }),
            ));
        }
        self.cluster.dispatcher().submit(tasks)?;
        Ok(InFlight {
            receiver,
            cancelled,
            sizes,
            total: items.len(),
            received: 0,
            deadline: Deadline::forever(),
            _results: PhantomData,
        })
    }
}

/// Where a chunk's outcome goes.
struct ChunkReply {
    index: usize,
    cancelled: Arc<AtomicBool>,
    sender: mpsc::Sender<(usize, Outcome, WorkerInfo)>,
}

impl Reply for ChunkReply {
    fn claim(&mut self) -> bool {
        !self.cancelled.load(Ordering::SeqCst)
    }

    fn done(self: Box<Self>, outcome: Outcome, worker: &WorkerInfo) {
        // The caller may have gone (interrupted): then nobody wants it.
        let _ = self.sender.send((self.index, outcome, worker.clone()));
    }
}

/// One call's chunks in flight. Dropping it cancels the chunks not yet taken.
pub(crate) struct InFlight<R> {
    receiver: mpsc::Receiver<(usize, Outcome, WorkerInfo)>,
    cancelled: Arc<AtomicBool>,
    /// Items per chunk.
    sizes: Vec<usize>,
    total: usize,
    received: usize,
    /// Interruptible, no timeout: when the call started.
    deadline: Deadline,
    _results: PhantomData<fn() -> R>,
}

impl<R> Drop for InFlight<R> {
    fn drop(&mut self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }
}

impl<R: DeserializeOwned> InFlight<R> {
    /// The next chunk to come in, decoded: its index and results.
    fn next_chunk(&mut self) -> Option<Result<(usize, Vec<R>)>> {
        if self.received == self.sizes.len() {
            return None;
        }
        loop {
            let slice = match self.deadline.slice() {
                Ok(slice) => slice,
                Err(interrupted) => {
                    self.cancelled.store(true, Ordering::SeqCst);
                    self.received = self.sizes.len();
                    return Some(Err(interrupted));
                }
            };
            match self.receiver.recv_timeout(slice) {
                Ok((index, outcome, worker)) => {
                    self.received += 1;
                    return Some(self.decode(index, outcome, &worker));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.received = self.sizes.len();
                    return Some(Err(Error::Cluster(ClusterFailure::NoWorkersLeft)));
                }
            }
        }
    }

    fn decode(
        &self,
        index: usize,
        outcome: Outcome,
        worker: &WorkerInfo,
    ) -> Result<(usize, Vec<R>)> {
        let results: Vec<std::result::Result<R, String>> = postcard::from_bytes(&outcome?)?;
        if results.len() != self.sizes[index] {
            return Err(Error::Cluster(ClusterFailure::Protocol(format!(
                "{worker} returned {} results for {} items",
                results.len(),
                self.sizes[index]
            ))));
        }
        let first = self.sizes[..index].iter().sum::<usize>();
        let results = results
            .into_iter()
            .enumerate()
            .map(|(nth, result)| {
                result.map_err(|message| Error::TaskPanicked {
                    message: format!("item {} on {worker}: {message}", first + nth),
                })
            })
            .collect::<Result<Vec<R>>>()?;
        Ok((index, results))
    }

    /// Every result, in the items' order.
    fn collect(mut self) -> Result<Vec<R>> {
        let mut chunks: Vec<Option<Vec<R>>> = (0..self.sizes.len()).map(|_| None).collect();
        while let Some(chunk) = self.next_chunk() {
            let (index, results) = chunk?;
            chunks[index] = Some(results);
        }
        let mut all = Vec::with_capacity(self.total);
        for chunk in chunks {
            all.extend(chunk.into_iter().flatten());
        }
        Ok(all)
    }
}

/// [`ClusterPool::imap`]'s results, in order.
pub struct ClusterIMap<R> {
    call: InFlight<R>,
    next: usize,
    ready: HashMap<usize, R>,
}

impl<R: DeserializeOwned> Iterator for ClusterIMap<R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        if self.next == self.call.total {
            return None;
        }
        loop {
            if let Some(result) = self.ready.remove(&self.next) {
                self.next += 1;
                return Some(Ok(result));
            }
            match self.call.next_chunk()? {
                Ok((index, results)) => {
                    // One item per chunk: the chunk's index is the item's.
                    self.ready.extend(results.into_iter().map(|r| (index, r)));
                }
                Err(e) => {
                    self.next = self.call.total;
                    return Some(Err(e));
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.call.total - self.next;
        (left, Some(left))
    }
}

/// [`ClusterPool::imap_unordered`]'s results, as they finish.
pub struct ClusterIMapUnordered<R> {
    call: InFlight<R>,
    pending: Vec<R>,
    yielded: usize,
}

impl<R: DeserializeOwned> Iterator for ClusterIMapUnordered<R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        while self.pending.is_empty() {
            match self.call.next_chunk()? {
                Ok((_, mut results)) => {
                    results.reverse();
                    self.pending = results;
                }
                Err(e) => {
                    self.yielded = self.call.total;
                    return Some(Err(e));
                }
            }
        }
        self.yielded += 1;
        self.pending.pop().map(Ok)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.call.total.saturating_sub(self.yielded);
        (left, Some(left))
    }
}

impl<R> std::fmt::Debug for ClusterIMap<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterIMap")
            .field("next", &self.next)
            .finish()
    }
}

impl<R> std::fmt::Debug for ClusterIMapUnordered<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterIMapUnordered").finish()
    }
}

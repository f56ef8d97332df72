//! [`IMap`] and [`IMapUnordered`]: results streamed as their tasks finish,
//! the input consumed lazily.
//!
//! Design: workers are forked per call and can only run items that exist
//! when they are forked, so the input is pulled in *waves*: a wave takes the
//! next items from the iterator and forks its own workers over them. The
//! next wave starts once every chunk of the current one is claimed (its
//! workers are on their last tasks), so the two overlap and the workers stay
//! busy; waves double in size from a few chunks per worker up to
//! [`MAX_WAVE`] items, so the first results come at once and the fork cost is
//! spread thin. At most two waves of items and results are held at a time:
//! an endless iterator works, and nothing runs far ahead of the consumer.

use super::PoolShared;
use super::job::{Initializer, Job};
use crate::error::{Error, Result};
use crate::sys::deadline::Deadline;
use crate::sys::timeline::Group;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::sync::Arc;

/// The most items one wave takes from the input.
const MAX_WAVE: usize = 1 << 14;

/// Starts the next wave: pulls up to `n` items and forks workers over them;
/// `None` when the input is exhausted.
type StartWave<'a> = Box<dyn FnMut(usize) -> Option<Result<Arc<Job>>> + 'a>;

/// The machinery shared by both iterators.
struct Waves<'a, R> {
    start: StartWave<'a>,
    pool: &'a PoolShared,
    ordered: bool,
    /// Items per chunk and chunks per worker in the first wave.
    chunk_size: usize,
    next_wave: usize,
    max_wave: usize,
    /// Started waves, oldest first, and how many of the oldest's chunks were read.
    running: VecDeque<Arc<Job>>,
    read: usize,
    exhausted: bool,
    failed: bool,
    buffered: VecDeque<R>,
    /// The input's length, when it knew it exactly, and results handed out.
    total: Option<usize>,
    yielded: usize,
}

impl<'a, R: DeserializeOwned> Waves<'a, R> {
    fn new<T, F>(
        pool: &'a PoolShared,
        f: F,
        items: impl IntoIterator<Item = T> + 'a,
        chunk_size: usize,
        ordered: bool,
    ) -> Result<Waves<'a, R>>
    where
        F: Fn(T) -> R + 'a,
        R: Serialize,
        T: 'a,
    {
        pool.check_running()?;
        let processes = pool.processes;
        let initializer: Option<Initializer> = pool.initializer.clone();
        let mut items = items.into_iter();
        // One group for every wave of the call.
        let exact = match items.size_hint() {
            (low, Some(high)) if low == high => Some(low),
            _ => None,
        };
        let call = if ordered { "imap" } else { "imap_unordered" };
        let group = Group::new(pool.label(call, exact));
        let start: StartWave<'a> = Box::new(move |n| {
            let wave: Vec<T> = items.by_ref().take(n).collect();
            if wave.is_empty() {
                return None;
            }
            Some(Job::start(
                wave,
                &f,
                processes,
                Some(chunk_size),
                initializer.as_ref(),
                &group,
            ))
        });
        let first = (processes * chunk_size * 4).max(1);
        let mut waves = Waves {
            start,
            pool,
            ordered,
            chunk_size,
            next_wave: first,
            max_wave: MAX_WAVE.max(first),
            running: VecDeque::new(),
            read: 0,
            exhausted: false,
            failed: false,
            buffered: VecDeque::new(),
            total: exact,
            yielded: 0,
        };
        waves.start_wave()?;
        Ok(waves)
    }

    /// Starts one more wave, unless the input is exhausted.
    fn start_wave(&mut self) -> Result<()> {
        if self.exhausted {
            return Ok(());
        }
        match (self.start)(self.next_wave) {
            None => self.exhausted = true,
            Some(job) => {
                let job = job?;
                self.pool.track(&job);
                self.running.push_back(job);
                self.next_wave = (self.next_wave * 2).min(self.max_wave).max(self.chunk_size);
            }
        }
        Ok(())
    }

    /// Ends the iteration after an error: kills every wave.
    fn fail(&mut self, error: Error) -> Option<Result<R>> {
        self.failed = true;
        for job in self.running.drain(..) {
            job.kill();
        }
        Some(Err(error))
    }

    fn next_item(&mut self) -> Option<Result<R>> {
        loop {
            if let Some(item) = self.buffered.pop_front() {
                self.yielded += 1;
                return Some(Ok(item));
            }
            if self.failed {
                return None;
            }
            if self.pool.terminated() {
                return self.fail(Error::PoolNotRunning);
            }
            let job = self.running.front().cloned()?;
            // Overlap the next wave with the end of this one.
            if self.running.len() == 1
                && job.all_claimed()
                && let Err(error) = self.start_wave()
            {
                return self.fail(error);
            }
            if self.read == job.chunks() {
                if let Err(error) = job.finish(&Deadline::forever()) {
                    return self.fail(error);
                }
                self.running.pop_front();
                self.read = 0;
                continue;
            }
            let nth = self.read;
            let ordered = self.ordered;
            let ready = |job: &Job| {
                if ordered {
                    job.chunk_done(nth)
                } else {
                    job.finished_nth(nth)
                        .is_some_and(|chunk| job.chunk_done(chunk))
                }
            };
            if let Err(error) = job.wait_for(&Deadline::forever(), ready) {
                return self.fail(error);
            }
            let chunk = if ordered {
                nth
            } else {
                job.finished_nth(nth).unwrap_or(nth)
            };
            self.read += 1;
            if let Err(error) = job.decode_into(chunk, &mut self.buffered) {
                return self.fail(error);
            }
        }
    }
}

impl<R> Waves<'_, R> {
    /// One result per item of an input of known length (an error ends the
    /// iteration early, as it ends a tqdm loop), so `progress` knows its total.
    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.failed {
            return (self.buffered.len(), Some(self.buffered.len()));
        }
        match self.total {
            Some(total) => {
                let left = total.saturating_sub(self.yielded);
                (left, Some(left))
            }
            None => (self.buffered.len(), None),
        }
    }
}

impl<R> Drop for Waves<'_, R> {
    fn drop(&mut self) {
        // Abandoned early: the workers have nothing left to do for anyone.
        for job in self.running.drain(..) {
            job.kill();
        }
    }
}

/// Results of [`Pool::imap`](super::Pool::imap), in input order, each as
/// soon as its task is done; the input is consumed lazily.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::Pool;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let pool = Pool::with_processes(2)?;
/// // An endless input: only what is asked for is computed.
/// let first: Vec<u64> = pool.imap(|n: u64| n * n, 0..)?.take(5).collect::<Result<_, _>>()?;
/// assert_eq!(first, [0, 1, 4, 9, 16]);
/// # Ok(())
/// # }
/// ```
pub struct IMap<'a, R> {
    waves: Waves<'a, R>,
}

/// Results of [`Pool::imap_unordered`](super::Pool::imap_unordered), each as
/// soon as its task is done, in the order they finish.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::Pool;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let pool = Pool::with_processes(2)?;
/// let mut all: Vec<u32> = pool.imap_unordered(|n: u32| n + 1, 0..10)?.collect::<Result<_, _>>()?;
/// all.sort_unstable();
/// assert_eq!(all, (1..=10).collect::<Vec<_>>());
/// # Ok(())
/// # }
/// ```
pub struct IMapUnordered<'a, R> {
    waves: Waves<'a, R>,
}

impl<R> std::fmt::Debug for IMap<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IMap")
            .field("waves_running", &self.waves.running.len())
            .finish()
    }
}

impl<R> std::fmt::Debug for IMapUnordered<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IMapUnordered")
            .field("waves_running", &self.waves.running.len())
            .finish()
    }
}

impl<'a, R: Serialize + DeserializeOwned> IMap<'a, R> {
    pub(super) fn new<T: 'a, F: Fn(T) -> R + 'a>(
        pool: &'a PoolShared,
        f: F,
        items: impl IntoIterator<Item = T> + 'a,
        chunk_size: usize,
    ) -> Result<IMap<'a, R>> {
        Ok(IMap {
            waves: Waves::new(pool, f, items, chunk_size, true)?,
        })
    }
}

impl<'a, R: Serialize + DeserializeOwned> IMapUnordered<'a, R> {
    pub(super) fn new<T: 'a, F: Fn(T) -> R + 'a>(
        pool: &'a PoolShared,
        f: F,
        items: impl IntoIterator<Item = T> + 'a,
        chunk_size: usize,
    ) -> Result<IMapUnordered<'a, R>> {
        Ok(IMapUnordered {
            waves: Waves::new(pool, f, items, chunk_size, false)?,
        })
    }
}

impl<R: DeserializeOwned> Iterator for IMap<'_, R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        self.waves.next_item()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.waves.size_hint()
    }
}

impl<R: DeserializeOwned> Iterator for IMapUnordered<'_, R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        self.waves.next_item()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.waves.size_hint()
    }
}

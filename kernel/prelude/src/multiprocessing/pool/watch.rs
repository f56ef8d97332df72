//! A progress bar over a pool call's items, drawn while the caller waits
//! (`Pool::map_progress`, `AsyncResult::get_progress`): the blocking calls'
//! opt-in counterpart of `progress(pool.imap(..)?)`.
//!
//! The bar counts items as their chunks finish, in any order, so it moves in
//! steps of a chunk (a map cuts four chunks per worker, as Python's does).

use super::job::Job;
use crate::error::{Error, Result};
use crate::notebook::progress;
use crate::sys::deadline::Deadline;

/// One `()` per item of `job` done, as chunks finish; stops at the first
/// error, which it keeps.
struct ItemsDone<'j> {
    job: &'j Job,
    /// Finished chunks counted so far.
    nth: usize,
    /// Items of counted chunks not yet yielded, and items not yet yielded.
    owed: usize,
    left: usize,
    /// A chunk failed (its task panicked): the bar ends there.
    failed: bool,
    error: Option<Error>,
}

impl Iterator for ItemsDone<'_> {
    type Item = ();

    fn next(&mut self) -> Option<()> {
        while self.owed == 0 {
            if self.nth == self.job.chunks() || self.failed || self.error.is_some() {
                return None;
            }
            let nth = self.nth;
            let finished = |job: &Job| job.finished_nth(nth).is_some();
            if let Err(error) = self.job.wait_for(&Deadline::forever(), finished) {
                self.error = Some(error);
                return None;
            }
            let chunk = self.job.finished_nth(nth).unwrap_or(nth);
            // A failed chunk is finished too, but its items are not done.
            if !self.job.chunk_done(chunk) {
                self.failed = true;
                return None;
            }
            self.owed = self.job.chunk_len(chunk);
            self.nth += 1;
        }
        self.owed -= 1;
        self.left = self.left.saturating_sub(1);
        Some(())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.failed || self.error.is_some() {
            return (0, Some(0));
        }
        (self.left, Some(self.left))
    }
}

/// Draws one bar over `job`'s items until they are done or it failed. A
/// task's failure ends the bar where it happened and is left for the caller
/// to collect from the job; an interrupt is returned.
pub(super) fn watch(job: &Job) -> Result<()> {
    let mut done = ItemsDone {
        job,
        nth: 0,
        owed: 0,
        left: job.items(),
        failed: false,
        error: None,
    };
    progress(done.by_ref()).for_each(drop);
    match done.error {
        None | Some(Error::TaskPanicked { .. } | Error::WorkerDied { .. }) => Ok(()),
        Some(Error::PoolNotRunning) => Ok(()),
        Some(other) => Err(other),
    }
}

//! A request/response channel between many client processes and one server
//! process (the [`Manager`](crate::multiprocessing::Manager)'s), in shared memory.
//!
//! Clients take turns through a robust call lock, write a request into the
//! buffer and flip the phase; the server answers in the same buffer. Both
//! sides look again for a short while (yielding the core, see `sys::spin`)
//! before parking on a condition variable, so a busy client talking to a busy
//! server pays no futex wake-up, on one core or two.
//!
//! An exchange can be abandoned part way: by a client that dies holding the
//! call lock (the next one recovers the lock), or by one that is interrupted
//! while the server has not answered yet. Whoever takes the lock next finds
//! the phase not idle, lets the server finish the orphaned request and drops
//! its answer before sending its own — so requests and answers never get out
//! of step. An interrupted client still waits [`GRACE`] for the answer: a
//! server that is working answers well within it, so an interrupt only
//! abandons an exchange with a server that is stuck (stopped, or swapped
//! out), and the abandoned request may still take effect when it resumes.
//!
//! Beside the buffer sits the server's *generation* counter, with its own
//! mutex and condition variable: clients blocked on a manager-hosted queue,
//! lock or event wait there for the next change (see `managers::protocol`).

use crate::error::{Error, Result};
use crate::sys::deadline::Deadline;
use crate::sys::procfs;
use crate::sys::shm::Shared;
use crate::sys::spin::spin_until;
use crate::sys::sync::{RawCond, RawMutex};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const IDLE: u32 = 0;
const REQUEST: u32 = 1;
const RESPONSE: u32 = 2;
/// How long either side looks again (yielding, see `sys::spin`) before
/// parking: a manager's answer to a small request, and a busy client's next
/// request, usually arrive within it, sparing both sides a futex sleep and
/// wake-up; an idle server parks after it.
const SPIN: Duration = Duration::from_micros(100);
/// Room for one request or response; untouched pages cost nothing.
const CAPACITY: usize = 256 << 20;
/// How long a parked side sleeps on the condvar before it looks again whether
/// waiting is still worth it (the server alive, no interrupt): a notify
/// wakes it at once, so this only bounds how late a dead server or an
/// interrupt is noticed, well inside `interrupt::SLICE`.
const PARK_SLICE: Duration = Duration::from_millis(20);
/// How long an interrupted call still waits for the server's answer: a
/// working server answers well within it, so an interrupt only abandons an
/// exchange with a server that is stuck (see the module's note).
pub(crate) const GRACE: Duration = Duration::from_millis(300);

#[repr(C, align(64))]
pub(crate) struct Mailbox {
    call_lock: RawMutex,
    mutex: RawMutex,
    cond: RawCond,
    phase: AtomicU32,
    len: AtomicUsize,
    server: AtomicI32,
    server_running: AtomicBool,
    generation: AtomicU64,
    generation_mutex: RawMutex,
    generation_cond: RawCond,
}

/// Both sides' handle.
#[derive(Clone)]
pub(crate) struct MailboxHandle {
    mailbox: Shared<Mailbox>,
}

impl MailboxHandle {
    pub(crate) fn new() -> Result<MailboxHandle> {
        // SAFETY: `at` is fresh zeroed memory for the mailbox and its buffer
        // (zeros are valid for the rest); on `Ok` the locks are initialized.
        let mailbox = unsafe {
            Shared::try_new_with(CAPACITY, |at: *mut Mailbox| {
                RawMutex::init(std::ptr::addr_of_mut!((*at).call_lock), false)?;
                RawMutex::init(std::ptr::addr_of_mut!((*at).mutex), false)?;
                RawCond::init(std::ptr::addr_of_mut!((*at).cond))?;
                RawMutex::init(std::ptr::addr_of_mut!((*at).generation_mutex), false)?;
                RawCond::init(std::ptr::addr_of_mut!((*at).generation_cond))
            })?
        };
        Ok(MailboxHandle { mailbox })
    }

    fn mailbox(&self) -> &Mailbox {
        self.mailbox.get()
    }

    /// Records the server's pid; called by the server itself.
    pub(crate) fn serving(&self, pid: i32) {
        self.mailbox().server.store(pid, Ordering::SeqCst);
        self.mailbox().server_running.store(true, Ordering::SeqCst);
    }

    /// Marks the server as gone; called by the server as it leaves.
    pub(crate) fn stopped(&self) {
        self.mailbox().server_running.store(false, Ordering::SeqCst);
        self.wake();
        self.mailbox().generation_cond.notify_all();
    }

    fn server_alive(&self) -> bool {
        let mailbox = self.mailbox();
        let pid = mailbox.server.load(Ordering::SeqCst);
        if !mailbox.server_running.load(Ordering::SeqCst) || pid <= 0 {
            return false;
        }
        !procfs::gone(pid)
    }

    fn set_phase(&self, phase: u32) {
        let mailbox = self.mailbox();
        let _ = mailbox.mutex.lock(&Deadline::uninterruptible());
        mailbox.phase.store(phase, Ordering::Release);
        let _ = mailbox.mutex.unlock();
        mailbox.cond.notify_all();
    }

    fn wake(&self) {
        self.mailbox().cond.notify_all();
    }

    /// Waits until the phase is `want`: spins, then parks in short slices,
    /// calling `still_worth_it` between slices.
    fn wait_phase(&self, want: u32, still_worth_it: &dyn Fn() -> Result<()>) -> Result<()> {
        let mailbox = self.mailbox();
        spin_until(SPIN, || mailbox.phase.load(Ordering::Acquire) == want);
        while mailbox.phase.load(Ordering::Acquire) != want {
            still_worth_it()?;
            let _ = mailbox.mutex.lock(&Deadline::uninterruptible());
            if mailbox.phase.load(Ordering::Acquire) != want {
                let _ = mailbox.cond.wait_slice(&mailbox.mutex, PARK_SLICE);
            }
            let _ = mailbox.mutex.unlock();
        }
        Ok(())
    }

    fn write(&self, bytes: &[u8]) -> Result<()> {
        let capacity = self.mailbox.tail_len();
        if bytes.len() > capacity {
            return Err(Error::TooLarge {
                size: bytes.len(),
                capacity,
            });
        }
        // SAFETY: only the phase's owner writes the buffer (a client holding
        // the call lock in IDLE, the server in REQUEST), and it fits.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.mailbox.tail(), bytes.len()) };
        self.mailbox().len.store(bytes.len(), Ordering::Release);
        Ok(())
    }

    fn read(&self) -> Vec<u8> {
        let len = self.mailbox().len.load(Ordering::Acquire);
        let mut out = vec![0u8; len];
        // SAFETY: the writer finished before flipping the phase we waited for.
        unsafe { std::ptr::copy_nonoverlapping(self.mailbox.tail(), out.as_mut_ptr(), len) };
        out
    }

    /// Client side: sends `request`, returns the server's response. Waits
    /// interruptibly for its turn; once the request is out, an interrupt ends
    /// the wait after [`GRACE`] (see the module's note).
    pub(crate) fn call(&self, request: &[u8]) -> Result<Vec<u8>> {
        let mailbox = self.mailbox();
        // Only the flag here: reading /proc costs more than a whole call, and
        // a server that died without clearing it is caught while waiting.
        if !mailbox.server_running.load(Ordering::SeqCst) {
            return Err(Error::ManagerGone);
        }
        let deadline = Deadline::forever();
        mailbox.call_lock.lock(&deadline)?;
        let result = (|| {
            let gone = || {
                if self.server_alive() {
                    Ok(())
                } else {
                    Err(Error::ManagerGone)
                }
            };
            if mailbox.phase.load(Ordering::Acquire) != IDLE {
                // An abandoned exchange: let the server finish, drop its answer.
                self.wait_phase(RESPONSE, &|| {
                    gone()?;
                    deadline.check()
                })?;
                mailbox.phase.store(IDLE, Ordering::Release);
            }
            self.write(request)?;
            self.set_phase(REQUEST);
            let interrupted_at = Cell::new(None::<Instant>);
            self.wait_phase(RESPONSE, &|| {
                gone()?;
                if deadline.check().is_err() {
                    let since = interrupted_at.get().unwrap_or_else(Instant::now);
                    interrupted_at.set(Some(since));
                    if since.elapsed() > GRACE {
                        return Err(Error::Interrupted);
                    }
                }
                Ok(())
            })?;
            let response = self.read();
            mailbox.phase.store(IDLE, Ordering::Release);
            Ok(response)
        })();
        if matches!(result, Err(Error::ManagerGone)) {
            mailbox.phase.store(IDLE, Ordering::Release);
        }
        let _ = mailbox.call_lock.unlock();
        result
    }

    /// Server side: publishes a new generation and wakes the waiting clients.
    pub(crate) fn publish(&self, generation: u64) {
        let mailbox = self.mailbox();
        let _ = mailbox.generation_mutex.lock(&Deadline::uninterruptible());
        mailbox.generation.store(generation, Ordering::Release);
        let _ = mailbox.generation_mutex.unlock();
        mailbox.generation_cond.notify_all();
    }

    /// Client side: waits (interruptibly) until the generation is no longer
    /// `seen`, or the deadline passes, or the server is gone.
    pub(crate) fn wait_generation(&self, seen: u64, deadline: &Deadline) -> Result<()> {
        let mailbox = self.mailbox();
        while mailbox.generation.load(Ordering::Acquire) == seen {
            if !mailbox.server_running.load(Ordering::SeqCst) || !self.server_alive() {
                return Err(Error::ManagerGone);
            }
            let slice = deadline.slice()?;
            mailbox.generation_mutex.lock(deadline)?;
            if mailbox.generation.load(Ordering::Acquire) == seen {
                let _ = mailbox
                    .generation_cond
                    .wait_slice(&mailbox.generation_mutex, slice);
            }
            let _ = mailbox.generation_mutex.unlock();
        }
        Ok(())
    }

    /// Server side: waits for the next request (`None` when the owner asks to
    /// stop waiting because it died).
    pub(crate) fn next_request(&self, owner_alive: &dyn Fn() -> bool) -> Option<Vec<u8>> {
        let check = || {
            if owner_alive() {
                Ok(())
            } else {
                Err(Error::ManagerGone)
            }
        };
        self.wait_phase(REQUEST, &check).ok()?;
        Some(self.read())
    }

    /// Server side: answers the current request (`fallback` when `response`
    /// does not fit), so the client is never left waiting.
    pub(crate) fn respond(&self, response: &[u8], fallback: &[u8]) {
        if self.write(response).is_err() {
            let _ = self.write(fallback);
        }
        self.set_phase(RESPONSE);
    }
}

//! A request/response channel between many client processes and one server
//! process (the [`Manager`](crate::multiprocessing::Manager)'s), in shared memory.
//!
//! Clients take turns through a robust call lock, write a request into the
//! buffer and flip the phase; the server answers in the same buffer. Both
//! sides spin briefly before parking on a condition variable, so a busy client
//! talking to a busy server never enters the kernel. A client that dies
//! mid-call leaves the lock to be recovered by the next one, which lets the
//! server finish the orphaned request first.

use crate::interrupt::Deadline;
use crate::multiprocessing::{Error, Result};
use crate::sys::shm::Shared;
use crate::sys::sync::{RawCond, RawMutex};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const IDLE: u32 = 0;
const REQUEST: u32 = 1;
const RESPONSE: u32 = 2;
/// How long either side spins before parking.
const SPIN: Duration = Duration::from_micros(100);
/// Room for one request or response; untouched pages cost nothing.
const CAPACITY: usize = 256 << 20;

#[repr(C, align(64))]
pub(crate) struct Mailbox {
    call_lock: RawMutex,
    mutex: RawMutex,
    cond: RawCond,
    phase: AtomicU32,
    len: AtomicUsize,
    server: AtomicI32,
    server_running: AtomicBool,
}

/// Both sides' handle.
#[derive(Clone)]
pub(crate) struct MailboxHandle {
    mailbox: Shared<Mailbox>,
}

impl MailboxHandle {
    pub(crate) fn new() -> Result<MailboxHandle> {
        let mut failed = None;
        // SAFETY: `at` is fresh zeroed memory for the mailbox and its buffer.
        let mailbox = unsafe {
            Shared::new_with(CAPACITY, |at: *mut Mailbox| {
                let init = || -> Result<()> {
                    RawMutex::init(std::ptr::addr_of_mut!((*at).call_lock), false)?;
                    RawMutex::init(std::ptr::addr_of_mut!((*at).mutex), false)?;
                    RawCond::init(std::ptr::addr_of_mut!((*at).cond))
                };
                if let Err(error) = init() {
                    failed = Some(error);
                }
            })?
        };
        match failed {
            Some(error) => Err(error),
            None => Ok(MailboxHandle { mailbox }),
        }
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
    }

    fn server_alive(&self) -> bool {
        let mailbox = self.mailbox();
        let pid = mailbox.server.load(Ordering::SeqCst);
        if !mailbox.server_running.load(Ordering::SeqCst) || pid <= 0 {
            return false;
        }
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => !stat
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with(['Z', 'X'])),
            Err(_) => false,
        }
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
        let started = Instant::now();
        while mailbox.phase.load(Ordering::Acquire) != want {
            if started.elapsed() > SPIN {
                break;
            }
            std::hint::spin_loop();
        }
        while mailbox.phase.load(Ordering::Acquire) != want {
            still_worth_it()?;
            let _ = mailbox.mutex.lock(&Deadline::uninterruptible());
            if mailbox.phase.load(Ordering::Acquire) != want {
                let _ = mailbox
                    .cond
                    .wait_slice(&mailbox.mutex, Duration::from_millis(20));
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

    /// Client side: sends `request`, returns the server's response.
    pub(crate) fn call(&self, request: &[u8]) -> Result<Vec<u8>> {
        let mailbox = self.mailbox();
        // Only the flag here: reading /proc costs more than a whole call, and
        // a server that died without clearing it is caught while waiting.
        if !mailbox.server_running.load(Ordering::SeqCst) {
            return Err(Error::ManagerGone);
        }
        let acquired = mailbox.call_lock.lock(&Deadline::forever())?;
        let result = (|| {
            let gone = || {
                if self.server_alive() {
                    Ok(())
                } else {
                    Err(Error::ManagerGone)
                }
            };
            if acquired.is_recovered() && mailbox.phase.load(Ordering::Acquire) == REQUEST {
                // A client died mid-call: let the server finish its request.
                self.wait_phase(RESPONSE, &gone)?;
            }
            self.write(request)?;
            self.set_phase(REQUEST);
            // The server answers quickly; this wait is not interruptible, so
            // the exchange can never be left half done.
            self.wait_phase(RESPONSE, &gone)?;
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

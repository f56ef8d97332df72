//! The engine host: the process that owns one engine and serves one kernel,
//! with the engine conversation's serve loop
//! ([`ferrokernel_engine::conversation::serve`]).
//!
//! A spare of the pool warms its engine up before it says `Ready`; a host a
//! kernel started for itself serves at once. A kernel that is done gives a
//! pooled host back (`Recycle`): it makes its engine fresh, says `Ready` on
//! the status pipe again, and waits for the next kernel. When the kernel's
//! socket ends — the kernel died, or the pool ended before anyone claimed
//! the host — the host ends everything it started and exits, even mid-cell.

use crate::spawn::{FRESH, READY, SOCKET_FD, STATUS_FD};
use ferrokernel_engine::conversation::{ServeOptions, StartEngine, serve};
use std::io::Write;
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;

/// Serves the kernel on fd 3 (see `spawn`) with the engine `start` makes; never returns.
/// `pooled`: started by the pool, so it stops dying with the pool once claimed.
pub fn serve_inherited(start: StartEngine, pooled: bool) -> ! {
    // SAFETY: the spawner put our socket at SOCKET_FD and the status pipe at
    // STATUS_FD (see `spawn_host`); nothing else in this process owns them.
    let (socket, status) = unsafe {
        (
            UnixStream::from_raw_fd(SOCKET_FD),
            std::fs::File::from_raw_fd(STATUS_FD),
        )
    };
    // The pool reads the end of this pipe as the host's end, so it stays
    // open here for the host's whole life; the copies say `READY` and `FRESH`.
    let mut ready_copy = status.try_clone().ok();
    let mut fresh_copy = status.try_clone().ok();
    let options = ServeOptions {
        warm_up_first: pooled,
        on_ready: Some(Box::new(move || {
            if let Some(status) = ready_copy.as_mut() {
                let _ = status.write_all(&[READY]);
            }
        })),
        on_claim: Some(Box::new(move || {
            if pooled {
                // From now on the kernel's socket alone decides how long we live.
                // SAFETY: prctl with PR_SET_PDEATHSIG takes an integer, no pointers.
                unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0) };
            }
        })),
        on_claim_received: Some(Box::new(move || {
            if pooled {
                // A spare starts at the lowest priority; its kernel's cells do not.
                crate::priority::restore_tree(std::process::id() as i32);
            }
        })),
        on_recycled: Some(Box::new(move || {
            if pooled {
                // A spare again: it dies with the pool, and waits at the
                // lowest priority where its next kernel can undo that.
                // SAFETY: prctl with PR_SET_PDEATHSIG takes integers, no pointers.
                unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
                if crate::priority::can_restore() {
                    crate::priority::lower_tree(std::process::id() as i32);
                }
            }
            if let Some(status) = fresh_copy.as_mut() {
                let _ = status.write_all(&[FRESH]);
            }
        })),
        on_disconnect: Some(Box::new(|| {
            // The kernel is gone: the cell may be running, so end what it
            // started from here, then leave.
            tracing::info!("the kernel's socket closed; ending the engine");
            end_host()
        })),
    };
    serve(socket, start, options);
    drop(status);
    end_host()
}

/// Ends every process the engine started, and the host.
fn end_host() -> ! {
    ferrokernel_engine::procs::end_tree(std::process::id() as i32);
    std::process::exit(0);
}

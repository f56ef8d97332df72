//! The process's default authkey, and random bytes.
//!
//! Python gives the main process 32 random bytes (`os.urandom(32)`) as
//! `current_process().authkey`, and every child inherits them, so a manager or
//! listener started without a key admits the program's own processes and
//! nobody else. Here the key lives in the process-wide globals (one per
//! process however many copies of the crate a notebook links), and
//! [`fork::spawn`](crate::sys::fork::spawn) makes it before forking, so a child
//! never draws a key of its own that its parent does not know.

use crate::error::Result;
use crate::sys::globals::globals;

/// The process's default authkey.
pub(crate) fn current() -> [u8; 32] {
    *globals().authkey.get_or_init(|| {
        let mut key = [0u8; 32];
        // Without a random key there is no safe default; the kernel's
        // getrandom only fails on bad arguments, so this is a last resort
        // that still differs between processes and boots.
        if fill_random(&mut key).is_err() {
            let fallback = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
            for (at, byte) in fallback.bytes().enumerate() {
                key[at % 32] ^= byte;
            }
        }
        key
    })
}

/// Fills `buf` with random bytes from the kernel.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    let mut at = 0;
    while at < buf.len() {
        // SAFETY: getrandom writes at most `len` bytes into the buffer we own.
        let n = unsafe { libc::getrandom(buf[at..].as_mut_ptr().cast(), buf.len() - at, 0) };
        if n < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error.into());
        }
        at += n as usize;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_stable_and_random_bytes_differ() {
        assert_eq!(current(), current());
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        fill_random(&mut a).expect("random");
        fill_random(&mut b).expect("random");
        assert_ne!(a, b);
    }
}

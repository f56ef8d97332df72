//! Design note: named POSIX shared memory, named the way CPython names it.
//!
//! CPython's `multiprocessing.shared_memory` (on Linux) keeps a block in
//! `/dev/shm` through `shm_open("/" + name)`, created `O_CREAT | O_EXCL` with
//! mode 0600 and sized with `ftruncate`; attaching opens it `O_RDWR` and maps
//! `st_size` bytes. A generated name is `psm_` and 8 random hex digits (14
//! characters: FreeBSD's limit, which CPython keeps everywhere); a name
//! already taken is drawn again. Python reports names without the leading
//! slash, and so do we — so the same string works on both sides:
//! `SharedMemory(name="psm_1a2b3c4d")` in Python attaches to our block, and
//! [`SharedMemory::attach`](crate::multiprocessing::shared_memory::SharedMemory::attach)
//! to Python's.
//!
//! A name must be non-empty, at most 255 bytes, and hold no `/` or NUL (the
//! kernel's rules for a file in `/dev/shm`); CPython passes such names to the
//! system and gets an error back, here they are refused up front.

use crate::error::{Error, Result};
use crate::sys::authkey::fill_random;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// CPython's prefix for generated names (`_SHM_NAME_PREFIX` without the slash).
const PREFIX: &str = "psm_";

fn invalid(why: &str) -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        why.to_owned(),
    ))
}

/// A fresh name the way CPython makes one: `psm_` and 8 random hex digits.
pub(crate) fn generated_name() -> Result<String> {
    let mut random = [0u8; 4];
    fill_random(&mut random)?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{PREFIX}{hex}"))
}

/// The path `shm_open` takes for `name`.
fn system_name(name: &str) -> Result<CString> {
    if name.is_empty() || name.len() > 255 || name.contains('/') {
        return Err(invalid(
            "a shared memory name is 1 to 255 bytes with no '/' in it",
        ));
    }
    CString::new(format!("/{name}")).map_err(|_| invalid("a shared memory name holds no NUL"))
}

/// Opens block `name`: creates it (exclusively, 0600, `size` bytes) or
/// attaches to it. Returns the descriptor and the block's size.
pub(crate) fn open(name: &str, create: Option<usize>) -> Result<(OwnedFd, usize)> {
    let path = system_name(name)?;
    let flags = match create {
        Some(_) => libc::O_CREAT | libc::O_EXCL | libc::O_RDWR,
        None => libc::O_RDWR,
    };
    // SAFETY: `path` is a valid C string; shm_open returns a new fd or -1.
    let raw = unsafe { libc::shm_open(path.as_ptr(), flags | libc::O_CLOEXEC, 0o600) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: shm_open just returned this fd to us alone.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let sized = (|| -> Result<usize> {
        if let Some(size) = create {
            let len = libc::off_t::try_from(size).map_err(|_| invalid("size too large"))?;
            // SAFETY: ftruncate on an fd we own.
            if unsafe { libc::ftruncate(fd.as_raw_fd(), len) } != 0 {
                return Err(std::io::Error::last_os_error().into());
            }
        }
        // SAFETY: fstat writes into the stat buffer we own.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut stat) } != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(stat.st_size.max(0) as usize)
    })();
    match sized {
        Ok(size) => Ok((fd, size)),
        Err(error) => {
            if create.is_some() {
                let _ = unlink(name);
            }
            Err(error)
        }
    }
}

/// Removes block `name` from `/dev/shm` (mappings stay valid until unmapped).
pub(crate) fn unlink(name: &str) -> Result<()> {
    let path = system_name(name)?;
    // SAFETY: `path` is a valid C string.
    if unsafe { libc::shm_unlink(path.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

/// A `MAP_SHARED` mapping of a whole block; unmapped on drop.
#[derive(Debug)]
pub(crate) struct BlockMapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; the pointer is only turned into
// slices through `&`/`&mut` borrows of the owner, as any buffer would be.
unsafe impl Send for BlockMapping {}
// SAFETY: as above.
unsafe impl Sync for BlockMapping {}

impl BlockMapping {
    /// Maps `len` bytes of `fd` (nothing for an empty block).
    pub(crate) fn new(fd: &OwnedFd, len: usize) -> Result<BlockMapping> {
        if len == 0 {
            return Ok(BlockMapping {
                ptr: std::ptr::NonNull::dangling().as_ptr(),
                len: 0,
            });
        }
        // SAFETY: a fresh shared mapping of a descriptor we own; it aliases
        // nothing in this process.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(BlockMapping {
            ptr: ptr.cast(),
            len,
        })
    }

    /// The bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `len` bytes (or dangling and `len` 0)
        // for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The bytes, writable.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; `&mut self` makes this the only borrow in
        // this process.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for BlockMapping {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: ptr/len came from our own successful mmap, and no
            // borrow of the bytes outlives `self`.
            unsafe { libc::munmap(self.ptr.cast(), self.len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_generated_like_cpython() {
        let name = generated_name().expect("name");
        assert_eq!(name.len(), 12, "{name}");
        assert!(name.starts_with("psm_"));
        assert!(name[4..].chars().all(|c| c.is_ascii_hexdigit()));
        assert!(system_name("a/b").is_err());
        assert!(system_name("").is_err());
        assert!(system_name(&"x".repeat(256)).is_err());
        assert_eq!(system_name("psm_1").expect("ok").as_bytes(), b"/psm_1");
    }
}

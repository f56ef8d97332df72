//! Anonymous shared memory: mapped before a fork, shared by every process
//! forked afterwards; unmapped in each process when its last handle goes.

use crate::error::Result;
use std::sync::Arc;

/// One `MAP_SHARED | MAP_ANONYMOUS` mapping, zero-filled.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory; everything placed in it is either
// atomics, process-shared pthread objects, or data guarded by them.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes. With `lazy`, no swap is reserved: pages cost memory
    /// only once touched, so large buffers are cheap until used.
    pub(crate) fn new(len: usize, lazy: bool) -> Result<Arc<Mapping>> {
        let len = len.max(1);
        let mut flags = libc::MAP_SHARED | libc::MAP_ANONYMOUS;
        if lazy {
            flags |= libc::MAP_NORESERVE;
        }
        // SAFETY: a fresh anonymous mapping aliases nothing.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(Arc::new(Mapping {
            ptr: ptr.cast(),
            len,
        }))
    }

    /// The start of the mapping (page aligned).
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Its length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len came from our own successful mmap, and no reference
        // into the mapping outlives the last Arc (handles keep it alive).
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

/// A `T` living at the start of its own shared mapping.
pub(crate) struct Shared<T> {
    mapping: Arc<Mapping>,
    _type: std::marker::PhantomData<T>,
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            mapping: Arc::clone(&self.mapping),
            _type: std::marker::PhantomData,
        }
    }
}

// SAFETY: T is only reached through shared references, and every T stored this
// way synchronizes itself (atomics and process-shared pthread objects).
unsafe impl<T: Sync> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// Maps room for a `T` plus `extra` bytes after it, and initializes the `T`
    /// in place with `init` (the memory is zeroed before). `init` may fail —
    /// most shared objects hold pthread mutexes and condvars, whose set-up
    /// can — and its error is returned as is, the half-built mapping dropped
    /// without ever being read as a `T` (no error smuggled out through a
    /// captured `Option`).
    ///
    /// # Safety
    /// When `init` returns `Ok`, it must have left a valid `T` at the pointer.
    pub(crate) unsafe fn try_new_with(
        extra: usize,
        init: impl FnOnce(*mut T) -> Result<()>,
    ) -> Result<Shared<T>> {
        let mapping = Mapping::new(std::mem::size_of::<T>() + extra, false)?;
        init(mapping.ptr().cast())?;
        Ok(Shared {
            mapping,
            _type: std::marker::PhantomData,
        })
    }

    /// The shared `T`.
    pub(crate) fn get(&self) -> &T {
        // SAFETY: the mapping holds an initialized T (see `try_new_with`), is page
        // aligned, and lives as long as self.
        unsafe { &*self.mapping.ptr().cast::<T>() }
    }

    /// The bytes after the `T`.
    pub(crate) fn tail(&self) -> *mut u8 {
        // SAFETY: the mapping is at least size_of::<T>() long.
        unsafe { self.mapping.ptr().add(std::mem::size_of::<T>()) }
    }

    /// How many bytes follow the `T`.
    pub(crate) fn tail_len(&self) -> usize {
        self.mapping.len() - std::mem::size_of::<T>()
    }
}

//! [`SharedMemory`]: a named block of memory any process can attach to.

use crate::error::Result;
use crate::sys::named_shm::{self, BlockMapping};
use crate::sys::tracker;
use std::os::fd::OwnedFd;

/// A block of shared memory with a name, like Python's
/// `multiprocessing.shared_memory.SharedMemory`: any process that knows the
/// name attaches to it — a forked child, an unrelated program, or Python
/// (`SharedMemory(name=...)`), which sees the same bytes.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::shared_memory::SharedMemory;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let mut block = SharedMemory::create(16)?;
/// block.buf_mut()[..5].copy_from_slice(b"hello");
/// let other = SharedMemory::attach(block.name())?; // in any process
/// assert_eq!(&other.buf()[..5], b"hello");
/// assert_eq!(other.size(), 16);
/// other.close();
/// block.unlink()?; // once, by whoever is last to need it
/// # Ok(())
/// # }
/// ```
///
/// As in Python, [`close`](SharedMemory::close) (or dropping the handle)
/// ends this process's access, and [`unlink`](SharedMemory::unlink) removes
/// the block from the system once nobody needs it. A block this program
/// created and never unlinked is unlinked when the program ends — when the
/// kernel shuts down, or a crash ends it — by a tracker process, as Python's
/// `resource_tracker` does. Blocks merely attached to are never unlinked
/// behind their creator's back.
///
/// The bytes are shared with other processes, which may write them at any
/// moment: coordinate with a [`Lock`](crate::multiprocessing::Lock) (or a
/// protocol of your own), as with Python's `buf`.
pub struct SharedMemory {
    name: String,
    size: usize,
    mapping: BlockMapping,
    _fd: OwnedFd,
}

impl std::fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedMemory({:?}, size={})", self.name, self.size)
    }
}

impl SharedMemory {
    /// Creates a block of `size` bytes (zeroed) under a fresh name
    /// (`psm_` and 8 hex digits, as CPython makes them).
    pub fn create(size: usize) -> Result<SharedMemory> {
        loop {
            let name = named_shm::generated_name()?;
            match SharedMemory::create_named(&name, size) {
                Err(crate::error::Error::Io(error))
                    if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                other => return other,
            }
        }
    }

    /// Creates a block named `name`; `Err(Io)` of kind `AlreadyExists` when
    /// the name is taken (Python's `FileExistsError`).
    ///
    /// ```
    /// # use ferrokernel_prelude::multiprocessing::{Error, shared_memory::SharedMemory};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let name = format!("doc_create_named_{}", std::process::id());
    /// let block = SharedMemory::create_named(&name, 512)?;
    /// assert_eq!(block.name(), name);
    /// let again = SharedMemory::create_named(&name, 512);
    /// assert!(matches!(again, Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::AlreadyExists));
    /// block.unlink()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn create_named(name: &str, size: usize) -> Result<SharedMemory> {
        if size == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a shared memory block needs a size above zero",
            )
            .into());
        }
        let (fd, size) = named_shm::open(name, Some(size))?;
        let mapping = match BlockMapping::new(&fd, size) {
            Ok(mapping) => mapping,
            Err(error) => {
                let _ = named_shm::unlink(name);
                return Err(error);
            }
        };
        tracker::register(name);
        Ok(SharedMemory {
            name: name.to_owned(),
            size,
            mapping,
            _fd: fd,
        })
    }

    /// Attaches to the existing block `name` (made by us or by Python);
    /// `Err(Io)` of kind `NotFound` when there is none.
    ///
    /// ```
    /// # use ferrokernel_prelude::multiprocessing::{Error, shared_memory::SharedMemory};
    /// let missing = SharedMemory::attach("doc_no_such_block");
    /// assert!(matches!(missing, Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound));
    /// ```
    pub fn attach(name: &str) -> Result<SharedMemory> {
        let (fd, size) = named_shm::open(name, None)?;
        let mapping = BlockMapping::new(&fd, size)?;
        Ok(SharedMemory {
            name: name.to_owned(),
            size,
            mapping,
            _fd: fd,
        })
    }

    /// The block's name, as Python reports it (no leading `/`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The bytes (Python's `buf`).
    pub fn buf(&self) -> &[u8] {
        self.mapping.bytes()
    }

    /// The bytes, to write (Python's `buf`).
    pub fn buf_mut(&mut self) -> &mut [u8] {
        self.mapping.bytes_mut()
    }

    /// Ends this process's access (also done on drop); the block stays for
    /// others until unlinked.
    pub fn close(self) {}

    /// Removes the block from the system: processes attached keep their
    /// access, but nobody can attach any more, and its memory is freed once
    /// the last of them closes. Call it once, from any process;
    /// a second call gets `Err(Io)` of kind `NotFound`, as in Python.
    ///
    /// ```
    /// # use ferrokernel_prelude::multiprocessing::{Error, shared_memory::SharedMemory};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let block = SharedMemory::create(8)?;
    /// block.unlink()?;
    /// assert!(SharedMemory::attach(block.name()).is_err());
    /// assert!(matches!(block.unlink(), Err(Error::Io(_))));
    /// # Ok(())
    /// # }
    /// ```
    pub fn unlink(&self) -> Result<()> {
        let result = named_shm::unlink(&self.name);
        tracker::unregister(&self.name);
        result
    }
}

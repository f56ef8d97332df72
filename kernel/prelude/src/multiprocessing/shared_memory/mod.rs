//! Python's `multiprocessing.shared_memory`: [`SharedMemory`] blocks with
//! names any process can attach to — Python included — and the
//! [`ShareableList`] laid out in them exactly as CPython lays it out.
//!
//! | Python | Rust |
//! |---|---|
//! | `SharedMemory(create=True, size=n)` | `SharedMemory::create(n)?` |
//! | `SharedMemory(name, create=True, size=n)` | `SharedMemory::create_named(name, n)?` |
//! | `SharedMemory(name)` | `SharedMemory::attach(name)?` |
//! | `shm.name`, `shm.size`, `shm.buf` | `shm.name()`, `shm.size()`, `shm.buf()` / `shm.buf_mut()` |
//! | `shm.close()`, `shm.unlink()` | `shm.close()`, `shm.unlink()?` |
//! | `ShareableList([1, 'a'])`, `ShareableList(name=n)` | `ShareableList::new([Item::from(1), "a".into()])?`, `ShareableList::attach(n)?` |
//!
//! How names are made and blocks cleaned up is described beside the code, in
//! `sys/named_shm.rs` and `sys/tracker.rs`.

mod block;
mod shareable_list;

pub use block::SharedMemory;
pub use shareable_list::{Item, ShareableList};

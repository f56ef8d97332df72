//! The operating-system pieces everything else is built from.

pub(crate) mod barrier;
pub(crate) mod books;
pub(crate) mod child;
pub(crate) mod fork;
pub(crate) mod globals;
pub(crate) mod mailbox;
pub(crate) mod ring;
pub(crate) mod shm;
pub(crate) mod shutdown;
pub(crate) mod sync;
pub(crate) mod waiters;

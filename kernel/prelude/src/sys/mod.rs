//! The operating-system pieces everything else is built from.

pub(crate) mod authkey;
pub(crate) mod barrier;
pub(crate) mod books;
pub(crate) mod challenge;
pub(crate) mod child;
pub(crate) mod condition;
pub(crate) mod deadline;
pub(crate) mod endpoint;
pub(crate) mod fork;
pub(crate) mod globals;
pub(crate) mod mailbox;
pub(crate) mod named_shm;
pub(crate) use crate::procfs;
pub(crate) mod ring;
pub(crate) mod shm;
pub(crate) mod shutdown;
pub(crate) mod spin;
pub(crate) mod stream;
pub(crate) mod sync;
pub(crate) mod timeline;
pub(crate) mod tracker;
pub(crate) mod wait;
pub(crate) mod waiters;
pub(crate) mod wire;

//! Python's `multiprocessing.connection`: waiting on many connections,
//! queues and processes at once ([`wait`]).

mod wait;

pub use wait::{Waitable, wait};

//! The prelude's integration tests, one binary (modules below).
//!
//! Every test holds the [`common::serial`] lock: tests fork, and interrupts are
//! process-wide, so they must not overlap.

mod common;
mod connection;
mod futures;
mod interrupts;
mod manager;
mod managers_net;
mod pipe;
mod pool;
mod process;
mod queue;
mod shared;
mod shared_memory;
mod synchronize;
mod threading;
mod timeline;

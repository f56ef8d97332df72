//! Python's `multiprocessing`, `concurrent.futures` and `threading`
//! vocabulary for Rust: processes, shared memory, a server process, queues,
//! pipes, pools, executors and locks — with Rust's types, and fast.
//!
//! ```
//! use ferrokernel_prelude::multiprocessing::{Process, Queue};
//!
//! # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
//! let queue = Queue::<u64>::new()?;
//! let producer_queue = queue.clone();
//! let mut producer = Process::new(move || {
//!     for n in 1..=4 {
//!         producer_queue.put(&(n * n)).expect("put");
//!     }
//! });
//! producer.start()?;
//! for _ in 0..4 {
//!     println!("{}", queue.get()?);
//! }
//! producer.join()?;
//! # Ok(())
//! # }
//! ```
//!
//! Processes are created with `fork()`, so a child runs the closure it was given
//! — including code from notebook cells, which Python's spawn and forkserver
//! start methods cannot run. Everything that crosses a process boundary by
//! value is encoded with [postcard](https://docs.rs/postcard).
//!
//! Every blocking call can be interrupted: after [`interrupt::install_handler`],
//! a SIGINT makes the call return [`multiprocessing::Error::Interrupted`] within
//! 100 ms. Linux only.

pub mod concurrent;
pub mod interrupt;
pub mod multiprocessing;
pub mod os;
pub mod threading;

mod codec;
mod sys;

pub use rayon;

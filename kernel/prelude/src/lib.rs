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
//! Beyond fork, [`multiprocessing::shared_memory`] names blocks any process
//! can attach to, [`multiprocessing::connection`] speaks CPython's
//! `Listener`/`Client` wire format, and a [`multiprocessing::Manager`] served
//! at an address reaches other programs and machines — Python included, where
//! Python's formats allow.
//!
//! Every blocking call can be interrupted: after [`interrupt::install_handler`],
//! a SIGINT makes the call return [`multiprocessing::Error::Interrupted`] within
//! 100 ms. Linux only.
//!
//! [`notebook`] is what a ferrokernel notebook's cells use to talk to the
//! kernel (`input`, `display_html`, ...); it is all that remains without the
//! default `multiprocessing` feature. [`widgets`] are Jupyter widgets
//! (ipywidgets' sliders, buttons, progress bars, ...) for cells.

#[cfg(feature = "multiprocessing")]
pub mod cluster;
#[cfg(feature = "comm")]
pub mod comm;
#[cfg(feature = "multiprocessing")]
pub mod concurrent;
#[cfg(feature = "multiprocessing")]
pub mod interrupt;
#[cfg(feature = "multiprocessing")]
pub mod multiprocessing;
pub mod notebook;
// Re-exported as `notebook::protocol`.
#[cfg(feature = "multiprocessing")]
pub mod os;
// The zombie check, shared with the engine crate.
#[doc(hidden)]
pub mod procfs;
mod protocol;
#[cfg(feature = "multiprocessing")]
pub mod threading;
#[cfg(feature = "widgets")]
pub mod widgets;

#[cfg(feature = "multiprocessing")]
mod codec;
#[cfg(feature = "multiprocessing")]
mod error;
#[cfg(feature = "multiprocessing")]
mod sys;

#[cfg(feature = "multiprocessing")]
pub use rayon;

//! ferrokernel: a Jupyter kernel for Rust cells, with Python's `multiprocessing`
//! and `threading` vocabulary built in.
//!
//! The rooms, and their one-way doors:
//! - `ferrokernel-protocol`: typed messages and signing (knows no sockets, no engine);
//! - [`transport`]: zeromq sockets and the heartbeat;
//! - `ferrokernel-engine`: the [`Engine`](ferrokernel_engine::Engine) trait, evcxr behind it;
//! - [`dispatcher`]: what the kernel does with each request, over any transport
//!   and any engine (tested in-process with the fake engine);
//! - [`notebook`]: running and regression-testing `.ipynb` files without Jupyter;
//! - [`pin`] and [`doctor`]: the toolchain a kernelspec records so that any launcher
//!   finds it, and `ferrokernel doctor`'s checks of a set-up.

pub mod comms;
pub mod debugger;
pub mod dispatcher;
pub mod doctor;
pub mod engine_client;
pub mod history;
pub mod info;
pub mod install;
pub mod iopub;
pub mod notebook;
pub mod output_limit;
pub mod parent;
pub mod pin;
pub mod quick_complete;
pub mod subshells;

pub mod transport;

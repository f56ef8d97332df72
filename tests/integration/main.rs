//! ferrokernel's integration tests, in one binary (each test binary links the
//! whole engine, so one keeps builds short).
//!
//! - `dispatcher`: the kernel's request handling in-process, with the fake engine;
//! - `protocol`: the real binary over zeromq: signing, forged and malformed
//!   messages, every request type, heartbeat;
//! - `execution`: cells through the real binary: streaming, rich output, errors,
//!   execution counts, stop-on-error, input;
//! - `recovery`: interrupts, crashed runtimes, shutdown and killed kernels leave
//!   no process behind;
//! - `pool`: the engine pool: handovers, warm restarts, kernels that die, other users;
//! - `deaths`: a crashed runtime's signal named, a cell past the memory limit
//!   an out-of-memory error;
//! - `huge_output`: output past a cell's limit: head, summary, tail, and a file
//!   holding all of it;
//! - `rich_output`: evcxr display blocks and displays with ids where they were
//!   printed, and the cell's value as its result; progress bars (over pools
//!   and `as_completed` too) and the process timeline as SVG;
//! - `widgets`: Jupyter widgets opened by cells, moved by the frontend (also
//!   while a cell runs, on the main shell and on a subshell), and subshells;
//! - `debugger`: the JupyterLab debugger's requests, with lldb-dap attached to
//!   the runtime: breakpoints, locals, stepping, break-on-panic;
//! - `prelude`: the multiprocessing prelude through the kernel (a pool made in
//!   one cell maps a function from a later one, interrupts keep variables).

mod cluster;
mod conversation;
mod deaths;
mod debugger;
mod dispatcher;
mod execution;
mod huge_output;
mod pool;
mod prelude;
mod protocol;
mod recovery;
mod rich_output;
mod support;
mod test_hosts;
mod widgets;

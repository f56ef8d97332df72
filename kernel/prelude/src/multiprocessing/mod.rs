//! Python's `multiprocessing`, in Rust: [`Process`], shared [`Value`] and
//! [`Array`], a server process ([`Manager`]), [`Queue`], [`Pipe`], [`Pool`], and
//! locks that work across processes ([`Lock`], [`RLock`], [`Semaphore`],
//! [`Event`], [`Condition`], [`Barrier`]).
//!
//! | Python | Rust |
//! |---|---|
//! | `Process(target=f, args=(3,))` | `Process::new(move \|\| f(3))` |
//! | `Value('i', 100)` | `Value::<i32>::new(100)?` |
//! | `Array('i', 4)` | `Array::<i32>::new(4)?` |
//! | `Manager().list([...])` | `Manager::new()?.list(vec![...])?` |
//! | `Queue()`, `Queue(maxsize)`, `SimpleQueue()` | `Queue::<T>::new()?`, `Queue::<T>::with_maxsize(n)?`, `SimpleQueue::<T>::new()?` |
//! | `Pipe()` | `Pipe::<T>::new()?` |
//! | `connection.wait([a, q, p])` | `connection::wait([&a, &q], None)?` |
//! | `Pool().map(f, xs)`, `pool.imap(f, xs)` | `Pool::new()?.map(f, xs)?`, `pool.imap(f, xs)?` |
//! | `Pool(2, initializer=f)` | `Pool::builder().processes(2).initializer(f).build()?` |
//! | `Lock()` | `Lock::new()?` |
//! | `get_start_method()`, `parent_process()` | the same names |
//! | `BaseManager(address, authkey)` | `Manager::serve(address, key)?`, `Manager::connect(address, key)?` ([`managers`]) |
//! | `connection.Listener`, `connection.Client` | [`connection::Listener`], [`connection::Client`] |
//! | `shared_memory.SharedMemory`, `ShareableList` | [`shared_memory::SharedMemory`], [`shared_memory::ShareableList`] |

pub mod connection;
mod context;
pub mod managers;
mod pipe;
pub(crate) mod pool;
mod process;
mod queue;
mod shared;
pub mod shared_memory;
mod synchronize;
mod timeline;

pub use crate::error::{AuthFailure, Error, Malformed, Result};
pub use crate::sys::sync::Acquired;
pub use context::{get_all_start_methods, get_start_method, set_start_method};
pub use managers::{
    DictProxy, EventProxy, ListProxy, LockProxy, Manager, NamespaceProxy, QueueProxy, ValueProxy,
};
pub use pipe::{Connection, Pipe};
pub use pool::{AsyncResult, IMap, IMapUnordered, Pool, PoolBuilder};
pub use process::{
    ActiveChild, CurrentProcess, ParentProcess, Process, ProcessRecord, active_children,
    current_process, parent_process,
};
pub use queue::{DEFAULT_CAPACITY, JoinableQueue, Queue, SimpleQueue};
pub use shared::{Array, ArrayGuard, Scalar, Value, ValueGuard};
pub use synchronize::{
    Barrier, BoundedSemaphore, Condition, Event, Lock, LockGuard, RLock, RLockGuard, Semaphore,
};
pub use timeline::{Ending, Timeline, timeline};

/// How many CPUs this process may use (`multiprocessing.cpu_count()`).
///
/// ```
/// assert!(ferrokernel_prelude::multiprocessing::cpu_count() >= 1);
/// ```
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

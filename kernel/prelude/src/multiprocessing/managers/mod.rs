//! Python's `multiprocessing.managers`: a [`Manager`] server process holding
//! shared objects, and typed proxies that reach them — from processes forked
//! here through shared memory, and from anywhere else through an
//! authenticated socket ([`Manager::serve`], [`Manager::connect`]).
//!
//! | Python | Rust |
//! |---|---|
//! | `Manager()` | `Manager::new()?` |
//! | `BaseManager(address=('', 50000), authkey=b'k').start()` | `Manager::serve(Address::any(50000), b"k")?` |
//! | `BaseManager(address, authkey).connect()` | `Manager::connect(address, b"k")?` |
//! | `manager.list()`, `.dict()`, `.Value(..)` | `manager.list(vec![..])?`, `manager.dict::<K, V>()?`, `manager.value(v)?` |
//! | `manager.Queue()`, `.Lock()`, `.Event()`, `.Namespace()` | `manager.queue::<T>()?`, `manager.lock()?`, `manager.event()?`, `manager.namespace()?` |
//! | `register('jobs', callable=...)` / `manager.jobs()` | `manager.register("jobs", &queue)?` / `manager.get::<QueueProxy<T>>("jobs")?` |
//!
//! Python registers *types* and each client calls them; here a client
//! publishes an *object* under a name and others find it — the usual use
//! (one queue of jobs, one list of results) in one step. Values are encoded
//! with postcard, so peers are Rust programs using this crate (Python's
//! pickle is out of scope); the socket speaks CPython's frames and authkey
//! challenge, with messages of its own inside.

mod encode_as;
mod manager;
mod protocol;
mod proxies;
mod server;
mod store;
mod transport;

pub use encode_as::EncodeAs;
pub use manager::Manager;
pub use protocol::Kind;
pub use proxies::{
    DictProxy, EventProxy, ListProxy, LockProxy, NamespaceProxy, QueueProxy, ValueProxy,
};
pub use server::ServerOptions;

use crate::error::{Error, Malformed};
use protocol::Response;
use transport::Transport;

/// A proxy type that [`Manager::get`] can return: [`ListProxy`],
/// [`DictProxy`], [`ValueProxy`], [`QueueProxy`], [`LockProxy`],
/// [`EventProxy`] and [`NamespaceProxy`]. Sealed: only this crate's proxies
/// implement it.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::managers::{Kind, Proxy};
/// use ferrokernel_prelude::multiprocessing::LockProxy;
/// assert_eq!(LockProxy::KIND, Kind::Lock);
/// ```
pub trait Proxy: sealed::Sealed {
    /// The kind of server object it stands for.
    const KIND: Kind;
}

mod sealed {
    use super::Transport;
    use std::sync::Arc;

    // Public in a private module: nameable only inside this crate, so the
    // crate-private transport in it is never exposed.
    #[allow(unreachable_pub, private_interfaces)]
    pub trait Sealed: Sized {
        fn id(&self) -> u64;
        fn from_parts(transport: Arc<Transport>, id: u64) -> Self;
    }
}

fn unexpected(response: Response) -> Error {
    match response {
        Response::Refused(why) => Error::Manager(why),
        _ => Error::Malformed(Malformed::UnexpectedResponse),
    }
}

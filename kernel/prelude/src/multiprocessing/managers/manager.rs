//! [`Manager`]: starting a server process, or connecting to one.

use super::protocol::{Request, Response};
use super::proxies::{
    DictProxy, EventProxy, ListProxy, LockProxy, NamespaceProxy, QueueProxy, ValueProxy,
};
use super::server::{self, Endpoint, ServerOptions};
use super::transport::Transport;
use super::{Proxy, unexpected};
use crate::codec;
use crate::error::{Error, Result};
use crate::multiprocessing::connection::{Address, AuthKey, ToAddress};
use crate::sys::child::{self, ChildWaiter};
use crate::sys::endpoint;
use crate::sys::fork;
use crate::sys::mailbox::MailboxHandle;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// A server process holding shared lists, dicts, values, queues, locks,
/// events and namespaces, like Python's `multiprocessing.Manager()` — and,
/// started with [`serve`](Manager::serve), reachable over the network like
/// Python's `BaseManager(address, authkey)`.
///
/// ```no_run
/// use ferrokernel_prelude::multiprocessing::{Manager, Process};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let manager = Manager::new()?;
/// let records = manager.list(vec![("Sam".to_string(), 10)])?;
/// let writer = records.clone();
/// let mut p = Process::new(move || writer.append(("Jeff".to_string(), 8)).expect("append"));
/// p.start()?;
/// p.join()?;
/// assert_eq!(records.len()?, 2);
/// # Ok(())
/// # }
/// ```
///
/// Proxies are cheap to clone and work from any thread, and from any process
/// forked after the manager started (through shared memory, the fast path).
/// Processes that were not forked from here — another kernel, a plain Rust
/// program, another machine — reach a served manager with
/// [`Manager::connect`] and find its objects by the names they were
/// [`register`](Manager::register)ed under.
///
/// Dropping the `Manager` in the process that created it (or
/// [`shutdown`](Manager::shutdown)) stops the server; proxies then return
/// `Err(ManagerGone)`. Every call is interruptible: a call whose server does
/// not answer (stopped, swapped out) ends with `Err(Interrupted)` within
/// half a second of an interrupt, and the manager stays usable — though the
/// interrupted request may still take effect once the server gets to it.
pub struct Manager {
    transport: Arc<Transport>,
    server: Option<ChildWaiter>,
    owner: i32,
    address: Option<Address>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("server", &self.server.as_ref().map(ChildWaiter::pid))
            .field("address", &self.address)
            .finish()
    }
}

impl Manager {
    /// Starts the server process, for this process and its children.
    pub fn new() -> Result<Manager> {
        Manager::start(None)
    }

    /// Starts the server process, listening at `address` too (a port alone
    /// binds the loopback interface; port 0 picks a free one, which
    /// [`address`](Manager::address) tells). Clients elsewhere must prove
    /// `authkey` ([`AuthKey::current`] admits this program's own processes).
    ///
    /// ```no_run
    /// use ferrokernel_prelude::multiprocessing::Manager;
    /// use ferrokernel_prelude::multiprocessing::connection::Address;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// // Every interface, port 50000: reachable from other machines.
    /// let manager = Manager::serve(Address::any(50000), "a strong secret")?;
    /// let jobs = manager.queue::<u64>()?;
    /// manager.register("jobs", &jobs)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn serve(address: impl ToAddress, authkey: impl Into<AuthKey>) -> Result<Manager> {
        Manager::serve_with(address, authkey, ServerOptions::default())
    }

    /// Like [`serve`](Manager::serve), with limits of its own.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Manager;
    /// use ferrokernel_prelude::multiprocessing::managers::ServerOptions;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let options = ServerOptions::default().max_connections(4);
    /// let manager = Manager::serve_with(0u16, "k", options)?;
    /// assert!(manager.address().is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub fn serve_with(
        address: impl ToAddress,
        authkey: impl Into<AuthKey>,
        options: ServerOptions,
    ) -> Result<Manager> {
        let (fd, address) = endpoint::listen_at(&address.to_address()?)?;
        Manager::start(Some(Endpoint {
            fd,
            address,
            authkey: authkey.into(),
            options,
        }))
    }

    fn start(endpoint: Option<Endpoint>) -> Result<Manager> {
        let mailbox = MailboxHandle::new()?;
        let owner = crate::os::getpid();
        let address = endpoint.as_ref().map(|e| e.address.clone());
        let server_mailbox = mailbox.clone();
        // The child gets the listening socket; the parent's copy closes here.
        let pid = fork::spawn("Manager", move || {
            server::run(server_mailbox, endpoint, owner)
        })?;
        mailbox.serving(pid);
        Ok(Manager {
            transport: Arc::new(Transport::local(mailbox)),
            server: Some(ChildWaiter::new(pid)),
            owner,
            address,
        })
    }

    /// Connects to the manager served at `address` — from any process, on
    /// any machine that can reach it — proving `authkey`.
    /// `Err(AuthenticationError)` for a wrong key, `Err(ManagerGone)` when
    /// nothing listens there.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Manager, QueueProxy};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let manager = Manager::serve(0u16, "secret")?;
    /// manager.register("jobs", &manager.queue::<String>()?)?;
    /// let address = manager.address().expect("served").clone();
    ///
    /// // Elsewhere: another kernel, a worker program, another machine.
    /// let remote = Manager::connect(&address, "secret")?;
    /// let jobs: QueueProxy<String> = remote.get("jobs")?;
    /// jobs.put("hello".to_string())?;
    /// # let local: QueueProxy<String> = manager.get("jobs")?;
    /// # assert_eq!(local.get()?, "hello");
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect(address: impl ToAddress, authkey: impl Into<AuthKey>) -> Result<Manager> {
        let address = address.to_address()?;
        let transport = Transport::remote(address.clone(), authkey.into())?;
        Ok(Manager {
            transport: Arc::new(transport),
            server: None,
            owner: crate::os::getpid(),
            address: Some(address),
        })
    }

    /// The server's process id (for a manager this process started).
    pub fn pid(&self) -> Option<i32> {
        self.server.as_ref().map(ChildWaiter::pid)
    }

    /// Where the server listens (for a served or connected manager).
    pub fn address(&self) -> Option<&Address> {
        self.address.as_ref()
    }

    fn create(&self, request: Request) -> Result<u64> {
        match self.transport.call(request)? {
            Response::Id(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    fn proxy<P: Proxy>(&self, request: Request) -> Result<P> {
        Ok(P::from_parts(
            Arc::clone(&self.transport),
            self.create(request)?,
        ))
    }

    /// A shared list holding `items` (Python's `manager.list(...)`).
    pub fn list<T: Serialize + DeserializeOwned>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ListProxy<T>> {
        let encoded = items
            .into_iter()
            .map(|item| codec::encode(&item))
            .collect::<Result<Vec<_>>>()?;
        self.proxy(Request::NewList(encoded))
    }

    /// An empty shared dict (Python's `manager.dict()`).
    pub fn dict<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned>(
        &self,
    ) -> Result<DictProxy<K, V>> {
        self.proxy(Request::NewDict)
    }

    /// A shared value holding `value` (Python's `manager.Value(...)`).
    pub fn value<T: Serialize + DeserializeOwned>(&self, value: T) -> Result<ValueProxy<T>> {
        self.proxy(Request::NewValue(codec::encode(&value)?))
    }

    /// An empty shared queue (Python's `manager.Queue()`).
    pub fn queue<T: Serialize + DeserializeOwned>(&self) -> Result<QueueProxy<T>> {
        self.proxy(Request::NewQueue)
    }

    /// A shared lock (Python's `manager.Lock()`).
    pub fn lock(&self) -> Result<LockProxy> {
        self.proxy(Request::NewLock)
    }

    /// A shared event (Python's `manager.Event()`).
    pub fn event(&self) -> Result<EventProxy> {
        self.proxy(Request::NewEvent)
    }

    /// A shared namespace of named fields (Python's `manager.Namespace()`).
    pub fn namespace(&self) -> Result<NamespaceProxy> {
        self.proxy(Request::NewNamespace)
    }

    /// Publishes `proxy`'s object under `name`, for [`get`](Manager::get)
    /// from any client (a later `register` of the same name replaces it).
    pub fn register(&self, name: &str, proxy: &impl Proxy) -> Result<()> {
        match self
            .transport
            .call(Request::Register(name.to_owned(), proxy.id()))?
        {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// The object registered under `name`, as the proxy type asked for:
    /// `Err(KeyNotFound)` when nothing is, `Err(Manager)` when it is another
    /// kind of object. Element types are not checked — ask for the types it
    /// was made with (a mismatch shows as `Err(Codec)` when values are read).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{DictProxy, Error, ListProxy, Manager};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let manager = Manager::new()?;
    /// manager.register("results", &manager.list(vec![1u64, 2])?)?;
    /// let results: ListProxy<u64> = manager.get("results")?;
    /// assert_eq!(results.to_vec()?, [1, 2]);
    /// assert!(matches!(manager.get::<DictProxy<u64, u64>>("results"), Err(Error::Manager(_))));
    /// assert!(matches!(manager.get::<ListProxy<u64>>("nothing"), Err(Error::KeyNotFound)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn get<P: Proxy>(&self, name: &str) -> Result<P> {
        match self.transport.call(Request::Find(name.to_owned()))? {
            Response::Object(id, kind) if kind == P::KIND => {
                Ok(P::from_parts(Arc::clone(&self.transport), id))
            }
            Response::Object(_, kind) => Err(Error::Manager(format!(
                "{name:?} is a {kind:?}, not a {:?}",
                P::KIND
            ))),
            other => Err(unexpected(other)),
        }
    }

    /// How long `shutdown` waits for the server to leave after asking it to,
    /// before it kills the server: leaving takes a few milliseconds (it
    /// unlinks its socket and exits); a server that has not left after 2 s
    /// is stuck, and a notebook's cell must not hang on it.
    const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

    /// Stops the server (waits for it to leave). Proxies then return
    /// `Err(ManagerGone)`. For a connected manager it does nothing: only the
    /// creator stops a server.
    pub fn shutdown(&mut self) -> Result<()> {
        let Some(server) = self.server.take() else {
            return Ok(());
        };
        let _ = self.transport.call(Request::Shutdown);
        let deadline = crate::sys::deadline::Deadline::after(Some(Self::SHUTDOWN_GRACE));
        if server.wait(&deadline).ok().flatten().is_none() {
            child::signal(server.pid(), nix::sys::signal::Signal::SIGKILL);
            let _ = server.wait(&crate::sys::deadline::Deadline::uninterruptible());
        }
        child::forget(server.pid());
        // The server does both as it leaves; this covers one that was killed.
        if let Some(mailbox) = self.transport.mailbox() {
            mailbox.stopped();
        }
        if let Some(Address::Unix(path)) = &self.address {
            let _ = std::fs::remove_file(path);
        }
        Ok(())
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        // Copies inherited by child processes must not stop the server.
        if crate::os::getpid() == self.owner {
            let _ = self.shutdown();
        }
    }
}

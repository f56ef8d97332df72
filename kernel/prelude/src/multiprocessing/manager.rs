//! [`Manager`]: a server process that owns lists, dicts and values, and
//! proxies that reach them from any process.
//!
//! The server is forked before the element types are known, so it stores
//! encoded bytes: equality (for `remove` and dict keys) is equality of the
//! encoded form, which for the usual types (numbers, strings, tuples, enums) is
//! equality of the values. Floats differ: `0.0` and `-0.0` are different keys.

use super::{Error, Result};
use crate::codec;
use crate::sys::child::{self, ChildWaiter};
use crate::sys::fork;
use crate::sys::mailbox::MailboxHandle;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

type Bytes = Vec<u8>;

#[derive(Debug, Serialize, Deserialize)]
enum Request {
    NewList(Vec<Bytes>),
    NewDict,
    NewValue(Bytes),
    Append(u64, Bytes),
    Extend(u64, Vec<Bytes>),
    Get(u64, i64),
    Set(u64, i64, Bytes),
    Pop(u64, Option<i64>),
    Remove(u64, Bytes),
    Len(u64),
    Snapshot(u64),
    Clear(u64),
    Insert(u64, Bytes, Bytes),
    Lookup(u64, Bytes),
    Delete(u64, Bytes),
    Keys(u64),
    Items(u64),
    Load(u64),
    Store(u64, Bytes),
    Shutdown,
}

#[derive(Debug, Serialize, Deserialize)]
enum Response {
    Id(u64),
    Done,
    Item(Bytes),
    MaybeItem(Option<Bytes>),
    Items(Vec<Bytes>),
    Pairs(Vec<(Bytes, Bytes)>),
    Len(usize),
    IndexOutOfRange { index: i64, len: usize },
    NotFound,
    Refused(String),
}

/// A dict that keeps insertion order, as Python's does.
#[derive(Default)]
struct OrderedDict {
    entries: Vec<Option<(Bytes, Bytes)>>,
    index: HashMap<Bytes, usize>,
}

impl OrderedDict {
    fn insert(&mut self, key: Bytes, value: Bytes) -> Option<Bytes> {
        match self.index.get(&key) {
            Some(&at) => self.entries[at]
                .as_mut()
                .map(|(_, old)| std::mem::replace(old, value)),
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push(Some((key, value)));
                None
            }
        }
    }

    fn get(&self, key: &Bytes) -> Option<&Bytes> {
        let at = *self.index.get(key)?;
        self.entries[at].as_ref().map(|(_, v)| v)
    }

    fn remove(&mut self, key: &Bytes) -> Option<Bytes> {
        let at = self.index.remove(key)?;
        let removed = self.entries[at].take().map(|(_, v)| v);
        if self.entries.len() > 32 && self.index.len() < self.entries.len() / 2 {
            self.entries.retain(Option::is_some);
            for (at, (key, _)) in self.entries.iter().flatten().enumerate() {
                self.index.insert(key.clone(), at);
            }
        }
        removed
    }

    fn pairs(&self) -> Vec<(Bytes, Bytes)> {
        self.entries.iter().flatten().cloned().collect()
    }
}

enum Object {
    List(Vec<Bytes>),
    Dict(OrderedDict),
    Value(Bytes),
}

/// The server's state and request handling.
#[derive(Default)]
struct Server {
    objects: HashMap<u64, Object>,
    next_id: u64,
}

fn position(index: i64, len: usize) -> Option<usize> {
    let at = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&at).then_some(at as usize)
}

impl Server {
    fn add(&mut self, object: Object) -> Response {
        self.next_id += 1;
        self.objects.insert(self.next_id, object);
        Response::Id(self.next_id)
    }

    fn handle(&mut self, request: Request) -> Response {
        use Request::*;
        match request {
            NewList(items) => self.add(Object::List(items)),
            NewDict => self.add(Object::Dict(OrderedDict::default())),
            NewValue(value) => self.add(Object::Value(value)),
            Shutdown => Response::Done,
            Append(id, item) => self.list(id, |list| {
                list.push(item);
                Response::Done
            }),
            Extend(id, items) => self.list(id, |list| {
                list.extend(items);
                Response::Done
            }),
            Get(id, index) => self.list(id, |list| match position(index, list.len()) {
                Some(at) => Response::Item(list[at].clone()),
                None => Response::IndexOutOfRange {
                    index,
                    len: list.len(),
                },
            }),
            Set(id, index, item) => self.list(id, |list| match position(index, list.len()) {
                Some(at) => {
                    list[at] = item;
                    Response::Done
                }
                None => Response::IndexOutOfRange {
                    index,
                    len: list.len(),
                },
            }),
            Pop(id, index) => {
                self.list(id, |list| match position(index.unwrap_or(-1), list.len()) {
                    Some(at) => Response::Item(list.remove(at)),
                    None => Response::IndexOutOfRange {
                        index: index.unwrap_or(-1),
                        len: list.len(),
                    },
                })
            }
            Remove(id, item) => self.list(id, |list| match list.iter().position(|x| *x == item) {
                Some(at) => {
                    list.remove(at);
                    Response::Done
                }
                None => Response::NotFound,
            }),
            Len(id) => match self.objects.get(&id) {
                Some(Object::List(list)) => Response::Len(list.len()),
                Some(Object::Dict(dict)) => Response::Len(dict.index.len()),
                _ => no_such(id),
            },
            Snapshot(id) => self.list(id, |list| Response::Items(list.clone())),
            Clear(id) => match self.objects.get_mut(&id) {
                Some(Object::List(list)) => {
                    list.clear();
                    Response::Done
                }
                Some(Object::Dict(dict)) => {
                    *dict = OrderedDict::default();
                    Response::Done
                }
                _ => no_such(id),
            },
            Insert(id, key, value) => {
                self.dict(id, |dict| Response::MaybeItem(dict.insert(key, value)))
            }
            Lookup(id, key) => self.dict(id, |dict| Response::MaybeItem(dict.get(&key).cloned())),
            Delete(id, key) => self.dict(id, |dict| Response::MaybeItem(dict.remove(&key))),
            Keys(id) => self.dict(id, |dict| {
                Response::Items(dict.pairs().into_iter().map(|(k, _)| k).collect())
            }),
            Items(id) => self.dict(id, |dict| Response::Pairs(dict.pairs())),
            Load(id) => match self.objects.get(&id) {
                Some(Object::Value(value)) => Response::Item(value.clone()),
                _ => no_such(id),
            },
            Store(id, new) => match self.objects.get_mut(&id) {
                Some(Object::Value(value)) => {
                    *value = new;
                    Response::Done
                }
                _ => no_such(id),
            },
        }
    }

    fn list(&mut self, id: u64, f: impl FnOnce(&mut Vec<Bytes>) -> Response) -> Response {
        match self.objects.get_mut(&id) {
            Some(Object::List(list)) => f(list),
            _ => no_such(id),
        }
    }

    fn dict(&mut self, id: u64, f: impl FnOnce(&mut OrderedDict) -> Response) -> Response {
        match self.objects.get_mut(&id) {
            Some(Object::Dict(dict)) => f(dict),
            _ => no_such(id),
        }
    }
}

fn no_such(id: u64) -> Response {
    Response::Refused(format!("no shared object with id {id} of that kind"))
}

/// The server process's loop.
fn serve(mailbox: MailboxHandle, owner: i32) -> i32 {
    mailbox.serving(crate::os::getpid());
    let mut server = Server::default();
    let owner_alive = || nix::sys::signal::kill(nix::unistd::Pid::from_raw(owner), None).is_ok();
    while let Some(bytes) = mailbox.next_request(&owner_alive) {
        let (response, stop) = match codec::decode::<Request>(&bytes) {
            Ok(Request::Shutdown) => (Response::Done, true),
            Ok(request) => (server.handle(request), false),
            Err(error) => (Response::Refused(error.to_string()), false),
        };
        let encoded = codec::encode(&response).unwrap_or_default();
        let fallback = codec::encode(&Response::Refused("the response is too large".into()))
            .unwrap_or_default();
        mailbox.respond(&encoded, &fallback);
        if stop {
            break;
        }
    }
    mailbox.stopped();
    0
}

struct Client {
    mailbox: MailboxHandle,
}

impl Client {
    fn call(&self, request: &Request) -> Result<Response> {
        let response = codec::decode(&self.mailbox.call(&codec::encode(request)?)?)?;
        match response {
            Response::IndexOutOfRange { index, len } => Err(Error::IndexOutOfRange { index, len }),
            Response::NotFound => Err(Error::NotFound),
            Response::Refused(why) => Err(Error::Manager(why)),
            other => Ok(other),
        }
    }
}

fn unexpected(response: Response) -> Error {
    Error::Manager(format!("unexpected response {response:?}"))
}

/// A server process holding shared lists, dicts and values, like Python's
/// `multiprocessing.Manager()`.
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
/// Proxies are cheap to clone and work from any process forked after the
/// manager started (and from any thread). Dropping the `Manager` in the process
/// that created it (or [`shutdown`](Manager::shutdown)) stops the server;
/// proxies then return `Err(ManagerGone)`.
pub struct Manager {
    client: Arc<Client>,
    server: Option<ChildWaiter>,
    owner: i32,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("server", &self.server.as_ref().map(ChildWaiter::pid))
            .finish()
    }
}

impl Manager {
    /// Starts the server process.
    pub fn new() -> Result<Manager> {
        let mailbox = MailboxHandle::new()?;
        let owner = crate::os::getpid();
        let server_mailbox = mailbox.clone();
        let pid = fork::spawn(move || serve(server_mailbox, owner))?;
        mailbox.serving(pid);
        Ok(Manager {
            client: Arc::new(Client { mailbox }),
            server: Some(ChildWaiter::new(pid)),
            owner,
        })
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<i32> {
        self.server.as_ref().map(ChildWaiter::pid)
    }

    /// A shared list holding `items`.
    pub fn list<T: Serialize + DeserializeOwned>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ListProxy<T>> {
        let encoded = items
            .into_iter()
            .map(|item| codec::encode(&item))
            .collect::<Result<Vec<_>>>()?;
        let id = self.create(Request::NewList(encoded))?;
        Ok(ListProxy {
            client: Arc::clone(&self.client),
            id,
            _items: PhantomData,
        })
    }

    /// An empty shared dict.
    pub fn dict<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned>(
        &self,
    ) -> Result<DictProxy<K, V>> {
        let id = self.create(Request::NewDict)?;
        Ok(DictProxy {
            client: Arc::clone(&self.client),
            id,
            _items: PhantomData,
        })
    }

    /// A shared value holding `value`.
    pub fn value<T: Serialize + DeserializeOwned>(&self, value: T) -> Result<ValueProxy<T>> {
        let id = self.create(Request::NewValue(codec::encode(&value)?))?;
        Ok(ValueProxy {
            client: Arc::clone(&self.client),
            id,
            _items: PhantomData,
        })
    }

    fn create(&self, request: Request) -> Result<u64> {
        match self.client.call(&request)? {
            Response::Id(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    /// Stops the server (waits for it to leave). Proxies then return `Err(ManagerGone)`.
    pub fn shutdown(&mut self) -> Result<()> {
        let Some(server) = self.server.take() else {
            return Ok(());
        };
        let _ = self.client.call(&Request::Shutdown);
        let deadline = crate::interrupt::Deadline::after(Some(Duration::from_secs(2)));
        if server.wait(&deadline).ok().flatten().is_none() {
            child::signal(server.pid(), nix::sys::signal::Signal::SIGKILL);
            let _ = server.wait(&crate::interrupt::Deadline::uninterruptible());
        }
        child::forget(server.pid());
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

macro_rules! proxy {
    ($name:ident<$($param:ident),+>, $doc:literal) => {
        #[doc = $doc]
        pub struct $name<$($param),+> {
            client: Arc<Client>,
            id: u64,
            _items: PhantomData<fn() -> ($($param,)+)>,
        }

        impl<$($param),+> Clone for $name<$($param),+> {
            fn clone(&self) -> Self {
                $name {
                    client: Arc::clone(&self.client),
                    id: self.id,
                    _items: PhantomData,
                }
            }
        }

        impl<$($param),+> std::fmt::Debug for $name<$($param),+> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).field("id", &self.id).finish()
            }
        }
    };
}

proxy!(
    ListProxy<T>,
    "A list living in a [`Manager`]'s server process."
);
proxy!(DictProxy<K, V>, "A dict (insertion-ordered) living in a [`Manager`]'s server process.");
proxy!(
    ValueProxy<T>,
    "A value living in a [`Manager`]'s server process."
);

fn decode_all<T: DeserializeOwned>(items: Vec<Bytes>) -> Result<Vec<T>> {
    items.iter().map(|bytes| codec::decode(bytes)).collect()
}

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    fn done(&self, request: Request) -> Result<()> {
        match self.client.call(&request)? {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    fn item(&self, request: Request) -> Result<T> {
        match self.client.call(&request)? {
            Response::Item(bytes) => codec::decode(&bytes),
            other => Err(unexpected(other)),
        }
    }

    /// Adds an item at the end.
    pub fn append(&self, item: impl Borrow<T>) -> Result<()> {
        self.done(Request::Append(self.id, codec::encode(item.borrow())?))
    }

    /// Adds items at the end.
    pub fn extend(&self, items: impl IntoIterator<Item = T>) -> Result<()> {
        let encoded = items
            .into_iter()
            .map(|item| codec::encode(&item))
            .collect::<Result<Vec<_>>>()?;
        self.done(Request::Extend(self.id, encoded))
    }

    /// The item at `index` (negative counts from the end, as in Python).
    pub fn get(&self, index: i64) -> Result<T> {
        self.item(Request::Get(self.id, index))
    }

    /// Replaces the item at `index`.
    pub fn set(&self, index: i64, item: impl Borrow<T>) -> Result<()> {
        self.done(Request::Set(self.id, index, codec::encode(item.borrow())?))
    }

    /// Removes and returns the last item.
    pub fn pop(&self) -> Result<T> {
        self.item(Request::Pop(self.id, None))
    }

    /// Removes and returns the item at `index`.
    pub fn pop_at(&self, index: i64) -> Result<T> {
        self.item(Request::Pop(self.id, Some(index)))
    }

    /// Removes the first item equal to `item`; `Err(NotFound)` if none is.
    pub fn remove(&self, item: impl Borrow<T>) -> Result<()> {
        self.done(Request::Remove(self.id, codec::encode(item.borrow())?))
    }

    /// How many items.
    pub fn len(&self) -> Result<usize> {
        match self.client.call(&Request::Len(self.id))? {
            Response::Len(len) => Ok(len),
            other => Err(unexpected(other)),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// A copy of all items.
    pub fn to_vec(&self) -> Result<Vec<T>> {
        match self.client.call(&Request::Snapshot(self.id))? {
            Response::Items(items) => decode_all(items),
            other => Err(unexpected(other)),
        }
    }

    /// Iterates over a snapshot of the items.
    pub fn iter(&self) -> Result<std::vec::IntoIter<T>> {
        Ok(self.to_vec()?.into_iter())
    }

    /// Removes every item.
    pub fn clear(&self) -> Result<()> {
        self.done(Request::Clear(self.id))
    }
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> DictProxy<K, V> {
    fn maybe(&self, request: Request) -> Result<Option<V>> {
        match self.client.call(&request)? {
            Response::MaybeItem(bytes) => bytes.map(|b| codec::decode(&b)).transpose(),
            other => Err(unexpected(other)),
        }
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&self, key: impl Borrow<K>, value: impl Borrow<V>) -> Result<Option<V>> {
        self.maybe(Request::Insert(
            self.id,
            codec::encode(key.borrow())?,
            codec::encode(value.borrow())?,
        ))
    }

    /// The value for `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        self.maybe(Request::Lookup(self.id, codec::encode(key)?))
    }

    /// Removes `key`; returns its value.
    pub fn remove(&self, key: &K) -> Result<Option<V>> {
        self.maybe(Request::Delete(self.id, codec::encode(key)?))
    }

    /// The keys, in insertion order.
    pub fn keys(&self) -> Result<Vec<K>> {
        match self.client.call(&Request::Keys(self.id))? {
            Response::Items(keys) => decode_all(keys),
            other => Err(unexpected(other)),
        }
    }

    /// The `(key, value)` pairs, in insertion order.
    pub fn items(&self) -> Result<Vec<(K, V)>> {
        match self.client.call(&Request::Items(self.id))? {
            Response::Pairs(pairs) => pairs
                .iter()
                .map(|(k, v)| Ok((codec::decode(k)?, codec::decode(v)?)))
                .collect(),
            other => Err(unexpected(other)),
        }
    }

    /// A copy as a `HashMap`.
    pub fn to_map(&self) -> Result<HashMap<K, V>>
    where
        K: std::hash::Hash + Eq,
    {
        Ok(self.items()?.into_iter().collect())
    }

    /// How many keys.
    pub fn len(&self) -> Result<usize> {
        match self.client.call(&Request::Len(self.id))? {
            Response::Len(len) => Ok(len),
            other => Err(unexpected(other)),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Removes every key.
    pub fn clear(&self) -> Result<()> {
        match self.client.call(&Request::Clear(self.id))? {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

impl<T: Serialize + DeserializeOwned> ValueProxy<T> {
    /// The current value.
    pub fn get(&self) -> Result<T> {
        match self.client.call(&Request::Load(self.id))? {
            Response::Item(bytes) => codec::decode(&bytes),
            other => Err(unexpected(other)),
        }
    }

    /// Replaces the value.
    pub fn set(&self, value: impl Borrow<T>) -> Result<()> {
        match self
            .client
            .call(&Request::Store(self.id, codec::encode(value.borrow())?))?
        {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_handles_lists_dicts_and_values_in_process() {
        let mut server = Server::default();
        let Response::Id(list) = server.handle(Request::NewList(vec![vec![1], vec![2]])) else {
            panic!("id");
        };
        server.handle(Request::Append(list, vec![3]));
        assert!(matches!(server.handle(Request::Get(list, -1)), Response::Item(b) if b == vec![3]));
        assert!(matches!(
            server.handle(Request::Get(list, 3)),
            Response::IndexOutOfRange { index: 3, len: 3 }
        ));
        assert!(matches!(
            server.handle(Request::Remove(list, vec![9])),
            Response::NotFound
        ));
        let Response::Id(dict) = server.handle(Request::NewDict) else {
            panic!("id");
        };
        for key in 0..40u8 {
            server.handle(Request::Insert(dict, vec![key], vec![key]));
        }
        for key in 0..30u8 {
            server.handle(Request::Delete(dict, vec![key]));
        }
        let Response::Items(keys) = server.handle(Request::Keys(dict)) else {
            panic!("keys");
        };
        assert_eq!(
            keys,
            (30..40u8).map(|k| vec![k]).collect::<Vec<_>>(),
            "insertion order survives compaction"
        );
    }
}

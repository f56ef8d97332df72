//! The typed proxies: what a process holds to use an object living in a
//! [`Manager`](super::Manager)'s server.

use super::encode_as::EncodeAs;
use super::protocol::{Bytes, Kind, Request, Response};
use super::sealed::Sealed;
use super::transport::Transport;
use super::{Proxy, unexpected};
use crate::codec;
use crate::error::{Error, Result};
use crate::sys::deadline::{Deadline, timed};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

macro_rules! proxy {
    ($name:ident, $kind:ident, $doc:literal) => {
        proxy!($name<>, $kind, $doc);
    };
    ($name:ident<$($param:ident),*>, $kind:ident, $doc:literal) => {
        #[doc = $doc]
        pub struct $name<$($param),*> {
            transport: Arc<Transport>,
            id: u64,
            _items: PhantomData<fn() -> ($($param,)*)>,
        }

        impl<$($param),*> Clone for $name<$($param),*> {
            fn clone(&self) -> Self {
                $name {
                    transport: Arc::clone(&self.transport),
                    id: self.id,
                    _items: PhantomData,
                }
            }
        }

        impl<$($param),*> std::fmt::Debug for $name<$($param),*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).field("id", &self.id).finish()
            }
        }

        #[allow(private_interfaces)] // see `sealed`
        impl<$($param),*> Sealed for $name<$($param),*> {
            fn id(&self) -> u64 {
                self.id
            }
            fn from_parts(transport: Arc<Transport>, id: u64) -> Self {
                $name {
                    transport,
                    id,
                    _items: PhantomData,
                }
            }
        }

        impl<$($param),*> Proxy for $name<$($param),*> {
            const KIND: Kind = Kind::$kind;
        }

        #[allow(dead_code)] // not every proxy needs every helper
        impl<$($param),*> $name<$($param),*> {
            fn call(&self, request: Request) -> Result<Response> {
                self.transport.call(request)
            }

            fn done(&self, request: Request) -> Result<()> {
                match self.call(request)? {
                    Response::Done => Ok(()),
                    other => Err(unexpected(other)),
                }
            }

            fn flag(&self, request: Request) -> Result<bool> {
                match self.call(request)? {
                    Response::Bool(flag) => Ok(flag),
                    other => Err(unexpected(other)),
                }
            }

            fn number(&self, request: Request) -> Result<usize> {
                match self.call(request)? {
                    Response::Len(n) => Ok(n),
                    other => Err(unexpected(other)),
                }
            }
        }
    };
}

proxy!(
    ListProxy<T>,
    List,
    "A list living in a [`Manager`](super::Manager)'s server process.

```
use ferrokernel_prelude::multiprocessing::Manager;
# fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
let manager = Manager::new()?;
let list = manager.list(vec![3, 1, 2])?;
list.append(5)?;
list.sort()?;
assert_eq!(list.to_vec()?, [1, 2, 3, 5]);
# Ok(())
# }
```"
);
proxy!(
    DictProxy<K, V>,
    Dict,
    "A dict (insertion-ordered) living in a [`Manager`](super::Manager)'s server process.

```
use ferrokernel_prelude::multiprocessing::Manager;
# fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
let manager = Manager::new()?;
let scores = manager.dict::<String, u32>()?;
scores.insert(\"ada\".to_string(), 10)?;
assert_eq!(scores.get(&\"ada\".to_string())?, Some(10));
# Ok(())
# }
```"
);
proxy!(
    ValueProxy<T>,
    Value,
    "A value living in a [`Manager`](super::Manager)'s server process.

```
use ferrokernel_prelude::multiprocessing::Manager;
# fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
let manager = Manager::new()?;
let total = manager.value(0u64)?;
total.set(42)?;
assert_eq!(total.get()?, 42);
# Ok(())
# }
```"
);
proxy!(
    QueueProxy<T>,
    Queue,
    "A FIFO queue living in a [`Manager`](super::Manager)'s server process (Python's
`manager.Queue()`), reachable from any client of a served manager — the way
to hand out jobs to workers on other machines.

```
use ferrokernel_prelude::multiprocessing::Manager;
# fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
let manager = Manager::new()?;
let jobs = manager.queue::<u32>()?;
jobs.put(7)?;
assert_eq!(jobs.qsize()?, 1);
assert_eq!(jobs.get()?, 7);
assert_eq!(jobs.try_get()?, None);
# Ok(())
# }
```"
);
proxy!(
    LockProxy,
    Lock,
    "A lock living in a [`Manager`](super::Manager)'s server process (Python's
`manager.Lock()`, a `threading.Lock` in the server): any client may release
it, and releasing it unlocked is `Err(NotOwner)`. Unlike
[`multiprocessing::Lock`](crate::multiprocessing::Lock) it is not recovered
when its holder dies.

```
use ferrokernel_prelude::multiprocessing::Manager;
# fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
let manager = Manager::new()?;
let lock = manager.lock()?;
lock.acquire()?;
assert!(!lock.try_acquire()?);
lock.release()?;
# Ok(())
# }
```"
);
proxy!(
    EventProxy<>,
    Event,
    "An event living in a [`Manager`](super::Manager)'s server process (Python's `manager.Event()`).

```
use ferrokernel_prelude::multiprocessing::Manager;
# fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
let manager = Manager::new()?;
let ready = manager.event()?;
assert!(!ready.is_set()?);
ready.set()?;
ready.wait()?;
# Ok(())
# }
```"
);
proxy!(
    NamespaceProxy,
    Namespace,
    "A namespace of named fields living in a [`Manager`](super::Manager)'s server
process (Python's `manager.Namespace()`): where Python writes `ns.x = 1`, Rust
writes `ns.set(\"x\", &1)?`, and `ns.get::<i32>(\"x\")?` reads it back.

```
use ferrokernel_prelude::multiprocessing::Manager;
# fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
let manager = Manager::new()?;
let ns = manager.namespace()?;
ns.set(\"name\", &\"Bob\")?;
ns.set(\"age\", &42u32)?;
assert_eq!(ns.get::<String>(\"name\")?, \"Bob\");
assert_eq!(ns.fields()?, [\"name\", \"age\"]);
# Ok(())
# }
```"
);

fn encode_all<T: Serialize>(items: impl IntoIterator<Item = T>) -> Result<Vec<Bytes>> {
    items.into_iter().map(|item| codec::encode(&item)).collect()
}

fn decode_all<T: DeserializeOwned>(items: Vec<Bytes>) -> Result<Vec<T>> {
    items.iter().map(|bytes| codec::decode(bytes)).collect()
}

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    fn item(&self, request: Request) -> Result<T> {
        match self.call(request)? {
            Response::Item(bytes) => codec::decode(&bytes),
            other => Err(unexpected(other)),
        }
    }

    /// Adds an item at the end.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let list = manager.list(Vec::<u8>::new())?;
    /// list.append(1)?;
    /// # assert_eq!(list.len()?, 1);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn append(&self, item: impl EncodeAs<T>) -> Result<()> {
        self.done(Request::Append(self.id, codec::encode(&item)?))
    }

    /// Adds items at the end.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let list = manager.list([1])?;
    /// list.extend([2, 3])?;
    /// assert_eq!(list.to_vec()?, [1, 2, 3]);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn extend(&self, items: impl IntoIterator<Item = T>) -> Result<()> {
        self.done(Request::Extend(self.id, encode_all(items)?))
    }

    /// The item at `index` (negative counts from the end, as in Python).
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let list = manager.list([1, 2, 3])?;
    /// assert_eq!(list.get(-1)?, 3);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn get(&self, index: i64) -> Result<T> {
        self.item(Request::Get(self.id, index))
    }

    /// Replaces the item at `index`.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let list = manager.list([1, 2])?;
    /// list.set(0, 9)?;
    /// assert_eq!(list.to_vec()?, [9, 2]);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn set(&self, index: i64, item: impl EncodeAs<T>) -> Result<()> {
        self.done(Request::Set(self.id, index, codec::encode(&item)?))
    }

    /// Removes and returns the last item.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let list = manager.list([1, 2])?;
    /// assert_eq!(list.pop()?, 2);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn pop(&self) -> Result<T> {
        self.item(Request::Pop(self.id, None))
    }

    /// Removes and returns the item at `index`.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let list = manager.list([1, 2, 3])?;
    /// assert_eq!(list.pop_at(0)?, 1);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn pop_at(&self, index: i64) -> Result<T> {
        self.item(Request::Pop(self.id, Some(index)))
    }

    /// Removes the first item equal to `item`; `Err(NotFound)` if none is.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let list = manager.list([1, 2, 1])?;
    /// list.remove(1)?;
    /// assert_eq!(list.to_vec()?, [2, 1]);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn remove(&self, item: impl EncodeAs<T>) -> Result<()> {
        self.done(Request::Remove(self.id, codec::encode(&item)?))
    }

    /// Inserts `item` before `index`; as in Python, an index past either end
    /// inserts at that end.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let list = manager.list([1, 3])?;
    /// list.insert(1, 2)?;
    /// list.insert(100, 4)?;
    /// assert_eq!(list.to_vec()?, [1, 2, 3, 4]);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn insert(&self, index: i64, item: impl EncodeAs<T>) -> Result<()> {
        self.done(Request::InsertAt(self.id, index, codec::encode(&item)?))
    }

    /// The index of the first item equal to `item`; `Err(NotFound)` if none
    /// is (Python's `ValueError`).
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let list = manager.list(["a", "b"].map(String::from))?;
    /// assert_eq!(list.index("b".to_string())?, 1);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn index(&self, item: impl EncodeAs<T>) -> Result<usize> {
        self.number(Request::Index(self.id, codec::encode(&item)?))
    }

    /// How many items equal `item`.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let list = manager.list([1, 2, 1])?;
    /// assert_eq!(list.count(1)?, 2);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn count(&self, item: impl EncodeAs<T>) -> Result<usize> {
        self.number(Request::Count(self.id, codec::encode(&item)?))
    }

    /// Whether some item equals `item` (Python's `in`).
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let list = manager.list([1, 2])?;
    /// assert!(list.contains(2)? && !list.contains(3)?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn contains(&self, item: impl EncodeAs<T>) -> Result<bool> {
        Ok(self.count(item)? > 0)
    }

    /// Reverses the items in place.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let list = manager.list([1, 2, 3])?;
    /// list.reverse()?;
    /// assert_eq!(list.to_vec()?, [3, 2, 1]);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn reverse(&self) -> Result<()> {
        self.done(Request::Reverse(self.id))
    }

    /// Sorts the items in place (stable, like Python's `sort`).
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let list = manager.list([3, 1, 2])?;
    /// list.sort()?;
    /// assert_eq!(list.to_vec()?, [1, 2, 3]);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn sort(&self) -> Result<()>
    where
        T: Ord,
    {
        self.sort_by(T::cmp)
    }

    /// Sorts the items in place with `compare` (stable). The server holds
    /// encoded values it cannot order, so the items are sorted here and
    /// written back only if nobody changed the list meanwhile — else the
    /// sort starts again: it is atomic, as Python's is.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let list = manager.list([2.5f64, -1.0, 0.5])?;
    /// list.sort_by(|a, b| b.total_cmp(a))?; // descending: Python's reverse=True
    /// assert_eq!(list.to_vec()?, [2.5, 0.5, -1.0]);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn sort_by(&self, mut compare: impl FnMut(&T, &T) -> Ordering) -> Result<()> {
        loop {
            let (version, items) = match self.call(Request::Versioned(self.id))? {
                Response::Versioned(version, items) => (version, items),
                other => return Err(unexpected(other)),
            };
            let mut decoded = items
                .into_iter()
                .map(|bytes| Ok((codec::decode::<T>(&bytes)?, bytes)))
                .collect::<Result<Vec<(T, Bytes)>>>()?;
            decoded.sort_by(|a, b| compare(&a.0, &b.0));
            let sorted = decoded.into_iter().map(|(_, bytes)| bytes).collect();
            match self.call(Request::ReplaceIf(self.id, version, sorted))? {
                Response::Done => return Ok(()),
                Response::Changed => continue,
                other => return Err(unexpected(other)),
            }
        }
    }

    /// How many items.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// assert_eq!(manager.list([1, 2])?.len()?, 2);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn len(&self) -> Result<usize> {
        self.number(Request::Len(self.id))
    }

    /// Whether there are none.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// assert!(manager.list(Vec::<u8>::new())?.is_empty()?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// A copy of all items (Python's `list[:]`).
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// assert_eq!(manager.list([1, 2])?.to_vec()?, [1, 2]);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn to_vec(&self) -> Result<Vec<T>> {
        match self.call(Request::Snapshot(self.id))? {
            Response::Items(items) => decode_all(items),
            other => Err(unexpected(other)),
        }
    }

    /// Iterates over a snapshot of the items.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let total: i32 = manager.list([1, 2, 3])?.iter()?.sum();
    /// assert_eq!(total, 6);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn iter(&self) -> Result<std::vec::IntoIter<T>> {
        Ok(self.to_vec()?.into_iter())
    }

    /// Removes every item.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let list = manager.list([1])?;
    /// list.clear()?;
    /// assert!(list.is_empty()?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn clear(&self) -> Result<()> {
        self.done(Request::Clear(self.id))
    }
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> DictProxy<K, V> {
    fn maybe(&self, request: Request) -> Result<Option<V>> {
        match self.call(request)? {
            Response::MaybeItem(bytes) => bytes.map(|b| codec::decode(&b)).transpose(),
            other => Err(unexpected(other)),
        }
    }

    /// Sets `key` to `value`; returns the value it replaced.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let d = manager.dict::<u8, u8>()?;
    /// assert_eq!(d.insert(1, 10)?, None);
    /// assert_eq!(d.insert(1, 11)?, Some(10));
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn insert(&self, key: impl EncodeAs<K>, value: impl EncodeAs<V>) -> Result<Option<V>> {
        self.maybe(Request::Insert(
            self.id,
            codec::encode(&key)?,
            codec::encode(&value)?,
        ))
    }

    /// The value for `key`.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let d = manager.dict::<u8, u8>()?;
    /// d.insert(1, 10)?;
    /// assert_eq!((d.get(&1)?, d.get(&2)?), (Some(10), None));
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn get(&self, key: impl EncodeAs<K>) -> Result<Option<V>> {
        self.maybe(Request::DictGet(self.id, codec::encode(&key)?))
    }

    /// Removes `key`; returns its value, if it had one.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let d = manager.dict::<u8, u8>()?;
    /// d.insert(1, 10)?;
    /// assert_eq!(d.remove(&1)?, Some(10));
    /// assert_eq!(d.remove(&1)?, None);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn remove(&self, key: impl EncodeAs<K>) -> Result<Option<V>> {
        self.maybe(Request::Delete(self.id, codec::encode(&key)?))
    }

    /// Removes `key` and returns its value; `Err(KeyNotFound)` when it has
    /// none (Python's `pop(key)` and its `KeyError`).
    ///
    /// ```
    /// # use ferrokernel_prelude::multiprocessing::Error;
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let d = manager.dict::<u8, u8>()?;
    /// d.insert(1, 10)?;
    /// assert_eq!(d.pop(&1)?, 10);
    /// assert!(matches!(d.pop(&1), Err(Error::KeyNotFound)));
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn pop(&self, key: impl EncodeAs<K>) -> Result<V> {
        self.remove(key)?.ok_or(Error::KeyNotFound)
    }

    /// Whether `key` has a value (Python's `key in d`).
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let d = manager.dict::<u8, u8>()?;
    /// d.insert(1, 10)?;
    /// assert!(d.contains_key(&1)? && !d.contains_key(&2)?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn contains_key(&self, key: impl EncodeAs<K>) -> Result<bool> {
        self.flag(Request::ContainsKey(self.id, codec::encode(&key)?))
    }

    /// The value for `key`, setting it to `default` first if it has none —
    /// in one step, so two clients never both set it.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let d = manager.dict::<u8, u8>()?;
    /// assert_eq!(d.setdefault(1, 5)?, 5);
    /// assert_eq!(d.setdefault(1, 7)?, 5);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn setdefault(&self, key: impl EncodeAs<K>, default: impl EncodeAs<V>) -> Result<V> {
        match self.call(Request::SetDefault(
            self.id,
            codec::encode(&key)?,
            codec::encode(&default)?,
        ))? {
            Response::Item(bytes) => codec::decode(&bytes),
            other => Err(unexpected(other)),
        }
    }

    /// Sets every `(key, value)` pair, in one step.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let d = manager.dict::<u8, u8>()?;
    /// d.update([(1, 10), (2, 20)])?;
    /// assert_eq!(d.len()?, 2);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn update(&self, pairs: impl IntoIterator<Item = (K, V)>) -> Result<()> {
        let encoded = pairs
            .into_iter()
            .map(|(k, v)| Ok((codec::encode(&k)?, codec::encode(&v)?)))
            .collect::<Result<Vec<_>>>()?;
        self.done(Request::Update(self.id, encoded))
    }

    /// The keys, in insertion order.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let d = manager.dict::<u8, u8>()?;
    /// d.update([(2, 0), (1, 0)])?;
    /// assert_eq!(d.keys()?, [2, 1]);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn keys(&self) -> Result<Vec<K>> {
        match self.call(Request::Keys(self.id))? {
            Response::Items(keys) => decode_all(keys),
            other => Err(unexpected(other)),
        }
    }

    /// The values, in insertion order.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let d = manager.dict::<u8, u8>()?;
    /// d.update([(2, 20), (1, 10)])?;
    /// assert_eq!(d.values()?, [20, 10]);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn values(&self) -> Result<Vec<V>> {
        match self.call(Request::Values(self.id))? {
            Response::Items(values) => decode_all(values),
            other => Err(unexpected(other)),
        }
    }

    /// The `(key, value)` pairs, in insertion order.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let d = manager.dict::<u8, u8>()?;
    /// d.insert(1, 10)?;
    /// assert_eq!(d.items()?, [(1, 10)]);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn items(&self) -> Result<Vec<(K, V)>> {
        match self.call(Request::Items(self.id))? {
            Response::Pairs(pairs) => pairs
                .iter()
                .map(|(k, v)| Ok((codec::decode(k)?, codec::decode(v)?)))
                .collect(),
            other => Err(unexpected(other)),
        }
    }

    /// A copy as a `HashMap` (Python's `d.copy()`).
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let d = manager.dict::<u8, u8>()?;
    /// d.insert(1, 10)?;
    /// assert_eq!(d.to_map()?[&1], 10);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn to_map(&self) -> Result<HashMap<K, V>>
    where
        K: std::hash::Hash + Eq,
    {
        Ok(self.items()?.into_iter().collect())
    }

    /// How many keys.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// assert_eq!(manager.dict::<u8, u8>()?.len()?, 0);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn len(&self) -> Result<usize> {
        self.number(Request::Len(self.id))
    }

    /// Whether there are none.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// assert!(manager.dict::<u8, u8>()?.is_empty()?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Removes every key.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let d = manager.dict::<u8, u8>()?;
    /// d.insert(1, 10)?;
    /// d.clear()?;
    /// assert!(d.is_empty()?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn clear(&self) -> Result<()> {
        self.done(Request::Clear(self.id))
    }
}

impl<T: Serialize + DeserializeOwned> ValueProxy<T> {
    /// The current value.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// assert_eq!(manager.value(5u8)?.get()?, 5);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn get(&self) -> Result<T> {
        match self.call(Request::Load(self.id))? {
            Response::Item(bytes) => codec::decode(&bytes),
            other => Err(unexpected(other)),
        }
    }

    /// Replaces the value.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let v = manager.value(5u8)?;
    /// v.set(6)?;
    /// assert_eq!(v.get()?, 6);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn set(&self, value: impl EncodeAs<T>) -> Result<()> {
        self.done(Request::Store(self.id, codec::encode(&value)?))
    }
}

impl<T: Serialize + DeserializeOwned> QueueProxy<T> {
    /// Adds an item at the back (never waits: the queue is unbounded).
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let q = manager.queue::<u8>()?;
    /// q.put(1)?;
    /// # assert_eq!(q.get()?, 1);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn put(&self, item: impl EncodeAs<T>) -> Result<()> {
        self.done(Request::Put(self.id, codec::encode(&item)?))
    }

    /// Takes the item at the front, waiting (interruptibly) for one.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let q = manager.queue::<u8>()?;
    /// q.put(1)?;
    /// assert_eq!(q.get()?, 1);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn get(&self) -> Result<T> {
        self.get_deadline(&Deadline::forever())
    }

    /// Like [`get`](QueueProxy::get), waiting at most `timeout` (`Err(Timeout)` then).
    ///
    /// ```
    /// # use ferrokernel_prelude::multiprocessing::Error;
    /// # use std::time::Duration;
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let q = manager.queue::<u8>()?;
    /// assert!(matches!(q.get_timeout(Duration::from_millis(10)), Err(Error::Timeout)));
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_deadline(&Deadline::after(Some(timeout)))
    }

    fn get_deadline(&self, deadline: &Deadline) -> Result<T> {
        match self
            .transport
            .call_until(|| Request::TryGet(self.id), deadline)?
        {
            Response::Item(bytes) => codec::decode(&bytes),
            other => Err(unexpected(other)),
        }
    }

    /// Takes the front item if there is one, without waiting (Python's `get_nowait`).
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let q = manager.queue::<u8>()?;
    /// assert_eq!(q.try_get()?, None);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn try_get(&self) -> Result<Option<T>> {
        match self.call(Request::TryGet(self.id))? {
            Response::Item(bytes) => codec::decode(&bytes).map(Some),
            Response::WouldBlock(_) => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// How many items wait.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let q = manager.queue::<u8>()?;
    /// q.put(1)?;
    /// assert_eq!(q.qsize()?, 1);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn qsize(&self) -> Result<usize> {
        self.number(Request::Len(self.id))
    }

    /// Whether none waits.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// assert!(manager.queue::<u8>()?.empty()?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn empty(&self) -> Result<bool> {
        Ok(self.qsize()? == 0)
    }
}

impl LockProxy {
    /// Takes the lock, waiting (interruptibly) while another client holds it.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let lock = manager.lock()?;
    /// lock.acquire()?;
    /// assert!(lock.locked()?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn acquire(&self) -> Result<()> {
        self.acquire_deadline(&Deadline::forever())
    }

    /// Like [`acquire`](LockProxy::acquire), waiting at most `timeout`;
    /// `Ok(false)` if the lock was not had.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let lock = manager.lock()?;
    /// assert!(lock.acquire_timeout(Duration::from_millis(10))?);
    /// assert!(!lock.acquire_timeout(Duration::from_millis(10))?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        timed(self.acquire_deadline(&Deadline::after(Some(timeout))))
    }

    fn acquire_deadline(&self, deadline: &Deadline) -> Result<()> {
        match self
            .transport
            .call_until(|| Request::TryAcquire(self.id), deadline)?
        {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Takes the lock if it is free, without waiting.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let lock = manager.lock()?;
    /// assert!(lock.try_acquire()?);
    /// assert!(!lock.try_acquire()?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn try_acquire(&self) -> Result<bool> {
        match self.call(Request::TryAcquire(self.id))? {
            Response::Done => Ok(true),
            Response::WouldBlock(_) => Ok(false),
            other => Err(unexpected(other)),
        }
    }

    /// Releases the lock; `Err(NotOwner)` when it is not held (Python's `RuntimeError`).
    ///
    /// ```
    /// # use ferrokernel_prelude::multiprocessing::Error;
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let lock = manager.lock()?;
    /// lock.acquire()?;
    /// lock.release()?;
    /// assert!(matches!(lock.release(), Err(Error::NotOwner)));
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn release(&self) -> Result<()> {
        self.done(Request::Release(self.id))
    }

    /// Whether some client holds it.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// assert!(!manager.lock()?.locked()?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn locked(&self) -> Result<bool> {
        self.flag(Request::Locked(self.id))
    }
}

impl EventProxy {
    /// Sets the flag, waking every waiter.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let event = manager.event()?;
    /// event.set()?;
    /// assert!(event.is_set()?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn set(&self) -> Result<()> {
        self.done(Request::SetEvent(self.id))
    }

    /// Clears the flag.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let event = manager.event()?;
    /// event.set()?;
    /// event.clear()?;
    /// assert!(!event.is_set()?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn clear(&self) -> Result<()> {
        self.done(Request::ClearEvent(self.id))
    }

    /// Whether the flag is set.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// assert!(!manager.event()?.is_set()?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn is_set(&self) -> Result<bool> {
        self.flag(Request::IsSet(self.id))
    }

    /// Waits (interruptibly) until the flag is set.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let event = manager.event()?;
    /// event.set()?;
    /// event.wait()?;
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn wait(&self) -> Result<()> {
        self.wait_deadline(&Deadline::forever())
    }

    /// Like [`wait`](EventProxy::wait), at most `timeout`; whether the flag was set.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// assert!(!manager.event()?.wait_timeout(Duration::from_millis(10))?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        timed(self.wait_deadline(&Deadline::after(Some(timeout))))
    }

    fn wait_deadline(&self, deadline: &Deadline) -> Result<()> {
        match self
            .transport
            .call_until(|| Request::WaitSet(self.id), deadline)?
        {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

impl NamespaceProxy {
    /// Sets field `name` (Python's `ns.name = value`).
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let ns = manager.namespace()?;
    /// ns.set("x", &1u8)?;
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn set<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<()> {
        self.done(Request::SetField(
            self.id,
            name.to_owned(),
            codec::encode(value)?,
        ))
    }

    /// Field `name`, as a `T`; `Err(KeyNotFound)` when there is no such
    /// field (Python's `AttributeError`).
    ///
    /// ```
    /// # use ferrokernel_prelude::multiprocessing::Error;
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let ns = manager.namespace()?;
    /// ns.set("x", &1u8)?;
    /// assert_eq!(ns.get::<u8>("x")?, 1);
    /// assert!(matches!(ns.get::<u8>("y"), Err(Error::KeyNotFound)));
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        match self.call(Request::GetField(self.id, name.to_owned()))? {
            Response::Item(bytes) => codec::decode(&bytes),
            other => Err(unexpected(other)),
        }
    }

    /// Removes field `name` (Python's `del ns.name`); `Err(KeyNotFound)`
    /// when there is none.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let ns = manager.namespace()?;
    /// ns.set("x", &1u8)?;
    /// ns.delete("x")?;
    /// assert!(!ns.contains("x")?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn delete(&self, name: &str) -> Result<()> {
        self.done(Request::DeleteField(self.id, name.to_owned()))
    }

    /// Whether field `name` exists (Python's `hasattr`).
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let ns = manager.namespace()?;
    /// assert!(!ns.contains("x")?);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn contains(&self, name: &str) -> Result<bool> {
        Ok(self.fields()?.iter().any(|field| field == name))
    }

    /// The fields' names, in the order they were first set.
    ///
    /// ```
    /// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
    /// let ns = manager.namespace()?;
    /// ns.set("b", &1u8)?;
    /// ns.set("a", &2u8)?;
    /// assert_eq!(ns.fields()?, ["b", "a"]);
    /// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
    /// ```
    pub fn fields(&self) -> Result<Vec<String>> {
        match self.call(Request::Fields(self.id))? {
            Response::Names(names) => Ok(names),
            other => Err(unexpected(other)),
        }
    }
}

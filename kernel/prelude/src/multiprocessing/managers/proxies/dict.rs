//! [`DictProxy`]: a dict living in a manager's server process.

use super::decode_all;
use crate::codec;
use crate::error::{Error, Result};
use crate::multiprocessing::managers::EncodeAs;
use crate::multiprocessing::managers::protocol::{Request, Response};
use crate::multiprocessing::managers::unexpected;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

proxy!(
    DictProxy<K, V>,
    Dict,
    "A dict (insertion-ordered) living in a [`Manager`](crate::multiprocessing::Manager)'s server process.

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

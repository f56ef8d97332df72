//! [`ListProxy`]: a list living in a manager's server process.

use super::{decode_all, encode_all};
use crate::codec;
use crate::error::Result;
use crate::multiprocessing::managers::EncodeAs;
use crate::multiprocessing::managers::protocol::{Bytes, Request, Response};
use crate::multiprocessing::managers::unexpected;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cmp::Ordering;

proxy!(
    ListProxy<T>,
    List,
    "A list living in a [`Manager`](crate::multiprocessing::Manager)'s server process.

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

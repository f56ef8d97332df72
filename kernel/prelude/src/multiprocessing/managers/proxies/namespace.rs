//! [`NamespaceProxy`]: a namespace living in a manager's server process.

use crate::codec;
use crate::error::Result;
use crate::multiprocessing::managers::protocol::{Request, Response};
use crate::multiprocessing::managers::unexpected;
use serde::Serialize;
use serde::de::DeserializeOwned;

proxy!(
    NamespaceProxy,
    Namespace,
    "A namespace of named fields living in a [`Manager`](crate::multiprocessing::Manager)'s server
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

//! [`ValueProxy`]: a value living in a manager's server process.

use crate::codec;
use crate::error::Result;
use crate::multiprocessing::managers::EncodeAs;
use crate::multiprocessing::managers::protocol::{Request, Response};
use crate::multiprocessing::managers::unexpected;
use serde::Serialize;
use serde::de::DeserializeOwned;

proxy!(
    ValueProxy<T>,
    Value,
    "A value living in a [`Manager`](crate::multiprocessing::Manager)'s server process.

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

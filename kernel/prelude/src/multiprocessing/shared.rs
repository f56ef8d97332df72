//! [`Value`] and [`Array`]: numbers in shared memory, guarded by a lock.

use super::{Acquired, Error, Result};
use crate::sys::deadline::Deadline;
use crate::sys::shm::Shared;
use crate::sys::sync::RawMutex;
use std::cell::UnsafeCell;

mod sealed {
    pub trait Sealed {}
}

/// The plain number types (and `bool`) that can live in shared memory: every
/// bit pattern of zeros is valid, and they hold no pointers.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Scalar, Value};
/// fn shared<T: Scalar>(start: T) -> ferrokernel_prelude::multiprocessing::Result<Value<T>> {
///     Value::new(start)
/// }
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// assert_eq!(shared(1.5f32)?.get()?, 1.5);
/// # Ok(())
/// # }
/// ```
pub trait Scalar: Copy + Send + Sync + std::fmt::Debug + 'static + sealed::Sealed {}

macro_rules! scalars {
    ($($t:ty)*) => {$(
        impl sealed::Sealed for $t {}
        impl Scalar for $t {}
    )*};
}
scalars!(i8 i16 i32 i64 i128 isize u8 u16 u32 u64 u128 usize f32 f64 bool);

#[repr(C, align(64))]
struct Cell<T> {
    lock: RawMutex,
    len: usize,
    value: UnsafeCell<T>,
}

// SAFETY: `value` (and the array after it) is only touched while `lock` is held.
unsafe impl<T: Send> Sync for Cell<T> {}

/// A number in shared memory, like Python's `multiprocessing.Value`.
///
/// Cloning the handle (or moving it into a child process) shares the same
/// number. Each `get` and `set` takes the lock — waiting for it interruptibly
/// while another process holds it through [`get_lock`](Value::get_lock),
/// which is how to read-modify-write atomically:
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Process, Value};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let balance = Value::<i32>::new(100)?;
/// let spender = balance.clone();
/// let mut p = Process::new(move || *spender.get_lock().expect("lock") -= 1);
/// p.start()?;
/// p.join()?;
/// assert_eq!(balance.get()?, 99);
/// # Ok(())
/// # }
/// ```
pub struct Value<T: Scalar> {
    cell: Shared<Cell<T>>,
}

impl<T: Scalar> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value {
            cell: self.cell.clone(),
        }
    }
}

/// Shows the number, or `<locked>` while another holder has the lock (a
/// `Debug` never waits).
impl<T: Scalar> std::fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cell = self.cell.get();
        match cell.lock.try_lock() {
            Ok(Some(_)) => {
                // SAFETY: we hold the lock.
                let value = unsafe { *cell.value.get() };
                let _ = cell.lock.unlock();
                f.debug_tuple("Value").field(&value).finish()
            }
            _ => f.write_str("Value(<locked>)"),
        }
    }
}

fn new_cell<T: Scalar>(len: usize, first: T) -> Result<Shared<Cell<T>>> {
    let extra = std::mem::size_of::<T>() * len.saturating_sub(1);
    // SAFETY: `at` is fresh zeroed memory for a Cell<T> plus room for `len` Ts;
    // on `Ok` every field is initialized (zeros are valid for scalars).
    unsafe {
        Shared::try_new_with(extra, |at: *mut Cell<T>| {
            RawMutex::init(std::ptr::addr_of_mut!((*at).lock), true)?;
            std::ptr::addr_of_mut!((*at).len).write(len);
            std::ptr::addr_of_mut!((*at).value).write(UnsafeCell::new(first));
            Ok(())
        })
    }
}

impl<T: Scalar> Value<T> {
    /// A shared number holding `value`.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Value;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let ready = Value::new(false)?;
    /// assert!(!ready.get()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(value: T) -> Result<Value<T>> {
        Ok(Value {
            cell: new_cell(1, value)?,
        })
    }

    /// The current value (Python's `v.value`). Waits, interruptibly, while
    /// another holder has the lock.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Value;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let v = Value::<f64>::new(2.5)?;
    /// assert_eq!(v.get()?, 2.5);
    /// # Ok(())
    /// # }
    /// ```
    pub fn get(&self) -> Result<T> {
        let guard = self.get_lock()?;
        Ok(*guard)
    }

    /// Replaces the value (Python's `v.value = x`), waiting like [`get`](Value::get).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Value;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let v = Value::<u8>::new(1)?;
    /// v.set(2)?;
    /// assert_eq!(v.get()?, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn set(&self, value: T) -> Result<()> {
        *self.get_lock()? = value;
        Ok(())
    }

    /// Takes the lock (interruptibly) and returns a guard that derefs to the
    /// number. The lock is recursive, like Python's default `RLock`.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Value;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let counter = Value::<u64>::new(0)?;
    /// {
    ///     let mut guard = counter.get_lock()?;
    ///     *guard += 1;
    ///     assert_eq!(counter.get()?, 1); // the same thread may take it again
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_lock(&self) -> Result<ValueGuard<'_, T>> {
        let cell = self.cell.get();
        let acquired = cell.lock.lock(&Deadline::forever())?;
        Ok(ValueGuard { cell, acquired })
    }
}

/// Holds a [`Value`]'s lock; derefs (mutably) to the number.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::Value;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let v = Value::<i32>::new(1)?;
/// let mut guard = v.get_lock()?;
/// *guard *= 10;
/// drop(guard);
/// assert_eq!(v.get()?, 10);
/// # Ok(())
/// # }
/// ```
pub struct ValueGuard<'a, T: Scalar> {
    cell: &'a Cell<T>,
    acquired: Acquired,
}

impl<T: Scalar> ValueGuard<'_, T> {
    /// Whether the previous holder died holding the lock.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Value;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(!Value::<i32>::new(0)?.get_lock()?.recovered());
    /// # Ok(())
    /// # }
    /// ```
    pub fn recovered(&self) -> bool {
        self.acquired.is_recovered()
    }
}

impl<T: Scalar> std::ops::Deref for ValueGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.cell.value.get() }
    }
}

impl<T: Scalar> std::ops::DerefMut for ValueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock.
        unsafe { &mut *self.cell.value.get() }
    }
}

impl<T: Scalar> Drop for ValueGuard<'_, T> {
    fn drop(&mut self) {
        let _ = self.cell.lock.unlock();
    }
}

/// A fixed-length array of numbers in shared memory, like Python's
/// `multiprocessing.Array`. Each call takes the array's lock, waiting for it
/// interruptibly; an index past the end is `Err(IndexOutOfRange)`.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Array, Process};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let squares = Array::<i32>::new(4)?;
/// let writer = squares.clone();
/// let mut p = Process::new(move || {
///     for i in 0..4 {
///         writer.set(i, (i * i) as i32).expect("set");
///     }
/// });
/// p.start()?;
/// p.join()?;
/// assert_eq!(squares.to_vec()?, [0, 1, 4, 9]);
/// # Ok(())
/// # }
/// ```
pub struct Array<T: Scalar> {
    cell: Shared<Cell<T>>,
}

impl<T: Scalar> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array {
            cell: self.cell.clone(),
        }
    }
}

/// Shows the elements, or `Array(<locked>)` while another holder has the
/// lock (a `Debug` never waits).
impl<T: Scalar> std::fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cell = self.cell.get();
        match cell.lock.try_lock() {
            Ok(Some(acquired)) => {
                let guard = ArrayGuard { cell, acquired };
                f.debug_list().entries(guard.iter()).finish()
            }
            _ => f.write_str("Array(<locked>)"),
        }
    }
}

impl<T: Scalar> Array<T> {
    /// `len` zeros (Python's `Array('i', 4)`).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Array;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Array::<u8>::new(3)?.to_vec()?, [0, 0, 0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(len: usize) -> Result<Array<T>> {
        // SAFETY: all-zero bits are a valid T for every Scalar.
        let zero: T = unsafe { std::mem::zeroed() };
        Ok(Array {
            cell: new_cell(len, zero)?,
        })
    }

    /// A copy of `values` (Python's `Array('d', [0.5, 1.5])`).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Array;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Array::from_slice(&[0.5, 1.5])?.get(1)?, 1.5);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_slice(values: &[T]) -> Result<Array<T>> {
        let array = Array::new(values.len())?;
        array.get_lock()?.copy_from_slice(values);
        Ok(array)
    }

    /// How many elements.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Array;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Array::<i64>::new(4)?.len(), 4);
    /// # Ok(())
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.cell.get().len
    }

    /// Whether there are none.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Array;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(Array::<i64>::new(0)?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn out_of_range(&self, index: usize) -> Error {
        Error::IndexOutOfRange {
            index: i64::try_from(index).unwrap_or(i64::MAX),
            len: self.len(),
        }
    }

    /// Element `index` (Python's `a[i]`); `Err(IndexOutOfRange)` past the end.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Array, Error};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let a = Array::from_slice(&[7u8, 8])?;
    /// assert_eq!(a.get(1)?, 8);
    /// assert!(matches!(a.get(2), Err(Error::IndexOutOfRange { index: 2, len: 2 })));
    /// # Ok(())
    /// # }
    /// ```
    pub fn get(&self, index: usize) -> Result<T> {
        let guard = self.get_lock()?;
        guard
            .get(index)
            .copied()
            .ok_or_else(|| self.out_of_range(index))
    }

    /// Sets element `index` (Python's `a[i] = x`); `Err(IndexOutOfRange)` past the end.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Array;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let a = Array::<i32>::new(2)?;
    /// a.set(0, -1)?;
    /// assert_eq!(a.to_vec()?, [-1, 0]);
    /// assert!(a.set(2, 5).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn set(&self, index: usize, value: T) -> Result<()> {
        let mut guard = self.get_lock()?;
        match guard.get_mut(index) {
            Some(slot) => {
                *slot = value;
                Ok(())
            }
            None => Err(self.out_of_range(index)),
        }
    }

    /// A copy of all elements (Python's `a[:]`).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Array;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert_eq!(Array::from_slice(&[1, 2, 3])?.to_vec()?, [1, 2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn to_vec(&self) -> Result<Vec<T>> {
        Ok(self.get_lock()?.to_vec())
    }

    /// Iterates over a snapshot of the elements (Python's `for x in a`).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Array;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let a = Array::from_slice(&[1, 4, 9, 16])?;
    /// assert_eq!(a.iter()?.sum::<i32>(), 30);
    /// # Ok(())
    /// # }
    /// ```
    pub fn iter(&self) -> Result<std::vec::IntoIter<T>> {
        Ok(self.to_vec()?.into_iter())
    }

    /// Takes the lock (interruptibly) and returns a guard that derefs to the slice.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Array;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let a = Array::<f64>::new(3)?;
    /// a.get_lock()?.fill(0.5);
    /// assert_eq!(a.to_vec()?, [0.5; 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_lock(&self) -> Result<ArrayGuard<'_, T>> {
        let cell = self.cell.get();
        let acquired = cell.lock.lock(&Deadline::forever())?;
        Ok(ArrayGuard { cell, acquired })
    }
}

/// Holds an [`Array`]'s lock; derefs (mutably) to its elements.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::Array;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let a = Array::from_slice(&[3, 1, 2])?;
/// a.get_lock()?.sort_unstable();
/// assert_eq!(a.to_vec()?, [1, 2, 3]);
/// # Ok(())
/// # }
/// ```
pub struct ArrayGuard<'a, T: Scalar> {
    cell: &'a Cell<T>,
    acquired: Acquired,
}

impl<T: Scalar> ArrayGuard<'_, T> {
    /// Whether the previous holder died holding the lock.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Array;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// assert!(!Array::<i32>::new(1)?.get_lock()?.recovered());
    /// # Ok(())
    /// # }
    /// ```
    pub fn recovered(&self) -> bool {
        self.acquired.is_recovered()
    }
}

impl<T: Scalar> std::ops::Deref for ArrayGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the guard holds the lock; the cell has room for `len` Ts
        // starting at `value`.
        unsafe { std::slice::from_raw_parts(self.cell.value.get(), self.cell.len) }
    }
}

impl<T: Scalar> std::ops::DerefMut for ArrayGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as above, and the lock makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.cell.value.get(), self.cell.len) }
    }
}

impl<T: Scalar> Drop for ArrayGuard<'_, T> {
    fn drop(&mut self) {
        let _ = self.cell.lock.unlock();
    }
}

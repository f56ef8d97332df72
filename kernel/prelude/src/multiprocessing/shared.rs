//! [`Value`] and [`Array`]: numbers in shared memory, guarded by a lock.

use super::{Acquired, Result};
use crate::interrupt::Deadline;
use crate::sys::shm::Shared;
use crate::sys::sync::RawMutex;
use std::cell::UnsafeCell;

mod sealed {
    pub trait Sealed {}
}

/// The plain number types (and `bool`) that can live in shared memory: every
/// bit pattern of zeros is valid, and they hold no pointers.
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

/// Waits for the lock without giving up on interrupts: get/set hold it for a
/// few instructions, so the wait is short unless a guard is held elsewhere.
fn lock_briefly(lock: &RawMutex) {
    while lock.lock(&Deadline::uninterruptible()).is_err() {
        std::thread::yield_now();
    }
}

/// A number in shared memory, like Python's `multiprocessing.Value`.
///
/// Cloning the handle (or moving it into a child process) shares the same
/// number. Each `get` and `set` takes the lock; use [`get_lock`](Value::get_lock)
/// to read-modify-write atomically:
///
/// ```no_run
/// use ferrokernel_prelude::multiprocessing::Value;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let balance = Value::<i32>::new(100)?;
/// *balance.get_lock()? -= 1;
/// assert_eq!(balance.get(), 99);
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

impl<T: Scalar> std::fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Value").field(&self.get()).finish()
    }
}

fn new_cell<T: Scalar>(len: usize, first: T) -> Result<Shared<Cell<T>>> {
    let extra = std::mem::size_of::<T>() * len.saturating_sub(1);
    let mut failed = None;
    // SAFETY: `at` is fresh zeroed memory for a Cell<T> plus room for `len` Ts;
    // we initialize every field (zeros are valid for scalars).
    let cell = unsafe {
        Shared::new_with(extra, |at: *mut Cell<T>| {
            if let Err(error) = RawMutex::init(std::ptr::addr_of_mut!((*at).lock), true) {
                failed = Some(error);
            }
            std::ptr::addr_of_mut!((*at).len).write(len);
            std::ptr::addr_of_mut!((*at).value).write(UnsafeCell::new(first));
        })?
    };
    match failed {
        Some(error) => Err(error),
        None => Ok(cell),
    }
}

impl<T: Scalar> Value<T> {
    /// A shared number holding `value`.
    pub fn new(value: T) -> Result<Value<T>> {
        Ok(Value {
            cell: new_cell(1, value)?,
        })
    }

    /// The current value.
    pub fn get(&self) -> T {
        let cell = self.cell.get();
        lock_briefly(&cell.lock);
        // SAFETY: we hold the lock.
        let value = unsafe { *cell.value.get() };
        let _ = cell.lock.unlock();
        value
    }

    /// Replaces the value.
    pub fn set(&self, value: T) {
        let cell = self.cell.get();
        lock_briefly(&cell.lock);
        // SAFETY: we hold the lock.
        unsafe { *cell.value.get() = value };
        let _ = cell.lock.unlock();
    }

    /// Takes the lock (interruptibly) and returns a guard that derefs to the
    /// number. The lock is recursive, like Python's default `RLock`.
    pub fn get_lock(&self) -> Result<ValueGuard<'_, T>> {
        let cell = self.cell.get();
        let acquired = cell.lock.lock(&Deadline::forever())?;
        Ok(ValueGuard { cell, acquired })
    }
}

/// Holds a [`Value`]'s lock; derefs (mutably) to the number.
pub struct ValueGuard<'a, T: Scalar> {
    cell: &'a Cell<T>,
    acquired: Acquired,
}

impl<T: Scalar> ValueGuard<'_, T> {
    /// Whether the previous holder died holding the lock.
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
/// `multiprocessing.Array`. Indexing past the end panics, as slices do.
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

impl<T: Scalar> std::fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.to_vec()).finish()
    }
}

impl<T: Scalar> Array<T> {
    /// `len` zeros.
    pub fn new(len: usize) -> Result<Array<T>> {
        // SAFETY: all-zero bits are a valid T for every Scalar.
        let zero: T = unsafe { std::mem::zeroed() };
        Ok(Array {
            cell: new_cell(len, zero)?,
        })
    }

    /// A copy of `values`.
    pub fn from_slice(values: &[T]) -> Result<Array<T>> {
        let array = Array::new(values.len())?;
        array.lock_slice().copy_from_slice(values);
        Ok(array)
    }

    /// How many elements.
    pub fn len(&self) -> usize {
        self.cell.get().len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock_slice(&self) -> ArrayGuard<'_, T> {
        let cell = self.cell.get();
        lock_briefly(&cell.lock);
        ArrayGuard {
            cell,
            acquired: Acquired::Clean,
        }
    }

    /// Element `index`.
    ///
    /// # Panics
    /// If `index >= len()`.
    pub fn get(&self, index: usize) -> T {
        self.lock_slice()[index]
    }

    /// Sets element `index`.
    ///
    /// # Panics
    /// If `index >= len()`.
    pub fn set(&self, index: usize, value: T) {
        self.lock_slice()[index] = value;
    }

    /// A copy of all elements.
    pub fn to_vec(&self) -> Vec<T> {
        self.lock_slice().to_vec()
    }

    /// Iterates over a snapshot of the elements.
    pub fn iter(&self) -> std::vec::IntoIter<T> {
        self.to_vec().into_iter()
    }

    /// Takes the lock (interruptibly) and returns a guard that derefs to the slice.
    pub fn get_lock(&self) -> Result<ArrayGuard<'_, T>> {
        let cell = self.cell.get();
        let acquired = cell.lock.lock(&Deadline::forever())?;
        Ok(ArrayGuard { cell, acquired })
    }
}

impl<T: Scalar> IntoIterator for &Array<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Holds an [`Array`]'s lock; derefs (mutably) to its elements.
pub struct ArrayGuard<'a, T: Scalar> {
    cell: &'a Cell<T>,
    acquired: Acquired,
}

impl<T: Scalar> ArrayGuard<'_, T> {
    /// Whether the previous holder died holding the lock.
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

//! The entry points a worker calls in a shipped library.
//!
//! A cluster call's function must capture nothing, so its type has no bytes:
//! a worker that loaded the same library can make the value out of nothing
//! and call it. `run_chunk::<F, C, T, R>` is instantiated in the caller's own
//! library (the cell's), next to `F`'s code; the kernel sends its offset from
//! the library's base, the worker adds its own base and calls it through
//! [`Entry`], a C ABI, so nothing of Rust's layout crosses between the
//! worker's standard library and the shipped one.

use super::library::{self, Place};

use crate::multiprocessing::pool::job::panic_text;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::ffi::c_void;
use std::panic::AssertUnwindSafe;

/// Where an entry point writes its output: `sink` is the worker's, handed back.
pub(crate) type Write = unsafe extern "C" fn(sink: *mut c_void, bytes: *const u8, len: usize);

/// An entry point: decodes the context `C` and the items `Vec<T>`, runs the
/// function on each and writes one encoded `Vec<Result<R, String>>` (a
/// panic's message per failed item). Returns 0, or 1 when the input did not
/// decode (the message is what it wrote then).
pub(crate) type Entry = unsafe extern "C" fn(
    context: *const u8,
    context_len: usize,
    items: *const u8,
    items_len: usize,
    sink: *mut c_void,
    write: Write,
) -> i32;

/// The message a function that captures something gets, at compile time.
pub(crate) const CAPTURES: &str = "a cluster runs only functions that capture nothing (fn items and \
     closures without captured variables): pass the data in the items, or share it with \
     map_with(&context, |context, item| ..., items)";

/// Fails to compile when `F` captures anything; see [`CAPTURES`]. A value
/// with no bytes and nothing to drop is what the worker can make out of
/// nothing (a closure capturing a zero-sized guard would be dropped there).
pub(crate) const fn assert_captures_nothing<F>() {
    assert!(
        std::mem::size_of::<F>() == 0 && !std::mem::needs_drop::<F>(),
        "{}",
        CAPTURES
    );
}

/// A function of one item, as a cluster runs it .
pub(crate) struct Plain<F>(pub(crate) F);
/// A function of a shared context and one item.
pub(crate) struct WithContext<F>(pub(crate) F);

/// What a worker calls per item; implemented by [`Plain`] and [`WithContext`].
pub(crate) trait Call<C, T, R> {
    fn call(&self, context: &C, item: T) -> R;
}

impl<F: Fn(T) -> R, T, R> Call<(), T, R> for Plain<F> {
    fn call(&self, _: &(), item: T) -> R {
        (self.0)(item)
    }
}

impl<F: Fn(&C, T) -> R, C, T, R> Call<C, T, R> for WithContext<F> {
    fn call(&self, context: &C, item: T) -> R {
        (self.0)(context, item)
    }
}

/// The entry point for `f.call(&context, item)` over a chunk of items.
pub(crate) unsafe extern "C" fn run_chunk<F, C, T, R>(
    context: *const u8,
    context_len: usize,
    items: *const u8,
    items_len: usize,
    sink: *mut c_void,
    write: Write,
) -> i32
where
    F: Call<C, T, R>,
    C: DeserializeOwned,
    T: DeserializeOwned,
    R: Serialize,
{
    const { assert_captures_nothing::<F>() };
    // SAFETY: the worker passes its own buffers with their lengths.
    let (context, items) = unsafe {
        (
            std::slice::from_raw_parts(context, context_len),
            std::slice::from_raw_parts(items, items_len),
        )
    };
    let emit = |bytes: &[u8]| {
        // SAFETY: `write` and `sink` come from the worker, which outlives the call.
        unsafe { write(sink, bytes.as_ptr(), bytes.len()) }
    };
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let context: C = postcard::from_bytes(context).map_err(|e| format!("context: {e}"))?;
        let items: Vec<T> = postcard::from_bytes(items).map_err(|e| format!("items: {e}"))?;
        // SAFETY: `F` has no bytes (checked above), so any value of it is the value.
        let f: F = unsafe { std::ptr::NonNull::<F>::dangling().as_ptr().read() };
        let results: Vec<Result<R, String>> = items
            .into_iter()
            .map(|item| {
                std::panic::catch_unwind(AssertUnwindSafe(|| f.call(&context, item)))
                    .map_err(|panic| panic_text(&panic))
            })
            .collect();
        postcard::to_allocvec(&results).map_err(|e| format!("results: {e}"))
    }));
    match outcome {
        Ok(Ok(bytes)) => {
            emit(&bytes);
            0
        }
        Ok(Err(message)) => {
            emit(message.as_bytes());
            1
        }
        Err(panic) => {
            emit(panic_text(&panic).as_bytes());
            1
        }
    }
}

/// Where a worker finds the entry point for `K` (which has no bytes).
pub(crate) fn place_of<K, C, T, R>() -> crate::error::Result<Place>
where
    K: Call<C, T, R>,
    C: DeserializeOwned,
    T: DeserializeOwned,
    R: Serialize,
{
    let entry: Entry = run_chunk::<K, C, T, R>;
    library::place_of(entry as usize)
}

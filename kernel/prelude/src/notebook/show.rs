//! How a cell's final value is shown: one compile instead of two.
//!
//! evcxr shows a cell's final expression by first compiling
//! `(expr).evcxr_display();` and, when that does not type-check (the usual case:
//! few types have such a method), compiling the cell a second time with a
//! `Debug` fallback. With one of these traits in scope the first attempt
//! succeeds for every `Debug` type, printing what the fallback would have.
//!
//! The method takes `&mut self` on purpose. Method lookup tries receivers in
//! the order `T`, `&T`, `&mut T`, so a type's own `evcxr_display(&self)` —
//! inherent, or from a trait such as an image crate's — is always found first
//! and wins; this blanket one only serves types without one. (A `&self` blanket
//! would be ambiguous with such traits and fall back to `Debug`, hiding the
//! picture.) The price: an immutable variable cannot be borrowed mutably, so
//! the kernel writes a final bare variable `v` as `(&v)`.
//!
//! The kernel imports exactly one of these under one name, following evcxr's
//! `:fmt`: [`Debug`] for `{:?}`, [`Pretty`] for `{:#?}`, and [`Off`] (which
//! no type implements, so evcxr's own fallback runs) for any other format or
//! with `:types` on.

use super::protocol;
use std::io::Write;

/// Prints `text` as the cell's `text/plain` value, in evcxr's block format,
/// after the [`protocol::VALUE`] marker that tells the kernel the block is the
/// value and not a display printed just before it.
fn send_text_plain(text: &str) {
    send_bundle(&[("text/plain", text)]);
}

/// Prints (MIME type, content) pairs as the cell's value: evcxr blocks, one
/// per type, after the [`protocol::VALUE`] marker (what widgets use).
#[cfg_attr(not(feature = "widgets"), allow(dead_code))]
pub(crate) fn send_bundle(bundle: &[(&str, &str)]) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let _ = writeln!(out, "{}", protocol::VALUE);
    for (mime, content) in bundle {
        let _ = writeln!(
            out,
            "{} {mime}\n{content}\n{}",
            protocol::BEGIN_CONTENT,
            protocol::END_CONTENT
        );
    }
    let _ = out.flush();
}

/// Shows a final value with `{:?}`, as evcxr does by default.
///
/// ```
/// use ferrokernel_prelude::notebook::show::Debug as _;
/// (40 + 2).evcxr_display(); // prints 42 in evcxr's text/plain block
/// ```
pub trait Debug {
    /// Prints the value as the cell's result.
    fn evcxr_display(&mut self);
}

impl<T: std::fmt::Debug + ?Sized> Debug for T {
    fn evcxr_display(&mut self) {
        send_text_plain(&format!("{self:?}"));
    }
}

/// Shows a final value with `{:#?}` (after `:fmt {:#?}`).
///
/// ```
/// use ferrokernel_prelude::notebook::show::Pretty as _;
/// vec![1, 2].evcxr_display(); // prints the vector one element per line
/// ```
pub trait Pretty {
    /// Prints the value as the cell's result.
    fn evcxr_display(&mut self);
}

impl<T: std::fmt::Debug + ?Sized> Pretty for T {
    fn evcxr_display(&mut self) {
        send_text_plain(&format!("{self:#?}"));
    }
}

/// Implemented by nothing: in scope under the kernel's name for the display
/// trait, it leaves showing final values to evcxr (any other `:fmt`, `:types`).
pub trait Off {
    /// Never called.
    fn evcxr_display(&mut self);
}

//! What a notebook cell uses to talk to the ferrokernel kernel: Python's
//! `input()` and `getpass()`, IPython's `display()` and `clear_output()`, a
//! tqdm-like [`progress`] bar, and the display of a cell's final value.
//!
//! Everything here writes lines to stdout in the [`protocol`] the kernel
//! understands (evcxr's conventions, plus a few marker lines of ferrokernel's
//! own), so it works in any process a cell started: a forked child's
//! `display_html` shows up in the cell like the parent's. Outside a kernel the
//! lines are printed as they are.
//!
//! Every cell sees these names without a `use`:
//!
//! ```
//! use ferrokernel_prelude::notebook::{display_html, display_markdown};
//! display_html("<b>bold</b>");
//! display_markdown("*emphasis*");
//! ```

mod display;
mod input;
mod progress;
/// The line protocol cells speak to the kernel (defined once, at the bottom
/// of the crate, where `sys` may use it too).
pub mod protocol {
    pub use crate::protocol::*;
}
mod runtime;
pub mod show;

pub use display::{DisplayHandle, clear_output, display, display_html, display_markdown};
pub use input::{getpass, input};
// For the timeline's SVG, which lives with multiprocessing.
#[cfg(feature = "multiprocessing")]
pub(crate) use progress::escape_html;
pub use progress::{Progress, progress};
pub use runtime::install_runtime;

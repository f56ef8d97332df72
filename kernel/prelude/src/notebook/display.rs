//! IPython's `display()` and `clear_output()`.

use super::protocol;
use std::io::Write;

/// Shows rich output now, like IPython's `display`: (MIME type, content)
/// pairs, the richest first; include `text/plain` for frontends that render
/// nothing else.
///
/// ```
/// use ferrokernel_prelude::notebook::display;
/// display(&[("image/svg+xml", "<svg xmlns='http://www.w3.org/2000/svg'/>"), ("text/plain", "a picture")]);
/// ```
pub fn display(bundle: &[(&str, &str)]) {
    print_line(&protocol::display_line(bundle));
}

/// Shows HTML now.
///
/// ```
/// ferrokernel_prelude::notebook::display_html("<b>bold</b>");
/// ```
pub fn display_html(html: &str) {
    display(&[("text/html", html), ("text/plain", html)]);
}

/// Shows Markdown now.
///
/// ```
/// ferrokernel_prelude::notebook::display_markdown("*emphasis*");
/// ```
pub fn display_markdown(markdown: &str) {
    display(&[("text/markdown", markdown), ("text/plain", markdown)]);
}

/// A display that can be replaced in place, like IPython's `DisplayHandle`
/// (`display(obj, display_id=True)`): JupyterLab redraws it where it was first
/// shown, without adding output. What [`progress`](super::progress) draws with.
///
/// ```
/// use ferrokernel_prelude::notebook::DisplayHandle;
/// let status = DisplayHandle::show(&[("text/plain", "working...")]);
/// status.update(&[("text/plain", "done")]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayHandle {
    id: String,
}

impl DisplayHandle {
    /// Shows `bundle` now, as [`display`] does, under a new display id.
    pub fn show(bundle: &[(&str, &str)]) -> DisplayHandle {
        let handle = DisplayHandle { id: new_id() };
        print_line(&protocol::display_id_line(&handle.id, bundle, false));
        handle
    }

    /// Replaces what the display shows.
    pub fn update(&self, bundle: &[(&str, &str)]) {
        print_line(&protocol::display_id_line(&self.id, bundle, true));
    }

    /// The display id (Jupyter's `transient.display_id`).
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// An id unique in the notebook: every cell carries its own copy of this
/// crate (and of the counter), so the process id and the time join it.
fn new_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("fk-{}-{nanos:x}-{n}", std::process::id())
}

/// Clears the cell's output; with `wait`, only when new output arrives (so an
/// animation does not flicker).
///
/// ```
/// ferrokernel_prelude::notebook::clear_output(true);
/// ```
pub fn clear_output(wait: bool) {
    let suffix = if wait { ":wait" } else { "" };
    print_line(&format!("{}{suffix}", protocol::CLEAR_OUTPUT));
}

/// One whole line, flushed: the kernel reads stdout line by line, and output of
/// a forked child must not sit in a buffer when the child exits.
fn print_line(line: &str) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

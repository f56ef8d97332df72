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

//! Lines the runtime side adds to the runtime's stdout so the engine can tell
//! what happened in a cell. Each starts with a record-separator character, which
//! ordinary program output does not contain.

/// Starts every marker line.
pub(crate) const PREFIX: &str = "\u{1e}FK:";
/// Followed by a line the cell wrote to stderr (the relay merges both streams).
pub(crate) const STDERR_LINE: &str = "\u{1e}FK:err:";
/// A `?` at the top level of the cell returned an error (evcxr said `EVCXR_ERROR_OCCURRED`).
pub(crate) const USER_ERROR: &str = "\u{1e}FK:user-error";
/// The cell panicked (evcxr said `EVCXR_PANIC_NOTIFICATION`).
pub(crate) const PANICKED: &str = "\u{1e}FK:panicked";
/// Followed by an escaped panic message, from the panic hook on the cell's thread.
pub(crate) const PANIC_MESSAGE: &str = "\u{1e}FK:panic:";

/// Followed by `mime\x1fcontent` pairs (joined by `\x1f`, contents escaped): a
/// `display_data` shown now, from `display()`.
pub(crate) const DISPLAY: &str = "\u{1e}FK:display:";
/// `clear_output()`: clear the cell's output (when `wait`, at the next output).
pub(crate) const CLEAR_OUTPUT: &str = "\u{1e}FK:clear_output";

/// evcxr's own line protocol, which the relay watches.
pub(crate) const EVCXR_EXECUTION_COMPLETE: &str = "EVCXR_EXECUTION_COMPLETE";
pub(crate) const EVCXR_ERROR_OCCURRED: &str = "EVCXR_ERROR_OCCURRED";
pub(crate) const EVCXR_PANIC_NOTIFICATION: &str = "EVCXR_PANIC_NOTIFICATION";

/// Undoes the escaping the panic hook applies (`\\` and `\n`) to keep a message on one line.
pub(crate) fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Decodes the `mime\x1fcontent\x1f...` payload of a [`DISPLAY`] line.
pub(crate) fn parse_display(payload: &str) -> crate::MimeBundle {
    let mut parts = payload.split('\u{1f}');
    let mut bundle = crate::MimeBundle::new();
    while let (Some(mime), Some(content)) = (parts.next(), parts.next()) {
        bundle.insert(mime.to_owned(), unescape(content));
    }
    bundle
}

#[cfg(test)]
mod tests {
    #[test]
    fn unescape_restores_newlines_and_backslashes() {
        assert_eq!(super::unescape(r"a\nb\\n"), "a\nb\\n");
    }

    #[test]
    fn display_payloads_decode_to_bundles() {
        let bundle = super::parse_display("text/html\u{1f}<b>x</b>\\n\u{1f}text/plain\u{1f}x");
        assert_eq!(bundle["text/html"], "<b>x</b>\n");
        assert_eq!(bundle["text/plain"], "x");
    }
}

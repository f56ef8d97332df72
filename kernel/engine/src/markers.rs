//! Lines on the runtime's stdout that tell the engine what happened in a cell.
//!
//! What cells print (display, clear_output, panics) follows the prelude's
//! [`protocol`](ferrokernel_prelude::notebook::protocol); the relay adds the
//! markers below. All start with a record-separator character, which ordinary
//! program output does not contain.

pub(crate) use ferrokernel_prelude::notebook::protocol::{
    BEGIN_CONTENT, CLEAR_OUTPUT, COMM, DISPLAY, DISPLAY_WITH_ID, END_CONTENT, PANIC_MESSAGE,
    PREFIX, RELAY_BLOCKS, UPDATE_DISPLAY, VALUE, escape, unescape,
};

/// Followed by a line the cell wrote to stderr (the relay merges both streams).
pub(crate) const STDERR_LINE: &str = "\u{1e}FK:err:";
/// A `?` at the top level of the cell returned an error (evcxr said `EVCXR_ERROR_OCCURRED`).
pub(crate) const USER_ERROR: &str = "\u{1e}FK:user-error";
/// The cell panicked (evcxr said `EVCXR_PANIC_NOTIFICATION`).
pub(crate) const PANICKED: &str = "\u{1e}FK:panicked";

/// Followed by `<mime>\x1f<escaped content>`: an evcxr display block
/// (`EVCXR_BEGIN_CONTENT <mime>` … `EVCXR_END_CONTENT`) the relay took out of
/// the stream, so that evcxr does not keep only the last one of each type.
pub(crate) const BLOCK: &str = "\u{1e}FK:block:";
/// The cell's code has returned (the relay saw `EVCXR_EXECUTION_COMPLETE`).
pub(crate) const CELL_END: &str = "\u{1e}FK:cell-end";

/// evcxr's own line protocol, which the relay watches.
pub(crate) const EVCXR_EXECUTION_COMPLETE: &str = "EVCXR_EXECUTION_COMPLETE";
pub(crate) const EVCXR_ERROR_OCCURRED: &str = "EVCXR_ERROR_OCCURRED";
pub(crate) const EVCXR_PANIC_NOTIFICATION: &str = "EVCXR_PANIC_NOTIFICATION";
/// Starts a cell's request for input (both the plain and the password kind).
pub(crate) const EVCXR_INPUT_REQUEST: &str = "EVCXR_INPUT_REQUEST";
/// Starts evcxr's notice that a variable changed type (and was lost).
pub(crate) const EVCXR_VARIABLE_CHANGED_TYPE: &str = "EVCXR_VARIABLE_CHANGED_TYPE:";

/// The marker line for a display block.
pub(crate) fn block_line(mime: &str, content: &str) -> String {
    format!("{BLOCK}{mime}\u{1f}{}", escape(content))
}

/// Decodes the payload of a [`BLOCK`] line: its MIME type and content.
pub(crate) fn parse_block(payload: &str) -> (String, String) {
    let (mime, content) = payload.split_once('\u{1f}').unwrap_or((payload, ""));
    (mime.to_owned(), unescape(content))
}

/// Decodes the payload of a [`DISPLAY_WITH_ID`] or [`UPDATE_DISPLAY`] line.
pub(crate) fn parse_display_id(payload: &str) -> (String, crate::MimeBundle) {
    let (id, pairs) = ferrokernel_prelude::notebook::protocol::parse_display_id(payload);
    (id, pairs.into_iter().collect())
}

/// Decodes the payload of a [`DISPLAY`] line into a bundle.
pub(crate) fn parse_display(payload: &str) -> crate::MimeBundle {
    ferrokernel_prelude::notebook::protocol::parse_display(payload)
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn relay_markers_share_the_prelude_prefix() {
        for marker in [
            super::STDERR_LINE,
            super::USER_ERROR,
            super::PANICKED,
            super::BLOCK,
            super::CELL_END,
        ] {
            assert!(marker.starts_with(super::PREFIX), "{marker:?}");
        }
    }

    #[test]
    fn blocks_round_trip_with_their_newlines() {
        let line = super::block_line("image/svg+xml", "<svg>\n</svg>");
        assert!(!line.contains('\n'));
        let payload = line.strip_prefix(super::BLOCK).expect("a block line");
        assert_eq!(
            super::parse_block(payload),
            ("image/svg+xml".to_owned(), "<svg>\n</svg>".to_owned())
        );
    }

    #[test]
    fn display_payloads_decode_to_bundles() {
        let bundle = super::parse_display("text/html\u{1f}<b>x</b>\\n\u{1f}text/plain\u{1f}x");
        assert_eq!(bundle["text/html"], "<b>x</b>\n");
        assert_eq!(bundle["text/plain"], "x");
    }
}

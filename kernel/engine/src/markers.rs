//! Lines on the runtime's stdout that tell the engine what happened in a cell.
//!
//! What cells print (display, clear_output, panics) follows the prelude's
//! [`protocol`](ferrokernel_prelude::notebook::protocol); the relay adds the
//! markers below. All start with a record-separator character, which ordinary
//! program output does not contain.

pub(crate) use ferrokernel_prelude::notebook::protocol::{
    CLEAR_OUTPUT, DISPLAY, PANIC_MESSAGE, PREFIX, unescape,
};

/// Followed by a line the cell wrote to stderr (the relay merges both streams).
pub(crate) const STDERR_LINE: &str = "\u{1e}FK:err:";
/// A `?` at the top level of the cell returned an error (evcxr said `EVCXR_ERROR_OCCURRED`).
pub(crate) const USER_ERROR: &str = "\u{1e}FK:user-error";
/// The cell panicked (evcxr said `EVCXR_PANIC_NOTIFICATION`).
pub(crate) const PANICKED: &str = "\u{1e}FK:panicked";

/// evcxr's own line protocol, which the relay watches.
pub(crate) const EVCXR_EXECUTION_COMPLETE: &str = "EVCXR_EXECUTION_COMPLETE";
pub(crate) const EVCXR_ERROR_OCCURRED: &str = "EVCXR_ERROR_OCCURRED";
pub(crate) const EVCXR_PANIC_NOTIFICATION: &str = "EVCXR_PANIC_NOTIFICATION";

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
        for marker in [super::STDERR_LINE, super::USER_ERROR, super::PANICKED] {
            assert!(marker.starts_with(super::PREFIX), "{marker:?}");
        }
    }

    #[test]
    fn display_payloads_decode_to_bundles() {
        let bundle = super::parse_display("text/html\u{1f}<b>x</b>\\n\u{1f}text/plain\u{1f}x");
        assert_eq!(bundle["text/html"], "<b>x</b>\n");
        assert_eq!(bundle["text/plain"], "x");
    }
}

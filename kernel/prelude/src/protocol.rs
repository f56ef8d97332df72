//! The line protocol between a cell and the kernel.
//!
//! A cell's stdout is read line by line. Lines starting with [`PREFIX`] (a
//! record separator, which ordinary output does not contain) are instructions
//! for the kernel and are not shown. evcxr's own conventions travel on the same
//! stream: `EVCXR_BEGIN_CONTENT <mime>` … `EVCXR_END_CONTENT` blocks (rich
//! output) and `EVCXR_INPUT_REQUEST:<prompt>` lines (input).

/// Starts every ferrokernel marker line.
pub const PREFIX: &str = "\u{1e}FK:";
/// Followed by `mime\x1fcontent` pairs joined by `\x1f`, contents escaped with
/// [`escape`]: rich output to show now (`display()`).
pub const DISPLAY: &str = "\u{1e}FK:display:";
/// Followed by a display id, `\x1f`, and the pairs of a [`DISPLAY`] line: rich
/// output to show now that later [`UPDATE_DISPLAY`] lines with that id replace
/// in place (Jupyter's `display_id`; what a progress bar uses).
pub const DISPLAY_WITH_ID: &str = "\u{1e}FK:display-id:";
/// Followed by a display id, `\x1f`, and the pairs of a [`DISPLAY`] line: new
/// content for the display shown with that id (`update_display_data`).
pub const UPDATE_DISPLAY: &str = "\u{1e}FK:update-display:";
/// Printed by the prelude's display traits just before they show a cell's
/// final value: the evcxr blocks that follow are the value, not a display.
pub const VALUE: &str = "\u{1e}FK:value";
/// Printed once by [`install_runtime`](crate::notebook::install_runtime): from here on
/// the kernel's output relay takes evcxr's display blocks out of the stream
/// (before, evcxr's own start-up evaluation must get its block back).
pub const RELAY_BLOCKS: &str = "\u{1e}FK:relay-blocks";
/// Followed by a process id: written by the prelude in the kernel's runtime
/// right after it forked that process, so the kernel can put the process's
/// output under the cell that started it.
pub const FORKED: &str = "\u{1e}FK:forked:";
/// Followed by a comm message as one line of JSON (`comm::CommMessage`):
/// a widget opened, changed or closed in the runtime.
pub const COMM: &str = "\u{1e}FK:comm:";
/// `clear_output()`; followed by `:wait` to clear only when new output arrives.
pub const CLEAR_OUTPUT: &str = "\u{1e}FK:clear_output";
/// Followed by an escaped panic message, from the panic hook on the cell's thread.
pub const PANIC_MESSAGE: &str = "\u{1e}FK:panic:";
/// evcxr's request for a line of input; the prompt follows, escaped with [`escape_prompt`].
pub const INPUT_REQUEST: &str = "EVCXR_INPUT_REQUEST";
/// evcxr's request for a line of input that is not echoed.
pub const INPUT_REQUEST_PASSWORD: &str = "EVCXR_INPUT_REQUEST_PASSWORD";
/// Opens an evcxr rich-output block; the MIME type follows after a space.
pub const BEGIN_CONTENT: &str = "EVCXR_BEGIN_CONTENT";
/// Closes an evcxr rich-output block.
pub const END_CONTENT: &str = "EVCXR_END_CONTENT";

/// Keeps a text on one line: `\` becomes `\\` and a newline `\n`.
pub fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Undoes [`escape`].
pub fn unescape(text: &str) -> String {
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

/// evcxr splits an input request at `:`, so a prompt's `%`, `:` and newlines
/// are percent-encoded.
pub fn escape_prompt(prompt: &str) -> String {
    prompt
        .replace('%', "%25")
        .replace(':', "%3A")
        .replace('\n', "%0A")
}

/// Undoes [`escape_prompt`].
pub fn unescape_prompt(prompt: &str) -> String {
    prompt
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%25", "%")
}

/// The marker line of a `display()` of these (MIME type, content) pairs.
pub fn display_line(bundle: &[(&str, &str)]) -> String {
    let pairs: Vec<String> = bundle
        .iter()
        .map(|(mime, content)| format!("{mime}\u{1f}{}", escape(content)))
        .collect();
    format!("{DISPLAY}{}", pairs.join("\u{1f}"))
}

/// The marker line of a display with `id` ([`DISPLAY_WITH_ID`]), or of an
/// update of it ([`UPDATE_DISPLAY`]) when `update`. An id holds no `\x1f`
/// and no newline; those are replaced by `_`.
pub fn display_id_line(id: &str, bundle: &[(&str, &str)], update: bool) -> String {
    let marker = if update {
        UPDATE_DISPLAY
    } else {
        DISPLAY_WITH_ID
    };
    let id = id.replace(['\u{1f}', '\n'], "_");
    let pairs = display_line(bundle);
    let pairs = pairs.strip_prefix(DISPLAY).unwrap_or_default();
    format!("{marker}{id}\u{1f}{pairs}")
}

/// Splits the payload of a [`DISPLAY_WITH_ID`] or [`UPDATE_DISPLAY`] line
/// into the id and its (MIME type, content) pairs.
pub fn parse_display_id(payload: &str) -> (String, Vec<(String, String)>) {
    match payload.split_once('\u{1f}') {
        Some((id, pairs)) => (id.to_owned(), parse_display(pairs)),
        None => (payload.to_owned(), Vec::new()),
    }
}

/// Decodes the payload of a [`DISPLAY`] line (what follows the marker) into
/// (MIME type, content) pairs.
pub fn parse_display(payload: &str) -> Vec<(String, String)> {
    let mut parts = payload.split('\u{1f}');
    let mut bundle = Vec::new();
    while let (Some(mime), Some(content)) = (parts.next(), parts.next()) {
        bundle.push((mime.to_owned(), unescape(content)));
    }
    bundle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_text_round_trips() {
        for text in ["a\nb", "back\\slash\\n", "", "\\", "x\n\n"] {
            assert_eq!(unescape(&escape(text)), text);
            assert!(!escape(text).contains('\n'));
        }
    }

    #[test]
    fn display_lines_round_trip() {
        let line = display_line(&[("text/html", "<b>x</b>\n"), ("text/plain", "x")]);
        let payload = line.strip_prefix(DISPLAY).expect("a display line");
        assert_eq!(
            parse_display(payload),
            vec![
                ("text/html".to_owned(), "<b>x</b>\n".to_owned()),
                ("text/plain".to_owned(), "x".to_owned())
            ]
        );
    }

    #[test]
    fn displays_with_ids_round_trip() {
        let line = display_id_line("bar\u{1f}1", &[("text/plain", "5/10\n")], false);
        let payload = line
            .strip_prefix(DISPLAY_WITH_ID)
            .expect("a display-id line");
        let (id, pairs) = parse_display_id(payload);
        assert_eq!(id, "bar_1");
        assert_eq!(pairs, vec![("text/plain".to_owned(), "5/10\n".to_owned())]);
        let update = display_id_line("bar", &[("text/plain", "6/10")], true);
        assert!(update.starts_with(UPDATE_DISPLAY) && !update.contains('\n'));
    }

    #[test]
    fn prompts_survive_evcxrs_colon_split() {
        let prompt = "Name: 100%\nnext";
        let escaped = escape_prompt(prompt);
        assert!(!escaped.contains(':') && !escaped.contains('\n'));
        assert_eq!(unescape_prompt(&escaped), prompt);
    }
}

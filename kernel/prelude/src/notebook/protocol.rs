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
    fn prompts_survive_evcxrs_colon_split() {
        let prompt = "Name: 100%\nnext";
        let escaped = escape_prompt(prompt);
        assert!(!escaped.contains(':') && !escaped.contains('\n'));
        assert_eq!(unescape_prompt(&escaped), prompt);
    }
}

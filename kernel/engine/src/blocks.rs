//! evcxr's display blocks, taken out of the runtime's stdout by the relay.
//!
//! A crate's `evcxr_display` prints `EVCXR_BEGIN_CONTENT <mime>`, the content,
//! and `EVCXR_END_CONTENT`. evcxr collects such blocks into one map per cell,
//! keeping the last of each MIME type and showing them after all text. The
//! relay sees every line first, so it turns each block into one [`BLOCK`]
//! marker line, in place: the engine's pump then shows each where it was
//! printed (see `pump`), and evcxr never sees a block.
//!
//! [`BLOCK`]: crate::markers::BLOCK

use crate::markers;

/// What the relay knows of the block being printed, if any.
#[derive(Debug, Default)]
pub(crate) struct Blocks {
    open: Option<(String, String)>,
}

/// evcxr's notices end a block the way evcxr itself does: what was collected
/// is kept, and the notice is handled.
fn is_notice(line: &str) -> bool {
    [
        markers::EVCXR_EXECUTION_COMPLETE,
        markers::EVCXR_ERROR_OCCURRED,
        markers::EVCXR_PANIC_NOTIFICATION,
    ]
    .iter()
    .any(|notice| line.ends_with(notice))
}

/// Where a block starts in `line`, and its MIME type (evcxr looks for
/// `EVCXR_BEGIN_CONTENT <mime>` anywhere in a line).
fn block_start(line: &str) -> Option<(usize, &str)> {
    let begin = line.find(markers::BEGIN_CONTENT)?;
    let mime = line[begin + markers::BEGIN_CONTENT.len()..]
        .strip_prefix(' ')?
        .split(' ')
        .next()
        .filter(|mime| !mime.is_empty())?;
    Some((begin, mime))
}

impl Blocks {
    /// Takes one stdout line (without its newline). Lines to write in its
    /// place go to `out`, to be written first; the return value is what is
    /// left to handle as an ordinary line after them (all of it, a part printed
    /// before a block began, or nothing).
    pub(crate) fn feed<'a>(&mut self, line: &'a str, out: &mut Vec<String>) -> Option<&'a str> {
        if let Some((_, content)) = &mut self.open {
            if line == markers::END_CONTENT {
                self.finish(out);
                return None;
            }
            if is_notice(line) {
                self.finish(out);
                return Some(line);
            }
            if !content.is_empty() {
                content.push('\n');
            }
            content.push_str(line);
            return None;
        }
        let Some((begin, mime)) = block_start(line) else {
            return Some(line);
        };
        self.open = Some((mime.to_owned(), String::new()));
        // A `print!` without newline ran into the block: that text is output.
        Some(&line[..begin]).filter(|before| !before.is_empty())
    }

    /// Ends the open block, if any (also when the runtime's output ends).
    pub(crate) fn finish(&mut self, out: &mut Vec<String>) {
        if let Some((mime, content)) = self.open.take() {
            out.push(markers::block_line(&mime, &content));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `lines`, returning what the relay writes (ordinary lines as they are).
    fn relay(lines: &[&str]) -> Vec<String> {
        let mut blocks = Blocks::default();
        let mut written = Vec::new();
        for line in lines {
            let mut out = Vec::new();
            let rest = blocks.feed(line, &mut out);
            written.extend(out);
            written.extend(rest.map(str::to_owned));
        }
        blocks.finish(&mut written);
        written
    }

    #[test]
    fn each_block_becomes_one_marker_line_in_place() {
        let written = relay(&[
            "before",
            "EVCXR_BEGIN_CONTENT text/html",
            "<b>one</b>",
            "<i>two lines</i>",
            "EVCXR_END_CONTENT",
            "between",
            "EVCXR_BEGIN_CONTENT image/svg+xml",
            "<svg/>",
            "EVCXR_END_CONTENT",
            "after",
        ]);
        assert_eq!(
            written,
            [
                "before".to_owned(),
                markers::block_line("text/html", "<b>one</b>\n<i>two lines</i>"),
                "between".to_owned(),
                markers::block_line("image/svg+xml", "<svg/>"),
                "after".to_owned(),
            ]
        );
    }

    #[test]
    fn text_printed_just_before_a_block_is_kept() {
        let written = relay(&[
            "partial EVCXR_BEGIN_CONTENT text/plain",
            "x",
            "EVCXR_END_CONTENT",
        ]);
        assert_eq!(
            written,
            [
                "partial ".to_owned(),
                markers::block_line("text/plain", "x")
            ]
        );
    }

    #[test]
    fn a_notice_or_the_end_of_output_closes_an_unfinished_block() {
        let written = relay(&[
            "EVCXR_BEGIN_CONTENT text/plain",
            "half",
            "EVCXR_PANIC_NOTIFICATION",
        ]);
        assert_eq!(
            written,
            [
                markers::block_line("text/plain", "half"),
                "EVCXR_PANIC_NOTIFICATION".to_owned()
            ]
        );
        let written = relay(&["EVCXR_BEGIN_CONTENT text/plain", "cut"]);
        assert_eq!(written, [markers::block_line("text/plain", "cut")]);
    }

    #[test]
    fn lines_that_only_look_like_blocks_stay_output() {
        let written = relay(&[
            "EVCXR_BEGIN_CONTENT",
            "EVCXR_BEGIN_CONTENTS x",
            "EVCXR_END_CONTENT",
        ]);
        assert_eq!(
            written,
            [
                "EVCXR_BEGIN_CONTENT",
                "EVCXR_BEGIN_CONTENTS x",
                "EVCXR_END_CONTENT"
            ]
        );
    }
}

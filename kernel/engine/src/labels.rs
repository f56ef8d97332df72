//! The marks under a source line, drawn as rustc draws them: every label of
//! the line on one underline row (`^` for the error, `-` for context), the
//! rightmost label's text at its end, the others below, each hanging from its
//! mark by a `|`:
//!
//! ```text
//! let x: i32 = "no";
//!        ---   ^^^^ expected `i32`, found `&str`
//!        |
//!        expected due to this
//! ```

use crate::Label;

const RED: &str = "\x1b[0;31m";
const BLUE: &str = "\x1b[0;34m";
const RESET: &str = "\x1b[0m";

/// The rows to print under the line (without the `N |` gutter).
pub(crate) fn draw(labels: &[Label]) -> Vec<String> {
    let mut sorted: Vec<&Label> = labels.iter().collect();
    sorted.sort_by_key(|label| (label.columns.0, !label.primary));
    sorted.dedup_by(|a, b| a == b);
    let Some(last) = sorted.last() else {
        return Vec::new();
    };
    let mut rows = vec![underline(&sorted, last)];
    // The others hang below, the rightmost first, each from its start column.
    let hanging: Vec<&Label> = sorted[..sorted.len() - 1]
        .iter()
        .copied()
        .filter(|label| !label.text.is_empty())
        .collect();
    for (index, label) in hanging.iter().enumerate().rev() {
        let connectors = |upto: usize| -> Row {
            let mut row = Row::default();
            for earlier in &hanging[..upto] {
                row.put(start(earlier), &paint(earlier, "|"));
            }
            row
        };
        rows.push(connectors(index + 1).finish());
        let mut row = connectors(index);
        row.put(start(label), &paint(label, &label.text));
        rows.push(row.finish());
    }
    rows
}

/// The underline row: every mark, then the last label's text.
fn underline(sorted: &[&Label], last: &Label) -> String {
    let mut row = Row::default();
    // Context first, so that an error's `^` wins where marks overlap.
    for label in sorted.iter().filter(|l| !l.primary) {
        row.put(start(label), &paint(label, &"-".repeat(len(label))));
    }
    for label in sorted.iter().filter(|l| l.primary) {
        row.put(start(label), &paint(label, &"^".repeat(len(label))));
    }
    let mut text = row.finish();
    if !last.text.is_empty() {
        text.push(' ');
        text.push_str(&paint(last, &last.text));
    }
    text
}

/// 0-based start column.
fn start(label: &Label) -> usize {
    label.columns.0.saturating_sub(1)
}

fn len(label: &Label) -> usize {
    label.columns.1.saturating_sub(label.columns.0).max(1)
}

fn paint(label: &Label, text: &str) -> String {
    let colour = if label.primary { RED } else { BLUE };
    format!("{colour}{text}{RESET}")
}

/// A row of text pieces placed at columns (pieces carry colour codes, so
/// columns are tracked separately from bytes).
#[derive(Default)]
struct Row {
    /// (column, visible width, text), in any order.
    pieces: Vec<(usize, usize, String)>,
}

impl Row {
    fn put(&mut self, column: usize, painted: &str) {
        let visible = strip_colours(painted).chars().count();
        // A later piece covering an earlier one replaces it.
        self.pieces
            .retain(|(c, w, _)| !(column <= *c && *c + *w <= column + visible));
        self.pieces.push((column, visible, painted.to_owned()));
    }

    fn finish(mut self) -> String {
        self.pieces.sort_by_key(|(column, _, _)| *column);
        let mut out = String::new();
        let mut at = 0;
        for (column, width, text) in self.pieces {
            if column < at {
                continue;
            }
            out.push_str(&" ".repeat(column - at));
            out.push_str(&text);
            at = column + width;
        }
        out
    }
}

fn strip_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(columns: (usize, usize), text: &str, primary: bool) -> Label {
        Label {
            columns,
            text: text.to_owned(),
            primary,
        }
    }

    fn plain(labels: &[Label]) -> Vec<String> {
        draw(labels).iter().map(|row| strip_colours(row)).collect()
    }

    #[test]
    fn two_labels_share_one_underline_row_like_rustc() {
        // let x: i32 = "no";
        let rows = plain(&[
            label((14, 18), "expected `i32`, found `&str`", true),
            label((8, 11), "expected due to this", false),
        ]);
        assert_eq!(
            rows,
            [
                "       ---   ^^^^ expected `i32`, found `&str`",
                "       |",
                "       expected due to this",
            ]
        );
    }

    #[test]
    fn three_labels_hang_from_their_marks_rightmost_first() {
        let rows = plain(&[
            label((1, 4), "a", false),
            label((7, 10), "b", false),
            label((13, 16), "c", true),
        ]);
        assert_eq!(rows, ["---   ---   ^^^ c", "|     |", "|     b", "|", "a"]);
    }

    #[test]
    fn a_single_label_and_labels_without_text() {
        assert_eq!(
            plain(&[label((9, 10), "not found", true)]),
            ["        ^ not found"]
        );
        assert_eq!(
            plain(&[label((1, 3), "", false), label((5, 6), "", true)]),
            ["--  ^"]
        );
        // The same label twice (rustc repeats some) is drawn once.
        assert_eq!(
            plain(&[label((2, 3), "x", true), label((2, 3), "x", true)]),
            [" ^ x"]
        );
        assert!(draw(&[]).is_empty());
    }
}

//! evcxr's compilation errors as our [`Diagnostic`]s, located in the cell.

use crate::{Diagnostic, DiagnosticLine, Label};

/// Converts evcxr's errors; `code` is the cell, for quoting its lines.
pub(super) fn from_evcxr(errors: &[evcxr::CompilationError], code: &str) -> Vec<Diagnostic> {
    let cell_lines: Vec<&str> = code.lines().collect();
    errors
        .iter()
        .map(|error| {
            let mut lines = Vec::new();
            let mut notes = Vec::new();
            for spanned in error.spanned_messages() {
                match &spanned.span {
                    Some(span) => {
                        let Some(text) = cell_lines.get(span.start_line.saturating_sub(1)) else {
                            continue;
                        };
                        let end = if span.end_line == span.start_line {
                            span.end_column
                        } else {
                            text.chars().count() + 1
                        };
                        let label = Label {
                            columns: (span.start_column, end.max(span.start_column + 1)),
                            text: spanned.label.clone(),
                            primary: spanned.is_primary,
                        };
                        add_label(&mut lines, span.start_line, text, label);
                    }
                    None if !spanned.label.is_empty() => notes.push(spanned.label.clone()),
                    None => {}
                }
            }
            notes.extend(error.help().into_iter().map(|help| format!("help: {help}")));
            Diagnostic {
                message: error.message(),
                code: error.code().map(str::to_owned),
                lines,
                notes,
            }
        })
        .collect()
}

/// Adds `label` to the line it marks: each line is shown once, with all its
/// labels, as rustc shows it.
fn add_label(lines: &mut Vec<DiagnosticLine>, number: usize, text: &str, label: Label) {
    match lines.iter_mut().find(|line| line.number == number) {
        Some(line) => line.labels.push(label),
        None => lines.push(DiagnosticLine {
            number,
            text: text.to_owned(),
            labels: vec![label],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_on_one_line_gather_under_it() {
        let mut lines = Vec::new();
        let label = |start, text: &str| Label {
            columns: (start, start + 2),
            text: text.to_owned(),
            primary: false,
        };
        add_label(&mut lines, 1, "let x: i32 = \"no\";", label(14, "expected"));
        add_label(&mut lines, 3, "x", label(1, "here"));
        add_label(
            &mut lines,
            1,
            "let x: i32 = \"no\";",
            label(8, "due to this"),
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].labels.len(), 2);
        assert_eq!(lines[1].number, 3);
    }
}

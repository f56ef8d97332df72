//! evcxr's compilation errors as our [`Diagnostic`]s, located in the cell.

use crate::{Diagnostic, DiagnosticLine};

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
                        lines.push(DiagnosticLine {
                            number: span.start_line,
                            text: (*text).to_owned(),
                            columns: (span.start_column, end.max(span.start_column + 1)),
                            label: spanned.label.clone(),
                        });
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

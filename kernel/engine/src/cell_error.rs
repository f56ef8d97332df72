use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a cell failed. Each variant renders as a Jupyter `error`: a name, a value and
/// a traceback a person can read.
#[derive(Debug, Clone, Error, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CellError {
    /// The cell did not compile.
    #[error("{}", first_message(.0))]
    Compile(Vec<Diagnostic>),
    /// A `:dep` line was refused (by cargo, or before it, for a key cargo
    /// would ignore); the diagnostic marks the refused part of the line.
    #[error("{}", .0.message)]
    Dependency(Diagnostic),
    /// The cell panicked.
    #[error("{message}")]
    Panic {
        /// The panic message.
        message: String,
    },
    /// A `?` at the top level of the cell returned an error.
    #[error("{message}")]
    UserError {
        /// The error, as its `Display` printed it.
        message: String,
    },
    /// The user interrupted the cell.
    #[error("{}", interrupted_message(*.runtime_restarted, .lost_variables))]
    Interrupted {
        /// The cell did not stop by itself, so its runtime was restarted.
        runtime_restarted: bool,
        /// Variables that were lost with the restarted runtime.
        lost_variables: Vec<String>,
    },
    /// The runtime process died (abort, segfault, killed); it was restarted.
    #[error("{}", crashed_message(.detail, .lost_variables))]
    RuntimeCrashed {
        /// What the runtime reported before dying, and how it died.
        detail: String,
        /// Variables that were lost with it.
        lost_variables: Vec<String>,
    },
    /// The runtime ran out of memory (past `FERROKERNEL_MEMORY_LIMIT`, or the
    /// machine's, when the kernel's OOM killer ended it); it was restarted.
    #[error("{}", crashed_message(.detail, .lost_variables))]
    OutOfMemory {
        /// What happened, in a sentence (with the limit, if there is one).
        detail: String,
        /// Variables that were lost with the runtime.
        lost_variables: Vec<String>,
    },
    /// The engine could not run the cell (a bad `:dep`, an unpersistable variable, ...).
    #[error("{0}")]
    Engine(String),
    /// The engine is not running (it failed to start or was shut down).
    #[error("the Rust engine is not available: {0}")]
    Unavailable(String),
}

/// One compiler diagnostic, located in the cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// e.g. `cannot find value `y` in this scope`.
    pub message: String,
    /// e.g. `E0425`.
    pub code: Option<String>,
    /// The cell lines the diagnostic points at, with their markers.
    pub lines: Vec<DiagnosticLine>,
    /// `help:` and `note:` texts.
    pub notes: Vec<String>,
}

/// A line of the cell a diagnostic points at, with everything it says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagnosticLine {
    /// 1-based line number in the cell.
    pub number: usize,
    /// The line's text.
    pub text: String,
    /// The marked parts of the line, in the order the compiler gave them.
    pub labels: Vec<Label>,
}

/// A marked part of a line and what the compiler says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// 1-based columns `[start, end)` of the marked part.
    pub columns: (usize, usize),
    /// What the compiler says (may be empty).
    pub text: String,
    /// The error itself (`^`), rather than context for it (`-`).
    pub primary: bool,
}

fn first_message(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .first()
        .map(|d| d.message.clone())
        .unwrap_or_else(|| "compilation failed".to_owned())
}

fn lost_note(lost: &[String]) -> String {
    if lost.is_empty() {
        "no variables were lost".to_owned()
    } else {
        format!("variables lost: {}", lost.join(", "))
    }
}

fn interrupted_message(restarted: bool, lost: &[String]) -> String {
    if restarted {
        format!(
            "the cell did not stop, so the Rust runtime was restarted ({})",
            lost_note(lost)
        )
    } else {
        "interrupted by the user; all variables were kept".to_owned()
    }
}

fn crashed_message(detail: &str, lost: &[String]) -> String {
    format!(
        "{}; the runtime was restarted ({})",
        detail.trim().lines().last().unwrap_or("the runtime died"),
        lost_note(lost)
    )
}

const BOLD_RED: &str = "\x1b[1;31m";
const BLUE: &str = "\x1b[0;34m";
const RESET: &str = "\x1b[0m";

impl CellError {
    /// The error's name, as Jupyter shows it (like Python's exception class).
    pub fn ename(&self) -> &'static str {
        match self {
            CellError::Compile(_) => "CompileError",
            CellError::Dependency(_) => "DependencyError",
            CellError::Panic { .. } => "Panic",
            CellError::UserError { .. } => "Error",
            CellError::Interrupted { .. } => "KeyboardInterrupt",
            CellError::RuntimeCrashed { .. } => "RuntimeCrashed",
            CellError::OutOfMemory { .. } => "MemoryError",
            CellError::Engine(_) => "EngineError",
            CellError::Unavailable(_) => "EngineUnavailable",
        }
    }

    /// The error's message.
    pub fn evalue(&self) -> String {
        self.to_string()
    }

    /// Lines for the notebook's error box, with ANSI colours like ipykernel's.
    pub fn traceback(&self) -> Vec<String> {
        match self {
            CellError::Compile(diagnostics) => diagnostics.iter().flat_map(render).collect(),
            CellError::Dependency(diagnostic) => render(diagnostic),
            CellError::RuntimeCrashed { detail, .. } => {
                let mut lines = vec![format!(
                    "{BOLD_RED}{}{RESET}: {}",
                    self.ename(),
                    self.evalue()
                )];
                lines.extend(detail.lines().map(str::to_owned));
                lines
            }
            _ => vec![format!(
                "{BOLD_RED}{}{RESET}: {}",
                self.ename(),
                self.evalue()
            )],
        }
    }
}

/// Renders a diagnostic the way rustc does, with cell line numbers.
fn render(diagnostic: &Diagnostic) -> Vec<String> {
    let code = diagnostic
        .code
        .as_ref()
        .map(|c| format!("[{c}]"))
        .unwrap_or_default();
    let mut out = vec![format!(
        "{BOLD_RED}error{code}{RESET}: {}",
        diagnostic.message
    )];
    let width = diagnostic
        .lines
        .iter()
        .map(|l| l.number.to_string().len())
        .max()
        .unwrap_or(1);
    for line in &diagnostic.lines {
        out.push(format!(
            "{BLUE}{:>width$} |{RESET} {}",
            line.number, line.text
        ));
        for marks in crate::labels::draw(&line.labels) {
            out.push(format!("{BLUE}{:>width$} |{RESET} {marks}", ""));
        }
    }
    out.extend(
        diagnostic
            .notes
            .iter()
            .map(|note| format!("{BLUE}={RESET} {note}")),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compile_errors_show_the_cell_line_and_the_message() {
        let error = CellError::Compile(vec![Diagnostic {
            message: "cannot find value `y` in this scope".into(),
            code: Some("E0425".into()),
            lines: vec![DiagnosticLine {
                number: 2,
                text: "let z = y + 1;".into(),
                labels: vec![Label {
                    columns: (9, 10),
                    text: "not found in this scope".into(),
                    primary: true,
                }],
            }],
            notes: vec![],
        }]);
        assert_eq!(error.ename(), "CompileError");
        assert_eq!(error.evalue(), "cannot find value `y` in this scope");
        let traceback = error.traceback().join("\n");
        assert!(traceback.contains("error[E0425]"), "{traceback}");
        assert!(
            traceback.contains("2 |\x1b[0m let z = y + 1;"),
            "{traceback}"
        );
        assert!(
            traceback.contains("        \x1b[0;31m^\x1b[0m \x1b[0;31mnot found"),
            "{traceback}"
        );
    }

    #[test]
    fn a_line_with_two_labels_is_shown_once() {
        let label = |columns, text: &str, primary| Label {
            columns,
            text: text.into(),
            primary,
        };
        let error = CellError::Compile(vec![Diagnostic {
            message: "mismatched types".into(),
            code: Some("E0308".into()),
            lines: vec![DiagnosticLine {
                number: 1,
                text: "let x: i32 = \"no\";".into(),
                labels: vec![
                    label((14, 18), "expected `i32`, found `&str`", true),
                    label((8, 11), "expected due to this", false),
                ],
            }],
            notes: vec![],
        }]);
        let traceback = error.traceback().join("\n");
        assert_eq!(traceback.matches("let x: i32").count(), 1, "{traceback}");
        assert!(traceback.contains("expected due to this"), "{traceback}");
    }

    #[test]
    fn restart_messages_name_lost_variables() {
        let error = CellError::Interrupted {
            runtime_restarted: true,
            lost_variables: vec!["q".into(), "v".into()],
        };
        assert!(error.evalue().contains("variables lost: q, v"));
        let kept = CellError::Interrupted {
            runtime_restarted: false,
            lost_variables: vec![],
        };
        assert!(kept.evalue().contains("all variables were kept"));
    }
}

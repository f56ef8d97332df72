//! Whether a cell ends in an expression, as evcxr decides it: only then is the
//! last display bundle the cell printed its value (see `pump`).

use ra_ap_syntax::{AstNode, Edition, SourceFile, ast};

/// True when the cell's last statement is an expression without `;`, which
/// evcxr shows as the cell's value. The cell's leading `:` commands are
/// skipped, as evcxr runs them before the code.
pub(super) fn ends_in_expression(code: &str) -> bool {
    let body = code_after_commands(code);
    // The way evcxr splits a cell: as the body of a function.
    let wrapped = format!("fn f(){{{body}\n}}");
    let parsed = SourceFile::parse(&wrapped, Edition::Edition2024);
    let last = parsed
        .tree()
        .syntax()
        .children()
        .next()
        .and_then(ast::Fn::cast)
        .and_then(|function| function.body())
        .and_then(|body| body.stmt_list())
        .and_then(|statements| statements.syntax().children().last());
    last.is_some_and(|node| ast::Expr::can_cast(node.kind()))
}

/// The cell from its first line of code on (evcxr's commands come first).
fn code_after_commands(code: &str) -> &str {
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let trimmed = line.trim_start_matches(' ');
        let skipped = trimmed.starts_with(':') || line.trim().is_empty();
        if !skipped {
            break;
        }
        offset += line.len();
    }
    &code[offset..]
}

#[cfg(test)]
mod tests {
    use super::ends_in_expression;

    #[test]
    fn expressions_end_cells_statements_and_items_do_not() {
        for code in [
            "42",
            "let x = 1;\nx + 1",
            "for i in 0..3 { println!(\"{i}\"); }",
            ":dep foo = \"1\"\nfoo::bar()",
            "draw(); chart // the chart",
            "(&v)",
        ] {
            assert!(ends_in_expression(code), "{code}");
        }
        for code in [
            "let x = 1;",
            "println!(\"x\");",
            "fn f() -> i32 { 1 }",
            "42;\n// 7",
            ":dep foo = \"1\"",
            "",
            "use std::fmt;",
        ] {
            assert!(!ends_in_expression(code), "{code}");
        }
    }
}

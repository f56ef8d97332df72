//! A cell's final expression, as evcxr sees it: whether there is one (only
//! then is the last display bundle the cell printed its value, see `pump`),
//! and, for the display trait, whether it is a place to borrow.
//!
//! The prelude's display trait takes `&mut self` (so a type's own
//! `evcxr_display(&self)` always wins; see `ferrokernel_prelude::notebook::show`).
//! A final *place* expression — `v`, `p.x`, `v[0]`, `*r` — of an immutable
//! binding cannot be borrowed mutably; a reference to it can, and shows the
//! same. So such an expression is written `(&v)`. Anything else (calls,
//! literals, blocks, a cell without a final expression, code that does not
//! parse) is left as it is.

use crate::cell_commands;
use ra_ap_syntax::ast;
use ra_ap_syntax::{AstNode, Edition, SourceFile};

/// The cell with its final place expression borrowed, or `None` to leave it.
pub(super) fn borrow_final_place(code: &str) -> Option<String> {
    let (start, end) = final_place(code)?;
    Some(format!("{}(&{})", &code[..start], &code[start..end]) + &code[end..])
}

/// Byte range of the cell's final expression, if it is a place expression.
fn final_place(code: &str) -> Option<(usize, usize)> {
    let masked = mask_commands(code);
    const OPEN: &str = "fn cell() {\n";
    let wrapped = format!("{OPEN}{masked}\n}}");
    let parsed = SourceFile::parse(&wrapped, Edition::Edition2024);
    if !parsed.errors().is_empty() {
        return None;
    }
    let function = parsed
        .tree()
        .syntax()
        .descendants()
        .find_map(ast::Fn::cast)?;
    let tail = function.body()?.stmt_list()?.tail_expr()?;
    if !is_place(&tail) {
        return None;
    }
    let range = tail.syntax().text_range();
    let start = usize::from(range.start()).checked_sub(OPEN.len())?;
    let end = usize::from(range.end()).checked_sub(OPEN.len())?;
    (end <= code.len()).then_some((start, end))
}

fn is_place(expr: &ast::Expr) -> bool {
    match expr {
        ast::Expr::PathExpr(_) | ast::Expr::FieldExpr(_) | ast::Expr::IndexExpr(_) => true,
        ast::Expr::PrefixExpr(prefix) => prefix.op_kind() == Some(ast::UnaryOp::Deref),
        ast::Expr::ParenExpr(paren) => paren.expr().is_some_and(|inner| is_place(&inner)),
        // Calls, literals, operators and blocks are values already.
        _ => false,
    }
}

/// True when the cell's last statement is an expression without `;`, which
/// evcxr shows as the cell's value (leading `:` commands skipped).
pub(super) fn ends_in_expression(code: &str) -> bool {
    // The way evcxr splits a cell: as the body of a function.
    let wrapped = format!("fn cell() {{\n{}\n}}", mask_commands(code));
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

/// evcxr's leading `:command` lines, blanked (same length, so offsets hold).
fn mask_commands(code: &str) -> String {
    let mut masked = String::with_capacity(code.len());
    let mut rest = 0;
    for line in cell_commands::leading_lines(code) {
        if line.command().is_some() {
            masked.extend(
                line.line
                    .chars()
                    .map(|c| if c == '\n' { '\n' } else { ' ' }),
            );
        } else {
            masked.push_str(line.line);
        }
        rest = line.start + line.line.len();
    }
    masked.push_str(&code[rest..]);
    masked
}

#[cfg(test)]
mod tests {
    use super::{borrow_final_place, ends_in_expression};

    #[test]
    fn final_place_expressions_are_borrowed() {
        for (cell, expected) in [
            ("v", "(&v)"),
            ("let a = 5; a", "let a = 5; (&a)"),
            (
                "let p = P { x: 1 };\np.x\n",
                "let p = P { x: 1 };\n(&p.x)\n",
            ),
            ("v[0]", "(&v[0])"),
            ("*r", "(&*r)"),
            ("if c { f(); } total_2  ", "if c { f(); } (&total_2)  "),
            (":fmt {:#?}\nv", ":fmt {:#?}\n(&v)"),
            ("std::f64::consts::PI", "(&std::f64::consts::PI)"),
        ] {
            assert_eq!(
                borrow_final_place(cell).as_deref(),
                Some(expected),
                "{cell}"
            );
        }
    }

    #[test]
    fn values_statements_and_broken_code_are_left_alone() {
        for cell in [
            "1 + 1",
            "f(v)",
            "v.len()",
            "v;",
            "let x = 1;",
            "\"abc\"",
            "{ v }",
            "x as u8",
            "let x = ",
            "// v",
            "fn f() {}",
            "for i in 0..3 {}",
        ] {
            assert_eq!(borrow_final_place(cell), None, "{cell}");
        }
    }

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

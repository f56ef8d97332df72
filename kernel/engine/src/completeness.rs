//! Is a cell ready to run? A small Rust lexer that tracks brackets, strings and
//! comments, for `is_complete_request` (consoles ask before running on Enter).

/// The verdict on a piece of code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completeness {
    /// It can run as it is.
    Complete,
    /// More lines are expected; the next line should start with this indent.
    Incomplete {
        /// Spaces for the next line.
        indent: String,
    },
    /// No amount of extra lines can fix it (e.g. a stray closing bracket).
    Invalid,
}

/// Decides whether `code` is complete, incomplete (open brackets, strings or
/// comments, or a trailing operator) or invalid (mismatched brackets).
pub fn check(code: &str) -> Completeness {
    let chars: Vec<char> = code.chars().collect();
    let mut open: Vec<char> = Vec::new();
    let mut last_token = LastToken::None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            // An evcxr command (`:dep ...`) occupies its whole line.
            ':' if at_line_start(&chars, i) && open.is_empty() => {
                i = skip_line(&chars, i);
                last_token = LastToken::Other;
                continue;
            }
            '/' if next == Some('/') => {
                i = skip_line(&chars, i);
                continue;
            }
            '/' if next == Some('*') => match skip_block_comment(&chars, i) {
                Some(end) => {
                    i = end;
                    continue;
                }
                None => return incomplete(open.len()),
            },
            '"' => match skip_string(&chars, i + 1) {
                Some(end) => {
                    i = end;
                    last_token = LastToken::Other;
                    continue;
                }
                None => return incomplete(open.len()),
            },
            'r' | 'b' | 'c' if starts_raw_string(&chars, i) => match skip_raw_string(&chars, i) {
                Some(end) => {
                    i = end;
                    last_token = LastToken::Other;
                    continue;
                }
                None => return incomplete(open.len()),
            },
            '\'' => {
                i = skip_char_or_lifetime(&chars, i);
                last_token = LastToken::Other;
                continue;
            }
            '(' | '[' | '{' => {
                open.push(c);
                last_token = LastToken::Other;
            }
            ')' | ']' | '}' => {
                let expected = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if open.pop() != Some(expected) {
                    return Completeness::Invalid;
                }
                last_token = LastToken::Other;
            }
            c if c.is_whitespace() => {}
            '=' | '+' | '-' | '*' | '/' | '%' | '&' | '|' | '^' | '<' | '>' | '!' | '.' | ',' => {
                last_token = if c == '>' && matches!(last_token, LastToken::Operator('-' | '=')) {
                    // `->` and `=>` expect what follows them just the same.
                    LastToken::Operator('>')
                } else {
                    LastToken::Operator(c)
                };
            }
            _ => last_token = LastToken::Other,
        }
        i += 1;
    }
    if !open.is_empty() {
        return incomplete(open.len());
    }
    match last_token {
        // `a.b` chains and binary operators need a right-hand side; `!`, `>` and
        // `<` end valid code too often (macros, generics) to count.
        LastToken::Operator(c) if "=+-*/%&|^.,".contains(c) => incomplete(0),
        _ => Completeness::Complete,
    }
}

#[derive(Clone, Copy)]
enum LastToken {
    None,
    Operator(char),
    Other,
}

fn incomplete(depth: usize) -> Completeness {
    Completeness::Incomplete {
        indent: "    ".repeat(depth.max(1)),
    }
}

fn at_line_start(chars: &[char], i: usize) -> bool {
    chars[..i]
        .iter()
        .rev()
        .take_while(|c| **c != '\n')
        .all(|c| c.is_whitespace())
}

fn skip_line(chars: &[char], i: usize) -> usize {
    chars[i..]
        .iter()
        .position(|c| *c == '\n')
        .map_or(chars.len(), |p| i + p + 1)
}

/// Block comments nest in Rust.
fn skip_block_comment(chars: &[char], start: usize) -> Option<usize> {
    let mut depth = 0;
    let mut i = start;
    while i + 1 < chars.len() {
        match (chars[i], chars[i + 1]) {
            ('/', '*') => {
                depth += 1;
                i += 2;
            }
            ('*', '/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// Skips a string body starting after its opening quote; returns the index after the closing quote.
fn skip_string(chars: &[char], mut i: usize) -> Option<usize> {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `r"`, `r#"`, `br"`, `cr#"`... at the start of a token.
fn starts_raw_string(chars: &[char], i: usize) -> bool {
    if i > 0 && is_ident_char(chars[i - 1]) {
        return false;
    }
    let mut j = i;
    if matches!(chars[j], 'b' | 'c') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return false;
    }
    j += 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    chars.get(j) == Some(&'"')
}

fn skip_raw_string(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start;
    while chars[i] != '#' && chars[i] != '"' {
        i += 1;
    }
    let hashes = chars[i..].iter().take_while(|c| **c == '#').count();
    i += hashes + 1;
    while i < chars.len() {
        if chars[i] == '"'
            && chars[i + 1..]
                .iter()
                .take(hashes)
                .filter(|c| **c == '#')
                .count()
                == hashes
        {
            return Some(i + 1 + hashes);
        }
        i += 1;
    }
    None
}

/// `'a'` and `'\n'` are chars; `'a` is a lifetime or label.
fn skip_char_or_lifetime(chars: &[char], i: usize) -> usize {
    match (chars.get(i + 1), chars.get(i + 2)) {
        (Some('\\'), _) => {
            let mut j = i + 2;
            while j < chars.len() && chars[j] != '\'' && chars[j] != '\n' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            j + 1
        }
        (Some(_), Some('\'')) => i + 3,
        _ => i + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indent(n: usize) -> Completeness {
        Completeness::Incomplete {
            indent: " ".repeat(n),
        }
    }

    #[test]
    fn open_blocks_are_incomplete_with_an_indent() {
        assert_eq!(check("fn f() {"), indent(4));
        assert_eq!(check("fn f() {\n    if x {"), indent(8));
        assert_eq!(check("let v = vec![1,\n2,"), indent(4));
        assert_eq!(check("let s = \"abc"), indent(4));
        assert_eq!(check("/* comment"), indent(4));
        assert_eq!(check("let x = 1 +"), indent(4));
        assert_eq!(check("let x ="), indent(4));
    }

    #[test]
    fn finished_code_is_complete() {
        assert_eq!(check("fn f() {}"), Completeness::Complete);
        assert_eq!(check("let x = 1;"), Completeness::Complete);
        assert_eq!(check("println!(\"}}{{\");"), Completeness::Complete);
        assert_eq!(check("let c = '{';"), Completeness::Complete);
        assert_eq!(
            check("fn f<'a>(x: &'a str) -> &'a str { x }"),
            Completeness::Complete
        );
        assert_eq!(check("let s = r#\"a \" { b\"#;"), Completeness::Complete);
        assert_eq!(check("// just { a comment"), Completeness::Complete);
        assert_eq!(
            check("/* a /* nested */ comment */ 1"),
            Completeness::Complete
        );
        assert_eq!(
            check(":dep rand = { version = \"0.8\""),
            Completeness::Complete
        );
        assert_eq!(
            check("let v: Vec<i32> = Vec::new()"),
            Completeness::Complete
        );
        assert_eq!(check(""), Completeness::Complete);
    }

    #[test]
    fn stray_closers_are_invalid() {
        assert_eq!(check("}"), Completeness::Invalid);
        assert_eq!(check("fn f() { )"), Completeness::Invalid);
    }
}

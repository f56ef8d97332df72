//! nbval's sanitize files: `regex:` / `replace:` line pairs (grouped in
//! `[sections]` for readability), applied to every output before comparing.

use regex::Regex;
use std::path::Path;
use thiserror::Error;

/// Why a sanitize file was rejected.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SanitizeError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A pattern is not a valid regular expression.
    #[error("{path}: invalid regex {pattern:?}: {source}")]
    Regex {
        /// The file.
        path: String,
        /// The pattern.
        pattern: String,
        /// The regex compiler's complaint.
        source: regex::Error,
    },
}

/// Replacements applied in file order.
#[derive(Debug, Default, Clone)]
pub struct Sanitizer {
    rules: Vec<(Regex, String)>,
}

impl Sanitizer {
    /// Reads a sanitize file.
    pub fn from_file(path: &Path) -> Result<Sanitizer, SanitizeError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SanitizeError::Io {
            path: name.clone(),
            source,
        })?;
        Sanitizer::parse(&text, &name)
    }

    /// Parses the text of a sanitize file; as in nbval, a `regex:` line counts
    /// only when the next line is its `replace:`.
    pub fn parse(text: &str, name: &str) -> Result<Sanitizer, SanitizeError> {
        let lines: Vec<&str> = text.lines().collect();
        let mut rules = Vec::new();
        for pair in lines.windows(2) {
            let (Some(pattern), Some(replace)) = (
                pair[0].strip_prefix("regex: "),
                pair[1].strip_prefix("replace: "),
            ) else {
                continue;
            };
            let regex =
                Regex::new(&format!("(?m){pattern}")).map_err(|source| SanitizeError::Regex {
                    path: name.to_owned(),
                    pattern: pattern.to_owned(),
                    source,
                })?;
            rules.push((regex, python_replacement(replace)));
        }
        Ok(Sanitizer { rules })
    }

    /// Applies every rule to `text`.
    pub fn apply(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (regex, replace) in &self.rules {
            text = regex.replace_all(&text, replace.as_str()).into_owned();
        }
        text
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// Python's `re.sub` replacement syntax (`\1`, `\g<name>`) in the `regex` crate's (`${1}`).
fn python_replacement(replace: &str) -> String {
    let mut out = String::new();
    let mut chars = replace.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut group = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        group.push(d);
                        chars.next();
                    }
                    out.push_str(&format!("${{{group}}}"));
                }
                Some('g') => {
                    chars.next();
                    let name: String = chars.by_ref().skip(1).take_while(|c| *c != '>').collect();
                    out.push_str(&format!("${{{name}}}"));
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_pairs_in_order_with_python_group_syntax() {
        let file = "[pids]\nregex: pid \\d+\nreplace: pid PID\n\n[swap]\nregex: (\\w+)=(\\w+)\nreplace: \\2=\\1 costs $5\n\nregex: orphan\n";
        let sanitizer = Sanitizer::parse(file, "test.cfg").expect("valid");
        assert_eq!(sanitizer.len(), 2);
        assert_eq!(sanitizer.apply("pid 4242 a=b"), "pid PID b=a costs $5");
    }

    #[test]
    fn bad_patterns_are_reported() {
        assert!(matches!(
            Sanitizer::parse("regex: (\nreplace: x\n", "bad.cfg"),
            Err(SanitizeError::Regex { .. })
        ));
    }
}

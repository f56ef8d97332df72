//! Comparing a cell's new outputs with its stored ones, the way nbval does:
//! streams are merged per name, rich outputs are flattened by MIME type, and
//! what is known to vary (metadata, tracebacks, execution counts) is ignored.
//! Images are compared by presence only; text is sanitized first.

use super::format::Output;
use super::sanitize::Sanitizer;
use serde_json::Value;
use std::collections::BTreeMap;

/// One difference between stored and new outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The stored outputs have kinds the new run did not produce.
    Missing(Vec<String>),
    /// The new run produced kinds the stored outputs do not have.
    Unexpected(Vec<String>),
    /// Both have `key`, but with different values.
    Differs {
        /// stdout, stderr, a MIME type, ename or evalue.
        key: String,
        /// The stored values, one per output.
        expected: Vec<String>,
        /// The new values.
        actual: Vec<String>,
    },
}

impl Mismatch {
    /// A readable account, with a line diff for differing text.
    pub fn render(&self) -> String {
        match self {
            Mismatch::Missing(keys) => format!("missing output: {}", keys.join(", ")),
            Mismatch::Unexpected(keys) => format!("unexpected output: {}", keys.join(", ")),
            Mismatch::Differs {
                key,
                expected,
                actual,
            } => {
                let expected = expected.join("\n");
                let actual = actual.join("\n");
                let diff = similar::TextDiff::from_lines(&expected, &actual);
                let mut out = format!("{key} differs (- stored, + new):\n");
                for change in diff.iter_all_changes() {
                    let sign = match change.tag() {
                        similar::ChangeTag::Delete => '-',
                        similar::ChangeTag::Insert => '+',
                        similar::ChangeTag::Equal => ' ',
                    };
                    out.push(sign);
                    out.push_str(change.value());
                    if !change.value().ends_with('\n') {
                        out.push('\n');
                    }
                }
                out
            }
        }
    }
}

/// Compares new outputs with stored ones; empty when they agree.
pub fn compare(expected: &[Output], actual: &[Output], sanitizer: &Sanitizer) -> Vec<Mismatch> {
    let expected = flatten(expected, sanitizer);
    let actual = flatten(actual, sanitizer);
    let missing: Vec<String> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return vec![Mismatch::Missing(missing)];
    }
    let unexpected: Vec<String> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .cloned()
        .collect();
    if !unexpected.is_empty() {
        return vec![Mismatch::Unexpected(unexpected)];
    }
    expected
        .into_iter()
        .filter_map(|(key, expected)| {
            let actual = actual.get(&key).cloned().unwrap_or_default();
            (expected != actual).then_some(Mismatch::Differs {
                key,
                expected,
                actual,
            })
        })
        .collect()
}

/// Keys that never take part (model ids are random).
const SKIPPED_MIME: &[&str] = &["application/vnd.jupyter.widget-view+json"];

fn flatten(outputs: &[Output], sanitizer: &Sanitizer) -> BTreeMap<String, Vec<String>> {
    let mut flat: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut push = |key: &str, value: String| flat.entry(key.to_owned()).or_default().push(value);
    for (name, text) in merged_streams(outputs) {
        push(&name, sanitizer.apply(&text));
    }
    for output in outputs {
        match output {
            Output::Stream { .. } => {}
            Output::DisplayData { data, .. } | Output::ExecuteResult { data, .. } => {
                for (mime, value) in data {
                    if SKIPPED_MIME.contains(&mime.as_str()) {
                        continue;
                    }
                    let text = if mime.starts_with("image/") {
                        "<image>".to_owned()
                    } else {
                        sanitizer.apply(&value_text(value))
                    };
                    push(mime, text);
                }
            }
            Output::Error { ename, evalue, .. } => {
                push("ename", sanitizer.apply(ename));
                push("evalue", sanitizer.apply(evalue));
            }
        }
    }
    flat
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(lines) if lines.iter().all(Value::is_string) => {
            lines.iter().filter_map(Value::as_str).collect()
        }
        other => other.to_string(),
    }
}

/// All text of each stream name, in first-appearance order, with carriage
/// returns and backspaces applied as a terminal would.
fn merged_streams(outputs: &[Output]) -> Vec<(String, String)> {
    let mut streams: Vec<(String, String)> = Vec::new();
    for output in outputs {
        if let Output::Stream { name, text } = output {
            match streams.iter_mut().find(|(n, _)| n == name) {
                Some((_, merged)) => merged.push_str(&text.0),
                None => streams.push((name.clone(), text.0.clone())),
            }
        }
    }
    for (_, text) in &mut streams {
        *text = apply_control_characters(text);
    }
    streams
}

fn apply_control_characters(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let (body, newline) = match line.strip_suffix('\n') {
                Some(body) => (body, "\n"),
                None => (line, ""),
            };
            // What follows the last carriage return overwrites the line.
            let body = body.rsplit('\r').next().unwrap_or(body);
            let mut kept = String::new();
            for c in body.chars() {
                if c == '\u{8}' {
                    kept.pop();
                } else {
                    kept.push(c);
                }
            }
            kept + newline
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notebook::format::Text;
    use serde_json::{Map, json};

    fn stream(name: &str, text: &str) -> Output {
        Output::Stream {
            name: name.into(),
            text: Text(text.into()),
        }
    }

    fn result(data: Value) -> Output {
        let Value::Object(data) = data else {
            panic!("object expected");
        };
        Output::ExecuteResult {
            data,
            metadata: Map::new(),
            execution_count: Some(1),
        }
    }

    #[test]
    fn streams_are_merged_and_sanitized_and_counts_ignored() {
        let sanitizer = Sanitizer::parse("regex: \\d{3,}\nreplace: PID\n", "s").expect("valid");
        let stored = vec![stream("stdout", "pid 123\nok\n")];
        let new = vec![stream("stdout", "pid 98765\n"), stream("stdout", "ok\n")];
        assert!(compare(&stored, &new, &sanitizer).is_empty());
        let changed = vec![stream("stdout", "pid 1\nok\n")];
        let mismatches = compare(&stored, &changed, &sanitizer);
        assert_eq!(mismatches.len(), 1);
        let rendered = mismatches[0].render();
        assert!(
            rendered.contains("-pid PID") && rendered.contains("+pid 1"),
            "{rendered}"
        );
    }

    #[test]
    fn kinds_must_match_and_images_count_by_presence() {
        let none = Sanitizer::default();
        let stored = vec![result(json!({"text/plain": "4", "image/png": "AAAA"}))];
        let same_kinds = vec![result(json!({"text/plain": "4", "image/png": "BBBB"}))];
        assert!(compare(&stored, &same_kinds, &none).is_empty());
        let no_image = vec![result(json!({"text/plain": "4"}))];
        assert_eq!(
            compare(&stored, &no_image, &none),
            vec![Mismatch::Missing(vec!["image/png".into()])]
        );
        let extra = vec![
            result(json!({"text/plain": "4", "image/png": "A"})),
            stream("stderr", "warn\n"),
        ];
        assert_eq!(
            compare(&stored, &extra, &none),
            vec![Mismatch::Unexpected(vec!["stderr".into()])]
        );
    }

    #[test]
    fn carriage_returns_and_backspaces_apply() {
        assert_eq!(
            apply_control_characters("10%\r50%\r100%\nab\u{8}c\n"),
            "100%\nac\n"
        );
    }
}

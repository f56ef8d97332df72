//! `:dep` lines as old notebooks spell them, and cargo's refusals made readable.
//!
//! evcxr writes edition-2024 manifests, where cargo no longer accepts
//! `default_features`; nearly every evcxr notebook on the web spells it so. A
//! cell's leading `:dep` lines are normalised before evcxr sees them, a key
//! cargo would silently ignore (`featurs`) is refused before anything is
//! built, and when cargo still refuses a `:dep`, its multi-line report (about
//! a manifest the user never wrote) becomes one error that marks the part of
//! the line cargo refused.

use crate::cell_commands::{self, CellCommand};
use crate::{Diagnostic, DiagnosticLine, Label};
use std::borrow::Cow;
use std::ops::Range;

/// Keys of a dependency's inline table that cargo knows.
const KNOWN_KEYS: &[&str] = &[
    "version",
    "path",
    "git",
    "branch",
    "tag",
    "rev",
    "features",
    "default-features",
    "optional",
    "package",
    "registry",
    "registry-index",
    "public",
    "artifact",
    "target",
    "lib",
    "base",
];

/// Spellings older cargo (and editions before 2024) accepted.
const OLD_SPELLINGS: &[(&str, &str)] = &[("default_features", "default-features")];

/// A `:dep` line split as evcxr splits it: `:dep name = config`.
struct DepLine<'a> {
    name: Range<usize>,
    /// Where the config starts in the line, if there is one.
    config: Option<Range<usize>>,
    line: &'a str,
}

impl<'a> DepLine<'a> {
    fn parse(line: &'a str) -> Option<DepLine<'a>> {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let rest = line[indent..].strip_prefix(":dep")?;
        let args_start = line.len() - rest.trim_start().len();
        if args_start == indent + 4 && !rest.is_empty() {
            return None; // `:depx`, not `:dep`.
        }
        let args = line[args_start..].trim_end();
        let name_len = args.find(['=', ' ']).unwrap_or(args.len());
        let name = args_start..args_start + name_len;
        let after = &line[name.end..];
        let config = after
            .trim_start_matches(' ')
            .strip_prefix('=')
            .map(|value| {
                let start = line.len() - value.trim_start_matches(' ').len();
                start..line.trim_end().len()
            });
        Some(DepLine { name, config, line })
    }

    fn name(&self) -> &'a str {
        &self.line[self.name.clone()]
    }

    fn config(&self) -> &'a str {
        self.config.clone().map_or("", |range| &self.line[range])
    }
}

/// The keys of an inline table `{ a = 1, b = [..] }` (top level only), as
/// byte ranges of `config`.
fn table_keys(config: &str) -> Vec<Range<usize>> {
    let bytes = config.as_bytes();
    let mut keys = Vec::new();
    let mut depth = 0usize;
    let mut expect_key = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' => {
                let quote = bytes[i];
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += if bytes[i] == b'\\' && quote == b'"' {
                        2
                    } else {
                        1
                    };
                }
                expect_key = false;
            }
            b'{' => {
                depth += 1;
                expect_key = depth == 1;
            }
            b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' => expect_key = depth == 1,
            b' ' | b'\t' => {}
            c if expect_key && (c.is_ascii_alphanumeric() || c == b'_' || c == b'-') => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'-')
                {
                    i += 1;
                }
                keys.push(start..i);
                expect_key = false;
                continue;
            }
            _ => expect_key = false,
        }
        i += 1;
    }
    keys
}

/// The cell's leading `:dep` lines, each with where it starts in the cell and
/// its place among the leading lines.
fn dep_lines(code: &str) -> impl Iterator<Item = (usize, usize, DepLine<'_>)> {
    cell_commands::leading_lines(code)
        .enumerate()
        .filter(|(_, line)| matches!(line.command(), Some(CellCommand::Dep(_))))
        .filter_map(|(number, line)| Some((number, line.start, DepLine::parse(line.text)?)))
}

/// The cell with its `:dep` lines in today's spelling.
pub(super) fn normalise(code: &str) -> Cow<'_, str> {
    let mut replacements = Vec::new();
    for (_, start, dep) in dep_lines(code) {
        let Some(config) = dep.config.clone() else {
            continue;
        };
        for key in table_keys(dep.config()) {
            let old = &dep.config()[key.clone()];
            if let Some((_, new)) = OLD_SPELLINGS.iter().find(|(spelling, _)| *spelling == old) {
                let at = start + config.start + key.start;
                replacements.push((at..at + key.len(), *new));
            }
        }
    }
    if replacements.is_empty() {
        return code.into();
    }
    let mut out = code.to_owned();
    for (range, new) in replacements.into_iter().rev() {
        out.replace_range(range, new);
    }
    out.into()
}

/// Refuses a `:dep` with a key cargo would ignore (with a warning nobody sees).
pub(super) fn check(code: &str) -> Result<(), Diagnostic> {
    for (number, _, dep) in dep_lines(code) {
        let line = dep.line;
        let Some(config) = dep.config.clone() else {
            continue;
        };
        for key in table_keys(dep.config()) {
            let text = &dep.config()[key.clone()];
            let known =
                KNOWN_KEYS.contains(&text) || OLD_SPELLINGS.iter().any(|(old, _)| *old == text);
            if known {
                continue;
            }
            let suggestion = nearest_key(text)
                .map(|key| format!("did you mean `{key}`?"))
                .unwrap_or_else(|| format!("cargo knows: {}", KNOWN_KEYS.join(", ")));
            let columns = columns(line, config.start + key.start..config.start + key.end);
            return Err(dependency_error(
                format!("`:dep {}`: cargo knows no key `{text}`", dep.name()),
                number + 1,
                line,
                columns,
                "unknown key",
                vec![format!("help: {suggestion}")],
            ));
        }
    }
    Ok(())
}

fn nearest_key(key: &str) -> Option<&'static str> {
    KNOWN_KEYS
        .iter()
        .map(|known| (edit_distance(key, known), *known))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, known)| known)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// 1-based character columns `[start, end)` of a byte range of `line`.
fn columns(line: &str, range: Range<usize>) -> (usize, usize) {
    let start = line[..range.start.min(line.len())].chars().count() + 1;
    let end = start
        + line[range.start.min(line.len())..range.end.min(line.len())]
            .chars()
            .count();
    (start, end.max(start + 1))
}

fn dependency_error(
    message: String,
    number: usize,
    line: &str,
    columns: (usize, usize),
    label: &str,
    notes: Vec<String>,
) -> Diagnostic {
    Diagnostic {
        message,
        code: None,
        lines: vec![DiagnosticLine {
            number,
            text: line.to_owned(),
            labels: vec![Label {
                columns,
                text: label.to_owned(),
                primary: true,
            }],
        }],
        notes,
    }
}

/// When a compile error is about one of the cell's `:dep` lines, the same
/// error as a person would write it: cargo's complaint in a sentence, the
/// refused part of the line marked.
pub(super) fn explain(diagnostic: &Diagnostic) -> Option<Diagnostic> {
    let line = diagnostic.lines.first()?;
    let dep = DepLine::parse(&line.text)?;
    let report = CargoReport::read(&diagnostic.message, dep.name());
    let range = report
        .refused(&dep)
        .unwrap_or_else(|| dep.config.clone().unwrap_or(dep.name.clone()));
    Some(dependency_error(
        format!("`:dep {}`: {}", dep.name(), report.sentence),
        line.number,
        &line.text,
        columns(&line.text, range),
        "cargo refused this",
        report.notes,
    ))
}

/// One of cargo's progress lines (`Updating crates.io index`, `Blocking
/// waiting for file lock on package cache` when another build holds it, ...):
/// they come before the error but are not it.
fn is_cargo_status(text: &str) -> bool {
    const VERBS: [&str; 10] = [
        "Updating ",
        "Downloading ",
        "Downloaded ",
        "Locking ",
        "Adding ",
        "Blocking ",
        "Compiling ",
        "Checking ",
        "Fresh ",
        "Finished ",
    ];
    VERBS.iter().any(|verb| text.starts_with(verb))
}

/// What cargo said, without what only concerns the manifest evcxr wrote.
#[derive(Debug, PartialEq)]
struct CargoReport {
    sentence: String,
    notes: Vec<String>,
    /// `--> Cargo.toml:L:C` and the quoted manifest line with its carets.
    manifest_mark: Option<(String, usize, usize)>,
}

impl CargoReport {
    fn read(message: &str, name: &str) -> CargoReport {
        let mut sentences = Vec::new();
        let mut quoted: Option<String> = None;
        let mut manifest_mark = None;
        for raw in message.lines() {
            let text = raw.trim();
            let mut text = text;
            while let Some(rest) = text.strip_prefix("error:") {
                text = rest.trim_start();
            }
            if let Some((source, marks)) = quoted_line(raw) {
                match (source, &quoted) {
                    (Some(source), _) => quoted = Some(source.to_owned()),
                    (None, Some(source)) => {
                        if let Some(start) = marks.find('^') {
                            let len = marks[start..].chars().take_while(|c| *c == '^').count();
                            manifest_mark = Some((source.clone(), start, len));
                        }
                    }
                    (None, None) => {}
                }
                continue;
            }
            let noise = text.is_empty()
                || is_cargo_status(text)
                || text.starts_with("-->")
                || text == "Caused by:"
                || text.starts_with("failed to parse manifest at")
                || text.starts_with("location searched:")
                || text.starts_with("required by package `evcxr_dummy_validate_dep")
                || text.starts_with("versions that meet the requirements")
                || (text.starts_with("failed to select a version for `")
                    && text.ends_with("which could resolve this conflict"));
            if noise {
                continue;
            }
            sentences.push(readable_sentence(text, name));
        }
        // "failed to select a version for `x`" only heads the real reason.
        if sentences.len() > 1 {
            sentences.retain(|s| {
                !s.starts_with("failed to select a version for `") || s.contains("requirement")
            });
        }
        let mut sentences = sentences.into_iter();
        let sentence = sentences
            .next()
            .unwrap_or_else(|| "cargo refused it".to_owned());
        CargoReport {
            sentence,
            notes: sentences.collect(),
            manifest_mark,
        }
    }

    /// The part of the `:dep` line cargo refused, as a byte range.
    fn refused(&self, dep: &DepLine<'_>) -> Option<Range<usize>> {
        let line = dep.line;
        let config = dep.config.clone();
        let quoted_in_line = |text: &str| {
            let quoted = format!("\"{text}\"");
            let from = config.as_ref().map_or(0, |c| c.start);
            line[from..]
                .find(&quoted)
                .map(|i| from + i..from + i + quoted.len())
        };
        let sentence = &self.sentence;
        if let Some(feature) = between(sentence, "has no feature `", "`") {
            return quoted_in_line(feature);
        }
        if sentence.starts_with("no matching package named") {
            return Some(dep.name.clone());
        }
        if let Some(requirement) = between(sentence, "for the requirement `", "`") {
            let version = requirement
                .split_once(" = ")
                .map_or(requirement, |(_, v)| v);
            let from = config.as_ref().map_or(0, |c| c.start);
            return line[from..]
                .find(version)
                .map(|i| from + i..from + i + version.len());
        }
        // A TOML error: cargo marked the manifest line `    name = config`.
        let (source, start, len) = self.manifest_mark.as_ref()?;
        let config = config?;
        let config_in_manifest = source.find(" = ").map(|i| i + 3)?;
        let offset = start.checked_sub(config_in_manifest)?;
        let begin = (config.start + offset).min(config.end);
        Some(begin..(begin + len).min(config.end).max(begin + 1))
    }
}

/// Cargo's own wording, with evcxr's stand-in package left out.
fn readable_sentence(text: &str, name: &str) -> String {
    let text = text.trim().trim_end_matches('.');
    let stand_in = format!("package `evcxr_dummy_validate_dep` depends on `{name}` with feature `");
    if let Some(rest) = text.strip_prefix(&stand_in)
        && let Some((feature, _)) = rest.split_once('`')
    {
        return format!("`{name}` has no feature `{feature}`");
    }
    text.replace("`evcxr_dummy_validate_dep`", "the notebook")
}

/// A line cargo quoted from the manifest: `NN |     text` (the source, with
/// its number) or `   |     ^^^` (the marks under it); returns the source
/// text (for a numbered line) and the marks' text.
fn quoted_line(raw: &str) -> Option<(Option<&str>, &str)> {
    let (gutter, rest) = raw.split_once('|')?;
    let gutter = gutter.trim();
    if !gutter.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    if gutter.is_empty() {
        Some((None, rest))
    } else {
        Some((Some(rest), ""))
    }
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)?;
    Some(&text[start..start + end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_spellings_are_normalised_in_leading_dep_lines_only() {
        let code = ":dep plotters = { version = \"^0.3.0\", default_features = false, features = [\"evcxr\"] }\n\
                    :dep serde\n\
                    let default_features = 1;";
        assert_eq!(
            normalise(code),
            ":dep plotters = { version = \"^0.3.0\", default-features = false, features = [\"evcxr\"] }\n\
             :dep serde\n\
             let default_features = 1;"
        );
        // A value that happens to read `default_features` is left alone.
        let quoted = ":dep x = { version = \"1\", features = [\"default_features\"] }";
        assert_eq!(normalise(quoted), quoted);
        assert!(matches!(normalise("1 + 1"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_key_cargo_would_ignore_is_refused_with_a_suggestion() {
        let error = check(":dep serde = { version = \"1\", featurs = [\"std\"] }")
            .expect_err("an unknown key");
        assert_eq!(error.message, "`:dep serde`: cargo knows no key `featurs`");
        assert_eq!(error.lines[0].labels[0].columns, (31, 38));
        assert_eq!(error.notes, ["help: did you mean `features`?"]);
        assert!(check(":dep serde = { version = \"1\", default_features = false }").is_ok());
        assert!(check(":dep serde\n:dep ./local").is_ok());
    }

    fn cargo_error(line: &str, message: &str) -> Diagnostic {
        Diagnostic {
            message: message.to_owned(),
            code: None,
            lines: vec![DiagnosticLine {
                number: 1,
                text: line.to_owned(),
                labels: vec![],
            }],
            notes: vec![],
        }
    }

    fn marked(diagnostic: &Diagnostic) -> &str {
        let line = &diagnostic.lines[0];
        let (start, end) = line.labels[0].columns;
        &line.text[start - 1..end - 1]
    }

    #[test]
    fn a_missing_feature_is_one_sentence_marking_the_feature() {
        let line = ":dep plotters = { version = \"^0.3.0\", features = [\"nonexistent_feature\"] }";
        // As cargo prints it while another build holds the package cache.
        let message = "    Blocking waiting for file lock on package cache\n\
            Updating crates.io index\n\
            error: failed to select a version for `plotters`.\n\
            versions that meet the requirements `^0.3.0` are: 0.3.7, 0.3.6\n\
            package `evcxr_dummy_validate_dep` depends on `plotters` with feature `nonexistent_feature` but `plotters` does not have that feature.\n \
            available features: all_elements, evcxr\n\
            failed to select a version for `plotters` which could resolve this conflict";
        let explained = explain(&cargo_error(line, message)).expect("a :dep line");
        assert_eq!(
            explained.message,
            "`:dep plotters`: `plotters` has no feature `nonexistent_feature`"
        );
        assert_eq!(marked(&explained), "\"nonexistent_feature\"");
        assert_eq!(explained.notes, ["available features: all_elements, evcxr"]);
    }

    #[test]
    fn unknown_crates_versions_and_toml_errors_mark_their_part() {
        let explained = explain(&cargo_error(
            ":dep no_such_crate = \"1\"",
            "    Updating crates.io index\nerror: no matching package named `no_such_crate` found\nlocation searched: crates.io index",
        ))
        .expect("a :dep line");
        assert_eq!(
            explained.message,
            "`:dep no_such_crate`: no matching package named `no_such_crate` found"
        );
        assert_eq!(marked(&explained), "no_such_crate");
        assert!(explained.notes.is_empty());

        let explained = explain(&cargo_error(
            ":dep plotters = \"^99\"",
            "error: failed to select a version for the requirement `plotters = \"^99\"`\ncandidate versions found which didn't match: 0.3.7\nlocation searched: crates.io index",
        ))
        .expect("a :dep line");
        assert_eq!(marked(&explained), "\"^99\"");

        let explained = explain(&cargo_error(
            ":dep foo = { version = 1.0 }",
            "error: invalid type: floating point `1.0`, expected a string\n  --> Cargo.toml:11:11\n   |\n11 |     foo = { version = 1.0 }\n   |           ^^^^^^^^^^^^^^^^^",
        ))
        .expect("a :dep line");
        assert_eq!(
            explained.message,
            "`:dep foo`: invalid type: floating point `1.0`, expected a string"
        );
        assert_eq!(marked(&explained), "{ version = 1.0 }");
        assert!(explain(&cargo_error("let x = 1;", "error: nope")).is_none());
    }
}

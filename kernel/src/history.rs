//! This kernel's input history, answering `history_request`s.

use ferrokernel_protocol::{HistAccess, HistoryEntry, HistoryRequest};

/// History is kept per kernel process, which is session 1.
const SESSION: i64 = 1;

#[derive(Debug, Clone)]
struct Entry {
    line: u32,
    input: String,
    output: Option<String>,
}

/// The cells run with `store_history`, in order.
#[derive(Debug, Default)]
pub struct History {
    entries: Vec<Entry>,
}

impl History {
    /// Records the input of execution `line`.
    pub fn record(&mut self, line: u32, input: &str) {
        self.entries.push(Entry {
            line,
            input: input.to_owned(),
            output: None,
        });
    }

    /// Records the text result of execution `line`.
    pub fn set_output(&mut self, line: u32, output: String) {
        if let Some(entry) = self.entries.iter_mut().rev().find(|e| e.line == line) {
            entry.output = Some(output);
        }
    }

    /// Selects entries as the request asks.
    pub fn query(&self, request: &HistoryRequest) -> Vec<HistoryEntry> {
        let selected: Vec<&Entry> = match request.hist_access_type {
            HistAccess::Tail => last(self.entries.iter().collect(), request.n.unwrap_or(10)),
            HistAccess::Range => self.range(request),
            HistAccess::Search => self.search(request),
        };
        selected
            .into_iter()
            .map(|entry| {
                if request.output {
                    HistoryEntry::InputOutput(
                        SESSION,
                        entry.line,
                        (entry.input.clone(), entry.output.clone()),
                    )
                } else {
                    HistoryEntry::Input(SESSION, entry.line, entry.input.clone())
                }
            })
            .collect()
    }

    fn range(&self, request: &HistoryRequest) -> Vec<&Entry> {
        // Session 0 (or a negative offset of 0) means this session; there are no others.
        let session = request.session.unwrap_or(0);
        if session != 0 && session != SESSION {
            return Vec::new();
        }
        let start = request.start.unwrap_or(0);
        let stop = request.stop.unwrap_or(i64::MAX);
        self.entries
            .iter()
            .filter(|e| i64::from(e.line) >= start && i64::from(e.line) < stop)
            .collect()
    }

    fn search(&self, request: &HistoryRequest) -> Vec<&Entry> {
        let pattern = glob_to_regex(request.pattern.as_deref().unwrap_or("*"));
        let mut found: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| pattern.as_ref().is_some_and(|p| p.is_match(&e.input)))
            .collect();
        if request.unique {
            // Keep the latest occurrence of each input.
            let mut seen = std::collections::HashSet::new();
            found.reverse();
            found.retain(|e| seen.insert(e.input.as_str()));
            found.reverse();
        }
        match request.n {
            Some(n) => last(found, n),
            None => found,
        }
    }
}

fn last(entries: Vec<&Entry>, n: i64) -> Vec<&Entry> {
    let n = usize::try_from(n).unwrap_or(0);
    let skip = entries.len().saturating_sub(n);
    entries.into_iter().skip(skip).collect()
}

/// `*` matches any run of characters and `?` one, as in IPython's history search.
fn glob_to_regex(glob: &str) -> Option<regex::Regex> {
    let mut pattern = String::from("(?s)^");
    for c in glob.chars() {
        match c {
            '*' => pattern.push_str(".*"),
            '?' => pattern.push('.'),
            other => pattern.push_str(&regex::escape(&other.to_string())),
        }
    }
    pattern.push('$');
    regex::Regex::new(&pattern).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(access: HistAccess) -> HistoryRequest {
        HistoryRequest {
            output: false,
            raw: true,
            hist_access_type: access,
            session: None,
            start: None,
            stop: None,
            n: None,
            pattern: None,
            unique: false,
        }
    }

    fn history() -> History {
        let mut history = History::default();
        for (line, input) in [
            (1, "let a = 1;"),
            (2, "a + 1"),
            (3, "let b = 2;"),
            (4, "a + 1"),
        ] {
            history.record(line, input);
        }
        history.set_output(2, "2".into());
        history
    }

    fn lines(entries: Vec<HistoryEntry>) -> Vec<u32> {
        entries
            .into_iter()
            .map(|e| match e {
                HistoryEntry::Input(_, line, _) | HistoryEntry::InputOutput(_, line, _) => line,
            })
            .collect()
    }

    #[test]
    fn tail_range_and_search() {
        let history = history();
        let tail = HistoryRequest {
            n: Some(2),
            ..request(HistAccess::Tail)
        };
        assert_eq!(lines(history.query(&tail)), vec![3, 4]);
        let range = HistoryRequest {
            start: Some(2),
            stop: Some(4),
            ..request(HistAccess::Range)
        };
        assert_eq!(lines(history.query(&range)), vec![2, 3]);
        let search = HistoryRequest {
            pattern: Some("let *".into()),
            ..request(HistAccess::Search)
        };
        assert_eq!(lines(history.query(&search)), vec![1, 3]);
        let unique = HistoryRequest {
            pattern: Some("a*".into()),
            unique: true,
            ..request(HistAccess::Search)
        };
        assert_eq!(lines(history.query(&unique)), vec![4]);
    }

    #[test]
    fn outputs_are_included_on_request() {
        let history = history();
        let with_output = HistoryRequest {
            output: true,
            start: Some(2),
            stop: Some(3),
            ..request(HistAccess::Range)
        };
        assert_eq!(
            history.query(&with_output),
            vec![HistoryEntry::InputOutput(
                1,
                2,
                ("a + 1".into(), Some("2".into()))
            )]
        );
    }
}

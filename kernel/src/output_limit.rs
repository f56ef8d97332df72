//! Huge output tamed, nothing lost: a [`Publisher`] that lets a cell's text
//! reach the page only up to a limit.
//!
//! Past the limit (default 1 MB or 10 000 lines a cell; `FERROKERNEL_OUTPUT_LIMIT`
//! for the kernel, a leading `:output_limit ...` line for one cell) the text
//! goes to a file instead, which receives the cell's complete output (the head
//! already shown included). When the cell ends, the page gets one line saying
//! how much was left out and where the file is, then the tail: the last tenth
//! of the limit. Until the limit, text streams as always; rich output is not
//! counted and always passes (it is not text a person scrolls through, and a
//! display left out could not be written to a text file).
//!
//! The limiter wraps the publisher on both paths, the kernel's iopub and the
//! collector of `ferrokernel run`/`test`, so a stored notebook holds what the
//! page received. Text that arrives after its cell ended (threads, children)
//! has a budget of its own; if it overflows, its summary comes when the next
//! cell begins.

use ferrokernel_engine::cell_commands::{self, CellCommand};
use ferrokernel_engine::{CellId, Output, Publisher, StreamKind};
use std::collections::VecDeque;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use thiserror::Error;

/// The kernel's limit, e.g. `5MB`, `20000 lines`, `5MB 20000 lines`, `off`.
pub const LIMIT_VARIABLE: &str = "FERROKERNEL_OUTPUT_LIMIT";

/// How much text a cell may send the page. A measure that is not named is
/// not limited: `5MB` alone means exactly 5 MB, however many lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Bytes of text.
    pub bytes: Option<u64>,
    /// Lines of text.
    pub lines: Option<u64>,
}

impl Default for Limit {
    fn default() -> Self {
        Limit {
            bytes: Some(1_000_000),
            lines: Some(10_000),
        }
    }
}

/// Why a limit was not understood.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error(
    "cannot read the output limit {given:?}: {reason} (examples: `5MB`, `20000 lines`, `2MB 5000 lines`, `off`)"
)]
pub struct LimitError {
    given: String,
    reason: String,
}

impl Limit {
    /// No limit at all.
    pub const OFF: Limit = Limit {
        bytes: None,
        lines: None,
    };

    /// Reads `5MB`, `1.5 MiB`, `20000 lines`, `2MB, 5000 lines`, `off`.
    /// Sizes in kB/MB/GB count 1000s, KiB/MiB/GiB 1024s.
    pub fn parse(text: &str) -> Result<Limit, LimitError> {
        let error = |reason: &str| LimitError {
            given: text.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = text.trim();
        if ["off", "none", "unlimited"].contains(&trimmed.to_ascii_lowercase().as_str()) {
            return Ok(Limit::OFF);
        }
        // Numbers and their units, in any spacing: split where letters start.
        let mut tokens: Vec<String> = Vec::new();
        for word in trimmed.split([' ', ',', '\t']).filter(|w| !w.is_empty()) {
            let split = word
                .find(|c: char| c.is_ascii_alphabetic())
                .unwrap_or(word.len());
            let (number, unit) = word.split_at(split);
            tokens.extend(
                [number, unit]
                    .into_iter()
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned),
            );
        }
        let mut limit = Limit::OFF;
        let mut tokens = tokens.iter().peekable();
        if tokens.peek().is_none() {
            return Err(error("it is empty"));
        }
        while let Some(number) = tokens.next() {
            let value: f64 = number
                .parse()
                .map_err(|_| error(&format!("`{number}` is not a number")))?;
            if !(value.is_finite() && value > 0.0) {
                return Err(error("a limit is a positive number"));
            }
            let unit = tokens.next().map(|u| u.to_ascii_lowercase());
            let scale = match unit.as_deref() {
                Some("line" | "lines") => {
                    limit.lines = Some(value as u64);
                    continue;
                }
                None | Some("b" | "byte" | "bytes") => 1.0,
                Some("k" | "kb") => 1e3,
                Some("m" | "mb") => 1e6,
                Some("g" | "gb") => 1e9,
                Some("kib") => 1024.0,
                Some("mib") => 1024.0 * 1024.0,
                Some("gib") => 1024.0 * 1024.0 * 1024.0,
                Some(other) => return Err(error(&format!("unknown unit `{other}`"))),
            };
            limit.bytes = Some((value * scale) as u64);
        }
        Ok(limit)
    }

    /// The kernel's limit from [`LIMIT_VARIABLE`]; the default when unset or
    /// not understood (which is logged).
    pub fn from_env() -> Limit {
        match std::env::var(LIMIT_VARIABLE) {
            Ok(text) => Limit::parse(&text).unwrap_or_else(|error| {
                tracing::warn!(%error, "using the default output limit");
                Limit::default()
            }),
            Err(_) => Limit::default(),
        }
    }

    /// What is kept at the end of a cell past its limit: a tenth of each measure.
    fn tail(self) -> Limit {
        Limit {
            bytes: self.bytes.map(|b| (b / 10).max(1)),
            lines: self.lines.map(|l| (l / 10).max(1)),
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.bytes, self.lines) {
            (None, None) => write!(f, "no limit"),
            (Some(bytes), None) => write!(f, "{}", size(bytes)),
            (None, Some(lines)) => write!(f, "{} lines", count(lines)),
            (Some(bytes), Some(lines)) => write!(f, "{} or {} lines", size(bytes), count(lines)),
        }
    }
}

/// Takes the cell's `:output_limit ...` line, if it has one among its leading
/// command lines; it is replaced by an empty line, so line numbers in compile
/// errors stay right.
pub fn take_cell_limit(
    code: &str,
) -> Result<(Option<Limit>, std::borrow::Cow<'_, str>), LimitError> {
    for line in cell_commands::leading_lines(code) {
        if let Some(CellCommand::OutputLimit(rest)) = line.command() {
            let limit = Limit::parse(rest)?;
            let mut rewritten = String::with_capacity(code.len());
            rewritten.push_str(&code[..line.start]);
            rewritten.push_str(&line.line[line.text.len()..]);
            rewritten.push_str(&code[line.start + line.line.len()..]);
            return Ok((Some(limit), rewritten.into()));
        }
    }
    Ok((None, code.into()))
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000_000 => format!("{:.1} GB", b as f64 / 1e9),
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.1} kB", b as f64 / 1e3),
        b => format!("{b} bytes"),
    }
}

/// 12 345 678 → "12 345 678".
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// The limiter: a [`Publisher`] in front of the page's.
pub struct OutputLimiter {
    inner: Arc<dyn Publisher>,
    default: Limit,
    dir: PathBuf,
    state: Mutex<Budget>,
}

/// One cell's text so far.
#[derive(Default)]
struct Budget {
    limit: Limit,
    /// Cells begun, for file names.
    cell: u64,
    /// The cell whose budget this is: the summary goes under it.
    owner: Option<CellId>,
    bytes: u64,
    lines: u64,
    /// The text shown so far, kept for the file should the limit be passed.
    head: String,
    over: Option<Overflow>,
}

/// Past the limit: where the text goes instead.
struct Overflow {
    path: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
    /// Everything the cell printed (head included).
    total_bytes: u64,
    total_lines: u64,
    /// The last pieces, within the tail limit.
    tail: VecDeque<(StreamKind, String)>,
    tail_bytes: u64,
    tail_lines: u64,
    /// Bytes and lines past the head that left the tail (what the page misses).
    dropped_bytes: u64,
    dropped_lines: u64,
}

fn newlines(text: &str) -> u64 {
    text.bytes().filter(|b| *b == b'\n').count() as u64
}

impl OutputLimiter {
    /// A limiter publishing to `inner`, with `default` for cells that set none;
    /// files of complete output go to a private directory under the system's
    /// temporary directory.
    pub fn new(inner: Arc<dyn Publisher>, default: Limit) -> Arc<OutputLimiter> {
        let dir = std::env::temp_dir()
            .join(format!("ferrokernel-output-{}", nix::unistd::getuid()))
            .join(std::process::id().to_string());
        OutputLimiter::with_dir(inner, default, dir)
    }

    /// A limiter writing its files in `dir`.
    pub fn with_dir(inner: Arc<dyn Publisher>, default: Limit, dir: PathBuf) -> Arc<OutputLimiter> {
        Arc::new(OutputLimiter {
            inner,
            default,
            dir,
            state: Mutex::new(Budget {
                limit: default,
                ..Budget::default()
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Budget> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A cell begins, with its own limit or the kernel's. What overflowed
    /// since the last cell ended is summed up first.
    pub fn begin_cell(&self, cell: CellId, limit: Option<Limit>) {
        let mut budget = self.lock();
        self.finish(&mut budget);
        budget.cell += 1;
        budget.owner = Some(cell);
        budget.limit = limit.unwrap_or(self.default);
    }

    /// The cell ended: if it passed its limit, the page gets the summary and the tail.
    pub fn end_cell(&self) {
        let mut budget = self.lock();
        self.finish(&mut budget);
        budget.limit = self.default;
    }

    /// Publishes the summary and tail of an overflow, and starts a new budget.
    fn finish(&self, budget: &mut Budget) {
        let (limit, cell, owner) = (budget.limit, budget.cell, budget.owner);
        let over = std::mem::take(budget).over;
        budget.limit = limit;
        budget.cell = cell;
        budget.owner = owner;
        let Some(mut over) = over else {
            return;
        };
        let written = match over.file.take().map(|mut file| file.flush()) {
            Some(Ok(())) => format!(
                "the complete output ({}) is in {}",
                size(over.total_bytes),
                over.path.display()
            ),
            Some(Err(error)) => format!("the complete output could not be kept ({error})"),
            None => "the complete output could not be kept".to_owned(),
        };
        let summary = format!(
            "[ferrokernel] {} in {} lines left out here (output limit: {limit}); {written}\n",
            size(over.dropped_bytes),
            count(over.dropped_lines),
        );
        self.inner.publish(
            owner,
            Output::Stream {
                stream: StreamKind::Stderr,
                text: summary,
            },
        );
        for (stream, text) in over.tail.drain(..) {
            self.inner.publish(owner, Output::Stream { stream, text });
        }
    }

    fn stream(&self, from: Option<CellId>, stream: StreamKind, text: String) {
        let mut budget = self.lock();
        if budget.over.is_some() {
            return self.divert(&mut budget, stream, text);
        }
        let (bytes, lines) = (text.len() as u64, newlines(&text));
        let fits_bytes = budget
            .limit
            .bytes
            .is_none_or(|max| budget.bytes + bytes <= max);
        let fits_lines = budget
            .limit
            .lines
            .is_none_or(|max| budget.lines + lines <= max);
        if fits_bytes && fits_lines {
            budget.bytes += bytes;
            budget.lines += lines;
            if budget.limit != Limit::OFF {
                budget.head.push_str(&text);
            }
            drop(budget);
            return self.inner.publish(from, Output::Stream { stream, text });
        }
        // The part that still fits is shown; the rest starts the overflow.
        let cut = self.cut(&budget, &text);
        let (shown, rest) = text.split_at(cut);
        budget.bytes += shown.len() as u64;
        budget.lines += newlines(shown);
        budget.head.push_str(shown);
        let rest = rest.to_owned();
        if !shown.is_empty() {
            let text = shown.to_owned();
            self.inner.publish(from, Output::Stream { stream, text });
        }
        self.overflow(&mut budget);
        self.divert(&mut budget, stream, rest);
    }

    /// Where to cut `text` so that what comes before fits the budget.
    fn cut(&self, budget: &Budget, text: &str) -> usize {
        let mut cut = text.len();
        if let Some(max) = budget.limit.bytes {
            cut = cut.min(max.saturating_sub(budget.bytes) as usize);
        }
        if let Some(max) = budget.limit.lines {
            match max.saturating_sub(budget.lines) as usize {
                0 => cut = 0,
                allowed => {
                    if let Some((index, _)) = text.match_indices('\n').nth(allowed - 1) {
                        cut = cut.min(index + 1);
                    }
                }
            }
        }
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        cut
    }

    /// The limit was just passed: the file starts with what was shown.
    fn overflow(&self, budget: &mut Budget) {
        let path = self.dir.join(format!("cell-{}.txt", budget.cell));
        let file = create_private(&self.dir, &path)
            .map_err(|error| tracing::warn!(%error, path = %path.display(), "cannot keep the complete output"))
            .ok()
            .map(|file| std::io::BufWriter::with_capacity(1 << 16, file));
        let head = std::mem::take(&mut budget.head);
        let mut over = Overflow {
            path,
            file,
            total_bytes: head.len() as u64,
            total_lines: newlines(&head),
            tail: VecDeque::new(),
            tail_bytes: 0,
            tail_lines: 0,
            dropped_bytes: 0,
            dropped_lines: 0,
        };
        over.write(&head);
        budget.over = Some(over);
    }

    /// Past the limit: to the file and the tail.
    fn divert(&self, budget: &mut Budget, stream: StreamKind, text: String) {
        let tail_limit = budget.limit.tail();
        let Some(over) = budget.over.as_mut() else {
            return;
        };
        if text.is_empty() {
            return;
        }
        over.write(&text);
        over.total_bytes += text.len() as u64;
        over.total_lines += newlines(&text);
        over.tail_bytes += text.len() as u64;
        over.tail_lines += newlines(&text);
        over.tail.push_back((stream, text));
        over.trim_tail(tail_limit);
    }
}

impl Overflow {
    fn write(&mut self, text: &str) {
        if let Some(file) = self.file.as_mut()
            && let Err(error) = file.write_all(text.as_bytes())
        {
            tracing::warn!(%error, "cannot keep the complete output");
            self.file = None;
        }
    }

    /// Drops the oldest tail text beyond `limit`, counting it as left out;
    /// the tail then starts at the beginning of a line where it can.
    fn trim_tail(&mut self, limit: Limit) {
        loop {
            let excess_bytes = limit
                .bytes
                .map_or(0, |max| self.tail_bytes.saturating_sub(max) as usize);
            let excess_lines = limit
                .lines
                .map_or(0, |max| self.tail_lines.saturating_sub(max) as usize);
            if excess_bytes == 0 && excess_lines == 0 {
                return;
            }
            let Some((stream, front)) = self.tail.pop_front() else {
                return;
            };
            let mut cut = excess_bytes.min(front.len());
            if excess_lines > 0 {
                let after_lines = front
                    .match_indices('\n')
                    .nth(excess_lines - 1)
                    .map_or(front.len(), |(i, _)| i + 1);
                cut = cut.max(after_lines);
            }
            if cut > 0
                && !front[..cut].ends_with('\n')
                && let Some(end) = front[cut..].find('\n')
                && cut + end + 1 < front.len()
            {
                cut += end + 1;
            }
            while !front.is_char_boundary(cut) {
                cut += 1;
            }
            let dropped = &front[..cut];
            self.dropped_bytes += dropped.len() as u64;
            self.dropped_lines += newlines(dropped);
            self.tail_bytes -= dropped.len() as u64;
            self.tail_lines -= newlines(dropped);
            if cut < front.len() {
                self.tail.push_front((stream, front[cut..].to_owned()));
            }
        }
    }
}

/// Creates `path` in `dir`, both readable by this user only.
fn create_private(dir: &Path, path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

impl Publisher for OutputLimiter {
    fn publish(&self, from: Option<CellId>, output: Output) {
        match output {
            Output::Stream { stream, text } => self.stream(from, stream, text),
            other => self.inner.publish(from, other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Page(Mutex<Vec<Output>>);

    impl Publisher for Page {
        fn publish(&self, _from: Option<CellId>, output: Output) {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(output);
        }
    }

    impl Page {
        fn text(&self) -> String {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .filter_map(|o| match o {
                    Output::Stream { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect()
        }
    }

    fn line(n: usize) -> Output {
        Output::Stream {
            stream: StreamKind::Stdout,
            text: format!("line {n}\n"),
        }
    }

    #[test]
    fn limits_read_sizes_lines_both_and_off() {
        let parse = |t| Limit::parse(t).expect(t);
        assert_eq!(
            parse("5MB"),
            Limit {
                bytes: Some(5_000_000),
                lines: None
            }
        );
        assert_eq!(
            parse("20000 lines"),
            Limit {
                bytes: None,
                lines: Some(20_000)
            }
        );
        assert_eq!(
            parse("1.5 MiB, 300 lines"),
            Limit {
                bytes: Some(1_572_864),
                lines: Some(300)
            }
        );
        assert_eq!(
            parse("2kb 10lines"),
            Limit {
                bytes: Some(2_000),
                lines: Some(10)
            }
        );
        assert_eq!(parse("off"), Limit::OFF);
        for bad in ["", "lots", "5 parsecs", "-1MB", "0 lines"] {
            assert!(Limit::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Limit::default().to_string(), "1.0 MB or 10 000 lines");
    }

    #[test]
    fn a_cell_limit_line_is_taken_and_leaves_an_empty_line() {
        let (limit, code) = take_cell_limit(":dep x = \"1\"\n:output_limit 20 lines\nprintln!();")
            .expect("a limit");
        assert_eq!(
            limit,
            Some(Limit {
                bytes: None,
                lines: Some(20)
            })
        );
        assert_eq!(code, ":dep x = \"1\"\n\nprintln!();");
        let (limit, code) = take_cell_limit("let x = 1;\n:output_limit 5MB").expect("no limit");
        assert_eq!(
            (limit, code.as_ref()),
            (None, "let x = 1;\n:output_limit 5MB")
        );
        assert!(take_cell_limit(":output_limit lots").is_err());
    }

    #[test]
    fn past_the_limit_the_page_gets_head_summary_and_tail_and_the_file_everything() {
        let dir = std::env::temp_dir().join(format!("fk-limit-test-{}", std::process::id()));
        let page = Arc::new(Page::default());
        let limiter = OutputLimiter::with_dir(
            page.clone(),
            Limit {
                bytes: None,
                lines: Some(100),
            },
            dir.clone(),
        );
        limiter.begin_cell(CellId(1), None);
        for n in 0..1000 {
            limiter.publish(None, line(n));
        }
        // Rich output is not counted and keeps its place.
        limiter.publish(None, Output::ClearOutput { wait: true });
        let shown_while_running = page.text();
        assert_eq!(shown_while_running.lines().count(), 100);
        assert!(shown_while_running.ends_with("line 99\n"));
        limiter.end_cell();
        let text = page.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 100 + 1 + 10, "head, summary, tail");
        assert!(lines[100].contains("890 lines left out"), "{}", lines[100]);
        assert_eq!(lines[101], "line 990");
        assert_eq!(lines[110], "line 999");
        let path = dir.join("cell-1.txt");
        assert!(
            lines[100].contains(&path.display().to_string()),
            "{}",
            lines[100]
        );
        let kept = std::fs::read_to_string(&path).expect("the complete output");
        let expected: String = (0..1000).map(|n| format!("line {n}\n")).collect();
        assert_eq!(kept, expected);
        // The next cell starts with a fresh budget.
        limiter.begin_cell(CellId(1), Some(Limit::OFF));
        limiter.publish(None, line(0));
        limiter.end_cell();
        assert!(page.text().ends_with("line 999\nline 0\n"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_huge_line_is_cut_at_the_byte_limit_and_its_end_kept() {
        let dir = std::env::temp_dir().join(format!("fk-limit-bytes-{}", std::process::id()));
        let page = Arc::new(Page::default());
        let limiter = OutputLimiter::with_dir(
            page.clone(),
            Limit {
                bytes: Some(1000),
                lines: None,
            },
            dir.clone(),
        );
        limiter.begin_cell(CellId(1), None);
        let huge = format!("{}{}\n", "a".repeat(5000), "z".repeat(50));
        limiter.publish(
            None,
            Output::Stream {
                stream: StreamKind::Stderr,
                text: huge.clone(),
            },
        );
        limiter.end_cell();
        let text = page.text();
        assert!(text.starts_with(&"a".repeat(1000)));
        assert!(text.ends_with(&format!("{}\n", "z".repeat(50))));
        assert!(text.len() < 1000 + 100 + 300, "{}", text.len());
        let kept = std::fs::read_to_string(dir.join("cell-1.txt")).expect("kept");
        assert_eq!(kept, huge);
        let _ = std::fs::remove_dir_all(dir);
    }
}

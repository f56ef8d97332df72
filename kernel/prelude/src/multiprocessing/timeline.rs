//! Which process ran when: [`timeline`] draws the processes this program
//! started since the last call, one row each, as an SVG chart (and text).
//!
//! Each row names the process (name, pid, parent) and draws a bar from its
//! start to its exit, coloured by how it ended: exit 0, another exit code, a
//! signal, or still running. A pool's workers are grouped under a row for the
//! pool. The pictures are made by pure functions from the recorded data
//! (`sys::timeline`), so they are tested on their text.

use crate::notebook::escape_html;
use crate::sys::timeline::{self as record, GroupId, Recorded};
use std::fmt::{self, Write as _};
use std::time::Duration;

const LABEL_WIDTH: f64 = 300.0;
const CHART_WIDTH: f64 = 560.0;
const ROW_HEIGHT: f64 = 22.0;
const TOP: f64 = 34.0;
const AXIS_HEIGHT: f64 = 28.0;
const LEGEND_HEIGHT: f64 = 32.0;
const TEXT_BAR_WIDTH: usize = 40;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It exited with this status (0: success).
    Exited(i32),
    /// A signal ended it (9: `SIGKILL`).
    Signaled(i32),
    /// It had not ended when the timeline was drawn.
    Running,
    /// A process on another host (a cluster's worker) whose connection
    /// closed before it was told to stop: it died, or its host went away.
    Lost,
}

impl Ending {
    /// From Python's exit code: the status, or minus the signal.
    fn from_exitcode(code: Option<i32>) -> Ending {
        match code {
            None => Ending::Running,
            Some(record::LOST) => Ending::Lost,
            Some(code) if code < 0 => Ending::Signaled(-code),
            Some(code) => Ending::Exited(code),
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Ending::Exited(0) => "#43a047",
            Ending::Exited(_) => "#fb8c00",
            Ending::Signaled(_) | Ending::Lost => "#e53935",
            Ending::Running => "#9e9e9e",
        }
    }
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::Exited(code) => write!(f, "exit {code}"),
            Ending::Signaled(signal) => write!(f, "killed by {}", signal_name(*signal)),
            Ending::Running => write!(f, "running"),
            Ending::Lost => write!(f, "lost"),
        }
    }
}

/// `SIGKILL` for 9, `signal 99` for what has no name.
fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|_| format!("signal {signal}"))
}

/// One row of the chart.
#[derive(Debug, Clone, PartialEq)]
enum Row {
    /// A group's heading: its label, life, and how many processes it has.
    Group {
        label: String,
        start: Duration,
        end: Option<Duration>,
        members: usize,
    },
    /// A process, `indented` when it belongs to a group.
    Process {
        name: String,
        pid: i32,
        parent: i32,
        start: Duration,
        end: Option<Duration>,
        ending: Ending,
        indented: bool,
    },
}

/// The processes started since the previous timeline, ready to draw: what
/// [`timeline`] returns. In a notebook, a cell ending in it shows the chart.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::timeline;
/// let chart = timeline();
/// assert!(chart.svg().starts_with("<svg"));
/// println!("{}", chart.text());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    rows: Vec<Row>,
    /// Where the time axis starts and ends (since the recorder's epoch).
    from: Duration,
    to: Duration,
    dropped: u64,
}

/// The processes this program started since the last call of `timeline()`
/// (the first call: since it began), as a chart: one row per process with its
/// name, pid and parent, a bar from start to exit coloured by how it ended,
/// a pool's workers under their pool, and a time axis.
///
/// ```
/// let chart = ferrokernel_prelude::multiprocessing::timeline();
/// assert_eq!(chart.len(), chart.text().lines().filter(|l| l.contains("pid ")).count());
/// ```
pub fn timeline() -> Timeline {
    Timeline::from_recorded(record::take_unshown())
}

impl Timeline {
    pub(crate) fn from_recorded(recorded: Recorded) -> Timeline {
        let now = recorded.now;
        let process_row = |p: &record::ProcessRecord, indented: bool| Row::Process {
            name: p.name.clone(),
            pid: p.pid,
            parent: p.parent,
            start: p.started,
            end: p.ended.map(|(at, _)| at),
            ending: Ending::from_exitcode(p.ended.map(|(_, code)| code)),
            indented,
        };
        // Groups and ungrouped processes by start; members after their group.
        let mut items: Vec<(Duration, Option<GroupId>, Option<&record::ProcessRecord>)> = recorded
            .processes
            .iter()
            .filter(|p| {
                p.group
                    .is_none_or(|g| !recorded.groups.iter().any(|group| group.id == g))
            })
            .map(|p| (p.started, None, Some(p)))
            .collect();
        items.extend(recorded.groups.iter().map(|g| (g.opened, Some(g.id), None)));
        items.sort_by_key(|(start, _, _)| *start);
        let mut rows = Vec::new();
        for (_, group, process) in items {
            if let Some(process) = process {
                rows.push(process_row(process, false));
                continue;
            }
            let Some(group) = recorded.groups.iter().find(|g| Some(g.id) == group) else {
                continue;
            };
            let mut members: Vec<&record::ProcessRecord> = recorded
                .processes
                .iter()
                .filter(|p| p.group == Some(group.id))
                .collect();
            members.sort_by_key(|p| p.started);
            rows.push(Row::Group {
                label: group.label.clone(),
                start: group.opened,
                end: group.closed,
                members: members.len(),
            });
            rows.extend(members.into_iter().map(|p| process_row(p, true)));
        }
        let from = rows.iter().map(Row::start).min().unwrap_or(now);
        let to = rows
            .iter()
            .map(|row| row.end().unwrap_or(now))
            .max()
            .unwrap_or(now)
            .max(from);
        Timeline {
            rows,
            from,
            to,
            dropped: recorded.dropped,
        }
    }

    /// How many processes it shows.
    pub fn len(&self) -> usize {
        self.rows
            .iter()
            .filter(|row| matches!(row, Row::Process { .. }))
            .count()
    }

    /// Whether no process was started.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn span(&self) -> Duration {
        self.to.saturating_sub(self.from)
    }

    /// The chart as SVG.
    pub fn svg(&self) -> String {
        let height = TOP + ROW_HEIGHT * self.rows.len().max(1) as f64 + AXIS_HEIGHT + LEGEND_HEIGHT;
        let width = LABEL_WIDTH + CHART_WIDTH + 20.0;
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
             viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">"
        );
        let _ = write!(
            svg,
            "<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\
             <text x=\"8\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{}</text>",
            escape_html(&self.title())
        );
        if self.rows.is_empty() {
            let _ = write!(
                svg,
                "<text x=\"8\" y=\"{}\" fill=\"#666\">No process was started since the last timeline.</text>",
                TOP + 15.0
            );
        }
        let x = |at: Duration| -> f64 {
            let span = self.span().as_secs_f64();
            let fraction = if span > 0.0 {
                at.saturating_sub(self.from).as_secs_f64() / span
            } else {
                0.0
            };
            LABEL_WIDTH + fraction * CHART_WIDTH
        };
        for (index, row) in self.rows.iter().enumerate() {
            let top = TOP + ROW_HEIGHT * index as f64;
            let baseline = top + ROW_HEIGHT * 0.68;
            if index % 2 == 1 {
                let _ = write!(
                    svg,
                    "<rect x=\"0\" y=\"{top}\" width=\"{width}\" height=\"{ROW_HEIGHT}\" fill=\"#f5f5f5\"/>"
                );
            }
            let start = x(row.start());
            let end = x(row.end().unwrap_or(self.to)).max(start + 2.0);
            match row {
                Row::Group { .. } => {
                    let _ = write!(
                        svg,
                        "<g class=\"group\"><text x=\"8\" y=\"{baseline}\" font-weight=\"bold\">{}</text>\
                         <rect x=\"{start:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"4\" fill=\"#546e7a\">\
                         <title>{}</title></rect></g>",
                        escape_html(&row.label()),
                        top + ROW_HEIGHT / 2.0 - 2.0,
                        end - start,
                        escape_html(&self.describe(row)),
                    );
                }
                Row::Process {
                    ending, indented, ..
                } => {
                    let indent = if *indented { 24 } else { 8 };
                    let _ = write!(
                        svg,
                        "<g class=\"process\"><text x=\"{indent}\" y=\"{baseline}\">{}</text>\
                         <rect x=\"{start:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"3\" \
                         fill=\"{}\"{}><title>{}</title></rect></g>",
                        escape_html(&row.label()),
                        top + 4.0,
                        end - start,
                        ROW_HEIGHT - 8.0,
                        ending.colour(),
                        if *ending == Ending::Running {
                            " fill-opacity=\"0.6\""
                        } else {
                            ""
                        },
                        escape_html(&self.describe(row)),
                    );
                }
            }
        }
        // The time axis, with ticks at round seconds (or fractions of them).
        let axis = TOP + ROW_HEIGHT * self.rows.len().max(1) as f64 + 6.0;
        let _ = write!(
            svg,
            "<g class=\"axis\"><line x1=\"{LABEL_WIDTH}\" y1=\"{axis}\" x2=\"{}\" y2=\"{axis}\" stroke=\"#333\"/>",
            LABEL_WIDTH + CHART_WIDTH
        );
        for tick in ticks(self.span()) {
            let at = x(self.from + tick);
            let _ = write!(
                svg,
                "<line x1=\"{at:.1}\" y1=\"{TOP}\" x2=\"{at:.1}\" y2=\"{axis}\" stroke=\"#000\" stroke-opacity=\"0.08\"/>\
                 <line x1=\"{at:.1}\" y1=\"{axis}\" x2=\"{at:.1}\" y2=\"{}\" stroke=\"#333\"/>\
                 <text x=\"{at:.1}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10\">{}</text>",
                axis + 4.0,
                axis + 16.0,
                seconds(tick)
            );
        }
        svg.push_str("</g>");
        // The legend.
        let legend = axis + AXIS_HEIGHT + 6.0;
        svg.push_str("<g class=\"legend\">");
        let entries = [
            (Ending::Exited(0), "exit 0"),
            (Ending::Exited(1), "other exit code"),
            (Ending::Signaled(9), "killed by a signal"),
            (Ending::Running, "running"),
        ];
        for (index, (ending, text)) in entries.iter().enumerate() {
            let left = LABEL_WIDTH + 140.0 * index as f64;
            let _ = write!(
                svg,
                "<rect x=\"{left}\" y=\"{}\" width=\"12\" height=\"12\" rx=\"2\" fill=\"{}\"/>\
                 <text x=\"{}\" y=\"{}\" font-size=\"11\">{text}</text>",
                legend - 10.0,
                ending.colour(),
                left + 16.0,
                legend
            );
        }
        svg.push_str("</g></svg>");
        svg
    }

    /// The chart as text: a line per row, with a bar drawn in characters.
    pub fn text(&self) -> String {
        let mut out = self.title();
        out.push('\n');
        if self.rows.is_empty() {
            out.push_str("No process was started since the last timeline.\n");
            return out;
        }
        let labels: Vec<String> = self
            .rows
            .iter()
            .map(|row| match row {
                Row::Process { indented: true, .. } => format!("  {}", row.label()),
                _ => row.label(),
            })
            .collect();
        let width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        for (row, label) in self.rows.iter().zip(labels) {
            let _ = writeln!(
                out,
                "{label:<width$}  |{}|  {}",
                self.text_bar(row),
                self.describe(row)
            );
        }
        out
    }

    fn title(&self) -> String {
        let count = self.len();
        let mut title = format!(
            "{count} process{} over {}",
            if count == 1 { "" } else { "es" },
            seconds(self.span())
        );
        if self.dropped > 0 {
            let _ = write!(title, " ({} older records were dropped)", self.dropped);
        }
        title
    }

    /// `0.120 s → 0.560 s (0.440 s), exit 0`, times from the chart's start.
    fn describe(&self, row: &Row) -> String {
        let start = row.start().saturating_sub(self.from);
        let when = match row.end() {
            Some(end) => {
                let end = end.saturating_sub(self.from);
                format!(
                    "{} → {} ({})",
                    seconds(start),
                    seconds(end),
                    seconds(end.saturating_sub(start))
                )
            }
            None => format!("{} →", seconds(start)),
        };
        match row {
            Row::Group { members, .. } => format!(
                "{when}, {members} process{}",
                if *members == 1 { "" } else { "es" }
            ),
            Row::Process { ending, .. } => format!("{when}, {ending}"),
        }
    }

    fn text_bar(&self, row: &Row) -> String {
        let span = self.span().as_secs_f64();
        let column = |at: Duration| -> usize {
            if span <= 0.0 {
                return 0;
            }
            let fraction = at.saturating_sub(self.from).as_secs_f64() / span;
            ((fraction * TEXT_BAR_WIDTH as f64).round() as usize).min(TEXT_BAR_WIDTH)
        };
        let start = column(row.start()).min(TEXT_BAR_WIDTH - 1);
        let end = column(row.end().unwrap_or(self.to)).max(start + 1);
        let fill = match row {
            Row::Group { .. } => '─',
            Row::Process {
                ending: Ending::Running,
                ..
            } => '░',
            Row::Process { .. } => '█',
        };
        let mut bar = " ".repeat(start);
        bar.extend(std::iter::repeat_n(fill, end - start));
        bar.push_str(&" ".repeat(TEXT_BAR_WIDTH - end));
        bar
    }

    /// Shows the chart now (SVG, with the text for frontends without SVG).
    pub fn show(&self) {
        crate::notebook::display(&[("image/svg+xml", &self.svg()), ("text/plain", &self.text())]);
    }

    /// How a notebook shows a cell's final value: the chart, as the cell's result.
    pub fn evcxr_display(&self) {
        let svg = self.svg();
        let text = self.text();
        println!(
            "EVCXR_BEGIN_CONTENT image/svg+xml\n{svg}\nEVCXR_END_CONTENT\n\
             EVCXR_BEGIN_CONTENT text/plain\n{}\nEVCXR_END_CONTENT",
            text.trim_end()
        );
    }
}

impl fmt::Display for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl Row {
    fn start(&self) -> Duration {
        match self {
            Row::Group { start, .. } | Row::Process { start, .. } => *start,
        }
    }

    fn end(&self) -> Option<Duration> {
        match self {
            Row::Group { end, .. } | Row::Process { end, .. } => *end,
        }
    }

    fn label(&self) -> String {
        match self {
            Row::Group { label, .. } => label.clone(),
            Row::Process {
                name, pid, parent, ..
            } if *parent == record::REMOTE_PARENT => format!("{name} (pid {pid})"),
            Row::Process {
                name, pid, parent, ..
            } => format!("{name} (pid {pid}, parent {parent})"),
        }
    }
}

/// Ticks at a round step (1, 2 or 5 times a power of ten seconds), at most
/// eight, from 0 to the span.
pub(crate) fn ticks(span: Duration) -> Vec<Duration> {
    let span = span.as_secs_f64();
    if span <= 0.0 {
        return vec![Duration::ZERO];
    }
    let rough = span / 8.0;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * power);
    (0..)
        .map(|i| i as f64 * step)
        .take_while(|at| *at <= span * (1.0 + 1e-9))
        .map(Duration::from_secs_f64)
        .collect()
}

/// `0.25 s`, `12 ms`, `1.5 s`, `2 min 5 s`.
pub(crate) fn seconds(duration: Duration) -> String {
    let s = duration.as_secs_f64();
    if s == 0.0 {
        "0 s".to_owned()
    } else if s < 0.01 {
        format!("{:.1} ms", s * 1000.0)
    } else if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s < 60.0 {
        let text = format!("{s:.2}");
        format!("{} s", text.trim_end_matches('0').trim_end_matches('.'))
    } else {
        format!("{} min {} s", (s / 60.0).floor(), (s % 60.0).floor())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::timeline::{GroupRecord, ProcessRecord};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Records made through the recording API, as the process code makes them.
    fn recorded() -> Recorded {
        // The process-wide recorder is shared by this crate's tests: take what
        // others left, then record this test's processes.
        let _ = record::take_unshown();
        let pool = record::Group::new("Pool(2).map".into());
        let group = pool.id();
        let mut held = record::hold().expect("recording is on");
        held.record_start(101, "Process-1", None);
        held.record_start(102, "PoolWorker-1", group);
        held.record_start(103, "PoolWorker-2", group);
        held.record_start(104, "Process-2", None);
        drop(held);
        record::record_exit(101, 0);
        record::record_exit(102, 0);
        record::record_exit(103, -9);
        record::record_exit(104, 3);
        drop(pool);
        record::take_unshown()
    }

    /// Fixed times, for exact text.
    fn fixed() -> Recorded {
        let process = |pid, name: &str, group, started, ended| {
            ProcessRecord::for_test(pid, 100, name, group, started, ended)
        };
        Recorded {
            processes: vec![
                process(101, "Process-1", None, ms(0), Some((ms(500), 0))),
                process(
                    102,
                    "PoolWorker-1",
                    Some(GroupId(7)),
                    ms(250),
                    Some((ms(1000), 0)),
                ),
                process(
                    103,
                    "PoolWorker-2",
                    Some(GroupId(7)),
                    ms(250),
                    Some((ms(750), -9)),
                ),
                process(104, "Process-2", None, ms(600), None),
            ],
            groups: vec![GroupRecord {
                id: GroupId(7),
                label: "Pool(2)".into(),
                opened: ms(200),
                closed: Some(ms(1000)),
            }],
            now: ms(1000),
            dropped: 0,
        }
    }

    /// The elements of an SVG in order (start tags' names), checking that
    /// every element is closed, in order: the document is well formed.
    fn elements(svg: &str) -> Vec<String> {
        let mut open: Vec<String> = Vec::new();
        let mut seen = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').expect("a tag ends") + start;
            let tag = &rest[start + 1..end];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop().as_deref(), Some(name), "closing tag in order");
            } else {
                let name = tag.split([' ', '/']).next().unwrap_or_default().to_owned();
                seen.push(name.clone());
                if !tag.ends_with('/') {
                    open.push(name);
                }
            }
            let text = &rest[end + 1..];
            let next = text.find('<').unwrap_or(text.len());
            assert!(
                !text[..next].contains('&') || text[..next].contains(';'),
                "escaped text"
            );
            rest = text;
        }
        assert!(open.is_empty(), "unclosed: {open:?}");
        seen
    }

    #[test]
    fn the_svg_is_well_formed_with_one_row_per_process_and_a_heading_per_pool() {
        let chart = Timeline::from_recorded(recorded());
        assert_eq!(chart.len(), 4);
        let svg = chart.svg();
        let elements = elements(&svg);
        assert_eq!(elements[0], "svg");
        assert_eq!(svg.matches("<g class=\"process\">").count(), 4);
        assert_eq!(svg.matches("<g class=\"group\">").count(), 1);
        for label in [
            "Process-1 (pid 101, parent",
            "PoolWorker-2 (pid 103",
            "Pool(2).map",
        ] {
            assert!(svg.contains(label), "{label}");
        }
        assert!(svg.contains("killed by SIGKILL"));
        assert!(svg.contains("exit 3"));
        // Colours by how each ended.
        assert!(svg.contains("fill=\"#43a047\"") && svg.contains("fill=\"#e53935\""));
        assert!(svg.contains("fill=\"#fb8c00\""));
    }

    #[test]
    fn rows_put_pool_workers_under_their_pool_and_time_runs_along_an_axis() {
        let chart = Timeline::from_recorded(fixed());
        let text = chart.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "4 processes over 1 s");
        assert!(
            lines[1].starts_with("Process-1 (pid 101, parent 100) "),
            "{text}"
        );
        assert!(lines[2].starts_with("Pool(2) "), "{text}");
        assert!(
            lines[3].starts_with("  PoolWorker-1 (pid 102, parent 100)"),
            "{text}"
        );
        assert!(
            lines[4].starts_with("  PoolWorker-2 (pid 103, parent 100)"),
            "{text}"
        );
        assert!(
            lines[5].starts_with("Process-2 (pid 104, parent 100) "),
            "{text}"
        );
        assert!(
            lines[1].ends_with("|  0 s → 500 ms (500 ms), exit 0"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].ends_with("200 ms → 1 s (800 ms), 2 processes"),
            "{}",
            lines[2]
        );
        assert!(lines[4].ends_with("killed by SIGKILL"), "{}", lines[4]);
        assert!(lines[5].ends_with("600 ms →, running"), "{}", lines[5]);
        // Bars where the processes ran: Process-1 the first half, Process-2 from 60 %.
        let bar = |line: &str| line.split('|').nth(1).unwrap_or_default().to_owned();
        assert_eq!(
            bar(lines[1]),
            format!("{}{}", "█".repeat(20), " ".repeat(20))
        );
        assert_eq!(
            bar(lines[5]),
            format!("{}{}", " ".repeat(24), "░".repeat(16))
        );
        let svg = chart.svg();
        for tick in ["0 s", "200 ms", "400 ms", "600 ms", "800 ms", "1 s"] {
            assert!(svg.contains(&format!(">{tick}</text>")), "tick {tick}");
        }
        assert!(
            svg.contains("fill-opacity=\"0.6\""),
            "a running process is pale"
        );
    }

    #[test]
    fn an_empty_timeline_says_so() {
        let chart = Timeline::from_recorded(Recorded::default());
        assert!(chart.is_empty());
        assert!(chart.text().contains("No process was started"));
        elements(&chart.svg());
    }

    #[test]
    fn ticks_are_round_and_durations_short() {
        assert_eq!(ticks(ms(1000)).len(), 6);
        assert_eq!(
            ticks(Duration::from_secs(7)).last(),
            Some(&Duration::from_secs(7))
        );
        assert_eq!(ticks(Duration::ZERO), [Duration::ZERO]);
        assert_eq!(seconds(ms(1500)), "1.5 s");
        assert_eq!(seconds(Duration::from_micros(2500)), "2.5 ms");
        assert_eq!(seconds(Duration::from_secs(125)), "2 min 5 s");
    }
}

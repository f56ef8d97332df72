//! A tqdm-like progress bar for any iterator: [`progress`].
//!
//! In a notebook the bar is one display, redrawn in place (a display id and
//! its updates, at most ten a second) with HTML and a `text/plain` fallback;
//! when the frontend has the widget manager (JupyterLab with
//! `jupyterlab_widgets`), it is an `IntProgress` widget and a `Label` instead;
//! in a plain program it is a line on stderr, redrawn in place on a terminal
//! and written once, when done, otherwise. The pictures are drawn by small
//! pure functions from a [`Snapshot`] of the bar.

use super::DisplayHandle;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::time::{Duration, Instant};

/// The shortest time between two redraws: at most ten a second.
const REDRAW_EVERY: Duration = Duration::from_millis(100);
/// Width of the text bar, in characters.
const BAR_WIDTH: usize = 20;

/// Wraps an iterator in a progress bar, like Python's `tqdm(iterable)`.
///
/// The total is the iterator's exact length when it knows it (any
/// `ExactSizeIterator`: ranges, vectors, slices, `map`s of them; a pool's
/// `imap` of such an input, and `as_completed(&futures)`, as tqdm's
/// `total=len(xs)` would), or what [`Progress::total`] says. The bar counts an item done when the next one is
/// asked for, shows done/total, the rate and the time left, and ends at
/// 100 % — or where the loop stopped (`break`, `?`) or panicked, saying so.
///
/// ```
/// use ferrokernel_prelude::notebook::progress;
/// let mut sum = 0;
/// for n in progress(1..=100).label("adding") {
///     sum += n;
/// }
/// assert_eq!(sum, 5050);
/// ```
pub fn progress<I: IntoIterator>(iterable: I) -> Progress<I::IntoIter> {
    let iter = iterable.into_iter();
    let total = match iter.size_hint() {
        (low, Some(high)) if low == high => Some(low as u64),
        _ => None,
    };
    Progress {
        iter,
        total,
        label: None,
        bar: None,
        done: 0,
        yielded: false,
    }
}

/// An iterator with a progress bar (see [`progress`]).
#[derive(Debug)]
pub struct Progress<I> {
    iter: I,
    total: Option<u64>,
    label: Option<String>,
    bar: Option<Bar>,
    done: u64,
    /// An item was handed out and is being worked on.
    yielded: bool,
}

impl<I> Progress<I> {
    /// Sets the total, for iterators that do not know their length (a
    /// `filter`, a channel, a pool's `imap` of either).
    ///
    /// ```
    /// use ferrokernel_prelude::notebook::progress;
    /// let evens = progress((0..10).filter(|n| n % 2 == 0)).total(5).count();
    /// assert_eq!(evens, 5);
    /// ```
    pub fn total(mut self, total: u64) -> Self {
        self.total = Some(total);
        self
    }

    /// A label shown before the bar (tqdm's `desc`).
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    fn snapshot(&self, end: Option<End>) -> Snapshot {
        Snapshot {
            done: self.done,
            total: self.total,
            elapsed: self
                .bar
                .as_ref()
                .map_or(Duration::ZERO, |b| b.started.elapsed()),
            label: self.label.clone(),
            end,
        }
    }

    fn finish(&mut self, end: End) {
        let snapshot = self.snapshot(Some(end));
        if let Some(mut bar) = self.bar.take() {
            bar.draw(&snapshot, true);
        }
    }
}

impl<I: Iterator> Iterator for Progress<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        if std::mem::take(&mut self.yielded) {
            self.done += 1;
        }
        if self.bar.is_none() {
            let mut bar = Bar::new();
            bar.draw(&self.snapshot(None), true);
            self.bar = Some(bar);
        } else if self
            .bar
            .as_ref()
            .is_some_and(|bar| bar.drawn.elapsed() >= REDRAW_EVERY)
        {
            let snapshot = self.snapshot(None);
            if let Some(bar) = self.bar.as_mut() {
                bar.draw(&snapshot, false);
            }
        }
        match self.iter.next() {
            Some(item) => {
                self.yielded = true;
                Some(item)
            }
            None => {
                // Ran out: without a total (or past it), this was all there was.
                if self.total.is_none_or(|total| self.done > total) {
                    self.total = Some(self.done);
                }
                let end = match self.total {
                    Some(total) if self.done < total => End::Stopped,
                    _ => End::Complete,
                };
                self.finish(end);
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<I> Drop for Progress<I> {
    fn drop(&mut self) {
        if self.bar.is_some() {
            let end = if std::thread::panicking() {
                End::Failed
            } else {
                End::Stopped
            };
            self.finish(end);
        }
    }
}

/// Where the bar is drawn.
#[derive(Debug)]
enum Surface {
    /// A display in the notebook, redrawn through its id.
    Notebook(Option<DisplayHandle>),
    /// An `IntProgress` widget and a `Label` beside it (shown at the first draw).
    #[cfg(feature = "widgets")]
    Widget(Option<(crate::widgets::IntProgress, crate::widgets::Label)>),
    /// A line on a terminal's stderr, redrawn with `\r`.
    Terminal,
    /// Stderr that is not a terminal: only the final state is written.
    Log,
}

#[derive(Debug)]
struct Bar {
    surface: Surface,
    started: Instant,
    drawn: Instant,
}

impl Bar {
    fn new() -> Bar {
        let in_runtime = std::env::var_os("EVCXR_IS_RUNTIME").is_some();
        let widget = if in_runtime { widget_surface() } else { None };
        let surface = if let Some(widget) = widget {
            widget
        } else if in_runtime {
            Surface::Notebook(None)
        } else if std::io::stderr().is_terminal() {
            Surface::Terminal
        } else {
            Surface::Log
        };
        let now = Instant::now();
        Bar {
            surface,
            started: now,
            drawn: now,
        }
    }

    fn draw(&mut self, snapshot: &Snapshot, force: bool) {
        if !force && self.drawn.elapsed() < REDRAW_EVERY {
            return;
        }
        self.drawn = Instant::now();
        let text = text(snapshot);
        match &mut self.surface {
            Surface::Notebook(handle) => {
                let html = html(snapshot);
                let bundle = [("text/html", html.as_str()), ("text/plain", text.as_str())];
                match handle {
                    Some(handle) => handle.update(&bundle),
                    None => *handle = Some(DisplayHandle::show(&bundle)),
                }
            }
            #[cfg(feature = "widgets")]
            Surface::Widget(shown) => draw_widget(shown, snapshot),
            Surface::Terminal => {
                let end = if snapshot.end.is_some() { "\n" } else { "" };
                let _ = write!(std::io::stderr(), "\r{text}\x1b[K{end}");
            }
            Surface::Log if snapshot.end.is_some() => {
                let _ = writeln!(std::io::stderr(), "{text}");
            }
            Surface::Log => {}
        }
    }
}

/// The widget surface, when the frontend can show widgets.
#[cfg(feature = "widgets")]
fn widget_surface() -> Option<Surface> {
    crate::widgets::frontend_has_manager().then_some(Surface::Widget(None))
}

/// Without widgets, never.
#[cfg(not(feature = "widgets"))]
fn widget_surface() -> Option<Surface> {
    None
}

/// Draws the bar as widgets: the `IntProgress` filled to done/total (its
/// style tells how it ended), the `Label` with the counts and times.
#[cfg(feature = "widgets")]
fn draw_widget(
    shown: &mut Option<(crate::widgets::IntProgress, crate::widgets::Label)>,
    snapshot: &Snapshot,
) {
    use crate::widgets::{HBox, IntProgress, Label};
    let (bar, caption) = shown.get_or_insert_with(|| {
        let bar = IntProgress::new(0).description(snapshot.label.clone().unwrap_or_default());
        let caption = Label::new("");
        HBox::new([bar.clone().into(), caption.clone().into()]).display();
        (bar, caption)
    });
    let done = i64::try_from(snapshot.done).unwrap_or(i64::MAX);
    let total = snapshot
        .total
        .map_or(done, |t| i64::try_from(t).unwrap_or(i64::MAX));
    bar.set_max(total.max(1));
    bar.set_value(if total == 0 { 1 } else { done });
    bar.set_bar_style(widget_style(snapshot));
    caption.set_value(widget_caption(snapshot));
}

/// The bar's style: success when complete, warning when stopped, danger when failed.
#[cfg_attr(not(feature = "widgets"), allow(dead_code))]
pub(crate) fn widget_style(snapshot: &Snapshot) -> &'static str {
    match snapshot.end {
        Some(End::Complete) => "success",
        Some(End::Stopped) => "warning",
        Some(End::Failed) => "danger",
        None => "",
    }
}

/// What the label beside a widget bar says: `42/100 [00:01<00:02, 35.2 it/s]`.
#[cfg_attr(not(feature = "widgets"), allow(dead_code))]
pub(crate) fn widget_caption(snapshot: &Snapshot) -> String {
    let counts = match snapshot.total {
        Some(total) => format!("{}/{total}", snapshot.done),
        None => format!("{} it", snapshot.done),
    };
    format!("{counts} [{}]{}", snapshot.timing(), snapshot.ending())
}

/// How a bar ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Every item was done.
    Complete,
    /// The loop stopped early (`break`, `?`, the iterator ended short).
    Stopped,
    /// The loop panicked.
    Failed,
}

/// What a bar shows at one moment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) done: u64,
    pub(crate) total: Option<u64>,
    pub(crate) elapsed: Duration,
    pub(crate) label: Option<String>,
    pub(crate) end: Option<End>,
}

impl Snapshot {
    /// Items a second, once there is something to measure.
    fn rate(&self) -> Option<f64> {
        let seconds = self.elapsed.as_secs_f64();
        (self.done > 0 && seconds > 0.0).then(|| self.done as f64 / seconds)
    }

    fn fraction(&self) -> Option<f64> {
        self.total.map(|total| {
            if total == 0 {
                1.0
            } else {
                (self.done as f64 / total as f64).min(1.0)
            }
        })
    }

    fn left(&self) -> Option<Duration> {
        let remaining = self.total?.saturating_sub(self.done);
        let rate = self.rate()?;
        Some(Duration::from_secs_f64(remaining as f64 / rate))
    }

    fn ending(&self) -> &'static str {
        match self.end {
            Some(End::Stopped) => " (stopped)",
            Some(End::Failed) => " (failed)",
            _ => "",
        }
    }

    /// `00:01<00:02, 35.2 it/s`, as tqdm writes it.
    fn timing(&self) -> String {
        let mut out = clock(self.elapsed);
        if self.total.is_some() && self.end.is_none() {
            out.push('<');
            out.push_str(&self.left().map_or("?".to_owned(), clock));
        }
        out.push_str(", ");
        out.push_str(&rate_text(self.rate()));
        out
    }
}

/// `mm:ss`, or `h:mm:ss` from an hour on.
pub(crate) fn clock(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m:02}:{s:02}")
    }
}

/// `35.2 it/s`, or `2.50 s/it` when slower than one a second.
pub(crate) fn rate_text(rate: Option<f64>) -> String {
    match rate {
        None => "? it/s".to_owned(),
        Some(rate) if rate >= 1.0 => format!("{rate:.1} it/s"),
        Some(rate) => format!("{:.2} s/it", 1.0 / rate),
    }
}

/// The bar as one line of text:
/// `label:  42%|████████▍           | 42/100 [00:01<00:02, 35.2 it/s]`.
pub(crate) fn text(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    if let Some(label) = &snapshot.label {
        let _ = write!(out, "{label}: ");
    }
    match (snapshot.fraction(), snapshot.total) {
        (Some(fraction), Some(total)) => {
            let _ = write!(
                out,
                "{:>3.0}%|{}| {}/{total} [{}]",
                (fraction * 100.0).floor(),
                blocks(fraction),
                snapshot.done,
                snapshot.timing()
            );
        }
        _ => {
            let _ = write!(out, "{} it [{}]", snapshot.done, snapshot.timing());
        }
    }
    out.push_str(snapshot.ending());
    out
}

/// A bar of [`BAR_WIDTH`] cells, in eighths.
fn blocks(fraction: f64) -> String {
    const PARTIAL: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (fraction * (BAR_WIDTH * 8) as f64).floor() as usize;
    let full = eighths / 8;
    let mut bar = "█".repeat(full);
    if full < BAR_WIDTH {
        bar.push(PARTIAL[eighths % 8]);
        bar.push_str(&" ".repeat(BAR_WIDTH - full - 1));
    }
    bar
}

/// The bar as HTML: a `<progress>` element and the same figures as [`text`].
pub(crate) fn html(snapshot: &Snapshot) -> String {
    let colour = match snapshot.end {
        Some(End::Failed) => "#d9534f",
        Some(End::Stopped) => "#f0ad4e",
        Some(End::Complete) => "#5cb85c",
        None => "#337ab7",
    };
    let mut out = String::from(
        "<div class=\"fk-progress\" style=\"font-family: monospace; display: flex; \
         align-items: center; gap: 0.6em\">",
    );
    if let Some(label) = &snapshot.label {
        let _ = write!(out, "<span>{}</span>", escape_html(label));
    }
    let counts = match (snapshot.fraction(), snapshot.total) {
        (Some(fraction), Some(total)) => {
            let _ = write!(
                out,
                "<progress value=\"{}\" max=\"{}\" style=\"width: 20em; accent-color: {colour}\"></progress>",
                snapshot.done.min(total),
                total.max(1)
            );
            format!(
                "{:.0}% · {}/{total}",
                (fraction * 100.0).floor(),
                snapshot.done
            )
        }
        _ => format!("{} it", snapshot.done),
    };
    let _ = write!(
        out,
        "<span>{counts} [{}]{}</span></div>",
        escape_html(&snapshot.timing()),
        snapshot.ending()
    );
    out
}

/// `text` safe inside HTML or SVG markup and its attribute values.
pub(crate) fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(done: u64, total: Option<u64>, seconds: f64, end: Option<End>) -> Snapshot {
        Snapshot {
            done,
            total,
            elapsed: Duration::from_secs_f64(seconds),
            label: None,
            end,
        }
    }

    #[test]
    fn text_shows_done_of_total_rate_and_time_left() {
        assert_eq!(
            text(&at(42, Some(100), 2.0, None)),
            " 42%|████████▍           | 42/100 [00:02<00:02, 21.0 it/s]"
        );
        assert_eq!(
            text(&at(0, Some(100), 0.0, None)),
            "  0%|                    | 0/100 [00:00<?, ? it/s]"
        );
        assert_eq!(
            text(&at(100, Some(100), 75.0, Some(End::Complete))),
            "100%|████████████████████| 100/100 [01:15, 1.3 it/s]"
        );
    }

    #[test]
    fn unknown_totals_slow_rates_labels_and_early_ends() {
        let mut snapshot = at(3, None, 7.5, None);
        snapshot.label = Some("reading".into());
        assert_eq!(text(&snapshot), "reading: 3 it [00:07, 2.50 s/it]");
        assert_eq!(
            text(&at(5, Some(10), 3600.0, Some(End::Stopped))),
            " 50%|██████████          | 5/10 [1:00:00, 720.00 s/it] (stopped)"
        );
        assert!(text(&at(1, Some(10), 1.0, Some(End::Failed))).ends_with("(failed)"));
    }

    #[test]
    fn widget_bars_say_counts_times_and_how_they_ended() {
        let mut snapshot = Snapshot {
            done: 42,
            total: Some(100),
            elapsed: Duration::from_secs(1),
            label: Some("work".into()),
            end: None,
        };
        assert_eq!(widget_caption(&snapshot), "42/100 [00:01<00:01, 42.0 it/s]");
        assert_eq!(widget_style(&snapshot), "");
        snapshot.end = Some(End::Failed);
        snapshot.total = None;
        assert_eq!(
            widget_caption(&snapshot),
            "42 it [00:01, 42.0 it/s] (failed)"
        );
        assert_eq!(widget_style(&snapshot), "danger");
    }

    #[test]
    fn html_has_a_progress_element_and_escapes_the_label() {
        let mut snapshot = at(42, Some(100), 2.0, None);
        snapshot.label = Some("<b>&</b>".into());
        let html = html(&snapshot);
        assert!(
            html.contains("<progress value=\"42\" max=\"100\""),
            "{html}"
        );
        assert!(html.contains("&lt;b&gt;&amp;&lt;/b&gt;"), "{html}");
        assert!(
            html.contains("42% · 42/100 [00:02&lt;00:02, 21.0 it/s]"),
            "{html}"
        );
        assert!(html.starts_with("<div") && html.ends_with("</div>"));
    }

    #[test]
    fn the_iterator_is_unchanged_and_knows_its_total() {
        let wrapped = progress(vec![1, 2, 3]);
        assert_eq!(wrapped.total, Some(3));
        assert_eq!(wrapped.collect::<Vec<_>>(), [1, 2, 3]);
        let filtered = progress((0..10).filter(|n| n % 3 == 0));
        assert_eq!(filtered.total, None);
        let mut counted = progress(0..4);
        for _ in counted.by_ref() {}
        assert_eq!((counted.done, counted.total), (4, Some(4)));
        let mut short = progress(0..2).total(5);
        for _ in short.by_ref() {}
        assert_eq!((short.done, short.total), (2, Some(5)));
    }
}

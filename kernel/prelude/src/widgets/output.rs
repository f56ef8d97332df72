//! The Output widget, and `interact`: a closure re-run with its controls'
//! values whenever one changes, its output replacing the last.

use super::controls::{Checkbox, Dropdown, FloatSlider, IntSlider, Text, VBox};
use super::{AnyWidget, model, widget_type};
use std::io::Write;
use std::sync::Arc;

/// A widget that shows output (ipywidgets' `Output`): what a closure given to
/// [`capture`](Output::capture) prints or displays goes into it.
///
/// ```
/// use ferrokernel_prelude::widgets::Output;
/// let log = Output::new();
/// let answer = log.capture(|| {
///     println!("thinking...");
///     42
/// });
/// assert_eq!(answer, 42);
/// log.clear_output();
/// ```
///
/// The kernel points the widget at the output of the cell that captures
/// (its `msg_id`), so output printed during `capture` by other threads of
/// that cell lands there too, as with ipywidgets.
#[derive(Clone)]
pub struct Output {
    widget: AnyWidget,
}

widget_type!(Output);

impl Default for Output {
    fn default() -> Output {
        Output::new()
    }
}

impl Output {
    /// An empty Output widget.
    pub fn new() -> Output {
        Output {
            widget: AnyWidget::new(&model::OUTPUT_MODEL, "Output"),
        }
    }

    /// Runs `work` with the cell's output going into this widget (Python's
    /// `with out:`), and returns what it returns. Opens the widget; stdout
    /// and stderr are flushed before the capture ends, also when `work`
    /// panics.
    pub fn capture<R>(&self, work: impl FnOnce() -> R) -> R {
        /// Ends the capture, also on a panic.
        struct Stop<'a>(&'a Output);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                let _ = std::io::stdout().flush();
                let _ = std::io::stderr().flush();
                self.0.widget.core.capture(false);
            }
        }
        let _ = std::io::stdout().flush();
        self.widget.core.capture(true);
        let _stop = Stop(self);
        work()
    }

    /// Clears what the widget shows (Python's `out.clear_output()`).
    pub fn clear_output(&self) {
        self.capture(|| crate::notebook::clear_output(false));
    }
}

/// A widget whose value [`interact`] passes to its closure.
pub trait Control: Clone + Send + Sync + 'static {
    /// The value passed.
    type Value;
    /// The value now.
    fn current(&self) -> Self::Value;
    /// Calls `changed` whenever the value changes.
    fn on_change(&self, changed: Arc<dyn Fn() + Send + Sync>);
    /// The widget, for the box `interact` returns.
    fn as_widget(&self) -> AnyWidget;
}

macro_rules! control {
    ($name:ident, $value:ty) => {
        impl Control for $name {
            type Value = $value;
            fn current(&self) -> $value {
                self.value()
            }
            fn on_change(&self, changed: Arc<dyn Fn() + Send + Sync>) {
                self.observe(move |_| changed());
            }
            fn as_widget(&self) -> AnyWidget {
                self.into()
            }
        }

        impl Controls for $name {
            type Values = $value;
            fn values(&self) -> $value {
                self.current()
            }
            fn on_change(&self, changed: Arc<dyn Fn() + Send + Sync>) {
                Control::on_change(self, changed);
            }
            fn widgets(&self) -> Vec<AnyWidget> {
                vec![self.as_widget()]
            }
        }
    };
}

control!(IntSlider, i64);
control!(FloatSlider, f64);
control!(Checkbox, bool);
control!(Dropdown, Option<String>);
control!(Text, String);

/// One control, or a tuple of up to four, for [`interact`].
pub trait Controls: Clone + Send + Sync + 'static {
    /// The values passed to the closure: one, or a tuple.
    type Values;
    /// The values now.
    fn values(&self) -> Self::Values;
    /// Calls `changed` whenever any value changes.
    fn on_change(&self, changed: Arc<dyn Fn() + Send + Sync>);
    /// The widgets, in order.
    fn widgets(&self) -> Vec<AnyWidget>;
}

macro_rules! tuple_controls {
    ($($c:ident $i:tt),+) => {
        impl<$($c: Control),+> Controls for ($($c,)+) {
            type Values = ($($c::Value,)+);
            fn values(&self) -> Self::Values {
                ($(self.$i.current(),)+)
            }
            fn on_change(&self, changed: Arc<dyn Fn() + Send + Sync>) {
                $(self.$i.on_change(Arc::clone(&changed));)+
            }
            fn widgets(&self) -> Vec<AnyWidget> {
                vec![$(self.$i.as_widget()),+]
            }
        }
    };
}

tuple_controls!(A 0);
tuple_controls!(A 0, B 1);
tuple_controls!(A 0, B 1, C 2);
tuple_controls!(A 0, B 1, C 2, D 3);

/// Runs `show` with the controls' values now and again whenever one of them
/// changes, its output (what it prints or displays) replacing the last, like
/// ipywidgets' `interact`. Returns the controls above an [`Output`] in a
/// [`VBox`]: make it the cell's value, or `.display()` it.
///
/// ```
/// use ferrokernel_prelude::widgets::{self, IntSlider};
/// let a = IntSlider::new(2).description("a");
/// let b = IntSlider::new(3).description("b");
/// let panel = widgets::interact((a.clone(), b), |(a, b)| println!("{a} × {b} = {}", a * b));
/// a.set_value(4); // prints "4 × 3 = 12" into the panel's output
/// assert_eq!(panel.children().len(), 3);
/// ```
///
/// Changes from the frontend re-run `show` on the widgets' callback thread,
/// one run after the other.
pub fn interact<C: Controls>(
    controls: C,
    show: impl Fn(C::Values) + Send + Sync + 'static,
) -> VBox {
    let output = Output::new();
    let run: Arc<dyn Fn() + Send + Sync> = {
        let controls = controls.clone();
        let output = output.clone();
        Arc::new(move || {
            output.capture(|| {
                crate::notebook::clear_output(true);
                show(controls.values());
            })
        })
    };
    controls.on_change(Arc::clone(&run));
    let mut children = controls.widgets();
    children.push(output.into());
    let panel = VBox::new(children);
    run();
    panel
}

//! The controls: sliders, progress bars, a button, a checkbox, a dropdown,
//! text, labels, HTML and boxes.

use super::model;
use super::{AnyWidget, described, widget_type};
use crate::error::{Error, Result};
use serde_json::Value;
use std::sync::Arc;

/// A slider or progress bar over numbers of type `$num`.
macro_rules! numeric {
    (
        $(#[$doc:meta])* $name:ident, $num:ty, $model:expr, $class:literal,
        from_json: $from:expr, slider: $slider:tt
    ) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            widget: AnyWidget,
        }

        widget_type!($name);
        described!($name);

        impl $name {
            /// A new widget showing `value` (min 0, max 100, as ipywidgets').
            pub fn new(value: $num) -> Self {
                let widget = AnyWidget::new(&$model, $class);
                widget.core.set(vec![("value", value.into())]);
                $name { widget }
            }

            /// The smallest value.
            pub fn min(self, min: $num) -> Self {
                self.widget.core.set(vec![("min", min.into())]);
                self
            }

            /// The largest value.
            pub fn max(self, max: $num) -> Self {
                self.widget.core.set(vec![("max", max.into())]);
                self
            }

            /// The value now (the frontend's latest, once shown).
            pub fn value(&self) -> $num {
                let from: fn(&Value) -> Option<$num> = $from;
                from(&self.widget.core.get("value")).unwrap_or_default()
            }

            /// Sets the value, kept between min and max as ipywidgets keeps
            /// it; sends an `update` when shown; calls the observers if it changed.
            pub fn set_value(&self, value: $num) {
                let from: fn(&Value) -> Option<$num> = $from;
                let core = &self.widget.core;
                let (min, max) = (from(&core.get("min")), from(&core.get("max")));
                let mut value = value;
                if let Some(max) = max.filter(|max| value > *max) {
                    value = max;
                }
                if let Some(min) = min.filter(|min| value < *min) {
                    value = min;
                }
                core.set(vec![("value", value.into())]);
            }

            /// Calls `observer` with the new value on every change, from the
            /// frontend or from [`set_value`](Self::set_value).
            pub fn observe(&self, observer: impl Fn($num) + Send + Sync + 'static) {
                let from: fn(&Value) -> Option<$num> = $from;
                self.widget.core.observe(
                    "value",
                    Arc::new(move |value: &Value| {
                        if let Some(value) = from(value) {
                            observer(value)
                        }
                    }),
                );
            }
        }

        numeric!(@slider $name, $num, $slider);
    };
    (@slider $name:ident, $num:ty, true) => {
        impl $name {
            /// The step between values.
            pub fn step(self, step: $num) -> Self {
                self.widget.core.set(vec![("step", step.into())]);
                self
            }

            /// Whether the value changes while dragging (`true`) or on release.
            pub fn continuous_update(self, continuous: bool) -> Self {
                self.widget
                    .core
                    .set(vec![("continuous_update", continuous.into())]);
                self
            }

            /// Whether the slider is greyed out.
            pub fn disabled(self, disabled: bool) -> Self {
                self.widget.core.set(vec![("disabled", disabled.into())]);
                self
            }

            /// `"horizontal"` (the default) or `"vertical"`.
            pub fn orientation(self, orientation: &str) -> Self {
                self.widget.core.set(vec![("orientation", orientation.into())]);
                self
            }
        }
    };
    (@slider $name:ident, $num:ty, false) => {
        impl $name {
            /// `"success"`, `"info"`, `"warning"`, `"danger"` or `""`.
            pub fn bar_style(self, style: &str) -> Self {
                self.widget.core.set(vec![("bar_style", style.into())]);
                self
            }

            /// Sets the bar's style later (see [`bar_style`](Self::bar_style)).
            pub fn set_bar_style(&self, style: &str) {
                self.widget.core.set(vec![("bar_style", style.into())]);
            }

            /// Sets the largest value later.
            pub fn set_max(&self, max: $num) {
                self.widget.core.set(vec![("max", max.into())]);
            }

            /// `"horizontal"` (the default) or `"vertical"`.
            pub fn orientation(self, orientation: &str) -> Self {
                self.widget.core.set(vec![("orientation", orientation.into())]);
                self
            }
        }
    };
}

numeric!(
    /// A slider of whole numbers (ipywidgets' `IntSlider`).
    ///
    /// ```
    /// use ferrokernel_prelude::widgets::IntSlider;
    /// let slider = IntSlider::new(5).min(0).max(100).step(1).description("workers");
    /// slider.set_value(500);
    /// assert_eq!(slider.value(), 100);
    /// ```
    IntSlider, i64, model::INT_SLIDER, "IntSlider",
    from_json: Value::as_i64, slider: true
);

numeric!(
    /// A slider of floating-point numbers (ipywidgets' `FloatSlider`; step 0.1).
    ///
    /// ```
    /// use ferrokernel_prelude::widgets::FloatSlider;
    /// let rate = FloatSlider::new(0.5).max(1.0).step(0.05);
    /// assert_eq!(rate.value(), 0.5);
    /// ```
    FloatSlider, f64, model::FLOAT_SLIDER, "FloatSlider",
    from_json: Value::as_f64, slider: true
);

numeric!(
    /// A progress bar of whole numbers (ipywidgets' `IntProgress`).
    ///
    /// ```
    /// use ferrokernel_prelude::widgets::IntProgress;
    /// let bar = IntProgress::new(0).max(10).description("tasks");
    /// for done in 1..=10 {
    ///     bar.set_value(done);
    /// }
    /// assert_eq!(bar.value(), 10);
    /// ```
    IntProgress, i64, model::INT_PROGRESS, "IntProgress",
    from_json: Value::as_i64, slider: false
);

numeric!(
    /// A progress bar of floating-point numbers (ipywidgets' `FloatProgress`).
    ///
    /// ```
    /// use ferrokernel_prelude::widgets::FloatProgress;
    /// let bar = FloatProgress::new(0.0).max(1.0);
    /// bar.set_value(0.25);
    /// assert_eq!(bar.value(), 0.25);
    /// ```
    FloatProgress, f64, model::FLOAT_PROGRESS, "FloatProgress",
    from_json: Value::as_f64, slider: false
);

/// A button (ipywidgets' `Button`); [`on_click`](Button::on_click) handlers
/// run when it is clicked in the frontend.
///
/// ```
/// use ferrokernel_prelude::widgets::Button;
/// let run = Button::new("Run").button_style("primary");
/// run.on_click(|| println!("clicked"));
/// ```
#[derive(Clone)]
pub struct Button {
    widget: AnyWidget,
}

widget_type!(Button);
described!(Button);

impl Button {
    /// A button labelled `description`.
    pub fn new(description: impl Into<String>) -> Button {
        let widget = AnyWidget::new(&model::BUTTON, "Button");
        widget
            .core
            .set(vec![("description", description.into().into())]);
        Button { widget }
    }

    /// `"primary"`, `"success"`, `"info"`, `"warning"`, `"danger"` or `""`.
    pub fn button_style(self, style: &str) -> Button {
        self.widget.core.set(vec![("button_style", style.into())]);
        self
    }

    /// A Font Awesome icon name, without `fa-` (`"play"`).
    pub fn icon(self, icon: &str) -> Button {
        self.widget.core.set(vec![("icon", icon.into())]);
        self
    }

    /// Whether the button is greyed out.
    pub fn disabled(self, disabled: bool) -> Button {
        self.set_disabled(disabled);
        self
    }

    /// Greys the button out, or not, later (e.g. while its work runs).
    pub fn set_disabled(&self, disabled: bool) {
        self.widget.core.set(vec![("disabled", disabled.into())]);
    }

    /// The label.
    pub fn label(&self) -> String {
        self.widget
            .core
            .get("description")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Changes the label.
    pub fn set_label(&self, description: impl Into<String>) {
        self.widget
            .core
            .set(vec![("description", description.into().into())]);
    }

    /// Calls `handler` on every click in the frontend (on the widgets'
    /// callback thread; clicks are handled one after the other). Capture
    /// clones of other widgets to use them.
    pub fn on_click(&self, handler: impl Fn() + Send + Sync + 'static) {
        self.widget.core.on_click(Arc::new(handler));
    }

    /// Runs the click handlers now, as a click in the frontend would.
    pub fn click(&self) {
        self.widget.core.click();
    }
}

/// A checkbox (ipywidgets' `Checkbox`).
///
/// ```
/// use ferrokernel_prelude::widgets::Checkbox;
/// let verbose = Checkbox::new(false).description("verbose");
/// verbose.set_value(true);
/// assert!(verbose.value());
/// ```
#[derive(Clone)]
pub struct Checkbox {
    widget: AnyWidget,
}

widget_type!(Checkbox);
described!(Checkbox);

impl Checkbox {
    /// A checkbox, ticked when `value`.
    pub fn new(value: bool) -> Checkbox {
        let widget = AnyWidget::new(&model::CHECKBOX, "Checkbox");
        widget.core.set(vec![("value", value.into())]);
        Checkbox { widget }
    }

    /// Whether the description is indented as other controls' are (default `true`).
    pub fn indent(self, indent: bool) -> Checkbox {
        self.widget.core.set(vec![("indent", indent.into())]);
        self
    }

    /// Whether it is ticked.
    pub fn value(&self) -> bool {
        self.widget.core.get("value").as_bool().unwrap_or_default()
    }

    /// Ticks it or not.
    pub fn set_value(&self, value: bool) {
        self.widget.core.set(vec![("value", value.into())]);
    }

    /// Calls `observer` with the new value on every change.
    pub fn observe(&self, observer: impl Fn(bool) + Send + Sync + 'static) {
        self.widget.core.observe(
            "value",
            Arc::new(move |value: &Value| {
                if let Some(value) = value.as_bool() {
                    observer(value)
                }
            }),
        );
    }
}

/// A dropdown list (ipywidgets' `Dropdown`) of text options; the first is
/// chosen at first.
///
/// ```
/// use ferrokernel_prelude::widgets::Dropdown;
/// let method = Dropdown::new(["fork", "spawn"]).description("start");
/// assert_eq!(method.value().as_deref(), Some("fork"));
/// method.set_value("spawn")?;
/// assert_eq!(method.index(), Some(1));
/// assert!(method.set_value("forkserver").is_err());
/// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
/// ```
#[derive(Clone)]
pub struct Dropdown {
    widget: AnyWidget,
}

widget_type!(Dropdown);
described!(Dropdown);

impl Dropdown {
    /// A dropdown of these options.
    pub fn new<S: Into<String>>(options: impl IntoIterator<Item = S>) -> Dropdown {
        let labels: Vec<Value> = options
            .into_iter()
            .map(|o| Value::String(o.into()))
            .collect();
        let index = if labels.is_empty() {
            Value::Null
        } else {
            0.into()
        };
        let widget = AnyWidget::new(&model::DROPDOWN, "Dropdown");
        widget.core.set(vec![
            ("_options_labels", Value::Array(labels)),
            ("index", index),
        ]);
        Dropdown { widget }
    }

    /// The options.
    pub fn options(&self) -> Vec<String> {
        options_of(&self.widget.core.get("_options_labels"))
    }

    /// The chosen option's position (`None`: nothing chosen).
    pub fn index(&self) -> Option<usize> {
        let index = self.widget.core.get("index").as_u64()?;
        usize::try_from(index).ok()
    }

    /// The chosen option.
    pub fn value(&self) -> Option<String> {
        let index = self.index()?;
        self.options().into_iter().nth(index)
    }

    /// Chooses the option at `index`; `Err(IndexOutOfRange)` past the end.
    pub fn set_index(&self, index: usize) -> Result<()> {
        let len = self.options().len();
        if index >= len {
            return Err(Error::IndexOutOfRange {
                index: i64::try_from(index).unwrap_or(i64::MAX),
                len,
            });
        }
        self.widget.core.set(vec![("index", index.into())]);
        Ok(())
    }

    /// Chooses the option `value`; `Err(NotFound)` if there is none.
    pub fn set_value(&self, value: &str) -> Result<()> {
        let index = self
            .options()
            .iter()
            .position(|o| o == value)
            .ok_or(Error::NotFound)?;
        self.set_index(index)
    }

    /// Calls `observer` with the newly chosen option (`None`: nothing) on
    /// every change.
    pub fn observe(&self, observer: impl Fn(Option<String>) + Send + Sync + 'static) {
        let core = Arc::downgrade(&self.widget.core);
        self.widget.core.observe(
            "index",
            Arc::new(move |index: &Value| {
                let labels = core
                    .upgrade()
                    .map(|core| options_of(&core.get("_options_labels")))
                    .unwrap_or_default();
                let chosen = index
                    .as_u64()
                    .and_then(|i| labels.into_iter().nth(usize::try_from(i).ok()?));
                observer(chosen)
            }),
        );
    }
}

fn options_of(labels: &Value) -> Vec<String> {
    labels
        .as_array()
        .map(|labels| {
            labels
                .iter()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A text widget that holds a string: `value`, `set_value`, `observe`.
macro_rules! textual {
    ($(#[$doc:meta])* $name:ident, $model:expr, $class:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            widget: AnyWidget,
        }

        widget_type!($name);
        described!($name);

        impl $name {
            /// A new widget holding `value`.
            pub fn new(value: impl Into<String>) -> Self {
                let widget = AnyWidget::new(&$model, $class);
                widget.core.set(vec![("value", value.into().into())]);
                $name { widget }
            }

            /// The text now.
            pub fn value(&self) -> String {
                self.widget
                    .core
                    .get("value")
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            }

            /// Replaces the text.
            pub fn set_value(&self, value: impl Into<String>) {
                self.widget.core.set(vec![("value", value.into().into())]);
            }

            /// Calls `observer` with the new text on every change.
            pub fn observe(&self, observer: impl Fn(String) + Send + Sync + 'static) {
                self.widget.core.observe(
                    "value",
                    Arc::new(move |value: &Value| {
                        if let Some(value) = value.as_str() {
                            observer(value.to_owned())
                        }
                    }),
                );
            }

            /// What shows while the text is empty.
            pub fn placeholder(self, placeholder: impl Into<String>) -> Self {
                self.widget
                    .core
                    .set(vec![("placeholder", placeholder.into().into())]);
                self
            }
        }
    };
}

textual!(
    /// A line of text the user edits (ipywidgets' `Text`).
    ///
    /// ```
    /// use ferrokernel_prelude::widgets::Text;
    /// let name = Text::new("").placeholder("your name").description("name");
    /// name.set_value("Ada");
    /// assert_eq!(name.value(), "Ada");
    /// ```
    Text, model::TEXT, "Text"
);

textual!(
    /// A text label (ipywidgets' `Label`).
    ///
    /// ```
    /// use ferrokernel_prelude::widgets::Label;
    /// let status = Label::new("idle");
    /// status.set_value("running");
    /// ```
    Label, model::LABEL, "Label"
);

textual!(
    /// HTML shown as it is (ipywidgets' `HTML`).
    ///
    /// ```
    /// use ferrokernel_prelude::widgets::HTML;
    /// let note = HTML::new("<b>ready</b>");
    /// assert_eq!(note.value(), "<b>ready</b>");
    /// ```
    HTML, model::HTML, "HTML"
);

impl Text {
    /// Whether the value changes with every key (`true`) or on Enter.
    pub fn continuous_update(self, continuous: bool) -> Text {
        self.widget
            .core
            .set(vec![("continuous_update", continuous.into())]);
        self
    }
}

/// A box of widgets side by side or one above the other.
macro_rules! boxed {
    ($(#[$doc:meta])* $name:ident, $model:expr, $class:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            widget: AnyWidget,
        }

        widget_type!($name);

        impl $name {
            /// A box of these widgets, opened with it: any widgets, each
            /// `.into()` an [`AnyWidget`].
            pub fn new(children: impl IntoIterator<Item = AnyWidget>) -> Self {
                let widget = AnyWidget::new(&$model, $class);
                let children = children.into_iter().map(|c| c.core).collect();
                widget.core.set_children(children);
                $name { widget }
            }

            /// The widgets in the box.
            pub fn children(&self) -> Vec<AnyWidget> {
                self.widget
                    .core
                    .children()
                    .into_iter()
                    .map(|core| AnyWidget { core })
                    .collect()
            }

            /// Replaces the widgets in the box.
            pub fn set_children(&self, children: impl IntoIterator<Item = AnyWidget>) {
                let children = children.into_iter().map(|c| c.core).collect();
                self.widget.core.set_children(children);
            }

            /// `"success"`, `"info"`, `"warning"`, `"danger"` or `""`.
            pub fn box_style(self, style: &str) -> Self {
                self.widget.core.set(vec![("box_style", style.into())]);
                self
            }
        }
    };
}

boxed!(
    /// Widgets side by side (ipywidgets' `HBox`).
    ///
    /// ```
    /// use ferrokernel_prelude::widgets::{Button, HBox, IntSlider};
    /// let workers = IntSlider::new(4).description("workers");
    /// let row = HBox::new([workers.clone().into(), Button::new("Run").into()]);
    /// assert_eq!(row.children().len(), 2);
    /// ```
    HBox, model::HBOX, "HBox"
);

boxed!(
    /// Widgets one above the other (ipywidgets' `VBox`).
    ///
    /// ```
    /// use ferrokernel_prelude::widgets::{IntSlider, VBox};
    /// let column = VBox::new([IntSlider::new(1).into(), IntSlider::new(2).into()]);
    /// assert_eq!(column.children().len(), 2);
    /// ```
    VBox, model::VBOX, "VBox"
);

//! Jupyter widgets from Rust cells: ipywidgets' controls with Rust builders.
//!
//! ```
//! use ferrokernel_prelude::widgets;
//! let workers = widgets::IntSlider::new(4).min(1).max(16).description("workers");
//! workers.observe(|n| println!("now {n} workers"));
//! workers.set_value(8); // prints "now 8 workers"
//! assert_eq!(workers.value(), 8);
//! ```
//!
//! In a notebook a widget shows when it is a cell's value, or with
//! [`display()`](IntSlider::display); moving the slider in the browser changes
//! what [`value()`](IntSlider::value) returns at once, even in a cell that is
//! running. Clones share one widget.
//!
//! | Rust | ipywidgets model (`@jupyter-widgets/controls` 2.0.0 unless said) |
//! |---|---|
//! | [`IntSlider`] | `IntSliderModel` (+ `SliderStyleModel`) |
//! | [`FloatSlider`] | `FloatSliderModel` (+ `SliderStyleModel`) |
//! | [`IntProgress`] | `IntProgressModel` (+ `ProgressStyleModel`) |
//! | [`FloatProgress`] | `FloatProgressModel` (+ `ProgressStyleModel`) |
//! | [`Button`] | `ButtonModel` (+ `ButtonStyleModel`) |
//! | [`Checkbox`] | `CheckboxModel` (+ `CheckboxStyleModel`) |
//! | [`Dropdown`] | `DropdownModel` (+ `DescriptionStyleModel`) |
//! | [`Text`] | `TextModel` (+ `TextStyleModel`) |
//! | [`Label`] | `LabelModel` (+ `LabelStyleModel`) |
//! | [`HTML`] | `HTMLModel` (+ `HTMLStyleModel`) |
//! | [`HBox`], [`VBox`] | `HBoxModel`, `VBoxModel` |
//! | [`Output`] | `OutputModel` (`@jupyter-widgets/output` 1.0.0) |
//!
//! Every widget but the styles also has a `LayoutModel` (`@jupyter-widgets/base`
//! 2.0.0). The state each sends is every attribute ipywidgets 8's schema
//! lists for its model, with ipywidgets' defaults.
//!
//! ## When a widget's comm opens
//! Lazily: when the widget is first shown, first used as a box's child (or
//! an interact's control), or when an [`Output`] first captures — not on
//! construction, as ipywidgets does. The builder calls before that change
//! only local state, so a widget opens with one `comm_open` carrying its
//! final state; its layout and style widgets open just before it. Once open,
//! every change (`set_value`, a builder call) sends an `update` with only the
//! attributes that changed. A widget never shown never reaches the frontend.
//!
//! ## Outside the kernel
//! Comm lines are written only inside ferrokernel's runtime. In an ordinary
//! program widgets are plain values: `value`, `set_value` and `observe` work,
//! `display()` prints the display marker line as [`notebook::display`](crate::notebook::display)
//! does, and nothing else is written.
//!
//! ## From the frontend
//! One thread of the runtime reads the frontend's messages (see the kernel's
//! comm pipe): an `update` is checked attribute by attribute (an unknown comm
//! id, or a value of the wrong type, is logged on stderr and changes
//! nothing) and then applied; observers and click handlers it causes run in
//! order on a thread of their own, so a long click handler does not hold up
//! the next update. `request_state` is answered with the full state.

mod comms;
mod controls;
mod model;
mod output;

pub use controls::{
    Button, Checkbox, Dropdown, FloatProgress, FloatSlider, HBox, HTML, IntProgress, IntSlider,
    Label, Text, VBox,
};
pub use output::{Control, Controls, Output, interact};

pub(crate) use comms::Comms;

use comms::Core;
use std::sync::Arc;

#[cfg(test)]
thread_local! {
    /// Tests: the registry of this test's thread (a recording one).
    static TEST_COMMS: std::cell::Cell<Option<&'static Comms>> = const { std::cell::Cell::new(None) };
}

/// The registry new widgets join: the process's one.
fn comms() -> &'static Comms {
    #[cfg(test)]
    if let Some(comms) = TEST_COMMS.with(std::cell::Cell::get) {
        return comms;
    }
    &crate::sys::globals::globals().widgets
}

/// Starts the reader of the frontend's messages (once per runtime; see
/// `notebook::install_runtime`).
pub(crate) fn start_reader() {
    comms().start_reader();
}

/// Whether a frontend with the widget manager is connected (so progress bars
/// may be widgets).
pub(crate) fn frontend_has_manager() -> bool {
    comms().has_manager()
}

/// Any widget: what boxes hold. Every widget converts into one with `.into()`.
///
/// ```
/// use ferrokernel_prelude::widgets::{AnyWidget, Button, IntSlider};
/// let row: Vec<AnyWidget> = vec![IntSlider::new(1).into(), Button::new("Go").into()];
/// assert_eq!(row.len(), 2);
/// ```
#[derive(Clone)]
pub struct AnyWidget {
    core: Arc<Core>,
}

impl AnyWidget {
    fn new(model: &'static model::Model, class: &'static str) -> AnyWidget {
        AnyWidget {
            core: Core::new(comms(), model, class),
        }
    }

    /// The comm id (the `model_id` of its views); opens the widget.
    pub fn model_id(&self) -> String {
        self.core.open();
        self.core.id.clone()
    }

    /// Shows the widget now (a `display_data` of its view); opens it first.
    pub fn display(&self) {
        self.core.open();
        let (view, plain) = self.bundle();
        crate::notebook::display(&[(model::VIEW_MIME, &view), ("text/plain", &plain)]);
    }

    /// Shows the widget as the cell's value (what a cell ending in the widget
    /// calls; see `notebook::show`).
    pub fn evcxr_display(&self) {
        self.core.open();
        let (view, plain) = self.bundle();
        crate::notebook::show::send_bundle(&[(model::VIEW_MIME, &view), ("text/plain", &plain)]);
    }

    /// Closes the widget's comm: its views in the frontend go away and it
    /// no longer talks (it keeps its value).
    pub fn close(&self) {
        self.core.close();
    }

    /// The view's JSON and the text fallback.
    fn bundle(&self) -> (String, String) {
        let view = serde_json::json!({
            "model_id": self.core.id,
            "version_major": 2,
            "version_minor": 1,
        });
        (view.to_string(), self.core.repr())
    }
}

impl std::fmt::Debug for AnyWidget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.core.repr())
    }
}

/// The methods every widget type has, delegating to its [`AnyWidget`].
macro_rules! widget_type {
    ($name:ident) => {
        impl $name {
            /// The comm id (the `model_id` of its views); opens the widget.
            pub fn model_id(&self) -> String {
                self.widget.model_id()
            }

            /// Shows the widget now; opens it first.
            pub fn display(&self) {
                self.widget.display()
            }

            /// Shows the widget as the cell's value.
            pub fn evcxr_display(&self) {
                self.widget.evcxr_display()
            }

            /// Closes the widget's comm (see [`AnyWidget::close`]).
            pub fn close(&self) {
                self.widget.close()
            }

            /// A tooltip.
            pub fn tooltip(self, tooltip: impl Into<String>) -> Self {
                self.widget
                    .core
                    .set(vec![("tooltip", tooltip.into().into())]);
                self
            }
        }

        impl From<$name> for AnyWidget {
            fn from(widget: $name) -> AnyWidget {
                widget.widget
            }
        }

        impl From<&$name> for AnyWidget {
            fn from(widget: &$name) -> AnyWidget {
                widget.widget.clone()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.widget.fmt(f)
            }
        }
    };
}
pub(crate) use widget_type;

/// The `description` builder of the widgets that have one.
macro_rules! described {
    ($name:ident) => {
        impl $name {
            /// The label shown beside the control (ipywidgets' `description`).
            pub fn description(self, description: impl Into<String>) -> Self {
                self.widget
                    .core
                    .set(vec![("description", description.into().into())]);
                self
            }
        }
    };
}
pub(crate) use described;

#[cfg(test)]
mod tests;

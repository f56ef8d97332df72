//! The ipywidgets 8 models this module speaks, as data: each model's names,
//! module and version, and every attribute of its state with its type and
//! default, as ipywidgets' `packages/schema/jupyterwidgetmodels.latest.md`
//! lists them. A widget's opening state, and the check of a frontend's
//! update, are pure functions of these tables.

use serde_json::{Map, Value};

/// `@jupyter-widgets/controls`, the module of the controls.
pub(crate) const CONTROLS: &str = "@jupyter-widgets/controls";
/// `@jupyter-widgets/base` (layouts, and the view of styles).
pub(crate) const BASE: &str = "@jupyter-widgets/base";
/// `@jupyter-widgets/output`.
pub(crate) const OUTPUT: &str = "@jupyter-widgets/output";
/// The version of the controls and base modules (ipywidgets 8).
pub(crate) const VERSION_2: &str = "2.0.0";
/// The version of the output module.
pub(crate) const VERSION_1: &str = "1.0.0";
/// The comm target of widgets.
pub(crate) const TARGET: &str = "jupyter.widget";
/// The widget protocol version, in every `comm_open`'s metadata.
pub(crate) const PROTOCOL_VERSION: &str = "2.1.0";
/// The MIME type of a widget's view in a display.
pub(crate) const VIEW_MIME: &str = "application/vnd.jupyter.widget-view+json";

/// An attribute's JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `_model_name` and friends: never changed by the frontend.
    Fixed,
    Int,
    Float,
    Bool,
    Str,
    NullInt,
    NullFloat,
    NullBool,
    NullStr,
    /// An array of strings.
    Strs,
    /// An array of JSON objects (an Output's `outputs`).
    Objects,
    /// `"IPY_MODEL_<id>"`, set by this side only.
    Ref,
    /// An array of references (a box's `children`).
    Refs,
}

/// An attribute's default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Init {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(&'static str),
    /// `[]`.
    Empty,
}

impl Init {
    fn to_json(self) -> Value {
        match self {
            Init::Null => Value::Null,
            Init::Int(n) => n.into(),
            Init::Float(x) => x.into(),
            Init::Bool(b) => b.into(),
            Init::Str(s) => s.into(),
            Init::Empty => Value::Array(Vec::new()),
        }
    }
}

impl Kind {
    /// Whether `value` has this type.
    pub(crate) fn admits(self, value: &Value) -> bool {
        match self {
            Kind::Fixed | Kind::Ref | Kind::Refs => false,
            Kind::Int => value.is_i64() || value.is_u64(),
            Kind::Float => value.is_number(),
            Kind::Bool => value.is_boolean(),
            Kind::Str => value.is_string(),
            Kind::NullInt => value.is_null() || Kind::Int.admits(value),
            Kind::NullFloat => value.is_null() || value.is_number(),
            Kind::NullBool => value.is_null() || value.is_boolean(),
            Kind::NullStr => value.is_null() || value.is_string(),
            Kind::Strs => value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string)),
            Kind::Objects => value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_object)),
        }
    }
}

/// One model: what `_model_*` and `_view_*` say, and its attributes.
#[derive(Debug)]
pub(crate) struct Model {
    pub(crate) name: &'static str,
    pub(crate) module: &'static str,
    pub(crate) version: &'static str,
    pub(crate) view: &'static str,
    pub(crate) view_module: &'static str,
    pub(crate) view_version: &'static str,
    /// Every attribute but the six `_model_*`/`_view_*` names.
    pub(crate) attrs: &'static [(&'static str, Kind, Init)],
    /// The style model the widget references, if any.
    pub(crate) style: Option<&'static Model>,
    /// Whether the widget references a layout.
    pub(crate) layout: bool,
}

impl Model {
    /// The attribute's type (`None`: the model has no such attribute).
    pub(crate) fn kind(&self, attr: &str) -> Option<Kind> {
        if attr.starts_with("_model_") || attr.starts_with("_view_") {
            return Some(Kind::Fixed);
        }
        self.attrs
            .iter()
            .find(|(name, _, _)| *name == attr)
            .map(|(_, kind, _)| *kind)
    }

    /// The default state: every attribute, references still empty.
    pub(crate) fn defaults(&self) -> Map<String, Value> {
        let mut state = Map::new();
        for (key, value) in [
            ("_model_name", self.name),
            ("_model_module", self.module),
            ("_model_module_version", self.version),
            ("_view_name", self.view),
            ("_view_module", self.view_module),
            ("_view_module_version", self.view_version),
        ] {
            state.insert(key.to_owned(), value.into());
        }
        for (name, _, default) in self.attrs {
            state.insert((*name).to_owned(), default.to_json());
        }
        state
    }

    /// The attribute's default, as JSON.
    pub(crate) fn default_of(&self, attr: &str) -> Option<Value> {
        self.attrs
            .iter()
            .find(|(name, _, _)| *name == attr)
            .map(|(_, _, default)| default.to_json())
    }
}

use Init as D;
use Kind as K;

/// Builds a `Model` of the controls module.
macro_rules! controls {
    ($name:literal, $view:literal, style: $style:expr, layout: $layout:expr, [$($attr:tt)*]) => {
        Model {
            name: $name,
            module: CONTROLS,
            version: VERSION_2,
            view: $view,
            view_module: CONTROLS,
            view_version: VERSION_2,
            attrs: &[$($attr)*],
            style: $style,
            layout: $layout,
        }
    };
}

/// Builds a style `Model` (controls module, base `StyleView`).
macro_rules! style {
    ($name:literal, [$($attr:tt)*]) => {
        Model {
            name: $name,
            module: CONTROLS,
            version: VERSION_2,
            view: "StyleView",
            view_module: BASE,
            view_version: VERSION_2,
            attrs: &[$($attr)*],
            style: None,
            layout: false,
        }
    };
}

pub(crate) static LAYOUT: Model = Model {
    name: "LayoutModel",
    module: BASE,
    version: VERSION_2,
    view: "LayoutView",
    view_module: BASE,
    view_version: VERSION_2,
    attrs: &[
        ("align_content", K::NullStr, D::Null),
        ("align_items", K::NullStr, D::Null),
        ("align_self", K::NullStr, D::Null),
        ("border_bottom", K::NullStr, D::Null),
        ("border_left", K::NullStr, D::Null),
        ("border_right", K::NullStr, D::Null),
        ("border_top", K::NullStr, D::Null),
        ("bottom", K::NullStr, D::Null),
        ("display", K::NullStr, D::Null),
        ("flex", K::NullStr, D::Null),
        ("flex_flow", K::NullStr, D::Null),
        ("grid_area", K::NullStr, D::Null),
        ("grid_auto_columns", K::NullStr, D::Null),
        ("grid_auto_flow", K::NullStr, D::Null),
        ("grid_auto_rows", K::NullStr, D::Null),
        ("grid_column", K::NullStr, D::Null),
        ("grid_gap", K::NullStr, D::Null),
        ("grid_row", K::NullStr, D::Null),
        ("grid_template_areas", K::NullStr, D::Null),
        ("grid_template_columns", K::NullStr, D::Null),
        ("grid_template_rows", K::NullStr, D::Null),
        ("height", K::NullStr, D::Null),
        ("justify_content", K::NullStr, D::Null),
        ("justify_items", K::NullStr, D::Null),
        ("left", K::NullStr, D::Null),
        ("margin", K::NullStr, D::Null),
        ("max_height", K::NullStr, D::Null),
        ("max_width", K::NullStr, D::Null),
        ("min_height", K::NullStr, D::Null),
        ("min_width", K::NullStr, D::Null),
        ("object_fit", K::NullStr, D::Null),
        ("object_position", K::NullStr, D::Null),
        ("order", K::NullStr, D::Null),
        ("overflow", K::NullStr, D::Null),
        ("padding", K::NullStr, D::Null),
        ("right", K::NullStr, D::Null),
        ("top", K::NullStr, D::Null),
        ("visibility", K::NullStr, D::Null),
        ("width", K::NullStr, D::Null),
    ],
    style: None,
    layout: false,
};

pub(crate) static SLIDER_STYLE: Model = style!(
    "SliderStyleModel",
    [
        ("description_width", K::Str, D::Str("")),
        ("handle_color", K::NullStr, D::Null),
    ]
);
pub(crate) static PROGRESS_STYLE: Model = style!(
    "ProgressStyleModel",
    [
        ("bar_color", K::NullStr, D::Null),
        ("description_width", K::Str, D::Str("")),
    ]
);
pub(crate) static DESCRIPTION_STYLE: Model = style!(
    "DescriptionStyleModel",
    [("description_width", K::Str, D::Str(""))]
);
pub(crate) static CHECKBOX_STYLE: Model = style!(
    "CheckboxStyleModel",
    [
        ("background", K::NullStr, D::Null),
        ("description_width", K::Str, D::Str("")),
    ]
);
pub(crate) static BUTTON_STYLE: Model = style!(
    "ButtonStyleModel",
    [
        ("button_color", K::NullStr, D::Null),
        ("font_family", K::NullStr, D::Null),
        ("font_size", K::NullStr, D::Null),
        ("font_style", K::NullStr, D::Null),
        ("font_variant", K::NullStr, D::Null),
        ("font_weight", K::NullStr, D::Null),
        ("text_color", K::NullStr, D::Null),
        ("text_decoration", K::NullStr, D::Null),
    ]
);
pub(crate) static TEXT_STYLE: Model = style!(
    "TextStyleModel",
    [
        ("background", K::NullStr, D::Null),
        ("description_width", K::Str, D::Str("")),
        ("font_size", K::NullStr, D::Null),
        ("text_color", K::NullStr, D::Null),
    ]
);
pub(crate) static HTML_STYLE: Model = style!(
    "HTMLStyleModel",
    [
        ("background", K::NullStr, D::Null),
        ("description_width", K::Str, D::Str("")),
        ("font_size", K::NullStr, D::Null),
        ("text_color", K::NullStr, D::Null),
    ]
);
pub(crate) static LABEL_STYLE: Model = style!(
    "LabelStyleModel",
    [
        ("background", K::NullStr, D::Null),
        ("description_width", K::Str, D::Str("")),
        ("font_family", K::NullStr, D::Null),
        ("font_size", K::NullStr, D::Null),
        ("font_style", K::NullStr, D::Null),
        ("font_variant", K::NullStr, D::Null),
        ("font_weight", K::NullStr, D::Null),
        ("text_color", K::NullStr, D::Null),
        ("text_decoration", K::NullStr, D::Null),
    ]
);

pub(crate) static INT_SLIDER: Model = controls!(
    "IntSliderModel", "IntSliderView", style: Some(&SLIDER_STYLE), layout: true,
    [
        ("_dom_classes", K::Strs, D::Empty),
        ("behavior", K::Str, D::Str("drag-tap")),
        ("continuous_update", K::Bool, D::Bool(true)),
        ("description", K::Str, D::Str("")),
        ("description_allow_html", K::Bool, D::Bool(false)),
        ("disabled", K::Bool, D::Bool(false)),
        ("layout", K::Ref, D::Null),
        ("max", K::Int, D::Int(100)),
        ("min", K::Int, D::Int(0)),
        ("orientation", K::Str, D::Str("horizontal")),
        ("readout", K::Bool, D::Bool(true)),
        ("readout_format", K::Str, D::Str("d")),
        ("step", K::Int, D::Int(1)),
        ("style", K::Ref, D::Null),
        ("tabbable", K::NullBool, D::Null),
        ("tooltip", K::NullStr, D::Null),
        ("value", K::Int, D::Int(0)),
    ]
);

pub(crate) static FLOAT_SLIDER: Model = controls!(
    "FloatSliderModel", "FloatSliderView", style: Some(&SLIDER_STYLE), layout: true,
    [
        ("_dom_classes", K::Strs, D::Empty),
        ("behavior", K::Str, D::Str("drag-tap")),
        ("continuous_update", K::Bool, D::Bool(true)),
        ("description", K::Str, D::Str("")),
        ("description_allow_html", K::Bool, D::Bool(false)),
        ("disabled", K::Bool, D::Bool(false)),
        ("layout", K::Ref, D::Null),
        ("max", K::Float, D::Float(100.0)),
        ("min", K::Float, D::Float(0.0)),
        ("orientation", K::Str, D::Str("horizontal")),
        ("readout", K::Bool, D::Bool(true)),
        ("readout_format", K::Str, D::Str(".2f")),
        ("step", K::NullFloat, D::Float(0.1)),
        ("style", K::Ref, D::Null),
        ("tabbable", K::NullBool, D::Null),
        ("tooltip", K::NullStr, D::Null),
        ("value", K::Float, D::Float(0.0)),
    ]
);

pub(crate) static INT_PROGRESS: Model = controls!(
    "IntProgressModel", "ProgressView", style: Some(&PROGRESS_STYLE), layout: true,
    [
        ("_dom_classes", K::Strs, D::Empty),
        ("bar_style", K::Str, D::Str("")),
        ("description", K::Str, D::Str("")),
        ("description_allow_html", K::Bool, D::Bool(false)),
        ("layout", K::Ref, D::Null),
        ("max", K::Int, D::Int(100)),
        ("min", K::Int, D::Int(0)),
        ("orientation", K::Str, D::Str("horizontal")),
        ("style", K::Ref, D::Null),
        ("tabbable", K::NullBool, D::Null),
        ("tooltip", K::NullStr, D::Null),
        ("value", K::Int, D::Int(0)),
    ]
);

pub(crate) static FLOAT_PROGRESS: Model = controls!(
    "FloatProgressModel", "ProgressView", style: Some(&PROGRESS_STYLE), layout: true,
    [
        ("_dom_classes", K::Strs, D::Empty),
        ("bar_style", K::NullStr, D::Str("")),
        ("description", K::Str, D::Str("")),
        ("description_allow_html", K::Bool, D::Bool(false)),
        ("layout", K::Ref, D::Null),
        ("max", K::Float, D::Float(100.0)),
        ("min", K::Float, D::Float(0.0)),
        ("orientation", K::Str, D::Str("horizontal")),
        ("style", K::Ref, D::Null),
        ("tabbable", K::NullBool, D::Null),
        ("tooltip", K::NullStr, D::Null),
        ("value", K::Float, D::Float(0.0)),
    ]
);

pub(crate) static BUTTON: Model = controls!(
    "ButtonModel", "ButtonView", style: Some(&BUTTON_STYLE), layout: true,
    [
        ("_dom_classes", K::Strs, D::Empty),
        ("button_style", K::Str, D::Str("")),
        ("description", K::Str, D::Str("")),
        ("disabled", K::Bool, D::Bool(false)),
        ("icon", K::Str, D::Str("")),
        ("layout", K::Ref, D::Null),
        ("style", K::Ref, D::Null),
        ("tabbable", K::NullBool, D::Null),
        ("tooltip", K::NullStr, D::Null),
    ]
);

pub(crate) static CHECKBOX: Model = controls!(
    "CheckboxModel", "CheckboxView", style: Some(&CHECKBOX_STYLE), layout: true,
    [
        ("_dom_classes", K::Strs, D::Empty),
        ("description", K::Str, D::Str("")),
        ("description_allow_html", K::Bool, D::Bool(false)),
        ("disabled", K::Bool, D::Bool(false)),
        ("indent", K::Bool, D::Bool(true)),
        ("layout", K::Ref, D::Null),
        ("style", K::Ref, D::Null),
        ("tabbable", K::NullBool, D::Null),
        ("tooltip", K::NullStr, D::Null),
        ("value", K::Bool, D::Bool(false)),
    ]
);

pub(crate) static DROPDOWN: Model = controls!(
    "DropdownModel", "DropdownView", style: Some(&DESCRIPTION_STYLE), layout: true,
    [
        ("_dom_classes", K::Strs, D::Empty),
        ("_options_labels", K::Strs, D::Empty),
        ("description", K::Str, D::Str("")),
        ("description_allow_html", K::Bool, D::Bool(false)),
        ("disabled", K::Bool, D::Bool(false)),
        ("index", K::NullInt, D::Null),
        ("layout", K::Ref, D::Null),
        ("style", K::Ref, D::Null),
        ("tabbable", K::NullBool, D::Null),
        ("tooltip", K::NullStr, D::Null),
    ]
);

pub(crate) static TEXT: Model = controls!(
    "TextModel", "TextView", style: Some(&TEXT_STYLE), layout: true,
    [
        ("_dom_classes", K::Strs, D::Empty),
        ("continuous_update", K::Bool, D::Bool(true)),
        ("description", K::Str, D::Str("")),
        ("description_allow_html", K::Bool, D::Bool(false)),
        ("disabled", K::Bool, D::Bool(false)),
        ("layout", K::Ref, D::Null),
        ("placeholder", K::Str, D::Str("\u{200b}")),
        ("style", K::Ref, D::Null),
        ("tabbable", K::NullBool, D::Null),
        ("tooltip", K::NullStr, D::Null),
        ("value", K::Str, D::Str("")),
    ]
);

pub(crate) static LABEL: Model = controls!(
    "LabelModel", "LabelView", style: Some(&LABEL_STYLE), layout: true,
    [
        ("_dom_classes", K::Strs, D::Empty),
        ("description", K::Str, D::Str("")),
        ("description_allow_html", K::Bool, D::Bool(false)),
        ("layout", K::Ref, D::Null),
        ("placeholder", K::Str, D::Str("\u{200b}")),
        ("style", K::Ref, D::Null),
        ("tabbable", K::NullBool, D::Null),
        ("tooltip", K::NullStr, D::Null),
        ("value", K::Str, D::Str("")),
    ]
);

pub(crate) static HTML: Model = controls!(
    "HTMLModel", "HTMLView", style: Some(&HTML_STYLE), layout: true,
    [
        ("_dom_classes", K::Strs, D::Empty),
        ("description", K::Str, D::Str("")),
        ("description_allow_html", K::Bool, D::Bool(false)),
        ("layout", K::Ref, D::Null),
        ("placeholder", K::Str, D::Str("\u{200b}")),
        ("style", K::Ref, D::Null),
        ("tabbable", K::NullBool, D::Null),
        ("tooltip", K::NullStr, D::Null),
        ("value", K::Str, D::Str("")),
    ]
);

pub(crate) static HBOX: Model = controls!(
    "HBoxModel", "HBoxView", style: None, layout: true,
    [
        ("_dom_classes", K::Strs, D::Empty),
        ("box_style", K::Str, D::Str("")),
        ("children", K::Refs, D::Empty),
        ("layout", K::Ref, D::Null),
        ("tabbable", K::NullBool, D::Null),
        ("tooltip", K::NullStr, D::Null),
    ]
);

pub(crate) static VBOX: Model = controls!(
    "VBoxModel", "VBoxView", style: None, layout: true,
    [
        ("_dom_classes", K::Strs, D::Empty),
        ("box_style", K::Str, D::Str("")),
        ("children", K::Refs, D::Empty),
        ("layout", K::Ref, D::Null),
        ("tabbable", K::NullBool, D::Null),
        ("tooltip", K::NullStr, D::Null),
    ]
);

pub(crate) static OUTPUT_MODEL: Model = Model {
    name: "OutputModel",
    module: OUTPUT,
    version: VERSION_1,
    view: "OutputView",
    view_module: OUTPUT,
    view_version: VERSION_1,
    attrs: &[
        ("_dom_classes", K::Strs, D::Empty),
        ("layout", K::Ref, D::Null),
        ("msg_id", K::Str, D::Str("")),
        ("outputs", K::Objects, D::Empty),
        ("tabbable", K::NullBool, D::Null),
        ("tooltip", K::NullStr, D::Null),
    ],
    style: None,
    layout: true,
};

/// A widget reference as ipywidgets serializes it.
pub(crate) fn reference(id: &str) -> String {
    format!("IPY_MODEL_{id}")
}

/// A JSON value as Python's `repr` writes it (for the `text/plain` fallback).
pub(crate) fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => match n.as_f64() {
            Some(x) if n.is_f64() && x.fract() == 0.0 && x.abs() < 1e16 => format!("{x:.1}"),
            _ => n.to_string(),
        },
        Value::String(s) => {
            let escaped = s
                .replace('\\', "\\\\")
                .replace('\'', "\\'")
                .replace('\n', "\\n");
            format!("'{escaped}'")
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(python_repr).collect();
            format!(
                "({}{})",
                items.join(", "),
                if items.len() == 1 { "," } else { "" }
            )
        }
        Value::Object(_) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_is_of_ipywidgets_8() {
        for model in [
            &INT_SLIDER,
            &FLOAT_SLIDER,
            &INT_PROGRESS,
            &FLOAT_PROGRESS,
            &BUTTON,
            &CHECKBOX,
            &DROPDOWN,
            &TEXT,
            &LABEL,
            &HTML,
            &HBOX,
            &VBOX,
            &SLIDER_STYLE,
            &PROGRESS_STYLE,
            &BUTTON_STYLE,
            &CHECKBOX_STYLE,
            &DESCRIPTION_STYLE,
            &TEXT_STYLE,
            &HTML_STYLE,
            &LABEL_STYLE,
        ] {
            let state = model.defaults();
            assert_eq!(state["_model_module"], CONTROLS, "{}", model.name);
            assert_eq!(state["_model_module_version"], "2.0.0");
            assert_eq!(state["_view_module_version"], "2.0.0");
            assert!(model.name.ends_with("Model"));
            // Sorted, as the schema lists them: easy to compare with it.
            let names: Vec<&str> = model.attrs.iter().map(|(n, _, _)| *n).collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            assert_eq!(names, sorted, "{}", model.name);
            assert_eq!(model.layout, state.contains_key("layout"), "{}", model.name);
            assert_eq!(model.style.is_some(), state.contains_key("style"));
        }
        assert_eq!(LAYOUT.defaults()["_model_module"], BASE);
        assert_eq!(LAYOUT.defaults().len(), 6 + 39);
        assert_eq!(SLIDER_STYLE.defaults()["_view_module"], BASE);
        let output = OUTPUT_MODEL.defaults();
        assert_eq!(output["_model_module"], OUTPUT);
        assert_eq!(output["_view_module_version"], "1.0.0");
        assert_eq!(output["msg_id"], "");
    }

    #[test]
    fn kinds_check_json_types() {
        assert!(K::Int.admits(&7.into()));
        assert!(!K::Int.admits(&"7".into()));
        assert!(!K::Int.admits(&7.5.into()));
        assert!(K::Float.admits(&7.into()));
        assert!(K::NullInt.admits(&Value::Null));
        assert!(!K::Bool.admits(&Value::Null));
        assert!(K::Strs.admits(&serde_json::json!(["a"])));
        assert!(!K::Strs.admits(&serde_json::json!([1])));
        assert!(!K::Fixed.admits(&"x".into()));
        assert!(!K::Ref.admits(&"IPY_MODEL_x".into()));
        assert_eq!(INT_SLIDER.kind("_model_name"), Some(K::Fixed));
        assert_eq!(INT_SLIDER.kind("value"), Some(K::Int));
        assert_eq!(INT_SLIDER.kind("nonsense"), None);
    }

    #[test]
    fn values_read_as_python_writes_them() {
        assert_eq!(python_repr(&"it's".into()), r"'it\'s'");
        assert_eq!(python_repr(&5.into()), "5");
        assert_eq!(python_repr(&5.0.into()), "5.0");
        assert_eq!(python_repr(&0.25.into()), "0.25");
        assert_eq!(python_repr(&true.into()), "True");
        assert_eq!(python_repr(&Value::Null), "None");
        assert_eq!(python_repr(&serde_json::json!(["a", "b"])), "('a', 'b')");
    }
}

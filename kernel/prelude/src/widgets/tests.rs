//! The widgets' messages, checked on a recording registry of each test's own.

use super::*;
use crate::comm::CommMessage;
use serde_json::{Map, Value, json};
use std::sync::Mutex;

/// Widgets made on this thread join a new recording registry.
fn recording() -> &'static Comms {
    let comms: &'static Comms = Box::leak(Box::new(Comms::recording()));
    TEST_COMMS.with(|c| c.set(Some(comms)));
    comms
}

fn sent(comms: &Comms) -> Vec<CommMessage> {
    std::mem::take(&mut *comms.recorder().sent.lock().expect("sent"))
}

fn logged(comms: &Comms) -> Vec<String> {
    std::mem::take(&mut *comms.recorder().logged.lock().expect("logged"))
}

/// The `(comm_id, state)` of each open message.
fn opened(messages: &[CommMessage]) -> Vec<(String, Map<String, Value>)> {
    messages
        .iter()
        .filter_map(|m| match m {
            CommMessage::Open {
                comm_id,
                target_name,
                data,
                metadata,
            } => {
                assert_eq!(target_name, "jupyter.widget");
                assert_eq!(metadata["version"], "2.1.0");
                assert_eq!(data["buffer_paths"], json!([]));
                Some((comm_id.clone(), data["state"].as_object()?.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The `(comm_id, state)` of each update.
fn updates(messages: &[CommMessage]) -> Vec<(String, Value)> {
    messages
        .iter()
        .filter_map(|m| match m {
            CommMessage::Msg { comm_id, data } if data["method"] == "update" => {
                Some((comm_id.clone(), data["state"].clone()))
            }
            _ => None,
        })
        .collect()
}

fn update_line(id: &str, state: Value) -> String {
    json!({"op": "msg", "comm_id": id, "data": {"method": "update", "state": state, "buffer_paths": []}})
        .to_string()
}

/// Opens `widget` and checks its layout and style went first.
fn open_state(comms: &Comms, widget: &AnyWidget, style: Option<&str>) -> Map<String, Value> {
    let id = widget.model_id();
    let messages = sent(comms);
    let opened = opened(&messages);
    let (last_id, state) = opened.last().cloned().expect("an open");
    assert_eq!(last_id, id);
    let layout = &opened[0];
    assert_eq!(layout.1["_model_name"], "LayoutModel");
    assert_eq!(layout.1["_model_module"], "@jupyter-widgets/base");
    assert_eq!(layout.1["_model_module_version"], "2.0.0");
    assert_eq!(layout.1["width"], Value::Null);
    assert_eq!(state["layout"], format!("IPY_MODEL_{}", layout.0));
    match style {
        Some(style) => {
            let (style_id, style_state) = &opened[1];
            assert_eq!(style_state["_model_name"], style);
            assert_eq!(style_state["_view_name"], "StyleView");
            assert_eq!(style_state["_view_module"], "@jupyter-widgets/base");
            assert_eq!(state["style"], format!("IPY_MODEL_{style_id}"));
            assert_eq!(opened.len(), 3);
        }
        None => assert_eq!(opened.len(), 2),
    }
    state
}

fn assert_names(state: &Map<String, Value>, model: &str, view: &str) {
    assert_eq!(state["_model_name"], model);
    assert_eq!(state["_view_name"], view);
    assert_eq!(state["_model_module"], "@jupyter-widgets/controls");
    assert_eq!(state["_view_module"], "@jupyter-widgets/controls");
    assert_eq!(state["_model_module_version"], "2.0.0");
    assert_eq!(state["_view_module_version"], "2.0.0");
    assert_eq!(state["_dom_classes"], json!([]));
    assert_eq!(state["tabbable"], Value::Null);
    assert_eq!(state["tooltip"], Value::Null);
}

#[test]
fn an_int_slider_opens_with_every_attribute_after_its_layout_and_style() {
    let comms = recording();
    let slider = IntSlider::new(5)
        .min(0)
        .max(100)
        .step(1)
        .description("workers");
    assert!(
        sent(comms).is_empty(),
        "builders before the opening send nothing"
    );
    let state = open_state(comms, &(&slider).into(), Some("SliderStyleModel"));
    assert_names(&state, "IntSliderModel", "IntSliderView");
    for (attr, value) in [
        ("value", json!(5)),
        ("min", json!(0)),
        ("max", json!(100)),
        ("step", json!(1)),
        ("description", json!("workers")),
        ("description_allow_html", json!(false)),
        ("behavior", json!("drag-tap")),
        ("continuous_update", json!(true)),
        ("disabled", json!(false)),
        ("orientation", json!("horizontal")),
        ("readout", json!(true)),
        ("readout_format", json!("d")),
    ] {
        assert_eq!(state[attr], value, "{attr}");
    }
    assert_eq!(state.len(), 6 + 17);
    assert_eq!(
        format!("{slider:?}"),
        "IntSlider(value=5, description='workers')"
    );
    assert_eq!(
        format!("{:?}", IntSlider::new(5).max(10)),
        "IntSlider(value=5, max=10)"
    );
    // Opening twice sends nothing more.
    slider.display();
    assert!(opened(&sent(comms)).is_empty());
}

#[test]
fn every_widget_opens_with_its_model() {
    let comms = recording();
    /// A widget, its model, view and style model, and some attributes.
    type Case = (
        AnyWidget,
        &'static str,
        &'static str,
        Option<&'static str>,
        Vec<(&'static str, Value)>,
    );
    let cases: Vec<Case> = vec![
        (
            FloatSlider::new(0.5).into(),
            "FloatSliderModel",
            "FloatSliderView",
            Some("SliderStyleModel"),
            vec![
                ("value", json!(0.5)),
                ("step", json!(0.1)),
                ("max", json!(100.0)),
                ("readout_format", json!(".2f")),
            ],
        ),
        (
            IntProgress::new(0).max(10).into(),
            "IntProgressModel",
            "ProgressView",
            Some("ProgressStyleModel"),
            vec![
                ("value", json!(0)),
                ("max", json!(10)),
                ("bar_style", json!("")),
                ("orientation", json!("horizontal")),
            ],
        ),
        (
            FloatProgress::new(0.25).into(),
            "FloatProgressModel",
            "ProgressView",
            Some("ProgressStyleModel"),
            vec![("value", json!(0.25)), ("min", json!(0.0))],
        ),
        (
            Button::new("Run").into(),
            "ButtonModel",
            "ButtonView",
            Some("ButtonStyleModel"),
            vec![
                ("description", json!("Run")),
                ("button_style", json!("")),
                ("icon", json!("")),
            ],
        ),
        (
            Checkbox::new(true).into(),
            "CheckboxModel",
            "CheckboxView",
            Some("CheckboxStyleModel"),
            vec![("value", json!(true)), ("indent", json!(true))],
        ),
        (
            Dropdown::new(["a", "b"]).into(),
            "DropdownModel",
            "DropdownView",
            Some("DescriptionStyleModel"),
            vec![("_options_labels", json!(["a", "b"])), ("index", json!(0))],
        ),
        (
            Text::new("x").into(),
            "TextModel",
            "TextView",
            Some("TextStyleModel"),
            vec![
                ("value", json!("x")),
                ("placeholder", json!("\u{200b}")),
                ("continuous_update", json!(true)),
            ],
        ),
        (
            Label::new("l").into(),
            "LabelModel",
            "LabelView",
            Some("LabelStyleModel"),
            vec![("value", json!("l"))],
        ),
        (
            HTML::new("<b>h</b>").into(),
            "HTMLModel",
            "HTMLView",
            Some("HTMLStyleModel"),
            vec![("value", json!("<b>h</b>"))],
        ),
    ];
    for (widget, model, view, style, attrs) in cases {
        let state = open_state(comms, &widget, style);
        assert_names(&state, model, view);
        for (attr, value) in attrs {
            assert_eq!(state[attr], value, "{model}.{attr}");
        }
    }
}

#[test]
fn an_output_opens_in_the_output_module() {
    let comms = recording();
    let output = Output::new();
    let state = open_state(comms, &(&output).into(), None);
    assert_eq!(state["_model_name"], "OutputModel");
    assert_eq!(state["_view_name"], "OutputView");
    assert_eq!(state["_model_module"], "@jupyter-widgets/output");
    assert_eq!(state["_view_module"], "@jupyter-widgets/output");
    assert_eq!(state["_model_module_version"], "1.0.0");
    assert_eq!(state["msg_id"], "");
    assert_eq!(state["outputs"], json!([]));
    assert_eq!(format!("{output:?}"), "Output()");
}

#[test]
fn boxes_open_their_children_first_and_reference_them() {
    let comms = recording();
    let a = IntSlider::new(1);
    let b = Button::new("Go");
    let row = HBox::new([a.clone().into(), AnyWidget::from(&b)]);
    assert!(sent(comms).is_empty());
    let id = row.model_id();
    let messages = sent(comms);
    let first = opened(&messages);
    // The box's layout, slider: layout, style, slider; button: layout, style, button; the box.
    assert_eq!(first.len(), 8);
    let (box_id, state) = first.last().cloned().expect("the box");
    assert_eq!(box_id, id);
    assert_names(&state, "HBoxModel", "HBoxView");
    assert_eq!(state["box_style"], "");
    assert_eq!(
        state["children"],
        json!([
            format!("IPY_MODEL_{}", a.model_id()),
            format!("IPY_MODEL_{}", b.model_id())
        ])
    );
    assert_eq!(first[3].0, a.model_id());
    assert_eq!(first[6].0, b.model_id());
    assert!(format!("{row:?}").starts_with("HBox(children=(IntSlider(value=1), Button("));

    // A child added to an open box opens before the box's update.
    let c = Label::new("new");
    row.set_children([a.clone().into(), AnyWidget::from(&c)]);
    let messages = sent(comms);
    assert_eq!(opened(&messages).len(), 3);
    let updates = updates(&messages);
    assert_eq!(updates.len(), 1);
    assert_eq!(
        updates[0].1["children"],
        json!([
            format!("IPY_MODEL_{}", a.model_id()),
            format!("IPY_MODEL_{}", c.model_id())
        ])
    );
    assert_eq!(row.children().len(), 2);

    let column = VBox::new([IntSlider::new(1).into(), IntSlider::new(2).into()]);
    assert_eq!(column.children().len(), 2);
    assert_eq!(
        opened(&{
            column.model_id();
            sent(comms)
        })
        .last()
        .map(|o| o.1["_model_name"].clone()),
        Some(json!("VBoxModel"))
    );
}

#[test]
fn an_open_widget_sends_only_what_changed() {
    let comms = recording();
    let slider = IntSlider::new(5).max(10);
    let id = slider.model_id();
    sent(comms);
    slider.set_value(7);
    slider.set_value(7);
    slider.set_value(50); // clamped to max
    let _ = slider.clone().description("n");
    assert_eq!(
        updates(&sent(comms)),
        vec![
            (id.clone(), json!({"value": 7})),
            (id.clone(), json!({"value": 10})),
            (id, json!({"description": "n"})),
        ]
    );
    assert_eq!(slider.value(), 10);
}

#[test]
fn clones_share_one_widget_and_observers_see_every_change() {
    let comms = recording();
    let slider = IntSlider::new(1);
    let other = slider.clone();
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    let record = std::sync::Arc::clone(&seen);
    slider.observe(move |v| record.lock().expect("seen").push(v));
    other.set_value(2);
    other.set_value(2);
    assert_eq!(slider.value(), 2);
    assert_eq!(slider.model_id(), other.model_id());
    comms.handle_line(&update_line(&slider.model_id(), json!({"value": 3})));
    assert_eq!(other.value(), 3);
    assert_eq!(*seen.lock().expect("seen"), vec![2, 3]);
}

#[test]
fn frontend_updates_are_checked_before_anything_changes() {
    let comms = recording();
    let slider = IntSlider::new(5);
    let id = slider.model_id();
    let calls = std::sync::Arc::new(Mutex::new(0));
    let count = std::sync::Arc::clone(&calls);
    slider.observe(move |_| *count.lock().expect("calls") += 1);
    sent(comms);

    // Ill-typed: nothing changes, even the well-typed part.
    comms.handle_line(&update_line(&id, json!({"value": "7", "description": "x"})));
    assert_eq!(slider.value(), 5);
    assert_eq!(format!("{slider:?}"), "IntSlider(value=5)");
    let log = logged(comms);
    assert_eq!(log.len(), 1);
    assert!(log[0].contains("value cannot be \"7\""), "{log:?}");
    comms.handle_line(&update_line(&id, json!({"value": 7.5})));
    comms.handle_line(&update_line(&id, json!({"_model_name": "Other"})));
    assert_eq!(slider.value(), 5);
    assert_eq!(logged(comms).len(), 2);

    // Unknown comm id, unreadable line, unknown method.
    comms.handle_line(&update_line("nope", json!({"value": 7})));
    comms.handle_line("{not json");
    comms
        .handle_line(&json!({"op": "msg", "comm_id": id, "data": {"method": "dance"}}).to_string());
    let log = logged(comms);
    assert_eq!(log.len(), 3);
    assert!(log[0].contains("no widget with comm id nope"));
    assert_eq!(*calls.lock().expect("calls"), 0);

    // Good, with an unknown attribute: applied, the unknown one logged.
    comms.handle_line(&update_line(&id, json!({"value": 9, "flavour": 1})));
    assert_eq!(slider.value(), 9);
    assert_eq!(logged(comms).len(), 1);
    assert_eq!(*calls.lock().expect("calls"), 1);
    assert!(sent(comms).is_empty(), "no echo");

    // A widget never opened is unknown to the frontend.
    let closed = IntSlider::new(1);
    let line = update_line(&AnyWidget::from(&closed).core.id, json!({"value": 2}));
    comms.handle_line(&line);
    assert_eq!(closed.value(), 1);
}

#[test]
fn dropdown_updates_choose_by_index_within_the_options() {
    let comms = recording();
    let dropdown = Dropdown::new(["fork", "spawn", "forkserver"]);
    let id = dropdown.model_id();
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    let record = std::sync::Arc::clone(&seen);
    dropdown.observe(move |v| record.lock().expect("seen").push(v));
    comms.handle_line(&update_line(&id, json!({"index": 2})));
    assert_eq!(dropdown.value().as_deref(), Some("forkserver"));
    comms.handle_line(&update_line(&id, json!({"index": 3})));
    assert_eq!(dropdown.index(), Some(2));
    assert_eq!(logged(comms).len(), 1);
    assert!(dropdown.set_index(5).is_err());
    assert!(dropdown.set_value("thread").is_err());
    assert!(dropdown.set_value("spawn").is_ok());
    assert_eq!(
        *seen.lock().expect("seen"),
        vec![Some("forkserver".to_owned()), Some("spawn".to_owned())]
    );
    assert_eq!(
        format!("{dropdown:?}"),
        "Dropdown(index=1, options=('fork', 'spawn', 'forkserver'), value='spawn')"
    );
}

#[test]
fn request_state_is_answered_with_the_full_state() {
    let comms = recording();
    let text = Text::new("hello").description("greeting");
    let id = text.model_id();
    let opened_state = opened(&sent(comms)).last().cloned().expect("open").1;
    text.set_value("bye");
    sent(comms);
    comms.handle_line(
        &json!({"op": "msg", "comm_id": id, "data": {"method": "request_state"}}).to_string(),
    );
    let updates = updates(&sent(comms));
    assert_eq!(updates.len(), 1);
    let state = updates[0].1.as_object().cloned().expect("a state");
    assert_eq!(state.len(), opened_state.len());
    assert_eq!(state["value"], "bye");
    assert_eq!(state["description"], "greeting");
}

#[test]
fn clicks_call_the_handlers_and_close_forgets_the_widget() {
    let comms = recording();
    let button = Button::new("Run");
    let clicks = std::sync::Arc::new(Mutex::new(0));
    let count = std::sync::Arc::clone(&clicks);
    button.on_click(move || *count.lock().expect("clicks") += 1);
    let id = button.model_id();
    let click =
        json!({"op": "msg", "comm_id": id, "data": {"method": "custom", "content": {"event": "click"}}})
            .to_string();
    comms.handle_line(&click);
    comms.handle_line(&click);
    button.click();
    assert_eq!(*clicks.lock().expect("clicks"), 3);
    assert_eq!(button.label(), "Run");

    // A click on a slider is not a thing.
    let slider = IntSlider::new(0);
    let line = click.replace(&id, &slider.model_id());
    comms.handle_line(&line);
    assert_eq!(logged(comms).len(), 1);

    comms.handle_line(&json!({"op": "close", "comm_id": id}).to_string());
    comms.handle_line(&click);
    assert_eq!(*clicks.lock().expect("clicks"), 3);
    assert!(logged(comms)[0].contains("no widget"));
    assert!(!AnyWidget::from(&button).core.is_open());
    sent(comms);
    button.set_label("gone");
    assert!(sent(comms).is_empty(), "a closed widget does not talk");

    // Closing from this side sends a comm_close.
    slider.close();
    assert!(
        matches!(&sent(comms)[..], [CommMessage::Close { comm_id, .. }] if *comm_id == slider.model_id())
    );
}

#[test]
fn the_widget_manager_message_is_remembered() {
    let comms = recording();
    assert!(!comms.has_manager());
    comms.handle_line(r#"{"op":"widget_manager"}"#);
    assert!(comms.has_manager());
}

#[test]
fn capture_brackets_the_work_with_capture_lines() {
    let comms = recording();
    let output = Output::new();
    let answer = output.capture(|| {
        let messages = sent(comms);
        assert_eq!(opened(&messages).len(), 2, "layout and output open first");
        assert!(matches!(
            messages.last(),
            Some(CommMessage::Capture { active: true, .. })
        ));
        42
    });
    assert_eq!(answer, 42);
    let id = output.model_id();
    assert_eq!(
        sent(comms),
        vec![CommMessage::Capture {
            comm_id: id.clone(),
            active: false
        }]
    );
    let caught = std::panic::catch_unwind(|| output.capture(|| panic!("inside")));
    assert!(caught.is_err());
    assert_eq!(
        sent(comms),
        vec![
            CommMessage::Capture {
                comm_id: id.clone(),
                active: true
            },
            CommMessage::Capture {
                comm_id: id,
                active: false
            }
        ]
    );
}

#[test]
fn interact_reruns_the_closure_into_its_output() {
    let comms = recording();
    let a = IntSlider::new(2);
    let b = Checkbox::new(false);
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    let record = std::sync::Arc::clone(&seen);
    let panel = interact((a.clone(), b.clone()), move |(a, b)| {
        record.lock().expect("seen").push((a, b))
    });
    let children = panel.children();
    assert_eq!(children.len(), 3);
    let output_id = children[2].model_id();
    sent(comms);
    comms.handle_line(&update_line(&a.model_id(), json!({"value": 3})));
    b.set_value(true);
    assert_eq!(
        *seen.lock().expect("seen"),
        vec![(2, false), (3, false), (3, true)]
    );
    let captures = sent(comms)
        .into_iter()
        .filter(|m| matches!(m, CommMessage::Capture { comm_id, .. } if *comm_id == output_id))
        .count();
    assert_eq!(captures, 4);
    let single = interact(IntSlider::new(1), |n| assert_eq!(n, 1));
    assert_eq!(single.children().len(), 2);
}

#[test]
fn the_reader_handles_lines_from_a_pipe() {
    let comms = recording();
    let slider = IntSlider::new(0);
    let id = slider.model_id();
    let (read, write) = nix::unistd::pipe().expect("pipe");
    let writer = std::thread::spawn(move || {
        let mut pipe = std::fs::File::from(write);
        for value in 1..=3 {
            let line = update_line(&id, json!({ "value": value }));
            std::io::Write::write_all(&mut pipe, format!("{line}\n\n").as_bytes()).expect("write");
        }
        std::io::Write::write_all(&mut pipe, b"{\"op\":\"widget_manager\"}\n").expect("write");
    });
    comms.read(std::io::BufReader::new(std::fs::File::from(read)));
    writer.join().expect("writer");
    assert_eq!(slider.value(), 3);
    assert!(comms.has_manager());
    assert!(logged(comms).is_empty());
}

#[test]
fn displays_carry_the_view_and_the_repr() {
    let _comms = recording();
    let slider = IntSlider::new(5).description("workers").max(100);
    let (view, plain) = AnyWidget::from(&slider).bundle();
    let view: Value = serde_json::from_str(&view).expect("json");
    assert_eq!(
        view,
        json!({"model_id": slider.model_id(), "version_major": 2, "version_minor": 1})
    );
    assert_eq!(plain, "IntSlider(value=5, description='workers')");
    let bar = FloatProgress::new(0.5).max(2.0).bar_style("success");
    assert_eq!(
        format!("{bar:?}"),
        "FloatProgress(value=0.5, bar_style='success', max=2.0)"
    );
}

//! Jupyter widgets and kernel subshells through the real binary, as a
//! frontend with the widget manager sees them: the comms a widget opens, its
//! display, the frontend's updates read by the next cell and by a cell that
//! is running, `set_value`'s updates, `request_state`, bad messages that
//! change nothing, and subshells.

use crate::support::{FIRST_CELL, Kernel, is_reply_to, result_text, stream_text};
use ferrokernel_protocol::{
    CommInfoRequest, CommMsg, Content, CreateSubshellRequest, DeleteSubshellRequest,
    ExecuteRequest, KernelInfoRequest, ListSubshellRequest, Message,
};
use serde_json::{Value, json};
use std::time::Duration;

/// The `comm_open` messages among `messages`.
fn opened(messages: &[Message]) -> Vec<&Message> {
    messages
        .iter()
        .filter(|m| m.header.msg_type == "comm_open")
        .collect()
}

/// The `data` of the comm messages for `comm_id` among `messages`.
fn comm_data<'a>(
    messages: &'a [Message],
    comm_id: &str,
) -> Vec<&'a serde_json::Map<String, Value>> {
    messages
        .iter()
        .filter_map(|m| match &m.content {
            Content::CommMsg(msg) if msg.comm_id == comm_id => Some(&msg.data),
            _ => None,
        })
        .collect()
}

fn update(comm_id: &str, state: Value) -> CommMsg {
    let data = json!({"method": "update", "state": state, "buffer_paths": []});
    CommMsg {
        comm_id: comm_id.to_owned(),
        data: data.as_object().cloned().unwrap_or_default(),
    }
}

/// Runs `code` and returns its output text, failing on an error.
async fn run(kernel: &mut Kernel, code: &str) -> (Vec<Message>, String) {
    let (iopub, reply) = kernel.execute(code).await;
    assert_eq!(reply.error, None, "{code}: {iopub:?}");
    let text = stream_text(&iopub, "stdout");
    (iopub, text)
}

/// Runs a 4 s cell that samples the slider, and moves the slider 1 s into it
/// with `send` (on the main shell or a subshell); returns what the cell printed.
async fn moved_while_running(
    kernel: &mut Kernel,
    slider: &str,
    value: i64,
    subshell: Option<&str>,
) -> String {
    let code = format!(
        "let mut seen = Vec::new();
for _ in 0..40 {{ seen.push(slider.value()); std::thread::sleep(std::time::Duration::from_millis(100)); }}
println!(\"saw {value}: {{}}\", seen.contains(&{value}));"
    );
    let cell = kernel
        .send_shell(ExecuteRequest {
            code,
            ..ExecuteRequest::default()
        })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let moved = update(slider, json!({ "value": value }));
    match subshell {
        Some(id) => kernel.send_shell_in(id, moved).await,
        None => kernel.send_shell(moved).await,
    };
    let iopub = kernel.iopub_until_idle(&cell, FIRST_CELL).await;
    // The comm_msg's own reply-less status pair and the cell's reply.
    loop {
        let reply = kernel.shell_reply().await;
        if is_reply_to(&reply, &cell) {
            break;
        }
    }
    stream_text(&iopub, "stdout")
}

#[tokio::test]
async fn a_slider_opens_shows_and_follows_the_frontend_also_while_a_cell_runs() {
    let mut kernel = Kernel::start(&[]).await;
    let (iopub, reply) = kernel
        .execute("let slider = widgets::IntSlider::new(5).min(0).max(100).description(\"workers\");\nslider.clone()")
        .await;
    assert_eq!(reply.error, None, "{iopub:?}");

    // The layout and style first, then the slider, which refers to them.
    let opens = opened(&iopub);
    let slider_open = opens
        .iter()
        .find_map(|m| match &m.content {
            Content::CommOpen(open) if open.data["state"]["_model_name"] == "IntSliderModel" => {
                Some((m, open))
            }
            _ => None,
        })
        .expect("the slider's comm_open");
    let (message, open) = slider_open;
    assert_eq!(open.target_name, "jupyter.widget");
    assert_eq!(message.metadata["version"], "2.1.0");
    let state = &open.data["state"];
    assert_eq!(state["_model_module"], "@jupyter-widgets/controls");
    assert_eq!(state["_model_module_version"], "2.0.0");
    assert_eq!(state["_view_name"], "IntSliderView");
    assert_eq!(state["value"], 5);
    assert_eq!(state["max"], 100);
    assert_eq!(state["description"], "workers");
    let layout = state["layout"].as_str().expect("a layout reference");
    let layout_id = layout
        .strip_prefix("IPY_MODEL_")
        .expect("IPY_MODEL_ reference");
    let layout_opened_first = opens
        .iter()
        .position(|m| matches!(&m.content, Content::CommOpen(o) if o.comm_id == layout_id))
        .expect("the layout's comm_open");
    let slider_at = opens
        .iter()
        .position(|m| matches!(&m.content, Content::CommOpen(o) if o.comm_id == open.comm_id))
        .expect("the slider's position");
    assert!(layout_opened_first < slider_at);
    let slider = open.comm_id.clone();

    // Shown as the cell's value: a widget view of that model.
    let view = iopub
        .iter()
        .find_map(|m| match &m.content {
            Content::ExecuteResult(result) => result
                .data
                .get("application/vnd.jupyter.widget-view+json")
                .cloned(),
            _ => None,
        })
        .expect("a widget view as the cell's value");
    assert_eq!(view["model_id"], slider.as_str());
    assert_eq!(view["version_major"], 2);

    // comm_info lists it.
    kernel
        .send_shell(CommInfoRequest {
            target_name: Some("jupyter.widget".into()),
        })
        .await;
    let Content::CommInfoReply(info) = kernel.shell_reply().await.content else {
        panic!("not a comm_info_reply");
    };
    assert_eq!(info.comms[&slider].target_name, "jupyter.widget");

    // The frontend moves it; the next cell reads it.
    kernel
        .send_shell(update(&slider, json!({"value": 42})))
        .await;
    let (iopub, _) = run(&mut kernel, "slider.value()").await;
    assert_eq!(result_text(&iopub).as_deref(), Some("42"));

    // set_value sends an update.
    let (iopub, _) = run(&mut kernel, "slider.set_value(17);").await;
    let updates = comm_data(&iopub, &slider);
    assert!(
        updates
            .iter()
            .any(|d| d["method"] == "update" && d["state"]["value"] == 17),
        "{updates:?}"
    );

    // request_state gets the full state.
    let data = json!({"method": "request_state"});
    let asked = kernel
        .send_shell(CommMsg {
            comm_id: slider.clone(),
            data: data.as_object().cloned().unwrap_or_default(),
        })
        .await;
    let mut full = None;
    for _ in 0..50 {
        let message = kernel.next_iopub().await;
        if let Content::CommMsg(msg) = &message.content
            && msg.comm_id == slider
            && msg.data["method"] == "update"
        {
            full = Some(msg.data["state"].clone());
            break;
        }
    }
    let full = full.expect("request_state answered with an update");
    assert_eq!(full["value"], 17);
    assert_eq!(full["_model_name"], "IntSliderModel");
    let _ = asked;

    // An ill-typed value and an unknown comm change nothing; the kernel answers.
    kernel
        .send_shell(update(&slider, json!({"value": "many"})))
        .await;
    kernel
        .send_shell(update("no-such-comm", json!({"value": 3})))
        .await;
    kernel.send_shell(KernelInfoRequest {}).await;
    let answered = kernel.shell_reply().await;
    assert_eq!(answered.header.msg_type, "kernel_info_reply");
    let (iopub, _) = run(&mut kernel, "slider.value()").await;
    assert_eq!(result_text(&iopub).as_deref(), Some("17"));

    // Moved 1 s into a 4 s cell: that cell sees it, on the main shell...
    let seen = moved_while_running(&mut kernel, &slider, 61, None).await;
    assert_eq!(seen, "saw 61: true\n");
    // ...and through a subshell, as JupyterLab sends widget messages.
    let Content::CreateSubshellReply(created) = kernel
        .control_request(CreateSubshellRequest {})
        .await
        .content
    else {
        panic!("not a create_subshell_reply");
    };
    let seen = moved_while_running(&mut kernel, &slider, 73, Some(&created.subshell_id)).await;
    assert_eq!(seen, "saw 73: true\n");
}

/// The model names of the widgets `messages` open.
fn opened_models(messages: &[Message]) -> Vec<String> {
    opened(messages)
        .iter()
        .filter_map(|m| match &m.content {
            Content::CommOpen(open) => open.data["state"]["_model_name"]
                .as_str()
                .map(str::to_owned),
            _ => None,
        })
        .collect()
}

const PROGRESS_CELL: &str =
    "for _ in progress(0..3) { std::thread::sleep(std::time::Duration::from_millis(10)); }";

#[tokio::test]
async fn a_progress_bar_is_a_widget_when_the_frontend_said_so_before_the_engine_was_ready() {
    // Without the widget manager: an HTML bar and no widget.
    let mut plain = Kernel::start(&[]).await;
    let (iopub, _) = run(&mut plain, PROGRESS_CELL).await;
    assert!(opened_models(&iopub).is_empty(), "{iopub:?}");
    let html = iopub.iter().any(|m| {
        matches!(&m.content, Content::DisplayData(d)
            if d.data.get("text/html").and_then(Value::as_str).is_some_and(|h| h.contains("<progress")))
    });
    assert!(html, "no <progress> display: {iopub:?}");

    // JupyterLab's widget manager asks comm_info as the kernel connects, long
    // before a cold engine is ready: the engine must still hear of it.
    let mut kernel = Kernel::start(&[]).await;
    kernel
        .send_shell(CommInfoRequest {
            target_name: Some("jupyter.widget".into()),
        })
        .await;
    let Content::CommInfoReply(_) = kernel.shell_reply().await.content else {
        panic!("not a comm_info_reply");
    };
    let (iopub, _) = run(&mut kernel, PROGRESS_CELL).await;
    let models = opened_models(&iopub);
    assert!(
        models.iter().any(|m| m == "IntProgressModel"),
        "the bar is not an IntProgress widget: {models:?}"
    );
}

#[tokio::test]
async fn subshells_answer_while_the_main_shell_runs_and_unknown_ids_get_errors() {
    let mut kernel = Kernel::start(&[]).await;
    let Content::KernelInfoReply(info) = ({
        kernel.send_shell(KernelInfoRequest {}).await;
        kernel.shell_reply().await.content
    }) else {
        panic!("not a kernel_info_reply");
    };
    assert!(
        info.supported_features
            .iter()
            .any(|f| f == "kernel subshells")
    );
    assert_eq!(info.protocol_version, "5.5");

    let Content::CreateSubshellReply(created) = kernel
        .control_request(CreateSubshellRequest {})
        .await
        .content
    else {
        panic!("not a create_subshell_reply");
    };
    let id = created.subshell_id;
    let Content::ListSubshellReply(list) =
        kernel.control_request(ListSubshellRequest {}).await.content
    else {
        panic!("not a list_subshell_reply");
    };
    assert_eq!(list.subshell_id, vec![id.clone()]);

    // A long cell on the main shell; the subshell answers at once, and a cell
    // sent on it runs after (one engine, one compilation at a time).
    let long = kernel
        .send_shell(ExecuteRequest {
            code: "std::thread::sleep(std::time::Duration::from_secs(3)); println!(\"main\");"
                .into(),
            ..ExecuteRequest::default()
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = kernel.send_shell_in(&id, KernelInfoRequest {}).await;
    let reply = kernel.shell_reply().await;
    assert!(is_reply_to(&reply, &asked), "the subshell answered first");
    assert_eq!(reply.header.subshell_id.as_deref(), Some(id.as_str()));
    let second = kernel
        .send_shell_in(
            &id,
            ExecuteRequest {
                code: "println!(\"sub\");".into(),
                ..ExecuteRequest::default()
            },
        )
        .await;
    let first = kernel.iopub_until_idle(&long, FIRST_CELL).await;
    assert_eq!(stream_text(&first, "stdout"), "main\n");
    let later = kernel.iopub_until_idle(&second, FIRST_CELL).await;
    assert_eq!(stream_text(&later, "stdout"), "sub\n");
    assert!(later.iter().all(|m| {
        m.parent_header
            .as_ref()
            .and_then(|h| h.subshell_id.as_deref())
            == Some(id.as_str())
    }));

    // An unknown subshell id: busy, an error reply, idle.
    let lost = kernel
        .send_shell_in("no-such-subshell", KernelInfoRequest {})
        .await;
    let statuses = kernel.iopub_until_idle(&lost, FIRST_CELL).await;
    assert_eq!(statuses.len(), 2, "{statuses:?}");
    // After the two cells' replies, the error reply (not a kernel_info_reply's fields).
    let (content, _) = loop {
        let (msg_type, content) = kernel.shell_reply_json().await;
        if msg_type == "kernel_info_reply" {
            break (content, msg_type);
        }
    };
    assert_eq!(content["status"], "error");
    assert_eq!(content["ename"], "SubshellNotFound");

    let deleted = kernel
        .control_request(DeleteSubshellRequest {
            subshell_id: id.clone(),
        })
        .await;
    assert!(String::from_utf8_lossy(&deleted.content.encode()).contains("\"ok\""));
    let Content::ListSubshellReply(list) =
        kernel.control_request(ListSubshellRequest {}).await.content
    else {
        panic!("not a list_subshell_reply");
    };
    assert!(list.subshell_id.is_empty());
}

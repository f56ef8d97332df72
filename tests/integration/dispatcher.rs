//! The dispatcher with the fake engine: no sockets, no compiler.

use ferrokernel::comms::CommTable;
use ferrokernel::dispatcher::{Channel, Control, Executor, Outbox, Reply, Shared, Shutdown};
use ferrokernel::engine_client::{EngineClient, EngineState};
use ferrokernel::iopub::{IopubAssembler, IopubEvent, IopubPublisher};
use ferrokernel::output_limit::{Limit, OutputLimiter};
use ferrokernel::quick_complete::QuickCompleter;
use ferrokernel::subshells::Shells;
use ferrokernel_engine::conversation::{EngineEnv, InProcessSource, StartEngine};
use ferrokernel_engine::fake::FakeEngine;
use ferrokernel_protocol::{
    CommClose, CommInfoRequest, CommMsg, CommOpen, Content, CreateSubshellRequest,
    DeleteSubshellRequest, ExecuteRequest, HistAccess, HistoryEntry, HistoryRequest, InputReply,
    InterruptRequest, IsCompleteRequest, KernelInfoRequest, ListSubshellRequest, Message,
    ReplyStatus, ShutdownRequest,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

struct Harness {
    shell: UnboundedSender<Message>,
    control: Control,
    replies: UnboundedReceiver<Reply>,
    iopub: UnboundedReceiver<Message>,
}

/// A kernel over the fake engine, which has started.
async fn start() -> Harness {
    start_slowly(0).await
}

/// A kernel whose fake engine takes `start_ms` to start; waits for it only
/// when that is 0.
async fn start_slowly(start_ms: u64) -> Harness {
    let (replies_tx, replies) = mpsc::unbounded_channel();
    let (events_tx, mut events) = mpsc::unbounded_channel::<IopubEvent>();
    let (iopub_tx, iopub) = mpsc::unbounded_channel();
    let comms = CommTable::default();
    let assembler_comms = comms.clone();
    // Assemble iopub messages as the transport would, flushing stream text at once.
    tokio::spawn(async move {
        let mut assembler = IopubAssembler::new("kernel", assembler_comms);
        while let Some(event) = events.recv().await {
            for message in assembler.push(event).into_iter().chain(assembler.flush()) {
                let _ = iopub_tx.send(message);
            }
        }
    });
    let limiter = OutputLimiter::new(
        Arc::new(IopubPublisher(events_tx.clone())),
        Limit::default(),
    );
    let start: StartEngine = Box::new(move |publisher, progress| {
        progress("starting the fake engine");
        std::thread::sleep(Duration::from_millis(start_ms));
        Ok(Box::new(FakeEngine::new(publisher)))
    });
    let source = Box::new(InProcessSource::new(start));
    let engine = EngineClient::start(source, EngineEnv::current(), limiter.clone());
    let quick = QuickCompleter::new(["pub fn cpu_count() -> usize { 1 }"]);
    let mut state = engine.state();
    let shared = Shared::new(engine, limiter, quick, comms);
    if start_ms == 0 {
        let ready = state.wait_for(|s| *s == EngineState::Ready);
        tokio::time::timeout(Duration::from_secs(10), ready)
            .await
            .expect("the fake engine starts")
            .expect("state");
    }
    let outbox = Outbox::new("kernel", replies_tx, events_tx);
    shared.watch_engine(outbox.clone());
    let (cells, cell_queue) = mpsc::unbounded_channel();
    let (shells, shell) = Shells::start(outbox.clone(), Arc::clone(&shared), cells);
    tokio::spawn(Executor::new(outbox.clone(), Arc::clone(&shared)).run(cell_queue));
    Harness {
        shell,
        control: Control::new(outbox, shared, shells),
        replies,
        iopub,
    }
}

fn request(content: impl Into<Content>) -> Message {
    let mut message = Message::new(content, "client");
    message.identities = vec![b"client".to_vec()];
    message
}

fn execute(code: &str) -> Message {
    request(ExecuteRequest {
        code: code.to_owned(),
        ..ExecuteRequest::default()
    })
}

impl Harness {
    async fn reply(&mut self) -> Reply {
        tokio::time::timeout(Duration::from_secs(10), self.replies.recv())
            .await
            .expect("a reply within 10 s")
            .expect("reply channel open")
    }

    /// iopub messages for `request`, up to and including its idle status.
    async fn iopub_until_idle(&mut self, request: &Message) -> Vec<Message> {
        let mut seen = Vec::new();
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.iopub.recv())
                .await
                .expect("iopub within 10 s")
                .expect("iopub open");
            let mine =
                message.parent_header.as_ref().map(|h| &h.msg_id) == Some(&request.header.msg_id);
            if !mine {
                continue;
            }
            let idle = matches!(&message.content, Content::Status(s)
                if s.execution_state == ferrokernel_protocol::ExecutionState::Idle);
            seen.push(message);
            if idle {
                return seen;
            }
        }
    }
}

fn types(messages: &[Message]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m.header.msg_type.as_str())
        .collect()
}

#[tokio::test]
async fn execute_publishes_input_output_result_in_order_and_counts() {
    let mut kernel = start().await;
    let first = execute("print:hello\nvalue:42");
    kernel.shell.send(first.clone()).expect("queued");
    let iopub = kernel.iopub_until_idle(&first).await;
    assert_eq!(
        types(&iopub),
        [
            "status",
            "execute_input",
            "stream",
            "execute_result",
            "status"
        ]
    );
    let reply = kernel.reply().await;
    assert_eq!(reply.channel, Channel::Shell);
    let Content::ExecuteReply(reply) = reply.message.content else {
        panic!("not an execute_reply");
    };
    assert_eq!((reply.status, reply.execution_count), (ReplyStatus::Ok, 1));

    // Silent cells neither count nor echo; store_history=false does not count.
    let silent = request(ExecuteRequest {
        code: "value:1".into(),
        silent: true,
        ..ExecuteRequest::default()
    });
    kernel.shell.send(silent.clone()).expect("queued");
    assert_eq!(
        types(&kernel.iopub_until_idle(&silent).await),
        ["status", "status"]
    );
    let unstored = request(ExecuteRequest {
        code: "value:1".into(),
        store_history: false,
        ..ExecuteRequest::default()
    });
    kernel.shell.send(unstored.clone()).expect("queued");
    kernel.iopub_until_idle(&unstored).await;
    let third = execute("value:3");
    kernel.shell.send(third.clone()).expect("queued");
    kernel.iopub_until_idle(&third).await;
    let mut counts = Vec::new();
    for _ in 0..3 {
        if let Content::ExecuteReply(reply) = kernel.reply().await.message.content {
            counts.push(reply.execution_count);
        }
    }
    assert_eq!(counts, [1, 1, 2]);
}

#[tokio::test]
async fn a_failure_aborts_the_queued_cells_when_stop_on_error() {
    let mut kernel = start().await;
    let failing = execute("panic:boom");
    let queued = execute("print:never");
    let other = request(KernelInfoRequest {});
    for message in [failing.clone(), queued.clone(), other] {
        kernel.shell.send(message).expect("queued");
    }
    let iopub = kernel.iopub_until_idle(&failing).await;
    let error = iopub
        .iter()
        .find_map(|m| match &m.content {
            Content::Error(error) => Some(error.clone()),
            _ => None,
        })
        .expect("an error message");
    assert_eq!(
        (error.ename.as_str(), error.evalue.as_str()),
        ("Panic", "boom")
    );
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(match kernel.reply().await.message.content {
            Content::ExecuteReply(reply) => format!("{:?}", reply.status),
            Content::KernelInfoReply(_) => "kernel_info".to_owned(),
            other => panic!("unexpected {other:?}"),
        });
    }
    // kernel_info is answered at once, while the cells run.
    assert_eq!(statuses, ["kernel_info", "Error", "Aborted"]);
}

#[tokio::test]
async fn interrupt_stops_a_spinning_cell_and_the_next_cell_runs() {
    let mut kernel = start().await;
    let spinning = execute("spin");
    kernel.shell.send(spinning.clone()).expect("queued");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let interrupt = request(InterruptRequest {});
    assert_eq!(kernel.control.handle(&interrupt), Shutdown::No);
    let control_reply = kernel.reply().await;
    assert_eq!(control_reply.channel, Channel::Control);
    assert_eq!(control_reply.message.header.msg_type, "interrupt_reply");
    let Content::ExecuteReply(reply) = kernel.reply().await.message.content else {
        panic!("not an execute_reply");
    };
    assert_eq!(reply.status, ReplyStatus::Error);
    assert_eq!(reply.error.expect("error").ename, "KeyboardInterrupt");
    let next = execute("value:ok");
    kernel.shell.send(next).expect("queued");
    let Content::ExecuteReply(reply) = kernel.reply().await.message.content else {
        panic!("not an execute_reply");
    };
    assert_eq!(reply.status, ReplyStatus::Ok);
}

#[tokio::test]
async fn input_requests_go_out_on_stdin_and_answers_come_back() {
    let mut kernel = start().await;
    let asking = execute("input:Name?");
    kernel.shell.send(asking.clone()).expect("queued");
    let input_request = kernel.reply().await;
    assert_eq!(input_request.channel, Channel::Stdin);
    assert_eq!(input_request.message.identities, vec![b"client".to_vec()]);
    let Content::InputRequest(prompt) = &input_request.message.content else {
        panic!("not an input_request");
    };
    assert_eq!(prompt.prompt, "Name?");
    kernel.control.handle_stdin(&request(InputReply {
        value: "Ada".into(),
    }));
    let iopub = kernel.iopub_until_idle(&asking).await;
    let printed: String = iopub
        .iter()
        .filter_map(|m| match &m.content {
            Content::Stream(stream) => Some(stream.text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(printed, "got Ada\n");
}

#[tokio::test]
async fn history_is_complete_comms_unknown_and_shutdown() {
    let mut kernel = start().await;
    for code in ["value:1", "print:x", "value:2"] {
        kernel.shell.send(execute(code)).expect("queued");
        kernel.reply().await;
    }
    kernel
        .shell
        .send(request(HistoryRequest {
            output: true,
            raw: true,
            hist_access_type: HistAccess::Tail,
            session: None,
            start: None,
            stop: None,
            n: Some(2),
            pattern: None,
            unique: false,
        }))
        .expect("queued");
    let Content::HistoryReply(history) = kernel.reply().await.message.content else {
        panic!("not a history_reply");
    };
    assert_eq!(
        history.history,
        [
            HistoryEntry::InputOutput(1, 2, ("print:x".into(), None)),
            HistoryEntry::InputOutput(1, 3, ("value:2".into(), Some("2".into()))),
        ]
    );

    kernel
        .shell
        .send(request(IsCompleteRequest {
            code: "fn f() {".into(),
        }))
        .expect("queued");
    let Content::IsCompleteReply(verdict) = kernel.reply().await.message.content else {
        panic!("not an is_complete_reply");
    };
    assert_eq!(verdict.indent.as_deref(), Some("    "));

    let open = request(CommOpen {
        comm_id: "c1".into(),
        target_name: "nothing".into(),
        target_module: None,
        data: Default::default(),
    });
    kernel.shell.send(open.clone()).expect("queued");
    let iopub = kernel.iopub_until_idle(&open).await;
    assert!(types(&iopub).contains(&"comm_close"));

    let unknown = request(Content::decode("usage_request", b"{}").expect("json"));
    assert_eq!(kernel.control.handle(&unknown), Shutdown::No);
    let reply = kernel.reply().await;
    assert_eq!(reply.message.header.msg_type, "usage_reply");

    let shutdown = request(ShutdownRequest { restart: true });
    assert_eq!(
        kernel.control.handle(&shutdown),
        Shutdown::Yes { restart: true }
    );
    assert_eq!(
        kernel.reply().await.message.header.msg_type,
        "shutdown_reply"
    );
}

#[tokio::test]
async fn late_output_arrives_while_idle_under_its_own_cell() {
    let mut kernel = start().await;
    let leaving = execute("later:400:late line\nprint:now");
    kernel.shell.send(leaving.clone()).expect("queued");
    kernel.iopub_until_idle(&leaving).await;
    let late = tokio::time::timeout(Duration::from_secs(5), kernel.iopub.recv())
        .await
        .expect("the late line within 5 s")
        .expect("iopub open");
    assert_eq!(late.header.msg_type, "stream");
    assert_eq!(
        late.parent_header.map(|h| h.msg_id),
        Some(leaving.header.msg_id)
    );
}

#[tokio::test]
async fn kernel_info_and_completions_are_answered_while_a_cell_runs() {
    let mut kernel = start().await;
    let long = execute("sleep:3000");
    kernel.shell.send(long.clone()).expect("queued");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = std::time::Instant::now();
    kernel
        .shell
        .send(request(KernelInfoRequest {}))
        .expect("queued");
    let code = "let my_long_variable_name = 1; my_long_var";
    kernel
        .shell
        .send(request(ferrokernel_protocol::CompleteRequest {
            code: code.into(),
            cursor_pos: code.len(),
        }))
        .expect("queued");
    let info = kernel.reply().await;
    assert_eq!(info.message.header.msg_type, "kernel_info_reply");
    let Content::CompleteReply(complete) = kernel.reply().await.message.content else {
        panic!("not a complete_reply");
    };
    // Both answers came before the cell's own reply: while it still ran.
    eprintln!("answered {:?} after asking", asked.elapsed());
    assert!(
        complete
            .matches
            .contains(&"my_long_variable_name".to_owned()),
        "{:?}",
        complete.matches
    );
    let Content::ExecuteReply(reply) = kernel.reply().await.message.content else {
        panic!("not an execute_reply");
    };
    assert_eq!(reply.status, ReplyStatus::Ok);
}

#[tokio::test]
async fn while_the_engine_starts_the_status_says_so_and_the_cell_shows_only_its_own_output() {
    let mut kernel = start_slowly(800).await;
    let first = execute("print:mine");
    kernel.shell.send(first.clone()).expect("queued");
    let iopub = kernel.iopub_until_idle(&first).await;
    let shown: Vec<String> = iopub
        .iter()
        .map(|m| match &m.content {
            Content::Status(s) => format!("{:?}", s.execution_state),
            Content::Stream(s) => format!("stream {:?}", s.text),
            other => other.msg_type().to_owned(),
        })
        .collect();
    assert_eq!(
        shown,
        [
            "Busy",
            "execute_input",
            "Starting",
            "Busy",
            "stream \"mine\\n\"",
            "Idle"
        ]
    );
}

fn update(comm_id: &str, value: serde_json::Value) -> Message {
    let data =
        serde_json::json!({"method": "update", "state": {"value": value}, "buffer_paths": []});
    request(CommMsg {
        comm_id: comm_id.to_owned(),
        data: data.as_object().cloned().unwrap_or_default(),
    })
}

/// Output text of `messages`.
fn printed(messages: &[Message]) -> String {
    messages
        .iter()
        .filter_map(|m| match &m.content {
            Content::Stream(stream) => Some(stream.text.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn comms_open_in_the_runtime_and_updates_reach_a_running_cell() {
    let mut kernel = start().await;
    let open = execute("comm_open:w1");
    kernel.shell.send(open.clone()).expect("queued");
    let iopub = kernel.iopub_until_idle(&open).await;
    let opened = iopub
        .iter()
        .find(|m| m.header.msg_type == "comm_open")
        .expect("a comm_open under the cell");
    assert_eq!(opened.metadata["version"], "2.1.0");
    kernel.reply().await;

    let info = request(CommInfoRequest {
        target_name: Some("jupyter.widget".into()),
    });
    kernel.shell.send(info).expect("queued");
    let Content::CommInfoReply(info) = kernel.reply().await.message.content else {
        panic!("not a comm_info_reply");
    };
    assert_eq!(info.comms["w1"].target_name, "jupyter.widget");

    // An update sent while a cell sleeps is what that cell reads after.
    let cell = execute("sleep:600\ncomm_value:w1");
    kernel.shell.send(cell.clone()).expect("queued");
    tokio::time::sleep(Duration::from_millis(200)).await;
    kernel.shell.send(update("w1", 7.into())).expect("queued");
    // An unknown comm and a close of one that is not open change nothing.
    kernel.shell.send(update("nope", 9.into())).expect("queued");
    let close = request(CommClose {
        comm_id: "nope".into(),
        data: Default::default(),
    });
    kernel.shell.send(close).expect("queued");
    let iopub = kernel.iopub_until_idle(&cell).await;
    assert_eq!(printed(&iopub), "w1=7\n");
    kernel.reply().await;

    let close = request(CommClose {
        comm_id: "w1".into(),
        data: Default::default(),
    });
    kernel.shell.send(close).expect("queued");
    kernel
        .shell
        .send(request(CommInfoRequest::default()))
        .expect("queued");
    let Content::CommInfoReply(info) = kernel.reply().await.message.content else {
        panic!("not a comm_info_reply");
    };
    assert!(info.comms.is_empty(), "{info:?}");
}

#[tokio::test]
async fn subshells_are_made_listed_deleted_and_answer_while_the_main_shell_runs() {
    let mut kernel = start().await;
    kernel.control.handle(&request(CreateSubshellRequest {}));
    let Content::CreateSubshellReply(created) = kernel.reply().await.message.content else {
        panic!("not a create_subshell_reply");
    };
    let id = created.subshell_id;
    kernel.control.handle(&request(ListSubshellRequest {}));
    let Content::ListSubshellReply(list) = kernel.reply().await.message.content else {
        panic!("not a list_subshell_reply");
    };
    assert_eq!(list.subshell_id, vec![id.clone()]);

    // The main shell runs a long cell; the subshell answers meanwhile, with
    // its id in the reply's parent and its own busy/idle.
    let long = execute("sleep:1500\nprint:main done");
    kernel.shell.send(long.clone()).expect("queued");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut info = request(KernelInfoRequest {});
    info.header.subshell_id = Some(id.clone());
    let asked = std::time::Instant::now();
    kernel.shell.send(info.clone()).expect("queued");
    let reply = kernel.reply().await;
    assert!(asked.elapsed() < Duration::from_millis(1000));
    assert_eq!(reply.message.header.msg_type, "kernel_info_reply");
    assert_eq!(
        reply.message.header.subshell_id.as_deref(),
        Some(id.as_str())
    );
    let statuses = kernel.iopub_until_idle(&info).await;
    assert_eq!(types(&statuses), ["status", "status"]);

    // A cell on the subshell runs when the engine is free, after the main one.
    let mut second = execute("print:from the subshell");
    second.header.subshell_id = Some(id.clone());
    kernel.shell.send(second.clone()).expect("queued");
    let first_reply = kernel.reply().await;
    assert_eq!(
        first_reply.message.parent_header.map(|h| h.msg_id),
        Some(long.header.msg_id.clone())
    );
    let iopub = kernel.iopub_until_idle(&second).await;
    assert_eq!(printed(&iopub), "from the subshell\n");
    kernel.reply().await;

    // An unknown subshell: busy, an error reply, idle.
    let mut lost = request(KernelInfoRequest {});
    lost.header.subshell_id = Some("no-such".into());
    kernel.shell.send(lost.clone()).expect("queued");
    let reply = kernel.reply().await;
    assert_eq!(reply.message.header.msg_type, "kernel_info_reply");
    let encoded = String::from_utf8(reply.message.content.encode()).expect("utf-8");
    assert!(encoded.contains("SubshellNotFound"), "{encoded}");
    assert_eq!(
        types(&kernel.iopub_until_idle(&lost).await),
        ["status", "status"]
    );

    kernel.control.handle(&request(DeleteSubshellRequest {
        subshell_id: id.clone(),
    }));
    assert_eq!(
        kernel.reply().await.message.header.msg_type,
        "delete_subshell_reply"
    );
    kernel
        .control
        .handle(&request(DeleteSubshellRequest { subshell_id: id }));
    let again = kernel.reply().await.message.content.encode();
    assert!(String::from_utf8_lossy(&again).contains("\"error\""));
    kernel.control.handle(&request(ListSubshellRequest {}));
    let Content::ListSubshellReply(list) = kernel.reply().await.message.content else {
        panic!("not a list_subshell_reply");
    };
    assert!(list.subshell_id.is_empty());
}

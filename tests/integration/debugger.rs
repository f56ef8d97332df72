//! The JupyterLab debugger through the real binary, as JupyterLab drives it
//! (debug_request on control, debug_event on iopub) with lldb-dap attached
//! to the runtime: a breakpoint in a cell stops there with the cell's line
//! and locals, the kernel answers while the runtime is stopped, stepping,
//! continuing, cleared breakpoints, and break-on-panic.

use crate::support::{Kernel, alive, error_of, is_reply_to, stream_text};
use ferrokernel_protocol::{Content, ExecuteRequest, ExecutionState, KernelInfoRequest, Message};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How long a stop may take to come: the first debug build of a cell.
const STOP: Duration = Duration::from_secs(120);

struct Session {
    kernel: Kernel,
    seq: i64,
    /// iopub messages read while waiting for events, for later checks.
    seen: Vec<Message>,
}

impl Session {
    /// Sends one DAP request on control; returns the response.
    async fn dap(&mut self, command: &str, arguments: Value) -> Value {
        self.seq += 1;
        self.kernel
            .debug_request(self.seq, command, arguments)
            .await
    }

    async fn ok(&mut self, command: &str, arguments: Value) -> Value {
        let response = self.dap(command, arguments).await;
        assert_eq!(response["success"], true, "{command} failed: {response}");
        response["body"].clone()
    }

    /// Waits for the debug_event `name`; keeps what else came.
    async fn event(&mut self, name: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let message = self.kernel.next_iopub().await;
            if let Content::DebugEvent(event) = &message.content
                && event.0["event"] == name
            {
                return event.0.clone();
            }
            self.seen.push(message);
        }
        panic!("no {name} event in {timeout:?}");
    }

    /// Reads iopub until `request`'s idle status, and its shell reply;
    /// returns its iopub messages.
    async fn finish(&mut self, request: &Message) -> Vec<Message> {
        let messages = self.until_idle(request).await;
        let reply = self.kernel.shell_reply().await;
        assert!(is_reply_to(&reply, request));
        messages
    }

    async fn until_idle(&mut self, request: &Message) -> Vec<Message> {
        let mut mine: Vec<Message> = self
            .seen
            .drain(..)
            .filter(|m| is_reply_to(m, request))
            .collect();
        if mine.iter().any(is_idle) {
            return mine;
        }
        loop {
            let message = self.kernel.next_iopub().await;
            if is_reply_to(&message, request) {
                let idle = is_idle(&message);
                mine.push(message);
                if idle {
                    return mine;
                }
            }
        }
    }

    async fn run(&mut self, code: &str) -> Message {
        self.kernel
            .send_shell(ExecuteRequest {
                code: code.to_owned(),
                ..ExecuteRequest::default()
            })
            .await
    }

    /// The top frame of the stopped thread.
    async fn top_frame(&mut self, thread: &Value) -> Value {
        let trace = self.ok("stackTrace", json!({ "threadId": thread })).await;
        trace["stackFrames"][0].clone()
    }
}

fn is_idle(message: &Message) -> bool {
    matches!(&message.content, Content::Status(s) if s.execution_state == ExecutionState::Idle)
}

const CELL: &str = "let x: i32 = 41;\nlet y = x + 1;\nprintln!(\"y={}\", y);";

impl Session {
    /// A kernel whose engine ran a first cell (as in a notebook, before the
    /// debugger is switched on).
    async fn start() -> Session {
        let kernel = Kernel::start(&[]).await;
        let mut s = Session {
            kernel,
            seq: 0,
            seen: Vec::new(),
        };
        let (_, reply) = s.kernel.execute("let warm = 1;").await;
        assert_eq!(reply.status, ferrokernel_protocol::ReplyStatus::Ok);
        s
    }

    /// JupyterLab's opening: initialize, attach; returns the capabilities.
    async fn attach(&mut self) -> Value {
        let arguments = json!({
            "clientID": "jupyterlab", "adapterID": "rust", "pathFormat": "path",
            "linesStartAt1": true, "columnsStartAt1": true,
        });
        let capabilities = self.ok("initialize", arguments).await;
        self.ok("attach", json!({})).await;
        capabilities
    }

    /// Dumps `code` and sets breakpoints on `lines`; returns the cell's path.
    async fn break_at(&mut self, code: &str, lines: &[u32]) -> Value {
        let path = self.ok("dumpCell", json!({ "code": code })).await["sourcePath"].clone();
        let breakpoints: Vec<Value> = lines.iter().map(|line| json!({ "line": line })).collect();
        self.ok(
            "setBreakpoints",
            json!({ "source": { "path": path }, "breakpoints": breakpoints }),
        )
        .await;
        path
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_breakpoint_hit_in_a_forked_child_does_not_stop_or_hang_the_notebook() {
    let mut s = Session::start().await;
    s.attach().await;
    let code = "let mut p = multiprocessing::Process::new(|| {\n    let z = 7;\n    \
                println!(\"child {}\", z);\n});\np.start()?;\np.join()?;\n\
                println!(\"parent done, exit code {:?}\", p.exitcode());";
    // Line 2 runs in the child only; line 7 in the notebook's runtime, after
    // the child ended: the stop there shows the breakpoints are in force.
    s.break_at(code, &[2, 7]).await;
    let cell = s.run(code).await;
    let stopped = s.event("stopped", STOP).await;
    let thread = stopped["body"]["threadId"].clone();
    assert_eq!(s.top_frame(&thread).await["line"], 7);
    s.ok("continue", json!({ "threadId": thread })).await;
    let messages = s.finish(&cell).await;
    assert_eq!(
        stream_text(&messages, "stdout"),
        "child 7\nparent done, exit code Some(0)\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_breakpoint_in_a_cell_stops_there_with_its_locals_and_the_kernel_answers_meanwhile() {
    let mut s = Session::start().await;

    let info = s.ok("debugInfo", json!({})).await;
    assert_eq!(info["isStarted"], false);
    assert_eq!(info["hashMethod"], "Murmur2");
    assert!(info["hashSeed"].is_u64());
    assert!(
        info["tmpFilePrefix"]
            .as_str()
            .is_some_and(|p| p.ends_with('/'))
    );
    assert_eq!(info["tmpFileSuffix"], ".rs");
    assert_eq!(info["breakpoints"], json!([]));
    assert_eq!(info["stoppedThreads"], json!([]));

    let capabilities = s.attach().await;
    assert_eq!(
        capabilities["exceptionBreakpointFilters"][0]["filter"],
        "rust_panic"
    );
    assert_eq!(s.ok("debugInfo", json!({})).await["isStarted"], true);

    let path = s.ok("dumpCell", json!({ "code": CELL })).await["sourcePath"].clone();
    let again = s.ok("dumpCell", json!({ "code": CELL })).await["sourcePath"].clone();
    assert_eq!(path, again, "the same code has the same path");
    let set = s
        .ok(
            "setBreakpoints",
            json!({ "source": { "path": path }, "breakpoints": [{ "line": 2 }], "sourceModified": false }),
        )
        .await;
    assert_eq!(set["breakpoints"][0]["line"], 2);
    s.ok("configurationDone", json!({})).await;

    // Run: it stops on line 2 of the cell, with x among the locals.
    let cell = s.run(CELL).await;
    let stopped = s.event("stopped", STOP).await;
    let thread = stopped["body"]["threadId"].clone();
    let frame = s.top_frame(&thread).await;
    assert_eq!(frame["source"]["path"], path, "{frame}");
    assert_eq!(frame["line"], 2, "{frame}");
    let stopped_threads = s.ok("debugInfo", json!({})).await["stoppedThreads"].clone();
    assert_eq!(stopped_threads, json!([thread]));

    // The kernel answers while the runtime is stopped.
    let started = Instant::now();
    let info = s.kernel.control_request(KernelInfoRequest {}).await;
    assert!(matches!(info.content, Content::KernelInfoReply(ref r) if r.debugger));
    assert!(started.elapsed() < Duration::from_secs(5));

    let scopes = s.ok("scopes", json!({ "frameId": frame["id"] })).await;
    let locals = scopes["scopes"][0]["variablesReference"].clone();
    let variables = s
        .ok("variables", json!({ "variablesReference": locals }))
        .await;
    let x = variables["variables"]
        .as_array()
        .and_then(|vars| vars.iter().find(|v| v["name"] == "x"))
        .unwrap_or_else(|| panic!("x among {variables}"));
    assert_eq!(x["value"], "41");

    // Step over line 2: the next stop is line 3.
    s.ok("next", json!({ "threadId": thread })).await;
    let stepped = s.event("stopped", STOP).await;
    let frame = s.top_frame(&stepped["body"]["threadId"]).await;
    assert_eq!(frame["line"], 3, "{frame}");

    // Continue: the cell ends and prints.
    s.ok("continue", json!({ "threadId": thread })).await;
    let messages = s.finish(&cell).await;
    assert_eq!(stream_text(&messages, "stdout"), "y=42\n");

    // Breakpoints cleared: the same cell runs through.
    s.ok(
        "setBreakpoints",
        json!({ "source": { "path": path }, "breakpoints": [] }),
    )
    .await;
    let (messages, reply) = s.kernel.execute(CELL).await;
    assert_eq!(reply.status, ferrokernel_protocol::ReplyStatus::Ok);
    assert_eq!(stream_text(&messages, "stdout"), "y=42\n");
    assert!(
        !messages
            .iter()
            .any(|m| matches!(&m.content, Content::DebugEvent(e) if e.0["event"] == "stopped")),
        "no stop without breakpoints"
    );

    // Break on panic: the stop is at the panicking line of the cell.
    s.ok(
        "setExceptionBreakpoints",
        json!({ "filters": ["rust_panic"] }),
    )
    .await;
    let panicking = "let v: Vec<i32> = Vec::new();\nlet n = v[3];\nprintln!(\"{n}\");";
    let cell = s.run(panicking).await;
    let stopped = s.event("stopped", STOP).await;
    let frame = s.top_frame(&stopped["body"]["threadId"]).await;
    assert_eq!(frame["line"], 2, "{frame}");
    assert!(
        frame["source"]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with(".rs") && p != path),
        "{frame}"
    );
    s.ok(
        "continue",
        json!({ "threadId": stopped["body"]["threadId"] }),
    )
    .await;
    let messages = s.finish(&cell).await;
    assert!(
        error_of(&messages).is_some(),
        "the panic is the cell's error"
    );

    s.ok(
        "disconnect",
        json!({ "restart": false, "terminateDebuggee": false }),
    )
    .await;
    let (messages, _) = s.kernel.execute("println!(\"after {}\", warm);").await;
    assert_eq!(stream_text(&messages, "stdout"), "after 1\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupt_while_stopped_ends_the_cell_and_the_kernel_goes_on() {
    let mut s = Session::start().await;
    s.attach().await;
    let code = "let mut turns = 0u64;\nloop {\n    turns += 1;\n}";
    s.break_at(code, &[3]).await;
    let cell = s.run(code).await;
    s.event("stopped", STOP).await;
    let reply = s
        .kernel
        .control_request(ferrokernel_protocol::InterruptRequest {})
        .await;
    assert!(matches!(reply.content, Content::InterruptReply(_)));
    let messages = s.finish(&cell).await;
    assert!(
        error_of(&messages).is_some(),
        "the interrupted cell ends with an error"
    );
    // A loop that never looks at interrupts loses its runtime, as without
    // a debugger; the kernel runs the next cell.
    s.ok("disconnect", json!({})).await;
    let (messages, _) = s.kernel.execute("println!(\"still here\");").await;
    assert_eq!(stream_text(&messages, "stdout"), "still here\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_while_stopped_leaves_no_runtime_or_debug_adapter_behind() {
    let mut s = Session::start().await;
    s.attach().await;
    s.break_at(CELL, &[2]).await;
    let _cell = s.run(CELL).await;
    s.event("stopped", STOP).await;
    let before = ferrokernel_engine::procs::descendants(s.kernel.pid());
    assert!(
        before.iter().any(|p| p.name.starts_with("lldb-dap")),
        "{before:?}"
    );
    let reply = s
        .kernel
        .control_request(ferrokernel_protocol::ShutdownRequest { restart: true })
        .await;
    assert!(matches!(reply.content, Content::ShutdownReply(_)));
    assert!(
        s.kernel.wait_exit(Duration::from_secs(30)).is_some(),
        "the kernel exits"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<_> = before.iter().filter(|p| alive(p.pid)).collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left behind: {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

//! The engine conversation through the real binary: late output under its own
//! cell, answers while a cell runs, the engine start kept out of cell outputs,
//! no orphans, and malformed frames refused without harm.

use crate::support::{FIRST_CELL, Kernel, alive, is_reply_to, stream_text};
use ferrokernel_protocol::{
    CompleteRequest, Content, ExecuteRequest, InspectRequest, KernelInfoRequest, Message,
};
use std::time::{Duration, Instant};

/// Every iopub message under `request` that arrives within `window`.
async fn iopub_under(kernel: &mut Kernel, request: &Message, window: Duration) -> Vec<Message> {
    let deadline = Instant::now() + window;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match tokio::time::timeout(left, kernel.next_iopub()).await {
            Ok(message) if is_reply_to(&message, request) => seen.push(message),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    seen
}

#[tokio::test]
async fn a_thread_and_a_started_child_print_late_under_their_cell_while_idle() {
    let mut kernel = Kernel::start(&[]).await;
    let (_, reply) = kernel.execute("let warm = 1;").await;
    assert_eq!(reply.error, None);
    let code = r#"
std::thread::spawn(|| {
    std::thread::sleep(std::time::Duration::from_millis(1500));
    println!("late from a thread");
});
let mut late_child = multiprocessing::Process::new(|| {
    std::thread::sleep(std::time::Duration::from_millis(1500));
    println!("late from a child");
});
late_child.start()?;
println!("cell done");
"#;
    let request = kernel
        .send_shell(ExecuteRequest {
            code: code.to_owned(),
            ..ExecuteRequest::default()
        })
        .await;
    let during = kernel.iopub_until_idle(&request, FIRST_CELL).await;
    let idle = Instant::now();
    kernel.shell_reply().await;
    assert_eq!(stream_text(&during, "stdout"), "cell done\n");
    let late = iopub_under(&mut kernel, &request, Duration::from_secs(8)).await;
    let text = stream_text(&late, "stdout");
    eprintln!(
        "late output came within {:?} of the cell's idle",
        idle.elapsed()
    );
    assert!(text.contains("late from a thread"), "{text:?}");
    assert!(text.contains("late from a child"), "{text:?}");
    // Nothing of it waits for the next cell.
    let (next, _) = kernel.execute("println!(\"next\");").await;
    assert_eq!(stream_text(&next, "stdout"), "next\n");
}

#[tokio::test]
async fn a_child_of_an_earlier_cell_prints_under_it_while_a_later_cell_runs() {
    let mut kernel = Kernel::start(&[]).await;
    let code = r#"
let mut p = multiprocessing::Process::new(|| {
    std::thread::sleep(std::time::Duration::from_millis(1000));
    println!("child of the first cell");
});
p.start()?;
"#;
    let first = kernel
        .send_shell(ExecuteRequest {
            code: code.to_owned(),
            ..ExecuteRequest::default()
        })
        .await;
    kernel.iopub_until_idle(&first, FIRST_CELL).await;
    kernel.shell_reply().await;
    let second = kernel
        .send_shell(ExecuteRequest {
            code: "std::thread::sleep(std::time::Duration::from_millis(2500)); p.join()?;"
                .to_owned(),
            ..ExecuteRequest::default()
        })
        .await;
    let mut under_first = Vec::new();
    let mut under_second = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the second cell never ended");
        let message = kernel.next_iopub().await;
        if is_reply_to(&message, &first) {
            under_first.push(message);
        } else if is_reply_to(&message, &second) {
            let idle = matches!(&message.content, Content::Status(s)
                if s.execution_state == ferrokernel_protocol::ExecutionState::Idle);
            under_second.push(message);
            if idle {
                break;
            }
        }
    }
    assert_eq!(
        stream_text(&under_first, "stdout"),
        "child of the first cell\n"
    );
    assert_eq!(stream_text(&under_second, "stdout"), "");
}

#[tokio::test]
async fn kernel_info_completions_and_inspection_answer_while_a_cell_runs() {
    let mut kernel = Kernel::start(&[]).await;
    let (_, reply) = kernel.execute("let earlier_cell_value = 7;").await;
    assert_eq!(reply.error, None);
    let running = kernel
        .send_shell(ExecuteRequest {
            code: "std::thread::sleep(std::time::Duration::from_secs(6));".to_owned(),
            ..ExecuteRequest::default()
        })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let asked = Instant::now();
    kernel.send_shell(KernelInfoRequest {}).await;
    let code = "let my_long_variable_name = 1; my_long_var";
    kernel
        .send_shell(CompleteRequest {
            code: code.to_owned(),
            cursor_pos: code.len(),
        })
        .await;
    let inspected = "earlier_cell_value";
    kernel
        .send_shell(InspectRequest {
            code: inspected.to_owned(),
            cursor_pos: inspected.len(),
            detail_level: 0,
        })
        .await;
    let mut answered = Vec::new();
    for _ in 0..3 {
        let reply = kernel.shell_reply().await;
        answered.push((reply.header.msg_type.clone(), asked.elapsed()));
        match reply.content {
            Content::CompleteReply(complete) => assert!(
                complete
                    .matches
                    .contains(&"my_long_variable_name".to_owned()),
                "{:?}",
                complete.matches
            ),
            Content::InspectReply(inspect) => assert!(inspect.found, "nothing about {inspected}"),
            Content::KernelInfoReply(_) => {}
            other => panic!("a reply to the running cell came first: {other:?}"),
        }
    }
    eprintln!("answered while the cell ran: {answered:?}");
    let last = kernel.shell_reply().await;
    assert!(is_reply_to(&last, &running), "{last:?}");
}

#[tokio::test]
async fn with_no_warm_engine_the_first_cell_shows_only_its_own_output() {
    let mut kernel = Kernel::start(&[]).await;
    let code = "let my_long_variable_name = 1; my_long_var";
    kernel
        .send_shell(CompleteRequest {
            code: code.to_owned(),
            cursor_pos: code.len(),
        })
        .await;
    let Content::CompleteReply(complete) = kernel.shell_reply().await.content else {
        panic!("not a complete_reply");
    };
    assert!(
        complete
            .matches
            .contains(&"my_long_variable_name".to_owned()),
        "{:?}",
        complete.matches
    );
    let (messages, reply) = kernel.execute("println!(\"S1\");").await;
    assert_eq!(reply.error, None);
    let outputs: Vec<&str> = messages
        .iter()
        .map(|m| m.header.msg_type.as_str())
        .filter(|t| !matches!(*t, "status" | "execute_input"))
        .collect();
    assert_eq!(outputs, ["stream"]);
    assert_eq!(stream_text(&messages, "stdout"), "S1\n");
    let states: Vec<String> = messages
        .iter()
        .filter_map(|m| match &m.content {
            Content::Status(s) => Some(format!("{:?}", s.execution_state)),
            _ => None,
        })
        .collect();
    assert!(states.contains(&"Starting".to_owned()), "{states:?}");
}

#[tokio::test]
async fn a_kernel_whose_parent_dies_ends_with_everything_it_started() {
    let mut parent = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("a stand-in for the Jupyter server");
    let parent_pid = parent.id().to_string();
    let mut kernel = Kernel::start(&[("JPY_PARENT_PID", &parent_pid)]).await;
    let (messages, reply) = kernel
        .execute(
            "let mut sleeper = multiprocessing::Process::new(|| std::thread::sleep(std::time::Duration::from_secs(600)));\n\
             sleeper.start()?;\nprintln!(\"{}\", std::process::id());",
        )
        .await;
    assert_eq!(reply.error, None);
    let kernel_pid = kernel.pid();
    let below = ferrokernel_engine::procs::descendants(kernel_pid);
    assert!(
        below.len() >= 3,
        "expected the host, the runtime and the cell's child below the kernel: {below:?} ({})",
        stream_text(&messages, "stdout")
    );
    let _ = parent.kill();
    let _ = parent.wait();
    let killed = Instant::now();
    let exited = kernel.wait_exit(Duration::from_secs(15));
    assert!(exited.is_some(), "the kernel outlived its parent");
    let deadline = Instant::now() + Duration::from_secs(5);
    while below.iter().any(|p| alive(p.pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<i32> = below
        .iter()
        .filter(|p| alive(p.pid))
        .map(|p| p.pid)
        .collect();
    eprintln!(
        "kernel and its processes gone {:?} after the parent",
        killed.elapsed()
    );
    assert!(left.is_empty(), "still running: {left:?}");
}

/// Writes one frame of raw bytes (a length, then the bytes).
fn raw_frame(mut socket: &std::os::unix::net::UnixStream, body: &[u8]) {
    use std::io::Write;
    let length = u32::try_from(body.len()).expect("small").to_be_bytes();
    socket.write_all(&length).expect("write");
    socket.write_all(body).expect("write");
}

/// `ferrokernel engine-host` on a socket of ours, serving the scripted engine.
fn engine_host() -> (std::os::unix::net::UnixStream, std::process::Child) {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("pair");
    let (_status_ours, status_theirs) = std::os::unix::net::UnixStream::pair().expect("pair");
    let (socket_fd, status_fd) = (theirs.as_raw_fd(), status_theirs.as_raw_fd());
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ferrokernel"));
    command
        .arg("engine-host")
        .env("FERROKERNEL_FAKE_ENGINE", "0")
        .stdin(std::process::Stdio::null());
    // SAFETY: only dup2, which is async-signal-safe, between fork and exec.
    unsafe {
        command.pre_exec(move || {
            for (from, to) in [(socket_fd, 3), (status_fd, 4)] {
                if libc::dup2(from, to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = command.spawn().expect("the host starts");
    drop((theirs, status_theirs));
    ours.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    (ours, child)
}

#[test]
fn malformed_frames_to_an_engine_host_are_refused_without_harm() {
    use ferrokernel_engine::conversation::{
        EngineEvent, EngineRequest, PROTOCOL_VERSION, RequestId, wire,
    };
    // Garbage instead of Hello: refused, with a reason.
    let (socket, mut host) = engine_host();
    raw_frame(&socket, b"{not json");
    let refused = loop {
        match wire::recv::<EngineEvent>(&socket).expect("an answer") {
            Some(EngineEvent::Refused { reason }) => break reason,
            Some(_) => continue,
            None => panic!("closed without saying why"),
        }
    };
    assert!(refused.contains("bad first message"), "{refused}");
    drop(socket);
    let _ = host.wait();

    // After a proper Hello, a malformed request and one of an unknown type are
    // passed over, and the next request is answered.
    let (socket, mut host) = engine_host();
    let hello = EngineRequest::Hello {
        protocol: PROTOCOL_VERSION,
    };
    wire::send(&socket, &hello).expect("hello");
    raw_frame(&socket, b"[1, 2");
    raw_frame(&socket, br#"{"type":"from_the_future","x":1}"#);
    let code = "pri".to_owned();
    let complete = EngineRequest::Complete {
        id: RequestId(9),
        code,
        cursor: 3,
    };
    wire::send(&socket, &complete).expect("complete");
    let found = loop {
        match wire::recv::<EngineEvent>(&socket).expect("an answer") {
            Some(EngineEvent::Completed { id, found }) => break (id, found),
            Some(EngineEvent::Refused { reason }) => panic!("refused: {reason}"),
            Some(_) => continue,
            None => panic!("the host hung up"),
        }
    };
    assert_eq!(found.0, RequestId(9));
    assert!(found.1.matches.contains(&"print".to_owned()), "{found:?}");
    wire::send(&socket, &EngineRequest::Shutdown).expect("shutdown");
    let _ = host.wait();
}

#[test]
fn ferrokernel_run_writes_late_output_into_the_cell_that_started_it() {
    let dir = std::env::temp_dir().join(format!("fk-run-late-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cells = [
        "let mut p = multiprocessing::Process::new(|| {\n    std::thread::sleep(std::time::Duration::from_millis(1000));\n    println!(\"child of the first cell\");\n});\np.start()?;",
        "std::thread::sleep(std::time::Duration::from_millis(2500));\np.join()?;\nprintln!(\"second\");",
    ];
    let notebook = serde_json::json!({
        "cells": cells.iter().map(|code| serde_json::json!({
            "cell_type": "code", "metadata": {}, "source": code,
            "outputs": [], "execution_count": null,
        })).collect::<Vec<_>>(),
        "metadata": {"kernelspec": {"name": "ferrokernel", "display_name": "Rust", "language": "rust"}},
        "nbformat": 4, "nbformat_minor": 5,
    });
    let input = dir.join("late.ipynb");
    let output = dir.join("out.ipynb");
    std::fs::write(&input, notebook.to_string()).expect("notebook");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_ferrokernel"))
        .arg("run")
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .arg("-q")
        .status()
        .expect("ferrokernel run");
    assert!(status.success());
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&output).expect("written")).expect("json");
    let text_of = |index: usize| -> String {
        written["cells"][index]["outputs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["text"].as_array())
            .flatten()
            .filter_map(|line| line.as_str())
            .collect()
    };
    assert_eq!(text_of(0), "child of the first cell\n");
    assert_eq!(text_of(1), "second\n");
    let _ = std::fs::remove_dir_all(&dir);
}

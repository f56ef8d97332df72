//! Interrupts, crashed runtimes, shutdown: the kernel answers, says what
//! happened, goes on, and leaves no process behind.

use crate::support::{Kernel, alive, error_of, result_text, stream_text};
use ferrokernel_protocol::{Content, InterruptRequest, Message, ReplyStatus, ShutdownRequest};
use std::time::{Duration, Instant};

const BARE: &[(&str, &str)] = &[("FERROKERNEL_PRELUDE", "0")];

fn wait_until_dead(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Reads the first number a cell printed.
fn printed_pid(messages: &[Message]) -> i32 {
    stream_text(messages, "stdout")
        .split_whitespace()
        .find_map(|word| word.parse().ok())
        .expect("the cell printed a pid")
}

#[tokio::test]
async fn a_spinning_cell_is_stopped_the_runtime_restarts_and_its_processes_end() {
    let mut kernel = Kernel::start(BARE).await;
    kernel.execute("let kept = 5;").await;
    let spinning = kernel
        .send_shell(ferrokernel_protocol::ExecuteRequest {
            code: "let sleeper = std::process::Command::new(\"sleep\").arg(\"300\").spawn().unwrap();\n\
                   println!(\"sleeper {}\", sleeper.id());\n\
                   loop { std::hint::spin_loop(); }"
                .into(),
            ..Default::default()
        })
        .await;
    // Wait for the cell to be running (it printed the sleeper's pid).
    let mut seen = Vec::new();
    while !seen.iter().any(|m: &Message| m.header.msg_type == "stream") {
        let message = kernel.next_iopub().await;
        if crate::support::is_reply_to(&message, &spinning) {
            seen.push(message);
        }
    }
    let sleeper = printed_pid(&seen);
    let asked = Instant::now();
    let reply = kernel.control_request(InterruptRequest {}).await;
    assert_eq!(reply.header.msg_type, "interrupt_reply");
    let iopub = kernel
        .iopub_until_idle(&spinning, Duration::from_secs(60))
        .await;
    let stopped_after = asked.elapsed();
    println!("interrupt -> cell stopped: {stopped_after:?}");
    let Content::ExecuteReply(reply) = kernel.shell_reply().await.content else {
        panic!("not an execute_reply");
    };
    assert_eq!(reply.status, ReplyStatus::Error);
    let (ename, evalue) = error_of(&iopub).expect("an error message on iopub");
    assert_eq!(ename, "KeyboardInterrupt");
    assert!(
        evalue.contains("restarted") && evalue.contains("kept"),
        "{evalue}"
    );
    assert!(
        wait_until_dead(sleeper, Duration::from_secs(5)),
        "the cell's process was ended"
    );
    let (iopub, reply) = kernel.execute("1 + 1").await;
    assert_eq!(reply.status, ReplyStatus::Ok);
    assert_eq!(result_text(&iopub).as_deref(), Some("2"));
}

#[tokio::test]
async fn a_crashed_runtime_is_an_error_and_the_next_cell_runs() {
    let mut kernel = Kernel::start(BARE).await;
    // A process that holds the runtime's output pipe must not stall the crash report.
    let (iopub, _) = kernel
        .execute(
            "let doomed = String::from(\"x\");\n\
             let sleeper = std::process::Command::new(\"sleep\").arg(\"300\").spawn().unwrap();\n\
             println!(\"{}\", sleeper.id());",
        )
        .await;
    let sleeper = printed_pid(&iopub);
    let (iopub, reply) = kernel
        .execute("println!(\"last words\"); std::process::abort();")
        .await;
    assert_eq!(reply.status, ReplyStatus::Error);
    assert!(
        wait_until_dead(sleeper, Duration::from_secs(5)),
        "what the runtime left behind was ended"
    );
    assert_eq!(stream_text(&iopub, "stdout"), "last words\n");
    let (ename, evalue) = error_of(&iopub).expect("an error message on iopub");
    assert_eq!(ename, "RuntimeCrashed");
    assert!(
        evalue.contains("SIGABRT") && evalue.contains("doomed"),
        "{evalue}"
    );

    let (iopub, reply) = kernel
        .execute("unsafe { std::ptr::null_mut::<u64>().write_volatile(1) };")
        .await;
    assert_eq!(reply.status, ReplyStatus::Error);
    let (ename, _) = error_of(&iopub).expect("an error message on iopub");
    assert_eq!(ename, "RuntimeCrashed");

    let (iopub, reply) = kernel.execute("40 + 2").await;
    assert_eq!(reply.status, ReplyStatus::Ok);
    assert_eq!(result_text(&iopub).as_deref(), Some("42"));
}

#[tokio::test]
async fn shutdown_ends_every_process_the_notebook_started() {
    let mut kernel = Kernel::start(BARE).await;
    let (iopub, _) = kernel
        .execute(
            "let sleeper = std::process::Command::new(\"sleep\").arg(\"300\").spawn().unwrap();\n\
             println!(\"{}\", sleeper.id());",
        )
        .await;
    let sleeper = printed_pid(&iopub);
    let runtime: Vec<i32> = ferrokernel_engine::procs::descendants(kernel.pid())
        .into_iter()
        .map(|p| p.pid)
        .collect();
    assert!(runtime.contains(&sleeper));
    let reply = kernel
        .control_request(ShutdownRequest { restart: false })
        .await;
    assert_eq!(reply.header.msg_type, "shutdown_reply");
    let status = kernel.wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "the kernel exits cleanly: {status:?}"
    );
    for pid in runtime {
        assert!(
            wait_until_dead(pid, Duration::from_secs(5)),
            "process {pid} outlived the kernel"
        );
    }
}

#[tokio::test]
async fn a_killed_kernel_takes_its_runtime_with_it() {
    let mut kernel = Kernel::start(BARE).await;
    kernel.execute("1").await;
    let runtime: Vec<i32> = ferrokernel_engine::procs::descendants(kernel.pid())
        .into_iter()
        .map(|p| p.pid)
        .collect();
    assert!(!runtime.is_empty());
    kernel.kill_hard();
    for pid in runtime {
        assert!(
            wait_until_dead(pid, Duration::from_secs(5)),
            "process {pid} outlived a killed kernel"
        );
    }
}

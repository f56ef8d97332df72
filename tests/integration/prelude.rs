//! The prelude through the kernel: what only works because cells are compiled
//! into a long-lived runtime that forks.

use crate::support::{Kernel, error_of, result_text, stream_text};
use ferrokernel_protocol::{Content, ExecuteRequest, InterruptRequest, Message, ReplyStatus};
use std::time::{Duration, Instant};

use ferrokernel_engine::procs::exited as gone;

fn eventually_gone(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[tokio::test]
async fn a_pool_made_in_one_cell_maps_a_function_defined_in_a_later_cell() {
    let mut kernel = Kernel::start(&[]).await;
    let (_, reply) = kernel
        .execute("let pool = multiprocessing::Pool::with_processes(2)?;")
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{reply:?}");
    let (_, reply) = kernel
        .execute("fn cube_plus(n: u64) -> u64 { n * n * n + 1 }\nlet offset = 10u64;")
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok);
    let (iopub, reply) = kernel
        .execute("pool.map(|n: u64| cube_plus(n) + offset, 1..=4)?")
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{:?}", error_of(&iopub));
    assert_eq!(result_text(&iopub).as_deref(), Some("[12, 19, 38, 75]"));
}

#[tokio::test]
async fn child_processes_print_into_the_cell() {
    let mut kernel = Kernel::start(&[]).await;
    let (iopub, reply) = kernel
        .execute(
            "let mut p = multiprocessing::Process::new(|| println!(\"child {}\", os::getpid() != os::getppid()));\n\
             p.start()?;\n\
             p.join()?;\n\
             p.exitcode()",
        )
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{:?}", error_of(&iopub));
    assert_eq!(stream_text(&iopub, "stdout"), "child true\n");
    assert_eq!(result_text(&iopub).as_deref(), Some("Some(0)"));
}

#[tokio::test]
async fn a_cell_blocked_in_a_prelude_wait_is_interrupted_and_keeps_its_variables() {
    let mut kernel = Kernel::start(&[]).await;
    let (iopub, reply) = kernel
        .execute("let q = multiprocessing::Queue::<i32>::new()?;\nlet kept = 41;")
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{:?}", error_of(&iopub));
    let blocked = kernel
        .send_shell(ExecuteRequest {
            code: "let mut sleeper = multiprocessing::Process::new(|| std::thread::sleep(std::time::Duration::from_secs(300)));\n\
                   sleeper.start()?;\n\
                   println!(\"{}\", sleeper.pid().unwrap_or_default());\n\
                   q.get()?;"
                .into(),
            ..ExecuteRequest::default()
        })
        .await;
    let mut seen = Vec::new();
    while !seen.iter().any(|m: &Message| m.header.msg_type == "stream") {
        let message = kernel.next_iopub().await;
        if crate::support::is_reply_to(&message, &blocked) {
            seen.push(message);
        }
    }
    let sleeper: i32 = stream_text(&seen, "stdout").trim().parse().expect("a pid");
    let asked = Instant::now();
    kernel.control_request(InterruptRequest {}).await;
    let iopub = kernel
        .iopub_until_idle(&blocked, Duration::from_secs(60))
        .await;
    println!("interrupt -> blocked cell ended: {:?}", asked.elapsed());
    let Content::ExecuteReply(reply) = kernel.shell_reply().await.content else {
        panic!("not an execute_reply");
    };
    assert_eq!(reply.status, ReplyStatus::Error);
    let (ename, evalue) = error_of(&iopub).expect("an error");
    assert_eq!(ename, "KeyboardInterrupt");
    assert!(
        evalue.contains("kept"),
        "no restart, variables kept: {evalue}"
    );
    assert!(
        eventually_gone(sleeper),
        "the process the cell started was ended"
    );
    let (iopub, reply) = kernel.execute("q.put(1)?; q.get()? + kept").await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{:?}", error_of(&iopub));
    assert_eq!(result_text(&iopub).as_deref(), Some("42"));
}

#[tokio::test]
async fn a_killed_kernel_takes_the_notebooks_processes_with_it() {
    let mut kernel = Kernel::start(&[]).await;
    let (iopub, reply) = kernel
        .execute(
            "let mut p = multiprocessing::Process::new(|| std::thread::sleep(std::time::Duration::from_secs(300)));\n\
             p.start()?;\n\
             let manager = multiprocessing::Manager::new()?;\n\
             println!(\"{} {}\", p.pid().unwrap_or_default(), manager.pid().unwrap_or_default());",
        )
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{:?}", error_of(&iopub));
    let pids: Vec<i32> = stream_text(&iopub, "stdout")
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(pids.len(), 2);
    kernel.kill_hard();
    for pid in pids {
        assert!(
            eventually_gone(pid),
            "process {pid} outlived a killed kernel"
        );
    }
}

#[tokio::test]
async fn every_cell_sees_the_same_process_wide_state() {
    // Each cell is its own library with its own copy of the prelude; children
    // started from one cell must still be known in the next.
    let mut kernel = Kernel::start(&[]).await;
    let (iopub, reply) = kernel
        .execute(
            // Long enough to outlive the next cell on a loaded machine; ended below.
            "let mut p = multiprocessing::Process::new(|| std::thread::sleep(std::time::Duration::from_secs(120)));\n\
             p.start()?;",
        )
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{:?}", error_of(&iopub));
    let (iopub, _) = kernel
        .execute("multiprocessing::active_children().len()")
        .await;
    assert_eq!(
        result_text(&iopub).as_deref(),
        Some("1"),
        "{:?}",
        error_of(&iopub)
    );
    let (iopub, _) = kernel
        .execute(
            "p.terminate();\np.join()?;\n(p.exitcode(), multiprocessing::active_children().len())",
        )
        .await;
    assert_eq!(
        result_text(&iopub).as_deref(),
        Some("(Some(-15), 0)"),
        "{:?}",
        error_of(&iopub)
    );
}

#[tokio::test]
async fn a_cell_blocked_in_a_contended_value_get_is_interrupted_and_keeps_its_variables() {
    let mut kernel = Kernel::start(&[]).await;
    // A child holds the value's lock for good: `get` waits for it.
    let (iopub, reply) = kernel
        .execute(
            "let v = multiprocessing::Value::<i32>::new(41)?;\n\
             let held = multiprocessing::Event::new()?;\n\
             let mut holder = multiprocessing::Process::new({\n\
                 let (v, held) = (v.clone(), held.clone());\n\
                 move || {\n\
                     let _guard = v.get_lock().expect(\"lock\");\n\
                     held.set().expect(\"set\");\n\
                     std::thread::sleep(std::time::Duration::from_secs(300));\n\
                 }\n\
             });\n\
             holder.start()?;\n\
             held.wait()?;",
        )
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{:?}", error_of(&iopub));
    let blocked = kernel
        .send_shell(ExecuteRequest {
            code: "println!(\"waiting\");\nv.get()?".into(),
            ..ExecuteRequest::default()
        })
        .await;
    let mut seen = Vec::new();
    while !seen.iter().any(|m: &Message| m.header.msg_type == "stream") {
        let message = kernel.next_iopub().await;
        if crate::support::is_reply_to(&message, &blocked) {
            seen.push(message);
        }
    }
    let asked = Instant::now();
    kernel.control_request(InterruptRequest {}).await;
    let iopub = kernel
        .iopub_until_idle(&blocked, Duration::from_secs(60))
        .await;
    let took = asked.elapsed();
    println!("interrupt -> contended Value::get ended: {took:?}");
    let Content::ExecuteReply(reply) = kernel.shell_reply().await.content else {
        panic!("not an execute_reply");
    };
    assert_eq!(reply.status, ReplyStatus::Error);
    let (ename, evalue) = error_of(&iopub).expect("an error");
    assert_eq!(ename, "KeyboardInterrupt");
    assert!(
        evalue.contains("kept"),
        "no restart, variables kept: {evalue}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // The variables are there; once the holder is gone, the lock is recovered.
    let (iopub, reply) = kernel
        .execute("holder.kill();\nholder.join()?;\nv.get()? + 1")
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{:?}", error_of(&iopub));
    assert_eq!(result_text(&iopub).as_deref(), Some("42"));
}

#[tokio::test]
async fn every_cell_sees_concurrent_futures() {
    let mut kernel = Kernel::start(&[]).await;
    let (iopub, reply) = kernel
        .execute(
            "let executor = concurrent::futures::ProcessPoolExecutor::with_max_workers(2)?;\n\
             let futures: Vec<_> = (1..=3u64).map(|n| executor.submit(move || n * n)).collect::<Result<_, _>>()?;\n\
             let mut squares: Vec<u64> = concurrent::futures::as_completed(&futures).map(|f| f.and_then(|f| f.result())).collect::<Result<_, _>>()?;\n\
             squares.sort();\n\
             squares",
        )
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{:?}", error_of(&iopub));
    assert_eq!(result_text(&iopub).as_deref(), Some("[1, 4, 9]"));
}

/// Sends `code` (which prints a line, then blocks), interrupts it once it
/// printed, and returns the error it ended with.
async fn interrupt_once_blocked(kernel: &mut Kernel, code: &str) -> (String, String) {
    let blocked = kernel
        .send_shell(ExecuteRequest {
            code: code.into(),
            ..ExecuteRequest::default()
        })
        .await;
    let mut printed = false;
    while !printed {
        let message = kernel.next_iopub().await;
        printed =
            crate::support::is_reply_to(&message, &blocked) && message.header.msg_type == "stream";
    }
    kernel.control_request(InterruptRequest {}).await;
    let iopub = kernel
        .iopub_until_idle(&blocked, Duration::from_secs(60))
        .await;
    kernel.shell_reply().await;
    error_of(&iopub).expect("the blocked cell ends in an error")
}

#[tokio::test]
async fn a_cell_blocked_in_a_manager_call_is_interrupted_and_keeps_its_variables() {
    let mut kernel = Kernel::start(&[]).await;
    let (iopub, reply) = kernel
        .execute(
            "let manager = multiprocessing::Manager::new()?;\n\
             let jobs = manager.queue::<u32>()?;",
        )
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{:?}", error_of(&iopub));
    // Nothing was put: the server's queue makes the call wait.
    let (ename, evalue) =
        interrupt_once_blocked(&mut kernel, "println!(\"waiting\");\njobs.get()?").await;
    assert_eq!(ename, "KeyboardInterrupt");
    assert!(
        evalue.contains("kept"),
        "no restart, variables kept: {evalue}"
    );
    let (iopub, reply) = kernel.execute("jobs.put(41)?;\njobs.get()? + 1").await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{:?}", error_of(&iopub));
    assert_eq!(result_text(&iopub).as_deref(), Some("42"));
}

#[tokio::test]
async fn two_kernels_share_a_queue_through_a_served_manager() {
    let (mut notebook, mut worker) = tokio::join!(Kernel::start(&[]), Kernel::start(&[]));
    let (iopub, reply) = notebook
        .execute(
            "let manager = multiprocessing::Manager::serve(0u16, \"lab key\")?;\n\
             let jobs = manager.queue::<u32>()?;\n\
             let results = manager.list(Vec::<u32>::new())?;\n\
             manager.register(\"jobs\", &jobs)?;\n\
             manager.register(\"results\", &results)?;\n\
             for n in 1..=3 { jobs.put(n)?; }\n\
             println!(\"{}\", manager.address().map(|a| a.to_string()).unwrap_or_default());",
        )
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{:?}", error_of(&iopub));
    let address = stream_text(&iopub, "stdout").trim().to_owned();
    assert!(
        address.starts_with("127.0.0.1:"),
        "loopback by default: {address}"
    );
    let (iopub, reply) = worker
        .execute(&format!(
            "let remote = multiprocessing::Manager::connect(\"{address}\", \"lab key\")?;\n\
             let jobs: multiprocessing::QueueProxy<u32> = remote.get(\"jobs\")?;\n\
             let results: multiprocessing::ListProxy<u32> = remote.get(\"results\")?;\n\
             for _ in 0..3 {{ let n = jobs.get()?; results.append(n * n)?; }}\n\
             results.len()?"
        ))
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{:?}", error_of(&iopub));
    assert_eq!(result_text(&iopub).as_deref(), Some("3"));
    let (iopub, _) = notebook
        .execute("let mut done = results.to_vec()?; done.sort(); done")
        .await;
    assert_eq!(result_text(&iopub).as_deref(), Some("[1, 4, 9]"));
    // A wrong key is refused, and the notebook's manager keeps serving.
    let (iopub, reply) = worker
        .execute(&format!(
            "multiprocessing::Manager::connect(\"{address}\", \"wrong\").map(|_| ())"
        ))
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok);
    let text = result_text(&iopub).unwrap_or_default();
    assert!(text.contains("AuthenticationError"), "{text}");
    let (iopub, _) = notebook.execute("results.len()?").await;
    assert_eq!(result_text(&iopub).as_deref(), Some("3"));
}

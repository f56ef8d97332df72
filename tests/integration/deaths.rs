//! Deaths explained: a crashed runtime's error names its signal, and a cell
//! past the memory limit is an out-of-memory error after which the kernel
//! goes on.

use crate::support::{Kernel, error_of, result_text};
use ferrokernel_protocol::ReplyStatus;

#[tokio::test]
async fn crashes_name_their_signal() {
    let mut kernel = Kernel::start(&[("FERROKERNEL_PRELUDE", "0")]).await;
    kernel.execute("let kept = 1;").await;
    let (iopub, _) = kernel
        .execute("unsafe { std::ptr::null_mut::<u64>().write_volatile(1) };")
        .await;
    let (ename, evalue) = error_of(&iopub).expect("an error message on iopub");
    assert_eq!(ename, "RuntimeCrashed");
    assert!(
        evalue.starts_with("the Rust runtime was killed by SIGSEGV (invalid memory access")
            && evalue.contains("variables lost: kept"),
        "{evalue}"
    );
    let (iopub, _) = kernel
        .execute(
            "std::process::Command::new(\"kill\")\n\
             .args([\"-KILL\", &std::process::id().to_string()]).status().unwrap();",
        )
        .await;
    let (_, evalue) = error_of(&iopub).expect("an error message on iopub");
    assert!(evalue.contains("killed by SIGKILL"), "{evalue}");
}

#[tokio::test]
async fn a_cell_past_the_memory_limit_is_out_of_memory_and_the_next_cell_runs() {
    let mut kernel = Kernel::start(&[("FERROKERNEL_MEMORY_LIMIT", "512M")]).await;
    kernel.execute("let kept = 1;").await;
    // Under the limit, memory is there, and the prelude's shared mappings
    // (gigabytes of address space for a pool's results) do not count.
    let (iopub, reply) = kernel
        .execute(
            "let small = vec![1u8; 64 << 20];\n\
             let manager = multiprocessing::Manager::new()?;\n\
             let doubled: Vec<u64> = multiprocessing::Pool::with_processes(2)?.map(|x: u64| x * 2, 0..100)?;\n\
             (small.len(), doubled[99])",
        )
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{iopub:?}");
    assert_eq!(result_text(&iopub).as_deref(), Some("(67108864, 198)"));
    let (iopub, reply) = kernel
        .execute("let big = vec![1u8; 1 << 30];\nprintln!(\"{}\", big.len());")
        .await;
    assert_eq!(reply.status, ReplyStatus::Error);
    let (ename, evalue) = error_of(&iopub).expect("an error message on iopub");
    assert_eq!(ename, "MemoryError", "{evalue}: {iopub:?}");
    assert!(
        evalue.starts_with(
            "the cell ran out of memory: it may use 512 MiB (FERROKERNEL_MEMORY_LIMIT)"
        ),
        "{evalue}"
    );
    assert!(evalue.contains("the runtime was restarted"), "{evalue}");
    let (iopub, reply) = kernel.execute("40 + 2").await;
    assert_eq!(reply.status, ReplyStatus::Ok);
    assert_eq!(result_text(&iopub).as_deref(), Some("42"));
}

#[tokio::test]
async fn children_killed_by_a_signal_are_named() {
    // In the kernel the runtime has evcxr's crash handler; a child must still
    // die by its own signal, not by the handler's abort.
    let mut kernel = Kernel::start(&[]).await;
    let (iopub, reply) = kernel
        .execute(
            "let mut crashing = multiprocessing::Process::new(|| unsafe { std::ptr::null_mut::<u64>().write_volatile(1) });\n\
             crashing.start()?;\n\
             crashing.join()?;\n\
             let mut sleeper = multiprocessing::Process::new(|| std::thread::sleep(std::time::Duration::from_secs(60)));\n\
             sleeper.start()?;\n\
             sleeper.kill();\n\
             sleeper.join()?;\n\
             println!(\"{crashing}\\n{sleeper}\");\n\
             (crashing.exitcode(), sleeper.exitcode())",
        )
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{iopub:?}");
    assert_eq!(
        result_text(&iopub).as_deref(),
        Some("(Some(-11), Some(-9))")
    );
    let printed = crate::support::stream_text(&iopub, "stdout");
    let lines: Vec<&str> = printed.lines().collect();
    assert!(
        lines.len() == 2
            && lines[0].ends_with("killed by SIGSEGV (signal 11)")
            && lines[1].ends_with("killed by SIGKILL (signal 9)"),
        "{printed}"
    );
}

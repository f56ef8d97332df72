//! Huge output tamed, nothing lost: past the cell's output limit the page gets
//! the head, one line saying what was left out and where all of it is, and the
//! tail.

use crate::support::{Kernel, stream_text};
use ferrokernel_protocol::ReplyStatus;
use std::time::Instant;

const BARE: &[(&str, &str)] = &[("FERROKERNEL_PRELUDE", "0")];

/// Line `i` of the test's output: 1000 bytes with its newline.
fn line(i: usize) -> String {
    format!("{i:06} {}\n", "x".repeat(992))
}

#[tokio::test]
async fn fifty_megabytes_arrive_as_head_and_tail_with_a_file_holding_all() {
    let mut kernel = Kernel::start(BARE).await;
    kernel.execute("1").await;
    let started = Instant::now();
    let (iopub, reply) = kernel
        .execute(
            "let pad = \"x\".repeat(992);\n\
             for i in 0..50_000 { println!(\"{i:06} {pad}\"); }",
        )
        .await;
    println!("50 MB cell: {:?}", started.elapsed());
    assert_eq!(reply.status, ReplyStatus::Ok);
    // The default limit, 1 MB: the first thousand lines, then a tenth of it.
    let stdout = stream_text(&iopub, "stdout");
    let head: String = (0..1000).map(line).collect();
    let tail: String = (49_900..50_000).map(line).collect();
    assert!(stdout.starts_with(&head), "the head is the first 1 MB");
    assert_eq!(stdout.len(), head.len() + tail.len());
    assert!(stdout.ends_with(&tail), "the tail is the last 100 kB");
    let summary = stream_text(&iopub, "stderr");
    assert!(
        summary.contains("48.9 MB in 48 900 lines left out"),
        "{summary}"
    );
    let path = summary
        .split(" is in ")
        .nth(1)
        .map(str::trim)
        .expect("the summary names the file");
    let kept = std::fs::read_to_string(path).expect("the file of the complete output");
    assert_eq!(kept.len(), 50_000_000);
    let all: String = (0..50_000).map(line).collect();
    assert!(kept == all, "the file holds every line, in order");
    let _ = std::fs::remove_file(path);

    // A cell sets its own limit with a leading line of ours.
    let (iopub, reply) = kernel
        .execute(":output_limit 20 lines\nfor i in 0..100 { println!(\"{i}\"); }")
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok);
    let stdout = stream_text(&iopub, "stdout");
    assert_eq!(stdout.lines().count(), 20 + 2);
    assert!(
        stdout.starts_with("0\n1\n") && stdout.ends_with("98\n99\n"),
        "{stdout}"
    );
    assert!(stream_text(&iopub, "stderr").contains("78 lines left out"));
    // The next cell has the kernel's limit again.
    let (iopub, _) = kernel
        .execute("for i in 0..100 { println!(\"{i}\"); }")
        .await;
    assert_eq!(stream_text(&iopub, "stdout").lines().count(), 100);
}

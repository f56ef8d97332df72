//! What the kernel benchmarks share: medians, the load average, a timed cell.
//! (A directory, so that cargo does not take it for a benchmark of its own.)

use crate::support::{FIRST_CELL, Kernel};
use ferrokernel_protocol::{ExecuteRequest, ReplyStatus};
use std::time::{Duration, Instant};

pub(crate) fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Runs `code` (which must succeed); how long it took to its reply.
pub(crate) async fn run(kernel: &mut Kernel, code: &str) -> Duration {
    let started = Instant::now();
    let request = ExecuteRequest {
        code: code.into(),
        ..ExecuteRequest::default()
    };
    let (_, reply) = kernel.execute_with(request, FIRST_CELL).await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{code}");
    started.elapsed()
}

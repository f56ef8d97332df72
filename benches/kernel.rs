//! Kernel speed through the protocol, with evcxr's engine as is measured in the
//! same run for reference. Prints figures; asserts nothing.
//!
//! `cargo bench --bench kernel` (after `ferrokernel install`, so the prelude's
//! build is warm, as it is for a user).

#[path = "../tests/integration/support.rs"]
#[allow(dead_code, unreachable_pub)]
mod support;

use ferrokernel_protocol::{Content, ExecuteRequest, KernelInfoRequest};
use std::time::{Duration, Instant};
use support::{FIRST_CELL, Kernel};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn seconds(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// Launch -> kernel_info_reply, over the raw socket (no readiness dance).
async fn kernel_info_latency() -> Duration {
    let started = Instant::now();
    let mut kernel = Kernel::start(&[]).await;
    // `start` already waited for a kernel_info round trip; time a fresh one too.
    let request = kernel.send_shell(KernelInfoRequest {}).await;
    let reply = kernel.shell_reply().await;
    assert!(support::is_reply_to(&reply, &request));
    let _ = started;
    started.elapsed()
}

async fn first_prelude_cell() -> Duration {
    let started = Instant::now();
    let mut kernel = Kernel::start(&[]).await;
    let (_, reply) = kernel.execute("multiprocessing::cpu_count()").await;
    assert_eq!(reply.status, ferrokernel_protocol::ReplyStatus::Ok);
    started.elapsed()
}

/// Round trips of `i + 1` cells; `env` as for `Kernel::start`.
async fn trivial_cells(env: &[(&str, &str)], count: usize) -> Vec<Duration> {
    let mut kernel = Kernel::start(env).await;
    kernel.execute("1").await;
    let mut samples = Vec::new();
    for i in 0..count {
        let started = Instant::now();
        let (iopub, _) = kernel
            .execute_with(
                ExecuteRequest {
                    code: format!("{i} + 1"),
                    ..ExecuteRequest::default()
                },
                FIRST_CELL,
            )
            .await;
        samples.push(started.elapsed());
        assert!(
            iopub
                .iter()
                .any(|m| matches!(m.content, Content::ExecuteResult(_)))
        );
    }
    samples
}

/// What evcxr as is takes, for reference.
struct EvcxrReference {
    /// Context start.
    start: Duration,
    /// Median trivial cell, no dependencies.
    trivial: Duration,
    /// Context start, then `:dep` of the prelude (evcxr's default: no build
    /// cache) and a first cell.
    first_prelude_cell: Duration,
    /// Median trivial cell once the prelude is a dependency.
    trivial_with_prelude: Duration,
}

fn trivial_evcxr_cells(context: &mut evcxr::CommandContext, count: usize) -> Duration {
    let mut samples = Vec::new();
    context.execute("1").expect("runs");
    for i in 0..count {
        let started = Instant::now();
        context.execute(&format!("{i} + 1")).expect("runs");
        samples.push(started.elapsed());
    }
    median(samples)
}

/// A fresh evcxr context whose cell output is drained.
fn start_evcxr() -> evcxr::CommandContext {
    let (context, outputs) = evcxr::CommandContext::new().expect("evcxr starts");
    std::thread::spawn(move || for _ in outputs.stdout {});
    context
}

fn evcxr_reference(count: usize) -> EvcxrReference {
    let started = Instant::now();
    let mut context = start_evcxr();
    let start = started.elapsed();
    let trivial = trivial_evcxr_cells(&mut context, count);

    let prelude = concat!(env!("CARGO_MANIFEST_DIR"), "/kernel/prelude");
    let started = Instant::now();
    let mut context = start_evcxr();
    context
        .execute(&format!(
            ":dep ferrokernel-prelude = {{ path = \"{prelude}\" }}"
        ))
        .expect("the prelude loads");
    context
        .execute("ferrokernel_prelude::multiprocessing::cpu_count()")
        .expect("runs");
    let first_prelude_cell = started.elapsed();
    let trivial_with_prelude = trivial_evcxr_cells(&mut context, count);
    EvcxrReference {
        start,
        trivial,
        first_prelude_cell,
        trivial_with_prelude,
    }
}

fn main() {
    // The evcxr reference re-runs this binary as its runtime.
    evcxr::runtime_hook();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let info: Vec<Duration> = (0..5)
        .map(|_| runtime.block_on(kernel_info_latency()))
        .collect();
    let first: Vec<Duration> = (0..3)
        .map(|_| runtime.block_on(first_prelude_cell()))
        .collect();
    let trivial = runtime.block_on(trivial_cells(&[], 20));
    let trivial_bare = runtime.block_on(trivial_cells(&[("FERROKERNEL_PRELUDE", "0")], 20));
    let evcxr = evcxr_reference(20);

    println!();
    println!(
        "{:<44} {:>10} {:>10} {:>12}",
        "kernel (2 cores)", "ferrokernel", "goal", "evcxr as is"
    );
    println!(
        "{:<44} {:>10} {:>10} {:>12}",
        "launch -> kernel_info_reply (median of 5)",
        seconds(median(info)),
        "< 0.2 s",
        seconds(evcxr.start)
    );
    println!(
        "{:<44} {:>10} {:>10} {:>12}",
        "launch -> first prelude cell (median of 3)",
        seconds(median(first)),
        "< 1.5 s",
        seconds(evcxr.first_prelude_cell)
    );
    println!(
        "{:<44} {:>10} {:>10} {:>12}",
        "trivial cell round trip (median of 20)",
        seconds(median(trivial)),
        "< 0.15 s",
        seconds(evcxr.trivial_with_prelude)
    );
    println!(
        "{:<44} {:>10} {:>10} {:>12}",
        "trivial cell, no prelude (median of 20)",
        seconds(median(trivial_bare)),
        "",
        seconds(evcxr.trivial)
    );
    println!(
        "(evcxr as is: its context start stands in for a kernel_info reply, since evcxr_jupyter\n\
         answers only after it; its first prelude cell is `:dep` of the prelude without a build\n\
         cache, evcxr's default, then one cell; its trivial cell is measured with the prelude\n\
         as a dependency, and without any.)"
    );
}

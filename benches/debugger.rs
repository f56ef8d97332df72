//! What the debugger costs a cell: the same cells with the JupyterLab
//! debugger attached (cells compiled with debug info, no optimisation, and a
//! stop at each cell's entry) and without, alternating, in one kernel.
//! Prints medians and their ratio; asserts nothing.
//!
//! ```sh
//! cargo bench --bench debugger     # needs lldb-dap (install/setup.sh installs lldb-19)
//! ```

#[path = "../tests/integration/support.rs"]
#[allow(dead_code, unreachable_pub)]
mod support;

use ferrokernel_protocol::{Content, DebugRequest, ExecuteRequest, ReplyStatus};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::{FIRST_CELL, Kernel};

/// The cells timed, each a kind a notebook has.
const CELLS: [(&str, &str); 3] = [
    ("println! statement", "println!(\"hello\");"),
    ("let", "let v: Vec<u64> = (0..100).collect();"),
    ("expression", "v.iter().sum::<u64>()"),
];
const ROUNDS: usize = 5;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

async fn run(kernel: &mut Kernel, code: &str) -> Duration {
    let started = Instant::now();
    let request = ExecuteRequest {
        code: code.into(),
        ..ExecuteRequest::default()
    };
    let (_, reply) = kernel.execute_with(request, FIRST_CELL).await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{code}");
    started.elapsed()
}

async fn dap(kernel: &mut Kernel, seq: &mut i64, command: &str, arguments: Value) -> Value {
    *seq += 1;
    let request =
        json!({ "seq": *seq, "type": "request", "command": command, "arguments": arguments });
    match kernel.control_request(DebugRequest(request)).await.content {
        Content::DebugReply(reply) => {
            assert_eq!(reply.0["success"], true, "{command}: {}", reply.0);
            reply.0
        }
        other => panic!("{command}: {other:?}"),
    }
}

#[tokio::main]
async fn main() {
    println!("load average before: {}", load_average());
    let mut kernel = Kernel::start(&[]).await;
    for (_, code) in CELLS {
        run(&mut kernel, code).await;
    }
    let mut seq = 0;
    let mut plain: Vec<Vec<Duration>> = vec![Vec::new(); CELLS.len()];
    let mut debugged: Vec<Vec<Duration>> = vec![Vec::new(); CELLS.len()];
    let mut attach = Vec::new();
    for _ in 0..ROUNDS {
        for (i, (_, code)) in CELLS.iter().enumerate() {
            plain[i].push(run(&mut kernel, code).await);
        }
        let started = Instant::now();
        dap(
            &mut kernel,
            &mut seq,
            "initialize",
            json!({ "adapterID": "rust" }),
        )
        .await;
        dap(&mut kernel, &mut seq, "attach", json!({})).await;
        attach.push(started.elapsed());
        for (i, (_, code)) in CELLS.iter().enumerate() {
            debugged[i].push(run(&mut kernel, code).await);
        }
        dap(&mut kernel, &mut seq, "disconnect", json!({})).await;
    }
    println!(
        "\n{:<22} {:>12} {:>16} {:>7}",
        "cell", "no debugger", "debugger attached", "ratio"
    );
    for (i, (name, _)) in CELLS.iter().enumerate() {
        let (a, b) = (median(plain[i].clone()), median(debugged[i].clone()));
        println!(
            "{name:<22} {:>11.3}s {:>16.3}s {:>6.2}x",
            a.as_secs_f64(),
            b.as_secs_f64(),
            b.as_secs_f64() / a.as_secs_f64().max(1e-9)
        );
    }
    println!(
        "initialize + attach (lldb-dap reads the runtime's symbols): median {:.2} s",
        median(attach).as_secs_f64()
    );
    println!(
        "medians of {ROUNDS} alternating rounds; load average after: {}",
        load_average()
    );
}

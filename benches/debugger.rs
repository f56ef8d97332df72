//! What the debugger costs a cell: the same cells with the JupyterLab
//! debugger attached (cells compiled with debug info, no optimisation, and a
//! stop at each cell's entry) and without, alternating, in one kernel.
//! Prints medians and their ratio; asserts nothing.
//!
//! ```sh
//! cargo bench --bench debugger     # needs lldb-dap (install/setup.sh installs lldb-19)
//! ```

mod common;
#[path = "../tests/integration/support.rs"]
#[allow(dead_code, unreachable_pub)]
mod support;

use common::{load_average, median, run};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::Kernel;

/// The cells timed, each a kind a notebook has.
const CELLS: [(&str, &str); 3] = [
    ("println! statement", "println!(\"hello\");"),
    ("let", "let v: Vec<u64> = (0..100).collect();"),
    ("expression", "v.iter().sum::<u64>()"),
];
const ROUNDS: usize = 5;

async fn dap(kernel: &mut Kernel, seq: &mut i64, command: &str, arguments: Value) {
    *seq += 1;
    let response = kernel.debug_request(*seq, command, arguments).await;
    assert_eq!(response["success"], true, "{command}: {response}");
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

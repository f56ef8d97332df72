//! A notebook's pool on three hosts against mpi4py.futures' `MPIPoolExecutor`
//! on the same hosts and the same `mpirun`, alternating, in one run: the
//! start-up of a cluster (launcher to first result), `map` of 10 000 tiny
//! items and of 64 items of 50 ms each. Prints medians and ratios; asserts
//! nothing.
//!
//! ```sh
//! cargo bench --bench cluster   # as root: makes the test hosts (tests/cluster/hosts.sh);
//!                               # mpi4py from the project's .venv (install/setup.sh)
//! ```

mod common;
#[path = "../tests/integration/support.rs"]
#[allow(dead_code, unreachable_pub)]
mod support;
#[path = "../tests/integration/test_hosts.rs"]
mod test_hosts;

use common::{load_average, median, run};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{Kernel, result_text};

const ROUNDS: usize = 5;
const WORKERS: usize = 6;

/// One round of the Rust side, in the kernel: seconds per measurement.
async fn ferrokernel_round(kernel: &mut Kernel) -> [Duration; 3] {
    let start = run(
        kernel,
        &format!(
            "let cl = cluster::Cluster::mpirun({:?})?;\nlet pool = cl.pool()?;\npool.map(|n: u64| n * n, 0..{WORKERS}u64)?;",
            test_hosts::HOSTS
        ),
    )
    .await;
    let tiny = seconds(kernel, &timed("pool.map(|n: u64| n * n, 0..10_000u64)?")).await;
    let sleepy = seconds(
        kernel,
        &timed("pool.map(|n: u64| { std::thread::sleep(std::time::Duration::from_millis(50)); n }, 0..64u64)?"),
    )
    .await;
    run(kernel, "cl.shutdown()?;").await;
    [start, tiny, sleepy]
}

/// `code` in a cell that answers how long `code` itself took, in seconds.
fn timed(code: &str) -> String {
    format!("let started = std::time::Instant::now();\n{code};\nstarted.elapsed().as_secs_f64()")
}

/// A cell's own timing (it excludes compiling the cell).
async fn seconds(kernel: &mut Kernel, code: &str) -> Duration {
    let (iopub, _) = kernel.execute(code).await;
    let text = result_text(&iopub).unwrap_or_default();
    Duration::from_secs_f64(text.trim().parse().unwrap_or(f64::NAN))
}

/// One round of mpi4py.futures: `mpirun` with a master rank on this machine.
fn mpi4py_round(python: &Path, env: &[(&'static str, String)]) -> [Duration; 3] {
    let hosts = std::iter::once("localhost:1".to_owned())
        .chain(test_hosts::HOSTS.iter().map(|h| h.to_string()))
        .collect::<Vec<_>>()
        .join(",");
    let started = Instant::now();
    let output = Command::new("mpirun")
        .args(["--oversubscribe", "-H", &hosts, "-np"])
        .arg((WORKERS + 1).to_string())
        .arg(python)
        .args(["-m", "mpi4py.futures"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/cluster_mpi4py.py"))
        .arg(WORKERS.to_string())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("mpirun runs");
    let total = started.elapsed();
    let text = String::from_utf8_lossy(&output.stdout);
    let get = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
            .map(Duration::from_secs_f64)
            .unwrap_or_else(|| {
                panic!(
                    "no {name} in mpi4py's output: {text}{}",
                    String::from_utf8_lossy(&output.stderr)
                )
            })
    };
    let (tiny, sleepy) = (get("tiny "), get("sleepy "));
    // Start-up: everything but the two timed maps (and the executor's exit).
    [total.saturating_sub(tiny + sleepy), tiny, sleepy]
}

#[tokio::main]
async fn main() {
    let env = test_hosts::mpirun_env();
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        python.exists(),
        "no .venv: run install/setup.sh (it installs mpi4py)"
    );
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut kernel = Kernel::start(&pairs).await;
    run(&mut kernel, "1").await; // the prelude, compiled once
    println!("load average before: {}", load_average());
    let (mut ours, mut theirs) = (vec![Vec::new(); 3], vec![Vec::new(); 3]);
    for round in 0..ROUNDS {
        // Alternate which side goes first.
        let (a, b) = if round % 2 == 0 {
            let a = ferrokernel_round(&mut kernel).await;
            (a, mpi4py_round(&python, &env))
        } else {
            let b = mpi4py_round(&python, &env);
            (ferrokernel_round(&mut kernel).await, b)
        };
        for i in 0..3 {
            ours[i].push(a[i]);
            theirs[i].push(b[i]);
        }
    }
    println!("load average after:  {}", load_average());
    println!(
        "3 hosts x 2 workers (network namespaces on this machine), medians of {ROUNDS} alternating rounds"
    );
    println!(
        "{:<34} {:>14} {:>16} {:>8}",
        "", "ferrokernel", "mpi4py.futures", "ratio"
    );
    let start = (median(ours[0].clone()), median(theirs[0].clone()));
    println!(
        "{:<34} {:>12.3} s {:>14.3} s {:>7.2}x",
        "start-up (launcher to first result)",
        start.0.as_secs_f64(),
        start.1.as_secs_f64(),
        start.1.as_secs_f64() / start.0.as_secs_f64()
    );
    for (i, (name, items)) in [
        ("map 10 000 tiny items", 10_000.0),
        ("map 64 items of 50 ms", 64.0),
    ]
    .into_iter()
    .enumerate()
    {
        let rate = |d: Duration| items / d.as_secs_f64();
        let (a, b) = (
            rate(median(ours[i + 1].clone())),
            rate(median(theirs[i + 1].clone())),
        );
        println!(
            "{:<34} {:>10.0}/s {:>12.0}/s {:>7.2}x",
            format!("{name} (items/s)"),
            a,
            b,
            a / b
        );
    }
    println!(
        "(start-up on the Rust side includes compiling the cell, ~0.2-0.3 s; mpi4py's includes Python's start)"
    );
}

//! A notebook's pool on three hosts against mpi4py.futures' `MPIPoolExecutor`
//! on the same hosts and the same `mpirun`, alternating, in one run: the
//! start-up of a cluster (launcher to first result), `map` of 10 000 tiny
//! items (the first call from a new cell, which ships the cell's library,
//! and repeated calls) and of 64 items of 50 ms each. Prints medians and
//! ratios; asserts nothing.
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
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{Kernel, result_text};

const ROUNDS: usize = 5;
const WORKERS: usize = 6;
const TINY: f64 = 10_000.0;
const SLEEPY: f64 = 64.0;

/// One round's figures, either side.
#[derive(Default, Clone, Copy)]
struct Round {
    start: Duration,
    tiny_first: Duration,
    tiny_again: Duration,
    sleepy: Duration,
}

/// Which figure of a round.
type Field = fn(&Round) -> Duration;

/// A cell's own answer, in seconds (a tuple of them for several).
async fn seconds(kernel: &mut Kernel, code: &str) -> Vec<Duration> {
    let (iopub, _) = kernel.execute(code).await;
    let text = result_text(&iopub).unwrap_or_default();
    text.trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(|s| Duration::from_secs_f64(s.trim().parse().unwrap_or(f64::NAN)))
        .collect()
}

/// One round of the Rust side, in the kernel (timed inside the cells, so
/// compiling them is not counted).
async fn ferrokernel_round(kernel: &mut Kernel) -> Round {
    let start = seconds(
        kernel,
        &format!(
            "let started = std::time::Instant::now();\n\
             let cl = cluster::Cluster::mpirun({:?})?;\n\
             let pool = cl.pool()?;\n\
             pool.map(|n: u64| n * n, 0..{WORKERS}u64)?;\n\
             started.elapsed().as_secs_f64()",
            test_hosts::HOSTS
        ),
    )
    .await;
    let tiny = seconds(
        kernel,
        "let mut took = Vec::new();\n\
         for _ in 0..4 {\n    \
             let started = std::time::Instant::now();\n    \
             pool.map(|n: u64| n * n, 0..10_000u64)?;\n    \
             took.push(started.elapsed().as_secs_f64());\n\
         }\n\
         let mut again = took[1..].to_vec();\n\
         again.sort_by(f64::total_cmp);\n\
         (took[0], again[1])",
    )
    .await;
    let sleepy = seconds(
        kernel,
        "let started = std::time::Instant::now();\n\
         pool.map(|n: u64| { std::thread::sleep(std::time::Duration::from_millis(50)); n }, 0..64u64)?;\n\
         started.elapsed().as_secs_f64()",
    )
    .await;
    run(kernel, "cl.shutdown()?;").await;
    Round {
        start: start[0],
        tiny_first: tiny[0],
        tiny_again: tiny[1],
        sleepy: sleepy[0],
    }
}

/// One round of mpi4py.futures: `mpirun` with the master rank on this machine.
fn mpi4py_round(python: &Path, env: &[(&'static str, String)]) -> Round {
    let hosts = std::iter::once("localhost:1".to_owned())
        .chain(test_hosts::HOSTS.iter().map(|h| h.to_string()))
        .collect::<Vec<_>>()
        .join(",");
    let started = Instant::now();
    let mut child = Command::new("mpirun")
        .args(["--oversubscribe", "-H", &hosts, "-np"])
        .arg((WORKERS + 1).to_string())
        .arg(python)
        .args(["-m", "mpi4py.futures"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/cluster_mpi4py.py"))
        .arg(WORKERS.to_string())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .spawn()
        .expect("mpirun runs");
    let mut round = Round::default();
    let mut tiny = Vec::new();
    let stdout = child.stdout.take().expect("piped");
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let Some((name, value)) = line.split_once(' ') else {
            continue;
        };
        let value = Duration::from_secs_f64(value.trim().parse().unwrap_or(f64::NAN));
        match name {
            "first_map" => round.start = started.elapsed(),
            "tiny" => tiny.push(value),
            "sleepy" => round.sleepy = value,
            _ => {}
        }
    }
    let _ = child.wait();
    assert_eq!(tiny.len(), 4, "mpi4py's run did not finish");
    round.tiny_first = tiny[0];
    round.tiny_again = median(tiny[1..].to_vec());
    round
}

fn row(name: &str, ours: String, theirs: String, ratio: f64) {
    println!("{name:<44} {ours:>13} {theirs:>15} {ratio:>7.2}x");
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
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Alternate which side goes first.
        if round % 2 == 0 {
            ours.push(ferrokernel_round(&mut kernel).await);
            theirs.push(mpi4py_round(&python, &env));
        } else {
            theirs.push(mpi4py_round(&python, &env));
            ours.push(ferrokernel_round(&mut kernel).await);
        }
    }
    println!("load average after:  {}", load_average());
    println!(
        "3 hosts x 2 workers (network namespaces on this machine), medians of {ROUNDS} alternating rounds"
    );
    println!(
        "{:<44} {:>13} {:>15} {:>8}",
        "", "ferrokernel", "mpi4py.futures", "ratio"
    );
    let pick = |rounds: &[Round], f: Field| median(rounds.iter().map(f).collect());
    let (a, b) = (pick(&ours, |r| r.start), pick(&theirs, |r| r.start));
    row(
        "start-up: launcher to first result",
        format!("{:.3} s", a.as_secs_f64()),
        format!("{:.3} s", b.as_secs_f64()),
        b.as_secs_f64() / a.as_secs_f64(),
    );
    let rates: [(&str, f64, Field); 3] = [
        ("map 10 000 tiny items, first call (items/s)", TINY, |r| {
            r.tiny_first
        }),
        ("map 10 000 tiny items, again (items/s)", TINY, |r| {
            r.tiny_again
        }),
        ("map 64 items of 50 ms (items/s)", SLEEPY, |r| r.sleepy),
    ];
    for (name, items, field) in rates {
        let (a, b) = (
            items / pick(&ours, field).as_secs_f64(),
            items / pick(&theirs, field).as_secs_f64(),
        );
        row(name, format!("{a:.0}/s"), format!("{b:.0}/s"), a / b);
    }
    println!(
        "(first call: a new cell's library goes to every worker; mpi4py's start-up includes Python's)"
    );
}

//! The prelude's workloads, against the prelude and — in the same run —
//! against Python's `multiprocessing` and `concurrent.futures` (fork start
//! method, `benches/reference.py`).
//!
//! `cargo bench -p ferrokernel-prelude` prints one table: workload, prelude
//! figure, Python figure, ratio and goal. Each figure is the median of `RUNS`
//! runs, in operations per second. Without `python3` the Python column says so.
//! Figures only: nothing here asserts a speed.

use ferrokernel_prelude::concurrent::futures::ProcessPoolExecutor;
use ferrokernel_prelude::multiprocessing::{Manager, Pipe, Pool, Process, Queue, Value};
use std::process::Command;
use std::time::Instant;

const RUNS: usize = 5;
const QUEUE_ITEMS: u64 = 100_000;
const PIPE_ROUND_TRIPS: u64 = 20_000;
const VALUE_INCREMENTS: u64 = 100_000;
const POOL_ITEMS: u64 = 100_000;
const PROCESS_STARTS: u64 = 200;
const MANAGER_APPENDS: u64 = 5_000;
const EXECUTOR_ROUND_TRIPS: u64 = 2_000;
const IMAP_ITEMS: u64 = 100_000;

type Workload = fn() -> (u64, f64);

fn median_rate(work: Workload) -> f64 {
    let mut rates: Vec<f64> = (0..RUNS)
        .map(|_| {
            let (ops, seconds) = work();
            ops as f64 / seconds
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn queue() -> (u64, f64) {
    let q = Queue::<u64>::new().expect("queue");
    let start = Instant::now();
    let producer_queue = q.clone();
    let mut p = Process::new(move || {
        for i in 0..QUEUE_ITEMS {
            producer_queue.put(i).expect("put");
        }
    });
    p.start().expect("start");
    let mut total = 0;
    for _ in 0..QUEUE_ITEMS {
        total += q.get().expect("get");
    }
    p.join().expect("join");
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(total, QUEUE_ITEMS * (QUEUE_ITEMS - 1) / 2);
    (QUEUE_ITEMS, elapsed)
}

fn pipe() -> (u64, f64) {
    let (a, b) = Pipe::<u64>::new().expect("pipe");
    let mut p = Process::new(move || {
        for _ in 0..PIPE_ROUND_TRIPS {
            let n = b.recv().expect("recv");
            b.send(n).expect("send");
        }
    });
    p.start().expect("start");
    let start = Instant::now();
    for i in 0..PIPE_ROUND_TRIPS {
        a.send(i).expect("send");
        assert_eq!(a.recv().expect("recv"), i);
    }
    let elapsed = start.elapsed().as_secs_f64();
    p.join().expect("join");
    (PIPE_ROUND_TRIPS, elapsed)
}

fn value() -> (u64, f64) {
    let v = Value::<i64>::new(0).expect("value");
    let start = Instant::now();
    let mut ps: Vec<Process> = (0..2)
        .map(|_| {
            let v = v.clone();
            Process::new(move || {
                for _ in 0..VALUE_INCREMENTS {
                    *v.get_lock().expect("lock") += 1;
                }
            })
        })
        .collect();
    for p in &mut ps {
        p.start().expect("start");
    }
    for p in &mut ps {
        p.join().expect("join");
    }
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(v.get().expect("get"), 2 * VALUE_INCREMENTS as i64);
    (2 * VALUE_INCREMENTS, elapsed)
}

fn square(x: u64) -> u64 {
    x * x
}

fn pool() -> (u64, f64) {
    let pool = Pool::with_processes(2).expect("pool");
    let start = Instant::now();
    let out = pool.map(square, 0..POOL_ITEMS).expect("map");
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(out[out.len() - 1], (POOL_ITEMS - 1) * (POOL_ITEMS - 1));
    (POOL_ITEMS, elapsed)
}

fn process() -> (u64, f64) {
    let start = Instant::now();
    for _ in 0..PROCESS_STARTS {
        let mut p = Process::new(|| {});
        p.start().expect("start");
        p.join().expect("join");
    }
    (PROCESS_STARTS, start.elapsed().as_secs_f64())
}

fn manager() -> (u64, f64) {
    let manager = Manager::new().expect("manager");
    let records = manager.list(Vec::<u64>::new()).expect("list");
    let start = Instant::now();
    let child_records = records.clone();
    let mut p = Process::new(move || {
        for i in 0..MANAGER_APPENDS {
            child_records.append(i).expect("append");
        }
    });
    p.start().expect("start");
    p.join().expect("join");
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(records.len().expect("len"), MANAGER_APPENDS as usize);
    (MANAGER_APPENDS, elapsed)
}

fn executor() -> (u64, f64) {
    let executor = ProcessPoolExecutor::with_max_workers(2).expect("executor");
    executor
        .submit(|| 0u64)
        .expect("submit")
        .result()
        .expect("warm");
    let start = Instant::now();
    for i in 0..EXECUTOR_ROUND_TRIPS {
        let future = executor.submit(move || square(i)).expect("submit");
        assert_eq!(future.result().expect("result"), i * i);
    }
    (EXECUTOR_ROUND_TRIPS, start.elapsed().as_secs_f64())
}

fn imap() -> (u64, f64) {
    let pool = Pool::with_processes(2).expect("pool");
    let start = Instant::now();
    let mut total = 0u64;
    for result in pool.imap(square, 0..IMAP_ITEMS).expect("imap") {
        total = total.wrapping_add(result.expect("item"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let expected = (0..IMAP_ITEMS).fold(0u64, |sum, n| sum.wrapping_add(n * n));
    assert_eq!(total, expected);
    (IMAP_ITEMS, elapsed)
}

struct Row {
    key: &'static str,
    name: &'static str,
    unit: &'static str,
    work: Workload,
    goal: f64,
}

/// `FERROKERNEL_BENCH_ONLY=executor,imap` runs only those workloads (both sides).
fn only() -> Option<Vec<String>> {
    std::env::var("FERROKERNEL_BENCH_ONLY")
        .ok()
        .map(|list| list.split(',').map(|key| key.trim().to_owned()).collect())
}

fn python_figures(keys: &[&str]) -> Result<serde_json::Value, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/reference.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(RUNS.to_string())
        .args(keys)
        .output()
        .map_err(|e| format!("python3 not available ({e}); Python column skipped"))?;
    if !output.status.success() {
        return Err(format!(
            "reference.py failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("reference.py printed no JSON: {e}"))
}

fn human(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2} M", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.1} k", rate / 1e3)
    } else {
        format!("{rate:.0}")
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing.
    // Either way the table is the point, but under `cargo test` keep it quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("multiprocessing bench: run with `cargo bench -p ferrokernel-prelude`");
        return;
    }
    let rows = [
        Row {
            key: "queue",
            name: "Queue: 100k ints, child -> parent",
            unit: "items/s",
            work: queue,
            goal: 10.0,
        },
        Row {
            key: "pipe",
            name: "Pipe: 20k round trips",
            unit: "trips/s",
            work: pipe,
            goal: 3.0,
        },
        Row {
            key: "value",
            name: "Value: 2 x 100k locked increments",
            unit: "incr/s",
            work: value,
            goal: 10.0,
        },
        Row {
            key: "pool",
            name: "Pool(2).map x*x, 100k ints",
            unit: "items/s",
            work: pool,
            goal: 10.0,
        },
        Row {
            key: "process",
            name: "Process: 200 start+join",
            unit: "procs/s",
            work: process,
            goal: 2.0,
        },
        Row {
            key: "manager",
            name: "Manager list: 5k appends from child",
            unit: "appends/s",
            work: manager,
            goal: 5.0,
        },
        Row {
            key: "executor",
            name: "ProcessPoolExecutor(2): 2k submit+result",
            unit: "trips/s",
            work: executor,
            goal: 1.0,
        },
        Row {
            key: "imap",
            name: "Pool(2).imap x*x, 100k ints",
            unit: "items/s",
            work: imap,
            goal: 10.0,
        },
    ];
    let only = only();
    let rows: Vec<Row> = rows
        .into_iter()
        .filter(|row| {
            only.as_ref()
                .is_none_or(|keys| keys.iter().any(|k| k == row.key))
        })
        .collect();
    let prelude: Vec<f64> = rows.iter().map(|row| median_rate(row.work)).collect();
    let keys: Vec<&str> = rows.iter().map(|row| row.key).collect();
    let python = python_figures(&keys);
    if let Err(why) = &python {
        println!("{why}");
    }
    println!(
        "\n{:<40} {:>14} {:>14} {:>8} {:>6}",
        "workload (median of 5, ops/s)", "prelude", "python", "ratio", "goal"
    );
    for (row, ours) in rows.iter().zip(&prelude) {
        let theirs = python.as_ref().ok().and_then(|p| p[row.key].as_f64());
        let (theirs_text, ratio_text) = match theirs {
            Some(theirs) => (human(theirs), format!("{:.1}x", ours / theirs)),
            None => ("-".to_owned(), "-".to_owned()),
        };
        println!(
            "{:<40} {:>14} {:>14} {:>8} {:>5}x   ({})",
            row.name,
            human(*ours),
            theirs_text,
            ratio_text,
            row.goal,
            row.unit
        );
    }
}

//! The prelude's workloads, against the prelude and — in the same run —
//! against Python's `multiprocessing` and `concurrent.futures` (fork start
//! method, `benches/reference.py`).
//!
//! `cargo bench -p ferrokernel-prelude` prints one table: workload, prelude
//! figure, Python figure, ratio and goal. Each figure is the median of `RUNS`
//! runs, in operations per second. The two loopback workloads (connection
//! round trips, networked manager appends) swing most with the machine's
//! load, so they alternate sides for `ROUNDS` rounds and the median is taken
//! over every run. The timeline's recording cost is measured on `Process`
//! start+join by this program run again as children with recording on and
//! off (`FERROKERNEL_TIMELINE=0`, read once per process), in pairs run
//! back to back (which goes first alternates); each side's median and the
//! median of the pairs' ratios are printed — the pairs keep a loaded
//! machine's drift out of the ratio (`-- timeline` runs it alone).
//! An idle manager's server is watched for 10 s after a burst of calls: the
//! CPU seconds it used are printed (it should use none).
//! The load average is printed before and after. Without
//! `python3` the Python column says so. Figures only: nothing here asserts a
//! speed.

use ferrokernel_prelude::concurrent::futures::ProcessPoolExecutor;
use ferrokernel_prelude::multiprocessing::connection::{Client, Listener};
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
const CONNECTION_ROUND_TRIPS: u64 = 20_000;
const NETMANAGER_APPENDS: u64 = 5_000;
/// Alternations of the two loopback workloads between the two sides.
const ROUNDS: usize = 3;
const EXECUTOR_ROUND_TRIPS: u64 = 2_000;
const IMAP_ITEMS: u64 = 100_000;
/// How long the idle manager's CPU time is watched.
const IDLE_WATCH: std::time::Duration = std::time::Duration::from_secs(10);
/// Pairs of children (recording on, off) measuring the recording's cost.
const TIMELINE_ROUNDS: usize = 25;
/// The argument that makes this program such a child.
const TIMELINE_CHILD: &str = "--timeline-child";

type Workload = fn() -> (u64, f64);

fn rates(work: Workload) -> Vec<f64> {
    (0..RUNS)
        .map(|_| {
            let (ops, seconds) = work();
            ops as f64 / seconds
        })
        .collect()
}

fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn median_rate(work: Workload) -> f64 {
    median(rates(work))
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

/// CPU seconds (user + system, every thread) that process `pid` has used.
fn cpu_seconds(pid: i32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name (in parentheses), utime and stime are fields 12 and 13.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf takes a constant and reads no memory of ours.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / per_second)
}

/// CPU seconds a manager's server uses over `IDLE_WATCH` with nobody
/// calling, after a burst of calls (so it has been busy, then left alone).
fn idle_manager_cpu() -> Option<f64> {
    let manager = Manager::new().ok()?;
    let records = manager.list(Vec::<u64>::new()).ok()?;
    for i in 0..1000 {
        records.append(i).ok()?;
    }
    let pid = manager.pid()?;
    let before = cpu_seconds(pid)?;
    std::thread::sleep(IDLE_WATCH);
    Some(cpu_seconds(pid)? - before)
}

fn connection() -> (u64, f64) {
    let listener = Listener::bind(0u16, "bench").expect("bind");
    let address = listener.address().clone();
    let mut echo = Process::new(move || {
        let conn = Client::connect(&address, "bench").expect("connect");
        for _ in 0..CONNECTION_ROUND_TRIPS {
            let message = conn.recv_bytes().expect("recv");
            conn.send_bytes(&message).expect("send");
        }
    });
    echo.start().expect("start");
    let conn = listener.accept().expect("accept");
    let payload = [b'x'; 16];
    let start = Instant::now();
    for _ in 0..CONNECTION_ROUND_TRIPS {
        conn.send_bytes(&payload).expect("send");
        assert_eq!(conn.recv_bytes().expect("recv").len(), payload.len());
    }
    let elapsed = start.elapsed().as_secs_f64();
    echo.join().expect("join");
    (CONNECTION_ROUND_TRIPS, elapsed)
}

fn netmanager() -> (u64, f64) {
    let manager = Manager::serve(0u16, "bench").expect("serve");
    let address = manager.address().expect("address").clone();
    let remote = Manager::connect(&address, "bench").expect("connect");
    let records = remote.list(Vec::<u64>::new()).expect("list");
    let start = Instant::now();
    for i in 0..NETMANAGER_APPENDS {
        records.append(i).expect("append");
    }
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(records.len().expect("len"), NETMANAGER_APPENDS as usize);
    (NETMANAGER_APPENDS, elapsed)
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

/// 2000 submits, then every result: queued calls share their workers' forks.
fn executor_burst() -> (u64, f64) {
    let executor = ProcessPoolExecutor::with_max_workers(2).expect("executor");
    executor
        .submit(|| 0u64)
        .expect("submit")
        .result()
        .expect("warm");
    let start = Instant::now();
    let futures: Vec<_> = (0..EXECUTOR_ROUND_TRIPS)
        .map(|i| executor.submit(move || square(i)).expect("submit"))
        .collect();
    for (i, future) in (0..EXECUTOR_ROUND_TRIPS).zip(&futures) {
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

fn python_figures(only: Option<&str>) -> Result<serde_json::Value, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/reference.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(RUNS.to_string())
        .args(only)
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
    if std::env::args().any(|a| a == TIMELINE_CHILD) {
        println!("{}", median_rate(process));
        return;
    }
    // `cargo bench -p ferrokernel-prelude -- KEY` runs the workloads whose key holds KEY.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let keep = |row: &Row| filter.as_ref().is_none_or(|f| row.key.contains(f.as_str()));
    let network_rows = [
        Row {
            key: "connection",
            name: "Connection: 20k loopback round trips",
            unit: "trips/s",
            work: connection,
            goal: 3.0,
        },
        Row {
            key: "netmanager",
            name: "Networked manager: 5k appends (TCP)",
            unit: "appends/s",
            work: netmanager,
            goal: 5.0,
        },
    ];
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
            key: "executor_burst",
            name: "ProcessPoolExecutor(2): 2k submits, results",
            unit: "calls/s",
            work: executor_burst,
            goal: 5.0,
        },
        Row {
            key: "imap",
            name: "Pool(2).imap x*x, 100k ints",
            unit: "items/s",
            work: imap,
            goal: 10.0,
        },
    ];
    let rows: Vec<Row> = rows.into_iter().filter(|row| keep(row)).collect();
    let network_rows: Vec<Row> = network_rows.into_iter().filter(|row| keep(row)).collect();
    println!("load average before: {}", load_average());
    let prelude: Vec<f64> = rows.iter().map(|row| median_rate(row.work)).collect();
    let only: Vec<&str> = rows.iter().map(|row| row.key).collect();
    let python = if only.is_empty() {
        Ok(serde_json::Value::Null)
    } else {
        python_figures(filter.as_ref().map(|_| only.join(",")).as_deref())
    };
    if let Err(why) = &python {
        println!("{why}");
    }
    let (network, network_python) = if network_rows.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        alternate(&network_rows)
    };
    let recording = filter
        .as_ref()
        .is_none_or(|f| "timeline".contains(f.as_str()))
        .then(recording_cost);
    let idle = filter
        .as_ref()
        .is_none_or(|f| "manager".contains(f.as_str()))
        .then(idle_manager_cpu);
    let after = load_average();
    println!("load average after: {after}");
    if after
        .split_whitespace()
        .next()
        .and_then(|one| one.parse::<f64>().ok())
        .is_some_and(|one| one > 2.0)
    {
        println!("(the machine was under load: more runnable tasks than cores)");
    }
    println!(
        "\n{:<40} {:>14} {:>14} {:>8} {:>6}",
        "workload (median, ops/s)", "prelude", "python", "ratio", "goal"
    );
    let all = rows.iter().zip(&prelude).map(|(row, ours)| {
        let theirs = python.as_ref().ok().and_then(|p| p[row.key].as_f64());
        (row, *ours, theirs)
    });
    let alternated = network_rows
        .iter()
        .zip(network.iter().zip(&network_python))
        .map(|(row, (ours, theirs))| (row, *ours, *theirs));
    for (row, ours, theirs) in all.chain(alternated) {
        let (theirs_text, ratio_text) = match theirs {
            Some(theirs) => (human(theirs), format!("{:.1}x", ours / theirs)),
            None => ("-".to_owned(), "-".to_owned()),
        };
        println!(
            "{:<40} {:>14} {:>14} {:>8} {:>5}x   ({})",
            row.name,
            human(ours),
            theirs_text,
            ratio_text,
            row.goal,
            row.unit
        );
    }
    if let Some(idle) = idle {
        match idle {
            Some(seconds) => println!(
                "\nIdle manager server: {seconds:.3} CPU seconds over {} s with no calls \
                 (goal ~0; /proc/<pid>/stat utime+stime, 10 ms ticks)",
                IDLE_WATCH.as_secs()
            ),
            None => println!("\nIdle manager server: could not be measured"),
        }
    }
    if let Some((on, off, ratio)) = recording {
        println!(
            "\nTimeline recording on Process start+join ({TIMELINE_ROUNDS} pairs of children, \
             each the median of {RUNS} x {PROCESS_STARTS}):\n  \
             medians: recording on {} procs/s, off {} procs/s; median of the pairs' \
             on/off time {ratio:.3} ({:+.1} %, goal <= +5 %)",
            human(on),
            human(off),
            (ratio - 1.0) * 100.0
        );
    }
}

/// The `process` workload's median rate in children of this program with the
/// timeline's recording on and off, and the median of the pairs' time ratio.
fn recording_cost() -> (f64, f64, f64) {
    let child = |recording: bool| -> Option<f64> {
        let output = Command::new(std::env::current_exe().ok()?)
            .args(["--bench", TIMELINE_CHILD])
            .env("FERROKERNEL_TIMELINE", if recording { "1" } else { "0" })
            .output()
            .ok()?;
        String::from_utf8_lossy(&output.stdout).trim().parse().ok()
    };
    let (mut on, mut off, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..TIMELINE_ROUNDS {
        let pair = if round % 2 == 0 {
            let first = child(true);
            (first, child(false))
        } else {
            let first = child(false);
            (child(true), first)
        };
        if let (Some(with), Some(without)) = pair {
            on.push(with);
            off.push(without);
            ratios.push(without / with);
        }
    }
    assert!(!ratios.is_empty(), "the children printed no figures");
    (median(on), median(off), median(ratios))
}

/// Runs `rows` on both sides in turn, `ROUNDS` times; the median of every
/// run of each side, per row (`None` on the Python side without python3).
fn alternate(rows: &[Row]) -> (Vec<f64>, Vec<Option<f64>>) {
    let keys: Vec<&str> = rows.iter().map(|row| row.key).collect();
    let only = keys.join(",");
    let mut ours: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
    let mut theirs: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
    for _ in 0..ROUNDS {
        for (row, samples) in rows.iter().zip(&mut ours) {
            samples.extend(rates(row.work));
        }
        if let Ok(python) = python_figures(Some(&only)) {
            for (key, samples) in keys.iter().zip(&mut theirs) {
                samples.extend(python[*key].as_f64());
            }
        }
    }
    let theirs = theirs
        .into_iter()
        .map(|samples| (!samples.is_empty()).then(|| median(samples)))
        .collect();
    (ours.into_iter().map(median).collect(), theirs)
}

/// The 1-, 5- and 15-minute load averages (2 cores: above 2 means waiting).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

//! `multiprocessing::timeline()` over processes, pools, an executor and a
//! manager this test really starts: one row per process, with its pid and
//! how it ended, and pool workers under their call.

use crate::common::serial;
use ferrokernel_prelude::concurrent::futures::ProcessPoolExecutor;
use ferrokernel_prelude::multiprocessing::{Manager, Pool, Process, timeline};

/// The text lines of the timeline's rows naming `pid`.
fn rows_of(text: &str, pid: i32) -> Vec<String> {
    let marker = format!("(pid {pid}, parent {})", std::process::id());
    text.lines()
        .filter(|line| line.contains(&marker))
        .map(str::to_owned)
        .collect()
}

#[test]
fn processes_and_pool_workers_get_a_row_each_with_their_pid_and_ending() {
    let _serial = serial();
    let _ = timeline(); // What earlier tests started is not this test's.
    let mut ok = Process::new(|| {}).name("fine");
    let mut three = Process::new(|| std::process::exit(3)).name("three");
    let mut killed =
        Process::new(|| std::thread::sleep(std::time::Duration::from_secs(30))).name("victim");
    for p in [&mut ok, &mut three, &mut killed] {
        p.start().expect("start");
    }
    killed.kill();
    for p in [&mut ok, &mut three, &mut killed] {
        p.join().expect("join");
    }
    let pool = Pool::with_processes(2).expect("pool");
    let workers: Vec<i32> = pool
        .map(|_: u32| ferrokernel_prelude::os::getpid(), 0..8)
        .expect("map");
    let chart = timeline();
    let text = chart.text();
    let pid = |p: &Process| p.pid().expect("started");
    for (p, ending) in [
        (&ok, "exit 0"),
        (&three, "exit 3"),
        (&killed, "killed by SIGKILL"),
    ] {
        let rows = rows_of(&text, pid(p));
        assert_eq!(rows.len(), 1, "one row for {}:\n{text}", p.name);
        assert!(rows[0].starts_with(&p.name), "{}", rows[0]);
        assert!(rows[0].ends_with(ending), "{}", rows[0]);
    }
    // The workers: two rows, indented under the call's heading, exit 0.
    let mut worker_pids = workers.clone();
    worker_pids.sort_unstable();
    worker_pids.dedup();
    assert!(
        !worker_pids.is_empty() && worker_pids.len() <= 2,
        "{workers:?}"
    );
    let lines: Vec<&str> = text.lines().collect();
    let heading = lines
        .iter()
        .position(|line| line.starts_with("Pool(2).map, 8 items "))
        .unwrap_or_else(|| panic!("a heading for the map:\n{text}"));
    assert!(
        lines[heading].ends_with("2 processes"),
        "{}",
        lines[heading]
    );
    for worker in &worker_pids {
        let rows = rows_of(&text, *worker);
        assert_eq!(rows.len(), 1, "one row for worker {worker}:\n{text}");
        assert!(rows[0].starts_with("  ForkPoolWorker-"), "{}", rows[0]);
        assert!(rows[0].ends_with("exit 0"), "{}", rows[0]);
    }
    assert!(
        lines[heading + 1].starts_with("  ForkPoolWorker-"),
        "{text}"
    );
    assert!(
        lines[heading + 2].starts_with("  ForkPoolWorker-"),
        "{text}"
    );
    assert_eq!(chart.len(), 5, "{text}");
    // The SVG marks the same rows.
    let svg = chart.svg();
    assert_eq!(svg.matches("<g class=\"process\">").count(), 5);
    assert_eq!(svg.matches("<g class=\"group\">").count(), 1);
    for p in [&ok, &three, &killed] {
        assert_eq!(svg.matches(&format!("(pid {}, ", pid(p))).count(), 1);
    }
    // Shown once: the next timeline starts afresh.
    assert!(timeline().is_empty());
}

#[test]
fn an_imap_s_waves_share_one_group_and_an_executor_and_a_manager_are_named() {
    let _serial = serial();
    let _ = timeline();
    let pool = Pool::with_processes(2).expect("pool");
    // Enough items for several waves (each wave forks its own workers).
    let sum: u64 = pool
        .imap(|n: u64| n, 0..20_000)
        .expect("imap")
        .map(|r| r.expect("item"))
        .sum();
    assert_eq!(sum, 20_000 * 19_999 / 2);
    let executor = ProcessPoolExecutor::with_max_workers(2).expect("executor");
    let futures: Vec<_> = (0..3)
        .map(|n| executor.submit(move || n * 2).expect("submit"))
        .collect();
    for future in &futures {
        future.result().expect("result");
    }
    executor.shutdown(true).expect("shutdown");
    let mut manager = Manager::new().expect("manager");
    let server = manager.pid().expect("server pid");
    manager.shutdown().expect("shutdown");
    let text = timeline().text();
    let headings: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("Pool(") || line.starts_with("ProcessPoolExecutor("))
        .collect();
    assert_eq!(headings.len(), 2, "{text}");
    assert!(
        headings[0].starts_with("Pool(2).imap, 20000 items "),
        "{text}"
    );
    let imap_workers: usize = headings[0]
        .rsplit(", ")
        .next()
        .and_then(|s| s.strip_suffix(" processes"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count of processes: {}", headings[0]));
    assert!(imap_workers > 2, "several waves of workers: {text}");
    assert!(headings[1].starts_with("ProcessPoolExecutor(2) "), "{text}");
    // The first call gets a worker at once; the two behind it queue, and
    // share one worker if both are queued when the dispatcher forks.
    assert!(
        headings[1].ends_with("3 processes") || headings[1].ends_with("2 processes"),
        "{text}"
    );
    let manager_rows = rows_of(&text, server);
    assert_eq!(manager_rows.len(), 1, "{text}");
    assert!(manager_rows[0].starts_with("Manager (pid "), "{text}");
    assert!(manager_rows[0].ends_with("exit 0"), "{text}");
}

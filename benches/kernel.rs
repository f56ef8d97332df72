//! Kernel speed through the Jupyter protocol, ferrokernel next to evcxr_jupyter
//! 0.22 as is, measured in the same run with the two sides alternating.
//! Prints figures and the goals of issue 10; asserts nothing.
//!
//! ```sh
//! cargo install evcxr_jupyter --version =0.22.0 --locked --root target/evcxr-jupyter
//! cargo bench --bench kernel            # after `ferrokernel install` (warm build cache)
//! ```
//!
//! `FERROKERNEL_BENCH_EVCXR_JUPYTER` names another evcxr_jupyter binary; without
//! one, only ferrokernel is measured. The machine is noisy: the figures are
//! medians, and the load average is printed before and after.

mod common;
#[path = "../tests/integration/support.rs"]
#[allow(dead_code, unreachable_pub)]
mod support;

use common::{load_average, median, run};
use ferrokernel_protocol::{CompleteRequest, Content, ShutdownRequest};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::{FIRST_CELL, Kernel, Launch};

/// The cell every "first prelude cell" runs.
const PRELUDE_CELL: &str = "multiprocessing::cpu_count()";
/// What the first completion completes (std, so that evcxr can answer too).
const COMPLETION: &str = "std::collections::HashM";

fn mean(samples: &[Duration]) -> Duration {
    samples.iter().sum::<Duration>() / samples.len().max(1) as u32
}

/// The side being measured.
struct Side {
    launch: Launch,
    env: Vec<(String, String)>,
}

impl Side {
    fn env(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    async fn start(&self) -> Kernel {
        Kernel::launch(&self.launch, "bench-key", &self.env()).await
    }
}

/// ferrokernel with an engine pool of its own; `pool: false` starts every engine cold.
fn ferrokernel(pool_dir: &Path, pool: bool) -> Side {
    Side {
        launch: Launch::ferrokernel(),
        env: vec![
            (
                "FERROKERNEL_POOL".into(),
                if pool { "1" } else { "0" }.into(),
            ),
            (
                "FERROKERNEL_POOL_DIR".into(),
                pool_dir.display().to_string(),
            ),
        ],
    }
}

fn evcxr_jupyter() -> Option<Side> {
    let program = std::env::var_os("FERROKERNEL_BENCH_EVCXR_JUPYTER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/evcxr-jupyter/bin/evcxr_jupyter")
        });
    program.exists().then(|| Side {
        launch: Launch {
            program,
            args: vec!["--control_file".into(), "{connection_file}".into()],
            tcp: true,
        },
        env: Vec::new(),
    })
}

/// Whether the pool has a ready spare.
fn ready_spare(pool: &Side) -> bool {
    pool_status(pool).is_some_and(|s| s["spare"]["ready"] == true)
}

/// `ferrokernel pool status --json`, if a pool runs.
fn pool_status(pool: &Side) -> Option<serde_json::Value> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ferrokernel"))
        .args(["pool", "status", "--json"])
        .envs(pool.env())
        .output()
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&output.stdout)
        .ok()
        .filter(|s| !s.is_null())
}

/// Resident memory of the pool and its spares, in MiB, and how many spares.
fn pool_resident_mib(pool: &Side) -> Option<(f64, u64)> {
    let status = pool_status(pool)?;
    let pid = i32::try_from(status["pid"].as_i64()?).ok()?;
    let spares = status["spares"].as_u64().unwrap_or(0);
    let mut pids = vec![pid];
    pids.extend(
        ferrokernel_engine::procs::descendants(pid)
            .iter()
            .map(|p| p.pid),
    );
    Some((resident_kib(&pids) as f64 / 1024.0, spares))
}

/// Waits until the pool is at rest: every spare it keeps made and ready, as
/// on a machine left alone for a while.
fn wait_for_pool_at_rest(pool: &Side) {
    let at_rest = |status: serde_json::Value| {
        let wanted = status["spares_wanted"].as_u64().unwrap_or(1);
        status["ready_spares"].as_u64().unwrap_or(0) >= wanted
    };
    let deadline = Instant::now() + FIRST_CELL * 2;
    while !pool_status(pool).is_some_and(at_rest) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wait_for_ready_spare(pool: &Side) {
    let deadline = Instant::now() + FIRST_CELL;
    while !ready_spare(pool) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Launch -> the first kernel_info reply (the support's readiness handshake).
async fn kernel_info(side: &Side) -> Duration {
    let started = Instant::now();
    let kernel = side.start().await;
    let took = started.elapsed();
    drop(kernel);
    took
}

/// Launch -> reply of a first cell.
async fn first_cell(side: &Side, code: &str) -> Duration {
    let started = Instant::now();
    let mut kernel = side.start().await;
    run(&mut kernel, code).await;
    started.elapsed()
}

/// A running kernel's shutdown(restart) -> reply of the new kernel's first cell.
async fn restart(side: &Side, code: &str, before: impl Fn()) -> Duration {
    let mut kernel = side.start().await;
    run(&mut kernel, "1").await;
    before();
    let started = Instant::now();
    kernel
        .control_request(ShutdownRequest { restart: true })
        .await;
    kernel.wait_exit(Duration::from_secs(10));
    drop(kernel);
    let mut restarted = side.start().await;
    run(&mut restarted, code).await;
    started.elapsed()
}

/// A fresh kernel, a second for the user to press Tab, then the completion's
/// round trip and how many matches it had.
async fn first_completion(side: &Side) -> (Duration, usize) {
    let mut kernel = side.start().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let request = kernel
        .send_shell(CompleteRequest {
            code: COMPLETION.into(),
            cursor_pos: COMPLETION.len(),
        })
        .await;
    let started = Instant::now();
    let reply = kernel.shell_reply_within(FIRST_CELL).await;
    let took = started.elapsed();
    assert!(support::is_reply_to(&reply, &request));
    let matches = match reply.content {
        Content::CompleteReply(reply) => reply.matches.len(),
        _ => 0,
    };
    (took, matches)
}

/// Resident memory of the kernel and everything serving it, in MiB.
fn resident_mib(kernel: &Kernel, engine_root: Option<i32>) -> f64 {
    let mut pids = vec![kernel.pid()];
    pids.extend(
        ferrokernel_engine::procs::descendants(kernel.pid())
            .iter()
            .map(|p| p.pid),
    );
    if let Some(root) = engine_root.filter(|r| !pids.contains(r)) {
        pids.push(root);
        pids.extend(
            ferrokernel_engine::procs::descendants(root)
                .iter()
                .map(|p| p.pid),
        );
    }
    resident_kib(&pids) as f64 / 1024.0
}

fn resident_kib(pids: &[i32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum()
}

/// Kernel -> Restart on `kernel`, then the new kernel's first prelude cell.
async fn restart_in_place(side: &Side, kernel: Kernel) -> (Duration, Kernel) {
    let mut kernel = kernel;
    let started = Instant::now();
    kernel
        .control_request(ShutdownRequest { restart: true })
        .await;
    kernel.wait_exit(Duration::from_secs(10));
    drop(kernel);
    let mut restarted = side.start().await;
    run(&mut restarted, PRELUDE_CELL).await;
    (started.elapsed(), restarted)
}

/// Seconds from a handover until the pool has a ready spare again.
async fn next_spare_after_handover(side: &Side) -> Option<Duration> {
    wait_for_ready_spare(side);
    let started = Instant::now();
    let mut kernel = side.start().await;
    run(&mut kernel, "1").await;
    while started.elapsed() < FIRST_CELL {
        if ready_spare(side) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// The engine host of a ferrokernel kernel: the parent of the runtime that runs its cells.
async fn engine_host(kernel: &mut Kernel) -> Option<i32> {
    let (iopub, _) = kernel
        .execute("println!(\"{}\", std::process::id());")
        .await;
    let runtime: i32 = support::stream_text(&iopub, "stdout").trim().parse().ok()?;
    ferrokernel_engine::procs::info(runtime).map(|p| p.ppid)
}

struct Row {
    what: String,
    ours: String,
    goal: &'static str,
    theirs: String,
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// A fresh kernel with an engine of its own, building cells by `rustc` alone or by `cargo`.
async fn kernel_building_cells_by(cell_build: &str) -> Kernel {
    let env = [
        ("FERROKERNEL_POOL", "0"),
        ("FERROKERNEL_CELL_BUILD", cell_build),
    ];
    Kernel::launch(&Launch::ferrokernel(), "bench-key", &env).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let pool_dir = std::env::temp_dir().join(format!("fk-bench-pool-{}", std::process::id()));
    std::fs::create_dir_all(&pool_dir).expect("pool dir");
    let _ = std::fs::set_permissions(
        &pool_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    );
    let fk = ferrokernel(&pool_dir, true);
    let cold = ferrokernel(&pool_dir, false);
    let evcxr = evcxr_jupyter();
    let na = || "n/a".to_owned();
    let load_before = load_average();
    println!("load average before: {load_before}");
    if evcxr.is_none() {
        println!(
            "evcxr_jupyter not found: `cargo install evcxr_jupyter --version =0.22.0 --locked \
             --root target/evcxr-jupyter` (or set FERROKERNEL_BENCH_EVCXR_JUPYTER)"
        );
    }
    let mut rows = Vec::new();

    // Start the pool and let it make its spares.
    drop(fk.start().await);
    wait_for_pool_at_rest(&fk);

    // A second notebook opened 10 s after the first, the first having taken
    // a spare (and used the CPU for its first cells meanwhile).
    let mut first = fk.start().await;
    run(&mut first, PRELUDE_CELL).await;
    run(&mut first, "let v = vec![1, 2, 3];").await;
    tokio::time::sleep(Duration::from_secs(10) - Duration::from_millis(100)).await;
    let second = first_cell(&fk, PRELUDE_CELL).await;
    drop(first);
    rows.push(Row {
        what: "second notebook 10 s after the first -> first cell".into(),
        ours: secs(second),
        goal: "<= 1.5 s",
        theirs: na(),
    });
    let mut took = Vec::new();
    for _ in 0..3 {
        took.extend(next_spare_after_handover(&fk).await);
    }
    rows.push(Row {
        what: "a handover -> a ready spare again (median of 3)".into(),
        ours: if took.is_empty() {
            na()
        } else {
            secs(median(took))
        },
        goal: "",
        theirs: na(),
    });

    // Five restarts in a row, 5 s apart, each timed to the new kernel's
    // first prelude cell; nobody waits for a spare in between.
    wait_for_pool_at_rest(&fk);
    let mut kernel = fk.start().await;
    run(&mut kernel, PRELUDE_CELL).await;
    let mut series = Vec::new();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (took, restarted) = restart_in_place(&fk, kernel).await;
        series.push(took);
        kernel = restarted;
    }
    drop(kernel);
    let max = series.iter().max().copied().unwrap_or_default();
    rows.push(Row {
        what: "restart x5, 5 s apart -> first prelude cell".into(),
        ours: format!(
            "median {}, max {} ({})",
            secs(median(series.clone())),
            secs(max),
            series
                .iter()
                .map(|d| format!("{:.2}", d.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        goal: "<= 1.0 s each",
        theirs: na(),
    });

    // Launch -> kernel_info.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        ours.push(kernel_info(&cold).await);
        if let Some(evcxr) = &evcxr {
            theirs.push(kernel_info(evcxr).await);
        }
    }
    rows.push(Row {
        what: "launch -> kernel_info_reply (median of 5)".into(),
        ours: secs(median(ours)),
        goal: "<= 0.2 s",
        theirs: if theirs.is_empty() {
            na()
        } else {
            secs(median(theirs))
        },
    });

    // Launch -> first prelude cell, warm engine; evcxr's first trivial cell beside it.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        wait_for_ready_spare(&fk);
        ours.push(first_cell(&fk, PRELUDE_CELL).await);
        if let Some(evcxr) = &evcxr {
            theirs.push(first_cell(evcxr, "1 + 1").await);
        }
    }
    rows.push(Row {
        what: "launch -> first prelude cell, warm (median of 3)".into(),
        ours: secs(median(ours)),
        goal: "<= 1.5 s",
        theirs: if theirs.is_empty() {
            na()
        } else {
            format!("{} (`1 + 1`)", secs(median(theirs)))
        },
    });

    // Cold: no pool.
    let mut ours = Vec::new();
    for _ in 0..2 {
        ours.push(first_cell(&cold, PRELUDE_CELL).await);
    }
    let evcxr_prelude = match &evcxr {
        Some(evcxr) => {
            let prelude = concat!(env!("CARGO_MANIFEST_DIR"), "/kernel/prelude");
            let started = Instant::now();
            let mut kernel = evcxr.start().await;
            run(
                &mut kernel,
                &format!(":dep ferrokernel-prelude = {{ path = \"{prelude}\" }}"),
            )
            .await;
            run(
                &mut kernel,
                "ferrokernel_prelude::multiprocessing::cpu_count()",
            )
            .await;
            format!(
                "{} (`:dep` of the prelude, then the cell)",
                secs(started.elapsed())
            )
        }
        None => na(),
    };
    rows.push(Row {
        what: "launch -> first prelude cell, cold (median of 2)".into(),
        ours: secs(median(ours)),
        goal: "<= 8 s",
        theirs: evcxr_prelude,
    });

    // Restart -> first prelude cell, a ready spare waiting.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        ours.push(restart(&fk, PRELUDE_CELL, || wait_for_ready_spare(&fk)).await);
        if let Some(evcxr) = &evcxr {
            theirs.push(restart(evcxr, "1 + 1", || {}).await);
        }
    }
    rows.push(Row {
        what: "restart -> first prelude cell, warm (median of 3)".into(),
        ours: secs(median(ours)),
        goal: "<= 1.0 s",
        theirs: if theirs.is_empty() {
            na()
        } else {
            format!("{} (`1 + 1`)", secs(median(theirs)))
        },
    });

    // First completion in a fresh kernel.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut our_matches, mut their_matches) = (0, 0);
    for _ in 0..3 {
        wait_for_ready_spare(&fk);
        let (took, matches) = first_completion(&fk).await;
        ours.push(took);
        our_matches = matches;
        if let Some(evcxr) = &evcxr {
            let (took, matches) = first_completion(evcxr).await;
            theirs.push(took);
            their_matches = matches;
        }
    }
    rows.push(Row {
        what: format!("first completion of `{COMPLETION}` (median of 3)"),
        ours: format!("{} ({our_matches} matches)", secs(median(ours))),
        goal: "<= 0.5 s",
        theirs: if theirs.is_empty() {
            na()
        } else {
            format!("{} ({their_matches} matches)", secs(median(theirs)))
        },
    });

    // Trivial cells, alternating between the two kernels.
    wait_for_ready_spare(&fk);
    let mut our_kernel = fk.start().await;
    let mut their_kernel = match &evcxr {
        Some(evcxr) => Some(evcxr.start().await),
        None => None,
    };
    run(&mut our_kernel, "1").await;
    if let Some(kernel) = their_kernel.as_mut() {
        run(kernel, "1").await;
    }
    // Steady state: the pool has made its next spare (which it does in the
    // first idle seconds after a handover) before the cells are timed.
    std::thread::sleep(Duration::from_secs(6));
    wait_for_ready_spare(&fk);
    for (what, template) in [
        (
            "trivial statement cell `println!(..)`",
            "println!(\"{i}\");",
        ),
        ("trivial expression cell `i + 1`", "{i} + 1"),
        ("a `let` cell `let v_i = i;`", "let v{i} = {i};"),
    ] {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for i in 0..20 {
            let code = template.replace("{i}", &i.to_string());
            ours.push(run(&mut our_kernel, &code).await);
            if let Some(kernel) = their_kernel.as_mut() {
                theirs.push(run(kernel, &code).await);
            }
        }
        rows.push(Row {
            what: format!("{what} (median of 20)"),
            ours: secs(median(ours)),
            goal: if template.starts_with("println") {
                "<= 0.15 s, <= evcxr"
            } else {
                "<= evcxr"
            },
            theirs: if theirs.is_empty() {
                na()
            } else {
                secs(median(theirs))
            },
        });
    }

    // The same statement cells in a plain kernel (no prelude), as evcxr as is has none.
    let mut plain = Kernel::launch(
        &Launch::ferrokernel(),
        "bench-key",
        &[("FERROKERNEL_POOL", "0"), ("FERROKERNEL_PRELUDE", "0")],
    )
    .await;
    run(&mut plain, "1").await;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..20 {
        let code = format!("println!(\"{i}\");");
        ours.push(run(&mut plain, &code).await);
        if let Some(kernel) = their_kernel.as_mut() {
            theirs.push(run(kernel, &code).await);
        }
    }
    drop(plain);
    rows.push(Row {
        what: "the statement cell, plain kernel without the prelude".into(),
        ours: secs(median(ours)),
        goal: "",
        theirs: if theirs.is_empty() {
            na()
        } else {
            secs(median(theirs))
        },
    });

    // What building cells with rustc alone buys: the same statement cells in
    // two fresh kernels side by side, one of which builds every cell through
    // cargo, as evcxr does (fresh, so neither carries the `let` cells' variables).
    let mut by_rustc = kernel_building_cells_by("rustc").await;
    let mut by_cargo = kernel_building_cells_by("cargo").await;
    run(&mut by_rustc, "1").await;
    run(&mut by_cargo, "1").await;
    let (mut rustc, mut cargo) = (Vec::new(), Vec::new());
    for i in 0..20 {
        let code = format!("println!(\"{i}\");");
        rustc.push(run(&mut by_rustc, &code).await);
        cargo.push(run(&mut by_cargo, &code).await);
    }
    drop(by_rustc);
    drop(by_cargo);
    rows.push(Row {
        what: "the statement cell: rustc alone | every cell through cargo (two fresh kernels, alternating)"
            .into(),
        ours: secs(median(rustc)),
        goal: "",
        theirs: format!("{} (cargo)", secs(median(cargo))),
    });

    // 200 cells in a row: mean, and the first and last twenty.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..200 {
        let code = format!("{i} * 2");
        ours.push(run(&mut our_kernel, &code).await);
        if let Some(kernel) = their_kernel.as_mut() {
            theirs.push(run(kernel, &code).await);
        }
    }
    let growth = |samples: &[Duration]| {
        format!(
            "{} (first 20: {}, last 20: {})",
            secs(mean(samples)),
            secs(mean(&samples[..20])),
            secs(mean(&samples[samples.len() - 20..]))
        )
    };
    rows.push(Row {
        what: "200 cells in a row, mean".into(),
        ours: growth(&ours),
        goal: "<= 0.25 s, no growth",
        theirs: if theirs.is_empty() {
            na()
        } else {
            growth(&theirs)
        },
    });

    let host = engine_host(&mut our_kernel).await;
    rows.push(Row {
        what: "kernel + engine resident memory, after those cells".into(),
        ours: format!("{:.0} MiB", resident_mib(&our_kernel, host)),
        goal: "",
        theirs: their_kernel
            .as_ref()
            .map_or_else(na, |k| format!("{:.0} MiB", resident_mib(k, None))),
    });
    drop((our_kernel, their_kernel));
    // The pool at rest: its spares made (and engines given back made fresh).
    tokio::time::sleep(Duration::from_secs(5)).await;
    wait_for_ready_spare(&fk);
    rows.push(Row {
        what: "memory held by the pool when idle".into(),
        ours: pool_resident_mib(&fk).map_or_else(na, |(mib, spares)| {
            format!("{mib:.0} MiB ({spares} spare engines)")
        }),
        goal: "stated",
        theirs: na(),
    });
    let _ = std::process::Command::new(env!("CARGO_BIN_EXE_ferrokernel"))
        .args(["pool", "stop"])
        .envs(fk.env())
        .output();
    let _ = std::fs::remove_dir_all(&pool_dir);

    println!();
    println!(
        "{:<52} {:<44} {:<22} evcxr_jupyter 0.22 as is",
        "kernel (2 cores)", "ferrokernel", "goal"
    );
    for row in rows {
        println!(
            "{:<52} {:<44} {:<22} {}",
            row.what, row.ours, row.goal, row.theirs
        );
    }
    println!(
        "\nload average before: {load_before}, after: {}",
        load_average()
    );
}

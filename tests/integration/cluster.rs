//! A notebook's pool on many hosts: three test hosts (network namespaces made
//! by `tests/cluster/hosts.sh`, which needs root), workers started by Open
//! MPI's `mpirun` through an rsh agent that enters a host's namespace, and
//! the cell's own compiled code run there.

use crate::support::{Kernel, Launch, error_of, result_text, stream_text};
use crate::test_hosts;
use ferrokernel_protocol::ReplyStatus;
use std::time::{Duration, Instant};

/// One cluster test at a time: each checks that no worker, daemon or
/// launcher is left anywhere, which another test's cluster would fail.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A kernel whose `mpirun` reaches the test hosts.
async fn kernel() -> Kernel {
    let env = test_hosts::mpirun_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Kernel::start(&env).await
}

async fn ok(kernel: &mut Kernel, code: &str) -> (String, String) {
    let (iopub, reply) = kernel.execute(code).await;
    assert_eq!(
        reply.status,
        ReplyStatus::Ok,
        "{code}\n{:?}\n{}",
        error_of(&iopub),
        stream_text(&iopub, "stderr")
    );
    (
        result_text(&iopub).unwrap_or_default(),
        stream_text(&iopub, "stdout"),
    )
}

/// Processes whose command line contains `needle`, other than this test's.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) && !cmdline.contains("integration") {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

fn eventually_none(needle: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let left = processes_with(needle);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn a_cells_function_maps_on_three_hosts_started_by_mpirun() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut kernel = kernel().await;
    ok(
        &mut kernel,
        "fn where_am_i(n: u64) -> (u64, String) {\n    \
             (n * n, std::fs::read_link(\"/proc/self/ns/net\").map(|p| p.display().to_string()).unwrap_or_default())\n\
         }",
    )
    .await;
    let (workers, _) = ok(
        &mut kernel,
        &format!(
            "let cl = cluster::Cluster::mpirun({:?})?;\n\
             let pool = cl.pool()?;\n\
             let mut hosts: Vec<String> = cl.workers().iter().map(|w| w.host.clone()).collect();\n\
             hosts.sort();\n\
             hosts",
            test_hosts::HOSTS
        ),
    )
    .await;
    assert_eq!(
        workers,
        r#"["fkh1", "fkh1", "fkh2", "fkh2", "fkh3", "fkh3"]"#
    );
    let (checked, _) = ok(
        &mut kernel,
        "let out = pool.map(where_am_i, 0..600u64)?;\n\
         let in_order = out.iter().enumerate().all(|(i, (sq, _))| *sq == (i * i) as u64);\n\
         let mut spaces: Vec<String> = out.iter().map(|(_, ns)| ns.clone()).collect();\n\
         spaces.sort(); spaces.dedup();\n\
         let mine = std::fs::read_link(\"/proc/self/ns/net\").map(|p| p.display().to_string()).unwrap_or_default();\n\
         (out.len(), in_order, spaces.len(), spaces.contains(&mine))",
    )
    .await;
    assert_eq!(checked, "(600, true, 3, false)");
    // A function defined after the cluster was made.
    ok(&mut kernel, "fn later(n: i64) -> i64 { n * 3 - 1 }").await;
    let (later, _) = ok(&mut kernel, "pool.map(later, [1, 2, 3])?").await;
    assert_eq!(later, "[2, 5, 8]");
    let (with, _) = ok(
        &mut kernel,
        "let table = vec![10u32, 20, 30];\npool.map_with(&table, |t: &Vec<u32>, i: usize| t[i] + 1, [2, 0, 1])?",
    )
    .await;
    assert_eq!(with, "[31, 11, 21]");
    let (unordered, _) = ok(
        &mut kernel,
        "let mut got: Vec<u32> = pool.imap_unordered(|n: u32| n + 100, 0..20u32)?.collect::<Result<_, _>>()?;\n\
         got.sort();\n\
         got == (100..120).collect::<Vec<u32>>()",
    )
    .await;
    assert_eq!(unordered, "true");
    let (streamed, _) = ok(
        &mut kernel,
        "let streamed: Vec<u64> = progress(pool.imap(|n: u64| n * 2, 0..30u64)?).collect::<Result<_, _>>()?;\n\
         let one = pool.apply_async(|s: String| s.len(), \"four\".to_string())?;\n\
         (streamed == (0..30).map(|n| n * 2).collect::<Vec<u64>>(), one.result()?)",
    )
    .await;
    assert_eq!(streamed, "(true, 4)");
    let (joined, _) = ok(
        &mut kernel,
        "let slow: Vec<_> = (0..4u64)\n    \
             .map(|n| pool.apply_async(|n: u64| { std::thread::sleep(std::time::Duration::from_millis(300)); n }, n))\n    \
             .collect::<Result<_, _>>()?;\n\
         let waiting = slow.iter().filter(|f| !f.done()).count();\n\
         pool.join()?;\n\
         (waiting > 0, slow.iter().all(|f| f.done()))",
    )
    .await;
    assert_eq!(joined, "(true, true)");
    let (submitted, _) = ok(
        &mut kernel,
        "let ex = cl.executor()?;\n\
         let futures: Vec<_> = (0..8u64).map(|n| ex.submit(|n: u64| n * 2, n)).collect::<Result<_, _>>()?;\n\
         let done = concurrent::futures::as_completed(&futures).count();\n\
         let total: u64 = futures.iter().map(|f| f.result()).sum::<Result<u64, _>>()?;\n\
         (done, total)",
    )
    .await;
    assert_eq!(submitted, "(8, 56)");
    ok(&mut kernel, "cl.shutdown()?;").await;
    // The timeline shows the workers by host, each ended cleanly.
    let (chart, _) = ok(&mut kernel, "multiprocessing::timeline().text()").await;
    let chart = chart.replace("\\n", "\n");
    for host in ["fkh1", "fkh2", "fkh3"] {
        assert!(
            chart.contains(&format!("Cluster on {host} (mpirun)")),
            "{chart}"
        );
    }
    let workers: Vec<&str> = chart
        .lines()
        .filter(|l| l.trim_start().starts_with("worker "))
        .collect();
    assert_eq!(workers.len(), 6, "{chart}");
    assert!(workers.iter().all(|l| l.contains("exit 0")), "{chart}");
    let left = eventually_none("cluster-worker", Duration::from_secs(10));
    assert!(left.is_empty(), "workers left after shutdown: {left:?}");
    let left = eventually_none("orted", Duration::from_secs(10));
    assert!(left.is_empty(), "orted left after shutdown: {left:?}");
}

#[tokio::test]
async fn cluster_failures_are_errors_and_leave_the_cluster_usable() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut kernel = kernel().await;
    ok(
        &mut kernel,
        // Open MPI's hostfile, as clusters keep them.
        "std::fs::write(\"/tmp/fk-test-hostfile\", \"fkh1 slots=2\\nfkh2 slots=2\\nfkh3 slots=2\\n\")?;\n\
         let cl = cluster::Cluster::mpirun_hostfile(\"/tmp/fk-test-hostfile\", 6)?;\n\
         let pool = cl.pool()?;",
    )
    .await;
    // A closure that captures cannot be shipped: said at compile time.
    let (iopub, reply) = kernel
        .execute("let k = 3u64;\npool.map(move |n: u64| n + k, 0..3u64)?")
        .await;
    assert_eq!(reply.status, ReplyStatus::Error);
    let (_, message) = error_of(&iopub).expect("an error");
    assert!(
        message.contains("capture nothing") && message.contains("map_with"),
        "{message}"
    );
    // A panicking item fails the call with its index and host; the workers live on.
    let (iopub, reply) = kernel
        .execute(
            "pool.map(|n: u32| if n == 7 { panic!(\"seven is unlucky\") } else { n }, 0..10u32)?",
        )
        .await;
    assert_eq!(reply.status, ReplyStatus::Error);
    let (_, message) = error_of(&iopub).expect("an error");
    assert!(
        message.contains("item 7 on worker") && message.contains("seven is unlucky"),
        "{message}"
    );
    let (alive, _) = ok(
        &mut kernel,
        "(cl.alive(), pool.map(|n: u8| n + 1, [1, 2])?)",
    )
    .await;
    assert_eq!(alive, "(6, [2, 3])");
    // A worker killed mid-map fails its chunk, naming its host; no hang, and
    // the other workers go on.
    let (iopub, reply) = kernel
        .execute(
            "let victim = cl.workers()[0].clone();\n\
             std::thread::spawn(move || {\n    \
                 std::thread::sleep(std::time::Duration::from_millis(500));\n    \
                 os::kill(victim.pid as i32, os::SIGKILL).ok();\n\
             });\n\
             pool.map_chunked(|n: u64| { std::thread::sleep(std::time::Duration::from_millis(100)); n }, 0..60u64, Some(2))?",
        )
        .await;
    assert_eq!(reply.status, ReplyStatus::Error);
    let (_, message) = error_of(&iopub).expect("an error");
    assert!(
        message.contains("died") && message.contains("fkh1"),
        "{message}"
    );
    let (after, _) = ok(
        &mut kernel,
        "(cl.alive(), pool.map(|n: u64| n * 10, 0..30u64)?.iter().sum::<u64>())",
    )
    .await;
    assert_eq!(after, "(5, 4350)");
    let (chart, _) = ok(&mut kernel, "multiprocessing::timeline().text()").await;
    assert_eq!(chart.matches("lost").count(), 1, "{chart}");
    // An interrupt ends a long call; the cluster stays usable.
    let started = kernel
        .send_shell(ferrokernel_protocol::ExecuteRequest {
            code: "println!(\"mapping\");\n\
                   pool.map(|n: u64| { std::thread::sleep(std::time::Duration::from_secs(2)); n }, 0..40u64)?"
                .into(),
            ..Default::default()
        })
        .await;
    // Interrupt once the call runs (not while the cell compiles).
    loop {
        let message = kernel.next_iopub().await;
        if crate::support::is_reply_to(&message, &started) && message.header.msg_type == "stream" {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = Instant::now();
    kernel
        .control_request(ferrokernel_protocol::InterruptRequest {})
        .await;
    let iopub = kernel
        .iopub_until_idle(&started, Duration::from_secs(30))
        .await;
    let _ = kernel.shell_reply().await;
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    let (name, message) = error_of(&iopub).expect("an error");
    assert_eq!(name, "KeyboardInterrupt", "{message}");
    assert!(message.contains("kept"), "{message}");
    let (again, _) = ok(&mut kernel, "pool.map(|n: u8| n * 2, [1, 2, 3])?").await;
    assert_eq!(again, "[2, 4, 6]");
    // The kernel's exit leaves no launcher, daemon or worker anywhere.
    kernel
        .control_request(ferrokernel_protocol::ShutdownRequest { restart: false })
        .await;
    kernel.wait_exit(Duration::from_secs(20));
    for needle in ["cluster-worker", "orted", "mpirun"] {
        let left = eventually_none(needle, Duration::from_secs(15));
        assert!(
            left.is_empty(),
            "{needle} left after the kernel's exit: {left:?}"
        );
    }
}

#[tokio::test]
async fn plain_ssh_starts_one_worker_per_slot() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut env = test_hosts::mpirun_env();
    // The agent takes ssh's arguments (host, then the remote command).
    let agent = env
        .iter()
        .find(|(name, _)| *name == "OMPI_MCA_plm_rsh_agent")
        .map(|(_, agent)| agent.clone())
        .unwrap_or_default();
    env.push(("FERROKERNEL_CLUSTER_SSH", agent));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut kernel = Kernel::start(&env).await;
    let (checked, _) = ok(
        &mut kernel,
        "let cl = cluster::Cluster::ssh([\"fkh1:2\", \"fkh3\"])?;\n\
         let pool = cl.pool()?;\n\
         let hosts: Vec<String> = pool.map(|_: u8| std::fs::read_to_string(\"/proc/sys/kernel/hostname\").unwrap_or_default().trim().to_string(), 0..30u8)?;\n\
         let mut seen = hosts.clone(); seen.sort(); seen.dedup();\n\
         (seen, cl.workers().iter().map(|w| (w.host.clone(), w.rank)).collect::<Vec<_>>())",
    )
    .await;
    assert_eq!(
        checked,
        r#"(["fkh1", "fkh3"], [("fkh1", Some(0)), ("fkh1", Some(1)), ("fkh3", Some(2))])"#
    );
    ok(&mut kernel, "cl.shutdown()?;").await;
    let left = eventually_none("cluster-worker", Duration::from_secs(10));
    assert!(left.is_empty(), "workers left after shutdown: {left:?}");
}

/// Runs `tests/cluster/slurm.sh` with `action`; `up` answers the SLURM_CONF.
fn slurm(action: &str) -> String {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/slurm.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .arg(action)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "tests/cluster/slurm.sh {action} failed (root and Debian's slurm-wlm and munge needed): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("SLURM_CONF="))
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_kernel_inside_a_slurm_allocation_runs_workers_started_by_srun() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let conf = slurm("up");
    // JupyterLab's kernel started inside `salloc -n 2`, as on a head node.
    let launch = Launch {
        program: "salloc".into(),
        args: [
            "-n",
            "2",
            env!("CARGO_BIN_EXE_ferrokernel"),
            "kernel",
            "--connection-file",
            "{connection_file}",
        ]
        .map(str::to_owned)
        .to_vec(),
        tcp: false,
    };
    let mut kernel = Kernel::launch(&launch, "test-secret-key", &[("SLURM_CONF", &conf)]).await;
    ok(
        &mut kernel,
        "fn with_rank(n: u64) -> (u64, String) {\n    \
             (n + 1, std::env::var(\"SLURM_PROCID\").unwrap_or_default())\n\
         }",
    )
    .await;
    let (checked, _) = ok(
        &mut kernel,
        "let cl = cluster::Cluster::srun(2)?;\n\
         let pool = cl.pool()?;\n\
         let out = pool.map(with_rank, 0..100u64)?;\n\
         let in_order = out.iter().enumerate().all(|(i, (m, _))| *m == i as u64 + 1);\n\
         let mut ranks: Vec<String> = out.iter().map(|(_, r)| r.clone()).collect();\n\
         ranks.sort(); ranks.dedup();\n\
         (in_order, ranks, cl.workers().iter().map(|w| w.rank).collect::<Vec<_>>())",
    )
    .await;
    assert_eq!(checked, r#"(true, ["0", "1"], [Some(0), Some(1)])"#);
    ok(&mut kernel, "cl.shutdown()?;").await;
    let left = eventually_none("cluster-worker", Duration::from_secs(10));
    assert!(left.is_empty(), "workers left after shutdown: {left:?}");
    drop(kernel);
    slurm("down");
}

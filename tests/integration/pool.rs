//! The engine pool through the real binary: kernels get warm engines, never
//! the same one twice, and nothing a kernel or a handover leaves behind harms
//! the pool. Most tests serve the scripted engine (`FERROKERNEL_FAKE_ENGINE`)
//! so they test the pool, not the compiler; one restarts a real kernel.

use crate::support::{FIRST_CELL, Kernel, alive, result_text, stream_text};
use ferrokernel_pool::messages::{PROTOCOL_VERSION, PoolReply, PoolRequest, PoolStatus};
use ferrokernel_pool::wire;
use ferrokernel_protocol::{Content, ExecuteRequest, ShutdownRequest};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A pool of its own for one test, stopped when the test ends.
struct TestPool {
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl TestPool {
    /// `fake_start_ms`: serve the scripted engine after that long a start (`None`: evcxr).
    fn new(name: &str, fake_start_ms: Option<u64>) -> TestPool {
        let dir = std::env::temp_dir().join(format!("fk-pool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .expect("pool dir");
        let mut env = vec![
            ("FERROKERNEL_POOL".to_owned(), "1".to_owned()),
            ("FERROKERNEL_POOL_DIR".to_owned(), dir.display().to_string()),
        ];
        if let Some(ms) = fake_start_ms {
            env.push(("FERROKERNEL_FAKE_ENGINE".to_owned(), ms.to_string()));
        }
        TestPool { dir, env }
    }

    fn env(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ferrokernel"));
        command
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    fn status(&self) -> Option<PoolStatus> {
        let output = self
            .command(&["pool", "status", "--json"])
            .output()
            .expect("status runs");
        assert!(output.status.success(), "pool status: {output:?}");
        serde_json::from_slice(&output.stdout).expect("status is JSON")
    }

    /// Waits for a ready spare; returns its pid.
    fn wait_for_ready_spare(&self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(spare) = self.status().and_then(|s| s.spare).filter(|s| s.ready) {
                return spare.pid;
            }
            assert!(Instant::now() < deadline, "no ready spare within {limit:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for TestPool {
    fn drop(&mut self) {
        let pid = self.status().map(|s| s.pid);
        let _ = self.command(&["pool", "stop"]).output();
        if let Some(pid) = pid {
            wait_until_gone(pid, Duration::from_secs(5));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_until_gone(pid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !alive(pid)
}

/// The engine host's pid, as the scripted engine prints it.
async fn engine_pid(kernel: &mut Kernel) -> i32 {
    let (iopub, _) = kernel.execute("pid").await;
    let text = stream_text(&iopub, "stdout");
    text.trim()
        .strip_prefix("pid ")
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {text:?}"))
}

#[tokio::test]
async fn two_kernels_started_at_once_get_two_engines() {
    let pool = TestPool::new("two", Some(0));
    let env = pool.env();
    let (mut first, mut second) = tokio::join!(Kernel::start(&env), Kernel::start(&env));
    let (a, b) = tokio::join!(engine_pid(&mut first), engine_pid(&mut second));
    assert_ne!(a, b, "one engine was handed to two kernels");
    let status = pool.status().expect("the pool runs");
    assert_eq!(status.handed_out, 2);
    assert_eq!(status.engines_in_use, 2);
    drop((first, second));
    for pid in [a, b] {
        assert!(
            wait_until_gone(pid, Duration::from_secs(5)),
            "engine {pid} outlived its kernel"
        );
    }
}

#[tokio::test]
async fn a_kernel_killed_during_handover_leaves_the_pool_healthy() {
    let pool = TestPool::new("handover", Some(0));
    let env = pool.env();
    // A first kernel starts the pool; the spare made after it is what the dying kernel takes.
    let mut kernel = Kernel::start(&env).await;
    engine_pid(&mut kernel).await;
    drop(kernel);
    let spare = pool.wait_for_ready_spare(Duration::from_secs(30));
    let socket = pool.status().expect("runs").socket;

    // A "kernel" that asks for an engine and dies before it reads the answer.
    let stream = UnixStream::connect(&socket).expect("connects");
    wire::send(
        &stream,
        &PoolRequest::Hello {
            protocol: PROTOCOL_VERSION,
        },
    )
    .expect("hello");
    assert!(matches!(
        wire::recv::<PoolReply>(&stream),
        Ok(Some(PoolReply::Welcome { .. }))
    ));
    let env = ferrokernel_pool::messages::EngineEnv {
        vars: pool.env.iter().cloned().collect(),
        cwd: std::env::current_dir().expect("cwd"),
    };
    wire::send(&stream, &PoolRequest::Acquire { env }).expect("acquire");
    std::thread::sleep(Duration::from_millis(200));
    drop(stream);

    // The engine in flight dies with it, and the pool goes on serving.
    assert!(
        wait_until_gone(spare, Duration::from_secs(5)),
        "the orphaned engine {spare} lives on"
    );
    let mut next = Kernel::start(&pool.env()).await;
    let pid = engine_pid(&mut next).await;
    assert_ne!(pid, spare);
    assert!(pool.status().is_some());
}

#[tokio::test]
async fn a_killed_kernel_takes_its_pooled_engine_with_it() {
    let pool = TestPool::new("killed", Some(0));
    let mut kernel = Kernel::start(&pool.env()).await;
    let host = engine_pid(&mut kernel).await;
    kernel.kill_hard();
    assert!(
        wait_until_gone(host, Duration::from_secs(5)),
        "engine {host} outlived a killed kernel"
    );
    // The pool noticed: no engine in use.
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.status().expect("runs").engines_in_use != 0 {
        assert!(
            Instant::now() < deadline,
            "the pool still counts the dead engine"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn a_slow_start_shows_as_the_kernels_status_never_as_output() {
    // Interactive (stdin allowed) and headless runners alike get only the
    // cell's own outputs; the wait shows as `starting`, then `busy` again.
    for allow_stdin in [true, false] {
        // A pool of its own: the spare it makes after a handover would be ready.
        let pool = TestPool::new(&format!("slow-{allow_stdin}"), Some(2500));
        let mut kernel = Kernel::start(&pool.env()).await;
        let request = ExecuteRequest {
            code: "print:hello".into(),
            allow_stdin,
            ..ExecuteRequest::default()
        };
        let (iopub, _) = kernel.execute_with(request, FIRST_CELL).await;
        let kinds: Vec<String> = iopub
            .iter()
            .map(|m| match &m.content {
                Content::Status(s) => format!("{:?}", s.execution_state),
                _ => m.header.msg_type.clone(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "Busy",
                "execute_input",
                "Starting",
                "Busy",
                "stream",
                "Idle"
            ],
            "allow_stdin: {allow_stdin}"
        );
        assert_eq!(stream_text(&iopub, "stdout"), "hello\n");
    }
}

#[tokio::test]
async fn a_claimed_engine_takes_on_the_kernels_directory_and_environment() {
    let pool = TestPool::new("claim", Some(0));
    let mut env = pool.env();
    env.push(("FK_TEST_NOTEBOOK", "first"));
    let mut first = Kernel::start(&env).await;
    engine_pid(&mut first).await;
    drop(first);
    let spare = pool.wait_for_ready_spare(Duration::from_secs(30));
    let mut env = pool.env();
    env.push(("FK_TEST_NOTEBOOK", "second"));
    let mut second = Kernel::start(&env).await;
    assert_eq!(
        engine_pid(&mut second).await,
        spare,
        "the spare was handed over"
    );
    let (iopub, _) = second.execute("env:FK_TEST_NOTEBOOK").await;
    assert_eq!(stream_text(&iopub, "stdout"), "FK_TEST_NOTEBOOK=second\n");
}

#[tokio::test]
async fn the_pool_refuses_other_users() {
    if !nix::unistd::getuid().is_root() {
        eprintln!("skipped: connecting as another uid needs root");
        return;
    }
    let pool = TestPool::new("uid", Some(0));
    let mut kernel = Kernel::start(&pool.env()).await;
    engine_pid(&mut kernel).await;
    let socket = pool.status().expect("runs").socket;
    // A child that is uid 65534 to the pool (SO_PEERCRED reports the effective
    // uid) but may still reach the private directory (its fsuid stays 0).
    let reply = connect_as(65534, &socket);
    match reply {
        Some(PoolReply::Refused { reason }) => assert!(reason.contains("65534"), "{reason}"),
        other => panic!("another uid was not refused: {other:?}"),
    }
    assert!(pool.status().is_some(), "the pool still serves its user");
}

/// Connects to `socket` as `uid` and says hello; returns what the pool said.
///
/// From a Python process (a fork of this multi-threaded test binary could
/// inherit locks): it becomes `uid` to the pool — `SO_PEERCRED` reports the
/// effective uid — while its filesystem uid stays 0, so that it can still reach
/// the private directory; only the pool's own check can refuse it.
fn connect_as(uid: u32, socket: &std::path::Path) -> Option<PoolReply> {
    const SCRIPT: &str = r#"
import ctypes, os, socket, struct, sys
uid, path, hello = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
os.setresuid(uid, uid, 0)
ctypes.CDLL(None).setfsuid(0)
s = socket.socket(socket.AF_UNIX)
s.connect(path)
try:
    s.sendall(struct.pack(">I", len(hello)) + hello)
except (BrokenPipeError, ConnectionResetError):
    pass  # refused before our hello was read: the answer is already here
def exactly(n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            sys.exit("the pool closed the connection")
        data += chunk
    return data
print(exactly(struct.unpack(">I", exactly(4))[0]).decode())
"#;
    let hello = serde_json::to_string(&PoolRequest::Hello {
        protocol: PROTOCOL_VERSION,
    })
    .expect("json");
    let output = Command::new("python3")
        .args(["-c", SCRIPT, &uid.to_string()])
        .arg(socket)
        .arg(hello)
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).ok()
}

/// Kernel -> Restart: a shutdown with restart, then the kernel exits.
async fn restart(mut kernel: Kernel) {
    kernel
        .control_request(ShutdownRequest { restart: true })
        .await;
    assert!(
        kernel.wait_exit(Duration::from_secs(10)).is_some(),
        "the kernel exits"
    );
}

impl TestPool {
    /// Waits until the engine `host`, given back, is the ready spare.
    fn wait_for_given_back(&self, host: i32, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let status = self.status().expect("the pool runs");
            if status
                .spare
                .as_ref()
                .is_some_and(|s| s.pid == host && s.ready && s.given_back)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "engine {host} is not a ready spare again within {limit:?}: {status:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[tokio::test]
async fn a_restarted_kernels_engine_comes_back_fresh_for_the_next_kernel() {
    // Spares that take a while to make: an engine given back is kept in
    // place of one still being made (two spares are kept).
    let pool = TestPool::new("given-back", Some(4000));
    let mut kernel = Kernel::start(&pool.env()).await;
    let host = engine_pid(&mut kernel).await;
    let (iopub, _) = kernel.execute("set:SECRET=kept\nenv:SECRET").await;
    assert_eq!(stream_text(&iopub, "stdout"), "SECRET=kept\n");
    restart(kernel).await;
    pool.wait_for_given_back(host, Duration::from_secs(10));
    let status = pool.status().expect("runs");
    assert!(status.given_back >= 1);
    assert_eq!(status.spares_wanted, 2, "{status:?}");
    assert!(
        (1..=status.spares).contains(&status.ready_spares),
        "the engine given back counts among the ready spares: {status:?}"
    );

    let mut next = Kernel::start(&pool.env()).await;
    assert_eq!(engine_pid(&mut next).await, host, "the engine given back");
    let (iopub, _) = next.execute("env:SECRET").await;
    assert_eq!(
        stream_text(&iopub, "stdout"),
        "SECRET=\n",
        "the next kernel sees what the last one set"
    );
    // It serves its new kernel as any engine does, and goes back again.
    let (iopub, _) = next.execute("later:50:late\nprint:now").await;
    assert_eq!(stream_text(&iopub, "stdout"), "now\n");
    restart(next).await;
    pool.wait_for_given_back(host, Duration::from_secs(10));
}

#[tokio::test]
async fn an_engine_changed_by_a_dep_or_busy_at_the_end_is_not_given_to_another_kernel() {
    let pool = TestPool::new("not-kept", Some(0));
    let mut kernel = Kernel::start(&pool.env()).await;
    let changed = engine_pid(&mut kernel).await;
    kernel.execute("dep").await;
    restart(kernel).await;
    assert!(
        wait_until_gone(changed, Duration::from_secs(10)),
        "an engine a :dep changed lives on"
    );

    let mut kernel = Kernel::start(&pool.env()).await;
    let busy = engine_pid(&mut kernel).await;
    kernel
        .send_shell(ExecuteRequest {
            code: "print:spinning\nspin".into(),
            ..ExecuteRequest::default()
        })
        .await;
    while kernel.next_iopub().await.header.msg_type != "stream" {}
    restart(kernel).await;
    assert!(
        wait_until_gone(busy, Duration::from_secs(10)),
        "an engine running a cell at the end lives on"
    );
    // The pool may have taken the :dep engine back a moment before it ended
    // (its recycle refused): what counts is that neither is a spare.
    let status = pool.status().expect("runs");
    assert!(
        status
            .spare
            .as_ref()
            .is_none_or(|spare| spare.pid != changed && spare.pid != busy),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_restarted_kernel_gets_a_warm_engine_that_knows_nothing_of_the_old_kernel() {
    let pool = TestPool::new("restart", None);
    let mut kernel = Kernel::start(&pool.env()).await;
    let (iopub, reply) = kernel
        .execute(
            "let secret = multiprocessing::cpu_count() + 41;\n\
             fn helper() -> i32 { 1 }\n\
             unsafe { std::env::set_var(\"FK_SECRET\", \"yes\") };\n\
             let sleeper = std::process::Command::new(\"sleep\").arg(\"300\").spawn().expect(\"sleep\");\n\
             println!(\"{} {}\", std::process::id(), sleeper.id());",
        )
        .await;
    assert_eq!(
        reply.status,
        ferrokernel_protocol::ReplyStatus::Ok,
        "{iopub:?}"
    );
    let text = stream_text(&iopub, "stdout");
    let pids: Vec<i32> = text
        .split_whitespace()
        .map(|p| p.parse().expect("a pid"))
        .collect();
    let (runtime, sleeper) = (pids[0], pids[1]);
    let host = ferrokernel_engine::procs::info(runtime)
        .expect("alive")
        .ppid;
    restart(kernel).await;
    assert!(
        wait_until_gone(sleeper, Duration::from_secs(10)),
        "a process the old kernel's cell started lives on"
    );
    pool.wait_for_given_back(host, FIRST_CELL);

    let mut restarted = Kernel::start(&pool.env()).await;
    let (iopub, reply) = restarted
        .execute("println!(\"{}\", std::process::id()); multiprocessing::cpu_count() > 0")
        .await;
    assert_eq!(reply.status, ferrokernel_protocol::ReplyStatus::Ok);
    assert_eq!(result_text(&iopub).as_deref(), Some("true"));
    assert!(
        !iopub.iter().any(|m| m.header.msg_type == "display_data"),
        "a warm engine shows no start progress: {iopub:?}"
    );
    let fresh: i32 = stream_text(&iopub, "stdout").trim().parse().expect("a pid");
    assert_ne!(fresh, runtime, "a new runtime");
    let parent = ferrokernel_engine::procs::info(fresh).expect("alive").ppid;
    assert_eq!(parent, host, "the engine given back");
    for old in ["secret", "helper()"] {
        let (iopub, reply) = restarted.execute(old).await;
        assert_eq!(
            reply.status,
            ferrokernel_protocol::ReplyStatus::Error,
            "{old} is still known: {iopub:?}"
        );
    }
    let (iopub, _) = restarted
        .execute("std::env::var(\"FK_SECRET\").is_err()")
        .await;
    assert_eq!(result_text(&iopub).as_deref(), Some("true"));
}

#[tokio::test]
async fn a_stopped_pool_leaves_no_process_behind() {
    let pool = TestPool::new("stop", Some(0));
    let mut kernel = Kernel::start(&pool.env()).await;
    let in_use = engine_pid(&mut kernel).await;
    let spare = pool.wait_for_ready_spare(Duration::from_secs(30));
    let pid = pool.status().expect("runs").pid;
    let output = pool.command(&["pool", "stop"]).output().expect("stop runs");
    assert!(output.status.success(), "{output:?}");
    assert!(
        wait_until_gone(pid, Duration::from_secs(5)),
        "the pool lives on"
    );
    assert!(
        wait_until_gone(spare, Duration::from_secs(5)),
        "its spare lives on"
    );
    // The engine a kernel uses is the kernel's, not the pool's.
    let (iopub, _) = kernel.execute("print:still here").await;
    assert_eq!(stream_text(&iopub, "stdout"), "still here\n");
    assert!(alive(in_use));
    drop(kernel);
    assert!(wait_until_gone(in_use, Duration::from_secs(5)));
}

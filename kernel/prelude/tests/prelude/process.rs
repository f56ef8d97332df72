use crate::common::serial;
use ferrokernel_prelude::multiprocessing::{
    self, Error, Process, Queue, Value, active_children, current_process,
};
use std::time::Duration;

#[test]
fn a_child_runs_its_closure_and_exits_zero() {
    let _serial = serial();
    let seen = Value::<i32>::new(0).expect("value");
    let child_seen = seen.clone();
    let mut p = Process::new(move || child_seen.set(27).expect("set")).name("cuber");
    assert_eq!(p.name, "cuber");
    assert_eq!(p.pid(), None);
    p.start().expect("start");
    assert!(
        p.pid()
            .is_some_and(|pid| pid != ferrokernel_prelude::os::getpid())
    );
    p.join().expect("join");
    assert_eq!((seen.get().expect("get"), p.exitcode()), (27, Some(0)));
    assert!(!p.is_alive());
}

#[test]
fn starting_twice_or_joining_unstarted_is_an_error() {
    let _serial = serial();
    let mut unstarted = Process::new(|| {});
    assert!(matches!(unstarted.join(), Err(Error::NotStarted)));
    let mut p = Process::new(|| {});
    p.start().expect("start");
    assert!(matches!(p.start(), Err(Error::AlreadyStarted)));
    p.join().expect("join");
}

#[test]
fn memory_is_not_shared_unless_asked() {
    let _serial = serial();
    // The parent's list, and what the child saw in its own copy of it.
    let list = std::sync::Arc::new(std::sync::Mutex::new(vec![0]));
    let seen_by_child = Value::<usize>::new(0).expect("value");
    let (child_list, report) = (list.clone(), seen_by_child.clone());
    let mut p = Process::new(move || {
        let mut mine = child_list.lock().expect("mutex");
        mine.extend([1, 2, 3]);
        report.set(mine.len()).expect("set");
    });
    p.start().expect("start");
    p.join().expect("join");
    assert_eq!(p.exitcode(), Some(0));
    assert_eq!(
        seen_by_child.get().expect("get"),
        4,
        "the child changed its copy"
    );
    assert_eq!(
        *list.lock().expect("mutex"),
        [0],
        "the parent's list is untouched"
    );
}

#[test]
fn a_panicking_child_exits_one_and_a_killed_child_reports_the_signal() {
    let _serial = serial();
    let mut panicking = Process::new(|| panic!("child failure"));
    panicking.start().expect("start");
    panicking.join().expect("join");
    assert_eq!(panicking.exitcode(), Some(1));

    let mut sleeper = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
    sleeper.start().expect("start");
    assert!(
        !sleeper
            .join_timeout(Duration::from_millis(50))
            .expect("join")
    );
    assert!(sleeper.is_alive());
    sleeper.kill();
    sleeper.join().expect("join");
    assert_eq!(sleeper.exitcode(), Some(-9));

    let mut terminated = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
    terminated.start().expect("start");
    terminated.terminate();
    terminated.join().expect("join");
    assert_eq!(terminated.exitcode(), Some(-15));
}

#[test]
fn the_panic_message_goes_to_stderr() {
    let _serial = serial();
    // Run a scenario in a fresh copy of this test binary, without output capture.
    let output = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--exact",
            "process::scenario_panicking_child",
            "--ignored",
            "--nocapture",
        ])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the child's panic message"),
        "stderr was: {stderr}"
    );
    assert!(output.status.success());
}

#[test]
#[ignore = "run by the_panic_message_goes_to_stderr in its own process"]
fn scenario_panicking_child() {
    let mut p = Process::new(|| panic!("the child's panic message"));
    p.start().expect("start");
    p.join().expect("join");
    assert_eq!(p.exitcode(), Some(1));
}

#[test]
fn names_current_process_and_active_children() {
    let _serial = serial();
    assert_eq!(current_process().name(), "MainProcess");
    assert_eq!(current_process().pid(), ferrokernel_prelude::os::getpid());
    let names = Queue::<(String, i32)>::new().expect("queue");
    let sender = names.clone();
    let mut p = Process::new(move || {
        let me = current_process();
        sender
            .put((me.name().to_owned(), ferrokernel_prelude::os::getppid()))
            .expect("put");
        std::thread::sleep(Duration::from_millis(300));
    })
    .name("worker-7");
    p.start().expect("start");
    let (name, parent) = names.get().expect("get");
    assert_eq!(
        (name.as_str(), parent),
        ("worker-7", ferrokernel_prelude::os::getpid())
    );
    assert!(
        active_children()
            .iter()
            .any(|c| Some(c.pid) == p.pid() && c.name == "worker-7")
    );
    p.join().expect("join");
    assert!(!active_children().iter().any(|c| Some(c.pid) == p.pid()));
    assert!(multiprocessing::cpu_count() >= 1);
}

#[test]
fn a_child_dies_with_its_parent() {
    let _serial = serial();
    let grandchild = Value::<i32>::new(0).expect("value");
    let report = grandchild.clone();
    let mut parent = Process::new(move || {
        let mut child = Process::new(|| std::thread::sleep(Duration::from_secs(60)));
        child.start().expect("start");
        report.set(child.pid().expect("pid")).expect("set");
        std::thread::sleep(Duration::from_secs(60));
    });
    parent.start().expect("start");
    assert!(crate::common::eventually(
        Duration::from_secs(5),
        || grandchild.get().expect("get") != 0
    ));
    parent.kill();
    parent.join().expect("join");
    let pid = grandchild.get().expect("get");
    assert!(
        crate::common::eventually(Duration::from_secs(5), || crate::common::gone(pid)),
        "the grandchild outlived its parent"
    );
}

#[test]
fn exitcode_is_known_as_soon_as_the_child_ends_without_a_join() {
    let _serial = serial();
    let mut p = Process::new(|| std::process::exit(7));
    p.start().expect("start");
    assert!(
        crate::common::eventually(Duration::from_secs(5), || p.exitcode().is_some()),
        "exitcode stayed None after the child ended"
    );
    assert_eq!(p.exitcode(), Some(7));
    assert!(!p.is_alive());
    p.join().expect("join");
    assert_eq!(p.exitcode(), Some(7), "join agrees");
}

#[test]
fn a_child_killed_by_a_signal_reports_minus_the_signal_and_names_it() {
    let _serial = serial();
    let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(30))).name("victim");
    assert_eq!(p.to_string(), "victim (not started)");
    p.start().expect("start");
    let pid = p.pid().expect("pid");
    assert_eq!(p.to_string(), format!("victim (pid {pid}) is running"));
    ferrokernel_prelude::os::kill(pid, ferrokernel_prelude::os::SIGKILL).expect("kill");
    p.join().expect("join");
    assert_eq!(p.exitcode(), Some(-9));
    assert_eq!(
        p.to_string(),
        format!("victim (pid {pid}) was killed by SIGKILL (signal 9)")
    );
    assert!(format!("{p:?}").contains("SIGKILL"));
    // The record a timeline reads says the same, without asking the system.
    let record = p.record();
    assert_eq!((record.pid, record.exitcode), (Some(pid), Some(-9)));
    assert_eq!(record.describe(), "victim was killed by SIGKILL (signal 9)");
    assert!(record.started.is_some() && record.ended >= record.started);
}

/// A stand-in for the notebook runtime's crash handler: prints nothing and
/// aborts, as evcxr's does after printing a backtrace.
extern "C" fn abort_on_crash(_signal: libc::c_int) {
    // SAFETY: abort is async-signal-safe.
    unsafe { libc::abort() }
}

#[test]
fn a_segfaulting_child_reports_sigsegv_even_when_the_parent_has_a_crash_handler() {
    let _serial = serial();
    // SAFETY: installs (and below restores) a SIGSEGV handler in this process;
    // the handler only calls abort, which is async-signal-safe.
    let previous = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = abort_on_crash as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        let mut previous: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGSEGV, &action, &mut previous);
        previous
    };
    let mut p = Process::new(|| {
        // SAFETY: the child raises SIGSEGV on purpose, as a crash would.
        unsafe { libc::raise(libc::SIGSEGV) };
    });
    p.start().expect("start");
    p.join().expect("join");
    // SAFETY: puts back the handler saved above.
    unsafe { libc::sigaction(libc::SIGSEGV, &previous, std::ptr::null_mut()) };
    assert_eq!(
        p.exitcode(),
        Some(-11),
        "not SIGABRT from the inherited handler"
    );
    assert!(
        p.to_string().ends_with("was killed by SIGSEGV (signal 11)"),
        "{p}"
    );
}

#[test]
fn a_daemonic_process_cannot_start_children() {
    // CPython: _TestProcess.test_daemon_argument (and Process.start's check).
    let _serial = serial();
    let refused = Value::<bool>::new(false).expect("value");
    let report = refused.clone();
    let mut p = Process::new(move || {
        let outcome = Process::new(|| {}).start();
        report
            .set(matches!(outcome, Err(Error::DaemonicChildren)))
            .expect("set");
        assert!(multiprocessing::current_process().daemon());
    })
    .daemon(true);
    assert!(p.daemon);
    p.start().expect("start");
    p.join().expect("join");
    assert_eq!(p.exitcode(), Some(0));
    assert!(refused.get().expect("get"));
    assert!(!multiprocessing::current_process().daemon());
}

#[test]
fn a_child_joins_its_children_and_terminates_its_daemonic_ones_when_it_ends() {
    let _serial = serial();
    let (finished, daemon_pid) = (
        Value::<bool>::new(false).expect("value"),
        Value::<i32>::new(0).expect("value"),
    );
    let (report, report_pid) = (finished.clone(), daemon_pid.clone());
    let mut parent = Process::new(move || {
        let mut worker = Process::new(move || {
            std::thread::sleep(Duration::from_millis(150));
            report.set(true).expect("set");
        });
        let mut daemon = Process::new(|| std::thread::sleep(Duration::from_secs(30))).daemon(true);
        worker.start().expect("start");
        daemon.start().expect("start");
        report_pid.set(daemon.pid().expect("pid")).expect("set");
        // Returns without joining either.
    });
    parent.start().expect("start");
    assert!(parent.join_timeout(Duration::from_secs(10)).expect("join"));
    assert_eq!(parent.exitcode(), Some(0));
    assert!(
        finished.get().expect("get"),
        "the non-daemonic child was joined before its parent left"
    );
    let daemon = daemon_pid.get().expect("get");
    assert!(
        crate::common::eventually(Duration::from_secs(5), || crate::common::gone(daemon)),
        "the daemonic child was terminated"
    );
}

#[test]
fn a_library_program_waits_for_children_and_threads_when_main_returns() {
    let _serial = serial();
    // Run a scenario in a fresh copy of this test binary: when its `main`
    // returns, the prelude's exit handler runs.
    let started = std::time::Instant::now();
    let output = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--exact",
            "process::scenario_leaves_children_and_threads_running",
            "--ignored",
            "--nocapture",
        ])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("child finished"), "{stdout}");
    assert!(stdout.contains("thread finished"), "{stdout}");
    assert!(!stdout.contains("daemon finished"), "{stdout}");
    assert!(started.elapsed() < Duration::from_secs(20));
    let daemon: i32 = stdout
        .lines()
        .find_map(|line| line.split("daemon pid ").nth(1))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("the scenario printed the daemon's pid");
    assert!(
        crate::common::eventually(Duration::from_secs(5), || crate::common::gone(daemon)),
        "the daemonic child was terminated at exit"
    );
}

#[test]
#[ignore = "run by a_library_program_waits_for_children_and_threads_when_main_returns"]
fn scenario_leaves_children_and_threads_running() {
    // Started from the test harness's thread, which ends before `main`
    // returns: the children must outlive it.
    let mut thread = ferrokernel_prelude::threading::Thread::new("late", || {
        std::thread::sleep(Duration::from_millis(300));
        println!("thread finished");
    });
    thread.start().expect("start");
    let mut child = Process::new(|| {
        std::thread::sleep(Duration::from_millis(300));
        println!("child finished");
    });
    child.start().expect("start");
    let mut daemon = Process::new(|| {
        std::thread::sleep(Duration::from_secs(30));
        println!("daemon finished");
    })
    .daemon(true);
    daemon.start().expect("start");
    println!("daemon pid {}", daemon.pid().expect("pid"));
}

#[test]
fn a_child_outlives_the_thread_that_started_it_but_not_its_parent_process() {
    let _serial = serial();
    let done = Value::<bool>::new(false).expect("value");
    let report = done.clone();
    let pid = std::thread::spawn(move || {
        let mut p = Process::new(move || {
            std::thread::sleep(Duration::from_millis(200));
            report.set(true).expect("set");
        });
        p.start().expect("start");
        p.pid().expect("pid")
        // The thread ends here, long before the child.
    })
    .join()
    .expect("thread");
    assert!(
        crate::common::eventually(Duration::from_secs(5), || done.get().expect("get")),
        "the child died with the thread that started it"
    );
    let mut reaped = false;
    assert!(crate::common::eventually(Duration::from_secs(5), || {
        reaped = !active_children().iter().any(|c| c.pid == pid);
        reaped
    }));
}

#[test]
fn the_parent_process_is_named_in_the_child() {
    // CPython: _TestProcess.test_parent_process.
    let _serial = serial();
    assert!(multiprocessing::parent_process().is_none());
    let seen = Queue::<(String, i32, bool)>::new().expect("queue");
    let sender = seen.clone();
    let mut p = Process::new(move || {
        let parent = multiprocessing::parent_process().expect("a parent");
        sender
            .put((parent.name().to_owned(), parent.pid(), parent.is_alive()))
            .expect("put");
        let sender = sender.clone();
        let mut grandchild = Process::new(move || {
            let parent = multiprocessing::parent_process().expect("a parent");
            sender
                .put((parent.name().to_owned(), parent.pid(), parent.is_alive()))
                .expect("put");
        });
        grandchild.start().expect("start");
        grandchild.join().expect("join");
    })
    .name("middle");
    p.start().expect("start");
    let from_child = seen.get().expect("get");
    let from_grandchild = seen.get().expect("get");
    p.join().expect("join");
    assert_eq!(
        from_child,
        (
            "MainProcess".to_owned(),
            ferrokernel_prelude::os::getpid(),
            true
        )
    );
    assert_eq!(
        from_grandchild,
        ("middle".to_owned(), p.pid().expect("pid"), true)
    );
}

#[test]
fn only_the_fork_start_method_exists_and_asking_for_another_says_why() {
    let _serial = serial();
    assert_eq!(multiprocessing::get_start_method(), "fork");
    assert_eq!(multiprocessing::get_all_start_methods(), ["fork"]);
    multiprocessing::set_start_method("fork").expect("fork is fine");
    for method in ["spawn", "forkserver"] {
        let error = multiprocessing::set_start_method(method).expect_err("refused");
        assert!(matches!(&error, Error::StartMethod { method: m } if m == method));
        let text = error.to_string();
        assert!(
            text.contains(method) && text.contains("fresh interpreter"),
            "{text}"
        );
    }
}

#[test]
fn forking_is_safe_while_another_thread_uses_the_bookkeeping() {
    let _serial = serial();
    // Two threads keep taking the bookkeeping locks while this one forks
    // children that take them at once. Before the books were held across
    // the fork, about one child in forty deadlocked here.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hammers: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = active_children();
                    let _ = current_process();
                    let _ = ferrokernel_prelude::threading::enumerate();
                }
            })
        })
        .collect();
    let mut stuck = 0;
    for _ in 0..200 {
        let mut p = Process::new(|| {
            let mut grandchild = Process::new(|| {});
            grandchild.start().expect("start");
            grandchild.join().expect("join");
        });
        p.start().expect("start");
        if !p.join_timeout(Duration::from_secs(2)).expect("join") {
            stuck += 1;
            p.kill();
            let _ = p.join();
        } else if p.exitcode() != Some(0) {
            stuck += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    hammers.into_iter().for_each(|h| h.join().expect("hammer"));
    assert_eq!(
        stuck, 0,
        "children deadlocked on bookkeeping inherited locked"
    );
}

#[test]
fn os_kill_signals_processes_and_reports_missing_ones() {
    let _serial = serial();
    let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
    p.start().expect("start");
    let pid = p.pid().expect("pid");
    ferrokernel_prelude::os::kill(pid, 0).expect("exists");
    ferrokernel_prelude::os::kill(pid, ferrokernel_prelude::os::SIGTERM).expect("term");
    p.join().expect("join");
    assert_eq!(p.exitcode(), Some(-ferrokernel_prelude::os::SIGTERM));
    match ferrokernel_prelude::os::kill(pid, 0) {
        Err(Error::Io(error)) => assert_eq!(error.raw_os_error(), Some(libc::ESRCH)),
        other => panic!("expected ESRCH for a reaped pid, got {other:?}"),
    }
    assert!(ferrokernel_prelude::os::cpu_count() >= multiprocessing::cpu_count());
}

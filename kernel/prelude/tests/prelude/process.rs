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
    let mut result: Vec<i32> = Vec::new();
    let mut p = Process::new(move || {
        result.push(1);
        assert_eq!(result.len(), 1);
    });
    p.start().expect("start");
    p.join().expect("join");
    assert_eq!(p.exitcode(), Some(0));
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

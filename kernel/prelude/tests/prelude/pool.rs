use crate::common::serial;
use ferrokernel_prelude::multiprocessing::{Error, Pool};
use std::collections::BTreeSet;
use std::time::Duration;

#[test]
fn map_keeps_input_order_for_ten_thousand_items() {
    let _serial = serial();
    let pool = Pool::with_processes(2).expect("pool");
    let offset = 7u64;
    let results = pool
        .map(|n: u64| n * n + offset, 0..10_000u64)
        .expect("map");
    assert_eq!(
        results,
        (0..10_000u64).map(|n| n * n + offset).collect::<Vec<_>>()
    );
    assert_eq!(
        pool.map(|s: &str| s.len(), vec!["a", "bb", "ccc"])
            .expect("map"),
        [1, 2, 3]
    );
    assert!(
        pool.map(|n: u8| n, Vec::<u8>::new())
            .expect("empty")
            .is_empty()
    );
}

#[test]
fn work_really_runs_in_other_processes() {
    let _serial = serial();
    let pool = Pool::with_processes(2).expect("pool");
    let pids: BTreeSet<i32> = pool
        .map(|_: u32| ferrokernel_prelude::os::getpid(), 0..64)
        .expect("map")
        .into_iter()
        .collect();
    assert!(!pids.contains(&ferrokernel_prelude::os::getpid()));
    assert!(!pids.is_empty() && pids.len() <= 2);
}

#[test]
fn a_task_panic_is_an_error_and_the_pool_stays_usable() {
    let _serial = serial();
    let pool = Pool::with_processes(2).expect("pool");
    let failed = pool.map(
        |n: i32| if n == 37 { panic!("bad item {n}") } else { n },
        0..100,
    );
    match failed {
        Err(Error::TaskPanicked { message }) => assert_eq!(message, "bad item 37"),
        other => panic!("expected TaskPanicked, got {other:?}"),
    }
    assert_eq!(
        pool.map(|n: i32| n + 1, [1, 2]).expect("still works"),
        [2, 3]
    );
}

#[test]
fn a_killed_worker_is_an_error_not_a_hang() {
    let _serial = serial();
    let pool = Pool::with_processes(2).expect("pool");
    let result = pool.map(
        |n: i32| {
            if n == 5 {
                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            }
            n
        },
        0..20,
    );
    assert!(
        matches!(result, Err(Error::WorkerDied { .. })),
        "{result:?}"
    );
    assert_eq!(pool.map(|n: i32| n, [9]).expect("still works"), [9]);
}

#[test]
fn imap_apply_and_async_results() {
    let _serial = serial();
    let pool = Pool::with_processes(2).expect("pool");
    let ordered: Vec<u32> = pool
        .imap(|n: u32| n * 2, 0..50)
        .expect("imap")
        .map(|r| r.expect("item"))
        .collect();
    assert_eq!(ordered, (0..50).map(|n| n * 2).collect::<Vec<_>>());
    let mut unordered: Vec<u32> = pool
        .imap_unordered(|n: u32| n * 2, 0..50)
        .expect("imap")
        .map(|r| r.expect("item"))
        .collect();
    unordered.sort_unstable();
    assert_eq!(unordered, ordered);

    let captured = String::from("captured");
    assert_eq!(pool.apply(move || captured.len()).expect("apply"), 8);
    let slow = pool
        .apply_async(|| {
            std::thread::sleep(Duration::from_millis(200));
            42u8
        })
        .expect("apply_async");
    assert!(!slow.ready());
    assert!(!slow.wait_timeout(Duration::from_millis(10)).expect("wait"));
    assert_eq!(slow.get().expect("get"), 42);
    let quick = pool.map_async(|n: u8| n + 1, [1, 2, 3]).expect("map_async");
    quick.wait().expect("wait");
    assert!(quick.ready());
    assert_eq!(
        quick.get_timeout(Duration::from_secs(5)).expect("get"),
        [2, 3, 4]
    );
    let never = pool
        .apply_async(|| std::thread::sleep(Duration::from_secs(30)))
        .expect("apply_async");
    assert!(matches!(
        never.get_timeout(Duration::from_millis(20)),
        Err(Error::Timeout)
    ));
}

#[test]
fn close_and_terminate() {
    let _serial = serial();
    let pool = Pool::with_processes(2).expect("pool");
    let pending = pool.apply_async(|| 5).expect("apply_async");
    pool.close();
    assert!(matches!(
        pool.map(|n: u8| n, [1]),
        Err(Error::PoolNotRunning)
    ));
    pool.join().expect("join");
    assert_eq!(pending.get().expect("get"), 5);
    let pool = Pool::with_processes(1).expect("pool");
    let stuck = pool
        .apply_async(|| std::thread::sleep(Duration::from_secs(30)))
        .expect("apply_async");
    pool.terminate();
    assert!(stuck.ready(), "terminated work is over");
}

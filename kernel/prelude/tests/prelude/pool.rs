use crate::common::{eventually, gone, serial};
use ferrokernel_prelude::multiprocessing::{self, Error, Pool, Process, Queue, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[test]
fn map_keeps_input_order_for_ten_thousand_items() {
    // CPython: _TestPool.test_map and test_empty_iterable.
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
    // CPython: _TestPool.test_apply, test_imap, test_imap_unordered, test_async, test_async_timeout.
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
    // CPython: _TestPool.test_terminate and the close/join protocol.
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

fn worker_pids() -> Vec<i32> {
    multiprocessing::active_children()
        .into_iter()
        .filter(|c| c.name.starts_with("ForkPoolWorker-"))
        .map(|c| c.pid)
        .collect()
}

#[test]
fn map_chunked_keeps_order_for_any_chunk_size() {
    // CPython: _TestPool.test_map_chunksize.
    let _serial = serial();
    let pool = Pool::with_processes(2).expect("pool");
    let expected: Vec<u32> = (0..1_000).map(|n| n * 3).collect();
    for chunk_size in [Some(1), Some(7), Some(999), Some(5_000), None] {
        assert_eq!(
            pool.map_chunked(|n: u32| n * 3, 0..1_000, chunk_size)
                .expect("map"),
            expected,
            "chunk size {chunk_size:?}"
        );
    }
}

#[test]
fn imap_yields_each_result_as_its_task_finishes() {
    // CPython: _TestPool.test_imap (results one at a time).
    let _serial = serial();
    let pool = Pool::with_processes(2).expect("pool");
    let mut results = pool
        .imap(
            |n: u64| {
                if n == 1 {
                    std::thread::sleep(Duration::from_millis(400));
                }
                n * 10
            },
            0..2,
        )
        .expect("imap");
    assert_eq!(results.next().expect("first").expect("ok"), 0);
    let first_at = Instant::now();
    assert_eq!(results.next().expect("second").expect("ok"), 10);
    let gap = first_at.elapsed();
    assert!(
        gap >= Duration::from_millis(250),
        "the first result waited for the slow second one (only {gap:?} between them)"
    );
    assert!(results.next().is_none());
}

#[test]
fn imap_consumes_its_input_lazily_and_an_endless_input_works() {
    let _serial = serial();
    let pool = Pool::with_processes(2).expect("pool");
    let pulled = std::cell::Cell::new(0u64);
    let input = std::iter::successors(Some(0u64), |n| Some(n + 1)).inspect(|_| {
        pulled.set(pulled.get() + 1);
    });
    let mut squares = pool.imap(|n: u64| n * n, input).expect("imap");
    let first: Vec<u64> = squares.by_ref().take(3).map(|r| r.expect("ok")).collect();
    assert_eq!(first, [0, 1, 4]);
    let after_three = pulled.get();
    assert!(
        after_three < 100,
        "pulled {after_three} items to produce three results"
    );
    let more: Vec<u64> = squares
        .by_ref()
        .take(2_000)
        .map(|r| r.expect("ok"))
        .collect();
    assert_eq!(more[1_999], 2_002 * 2_002);
    assert!(
        pulled.get() < 2_003 + 1 + 2 * (1 << 14),
        "pulled {} for 2003 results",
        pulled.get()
    );
    drop(squares);
    // Ten thousand items in order, every chunk size.
    for chunk in [1, 3, 64] {
        let got: Vec<u32> = pool
            .imap_chunked(|n: u32| n + 1, 0..10_000, chunk)
            .expect("imap")
            .map(|r| r.expect("ok"))
            .collect();
        assert_eq!(got, (1..=10_000).collect::<Vec<_>>(), "chunk {chunk}");
        let mut unordered: Vec<u32> = pool
            .imap_unordered_chunked(|n: u32| n + 1, 0..10_000, chunk)
            .expect("imap")
            .map(|r| r.expect("ok"))
            .collect();
        unordered.sort_unstable();
        assert_eq!(unordered, got);
    }
}

#[test]
fn imap_reports_a_panic_and_ends() {
    // CPython: _TestPool.test_imap_handle_iterable_exception (the error arrives in the iterator).
    let _serial = serial();
    let pool = Pool::with_processes(2).expect("pool");
    let mut outcome = pool
        .imap(|n: u32| if n == 30 { panic!("bad {n}") } else { n }, 0..100)
        .expect("imap");
    let error = outcome
        .by_ref()
        .find_map(Result::err)
        .expect("an error arrives");
    assert!(matches!(error, Error::TaskPanicked { message } if message == "bad 30"));
    assert!(outcome.next().is_none(), "the iterator ends after an error");
}

#[test]
fn terminate_kills_the_workers_of_imap_and_of_results_nobody_holds() {
    // CPython: _TestPool.test_terminate.
    let _serial = serial();
    let pool = Pool::with_processes(2).expect("pool");
    let mut slow = pool
        .imap(|_: u32| std::thread::sleep(Duration::from_secs(30)), 0..4)
        .expect("imap");
    drop(
        pool.apply_async(|| std::thread::sleep(Duration::from_secs(30)))
            .expect("apply_async"),
    );
    let workers = worker_pids();
    assert_eq!(workers.len(), 3, "two imap workers and one apply worker");
    pool.terminate();
    assert!(matches!(slow.next(), Some(Err(Error::PoolNotRunning))));
    for pid in workers {
        assert!(
            eventually(Duration::from_secs(5), || gone(pid)),
            "worker {pid} survived terminate"
        );
    }
}

#[test]
fn join_waits_for_imap_waves_and_results_nobody_holds_and_leaves_no_zombies() {
    // CPython: _TestPool.test_release_task_refs and the close/join protocol.
    let _serial = serial();
    let pool = Pool::with_processes(2).expect("pool");
    let done = Value::<u32>::new(0).expect("value");
    let counter = done.clone();
    drop(
        pool.apply_async(move || {
            std::thread::sleep(Duration::from_millis(100));
            *counter.get_lock().expect("lock") += 1;
        })
        .expect("apply_async"),
    );
    let counter = done.clone();
    let mut waves = pool
        .imap(
            move |_: u32| {
                std::thread::sleep(Duration::from_millis(50));
                *counter.get_lock().expect("lock") += 10;
            },
            0..2,
        )
        .expect("imap");
    let workers = worker_pids();
    assert!(!workers.is_empty());
    pool.close();
    pool.join().expect("join");
    assert_eq!(done.get().expect("get"), 21, "join waited for all of it");
    for pid in &workers {
        assert!(gone(*pid), "worker {pid} left unreaped (a zombie)");
    }
    assert_eq!(waves.by_ref().count(), 2, "the results are still there");
}

#[test]
fn a_dropped_async_result_leaves_no_zombie() {
    let _serial = serial();
    let pool = Pool::with_processes(1).expect("pool");
    drop(
        pool.apply_async(|| {
            std::thread::sleep(Duration::from_millis(100));
            1u8
        })
        .expect("apply_async"),
    );
    let workers = worker_pids();
    assert_eq!(workers.len(), 1);
    // Any look at the children reaps the ones that ended.
    assert!(eventually(Duration::from_secs(5), || worker_pids().is_empty()));
    assert!(gone(workers[0]), "reaped, not a zombie");
}

#[test]
fn the_initializer_runs_once_in_each_worker_before_its_tasks() {
    // CPython: _TestPool's initializer tests (test_pool_initializer).
    let _serial = serial();
    let initialized = Queue::<i32>::new().expect("queue");
    let report = initialized.clone();
    let marker = Value::<i32>::new(0).expect("value");
    let (marked, init_marker) = (marker.clone(), marker.clone());
    let pool = Pool::builder()
        .processes(2)
        .initializer(move || {
            report.put(ferrokernel_prelude::os::getpid()).expect("put");
            init_marker.set(1).expect("set");
        })
        .build()
        .expect("pool");
    let seen: Vec<(i32, i32)> = pool
        .map(
            move |_: u32| {
                (
                    ferrokernel_prelude::os::getpid(),
                    marked.get().expect("get"),
                )
            },
            0..64,
        )
        .expect("map");
    let mut init_pids = BTreeSet::new();
    while let Some(pid) = initialized.try_get().expect("try") {
        assert!(init_pids.insert(pid), "the initializer ran twice in {pid}");
    }
    assert_eq!(init_pids.len(), 2);
    for (pid, mark) in seen {
        assert!(
            init_pids.contains(&pid),
            "a task ran in an uninitialized worker"
        );
        assert_eq!(mark, 1, "the initializer ran before the task");
    }
}

#[test]
fn callbacks_run_in_this_process_as_soon_as_the_result_arrives() {
    // CPython: _TestPool.test_map_async_callbacks and
    // _TestPoolWorkerErrors.test_async_error_callback.
    let _serial = serial();
    let pool = Pool::with_processes(2).expect("pool");
    let (tx, rx) = std::sync::mpsc::channel();
    let me = ferrokernel_prelude::os::getpid();
    let sender = tx.clone();
    let squares = pool
        .map_async(|n: u64| n * n, 1..=4)
        .expect("map_async")
        .callback(move |squares: &Vec<u64>| {
            sender
                .send(format!(
                    "{} {:?}",
                    ferrokernel_prelude::os::getpid(),
                    squares
                ))
                .expect("send")
        })
        .error_callback(|_| panic!("no error expected"));
    let message = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the callback ran without a get");
    assert_eq!(message, format!("{me} [1, 4, 9, 16]"));
    assert!(squares.successful().expect("ready"));
    assert_eq!(squares.get().expect("get"), [1, 4, 9, 16]);

    let failing = pool
        .apply_async(|| -> u8 { panic!("task trouble") })
        .expect("apply_async")
        .error_callback(move |error| tx.send(error.to_string()).expect("send"));
    let message = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("error callback");
    assert!(message.contains("task trouble"), "{message}");
    assert!(!failing.successful().expect("ready"));
    assert!(matches!(failing.get(), Err(Error::TaskPanicked { .. })));

    // A callback attached after the result arrived runs at once.
    let late = pool.apply_async(|| 5u8).expect("apply_async");
    late.wait().expect("wait");
    let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = ran.clone();
    let late = late.callback(move |_| flag.store(true, std::sync::atomic::Ordering::SeqCst));
    assert!(ran.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(late.get().expect("get"), 5);

    // After terminate, no callback runs (as in Python).
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let error_tx = tx.clone();
    let _never = pool
        .apply_async(|| std::thread::sleep(Duration::from_secs(30)))
        .expect("apply_async")
        .callback(move |_| tx.send(()).expect("send"))
        .error_callback(move |_| error_tx.send(()).expect("send"));
    pool.terminate();
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn successful_is_not_ready_before_the_work_ends() {
    // CPython: _TestPool.test_async (successful raises ValueError while running).
    let _serial = serial();
    let pool = Pool::with_processes(1).expect("pool");
    let slow = pool
        .apply_async(|| std::thread::sleep(Duration::from_millis(200)))
        .expect("apply_async");
    assert!(matches!(slow.successful(), Err(Error::NotReady)));
    slow.wait().expect("wait");
    assert!(slow.successful().expect("ready"));
}

#[test]
fn workers_are_named_and_a_crashed_worker_is_named_by_its_signal() {
    let _serial = serial();
    let pool = Pool::with_processes(1).expect("pool");
    let name = pool
        .apply(|| multiprocessing::current_process().name().to_owned())
        .expect("apply");
    assert!(name.starts_with("ForkPoolWorker-"), "{name}");
    let crashed = pool.map(
        |n: i32| {
            if n == 3 {
                // SAFETY: crash on purpose, as a bug would.
                unsafe { libc::raise(libc::SIGSEGV) };
            }
            n
        },
        0..8,
    );
    match crashed {
        Err(Error::WorkerDied { reason }) => assert!(
            reason.contains("ForkPoolWorker-")
                && reason.ends_with("was killed by SIGSEGV (signal 11)"),
            "{reason}"
        ),
        other => panic!("expected WorkerDied, got {other:?}"),
    }
}

#[test]
fn a_daemonic_process_cannot_use_a_pool() {
    let _serial = serial();
    let refused = Value::<bool>::new(false).expect("value");
    let report = refused.clone();
    let mut p = Process::new(move || {
        let pool = Pool::with_processes(1).expect("pool");
        report
            .set(matches!(
                pool.map(|n: u8| n, [1]),
                Err(Error::DaemonicChildren)
            ))
            .expect("set");
    })
    .daemon(true);
    p.start().expect("start");
    p.join().expect("join");
    assert!(refused.get().expect("get"));
}

#[test]
fn imap_knows_how_many_results_are_left_when_its_input_does() {
    let _serial = serial();
    let pool = Pool::with_processes(2).expect("pool");
    let mut squares = pool.imap(|n: u64| n * n, 0..10).expect("imap");
    assert_eq!(squares.size_hint(), (10, Some(10)));
    squares.next().expect("one").expect("ok");
    assert_eq!(squares.size_hint(), (9, Some(9)));
    assert_eq!(squares.by_ref().count(), 9);
    assert_eq!(squares.size_hint(), (0, Some(0)));
    let unordered = pool
        .imap_unordered(|n: u32| n, vec![1, 2, 3])
        .expect("imap");
    assert_eq!(unordered.size_hint(), (3, Some(3)));
    // An input of unknown length gives no total.
    let filtered = pool
        .imap(|n: u32| n, (0..10).filter(|n| n % 2 == 0))
        .expect("imap");
    assert_eq!(filtered.size_hint().1, None);
}

#[test]
fn map_progress_returns_what_map_does_and_its_failures() {
    let _serial = serial();
    let pool = Pool::with_processes(2).expect("pool");
    assert_eq!(
        pool.map_progress(|n: u64| n + 1, 0..100).expect("map"),
        (1..=100).collect::<Vec<_>>()
    );
    let failed = pool.map_progress(|n: u64| if n == 50 { panic!("fifty") } else { n }, 0..100);
    assert!(
        matches!(&failed, Err(Error::TaskPanicked { message }) if message == "fifty"),
        "{failed:?}"
    );
    let pending = pool.map_async(|n: u32| n * 2, 0..10).expect("map_async");
    assert_eq!(pending.get_progress().expect("get").len(), 10);
    // Still usable afterwards.
    assert_eq!(pool.map(|n: u8| n, [1, 2]).expect("map"), [1, 2]);
}

//! `concurrent::futures`: both executors, futures, `as_completed` and `wait`.

use crate::common::{eventually, serial};
use ferrokernel_prelude::concurrent::futures::{
    ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, Future, ProcessPoolExecutor,
    ThreadPoolExecutor, as_completed, wait, wait_timeout,
};
use ferrokernel_prelude::multiprocessing::{self, Error, Event, Value};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

fn pool_workers() -> usize {
    multiprocessing::active_children()
        .iter()
        .filter(|c| c.name.starts_with("ForkPoolWorker-"))
        .count()
}

#[test]
fn a_process_executor_runs_each_call_in_another_process() {
    let _serial = serial();
    let executor = ProcessPoolExecutor::with_max_workers(2).expect("executor");
    let me = ferrokernel_prelude::os::getpid();
    let captured = String::from("abc");
    let future = executor
        .submit(move || (ferrokernel_prelude::os::getpid(), captured.len() as u64))
        .expect("submit");
    let (pid, sum) = future.result().expect("result");
    assert_ne!(pid, me);
    assert_eq!(sum, 3);
    assert!(future.done() && !future.running() && !future.cancelled());
    assert!(matches!(future.result(), Err(Error::ResultTaken)));
    assert_eq!(
        executor.map(|n: u64| n * n, 0..100).expect("map"),
        (0..100).map(|n| n * n).collect::<Vec<_>>()
    );
}

#[test]
fn at_most_max_workers_calls_run_at_once_and_queued_ones_start_on_their_own() {
    let _serial = serial();
    let executor = ProcessPoolExecutor::with_max_workers(2).expect("executor");
    let inside = Value::<u32>::new(0).expect("value");
    let most = Value::<u32>::new(0).expect("value");
    let finished = Value::<u32>::new(0).expect("value");
    let futures: Vec<Future<()>> = (0..6)
        .map(|_| {
            let (inside, most, finished) = (inside.clone(), most.clone(), finished.clone());
            executor
                .submit(move || {
                    let now = {
                        let mut inside = inside.get_lock().expect("lock");
                        *inside += 1;
                        *inside
                    };
                    let mut peak = most.get_lock().expect("lock");
                    *peak = (*peak).max(now);
                    drop(peak);
                    std::thread::sleep(Duration::from_millis(40));
                    *inside.get_lock().expect("lock") -= 1;
                    *finished.get_lock().expect("lock") += 1;
                })
                .expect("submit")
        })
        .collect();
    // Nobody waits on the futures: the dispatcher starts the queued calls.
    assert!(
        eventually(Duration::from_secs(10), || finished.get().expect("get")
            == 6),
        "queued calls did not start without a caller waiting"
    );
    assert_eq!(most.get().expect("get"), 2, "never more than max_workers");
    assert!(futures.iter().all(Future::done));
    assert!(
        eventually(Duration::from_secs(5), || pool_workers() == 0),
        "the workers were reaped"
    );
}

#[test]
fn a_queued_call_can_be_cancelled_and_a_running_one_cannot() {
    // CPython: test_concurrent_futures' FutureTests.test_cancel.
    let _serial = serial();
    let threads = ThreadPoolExecutor::with_max_workers(1).expect("executor");
    let busy = threads
        .submit(|| std::thread::sleep(Duration::from_millis(150)))
        .expect("submit");
    let queued = threads.submit(|| ()).expect("submit");
    assert!(eventually(Duration::from_secs(5), || busy.running()));
    assert!(!busy.cancel(), "a running call is not cancelled");
    assert!(queued.cancel());
    assert!(queued.cancelled() && queued.done());
    assert!(matches!(queued.result(), Err(Error::Cancelled)));
    busy.result().expect("busy");
    let executor = ProcessPoolExecutor::with_max_workers(1).expect("executor");
    let busy = executor
        .submit(|| std::thread::sleep(Duration::from_millis(100)))
        .expect("submit");
    let queued = executor.submit(|| 5u8).expect("submit");
    assert!(queued.cancel());
    assert!(queued.cancelled() && queued.done());
    assert!(matches!(queued.result(), Err(Error::Cancelled)));
    busy.result().expect("busy");
    assert!(!busy.cancel());
}

#[test]
fn done_callbacks_run_when_the_call_finishes_without_anyone_waiting() {
    // CPython: test_concurrent_futures' FutureTests.test_done_callback_*.
    let _serial = serial();
    let executor = ProcessPoolExecutor::with_max_workers(1).expect("executor");
    let (tx, rx) = std::sync::mpsc::channel();
    let future = executor.submit(|| 40u32 + 2).expect("submit");
    let sender = tx.clone();
    future.add_done_callback(move |result| {
        sender
            .send((ferrokernel_prelude::os::getpid(), result.ok().copied()))
            .expect("send")
    });
    let (pid, value) = rx.recv_timeout(Duration::from_secs(10)).expect("called");
    assert_eq!((pid, value), (ferrokernel_prelude::os::getpid(), Some(42)));
    // Added after it finished: runs at once, in this thread.
    let sender = tx.clone();
    future.add_done_callback(move |result| sender.send((0, result.ok().copied())).expect("send"));
    assert_eq!(rx.try_recv().expect("at once"), (0, Some(42)));
    assert_eq!(future.result().expect("still there"), 42);

    let failing = executor
        .submit(|| -> u32 { panic!("callback sees this") })
        .expect("submit");
    let errors = Arc::new(std::sync::Mutex::new(String::new()));
    let seen = errors.clone();
    failing.add_done_callback(move |result| {
        if let Err(error) = result {
            *seen.lock().expect("mutex") = error.to_string();
        }
    });
    assert!(matches!(failing.result(), Err(Error::TaskPanicked { .. })));
    assert!(errors.lock().expect("mutex").contains("callback sees this"));
}

#[test]
fn a_worker_killed_by_a_signal_is_named_in_the_error() {
    let _serial = serial();
    let executor = ProcessPoolExecutor::with_max_workers(1).expect("executor");
    let future = executor
        .submit(|| {
            // SAFETY: crash on purpose.
            unsafe { libc::raise(libc::SIGSEGV) };
            1u8
        })
        .expect("submit");
    match future.result() {
        Err(Error::WorkerDied { reason }) => {
            assert!(
                reason.ends_with("was killed by SIGSEGV (signal 11)"),
                "{reason}"
            )
        }
        other => panic!("expected WorkerDied, got {other:?}"),
    }
    assert_eq!(
        executor
            .submit(|| 3u8)
            .expect("submit")
            .result()
            .expect("usable"),
        3
    );
}

#[test]
fn as_completed_yields_futures_in_the_order_they_finish() {
    // CPython: test_concurrent_futures' AsCompletedTests.
    let _serial = serial();
    let executor = ProcessPoolExecutor::with_max_workers(3).expect("executor");
    let futures: Vec<Future<u64>> = [300u64, 10, 150]
        .into_iter()
        .map(|millis| {
            executor
                .submit(move || {
                    std::thread::sleep(Duration::from_millis(millis));
                    millis
                })
                .expect("submit")
        })
        .collect();
    let order: Vec<u64> = as_completed(&futures)
        .map(|future| future.expect("finished").result().expect("result"))
        .collect();
    assert_eq!(order, [10, 150, 300]);
    let threads = ThreadPoolExecutor::with_max_workers(3).expect("executor");
    let futures: Vec<Future<u64>> = [240u64, 10, 120]
        .into_iter()
        .map(|millis| {
            threads
                .submit(move || {
                    std::thread::sleep(Duration::from_millis(millis));
                    millis
                })
                .expect("submit")
        })
        .collect();
    let order: Vec<u64> = as_completed(&futures)
        .map(|future| future.expect("finished").result().expect("result"))
        .collect();
    assert_eq!(order, [10, 120, 240]);
}

#[test]
fn wait_returns_when_its_condition_holds() {
    // CPython: test_concurrent_futures' WaitTests (first completed, first exception, all completed).
    let _serial = serial();
    let executor = ProcessPoolExecutor::with_max_workers(3).expect("executor");
    let slow = |millis: u64, fail: bool| {
        executor
            .submit(move || {
                std::thread::sleep(Duration::from_millis(millis));
                if fail {
                    panic!("failed after {millis} ms");
                }
                millis
            })
            .expect("submit")
    };
    let futures = [slow(400, false), slow(20, false), slow(400, false)];
    let waited = wait(&futures, FIRST_COMPLETED).expect("wait");
    assert_eq!((waited.done.len(), waited.not_done.len()), (1, 2));
    assert!(std::ptr::eq(waited.done[0], &futures[1]));
    let waited = wait(&futures, ALL_COMPLETED).expect("wait");
    assert_eq!((waited.done.len(), waited.not_done.len()), (3, 0));

    let futures = [slow(400, false), slow(30, true), slow(400, false)];
    let waited = wait(&futures, FIRST_EXCEPTION).expect("wait");
    assert!(waited.done.iter().any(|f| std::ptr::eq(*f, &futures[1])));
    assert!(
        !waited.not_done.is_empty(),
        "returned at the first exception"
    );
    let waited = wait_timeout(&futures, Duration::from_millis(10), ALL_COMPLETED).expect("wait");
    assert!(
        !waited.not_done.is_empty(),
        "a timeout returns what is done"
    );
}

#[test]
fn shutdown_waits_for_every_call_and_refuses_new_ones() {
    // CPython: test_concurrent_futures' ExecutorShutdownTest.
    let _serial = serial();
    let finished = Value::<u32>::new(0).expect("value");
    let executor = ProcessPoolExecutor::with_max_workers(1).expect("executor");
    let futures: Vec<Future<()>> = (0..3)
        .map(|_| {
            let finished = finished.clone();
            executor
                .submit(move || {
                    std::thread::sleep(Duration::from_millis(30));
                    *finished.get_lock().expect("lock") += 1;
                })
                .expect("submit")
        })
        .collect();
    executor.shutdown(true).expect("shutdown");
    assert_eq!(finished.get().expect("get"), 3);
    assert!(futures.iter().all(Future::done));
    assert!(matches!(
        executor.submit(|| ()),
        Err(Error::ExecutorShutdown)
    ));
    assert!(matches!(
        executor.map(|n: u8| n, [1]),
        Err(Error::ExecutorShutdown)
    ));

    let count = Arc::new(AtomicU32::new(0));
    {
        let threads = ThreadPoolExecutor::with_max_workers(2).expect("executor");
        for _ in 0..4 {
            let count = count.clone();
            threads
                .submit(move || {
                    std::thread::sleep(Duration::from_millis(20));
                    count.fetch_add(1, Ordering::SeqCst);
                })
                .expect("submit");
        }
        // Dropped here: the drop waits, as leaving Python's `with` block does.
    }
    assert_eq!(count.load(Ordering::SeqCst), 4);
}

#[test]
fn a_thread_executor_reuses_at_most_max_workers_named_threads() {
    let _serial = serial();
    let executor = ThreadPoolExecutor::with_max_workers(2).expect("executor");
    let names: Vec<String> = executor
        .map(
            |_: u32| {
                std::thread::sleep(Duration::from_millis(5));
                ferrokernel_prelude::threading::current_thread()
                    .name()
                    .to_owned()
            },
            0..20,
        )
        .expect("map");
    let distinct: std::collections::BTreeSet<&String> = names.iter().collect();
    assert!(distinct.len() <= 2, "{distinct:?}");
    assert!(names.iter().all(|n| n.starts_with("ThreadPoolExecutor-")));
    let failing = executor
        .submit(|| -> u8 { panic!("thread task") })
        .expect("submit");
    assert!(
        matches!(failing.result(), Err(Error::TaskPanicked { message }) if message == "thread task")
    );
    assert_eq!(
        executor
            .submit(|| 1)
            .expect("submit")
            .result()
            .expect("still works"),
        1
    );
}

#[test]
fn a_done_callback_may_submit_more_work() {
    // Python code often chains calls this way; the callback runs in the
    // executor's dispatcher, which must not hold its own lock meanwhile.
    let _serial = serial();
    let executor = Arc::new(ProcessPoolExecutor::with_max_workers(1).expect("executor"));
    let (tx, rx) = std::sync::mpsc::channel();
    let first = executor.submit(|| 1u32).expect("submit");
    let chained = Arc::clone(&executor);
    first.add_done_callback(move |result| {
        let next = result.copied().unwrap_or(0) + 1;
        let future = chained
            .submit(move || next * 10)
            .expect("submit from a callback");
        tx.send(future).expect("send");
    });
    let second = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the callback ran");
    assert_eq!(second.result().expect("result"), 20);
}

#[test]
fn as_completed_knows_how_many_futures_are_left() {
    let _serial = serial();
    let executor = ProcessPoolExecutor::with_max_workers(2).expect("executor");
    let futures: Vec<_> = (0..4u32)
        .map(|n| executor.submit(move || n).expect("submit"))
        .collect();
    let mut finished = as_completed(&futures);
    assert_eq!(finished.size_hint(), (4, Some(4)));
    finished.next().expect("one").expect("ok");
    assert_eq!(finished.size_hint(), (3, Some(3)));
    assert_eq!(finished.count(), 3);
}

/// How long a worker in these tests waits for the test to let it go: far
/// beyond any run, so a failing test ends instead of hanging.
const RELEASE: Duration = Duration::from_secs(60);

/// Holds the executor's only worker until `gate` is set, so that the calls
/// submitted next queue up and start together, as one batch.
fn hold(executor: &ProcessPoolExecutor, gate: &Event) -> Future<bool> {
    let gate = gate.clone();
    executor
        .submit(move || gate.wait_timeout(RELEASE).expect("wait"))
        .expect("submit")
}

#[test]
fn calls_queued_behind_a_busy_worker_share_one_fork_and_stream_their_results() {
    let _serial = serial();
    let executor = ProcessPoolExecutor::with_max_workers(1).expect("executor");
    let (gate, last) = (Event::new().expect("event"), Event::new().expect("event"));
    let blocker = hold(&executor, &gate);
    let quick: Vec<Future<(i32, u32)>> = (0..20)
        .map(|n| {
            executor
                .submit(move || (ferrokernel_prelude::os::getpid(), n * n))
                .expect("submit")
        })
        .collect();
    let waiting = last.clone();
    let slow = executor
        .submit(move || waiting.wait_timeout(RELEASE).expect("wait"))
        .expect("submit");
    gate.set().expect("set");
    assert!(blocker.result().expect("blocker"));
    // The quick calls' results come while the same worker still runs `slow`.
    let results: Vec<(i32, u32)> = quick
        .iter()
        .map(|future| future.result_timeout(RELEASE).expect("streamed"))
        .collect();
    assert!(!slow.done(), "the batch's last call is still waiting");
    assert_eq!(
        results.iter().map(|r| r.1).collect::<Vec<_>>(),
        (0..20).map(|n| n * n).collect::<Vec<_>>()
    );
    let pids: std::collections::BTreeSet<i32> = results.iter().map(|r| r.0).collect();
    assert_eq!(pids.len(), 1, "one fork for the queued calls: {pids:?}");
    last.set().expect("set");
    assert!(slow.result().expect("slow"));
}

#[test]
fn a_worker_killed_mid_batch_keeps_finished_results_and_fails_the_rest() {
    let _serial = serial();
    let executor = ProcessPoolExecutor::with_max_workers(1).expect("executor");
    let gate = Event::new().expect("event");
    let blocker = hold(&executor, &gate);
    let first = executor.submit(|| 7u32).expect("submit");
    let worker = Value::<i32>::new(0).expect("value");
    let running = worker.clone();
    let doomed = executor
        .submit(move || {
            running.set(ferrokernel_prelude::os::getpid()).expect("set");
            std::thread::sleep(RELEASE);
            8u32
        })
        .expect("submit");
    let queued: Vec<Future<u32>> = (0..3)
        .map(|n| executor.submit(move || n).expect("submit"))
        .collect();
    gate.set().expect("set");
    assert!(blocker.result().expect("blocker"));
    assert_eq!(first.result().expect("finished before the kill"), 7);
    assert!(
        eventually(RELEASE, || worker.get().expect("get") != 0),
        "the second call started"
    );
    ferrokernel_prelude::os::kill(worker.get().expect("get"), ferrokernel_prelude::os::SIGKILL)
        .expect("kill");
    match doomed.result() {
        Err(Error::WorkerDied { reason }) => {
            assert!(
                reason.ends_with("was killed by SIGKILL (signal 9)"),
                "{reason}"
            )
        }
        other => panic!("expected WorkerDied, got {other:?}"),
    }
    for future in &queued {
        match future.result() {
            Err(Error::WorkerDied { reason }) => assert!(
                reason.contains("SIGKILL") && reason.contains("before this call"),
                "{reason}"
            ),
            other => panic!("expected WorkerDied, got {other:?}"),
        }
    }
    assert_eq!(
        executor
            .submit(|| 3u8)
            .expect("submit")
            .result()
            .expect("usable"),
        3
    );
}

#[test]
fn a_call_waiting_in_a_batch_can_be_cancelled_until_its_worker_reaches_it() {
    let _serial = serial();
    let executor = ProcessPoolExecutor::with_max_workers(1).expect("executor");
    let (gate, release) = (Event::new().expect("event"), Event::new().expect("event"));
    let blocker = hold(&executor, &gate);
    let runs = Value::<u32>::new(0).expect("value");
    let waiting = release.clone();
    let head = executor
        .submit(move || waiting.wait_timeout(RELEASE).expect("wait"))
        .expect("submit");
    let counted = runs.clone();
    let behind = executor
        .submit(move || *counted.get_lock().expect("lock") += 1)
        .expect("submit");
    gate.set().expect("set");
    assert!(blocker.result().expect("blocker"));
    // Both were queued together, so they are one batch, its worker inside `head`.
    assert!(eventually(RELEASE, || head.running()), "the batch started");
    assert!(!head.cancel(), "a call its worker started is not cancelled");
    assert!(behind.cancel(), "a call still waiting in the batch is");
    assert!(behind.cancelled() && behind.done());
    release.set().expect("set");
    assert!(head.result().expect("head"));
    assert!(matches!(behind.result(), Err(Error::Cancelled)));
    executor.shutdown(true).expect("shutdown");
    assert_eq!(runs.get().expect("get"), 0, "the cancelled call never ran");
}

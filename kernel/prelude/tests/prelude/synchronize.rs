use crate::common::{eventually, serial};
use ferrokernel_prelude::multiprocessing::{
    Acquired, Barrier, BoundedSemaphore, Condition, Error, Event, Lock, Process, Queue, RLock,
    Semaphore, Value,
};
use std::time::Duration;

#[test]
fn a_lock_keeps_the_balance_right() {
    let _serial = serial();
    for _ in 0..3 {
        let balance = Value::<i32>::new(100).expect("value");
        let lock = Lock::new().expect("lock");
        let mut workers: Vec<Process> = [-1, 1]
            .into_iter()
            .map(|step| {
                let (balance, lock) = (balance.clone(), lock.clone());
                Process::new(move || {
                    for _ in 0..1000 {
                        lock.acquire().expect("acquire");
                        balance
                            .set(balance.get().expect("get") + step)
                            .expect("set");
                        lock.release().expect("release");
                    }
                })
            })
            .collect();
        workers.iter_mut().for_each(|w| w.start().expect("start"));
        workers.iter_mut().for_each(|w| w.join().expect("join"));
        assert_eq!(balance.get().expect("get"), 100);
    }
}

#[test]
fn a_lock_whose_holder_died_is_recovered_and_says_so() {
    let _serial = serial();
    let lock = Lock::new().expect("lock");
    let holder = lock.clone();
    let mut p = Process::new(move || {
        holder.acquire().expect("acquire");
        // SAFETY: die holding the lock.
        unsafe { libc::_exit(0) };
    });
    p.start().expect("start");
    p.join().expect("join");
    assert_eq!(lock.acquire().expect("not stuck"), Acquired::Recovered);
    lock.release().expect("release");
    assert_eq!(lock.acquire().expect("acquire"), Acquired::Clean);
    lock.release().expect("release");
}

#[test]
fn locks_time_out_refuse_strangers_and_rlocks_nest() {
    // CPython: _TestLock.test_lock and test_rlock.
    let _serial = serial();
    let lock = Lock::new().expect("lock");
    assert!(matches!(lock.release(), Err(Error::NotOwner)));
    let held = lock.lock().expect("guard");
    let other = lock.clone();
    let waited = std::thread::spawn(move || {
        other
            .acquire_timeout(Duration::from_millis(50))
            .expect("waits")
    });
    assert!(!waited.join().expect("thread"), "a taken lock times out");
    drop(held);
    assert!(lock.try_acquire().expect("free"));
    lock.release().expect("release");

    let rlock = RLock::new().expect("rlock");
    rlock.acquire().expect("once");
    rlock.acquire().expect("twice");
    rlock.release().expect("release");
    rlock.release().expect("release");
    assert!(matches!(rlock.release(), Err(Error::NotOwner)));
}

#[test]
fn semaphores_count_and_bounded_ones_refuse_extra_releases() {
    // CPython: _TestSemaphore.test_semaphore, test_bounded_semaphore and test_timeout.
    let _serial = serial();
    let semaphore = Semaphore::new(2).expect("semaphore");
    semaphore.acquire().expect("1");
    semaphore.acquire().expect("2");
    assert!(
        !semaphore
            .acquire_timeout(Duration::from_millis(30))
            .expect("times out")
    );
    let releaser = semaphore.clone();
    let mut p = Process::new(move || releaser.release().expect("release"));
    p.start().expect("start");
    assert!(
        semaphore
            .acquire_timeout(Duration::from_secs(5))
            .expect("a child released one")
    );
    p.join().expect("join");

    let bounded = BoundedSemaphore::new(1).expect("semaphore");
    assert!(matches!(bounded.release(), Err(Error::TooManyReleases)));
    bounded.acquire().expect("acquire");
    bounded.release().expect("release");
    assert_eq!(bounded.value().expect("value"), 1);
}

#[test]
fn events_conditions_and_barriers_across_processes() {
    // CPython: _TestEvent.test_event, _TestCondition.test_waitfor, _TestBarrier.test_barrier.
    let _serial = serial();
    let event = Event::new().expect("event");
    assert!(
        !event
            .wait_timeout(Duration::from_millis(20))
            .expect("times out")
    );
    let setter = event.clone();
    let mut p = Process::new(move || {
        std::thread::sleep(Duration::from_millis(50));
        setter.set().expect("set");
    });
    p.start().expect("start");
    event.wait().expect("set by the child");
    assert!(event.is_set().expect("is_set"));
    event.clear().expect("clear");
    assert!(!event.is_set().expect("is_set"));
    p.join().expect("join");

    let condition = Condition::new().expect("condition");
    let ready = Value::<bool>::new(false).expect("value");
    let (notifier, flag) = (condition.clone(), ready.clone());
    let mut p = Process::new(move || {
        std::thread::sleep(Duration::from_millis(50));
        notifier.acquire().expect("acquire");
        flag.set(true).expect("set");
        notifier.notify_all().expect("notify");
        notifier.release().expect("release");
    });
    p.start().expect("start");
    condition.acquire().expect("acquire");
    condition
        .wait_for(|| ready.get().expect("get"))
        .expect("notified");
    condition.release().expect("release");
    p.join().expect("join");

    let barrier = Barrier::new(3).expect("barrier");
    let indices = Queue::<usize>::new().expect("queue");
    let mut parties: Vec<Process> = (0..2)
        .map(|_| {
            let (barrier, indices) = (barrier.clone(), indices.clone());
            Process::new(move || indices.put(barrier.wait().expect("wait")).expect("put"))
        })
        .collect();
    parties.iter_mut().for_each(|p| p.start().expect("start"));
    let mine = barrier.wait().expect("wait");
    let mut all = vec![
        mine,
        indices.get().expect("get"),
        indices.get().expect("get"),
    ];
    all.sort_unstable();
    assert_eq!(all, [0, 1, 2]);
    parties.iter_mut().for_each(|p| p.join().expect("join"));
    assert!(eventually(Duration::from_secs(1), || barrier
        .n_waiting()
        .expect("n")
        == 0));

    let lonely = Barrier::new(2).expect("barrier");
    assert!(matches!(
        lonely.wait_timeout(Duration::from_millis(30)),
        Err(Error::Timeout)
    ));
    assert!(lonely.broken().expect("broken"));
    assert!(matches!(lonely.wait(), Err(Error::BrokenBarrier)));
}

/// Starts `n` child processes that each take the condition's lock, count
/// themselves as sleeping, wait (for `timeout`, or for ever), then count
/// themselves as woken. Returns once all are inside `wait`.
fn sleepers(
    condition: &Condition,
    n: usize,
    timeout: Option<Duration>,
) -> (Vec<Process>, Value<u32>, Value<u32>) {
    let sleeping = Value::<u32>::new(0).expect("value");
    let woken = Value::<u32>::new(0).expect("value");
    let processes: Vec<Process> = (0..n)
        .map(|_| {
            let (condition, sleeping, woken) = (condition.clone(), sleeping.clone(), woken.clone());
            let mut p = Process::new(move || {
                condition.acquire().expect("acquire");
                *sleeping.get_lock().expect("lock") += 1;
                let notified = match timeout {
                    Some(timeout) => condition.wait_timeout(timeout).expect("wait"),
                    None => condition.wait().map(|()| true).expect("wait"),
                };
                if notified {
                    *woken.get_lock().expect("lock") += 1;
                }
                condition.release().expect("release");
            });
            p.start().expect("start");
            p
        })
        .collect();
    // Each sleeper counts itself with the condition's lock held and releases
    // it only inside `wait`: once the count is complete and the lock is ours,
    // they are all waiting.
    assert!(eventually(Duration::from_secs(5), || sleeping
        .get()
        .expect("get")
        == n as u32));
    condition.acquire().expect("acquire");
    condition.release().expect("release");
    (processes, sleeping, woken)
}

#[test]
fn notify_n_wakes_exactly_n_waiters_then_notify_all_the_rest() {
    // CPython: _TestCondition.test_notify_n.
    let _serial = serial();
    let condition = Condition::new().expect("condition");
    let (mut processes, _, woken) = sleepers(&condition, 3, None);
    condition.acquire().expect("acquire");
    condition.notify(2).expect("notify");
    condition.release().expect("release");
    assert!(eventually(Duration::from_secs(5), || woken
        .get()
        .expect("get")
        == 2));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(woken.get().expect("get"), 2, "notify(2) woke more than two");
    condition.acquire().expect("acquire");
    condition.notify_all().expect("notify_all");
    condition.release().expect("release");
    processes.iter_mut().for_each(|p| p.join().expect("join"));
    assert_eq!(woken.get().expect("get"), 3);
}

#[test]
fn notify_skips_waiters_whose_timeout_expired() {
    let _serial = serial();
    let condition = Condition::new().expect("condition");
    // The first waiter gives up after 30 ms, the second waits for ever.
    let (mut impatient, _, impatient_woken) =
        sleepers(&condition, 1, Some(Duration::from_millis(30)));
    impatient.iter_mut().for_each(|p| p.join().expect("join"));
    assert_eq!(impatient_woken.get().expect("get"), 0, "it timed out");
    let (mut patient, _, woken) = sleepers(&condition, 1, None);
    condition.acquire().expect("acquire");
    condition.notify(1).expect("notify");
    condition.release().expect("release");
    assert!(
        eventually(Duration::from_secs(5), || woken.get().expect("get") == 1),
        "the notify was spent on the waiter that had left"
    );
    patient.iter_mut().for_each(|p| p.join().expect("join"));
}

#[test]
fn wait_and_notify_without_the_lock_are_errors() {
    // CPython: Condition asserts the lock is owned (RuntimeError).
    let _serial = serial();
    let condition = Condition::new().expect("condition");
    assert!(matches!(
        condition.wait(),
        Err(Error::NotHeld { operation: "wait" })
    ));
    assert!(matches!(
        condition.wait_timeout(Duration::from_millis(1)),
        Err(Error::NotHeld { .. })
    ));
    assert!(matches!(
        condition.notify(1),
        Err(Error::NotHeld {
            operation: "notify"
        })
    ));
    assert!(matches!(condition.notify_all(), Err(Error::NotHeld { .. })));
    assert!(matches!(condition.release(), Err(Error::NotOwner)));
    // Held by another thread is not held by us.
    condition.acquire().expect("acquire");
    let other = condition.clone();
    let refused = std::thread::spawn(move || matches!(other.notify(1), Err(Error::NotHeld { .. })))
        .join()
        .expect("thread");
    assert!(refused);
    condition.release().expect("release");
}

#[test]
fn wait_timeout_says_whether_it_was_notified() {
    // CPython: _TestCondition.test_timeout and test_wait_result.
    let _serial = serial();
    let condition = Condition::new().expect("condition");
    condition.acquire().expect("acquire");
    let started = std::time::Instant::now();
    assert!(
        !condition
            .wait_timeout(Duration::from_millis(50))
            .expect("wait")
    );
    assert!(started.elapsed() >= Duration::from_millis(45));
    assert!(
        !condition
            .wait_for_timeout(|| false, Duration::from_millis(20))
            .expect("wait_for")
    );
    condition.release().expect("release");
    let (mut processes, _, woken) = sleepers(&condition, 1, Some(Duration::from_secs(10)));
    condition.acquire().expect("acquire");
    condition.notify(1).expect("notify");
    condition.release().expect("release");
    processes.iter_mut().for_each(|p| p.join().expect("join"));
    assert_eq!(woken.get().expect("get"), 1, "wait_timeout returned true");
}

#[test]
fn barrier_reset_breaks_the_current_waiters_and_the_barrier_is_usable_again() {
    // CPython: _TestBarrier.test_reset.
    let _serial = serial();
    let barrier = Barrier::new(3).expect("barrier");
    let outcomes = Queue::<String>::new().expect("queue");
    let mut waiters: Vec<Process> = (0..2)
        .map(|_| {
            let (barrier, outcomes) = (barrier.clone(), outcomes.clone());
            Process::new(move || {
                let outcome = format!("{:?}", barrier.wait().map_err(|e| e.to_string()));
                outcomes.put(outcome).expect("put");
            })
        })
        .collect();
    waiters.iter_mut().for_each(|p| p.start().expect("start"));
    assert!(eventually(Duration::from_secs(5), || barrier
        .n_waiting()
        .expect("n")
        == 2));
    barrier.reset().expect("reset");
    for _ in 0..2 {
        let outcome = outcomes.get().expect("get");
        assert!(
            outcome.contains("broken"),
            "a waiter passed a reset: {outcome}"
        );
    }
    waiters.iter_mut().for_each(|p| p.join().expect("join"));
    assert!(!barrier.broken().expect("broken"));
    assert_eq!(barrier.n_waiting().expect("n"), 0);
    // A full round works after the reset.
    let mut parties: Vec<Process> = (0..2)
        .map(|_| {
            let barrier = barrier.clone();
            Process::new(move || {
                barrier.wait().expect("wait");
            })
        })
        .collect();
    parties.iter_mut().for_each(|p| p.start().expect("start"));
    barrier.wait().expect("a fresh round passes");
    parties.iter_mut().for_each(|p| p.join().expect("join"));
    assert!(parties.iter().all(|p| p.exitcode() == Some(0)));
}

#[test]
fn barrier_abort_breaks_waiters_until_reset() {
    // CPython: _TestBarrier.test_abort and test_abort_and_reset.
    let _serial = serial();
    let barrier = Barrier::new(2).expect("barrier");
    let broken = Value::<bool>::new(false).expect("value");
    let (waiting, report) = (barrier.clone(), broken.clone());
    let mut p = Process::new(move || {
        report
            .set(matches!(waiting.wait(), Err(Error::BrokenBarrier)))
            .expect("set");
    });
    p.start().expect("start");
    assert!(eventually(Duration::from_secs(5), || barrier
        .n_waiting()
        .expect("n")
        == 1));
    barrier.abort().expect("abort");
    p.join().expect("join");
    assert!(broken.get().expect("get"), "the waiter saw the abort");
    assert!(barrier.broken().expect("broken"));
    assert!(matches!(barrier.wait(), Err(Error::BrokenBarrier)));
    barrier.reset().expect("reset");
    assert!(!barrier.broken().expect("broken"));
    assert_eq!(barrier.parties().expect("parties"), 2);
}

#[test]
fn a_timed_out_barrier_wait_breaks_the_barrier_for_the_others() {
    // CPython: _TestBarrier.test_timeout.
    let _serial = serial();
    let barrier = Barrier::new(3).expect("barrier");
    let broken = Value::<bool>::new(false).expect("value");
    let (waiting, report) = (barrier.clone(), broken.clone());
    let mut p = Process::new(move || {
        report
            .set(matches!(waiting.wait(), Err(Error::BrokenBarrier)))
            .expect("set");
    });
    p.start().expect("start");
    assert!(eventually(Duration::from_secs(5), || barrier
        .n_waiting()
        .expect("n")
        == 1));
    assert!(matches!(
        barrier.wait_timeout(Duration::from_millis(30)),
        Err(Error::Timeout)
    ));
    p.join().expect("join");
    assert!(broken.get().expect("get"));
    assert!(barrier.broken().expect("broken"));
}

#[test]
fn a_semaphore_never_lets_more_than_its_permits_in() {
    // CPython: _TestSemaphore.test_semaphore (counted across processes).
    let _serial = serial();
    let semaphore = Semaphore::new(2).expect("semaphore");
    let inside = Value::<u32>::new(0).expect("value");
    let most = Value::<u32>::new(0).expect("value");
    let mut workers: Vec<Process> = (0..5)
        .map(|_| {
            let (semaphore, inside, most) = (semaphore.clone(), inside.clone(), most.clone());
            Process::new(move || {
                for _ in 0..5 {
                    semaphore.acquire().expect("acquire");
                    let now = {
                        let mut inside = inside.get_lock().expect("lock");
                        *inside += 1;
                        *inside
                    };
                    {
                        let mut most = most.get_lock().expect("lock");
                        *most = (*most).max(now);
                    }
                    std::thread::sleep(Duration::from_millis(2));
                    *inside.get_lock().expect("lock") -= 1;
                    semaphore.release().expect("release");
                }
            })
        })
        .collect();
    workers.iter_mut().for_each(|w| w.start().expect("start"));
    workers.iter_mut().for_each(|w| w.join().expect("join"));
    assert!(workers.iter().all(|w| w.exitcode() == Some(0)));
    assert_eq!(
        most.get().expect("get"),
        2,
        "two permits, two inside at most"
    );
    assert_eq!(semaphore.value().expect("value"), 2);
    assert!(semaphore.try_acquire().expect("try"));
}

#[test]
fn rlock_acquire_timeout_waits_for_another_holder_but_not_for_its_own() {
    // CPython: _TestLock.test_rlock with timeouts.
    let _serial = serial();
    let rlock = RLock::new().expect("rlock");
    assert!(
        rlock
            .acquire_timeout(Duration::from_millis(10))
            .expect("free")
    );
    assert!(
        rlock
            .acquire_timeout(Duration::from_millis(10))
            .expect("again"),
        "its holder takes it again at once"
    );
    let other = rlock.clone();
    let mut p = Process::new(move || {
        let started = std::time::Instant::now();
        let got = other
            .acquire_timeout(Duration::from_millis(50))
            .expect("wait");
        assert!(!got && started.elapsed() >= Duration::from_millis(45));
    });
    p.start().expect("start");
    p.join().expect("join");
    assert_eq!(p.exitcode(), Some(0), "the other process timed out");
    rlock.release().expect("release");
    rlock.release().expect("release");
}

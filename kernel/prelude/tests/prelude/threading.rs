use crate::common::serial;
use ferrokernel_prelude::multiprocessing::{self, Error};
use ferrokernel_prelude::threading::{
    self, Barrier, BoundedSemaphore, Event, Lock, RLock, Semaphore, Thread, Timer,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[test]
fn threads_have_names_and_share_memory() {
    let _serial = serial();
    let name = Arc::new(std::sync::Mutex::new(String::new()));
    let seen = name.clone();
    let mut t1 = Thread::new("t1", move || {
        *seen.lock().expect("mutex") = threading::current_thread().name().to_owned();
    });
    assert_eq!(t1.name(), "t1");
    assert!(matches!(t1.join(), Err(Error::NotStarted)));
    t1.start().expect("start");
    assert!(matches!(t1.start(), Err(Error::AlreadyStarted)));
    t1.join().expect("join");
    assert!(!t1.is_alive());
    assert_eq!(*name.lock().expect("mutex"), "t1");
    let mut panicking = Thread::new("p", || panic!("thread trouble"));
    panicking.start().expect("start");
    assert!(
        matches!(panicking.join(), Err(Error::TaskPanicked { message }) if message == "thread trouble")
    );
}

#[test]
fn a_lock_makes_two_hundred_thousand() {
    let _serial = serial();
    let x = Arc::new(AtomicU64::new(0));
    let lock = Lock::new();
    let mut threads: Vec<Thread> = ["t1", "t2"]
        .into_iter()
        .map(|name| {
            let (x, lock) = (x.clone(), lock.clone());
            Thread::new(name, move || {
                for _ in 0..100_000 {
                    let _held = lock.lock().expect("lock");
                    x.store(x.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    threads.iter_mut().for_each(|t| t.start().expect("start"));
    threads.iter_mut().for_each(|t| t.join().expect("join"));
    assert_eq!(x.load(Ordering::Relaxed), 200_000);
}

#[test]
fn thread_locks_refuse_strangers_and_rlocks_nest() {
    let _serial = serial();
    let lock = Lock::new();
    assert!(matches!(lock.release(), Err(Error::NotOwner)));
    assert!(lock.try_acquire());
    assert!(
        !lock
            .acquire_timeout(Duration::from_millis(10))
            .expect("times out")
    );
    lock.release().expect("release");
    let rlock = RLock::new();
    rlock.acquire().expect("1");
    rlock.acquire().expect("2");
    rlock.release().expect("1");
    rlock.release().expect("2");
    assert!(matches!(rlock.release(), Err(Error::NotOwner)));
    let event = Event::new();
    let setter = event.clone();
    let mut t = Thread::new("setter", move || setter.set());
    t.start().expect("start");
    event.wait().expect("wait");
    t.join().expect("join");
    assert!(event.wait_timeout(Duration::ZERO).expect("set"));
}

#[test]
fn rlock_and_semaphore_acquire_time_out_when_another_thread_keeps_them() {
    let _serial = serial();
    let rlock = RLock::new();
    rlock.acquire().expect("acquire");
    assert!(
        rlock
            .acquire_timeout(Duration::from_millis(5))
            .expect("own")
    );
    let other = rlock.clone();
    let started = Instant::now();
    let got = std::thread::spawn(move || other.acquire_timeout(Duration::from_millis(40)))
        .join()
        .expect("thread")
        .expect("wait");
    assert!(!got && started.elapsed() >= Duration::from_millis(35));
    rlock.release().expect("release");
    rlock.release().expect("release");
    let other = rlock.clone();
    assert!(
        std::thread::spawn(move || other.try_acquire())
            .join()
            .expect("thread"),
        "free once released as often as taken"
    );

    let semaphore = Semaphore::new(1);
    assert!(semaphore.try_acquire());
    assert!(!semaphore.try_acquire());
    assert!(
        !semaphore
            .acquire_timeout(Duration::from_millis(10))
            .expect("wait")
    );
    let releaser = semaphore.clone();
    let mut t = Thread::new("releaser", move || {
        std::thread::sleep(Duration::from_millis(20));
        releaser.release();
    });
    t.start().expect("start");
    assert!(
        semaphore
            .acquire_timeout(Duration::from_secs(5))
            .expect("wait")
    );
    t.join().expect("join");
}

#[test]
fn a_bounded_semaphore_refuses_extra_releases_and_a_semaphore_limits_concurrency() {
    // CPython: test_threading's BoundedSemaphoreTests and SemaphoreTests.
    let _serial = serial();
    let bounded = BoundedSemaphore::new(2);
    assert!(matches!(bounded.release(), Err(Error::TooManyReleases)));
    bounded.acquire().expect("acquire");
    bounded.release().expect("release");
    assert_eq!(bounded.value(), 2);

    let semaphore = Semaphore::new(3);
    let inside = Arc::new(AtomicU64::new(0));
    let most = Arc::new(AtomicU64::new(0));
    let mut threads: Vec<Thread> = (0..8)
        .map(|i| {
            let (semaphore, inside, most) = (semaphore.clone(), inside.clone(), most.clone());
            Thread::new(format!("s{i}"), move || {
                for _ in 0..20 {
                    semaphore.acquire().expect("acquire");
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_micros(200));
                    inside.fetch_sub(1, Ordering::SeqCst);
                    semaphore.release();
                }
            })
        })
        .collect();
    threads.iter_mut().for_each(|t| t.start().expect("start"));
    threads.iter_mut().for_each(|t| t.join().expect("join"));
    let most = most.load(Ordering::SeqCst);
    assert!((1..=3).contains(&most), "at most three inside, saw {most}");
    assert_eq!(semaphore.value(), 3);
}

#[test]
fn a_barrier_gives_each_thread_its_own_index_and_can_be_aborted_and_reset() {
    // CPython: test_threading's BarrierTests (test_barrier, test_abort, test_reset).
    let _serial = serial();
    let barrier = Barrier::new(4);
    assert_eq!(
        (barrier.parties(), barrier.n_waiting(), barrier.broken()),
        (4, 0, false)
    );
    let indices = Arc::new(std::sync::Mutex::new(Vec::new()));
    for _round in 0..3 {
        let mut threads: Vec<Thread> = (0..3)
            .map(|i| {
                let (barrier, indices) = (barrier.clone(), indices.clone());
                Thread::new(format!("b{i}"), move || {
                    let index = barrier.wait().expect("wait");
                    indices.lock().expect("mutex").push(index);
                })
            })
            .collect();
        threads.iter_mut().for_each(|t| t.start().expect("start"));
        let mine = barrier.wait().expect("wait");
        threads.iter_mut().for_each(|t| t.join().expect("join"));
        let mut all = std::mem::take(&mut *indices.lock().expect("mutex"));
        all.push(mine);
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3]);
    }

    let outcome = Arc::new(std::sync::Mutex::new(None));
    let spawn_waiter = |barrier: &Barrier| {
        let (barrier, outcome) = (barrier.clone(), outcome.clone());
        let mut t = Thread::new("w", move || {
            *outcome.lock().expect("mutex") = Some(barrier.wait().map_err(|e| e.to_string()));
        });
        t.start().expect("start");
        t
    };
    let mut waiter = spawn_waiter(&barrier);
    assert!(crate::common::eventually(
        Duration::from_secs(5),
        || barrier.n_waiting() == 1
    ));
    barrier.reset();
    waiter.join().expect("join");
    assert!(matches!(&*outcome.lock().expect("mutex"), Some(Err(e)) if e.contains("broken")));
    assert!(!barrier.broken(), "reset mends");

    let mut waiter = spawn_waiter(&barrier);
    assert!(crate::common::eventually(
        Duration::from_secs(5),
        || barrier.n_waiting() == 1
    ));
    barrier.abort();
    waiter.join().expect("join");
    assert!(matches!(&*outcome.lock().expect("mutex"), Some(Err(_))));
    assert!(barrier.broken());
    assert!(matches!(barrier.wait(), Err(Error::BrokenBarrier)));
    barrier.reset();
    let lonely = Barrier::new(2);
    assert!(matches!(
        lonely.wait_timeout(Duration::from_millis(20)),
        Err(Error::Timeout)
    ));
    assert!(
        lonely.broken(),
        "a timeout breaks the barrier, as in Python"
    );
}

#[test]
fn condition_notify_wakes_the_oldest_waiters_still_waiting() {
    // CPython: test_threading's ConditionTests (test_notify, test_timeout, test_waitfor).
    let _serial = serial();
    let condition = threading::Condition::new();
    assert!(matches!(condition.notify(1), Err(Error::NotHeld { .. })));
    assert!(matches!(condition.wait(), Err(Error::NotHeld { .. })));
    let woken = Arc::new(AtomicU64::new(0));
    let waiting = Arc::new(AtomicU64::new(0));
    let spawn = |timeout: Option<Duration>| {
        let (condition, woken, waiting) = (condition.clone(), woken.clone(), waiting.clone());
        let mut t = Thread::new("waiter", move || {
            let _held = condition.lock().expect("lock");
            waiting.fetch_add(1, Ordering::SeqCst);
            let notified = match timeout {
                Some(timeout) => condition.wait_timeout(timeout).expect("wait"),
                None => condition.wait().map(|()| true).expect("wait"),
            };
            if notified {
                woken.fetch_add(1, Ordering::SeqCst);
            }
        });
        t.start().expect("start");
        t
    };
    let all_waiting = |n: u64| {
        assert!(crate::common::eventually(Duration::from_secs(5), || {
            waiting.load(Ordering::SeqCst) == n
        }));
        // They count themselves holding the lock and release it in `wait`.
        drop(condition.lock().expect("lock"));
    };
    // One waiter that times out, then three that wait for ever.
    let mut impatient = spawn(Some(Duration::from_millis(20)));
    all_waiting(1);
    impatient.join().expect("join");
    let mut patient: Vec<Thread> = (0..3).map(|_| spawn(None)).collect();
    all_waiting(4);
    {
        let _held = condition.lock().expect("lock");
        condition.notify(2).expect("notify");
    }
    assert!(crate::common::eventually(Duration::from_secs(5), || {
        woken.load(Ordering::SeqCst) == 2
    }));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(woken.load(Ordering::SeqCst), 2, "exactly two woken");
    {
        let _held = condition.lock().expect("lock");
        condition.notify_all().expect("notify_all");
    }
    patient.iter_mut().for_each(|t| t.join().expect("join"));
    assert_eq!(woken.load(Ordering::SeqCst), 3);

    // wait_for and its timeout; the lock is re-entrant and wait releases it fully.
    let _outer = condition.lock().expect("lock");
    let _inner = condition.lock().expect("lock again");
    assert!(
        !condition
            .wait_for_timeout(|| false, Duration::from_millis(20))
            .expect("wait_for")
    );
    let flag = Arc::new(AtomicBool::new(false));
    let (setter, notifier) = (flag.clone(), condition.clone());
    let mut t = Thread::new("setter", move || {
        let _held = notifier.lock().expect("lock, released by the waiter");
        setter.store(true, Ordering::SeqCst);
        notifier.notify_all().expect("notify");
    });
    t.start().expect("start");
    condition
        .wait_for(|| flag.load(Ordering::SeqCst))
        .expect("wait_for");
    drop((_inner, _outer));
    t.join().expect("join");
}

#[test]
fn a_timer_fires_after_its_delay_unless_cancelled() {
    let _serial = serial();
    let fired_at = Arc::new(std::sync::Mutex::new(None));
    let stamp = fired_at.clone();
    let started = Instant::now();
    let mut timer = Timer::new(Duration::from_millis(50), move || {
        *stamp.lock().expect("mutex") = Some(Instant::now());
    });
    assert!(!timer.is_alive());
    timer.start().expect("start");
    assert!(timer.is_alive());
    assert!(
        threading::enumerate()
            .iter()
            .any(|t| t.name() == timer.name())
    );
    timer.join().expect("join");
    let fired = fired_at.lock().expect("mutex").expect("it fired");
    assert!(fired.duration_since(started) >= Duration::from_millis(45));

    let fired = Arc::new(AtomicBool::new(false));
    let flag = fired.clone();
    let mut cancelled = Timer::new(Duration::from_secs(30), move || {
        flag.store(true, Ordering::SeqCst)
    });
    cancelled.start().expect("start");
    std::thread::sleep(Duration::from_millis(10));
    cancelled.cancel();
    assert!(
        cancelled
            .join_timeout(Duration::from_secs(5))
            .expect("join"),
        "cancel ends the wait"
    );
    assert!(!fired.load(Ordering::SeqCst));
}

#[test]
fn enumerate_lists_the_main_thread_and_running_threads_with_their_ids() {
    let _serial = serial();
    let main = threading::main_thread();
    assert_eq!(main.name(), "MainThread");
    assert_eq!(main.native_id(), ferrokernel_prelude::os::getpid());
    let before = threading::active_count();
    let release = Event::new();
    let seen = Arc::new(std::sync::Mutex::new(None));
    let (waiter, report) = (release.clone(), seen.clone());
    let mut t = Thread::new("listed", move || {
        let me = threading::current_thread();
        *report.lock().expect("mutex") = Some((
            me.name().to_owned(),
            threading::get_ident(),
            threading::get_native_id(),
            me.is_daemon(),
        ));
        waiter.wait().expect("wait");
    })
    .daemon(true);
    t.start().expect("start");
    let listed = threading::enumerate();
    assert_eq!(threading::active_count(), before + 1);
    assert_eq!(listed[0].name(), "MainThread");
    let entry = listed
        .iter()
        .find(|info| info.name() == "listed")
        .expect("listed");
    assert!(entry.is_daemon());
    assert!(crate::common::eventually(Duration::from_secs(5), || seen
        .lock()
        .expect("mutex")
        .is_some()));
    let (name, ident, native_id, daemon) = seen.lock().expect("mutex").clone().expect("seen");
    assert_eq!((name.as_str(), daemon), ("listed", true));
    assert_eq!(Some(native_id), t.native_id());
    assert_eq!(Some(ident), t.ident());
    assert_eq!(entry.native_id(), native_id);
    assert_ne!(native_id, threading::get_native_id());
    release.set();
    t.join().expect("join");
    assert!(
        !threading::enumerate()
            .iter()
            .any(|info| info.name() == "listed")
    );
    assert_eq!(threading::active_count(), before);
}

#[test]
fn a_process_forked_from_a_thread_has_only_its_main_thread() {
    // CPython: _TestProcess.test_process_mainthread_native_id.
    let _serial = serial();
    let release = Event::new();
    let waiter = release.clone();
    let mut busy = Thread::new("busy", move || waiter.wait().expect("wait"));
    busy.start().expect("start");
    let report = multiprocessing::Queue::<(usize, String, bool)>::new().expect("queue");
    let sender = report.clone();
    let mut forker = Thread::new("forker", move || {
        let mut p = multiprocessing::Process::new(move || {
            let main = threading::main_thread();
            sender
                .put((
                    threading::active_count(),
                    threading::current_thread().name().to_owned(),
                    main.native_id() == ferrokernel_prelude::os::getpid(),
                ))
                .expect("put");
        });
        p.start().expect("start");
        p.join().expect("join");
    });
    forker.start().expect("start");
    let (count, name, main_is_me) = report.get().expect("get");
    forker.join().expect("join");
    release.set();
    busy.join().expect("join");
    assert_eq!((count, name.as_str(), main_is_me), (1, "MainThread", true));
}

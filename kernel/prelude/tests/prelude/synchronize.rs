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

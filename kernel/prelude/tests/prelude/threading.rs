use crate::common::serial;
use ferrokernel_prelude::multiprocessing::Error;
use ferrokernel_prelude::threading::{self, Barrier, Event, Lock, RLock, Semaphore, Thread};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
fn thread_primitives() {
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
    let semaphore = Semaphore::new(1);
    semaphore.acquire().expect("acquire");
    semaphore.release();
    let barrier = Barrier::new(2);
    let other = barrier.clone();
    let mut t = Thread::new("b", move || {
        other.wait().expect("wait");
    });
    t.start().expect("start");
    barrier.wait().expect("wait");
    t.join().expect("join");
}

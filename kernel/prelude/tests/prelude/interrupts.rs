//! Every blocking call returns `Err(Interrupted)` soon after a SIGINT, and an
//! interrupt that came before a call does not affect it.

use crate::common::{assert_interrupted, serial};
use ferrokernel_prelude::interrupt;
use ferrokernel_prelude::multiprocessing::{
    Array, Barrier, Condition, Event, JoinableQueue, Lock, Pipe, Pool, Process, Queue, Semaphore,
    Value,
};
use ferrokernel_prelude::threading;
use std::time::Duration;

#[test]
fn process_waits_are_interruptible() {
    let _serial = serial();
    let mut sleeper = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
    sleeper.start().expect("start");
    assert_interrupted("Process::join", || sleeper.join());
    sleeper.kill();
    sleeper.join().expect("join after kill");

    let pool = Pool::with_processes(2).expect("pool");
    assert_interrupted("Pool::map", || {
        pool.map(|_: u32| std::thread::sleep(Duration::from_secs(30)), 0..4)
    });
    assert_interrupted("Pool::apply", || {
        pool.apply(|| std::thread::sleep(Duration::from_secs(30)))
    });
    assert_eq!(pool.map(|n: u8| n, [3]).expect("the pool still works"), [3]);
}

#[test]
fn channel_waits_are_interruptible() {
    let _serial = serial();
    let queue = Queue::<u8>::new().expect("queue");
    assert_interrupted("Queue::get", || queue.get());
    let full = Queue::<u64>::with_capacity(64).expect("queue");
    assert_interrupted(
        "Queue::put (full)",
        || -> ferrokernel_prelude::multiprocessing::Result<()> {
            loop {
                full.put(1)?;
            }
        },
    );
    let joinable = JoinableQueue::<u8>::new().expect("queue");
    joinable.put(1).expect("put");
    assert_interrupted("JoinableQueue::join", || joinable.join());
    let (a, _b) = Pipe::<u8>::new().expect("pipe");
    assert_interrupted("Connection::recv", || a.recv());
    assert_interrupted("Connection::poll", || a.poll(None));
}

#[test]
fn lock_waits_are_interruptible() {
    let _serial = serial();
    let lock = Lock::new().expect("lock");
    let holder = lock.clone();
    let mut p = Process::new(move || {
        holder.acquire().expect("acquire");
        std::thread::sleep(Duration::from_secs(30));
    });
    p.start().expect("start");
    std::thread::sleep(Duration::from_millis(100));
    assert_interrupted("Lock::acquire", || lock.acquire());
    p.kill();
    p.join().expect("join");

    let value = Value::<i32>::new(0).expect("value");
    let guard = value.get_lock().expect("lock");
    let other = value.clone();
    let waiter = std::thread::spawn(move || {
        crate::common::assert_interrupted("Value::get_lock", || other.get_lock().map(|_| ()))
    });
    waiter.join().expect("thread");
    drop(guard);

    let semaphore = Semaphore::new(0).expect("semaphore");
    assert_interrupted("Semaphore::acquire", || semaphore.acquire());
    let event = Event::new().expect("event");
    assert_interrupted("Event::wait", || event.wait());
    let condition = Condition::new().expect("condition");
    condition.acquire().expect("acquire");
    assert_interrupted("Condition::wait", || condition.wait());
    condition.release().expect("release");
    let barrier = Barrier::new(2).expect("barrier");
    assert_interrupted("Barrier::wait", || barrier.wait());
}

#[test]
fn thread_waits_are_interruptible() {
    let _serial = serial();
    let mut sleeper =
        threading::Thread::new("sleeper", || std::thread::sleep(Duration::from_millis(800)));
    sleeper.start().expect("start");
    assert_interrupted("Thread::join", || sleeper.join());
    sleeper.join().expect("join");
    let lock = threading::Lock::new();
    lock.acquire().expect("acquire");
    assert_interrupted("threading::Lock::acquire", || lock.acquire());
    let event = threading::Event::new();
    assert_interrupted("threading::Event::wait", || event.wait());
    let semaphore = threading::Semaphore::new(0);
    assert_interrupted("threading::Semaphore::acquire", || semaphore.acquire());
}

#[test]
fn an_interrupt_before_a_call_does_not_affect_it() {
    let _serial = serial();
    interrupt::install_handler();
    nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGINT)
        .expect("signal");
    std::thread::sleep(Duration::from_millis(20));
    let queue = Queue::<u8>::new().expect("queue");
    queue.put(1).expect("put");
    assert_eq!(queue.get().expect("an earlier interrupt is spent"), 1);
    let event = Event::new().expect("event");
    assert!(
        !event
            .wait_timeout(Duration::from_millis(20))
            .expect("plain timeout")
    );
}

#[test]
fn value_and_array_calls_are_interrupted_while_another_process_holds_the_lock() {
    let _serial = serial();
    let value = Value::<i32>::new(41).expect("value");
    let array = Array::<u8>::new(3).expect("array");
    let (held_value, held_array) = (value.clone(), array.clone());
    let locked = Event::new().expect("event");
    let report = locked.clone();
    let mut holder = Process::new(move || {
        let _value = held_value.get_lock().expect("lock");
        let _array = held_array.get_lock().expect("lock");
        report.set().expect("set");
        std::thread::sleep(Duration::from_secs(30));
    });
    holder.start().expect("start");
    locked.wait().expect("the child holds both locks");
    assert_interrupted("Value::get (contended)", || value.get());
    assert_interrupted("Value::set (contended)", || value.set(1));
    assert_interrupted("Array::get (contended)", || array.get(0));
    assert_interrupted("Array::to_vec (contended)", || array.to_vec());
    holder.kill();
    holder.join().expect("join");
    // The holder died holding the locks: they are recovered, the values kept.
    assert_eq!(value.get().expect("recovered"), 41);
    assert_eq!(array.to_vec().expect("recovered"), [0, 0, 0]);
}

#[test]
fn an_interrupted_barrier_wait_ends_its_round_but_does_not_break_the_barrier() {
    let _serial = serial();
    let barrier = Barrier::new(2).expect("barrier");
    assert_interrupted("Barrier::wait", || barrier.wait());
    assert!(!barrier.broken().expect("broken"), "not broken for good");
    let other = barrier.clone();
    let mut p = Process::new(move || {
        other.wait().expect("the next round passes");
    });
    p.start().expect("start");
    barrier.wait().expect("the next round passes");
    p.join().expect("join");
    assert_eq!(p.exitcode(), Some(0));

    let threads = threading::Barrier::new(2);
    assert_interrupted("threading::Barrier::wait", || threads.wait());
    assert!(!threads.broken());
    let other = threads.clone();
    let mut t = threading::Thread::new("party", move || {
        other.wait().expect("next round");
    });
    t.start().expect("start");
    threads.wait().expect("next round");
    t.join().expect("join");
}

#[test]
fn new_thread_waits_are_interruptible() {
    let _serial = serial();
    let rlock = threading::RLock::new();
    let holder = rlock.clone();
    std::thread::spawn(move || holder.acquire().expect("acquire"))
        .join()
        .expect("thread");
    assert_interrupted("threading::RLock::acquire", || rlock.acquire());
    let condition = threading::Condition::new();
    condition.acquire().expect("acquire");
    assert_interrupted("threading::Condition::wait", || condition.wait());
    condition.release().expect("the lock was taken back");
    let mut timer = threading::Timer::new(Duration::from_secs(30), || {});
    timer.start().expect("start");
    assert_interrupted("Timer::join", || timer.join());
    assert!(timer.is_alive(), "an interrupt does not cancel the timer");
    timer.cancel();
    timer.join().expect("join");
    let bounded = threading::BoundedSemaphore::new(0);
    assert_interrupted("threading::BoundedSemaphore::acquire", || bounded.acquire());
}

#[test]
fn futures_waits_are_interruptible_and_keep_the_futures() {
    let _serial = serial();
    use ferrokernel_prelude::concurrent::futures::{
        ALL_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, as_completed, wait,
    };
    let executor = ProcessPoolExecutor::with_max_workers(1).expect("executor");
    let slow = executor
        .submit(|| {
            std::thread::sleep(Duration::from_millis(900));
            7u8
        })
        .expect("submit");
    assert_interrupted("Future::result (process)", || slow.result());
    let futures = [slow];
    assert_interrupted("futures::wait", || {
        wait(&futures, ALL_COMPLETED).map(|w| w.done.len())
    });
    assert_interrupted("futures::as_completed", || {
        as_completed(&futures)
            .next()
            .unwrap_or(Ok(&futures[0]))
            .map(drop)
    });
    assert_eq!(futures[0].result().expect("the future survived"), 7);
    let threads = ThreadPoolExecutor::with_max_workers(1).expect("executor");
    let slow = threads
        .submit(|| std::thread::sleep(Duration::from_millis(900)))
        .expect("submit");
    assert_interrupted("Future::result (thread)", || slow.result());
    assert_interrupted("ThreadPoolExecutor::shutdown", || threads.shutdown(true));
    slow.result().expect("finished after all");
}

#[test]
fn connection_wait_is_interruptible() {
    let _serial = serial();
    let (reader, _writer) = Pipe::<u8>::new().expect("pipe");
    let queue = Queue::<u8>::new().expect("queue");
    let objects: [&dyn ferrokernel_prelude::multiprocessing::connection::Waitable; 2] =
        [&reader, &queue];
    assert_interrupted("connection::wait", || {
        ferrokernel_prelude::multiprocessing::connection::wait(objects, None).map(|r| r.len())
    });
}

use crate::common::serial;
use ferrokernel_prelude::multiprocessing::{Error, JoinableQueue, Process, Queue, SimpleQueue};
use std::collections::BTreeSet;
use std::time::Duration;

#[test]
fn items_come_out_in_order_across_processes() {
    // CPython: _TestQueue.test_fork and test_qsize.
    let _serial = serial();
    let q = Queue::<i32>::new().expect("queue");
    assert!(q.empty());
    let producer = q.clone();
    let mut p = Process::new(move || {
        for num in [1, 2, 3, 4] {
            producer.put(num * num).expect("put");
        }
    });
    p.start().expect("start");
    let got: Vec<i32> = (0..4).map(|_| q.get().expect("get")).collect();
    assert_eq!(got, [1, 4, 9, 16]);
    p.join().expect("join");
    assert_eq!(q.qsize(), 0);
}

#[test]
fn many_producers_and_consumers_lose_and_duplicate_nothing() {
    let _serial = serial();
    let work = Queue::<u32>::new().expect("queue");
    let seen = Queue::<Vec<u32>>::new().expect("queue");
    let producers = 4u32;
    let per_producer = 2_000u32;
    let mut processes = Vec::new();
    for producer in 0..producers {
        let work = work.clone();
        processes.push(Process::new(move || {
            for n in 0..per_producer {
                work.put(producer * per_producer + n).expect("put");
            }
        }));
    }
    for _ in 0..3 {
        let (work, seen) = (work.clone(), seen.clone());
        processes.push(Process::new(move || {
            let mut mine = Vec::new();
            while let Ok(item) = work.get_timeout(Duration::from_millis(500)) {
                mine.push(item);
            }
            seen.put(mine).expect("report");
        }));
    }
    processes.iter_mut().for_each(|p| p.start().expect("start"));
    let mut all = Vec::new();
    for _ in 0..3 {
        all.extend(seen.get().expect("report"));
    }
    processes.iter_mut().for_each(|p| p.join().expect("join"));
    let total = (producers * per_producer) as usize;
    assert_eq!(all.len(), total, "nothing lost or duplicated");
    assert_eq!(all.iter().copied().collect::<BTreeSet<_>>().len(), total);
}

#[test]
fn timeouts_try_get_and_a_full_queue_waits() {
    // CPython: _TestQueue.test_put, test_get and test_timeout.
    let _serial = serial();
    let q = Queue::<String>::new().expect("queue");
    assert!(matches!(
        q.get_timeout(Duration::from_millis(20)),
        Err(Error::Timeout)
    ));
    assert_eq!(q.try_get().expect("try"), None);
    assert!(matches!(q.get_nowait(), Err(Error::Empty)));
    q.put("x".to_string()).expect("put");
    assert_eq!(q.try_get().expect("try").as_deref(), Some("x"));

    // 100 bytes hold only a few items: the producer waits for the consumer.
    let small = Queue::<u64>::with_capacity(100).expect("queue");
    let producer = small.clone();
    let mut p = Process::new(move || {
        for n in 0..1_000u64 {
            producer.put(n).expect("put");
        }
    });
    p.start().expect("start");
    let got: Vec<u64> = (0..1_000).map(|_| small.get().expect("get")).collect();
    assert_eq!(got, (0..1_000).collect::<Vec<_>>());
    p.join().expect("join");
    // Filled to the brim, a timed put times out and loses nothing.
    let mut held = 0u64;
    while small.put_timeout(held, Duration::from_millis(5)).is_ok() {
        held += 1;
    }
    assert!(held > 0 && small.qsize() as u64 == held);
    assert!(matches!(
        small.put_timeout(99, Duration::from_millis(5)),
        Err(Error::Timeout)
    ));
    assert!(matches!(small.put_nowait(99), Err(Error::Full)));
    let drained: Vec<u64> = (0..held).map(|_| small.get().expect("get")).collect();
    assert_eq!(drained, (0..held).collect::<Vec<_>>());
}

#[test]
fn a_queue_with_maxsize_holds_that_many_items() {
    // CPython: _TestQueue.test_put (maxsize, full, put_nowait).
    let _serial = serial();
    let q = Queue::<u32>::with_maxsize(3).expect("queue");
    assert!(!q.full() && q.empty());
    for n in 0..3 {
        q.put_nowait(n).expect("room");
    }
    assert!(q.full());
    assert_eq!(q.qsize(), 3);
    assert!(matches!(q.put_nowait(3), Err(Error::Full)));
    assert!(matches!(
        q.put_timeout(3, Duration::from_millis(20)),
        Err(Error::Timeout)
    ));
    // A child's put waits until the parent takes one.
    let producer = q.clone();
    let mut p = Process::new(move || producer.put(3).expect("put"));
    p.start().expect("start");
    assert!(
        !p.join_timeout(Duration::from_millis(50)).expect("join"),
        "it waits"
    );
    assert_eq!(q.get().expect("get"), 0);
    p.join().expect("join");
    let rest: Vec<u32> = (0..3).map(|_| q.get_nowait().expect("item")).collect();
    assert_eq!(rest, [1, 2, 3]);
    assert!(matches!(q.get_nowait(), Err(Error::Empty)));
    let unbounded = Queue::<u8>::with_maxsize(0).expect("queue");
    for n in 0..100 {
        unbounded.put_nowait(n).expect("no limit");
    }
    assert!(!unbounded.full(), "without maxsize a queue is never full");
}

#[test]
fn a_closed_queue_refuses_put_and_get_here_but_not_in_other_processes() {
    // CPython: _TestQueue.test_closed_queue_put_get_exceptions.
    let _serial = serial();
    let q = Queue::<u8>::new().expect("queue");
    q.put(1).expect("put");
    q.put(2).expect("put");
    let before_close = q.clone();
    // A get blocked in another thread of this process returns on close.
    let empty = Queue::<u8>::new().expect("queue");
    let blocked = empty.clone();
    let waiter = std::thread::spawn(move || blocked.get());
    std::thread::sleep(Duration::from_millis(30));
    empty.close();
    assert!(matches!(waiter.join().expect("thread"), Err(Error::Closed)));
    q.close();
    assert!(matches!(q.put(3), Err(Error::Closed)));
    assert!(matches!(q.put_nowait(3), Err(Error::Closed)));
    assert!(matches!(q.get(), Err(Error::Closed)));
    assert!(matches!(q.get_nowait(), Err(Error::Closed)));
    assert!(matches!(
        before_close.get_timeout(Duration::from_millis(1)),
        Err(Error::Closed)
    ));
    assert_eq!(q.qsize(), 2, "closing drops nothing");
    // A child forked afterwards has the queue open, as in Python.
    let child_view = q.clone();
    let got = Queue::<Vec<u8>>::new().expect("queue");
    let report = got.clone();
    let mut p = Process::new(move || {
        let items = vec![
            child_view.get().expect("get"),
            child_view.get().expect("get"),
        ];
        child_view.put(9).expect("put");
        report.put(items).expect("report");
    });
    p.start().expect("start");
    assert_eq!(got.get().expect("report"), [1, 2]);
    p.join().expect("join");
    assert_eq!(q.qsize(), 1);
}

#[test]
fn a_simple_queue_puts_and_gets_across_processes() {
    // CPython: _TestSimpleQueue.test_empty.
    let _serial = serial();
    let q = SimpleQueue::<String>::new().expect("queue");
    assert!(q.empty());
    let sender = q.clone();
    let mut p = Process::new(move || {
        for word in ["a", "b"] {
            sender.put(word.to_string()).expect("put");
        }
    });
    p.start().expect("start");
    assert_eq!([q.get().expect("get"), q.get().expect("get")], ["a", "b"]);
    p.join().expect("join");
    assert!(q.empty());
    q.close();
    assert!(matches!(q.put("c".to_string()), Err(Error::Closed)));
}

#[test]
fn a_joinable_queue_waits_for_every_task() {
    // CPython: _TestQueue.test_task_done.
    let _serial = serial();
    let q = JoinableQueue::<u32>::new().expect("queue");
    for n in 0..10 {
        q.put(n).expect("put");
    }
    let worker = q.clone();
    let mut p = Process::new(move || {
        for _ in 0..10 {
            worker.get().expect("get");
            std::thread::sleep(Duration::from_millis(5));
            worker.task_done().expect("done");
        }
    });
    p.start().expect("start");
    q.join().expect("all done");
    p.join().expect("join");
    assert!(matches!(q.task_done(), Err(Error::TooManyReleases)));
}

use crate::common::serial;
use ferrokernel_prelude::multiprocessing::{Error, JoinableQueue, Process, Queue};
use std::collections::BTreeSet;
use std::time::Duration;

#[test]
fn items_come_out_in_order_across_processes() {
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
fn timeouts_try_get_close_and_a_full_queue_waits() {
    let _serial = serial();
    let q = Queue::<String>::new().expect("queue");
    assert!(matches!(
        q.get_timeout(Duration::from_millis(20)),
        Err(Error::Timeout)
    ));
    assert_eq!(q.try_get().expect("try"), None);
    q.put("x".to_string()).expect("put");
    assert_eq!(q.try_get().expect("try").as_deref(), Some("x"));
    q.close();
    assert!(matches!(q.put("y".to_string()), Err(Error::Closed)));

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
    assert!(matches!(
        small.put_timeout(0, Duration::from_millis(1)),
        Ok(())
    ));
}

#[test]
fn a_joinable_queue_waits_for_every_task() {
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

use crate::common::serial;
use ferrokernel_prelude::multiprocessing::connection::{Waitable, wait};
use ferrokernel_prelude::multiprocessing::{Error, Pipe, Process, Queue};
use std::time::{Duration, Instant};

#[test]
fn messages_flow_both_ways() {
    let _serial = serial();
    let (parent, child) = Pipe::<String>::new().expect("pipe");
    let mut p = Process::new(move || {
        loop {
            let message = child.recv().expect("recv");
            if message == "end" {
                break;
            }
            child.send(message.to_uppercase()).expect("send");
        }
    });
    p.start().expect("start");
    for word in ["hey", "hello", "hru?"] {
        parent.send(word.to_string()).expect("send");
        assert_eq!(parent.recv().expect("recv"), word.to_uppercase());
    }
    parent.send("end".to_string()).expect("send");
    p.join().expect("join");
    assert_eq!(p.exitcode(), Some(0));
    // The child has exited, so every copy of its end is closed.
    assert!(matches!(parent.recv(), Err(Error::Eof)));
}

#[test]
fn the_receiver_gets_what_is_left_then_eof_never_a_hang() {
    let _serial = serial();
    let (receiver, sender) = Pipe::<i32>::one_way().expect("pipe");
    let mut p = Process::new(move || {
        for n in 1..=3 {
            sender.send(n).expect("send");
        }
    });
    p.start().expect("start");
    p.join().expect("join");
    let started = Instant::now();
    let got: Vec<i32> = (0..3).map(|_| receiver.recv().expect("recv")).collect();
    assert_eq!(got, [1, 2, 3]);
    assert!(matches!(receiver.recv(), Err(Error::Eof)));
    assert!(
        receiver.poll(Some(Duration::ZERO)).expect("poll"),
        "EOF counts as readable"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn sending_to_a_closed_end_is_a_broken_pipe_and_poll_waits() {
    let _serial = serial();
    let (mut a, b) = Pipe::<u8>::new().expect("pipe");
    assert!(
        !b.poll(Some(Duration::from_millis(20)))
            .expect("nothing yet")
    );
    a.send(7).expect("send");
    assert!(b.poll(None).expect("something"));
    assert_eq!(b.recv().expect("recv"), 7);
    a.close();
    assert!(matches!(b.send(1), Err(Error::BrokenPipe)));
    assert!(matches!(
        b.recv_timeout(Duration::from_secs(5)),
        Err(Error::Eof)
    ));
}

#[test]
fn connection_wait_returns_the_objects_that_are_ready() {
    // CPython: _TestWait.test_wait and test_wait_timeout.
    let _serial = serial();
    let (reader, writer) = Pipe::<u32>::new().expect("pipe");
    let (idle, _idle_writer) = Pipe::<u32>::new().expect("pipe");
    let queue = Queue::<u32>::new().expect("queue");
    let started = Instant::now();
    assert!(
        wait([&reader, &idle], Some(Duration::from_millis(30)))
            .expect("wait")
            .is_empty()
    );
    assert!(started.elapsed() >= Duration::from_millis(25));
    assert!(
        wait([&queue], Some(Duration::ZERO))
            .expect("wait")
            .is_empty()
    );
    let mut p = Process::new(move || {
        std::thread::sleep(Duration::from_millis(50));
        writer.send(5).expect("send");
        std::thread::sleep(Duration::from_millis(300));
    });
    p.start().expect("start");
    let ready = wait([&idle, &reader], None).expect("wait");
    assert_eq!(ready.len(), 1);
    assert!(std::ptr::eq(ready[0], &reader));
    assert_eq!(reader.recv().expect("recv"), 5);
    // Mixed kinds: a queue, a pipe end and the process itself.
    queue.put(1).expect("put");
    let objects: [&dyn Waitable; 3] = [&idle, &queue, &p];
    let ready = wait(objects, None).expect("wait");
    assert_eq!(ready.len(), 1, "only the queue");
    queue.get().expect("get");
    let started = Instant::now();
    let objects: [&dyn Waitable; 2] = [&queue, &p];
    let ready = wait(objects, Some(Duration::from_secs(10))).expect("wait");
    assert_eq!(ready.len(), 1, "the process, once it ends");
    assert!(p.exitcode().is_some());
    assert!(started.elapsed() < Duration::from_secs(5));
    p.join().expect("join");
    // The child has exited: its end is closed, so the reader is ready (EOF).
    assert_eq!(
        wait([&reader], Some(Duration::ZERO)).expect("wait").len(),
        1
    );
    assert!(matches!(reader.recv(), Err(Error::Eof)));
}

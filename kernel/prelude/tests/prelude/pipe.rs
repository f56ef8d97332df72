use crate::common::serial;
use ferrokernel_prelude::multiprocessing::{Error, Pipe, Process};
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

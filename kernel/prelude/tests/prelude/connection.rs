//! `multiprocessing::connection`: Listener and Client between our processes,
//! with CPython on the other end, and against peers that misbehave.

use crate::common::{assert_interrupted, python, serial};
use ferrokernel_prelude::multiprocessing::connection::{Address, AuthKey, Client, Listener};
use ferrokernel_prelude::multiprocessing::{AuthFailure, Error, Process};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

fn unix_path(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("fk-{tag}-{}.sock", std::process::id()))
}

// Follows CPython's _TestListenerClient.test_listener_client (both families)
// and test_issue16955 (poll sees data the peer sent).
#[test]
fn listener_and_client_exchange_bytes_and_values_over_tcp_and_unix() {
    let _serial = serial();
    let path = unix_path("lc");
    for address in [Address::loopback(0), Address::Unix(path.clone())] {
        let listener = Listener::bind(address, "secret").expect("bind");
        let address = listener.address().clone();
        let mut child = Process::new(move || {
            let conn = Client::connect(&address, "secret").expect("connect");
            conn.send(&"hello".to_string()).expect("send");
            conn.send_bytes(b"").expect("empty message");
            let back = conn.recv_bytes().expect("recv");
            conn.send_bytes(&back).expect("echo");
        });
        child.start().expect("start");
        let conn = listener.accept().expect("accept");
        assert_eq!(conn.recv::<String>().expect("recv"), "hello");
        assert_eq!(conn.recv_bytes().expect("empty"), b"");
        let big: Vec<u8> = (0..200_000u32).map(|n| (n % 251) as u8).collect();
        conn.send_bytes(&big).expect("send");
        assert!(conn.poll(Some(Duration::from_secs(5))).expect("poll"));
        assert_eq!(conn.recv_bytes().expect("echoed"), big);
        child.join().expect("join");
        assert_eq!(child.exitcode(), Some(0));
        assert!(matches!(conn.recv_bytes(), Err(Error::Eof)));
    }
    assert!(!path.exists(), "the socket file goes with the listener");
}

#[test]
fn default_binds_are_loopback_and_unix_sockets_are_owner_only() {
    let _serial = serial();
    for address in [
        Listener::bind(0u16, "k").expect("port").address().clone(),
        Listener::bind("localhost:0", "k")
            .expect("name")
            .address()
            .clone(),
    ] {
        let Address::Tcp(tcp) = address else {
            panic!("tcp expected, got {address:?}")
        };
        assert!(tcp.ip().is_loopback(), "{tcp}");
    }
    let everywhere = Listener::bind(Address::any(0), "k").expect("explicit");
    let Address::Tcp(tcp) = everywhere.address() else {
        panic!("tcp")
    };
    assert!(tcp.ip().is_unspecified());

    let path = unix_path("perm");
    let listener = Listener::bind(&*path, "k").expect("bind unix");
    let mode = std::fs::metadata(&path)
        .expect("socket file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    drop(listener);
    assert!(!path.exists());
}

#[test]
fn a_wrong_authkey_is_refused_on_both_sides_and_the_listener_keeps_serving() {
    let _serial = serial();
    let listener = Listener::bind(0u16, "right").expect("bind");
    let address = listener.address().clone();
    let intruder = std::thread::spawn({
        let address = address.clone();
        move || Client::connect(&address, "wrong")
    });
    assert!(matches!(
        listener.accept(),
        Err(Error::AuthenticationError(AuthFailure::WrongDigest))
    ));
    assert!(matches!(
        intruder.join().expect("thread"),
        Err(Error::AuthenticationError(AuthFailure::Rejected))
    ));
    let friend = std::thread::spawn(move || {
        let conn = Client::connect(&address, "right")?;
        conn.recv_bytes()
    });
    listener
        .accept()
        .expect("accept")
        .send_bytes(b"welcome")
        .expect("send");
    assert_eq!(friend.join().expect("thread").expect("recv"), b"welcome");
}

#[test]
fn children_inherit_the_default_authkey() {
    let _serial = serial();
    let listener = Listener::bind(0u16, AuthKey::current()).expect("bind");
    let address = listener.address().clone();
    let mut child = Process::new(move || {
        let conn = Client::connect(&address, AuthKey::current()).expect("same key");
        conn.send_bytes(b"child").expect("send");
    });
    child.start().expect("start");
    assert_eq!(
        listener
            .accept()
            .expect("accept")
            .recv_bytes()
            .expect("recv"),
        b"child"
    );
    child.join().expect("join");
    assert_eq!(child.exitcode(), Some(0));
}

#[test]
fn python_clients_talk_to_our_listener() {
    let _serial = serial();
    let mut listener = Listener::bind(0u16, "py-key").expect("bind");
    listener.set_handshake_timeout(Duration::from_secs(20));
    let Address::Tcp(tcp) = listener.address().clone() else {
        panic!("tcp")
    };
    let script = r#"
import sys
from multiprocessing.connection import Client
from multiprocessing import AuthenticationError
port, key = int(sys.argv[1]), sys.argv[2].encode()
try:
    c = Client(("127.0.0.1", port), authkey=key)
except AuthenticationError as e:
    print("auth-error", flush=True)
    sys.exit(0)
c.send_bytes(b"from python")
reply = c.recv_bytes()
c.send_bytes(reply[::-1])
print("ok", len(reply), flush=True)
"#;
    let good = python(script, &[&tcp.port().to_string(), "py-key"]);
    let conn = listener.accept().expect("accept a python client");
    assert_eq!(conn.recv_bytes().expect("recv"), b"from python");
    let payload = vec![b'x'; 100_000];
    conn.send_bytes(&[&payload[..], b"end"].concat())
        .expect("send");
    let reversed = conn.recv_bytes().expect("reply");
    assert_eq!(&reversed[..3], b"dne");
    assert_eq!(reversed.len(), 100_003);
    assert_eq!(good.finish(), "ok 100003");

    let bad = python(script, &[&tcp.port().to_string(), "not-the-key"]);
    assert!(matches!(
        listener.accept(),
        Err(Error::AuthenticationError(AuthFailure::WrongDigest))
    ));
    assert_eq!(bad.finish(), "auth-error");
}

#[test]
fn our_client_talks_to_a_python_listener() {
    let _serial = serial();
    let script = r#"
import sys
from multiprocessing.connection import Listener
from multiprocessing import AuthenticationError
key = sys.argv[1].encode()
with Listener(("127.0.0.1", 0), authkey=key) as listener:
    print(listener.address[1], flush=True)
    for _ in range(2):
        try:
            with listener.accept() as conn:
                data = conn.recv_bytes()
                conn.send_bytes(data.upper())
                print("served", flush=True)
        except AuthenticationError:
            print("refused", flush=True)
"#;
    let mut server = python(script, &["py-server-key"]);
    let port: u16 = server.line().parse().expect("port");
    assert!(matches!(
        Client::connect(("127.0.0.1", port), "wrong"),
        Err(Error::AuthenticationError(AuthFailure::Rejected))
    ));
    assert_eq!(server.line(), "refused");
    let conn = Client::connect(("127.0.0.1", port), "py-server-key").expect("connect");
    conn.send_bytes(b"shout").expect("send");
    assert_eq!(conn.recv_bytes().expect("recv"), b"SHOUT");
    assert_eq!(server.finish(), "served");
}

#[test]
fn the_sha256_challenge_of_python_312_works_both_ways() {
    let _serial = serial();
    // CPython 3.12's deliver/answer, written out with Python's own hmac over
    // a 3.11 Connection (3.11's Listener without a key does no challenge).
    let script = r##"
import hmac, os, sys
from multiprocessing.connection import Listener
key = sys.argv[1].encode()
with Listener(("127.0.0.1", 0)) as listener:
    print(listener.address[1], flush=True)
    with listener.accept() as conn:
        message = b"{sha256}" + os.urandom(40)
        conn.send_bytes(b"#CHALLENGE#" + message)
        answer = conn.recv_bytes(256)
        good = answer == b"{sha256}" + hmac.new(key, message, "sha256").digest()
        conn.send_bytes(b"#WELCOME#" if good else b"#FAILURE#")
        challenge = conn.recv_bytes(256)
        assert challenge.startswith(b"#CHALLENGE#{sha256}"), challenge
        message = challenge[len(b"#CHALLENGE#"):]
        conn.send_bytes(b"{sha256}" + hmac.new(key, message, "sha256").digest())
        verdict = conn.recv_bytes(256)
        conn.send_bytes(b"after")
        print("answer-ok" if good else "answer-bad", verdict.decode(), flush=True)
"##;
    let mut server = python(script, &["k312"]);
    let port: u16 = server.line().parse().expect("port");
    let conn = Client::connect(("127.0.0.1", port), "k312").expect("sha256 handshake");
    assert_eq!(conn.recv_bytes().expect("recv"), b"after");
    assert_eq!(server.finish(), "answer-ok #WELCOME#");
}

#[test]
fn misbehaving_peers_never_block_the_listener() {
    let _serial = serial();
    let mut listener = Listener::bind(0u16, "k").expect("bind");
    listener.set_handshake_timeout(Duration::from_millis(300));
    let Address::Tcp(tcp) = listener.address().clone() else {
        panic!("tcp")
    };

    // A client that connects and says nothing: dropped at the handshake timeout.
    let silent = TcpStream::connect(tcp).expect("connect");
    let started = Instant::now();
    assert!(matches!(listener.accept(), Err(Error::Timeout)));
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(silent);

    // An oversized length prefix where the digest should be.
    let mut huge = TcpStream::connect(tcp).expect("connect");
    let answered = std::thread::spawn(move || {
        let mut challenge = [0u8; 4 + 11 + 48];
        huge.read_exact(&mut challenge).expect("challenge");
        huge.write_all(&0x7fff_ffffi32.to_be_bytes())
            .expect("prefix");
        let mut rest = Vec::new();
        let _ = huge.read_to_end(&mut rest);
        rest
    });
    assert!(matches!(
        listener.accept(),
        Err(Error::AuthenticationError(AuthFailure::WrongDigest))
    ));
    let rest = answered.join().expect("thread");
    assert_eq!(&rest[4..], b"#FAILURE#", "told, then dropped");

    // Garbage instead of a frame, then a client that dies mid-handshake.
    let mut garbage = TcpStream::connect(tcp).expect("connect");
    garbage
        .write_all(b"GET / HTTP/1.1\r\n\r\n")
        .expect("garbage");
    assert!(listener.accept().is_err());
    let dying = TcpStream::connect(tcp).expect("connect");
    drop(dying);
    assert!(listener.accept().is_err());

    // Through all of it, an honest client still gets in.
    let address = listener.address().clone();
    let honest = std::thread::spawn(move || Client::connect(address, "k")?.recv_bytes());
    listener
        .accept()
        .expect("accept")
        .send_bytes(b"still here")
        .expect("send");
    assert_eq!(honest.join().expect("thread").expect("recv"), b"still here");
}

#[test]
fn an_oversized_frame_is_refused_after_the_handshake() {
    let _serial = serial();
    let mut listener = Listener::bind(0u16, "k").expect("bind");
    listener.set_max_frame(1024);
    let address = listener.address().clone();
    let client = std::thread::spawn(move || {
        let conn = Client::connect(address, "k")?;
        conn.send_bytes(&[1u8; 1000])?;
        conn.send_bytes(&[2u8; 2000])?;
        Ok::<_, Error>(conn)
    });
    let conn = listener.accept().expect("accept");
    assert_eq!(conn.recv_bytes().expect("fits").len(), 1000);
    assert!(matches!(
        conn.recv_bytes(),
        Err(Error::FrameTooLarge {
            size: 2000,
            limit: 1024
        })
    ));
    assert!(matches!(conn.recv_bytes(), Err(Error::BrokenPipe)));
    client.join().expect("thread").expect("client");
}

#[test]
fn accept_and_recv_are_interruptible() {
    let _serial = serial();
    let listener = Listener::bind(0u16, "k").expect("bind");
    assert_interrupted("Listener::accept", || listener.accept());
    let address = listener.address().clone();
    let client = std::thread::spawn(move || Client::connect(address, "k"));
    let conn = listener.accept().expect("accept");
    let client = client.join().expect("thread").expect("client");
    assert_interrupted("Connection::recv_bytes", || conn.recv_bytes());
    client.send_bytes(b"after the interrupt").expect("send");
    assert_eq!(
        conn.recv_bytes().expect("still usable"),
        b"after the interrupt"
    );
    // A Python-less peer that never answers: connect is interruptible too.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    assert_interrupted("Client::connect (silent peer)", || {
        Client::connect(("127.0.0.1", port), "k")
    });
}

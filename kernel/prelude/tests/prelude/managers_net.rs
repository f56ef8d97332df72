//! Networked managers: `Manager::serve` and `Manager::connect` between
//! unrelated processes, and a server that misbehaving peers cannot harm.

use crate::common::{assert_interrupted, eventually, serial};
use ferrokernel_prelude::multiprocessing::connection::{Address, AuthKey, Client};
use ferrokernel_prelude::multiprocessing::managers::ServerOptions;
use ferrokernel_prelude::multiprocessing::{
    AuthFailure, Error, EventProxy, ListProxy, LockProxy, Manager, NamespaceProxy, Process,
    QueueProxy, Value,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

fn tcp(manager: &Manager) -> SocketAddr {
    match manager.address() {
        Some(Address::Tcp(address)) => *address,
        other => panic!("a TCP address expected, got {other:?}"),
    }
}

/// The `manager_worker` example, if cargo built it beside this test binary.
fn example_worker() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe
        .parent()?
        .parent()?
        .join("examples")
        .join("manager_worker");
    path.exists().then_some(path)
}

// Follows CPython's _TestRemoteManager.test_remote: a process that is not
// the server's child connects by address and authkey and fills its queue.
#[test]
fn unrelated_processes_share_a_queue_through_serve_and_connect() {
    let _serial = serial();
    let manager = Manager::serve(0u16, "remote-key").expect("serve");
    let jobs = manager.queue::<Option<u64>>().expect("queue");
    let results = manager.list(Vec::<(u64, u64)>::new()).expect("list");
    manager.register("jobs", &jobs).expect("register");
    manager.register("results", &results).expect("register");
    for n in 1..=50 {
        jobs.put(Some(n)).expect("put");
    }
    jobs.put(None).expect("put");
    jobs.put(None).expect("put");
    let address = tcp(&manager).to_string();
    // Two exec'd processes: they share nothing with the server but the address.
    let workers: Vec<std::process::Child> = (0..2)
        .map(|_| match example_worker() {
            Some(worker) => std::process::Command::new(worker)
                .arg(&address)
                .env("FK_AUTHKEY", "remote-key")
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("run the example worker"),
            None => std::process::Command::new(std::env::current_exe().expect("test binary"))
                .args([
                    "managers_net::worker_helper",
                    "--exact",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env("FK_WORKER_ADDRESS", &address)
                .env("FK_AUTHKEY", "remote-key")
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("run the worker helper"),
        })
        .collect();
    for mut worker in workers {
        assert!(worker.wait().expect("wait").success());
    }
    let mut done = results.to_vec().expect("results");
    done.sort_unstable();
    assert_eq!(done.len(), 50);
    assert_eq!(done[0], (1, 0));
    assert_eq!(done[26], (27, 111), "Collatz(27) takes 111 steps");
}

#[test]
#[ignore = "a helper: run in a process of its own by the test above when the example is not built"]
fn worker_helper() {
    let (Ok(address), Ok(key)) = (
        std::env::var("FK_WORKER_ADDRESS"),
        std::env::var("FK_AUTHKEY"),
    ) else {
        return;
    };
    let manager = Manager::connect(address.as_str(), key).expect("connect");
    let jobs: QueueProxy<Option<u64>> = manager.get("jobs").expect("jobs");
    let results: ListProxy<(u64, u64)> = manager.get("results").expect("results");
    while let Some(n) = jobs.get().expect("get") {
        let (mut m, mut steps) = (n, 0);
        while m > 1 {
            m = if m.is_multiple_of(2) {
                m / 2
            } else {
                3 * m + 1
            };
            steps += 1;
        }
        results.append((n, steps)).expect("append");
    }
}

#[test]
fn connected_clients_use_every_kind_of_object_and_block_interruptibly() {
    let _serial = serial();
    let manager = Manager::serve(0u16, "k").expect("serve");
    manager
        .register("lock", &manager.lock().expect("lock"))
        .expect("register");
    manager
        .register("event", &manager.event().expect("event"))
        .expect("register");
    manager
        .register("ns", &manager.namespace().expect("ns"))
        .expect("register");
    manager
        .register("q", &manager.queue::<String>().expect("q"))
        .expect("register");
    let remote = Manager::connect(tcp(&manager), "k").expect("connect");
    let lock: LockProxy = remote.get("lock").expect("lock");
    let event: EventProxy = remote.get("event").expect("event");
    let ns: NamespaceProxy = remote.get("ns").expect("ns");
    let queue: QueueProxy<String> = remote.get("q").expect("q");
    assert!(matches!(
        remote.get::<LockProxy>("q"),
        Err(Error::Manager(_))
    ));
    assert!(matches!(
        remote.get::<LockProxy>("none"),
        Err(Error::KeyNotFound)
    ));

    // Objects made by a connected client are served too.
    let made_remotely = remote.dict::<String, u32>().expect("dict");
    made_remotely.insert("a".to_string(), 1).expect("insert");
    remote.register("d", &made_remotely).expect("register");
    let seen_locally: ferrokernel_prelude::multiprocessing::DictProxy<String, u32> =
        manager.get("d").expect("d");
    assert_eq!(seen_locally.get("a").expect("get"), Some(1));

    ns.set("answer", &42u32).expect("set");
    let local_ns: NamespaceProxy = manager.get("ns").expect("ns");
    assert_eq!(local_ns.get::<u32>("answer").expect("get"), 42);

    lock.acquire().expect("acquire");
    assert_interrupted("remote LockProxy::acquire", || lock.acquire());
    assert_interrupted("remote QueueProxy::get", || queue.get());
    assert_interrupted("remote EventProxy::wait", || event.wait());
    assert!(
        !lock
            .acquire_timeout(Duration::from_millis(30))
            .expect("timeout")
    );

    // A local put wakes a remote get at once, a remote set a local wait.
    let local_queue: QueueProxy<String> = manager.get("q").expect("q");
    let waiter = std::thread::spawn(move || queue.get_timeout(Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(30));
    local_queue.put("hi".to_string()).expect("put");
    assert_eq!(waiter.join().expect("thread").expect("got it"), "hi");
    let local_event: EventProxy = manager.get("event").expect("event");
    let setter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        event.set()
    });
    assert!(
        local_event
            .wait_timeout(Duration::from_secs(5))
            .expect("set")
    );
    setter.join().expect("thread").expect("set");
    lock.release().expect("release");
}

#[test]
fn a_wrong_authkey_is_refused_and_the_manager_keeps_serving() {
    let _serial = serial();
    let manager = Manager::serve(0u16, "right").expect("serve");
    manager
        .register("list", &manager.list(vec![1u8]).expect("list"))
        .expect("register");
    assert!(matches!(
        Manager::connect(tcp(&manager), "wrong"),
        Err(Error::AuthenticationError(AuthFailure::Rejected))
    ));
    let friend = Manager::connect(tcp(&manager), "right").expect("connect");
    let list: ListProxy<u8> = friend.get("list").expect("get");
    assert_eq!(list.to_vec().expect("items"), [1]);
}

#[test]
fn no_request_is_served_before_the_challenge_succeeds() {
    let _serial = serial();
    let manager = Manager::serve(0u16, "k").expect("serve");
    let list = manager.list(vec![1u8]).expect("list");
    manager.register("list", &list).expect("register");
    let mut raw = TcpStream::connect(tcp(&manager)).expect("connect");
    raw.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut challenge = [0u8; 4 + 11 + 48];
    raw.read_exact(&mut challenge)
        .expect("the server speaks first");
    assert_eq!(&challenge[4..15], b"#CHALLENGE#");
    // Whatever comes first is taken as the digest: here, a request frame.
    let request = b"\x00\x0bappend this";
    raw.write_all(&(request.len() as i32).to_be_bytes())
        .expect("write");
    raw.write_all(request).expect("write");
    let mut verdict = Vec::new();
    let _ = raw.read_to_end(&mut verdict);
    assert_eq!(&verdict[4..], b"#FAILURE#", "refused, then closed");
    assert_eq!(list.to_vec().expect("items"), [1], "nothing was applied");
}

#[test]
fn misbehaving_peers_never_harm_the_server_or_other_clients() {
    let _serial = serial();
    let options = ServerOptions::default()
        .max_frame(4096)
        .handshake_timeout(Duration::from_millis(300));
    let manager = Manager::serve_with(0u16, "k", options).expect("serve");
    let list = manager.list(Vec::<u32>::new()).expect("list");
    manager.register("list", &list).expect("register");
    let address = tcp(&manager);
    let other = Manager::connect(address, "k").expect("connect");
    let others_list: ListProxy<u32> = other.get("list").expect("get");

    // A client that connects and says nothing: others are served meanwhile,
    // and it is dropped at the handshake timeout.
    let mut silent = TcpStream::connect(address).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    others_list
        .append(1)
        .expect("served while a peer is silent");
    let started = Instant::now();
    let mut sink = Vec::new();
    let _ = silent.read_to_end(&mut sink);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "dropped at the timeout"
    );

    // Authenticated peers that send an oversized prefix, garbage, or die mid-frame.
    let oversized = Client::connect(address, "k").expect("handshake");
    raw_write(&oversized, &0x7fff_fff0i32.to_be_bytes());
    assert!(matches!(
        oversized.recv_bytes_timeout(Duration::from_secs(5)),
        Err(Error::Eof)
    ));
    let past_limit = Client::connect(address, "k").expect("handshake");
    past_limit.send_bytes(&[0u8; 5000]).expect("send");
    // Closed with the payload unread: end of file, or a reset.
    assert!(matches!(
        past_limit.recv_bytes_timeout(Duration::from_secs(5)),
        Err(Error::Eof | Error::Io(_))
    ));
    let garbage = Client::connect(address, "k").expect("handshake");
    garbage
        .send_bytes(b"\xff\xff\xff\xff not a request")
        .expect("send");
    let refused = garbage
        .recv_bytes_timeout(Duration::from_secs(5))
        .expect("an answer, not a hang-up");
    assert!(!refused.is_empty());
    garbage
        .send_bytes(b"\xfe more garbage")
        .expect("the connection still serves");
    assert!(garbage.recv_bytes_timeout(Duration::from_secs(5)).is_ok());
    let dying = Client::connect(address, "k").expect("handshake");
    raw_write(&dying, &[0, 0, 0, 100, 1, 2, 3]);
    drop(dying);

    // A client killed mid-stream loses none of the writes it saw acknowledged.
    let acked = Value::<u32>::new(0).expect("value");
    let child_acked = acked.clone();
    let mut writer = Process::new(move || {
        let remote = Manager::connect(address, "k").expect("connect");
        let list: ListProxy<u32> = remote.get("list").expect("get");
        for n in 100.. {
            list.append(n).expect("append");
            child_acked.set(n - 99).expect("set");
        }
    });
    writer.start().expect("start");
    assert!(eventually(Duration::from_secs(5), || acked
        .get()
        .is_ok_and(|n| n >= 50)));
    writer.kill();
    writer.join().expect("join");
    let acknowledged = acked.get().expect("get") as usize;
    let items = list.to_vec().expect("items");
    let written = items.iter().filter(|&&n| n >= 100).count();
    assert!(
        written == acknowledged || written == acknowledged + 1,
        "{written} written, {acknowledged} acknowledged"
    );
    assert_eq!(items[0], 1);

    // Through all of it, the server serves.
    others_list.append(2).expect("still served");
    assert_eq!(others_list.get(-1).expect("last"), 2);
}

fn raw_write(conn: &ferrokernel_prelude::multiprocessing::connection::Connection, bytes: &[u8]) {
    let written = nix::unistd::write(
        // SAFETY: the descriptor belongs to `conn`, which outlives this call.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(conn.as_raw_fd()) },
        bytes,
    )
    .expect("write");
    assert_eq!(written, bytes.len());
}

#[test]
fn served_managers_bind_loopback_by_default_and_unix_sockets_owner_only() {
    let _serial = serial();
    let manager = Manager::serve(0u16, "k").expect("serve");
    assert!(tcp(&manager).ip().is_loopback());
    drop(manager);

    let path = std::env::temp_dir().join(format!("fk-manager-{}.sock", std::process::id()));
    let mut manager = Manager::serve(&*path, "k").expect("serve on a unix socket");
    let mode = std::fs::metadata(&path)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let remote = Manager::connect(&*path, "k").expect("connect");
    let list = remote.list(vec![1u8]).expect("list");
    assert_eq!(list.len().expect("len"), 1);
    manager.shutdown().expect("shutdown");
    assert!(eventually(Duration::from_secs(2), || !path.exists()));
    assert!(matches!(list.len(), Err(Error::ManagerGone)));
    assert!(matches!(
        Manager::connect(&*path, "k"),
        Err(Error::ManagerGone)
    ));
}

#[test]
fn the_default_authkey_admits_this_programs_children() {
    let _serial = serial();
    let manager = Manager::serve(0u16, AuthKey::current()).expect("serve");
    let flags = manager.list(Vec::<u8>::new()).expect("list");
    manager.register("flags", &flags).expect("register");
    let address = tcp(&manager);
    let mut child = Process::new(move || {
        // A fresh connection, as an unrelated process would make, with the
        // key it inherited.
        let remote = Manager::connect(address, AuthKey::current()).expect("connect");
        let flags: ListProxy<u8> = remote.get("flags").expect("get");
        flags.append(1).expect("append");
    });
    child.start().expect("start");
    child.join().expect("join");
    assert_eq!(child.exitcode(), Some(0));
    assert_eq!(flags.to_vec().expect("items"), [1]);
}

#[test]
fn a_connected_process_that_forks_gives_its_child_connections_of_its_own() {
    let _serial = serial();
    let manager = Manager::serve(0u16, "k").expect("serve");
    let remote = Manager::connect(tcp(&manager), "k").expect("connect");
    let list = remote.list(Vec::<u32>::new()).expect("list");
    list.append(0).expect("pool a connection");
    let children: Vec<Process> = (1..=3u32)
        .map(|k| {
            let list = list.clone();
            Process::new(move || {
                for n in 0..50 {
                    list.append(k * 1000 + n).expect("append");
                }
            })
        })
        .collect();
    let mut children = children;
    children.iter_mut().for_each(|c| c.start().expect("start"));
    for n in 1..50 {
        list.append(n).expect("parent appends meanwhile");
    }
    children.iter_mut().for_each(|c| c.join().expect("join"));
    assert!(children.iter().all(|c| c.exitcode() == Some(0)));
    assert_eq!(list.len().expect("len"), 200, "no stream was shared");
}

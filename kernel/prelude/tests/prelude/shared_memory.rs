//! `multiprocessing::shared_memory`: named blocks shared with children,
//! unrelated processes and Python, and cleaned up when their program ends.

use crate::common::{eventually, python, serial};
use ferrokernel_prelude::multiprocessing::shared_memory::{Item, ShareableList, SharedMemory};
use ferrokernel_prelude::multiprocessing::{Error, Process};
use std::io::ErrorKind;
use std::path::Path;
use std::time::Duration;

fn unique(tag: &str) -> String {
    format!("fk_{tag}_{}", std::process::id())
}

fn in_dev_shm(name: &str) -> bool {
    Path::new("/dev/shm").join(name).exists()
}

fn kind(result: Result<SharedMemory, Error>) -> Option<ErrorKind> {
    match result {
        Err(Error::Io(error)) => Some(error.kind()),
        _ => None,
    }
}

// Follows CPython's _TestSharedMemory.test_shared_memory_basics.
#[test]
fn shared_memory_basics() {
    let _serial = serial();
    let name = unique("basics");
    let mut block = SharedMemory::create_named(&name, 512).expect("create");
    assert_eq!(block.name(), name);
    assert_eq!(block.size(), 512);
    assert_eq!(block.buf().len(), 512);
    assert!(format!("{block:?}").contains(&name));
    assert!(in_dev_shm(&name), "CPython's naming: /dev/shm/<name>");
    block.buf_mut()[0] = 42;
    let also = SharedMemory::attach(&name).expect("attach");
    assert_eq!(also.buf()[0], 42);
    also.close();
    assert_eq!(
        kind(SharedMemory::create_named(&name, 512)),
        Some(ErrorKind::AlreadyExists)
    );
    assert_eq!(
        kind(SharedMemory::attach("fk_not_there")),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(kind(SharedMemory::create(0)), Some(ErrorKind::InvalidInput));
    assert_eq!(
        kind(SharedMemory::create_named("a/b", 8)),
        Some(ErrorKind::InvalidInput)
    );
    let generated = SharedMemory::create(1).expect("generated name");
    assert!(generated.name().starts_with("psm_"), "{}", generated.name());
    generated.unlink().expect("unlink");

    // POSIX shared memory is unlinked once: the second call fails.
    let double = unique("dblunlink");
    let first = SharedMemory::create_named(&double, 5000).expect("create");
    SharedMemory::attach(&double)
        .expect("attach")
        .unlink()
        .expect("first unlink");
    assert!(matches!(first.unlink(), Err(Error::Io(e)) if e.kind() == ErrorKind::NotFound));
    block.unlink().expect("unlink");
    assert!(!in_dev_shm(&name));
}

// Follows CPython's test_shared_memory_across_processes.
#[test]
fn a_child_attaches_by_name_and_writes() {
    let _serial = serial();
    let block = SharedMemory::create(64).expect("create");
    let name = block.name().to_owned();
    let mut child = Process::new(move || {
        let mut mine = SharedMemory::attach(&name).expect("attach");
        mine.buf_mut()[..5].copy_from_slice(b"howdy");
    });
    child.start().expect("start");
    child.join().expect("join");
    assert_eq!(child.exitcode(), Some(0));
    assert_eq!(&block.buf()[..5], b"howdy");
    block.unlink().expect("unlink");
}

#[test]
fn python_attaches_to_our_block_and_we_to_pythons() {
    let _serial = serial();
    let mut ours = SharedMemory::create(32).expect("create");
    ours.buf_mut()[..4].copy_from_slice(b"rust");
    // Python 3.11 registers attached blocks with its resource tracker, which
    // would unlink ours when the script ends: real users unregister, and so
    // does the script.
    let script = r#"
import sys
from multiprocessing import resource_tracker, shared_memory
theirs = shared_memory.SharedMemory(name=sys.argv[1])
resource_tracker.unregister(theirs._name, "shared_memory")
print(bytes(theirs.buf[:4]).decode(), theirs.size, flush=True)
theirs.buf[4:10] = b"python"
theirs.close()
made = shared_memory.SharedMemory(create=True, size=100)
made.buf[:6] = b"cpython"[:6]
resource_tracker.unregister(made._name, "shared_memory")
print(made.name, flush=True)
made.close()
"#;
    let mut py = python(script, &[ours.name()]);
    assert_eq!(py.line(), "rust 32");
    let made_by_python = py.finish();
    assert_eq!(&ours.buf()[4..10], b"python");
    assert!(made_by_python.starts_with("psm_"), "{made_by_python}");
    let theirs = SharedMemory::attach(&made_by_python).expect("attach to Python's");
    assert_eq!(&theirs.buf()[..6], b"cpytho");
    assert_eq!(theirs.size(), 100);
    theirs.unlink().expect("unlink Python's block");
    assert!(in_dev_shm(ours.name()), "Python left our block alone");
    ours.unlink().expect("unlink");
}

// Follows CPython's test_shared_memory_ShareableList_basics.
#[test]
fn shareable_list_basics() {
    let _serial = serial();
    let mut list = ShareableList::new([
        Item::from("howdy"),
        Item::Bytes(b"HoWdY".to_vec()),
        Item::Float(-273.154),
        Item::Int(100),
        Item::None,
        Item::Bool(true),
        Item::Int(42),
    ])
    .expect("create");
    assert_eq!(list.format().expect("format"), "8s8sdqxxxxxx?xxxxxxxx?q");
    assert_eq!(list.len(), 7);
    assert_eq!(list.get(0).expect("get"), Item::Str("howdy".into()));
    assert_eq!(list.get(-1).expect("get"), Item::Int(42));
    assert_eq!(list.index(&Item::Int(100)).expect("index"), 3);
    assert_eq!(list.count(&Item::Bool(true)).expect("count"), 1);
    assert!(matches!(list.index(&Item::Int(7)), Err(Error::NotFound)));
    assert!(matches!(
        list.get(7),
        Err(Error::IndexOutOfRange { index: 7, len: 7 })
    ));

    // A number where a string was, and a string where a number was.
    list.set(0, 3.5).expect("set");
    assert_eq!(list.get(0).expect("get"), Item::Float(3.5));
    list.set(3, "eight ch").expect("fits in 8");
    assert_eq!(list.get(3).expect("get"), Item::Str("eight ch".into()));
    assert!(matches!(
        list.set(3, "nine char"),
        Err(Error::TooLarge {
            size: 9,
            capacity: 8
        })
    ));
    list.set(4, Item::Bytes(b"bytes".to_vec())).expect("set");
    assert_eq!(list.get(4).expect("get"), Item::Bytes(b"bytes".to_vec()));

    let other = ShareableList::attach(list.name()).expect("attach");
    assert_eq!(other.to_vec().expect("all"), list.to_vec().expect("all"));
    list.shm().unlink().expect("unlink");

    let empty = ShareableList::new(Vec::<Item>::new()).expect("empty");
    assert!(empty.is_empty());
    assert_eq!(empty.shm().size(), 16);
    empty.shm().unlink().expect("unlink");
}

#[test]
fn shareable_lists_cross_between_python_and_us() {
    let _serial = serial();
    let ours = ShareableList::new([
        Item::Int(-5),
        Item::Float(2.5),
        "naïve".into(),
        Item::Bytes(vec![1, 2, 3]),
        Item::None,
        Item::Bool(false),
    ])
    .expect("create");
    let script = r#"
import sys
from multiprocessing import resource_tracker, shared_memory
theirs = shared_memory.ShareableList(name=sys.argv[1])
resource_tracker.unregister(theirs.shm._name, "shared_memory")
print(repr(list(theirs)), flush=True)
theirs[0] = 99
made = shared_memory.ShareableList([7, "seven", True, None, 0.125, b"\x07"])
resource_tracker.unregister(made.shm._name, "shared_memory")
print(made.shm.name, flush=True)
theirs.shm.close()
made.shm.close()
"#;
    let mut py = python(script, &[ours.name()]);
    assert_eq!(
        py.line(),
        "[-5, 2.5, 'naïve', b'\\x01\\x02\\x03', None, False]"
    );
    let made = py.finish();
    assert_eq!(ours.get(0).expect("python's write"), Item::Int(99));
    let theirs = ShareableList::attach(&made).expect("attach to Python's");
    assert_eq!(
        theirs.to_vec().expect("items"),
        [
            Item::Int(7),
            Item::Str("seven".into()),
            Item::Bool(true),
            Item::None,
            Item::Float(0.125),
            Item::Bytes(vec![7]),
        ]
    );
    theirs.shm().unlink().expect("unlink");
    ours.shm().unlink().expect("unlink");
}

#[test]
fn a_block_its_program_never_unlinked_is_unlinked_when_it_dies() {
    let _serial = serial();
    let name = unique("leaked");
    // Our own test binary, running only the helper below, which creates the
    // block and is then killed, as a kernel shutting down kills its runtime.
    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "shared_memory::create_a_block_and_get_killed",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env("FK_LEAK_BLOCK", &name)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run helper");
    assert!(!status.success(), "the helper was killed");
    assert!(
        eventually(Duration::from_secs(5), || !in_dev_shm(&name)),
        "the tracker unlinked {name}"
    );
}

#[test]
#[ignore = "a helper: run in a process of its own by the test above"]
fn create_a_block_and_get_killed() {
    let Ok(name) = std::env::var("FK_LEAK_BLOCK") else {
        return;
    };
    let block = SharedMemory::create_named(&name, 64).expect("create");
    assert!(in_dev_shm(block.name()));
    nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGKILL).expect("kill");
}

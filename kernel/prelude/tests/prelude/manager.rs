use crate::common::serial;
use ferrokernel_prelude::multiprocessing::{Error, Manager, Process};

#[test]
fn a_manager_list_is_shared_with_children() {
    let _serial = serial();
    let manager = Manager::new().expect("manager");
    let records = manager
        .list(vec![
            ("Sam".to_string(), 10),
            ("Adam".to_string(), 9),
            ("Kevin".to_string(), 9),
        ])
        .expect("list");
    let writer = records.clone();
    let mut p = Process::new(move || writer.append(("Jeff".to_string(), 8)).expect("append"));
    p.start().expect("start");
    p.join().expect("join");
    assert_eq!(p.exitcode(), Some(0));
    let names: Vec<String> = records
        .iter()
        .expect("iter")
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["Sam", "Adam", "Kevin", "Jeff"]);
    assert_eq!(records.get(-1).expect("last"), ("Jeff".to_string(), 8));
    records.set(0, ("Sammy".to_string(), 11)).expect("set");
    records.remove(("Adam".to_string(), 9)).expect("remove");
    assert!(matches!(
        records.remove(("Nobody".to_string(), 0)),
        Err(Error::NotFound)
    ));
    assert!(matches!(
        records.get(10),
        Err(Error::IndexOutOfRange { index: 10, len: 3 })
    ));
    assert_eq!(records.pop().expect("pop").0, "Jeff");
    records
        .extend(vec![("Eve".to_string(), 7)])
        .expect("extend");
    assert_eq!(records.len().expect("len"), 3);
    records.clear().expect("clear");
    assert!(records.is_empty().expect("empty"));
}

#[test]
fn dicts_values_and_many_writers() {
    let _serial = serial();
    let manager = Manager::new().expect("manager");
    let scores = manager.dict::<String, u32>().expect("dict");
    let total = manager.value(0u64).expect("value");
    let appended = manager.list(Vec::<u32>::new()).expect("list");
    let mut writers: Vec<Process> = (0..4u32)
        .map(|writer| {
            let (scores, appended) = (scores.clone(), appended.clone());
            Process::new(move || {
                scores.insert(format!("w{writer}"), writer).expect("insert");
                for n in 0..250 {
                    appended.append(writer * 1000 + n).expect("append");
                }
            })
        })
        .collect();
    writers.iter_mut().for_each(|w| w.start().expect("start"));
    writers.iter_mut().for_each(|w| w.join().expect("join"));
    assert_eq!(appended.len().expect("len"), 1000);
    assert_eq!(scores.len().expect("len"), 4);
    assert_eq!(scores.get(&"w2".to_string()).expect("get"), Some(2));
    assert_eq!(
        scores.insert("w2".to_string(), 20).expect("insert"),
        Some(2)
    );
    assert_eq!(scores.remove(&"w0".to_string()).expect("remove"), Some(0));
    assert_eq!(scores.keys().expect("keys").len(), 3);
    assert_eq!(scores.to_map().expect("map")["w2"], 20);
    total.set(42).expect("set");
    assert_eq!(total.get().expect("get"), 42);
}

#[test]
fn proxies_report_a_gone_manager() {
    let _serial = serial();
    let mut manager = Manager::new().expect("manager");
    let list = manager.list(vec![1]).expect("list");
    manager.shutdown().expect("shutdown");
    assert!(matches!(list.len(), Err(Error::ManagerGone)));
    let killed = Manager::new().expect("manager");
    let orphan = killed.list(vec![1]).expect("list");
    let pid = killed.pid().expect("pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    assert!(
        matches!(orphan.append(2), Err(Error::ManagerGone)),
        "no hang on a dead server"
    );
}

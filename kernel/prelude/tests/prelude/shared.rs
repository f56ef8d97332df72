use crate::common::serial;
use ferrokernel_prelude::multiprocessing::{Array, Error, Process, Value};

#[test]
fn values_and_arrays_are_shared_with_children() {
    // CPython: _TestValue.test_value and _TestArray.test_array.
    let _serial = serial();
    let result = Array::<i32>::new(4).expect("array");
    let square_sum = Value::<i32>::new(0).expect("value");
    assert_eq!(result.to_vec().expect("to_vec"), [0, 0, 0, 0]);
    let mut p = Process::new({
        let (result, square_sum) = (result.clone(), square_sum.clone());
        move || {
            for (idx, num) in [1, 2, 3, 4].iter().enumerate() {
                result.set(idx, num * num).expect("set");
            }
            square_sum
                .set(result.iter().expect("iter").sum())
                .expect("set");
        }
    });
    p.start().expect("start");
    p.join().expect("join");
    assert_eq!(square_sum.get().expect("get"), 30);
    assert_eq!(result.to_vec().expect("to_vec"), [1, 4, 9, 16]);
    assert_eq!(
        result.iter().expect("iter").collect::<Vec<_>>(),
        [1, 4, 9, 16]
    );
    assert_eq!((result.len(), result.get(3).expect("get")), (4, 16));

    let floats = Array::from_slice(&[0.5f64, 1.5]).expect("array");
    floats.get_lock().expect("lock")[1] += 1.0;
    assert_eq!(floats.to_vec().expect("to_vec"), [0.5, 2.5]);
    let flag = Value::new(false).expect("value");
    flag.set(true).expect("set");
    assert!(flag.get().expect("get"));
}

#[test]
fn locked_increments_from_two_processes_add_up() {
    // CPython: _TestValue.test_getobj_getlock (the lock makes += atomic).
    let _serial = serial();
    let counter = Value::<u64>::new(0).expect("value");
    let mut workers: Vec<Process> = (0..2)
        .map(|_| {
            let counter = counter.clone();
            Process::new(move || {
                for _ in 0..20_000 {
                    *counter.get_lock().expect("lock") += 1;
                }
            })
        })
        .collect();
    for worker in &mut workers {
        worker.start().expect("start");
    }
    for worker in &mut workers {
        worker.join().expect("join");
        assert_eq!(worker.exitcode(), Some(0));
    }
    assert_eq!(counter.get().expect("get"), 40_000);
}

#[test]
fn a_value_whose_lock_holder_died_is_recovered() {
    let _serial = serial();
    let value = Value::<i32>::new(5).expect("value");
    let holder = value.clone();
    let mut p = Process::new(move || {
        let mut guard = holder.get_lock().expect("lock");
        *guard = 6;
        // Die holding the lock.
        std::mem::forget(guard);
        // SAFETY: leave at once, as a crash would.
        unsafe { libc::_exit(0) };
    });
    p.start().expect("start");
    p.join().expect("join");
    let guard = value.get_lock().expect("the lock is recovered, not stuck");
    assert!(guard.recovered());
    assert_eq!(*guard, 6);
    drop(guard);
    assert!(!value.get_lock().expect("lock").recovered());
}

#[test]
fn indexing_past_the_end_is_an_error_not_a_panic() {
    let array = Array::<u8>::new(2).expect("array");
    assert!(matches!(
        array.get(2),
        Err(Error::IndexOutOfRange { index: 2, len: 2 })
    ));
    assert!(matches!(
        array.set(5, 1),
        Err(Error::IndexOutOfRange { index: 5, len: 2 })
    ));
    assert_eq!(
        array.to_vec().expect("to_vec"),
        [0, 0],
        "nothing was written"
    );
}

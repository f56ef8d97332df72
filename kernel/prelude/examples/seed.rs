//! The seed notebook (Python's multiprocessing tutorial) ported cell by cell,
//! as one program. Each block names the Python cell it ports.
//!
//! `cargo run -p ferrokernel-prelude --example seed`

use ferrokernel_prelude::multiprocessing::{
    self, Array, Lock, Manager, Pipe, Pool, Process, Queue, Result, Value,
};
use ferrokernel_prelude::{os, threading};

fn print_square(n: i32) {
    println!("{}", os::getpid());
    println!("Square: {}", n * n);
}

fn print_cube(n: i32) {
    println!("{}", os::getpid());
    println!("Cube: {}", n * n * n);
}

fn main() -> Result<()> {
    // In [5]: multiprocessing.cpu_count()
    println!("cpu_count = {}", multiprocessing::cpu_count());

    // In [8]-[9]: two processes, started then joined.
    let mut p1 = Process::new(|| print_cube(3));
    let mut p2 = Process::new(|| print_square(4));
    p1.start()?;
    p1.join()?;
    p2.start()?;
    p2.join()?;
    println!("Done");
    // In [10]: p1.is_alive()
    println!("{}", p1.is_alive());

    // In [11]-[16]: the child's result does not change the parent's memory.
    let mut result: Vec<i32> = Vec::new();
    let mylist = vec![1, 2, 3, 4];
    let mut p1 = Process::new(move || {
        for num in &mylist {
            result.push(num * num);
        }
        println!("Result {result:?}");
    });
    p1.start()?;
    p1.join()?;
    let result: Vec<i32> = Vec::new(); // the parent's own, untouched
    println!("{result:?}");

    // In [17]-[20]: shared memory with Array and Value.
    let result = Array::<i32>::new(4)?;
    let square_sum = Value::<i32>::new(0)?;
    let mut p1 = Process::new({
        let (result, square_sum) = (result.clone(), square_sum.clone());
        move || {
            let square_list = || -> Result<()> {
                for (idx, num) in [1, 2, 3, 4].iter().enumerate() {
                    result.set(idx, num * num)?;
                }
                square_sum.set(result.iter()?.sum())
            };
            square_list().expect("square_list");
        }
    });
    p1.start()?;
    p1.join()?;
    println!("{}", square_sum.get()?);
    for i in result.iter()? {
        println!("{i}");
    }

    // In [21]-[22]: a server process with a Manager list.
    let manager = Manager::new()?;
    let records = manager.list(vec![
        ("Sam".to_string(), 10),
        ("Adam".to_string(), 9),
        ("Kevin".to_string(), 9),
    ])?;
    let new_record = ("Jeff".to_string(), 8);
    let mut p1 = Process::new({
        let records = records.clone();
        move || {
            records.append(new_record).expect("append");
            println!("New record inserted");
        }
    });
    let mut p2 = Process::new({
        let records = records.clone();
        move || {
            for (name, score) in records.iter().expect("records") {
                println!("Name: {name}\nScore: {score}\n");
            }
        }
    });
    p1.start()?;
    p1.join()?;
    p2.start()?;
    p2.join()?;
    drop(manager);

    // In [23]-[26]: a Queue between two processes.
    let q = Queue::<i32>::new()?;
    let mut p1 = Process::new({
        let q = q.clone();
        move || {
            for num in [1, 2, 3, 4] {
                q.put(num * num).expect("put");
            }
        }
    });
    let mut p2 = Process::new({
        let q = q.clone();
        move || {
            for _ in 0..4 {
                println!("{}", q.get().expect("get"));
            }
        }
    });
    p1.start()?;
    p2.start()?;
    p1.join()?;
    p2.join()?;

    // In [27]-[30]: a Pipe between two processes.
    let msgs = ["hey", "hello", "hru?", "end"].map(String::from);
    let (parent_conn, child_conn) = Pipe::<String>::new()?;
    let mut p1 = Process::new(move || {
        for msg in &msgs {
            parent_conn.send(msg).expect("send");
        }
    });
    let mut p2 = Process::new(move || {
        loop {
            let msg = child_conn.recv().expect("recv");
            if msg == "end" {
                break;
            }
            println!("{msg}");
        }
    });
    p1.start()?;
    p2.start()?;
    p1.join()?;
    p2.join()?;

    // In [33]-[35]: a pool.
    let square = |n: i32| {
        println!("{} : {}", n, os::getpid());
        n * n
    };
    let pool = Pool::new()?;
    let result = pool.map(square, vec![1, 2, 3, 4, 5])?;
    println!("{result:?}");

    // In [94]-[101]: a lock around a shared balance.
    fn perform_transaction() -> Result<()> {
        let balance = Value::<i32>::new(100)?;
        let lock = Lock::new()?;
        let withdraw = {
            let (balance, lock) = (balance.clone(), lock.clone());
            move || {
                for _ in 0..1000 {
                    lock.acquire().expect("acquire");
                    balance.set(balance.get().expect("get") - 1).expect("set");
                    lock.release().expect("release");
                }
            }
        };
        let deposit = {
            let (balance, lock) = (balance.clone(), lock.clone());
            move || {
                for _ in 0..1000 {
                    lock.acquire().expect("acquire");
                    balance.set(balance.get().expect("get") + 1).expect("set");
                    lock.release().expect("release");
                }
            }
        };
        let mut p1 = Process::new(withdraw);
        let mut p2 = Process::new(deposit);
        p1.start()?;
        p2.start()?;
        p1.join()?;
        p2.join()?;
        println!("Balance: {}", balance.get()?);
        Ok(())
    }
    for _ in 0..10 {
        perform_transaction()?;
    }

    // In [116]-[118]: threads.
    let mut t1 = threading::Thread::new("t1", || {
        println!("{} {}", threading::current_thread().name(), os::getpid());
        println!("Cube:{}", 3 * 3 * 3);
    });
    let mut t2 = threading::Thread::new("t2", || {
        println!("{} {}", threading::current_thread().name(), os::getpid());
        println!("Square:{}", 4 * 4);
    });
    t1.start()?;
    t1.join()?;
    t2.start()?;
    t2.join()?;

    // In [129]-[131]: a threading lock around a counter.
    for i in 0..10 {
        let x = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let lock = threading::Lock::new();
        let task = |x: std::sync::Arc<std::sync::atomic::AtomicU64>, lock: threading::Lock| {
            move || {
                for _ in 0..100_000 {
                    let _held = lock.lock().expect("lock");
                    let value = x.load(std::sync::atomic::Ordering::Relaxed);
                    x.store(value + 1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        };
        let mut t1 = threading::Thread::new("t1", task(x.clone(), lock.clone()));
        let mut t2 = threading::Thread::new("t2", task(x.clone(), lock.clone()));
        t1.start()?;
        t2.start()?;
        t1.join()?;
        t2.join()?;
        println!(
            "Iteration {i}: x:{}",
            x.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    Ok(())
}

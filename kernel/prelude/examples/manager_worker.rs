//! A worker for a notebook's networked manager: it connects to the manager
//! served at ADDRESS, takes jobs from the queue registered as `"jobs"` and
//! appends each result to the list registered as `"results"`, until it takes
//! a `None` (the notebook's "no more work").
//!
//! In the notebook, on machine A:
//!
//! ```text
//! let manager = Manager::serve(Address::any(50000), "a strong secret")?;
//! let jobs = manager.queue::<Option<u64>>()?;
//! manager.register("jobs", &jobs)?;
//! let results = manager.list(Vec::<(u64, u64)>::new())?;
//! manager.register("results", &results)?;
//! for n in 1..=1000 { jobs.put(Some(n))?; }
//! for _ in 0..workers { jobs.put(None)?; }
//! ```
//!
//! On machine B (and C, and ...):
//!
//! ```text
//! FK_AUTHKEY="a strong secret" cargo run --release -p ferrokernel-prelude \
//!     --example manager_worker -- 192.168.1.10:50000
//! ```
//!
//! The key comes from `FK_AUTHKEY` rather than the command line, which other
//! users of the machine can read in the process list.

use ferrokernel_prelude::multiprocessing::{self, ListProxy, Manager, QueueProxy};
use ferrokernel_prelude::os;

/// The job: how many steps the Collatz sequence from `n` takes to reach 1.
fn collatz_steps(mut n: u64) -> u64 {
    let mut steps = 0;
    while n > 1 {
        n = if n.is_multiple_of(2) {
            n / 2
        } else {
            3 * n + 1
        };
        steps += 1;
    }
    steps
}

fn main() -> multiprocessing::Result<()> {
    let Some(address) = std::env::args().nth(1) else {
        eprintln!("usage: FK_AUTHKEY=... manager_worker HOST:PORT");
        std::process::exit(2);
    };
    let Ok(authkey) = std::env::var("FK_AUTHKEY") else {
        eprintln!("manager_worker: set FK_AUTHKEY to the manager's authkey");
        std::process::exit(2);
    };
    let manager = Manager::connect(address.as_str(), authkey)?;
    let jobs: QueueProxy<Option<u64>> = manager.get("jobs")?;
    let results: ListProxy<(u64, u64)> = manager.get("results")?;
    let mut done = 0;
    while let Some(n) = jobs.get()? {
        results.append((n, collatz_steps(n)))?;
        done += 1;
    }
    println!("worker {} did {done} jobs", os::getpid());
    Ok(())
}

//! Waiting a little before parking: the spin of the shared-memory channels.
//!
//! A peer in another process usually answers within microseconds; parking on a
//! futex and being woken costs ~60 µs here. So a waiter first looks again for a
//! bounded while, and parks only if nothing came — an idle waiter parks after
//! the budget and then costs nothing.
//!
//! Between looks it yields, from the first look on: a pure busy-wait only pays
//! when the peer runs on another core at that very moment. When both share a
//! core (one core, or every core busy with other work), each microsecond spun
//! is a microsecond the peer cannot run: a 5 µs busy-wait before the first
//! yield made a manager call ~13 µs instead of ~2.5 µs on a loaded 2-core
//! machine. `sched_yield` with nothing else runnable returns at once, so an
//! idle machine loses next to nothing.

use std::time::{Duration, Instant};

/// Looks at `ready` until it holds or `budget` has passed, yielding the core
/// between looks; whether it held.
pub(crate) fn spin_until(budget: Duration, mut ready: impl FnMut() -> bool) -> bool {
    if ready() {
        return true;
    }
    let started = Instant::now();
    loop {
        std::thread::yield_now();
        if ready() {
            return true;
        }
        if started.elapsed() > budget {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn it_sees_a_change_made_meanwhile_and_gives_up_after_its_budget() {
        assert!(!spin_until(Duration::from_micros(50), || false));
        let flag = Arc::new(AtomicBool::new(false));
        let setter = Arc::clone(&flag);
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1));
            setter.store(true, Ordering::Release);
        });
        assert!(spin_until(Duration::from_secs(60), || flag.load(Ordering::Acquire)));
        thread.join().expect("setter");
    }
}

//! Python's `concurrent` package: [`futures`], executors that run closures
//! in worker processes or threads and hand back [`Future`](futures::Future)s.

pub mod futures;

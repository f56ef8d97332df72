//! [`Thread`] and the questions about threads: [`current_thread`],
//! [`main_thread`], [`enumerate`], [`active_count`], [`get_ident`],
//! [`get_native_id`].
//!
//! Running threads are listed in the process's books (`sys::books`), so every
//! notebook cell sees the same list. A thread's `ident` is its kernel thread
//! id, as is its `native_id`: Python's `ident` is an opaque cookie, and this
//! one is known for every thread (the main thread's is the process id).

use super::{lock, native_id};
use crate::error::{Error, Result};
use crate::sys::books::ThreadRecord;
use crate::sys::deadline::Deadline;
use crate::sys::globals::books;
use crate::sys::shutdown;
use crate::sys::wait::wait_until;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

type Target = Box<dyn FnOnce() + Send + 'static>;

/// Set when the thread's closure has returned (or panicked).
type DoneFlag = Arc<(Mutex<bool>, Condvar)>;

/// A named thread, like Python's `threading.Thread`.
///
/// ```
/// use ferrokernel_prelude::threading::{Thread, current_thread};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let mut t1 = Thread::new("t1", || println!("{} says hi", current_thread().name()));
/// t1.start()?;
/// t1.join()?;
/// # Ok(())
/// # }
/// ```
///
/// A program using the prelude as a library waits for its non-daemon threads
/// when `main` returns, as Python does; daemon threads end with the process.
pub struct Thread {
    name: String,
    daemon: bool,
    target: Option<Target>,
    handle: Option<JoinHandle<()>>,
    done: DoneFlag,
    native_id: Option<i32>,
}

impl std::fmt::Debug for Thread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thread")
            .field("name", &self.name)
            .field("daemon", &self.daemon)
            .field("native_id", &self.native_id)
            .field("alive", &self.is_alive())
            .finish()
    }
}

/// Removes the thread from the books and marks it done, however its closure ends.
struct Finish {
    done: DoneFlag,
    native_id: i32,
}

impl Drop for Finish {
    fn drop(&mut self) {
        books().threads.retain(|t| t.native_id != self.native_id);
        *lock(&self.done.0) = true;
        self.done.1.notify_all();
    }
}

impl Thread {
    /// A thread named `name` that will run `target` once started.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Thread;
    /// let t = Thread::new("worker", || {});
    /// assert_eq!(t.name(), "worker");
    /// ```
    pub fn new(name: impl Into<String>, target: impl FnOnce() + Send + 'static) -> Thread {
        Thread {
            name: name.into(),
            daemon: false,
            target: Some(Box::new(target)),
            handle: None,
            done: Arc::default(),
            native_id: None,
        }
    }

    /// Sets the daemon flag (builder): a daemon thread is not waited for when
    /// a program using the prelude returns from `main`.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Thread;
    /// assert!(Thread::new("background", || {}).daemon(true).is_daemon());
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Thread {
        self.daemon = daemon;
        self
    }

    /// Whether the thread is a daemon thread (Python's `t.daemon`).
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Thread;
    /// assert!(!Thread::new("t", || {}).is_daemon());
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// The thread's name.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Thread;
    /// assert_eq!(Thread::new("t1", || {}).name(), "t1");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The thread's ident once started (Python's `t.ident`; see the module notes).
    ///
    /// ```
    /// use ferrokernel_prelude::threading::{Thread, get_ident};
    /// use std::sync::mpsc;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let (tx, rx) = mpsc::channel();
    /// let mut t = Thread::new("t", move || tx.send(get_ident()).expect("send"));
    /// assert_eq!(t.ident(), None);
    /// t.start()?;
    /// assert_eq!(t.ident(), Some(rx.recv().expect("recv")));
    /// t.join()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn ident(&self) -> Option<u64> {
        self.native_id.map(|id| id as u64)
    }

    /// The kernel's id of the thread once started (Python's `t.native_id`).
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Thread;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut t = Thread::new("t", || {});
    /// t.start()?;
    /// assert!(t.native_id().is_some_and(|id| id != ferrokernel_prelude::os::getpid()));
    /// t.join()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn native_id(&self) -> Option<i32> {
        self.native_id
    }

    /// Starts the thread (once; again is `Err(AlreadyStarted)`). Returns once
    /// the thread runs and is listed by [`enumerate`], as Python's does.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Error;
    /// use ferrokernel_prelude::threading::Thread;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut t = Thread::new("once", || {});
    /// t.start()?;
    /// assert!(matches!(t.start(), Err(Error::AlreadyStarted)));
    /// t.join()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn start(&mut self) -> Result<()> {
        let target = self.target.take().ok_or(Error::AlreadyStarted)?;
        if !self.daemon {
            shutdown::register_exit_hook();
        }
        let done = Arc::clone(&self.done);
        let started: Arc<(Mutex<Option<i32>>, Condvar)> = Arc::default();
        let report = Arc::clone(&started);
        let (name, daemon) = (self.name.clone(), self.daemon);
        let handle = std::thread::Builder::new()
            .name(self.name.clone())
            .spawn(move || {
                let me = native_id();
                books().threads.push(ThreadRecord {
                    native_id: me,
                    name,
                    daemon,
                });
                let _finish = Finish {
                    done,
                    native_id: me,
                };
                *lock(&report.0) = Some(me);
                report.1.notify_all();
                drop(report);
                target();
            })?;
        let mut id = lock(&started.0);
        while id.is_none() {
            id = started.1.wait(id).unwrap_or_else(|e| e.into_inner());
        }
        self.native_id = *id;
        self.handle = Some(handle);
        Ok(())
    }

    /// Waits (interruptibly) for the thread to end; `Err(TaskPanicked)` if it panicked.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Error;
    /// use ferrokernel_prelude::threading::Thread;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut t = Thread::new("p", || panic!("thread trouble"));
    /// t.start()?;
    /// assert!(matches!(t.join(), Err(Error::TaskPanicked { message }) if message == "thread trouble"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn join(&mut self) -> Result<()> {
        self.join_deadline(Deadline::forever()).map(drop)
    }

    /// Waits at most `timeout`; `Ok(true)` if the thread ended.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Thread;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut t = Thread::new("slow", || std::thread::sleep(Duration::from_millis(100)));
    /// t.start()?;
    /// assert!(!t.join_timeout(Duration::from_millis(1))?);
    /// assert!(t.join_timeout(Duration::from_secs(5))?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<bool> {
        self.join_deadline(Deadline::after(Some(timeout)))
    }

    fn join_deadline(&mut self, deadline: Deadline) -> Result<bool> {
        if self.target.is_some() {
            return Err(Error::NotStarted);
        }
        let Some(handle) = self.handle.take() else {
            return Ok(true);
        };
        let (flag, condvar) = &*self.done;
        match wait_until(condvar, lock(flag), &deadline, |done| *done) {
            Ok(_) => {}
            Err(Error::Timeout) => {
                self.handle = Some(handle);
                return Ok(false);
            }
            Err(other) => {
                self.handle = Some(handle);
                return Err(other);
            }
        }
        handle.join().map_err(|panic| Error::TaskPanicked {
            message: panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "Box<dyn Any>".to_owned()),
        })?;
        Ok(true)
    }

    /// Whether the thread has started and not ended.
    ///
    /// ```
    /// use ferrokernel_prelude::threading::Thread;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut t = Thread::new("t", || {});
    /// assert!(!t.is_alive());
    /// t.start()?;
    /// t.join()?;
    /// assert!(!t.is_alive());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_alive(&self) -> bool {
        self.native_id.is_some() && !*lock(&self.done.0)
    }
}

/// A running thread, as `current_thread()`, `main_thread()` and
/// `enumerate()` describe it.
///
/// ```
/// use ferrokernel_prelude::threading::{current_thread, main_thread};
/// assert_eq!(current_thread(), main_thread()); // on the main thread
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadInfo {
    name: String,
    native_id: i32,
    daemon: bool,
}

impl ThreadInfo {
    /// `MainThread` for the process's first thread, else the thread's name.
    ///
    /// ```
    /// assert_eq!(ferrokernel_prelude::threading::main_thread().name(), "MainThread");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The thread's ident (Python's `ident`; see the module notes).
    ///
    /// ```
    /// use ferrokernel_prelude::threading::{current_thread, get_ident};
    /// assert_eq!(current_thread().ident(), get_ident());
    /// ```
    pub fn ident(&self) -> u64 {
        self.native_id as u64
    }

    /// The kernel's id of the thread (Python's `native_id`).
    ///
    /// ```
    /// use ferrokernel_prelude::threading::{current_thread, get_native_id};
    /// assert_eq!(current_thread().native_id(), get_native_id());
    /// ```
    pub fn native_id(&self) -> i32 {
        self.native_id
    }

    /// Whether it is a daemon thread.
    ///
    /// ```
    /// assert!(!ferrokernel_prelude::threading::main_thread().is_daemon());
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }
}

fn main_info() -> ThreadInfo {
    ThreadInfo {
        name: "MainThread".to_owned(),
        native_id: crate::os::getpid(),
        daemon: false,
    }
}

fn info(record: &ThreadRecord) -> ThreadInfo {
    ThreadInfo {
        name: record.name.clone(),
        native_id: record.native_id,
        daemon: record.daemon,
    }
}

/// The running thread (`threading.current_thread()`). A thread not started by
/// [`Thread`] is named as `std::thread` named it, or `Dummy-<id>` (Python's
/// dummy threads).
///
/// ```
/// use ferrokernel_prelude::threading::current_thread;
/// assert_eq!(current_thread().name(), "MainThread");
/// let name = std::thread::Builder::new()
///     .name("helper".into())
///     .spawn(|| current_thread().name().to_owned())
///     .expect("spawn")
///     .join()
///     .expect("join");
/// assert_eq!(name, "helper");
/// ```
pub fn current_thread() -> ThreadInfo {
    let me = native_id();
    if me == crate::os::getpid() {
        return main_info();
    }
    if let Some(record) = books().threads.iter().find(|t| t.native_id == me) {
        return info(record);
    }
    let name = std::thread::current()
        .name()
        .map_or_else(|| format!("Dummy-{me}"), str::to_owned);
    ThreadInfo {
        name,
        native_id: me,
        daemon: true,
    }
}

/// The process's main thread, named `MainThread` (`threading.main_thread()`).
/// In a child process, the thread that started it.
///
/// ```
/// use ferrokernel_prelude::{os, threading::main_thread};
/// assert_eq!(main_thread().native_id(), os::getpid());
/// ```
pub fn main_thread() -> ThreadInfo {
    main_info()
}

/// The main thread and every running [`Thread`] (`threading.enumerate()`).
///
/// ```
/// use ferrokernel_prelude::threading::{Event, Thread, enumerate};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let stop = Event::new();
/// let waiter = stop.clone();
/// let mut t = Thread::new("listed", move || waiter.wait().expect("wait"));
/// t.start()?;
/// assert!(enumerate().iter().any(|t| t.name() == "listed"));
/// stop.set();
/// t.join()?;
/// assert!(!enumerate().iter().any(|t| t.name() == "listed"));
/// # Ok(())
/// # }
/// ```
pub fn enumerate() -> Vec<ThreadInfo> {
    let mut all = vec![main_info()];
    all.extend(books().threads.iter().map(info));
    all
}

/// How many threads [`enumerate`] lists (`threading.active_count()`).
///
/// ```
/// use ferrokernel_prelude::threading::{active_count, enumerate};
/// assert!(active_count() >= 1);
/// ```
pub fn active_count() -> usize {
    1 + books().threads.len()
}

/// The calling thread's ident (`threading.get_ident()`; see the module notes).
///
/// ```
/// use ferrokernel_prelude::{os, threading::get_ident};
/// assert_eq!(get_ident(), os::getpid() as u64); // on the main thread
/// ```
pub fn get_ident() -> u64 {
    native_id() as u64
}

/// The kernel's id of the calling thread (`threading.get_native_id()`).
///
/// ```
/// use ferrokernel_prelude::threading::get_native_id;
/// let other = std::thread::spawn(get_native_id).join().expect("join");
/// assert_ne!(other, get_native_id());
/// ```
pub fn get_native_id() -> i32 {
    native_id()
}

//! [`Process`]: a closure run in a forked child process.

use super::{Error, Result};
use crate::sys::books::ChildKind;
use crate::sys::child::{self, ChildWaiter};
use crate::sys::deadline::Deadline;
use crate::sys::fork::{self, NewChild};
use crate::sys::globals::books;
use crate::sys::globals::globals;
use crate::sys::shutdown;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

// The process-wide bookkeeping (created count, this process's name, children
// not joined yet) lives in `sys::globals` and `sys::books`, shared by every
// copy of the crate.

type Target = Box<dyn FnOnce() + Send + 'static>;

enum State {
    Created(Target),
    /// The fork failed; the target is gone.
    Failed,
    Started(ChildWaiter),
    Finished {
        pid: i32,
        exitcode: i32,
    },
}

/// A process running a closure, like Python's `multiprocessing.Process`.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::Process;
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let mut p = Process::new(|| println!("Cube: {}", 3 * 3 * 3)).name("cuber");
/// p.start()?;
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(0));
/// assert!(p.to_string().ends_with("exited with code 0"));
/// # Ok(())
/// # }
/// ```
///
/// The child is a `fork()` of this process: it sees everything the closure
/// captured (moved in, or copied on write), and nothing it does to ordinary
/// memory is seen by the parent — use [`Value`](super::Value), [`Queue`](super::Queue)
/// and friends to share. It dies with its parent.
///
/// When its closure returns, the child waits for its non-daemon threads and
/// children, and terminates its daemonic ones, as Python's do.
pub struct Process {
    /// The process's name (`Process-1`, ... unless set).
    pub name: String,
    /// Whether the process is daemonic, as in Python: it may not start
    /// children of its own, and when a program using the prelude as a library
    /// returns from `main`, its daemonic children are terminated (SIGTERM)
    /// while the others are joined. Set it before `start`.
    pub daemon: bool,
    state: State,
    /// When it started, and the exit first seen (with when it was seen).
    started: Option<SystemTime>,
    ended: Mutex<Option<(i32, SystemTime)>>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.pid())
            .field("daemon", &self.daemon)
            .field("exitcode", &self.exitcode())
            .field("status", &self.status())
            .finish()
    }
}

/// `Process-3 (pid 1234) was killed by SIGSEGV (signal 11)`, `Process-1
/// (pid 1200) is running`, `Process-2 (not started)`.
impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid() {
            Some(pid) => write!(f, "{} (pid {pid}) {}", self.name, self.status()),
            None => write!(f, "{} ({})", self.name, self.status()),
        }
    }
}

impl Process {
    /// A process that will run `target` once started.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Process;
    /// let p = Process::new(|| println!("hello from a child"));
    /// assert!(p.name.starts_with("Process-") && p.pid().is_none());
    /// ```
    pub fn new(target: impl FnOnce() + Send + 'static) -> Process {
        let n = globals().created.fetch_add(1, Ordering::SeqCst) + 1;
        let name = match books().name.clone() {
            Some(parent) => format!("{parent}:{n}"),
            None => format!("Process-{n}"),
        };
        Process {
            name,
            daemon: false,
            state: State::Created(Box::new(target)),
            started: None,
            ended: Mutex::new(None),
        }
    }

    /// Sets the name (builder).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Process;
    /// assert_eq!(Process::new(|| {}).name("cuber").name, "cuber");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Process {
        self.name = name.into();
        self
    }

    /// Sets the daemon flag (builder); see [`daemon`](Process#structfield.daemon).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Error, Process};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut p = Process::new(|| {
    ///     // A daemonic process may not start children, as in Python.
    ///     let refused = Process::new(|| {}).start();
    ///     assert!(matches!(refused, Err(Error::DaemonicChildren)));
    /// })
    /// .daemon(true);
    /// p.start()?;
    /// p.join()?;
    /// assert_eq!(p.exitcode(), Some(0));
    /// # Ok(())
    /// # }
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Process {
        self.daemon = daemon;
        self
    }

    /// Starts the child. A process starts once; again is `Err(AlreadyStarted)`.
    /// In a daemonic process, `Err(DaemonicChildren)`.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Error, Process};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut p = Process::new(|| {});
    /// p.start()?;
    /// assert!(matches!(p.start(), Err(Error::AlreadyStarted)));
    /// p.join()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn start(&mut self) -> Result<()> {
        if !matches!(self.state, State::Created(_)) {
            return Err(Error::AlreadyStarted);
        }
        fork::may_have_children()?;
        let State::Created(target) = std::mem::replace(&mut self.state, State::Failed) else {
            return Err(Error::AlreadyStarted);
        };
        shutdown::register_exit_hook();
        reap_finished();
        let new = NewChild {
            name: self.name.clone(),
            daemon: self.daemon,
            kind: ChildKind::Process,
            group: None,
        };
        let pid = fork::spawn_child(new, move || {
            globals().created.store(0, Ordering::SeqCst);
            let ran = std::panic::catch_unwind(AssertUnwindSafe(target));
            shutdown::finish();
            if ran.is_ok() { 0 } else { fork::PANIC_EXIT }
        })?;
        self.state = State::Started(ChildWaiter::new(pid));
        self.started = Some(SystemTime::now());
        Ok(())
    }

    /// Waits (interruptibly) for the child to end.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Process;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut p = Process::new(|| std::process::exit(3));
    /// p.start()?;
    /// p.join()?;
    /// assert_eq!(p.exitcode(), Some(3));
    /// # Ok(())
    /// # }
    /// ```
    pub fn join(&mut self) -> Result<()> {
        self.wait(Deadline::forever()).map(drop)
    }

    /// Waits at most `timeout`; `Ok(true)` if the child ended.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Process;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(5)));
    /// p.start()?;
    /// assert!(!p.join_timeout(Duration::from_millis(10))?);
    /// p.kill();
    /// assert!(p.join_timeout(Duration::from_secs(5))?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<bool> {
        self.wait(Deadline::after(Some(timeout)))
    }

    fn wait(&mut self, deadline: Deadline) -> Result<bool> {
        let (pid, code) = match &self.state {
            State::Created(_) | State::Failed => return Err(Error::NotStarted),
            State::Finished { .. } => return Ok(true),
            State::Started(waiter) => match waiter.wait(&deadline)? {
                Some(code) => (waiter.pid(), code),
                None => return Ok(false),
            },
        };
        self.saw_exit(code);
        self.state = State::Finished {
            pid,
            exitcode: code,
        };
        child::forget(pid);
        Ok(true)
    }

    /// Whether the child has started and not ended.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Process;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut p = Process::new(|| {});
    /// assert!(!p.is_alive());
    /// p.start()?;
    /// p.join()?;
    /// assert!(!p.is_alive());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_alive(&self) -> bool {
        match &self.state {
            State::Started(_) => self.exitcode().is_none(),
            _ => false,
        }
    }

    /// The child's process id, once started.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Process;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut p = Process::new(|| {});
    /// p.start()?;
    /// assert!(p.pid().is_some_and(|pid| pid != ferrokernel_prelude::os::getpid()));
    /// p.join()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn pid(&self) -> Option<i32> {
        match &self.state {
            State::Created(_) | State::Failed => None,
            State::Started(waiter) => Some(waiter.pid()),
            State::Finished { pid, .. } => Some(*pid),
        }
    }

    /// The exit code as soon as the child has ended (`None` before): 0 for
    /// success, 1 after a panic, `-N` when killed by signal N — as Python's
    /// `exitcode`, which needs no `join` first.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Process;
    /// use std::time::Duration;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(5)));
    /// p.start()?;
    /// assert_eq!(p.exitcode(), None);
    /// p.kill();
    /// while p.exitcode().is_none() {
    ///     std::thread::sleep(Duration::from_millis(1));
    /// }
    /// assert_eq!(p.exitcode(), Some(-9));
    /// assert!(p.to_string().ends_with("was killed by SIGKILL (signal 9)"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn exitcode(&self) -> Option<i32> {
        match &self.state {
            State::Finished { exitcode, .. } => Some(*exitcode),
            State::Started(waiter) => {
                let code = child::poll_exit(waiter.pid()).ok().flatten();
                if let Some(code) = code {
                    self.saw_exit(code);
                }
                code
            }
            State::Created(_) | State::Failed => None,
        }
    }

    /// Notes the exit the first time it is seen.
    fn saw_exit(&self, code: i32) {
        let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        if ended.is_none() {
            *ended = Some((code, SystemTime::now()));
        }
    }

    /// What this handle has recorded of the process, without asking the
    /// system anything (a pure read, for timelines and reports): its name,
    /// pid, when it started, and its exit as first seen by `join`,
    /// `join_timeout`, `is_alive` or `exitcode`.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Process;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut p = Process::new(|| {}).name("quick");
    /// assert!(p.record().started.is_none());
    /// p.start()?;
    /// p.join()?;
    /// let record = p.record();
    /// assert_eq!((record.name.as_str(), record.pid, record.exitcode), ("quick", p.pid(), Some(0)));
    /// assert!(record.ended.is_some_and(|ended| Some(ended) >= record.started));
    /// assert_eq!(record.describe(), "quick exited with code 0");
    /// # Ok(())
    /// # }
    /// ```
    pub fn record(&self) -> ProcessRecord {
        let ended = *self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        ProcessRecord {
            name: self.name.clone(),
            pid: self.pid(),
            daemon: self.daemon,
            started: self.started,
            exitcode: ended.map(|(code, _)| code),
            ended: ended.map(|(_, at)| at),
        }
    }

    /// How the process stands, in words: `not started`, `is running`,
    /// `exited with code 0`, `was killed by SIGSEGV (signal 11)`.
    fn status(&self) -> String {
        match (&self.state, self.exitcode()) {
            (State::Created(_), _) => "not started".to_owned(),
            (State::Failed, _) => "failed to start".to_owned(),
            (_, Some(code)) => child::describe(code),
            (_, None) => "is running".to_owned(),
        }
    }

    /// Asks the child to stop (SIGTERM).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Process;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut p = Process::new(|| std::thread::sleep(std::time::Duration::from_secs(5)));
    /// p.start()?;
    /// p.terminate();
    /// p.join()?;
    /// assert_eq!(p.exitcode(), Some(-15));
    /// # Ok(())
    /// # }
    /// ```
    pub fn terminate(&self) {
        if let State::Started(waiter) = &self.state {
            child::signal(waiter.pid(), nix::sys::signal::Signal::SIGTERM);
        }
    }

    /// Stops the child at once (SIGKILL).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::Process;
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let mut p = Process::new(|| std::thread::sleep(std::time::Duration::from_secs(5)));
    /// p.start()?;
    /// p.kill();
    /// p.join()?;
    /// assert_eq!(p.exitcode(), Some(-9));
    /// # Ok(())
    /// # }
    /// ```
    pub fn kill(&self) {
        if let State::Started(waiter) = &self.state {
            child::signal(waiter.pid(), nix::sys::signal::Signal::SIGKILL);
        }
    }

    /// The waiter of a started child (for `connection::wait`).
    pub(crate) fn waiter(&self) -> Option<&ChildWaiter> {
        match &self.state {
            State::Started(waiter) => Some(waiter),
            _ => None,
        }
    }

    /// Whether the process has been started (running or ended).
    pub(crate) fn started(&self) -> bool {
        matches!(self.state, State::Started(_) | State::Finished { .. })
    }
}

/// A [`Process`]'s record as its handle saw it (see [`Process::record`]):
/// plain data, for a timeline of who ran when and how each ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRecord {
    /// Its name.
    pub name: String,
    /// Its process id, once started.
    pub pid: Option<i32>,
    /// Whether it is daemonic.
    pub daemon: bool,
    /// When `start` forked it.
    pub started: Option<SystemTime>,
    /// When its exit was first seen (at most a join or poll after it happened).
    pub ended: Option<SystemTime>,
    /// Its exit code as first seen: `-N` when killed by signal N.
    pub exitcode: Option<i32>,
}

impl ProcessRecord {
    /// How it ended, in the words `Process`'s `Display` uses.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::ProcessRecord;
    /// let record = ProcessRecord {
    ///     name: "Process-3".into(),
    ///     pid: Some(1234),
    ///     daemon: false,
    ///     started: None,
    ///     ended: None,
    ///     exitcode: Some(-11),
    /// };
    /// assert_eq!(record.describe(), "Process-3 was killed by SIGSEGV (signal 11)");
    /// ```
    pub fn describe(&self) -> String {
        match (self.pid, self.exitcode) {
            (_, Some(code)) => format!("{} {}", self.name, child::describe(code)),
            (Some(_), None) => format!("{} is running", self.name),
            (None, None) => format!("{} (not started)", self.name),
        }
    }
}

/// Reaps children that ended without being joined, so no zombies pile up.
fn reap_finished() {
    let mut books = books();
    let pids: Vec<i32> = books.children.iter().map(|c| c.pid).collect();
    for pid in pids {
        let _ = child::poll_exit_in(&mut books, pid);
    }
}

/// A child started here that is still running.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Process, active_children};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let mut p = Process::new(|| std::thread::sleep(std::time::Duration::from_millis(100))).name("napper");
/// p.start()?;
/// let child = active_children().into_iter().find(|c| c.name == "napper").expect("listed");
/// assert_eq!(Some(child.pid), p.pid());
/// p.join()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveChild {
    /// Its process id.
    pub pid: i32,
    /// Its name.
    pub name: String,
}

/// The children started by this process that are still running
/// (`multiprocessing.active_children()`), pool workers included; ended ones
/// are reaped.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Process, active_children};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let mut p = Process::new(|| std::thread::sleep(std::time::Duration::from_millis(200)));
/// p.start()?;
/// assert!(active_children().iter().any(|c| Some(c.pid) == p.pid()));
/// p.join()?;
/// assert!(!active_children().iter().any(|c| Some(c.pid) == p.pid()));
/// # Ok(())
/// # }
/// ```
pub fn active_children() -> Vec<ActiveChild> {
    reap_finished();
    books()
        .children
        .iter()
        .map(|c| ActiveChild {
            pid: c.pid,
            name: c.name.clone(),
        })
        .collect()
}

/// This process, as `multiprocessing.current_process()` describes it.
///
/// ```
/// let me = ferrokernel_prelude::multiprocessing::current_process();
/// assert_eq!((me.name(), me.daemon()), ("MainProcess", false));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentProcess {
    name: String,
    pid: i32,
    daemon: bool,
}

impl CurrentProcess {
    /// `MainProcess`, or the name of the `Process` (or pool worker) this is.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::current_process;
    /// assert_eq!(current_process().name(), "MainProcess");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    ///
    /// ```
    /// use ferrokernel_prelude::{multiprocessing::current_process, os};
    /// assert_eq!(current_process().pid(), os::getpid());
    /// ```
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Whether this process is a daemonic `Process`.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::current_process;
    /// assert!(!current_process().daemon());
    /// ```
    pub fn daemon(&self) -> bool {
        self.daemon
    }
}

/// This process.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Process, Queue, current_process};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let names = Queue::<String>::new()?;
/// let sender = names.clone();
/// let mut p = Process::new(move || sender.put(current_process().name().to_owned()).expect("put"))
///     .name("worker");
/// p.start()?;
/// assert_eq!(names.get()?, "worker");
/// p.join()?;
/// # Ok(())
/// # }
/// ```
pub fn current_process() -> CurrentProcess {
    let books = books();
    CurrentProcess {
        name: books.display_name(),
        pid: crate::os::getpid(),
        daemon: books.daemonic,
    }
}

/// The process that started this one, as `multiprocessing.parent_process()`
/// describes it.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Process, parent_process};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let mut p = Process::new(|| assert!(parent_process().is_some_and(|p| p.is_alive())));
/// p.start()?;
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(0));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentProcess {
    name: String,
    pid: i32,
}

impl ParentProcess {
    /// Its name (`MainProcess`, or its `Process` name).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Process, Queue, parent_process};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let names = Queue::<String>::new()?;
    /// let sender = names.clone();
    /// let mut p = Process::new(move || {
    ///     let parent = parent_process().expect("a parent");
    ///     sender.put(parent.name().to_owned()).expect("put");
    /// });
    /// p.start()?;
    /// assert_eq!(names.get()?, "MainProcess");
    /// p.join()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id.
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::{Process, Value, parent_process};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let seen = Value::<i32>::new(0)?;
    /// let report = seen.clone();
    /// let mut p = Process::new(move || report.set(parent_process().map_or(0, |p| p.pid())).expect("set"));
    /// p.start()?;
    /// p.join()?;
    /// assert_eq!(seen.get()?, ferrokernel_prelude::os::getpid());
    /// # Ok(())
    /// # }
    /// ```
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Whether the parent still runs (children die with their parent, so in
    /// a child this is normally true).
    ///
    /// ```
    /// use ferrokernel_prelude::multiprocessing::parent_process;
    /// // In the main process there is no parent to ask about.
    /// assert!(parent_process().is_none());
    /// ```
    pub fn is_alive(&self) -> bool {
        crate::os::getppid() == self.pid
    }
}

/// The process that started this one (`None` in the main process), like
/// Python's `multiprocessing.parent_process()`.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::parent_process;
/// assert_eq!(parent_process(), None);
/// ```
pub fn parent_process() -> Option<ParentProcess> {
    books().parent.as_ref().map(|parent| ParentProcess {
        name: parent.name.clone(),
        pid: parent.pid,
    })
}

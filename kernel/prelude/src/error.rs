//! The crate's one error type. Every layer returns it, from `sys` up to
//! `multiprocessing`, `threading` and `concurrent`, so the lowest layer needs
//! nothing from the ones above; users name it
//! [`multiprocessing::Error`](crate::multiprocessing::Error), where it is
//! re-exported.

use thiserror::Error;

/// What went wrong in a `multiprocessing`, `concurrent` or `threading` call.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Error, Queue};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// match Queue::<u8>::new()?.get_nowait() {
///     Err(Error::Empty) => println!("nothing yet"),
///     other => panic!("{other:?}"),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The other end of the pipe is closed in every process and nothing is left to receive.
    #[error("the other end of the pipe is closed and nothing is left to receive (EOFError)")]
    Eof,
    /// The other end of the pipe is closed, so what is sent can never be received.
    #[error("the other end of the pipe is closed (BrokenPipeError)")]
    BrokenPipe,
    /// The time allowed ran out.
    #[error("timed out")]
    Timeout,
    /// The wait was interrupted (Ctrl-C, or the notebook's stop button).
    #[error("interrupted (KeyboardInterrupt)")]
    Interrupted,
    /// `start()` was called on a process or thread that was already started.
    #[error("a process can only be started once")]
    AlreadyStarted,
    /// `join()` or a query was called on a process or thread that was never started.
    #[error("the process has not been started")]
    NotStarted,
    /// A task run by a pool (or a thread) panicked.
    #[error("a task panicked: {message}")]
    TaskPanicked {
        /// The panic message.
        message: String,
    },
    /// A worker process died before finishing its task.
    #[error("a worker process died before finishing its task ({reason})")]
    WorkerDied {
        /// How it died.
        reason: String,
    },
    /// The pool was closed or terminated, so it takes no new work.
    #[error("the pool is not running (it was closed or terminated)")]
    PoolNotRunning,
    /// The queue was closed by this process.
    #[error("the queue is closed")]
    Closed,
    /// The previous holder of a lock died while holding it; the lock was
    /// recovered and is now held by the caller, but what it protected may be
    /// half-updated.
    #[error("the previous holder of the lock died while holding it")]
    OwnerDied,
    /// A lock was released by someone who does not hold it.
    #[error("release of an unacquired lock")]
    NotOwner,
    /// A bounded semaphore was released more times than it was acquired.
    #[error("semaphore released too many times")]
    TooManyReleases,
    /// The barrier was broken (aborted, or a waiter was interrupted).
    #[error("the barrier is broken")]
    BrokenBarrier,
    /// The manager's server process is gone.
    #[error("the manager's server process is gone")]
    ManagerGone,
    /// The manager's server refused a request.
    #[error("the manager refused the request: {0}")]
    Manager(String),
    /// An index past the end of a list or array.
    #[error("index {index} is out of range for length {len}")]
    IndexOutOfRange {
        /// The index asked for.
        index: i64,
        /// The length.
        len: usize,
    },
    /// `remove` found no such value.
    #[error("value not found")]
    NotFound,
    /// A message does not fit the channel's buffer.
    #[error("a message of {size} bytes does not fit the buffer of {capacity} bytes")]
    TooLarge {
        /// The encoded size.
        size: usize,
        /// The buffer's capacity.
        capacity: usize,
    },
    /// A value could not be encoded or decoded.
    #[error("encoding failed: {0}")]
    Codec(#[from] postcard::Error),
    /// The operating system refused.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The authkey challenge failed (Python's `AuthenticationError`).
    #[error("authentication failed: {0} (AuthenticationError)")]
    AuthenticationError(AuthFailure),
    /// A frame's length prefix is over the connection's limit.
    #[error("a frame of {size} bytes is over the limit of {limit} bytes")]
    FrameTooLarge {
        /// The size the prefix announced.
        size: u64,
        /// The connection's limit.
        limit: usize,
    },
    /// The peer (or a shared block's header) broke the expected format.
    #[error("malformed input: {0}")]
    Malformed(Malformed),
    /// A dict has no such key, or a namespace no such field (Python's `KeyError`, `AttributeError`).
    #[error("no such key (KeyError)")]
    KeyNotFound,
    /// A daemonic process tried to start a child, which Python forbids.
    #[error("daemonic processes are not allowed to have children")]
    DaemonicChildren,
    /// `put_nowait` (or a timed-out `put`) met a full queue (Python's `queue.Full`).
    #[error("the queue is full (queue.Full)")]
    Full,
    /// `get_nowait` met an empty queue (Python's `queue.Empty`).
    #[error("the queue is empty (queue.Empty)")]
    Empty,
    /// A condition was waited on or notified without holding its lock.
    #[error("cannot {operation} on an un-acquired lock (RuntimeError)")]
    NotHeld {
        /// What was attempted: `wait` or `notify`.
        operation: &'static str,
    },
    /// A start method other than `fork` was asked for.
    #[error(
        "the start method {method:?} is not available: only \"fork\" is, because closures defined in notebook cells cannot be re-executed in a fresh interpreter"
    )]
    StartMethod {
        /// The method asked for.
        method: String,
    },
    /// The future was cancelled before it ran (Python's `CancelledError`).
    #[error("the future was cancelled (CancelledError)")]
    Cancelled,
    /// The result was asked about before it was ready (Python's `ValueError`).
    #[error("the result is not ready yet (ValueError)")]
    NotReady,
    /// The executor was shut down, so it takes no new work.
    #[error("cannot schedule new futures after shutdown (RuntimeError)")]
    ExecutorShutdown,
    /// The future's result was already taken by an earlier call.
    #[error("the future's result was already taken")]
    ResultTaken,
    /// A cluster could not start, ship or run something.
    #[error("cluster: {0}")]
    Cluster(#[from] crate::cluster::ClusterFailure),
}

impl From<nix::Error> for Error {
    fn from(errno: nix::Error) -> Error {
        Error::Io(std::io::Error::from(errno))
    }
}

/// The result of every fallible call in this crate.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Result, Value};
/// fn doubled(v: &Value<i32>) -> Result<i32> {
///     Ok(v.get()? * 2)
/// }
/// # fn main() -> Result<()> {
/// assert_eq!(doubled(&Value::new(21)?)?, 42);
/// # Ok(())
/// # }
/// ```
pub type Result<T> = std::result::Result<T, Error>;

/// Why an authkey challenge failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AuthFailure {
    /// The peer's digest did not match: it holds another key.
    #[error("the digest received was wrong")]
    WrongDigest,
    /// The peer rejected our digest: we hold another key.
    #[error("the digest sent was rejected")]
    Rejected,
    /// The peer did not start with a challenge (it is no `multiprocessing` listener, or wants no key).
    #[error("the peer sent no challenge")]
    NoChallenge,
    /// The peer named a digest this crate does not implement (md5, sha256 and sha384 are).
    #[error("unsupported digest {0:?}")]
    UnsupportedDigest(String),
}

/// What was malformed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Malformed {
    /// A frame's length prefix was negative (and not the -1 that announces a 64-bit length).
    #[error("a negative frame length ({0})")]
    NegativeLength(i32),
    /// A frame ended part way (the peer closed the connection mid-message).
    #[error("the connection closed in the middle of a frame")]
    TruncatedFrame,
    /// A `ShareableList`'s block does not hold a list in CPython's layout.
    #[error("not a ShareableList: {0}")]
    ShareableList(&'static str),
    /// A manager server answered with a response that does not fit the request.
    #[error("unexpected response from the manager")]
    UnexpectedResponse,
}

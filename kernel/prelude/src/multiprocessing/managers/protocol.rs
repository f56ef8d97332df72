//! The typed requests and responses between manager clients and the server.
//!
//! Both transports carry the same messages, postcard-encoded: the shared
//! memory mailbox of processes forked from the manager's creator, and the
//! authenticated socket of everyone else (one [`Call`] per frame, one
//! [`Response`] back). The server was forked before any element type was
//! known, so values travel as encoded bytes.
//!
//! Nothing blocks in the server on behalf of a client: a request that cannot
//! be met now (a `get` from an empty queue, an `acquire` of a held lock)
//! answers [`Response::WouldBlock`] with the store's *generation*, a counter
//! that moves whenever something that could unblock a waiter changes. The
//! client then waits for the generation to move — on the mailbox's shared
//! counter, or with a [`Request::WaitChange`] that a socket connection's
//! thread holds for at most `wait_ms` — and tries again. Waiting consumes
//! nothing, so an interrupted wait loses nothing.

use serde::{Deserialize, Serialize};

/// Bumped whenever a message changes meaning; checked by `Manager::connect`.
pub(crate) const PROTOCOL_VERSION: u32 = 1;

pub(crate) type Bytes = Vec<u8>;

/// What kind of object an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// A list.
    List,
    /// A dict.
    Dict,
    /// A single value.
    Value,
    /// A queue.
    Queue,
    /// A lock.
    Lock,
    /// An event.
    Event,
    /// A namespace.
    Namespace,
}

/// One request, and how long a socket connection may hold a wait for it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Call {
    pub(crate) wait_ms: u32,
    pub(crate) request: Request,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    Hello(u32),
    NewList(Vec<Bytes>),
    NewDict,
    NewValue(Bytes),
    NewQueue,
    NewLock,
    NewEvent,
    NewNamespace,
    Register(String, u64),
    Find(String),
    /// Wait until the generation is no longer this one (socket clients).
    WaitChange(u64),
    // Lists.
    Append(u64, Bytes),
    Extend(u64, Vec<Bytes>),
    Get(u64, i64),
    Set(u64, i64, Bytes),
    Pop(u64, Option<i64>),
    Remove(u64, Bytes),
    InsertAt(u64, i64, Bytes),
    Index(u64, Bytes),
    Count(u64, Bytes),
    Reverse(u64),
    /// The items and the list's version, to sort them client-side.
    Versioned(u64),
    /// Replaces the items if the list is still at this version.
    ReplaceIf(u64, u64, Vec<Bytes>),
    Len(u64),
    Snapshot(u64),
    Clear(u64),
    // Dicts.
    Insert(u64, Bytes, Bytes),
    DictGet(u64, Bytes),
    Delete(u64, Bytes),
    Keys(u64),
    Values(u64),
    Items(u64),
    ContainsKey(u64, Bytes),
    SetDefault(u64, Bytes, Bytes),
    Update(u64, Vec<(Bytes, Bytes)>),
    // Values.
    Load(u64),
    Store(u64, Bytes),
    // Queues.
    Put(u64, Bytes),
    TryGet(u64),
    // Locks.
    TryAcquire(u64),
    Release(u64),
    Locked(u64),
    // Events.
    SetEvent(u64),
    ClearEvent(u64),
    IsSet(u64),
    /// `Done` when set, else `WouldBlock`.
    WaitSet(u64),
    // Namespaces.
    SetField(u64, String, Bytes),
    GetField(u64, String),
    DeleteField(u64, String),
    Fields(u64),
    Shutdown,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Response {
    Hello(u32),
    Id(u64),
    Object(u64, Kind),
    Done,
    Item(Bytes),
    MaybeItem(Option<Bytes>),
    Items(Vec<Bytes>),
    Pairs(Vec<(Bytes, Bytes)>),
    Len(usize),
    Bool(bool),
    Versioned(u64, Vec<Bytes>),
    Names(Vec<String>),
    /// Not now; try again once the generation moves past this one.
    WouldBlock(u64),
    /// `ReplaceIf` found the list changed.
    Changed,
    IndexOutOfRange {
        index: i64,
        len: usize,
    },
    NotFound,
    KeyNotFound,
    NotOwner,
    Refused(String),
}

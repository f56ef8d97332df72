//! The server's objects, and what each request does to them.
//!
//! Values are the encoded bytes clients sent: equality (for `remove`,
//! `index`, `count`, `contains` and dict keys) is equality of the encoded
//! form, which for the usual types (numbers, strings, tuples, enums) is
//! equality of the values. Floats differ: `0.0` and `-0.0` are different keys.
//! Ordering needs the values, so `sort` happens in the client (see
//! [`Request::Versioned`]).

use super::protocol::{Bytes, Kind, Request, Response};
use std::collections::{HashMap, VecDeque};

/// A dict that keeps insertion order, as Python's does.
#[derive(Default)]
pub(crate) struct OrderedDict {
    entries: Vec<Option<(Bytes, Bytes)>>,
    index: HashMap<Bytes, usize>,
}

impl OrderedDict {
    fn insert(&mut self, key: Bytes, value: Bytes) -> Option<Bytes> {
        match self.index.get(&key) {
            Some(&at) => self.entries[at]
                .as_mut()
                .map(|(_, old)| std::mem::replace(old, value)),
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push(Some((key, value)));
                None
            }
        }
    }

    fn get(&self, key: &Bytes) -> Option<&Bytes> {
        let at = *self.index.get(key)?;
        self.entries[at].as_ref().map(|(_, v)| v)
    }

    fn remove(&mut self, key: &Bytes) -> Option<Bytes> {
        let at = self.index.remove(key)?;
        let removed = self.entries[at].take().map(|(_, v)| v);
        if self.entries.len() > 32 && self.index.len() < self.entries.len() / 2 {
            self.entries.retain(Option::is_some);
            for (at, (key, _)) in self.entries.iter().flatten().enumerate() {
                self.index.insert(key.clone(), at);
            }
        }
        removed
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn pairs(&self) -> impl Iterator<Item = &(Bytes, Bytes)> {
        self.entries.iter().flatten()
    }
}

/// A list and its version (bumped by every change, for `ReplaceIf`).
#[derive(Default)]
pub(crate) struct List {
    items: Vec<Bytes>,
    version: u64,
}

enum Object {
    List(List),
    Dict(OrderedDict),
    Value(Bytes),
    Queue(VecDeque<Bytes>),
    Lock(bool),
    Event(bool),
    Namespace(OrderedDict),
}

impl Object {
    fn kind(&self) -> Kind {
        match self {
            Object::List(_) => Kind::List,
            Object::Dict(_) => Kind::Dict,
            Object::Value(_) => Kind::Value,
            Object::Queue(_) => Kind::Queue,
            Object::Lock(_) => Kind::Lock,
            Object::Event(_) => Kind::Event,
            Object::Namespace(_) => Kind::Namespace,
        }
    }
}

/// Every object of one manager, and the names they are registered under.
#[derive(Default)]
pub(crate) struct Store {
    objects: HashMap<u64, Object>,
    names: HashMap<String, u64>,
    next_id: u64,
    /// Moves whenever a queue, lock or event changes (see `protocol`).
    generation: u64,
}

fn position(index: i64, len: usize) -> Option<usize> {
    let at = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&at).then_some(at as usize)
}

fn out_of_range(index: i64, len: usize) -> Response {
    Response::IndexOutOfRange { index, len }
}

fn no_such(id: u64) -> Response {
    Response::Refused(format!("no shared object with id {id} of that kind"))
}

impl Store {
    /// The current generation.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    fn add(&mut self, object: Object) -> Response {
        self.next_id += 1;
        self.objects.insert(self.next_id, object);
        Response::Id(self.next_id)
    }

    fn wake(&mut self) {
        self.generation += 1;
    }

    /// Handles one request. `WaitChange` and `Shutdown` belong to the
    /// transports; here they only answer `Done`.
    pub(crate) fn handle(&mut self, request: Request) -> Response {
        use Request::*;
        match request {
            Hello(_) => Response::Hello(super::protocol::PROTOCOL_VERSION),
            NewList(items) => self.add(Object::List(List { items, version: 0 })),
            NewDict => self.add(Object::Dict(OrderedDict::default())),
            NewValue(value) => self.add(Object::Value(value)),
            NewQueue => self.add(Object::Queue(VecDeque::new())),
            NewLock => self.add(Object::Lock(false)),
            NewEvent => self.add(Object::Event(false)),
            NewNamespace => self.add(Object::Namespace(OrderedDict::default())),
            Register(name, id) => {
                if self.objects.contains_key(&id) {
                    self.names.insert(name, id);
                    Response::Done
                } else {
                    no_such(id)
                }
            }
            Find(name) => match self
                .names
                .get(&name)
                .and_then(|id| Some((*id, self.objects.get(id)?)))
            {
                Some((id, object)) => Response::Object(id, object.kind()),
                None => Response::KeyNotFound,
            },
            WaitChange(_) | Shutdown => Response::Done,
            Len(id) => match self.objects.get(&id) {
                Some(Object::List(list)) => Response::Len(list.items.len()),
                Some(Object::Dict(dict)) => Response::Len(dict.len()),
                Some(Object::Queue(queue)) => Response::Len(queue.len()),
                _ => no_such(id),
            },
            Clear(id) => match self.objects.get_mut(&id) {
                Some(Object::List(list)) => {
                    list.items.clear();
                    list.version += 1;
                    Response::Done
                }
                Some(Object::Dict(dict)) => {
                    *dict = OrderedDict::default();
                    Response::Done
                }
                _ => no_such(id),
            },
            Append(..) | Extend(..) | Get(..) | Set(..) | Pop(..) | Remove(..) | InsertAt(..)
            | Index(..) | Count(..) | Reverse(..) | Versioned(..) | ReplaceIf(..)
            | Snapshot(..) => self.list_request(request),
            Insert(..) | DictGet(..) | Delete(..) | Keys(..) | Values(..) | Items(..)
            | ContainsKey(..) | SetDefault(..) | Update(..) => self.dict_request(request),
            Load(id) => match self.objects.get(&id) {
                Some(Object::Value(value)) => Response::Item(value.clone()),
                _ => no_such(id),
            },
            Store(id, new) => match self.objects.get_mut(&id) {
                Some(Object::Value(value)) => {
                    *value = new;
                    Response::Done
                }
                _ => no_such(id),
            },
            Put(..) | TryGet(..) | TryAcquire(..) | Release(..) | Locked(..) | SetEvent(..)
            | ClearEvent(..) | IsSet(..) | WaitSet(..) => self.sync_request(request),
            SetField(..) | GetField(..) | DeleteField(..) | Fields(..) => {
                self.namespace_request(request)
            }
        }
    }

    fn list_request(&mut self, request: Request) -> Response {
        use Request::*;
        let id = match &request {
            Append(id, _)
            | Extend(id, _)
            | Get(id, _)
            | Set(id, ..)
            | Pop(id, _)
            | Remove(id, _)
            | InsertAt(id, ..)
            | Index(id, _)
            | Count(id, _)
            | Reverse(id)
            | Versioned(id)
            | ReplaceIf(id, ..)
            | Snapshot(id) => *id,
            _ => return Response::Refused("not a list request".into()),
        };
        let Some(Object::List(list)) = self.objects.get_mut(&id) else {
            return no_such(id);
        };
        let len = list.items.len();
        let changes = !matches!(
            request,
            Get(..) | Index(..) | Count(..) | Versioned(..) | Snapshot(..)
        );
        let response = match request {
            Append(_, item) => {
                list.items.push(item);
                Response::Done
            }
            Extend(_, items) => {
                list.items.extend(items);
                Response::Done
            }
            Get(_, index) => match position(index, len) {
                Some(at) => Response::Item(list.items[at].clone()),
                None => out_of_range(index, len),
            },
            Set(_, index, item) => match position(index, len) {
                Some(at) => {
                    list.items[at] = item;
                    Response::Done
                }
                None => out_of_range(index, len),
            },
            Pop(_, index) => {
                let index = index.unwrap_or(-1);
                match position(index, len) {
                    Some(at) => Response::Item(list.items.remove(at)),
                    None => out_of_range(index, len),
                }
            }
            Remove(_, item) => match list.items.iter().position(|x| *x == item) {
                Some(at) => {
                    list.items.remove(at);
                    Response::Done
                }
                None => Response::NotFound,
            },
            InsertAt(_, index, item) => {
                // Python's insert clamps: past the end appends, before the start prepends.
                let at = if index < 0 {
                    (len as i64 + index).max(0) as usize
                } else {
                    (index as usize).min(len)
                };
                list.items.insert(at, item);
                Response::Done
            }
            Index(_, item) => match list.items.iter().position(|x| *x == item) {
                Some(at) => Response::Len(at),
                None => Response::NotFound,
            },
            Count(_, item) => Response::Len(list.items.iter().filter(|x| **x == item).count()),
            Reverse(_) => {
                list.items.reverse();
                Response::Done
            }
            Versioned(_) => Response::Versioned(list.version, list.items.clone()),
            ReplaceIf(_, version, items) => {
                if version == list.version {
                    list.items = items;
                    Response::Done
                } else {
                    return Response::Changed;
                }
            }
            Snapshot(_) => Response::Items(list.items.clone()),
            _ => return Response::Refused("not a list request".into()),
        };
        if changes {
            list.version += 1;
        }
        response
    }

    fn dict_request(&mut self, request: Request) -> Response {
        use Request::*;
        let id = match &request {
            Insert(id, ..)
            | DictGet(id, _)
            | Delete(id, _)
            | Keys(id)
            | Values(id)
            | Items(id)
            | ContainsKey(id, _)
            | SetDefault(id, ..)
            | Update(id, _) => *id,
            _ => return Response::Refused("not a dict request".into()),
        };
        let Some(Object::Dict(dict)) = self.objects.get_mut(&id) else {
            return no_such(id);
        };
        match request {
            Insert(_, key, value) => Response::MaybeItem(dict.insert(key, value)),
            DictGet(_, key) => Response::MaybeItem(dict.get(&key).cloned()),
            Delete(_, key) => Response::MaybeItem(dict.remove(&key)),
            Keys(_) => Response::Items(dict.pairs().map(|(k, _)| k.clone()).collect()),
            Values(_) => Response::Items(dict.pairs().map(|(_, v)| v.clone()).collect()),
            Items(_) => Response::Pairs(dict.pairs().cloned().collect()),
            ContainsKey(_, key) => Response::Bool(dict.get(&key).is_some()),
            SetDefault(_, key, default) => match dict.get(&key) {
                Some(value) => Response::Item(value.clone()),
                None => {
                    dict.insert(key, default.clone());
                    Response::Item(default)
                }
            },
            Update(_, pairs) => {
                for (key, value) in pairs {
                    dict.insert(key, value);
                }
                Response::Done
            }
            _ => Response::Refused("not a dict request".into()),
        }
    }

    fn sync_request(&mut self, request: Request) -> Response {
        use Request::*;
        let generation = self.generation;
        let (response, woke) = match request {
            Put(id, item) => match self.objects.get_mut(&id) {
                Some(Object::Queue(queue)) => {
                    queue.push_back(item);
                    (Response::Done, true)
                }
                _ => (no_such(id), false),
            },
            TryGet(id) => match self.objects.get_mut(&id) {
                Some(Object::Queue(queue)) => match queue.pop_front() {
                    Some(item) => (Response::Item(item), false),
                    None => (Response::WouldBlock(generation), false),
                },
                _ => (no_such(id), false),
            },
            TryAcquire(id) => match self.objects.get_mut(&id) {
                Some(Object::Lock(held)) if !*held => {
                    *held = true;
                    (Response::Done, false)
                }
                Some(Object::Lock(_)) => (Response::WouldBlock(generation), false),
                _ => (no_such(id), false),
            },
            Release(id) => match self.objects.get_mut(&id) {
                Some(Object::Lock(held)) if *held => {
                    *held = false;
                    (Response::Done, true)
                }
                Some(Object::Lock(_)) => (Response::NotOwner, false),
                _ => (no_such(id), false),
            },
            Locked(id) => match self.objects.get(&id) {
                Some(Object::Lock(held)) => (Response::Bool(*held), false),
                _ => (no_such(id), false),
            },
            SetEvent(id) | ClearEvent(id) => {
                let set = matches!(request, SetEvent(_));
                match self.objects.get_mut(&id) {
                    Some(Object::Event(flag)) => {
                        *flag = set;
                        (Response::Done, set)
                    }
                    _ => (no_such(id), false),
                }
            }
            IsSet(id) => match self.objects.get(&id) {
                Some(Object::Event(flag)) => (Response::Bool(*flag), false),
                _ => (no_such(id), false),
            },
            WaitSet(id) => match self.objects.get(&id) {
                Some(Object::Event(true)) => (Response::Done, false),
                Some(Object::Event(false)) => (Response::WouldBlock(generation), false),
                _ => (no_such(id), false),
            },
            _ => (
                Response::Refused("not a queue, lock or event request".into()),
                false,
            ),
        };
        if woke {
            self.wake();
        }
        response
    }

    fn namespace_request(&mut self, request: Request) -> Response {
        use Request::*;
        let id = match &request {
            SetField(id, ..) | GetField(id, _) | DeleteField(id, _) | Fields(id) => *id,
            _ => return Response::Refused("not a namespace request".into()),
        };
        let Some(Object::Namespace(fields)) = self.objects.get_mut(&id) else {
            return no_such(id);
        };
        match request {
            SetField(_, name, value) => {
                fields.insert(name.into_bytes(), value);
                Response::Done
            }
            GetField(_, name) => match fields.get(&name.into_bytes()) {
                Some(value) => Response::Item(value.clone()),
                None => Response::KeyNotFound,
            },
            DeleteField(_, name) => match fields.remove(&name.into_bytes()) {
                Some(_) => Response::Done,
                None => Response::KeyNotFound,
            },
            Fields(_) => Response::Names(
                fields
                    .pairs()
                    .map(|(name, _)| String::from_utf8_lossy(name).into_owned())
                    .collect(),
            ),
            _ => Response::Refused("not a namespace request".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(response: Response) -> u64 {
        match response {
            Response::Id(id) => id,
            other => panic!("expected an id, got {other:?}"),
        }
    }

    #[test]
    fn lists_dicts_and_values_behave_as_in_python() {
        let mut store = Store::default();
        let list = id(store.handle(Request::NewList(vec![vec![1], vec![2]])));
        store.handle(Request::Append(list, vec![3]));
        assert!(matches!(store.handle(Request::Get(list, -1)), Response::Item(b) if b == vec![3]));
        assert!(matches!(
            store.handle(Request::Get(list, 3)),
            Response::IndexOutOfRange { index: 3, len: 3 }
        ));
        assert!(matches!(
            store.handle(Request::Remove(list, vec![9])),
            Response::NotFound
        ));
        store.handle(Request::InsertAt(list, 100, vec![4]));
        store.handle(Request::InsertAt(list, -100, vec![0]));
        store.handle(Request::InsertAt(list, -1, vec![9]));
        assert!(matches!(
            store.handle(Request::Snapshot(list)),
            Response::Items(items) if items == vec![vec![0], vec![1], vec![2], vec![3], vec![9], vec![4]]
        ));
        let Response::Versioned(version, _) = store.handle(Request::Versioned(list)) else {
            panic!("versioned")
        };
        store.handle(Request::Append(list, vec![5]));
        assert!(matches!(
            store.handle(Request::ReplaceIf(list, version, vec![])),
            Response::Changed
        ));

        let dict = id(store.handle(Request::NewDict));
        for key in 0..40u8 {
            store.handle(Request::Insert(dict, vec![key], vec![key]));
        }
        for key in 0..30u8 {
            store.handle(Request::Delete(dict, vec![key]));
        }
        let Response::Items(keys) = store.handle(Request::Keys(dict)) else {
            panic!("keys");
        };
        assert_eq!(
            keys,
            (30..40u8).map(|k| vec![k]).collect::<Vec<_>>(),
            "insertion order survives compaction"
        );
        assert!(matches!(
            store.handle(Request::SetDefault(dict, vec![35], vec![0])),
            Response::Item(v) if v == vec![35]
        ));
    }

    #[test]
    fn queues_locks_and_events_move_the_generation_when_they_can_wake_someone() {
        let mut store = Store::default();
        let queue = id(store.handle(Request::NewQueue));
        let start = store.generation();
        assert!(matches!(
            store.handle(Request::TryGet(queue)),
            Response::WouldBlock(g) if g == start
        ));
        store.handle(Request::Put(queue, vec![7]));
        assert!(store.generation() > start);
        assert!(matches!(store.handle(Request::TryGet(queue)), Response::Item(b) if b == vec![7]));

        let lock = id(store.handle(Request::NewLock));
        assert!(matches!(
            store.handle(Request::TryAcquire(lock)),
            Response::Done
        ));
        assert!(matches!(
            store.handle(Request::TryAcquire(lock)),
            Response::WouldBlock(_)
        ));
        let before = store.generation();
        assert!(matches!(
            store.handle(Request::Release(lock)),
            Response::Done
        ));
        assert!(store.generation() > before);
        assert!(matches!(
            store.handle(Request::Release(lock)),
            Response::NotOwner
        ));

        let event = id(store.handle(Request::NewEvent));
        assert!(matches!(
            store.handle(Request::WaitSet(event)),
            Response::WouldBlock(_)
        ));
        store.handle(Request::SetEvent(event));
        assert!(matches!(
            store.handle(Request::WaitSet(event)),
            Response::Done
        ));
    }

    #[test]
    fn names_find_registered_objects_only() {
        let mut store = Store::default();
        let queue = id(store.handle(Request::NewQueue));
        assert!(matches!(
            store.handle(Request::Register("jobs".into(), queue)),
            Response::Done
        ));
        assert!(matches!(
            store.handle(Request::Find("jobs".into())),
            Response::Object(found, Kind::Queue) if found == queue
        ));
        assert!(matches!(
            store.handle(Request::Find("nope".into())),
            Response::KeyNotFound
        ));
        assert!(matches!(
            store.handle(Request::Register("ghost".into(), 999)),
            Response::Refused(_)
        ));
    }
}

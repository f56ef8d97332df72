//! The typed proxies: what a process holds to use an object living in a
//! [`Manager`](super::Manager)'s server, one file per proxy.

/// Defines a proxy type: the struct, `Clone`, `Debug`, the sealed
/// constructor, its `Proxy::KIND`, and the request helpers every proxy uses.
/// (Defined before the `mod` lines: a `macro_rules!` is visible only below it.)
macro_rules! proxy {
    ($name:ident, $kind:ident, $doc:literal) => {
        proxy!($name<>, $kind, $doc);
    };
    ($name:ident<$($param:ident),*>, $kind:ident, $doc:literal) => {
        #[doc = $doc]
        pub struct $name<$($param),*> {
            transport: std::sync::Arc<$crate::multiprocessing::managers::transport::Transport>,
            id: u64,
            _items: std::marker::PhantomData<fn() -> ($($param,)*)>,
        }

        impl<$($param),*> Clone for $name<$($param),*> {
            fn clone(&self) -> Self {
                $name {
                    transport: std::sync::Arc::clone(&self.transport),
                    id: self.id,
                    _items: std::marker::PhantomData,
                }
            }
        }

        impl<$($param),*> std::fmt::Debug for $name<$($param),*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).field("id", &self.id).finish()
            }
        }

        #[allow(private_interfaces)] // see `sealed`
        impl<$($param),*> $crate::multiprocessing::managers::sealed::Sealed for $name<$($param),*> {
            fn id(&self) -> u64 {
                self.id
            }
            fn from_parts(transport: std::sync::Arc<$crate::multiprocessing::managers::transport::Transport>, id: u64) -> Self {
                $name {
                    transport,
                    id,
                    _items: std::marker::PhantomData,
                }
            }
        }

        impl<$($param),*> $crate::multiprocessing::managers::Proxy for $name<$($param),*> {
            const KIND: $crate::multiprocessing::managers::Kind = $crate::multiprocessing::managers::Kind::$kind;
        }

        #[allow(dead_code)] // not every proxy needs every helper
        impl<$($param),*> $name<$($param),*> {
            fn call(&self, request: $crate::multiprocessing::managers::protocol::Request) -> $crate::error::Result<$crate::multiprocessing::managers::protocol::Response> {
                self.transport.call(request)
            }

            fn done(&self, request: $crate::multiprocessing::managers::protocol::Request) -> $crate::error::Result<()> {
                match self.call(request)? {
                    $crate::multiprocessing::managers::protocol::Response::Done => Ok(()),
                    other => Err($crate::multiprocessing::managers::unexpected(other)),
                }
            }

            fn flag(&self, request: $crate::multiprocessing::managers::protocol::Request) -> $crate::error::Result<bool> {
                match self.call(request)? {
                    $crate::multiprocessing::managers::protocol::Response::Bool(flag) => Ok(flag),
                    other => Err($crate::multiprocessing::managers::unexpected(other)),
                }
            }

            fn number(&self, request: $crate::multiprocessing::managers::protocol::Request) -> $crate::error::Result<usize> {
                match self.call(request)? {
                    $crate::multiprocessing::managers::protocol::Response::Len(n) => Ok(n),
                    other => Err($crate::multiprocessing::managers::unexpected(other)),
                }
            }
        }
    };
}

mod dict;
mod event;
mod list;
mod lock;
mod namespace;
mod queue;
mod value;

pub use dict::DictProxy;
pub use event::EventProxy;
pub use list::ListProxy;
pub use lock::LockProxy;
pub use namespace::NamespaceProxy;
pub use queue::QueueProxy;
pub use value::ValueProxy;

use super::protocol::Bytes;
use crate::codec;
use crate::error::Result;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(super) fn encode_all<T: Serialize>(items: impl IntoIterator<Item = T>) -> Result<Vec<Bytes>> {
    items.into_iter().map(|item| codec::encode(&item)).collect()
}

pub(super) fn decode_all<T: DeserializeOwned>(items: Vec<Bytes>) -> Result<Vec<T>> {
    items.iter().map(|bytes| codec::decode(bytes)).collect()
}

//! The compact binary codec for values that cross process boundaries.

use crate::error::Result;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes `value`.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    Ok(postcard::to_allocvec(value)?)
}

/// Encodes values one after another into a byte slice (a pool chunk's
/// results), without per-value set-up.
pub(crate) struct SliceEncoder<'a> {
    serializer: postcard::Serializer<postcard::ser_flavors::Slice<'a>>,
}

impl<'a> SliceEncoder<'a> {
    pub(crate) fn new(out: &'a mut [u8]) -> SliceEncoder<'a> {
        SliceEncoder {
            serializer: postcard::Serializer {
                output: postcard::ser_flavors::Slice::new(out),
            },
        }
    }

    /// Appends `value`; `Ok(false)` when it does not fit.
    pub(crate) fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<bool> {
        match value.serialize(&mut self.serializer) {
            Ok(()) => Ok(true),
            Err(postcard::Error::SerializeBufferFull) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    /// How many bytes were written.
    pub(crate) fn written(self) -> usize {
        use postcard::ser_flavors::Flavor;
        self.serializer
            .output
            .finalize()
            .map_or(0, |written| written.len())
    }
}

/// Decodes `count` values written one after another, onto the end of `out`.
pub(crate) fn decode_many_into<T: DeserializeOwned>(
    bytes: &[u8],
    count: usize,
    out: &mut Vec<T>,
) -> Result<()> {
    let mut deserializer = postcard::Deserializer::from_bytes(bytes);
    for _ in 0..count {
        out.push(T::deserialize(&mut deserializer)?);
    }
    Ok(())
}

/// Wraps bytes already encoded, so they are written as one byte string (a
/// length, then the bytes as they are): how a value of a type the reader
/// picks later crosses a channel of one type.
pub(crate) struct Encoded(pub(crate) Vec<u8>);

impl Serialize for Encoded {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

/// The bytes inside an [`Encoded`] at the start of `bytes`.
pub(crate) fn decode_encoded(bytes: &[u8]) -> Result<&[u8]> {
    Ok(postcard::from_bytes::<&[u8]>(bytes)?)
}

/// Decodes a `T`.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    Ok(postcard::from_bytes(bytes)?)
}

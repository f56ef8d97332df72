//! [`ShareableList`]: a fixed-length list of scalars and strings in a
//! [`SharedMemory`] block, in exactly CPython's layout.
//!
//! The block holds, in native byte order (CPython packs with `struct`'s
//! native mode, whose alignment adds nothing here since every field is a
//! multiple of 8 bytes until the last):
//!
//! | bytes | what |
//! |---|---|
//! | 8 | the number of items N (`q`) |
//! | 8 × (N + 1) | where each item's slot starts in the data area, and where the area ends |
//! | … | the data area: 8 bytes for a number, bool or None; a multiple of 8 for a string |
//! | 8 × N | each item's `struct` format (`q`, `d`, `xxxxxxx?`, `xxxxxx?x`, `16s`…), NUL-padded |
//! | N | each item's kind: 0 number/bool, 1 str, 2 bytes, 3 None |
//!
//! One difference, in what we write only: CPython sizes a string's slot
//! from its length in *characters* (and so truncates non-ASCII text that is
//! longer in UTF-8); we size it from its length in bytes. Python reads either
//! the same way. As in CPython, strings and bytes lose trailing NULs.

use super::SharedMemory;
use crate::error::{Error, Malformed, Result};

/// One value of a [`ShareableList`]: the types CPython's can hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A Python `int` that fits 64 bits.
    Int(i64),
    /// A Python `float`.
    Float(f64),
    /// A Python `bool`.
    Bool(bool),
    /// A Python `str`.
    Str(String),
    /// Python `bytes`.
    Bytes(Vec<u8>),
    /// Python's `None`.
    None,
}

macro_rules! item_from {
    ($($from:ty => |$v:ident| $make:expr),* $(,)?) => {$(
        impl From<$from> for Item {
            fn from($v: $from) -> Item {
                $make
            }
        }
    )*};
}

item_from! {
    i64 => |v| Item::Int(v),
    i32 => |v| Item::Int(v.into()),
    u32 => |v| Item::Int(v.into()),
    f64 => |v| Item::Float(v),
    bool => |v| Item::Bool(v),
    &str => |v| Item::Str(v.to_owned()),
    String => |v| Item::Str(v),
    Vec<u8> => |v| Item::Bytes(v),
    &[u8] => |v| Item::Bytes(v.to_vec()),
    () => |_v| Item::None,
}

impl<T: Into<Item>> From<Option<T>> for Item {
    fn from(value: Option<T>) -> Item {
        value.map_or(Item::None, Into::into)
    }
}

const INT: &str = "q";
const FLOAT: &str = "d";
const BOOL: &str = "xxxxxxx?";
const NONE: &str = "xxxxxx?x";

impl Item {
    /// The slot size CPython would give it, and its kind code.
    fn slot(&self) -> (usize, u8) {
        match self {
            Item::Int(_) | Item::Float(_) | Item::Bool(_) => (8, 0),
            Item::Str(s) => (8 * (s.len() / 8 + 1), 1),
            Item::Bytes(b) => (8 * (b.len() / 8 + 1), 2),
            Item::None => (8, 3),
        }
    }

    /// Its `struct` format in a slot of `slot` bytes.
    fn format(&self, slot: usize) -> String {
        match self {
            Item::Int(_) => INT.to_owned(),
            Item::Float(_) => FLOAT.to_owned(),
            Item::Bool(_) => BOOL.to_owned(),
            Item::None => NONE.to_owned(),
            Item::Str(_) | Item::Bytes(_) => format!("{slot}s"),
        }
    }

    /// Its bytes in a slot of `slot` bytes (which it must fit).
    fn encode(&self, slot: usize) -> Result<Vec<u8>> {
        let mut out = vec![0u8; slot];
        match self {
            Item::Int(n) => out[..8].copy_from_slice(&n.to_ne_bytes()),
            Item::Float(x) => out[..8].copy_from_slice(&x.to_ne_bytes()),
            Item::Bool(b) => out[7] = u8::from(*b),
            Item::None => {}
            Item::Str(s) => put(&mut out, s.as_bytes())?,
            Item::Bytes(b) => put(&mut out, b)?,
        }
        Ok(out)
    }
}

fn put(out: &mut [u8], bytes: &[u8]) -> Result<()> {
    if bytes.len() > out.len() {
        return Err(Error::TooLarge {
            size: bytes.len(),
            capacity: out.len(),
        });
    }
    out[..bytes.len()].copy_from_slice(bytes);
    Ok(())
}

fn bad(why: &'static str) -> Error {
    Error::Malformed(Malformed::ShareableList(why))
}

fn read_i64(bytes: &[u8], at: usize) -> Result<i64> {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(i64::from_ne_bytes)
        .ok_or_else(|| bad("the block is too small for its header"))
}

fn trim_nuls(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |at| at + 1);
    &bytes[..end]
}

/// A list of a fixed length whose items live in shared memory, in the same
/// layout as Python's `multiprocessing.shared_memory.ShareableList`: Python
/// attaches with `ShareableList(name=...)` and sees the same items, and we
/// attach to Python's.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::shared_memory::{Item, ShareableList};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// let mut list = ShareableList::new([Item::from(1), "howdy".into(), 2.5.into(), Item::None])?;
/// let other = ShareableList::attach(list.name())?; // in any process
/// assert_eq!(other.get(1)?, Item::Str("howdy".into()));
/// list.set(0, 42)?;
/// assert_eq!(other.get(0)?, Item::Int(42));
/// assert_eq!(other.get(-1)?, Item::None);
/// assert_eq!(other.format()?, "q8sdxxxxxx?x");
/// list.shm().unlink()?;
/// # Ok(())
/// # }
/// ```
///
/// Items can be replaced but the list cannot grow; a string or bytes value
/// must fit its slot (`Err(TooLarge)` otherwise, Python's `ValueError`).
#[derive(Debug)]
pub struct ShareableList {
    shm: SharedMemory,
    /// The slots' starts in the data area, and its end (N + 1 entries).
    offsets: Vec<usize>,
}

impl ShareableList {
    /// A new list holding `items`, in a block with a fresh name.
    pub fn new(items: impl IntoIterator<Item = impl Into<Item>>) -> Result<ShareableList> {
        ShareableList::build(None, items.into_iter().map(Into::into).collect())
    }

    /// A new list holding `items`, in a block named `name`.
    ///
    /// ```
    /// # use ferrokernel_prelude::multiprocessing::shared_memory::{Item, ShareableList};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let name = format!("doc_list_{}", std::process::id());
    /// let list = ShareableList::new_named(&name, [true, false])?;
    /// assert_eq!(list.to_vec()?, [Item::Bool(true), Item::Bool(false)]);
    /// list.shm().unlink()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn new_named(
        name: &str,
        items: impl IntoIterator<Item = impl Into<Item>>,
    ) -> Result<ShareableList> {
        ShareableList::build(Some(name), items.into_iter().map(Into::into).collect())
    }

    fn build(name: Option<&str>, items: Vec<Item>) -> Result<ShareableList> {
        let n = items.len();
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0usize);
        for item in &items {
            let end = offsets[offsets.len() - 1] + item.slot().0;
            offsets.push(end);
        }
        let data_end = offsets[n];
        let size = 8 + 8 * (n + 1) + data_end + 8 * n + n;
        let shm = match name {
            Some(name) => SharedMemory::create_named(name, size)?,
            None => SharedMemory::create(size)?,
        };
        let mut list = ShareableList { shm, offsets };
        let header: Vec<u8> = std::iter::once(n as i64)
            .chain(list.offsets.iter().map(|&o| o as i64))
            .flat_map(i64::to_ne_bytes)
            .collect();
        list.shm.buf_mut()[..header.len()].copy_from_slice(&header);
        for (at, item) in items.iter().enumerate() {
            list.write(at, item, &item.format(list.slot_len(at)))?;
        }
        Ok(list)
    }

    /// Attaches to the list in block `name` (made by us or by Python).
    pub fn attach(name: &str) -> Result<ShareableList> {
        let shm = SharedMemory::attach(name)?;
        let bytes = shm.buf();
        let n = usize::try_from(read_i64(bytes, 0)?).map_err(|_| bad("a negative length"))?;
        let header_end = n
            .checked_add(2)
            .and_then(|k| k.checked_mul(8))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| bad("the length does not fit the block"))?;
        let offsets = (0..=n)
            .map(|i| {
                usize::try_from(read_i64(bytes, 8 + 8 * i)?).map_err(|_| bad("a negative offset"))
            })
            .collect::<Result<Vec<usize>>>()?;
        let ordered = offsets.windows(2).all(|w| w[0] <= w[1]) && offsets[0] == 0;
        let end = header_end + offsets[n] + 9 * n;
        if !ordered || end > bytes.len() {
            return Err(bad("the offsets do not fit the block"));
        }
        Ok(ShareableList { shm, offsets })
    }

    /// The block it lives in (to unlink it, or to read its name).
    pub fn shm(&self) -> &SharedMemory {
        &self.shm
    }

    /// The block's name.
    pub fn name(&self) -> &str {
        self.shm.name()
    }

    /// How many items.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn data_start(&self) -> usize {
        (self.len() + 2) * 8
    }

    fn formats_start(&self) -> usize {
        self.data_start() + self.offsets[self.len()]
    }

    fn codes_start(&self) -> usize {
        self.formats_start() + 8 * self.len()
    }

    fn slot_len(&self, at: usize) -> usize {
        self.offsets[at + 1] - self.offsets[at]
    }

    fn position(&self, index: i64) -> Result<usize> {
        let len = self.len();
        let at = if index < 0 { len as i64 + index } else { index };
        if (0..len as i64).contains(&at) {
            Ok(at as usize)
        } else {
            Err(Error::IndexOutOfRange { index, len })
        }
    }

    fn format_at(&self, at: usize) -> Result<String> {
        let start = self.formats_start() + 8 * at;
        let raw = &self.shm.buf()[start..start + 8];
        String::from_utf8(trim_nuls(raw).to_vec()).map_err(|_| bad("a format is not text"))
    }

    /// The item at `index` (negative counts from the end).
    pub fn get(&self, index: i64) -> Result<Item> {
        let at = self.position(index)?;
        let format = self.format_at(at)?;
        let code = self.shm.buf()[self.codes_start() + at];
        let start = self.data_start() + self.offsets[at];
        let slot = &self.shm.buf()[start..start + self.slot_len(at)];
        let word = || -> Result<[u8; 8]> {
            slot.get(..8)
                .and_then(|w| w.try_into().ok())
                .ok_or_else(|| bad("a number's slot is too small"))
        };
        let sized = || -> Result<&[u8]> {
            let n: usize = format
                .strip_suffix('s')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| bad("a string without a size"))?;
            slot.get(..n)
                .ok_or_else(|| bad("a string longer than its slot"))
        };
        Ok(match (code, format.as_str()) {
            (0, INT) => Item::Int(i64::from_ne_bytes(word()?)),
            (0, FLOAT) => Item::Float(f64::from_ne_bytes(word()?)),
            (0, BOOL) => Item::Bool(word()?[7] != 0),
            (1, _) => Item::Str(
                String::from_utf8(trim_nuls(sized()?).to_vec())
                    .map_err(|_| bad("a str that is not UTF-8"))?,
            ),
            (2, _) => Item::Bytes(trim_nuls(sized()?).to_vec()),
            (3, _) => Item::None,
            _ => return Err(bad("an item of an unknown kind")),
        })
    }

    /// Replaces the item at `index`. A string or bytes value must fit the
    /// slot the item had when the list was made.
    pub fn set(&mut self, index: i64, item: impl Into<Item>) -> Result<()> {
        let at = self.position(index)?;
        let item = item.into();
        let slot = self.slot_len(at);
        let format = match &item {
            Item::Str(_) | Item::Bytes(_) => {
                let current = self.format_at(at)?;
                if current.ends_with('s') {
                    current
                } else {
                    format!("{slot}s")
                }
            }
            _ => item.format(slot),
        };
        self.write(at, &item, &format)
    }

    fn write(&mut self, at: usize, item: &Item, format: &str) -> Result<()> {
        let slot = self.slot_len(at);
        // A number fills 8 bytes of a longer slot, as struct.pack_into does.
        let value = match item {
            Item::Str(_) | Item::Bytes(_) => item.encode(slot)?,
            _ => item.encode(8)?,
        };
        let mut format_bytes = [0u8; 8];
        put(&mut format_bytes, format.as_bytes())?;
        let (data, formats, codes) = (
            self.data_start() + self.offsets[at],
            self.formats_start() + 8 * at,
            self.codes_start() + at,
        );
        let code = item.slot().1;
        let buf = self.shm.buf_mut();
        buf[data..data + value.len()].copy_from_slice(&value);
        buf[formats..formats + 8].copy_from_slice(&format_bytes);
        buf[codes] = code;
        Ok(())
    }

    /// All items, in order.
    pub fn to_vec(&self) -> Result<Vec<Item>> {
        (0..self.len() as i64).map(|i| self.get(i)).collect()
    }

    /// How many items equal `value`.
    pub fn count(&self, value: &Item) -> Result<usize> {
        Ok(self.to_vec()?.iter().filter(|item| *item == value).count())
    }

    /// The first index holding `value`; `Err(NotFound)` if none does.
    ///
    /// ```
    /// # use ferrokernel_prelude::multiprocessing::{Error, shared_memory::{Item, ShareableList}};
    /// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
    /// let list = ShareableList::new(["a", "b", "a"])?;
    /// assert_eq!(list.index(&Item::from("b"))?, 1);
    /// assert_eq!(list.count(&Item::from("a"))?, 2);
    /// assert!(matches!(list.index(&Item::from("z")), Err(Error::NotFound)));
    /// list.shm().unlink()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn index(&self, value: &Item) -> Result<usize> {
        self.to_vec()?
            .iter()
            .position(|item| item == value)
            .ok_or(Error::NotFound)
    }

    /// Every item's `struct` format, joined (Python's `format`).
    pub fn format(&self) -> Result<String> {
        (0..self.len()).map(|at| self.format_at(at)).collect()
    }
}

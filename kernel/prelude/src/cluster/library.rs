//! Finding the shared library a function lives in, so it can be shipped.
//!
//! A notebook cell is compiled into a shared library that needs the
//! toolchain's `libstd-*.so`; a worker gets both, by content hash, and
//! loads them privately. Code that is not in a shared library (a plain
//! program's) cannot be shipped this way.

use super::ClusterFailure;
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ffi::{CStr, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

/// A library file read once and known by its content hash.
#[derive(Debug)]
pub(crate) struct Library {
    pub(crate) hash: String,
    pub(crate) file_name: String,
    pub(crate) bytes: Vec<u8>,
}

/// A function's place: the library it is in and its offset from the base.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    pub(crate) library: Arc<Library>,
    pub(crate) offset: u64,
}

/// Where the code at `address` lives.
pub(crate) fn place_of(address: usize) -> Result<Place> {
    let (path, base) = loaded_object_of(address)?;
    if !is_shared_library(&path) {
        return Err(Error::Cluster(ClusterFailure::NotInSharedLibrary {
            path: path.display().to_string(),
        }));
    }
    Ok(Place {
        library: read_cached(&path)?,
        offset: (address - base) as u64,
    })
}

/// The standard library the calling library was linked against (`libstd-*.so`).
pub(crate) fn standard_library() -> Result<Arc<Library>> {
    // A function of std's, called through the library's import of it.
    let (path, _) = loaded_object_of(std::io::stdout as fn() -> std::io::Stdout as usize)?;
    if !is_shared_library(&path) {
        return Err(Error::Cluster(ClusterFailure::NotInSharedLibrary {
            path: path.display().to_string(),
        }));
    }
    read_cached(&path)
}

fn is_shared_library(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.ends_with(".so") || name.contains(".so."))
}

/// The file of the object containing `address`, and its load bias (what
/// the worker adds back, see [`load_bias`]).
fn loaded_object_of(address: usize) -> Result<(PathBuf, usize)> {
    let missing = || {
        Error::Cluster(ClusterFailure::NotInSharedLibrary {
            path: format!("<no loaded object holds {address:#x}>"),
        })
    };
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: dladdr reads an address and fills `info`; it keeps no pointer.
    let found = unsafe { libc::dladdr(address as *const c_void, info.as_mut_ptr()) };
    // SAFETY: zeroed is a valid Dl_info, and dladdr filled it when it returned non-zero.
    let info = unsafe { info.assume_init() };
    if found == 0 || info.dli_fname.is_null() {
        return Err(missing());
    }
    // SAFETY: dladdr's file name is a C string owned by the loader.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    // The object is loaded, so this only takes another reference to it.
    // SAFETY: a C string path; RTLD_NOLOAD never loads anything new.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) };
    if handle.is_null() {
        return Err(missing());
    }
    let bias = load_bias(handle);
    // SAFETY: the reference taken just above.
    unsafe { libc::dlclose(handle) };
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes()));
    Ok((path, bias.ok_or_else(missing)?))
}

/// How far from its linked addresses the loader put a library (the first
/// field of glibc's `struct link_map`).
pub(crate) fn load_bias(handle: *mut c_void) -> Option<usize> {
    let mut map: *const usize = std::ptr::null();
    // SAFETY: RTLD_DI_LINKMAP writes one pointer to the handle's link_map.
    let status = unsafe {
        libc::dlinfo(
            handle,
            libc::RTLD_DI_LINKMAP,
            (&raw mut map).cast::<c_void>(),
        )
    };
    // SAFETY: `l_addr` (an ElfW(Addr)) is the link_map's first field.
    (status == 0 && !map.is_null()).then(|| unsafe { *map })
}

type Key = (PathBuf, u64, Option<SystemTime>);

/// Reads and hashes a library once per file version (a cell's library is
/// several megabytes and every cluster call ships from it).
fn read_cached(path: &Path) -> Result<Arc<Library>> {
    static CACHE: OnceLock<Mutex<HashMap<Key, Arc<Library>>>> = OnceLock::new();
    let metadata = std::fs::metadata(path)?;
    let key = (path.to_owned(), metadata.len(), metadata.modified().ok());
    let cache = CACHE.get_or_init(Default::default);
    if let Some(library) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return Ok(Arc::clone(library));
    }
    let bytes = std::fs::read(path)?;
    let hash = hex(&Sha256::digest(&bytes));
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("{hash}.so"));
    let library = Arc::new(Library {
        hash,
        file_name,
        bytes,
    });
    cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key, Arc::clone(&library));
    Ok(library)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

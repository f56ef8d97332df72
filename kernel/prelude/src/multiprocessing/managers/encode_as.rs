//! What a proxy method accepts for a `T`: anything that goes over the wire
//! exactly as a `T` does.

use serde::Serialize;

/// A value a proxy accepts where it stores or looks up a `T`: the `T`
/// itself, a `&T`, and for `String` a `&str`, for `Vec<U>` a `&[U]` — each
/// encodes (with postcard) to the same bytes as the `T`, so the server
/// stores and compares them alike. Sealed: only these.
///
/// So a `DictProxy<String, i32>` takes what a Rust user types:
///
/// ```
/// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
/// let d = manager.dict::<String, i32>()?;
/// d.insert("a", 1)?; // a &str for a String key
/// let b = String::from("b");
/// d.insert(&b, 2)?; // a borrowed key
/// d.insert(b, 3)?; // an owned one
/// d.insert("c".to_owned(), 4)?;
/// assert_eq!(d.setdefault("d", 5)?, 5);
/// assert_eq!(d.get("a")?, Some(1));
/// assert_eq!(d.get(&"b".to_owned())?, Some(3));
/// assert!(d.contains_key("c")?);
/// assert_eq!(d.pop("d")?, 5);
/// let v = 6;
/// d.insert("e", &v)?; // a borrowed value
/// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
/// ```
///
/// One thing no signature can offer: `d.insert("a".into(), 1)`. A method
/// that takes both a `String` and a `&str` is generic, and `.into()` then has
/// no single type to convert to ("type annotations needed"); a method that
/// takes only `String` refuses `"a"`. Write `"a"`, or `"a".to_owned()`:
///
/// ```compile_fail,E0283
/// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
/// let d = manager.dict::<String, i32>()?;
/// d.insert("a".into(), 1)?;
/// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
/// ```
///
/// Lists, values and queues take the same:
///
/// ```
/// # let manager = ferrokernel_prelude::multiprocessing::Manager::new()?;
/// let names = manager.list(Vec::<String>::new())?;
/// names.append("ada")?;
/// names.append(String::from("grace"))?;
/// assert!(names.contains("ada")?);
/// assert_eq!(names.index(&"grace".to_owned())?, 1);
/// let rows = manager.list(Vec::<Vec<u8>>::new())?;
/// rows.append(&[1u8, 2][..])?; // a slice for a Vec
/// rows.append(vec![3])?;
/// let value = manager.value(String::new())?;
/// value.set("set")?;
/// let queue = manager.queue::<String>()?;
/// queue.put("job")?;
/// assert_eq!(queue.get()?, "job");
/// # Ok::<(), ferrokernel_prelude::multiprocessing::Error>(())
/// ```
pub trait EncodeAs<T: ?Sized>: Serialize + sealed::Sealed<T> {}

impl<T: Serialize> EncodeAs<T> for T {}
impl<T: Serialize> EncodeAs<T> for &T {}
impl EncodeAs<String> for &str {}
impl<U: Serialize> EncodeAs<Vec<U>> for &[U] {}

mod sealed {
    // Public in a private module: nameable only inside this crate.
    #[allow(unreachable_pub)]
    pub trait Sealed<T: ?Sized> {}

    impl<T> Sealed<T> for T {}
    impl<T> Sealed<T> for &T {}
    impl Sealed<String> for &str {}
    impl<U> Sealed<Vec<U>> for &[U] {}
}

//! Start methods: how `multiprocessing` creates a process. The prelude has
//! one, `fork`; Python's `spawn` and `forkserver` start a fresh interpreter
//! and re-run the target there by name, which closures from notebook cells
//! (compiled into libraries loaded after any fork server) cannot survive.

use super::{Error, Result};

/// The only start method: `"fork"` (`multiprocessing.get_start_method()`).
///
/// ```
/// use ferrokernel_prelude::multiprocessing::get_start_method;
/// assert_eq!(get_start_method(), "fork");
/// ```
pub fn get_start_method() -> &'static str {
    "fork"
}

/// The start methods available: `["fork"]` (`multiprocessing.get_all_start_methods()`).
///
/// ```
/// use ferrokernel_prelude::multiprocessing::get_all_start_methods;
/// assert_eq!(get_all_start_methods(), ["fork"]);
/// ```
pub fn get_all_start_methods() -> Vec<&'static str> {
    vec!["fork"]
}

/// Accepts `"fork"`; any other method is `Err(StartMethod)`, which says why
/// (`multiprocessing.set_start_method(method)`).
///
/// ```
/// use ferrokernel_prelude::multiprocessing::{Error, set_start_method};
/// assert!(set_start_method("fork").is_ok());
/// let refused = set_start_method("spawn").unwrap_err();
/// assert!(matches!(refused, Error::StartMethod { .. }));
/// assert!(refused.to_string().contains("cannot be re-executed in a fresh interpreter"));
/// ```
pub fn set_start_method(method: &str) -> Result<()> {
    if method == "fork" {
        Ok(())
    } else {
        Err(Error::StartMethod {
            method: method.to_owned(),
        })
    }
}

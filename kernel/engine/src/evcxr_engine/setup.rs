//! What makes a fresh evcxr context a ferrokernel one.
//!
//! The whole set-up is one evaluation (one cargo build): evcxr runs a cell's
//! leading `:` commands first and then compiles the rest once. Everything cells
//! need from the kernel lives in the prelude crate, compiled once, so nothing
//! is re-emitted into every cell but a few `use` lines.

use super::display::Show;
use std::path::Path;

/// The one evaluation that prepares a fresh context: how cells are built
/// (`build`: [`crate::cell_build::SETUP`] when the engine routes its builds, else the
/// linker pinned as `system`, so a `mold` or `lld` that happens to be on PATH
/// is not picked up, or missed when it goes away), the prelude as a
/// dependency, its names in scope, and the runtime set up. Without
/// `multiprocessing`, only the notebook helpers load (a plain Rust kernel),
/// without the prelude's dependencies.
pub(super) fn context_setup(
    prelude_dir: &Path,
    multiprocessing: bool,
    build: Option<&str>,
) -> String {
    let features = if multiprocessing {
        ""
    } else {
        ", default-features = false"
    };
    let mut code = build.unwrap_or(":linker system\n").to_owned();
    code.push_str(&format!(
        ":dep ferrokernel-prelude = {{ path = {:?}{features} }}\n",
        prelude_dir.display().to_string()
    ));
    if multiprocessing {
        code.push_str(
            "use ferrokernel_prelude::{cluster, concurrent, multiprocessing, os, threading, widgets};\n",
        );
    }
    code.push_str(
        "use ferrokernel_prelude::notebook::{\n    \
             clear_output, display, display_html, display_markdown, getpass, input, progress,\n\
         };\n",
    );
    code.push_str(&Show::Debug.use_line());
    code.push('\n');
    code.push_str(RUNTIME_SETUP);
    code
}

/// Run in every new runtime process (after a crash, evcxr starts another).
pub(super) const RUNTIME_SETUP: &str = "ferrokernel_prelude::notebook::install_runtime();";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_up_is_one_cell_with_the_linker_pinned_first() {
        let code = context_setup(Path::new("/p"), true, None);
        assert!(code.starts_with(":linker system\n:dep ferrokernel-prelude = { path = \"/p\" }\n"));
        let routed = context_setup(Path::new("/p"), true, Some(":linker mold\n"));
        assert!(routed.starts_with(":linker mold\n:dep ferrokernel-prelude"));
        assert!(code.contains(
            "use ferrokernel_prelude::{cluster, concurrent, multiprocessing, os, threading, widgets};"
        ));
        assert!(code.contains("show::Debug as FerrokernelShow;"));
        assert!(code.trim_end().ends_with(RUNTIME_SETUP));
        let bare = context_setup(Path::new("/p"), false, None);
        assert!(bare.contains("default-features = false"));
        assert!(!bare.contains("multiprocessing"));
    }
}

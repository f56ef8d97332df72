//! What makes a fresh evcxr context a ferrokernel one, and how cells are shown.
//!
//! The whole set-up is one evaluation (one cargo build): evcxr runs a cell's
//! leading `:` commands first and then compiles the rest once. Everything cells
//! need from the kernel lives in the prelude crate, compiled once, so nothing
//! is re-emitted into every cell but a few `use` lines.

use std::path::Path;

/// The name under which the display trait is imported (see [`Show`]).
const SHOW_NAME: &str = "FerrokernelShow";

/// The one evaluation that prepares a fresh context: the linker pinned (so a
/// `mold` or `lld` that happens to be on PATH is not picked up, or missed when
/// it goes away), the prelude as a dependency, its names in scope, and the
/// runtime set up. Without `multiprocessing`, only the notebook helpers load
/// (a plain Rust kernel), without the prelude's dependencies.
pub(super) fn context_setup(prelude_dir: &Path, multiprocessing: bool) -> String {
    let features = if multiprocessing {
        ""
    } else {
        ", default-features = false"
    };
    let mut code = format!(
        ":linker system\n\
         :dep ferrokernel-prelude = {{ path = {:?}{features} }}\n",
        prelude_dir.display().to_string()
    );
    if multiprocessing {
        code.push_str(
            "use ferrokernel_prelude::{concurrent, multiprocessing, os, threading, widgets};\n",
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

/// Which of the prelude's display traits is in scope for a cell's final value
/// (`ferrokernel_prelude::notebook::show`): one compile per expression cell
/// where evcxr would need two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Show {
    /// `{:?}`, evcxr's default.
    Debug,
    /// `{:#?}`.
    Pretty,
    /// Any other format, or `:types` on: evcxr's own fallback formats the value.
    Off,
}

impl Show {
    /// The trait that prints what evcxr's `:fmt` and `:types` settings ask for.
    pub(super) fn for_settings(settings: &DisplaySettings) -> Show {
        match (settings.format.as_str(), settings.types) {
            ("{:?}", false) => Show::Debug,
            ("{:#?}", false) => Show::Pretty,
            _ => Show::Off,
        }
    }

    /// The `use` that puts this trait in scope; it replaces the previous one,
    /// since evcxr keeps one import per name.
    pub(super) fn use_line(self) -> String {
        let name = match self {
            Show::Debug => "Debug",
            Show::Pretty => "Pretty",
            Show::Off => "Off",
        };
        format!("use ferrokernel_prelude::notebook::show::{name} as {SHOW_NAME};")
    }
}

/// evcxr's settings for showing final values, as its commands change them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DisplaySettings {
    /// `:fmt`'s format string.
    pub(super) format: String,
    /// `:types`.
    pub(super) types: bool,
}

impl Default for DisplaySettings {
    fn default() -> Self {
        DisplaySettings {
            format: "{:?}".to_owned(),
            types: false,
        }
    }
}

/// A cell's leading `:` commands, the way evcxr finds them: lines before the
/// first line of Rust code (blank lines and `//` comments are skipped).
pub(super) fn leading_commands(code: &str) -> Vec<(&str, Option<&str>)> {
    let mut commands = Vec::new();
    for line in code.lines() {
        let trimmed = line.trim_start_matches(' ');
        if let Some(command) = trimmed.strip_prefix(':') {
            let (name, args) = match command.split_once(' ') {
                Some((name, args)) => (name, Some(args.trim()).filter(|a| !a.is_empty())),
                None => (command, None),
            };
            commands.push((name, args));
        } else if !(line.starts_with("//") || line.trim().is_empty()) {
            break;
        }
    }
    commands
}

impl DisplaySettings {
    /// Follows the effect of a cell's commands on evcxr's settings; says whether
    /// the context was cleared (`:clear` forgets the set-up too).
    pub(super) fn follow(&mut self, code: &str) -> bool {
        let mut cleared = false;
        for (name, args) in leading_commands(code) {
            match name {
                "fmt" => self.format = args.unwrap_or("{:?}").to_owned(),
                "types" => self.types = !self.types,
                "clear" => {
                    *self = DisplaySettings::default();
                    cleared = true;
                }
                _ => {}
            }
        }
        cleared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_up_is_one_cell_with_the_linker_pinned_first() {
        let code = context_setup(Path::new("/p"), true);
        assert!(code.starts_with(":linker system\n:dep ferrokernel-prelude = { path = \"/p\" }\n"));
        assert!(code.contains(
            "use ferrokernel_prelude::{concurrent, multiprocessing, os, threading, widgets};"
        ));
        assert!(code.contains("show::Debug as FerrokernelShow;"));
        assert!(code.trim_end().ends_with(RUNTIME_SETUP));
        let bare = context_setup(Path::new("/p"), false);
        assert!(bare.contains("default-features = false"));
        assert!(!bare.contains("multiprocessing"));
    }

    #[test]
    fn commands_are_read_until_the_first_line_of_code() {
        let code = ":fmt {:#?}\n// note\n\n:types\nlet x = 1;\n:clear\n";
        assert_eq!(
            leading_commands(code),
            vec![("fmt", Some("{:#?}")), ("types", None)]
        );
    }

    #[test]
    fn display_settings_follow_fmt_types_and_clear() {
        let mut settings = DisplaySettings::default();
        assert_eq!(Show::for_settings(&settings), Show::Debug);
        assert!(!settings.follow(":fmt {:#?}"));
        assert_eq!(Show::for_settings(&settings), Show::Pretty);
        settings.follow(":fmt {:x}");
        assert_eq!(Show::for_settings(&settings), Show::Off);
        settings.follow(":fmt");
        assert_eq!(Show::for_settings(&settings), Show::Debug);
        settings.follow(":types");
        assert_eq!(Show::for_settings(&settings), Show::Off);
        assert!(settings.follow(":clear"));
        assert_eq!(Show::for_settings(&settings), Show::Debug);
    }
}

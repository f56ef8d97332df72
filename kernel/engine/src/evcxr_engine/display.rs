//! How a cell's final value is shown: evcxr's `:fmt` and `:types` followed
//! into the display trait in scope, and final place expressions borrowed.

use super::{EvcxrEngine, final_value};

/// The name under which the display trait is imported (see [`Show`]).
const SHOW_NAME: &str = "FerrokernelShow";

impl EvcxrEngine {
    /// After a cell ran: follows its `:fmt`/`:types` into the display trait in
    /// scope, and re-applies the set-up a `:clear` removed.
    pub(super) fn after_commands(&mut self, code: &str) {
        let before = Show::for_settings(&self.display_settings);
        if self.display_settings.follow(code) {
            if let Err(error) = self.apply_setup() {
                tracing::error!(%error, "could not set the context up again after :clear");
            }
            return;
        }
        let now = Show::for_settings(&self.display_settings);
        if now != before
            && let Err(error) = self.setup(&now.use_line())
        {
            tracing::error!(%error, "could not change the display trait");
        }
    }

    /// The cell as evcxr should see it: a final place expression borrowed, so
    /// the display trait shows it in one compile (see [`final_value`]).
    pub(super) fn prepared_cell<'a>(&self, code: &'a str) -> std::borrow::Cow<'a, str> {
        if Show::for_settings(&self.display_settings) == Show::Off {
            return code.into();
        }
        match final_value::borrow_final_place(code) {
            Some(rewritten) => rewritten.into(),
            None => code.into(),
        }
    }
}

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

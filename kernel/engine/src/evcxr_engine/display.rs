//! How a cell's final value is shown: evcxr's `:fmt` and `:types` followed
//! into the display trait in scope, and final place expressions borrowed.

use super::{EvcxrEngine, final_value};
use crate::cell_commands::{self, CellCommand};

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

impl DisplaySettings {
    /// Follows the effect of a cell's commands on evcxr's settings; says whether
    /// the context was cleared (`:clear` forgets the set-up too).
    pub(super) fn follow(&mut self, code: &str) -> bool {
        let mut cleared = false;
        for command in cell_commands::leading_commands(code) {
            match command {
                CellCommand::Fmt(args) => self.format = args.unwrap_or("{:?}").to_owned(),
                CellCommand::Types => self.types = !self.types,
                CellCommand::Clear => {
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

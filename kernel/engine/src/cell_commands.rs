//! A cell's leading `:` commands, read in one place for the kernel and the engine.
//!
//! evcxr runs the `:` lines at the top of a cell before compiling the rest:
//! the lines before the first line of Rust code (blank lines and `//`
//! comments are passed over). A command is `:name`, then, after a space,
//! its arguments (evcxr's own reading: `^ *(:[^ ]*)( +(.*))?$`).
//! [`CellCommand`] names the commands ferrokernel acts on itself — the
//! kernel's `:output_limit`, and the evcxr commands whose effect the engine
//! follows or corrects — and passes every other one on as
//! [`CellCommand::Other`].

/// The kernel's own command: one cell's output limit.
pub const OUTPUT_LIMIT: &str = "output_limit";

/// One of the lines evcxr reads as commands: a `:` command, a `//` comment
/// or a blank line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeadingLine<'a> {
    /// Where the line starts in the cell (in bytes).
    pub start: usize,
    /// The line with its ending.
    pub line: &'a str,
    /// The line without its ending (`\n`, `\r\n`).
    pub text: &'a str,
}

impl<'a> LeadingLine<'a> {
    /// The command on this line, if it is one.
    pub fn command(&self) -> Option<CellCommand<'a>> {
        let command = self.text.trim_start_matches(' ').strip_prefix(':')?;
        let (name, rest) = match command.find(' ') {
            Some(space) => command.split_at(space),
            None => (command, ""),
        };
        let args = Some(rest.trim()).filter(|a| !a.is_empty());
        Some(match name {
            OUTPUT_LIMIT => CellCommand::OutputLimit(rest),
            "dep" => CellCommand::Dep(args),
            "fmt" => CellCommand::Fmt(args),
            "types" => CellCommand::Types,
            "clear" => CellCommand::Clear,
            _ => CellCommand::Other { name, args },
        })
    }
}

/// A cell command ferrokernel knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CellCommand<'a> {
    /// `:output_limit 5MB`: the kernel's limit for this cell's output, as
    /// written after the name (the kernel takes the line out before the
    /// engine sees the cell).
    OutputLimit(&'a str),
    /// `:dep name = config`: a dependency (the engine normalises and checks
    /// the line before evcxr reads it).
    Dep(Option<&'a str>),
    /// `:fmt {:#?}`: evcxr's format for final values (none: the default).
    Fmt(Option<&'a str>),
    /// `:types`: evcxr shows final values' types, or stops.
    Types,
    /// `:clear`: evcxr forgets every variable and item, the set-up too.
    Clear,
    /// Any other command, left to evcxr.
    Other {
        /// The name, after the `:`.
        name: &'a str,
        /// The arguments, trimmed; none when empty.
        args: Option<&'a str>,
    },
}

/// The cell's leading lines: its `:` commands and the comments and blank
/// lines among them, up to the first line of code.
pub fn leading_lines(code: &str) -> impl Iterator<Item = LeadingLine<'_>> {
    let mut start = 0;
    code.split_inclusive('\n')
        .map(move |line| {
            let at = start;
            start += line.len();
            LeadingLine {
                start: at,
                line,
                text: line.trim_end_matches(['\n', '\r']),
            }
        })
        .take_while(|line| {
            line.text.trim_start_matches(' ').starts_with(':')
                || line.text.starts_with("//")
                || line.text.trim().is_empty()
        })
}

/// The cell's leading commands, in order.
pub fn leading_commands(code: &str) -> impl Iterator<Item = CellCommand<'_>> {
    leading_lines(code).filter_map(|line| line.command())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_until_the_first_line_of_code() {
        let code = ":fmt {:#?}\n// note\n\n:types\nlet x = 1;\n:clear\n";
        assert_eq!(
            leading_commands(code).collect::<Vec<_>>(),
            [CellCommand::Fmt(Some("{:#?}")), CellCommand::Types]
        );
    }

    #[test]
    fn each_command_is_named_as_evcxr_names_it() {
        let code = ":output_limit 20 lines\r\n  :dep x = \"1\"\n:fmt\n:vars  \n:depx\n:fmt\t{}\n";
        assert_eq!(
            leading_commands(code).collect::<Vec<_>>(),
            [
                CellCommand::OutputLimit(" 20 lines"),
                CellCommand::Dep(Some("x = \"1\"")),
                CellCommand::Fmt(None),
                CellCommand::Other {
                    name: "vars",
                    args: None
                },
                CellCommand::Other {
                    name: "depx",
                    args: None
                },
                CellCommand::Other {
                    name: "fmt\t{}",
                    args: None
                },
            ]
        );
    }

    #[test]
    fn lines_know_where_they_are() {
        let code = ":dep a\r\n\n:clear\nfn f() {}\n";
        let lines: Vec<_> = leading_lines(code).collect();
        assert_eq!(
            lines.iter().map(|l| (l.start, l.text)).collect::<Vec<_>>(),
            [(0, ":dep a"), (8, ""), (9, ":clear")]
        );
        assert_eq!(lines[0].line, ":dep a\r\n");
    }
}

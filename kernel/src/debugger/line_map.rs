//! Which line of a generated source is which line of a cell.
//!
//! The engine compiles a cell's statements and items into a source of its
//! own making: items first, statements inside a function, with code of its
//! own around them, and every earlier cell's items again. The cell's lines
//! are there unchanged, in order within each part: the longest common
//! subsequence of trimmed, non-empty lines pairs them up.

use std::collections::BTreeMap;

/// Lines are 1-based, as the debugger and the frontend count them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LineMap {
    cell_to_generated: BTreeMap<u32, u32>,
    generated_to_cell: BTreeMap<u32, u32>,
}

/// Past this many line pairs, the alignment is skipped (a cell of thousands
/// of lines against a long source): its lines stay unmapped.
const MAX_PAIRS: usize = 4_000_000;

impl LineMap {
    /// Pairs `cell`'s lines with `generated`'s.
    pub(crate) fn align(cell: &str, generated: &str) -> LineMap {
        let cell: Vec<&str> = cell.lines().map(str::trim).collect();
        let generated: Vec<&str> = generated.lines().map(str::trim).collect();
        let mut map = LineMap::default();
        if cell.len().saturating_mul(generated.len()) > MAX_PAIRS {
            return map;
        }
        // lengths[i][j]: the longest common subsequence of cell[i..] and generated[j..].
        let width = generated.len() + 1;
        let mut lengths = vec![0u32; (cell.len() + 1) * width];
        for i in (0..cell.len()).rev() {
            for j in (0..generated.len()).rev() {
                lengths[i * width + j] = if !cell[i].is_empty() && cell[i] == generated[j] {
                    lengths[(i + 1) * width + j + 1] + 1
                } else {
                    lengths[(i + 1) * width + j].max(lengths[i * width + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < cell.len() && j < generated.len() {
            if !cell[i].is_empty() && cell[i] == generated[j] {
                let (from, to) = (i as u32 + 1, j as u32 + 1);
                map.cell_to_generated.insert(from, to);
                map.generated_to_cell.insert(to, from);
                i += 1;
                j += 1;
            } else if lengths[(i + 1) * width + j] >= lengths[i * width + j + 1] {
                i += 1;
            } else {
                j += 1;
            }
        }
        map
    }

    /// The generated line of cell line `line`, if the cell's line is there.
    pub(crate) fn generated_line(&self, line: u32) -> Option<u32> {
        self.cell_to_generated.get(&line).copied()
    }

    /// The cell line of generated line `line`, if it is one of the cell's.
    pub(crate) fn cell_line(&self, line: u32) -> Option<u32> {
        self.generated_to_cell.get(&line).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_lines_are_found_among_the_engines_own() {
        let cell =
            "fn double(n: i32) -> i32 {\n    n * 2\n}\nlet x: i32 = 41;\n\nlet y = double(x);";
        let generated = "use a;\nfn double(n: i32) -> i32 {\nn * 2\n}\n#[no_mangle]\nfn run() {\n\
                         let x: i32 = 41;\nlet y = double(x);\nstore(y);\n}";
        let map = LineMap::align(cell, generated);
        assert_eq!(map.generated_line(1), Some(2));
        assert_eq!(map.generated_line(2), Some(3));
        assert_eq!(map.generated_line(4), Some(7));
        assert_eq!(map.generated_line(5), None, "blank lines are not matched");
        assert_eq!(map.generated_line(6), Some(8));
        assert_eq!(map.cell_line(8), Some(6));
        assert_eq!(
            map.cell_line(9),
            None,
            "the engine's own code is no cell line"
        );
        assert_eq!(
            LineMap::align("let z = 1;", generated).generated_line(1),
            None
        );
    }
}

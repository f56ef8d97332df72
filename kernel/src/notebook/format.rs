//! The nbformat 4 file format, as far as running and comparing needs it.
//! Unknown fields are kept, so a notebook written back loses nothing.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::path::Path;
use thiserror::Error;

/// Why a notebook could not be read or written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The notebook's path.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file is not an nbformat 4 notebook.
    #[error("{path} is not a valid notebook: {source}")]
    Json {
        /// The notebook's path.
        path: String,
        /// The parser's complaint.
        source: serde_json::Error,
    },
    /// An nbformat other than 4.
    #[error("{path} has nbformat {found}; only version 4 is supported")]
    Version {
        /// The notebook's path.
        path: String,
        /// The version found.
        found: u64,
    },
}

/// A notebook.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Notebook {
    /// Always 4.
    pub nbformat: u64,
    /// The minor version (ids on cells need 5).
    pub nbformat_minor: u64,
    /// kernelspec, language_info and anything else.
    pub metadata: Map<String, Value>,
    /// The cells in order.
    pub cells: Vec<Cell>,
}

/// Text stored as one string or as a list of lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text(pub String);

impl Serialize for Text {
    /// Jupyter's own writers split text into lines that keep their newlines.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let lines: Vec<&str> = self.0.split_inclusive('\n').collect();
        lines.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            One(String),
            Lines(Vec<String>),
        }
        Ok(Text(match Either::deserialize(deserializer)? {
            Either::One(text) => text,
            Either::Lines(lines) => lines.concat(),
        }))
    }
}

/// A cell.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "cell_type", rename_all = "lowercase")]
pub enum Cell {
    /// Rust code, with the outputs of its last run.
    Code {
        /// Its id (nbformat 4.5).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Tags and other metadata.
        #[serde(default)]
        metadata: Map<String, Value>,
        /// The code.
        source: Text,
        /// The outputs of its last run.
        #[serde(default)]
        outputs: Vec<Output>,
        /// The execution counter of its last run.
        execution_count: Option<u32>,
    },
    /// Explanations.
    Markdown {
        /// Its id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Metadata.
        #[serde(default)]
        metadata: Map<String, Value>,
        /// The text.
        source: Text,
        /// Anything else (attachments).
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    /// Unrendered text.
    Raw {
        /// Its id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Metadata.
        #[serde(default)]
        metadata: Map<String, Value>,
        /// The text.
        source: Text,
        /// Anything else.
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
}

impl Cell {
    /// The cell's tags (`metadata.tags`).
    pub fn tags(&self) -> Vec<&str> {
        let metadata = match self {
            Cell::Code { metadata, .. }
            | Cell::Markdown { metadata, .. }
            | Cell::Raw { metadata, .. } => metadata,
        };
        metadata
            .get("tags")
            .and_then(Value::as_array)
            .map(|tags| tags.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// Whether the cell carries `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags().contains(&tag)
    }
}

/// One output of a code cell.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "output_type", rename_all = "snake_case")]
pub enum Output {
    /// Printed text.
    Stream {
        /// stdout or stderr.
        name: String,
        /// The text.
        text: Text,
    },
    /// Rich output shown while the cell ran.
    DisplayData {
        /// By MIME type.
        data: Map<String, Value>,
        /// Per-MIME metadata.
        #[serde(default)]
        metadata: Map<String, Value>,
    },
    /// The value of the cell's final expression.
    ExecuteResult {
        /// By MIME type.
        data: Map<String, Value>,
        /// Per-MIME metadata.
        #[serde(default)]
        metadata: Map<String, Value>,
        /// The cell's execution counter.
        execution_count: Option<u32>,
    },
    /// What went wrong.
    Error {
        /// The error's name.
        ename: String,
        /// Its message.
        evalue: String,
        /// Lines for a person.
        traceback: Vec<String>,
    },
}

impl Notebook {
    /// Reads a notebook file.
    pub fn read(path: &Path) -> Result<Notebook, FormatError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| FormatError::Io {
            path: name.clone(),
            source,
        })?;
        let notebook: Notebook =
            serde_json::from_slice(&bytes).map_err(|source| FormatError::Json {
                path: name.clone(),
                source,
            })?;
        if notebook.nbformat != 4 {
            return Err(FormatError::Version {
                path: name,
                found: notebook.nbformat,
            });
        }
        Ok(notebook)
    }

    /// Writes the notebook as Jupyter does (one-space indent, trailing newline).
    pub fn write(&self, path: &Path) -> Result<(), FormatError> {
        let io = |source| FormatError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut bytes = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
        self.serialize(&mut serializer)
            .map_err(|e| io(std::io::Error::other(e)))?;
        bytes.push(b'\n');
        std::fs::write(path, bytes).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_cells_outputs_and_unknown_fields() {
        let json = r##"{"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "ferrokernel"}},
            "cells": [
              {"cell_type": "markdown", "id": "m1", "metadata": {}, "source": ["# Title\n", "text"],
               "attachments": {}},
              {"cell_type": "code", "id": "c1", "metadata": {"tags": ["raises-exception"]},
               "source": "1 + 1", "execution_count": 3,
               "outputs": [{"output_type": "execute_result", "execution_count": 3,
                            "data": {"text/plain": "2"}, "metadata": {}},
                           {"output_type": "stream", "name": "stdout", "text": ["a\n", "b\n"]}]}
            ]}"##;
        let notebook: Notebook = serde_json::from_str(json).expect("parses");
        let Cell::Code {
            source, outputs, ..
        } = &notebook.cells[1]
        else {
            panic!("code cell expected");
        };
        assert_eq!(source.0, "1 + 1");
        assert!(notebook.cells[1].has_tag("raises-exception"));
        match &outputs[1] {
            Output::Stream { text, .. } => assert_eq!(text.0, "a\nb\n"),
            other => panic!("unexpected {other:?}"),
        }
        let written = serde_json::to_value(&notebook).expect("serializes");
        assert_eq!(
            written["cells"][0]["source"],
            serde_json::json!(["# Title\n", "text"])
        );
        assert!(written["cells"][0]["attachments"].is_object());
        assert_eq!(
            written["cells"][1]["outputs"][1]["text"],
            serde_json::json!(["a\n", "b\n"])
        );
        let again: Notebook = serde_json::from_value(written).expect("round trip");
        assert_eq!(again, notebook);
    }
}

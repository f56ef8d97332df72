//! `ferrokernel run` and `ferrokernel test`: notebooks top to bottom through the
//! engine, without Jupyter.

use super::compare::{Mismatch, compare};
use super::format::{Cell, FormatError, Notebook, Output};
use super::run::{CellRun, Runner};
use super::sanitize::{SanitizeError, Sanitizer};
use crate::info;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why a command could not do its job (as opposed to a cell failing).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CommandError {
    /// A notebook could not be read or written.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The sanitize file is broken.
    #[error(transparent)]
    Sanitize(#[from] SanitizeError),
    /// A path given is neither a notebook nor a directory of notebooks.
    #[error("{0}: no such notebook or directory")]
    NotFound(PathBuf),
    /// `--output` named a file while several notebooks run.
    #[error("--output must be a directory when running several notebooks")]
    OutputNotDirectory,
}

/// Where `run` writes executed notebooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Nowhere: only print.
    No,
    /// Back into each notebook.
    InPlace,
    /// To this file (one notebook) or directory.
    To(PathBuf),
}

/// The notebooks named by `paths`: files as given, directories expanded to
/// their `.ipynb` files in name order.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CommandError> {
    let mut notebooks = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|_| CommandError::NotFound(path.clone()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "ipynb"))
                .collect();
            found.sort();
            notebooks.extend(found);
        } else if path.is_file() {
            notebooks.push(path.clone());
        } else {
            return Err(CommandError::NotFound(path.clone()));
        }
    }
    Ok(notebooks)
}

fn code_cells(notebook: &Notebook) -> usize {
    notebook
        .cells
        .iter()
        .filter(|c| matches!(c, Cell::Code { .. }))
        .count()
}

fn first_line(source: &str) -> &str {
    source.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
}

/// The notebooks `run` will execute, checked before any engine starts:
/// `paths` expanded, and `--output` a directory when there are several.
pub fn plan_run(paths: &[PathBuf], write: &Write) -> Result<Vec<PathBuf>, CommandError> {
    let notebooks = expand(paths)?;
    if notebooks.len() > 1 && matches!(write, Write::To(p) if !p.is_dir()) {
        return Err(CommandError::OutputNotDirectory);
    }
    Ok(notebooks)
}

/// Runs the notebooks (from [`plan_run`]); returns whether every cell behaved
/// (errors only where tagged `raises-exception`).
pub fn run(
    runner: &mut Runner,
    notebooks: &[PathBuf],
    write: &Write,
    timeout: Option<Duration>,
) -> Result<bool, CommandError> {
    let mut all_ok = true;
    for (index, path) in notebooks.iter().enumerate() {
        if index > 0
            && let Err(error) = runner.reset()
        {
            eprintln!("cannot reset the engine between notebooks: {error}");
            return Ok(false);
        }
        let mut notebook = Notebook::read(path)?;
        let started = Instant::now();
        let total = code_cells(&notebook);
        println!("\x1b[1m{}\x1b[0m ({total} code cells)", path.display());
        let mut number = 0;
        let mut failed = false;
        let mut ran = Vec::new();
        for (index, cell) in notebook.cells.iter_mut().enumerate() {
            let expects_error = cell.has_tag("raises-exception");
            let Cell::Code {
                source,
                outputs,
                execution_count,
                ..
            } = cell
            else {
                continue;
            };
            number += 1;
            if failed {
                // What follows a failure did not run; stale outputs would mislead.
                outputs.clear();
                *execution_count = None;
                continue;
            }
            println!(
                "\x1b[2m[{number:>2}/{total}] {}\x1b[0m",
                first_line(&source.0)
            );
            let run = runner.run_cell(&source.0, timeout);
            *outputs = run.outputs.clone();
            *execution_count = Some(run.execution_count);
            ran.push((index, run.cell));
            match (&run.error, expects_error) {
                (Some(_), false) => {
                    failed = true;
                    println!(
                        "\x1b[31m[{number:>2}/{total}] failed after {:.2} s{}\x1b[0m",
                        run.elapsed.as_secs_f64(),
                        timed_out_note(&run)
                    );
                }
                (None, true) => {
                    failed = true;
                    println!(
                        "\x1b[31m[{number:>2}/{total}] expected an error (tagged raises-exception), got none\x1b[0m"
                    );
                }
                _ => {}
            }
        }
        // What threads and processes of a cell printed after it ended, while
        // later cells ran, belongs to it.
        for (index, cell) in ran {
            if let Some(Cell::Code { outputs, .. }) = notebook.cells.get_mut(index) {
                *outputs = runner.outputs_of(cell);
            }
        }
        all_ok &= !failed;
        println!(
            "{}: {} in {:.1} s\n",
            path.display(),
            if failed {
                "\x1b[31mFAILED\x1b[0m"
            } else {
                "\x1b[32mok\x1b[0m"
            },
            started.elapsed().as_secs_f64()
        );
        let target = match write {
            Write::No => None,
            Write::InPlace => Some(path.clone()),
            Write::To(dir) if dir.is_dir() => path.file_name().map(|name| dir.join(name)),
            Write::To(file) => Some(file.clone()),
        };
        if let Some(target) = target {
            stamp(&mut notebook);
            notebook.write(&target)?;
        }
    }
    Ok(all_ok)
}

fn timed_out_note(run: &CellRun) -> &'static str {
    if run.timed_out { " (timed out)" } else { "" }
}

/// Metadata of a notebook run by this kernel, and cell ids (nbformat 4.5).
fn stamp(notebook: &mut Notebook) {
    let language = info::kernel_info().language_info;
    notebook.metadata.insert(
        "kernelspec".to_owned(),
        json!({
            "name": crate::install::DEFAULT_NAME,
            "display_name": crate::install::DEFAULT_DISPLAY_NAME,
            "language": "rust",
        }),
    );
    notebook.metadata.insert(
        "language_info".to_owned(),
        serde_json::to_value(language).unwrap_or(Value::Null),
    );
    notebook.nbformat_minor = notebook.nbformat_minor.max(5);
    for (index, cell) in notebook.cells.iter_mut().enumerate() {
        let (Cell::Code { id, .. } | Cell::Markdown { id, .. } | Cell::Raw { id, .. }) = cell;
        if id.is_none() {
            *id = Some(format!("cell-{index}"));
        }
    }
}

/// How `test` treats cells.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// Compare only cells tagged `nbval-check-output` (nbval's `--nbval-lax`).
    pub lax: bool,
    /// Per-cell timeout.
    pub timeout: Option<Duration>,
    /// The sanitize file; when absent, `sanitize.cfg` beside each notebook is used if present.
    pub sanitize_with: Option<PathBuf>,
}

/// Results of `test`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Cells whose outputs matched (or that behaved, when not compared).
    pub passed: usize,
    /// Cells that differed or failed.
    pub failed: usize,
    /// Cells tagged `nbval-skip`.
    pub skipped: usize,
}

/// Re-runs the notebooks and compares every cell's outputs with the stored ones.
/// Re-runs the notebooks (from [`expand`]) and compares their outputs.
pub fn test(
    runner: &mut Runner,
    notebooks: &[PathBuf],
    options: &TestOptions,
) -> Result<Tally, CommandError> {
    let explicit = options
        .sanitize_with
        .as_deref()
        .map(Sanitizer::from_file)
        .transpose()?;
    let mut tally = Tally::default();
    let started = Instant::now();
    for (index, path) in notebooks.iter().enumerate() {
        if index > 0
            && let Err(error) = runner.reset()
        {
            eprintln!("cannot reset the engine between notebooks: {error}");
            tally.failed += 1;
            continue;
        }
        let sanitizer = match &explicit {
            Some(sanitizer) => sanitizer.clone(),
            None => beside(path)?,
        };
        let notebook = Notebook::read(path)?;
        test_notebook(runner, path, &notebook, &sanitizer, options, &mut tally);
    }
    println!(
        "\x1b[1m== {} passed, {} failed, {} skipped in {:.1} s ==\x1b[0m",
        tally.passed,
        tally.failed,
        tally.skipped,
        started.elapsed().as_secs_f64()
    );
    Ok(tally)
}

fn beside(notebook: &Path) -> Result<Sanitizer, CommandError> {
    let candidate = notebook.with_file_name("sanitize.cfg");
    Ok(if candidate.is_file() {
        Sanitizer::from_file(&candidate)?
    } else {
        Sanitizer::default()
    })
}

fn test_notebook(
    runner: &mut Runner,
    path: &Path,
    notebook: &Notebook,
    sanitizer: &Sanitizer,
    options: &TestOptions,
    tally: &mut Tally,
) {
    for (index, cell) in notebook.cells.iter().enumerate() {
        let Cell::Code {
            source, outputs, ..
        } = cell
        else {
            continue;
        };
        let name = format!("{}::Cell {index}", path.display());
        if cell.has_tag("nbval-skip") {
            println!("{name} \x1b[33mSKIPPED\x1b[0m");
            tally.skipped += 1;
            continue;
        }
        let run = runner.run_cell(&source.0, options.timeout);
        let problems = judge(cell, outputs, &run, sanitizer, options.lax);
        if problems.is_empty() {
            println!("{name} \x1b[32mPASSED\x1b[0m");
            tally.passed += 1;
        } else {
            println!("{name} \x1b[31mFAILED\x1b[0m");
            println!("\x1b[2m{}\x1b[0m", indent(&source.0, "    | "));
            for problem in problems {
                println!("{}", indent(&problem, "    "));
            }
            tally.failed += 1;
        }
    }
}

/// What is wrong with a cell's new run, given its stored outputs and tags.
fn judge(
    cell: &Cell,
    stored: &[Output],
    run: &CellRun,
    sanitizer: &Sanitizer,
    lax: bool,
) -> Vec<String> {
    let expects_error = cell.has_tag("raises-exception");
    match (&run.error, expects_error) {
        (Some(error), false) => {
            let mut problems = vec![format!(
                "the cell failed{}: {}: {}",
                timed_out_note(run),
                error.ename(),
                error.evalue()
            )];
            problems.extend(error.traceback().into_iter().skip(1));
            return problems;
        }
        (None, true) => {
            return vec!["expected an error (tagged raises-exception), got none".to_owned()];
        }
        _ => {}
    }
    let check = if lax {
        cell.has_tag("nbval-check-output")
    } else {
        !cell.has_tag("nbval-ignore-output")
    };
    if !check {
        return Vec::new();
    }
    compare(stored, &run.outputs, sanitizer)
        .iter()
        .map(Mismatch::render)
        .collect()
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|line| format!("{prefix}{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

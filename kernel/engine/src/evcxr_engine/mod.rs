//! Cells run by evcxr: compiled into shared objects and loaded into a runtime
//! child process that keeps the notebook's variables.

mod diagnostics;
mod interrupt;
mod pump;

use crate::{
    CellError, Completions, Engine, InputPrompt, InputReader, Interrupt, MimeBundle, Output,
    Publisher, StreamKind, Workdir, WorkdirError, markers, prelude_source, procs,
};
use crossbeam_channel::Sender;
use interrupt::{InterruptHandle, Interrupter};
use pump::SharedReport;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Why the engine could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// evcxr could not create its context (no cargo or rustc on PATH, ...).
    #[error("evcxr could not start: {0}")]
    Evcxr(String),
    /// The prelude did not build or load.
    #[error("the ferrokernel prelude failed to load: {0}")]
    Prelude(String),
    /// The prelude's source could not be unpacked.
    #[error("cannot unpack the prelude under {path}: {source}")]
    Unpack {
        /// Where.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// How to start an [`EvcxrEngine`].
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Load the prelude (`multiprocessing`, `concurrent`, `threading`, `os`, `input`) into every cell.
    pub prelude: bool,
    /// How long a cell may ignore an interrupt before its runtime is killed.
    pub interrupt_grace: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            prelude: true,
            interrupt_grace: Duration::from_secs(2),
        }
    }
}

/// Makes `multiprocessing`, `concurrent` (`concurrent::futures`), `threading`
/// and `os` visible in every cell.
const PRELUDE_USE: &str = "use ferrokernel_prelude::{concurrent, multiprocessing, threading, os};";

/// Items every cell sees: Python's `input()` and IPython's `display()`.
/// `input` follows evcxr's input protocol; ':' and newlines in the prompt are
/// escaped because evcxr splits that line at ':'. `display` and `clear_output`
/// print marker lines the engine turns into `display_data` and `clear_output`.
const KERNEL_ITEMS: &str = r#"
/// Reads a line the user types in the notebook, like Python's `input()`.
fn input(prompt: &str) -> String {
    ferrokernel_read_line(prompt, false)
}
/// Reads a line without showing it, like Python's `getpass.getpass()`.
fn getpass(prompt: &str) -> String {
    ferrokernel_read_line(prompt, true)
}
fn ferrokernel_read_line(prompt: &str, password: bool) -> String {
    use std::io::Write;
    let prompt = prompt.replace('%', "%25").replace(':', "%3A").replace('\n', "%0A");
    let request = if password { "EVCXR_INPUT_REQUEST_PASSWORD" } else { "EVCXR_INPUT_REQUEST" };
    println!("{request}:{prompt}");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    line.trim_end_matches(['\n', '\r']).to_owned()
}
/// Shows rich output now, like IPython's `display`: (MIME type, content) pairs.
fn display(bundle: &[(&str, &str)]) {
    let escape = |text: &str| text.replace('\\', "\\\\").replace('\n', "\\n");
    let pairs: Vec<String> = bundle
        .iter()
        .map(|(mime, content)| format!("{mime}\u{1f}{}", escape(content)))
        .collect();
    println!("\u{1e}FK:display:{}", pairs.join("\u{1f}"));
}
/// Shows HTML now.
fn display_html(html: &str) {
    display(&[("text/html", html), ("text/plain", html)]);
}
/// Shows Markdown now.
fn display_markdown(markdown: &str) {
    display(&[("text/markdown", markdown), ("text/plain", markdown)]);
}
/// Clears the cell's output; with `wait`, only when new output arrives.
fn clear_output(wait: bool) {
    println!("\u{1e}FK:clear_output{}", if wait { ":wait" } else { "" });
}
"#;

/// Statements run in every new runtime process: interruptible prelude calls, and
/// a panic hook that reports the cell thread's panics to the engine instead of
/// printing a backtrace.
const RUNTIME_SETUP: &str = r#"
ferrokernel_prelude::interrupt::install_handler();
{
    let cell_thread = std::thread::current().id();
    let runtime_pid = std::process::id();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::process::id() == runtime_pid && std::thread::current().id() == cell_thread {
            let message = info.payload_as_str().unwrap_or("Box<dyn Any>");
            let escaped = message.replace('\\', "\\\\").replace('\n', "\\n");
            println!("\u{1e}FK:panic:{escaped}");
        } else {
            default_hook(info);
        }
    }));
}
"#;

/// Without the prelude, only the panic hook.
const RUNTIME_SETUP_BARE: &str = r#"
{
    let cell_thread = std::thread::current().id();
    let runtime_pid = std::process::id();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::process::id() == runtime_pid && std::thread::current().id() == cell_thread {
            let message = info.payload_as_str().unwrap_or("Box<dyn Any>");
            let escaped = message.replace('\\', "\\\\").replace('\n', "\\n");
            println!("\u{1e}FK:panic:{escaped}");
        } else {
            default_hook(info);
        }
    }));
}
"#;

/// Prepares the process environment for evcxr: its work directory (a persistent
/// slot, so dependency builds survive restarts), a private config directory (so a
/// user's own evcxr set-up does not leak in) and the unpacked prelude.
///
/// # Safety
/// Sets environment variables, so it must run while the process has one thread
/// (first thing in `main`, right after [`crate::runtime::hook`]).
pub unsafe fn prepare_environment(cache_root: &Path) -> Result<(Workdir, PathBuf), PrepareError> {
    let workdir = Workdir::acquire(cache_root)?;
    let config_dir = cache_root.join("evcxr-config");
    std::fs::create_dir_all(&config_dir).map_err(|source| PrepareError::Io {
        path: config_dir.clone(),
        source,
    })?;
    let prelude = prelude_source::unpack(cache_root).map_err(|source| PrepareError::Io {
        path: cache_root.to_owned(),
        source,
    })?;
    let library_path = runtime_library_path();
    // SAFETY: the caller guarantees the process is single-threaded.
    unsafe {
        std::env::set_var("EVCXR_TMPDIR", workdir.path());
        std::env::set_var("EVCXR_CONFIG_DIR", &config_dir);
        if let Some(path) = library_path {
            std::env::set_var("LD_LIBRARY_PATH", path);
        }
    }
    Ok((workdir, prelude))
}

/// `LD_LIBRARY_PATH` with the toolchain's target libraries first.
///
/// Cells are shared objects linked against the toolchain's `libstd-*.so` and
/// found through a relative RUNPATH computed for the `deps/` directory; evcxr
/// loads a copy one directory up, so when the cache and the toolchain share a
/// path prefix (both under `$HOME`) that RUNPATH misses. Naming the library
/// directory outright makes loading independent of where the cache lives.
fn runtime_library_path() -> Option<std::ffi::OsString> {
    let output = std::process::Command::new("rustc")
        .args(["--print", "target-libdir"])
        .output()
        .ok()?;
    let libdir = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    if !output.status.success() || libdir.is_empty() {
        return None;
    }
    let mut paths = vec![PathBuf::from(libdir)];
    if let Some(existing) = std::env::var_os("LD_LIBRARY_PATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(paths).ok()
}

/// Why the environment could not be prepared.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// No work directory.
    #[error(transparent)]
    Workdir(#[from] WorkdirError),
    /// The cache directory is not writable.
    #[error("cannot write {path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// The evcxr engine. Lives on one thread (evcxr's context is not `Send`).
pub struct EvcxrEngine {
    context: evcxr::CommandContext,
    publisher: Arc<dyn Publisher>,
    interrupter: Arc<Interrupter>,
    report: SharedReport,
    fences: Sender<Sender<()>>,
    /// Commands and items that make a fresh context ours (prelude, `input`, ...).
    setup_steps: Vec<String>,
    runtime_setup: &'static str,
    cells: u64,
}

impl EvcxrEngine {
    /// Starts evcxr and loads the prelude from `prelude_dir` (see
    /// [`prepare_environment`]). Takes seconds; run it off the kernel's hot path.
    pub fn start(
        publisher: Arc<dyn Publisher>,
        prelude_dir: Option<&Path>,
        options: &EngineOptions,
    ) -> Result<EvcxrEngine, StartError> {
        let (context, outputs) =
            evcxr::CommandContext::new().map_err(|e| StartError::Evcxr(e.to_string()))?;
        let report = SharedReport::default();
        let fences = pump::start(
            outputs.stdout,
            outputs.stderr,
            publisher.clone(),
            report.clone(),
        );
        let mut engine = EvcxrEngine {
            context,
            publisher,
            interrupter: Interrupter::new(options.interrupt_grace),
            report,
            fences,
            setup_steps: Vec::new(),
            runtime_setup: RUNTIME_SETUP_BARE,
            cells: 0,
        };
        engine.refresh_runtime_pid();
        if let (true, Some(dir)) = (options.prelude, prelude_dir) {
            engine.setup_steps.push(format!(
                ":dep ferrokernel-prelude = {{ path = {:?} }}",
                dir.display().to_string()
            ));
            engine.setup_steps.push(PRELUDE_USE.to_owned());
            engine.runtime_setup = RUNTIME_SETUP;
        }
        engine.setup_steps.push(KERNEL_ITEMS.to_owned());
        engine.apply_setup().map_err(StartError::Prelude)?;
        Ok(engine)
    }

    fn apply_setup(&mut self) -> Result<(), String> {
        for step in self.setup_steps.clone() {
            self.setup(&step)?;
        }
        self.setup(self.runtime_setup)
    }

    /// Runs set-up code, turning failures into a message.
    fn setup(&mut self, code: &str) -> Result<(), String> {
        let result = self.context.execute(code);
        self.fence();
        result.map(drop).map_err(|error| match error {
            evcxr::Error::CompilationErrors(errors) => errors
                .iter()
                .map(|e| e.rendered())
                .collect::<Vec<_>>()
                .join("\n"),
            other => other.to_string(),
        })
    }

    fn refresh_runtime_pid(&self) {
        let handle = self.context.process_handle();
        let pid = handle
            .lock()
            .map(|child| child.id() as i32)
            .unwrap_or_default();
        self.interrupter.set_runtime_pid(pid);
    }

    /// Waits until the pump has published everything received so far.
    fn fence(&self) {
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        if self.fences.send(done_tx).is_ok() {
            let _ = done_rx.recv_timeout(Duration::from_secs(5));
        }
    }

    fn variable_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .context
            .variables_and_types()
            .map(|(name, _)| name.to_owned())
            .collect();
        names.sort();
        names
    }

    /// Ends the processes the interrupted cell started (not the relay, which
    /// carries their last output).
    fn end_cell_processes(&self, since_ticks: u64) {
        let started: Vec<procs::ProcessInfo> = procs::descendants(self.interrupter.runtime_pid())
            .into_iter()
            .filter(|p| p.start_ticks >= since_ticks && !crate::runtime::is_relay(&p.name))
            .collect();
        if !started.is_empty() {
            tracing::info!(
                count = started.len(),
                "ending processes started by the interrupted cell"
            );
            procs::kill_all(&started);
        }
    }

    /// After evcxr restarted the runtime: publish what it printed before dying and
    /// set the new runtime up.
    fn after_restart(&mut self, detail: &str) -> String {
        let mut kept = Vec::new();
        for line in detail.lines() {
            if let Some(text) = line.strip_prefix(markers::STDERR_LINE) {
                self.publisher.publish(Output::Stream {
                    stream: StreamKind::Stderr,
                    text: format!("{text}\n"),
                });
                kept.push(text.to_owned());
            } else if !line.starts_with(markers::PREFIX) && !line.starts_with("EVCXR_") {
                kept.push(line.to_owned());
            }
        }
        self.refresh_runtime_pid();
        if let Err(error) = self.setup(self.runtime_setup) {
            tracing::error!(%error, "could not set up the restarted runtime");
        }
        kept.join("\n")
    }

    fn outcome(
        &mut self,
        result: Result<evcxr::EvalOutputs, evcxr::Error>,
        code: &str,
        interrupted: bool,
        variables_before: Vec<String>,
    ) -> Result<Option<MimeBundle>, CellError> {
        let report = std::mem::take(&mut *pump::lock(&self.report));
        let interrupted_error = || CellError::Interrupted {
            runtime_restarted: false,
            lost_variables: Vec::new(),
        };
        match result {
            Ok(outputs) => {
                if report.panicked {
                    if interrupted {
                        return Err(interrupted_error());
                    }
                    return Err(CellError::Panic {
                        message: report
                            .panic_message
                            .unwrap_or_else(|| "the cell panicked".to_owned()),
                    });
                }
                if let Some(message) = report.panic_message {
                    // Caught by the cell itself; show it like std's default hook would.
                    self.publisher.publish(Output::Stream {
                        stream: StreamKind::Stderr,
                        text: format!("thread panicked: {message}\n"),
                    });
                }
                if report.user_error {
                    if interrupted {
                        return Err(interrupted_error());
                    }
                    let message = report.recent_stderr.join("\n");
                    return Err(CellError::UserError {
                        message: if message.is_empty() {
                            "the cell returned an error".to_owned()
                        } else {
                            message
                        },
                    });
                }
                let bundle: MimeBundle = outputs.content_by_mime_type.into_iter().collect();
                Ok((!bundle.is_empty() && !is_unit(&bundle)).then_some(bundle))
            }
            Err(evcxr::Error::SubprocessTerminated(detail)) => {
                let detail = self.after_restart(&detail);
                if interrupted {
                    Err(CellError::Interrupted {
                        runtime_restarted: true,
                        lost_variables: variables_before,
                    })
                } else {
                    Err(CellError::RuntimeCrashed {
                        detail,
                        lost_variables: variables_before,
                    })
                }
            }
            Err(evcxr::Error::CompilationErrors(errors)) => {
                Err(CellError::Compile(diagnostics::from_evcxr(&errors, code)))
            }
            Err(other) => Err(CellError::Engine(other.to_string())),
        }
    }
}

impl Engine for EvcxrEngine {
    fn execute(
        &mut self,
        code: &str,
        input: InputReader<'_>,
    ) -> Result<Option<MimeBundle>, CellError> {
        self.cells += 1;
        let variables_before = self.variable_names();
        let started = procs::now_ticks();
        *pump::lock(&self.report) = pump::CellReport::default();
        self.interrupter.begin(self.cells);
        let input = RefCell::new(input);
        // evcxr does not export its request type, so the closure's argument type
        // is inferred from the callback field.
        let mut callbacks = evcxr::EvalCallbacks {
            input_reader: &|request| {
                let prompt = request
                    .prompt
                    .replace("%0A", "\n")
                    .replace("%3A", ":")
                    .replace("%25", "%");
                let mut input = input.borrow_mut();
                (*input)(InputPrompt {
                    prompt,
                    password: request.is_password,
                })
                .unwrap_or_default()
                .replace('\n', " ")
            },
        };
        let result = self.context.execute_with_callbacks(code, &mut callbacks);
        self.fence();
        let interrupted = self.interrupter.end();
        if interrupted {
            self.end_cell_processes(started);
        }
        self.outcome(result, code, interrupted, variables_before)
    }

    fn complete(&mut self, code: &str, cursor: usize) -> Completions {
        match self.context.completions(code, cursor) {
            Ok(found) => {
                let mut matches: Vec<String> = found
                    .completions
                    .into_iter()
                    .map(|c| insertable(c.code))
                    .collect();
                matches.dedup();
                Completions {
                    matches,
                    start: found.start_offset,
                    end: found.end_offset,
                }
            }
            Err(error) => {
                tracing::debug!(%error, "no completions");
                Completions {
                    matches: Vec::new(),
                    start: cursor,
                    end: cursor,
                }
            }
        }
    }

    fn inspect(&mut self, code: &str, cursor: usize) -> Option<MimeBundle> {
        // Hover looks at the expression ending at the position: extend the cursor
        // to the end of the name it is in.
        let end = code[cursor..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(code.len(), |i| cursor + i);
        if end == 0 {
            return None;
        }
        let (text, html) = self.context.hover_at(code, end).ok()?;
        if text.trim().is_empty() || text == "No documentation found" {
            return None;
        }
        Some(MimeBundle::from([
            ("text/plain".to_owned(), text),
            ("text/html".to_owned(), html),
        ]))
    }

    fn reset(&mut self) -> Result<(), CellError> {
        self.setup(":clear").map_err(CellError::Engine)?;
        self.refresh_runtime_pid();
        self.apply_setup().map_err(CellError::Engine)
    }

    fn interrupter(&self) -> Arc<dyn Interrupt> {
        Arc::new(InterruptHandle(Arc::clone(&self.interrupter)))
    }

    fn shutdown(&mut self) {
        procs::end_tree(std::process::id() as i32);
    }
}

/// Whether a cell's value is `()` — what a trailing `for` loop or block
/// evaluates to. Like Python's `None`, it is not worth showing.
fn is_unit(bundle: &MimeBundle) -> bool {
    bundle.len() == 1 && bundle.get("text/plain").is_some_and(|text| text == "()")
}

/// What a completion inserts: rust-analyzer's snippets name a function's
/// parameters (`display_markdown(markdown)`), which would not compile once
/// inserted, so calls keep only the opening parenthesis (`display_markdown(`);
/// calls without parameters stay whole (`cpu_count()`).
fn insertable(code: String) -> String {
    match code.split_once('(') {
        Some((name, rest)) if code.ends_with(')') && rest != ")" => format!("{name}("),
        _ => code,
    }
}

#[cfg(test)]
mod tests {
    use super::insertable;

    #[test]
    fn completions_insert_code_that_compiles() {
        assert_eq!(
            insertable("display_markdown(markdown)".into()),
            "display_markdown("
        );
        assert_eq!(insertable("ne(&self, other)".into()), "ne(");
        assert_eq!(insertable("cpu_count()".into()), "cpu_count()");
        assert_eq!(insertable("HashMap".into()), "HashMap");
    }
}

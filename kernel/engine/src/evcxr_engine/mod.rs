//! Cells run by evcxr: compiled into shared objects and loaded into a runtime
//! child process that keeps the notebook's variables.

mod deps;
mod diagnostics;
mod display;
mod environment;
mod final_value;
mod interrupt;
mod library_path;
mod oom;
mod pump;
mod setup;
mod warm_up;

pub use environment::{PrepareError, Prepared, prepare_environment};

use crate::DebugSwitch as _;
use crate::debug_build::DebugBuilds;
use crate::memory::{self, MemoryLimit};
use crate::{
    CellError, CellId, Completions, Engine, InputPrompt, InputReader, Interrupt, MimeBundle,
    Output, Publisher, StreamKind, markers, procs, runtime_control,
};
use crossbeam_channel::Sender;
use display::DisplaySettings;
use interrupt::{InterruptHandle, Interrupter};
use oom::{Cause, with_sentence};
use pump::SharedReport;
use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Why the engine could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// No usable `cargo` or `rustc` (checked before evcxr starts, which would
    /// say only "No such file or directory").
    #[error(transparent)]
    Toolchain(#[from] crate::ToolchainError),
    /// evcxr could not create its context (with a toolchain found: a broken one, ...).
    #[error("evcxr could not start: {0}")]
    Evcxr(String),
    /// The prelude did not build or load.
    #[error("the ferrokernel prelude failed to load: {0}")]
    Prelude(SetupError),
    /// The prelude's source could not be unpacked.
    #[error("cannot unpack the prelude under {path}: {source}")]
    Unpack {
        /// Where.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// Why an evaluation of the engine's own (the set-up, the display trait, the
/// warm-up) failed: evcxr's error, with compile errors rendered in full.
#[derive(Debug, Error)]
#[error("{}", render_setup_error(.0))]
pub struct SetupError(evcxr::Error);

fn render_setup_error(error: &evcxr::Error) -> String {
    match error {
        evcxr::Error::CompilationErrors(errors) => errors
            .iter()
            .map(|e| e.rendered())
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

/// How to start an [`EvcxrEngine`].
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Load the prelude (`multiprocessing`, `threading`, `os`, `input`) into every cell.
    pub prelude: bool,
    /// How long a cell may ignore an interrupt before its runtime is killed.
    pub interrupt_grace: Duration,
}

/// How long a cell may ignore an interrupt, by default: long enough for code
/// that checks for interrupts now and then, short enough that a stuck cell
/// is not waited for.
const DEFAULT_INTERRUPT_GRACE: Duration = Duration::from_secs(2);

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            prelude: true,
            interrupt_grace: DEFAULT_INTERRUPT_GRACE,
        }
    }
}

/// The evcxr engine. Lives on one thread (evcxr's context is not `Send`).
pub struct EvcxrEngine {
    context: evcxr::CommandContext,
    publisher: Arc<dyn Publisher>,
    interrupter: Arc<Interrupter>,
    report: SharedReport,
    fences: Sender<Sender<()>>,
    /// The evaluation that makes a fresh context ours (see [`setup::context_setup`]).
    context_setup: String,
    /// evcxr's `:fmt` and `:types`, which decide the display trait in scope.
    display_settings: DisplaySettings,
    /// The directory and environment changes of the kernel that claimed this
    /// engine, sent again to every new runtime (see [`Engine::set_environment`]).
    claimed_environment: Option<Vec<u8>>,
    /// Holds the work directory's lock, and the pipe to the runtime.
    prepared: Prepared,
    cells: u64,
    /// The runtime's memory limit (`FERROKERNEL_MEMORY_LIMIT`), for messages.
    memory_limit: Option<MemoryLimit>,
    /// The system's count of OOM kills when the cell began.
    oom_kills_before: Option<u64>,
    /// The first command that made this engine unlike a fresh one (a `:dep`),
    /// so it is not handed to another kernel.
    changed_by: Option<String>,
    /// Debug builds as a debugger asked for them, and as last given to cargo.
    debug_builds: Arc<DebugBuilds>,
    debug_builds_applied: bool,
}

impl EvcxrEngine {
    /// Starts evcxr and loads the prelude from `prelude_dir` (see
    /// [`prepare_environment`]). Takes seconds; run it off the kernel's hot path.
    /// `progress` hears what it is doing.
    pub fn start(
        publisher: Arc<dyn Publisher>,
        prepared: Prepared,
        options: &EngineOptions,
        progress: &dyn Fn(&str),
    ) -> Result<EvcxrEngine, StartError> {
        progress("looking for the Rust toolchain");
        let toolchain = crate::Toolchain::probe()?;
        tracing::info!(cargo = %toolchain.cargo.path.display(), rustc = %toolchain.rustc.version, "toolchain");
        if toolchain.rust_src.is_none() {
            tracing::warn!(fix = %toolchain.rust_src_fix(), "rust-src is missing: no completions of std items");
        }
        progress("rust-analyzer loads the standard library");
        let (context, outputs) =
            evcxr::CommandContext::new().map_err(|e| StartError::Evcxr(e.to_string()))?;
        let report = SharedReport::default();
        let interrupter = Interrupter::new(options.interrupt_grace);
        let runtime_pid = {
            let interrupter = Arc::clone(&interrupter);
            Arc::new(move || interrupter.runtime_pid())
        };
        let debug_sources = prepared.workdir().join("debug-sources");
        let fences = pump::start(
            outputs.stdout,
            outputs.stderr,
            publisher.clone(),
            report.clone(),
        );
        let mut engine = EvcxrEngine {
            context,
            publisher,
            interrupter,
            report,
            fences,
            context_setup: setup::context_setup(
                &prepared.prelude,
                options.prelude,
                prepared.cell_builds.then_some(crate::cell_build::SETUP),
            ),
            display_settings: DisplaySettings::default(),
            claimed_environment: None,
            prepared,
            cells: 0,
            memory_limit: MemoryLimit::from_env(),
            oom_kills_before: None,
            changed_by: None,
            debug_builds: Arc::new(DebugBuilds::new(debug_sources, runtime_pid)),
            debug_builds_applied: false,
        };
        engine.refresh_runtime_pid();
        progress("loading the prelude");
        engine.apply_setup().map_err(StartError::Prelude)?;
        Ok(engine)
    }

    fn apply_setup(&mut self) -> Result<(), SetupError> {
        self.display_settings = DisplaySettings::default();
        self.setup(&self.context_setup.clone())
    }

    /// Runs set-up code; says why it failed.
    fn setup(&mut self, code: &str) -> Result<(), SetupError> {
        // Settled like a cell: its end must not be taken for the next cell's.
        pump::lock(&self.report).running = true;
        let result = self.context.execute(code);
        if result.is_ok() {
            self.wait_for_cell_end();
        } else {
            self.fence();
        }
        pump::lock(&self.report).running = false;
        result.map(drop).map_err(SetupError)
    }

    /// Ends the runtime and everything it started.
    fn end_runtime(&mut self) {
        let runtime = self.interrupter.runtime_pid();
        if runtime > 0 {
            procs::end_tree(runtime);
            procs::kill_group(runtime);
        }
        if let Ok(mut child) = self.context.process_handle().lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
        memory::remove_runtime_cgroup(runtime);
        // What the dying runtime printed is the last kernel's.
        self.fence();
    }

    /// Remembers a command that makes this engine unlike a fresh one.
    fn note_changes(&mut self, code: &str) {
        if self.changed_by.is_some() {
            return;
        }
        self.changed_by = crate::cell_commands::leading_lines(code)
            .find(|line| {
                matches!(
                    line.command(),
                    Some(crate::cell_commands::CellCommand::Dep(_))
                )
            })
            .map(|line| line.text.trim().to_owned());
    }

    /// Gives cargo the debug builds a debugger asked for since the last cell.
    fn apply_debug_builds(&mut self) {
        let wanted = self.debug_builds.wanted();
        if wanted == self.debug_builds_applied {
            return;
        }
        for command in self.debug_builds.build_env_commands(wanted) {
            if let Err(error) = self.context.execute(&command) {
                tracing::warn!(%error, %command, "cannot change debug builds");
                return;
            }
        }
        self.debug_builds_applied = wanted;
        tracing::info!(on = wanted, "debug builds");
    }

    /// Writes control records to the runtime (see [`runtime_control`]).
    fn send_to_runtime(&mut self, records: &[u8]) {
        if let Err(error) = self.prepared.control.write_all(records) {
            tracing::warn!(%error, "cannot reach the runtime's control pipe");
        }
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
        fence(&self.fences);
    }

    /// After evcxr saw a cell end: waits until the pump saw the relay's mark
    /// of that end too, which follows everything the cell printed (the two
    /// travel on different pipes; see [`crate::runtime`]).
    fn wait_for_cell_end(&self) {
        let deadline = std::time::Instant::now() + CELL_END_WAIT;
        loop {
            self.fence();
            if !pump::lock(&self.report).running || std::time::Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(CELL_END_POLL);
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
            // Strictly later: ticks are 10 ms, and a process the previous cell
            // started as it ended may share the tick this cell began in, while
            // this cell's own code runs only after it was compiled, ticks later.
            .filter(|p| p.start_ticks > since_ticks && !crate::runtime::is_relay(&p.name))
            .collect();
        if !started.is_empty() {
            // A warning: the kernel kills a notebook's processes here.
            tracing::warn!(
                pids = ?started.iter().map(|p| p.pid).collect::<Vec<_>>(),
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
                let cell = pump::lock(&self.report).cell;
                self.publisher.publish(
                    cell,
                    Output::Stream {
                        stream: StreamKind::Stderr,
                        text: format!("{text}\n"),
                    },
                );
                kept.push(text.to_owned());
            } else if !line.starts_with(markers::PREFIX) && !line.starts_with("EVCXR_") {
                kept.push(line.to_owned());
            }
        }
        self.refresh_runtime_pid();
        if let Some(records) = self.claimed_environment.clone() {
            self.send_to_runtime(&records);
        }
        if let Err(error) = self.setup(setup::RUNTIME_SETUP) {
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
        let report = {
            let mut shared = pump::lock(&self.report);
            let cell = shared.cell;
            let report = std::mem::take(&mut *shared);
            // Output from now on is the last cell's.
            shared.cell = cell;
            report
        };
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
                    self.publisher.publish(
                        report.cell,
                        Output::Stream {
                            stream: StreamKind::Stderr,
                            text: format!("thread panicked: {message}\n"),
                        },
                    );
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
                // evcxr's own content comes from its commands (`:vars`, ...);
                // the runtime's display blocks never reach it (see `pump`).
                let mut bundle: MimeBundle = outputs.content_by_mime_type.into_iter().collect();
                bundle.extend(report.value.unwrap_or_default());
                Ok((!bundle.is_empty() && !is_unit(&bundle)).then_some(bundle))
            }
            Err(evcxr::Error::SubprocessTerminated(evcxr_report)) => {
                let dead = self.interrupter.runtime_pid();
                let cause = self.cause_of_death(&evcxr_report, &report.recent_stderr, dead);
                let detail = self.after_restart(&evcxr_report);
                memory::remove_runtime_cgroup(dead);
                if interrupted {
                    return Err(CellError::Interrupted {
                        runtime_restarted: true,
                        lost_variables: variables_before,
                    });
                }
                match cause {
                    Cause::OutOfMemory(detail) => Err(CellError::OutOfMemory {
                        detail,
                        lost_variables: variables_before,
                    }),
                    Cause::Crash(sentence) => Err(CellError::RuntimeCrashed {
                        detail: with_sentence(&detail, &sentence),
                        lost_variables: variables_before,
                    }),
                }
            }
            Err(evcxr::Error::CompilationErrors(errors)) => {
                let diagnostics = diagnostics::from_evcxr(&errors, code);
                match diagnostics.iter().find_map(deps::explain) {
                    Some(refused) => Err(CellError::Dependency(refused)),
                    None => Err(CellError::Compile(diagnostics)),
                }
            }
            Err(other) => Err(CellError::Engine(other.to_string())),
        }
    }
}

impl Engine for EvcxrEngine {
    fn execute(
        &mut self,
        cell: CellId,
        code: &str,
        input: InputReader<'_>,
    ) -> Result<Option<MimeBundle>, CellError> {
        let normalised = deps::normalise(code);
        let code: &str = &normalised;
        deps::check(code).map_err(CellError::Dependency)?;
        self.note_changes(code);
        self.apply_debug_builds();
        self.cells += 1;
        self.oom_kills_before = memory::system_oom_kills();
        let variables_before = self.variable_names();
        let started = procs::now_ticks();
        *pump::lock(&self.report) = pump::CellReport {
            expects_value: final_value::ends_in_expression(code),
            running: true,
            cell: Some(cell),
            ..pump::CellReport::default()
        };
        self.interrupter.begin(self.cells);
        self.send_to_runtime(&runtime_control::encode_cell(cell.0));
        let input = RefCell::new(input);
        let fences = self.fences.clone();
        // evcxr does not export its request type, so the closure's argument type
        // is inferred from the callback field.
        let mut callbacks = evcxr::EvalCallbacks {
            input_reader: &|request| {
                let prompt =
                    ferrokernel_prelude::notebook::protocol::unescape_prompt(&request.prompt);
                // What the cell printed before it asked comes first.
                fence(&fences);
                let mut input = input.borrow_mut();
                (*input)(InputPrompt {
                    prompt,
                    password: request.is_password,
                })
                .unwrap_or_default()
                .replace('\n', " ")
            },
        };
        let prepared = self.prepared_cell(code);
        let evaluating = std::time::Instant::now();
        let result = self
            .context
            .execute_with_callbacks(&prepared, &mut callbacks);
        let evaluated = evaluating.elapsed();
        if result.is_ok() {
            self.wait_for_cell_end();
        } else {
            self.fence();
        }
        if let Ok(outputs) = &result {
            let phases: Vec<String> = outputs
                .phases
                .iter()
                .map(|phase| format!("{} {} ms", phase.name, phase.duration.as_millis()))
                .collect();
            tracing::debug!(
                evaluated_ms = evaluated.as_millis(),
                settled_ms = evaluating.elapsed().as_millis(),
                phases = phases.join(", "),
                "cell"
            );
        }
        let interrupted = self.interrupter.end();
        if interrupted {
            self.end_cell_processes(started);
        }
        let outcome = self.outcome(result, code, interrupted, variables_before);
        if outcome.is_ok() {
            self.after_commands(code);
        }
        outcome
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
        // A cell error travels to the kernel as text.
        let engine_error = |error: SetupError| CellError::Engine(error.to_string());
        self.setup(":clear").map_err(engine_error)?;
        self.refresh_runtime_pid();
        self.apply_setup().map_err(engine_error)
    }

    fn recycle(&mut self) -> Result<(), crate::RecycleRefused> {
        if let Some(command) = &self.changed_by {
            return Err(crate::RecycleRefused::Changed(command.clone()));
        }
        let failed = |error: SetupError| crate::RecycleRefused::Failed(error.to_string());
        self.end_runtime();
        // The next kernel starts without a debugger.
        self.debug_builds.set(false);
        self.apply_debug_builds();
        // What the last kernel set (`:opt`, `:fmt`, ...) goes with it; the
        // set-up below sets ours again.
        self.context.reset_config();
        self.claimed_environment = None;
        self.memory_limit = MemoryLimit::from_env();
        self.setup(":clear").map_err(failed)?;
        self.refresh_runtime_pid();
        self.apply_setup().map_err(failed)
    }

    fn interrupter(&self) -> Arc<dyn Interrupt> {
        Arc::new(InterruptHandle(Arc::clone(&self.interrupter)))
    }

    fn comm_inbox(&self) -> Option<Arc<dyn crate::CommInbox>> {
        Some(Arc::clone(&self.prepared.comms) as Arc<dyn crate::CommInbox>)
    }

    fn debug_switch(&self) -> Option<Arc<dyn crate::DebugSwitch>> {
        Some(Arc::clone(&self.debug_builds) as Arc<dyn crate::DebugSwitch>)
    }

    /// Ends the runtime and everything it started — and nothing else: under
    /// `ferrokernel run` the engine shares its process with the command.
    fn shutdown(&mut self) {
        self.end_runtime();
    }

    fn warm_up(&mut self) {
        self.warm_up_context();
    }

    fn set_environment(
        &mut self,
        cwd: &Path,
        changes: &[(String, Option<String>)],
    ) -> Result<(), CellError> {
        if let Some((_, value)) = changes
            .iter()
            .find(|(name, _)| name == memory::LIMIT_VARIABLE)
        {
            self.memory_limit = MemoryLimit::from_value(value.as_deref());
        }
        let records = runtime_control::encode(cwd, changes);
        self.send_to_runtime(&records);
        self.claimed_environment = Some(records);
        Ok(())
    }
}

/// How long a finished cell's output may lag behind evcxr's notice of its end.
const CELL_END_WAIT: Duration = Duration::from_secs(5);
/// How often the end of a cell is looked for: the relay's mark usually comes
/// within a millisecond, and every cell waits for it.
const CELL_END_POLL: Duration = Duration::from_millis(1);
/// How long a fence waits for the pump: it answers once it has published
/// what it had, which is quick unless the publisher is stuck.
const FENCE_WAIT: Duration = Duration::from_secs(5);

/// Waits until the pump has published everything received so far.
fn fence(fences: &Sender<Sender<()>>) {
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    if fences.send(done_tx).is_ok() {
        let _ = done_rx.recv_timeout(FENCE_WAIT);
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

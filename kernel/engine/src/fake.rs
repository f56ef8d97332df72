//! A scripted engine for testing the protocol layer without compiling Rust.
//!
//! Each line of a cell is one instruction:
//! `print:TEXT`, `eprint:TEXT`, `display:HTML`, `value:TEXT` (the cell's result),
//! `sleep:MS` (interruptible), `spin` (until interrupted), `input:PROMPT` (prints
//! the answer), `panic:MESSAGE`, `compile_error:MESSAGE`, `crash` (runtime restart),
//! `pid` (prints this process's id), `cwd` (prints the directory cells run in),
//! `env:NAME` (prints the variable as cells see it), `later:MS:TEXT` (a
//! thread the cell leaves behind prints TEXT after MS milliseconds, under the
//! cell), `comm_open:ID` (opens a widget-like comm `ID` whose state is
//! `{"value": 0}`), `comm_value:ID` (prints the value the frontend last set on
//! it; `update` and `request_state` messages are handled as a widget would),
//! `set:NAME=VALUE` (sets a variable that `env:NAME` prints, as a cell's
//! `std::env::set_var` would), `dep` (changes the engine as a `:dep` does,
//! so it cannot be recycled). Anything else is ignored.

use crate::{
    CellError, CellId, CommInbox, CommMessage, Completions, Engine, InputPrompt, InputReader,
    Interrupt, MimeBundle, Output, Publisher, StreamKind,
};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often a waiting scripted cell looks for an interrupt: quick enough
/// for the tests' interrupts to seem immediate.
const INTERRUPT_POLL: Duration = Duration::from_millis(5);

/// The scripted engine.
pub struct FakeEngine {
    publisher: Arc<dyn Publisher>,
    interrupted: Arc<FakeInterrupt>,
    /// Every cell executed so far, for assertions.
    pub executed: Vec<String>,
    /// Environment changes cells see (from [`Engine::set_environment`]).
    environment: std::collections::HashMap<String, Option<String>>,
    cwd: Option<std::path::PathBuf>,
    /// The cell running, whose output this is.
    cell: Option<CellId>,
    comms: Arc<FakeComms>,
    /// Whether a `dep` line ran.
    changed: bool,
}

/// The fake's widgets: a `value` per comm id.
struct FakeComms {
    publisher: Arc<dyn Publisher>,
    values: Mutex<HashMap<String, Value>>,
}

impl FakeComms {
    fn values(&self) -> std::sync::MutexGuard<'_, HashMap<String, Value>> {
        self.values.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl CommInbox for FakeComms {
    fn deliver(&self, message: &CommMessage) {
        let CommMessage::Msg { comm_id, data } = message else {
            return;
        };
        let mut values = self.values();
        let Some(value) = values.get_mut(comm_id) else {
            return;
        };
        match data.get("method").and_then(Value::as_str) {
            Some("update") => {
                if let Some(new) = data.get("state").and_then(|s| s.get("value")) {
                    *value = new.clone();
                }
            }
            Some("request_state") => {
                let state = json!({"method": "update", "state": {"value": value}});
                self.publisher.publish(
                    None,
                    Output::Comm(CommMessage::Msg {
                        comm_id: comm_id.clone(),
                        data: state.as_object().cloned().unwrap_or_default(),
                    }),
                );
            }
            _ => {}
        }
    }
}

#[derive(Default)]
struct FakeInterrupt {
    requested: AtomicBool,
}

impl Interrupt for FakeInterrupt {
    fn interrupt(&self) {
        self.requested.store(true, Ordering::SeqCst);
    }
}

impl FakeEngine {
    /// A fake engine publishing to `publisher`.
    pub fn new(publisher: Arc<dyn Publisher>) -> FakeEngine {
        let comms = Arc::new(FakeComms {
            publisher: Arc::clone(&publisher),
            values: Mutex::default(),
        });
        FakeEngine {
            publisher,
            comms,
            interrupted: Arc::default(),
            executed: Vec::new(),
            environment: Default::default(),
            cwd: None,
            cell: None,
            changed: false,
        }
    }

    fn stream(&self, stream: StreamKind, text: &str) {
        self.publisher.publish(
            self.cell,
            Output::Stream {
                stream,
                text: format!("{text}\n"),
            },
        );
    }

    fn wait(&self, deadline: Option<Instant>) -> Result<(), CellError> {
        loop {
            if self.interrupted.requested.swap(false, Ordering::SeqCst) {
                return Err(CellError::Interrupted {
                    runtime_restarted: false,
                    lost_variables: Vec::new(),
                });
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(());
            }
            std::thread::sleep(INTERRUPT_POLL);
        }
    }
}

impl Engine for FakeEngine {
    fn execute(
        &mut self,
        cell: CellId,
        code: &str,
        input: InputReader<'_>,
    ) -> Result<Option<MimeBundle>, CellError> {
        self.cell = Some(cell);
        self.executed.push(code.to_owned());
        self.interrupted.requested.store(false, Ordering::SeqCst);
        let mut value = None;
        for line in code.lines() {
            let (op, arg) = line.split_once(':').unwrap_or((line, ""));
            match op {
                "print" => self.stream(StreamKind::Stdout, arg),
                "eprint" => self.stream(StreamKind::Stderr, arg),
                "display" => self.publisher.publish(
                    self.cell,
                    Output::Display {
                        bundle: MimeBundle::from([
                            ("text/plain".to_owned(), arg.to_owned()),
                            ("text/html".to_owned(), arg.to_owned()),
                        ]),
                        id: None,
                    },
                ),
                "value" => {
                    value = Some(MimeBundle::from([(
                        "text/plain".to_owned(),
                        arg.to_owned(),
                    )]))
                }
                "sleep" => {
                    let ms = arg.parse().unwrap_or(0);
                    self.wait(Some(Instant::now() + Duration::from_millis(ms)))?;
                }
                "spin" => self.wait(None)?,
                "input" => {
                    let answer = input(InputPrompt {
                        prompt: arg.to_owned(),
                        password: false,
                    });
                    self.stream(
                        StreamKind::Stdout,
                        &format!("got {}", answer.unwrap_or_default()),
                    );
                }
                "panic" => {
                    return Err(CellError::Panic {
                        message: arg.to_owned(),
                    });
                }
                "compile_error" => {
                    return Err(CellError::Compile(vec![crate::Diagnostic {
                        message: arg.to_owned(),
                        code: None,
                        lines: Vec::new(),
                        notes: Vec::new(),
                    }]));
                }
                "later" => {
                    let (ms, text) = arg.split_once(':').unwrap_or((arg, ""));
                    let delay = Duration::from_millis(ms.parse().unwrap_or(0));
                    let (publisher, text) = (Arc::clone(&self.publisher), format!("{text}\n"));
                    std::thread::spawn(move || {
                        std::thread::sleep(delay);
                        let stream = StreamKind::Stdout;
                        publisher.publish(Some(cell), Output::Stream { stream, text });
                    });
                }
                "comm_open" => {
                    self.comms.values().insert(arg.to_owned(), json!(0));
                    let state = json!({"state": {"value": 0}, "buffer_paths": []});
                    let metadata = json!({"version": "2.1.0"});
                    let open = CommMessage::Open {
                        comm_id: arg.to_owned(),
                        target_name: "jupyter.widget".to_owned(),
                        data: state.as_object().cloned().unwrap_or_default(),
                        metadata: metadata.as_object().cloned().unwrap_or_else(Map::new),
                    };
                    self.publisher.publish(self.cell, Output::Comm(open));
                }
                "comm_value" => {
                    let value = self.comms.values().get(arg).cloned();
                    let value = value.map_or_else(|| "no such comm".to_owned(), |v| v.to_string());
                    self.stream(StreamKind::Stdout, &format!("{arg}={value}"));
                }
                "pid" => self.stream(StreamKind::Stdout, &format!("pid {}", std::process::id())),
                "cwd" => {
                    let cwd = self.cwd.clone().or_else(|| std::env::current_dir().ok());
                    let cwd = cwd.map(|d| d.display().to_string()).unwrap_or_default();
                    self.stream(StreamKind::Stdout, &cwd);
                }
                "env" => {
                    let value = match self.environment.get(arg) {
                        Some(value) => value.clone(),
                        None => std::env::var(arg).ok(),
                    };
                    self.stream(
                        StreamKind::Stdout,
                        &format!("{arg}={}", value.unwrap_or_default()),
                    );
                }
                "set" => {
                    let (name, value) = arg.split_once('=').unwrap_or((arg, ""));
                    self.environment
                        .insert(name.to_owned(), Some(value.to_owned()));
                }
                "dep" => self.changed = true,
                "crash" => {
                    return Err(CellError::RuntimeCrashed {
                        detail: "Subprocess terminated with status: signal: 6 (SIGABRT)".into(),
                        lost_variables: Vec::new(),
                    });
                }
                _ => {}
            }
        }
        Ok(value)
    }

    fn complete(&mut self, code: &str, cursor: usize) -> Completions {
        let start = code[..cursor]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let prefix = &code[start..cursor];
        Completions {
            matches: ["print", "println", "panic"]
                .iter()
                .filter(|m| m.starts_with(prefix))
                .map(|m| m.to_string())
                .collect(),
            start,
            end: cursor,
        }
    }

    fn inspect(&mut self, code: &str, _cursor: usize) -> Option<MimeBundle> {
        code.contains("print")
            .then(|| MimeBundle::from([("text/plain".to_owned(), "prints things".to_owned())]))
    }

    fn reset(&mut self) -> Result<(), CellError> {
        self.executed.clear();
        Ok(())
    }

    fn recycle(&mut self) -> Result<(), crate::RecycleRefused> {
        if self.changed {
            return Err(crate::RecycleRefused::Changed("dep".to_owned()));
        }
        self.executed.clear();
        self.environment.clear();
        self.cwd = None;
        self.cell = None;
        self.comms.values().clear();
        Ok(())
    }

    fn interrupter(&self) -> Arc<dyn Interrupt> {
        self.interrupted.clone()
    }

    fn comm_inbox(&self) -> Option<Arc<dyn CommInbox>> {
        Some(Arc::clone(&self.comms) as Arc<dyn CommInbox>)
    }

    fn shutdown(&mut self) {}

    fn set_environment(
        &mut self,
        cwd: &std::path::Path,
        changes: &[(String, Option<String>)],
    ) -> Result<(), CellError> {
        self.cwd = Some(cwd.to_owned());
        self.environment.extend(changes.iter().cloned());
        Ok(())
    }
}

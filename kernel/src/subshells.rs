//! Kernel subshells (JEP 91, messaging protocol 5.5): shell requests whose
//! header names a subshell are handled by that subshell's own
//! [`ShellWorker`], in order, concurrently with the main shell.
//!
//! There is one engine, and it compiles one cell at a time: a subshell's
//! `execute_request` joins the one cell queue and runs when the engine is
//! free (what a frontend sends on a subshell is nearly always a comm message
//! or a completion, answered at once). Nothing waits on anything else, so
//! nothing can deadlock, and two cells never compile at once.

use crate::dispatcher::{Channel, Outbox, Shared, ShellWorker};
use ferrokernel_protocol::{Content, ErrorInfo, ExecutionState, Message};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::mpsc::{self, UnboundedSender};

/// The main shell and the subshells, by id.
pub struct Shells {
    outbox: Outbox,
    shared: Arc<Shared>,
    cells: UnboundedSender<Message>,
    main: UnboundedSender<Message>,
    subshells: Mutex<BTreeMap<String, UnboundedSender<Message>>>,
}

impl Shells {
    /// Starts the main shell's worker; returns the shells and the queue the
    /// shell socket feeds (each request goes on to its shell).
    pub fn start(
        outbox: Outbox,
        shared: Arc<Shared>,
        cells: UnboundedSender<Message>,
    ) -> (Arc<Shells>, UnboundedSender<Message>) {
        let main = spawn_worker(&outbox, &shared, &cells);
        let shells = Arc::new(Shells {
            outbox,
            shared,
            cells,
            main,
            subshells: Mutex::default(),
        });
        let (incoming, mut requests) = mpsc::unbounded_channel::<Message>();
        let router = Arc::clone(&shells);
        tokio::spawn(async move {
            while let Some(request) = requests.recv().await {
                router.route(request);
            }
        });
        (shells, incoming)
    }

    fn subshells(&self) -> MutexGuard<'_, BTreeMap<String, UnboundedSender<Message>>> {
        self.subshells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands `request` to the shell its header names.
    fn route(&self, request: Message) {
        let Some(id) = request.header.subshell_id.clone() else {
            let _ = self.main.send(request);
            return;
        };
        let worker = self.subshells().get(&id).cloned();
        match worker {
            Some(worker) => {
                let _ = worker.send(request);
            }
            None => self.no_such_subshell(&request, &id),
        }
    }

    /// A new subshell, ready for requests; its id.
    pub fn create(&self) -> String {
        let id = ferrokernel_protocol::new_id();
        let worker = spawn_worker(&self.outbox, &self.shared, &self.cells);
        self.subshells().insert(id.clone(), worker);
        id
    }

    /// Ends a subshell after the requests it has; whether it existed.
    pub fn delete(&self, id: &str) -> bool {
        // Its worker ends when its queue closes.
        self.subshells().remove(id).is_some()
    }

    /// The subshells' ids.
    pub fn list(&self) -> Vec<String> {
        self.subshells().keys().cloned().collect()
    }

    /// An unknown subshell id: busy, an error reply, idle (as ipykernel does).
    fn no_such_subshell(&self, request: &Message, id: &str) {
        tracing::warn!(subshell = %id, msg_type = %request.header.msg_type, "no such subshell");
        self.outbox.status(request, ExecutionState::Busy);
        let error = ErrorInfo {
            ename: "SubshellNotFound".to_owned(),
            evalue: format!("no subshell with id {id}"),
            traceback: Vec::new(),
        };
        if let Some(reply) = Content::error_reply(&request.header.msg_type, error) {
            self.outbox.reply(Channel::Shell, request, reply);
        }
        self.outbox.status(request, ExecutionState::Idle);
    }
}

fn spawn_worker(
    outbox: &Outbox,
    shared: &Arc<Shared>,
    cells: &UnboundedSender<Message>,
) -> UnboundedSender<Message> {
    let (queue, requests) = mpsc::unbounded_channel();
    let worker = ShellWorker::new(outbox.clone(), Arc::clone(shared), cells.clone());
    tokio::spawn(worker.run(requests));
    queue
}

//! The kernel's side of an engine host: an [`Engine`] whose cells run in
//! another process.
//!
//! If the host dies (killed, out of memory), the cell that was running ends
//! with an error that says so, and the next request starts with a fresh engine
//! from the same [`EngineSource`].

use crate::client::{EngineSource, HostConnection};
use crate::messages::{HostEvent, HostRequest};
use crate::wire;
use ferrokernel_engine::{
    CellError, Completions, Engine, InputReader, Interrupt, MimeBundle, Publisher,
};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, PoisonError};

/// An engine in an engine host.
pub struct RemoteEngine {
    connection: Option<HostConnection>,
    writer: Arc<SharedWriter>,
    publisher: Arc<dyn Publisher>,
    source: EngineSource,
}

/// The socket requests go out on, shared with the interrupter (which may send
/// while a cell runs); replaced when the engine is.
#[derive(Default)]
struct SharedWriter(Mutex<Option<UnixStream>>);

impl SharedWriter {
    fn send(&self, request: &HostRequest) -> Result<(), wire::WireError> {
        let guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match guard.as_ref() {
            Some(stream) => wire::send(stream, request),
            None => Err(wire::WireError::Truncated),
        }
    }

    fn replace(&self, stream: Option<UnixStream>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = stream;
    }
}

struct RemoteInterrupt(Arc<SharedWriter>);

impl Interrupt for RemoteInterrupt {
    fn interrupt(&self) {
        if let Err(error) = self.0.send(&HostRequest::Interrupt) {
            tracing::warn!(%error, "could not send the interrupt to the engine");
        }
    }
}

/// Why a request got no answer: the host went away.
fn host_died(connection: &mut HostConnection) -> CellError {
    let detail = connection.exit_description();
    CellError::RuntimeCrashed {
        detail: format!("the Rust engine process (pid {}) {detail}", connection.pid),
        lost_variables: Vec::new(),
    }
}

impl RemoteEngine {
    /// An engine on a claimed, ready host.
    pub fn new(
        connection: HostConnection,
        publisher: Arc<dyn Publisher>,
        source: EngineSource,
    ) -> RemoteEngine {
        let writer = Arc::new(SharedWriter::default());
        writer.replace(connection.socket.try_clone().ok());
        RemoteEngine {
            connection: Some(connection),
            writer,
            publisher,
            source,
        }
    }

    /// The host's process id, if one is connected.
    pub fn host_pid(&self) -> Option<i32> {
        self.connection.as_ref().map(|c| c.pid)
    }

    /// The connection, starting a new engine first if the last one died.
    fn connection(&mut self) -> Result<&mut HostConnection, CellError> {
        if self.connection.is_none() {
            let connection = self
                .source
                .obtain(self.publisher.as_ref(), &|| true)
                .map_err(CellError::Unavailable)?;
            self.writer.replace(connection.socket.try_clone().ok());
            self.connection = Some(connection);
        }
        self.connection
            .as_mut()
            .ok_or_else(|| CellError::Unavailable("no engine".to_owned()))
    }

    /// Sends `request`, then handles events until `answer` takes one.
    fn request<T>(
        &mut self,
        request: HostRequest,
        mut input: Option<InputReader<'_>>,
        mut answer: impl FnMut(HostEvent) -> Option<T>,
    ) -> Result<T, CellError> {
        let publisher = Arc::clone(&self.publisher);
        let writer = Arc::clone(&self.writer);
        let Some(connection) = self.connection.as_mut() else {
            return Err(CellError::Unavailable(
                "the Rust engine is restarting".to_owned(),
            ));
        };
        let outcome = match writer.send(&request) {
            Ok(()) => loop {
                match wire::recv::<HostEvent>(&connection.socket) {
                    Ok(Some(HostEvent::Output(output))) => publisher.publish(output),
                    Ok(Some(HostEvent::InputRequest(prompt))) => {
                        let reply = input.as_mut().and_then(|read| read(prompt));
                        if writer.send(&HostRequest::InputReply(reply)).is_err() {
                            break Err(host_died(connection));
                        }
                    }
                    Ok(Some(event)) => {
                        if let Some(value) = answer(event) {
                            break Ok(value);
                        }
                    }
                    Ok(None) | Err(_) => break Err(host_died(connection)),
                }
            },
            Err(_) => Err(host_died(connection)),
        };
        if outcome.is_err() {
            tracing::warn!("the engine host died; the next request starts a new one");
            self.connection = None;
            self.writer.replace(None);
        }
        outcome
    }
}

impl Engine for RemoteEngine {
    fn execute(
        &mut self,
        code: &str,
        input: InputReader<'_>,
    ) -> Result<Option<MimeBundle>, CellError> {
        // A dead host is replaced before the cell is sent.
        self.connection()?;
        let request = HostRequest::Execute {
            code: code.to_owned(),
        };
        self.request(request, Some(input), |event| match event {
            HostEvent::Executed(result) => Some(result),
            _ => None,
        })?
    }

    fn complete(&mut self, code: &str, cursor: usize) -> Completions {
        let request = HostRequest::Complete {
            code: code.to_owned(),
            cursor,
        };
        self.request(request, None, |event| match event {
            HostEvent::Completed(found) => Some(found),
            _ => None,
        })
        .unwrap_or(Completions {
            matches: Vec::new(),
            start: cursor,
            end: cursor,
        })
    }

    fn inspect(&mut self, code: &str, cursor: usize) -> Option<MimeBundle> {
        let request = HostRequest::Inspect {
            code: code.to_owned(),
            cursor,
        };
        self.request(request, None, |event| match event {
            HostEvent::Inspected(found) => Some(found),
            _ => None,
        })
        .ok()
        .flatten()
    }

    fn reset(&mut self) -> Result<(), CellError> {
        self.connection()?;
        self.request(HostRequest::Reset, None, |event| match event {
            HostEvent::ResetDone(result) => Some(result),
            _ => None,
        })?
    }

    fn interrupter(&self) -> Arc<dyn Interrupt> {
        Arc::new(RemoteInterrupt(Arc::clone(&self.writer)))
    }

    fn shutdown(&mut self) {
        if let Some(mut connection) = self.connection.take() {
            let _ = self.writer.send(&HostRequest::Shutdown);
            self.writer.replace(None);
            connection.wait_for_exit(std::time::Duration::from_secs(5));
        }
    }
}

//! The engine host: the process that owns one engine and serves one kernel.
//!
//! It starts the engine at once, warms it up unless a kernel is already
//! waiting, says `Ready`, and then serves requests in order. A reader thread
//! takes requests off the socket, so an `Interrupt` reaches the engine while a
//! cell runs. When the socket ends — the kernel shut down or died, or the pool
//! ended before anyone claimed the host — the host ends everything it started
//! and exits.

use crate::messages::{EngineEnv, HostEvent, HostRequest};
use crate::spawn::{READY, SOCKET_FD, STATUS_FD};
use crate::wire;
use ferrokernel_engine::{Engine, InputPrompt, Interrupt, Output, Publisher};
use std::io::Write;
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// How long the engine must be idle before a skipped warm-up is done.
const IDLE_BEFORE_WARM_UP: std::time::Duration = std::time::Duration::from_millis(500);

/// Starts the engine: given where its output goes and a way to report what it
/// is doing, returns the engine or why it could not start.
pub type StartEngine =
    Box<dyn FnOnce(Arc<dyn Publisher>, &dyn Fn(&str)) -> Result<Box<dyn Engine>, String>>;

/// Serves the kernel on fd 3 (see `spawn`) with the engine `start` makes; never returns.
/// `pooled`: started by the pool, so it stops dying with the pool once claimed.
pub fn serve_inherited(start: StartEngine, pooled: bool) -> ! {
    // SAFETY: the spawner put our socket at SOCKET_FD and the status pipe at
    // STATUS_FD (see `spawn_host`); nothing else in this process owns them.
    let (socket, status) = unsafe {
        (
            UnixStream::from_raw_fd(SOCKET_FD),
            std::fs::File::from_raw_fd(STATUS_FD),
        )
    };
    serve(socket, Some(status), start, pooled)
}

/// Output goes to the kernel once it has claimed the host; what the warm-up
/// prints is nobody's.
struct HostPublisher {
    writer: Arc<Mutex<UnixStream>>,
    claimed: AtomicBool,
}

impl Publisher for HostPublisher {
    fn publish(&self, output: Output) {
        if self.claimed.load(Ordering::SeqCst) {
            send(&self.writer, &HostEvent::Output(output));
        }
    }
}

fn send(writer: &Mutex<UnixStream>, event: &HostEvent) {
    let stream = writer.lock().unwrap_or_else(PoisonError::into_inner);
    if let Err(error) = wire::send(&stream, event) {
        tracing::debug!(%error, "could not send to the kernel");
    }
}

/// Serves one kernel on `socket`; never returns.
pub fn serve(
    socket: UnixStream,
    mut status: Option<std::fs::File>,
    start: StartEngine,
    pooled: bool,
) -> ! {
    let writer = match socket.try_clone() {
        Ok(clone) => Arc::new(Mutex::new(clone)),
        Err(error) => {
            tracing::error!(%error, "cannot use the kernel's socket");
            std::process::exit(1);
        }
    };
    let interrupter: Arc<OnceLock<Arc<dyn Interrupt>>> = Arc::default();
    let (requests_tx, requests) = std::sync::mpsc::channel();
    let (inputs_tx, inputs) = std::sync::mpsc::channel();
    {
        let interrupter = Arc::clone(&interrupter);
        let spawned = std::thread::Builder::new()
            .name("host-reader".into())
            .spawn(move || read_requests(&socket, &interrupter, &requests_tx, &inputs_tx));
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the request reader");
            std::process::exit(1);
        }
    }
    let publisher = Arc::new(HostPublisher {
        writer: Arc::clone(&writer),
        claimed: AtomicBool::new(false),
    });
    let progress = |phase: &str| send(&writer, &HostEvent::Progress(phase.to_owned()));
    let mut engine = match start(publisher.clone(), &progress) {
        Ok(engine) => engine,
        Err(reason) => {
            send(&writer, &HostEvent::StartFailed(reason));
            std::process::exit(1);
        }
    };
    let _ = interrupter.set(engine.interrupter());
    // A kernel already waiting gets the engine now; the warm-up is for the next one.
    let mut pending = match requests.try_recv() {
        Ok(request) => Some(request),
        Err(TryRecvError::Empty) => {
            progress("warming up");
            engine.warm_up();
            None
        }
        Err(TryRecvError::Disconnected) => end(engine.as_mut()),
    };
    send(&writer, &HostEvent::Ready);
    if let Some(status) = status.as_mut() {
        let _ = status.write_all(&[READY]);
    }
    let mut warmed = pending.is_none();
    loop {
        let request = match pending.take() {
            Some(request) => request,
            None if !warmed => match requests.recv_timeout(IDLE_BEFORE_WARM_UP) {
                Ok(request) => request,
                Err(RecvTimeoutError::Timeout) => {
                    // A kernel that could not wait for the warm-up gets it
                    // while its user reads the first result.
                    engine.warm_up();
                    warmed = true;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => end(engine.as_mut()),
            },
            None => match requests.recv() {
                Ok(request) => request,
                Err(_) => end(engine.as_mut()),
            },
        };
        match request {
            HostRequest::Claim { env } => {
                if pooled {
                    // From now on the kernel's socket alone decides how long we live.
                    // SAFETY: prctl with PR_SET_PDEATHSIG takes an integer, no pointers.
                    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0) };
                }
                publisher.claimed.store(true, Ordering::SeqCst);
                take_on(engine.as_mut(), &env);
            }
            HostRequest::Execute { code } => {
                let mut read_line = |prompt: InputPrompt| ask(&writer, &inputs, prompt);
                let result = engine.execute(&code, &mut read_line);
                send(&writer, &HostEvent::Executed(result));
            }
            HostRequest::Complete { code, cursor } => {
                let found = engine.complete(&code, cursor);
                send(&writer, &HostEvent::Completed(found));
            }
            HostRequest::Inspect { code, cursor } => {
                let found = engine.inspect(&code, cursor);
                send(&writer, &HostEvent::Inspected(found));
            }
            HostRequest::Reset => {
                let result = engine.reset();
                send(&writer, &HostEvent::ResetDone(result));
            }
            HostRequest::Shutdown => end(engine.as_mut()),
            // Handled by the reader thread.
            HostRequest::Interrupt | HostRequest::InputReply(_) => {}
        }
    }
}

/// Takes on the claiming kernel's working directory and environment.
fn take_on(engine: &mut dyn Engine, wanted: &EngineEnv) {
    let changes = EngineEnv::current().changes_to(wanted);
    if let Err(error) = std::env::set_current_dir(&wanted.cwd) {
        tracing::warn!(cwd = %wanted.cwd.display(), %error, "cannot enter the kernel's directory");
    }
    if let Err(error) = engine.set_environment(&wanted.cwd, &changes) {
        tracing::warn!(%error, "cannot give the runtime the kernel's environment");
    }
}

fn ask(
    writer: &Mutex<UnixStream>,
    inputs: &Receiver<Option<String>>,
    prompt: InputPrompt,
) -> Option<String> {
    // An answer left over from an earlier, interrupted request is stale.
    while inputs.try_recv().is_ok() {}
    send(writer, &HostEvent::InputRequest(prompt));
    inputs.recv().ok().flatten()
}

fn read_requests(
    socket: &UnixStream,
    interrupter: &OnceLock<Arc<dyn Interrupt>>,
    requests: &Sender<HostRequest>,
    inputs: &Sender<Option<String>>,
) {
    loop {
        match wire::recv::<HostRequest>(socket) {
            Ok(Some(HostRequest::Interrupt)) => {
                if let Some(interrupter) = interrupter.get() {
                    interrupter.interrupt();
                }
            }
            Ok(Some(HostRequest::InputReply(answer))) => {
                let _ = inputs.send(answer);
            }
            Ok(Some(request)) => {
                if requests.send(request).is_err() {
                    return;
                }
            }
            Ok(None) => break,
            Err(error) => {
                tracing::warn!(%error, "bad message from the kernel");
                break;
            }
        }
    }
    // The kernel is gone (or the pool, before anyone claimed us): the cell may
    // be running, so end what it started from here, then leave.
    tracing::info!("the kernel's socket closed; ending the engine");
    ferrokernel_engine::procs::end_tree(std::process::id() as i32);
    std::process::exit(0);
}

/// Ends every process the engine started, and the host.
fn end(engine: &mut dyn Engine) -> ! {
    engine.shutdown();
    ferrokernel_engine::procs::end_tree(std::process::id() as i32);
    std::process::exit(0);
}

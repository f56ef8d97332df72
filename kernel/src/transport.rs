//! The five zeromq sockets of a Jupyter kernel, and the tasks that serve them.

use crate::comms::CommTable;
use crate::dispatcher::{Channel, Control, Executor, Outbox, Reply, Shared, Shutdown};
use crate::engine_client::EngineClient;
use crate::iopub::{IopubAssembler, IopubEvent, IopubPublisher, STREAM_FLUSH_INTERVAL};
use crate::output_limit::{Limit, OutputLimiter};
use crate::quick_complete::QuickCompleter;
use crate::subshells::Shells;
use bytes::Bytes;
use ferrokernel_engine::conversation::{EngineEnv, EngineSource};
use ferrokernel_protocol::{ConnectionInfo, Message, Signer, Status};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::mpsc::{self, UnboundedReceiver};
use zeromq::{
    PubSocket, RepSocket, RouterSocket, Socket, SocketRecv, SocketSend, ZmqError, ZmqMessage,
};

/// Why the kernel could not serve.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A socket could not be bound to the address in the connection file.
    #[error("cannot bind {endpoint}: {source}")]
    Bind {
        /// The endpoint.
        endpoint: String,
        /// The zeromq error.
        source: ZmqError,
    },
}

async fn bind<S: Socket>(mut socket: S, endpoint: String) -> Result<S, TransportError> {
    match socket.bind(&endpoint).await {
        Ok(_) => Ok(socket),
        Err(source) => Err(TransportError::Bind { endpoint, source }),
    }
}

fn frames_of(message: ZmqMessage) -> Vec<Bytes> {
    message.into_vec()
}

fn zmq_message(frames: Vec<Vec<u8>>) -> Option<ZmqMessage> {
    ZmqMessage::try_from(frames.into_iter().map(Bytes::from).collect::<Vec<_>>()).ok()
}

/// Decodes a received message; bad ones are logged and dropped, never executed.
fn decode(socket: &str, message: ZmqMessage, signer: &Signer) -> Option<Message> {
    match Message::from_frames(&frames_of(message), signer) {
        Ok(message) => Some(message),
        Err(error) => {
            tracing::warn!(%socket, %error, "dropped an invalid message");
            None
        }
    }
}

/// How long the engine may take to end its processes when the kernel shuts down.
const ENGINE_SHUTDOWN_LIMIT: Duration = Duration::from_secs(3);
/// How long the shutdown reply and the final status get to leave before the
/// process exits. A wait, not a drain: both also go out on iopub, and
/// zeromq's PUB socket hands messages to a background fan-out task that has
/// no flush to wait for.
const FINAL_MESSAGES_GRACE: Duration = Duration::from_millis(100);
/// The pause after a failed heartbeat receive, so a broken socket does not
/// spin the kernel's only thread.
const HEARTBEAT_RETRY_PAUSE: Duration = Duration::from_millis(10);

/// Serves the kernel described by `connection`, with engines from `source`
/// given `env`, until a shutdown request, SIGTERM, or the death of the
/// process that started it. Returns after ending every process the kernel started.
pub async fn serve(
    connection: &ConnectionInfo,
    source: Box<dyn EngineSource>,
    env: EngineEnv,
) -> Result<Shutdown, TransportError> {
    let signer = Signer::new(connection.key.as_bytes());
    let session = uuid_like();

    let shell = bind(
        RouterSocket::new(),
        connection.endpoint(connection.shell_port),
    )
    .await?;
    let control = bind(
        RouterSocket::new(),
        connection.endpoint(connection.control_port),
    )
    .await?;
    let stdin = bind(
        RouterSocket::new(),
        connection.endpoint(connection.stdin_port),
    )
    .await?;
    let iopub = bind(PubSocket::new(), connection.endpoint(connection.iopub_port)).await?;
    let heartbeat = bind(RepSocket::new(), connection.endpoint(connection.hb_port)).await?;
    tracing::info!(shell = connection.shell_port, "kernel listening");

    let (replies_tx, replies_rx) = mpsc::unbounded_channel::<Reply>();
    let (iopub_tx, iopub_rx) = mpsc::unbounded_channel::<IopubEvent>();
    let (cells_tx, cells_rx) = mpsc::unbounded_channel::<Message>();

    // Engine output passes the kernel's output limit (`FERROKERNEL_OUTPUT_LIMIT`).
    let limiter = OutputLimiter::new(
        Arc::new(IopubPublisher(iopub_tx.clone())),
        Limit::from_env(),
    );
    let engine = EngineClient::start(source, env, limiter.clone());
    let quick = QuickCompleter::new(ferrokernel_engine::prelude_sources());
    let comms = CommTable::default();
    let shared = Shared::new(engine, limiter, quick, comms.clone());
    let outbox = Outbox::new(&session, replies_tx, iopub_tx);
    shared.watch_engine(outbox.clone());
    outbox.publish_orphan(Status::starting());

    let (shell_send, mut shell_recv) = shell.split();
    let (control_send, mut control_recv) = control.split();
    let (stdin_send, mut stdin_recv) = stdin.split();

    tokio::spawn(heartbeat_loop(heartbeat));
    tokio::spawn(iopub_loop(
        iopub,
        iopub_rx,
        IopubAssembler::new(&session, comms),
        signer.clone(),
    ));
    tokio::spawn(send_replies(
        replies_rx,
        signer.clone(),
        shell_send,
        control_send,
        stdin_send,
    ));
    let (shells, shell_queue_tx) = Shells::start(outbox.clone(), Arc::clone(&shared), cells_tx);
    tokio::spawn(Executor::new(outbox.clone(), Arc::clone(&shared)).run(cells_rx));

    let shell_signer = signer.clone();
    tokio::spawn(async move {
        loop {
            match shell_recv.recv().await {
                Ok(message) => {
                    if let Some(message) = decode("shell", message, &shell_signer) {
                        let _ = shell_queue_tx.send(message);
                    }
                }
                Err(error) => tracing::warn!(%error, "shell receive failed"),
            }
        }
    });

    let control_handler = Arc::new(Control::new(outbox.clone(), Arc::clone(&shared), shells));
    let stdin_handler = Arc::clone(&control_handler);
    let stdin_signer = signer.clone();
    tokio::spawn(async move {
        loop {
            match stdin_recv.recv().await {
                Ok(message) => {
                    if let Some(message) = decode("stdin", message, &stdin_signer) {
                        stdin_handler.handle_stdin(&message);
                    }
                }
                Err(error) => tracing::warn!(%error, "stdin receive failed"),
            }
        }
    });

    let signal_handler = Arc::clone(&control_handler);
    let mut shutdown = shared.shutdown_requested();
    let mut interrupts =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let orphaned = crate::parent::orphaned();
    tokio::pin!(orphaned);
    let outcome = loop {
        tokio::select! {
            received = control_recv.recv() => match received {
                Ok(message) => {
                    if let Some(message) = decode("control", message, &signer) {
                        control_handler.handle(&message);
                    }
                }
                Err(error) => tracing::warn!(%error, "control receive failed"),
            },
            Some(()) = recv_signal(&mut interrupts) => {
                tracing::info!("SIGINT: interrupting the running cell");
                signal_handler.interrupt();
            },
            Some(()) = recv_signal(&mut terminate) => break Shutdown::Yes { restart: false },
            () = &mut orphaned => break Shutdown::Yes { restart: false },
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break Shutdown::Yes { restart: false };
                }
                let requested = *shutdown.borrow();
                if requested != Shutdown::No {
                    break requested;
                }
            },
        }
    };
    tracing::info!(?outcome, "shutting down");
    let engine = shared.engine().clone();
    let _ = tokio::task::spawn_blocking(move || engine.shutdown(ENGINE_SHUTDOWN_LIMIT)).await;
    end_all_processes();
    tokio::time::sleep(FINAL_MESSAGES_GRACE).await;
    Ok(outcome)
}

async fn recv_signal(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

/// Kills every process below the kernel: the runtime, the relay, cell processes, builds.
pub fn end_all_processes() {
    ferrokernel_engine::procs::end_tree(std::process::id() as i32);
}

async fn heartbeat_loop(mut socket: RepSocket) {
    loop {
        match socket.recv().await {
            Ok(ping) => {
                if let Err(error) = socket.send(ping).await {
                    tracing::warn!(%error, "heartbeat send failed");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "heartbeat receive failed");
                tokio::time::sleep(HEARTBEAT_RETRY_PAUSE).await;
            }
        }
    }
}

async fn iopub_loop(
    mut socket: PubSocket,
    mut events: UnboundedReceiver<IopubEvent>,
    mut assembler: IopubAssembler,
    signer: Signer,
) {
    loop {
        let event = if assembler.has_pending() {
            match tokio::time::timeout(STREAM_FLUSH_INTERVAL, events.recv()).await {
                Ok(event) => event,
                Err(_) => {
                    if let Some(message) = assembler.flush() {
                        send(&mut socket, &message, &signer).await;
                    }
                    continue;
                }
            }
        } else {
            events.recv().await
        };
        let Some(event) = event else {
            if let Some(message) = assembler.flush() {
                send(&mut socket, &message, &signer).await;
            }
            return;
        };
        for message in assembler.push(event) {
            send(&mut socket, &message, &signer).await;
        }
    }
}

async fn send<S: SocketSend>(socket: &mut S, message: &Message, signer: &Signer) {
    let Some(frames) = zmq_message(message.to_frames(signer)) else {
        return;
    };
    if let Err(error) = socket.send(frames).await {
        tracing::warn!(%error, msg_type = %message.header.msg_type, "send failed");
    }
}

async fn send_replies<S: SocketSend>(
    mut replies: UnboundedReceiver<Reply>,
    signer: Signer,
    mut shell: S,
    mut control: S,
    mut stdin: S,
) {
    while let Some(reply) = replies.recv().await {
        let socket = match reply.channel {
            Channel::Shell => &mut shell,
            Channel::Control => &mut control,
            Channel::Stdin => &mut stdin,
        };
        send(socket, &reply.message, &signer).await;
    }
}

/// A session id for the kernel's messages.
fn uuid_like() -> String {
    ferrokernel_protocol::new_id()
}

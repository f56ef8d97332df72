//! A small Jupyter client for driving the real `ferrokernel` binary over zeromq.

use bytes::Bytes;
use ferrokernel_protocol::{
    Content, ExecuteReply, ExecuteRequest, ExecutionState, KernelInfoRequest, Message, Signer,
};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use zeromq::util::PeerIdentity;
use zeromq::{
    DealerSocket, ReqSocket, Socket, SocketOptions, SocketRecv, SocketSend, SubSocket, ZmqMessage,
};

/// How long the first cell may take: the engine starts and loads the prelude.
pub(crate) const FIRST_CELL: Duration = Duration::from_secs(240);
/// How long an ordinary request may take.
pub(crate) const REQUEST: Duration = Duration::from_secs(60);

/// What to launch as the kernel under test.
pub(crate) struct Launch {
    /// The program.
    pub(crate) program: std::path::PathBuf,
    /// Its arguments; `{connection_file}` stands for the connection file.
    pub(crate) args: Vec<String>,
    /// Loopback TCP instead of ipc sockets (for kernels that speak only TCP).
    pub(crate) tcp: bool,
}

impl Launch {
    /// The `ferrokernel` binary built with these tests.
    pub(crate) fn ferrokernel() -> Launch {
        Launch {
            program: env!("CARGO_BIN_EXE_ferrokernel").into(),
            args: ["kernel", "--connection-file", "{connection_file}"]
                .map(str::to_owned)
                .to_vec(),
            tcp: false,
        }
    }
}

/// `count` loopback ports that were free a moment ago.
fn free_tcp_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("bound").port())
        .collect()
}

/// A running kernel and a client connected to all its sockets. Dropping it kills
/// the kernel and everything below it.
pub(crate) struct Kernel {
    child: Child,
    dir: PathBuf,
    pub(crate) signer: Signer,
    pub(crate) shell: DealerSocket,
    pub(crate) control: DealerSocket,
    pub(crate) stdin: DealerSocket,
    pub(crate) iopub: SubSocket,
    pub(crate) heartbeat: ReqSocket,
    backlog: Vec<Message>,
}

fn dealer(identity: &str) -> DealerSocket {
    let mut options = SocketOptions::default();
    if let Ok(identity) = PeerIdentity::try_from(identity.as_bytes().to_vec()) {
        options.peer_identity(identity);
    }
    DealerSocket::with_options(options)
}

fn to_zmq(frames: Vec<Vec<u8>>) -> ZmqMessage {
    ZmqMessage::try_from(frames.into_iter().map(Bytes::from).collect::<Vec<_>>())
        .expect("at least one frame")
}

impl Kernel {
    /// Starts the kernel over ipc sockets in a fresh directory; `env` is added to its environment.
    pub(crate) async fn start(env: &[(&str, &str)]) -> Kernel {
        Kernel::start_with_key("test-secret-key", env).await
    }

    /// Starts the kernel with HMAC key `key` (empty: unsigned).
    pub(crate) async fn start_with_key(key: &str, env: &[(&str, &str)]) -> Kernel {
        Kernel::launch(&Launch::ferrokernel(), key, env).await
    }

    /// Starts `launch` in a fresh directory; `env` is added to its environment.
    pub(crate) async fn launch(launch: &Launch, key: &str, env: &[(&str, &str)]) -> Kernel {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("fk-it-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let base = dir.join("k").display().to_string();
        let ports: Vec<u16> = if launch.tcp {
            free_tcp_ports(5)
        } else {
            (1..=5).collect()
        };
        let (transport, ip) = if launch.tcp {
            ("tcp", "127.0.0.1".to_owned())
        } else {
            ("ipc", base.clone())
        };
        let connection = serde_json::json!({
            "transport": transport, "ip": ip, "key": key, "signature_scheme": "hmac-sha256",
            "shell_port": ports[0], "iopub_port": ports[1], "stdin_port": ports[2],
            "control_port": ports[3], "hb_port": ports[4], "kernel_name": "ferrokernel",
        });
        let file = dir.join("connection.json");
        std::fs::write(&file, connection.to_string()).expect("connection file");
        let mut command = Command::new(&launch.program);
        for arg in &launch.args {
            match arg.as_str() {
                "{connection_file}" => command.arg(&file),
                other => command.arg(other),
            };
        }
        command
            .stdin(Stdio::null())
            .env("RUST_LOG", "warn")
            // Each kernel starts its own engine unless a test asks for the pool.
            .env("FERROKERNEL_POOL", "0");
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("the kernel starts");
        let endpoint = |index: usize| match launch.tcp {
            true => format!("tcp://127.0.0.1:{}", ports[index]),
            false => format!("ipc://{base}-{}", ports[index]),
        };
        // The kernel binds asynchronously: wait for its sockets.
        let deadline = Instant::now() + Duration::from_secs(60);
        let bound = || {
            if launch.tcp {
                ports
                    .iter()
                    .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
            } else {
                (1..=5).all(|p| std::path::Path::new(&format!("{base}-{p}")).exists())
            }
        };
        while !bound() {
            assert!(
                Instant::now() < deadline,
                "the kernel did not bind its sockets"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut shell = dealer("test-client");
        let mut control = dealer("test-client");
        let mut stdin = dealer("test-client");
        let mut iopub = SubSocket::new();
        let mut heartbeat = ReqSocket::new();
        shell.connect(&endpoint(0)).await.expect("shell");
        iopub.connect(&endpoint(1)).await.expect("iopub");
        iopub.subscribe("").await.expect("subscribe");
        stdin.connect(&endpoint(2)).await.expect("stdin");
        control.connect(&endpoint(3)).await.expect("control");
        heartbeat.connect(&endpoint(4)).await.expect("heartbeat");
        let mut kernel = Kernel {
            child,
            dir,
            signer: Signer::new(key.as_bytes()),
            shell,
            control,
            stdin,
            iopub,
            heartbeat,
            backlog: Vec::new(),
        };
        kernel.wait_for_iopub().await;
        kernel
    }

    /// PUB drops messages until the subscription arrives: ask for kernel info until
    /// its status shows up on iopub.
    async fn wait_for_iopub(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let request = self.send_shell(KernelInfoRequest {}).await;
            let reply = self.shell_reply().await;
            assert_eq!(reply.header.msg_type, "kernel_info_reply");
            let seen = tokio::time::timeout(Duration::from_millis(300), async {
                loop {
                    let message = self.next_iopub().await;
                    if is_reply_to(&message, &request) {
                        return;
                    }
                }
            })
            .await;
            if seen.is_ok() {
                self.backlog.clear();
                return;
            }
            assert!(Instant::now() < deadline, "iopub never delivered");
        }
    }

    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// A message from the test client, ready to send.
    pub(crate) fn request(&self, content: impl Into<Content>) -> Message {
        Message::new(content, "test-session")
    }

    pub(crate) async fn send_on(socket: &mut DealerSocket, message: &Message, signer: &Signer) {
        socket
            .send(to_zmq(message.to_frames(signer)))
            .await
            .expect("send");
    }

    pub(crate) async fn send_shell(&mut self, content: impl Into<Content>) -> Message {
        let message = self.request(content);
        Kernel::send_on(&mut self.shell, &message, &self.signer).await;
        message
    }

    /// Sends `content` on shell for the subshell `subshell_id`.
    pub(crate) async fn send_shell_in(
        &mut self,
        subshell_id: &str,
        content: impl Into<Content>,
    ) -> Message {
        let mut message = self.request(content);
        message.header.subshell_id = Some(subshell_id.to_owned());
        Kernel::send_on(&mut self.shell, &message, &self.signer).await;
        message
    }

    /// Sends raw frames on shell (for forged and malformed messages).
    pub(crate) async fn send_shell_frames(&mut self, frames: Vec<Vec<u8>>) {
        self.shell.send(to_zmq(frames)).await.expect("send");
    }

    async fn recv(socket: &mut impl SocketRecv, signer: &Signer, timeout: Duration) -> Message {
        let received = tokio::time::timeout(timeout, socket.recv())
            .await
            .expect("a message before the timeout")
            .expect("receive");
        let frames: Vec<Bytes> = received.into_vec();
        Message::from_frames(&frames, signer).expect("the kernel's messages are valid and signed")
    }

    pub(crate) async fn shell_reply(&mut self) -> Message {
        Kernel::recv(&mut self.shell, &self.signer, REQUEST).await
    }

    /// The next shell reply as its `msg_type` and raw JSON content (for
    /// error replies, which have the reply's type but not its fields).
    pub(crate) async fn shell_reply_json(&mut self) -> (String, serde_json::Value) {
        let received = tokio::time::timeout(REQUEST, self.shell.recv())
            .await
            .expect("a reply before the timeout")
            .expect("receive");
        let frames: Vec<Bytes> = received.into_vec();
        let at = frames
            .iter()
            .position(|f| f.as_ref() == ferrokernel_protocol::DELIMITER)
            .expect("a delimiter");
        let json = |i: usize| -> serde_json::Value {
            serde_json::from_slice(&frames[at + i]).expect("JSON frames")
        };
        let header = json(2);
        let msg_type = header["msg_type"].as_str().unwrap_or_default().to_owned();
        (msg_type, json(5))
    }

    pub(crate) async fn shell_reply_within(&mut self, timeout: Duration) -> Message {
        Kernel::recv(&mut self.shell, &self.signer, timeout).await
    }

    pub(crate) async fn control_request(&mut self, content: impl Into<Content>) -> Message {
        let message = self.request(content);
        Kernel::send_on(&mut self.control, &message, &self.signer).await;
        Kernel::recv(&mut self.control, &self.signer, REQUEST).await
    }

    /// Sends the Debug Adapter Protocol request `command` numbered `seq` on
    /// control; returns its response, checked to answer it.
    pub(crate) async fn debug_request(
        &mut self,
        seq: i64,
        command: &str,
        arguments: serde_json::Value,
    ) -> serde_json::Value {
        let request = serde_json::json!({
            "seq": seq, "type": "request", "command": command, "arguments": arguments,
        });
        let reply = self
            .control_request(ferrokernel_protocol::DebugRequest(request))
            .await;
        match reply.content {
            Content::DebugReply(reply) => {
                assert_eq!(reply.0["request_seq"], seq, "{command}: {}", reply.0);
                assert_eq!(reply.0["command"], command);
                reply.0
            }
            other => panic!("{command}: expected debug_reply, got {other:?}"),
        }
    }

    pub(crate) async fn stdin_message(&mut self) -> Message {
        Kernel::recv(&mut self.stdin, &self.signer, REQUEST).await
    }

    pub(crate) async fn next_iopub(&mut self) -> Message {
        if !self.backlog.is_empty() {
            return self.backlog.remove(0);
        }
        Kernel::recv(&mut self.iopub, &self.signer, REQUEST).await
    }

    /// iopub messages caused by `request`, up to its idle status.
    pub(crate) async fn iopub_until_idle(
        &mut self,
        request: &Message,
        timeout: Duration,
    ) -> Vec<Message> {
        let deadline = Instant::now() + timeout;
        let mut mine = Vec::new();
        let mut others = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = match self.backlog.is_empty() {
                false => self.backlog.remove(0),
                true => Kernel::recv(&mut self.iopub, &self.signer, left).await,
            };
            if !is_reply_to(&message, request) {
                others.push(message);
                continue;
            }
            let idle = matches!(&message.content, Content::Status(s) if s.execution_state == ExecutionState::Idle);
            mine.push(message);
            if idle {
                self.backlog.extend(others);
                return mine;
            }
        }
    }

    /// Runs `code`; returns its iopub messages and its reply.
    pub(crate) async fn execute_with(
        &mut self,
        request: ExecuteRequest,
        timeout: Duration,
    ) -> (Vec<Message>, ExecuteReply) {
        let sent = self.send_shell(request).await;
        let iopub = self.iopub_until_idle(&sent, timeout).await;
        let reply = self.shell_reply_within(timeout).await;
        assert!(is_reply_to(&reply, &sent), "the reply answers the request");
        match reply.content {
            Content::ExecuteReply(reply) => (iopub, reply),
            other => panic!("expected execute_reply, got {other:?}"),
        }
    }

    pub(crate) async fn execute(&mut self, code: &str) -> (Vec<Message>, ExecuteReply) {
        let request = ExecuteRequest {
            code: code.to_owned(),
            ..ExecuteRequest::default()
        };
        self.execute_with(request, FIRST_CELL).await
    }

    /// Kills the kernel (SIGKILL) without cleaning up after it.
    pub(crate) fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the kernel process to exit on its own.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        let descendants = ferrokernel_engine::procs::descendants(self.pid());
        let _ = self.child.kill();
        ferrokernel_engine::procs::kill_all(&descendants);
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn is_reply_to(message: &Message, request: &Message) -> bool {
    message.parent_header.as_ref().map(|h| &h.msg_id) == Some(&request.header.msg_id)
}

/// The name and value of the first error on iopub, if there is one.
pub(crate) fn error_of(messages: &[Message]) -> Option<(String, String)> {
    messages.iter().find_map(|m| match &m.content {
        Content::Error(e) => Some((e.ename.clone(), e.evalue.clone())),
        _ => None,
    })
}

/// The concatenated text of the stream messages named `name`.
pub(crate) fn stream_text(messages: &[Message], name: &str) -> String {
    messages
        .iter()
        .filter_map(|m| match &m.content {
            Content::Stream(s) if serde_json::to_value(s.name).ok()? == name => {
                Some(s.text.as_str())
            }
            _ => None,
        })
        .collect()
}

/// The `text/plain` of the execute_result, if any.
pub(crate) fn result_text(messages: &[Message]) -> Option<String> {
    messages.iter().find_map(|m| match &m.content {
        Content::ExecuteResult(r) => r.data.get("text/plain")?.as_str().map(str::to_owned),
        _ => None,
    })
}

/// Whether a process with this pid exists (and is not a zombie).
pub(crate) fn alive(pid: i32) -> bool {
    !ferrokernel_engine::procs::exited(pid)
}

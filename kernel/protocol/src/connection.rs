use crate::error::ProtocolError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How the kernel's sockets are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// TCP ports on `ip`.
    Tcp,
    /// Unix domain sockets at `<ip>-<port>`.
    Ipc,
}

/// The connection file Jupyter writes before launching a kernel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionInfo {
    /// `tcp` or `ipc`.
    #[serde(default = "default_transport")]
    pub transport: Transport,
    /// The address (tcp) or path prefix (ipc).
    pub ip: String,
    /// Port of the shell ROUTER socket.
    pub shell_port: u16,
    /// Port of the iopub PUB socket.
    pub iopub_port: u16,
    /// Port of the stdin ROUTER socket.
    pub stdin_port: u16,
    /// Port of the control ROUTER socket.
    pub control_port: u16,
    /// Port of the heartbeat REP socket.
    pub hb_port: u16,
    /// The HMAC key; empty disables signing.
    #[serde(default)]
    pub key: String,
    /// Must be `hmac-sha256` (or empty when the key is empty).
    #[serde(default = "default_scheme")]
    pub signature_scheme: String,
    /// The kernelspec name, informational.
    #[serde(default)]
    pub kernel_name: String,
}

fn default_transport() -> Transport {
    Transport::Tcp
}

fn default_scheme() -> String {
    "hmac-sha256".to_owned()
}

impl ConnectionInfo {
    /// Reads and checks a connection file.
    pub fn from_file(path: &Path) -> Result<ConnectionInfo, ProtocolError> {
        let text = std::fs::read(path).map_err(|source| ProtocolError::ConnectionFile {
            path: path.display().to_string(),
            source,
        })?;
        let info: ConnectionInfo = serde_json::from_slice(&text).map_err(|source| {
            ProtocolError::ConnectionFileFormat {
                path: path.display().to_string(),
                source,
            }
        })?;
        if !info.key.is_empty() && info.signature_scheme != "hmac-sha256" {
            return Err(ProtocolError::UnsupportedSignatureScheme(
                info.signature_scheme,
            ));
        }
        Ok(info)
    }

    /// The zeromq endpoint for `port`, e.g. `tcp://127.0.0.1:5555` or `ipc:///tmp/k-5555`.
    pub fn endpoint(&self, port: u16) -> String {
        match self.transport {
            Transport::Tcp => format!("tcp://{}:{}", self.ip, port),
            Transport::Ipc => format!("ipc://{}-{}", self.ip, port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_jupyter_connection_file() {
        let json = r#"{"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4,
            "hb_port": 5, "ip": "127.0.0.1", "key": "k", "transport": "tcp",
            "signature_scheme": "hmac-sha256", "kernel_name": "ferrokernel"}"#;
        let info: ConnectionInfo = serde_json::from_str(json).expect("valid");
        assert_eq!(info.endpoint(info.shell_port), "tcp://127.0.0.1:1");
        let ipc = ConnectionInfo {
            transport: Transport::Ipc,
            ip: "/tmp/kernel".into(),
            ..info
        };
        assert_eq!(ipc.endpoint(5), "ipc:///tmp/kernel-5");
    }
}

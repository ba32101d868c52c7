//! Transports: how commands reach a host and how a TCP stream is opened *from* a host.
//!
//! Two implementations share one surface ([`Transport`]): [`ssh`] keeps one persistent,
//! host-key-verified russh connection per host, and [`local`] runs the same things on this
//! machine. Probes see only [`ExecRequest`]/[`ExecOutput`] and [`Transport::dial`], so a probe
//! written once works over both. russh stays inside this module tree.
//!
//! Callers: the poller (one task per host) and, later, the runbook executor.

pub mod bastions;
pub mod host_cert;
pub mod interactive;
pub mod key_file;
pub mod known_hosts;
pub mod local;
pub mod proxy_command;
pub mod resident;
pub mod route;
pub mod ssh;
pub mod stream;

use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::observation::{Unreachable, UnreachableKind};

/// A byte stream to a TCP port as seen from the host (SSH direct-tcpip channel or a local socket).
pub trait HostStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> HostStream for T {}

/// A boxed [`HostStream`].
pub type BoxStream = Pin<Box<dyn HostStream>>;

/// One command to run on a host.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// Command line handed to the remote shell (already quoted by the caller).
    pub command: String,
    /// Bytes written to the command's stdin, then EOF. Probe batches travel here so that
    /// their text never shows up in `ps` (and `pgrep -f` never matches the probe itself).
    pub stdin: Option<Vec<u8>>,
    /// Kill the command and report a timeout after this long.
    pub timeout: Duration,
    /// Keep at most this many bytes of stdout and of stderr each; the rest is counted, not kept.
    pub max_output: usize,
}

/// A probe script to run on a host: over SSH on the host's resident shell
/// ([`resident`]), else as one `sh -s` with the script on stdin.
#[derive(Debug, Clone)]
pub struct ScriptRequest {
    /// The POSIX `sh` script. It must not read stdin (it gets /dev/null).
    pub script: Vec<u8>,
    /// Kill the script and report a timeout after this long.
    pub timeout: Duration,
    /// Keep at most this many bytes of stdout and of stderr each.
    pub max_output: usize,
}

impl ScriptRequest {
    /// The same script as one exec of `sh -s` (the script on stdin, never in a process list,
    /// so `pgrep -f` cannot match the probe itself).
    pub fn as_exec(&self) -> ExecRequest {
        ExecRequest {
            command: "sh -s".to_string(),
            stdin: Some(self.script.clone()),
            timeout: self.timeout,
            max_output: self.max_output,
        }
    }
}

/// What a command did.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    /// Exit status; `None` when the command was killed by a signal or the status never came.
    pub status: Option<u32>,
    /// Captured stdout (at most `max_output` bytes).
    pub stdout: Vec<u8>,
    /// Captured stderr (at most `max_output` bytes).
    pub stderr: Vec<u8>,
    /// Bytes dropped from stdout + stderr because of `max_output`; non-zero means truncated.
    pub dropped_bytes: u64,
}

impl ExecOutput {
    /// Whether any output was dropped.
    pub fn truncated(&self) -> bool {
        self.dropped_bytes > 0
    }
}

/// Why a transport operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// The host could not be reached or the connection is unusable.
    #[error("{}", .0.message)]
    Unreachable(Unreachable),
    /// The command did not finish in time (the connection itself is fine).
    #[error("command timed out after {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// The host refused a channel (e.g. MaxSessions reached, forwarding disabled, port closed).
    #[error("channel refused: {0}")]
    ChannelRefused(String),
    /// Any other failure of one operation.
    #[error("{0}")]
    Other(String),
}

impl TransportError {
    /// Shorthand for an unreachable error of some kind.
    pub fn unreachable(kind: UnreachableKind, message: impl Into<String>) -> Self {
        TransportError::Unreachable(Unreachable {
            kind,
            message: message.into(),
            retry_in: None,
        })
    }
}

/// A way to reach one host.
#[derive(Clone)]
pub enum Transport {
    /// Over SSH.
    Ssh(std::sync::Arc<ssh::SshHost>),
    /// This machine.
    Local(local::LocalHost),
}

impl Transport {
    /// Runs one command.
    pub async fn exec(&self, req: &ExecRequest) -> Result<ExecOutput, TransportError> {
        match self {
            Transport::Ssh(h) => h.exec(req).await,
            Transport::Local(h) => h.exec(req).await,
        }
    }

    /// Runs a probe script: over SSH on the host's resident shell, locally as `sh -s`.
    pub async fn run_script(&self, req: &ScriptRequest) -> Result<ExecOutput, TransportError> {
        match self {
            Transport::Ssh(h) => h.run_script(req).await,
            Transport::Local(h) => h.exec(&req.as_exec()).await,
        }
    }

    /// Opens a TCP stream to `address:port` as seen from the host.
    pub async fn dial(&self, address: &str, port: u16) -> Result<BoxStream, TransportError> {
        match self {
            Transport::Ssh(h) => h.dial(address, port).await,
            Transport::Local(h) => h.dial(address, port).await,
        }
    }

    /// How long making this host's connection may take, when it has its own bound
    /// (`ConnectTimeout` in ssh_config); `None` for this machine.
    pub fn connect_timeout(&self) -> Option<Duration> {
        match self {
            Transport::Ssh(h) => Some(h.target().connect_timeout),
            Transport::Local(_) => None,
        }
    }

    /// How the latest connection attempt went (SSH only).
    pub fn last_connect(&self) -> Option<ssh::ConnectTiming> {
        match self {
            Transport::Ssh(h) => h.last_connect(),
            Transport::Local(_) => None,
        }
    }

    /// Runs one command over a NEW connection to the host, on `port` instead of its own when
    /// given, and closes it; the pooled connection is neither used nor touched (see
    /// [`ssh::SshHost::fresh`]). This machine has no SSH connection to prove.
    pub async fn exec_fresh(
        &self,
        port: Option<u16>,
        req: &ExecRequest,
    ) -> Result<ExecOutput, TransportError> {
        match self {
            Transport::Ssh(h) => {
                let fresh = h.fresh(port)?;
                let out = fresh.exec(req).await;
                fresh.disconnect().await;
                out
            }
            Transport::Local(_) => Err(TransportError::Other(
                "this machine is reached without SSH: there is no new connection to make".into(),
            )),
        }
    }

    /// Makes sure the host is connected (connects if needed); a cheap no-op when it is.
    pub async fn ensure_connected(&self) -> Result<(), TransportError> {
        match self {
            Transport::Ssh(h) => h.ensure_connected().await,
            Transport::Local(_) => Ok(()),
        }
    }
}

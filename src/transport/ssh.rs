//! The SSH transport: one persistent, host-key-verified russh connection per host.
//!
//! An [`SshHost`] owns its connection. It connects lazily on first use, verifies the host key
//! against known_hosts (see [`super::known_hosts`]), authenticates with the agent and then the
//! identity files, and keeps the connection alive with SSH keepalives. A failure puts the host
//! into exponential backoff with jitter; callers see the host as unreachable with the time of the
//! next attempt instead of waiting. Commands are exec channels and TCP streams are direct-tcpip
//! channels on that one connection, at most [`MAX_CHANNELS`] at once, because OpenSSH refuses
//! the 11th concurrent session (`MaxSessions 10`) and that refusal must never look like a dead
//! host.
//!
//! Nothing here blocks another host: each `SshHost` has its own lock, and every wait is bounded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex as StdMutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use rand::Rng;
use russh::client::{self, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use russh::{ChannelMsg, Disconnect, Sig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};

use super::known_hosts::{self, Verdict};
use super::{BoxStream, ExecOutput, ExecRequest, TransportError};
use crate::inventory::{Fleet, Host, HostKeyPolicy};
use crate::observation::{Unreachable, UnreachableKind};

/// Concurrent channels per connection: below OpenSSH's default `MaxSessions 10`, leaving room
/// for an operator's own session multiplexed by ControlMaster.
pub const MAX_CHANNELS: usize = 8;

const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
const KEEPALIVE_MAX: usize = 3;

/// Everything needed to reach one host, resolved from the inventory and `~/.ssh/config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// Inventory host name (for messages).
    pub name: String,
    /// Network address to dial (after `~/.ssh/config` HostName).
    pub address: String,
    /// TCP port.
    pub port: u16,
    /// Remote user.
    pub user: String,
    /// Private keys to try after the agent, in order.
    pub identity_files: Vec<PathBuf>,
    /// known_hosts files to check, first one receives `accept-new` keys.
    pub known_hosts: Vec<PathBuf>,
    /// Unknown-key policy.
    pub policy: HostKeyPolicy,
    /// Bound on connect + handshake + auth.
    pub connect_timeout: Duration,
}

/// Asks the operator for a key's passphrase (a TUI dialog, a TTY prompt, or nobody).
pub trait PassphrasePrompt: Send + Sync {
    /// `attempt` starts at 1; `None` means the operator declined.
    fn ask(&self, key: &Path, attempt: u32) -> BoxFuture<'static, Option<String>>;
}

/// A prompt that never answers: encrypted keys must then come through the agent.
pub struct NoPrompt;

impl PassphrasePrompt for NoPrompt {
    fn ask(&self, _key: &Path, _attempt: u32) -> BoxFuture<'static, Option<String>> {
        Box::pin(async { None })
    }
}

/// State shared by all SSH hosts of one process: decrypted keys and the passphrase prompt.
pub struct SshShared {
    prompt: Arc<dyn PassphrasePrompt>,
    /// Keys already loaded, so a passphrase is asked once per key, not once per host.
    keys: Mutex<HashMap<PathBuf, Option<Arc<PrivateKey>>>>,
}

impl SshShared {
    /// Shared state using `prompt` for encrypted keys.
    pub fn new(prompt: Arc<dyn PassphrasePrompt>) -> Arc<Self> {
        Arc::new(SshShared {
            prompt,
            keys: Mutex::new(HashMap::new()),
        })
    }

    /// Loads (once) the private key at `path`, asking for its passphrase when it is encrypted.
    /// `None` when the file is missing, unreadable or the operator gave up.
    async fn key(&self, path: &Path) -> Option<Arc<PrivateKey>> {
        let mut keys = self.keys.lock().await;
        if let Some(cached) = keys.get(path) {
            return cached.clone();
        }
        let loaded = self.load_key(path).await;
        keys.insert(path.to_path_buf(), loaded.clone());
        loaded
    }

    async fn load_key(&self, path: &Path) -> Option<Arc<PrivateKey>> {
        if !path.exists() {
            return None;
        }
        match super::key_file::load_secret_key(path, None) {
            Ok(key) => return Some(Arc::new(key)),
            Err(russh::keys::Error::KeyIsEncrypted) => {}
            Err(e) => {
                tracing::warn!(key = %path.display(), error = %e, "cannot load identity file");
                return None;
            }
        }
        for attempt in 1..=3 {
            let passphrase = self.prompt.ask(path, attempt).await?;
            match super::key_file::load_secret_key(path, Some(&passphrase)) {
                Ok(key) => return Some(Arc::new(key)),
                // A wrong passphrase shows up as a decryption failure: ask again.
                Err(e) => {
                    tracing::warn!(key = %path.display(), attempt, error = %e, "passphrase rejected")
                }
            }
        }
        None
    }
}

/// Builds the [`SshTarget`] of `host`, honouring `~/.ssh/config` (HostName, Port, User,
/// IdentityFile) for aliases. Inventory values win over the ssh config, which wins over the
/// fleet's `[ssh]` defaults.
pub fn resolve_target(
    fleet: &Fleet,
    host: &Host,
    ssh_config: Option<&ssh2_config::SshConfig>,
) -> SshTarget {
    let params = ssh_config.map(|c| c.query(&host.address));
    let address = params
        .as_ref()
        .and_then(|p| p.host_name.clone())
        .unwrap_or_else(|| host.address.clone());
    let port = host
        .port
        .or_else(|| params.as_ref().and_then(|p| p.port))
        .unwrap_or(22);
    let user = host
        .user
        .clone()
        .or_else(|| params.as_ref().and_then(|p| p.user.clone()))
        .or_else(|| fleet.ssh.user.clone())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".to_string());
    let mut identity_files = host.identity_files.clone();
    if let Some(files) = params.as_ref().and_then(|p| p.identity_file.clone()) {
        identity_files.extend(files);
    }
    identity_files.extend(fleet.ssh.identity_files.iter().cloned());
    if identity_files.is_empty()
        && let Some(home) = dirs::home_dir()
    {
        // OpenSSH's own defaults, in its order.
        for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            identity_files.push(home.join(".ssh").join(name));
        }
    }
    dedup_in_order(&mut identity_files);
    SshTarget {
        name: host.name.clone(),
        address,
        port,
        user,
        identity_files,
        known_hosts: fleet.known_hosts.clone(),
        policy: fleet.host_key_policy,
        connect_timeout: fleet.ssh.connect_timeout,
    }
}

/// Reads the OpenSSH client config (`Include` supported); a missing file is no config.
pub fn read_ssh_config(path: &Path) -> Result<Option<ssh2_config::SshConfig>, String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut reader = std::io::BufReader::new(file);
    ssh2_config::SshConfig::default()
        .parse(&mut reader, ssh2_config::ParseRule::ALLOW_UNKNOWN_FIELDS)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn dedup_in_order(paths: &mut Vec<PathBuf>) {
    let mut seen = std::collections::HashSet::new();
    paths.retain(|p| seen.insert(p.clone()));
}

/// One host reached over SSH.
pub struct SshHost {
    target: SshTarget,
    shared: Arc<SshShared>,
    slot: Mutex<Slot>,
    channels: Arc<Semaphore>,
    /// Successful connections made so far: stays at 1 while the connection lives.
    connects: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct Slot {
    handle: Option<Arc<Handle<Client>>>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<Unreachable>,
}

impl SshHost {
    /// A host that connects on first use.
    pub fn new(target: SshTarget, shared: Arc<SshShared>) -> Arc<Self> {
        Arc::new(SshHost {
            target,
            shared,
            slot: Mutex::new(Slot::default()),
            channels: Arc::new(Semaphore::new(MAX_CHANNELS)),
            connects: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Where and as whom this host is reached.
    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// How many times a connection was established (1 for a healthy host, more after reconnects).
    pub fn connects(&self) -> u64 {
        self.connects.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Connects if there is no live connection, unless the host is backing off.
    pub async fn ensure_connected(&self) -> Result<(), TransportError> {
        self.handle().await.map(|_| ())
    }

    async fn handle(&self) -> Result<Arc<Handle<Client>>, TransportError> {
        let mut slot = self.slot.lock().await;
        if let Some(handle) = &slot.handle {
            if !handle.is_closed() {
                return Ok(handle.clone());
            }
            slot.handle = None;
            tracing::info!(host = %self.target.name, "connection closed; reconnecting");
        }
        if let (Some(at), Some(err)) = (slot.retry_at, &slot.last_error) {
            let now = Instant::now();
            if at > now {
                let mut err = err.clone();
                err.retry_in = Some(at - now);
                return Err(TransportError::Unreachable(err));
            }
        }
        // Keys are unlocked before the clock starts: a person typing a passphrase must not
        // make the host look unreachable.
        let identities = self.identities().await;
        match tokio::time::timeout(self.target.connect_timeout, self.connect(&identities)).await {
            Ok(Ok(handle)) => {
                let handle = Arc::new(handle);
                slot.handle = Some(handle.clone());
                slot.failures = 0;
                slot.retry_at = None;
                slot.last_error = None;
                self.connects
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(host = %self.target.name, "connected");
                Ok(handle)
            }
            result => {
                let mut err = match result {
                    Ok(Err(e)) => e,
                    _ => Unreachable {
                        kind: UnreachableKind::Timeout,
                        message: format!(
                            "no SSH session with {}:{} within {}",
                            self.target.address,
                            self.target.port,
                            humantime::format_duration(self.target.connect_timeout)
                        ),
                        retry_in: None,
                    },
                };
                slot.failures = slot.failures.saturating_add(1);
                let delay = backoff_delay(slot.failures, &mut rand::rng());
                slot.retry_at = Some(Instant::now() + delay);
                err.retry_in = Some(delay);
                tracing::warn!(host = %self.target.name, error = %err.message, retry_in = ?delay, "connect failed");
                slot.last_error = Some(err.clone());
                Err(TransportError::Unreachable(err))
            }
        }
    }

    /// Drops a connection that failed under us, so the next call reconnects.
    async fn forget(&self, handle: &Arc<Handle<Client>>) {
        let mut slot = self.slot.lock().await;
        if slot.handle.as_ref().is_some_and(|h| Arc::ptr_eq(h, handle)) {
            slot.handle = None;
        }
    }

    /// The identity files that could be loaded (and unlocked), in order.
    async fn identities(&self) -> Vec<(PathBuf, Arc<PrivateKey>)> {
        let mut keys = Vec::new();
        for path in &self.target.identity_files {
            if let Some(key) = self.shared.key(path).await {
                keys.push((path.clone(), key));
            }
        }
        keys
    }

    async fn connect(
        &self,
        identities: &[(PathBuf, Arc<PrivateKey>)],
    ) -> Result<Handle<Client>, Unreachable> {
        let t = &self.target;
        let verdict = Arc::new(StdMutex::new(None));
        let client = Client {
            target: t.clone(),
            verdict: verdict.clone(),
        };
        let config = Arc::new(client::Config {
            // Dead peers are found by keepalives, not by idleness: a quiet console is normal.
            inactivity_timeout: None,
            keepalive_interval: Some(KEEPALIVE_INTERVAL),
            keepalive_max: KEEPALIVE_MAX,
            nodelay: true,
            ..Default::default()
        });
        let connected = client::connect(config, (t.address.as_str(), t.port), client).await;
        let mut handle = match connected {
            Ok(h) => h,
            Err(e) => {
                let refused = verdict.lock().expect("verdict lock").take();
                return Err(match refused {
                    Some(refusal) => refusal,
                    None => classify_connect_error(&e, t),
                });
            }
        };
        self.authenticate(&mut handle, identities).await?;
        Ok(handle)
    }

    async fn authenticate(
        &self,
        handle: &mut Handle<Client>,
        identities: &[(PathBuf, Arc<PrivateKey>)],
    ) -> Result<(), Unreachable> {
        let t = &self.target;
        let mut tried = Vec::new();
        if std::env::var_os("SSH_AUTH_SOCK").is_some() {
            match AgentClient::connect_env().await {
                Ok(mut agent) => match agent.request_identities().await {
                    Ok(identities) => {
                        let rsa_hash = handle
                            .best_supported_rsa_hash()
                            .await
                            .ok()
                            .flatten()
                            .flatten();
                        for identity in &identities {
                            let key = identity.public_key().into_owned();
                            let hash = if key.algorithm().is_rsa() {
                                rsa_hash
                            } else {
                                None
                            };
                            match handle
                                .authenticate_publickey_with(&t.user, key, hash, &mut agent)
                                .await
                            {
                                Ok(r) if r.success() => return Ok(()),
                                Ok(_) => {}
                                Err(e) => {
                                    tracing::debug!(host = %t.name, error = %e, "agent signing failed")
                                }
                            }
                        }
                        tried.push(format!("ssh-agent ({} keys)", identities.len()));
                    }
                    Err(e) => tracing::debug!(error = %e, "agent has no identities"),
                },
                Err(e) => tracing::debug!(error = %e, "cannot reach ssh-agent"),
            }
        }
        for (path, key) in identities {
            let key = key.clone();
            let hash = if key.algorithm().is_rsa() {
                handle
                    .best_supported_rsa_hash()
                    .await
                    .ok()
                    .flatten()
                    .flatten()
            } else {
                None
            };
            tried.push(path.display().to_string());
            match handle
                .authenticate_publickey(&t.user, PrivateKeyWithHashAlg::new(key, hash))
                .await
            {
                Ok(r) if r.success() => return Ok(()),
                Ok(_) => {}
                Err(e) => {
                    return Err(Unreachable {
                        kind: UnreachableKind::Disconnected,
                        message: format!("connection lost during authentication: {e}"),
                        retry_in: None,
                    });
                }
            }
        }
        Err(Unreachable {
            kind: UnreachableKind::Auth,
            message: if tried.is_empty() {
                format!(
                    "no usable key for {}@{}: no ssh-agent identities and none of the identity files could be loaded",
                    t.user, t.address
                )
            } else {
                format!(
                    "{}@{} accepted none of: {}",
                    t.user,
                    t.address,
                    tried.join(", ")
                )
            },
            retry_in: None,
        })
    }

    /// Runs one command on an exec channel, with timeout and output cap.
    pub async fn exec(&self, req: &ExecRequest) -> Result<ExecOutput, TransportError> {
        let handle = self.handle().await?;
        let _permit = self.permit().await?;
        // An established connection whose peer went silent (frozen, blackholed) never answers
        // the open: drop it, so the next call reconnects under the connect timeout and backoff
        // instead of every poll waiting here for the keepalives to give up.
        let mut channel =
            match tokio::time::timeout(req.timeout, open_session_with_retry(&handle)).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => return Err(self.channel_error(&handle, e).await),
                Err(_) => {
                    self.forget(&handle).await;
                    return Err(TransportError::unreachable(
                        UnreachableKind::Timeout,
                        format!(
                            "{}:{} did not answer within {}; connection dropped",
                            self.target.address,
                            self.target.port,
                            humantime::format_duration(req.timeout)
                        ),
                    ));
                }
            };
        let run = async {
            channel.exec(true, req.command.as_bytes()).await?;
            if let Some(input) = &req.stdin {
                channel.data(&input[..]).await?;
            }
            channel.eof().await?;
            let mut out = ExecOutput::default();
            let mut closed = false;
            while let Some(msg) = channel.wait().await {
                match msg {
                    ChannelMsg::Data { data } => keep(
                        &mut out.stdout,
                        &data,
                        req.max_output,
                        &mut out.dropped_bytes,
                    ),
                    ChannelMsg::ExtendedData { data, ext: 1 } => keep(
                        &mut out.stderr,
                        &data,
                        req.max_output,
                        &mut out.dropped_bytes,
                    ),
                    ChannelMsg::ExitStatus { exit_status } => out.status = Some(exit_status),
                    ChannelMsg::Close => closed = true,
                    _ => {}
                }
            }
            Ok::<_, russh::Error>((out, closed))
        };
        match tokio::time::timeout(req.timeout, run).await {
            // The channel ended without sshd closing it and without an exit status: the
            // connection died under the command (sshd killed, host gone). That is an unreachable
            // host, not a reachable one whose command printed nothing.
            Ok(Ok((out, false))) if out.status.is_none() => {
                self.forget(&handle).await;
                Err(TransportError::unreachable(
                    UnreachableKind::Disconnected,
                    format!(
                        "connection to {}:{} lost while a command ran",
                        self.target.address, self.target.port
                    ),
                ))
            }
            Ok(Ok((out, _))) => Ok(out),
            Ok(Err(e)) => Err(self.channel_error(&handle, e).await),
            Err(_) => {
                // Ask sshd to kill the command, then close our end; the connection stays.
                let _ = channel.signal(Sig::KILL).await;
                let _ = channel.close().await;
                Err(TransportError::Timeout(req.timeout))
            }
        }
    }

    /// Opens a TCP stream to `address:port` as seen from the host (direct-tcpip channel).
    pub async fn dial(&self, address: &str, port: u16) -> Result<BoxStream, TransportError> {
        let handle = self.handle().await?;
        let permit = self.permit().await?;
        match handle
            .channel_open_direct_tcpip(address, u32::from(port), "127.0.0.1", 0)
            .await
        {
            Ok(channel) => Ok(Box::pin(PermitStream {
                inner: Box::pin(channel.into_stream()),
                _permit: permit,
            })),
            Err(e) => Err(self.channel_error(&handle, e).await),
        }
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, TransportError> {
        self.channels
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| TransportError::Other("channel limiter closed".into()))
    }

    /// Maps a channel-level error: a refused channel is the host saying no to one request
    /// (MaxSessions, forwarding disabled, port closed); anything else means the connection is gone.
    async fn channel_error(&self, handle: &Arc<Handle<Client>>, e: russh::Error) -> TransportError {
        match e {
            russh::Error::ChannelOpenFailure(reason) => {
                TransportError::ChannelRefused(format!("{reason:?}"))
            }
            other => {
                self.forget(handle).await;
                TransportError::unreachable(
                    UnreachableKind::Disconnected,
                    format!("connection lost: {other}"),
                )
            }
        }
    }

    /// Closes the connection politely (on quit).
    pub async fn disconnect(&self) {
        let handle = self.slot.lock().await.handle.take();
        if let Some(h) = handle {
            let _ = h
                .disconnect(Disconnect::ByApplication, "fleetdeck closing", "en")
                .await;
        }
    }
}

/// Opens a session channel, retrying briefly when sshd refuses it: a session we just closed
/// can still count against `MaxSessions` for a moment, and an operator's own multiplexed
/// sessions share the same limit. A refusal is never a dead host.
async fn open_session_with_retry(
    handle: &Handle<Client>,
) -> Result<russh::Channel<client::Msg>, russh::Error> {
    let mut delay = Duration::from_millis(25);
    for _ in 0..6 {
        match handle.channel_open_session().await {
            Err(russh::Error::ChannelOpenFailure(_)) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
    handle.channel_open_session().await
}

fn keep(buf: &mut Vec<u8>, data: &[u8], max: usize, dropped: &mut u64) {
    let take = max.saturating_sub(buf.len()).min(data.len());
    buf.extend_from_slice(&data[..take]);
    *dropped += (data.len() - take) as u64;
}

/// Exponential backoff with "equal jitter": half fixed, half random, so a fleet that lost its
/// network at once does not reconnect in lockstep.
pub fn backoff_delay(failures: u32, rng: &mut impl Rng) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let capped = exp.min(BACKOFF_MAX);
    let half = capped / 2;
    half + half.mul_f64(rng.random::<f64>())
}

fn classify_connect_error(e: &russh::Error, t: &SshTarget) -> Unreachable {
    let kind = match e {
        russh::Error::IO(io) => match io.kind() {
            std::io::ErrorKind::TimedOut => UnreachableKind::Timeout,
            _ => UnreachableKind::Connect,
        },
        russh::Error::ConnectionTimeout | russh::Error::KeepaliveTimeout => {
            UnreachableKind::Timeout
        }
        russh::Error::Disconnect | russh::Error::HUP => UnreachableKind::Disconnected,
        _ => UnreachableKind::Other,
    };
    Unreachable {
        kind,
        message: format!("cannot connect to {}:{}: {e}", t.address, t.port),
        retry_in: None,
    }
}

/// russh's per-connection event handler: host key verification happens here.
struct Client {
    target: SshTarget,
    /// Why the key was refused, read by `connect` to turn russh's generic error into ours.
    verdict: Arc<StdMutex<Option<Unreachable>>>,
}

impl Client {
    fn refuse(&self, kind: UnreachableKind, message: String) -> Result<bool, russh::Error> {
        tracing::error!(host = %self.target.name, %message, "host key refused");
        *self.verdict.lock().expect("verdict lock") = Some(Unreachable {
            kind,
            message,
            retry_in: None,
        });
        Ok(false)
    }
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key: PublicKey = match server {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            // Host certificates are checked as their plain key: no @cert-authority trust yet.
            russh::keys::PublicKeyOrCertificate::Certificate(cert) => {
                PublicKey::from(cert.public_key().clone())
            }
        };
        let t = &self.target;
        let fp = known_hosts::fingerprint(&key);
        let name = known_hosts::host_key_name(&t.address, t.port);
        match known_hosts::check(&t.known_hosts, &t.address, t.port, &key) {
            Verdict::Known(_) => Ok(true),
            Verdict::Changed { recorded, recorded_fingerprint } => self.refuse(
                UnreachableKind::HostKeyChanged,
                format!(
                    "HOST KEY CHANGED for {name}: it now presents {} {fp}, but {recorded} records {recorded_fingerprint}. \
                     Someone may be intercepting the connection. Refusing under every policy; if the host was \
                     really reinstalled, remove line {} from {} after checking the new key out of band.",
                    key.algorithm(),
                    recorded.line,
                    recorded.file.display()
                ),
            ),
            Verdict::Revoked(at) => self.refuse(
                UnreachableKind::HostKeyChanged,
                format!("host key {fp} of {name} is marked @revoked at {at}"),
            ),
            Verdict::Unknown { other_algorithms } => match t.policy {
                HostKeyPolicy::AcceptNew => {
                    let Some(file) = t.known_hosts.first() else {
                        return self.refuse(
                            UnreachableKind::HostKeyUnknown,
                            format!("host key of {name} is unknown and no known_hosts file is configured to record it"),
                        );
                    };
                    match known_hosts::append(file, &t.address, t.port, &key) {
                        Ok(()) => {
                            tracing::warn!(host = %t.name, fingerprint = %fp, file = %file.display(), "new host key recorded (accept-new)");
                            Ok(true)
                        }
                        Err(e) => self.refuse(
                            UnreachableKind::HostKeyUnknown,
                            format!("host key {fp} of {name} is unknown and could not be recorded in {}: {e}", file.display()),
                        ),
                    }
                }
                HostKeyPolicy::Strict => {
                    let also = if other_algorithms.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (keys of other types are recorded at {})",
                            other_algorithms.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                        )
                    };
                    let file = t
                        .known_hosts
                        .first()
                        .map(|f| f.display().to_string())
                        .unwrap_or_else(|| "~/.ssh/known_hosts".into());
                    self.refuse(
                        UnreachableKind::HostKeyUnknown,
                        format!(
                            "unknown host key for {name}: {} {fp}{also}. Verify it out of band, then accept it with \
                             `ssh-keyscan -p {} {} >> {file}` (check the fingerprint it prints with `ssh-keygen -lf`), \
                             or set host_key_policy = \"accept-new\" in [fleet].",
                            key.algorithm(),
                            t.port,
                            t.address
                        ),
                    )
                }
            },
        }
    }
}

/// A forwarded stream that holds its channel permit until dropped.
struct PermitStream {
    inner: Pin<Box<dyn super::HostStream>>,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for PermitStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.inner.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for PermitStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.inner.as_mut().poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.inner.as_mut().poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.inner.as_mut().poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_grows_exponentially_within_jitter_and_is_capped() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for failures in 1..=20u32 {
            let d = backoff_delay(failures, &mut rng);
            let full = BACKOFF_BASE
                .saturating_mul(1 << (failures - 1).min(16))
                .min(BACKOFF_MAX);
            assert!(
                d >= full / 2 && d <= full,
                "failures={failures} delay={d:?} full={full:?}"
            );
        }
        assert!(backoff_delay(30, &mut rng) <= BACKOFF_MAX);
    }

    #[test]
    fn keep_caps_and_counts() {
        let mut buf = Vec::new();
        let mut dropped = 0;
        keep(&mut buf, b"hello", 3, &mut dropped);
        keep(&mut buf, b"world", 3, &mut dropped);
        assert_eq!(buf, b"hel");
        assert_eq!(dropped, 7);
    }

    #[test]
    fn ssh_config_aliases_resolve_hostname_port_user_and_identity() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::write(
            &cfg,
            "Host db-alias\n  HostName 127.0.0.9\n  Port 2201\n  User dba\n  IdentityFile /keys/db\n\nHost *\n  User fallback\n",
        )
        .unwrap();
        let ssh_config = read_ssh_config(&cfg).unwrap().unwrap();
        let fleet = crate::inventory::load_fleet_from_str(
            "[fleet]\nname = \"t\"\n[[hosts]]\nname = \"db\"\naddress = \"db-alias\"\n[[hosts]]\nname = \"web\"\naddress = \"10.0.0.1\"\nport = 2022\nuser = \"me\"\n",
            crate::inventory::ConfigSource::Embedded,
        )
        .unwrap();
        let db = resolve_target(&fleet, &fleet.hosts[0], Some(&ssh_config));
        assert_eq!(
            (db.address.as_str(), db.port, db.user.as_str()),
            ("127.0.0.9", 2201, "dba")
        );
        assert_eq!(db.identity_files[0], PathBuf::from("/keys/db"));
        let web = resolve_target(&fleet, &fleet.hosts[1], Some(&ssh_config));
        assert_eq!(
            (web.address.as_str(), web.port, web.user.as_str()),
            ("10.0.0.1", 2022, "me")
        );
    }

    #[test]
    fn a_missing_ssh_config_is_no_config() {
        assert!(
            read_ssh_config(Path::new("/nonexistent/ssh_config"))
                .unwrap()
                .is_none()
        );
    }
}

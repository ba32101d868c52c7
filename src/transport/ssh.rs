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
//!
//! Where the byte stream comes from is the host's [`StreamSource`]: a TCP connection, a
//! `direct-tcpip` channel of a bastion's own `SshHost` (jump hosts; the bastion connection is
//! shared by every host behind it, see [`super::bastions`]), or a `ProxyCommand`'s stdin/stdout.
//! Everything above the stream — host key, login, channels — is the same for all three. A
//! bastion that cannot be reached is reported as [`UnreachableKind::Bastion`] with the bastion's
//! own reason, and does not put the hosts behind it into backoff: the bastion's backoff alone
//! decides when the next attempt is, so they come back together with it.

mod auth;
mod host_key;
pub mod keywords;
mod offer;
mod pty;
mod resident;
pub mod ssh_config;
mod stream;
mod target;

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rand::Rng;
use russh::client::{self, Handle};
use russh::keys::PrivateKey;
use russh::{ChannelMsg, Disconnect, Sig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};

pub use auth::{MAX_HANDSHAKES, NoPrompt, PassphrasePrompt, SshShared};
use host_key::Client;
pub use ssh_config::SshConfig;
pub use target::{Proxy, SshTarget, read_ssh_config, resolve_target, ssh_config_path};

use super::{BoxStream, ExecOutput, ExecRequest, TransportError};
use crate::observation::{Unreachable, UnreachableKind};

/// Concurrent channels per connection: below OpenSSH's default `MaxSessions 10`, leaving room
/// for an operator's own session multiplexed by ControlMaster.
pub const MAX_CHANNELS: usize = 8;

/// `direct-tcpip` tunnels (jump channels to the hosts behind a bastion) per connection to the
/// bastion before another connection to it is opened. sshd's `MaxSessions` counts sessions
/// only, not tunnels, so [`MAX_CHANNELS`] does not apply to them; what does is the bastion
/// sshd's per-connection process, which holds one socket per tunnel under a default soft limit of
/// 1024 descriptors (beyond it every open fails as if the target were down), and OpenSSH's hard
/// cap of 16384 channels per connection, past which it drops the whole connection. 900 leaves
/// room under both; russh itself allots channel ids from a 32-bit counter.
pub const MAX_TUNNELS: usize = 900;

const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Where a host's byte stream comes from.
#[derive(Clone)]
pub enum StreamSource {
    /// A TCP connection from this machine.
    Tcp,
    /// A `direct-tcpip` channel of this bastion's connection (shared with every host behind it).
    Via(Arc<SshHost>),
    /// The stdin/stdout of `sh -c COMMAND` (a `ProxyCommand`, tokens already expanded).
    Command(String),
    /// No usable route (e.g. ssh_config `ProxyJump`s that loop): every attempt fails with this.
    Unroutable(String),
}

/// One host reached over SSH.
pub struct SshHost {
    target: SshTarget,
    shared: Arc<SshShared>,
    source: StreamSource,
    slot: Mutex<Slot>,
    channels: Arc<Semaphore>,
    /// Successful connections made so far: stays at 1 while the connection lives.
    connects: std::sync::atomic::AtomicU64,
    /// Open tunnels to hosts behind this one (when it is a bastion).
    tunnels: Arc<AtomicUsize>,
    /// Tunnels allowed on this connection before another is opened ([`MAX_TUNNELS`]).
    tunnel_limit: AtomicUsize,
    /// Further connections to this bastion, opened only when `tunnel_limit` demanded them.
    overflow: Mutex<Vec<Arc<SshHost>>>,
    /// The resident shell that runs probe scripts (`resident.rs`).
    resident: Mutex<resident::ResidentSlot>,
    /// How the latest connection attempt went: time queued for a turn, then the handshake.
    last_connect: StdMutex<Option<ConnectTiming>>,
}

/// The timing of one connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectTiming {
    /// Waiting for a handshake turn ([`MAX_HANDSHAKES`]); not counted in `connect_timeout`.
    pub queued: Duration,
    /// The handshake itself (TCP or tunnel, key exchange, host key, login), up to the timeout.
    pub handshake: Duration,
    /// Whether it connected.
    pub connected: bool,
}

#[derive(Default)]
struct Slot {
    handle: Option<Arc<Handle<Client>>>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<Unreachable>,
}

impl SshHost {
    /// A host that connects on first use, over TCP.
    pub fn new(target: SshTarget, shared: Arc<SshShared>) -> Arc<Self> {
        Self::with_source(target, shared, StreamSource::Tcp)
    }

    /// A host that connects on first use, its stream made by `source`.
    pub fn with_source(
        target: SshTarget,
        shared: Arc<SshShared>,
        source: StreamSource,
    ) -> Arc<Self> {
        target::log_unhonoured(&target);
        Arc::new(SshHost {
            target,
            shared,
            source,
            slot: Mutex::new(Slot::default()),
            channels: Arc::new(Semaphore::new(MAX_CHANNELS)),
            connects: std::sync::atomic::AtomicU64::new(0),
            tunnels: Arc::new(AtomicUsize::new(0)),
            tunnel_limit: AtomicUsize::new(MAX_TUNNELS),
            overflow: Mutex::new(Vec::new()),
            resident: Mutex::new(resident::ResidentSlot::default()),
            last_connect: StdMutex::new(None),
        })
    }

    /// A separate connection to the same host by the same route — never pooled, never this
    /// one, which stays open — with `port` instead of the host's own: how the `reconnect`
    /// probe proves that changed sshd settings still let fleetdeck in. A host reached through
    /// a `ProxyCommand` cannot change port (the command was expanded with the old one).
    pub fn fresh(&self, port: Option<u16>) -> Result<Arc<SshHost>, TransportError> {
        let mut target = self.target.clone();
        if let Some(port) = port
            && port != target.port
        {
            if matches!(self.source, StreamSource::Command(_)) {
                return Err(TransportError::Other(format!(
                    "{} is reached through a ProxyCommand made for port {}: a new connection \
                     on port {port} cannot be made",
                    target.name, target.port
                )));
            }
            target.moved_from = Some(target.port);
            target.port = port;
        }
        Ok(SshHost::with_source(
            target,
            self.shared.clone(),
            self.source.clone(),
        ))
    }

    /// Where this host's stream comes from.
    pub fn source(&self) -> &StreamSource {
        &self.source
    }

    /// Lowers (or raises) how many tunnels one connection to this bastion carries before another
    /// connection is opened; [`MAX_TUNNELS`] unless changed. For tests of the overflow path.
    pub fn set_tunnel_limit(&self, limit: usize) {
        self.tunnel_limit.store(limit.max(1), Ordering::Relaxed);
    }

    /// Tunnels open through this connection now (not counting overflow connections).
    pub fn open_tunnels(&self) -> usize {
        self.tunnels.load(Ordering::Relaxed)
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
        if let StreamSource::Unroutable(why) = &self.source {
            return Err(TransportError::unreachable(
                UnreachableKind::Other,
                format!("no route to {}: {why}", self.target.name),
            ));
        }
        // The bastion connects under its own deadline and backoff, before ours starts: while
        // it is down, every host behind it reports the bastion's own reason and waits for the
        // bastion's next attempt, not for a backoff of its own.
        if let StreamSource::Via(bastion) = &self.source
            && let Err(e) = Box::pin(bastion.handle()).await
        {
            return Err(via_bastion(bastion, e));
        }
        // Keys are unlocked before the clock starts: a person typing a passphrase must not
        // make the host look unreachable.
        let identities = self.identities().await;
        // So is the wait for a handshake turn: the timeout measures the peer, not our queue.
        let asked = Instant::now();
        let _turn = self.shared.handshake_turn().await;
        let queued = asked.elapsed();
        let began = Instant::now();
        let result =
            tokio::time::timeout(self.target.connect_timeout, self.connect(&identities)).await;
        let timing = ConnectTiming {
            queued,
            handshake: began.elapsed(),
            connected: matches!(result, Ok(Ok(_))),
        };
        if let Ok(mut last) = self.last_connect.lock() {
            *last = Some(timing);
        }
        match result {
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
                            "no SSH session with {}:{} within {}{}",
                            self.target.address,
                            self.target.port,
                            humantime::format_duration(self.target.connect_timeout),
                            queued_note(queued)
                        ),
                        retry_in: None,
                    },
                };
                if err.kind == UnreachableKind::Bastion {
                    // The bastion's failure, not ours: its backoff governs the next attempt.
                    tracing::warn!(host = %self.target.name, error = %err.message, "connect failed");
                    return Err(TransportError::Unreachable(err));
                }
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

    /// How the latest connection attempt went, if there was one.
    pub fn last_connect(&self) -> Option<ConnectTiming> {
        self.last_connect.lock().ok().and_then(|t| *t)
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
            keepalive_interval: t.keepalive_interval,
            keepalive_max: t.keepalive_max,
            nodelay: true,
            preferred: host_key::preferred(t),
            ..Default::default()
        });
        let mut proxy_stderr = None;
        let connected = match &self.source {
            StreamSource::Tcp | StreamSource::Unroutable(_) => {
                client::connect(config, (t.address.as_str(), t.port), client).await
            }
            StreamSource::Via(bastion) => {
                let stream = bastion
                    .tunnel(&t.address, t.port)
                    .await
                    .map_err(|e| tunnel_error(bastion, t, e))?;
                client::connect_stream(config, stream, client).await
            }
            StreamSource::Command(command) => {
                let (stream, stderr) =
                    super::proxy_command::spawn(command, &t.name).map_err(|e| Unreachable {
                        kind: UnreachableKind::Connect,
                        message: format!(
                            "cannot start ProxyCommand `{command}` for {}: {e}",
                            t.name
                        ),
                        retry_in: None,
                    })?;
                proxy_stderr = Some(stderr);
                client::connect_stream(config, stream, client).await
            }
        };
        let mut handle = match connected {
            Ok(h) => h,
            Err(e) => {
                let refused = verdict.lock().expect("verdict lock").take();
                return Err(match refused {
                    Some(refusal) => refusal,
                    None => {
                        let mut u = classify_connect_error(&e, t);
                        match &self.source {
                            StreamSource::Tcp | StreamSource::Unroutable(_) => {}
                            StreamSource::Via(bastion) => {
                                u.message = format!(
                                    "{} (through bastion {})",
                                    u.message, bastion.target.name
                                );
                            }
                            StreamSource::Command(command) => {
                                let said = proxy_stderr
                                    .as_ref()
                                    .and_then(|s| s.lock().expect("stderr lock").clone())
                                    .map(|l| format!("; it said: {l}"))
                                    .unwrap_or_default();
                                u.message =
                                    format!("{} (ProxyCommand `{command}`{said})", u.message);
                            }
                        }
                        u
                    }
                });
            }
        };
        auth::authenticate(&mut handle, t, identities).await?;
        Ok(handle)
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

    /// Opens a `direct-tcpip` tunnel to `address:port` for a host behind this bastion. Tunnels
    /// are long-lived and not sessions, so the exec limiter does not apply; after
    /// [`MAX_TUNNELS`] on one connection another connection to the bastion carries the next ones
    /// (logged: it should be rare).
    async fn tunnel(&self, address: &str, port: u16) -> Result<BoxStream, TransportError> {
        let overflow;
        let conn: &SshHost = match self.tunnel_connection().await {
            None => self,
            Some(extra) => {
                overflow = extra;
                &overflow
            }
        };
        let count = TunnelCount::new(&conn.tunnels);
        // Boxed: a bastion may itself sit behind a bastion (the futures nest).
        let handle = Box::pin(conn.handle()).await?;
        match handle
            .channel_open_direct_tcpip(address, u32::from(port), "127.0.0.1", 0)
            .await
        {
            Ok(channel) => Ok(Box::pin(TunnelStream {
                inner: Box::pin(channel.into_stream()),
                _count: count,
            })),
            Err(e) => Err(conn.channel_error(&handle, e).await),
        }
    }

    /// `None` when this connection still has room for a tunnel, else the overflow connection
    /// that has (opened when none has).
    async fn tunnel_connection(&self) -> Option<Arc<SshHost>> {
        let limit = self.tunnel_limit.load(Ordering::Relaxed);
        if self.tunnels.load(Ordering::Relaxed) < limit {
            return None;
        }
        let mut overflow = self.overflow.lock().await;
        if let Some(conn) = overflow
            .iter()
            .find(|c| c.tunnels.load(Ordering::Relaxed) < limit)
        {
            return Some(conn.clone());
        }
        let conn = SshHost::with_source(
            self.target.clone(),
            self.shared.clone(),
            self.source.clone(),
        );
        overflow.push(conn.clone());
        tracing::warn!(
            bastion = %self.target.name,
            tunnels_per_connection = limit,
            connections = overflow.len() + 1,
            "every connection to the bastion carries its limit of tunnels; opening another connection to it"
        );
        Some(conn)
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

    /// Closes the connection politely (on quit), and any overflow connections.
    pub async fn disconnect(&self) {
        let extra: Vec<Arc<SshHost>> = self.overflow.lock().await.drain(..).collect();
        for conn in extra {
            Box::pin(conn.disconnect()).await;
        }
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

/// ` (after 3.2s queued for a handshake turn)` when the wait was long enough to matter.
fn queued_note(queued: Duration) -> String {
    if queued < Duration::from_millis(100) {
        return String::new();
    }
    let rounded = Duration::from_millis(queued.as_millis() as u64 / 100 * 100);
    format!(
        " (after {} queued for a handshake turn)",
        humantime::format_duration(rounded)
    )
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

/// The error of a host whose bastion could not be reached: the bastion's own reason, as
/// "via bastion NAME: REASON" (a reason that already names a bastion further out is kept as
/// it is: that bastion is the one cause).
fn via_bastion(bastion: &SshHost, e: TransportError) -> TransportError {
    let (message, retry_in) = match e {
        TransportError::Unreachable(u) if u.kind == UnreachableKind::Bastion => {
            return TransportError::Unreachable(u);
        }
        TransportError::Unreachable(u) => (u.message, u.retry_in),
        other => (other.to_string(), None),
    };
    TransportError::Unreachable(Unreachable {
        kind: UnreachableKind::Bastion,
        message: format!("via bastion {}: {message}", bastion.target.name),
        retry_in,
    })
}

/// A tunnel that could not be opened: the bastion refusing the channel is about the host
/// behind it (its sshd down, the port closed, forwarding forbidden); the bastion's connection
/// failing is about the bastion.
fn tunnel_error(bastion: &SshHost, t: &SshTarget, e: TransportError) -> Unreachable {
    match e {
        TransportError::ChannelRefused(reason) => Unreachable {
            kind: UnreachableKind::Connect,
            message: format!(
                "cannot connect to {}:{} through bastion {}: it refused the tunnel ({reason})",
                t.address, t.port, bastion.target.name
            ),
            retry_in: None,
        },
        other => match via_bastion(bastion, other) {
            TransportError::Unreachable(u) => u,
            other => Unreachable {
                kind: UnreachableKind::Bastion,
                message: other.to_string(),
                retry_in: None,
            },
        },
    }
}

/// Counts one open tunnel on a bastion connection until dropped.
struct TunnelCount(Arc<AtomicUsize>);

impl TunnelCount {
    fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        TunnelCount(counter.clone())
    }
}

impl Drop for TunnelCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A tunnel's stream, counted on its bastion connection while it lives.
struct TunnelStream {
    inner: Pin<Box<dyn super::HostStream>>,
    _count: TunnelCount,
}

impl AsyncRead for TunnelStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.inner.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for TunnelStream {
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
}

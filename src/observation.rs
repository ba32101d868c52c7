//! Observations: the raw facts one poll of one host produced.
//!
//! An [`Observation`] is what the poller sends to the state store; it carries no judgement
//! (health rules live in `health`) and no rendering. Probe parsers build the parts of it from
//! command output and RPC replies. Times are passed in by the caller, never read here.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::inventory::ChainKind;

/// One poll of one host.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Index of the host in `Fleet::hosts`.
    pub host: usize,
    /// When the poll started (wall clock, from the caller).
    pub started: SystemTime,
    /// How long the poll took.
    pub elapsed: Duration,
    /// What the poll found, or why the host could not be reached.
    pub outcome: Result<Probed, Unreachable>,
}

/// Why a host could not be polled at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreachable {
    /// What kind of failure, for rules and colours.
    pub kind: UnreachableKind,
    /// Human-readable reason, shown as the host's `error`.
    pub message: String,
    /// When the transport will try again, if it is backing off.
    pub retry_in: Option<Duration>,
}

/// Classes of connection failure that an operator reacts to differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnreachableKind {
    /// TCP connect refused, no route, DNS failure.
    Connect,
    /// Connect or handshake did not finish in time.
    Timeout,
    /// The host presented a key no known_hosts file lists (policy strict).
    HostKeyUnknown,
    /// The host presented a key different from the recorded one: possible attack.
    HostKeyChanged,
    /// No key or agent identity was accepted.
    Auth,
    /// The connection broke during the poll.
    Disconnected,
    /// Anything else.
    Other,
}

/// Everything a successful poll found. Each part may still carry its own error.
#[derive(Debug, Clone, Default)]
pub struct Probed {
    /// Host clock at poll time (seconds since the epoch), used for backup ages.
    pub host_time: Option<i64>,
    /// `/proc/loadavg`.
    pub load: Option<LoadAvg>,
    /// `/proc/uptime`.
    pub uptime: Option<Duration>,
    /// One entry per configured disk, in inventory order.
    pub disks: Vec<DiskObs>,
    /// One entry per configured service, in inventory order.
    pub services: Vec<ServiceObs>,
    /// One entry per configured backup set, in inventory order.
    pub backups: Vec<BackupObs>,
    /// The chain node, when one is configured.
    pub chain: Option<ChainObs>,
    /// Problems with the probe itself (a section missing, output truncated, unparsable output).
    pub probe_errors: Vec<String>,
}

/// Load averages from `/proc/loadavg`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LoadAvg {
    /// 1-minute load.
    pub one: f64,
    /// 5-minute load.
    pub five: f64,
    /// 15-minute load.
    pub fifteen: f64,
}

/// One configured mount point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskObs {
    /// Mount point as configured.
    pub mount: String,
    /// Usage, or why it could not be read.
    pub usage: Result<DiskUsage, String>,
}

/// A line of `df -P -k`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskUsage {
    /// Device or filesystem name.
    pub filesystem: String,
    /// Size in bytes.
    pub total_bytes: u64,
    /// Used bytes.
    pub used_bytes: u64,
    /// Available bytes (to non-root).
    pub avail_bytes: u64,
    /// Used percent as `df` computes it: used / (used + avail).
    pub used_percent: f64,
    /// Where it is actually mounted (may differ from the configured path).
    pub mounted_on: String,
}

/// State of a service, as in the `status --json` contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceState {
    /// Up.
    Running,
    /// Cleanly not running.
    Stopped,
    /// Crashed, failed unit, non-zero exit of a check.
    Failed,
    /// Could not tell (tool missing, probe error).
    Unknown,
}

/// One configured service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceObs {
    /// Service name as configured.
    pub name: String,
    /// Its state.
    pub state: ServiceState,
    /// One line of detail ("active (running) since …", "exit 3: …", "HTTP 503").
    pub detail: String,
    /// When it entered its current state, if the tool says (host clock, epoch seconds).
    pub since: Option<i64>,
    /// Restart count, if the tool says.
    pub restarts: Option<u64>,
}

/// One configured backup set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupObs {
    /// Backup set name.
    pub name: String,
    /// Newest file, `Ok(None)` when the directory holds no matching file.
    pub latest: Result<Option<BackupFile>, String>,
    /// The one before the newest, for size comparisons.
    pub previous: Option<BackupFile>,
}

/// One backup file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupFile {
    /// Full path on the host.
    pub path: String,
    /// Modification time, epoch seconds (host clock).
    pub mtime: i64,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// A value read from a chain node, which may be missing for a good reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", content = "value", rename_all = "kebab-case")]
pub enum Metric<T> {
    /// The node answered.
    Value(T),
    /// The node does not implement the method (JSON-RPC -32601): shown as unavailable, never 0.
    Unavailable(String),
    /// The call failed (timeout, bad reply).
    Error(String),
}

impl<T> Metric<T> {
    /// The value, if the node gave one.
    pub fn value(&self) -> Option<&T> {
        match self {
            Metric::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// The chain node on a host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainObs {
    /// Dialect.
    pub kind: ChainKind,
    /// Block (or epoch) height.
    pub height: Metric<u64>,
    /// Whether the node says it is syncing.
    pub syncing: Metric<bool>,
    /// Peer count.
    pub peers: Metric<u64>,
    /// Client version string, if offered.
    pub client: Option<String>,
}

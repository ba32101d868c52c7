//! Observations: the raw facts one poll of one host produced.
//!
//! An [`Observation`] is what the poller sends to the state store; it carries no judgement
//! (health rules live in `health`) and no rendering. Probe parsers build the parts of it from
//! command output and RPC replies. Times are passed in by the caller, never read here.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::inventory::{ChainKind, NodeRole};

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
    /// A jump host on the way could not be reached: the reason is the bastion's own, and every
    /// host behind it shows the same one.
    Bastion,
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
    /// This poll did not list the backups (they are read on a slower cadence, see
    /// `probe::Schedule`): `backups` is then empty and the state store keeps the previous
    /// reading, with the time it was taken.
    pub backups_skipped: bool,
    /// The chain node, when one is configured.
    pub chain: Option<ChainObs>,
    /// Problems with the probe itself (a section missing, output truncated, unparsable output).
    pub probe_errors: Vec<String>,
    /// Host facts (kernel, CPU, memory, filesystems, MACs, logins, DMI); `Some` only on the
    /// polls whose plan included them (they are probed on a slower cadence, see
    /// `probe::Schedule`). The state store moves them into `HostState::facts` (as it does
    /// certificates and logs), so they are read from there, with the time they were taken.
    pub facts: Option<Box<HostFacts>>,
    /// One entry per configured certificate, in inventory order; `Some` only when read in
    /// this poll.
    pub certs: Option<Vec<CertObs>>,
    /// One entry per configured log, in inventory order; `Some` only when tailed in this poll.
    pub logs: Option<Vec<LogObs>>,
    /// The security posture (sshd settings, listening ports, root's history); `Some` only
    /// when read in this poll (slow cadence, like certificates).
    pub posture: Option<Box<crate::posture::PostureObs>>,
    /// Output explaining why a service is failed, for the services that are failed in this poll
    /// (a `command` service's own output, a failed systemd unit's last journal lines).
    pub service_failures: Vec<ServiceFailure>,
    /// What the chain node says beyond height, sync and peers (consensus lists, PBFT view,
    /// Conflux status), when a chain is configured.
    pub chain_detail: Option<Box<ChainDetail>>,
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

    /// The value, or `None` with why it is missing recorded under `name` (for the
    /// `unavailable` maps of reports: the reason, or `error: …`).
    pub fn value_or_note(
        &self,
        name: &'static str,
        unavailable: &mut std::collections::BTreeMap<&'static str, String>,
    ) -> Option<T>
    where
        T: Clone,
    {
        match self {
            Metric::Value(v) => Some(v.clone()),
            Metric::Unavailable(why) => {
                unavailable.insert(name, why.clone());
                None
            }
            Metric::Error(e) => {
                unavailable.insert(name, format!("error: {e}"));
                None
            }
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

/// Why a service is failed, in the words of the service itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceFailure {
    /// Index of the service in the host's `services`.
    pub index: usize,
    /// Service name.
    pub name: String,
    /// Where the lines come from.
    pub source: FailureSource,
    /// The last lines (oldest first), at most a handful, each shortened.
    pub lines: Vec<String>,
}

/// Where a failure's lines come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureSource {
    /// The check command's stdout and stderr.
    Output,
    /// `journalctl -u UNIT -n 5` of a failed unit.
    Journal,
}

/// Facts about a host, in the spirit of the server-inventory script in the manuals. Every part
/// is a [`Metric`]: a tool the host lacks is unavailable, never an empty value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostFacts {
    /// `uname -snrm`.
    pub kernel: Metric<KernelInfo>,
    /// `PRETTY_NAME` of `/etc/os-release`.
    pub os: Metric<String>,
    /// `/proc/cpuinfo`.
    pub cpu: Metric<CpuInfo>,
    /// `/proc/meminfo`.
    pub memory: Metric<MemoryInfo>,
    /// `df -P -k -T`, pseudo filesystems left out.
    pub filesystems: Metric<Vec<Filesystem>>,
    /// `/sys/class/net/*/address`, loopback and all-zero addresses left out.
    pub interfaces: Metric<Vec<NetInterface>>,
    /// `last -n 5 -w` (newest first).
    pub logins: Metric<Vec<Login>>,
    /// `/sys/class/dmi/id/*` (the readable ones: serials are root-only).
    pub dmi: Metric<DmiInfo>,
}

/// `uname -snrm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelInfo {
    /// `Linux`.
    pub os: String,
    /// Node name.
    pub hostname: String,
    /// Kernel release, `6.1.0-13-amd64`.
    pub release: String,
    /// `x86_64`.
    pub machine: String,
}

/// CPUs from `/proc/cpuinfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuInfo {
    /// Logical CPUs (`processor` entries).
    pub count: u32,
    /// Distinct `physical id`s, when the kernel lists them.
    pub sockets: Option<u32>,
    /// Each model name with how many logical CPUs carry it (the manual's `model (*N)`).
    pub models: Vec<CpuModel>,
}

/// One CPU model and its count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuModel {
    /// `model name` (whitespace squeezed).
    pub name: String,
    /// Logical CPUs with it.
    pub count: u32,
}

/// Memory and swap from `/proc/meminfo`, in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryInfo {
    /// `MemTotal`.
    pub total_bytes: u64,
    /// `MemAvailable` (kernels since 3.14), else free + buffers + cached.
    pub available_bytes: u64,
    /// `SwapTotal`.
    pub swap_total_bytes: u64,
    /// `SwapFree`.
    pub swap_free_bytes: u64,
}

/// One mounted filesystem.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Filesystem {
    /// `ext4`, `xfs`, `nfs4`… when `df -T` said.
    pub fs_type: Option<String>,
    /// Its `df` line.
    pub usage: DiskUsage,
}

/// A network interface with a hardware address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetInterface {
    /// `eth0`.
    pub name: String,
    /// `52:54:00:12:34:56`.
    pub mac: String,
    /// `up`, `down`, `unknown` (from `operstate`).
    pub state: Option<String>,
}

/// One line of `last`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Login {
    /// User, or `reboot`.
    pub user: String,
    /// Terminal (`pts/0`, `system boot`).
    pub tty: String,
    /// Remote host or kernel release (for reboots).
    pub from: String,
    /// When, epoch seconds, when `last` printed a full time (`--time-format iso`).
    pub at: Option<i64>,
    /// When, as printed (host's local time).
    pub when: String,
    /// `still logged in`, `gone - no logout`, `(00:32)`, …
    pub session: String,
    /// Between 00:00 and 06:59 host local time: what the manual's script looks for.
    pub night: bool,
}

/// DMI (BIOS) identification, each field only when readable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DmiInfo {
    /// `sys_vendor`.
    pub vendor: Option<String>,
    /// `product_name`.
    pub product: Option<String>,
    /// `product_version`.
    pub version: Option<String>,
    /// `product_serial` (root only).
    pub serial: Option<String>,
    /// `product_uuid` (root only).
    pub uuid: Option<String>,
    /// `bios_vendor`.
    pub bios_vendor: Option<String>,
    /// `bios_version`.
    pub bios_version: Option<String>,
    /// `bios_date`.
    pub bios_date: Option<String>,
    /// `board_name`.
    pub board: Option<String>,
}

/// One configured certificate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertObs {
    /// Name as configured.
    pub name: String,
    /// Path as configured.
    pub path: String,
    /// What `openssl x509` read, unavailable without openssl on the host.
    pub info: Metric<CertInfo>,
}

/// The parts of a certificate fleetdeck shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// `notAfter`, epoch seconds.
    pub not_after: i64,
    /// `notBefore`, epoch seconds.
    pub not_before: Option<i64>,
    /// Subject as openssl prints it.
    pub subject: String,
    /// Issuer as openssl prints it.
    pub issuer: Option<String>,
}

/// One configured log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogObs {
    /// Name as configured.
    pub name: String,
    /// What its tail says, or why it could not be read.
    pub summary: Result<LogSummary, String>,
}

/// Severity of a FISCO BCOS log line, from small to large.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogLevel {
    /// `trace`.
    Trace,
    /// `debug`.
    Debug,
    /// `info`.
    Info,
    /// `warning` (also `warn`).
    Warning,
    /// `error`.
    Error,
    /// `fatal`.
    Fatal,
}

/// Counts over a log's tail.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LogSummary {
    /// Lines read (at most the configured `lines`).
    pub lines_read: u32,
    /// The window the counts cover, seconds back from the host's clock. Lines without a time
    /// (plain files) are all counted.
    pub window_seconds: u64,
    /// Whether the tail reaches back past the window start; when false there were more lines
    /// in the window than were read, and the counts are a lower bound.
    pub window_complete: bool,
    /// Error lines in the window: FISCO `error`/`fatal`, or any line matching a pattern.
    pub errors: u64,
    /// FISCO `warning` lines in the window (that matched no pattern).
    pub warnings: u64,
    /// Lines in the window matching a configured pattern.
    pub pattern_matches: u64,
    /// FISCO errors and warnings per module, most errors first.
    pub by_module: Vec<ModuleCount>,
    /// The last few error, warning and matching lines in the window (oldest first).
    pub recent: Vec<LogLine>,
    /// The last lines of the tail, whatever they say (oldest first), for the Logs pane.
    pub tail: Vec<LogLine>,
    /// Time of the newest line with a time, epoch seconds.
    pub newest_at: Option<i64>,
}

/// Errors and warnings of one FISCO module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleCount {
    /// `CONSENSUS`, `SYNC`, `SCHEDULER`, …
    pub module: String,
    /// Error and fatal lines.
    pub errors: u64,
    /// Warning lines.
    pub warnings: u64,
}

/// One log line kept for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Epoch seconds, when the line carries a time.
    pub at: Option<i64>,
    /// FISCO level.
    pub level: Option<LogLevel>,
    /// FISCO module.
    pub module: Option<String>,
    /// The line (shortened), without the journal's prefix.
    pub text: String,
}

/// What a chain node says beyond height, sync and peers. Fields its dialect has no call for are
/// unavailable ("not asked for this chain kind").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainDetail {
    /// The node's own id (FISCO `getSyncStatus` `nodeId`/`nodeID`).
    pub node_id: Option<String>,
    /// Consensus (sealer) node ids on chain (FISCO `getSealerList`).
    pub sealers: Metric<Vec<String>>,
    /// Observer node ids on chain (FISCO `getObserverList`).
    pub observers: Metric<Vec<String>>,
    /// PBFT view (FISCO `getPbftView`).
    pub pbft_view: Metric<u64>,
    /// Highest block the node knows of on the network (FISCO `knownHighestNumber`).
    pub known_highest: Option<u64>,
    /// Conflux `cfx_getStatus`.
    pub cfx_status: Metric<CfxStatus>,
}

impl ChainDetail {
    /// The role the chain itself gives this node: consensus when its id is in the sealer list,
    /// observer when in the observer list, free when in neither; `None` when the lists or the
    /// id are unknown.
    pub fn observed_role(&self) -> Option<NodeRole> {
        let id = self.node_id.as_deref()?;
        let (Metric::Value(sealers), Metric::Value(observers)) = (&self.sealers, &self.observers)
        else {
            return None;
        };
        let same = |x: &String| x.eq_ignore_ascii_case(id);
        Some(if sealers.iter().any(same) {
            NodeRole::Consensus
        } else if observers.iter().any(same) {
            NodeRole::Observer
        } else {
            NodeRole::Free
        })
    }
}

/// Conflux `cfx_getStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CfxStatus {
    /// `chainId`.
    pub chain_id: u64,
    /// `networkId`.
    pub network_id: Option<u64>,
    /// `epochNumber`.
    pub epoch_number: u64,
    /// `blockNumber`.
    pub block_number: Option<u64>,
    /// `pendingTxNumber`.
    pub pending_tx: Option<u64>,
    /// `latestConfirmed`.
    pub latest_confirmed: Option<u64>,
    /// `latestFinalized` (PoS finality, newer nodes).
    pub latest_finalized: Option<u64>,
    /// `latestCheckpoint`.
    pub latest_checkpoint: Option<u64>,
    /// `latestState`.
    pub latest_state: Option<u64>,
}

/// Where a status cell's value came from (`"source"` in `status --json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellSource {
    /// fleetdeck's own poll over the host's transport.
    #[default]
    Ssh,
    /// Read from Prometheus (`crate::prom_source`).
    Prometheus,
}

/// The source of each every-poll cell of a host's `Probed`; a cell not listed (an index past
/// the end) is [`CellSource::Ssh`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellSources {
    /// `load`.
    pub load: CellSource,
    /// `uptime`.
    pub uptime: CellSource,
    /// `chain`.
    pub chain: CellSource,
    /// `disks`, by index.
    pub disks: Vec<CellSource>,
    /// `services`, by index.
    pub services: Vec<CellSource>,
    /// `backups`, by index.
    pub backups: Vec<CellSource>,
}

impl CellSources {
    /// Every cell of `probed` from `source`.
    pub fn all(source: CellSource, probed: &Probed) -> CellSources {
        CellSources {
            load: source,
            uptime: source,
            chain: source,
            disks: vec![source; probed.disks.len()],
            services: vec![source; probed.services.len()],
            backups: vec![source; probed.backups.len()],
        }
    }

    /// Disk `k`'s source.
    pub fn disk(&self, k: usize) -> CellSource {
        self.disks.get(k).copied().unwrap_or_default()
    }

    /// Service `k`'s source.
    pub fn service(&self, k: usize) -> CellSource {
        self.services.get(k).copied().unwrap_or_default()
    }

    /// Backup set `k`'s source.
    pub fn backup(&self, k: usize) -> CellSource {
        self.backups.get(k).copied().unwrap_or_default()
    }

    /// Whether any cell came from Prometheus.
    pub fn any_prometheus(&self) -> bool {
        let p = CellSource::Prometheus;
        self.load == p
            || self.uptime == p
            || self.chain == p
            || self.disks.contains(&p)
            || self.services.contains(&p)
            || self.backups.contains(&p)
    }
}

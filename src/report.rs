//! Headless views of the fleet state, and the two things the console shares with them: the
//! `status --json` document, the fleet row ([`FleetRow`], one host's line of the `status` table
//! and of the console's fleet table, which only adds how old each cell is), the host counts
//! ([`Summary`], also the console's status line) and the monitoring plugin exit code.
//!
//! Must not import `view` or `ui`: they build on this, not the other way round. Callers:
//! `cli::status`, `view` (fleet rows, summary) and `ui` (the clock's text).
//!
//! Pure: everything is computed from the inventory, the state store, the health verdicts and a
//! `now` passed in. The JSON shape is a contract (docs/status-json.md): add fields, never rename.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use std::collections::BTreeMap;

use crate::health::{self, HostHealth, Severity, Status};
use crate::inventory::{ChainKind, Fleet, NodeRole, StatusSource};
use crate::observation::{
    CellSource, CpuInfo, DmiInfo, Filesystem, KernelInfo, Login, MemoryInfo, Metric, ModuleCount,
    NetInterface, ServiceState, UnreachableKind,
};
use crate::state::FleetState;
use crate::units::{epoch_secs, short_duration};

mod rows;
pub use rows::{FLEET_CELLS, FleetKeys, FleetRow, fleet_row, fleet_rows, status_table};

/// The whole `status --json` document.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// Fleet name.
    pub fleet: String,
    /// When the report was made (UTC, RFC 3339).
    pub generated_at: String,
    /// Counts over the selected hosts.
    pub summary: Summary,
    /// One entry per selected host, inventory order.
    pub hosts: Vec<HostReport>,
    /// The status sources besides SSH (`[prometheus]` servers), empty without them.
    pub sources: Vec<SourceReport>,
    /// The status table's rows, one per entry of `hosts`: built from the same state, not part
    /// of the JSON document.
    #[serde(skip)]
    pub rows: Vec<FleetRow>,
}

/// One status source (`sources[]`).
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    /// `prometheus`.
    pub kind: &'static str,
    /// Its URL, redacted to scheme, host and port.
    pub url: String,
    /// Whether its latest round answered.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// Seconds since it last answered; `null` when it never did.
    pub age_seconds: Option<u64>,
}

/// A user column on one host (`hosts[].columns[]`).
#[derive(Debug, Clone, Serialize)]
pub struct ColumnReport {
    /// Column name.
    pub name: String,
    /// Its value, `null` without a series for the host.
    pub value: Option<f64>,
    /// `ok`, `warning` or `critical` against its `warn`/`crit`; `unknown` without a value.
    pub status: Status,
    /// Always `prometheus`.
    pub source: CellSource,
    /// Prometheus's refusal of the query, when it refused it.
    pub error: Option<String>,
}

/// Counts over a set of hosts: the `summary` of `status --json` (the hosts in the report) and
/// the console's status line (the hosts shown).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Hosts counted.
    pub hosts: usize,
    /// Hosts whose latest poll reached them.
    pub reachable: usize,
    /// Hosts with status ok.
    pub ok: usize,
    /// Hosts with status warning.
    pub warning: usize,
    /// Hosts with status critical.
    pub critical: usize,
    /// Hosts with status unknown.
    pub unknown: usize,
    /// Hosts with at least one stale cell. Only the console counts it (its data ages while it
    /// is open); `status` reads everything once, so it is 0 there and not part of the JSON
    /// document (docs/status-json.md).
    #[serde(skip)]
    pub stale: usize,
}

impl Summary {
    /// Counts one more host.
    pub fn count(&mut self, status: Status, reachable: bool, stale: bool) {
        self.hosts += 1;
        self.reachable += usize::from(reachable);
        self.stale += usize::from(stale);
        match status {
            Status::Ok => self.ok += 1,
            Status::Warning => self.warning += 1,
            Status::Critical => self.critical += 1,
            Status::Unknown => self.unknown += 1,
        }
    }
}

/// One host in `status --json`.
#[derive(Debug, Serialize)]
pub struct HostReport {
    /// Inventory name.
    pub name: String,
    /// Address from the inventory.
    pub address: String,
    /// Groups from the inventory.
    pub groups: Vec<String>,
    /// Region from the inventory (the host's own or its profile's).
    pub region: Option<String>,
    /// Jump hosts the host is reached through, in order from this machine outward: inventory
    /// names where a hop is an inventory host, else as written; `[]` when direct.
    pub via: Vec<String>,
    /// Whether the latest poll reached the host.
    pub reachable: bool,
    /// Why it was not reachable.
    pub error: Option<String>,
    /// Class of the error (`connect`, `timeout`, `host-key-unknown`, `host-key-changed`, `auth`, …).
    pub error_kind: Option<UnreachableKind>,
    /// Seconds until the next connection attempt when backing off.
    pub retry_in_seconds: Option<u64>,
    /// ok | warning | critical | unknown.
    pub status: Status,
    /// Services, inventory order.
    pub services: Vec<ServiceReport>,
    /// The chain node, when configured and observed.
    pub chain: Option<ChainReport>,
    /// Disks, inventory order.
    pub disks: Vec<DiskReport>,
    /// Backup sets, inventory order.
    pub backups: Vec<BackupReport>,
    /// 1/5/15-minute load.
    pub load: Option<[f64; 3]>,
    /// Seconds since boot.
    pub uptime_seconds: Option<u64>,
    /// How long the poll took, in milliseconds.
    pub poll_ms: Option<u64>,
    /// How this run's connection attempt went, when this run made one (`fleetdeck status`
    /// fills it in from its transports; the store does not know it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect: Option<ConnectReport>,
    /// Failed health rules, worst first.
    pub alerts: Vec<AlertReport>,
    /// Host facts (kernel, CPU, memory, filesystems, MACs, logins, DMI), when read.
    pub facts: Option<FactsReport>,
    /// Certificates, inventory order (empty when none are configured).
    pub certs: Vec<CertReport>,
    /// Logs, inventory order (empty when none are configured).
    pub logs: Vec<LogReport>,
    /// The security posture, when enabled for the host and read (`docs/posture.md`).
    pub posture: Option<crate::posture::PostureReport>,
    /// The host's consensus group, when it has one.
    pub consensus: Option<ConsensusReport>,
    /// Where `load` came from (`ssh`, `prometheus`); `null` without a load.
    pub load_source: Option<CellSource>,
    /// Where its status is read from: `ssh` (default), `prometheus` or `both`.
    pub status_source: StatusSource,
    /// Seconds since Prometheus last gave a reading of the host; `null` when never or
    /// without `[prometheus]`.
    pub prometheus_age_seconds: Option<u64>,
    /// `[[prometheus.columns]]`, in order; empty without them.
    pub columns: Vec<ColumnReport>,
}

/// Host facts in `status --json`: each part `null` when it could not be read, with the reason
/// One connection attempt: the wait for a handshake turn (bounded concurrency, not counted in
/// `connect_timeout`) and the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConnectReport {
    /// Milliseconds waiting for a handshake turn.
    pub queued_ms: u64,
    /// Milliseconds of the handshake itself.
    pub handshake_ms: u64,
    /// Whether it connected.
    pub connected: bool,
}

/// in `unavailable`.
#[derive(Debug, Serialize)]
pub struct FactsReport {
    /// Seconds since the facts were read.
    pub age_seconds: u64,
    /// `uname -snrm`.
    pub kernel: Option<KernelInfo>,
    /// Distribution.
    pub os: Option<String>,
    /// CPUs.
    pub cpu: Option<CpuInfo>,
    /// Memory and swap.
    pub memory: Option<MemoryInfo>,
    /// Real filesystems.
    pub filesystems: Option<Vec<FilesystemReport>>,
    /// Interfaces with a MAC address.
    pub interfaces: Option<Vec<NetInterface>>,
    /// Latest logins, newest first.
    pub logins: Option<Vec<Login>>,
    /// BIOS / DMI identification.
    pub dmi: Option<DmiInfo>,
    /// Parts that could not be read, with the reason.
    pub unavailable: BTreeMap<&'static str, String>,
}

/// One filesystem of the facts.
#[derive(Debug, Serialize)]
pub struct FilesystemReport {
    /// Device.
    pub filesystem: String,
    /// Type, when `df -T` said.
    pub fs_type: Option<String>,
    /// Mount point.
    pub mount: String,
    /// Size.
    pub total_bytes: u64,
    /// Used.
    pub used_bytes: u64,
    /// Available to non-root.
    pub avail_bytes: u64,
    /// Used percent.
    pub used_percent: f64,
}

/// One certificate.
#[derive(Debug, Serialize)]
pub struct CertReport {
    /// Name.
    pub name: String,
    /// Path on the host.
    pub path: String,
    /// `notAfter`, UTC RFC 3339.
    pub not_after: Option<String>,
    /// Days until it expires against the host's clock (negative once expired).
    pub days_left: Option<f64>,
    /// Subject as openssl prints it.
    pub subject: Option<String>,
    /// Whether it has expired.
    pub expired: bool,
    /// Why it could not be read.
    pub error: Option<String>,
}

/// One log.
#[derive(Debug, Serialize)]
pub struct LogReport {
    /// Name.
    pub name: String,
    /// Lines read from its end.
    pub lines_read: Option<u32>,
    /// The window the counts cover, seconds.
    pub window_seconds: Option<u64>,
    /// Whether the lines read reach back past the window start.
    pub window_complete: Option<bool>,
    /// Error lines (FISCO error/fatal, or matching a pattern) in the window.
    pub errors: Option<u64>,
    /// FISCO warning lines in the window.
    pub warnings: Option<u64>,
    /// Lines matching a pattern in the window.
    pub pattern_matches: Option<u64>,
    /// FISCO errors and warnings per module.
    pub by_module: Vec<ModuleCount>,
    /// The last few error, warning and matching lines.
    pub recent: Vec<String>,
    /// Why it could not be read.
    pub error: Option<String>,
}

/// The host's consensus group.
#[derive(Debug, Serialize)]
pub struct ConsensusReport {
    /// Group name.
    pub group: String,
    /// Role in the inventory.
    pub role: NodeRole,
    /// Role the chain gives it, when known.
    pub observed_role: Option<NodeRole>,
    /// Whether this member counts as healthy.
    pub healthy: bool,
    /// Why not.
    pub problem: Option<String>,
    /// Consensus members (N).
    pub n: usize,
    /// Faults tolerated, ⌊(N−1)/3⌋.
    pub f: usize,
    /// Healthy consensus members.
    pub healthy_members: usize,
    /// One more failure stalls the group.
    pub one_failure_from_stalling: bool,
    /// More than F members are down.
    pub stalled: bool,
}

/// One service.
#[derive(Debug, Serialize)]
pub struct ServiceReport {
    /// Name.
    pub name: String,
    /// running | stopped | failed | unknown.
    pub state: ServiceState,
    /// One line of detail.
    pub detail: String,
    /// When it entered its state by its own tool (UTC, RFC 3339).
    pub since: Option<String>,
    /// Restarts the tool reports (systemd `NRestarts`, docker `RestartCount`).
    pub restarts: Option<u64>,
    /// Restarts seen by this process across polls (always 0 for a one-shot `status`).
    pub restarts_seen: u64,
    /// Last lines of output or journal of the latest failure.
    pub failure_output: Vec<String>,
    /// Where the state came from: `ssh` or `prometheus`.
    pub source: CellSource,
}

/// The chain node.
#[derive(Debug, Serialize)]
pub struct ChainReport {
    /// Dialect.
    pub kind: ChainKind,
    /// Height, `null` when unavailable or failed.
    pub height: Option<u64>,
    /// Syncing flag, `null` when unavailable.
    pub syncing: Option<bool>,
    /// Peer count, `null` when the node does not say (never 0 for "unknown").
    pub peers: Option<u64>,
    /// Blocks behind the best node of the same chain.
    pub lag: Option<u64>,
    /// Client version.
    pub client: Option<String>,
    /// Metrics the node could not give, with the reason (`{"peers": "not supported by this node"}`).
    pub unavailable: std::collections::BTreeMap<&'static str, String>,
    /// Blocks per minute over recent polls (`null` for a one-shot `status`).
    pub blocks_per_minute: Option<f64>,
    /// Consensus role in the inventory.
    pub role: NodeRole,
    /// Role the chain gives the node (FISCO sealer/observer lists), when known.
    pub observed_role: Option<NodeRole>,
    /// The node's own id, when the node says (FISCO).
    pub node_id: Option<String>,
    /// Sealers the chain lists (FISCO), when asked.
    pub sealers: Option<usize>,
    /// Observers the chain lists (FISCO), when asked.
    pub observers: Option<usize>,
    /// PBFT view (FISCO), when asked.
    pub pbft_view: Option<u64>,
    /// Where height and peers came from: `ssh` or `prometheus`.
    pub source: CellSource,
}

/// One disk.
#[derive(Debug, Serialize)]
pub struct DiskReport {
    /// Mount point.
    pub mount: String,
    /// Used percent.
    pub used_percent: Option<f64>,
    /// Available bytes.
    pub avail_bytes: Option<u64>,
    /// Total bytes.
    pub total_bytes: Option<u64>,
    /// Why it could not be read.
    pub error: Option<String>,
    /// Growth of used bytes per day from the usage history (`null` until enough history).
    pub trend_bytes_per_day: Option<f64>,
    /// Days until full at that rate (`null` when not growing or not enough history).
    pub days_until_full: Option<f64>,
    /// Where the usage came from: `ssh` or `prometheus`.
    pub source: CellSource,
}

/// One backup set.
#[derive(Debug, Serialize)]
pub struct BackupReport {
    /// Set name.
    pub name: String,
    /// Path of the newest file.
    pub latest: Option<String>,
    /// Its age in seconds (host clock).
    pub age_seconds: Option<u64>,
    /// Its size.
    pub size_bytes: Option<u64>,
    /// Older than 1.5 × the set's `every`, or missing.
    pub stale: bool,
    /// Why the set could not be read.
    pub error: Option<String>,
    /// Size of the backup before the newest.
    pub previous_size_bytes: Option<u64>,
    /// Size change of the newest against it, percent (−95 = 95% smaller).
    pub size_change_percent: Option<f64>,
    /// At least `backup_shrink_percent` smaller than the one before.
    pub shrunk: bool,
    /// Where the reading came from: `ssh` or `prometheus`.
    pub source: CellSource,
}

/// One alert.
#[derive(Debug, Serialize)]
pub struct AlertReport {
    /// warning | critical.
    pub severity: Severity,
    /// Rule name.
    pub rule: &'static str,
    /// Message.
    pub message: String,
    /// What on the host it is about (service, mount, backup, cert, log, `chain`, group).
    pub subject: String,
    /// The measured value.
    pub value: Option<String>,
}

/// Builds the report for the hosts in `selected`.
pub fn status_report(
    fleet: &Fleet,
    state: &FleetState,
    health: &[HostHealth],
    selected: &[usize],
    now: SystemTime,
) -> StatusReport {
    let mut summary = Summary::default();
    let groups = health::consensus_groups(fleet, state, now);
    let hosts: Vec<HostReport> = selected
        .iter()
        .map(|&i| host_report(fleet, state, &health[i], &groups, i, now))
        .collect();
    for h in &hosts {
        summary.count(h.status, h.reachable, false);
    }
    let rows = selected
        .iter()
        .map(|&i| fleet_row(fleet, state, &health[i], i, now))
        .collect();
    StatusReport {
        fleet: fleet.name.clone(),
        generated_at: rfc3339(now),
        summary,
        hosts,
        sources: source_reports(state, now),
        rows,
    }
}

/// `sources[]`: each Prometheus server's latest round.
pub fn source_reports(state: &FleetState, now: SystemTime) -> Vec<SourceReport> {
    state
        .sources
        .iter()
        .map(|s| SourceReport {
            kind: s.kind,
            url: s.url.clone(),
            ok: s.ok,
            error: s.error.clone(),
            age_seconds: s
                .last_ok
                .map(|t| now.duration_since(t).unwrap_or_default().as_secs()),
        })
        .collect()
}

fn host_report(
    fleet: &Fleet,
    state: &FleetState,
    health: &HostHealth,
    groups: &[health::GroupHealth],
    i: usize,
    now: SystemTime,
) -> HostReport {
    let host = &fleet.hosts[i];
    let hs = &state.hosts[i];
    let reachable = hs.reachable() == Some(true);
    // Data from an earlier poll is not reported as current for an unreachable host; a
    // `source = "both"` host then shows what Prometheus says.
    let (p, cells) = if reachable {
        (hs.probed.as_ref(), hs.cells.clone())
    } else {
        (hs.fallback(), hs.fallback_cells())
    };
    let host_now = p
        .and_then(|p| p.host_time)
        .unwrap_or_else(|| epoch_secs(now));
    let services = match p {
        Some(p) => p
            .services
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let track = hs.service(&s.name);
                ServiceReport {
                    name: s.name.clone(),
                    state: s.state,
                    detail: s.detail.clone(),
                    since: s.since.map(epoch_rfc3339),
                    restarts: s.restarts,
                    restarts_seen: track.map_or(0, |t| t.restarts_seen),
                    failure_output: track
                        .and_then(|t| t.last_failure.as_ref())
                        .filter(|_| s.state != ServiceState::Running)
                        .map(|f| f.lines.clone())
                        .unwrap_or_default(),
                    source: cells.service(k),
                }
            })
            .collect(),
        None => host
            .services
            .iter()
            .map(|s| ServiceReport {
                name: s.name.clone(),
                state: ServiceState::Unknown,
                detail: "host not reached".into(),
                since: None,
                restarts: None,
                restarts_seen: hs.service(&s.name).map_or(0, |t| t.restarts_seen),
                failure_output: Vec::new(),
                source: CellSource::default(),
            })
            .collect(),
    };
    let chain = p.and_then(|p| p.chain.as_ref()).map(|c| {
        let mut unavailable = std::collections::BTreeMap::new();
        for (name, why) in [
            ("height", metric_reason(&c.height)),
            ("syncing", metric_reason(&c.syncing)),
            ("peers", metric_reason(&c.peers)),
        ] {
            if let Some(why) = why {
                unavailable.insert(name, why);
            }
        }
        let detail = p.and_then(|p| p.chain_detail.as_ref());
        ChainReport {
            kind: c.kind,
            height: c.height.value().copied(),
            syncing: c.syncing.value().copied(),
            peers: c.peers.value().copied(),
            lag: health.lag,
            client: c.client.clone(),
            unavailable,
            blocks_per_minute: hs.blocks_per_minute(),
            role: host.role,
            observed_role: detail.and_then(|d| d.observed_role()),
            node_id: detail.and_then(|d| d.node_id.clone()),
            sealers: detail.and_then(|d| d.sealers.value().map(Vec::len)),
            observers: detail.and_then(|d| d.observers.value().map(Vec::len)),
            pbft_view: detail.and_then(|d| d.pbft_view.value().copied()),
            source: cells.chain,
        }
    });
    let disks = host
        .disks
        .iter()
        .enumerate()
        .map(|(k, d)| {
            let trend = hs
                .disks
                .iter()
                .find(|h| h.mount == d.mount)
                .and_then(|h| h.trend());
            match p.and_then(|p| p.disks.get(k)).map(|o| &o.usage) {
                Some(Ok(u)) => {
                    // fleetdeck's own series carry the ratio only: no byte counts to show.
                    let bytes = !(cells.disk(k) == CellSource::Prometheus && u.total_bytes == 0);
                    DiskReport {
                        mount: d.mount.clone(),
                        used_percent: Some(u.used_percent),
                        avail_bytes: bytes.then_some(u.avail_bytes),
                        total_bytes: bytes.then_some(u.total_bytes),
                        error: None,
                        trend_bytes_per_day: trend.map(|t| t.bytes_per_day),
                        days_until_full: trend.and_then(|t| t.days_until_full),
                        source: cells.disk(k),
                    }
                }
                other => DiskReport {
                    mount: d.mount.clone(),
                    used_percent: None,
                    avail_bytes: None,
                    total_bytes: None,
                    error: Some(match other {
                        Some(Err(e)) => e.clone(),
                        _ => "not observed".into(),
                    }),
                    trend_bytes_per_day: None,
                    days_until_full: None,
                    source: cells.disk(k),
                },
            }
        })
        .collect();
    let backups = host
        .backups
        .iter()
        .enumerate()
        .map(|(k, set)| {
            let obs = p.and_then(|p| p.backups.get(k));
            let stale_after = set.every.as_secs_f64() * 1.5;
            match obs.map(|b| &b.latest) {
                Some(Ok(Some(f))) => {
                    let age = host_now.saturating_sub(f.mtime).max(0) as u64;
                    let change = obs.and_then(health::backup_change);
                    BackupReport {
                        name: set.name.clone(),
                        latest: Some(f.path.clone()),
                        age_seconds: Some(age),
                        size_bytes: Some(f.size_bytes),
                        stale: age as f64 > stale_after,
                        error: None,
                        previous_size_bytes: change.map(|c| c.previous_bytes),
                        size_change_percent: change.map(|c| c.percent),
                        shrunk: change
                            .is_some_and(|c| c.shrunk(host.thresholds.backup_shrink_percent)),
                        source: cells.backup(k),
                    }
                }
                Some(Ok(None)) => BackupReport {
                    name: set.name.clone(),
                    latest: None,
                    age_seconds: None,
                    size_bytes: None,
                    stale: true,
                    error: Some("no matching file".into()),
                    previous_size_bytes: None,
                    size_change_percent: None,
                    shrunk: false,
                    source: cells.backup(k),
                },
                other => BackupReport {
                    name: set.name.clone(),
                    latest: None,
                    age_seconds: None,
                    size_bytes: None,
                    stale: false,
                    error: Some(match other {
                        Some(Err(e)) => e.clone(),
                        _ => "not observed".into(),
                    }),
                    previous_size_bytes: None,
                    size_change_percent: None,
                    shrunk: false,
                    source: cells.backup(k),
                },
            }
        })
        .collect();
    HostReport {
        name: host.name.clone(),
        address: host.address.clone(),
        groups: host.groups.clone(),
        region: host.region.clone(),
        via: host.via.clone(),
        reachable,
        error: hs.error.as_ref().map(|e| e.message.clone()),
        error_kind: hs.error.as_ref().map(|e| e.kind),
        retry_in_seconds: hs
            .error
            .as_ref()
            .and_then(|e| e.retry_in)
            .map(|d| d.as_secs()),
        status: health.status,
        services,
        chain,
        disks,
        backups,
        load: p.and_then(|p| p.load).map(|l| [l.one, l.five, l.fifteen]),
        uptime_seconds: p.and_then(|p| p.uptime).map(|u| u.as_secs()),
        poll_ms: hs.poll_elapsed.map(|d| d.as_millis() as u64),
        connect: None,
        alerts: health
            .alerts
            .iter()
            .map(|a| AlertReport {
                severity: a.severity,
                rule: a.rule,
                message: a.message.clone(),
                subject: a.subject.clone(),
                value: a.value.clone(),
            })
            .collect(),
        facts: facts_report(hs, now),
        certs: cert_reports(host, hs, host_now),
        logs: log_reports(host, hs),
        posture: crate::posture::report(host, hs, now),
        consensus: consensus_report(fleet, groups, i),
        load_source: p.and_then(|p| p.load).map(|_| cells.load),
        status_source: fleet.status_source(i),
        prometheus_age_seconds: hs
            .prom
            .as_ref()
            .map(|t| now.duration_since(t.at).unwrap_or_default().as_secs()),
        columns: column_reports(fleet, hs),
    }
}

/// `hosts[].columns[]`: each user column's value on the host and its status.
fn column_reports(fleet: &Fleet, hs: &crate::state::HostState) -> Vec<ColumnReport> {
    let Some(p) = &fleet.prometheus else {
        return Vec::new();
    };
    p.columns
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let v = hs.prom.as_ref().and_then(|t| t.value.columns.get(k));
            let value = v.and_then(|v| v.value);
            let status = match value {
                None => Status::Unknown,
                Some(x) if c.crit.is_some_and(|k| x >= k) => Status::Critical,
                Some(x) if c.warn.is_some_and(|w| x >= w) => Status::Warning,
                Some(_) => Status::Ok,
            };
            ColumnReport {
                name: c.name.clone(),
                value,
                status,
                source: CellSource::Prometheus,
                error: v.and_then(|v| v.error.clone()),
            }
        })
        .collect()
}

fn facts_report(hs: &crate::state::HostState, now: SystemTime) -> Option<FactsReport> {
    let t = hs.facts.as_ref()?;
    let f = &t.value;
    let mut unavailable = BTreeMap::new();
    let filesystems: Option<Vec<Filesystem>> =
        f.filesystems.value_or_note("filesystems", &mut unavailable);
    Some(FactsReport {
        age_seconds: now.duration_since(t.at).map_or(0, |d| d.as_secs()),
        kernel: f.kernel.value_or_note("kernel", &mut unavailable),
        os: f.os.value_or_note("os", &mut unavailable),
        cpu: f.cpu.value_or_note("cpu", &mut unavailable),
        memory: f.memory.value_or_note("memory", &mut unavailable),
        filesystems: filesystems.map(|list| {
            list.into_iter()
                .map(|x| FilesystemReport {
                    filesystem: x.usage.filesystem,
                    fs_type: x.fs_type,
                    mount: x.usage.mounted_on,
                    total_bytes: x.usage.total_bytes,
                    used_bytes: x.usage.used_bytes,
                    avail_bytes: x.usage.avail_bytes,
                    used_percent: x.usage.used_percent,
                })
                .collect()
        }),
        interfaces: f.interfaces.value_or_note("interfaces", &mut unavailable),
        logins: f.logins.value_or_note("logins", &mut unavailable),
        dmi: f.dmi.value_or_note("dmi", &mut unavailable),
        unavailable,
    })
}

fn cert_reports(
    host: &crate::inventory::Host,
    hs: &crate::state::HostState,
    host_now: i64,
) -> Vec<CertReport> {
    host.certs
        .iter()
        .map(|c| {
            let obs = hs
                .certs
                .as_ref()
                .and_then(|t| t.value.iter().find(|o| o.name == c.name));
            let (info, error) = match obs.map(|o| &o.info) {
                Some(Metric::Value(i)) => (Some(i), None),
                Some(Metric::Unavailable(e) | Metric::Error(e)) => (None, Some(e.clone())),
                None => (None, Some("not read yet".to_string())),
            };
            let days = info.map(|i| health::cert_days_left(i, host_now));
            CertReport {
                name: c.name.clone(),
                path: c.path.clone(),
                not_after: info.map(|i| epoch_rfc3339(i.not_after)),
                days_left: days.map(|d| (d * 10.0).round() / 10.0),
                subject: info.map(|i| i.subject.clone()),
                expired: days.is_some_and(|d| d <= 0.0),
                error,
            }
        })
        .collect()
}

fn log_reports(host: &crate::inventory::Host, hs: &crate::state::HostState) -> Vec<LogReport> {
    host.logs
        .iter()
        .map(|l| {
            let obs = hs
                .logs
                .as_ref()
                .and_then(|t| t.value.iter().find(|o| o.name == l.name));
            match obs.map(|o| &o.summary) {
                Some(Ok(s)) => LogReport {
                    name: l.name.clone(),
                    lines_read: Some(s.lines_read),
                    window_seconds: Some(s.window_seconds),
                    window_complete: Some(s.window_complete),
                    errors: Some(s.errors),
                    warnings: Some(s.warnings),
                    pattern_matches: Some(s.pattern_matches),
                    by_module: s.by_module.clone(),
                    recent: s.recent.iter().map(|r| r.text.clone()).collect(),
                    error: None,
                },
                other => LogReport {
                    name: l.name.clone(),
                    lines_read: None,
                    window_seconds: None,
                    window_complete: None,
                    errors: None,
                    warnings: None,
                    pattern_matches: None,
                    by_module: Vec::new(),
                    recent: Vec::new(),
                    error: Some(match other {
                        Some(Err(e)) => e.clone(),
                        _ => "not read yet".into(),
                    }),
                },
            }
        })
        .collect()
}

fn consensus_report(
    fleet: &Fleet,
    groups: &[health::GroupHealth],
    i: usize,
) -> Option<ConsensusReport> {
    let name = fleet.hosts[i].consensus_group.as_ref()?;
    let g = groups.iter().find(|g| &g.name == name)?;
    let m = g.members.iter().find(|m| m.host == i)?;
    Some(ConsensusReport {
        group: g.name.clone(),
        role: m.role,
        observed_role: m.observed_role,
        healthy: m.healthy,
        problem: m.problem.clone(),
        n: g.n,
        f: g.f,
        healthy_members: g.healthy,
        one_failure_from_stalling: g.one_failure_from_stalling,
        stalled: g.stalled,
    })
}

/// Epoch seconds as UTC RFC 3339.
fn epoch_rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn metric_reason<T>(m: &Metric<T>) -> Option<String> {
    match m {
        Metric::Value(_) => None,
        Metric::Unavailable(why) => Some(why.clone()),
        Metric::Error(e) => Some(format!("error: {e}")),
    }
}

/// The monitoring-plugin exit code of a report: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
pub fn exit_code(report: &StatusReport) -> u8 {
    let s = &report.summary;
    if s.hosts == 0 {
        3
    } else if s.critical > 0 {
        2
    } else if s.warning > 0 {
        1
    } else if s.unknown > 0 {
        3
    } else {
        0
    }
}

/// UTC RFC 3339 with seconds, e.g. `2026-11-22T02:00:00Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t)
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    dt.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_percent_reads_as_the_float_formatter_writes_it() {
        let ties = [0.5, 1.5, 2.5, 49.5, 50.5, 99.5, 100.5];
        let edges = [0.0, -0.0, 0.49999999999999994, 94.0, 99.99, 1e15, 1e300];
        let odd = [-0.4, -3.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
        for p in ties.into_iter().chain(edges).chain(odd) {
            assert_eq!(rows::percent_text(p), format!("{p:.0}%"), "{p:?}");
        }
        proptest::proptest!(|(p in 0.0f64..200.0, q in 0.0f64..2e15)| {
            proptest::prop_assert_eq!(rows::percent_text(p), format!("{p:.0}%"));
            proptest::prop_assert_eq!(rows::percent_text(q), format!("{q:.0}%"));
            // Halves: the ties.
            let h = (p * 2.0).round() / 2.0;
            proptest::prop_assert_eq!(rows::percent_text(h), format!("{h:.0}%"));
        });
    }

    use super::*;
    use crate::health::evaluate;
    use crate::inventory::{ConfigSource, load_fleet_from_str};
    use crate::observation::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn fixture() -> (Fleet, FleetState) {
        let fleet = load_fleet_from_str(
            r#"
[fleet]
name = "dvn-prod"
[[hosts]]
name = "dvn-aws-1"
address = "10.0.1.10"
groups = ["dvn"]
region = "aws-eu-west-1"
services = [{ name = "geth", kind = "systemd", unit = "geth.service" }]
disks = [{ mount = "/data" }]
backups = [{ name = "postgres", dir = "/b", pattern = "*.gz", every = "24h" }]
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
[[hosts]]
name = "dvn-aws-2"
address = "10.0.1.11"
jump = "dvn-aws-1"
services = [{ name = "geth", kind = "systemd", unit = "geth.service" }]
"#,
            ConfigSource::Embedded,
        )
        .unwrap();
        let mut state = FleetState::new(2);
        state.apply(Observation {
            host: 0,
            started: at(1_800_000_000),
            elapsed: Duration::from_millis(42),
            outcome: Ok(Probed {
                host_time: Some(1_800_000_000),
                services: vec![ServiceObs {
                    name: "geth".into(),
                    state: ServiceState::Running,
                    detail: String::new(),
                    since: None,
                    restarts: None,
                }],
                disks: vec![DiskObs {
                    mount: "/data".into(),
                    usage: Ok(DiskUsage {
                        filesystem: "/dev/vdb".into(),
                        total_bytes: 1000,
                        used_bytes: 412,
                        avail_bytes: 588,
                        used_percent: 41.2,
                        mounted_on: "/data".into(),
                    }),
                }],
                backups: vec![BackupObs {
                    name: "postgres".into(),
                    latest: Ok(Some(BackupFile {
                        path: "/b/20261122-postgres-backup.sql.gz".into(),
                        mtime: 1_800_000_000 - 3600,
                        size_bytes: 99,
                    })),
                    previous: None,
                }],
                chain: Some(ChainObs {
                    kind: ChainKind::Ethereum,
                    height: Metric::Value(123),
                    syncing: Metric::Value(false),
                    peers: Metric::Unavailable("not supported by this node".into()),
                    client: Some("anvil/v1.7.1".into()),
                }),
                ..Probed::default()
            }),
        });
        state.apply(Observation {
            host: 1,
            started: at(1_800_000_000),
            elapsed: Duration::from_secs(3),
            outcome: Err(Unreachable {
                kind: UnreachableKind::Connect,
                message: "connection refused".into(),
                retry_in: Some(Duration::from_secs(2)),
            }),
        });
        (fleet, state)
    }

    #[test]
    fn json_follows_the_contract() {
        let (mut fleet, state) = fixture();
        crate::transport::route::annotate(&mut fleet, None);
        let now = at(1_800_000_000);
        let health = evaluate(&fleet, &state, now);
        let report = status_report(&fleet, &state, &health, &[0, 1], now);
        let v = serde_json::to_value(&report).unwrap();
        assert_eq!(v["fleet"], "dvn-prod");
        assert_eq!(v["generated_at"], "2027-01-15T08:00:00Z");
        assert_eq!(
            v["summary"],
            serde_json::json!({"hosts": 2, "reachable": 1, "ok": 1, "warning": 0, "critical": 1, "unknown": 0})
        );
        let h = &v["hosts"][0];
        assert_eq!(h["name"], "dvn-aws-1");
        assert_eq!(h["region"], "aws-eu-west-1");
        assert_eq!(v["hosts"][1]["region"], serde_json::Value::Null);
        assert_eq!(h["via"], serde_json::json!([]), "a direct host");
        assert_eq!(v["hosts"][1]["via"], serde_json::json!(["dvn-aws-1"]));
        assert_eq!(h["reachable"], true);
        assert_eq!(h["error"], serde_json::Value::Null);
        assert_eq!(h["status"], "ok");
        assert_eq!(
            h["services"][0],
            serde_json::json!({"name": "geth", "state": "running", "detail": "",
                "since": null, "restarts": null, "restarts_seen": 0, "failure_output": [],
                "source": "ssh"})
        );
        assert_eq!(h["chain"]["kind"], "ethereum");
        assert_eq!(h["chain"]["height"], 123);
        assert_eq!(h["chain"]["syncing"], false);
        assert_eq!(
            h["chain"]["peers"],
            serde_json::Value::Null,
            "unavailable is null, never 0"
        );
        assert_eq!(
            h["chain"]["unavailable"]["peers"],
            "not supported by this node"
        );
        assert_eq!(h["chain"]["lag"], 0);
        assert_eq!(h["disks"][0]["used_percent"], 41.2);
        assert_eq!(h["disks"][0]["avail_bytes"], 588);
        assert_eq!(h["backups"][0]["age_seconds"], 3600);
        assert_eq!(h["backups"][0]["stale"], false);
        assert_eq!(h["alerts"], serde_json::json!([]));
        let down = &v["hosts"][1];
        assert_eq!(down["reachable"], false);
        assert_eq!(down["status"], "critical");
        assert_eq!(down["error"], "connection refused");
        assert_eq!(down["services"][0]["state"], "unknown");
        assert_eq!(down["alerts"][0]["rule"], "host_unreachable");
        assert_eq!(exit_code(&report), 2);
    }

    #[test]
    fn json_carries_facts_certs_logs_consensus_and_alert_subjects() {
        let fleet = load_fleet_from_str(
            r#"
[[hosts]]
name = "n1"
consensus_group = "g"
role = "consensus"
services = [{ name = "node", kind = "command", command = "true" }]
backups = [{ name = "pg", dir = "/b", pattern = "*.gz", every = "24h" }]
certs = [{ name = "node", path = "/c/node.crt" }, { name = "sdk", path = "/c/sdk.crt" }]
logs = [{ name = "node", file = "/l/log", format = "fisco" }]
"#,
            ConfigSource::Embedded,
        )
        .unwrap();
        let now = 1_800_000_000i64;
        let mut state = FleetState::new(1);
        state.apply(Observation {
            host: 0,
            started: at(now as u64),
            elapsed: Duration::from_millis(40),
            outcome: Ok(Probed {
                host_time: Some(now),
                services: vec![ServiceObs {
                    name: "node".into(),
                    state: ServiceState::Failed,
                    detail: "exit 2: cannot bind".into(),
                    since: None,
                    restarts: None,
                }],
                service_failures: vec![ServiceFailure {
                    index: 0,
                    name: "node".into(),
                    source: FailureSource::Output,
                    lines: vec!["cannot bind :20200".into()],
                }],
                backups: vec![BackupObs {
                    name: "pg".into(),
                    latest: Ok(Some(BackupFile {
                        path: "/b/2.gz".into(),
                        mtime: now - 60,
                        size_bytes: 5,
                    })),
                    previous: Some(BackupFile {
                        path: "/b/1.gz".into(),
                        mtime: now - 86_400,
                        size_bytes: 100,
                    }),
                }],
                facts: Some(Box::new(HostFacts {
                    kernel: Metric::Value(KernelInfo {
                        os: "Linux".into(),
                        hostname: "n1".into(),
                        release: "6.1.0".into(),
                        machine: "x86_64".into(),
                    }),
                    os: Metric::Value("Debian GNU/Linux 12 (bookworm)".into()),
                    cpu: Metric::Error("boom".into()),
                    memory: Metric::Unavailable("grep not found on host".into()),
                    filesystems: Metric::Value(vec![]),
                    interfaces: Metric::Value(vec![]),
                    logins: Metric::Unavailable("no login records (wtmp) on this host".into()),
                    dmi: Metric::Unavailable("no DMI".into()),
                })),
                certs: Some(vec![
                    CertObs {
                        name: "node".into(),
                        path: "/c/node.crt".into(),
                        info: Metric::Value(CertInfo {
                            not_after: now + 12 * 86_400,
                            not_before: None,
                            subject: "CN = node0".into(),
                            issuer: None,
                        }),
                    },
                    CertObs {
                        name: "sdk".into(),
                        path: "/c/sdk.crt".into(),
                        info: Metric::Error("no such file".into()),
                    },
                ]),
                logs: Some(vec![LogObs {
                    name: "node".into(),
                    summary: Ok(LogSummary {
                        lines_read: 7,
                        window_seconds: 600,
                        window_complete: true,
                        errors: 2,
                        by_module: vec![ModuleCount {
                            module: "PBFT".into(),
                            errors: 2,
                            warnings: 0,
                        }],
                        recent: vec![LogLine {
                            at: None,
                            level: Some(LogLevel::Error),
                            module: Some("PBFT".into()),
                            text: "error|…|[PBFT] view change".into(),
                        }],
                        ..LogSummary::default()
                    }),
                }]),
                ..Probed::default()
            }),
        });
        let health = evaluate(&fleet, &state, at(now as u64));
        let report = status_report(&fleet, &state, &health, &[0], at(now as u64));
        let v = serde_json::to_value(&report).unwrap();
        let h = &v["hosts"][0];
        assert_eq!(h["services"][0]["failure_output"][0], "cannot bind :20200");
        assert_eq!(h["backups"][0]["previous_size_bytes"], 100);
        assert_eq!(h["backups"][0]["size_change_percent"], -95.0);
        assert_eq!(h["backups"][0]["shrunk"], true);
        assert_eq!(h["facts"]["kernel"]["release"], "6.1.0");
        assert_eq!(h["facts"]["cpu"], serde_json::Value::Null);
        assert_eq!(h["facts"]["unavailable"]["cpu"], "error: boom");
        assert_eq!(h["facts"]["age_seconds"], 0);
        assert_eq!(h["certs"][0]["days_left"], 12.0);
        assert_eq!(h["certs"][0]["not_after"], "2027-01-27T08:00:00Z");
        assert_eq!(h["certs"][0]["expired"], false);
        assert_eq!(h["certs"][1]["error"], "no such file");
        assert_eq!(h["logs"][0]["errors"], 2);
        assert_eq!(h["logs"][0]["by_module"][0]["module"], "PBFT");
        assert_eq!(h["consensus"]["n"], 1);
        assert_eq!(h["consensus"]["f"], 0);
        assert_eq!(h["consensus"]["role"], "consensus");
        let rules: Vec<(&str, &str)> = h["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["rule"].as_str().unwrap(), a["subject"].as_str().unwrap()))
            .collect();
        assert_eq!(
            rules,
            [
                ("service_down", "node"),
                ("backup_shrunk", "pg"),
                ("cert_expiring", "node"),
                ("cert_unreadable", "sdk"),
            ]
        );
        assert_eq!(h["alerts"][2]["value"], "12 days");
    }

    #[test]
    fn exit_codes_follow_monitoring_plugins() {
        let (fleet, state) = fixture();
        let now = at(1_800_000_000);
        let health = evaluate(&fleet, &state, now);
        assert_eq!(
            exit_code(&status_report(&fleet, &state, &health, &[0], now)),
            0
        );
        assert_eq!(
            exit_code(&status_report(&fleet, &state, &health, &[], now)),
            3
        );
        let fresh = FleetState::new(2);
        let health = evaluate(&fleet, &fresh, now);
        assert_eq!(
            exit_code(&status_report(&fleet, &fresh, &health, &[0], now)),
            3
        );
    }

    #[test]
    fn table_rows_show_unavailable_peers_as_na() {
        let (fleet, state) = fixture();
        let now = at(1_800_000_000);
        let health = evaluate(&fleet, &state, now);
        let report = status_report(&fleet, &state, &health, &[0, 1], now);
        let rows = fleet_rows(&report);
        assert_eq!(rows[0].height, "123");
        assert_eq!(rows[0].peers, "n/a");
        assert_eq!(rows[0].disk, "41%");
        assert_eq!(rows[0].backup, "1h");
        assert_eq!(rows[1].reach, "no");
        let table = status_table(&report, false);
        assert!(table.starts_with("HOST"), "{table}");
        assert!(table.contains("dvn-aws-2  critical"), "{table}");
        assert!(!table.contains('\x1b'));
        assert!(status_table(&report, true).contains("\x1b[1;31mcritical"));
    }

    #[test]
    fn table_rows_tell_a_failed_chain_call_from_a_metric_the_node_does_not_give() {
        let (fleet, mut state) = fixture();
        let now = at(1_800_000_000);
        if let Some(p) = state.hosts[0].probed.as_mut() {
            p.chain.as_mut().unwrap().height = Metric::Error("connection refused".into());
        }
        let health = evaluate(&fleet, &state, now);
        let report = status_report(&fleet, &state, &health, &[0, 1], now);
        let rows = fleet_rows(&report);
        // The same words as the console's fleet table, which shows this very row.
        assert_eq!(
            (rows[0].height.as_str(), rows[0].peers.as_str()),
            ("err", "n/a")
        );
        assert_eq!(rows[0].read, [true; FLEET_CELLS]);
        // The unreachable host: nothing read behind its value cells but REACH and SVC.
        assert_eq!(rows[1].cells(), ["no", "?/1", "-", "-", "-", "-"]);
        assert_eq!(rows[1].read, [true, true, false, false, false, false]);
        assert_eq!(rows[1].note, report.hosts[1].error.clone().unwrap());
    }
}

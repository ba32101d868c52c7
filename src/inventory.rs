//! The fleet inventory: what hosts exist, how to reach them and what to watch on each.
//!
//! This module owns the *validated* model ([`Fleet`], [`Host`], …) that every other part of
//! fleetdeck reads. The serde shapes of the TOML file live in [`file`] (types ending in `File`).
//! [`load`] reads the file that `lookup` finds and `resolve` turns it into the model (profiles,
//! defaults, `~`), reporting every problem with the file, line and column through
//! [`crate::diag`] (tables named as `places` says); [`describe`] writes the `config check`
//! summary. Nothing here touches the network or a terminal.
//!
//! Callers: the CLI (`config check`, `status`, the console) loads a [`Fleet`] once at start-up;
//! the poller and the probes only read it.

pub mod ansible;
pub mod describe;
pub mod file;
pub mod import;
pub mod init;
pub mod jump;
pub mod load;
mod lookup;
mod places;
mod resolve;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use load::{ConfigError, ConfigSource, find_config, load_fleet, load_fleet_from_str};
pub use lookup::xdg_inventory_path;

/// A whole fleet, validated and with every host's profile already merged in.
#[derive(Debug, Clone, Serialize)]
pub struct Fleet {
    /// Display name of the fleet (`[fleet] name`).
    pub name: String,
    /// Where this inventory came from.
    pub source: ConfigSource,
    /// Default probe interval.
    #[serde(with = "humantime_serde_compat")]
    pub interval: Duration,
    /// What to do with a host key that no known_hosts file lists.
    pub host_key_policy: HostKeyPolicy,
    /// known_hosts files consulted, in order; new keys (accept-new) are appended to the first.
    pub known_hosts: Vec<PathBuf>,
    /// SSH defaults for every host.
    pub ssh: SshDefaults,
    /// Health thresholds.
    pub thresholds: Thresholds,
    /// Operator name → role.
    pub operators: BTreeMap<String, Role>,
    /// Read-only console: no action that changes a host may run.
    pub readonly: bool,
    /// Record every interactive shell as an asciicast v2 file under the state directory
    /// (`[fleet] record_sessions`, off by default).
    pub record_sessions: bool,
    /// How the console arranges the fleet (`[ui]`).
    pub ui: UiSettings,
    /// Ad-hoc commands (`[exec]`): the danger list and how many hosts run at once.
    pub exec: ExecSettings,
    /// The hosts, in inventory order.
    pub hosts: Vec<Host>,
    /// Files and directories `[[import]]` tables were read from (see [`Fleet::source_files`]).
    #[serde(skip)]
    pub imported_files: Vec<PathBuf>,
    /// Where fleetdeck's own alerts are sent (`[alertmanager]`, `[[notify]]`).
    pub alerts_out: AlertsOut,
    /// `[prometheus]`: Prometheus as a status source; `None` when the inventory has none
    /// (every host then is polled over SSH, as before).
    pub prometheus: Option<Prometheus>,
}

/// Where fleetdeck's own alerts go (`[alertmanager]`, `[[notify]]`), read by
/// `crate::alert_sink`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct AlertsOut {
    /// Alertmanager (`[alertmanager] url`): its `/api/v2/alerts`.
    pub alertmanager: Option<HttpTarget>,
    /// Generic webhooks (`[[notify]] url`), Slack-compatible JSON.
    pub webhooks: Vec<HttpTarget>,
    /// Which front end sends (`[alertmanager] sender`), so two consoles do not page twice.
    pub sender: AlertSender,
    /// How long a silence created from the console lasts (`[alertmanager] silence`; `None`:
    /// [`DEFAULT_SILENCE`]).
    pub silence: Option<Duration>,
}

/// How long a silence created from the console lasts when `[alertmanager] silence` is not set.
pub const DEFAULT_SILENCE: Duration = Duration::from_secs(2 * 3600);

impl AlertsOut {
    /// How long a silence created from the console lasts.
    pub fn silence_duration(&self) -> Duration {
        self.silence.unwrap_or(DEFAULT_SILENCE)
    }
}

/// Which front end sends fleetdeck's alerts out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertSender {
    /// Only `fleetdeck serve` (the default: open consoles never page).
    #[default]
    Serve,
    /// Only the console.
    Console,
}

/// Where a host's status cells come from (`source` on a host or profile).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatusSource {
    /// Polled over SSH (the default).
    #[default]
    Ssh,
    /// Read from Prometheus only; SSH stays for actions.
    Prometheus,
    /// Polled over SSH; Prometheus fills what SSH lacks (docs/monitoring.md).
    Both,
}

/// `[prometheus]`, validated: the servers to read, the user columns and each host's source.
#[derive(Debug, Clone, Serialize)]
pub struct Prometheus {
    /// The fleet-wide server first (`[prometheus]`), then one per `[prometheus.groups.NAME]`.
    pub servers: Vec<PromServer>,
    /// `[[prometheus.columns]]`: one PromQL query each.
    pub columns: Vec<PromColumn>,
    /// How often the fleet is read (default: `[fleet] interval`).
    pub interval: Duration,
    /// Bound of one round of queries (default 10 s).
    pub timeout: Duration,
    /// One entry per inventory host, same order.
    pub hosts: Vec<PromHost>,
}

/// One Prometheus server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromServer {
    /// `""` for the fleet-wide one, else the group it serves.
    pub group: String,
    /// Base URL and credentials; queries go to `URL/api/v1/query`.
    pub target: HttpTarget,
    /// Reached through this inventory host's SSH connection (a Prometheus on its loopback).
    pub via: Option<String>,
    /// The label whose value names a host (default `instance`).
    pub label: String,
    /// Template of that value over the host's fields (default `{{address}}:9100`).
    pub instance: String,
}

/// A user column: a PromQL query whose value per host is shown and judged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromColumn {
    /// Column name.
    pub name: String,
    /// PromQL; its series are mapped to hosts by the server's label.
    pub query: String,
    /// Warning at or above this value.
    pub warn: Option<f64>,
    /// Critical at or above this value.
    pub crit: Option<f64>,
}

/// How one host relates to Prometheus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromHost {
    /// Where its status cells come from.
    pub source: StatusSource,
    /// Index into [`Prometheus::servers`].
    pub server: usize,
    /// The label value naming it (its `instance` template rendered).
    pub instance: String,
}

/// An outbound HTTP peer and how to authenticate to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpTarget {
    /// The URL as written.
    pub url: String,
    /// Credentials, if any (read when sending starts, never stored in the inventory).
    pub auth: Option<HttpAuth>,
}

/// Credentials for an [`HttpTarget`]: where the secret lives, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HttpAuth {
    /// HTTP basic auth.
    Basic {
        /// User name.
        username: String,
        /// Where the password is.
        password: SecretSource,
    },
    /// `Authorization: Bearer …`.
    Bearer(SecretSource),
}

/// Where a secret is read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretSource {
    /// A file (its content, trailing newline trimmed).
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

/// Ad-hoc commands (`[exec]`), read by `crate::exec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecSettings {
    /// Patterns that make a command dangerous (typed confirmation on a terminal, refused
    /// without one), whitespace already normalised. `[exec] danger` replaces the built-in list
    /// (`crate::exec::danger::DEFAULT_DANGER`), `danger_extra` adds to it.
    pub danger: Vec<String>,
    /// How many hosts run the command at once.
    pub concurrency: usize,
}

impl Default for ExecSettings {
    /// The built-in danger list and fan-out.
    fn default() -> Self {
        ExecSettings {
            danger: crate::exec::danger::DEFAULT_DANGER
                .iter()
                .map(|p| crate::exec::danger::normalise(p))
                .collect(),
            concurrency: resolve::DEFAULT_EXEC_CONCURRENCY,
        }
    }
}

/// How the console arranges the fleet (`[ui]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UiSettings {
    /// The fleet table's default order.
    pub sort: UiSort,
    /// Ring the terminal bell when a host turns bad (off by default: a bell in a shared room
    /// is an opt-in).
    pub bell: bool,
    /// Capture the mouse (`[ui] mouse`, default on); off, the terminal's own selection and
    /// scrolling work and clicks do nothing in the console (`--no-mouse` does the same).
    pub mouse: bool,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            sort: UiSort::default(),
            bell: false,
            mouse: true,
        }
    }
}

/// The fleet table's default order (`[ui] sort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UiSort {
    /// Hosts that are not ok first (worst status, then newest problem), the rest in inventory
    /// order. The default: on a large fleet the failing host must reach the first screen.
    #[default]
    Problems,
    /// Inventory order.
    Inventory,
    /// By host name.
    Name,
}

/// Host key policy of the fleet (`[fleet] host_key_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    /// Unknown or changed key: refuse. The default.
    Strict,
    /// Unknown key: record it in the first known_hosts file and go on; changed key: refuse.
    AcceptNew,
}

/// SSH settings shared by all hosts (`[ssh]`).
#[derive(Debug, Clone, Serialize)]
pub struct SshDefaults {
    /// Remote user; falls back to `~/.ssh/config`, then `$USER`.
    pub user: Option<String>,
    /// Private keys to try after the agent, `~` already expanded.
    pub identity_files: Vec<PathBuf>,
    /// OpenSSH user certificates (like ssh_config `CertificateFile`), `~` already expanded.
    pub certificate_files: Vec<PathBuf>,
    /// TCP connect + SSH handshake + authentication must finish within this.
    #[serde(with = "humantime_serde_compat")]
    pub connect_timeout: Duration,
    /// One probe batch or runbook command must finish within this.
    #[serde(with = "humantime_serde_compat")]
    pub command_timeout: Duration,
    /// Output beyond this many bytes per command is dropped and reported as truncated.
    pub max_output_bytes: usize,
    /// OpenSSH client config consulted for aliases (default `~/.ssh/config`; missing file is fine).
    pub config_file: Option<PathBuf>,
    /// Run probe scripts on one long-lived shell per host (default); `false`: one exec
    /// channel (a new session) per poll, for hosts where a lingering session is unwanted.
    pub resident_shell: bool,
}

/// Health thresholds (`[thresholds]`).
#[derive(Debug, Clone, Serialize)]
pub struct Thresholds {
    /// Disk used percent at or above which a host is warning.
    pub disk_warn_percent: f64,
    /// Disk used percent at or above which a host is critical.
    pub disk_crit_percent: f64,
    /// Blocks behind the highest node of the same chain before warning.
    pub height_lag_warn: u64,
    /// No new block for this long is critical.
    #[serde(with = "humantime_serde_compat")]
    pub height_stall: Duration,
    /// Fewer peers than this is a warning.
    pub min_peers: u64,
    /// Certificates expiring within this many days warn.
    pub cert_warn_days: u64,
    /// A disk whose trend says it fills within this many days warns.
    pub disk_full_warn_days: f64,
    /// A newest backup at least this many percent smaller than the previous one is critical.
    pub backup_shrink_percent: f64,
    /// This many error lines within a log's window warn.
    pub log_errors_warn: u64,
}

impl Default for Thresholds {
    /// The documented defaults of `[thresholds]`.
    fn default() -> Self {
        Thresholds {
            disk_warn_percent: 80.0,
            disk_crit_percent: 90.0,
            height_lag_warn: 5,
            height_stall: Duration::from_secs(120),
            min_peers: 2,
            cert_warn_days: 30,
            disk_full_warn_days: 7.0,
            backup_shrink_percent: 90.0,
            log_errors_warn: 10,
        }
    }
}

/// Access role from the manuals' access model (the inventory's `[operators]`), ordered from the
/// least to the most trusted. Runbooks, the audit log and the console all use this one type
/// (`runbook::AccessRole` names it too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Read-only: reads the audit log.
    Auditor,
    /// Read-only: reads logs.
    Developer,
    /// Service actions and runbooks.
    Operator,
    /// Everything.
    Admin,
}

impl Role {
    /// Whether this role may run steps that change hosts or page people.
    pub fn may_write(self) -> bool {
        matches!(self, Self::Operator | Self::Admin)
    }

    /// The spelling used in files and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auditor => "auditor",
            Self::Developer => "developer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
}

/// How fleetdeck reaches a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TransportKind {
    /// One persistent SSH connection.
    #[default]
    Ssh,
    /// This machine, without SSH.
    Local,
}

/// A host's place in a BFT consensus group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NodeRole {
    /// Votes in consensus (counts towards N = 3F+1).
    Consensus,
    /// Syncs blocks, does not vote.
    Observer,
    /// Neither; the default for hosts that are not chain nodes.
    #[default]
    Free,
}

impl NodeRole {
    /// The role's name as the inventory spells it (`consensus`, `observer`, `free`).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Consensus => "consensus",
            NodeRole::Observer => "observer",
            NodeRole::Free => "free",
        }
    }
}

/// One host of the fleet, with its profile merged in.
///
/// `Default` exists so tests and tools can write `Host { name, ..Host::default() }` and keep
/// compiling when keys are added.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Host {
    /// Unique name shown everywhere.
    pub name: String,
    /// Address or `~/.ssh/config` alias.
    pub address: String,
    /// Explicit SSH port; `None` means `~/.ssh/config` or 22.
    pub port: Option<u16>,
    /// Explicit SSH user for this host.
    pub user: Option<String>,
    /// Extra identity files for this host, tried before the fleet's.
    pub identity_files: Vec<PathBuf>,
    /// Extra user certificates for this host, offered before the fleet's.
    pub certificate_files: Vec<PathBuf>,
    /// Jump hosts from the inventory's `jump` (the host's, its profile's or `[ssh]`'s); `None`
    /// when none of them says, and `~/.ssh/config` decides.
    pub jump: Option<Jump>,
    /// How the host is reached, hops in order from this machine outward (inventory names where a
    /// hop is an inventory host, else as written); empty for a direct host. Filled from the
    /// inventory and `~/.ssh/config` by `transport::route::annotate` when a command starts; the
    /// loader alone leaves it empty because it never reads other files.
    pub via: Vec<String>,
    /// SSH or local.
    pub transport: TransportKind,
    /// Profile this host was built from, if any.
    pub profile: Option<String>,
    /// Free-form groups for selection (`--group`).
    pub groups: Vec<String>,
    /// BFT consensus group this host belongs to.
    pub consensus_group: Option<String>,
    /// Region (data centre, cloud region), its own or its profile's; only groups and filters
    /// the console's fleet table.
    pub region: Option<String>,
    /// Consensus role.
    pub role: NodeRole,
    /// Probe interval of this host.
    #[serde(with = "humantime_serde_compat")]
    pub interval: Duration,
    /// Services to watch.
    pub services: Vec<Service>,
    /// The chain node on this host, if any.
    pub chain: Option<Chain>,
    /// Mount points to watch.
    pub disks: Vec<Disk>,
    /// Backup sets to watch.
    pub backups: Vec<BackupSet>,
    /// TLS certificates to watch.
    pub certs: Vec<CertPath>,
    /// Logs to tail.
    pub logs: Vec<LogSource>,
    /// Health thresholds of this host: `[thresholds]`, then its profile's, then its own.
    pub thresholds: Thresholds,
    /// Security posture settings (`[posture]`, then its profile's, then its own).
    pub posture: crate::posture::PostureSettings,
}

/// A host's `jump` as the inventory says it (see [`jump`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Jump {
    /// `jump = "none"`: a direct connection, whatever `~/.ssh/config` says.
    None,
    /// Hops outermost first (the one this machine dials first), each an inventory host's name or
    /// `[user@]host[:port]` as written.
    Via(Vec<String>),
}

/// A watched TLS certificate (node, agency, chain or SDK certificate of a consortium chain).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertPath {
    /// Name shown to the operator.
    pub name: String,
    /// PEM file on the host; a leading `~/` is the login user's home, a relative path is
    /// relative to it.
    pub path: String,
}

/// Where a log's lines come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogOrigin {
    /// `journalctl -u UNIT`.
    Unit(String),
    /// `tail` of a file on the host (`~/` as for certificates).
    File(String),
}

/// How a log's lines are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Free text: lines matching `patterns` count as errors.
    #[default]
    Plain,
    /// FISCO BCOS `level|time|[module] content`: error and warning lines counted per module
    /// (and `patterns`, when given, counted as well).
    Fisco,
}

/// A tailed log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogSource {
    /// Name shown to the operator.
    pub name: String,
    /// Journal unit or file.
    pub origin: LogOrigin,
    /// Plain or FISCO.
    pub format: LogFormat,
    /// Regular expressions (Rust `regex` syntax) whose matches count as errors; already
    /// checked to compile.
    pub patterns: Vec<String>,
    /// Lines read from the end of the log per probe.
    pub lines: u32,
    /// Counts cover this much time back from the host's clock (for lines with a time).
    #[serde(with = "humantime_serde_compat")]
    pub window: Duration,
}

/// Patterns of a `plain` log that gives none.
pub const DEFAULT_LOG_PATTERNS: &[&str] = &[r"(?i)\b(error|fatal|panic)\b"];

/// A watched service.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    /// Name shown to the operator.
    pub name: String,
    /// How its state is found.
    pub kind: ServiceKind,
    /// Command templates for runbooks (`{{name}}` placeholders).
    pub commands: ServiceCommands,
}

/// How a service's state is determined.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ServiceKind {
    /// `systemctl show UNIT`.
    Systemd {
        /// Unit name, e.g. `geth.service`.
        unit: String,
    },
    /// `docker inspect` of a container, or `docker compose ps` of a compose service.
    Docker {
        /// Container name or id.
        container: Option<String>,
        /// Compose file, with `compose_service`.
        compose_file: Option<String>,
        /// Compose service name.
        compose_service: Option<String>,
    },
    /// A process found by pidfile or by `pgrep -f` pattern.
    Process {
        /// Pidfile path on the host.
        pidfile: Option<String>,
        /// Pattern for `pgrep -f`.
        pattern: Option<String>,
    },
    /// A TCP connect made from the host (through the SSH connection).
    Port {
        /// Address dialled from the host, default 127.0.0.1.
        address: String,
        /// TCP port.
        port: u16,
    },
    /// An HTTP request made from the host.
    Http {
        /// URL as seen from the host.
        url: String,
        /// Expected status code, default 200.
        expect_status: u16,
    },
    /// A command: exit 0 means running.
    Command {
        /// Shell command run on the host.
        command: String,
    },
}

/// Command templates a runbook may use on a service.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceCommands {
    /// Start the service.
    pub start: Option<String>,
    /// Stop the service.
    pub stop: Option<String>,
    /// Restart the service.
    pub restart: Option<String>,
    /// Print the running version.
    pub version: Option<String>,
    /// Switch to `{{version}}`.
    pub upgrade: Option<String>,
    /// Switch back to the previous version.
    pub rollback: Option<String>,
}

/// Which JSON-RPC dialect (or command) gives a chain node's height and peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChainKind {
    /// geth and friends: eth_blockNumber, eth_syncing, net_peerCount.
    Ethereum,
    /// Conflux: cfx_epochNumber, cfx_getStatus.
    Conflux,
    /// FISCO BCOS: getBlockNumber, getSyncStatus, getPeers, ….
    FiscoBcos,
    /// A command on the host that prints a height.
    Command,
}

/// The chain node on a host.
#[derive(Debug, Clone, Serialize)]
pub struct Chain {
    /// Dialect.
    pub kind: ChainKind,
    /// RPC URL as seen from the host (dialled through the SSH connection).
    pub rpc: Option<String>,
    /// For `kind = "command"`: prints the height.
    pub command: Option<String>,
    /// FISCO BCOS 2.x group id, default 1.
    pub group_id: u32,
    /// FISCO BCOS 3.x group name (`"group0"`); when set it is used instead of `group_id`.
    pub group: Option<String>,
}

/// A watched mount point.
#[derive(Debug, Clone, Serialize)]
pub struct Disk {
    /// Mount point path on the host.
    pub mount: String,
}

/// A watched set of backup files.
#[derive(Debug, Clone, Serialize)]
pub struct BackupSet {
    /// Name shown to the operator.
    pub name: String,
    /// Directory on the host.
    pub dir: String,
    /// Glob of the backup files in `dir`.
    pub pattern: String,
    /// How often a new backup is expected; older than 1.5 × this is stale.
    #[serde(with = "humantime_serde_compat")]
    pub every: Duration,
}

impl Fleet {
    /// Where host `index`'s status cells come from ([`StatusSource::Ssh`] without
    /// `[prometheus]`).
    pub fn status_source(&self, index: usize) -> StatusSource {
        self.prometheus
            .as_ref()
            .and_then(|p| p.hosts.get(index))
            .map_or(StatusSource::Ssh, |h| h.source)
    }

    /// Whether host `index` is polled over SSH for its status.
    pub fn polled_over_ssh(&self, index: usize) -> bool {
        self.status_source(index) != StatusSource::Prometheus
    }

    /// Every file and directory this fleet was read from: the inventory file itself (none for
    /// the embedded default), then what its `[[import]]` tables read (an Ansible file, or a
    /// directory with the inventory files, `group_vars/` and `host_vars/` directories and
    /// files in it). A reload is due when one of them changes; watching the directories too
    /// sees files added to them. Paths are as resolved at load (relative to the working
    /// directory when the inventory was named relatively).
    pub fn source_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::with_capacity(1 + self.imported_files.len());
        if let ConfigSource::File(path) = &self.source {
            files.push(path.clone());
        }
        for f in &self.imported_files {
            if !files.contains(f) {
                files.push(f.clone());
            }
        }
        files
    }

    /// The host called `name`.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// Indices of the hosts whose name matches the glob `hosts` (if given) and that belong to
    /// `group` (if given). An invalid glob is an error; an empty selection is not.
    ///
    /// `hosts` may instead be `@NAME`: the hosts `group` NAME selects (a group or consensus
    /// group), so one word names a group where a host glob is expected — `--hosts @group0`,
    /// the console's `:run RUNBOOK @group0`, the offer for an alert about a consensus group.
    /// A name no host carries is an error: it was asked for by name.
    pub fn select(&self, hosts: Option<&str>, group: Option<&str>) -> Result<Vec<usize>, String> {
        if let Some(name) = hosts.and_then(|h| h.strip_prefix('@')) {
            let named = self.select(None, Some(name))?;
            if named.is_empty() {
                return Err(format!(
                    "no group or consensus group called {name:?} (`@{name}`): expected a \
                     `groups` or `consensus_group` name of the inventory"
                ));
            }
            let within = self.select(None, group)?;
            return Ok(named.into_iter().filter(|i| within.contains(i)).collect());
        }
        let matcher = match hosts {
            Some(pattern) => Some(
                globset::Glob::new(pattern)
                    .map_err(|e| format!("invalid --hosts glob {pattern:?}: {e}"))?
                    .compile_matcher(),
            ),
            None => None,
        };
        Ok(self
            .hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| matcher.as_ref().is_none_or(|m| m.is_match(&h.name)))
            .filter(|(_, h)| {
                group.is_none_or(|g| {
                    h.groups.iter().any(|x| x == g) || h.consensus_group.as_deref() == Some(g)
                })
            })
            .map(|(i, _)| i)
            .collect())
    }
}

/// Serialises durations the way the inventory spells them (`"5s"`, `"2m"`).
mod humantime_serde_compat {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}

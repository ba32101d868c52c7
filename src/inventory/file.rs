//! The serde shapes of the TOML inventory file, exactly as an operator writes it.
//!
//! This module owns the *input* types (all ending in `File`) and nothing else: no defaults, no
//! `~` expansion, no cross-checks. Every struct denies unknown keys so a typo is an error with a
//! position instead of a silently ignored setting. Values that [`super::load`] must check
//! semantically (names, durations, globs, ports, …) are wrapped in [`Spanned`] so those errors
//! can point at a line and column too.
//!
//! Callers: only [`super::load`], which turns an [`InventoryFile`] into a validated
//! [`super::Fleet`].

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_spanned::Spanned;

/// The whole inventory file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryFile {
    /// `[fleet]`: fleet-wide settings.
    #[serde(default)]
    pub fleet: FleetFile,
    /// `[ssh]`: SSH defaults for every host.
    #[serde(default)]
    pub ssh: SshFile,
    /// `[thresholds]`: health thresholds.
    #[serde(default)]
    pub thresholds: ThresholdsFile,
    /// `[operators]`: operator name → role.
    #[serde(default)]
    pub operators: BTreeMap<String, Spanned<RoleFile>>,
    /// `[ui]`: how the console arranges the fleet.
    #[serde(default)]
    pub ui: UiFile,
    /// `[exec]`: ad-hoc commands (`fleetdeck exec`, the console's `:exec`).
    #[serde(default)]
    pub exec: ExecFile,
    /// `[profiles.NAME]`: shared host definitions.
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileFile>,
    /// `[[hosts]]`, in file order.
    #[serde(default)]
    pub hosts: Vec<Spanned<HostFile>>,
    /// `[alertmanager]`: where fleetdeck's own alerts are sent, and from where.
    pub alertmanager: Option<Spanned<AlertmanagerFile>>,
    /// `[[notify]]`: generic (Slack-compatible) webhooks for fleetdeck's own alerts.
    #[serde(default)]
    pub notify: Vec<Spanned<NotifyFile>>,
    /// `[prometheus]`: Prometheus as a status source.
    pub prometheus: Option<Spanned<PrometheusFile>>,
    /// `[posture]`: the security posture read on every host (its presence turns it on).
    pub posture: Option<Spanned<PostureFile>>,
    /// `[[import]]`: other inventories merged in at load (the TOML's own settings win).
    #[serde(default)]
    pub import: Vec<Spanned<ImportFile>>,
}

/// `[prometheus]`: the fleet-wide server, its per-group overrides and the user columns.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusFile {
    /// Base URL (`http://prometheus:9090`); queries go to `URL/api/v1/query`.
    pub url: Option<Spanned<String>>,
    /// An inventory host whose SSH connection reaches the URL (a Prometheus on its loopback).
    pub via: Option<Spanned<String>>,
    /// Label naming a host (default `instance`).
    pub label: Option<Spanned<String>>,
    /// Template of the label's value over the host's fields (default `{{address}}:9100`).
    pub instance: Option<Spanned<String>>,
    /// How often the fleet is read (default `[fleet] interval`).
    pub interval: Option<Spanned<DurationFile>>,
    /// Bound of one round of queries (default 10 s).
    pub timeout: Option<Spanned<DurationFile>>,
    // Credentials, from files or environment variables only (the inline keys are refused).
    /// Basic auth user name (not a secret).
    pub username: Option<Spanned<String>>,
    /// Refused: a password written in the inventory.
    pub password: Option<Spanned<toml::Value>>,
    /// Basic auth password read from this file.
    pub password_file: Option<Spanned<String>>,
    /// Basic auth password read from this environment variable.
    pub password_env: Option<Spanned<String>>,
    /// Refused: a token written in the inventory.
    pub bearer_token: Option<Spanned<toml::Value>>,
    /// Bearer token read from this file.
    pub bearer_token_file: Option<Spanned<String>>,
    /// Bearer token read from this environment variable.
    pub bearer_token_env: Option<Spanned<String>>,
    /// `[prometheus.groups.NAME]`: another server for the hosts of group NAME.
    #[serde(default)]
    pub groups: BTreeMap<String, Spanned<PromServerFile>>,
    /// `[[prometheus.columns]]`.
    #[serde(default)]
    pub columns: Vec<Spanned<PromColumnFile>>,
}

/// `[prometheus.groups.NAME]`: what differs for one group (unset keys come from `[prometheus]`,
/// credentials excepted: a server with its own `url` has its own credentials).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromServerFile {
    /// Base URL.
    pub url: Option<Spanned<String>>,
    /// An inventory host whose SSH connection reaches the URL.
    pub via: Option<Spanned<String>>,
    /// Label naming a host.
    pub label: Option<Spanned<String>>,
    /// Template of the label's value.
    pub instance: Option<Spanned<String>>,
    /// Basic auth user name (not a secret).
    pub username: Option<Spanned<String>>,
    /// Refused: a password written in the inventory.
    pub password: Option<Spanned<toml::Value>>,
    /// Basic auth password read from this file.
    pub password_file: Option<Spanned<String>>,
    /// Basic auth password read from this environment variable.
    pub password_env: Option<Spanned<String>>,
    /// Refused: a token written in the inventory.
    pub bearer_token: Option<Spanned<toml::Value>>,
    /// Bearer token read from this file.
    pub bearer_token_file: Option<Spanned<String>>,
    /// Bearer token read from this environment variable.
    pub bearer_token_env: Option<Spanned<String>>,
}

/// `[[prometheus.columns]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromColumnFile {
    /// Column name.
    pub name: Spanned<String>,
    /// PromQL query.
    pub query: Spanned<String>,
    /// Warning at or above.
    pub warn: Option<Spanned<f64>>,
    /// Critical at or above.
    pub crit: Option<Spanned<f64>>,
}

/// `[posture]`, a profile's `posture` and a host's `posture`: the security posture checks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostureFile {
    /// Whether the posture is read (default: true where a `posture` table applies).
    pub enabled: Option<bool>,
    /// `sshd_config` of a non-default install (`sshd -T -f PATH`).
    pub sshd_config: Option<Spanned<String>>,
    /// Ports allowed to listen (default: sshd's port(s), 80 and 443).
    pub expected_ports: Option<Vec<u16>>,
    /// Whether loopback listeners are judged too.
    pub include_loopback: Option<bool>,
    /// Severity per check: `"warning"`, `"critical"` or `"off"`.
    #[serde(default)]
    pub severity: BTreeMap<String, Spanned<String>>,
}

/// One `[[import]]` table: `kind = "ansible"`, `path = "…"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportFile {
    /// What the file is.
    pub kind: Spanned<ImportKindFile>,
    /// The file or directory, relative to the inventory's directory; `~` allowed.
    pub path: Spanned<String>,
}

/// An `[[import]]`'s `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportKindFile {
    /// An Ansible inventory: INI, YAML, `ansible-inventory --list` JSON, or a directory.
    Ansible,
}

/// `[alertmanager]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerFile {
    /// Base URL (`http://am:9093`); alerts go to `URL/api/v2/alerts`.
    pub url: Option<Spanned<String>>,
    /// Who sends: `serve` (default) or `console`.
    pub sender: Option<Spanned<String>>,
    /// How long a silence created from the console lasts (default 2h).
    pub silence: Option<Spanned<DurationFile>>,
    // Credentials, from files or environment variables only (the inline keys are refused).
    /// Basic auth user name (not a secret).
    pub username: Option<Spanned<String>>,
    /// Refused: a password written in the inventory.
    pub password: Option<Spanned<toml::Value>>,
    /// Basic auth password read from this file.
    pub password_file: Option<Spanned<String>>,
    /// Basic auth password read from this environment variable.
    pub password_env: Option<Spanned<String>>,
    /// Refused: a token written in the inventory.
    pub bearer_token: Option<Spanned<toml::Value>>,
    /// Bearer token read from this file.
    pub bearer_token_file: Option<Spanned<String>>,
    /// Bearer token read from this environment variable.
    pub bearer_token_env: Option<Spanned<String>>,
}

/// `[[notify]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyFile {
    /// The webhook URL; each alert transition is POSTed as `{"text": …}`.
    pub url: Option<Spanned<String>>,
    // Credentials, from files or environment variables only (the inline keys are refused).
    /// Basic auth user name (not a secret).
    pub username: Option<Spanned<String>>,
    /// Refused: a password written in the inventory.
    pub password: Option<Spanned<toml::Value>>,
    /// Basic auth password read from this file.
    pub password_file: Option<Spanned<String>>,
    /// Basic auth password read from this environment variable.
    pub password_env: Option<Spanned<String>>,
    /// Refused: a token written in the inventory.
    pub bearer_token: Option<Spanned<toml::Value>>,
    /// Bearer token read from this file.
    pub bearer_token_file: Option<Spanned<String>>,
    /// Bearer token read from this environment variable.
    pub bearer_token_env: Option<Spanned<String>>,
}

macro_rules! auth_of {
    ($t:ty) => {
        impl $t {
            /// The credential keys, for the resolver.
            pub fn auth(&self) -> AuthFile {
                AuthFile {
                    username: self.username.clone(),
                    password: self.password.clone(),
                    password_file: self.password_file.clone(),
                    password_env: self.password_env.clone(),
                    bearer_token: self.bearer_token.clone(),
                    bearer_token_file: self.bearer_token_file.clone(),
                    bearer_token_env: self.bearer_token_env.clone(),
                }
            }
        }
    };
}
auth_of!(AlertmanagerFile);
auth_of!(NotifyFile);
auth_of!(PrometheusFile);
auth_of!(PromServerFile);

/// Basic or bearer credentials of an outbound HTTP target. The secret keys without
/// `_file`/`_env` exist only so the resolver can refuse an inline secret by name.
#[derive(Debug, Clone, Default)]
pub struct AuthFile {
    /// Basic auth user name (not a secret).
    pub username: Option<Spanned<String>>,
    /// Refused: a password written in the inventory.
    pub password: Option<Spanned<toml::Value>>,
    /// Basic auth password read from this file.
    pub password_file: Option<Spanned<String>>,
    /// Basic auth password read from this environment variable.
    pub password_env: Option<Spanned<String>>,
    /// Refused: a token written in the inventory.
    pub bearer_token: Option<Spanned<toml::Value>>,
    /// Bearer token read from this file.
    pub bearer_token_file: Option<Spanned<String>>,
    /// Bearer token read from this environment variable.
    pub bearer_token_env: Option<Spanned<String>>,
}

/// `[fleet]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    /// Display name; defaults to the inventory file's stem.
    pub name: Option<Spanned<String>>,
    /// Default probe interval (`"5s"`).
    pub interval: Option<Spanned<DurationFile>>,
    /// `strict` or `accept-new`.
    pub host_key_policy: Option<HostKeyPolicyFile>,
    /// known_hosts files, in order.
    pub known_hosts: Option<Spanned<Vec<Spanned<String>>>>,
    /// Read-only console.
    pub readonly: Option<bool>,
    /// Record interactive shells (asciicast v2 under the state directory).
    pub record_sessions: Option<bool>,
}

/// `[ui]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiFile {
    /// The fleet table's default order.
    pub sort: Option<UiSortFile>,
    /// Ring the terminal bell when a host turns bad.
    pub bell: Option<bool>,
    /// Capture the mouse (false: the terminal's own selection works).
    pub mouse: Option<bool>,
}

/// `[exec]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecFile {
    /// Danger patterns replacing the built-in list.
    pub danger: Option<Spanned<Vec<Spanned<String>>>>,
    /// Danger patterns added to the built-in list (or to `danger`).
    pub danger_extra: Option<Vec<Spanned<String>>>,
    /// Hosts running the command at once.
    pub concurrency: Option<Spanned<u64>>,
}

/// `[ui] sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UiSortFile {
    /// `problems`.
    Problems,
    /// `inventory`.
    Inventory,
    /// `name`.
    Name,
}

/// `[ssh]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshFile {
    /// Remote user for every host.
    pub user: Option<Spanned<String>>,
    /// Private keys tried after the agent.
    #[serde(default)]
    pub identity_files: Vec<Spanned<String>>,
    /// OpenSSH user certificates offered with the keys they certify.
    #[serde(default)]
    pub certificate_files: Vec<Spanned<String>>,
    /// Connect + handshake + authentication deadline.
    pub connect_timeout: Option<Spanned<DurationFile>>,
    /// Deadline of one probe batch or runbook command.
    pub command_timeout: Option<Spanned<DurationFile>>,
    /// Output cap per command, in bytes.
    pub max_output_bytes: Option<Spanned<u64>>,
    /// OpenSSH client config consulted for aliases.
    pub config_file: Option<Spanned<String>>,
    /// Keep one shell per host for probe scripts (default true).
    pub resident_shell: Option<Spanned<bool>>,
    /// Jump hosts for every host (`"a,b"`, `"none"`).
    pub jump: Option<Spanned<String>>,
}

/// `[thresholds]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdsFile {
    /// Disk used percent that warns.
    pub disk_warn_percent: Option<Spanned<f64>>,
    /// Disk used percent that is critical.
    pub disk_crit_percent: Option<Spanned<f64>>,
    /// Blocks behind the highest node of the same chain before warning.
    pub height_lag_warn: Option<u64>,
    /// No new block for this long is critical.
    pub height_stall: Option<Spanned<DurationFile>>,
    /// Fewer peers than this warns.
    pub min_peers: Option<u64>,
    /// Certificates expiring within this many days warn.
    pub cert_warn_days: Option<u64>,
    /// A disk projected to fill within this many days warns.
    pub disk_full_warn_days: Option<Spanned<f64>>,
    /// A newest backup at least this many percent smaller than the one before is critical.
    pub backup_shrink_percent: Option<Spanned<f64>>,
    /// This many error lines in a log's window warn.
    pub log_errors_warn: Option<u64>,
}

/// An operator's role in `[operators]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoleFile {
    /// `admin`.
    Admin,
    /// `operator`.
    Operator,
    /// `developer`.
    Developer,
    /// `auditor`.
    Auditor,
}

/// `[fleet] host_key_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicyFile {
    /// `strict`.
    Strict,
    /// `accept-new`.
    AcceptNew,
}

/// `[profiles.NAME]`: what many hosts share.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// Services every host of the profile runs.
    #[serde(default)]
    pub services: Vec<Spanned<ServiceFile>>,
    /// The chain node every host of the profile runs.
    pub chain: Option<Spanned<ChainFile>>,
    /// Mount points to watch.
    #[serde(default)]
    pub disks: Vec<Spanned<DiskFile>>,
    /// Backup sets to watch.
    #[serde(default)]
    pub backups: Vec<Spanned<BackupFile>>,
    /// TLS certificates to watch.
    #[serde(default)]
    pub certs: Vec<Spanned<CertFile>>,
    /// Logs to tail.
    #[serde(default)]
    pub logs: Vec<Spanned<LogFile>>,
    /// Thresholds overriding `[thresholds]` for the profile's hosts.
    pub thresholds: Option<Spanned<ThresholdsFile>>,
    /// Posture settings overriding `[posture]`, key by key.
    pub posture: Option<Spanned<PostureFile>>,
    /// Region of the profile's hosts (a host's own `region` wins).
    pub region: Option<Spanned<String>>,
    /// Jump hosts of the profile's hosts (a host's own `jump` wins over it, it over `[ssh]`'s).
    pub jump: Option<Spanned<String>>,
    /// Where the profile's hosts' status comes from: `ssh`, `prometheus` or `both`.
    pub source: Option<Spanned<String>>,
}

/// One `[[hosts]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFile {
    /// Unique name.
    pub name: Spanned<String>,
    /// Address or `~/.ssh/config` alias; defaults to the name (`localhost` for local hosts).
    pub address: Option<Spanned<String>>,
    /// SSH port.
    pub port: Option<Spanned<u16>>,
    /// SSH user for this host.
    pub user: Option<Spanned<String>>,
    /// Identity files tried before the fleet's.
    #[serde(default)]
    pub identity_files: Vec<Spanned<String>>,
    /// User certificates offered before the fleet's.
    #[serde(default)]
    pub certificate_files: Vec<Spanned<String>>,
    /// Jump hosts: another inventory host or `[user@]host[:port]`, a chain `"a,b"`, or `"none"`.
    pub jump: Option<Spanned<String>>,
    /// `ssh` (default) or `local`.
    pub transport: Option<TransportFile>,
    /// Profile merged into this host.
    pub profile: Option<Spanned<String>>,
    /// Selection groups.
    #[serde(default)]
    pub groups: Vec<Spanned<String>>,
    /// BFT consensus group.
    pub consensus_group: Option<Spanned<String>>,
    /// Region (data centre, cloud region) for grouping; replaces the profile's.
    pub region: Option<Spanned<String>>,
    /// `consensus`, `observer` or `free` (default).
    pub role: Option<Spanned<NodeRoleFile>>,
    /// Probe interval of this host; defaults to `[fleet] interval`.
    pub interval: Option<Spanned<DurationFile>>,
    /// Services, added after the profile's.
    #[serde(default)]
    pub services: Vec<Spanned<ServiceFile>>,
    /// Chain node; replaces the profile's.
    pub chain: Option<Spanned<ChainFile>>,
    /// Mount points, added after the profile's.
    #[serde(default)]
    pub disks: Vec<Spanned<DiskFile>>,
    /// Backup sets, added after the profile's.
    #[serde(default)]
    pub backups: Vec<Spanned<BackupFile>>,
    /// Certificates, added after the profile's.
    #[serde(default)]
    pub certs: Vec<Spanned<CertFile>>,
    /// Logs, added after the profile's.
    #[serde(default)]
    pub logs: Vec<Spanned<LogFile>>,
    /// Thresholds overriding the profile's and `[thresholds]`, key by key.
    pub thresholds: Option<Spanned<ThresholdsFile>>,
    /// Where the host's status comes from (`ssh`, `prometheus`, `both`); replaces the profile's.
    pub source: Option<Spanned<String>>,
    /// Posture settings overriding the profile's and `[posture]`, key by key.
    pub posture: Option<Spanned<PostureFile>>,
}

/// `[[hosts]] transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportFile {
    /// `ssh`.
    Ssh,
    /// `local`.
    Local,
}

/// `[[hosts]] role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeRoleFile {
    /// `consensus`.
    Consensus,
    /// `observer`.
    Observer,
    /// `free`.
    Free,
}

/// One service, an inline table `{ name, kind, ... }`.
///
/// The kind-specific keys are all optional here because serde cannot say *which* key a kind is
/// missing in words an operator understands; [`super::load`] checks them per kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFile {
    /// Name shown to the operator, unique within a host.
    pub name: Spanned<String>,
    /// How the state is found.
    pub kind: Spanned<ServiceKindFile>,
    /// `systemd`: unit name.
    pub unit: Option<Spanned<String>>,
    /// `docker`: container name or id.
    pub container: Option<Spanned<String>>,
    /// `docker`: compose file on the host (`~/` as for every host path), with
    /// `compose_service`.
    pub compose_file: Option<Spanned<String>>,
    /// `docker`: compose service, with `compose_file`.
    pub compose_service: Option<Spanned<String>>,
    /// `process`: pidfile on the host (`~/` as for every host path).
    pub pidfile: Option<Spanned<String>>,
    /// `process`: `pgrep -f` pattern.
    pub pattern: Option<Spanned<String>>,
    /// `port`: TCP port.
    pub port: Option<Spanned<u16>>,
    /// `port`: address dialled from the host (default 127.0.0.1).
    pub address: Option<Spanned<String>>,
    /// `http`: URL requested from the host.
    pub url: Option<Spanned<String>>,
    /// `http`: expected status (default 200).
    pub expect_status: Option<Spanned<u16>>,
    /// `command`: exit 0 means running.
    pub command: Option<Spanned<String>>,
    /// Runbook template: start.
    pub start: Option<Spanned<String>>,
    /// Runbook template: stop.
    pub stop: Option<Spanned<String>>,
    /// Runbook template: restart.
    pub restart: Option<Spanned<String>>,
    /// Runbook template: print the running version.
    pub version: Option<Spanned<String>>,
    /// Runbook template: switch to `{{version}}`.
    pub upgrade: Option<Spanned<String>>,
    /// Runbook template: switch back.
    pub rollback: Option<Spanned<String>>,
}

/// A service's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceKindFile {
    /// `systemd`.
    Systemd,
    /// `docker`.
    Docker,
    /// `process`.
    Process,
    /// `port`.
    Port,
    /// `http`.
    Http,
    /// `command`.
    Command,
}

impl ServiceKindFile {
    /// The spelling used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Systemd => "systemd",
            Self::Docker => "docker",
            Self::Process => "process",
            Self::Port => "port",
            Self::Http => "http",
            Self::Command => "command",
        }
    }
}

/// A chain node, `{ kind, rpc | command, group_id | group }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainFile {
    /// RPC dialect.
    pub kind: Spanned<ChainKindFile>,
    /// RPC URL as seen from the host (RPC kinds).
    pub rpc: Option<Spanned<String>>,
    /// Command printing the height (`kind = "command"`).
    pub command: Option<Spanned<String>>,
    /// FISCO BCOS 2.x group id (default 1).
    pub group_id: Option<Spanned<u32>>,
    /// FISCO BCOS 3.x group name (`"group0"`).
    pub group: Option<Spanned<String>>,
}

/// A chain's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChainKindFile {
    /// `ethereum`.
    Ethereum,
    /// `conflux`.
    Conflux,
    /// `fisco-bcos`.
    FiscoBcos,
    /// `command`.
    Command,
}

impl ChainKindFile {
    /// The spelling used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ethereum => "ethereum",
            Self::Conflux => "conflux",
            Self::FiscoBcos => "fisco-bcos",
            Self::Command => "command",
        }
    }
}

/// A watched mount point, `{ mount }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskFile {
    /// Absolute mount point on the host.
    pub mount: Spanned<String>,
}

/// A watched backup set, `{ name, dir, pattern, every }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupFile {
    /// Name shown to the operator, unique within a host.
    pub name: Spanned<String>,
    /// Directory on the host; `~/` is the login user's home there, as for every host path
    /// (`crate::host_path`).
    pub dir: Spanned<String>,
    /// Glob of the backup files in `dir`.
    pub pattern: Spanned<String>,
    /// Expected cadence (`"24h"`).
    pub every: Spanned<DurationFile>,
}

/// A watched TLS certificate, `{ name, path }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertFile {
    /// Name shown to the operator, unique within a host.
    pub name: Spanned<String>,
    /// PEM file on the host (`~/` is the login user's home).
    pub path: Spanned<String>,
}

/// A tailed log, `{ name, unit | file, format, patterns, lines, window }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFile {
    /// Name shown to the operator, unique within a host.
    pub name: Spanned<String>,
    /// systemd unit whose journal is tailed.
    pub unit: Option<Spanned<String>>,
    /// File on the host that is tailed (`~/` as for every host path).
    pub file: Option<Spanned<String>>,
    /// `plain` (default) or `fisco`.
    pub format: Option<Spanned<LogFormatFile>>,
    /// Regular expressions counted as errors.
    pub patterns: Option<Spanned<Vec<Spanned<String>>>>,
    /// Lines read from the end of the log per probe.
    pub lines: Option<Spanned<u64>>,
    /// Counts cover this much time back from the host's clock.
    pub window: Option<Spanned<DurationFile>>,
}

/// A log's `format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormatFile {
    /// Any text.
    Plain,
    /// FISCO BCOS `level|time|[module] content`.
    Fisco,
}

/// A duration as written (`"5s"`, `"2m"`); [`super::load`] parses it with `humantime` so the
/// error can name the key and show examples.
///
/// It exists instead of a bare `String` so that `interval = 5` says "expected a duration string
/// like \"5s\"" rather than "expected a string".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationFile(pub String);

impl<'de> Deserialize<'de> for DurationFile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DurationFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string like \"5s\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DurationFile, E> {
                Ok(DurationFile(v.to_owned()))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

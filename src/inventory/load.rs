//! Finding, parsing and validating the inventory: TOML text in, a [`Fleet`] or one precise
//! [`ConfigError`] out.
//!
//! This module owns the lookup order of the inventory file, the defaults, profile merging, `~`
//! and relative-path resolution of *local* paths, every semantic check, and the wording of
//! every inventory error (`PATH:LINE:COL: what was expected`). It also builds the embedded
//! default fleet (this machine over the local transport) and the `config check` summary.
//!
//! It must never panic on any input and never touch the network; it reads the local machine only
//! in [`embedded_default`] (hostname and mounts). Paths that live on the *remote* host (disk
//! mounts, backup dirs, pidfiles, compose files) are kept verbatim: expanding `~` there with
//! the console's home would be wrong.
//!
//! Callers: the CLI at start-up ([`load_fleet`]) and `fleetdeck config check` ([`describe`]).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fmt::{self, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue};

use super::file::{
    BackupFile, CertFile, ChainFile, ChainKindFile, DiskFile, DurationFile, HostFile,
    HostKeyPolicyFile, InventoryFile, LogFile, LogFormatFile, NodeRoleFile, ProfileFile, RoleFile,
    ServiceFile, ServiceKindFile, ThresholdsFile, TransportFile,
};
use super::{
    BackupSet, CertPath, Chain, ChainKind, DEFAULT_LOG_PATTERNS, Disk, Fleet, Host, HostKeyPolicy,
    LogFormat, LogOrigin, LogSource, NodeRole, Role, Service, ServiceCommands, ServiceKind,
    SshDefaults, Thresholds, TransportKind,
};

/// Default probe interval.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// Default SSH connect deadline.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default command deadline.
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Default output cap per command.
const DEFAULT_MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// Default known_hosts file.
const DEFAULT_KNOWN_HOSTS: &str = "~/.ssh/known_hosts";
/// Default OpenSSH client config.
const DEFAULT_SSH_CONFIG: &str = "~/.ssh/config";
/// Name of the inventory looked up in the working directory.
const CWD_CONFIG: &str = "fleetdeck.toml";
/// Environment variable naming the inventory.
const CONFIG_ENV: &str = "FLEETDECK_CONFIG";
/// How many local mounts the embedded default watches, `/` included.
const EMBEDDED_MAX_DISKS: usize = 6;
/// Lines read from the end of a log when `lines` is not given.
const DEFAULT_LOG_LINES: u32 = 200;
/// Most lines a log may ask for: the tail travels over SSH on every log probe.
const MAX_LOG_LINES: u64 = 5000;
/// Window of a log's counts when `window` is not given.
const DEFAULT_LOG_WINDOW: Duration = Duration::from_secs(600);

const DURATION_HINT: &str = "expected a duration like \"5s\", \"2m\", \"1h\"";
const TOP_LEVEL: &str = "the top level";

/// Where a fleet's inventory came from.
#[derive(Debug, Clone, serde::Serialize)]
pub enum ConfigSource {
    /// An inventory file, as the path was given or found.
    File(PathBuf),
    /// No file: the built-in one-host fleet of this machine.
    Embedded,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Embedded => f.write_str("<embedded default>"),
        }
    }
}

/// One problem with the inventory, with the file and (when known) the 1-based line and column.
///
/// Displays as `PATH:LINE:COL: MESSAGE`, or `PATH: MESSAGE` without a position, so editors and
/// terminals can jump to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}{}: {message}", position_suffix(*.line, *.column))]
pub struct ConfigError {
    /// The inventory as the operator named it (or `<embedded default>`).
    pub path: String,
    /// 1-based line.
    pub line: Option<usize>,
    /// 1-based column, in characters.
    pub column: Option<usize>,
    /// What is wrong and what was expected.
    pub message: String,
}

fn position_suffix(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(":{line}:{column}"),
        (Some(line), None) => format!(":{line}"),
        _ => String::new(),
    }
}

impl ConfigError {
    /// An error about the file as a whole (missing, unreadable, empty of hosts).
    fn whole(path: impl fmt::Display, message: impl Into<String>) -> Self {
        Self {
            path: path.to_string(),
            line: None,
            column: None,
            message: message.into(),
        }
    }
}

/// Finds the inventory file: `explicit` (`--config`), then `$FLEETDECK_CONFIG`, then
/// `./fleetdeck.toml`, then `$XDG_CONFIG_HOME/fleetdeck/fleet.toml` (`~/.config` when unset).
///
/// A file named explicitly or by the environment must exist; the two implicit places are only
/// used when they do. `Ok(None)` means "use [`embedded_default`]".
pub fn find_config(explicit: Option<&Path>) -> Result<Option<PathBuf>, ConfigError> {
    let cwd = std::env::current_dir().ok();
    let home = dirs::home_dir();
    find_config_in(
        explicit,
        |name| std::env::var_os(name),
        cwd.as_deref(),
        home.as_deref(),
    )
}

/// [`find_config`] with the environment, working directory and home passed in, so the order
/// can be tested without mutating process-wide state.
fn find_config_in(
    explicit: Option<&Path>,
    env: impl Fn(&str) -> Option<OsString>,
    cwd: Option<&Path>,
    home: Option<&Path>,
) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(path) = explicit {
        // `--config=~/x` reaches us unexpanded: no shell expands a tilde after `=`.
        let path = expand_home(path, home);
        return must_exist(&path, "given with --config").map(Some);
    }
    if let Some(value) = env(CONFIG_ENV).filter(|v| !v.is_empty()) {
        let path = expand_home(Path::new(&value), home);
        return must_exist(&path, "named by $FLEETDECK_CONFIG").map(Some);
    }
    if let Some(cwd) = cwd {
        let path = cwd.join(CWD_CONFIG);
        if path.is_file() {
            // Shown to operators, so keep it as short as they would type it.
            return Ok(Some(PathBuf::from(CWD_CONFIG)));
        }
    }
    let xdg = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        // The XDG spec says a relative value is invalid and must be ignored.
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| h.join(".config")));
    if let Some(dir) = xdg {
        let path = dir.join("fleetdeck").join("fleet.toml");
        if path.is_file() {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

fn must_exist(path: &Path, how: &str) -> Result<PathBuf, ConfigError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(ConfigError::whole(
            path.display(),
            format!("is a directory ({how}), expected an inventory file"),
        )),
        Ok(_) => Ok(path.to_path_buf()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(ConfigError::whole(
            path.display(),
            format!("no such inventory file ({how})"),
        )),
        Err(err) => Err(ConfigError::whole(
            path.display(),
            format!("cannot read the inventory ({how}): {err}"),
        )),
    }
}

/// Finds the inventory with [`find_config`] and loads it; with no file anywhere, returns
/// [`embedded_default`].
pub fn load_fleet(explicit: Option<&Path>) -> Result<Fleet, ConfigError> {
    match find_config(explicit)? {
        Some(path) => load_fleet_file(&path),
        None => Ok(embedded_default()),
    }
}

/// Reads and loads one inventory file.
pub fn load_fleet_file(path: &Path) -> Result<Fleet, ConfigError> {
    let bytes = std::fs::read(path).map_err(|err| {
        ConfigError::whole(path.display(), format!("cannot read the inventory: {err}"))
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let valid = err.utf8_error().valid_up_to();
            let prefix = String::from_utf8_lossy(&err.as_bytes()[..valid]);
            let (line, column) = line_column(&prefix, valid);
            return Err(ConfigError {
                path: path.display().to_string(),
                line: Some(line),
                column: Some(column),
                message: "the inventory is not valid UTF-8 text".into(),
            });
        }
    };
    load_fleet_from_str(&text, ConfigSource::File(path.to_path_buf()))
}

/// Parses and validates inventory text. `source` names the file in errors and anchors relative
/// local paths (known_hosts, identity files, the SSH config) to the file's directory.
pub fn load_fleet_from_str(text: &str, source: ConfigSource) -> Result<Fleet, ConfigError> {
    let ctx = Ctx {
        path: source.to_string(),
        text,
    };
    // The untyped, spanned parse comes first: it reports syntax errors, and its key paths let
    // serde's errors say *where* ("in host \"db-1\"") and not only *what*.
    let doc = DeTable::parse(text).map_err(|err| ctx.toml_error(&err, None))?;
    let file: InventoryFile =
        toml::from_str(text).map_err(|err| ctx.toml_error(&err, Some(doc.get_ref())))?;
    let base_dir = match &source {
        ConfigSource::File(path) => {
            let parent = path.parent().unwrap_or(Path::new(""));
            if parent.is_absolute() {
                Some(parent.to_path_buf())
            } else {
                std::env::current_dir().ok().map(|cwd| cwd.join(parent))
            }
        }
        ConfigSource::Embedded => None,
    };
    let stem = match &source {
        ConfigSource::File(path) => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty()),
        ConfigSource::Embedded => None,
    };
    let resolver = Resolver {
        ctx: &ctx,
        base_dir,
        home: dirs::home_dir(),
    };
    resolver.fleet(file, source, stem)
}

/// This machine as a one-host fleet over the local transport: what fleetdeck watches when no
/// inventory exists, so a first run shows something useful instead of an error.
pub fn embedded_default() -> Fleet {
    let host_name = sysinfo::System::host_name()
        .ok()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let disks = local_mounts()
        .into_iter()
        .map(|mount| Disk { mount })
        .collect();
    let home = dirs::home_dir();
    Fleet {
        name: "local".to_owned(),
        source: ConfigSource::Embedded,
        interval: DEFAULT_INTERVAL,
        host_key_policy: HostKeyPolicy::Strict,
        known_hosts: vec![expand_home(Path::new(DEFAULT_KNOWN_HOSTS), home.as_deref())],
        ssh: SshDefaults {
            user: None,
            identity_files: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            config_file: Some(expand_home(Path::new(DEFAULT_SSH_CONFIG), home.as_deref())),
        },
        thresholds: Thresholds::default(),
        operators: BTreeMap::new(),
        readonly: false,
        hosts: vec![Host {
            name: host_name,
            address: "localhost".to_owned(),
            port: None,
            user: None,
            identity_files: Vec::new(),
            transport: TransportKind::Local,
            profile: None,
            groups: Vec::new(),
            consensus_group: None,
            region: None,
            role: NodeRole::Free,
            interval: DEFAULT_INTERVAL,
            services: Vec::new(),
            chain: None,
            disks,
            backups: Vec::new(),
            certs: Vec::new(),
            logs: Vec::new(),
            thresholds: Thresholds::default(),
        }],
    }
}

/// `/` plus the real local filesystems, deduplicated, at most [`EMBEDDED_MAX_DISKS`].
fn local_mounts() -> Vec<String> {
    let mut mounts = vec!["/".to_owned()];
    // `nothing()`: only the mount table is wanted; statvfs on every mount would be wasted
    // work here, since the disk probe measures usage itself.
    let Ok(disks) =
        sysinfo::Disks::new_with_refreshed_list_specifics(sysinfo::DiskRefreshKind::nothing())
    else {
        return mounts;
    };
    for disk in disks.iter() {
        if mounts.len() >= EMBEDDED_MAX_DISKS {
            break;
        }
        let fs = disk.file_system().to_string_lossy();
        let Some(mount) = disk.mount_point().to_str() else {
            continue;
        };
        if is_real_mount(&fs, mount) && !mounts.iter().any(|m| m == mount) {
            mounts.push(mount.to_owned());
        }
    }
    mounts
}

/// Whether a mount is storage an operator cares about, not a pseudo, overlay or container one:
/// the rule the Host pane's filesystem list uses too ([`crate::mounts::is_real_mount`]).
fn is_real_mount(fs: &str, mount: &str) -> bool {
    crate::mounts::is_real_mount(fs, mount)
}

/// A human-readable summary of everything the inventory says, for `fleetdeck config check`.
pub fn describe(fleet: &Fleet) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored on purpose.
    let _ = write_description(&mut out, fleet);
    out
}

fn write_description(out: &mut String, fleet: &Fleet) -> fmt::Result {
    let paths = |list: &[PathBuf]| -> String {
        if list.is_empty() {
            "none".to_owned()
        } else {
            list.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    writeln!(out, "source: {}", fleet.source)?;
    writeln!(out, "fleet: {}", fleet.name)?;
    writeln!(
        out,
        "  interval: {}",
        humantime::format_duration(fleet.interval)
    )?;
    let policy = match fleet.host_key_policy {
        HostKeyPolicy::Strict => "strict",
        HostKeyPolicy::AcceptNew => "accept-new",
    };
    writeln!(out, "  host key policy: {policy}")?;
    writeln!(out, "  known hosts: {}", paths(&fleet.known_hosts))?;
    writeln!(
        out,
        "  readonly: {}",
        if fleet.readonly { "yes" } else { "no" }
    )?;
    let ssh = &fleet.ssh;
    writeln!(out, "ssh:")?;
    writeln!(
        out,
        "  user: {}",
        ssh.user
            .as_deref()
            .unwrap_or("(from ~/.ssh/config or $USER)")
    )?;
    writeln!(out, "  identity files: {}", paths(&ssh.identity_files))?;
    writeln!(
        out,
        "  connect timeout: {}, command timeout: {}, max output: {} bytes",
        humantime::format_duration(ssh.connect_timeout),
        humantime::format_duration(ssh.command_timeout),
        ssh.max_output_bytes
    )?;
    writeln!(
        out,
        "  config file: {}",
        ssh.config_file
            .as_ref()
            .map_or_else(|| "none".to_owned(), |p| p.display().to_string())
    )?;
    let t = &fleet.thresholds;
    writeln!(out, "thresholds:")?;
    writeln!(
        out,
        "  disk: warn at {}%, critical at {}%",
        t.disk_warn_percent, t.disk_crit_percent
    )?;
    writeln!(
        out,
        "  chain: warn {} blocks behind, critical after {} without a block, warn below {} peers",
        t.height_lag_warn,
        humantime::format_duration(t.height_stall),
        t.min_peers
    )?;
    write_threshold_details(out, t, "  ")?;
    if fleet.operators.is_empty() {
        writeln!(out, "operators: none")?;
    } else {
        writeln!(out, "operators:")?;
        for (name, role) in &fleet.operators {
            writeln!(out, "  {name}: {}", role_str(*role))?;
        }
    }
    writeln!(out, "hosts: {}", fleet.hosts.len())?;
    for host in &fleet.hosts {
        write_host(out, host, t)?;
    }
    Ok(())
}

/// The threshold lines after the disk and chain ones (shared by the fleet and host overrides).
fn write_threshold_details(out: &mut String, t: &Thresholds, indent: &str) -> fmt::Result {
    writeln!(
        out,
        "{indent}certificates: warn {} days before expiry",
        t.cert_warn_days
    )?;
    writeln!(
        out,
        "{indent}disk trend: warn when full within {} days; backups: critical when {}% smaller \
         than the previous one; logs: warn at {} errors in the window",
        t.disk_full_warn_days, t.backup_shrink_percent, t.log_errors_warn
    )
}

/// Whether two threshold sets say the same (for printing only the overridden ones).
fn same_thresholds(a: &Thresholds, b: &Thresholds) -> bool {
    a.disk_warn_percent == b.disk_warn_percent
        && a.disk_crit_percent == b.disk_crit_percent
        && a.height_lag_warn == b.height_lag_warn
        && a.height_stall == b.height_stall
        && a.min_peers == b.min_peers
        && a.cert_warn_days == b.cert_warn_days
        && a.disk_full_warn_days == b.disk_full_warn_days
        && a.backup_shrink_percent == b.backup_shrink_percent
        && a.log_errors_warn == b.log_errors_warn
}

fn write_host(out: &mut String, host: &Host, fleet_thresholds: &Thresholds) -> fmt::Result {
    let transport = match host.transport {
        TransportKind::Ssh => "ssh",
        TransportKind::Local => "local",
    };
    let endpoint = match (host.transport, host.port) {
        (TransportKind::Local, _) => host.address.clone(),
        (TransportKind::Ssh, Some(port)) => format!("{}:{port}", host.address),
        (TransportKind::Ssh, None) => format!("{} (port from ~/.ssh/config or 22)", host.address),
    };
    writeln!(out, "  {}: {endpoint} over {transport}", host.name)?;
    if let Some(profile) = &host.profile {
        writeln!(out, "    profile: {profile}")?;
    }
    if let Some(user) = &host.user {
        writeln!(out, "    user: {user}")?;
    }
    if !host.identity_files.is_empty() {
        let files: Vec<_> = host
            .identity_files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        writeln!(out, "    identity files: {}", files.join(", "))?;
    }
    if !host.groups.is_empty() {
        writeln!(out, "    groups: {}", host.groups.join(", "))?;
    }
    if let Some(region) = &host.region {
        writeln!(out, "    region: {region}")?;
    }
    let role = match host.role {
        NodeRole::Consensus => "consensus",
        NodeRole::Observer => "observer",
        NodeRole::Free => "free",
    };
    match &host.consensus_group {
        Some(group) => writeln!(out, "    consensus group: {group} as {role}")?,
        None => writeln!(out, "    role: {role}")?,
    }
    writeln!(
        out,
        "    interval: {}",
        humantime::format_duration(host.interval)
    )?;
    if host.services.is_empty() {
        writeln!(out, "    services: none")?;
    } else {
        writeln!(out, "    services:")?;
        for service in &host.services {
            writeln!(
                out,
                "      {}: {}",
                service.name,
                describe_service_kind(&service.kind)
            )?;
            let c = &service.commands;
            for (name, template) in [
                ("start", &c.start),
                ("stop", &c.stop),
                ("restart", &c.restart),
                ("version", &c.version),
                ("upgrade", &c.upgrade),
                ("rollback", &c.rollback),
            ] {
                if let Some(template) = template {
                    writeln!(out, "        {name}: {template}")?;
                }
            }
        }
    }
    match &host.chain {
        None => writeln!(out, "    chain: none")?,
        Some(chain) => {
            let kind = chain_kind_str(chain.kind);
            match (chain.kind, &chain.rpc, &chain.command) {
                (ChainKind::Command, _, command) => writeln!(
                    out,
                    "    chain: height from command `{}`",
                    command.as_deref().unwrap_or("")
                )?,
                (ChainKind::FiscoBcos, rpc, _) => writeln!(
                    out,
                    "    chain: {kind} at {}, group {}",
                    rpc.as_deref().unwrap_or("?"),
                    chain
                        .group
                        .clone()
                        .unwrap_or_else(|| chain.group_id.to_string())
                )?,
                (_, rpc, _) => writeln!(
                    out,
                    "    chain: {kind} at {}",
                    rpc.as_deref().unwrap_or("?")
                )?,
            }
        }
    }
    if host.disks.is_empty() {
        writeln!(out, "    disks: none")?;
    } else {
        let mounts: Vec<_> = host.disks.iter().map(|d| d.mount.as_str()).collect();
        writeln!(out, "    disks: {}", mounts.join(", "))?;
    }
    if host.backups.is_empty() {
        writeln!(out, "    backups: none")?;
    } else {
        writeln!(out, "    backups:")?;
        for b in &host.backups {
            writeln!(
                out,
                "      {}: {}/{} every {}",
                b.name,
                b.dir.trim_end_matches('/'),
                b.pattern,
                humantime::format_duration(b.every)
            )?;
        }
    }
    if !host.certs.is_empty() {
        writeln!(out, "    certs:")?;
        for c in &host.certs {
            writeln!(out, "      {}: {}", c.name, c.path)?;
        }
    }
    if !host.logs.is_empty() {
        writeln!(out, "    logs:")?;
        for l in &host.logs {
            let origin = match &l.origin {
                LogOrigin::Unit(u) => format!("journal of {u}"),
                LogOrigin::File(f) => format!("file {f}"),
            };
            let format = match l.format {
                LogFormat::Plain => "plain",
                LogFormat::Fisco => "fisco",
            };
            writeln!(
                out,
                "      {}: {origin}, {format}, last {} lines, window {}, patterns [{}]",
                l.name,
                l.lines,
                humantime::format_duration(l.window),
                l.patterns.join(", ")
            )?;
        }
    }
    let t = &host.thresholds;
    if !same_thresholds(t, fleet_thresholds) {
        writeln!(out, "    thresholds:")?;
        writeln!(
            out,
            "      disk: warn at {}%, critical at {}%",
            t.disk_warn_percent, t.disk_crit_percent
        )?;
        writeln!(
            out,
            "      chain: warn {} blocks behind, critical after {} without a block, warn below {} peers",
            t.height_lag_warn,
            humantime::format_duration(t.height_stall),
            t.min_peers
        )?;
        write_threshold_details(out, t, "      ")?;
    }
    Ok(())
}

fn describe_service_kind(kind: &ServiceKind) -> String {
    match kind {
        ServiceKind::Systemd { unit } => format!("systemd unit {unit}"),
        ServiceKind::Docker {
            container: Some(container),
            ..
        } => format!("docker container {container}"),
        ServiceKind::Docker {
            compose_file,
            compose_service,
            ..
        } => format!(
            "docker compose service {} of {}",
            compose_service.as_deref().unwrap_or("?"),
            compose_file.as_deref().unwrap_or("?")
        ),
        ServiceKind::Process {
            pidfile: Some(pidfile),
            ..
        } => format!("process with pidfile {pidfile}"),
        ServiceKind::Process { pattern, .. } => {
            format!("process matching `{}`", pattern.as_deref().unwrap_or(""))
        }
        ServiceKind::Port { address, port } => format!("port {address}:{port}"),
        ServiceKind::Http { url, expect_status } => format!("http {url} expecting {expect_status}"),
        ServiceKind::Command { command } => format!("command `{command}`"),
    }
}

fn role_str(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Operator => "operator",
        Role::Developer => "developer",
        Role::Auditor => "auditor",
    }
}

fn chain_kind_str(kind: ChainKind) -> &'static str {
    match kind {
        ChainKind::Ethereum => "ethereum",
        ChainKind::Conflux => "conflux",
        ChainKind::FiscoBcos => "fisco-bcos",
        ChainKind::Command => "command",
    }
}

// ---------------------------------------------------------------------------------------------
// Positions and wording

/// The text being loaded and the name it is reported under.
struct Ctx<'a> {
    path: String,
    text: &'a str,
}

impl Ctx<'_> {
    /// An error at `span` of the text.
    fn at(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, column) = line_column(self.text, span.start);
        ConfigError {
            path: self.path.clone(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }

    fn whole(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::whole(&self.path, message)
    }

    /// A `toml` error, reworded with the key path found in `doc` when there is one.
    fn toml_error(&self, err: &toml::de::Error, doc: Option<&DeTable<'_>>) -> ConfigError {
        let message = err.message().trim_end().to_owned();
        let Some(span) = err.span() else {
            return self.whole(message);
        };
        let message = match doc {
            Some(doc) => reword(&message, &span, doc),
            None => self.name_the_key(message, &span),
        };
        self.at(span, message)
    }

    /// toml says only "duplicate key"; the operator wants to know which one.
    fn name_the_key(&self, message: String, span: &Range<usize>) -> String {
        match self.text.get(span.clone()) {
            Some(key) if message == "duplicate key" && !key.is_empty() && !key.contains('\n') => {
                format!("duplicate key `{key}`")
            }
            _ => message,
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// One step of a key path in the parsed document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Whether a span matched a key or a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hit {
    Key,
    Value,
}

/// Finds the deepest key or value whose span is exactly `span`, leaving its path in `path`.
fn locate(table: &DeTable<'_>, span: &Range<usize>, path: &mut Vec<Seg>) -> Option<Hit> {
    for (key, value) in table.iter() {
        path.push(Seg::Key(key.get_ref().to_string()));
        if key.span() == *span {
            return Some(Hit::Key);
        }
        if let Some(hit) = locate_value(value, span, path) {
            return Some(hit);
        }
        path.pop();
    }
    None
}

fn locate_value(
    value: &Spanned<DeValue<'_>>,
    span: &Range<usize>,
    path: &mut Vec<Seg>,
) -> Option<Hit> {
    // Children first: an array of tables shares its span with its first table, and the
    // table is the more precise answer.
    match value.get_ref() {
        DeValue::Table(table) => {
            if let Some(hit) = locate(table, span, path) {
                return Some(hit);
            }
        }
        DeValue::Array(array) => {
            for (i, item) in array.iter().enumerate() {
                path.push(Seg::Index(i));
                if let Some(hit) = locate_value(item, span, path) {
                    return Some(hit);
                }
                path.pop();
            }
        }
        _ => {}
    }
    (value.span() == *span).then_some(Hit::Value)
}

/// The value at `path` in the document.
fn value_at<'d, 'i>(doc: &'d DeTable<'i>, path: &[Seg]) -> Option<&'d DeValue<'i>> {
    let (first, rest) = path.split_first()?;
    let Seg::Key(first) = first else {
        return None;
    };
    let mut current = doc
        .iter()
        .find(|(k, _)| k.get_ref() == first)
        .map(|(_, v)| v.get_ref())?;
    for seg in rest {
        current = match (seg, current) {
            (Seg::Key(key), DeValue::Table(table)) => table
                .iter()
                .find(|(k, _)| k.get_ref() == key)
                .map(|(_, v)| v.get_ref())?,
            (Seg::Index(i), DeValue::Array(array)) => array.get(*i).map(|v| v.get_ref())?,
            _ => return None,
        };
    }
    Some(current)
}

/// The string under `key` of the table at `path`, for naming things in messages.
fn string_at(doc: &DeTable<'_>, path: &[Seg], key: &str) -> Option<String> {
    let mut full = path.to_vec();
    full.push(Seg::Key(key.to_owned()));
    value_at(doc, &full)?.as_str().map(str::to_owned)
}

fn is_owner(path: &[Seg]) -> bool {
    matches!(path, [Seg::Key(k), Seg::Index(_)] if k == "hosts")
        || matches!(path, [Seg::Key(k), Seg::Key(_)] if k == "profiles")
}

/// How messages name the table at `path`: `[fleet]`, `host "db-1"`, `service "geth" of
/// [profiles.geth-node]`, … The same labels are built by [`Resolver`] for semantic errors.
fn place_of(doc: &DeTable<'_>, path: &[Seg]) -> String {
    match path {
        [] => TOP_LEVEL.to_owned(),
        [Seg::Key(k), Seg::Index(i)] if k == "hosts" => {
            host_label(*i, string_at(doc, path, "name").as_deref())
        }
        [Seg::Key(k), Seg::Key(name)] if k == "profiles" => profile_label(name),
        [owner @ .., Seg::Key(list), Seg::Index(i)] if is_owner(owner) => {
            let owner_label = place_of(doc, owner);
            match list.as_str() {
                "services" => item_label(
                    "service",
                    string_at(doc, path, "name").as_deref(),
                    *i,
                    &owner_label,
                ),
                "backups" => item_label(
                    "backup",
                    string_at(doc, path, "name").as_deref(),
                    *i,
                    &owner_label,
                ),
                "disks" => item_label(
                    "disk",
                    string_at(doc, path, "mount").as_deref(),
                    *i,
                    &owner_label,
                ),
                "certs" => item_label(
                    "cert",
                    string_at(doc, path, "name").as_deref(),
                    *i,
                    &owner_label,
                ),
                "logs" => item_label(
                    "log",
                    string_at(doc, path, "name").as_deref(),
                    *i,
                    &owner_label,
                ),
                _ => format!("`{}`", dotted(path)),
            }
        }
        [owner @ .., Seg::Key(k)] if k == "chain" && is_owner(owner) => {
            chain_label(&place_of(doc, owner))
        }
        [owner @ .., Seg::Key(k)] if k == "thresholds" && is_owner(owner) => {
            thresholds_label(&place_of(doc, owner))
        }
        [Seg::Key(table)] => format!("[{}]", toml_key(table)),
        _ => format!("`{}`", dotted(path)),
    }
}

fn dotted(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&toml_key(k));
            }
            Seg::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

/// A key as TOML would need it written: bare when possible, quoted otherwise.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

fn host_label(index: usize, name: Option<&str>) -> String {
    match name {
        Some(name) if !name.trim().is_empty() => format!("host {name:?}"),
        _ => format!("[[hosts]] #{}", index + 1),
    }
}

fn profile_label(name: &str) -> String {
    format!("[profiles.{}]", toml_key(name))
}

fn item_label(what: &str, name: Option<&str>, index: usize, owner: &str) -> String {
    match name {
        Some(name) if !name.trim().is_empty() => format!("{what} {name:?} of {owner}"),
        _ => format!("{what} #{} of {owner}", index + 1),
    }
}

fn chain_label(owner: &str) -> String {
    format!("the chain of {owner}")
}

fn thresholds_label(owner: &str) -> String {
    format!("the thresholds of {owner}")
}

/// The one line of a `regex` error that says what is wrong (its syntax errors come with a
/// multi-line drawing of the pattern).
fn regex_problem(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.strip_prefix("error: ").unwrap_or(l).to_owned())
        .unwrap_or(text)
}

/// `in [fleet]`, or `at the top level`.
fn within(place: &str) -> String {
    if place == TOP_LEVEL {
        format!("at {place}")
    } else {
        format!("in {place}")
    }
}

/// Rewords serde's messages into inventory terms ("key", "table") and adds where it happened.
fn reword(message: &str, span: &Range<usize>, doc: &DeTable<'_>) -> String {
    let mut path = Vec::new();
    let Some(hit) = locate(doc, span, &mut path) else {
        return message.to_owned();
    };
    // What the error is about (the last key, or `list[i]`) and the table holding it.
    let (target, parent): (String, &[Seg]) = match path.as_slice() {
        [parent @ .., Seg::Key(list), Seg::Index(i)] => (format!("{list}[{i}]"), parent),
        [parent @ .., Seg::Key(key)] => (key.clone(), parent),
        _ => (String::new(), &[]),
    };
    let parent_place = within(&place_of(doc, parent));

    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((key, tail)) = rest.split_once('`')
    {
        let tail = tail.strip_prefix(", there are no fields").unwrap_or(tail);
        return format!("unknown key `{key}` {parent_place}{tail}");
    }
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((key, _)) = rest.split_once('`')
    {
        let place = if hit == Hit::Value {
            within(&place_of(doc, &path))
        } else {
            parent_place
        };
        return format!("missing key `{key}` {place}");
    }
    if let Some(rest) = message.strip_prefix("unknown variant `")
        && let Some((value, tail)) = rest.split_once('`')
    {
        return format!("invalid value {value:?} for `{target}` {parent_place}{tail}");
    }
    for (prefix, what) in [
        ("invalid type: ", "invalid type"),
        ("invalid value: ", "invalid value"),
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let rest = match rest.rsplit_once(", expected ") {
                Some((found, expected)) => format!(
                    "{}, expected {}",
                    friendly_found(found),
                    friendly_expected(expected)
                ),
                None => rest.to_owned(),
            };
            // `[hosts]` for `[[hosts]]` is the likeliest slip in the whole file.
            let hint = if path == [Seg::Key("hosts".into())] && rest.starts_with("table,") {
                " (write each host as [[hosts]], with double brackets)"
            } else {
                ""
            };
            return format!("{what} for `{target}` {parent_place}: {rest}{hint}");
        }
    }
    // toml's words for a non-string where a unit enum (every enum of the file) was wanted.
    if message == "wanted string or table" {
        return format!("invalid type for `{target}` {parent_place}: expected a string");
    }
    if target.is_empty() {
        message.to_owned()
    } else {
        format!("{message} (`{target}` {parent_place})")
    }
}

/// Serde's names of what was found, in the words of a TOML file.
fn friendly_found(found: &str) -> &str {
    match found {
        "map" => "table",
        "sequence" => "array",
        other => other,
    }
}

/// Serde's type names in the words of a TOML file.
fn friendly_expected(expected: &str) -> String {
    match expected {
        "u8" | "u16" => "an integer from 0 to 65535".to_owned(),
        "u32" => "an integer from 0 to 4294967295".to_owned(),
        "u64" | "usize" => "a non-negative integer".to_owned(),
        "i64" | "isize" => "an integer".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a sequence" => "an array".to_owned(),
        "a map" => "a table".to_owned(),
        other if other.starts_with("struct ") => "a table".to_owned(),
        other => other.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// From file shapes to the validated model

/// A profile after validation, ready to be merged into hosts.
struct ResolvedProfile {
    services: Vec<Service>,
    chain: Option<Chain>,
    disks: Vec<Disk>,
    backups: Vec<BackupSet>,
    certs: Vec<CertPath>,
    logs: Vec<LogSource>,
    /// `[thresholds]` with the profile's overrides applied.
    thresholds: Thresholds,
    region: Option<String>,
}

struct Resolver<'a> {
    ctx: &'a Ctx<'a>,
    /// Directory relative local paths are anchored to (the inventory's).
    base_dir: Option<PathBuf>,
    home: Option<PathBuf>,
}

impl Resolver<'_> {
    fn fleet(
        &self,
        file: InventoryFile,
        source: ConfigSource,
        stem: Option<String>,
    ) -> Result<Fleet, ConfigError> {
        let f = &file.fleet;
        let name = match &f.name {
            Some(name) => self.non_empty(name, "name", "[fleet]")?.to_owned(),
            None => stem.unwrap_or_else(|| "fleet".to_owned()),
        };
        let interval = self.duration_or(&f.interval, "interval", "[fleet]", DEFAULT_INTERVAL)?;
        let host_key_policy = match f.host_key_policy {
            None | Some(HostKeyPolicyFile::Strict) => HostKeyPolicy::Strict,
            Some(HostKeyPolicyFile::AcceptNew) => HostKeyPolicy::AcceptNew,
        };
        let known_hosts = match &f.known_hosts {
            None => vec![self.local_path(DEFAULT_KNOWN_HOSTS)],
            Some(list) => {
                if list.get_ref().is_empty() {
                    return Err(self.ctx.at(
                        list.span(),
                        "empty `known_hosts` in [fleet]: expected at least one file, \
                         e.g. [\"~/.ssh/known_hosts\"]",
                    ));
                }
                self.local_paths(list.get_ref(), "known_hosts", "[fleet]")?
            }
        };

        let s = &file.ssh;
        let user = s
            .user
            .as_ref()
            .map(|u| self.non_empty(u, "user", "[ssh]").map(str::to_owned))
            .transpose()?;
        let max_output_bytes = match &s.max_output_bytes {
            None => DEFAULT_MAX_OUTPUT_BYTES,
            Some(v) => match usize::try_from(*v.get_ref()) {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(self.ctx.at(
                        v.span(),
                        format!(
                            "invalid `max_output_bytes` {} in [ssh]: expected a positive \
                             number of bytes, e.g. 1048576",
                            v.get_ref()
                        ),
                    ));
                }
            },
        };
        let config_file = match &s.config_file {
            None => Some(self.local_path(DEFAULT_SSH_CONFIG)),
            Some(p) => Some(self.local_path(self.non_empty(p, "config_file", "[ssh]")?)),
        };
        let ssh = SshDefaults {
            user,
            identity_files: self.local_paths(&s.identity_files, "identity_files", "[ssh]")?,
            connect_timeout: self.duration_or(
                &s.connect_timeout,
                "connect_timeout",
                "[ssh]",
                DEFAULT_CONNECT_TIMEOUT,
            )?,
            command_timeout: self.duration_or(
                &s.command_timeout,
                "command_timeout",
                "[ssh]",
                DEFAULT_COMMAND_TIMEOUT,
            )?,
            max_output_bytes,
            config_file,
        };

        let thresholds =
            self.thresholds_over(&Thresholds::default(), &file.thresholds, "[thresholds]")?;

        let mut operators = BTreeMap::new();
        for (name, role) in &file.operators {
            if name.trim().is_empty() {
                return Err(self.ctx.at(
                    role.span(),
                    "empty operator name in [operators]: expected `name = \"role\"`",
                ));
            }
            let role = match role.get_ref() {
                RoleFile::Admin => Role::Admin,
                RoleFile::Operator => Role::Operator,
                RoleFile::Developer => Role::Developer,
                RoleFile::Auditor => Role::Auditor,
            };
            operators.insert(name.clone(), role);
        }

        let mut profiles = HashMap::new();
        for (name, profile) in &file.profiles {
            profiles.insert(name.as_str(), self.profile(name, profile, &thresholds)?);
        }

        if file.hosts.is_empty() {
            return Err(self
                .ctx
                .whole("the inventory has no hosts: add at least one [[hosts]] table"));
        }
        let mut hosts = Vec::with_capacity(file.hosts.len());
        let mut seen: HashMap<&str, Range<usize>> = HashMap::new();
        for (index, host) in file.hosts.iter().enumerate() {
            let resolved = self.host(
                index,
                host.get_ref(),
                &file.profiles,
                &profiles,
                interval,
                &thresholds,
            )?;
            let name = host.get_ref().name.get_ref().as_str();
            if let Some(first) = seen.get(name) {
                let (line, _) = line_column(self.ctx.text, first.start);
                return Err(self.ctx.at(
                    host.get_ref().name.span(),
                    format!(
                        "duplicate host name {name:?}: host names must be unique \
                         (first defined at line {line})"
                    ),
                ));
            }
            seen.insert(name, host.get_ref().name.span());
            hosts.push(resolved);
        }

        Ok(Fleet {
            name,
            source,
            interval,
            host_key_policy,
            known_hosts,
            ssh,
            thresholds,
            operators,
            readonly: f.readonly.unwrap_or(false),
            hosts,
        })
    }

    /// `base` with every key `t` gives replaced, checked in `place` (`[thresholds]`, `the
    /// thresholds of host "a"`, …).
    fn thresholds_over(
        &self,
        base: &Thresholds,
        t: &ThresholdsFile,
        place: &str,
    ) -> Result<Thresholds, ConfigError> {
        let within_place = within(place);
        let percent = |v: &Option<Spanned<f64>>, key: &str, default: f64, zero_ok: bool| match v {
            None => Ok(default),
            Some(v) => {
                let p = *v.get_ref();
                let low_ok = if zero_ok { p >= 0.0 } else { p > 0.0 };
                if low_ok && p <= 100.0 {
                    Ok(p)
                } else {
                    let from = if zero_ok { "0" } else { "above 0" };
                    Err(self.ctx.at(
                        v.span(),
                        format!(
                            "invalid `{key}` {p} {within_place}: expected a percentage \
                             from {from} to 100"
                        ),
                    ))
                }
            }
        };
        let warn = percent(
            &t.disk_warn_percent,
            "disk_warn_percent",
            base.disk_warn_percent,
            true,
        )?;
        let crit = percent(
            &t.disk_crit_percent,
            "disk_crit_percent",
            base.disk_crit_percent,
            true,
        )?;
        if warn >= crit {
            // Point at whichever of the two the operator actually wrote.
            let span = t
                .disk_warn_percent
                .as_ref()
                .or(t.disk_crit_percent.as_ref())
                .map(|v| v.span());
            let message = format!(
                "`disk_warn_percent` ({warn}) must be lower than `disk_crit_percent` ({crit}) \
                 {within_place}"
            );
            return Err(match span {
                Some(span) => self.ctx.at(span, message),
                None => self.ctx.whole(message),
            });
        }
        let backup_shrink_percent = percent(
            &t.backup_shrink_percent,
            "backup_shrink_percent",
            base.backup_shrink_percent,
            false,
        )?;
        let disk_full_warn_days = match &t.disk_full_warn_days {
            None => base.disk_full_warn_days,
            Some(v) if v.get_ref().is_finite() && *v.get_ref() >= 0.0 => *v.get_ref(),
            Some(v) => {
                return Err(self.ctx.at(
                    v.span(),
                    format!(
                        "invalid `disk_full_warn_days` {} {within_place}: expected a number of \
                         days, 0 or more (0 turns the trend warning off)",
                        v.get_ref()
                    ),
                ));
            }
        };
        Ok(Thresholds {
            disk_warn_percent: warn,
            disk_crit_percent: crit,
            height_lag_warn: t.height_lag_warn.unwrap_or(base.height_lag_warn),
            height_stall: self.duration_or(
                &t.height_stall,
                "height_stall",
                place,
                base.height_stall,
            )?,
            min_peers: t.min_peers.unwrap_or(base.min_peers),
            cert_warn_days: t.cert_warn_days.unwrap_or(base.cert_warn_days),
            disk_full_warn_days,
            backup_shrink_percent,
            log_errors_warn: t.log_errors_warn.unwrap_or(base.log_errors_warn),
        })
    }

    fn profile(
        &self,
        name: &str,
        p: &ProfileFile,
        fleet_thresholds: &Thresholds,
    ) -> Result<ResolvedProfile, ConfigError> {
        let owner = profile_label(name);
        let mut services = Vec::new();
        self.add_services(&mut services, &p.services, &owner, None)?;
        let mut disks = Vec::new();
        self.add_disks(&mut disks, &p.disks, &owner, None)?;
        let mut backups = Vec::new();
        self.add_backups(&mut backups, &p.backups, &owner, None)?;
        let chain = p
            .chain
            .as_ref()
            .map(|c| self.chain(c, &owner))
            .transpose()?;
        let mut certs = Vec::new();
        self.add_certs(&mut certs, &p.certs, &owner, None)?;
        let mut logs = Vec::new();
        self.add_logs(&mut logs, &p.logs, &owner, None)?;
        let thresholds = match &p.thresholds {
            Some(t) => {
                self.thresholds_over(fleet_thresholds, t.get_ref(), &thresholds_label(&owner))?
            }
            None => fleet_thresholds.clone(),
        };
        let region = p
            .region
            .as_ref()
            .map(|r| self.non_empty(r, "region", &owner).map(str::to_owned))
            .transpose()?;
        Ok(ResolvedProfile {
            services,
            chain,
            disks,
            backups,
            certs,
            logs,
            thresholds,
            region,
        })
    }

    fn host(
        &self,
        index: usize,
        h: &HostFile,
        profile_files: &BTreeMap<String, ProfileFile>,
        profiles: &HashMap<&str, ResolvedProfile>,
        fleet_interval: Duration,
        fleet_thresholds: &Thresholds,
    ) -> Result<Host, ConfigError> {
        let raw_name = h.name.get_ref();
        if raw_name.trim().is_empty() {
            return Err(self.ctx.at(
                h.name.span(),
                format!(
                    "empty host name in {}: expected a unique, non-empty name",
                    host_label(index, None)
                ),
            ));
        }
        let owner = host_label(index, Some(raw_name));
        let transport = match h.transport {
            None | Some(TransportFile::Ssh) => TransportKind::Ssh,
            Some(TransportFile::Local) => TransportKind::Local,
        };
        let address = match &h.address {
            Some(a) => self.non_empty(a, "address", &owner)?.to_owned(),
            // An ~/.ssh/config alias is usually the host's own name.
            None if transport == TransportKind::Ssh => raw_name.clone(),
            None => "localhost".to_owned(),
        };
        let port = match &h.port {
            None => None,
            Some(p) if *p.get_ref() == 0 => {
                return Err(self.ctx.at(
                    p.span(),
                    format!(
                        "invalid port 0 for `port` {}: expected 1-65535",
                        within(&owner)
                    ),
                ));
            }
            Some(p) => Some(*p.get_ref()),
        };
        let user = h
            .user
            .as_ref()
            .map(|u| self.non_empty(u, "user", &owner).map(str::to_owned))
            .transpose()?;
        let identity_files = self.local_paths(&h.identity_files, "identity_files", &owner)?;
        let groups = h
            .groups
            .iter()
            .map(|g| self.non_empty(g, "groups", &owner).map(str::to_owned))
            .collect::<Result<Vec<_>, _>>()?;
        let consensus_group = h
            .consensus_group
            .as_ref()
            .map(|g| {
                self.non_empty(g, "consensus_group", &owner)
                    .map(str::to_owned)
            })
            .transpose()?;
        let role = match h.role.as_ref().map(|r| (*r.get_ref(), r.span())) {
            None | Some((NodeRoleFile::Free, _)) => NodeRole::Free,
            Some((NodeRoleFile::Observer, _)) => NodeRole::Observer,
            Some((NodeRoleFile::Consensus, span)) => {
                // The quorum guard counts a group's consensus members; one without a group
                // could be taken down by a rolling runbook without any guard.
                if consensus_group.is_none() {
                    return Err(self.ctx.at(
                        span,
                        format!(
                            "role \"consensus\" {} needs `consensus_group`: the quorum guard \
                             counts the members of each group",
                            within(&owner)
                        ),
                    ));
                }
                NodeRole::Consensus
            }
        };
        let interval = self.duration_or(&h.interval, "interval", &owner, fleet_interval)?;
        let region = h
            .region
            .as_ref()
            .map(|r| self.non_empty(r, "region", &owner).map(str::to_owned))
            .transpose()?;

        let profile = match &h.profile {
            None => None,
            Some(p) => {
                let name = p.get_ref().as_str();
                match profiles.get(name) {
                    Some(resolved) => Some((name, resolved)),
                    None => {
                        let known: Vec<String> =
                            profile_files.keys().map(|k| format!("`{k}`")).collect();
                        let expected = if known.is_empty() {
                            "no [profiles.NAME] tables are defined".to_owned()
                        } else {
                            format!("expected one of {}", known.join(", "))
                        };
                        return Err(self.ctx.at(
                            p.span(),
                            format!("unknown profile {name:?} {}, {expected}", within(&owner)),
                        ));
                    }
                }
            }
        };

        let from_profile = profile.map(|(name, _)| name);
        let mut services = profile.map_or_else(Vec::new, |(_, p)| p.services.clone());
        self.add_services(&mut services, &h.services, &owner, from_profile)?;
        let mut disks = profile.map_or_else(Vec::new, |(_, p)| p.disks.clone());
        self.add_disks(&mut disks, &h.disks, &owner, from_profile)?;
        let mut backups = profile.map_or_else(Vec::new, |(_, p)| p.backups.clone());
        self.add_backups(&mut backups, &h.backups, &owner, from_profile)?;
        let chain = match &h.chain {
            Some(c) => Some(self.chain(c, &owner)?),
            None => profile.and_then(|(_, p)| p.chain.clone()),
        };
        let mut certs = profile.map_or_else(Vec::new, |(_, p)| p.certs.clone());
        self.add_certs(&mut certs, &h.certs, &owner, from_profile)?;
        let mut logs = profile.map_or_else(Vec::new, |(_, p)| p.logs.clone());
        self.add_logs(&mut logs, &h.logs, &owner, from_profile)?;
        let region = region.or_else(|| profile.and_then(|(_, p)| p.region.clone()));
        let inherited = profile.map_or(fleet_thresholds, |(_, p)| &p.thresholds);
        let thresholds = match &h.thresholds {
            Some(t) => self.thresholds_over(inherited, t.get_ref(), &thresholds_label(&owner))?,
            None => inherited.clone(),
        };

        Ok(Host {
            name: raw_name.clone(),
            address,
            port,
            user,
            identity_files,
            transport,
            profile: from_profile.map(str::to_owned),
            groups,
            consensus_group,
            region,
            role,
            interval,
            services,
            chain,
            disks,
            backups,
            certs,
            logs,
            thresholds,
        })
    }

    fn add_certs(
        &self,
        list: &mut Vec<CertPath>,
        files: &[Spanned<CertFile>],
        owner: &str,
        profile: Option<&str>,
    ) -> Result<(), ConfigError> {
        let inherited = list.len();
        for (i, file) in files.iter().enumerate() {
            let c = file.get_ref();
            let name = self.non_empty(&c.name, "name", &item_label("cert", None, i, owner))?;
            let label = item_label("cert", Some(name), i, owner);
            let path = self.non_empty(&c.path, "path", &label)?;
            if let Some(pos) = list.iter().position(|x| x.name == name) {
                return Err(self.ctx.at(
                    c.name.span(),
                    duplicate_message("cert", name, owner, pos < inherited, profile),
                ));
            }
            list.push(CertPath {
                name: name.to_owned(),
                path: path.to_owned(),
            });
        }
        Ok(())
    }

    fn add_logs(
        &self,
        list: &mut Vec<LogSource>,
        files: &[Spanned<LogFile>],
        owner: &str,
        profile: Option<&str>,
    ) -> Result<(), ConfigError> {
        let inherited = list.len();
        for (i, file) in files.iter().enumerate() {
            let log = self.log(i, file, owner)?;
            if let Some(pos) = list.iter().position(|x| x.name == log.name) {
                return Err(self.ctx.at(
                    file.get_ref().name.span(),
                    duplicate_message("log", &log.name, owner, pos < inherited, profile),
                ));
            }
            list.push(log);
        }
        Ok(())
    }

    fn log(
        &self,
        index: usize,
        file: &Spanned<LogFile>,
        owner: &str,
    ) -> Result<LogSource, ConfigError> {
        let l = file.get_ref();
        let name = self.non_empty(&l.name, "name", &item_label("log", None, index, owner))?;
        let label = item_label("log", Some(name), index, owner);
        let takes = "`unit` (a systemd unit whose journal is read) or `file` (a path on the host)";
        let origin = match (&l.unit, &l.file) {
            (Some(unit), None) => LogOrigin::Unit(self.non_empty(unit, "unit", &label)?.to_owned()),
            (None, Some(path)) => LogOrigin::File(self.non_empty(path, "file", &label)?.to_owned()),
            (None, None) => {
                return Err(self.ctx.at(
                    file.span(),
                    format!("missing key `unit` or `file` in {label}: give {takes}"),
                ));
            }
            (Some(_), Some(path)) => {
                return Err(self.ctx.at(
                    path.span(),
                    format!("{label} has both `unit` and `file`: give one of them"),
                ));
            }
        };
        let format = match l.format.as_ref().map(|f| *f.get_ref()) {
            None | Some(LogFormatFile::Plain) => LogFormat::Plain,
            Some(LogFormatFile::Fisco) => LogFormat::Fisco,
        };
        let patterns = match &l.patterns {
            None if format == LogFormat::Plain => DEFAULT_LOG_PATTERNS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            None => Vec::new(),
            Some(list) => {
                let mut out = Vec::new();
                for p in list.get_ref() {
                    let text = self.non_empty(p, "patterns", &label)?;
                    if let Err(e) = regex::Regex::new(text) {
                        return Err(self.ctx.at(
                            p.span(),
                            format!(
                                "invalid regular expression {text:?} in `patterns` {}: {}",
                                within(&label),
                                regex_problem(&e)
                            ),
                        ));
                    }
                    out.push(text.to_owned());
                }
                out
            }
        };
        let lines = match &l.lines {
            None => DEFAULT_LOG_LINES,
            Some(v) if (1..=MAX_LOG_LINES).contains(v.get_ref()) => *v.get_ref() as u32,
            Some(v) => {
                return Err(self.ctx.at(
                    v.span(),
                    format!(
                        "invalid `lines` {} {}: expected 1 to {MAX_LOG_LINES} (the tail travels \
                         over SSH on every log probe)",
                        v.get_ref(),
                        within(&label)
                    ),
                ));
            }
        };
        let window = self.duration_or(&l.window, "window", &label, DEFAULT_LOG_WINDOW)?;
        Ok(LogSource {
            name: name.to_owned(),
            origin,
            format,
            patterns,
            lines,
            window,
        })
    }

    /// Appends `files` to `list`, rejecting names already there. `profile` names where the
    /// entries already in `list` came from, for the duplicate message.
    fn add_services(
        &self,
        list: &mut Vec<Service>,
        files: &[Spanned<ServiceFile>],
        owner: &str,
        profile: Option<&str>,
    ) -> Result<(), ConfigError> {
        let inherited = list.len();
        for (i, file) in files.iter().enumerate() {
            let service = self.service(i, file, owner)?;
            if let Some(pos) = list.iter().position(|s| s.name == service.name) {
                return Err(self.ctx.at(
                    file.get_ref().name.span(),
                    duplicate_message("service", &service.name, owner, pos < inherited, profile),
                ));
            }
            list.push(service);
        }
        Ok(())
    }

    fn add_disks(
        &self,
        list: &mut Vec<Disk>,
        files: &[Spanned<DiskFile>],
        owner: &str,
        profile: Option<&str>,
    ) -> Result<(), ConfigError> {
        let inherited = list.len();
        for (i, file) in files.iter().enumerate() {
            let mount = &file.get_ref().mount;
            let label = item_label("disk", Some(mount.get_ref()), i, owner);
            let value = self.non_empty(mount, "mount", &item_label("disk", None, i, owner))?;
            if !value.starts_with('/') {
                return Err(self.ctx.at(
                    mount.span(),
                    format!(
                        "invalid `mount` {value:?} {}: expected an absolute path like \"/data\"",
                        within(&label)
                    ),
                ));
            }
            if let Some(pos) = list.iter().position(|d| d.mount == value) {
                return Err(self.ctx.at(
                    mount.span(),
                    duplicate_message("disk", value, owner, pos < inherited, profile),
                ));
            }
            list.push(Disk {
                mount: value.to_owned(),
            });
        }
        Ok(())
    }

    fn add_backups(
        &self,
        list: &mut Vec<BackupSet>,
        files: &[Spanned<BackupFile>],
        owner: &str,
        profile: Option<&str>,
    ) -> Result<(), ConfigError> {
        let inherited = list.len();
        for (i, file) in files.iter().enumerate() {
            let b = file.get_ref();
            let name = self.non_empty(&b.name, "name", &item_label("backup", None, i, owner))?;
            let label = item_label("backup", Some(name), i, owner);
            let dir = self.non_empty(&b.dir, "dir", &label)?;
            let pattern = self.non_empty(&b.pattern, "pattern", &label)?;
            if let Err(err) = globset::Glob::new(pattern) {
                return Err(self.ctx.at(
                    b.pattern.span(),
                    format!(
                        "invalid glob {pattern:?} for `pattern` {}: {}",
                        within(&label),
                        err.kind()
                    ),
                ));
            }
            let every = self.duration(&b.every, "every", &label)?;
            if let Some(pos) = list.iter().position(|x| x.name == name) {
                return Err(self.ctx.at(
                    b.name.span(),
                    duplicate_message("backup", name, owner, pos < inherited, profile),
                ));
            }
            list.push(BackupSet {
                name: name.to_owned(),
                dir: dir.to_owned(),
                pattern: pattern.to_owned(),
                every,
            });
        }
        Ok(())
    }

    fn service(
        &self,
        index: usize,
        file: &Spanned<ServiceFile>,
        owner: &str,
    ) -> Result<Service, ConfigError> {
        let s = file.get_ref();
        let name = self.non_empty(&s.name, "name", &item_label("service", None, index, owner))?;
        let label = item_label("service", Some(name), index, owner);
        let kind = *s.kind.get_ref();
        let (allowed, takes): (&[&str], &str) = match kind {
            ServiceKindFile::Systemd => (&["unit"], "`unit`"),
            ServiceKindFile::Docker => (
                &["container", "compose_file", "compose_service"],
                "`container`, or `compose_file` + `compose_service`",
            ),
            ServiceKindFile::Process => (&["pidfile", "pattern"], "`pidfile` or `pattern`"),
            ServiceKindFile::Port => (&["port", "address"], "`port` and optionally `address`"),
            ServiceKindFile::Http => (
                &["url", "expect_status"],
                "`url` and optionally `expect_status`",
            ),
            ServiceKindFile::Command => (&["command"], "`command`"),
        };
        let present = [
            ("unit", s.unit.as_ref().map(Spanned::span)),
            ("container", s.container.as_ref().map(Spanned::span)),
            ("compose_file", s.compose_file.as_ref().map(Spanned::span)),
            (
                "compose_service",
                s.compose_service.as_ref().map(Spanned::span),
            ),
            ("pidfile", s.pidfile.as_ref().map(Spanned::span)),
            ("pattern", s.pattern.as_ref().map(Spanned::span)),
            ("port", s.port.as_ref().map(Spanned::span)),
            ("address", s.address.as_ref().map(Spanned::span)),
            ("url", s.url.as_ref().map(Spanned::span)),
            ("expect_status", s.expect_status.as_ref().map(Spanned::span)),
            ("command", s.command.as_ref().map(Spanned::span)),
        ];
        for (key, span) in present {
            if let Some(span) = span
                && !allowed.contains(&key)
            {
                return Err(self.ctx.at(
                    span,
                    format!(
                        "key `{key}` does not apply to {label}: kind `{}` takes {takes}",
                        kind.as_str()
                    ),
                ));
            }
        }
        let missing = |key: &str| {
            self.ctx.at(
                file.span(),
                format!(
                    "missing key `{key}` in {label}: kind `{}` takes {takes}",
                    kind.as_str()
                ),
            )
        };
        let text =
            |v: &Option<Spanned<String>>, key: &str| -> Result<Option<String>, ConfigError> {
                v.as_ref()
                    .map(|v| self.non_empty(v, key, &label).map(str::to_owned))
                    .transpose()
            };
        let service_kind = match kind {
            ServiceKindFile::Systemd => ServiceKind::Systemd {
                unit: text(&s.unit, "unit")?.ok_or_else(|| missing("unit"))?,
            },
            ServiceKindFile::Docker => {
                let container = text(&s.container, "container")?;
                let compose_file = text(&s.compose_file, "compose_file")?;
                let compose_service = text(&s.compose_service, "compose_service")?;
                match (&container, &compose_file, &compose_service) {
                    (Some(_), None, None) | (None, Some(_), Some(_)) => {}
                    (None, None, None) => return Err(missing("container")),
                    (None, Some(_), None) => return Err(missing("compose_service")),
                    (None, None, Some(_)) => return Err(missing("compose_file")),
                    (Some(_), _, _) => {
                        let span = s
                            .compose_file
                            .as_ref()
                            .or(s.compose_service.as_ref())
                            .map_or_else(|| file.span(), Spanned::span);
                        return Err(self.ctx.at(
                            span,
                            format!(
                                "{label} has both `container` and compose keys: \
                                 give `container`, or `compose_file` + `compose_service`"
                            ),
                        ));
                    }
                }
                ServiceKind::Docker {
                    container,
                    compose_file,
                    compose_service,
                }
            }
            ServiceKindFile::Process => {
                let pidfile = text(&s.pidfile, "pidfile")?;
                let pattern = text(&s.pattern, "pattern")?;
                match (&pidfile, &pattern) {
                    (None, None) => return Err(missing("pidfile")),
                    (Some(_), Some(_)) => {
                        let span = s
                            .pattern
                            .as_ref()
                            .map_or_else(|| file.span(), Spanned::span);
                        return Err(self.ctx.at(
                            span,
                            format!("{label} has both `pidfile` and `pattern`: give one of them"),
                        ));
                    }
                    _ => {}
                }
                ServiceKind::Process { pidfile, pattern }
            }
            ServiceKindFile::Port => {
                let port = s.port.as_ref().ok_or_else(|| missing("port"))?;
                if *port.get_ref() == 0 {
                    return Err(self.ctx.at(
                        port.span(),
                        format!(
                            "invalid port 0 for `port` {}: expected 1-65535",
                            within(&label)
                        ),
                    ));
                }
                ServiceKind::Port {
                    address: text(&s.address, "address")?.unwrap_or_else(|| "127.0.0.1".to_owned()),
                    port: *port.get_ref(),
                }
            }
            ServiceKindFile::Http => {
                let url = s.url.as_ref().ok_or_else(|| missing("url"))?;
                self.check_url(url, "url", &label)?;
                let expect_status = match &s.expect_status {
                    None => 200,
                    Some(v) if (100..=599).contains(v.get_ref()) => *v.get_ref(),
                    Some(v) => {
                        return Err(self.ctx.at(
                            v.span(),
                            format!(
                                "invalid `expect_status` {} {}: expected an HTTP status \
                                 from 100 to 599",
                                v.get_ref(),
                                within(&label)
                            ),
                        ));
                    }
                };
                ServiceKind::Http {
                    url: url.get_ref().clone(),
                    expect_status,
                }
            }
            ServiceKindFile::Command => ServiceKind::Command {
                command: text(&s.command, "command")?.ok_or_else(|| missing("command"))?,
            },
        };
        let commands = ServiceCommands {
            start: text(&s.start, "start")?,
            stop: text(&s.stop, "stop")?,
            restart: text(&s.restart, "restart")?,
            version: text(&s.version, "version")?,
            upgrade: text(&s.upgrade, "upgrade")?,
            rollback: text(&s.rollback, "rollback")?,
        };
        Ok(Service {
            name: name.to_owned(),
            kind: service_kind,
            commands,
        })
    }

    fn chain(&self, file: &Spanned<ChainFile>, owner: &str) -> Result<Chain, ConfigError> {
        let c = file.get_ref();
        let label = chain_label(owner);
        let kind = *c.kind.get_ref();
        let (kind_model, wants_rpc) = match kind {
            ChainKindFile::Ethereum => (ChainKind::Ethereum, true),
            ChainKindFile::Conflux => (ChainKind::Conflux, true),
            ChainKindFile::FiscoBcos => (ChainKind::FiscoBcos, true),
            ChainKindFile::Command => (ChainKind::Command, false),
        };
        let (needed, unwanted) = if wants_rpc {
            ("rpc", c.command.as_ref())
        } else {
            ("command", c.rpc.as_ref())
        };
        if let Some(extra) = unwanted {
            let key = if wants_rpc { "command" } else { "rpc" };
            return Err(self.ctx.at(
                extra.span(),
                format!(
                    "key `{key}` does not apply to {label}: kind `{}` takes `{needed}`",
                    kind.as_str()
                ),
            ));
        }
        if let Some(group) = &c.group_id
            && kind != ChainKindFile::FiscoBcos
        {
            return Err(self.ctx.at(
                group.span(),
                format!(
                    "key `group_id` does not apply to {label}: only kind `fisco-bcos` takes it"
                ),
            ));
        }
        if let Some(group) = &c.group {
            if kind != ChainKindFile::FiscoBcos {
                return Err(self.ctx.at(
                    group.span(),
                    format!(
                        "key `group` does not apply to {label}: only kind `fisco-bcos` takes it"
                    ),
                ));
            }
            if c.group_id.is_some() {
                return Err(self.ctx.at(
                    group.span(),
                    format!(
                        "{label} has both `group_id` and `group`: give `group_id` (a number) \
                         for FISCO BCOS 2.x or `group` (a name like \"group0\") for 3.x"
                    ),
                ));
            }
            self.non_empty(group, "group", &label)?;
        }
        let given = if wants_rpc { &c.rpc } else { &c.command };
        let Some(value) = given else {
            return Err(self.ctx.at(
                file.span(),
                format!(
                    "missing key `{needed}` in {label}: kind `{}` takes `{needed}`",
                    kind.as_str()
                ),
            ));
        };
        if wants_rpc {
            self.check_url(value, "rpc", &label)?;
        } else {
            self.non_empty(value, "command", &label)?;
        }
        Ok(Chain {
            kind: kind_model,
            rpc: c.rpc.as_ref().map(|v| v.get_ref().clone()),
            command: c.command.as_ref().map(|v| v.get_ref().clone()),
            group_id: c.group_id.as_ref().map_or(1, |g| *g.get_ref()),
            group: c.group.as_ref().map(|g| g.get_ref().clone()),
        })
    }

    fn check_url(&self, url: &Spanned<String>, key: &str, place: &str) -> Result<(), ConfigError> {
        let value = url.get_ref();
        let rest = value
            .strip_prefix("http://")
            .or_else(|| value.strip_prefix("https://"));
        match rest {
            Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(()),
            _ => Err(self.ctx.at(
                url.span(),
                format!(
                    "invalid URL {value:?} for `{key}` {}: expected an http:// or https:// URL \
                     like \"http://127.0.0.1:8545\"",
                    within(place)
                ),
            )),
        }
    }

    /// The string, or an error if it is empty or only whitespace.
    fn non_empty<'v>(
        &self,
        value: &'v Spanned<String>,
        key: &str,
        place: &str,
    ) -> Result<&'v str, ConfigError> {
        let s = value.get_ref().as_str();
        if s.trim().is_empty() {
            Err(self
                .ctx
                .at(value.span(), format!("empty `{key}` {}", within(place))))
        } else {
            Ok(s)
        }
    }

    fn duration_or(
        &self,
        value: &Option<Spanned<DurationFile>>,
        key: &str,
        place: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match value {
            None => Ok(default),
            Some(value) => self.duration(value, key, place),
        }
    }

    /// A positive duration; zero is refused because every duration here is a period or a
    /// deadline, and zero would mean "spin" or "always expired".
    fn duration(
        &self,
        value: &Spanned<DurationFile>,
        key: &str,
        place: &str,
    ) -> Result<Duration, ConfigError> {
        let raw = value.get_ref().0.as_str();
        match humantime::parse_duration(raw.trim()) {
            Ok(d) if d.is_zero() => Err(self.ctx.at(
                value.span(),
                format!(
                    "invalid duration {raw:?} for `{key}` {}: must be greater than zero",
                    within(place)
                ),
            )),
            Ok(d) => Ok(d),
            Err(_) => Err(self.ctx.at(
                value.span(),
                format!(
                    "invalid duration {raw:?} for `{key}` {}: {DURATION_HINT}",
                    within(place)
                ),
            )),
        }
    }

    fn local_paths(
        &self,
        list: &[Spanned<String>],
        key: &str,
        place: &str,
    ) -> Result<Vec<PathBuf>, ConfigError> {
        list.iter()
            .map(|p| Ok(self.local_path(self.non_empty(p, key, place)?)))
            .collect()
    }

    /// A path on *this* machine: `~` expanded, relative paths anchored to the inventory's
    /// directory so the file means the same thing whatever the working directory.
    fn local_path(&self, raw: &str) -> PathBuf {
        let path = expand_home(Path::new(raw), self.home.as_deref());
        match &self.base_dir {
            Some(base) if path.is_relative() => base.join(path),
            _ => path,
        }
    }
}

fn duplicate_message(
    what: &str,
    name: &str,
    owner: &str,
    inherited: bool,
    profile: Option<&str>,
) -> String {
    match (inherited, profile) {
        (true, Some(profile)) => format!(
            "duplicate {what} {name:?} in {owner}: its profile `{profile}` already defines it"
        ),
        _ => format!("duplicate {what} {name:?} in {owner}: names must be unique"),
    }
}

/// `~` and `~/…` → the home directory; anything else (including `~user`) unchanged.
fn expand_home(path: &Path, home: Option<&Path>) -> PathBuf {
    let Some(home) = home else {
        return path.to_path_buf();
    };
    match path.strip_prefix("~") {
        Ok(rest) if rest.as_os_str().is_empty() => home.to_path_buf(),
        Ok(rest) => home.join(rest),
        Err(_) => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Fleet, ConfigError> {
        load_fleet_from_str(
            text,
            ConfigSource::File(PathBuf::from("/etc/fleet/test.toml")),
        )
    }

    fn err(text: &str) -> String {
        match load(text) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    const MINIMAL: &str = "[[hosts]]\nname = \"a\"\n";

    #[test]
    fn minimal_inventory_gets_every_default() {
        let fleet = load(MINIMAL).unwrap();
        assert_eq!(fleet.name, "test");
        assert_eq!(fleet.interval, Duration::from_secs(5));
        assert_eq!(fleet.host_key_policy, HostKeyPolicy::Strict);
        assert_eq!(fleet.known_hosts.len(), 1);
        assert!(fleet.known_hosts[0].ends_with(".ssh/known_hosts"));
        assert_eq!(fleet.ssh.connect_timeout, Duration::from_secs(10));
        assert_eq!(fleet.ssh.command_timeout, Duration::from_secs(30));
        assert_eq!(fleet.ssh.max_output_bytes, 1024 * 1024);
        assert_eq!(fleet.thresholds.disk_warn_percent, 80.0);
        assert_eq!(fleet.thresholds.disk_crit_percent, 90.0);
        assert_eq!(fleet.thresholds.height_lag_warn, 5);
        assert_eq!(fleet.thresholds.height_stall, Duration::from_secs(120));
        assert_eq!(fleet.thresholds.min_peers, 2);
        assert_eq!(fleet.thresholds.cert_warn_days, 30);
        assert!(!fleet.readonly);
        let host = &fleet.hosts[0];
        assert_eq!(host.address, "a");
        assert_eq!(host.transport, TransportKind::Ssh);
        assert_eq!(host.role, NodeRole::Free);
        assert_eq!(host.interval, Duration::from_secs(5));
        assert_eq!(host.port, None);
    }

    #[test]
    fn a_hosts_region_wins_over_its_profiles_and_both_are_optional() {
        let fleet = load(
            r#"
[profiles.eu]
region = "eu-west-1"
[profiles.plain]

[[hosts]]
name = "own"
profile = "eu"
region = "us-east-1"
[[hosts]]
name = "inherits"
profile = "eu"
[[hosts]]
name = "none"
profile = "plain"
[[hosts]]
name = "alone"
region = "idc-sh"
"#,
        )
        .unwrap();
        let regions: Vec<Option<&str>> = fleet.hosts.iter().map(|h| h.region.as_deref()).collect();
        assert_eq!(
            regions,
            [Some("us-east-1"), Some("eu-west-1"), None, Some("idc-sh")]
        );
        assert_eq!(load(MINIMAL).unwrap().hosts[0].region, None);
        assert_eq!(
            err("[[hosts]]\nname = \"a\"\nregion = 7\n"),
            "/etc/fleet/test.toml:3:10: invalid type for `region` in host \"a\": integer `7`, \
             expected a string"
        );
        assert_eq!(
            err("[[hosts]]\nname = \"a\"\nregion = \" \"\n"),
            "/etc/fleet/test.toml:3:10: empty `region` in host \"a\""
        );
        assert!(
            err("[profiles.p]\nregion = \"\"\n[[hosts]]\nname = \"a\"\n")
                .contains("empty `region` in [profiles.p]")
        );
        assert!(
            err("[[hosts]]\nname = \"a\"\nregions = \"x\"\n").contains("unknown key `regions`")
        );
    }

    #[test]
    fn profile_lists_come_first_and_host_chain_replaces_profile_chain() {
        let fleet = load(
            r#"
[fleet]
interval = "7s"
[profiles.node]
services = [{ name = "geth", kind = "systemd", unit = "geth.service" }]
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
disks = [{ mount = "/data" }]
backups = [{ name = "db", dir = "/b", pattern = "*.gz", every = "24h" }]

[[hosts]]
name = "a"
profile = "node"
interval = "1m"
services = [{ name = "nginx", kind = "port", port = 443 }]
chain = { kind = "fisco-bcos", rpc = "http://127.0.0.1:8545", group_id = 2 }
disks = [{ mount = "/" }]
backups = [{ name = "logs", dir = "/l", pattern = "*.tar", every = "1h" }]

[[hosts]]
name = "b"
profile = "node"
"#,
        )
        .unwrap();
        let a = &fleet.hosts[0];
        let names: Vec<_> = a.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["geth", "nginx"]);
        assert_eq!(
            a.services[1].kind,
            ServiceKind::Port {
                address: "127.0.0.1".into(),
                port: 443
            }
        );
        let chain = a.chain.as_ref().unwrap();
        assert_eq!(chain.kind, ChainKind::FiscoBcos);
        assert_eq!(chain.group_id, 2);
        let mounts: Vec<_> = a.disks.iter().map(|d| d.mount.as_str()).collect();
        assert_eq!(mounts, ["/data", "/"]);
        let backups: Vec<_> = a.backups.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(backups, ["db", "logs"]);
        assert_eq!(a.interval, Duration::from_secs(60));
        assert_eq!(a.profile.as_deref(), Some("node"));

        let b = &fleet.hosts[1];
        assert_eq!(b.services.len(), 1);
        assert_eq!(b.chain.as_ref().unwrap().kind, ChainKind::Ethereum);
        assert_eq!(b.chain.as_ref().unwrap().group_id, 1);
        assert_eq!(b.interval, Duration::from_secs(7));
    }

    #[test]
    fn every_service_kind_resolves_with_its_defaults() {
        let fleet = load(
            r#"
[[hosts]]
name = "a"
services = [
  { name = "s", kind = "systemd", unit = "s.service", restart = "systemctl restart s" },
  { name = "d1", kind = "docker", container = "web" },
  { name = "d2", kind = "docker", compose_file = "/srv/dc.yml", compose_service = "db" },
  { name = "p1", kind = "process", pidfile = "/run/x.pid" },
  { name = "p2", kind = "process", pattern = "node .*" },
  { name = "smtp", kind = "port", port = 25, address = "10.0.0.1" },
  { name = "web", kind = "http", url = "https://localhost/health" },
  { name = "c", kind = "command", command = "true" },
]
"#,
        )
        .unwrap();
        let s = &fleet.hosts[0].services;
        assert_eq!(
            s[0].commands.restart.as_deref(),
            Some("systemctl restart s")
        );
        assert_eq!(
            s[2].kind,
            ServiceKind::Docker {
                container: None,
                compose_file: Some("/srv/dc.yml".into()),
                compose_service: Some("db".into())
            }
        );
        assert_eq!(
            s[6].kind,
            ServiceKind::Http {
                url: "https://localhost/health".into(),
                expect_status: 200
            }
        );
    }

    #[test]
    fn local_paths_expand_home_and_anchor_to_the_inventory() {
        let fleet = load(
            r#"
[fleet]
known_hosts = ["~/.ssh/known_hosts", "keys/known_hosts", "/abs/kh"]
[ssh]
identity_files = ["~/.ssh/id_ed25519"]
config_file = "ssh_config"
[[hosts]]
name = "a"
identity_files = ["id_a"]
"#,
        )
        .unwrap();
        let home = dirs::home_dir().unwrap();
        assert_eq!(fleet.known_hosts[0], home.join(".ssh/known_hosts"));
        assert_eq!(
            fleet.known_hosts[1],
            Path::new("/etc/fleet/keys/known_hosts")
        );
        assert_eq!(fleet.known_hosts[2], Path::new("/abs/kh"));
        assert_eq!(fleet.ssh.identity_files[0], home.join(".ssh/id_ed25519"));
        assert_eq!(
            fleet.ssh.config_file.as_deref(),
            Some(Path::new("/etc/fleet/ssh_config"))
        );
        assert_eq!(
            fleet.hosts[0].identity_files[0],
            Path::new("/etc/fleet/id_a")
        );
    }

    #[test]
    fn expand_home_handles_tilde_forms() {
        let home = Some(Path::new("/home/op"));
        assert_eq!(expand_home(Path::new("~"), home), Path::new("/home/op"));
        assert_eq!(
            expand_home(Path::new("~/x/y"), home),
            Path::new("/home/op/x/y")
        );
        assert_eq!(expand_home(Path::new("~bob/x"), home), Path::new("~bob/x"));
        assert_eq!(expand_home(Path::new("a/~"), home), Path::new("a/~"));
        assert_eq!(expand_home(Path::new("~/x"), None), Path::new("~/x"));
    }

    #[test]
    fn local_transport_defaults_address_to_localhost() {
        let fleet = load("[[hosts]]\nname = \"me\"\ntransport = \"local\"\n").unwrap();
        assert_eq!(fleet.hosts[0].transport, TransportKind::Local);
        assert_eq!(fleet.hosts[0].address, "localhost");
    }

    #[test]
    fn unknown_keys_name_the_table_and_the_expected_keys() {
        assert_eq!(
            err("[fleet]\nintervl = \"5s\"\n[[hosts]]\nname = \"a\"\n"),
            "/etc/fleet/test.toml:2:1: unknown key `intervl` in [fleet], expected one of \
             `name`, `interval`, `host_key_policy`, `known_hosts`, `readonly`"
        );
        assert_eq!(
            err(
                "[[hosts]]\nname = \"a\"\nservices = [{ name = \"x\", kind = \"systemd\", unti = \"x\" }]\n"
            ),
            "/etc/fleet/test.toml:3:45: unknown key `unti` in service \"x\" of host \"a\", \
             expected one of `name`, `kind`, `unit`, `container`, `compose_file`, \
             `compose_service`, `pidfile`, `pattern`, `port`, `address`, `url`, \
             `expect_status`, `command`, `start`, `stop`, `restart`, `version`, `upgrade`, \
             `rollback`"
        );
    }

    #[test]
    fn bad_duration_says_what_a_duration_looks_like() {
        assert_eq!(
            err("[fleet]\ninterval = \"5 parsecs\"\n[[hosts]]\nname = \"a\"\n"),
            "/etc/fleet/test.toml:2:12: invalid duration \"5 parsecs\" for `interval` in \
             [fleet]: expected a duration like \"5s\", \"2m\", \"1h\""
        );
        assert_eq!(
            err("[fleet]\ninterval = 5\n[[hosts]]\nname = \"a\"\n"),
            "/etc/fleet/test.toml:2:12: invalid type for `interval` in [fleet]: integer `5`, \
             expected a duration string like \"5s\""
        );
    }

    #[test]
    fn services_need_their_kind_keys_and_only_those() {
        assert_eq!(
            err("[[hosts]]\nname = \"a\"\nservices = [{ name = \"x\", kind = \"systemd\" }]\n"),
            "/etc/fleet/test.toml:3:13: missing key `unit` in service \"x\" of host \"a\": \
             kind `systemd` takes `unit`"
        );
        assert!(
            err("[[hosts]]\nname = \"a\"\nservices = [{ name = \"x\", kind = \"systemd\", unit = \"u\", container = \"c\" }]\n")
                .contains("key `container` does not apply to service \"x\" of host \"a\"")
        );
        assert!(
            err("[[hosts]]\nname = \"a\"\nservices = [{ name = \"x\", kind = \"process\", pidfile = \"/p\", pattern = \"q\" }]\n")
                .contains("has both `pidfile` and `pattern`")
        );
        assert!(
            err("[[hosts]]\nname = \"a\"\nservices = [{ name = \"x\", kind = \"docker\", compose_file = \"f\" }]\n")
                .contains("missing key `compose_service`")
        );
        assert!(
            err("[[hosts]]\nname = \"a\"\nservices = [{ name = \"x\", kind = \"http\", url = \"localhost\" }]\n")
                .contains("invalid URL \"localhost\" for `url`")
        );
    }

    #[test]
    fn chain_keys_follow_the_kind() {
        let base = "[[hosts]]\nname = \"a\"\n";
        assert!(
            err(&format!("{base}chain = {{ kind = \"ethereum\" }}\n"))
                .contains("missing key `rpc` in the chain of host \"a\"")
        );
        assert!(
            err(&format!(
                "{base}chain = {{ kind = \"command\", rpc = \"http://x\" }}\n"
            ))
            .contains("key `rpc` does not apply to the chain of host \"a\"")
        );
        assert!(
            err(&format!(
                "{base}chain = {{ kind = \"ethereum\", rpc = \"http://x\", group_id = 2 }}\n"
            ))
            .contains("only kind `fisco-bcos` takes it")
        );
        let fleet = load(&format!(
            "{base}chain = {{ kind = \"command\", command = \"cat /h\" }}\n"
        ))
        .unwrap();
        assert_eq!(
            fleet.hosts[0].chain.as_ref().unwrap().command.as_deref(),
            Some("cat /h")
        );
    }

    #[test]
    fn certs_logs_thresholds_and_fisco_groups() {
        let fleet = load(
            r#"
[thresholds]
disk_warn_percent = 75
cert_warn_days = 45
[profiles.fisco]
chain = { kind = "fisco-bcos", rpc = "http://127.0.0.1:20200", group = "group0" }
certs = [{ name = "ca", path = "~/fisco/nodes/127.0.0.1/sdk/ca.crt" }]
logs = [{ name = "node", file = "~/fisco/nodes/127.0.0.1/node0/log/log", format = "fisco", patterns = ["checkSign failed"], window = "5m" }]
thresholds = { cert_warn_days = 60, log_errors_warn = 3 }
[[hosts]]
name = "a"
profile = "fisco"
certs = [{ name = "node", path = "/data/node0/conf/ssl.crt" }]
logs = [{ name = "journal", unit = "fisco.service", lines = 500 }]
thresholds = { disk_crit_percent = 95, backup_shrink_percent = 50, disk_full_warn_days = 2.5 }
[[hosts]]
name = "b"
chain = { kind = "fisco-bcos", rpc = "http://127.0.0.1:8545", group_id = 2 }
"#,
        )
        .unwrap();
        let a = &fleet.hosts[0];
        let chain = a.chain.as_ref().unwrap();
        assert_eq!(chain.group.as_deref(), Some("group0"));
        let certs: Vec<_> = a.certs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(certs, ["ca", "node"]);
        assert_eq!(a.logs.len(), 2);
        let node = &a.logs[0];
        assert_eq!(node.format, LogFormat::Fisco);
        assert_eq!(node.patterns, ["checkSign failed"]);
        assert_eq!(node.window, Duration::from_secs(300));
        assert_eq!(node.lines, 200);
        let journal = &a.logs[1];
        assert_eq!(journal.origin, LogOrigin::Unit("fisco.service".into()));
        assert_eq!(journal.format, LogFormat::Plain);
        assert_eq!(journal.patterns, DEFAULT_LOG_PATTERNS);
        assert_eq!(journal.lines, 500);
        assert_eq!(journal.window, Duration::from_secs(600));
        // fleet → profile → host, key by key.
        let t = &a.thresholds;
        assert_eq!(
            (t.disk_warn_percent, t.disk_crit_percent, t.cert_warn_days),
            (75.0, 95.0, 60)
        );
        assert_eq!((t.log_errors_warn, t.backup_shrink_percent), (3, 50.0));
        assert_eq!(t.disk_full_warn_days, 2.5);
        let b = &fleet.hosts[1];
        assert_eq!(b.thresholds.cert_warn_days, 45);
        assert_eq!(b.thresholds.disk_crit_percent, 90.0);
        assert_eq!(b.chain.as_ref().unwrap().group, None);
        let text = describe(&fleet);
        for needle in [
            "chain: fisco-bcos at http://127.0.0.1:20200, group group0",
            "chain: fisco-bcos at http://127.0.0.1:8545, group 2",
            "ca: ~/fisco/nodes/127.0.0.1/sdk/ca.crt",
            "journal: journal of fisco.service, plain, last 500 lines, window 10m",
            "disk: warn at 75%, critical at 95%",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn certs_logs_and_thresholds_errors() {
        let host = "[[hosts]]\nname = \"a\"\n";
        assert_eq!(
            err(&format!(
                "{host}logs = [{{ name = \"x\", file = \"/l\", patterns = [\"ok\", \"(unclosed\"] }}]\n"
            )),
            "/etc/fleet/test.toml:3:54: invalid regular expression \"(unclosed\" in `patterns` \
             in log \"x\" of host \"a\": unclosed group"
        );
        assert!(
            err(&format!("{host}logs = [{{ name = \"x\" }}]\n"))
                .contains("missing key `unit` or `file` in log \"x\" of host \"a\"")
        );
        assert!(
            err(&format!(
                "{host}logs = [{{ name = \"x\", unit = \"u\", file = \"/f\" }}]\n"
            ))
            .contains("has both `unit` and `file`")
        );
        assert!(
            err(&format!(
                "{host}logs = [{{ name = \"x\", unit = \"u\", lines = 0 }}]\n"
            ))
            .contains("invalid `lines` 0 in log \"x\" of host \"a\": expected 1 to 5000")
        );
        assert!(
            err(&format!(
                "{host}logs = [{{ name = \"x\", unit = \"u\", format = \"json\" }}]\n"
            ))
            .contains("invalid value \"json\" for `format` in log \"x\" of host \"a\"")
        );
        assert!(
            err(&format!(
                "{host}certs = [{{ name = \"c\", path = \"/a\" }}, {{ name = \"c\", path = \"/b\" }}]\n"
            ))
            .contains("duplicate cert \"c\" in host \"a\"")
        );
        assert!(
            err(&format!(
                "{host}certs = [{{ name = \"c\", file = \"/a\" }}]\n"
            ))
            .contains("unknown key `file` in cert \"c\" of host \"a\"")
        );
        assert!(
            err(&format!(
                "{host}chain = {{ kind = \"fisco-bcos\", rpc = \"http://x\", group = \"g\", group_id = 1 }}\n"
            ))
            .contains("has both `group_id` and `group`")
        );
        assert!(
            err(&format!(
                "{host}chain = {{ kind = \"ethereum\", rpc = \"http://x\", group = \"g\" }}\n"
            ))
            .contains("key `group` does not apply")
        );
        assert_eq!(
            err(&format!(
                "{host}thresholds = {{ disk_warn_percent = 95 }}\n"
            )),
            "/etc/fleet/test.toml:3:36: `disk_warn_percent` (95) must be lower than \
             `disk_crit_percent` (90) in the thresholds of host \"a\""
        );
        assert!(
            err(&format!(
                "[profiles.p]\nthresholds = {{ backup_shrink_percent = 0 }}\n{host}"
            ))
            .contains(
                "invalid `backup_shrink_percent` 0 in the thresholds of [profiles.p]: \
                     expected a percentage from above 0 to 100"
            )
        );
        assert!(
            err(&format!("{host}thresholds = {{ min_peer = 1 }}\n"))
                .contains("unknown key `min_peer` in the thresholds of host \"a\"")
        );
    }

    #[test]
    fn duplicates_are_refused_with_their_origin() {
        assert_eq!(
            err("[[hosts]]\nname = \"a\"\n[[hosts]]\nname = \"a\"\n"),
            "/etc/fleet/test.toml:4:8: duplicate host name \"a\": host names must be unique \
             (first defined at line 2)"
        );
        assert!(
            err(r#"
[profiles.p]
services = [{ name = "x", kind = "command", command = "true" }]
[[hosts]]
name = "a"
profile = "p"
services = [{ name = "x", kind = "command", command = "false" }]
"#)
            .contains("duplicate service \"x\" in host \"a\": its profile `p` already defines it")
        );
        assert!(
            err("[[hosts]]\nname = \"a\"\ndisks = [{ mount = \"/\" }, { mount = \"/\" }]\n")
                .contains("duplicate disk \"/\" in host \"a\"")
        );
    }

    #[test]
    fn semantic_checks() {
        let host = "[[hosts]]\nname = \"a\"\n";
        assert!(
            err(&format!("{host}profile = \"nope\"\n"))
                .contains("unknown profile \"nope\" in host \"a\", no [profiles.NAME] tables")
        );
        assert!(err("[[hosts]]\nname = \" \"\n").contains("empty host name in [[hosts]] #1"));
        assert!(err(&format!("{host}port = 0\n")).contains("invalid port 0"));
        assert!(
            err(&format!("[thresholds]\ndisk_warn_percent = 95\n{host}"))
                .contains("`disk_warn_percent` (95) must be lower than `disk_crit_percent` (90)")
        );
        assert!(
            err(&format!(
                "{host}backups = [{{ name = \"b\", dir = \"/b\", pattern = \"*\", every = \"0s\" }}]\n"
            ))
            .contains("invalid duration \"0s\" for `every` in backup \"b\" of host \"a\": must be greater than zero")
        );
        assert!(
            err(&format!(
                "{host}backups = [{{ name = \"b\", dir = \"/b\", pattern = \"[ab\", every = \"1h\" }}]\n"
            ))
            .contains("invalid glob \"[ab\" for `pattern`")
        );
        assert!(
            err(&format!("[operators]\nbob = \"boss\"\n{host}")).contains(
                "invalid value \"boss\" for `bob` in [operators], expected one of `admin`"
            )
        );
        assert!(err(&format!("{host}role = \"consensus\"\n")).contains("needs `consensus_group`"));
        assert!(
            err(&format!("{host}disks = [{{ mount = \"data\" }}]\n"))
                .contains("expected an absolute path")
        );
        assert_eq!(
            err("[fleet]\nname = \"x\"\n"),
            "/etc/fleet/test.toml: the inventory has no hosts: add at least one [[hosts]] table"
        );
    }

    #[test]
    fn toml_syntax_errors_keep_the_toml_message_with_a_position() {
        let e = load("[fleet\nname = \"x\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (Some(1), Some(7)));
        assert!(e.message.contains("expected `]`"), "{}", e.message);
    }

    #[test]
    fn line_column_counts_characters_from_one() {
        assert_eq!(line_column("", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é=1", 2), (1, 2));
        // Past the end and inside a multi-byte character: clamped, never a panic.
        assert_eq!(line_column("é", 1), (1, 1));
        assert_eq!(line_column("ab", 99), (1, 3));
    }

    #[test]
    fn display_without_a_position_has_no_colons_for_it() {
        let e = ConfigError::whole("fleet.toml", "boom");
        assert_eq!(e.to_string(), "fleet.toml: boom");
    }

    #[test]
    fn example_inventory_loads() {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/example-fleet.toml"
        ));
        let fleet = load_fleet_from_str(
            text,
            ConfigSource::File(PathBuf::from("assets/example-fleet.toml")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(fleet.hosts.len() >= 7);
        let consensus = fleet
            .hosts
            .iter()
            .filter(|h| h.role == NodeRole::Consensus)
            .count();
        assert_eq!(consensus, 4);
        assert!(fleet.hosts.iter().any(|h| h.backups.len() == 1));
        assert!(fleet.hosts.iter().any(|h| {
            h.services
                .iter()
                .any(|s| matches!(s.kind, ServiceKind::Port { port: 25, .. }))
        }));
        let summary = describe(&fleet);
        for host in &fleet.hosts {
            assert!(summary.contains(&host.name));
        }
    }

    #[test]
    fn no_prefix_of_the_example_panics() {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/example-fleet.toml"
        ));
        for (i, _) in text.char_indices().step_by(7) {
            let _ = load_fleet_from_str(&text[..i], ConfigSource::Embedded);
        }
    }

    #[test]
    fn find_config_follows_the_documented_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let cwd = root.join("cwd");
        let home = root.join("home");
        let xdg = root.join("xdg");
        std::fs::create_dir_all(&cwd).unwrap();
        std::fs::create_dir_all(home.join(".config/fleetdeck")).unwrap();
        std::fs::create_dir_all(xdg.join("fleetdeck")).unwrap();
        let explicit = root.join("explicit.toml");
        let from_env = root.join("env.toml");
        for f in [&explicit, &from_env] {
            std::fs::write(f, MINIMAL).unwrap();
        }
        let no_env = |_: &str| None;

        // Nothing anywhere: the embedded default.
        assert_eq!(
            find_config_in(None, no_env, Some(&cwd), Some(&home)).unwrap(),
            None
        );
        // ~/.config when XDG_CONFIG_HOME is unset.
        let home_cfg = home.join(".config/fleetdeck/fleet.toml");
        std::fs::write(&home_cfg, MINIMAL).unwrap();
        assert_eq!(
            find_config_in(None, no_env, Some(&cwd), Some(&home)).unwrap(),
            Some(home_cfg.clone())
        );
        // $XDG_CONFIG_HOME wins over ~/.config.
        let xdg_cfg = xdg.join("fleetdeck/fleet.toml");
        std::fs::write(&xdg_cfg, MINIMAL).unwrap();
        let xdg_env = |k: &str| (k == "XDG_CONFIG_HOME").then(|| xdg.clone().into_os_string());
        assert_eq!(
            find_config_in(None, xdg_env, Some(&cwd), Some(&home)).unwrap(),
            Some(xdg_cfg)
        );
        // ./fleetdeck.toml wins over XDG.
        std::fs::write(cwd.join("fleetdeck.toml"), MINIMAL).unwrap();
        assert_eq!(
            find_config_in(None, xdg_env, Some(&cwd), Some(&home)).unwrap(),
            Some(PathBuf::from("fleetdeck.toml"))
        );
        // $FLEETDECK_CONFIG wins over ./fleetdeck.toml; missing is an error.
        let env = |k: &str| (k == CONFIG_ENV).then(|| from_env.clone().into_os_string());
        assert_eq!(
            find_config_in(None, env, Some(&cwd), Some(&home)).unwrap(),
            Some(from_env.clone())
        );
        let missing = root.join("missing.toml");
        let env_missing = |k: &str| (k == CONFIG_ENV).then(|| missing.clone().into_os_string());
        let e = find_config_in(None, env_missing, Some(&cwd), Some(&home)).unwrap_err();
        assert!(e.message.contains("$FLEETDECK_CONFIG"), "{e}");
        // --config wins over everything; missing is an error.
        assert_eq!(
            find_config_in(Some(&explicit), env, Some(&cwd), Some(&home)).unwrap(),
            Some(explicit.clone())
        );
        let e = find_config_in(Some(&missing), env, Some(&cwd), Some(&home)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: no such inventory file (given with --config)",
                missing.display()
            )
        );
        let e = find_config_in(Some(root), env, Some(&cwd), Some(&home)).unwrap_err();
        assert!(e.message.contains("is a directory"), "{e}");
    }

    #[test]
    fn load_fleet_reads_the_file_and_reports_bad_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("f.toml");
        std::fs::write(&good, MINIMAL).unwrap();
        let fleet = load_fleet(Some(&good)).unwrap();
        assert!(matches!(&fleet.source, ConfigSource::File(p) if p == &good));
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, b"[fleet]\nname = \"\xff\"\n").unwrap();
        let e = load_fleet(Some(&bad)).unwrap_err();
        assert_eq!((e.line, e.column), (Some(2), Some(9)));
    }

    #[test]
    fn embedded_default_is_this_machine_over_the_local_transport() {
        let fleet = embedded_default();
        assert!(matches!(fleet.source, ConfigSource::Embedded));
        assert_eq!(fleet.hosts.len(), 1);
        let host = &fleet.hosts[0];
        assert!(!host.name.is_empty());
        assert_eq!(host.transport, TransportKind::Local);
        assert_eq!(host.interval, Duration::from_secs(5));
        assert_eq!(host.disks[0].mount, "/");
        assert!(host.disks.len() <= EMBEDDED_MAX_DISKS);
        let mut mounts: Vec<_> = host.disks.iter().map(|d| &d.mount).collect();
        mounts.dedup();
        assert_eq!(mounts.len(), host.disks.len());
        assert!(host.services.is_empty() && host.chain.is_none() && host.backups.is_empty());
        assert!(describe(&fleet).contains("<embedded default>"));
    }

    #[test]
    fn pseudo_mounts_are_skipped() {
        assert!(is_real_mount("ext4", "/data"));
        assert!(is_real_mount("xfs", "/boot"));
        assert!(!is_real_mount("overlay", "/"));
        assert!(!is_real_mount("tmpfs", "/tmp"));
        assert!(!is_real_mount("ext4", "/var/lib/docker/volumes/x"));
        assert!(!is_real_mount("vfat", "/boot/efi"));
        assert!(!is_real_mount("fuse.portal", "/run/user/1000/doc"));
        assert!(is_real_mount("ext4", "/srv/runner"));
    }

    #[test]
    fn describe_mentions_everything_understood() {
        let fleet = load(
            r#"
[fleet]
name = "prod"
readonly = true
[operators]
alice = "admin"
[[hosts]]
name = "db-1"
address = "10.0.0.5"
port = 2222
groups = ["db", "eu"]
region = "eu-central-1"
consensus_group = "g0"
role = "observer"
services = [{ name = "pg", kind = "systemd", unit = "postgresql.service" }]
chain = { kind = "command", command = "cat /var/h" }
disks = [{ mount = "/var/lib/postgresql" }]
backups = [{ name = "pg", dir = "/b/", pattern = "*.gz", every = "24h" }]
"#,
        )
        .unwrap();
        let text = describe(&fleet);
        for needle in [
            "source: /etc/fleet/test.toml",
            "fleet: prod",
            "readonly: yes",
            "alice: admin",
            "db-1: 10.0.0.5:2222 over ssh",
            "groups: db, eu",
            "region: eu-central-1",
            "consensus group: g0 as observer",
            "pg: systemd unit postgresql.service",
            "chain: height from command `cat /var/h`",
            "disks: /var/lib/postgresql",
            "pg: /b/*.gz every 1day",
            "disk: warn at 80%, critical at 90%",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn model_serialises_durations_as_written() {
        let fleet = load(MINIMAL).unwrap();
        let json = serde_json::to_value(&fleet).unwrap();
        assert_eq!(json["interval"], "5s");
        assert_eq!(json["hosts"][0]["transport"], "ssh");
    }
}

//! Resolving: from the file shapes of [`super::file`] to the validated [`Fleet`], with
//! profiles merged, defaults filled in, `~` and relative *local* paths resolved, and every
//! semantic check, each failing with one precise [`ConfigError`] that names the place.
//!
//! Paths that live on the *remote* host (disk mounts, backup dirs, pidfiles, compose files) are
//! kept verbatim: expanding `~` there with the console's home would be wrong. It never reads
//! files or the network. Caller: [`super::load::load_fleet_from_str`].

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_spanned::Spanned;

use super::file::{
    AuthFile, BackupFile, CertFile, ChainFile, ChainKindFile, DiskFile, DurationFile, ExecFile,
    HostFile, HostKeyPolicyFile, InventoryFile, LogFile, LogFormatFile, NodeRoleFile, PostureFile,
    ProfileFile, RoleFile, ServiceFile, ServiceKindFile, ThresholdsFile, TransportFile, UiSortFile,
};
use super::jump::{self, JumpOrigin};
use super::load::{ConfigError, ConfigSource};
use super::lookup::expand_home;
use super::places::{
    chain_label, host_label, item_label, posture_label, profile_label, thresholds_label, within,
};
use super::{
    AlertSender, AlertsOut, BackupSet, CertPath, Chain, ChainKind, DEFAULT_LOG_PATTERNS, Disk,
    ExecSettings, Fleet, Host, HostKeyPolicy, HttpAuth, HttpTarget, Jump, LogFormat, LogOrigin,
    LogSource, NodeRole, Role, SecretSource, Service, ServiceCommands, ServiceKind, SshDefaults,
    Thresholds, TransportKind, UiSettings, UiSort,
};
use crate::diag::{Source, line_column, regex_problem};
use crate::health::Severity;
use crate::posture::{Check, PostureSettings, UNREADABLE_KEY};

mod items;
pub(crate) mod prometheus;

/// Default probe interval.
pub(super) const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// Default SSH connect deadline.
pub(super) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default command deadline.
pub(super) const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Default output cap per command.
pub(super) const DEFAULT_MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// Hosts an ad-hoc command runs on at once unless `[exec] concurrency` says otherwise (pdsh's
/// default fan-out; each host's own connection still caps its channels).
pub(super) const DEFAULT_EXEC_CONCURRENCY: usize = 32;
/// The most `[exec] concurrency` may ask for: every running host holds its output in memory.
pub(super) const MAX_EXEC_CONCURRENCY: usize = 1024;
/// Default known_hosts file.
pub(super) const DEFAULT_KNOWN_HOSTS: &str = "~/.ssh/known_hosts";
/// Default OpenSSH client config.
pub(super) const DEFAULT_SSH_CONFIG: &str = "~/.ssh/config";
/// How many local mounts the embedded default watches, `/` included.
pub(super) const EMBEDDED_MAX_DISKS: usize = 6;
/// Lines read from the end of a log when `lines` is not given.
pub(super) const DEFAULT_LOG_LINES: u32 = 200;
/// Most lines a log may ask for: the tail travels over SSH on every log probe.
pub(super) const MAX_LOG_LINES: u64 = 5000;
/// Window of a log's counts when `window` is not given.
pub(super) const DEFAULT_LOG_WINDOW: Duration = Duration::from_secs(600);

const DURATION_HINT: &str = "expected a duration like \"5s\", \"2m\", \"1h\"";

// ---------------------------------------------------------------------------------------------
// From file shapes to the validated model

/// A profile after validation, ready to be merged into hosts.
pub(super) struct ResolvedProfile {
    services: Vec<Service>,
    chain: Option<Chain>,
    disks: Vec<Disk>,
    backups: Vec<BackupSet>,
    certs: Vec<CertPath>,
    logs: Vec<LogSource>,
    /// `[thresholds]` with the profile's overrides applied.
    thresholds: Thresholds,
    /// `[posture]` with the profile's overrides applied.
    posture: PostureSettings,
    region: Option<String>,
    /// The profile's `jump` and where it is written.
    jump: Option<(Jump, Range<usize>)>,
}

/// What a host inherits from the fleet when neither it nor its profile says.
#[derive(Clone, Copy)]
pub(super) struct FleetDefaults<'a> {
    interval: Duration,
    thresholds: &'a Thresholds,
    /// `[posture]`.
    posture: &'a PostureSettings,
    /// `[ssh] jump` and where it is written.
    jump: Option<&'a (Jump, Range<usize>)>,
}

/// Turns one inventory file into a [`Fleet`]; the first problem found is the error.
pub(super) struct Resolver<'a> {
    /// The text being resolved, for positions.
    pub(super) src: Source<'a>,
    /// Directory relative local paths are anchored to (the inventory's).
    pub(super) base_dir: Option<PathBuf>,
    /// The console's home directory, for `~` in local paths.
    pub(super) home: Option<PathBuf>,
}

impl Resolver<'_> {
    pub(super) fn fleet(
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
                    return Err(self.src.at(
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
                    return Err(self.src.at(
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
            certificate_files: self.local_paths(
                &s.certificate_files,
                "certificate_files",
                "[ssh]",
            )?,
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
            resident_shell: s.resident_shell.as_ref().is_none_or(|b| *b.get_ref()),
        };

        let fleet_jump = self.jump(&s.jump, "[ssh]")?;

        let thresholds =
            self.thresholds_over(&Thresholds::default(), &file.thresholds, "[thresholds]")?;
        let posture = match &file.posture {
            Some(p) => self.posture_over(&PostureSettings::default(), p.get_ref(), "[posture]")?,
            None => PostureSettings::default(),
        };

        let mut operators = BTreeMap::new();
        for (name, role) in &file.operators {
            if name.trim().is_empty() {
                return Err(self.src.at(
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
            profiles.insert(
                name.as_str(),
                self.profile(name, profile, &thresholds, &posture)?,
            );
        }

        if file.hosts.is_empty() {
            return Err(self
                .src
                .whole("the inventory has no hosts: add at least one [[hosts]] table"));
        }
        let mut hosts = Vec::with_capacity(file.hosts.len());
        let mut jump_origins = Vec::with_capacity(file.hosts.len());
        let mut seen: HashMap<&str, Range<usize>> = HashMap::new();
        for (index, host) in file.hosts.iter().enumerate() {
            let (resolved, jump_origin) = self.host(
                index,
                host.get_ref(),
                &file.profiles,
                &profiles,
                &FleetDefaults {
                    interval,
                    thresholds: &thresholds,
                    posture: &posture,
                    jump: fleet_jump.as_ref(),
                },
            )?;
            jump_origins.push(jump_origin);
            let name = host.get_ref().name.get_ref().as_str();
            if let Some(first) = seen.get(name) {
                let (line, _) = line_column(self.src.text, first.start);
                return Err(self.src.at(
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
        // Jump hosts name other hosts: checked once every host is known.
        jump::check_fleet(&self.src, &mut hosts, &jump_origins)?;
        let prometheus = self.prometheus(&file, &mut hosts, interval)?;

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
            record_sessions: f.record_sessions.unwrap_or(false),
            ui: UiSettings {
                sort: match file.ui.sort {
                    None | Some(UiSortFile::Problems) => UiSort::Problems,
                    Some(UiSortFile::Inventory) => UiSort::Inventory,
                    Some(UiSortFile::Name) => UiSort::Name,
                },
                bell: file.ui.bell.unwrap_or(false),
                mouse: file.ui.mouse.unwrap_or(true),
            },
            exec: self.exec_settings(&file.exec)?,
            alerts_out: self.alerts_out(&file)?,
            prometheus,
            hosts,
            imported_files: Vec::new(),
        })
    }

    /// `[alertmanager]` and `[[notify]]`: URLs that parse as http(s), a sender, and
    /// credentials only by reference (`*_file`, `*_env`).
    fn alerts_out(&self, file: &InventoryFile) -> Result<AlertsOut, ConfigError> {
        let mut out = AlertsOut::default();
        if let Some(am) = &file.alertmanager {
            let a = am.get_ref();
            let Some(url) = &a.url else {
                return Err(self.src.at(
                    am.span(),
                    "[alertmanager] needs `url`: expected its base URL such as \"http://127.0.0.1:9093\"",
                ));
            };
            out.alertmanager = Some(HttpTarget {
                url: self.http_url(url, "[alertmanager]")?,
                auth: self.http_auth(&a.auth(), "[alertmanager]")?,
            });
            if let Some(silence) = &a.silence {
                out.silence = Some(self.duration(silence, "silence", "[alertmanager]")?);
            }
            if let Some(sender) = &a.sender {
                out.sender = match sender.get_ref().as_str() {
                    "serve" => AlertSender::Serve,
                    "console" => AlertSender::Console,
                    other => {
                        return Err(self.src.at(
                            sender.span(),
                            format!("unknown `sender` \"{other}\" in [alertmanager]: expected \"serve\" or \"console\""),
                        ));
                    }
                };
            }
        }
        for (i, n) in file.notify.iter().enumerate() {
            let place = format!("[[notify]] #{}", i + 1);
            let Some(url) = &n.get_ref().url else {
                return Err(self.src.at(
                    n.span(),
                    format!("{place} needs `url`: expected the webhook URL"),
                ));
            };
            out.webhooks.push(HttpTarget {
                url: self.http_url(url, &place)?,
                auth: self.http_auth(&n.get_ref().auth(), &place)?,
            });
        }
        Ok(out)
    }

    fn http_url(&self, url: &Spanned<String>, place: &str) -> Result<String, ConfigError> {
        let u = url.get_ref().trim();
        let rest = u
            .strip_prefix("http://")
            .or_else(|| u.strip_prefix("https://"));
        match rest {
            Some(r) if !r.is_empty() && !r.starts_with('/') => Ok(u.to_string()),
            _ => Err(self.src.at(
                url.span(),
                format!("bad `url` \"{u}\" in {place}: expected http:// or https:// and a host"),
            )),
        }
    }

    fn http_auth(&self, a: &AuthFile, place: &str) -> Result<Option<HttpAuth>, ConfigError> {
        if let Some(p) = &a.password {
            return Err(self.src.at(
                p.span(),
                format!("inline secret `password` in {place}: write `password_file` or `password_env` instead (secrets never go in the inventory)"),
            ));
        }
        if let Some(p) = &a.bearer_token {
            return Err(self.src.at(
                p.span(),
                format!("inline secret `bearer_token` in {place}: write `bearer_token_file` or `bearer_token_env` instead (secrets never go in the inventory)"),
            ));
        }
        let source = |file: &Option<Spanned<String>>,
                      env: &Option<Spanned<String>>,
                      key: &str|
         -> Result<Option<SecretSource>, ConfigError> {
            match (file, env) {
                (Some(_), Some(e)) => Err(self.src.at(
                    e.span(),
                    format!("both `{key}_file` and `{key}_env` in {place}: expected one of them"),
                )),
                (Some(f), None) if f.get_ref().trim().is_empty() => Err(self.src.at(
                    f.span(),
                    format!("empty `{key}_file` in {place}: expected a file path"),
                )),
                (Some(f), None) => Ok(Some(SecretSource::File(
                    self.local_path(f.get_ref().trim()),
                ))),
                (None, Some(e)) if e.get_ref().trim().is_empty() => Err(self.src.at(
                    e.span(),
                    format!("empty `{key}_env` in {place}: expected an environment variable name"),
                )),
                (None, Some(e)) => Ok(Some(SecretSource::Env(e.get_ref().trim().to_string()))),
                (None, None) => Ok(None),
            }
        };
        let password = source(&a.password_file, &a.password_env, "password")?;
        let bearer = source(&a.bearer_token_file, &a.bearer_token_env, "bearer_token")?;
        match (&a.username, password, bearer) {
            (Some(u), Some(_), Some(_)) => Err(self.src.at(
                u.span(),
                format!("both basic and bearer credentials in {place}: expected one kind"),
            )),
            (Some(u), Some(p), None) => Ok(Some(HttpAuth::Basic {
                username: u.get_ref().clone(),
                password: p,
            })),
            (Some(u), None, _) => Err(self.src.at(
                u.span(),
                format!("`username` without `password_file` or `password_env` in {place}"),
            )),
            (None, Some(_), _) => Err(self.src.whole(format!(
                "`password_file`/`password_env` without `username` in {place}"
            ))),
            (None, None, Some(b)) => Ok(Some(HttpAuth::Bearer(b))),
            (None, None, None) => Ok(None),
        }
    }

    /// `[exec]`: the danger list (each pattern non-empty, whitespace normalised, so it matches
    /// the way `crate::exec::danger` compares) and the fan-out limit.
    fn exec_settings(&self, e: &ExecFile) -> Result<ExecSettings, ConfigError> {
        let pattern = |p: &Spanned<String>, key: &str| {
            let normal = crate::exec::danger::normalise(p.get_ref());
            if normal.trim().is_empty() {
                Err(self.src.at(
                    p.span(),
                    format!(
                        "empty pattern in `{key}` in [exec]: expected command text such as \"rm -rf\""
                    ),
                ))
            } else {
                Ok(normal)
            }
        };
        let mut danger = match &e.danger {
            None => ExecSettings::default().danger,
            Some(list) => list
                .get_ref()
                .iter()
                .map(|p| pattern(p, "danger"))
                .collect::<Result<Vec<_>, _>>()?,
        };
        for p in e.danger_extra.iter().flatten() {
            let p = pattern(p, "danger_extra")?;
            if !danger.contains(&p) {
                danger.push(p);
            }
        }
        let concurrency = match &e.concurrency {
            None => DEFAULT_EXEC_CONCURRENCY,
            Some(v) => match usize::try_from(*v.get_ref()) {
                Ok(n) if (1..=MAX_EXEC_CONCURRENCY).contains(&n) => n,
                _ => {
                    return Err(self.src.at(
                        v.span(),
                        format!(
                            "invalid `concurrency` {} in [exec]: expected a number of hosts \
                             from 1 to {}",
                            v.get_ref(),
                            MAX_EXEC_CONCURRENCY
                        ),
                    ));
                }
            },
        };
        Ok(ExecSettings {
            danger,
            concurrency,
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
                    Err(self.src.at(
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
                Some(span) => self.src.at(span, message),
                None => self.src.whole(message),
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
                return Err(self.src.at(
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

    /// `base` with every key `f` gives replaced, checked in `place`; a `posture` table turns
    /// the posture on unless it says `enabled = false`.
    fn posture_over(
        &self,
        base: &PostureSettings,
        f: &PostureFile,
        place: &str,
    ) -> Result<PostureSettings, ConfigError> {
        let mut out = base.clone();
        out.enabled = f.enabled.unwrap_or(true);
        if let Some(path) = &f.sshd_config {
            out.sshd_config = Some(self.non_empty(path, "sshd_config", place)?.to_owned());
        }
        if let Some(ports) = &f.expected_ports {
            out.expected_ports = Some(ports.clone());
        }
        if let Some(l) = f.include_loopback {
            out.include_loopback = l;
        }
        for (key, value) in &f.severity {
            let severity = match value.get_ref().as_str() {
                "warning" => Some(Severity::Warning),
                "critical" => Some(Severity::Critical),
                "off" => None,
                other => {
                    return Err(self.src.at(
                        value.span(),
                        format!(
                            "invalid severity {other:?} for `severity.{key}` {}: expected \
                             \"warning\", \"critical\" or \"off\"",
                            within(place)
                        ),
                    ));
                }
            };
            if key == UNREADABLE_KEY {
                out.unreadable_severity = Some(severity);
            } else if let Some(check) = Check::from_key(key) {
                out.severity.insert(check, severity);
            } else {
                let keys: Vec<&str> = Check::ALL
                    .iter()
                    .map(|c| c.key())
                    .chain([UNREADABLE_KEY])
                    .collect();
                return Err(self.src.at(
                    value.span(),
                    format!(
                        "unknown posture check `severity.{key}` {}: expected one of {}",
                        within(place),
                        keys.join(", ")
                    ),
                ));
            }
        }
        Ok(out)
    }

    fn profile(
        &self,
        name: &str,
        p: &ProfileFile,
        fleet_thresholds: &Thresholds,
        fleet_posture: &PostureSettings,
    ) -> Result<ResolvedProfile, ConfigError> {
        let owner = profile_label(name);
        let mut services = Vec::new();
        self.add(&mut services, &p.services, &owner, None, Self::service)?;
        let mut disks = Vec::new();
        self.add(&mut disks, &p.disks, &owner, None, Self::disk)?;
        let mut backups = Vec::new();
        self.add(&mut backups, &p.backups, &owner, None, Self::backup)?;
        let chain = p
            .chain
            .as_ref()
            .map(|c| self.chain(c, &owner))
            .transpose()?;
        let mut certs = Vec::new();
        self.add(&mut certs, &p.certs, &owner, None, Self::cert)?;
        let mut logs = Vec::new();
        self.add(&mut logs, &p.logs, &owner, None, Self::log)?;
        let thresholds = match &p.thresholds {
            Some(t) => {
                self.thresholds_over(fleet_thresholds, t.get_ref(), &thresholds_label(&owner))?
            }
            None => fleet_thresholds.clone(),
        };
        let posture = match &p.posture {
            Some(f) => self.posture_over(fleet_posture, f.get_ref(), &posture_label(&owner))?,
            None => fleet_posture.clone(),
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
            posture,
            region,
            jump: self.jump(&p.jump, &owner)?,
        })
    }

    fn host(
        &self,
        index: usize,
        h: &HostFile,
        profile_files: &BTreeMap<String, ProfileFile>,
        profiles: &HashMap<&str, ResolvedProfile>,
        fleet: &FleetDefaults<'_>,
    ) -> Result<(Host, Option<JumpOrigin>), ConfigError> {
        let FleetDefaults {
            interval: fleet_interval,
            thresholds: fleet_thresholds,
            posture: fleet_posture,
            jump: fleet_jump,
        } = *fleet;
        let raw_name = h.name.get_ref();
        if raw_name.trim().is_empty() {
            return Err(self.src.at(
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
                return Err(self.src.at(
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
        let certificate_files =
            self.local_paths(&h.certificate_files, "certificate_files", &owner)?;
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
                    return Err(self.src.at(
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
                        return Err(self.src.at(
                            p.span(),
                            format!("unknown profile {name:?} {}, {expected}", within(&owner)),
                        ));
                    }
                }
            }
        };

        let from_profile = profile.map(|(name, _)| name);
        let mut services = profile.map_or_else(Vec::new, |(_, p)| p.services.clone());
        self.add(
            &mut services,
            &h.services,
            &owner,
            from_profile,
            Self::service,
        )?;
        let mut disks = profile.map_or_else(Vec::new, |(_, p)| p.disks.clone());
        self.add(&mut disks, &h.disks, &owner, from_profile, Self::disk)?;
        let mut backups = profile.map_or_else(Vec::new, |(_, p)| p.backups.clone());
        self.add(&mut backups, &h.backups, &owner, from_profile, Self::backup)?;
        let chain = match &h.chain {
            Some(c) => Some(self.chain(c, &owner)?),
            None => profile.and_then(|(_, p)| p.chain.clone()),
        };
        let mut certs = profile.map_or_else(Vec::new, |(_, p)| p.certs.clone());
        self.add(&mut certs, &h.certs, &owner, from_profile, Self::cert)?;
        let mut logs = profile.map_or_else(Vec::new, |(_, p)| p.logs.clone());
        self.add(&mut logs, &h.logs, &owner, from_profile, Self::log)?;
        let region = region.or_else(|| profile.and_then(|(_, p)| p.region.clone()));
        // The host's own `jump` wins, then its profile's, then `[ssh]`'s.
        let (jump, jump_origin) = match self.jump(&h.jump, &owner)? {
            Some((jump, span)) => (Some(jump), Some(JumpOrigin { span, own: true })),
            None => match profile.and_then(|(_, p)| p.jump.as_ref()).or(fleet_jump) {
                Some((jump, span)) => (
                    Some(jump.clone()),
                    Some(JumpOrigin {
                        span: span.clone(),
                        own: false,
                    }),
                ),
                None => (None, None),
            },
        };
        if transport == TransportKind::Local
            && let Some(origin) = jump_origin.as_ref().filter(|o| o.own)
            && matches!(jump, Some(Jump::Via(_)))
        {
            return Err(self.src.at(
                origin.span.clone(),
                format!(
                    "`jump` {} has no effect on a local host: expected it only on SSH hosts",
                    within(&owner)
                ),
            ));
        }
        // A local host is never reached through a bastion, whatever it inherits.
        let jump = if transport == TransportKind::Local {
            None
        } else {
            jump
        };
        let jump_origin = jump.as_ref().and(jump_origin);
        let inherited = profile.map_or(fleet_thresholds, |(_, p)| &p.thresholds);
        let thresholds = match &h.thresholds {
            Some(t) => self.thresholds_over(inherited, t.get_ref(), &thresholds_label(&owner))?,
            None => inherited.clone(),
        };
        let inherited = profile.map_or(fleet_posture, |(_, p)| &p.posture);
        let posture = match &h.posture {
            Some(f) => self.posture_over(inherited, f.get_ref(), &posture_label(&owner))?,
            None => inherited.clone(),
        };

        let host = Host {
            name: raw_name.clone(),
            address,
            port,
            user,
            identity_files,
            certificate_files,
            jump,
            via: Vec::new(),
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
            posture,
        };
        Ok((host, jump_origin))
    }

    /// A `jump` value (`"a,b"`, `"none"`) parsed, with its span; `None` when not written.
    fn jump(
        &self,
        value: &Option<Spanned<String>>,
        place: &str,
    ) -> Result<Option<(Jump, Range<usize>)>, ConfigError> {
        let Some(value) = value else { return Ok(None) };
        match jump::parse_jump(value.get_ref()) {
            Ok(j) => Ok(Some((j, value.span()))),
            Err(why) => Err(self.src.at(
                value.span(),
                format!(
                    "invalid `jump` {:?} {}: {why}; expected an inventory host's name or \
                     `[user@]host[:port]`, a chain \"a,b\", or \"none\"",
                    value.get_ref(),
                    within(place)
                ),
            )),
        }
    }

    fn check_url(&self, url: &Spanned<String>, key: &str, place: &str) -> Result<(), ConfigError> {
        let value = url.get_ref();
        let rest = value
            .strip_prefix("http://")
            .or_else(|| value.strip_prefix("https://"));
        match rest {
            Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(()),
            _ => Err(self.src.at(
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
                .src
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
            Ok(d) if d.is_zero() => Err(self.src.at(
                value.span(),
                format!(
                    "invalid duration {raw:?} for `{key}` {}: must be greater than zero",
                    within(place)
                ),
            )),
            Ok(d) => Ok(d),
            Err(_) => Err(self.src.at(
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

//! The `fleetdeck config check` description: a human-readable summary of everything a
//! validated [`Fleet`] says, so an operator can see what the inventory resolved to (profiles
//! merged, defaults filled in).
//!
//! It only formats; it never validates or reads anything. Caller: `cli::config` (`config check`).

use std::fmt::{self, Write as _};
use std::path::PathBuf;

use super::{
    AlertSender, AlertsOut, ChainKind, Fleet, Host, HostKeyPolicy, HttpAuth, HttpTarget, Jump,
    LogFormat, LogOrigin, NodeRole, SecretSource, ServiceKind, Thresholds, TransportKind,
};

/// `[alertmanager]` and `[[notify]]`, only when configured (where secrets come from, never
/// what they are).
fn alerts_out(out: &mut String, a: &AlertsOut) -> fmt::Result {
    if a.alertmanager.is_none() && a.webhooks.is_empty() {
        return Ok(());
    }
    let sender = match a.sender {
        AlertSender::Serve => "fleetdeck serve",
        AlertSender::Console => "the console",
    };
    writeln!(out, "alerts out (sent by {sender}):")?;
    let target = |t: &HttpTarget| {
        let auth = match &t.auth {
            None => String::new(),
            Some(HttpAuth::Basic { username, password }) => {
                format!(
                    " (basic auth {username}, password from {})",
                    secret(password)
                )
            }
            Some(HttpAuth::Bearer(s)) => format!(" (bearer token from {})", secret(s)),
        };
        // A webhook's path is often its secret: scheme, host and port only.
        format!("{}{auth}", crate::alert_sink::redact(&t.url))
    };
    if let Some(am) = &a.alertmanager {
        writeln!(out, "  alertmanager: {}", target(am))?;
        // The console also reads it (alerts in, `a` silences).
        writeln!(
            out,
            "  alertmanager alerts shown in the console; `a` silences one for {}",
            humantime::format_duration(a.silence_duration())
        )?;
    }
    for w in &a.webhooks {
        writeln!(out, "  webhook: {}", target(w))?;
    }
    Ok(())
}

/// `[prometheus]`, only when configured: each server, how hosts map, who reads from it.
fn prometheus(out: &mut String, fleet: &Fleet) -> fmt::Result {
    let Some(p) = &fleet.prometheus else {
        return Ok(());
    };
    let count =
        |s: crate::inventory::StatusSource| p.hosts.iter().filter(|h| h.source == s).count();
    writeln!(
        out,
        "prometheus (every {}, timeout {}): {} hosts read from it, {} both, {} over SSH only",
        humantime::format_duration(p.interval),
        humantime::format_duration(p.timeout),
        count(crate::inventory::StatusSource::Prometheus),
        count(crate::inventory::StatusSource::Both),
        count(crate::inventory::StatusSource::Ssh),
    )?;
    for s in &p.servers {
        let auth = match &s.target.auth {
            None => String::new(),
            Some(HttpAuth::Basic { username, password }) => {
                format!(
                    " (basic auth {username}, password from {})",
                    secret(password)
                )
            }
            Some(HttpAuth::Bearer(t)) => format!(" (bearer token from {})", secret(t)),
        };
        let via = s
            .via
            .as_ref()
            .map(|v| format!(" via {v}"))
            .unwrap_or_default();
        let scope = if s.group.is_empty() {
            "fleet-wide".to_string()
        } else {
            format!("group {}", s.group)
        };
        writeln!(
            out,
            "  {scope}: {}{via}{auth}, hosts by {}=\"{}\"",
            crate::alert_sink::redact(&s.target.url),
            s.label,
            s.instance
        )?;
    }
    for c in &p.columns {
        writeln!(out, "  column {}: {}", c.name, c.query)?;
    }
    Ok(())
}

fn secret(s: &SecretSource) -> String {
    match s {
        SecretSource::File(p) => format!("file {}", p.display()),
        SecretSource::Env(v) => format!("${v}"),
    }
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
    if !fleet.imported_files.is_empty() {
        // `[[import]]`: what was read besides the TOML (what a reload watches).
        writeln!(out, "imported from: {}", paths(&fleet.imported_files))?;
    }
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
    if fleet.record_sessions {
        writeln!(out, "  record sessions: yes")?;
    }
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
    if !ssh.certificate_files.is_empty() {
        writeln!(
            out,
            "  certificate files: {}",
            paths(&ssh.certificate_files)
        )?;
    }
    writeln!(
        out,
        "  connect timeout: {}, command timeout: {}, max output: {} bytes",
        humantime::format_duration(ssh.connect_timeout),
        humantime::format_duration(ssh.command_timeout),
        ssh.max_output_bytes
    )?;
    if !ssh.resident_shell {
        writeln!(out, "  resident shell: no (one exec channel per poll)")?;
    }
    writeln!(
        out,
        "  config file: {}",
        ssh.config_file
            .as_ref()
            .map_or_else(|| "none".to_owned(), |p| p.display().to_string())
    )?;
    let t = &fleet.thresholds;
    writeln!(out, "thresholds:")?;
    write_thresholds(out, t, "  ")?;
    if fleet.operators.is_empty() {
        writeln!(out, "operators: none")?;
    } else {
        writeln!(out, "operators:")?;
        for (name, role) in &fleet.operators {
            writeln!(out, "  {name}: {}", role.as_str())?;
        }
    }
    writeln!(out, "exec:")?;
    let danger = if fleet.exec.danger.is_empty() {
        "none (every ad-hoc command runs without a typed confirmation)".to_owned()
    } else {
        fleet
            .exec
            .danger
            .iter()
            .map(|p| format!("{p:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(out, "  danger list: {danger}")?;
    writeln!(
        out,
        "  concurrency: {} hosts at once",
        fleet.exec.concurrency
    )?;
    alerts_out(out, &fleet.alerts_out)?;
    prometheus(out, fleet)?;
    writeln!(out, "hosts: {}", fleet.hosts.len())?;
    for host in &fleet.hosts {
        write_host(out, host, t)?;
    }
    Ok(())
}

/// The threshold lines after the disk and chain ones (shared by the fleet and host overrides).
/// Every threshold, one line per concern, each line starting with `indent` (the fleet's and a
/// host's own are described the same way).
fn write_thresholds(out: &mut String, t: &Thresholds, indent: &str) -> fmt::Result {
    writeln!(
        out,
        "{indent}disk: warn at {}%, critical at {}%",
        t.disk_warn_percent, t.disk_crit_percent
    )?;
    writeln!(
        out,
        "{indent}chain: warn {} blocks behind, critical after {} without a block, warn below {} peers",
        t.height_lag_warn,
        humantime::format_duration(t.height_stall),
        t.min_peers
    )?;
    write_threshold_details(out, t, indent)
}

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
    match &host.jump {
        None => {}
        Some(Jump::None) => writeln!(out, "    jump: none (direct, whatever ~/.ssh/config says)")?,
        Some(Jump::Via(hops)) => writeln!(out, "    jump: {}", hops.join(" → "))?,
    }
    if !host.identity_files.is_empty() {
        let files: Vec<_> = host
            .identity_files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        writeln!(out, "    identity files: {}", files.join(", "))?;
    }
    if !host.certificate_files.is_empty() {
        let files: Vec<_> = host
            .certificate_files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        writeln!(out, "    certificate files: {}", files.join(", "))?;
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
    let p = &host.posture;
    if p.enabled {
        let ports = p.expected_ports.as_ref().map_or_else(
            || "sshd's, 80, 443".to_string(),
            |ports| {
                ports
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
        let off: Vec<&str> = crate::posture::Check::ALL
            .into_iter()
            .filter(|c| p.severity(*c).is_none())
            .map(|c| c.key())
            .collect();
        writeln!(
            out,
            "    posture: sshd -T{}, expected ports {ports}{}{}",
            p.sshd_config
                .as_deref()
                .map(|c| format!(" -f {c}"))
                .unwrap_or_default(),
            if p.include_loopback {
                ", loopback judged"
            } else {
                ""
            },
            if off.is_empty() {
                String::new()
            } else {
                format!(", off: {}", off.join(", "))
            }
        )?;
    }
    let t = &host.thresholds;
    if !same_thresholds(t, fleet_thresholds) {
        writeln!(out, "    thresholds:")?;
        write_thresholds(out, t, "      ")?;
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

fn chain_kind_str(kind: ChainKind) -> &'static str {
    match kind {
        ChainKind::Ethereum => "ethereum",
        ChainKind::Conflux => "conflux",
        ChainKind::FiscoBcos => "fisco-bcos",
        ChainKind::Command => "command",
    }
}

// ---------------------------------------------------------------------------------------------

//! `fleetdeck init`: write a first inventory from what the operator already has — the literal
//! `Host` entries of `~/.ssh/config` (with `Include`, HostName, Port, User, IdentityFile and
//! ProxyJump, written as the inventory's `jump`) and Ansible inventories — then say which hosts
//! strict host key checking will refuse and print the `ssh-keyscan` lines to fetch their keys
//! (fetching is not verifying: fleetdeck never records a key itself here). `--detect` looks on
//! each reachable host, over the normal transport, for services fleetdeck knows and proposes
//! them commented out.
//!
//! The text is built by [`crate::inventory::init`] and loaded as an inventory before it is
//! written, so `init` never leaves a file `config check` refuses. An existing file is kept
//! unless `--force` is given. Exit codes: 0 written, 1 the file could not be written, 2 bad
//! input (an unreadable source, an existing file without `--force`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::out;
use crate::inventory::import::{self, FoundHost};
use crate::inventory::init::{self as text, DetectedService, InitText};
use crate::inventory::{self, ConfigSource, Fleet, Jump, TransportKind, ansible};
use crate::transport::known_hosts;
use crate::transport::ssh::ssh_config::{Query, SshConfig, expand_percent_h};
use crate::transport::ssh::{self, NoPrompt, Proxy, SshShared};
use crate::transport::{ExecRequest, Transport};

/// `fleetdeck init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Hosts from the literal `Host` entries of ~/.ssh/config (the default when no source is
    /// given).
    #[arg(long)]
    pub from_ssh_config: bool,
    /// Hosts from an Ansible inventory: an INI or YAML file, a directory, or the JSON of
    /// `ansible-inventory --list` (repeatable).
    #[arg(long, value_name = "PATH")]
    pub from_ansible: Vec<PathBuf>,
    /// Where to write (default: $XDG_CONFIG_HOME/fleetdeck/fleet.toml).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
    /// Look on reachable hosts for services fleetdeck knows (systemd units of geth, conflux,
    /// fisco-bcos, postgresql, nginx; docker containers) and propose them, commented out.
    #[arg(long)]
    pub detect: bool,
}

/// Runs `fleetdeck init`; returns the exit code.
pub async fn run(args: InitArgs) -> u8 {
    let mut err = out::stderr();
    let home = dirs::home_dir();
    let Some(output) = args.output.clone().or_else(inventory::xdg_inventory_path) else {
        writeln!(
            err,
            "fleetdeck: no home directory to write the inventory under: give --output FILE"
        );
        return 2;
    };
    if output.exists() && !args.force {
        writeln!(
            err,
            "fleetdeck: {} exists: not overwritten (give --force to replace it)",
            output.display()
        );
        return 2;
    }
    let from_ssh = args.from_ssh_config || args.from_ansible.is_empty();
    let mut lists = Vec::new();
    let mut sources = Vec::new();
    let mut warnings = Vec::new();
    if from_ssh {
        let path = home
            .as_deref()
            .map(|h| h.join(".ssh").join("config"))
            .unwrap_or_else(|| PathBuf::from("/nonexistent"));
        match from_ssh_config(&path, home.as_deref()) {
            Ok(found) => {
                sources.push(path.display().to_string());
                lists.push(found);
            }
            Err(e) => {
                writeln!(err, "fleetdeck: {e}");
                return 2;
            }
        }
    }
    for path in &args.from_ansible {
        let inventory = match ansible::read(path) {
            Ok(i) => i,
            Err(e) => {
                writeln!(err, "fleetdeck: {e}");
                return 2;
            }
        };
        let mut found = Vec::new();
        for h in &inventory.hosts {
            match import::from_ansible(h) {
                Ok(f) => found.push(f),
                Err(e) => {
                    writeln!(err, "fleetdeck: {e}");
                    return 2;
                }
            }
        }
        sources.push(path.display().to_string());
        lists.push(found);
    }
    let hosts = text::merge_found(lists);
    for h in &hosts {
        if let Some(problem) = &h.unconverted {
            warnings.push(problem.to_string());
        }
        for (_, problem) in &h.templated {
            warnings.push(problem.to_string());
        }
    }
    let mut init = InitText {
        sources,
        ..InitText::default()
    };
    let mut rendered = text::render(&hosts, &init);
    // The text is loaded as the inventory it will be before anything is written.
    let fleet = match inventory::load_fleet_from_str(&rendered, ConfigSource::File(output.clone()))
    {
        Ok(f) => f,
        Err(e) => {
            writeln!(
                err,
                "fleetdeck: the inventory built from these sources is not valid, nothing written: {e}"
            );
            return 2;
        }
    };
    let ssh_config = if fleet
        .hosts
        .iter()
        .any(|h| h.transport == TransportKind::Ssh)
    {
        match ssh::read_ssh_config(&ssh::ssh_config_path(&fleet)) {
            Ok(c) => c,
            Err(e) => {
                writeln!(err, "fleetdeck: ssh_config: {e}");
                return 2;
            }
        }
    } else {
        None
    };
    let unknown = unknown_keys(&fleet, ssh_config.as_ref());
    if args.detect {
        let (detected, failed) = detect(&fleet).await;
        init.detected = detected;
        init.detect_failed = failed;
        rendered = text::render(&hosts, &init);
    }
    if let Err(e) = write_file(&output, &rendered, args.force) {
        writeln!(err, "fleetdeck: cannot write {}: {e}", output.display());
        return 1;
    }
    let mut report = String::new();
    let _ = writeln!(
        report,
        "wrote {} with {} host(s); check it with: fleetdeck --config {} config check",
        output.display(),
        fleet.hosts.len(),
        output.display()
    );
    for w in &warnings {
        let _ = writeln!(report, "warning: {w}");
    }
    if !unknown.is_empty() {
        let _ = writeln!(
            report,
            "\n{} host(s) have no key in known_hosts; fleetdeck refuses them until one is recorded.\n\
             Fetch each key with the line below, compare its fingerprint (ssh-keygen -lf FILE) with\n\
             the one the host's console shows (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub),\n\
             and only then append it to {}:",
            unknown.len(),
            fleet.known_hosts.first().map_or_else(
                || "~/.ssh/known_hosts".to_owned(),
                |p| p.display().to_string()
            )
        );
        for line in &unknown {
            let _ = writeln!(report, "{line}");
        }
    }
    out::stdout().write_str(&report);
    0
}

/// Creates `path` (and its directory); with `force` an existing file is replaced, without it
/// the file must not exist (checked atomically: a file created meanwhile is not overwritten).
fn write_file(path: &Path, text: &str, force: bool) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// The hosts of the user's ssh_config (no system config: its `Host *` defaults are not hosts).
fn from_ssh_config(path: &Path, home: Option<&Path>) -> Result<Vec<FoundHost>, String> {
    let Some(config) = SshConfig::read(path, home).map_err(|e| e.to_string())? else {
        return Ok(Vec::new());
    };
    let local_user = std::env::var("USER").unwrap_or_default();
    Ok(config
        .literal_hosts()
        .into_iter()
        .map(|alias| found_in_ssh_config(&config, &alias, &local_user, home, path))
        .collect())
}

/// What `ssh ALIAS` would use, as inventory keys.
fn found_in_ssh_config(
    config: &SshConfig,
    alias: &str,
    local_user: &str,
    home: Option<&Path>,
    path: &Path,
) -> FoundHost {
    let p = config.query(&Query {
        host: alias,
        user: None,
        local_user,
    });
    let address = p
        .arg("hostname")
        .map(|h| expand_percent_h(h, alias))
        .filter(|a| a != alias);
    let user = p
        .arg("user")
        .filter(|u| !u.contains('%'))
        .map(str::to_owned);
    let remote_user = user.clone().unwrap_or_else(|| local_user.to_owned());
    let host_name = address.clone().unwrap_or_else(|| alias.to_owned());
    let identity_files = p
        .all("identityfile")
        .into_iter()
        .filter_map(|s| s.args.first())
        .filter(|f| !f.eq_ignore_ascii_case("none"))
        .filter_map(|f| {
            // The tokens an IdentityFile commonly uses; a file with another is left to
            // ssh_config, which fleetdeck reads at run time as well.
            let f = f
                .replace(
                    "%d",
                    &home.map(|h| h.display().to_string()).unwrap_or_default(),
                )
                .replace("%u", local_user)
                .replace("%r", &remote_user)
                .replace("%h", &host_name);
            (!f.contains('%')).then_some(f)
        })
        .collect();
    let mut address = address;
    let mut note = None;
    let jump = if p.before("proxycommand", "proxyjump") {
        let command = p
            .get("proxycommand")
            .map(|s| s.raw.clone())
            .unwrap_or_default();
        if command.trim().eq_ignore_ascii_case("none") {
            None
        } else {
            match import::proxy_command_hop(&command) {
                Ok(j) => Some(j),
                Err(_) => {
                    // fleetdeck runs ssh_config's ProxyCommand itself when the host is
                    // reached by its alias: keep the alias as the address so it applies.
                    address = None;
                    note = Some(format!(
                        "reached through the ProxyCommand of {} (address left as the \
                         ~/.ssh/config alias so that it applies)",
                        p.get("proxycommand")
                            .map_or_else(|| path.display().to_string(), |s| s.at.to_string())
                    ));
                    None
                }
            }
        }
    } else {
        p.arg("proxyjump")
            .filter(|j| !j.eq_ignore_ascii_case("none"))
            .map(str::to_owned)
    };
    // A jump through itself (a `Host *` ProxyJump reaching the bastion too) is dropped, as the
    // inventory refuses it.
    let jump = jump.filter(|j| {
        crate::inventory::jump::parse_hop(j.split(',').next().unwrap_or(""))
            .map(|hop| hop.host != alias)
            .unwrap_or(true)
    });
    let origin = p
        .get("hostname")
        .or_else(|| p.settings().next())
        .map_or_else(|| path.display().to_string(), |s| s.at.to_string());
    FoundHost {
        name: alias.to_owned(),
        address,
        port: p.arg("port").and_then(|v| v.parse().ok()),
        user,
        identity_files,
        jump,
        local: false,
        groups: Vec::new(),
        origin,
        unconverted: None,
        note,
        templated: Vec::new(),
    }
}

/// One `ssh-keyscan` line per SSH host whose key no known_hosts file records.
fn unknown_keys(fleet: &Fleet, ssh_config: Option<&SshConfig>) -> Vec<String> {
    let mut lines = Vec::new();
    for host in fleet
        .hosts
        .iter()
        .filter(|h| h.transport == TransportKind::Ssh)
    {
        let target = ssh::resolve_target(fleet, host, ssh_config);
        if known_hosts::has_key(&target.known_hosts, &target.address, target.port) {
            continue;
        }
        let port = if target.port == 22 {
            String::new()
        } else {
            format!("-p {} ", target.port)
        };
        // `ssh-keyscan` dials directly: a host behind a jump host is scanned from the last hop.
        let via = match (&host.jump, &target.proxy) {
            (Some(Jump::Via(hops)), _) | (None, Proxy::Jump(hops)) if !hops.is_empty() => format!(
                "   # run on {} (it is reached through it)",
                hops.last().map(String::as_str).unwrap_or_default()
            ),
            (None, Proxy::Command(_)) => {
                "   # reached through its ProxyCommand: run it where that leads".to_owned()
            }
            _ => String::new(),
        };
        lines.push(format!(
            "  ssh-keyscan {port}{}   # {}{via}",
            target.address, host.name
        ));
    }
    lines
}

/// Systemd unit name prefixes `--detect` proposes.
const KNOWN_UNITS: &[&str] = &["geth", "conflux", "fisco", "postgresql", "nginx"];

/// Lists services and containers; always exits 0 (a missing tool lists nothing).
const DETECT_SCRIPT: &str = "command -v systemctl >/dev/null 2>&1 && \
     systemctl list-units --type=service --all --no-legend --plain 2>/dev/null | \
     while read -r u _; do echo \"unit $u\"; done; \
     command -v docker >/dev/null 2>&1 && docker ps --format '{{.Names}}' 2>/dev/null | \
     while read -r c; do echo \"container $c\"; done; true";

/// Parses [`DETECT_SCRIPT`]'s output: known units, every container.
pub fn parse_detect(output: &str) -> Vec<DetectedService> {
    let mut found = Vec::new();
    for line in output.lines() {
        if let Some(unit) = line.strip_prefix("unit ") {
            let unit = unit.trim().trim_start_matches('●').trim();
            let base = unit.trim_end_matches(".service");
            if unit.ends_with(".service")
                && KNOWN_UNITS.iter().any(|k| base.starts_with(k))
                && !found.contains(&DetectedService::Systemd(unit.to_owned()))
            {
                found.push(DetectedService::Systemd(unit.to_owned()));
            }
        } else if let Some(c) = line.strip_prefix("container ") {
            let c = c.trim();
            if !c.is_empty() && !found.contains(&DetectedService::Docker(c.to_owned())) {
                found.push(DetectedService::Docker(c.to_owned()));
            }
        }
    }
    found
}

/// Runs [`DETECT_SCRIPT`] on every host at once over its normal transport (host keys checked
/// as the fleet says: an unknown key is a failure, never trusted).
async fn detect(
    fleet: &Fleet,
) -> (
    BTreeMap<String, Vec<DetectedService>>,
    BTreeMap<String, String>,
) {
    let shared = SshShared::new(Arc::new(NoPrompt));
    let mut found = BTreeMap::new();
    let mut failed = BTreeMap::new();
    let transports = match crate::poller::transports(fleet, &shared) {
        Ok(t) => t,
        Err(e) => {
            for h in &fleet.hosts {
                failed.insert(h.name.clone(), e.clone());
            }
            return (found, failed);
        }
    };
    let request = ExecRequest {
        command: DETECT_SCRIPT.to_owned(),
        stdin: None,
        timeout: Duration::from_secs(30),
        max_output: 256 * 1024,
    };
    let runs = transports.iter().map(|t: &Transport| t.exec(&request));
    let results = futures::future::join_all(runs).await;
    for (host, result) in fleet.hosts.iter().zip(results) {
        match result {
            Ok(out) => {
                found.insert(
                    host.name.clone(),
                    parse_detect(&String::from_utf8_lossy(&out.stdout)),
                );
            }
            Err(e) => {
                failed.insert(host.name.clone(), e.to_string());
            }
        }
    }
    (found, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_output_keeps_known_units_and_every_container() {
        let out = "unit geth.service\nunit ssh.service\nunit ● nginx.service\n\
                   unit postgresql@16-main.service\nunit fisco-bcos-node0.service\n\
                   container pg\ncontainer pg\n";
        assert_eq!(
            parse_detect(out),
            [
                DetectedService::Systemd("geth.service".into()),
                DetectedService::Systemd("nginx.service".into()),
                DetectedService::Systemd("postgresql@16-main.service".into()),
                DetectedService::Systemd("fisco-bcos-node0.service".into()),
                DetectedService::Docker("pg".into()),
            ]
        );
    }

    #[test]
    fn ssh_config_hosts_with_include_and_proxyjump() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        std::fs::create_dir_all(home.join(".ssh/conf.d")).unwrap();
        std::fs::write(
            home.join(".ssh/config"),
            "Include conf.d/*\n\nHost bastion\n  HostName 10.0.0.1\n  Port 2200\n  User ops\n\
             \nHost *\n  IdentityFile %d/.ssh/id_all\n",
        )
        .unwrap();
        std::fs::write(
            home.join(".ssh/conf.d/web"),
            "Host web1 web2\n  HostName %h.internal\n  ProxyJump bastion\nHost db-*\n  User x\n\
             Host old\n  ProxyCommand ssh -W %h:%p -l ops gate\n\
             Host legacy\n  HostName 10.1.1.1\n  ProxyCommand nc -X 5 -x proxy:1080 %h %p\n",
        )
        .unwrap();
        let hosts = from_ssh_config(&home.join(".ssh/config"), Some(home)).unwrap();
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["web1", "web2", "old", "legacy", "bastion"]);
        // A ProxyCommand fleetdeck cannot turn into `jump` stays ssh_config's: the alias is
        // kept as the address so that it applies at run time.
        assert_eq!(hosts[3].address, None);
        assert!(hosts[3].jump.is_none());
        assert!(
            hosts[3]
                .note
                .as_deref()
                .unwrap_or("")
                .contains("ProxyCommand")
        );
        let hosts: Vec<FoundHost> = hosts.into_iter().filter(|h| h.name != "legacy").collect();
        assert_eq!(hosts[0].address.as_deref(), Some("web1.internal"));
        assert_eq!(hosts[0].jump.as_deref(), Some("bastion"));
        assert_eq!(hosts[2].jump.as_deref(), Some("ops@gate"));
        assert_eq!(hosts[3].port, Some(2200));
        assert_eq!(hosts[3].user.as_deref(), Some("ops"));
        assert_eq!(
            hosts[3].identity_files,
            [format!("{}/.ssh/id_all", home.display())]
        );
        assert!(hosts[3].jump.is_none());
    }
}

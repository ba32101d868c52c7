//! `fleetdeck config check`: validate the inventory and print what was understood. The
//! description itself is the inventory's (`inventory::load::describe`); this only prints it,
//! then what each SSH host's ssh_config says that fleetdeck does not honour, then each SSH
//! host's route (`inner-1 via bastion-1 → b2`). `--json` prints the same as one document
//! (docs/cli-json.md), also for an inventory that does not load.
//! Exit codes: 0 a valid inventory; 2 an invalid one, or an ssh_config that cannot be read
//! (OpenSSH would refuse it too, and so would `status`).

use std::fmt::Write as _;

use clap::Subcommand;
use serde::Serialize;

use super::out;
use crate::inventory::{self, Fleet, TransportKind};
use crate::transport::route::{self, Origin};
use crate::transport::ssh;

/// `fleetdeck config …`.
#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate the inventory and print what was understood.
    Check {
        /// One JSON document (docs/cli-json.md), also when the inventory is invalid.
        #[arg(long)]
        json: bool,
    },
}

impl ConfigCommand {
    /// Whether the command prints JSON (then a load error is printed as JSON too).
    pub fn json(&self) -> bool {
        match self {
            ConfigCommand::Check { json } => *json,
        }
    }
}

/// `config check --json` for an inventory that does not load: where and why, on stdout (the
/// caller exits 2).
pub fn print_load_error(error: &inventory::ConfigError) {
    let doc = serde_json::json!({ "valid": false, "error": error });
    writeln!(out::stdout(), "{doc:#}");
}

/// `config check --json`'s document for a valid inventory.
#[derive(Serialize)]
struct CheckDocument<'a> {
    valid: bool,
    fleet: &'a Fleet,
    ssh_config_unhonoured: Vec<Unhonoured>,
    routes: Vec<RouteLine>,
    /// Set when ~/.ssh/config cannot be read (the exit code is then 2).
    ssh_config_error: Option<String>,
}

/// Hosts that share one list of ssh_config options fleetdeck does not act on.
#[derive(Serialize)]
struct Unhonoured {
    hosts: Vec<String>,
    options: Vec<String>,
}

/// How one SSH host is reached.
#[derive(Serialize)]
struct RouteLine {
    host: String,
    /// `direct`, or the hops (`ProxyCommand …`, bastion names) in order.
    via: Vec<String>,
    /// Why no route could be built.
    error: Option<String>,
}

/// Runs a `fleetdeck config` command on a loaded inventory; returns the exit code.
pub fn run(fleet: &Fleet, command: ConfigCommand) -> u8 {
    match command {
        ConfigCommand::Check { json: true } => {
            let (unhonoured, error) = match ssh_config_unhonoured(fleet) {
                Ok(u) => (u, None),
                Err(e) => (Vec::new(), Some(e)),
            };
            let code = if error.is_some() { 2 } else { 0 };
            let doc = CheckDocument {
                valid: error.is_none(),
                fleet,
                ssh_config_unhonoured: unhonoured,
                routes: routes(fleet).unwrap_or_default(),
                ssh_config_error: error,
            };
            match serde_json::to_string_pretty(&doc) {
                Ok(text) => writeln!(out::stdout(), "{text}"),
                Err(e) => writeln!(out::stderr(), "fleetdeck: {e}"),
            }
            code
        }
        ConfigCommand::Check { json: false } => {
            out::stdout().write_str(&inventory::load::describe(fleet));
            match ssh_config_unhonoured(fleet) {
                Ok(groups) => {
                    out::stdout().write_str(&unhonoured_text(fleet, &groups));
                    out::stdout().write_str(&routes_text(fleet));
                    0
                }
                Err(e) => {
                    out::stderr().write_str(&format!("fleetdeck: ssh_config: {e}\n"));
                    2
                }
            }
        }
    }
}

/// Per SSH host, the ssh_config options OpenSSH would act on and fleetdeck does not (and the
/// ones the fleet's stricter host key policy overrides), hosts with the same list together.
fn ssh_config_unhonoured(fleet: &Fleet) -> Result<Vec<Unhonoured>, String> {
    if !fleet
        .hosts
        .iter()
        .any(|h| h.transport == TransportKind::Ssh)
    {
        return Ok(Vec::new());
    }
    let path = ssh::ssh_config_path(fleet);
    let config = ssh::read_ssh_config(&path)?;
    // Hosts with the same list are printed together: a `Host *` line would otherwise repeat
    // for every host of the fleet.
    let mut groups: Vec<Unhonoured> = Vec::new();
    for host in fleet
        .hosts
        .iter()
        .filter(|h| h.transport == TransportKind::Ssh)
    {
        let target = ssh::resolve_target(fleet, host, config.as_ref());
        if target.unhonoured.is_empty() {
            continue;
        }
        let options: Vec<String> = target.unhonoured.iter().map(ToString::to_string).collect();
        match groups.iter_mut().find(|g| g.options == options) {
            Some(g) => g.hosts.push(host.name.clone()),
            None => groups.push(Unhonoured {
                hosts: vec![host.name.clone()],
                options,
            }),
        }
    }
    Ok(groups)
}

/// The text of [`ssh_config_unhonoured`]; nothing when there is nothing to say.
fn unhonoured_text(fleet: &Fleet, groups: &[Unhonoured]) -> String {
    let mut text = String::new();
    if !groups.is_empty() {
        let _ = writeln!(
            text,
            "ssh_config options not honoured (OpenSSH would act on them; see docs/ssh-config.md):"
        );
    }
    let ssh_hosts = fleet
        .hosts
        .iter()
        .filter(|h| h.transport == TransportKind::Ssh)
        .count();
    for g in groups {
        if g.hosts.len() == ssh_hosts && ssh_hosts > 1 {
            let _ = writeln!(text, "  every SSH host ({ssh_hosts}):");
        } else {
            let _ = writeln!(text, "  {}:", g.hosts.join(", "));
        }
        for line in &g.options {
            let _ = writeln!(text, "    {line}");
        }
    }
    text
}

/// Each SSH host's route, from the inventory's `jump` and `~/.ssh/config`.
fn routes(fleet: &Fleet) -> Result<Vec<RouteLine>, String> {
    let config = ssh::read_ssh_config(&ssh::ssh_config_path(fleet))?;
    let resolved = route::resolve(fleet, config.as_ref());
    Ok(fleet
        .hosts
        .iter()
        .zip(resolved)
        .filter_map(|(host, r)| {
            let (via, error) = match r? {
                Err(e) => (Vec::new(), Some(e.to_string())),
                Ok((_, route)) => {
                    let mut legs: Vec<String> = match &route.origin {
                        Origin::Tcp => Vec::new(),
                        Origin::Command(c) => vec![format!("ProxyCommand `{c}`")],
                    };
                    legs.extend(route.via());
                    (legs, None)
                }
            };
            Some(RouteLine {
                host: host.name.clone(),
                via,
                error,
            })
        })
        .collect())
}

/// The `routes:` section (empty when the fleet has no SSH host).
fn routes_text(fleet: &Fleet) -> String {
    let mut out = String::new();
    let lines = match routes(fleet) {
        Ok(lines) => lines,
        Err(e) => {
            let _ = writeln!(out, "routes: cannot read the ssh config: {e}");
            return out;
        }
    };
    if lines.is_empty() {
        return out;
    }
    let _ = writeln!(out, "routes:");
    for r in lines {
        let line = match (&r.error, r.via.is_empty()) {
            (Some(e), _) => format!("no route: {e}"),
            (None, true) => "direct".to_owned(),
            (None, false) => format!("via {}", r.via.join(" → ")),
        };
        let _ = writeln!(out, "  {} {line}", r.host);
    }
    out
}

//! `fleetdeck config check`: validate the inventory and print what was understood. The
//! description itself is the inventory's (`inventory::load::describe`); this only prints it,
//! then what each SSH host's ssh_config says that fleetdeck does not honour, then each SSH
//! host's route (`inner-1 via bastion-1 → b2`).
//! Exit codes: 0 a valid inventory (an invalid one exits 2 before this runs, in `super::load_fleet`);
//! 2 an ssh_config that cannot be read (OpenSSH would refuse it too, and so would `status`).

use std::fmt::Write as _;

use clap::Subcommand;

use super::out;
use crate::inventory::{self, Fleet, TransportKind};
use crate::transport::route::{self, Origin};
use crate::transport::ssh;

/// `fleetdeck config …`.
#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate the inventory and print what was understood.
    Check,
}

/// Runs a `fleetdeck config` command on a loaded inventory; returns the exit code.
pub fn run(fleet: &Fleet, command: ConfigCommand) -> u8 {
    match command {
        ConfigCommand::Check => {
            out::stdout().write_str(&inventory::load::describe(fleet));
            match ssh_config_unhonoured(fleet) {
                Ok(text) => {
                    out::stdout().write_str(&text);
                    out::stdout().write_str(&routes(fleet));
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
/// ones the fleet's stricter host key policy overrides); nothing when there are none.
fn ssh_config_unhonoured(fleet: &Fleet) -> Result<String, String> {
    if !fleet
        .hosts
        .iter()
        .any(|h| h.transport == TransportKind::Ssh)
    {
        return Ok(String::new());
    }
    let path = ssh::ssh_config_path(fleet);
    let config = ssh::read_ssh_config(&path)?;
    // Hosts with the same list are printed together: a `Host *` line would otherwise repeat
    // for every host of the fleet.
    let mut groups: Vec<(Vec<String>, Vec<&str>)> = Vec::new();
    for host in fleet
        .hosts
        .iter()
        .filter(|h| h.transport == TransportKind::Ssh)
    {
        let target = ssh::resolve_target(fleet, host, config.as_ref());
        if target.unhonoured.is_empty() {
            continue;
        }
        let lines: Vec<String> = target.unhonoured.iter().map(ToString::to_string).collect();
        match groups.iter_mut().find(|(l, _)| *l == lines) {
            Some((_, names)) => names.push(&host.name),
            None => groups.push((lines, vec![&host.name])),
        }
    }
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
    for (lines, names) in groups {
        if names.len() == ssh_hosts && ssh_hosts > 1 {
            let _ = writeln!(text, "  every SSH host ({ssh_hosts}):");
        } else {
            let _ = writeln!(text, "  {}:", names.join(", "));
        }
        for line in lines {
            let _ = writeln!(text, "    {line}");
        }
    }
    Ok(text)
}

/// The `routes:` section: how each SSH host is reached, from the inventory's `jump` and
/// `~/.ssh/config` (empty when the fleet has no SSH host).
fn routes(fleet: &Fleet) -> String {
    let mut out = String::new();
    let resolved = match ssh::read_ssh_config(&ssh::ssh_config_path(fleet)) {
        Ok(cfg) => route::resolve(fleet, cfg.as_ref()),
        Err(e) => {
            let _ = writeln!(out, "routes: cannot read the ssh config: {e}");
            return out;
        }
    };
    if resolved.iter().all(Option::is_none) {
        return out;
    }
    let _ = writeln!(out, "routes:");
    for (host, r) in fleet.hosts.iter().zip(resolved) {
        let line = match r {
            None => continue,
            Some(Err(e)) => format!("no route: {e}"),
            Some(Ok((_, route))) => {
                let command = match &route.origin {
                    Origin::Tcp => None,
                    Origin::Command(c) => Some(format!("ProxyCommand `{c}`")),
                };
                let mut legs: Vec<String> = command.into_iter().collect();
                legs.extend(route.via());
                if legs.is_empty() {
                    "direct".to_owned()
                } else {
                    format!("via {}", legs.join(" → "))
                }
            }
        };
        let _ = writeln!(out, "  {} {line}", host.name);
    }
    out
}

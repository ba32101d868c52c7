//! The text `fleetdeck init` writes: a commented TOML inventory of the hosts found in
//! `~/.ssh/config` and Ansible inventories ([`FoundHost`]), each with where it was found, its
//! jump hosts written with the inventory's `jump` key, and the services `--detect` saw on it
//! proposed in comments (never enabled: the operator decides what is watched).
//!
//! Pure string building: no files, no network. Its output is loaded by the caller before it is
//! written, so a bug here can never leave an inventory `config check` refuses. Caller:
//! `crate::cli::init`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::import::FoundHost;

/// A service `--detect` found on a host, proposed commented out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectedService {
    /// A systemd unit (`geth.service`).
    Systemd(String),
    /// A docker container, by name.
    Docker(String),
}

/// What the header says and what the hosts get besides their own keys.
#[derive(Debug, Clone, Default)]
pub struct InitText {
    /// Where the hosts came from (`~/.ssh/config`, `site/inventory.ini`), for the header.
    pub sources: Vec<String>,
    /// Host name → services seen by `--detect`.
    pub detected: BTreeMap<String, Vec<DetectedService>>,
    /// Host name → why `--detect` could not look (unreachable, refused key, …).
    pub detect_failed: BTreeMap<String, String>,
}

/// A TOML string literal.
fn q(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A service name from a unit: `nginx.service` → `nginx`.
fn service_name(s: &str) -> String {
    s.trim_end_matches(".service").to_owned()
}

/// The inventory text for `hosts` (at least one; with none, this machine as a local host so
/// the file is still a valid inventory).
pub fn render(hosts: &[FoundHost], text: &InitText) -> String {
    let mut out = String::new();
    let from = if text.sources.is_empty() {
        "nothing (no source had hosts)".to_owned()
    } else {
        text.sources.join(", ")
    };
    let _ = writeln!(
        out,
        "# fleetdeck inventory written by `fleetdeck init` from {from}.\n\
         # Every key is described in assets/example-fleet.toml and docs/init.md; `fleetdeck config\n\
         # check` prints what fleetdeck understood. This file is yours to edit: `init` never\n\
         # overwrites it without --force.\n"
    );
    out.push_str(
        "[fleet]\n\
         # name = \"prod\"                    # default: this file's name\n\
         # interval = \"5s\"                  # probe interval\n\
         # host_key_policy = \"strict\"       # unknown host keys are refused: record them first\n\
         # known_hosts = [\"~/.ssh/known_hosts\"]\n\n\
         # [ssh]                               # defaults for every host below\n\
         # user = \"ops\"\n\
         # identity_files = [\"~/.ssh/id_ed25519\"]\n\
         # jump = \"bastion\"                 # every host through this jump host\n\n\
         # An Ansible inventory can also be followed live instead of copied (the hosts below\n\
         # win key by key over what it says):\n\
         # [[import]]\n\
         # kind = \"ansible\"\n\
         # path = \"inventory.ini\"\n\n\
         # The security posture of every host (docs/posture.md): effective sshd settings,\n\
         # listening ports against the expected ones, root's shell history. Remove to turn off.\n\
         [posture]\n\
         # expected_ports = [22, 80, 443]     # default: sshd's port(s), 80 and 443\n",
    );
    if hosts.is_empty() {
        out.push_str(
            "\n# No host was found: this machine, watched without SSH, so the file is valid.\n\
             [[hosts]]\nname = \"localhost\"\ntransport = \"local\"\n",
        );
        return out;
    }
    for h in hosts {
        let _ = writeln!(out, "\n# from {}", h.origin);
        if let Some(problem) = &h.unconverted {
            let _ = writeln!(out, "# NOTE: {problem}");
        }
        if let Some(note) = &h.note {
            let _ = writeln!(out, "# {note}");
        }
        for (_, problem) in &h.templated {
            let _ = writeln!(out, "# NOTE: {problem}");
        }
        let _ = writeln!(out, "[[hosts]]\nname = {}", q(&h.name));
        if let Some(a) = &h.address {
            let _ = writeln!(out, "address = {}", q(a));
        }
        if let Some(p) = h.port {
            let _ = writeln!(out, "port = {p}");
        }
        if let Some(u) = &h.user {
            let _ = writeln!(out, "user = {}", q(u));
        }
        if !h.identity_files.is_empty() {
            let list: Vec<String> = h.identity_files.iter().map(|f| q(f)).collect();
            let _ = writeln!(out, "identity_files = [{}]", list.join(", "));
        }
        if let Some(j) = &h.jump {
            let _ = writeln!(out, "jump = {}", q(j));
        }
        if h.local {
            out.push_str("transport = \"local\"\n");
        }
        if !h.groups.is_empty() {
            let list: Vec<String> = h.groups.iter().map(|g| q(g)).collect();
            let _ = writeln!(out, "groups = [{}]", list.join(", "));
        }
        if let Some(why) = text.detect_failed.get(&h.name) {
            let _ = writeln!(out, "# --detect could not look at this host: {why}");
        }
        if let Some(found) = text.detected.get(&h.name).filter(|f| !f.is_empty()) {
            out.push_str(
                "# services --detect found (uncomment the ones to watch):\n# services = [\n",
            );
            for s in found {
                let line = match s {
                    DetectedService::Systemd(unit) => format!(
                        "{{ name = {}, kind = \"systemd\", unit = {} }}",
                        q(&service_name(unit)),
                        q(unit)
                    ),
                    DetectedService::Docker(c) => format!(
                        "{{ name = {}, kind = \"docker\", container = {} }}",
                        q(c),
                        q(c)
                    ),
                };
                let _ = writeln!(out, "#   {line},");
            }
            out.push_str("# ]\n");
        }
    }
    out
}

/// Hosts from several sources as one list: the first source's keys win for a host named
/// twice, the later ones fill what it lacks and add groups.
pub fn merge_found(lists: Vec<Vec<FoundHost>>) -> Vec<FoundHost> {
    let mut out: Vec<FoundHost> = Vec::new();
    for list in lists {
        for h in list {
            match out.iter_mut().find(|o| o.name == h.name) {
                None => out.push(h),
                Some(o) => {
                    o.address = o.address.take().or(h.address);
                    o.port = o.port.or(h.port);
                    o.user = o.user.take().or(h.user);
                    if o.identity_files.is_empty() {
                        o.identity_files = h.identity_files;
                    }
                    if o.jump.is_none() {
                        o.jump = h.jump;
                        o.unconverted = o.unconverted.take().or(h.unconverted);
                    }
                    for g in h.groups {
                        if !o.groups.contains(&g) {
                            o.groups.push(g);
                        }
                    }
                    o.note = o.note.take().or(h.note);
                    o.templated.extend(h.templated);
                    o.origin = format!("{} and {}", o.origin, h.origin);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{ConfigSource, load_fleet_from_str};

    #[test]
    fn rendered_inventory_loads_with_jump_groups_and_detected_services() {
        let hosts = vec![
            FoundHost {
                name: "bastion".into(),
                address: Some("10.0.0.1".into()),
                port: Some(2222),
                user: Some("ops".into()),
                origin: "~/.ssh/config:1".into(),
                ..FoundHost::default()
            },
            FoundHost {
                name: "web \"1\"".into(),
                jump: Some("bastion".into()),
                groups: vec!["web".into(), "prod".into()],
                identity_files: vec!["~/.ssh/id_web".into()],
                origin: "inv.ini:3".into(),
                ..FoundHost::default()
            },
        ];
        let mut text = InitText::default();
        text.detected.insert(
            "bastion".into(),
            vec![
                DetectedService::Systemd("nginx.service".into()),
                DetectedService::Docker("pg".into()),
            ],
        );
        let toml = render(&hosts, &text);
        assert!(
            toml.contains(
                "#   { name = \"nginx\", kind = \"systemd\", unit = \"nginx.service\" },"
            )
        );
        let fleet = load_fleet_from_str(&toml, ConfigSource::Embedded).expect("valid");
        assert_eq!(fleet.hosts.len(), 2);
        assert_eq!(fleet.hosts[1].name, "web \"1\"");
        assert_eq!(fleet.hosts[1].groups, ["web", "prod"]);
        assert!(fleet.hosts[1].jump.is_some());
        assert_eq!(fleet.hosts[0].port, Some(2222));
        assert!(
            fleet.hosts[0].services.is_empty(),
            "proposals stay commented"
        );
    }

    #[test]
    fn no_hosts_still_renders_a_valid_inventory() {
        let toml = render(&[], &InitText::default());
        let fleet = load_fleet_from_str(&toml, ConfigSource::Embedded).expect("valid");
        assert_eq!(fleet.hosts.len(), 1);
    }

    #[test]
    fn merge_found_keeps_first_source_and_adds_groups() {
        let a = FoundHost {
            name: "h".into(),
            port: Some(1),
            origin: "a".into(),
            ..FoundHost::default()
        };
        let b = FoundHost {
            name: "h".into(),
            port: Some(2),
            user: Some("u".into()),
            groups: vec!["g".into()],
            origin: "b".into(),
            ..FoundHost::default()
        };
        let merged = merge_found(vec![vec![a], vec![b]]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].port, Some(1));
        assert_eq!(merged[0].user.as_deref(), Some("u"));
        assert_eq!(merged[0].groups, ["g"]);
    }
}

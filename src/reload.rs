//! Reloading the inventory without restarting: which files to watch, re-reading them, and the
//! plan that says which hosts of the running fleet carry over into the new one.
//!
//! [`plan`] is pure: it matches the hosts of the new fleet to the old one by name and by every
//! setting that decides how fleetdeck connects to them ([`connection_key`]: address, port, user,
//! jump hosts, `via`, keys and certificates, transport, and the fleet's `[ssh]` and host key
//! settings). A host that matches keeps its connection, its state and its history; one whose
//! connection settings changed starts afresh with a new connection; a removed host is dropped
//! (its poller stops, its alerts are forgotten) and a new one starts polling. The store
//! ([`crate::store::Msg::Reload`]) and the front ends act on the plan; nothing here touches
//! a connection or the terminal.
//!
//! A bad edit never replaces a running fleet: [`load`] returns the located error
//! (`FILE:LINE:COL: message`) and the caller keeps what it has.
//!
//! Callers: the console (`:reload`, SIGHUP, a changed file) and its tests.

use std::path::PathBuf;
use std::time::SystemTime;

use crate::inventory::load::{ConfigError, ConfigSource, load_fleet_file};
use crate::inventory::{Fleet, Jump};

/// The files the running fleet was read from: a change to any of them reloads it. One
/// function, so imported files (Ansible inventories) join the list in one place.
pub fn watched_files(fleet: &Fleet) -> Vec<PathBuf> {
    // The inventory file and everything its `[[import]]` tables read (Ansible files and
    // directories): an edit to any of them is an edit to the fleet.
    fleet.source_files()
}

/// Reads the inventory the running fleet came from again. The embedded default fleet has no
/// file: reloading it is an error that says so.
pub fn load(current: &Fleet) -> Result<Fleet, ConfigError> {
    match &current.source {
        ConfigSource::File(path) => load_fleet_file(path),
        ConfigSource::Embedded => Err(ConfigError::whole(
            ConfigSource::Embedded,
            "no inventory file to reload (the console shows this machine); start with --config",
        )),
    }
}

/// The modification time and length of each watched file, to notice an edit by polling.
/// Polling (every 2 s in the console) rather than inotify: editors replace files by rename,
/// which a watch on the old inode misses, and a stat of a handful of files costs nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stamps(Vec<(PathBuf, Option<(SystemTime, u64)>)>);

impl Stamps {
    /// The current stamps of `files` (a missing file has none).
    pub fn read(files: Vec<PathBuf>) -> Stamps {
        Stamps(
            files
                .into_iter()
                .map(|p| {
                    let stamp = std::fs::metadata(&p)
                        .ok()
                        .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
                    (p, stamp)
                })
                .collect(),
        )
    }

    /// The same files read again.
    pub fn reread(&self) -> Stamps {
        Stamps::read(self.0.iter().map(|(p, _)| p.clone()).collect())
    }
}

/// What a reload does to each host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReloadPlan {
    /// One entry per host of the new fleet: the index in the old fleet whose connection,
    /// state and history it keeps, or `None` for a host that starts afresh.
    pub keep: Vec<Option<usize>>,
    /// Hosts kept as they were (connection, state and history).
    pub kept: Vec<String>,
    /// Hosts new in the inventory.
    pub added: Vec<String>,
    /// Hosts whose connection settings changed: a new connection, fresh state.
    pub changed: Vec<String>,
    /// Hosts gone from the inventory.
    pub removed: Vec<String>,
}

impl ReloadPlan {
    /// For each old host, its index in the new fleet if it was kept.
    pub fn old_to_new(&self, old_len: usize) -> Vec<Option<usize>> {
        let mut map = vec![None; old_len];
        for (new, old) in self.keep.iter().enumerate() {
            if let Some(old) = old
                && let Some(slot) = map.get_mut(*old)
            {
                *slot = Some(new);
            }
        }
        map
    }

    /// One line for the status bar and the log: `N kept, N added, N changed, N removed`, with
    /// the names when there are few.
    pub fn summary(&self) -> String {
        let part = |n: &str, v: &[String]| -> String {
            if v.is_empty() || v.len() > 3 {
                format!("{} {n}", v.len())
            } else {
                format!("{} {n} ({})", v.len(), v.join(", "))
            }
        };
        format!(
            "{} kept, {}, {}, {}",
            self.kept.len(),
            part("added", &self.added),
            part("changed", &self.changed),
            part("removed", &self.removed)
        )
    }
}

/// Everything that decides how fleetdeck reaches `fleet.hosts[index]`, as one comparable
/// value: the host's own reach settings, those of every inventory host it jumps through
/// (outermost first), and the fleet's `[ssh]` and host key settings. Equal keys mean the
/// existing connection is still the right one.
pub fn connection_key(fleet: &Fleet, index: usize) -> String {
    let mut parts = vec![
        serde_json::to_string(&fleet.ssh).unwrap_or_default(),
        serde_json::to_string(&fleet.host_key_policy).unwrap_or_default(),
        serde_json::to_string(&fleet.known_hosts).unwrap_or_default(),
    ];
    // Jump hosts are inventory hosts or `user@host:port` text; a chain is at most a few hops
    // (resolve refuses loops), the bound only keeps a bad fleet from looping here.
    let mut next = Some(index);
    let mut hops = 0;
    while let Some(i) = next.take() {
        let Some(h) = fleet.hosts.get(i) else { break };
        parts.push(
            serde_json::to_string(&(
                &h.name,
                &h.address,
                h.port,
                &h.user,
                &h.identity_files,
                &h.certificate_files,
                &h.jump,
                &h.via,
                h.transport,
            ))
            .unwrap_or_default(),
        );
        hops += 1;
        if hops > 8 {
            break;
        }
        if let Some(Jump::Via(chain)) = &h.jump
            && let Some(last) = chain.last()
        {
            next = fleet.hosts.iter().position(|x| &x.name == last);
        }
    }
    parts.join("\n")
}

/// Matches the hosts of `new` to those of `old` by name and [`connection_key`].
pub fn plan(old: &Fleet, new: &Fleet) -> ReloadPlan {
    let mut out = ReloadPlan::default();
    for (i, host) in new.hosts.iter().enumerate() {
        let before = old.hosts.iter().position(|h| h.name == host.name);
        match before {
            Some(j) if connection_key(old, j) == connection_key(new, i) => {
                out.keep.push(Some(j));
                out.kept.push(host.name.clone());
            }
            Some(_) => {
                out.keep.push(None);
                out.changed.push(host.name.clone());
            }
            None => {
                out.keep.push(None);
                out.added.push(host.name.clone());
            }
        }
    }
    for h in &old.hosts {
        if !new.hosts.iter().any(|x| x.name == h.name) {
            out.removed.push(h.name.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::load::load_fleet_from_str;

    fn fleet(text: &str) -> Fleet {
        load_fleet_from_str(text, ConfigSource::File("/tmp/t/fleet.toml".into()))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    const BASE: &str = r#"
[[hosts]]
name = "a"
address = "10.0.0.1"

[[hosts]]
name = "b"
address = "10.0.0.2"

[[hosts]]
name = "c"
address = "10.0.0.3"
"#;

    #[test]
    fn an_unchanged_inventory_keeps_every_host() {
        let p = plan(&fleet(BASE), &fleet(BASE));
        assert_eq!(p.keep, vec![Some(0), Some(1), Some(2)]);
        assert_eq!(p.kept, ["a", "b", "c"]);
        assert!(p.added.is_empty() && p.changed.is_empty() && p.removed.is_empty());
    }

    #[test]
    fn added_removed_changed_and_reordered_hosts() {
        let new = fleet(
            r#"
[[hosts]]
name = "c"
address = "10.0.0.3"
groups = ["web"]   # not a connection setting: kept

[[hosts]]
name = "d"
address = "10.0.0.4"

[[hosts]]
name = "a"
address = "10.0.0.1"
port = 2222
"#,
        );
        let p = plan(&fleet(BASE), &new);
        assert_eq!(p.keep, vec![Some(2), None, None]);
        assert_eq!(p.kept, ["c"]);
        assert_eq!(p.added, ["d"]);
        assert_eq!(p.changed, ["a"]);
        assert_eq!(p.removed, ["b"]);
        assert_eq!(p.old_to_new(3), vec![None, None, Some(0)]);
        assert_eq!(
            p.summary(),
            "1 kept, 1 added (d), 1 changed (a), 1 removed (b)"
        );
    }

    #[test]
    fn user_jump_and_fleet_ssh_settings_are_connection_settings() {
        let old = fleet(BASE);
        let user = fleet(&BASE.replace(
            "address = \"10.0.0.2\"",
            "address = \"10.0.0.2\"\nuser = \"ops\"",
        ));
        assert_eq!(plan(&old, &user).changed, ["b"]);
        let jump = fleet(&BASE.replace(
            "address = \"10.0.0.2\"",
            "address = \"10.0.0.2\"\njump = \"a\"",
        ));
        assert_eq!(plan(&old, &jump).changed, ["b"]);
        // A host behind a jump host follows the jump host's changes.
        let moved = fleet(
            &BASE
                .replace(
                    "address = \"10.0.0.2\"",
                    "address = \"10.0.0.2\"\njump = \"a\"",
                )
                .replace("10.0.0.1", "10.0.9.1"),
        );
        assert_eq!(plan(&jump, &moved).changed, ["a", "b"]);
        let ssh = fleet(&format!("[ssh]\nuser = \"deploy\"\n{BASE}"));
        assert_eq!(plan(&old, &ssh).changed, ["a", "b", "c"]);
    }

    #[test]
    fn the_embedded_fleet_has_nothing_to_reload() {
        let f = crate::inventory::load::embedded_default();
        assert!(watched_files(&f).is_empty());
        let e = load(&f).unwrap_err().to_string();
        assert!(e.contains("no inventory file to reload"), "{e}");
    }

    #[test]
    fn a_broken_file_is_an_error_with_its_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.toml");
        std::fs::write(&path, BASE).unwrap();
        let running = load_fleet_file(&path).unwrap();
        let before = Stamps::read(watched_files(&running));
        std::fs::write(&path, format!("{BASE}\n[[hosts]]\nname = \n")).unwrap();
        assert_ne!(before.reread(), before);
        let e = load(&running).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}:15:8:", path.display())),
            "expected FILE:LINE:COL, got {e}"
        );
    }
}

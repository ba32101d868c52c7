//! Writing a host's proven SSH port back to the inventory file (`harden-ssh`): a minimal,
//! format-preserving edit with `toml_edit` — the one `port` value of the host's `[[hosts]]`
//! table changes, comments, order and spacing stay — or, where that cannot be done safely, the
//! exact edit for the operator to make by hand.
//!
//! Safe means: the inventory is one file, the host's table is in it under its own name, and the
//! port written there is still the one fleetdeck loaded (a file edited since is never
//! overwritten). A port that comes from `~/.ssh/config` is left to the operator: ssh outside
//! fleetdeck reads it too, and ssh_config is not ours to rewrite.
//!
//! Callers: [`super::Executor`] on [`crate::runbook::Effect::InventoryPort`].

use std::path::Path;

use crate::inventory::{ConfigSource, Fleet};

/// How a write-back ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PortEdit {
    /// The file was edited; the text says where (`port = 2222 in FILE`).
    Written(String),
    /// Not written: why, and the exact edit to make by hand.
    Manual {
        /// Why not.
        reason: String,
        /// The edit, in words an operator can follow.
        edit: String,
    },
}

/// Writes `port` as host `name`'s port. `current` is the port its pooled connection uses now
/// (the inventory's, else `~/.ssh/config`'s, else 22).
pub(crate) fn write_port(fleet: &Fleet, name: &str, current: u16, port: u16) -> PortEdit {
    let table_edit = format!("set `port = {port}` in the `[[hosts]]` table of `{name}`");
    let manual = |reason: String, edit: &str| PortEdit::Manual {
        reason,
        edit: edit.to_owned(),
    };
    let Some(host) = fleet.hosts.iter().find(|h| h.name == name) else {
        return manual(
            format!("{name} is not a host of the inventory"),
            &table_edit,
        );
    };
    if host.port.is_none() && current != 22 {
        return manual(
            format!("the port of {name} ({current}) comes from ~/.ssh/config"),
            &format!(
                "in ~/.ssh/config, under the `Host` entry that matches {}, change `Port {current}` \
                 to `Port {port}`",
                host.address
            ),
        );
    }
    let ConfigSource::File(path) = &fleet.source else {
        return manual(
            "the inventory is built in, not a file".to_owned(),
            &table_edit,
        );
    };
    match edit_file(path, name, host.port, port) {
        Ok(()) => PortEdit::Written(format!("port = {port} in {}", path.display())),
        Err(reason) => manual(reason, &format!("in {}: {table_edit}", path.display())),
    }
}

/// The edit itself: parse, change the one value, write atomically with the file's mode.
fn edit_file(path: &Path, name: &str, loaded: Option<u16>, port: u16) -> Result<(), String> {
    let where_ = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {where_}: {e}"))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| format!("{where_} does not parse any more: {e}"))?;
    let hosts = doc
        .get_mut("hosts")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
        .ok_or_else(|| format!("{where_} has no `[[hosts]]` tables"))?;
    let named = |t: &toml_edit::Table| t.get("name").and_then(|n| n.as_str()) == Some(name);
    if hosts.iter().filter(|t| named(t)).count() > 1 {
        return Err(format!(
            "{where_} has more than one `[[hosts]]` table named {name:?}"
        ));
    }
    let table = hosts
        .iter_mut()
        .find(|t| named(t))
        .ok_or_else(|| format!("{where_} has no `[[hosts]]` table named {name:?}"))?;
    let written = match table.get("port") {
        None => None,
        Some(item) => match item.as_integer() {
            Some(n) => Some(n),
            None => return Err(format!("the `port` of {name} in {where_} is not a number")),
        },
    };
    if written != loaded.map(i64::from) {
        return Err(format!(
            "{where_} changed since fleetdeck loaded it (the port of {name} is now {}): not \
             overwritten",
            written.map_or("unset".to_owned(), |n| n.to_string())
        ));
    }
    match table
        .get_mut("port")
        .and_then(toml_edit::Item::as_value_mut)
    {
        Some(value) => {
            // Keep the spacing and any trailing comment of the old value.
            let decor = value.decor().clone();
            *value = toml_edit::Value::from(i64::from(port));
            *value.decor_mut() = decor;
        }
        None => {
            table.insert("port", toml_edit::value(i64::from(port)));
        }
    }
    write_keeping_mode(path, doc.to_string().as_bytes())
        .map_err(|e| format!("cannot write {where_}: {e}"))
}

/// Temp file beside `path`, same permissions, fsync, rename: a crash leaves the old file or
/// the new one, never half of each.
fn write_keeping_mode(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let permissions = std::fs::metadata(path)?.permissions();
    let tmp = path.with_extension("fleetdeck-edit.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.set_permissions(permissions)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::load_fleet;

    const INVENTORY: &str = "# the fleet\n[fleet]\nname = \"t\"\n\n[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\nport = 2200   # moved in 2025\n\n[[hosts]]\nname = \"b\" # no port\naddress = \"10.0.0.2\"\n";

    fn fleet_in(dir: &Path, text: &str) -> (std::path::PathBuf, Fleet) {
        let path = dir.join("fleet.toml");
        std::fs::write(&path, text).unwrap();
        let fleet = load_fleet(Some(&path)).unwrap();
        (path, fleet)
    }

    #[test]
    fn the_port_is_changed_in_place_and_nothing_else_moves() {
        let dir = tempfile::tempdir().unwrap();
        let (path, fleet) = fleet_in(dir.path(), INVENTORY);
        let edit = write_port(&fleet, "a", 2200, 2222);
        assert_eq!(
            edit,
            PortEdit::Written(format!("port = 2222 in {}", path.display()))
        );
        let after = std::fs::read_to_string(&path).unwrap();
        assert_eq!(after, INVENTORY.replace("port = 2200 ", "port = 2222 "));
        // A host without a port gets one, right in its table.
        let fleet = load_fleet(Some(&path)).unwrap();
        assert!(matches!(
            write_port(&fleet, "b", 22, 2022),
            PortEdit::Written(_)
        ));
        let fleet = load_fleet(Some(&path)).unwrap();
        let b = fleet.hosts.iter().find(|h| h.name == "b").unwrap();
        assert_eq!(b.port, Some(2022));
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .starts_with("# the fleet\n")
        );
    }

    #[test]
    fn an_edited_file_or_a_port_from_ssh_config_is_left_alone_with_the_edit_to_make() {
        let dir = tempfile::tempdir().unwrap();
        let (path, fleet) = fleet_in(dir.path(), INVENTORY);
        std::fs::write(&path, INVENTORY.replace("2200", "2300")).unwrap();
        let PortEdit::Manual { reason, edit } = write_port(&fleet, "a", 2200, 2222) else {
            panic!("an edited file was overwritten");
        };
        assert!(
            reason.contains("changed since fleetdeck loaded it"),
            "{reason}"
        );
        assert!(edit.contains("`port = 2222`"), "{edit}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            INVENTORY.replace("2200", "2300")
        );
        let PortEdit::Manual { reason, edit } = write_port(&fleet, "b", 2201, 2222) else {
            panic!("a port from ssh_config was written to the inventory");
        };
        assert!(reason.contains("~/.ssh/config"), "{reason}");
        assert!(edit.contains("`Port 2201` to `Port 2222`"), "{edit}");
    }
}

//! How inventory messages name a place in the file: `[fleet]`, `host "db-1"`, `service
//! "geth" of [profiles.geth-node]`, `the chain of host "a"`, … The labels are shared by the
//! serde rewording of [`crate::diag`] (through [`InventoryPlaces`]) and the resolver's own
//! semantic errors, so both name a table the same way.
//!
//! Pure string building; callers: [`super::load`] and [`super::resolve`].

use toml::de::DeTable;

use crate::diag::{Places, Seg, dotted, string_at, toml_key};

const TOP_LEVEL: &str = "the top level";

/// The inventory's way of naming tables in serde and toml errors.
pub(super) struct InventoryPlaces;

impl Places for InventoryPlaces {
    fn within(&self, doc: &DeTable<'_>, path: &[Seg]) -> String {
        within(&place_of(doc, path))
    }

    fn type_hint(&self, path: &[Seg], rest: &str) -> &'static str {
        // `[hosts]` for `[[hosts]]` is the likeliest slip in the whole file.
        if path == [Seg::Key("hosts".into())] && rest.starts_with("table,") {
            " (write each host as [[hosts]], with double brackets)"
        } else {
            ""
        }
    }
}

fn is_owner(path: &[Seg]) -> bool {
    matches!(path, [Seg::Key(k), Seg::Index(_)] if k == "hosts")
        || matches!(path, [Seg::Key(k), Seg::Key(_)] if k == "profiles")
}

/// How messages name the table at `path`: `[fleet]`, `host "db-1"`, `service "geth" of
/// [profiles.geth-node]`, … The same labels are built by the resolver for semantic errors.
pub(super) fn place_of(doc: &DeTable<'_>, path: &[Seg]) -> String {
    match path {
        [] => TOP_LEVEL.to_owned(),
        [Seg::Key(k), Seg::Index(i)] if k == "hosts" => {
            host_label(*i, string_at(doc, path, "name").as_deref())
        }
        [Seg::Key(k), Seg::Key(name)] if k == "profiles" => profile_label(name),
        [Seg::Key(k), Seg::Index(i)] if k == "import" => format!("[[import]] #{}", i + 1),
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

pub(super) fn host_label(index: usize, name: Option<&str>) -> String {
    match name {
        Some(name) if !name.trim().is_empty() => format!("host {name:?}"),
        _ => format!("[[hosts]] #{}", index + 1),
    }
}

pub(super) fn profile_label(name: &str) -> String {
    format!("[profiles.{}]", toml_key(name))
}

pub(super) fn item_label(what: &str, name: Option<&str>, index: usize, owner: &str) -> String {
    match name {
        Some(name) if !name.trim().is_empty() => format!("{what} {name:?} of {owner}"),
        _ => format!("{what} #{} of {owner}", index + 1),
    }
}

pub(super) fn chain_label(owner: &str) -> String {
    format!("the chain of {owner}")
}

pub(super) fn thresholds_label(owner: &str) -> String {
    format!("the thresholds of {owner}")
}

pub(super) fn posture_label(owner: &str) -> String {
    format!("the posture of {owner}")
}

/// `in [fleet]`, or `at the top level`.
pub(super) fn within(place: &str) -> String {
    if place == TOP_LEVEL {
        format!("at {place}")
    } else {
        format!("in {place}")
    }
}

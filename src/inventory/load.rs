//! Loading the inventory: TOML text in, a [`Fleet`] or one precise [`ConfigError`] out, and
//! the embedded default fleet used when no inventory exists.
//!
//! The jobs live beside it: `inventory::lookup` finds the file, [`crate::diag`] locates and
//! words TOML and serde errors (`PATH:LINE:COL: what was expected`), `inventory::places` names
//! the inventory's tables, `inventory::resolve` turns the file into a validated [`Fleet`], and
//! [`super::describe`] writes the `config check` summary.
//!
//! It must never panic on any input and never touch the network; it reads the local machine only
//! in [`embedded_default`] (hostname and mounts).
//!
//! Callers: the CLI at start-up ([`load_fleet`]) and `fleetdeck config check` ([`describe`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::file::InventoryFile;
use super::places::InventoryPlaces;
use super::resolve::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_INTERVAL, DEFAULT_KNOWN_HOSTS,
    DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_SSH_CONFIG, EMBEDDED_MAX_DISKS, Resolver,
};
use super::{Disk, Fleet, Host, HostKeyPolicy, NodeRole, SshDefaults, Thresholds, TransportKind};
use crate::diag::{Located, Source};

pub use super::describe::describe;
use super::lookup::expand_home;
pub use super::lookup::find_config;

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

/// One problem with the inventory: `PATH:LINE:COL: MESSAGE` (or `PATH: MESSAGE`), the shape of
/// every file fleetdeck reads.
pub type ConfigError = Located;

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
            return Err(ConfigError::at(
                path.display(),
                &prefix,
                valid,
                "the inventory is not valid UTF-8 text",
            ));
        }
    };
    load_fleet_from_str(&text, ConfigSource::File(path.to_path_buf()))
}

/// Parses and validates inventory text. `source` names the file in errors and anchors relative
/// local paths (known_hosts, identity files, the SSH config) to the file's directory.
pub fn load_fleet_from_str(text: &str, source: ConfigSource) -> Result<Fleet, ConfigError> {
    let path = source.to_string();
    let src = Source::new(&path, text);
    let mut file: InventoryFile = src.deserialize(&InventoryPlaces)?;
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
    let home = dirs::home_dir();
    let imported_files =
        super::import::merge(&mut file, &src, base_dir.as_deref(), home.as_deref())?;
    let resolver = Resolver {
        src,
        base_dir,
        home,
    };
    let mut fleet = resolver.fleet(file, source, stem)?;
    fleet.imported_files = imported_files;
    Ok(fleet)
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
            certificate_files: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            config_file: Some(expand_home(Path::new(DEFAULT_SSH_CONFIG), home.as_deref())),
            resident_shell: true,
        },
        thresholds: Thresholds::default(),
        operators: BTreeMap::new(),
        readonly: false,
        record_sessions: false,
        ui: super::UiSettings::default(),
        exec: super::ExecSettings::default(),
        alerts_out: super::AlertsOut::default(),
        prometheus: None,
        imported_files: Vec::new(),
        hosts: vec![Host {
            name: host_name,
            address: "localhost".to_owned(),
            port: None,
            user: None,
            identity_files: Vec::new(),
            certificate_files: Vec::new(),
            jump: None,
            via: Vec::new(),
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
            posture: Default::default(),
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

#[cfg(test)]
mod tests;

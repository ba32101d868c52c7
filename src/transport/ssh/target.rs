//! Where and as whom a host is reached: the inventory merged with `~/.ssh/config`.
//!
//! Pure data and parsing; no network. [`resolve_target`] is the one place the precedence
//! (inventory, then ssh_config, then the fleet's `[ssh]` defaults) is written down.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::inventory::{Fleet, Host, HostKeyPolicy};

/// Everything needed to reach one host, resolved from the inventory and `~/.ssh/config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// Inventory host name (for messages).
    pub name: String,
    /// Network address to dial (after `~/.ssh/config` HostName).
    pub address: String,
    /// TCP port.
    pub port: u16,
    /// Remote user.
    pub user: String,
    /// Private keys to try after the agent, in order.
    pub identity_files: Vec<PathBuf>,
    /// known_hosts files to check, first one receives `accept-new` keys.
    pub known_hosts: Vec<PathBuf>,
    /// Unknown-key policy.
    pub policy: HostKeyPolicy,
    /// Bound on connect + handshake + auth.
    pub connect_timeout: Duration,
}

/// Builds the [`SshTarget`] of `host`, honouring `~/.ssh/config` (HostName, Port, User,
/// IdentityFile) for aliases. Inventory values win over the ssh config, which wins over the
/// fleet's `[ssh]` defaults.
pub fn resolve_target(
    fleet: &Fleet,
    host: &Host,
    ssh_config: Option<&ssh2_config::SshConfig>,
) -> SshTarget {
    let params = ssh_config.map(|c| c.query(&host.address));
    let address = params
        .as_ref()
        .and_then(|p| p.host_name.clone())
        .unwrap_or_else(|| host.address.clone());
    let port = host
        .port
        .or_else(|| params.as_ref().and_then(|p| p.port))
        .unwrap_or(22);
    let user = host
        .user
        .clone()
        .or_else(|| params.as_ref().and_then(|p| p.user.clone()))
        .or_else(|| fleet.ssh.user.clone())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".to_string());
    let mut identity_files = host.identity_files.clone();
    if let Some(files) = params.as_ref().and_then(|p| p.identity_file.clone()) {
        identity_files.extend(files);
    }
    identity_files.extend(fleet.ssh.identity_files.iter().cloned());
    if identity_files.is_empty()
        && let Some(home) = dirs::home_dir()
    {
        // OpenSSH's own defaults, in its order.
        for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            identity_files.push(home.join(".ssh").join(name));
        }
    }
    dedup_in_order(&mut identity_files);
    SshTarget {
        name: host.name.clone(),
        address,
        port,
        user,
        identity_files,
        known_hosts: fleet.known_hosts.clone(),
        policy: fleet.host_key_policy,
        connect_timeout: fleet.ssh.connect_timeout,
    }
}

/// Reads the OpenSSH client config (`Include` supported); a missing file is no config.
pub fn read_ssh_config(path: &Path) -> Result<Option<ssh2_config::SshConfig>, String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut reader = std::io::BufReader::new(file);
    ssh2_config::SshConfig::default()
        .parse(&mut reader, ssh2_config::ParseRule::ALLOW_UNKNOWN_FIELDS)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn dedup_in_order(paths: &mut Vec<PathBuf>) {
    let mut seen = std::collections::HashSet::new();
    paths.retain(|p| seen.insert(p.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_config_aliases_resolve_hostname_port_user_and_identity() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::write(
            &cfg,
            "Host db-alias\n  HostName 127.0.0.9\n  Port 2201\n  User dba\n  IdentityFile /keys/db\n\nHost *\n  User fallback\n",
        )
        .unwrap();
        let ssh_config = read_ssh_config(&cfg).unwrap().unwrap();
        let fleet = crate::inventory::load_fleet_from_str(
            "[fleet]\nname = \"t\"\n[[hosts]]\nname = \"db\"\naddress = \"db-alias\"\n[[hosts]]\nname = \"web\"\naddress = \"10.0.0.1\"\nport = 2022\nuser = \"me\"\n",
            crate::inventory::ConfigSource::Embedded,
        )
        .unwrap();
        let db = resolve_target(&fleet, &fleet.hosts[0], Some(&ssh_config));
        assert_eq!(
            (db.address.as_str(), db.port, db.user.as_str()),
            ("127.0.0.9", 2201, "dba")
        );
        assert_eq!(db.identity_files[0], PathBuf::from("/keys/db"));
        let web = resolve_target(&fleet, &fleet.hosts[1], Some(&ssh_config));
        assert_eq!(
            (web.address.as_str(), web.port, web.user.as_str()),
            ("10.0.0.1", 2022, "me")
        );
    }

    #[test]
    fn a_missing_ssh_config_is_no_config() {
        assert!(
            read_ssh_config(Path::new("/nonexistent/ssh_config"))
                .unwrap()
                .is_none()
        );
    }
}

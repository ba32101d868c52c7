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
    /// How the byte stream to the host is made, as configured (hops not yet resolved).
    pub proxy: Proxy,
}

/// How the stream to a host is made, as written in the inventory or `~/.ssh/config`.
///
/// Hops are kept as written (`[user@]host[:port]` or an inventory/ssh_config name): turning them
/// into connections, sharing one connection per bastion, is the transport's job, not parsing's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Proxy {
    /// A TCP connection from this machine.
    #[default]
    Direct,
    /// Through jump hosts, outermost (the one this machine dials) first, like `ProxyJump a,b`.
    Jump(Vec<String>),
    /// The stdin/stdout of a command carry the SSH stream (`ProxyCommand`), tokens not yet expanded.
    Command(String),
}

impl Proxy {
    /// Reads `ProxyJump` / `ProxyCommand` from ssh_config parameters; `ProxyJump none` and
    /// `ProxyCommand none` mean a direct connection, as in OpenSSH.
    fn from_ssh_config(params: &ssh2_config::HostParams) -> Proxy {
        if let Some(hops) = &params.proxy_jump {
            let hops: Vec<String> = hops
                .iter()
                .flat_map(|h| h.split(','))
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .collect();
            return if hops.is_empty() || hops.iter().any(|h| h.eq_ignore_ascii_case("none")) {
                Proxy::Direct
            } else {
                Proxy::Jump(hops)
            };
        }
        let command = params
            .unsupported_fields
            .iter()
            .chain(params.ignored_fields.iter())
            .find(|(k, _)| k.eq_ignore_ascii_case("proxycommand"))
            .map(|(_, v)| v.join(" "));
        match command {
            Some(c) if !c.trim().is_empty() && !c.trim().eq_ignore_ascii_case("none") => {
                Proxy::Command(c)
            }
            _ => Proxy::Direct,
        }
    }
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
        proxy: params
            .as_ref()
            .map(Proxy::from_ssh_config)
            .unwrap_or_default(),
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
        .parse(
            &mut reader,
            ssh2_config::ParseRule::ALLOW_UNKNOWN_FIELDS
                | ssh2_config::ParseRule::ALLOW_UNSUPPORTED_FIELDS,
        )
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
    fn proxy_jump_and_proxy_command_are_read_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::write(
            &cfg,
            "Host inner\n  ProxyJump ops@bastion:2222,b2\nHost cmd\n  ProxyCommand ssh -W %h:%p bastion\nHost off\n  ProxyJump none\n",
        )
        .unwrap();
        let ssh_config = read_ssh_config(&cfg).unwrap().unwrap();
        let fleet = crate::inventory::load_fleet_from_str(
            "[fleet]\nname = \"t\"\n[[hosts]]\nname = \"a\"\naddress = \"inner\"\n[[hosts]]\nname = \"b\"\naddress = \"cmd\"\n[[hosts]]\nname = \"c\"\naddress = \"off\"\n[[hosts]]\nname = \"d\"\naddress = \"plain\"\n",
            crate::inventory::ConfigSource::Embedded,
        )
        .unwrap();
        let proxies: Vec<Proxy> = fleet
            .hosts
            .iter()
            .map(|h| resolve_target(&fleet, h, Some(&ssh_config)).proxy)
            .collect();
        assert_eq!(
            proxies,
            vec![
                Proxy::Jump(vec!["ops@bastion:2222".into(), "b2".into()]),
                Proxy::Command("ssh -W %h:%p bastion".into()),
                Proxy::Direct,
                Proxy::Direct,
            ]
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

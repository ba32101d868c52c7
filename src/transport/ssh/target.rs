//! Where and as whom a host is reached: the inventory merged with `~/.ssh/config`.
//!
//! Pure data and parsing; no network. [`resolve_target`] is the one place the precedence
//! (inventory, then ssh_config, then the fleet's `[ssh]` defaults) is written down, and where
//! the fleet's host key policy is kept whenever it is stricter than ssh_config's.
//! docs/ssh-config.md says what each ssh_config keyword does here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::keywords::{self, Unhonoured};
use super::ssh_config::{HostParams, Query, Setting, SshConfig};
use crate::inventory::{Fleet, Host, HostKeyPolicy};

/// SSH keepalive interval when ssh_config sets no `ServerAliveInterval`: a quiet console is
/// normal, a dead peer is found within interval × (count + 1).
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
/// Unanswered keepalives before the connection is dropped, without `ServerAliveCountMax`
/// (OpenSSH's default too).
pub const DEFAULT_KEEPALIVE_MAX: usize = 3;

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
    /// Private keys to offer, in order (see `offer` for how they interleave with the agent's).
    pub identity_files: Vec<PathBuf>,
    /// `IdentitiesOnly yes`: of the agent's keys, only those of `identity_files` are offered.
    pub identities_only: bool,
    /// The ssh-agent socket (`IdentityAgent`, else `$SSH_AUTH_SOCK`); `None`: no agent.
    pub identity_agent: Option<PathBuf>,
    /// User certificates (ssh_config `CertificateFile`), offered with the private key they
    /// certify, besides the `-cert.pub` found next to each identity file.
    pub certificate_files: Vec<PathBuf>,
    /// known_hosts files to check: the fleet's first (the first one receives `accept-new` keys),
    /// then ssh_config's `UserKnownHostsFile` and `GlobalKnownHostsFile`.
    pub known_hosts: Vec<PathBuf>,
    /// Unknown-key policy: the fleet's, or ssh_config's when that is stricter.
    pub policy: HostKeyPolicy,
    /// Bound on connect + handshake + auth (`ConnectTimeout`, else the fleet's).
    pub connect_timeout: Duration,
    /// Probe scripts on one long-lived shell (`[ssh] resident_shell`), else an exec per poll.
    pub resident_shell: bool,
    /// SSH keepalive interval (`ServerAliveInterval`); `None` when set to 0 (off).
    pub keepalive_interval: Option<Duration>,
    /// Unanswered keepalives before the connection is dropped (`ServerAliveCountMax`).
    pub keepalive_max: usize,
    /// How the byte stream to the host is made, as configured (hops not yet resolved).
    pub proxy: Proxy,
    /// ssh_config options that OpenSSH would act on for this host and fleetdeck does not (or
    /// that the fleet's stricter policy overrides): shown by `config check`, logged once.
    pub unhonoured: Vec<Unhonoured>,
    /// Set on a `reconnect` probe's new connection to a port the host's sshd is moving to
    /// ([`super::SshHost::fresh`]): the port it is known at. A key not recorded for the new
    /// `[address]:port` is accepted, and recorded for it, when it is exactly the key recorded
    /// for the old one — the same sshd, whose key the open connection already verified.
    pub moved_from: Option<u16>,
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
    /// `ProxyCommand none` mean a direct connection, as in OpenSSH, and of the two the one
    /// obtained first wins (as in OpenSSH).
    fn from_ssh_config(params: &HostParams) -> Proxy {
        if let Some(jump) = params.get("proxyjump")
            && params.before("proxyjump", "proxycommand")
        {
            let hops: Vec<String> = jump
                .args
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
        match params.get("proxycommand").map(|s| s.raw.trim()) {
            Some(c) if !c.is_empty() && !c.eq_ignore_ascii_case("none") => {
                Proxy::Command(c.to_string())
            }
            _ => Proxy::Direct,
        }
    }
}

/// Builds the [`SshTarget`] of `host`, honouring `~/.ssh/config` for its `address` (see
/// docs/ssh-config.md). Inventory values win over the ssh config, which wins over the fleet's
/// `[ssh]` defaults; the fleet's host key policy and known_hosts files are never weakened.
pub fn resolve_target(fleet: &Fleet, host: &Host, ssh_config: Option<&SshConfig>) -> SshTarget {
    let local_user = local_user();
    let params = ssh_config
        .map(|c| {
            c.query(&Query {
                host: &host.address,
                user: host.user.as_deref(),
                local_user: &local_user,
            })
        })
        .unwrap_or_default();
    let mut unhonoured = keywords::unhonoured(&params);

    let original = host.address.to_ascii_lowercase();
    let address = params
        .arg("hostname")
        .map(|h| super::ssh_config::expand_percent_h(h, &original))
        .unwrap_or_else(|| host.address.clone());
    let config_port = params
        .get("port")
        .and_then(|s| match s.args[0].parse::<u16>() {
            Ok(p) if p > 0 => Some(p),
            _ => {
                invalid(&mut unhonoured, s, "a port number 1-65535");
                None
            }
        });
    let port = host.port.or(config_port).unwrap_or(22);
    let user = host
        .user
        .clone()
        .or_else(|| params.arg("user").map(str::to_string))
        .or_else(|| fleet.ssh.user.clone())
        .unwrap_or_else(|| local_user.clone());
    let home = dirs::home_dir();
    let tokens = Tokens {
        home: home.as_deref(),
        local_user: &local_user,
        host: &address,
        original: &original,
        user: &user,
        port,
    };

    let mut identity_files = host.identity_files.clone();
    for s in params.all("identityfile") {
        identity_files.push(tokens.path(&s.args[0]));
    }
    identity_files.extend(fleet.ssh.identity_files.iter().cloned());
    if identity_files.is_empty()
        && let Some(home) = &home
    {
        // OpenSSH's own defaults, in its order.
        for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            identity_files.push(home.join(".ssh").join(name));
        }
    }
    dedup_in_order(&mut identity_files);
    let identities_only = match params.get("identitiesonly") {
        Some(s) => yes_no(s).unwrap_or_else(|| {
            invalid(&mut unhonoured, s, "yes or no");
            false
        }),
        None => false,
    };

    // In the order identity files are tried: the host's own, ssh_config's, the fleet's.
    let mut certificate_files = host.certificate_files.clone();
    for s in params.all("certificatefile") {
        certificate_files.push(tokens.path(&s.args[0]));
    }
    certificate_files.extend(fleet.ssh.certificate_files.iter().cloned());
    dedup_in_order(&mut certificate_files);

    let identity_agent = match params.get("identityagent") {
        None => env_path("SSH_AUTH_SOCK"),
        Some(s) => {
            let value = &s.args[0];
            if value.eq_ignore_ascii_case("none") {
                None
            } else if value == "SSH_AUTH_SOCK" {
                env_path("SSH_AUTH_SOCK")
            } else if let Some(var) = value.strip_prefix('$') {
                env_path(var)
            } else {
                Some(tokens.path(value))
            }
        }
    };

    // The fleet's files always count (so a key they record is always checked, and a changed
    // key is always caught); ssh_config's are added for verification. `/dev/null` and `none`
    // add nothing, so they can never hide the fleet's files.
    let mut known_hosts = fleet.known_hosts.clone();
    for keyword in ["userknownhostsfile", "globalknownhostsfile"] {
        let Some(s) = params.get(keyword) else {
            continue;
        };
        for arg in &s.args {
            if arg == "/dev/null" || arg.eq_ignore_ascii_case("none") {
                unhonoured.push(Unhonoured {
                    keyword: s.keyword.clone(),
                    value: arg.clone(),
                    at: s.at.to_string(),
                    why: "the fleet's known_hosts files are still checked (the fleet's policy is never weakened)".into(),
                });
                continue;
            }
            known_hosts.push(tokens.path(arg));
        }
    }
    dedup_in_order(&mut known_hosts);

    let mut policy = fleet.host_key_policy;
    if let Some(s) = params.get("stricthostkeychecking") {
        match s.args[0].to_ascii_lowercase().as_str() {
            // `ask` cannot ask anyone here: like ssh in batch mode, it refuses unknown keys.
            "yes" | "true" | "ask" => policy = HostKeyPolicy::Strict,
            "accept-new" if fleet.host_key_policy == HostKeyPolicy::AcceptNew => {}
            "accept-new" | "no" | "off" | "false" => unhonoured.push(Unhonoured {
                keyword: s.keyword.clone(),
                value: s.value(),
                at: s.at.to_string(),
                why: format!(
                    "the fleet's host key policy ({}) is stricter and wins",
                    policy_name(fleet.host_key_policy)
                ),
            }),
            _ => invalid(&mut unhonoured, s, "yes, ask, accept-new, no or off"),
        }
    }

    let connect_timeout = params
        .get("connecttimeout")
        .and_then(|s| match convtime(&s.args[0]) {
            Some(d) if !d.is_zero() => Some(d),
            _ => {
                invalid(&mut unhonoured, s, "a time such as 10 or 1m30s");
                None
            }
        })
        .unwrap_or(fleet.ssh.connect_timeout);
    let keepalive_interval = match params.get("serveraliveinterval") {
        None => Some(DEFAULT_KEEPALIVE_INTERVAL),
        Some(s) => match convtime(&s.args[0]) {
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d),
            None => {
                invalid(&mut unhonoured, s, "a time such as 15 or 1m");
                Some(DEFAULT_KEEPALIVE_INTERVAL)
            }
        },
    };
    let keepalive_max = match params.get("serveralivecountmax") {
        None => DEFAULT_KEEPALIVE_MAX,
        // russh reads 0 as "never give up"; OpenSSH's 0 gives up at the first silence: 1 is
        // the nearest that still gives up.
        Some(s) => match s.args[0].parse::<usize>() {
            Ok(n) => n.max(1),
            Err(_) => {
                invalid(&mut unhonoured, s, "a count such as 3");
                DEFAULT_KEEPALIVE_MAX
            }
        },
    };

    SshTarget {
        name: host.name.clone(),
        address,
        port,
        user,
        identity_files,
        identities_only,
        identity_agent,
        certificate_files,
        known_hosts,
        policy,
        connect_timeout,
        resident_shell: fleet.ssh.resident_shell,
        keepalive_interval,
        keepalive_max,
        proxy: Proxy::from_ssh_config(&params),
        unhonoured,
        moved_from: None,
    }
}

/// Says once, in the log, which ssh_config options of this host fleetdeck does not honour
/// (called when the host's transport is made, once per process).
pub(super) fn log_unhonoured(t: &SshTarget) {
    if t.unhonoured.is_empty() {
        return;
    }
    let list: Vec<String> = t.unhonoured.iter().map(ToString::to_string).collect();
    tracing::warn!(host = %t.name, options = %list.join("; "), "ssh_config options not honoured");
}

/// The system-wide client config, read after `~/.ssh/config` as `ssh` does.
pub const SYSTEM_SSH_CONFIG: &str = "/etc/ssh/ssh_config";

/// Reads the OpenSSH client config at `path` (`Include`, `Host`, `Match`); a missing file is
/// no config. When `path` is `~/.ssh/config` (the default), `/etc/ssh/ssh_config` is read
/// after it, as `ssh HOST` does; another file is read alone, like `ssh -F FILE`. The error
/// names the file and line.
pub fn read_ssh_config(path: &Path) -> Result<Option<SshConfig>, String> {
    let home = dirs::home_dir();
    let user = SshConfig::read(path, home.as_deref()).map_err(|e| e.to_string())?;
    let is_default = home
        .as_ref()
        .is_some_and(|h| path == h.join(".ssh").join("config"));
    if !is_default {
        return Ok(user);
    }
    let mut config = user.unwrap_or_default();
    config
        .append_system(Path::new(SYSTEM_SSH_CONFIG), home.as_deref())
        .map_err(|e| e.to_string())?;
    Ok(Some(config))
}

/// The ssh_config file a fleet reads: `[ssh] config_file`, else `~/.ssh/config`.
pub fn ssh_config_path(fleet: &Fleet) -> PathBuf {
    fleet
        .ssh
        .config_file
        .clone()
        .or_else(|| dirs::home_dir().map(|h| h.join(".ssh").join("config")))
        .unwrap_or_else(|| PathBuf::from("/nonexistent"))
}

/// Notes a value ssh itself would refuse: listed, and the fleet's default used instead.
fn invalid(list: &mut Vec<Unhonoured>, s: &Setting, expected: &str) {
    list.push(Unhonoured {
        keyword: s.keyword.clone(),
        value: s.value(),
        at: s.at.to_string(),
        why: format!("invalid value, expected {expected}; not applied"),
    });
}

fn policy_name(p: HostKeyPolicy) -> &'static str {
    match p {
        HostKeyPolicy::Strict => "strict",
        HostKeyPolicy::AcceptNew => "accept-new",
    }
}

fn local_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".to_string())
}

/// An environment variable naming a path, when set and not empty.
fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn yes_no(s: &Setting) -> Option<bool> {
    match s.args[0].to_ascii_lowercase().as_str() {
        "yes" | "true" => Some(true),
        "no" | "false" => Some(false),
        _ => None,
    }
}

/// OpenSSH's `convtime`: `90`, `90s`, `1m30s`, `2h`, `1d`, `1w`; `None` when malformed.
fn convtime(s: &str) -> Option<Duration> {
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
    }
    if !number.is_empty() {
        total = total.checked_add(number.parse().ok()?)?;
    } else if s.is_empty() {
        return None;
    }
    Some(Duration::from_secs(total))
}

/// The `%` tokens and `~` of file names (`IdentityFile`, `UserKnownHostsFile`).
struct Tokens<'a> {
    home: Option<&'a Path>,
    local_user: &'a str,
    host: &'a str,
    original: &'a str,
    user: &'a str,
    port: u16,
}

impl Tokens<'_> {
    fn path(&self, value: &str) -> PathBuf {
        let home = self.home.map(|h| h.display().to_string());
        let mut out = String::new();
        let mut rest = value;
        if let (Some(after), Some(home)) = (value.strip_prefix('~'), &home)
            && (after.is_empty() || after.starts_with('/'))
        {
            out.push_str(home);
            rest = after;
        }
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('d') => out.push_str(home.as_deref().unwrap_or("~")),
                Some('u') => out.push_str(self.local_user),
                Some('h') => out.push_str(self.host),
                Some('n') => out.push_str(self.original),
                Some('r') => out.push_str(self.user),
                Some('p') => out.push_str(&self.port.to_string()),
                Some('%') => out.push('%'),
                // Other tokens (%l, %i, %C, …) are left as written: the file will not be found.
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        }
        PathBuf::from(out)
    }
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
            "Host db-alias\n  HostName 127.0.0.9\n  Port 2201\n  User dba\n  IdentityFile /keys/db\n  CertificateFile /keys/db-signed.pub\n\nHost *\n  User fallback\n  CertificateFile /keys/%r-all.pub\n",
        )
        .unwrap();
        let ssh_config = read_ssh_config(&cfg).unwrap().unwrap();
        let fleet = crate::inventory::load_fleet_from_str(
            "[fleet]\nname = \"t\"\n[ssh]\ncertificate_files = [\"/keys/fleet-cert.pub\"]\n[[hosts]]\nname = \"db\"\naddress = \"db-alias\"\ncertificate_files = [\"/keys/db-own-cert.pub\"]\n[[hosts]]\nname = \"web\"\naddress = \"10.0.0.1\"\nport = 2022\nuser = \"me\"\n",
            crate::inventory::ConfigSource::Embedded,
        )
        .unwrap();
        let db = resolve_target(&fleet, &fleet.hosts[0], Some(&ssh_config));
        assert_eq!(
            (db.address.as_str(), db.port, db.user.as_str()),
            ("127.0.0.9", 2201, "dba")
        );
        assert_eq!(db.identity_files[0], PathBuf::from("/keys/db"));
        assert_eq!(
            db.certificate_files,
            [
                "/keys/db-own-cert.pub",
                "/keys/db-signed.pub",
                "/keys/dba-all.pub",
                "/keys/fleet-cert.pub"
            ]
            .map(PathBuf::from)
        );
        let web = resolve_target(&fleet, &fleet.hosts[1], Some(&ssh_config));
        assert_eq!(
            (web.address.as_str(), web.port, web.user.as_str()),
            ("10.0.0.1", 2022, "me")
        );
        assert_eq!(
            web.certificate_files,
            ["/keys/me-all.pub", "/keys/fleet-cert.pub"].map(PathBuf::from)
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

    /// `text` as `home/.ssh/config` (files in `extra` written under `home/.ssh` first), and
    /// the targets of hosts with the given addresses.
    fn targets(
        text: &str,
        extra: &[(&str, &str)],
        fleet_toml: &str,
        addresses: &[&str],
    ) -> (tempfile::TempDir, Vec<SshTarget>) {
        let home = tempfile::tempdir().unwrap();
        let ssh = home.path().join(".ssh");
        for (name, body) in extra {
            let path = ssh.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        std::fs::create_dir_all(&ssh).unwrap();
        std::fs::write(ssh.join("config"), text).unwrap();
        let config = SshConfig::read(&ssh.join("config"), Some(home.path()))
            .unwrap()
            .unwrap();
        let mut inventory = format!("[fleet]\nname = \"t\"\n{fleet_toml}\n");
        for (i, a) in addresses.iter().enumerate() {
            inventory.push_str(&format!("[[hosts]]\nname = \"h{i}\"\naddress = \"{a}\"\n"));
        }
        let fleet = crate::inventory::load_fleet_from_str(
            &inventory,
            crate::inventory::ConfigSource::Embedded,
        )
        .unwrap();
        let targets = fleet
            .hosts
            .iter()
            .map(|h| resolve_target(&fleet, h, Some(&config)))
            .collect();
        (home, targets)
    }

    #[test]
    fn include_reads_globs_relative_to_dot_ssh_in_sorted_order() {
        let (_home, t) = targets(
            "Include conf.d/*.conf\nHost *\n  User fallback\n",
            &[
                (
                    "conf.d/20-web.conf",
                    "Host web\n  User second\n  Port 2202\n",
                ),
                ("conf.d/10-web.conf", "Host web\n  User first\n"),
                ("conf.d/notes.txt", "Host web\n  User never\n"),
            ],
            "",
            &["web", "db"],
        );
        assert_eq!((t[0].user.as_str(), t[0].port), ("first", 2202));
        assert_eq!(t[1].user, "fallback");
    }

    #[test]
    fn an_include_inside_a_non_matching_block_applies_nothing() {
        let (_home, t) = targets(
            "Host other\n  Include inc.conf\nHost *\n  Port 2222\n",
            &[("inc.conf", "Host *\n  User included\n")],
            "[ssh]\nuser = \"fleet\"",
            &["web", "other"],
        );
        assert_eq!((t[0].user.as_str(), t[0].port), ("fleet", 2222));
        assert_eq!((t[1].user.as_str(), t[1].port), ("included", 2222));
    }

    #[test]
    fn match_host_and_originalhost_with_negation() {
        let (_home, t) = targets(
            "Host db\n  HostName db.internal\nMatch host *.internal,!legacy.internal\n  User ops\n\
             Match originalhost web* !host web2\n  Port 2200\nMatch all\n  User nobody\n",
            &[],
            "",
            &["db", "legacy.internal", "web1", "web2"],
        );
        // `Match host` sees the HostName obtained so far.
        assert_eq!(
            (t[0].address.as_str(), t[0].user.as_str()),
            ("db.internal", "ops")
        );
        assert_eq!(t[1].user, "nobody", "negated pattern: not matched");
        assert_eq!((t[2].port, t[3].port), (2200, 22));
    }

    #[test]
    fn the_first_value_wins_across_blocks_and_the_inventory_wins_over_it() {
        let (_home, t) = targets(
            "Host web\n  Port 2201\n  ConnectTimeout 7\nHost *\n  Port 22\n  ConnectTimeout 30\n  User everyone\n",
            &[],
            "[ssh]\nconnect_timeout = \"20s\"\n[[hosts]]\nname = \"pinned\"\naddress = \"web\"\nport = 2999\nuser = \"me\"",
            &["web"],
        );
        let (pinned, web) = (&t[0], &t[1]);
        assert_eq!((pinned.port, pinned.user.as_str()), (2999, "me"));
        assert_eq!((web.port, web.user.as_str()), (2201, "everyone"));
        assert_eq!(web.connect_timeout, Duration::from_secs(7));
    }

    #[test]
    fn server_alive_options_map_to_keepalives() {
        let (_home, t) = targets(
            "Host fast\n  ServerAliveInterval 5\n  ServerAliveCountMax 2\nHost off\n  ServerAliveInterval 0\n\
             Host zero\n  ServerAliveInterval 1m30s\n  ServerAliveCountMax 0\n",
            &[],
            "",
            &["fast", "off", "zero", "plain"],
        );
        let ka: Vec<(Option<Duration>, usize)> = t
            .iter()
            .map(|t| (t.keepalive_interval, t.keepalive_max))
            .collect();
        assert_eq!(
            ka,
            vec![
                (Some(Duration::from_secs(5)), 2),
                (None, DEFAULT_KEEPALIVE_MAX),
                (Some(Duration::from_secs(90)), 1),
                (Some(DEFAULT_KEEPALIVE_INTERVAL), DEFAULT_KEEPALIVE_MAX),
            ]
        );
    }

    #[test]
    fn the_fleets_stricter_host_key_policy_wins() {
        let cfg = "Host lax\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n\
                   Host newok\n  StrictHostKeyChecking accept-new\nHost tight\n  StrictHostKeyChecking yes\n\
                   Host files\n  UserKnownHostsFile ~/.ssh/kh_a %d/kh_%n\n";
        let hosts = ["lax", "newok", "tight", "files"];
        let (_home, strict) = targets(cfg, &[], "", &hosts);
        assert!(strict.iter().all(|t| t.policy == HostKeyPolicy::Strict));
        // `/dev/null` never hides the fleet's files.
        assert_eq!(
            strict[0].known_hosts.len(),
            1,
            "{:?}",
            strict[0].known_hosts
        );
        let notes: Vec<String> = strict[0].unhonoured.iter().map(|u| u.to_string()).collect();
        assert!(
            notes
                .iter()
                .any(|n| n.contains("StrictHostKeyChecking no")
                    && n.contains("(strict) is stricter")),
            "{notes:?}"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.contains("UserKnownHostsFile /dev/null")),
            "{notes:?}"
        );
        assert!(
            strict[1]
                .unhonoured
                .iter()
                .any(|u| u.keyword == "StrictHostKeyChecking")
        );

        let (_home, accept_new) = targets(cfg, &[], "host_key_policy = \"accept-new\"", &hosts);
        let policies: Vec<HostKeyPolicy> = accept_new.iter().map(|t| t.policy).collect();
        use HostKeyPolicy::{AcceptNew, Strict};
        assert_eq!(policies, vec![AcceptNew, AcceptNew, Strict, AcceptNew]);
        assert!(
            accept_new[1].unhonoured.is_empty(),
            "same policy: nothing to say"
        );
        // Several files, `~` and `%d`/`%n` expanded, after the fleet's own.
        let files = &accept_new[3].known_hosts;
        assert_eq!(files.len(), 3, "{files:?}");
        let home = dirs::home_dir().unwrap();
        assert_eq!(files[1], home.join(".ssh/kh_a"));
        assert_eq!(files[2], home.join("kh_files"));
    }

    #[test]
    fn identities_only_and_unhonoured_options_are_read() {
        let (_home, t) = targets(
            "Host web\n  IdentitiesOnly yes\n  IdentityFile ~/.ssh/web_key\n  KexAlgorithms curve25519-sha256\n  PKCS11Provider /usr/lib/p11.so\n  ConnectTimeout soon\n",
            &[],
            "",
            &["web"],
        );
        assert!(t[0].identities_only);
        assert!(t[0].identity_files[0].ends_with(".ssh/web_key"));
        let keywords: Vec<&str> = t[0].unhonoured.iter().map(|u| u.keyword.as_str()).collect();
        assert_eq!(
            keywords,
            vec!["KexAlgorithms", "PKCS11Provider", "ConnectTimeout"]
        );
        assert!(t[0].unhonoured[2].why.contains("invalid value"));
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

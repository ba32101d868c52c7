//! Routes: how each host is reached — directly, through a chain of jump hosts, or through a
//! `ProxyCommand` — resolved from the inventory's `jump` and `~/.ssh/config`.
//!
//! The inventory's `jump` wins over ssh_config's `ProxyJump`/`ProxyCommand` (`jump = "none"`
//! forces a direct connection), as every other inventory key wins. A hop is resolved the way
//! `ssh -J` would: an inventory host's name (or an alias only one inventory host uses as its
//! address) is *that* host, with its user, port, keys and its own route; anything else is
//! `[user@]host[:port]` looked up in ssh_config like `ssh HOST`. As in OpenSSH, the first hop is
//! reached by its own route and each later hop through the hop before it.
//!
//! Pure: ssh_config is passed in already parsed, nothing is dialled. The connections are made by
//! [`super::bastions`], which builds one connection per distinct hop from these routes.
//! Callers: `bastions::build` (poller transports) and [`annotate`] (the `via` shown by
//! `status --json`, the host pane and `config check`).

use std::collections::HashMap;

use crate::inventory::{Fleet, Host, Jump, TransportKind, jump::parse_hop};
use crate::transport::ssh::{Proxy, SshConfig, SshTarget, resolve_target};

/// How deep jump hosts may nest through their own routes before the route is refused.
const MAX_DEPTH: usize = 16;

/// One jump host on a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The inventory name when the hop is an inventory host, else the hop as written.
    pub label: String,
    /// Where and as whom the hop is reached (its own user, port, keys).
    pub target: SshTarget,
    /// Whether the hop is an inventory host (then `label` is its name).
    pub inventory: bool,
}

/// How the outermost leg of a route is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A TCP connection from this machine.
    Tcp,
    /// A `ProxyCommand`, `%` tokens already expanded for the host it reaches.
    Command(String),
}

/// How one host is reached: the outermost leg, then the jump hosts in order from this machine
/// outward; the host itself is reached through the last hop (or the origin when there are none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// How the first connection (the first hop's, or the host's own) is made.
    pub origin: Origin,
    /// Jump hosts, outermost first.
    pub hops: Vec<Hop>,
}

impl Route {
    /// A direct TCP connection.
    pub fn direct() -> Route {
        Route {
            origin: Origin::Tcp,
            hops: Vec::new(),
        }
    }

    /// The hops' labels in order (the `via` of `status --json`); empty when direct.
    pub fn via(&self) -> Vec<String> {
        self.hops.iter().map(|h| h.label.clone()).collect()
    }
}

/// Why a host has no usable route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// A hop of a `jump`/`ProxyJump` chain cannot be parsed.
    #[error("jump host {hop:?} of {host}: {why}")]
    BadHop {
        /// The host whose route it is.
        host: String,
        /// The hop as written.
        hop: String,
        /// What is wrong with it.
        why: String,
    },
    /// Jump hosts lead back to one already on the route (through ssh_config `ProxyJump`s).
    #[error("jump hosts of {host} form a loop: {chain}")]
    Loop {
        /// The host whose route it is.
        host: String,
        /// The hops in the order they were followed.
        chain: String,
    },
    /// A `ProxyCommand` with a `%` token OpenSSH does not know either.
    #[error("ProxyCommand of {host}: {why}")]
    ProxyCommand {
        /// The host whose command it is.
        host: String,
        /// What is wrong with it.
        why: String,
    },
}

/// Every host's target and route, in inventory order; `None` for local hosts.
pub fn resolve(
    fleet: &Fleet,
    ssh_config: Option<&SshConfig>,
) -> Vec<Option<Result<(SshTarget, Route), RouteError>>> {
    let r = Resolver::new(fleet, ssh_config);
    fleet
        .hosts
        .iter()
        .map(|host| {
            (host.transport == TransportKind::Ssh).then(|| {
                let target = resolve_target(fleet, host, ssh_config);
                let proxy = effective_proxy(host, &target);
                let route = r.route(&target, &host.address, &proxy, &mut Vec::new())?;
                Ok((target, route))
            })
        })
        .collect()
}

/// Fills every host's [`Host::via`] from its route (hosts without a usable route keep `[]`:
/// the transport reports why when it tries them).
pub fn annotate(fleet: &mut Fleet, ssh_config: Option<&SshConfig>) {
    let vias: Vec<Vec<String>> = resolve(fleet, ssh_config)
        .into_iter()
        .map(|r| match r {
            Some(Ok((_, route))) => route.via(),
            _ => Vec::new(),
        })
        .collect();
    for (host, via) in fleet.hosts.iter_mut().zip(vias) {
        host.via = via;
    }
}

/// The inventory's `jump` wins over what ssh_config says.
fn effective_proxy(host: &Host, target: &SshTarget) -> Proxy {
    match &host.jump {
        Some(Jump::None) => Proxy::Direct,
        Some(Jump::Via(hops)) => Proxy::Jump(hops.clone()),
        None => target.proxy.clone(),
    }
}

struct Resolver<'a> {
    fleet: &'a Fleet,
    ssh_config: Option<&'a SshConfig>,
    /// Inventory SSH hosts by name.
    by_name: HashMap<&'a str, usize>,
    /// Inventory SSH hosts by address, when only one host uses that address.
    by_address: HashMap<&'a str, Option<usize>>,
}

impl<'a> Resolver<'a> {
    fn new(fleet: &'a Fleet, ssh_config: Option<&'a SshConfig>) -> Self {
        let mut by_name = HashMap::new();
        let mut by_address: HashMap<&str, Option<usize>> = HashMap::new();
        for (i, h) in fleet.hosts.iter().enumerate() {
            if h.transport != TransportKind::Ssh {
                continue;
            }
            by_name.insert(h.name.as_str(), i);
            by_address
                .entry(h.address.as_str())
                .and_modify(|e| *e = None)
                .or_insert(Some(i));
        }
        Resolver {
            fleet,
            ssh_config,
            by_name,
            by_address,
        }
    }

    /// The route to `target` given how it is configured to be reached (`proxy`); `name` is the
    /// host as given (OpenSSH's `%n`); `stack` holds the hosts whose routes are being resolved,
    /// to refuse a loop.
    fn route(
        &self,
        target: &SshTarget,
        name: &str,
        proxy: &Proxy,
        stack: &mut Vec<String>,
    ) -> Result<Route, RouteError> {
        let key = format!("{}@{}:{}", target.user, target.address, target.port);
        if stack.contains(&key) || stack.len() > MAX_DEPTH {
            stack.push(key);
            return Err(RouteError::Loop {
                host: target.name.clone(),
                chain: stack.join(" → "),
            });
        }
        match proxy {
            Proxy::Direct => Ok(Route::direct()),
            Proxy::Command(template) => Ok(Route {
                origin: Origin::Command(expand_proxy_command(template, target, name)?),
                hops: Vec::new(),
            }),
            Proxy::Jump(hops) => {
                let Some((first, rest)) = hops.split_first() else {
                    return Ok(Route::direct());
                };
                let (first_hop, first_name, first_proxy) = self.hop(target, first)?;
                stack.push(key);
                let mut route = self.route(&first_hop.target, &first_name, &first_proxy, stack)?;
                stack.pop();
                route.hops.push(first_hop);
                for hop in rest {
                    // Later hops are reached through the hop before them, whatever their own
                    // configuration says (OpenSSH's `-J a,b`).
                    route.hops.push(self.hop(target, hop)?.0);
                }
                Ok(route)
            }
        }
    }

    /// A hop as a target, with the name it was given and its own configured route.
    fn hop(&self, of: &SshTarget, text: &str) -> Result<(Hop, String, Proxy), RouteError> {
        if let Some(&i) = self.by_name.get(text) {
            return Ok(self.inventory_hop(i));
        }
        let spec = parse_hop(text).map_err(|why| RouteError::BadHop {
            host: of.name.clone(),
            hop: text.to_owned(),
            why,
        })?;
        if spec.user.is_none()
            && spec.port.is_none()
            && let Some(Some(i)) = self.by_address.get(spec.host.as_str())
        {
            return Ok(self.inventory_hop(*i));
        }
        // Not an inventory host: resolved like `ssh [user@]host[:port]` would.
        let host = Host {
            name: text.to_owned(),
            address: spec.host.clone(),
            port: spec.port,
            user: spec.user,
            ..Host::default()
        };
        let target = resolve_target(self.fleet, &host, self.ssh_config);
        let proxy = target.proxy.clone();
        Ok((
            Hop {
                label: text.to_owned(),
                target,
                inventory: false,
            },
            spec.host,
            proxy,
        ))
    }

    fn inventory_hop(&self, i: usize) -> (Hop, String, Proxy) {
        let host = &self.fleet.hosts[i];
        let target = resolve_target(self.fleet, host, self.ssh_config);
        let proxy = effective_proxy(host, &target);
        (
            Hop {
                label: host.name.clone(),
                target,
                inventory: true,
            },
            host.address.clone(),
            proxy,
        )
    }
}

/// Expands `%h` (the address after `HostName`), `%p`, `%r`, `%n` (the host as given) and `%%`
/// in a `ProxyCommand`, as OpenSSH does; any other token is refused, as OpenSSH refuses it.
pub fn expand_proxy_command(
    template: &str,
    target: &SshTarget,
    name: &str,
) -> Result<String, RouteError> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('h') => out.push_str(&target.address),
            Some('p') => out.push_str(&target.port.to_string()),
            Some('r') => out.push_str(&target.user),
            Some('n') => out.push_str(name),
            other => {
                return Err(RouteError::ProxyCommand {
                    host: target.name.clone(),
                    why: match other {
                        Some(t) => format!(
                            "unknown token %{t} in {template:?}: expected %h, %p, %r, %n or %%"
                        ),
                        None => format!("{template:?} ends with a lone %"),
                    },
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{ConfigSource, load_fleet_from_str};
    use crate::transport::ssh::read_ssh_config;

    fn routes(
        inventory: &str,
        ssh_config: &str,
    ) -> Vec<Option<Result<(SshTarget, Route), RouteError>>> {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::write(&cfg, ssh_config).unwrap();
        let ssh_config = read_ssh_config(&cfg).unwrap();
        let fleet = load_fleet_from_str(inventory, ConfigSource::Embedded).unwrap();
        resolve(&fleet, ssh_config.as_ref())
    }

    fn route(r: &Option<Result<(SshTarget, Route), RouteError>>) -> &Route {
        &r.as_ref().unwrap().as_ref().unwrap().1
    }

    fn hops(r: &Route) -> Vec<(String, String, u16, String)> {
        r.hops
            .iter()
            .map(|h| {
                (
                    h.label.clone(),
                    h.target.address.clone(),
                    h.target.port,
                    h.target.user.clone(),
                )
            })
            .collect()
    }

    const FLEET: &str = r#"
[ssh]
user = "ops"
[[hosts]]
name = "bastion-1"
address = "203.0.113.10"
port = 2200
user = "jump"
[[hosts]]
name = "db-1"
address = "10.0.1.5"
jump = "bastion-1"
[[hosts]]
name = "b2"
address = "10.0.2.1"
jump = "bastion-1"
[[hosts]]
name = "inner-1"
address = "10.9.0.5"
jump = "b2"
[[hosts]]
name = "aliased"
address = "behind"
[[hosts]]
name = "written"
address = "10.0.3.3"
jump = "root@gw.example:2022,b2"
[[hosts]]
name = "forced-direct"
address = "behind"
jump = "none"
[[hosts]]
name = "here"
transport = "local"
"#;

    const SSH_CONFIG: &str = "Host behind\n  HostName 10.7.7.7\n  ProxyJump bastion-1\nHost gw.example\n  HostName 192.0.2.1\n  User nobody\n";

    #[test]
    fn an_inventory_hop_is_that_host_with_its_own_user_port_and_route() {
        let r = routes(FLEET, SSH_CONFIG);
        assert_eq!(*route(&r[0]), Route::direct());
        let db = route(&r[1]);
        assert_eq!(db.origin, Origin::Tcp);
        assert_eq!(
            hops(db),
            vec![(
                "bastion-1".into(),
                "203.0.113.10".into(),
                2200,
                "jump".into()
            )]
        );
        // b2's own jump makes inner-1 two hops out.
        assert_eq!(route(&r[3]).via(), vec!["bastion-1", "b2"]);
        assert!(r[7].is_none(), "a local host has no route");
    }

    #[test]
    fn proxy_jump_from_ssh_config_names_inventory_hosts_and_the_inventory_overrides_it() {
        let r = routes(FLEET, SSH_CONFIG);
        assert_eq!(route(&r[4]).via(), vec!["bastion-1"]);
        assert_eq!(
            r[4].as_ref().unwrap().as_ref().unwrap().0.address,
            "10.7.7.7"
        );
        assert_eq!(*route(&r[6]), Route::direct());
    }

    #[test]
    fn a_written_hop_is_resolved_through_ssh_config_and_later_hops_follow_the_one_before() {
        let r = routes(FLEET, SSH_CONFIG);
        let w = route(&r[5]);
        assert_eq!(
            hops(w),
            vec![
                (
                    "root@gw.example:2022".into(),
                    "192.0.2.1".into(),
                    2022,
                    "root".into()
                ),
                // b2 is reached through gw here, not through its own bastion.
                ("b2".into(), "10.0.2.1".into(), 22, "ops".into()),
            ]
        );
    }

    #[test]
    fn proxy_command_tokens_expand_like_openssh() {
        let r = routes(
            "[[hosts]]\nname = \"db\"\naddress = \"db-alias\"\nuser = \"dba\"\n",
            "Host db-alias\n  HostName 10.1.1.1\n  Port 2201\n  ProxyCommand ssh -W %h:%p -l %r jump -o SetEnv=N=%n,P=100%%\n",
        );
        assert_eq!(
            route(&r[0]).origin,
            Origin::Command("ssh -W 10.1.1.1:2201 -l dba jump -o SetEnv=N=db-alias,P=100%".into())
        );
        let bad = routes(
            "[[hosts]]\nname = \"db\"\n",
            "Host db\n  ProxyCommand nc %x 22\n",
        );
        assert!(matches!(
            bad[0].as_ref().unwrap(),
            Err(RouteError::ProxyCommand { .. })
        ));
    }

    #[test]
    fn a_proxy_jump_loop_in_ssh_config_is_refused_not_followed_forever() {
        let r = routes(
            "[[hosts]]\nname = \"t\"\naddress = \"a\"\n",
            "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n",
        );
        let err = r[0].as_ref().unwrap().as_ref().unwrap_err();
        assert!(matches!(err, RouteError::Loop { .. }), "{err}");
    }

    #[test]
    fn annotate_fills_via_for_every_host() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::write(&cfg, SSH_CONFIG).unwrap();
        let ssh_config = read_ssh_config(&cfg).unwrap();
        let mut fleet = load_fleet_from_str(FLEET, ConfigSource::Embedded).unwrap();
        annotate(&mut fleet, ssh_config.as_ref());
        let vias: Vec<Vec<String>> = fleet.hosts.iter().map(|h| h.via.clone()).collect();
        assert_eq!(vias[3], vec!["bastion-1", "b2"]);
        assert_eq!(vias[5], vec!["root@gw.example:2022", "b2"]);
        assert!(vias[0].is_empty() && vias[6].is_empty() && vias[7].is_empty());
    }
}

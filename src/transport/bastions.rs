//! One connection per bastion: turns every host's [`super::route::Route`] into transports that
//! share their jump hosts' connections.
//!
//! Each connection on a route — every jump host, then the host itself — is one
//! [`SshHost`], keyed by how it is reached: the route's origin, the hops before it, and itself
//! (an inventory host by its name, any other hop by `user@address:port`). Fifty hosts behind one
//! bastion therefore share one `SshHost` for it, and so one TCP connection; a bastion that is
//! also an inventory host is the very `SshHost` that polls it. Only the bastion's own limit of
//! tunnels per connection ([`super::ssh::MAX_TUNNELS`]) ever opens a second connection to it.
//!
//! Callers: [`crate::poller::transports`].

use std::collections::HashMap;
use std::sync::Arc;

use super::Transport;
use super::local::LocalHost;
use super::route::{self, Hop, Origin, Route};
use super::ssh::{SshConfig, SshHost, SshShared, SshTarget, StreamSource};
use crate::inventory::Fleet;

/// One transport per host, in inventory order, sharing connections to common jump hosts.
pub fn build(
    fleet: &Fleet,
    shared: &Arc<SshShared>,
    ssh_config: Option<&SshConfig>,
) -> Vec<Transport> {
    let mut registry = Registry {
        shared: shared.clone(),
        hosts: HashMap::new(),
    };
    route::resolve(fleet, ssh_config)
        .into_iter()
        .zip(&fleet.hosts)
        .map(|(resolved, host)| match resolved {
            None => Transport::Local(LocalHost::new()),
            Some(Ok((target, route))) => Transport::Ssh(registry.connection(
                &route,
                route.hops.len(),
                &target,
                Some(&host.name),
            )),
            Some(Err(e)) => {
                let target = super::ssh::resolve_target(fleet, host, ssh_config);
                Transport::Ssh(SshHost::with_source(
                    target,
                    shared.clone(),
                    StreamSource::Unroutable(e.to_string()),
                ))
            }
        })
        .collect()
}

struct Registry {
    shared: Arc<SshShared>,
    hosts: HashMap<String, Arc<SshHost>>,
}

impl Registry {
    /// The connection to `target`, reached through the first `depth` hops of `route`;
    /// `inventory_name` is set when `target` is an inventory host.
    fn connection(
        &mut self,
        route: &Route,
        depth: usize,
        target: &SshTarget,
        inventory_name: Option<&str>,
    ) -> Arc<SshHost> {
        let key = key(route, depth, target, inventory_name);
        if let Some(existing) = self.hosts.get(&key) {
            return existing.clone();
        }
        let source = match depth.checked_sub(1) {
            None => match &route.origin {
                Origin::Tcp => StreamSource::Tcp,
                Origin::Command(command) => StreamSource::Command(command.clone()),
            },
            Some(last) => {
                let hop: &Hop = &route.hops[last];
                let inventory = hop.inventory.then_some(hop.label.as_str());
                StreamSource::Via(self.connection(route, last, &hop.target, inventory))
            }
        };
        let host = SshHost::with_source(target.clone(), self.shared.clone(), source);
        self.hosts.insert(key, host.clone());
        host
    }
}

/// Says how a connection is reached, so equal routes share one connection.
fn key(route: &Route, depth: usize, target: &SshTarget, inventory_name: Option<&str>) -> String {
    let one = |target: &SshTarget, inventory: Option<&str>| match inventory {
        Some(name) => format!("host:{name}"),
        None => format!("{}@{}:{}", target.user, target.address, target.port),
    };
    let mut parts = vec![match &route.origin {
        Origin::Tcp => "tcp".to_owned(),
        Origin::Command(c) => format!("command:{c}"),
    }];
    for hop in &route.hops[..depth] {
        parts.push(one(
            &hop.target,
            hop.inventory.then_some(hop.label.as_str()),
        ));
    }
    parts.push(one(target, inventory_name));
    parts.join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{ConfigSource, load_fleet_from_str};
    use crate::transport::ssh::NoPrompt;

    fn ssh(t: &Transport) -> &Arc<SshHost> {
        match t {
            Transport::Ssh(h) => h,
            Transport::Local(_) => panic!("a local transport"),
        }
    }

    fn via(t: &Transport) -> Option<&Arc<SshHost>> {
        match ssh(t).source() {
            StreamSource::Via(b) => Some(b),
            _ => None,
        }
    }

    #[test]
    fn hosts_behind_one_bastion_share_its_connection_and_it_is_the_one_that_polls_it() {
        let fleet = load_fleet_from_str(
            "[ssh]\njump = \"bastion\"\n[[hosts]]\nname = \"bastion\"\naddress = \"203.0.113.1\"\n\
             [[hosts]]\nname = \"a\"\n[[hosts]]\nname = \"b\"\n\
             [[hosts]]\nname = \"c\"\njump = \"ops@gw:2222\"\n[[hosts]]\nname = \"d\"\njump = \"ops@gw:2222\"\n\
             [[hosts]]\nname = \"e\"\njump = \"bastion,c\"\n",
            ConfigSource::Embedded,
        )
        .unwrap();
        let ts = build(&fleet, &SshShared::new(Arc::new(NoPrompt)), None);
        assert!(via(&ts[0]).is_none(), "the bastion is reached directly");
        let bastion = ssh(&ts[0]);
        for i in [1, 2] {
            assert!(Arc::ptr_eq(via(&ts[i]).unwrap(), bastion), "host {i}");
        }
        // A written hop is one connection too, shared by every host that names it.
        assert!(Arc::ptr_eq(via(&ts[3]).unwrap(), via(&ts[4]).unwrap()));
        assert_eq!(via(&ts[3]).unwrap().target().name, "ops@gw:2222");
        // e goes through c reached via the bastion: c's own connection goes through gw, so
        // this one is another (c's own jump does not apply to a later hop, as in OpenSSH).
        let c_in_chain = via(&ts[5]).unwrap();
        assert!(!Arc::ptr_eq(c_in_chain, ssh(&ts[3])));
        assert!(Arc::ptr_eq(via_of(c_in_chain).unwrap(), bastion));
    }

    fn via_of(h: &Arc<SshHost>) -> Option<&Arc<SshHost>> {
        match h.source() {
            StreamSource::Via(b) => Some(b),
            _ => None,
        }
    }

    #[test]
    fn a_route_that_cannot_be_resolved_is_a_transport_that_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::write(&cfg, "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n").unwrap();
        let ssh_config = crate::transport::ssh::read_ssh_config(&cfg).unwrap();
        let fleet = load_fleet_from_str(
            "[[hosts]]\nname = \"t\"\naddress = \"a\"\n",
            ConfigSource::Embedded,
        )
        .unwrap();
        let ts = build(
            &fleet,
            &SshShared::new(Arc::new(NoPrompt)),
            ssh_config.as_ref(),
        );
        assert!(matches!(ssh(&ts[0]).source(), StreamSource::Unroutable(m) if m.contains("loop")));
    }
}

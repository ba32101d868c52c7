//! The fleet as a runbook sees it: [`HostInfo`] (the part of an inventory host a runbook needs:
//! name, address, consensus group and vote, service command templates), [`ServiceOps`] and the
//! service operations a template may name ([`ServiceOp`]).
//!
//! It sits below the template language, the input checks, the dry-run plan and the engine, which
//! all read it; it imports none of them. Pure: it converts an inventory that was already loaded
//! and never touches the network or a clock. Callers: the executor and the CLI build the list
//! with [`HostInfo::from_fleet`] before [`super::Run::start`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::inventory::{Fleet, Host, NodeRole, ServiceCommands, ServiceKind};

/// What a runbook needs to know about one host of the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Host name.
    pub name: String,
    /// Address or SSH alias (`{{address}}`).
    pub address: String,
    /// BFT consensus group.
    pub consensus_group: Option<String>,
    /// Votes in that group (role `consensus`): counts towards N for the quorum guard.
    pub consensus: bool,
    /// Runs a chain node: chain conditions (`synced`, a gate's `chain = true`) apply to it.
    #[serde(default)]
    pub chain: bool,
    /// Service name → command templates (`{{service.NAME.OP}}`).
    pub services: BTreeMap<String, ServiceOps>,
}

impl HostInfo {
    /// The runbook view of an inventory host. Service operations the inventory leaves unset
    /// get the kind's default where there is an obvious one (systemd, docker).
    pub fn from_host(host: &Host) -> Self {
        let services = host
            .services
            .iter()
            .map(|s| {
                let mut ops = ServiceOps::from(&s.commands);
                ops.fill_defaults(&s.kind);
                (s.name.clone(), ops)
            })
            .collect();
        Self {
            name: host.name.clone(),
            address: host.address.clone(),
            consensus_group: host.consensus_group.clone(),
            consensus: host.role == NodeRole::Consensus,
            chain: host.chain.is_some(),
            services,
        }
    }

    /// Every host of the fleet.
    pub fn from_fleet(fleet: &Fleet) -> Vec<Self> {
        fleet.hosts.iter().map(Self::from_host).collect()
    }
}

/// Command templates of one service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceOps {
    /// Start.
    pub start: Option<String>,
    /// Stop.
    pub stop: Option<String>,
    /// Restart.
    pub restart: Option<String>,
    /// Print the running version.
    pub version: Option<String>,
    /// Switch to `{{version}}`.
    pub upgrade: Option<String>,
    /// Switch back.
    pub rollback: Option<String>,
}

impl ServiceOps {
    /// The template for `op`.
    pub fn get(&self, op: ServiceOp) -> Option<&str> {
        match op {
            ServiceOp::Start => self.start.as_deref(),
            ServiceOp::Stop => self.stop.as_deref(),
            ServiceOp::Restart => self.restart.as_deref(),
            ServiceOp::Version => self.version.as_deref(),
            ServiceOp::Upgrade => self.upgrade.as_deref(),
            ServiceOp::Rollback => self.rollback.as_deref(),
        }
    }

    /// Start/stop/restart for kinds that have one obvious way (no `sudo`: an inventory that
    /// needs it says so in its own templates).
    fn fill_defaults(&mut self, kind: &ServiceKind) {
        let q = |s: &str| shlex::try_quote(s).map(|c| c.into_owned()).ok();
        let (prefix, suffix) = match kind {
            ServiceKind::Systemd { unit } => match q(unit) {
                Some(unit) => ("systemctl".to_owned(), unit),
                None => return,
            },
            ServiceKind::Docker {
                container: Some(c), ..
            } => match q(c) {
                Some(c) => ("docker".to_owned(), c),
                None => return,
            },
            ServiceKind::Docker {
                container: None,
                compose_file: Some(file),
                compose_service: Some(svc),
            } => match (q(file), q(svc)) {
                (Some(file), Some(svc)) => (format!("docker compose -f {file}"), svc),
                _ => return,
            },
            _ => return,
        };
        for (slot, verb) in [
            (&mut self.start, "start"),
            (&mut self.stop, "stop"),
            (&mut self.restart, "restart"),
        ] {
            if slot.is_none() {
                *slot = Some(format!("{prefix} {verb} {suffix}"));
            }
        }
    }
}

impl From<&ServiceCommands> for ServiceOps {
    fn from(c: &ServiceCommands) -> Self {
        Self {
            start: c.start.clone(),
            stop: c.stop.clone(),
            restart: c.restart.clone(),
            version: c.version.clone(),
            upgrade: c.upgrade.clone(),
            rollback: c.rollback.clone(),
        }
    }
}

/// An operation a service template provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceOp {
    /// `start`
    Start,
    /// `stop`
    Stop,
    /// `restart`
    Restart,
    /// `version`
    Version,
    /// `upgrade`
    Upgrade,
    /// `rollback`
    Rollback,
}

impl ServiceOp {
    /// Every operation, in documentation order.
    pub const ALL: [ServiceOp; 6] = [
        Self::Start,
        Self::Stop,
        Self::Restart,
        Self::Version,
        Self::Upgrade,
        Self::Rollback,
    ];

    /// The spelling in placeholders and in the inventory.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Restart => "restart",
            Self::Version => "version",
            Self::Upgrade => "upgrade",
            Self::Rollback => "rollback",
        }
    }

    /// The operation spelled `s`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == s)
    }
}

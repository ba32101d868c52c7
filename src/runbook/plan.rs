//! What a run is given about the fleet, how targets are selected, and the dry-run plan.
//!
//! This module owns [`HostInfo`] (the part of an inventory host a runbook needs: name,
//! address, consensus group and vote, service command templates), [`select_targets`] (a
//! runbook's `[targets]` intersected with `--hosts`/`--group`), and [`plan_dry_run`] (every
//! command of every step that can be reached, rendered per host with secrets masked, without
//! running anything).
//!
//! Pure: it reads a [`Fleet`] that was already loaded and never touches the network or a
//! clock. Callers: the executor / CLI before [`super::Run::start`], and `fleetdeck run
//! --dry-run`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::engine::{Env, RunContext, validate_inputs};
use super::template::ServiceOp;
use super::{HostSel, Probe, Runbook, StepKind, SubKind, TargetRole, Wait};
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

/// The hosts a run targets: the runbook's `[targets]` (every given criterion must hold)
/// intersected with the caller's `--hosts` glob and `--group` (a host group or consensus
/// group), in inventory order. An invalid glob is an error; an empty selection is not.
pub fn select_targets(
    runbook: &Runbook,
    fleet: &Fleet,
    hosts: Option<&str>,
    group: Option<&str>,
) -> Result<Vec<String>, String> {
    let chosen = fleet.select(hosts, group)?;
    let matcher = match runbook.targets.as_ref().and_then(|t| t.hosts.as_deref()) {
        Some(glob) => Some(
            globset::Glob::new(glob)
                .map_err(|e| format!("invalid [targets] hosts glob {glob:?}: {e}"))?
                .compile_matcher(),
        ),
        None => None,
    };
    Ok(chosen
        .into_iter()
        .map(|i| &fleet.hosts[i])
        .filter(|h| {
            let Some(t) = &runbook.targets else {
                return true;
            };
            matcher.as_ref().is_none_or(|m| m.is_match(&h.name))
                && t.group
                    .as_ref()
                    .is_none_or(|g| h.groups.iter().any(|x| x == g))
                && t.consensus_group
                    .as_ref()
                    .is_none_or(|g| h.consensus_group.as_ref() == Some(g))
                && t.role.is_none_or(|r| {
                    matches!(
                        (r, h.role),
                        (TargetRole::Consensus, NodeRole::Consensus)
                            | (TargetRole::Observer, NodeRole::Observer)
                            | (TargetRole::Free, NodeRole::Free)
                    )
                })
        })
        .map(|h| h.name.clone())
        .collect())
}

/// One line of a dry run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedCommand {
    /// The host it would run on; `None` for a webhook.
    pub host: Option<String>,
    /// Step id; `ROLLING.SUB` for a rolling sub-step, `ROLLING.rollback.SUB` for a rollback.
    pub step: String,
    /// The command as it would run, secrets masked, or why it cannot be rendered.
    pub command: Result<String, String>,
}

/// Every command of every step that can be reached (all branches), per host, in file order,
/// with secrets masked. Nothing runs. Missing secret inputs are fine (they show as `***`);
/// other missing or invalid inputs are an error, as they would be for a real run.
pub fn plan_dry_run(runbook: &Runbook, ctx: &RunContext) -> Result<Vec<PlannedCommand>, String> {
    let (mut inputs, missing) = validate_inputs(runbook, &ctx.inputs, &ctx.fleet)?;
    let mut still_missing = Vec::new();
    for name in missing {
        match runbook.input(&name) {
            Some(input) if input.secret => {
                inputs.insert(name, "***".to_owned());
            }
            _ => still_missing.push(name),
        }
    }
    if !still_missing.is_empty() {
        return Err(format!(
            "missing input{}: {} (pass --var NAME=VALUE)",
            if still_missing.len() == 1 { "" } else { "s" },
            still_missing.join(", ")
        ));
    }
    let env = Env {
        runbook,
        fleet: &ctx.fleet,
        targets: &ctx.targets,
        inputs: &inputs,
        stamp: super::engine::stamp(ctx.now),
        decisions: BTreeMap::new(),
    };
    let reachable = super::engine::reachable_from(runbook, 0);
    let mut out = Vec::new();
    let push_command = |out: &mut Vec<PlannedCommand>, host: &str, step: String, text: &str| {
        out.push(PlannedCommand {
            host: Some(host.to_owned()),
            step,
            command: env.command(host, text).map(|r| r.display),
        });
    };
    for (i, step) in runbook.steps.iter().enumerate() {
        if !reachable.contains(&i) {
            continue;
        }
        let hosts = |on: &HostSel| env.hosts_for(on);
        match &step.kind {
            StepKind::Check(c) => {
                if let Probe::Command(cmd) = &c.probe {
                    for h in hosts(&c.on) {
                        push_command(&mut out, &h, step.id.clone(), cmd);
                    }
                }
            }
            StepKind::Action(a) => {
                for h in hosts(&a.on) {
                    push_command(&mut out, &h, step.id.clone(), &a.command);
                }
            }
            StepKind::Wait(Wait::Until {
                on,
                probe: Probe::Command(cmd),
                ..
            }) => {
                for h in hosts(on) {
                    push_command(&mut out, &h, step.id.clone(), cmd);
                }
            }
            StepKind::Rolling(r) => {
                for h in hosts(&r.on) {
                    for (group, subs) in [("", &r.each), ("rollback.", &r.rollback)] {
                        for sub in subs {
                            let cmd = match &sub.kind {
                                SubKind::Action { command, .. } => command,
                                SubKind::Check {
                                    probe: Probe::Command(command),
                                    ..
                                } => command,
                                _ => continue,
                            };
                            push_command(
                                &mut out,
                                &h,
                                format!("{}.{group}{}", step.id, sub.id),
                                cmd,
                            );
                        }
                    }
                }
            }
            StepKind::Notify(n) => {
                let command = env.notify(n).map(|req| {
                    format!(
                        "POST {} {}",
                        req.display_url,
                        serde_json::to_string(&req.display_body).unwrap_or_default()
                    )
                });
                out.push(PlannedCommand {
                    host: None,
                    step: step.id.clone(),
                    command,
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

//! What a run is given about the fleet, how targets are selected, and the dry-run plan.
//!
//! This module owns [`select_targets`] (a runbook's `[targets]` intersected with
//! `--hosts`/`--group`), and [`plan_dry_run`] (every
//! command of every step that can be reached, rendered per host with secrets masked, without
//! running anything).
//!
//! Pure: it reads a [`Fleet`] that was already loaded and never touches the network or a
//! clock. Callers: the executor / CLI before [`super::Run::start`], and `fleetdeck run
//! --dry-run`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::engine::{Env, RunContext};
use super::inputs::validate_inputs;
use super::{HostSel, Probe, Runbook, StepKind, SubKind, TargetRole, Wait};
use crate::inventory::{Fleet, NodeRole};

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
            StepKind::Check(c) => match &c.probe {
                Probe::Command(cmd) => {
                    for h in hosts(&c.on) {
                        push_command(&mut out, &h, step.id.clone(), cmd);
                    }
                }
                Probe::Reconnect { port, .. } => {
                    for h in hosts(&c.on) {
                        out.push(PlannedCommand {
                            host: Some(h),
                            step: step.id.clone(),
                            command: reconnect_line(&env, port),
                        });
                    }
                }
                _ => {}
            },
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
                            if let SubKind::Check {
                                probe: Probe::Reconnect { port, .. },
                                ..
                            } = &sub.kind
                            {
                                out.push(PlannedCommand {
                                    host: Some(h.clone()),
                                    step: format!("{}.{group}{}", step.id, sub.id),
                                    command: reconnect_line(&env, port),
                                });
                                continue;
                            }
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

/// The dry-run line of a `reconnect` probe: the new connection's port and its command.
fn reconnect_line(env: &Env<'_>, port: &Option<String>) -> Result<String, String> {
    let port = port.as_ref().map(|p| env.display(p)).unwrap_or_default();
    let port = port.trim();
    if port.is_empty() {
        return Ok(format!(
            "(new SSH connection) {}",
            crate::runbook::RECONNECT_COMMAND
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(format!(
            "(new SSH connection, port {p}) {}",
            crate::runbook::RECONNECT_COMMAND
        )),
        _ => Err(format!("port {port:?} is not a TCP port (1-65535)")),
    }
}

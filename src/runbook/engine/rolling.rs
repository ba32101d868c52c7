//! Rolling steps: sub-steps host by host in batches, each host through a health gate, a
//! rollback on failure, pauses between batches, and the quorum guard that refuses a batch which
//! would take more than F members of a BFT group of N = 3F+1 down.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::Run;
use super::exec::{Via, failed_result, service_state_str};
use super::questions::{Confirmed, expected_text, host_phrase};
use super::state::{Flow, Fx, HostRun, HostStage, Phase, Purpose, RollingState, StepState};
use super::types::{Effect, ExecId, HealthFact, HostResult, ServiceState};
use crate::audit::AuditAction;
use crate::runbook::expect::ExecResult;
use crate::runbook::quorum::{self, Membership};
use crate::runbook::{Expect, Probe, Rolling, StepKind, SubKind};

impl Run {
    pub(super) fn membership(&self) -> Membership {
        Membership::new(
            self.fleet
                .iter()
                .map(|h| (h.name.as_str(), h.consensus_group.as_deref(), h.consensus)),
        )
    }

    pub(super) fn rolling_summary(
        &self,
        r: &Rolling,
        title: &str,
        hosts: &[String],
    ) -> (String, Vec<(String, String)>) {
        let commands: Vec<(String, String)> = self.with_env(|env| {
            hosts
                .iter()
                .map(|h| {
                    let lines: Vec<String> = r
                        .each
                        .iter()
                        .filter_map(|s| match &s.kind {
                            SubKind::Action { command, .. } => Some(
                                env.command(h, command)
                                    .map(|c| c.display)
                                    .unwrap_or_else(|e| format!("(cannot render: {e})")),
                            ),
                            _ => None,
                        })
                        .collect();
                    (h.clone(), lines.join(" ; "))
                })
                .collect()
        });
        let summary = format!(
            "{title}: host by host on {} (batch {}, quorum guard on{}), health gate after each, \
             rollback of a host that fails, stop at the first failure",
            host_phrase(hosts),
            r.batch,
            if r.rollback.is_empty() {
                ""
            } else {
                ", rollback defined"
            },
        );
        (summary, commands)
    }

    pub(super) fn enter_rolling(
        &mut self,
        fx: &mut Fx,
        index: usize,
        visit: u32,
        r: &Rolling,
        title: &str,
    ) -> Flow {
        let order = self.with_env(|env| env.hosts_for(&r.on));
        let done = self.carry_done.remove(&index).unwrap_or_default();
        let pending: Vec<String> = order
            .iter()
            .filter(|h| !done.contains(h))
            .cloned()
            .collect();
        if order.is_empty() {
            return self.complete(fx, index, false, "no hosts to roll".to_owned());
        }
        // Render every command up front: a host that cannot be rendered stops the rollout
        // before anything is taken down.
        for host in &pending {
            for s in r.each.iter().chain(&r.rollback) {
                let text = match &s.kind {
                    SubKind::Action { command, .. } => command,
                    SubKind::Check {
                        probe: Probe::Command(command),
                        ..
                    } => command,
                    _ => continue,
                };
                if let Err(e) = self.with_env(|env| env.command(host, text)) {
                    return self.complete(
                        fx,
                        index,
                        false,
                        format!("{host}: sub-step `{}`: {e}", s.id),
                    );
                }
            }
        }
        let mut state = RollingState {
            order,
            pending: pending.clone(),
            done,
            failed: Vec::new(),
            active: BTreeMap::new(),
            stopping: false,
            confirming: None,
            pause_until: None,
            confirmed: None,
        };
        if r.is_dangerous() && !pending.is_empty() {
            // The guard goes first: asking for a confirmation of a batch the guard refuses
            // anyway would be a question the operator cannot usefully answer. The guard runs
            // again before every batch, confirmed or not, since health can change meanwhile.
            let down = self.down_set(&state);
            if let Err(refusal) = quorum::next_batch(&pending, r.batch, &self.membership(), &down) {
                self.refuse(fx, Some(index), refusal.to_string());
                return Flow::Done;
            }
            let expected = expected_text(&pending);
            state.confirming = Some(expected.clone());
            self.phase = Phase::Step {
                index,
                visit,
                state: StepState::Rolling(Box::new(state)),
            };
            let (summary, commands) = self.rolling_summary(r, title, &pending);
            return self.ask_confirm(fx, index, visit, pending, expected, summary, commands, None);
        }
        self.phase = Phase::Step {
            index,
            visit,
            state: StepState::Rolling(Box::new(state)),
        };
        self.rolling_next_batch(fx, index, visit)
    }

    pub(super) fn rolling_state(&mut self) -> Option<&mut RollingState> {
        match &mut self.phase {
            Phase::Step {
                state: StepState::Rolling(r),
                ..
            } => Some(r),
            _ => None,
        }
    }

    pub(super) fn rolling_def(&self, index: usize) -> Option<Rolling> {
        match &self.runbook.steps.get(index)?.kind {
            StepKind::Rolling(r) => Some(r.clone()),
            _ => None,
        }
    }

    /// Hosts that count as down for the quorum guard: unhealthy or unknown by the latest
    /// health, failed in this rollout, or in flight.
    pub(super) fn down_set(&self, state: &RollingState) -> BTreeSet<String> {
        let mut down: BTreeSet<String> = self
            .fleet
            .iter()
            .filter(|h| {
                !self
                    .health
                    .get(&h.name)
                    .is_some_and(|f| f.reachable && f.healthy)
            })
            .map(|h| h.name.clone())
            .collect();
        down.extend(state.failed.iter().map(|(h, _)| h.clone()));
        down.extend(state.active.keys().cloned());
        down
    }

    pub(super) fn rolling_next_batch(&mut self, fx: &mut Fx, index: usize, visit: u32) -> Flow {
        let Some(r) = self.rolling_def(index) else {
            return Flow::Stay;
        };
        let Phase::Step {
            state: StepState::Rolling(state),
            ..
        } = &self.phase
        else {
            return Flow::Stay;
        };
        if !state.active.is_empty() {
            return Flow::Stay;
        }
        if state.stopping || !state.failed.is_empty() {
            let failures: Vec<String> = state
                .failed
                .iter()
                .map(|(h, why)| format!("{h}: {why}"))
                .collect();
            let summary = format!(
                "stopped at the first failure ({} of {} hosts done): {}",
                state.done.len(),
                state.order.len(),
                failures.join("; ")
            );
            return self.complete(fx, index, false, summary);
        }
        if state.pending.is_empty() {
            let summary = format!("{} of {} hosts rolled", state.done.len(), state.order.len());
            return self.complete(fx, index, true, summary);
        }
        let down = self.down_set(state);
        let pending = state.pending.clone();
        let batch = match quorum::next_batch(&pending, r.batch, &self.membership(), &down) {
            Ok(b) => b,
            Err(refusal) => {
                self.refuse(fx, Some(index), refusal.to_string());
                return Flow::Done;
            }
        };
        let confirmed = state.confirmed.clone();
        if let Some(state) = self.rolling_state() {
            state.pending.retain(|h| !batch.contains(h));
            state.pause_until = None;
        }
        for host in batch {
            if let Some(state) = self.rolling_state() {
                state.active.insert(
                    host.clone(),
                    HostRun {
                        rollback: false,
                        sub: 0,
                        stage: HostStage::Probe,
                        failure: None,
                    },
                );
            }
            self.rolling_run_sub(fx, index, visit, &r, &host, confirmed.as_ref());
        }
        self.rolling_after_change(fx, index, visit)
    }

    /// Runs the host's current sub-step (or its gate, or finishes it).
    pub(super) fn rolling_run_sub(
        &mut self,
        fx: &mut Fx,
        index: usize,
        visit: u32,
        r: &Rolling,
        host: &str,
        confirmed: Option<&Confirmed>,
    ) {
        let Some(run) = self
            .rolling_state()
            .and_then(|s| s.active.get(host).cloned())
        else {
            return;
        };
        let list = if run.rollback { &r.rollback } else { &r.each };
        let Some(sub) = list.get(run.sub) else {
            if run.rollback {
                // Rollback finished: the host stays failed, the rollout stops.
                let reason = run.failure.clone().unwrap_or_default();
                self.rolling_host_failed_final(fx, index, host, format!("{reason}; rolled back"));
            } else {
                let deadline = self.now + self.dur(&r.gate.timeout);
                if let Some(state) = self.rolling_state()
                    && let Some(h) = state.active.get_mut(host)
                {
                    h.stage = HostStage::Gate {
                        deadline,
                        baseline: None,
                        next_at: None,
                        last: "waiting for the first probe".to_owned(),
                    };
                }
                self.rolling_probe_gate(fx, index, host);
            }
            return;
        };
        match &sub.kind {
            SubKind::Action {
                command, timeout, ..
            }
            | SubKind::Check {
                probe: Probe::Command(command),
                timeout,
                ..
            } => {
                let rendered = self.with_env(|env| env.command(host, command));
                let id = rendered.and_then(|c| {
                    self.emit_exec(
                        fx,
                        index,
                        visit,
                        host,
                        Purpose::Sub {
                            rollback: run.rollback,
                            sub: run.sub,
                        },
                        c,
                        self.dur_opt(timeout),
                        confirmed,
                    )
                });
                match id {
                    Ok(id) => {
                        if let Some(state) = self.rolling_state()
                            && let Some(h) = state.active.get_mut(host)
                        {
                            h.stage = HostStage::Exec(id.0);
                        }
                    }
                    Err(e) => self.rolling_sub_failed(fx, index, visit, r, host, e, confirmed),
                }
            }
            SubKind::Check {
                probe: Probe::Reconnect { port, .. },
                timeout,
                ..
            } => {
                let id = self.reconnect_rendered(port).and_then(|(port, rendered)| {
                    self.emit_via(
                        fx,
                        index,
                        visit,
                        host,
                        Purpose::Sub {
                            rollback: run.rollback,
                            sub: run.sub,
                        },
                        rendered,
                        self.dur_opt(timeout),
                        confirmed,
                        Via::Fresh(port),
                    )
                });
                match id {
                    Ok(id) => {
                        if let Some(state) = self.rolling_state()
                            && let Some(h) = state.active.get_mut(host)
                        {
                            h.stage = HostStage::Exec(id.0);
                        }
                    }
                    Err(e) => self.rolling_sub_failed(fx, index, visit, r, host, e, confirmed),
                }
            }
            SubKind::Check { probe, .. } => {
                if let Some(state) = self.rolling_state()
                    && let Some(h) = state.active.get_mut(host)
                {
                    h.stage = HostStage::Probe;
                }
                let mut hosts: BTreeSet<String> = BTreeSet::from([host.to_owned()]);
                if matches!(probe, Probe::Synced { .. }) {
                    hosts.extend(self.peers_of(host));
                }
                fx.push(Effect::ProbeHealth {
                    step: self.step_id(index),
                    hosts: hosts.into_iter().collect(),
                });
            }
            SubKind::Wait(d) => {
                let until = self.now + self.dur(d);
                if let Some(state) = self.rolling_state()
                    && let Some(h) = state.active.get_mut(host)
                {
                    h.stage = HostStage::Sleep(until);
                }
                fx.push(Effect::Wait {
                    step: self.step_id(index),
                    until,
                });
            }
        }
    }

    pub(super) fn rolling_probe_gate(&mut self, fx: &mut Fx, index: usize, host: &str) {
        let mut hosts: BTreeSet<String> = BTreeSet::from([host.to_owned()]);
        hosts.extend(self.peers_of(host));
        fx.push(Effect::ProbeHealth {
            step: self.step_id(index),
            hosts: hosts.into_iter().collect(),
        });
    }

    /// A sub-step of `host` failed: start its rollback (or finish it failed).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn rolling_sub_failed(
        &mut self,
        fx: &mut Fx,
        index: usize,
        visit: u32,
        r: &Rolling,
        host: &str,
        reason: String,
        confirmed: Option<&Confirmed>,
    ) {
        let Some(run) = self
            .rolling_state()
            .and_then(|s| s.active.get(host).cloned())
        else {
            return;
        };
        if let Some(state) = self.rolling_state() {
            state.stopping = true;
        }
        if run.rollback {
            let first = run.failure.unwrap_or_default();
            return self.rolling_host_failed_final(
                fx,
                index,
                host,
                format!("{first}; rollback failed too: {reason}"),
            );
        }
        if r.rollback.is_empty() {
            return self.rolling_host_failed_final(
                fx,
                index,
                host,
                format!("{reason}; no rollback defined"),
            );
        }
        let step = self.step_id(index);
        self.audit(fx, AuditAction::Rollback, |e| {
            e.step = Some(step);
            e.target = Some(host.to_owned());
            e.reason = Some(reason.clone());
        });
        if let Some(state) = self.rolling_state()
            && let Some(h) = state.active.get_mut(host)
        {
            h.rollback = true;
            h.sub = 0;
            h.failure = Some(reason);
        }
        self.rolling_run_sub(fx, index, visit, r, host, confirmed);
    }

    pub(super) fn rolling_host_failed_final(
        &mut self,
        fx: &mut Fx,
        index: usize,
        host: &str,
        reason: String,
    ) {
        if let Some(state) = self.rolling_state() {
            state.active.remove(host);
            state.failed.push((host.to_owned(), reason.clone()));
            state.stopping = true;
        }
        if let Some(r) = self.record_mut() {
            r.hosts.insert(host.to_owned(), failed_result(reason));
        }
        let _ = (fx, index);
    }

    pub(super) fn rolling_host_done(
        &mut self,
        fx: &mut Fx,
        index: usize,
        host: &str,
        detail: String,
    ) {
        if let Some(state) = self.rolling_state() {
            state.active.remove(host);
            state.done.push(host.to_owned());
        }
        // The gate just saw it healthy; the guard may count it as up again.
        if let Some(f) = self.health.get_mut(host) {
            f.healthy = true;
            f.reachable = true;
        }
        let step = self.step_id(index);
        self.audit(fx, AuditAction::GatePassed, |e| {
            e.step = Some(step.clone());
            e.target = Some(host.to_owned());
            e.result = Some(detail.clone());
        });
        // Only now, with every sub-step and the gate passed, is a port proven by a new
        // connection the host's port: a host rolled back keeps the inventory as it was.
        for port in self.ports_to_record(index) {
            fx.push(Effect::InventoryPort {
                step: step.clone(),
                host: host.to_owned(),
                port,
            });
        }
        if let Some(r) = self.record_mut() {
            r.hosts.insert(
                host.to_owned(),
                HostResult {
                    passed: true,
                    exit: None,
                    output: String::new(),
                    stderr: String::new(),
                    detail,
                },
            );
        }
    }

    /// The ports the `reconnect` probes with `update_inventory` of rolling step `index` proved.
    fn ports_to_record(&self, index: usize) -> Vec<u16> {
        let Some(r) = self.rolling_def(index) else {
            return Vec::new();
        };
        r.each
            .iter()
            .filter_map(|s| match &s.kind {
                SubKind::Check {
                    probe:
                        Probe::Reconnect {
                            port,
                            update_inventory: true,
                        },
                    ..
                } => self.reconnect_rendered(port).ok().and_then(|(p, _)| p),
                _ => None,
            })
            .collect()
    }

    /// After hosts changed state: start a pause or the next batch once the batch is done.
    pub(super) fn rolling_after_change(&mut self, fx: &mut Fx, index: usize, visit: u32) -> Flow {
        let Some(r) = self.rolling_def(index) else {
            return Flow::Stay;
        };
        let now = self.now;
        let pause = self.dur(&r.pause);
        let Some(state) = self.rolling_state() else {
            return Flow::Stay;
        };
        if !state.active.is_empty() || state.pause_until.is_some() {
            return Flow::Stay;
        }
        let more = !state.pending.is_empty() && !state.stopping && state.failed.is_empty();
        if more && pause > Duration::ZERO && !state.done.is_empty() {
            let until = now + pause;
            state.pause_until = Some(until);
            fx.push(Effect::Wait {
                step: self.step_id(index),
                until,
            });
            return Flow::Stay;
        }
        self.rolling_next_batch(fx, index, visit)
    }

    pub(super) fn rolling_exec_done(
        &mut self,
        fx: &mut Fx,
        host: &str,
        rollback: bool,
        sub: usize,
        id: ExecId,
        result: &ExecResult,
    ) -> Flow {
        let Phase::Step { index, visit, .. } = &self.phase else {
            return Flow::Stay;
        };
        let (index, visit) = (*index, *visit);
        let Some(r) = self.rolling_def(index) else {
            return Flow::Stay;
        };
        let confirmed = self.rolling_state().and_then(|s| s.confirmed.clone());
        let Some(run) = self
            .rolling_state()
            .and_then(|s| s.active.get(host).cloned())
        else {
            return Flow::Stay;
        };
        if run.stage != HostStage::Exec(id.0) || run.rollback != rollback || run.sub != sub {
            return Flow::Stay;
        }
        let list = if rollback { &r.rollback } else { &r.each };
        let expect = match list.get(sub).map(|s| &s.kind) {
            Some(SubKind::Action { expect, .. } | SubKind::Check { expect, .. }) => expect.clone(),
            _ => Expect::default(),
        };
        let verdict = self.judge_with(&expect, host, result);
        if verdict.passed {
            if let Some(state) = self.rolling_state()
                && let Some(h) = state.active.get_mut(host)
            {
                h.sub += 1;
            }
            self.rolling_run_sub(fx, index, visit, &r, host, confirmed.as_ref());
        } else {
            let name = list.get(sub).map_or("?", |s| s.id.as_str());
            self.rolling_sub_failed(
                fx,
                index,
                visit,
                &r,
                host,
                format!("sub-step `{name}`: {}", verdict.detail),
                confirmed.as_ref(),
            );
        }
        self.rolling_after_change(fx, index, visit)
    }

    pub(super) fn gate_verdict(
        &self,
        r: &Rolling,
        host: &str,
        fact: &HealthFact,
        baseline: Option<u64>,
    ) -> (Option<bool>, String, Option<u64>) {
        // (Some(true) = passed, None = not yet), detail, new baseline
        if !fact.reachable {
            return (None, "unreachable".to_owned(), baseline);
        }
        if let Some(svc) = &r.gate.service {
            let svc = self.with_env(|env| env.display(svc));
            match fact.services.get(&svc) {
                Some(ServiceState::Running) => {}
                Some(state) => {
                    return (
                        None,
                        format!("{svc} is {}", service_state_str(*state)),
                        baseline,
                    );
                }
                None => return (None, format!("no service {svc:?}"), baseline),
            }
        } else if !fact.healthy {
            return (None, "not healthy yet".to_owned(), baseline);
        }
        if !r.gate.chain || !self.has_chain(host) {
            return (Some(true), "healthy".to_owned(), baseline);
        }
        let Some(height) = fact.height else {
            return (None, "no chain height yet".to_owned(), baseline);
        };
        let Some(base) = baseline else {
            return (
                None,
                format!("height {height}, waiting for it to advance"),
                Some(height),
            );
        };
        if height <= base {
            return (
                None,
                format!("height {height} has not advanced from {base}"),
                baseline,
            );
        }
        let max = r.gate.max_lag.unwrap_or(self.height_lag);
        let best = self.best_height(host).unwrap_or(height).max(height);
        let lag = best - height;
        if lag > max {
            return (
                None,
                format!("height {height} is {lag} behind the group's best {best} (max {max})"),
                baseline,
            );
        }
        (
            Some(true),
            format!("height {height} advancing, {lag} behind the best {best}"),
            baseline,
        )
    }

    pub(super) fn rolling_health(
        &mut self,
        fx: &mut Fx,
        index: usize,
        facts: &BTreeMap<String, HealthFact>,
    ) -> Flow {
        let Phase::Step { visit, .. } = &self.phase else {
            return Flow::Stay;
        };
        let visit = *visit;
        let Some(r) = self.rolling_def(index) else {
            return Flow::Stay;
        };
        let confirmed = self.rolling_state().and_then(|s| s.confirmed.clone());
        let active: Vec<(String, HostRun)> = self
            .rolling_state()
            .map(|s| {
                s.active
                    .iter()
                    .map(|(h, r)| (h.clone(), r.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for (host, run) in active {
            let Some(fact) = facts.get(&host) else {
                continue;
            };
            match run.stage {
                HostStage::Probe => {
                    let list = if run.rollback { &r.rollback } else { &r.each };
                    let Some(SubKind::Check { probe, .. }) = list.get(run.sub).map(|s| &s.kind)
                    else {
                        continue;
                    };
                    let v = self.probe_verdict(probe, &host, fact);
                    if v.passed {
                        if let Some(state) = self.rolling_state()
                            && let Some(h) = state.active.get_mut(&host)
                        {
                            h.sub += 1;
                        }
                        self.rolling_run_sub(fx, index, visit, &r, &host, confirmed.as_ref());
                    } else {
                        let name = list.get(run.sub).map_or("?", |s| s.id.as_str()).to_owned();
                        self.rolling_sub_failed(
                            fx,
                            index,
                            visit,
                            &r,
                            &host,
                            format!("sub-step `{name}`: {}", v.detail),
                            confirmed.as_ref(),
                        );
                    }
                }
                HostStage::Gate {
                    deadline,
                    baseline,
                    next_at: None,
                    ..
                } => {
                    let (passed, detail, baseline) = self.gate_verdict(&r, &host, fact, baseline);
                    if passed == Some(true) {
                        self.rolling_host_done(fx, index, &host, detail);
                    } else if self.now >= deadline {
                        self.gate_failed(fx, index, visit, &r, &host, detail, confirmed.as_ref());
                    } else {
                        let next = (self.now + self.dur(&r.gate.interval)).min(deadline);
                        if let Some(state) = self.rolling_state()
                            && let Some(h) = state.active.get_mut(&host)
                        {
                            h.stage = HostStage::Gate {
                                deadline,
                                baseline,
                                next_at: Some(next),
                                last: detail,
                            };
                        }
                        fx.push(Effect::Wait {
                            step: self.step_id(index),
                            until: next,
                        });
                    }
                }
                _ => {}
            }
        }
        self.rolling_after_change(fx, index, visit)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn gate_failed(
        &mut self,
        fx: &mut Fx,
        index: usize,
        visit: u32,
        r: &Rolling,
        host: &str,
        detail: String,
        confirmed: Option<&Confirmed>,
    ) {
        let step = self.step_id(index);
        let reason = format!(
            "health gate not passed within {}: {detail}",
            humantime::format_duration(self.dur(&r.gate.timeout))
        );
        self.audit(fx, AuditAction::GateFailed, |e| {
            e.step = Some(step);
            e.target = Some(host.to_owned());
            e.reason = Some(reason.clone());
        });
        // The gate runs after the last `each` sub-step; failing it rolls the host back.
        if let Some(state) = self.rolling_state()
            && let Some(h) = state.active.get_mut(host)
        {
            h.stage = HostStage::Probe;
        }
        self.rolling_sub_failed(fx, index, visit, r, host, reason, confirmed);
    }

    pub(super) fn rolling_tick(&mut self, fx: &mut Fx, index: usize, visit: u32) -> Flow {
        let now = self.now;
        let Some(r) = self.rolling_def(index) else {
            return Flow::Stay;
        };
        let confirmed = self.rolling_state().and_then(|s| s.confirmed.clone());
        let Some(state) = self.rolling_state() else {
            return Flow::Stay;
        };
        if let Some(until) = state.pause_until
            && now >= until
        {
            state.pause_until = None;
            return self.rolling_next_batch(fx, index, visit);
        }
        let active: Vec<(String, HostRun)> = state
            .active
            .iter()
            .map(|(h, r)| (h.clone(), r.clone()))
            .collect();
        for (host, run) in active {
            match run.stage {
                HostStage::Sleep(until) if now >= until => {
                    if let Some(state) = self.rolling_state()
                        && let Some(h) = state.active.get_mut(&host)
                    {
                        h.sub += 1;
                    }
                    self.rolling_run_sub(fx, index, visit, &r, &host, confirmed.as_ref());
                }
                HostStage::Gate {
                    deadline,
                    baseline,
                    next_at: Some(at),
                    last,
                } if now >= at => {
                    if now >= deadline {
                        self.gate_failed(fx, index, visit, &r, &host, last, confirmed.as_ref());
                    } else {
                        if let Some(state) = self.rolling_state()
                            && let Some(h) = state.active.get_mut(&host)
                        {
                            h.stage = HostStage::Gate {
                                deadline,
                                baseline,
                                next_at: None,
                                last,
                            };
                        }
                        self.rolling_probe_gate(fx, index, &host);
                    }
                }
                _ => {}
            }
        }
        self.rolling_after_change(fx, index, visit)
    }
}

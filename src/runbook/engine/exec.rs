//! Commands on hosts and their results: starting an attempt of a check, action or wait on
//! each host, emitting each exec after its audit record, judging results (commands by their
//! [`crate::runbook::Expect`], built-in probes by the health facts), and settling an attempt
//! into a passed or failed step.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::Run;
use super::questions::{Confirmed, expected_text, host_phrase};
use super::state::{Attempt, ExecSlot, Flow, Fx, Phase, Poll, Purpose, StepState};
use super::types::{Effect, ExecId, HealthFact, HostResult, ServiceState};
use crate::audit::AuditAction;
use crate::runbook::expect::{ExecResult, Verdict, judge};
use crate::runbook::template::Rendered;
use crate::runbook::{
    Action, Check, Dur, Expect, HostSel, Probe, RECONNECT_COMMAND, StepKind, Wait,
};

/// Which connection a command goes over.
#[derive(Debug, Clone, Copy)]
pub(super) enum Via {
    /// The host's pooled connection.
    Pooled,
    /// A new connection, on this port (`None`: the host's own).
    Fresh(Option<u16>),
}

/// Output kept per host and step (the rest is dropped, marked with `…`).
pub(super) const MAX_KEPT_OUTPUT: usize = 64 * 1024;

pub(super) fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

pub(super) fn service_state_str(state: ServiceState) -> &'static str {
    match state {
        ServiceState::Running => "running",
        ServiceState::Stopped => "stopped",
        ServiceState::Failed => "failed",
        ServiceState::Unknown => "in an unknown state",
    }
}

pub(super) fn failed_result(detail: String) -> HostResult {
    HostResult {
        passed: false,
        exit: None,
        output: String::new(),
        stderr: String::new(),
        detail,
    }
}

pub(super) fn host_result(result: &ExecResult, verdict: Verdict) -> HostResult {
    HostResult {
        passed: verdict.passed,
        exit: result.exit,
        output: clip(&result.stdout, MAX_KEPT_OUTPUT),
        stderr: clip(&result.stderr, MAX_KEPT_OUTPUT / 16),
        detail: verdict.detail,
    }
}

pub(super) fn summarize(results: &BTreeMap<String, HostResult>) -> String {
    let failed: Vec<String> = results
        .iter()
        .filter(|(_, r)| !r.passed)
        .map(|(h, r)| format!("{h}: {}", r.detail))
        .collect();
    if failed.is_empty() {
        let details: BTreeSet<&str> = results.values().map(|r| r.detail.as_str()).collect();
        match (results.len(), details.len()) {
            (1, _) => results
                .values()
                .next()
                .map_or_else(String::new, |r| r.detail.clone()),
            (n, 1) => format!(
                "passed on {n} hosts ({})",
                details.iter().next().unwrap_or(&"")
            ),
            (n, _) => format!("passed on {n} hosts"),
        }
    } else {
        format!(
            "failed on {} of {} host{}: {}",
            failed.len(),
            results.len(),
            if results.len() == 1 { "" } else { "s" },
            failed.join("; ")
        )
    }
}

impl Run {
    /// A check step: run its probe on its hosts and judge each result.
    pub(super) fn enter_check(&mut self, fx: &mut Fx, index: usize, visit: u32, c: &Check) -> Flow {
        let hosts = self.with_env(|env| env.hosts_for(&c.on));
        let attempt =
            self.start_attempt(fx, index, visit, &hosts, &c.probe, self.dur_opt(&c.timeout));
        self.set_state(
            index,
            visit,
            StepState::Attempt {
                attempt,
                poll: None,
            },
        );
        self.settle_attempt(fx)
    }

    /// An action step: render its command per host; a dangerous one asks for the typed
    /// confirmation first (the exec comes only after it), a safe one runs now.
    pub(super) fn enter_action(
        &mut self,
        fx: &mut Fx,
        index: usize,
        visit: u32,
        a: &Action,
        title: String,
    ) -> Flow {
        let hosts = self.with_env(|env| env.hosts_for(&a.on));
        if hosts.is_empty() {
            return self.complete(fx, index, false, "no hosts to run on".to_owned());
        }
        let rendered: Vec<(String, Result<Rendered, String>)> = self.with_env(|env| {
            hosts
                .iter()
                .map(|h| (h.clone(), env.command(h, &a.command)))
                .collect()
        });
        if let Some((h, Err(e))) = rendered.iter().find(|(_, r)| r.is_err()) {
            return self.complete(fx, index, false, format!("{h}: {e}"));
        }
        if a.dangerous {
            let commands: Vec<(String, String)> = rendered
                .into_iter()
                .filter_map(|(h, r)| r.ok().map(|r| (h, r.display)))
                .collect();
            let expected = expected_text(&hosts);
            let summary = format!(
                "{} on {}: {}",
                title,
                host_phrase(&hosts),
                commands.first().map_or("", |(_, c)| c.as_str())
            );
            return self.ask_confirm(fx, index, visit, hosts, expected, summary, commands, None);
        }
        let attempt = self.start_attempt(
            fx,
            index,
            visit,
            &hosts,
            &Probe::Command(a.command.clone()),
            self.dur_opt(&a.timeout),
        );
        self.set_state(
            index,
            visit,
            StepState::Attempt {
                attempt,
                poll: None,
            },
        );
        self.settle_attempt(fx)
    }

    /// A wait-until step: the first try of its probe now, then polls until it passes or the
    /// timeout runs out.
    pub(super) fn enter_wait_until(
        &mut self,
        fx: &mut Fx,
        index: usize,
        visit: u32,
        on: &HostSel,
        probe: &Probe,
        timeout: &Dur,
    ) -> Flow {
        let hosts = self.with_env(|env| env.hosts_for(on));
        let attempt = self.start_attempt(fx, index, visit, &hosts, probe, None);
        let deadline = self.now + self.dur(timeout);
        self.set_state(
            index,
            visit,
            StepState::Attempt {
                attempt,
                poll: Some(Poll {
                    deadline,
                    next_at: None,
                    tries: 1,
                }),
            },
        );
        self.settle_attempt(fx)
    }

    pub(super) fn start_attempt(
        &mut self,
        fx: &mut Fx,
        index: usize,
        visit: u32,
        hosts: &[String],
        probe: &Probe,
        timeout: Option<Duration>,
    ) -> Attempt {
        let mut attempt = Attempt {
            pending: BTreeSet::new(),
            execs: BTreeMap::new(),
            results: BTreeMap::new(),
        };
        match probe {
            Probe::Command(cmd) => {
                for host in hosts {
                    match self.with_env(|env| env.command(host, cmd)) {
                        Err(e) => {
                            attempt.results.insert(host.clone(), failed_result(e));
                        }
                        Ok(rendered) => {
                            match self.emit_exec(
                                fx,
                                index,
                                visit,
                                host,
                                Purpose::Step,
                                rendered,
                                timeout,
                                None,
                            ) {
                                Ok(id) => {
                                    attempt.pending.insert(host.clone());
                                    attempt.execs.insert(id.0, host.clone());
                                }
                                Err(e) => {
                                    attempt.results.insert(host.clone(), failed_result(e));
                                }
                            }
                        }
                    }
                }
            }
            Probe::Reconnect { port, .. } => {
                for host in hosts {
                    let emitted = self.reconnect_rendered(port).and_then(|(port, rendered)| {
                        self.emit_via(
                            fx,
                            index,
                            visit,
                            host,
                            Purpose::Step,
                            rendered,
                            timeout,
                            None,
                            Via::Fresh(port),
                        )
                    });
                    match emitted {
                        Ok(id) => {
                            attempt.pending.insert(host.clone());
                            attempt.execs.insert(id.0, host.clone());
                        }
                        Err(e) => {
                            attempt.results.insert(host.clone(), failed_result(e));
                        }
                    }
                }
            }
            _ => {
                if !hosts.is_empty() {
                    attempt.pending.extend(hosts.iter().cloned());
                    let mut ask: BTreeSet<String> = hosts.iter().cloned().collect();
                    if matches!(probe, Probe::Synced { .. }) {
                        for h in hosts {
                            ask.extend(self.peers_of(h));
                        }
                    }
                    fx.push(Effect::ProbeHealth {
                        step: self.step_id(index),
                        hosts: ask.into_iter().collect(),
                    });
                }
            }
        }
        attempt
    }

    /// The single place that emits [`Effect::Exec`]. A command of a dangerous step (a
    /// dangerous action, or any command of a rolling step with a dangerous sub-step) needs the
    /// [`Confirmed`] token of this very visit; without it nothing is emitted.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit_exec(
        &mut self,
        fx: &mut Fx,
        index: usize,
        visit: u32,
        host: &str,
        purpose: Purpose,
        rendered: Rendered,
        timeout: Option<Duration>,
        confirmed: Option<&Confirmed>,
    ) -> Result<ExecId, String> {
        self.emit_via(
            fx,
            index,
            visit,
            host,
            purpose,
            rendered,
            timeout,
            confirmed,
            Via::Pooled,
        )
    }

    /// The port and command of a `reconnect` probe: the port template rendered (empty = the
    /// host's own port) and checked, the fixed command, and what the audit record shows.
    pub(super) fn reconnect_rendered(
        &self,
        port: &Option<String>,
    ) -> Result<(Option<u16>, Rendered), String> {
        let text = port
            .as_ref()
            .map(|p| self.with_env(|env| env.display(p)))
            .unwrap_or_default();
        let text = text.trim();
        let port = if text.is_empty() {
            None
        } else {
            match text.parse::<u16>() {
                Ok(p) if p > 0 => Some(p),
                _ => return Err(format!("port {text:?} is not a TCP port (1-65535)")),
            }
        };
        let display = match port {
            Some(p) => format!("(new SSH connection, port {p}) {RECONNECT_COMMAND}"),
            None => format!("(new SSH connection) {RECONNECT_COMMAND}"),
        };
        Ok((
            port,
            Rendered {
                real: RECONNECT_COMMAND.to_owned(),
                display,
            },
        ))
    }

    /// [`Run::emit_exec`] over the chosen connection: the pooled one ([`Effect::Exec`]) or a
    /// new one ([`Effect::Reconnect`]). Same guard, same record first.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit_via(
        &mut self,
        fx: &mut Fx,
        index: usize,
        visit: u32,
        host: &str,
        purpose: Purpose,
        rendered: Rendered,
        timeout: Option<Duration>,
        confirmed: Option<&Confirmed>,
        via: Via,
    ) -> Result<ExecId, String> {
        let step = &self.runbook.steps[index];
        if step.is_dangerous() {
            let ok = confirmed.is_some_and(|c| c.covers(index, visit));
            if !ok {
                return Err(format!(
                    "refusing to run a command of dangerous step `{}` without its typed \
                     confirmation",
                    step.id
                ));
            }
        }
        let label = match (&purpose, &step.kind) {
            (Purpose::Sub { rollback, sub }, StepKind::Rolling(r)) => {
                let list = if *rollback { &r.rollback } else { &r.each };
                match list.get(*sub) {
                    Some(s) if *rollback => format!("{}.rollback.{}", step.id, s.id),
                    Some(s) => format!("{}.{}", step.id, s.id),
                    None => step.id.clone(),
                }
            }
            _ => step.id.clone(),
        };
        let id = ExecId(self.next_exec);
        self.next_exec += 1;
        self.audit(fx, AuditAction::Exec, |e| {
            e.exec = Some(id);
            e.step = Some(label.clone());
            e.target = Some(host.to_owned());
            e.command = Some(rendered.display.clone());
        });
        fx.push(match via {
            Via::Pooled => Effect::Exec {
                id,
                step: label,
                host: host.to_owned(),
                command: rendered.real,
                display: rendered.display.clone(),
                timeout,
            },
            Via::Fresh(port) => Effect::Reconnect {
                id,
                step: label,
                host: host.to_owned(),
                port,
                command: rendered.real,
                display: rendered.display.clone(),
                timeout,
            },
        });
        self.execs.insert(
            id.0,
            ExecSlot {
                index,
                visit,
                host: host.to_owned(),
                purpose,
                display: rendered.display,
            },
        );
        Ok(id)
    }

    /// Finishes the current attempt if every host has reported.
    pub(super) fn settle_attempt(&mut self, fx: &mut Fx) -> Flow {
        let Phase::Step {
            index,
            state: StepState::Attempt { attempt, poll },
            ..
        } = &self.phase
        else {
            return Flow::Stay;
        };
        if !attempt.pending.is_empty() {
            return Flow::Stay;
        }
        let index = *index;
        let results = attempt.results.clone();
        let poll = poll.clone();
        if let Some(r) = self.record_mut() {
            r.hosts = results.clone();
        }
        let failed: Vec<&String> = results
            .iter()
            .filter(|(_, r)| !r.passed)
            .map(|(h, _)| h)
            .collect();
        let passed = failed.is_empty() && !results.is_empty();
        let summary = summarize(&results);
        match poll {
            Some(mut poll) if !passed => {
                if self.now >= poll.deadline {
                    let timeout = match &self.runbook.steps[index].kind {
                        StepKind::Wait(Wait::Until { timeout, .. }) => self.dur(timeout),
                        _ => Duration::ZERO,
                    };
                    return self.complete(
                        fx,
                        index,
                        false,
                        format!(
                            "still failing after {} ({} tries): {summary}",
                            humantime::format_duration(timeout),
                            poll.tries
                        ),
                    );
                }
                let interval = match &self.runbook.steps[index].kind {
                    StepKind::Wait(Wait::Until { interval, .. }) => self.dur(interval),
                    _ => Duration::from_secs(5),
                };
                let next = (self.now + interval).min(poll.deadline);
                poll.next_at = Some(next);
                fx.push(Effect::Wait {
                    step: self.step_id(index),
                    until: next,
                });
                if let Phase::Step { state, .. } = &mut self.phase {
                    *state = StepState::Attempt {
                        attempt: Attempt {
                            pending: BTreeSet::new(),
                            execs: BTreeMap::new(),
                            results,
                        },
                        poll: Some(poll),
                    };
                }
                Flow::Stay
            }
            _ => {
                let summary = if results.is_empty() {
                    "no hosts to run on".to_owned()
                } else {
                    summary
                };
                self.complete(fx, index, passed, summary)
            }
        }
    }

    pub(super) fn on_exec(&mut self, fx: &mut Fx, id: ExecId, result: ExecResult) {
        let Some(slot) = self.execs.remove(&id.0) else {
            return self.ignored(fx, format!("no command with id {} is running", id.0));
        };
        let masked = ExecResult {
            stdout: self.mask(&result.stdout),
            stderr: self.mask(&result.stderr),
            error: result.error.as_ref().map(|e| self.mask(e)),
            ..result.clone()
        };
        let result_text = match (&masked.error, masked.exit) {
            (Some(e), _) => format!("error: {e}"),
            (None, Some(code)) => format!("exit {code}"),
            (None, None) => "no exit status".to_owned(),
        };
        let step_label = self.step_label(&slot);
        let current = matches!(&self.phase, Phase::Step { index, visit, .. }
            if *index == slot.index && *visit == slot.visit);
        self.audit(fx, AuditAction::ExecResult, |e| {
            e.exec = Some(id);
            e.step = Some(step_label);
            e.target = Some(slot.host.clone());
            e.command = Some(slot.display.clone());
            e.result = Some(result_text);
            e.duration_ms = result.duration_ms;
            if !current {
                e.reason = Some("arrived after the step was left".to_owned());
            }
        });
        if !current {
            return;
        }
        match slot.purpose {
            Purpose::Step => {
                let verdict = self.judge_step(slot.index, &slot.host, &masked);
                if let Phase::Step {
                    state: StepState::Attempt { attempt, .. },
                    ..
                } = &mut self.phase
                {
                    attempt.pending.remove(&slot.host);
                    attempt.execs.remove(&id.0);
                    attempt
                        .results
                        .insert(slot.host.clone(), host_result(&masked, verdict));
                }
                let flow = self.settle_attempt(fx);
                self.drive(fx, flow);
            }
            Purpose::Sub { rollback, sub } => {
                let flow = self.rolling_exec_done(fx, &slot.host, rollback, sub, id, &masked);
                self.drive(fx, flow);
            }
        }
    }

    pub(super) fn step_label(&self, slot: &ExecSlot) -> String {
        let Some(step) = self.runbook.steps.get(slot.index) else {
            return String::new();
        };
        match (&slot.purpose, &step.kind) {
            (Purpose::Sub { rollback, sub }, StepKind::Rolling(r)) => {
                let list = if *rollback { &r.rollback } else { &r.each };
                match list.get(*sub) {
                    Some(s) if *rollback => format!("{}.rollback.{}", step.id, s.id),
                    Some(s) => format!("{}.{}", step.id, s.id),
                    None => step.id.clone(),
                }
            }
            _ => step.id.clone(),
        }
    }

    pub(super) fn judge_step(&self, index: usize, host: &str, result: &ExecResult) -> Verdict {
        let expect = match &self.runbook.steps[index].kind {
            StepKind::Check(c) => c.expect.clone(),
            StepKind::Action(a) => a.expect.clone(),
            StepKind::Wait(Wait::Until { expect, .. }) => expect.clone(),
            _ => Expect::default(),
        };
        self.judge_with(&expect, host, result)
    }

    pub(super) fn judge_with(&self, expect: &Expect, host: &str, result: &ExecResult) -> Verdict {
        let rendered = self.with_env(|env| {
            let r = expect
                .regex
                .as_ref()
                .map(|r| env.regex(host, r))
                .transpose()?;
            let n = expect
                .not_regex
                .as_ref()
                .map(|r| env.regex(host, r))
                .transpose()?;
            Ok::<_, String>((r, n))
        });
        match rendered {
            Err(e) => Verdict {
                passed: false,
                detail: e,
            },
            Ok((r, n)) => judge(expect, r.as_deref(), n.as_deref(), result),
        }
    }

    pub(super) fn peers_of(&self, host: &str) -> Vec<String> {
        let group = self
            .fleet
            .iter()
            .find(|h| h.name == host)
            .and_then(|h| h.consensus_group.clone());
        match group {
            Some(g) => self
                .fleet
                .iter()
                .filter(|h| h.consensus_group.as_deref() == Some(g.as_str()) && h.name != host)
                .map(|h| h.name.clone())
                .collect(),
            None => self
                .targets
                .iter()
                .filter(|t| *t != host)
                .cloned()
                .collect(),
        }
    }

    pub(super) fn has_chain(&self, host: &str) -> bool {
        self.fleet.iter().any(|h| h.name == host && h.chain)
    }

    /// The best height known among `host` and its peers.
    pub(super) fn best_height(&self, host: &str) -> Option<u64> {
        self.peers_of(host)
            .iter()
            .chain(std::iter::once(&host.to_owned()))
            .filter_map(|h| self.health.get(h).and_then(|f| f.height))
            .max()
    }

    pub(super) fn probe_verdict(&self, probe: &Probe, host: &str, fact: &HealthFact) -> Verdict {
        if !fact.reachable {
            return Verdict {
                passed: false,
                detail: "unreachable".to_owned(),
            };
        }
        match probe {
            Probe::Service(name) => {
                let name = self.with_env(|env| env.display(name));
                match fact.services.get(&name) {
                    Some(ServiceState::Running) => Verdict {
                        passed: true,
                        detail: format!("{name} is running"),
                    },
                    Some(state) => Verdict {
                        passed: false,
                        detail: format!("{name} is {}", service_state_str(*state)),
                    },
                    None => Verdict {
                        passed: false,
                        detail: format!("no service {name:?} on this host"),
                    },
                }
            }
            Probe::Healthy => Verdict {
                passed: fact.healthy,
                detail: if fact.healthy {
                    "healthy".to_owned()
                } else {
                    "not healthy".to_owned()
                },
            },
            Probe::Synced { .. } if !self.has_chain(host) => Verdict {
                passed: true,
                detail: "no chain node on this host".to_owned(),
            },
            Probe::Synced { max_lag } => {
                let lag_max = max_lag.unwrap_or(self.height_lag);
                match (fact.height, self.best_height(host)) {
                    (Some(h), Some(best)) => {
                        let lag = best.saturating_sub(h);
                        Verdict {
                            passed: lag <= lag_max,
                            detail: format!(
                                "height {h}, {lag} behind the best {best} (max {lag_max})"
                            ),
                        }
                    }
                    _ => Verdict {
                        passed: false,
                        detail: "no chain height".to_owned(),
                    },
                }
            }
            Probe::Command(_) | Probe::Reconnect { .. } => Verdict {
                passed: false,
                detail: "not a probe".to_owned(),
            },
        }
    }

    pub(super) fn on_health(&mut self, fx: &mut Fx, facts: BTreeMap<String, HealthFact>) {
        for (host, fact) in &facts {
            self.health.insert(host.clone(), fact.clone());
        }
        let Phase::Step { index, state, .. } = &self.phase else {
            return;
        };
        let index = *index;
        match state {
            StepState::Attempt { attempt, .. } => {
                let probe = match &self.runbook.steps[index].kind {
                    StepKind::Check(c) => c.probe.clone(),
                    StepKind::Wait(Wait::Until { probe, .. }) => probe.clone(),
                    _ => return,
                };
                if matches!(probe, Probe::Command(_) | Probe::Reconnect { .. }) {
                    return;
                }
                let ready: Vec<String> = attempt
                    .pending
                    .iter()
                    .filter(|h| facts.contains_key(*h))
                    .cloned()
                    .collect();
                let verdicts: Vec<(String, Verdict)> = ready
                    .iter()
                    .map(|h| (h.clone(), self.probe_verdict(&probe, h, &facts[h])))
                    .collect();
                if let Phase::Step {
                    state: StepState::Attempt { attempt, .. },
                    ..
                } = &mut self.phase
                {
                    for (h, v) in verdicts {
                        attempt.pending.remove(&h);
                        attempt.results.insert(
                            h,
                            HostResult {
                                passed: v.passed,
                                exit: None,
                                output: String::new(),
                                stderr: String::new(),
                                detail: v.detail,
                            },
                        );
                    }
                }
                let flow = self.settle_attempt(fx);
                self.drive(fx, flow);
            }
            StepState::Rolling(_) => {
                let flow = self.rolling_health(fx, index, &facts);
                self.drive(fx, flow);
            }
            _ => {}
        }
    }
}

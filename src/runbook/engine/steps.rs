//! Walking the steps: entering a step (one function per step kind, most of them in the room of
//! their concern), completing it and following `next` / `on_fail`, refusals, the end of a run,
//! and writing audit records. Notify steps live here too (one request, one answer).

use std::collections::BTreeMap;

use super::Run;
use super::state::{Flow, Fx, Phase, StepState};
use super::types::{AuditEntry, Effect, Outcome, OutcomeKind, StepRecord, StepStatus, entry};
use crate::audit::AuditAction;
use crate::runbook::{End, EndOutcome, FailTo, Notify, StepKind, Wait};

impl Run {
    pub(super) fn audit(&self, fx: &mut Fx, action: AuditAction, f: impl FnOnce(&mut AuditEntry)) {
        let mut e = entry(&self.runbook.name, action);
        f(&mut e);
        fx.push(Effect::Audit(e));
    }

    pub(super) fn record_mut(&mut self) -> Option<&mut StepRecord> {
        self.records.last_mut()
    }

    pub(super) fn step_id(&self, index: usize) -> String {
        self.runbook
            .steps
            .get(index)
            .map_or_else(String::new, |s| s.id.clone())
    }

    pub(super) fn refuse(&mut self, fx: &mut Fx, index: Option<usize>, reason: String) {
        let step = index.map(|i| self.step_id(i));
        self.audit(fx, AuditAction::Denied, |e| {
            e.step = step.clone();
            e.reason = Some(reason.clone());
        });
        fx.push(Effect::Refused {
            reason: reason.clone(),
        });
        if index.is_some()
            && let Some(r) = self.record_mut()
            && r.status == StepStatus::Running
        {
            r.status = StepStatus::Refused;
            r.summary = reason.clone();
        }
        self.finish(
            fx,
            Outcome {
                kind: OutcomeKind::Refused,
                step,
                message: reason,
                acted: false,
            },
        );
    }

    pub(super) fn finish(&mut self, fx: &mut Fx, mut outcome: Outcome) {
        outcome.acted = self.acted || fx.acted;
        for t in &mut self.timers {
            if !t.stopped {
                t.stopped = true;
                fx.push(Effect::StopTimer {
                    step: t.step.clone(),
                    met: !t.expired,
                });
            }
        }
        let o = outcome.clone();
        self.audit(fx, AuditAction::RunbookFinish, |e| {
            e.step = o.step.clone();
            e.result = Some(o.kind.as_str().to_owned());
            e.reason = Some(o.message.clone());
        });
        fx.push(Effect::Finished {
            outcome: outcome.clone(),
        });
        self.outcome = Some(outcome);
        self.phase = Phase::Finished;
    }

    pub(super) fn ignored(&self, fx: &mut Fx, reason: impl Into<String>) {
        fx.push(Effect::Ignored {
            reason: reason.into(),
        });
    }

    /// Follows flows until the run waits for an event or ends.
    pub(super) fn drive(&mut self, fx: &mut Fx, mut flow: Flow) {
        // A lint-clean runbook cannot loop without waiting; this bound only keeps a broken
        // one from hanging the console.
        let mut budget = self.runbook.steps.len() * 4 + 16;
        loop {
            match flow {
                Flow::Stay | Flow::Done => return,
                Flow::Goto(index) => {
                    if index >= self.runbook.steps.len() {
                        let last = self.records.last().map(|r| r.step.clone());
                        return self.finish(
                            fx,
                            Outcome {
                                kind: OutcomeKind::Success,
                                step: last,
                                message: "all steps done".to_owned(),
                                acted: false,
                            },
                        );
                    }
                    if budget == 0 {
                        let step = Some(self.step_id(index));
                        return self.finish(
                            fx,
                            Outcome {
                                kind: OutcomeKind::Failed,
                                step,
                                message: "the runbook loops without waiting for anything"
                                    .to_owned(),
                                acted: false,
                            },
                        );
                    }
                    budget -= 1;
                    flow = self.enter(fx, index);
                }
            }
        }
    }

    pub(super) fn enter(&mut self, fx: &mut Fx, index: usize) -> Flow {
        let step = self.runbook.steps[index].clone();
        let visit = {
            let v = self.visits.entry(index).or_insert(0);
            *v += 1;
            *v
        };
        let title = self.with_env(|env| env.display(&step.title));
        self.records.push(StepRecord {
            step: step.id.clone(),
            title: title.clone(),
            kind: step.kind_name().to_owned(),
            status: StepStatus::Running,
            hosts: BTreeMap::new(),
            decision: None,
            preselected: None,
            reason: None,
            note: None,
            summary: String::new(),
        });
        self.audit(fx, AuditAction::StepRun, |e| e.step = Some(step.id.clone()));
        fx.push(Effect::StepStarted {
            step: step.id.clone(),
            title: title.clone(),
            kind: step.kind_name().to_owned(),
        });
        if step.is_write() && !self.session.may_write() {
            let why = if self.session.readonly {
                "the console is read-only".to_owned()
            } else {
                format!(
                    "{} is {} (read-only)",
                    self.session.operator,
                    self.session.role.as_str()
                )
            };
            let what = match step.kind {
                StepKind::Notify(_) => "sends a notification",
                _ => "changes hosts",
            };
            self.refuse(
                fx,
                Some(index),
                format!("step `{}` ({}) {what}: {why}", step.id, step.kind_name()),
            );
            return Flow::Done;
        }
        match &step.kind {
            StepKind::Check(c) => self.enter_check(fx, index, visit, c),
            StepKind::Action(a) => self.enter_action(fx, index, visit, a, title),
            StepKind::Choice(c) => self.enter_choice(fx, index, visit, c),
            StepKind::Manual(_) => self.enter_manual(fx, index, visit, title),
            StepKind::Note => self.enter_note(fx, index, visit, title),
            StepKind::Wait(Wait::For(d)) => self.enter_wait_for(fx, index, visit, d),
            StepKind::Wait(Wait::Until {
                on, probe, timeout, ..
            }) => self.enter_wait_until(fx, index, visit, on, probe, timeout),
            StepKind::Timer(t) => self.enter_timer(fx, index, t, title),
            StepKind::Notify(n) => self.enter_notify(fx, index, visit, n),
            StepKind::Rolling(r) => self.enter_rolling(fx, index, visit, r, &title),
            StepKind::End(end) => self.enter_end(fx, index, end, title),
        }
    }

    /// Makes `state` the state of visit `visit` of step `index`.
    pub(super) fn set_state(&mut self, index: usize, visit: u32, state: StepState) {
        self.phase = Phase::Step {
            index,
            visit,
            state,
        };
    }

    /// A notify step: render the request, audit it, ask the executor to post it.
    fn enter_notify(&mut self, fx: &mut Fx, index: usize, visit: u32, n: &Notify) -> Flow {
        let step = self.step_id(index);
        let request = self.with_env(|env| env.notify(n));
        match request {
            Err(e) => self.complete(fx, index, false, e),
            Ok(req) => {
                self.audit(fx, AuditAction::Notify, |e| {
                    e.step = Some(step.clone());
                    e.target = Some(req.display_url.clone());
                    e.command = Some(serde_json::to_string(&req.display_body).unwrap_or_default());
                });
                fx.push(Effect::Notify {
                    step,
                    url: req.url,
                    headers: req.headers,
                    body: req.body,
                    display_url: req.display_url,
                });
                self.set_state(index, visit, StepState::Notifying);
                Flow::Stay
            }
        }
    }

    /// An end step: the run's outcome, from the step or (`auto`) from the steps that failed.
    fn enter_end(&mut self, fx: &mut Fx, index: usize, end: &End, title: String) -> Flow {
        let step = self.runbook.steps[index].clone();
        let failed: Vec<String> = self
            .records
            .iter()
            .filter(|r| r.status == StepStatus::Failed)
            .map(|r| format!("{} ({})", r.step, r.summary))
            .collect();
        let (kind, status) = match end.outcome {
            EndOutcome::Success => (OutcomeKind::Success, StepStatus::Passed),
            EndOutcome::Failure => (OutcomeKind::Failed, StepStatus::Failed),
            EndOutcome::Escalated => (OutcomeKind::Escalated, StepStatus::Passed),
            EndOutcome::Auto if failed.is_empty() => (OutcomeKind::Success, StepStatus::Passed),
            EndOutcome::Auto => (OutcomeKind::Failed, StepStatus::Failed),
        };
        let text = self.with_env(|env| env.display(&step.text));
        let mut message = if text.is_empty() { title } else { text };
        if end.outcome == EndOutcome::Auto && !failed.is_empty() {
            message = format!(
                "{message}: {} step{} failed: {}",
                failed.len(),
                if failed.len() == 1 { "" } else { "s" },
                failed.join("; ")
            );
        }
        if let Some(r) = self.record_mut() {
            r.status = status;
            r.summary = message.clone();
        }
        self.stop_timers_until(fx, &step.id);
        self.finish(
            fx,
            Outcome {
                kind,
                step: Some(step.id.clone()),
                message,
                acted: false,
            },
        );
        Flow::Done
    }

    /// Ends the current step as passed or failed and says where to go.
    pub(super) fn complete(
        &mut self,
        fx: &mut Fx,
        index: usize,
        passed: bool,
        summary: String,
    ) -> Flow {
        let step = self.runbook.steps[index].clone();
        let status = if passed {
            StepStatus::Passed
        } else {
            StepStatus::Failed
        };
        if let Some(r) = self.record_mut() {
            r.status = status;
            r.summary = summary.clone();
        }
        self.audit(fx, AuditAction::StepResult, |e| {
            e.step = Some(step.id.clone());
            e.result = Some(status.as_str().to_owned());
            e.reason = Some(summary.clone());
        });
        fx.push(Effect::StepFinished {
            step: step.id.clone(),
            status,
            summary: summary.clone(),
        });
        self.stop_timers_until(fx, &step.id);
        self.phase = Phase::Finished;
        let success = || match &step.next {
            Some(id) => self.runbook.step(id).map_or(index + 1, |(j, _)| j),
            None => index + 1,
        };
        if passed {
            return Flow::Goto(success());
        }
        let on_fail = match &step.kind {
            StepKind::Check(c) => c.on_fail.clone(),
            StepKind::Action(a) => a.on_fail.clone(),
            StepKind::Wait(Wait::Until { on_fail, .. }) => on_fail.clone(),
            StepKind::Notify(n) => n.on_fail.clone(),
            StepKind::Rolling(r) => r.on_fail.clone(),
            _ => FailTo::Stop,
        };
        match on_fail {
            FailTo::Next => Flow::Goto(index + 1),
            FailTo::Step(id) => Flow::Goto(self.runbook.step(&id).map_or(index + 1, |(j, _)| j)),
            FailTo::Stop => {
                self.finish(
                    fx,
                    Outcome {
                        kind: OutcomeKind::Failed,
                        step: Some(step.id.clone()),
                        message: format!("step `{}` failed: {summary}", step.id),
                        acted: false,
                    },
                );
                Flow::Done
            }
        }
    }

    pub(super) fn on_notified(&mut self, fx: &mut Fx, step: String, result: Result<u16, String>) {
        let Phase::Step {
            index,
            state: StepState::Notifying,
            ..
        } = &self.phase
        else {
            return self.ignored(fx, "no notification is in flight");
        };
        let index = *index;
        if self.step_id(index) != step {
            return self.ignored(fx, format!("step `{step}` is not notifying"));
        }
        let (passed, text) = match &result {
            Ok(code) if (200..300).contains(code) => (true, format!("HTTP {code}")),
            Ok(code) => (false, format!("HTTP {code}")),
            Err(e) => (false, format!("error: {}", self.mask(e))),
        };
        self.audit(fx, AuditAction::NotifyResult, |e| {
            e.step = Some(step.clone());
            e.result = Some(text.clone());
        });
        let flow = self.complete(fx, index, passed, text);
        self.drive(fx, flow);
    }
}

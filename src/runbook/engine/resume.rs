//! Stopping and going on: an interruption suspends the run (what was in flight becomes
//! *unknown*), a resume in a new session re-checks roles, asks secrets again and asks what to do
//! with an unknown step (retry, skip with a reason, abort); and the operator's abort.

use std::time::SystemTime;

use super::Run;
use super::state::{Flow, Fx, Phase, StepState, Then};
use super::types::{Effect, Outcome, OutcomeKind, Session, StepStatus, UnknownDecision};
use crate::audit::AuditAction;

impl Run {
    /// Why the current step's outcome would be unknown if the run stopped now.
    pub(super) fn in_flight(&self) -> Option<String> {
        let Phase::Step { state, .. } = &self.phase else {
            return None;
        };
        match state {
            StepState::Attempt { attempt, .. } if !attempt.execs.is_empty() => {
                let hosts: Vec<&str> = attempt.execs.values().map(String::as_str).collect();
                Some(format!("commands were running on {}", hosts.join(", ")))
            }
            StepState::Notifying => Some("a notification was being sent".to_owned()),
            StepState::Rolling(r) if !r.active.is_empty() => {
                let hosts: Vec<&str> = r.active.keys().map(String::as_str).collect();
                Some(format!("hosts {} were mid-rollout", hosts.join(", ")))
            }
            _ => None,
        }
    }

    pub(super) fn position(&self) -> (Option<usize>, Vec<String>) {
        match &self.phase {
            Phase::Inputs {
                pending,
                then: Then::Begin,
            } => (None, pending.clone()),
            Phase::Inputs {
                pending,
                then: Then::Resume { index, .. },
            } => (Some(*index), pending.clone()),
            Phase::Step { index, .. } | Phase::Unknown { index, .. } => (Some(*index), Vec::new()),
            Phase::Suspended { at, inputs, .. } => (*at, inputs.clone()),
            Phase::Finished => (None, Vec::new()),
        }
    }

    pub(super) fn on_interrupt(&mut self, fx: &mut Fx, reason: String) {
        if matches!(self.phase, Phase::Finished | Phase::Suspended { .. }) {
            return self.ignored(fx, "the run is not in progress");
        }
        let unknown = match &self.phase {
            Phase::Unknown { reason, .. } => Some(reason.clone()),
            Phase::Inputs {
                then: Then::Resume { unknown, .. },
                ..
            } => unknown.clone(),
            _ => self.in_flight(),
        };
        let (at, inputs) = self.position();
        self.carry_rolling_done();
        let step = at.map(|i| self.step_id(i));
        self.audit(fx, AuditAction::Interrupt, |e| {
            e.step = step.clone();
            e.reason = Some(match &unknown {
                Some(u) => format!("{reason} ({u}: outcome unknown)"),
                None => reason.clone(),
            });
        });
        if unknown.is_some()
            && let Some(r) = self.record_mut()
            && r.status == StepStatus::Running
        {
            r.status = StepStatus::Unknown;
            r.summary = format!("interrupted: {reason}");
        }
        self.phase = Phase::Suspended {
            at,
            reason: reason.clone(),
            unknown,
            inputs,
        };
        fx.push(Effect::Suspended { step, reason });
    }

    pub(super) fn carry_rolling_done(&mut self) {
        if let Phase::Step {
            index,
            state: StepState::Rolling(r),
            ..
        } = &self.phase
        {
            self.carry_done.insert(*index, r.done.clone());
        }
    }

    pub(super) fn on_resume(&mut self, fx: &mut Fx, session: Session, now: SystemTime) {
        if self.is_finished() {
            return self.ignored(fx, "the run is over");
        }
        // A run deserialised after a crash is resumed from wherever it was.
        let (at, unknown, mut pending) = match &self.phase {
            Phase::Suspended {
                at,
                unknown,
                inputs,
                ..
            } => (*at, unknown.clone(), inputs.clone()),
            Phase::Unknown { index, reason } => (Some(*index), Some(reason.clone()), Vec::new()),
            _ => {
                let unknown = self.in_flight();
                self.carry_rolling_done();
                let (at, inputs) = self.position();
                (at, unknown, inputs)
            }
        };
        if now > self.now {
            self.now = now;
        }
        // What counts for the exit status is what this resume runs, not the run before it.
        self.acted = false;
        self.session = session;
        let step = at.map(|i| self.step_id(i));
        self.audit(fx, AuditAction::RunbookResume, |e| {
            e.step = step.clone();
            e.reason = unknown.clone();
        });
        // Anything in flight before is forgotten: late results are audited, not applied.
        self.execs.clear();
        for input in &self.runbook.inputs {
            let had =
                self.inputs.contains_key(&input.name) || self.secrets.contains_key(&input.name);
            if input.secret
                && !self.secrets.contains_key(&input.name)
                && (input.required || had)
                && !pending.contains(&input.name)
            {
                pending.push(input.name.clone());
            }
        }
        if let Err(reason) = self.resume_checks(at, &pending) {
            return self.refuse(fx, at, reason);
        }
        for t in &self.timers {
            if !t.stopped {
                fx.push(Effect::StartTimer {
                    step: t.step.clone(),
                    title: t.title.clone(),
                    deadline: t.deadline,
                });
            }
        }
        if !pending.is_empty() {
            self.phase = Phase::Inputs {
                pending,
                then: match at {
                    Some(index) => Then::Resume { index, unknown },
                    None => Then::Begin,
                },
            };
            return self.ask_next_input(fx, None);
        }
        match at {
            None => self.drive(fx, Flow::Goto(0)),
            Some(index) => self.continue_resume(fx, index, unknown),
        }
    }

    pub(super) fn resume_checks(
        &self,
        at: Option<usize>,
        pending: &[String],
    ) -> Result<(), String> {
        self.role_check()?;
        if !self.session.interactive && !pending.is_empty() {
            return Err(format!(
                "resuming needs input{} {} again (secrets are never stored), but there is no \
                 terminal to ask",
                if pending.len() == 1 { "" } else { "s" },
                pending
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        self.plan_checks(at.unwrap_or(0))
    }

    pub(super) fn continue_resume(&mut self, fx: &mut Fx, index: usize, unknown: Option<String>) {
        match unknown {
            Some(reason) => {
                if !self.session.interactive {
                    return self.refuse(
                        fx,
                        Some(index),
                        format!(
                            "step `{}` was interrupted ({reason}) and its outcome is unknown; \
                             deciding needs an operator at a terminal",
                            self.step_id(index)
                        ),
                    );
                }
                fx.push(Effect::AskUnknown {
                    step: self.step_id(index),
                    reason: reason.clone(),
                    error: None,
                });
                self.phase = Phase::Unknown { index, reason };
            }
            None => self.drive(fx, Flow::Goto(index)),
        }
    }

    pub(super) fn on_resolve(
        &mut self,
        fx: &mut Fx,
        decision: UnknownDecision,
        reason: Option<String>,
    ) {
        let Phase::Unknown { index, reason: why } = &self.phase else {
            return self.ignored(fx, "no step is waiting for a decision");
        };
        let (index, why) = (*index, why.clone());
        let step = self.step_id(index);
        let reason = reason.filter(|r| !r.trim().is_empty());
        match decision {
            UnknownDecision::Retry => {
                self.audit(fx, AuditAction::Decision, |e| {
                    e.step = Some(step.clone());
                    e.result = Some("retry".to_owned());
                    e.reason = reason.clone();
                });
                self.drive(fx, Flow::Goto(index));
            }
            UnknownDecision::Skip => {
                let Some(reason) = reason else {
                    fx.push(Effect::AskUnknown {
                        step,
                        reason: why,
                        error: Some(
                            "skipping a step whose outcome is unknown needs a reason".to_owned(),
                        ),
                    });
                    return;
                };
                self.audit(fx, AuditAction::Skip, |e| {
                    e.step = Some(step.clone());
                    e.reason = Some(reason.clone());
                });
                self.carry_done.remove(&index);
                if let Some(r) = self.records.iter_mut().rev().find(|r| r.step == step) {
                    r.status = StepStatus::Skipped;
                    r.reason = Some(reason.clone());
                }
                fx.push(Effect::StepFinished {
                    step: step.clone(),
                    status: StepStatus::Skipped,
                    summary: format!("skipped: {reason}"),
                });
                let next = match &self.runbook.steps[index].next {
                    Some(id) => self.runbook.step(id).map_or(index + 1, |(j, _)| j),
                    None => index + 1,
                };
                self.phase = Phase::Finished;
                self.drive(fx, Flow::Goto(next));
            }
            UnknownDecision::Abort => {
                self.on_abort(
                    fx,
                    reason.unwrap_or_else(|| format!("aborted after an interruption ({why})")),
                );
            }
        }
    }

    pub(super) fn on_abort(&mut self, fx: &mut Fx, reason: String) {
        if self.is_finished() {
            return self.ignored(fx, "the run is over");
        }
        let (at, _) = self.position();
        let step = at.map(|i| self.step_id(i));
        self.audit(fx, AuditAction::Abort, |e| {
            e.step = step.clone();
            e.reason = Some(reason.clone());
        });
        let status = if self.in_flight().is_some() {
            StepStatus::Unknown
        } else {
            StepStatus::Failed
        };
        if let Some(r) = self.record_mut()
            && r.status == StepStatus::Running
        {
            r.status = status;
            r.summary = format!("aborted: {reason}");
        }
        self.finish(
            fx,
            Outcome {
                kind: OutcomeKind::Aborted,
                step,
                message: reason,
                acted: false,
            },
        );
    }
}

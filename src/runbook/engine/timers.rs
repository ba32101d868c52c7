//! Time: what a tick moves on (waits, polls, SLA countdowns, rolling pauses and gates), and the
//! SLA timers a step starts and a later step stops. The engine never reads a clock; `now`
//! arrives in [`super::Event::Ticked`] (and with health facts).

use std::time::Duration;

use super::Run;
use super::state::{Flow, Fx, Phase, Poll, StepState};
use super::types::{Effect, TimerView};
use crate::audit::AuditAction;
use crate::runbook::{Dur, StepKind, Timer, Wait};

impl Run {
    /// A wait-for step: done when the duration has passed.
    pub(super) fn enter_wait_for(
        &mut self,
        fx: &mut Fx,
        index: usize,
        visit: u32,
        d: &Dur,
    ) -> Flow {
        let d = self.dur(d);
        if d == Duration::ZERO {
            return self.complete(fx, index, true, "no wait".to_owned());
        }
        let until = self.now + d;
        fx.push(Effect::Wait {
            step: self.step_id(index),
            until,
        });
        self.set_state(index, visit, StepState::Waiting { until });
        Flow::Stay
    }

    /// A timer step: start an SLA countdown that stays visible until its `until` step ends,
    /// and go on at once.
    pub(super) fn enter_timer(
        &mut self,
        fx: &mut Fx,
        index: usize,
        t: &Timer,
        title: String,
    ) -> Flow {
        let step = self.step_id(index);
        let duration = self.dur(&t.duration);
        let deadline = self.now + duration;
        self.timers.retain(|x| x.step != step);
        self.timers.push(TimerView {
            step: step.clone(),
            title: title.clone(),
            deadline,
            expired: false,
            stopped: false,
            until: t.until.clone(),
        });
        self.audit(fx, AuditAction::TimerStart, |e| {
            e.step = Some(step.clone());
            e.result = Some(humantime::format_duration(duration).to_string());
        });
        fx.push(Effect::StartTimer {
            step,
            title,
            deadline,
        });
        self.complete(fx, index, true, "countdown started".to_owned())
    }

    pub(super) fn stop_timers_until(&mut self, fx: &mut Fx, step: &str) {
        let mut stopped = Vec::new();
        for t in &mut self.timers {
            if !t.stopped && t.until.as_deref() == Some(step) {
                t.stopped = true;
                stopped.push((t.step.clone(), !t.expired));
            }
        }
        for (timer, met) in stopped {
            self.audit(fx, AuditAction::TimerStop, |e| {
                e.step = Some(timer.clone());
                e.result = Some(if met { "met" } else { "missed" }.to_owned());
            });
            fx.push(Effect::StopTimer { step: timer, met });
        }
    }

    pub(super) fn on_tick(&mut self, fx: &mut Fx) {
        let now = self.now;
        let mut expired = Vec::new();
        for t in &mut self.timers {
            if !t.stopped && !t.expired && now >= t.deadline {
                t.expired = true;
                expired.push(t.step.clone());
            }
        }
        for step in expired {
            self.audit(fx, AuditAction::TimerExpired, |e| {
                e.step = Some(step.clone())
            });
            fx.push(Effect::TimerExpired { step });
        }
        let Phase::Step {
            index,
            visit,
            state,
        } = &self.phase
        else {
            return;
        };
        let (index, visit) = (*index, *visit);
        let flow = match state {
            StepState::Waiting { until } if now >= *until => self.complete(
                fx,
                index,
                true,
                format!("waited until {}", humantime::format_rfc3339_seconds(*until)),
            ),
            StepState::Attempt {
                attempt,
                poll: Some(Poll {
                    next_at: Some(at), ..
                }),
            } if now >= *at && attempt.pending.is_empty() => {
                let (on, probe) = match &self.runbook.steps[index].kind {
                    StepKind::Wait(Wait::Until { on, probe, .. }) => (on.clone(), probe.clone()),
                    _ => return,
                };
                let hosts = self.with_env(|env| env.hosts_for(&on));
                let fresh = self.start_attempt(fx, index, visit, &hosts, &probe, None);
                if let Phase::Step {
                    state: StepState::Attempt { attempt, poll },
                    ..
                } = &mut self.phase
                {
                    *attempt = fresh;
                    if let Some(p) = poll {
                        p.next_at = None;
                        p.tries += 1;
                    }
                }
                self.settle_attempt(fx)
            }
            StepState::Rolling(_) => self.rolling_tick(fx, index, visit),
            _ => Flow::Stay,
        };
        self.drive(fx, flow);
    }
}

//! The runbook engine: a pure state machine from [`Event`]s to [`Effect`]s.
//!
//! [`Run::start`] validates who may run what (roles, `--readonly`, `requires`), the inputs and
//! the targets, and — when no terminal can answer (`Session::interactive == false`) — refuses a
//! plan that could reach a step needing a person (a dangerous step's typed confirmation above
//! all) before anything runs. [`Run::handle`] then answers each event with effects, in the
//! order the executor must carry them out:
//!
//! * every [`Effect::Exec`] comes after its [`AuditAction::Exec`] record (commands started
//!   together come as consecutive execs after all of their records), and every result is
//!   followed by an [`AuditAction::ExecResult`] record;
//! * an `Exec` of a dangerous step only exists after [`Event::Confirmed`] carried the expected
//!   text, and the [`AuditAction::Confirm`] record comes first in the same effect list. This is
//!   structural: the only code that emits an exec for a dangerous step needs a `Confirmed`
//!   token, and the only constructor of that token pushes the confirm record first;
//! * refusals (role, read-only, quorum guard, no terminal) are an [`AuditAction::Denied`]
//!   record, an [`Effect::Refused`], then [`Effect::Finished`].
//!
//! The executor writes audit records in order and fsyncs them before acting on any later
//! effect. Time only moves with [`Event::Ticked`]; the engine never reads a clock.
//!
//! A [`Run`] serialises with serde so the executor can persist it after every call and resume
//! after Ctrl-C, a lost connection or a crash. Secret input values and confirmations are never
//! serialised: a resumed run asks for secrets again and needs fresh confirmations. A step that
//! was in flight when the run stopped is *unknown* on resume and never proceeds on its own: the
//! operator retries it, skips it (with a reason), or aborts.
//!
//! The engine is one [`Run`] (here: its fields, [`Run::start`], [`Run::handle`] and what front
//! ends read) whose handlers live in rooms of one concern each:
//!
//! | room | owns |
//! |---|---|
//! | `types` | the public vocabulary: [`Event`], [`Effect`], [`AuditEntry`], [`Outcome`], [`StepRecord`], … |
//! | `state` | the private state: phases, step states, in-flight execs, rolling progress, `Fx`, `Flow` |
//! | `env` | template rendering for commands, regexes, text and webhooks (shared with the dry run) |
//! | `checks` | start-time checks: roles, `requires`, and a plan that needs a terminal without one |
//! | `steps` | entering a step (dispatch by kind), completing it, refusals, the end, notify steps |
//! | `questions` | inputs, typed confirmations (the `Confirmed` guard), choices, checklist, notes |
//! | `exec` | checks, actions and wait-until polls: execs after their records, judging results |
//! | `timers` | ticks, waits and SLA countdowns |
//! | `rolling` | rolling steps: batches, health gates, rollback, pauses, the quorum guard |
//! | `resume` | interruption, resume, unknown steps, abort |
//!
//! A new step kind: its settings in `runbook.rs` and `file.rs`/`load.rs`, an `enter_*` function
//! in the room of its concern (dispatched from `steps`), and its events in [`Run::handle`].

mod checks;
mod env;
mod exec;
mod questions;
mod resume;
mod rolling;
mod state;
mod steps;
mod timers;
mod types;

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::runbook::hosts::HostInfo;
use crate::runbook::template::MASK;
use crate::runbook::{Runbook, Step};
use state::{ExecSlot, Flow, Fx, Phase, Then};
use types::entry;

/// The audit vocabulary is the audit module's; the engine names its records with it.
pub use crate::audit::AuditAction;
pub use crate::runbook::expect::ExecResult;
pub(crate) use env::{Env, reachable_from, stamp};
pub use questions::expected_text;
pub use types::{
    AuditEntry, Coalesced, Effect, Event, ExecId, HealthFact, HostResult, Outcome, OutcomeKind,
    RunContext, ServiceState, Session, StepRecord, StepStatus, TimerView, UnknownDecision,
};

/// A run of one runbook.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    runbook: Runbook,
    session: Session,
    fleet: Vec<HostInfo>,
    targets: Vec<String>,
    /// Input values; secret ones are kept in `secrets` and never serialised.
    inputs: BTreeMap<String, String>,
    #[serde(skip)]
    secrets: BTreeMap<String, String>,
    stamp: String,
    now: SystemTime,
    height_lag: u64,
    health: BTreeMap<String, HealthFact>,
    next_exec: u64,
    execs: BTreeMap<u64, ExecSlot>,
    phase: Phase,
    records: Vec<StepRecord>,
    visits: BTreeMap<usize, u32>,
    timers: Vec<TimerView>,
    outcome: Option<Outcome>,
    /// Hosts a rolling step finished before it was interrupted, kept for a retry.
    carry_done: BTreeMap<usize, Vec<String>>,
    /// A command ran or a notification went out since the start or the last resume (see
    /// [`Outcome::acted`]); a resumed process starts afresh, so it is never persisted.
    #[serde(skip)]
    acted: bool,
}

impl Run {
    /// Starts a run: validates the session, targets and inputs, then asks for missing inputs
    /// or enters the first step. A refusal here ends the run before anything ran
    /// ([`Outcome::exit_code`] 2).
    pub fn start(runbook: Runbook, ctx: RunContext) -> (Run, Vec<Effect>) {
        let mut run = Run {
            stamp: stamp(ctx.now),
            runbook,
            session: ctx.session,
            fleet: ctx.fleet,
            targets: ctx.targets,
            inputs: BTreeMap::new(),
            secrets: BTreeMap::new(),
            now: ctx.now,
            height_lag: ctx.height_lag,
            health: ctx.health,
            next_exec: 1,
            execs: BTreeMap::new(),
            phase: Phase::Finished,
            records: Vec::new(),
            visits: BTreeMap::new(),
            timers: Vec::new(),
            outcome: None,
            carry_done: BTreeMap::new(),
            acted: false,
        };
        let mut fx = Fx::default();
        match run.start_checks(&ctx.inputs) {
            Err(reason) => run.refuse(&mut fx, None, reason),
            Ok(missing) => {
                let mut e = entry(&run.runbook.name, AuditAction::RunbookStart);
                e.target = Some(run.targets.join(","));
                e.reason = Some(run.inputs_summary());
                fx.push(Effect::Audit(e));
                if missing.is_empty() {
                    run.drive(&mut fx, Flow::Goto(0));
                } else {
                    run.phase = Phase::Inputs {
                        pending: missing,
                        then: Then::Begin,
                    };
                    run.ask_next_input(&mut fx, None);
                }
            }
        }
        run.acted |= fx.acted;
        (run, group_execs(fx.effects))
    }

    /// Answers one event.
    pub fn handle(&mut self, event: Event) -> Vec<Effect> {
        let mut fx = Fx::default();
        match event {
            Event::Ticked { now } => {
                if now > self.now {
                    self.now = now;
                }
                self.on_tick(&mut fx);
            }
            Event::InputGiven { name, value } => self.on_input(&mut fx, name, value),
            Event::Confirmed { typed } => self.on_confirmed(&mut fx, typed),
            Event::Chosen { option, reason } => self.on_chosen(&mut fx, option, reason),
            Event::ManualDone { note } => self.on_manual(&mut fx, note),
            Event::NoteGiven { text } => self.on_note(&mut fx, text),
            Event::ExecFinished { id, result } => self.on_exec(&mut fx, id, result),
            Event::NotifyFinished { step, result } => self.on_notified(&mut fx, step, result),
            Event::HostHealth { facts, now } => {
                self.now = self.now.max(now);
                self.on_health(&mut fx, facts)
            }
            Event::Interrupted { reason } => self.on_interrupt(&mut fx, reason),
            Event::Resume { session, now } => self.on_resume(&mut fx, session, now),
            Event::ResolveUnknown { decision, reason } => {
                self.on_resolve(&mut fx, decision, reason)
            }
            Event::Abort { reason } => self.on_abort(&mut fx, reason),
        }
        self.acted |= fx.acted;
        group_execs(fx.effects)
    }

    /// The runbook being run.
    pub fn runbook(&self) -> &Runbook {
        &self.runbook
    }

    /// The current session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The targets.
    pub fn targets(&self) -> &[String] {
        &self.targets
    }

    /// Every step visit so far, in order: the path taken through the runbook.
    pub fn records(&self) -> &[StepRecord] {
        &self.records
    }

    /// Countdowns, active or not.
    pub fn timers(&self) -> &[TimerView] {
        &self.timers
    }

    /// The step in progress (or where the run stopped).
    pub fn current_step(&self) -> Option<&Step> {
        let index = match &self.phase {
            Phase::Step { index, .. } | Phase::Unknown { index, .. } => Some(*index),
            Phase::Suspended { at, .. } => *at,
            Phase::Inputs {
                then: Then::Resume { index, .. },
                ..
            } => Some(*index),
            _ => None,
        }?;
        self.runbook.steps.get(index)
    }

    /// Non-secret input values (secrets shown as `***`).
    pub fn inputs(&self) -> BTreeMap<String, String> {
        let mut out = self.inputs.clone();
        for name in self.secrets.keys() {
            out.insert(name.clone(), MASK.to_owned());
        }
        out
    }

    /// How the run ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Whether the run is over.
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished)
    }

    /// Whether the run is suspended (interrupted, or just deserialised) and waits for
    /// [`Event::Resume`].
    pub fn is_suspended(&self) -> bool {
        matches!(self.phase, Phase::Suspended { .. })
    }
}

/// Within each stretch of effects made only of exec audit records and execs, moves the records
/// ahead of the execs (each keeps its relative order). Every exec still follows its own record,
/// and commands started together (a check on every host, a rolling batch) arrive as one run of
/// consecutive [`Effect::Exec`]s that an executor can start concurrently once the records
/// before them are on disk.
fn group_execs(effects: Vec<Effect>) -> Vec<Effect> {
    let is_pair_part = |e: &Effect| {
        matches!(e, Effect::Exec { .. })
            || matches!(e, Effect::Audit(a) if a.action == AuditAction::Exec)
    };
    let mut out = Vec::with_capacity(effects.len());
    let mut audits = Vec::new();
    let mut execs = Vec::new();
    for e in effects {
        if is_pair_part(&e) {
            if matches!(e, Effect::Exec { .. }) {
                execs.push(e);
            } else {
                audits.push(e);
            }
        } else {
            out.append(&mut audits);
            out.append(&mut execs);
            out.push(e);
        }
    }
    out.append(&mut audits);
    out.append(&mut execs);
    out
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod props;

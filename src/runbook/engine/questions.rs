//! Everything a person answers: inputs, typed confirmations of dangerous steps, choices of a
//! decision tree, checklist ticks and notes.
//!
//! The confirmation guard lives here: [`Confirmed`] is the only proof that a dangerous step's
//! typed confirmation was received, only [`super::Run::accept_confirmation`] makes one, and it
//! pushes the `confirm` audit record before returning it. The exec room refuses a dangerous
//! step's command without it.

use std::collections::{BTreeMap, BTreeSet};

use super::Run;
use super::exec::failed_result;
use super::state::{Attempt, Flow, Fx, Phase, Purpose, StepState, Then};
use super::types::{Effect, StepStatus};
use crate::audit::AuditAction;
use crate::runbook::inputs::validate_input;
use crate::runbook::template::MASK;
use crate::runbook::{Choice, StepKind, When};

/// Proof that the typed confirmation of one visit of one step was received and its audit
/// record emitted. Only `Run::accept_confirmation` makes one (its fields are private to this
/// room, so no other room can forge it); it is never serialised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Confirmed {
    step: usize,
    visit: u32,
}

impl Confirmed {
    /// Whether this confirmation is for visit `visit` of step `step`.
    pub(super) fn covers(&self, step: usize, visit: u32) -> bool {
        self.step == step && self.visit == visit
    }
}

/// What must be typed to confirm a dangerous action on `hosts`: the host's name, or how many.
/// The one rule for a runbook's dangerous steps and for dangerous ad-hoc commands
/// (`fleetdeck exec`, the console's `:exec`), so both ask the same word.
pub fn expected_text(hosts: &[String]) -> String {
    match hosts {
        [one] => one.clone(),
        many => many.len().to_string(),
    }
}

pub(super) fn host_phrase(hosts: &[String]) -> String {
    match hosts {
        [one] => format!("host {one}"),
        many => format!("{} hosts ({})", many.len(), many.join(", ")),
    }
}

impl Run {
    /// A choice step: ask which option (with the pre-selection a `from` check gives); without
    /// a terminal take the pre-selection, or refuse when there is none.
    pub(super) fn enter_choice(
        &mut self,
        fx: &mut Fx,
        index: usize,
        visit: u32,
        c: &Choice,
    ) -> Flow {
        let step = self.step_id(index);
        let preselected = self.preselect(c);
        if let Some(r) = self.record_mut() {
            r.preselected = preselected.clone();
        }
        if !self.session.interactive {
            return match preselected {
                Some(option) => {
                    self.set_state(
                        index,
                        visit,
                        StepState::Choose {
                            preselected: Some(option.clone()),
                        },
                    );
                    self.take_option(fx, option, Some("pre-selected, no terminal".to_owned()))
                }
                None => {
                    self.refuse(
                        fx,
                        Some(index),
                        format!(
                            "choice `{step}` has no pre-selection and there is no terminal to \
                             choose"
                        ),
                    );
                    Flow::Done
                }
            };
        }
        let question = self.with_env(|env| env.display(&c.question));
        let options =
            self.with_env(|env| c.options.iter().map(|o| env.display(&o.label)).collect());
        fx.push(Effect::AskChoice {
            step,
            question,
            options,
            preselected: preselected.clone(),
            error: None,
        });
        self.set_state(index, visit, StepState::Choose { preselected });
        Flow::Stay
    }

    /// A manual step: a checklist item the operator ticks.
    pub(super) fn enter_manual(
        &mut self,
        fx: &mut Fx,
        index: usize,
        visit: u32,
        title: String,
    ) -> Flow {
        let step = self.runbook.steps[index].clone();
        let text = self.with_env(|env| env.display(&step.text));
        fx.push(Effect::AskManual {
            step: step.id,
            item: title,
            text,
        });
        self.set_state(index, visit, StepState::Manual);
        Flow::Stay
    }

    /// A note step: free text the operator types (the prompt is the step's text).
    pub(super) fn enter_note(
        &mut self,
        fx: &mut Fx,
        index: usize,
        visit: u32,
        title: String,
    ) -> Flow {
        let step = self.runbook.steps[index].clone();
        let prompt = self.with_env(|env| env.display(&step.text));
        fx.push(Effect::AskNote {
            step: step.id,
            prompt: if prompt.is_empty() { title } else { prompt },
        });
        self.set_state(index, visit, StepState::Note);
        Flow::Stay
    }

    pub(super) fn store_input(&mut self, name: String, value: String) {
        if self.runbook.input(&name).is_some_and(|i| i.secret) {
            self.secrets.insert(name, value);
        } else {
            self.inputs.insert(name, value);
        }
    }

    pub(super) fn inputs_summary(&self) -> String {
        let parts: Vec<String> = self
            .runbook
            .inputs
            .iter()
            .filter_map(|i| {
                if i.secret {
                    self.secrets
                        .get(&i.name)
                        .map(|_| format!("{}={MASK}", i.name))
                } else {
                    self.inputs.get(&i.name).map(|v| format!("{}={v}", i.name))
                }
            })
            .collect();
        format!(
            "inputs: {}",
            if parts.is_empty() {
                "none".to_owned()
            } else {
                parts.join(" ")
            }
        )
    }

    pub(super) fn all_inputs(&self) -> BTreeMap<String, String> {
        let mut all = self.inputs.clone();
        all.extend(self.secrets.iter().map(|(k, v)| (k.clone(), v.clone())));
        all
    }

    pub(super) fn ask_next_input(&mut self, fx: &mut Fx, error: Option<String>) {
        let Phase::Inputs { pending, .. } = &self.phase else {
            return;
        };
        let Some(name) = pending.first() else {
            return;
        };
        let Some(input) = self.runbook.input(name) else {
            return;
        };
        fx.push(Effect::AskInput {
            name: input.name.clone(),
            prompt: input.prompt.clone(),
            kind: input.kind,
            secret: input.secret,
            choices: input.choices.clone(),
            default: input.default.clone(),
            error,
        });
    }

    pub(super) fn on_input(&mut self, fx: &mut Fx, name: String, value: String) {
        let Phase::Inputs { pending, .. } = &self.phase else {
            return self.ignored(fx, "no input was asked for");
        };
        if !pending.contains(&name) {
            return self.ignored(fx, format!("input `{name}` was not asked for"));
        }
        let Some(input) = self.runbook.input(&name).cloned() else {
            return self.ignored(fx, format!("unknown input `{name}`"));
        };
        let value = if value.is_empty() {
            input.default.clone().unwrap_or_default()
        } else {
            value
        };
        if value.is_empty() && input.required {
            return self.ask_next_input(fx, Some(format!("`{name}` is required")));
        }
        let value = if value.is_empty() {
            Ok(value)
        } else {
            validate_input(&input, &value, Some(&self.fleet))
        };
        match value {
            Err(e) => self.ask_next_input(fx, Some(e)),
            Ok(v) => {
                let shown = if input.secret {
                    MASK.to_owned()
                } else {
                    v.clone()
                };
                self.audit(fx, AuditAction::Input, |e| {
                    e.target = Some(name.clone());
                    e.result = Some(shown);
                });
                self.store_input(name.clone(), v);
                let Phase::Inputs { pending, then } = &mut self.phase else {
                    return;
                };
                pending.retain(|p| p != &name);
                if !pending.is_empty() {
                    return self.ask_next_input(fx, None);
                }
                let then = then.clone();
                match then {
                    Then::Begin => self.drive(fx, Flow::Goto(0)),
                    Then::Resume { index, unknown } => self.continue_resume(fx, index, unknown),
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn ask_confirm(
        &mut self,
        fx: &mut Fx,
        index: usize,
        visit: u32,
        hosts: Vec<String>,
        expected: String,
        summary: String,
        commands: Vec<(String, String)>,
        error: Option<String>,
    ) -> Flow {
        fx.push(Effect::AskConfirm {
            step: self.step_id(index),
            expected: expected.clone(),
            summary,
            commands,
            error,
        });
        if !matches!(
            &self.phase,
            Phase::Step { index: i, state: StepState::Rolling(_), .. } if *i == index
        ) {
            self.phase = Phase::Step {
                index,
                visit,
                state: StepState::Confirm { hosts, expected },
            };
        }
        Flow::Stay
    }

    /// The only constructor of [`Confirmed`]: it emits the confirm audit record first.
    pub(super) fn accept_confirmation(
        &mut self,
        fx: &mut Fx,
        index: usize,
        visit: u32,
        typed: &str,
    ) -> Confirmed {
        let step = self.step_id(index);
        self.audit(fx, AuditAction::Confirm, |e| {
            e.step = Some(step);
            e.result = Some("confirmed".to_owned());
            e.reason = Some(format!("typed {typed:?}"));
        });
        Confirmed { step: index, visit }
    }

    pub(super) fn on_confirmed(&mut self, fx: &mut Fx, typed: String) {
        let (index, visit, expected) = match &self.phase {
            Phase::Step {
                index,
                visit,
                state: StepState::Confirm { expected, .. },
            } => (*index, *visit, expected.clone()),
            Phase::Step {
                index,
                visit,
                state: StepState::Rolling(r),
            } if r.confirming.is_some() => {
                (*index, *visit, r.confirming.clone().unwrap_or_default())
            }
            _ => return self.ignored(fx, "no confirmation was asked for"),
        };
        let typed = typed.trim().to_owned();
        if typed != expected {
            let step = self.step_id(index);
            self.audit(fx, AuditAction::ConfirmMismatch, |e| {
                e.step = Some(step.clone());
                e.reason = Some(format!("typed {typed:?}, expected {expected:?}"));
            });
            let error = Some(format!(
                "typed {typed:?}; type exactly {expected:?} to go on"
            ));
            let flow = self.reask_confirm(fx, index, visit, error);
            return self.drive(fx, flow);
        }
        let token = self.accept_confirmation(fx, index, visit, &typed);
        let flow = match &self.runbook.steps[index].kind.clone() {
            StepKind::Action(a) => {
                let Phase::Step {
                    state: StepState::Confirm { hosts, .. },
                    ..
                } = &self.phase
                else {
                    return;
                };
                let hosts = hosts.clone();
                let mut attempt = Attempt {
                    pending: BTreeSet::new(),
                    execs: BTreeMap::new(),
                    results: BTreeMap::new(),
                };
                for host in &hosts {
                    let rendered = self.with_env(|env| env.command(host, &a.command));
                    let id = rendered.and_then(|r| {
                        self.emit_exec(
                            fx,
                            index,
                            visit,
                            host,
                            Purpose::Step,
                            r,
                            self.dur_opt(&a.timeout),
                            Some(&token),
                        )
                    });
                    match id {
                        Ok(id) => {
                            attempt.pending.insert(host.clone());
                            attempt.execs.insert(id.0, host.clone());
                        }
                        Err(e) => {
                            attempt.results.insert(host.clone(), failed_result(e));
                        }
                    }
                }
                self.phase = Phase::Step {
                    index,
                    visit,
                    state: StepState::Attempt {
                        attempt,
                        poll: None,
                    },
                };
                self.settle_attempt(fx)
            }
            StepKind::Rolling(_) => {
                if let Phase::Step {
                    state: StepState::Rolling(r),
                    ..
                } = &mut self.phase
                {
                    r.confirming = None;
                    r.confirmed = Some(token);
                }
                self.rolling_next_batch(fx, index, visit)
            }
            _ => Flow::Stay,
        };
        self.drive(fx, flow);
    }

    pub(super) fn reask_confirm(
        &mut self,
        fx: &mut Fx,
        index: usize,
        visit: u32,
        error: Option<String>,
    ) -> Flow {
        let step = self.runbook.steps[index].clone();
        let title = self.with_env(|env| env.display(&step.title));
        match &step.kind {
            StepKind::Action(a) => {
                let Phase::Step {
                    state: StepState::Confirm { hosts, expected },
                    ..
                } = &self.phase
                else {
                    return Flow::Stay;
                };
                let (hosts, expected) = (hosts.clone(), expected.clone());
                let commands: Vec<(String, String)> = self.with_env(|env| {
                    hosts
                        .iter()
                        .filter_map(|h| {
                            env.command(h, &a.command)
                                .ok()
                                .map(|r| (h.clone(), r.display))
                        })
                        .collect()
                });
                let summary = format!(
                    "{title} on {}: {}",
                    host_phrase(&hosts),
                    commands.first().map_or("", |(_, c)| c.as_str())
                );
                self.ask_confirm(fx, index, visit, hosts, expected, summary, commands, error)
            }
            StepKind::Rolling(r) => {
                let Phase::Step {
                    state: StepState::Rolling(state),
                    ..
                } = &self.phase
                else {
                    return Flow::Stay;
                };
                let hosts = state.pending.clone();
                let expected = state.confirming.clone().unwrap_or_default();
                let (summary, commands) = self.rolling_summary(r, &title, &hosts);
                self.ask_confirm(fx, index, visit, hosts, expected, summary, commands, error)
            }
            _ => Flow::Stay,
        }
    }

    pub(super) fn preselect(&self, choice: &crate::runbook::Choice) -> Option<String> {
        let from = choice.from.as_ref()?;
        let record = self.records.iter().rev().find(|r| &r.step == from)?;
        let passed = match record.status {
            StepStatus::Passed => true,
            StepStatus::Failed => false,
            _ => return None,
        };
        let conditional = choice.options.iter().find(|o| match &o.when {
            Some(When::Passed) => passed,
            Some(When::Failed) => !passed,
            Some(When::Output(pattern)) => regex::Regex::new(pattern).is_ok_and(|re| {
                record
                    .hosts
                    .values()
                    .any(|h| re.is_match(&h.output) || re.is_match(&h.stderr))
            }),
            None => false,
        });
        conditional
            .or_else(|| choice.options.iter().find(|o| o.when.is_none()))
            .map(|o| self.with_env(|env| env.display(&o.label)))
    }

    pub(super) fn on_chosen(&mut self, fx: &mut Fx, option: String, reason: Option<String>) {
        let Phase::Step {
            index,
            state: StepState::Choose { preselected },
            ..
        } = &self.phase
        else {
            return self.ignored(fx, "no choice was asked for");
        };
        let index = *index;
        let preselected = preselected.clone();
        let StepKind::Choice(choice) = self.runbook.steps[index].kind.clone() else {
            return;
        };
        let labels: Vec<String> = self.with_env(|env| {
            choice
                .options
                .iter()
                .map(|o| env.display(&o.label))
                .collect()
        });
        let question = self.with_env(|env| env.display(&choice.question));
        let reask = |run: &mut Run, fx: &mut Fx, error: String| {
            fx.push(Effect::AskChoice {
                step: run.step_id(index),
                question: question.clone(),
                options: labels.clone(),
                preselected: preselected.clone(),
                error: Some(error),
            });
        };
        if !labels.contains(&option) {
            return reask(self, fx, format!("{option:?} is not one of the options"));
        }
        let reason = reason.filter(|r| !r.trim().is_empty());
        if let Some(pre) = &preselected
            && pre != &option
            && reason.is_none()
        {
            return reask(
                self,
                fx,
                format!(
                    "{pre:?} was pre-selected from the check: give a reason to choose {option:?}"
                ),
            );
        }
        let flow = self.take_option(fx, option, reason);
        self.drive(fx, flow);
    }

    pub(super) fn take_option(
        &mut self,
        fx: &mut Fx,
        option: String,
        reason: Option<String>,
    ) -> Flow {
        let Phase::Step {
            index,
            state: StepState::Choose { preselected },
            ..
        } = &self.phase
        else {
            return Flow::Stay;
        };
        let index = *index;
        let overridden = preselected.as_ref().is_some_and(|p| p != &option);
        let StepKind::Choice(choice) = self.runbook.steps[index].kind.clone() else {
            return Flow::Stay;
        };
        let step = self.step_id(index);
        self.audit(fx, AuditAction::Decision, |e| {
            e.step = Some(step.clone());
            e.result = Some(option.clone());
            e.reason = match (&reason, overridden) {
                (Some(r), true) => Some(format!("overrode the pre-selection: {r}")),
                (r, _) => r.clone(),
            };
        });
        if let Some(r) = self.record_mut() {
            r.decision = Some(option.clone());
            r.reason = reason.clone();
            r.status = StepStatus::Passed;
            r.summary = format!("chose {option:?}");
        }
        fx.push(Effect::StepFinished {
            step: step.clone(),
            status: StepStatus::Passed,
            summary: format!("chose {option:?}"),
        });
        self.stop_timers_until(fx, &step);
        self.phase = Phase::Finished;
        let goto = self.with_env(|env| {
            choice
                .options
                .iter()
                .find(|o| env.display(&o.label) == option)
                .map(|o| o.goto.clone())
        });
        match goto.and_then(|g| self.runbook.step(&g).map(|(j, _)| j)) {
            Some(j) => Flow::Goto(j),
            None => Flow::Goto(index + 1),
        }
    }

    pub(super) fn on_manual(&mut self, fx: &mut Fx, note: Option<String>) {
        let Phase::Step {
            index,
            state: StepState::Manual,
            ..
        } = &self.phase
        else {
            return self.ignored(fx, "no checklist item is open");
        };
        let index = *index;
        let note = note.filter(|n| !n.trim().is_empty());
        let step = self.step_id(index);
        self.audit(fx, AuditAction::Manual, |e| {
            e.step = Some(step);
            e.result = Some("done".to_owned());
            e.reason = note.clone();
        });
        if let Some(r) = self.record_mut() {
            r.note = note;
        }
        let flow = self.complete(fx, index, true, "done".to_owned());
        self.drive(fx, flow);
    }

    pub(super) fn on_note(&mut self, fx: &mut Fx, text: String) {
        let Phase::Step {
            index,
            state: StepState::Note,
            ..
        } = &self.phase
        else {
            return self.ignored(fx, "no note was asked for");
        };
        let index = *index;
        let text = self.mask(&text);
        let step = self.step_id(index);
        self.audit(fx, AuditAction::Note, |e| {
            e.step = Some(step);
            e.reason = Some(text.clone());
        });
        if let Some(r) = self.record_mut() {
            r.note = Some(text);
        }
        let flow = self.complete(fx, index, true, "noted".to_owned());
        self.drive(fx, flow);
    }
}

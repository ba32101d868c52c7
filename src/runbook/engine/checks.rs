//! Checks before anything runs: the operator's role against the runbook's `requires`, the
//! inputs and targets, and — without a terminal — a plan that could reach a step needing a
//! person (a dangerous step's typed confirmation above all) is refused up front.

use std::collections::BTreeMap;

use super::Run;
use super::env::reachable_from;
use crate::runbook::inputs::validate_inputs;
use crate::runbook::{HostSel, Step, StepKind, Wait};

pub(super) fn step_hosts(step: &Step) -> Option<HostSel> {
    match &step.kind {
        StepKind::Check(c) => Some(c.on.clone()),
        StepKind::Action(a) => Some(a.on.clone()),
        StepKind::Wait(Wait::Until { on, .. }) => Some(on.clone()),
        StepKind::Rolling(r) => Some(r.on.clone()),
        _ => None,
    }
}

pub(super) fn quote_list(ids: &[&str]) -> String {
    ids.iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Run {
    /// A runbook's `requires` against the session's role (at start and at every resume: the
    /// person resuming may not be the one who started).
    pub(super) fn role_check(&self) -> Result<(), String> {
        match self.runbook.requires {
            Some(required) if self.session.role < required => Err(format!(
                "runbook `{}` requires the {} role; {} is {}",
                self.runbook.name,
                required.as_str(),
                self.session.operator,
                self.session.role.as_str()
            )),
            _ => Ok(()),
        }
    }

    pub(super) fn start_checks(
        &mut self,
        given: &BTreeMap<String, String>,
    ) -> Result<Vec<String>, String> {
        self.role_check()?;
        for t in &self.targets {
            if !self.fleet.iter().any(|h| &h.name == t) {
                return Err(format!("target {t:?} is not a host of the inventory"));
            }
        }
        let (values, missing) = validate_inputs(&self.runbook, given, &self.fleet)?;
        for (name, value) in values {
            self.store_input(name, value);
        }
        if !self.session.interactive && !missing.is_empty() {
            return Err(format!(
                "missing input{} {} and no terminal to ask: pass --var NAME=VALUE",
                if missing.len() == 1 { "" } else { "s" },
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        self.plan_checks(0)?;
        Ok(missing)
    }

    /// Checks over every step reachable from `from`: hosts to run on, and (without a
    /// terminal) no step that needs a person.
    pub(super) fn plan_checks(&self, from: usize) -> Result<(), String> {
        let reachable = reachable_from(&self.runbook, from);
        let steps: Vec<&Step> = reachable.iter().map(|&i| &self.runbook.steps[i]).collect();
        if self.targets.is_empty()
            && let Some(step) = steps
                .iter()
                .find(|s| matches!(step_hosts(s), Some(HostSel::All | HostSel::First)))
        {
            return Err(format!(
                "no target hosts selected, but step `{}` runs on the targets",
                step.id
            ));
        }
        if !self.session.interactive {
            let dangerous: Vec<&str> = steps
                .iter()
                .filter(|s| s.is_dangerous())
                .map(|s| s.id.as_str())
                .collect();
            if !dangerous.is_empty() {
                return Err(format!(
                    "step{} {} {} dangerous and need{} a typed confirmation, but there is no \
                     terminal to type it: run it from a terminal (nothing was run)",
                    if dangerous.len() == 1 { "" } else { "s" },
                    quote_list(&dangerous),
                    if dangerous.len() == 1 { "is" } else { "are" },
                    if dangerous.len() == 1 { "s" } else { "" },
                ));
            }
            let needs: Vec<&str> = steps
                .iter()
                .filter(|s| s.needs_operator())
                .map(|s| s.id.as_str())
                .collect();
            if !needs.is_empty() {
                return Err(format!(
                    "step{} {} need{} an operator's answer, but there is no terminal: run it \
                     from a terminal (nothing was run)",
                    if needs.len() == 1 { "" } else { "s" },
                    quote_list(&needs),
                    if needs.len() == 1 { "s" } else { "" },
                ));
            }
        }
        Ok(())
    }
}

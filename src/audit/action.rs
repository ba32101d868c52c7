//! The audit vocabulary: every `action` name fleetdeck writes, in one enum.
//!
//! This is the only place an action's spelling lives. The runbook engine, the console (alert
//! acknowledgements and refusals), the audit log's own repair records and the CLI all name
//! actions through [`AuditAction`], so the log, `audit show` and `docs/audit.md` cannot drift
//! apart. It sits at the bottom of the crate: it imports nothing of fleetdeck, so the engine
//! (`src/runbook/`) can use it without depending on the log's I/O.
//!
//! Reading stays open: a record read back keeps its `action` as text ([`super::AuditRecord`]),
//! so a log written by a newer fleetdeck with a name this list lacks is still shown and verified.
//! Names are written, never renamed: a name already on disk keeps its spelling.

use serde::{Deserialize, Serialize};

/// The `action` field of an audit record. `docs/audit.md` lists the same names with their
/// meaning; `every_action_is_documented` in the tests holds the two together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditAction {
    /// A runbook run started (`target` = the selected hosts, `reason` = the inputs, secrets
    /// masked).
    #[serde(rename = "runbook.start")]
    RunbookStart,
    /// A suspended run was resumed.
    #[serde(rename = "runbook.resume")]
    RunbookResume,
    /// A runbook run ended (`result`: the outcome kind, `reason`: its message).
    #[serde(rename = "runbook.finish")]
    RunbookFinish,
    /// A step was entered.
    #[serde(rename = "step.run")]
    StepRun,
    /// A step ended (`result`: `passed`, `failed`, …; `reason`: the summary).
    #[serde(rename = "step.result")]
    StepResult,
    /// A runbook input was given (secret values are never written).
    #[serde(rename = "input")]
    Input,
    /// A typed confirmation for a dangerous step was received.
    #[serde(rename = "confirm")]
    Confirm,
    /// A typed confirmation did not match; the step is asked again.
    #[serde(rename = "confirm.mismatch")]
    ConfirmMismatch,
    /// A decision-tree branch was taken (`reason` when a pre-selection was overridden).
    #[serde(rename = "decision")]
    Decision,
    /// A manual checklist item was ticked.
    #[serde(rename = "manual")]
    Manual,
    /// The operator typed a note.
    #[serde(rename = "note")]
    Note,
    /// A command on a host, written before it runs (phase `before`).
    #[serde(rename = "exec")]
    Exec,
    /// The result of an `exec` (phase `after`, `pair` = the `exec` record's `seq`).
    #[serde(rename = "exec.result")]
    ExecResult,
    /// A webhook is posted.
    #[serde(rename = "notify")]
    Notify,
    /// A webhook's answer.
    #[serde(rename = "notify.result")]
    NotifyResult,
    /// An SLA timer started.
    #[serde(rename = "timer.start")]
    TimerStart,
    /// An SLA timer ran out.
    #[serde(rename = "timer.expired")]
    TimerExpired,
    /// An SLA timer was stopped.
    #[serde(rename = "timer.stop")]
    TimerStop,
    /// A rolling step's health gate passed on a host.
    #[serde(rename = "gate.passed")]
    GatePassed,
    /// A rolling step's health gate failed on a host.
    #[serde(rename = "gate.failed")]
    GateFailed,
    /// A rolling step rolls a host back.
    #[serde(rename = "rollback")]
    Rollback,
    /// A host's SSH port proven by a `reconnect` probe was written to the inventory file
    /// (`result` = `written`, `command` = the edit), or could not be (`result` = `not
    /// written`, `reason` = why and the exact edit to make by hand). Written by the executor.
    #[serde(rename = "inventory.edit")]
    InventoryEdit,
    /// A refusal: role, `--readonly`, no terminal for a dangerous step, the quorum guard, a
    /// failed pre-check (`reason` says which).
    #[serde(rename = "denied")]
    Denied,
    /// A run was interrupted (Ctrl-C, a lost connection, a closing console) and suspended.
    #[serde(rename = "interrupt")]
    Interrupt,
    /// A step whose outcome was unknown after a resume was skipped (`reason`).
    #[serde(rename = "skip")]
    Skip,
    /// The operator or a failure stopped the run (`reason`).
    #[serde(rename = "abort")]
    Abort,
    /// An alert was acknowledged in the console.
    #[serde(rename = "alert.ack")]
    AlertAck,
    /// The log repaired itself (torn tail removed, head file recreated, truncation found).
    /// Written only by [`AuditLog`](super::AuditLog).
    #[serde(rename = "audit.repair")]
    AuditRepair,
    /// An interactive shell on a host is about to open (phase `before`; `crate::shell`).
    #[serde(rename = "shell.start")]
    ShellStart,
    /// That shell ended (phase `after`, `pair` = its `shell.start`): how, how long, bytes
    /// each way, the recording.
    #[serde(rename = "shell.end")]
    ShellEnd,
    /// An Alertmanager alert was silenced from the console (`a` on its row): the silence's
    /// matchers, duration and id (or the error).
    #[serde(rename = "alert.silence")]
    AlertSilence,
}

impl AuditAction {
    /// Every action, in the order `docs/audit.md` lists them.
    pub const ALL: [AuditAction; 31] = [
        Self::RunbookStart,
        Self::RunbookResume,
        Self::RunbookFinish,
        Self::StepRun,
        Self::StepResult,
        Self::Input,
        Self::Confirm,
        Self::ConfirmMismatch,
        Self::Decision,
        Self::Manual,
        Self::Note,
        Self::Exec,
        Self::ExecResult,
        Self::Notify,
        Self::NotifyResult,
        Self::TimerStart,
        Self::TimerExpired,
        Self::TimerStop,
        Self::GatePassed,
        Self::GateFailed,
        Self::Rollback,
        Self::InventoryEdit,
        Self::Denied,
        Self::Interrupt,
        Self::Skip,
        Self::Abort,
        Self::AlertAck,
        Self::AuditRepair,
        Self::ShellStart,
        Self::ShellEnd,
        Self::AlertSilence,
    ];

    /// The spelling in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RunbookStart => "runbook.start",
            Self::RunbookResume => "runbook.resume",
            Self::RunbookFinish => "runbook.finish",
            Self::StepRun => "step.run",
            Self::StepResult => "step.result",
            Self::Input => "input",
            Self::Confirm => "confirm",
            Self::ConfirmMismatch => "confirm.mismatch",
            Self::Decision => "decision",
            Self::Manual => "manual",
            Self::Note => "note",
            Self::Exec => "exec",
            Self::ExecResult => "exec.result",
            Self::Notify => "notify",
            Self::NotifyResult => "notify.result",
            Self::TimerStart => "timer.start",
            Self::TimerExpired => "timer.expired",
            Self::TimerStop => "timer.stop",
            Self::GatePassed => "gate.passed",
            Self::GateFailed => "gate.failed",
            Self::Rollback => "rollback",
            Self::InventoryEdit => "inventory.edit",
            Self::Denied => "denied",
            Self::Interrupt => "interrupt",
            Self::Skip => "skip",
            Self::Abort => "abort",
            Self::AlertAck => "alert.ack",
            Self::AuditRepair => "audit.repair",
            Self::ShellStart => "shell.start",
            Self::ShellEnd => "shell.end",
            Self::AlertSilence => "alert.silence",
        }
    }

    /// The action spelled `name`, if it is one of ours.
    pub fn parse(name: &str) -> Option<AuditAction> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl From<AuditAction> for String {
    fn from(action: AuditAction) -> String {
        action.as_str().to_owned()
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_and_as_str_spell_every_action_the_same() {
        for a in AuditAction::ALL {
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(AuditAction::parse("runbook.end"), None);
    }

    #[test]
    fn every_action_is_documented() {
        let doc = include_str!("../../docs/audit.md");
        for a in AuditAction::ALL {
            assert!(
                doc.contains(&format!("| `{}` |", a.as_str())),
                "docs/audit.md lists no `{}`",
                a.as_str()
            );
        }
        assert!(
            !doc.contains("runbook.end"),
            "docs/audit.md names runbook.end"
        );
    }
}

//! The engine's public vocabulary: what the executor passes in ([`Session`], [`RunContext`],
//! [`HealthFact`]), the [`Event`]s it feeds, the [`Effect`]s it gets back, the audit records
//! the engine asks for ([`AuditEntry`]), and what front ends read ([`StepRecord`],
//! [`TimerView`], [`Outcome`]). Plain data, no behaviour beyond small conversions; every other
//! room of the engine uses it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::audit::AuditAction;
use crate::runbook::expect::ExecResult;
use crate::runbook::hosts::HostInfo;
use crate::runbook::{AccessRole, InputType};

/// Who is at the keyboard, and whether anyone is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Operator name (`$USER` unless configured).
    pub operator: String,
    /// Their role from `[operators]`.
    pub role: AccessRole,
    /// `--readonly` or `[fleet] readonly`: nothing that changes a host may run.
    pub readonly: bool,
    /// A person can answer prompts (a TTY for the CLI, always for the TUI). Without one, no
    /// typed confirmation, choice, checklist tick, note or input can be given.
    pub interactive: bool,
}

impl Session {
    pub(super) fn may_write(&self) -> bool {
        self.role.may_write() && !self.readonly
    }
}

/// One host's health as the executor last saw it (a fresh poll when the engine asked with
/// [`Effect::ProbeHealth`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HealthFact {
    /// The poll reached the host.
    pub reachable: bool,
    /// Not critical by the health rules (and reachable).
    pub healthy: bool,
    /// Service name → state.
    pub services: BTreeMap<String, ServiceState>,
    /// Chain height, if the host runs a chain node that answered.
    pub height: Option<u64>,
}

/// A service's state, as in `status --json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceState {
    /// Running.
    Running,
    /// Stopped.
    Stopped,
    /// Failed.
    Failed,
    /// Could not tell.
    Unknown,
}

/// Everything [`Run::start`] needs.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// Every host of the fleet ([`HostInfo::from_fleet`]): host inputs, quorum membership,
    /// chain peers.
    pub fleet: Vec<HostInfo>,
    /// The selected targets, in order ([`crate::runbook::select_targets`]).
    pub targets: Vec<String>,
    /// Inputs given up front (`--var k=v`, the TUI form), as text.
    pub inputs: BTreeMap<String, String>,
    /// Health of the fleet's hosts now; a host missing here counts as down for the quorum
    /// guard.
    pub health: BTreeMap<String, HealthFact>,
    /// Who runs it.
    pub session: Session,
    /// Wall-clock time now.
    pub now: SystemTime,
    /// The inventory's `height_lag_warn`: default lag for `synced` probes and chain gates.
    pub height_lag: u64,
}

/// Identifies one command run, so a late result is never taken for another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExecId(pub u64);

/// What the operator decides about a step whose outcome is unknown after an interruption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownDecision {
    /// Run the step again (a rolling step keeps the hosts it already finished).
    Retry,
    /// Treat it as done and go on (needs a reason).
    Skip,
    /// End the run.
    Abort,
}

/// Facts the executor (or the person) reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// Wall-clock time now; send it when a [`Effect::Wait`] is due and at least every second
    /// while timers run.
    Ticked {
        /// Now.
        now: SystemTime,
    },
    /// An answer to [`Effect::AskInput`].
    InputGiven {
        /// Input name.
        name: String,
        /// Value as typed (empty = the default, if any).
        value: String,
    },
    /// What the operator typed at [`Effect::AskConfirm`].
    Confirmed {
        /// The typed text.
        typed: String,
    },
    /// An answer to [`Effect::AskChoice`].
    Chosen {
        /// The option's label.
        option: String,
        /// Why (required when overriding a pre-selection).
        reason: Option<String>,
    },
    /// The checklist item of [`Effect::AskManual`] was done.
    ManualDone {
        /// Optional note.
        note: Option<String>,
    },
    /// The text typed for [`Effect::AskNote`].
    NoteGiven {
        /// The text.
        text: String,
    },
    /// A command of [`Effect::Exec`] finished (or could not run).
    ExecFinished {
        /// Which one.
        id: ExecId,
        /// What happened.
        result: ExecResult,
    },
    /// The webhook of [`Effect::Notify`] was posted (or not).
    NotifyFinished {
        /// The notify step.
        step: String,
        /// HTTP status, or why the request failed.
        result: Result<u16, String>,
    },
    /// Fresh health of some hosts (an answer to [`Effect::ProbeHealth`], or news at any time).
    HostHealth {
        /// Host → fact.
        facts: BTreeMap<String, HealthFact>,
        /// Wall-clock time when the facts were taken. A poll takes a while; a health gate that
        /// passes on these facts passed *now*, and a rolling pause is timed from here, not from
        /// the last tick. An earlier time than the engine's clock leaves the clock as it is.
        now: SystemTime,
    },
    /// Ctrl-C, a lost connection, a closing console: stop here, resumable.
    Interrupted {
        /// Why.
        reason: String,
    },
    /// Continue a persisted or interrupted run, possibly in another session.
    Resume {
        /// Who resumes it.
        session: Session,
        /// Now.
        now: SystemTime,
    },
    /// An answer to [`Effect::AskUnknown`].
    ResolveUnknown {
        /// Retry, skip or abort.
        decision: UnknownDecision,
        /// Why (required for skip).
        reason: Option<String>,
    },
    /// The operator ends the run.
    Abort {
        /// Why.
        reason: String,
    },
}

/// What the world should do, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Effect {
    /// Append to the audit log and fsync before acting on any later effect.
    Audit(AuditEntry),
    /// Run `command` on `host` and answer with [`Event::ExecFinished`].
    Exec {
        /// Answer with this id.
        id: ExecId,
        /// The step (`ROLLING.SUB` inside a rolling step).
        step: String,
        /// Host name.
        host: String,
        /// What to run (may hold secrets: never log it).
        command: String,
        /// What to show and log (secrets masked).
        display: String,
        /// Deadline (`None` = the inventory's `command_timeout`).
        timeout: Option<Duration>,
    },
    /// Run `command` on `host` over a NEW SSH connection — never the pooled one, which stays
    /// open — with `port` instead of the host's own (`None`: the same port); answer with
    /// [`Event::ExecFinished`]. A connection that cannot be made or logged into is a failed
    /// result, never a lost connection. The `reconnect` probe.
    Reconnect {
        /// Answer with this id.
        id: ExecId,
        /// The step (`ROLLING.SUB` inside a rolling step).
        step: String,
        /// Host name.
        host: String,
        /// Port of the new connection.
        port: Option<u16>,
        /// What to run over it.
        command: String,
        /// What to show and log.
        display: String,
        /// Deadline for the command (`None` = the inventory's `command_timeout`).
        timeout: Option<Duration>,
    },
    /// Write `port` as `host`'s SSH port in the inventory (a minimal, format-preserving edit
    /// of its file), or — where that cannot be done safely — show and audit the exact edit to
    /// make. Comes once a rolling step finished the host after its `reconnect` probe with
    /// `update_inventory` proved the port. Nothing to answer.
    InventoryPort {
        /// The rolling step.
        step: String,
        /// Host name.
        host: String,
        /// The port that was proven.
        port: u16,
    },
    /// A step began.
    StepStarted {
        /// Step id.
        step: String,
        /// Its title, rendered.
        title: String,
        /// Its kind.
        kind: String,
    },
    /// A step ended.
    StepFinished {
        /// Step id.
        step: String,
        /// How.
        status: StepStatus,
        /// One line for the operator.
        summary: String,
    },
    /// Ask for an input; answer with [`Event::InputGiven`].
    AskInput {
        /// Input name.
        name: String,
        /// Prompt.
        prompt: String,
        /// Type.
        kind: InputType,
        /// Mask what is typed.
        secret: bool,
        /// Allowed values of a choice input.
        choices: Vec<String>,
        /// Default used for an empty answer.
        default: Option<String>,
        /// Why the previous answer was refused.
        error: Option<String>,
    },
    /// Ask for a typed confirmation; answer with [`Event::Confirmed`] (or [`Event::Abort`]).
    AskConfirm {
        /// The dangerous step.
        step: String,
        /// Exactly what must be typed: the host name, or the number of hosts.
        expected: String,
        /// What will happen, in a sentence.
        summary: String,
        /// Host → command that will run (secrets masked).
        commands: Vec<(String, String)>,
        /// Why the previous attempt was refused.
        error: Option<String>,
    },
    /// Ask which option to take; answer with [`Event::Chosen`].
    AskChoice {
        /// The choice step.
        step: String,
        /// The question.
        question: String,
        /// Option labels, in order.
        options: Vec<String>,
        /// Pre-selected from a check; choosing another needs a reason.
        preselected: Option<String>,
        /// Why the previous answer was refused.
        error: Option<String>,
    },
    /// Show a checklist item; answer with [`Event::ManualDone`].
    AskManual {
        /// The manual step.
        step: String,
        /// The item.
        item: String,
        /// Details.
        text: String,
    },
    /// Ask for free text; answer with [`Event::NoteGiven`].
    AskNote {
        /// The note step.
        step: String,
        /// The prompt.
        prompt: String,
    },
    /// A step's outcome is unknown after an interruption; answer with
    /// [`Event::ResolveUnknown`].
    AskUnknown {
        /// The step.
        step: String,
        /// What was in flight.
        reason: String,
        /// Why the previous answer was refused.
        error: Option<String>,
    },
    /// Send [`Event::Ticked`] at (or after) `until`.
    Wait {
        /// The step waiting.
        step: String,
        /// When.
        until: SystemTime,
    },
    /// Poll these hosts now and answer with [`Event::HostHealth`] carrying a fact for each.
    ProbeHealth {
        /// The step asking.
        step: String,
        /// Hosts to poll.
        hosts: Vec<String>,
    },
    /// Show a countdown until `deadline`, and keep it visible.
    StartTimer {
        /// The timer step.
        step: String,
        /// Its label.
        title: String,
        /// When it runs out.
        deadline: SystemTime,
    },
    /// Take a countdown down.
    StopTimer {
        /// The timer step.
        step: String,
        /// Stopped before the deadline.
        met: bool,
    },
    /// A countdown ran out (it stays visible, now overdue).
    TimerExpired {
        /// The timer step.
        step: String,
    },
    /// POST `body` as JSON to `url`; answer with [`Event::NotifyFinished`].
    Notify {
        /// The notify step.
        step: String,
        /// URL (may hold secrets: never log it).
        url: String,
        /// Headers (may hold secrets).
        headers: Vec<(String, String)>,
        /// Body.
        body: serde_json::Value,
        /// URL with secrets masked, for display.
        display_url: String,
    },
    /// The run stopped and can be resumed: persist it and leave.
    Suspended {
        /// Where it stopped.
        step: Option<String>,
        /// Why.
        reason: String,
    },
    /// Something was refused (an audit record precedes this).
    Refused {
        /// Why, for the operator.
        reason: String,
    },
    /// An event that did not fit the run's state was ignored.
    Ignored {
        /// Why.
        reason: String,
    },
    /// The run is over.
    Finished {
        /// How.
        outcome: Outcome,
    },
}

/// One audit record as the engine sees it; the audit log adds `seq`, `time`, `operator`,
/// `role`, `source`, `prev` and `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// What happened.
    pub action: AuditAction,
    /// The runbook.
    pub runbook: String,
    /// The step, if any.
    pub step: Option<String>,
    /// Host, input name or webhook the record is about.
    pub target: Option<String>,
    /// Command or URL, secrets masked.
    pub command: Option<String>,
    /// Result: exit status, error, chosen option, outcome.
    pub result: Option<String>,
    /// Why: a refusal, an override, a note.
    pub reason: Option<String>,
    /// Duration of an exec.
    pub duration_ms: Option<u64>,
    /// On an `exec` record and its `exec.result`: the command both are about, so the log can
    /// write the pair as `before` and `after` with `pair` pointing at the opening record.
    #[serde(default)]
    pub exec: Option<ExecId>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The kind of ending.
    pub kind: OutcomeKind,
    /// The step it ended at (`None` = refused before the first step).
    pub step: Option<String>,
    /// One line for the operator.
    pub message: String,
    /// Whether this start or resume ran a command or posted a notification before it ended.
    /// A refusal that comes before either (at start, or a `--resume` that cannot go on)
    /// changed nothing and exits 2 like bad input; the executor keeps a saved run then.
    #[serde(default)]
    pub acted: bool,
}

/// Kinds of ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeKind {
    /// Done.
    Success,
    /// Handed over (an `end` with `outcome = "escalated"`).
    Escalated,
    /// A step failed, or an `end` says failure.
    Failed,
    /// Not allowed: role, read-only, quorum guard, no terminal, bad input.
    Refused,
    /// The operator ended it.
    Aborted,
}

impl OutcomeKind {
    /// The spelling used in audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Escalated => "escalated",
            Self::Failed => "failed",
            Self::Refused => "refused",
            Self::Aborted => "aborted",
        }
    }
}

impl Outcome {
    /// Exit status for `fleetdeck run`: 0 success, 1 failure (also escalated, aborted and
    /// refusals after something ran), 2 refused before anything ran in this start or resume
    /// (bad input, no terminal, role, quorum guard, a resume that needs answers without a
    /// terminal): see [`Outcome::acted`].
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            OutcomeKind::Success => 0,
            OutcomeKind::Refused if !self.acted => 2,
            _ => 1,
        }
    }
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    /// In progress.
    Running,
    /// Passed / done.
    Passed,
    /// Failed.
    Failed,
    /// Skipped by the operator.
    Skipped,
    /// Interrupted while in flight: outcome unknown.
    Unknown,
    /// Refused.
    Refused,
}

impl StepStatus {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Unknown => "unknown",
            Self::Refused => "refused",
        }
    }
}

/// One host's result in a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostResult {
    /// Passed.
    pub passed: bool,
    /// Exit status, for commands.
    pub exit: Option<i32>,
    /// Stdout (secrets masked, capped).
    pub output: String,
    /// Stderr (secrets masked, capped).
    pub stderr: String,
    /// Why it passed or failed.
    pub detail: String,
}

/// One visit of one step: the path taken, per-host results, decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Step id.
    pub step: String,
    /// Its title, rendered.
    pub title: String,
    /// Its kind.
    pub kind: String,
    /// Where it stands.
    pub status: StepStatus,
    /// Host → result (checks, actions, waits, rolling hosts).
    pub hosts: BTreeMap<String, HostResult>,
    /// The option taken at a choice.
    pub decision: Option<String>,
    /// The option that was pre-selected, if any.
    pub preselected: Option<String>,
    /// The reason given (an override, a skip).
    pub reason: Option<String>,
    /// A manual step's note or a note step's text.
    pub note: Option<String>,
    /// One line summary.
    pub summary: String,
}

/// Hosts that produced the same result, for a side-by-side view that coalesces identical
/// output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coalesced {
    /// The hosts, in name order.
    pub hosts: Vec<String>,
    /// Their common result.
    pub result: HostResult,
}

impl StepRecord {
    /// Per-host results grouped by identical result.
    pub fn coalesced(&self) -> Vec<Coalesced> {
        let mut groups: Vec<Coalesced> = Vec::new();
        for (host, result) in &self.hosts {
            match groups.iter_mut().find(|g| g.result == *result) {
                Some(g) => g.hosts.push(host.clone()),
                None => groups.push(Coalesced {
                    hosts: vec![host.clone()],
                    result: result.clone(),
                }),
            }
        }
        groups
    }
}

/// A countdown for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerView {
    /// The timer step.
    pub step: String,
    /// Label.
    pub title: String,
    /// When it runs out.
    pub deadline: SystemTime,
    /// Ran out.
    pub expired: bool,
    /// Taken down.
    pub stopped: bool,
    /// Step whose completion stops it.
    pub(super) until: Option<String>,
}

pub(super) fn entry(runbook: &str, action: AuditAction) -> AuditEntry {
    AuditEntry {
        action,
        runbook: runbook.to_owned(),
        step: None,
        target: None,
        command: None,
        result: None,
        reason: None,
        duration_ms: None,
        exec: None,
    }
}

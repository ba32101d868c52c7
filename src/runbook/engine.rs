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

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// The audit vocabulary is the audit module's; the engine names its records with it.
pub use crate::audit::AuditAction;

pub use super::expect::ExecResult;
use super::expect::{Verdict, judge};
use super::hosts::HostInfo;
use super::inputs::{validate_input, validate_inputs};
use super::quorum::{self, Membership};
use super::template::{self, Context, MASK, Rendered, Values};
use super::{
    AccessRole, Dur, EndOutcome, Expect, FailTo, HostSel, InputType, Notify, Probe, Rolling,
    Runbook, Step, StepKind, SubKind, Wait, When,
};

/// Output kept per host and step (the rest is dropped, marked with `…`).
const MAX_KEPT_OUTPUT: usize = 64 * 1024;

// =============================================================================================
// What the executor passes in

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
    fn may_write(&self) -> bool {
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
    /// The selected targets, in order ([`super::select_targets`]).
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

// =============================================================================================
// What the engine asks for

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

// =============================================================================================
// What the front ends read

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
    fn as_str(self) -> &'static str {
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
    until: Option<String>,
}

// =============================================================================================
// Internal state

/// Proof that the typed confirmation of one visit of one step was received and its audit
/// record emitted. Only `Run::accept_confirmation` makes one; it is never serialised.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Confirmed {
    step: usize,
    visit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Purpose {
    /// A check, action or wait attempt.
    Step,
    /// A rolling sub-step (`rollback` = from the rollback list).
    Sub { rollback: bool, sub: usize },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ExecSlot {
    index: usize,
    visit: u32,
    host: String,
    purpose: Purpose,
    display: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Then {
    Begin,
    Resume {
        index: usize,
        unknown: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Phase {
    Inputs {
        pending: Vec<String>,
        then: Then,
    },
    Step {
        index: usize,
        visit: u32,
        state: StepState,
    },
    Unknown {
        index: usize,
        reason: String,
    },
    Suspended {
        at: Option<usize>,
        reason: String,
        unknown: Option<String>,
        inputs: Vec<String>,
    },
    Finished,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Attempt {
    /// Hosts still to report.
    pending: BTreeSet<String>,
    /// Exec id → host.
    execs: BTreeMap<u64, String>,
    /// Host → result.
    results: BTreeMap<String, HostResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Poll {
    deadline: SystemTime,
    next_at: Option<SystemTime>,
    tries: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum StepState {
    Confirm {
        hosts: Vec<String>,
        expected: String,
    },
    Attempt {
        attempt: Attempt,
        poll: Option<Poll>,
    },
    Choose {
        preselected: Option<String>,
    },
    Manual,
    Note,
    Waiting {
        until: SystemTime,
    },
    Notifying,
    Rolling(Box<RollingState>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RollingState {
    order: Vec<String>,
    pending: Vec<String>,
    done: Vec<String>,
    failed: Vec<(String, String)>,
    active: BTreeMap<String, HostRun>,
    stopping: bool,
    confirming: Option<String>,
    pause_until: Option<SystemTime>,
    #[serde(skip)]
    confirmed: Option<Confirmed>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct HostRun {
    rollback: bool,
    sub: usize,
    stage: HostStage,
    failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum HostStage {
    Exec(u64),
    Sleep(SystemTime),
    Probe,
    Gate {
        deadline: SystemTime,
        baseline: Option<u64>,
        next_at: Option<SystemTime>,
        last: String,
    },
}

/// Effects of one call, in order.
#[derive(Default)]
struct Fx {
    effects: Vec<Effect>,
    /// A command or a notification is among them.
    acted: bool,
}

impl Fx {
    fn push(&mut self, e: Effect) {
        self.acted |= matches!(e, Effect::Exec { .. } | Effect::Notify { .. });
        self.effects.push(e);
    }
}

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

/// Result of entering or finishing a step: where to go next.
enum Flow {
    /// Wait for an event.
    Stay,
    /// Enter this step (`len` = ran off the end: success).
    Goto(usize),
    /// Already finished.
    Done,
}

// =============================================================================================
// Rendering environment shared with the dry run

pub(crate) struct Env<'a> {
    pub(crate) runbook: &'a Runbook,
    pub(crate) fleet: &'a [HostInfo],
    pub(crate) targets: &'a [String],
    pub(crate) inputs: &'a BTreeMap<String, String>,
    pub(crate) stamp: String,
    pub(crate) decisions: BTreeMap<String, String>,
}

pub(crate) struct NotifyRequest {
    pub(crate) url: String,
    pub(crate) display_url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: serde_json::Value,
    pub(crate) display_body: serde_json::Value,
}

impl Env<'_> {
    fn host(&self, name: &str) -> Option<&HostInfo> {
        self.fleet.iter().find(|h| h.name == name)
    }

    pub(crate) fn hosts_for(&self, sel: &HostSel) -> Vec<String> {
        match sel {
            HostSel::All => self.targets.to_vec(),
            HostSel::First => self.targets.iter().take(1).cloned().collect(),
            HostSel::Input(name) => self
                .inputs
                .get(name)
                .filter(|v| !v.is_empty())
                .cloned()
                .into_iter()
                .collect(),
        }
    }

    fn render(&self, host: Option<&str>, text: &str, context: Context) -> Result<Rendered, String> {
        let info = match host {
            Some(h) => Some(
                self.host(h)
                    .ok_or_else(|| format!("host {h:?} is not in the inventory"))?,
            ),
            None => None,
        };
        let runbook = self.runbook;
        let secret = |n: &str| runbook.input(n).is_some_and(|i| i.secret);
        let values = Values {
            host: info,
            targets: self.targets,
            inputs: self.inputs,
            secret: &secret,
            stamp: &self.stamp,
            decisions: &self.decisions,
        };
        template::render(text, context, &values)
    }

    pub(crate) fn command(&self, host: &str, text: &str) -> Result<Rendered, String> {
        self.render(Some(host), text, Context::Command)
    }

    fn regex(&self, host: &str, text: &str) -> Result<String, String> {
        self.render(Some(host), text, Context::Regex)
            .map(|r| r.real)
    }

    /// Display text; a template that cannot render is shown as written.
    fn display(&self, text: &str) -> String {
        self.render(None, text, Context::Display)
            .map(|r| r.display)
            .unwrap_or_else(|_| text.to_owned())
    }

    pub(crate) fn notify(&self, n: &Notify) -> Result<NotifyRequest, String> {
        let (url, display_url) = match super::load::single_placeholder(&n.url) {
            // A whole URL from an input (a webhook URL is often itself the secret).
            Some(_) => {
                let r = self.render(None, &n.url, Context::Request)?;
                if r.real.is_empty() {
                    return Err("no webhook URL was given".to_owned());
                }
                if !(r.real.starts_with("https://") || r.real.starts_with("http://")) {
                    return Err(format!(
                        "the notify URL {} is not an http:// or https:// URL",
                        r.display
                    ));
                }
                (r.real, r.display)
            }
            None => {
                let r = self.render(None, &n.url, Context::Url)?;
                (r.real, r.display)
            }
        };
        let mut headers = Vec::new();
        for (name, value) in &n.headers {
            headers.push((
                name.clone(),
                self.render(None, value, Context::Request)?.real,
            ));
        }
        let body = self.json(&n.body, true)?;
        let display_body = self.json(&n.body, false)?;
        Ok(NotifyRequest {
            url,
            display_url,
            headers,
            body,
            display_body,
        })
    }

    fn json(&self, value: &serde_json::Value, real: bool) -> Result<serde_json::Value, String> {
        use serde_json::Value;
        Ok(match value {
            Value::String(s) => {
                let r = self.render(None, s, Context::Request)?;
                Value::String(if real { r.real } else { r.display })
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.json(v, real))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.json(v, real)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }
}

/// `run.stamp`: UTC `YYYYMMDDHHMMSS` of `now`.
pub(crate) fn stamp(now: SystemTime) -> String {
    let t = time::OffsetDateTime::from(now);
    let format = time::macros::format_description!("[year][month][day][hour][minute][second]");
    t.format(&format)
        .unwrap_or_else(|_| "00000000000000".to_owned())
}

/// Indices of the steps reachable from `start` (all branches).
pub(crate) fn reachable_from(runbook: &Runbook, start: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(i) = stack.pop() {
        if i >= runbook.steps.len() || !seen.insert(i) {
            continue;
        }
        stack.extend(super::load::successors(runbook, i));
    }
    seen
}

fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn entry(runbook: &str, action: AuditAction) -> AuditEntry {
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

// =============================================================================================
// The run

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

    // -----------------------------------------------------------------------------------------
    // Start-time checks

    /// A runbook's `requires` against the session's role (at start and at every resume: the
    /// person resuming may not be the one who started).
    fn role_check(&self) -> Result<(), String> {
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

    fn start_checks(&mut self, given: &BTreeMap<String, String>) -> Result<Vec<String>, String> {
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
    fn plan_checks(&self, from: usize) -> Result<(), String> {
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

    fn store_input(&mut self, name: String, value: String) {
        if self.runbook.input(&name).is_some_and(|i| i.secret) {
            self.secrets.insert(name, value);
        } else {
            self.inputs.insert(name, value);
        }
    }

    fn inputs_summary(&self) -> String {
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

    fn all_inputs(&self) -> BTreeMap<String, String> {
        let mut all = self.inputs.clone();
        all.extend(self.secrets.iter().map(|(k, v)| (k.clone(), v.clone())));
        all
    }

    // -----------------------------------------------------------------------------------------
    // Small helpers

    fn audit(&self, fx: &mut Fx, action: AuditAction, f: impl FnOnce(&mut AuditEntry)) {
        let mut e = entry(&self.runbook.name, action);
        f(&mut e);
        fx.push(Effect::Audit(e));
    }

    fn with_env<T>(&self, f: impl FnOnce(&Env<'_>) -> T) -> T {
        let inputs = self.all_inputs();
        let env = Env {
            runbook: &self.runbook,
            fleet: &self.fleet,
            targets: &self.targets,
            inputs: &inputs,
            stamp: self.stamp.clone(),
            decisions: self.decisions(),
        };
        f(&env)
    }

    fn dur(&self, d: &Dur) -> Duration {
        d.resolve(&self.inputs)
    }

    fn dur_opt(&self, d: &Option<Dur>) -> Option<Duration> {
        d.as_ref().map(|d| self.dur(d))
    }

    /// Choice step id → label taken at its latest visit.
    fn decisions(&self) -> BTreeMap<String, String> {
        self.records
            .iter()
            .filter_map(|r| r.decision.clone().map(|d| (r.step.clone(), d)))
            .collect()
    }

    fn mask(&self, text: &str) -> String {
        template::mask_secrets(text, self.secrets.values())
    }

    fn record_mut(&mut self) -> Option<&mut StepRecord> {
        self.records.last_mut()
    }

    fn step_id(&self, index: usize) -> String {
        self.runbook
            .steps
            .get(index)
            .map_or_else(String::new, |s| s.id.clone())
    }

    fn refuse(&mut self, fx: &mut Fx, index: Option<usize>, reason: String) {
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

    fn finish(&mut self, fx: &mut Fx, mut outcome: Outcome) {
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

    fn ignored(&self, fx: &mut Fx, reason: impl Into<String>) {
        fx.push(Effect::Ignored {
            reason: reason.into(),
        });
    }

    // -----------------------------------------------------------------------------------------
    // Inputs

    fn ask_next_input(&mut self, fx: &mut Fx, error: Option<String>) {
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

    fn on_input(&mut self, fx: &mut Fx, name: String, value: String) {
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

    // -----------------------------------------------------------------------------------------
    // Entering and leaving steps

    /// Follows flows until the run waits for an event or ends.
    fn drive(&mut self, fx: &mut Fx, mut flow: Flow) {
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

    fn enter(&mut self, fx: &mut Fx, index: usize) -> Flow {
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
        let set = |run: &mut Run, state: StepState| {
            run.phase = Phase::Step {
                index,
                visit,
                state,
            };
        };
        match &step.kind {
            StepKind::Check(c) => {
                let hosts = self.with_env(|env| env.hosts_for(&c.on));
                let attempt = self.start_attempt(
                    fx,
                    index,
                    visit,
                    &hosts,
                    &c.probe,
                    self.dur_opt(&c.timeout),
                );
                set(
                    self,
                    StepState::Attempt {
                        attempt,
                        poll: None,
                    },
                );
                self.settle_attempt(fx)
            }
            StepKind::Action(a) => {
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
                    return self
                        .ask_confirm(fx, index, visit, hosts, expected, summary, commands, None);
                }
                let attempt = self.start_attempt(
                    fx,
                    index,
                    visit,
                    &hosts,
                    &Probe::Command(a.command.clone()),
                    self.dur_opt(&a.timeout),
                );
                set(
                    self,
                    StepState::Attempt {
                        attempt,
                        poll: None,
                    },
                );
                self.settle_attempt(fx)
            }
            StepKind::Choice(c) => {
                let preselected = self.preselect(c);
                if let Some(r) = self.record_mut() {
                    r.preselected = preselected.clone();
                }
                if !self.session.interactive {
                    return match preselected {
                        Some(option) => {
                            set(
                                self,
                                StepState::Choose {
                                    preselected: Some(option.clone()),
                                },
                            );
                            self.take_option(
                                fx,
                                option,
                                Some("pre-selected, no terminal".to_owned()),
                            )
                        }
                        None => {
                            self.refuse(
                                fx,
                                Some(index),
                                format!(
                                    "choice `{}` has no pre-selection and there is no terminal \
                                     to choose",
                                    step.id
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
                    step: step.id.clone(),
                    question,
                    options,
                    preselected: preselected.clone(),
                    error: None,
                });
                set(self, StepState::Choose { preselected });
                Flow::Stay
            }
            StepKind::Manual(_) => {
                let text = self.with_env(|env| env.display(&step.text));
                fx.push(Effect::AskManual {
                    step: step.id.clone(),
                    item: title,
                    text,
                });
                set(self, StepState::Manual);
                Flow::Stay
            }
            StepKind::Note => {
                let prompt = self.with_env(|env| env.display(&step.text));
                fx.push(Effect::AskNote {
                    step: step.id.clone(),
                    prompt: if prompt.is_empty() { title } else { prompt },
                });
                set(self, StepState::Note);
                Flow::Stay
            }
            StepKind::Wait(Wait::For(d)) => {
                let d = self.dur(d);
                let until = self.now + d;
                if d == Duration::ZERO {
                    return self.complete(fx, index, true, "no wait".to_owned());
                }
                fx.push(Effect::Wait {
                    step: step.id.clone(),
                    until,
                });
                set(self, StepState::Waiting { until });
                Flow::Stay
            }
            StepKind::Wait(Wait::Until {
                on, probe, timeout, ..
            }) => {
                let hosts = self.with_env(|env| env.hosts_for(on));
                let attempt = self.start_attempt(fx, index, visit, &hosts, probe, None);
                set(
                    self,
                    StepState::Attempt {
                        attempt,
                        poll: Some(Poll {
                            deadline: self.now + self.dur(timeout),
                            next_at: None,
                            tries: 1,
                        }),
                    },
                );
                self.settle_attempt(fx)
            }
            StepKind::Timer(t) => {
                let duration = self.dur(&t.duration);
                let deadline = self.now + duration;
                self.timers.retain(|x| x.step != step.id);
                self.timers.push(TimerView {
                    step: step.id.clone(),
                    title: title.clone(),
                    deadline,
                    expired: false,
                    stopped: false,
                    until: t.until.clone(),
                });
                self.audit(fx, AuditAction::TimerStart, |e| {
                    e.step = Some(step.id.clone());
                    e.result = Some(humantime::format_duration(duration).to_string());
                });
                fx.push(Effect::StartTimer {
                    step: step.id.clone(),
                    title,
                    deadline,
                });
                self.complete(fx, index, true, "countdown started".to_owned())
            }
            StepKind::Notify(n) => {
                let request = self.with_env(|env| env.notify(n));
                match request {
                    Err(e) => self.complete(fx, index, false, e),
                    Ok(req) => {
                        self.audit(fx, AuditAction::Notify, |e| {
                            e.step = Some(step.id.clone());
                            e.target = Some(req.display_url.clone());
                            e.command =
                                Some(serde_json::to_string(&req.display_body).unwrap_or_default());
                        });
                        fx.push(Effect::Notify {
                            step: step.id.clone(),
                            url: req.url,
                            headers: req.headers,
                            body: req.body,
                            display_url: req.display_url,
                        });
                        set(self, StepState::Notifying);
                        Flow::Stay
                    }
                }
            }
            StepKind::Rolling(r) => self.enter_rolling(fx, index, visit, r, &title),
            StepKind::End(end) => {
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
                    EndOutcome::Auto if failed.is_empty() => {
                        (OutcomeKind::Success, StepStatus::Passed)
                    }
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
        }
    }

    /// Ends the current step as passed or failed and says where to go.
    fn complete(&mut self, fx: &mut Fx, index: usize, passed: bool, summary: String) -> Flow {
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

    fn stop_timers_until(&mut self, fx: &mut Fx, step: &str) {
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

    // -----------------------------------------------------------------------------------------
    // Checks, actions and waits: attempts

    fn start_attempt(
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
    fn emit_exec(
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
        let step = &self.runbook.steps[index];
        if step.is_dangerous() {
            let ok = confirmed.is_some_and(|c| c.step == index && c.visit == visit);
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
        fx.push(Effect::Exec {
            id,
            step: label,
            host: host.to_owned(),
            command: rendered.real,
            display: rendered.display.clone(),
            timeout,
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
    fn settle_attempt(&mut self, fx: &mut Fx) -> Flow {
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

    fn on_exec(&mut self, fx: &mut Fx, id: ExecId, result: ExecResult) {
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

    fn step_label(&self, slot: &ExecSlot) -> String {
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

    fn judge_step(&self, index: usize, host: &str, result: &ExecResult) -> Verdict {
        let expect = match &self.runbook.steps[index].kind {
            StepKind::Check(c) => c.expect.clone(),
            StepKind::Action(a) => a.expect.clone(),
            StepKind::Wait(Wait::Until { expect, .. }) => expect.clone(),
            _ => Expect::default(),
        };
        self.judge_with(&expect, host, result)
    }

    fn judge_with(&self, expect: &Expect, host: &str, result: &ExecResult) -> Verdict {
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

    // -----------------------------------------------------------------------------------------
    // Health probes

    fn peers_of(&self, host: &str) -> Vec<String> {
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

    fn has_chain(&self, host: &str) -> bool {
        self.fleet.iter().any(|h| h.name == host && h.chain)
    }

    /// The best height known among `host` and its peers.
    fn best_height(&self, host: &str) -> Option<u64> {
        self.peers_of(host)
            .iter()
            .chain(std::iter::once(&host.to_owned()))
            .filter_map(|h| self.health.get(h).and_then(|f| f.height))
            .max()
    }

    fn probe_verdict(&self, probe: &Probe, host: &str, fact: &HealthFact) -> Verdict {
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
            Probe::Command(_) => Verdict {
                passed: false,
                detail: "not a probe".to_owned(),
            },
        }
    }

    fn on_health(&mut self, fx: &mut Fx, facts: BTreeMap<String, HealthFact>) {
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
                if matches!(probe, Probe::Command(_)) {
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

    // -----------------------------------------------------------------------------------------
    // Time

    fn on_tick(&mut self, fx: &mut Fx) {
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

    // -----------------------------------------------------------------------------------------
    // Confirmation

    #[allow(clippy::too_many_arguments)]
    fn ask_confirm(
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
    fn accept_confirmation(
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

    fn on_confirmed(&mut self, fx: &mut Fx, typed: String) {
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

    fn reask_confirm(
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

    // -----------------------------------------------------------------------------------------
    // Choices, manual steps, notes, notifications

    fn preselect(&self, choice: &super::Choice) -> Option<String> {
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

    fn on_chosen(&mut self, fx: &mut Fx, option: String, reason: Option<String>) {
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

    fn take_option(&mut self, fx: &mut Fx, option: String, reason: Option<String>) -> Flow {
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

    fn on_manual(&mut self, fx: &mut Fx, note: Option<String>) {
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

    fn on_note(&mut self, fx: &mut Fx, text: String) {
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

    fn on_notified(&mut self, fx: &mut Fx, step: String, result: Result<u16, String>) {
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

    // -----------------------------------------------------------------------------------------
    // Rolling

    fn membership(&self) -> Membership {
        Membership::new(
            self.fleet
                .iter()
                .map(|h| (h.name.as_str(), h.consensus_group.as_deref(), h.consensus)),
        )
    }

    fn rolling_summary(
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

    fn enter_rolling(
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

    fn rolling_state(&mut self) -> Option<&mut RollingState> {
        match &mut self.phase {
            Phase::Step {
                state: StepState::Rolling(r),
                ..
            } => Some(r),
            _ => None,
        }
    }

    fn rolling_def(&self, index: usize) -> Option<Rolling> {
        match &self.runbook.steps.get(index)?.kind {
            StepKind::Rolling(r) => Some(r.clone()),
            _ => None,
        }
    }

    /// Hosts that count as down for the quorum guard: unhealthy or unknown by the latest
    /// health, failed in this rollout, or in flight.
    fn down_set(&self, state: &RollingState) -> BTreeSet<String> {
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

    fn rolling_next_batch(&mut self, fx: &mut Fx, index: usize, visit: u32) -> Flow {
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
    fn rolling_run_sub(
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

    fn rolling_probe_gate(&mut self, fx: &mut Fx, index: usize, host: &str) {
        let mut hosts: BTreeSet<String> = BTreeSet::from([host.to_owned()]);
        hosts.extend(self.peers_of(host));
        fx.push(Effect::ProbeHealth {
            step: self.step_id(index),
            hosts: hosts.into_iter().collect(),
        });
    }

    /// A sub-step of `host` failed: start its rollback (or finish it failed).
    #[allow(clippy::too_many_arguments)]
    fn rolling_sub_failed(
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

    fn rolling_host_failed_final(&mut self, fx: &mut Fx, index: usize, host: &str, reason: String) {
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

    fn rolling_host_done(&mut self, fx: &mut Fx, index: usize, host: &str, detail: String) {
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
            e.step = Some(step);
            e.target = Some(host.to_owned());
            e.result = Some(detail.clone());
        });
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

    /// After hosts changed state: start a pause or the next batch once the batch is done.
    fn rolling_after_change(&mut self, fx: &mut Fx, index: usize, visit: u32) -> Flow {
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

    fn rolling_exec_done(
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

    fn gate_verdict(
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

    fn rolling_health(
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
    fn gate_failed(
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

    fn rolling_tick(&mut self, fx: &mut Fx, index: usize, visit: u32) -> Flow {
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

    // -----------------------------------------------------------------------------------------
    // Interruption, resume, abort

    /// Why the current step's outcome would be unknown if the run stopped now.
    fn in_flight(&self) -> Option<String> {
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

    fn position(&self) -> (Option<usize>, Vec<String>) {
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

    fn on_interrupt(&mut self, fx: &mut Fx, reason: String) {
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

    fn carry_rolling_done(&mut self) {
        if let Phase::Step {
            index,
            state: StepState::Rolling(r),
            ..
        } = &self.phase
        {
            self.carry_done.insert(*index, r.done.clone());
        }
    }

    fn on_resume(&mut self, fx: &mut Fx, session: Session, now: SystemTime) {
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

    fn resume_checks(&self, at: Option<usize>, pending: &[String]) -> Result<(), String> {
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

    fn continue_resume(&mut self, fx: &mut Fx, index: usize, unknown: Option<String>) {
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

    fn on_resolve(&mut self, fx: &mut Fx, decision: UnknownDecision, reason: Option<String>) {
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

    fn on_abort(&mut self, fx: &mut Fx, reason: String) {
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

fn step_hosts(step: &Step) -> Option<HostSel> {
    match &step.kind {
        StepKind::Check(c) => Some(c.on.clone()),
        StepKind::Action(a) => Some(a.on.clone()),
        StepKind::Wait(Wait::Until { on, .. }) => Some(on.clone()),
        StepKind::Rolling(r) => Some(r.on.clone()),
        _ => None,
    }
}

/// What must be typed to confirm a dangerous step on `hosts`: the host's name, or how many.
fn expected_text(hosts: &[String]) -> String {
    match hosts {
        [one] => one.clone(),
        many => many.len().to_string(),
    }
}

fn host_phrase(hosts: &[String]) -> String {
    match hosts {
        [one] => format!("host {one}"),
        many => format!("{} hosts ({})", many.len(), many.join(", ")),
    }
}

fn quote_list(ids: &[&str]) -> String {
    ids.iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn service_state_str(state: ServiceState) -> &'static str {
    match state {
        ServiceState::Running => "running",
        ServiceState::Stopped => "stopped",
        ServiceState::Failed => "failed",
        ServiceState::Unknown => "in an unknown state",
    }
}

fn failed_result(detail: String) -> HostResult {
    HostResult {
        passed: false,
        exit: None,
        output: String::new(),
        stderr: String::new(),
        detail,
    }
}

fn host_result(result: &ExecResult, verdict: Verdict) -> HostResult {
    HostResult {
        passed: verdict.passed,
        exit: result.exit,
        output: clip(&result.stdout, MAX_KEPT_OUTPUT),
        stderr: clip(&result.stderr, MAX_KEPT_OUTPUT / 16),
        detail: verdict.detail,
    }
}

fn summarize(results: &BTreeMap<String, HostResult>) -> String {
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

#[cfg(test)]
mod tests;

#[cfg(test)]
mod props;

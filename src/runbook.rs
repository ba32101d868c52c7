//! Runbooks: guided procedures from the operations manuals, as data, and the pure engine that
//! walks an operator through one.
//!
//! This module owns the runbook format (TOML, documented in `docs/runbooks.md`), its linter,
//! the placeholder language of command templates, the expectations a check applies to command
//! output, the quorum guard of rolling steps, the dry-run plan, and the engine: a state machine
//! that is given a runbook, the resolved targets, inputs and who is at the keyboard, and answers
//! every [`Event`] with the [`Effect`]s the world should carry out (run this on those hosts, ask
//! for a typed confirmation, write this audit record, wait until then, post this webhook).
//!
//! It must stay pure: no terminal, no network, no clock reads, no process or file I/O except
//! reading runbook files in [`load`]. Time arrives in events ([`Event::Ticked`]), command output
//! arrives in [`Event::ExecFinished`], health arrives in [`Event::HostHealth`].
//!
//! Safety lives here, not in the front ends: a dangerous step cannot produce an
//! [`Effect::Exec`] before a matching typed confirmation was received and its
//! [`AuditAction::Confirm`] record was emitted ahead of it; read-only roles and `--readonly` are
//! refused here; the quorum guard refuses a rolling batch that would take more than F members of
//! a consensus group of N = 3F+1 down; without a terminal a plan that would need a
//! confirmation is refused before anything runs.
//!
//! Callers: the headless CLI (`fleetdeck run`, `runbook list|show|lint`) and the TUI runbook
//! pane drive [`Run`] through an executor that performs the effects (SSH execs, webhook posts,
//! the audit log) and feeds the results back as events. Typical loop:
//!
//! ```no_run
//! # use fleetdeck::runbook::*;
//! # fn perform(_: &Effect) -> Option<Event> { None }
//! # fn demo(runbook: Runbook, ctx: RunContext) {
//! let (mut run, mut effects) = Run::start(runbook, ctx);
//! while !run.is_finished() {
//!     let mut events = Vec::new();
//!     for effect in &effects {
//!         // Audit effects are written (fsync'd) in order before any later effect is acted on.
//!         if let Some(event) = perform(effect) {
//!             events.push(event);
//!         }
//!     }
//!     effects = events.into_iter().flat_map(|e| run.handle(e)).collect();
//!     # break;
//! }
//! # }
//! ```
//!
//! The contract for executors and front ends:
//!
//! * Loading: [`catalog`] (shipped + the operator's, for `runbook list`), [`find`] (a name or a
//!   path, for `run` and `runbook show`), [`user_dir`], [`shipped`] / [`shipped_runbook`]
//!   (built into the binary), [`load_file`] and
//!   [`parse`] (a [`Runbook`] or every [`LintError`], sorted, each `FILE:LINE:COL: message`),
//!   [`lint`] / [`lint_file`] for `runbook lint`.
//! * Starting: [`HostInfo::from_fleet`] for [`RunContext::fleet`], [`select_targets`] for
//!   [`RunContext::targets`] (the runbook's `[targets]` ∩ `--hosts` / `--group`), a
//!   [`HealthFact`] per host for [`RunContext::health`] (a host missing there counts as down for
//!   the quorum guard), [`Session`] with `interactive = false` when there is no TTY. A start
//!   refused before anything ran ends with [`Outcome::exit_code`] 2.
//! * Dry run: [`plan_dry_run`] with the same context: one [`PlannedCommand`] per host and
//!   command, secrets masked.
//! * Effects come in the order they must be carried out. Every [`Effect::Exec`] comes after its
//!   [`AuditAction::Exec`] record; commands started together (one check on every host, a
//!   rolling batch) arrive as consecutive `Exec`s after all their records, so an executor can
//!   start a run of consecutive `Exec`s concurrently. Answer each
//!   `Ask*` with its event, each `Exec` (and [`Effect::Reconnect`]: the same over a new
//!   connection on its port) with [`Event::ExecFinished`] carrying its [`ExecId`],
//!   each [`Effect::ProbeHealth`] with one [`Event::HostHealth`] holding a fresh fact for every
//!   host asked about and the time the poll ended (a rolling pause is timed from there), each [`Effect::Notify`] with [`Event::NotifyFinished`], and send
//!   [`Event::Ticked`] when the earliest [`Effect::Wait`] is due and about once a second while
//!   a timer runs. Events that do not fit are answered with [`Effect::Ignored`], never a panic.
//! * Reading for display: [`Run::records`] (the path taken, per-host results, decisions;
//!   [`StepRecord::coalesced`] groups identical output), [`Run::current_step`],
//!   [`Run::timers`], [`Run::inputs`] (secrets masked), [`Run::outcome`].
//! * Stopping: [`Event::Interrupted`] suspends ([`Effect::Suspended`]); serialise the [`Run`]
//!   with serde after every call; after a restart deserialise it and send [`Event::Resume`]
//!   with the new session. An in-flight step comes back as [`Effect::AskUnknown`]; secrets are
//!   asked again ([`Effect::AskInput`]); dangerous steps are confirmed again.

pub mod engine;
pub mod expect;
pub mod file;
pub mod hosts;
mod inputs;
pub mod load;
pub mod matching;
pub mod plan;
pub mod quorum;
pub mod template;
mod validate;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use engine::{
    AuditAction, AuditEntry, Coalesced, Effect, Event, ExecId, ExecResult, HealthFact, HostResult,
    Outcome, OutcomeKind, Run, RunContext, ServiceState, Session, StepRecord, StepStatus,
    TimerView, UnknownDecision, expected_text,
};
pub use hosts::{HostInfo, ServiceOps};
pub use load::{
    CatalogEntry, LintError, Origin, catalog, find, lint, lint_file, load_file, parse, shipped,
    shipped_runbook, user_dir,
};
// The console checks inputs typed into it with the same rules as `--var`.
pub(crate) use inputs::validate_inputs;
pub use matching::{AlertFacts, FillSource, HostFacts, Offer, offers};
pub use plan::{PlannedCommand, plan_dry_run, select_targets};

/// A validated runbook: every reference resolved, every template and pattern checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Runbook {
    /// Short name (`restore`).
    pub name: String,
    /// One line for lists.
    pub title: String,
    /// Longer explanation.
    pub description: String,
    /// Manual and section the procedure is traced to.
    pub source: Option<String>,
    /// Least role that may start it; `None` means anyone may start it (writing steps still
    /// need an operator).
    pub requires: Option<AccessRole>,
    /// Health rules the runbook answers (its `for`), in file order; empty = it is offered for
    /// no alert in particular. Names from [`crate::rules::RULES`].
    #[serde(default)]
    pub answers: Vec<String>,
    /// Input name → the part of an alert that fills it when the runbook is started from one
    /// (its `[fill]`); see [`matching`].
    #[serde(default)]
    pub fill: BTreeMap<String, FillSource>,
    /// Inputs, in the order they are asked for.
    pub inputs: Vec<Input>,
    /// Target selection; `None` means whatever the caller selects.
    pub targets: Option<Targets>,
    /// Steps, in file order.
    pub steps: Vec<Step>,
}

impl Runbook {
    /// Where a step may go next: its success successor(s) and its failure successor.
    /// An index equal to the number of steps means "the end of the runbook".
    pub fn successors(&self, i: usize) -> Vec<usize> {
        let step = &self.steps[i];
        let index = |id: &str| self.step(id).map(|(j, _)| j);
        let fallthrough = || match &step.next {
            Some(id) => index(id),
            None => Some(i + 1),
        };
        let fail = |f: &FailTo| match f {
            FailTo::Stop => None,
            FailTo::Next => Some(i + 1),
            FailTo::Step(id) => index(id),
        };
        let mut out: Vec<Option<usize>> = match &step.kind {
            StepKind::End(_) => Vec::new(),
            StepKind::Choice(c) => c.options.iter().map(|o| index(&o.goto)).collect(),
            StepKind::Check(c) => vec![fallthrough(), fail(&c.on_fail)],
            StepKind::Action(a) => vec![fallthrough(), fail(&a.on_fail)],
            StepKind::Wait(Wait::Until { on_fail, .. }) => vec![fallthrough(), fail(on_fail)],
            StepKind::Notify(n) => vec![fallthrough(), fail(&n.on_fail)],
            StepKind::Rolling(r) => vec![fallthrough(), fail(&r.on_fail)],
            StepKind::Wait(Wait::For(_))
            | StepKind::Manual(_)
            | StepKind::Note
            | StepKind::Timer(_) => {
                vec![fallthrough()]
            }
        };
        out.dedup();
        out.into_iter().flatten().collect()
    }

    /// The step with id `id` and its index.
    pub fn step(&self, id: &str) -> Option<(usize, &Step)> {
        self.steps.iter().enumerate().find(|(_, s)| s.id == id)
    }

    /// The input called `name`.
    pub fn input(&self, name: &str) -> Option<&Input> {
        self.inputs.iter().find(|i| i.name == name)
    }

    /// Whether any step (or rolling sub-step) is dangerous.
    pub fn has_dangerous_steps(&self) -> bool {
        self.steps.iter().any(Step::is_dangerous)
    }
}

/// Access role: the inventory's one role type, under the name runbook code has always used.
pub use crate::inventory::Role as AccessRole;

/// One input of a runbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// Placeholder name.
    pub name: String,
    /// Prompt shown when asking.
    pub prompt: String,
    /// Value type.
    pub kind: InputType,
    /// `string`: regex the whole value must match.
    pub pattern: Option<String>,
    /// `choice`: allowed values.
    pub choices: Vec<String>,
    /// Default, already in its canonical spelling.
    pub default: Option<String>,
    /// Must be given (when there is no default).
    pub required: bool,
    /// Never shown, logged or audited.
    pub secret: bool,
}

/// Type of an input value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputType {
    /// Any text (optionally matching `pattern`).
    String,
    /// A whole number.
    Int,
    /// `true` or `false`.
    Bool,
    /// One of `choices`.
    Choice,
    /// A duration like `30s`, `15m`.
    Duration,
    /// The name of a host of the fleet.
    Host,
    /// A file or directory on the hosts: absolute, or `~`, `~/rest`, `~user/rest`. In a
    /// command it renders through [`crate::host_path::shell_word`], so a leading `~` is the
    /// host's home, the same rule as the inventory's paths.
    Path,
}

impl InputType {
    /// The spelling used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Int => "int",
            Self::Bool => "bool",
            Self::Choice => "choice",
            Self::Duration => "duration",
            Self::Host => "host",
            Self::Path => "path",
        }
    }
}

/// Which hosts a runbook runs on; every given criterion must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    /// Glob over host names.
    pub hosts: Option<String>,
    /// Inventory group.
    pub group: Option<String>,
    /// BFT consensus group.
    pub consensus_group: Option<String>,
    /// Consensus role.
    pub role: Option<TargetRole>,
}

/// Consensus role a target selection may require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetRole {
    /// Voting members.
    Consensus,
    /// Syncing, non-voting nodes.
    Observer,
    /// Neither.
    Free,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Unique id.
    pub id: String,
    /// Short text (a template; defaults to the id).
    pub title: String,
    /// Longer text (a template; may be empty).
    pub text: String,
    /// Explicit successor on success; `None` = the next step in the file.
    pub next: Option<String>,
    /// What the step does.
    pub kind: StepKind,
}

impl Step {
    /// Whether running this step needs a typed confirmation.
    pub fn is_dangerous(&self) -> bool {
        match &self.kind {
            StepKind::Action(a) => a.dangerous,
            StepKind::Rolling(r) => r.is_dangerous(),
            _ => false,
        }
    }

    /// Whether the step changes hosts or reaches people: refused for read-only sessions.
    pub fn is_write(&self) -> bool {
        matches!(
            self.kind,
            StepKind::Action(_) | StepKind::Rolling(_) | StepKind::Notify(_)
        )
    }

    /// Whether the step can only proceed with a person answering (typed text, a tick, a pick).
    pub fn needs_operator(&self) -> bool {
        match &self.kind {
            StepKind::Manual(_) | StepKind::Note => true,
            StepKind::Choice(c) => c.from.is_none(),
            _ => self.is_dangerous(),
        }
    }

    /// The spelling of the step's kind.
    pub fn kind_name(&self) -> &'static str {
        self.kind.name()
    }
}

/// What a step does, with its kind-specific settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// Run a command (or a built-in probe) on hosts and judge the result.
    Check(Check),
    /// A decision-tree branch.
    Choice(Choice),
    /// Run a command on hosts.
    Action(Action),
    /// A checklist item the operator ticks.
    Manual(Manual),
    /// Free text the operator types (its prompt is the step's `text`).
    Note,
    /// Wait a duration, or until a check passes.
    Wait(Wait),
    /// Start an SLA countdown that stays visible.
    Timer(Timer),
    /// Post a JSON webhook.
    Notify(Notify),
    /// Sub-steps host by host, with a health gate, rollback and the quorum guard.
    Rolling(Rolling),
    /// The end of a path, with an outcome.
    End(End),
}

impl StepKind {
    /// The spelling used in files.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Check(_) => "check",
            Self::Choice(_) => "choice",
            Self::Action(_) => "action",
            Self::Manual(_) => "manual",
            Self::Note => "note",
            Self::Wait(_) => "wait",
            Self::Timer(_) => "timer",
            Self::Notify(_) => "notify",
            Self::Rolling(_) => "rolling",
            Self::End(_) => "end",
        }
    }
}

/// Which hosts a step runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostSel {
    /// Every target.
    All,
    /// The first target only (cluster-wide commands).
    First,
    /// The host named by this `host` input.
    Input(String),
}

/// Where a failed step leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailTo {
    /// End the run as failed (the default).
    Stop,
    /// Record the failure and go on with the next step.
    Next,
    /// Go to this step.
    Step(String),
}

/// How a check (or a wait condition, or a rolling sub-check) gets its per-host result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Probe {
    /// A shell command template, judged by an [`Expect`].
    Command(String),
    /// The inventory service of this name (a template) must be running.
    Service(String),
    /// The host must be reachable and not critical by the health rules.
    Healthy,
    /// The chain height must be within `max_lag` blocks of the group's best.
    Synced {
        /// Blocks; `None` = the inventory's `height_lag_warn`.
        max_lag: Option<u64>,
    },
    /// A new SSH connection to the host — never the pooled one, which stays open — with the
    /// port overridden, must log in and run [`RECONNECT_COMMAND`]: the proof that changed sshd
    /// settings still let fleetdeck in (`harden-ssh`).
    Reconnect {
        /// Port template for the new connection; empty after rendering = the host's own.
        port: Option<String>,
        /// Inside a rolling step: once the host is done, write the port to the inventory.
        update_inventory: bool,
    },
}

/// What a `reconnect` probe runs over its new connection: who it logged in as, and the
/// connection's own ends (the server's port is the fourth word), for the record.
pub const RECONNECT_COMMAND: &str =
    "echo \"logged in as $(id -un); SSH_CONNECTION=$SSH_CONNECTION\"";

/// What a passing command looks like; every given part must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expect {
    /// Accepted exit statuses; empty = any.
    pub exit: Vec<i32>,
    /// Must match somewhere in stdout (a template; values are regex-escaped).
    pub regex: Option<String>,
    /// Must not match anywhere in stdout (a template).
    pub not_regex: Option<String>,
    /// Comparison applied to a number taken from the output.
    pub number: Option<Comparison>,
    /// JSONPath into stdout parsed as JSON.
    pub json_path: Option<String>,
    /// Value the JSONPath must select.
    pub equals: Option<serde_json::Value>,
}

impl Default for Expect {
    fn default() -> Self {
        Self {
            exit: vec![0],
            regex: None,
            not_regex: None,
            number: None,
            json_path: None,
            equals: None,
        }
    }
}

/// `> 5`, `<= 100`, …
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The operator.
    pub op: CmpOp,
    /// The right-hand side.
    pub value: f64,
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl CmpOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Eq => "==",
            Self::Ne => "!=",
        }
    }
}

/// A `check` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Hosts.
    pub on: HostSel,
    /// Command or built-in probe.
    pub probe: Probe,
    /// Judgement of a command's result.
    pub expect: Expect,
    /// Where a failure leads.
    pub on_fail: FailTo,
    /// Per-command deadline (`None` = the executor's default).
    pub timeout: Option<Dur>,
    /// `show_output = true`: front ends print each host's output when the check ends (a
    /// preview the operator reads before a confirmation, e.g. `harden-ssh`'s diff).
    #[serde(default)]
    pub show_output: bool,
}

/// A `choice` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// The question (a template).
    pub question: String,
    /// The check whose result pre-selects an option.
    pub from: Option<String>,
    /// The options, in order.
    pub options: Vec<ChoiceOption>,
}

/// One option of a choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChoiceOption {
    /// What the operator picks (unique within the choice).
    pub label: String,
    /// Where it leads.
    pub goto: String,
    /// When the `from` check's result pre-selects it; `None` = a fallback option.
    pub when: Option<When>,
}

/// Condition pre-selecting an option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum When {
    /// The check passed.
    Passed,
    /// The check failed.
    Failed,
    /// This regex matches the check's output on some host.
    Output(String),
}

/// An `action` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Hosts.
    pub on: HostSel,
    /// Command template.
    pub command: String,
    /// Needs a typed confirmation.
    pub dangerous: bool,
    /// What success looks like (default: exit 0).
    pub expect: Expect,
    /// Where a failure leads.
    pub on_fail: FailTo,
    /// Per-command deadline.
    pub timeout: Option<Dur>,
}

/// A `manual` step: the step's title is the checklist item, its text the details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manual {}

/// A `wait` step.
// A runbook holds a handful of steps, so boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Wait {
    /// A fixed duration.
    For(Dur),
    /// Until a check passes on every host, retried every `interval`, failing after `timeout`.
    Until {
        /// Hosts.
        on: HostSel,
        /// What is retried.
        probe: Probe,
        /// Judgement of a command's result.
        expect: Expect,
        /// Time between attempts.
        interval: Dur,
        /// Give up after this long.
        timeout: Dur,
        /// Where a timeout leads.
        on_fail: FailTo,
    },
}

/// A `timer` step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    /// Countdown length.
    pub duration: Dur,
    /// Step whose completion stops the countdown (`None` = runs until the run ends).
    pub until: Option<String>,
}

/// A `notify` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notify {
    /// URL template (values percent-encoded).
    pub url: String,
    /// Header name → value template.
    pub headers: Vec<(String, String)>,
    /// JSON body; every string in it is a template.
    pub body: serde_json::Value,
    /// Where a failed post leads.
    pub on_fail: FailTo,
}

/// A `rolling` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rolling {
    /// Hosts, rolled in this order.
    pub on: HostSel,
    /// Hosts per batch (the quorum guard may take fewer).
    pub batch: usize,
    /// Pause between batches.
    pub pause: Dur,
    /// Sub-steps run on each host.
    pub each: Vec<SubStep>,
    /// Sub-steps run on a host that failed.
    pub rollback: Vec<SubStep>,
    /// Health gate after each host's sub-steps.
    pub gate: Gate,
    /// Where a failed rollout leads.
    pub on_fail: FailTo,
}

impl Rolling {
    /// Whether any sub-step needs a typed confirmation.
    pub fn is_dangerous(&self) -> bool {
        self.each.iter().chain(&self.rollback).any(|s| {
            matches!(
                &s.kind,
                SubKind::Action {
                    dangerous: true,
                    ..
                }
            )
        })
    }
}

/// One sub-step of a rolling step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubStep {
    /// Unique within the rolling step.
    pub id: String,
    /// Short text.
    pub title: String,
    /// What it does.
    pub kind: SubKind,
}

/// Kinds allowed inside a rolling step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubKind {
    /// A command on the host.
    Action {
        /// Command template.
        command: String,
        /// Covered by the rolling step's typed confirmation.
        dangerous: bool,
        /// What success looks like.
        expect: Expect,
        /// Per-command deadline.
        timeout: Option<Dur>,
    },
    /// A check on the host.
    Check {
        /// Command or probe.
        probe: Probe,
        /// Judgement.
        expect: Expect,
        /// Per-command deadline.
        timeout: Option<Dur>,
    },
    /// A pause on this host.
    Wait(Dur),
}

/// The health gate of a rolling step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    /// Service that must be running (a template).
    pub service: Option<String>,
    /// Chain height must advance and be within `max_lag` of the group's best.
    pub chain: bool,
    /// Blocks; `None` = the inventory's `height_lag_warn`.
    pub max_lag: Option<u64>,
    /// Time the host has to pass.
    pub timeout: Dur,
    /// Time between probes.
    pub interval: Dur,
}

/// A duration as a step gives it: fixed, or the value of a `duration` input
/// (`pause = "{{pause}}"`), so one runbook can wait a minute in production and a second in a
/// drill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dur {
    /// As written.
    Fixed(Duration),
    /// The value of this `duration` input.
    Input(String),
}

impl Dur {
    /// The duration, looking inputs up in `inputs` (an unset or unparsable input is zero; the
    /// engine validated every input before it gets here).
    pub fn resolve(&self, inputs: &std::collections::BTreeMap<String, String>) -> Duration {
        match self {
            Self::Fixed(d) => *d,
            Self::Input(name) => inputs
                .get(name)
                .and_then(|v| humantime::parse_duration(v.trim()).ok())
                .unwrap_or_default(),
        }
    }
}

/// An `end` step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    /// How the run ends.
    pub outcome: EndOutcome,
}

/// Outcome an `end` step declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndOutcome {
    /// Done, problem solved.
    Success,
    /// Done, problem not solved.
    Failure,
    /// Handed over to someone else.
    Escalated,
    /// Success when every step on the path taken passed, failure (listing them) otherwise:
    /// the end of a checklist whose checks go on after a failure.
    Auto,
}

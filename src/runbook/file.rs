//! The serde shapes of a runbook TOML file, exactly as an author writes it.
//!
//! This module owns the *input* types (all ending in `File`) and nothing else: no defaults, no
//! cross-checks, no templates. Every struct denies unknown keys so a typo is an error with a
//! position rather than a silently ignored setting. A step is one flat table with every key any
//! kind may take, all optional, because serde cannot say in an author's words *which* key a
//! kind is missing or does not take; [`super::load`] checks that per kind, with positions
//! (every value it must judge is [`Spanned`]).
//!
//! Callers: only [`super::load`], which turns a [`RunbookFile`] into a validated
//! [`super::Runbook`].

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_spanned::Spanned;

/// A whole runbook file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookFile {
    /// Short name, the file's stem (`restore` for `restore.toml`).
    pub name: Spanned<String>,
    /// One line shown in lists.
    pub title: Spanned<String>,
    /// Longer explanation shown by `runbook show`.
    pub description: Option<Spanned<String>>,
    /// Which manual and section the procedure comes from.
    pub source: Option<Spanned<String>>,
    /// Least role that may start the runbook at all: `operator` or `admin`.
    pub requires: Option<Spanned<String>>,
    /// `for = ["service_down", …]`: the health rules the runbook answers.
    #[serde(rename = "for")]
    pub answers: Option<Spanned<Vec<Spanned<String>>>>,
    /// `[fill]`: input name → what of the alert fills it (`service = "alert.subject"`).
    pub fill: Option<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    /// `[[inputs]]`, in order.
    #[serde(default)]
    pub inputs: Vec<Spanned<InputFile>>,
    /// `[targets]`: which hosts the runbook runs on.
    pub targets: Option<Spanned<TargetsFile>>,
    /// `[[steps]]`, in order.
    #[serde(default)]
    pub steps: Vec<Spanned<StepFile>>,
}

/// One `[[inputs]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputFile {
    /// Placeholder name (`{{name}}`).
    pub name: Spanned<String>,
    /// `string` (default), `int`, `bool`, `choice`, `duration` or `host`.
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
    /// Prompt shown when asking for the value.
    pub prompt: Option<Spanned<String>>,
    /// `string` only: a regex the whole value must match.
    pub pattern: Option<Spanned<String>>,
    /// `choice` only: the allowed values.
    pub choices: Option<Spanned<Vec<Spanned<String>>>>,
    /// Value used when none is given; a TOML value of the input's type.
    pub default: Option<Spanned<toml::Value>>,
    /// Whether a value must be given (default: true unless there is a default).
    pub required: Option<Spanned<bool>>,
    /// Never shown, logged or audited; allowed only in commands and notify requests.
    pub secret: Option<Spanned<bool>>,
}

/// `[targets]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsFile {
    /// Glob over host names.
    pub hosts: Option<Spanned<String>>,
    /// A host group (`groups = [...]` in the inventory).
    pub group: Option<Spanned<String>>,
    /// A BFT consensus group.
    pub consensus_group: Option<Spanned<String>>,
    /// `consensus`, `observer` or `free`.
    pub role: Option<Spanned<String>>,
}

/// One `[[steps]]` table (or one `[[steps.each]]` / `[[steps.rollback]]` sub-step).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    /// Unique id, the target of `next`, `goto` and `on_fail`.
    pub id: Option<Spanned<String>>,
    /// check, choice, action, manual, note, wait, timer, notify, rolling or end.
    pub kind: Option<Spanned<String>>,
    /// Short text shown in the step list.
    pub title: Option<Spanned<String>>,
    /// Longer text: the checklist item, the note prompt, the outcome's explanation.
    pub text: Option<Spanned<String>>,
    /// Step that follows when this one succeeds (default: the next in the file).
    pub next: Option<Spanned<String>>,
    /// Step that follows a failure: a step id, `next` (go on) or `stop` (default).
    pub on_fail: Option<Spanned<String>>,
    /// Which hosts: `all` (default), `first`, or the name of a `host` input.
    pub on: Option<Spanned<String>>,
    /// Shell command template run on each host.
    pub command: Option<Spanned<String>>,
    /// Built-in check instead of a command: `service`, `healthy`, `synced` or `reconnect`.
    pub probe: Option<Spanned<String>>,
    /// Service name for `probe = "service"`.
    pub service: Option<Spanned<String>>,
    /// Blocks behind the group's best for `probe = "synced"`.
    pub max_lag: Option<Spanned<u64>>,
    /// Port of the new connection for `probe = "reconnect"` (a template).
    pub port: Option<Spanned<String>>,
    /// `probe = "reconnect"` in a rolling step's `each`: write the port to the inventory once
    /// the host is done.
    pub update_inventory: Option<Spanned<bool>>,
    /// `check`: front ends print each host's output when it ends.
    pub show_output: Option<Spanned<bool>>,
    /// What a passing command looks like.
    pub expect: Option<Spanned<ExpectFile>>,
    /// Needs a typed confirmation before it runs.
    pub dangerous: Option<Spanned<bool>>,
    /// Per-command deadline.
    pub timeout: Option<Spanned<String>>,
    /// `wait`: how long; `timer`: the countdown.
    pub duration: Option<Spanned<String>>,
    /// `wait` with a command: time between attempts.
    pub interval: Option<Spanned<String>>,
    /// `timer`: the step whose completion stops the countdown.
    pub until: Option<Spanned<String>>,
    /// `choice`: the question.
    pub question: Option<Spanned<String>>,
    /// `choice`: the check whose result pre-selects an option.
    pub from: Option<Spanned<String>>,
    /// `choice`: the options.
    pub options: Option<Spanned<Vec<Spanned<OptionFile>>>>,
    /// `notify`: webhook URL template.
    pub url: Option<Spanned<String>>,
    /// `notify`: extra request headers (templates).
    pub headers: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    /// `notify`: JSON body; every string in it is a template.
    pub body: Option<Spanned<toml::Value>>,
    /// `rolling`: hosts per batch.
    pub batch: Option<Spanned<i64>>,
    /// `rolling`: pause between batches.
    pub pause: Option<Spanned<String>>,
    /// `rolling`: sub-steps run on each host.
    pub each: Option<Spanned<Vec<Spanned<StepFile>>>>,
    /// `rolling`: sub-steps run on a host whose sub-steps or health gate failed.
    pub rollback: Option<Spanned<Vec<Spanned<StepFile>>>>,
    /// `rolling`: the health gate after each host.
    pub gate: Option<Spanned<GateFile>>,
    /// `end`: success, failure or escalated.
    pub outcome: Option<Spanned<String>>,
}

/// `expect = { ... }` of a check, action or wait.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectFile {
    /// Exit status: an integer, a list of integers, or `"any"` (default 0).
    pub exit: Option<Spanned<toml::Value>>,
    /// Regex that must match somewhere in stdout.
    pub regex: Option<Spanned<String>>,
    /// Regex that must not match anywhere in stdout.
    pub not_regex: Option<Spanned<String>>,
    /// Comparison of a number from the output: `"> 5"`, `"<= 100"`, `"== 0"`.
    pub number: Option<Spanned<String>>,
    /// JSONPath into stdout parsed as JSON.
    pub json_path: Option<Spanned<String>>,
    /// The value `json_path` must select.
    pub equals: Option<Spanned<toml::Value>>,
}

/// One option of a `choice`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionFile {
    /// What the operator picks.
    pub label: Option<Spanned<String>>,
    /// Step it leads to.
    pub goto: Option<Spanned<String>>,
    /// Pre-selected when the `from` check `passed` or `failed`.
    pub when: Option<Spanned<String>>,
    /// Pre-selected when this regex matches the `from` check's output on some host.
    pub when_output: Option<Spanned<String>>,
}

/// `gate = { ... }` of a rolling step.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateFile {
    /// Service that must be running.
    pub service: Option<Spanned<String>>,
    /// Chain height must advance and come within `max_lag` of the group's best.
    pub chain: Option<Spanned<bool>>,
    /// Blocks behind the group's best (default: the inventory's `height_lag_warn`).
    pub max_lag: Option<Spanned<u64>>,
    /// How long the host has to pass (default 2m).
    pub timeout: Option<Spanned<String>>,
    /// Time between health probes (default 5s).
    pub interval: Option<Spanned<String>>,
}

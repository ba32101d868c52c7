//! Validating runbooks: every rule a runbook must follow before it may run, each problem
//! reported with the file, line, column and what was expected. This file holds the runbook as
//! a whole (name, inputs, targets, references between steps, reachability, loops that would
//! spin without a wait or a person); [`steps`] holds the rules of each step kind.
//!
//! It never panics on any input and reads no file; TOML and serde errors are located and
//! worded by [`crate::diag`], with tables named as [`RunbookPlaces`] says. Caller:
//! [`super::load::parse`]; the engine reuses [`single_placeholder`]. Input
//! checks (and anchoring a pattern) come from [`super::inputs`], below this module.

mod steps;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue};

use super::file::{InputFile, RunbookFile, TargetsFile};
use super::inputs::{anchored, validate_input};
use super::template;
use super::{
    AccessRole, CmpOp, Comparison, Dur, HostSel, Input, InputType, Runbook, StepKind, TargetRole,
    Targets,
};
// `load::LintError` is this type; named from `diag` so that `validate` does not import `load`
// (which calls it).
use crate::diag::Located as LintError;
use crate::diag::{Places, Seg, Source, regex_problem, string_at};

/// Parses and validates runbook text reported under `path`: the runbook, or every problem
/// found, sorted by position.
pub(super) fn validate(text: &str, path: &str) -> Result<Runbook, Vec<LintError>> {
    let file: RunbookFile = Source::new(path, text)
        .deserialize(&RunbookPlaces)
        .map_err(|e| vec![e])?;
    let mut lint = Linter {
        path: path.to_owned(),
        text,
        errors: Vec::new(),
        inputs: BTreeMap::new(),
        choices: BTreeSet::new(),
    };
    let runbook = lint.runbook(&file);
    if lint.errors.is_empty() {
        Ok(runbook)
    } else {
        let mut errors = lint.errors;
        errors.sort_by_key(|e| (e.line, e.column));
        errors.dedup();
        Err(errors)
    }
}

/// Step kinds and the keys each takes besides `id`, `kind`, `title` and `text`.
const KINDS: &[(&str, &[&str])] = &[
    (
        "check",
        &[
            "next",
            "on_fail",
            "on",
            "command",
            "probe",
            "service",
            "max_lag",
            "port",
            "expect",
            "timeout",
            "show_output",
        ],
    ),
    (
        "action",
        &[
            "next",
            "on_fail",
            "on",
            "command",
            "dangerous",
            "expect",
            "timeout",
        ],
    ),
    ("choice", &["question", "from", "options"]),
    ("manual", &["next"]),
    ("note", &["next"]),
    (
        "wait",
        &[
            "next", "on_fail", "duration", "on", "command", "probe", "service", "max_lag",
            "expect", "timeout", "interval",
        ],
    ),
    ("timer", &["next", "duration", "until"]),
    ("notify", &["next", "on_fail", "url", "headers", "body"]),
    (
        "rolling",
        &[
            "next", "on_fail", "on", "batch", "pause", "each", "rollback", "gate",
        ],
    ),
    ("end", &["outcome"]),
];

/// Kinds allowed inside a rolling step's `each` and `rollback`, with their keys.
const SUB_KINDS: &[(&str, &[&str])] = &[
    ("action", &["command", "dangerous", "expect", "timeout"]),
    (
        "check",
        &[
            "command",
            "probe",
            "service",
            "max_lag",
            "port",
            "update_inventory",
            "expect",
            "timeout",
        ],
    ),
    ("wait", &["duration"]),
];

/// Ids that `on_fail` gives a meaning of its own.
const RESERVED_IDS: [&str; 2] = ["next", "stop"];

const DEFAULT_GATE_TIMEOUT: Dur = Dur::Fixed(Duration::from_secs(120));
const DEFAULT_INTERVAL: Dur = Dur::Fixed(Duration::from_secs(5));

struct Linter<'a> {
    path: String,
    text: &'a str,
    errors: Vec<LintError>,
    /// Input name → secret.
    inputs: BTreeMap<String, (bool, InputType)>,
    /// Ids of the choice steps (for `{{choice.ID}}`).
    choices: BTreeSet<String>,
}

/// References to check once every step id is known: (span, target, what refers).
struct Refs {
    list: Vec<(Range<usize>, String, String)>,
}

impl Linter<'_> {
    /// Records a problem at `span` of the text.
    fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let error = Source::new(&self.path, self.text).at(span, message);
        self.errors.push(error);
    }

    /// Records a problem of the runbook as a whole.
    fn whole(&mut self, message: impl Into<String>) {
        self.errors.push(LintError::whole(&self.path, message));
    }

    fn runbook(&mut self, file: &RunbookFile) -> Runbook {
        let name = file.name.get_ref().clone();
        if !is_runbook_name(&name) {
            self.at(
                file.name.span(),
                format!(
                    "invalid runbook name {name:?}: expected lowercase letters, digits and `-`, \
                     starting with a letter or digit"
                ),
            );
        } else if let Some(stem) = Path::new(&self.path)
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(|f| f.strip_suffix(".toml"))
            && stem != name
        {
            self.at(
                file.name.span(),
                format!("runbook name {name:?} does not match the file name {stem:?}.toml"),
            );
        }
        let title = self.nonempty(&file.title, "title", "the runbook");
        let requires = file
            .requires
            .as_ref()
            .and_then(|r| match r.get_ref().as_str() {
                "operator" => Some(AccessRole::Operator),
                "admin" => Some(AccessRole::Admin),
                other => {
                    self.at(
                        r.span(),
                        format!(
                            "invalid value {other:?} for `requires`: expected operator or admin"
                        ),
                    );
                    None
                }
            });
        let inputs = self.inputs(&file.inputs);
        let (answers, fill) = super::matching::lint_for(file, &inputs, |at, m| self.at(at, m));
        self.choices = file
            .steps
            .iter()
            .filter(|s| {
                s.get_ref()
                    .kind
                    .as_ref()
                    .is_some_and(|k| k.get_ref() == "choice")
            })
            .filter_map(|s| s.get_ref().id.as_ref().map(|i| i.get_ref().clone()))
            .collect();
        let targets = file.targets.as_ref().map(|t| self.targets(t));
        if file.steps.is_empty() {
            self.whole("the runbook has no steps: add at least one [[steps]] table");
        }
        let mut refs = Refs { list: Vec::new() };
        let mut seen: HashMap<String, Range<usize>> = HashMap::new();
        let mut steps = Vec::new();
        let mut spans = Vec::new();
        for step in &file.steps {
            if let Some(s) = self.step(step, &mut refs, &mut seen) {
                spans.push(step.span());
                steps.push(s);
            }
        }
        let runbook = Runbook {
            name,
            title,
            description: text_of(&file.description),
            source: file.source.as_ref().map(|s| s.get_ref().clone()),
            requires,
            answers,
            fill,
            inputs,
            targets,
            steps,
        };
        // Graph checks only make sense once every step was understood.
        if runbook.steps.len() == file.steps.len() {
            self.references(&runbook, &refs);
            if self.errors.is_empty() {
                self.graph(&runbook, &spans, file);
            }
        }
        runbook
    }

    fn nonempty(&mut self, value: &Spanned<String>, key: &str, place: &str) -> String {
        if value.get_ref().trim().is_empty() {
            self.at(value.span(), format!("`{key}` of {place} is empty"));
        }
        value.get_ref().clone()
    }

    // -----------------------------------------------------------------------------------------
    // Inputs and targets

    fn inputs(&mut self, files: &[Spanned<InputFile>]) -> Vec<Input> {
        let mut out = Vec::new();
        // Names first, so a placeholder in a later input's default cannot confuse anything.
        for f in files {
            let input = f.get_ref();
            let name = input.name.get_ref();
            if !is_input_name(name) {
                self.at(
                    input.name.span(),
                    format!(
                        "invalid input name {name:?}: expected lowercase letters, digits and `_`, \
                         starting with a letter or `_`"
                    ),
                );
                continue;
            }
            if template::RESERVED.contains(&name.as_str()) {
                self.at(
                    input.name.span(),
                    format!(
                        "input name `{name}` is reserved: `{{{{{name}}}}}` already means \
                         something"
                    ),
                );
                continue;
            }
            if self.inputs.contains_key(name) {
                self.at(input.name.span(), format!("duplicate input `{name}`"));
                continue;
            }
            let kind = match &input.kind {
                None => InputType::String,
                Some(k) => match k.get_ref().as_str() {
                    "string" => InputType::String,
                    "int" => InputType::Int,
                    "bool" => InputType::Bool,
                    "choice" => InputType::Choice,
                    "duration" => InputType::Duration,
                    "host" => InputType::Host,
                    "path" => InputType::Path,
                    other => {
                        self.at(
                            k.span(),
                            format!(
                                "invalid input type {other:?} for input `{name}`: expected one \
                                 of string, int, bool, choice, duration, host, path"
                            ),
                        );
                        InputType::String
                    }
                },
            };
            let secret = input.secret.as_ref().is_some_and(|s| *s.get_ref());
            self.inputs.insert(name.clone(), (secret, kind));
            out.push(self.input(input, kind, secret));
        }
        out
    }

    fn input(&mut self, input: &InputFile, kind: InputType, secret: bool) -> Input {
        let name = input.name.get_ref().clone();
        let place = format!("input `{name}`");
        let pattern = input.pattern.as_ref().and_then(|p| {
            if !matches!(kind, InputType::String | InputType::Path) {
                self.at(
                    p.span(),
                    format!(
                        "key `pattern` does not apply to {place} of type {}: only string and \
                         path inputs take a pattern",
                        kind.as_str()
                    ),
                );
                return None;
            }
            match regex::Regex::new(&anchored(p.get_ref())) {
                Ok(_) => Some(p.get_ref().clone()),
                Err(e) => {
                    self.at(
                        p.span(),
                        format!(
                            "invalid regex in `pattern` of {place}: {}",
                            regex_problem(&e)
                        ),
                    );
                    None
                }
            }
        });
        let choices: Vec<String> = match (&input.choices, kind) {
            (Some(c), InputType::Choice) => {
                let mut seen = BTreeSet::new();
                for item in c.get_ref() {
                    if item.get_ref().is_empty() {
                        self.at(item.span(), format!("empty choice in {place}"));
                    } else if !seen.insert(item.get_ref().clone()) {
                        self.at(
                            item.span(),
                            format!("duplicate choice {:?} in {place}", item.get_ref()),
                        );
                    }
                }
                if c.get_ref().is_empty() {
                    self.at(c.span(), format!("`choices` of {place} is empty"));
                }
                c.get_ref().iter().map(|s| s.get_ref().clone()).collect()
            }
            (Some(c), _) => {
                self.at(
                    c.span(),
                    format!(
                        "key `choices` does not apply to {place} of type {}: only choice inputs \
                         take choices",
                        kind.as_str()
                    ),
                );
                Vec::new()
            }
            (None, InputType::Choice) => {
                self.at(
                    input.name.span(),
                    format!("missing key `choices` in {place}: a choice input lists its values"),
                );
                Vec::new()
            }
            (None, _) => Vec::new(),
        };
        let default = input.default.as_ref().and_then(|d| {
            if secret {
                self.at(
                    d.span(),
                    format!(
                        "{place} is secret and cannot have a default: the value would sit in \
                         the file for anyone to read"
                    ),
                );
                return None;
            }
            let value = match (kind, d.get_ref()) {
                (InputType::Int, toml::Value::Integer(i)) => Some(i.to_string()),
                (InputType::Bool, toml::Value::Boolean(b)) => Some(b.to_string()),
                (
                    InputType::String
                    | InputType::Choice
                    | InputType::Duration
                    | InputType::Host
                    | InputType::Path,
                    toml::Value::String(s),
                ) => Some(s.clone()),
                _ => None,
            };
            let Some(value) = value else {
                let wanted = match kind {
                    InputType::Int => "an integer",
                    InputType::Bool => "true or false",
                    _ => "a string",
                };
                self.at(
                    d.span(),
                    format!(
                        "invalid default for {place} of type {}: expected {wanted}",
                        kind.as_str()
                    ),
                );
                return None;
            };
            let probe = Input {
                name: name.clone(),
                prompt: String::new(),
                kind,
                pattern: pattern.clone(),
                choices: choices.clone(),
                default: None,
                required: true,
                secret,
            };
            match validate_input(&probe, &value, None) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.at(d.span(), format!("invalid default for {place}: {e}"));
                    None
                }
            }
        });
        let required = match &input.required {
            Some(r) => *r.get_ref(),
            None => default.is_none(),
        };
        Input {
            prompt: input
                .prompt
                .as_ref()
                .map(|p| p.get_ref().clone())
                .unwrap_or_else(|| name.clone()),
            name,
            kind,
            pattern,
            choices,
            default,
            required,
            secret,
        }
    }

    fn targets(&mut self, file: &Spanned<TargetsFile>) -> Targets {
        let t = file.get_ref();
        if t.hosts.is_none() && t.group.is_none() && t.consensus_group.is_none() && t.role.is_none()
        {
            self.at(
                file.span(),
                "[targets] selects nothing: give hosts, group, consensus_group or role \
                 (hosts = \"*\" for every host)",
            );
        }
        if let Some(h) = &t.hosts
            && let Err(e) = globset::Glob::new(h.get_ref())
        {
            self.at(
                h.span(),
                format!(
                    "invalid glob {:?} for `hosts` in [targets]: {}",
                    h.get_ref(),
                    e.kind()
                ),
            );
        }
        let role = t.role.as_ref().and_then(|r| match r.get_ref().as_str() {
            "consensus" => Some(TargetRole::Consensus),
            "observer" => Some(TargetRole::Observer),
            "free" => Some(TargetRole::Free),
            other => {
                self.at(
                    r.span(),
                    format!(
                        "invalid value {other:?} for `role` in [targets]: expected consensus, \
                         observer or free"
                    ),
                );
                None
            }
        });
        Targets {
            hosts: t.hosts.as_ref().map(|s| s.get_ref().clone()),
            group: t.group.as_ref().map(|s| s.get_ref().clone()),
            consensus_group: t.consensus_group.as_ref().map(|s| s.get_ref().clone()),
            role,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Whole-runbook checks

    fn references(&mut self, runbook: &Runbook, refs: &Refs) {
        for (span, target, what) in &refs.list {
            match runbook.step(target) {
                None => self.at(
                    span.clone(),
                    format!("{what} goes to `{target}`, but no step has that id"),
                ),
                Some((_, step)) if what.starts_with("`from`") => {
                    if !matches!(step.kind, StepKind::Check(_)) {
                        self.at(
                            span.clone(),
                            format!(
                                "{what} names `{target}`, a {} step: pre-selection comes from a \
                                 check",
                                step.kind_name()
                            ),
                        );
                    }
                }
                Some(_) => {}
            }
        }
        for step in &runbook.steps {
            let dangerous_without_targets = runbook.targets.is_none()
                && match &step.kind {
                    StepKind::Action(a) => a.dangerous && !matches!(a.on, HostSel::Input(_)),
                    StepKind::Rolling(r) => r.is_dangerous() && !matches!(r.on, HostSel::Input(_)),
                    _ => false,
                };
            if dangerous_without_targets {
                self.whole_at_step(
                    runbook,
                    &step.id,
                    format!(
                        "step `{}` is dangerous but the runbook has no [targets]: declare which \
                         hosts it may touch",
                        step.id
                    ),
                );
            }
        }
    }

    /// Reports at the `id` of step `id` (found in the source), or for the whole file.
    fn whole_at_step(&mut self, _runbook: &Runbook, id: &str, message: String) {
        match self.step_span(id) {
            Some(span) => self.at(span, message),
            None => self.whole(message),
        }
    }

    fn step_span(&self, id: &str) -> Option<Range<usize>> {
        let doc = DeTable::parse(self.text).ok()?;
        let (_, steps) = doc.get_ref().iter().find(|(k, _)| k.get_ref() == "steps")?;
        let DeValue::Array(items) = steps.get_ref() else {
            return None;
        };
        items.iter().find_map(|item| {
            let DeValue::Table(t) = item.get_ref() else {
                return None;
            };
            let (_, v) = t.iter().find(|(k, _)| k.get_ref() == "id")?;
            (v.get_ref().as_str() == Some(id)).then(|| v.span())
        })
    }

    fn graph(&mut self, runbook: &Runbook, spans: &[Range<usize>], file: &RunbookFile) {
        let n = runbook.steps.len();
        let edges: Vec<Vec<usize>> = (0..n).map(|i| runbook.successors(i)).collect();
        // Reachability from the first step.
        let mut seen = vec![false; n];
        let mut stack = vec![0];
        while let Some(i) = stack.pop() {
            if i >= n || seen[i] {
                continue;
            }
            seen[i] = true;
            stack.extend(edges[i].iter().copied());
        }
        for (i, reached) in seen.iter().enumerate() {
            if !reached {
                let span = file.steps[i]
                    .get_ref()
                    .id
                    .as_ref()
                    .map_or(spans[i].clone(), |v| v.span());
                self.at(
                    span,
                    format!(
                        "step `{}` is never reached: no step leads to it (steps run in file \
                         order, except after an `end`, a `choice`, or a `next`)",
                        runbook.steps[i].id
                    ),
                );
            }
        }
        // Loops that never wait for time or a person would spin.
        let breaker = |i: usize| {
            matches!(
                runbook.steps[i].kind,
                StepKind::Wait(_) | StepKind::Choice(_) | StepKind::Manual(_) | StepKind::Note
            )
        };
        let mut color = vec![0u8; n];
        let mut reported = BTreeSet::new();
        for start in 0..n {
            if color[start] == 0 && !breaker(start) {
                let mut path = Vec::new();
                self.spin_dfs(
                    runbook,
                    &edges,
                    &breaker,
                    start,
                    &mut color,
                    &mut path,
                    &mut reported,
                    file,
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn spin_dfs(
        &mut self,
        runbook: &Runbook,
        edges: &[Vec<usize>],
        breaker: &dyn Fn(usize) -> bool,
        node: usize,
        color: &mut [u8],
        path: &mut Vec<usize>,
        reported: &mut BTreeSet<Vec<usize>>,
        file: &RunbookFile,
    ) {
        color[node] = 1;
        path.push(node);
        for &next in &edges[node] {
            if next >= edges.len() || breaker(next) {
                continue;
            }
            if color[next] == 1 {
                let from = path.iter().position(|&p| p == next).unwrap_or(0);
                let mut cycle: Vec<usize> = path[from..].to_vec();
                let mut key = cycle.clone();
                key.sort_unstable();
                if reported.insert(key) {
                    cycle.push(next);
                    let names: Vec<String> = cycle
                        .iter()
                        .map(|&i| format!("`{}`", runbook.steps[i].id))
                        .collect();
                    let span = file.steps[next]
                        .get_ref()
                        .id
                        .as_ref()
                        .map_or(file.steps[next].span(), |v| v.span());
                    self.at(
                        span,
                        format!(
                            "steps {} form a loop without a wait, a choice, a manual step or a \
                             note: the run would spin",
                            names.join(" → ")
                        ),
                    );
                }
            } else if color[next] == 0 {
                self.spin_dfs(runbook, edges, breaker, next, color, path, reported, file);
            }
        }
        path.pop();
        color[node] = 2;
    }
}

/// `{{name}}` when `text` is exactly one placeholder.
pub(crate) fn single_placeholder(text: &str) -> Option<&str> {
    match template::segments(text).as_slice() {
        [template::Segment::Placeholder { name, .. }] => Some(name),
        _ => None,
    }
}

fn text_of(v: &Option<Spanned<String>>) -> String {
    v.as_ref().map(|s| s.get_ref().clone()).unwrap_or_default()
}

/// Parses `> 5`, `<= 100`, `== 0`, `!= 1.5`.
pub fn parse_comparison(s: &str) -> Option<Comparison> {
    let s = s.trim();
    let (op, rest) = [
        ("<=", CmpOp::Le),
        (">=", CmpOp::Ge),
        ("==", CmpOp::Eq),
        ("!=", CmpOp::Ne),
        ("<", CmpOp::Lt),
        (">", CmpOp::Gt),
    ]
    .into_iter()
    .find_map(|(text, op)| s.strip_prefix(text).map(|rest| (op, rest)))?;
    let value: f64 = rest.trim().parse().ok()?;
    value.is_finite().then_some(Comparison { op, value })
}

fn is_runbook_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | '0'..='9'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
}

fn is_input_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

fn is_step_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | '0'..='9'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
}

// ---------------------------------------------------------------------------------------------
// Naming the place of a serde error

/// The runbook's way of naming tables in serde and toml errors: `in step `a``, `in input
/// `version``, `in sub-step `b` in step `r``, …
struct RunbookPlaces;

impl Places for RunbookPlaces {
    fn within(&self, doc: &DeTable<'_>, path: &[Seg]) -> String {
        place_of(doc, path)
    }

    fn unknown_key_tail(&self, parent: &[Seg]) -> Option<String> {
        let step_table = matches!(parent, [.., Seg::Key(k), Seg::Index(_)]
            if k == "steps" || k == "each" || k == "rollback");
        // The full list mixes every kind's keys; the per-kind list is in the docs.
        step_table.then(|| ": see docs/runbooks.md for the keys of each step kind".to_owned())
    }
}

/// How messages name the table at `path`.
fn place_of(doc: &DeTable<'_>, path: &[Seg]) -> String {
    match path {
        [] => "at the top level".to_owned(),
        [Seg::Key(k)] if k == "targets" => "in [targets]".to_owned(),
        [Seg::Key(k), Seg::Index(i)] if k == "inputs" => match string_at(doc, path, "name") {
            Some(n) => format!("in input `{n}`"),
            None => format!("in input #{}", i + 1),
        },
        [Seg::Key(k), Seg::Index(i)] if k == "steps" => match string_at(doc, path, "id") {
            Some(id) => format!("in step `{id}`"),
            None => format!("in step #{}", i + 1),
        },
        [parent @ .., Seg::Key(k), Seg::Index(i)] if k == "each" || k == "rollback" => {
            let owner = place_of(doc, parent);
            match string_at(doc, path, "id") {
                Some(id) => format!("in sub-step `{id}` {owner}"),
                None => format!("in `{k}` sub-step #{} {owner}", i + 1),
            }
        }
        [parent @ .., Seg::Key(k), Seg::Index(i)] if k == "options" => {
            format!("in option #{} {}", i + 1, place_of(doc, parent))
        }
        [parent @ .., Seg::Key(k)] => format!("in `{k}` {}", place_of(doc, parent)),
        [parent @ .., Seg::Index(i)] => format!("in item #{} {}", i + 1, place_of(doc, parent)),
    }
}

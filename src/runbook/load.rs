//! Parsing and linting runbooks: TOML text in, a validated [`Runbook`] or every problem found,
//! each naming the file, line, column and what was expected.
//!
//! This module owns the wording of every runbook error and every rule a runbook must follow
//! before it may run: known keys per step kind, references between steps, reachability, loops
//! that would spin without a wait or a person, placeholders known where they are used, secrets
//! only where they cannot be shown, regexes and JSON paths that compile, dangerous steps only
//! with declared targets. It also embeds the shipped runbooks of `runbooks/` into the binary.
//!
//! It never panics on any input and reads no file except in [`load_file`] / [`lint_file`].
//! Callers: `fleetdeck runbook lint|show|list`, `fleetdeck run`, the TUI's runbook pane, and the
//! tests under `tests/runbook_lint.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue};

use super::file::{
    ExpectFile, GateFile, InputFile, OptionFile, RunbookFile, StepFile, TargetsFile,
};
use super::template::{self, Context};
use super::{
    AccessRole, Action, Check, Choice, ChoiceOption, CmpOp, Comparison, Dur, End, EndOutcome,
    Expect, FailTo, Gate, HostSel, Input, InputType, Manual, Notify, Probe, Rolling, Runbook, Step,
    StepKind, SubKind, SubStep, TargetRole, Targets, Timer, Wait, When,
};

/// The runbooks shipped in `runbooks/`, embedded so every install has them: (name, TOML text).
pub fn shipped() -> &'static [(&'static str, &'static str)] {
    const SHIPPED: &[(&str, &str)] = &[
        ("backup", include_str!("../../runbooks/backup.toml")),
        (
            "cert-rotation",
            include_str!("../../runbooks/cert-rotation.toml"),
        ),
        (
            "daily-check",
            include_str!("../../runbooks/daily-check.toml"),
        ),
        (
            "node-expansion",
            include_str!("../../runbooks/node-expansion.toml"),
        ),
        (
            "p0-response",
            include_str!("../../runbooks/p0-response.toml"),
        ),
        ("restore", include_str!("../../runbooks/restore.toml")),
        (
            "rolling-upgrade",
            include_str!("../../runbooks/rolling-upgrade.toml"),
        ),
        (
            "troubleshoot",
            include_str!("../../runbooks/troubleshoot.toml"),
        ),
    ];
    SHIPPED
}

/// The shipped runbook called `name`, parsed (reported under `runbooks/NAME.toml`).
pub fn shipped_runbook(name: &str) -> Option<Result<Runbook, Vec<LintError>>> {
    shipped()
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, text)| parse(text, &format!("runbooks/{n}.toml")))
}

/// The operator's own runbooks: `$XDG_CONFIG_HOME/fleetdeck/runbooks` (`~/.config/…` when
/// unset).
pub fn user_dir() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("fleetdeck").join("runbooks"))
}

/// Where a runbook of the catalog comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Built in (`runbooks/` of the source tree).
    Shipped,
    /// A file of the operator's.
    User(PathBuf),
}

/// One runbook of [`catalog`], parsed or not.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    /// Its name (the file stem).
    pub name: String,
    /// Shipped or the operator's.
    pub origin: Origin,
    /// The runbook, or why it does not lint.
    pub runbook: Result<Runbook, Vec<LintError>>,
}

/// Every runbook available, sorted by name: the shipped ones and the `*.toml` files of
/// `user_dir`; an operator's file of the same name as a shipped runbook replaces it. A
/// missing or unreadable directory just contributes nothing.
pub fn catalog(user_dir: Option<&Path>) -> Vec<CatalogEntry> {
    let mut entries: BTreeMap<String, CatalogEntry> = shipped()
        .iter()
        .map(|(name, text)| {
            (
                (*name).to_owned(),
                CatalogEntry {
                    name: (*name).to_owned(),
                    origin: Origin::Shipped,
                    runbook: parse(text, &format!("runbooks/{name}.toml")),
                },
            )
        })
        .collect();
    if let Some(dir) = user_dir
        && let Ok(read) = std::fs::read_dir(dir)
    {
        let mut files: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        for path in files {
            let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
                continue;
            };
            let runbook = load_file(&path);
            entries.insert(
                name.clone(),
                CatalogEntry {
                    name,
                    origin: Origin::User(path),
                    runbook,
                },
            );
        }
    }
    entries.into_values().collect()
}

/// The runbook `name_or_path` names: a file when it contains `/` or ends in `.toml`,
/// otherwise a name looked up in `user_dir` first, then among the shipped ones.
pub fn find(name_or_path: &str, user_dir: Option<&Path>) -> Result<Runbook, Vec<LintError>> {
    if name_or_path.contains('/') || name_or_path.ends_with(".toml") {
        return load_file(Path::new(name_or_path));
    }
    if let Some(dir) = user_dir {
        let path = dir.join(format!("{name_or_path}.toml"));
        if path.is_file() {
            return load_file(&path);
        }
    }
    shipped_runbook(name_or_path).unwrap_or_else(|| {
        let known: Vec<&str> = shipped().iter().map(|(n, _)| *n).collect();
        Err(vec![LintError {
            path: name_or_path.to_owned(),
            line: None,
            column: None,
            message: format!(
                "no runbook called {name_or_path:?}{}; shipped: {}",
                user_dir.map_or_else(String::new, |d| format!(" in {}", d.display())),
                known.join(", ")
            ),
        }])
    })
}

/// One problem with a runbook. Displays as `PATH:LINE:COL: MESSAGE` (or `PATH: MESSAGE`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}{}: {message}", position_suffix(*.line, *.column))]
pub struct LintError {
    /// The file as named by the caller.
    pub path: String,
    /// 1-based line.
    pub line: Option<usize>,
    /// 1-based column, in characters.
    pub column: Option<usize>,
    /// What is wrong and what was expected.
    pub message: String,
}

fn position_suffix(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(":{line}:{column}"),
        (Some(line), None) => format!(":{line}"),
        _ => String::new(),
    }
}

/// Reads and parses a runbook file; its `name` must equal the file's stem.
pub fn load_file(path: &Path) -> Result<Runbook, Vec<LintError>> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![LintError {
            path: shown.clone(),
            line: None,
            column: None,
            message: format!("cannot read the runbook: {e}"),
        }]
    })?;
    parse(&text, &shown)
}

/// Every problem of a runbook file (empty = clean).
pub fn lint_file(path: &Path) -> Vec<LintError> {
    load_file(path).err().unwrap_or_default()
}

/// Every problem of runbook text reported under `path` (empty = clean).
pub fn lint(text: &str, path: &str) -> Vec<LintError> {
    parse(text, path).err().unwrap_or_default()
}

/// Parses and validates runbook text reported under `path`. When `path` ends in `.toml`, the
/// runbook's `name` must equal its stem. Errors come sorted by position.
pub fn parse(text: &str, path: &str) -> Result<Runbook, Vec<LintError>> {
    let mut lint = Linter {
        path: path.to_owned(),
        text,
        errors: Vec::new(),
        inputs: BTreeMap::new(),
        choices: BTreeSet::new(),
    };
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(err) => return Err(vec![lint.toml_error(&err, None)]),
    };
    let file: RunbookFile = match toml::from_str(text) {
        Ok(file) => file,
        Err(err) => return Err(vec![lint.toml_error(&err, Some(doc.get_ref()))]),
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
            "next", "on_fail", "on", "command", "probe", "service", "max_lag", "expect", "timeout",
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
            "command", "probe", "service", "max_lag", "expect", "timeout",
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
    fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = line_column(self.text, span.start);
        self.errors.push(LintError {
            path: self.path.clone(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        });
    }

    fn whole(&mut self, message: impl Into<String>) {
        self.errors.push(LintError {
            path: self.path.clone(),
            line: None,
            column: None,
            message: message.into(),
        });
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
                    other => {
                        self.at(
                            k.span(),
                            format!(
                                "invalid input type {other:?} for input `{name}`: expected one \
                                 of string, int, bool, choice, duration, host"
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
            if kind != InputType::String {
                self.at(
                    p.span(),
                    format!(
                        "key `pattern` does not apply to {place} of type {}: only string inputs \
                         take a pattern",
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
                        format!("invalid regex in `pattern` of {place}: {}", one_line(&e)),
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
                    InputType::String | InputType::Choice | InputType::Duration | InputType::Host,
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
            match super::engine::validate_input(&probe, &value, None) {
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
    // Steps

    /// Validates one top-level step. `None` when it is too broken to build.
    fn step(
        &mut self,
        file: &Spanned<StepFile>,
        refs: &mut Refs,
        seen: &mut HashMap<String, Range<usize>>,
    ) -> Option<Step> {
        let s = file.get_ref();
        let errors_before = self.errors.len();
        let Some(id_value) = &s.id else {
            self.at(
                file.span(),
                "missing key `id` in a step: every step has a unique id",
            );
            return None;
        };
        let id = id_value.get_ref().clone();
        let place = format!("step `{id}`");
        if !is_step_id(&id) {
            self.at(
                id_value.span(),
                format!(
                    "invalid step id {id:?}: expected lowercase letters, digits, `_` and `-`, \
                     starting with a letter or digit"
                ),
            );
        } else if RESERVED_IDS.contains(&id.as_str()) {
            self.at(
                id_value.span(),
                format!("step id `{id}` is reserved: `on_fail = \"{id}\"` already means something"),
            );
        } else if seen.contains_key(&id) {
            self.at(id_value.span(), format!("duplicate step id `{id}`"));
        } else {
            seen.insert(id.clone(), id_value.span());
        }
        let Some(kind_value) = &s.kind else {
            self.at(file.span(), format!("missing key `kind` in {place}"));
            return None;
        };
        let kind_name = kind_value.get_ref().as_str();
        let Some((_, allowed)) = KINDS.iter().find(|(k, _)| *k == kind_name) else {
            self.at(
                kind_value.span(),
                format!(
                    "unknown step kind {kind_name:?} in {place}: expected one of check, choice, \
                     action, manual, note, wait, timer, notify, rolling, end"
                ),
            );
            return None;
        };
        for (key, span) in present_keys(s) {
            if !allowed.contains(&key) {
                self.at(
                    span,
                    format!("key `{key}` does not apply to {place} of kind `{kind_name}`"),
                );
            }
        }
        let title = match &s.title {
            Some(t) => {
                self.template(t, Context::Display, &place, "title");
                t.get_ref().clone()
            }
            None => id.clone(),
        };
        let text = match &s.text {
            Some(t) => {
                self.template(t, Context::Display, &place, "text");
                t.get_ref().clone()
            }
            None => String::new(),
        };
        if let Some(n) = &s.next {
            refs.list
                .push((n.span(), n.get_ref().clone(), format!("`next` of {place}")));
        }
        let kind = match kind_name {
            "check" => {
                let (probe, expect) = self.probe_and_expect(s, file.span(), &place, true);
                StepKind::Check(Check {
                    on: self.host_sel(&s.on, &place),
                    probe,
                    expect,
                    on_fail: self.on_fail(&s.on_fail, &place, refs),
                    timeout: self.duration(&s.timeout, "timeout", &place),
                })
            }
            "action" => {
                let command = self.required_template(
                    &s.command,
                    "command",
                    Context::Command,
                    file.span(),
                    &place,
                );
                StepKind::Action(Action {
                    on: self.host_sel(&s.on, &place),
                    command,
                    dangerous: s.dangerous.as_ref().is_some_and(|d| *d.get_ref()),
                    expect: self.expect(&s.expect, &place),
                    on_fail: self.on_fail(&s.on_fail, &place, refs),
                    timeout: self.duration(&s.timeout, "timeout", &place),
                })
            }
            "choice" => StepKind::Choice(self.choice(s, file.span(), &place, refs, &title)),
            "manual" => StepKind::Manual(Manual {}),
            "note" => StepKind::Note,
            "wait" => StepKind::Wait(self.wait(s, file.span(), &place, refs)),
            "timer" => {
                let duration = match self.duration(&s.duration, "duration", &place) {
                    Some(d) => d,
                    None => {
                        if s.duration.is_none() {
                            self.at(
                                file.span(),
                                format!(
                                    "missing key `duration` in {place}: a timer counts down from it"
                                ),
                            );
                        }
                        Dur::Fixed(Duration::ZERO)
                    }
                };
                if let Some(u) = &s.until {
                    refs.list
                        .push((u.span(), u.get_ref().clone(), format!("`until` of {place}")));
                }
                StepKind::Timer(Timer {
                    duration,
                    until: s.until.as_ref().map(|u| u.get_ref().clone()),
                })
            }
            "notify" => StepKind::Notify(self.notify(s, file.span(), &place, refs)),
            "rolling" => StepKind::Rolling(self.rolling(s, file.span(), &place, refs)),
            _ => {
                let outcome = match &s.outcome {
                    None => EndOutcome::Success,
                    Some(o) => match o.get_ref().as_str() {
                        "success" => EndOutcome::Success,
                        "failure" => EndOutcome::Failure,
                        "escalated" => EndOutcome::Escalated,
                        "auto" => EndOutcome::Auto,
                        other => {
                            self.at(
                                o.span(),
                                format!(
                                    "invalid outcome {other:?} in {place}: expected success, \
                                     failure, escalated or auto"
                                ),
                            );
                            EndOutcome::Success
                        }
                    },
                };
                StepKind::End(End { outcome })
            }
        };
        if self.errors.len() > errors_before {
            // Keep going to find more problems, but do not run graph checks on a broken step.
            return Some(Step {
                id,
                title,
                text,
                next: s.next.as_ref().map(|n| n.get_ref().clone()),
                kind,
            });
        }
        Some(Step {
            id,
            title,
            text,
            next: s.next.as_ref().map(|n| n.get_ref().clone()),
            kind,
        })
    }

    fn host_sel(&mut self, on: &Option<Spanned<String>>, place: &str) -> HostSel {
        let Some(on) = on else {
            return HostSel::All;
        };
        match on.get_ref().as_str() {
            "all" => HostSel::All,
            "first" => HostSel::First,
            name => match self.inputs.get(name) {
                Some((_, InputType::Host)) => HostSel::Input(name.to_owned()),
                Some((_, kind)) => {
                    self.at(
                        on.span(),
                        format!(
                            "`on` of {place} names input `{name}` of type {}: expected all, \
                             first, or an input of type host",
                            kind.as_str()
                        ),
                    );
                    HostSel::All
                }
                None => {
                    self.at(
                        on.span(),
                        format!(
                            "invalid value {name:?} for `on` in {place}: expected all, first, or \
                             the name of a host input"
                        ),
                    );
                    HostSel::All
                }
            },
        }
    }

    fn on_fail(&mut self, value: &Option<Spanned<String>>, place: &str, refs: &mut Refs) -> FailTo {
        match value {
            None => FailTo::Stop,
            Some(v) => match v.get_ref().as_str() {
                "stop" => FailTo::Stop,
                "next" => FailTo::Next,
                id => {
                    refs.list
                        .push((v.span(), id.to_owned(), format!("`on_fail` of {place}")));
                    FailTo::Step(id.to_owned())
                }
            },
        }
    }

    fn duration(&mut self, value: &Option<Spanned<String>>, key: &str, place: &str) -> Option<Dur> {
        let v = value.as_ref()?;
        if let Some(name) = single_placeholder(v.get_ref()) {
            return match self.inputs.get(name) {
                Some((false, InputType::Duration)) => Some(Dur::Input(name.to_owned())),
                Some((secret, kind)) => {
                    let why = if *secret {
                        "a secret".to_owned()
                    } else {
                        format!("of type {}", kind.as_str())
                    };
                    self.at(
                        v.span(),
                        format!(
                            "`{key}` of {place} takes input `{name}`, which is {why}: a duration \
                             comes from a non-secret input of type duration"
                        ),
                    );
                    None
                }
                None => {
                    self.at(
                        v.span(),
                        format!("unknown placeholder `{{{{{name}}}}}` in `{key}` of {place}"),
                    );
                    None
                }
            };
        }
        match humantime::parse_duration(v.get_ref()) {
            Ok(d) => Some(Dur::Fixed(d)),
            Err(_) => {
                self.at(
                    v.span(),
                    format!(
                        "invalid duration {:?} for `{key}` in {place}: expected a duration like \
                         \"30s\", \"15m\", \"1h\" (or `{{{{input}}}}` of a duration input)",
                        v.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn required_template(
        &mut self,
        value: &Option<Spanned<String>>,
        key: &str,
        context: Context,
        owner: Range<usize>,
        place: &str,
    ) -> String {
        match value {
            Some(v) => {
                self.template(v, context, place, key);
                v.get_ref().clone()
            }
            None => {
                self.at(owner, format!("missing key `{key}` in {place}"));
                String::new()
            }
        }
    }

    /// Checks every placeholder of a template for `context`.
    fn template(&mut self, value: &Spanned<String>, context: Context, place: &str, key: &str) {
        let text = value.get_ref();
        let inputs = &self.inputs;
        let known = |n: &str| inputs.get(n).map(|(secret, _)| *secret);
        let choices = &self.choices;
        let is_choice = |id: &str| choices.contains(id);
        let mut problems = Vec::new();
        for seg in template::segments(text) {
            if let template::Segment::Placeholder { name, .. } = seg
                && let Err(e) = template::resolve(name, context, known, is_choice)
            {
                problems.push((
                    format!("{{{{{name}}}}}"),
                    format!("`{key}` of {place}: {e}"),
                ));
            }
        }
        for (_, name) in template::spaced_placeholders(text) {
            problems.push((
                format!("{{{{ {name} }}}}"),
                format!(
                    "`{{{{ {name} }}}}` in `{key}` of {place} has spaces inside the braces: write \
                     `{{{{{name}}}}}` (or `{{{{{{{{ {name} }}}}` for the literal text)"
                ),
            ));
        }
        if context == Context::Command {
            for (_, name) in template::quoted_placeholders(text) {
                problems.push((
                    format!("{{{{{name}}}}}"),
                    format!(
                        "placeholder `{{{{{name}}}}}` in `{key}` of {place} is inside quotes: \
                         values are shell-quoted when substituted, so write it outside quotes"
                    ),
                ));
            }
        }
        for (needle, message) in problems {
            let span = self.find_in(value.span(), &needle);
            self.at(span, message);
        }
    }

    /// The span of `needle` inside the source of `span`, or `span` itself.
    fn find_in(&self, span: Range<usize>, needle: &str) -> Range<usize> {
        match self.text.get(span.clone()).and_then(|s| s.find(needle)) {
            Some(pos) => span.start + pos..span.start + pos + needle.len(),
            None => span,
        }
    }

    fn probe_and_expect(
        &mut self,
        s: &StepFile,
        owner: Range<usize>,
        place: &str,
        required: bool,
    ) -> (Probe, Expect) {
        let probe = match (&s.command, &s.probe) {
            (Some(c), Some(p)) => {
                self.at(
                    p.span(),
                    format!("{place} has both `command` and `probe`: give one"),
                );
                self.template(c, Context::Command, place, "command");
                Probe::Command(c.get_ref().clone())
            }
            (Some(c), None) => {
                self.template(c, Context::Command, place, "command");
                Probe::Command(c.get_ref().clone())
            }
            (None, Some(p)) => match p.get_ref().as_str() {
                "service" => match &s.service {
                    Some(svc) => {
                        self.template(svc, Context::Display, place, "service");
                        Probe::Service(svc.get_ref().clone())
                    }
                    None => {
                        self.at(
                            p.span(),
                            format!("missing key `service` in {place}: `probe = \"service\"` names the service"),
                        );
                        Probe::Healthy
                    }
                },
                "healthy" => Probe::Healthy,
                "synced" => Probe::Synced {
                    max_lag: s.max_lag.as_ref().map(|m| *m.get_ref()),
                },
                other => {
                    self.at(
                        p.span(),
                        format!(
                            "invalid probe {other:?} in {place}: expected service, healthy or \
                             synced"
                        ),
                    );
                    Probe::Healthy
                }
            },
            (None, None) => {
                if required {
                    self.at(
                        owner,
                        format!("missing key `command` (or `probe`) in {place}"),
                    );
                }
                Probe::Healthy
            }
        };
        if let Some(svc) = &s.service
            && !matches!(probe, Probe::Service(_))
        {
            self.at(
                svc.span(),
                format!("key `service` in {place} only applies with `probe = \"service\"`"),
            );
        }
        if let Some(m) = &s.max_lag
            && !matches!(probe, Probe::Synced { .. })
        {
            self.at(
                m.span(),
                format!("key `max_lag` in {place} only applies with `probe = \"synced\"`"),
            );
        }
        if let Some(e) = &s.expect
            && !matches!(probe, Probe::Command(_))
        {
            self.at(
                e.span(),
                format!(
                    "key `expect` in {place} only applies to a `command`: a probe judges itself"
                ),
            );
        }
        (probe, self.expect(&s.expect, place))
    }

    fn expect(&mut self, value: &Option<Spanned<ExpectFile>>, place: &str) -> Expect {
        let Some(value) = value else {
            return Expect::default();
        };
        let e = value.get_ref();
        let place = format!("`expect` of {place}");
        let exit = match &e.exit {
            None => vec![0],
            Some(x) => match x.get_ref() {
                toml::Value::Integer(i) => match i32::try_from(*i) {
                    Ok(i) => vec![i],
                    Err(_) => {
                        self.at(x.span(), format!("exit status {i} out of range in {place}"));
                        vec![0]
                    }
                },
                toml::Value::String(s) if s == "any" => Vec::new(),
                toml::Value::Array(items) if !items.is_empty() => {
                    let mut out = Vec::new();
                    for item in items {
                        match item.as_integer().and_then(|i| i32::try_from(i).ok()) {
                            Some(i) => out.push(i),
                            None => {
                                self.at(
                                    x.span(),
                                    format!(
                                        "invalid `exit` in {place}: expected an integer, a list \
                                         of integers, or \"any\""
                                    ),
                                );
                                break;
                            }
                        }
                    }
                    out
                }
                _ => {
                    self.at(
                        x.span(),
                        format!(
                            "invalid `exit` in {place}: expected an integer, a list of integers, \
                             or \"any\""
                        ),
                    );
                    vec![0]
                }
            },
        };
        for (key, r) in [("regex", &e.regex), ("not_regex", &e.not_regex)] {
            if let Some(r) = r {
                self.template(r, Context::Regex, &place, key);
                self.regex_template(r, key, &place);
            }
        }
        let number = e
            .number
            .as_ref()
            .and_then(|n| match parse_comparison(n.get_ref()) {
                Some(c) => Some(c),
                None => {
                    self.at(
                        n.span(),
                        format!(
                            "invalid comparison {:?} for `number` in {place}: expected an operator \
                         (<, <=, >, >=, ==, !=) and a number, like \"> 5\" or \"<= 100\"",
                            n.get_ref()
                        ),
                    );
                    None
                }
            });
        let json_path = e.json_path.as_ref().and_then(|p| {
            match serde_json_path::JsonPath::parse(p.get_ref()) {
                Ok(_) => Some(p.get_ref().clone()),
                Err(err) => {
                    self.at(
                        p.span(),
                        format!("invalid JSON path {:?} in {place}: {err}", p.get_ref()),
                    );
                    None
                }
            }
        });
        let equals = e.equals.as_ref().and_then(|v| {
            if e.json_path.is_none() {
                self.at(
                    v.span(),
                    format!("key `equals` in {place} needs a `json_path` to compare"),
                );
            }
            match serde_json::to_value(v.get_ref()) {
                Ok(v) => Some(v),
                Err(err) => {
                    self.at(v.span(), format!("invalid `equals` in {place}: {err}"));
                    None
                }
            }
        });
        Expect {
            exit,
            regex: e.regex.as_ref().map(|r| r.get_ref().clone()),
            not_regex: e.not_regex.as_ref().map(|r| r.get_ref().clone()),
            number,
            json_path,
            equals,
        }
    }

    /// Compiles a regex template with every placeholder replaced by a literal.
    fn regex_template(&mut self, value: &Spanned<String>, key: &str, place: &str) {
        let mut probe = String::new();
        for seg in template::segments(value.get_ref()) {
            match seg {
                template::Segment::Lit(l) => probe.push_str(l),
                template::Segment::Placeholder { .. } => probe.push('x'),
            }
        }
        if let Err(e) = regex::Regex::new(&probe) {
            self.at(
                value.span(),
                format!("invalid regex in `{key}` of {place}: {}", one_line(&e)),
            );
        }
    }

    fn choice(
        &mut self,
        s: &StepFile,
        owner: Range<usize>,
        place: &str,
        refs: &mut Refs,
        title: &str,
    ) -> Choice {
        let question = match &s.question {
            Some(q) => {
                self.template(q, Context::Display, place, "question");
                q.get_ref().clone()
            }
            None => title.to_owned(),
        };
        if let Some(f) = &s.from {
            refs.list
                .push((f.span(), f.get_ref().clone(), format!("`from` of {place}")));
        }
        let mut options = Vec::new();
        let Some(list) = &s.options else {
            self.at(
                owner,
                format!("missing key `options` in {place}: a choice needs options"),
            );
            return Choice {
                question,
                from: None,
                options,
            };
        };
        if list.get_ref().is_empty() {
            self.at(list.span(), format!("`options` of {place} is empty"));
        }
        let mut labels = BTreeSet::new();
        for (i, opt) in list.get_ref().iter().enumerate() {
            options.push(self.option(opt, i, s.from.is_some(), place, refs, &mut labels));
        }
        Choice {
            question,
            from: s.from.as_ref().map(|f| f.get_ref().clone()),
            options,
        }
    }

    fn option(
        &mut self,
        file: &Spanned<OptionFile>,
        index: usize,
        has_from: bool,
        place: &str,
        refs: &mut Refs,
        labels: &mut BTreeSet<String>,
    ) -> ChoiceOption {
        let o = file.get_ref();
        let oplace = format!("option #{} of {place}", index + 1);
        let label = match &o.label {
            Some(l) => {
                if l.get_ref().trim().is_empty() {
                    self.at(l.span(), format!("empty `label` in {oplace}"));
                } else if !labels.insert(l.get_ref().clone()) {
                    self.at(
                        l.span(),
                        format!("duplicate option label {:?} in {place}", l.get_ref()),
                    );
                }
                self.template(l, Context::Display, &oplace, "label");
                l.get_ref().clone()
            }
            None => {
                self.at(file.span(), format!("missing key `label` in {oplace}"));
                String::new()
            }
        };
        let goto = match &o.goto {
            Some(g) => {
                refs.list
                    .push((g.span(), g.get_ref().clone(), format!("`goto` of {oplace}")));
                g.get_ref().clone()
            }
            None => {
                self.at(file.span(), format!("missing key `goto` in {oplace}"));
                String::new()
            }
        };
        let when = match (&o.when, &o.when_output) {
            (Some(w), Some(_)) => {
                self.at(
                    w.span(),
                    format!("{oplace} has both `when` and `when_output`: give one"),
                );
                None
            }
            (Some(w), None) => match w.get_ref().as_str() {
                "passed" => Some(When::Passed),
                "failed" => Some(When::Failed),
                other => {
                    self.at(
                        w.span(),
                        format!("invalid value {other:?} for `when` in {oplace}: expected passed or failed"),
                    );
                    None
                }
            },
            (None, Some(r)) => match regex::Regex::new(r.get_ref()) {
                Ok(_) => Some(When::Output(r.get_ref().clone())),
                Err(e) => {
                    self.at(
                        r.span(),
                        format!(
                            "invalid regex in `when_output` of {oplace}: {}",
                            one_line(&e)
                        ),
                    );
                    None
                }
            },
            (None, None) => None,
        };
        if !has_from
            && let Some(span) = o.when.as_ref().or(o.when_output.as_ref()).map(|w| w.span())
        {
            self.at(
                span,
                format!(
                    "{oplace} has a pre-selection condition but {place} has no `from` check to \
                     take it from"
                ),
            );
        }
        ChoiceOption { label, goto, when }
    }

    fn wait(&mut self, s: &StepFile, owner: Range<usize>, place: &str, refs: &mut Refs) -> Wait {
        let conditional = s.command.is_some() || s.probe.is_some();
        if let Some(d) = &s.duration {
            if conditional {
                self.at(
                    d.span(),
                    format!(
                        "{place} has both `duration` and a condition: wait a `duration`, or until \
                         a `command`/`probe` passes within `timeout`"
                    ),
                );
            }
            for (key, span) in [
                ("on", s.on.as_ref().map(|v| v.span())),
                ("timeout", s.timeout.as_ref().map(|v| v.span())),
                ("interval", s.interval.as_ref().map(|v| v.span())),
                ("on_fail", s.on_fail.as_ref().map(|v| v.span())),
                ("expect", s.expect.as_ref().map(|v| v.span())),
            ] {
                if let Some(span) = span {
                    self.at(
                        span,
                        format!("key `{key}` in {place} only applies when waiting for a condition"),
                    );
                }
            }
            return Wait::For(
                self.duration(&s.duration, "duration", place)
                    .unwrap_or(Dur::Fixed(Duration::ZERO)),
            );
        }
        if !conditional {
            self.at(
                owner,
                format!(
                    "{place} waits for nothing: give a `duration`, or a `command`/`probe` with a \
                     `timeout`"
                ),
            );
            return Wait::For(Dur::Fixed(Duration::ZERO));
        }
        let (probe, expect) = self.probe_and_expect(s, owner.clone(), place, true);
        let timeout = match self.duration(&s.timeout, "timeout", place) {
            Some(t) => t,
            None => {
                if s.timeout.is_none() {
                    self.at(
                        owner,
                        format!("missing key `timeout` in {place}: a wait for a condition must give up some time"),
                    );
                }
                Dur::Fixed(Duration::ZERO)
            }
        };
        Wait::Until {
            on: self.host_sel(&s.on, place),
            probe,
            expect,
            interval: self
                .duration(&s.interval, "interval", place)
                .unwrap_or(DEFAULT_INTERVAL),
            timeout,
            on_fail: self.on_fail(&s.on_fail, place, refs),
        }
    }

    fn notify(
        &mut self,
        s: &StepFile,
        owner: Range<usize>,
        place: &str,
        refs: &mut Refs,
    ) -> Notify {
        let url = match &s.url {
            Some(u) => {
                let text = u.get_ref();
                let whole = single_placeholder(text);
                if whole.is_none() && !(text.starts_with("https://") || text.starts_with("http://"))
                {
                    self.at(
                        u.span(),
                        format!(
                            "invalid `url` in {place}: expected an http:// or https:// URL (or a \
                             single `{{{{input}}}}` holding one)"
                        ),
                    );
                }
                self.template(u, Context::Url, place, "url");
                text.clone()
            }
            None => {
                self.at(owner.clone(), format!("missing key `url` in {place}"));
                String::new()
            }
        };
        let mut headers = Vec::new();
        if let Some(h) = &s.headers {
            for (name, value) in h.get_ref() {
                self.template(value, Context::Request, place, &format!("headers.{name}"));
                headers.push((name.clone(), value.get_ref().clone()));
            }
        }
        let body = match &s.body {
            None => serde_json::Value::Object(serde_json::Map::new()),
            Some(b) => {
                if !b.get_ref().is_table() {
                    self.at(
                        b.span(),
                        format!(
                            "invalid `body` in {place}: expected a table (the JSON object to post)"
                        ),
                    );
                }
                let mut strings = Vec::new();
                collect_strings(b.get_ref(), &mut strings);
                for text in strings {
                    let spanned = Spanned::new(self.find_in(b.span(), &text), text);
                    self.template(&spanned, Context::Request, place, "body");
                }
                serde_json::to_value(b.get_ref()).unwrap_or_default()
            }
        };
        Notify {
            url,
            headers,
            body,
            on_fail: self.on_fail(&s.on_fail, place, refs),
        }
    }

    fn rolling(
        &mut self,
        s: &StepFile,
        owner: Range<usize>,
        place: &str,
        refs: &mut Refs,
    ) -> Rolling {
        let batch = match &s.batch {
            None => 1,
            Some(b) if *b.get_ref() >= 1 => usize::try_from(*b.get_ref()).unwrap_or(1),
            Some(b) => {
                self.at(
                    b.span(),
                    format!(
                        "invalid `batch` {} in {place}: expected 1 or more hosts",
                        b.get_ref()
                    ),
                );
                1
            }
        };
        let mut ids = BTreeSet::new();
        let each = match &s.each {
            Some(list) if !list.get_ref().is_empty() => {
                self.sub_steps(list.get_ref(), place, "each", &mut ids)
            }
            Some(list) => {
                self.at(list.span(), format!("`each` of {place} is empty"));
                Vec::new()
            }
            None => {
                self.at(
                    owner,
                    format!("missing key `each` in {place}: the sub-steps run on every host"),
                );
                Vec::new()
            }
        };
        let rollback = match &s.rollback {
            Some(list) => self.sub_steps(list.get_ref(), place, "rollback", &mut ids),
            None => Vec::new(),
        };
        let gate = self.gate(&s.gate, place);
        Rolling {
            on: self.host_sel(&s.on, place),
            batch,
            pause: self
                .duration(&s.pause, "pause", place)
                .unwrap_or(Dur::Fixed(Duration::ZERO)),
            each,
            rollback,
            gate,
            on_fail: self.on_fail(&s.on_fail, place, refs),
        }
    }

    fn sub_steps(
        &mut self,
        list: &[Spanned<StepFile>],
        parent: &str,
        group: &str,
        ids: &mut BTreeSet<String>,
    ) -> Vec<SubStep> {
        let mut out = Vec::new();
        for (i, file) in list.iter().enumerate() {
            let s = file.get_ref();
            let Some(id_value) = &s.id else {
                self.at(
                    file.span(),
                    format!(
                        "missing key `id` in `{group}` sub-step #{} of {parent}",
                        i + 1
                    ),
                );
                continue;
            };
            let id = id_value.get_ref().clone();
            if !is_step_id(&id) {
                self.at(
                    id_value.span(),
                    format!("invalid sub-step id {id:?} in {parent}"),
                );
            } else if !ids.insert(id.clone()) {
                self.at(
                    id_value.span(),
                    format!("duplicate sub-step id `{id}` in {parent}"),
                );
            }
            let place = format!("sub-step `{id}` of {parent}");
            let Some(kind_value) = &s.kind else {
                self.at(file.span(), format!("missing key `kind` in {place}"));
                continue;
            };
            let kind_name = kind_value.get_ref().as_str();
            let Some((_, allowed)) = SUB_KINDS.iter().find(|(k, _)| *k == kind_name) else {
                self.at(
                    kind_value.span(),
                    format!(
                        "step kind {kind_name:?} cannot be used inside a rolling step ({place}): \
                         expected action, check or wait"
                    ),
                );
                continue;
            };
            for (key, span) in present_keys(s) {
                if !allowed.contains(&key) && key != "text" {
                    self.at(
                        span,
                        format!("key `{key}` does not apply to {place} of kind `{kind_name}`"),
                    );
                }
            }
            let title = match &s.title {
                Some(t) => {
                    self.template(t, Context::Display, &place, "title");
                    t.get_ref().clone()
                }
                None => id.clone(),
            };
            let kind = match kind_name {
                "action" => SubKind::Action {
                    command: self.required_template(
                        &s.command,
                        "command",
                        Context::Command,
                        file.span(),
                        &place,
                    ),
                    dangerous: s.dangerous.as_ref().is_some_and(|d| *d.get_ref()),
                    expect: self.expect(&s.expect, &place),
                    timeout: self.duration(&s.timeout, "timeout", &place),
                },
                "check" => {
                    let (probe, expect) = self.probe_and_expect(s, file.span(), &place, true);
                    SubKind::Check {
                        probe,
                        expect,
                        timeout: self.duration(&s.timeout, "timeout", &place),
                    }
                }
                _ => match self.duration(&s.duration, "duration", &place) {
                    Some(d) => SubKind::Wait(d),
                    None => {
                        if s.duration.is_none() {
                            self.at(file.span(), format!("missing key `duration` in {place}"));
                        }
                        SubKind::Wait(Dur::Fixed(Duration::ZERO))
                    }
                },
            };
            out.push(SubStep { id, title, kind });
        }
        out
    }

    fn gate(&mut self, value: &Option<Spanned<GateFile>>, place: &str) -> Gate {
        let Some(value) = value else {
            return Gate {
                service: None,
                chain: false,
                max_lag: None,
                timeout: DEFAULT_GATE_TIMEOUT,
                interval: DEFAULT_INTERVAL,
            };
        };
        let g = value.get_ref();
        let gplace = format!("`gate` of {place}");
        if let Some(svc) = &g.service {
            self.template(svc, Context::Display, &gplace, "service");
        }
        let chain = g.chain.as_ref().is_some_and(|c| *c.get_ref());
        if let Some(m) = &g.max_lag
            && !chain
        {
            self.at(
                m.span(),
                format!("key `max_lag` in {gplace} only applies with `chain = true`"),
            );
        }
        Gate {
            service: g.service.as_ref().map(|s| s.get_ref().clone()),
            chain,
            max_lag: g.max_lag.as_ref().map(|m| *m.get_ref()),
            timeout: self
                .duration(&g.timeout, "timeout", &gplace)
                .unwrap_or(DEFAULT_GATE_TIMEOUT),
            interval: self
                .duration(&g.interval, "interval", &gplace)
                .unwrap_or(DEFAULT_INTERVAL),
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
        let edges: Vec<Vec<usize>> = (0..n).map(|i| successors(runbook, i)).collect();
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

    // -----------------------------------------------------------------------------------------
    // TOML and serde errors

    fn toml_error(&self, err: &toml::de::Error, doc: Option<&DeTable<'_>>) -> LintError {
        let message = err.message().trim_end().to_owned();
        let Some(span) = err.span() else {
            return LintError {
                path: self.path.clone(),
                line: None,
                column: None,
                message,
            };
        };
        let message = match doc {
            Some(doc) => reword(&message, &span, doc),
            None => match self.text.get(span.clone()) {
                Some(key) if message == "duplicate key" && !key.contains('\n') => {
                    format!("duplicate key `{key}`")
                }
                _ => message,
            },
        };
        let (line, column) = line_column(self.text, span.start);
        LintError {
            path: self.path.clone(),
            line: Some(line),
            column: Some(column),
            message,
        }
    }
}

/// Where a step may go next: its success successor(s) and its failure successor.
/// An index equal to the number of steps means "the end of the runbook".
pub(crate) fn successors(runbook: &Runbook, i: usize) -> Vec<usize> {
    let step = &runbook.steps[i];
    let index = |id: &str| runbook.step(id).map(|(j, _)| j);
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

/// Every key present in a step table, with its span, for the "does not apply" check.
fn present_keys(s: &StepFile) -> Vec<(&'static str, Range<usize>)> {
    fn span<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
        v.as_ref().map(Spanned::span)
    }
    [
        ("title", span(&s.title)),
        ("text", span(&s.text)),
        ("next", span(&s.next)),
        ("on_fail", span(&s.on_fail)),
        ("on", span(&s.on)),
        ("command", span(&s.command)),
        ("probe", span(&s.probe)),
        ("service", span(&s.service)),
        ("max_lag", span(&s.max_lag)),
        ("expect", span(&s.expect)),
        ("dangerous", span(&s.dangerous)),
        ("timeout", span(&s.timeout)),
        ("duration", span(&s.duration)),
        ("interval", span(&s.interval)),
        ("until", span(&s.until)),
        ("question", span(&s.question)),
        ("from", span(&s.from)),
        ("options", span(&s.options)),
        ("url", span(&s.url)),
        ("headers", span(&s.headers)),
        ("body", span(&s.body)),
        ("batch", span(&s.batch)),
        ("pause", span(&s.pause)),
        ("each", span(&s.each)),
        ("rollback", span(&s.rollback)),
        ("gate", span(&s.gate)),
        ("outcome", span(&s.outcome)),
    ]
    .into_iter()
    .filter(|(k, _)| *k != "title" && *k != "text")
    .filter_map(|(k, s)| s.map(|s| (k, s)))
    .collect()
}

fn collect_strings(value: &toml::Value, out: &mut Vec<String>) {
    match value {
        toml::Value::String(s) => out.push(s.clone()),
        toml::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        toml::Value::Table(t) => t.values().for_each(|v| collect_strings(v, out)),
        _ => {}
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

/// The pattern anchored to the whole value.
pub(crate) fn anchored(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}

/// A regex error on one line (the crate's message draws a caret diagram over several).
fn one_line(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(s) => s
            .lines()
            .rev()
            .find(|l| l.starts_with("error:"))
            .map(|l| l.trim_start_matches("error:").trim().to_owned())
            .unwrap_or_else(|| s.lines().last().unwrap_or("").trim().to_owned()),
        other => other.to_string(),
    }
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

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

// ---------------------------------------------------------------------------------------------
// Naming the place of a serde error

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

impl fmt::Display for Seg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seg::Key(k) => f.write_str(k),
            Seg::Index(i) => write!(f, "[{i}]"),
        }
    }
}

fn locate(table: &DeTable<'_>, span: &Range<usize>, path: &mut Vec<Seg>) -> bool {
    for (key, value) in table.iter() {
        path.push(Seg::Key(key.get_ref().to_string()));
        if key.span() == *span || locate_value(value, span, path) {
            return true;
        }
        path.pop();
    }
    false
}

fn locate_value(value: &Spanned<DeValue<'_>>, span: &Range<usize>, path: &mut Vec<Seg>) -> bool {
    match value.get_ref() {
        DeValue::Table(table) if locate(table, span, path) => return true,
        DeValue::Array(array) => {
            for (i, item) in array.iter().enumerate() {
                path.push(Seg::Index(i));
                if locate_value(item, span, path) {
                    return true;
                }
                path.pop();
            }
        }
        _ => {}
    }
    value.span() == *span
}

fn table_at<'d, 'i>(doc: &'d DeTable<'i>, path: &[Seg]) -> Option<&'d DeTable<'i>> {
    let mut current: Option<&DeValue<'i>> = None;
    let mut table = doc;
    for seg in path {
        let next = match (seg, current) {
            (Seg::Key(k), None) => table
                .iter()
                .find(|(key, _)| key.get_ref() == k)
                .map(|(_, v)| v.get_ref()),
            (Seg::Key(k), Some(DeValue::Table(t))) => t
                .iter()
                .find(|(key, _)| key.get_ref() == k)
                .map(|(_, v)| v.get_ref()),
            (Seg::Index(i), Some(DeValue::Array(a))) => a.get(*i).map(|v| v.get_ref()),
            _ => None,
        }?;
        if let DeValue::Table(t) = next {
            table = t;
        }
        current = Some(next);
    }
    match current {
        None => Some(doc),
        Some(DeValue::Table(t)) => Some(t),
        _ => None,
    }
}

fn string_in(doc: &DeTable<'_>, path: &[Seg], key: &str) -> Option<String> {
    let t = table_at(doc, path)?;
    t.iter()
        .find(|(k, _)| k.get_ref() == key)
        .and_then(|(_, v)| v.get_ref().as_str().map(str::to_owned))
}

/// How messages name the table at `path`.
fn place_of(doc: &DeTable<'_>, path: &[Seg]) -> String {
    match path {
        [] => "at the top level".to_owned(),
        [Seg::Key(k)] if k == "targets" => "in [targets]".to_owned(),
        [Seg::Key(k), Seg::Index(i)] if k == "inputs" => match string_in(doc, path, "name") {
            Some(n) => format!("in input `{n}`"),
            None => format!("in input #{}", i + 1),
        },
        [Seg::Key(k), Seg::Index(i)] if k == "steps" => match string_in(doc, path, "id") {
            Some(id) => format!("in step `{id}`"),
            None => format!("in step #{}", i + 1),
        },
        [parent @ .., Seg::Key(k), Seg::Index(i)] if k == "each" || k == "rollback" => {
            let owner = place_of(doc, parent);
            match string_in(doc, path, "id") {
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

fn reword(message: &str, span: &Range<usize>, doc: &DeTable<'_>) -> String {
    let mut path = Vec::new();
    if !locate(doc, span, &mut path) {
        return message.to_owned();
    }
    let (target, parent): (String, &[Seg]) = match path.as_slice() {
        [parent @ .., Seg::Key(list), Seg::Index(i)] => (format!("{list}[{i}]"), parent),
        [parent @ .., Seg::Key(key)] => (key.clone(), parent),
        _ => (String::new(), &[]),
    };
    let step_table = matches!(parent, [.., Seg::Key(k), Seg::Index(_)] if k == "steps" || k == "each" || k == "rollback");
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((key, tail)) = rest.split_once('`')
    {
        let place = place_of(doc, parent);
        let tail = if step_table {
            // The full list mixes every kind's keys; the per-kind list is in the docs.
            ": see docs/runbooks.md for the keys of each step kind".to_owned()
        } else {
            tail.strip_prefix(", there are no fields")
                .unwrap_or(tail)
                .to_owned()
        };
        return format!("unknown key `{key}` {place}{tail}");
    }
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((key, _)) = rest.split_once('`')
    {
        return format!("missing key `{key}` {}", place_of(doc, &path));
    }
    for (prefix, what) in [
        ("invalid type: ", "invalid type"),
        ("invalid value: ", "invalid value"),
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let rest = rest
                .replace("a sequence", "an array")
                .replace("sequence", "array")
                .replace("map", "table")
                .replace("i64", "an integer")
                .replace("u64", "a non-negative integer");
            let rest = match rest.split_once(", expected struct ") {
                Some((found, _)) => format!("{found}, expected a table"),
                None => rest,
            };
            return format!("{what} for `{target}` {}: {rest}", place_of(doc, parent));
        }
    }
    if target.is_empty() {
        message.to_owned()
    } else {
        format!("{message} (`{target}` {})", place_of(doc, parent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(text: &str) -> Vec<String> {
        lint(text, "t.toml")
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    const HEAD: &str = "name = \"t\"\ntitle = \"T\"\n";

    #[test]
    fn a_minimal_runbook_parses() {
        let rb = parse(
            &format!("{HEAD}[[steps]]\nid = \"a\"\nkind = \"note\"\ntext = \"why?\"\n"),
            "t.toml",
        )
        .unwrap();
        assert_eq!(rb.steps.len(), 1);
        assert_eq!(rb.steps[0].kind, StepKind::Note);
    }

    #[test]
    fn the_catalog_lets_the_operator_replace_a_shipped_runbook() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("backup.toml"),
            "name = \"backup\"\ntitle = \"Mine\"\n[[steps]]\nid = \"a\"\nkind = \"note\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("broken.toml"), "name = \"broken\"\n").unwrap();
        let entries = catalog(Some(dir.path()));
        let backup = entries.iter().find(|e| e.name == "backup").unwrap();
        assert!(matches!(backup.origin, Origin::User(_)));
        assert_eq!(backup.runbook.as_ref().unwrap().title, "Mine");
        let broken = entries.iter().find(|e| e.name == "broken").unwrap();
        assert!(broken.runbook.is_err());
        assert!(
            entries
                .iter()
                .any(|e| e.name == "restore" && e.origin == Origin::Shipped)
        );
        assert_eq!(find("backup", Some(dir.path())).unwrap().title, "Mine");
        assert_eq!(find("restore", Some(dir.path())).unwrap().name, "restore");
        let err = find("nope", None).unwrap_err();
        assert!(
            err[0]
                .to_string()
                .starts_with("nope: no runbook called \"nope\"; shipped: backup")
        );
    }

    #[test]
    fn comparisons() {
        assert_eq!(
            parse_comparison(">5"),
            Some(Comparison {
                op: CmpOp::Gt,
                value: 5.0
            })
        );
        assert_eq!(parse_comparison(" <= 100 ").map(|c| c.op), Some(CmpOp::Le));
        assert_eq!(parse_comparison("!= -1.5").map(|c| c.value), Some(-1.5));
        assert_eq!(parse_comparison("> five"), None);
        assert_eq!(parse_comparison("5"), None);
        assert_eq!(parse_comparison("=> 5"), None);
    }

    #[test]
    fn every_problem_is_reported_with_a_position() {
        let text = format!(
            "{HEAD}[[steps]]\nid = \"a\"\nkind = \"action\"\ncommand = \"echo {{{{nope}}}}\"\n\
             next = \"zz\"\n"
        );
        let errors = errs(&text);
        assert_eq!(
            errors,
            [
                "t.toml:6:17: `command` of step `a`: unknown placeholder `{{nope}}`",
                "t.toml:7:8: `next` of step `a` goes to `zz`, but no step has that id",
            ]
        );
    }

    #[test]
    fn name_must_match_the_file() {
        let errors: Vec<String> = lint(HEAD, "other.toml")
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errors,
            [
                "other.toml: the runbook has no steps: add at least one [[steps]] table",
                "other.toml:1:8: runbook name \"t\" does not match the file name \"other\".toml",
            ]
        );
    }

    #[test]
    fn successors_follow_file_order_next_and_failures() {
        let rb = parse(
            &format!(
                "{HEAD}[[steps]]\nid = \"a\"\nkind = \"check\"\ncommand = \"true\"\non_fail = \"c\"\n\
                 [[steps]]\nid = \"b\"\nkind = \"end\"\n\
                 [[steps]]\nid = \"c\"\nkind = \"manual\"\nnext = \"b\"\n"
            ),
            "t.toml",
        )
        .unwrap();
        assert_eq!(successors(&rb, 0), [1, 2]);
        assert_eq!(successors(&rb, 1), Vec::<usize>::new());
        assert_eq!(successors(&rb, 2), [1]);
    }
}

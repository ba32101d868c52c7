//! The rules of each step kind: known keys per kind, commands and templates, probes and
//! expectations, choices, waits, notifications, rolling steps and their gates. Each problem is
//! added to the [`Linter`]'s list with its position.
//!
//! Pure; called only from [`super::Linter::runbook`].

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::time::Duration;

use serde_spanned::Spanned;

use super::super::file::{ExpectFile, GateFile, OptionFile, StepFile};
use super::super::template::{self, Context};
use super::super::{
    Action, Check, Choice, ChoiceOption, Dur, End, EndOutcome, Expect, FailTo, Gate, HostSel,
    InputType, Manual, Notify, Probe, Rolling, Step, StepKind, SubKind, SubStep, Timer, Wait, When,
};
use super::{
    DEFAULT_GATE_TIMEOUT, DEFAULT_INTERVAL, KINDS, Linter, RESERVED_IDS, Refs, SUB_KINDS,
    is_step_id, parse_comparison, single_placeholder,
};
use crate::diag::regex_problem;

impl Linter<'_> {
    // -----------------------------------------------------------------------------------------
    // Steps

    /// Validates one top-level step. `None` when it is too broken to build.
    pub(super) fn step(
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
                    show_output: s.show_output.as_ref().is_some_and(|v| *v.get_ref()),
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

    /// A `port` written out (no placeholder) must be a TCP port.
    fn port_literal(&mut self, port: &Spanned<String>, place: &str) {
        let text = port.get_ref();
        if text.contains("{{") {
            return;
        }
        if !text.parse::<u16>().is_ok_and(|p| p > 0) {
            self.at(
                port.span(),
                format!(
                    "invalid `port` {text:?} in {place}: expected a port 1-65535 or a placeholder"
                ),
            );
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
                "reconnect" => {
                    if let Some(port) = &s.port {
                        self.template(port, Context::Display, place, "port");
                        self.port_literal(port, place);
                    }
                    Probe::Reconnect {
                        port: s.port.as_ref().map(|p| p.get_ref().clone()),
                        update_inventory: s.update_inventory.as_ref().is_some_and(|u| *u.get_ref()),
                    }
                }
                other => {
                    self.at(
                        p.span(),
                        format!(
                            "invalid probe {other:?} in {place}: expected service, healthy, \
                             synced or reconnect"
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
        if let Some(p) = &s.port
            && !matches!(probe, Probe::Reconnect { .. })
        {
            self.at(
                p.span(),
                format!("key `port` in {place} only applies with `probe = \"reconnect\"`"),
            );
        }
        if let Some(u) = &s.update_inventory {
            match &probe {
                Probe::Reconnect { port: None, .. } => self.at(
                    u.span(),
                    format!(
                        "key `update_inventory` in {place} needs a `port`: it writes that port \
                         to the inventory"
                    ),
                ),
                Probe::Reconnect { .. } => {}
                _ => self.at(
                    u.span(),
                    format!(
                        "key `update_inventory` in {place} only applies with `probe = \"reconnect\"`"
                    ),
                ),
            }
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
                format!("invalid regex in `{key}` of {place}: {}", regex_problem(&e)),
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
                            regex_problem(&e)
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
            if group == "rollback"
                && let Some(u) = &s.update_inventory
            {
                // A rolled-back host keeps its old settings: nothing to write back.
                self.at(
                    u.span(),
                    format!("key `update_inventory` in {place} only applies in `each`"),
                );
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
        ("port", span(&s.port)),
        ("update_inventory", span(&s.update_inventory)),
        ("show_output", span(&s.show_output)),
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

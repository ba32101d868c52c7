//! Runbooks matched to what is wrong: the `for` and `[fill]` of a runbook (which health rules
//! it answers, and which part of such an alert fills which input), their lint, and the ranked
//! offers for one host and its alerts.
//!
//! This module owns the meaning of `for` and `[fill]` and the order offers come in: runbooks
//! answering the host's worst alert first, then those answering its other alerts (worst
//! first), then the rest alphabetically; each with its inputs filled from the alert it
//! answers, checked like a value given on the command line, and its scope: the host, or for
//! an alert about a whole consensus group the group (`@GROUP`, every member). It is pure: no
//! I/O, no clock, no
//! terminal; it never starts anything, and filling never skips a confirmation (a filled input
//! is only a value, as `--var` gives one).
//!
//! Callers: the runbook validator (one call, [`lint_for`], in `validate.rs`), the console's
//! palette and Alerts pane ([`offers`]), `runbook show|list` (the `for` line).

use std::collections::BTreeMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::file::RunbookFile;
use super::inputs::validate_input;
use super::{Input, InputType, Runbook};
use crate::health::Severity;
use crate::rules::{self, Subject};

/// What an input is filled from (`alert.subject` in `[fill]`): a part of the alert, or a fact
/// of the inventory about the alert's subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FillSource {
    /// The host's name (`alert.host`), for `host` inputs and names of the host.
    Host,
    /// The rule name (`alert.rule`).
    Rule,
    /// What the alert is about (`alert.subject`): a service, mount, backup set, …
    Subject,
    /// `warning` or `critical` (`alert.severity`).
    Severity,
    /// The alert's sentence (`alert.message`).
    Message,
    /// The measured value, when the alert has one (`alert.value`: `93%`, `stopped`).
    Value,
    /// Where the logs of the service the alert names are (`service.log_source`): `journald`
    /// for a systemd service, `docker` for a docker container.
    ServiceLogSource,
    /// The systemd unit or docker container of that service (`service.log_name`).
    ServiceLogName,
    /// The directory of the backup set the alert names (`backup.dir`), as the inventory gives
    /// it (a relative one under `~/`).
    BackupDir,
    /// The directory holding the certificate the alert names (`cert.dir`): where the
    /// inventory's certificate path lives (a relative one under `~/`).
    CertDir,
}

impl FillSource {
    /// Every field, in the order messages list them.
    pub const ALL: [FillSource; 10] = [
        Self::Host,
        Self::Subject,
        Self::Rule,
        Self::Severity,
        Self::Message,
        Self::Value,
        Self::ServiceLogSource,
        Self::ServiceLogName,
        Self::BackupDir,
        Self::CertDir,
    ];

    /// The spelling in `[fill]`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Host => "alert.host",
            Self::Rule => "alert.rule",
            Self::Subject => "alert.subject",
            Self::Severity => "alert.severity",
            Self::Message => "alert.message",
            Self::Value => "alert.value",
            Self::ServiceLogSource => "service.log_source",
            Self::ServiceLogName => "service.log_name",
            Self::BackupDir => "backup.dir",
            Self::CertDir => "cert.dir",
        }
    }

    /// What an alert's subject must be for this source to mean anything: an inventory fact
    /// about a service, a backup set or a certificate needs an alert naming one.
    fn needs_subject(self) -> Option<Subject> {
        match self {
            Self::ServiceLogSource | Self::ServiceLogName => Some(Subject::Service),
            Self::BackupDir => Some(Subject::Backup),
            Self::CertDir => Some(Subject::Cert),
            _ => None,
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// One alert of a host, as matching needs it (what `status --json` and the Alerts pane show).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertFacts {
    /// Rule name (`service_down`).
    pub rule: String,
    /// What it is about (`app`); empty for the host as a whole.
    pub subject: String,
    /// How bad.
    pub severity: Severity,
    /// One sentence.
    pub message: String,
    /// The measured value, when there is one.
    pub value: Option<String>,
}

impl From<&crate::health::Alert> for AlertFacts {
    fn from(a: &crate::health::Alert) -> Self {
        Self {
            rule: a.rule.to_owned(),
            subject: a.subject.clone(),
            severity: a.severity,
            message: a.message.clone(),
            value: a.value.clone(),
        }
    }
}

impl From<&crate::alerts::TrackedAlert> for AlertFacts {
    fn from(a: &crate::alerts::TrackedAlert) -> Self {
        Self {
            rule: a.key.rule.clone(),
            subject: a.key.subject.clone(),
            severity: a.severity,
            message: a.message.clone(),
            value: a.value.clone(),
        }
    }
}

/// What offers need to know of the host: its name, where its services' logs are, where its
/// backup sets and certificates live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// Host name.
    pub name: String,
    /// Service name → (`journald` or `docker`, unit or container), for the services whose
    /// logs have one obvious place (a systemd unit, a named docker container).
    pub service_logs: BTreeMap<String, (String, String)>,
    /// Backup set name → its directory on the host (a host path: `/…` or `~/…`).
    pub backup_dirs: BTreeMap<String, String>,
    /// Certificate name → the directory holding its file on the host (`/…` or `~/…`).
    pub cert_dirs: BTreeMap<String, String>,
}

/// An inventory path as a host path: a relative one is relative to the login user's home
/// (as the probes read it), so it gets `~/`; a trailing `/` goes.
fn host_dir(dir: &str) -> String {
    let dir = if dir.len() > 1 {
        dir.trim_end_matches('/')
    } else {
        dir
    };
    if dir.starts_with('/') || dir == "~" || dir.starts_with("~/") {
        dir.to_owned()
    } else if dir.is_empty() {
        "~".to_owned()
    } else {
        format!("~/{dir}")
    }
}

/// The directory of the file at inventory path `path` (`~/c/ssl.crt` → `~/c`, `ssl.crt` → `~`).
fn parent_dir(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) => "/".to_owned(),
        Some((dir, _)) => host_dir(dir),
        None => "~".to_owned(),
    }
}

impl HostFacts {
    /// A host known by name only (no inventory facts: `service.*` sources stay unfilled).
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    /// The facts of an inventory host.
    pub fn from_host(host: &crate::inventory::Host) -> Self {
        use crate::inventory::ServiceKind;
        let service_logs = host
            .services
            .iter()
            .filter_map(|s| {
                let place = match &s.kind {
                    ServiceKind::Systemd { unit } => ("journald", unit.clone()),
                    ServiceKind::Docker {
                        container: Some(c), ..
                    } => ("docker", c.clone()),
                    // A compose service's container name is the project's choice, and
                    // processes and ports have no log of their own: nothing to fill.
                    _ => return None,
                };
                Some((s.name.clone(), (place.0.to_owned(), place.1)))
            })
            .collect();
        Self {
            name: host.name.clone(),
            service_logs,
            backup_dirs: host
                .backups
                .iter()
                .map(|b| (b.name.clone(), host_dir(&b.dir)))
                .collect(),
            cert_dirs: host
                .certs
                .iter()
                .map(|c| (c.name.clone(), parent_dir(&c.path)))
                .collect(),
        }
    }
}

impl AlertFacts {
    /// Where a run answering this alert on `host` belongs, as `--hosts` takes it: the host,
    /// or `@GROUP` for an alert about a consensus group (its subject is the group's
    /// `consensus_group` name; every member carries the alert, and recovery means every
    /// member healthy, not the one whose row was picked).
    pub fn scope(&self, host: &HostFacts) -> String {
        let about_group =
            rules::find(&self.rule).is_some_and(|r| r.subject == Subject::ConsensusGroup);
        if about_group && !self.subject.is_empty() {
            format!("@{}", self.subject)
        } else {
            host.name.clone()
        }
    }

    /// The text `source` gives for this alert on `host` (`None`: there is no such value).
    pub fn field(&self, source: FillSource, host: &HostFacts) -> Option<String> {
        // A service, a backup set and a certificate may share a name: the subject names one
        // only when the rule is about that kind of thing.
        if let Some(needed) = source.needs_subject()
            && rules::find(&self.rule).is_none_or(|r| r.subject != needed)
        {
            return None;
        }
        let logs = || host.service_logs.get(&self.subject);
        let text = match source {
            FillSource::Host => host.name.clone(),
            FillSource::Rule => self.rule.clone(),
            FillSource::Subject => self.subject.clone(),
            FillSource::Severity => self.severity.as_str().to_owned(),
            FillSource::Message => self.message.clone(),
            FillSource::Value => self.value.clone()?,
            FillSource::ServiceLogSource => logs()?.0.clone(),
            FillSource::ServiceLogName => logs()?.1.clone(),
            FillSource::BackupDir => host.backup_dirs.get(&self.subject)?.clone(),
            FillSource::CertDir => host.cert_dirs.get(&self.subject)?.clone(),
        };
        (!text.is_empty()).then_some(text)
    }
}

/// One runbook offered for a host, in the order [`offers`] ranks them.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// Runbook name.
    pub runbook: String,
    /// Its title.
    pub title: String,
    /// The host it was offered for (the row's, or the host of the alert picked).
    pub host: String,
    /// What it would run on, as `--hosts` and `:run` take it: [`Offer::host`], or `@GROUP`
    /// when it answers an alert about a whole consensus group (`consensus_lost`,
    /// `consensus_at_risk`: every member carries it, so the one member is the wrong scope).
    /// The run starts on these hosts narrowed by the runbook's own `[targets]`
    /// ([`super::select_targets`]).
    pub hosts: String,
    /// The alert it answers (a rule of its `for`), `None` for a runbook offered because it
    /// exists.
    pub answers: Option<AlertFacts>,
    /// Inputs filled from that alert, validated like `--var` values (defaults are not here:
    /// the runbook has them).
    pub inputs: BTreeMap<String, String>,
    /// Required inputs with no default and no value from the alert, in the runbook's order:
    /// they must be asked before the run starts.
    pub missing: Vec<String>,
    /// Inputs the alert would fill with a value the input refuses, with why (the input then
    /// keeps its default, or is missing).
    pub refused: BTreeMap<String, String>,
}

/// Ranks `catalog` for `host` with its `alerts`: runbooks whose `for` holds the rule of the
/// worst alert first, then those answering the host's other alerts (by severity, then the
/// order given), then the rest alphabetically; ties alphabetically. Each is filled from the
/// first alert (in that order) it answers, and scoped by it ([`AlertFacts::scope`]): the
/// host, or `@GROUP` for an alert about a consensus group.
pub fn offers<'a>(
    catalog: impl IntoIterator<Item = &'a Runbook>,
    host: &HostFacts,
    alerts: &[AlertFacts],
) -> Vec<Offer> {
    let mut order: Vec<&AlertFacts> = alerts.iter().collect();
    // Stable: alerts of one severity keep the caller's order (worst first by its own measure).
    order.sort_by_key(|a| std::cmp::Reverse(a.severity));
    let mut ranked: Vec<(usize, Offer)> = catalog
        .into_iter()
        .map(|rb| {
            let hit = order.iter().position(|a| rb.answers.contains(&a.rule));
            let alert = hit.map(|i| order[i]);
            (hit.unwrap_or(usize::MAX), offer(rb, host, alert))
        })
        .collect();
    ranked.sort_by(|(a, x), (b, y)| a.cmp(b).then_with(|| x.runbook.cmp(&y.runbook)));
    ranked.into_iter().map(|(_, o)| o).collect()
}

fn offer(rb: &Runbook, host: &HostFacts, alert: Option<&AlertFacts>) -> Offer {
    let mut inputs = BTreeMap::new();
    let mut refused = BTreeMap::new();
    if let Some(alert) = alert {
        for (name, field) in &rb.fill {
            let (Some(input), Some(value)) = (rb.input(name), alert.field(*field, host)) else {
                continue;
            };
            match validate_input(input, &value, None) {
                Ok(v) => {
                    inputs.insert(name.clone(), v);
                }
                Err(why) => {
                    refused.insert(name.clone(), why);
                }
            }
        }
    }
    let missing = rb
        .inputs
        .iter()
        .filter(|i| i.required && i.default.is_none() && !inputs.contains_key(&i.name))
        .map(|i| i.name.clone())
        .collect();
    Offer {
        runbook: rb.name.clone(),
        title: rb.title.clone(),
        host: host.name.clone(),
        hosts: alert.map_or_else(|| host.name.clone(), |a| a.scope(host)),
        answers: alert.cloned(),
        inputs,
        missing,
        refused,
    }
}

/// Checks a runbook's `for` and `[fill]` against the rule list and its `inputs`, reporting each
/// problem at its position through `at`; returns the rules and the fill map (what could be
/// understood of them). Called once from the runbook linter.
pub(super) fn lint_for(
    file: &RunbookFile,
    inputs: &[Input],
    mut at: impl FnMut(Range<usize>, String),
) -> (Vec<String>, BTreeMap<String, FillSource>) {
    let mut answers: Vec<String> = Vec::new();
    if let Some(list) = &file.answers {
        if list.get_ref().is_empty() {
            at(
                list.span(),
                "`for` is empty: name the health rules the runbook answers, or leave `for` out"
                    .into(),
            );
        }
        for rule in list.get_ref() {
            let name = rule.get_ref();
            if rules::find(name).is_none() {
                let known: Vec<&str> = rules::RULES.iter().map(|r| r.name).collect();
                at(
                    rule.span(),
                    format!(
                        "unknown health rule {name:?} in `for`: expected one of {}",
                        known.join(", ")
                    ),
                );
            } else if answers.contains(name) {
                at(
                    rule.span(),
                    format!("rule `{name}` is listed twice in `for`"),
                );
            } else {
                answers.push(name.clone());
            }
        }
    }
    let mut fill = BTreeMap::new();
    let Some(table) = &file.fill else {
        return (answers, fill);
    };
    if file.answers.is_none() {
        at(
            table.span(),
            "`fill` says how an alert fills the inputs, but the runbook answers no alert: add \
             `for = [\"rule\", …]`"
                .into(),
        );
    }
    for (key, source) in table.get_ref() {
        let name = key.get_ref();
        let Some(input) = inputs.iter().find(|i| i.name == *name) else {
            let known: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
            at(
                key.span(),
                if known.is_empty() {
                    format!("`fill` names no input `{name}`: the runbook takes no inputs")
                } else {
                    format!(
                        "`fill` names no input `{name}`: the inputs are {}",
                        known.join(", ")
                    )
                },
            );
            continue;
        };
        let Some(field) = FillSource::parse(source.get_ref()) else {
            let known: Vec<&str> = FillSource::ALL.iter().map(|f| f.as_str()).collect();
            at(
                source.span(),
                format!(
                    "invalid source {:?} for input `{name}` in `fill`: expected one of {}",
                    source.get_ref(),
                    known.join(", ")
                ),
            );
            continue;
        };
        if let Some(problem) = fit(input, field, &answers) {
            at(source.span(), problem);
            continue;
        }
        fill.insert(name.clone(), field);
    }
    (answers, fill)
}

/// Why `field` cannot fill `input` for alerts of `answers`, if it cannot.
fn fit(input: &Input, field: FillSource, answers: &[String]) -> Option<String> {
    let name = &input.name;
    if input.secret {
        return Some(format!(
            "input `{name}` is secret: it is always asked, never filled from an alert"
        ));
    }
    match (input.kind, field) {
        (InputType::Host, FillSource::Host) => {}
        (InputType::Host, _) => {
            return Some(format!(
                "input `{name}` is of type host: only alert.host names a host"
            ));
        }
        // A path is text too; the fill checks it is a host path like any `--var` value.
        (InputType::String | InputType::Choice | InputType::Path, _) => {}
        (kind, _) => {
            return Some(format!(
                "input `{name}` is of type {}: an alert's text cannot fill it (only string, \
                 choice, path and host inputs can be filled)",
                kind.as_str()
            ));
        }
    }
    if let Some(needed) = field.needs_subject() {
        return answers
            .iter()
            .filter_map(|r| rules::find(r))
            .find(|r| r.subject != needed)
            .map(|r| {
                format!(
                    "input `{name}` is filled from {}, but `{}` alerts are not about {} \
                     (their subject is {})",
                    field.as_str(),
                    r.name,
                    needed.describe(),
                    r.subject.describe()
                )
            });
    }
    if field != FillSource::Subject {
        return None;
    }
    // One input holds one kind of thing: the subject must mean the same for every rule.
    let subjects: Vec<(&str, Subject)> = answers
        .iter()
        .filter_map(|r| rules::find(r).map(|rule| (rule.name, rule.subject)))
        .collect();
    if let Some((rule, subject)) = subjects
        .iter()
        .find(|(_, s)| matches!(s, Subject::Host | Subject::Probe))
    {
        return Some(format!(
            "input `{name}` is filled from alert.subject, but the subject of `{rule}` alerts is \
             {}",
            subject.describe()
        ));
    }
    if let Some(((first, a), (other, b))) = subjects
        .first()
        .and_then(|f| subjects.iter().find(|(_, s)| *s != f.1).map(|o| (f, o)))
    {
        return Some(format!(
            "input `{name}` is filled from alert.subject, which is {} for `{first}` but {} for \
             `{other}`: answer rules about one kind of thing, or fill it from elsewhere",
            a.describe(),
            b.describe()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::{parse, shipped_runbook};

    fn alert(rule: &str, subject: &str, severity: Severity) -> AlertFacts {
        AlertFacts {
            rule: rule.into(),
            subject: subject.into(),
            severity,
            message: format!("{subject}: {rule}"),
            value: None,
        }
    }

    /// `web-3` runs `app` as a systemd unit and `api` in a compose project.
    fn web3() -> HostFacts {
        let fleet = crate::inventory::load_fleet_from_str(
            r#"
[fleet]
name = "t"

[[hosts]]
name = "web-3"
address = "10.0.0.3"
services = [
  { name = "app", kind = "systemd", unit = "app.service" },
  { name = "api", kind = "docker", compose_file = "/srv/c.yml", compose_service = "api" },
]
"#,
            crate::inventory::ConfigSource::Embedded,
        )
        .expect("inventory");
        HostFacts::from_host(&fleet.hosts[0])
    }

    fn shipped() -> Vec<Runbook> {
        crate::runbook::shipped()
            .iter()
            .map(|(name, _)| {
                shipped_runbook(name)
                    .expect("shipped")
                    .expect("shipped runbooks lint clean")
            })
            .collect()
    }

    const TWO: &str = r#"
name = "x"
title = "x"
for = ["disk_full", "disk_usage"]
fill = { mount = "alert.subject", node = "alert.host", note = "alert.message" }

[[inputs]]
name = "mount"
pattern = "/.*"

[[inputs]]
name = "node"
type = "host"

[[inputs]]
name = "note"
required = false

[[inputs]]
name = "reason"

[[steps]]
id = "a"
kind = "manual"
"#;

    #[test]
    fn troubleshoot_on_service_down_of_app_fills_service_with_app() {
        let catalog = shipped();
        let alerts = [
            alert("service_down", "app", Severity::Critical),
            alert("disk_usage", "/data", Severity::Warning),
        ];
        let ranked = offers(&catalog, &web3(), &alerts);
        let first = &ranked[0];
        assert_eq!(first.runbook, "troubleshoot");
        assert_eq!(first.host, "web-3");
        let filled: Vec<(&str, &str)> = first
            .inputs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            filled,
            [
                ("log_name", "app.service"),
                ("log_source", "journald"),
                ("service", "app")
            ]
        );
        assert_eq!(
            first.answers.as_ref().map(|a| a.rule.as_str()),
            Some("service_down")
        );
        assert!(first.missing.is_empty(), "{:?}", first.missing);
        // The rest: those answering nothing here, alphabetically, with nothing filled.
        let rest: Vec<&str> = ranked
            .iter()
            .filter(|o| o.answers.is_none())
            .map(|o| o.runbook.as_str())
            .collect();
        let mut sorted = rest.clone();
        sorted.sort_unstable();
        assert_eq!(rest, sorted);
        assert!(
            ranked
                .iter()
                .filter(|o| o.answers.is_none())
                .all(|o| o.inputs.is_empty())
        );

        // A compose service's container is not known: its logs keep the defaults.
        let api = [alert("service_down", "api", Severity::Critical)];
        let first = &offers(&catalog, &web3(), &api)[0];
        assert_eq!(first.runbook, "troubleshoot");
        let keys: Vec<&str> = first.inputs.keys().map(String::as_str).collect();
        assert_eq!(keys, ["service"]);
    }

    /// A consensus group `group0` of four voters and an observer, and a host outside it.
    fn fisco() -> crate::inventory::Fleet {
        let member = |name: &str, role: &str| {
            format!(
                "[[hosts]]\nname = \"{name}\"\naddress = \"10.0.0.1\"\n\
                 consensus_group = \"group0\"\nrole = \"{role}\"\n"
            )
        };
        let text = format!(
            "[fleet]\nname = \"t\"\n{}{}{}{}{}[[hosts]]\nname = \"web-1\"\n\
             address = \"10.0.0.2\"\n",
            member("fisco-1", "consensus"),
            member("fisco-2", "consensus"),
            member("fisco-3", "consensus"),
            member("fisco-4", "consensus"),
            member("fisco-obs", "observer"),
        );
        crate::inventory::load_fleet_from_str(&text, crate::inventory::ConfigSource::Embedded)
            .expect("inventory")
    }

    /// The hosts an offer's run would start on: its `hosts` as `--hosts`, narrowed by the
    /// runbook's `[targets]`, as the console's launch and `fleetdeck run` select them.
    fn run_on(o: &Offer, catalog: &[Runbook], fleet: &crate::inventory::Fleet) -> Vec<String> {
        let rb = catalog
            .iter()
            .find(|r| r.name == o.runbook)
            .expect("offered");
        crate::runbook::select_targets(rb, fleet, Some(&o.hosts), None).expect("selects")
    }

    #[test]
    fn a_lost_consensus_on_one_member_offers_the_run_on_every_member_of_its_group() {
        let catalog = shipped();
        let fleet = fisco();
        let host = HostFacts::from_host(&fleet.hosts[1]);
        let lost = [AlertFacts {
            rule: "consensus_lost".into(),
            subject: "group0".into(),
            severity: Severity::Critical,
            message: "consensus group group0: 2 of 4 consensus nodes down".into(),
            value: Some("2 of 4 down (F=1)".into()),
        }];
        let ranked = offers(&catalog, &host, &lost);
        let first = &ranked[0];
        assert_eq!(first.runbook, "p0-response");
        assert_eq!(
            (first.host.as_str(), first.hosts.as_str()),
            ("fisco-2", "@group0")
        );
        assert_eq!(
            run_on(first, &catalog, &fleet),
            ["fisco-1", "fisco-2", "fisco-3", "fisco-4", "fisco-obs"],
            "every member of the group, not the one whose row was picked"
        );
        // Runbooks offered because they exist are not scoped by an alert: the host.
        assert!(
            ranked
                .iter()
                .filter(|o| o.answers.is_none())
                .all(|o| o.hosts == "fisco-2"),
            "{ranked:?}"
        );
        // At risk (exactly F down) is about the group too.
        let at_risk = alert("consensus_at_risk", "group0", Severity::Critical);
        assert_eq!(at_risk.scope(&host), "@group0");
    }

    #[test]
    fn a_stopped_service_on_a_member_offers_the_run_on_that_host_only() {
        let catalog = shipped();
        let fleet = fisco();
        let host = HostFacts::from_host(&fleet.hosts[1]);
        let down = [alert("service_down", "node", Severity::Critical)];
        let first = &offers(&catalog, &host, &down)[0];
        assert_eq!(first.runbook, "troubleshoot");
        assert_eq!(first.hosts, "fisco-2");
        assert_eq!(run_on(first, &catalog, &fleet), ["fisco-2"]);
        // Every other rule keeps the one host, even when its subject could name a group.
        for rule in rules::RULES
            .iter()
            .filter(|r| r.subject != Subject::ConsensusGroup)
        {
            let a = alert(rule.name, "group0", Severity::Critical);
            assert_eq!(a.scope(&host), "fisco-2", "{}", rule.name);
        }
        // A group alert with no subject (nothing to name the group by) stays on the host.
        assert_eq!(
            alert("consensus_lost", "", Severity::Critical).scope(&host),
            "fisco-2"
        );
    }

    #[test]
    fn a_group_offer_is_narrowed_by_the_runbook_s_own_targets() {
        let fleet = fisco();
        let host = HostFacts::from_host(&fleet.hosts[0]);
        let lost = [alert("consensus_lost", "group0", Severity::Critical)];
        let with_targets = |targets: &str| {
            let text = format!(
                "name = \"quorum\"\ntitle = \"q\"\nfor = [\"consensus_lost\"]\n\n\
                 [targets]\n{targets}\n\n[[steps]]\nid = \"a\"\nkind = \"manual\"\n"
            );
            parse(&text, "quorum.toml").expect("valid")
        };
        let voters = [with_targets("role = \"consensus\"")];
        let o = &offers(&voters, &host, &lost)[0];
        assert_eq!(o.hosts, "@group0");
        assert_eq!(
            run_on(o, &voters, &fleet),
            ["fisco-1", "fisco-2", "fisco-3", "fisco-4"],
            "the observer is not a target of a runbook for voters"
        );
        let two = [with_targets("hosts = \"fisco-[12]\"")];
        let o = &offers(&two, &host, &lost)[0];
        assert_eq!(run_on(o, &two, &fleet), ["fisco-1", "fisco-2"]);
        let elsewhere = [with_targets("consensus_group = \"group1\"")];
        let o = &offers(&elsewhere, &host, &lost)[0];
        assert!(run_on(o, &elsewhere, &fleet).is_empty());
    }

    #[test]
    fn at_group_selects_a_group_s_hosts_and_an_unknown_one_is_an_error() {
        let fleet = fisco();
        let names = |sel: Vec<usize>| -> Vec<String> {
            sel.into_iter()
                .map(|i| fleet.hosts[i].name.clone())
                .collect()
        };
        assert_eq!(
            names(fleet.select(Some("@group0"), None).expect("selects")),
            names(fleet.select(None, Some("group0")).expect("selects")),
            "`@NAME` selects what `--group NAME` does"
        );
        assert_eq!(
            names(
                fleet
                    .select(Some("@group0"), Some("group0"))
                    .expect("selects")
            )
            .len(),
            5
        );
        let err = fleet
            .select(Some("@group9"), None)
            .expect_err("unknown group");
        assert!(
            err.contains("no group or consensus group called \"group9\""),
            "{err}"
        );
    }

    #[test]
    fn the_worst_alert_ranks_first_then_other_alerts_then_the_rest() {
        let answering = |name: &str, rules: &[&str]| {
            let mut rb = parse(TWO, "x.toml").expect("valid");
            rb.name = name.into();
            rb.answers = rules.iter().map(|r| (*r).to_owned()).collect();
            rb
        };
        let catalog = [
            answering("a-none", &[]),
            answering("b-warn", &["disk_usage"]),
            answering("c-crit", &["disk_full"]),
            answering("d-none", &[]),
            answering("e-crit-too", &["service_down", "disk_full"]),
        ];
        // Given out of order: the critical one must still lead.
        let alerts = [
            alert("disk_usage", "/logs", Severity::Warning),
            alert("disk_full", "/data", Severity::Critical),
        ];
        let got: Vec<(String, Option<String>)> =
            offers(&catalog, &HostFacts::named("db-1"), &alerts)
                .into_iter()
                .map(|o| (o.runbook, o.answers.map(|a| a.subject)))
                .collect();
        let want = |n: &str, s: Option<&str>| (n.to_owned(), s.map(str::to_owned));
        assert_eq!(
            got,
            vec![
                want("c-crit", Some("/data")),
                want("e-crit-too", Some("/data")),
                want("b-warn", Some("/logs")),
                want("a-none", None),
                want("d-none", None),
            ]
        );
    }

    #[test]
    fn filling_validates_like_the_command_line_and_lists_what_is_missing() {
        let rb = parse(TWO, "x.toml").expect("valid");
        let full = alert("disk_full", "/data", Severity::Critical);
        let o = &offers(
            [&rb],
            &HostFacts::named("db-1"),
            std::slice::from_ref(&full),
        )[0];
        let filled: Vec<(&str, &str)> = o
            .inputs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            filled,
            [
                ("mount", "/data"),
                ("node", "db-1"),
                ("note", "/data: disk_full")
            ]
        );
        assert_eq!(o.missing, ["reason"]);
        assert!(o.refused.is_empty());

        // A subject the input's pattern refuses is not filled, and the input stays missing.
        let odd = alert("disk_full", "data", Severity::Critical);
        let o = &offers([&rb], &HostFacts::named("db-1"), &[odd])[0];
        assert!(!o.inputs.contains_key("mount"));
        assert_eq!(o.missing, ["mount", "reason"]);
        assert!(o.refused["mount"].contains("does not match the pattern"));

        // No alert answered: nothing filled, every required input without default missing.
        let o = &offers([&rb], &HostFacts::named("db-1"), &[])[0];
        assert!(o.answers.is_none() && o.inputs.is_empty());
        assert_eq!(o.missing, ["mount", "node", "reason"]);
    }

    /// `db-1` keeps its `postgres` dumps in `/srv/backups/` and `wal` under its home; its node
    /// certificate lives in an absolute conf directory, its SDK one under its home.
    fn db1() -> HostFacts {
        let fleet = crate::inventory::load_fleet_from_str(
            r#"
[fleet]
name = "t"

[[hosts]]
name = "db-1"
address = "10.0.0.1"
backups = [
  { name = "postgres", dir = "/srv/backups/", pattern = "*.sql.gz", every = "24h" },
  { name = "wal", dir = "wal", pattern = "*.gz", every = "1h" },
]
certs = [
  { name = "node", path = "/data/fisco/nodes/127.0.0.1/node0/conf/ssl.crt" },
  { name = "sdk", path = "~/sdk/conf/sdk.crt" },
  { name = "bare", path = "ca.crt" },
]
"#,
            crate::inventory::ConfigSource::Embedded,
        )
        .expect("inventory");
        HostFacts::from_host(&fleet.hosts[0])
    }

    #[test]
    fn backup_on_a_stale_set_fills_the_set_s_directory() {
        let catalog = shipped();
        let host = db1();
        let stale = [alert("backup_stale", "postgres", Severity::Critical)];
        let first = &offers(&catalog, &host, &stale)[0];
        assert_eq!(first.runbook, "backup");
        assert_eq!(
            first.inputs.get("backup_dir").map(String::as_str),
            Some("/srv/backups"),
            "{first:?}"
        );
        assert!(
            first.missing.is_empty() && first.refused.is_empty(),
            "{first:?}"
        );
        // A relative directory is under the login user's home, as the probe reads it.
        let wal = [alert("backup_missing", "wal", Severity::Critical)];
        let first = &offers(&catalog, &host, &wal)[0];
        assert_eq!(first.inputs["backup_dir"], "~/wal");
        // A set the inventory does not know (an old alert): nothing filled, the default stays.
        let gone = [alert("backup_stale", "nightly", Severity::Critical)];
        let first = &offers(&catalog, &host, &gone)[0];
        assert_eq!(first.runbook, "backup");
        assert!(first.inputs.is_empty(), "{first:?}");
        // Only alerts about a backup set have one.
        let svc = alert("service_down", "postgres", Severity::Critical);
        assert_eq!(svc.field(FillSource::BackupDir, &host), None);
    }

    #[test]
    fn cert_rotation_on_an_expiring_certificate_fills_its_directory() {
        let catalog = shipped();
        let host = db1();
        let expiring = [alert("cert_expiring", "node", Severity::Warning)];
        let first = &offers(&catalog, &host, &expiring)[0];
        assert_eq!(first.runbook, "cert-rotation");
        assert_eq!(
            first.inputs.get("conf_dir").map(String::as_str),
            Some("/data/fisco/nodes/127.0.0.1/node0/conf")
        );
        let field = |name: &str| {
            alert("cert_expired", name, Severity::Critical).field(FillSource::CertDir, &host)
        };
        assert_eq!(field("sdk").as_deref(), Some("~/sdk/conf"));
        assert_eq!(field("bare").as_deref(), Some("~"));
        assert_eq!(field("other"), None);
        assert_eq!(parent_dir("/ssl.crt"), "/");
        assert_eq!(host_dir("/"), "/");
    }

    #[test]
    fn lint_checks_rules_inputs_sources_and_subjects() {
        let errs = |head: &str| -> Vec<String> {
            let text = format!(
                "name = \"x\"\ntitle = \"x\"\n{head}\n\n[[inputs]]\nname = \"service\"\n\n\
                 [[inputs]]\nname = \"port\"\ntype = \"int\"\ndefault = 1\n\n\
                 [[inputs]]\nname = \"key\"\nsecret = true\nrequired = false\n\n\
                 [[steps]]\nid = \"a\"\nkind = \"manual\"\n"
            );
            crate::runbook::lint(&text, "x.toml")
                .into_iter()
                .map(|e| e.message)
                .collect()
        };
        assert!(
            errs("for = [\"service_down\"]\nfill = { service = \"alert.subject\" }").is_empty()
        );
        let one = |head: &str| {
            let e = errs(head);
            assert_eq!(e.len(), 1, "{head}: {e:?}");
            e[0].clone()
        };
        assert!(
            one("for = [\"chain_stalled\"]").starts_with("unknown health rule \"chain_stalled\"")
        );
        assert!(one("for = []").starts_with("`for` is empty"));
        assert!(one("for = [\"syncing\", \"syncing\"]").contains("listed twice"));
        assert!(one("fill = { service = \"alert.subject\" }").contains("answers no alert"));
        assert!(
            one("for = [\"service_down\"]\nfill = { svc = \"alert.subject\" }")
                .contains("names no input `svc`: the inputs are service, port, key")
        );
        assert!(
            one("for = [\"service_down\"]\nfill = { service = \"subject\" }")
                .contains("invalid source \"subject\"")
        );
        assert!(
            one("for = [\"service_down\"]\nfill = { port = \"alert.value\" }")
                .contains("of type int")
        );
        assert!(
            one("for = [\"service_down\"]\nfill = { key = \"alert.subject\" }").contains("secret")
        );
        assert!(
            one("for = [\"host_unreachable\"]\nfill = { service = \"alert.subject\" }")
                .contains("the subject of `host_unreachable` alerts is nothing")
        );
        assert!(
            one("for = [\"cert_expiring\"]\nfill = { service = \"service.log_name\" }")
                .contains("`cert_expiring` alerts are not about a service")
        );
        assert!(
            one("for = [\"backup_stale\", \"service_down\"]\nfill = { service = \"backup.dir\" }")
                .contains(
                    "filled from backup.dir, but `service_down` alerts are not about a backup set"
                )
        );
        assert!(
            one("for = [\"cert_expiring\", \"disk_full\"]\nfill = { service = \"cert.dir\" }")
                .contains("`disk_full` alerts are not about a certificate")
        );
        assert!(
            errs(
                "for = [\"backup_stale\", \"backup_missing\"]\nfill = { service = \"backup.dir\" }"
            )
            .is_empty()
        );
        assert!(
            one("for = [\"service_down\", \"disk_full\"]\nfill = { service = \"alert.subject\" }")
                .contains("a service for `service_down` but a mount point for `disk_full`")
        );
    }
}

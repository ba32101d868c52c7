//! The incident timeline (DVN runbook §8.4, postmortem): the audit records of one incident —
//! alerts acknowledged, runbook runs and their steps, confirmations, commands and their results,
//! notes, SLA timers, refusals — as a list of events with the time, the time elapsed since the
//! incident started, who acted and what happened, plus the incident's durations (time to
//! acknowledge, time to fix). Rendered as a Markdown table to paste into the postmortem, or as
//! JSON (`docs/audit.md`, "Timeline", documents both and defines every duration).
//!
//! Pure: it is given records already read ([`super::read_log`]) and the time "now" (for a
//! relative `--since`), and returns values and text. Callers: `fleetdeck audit timeline`
//! (`src/cli/audit.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{AuditAction, AuditRecord, Phase};

/// The `schema` of the JSON document; a change that removes or renames a key gets a new one.
pub const SCHEMA: &str = "fleetdeck.timeline/1";

/// How an `alert.ack` record's `reason` says since when the alert had been failing (followed by
/// an RFC 3339 time).
pub const FAILING_SINCE: &str = "failing since ";

/// How far before a run's first record `alert.*` records on its targets are taken in, unless
/// told otherwise (`--lookback`): the alert that led to the run is usually acknowledged minutes
/// before it starts.
pub const DEFAULT_LOOKBACK: Duration = Duration::from_secs(3600);

/// Errors selecting a timeline.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimelineError {
    /// `--since` is neither an RFC 3339 time, a run stamp, nor a duration.
    #[error(
        "--since {0:?}: expected an RFC 3339 time (2026-12-07T10:00:00Z), a run stamp \
         (20261207100000, UTC) or a duration before now (2h, 30m)"
    )]
    BadSince(String),
    /// No record carries this run id.
    #[error("no audit record belongs to run {0:?} (run ids are in `fleetdeck audit show`)")]
    NoSuchRun(String),
    /// Nothing was recorded at or after the `--since` time.
    #[error("no audit record at or after {0}")]
    NothingSince(String),
}

/// Which records make the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// The records of one run (its `run` field), and the `alert.*` records on its targets from
    /// `lookback` before its first record until its last.
    Run {
        /// The run id.
        id: String,
        /// How far back alerts are taken in.
        lookback: Duration,
    },
    /// Every record at or after this time.
    Since(OffsetDateTime),
}

/// Parses `--since`: an RFC 3339 time, a run stamp `YYYYMMDDHHMMSS` (UTC, what `{{run.stamp}}`
/// gives), or a duration (`2h`, `30m`, `1h 30m`) meaning that long before `now`.
pub fn parse_since(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, TimelineError> {
    let t = text.trim();
    let bad = || TimelineError::BadSince(text.to_owned());
    if let Ok(at) = OffsetDateTime::parse(t, &Rfc3339) {
        return Ok(at);
    }
    if t.len() == 14 && t.bytes().all(|b| b.is_ascii_digit()) {
        let n = |r: std::ops::Range<usize>| t[r].parse::<u32>().map_err(|_| bad());
        let month = time::Month::try_from(n(4..6)? as u8).map_err(|_| bad())?;
        let date = time::Date::from_calendar_date(n(0..4)? as i32, month, n(6..8)? as u8)
            .map_err(|_| bad())?;
        let clock = time::Time::from_hms(n(8..10)? as u8, n(10..12)? as u8, n(12..14)? as u8)
            .map_err(|_| bad())?;
        return Ok(date.with_time(clock).assume_utc());
    }
    let back = humantime::parse_duration(t).map_err(|_| bad())?;
    let back = time::Duration::try_from(back).map_err(|_| bad())?;
    now.checked_sub(back).ok_or_else(bad)
}

/// The records `selection` takes, in log order.
pub fn select<'a>(
    records: &'a [AuditRecord],
    selection: &Selection,
) -> Result<Vec<&'a AuditRecord>, TimelineError> {
    match selection {
        Selection::Since(since) => {
            let out: Vec<&AuditRecord> = records
                .iter()
                .filter(|r| parse_time(&r.time).is_some_and(|t| t >= *since))
                .collect();
            if out.is_empty() {
                return Err(TimelineError::NothingSince(format_time(*since)));
            }
            Ok(out)
        }
        Selection::Run { id, lookback } => {
            let of_run: Vec<&AuditRecord> = records
                .iter()
                .filter(|r| r.run.as_deref() == Some(id.as_str()))
                .collect();
            let (Some(first), Some(last)) = (of_run.first(), of_run.last()) else {
                return Err(TimelineError::NoSuchRun(id.clone()));
            };
            let targets: BTreeSet<&str> = of_run
                .iter()
                .filter(|r| {
                    matches!(
                        action_of(r),
                        Some(AuditAction::RunbookStart | AuditAction::RunbookResume)
                    )
                })
                .filter_map(|r| r.target.as_deref())
                .flat_map(|t| t.split(','))
                .map(str::trim)
                .collect();
            let from = parse_time(&first.time)
                .and_then(|t| t.checked_sub(time::Duration::try_from(*lookback).ok()?));
            let until = parse_time(&last.time);
            let alert_on_target = |r: &AuditRecord| {
                r.run.is_none()
                    && r.action.starts_with("alert.")
                    && r.target.as_deref().is_some_and(|t| targets.contains(t))
                    && match (parse_time(&r.time), from, until) {
                        (Some(t), Some(from), Some(until)) => t >= from && t <= until,
                        _ => false,
                    }
            };
            Ok(records
                .iter()
                .filter(|r| r.run.as_deref() == Some(id.as_str()) || alert_on_target(r))
                .collect())
        }
    }
}

/// One run seen in the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// The run id.
    pub run: String,
    /// The runbook's name.
    pub runbook: Option<String>,
    /// Its targets, as `runbook.start` recorded them (comma-separated).
    pub targets: Option<String>,
    /// Time of its first `runbook.start` (or `runbook.resume`) in the selection.
    pub started: Option<String>,
    /// Time of its `runbook.finish`, if it finished within the selection.
    pub finished: Option<String>,
    /// `success`, `failed`, `escalated`, `aborted`, `refused`; null while it has not finished.
    pub result: Option<String>,
}

/// One event of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// The audit record's `seq`.
    pub seq: u64,
    /// Its `time` as stored (UTC, RFC 3339 with milliseconds).
    pub time: String,
    /// Milliseconds since the timeline's `start` (negative before it; null when either time
    /// does not parse).
    pub elapsed_ms: Option<i64>,
    /// The operator.
    pub actor: String,
    /// Their role.
    pub role: String,
    /// What kind of event: see [`Kind`].
    pub kind: Kind,
    /// The audit action it comes from.
    pub action: String,
    /// The run it belongs to.
    pub run: Option<String>,
    /// The runbook.
    pub runbook: Option<String>,
    /// The step (a rolling sub-step as `STEP.SUB`).
    pub step: Option<String>,
    /// The host or hosts.
    pub target: Option<String>,
    /// One line saying what happened.
    pub event: String,
    /// The rest: command, reason, note, duration (may hold several lines).
    pub details: String,
}

/// The kinds of events, for filtering the JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `alert.*`: an alert acknowledged (or raised / resolved, once the log records those).
    Alert,
    /// A run started, resumed, finished, was suspended or aborted.
    Run,
    /// A step's result (or a step entered and never reported), a skip.
    Step,
    /// An input given.
    Input,
    /// A typed confirmation, or a mistyped one.
    Confirm,
    /// A branch taken.
    Decision,
    /// A checklist item ticked.
    Checklist,
    /// A note the operator typed.
    Note,
    /// A command and its result.
    Exec,
    /// A webhook posted.
    Notify,
    /// An SLA timer started, ran out or stopped.
    Timer,
    /// A rolling step's health gate, or a rollback.
    Gate,
    /// A refusal.
    Refusal,
    /// An interactive shell opened or closed.
    Shell,
    /// The audit log's own records (repairs).
    Audit,
    /// An action this version does not know.
    Other,
}

/// A timeline: the events and the incident's durations (see `docs/audit.md`, "Timeline").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timeline {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// The run asked for (`RUN_ID`), else null.
    pub run: Option<String>,
    /// The `--since` time asked for, else null.
    pub since: Option<String>,
    /// When the incident started: the earliest of an alert raised (an `alert.ack`'s
    /// `failing since`), the first `alert.*` record and the first `runbook.start`; without any,
    /// the first record.
    pub start: Option<String>,
    /// When it was acknowledged: the first `alert.ack` or `timer.stop` (an SLA countdown
    /// stopped because its response step was done) at or after `start`.
    pub acknowledged: Option<String>,
    /// When it was fixed: the last `runbook.finish` whose result is `success`.
    pub resolved: Option<String>,
    /// The last event's time.
    pub end: Option<String>,
    /// `acknowledged` − `start`, in milliseconds.
    pub time_to_ack_ms: Option<i64>,
    /// `resolved` − `start`, in milliseconds.
    pub time_to_fix_ms: Option<i64>,
    /// `end` − `start`, in milliseconds.
    pub duration_ms: Option<i64>,
    /// Every run with a record in the timeline, in order of first appearance.
    pub runs: Vec<RunSummary>,
    /// The events, in log order.
    pub events: Vec<Event>,
}

/// Builds the timeline of `records` (in log order, as [`select`] returns them). `run` and
/// `since` only say what was asked for.
pub fn build(
    records: &[&AuditRecord],
    run: Option<&str>,
    since: Option<OffsetDateTime>,
) -> Timeline {
    // `before` records whose `after` is in the selection: the after shows both.
    let paired: BTreeSet<u64> = records.iter().filter_map(|r| r.pair).collect();
    let by_seq: BTreeMap<u64, &AuditRecord> = records.iter().map(|r| (r.seq, *r)).collect();

    // The console records, with an acknowledgement, since when the alert had been failing:
    // that is when the alert was raised (an event of its own here).
    let raised: Vec<(&AuditRecord, String)> = records
        .iter()
        .filter(|r| action_of(r) == Some(AuditAction::AlertAck))
        .filter_map(|r| {
            let since = r.reason.as_deref()?.strip_prefix(FAILING_SINCE)?.trim();
            parse_time(since).map(|_| (*r, since.to_owned()))
        })
        .collect();
    let first_opening = records.iter().find(|r| {
        r.action.starts_with("alert.") || action_of(r) == Some(AuditAction::RunbookStart)
    });
    let start_time: Option<String> = raised
        .iter()
        .map(|(_, t)| t.clone())
        .chain(first_opening.map(|r| r.time.clone()))
        .filter(|t| parse_time(t).is_some())
        .min_by_key(|t| parse_time(t))
        .or_else(|| records.first().map(|r| r.time.clone()));
    let start = start_time.as_deref().and_then(parse_time);
    let after_start = |r: &&&AuditRecord| match (start, parse_time(&r.time)) {
        (Some(s), Some(t)) => t >= s,
        _ => false,
    };
    let ack = records
        .iter()
        .filter(after_start)
        .find(|r| {
            matches!(
                action_of(r),
                Some(AuditAction::AlertAck | AuditAction::TimerStop)
            )
        })
        .map(|r| r.time.clone());
    let resolved = records
        .iter()
        .rev()
        .find(|r| {
            action_of(r) == Some(AuditAction::RunbookFinish)
                && r.result.as_deref() == Some("success")
        })
        .map(|r| r.time.clone());
    let end = records.last().map(|r| r.time.clone());
    let since_start = |t: &Option<String>| {
        let t = parse_time(t.as_deref()?)?;
        Some(millis(t - start?))
    };

    let mut runs: Vec<RunSummary> = Vec::new();
    for r in records {
        let Some(id) = &r.run else { continue };
        // Ad-hoc commands (`exec-…`) carry a run id of their own but are no runbook run.
        if r.runbook.is_none() {
            continue;
        }
        let i = match runs.iter().position(|s| &s.run == id) {
            Some(i) => i,
            None => {
                runs.push(RunSummary {
                    run: id.clone(),
                    runbook: r.runbook.clone(),
                    targets: None,
                    started: None,
                    finished: None,
                    result: None,
                });
                runs.len() - 1
            }
        };
        let s = &mut runs[i];
        match action_of(r) {
            Some(AuditAction::RunbookStart | AuditAction::RunbookResume) => {
                if s.started.is_none() {
                    s.started = Some(r.time.clone());
                }
                if s.targets.is_none() {
                    s.targets = r.target.clone();
                }
            }
            Some(AuditAction::RunbookFinish) => {
                s.finished = Some(r.time.clone());
                s.result = r.result.clone();
            }
            _ => {}
        }
    }

    let mut events: Vec<Event> = raised
        .iter()
        .map(|(r, since)| Event {
            seq: r.seq,
            time: since.clone(),
            elapsed_ms: since_start(&Some(since.clone())),
            actor: r.operator.clone(),
            role: r.role.clone(),
            kind: Kind::Alert,
            action: r.action.clone(),
            run: r.run.clone(),
            runbook: r.runbook.clone(),
            step: r.step.clone(),
            target: r.target.clone(),
            event: format!(
                "alert raised: {} on {}",
                r.command.as_deref().unwrap_or_default(),
                r.target.as_deref().unwrap_or_default()
            ),
            details: format!(
                "failing since then, as its acknowledgement (seq {}) records; {}",
                r.seq,
                r.note.as_deref().unwrap_or_default()
            )
            .trim_end_matches("; ")
            .to_owned(),
        })
        .collect();
    events.extend(
        records
            .iter()
            .filter(|r| {
                // A step's, command's or notification's `before` shows through its `after`; alone
                // (never reported) it stands itself. A run's start is an event of its own.
                !(r.phase == Some(Phase::Before)
                    && paired.contains(&r.seq)
                    && !matches!(
                        action_of(r),
                        Some(AuditAction::RunbookStart | AuditAction::RunbookResume)
                    ))
            })
            .filter_map(|r| {
                let (kind, event, details) = describe(r, r.pair.and_then(|p| by_seq.get(&p)))?;
                Some(Event {
                    seq: r.seq,
                    time: r.time.clone(),
                    elapsed_ms: since_start(&Some(r.time.clone())),
                    actor: r.operator.clone(),
                    role: r.role.clone(),
                    kind,
                    action: r.action.clone(),
                    run: r.run.clone(),
                    runbook: r.runbook.clone(),
                    step: r.step.clone(),
                    target: r.target.clone(),
                    event,
                    details,
                })
            }),
    );
    // In time order; the log's own order is kept among equal times (a stable sort).
    events.sort_by_key(|e| parse_time(&e.time));

    Timeline {
        schema: SCHEMA,
        run: run.map(str::to_owned),
        since: since.map(format_time),
        start: start_time,
        time_to_ack_ms: since_start(&ack),
        time_to_fix_ms: since_start(&resolved),
        duration_ms: since_start(&end),
        acknowledged: ack,
        resolved,
        end,
        runs,
        events,
    }
}

/// What one record says as an event: its kind, one line, and the details. `None` leaves it
/// out: a `step.run` whose result is in the timeline (the result carries it).
fn describe(r: &AuditRecord, before: Option<&&AuditRecord>) -> Option<(Kind, String, String)> {
    let text = |o: &Option<String>| o.clone().unwrap_or_default();
    let step = text(&r.step);
    let target = text(&r.target);
    let result = text(&r.result);
    let reason = text(&r.reason);
    let note = text(&r.note);
    let took = |d: Option<u64>| d.map(|ms| format!("took {}", human_ms(ms as i64)));
    let join = |parts: &[Option<String>]| {
        parts
            .iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
    };
    let Some(action) = action_of(r) else {
        let event = if target.is_empty() {
            r.action.clone()
        } else {
            format!("{} on {target}", r.action)
        };
        let kind = if r.action.starts_with("alert.") {
            Kind::Alert
        } else {
            Kind::Other
        };
        let details = join(&[
            r.command.clone(),
            r.result.clone(),
            r.reason.clone(),
            r.note.clone(),
        ]);
        return Some((kind, event, details));
    };
    use AuditAction as A;
    let out = match action {
        A::RunbookStart => (
            Kind::Run,
            format!("run {} started", text(&r.runbook)),
            join(&[
                r.target.as_ref().map(|t| format!("on {t}")),
                r.reason.as_ref().map(|i| format!("inputs: {i}")),
            ]),
        ),
        A::RunbookResume => (
            Kind::Run,
            format!("run {} resumed at {step}", text(&r.runbook)),
            reason.clone(),
        ),
        A::RunbookFinish => (
            Kind::Run,
            format!("run {} finished: {result}", text(&r.runbook)),
            reason,
        ),
        A::Interrupt => (
            Kind::Run,
            "run suspended".to_owned(),
            join(&[r.reason.clone(), r.result.clone()]),
        ),
        A::Abort => (Kind::Run, "run aborted".to_owned(), reason),
        A::StepRun => {
            if r.phase == Some(Phase::Before) {
                (
                    Kind::Step,
                    format!("step {step} started, no result recorded"),
                    String::new(),
                )
            } else {
                (Kind::Step, format!("step {step} entered"), String::new())
            }
        }
        A::StepResult => {
            let took = before
                .and_then(|b| Some(millis(parse_time(&r.time)? - parse_time(&b.time)?)))
                .map(|ms| format!("took {}", human_ms(ms)));
            (
                Kind::Step,
                format!("step {step}: {result}"),
                join(&[r.reason.clone(), took]),
            )
        }
        A::Skip => (Kind::Step, format!("step {step} skipped"), reason),
        A::Input => (Kind::Input, format!("input {target}"), result),
        A::Confirm => (
            Kind::Confirm,
            format!("confirmed {step}"),
            join(&[
                r.result.clone(),
                r.target.as_ref().map(|t| format!("on {t}")),
            ]),
        ),
        A::ConfirmMismatch => (
            Kind::Confirm,
            format!("confirmation of {step} mistyped"),
            join(&[r.result.clone(), r.reason.clone()]),
        ),
        A::Decision => (
            Kind::Decision,
            format!("decision at {step}: {result}"),
            reason,
        ),
        // The engine writes the operator's text in `reason`; `note` is read too (the field the
        // format names for it).
        A::Manual => (
            Kind::Checklist,
            format!("checked: {step}"),
            join(&[r.note.clone(), r.reason.clone()]),
        ),
        A::Note => (
            Kind::Note,
            format!("note at {step}"),
            join(&[r.note.clone(), r.reason.clone()]),
        ),
        A::Exec => {
            if r.phase == Some(Phase::Before) {
                (
                    Kind::Exec,
                    format!("command on {target}: no result recorded"),
                    text(&r.command),
                )
            } else {
                (Kind::Exec, format!("command on {target}"), text(&r.command))
            }
        }
        A::ExecResult => {
            let command = r
                .command
                .clone()
                .or_else(|| before.and_then(|b| b.command.clone()));
            (
                Kind::Exec,
                format!("command on {target}: {result}"),
                join(&[command, took(r.duration_ms), r.reason.clone()]),
            )
        }
        A::Notify => (
            Kind::Notify,
            format!("notification at {step}: no result recorded"),
            text(&r.command),
        ),
        A::NotifyResult => {
            let url = r
                .command
                .clone()
                .or_else(|| before.and_then(|b| b.command.clone()));
            (
                Kind::Notify,
                format!("notification at {step}: {result}"),
                join(&[url, r.reason.clone()]),
            )
        }
        A::TimerStart => (
            Kind::Timer,
            format!("timer {step} started: {result}"),
            reason,
        ),
        A::TimerExpired => (
            Kind::Timer,
            format!("timer {step} ran out: overdue"),
            reason,
        ),
        A::TimerStop => (
            Kind::Timer,
            format!("timer {step} stopped: {result}"),
            reason,
        ),
        A::GatePassed => (
            Kind::Gate,
            format!("health gate passed on {target}"),
            join(&[r.result.clone(), r.reason.clone()]),
        ),
        A::GateFailed => (
            Kind::Gate,
            format!("health gate failed on {target}"),
            join(&[r.result.clone(), r.reason.clone()]),
        ),
        A::Rollback => (Kind::Gate, format!("rollback on {target}"), reason),
        A::InventoryEdit => (
            Kind::Exec,
            format!("inventory {result} for {target}"),
            join(&[r.command.clone(), r.reason.clone()]),
        ),
        A::Denied => (
            Kind::Refusal,
            if step.is_empty() {
                "refused".to_owned()
            } else {
                format!("refused at {step}")
            },
            join(&[r.reason.clone(), r.command.clone()]),
        ),
        A::AlertAck => (
            Kind::Alert,
            format!(
                "alert acknowledged: {} on {target}{}",
                text(&r.command),
                r.result
                    .as_ref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            ),
            note,
        ),
        A::AlertSilence => (
            Kind::Alert,
            format!(
                "Alertmanager alert silenced on {target}: {}",
                text(&r.command)
            ),
            join(&[
                r.reason.as_ref().map(|d| format!("for {d}")),
                r.result.clone(),
            ]),
        ),
        A::AuditRepair => (Kind::Audit, "audit log repaired".to_owned(), reason),
        A::ShellStart => (
            Kind::Shell,
            format!("shell opened on {target}"),
            join(&[r.command.clone(), r.note.clone()]),
        ),
        A::ShellEnd => (
            Kind::Shell,
            format!("shell closed on {target}: {result}"),
            join(&[took(r.duration_ms), r.note.clone()]),
        ),
    };
    Some(out)
}

/// The record's action, when this version knows it.
fn action_of(r: &AuditRecord) -> Option<AuditAction> {
    AuditAction::ALL
        .iter()
        .copied()
        .find(|a| a.as_str() == r.action)
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

fn format_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn millis(d: time::Duration) -> i64 {
    i64::try_from(d.whole_milliseconds()).unwrap_or(i64::MAX)
}

/// A duration for people: `850 ms`, `42s`, `3m 05s`, `1h 02m 03s`, `2d 01h 00m`.
pub fn human_ms(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{sign}{ms} ms");
    }
    let s = ms / 1000;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{sign}{d}d {h:02}h {m:02}m")
    } else if h > 0 {
        format!("{sign}{h}h {m:02}m {s:02}s")
    } else if m > 0 {
        format!("{sign}{m}m {s:02}s")
    } else {
        format!("{sign}{s}s")
    }
}

/// Elapsed time in the table: `+H:MM:SS` (hours unbounded), `-` before the start, `?` unknown.
fn elapsed(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "?".to_owned();
    };
    let sign = if ms < 0 { '-' } else { '+' };
    let s = ms.unsigned_abs() / 1000;
    format!("{sign}{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Text made safe for one cell of a Markdown (GFM) table: `|` and `\` escaped, line breaks as
/// `<br>`, `&`, `<`, `>` as entities (so a command's redirection is not read as HTML).
pub fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("<br>");
            }
            '\n' => out.push_str("<br>"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.trim().to_owned()
}

/// The timeline as Markdown: a heading, the durations, the runs, then one table of the events
/// (`| time | elapsed | actor | event | details |`).
pub fn to_markdown(t: &Timeline) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Incident timeline\n");
    let what = match (&t.run, &t.since) {
        (Some(run), _) => format!("run `{}`", cell(run)),
        (None, Some(since)) => format!("everything recorded since {since}"),
        (None, None) => "the selected records".to_owned(),
    };
    let _ = writeln!(s, "- Selection: {what}");
    let at = |time: &Option<String>, ms: Option<i64>| match (time, ms) {
        (Some(time), Some(ms)) => format!("{} (at {time})", human_ms(ms)),
        (Some(time), None) => format!("at {time}"),
        _ => "not recorded".to_owned(),
    };
    let _ = writeln!(
        s,
        "- Start: {}",
        t.start.as_deref().unwrap_or("not recorded")
    );
    let _ = writeln!(
        s,
        "- Time to acknowledge: {}",
        at(&t.acknowledged, t.time_to_ack_ms)
    );
    let _ = writeln!(s, "- Time to fix: {}", at(&t.resolved, t.time_to_fix_ms));
    let _ = writeln!(s, "- Duration: {}", at(&t.end, t.duration_ms));
    for r in &t.runs {
        let _ = writeln!(
            s,
            "- Run `{}`: {} on {}, started {}, {}",
            cell(&r.run),
            cell(r.runbook.as_deref().unwrap_or("?")),
            cell(r.targets.as_deref().unwrap_or("?")),
            r.started.as_deref().unwrap_or("before the selection"),
            match (&r.finished, &r.result) {
                (Some(f), Some(res)) => format!("finished {f}: {}", cell(res)),
                _ => "not finished".to_owned(),
            }
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "| time | elapsed | actor | event | details |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    for e in &t.events {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            cell(&e.time),
            elapsed(e.elapsed_ms),
            cell(&format!("{} ({})", e.actor, e.role)),
            cell(&e.event),
            cell(&e.details),
        );
    }
    s
}

#[cfg(test)]
#[path = "timeline_tests.rs"]
mod tests;

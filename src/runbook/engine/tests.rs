//! Transition tests of the engine: each case is a small runbook, a script of events, and the
//! effects expected, written one per line in a compact form (see [`line`]).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::exec::host_result;
use super::*;
use crate::runbook::expect::Verdict;
use crate::runbook::hosts::ServiceOps;
use crate::runbook::{AccessRole, parse};

pub(crate) const T0: u64 = 1_790_000_000;

pub(crate) fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + secs)
}

fn rel(t: SystemTime) -> u64 {
    t.duration_since(at(0)).map_or(0, |d| d.as_secs())
}

/// One effect in a line, the way the cases spell them.
pub(crate) fn line(e: &Effect) -> String {
    match e {
        Effect::Audit(a) => {
            let mut s = format!("audit {}", a.action.as_str());
            for (k, v) in [
                ("step", &a.step),
                ("target", &a.target),
                ("command", &a.command),
                ("result", &a.result),
                ("reason", &a.reason),
            ] {
                if let Some(v) = v {
                    s.push_str(&format!(" {k}={v}"));
                }
            }
            s
        }
        Effect::Exec {
            id, host, display, ..
        } => format!("exec#{} {host} {display}", id.0),
        Effect::Reconnect {
            id, host, display, ..
        } => format!("reconnect#{} {host} {display}", id.0),
        Effect::InventoryPort { host, port, .. } => format!("inventory-port {host} {port}"),
        Effect::StepStarted { step, .. } => format!("start {step}"),
        Effect::StepFinished {
            step,
            status,
            summary,
        } => format!("done {step} {}: {summary}", status.as_str()),
        Effect::AskInput { name, error, .. } => match error {
            Some(e) => format!("ask-input {name} error={e}"),
            None => format!("ask-input {name}"),
        },
        Effect::AskConfirm {
            step,
            expected,
            error,
            ..
        } => match error {
            Some(e) => format!("ask-confirm {step} type={expected} error={e}"),
            None => format!("ask-confirm {step} type={expected}"),
        },
        Effect::AskChoice {
            step,
            options,
            preselected,
            error,
            ..
        } => {
            let mut s = format!("ask-choice {step} [{}]", options.join("|"));
            if let Some(p) = preselected {
                s.push_str(&format!(" pre={p}"));
            }
            if let Some(e) = error {
                s.push_str(&format!(" error={e}"));
            }
            s
        }
        Effect::AskManual { step, item, .. } => format!("ask-manual {step} {item}"),
        Effect::AskNote { step, prompt } => format!("ask-note {step} {prompt}"),
        Effect::AskUnknown { step, error, .. } => match error {
            Some(e) => format!("ask-unknown {step} error={e}"),
            None => format!("ask-unknown {step}"),
        },
        Effect::Wait { step, until } => format!("wait {step} +{}", rel(*until)),
        Effect::ProbeHealth { step, hosts } => format!("probe {step} {}", hosts.join(",")),
        Effect::StartTimer { step, deadline, .. } => format!("timer {step} +{}", rel(*deadline)),
        Effect::StopTimer { step, met } => format!("stop-timer {step} met={met}"),
        Effect::TimerExpired { step } => format!("timer-expired {step}"),
        Effect::Notify {
            step,
            display_url,
            body,
            ..
        } => format!("notify {step} {display_url} {body}"),
        Effect::Suspended { step, reason } => {
            format!("suspended {} {reason}", step.as_deref().unwrap_or("-"))
        }
        Effect::Refused { reason } => format!("refused: {reason}"),
        Effect::Ignored { reason } => format!("ignored: {reason}"),
        Effect::Finished { outcome } => {
            format!("finished {}: {}", outcome.kind.as_str(), outcome.message)
        }
    }
}

/// The lines worth reading in a case: step bookkeeping (`start`, `step.run`, `step.result`,
/// `runbook.finish`) is left out because `done` and `finished` say the same.
pub(crate) fn brief(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter(|e| match e {
            Effect::StepStarted { .. } => false,
            Effect::Audit(a) => !matches!(
                a.action,
                AuditAction::StepRun | AuditAction::StepResult | AuditAction::RunbookFinish
            ),
            _ => true,
        })
        .map(line)
        .collect()
}

pub(crate) fn host(name: &str, group: Option<&str>, consensus: bool) -> HostInfo {
    let mut services = BTreeMap::new();
    services.insert(
        "geth".to_owned(),
        ServiceOps {
            start: Some("systemctl start geth".into()),
            stop: Some("systemctl stop geth".into()),
            restart: Some("systemctl restart geth".into()),
            version: Some("geth version".into()),
            upgrade: Some("/opt/switch {{version}}".into()),
            rollback: Some("/opt/switch --back".into()),
        },
    );
    HostInfo {
        name: name.into(),
        address: format!(
            "10.0.0.{}",
            name.trim_start_matches(|c: char| !c.is_ascii_digit())
        ),
        consensus_group: group.map(str::to_owned),
        consensus,
        chain: true,
        services,
    }
}

pub(crate) fn healthy(height: Option<u64>) -> HealthFact {
    HealthFact {
        reachable: true,
        healthy: true,
        services: BTreeMap::from([("geth".to_owned(), ServiceState::Running)]),
        height,
    }
}

pub(crate) fn session(role: AccessRole) -> Session {
    Session {
        operator: "alice".into(),
        role,
        readonly: false,
        interactive: true,
    }
}

pub(crate) fn ctx(fleet: Vec<HostInfo>, targets: &[&str]) -> RunContext {
    let health = fleet
        .iter()
        .map(|h| (h.name.clone(), healthy(Some(100))))
        .collect();
    RunContext {
        fleet,
        targets: targets.iter().map(|s| (*s).to_owned()).collect(),
        inputs: BTreeMap::new(),
        health,
        session: session(AccessRole::Operator),
        now: at(0),
        height_lag: 5,
    }
}

pub(crate) fn group4() -> Vec<HostInfo> {
    (1..=4)
        .map(|i| host(&format!("n{i}"), Some("g0"), true))
        .collect()
}

pub(crate) fn book(body: &str) -> Runbook {
    let text = format!("name = \"t\"\ntitle = \"Test\"\n{body}");
    parse(&text, "t.toml").unwrap_or_else(|e| {
        panic!(
            "test runbook does not lint:\n{}",
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

pub(crate) fn ok(stdout: &str) -> ExecResult {
    ExecResult {
        exit: Some(0),
        stdout: stdout.to_owned(),
        ..ExecResult::default()
    }
}

pub(crate) fn exit(code: i32) -> ExecResult {
    ExecResult {
        exit: Some(code),
        ..ExecResult::default()
    }
}

fn done(id: u64, result: ExecResult) -> Event {
    Event::ExecFinished {
        id: ExecId(id),
        result,
    }
}

fn tick(secs: u64) -> Event {
    Event::Ticked { now: at(secs) }
}

fn facts(list: &[(&str, HealthFact)]) -> Event {
    Event::HostHealth {
        facts: list
            .iter()
            .map(|(h, f)| ((*h).to_owned(), f.clone()))
            .collect(),
        now: UNIX_EPOCH,
    }
}

/// Runs a script: the start effects, then one list per event.
fn script(runbook: Runbook, ctx: RunContext, events: Vec<Event>) -> (Run, Vec<Vec<String>>) {
    let (mut run, effects) = Run::start(runbook, ctx);
    let mut out = vec![brief(&effects)];
    for e in events {
        out.push(brief(&run.handle(e)));
    }
    (run, out)
}

fn assert_script(got: &[Vec<String>], want: &[&[&str]]) {
    let got_flat: Vec<String> = got
        .iter()
        .enumerate()
        .flat_map(|(i, lines)| std::iter::once(format!("-- {i}")).chain(lines.iter().cloned()))
        .collect();
    let want_flat: Vec<String> = want
        .iter()
        .enumerate()
        .flat_map(|(i, lines)| {
            std::iter::once(format!("-- {i}")).chain(lines.iter().map(|s| (*s).to_owned()))
        })
        .collect();
    assert_eq!(
        got_flat.join("\n"),
        want_flat.join("\n"),
        "\n(left: actual, right: expected)"
    );
}

const CHECK_THEN_ACTION: &str = r#"
[targets]
hosts = "*"

[[steps]]
id = "is-up"
kind = "check"
command = "systemctl is-active geth"
expect = { regex = "^active" }

[[steps]]
id = "restart"
kind = "action"
command = "{{service.geth.restart}}"
"#;

#[test]
fn a_check_then_an_action_runs_in_order_and_succeeds() {
    let (run, got) = script(
        book(CHECK_THEN_ACTION),
        ctx(group4(), &["n1", "n2"]),
        vec![
            done(1, ok("active\n")),
            done(2, ok("active\n")),
            done(3, ok("")),
            done(4, ok("")),
        ],
    );
    assert_script(
        &got,
        &[
            &[
                "audit runbook.start target=n1,n2 reason=inputs: none",
                "audit exec step=is-up target=n1 command=systemctl is-active geth",
                "audit exec step=is-up target=n2 command=systemctl is-active geth",
                "exec#1 n1 systemctl is-active geth",
                "exec#2 n2 systemctl is-active geth",
            ],
            &[
                "audit exec.result step=is-up target=n1 command=systemctl is-active geth result=exit 0",
            ],
            &[
                "audit exec.result step=is-up target=n2 command=systemctl is-active geth result=exit 0",
                "done is-up passed: passed on 2 hosts (exit 0)",
                "audit exec step=restart target=n1 command=systemctl restart geth",
                "audit exec step=restart target=n2 command=systemctl restart geth",
                "exec#3 n1 systemctl restart geth",
                "exec#4 n2 systemctl restart geth",
            ],
            &[
                "audit exec.result step=restart target=n1 command=systemctl restart geth result=exit 0",
            ],
            &[
                "audit exec.result step=restart target=n2 command=systemctl restart geth result=exit 0",
                "done restart passed: passed on 2 hosts (exit 0)",
                "finished success: all steps done",
            ],
        ],
    );
    assert_eq!(run.outcome().map(Outcome::exit_code), Some(0));
    assert_eq!(run.records().len(), 2);
}

#[test]
fn a_failed_check_stops_the_run_by_default() {
    let (run, got) = script(
        book(CHECK_THEN_ACTION),
        ctx(group4(), &["n1"]),
        vec![done(1, ok("inactive\n"))],
    );
    assert_eq!(
        got[1],
        [
            "audit exec.result step=is-up target=n1 command=systemctl is-active geth result=exit 0",
            "done is-up failed: failed on 1 of 1 host: n1: output does not match /^active/",
            "finished failed: step `is-up` failed: failed on 1 of 1 host: n1: output does not match /^active/",
        ]
    );
    assert_eq!(run.outcome().map(Outcome::exit_code), Some(1));
}

const DANGEROUS: &str = r#"
[targets]
hosts = "*"

[[steps]]
id = "wipe"
title = "Remove the chain data"
kind = "action"
dangerous = true
command = "rm -rf /data/ethereum/geth/chaindata"
"#;

#[test]
fn a_dangerous_action_runs_only_after_the_typed_host_name_is_audited() {
    let (_, got) = script(
        book(DANGEROUS),
        ctx(group4(), &["n1"]),
        vec![
            Event::Confirmed { typed: "n2".into() },
            Event::Confirmed {
                typed: " n1 ".into(),
            },
            done(1, ok("")),
        ],
    );
    assert_script(
        &got,
        &[
            &[
                "audit runbook.start target=n1 reason=inputs: none",
                "ask-confirm wipe type=n1",
            ],
            &[
                "audit confirm.mismatch step=wipe reason=typed \"n2\", expected \"n1\"",
                "ask-confirm wipe type=n1 error=typed \"n2\"; type exactly \"n1\" to go on",
            ],
            &[
                "audit confirm step=wipe result=confirmed reason=typed \"n1\"",
                "audit exec step=wipe target=n1 command=rm -rf /data/ethereum/geth/chaindata",
                "exec#1 n1 rm -rf /data/ethereum/geth/chaindata",
            ],
            &[
                "audit exec.result step=wipe target=n1 command=rm -rf /data/ethereum/geth/chaindata result=exit 0",
                "done wipe passed: exit 0",
                "finished success: all steps done",
            ],
        ],
    );
}

#[test]
fn many_hosts_are_confirmed_by_typing_their_count() {
    let (_, got) = script(
        book(DANGEROUS),
        ctx(group4(), &["n1", "n2", "n3"]),
        vec![Event::Confirmed { typed: "3".into() }],
    );
    assert_eq!(
        got[0].last().map(String::as_str),
        Some("ask-confirm wipe type=3")
    );
    assert_eq!(
        got[1][0],
        "audit confirm step=wipe result=confirmed reason=typed \"3\""
    );
    assert_eq!(got[1].iter().filter(|l| l.starts_with("exec#")).count(), 3);
}

#[test]
fn without_a_terminal_a_reachable_dangerous_step_is_refused_before_anything_runs() {
    let body = format!(
        "{CHECK_THEN_ACTION}\n[[steps]]\nid = \"wipe\"\nkind = \"action\"\ndangerous = true\n\
         command = \"rm -rf /x\"\n"
    );
    let mut c = ctx(group4(), &["n1"]);
    c.session.interactive = false;
    let (run, got) = script(book(&body), c, vec![]);
    assert_eq!(
        got[0],
        [
            "audit denied reason=step `wipe` is dangerous and needs a typed confirmation, but \
             there is no terminal to type it: run it from a terminal (nothing was run)",
            "refused: step `wipe` is dangerous and needs a typed confirmation, but there is no \
             terminal to type it: run it from a terminal (nothing was run)",
            "finished refused: step `wipe` is dangerous and needs a typed confirmation, but \
             there is no terminal to type it: run it from a terminal (nothing was run)",
        ]
    );
    assert_eq!(run.outcome().map(Outcome::exit_code), Some(2));
}

#[test]
fn without_a_terminal_a_safe_runbook_runs() {
    let mut c = ctx(group4(), &["n1"]);
    c.session.interactive = false;
    let (run, _) = script(
        book(CHECK_THEN_ACTION),
        c,
        vec![done(1, ok("active")), done(2, ok(""))],
    );
    assert_eq!(run.outcome().map(|o| o.kind), Some(OutcomeKind::Success));
}

#[test]
fn read_only_roles_and_readonly_mode_are_refused_at_the_first_write() {
    for (role, readonly, why) in [
        (
            AccessRole::Developer,
            false,
            "alice is developer (read-only)",
        ),
        (AccessRole::Auditor, false, "alice is auditor (read-only)"),
        (AccessRole::Admin, true, "the console is read-only"),
    ] {
        let mut c = ctx(group4(), &["n1"]);
        c.session.role = role;
        c.session.readonly = readonly;
        let (run, got) = script(book(CHECK_THEN_ACTION), c, vec![done(1, ok("active"))]);
        let reason = format!("step `restart` (action) changes hosts: {why}");
        assert_eq!(
            got[1][1..],
            [
                "done is-up passed: exit 0".to_owned(),
                format!("audit denied step=restart reason={reason}"),
                format!("refused: {reason}"),
                format!("finished refused: {reason}"),
            ],
            "role {role:?}"
        );
        assert!(!got.concat().iter().any(|l| l.contains("exec#2")));
        assert_eq!(run.outcome().map(Outcome::exit_code), Some(1));
    }
}

#[test]
fn a_runbook_requiring_admin_refuses_an_operator_at_start() {
    let rb = book("requires = \"admin\"\n[[steps]]\nid = \"n\"\nkind = \"note\"\n");
    let (run, got) = script(rb, ctx(group4(), &[]), vec![]);
    assert_eq!(
        got[0][0],
        "audit denied reason=runbook `t` requires the admin role; alice is operator"
    );
    assert_eq!(run.outcome().map(Outcome::exit_code), Some(2));
}

const TREE: &str = r#"
[targets]
hosts = "*"

[[steps]]
id = "running"
kind = "check"
probe = "service"
service = "geth"
on_fail = "next"

[[steps]]
id = "branch"
kind = "choice"
question = "Is geth running?"
from = "running"
options = [
  { label = "yes", goto = "fine", when = "passed" },
  { label = "no", goto = "start", when = "failed" },
]

[[steps]]
id = "start"
kind = "action"
command = "{{service.geth.start}}"
next = "fine"

[[steps]]
id = "fine"
kind = "end"
outcome = "success"
text = "verified"
"#;

#[test]
fn a_choice_is_preselected_from_a_check_and_overriding_needs_a_reason() {
    let mut stopped = healthy(None);
    stopped
        .services
        .insert("geth".into(), ServiceState::Stopped);
    let (run, got) = script(
        book(TREE),
        ctx(group4(), &["n1"]),
        vec![
            facts(&[("n1", stopped)]),
            Event::Chosen {
                option: "yes".into(),
                reason: None,
            },
            Event::Chosen {
                option: "yes".into(),
                reason: Some("it was restarted by hand".into()),
            },
        ],
    );
    assert_script(
        &got,
        &[
            &[
                "audit runbook.start target=n1 reason=inputs: none",
                "probe running n1",
            ],
            &[
                "done running failed: failed on 1 of 1 host: n1: geth is stopped",
                "ask-choice branch [yes|no] pre=no",
            ],
            &[
                "ask-choice branch [yes|no] pre=no error=\"no\" was pre-selected from the check: give a reason to choose \"yes\"",
            ],
            &[
                "audit decision step=branch result=yes reason=overrode the pre-selection: it was restarted by hand",
                "done branch passed: chose \"yes\"",
                "finished success: verified",
            ],
        ],
    );
    let path: Vec<&str> = run.records().iter().map(|r| r.step.as_str()).collect();
    assert_eq!(path, ["running", "branch", "fine"]);
    assert_eq!(run.records()[1].preselected.as_deref(), Some("no"));
}

#[test]
fn without_a_terminal_a_preselected_choice_is_taken() {
    let mut c = ctx(group4(), &["n1"]);
    c.session.interactive = false;
    let (run, got) = script(book(TREE), c, vec![facts(&[("n1", healthy(None))])]);
    assert_eq!(
        got[1],
        [
            "done running passed: geth is running",
            "audit decision step=branch result=yes reason=pre-selected, no terminal",
            "done branch passed: chose \"yes\"",
            "finished success: verified",
        ]
    );
    assert_eq!(run.outcome().map(|o| o.kind), Some(OutcomeKind::Success));
}

#[test]
fn waits_and_timers_follow_ticks() {
    let rb = book(
        r#"
[[steps]]
id = "sla"
kind = "timer"
duration = "15m"
until = "ack"

[[steps]]
id = "settle"
kind = "wait"
duration = "30s"

[[steps]]
id = "ack"
kind = "manual"
title = "Acknowledge the page"
"#,
    );
    let (_, got) = script(
        rb,
        ctx(group4(), &[]),
        vec![
            tick(10),
            tick(30),
            tick(901),
            Event::ManualDone { note: None },
        ],
    );
    assert_script(
        &got,
        &[
            &[
                "audit runbook.start target= reason=inputs: none",
                "audit timer.start step=sla result=15m",
                "timer sla +900",
                "done sla passed: countdown started",
                "wait settle +30",
            ],
            &[],
            &[
                "done settle passed: waited until 2026-09-21T14:13:50Z",
                "ask-manual ack Acknowledge the page",
            ],
            &["audit timer.expired step=sla", "timer-expired sla"],
            &[
                "audit manual step=ack result=done",
                "done ack passed: done",
                "audit timer.stop step=sla result=missed",
                "stop-timer sla met=false",
                "finished success: all steps done",
            ],
        ],
    );
}

#[test]
fn a_wait_until_retries_at_its_interval_and_gives_up_at_its_timeout() {
    let rb = book(
        r#"
[targets]
hosts = "*"

[[steps]]
id = "synced"
kind = "wait"
command = "sync-status"
expect = { regex = "^done" }
interval = "10s"
timeout = "25s"
on_fail = "late"

[[steps]]
id = "ok"
kind = "end"

[[steps]]
id = "late"
kind = "end"
outcome = "escalated"
text = "still syncing"
"#,
    );
    let (run, got) = script(
        rb,
        ctx(group4(), &["n1"]),
        vec![
            done(1, ok("busy")),
            tick(10),
            done(2, ok("busy")),
            tick(20),
            tick(25),
            done(3, ok("busy")),
        ],
    );
    let flat = got.concat();
    let waits: Vec<&String> = flat.iter().filter(|l| l.starts_with("wait")).collect();
    assert_eq!(waits, ["wait synced +10", "wait synced +20"]);
    assert!(flat.contains(&"exec#3 n1 sync-status".to_owned()));
    assert!(
        flat.iter()
            .any(|l| l.starts_with("done synced failed: still failing after 25s (3 tries)")),
        "{flat:#?}"
    );
    assert_eq!(run.outcome().map(|o| o.kind), Some(OutcomeKind::Escalated));
    assert_eq!(run.outcome().map(Outcome::exit_code), Some(1));
}

#[test]
fn secrets_are_asked_masked_in_everything_shown_and_real_in_what_runs() {
    let rb = book(
        r#"
[[inputs]]
name = "token"
secret = true

[[inputs]]
name = "level"
type = "choice"
choices = ["P0", "P1"]

[targets]
hosts = "*"

[[steps]]
id = "page"
kind = "notify"
url = "https://hooks.example/{{token}}"
body = { text = "{{level}} on {{hosts}}", auth = "{{token}}" }

[[steps]]
id = "use"
kind = "check"
command = "curl -H {{token}} http://127.0.0.1:8545"
"#,
    );
    let mut c = ctx(group4(), &["n1"]);
    c.inputs.insert("level".into(), "P0".into());
    let (mut run, effects) = Run::start(rb, c);
    assert_eq!(
        brief(&effects).last().map(String::as_str),
        Some("ask-input token")
    );
    let e = run.handle(Event::InputGiven {
        name: "token".into(),
        value: "s3cr3t-t0ken".into(),
    });
    assert_eq!(
        brief(&e),
        [
            "audit input target=token result=***",
            "audit notify step=page target=https://hooks.example/*** command={\"auth\":\"***\",\"text\":\"P0 on n1\"}",
            "notify page https://hooks.example/*** {\"auth\":\"s3cr3t-t0ken\",\"text\":\"P0 on n1\"}",
        ]
    );
    let Some(Effect::Notify { url, body, .. }) =
        e.iter().find(|e| matches!(e, Effect::Notify { .. }))
    else {
        panic!("no notify")
    };
    assert_eq!(url, "https://hooks.example/s3cr3t-t0ken");
    assert_eq!(body["auth"], "s3cr3t-t0ken");
    let e = run.handle(Event::NotifyFinished {
        step: "page".into(),
        result: Ok(200),
    });
    let exec = e.iter().find_map(|e| match e {
        Effect::Exec {
            command, display, ..
        } => Some((command.clone(), display.clone())),
        _ => None,
    });
    assert_eq!(
        exec,
        Some((
            "curl -H s3cr3t-t0ken http://127.0.0.1:8545".to_owned(),
            "curl -H *** http://127.0.0.1:8545".to_owned()
        ))
    );
    let e = run.handle(done(1, ok("echo: s3cr3t-t0ken")));
    assert_eq!(run.records()[1].hosts["n1"].output, "echo: ***");
    let audit = serde_json::to_string(&e).unwrap();
    assert!(!audit.contains("s3cr3t"), "{audit}");
    // The persisted run carries no secret.
    let saved = serde_json::to_string(&run).unwrap();
    assert!(!saved.contains("s3cr3t"), "{saved}");
}

#[test]
fn bad_inputs_are_asked_again_and_unknown_inputs_refused() {
    let rb = book(
        r#"
[[inputs]]
name = "version"
pattern = "v[0-9]+\\.[0-9]+"

[[steps]]
id = "n"
kind = "note"
text = "upgrading to {{version}}"
"#,
    );
    let (mut run, _) = Run::start(rb.clone(), ctx(group4(), &[]));
    let e = run.handle(Event::InputGiven {
        name: "version".into(),
        value: "latest".into(),
    });
    assert_eq!(
        brief(&e),
        ["ask-input version error=\"latest\" does not match the pattern /v[0-9]+\\.[0-9]+/"]
    );
    let e = run.handle(Event::InputGiven {
        name: "version".into(),
        value: "v1.2".into(),
    });
    assert_eq!(
        brief(&e),
        [
            "audit input target=version result=v1.2",
            "ask-note n upgrading to v1.2",
        ]
    );
    let mut c = ctx(group4(), &[]);
    c.inputs.insert("versoin".into(), "v1.2".into());
    let (run, got) = script(rb, c, vec![]);
    assert_eq!(
        got[0][1],
        "refused: unknown input `versoin`: runbook `t` takes version"
    );
    assert_eq!(run.outcome().map(Outcome::exit_code), Some(2));
}

#[test]
fn an_interrupted_step_is_unknown_and_never_proceeds_on_its_own() {
    let (mut run, _) = Run::start(book(CHECK_THEN_ACTION), ctx(group4(), &["n1"]));
    let e = run.handle(Event::Interrupted {
        reason: "Ctrl-C".into(),
    });
    assert_eq!(
        brief(&e),
        [
            "audit interrupt step=is-up reason=Ctrl-C (commands were running on n1: outcome unknown)",
            "suspended is-up Ctrl-C",
        ]
    );
    // A late result is audited but changes nothing.
    let e = run.handle(done(1, ok("active")));
    assert_eq!(
        brief(&e),
        [
            "audit exec.result step=is-up target=n1 command=systemctl is-active geth result=exit 0 reason=arrived after the step was left"
        ]
    );
    // Persist and restore, as the executor does.
    let saved = serde_json::to_string(&run).unwrap();
    let mut run: Run = serde_json::from_str(&saved).unwrap();
    assert!(run.is_suspended());
    let e = run.handle(Event::Resume {
        session: session(AccessRole::Operator),
        now: at(60),
    });
    assert_eq!(
        brief(&e),
        [
            "audit runbook.resume step=is-up reason=commands were running on n1",
            "ask-unknown is-up",
        ]
    );
    let e = run.handle(Event::ResolveUnknown {
        decision: UnknownDecision::Skip,
        reason: None,
    });
    assert_eq!(
        brief(&e),
        ["ask-unknown is-up error=skipping a step whose outcome is unknown needs a reason"]
    );
    let e = run.handle(Event::ResolveUnknown {
        decision: UnknownDecision::Skip,
        reason: Some("checked by hand".into()),
    });
    assert_eq!(
        brief(&e),
        [
            "audit skip step=is-up reason=checked by hand",
            "done is-up skipped: skipped: checked by hand",
            "audit exec step=restart target=n1 command=systemctl restart geth",
            "exec#2 n1 systemctl restart geth",
        ]
    );
    assert_eq!(run.records()[0].status, StepStatus::Skipped);
}

#[test]
fn a_run_resumed_after_a_crash_asks_for_its_secrets_and_a_fresh_confirmation() {
    let rb = book(
        r#"
[[inputs]]
name = "token"
secret = true

[targets]
hosts = "*"

[[steps]]
id = "ask"
kind = "manual"
title = "Ready?"

[[steps]]
id = "wipe"
kind = "action"
dangerous = true
command = "wipe {{token}}"
"#,
    );
    let mut c = ctx(group4(), &["n1"]);
    c.inputs.insert("token".into(), "hunter22".into());
    let (mut run, _) = Run::start(rb, c);
    let _ = run.handle(Event::ManualDone { note: None });
    // Crash while the confirmation is on screen: the state on disk is all that is left.
    let saved = serde_json::to_string(&run).unwrap();
    assert!(!saved.contains("hunter22"));
    let mut run: Run = serde_json::from_str(&saved).unwrap();
    let e = run.handle(Event::Resume {
        session: session(AccessRole::Operator),
        now: at(5),
    });
    assert_eq!(
        brief(&e),
        ["audit runbook.resume step=wipe", "ask-input token"]
    );
    let e = run.handle(Event::InputGiven {
        name: "token".into(),
        value: "hunter22".into(),
    });
    assert_eq!(
        brief(&e),
        [
            "audit input target=token result=***",
            "ask-confirm wipe type=n1"
        ]
    );
    let e = run.handle(Event::Confirmed { typed: "n1".into() });
    let lines = brief(&e);
    assert_eq!(
        lines[0],
        "audit confirm step=wipe result=confirmed reason=typed \"n1\""
    );
    assert_eq!(lines[2], "exec#1 n1 wipe ***");
}

#[test]
fn resuming_without_a_terminal_is_refused_when_a_person_is_needed() {
    let (mut run, _) = Run::start(book(CHECK_THEN_ACTION), ctx(group4(), &["n1"]));
    let _ = run.handle(Event::Interrupted {
        reason: "connection lost".into(),
    });
    let mut s = session(AccessRole::Operator);
    s.interactive = false;
    let e = run.handle(Event::Resume {
        session: s,
        now: at(1),
    });
    let lines = brief(&e);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("refused: step `is-up` was interrupted")),
        "{lines:#?}"
    );
    // Commands ran before the interruption, but this resume ran nothing: a refusal before
    // anything ran exits 2.
    assert_eq!(run.outcome().map(Outcome::exit_code), Some(2));
}

#[test]
fn a_refused_resume_exits_2_and_a_refusal_after_a_command_of_the_resume_exits_1() {
    let rb = book(
        r#"
[[inputs]]
name = "token"
secret = true

[targets]
hosts = "*"

[[steps]]
id = "probe"
kind = "check"
command = "probe {{token}}"

[[steps]]
id = "verify"
kind = "check"
command = "verify"

[[steps]]
id = "restart"
kind = "action"
command = "restart {{token}}"
"#,
    );
    let mut c = ctx(group4(), &["n1"]);
    c.inputs.insert("token".into(), "hunter22".into());
    let (mut run, _) = Run::start(rb, c);
    assert_eq!(
        brief(&run.handle(done(1, ok(""))))[1..],
        [
            "done probe passed: exit 0",
            "audit exec step=verify target=n1 command=verify",
            "exec#2 n1 verify",
        ]
    );
    // The connection drops while `verify` runs: its outcome is unknown.
    let _ = run.handle(Event::Interrupted {
        reason: "connection lost".into(),
    });
    let saved = serde_json::to_string(&run).unwrap();

    // No terminal: the secret cannot be typed again. Refused before anything ran → 2.
    let mut headless = session(AccessRole::Developer);
    headless.interactive = false;
    let mut again: Run = serde_json::from_str(&saved).unwrap();
    let e = brief(&again.handle(Event::Resume {
        session: headless,
        now: at(1),
    }));
    assert!(
        e.iter()
            .any(|l| l.starts_with("refused: resuming needs input `token` again")),
        "{e:#?}"
    );
    assert_eq!(again.outcome().map(Outcome::exit_code), Some(2));

    // At a terminal, a developer retries `verify` (a command of this resume), then may not
    // run `restart`: that refusal comes after something ran → 1.
    let mut again: Run = serde_json::from_str(&saved).unwrap();
    let _ = again.handle(Event::Resume {
        session: session(AccessRole::Developer),
        now: at(1),
    });
    let _ = again.handle(Event::InputGiven {
        name: "token".into(),
        value: "hunter22".into(),
    });
    let e = brief(&again.handle(Event::ResolveUnknown {
        decision: UnknownDecision::Retry,
        reason: None,
    }));
    assert_eq!(
        e.last().map(String::as_str),
        Some("exec#3 n1 verify"),
        "{e:#?}"
    );
    let e = brief(&again.handle(done(3, ok(""))));
    assert!(
        e.iter().any(|l| l.starts_with("refused: step `restart`")),
        "{e:#?}"
    );
    assert_eq!(again.outcome().map(Outcome::exit_code), Some(1));
}

#[test]
fn abort_ends_the_run() {
    let (mut run, _) = Run::start(book(DANGEROUS), ctx(group4(), &["n1"]));
    let e = run.handle(Event::Abort {
        reason: "wrong host".into(),
    });
    assert_eq!(
        brief(&e),
        [
            "audit abort step=wipe reason=wrong host",
            "finished aborted: wrong host",
        ]
    );
    assert_eq!(run.outcome().map(Outcome::exit_code), Some(1));
    assert_eq!(
        brief(&run.handle(Event::Confirmed { typed: "n1".into() })),
        ["ignored: no confirmation was asked for"]
    );
}

#[test]
fn a_failing_notify_follows_on_fail() {
    let rb = book(
        r#"
[[steps]]
id = "page"
kind = "notify"
url = "https://hooks.example/x"
on_fail = "next"

[[steps]]
id = "n"
kind = "note"
text = "why?"
"#,
    );
    let (_, got) = script(
        rb,
        ctx(group4(), &[]),
        vec![
            Event::NotifyFinished {
                step: "page".into(),
                result: Err("connection refused".into()),
            },
            Event::NoteGiven {
                text: "disk full".into(),
            },
        ],
    );
    assert_eq!(
        got[1],
        [
            "audit notify.result step=page result=error: connection refused",
            "done page failed: error: connection refused",
            "ask-note n why?",
        ]
    );
    assert_eq!(
        got[2],
        [
            "audit note step=n reason=disk full",
            "done n passed: noted",
            "finished success: all steps done",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Rolling

pub(crate) const ROLLING: &str = r#"
[[inputs]]
name = "version"

[targets]
consensus_group = "g0"

[[steps]]
id = "upgrade"
kind = "rolling"
batch = 1
pause = "10s"
gate = { service = "geth", chain = true, timeout = "60s", interval = "5s" }

[[steps.each]]
id = "stop"
kind = "action"
dangerous = true
command = "{{service.geth.stop}}"

[[steps.each]]
id = "switch"
kind = "action"
command = "{{service.geth.upgrade}}"

[[steps.each]]
id = "start"
kind = "action"
command = "{{service.geth.start}}"

[[steps.rollback]]
id = "back"
kind = "action"
command = "{{service.geth.rollback}}"

[[steps.rollback]]
id = "restart"
kind = "action"
command = "{{service.geth.start}}"
"#;

fn rolling_ctx() -> RunContext {
    let mut c = ctx(group4(), &["n1", "n2", "n3", "n4"]);
    c.inputs.insert("version".into(), "1.2.0".into());
    c
}

#[test]
fn a_rolling_upgrade_goes_host_by_host_through_the_health_gate() {
    let (mut run, effects) = Run::start(book(ROLLING), rolling_ctx());
    assert_eq!(
        brief(&effects).last().map(String::as_str),
        Some("ask-confirm upgrade type=4")
    );
    let e = brief(&run.handle(Event::Confirmed { typed: "4".into() }));
    assert_eq!(
        e,
        [
            "audit confirm step=upgrade result=confirmed reason=typed \"4\"",
            "audit exec step=upgrade.stop target=n1 command=systemctl stop geth",
            "exec#1 n1 systemctl stop geth",
        ]
    );
    assert_eq!(
        brief(&run.handle(done(1, ok("")))),
        [
            "audit exec.result step=upgrade.stop target=n1 command=systemctl stop geth result=exit 0",
            "audit exec step=upgrade.switch target=n1 command=/opt/switch 1.2.0",
            "exec#2 n1 /opt/switch 1.2.0",
        ]
    );
    let _ = run.handle(done(2, ok("")));
    assert_eq!(
        brief(&run.handle(done(3, ok(""))))[1..],
        ["probe upgrade n1,n2,n3,n4"]
    );
    // First probe sets the baseline, the second must show the height advancing.
    let others = [
        ("n2", healthy(Some(120))),
        ("n3", healthy(Some(120))),
        ("n4", healthy(Some(121))),
    ];
    let mut f: Vec<(&str, HealthFact)> = vec![("n1", healthy(Some(110)))];
    f.extend(others.iter().cloned());
    assert_eq!(brief(&run.handle(facts(&f))), ["wait upgrade +5"]);
    assert_eq!(brief(&run.handle(tick(5))), ["probe upgrade n1,n2,n3,n4"]);
    f[0] = ("n1", healthy(Some(119)));
    assert_eq!(
        brief(&run.handle(facts(&f))),
        [
            "audit gate.passed step=upgrade target=n1 result=height 119 advancing, 2 behind the best 121",
            "wait upgrade +15",
        ]
    );
    assert_eq!(
        brief(&run.handle(tick(15))),
        [
            "audit exec step=upgrade.stop target=n2 command=systemctl stop geth",
            "exec#4 n2 systemctl stop geth",
        ]
    );
}

/// Bug (issue 10): with `pause = "3s"` the gap before the second batch was ~2.4 s: the pause
/// was timed from the last tick, not from the moment the health gate passed (the health poll
/// itself takes a while). The facts carry the time they were taken; the pause starts there.
#[test]
fn a_rolling_pause_is_timed_from_the_moment_the_gate_passed() {
    let (mut run, _) = Run::start(book(ROLLING), rolling_ctx());
    let _ = run.handle(Event::Confirmed { typed: "4".into() });
    for id in 1..=3 {
        let _ = run.handle(done(id, ok("")));
    }
    let mut f: Vec<(&str, HealthFact)> = vec![
        ("n1", healthy(Some(110))),
        ("n2", healthy(Some(120))),
        ("n3", healthy(Some(120))),
        ("n4", healthy(Some(121))),
    ];
    assert_eq!(brief(&run.handle(facts(&f))), ["wait upgrade +5"]);
    assert_eq!(brief(&run.handle(tick(5))), ["probe upgrade n1,n2,n3,n4"]);
    // The poll answers 2.4 s after the tick that asked for it: the gate passed at +7.4.
    f[0] = ("n1", healthy(Some(119)));
    let passed_at = at(7) + Duration::from_millis(400);
    let mut late = facts(&f);
    if let Event::HostHealth { now, .. } = &mut late {
        *now = passed_at;
    }
    let effects = run.handle(late);
    let until = effects.iter().find_map(|e| match e {
        Effect::Wait { until, .. } => Some(*until),
        _ => None,
    });
    assert_eq!(
        until,
        Some(passed_at + Duration::from_secs(10)),
        "{effects:?}"
    );
    // Ten seconds after the last tick is not ten seconds after the gate passed.
    assert!(
        !brief(&run.handle(tick(15)))
            .iter()
            .any(|l| l.starts_with("exec#")),
        "the second batch waits for the whole pause"
    );
    let e = run.handle(Event::Ticked {
        now: passed_at + Duration::from_secs(10),
    });
    assert!(
        brief(&e)
            .iter()
            .any(|l| l == "exec#4 n2 systemctl stop geth"),
        "{:?}",
        brief(&e)
    );
}

/// Drives a rolling run automatically: every exec passes unless `fail` says otherwise, every
/// probe answers with advancing heights unless the host is in `stuck`.
fn drive_rolling(
    run: &mut Run,
    first: Vec<Effect>,
    fail: &dyn Fn(&str, &str) -> bool,
    stuck: &[&str],
) -> Vec<String> {
    let mut log = brief(&first);
    let mut queue = first;
    let mut now = 0;
    let mut height = 200;
    for _ in 0..500 {
        if run.is_finished() {
            break;
        }
        let mut next = Vec::new();
        for e in &queue {
            let reply = match e {
                Effect::AskConfirm { expected, .. } => Some(Event::Confirmed {
                    typed: expected.clone(),
                }),
                Effect::Exec { id, host, step, .. } => Some(Event::ExecFinished {
                    id: *id,
                    result: if fail(host, step) { exit(1) } else { ok("") },
                }),
                Effect::ProbeHealth { hosts, .. } => {
                    height += 1;
                    Some(Event::HostHealth {
                        facts: hosts
                            .iter()
                            .map(|h| {
                                let fact = if stuck.contains(&h.as_str()) {
                                    healthy(Some(50))
                                } else {
                                    healthy(Some(height))
                                };
                                (h.clone(), fact)
                            })
                            .collect(),
                        now: UNIX_EPOCH,
                    })
                }
                _ => None,
            };
            if let Some(ev) = reply {
                let out = run.handle(ev);
                log.extend(brief(&out));
                next.extend(out);
            }
        }
        if next.is_empty() {
            // Nothing to answer: time passes.
            now += 5;
            let out = run.handle(tick(now));
            log.extend(brief(&out));
            next.extend(out);
        }
        queue = next;
    }
    log
}

#[test]
fn a_rolling_upgrade_finishes_every_member() {
    let (mut run, first) = Run::start(book(ROLLING), rolling_ctx());
    let log = drive_rolling(&mut run, first, &|_, _| false, &[]);
    let passed: Vec<&String> = log.iter().filter(|l| l.contains("gate.passed")).collect();
    assert_eq!(passed.len(), 4, "{log:#?}");
    assert_eq!(
        run.outcome().map(|o| o.kind),
        Some(OutcomeKind::Success),
        "{log:#?}"
    );
    assert_eq!(run.records()[0].summary, "4 of 4 hosts rolled");
}

#[test]
fn a_broken_new_version_is_rolled_back_and_the_rollout_stops() {
    let (mut run, first) = Run::start(book(ROLLING), rolling_ctx());
    let log = drive_rolling(&mut run, first, &|_, _| false, &["n2"]);
    let touched: Vec<&String> = log.iter().filter(|l| l.starts_with("exec#")).collect();
    // n1 upgraded; n2 upgraded, stuck at the gate, rolled back; n3 and n4 untouched.
    assert!(
        touched
            .iter()
            .all(|l| !l.contains(" n3 ") && !l.contains(" n4 ")),
        "{log:#?}"
    );
    assert!(
        log.contains(&"exec#7 n2 /opt/switch --back".to_owned()),
        "{log:#?}"
    );
    assert!(
        log.iter().any(|l| l.starts_with(
            "audit gate.failed step=upgrade target=n2 reason=health gate not passed within 1m: height 50"
        )),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("audit rollback step=upgrade target=n2"))
    );
    let outcome = run.outcome().unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Failed);
    assert!(
        outcome.message.contains(
            "stopped at the first failure (1 of 4 hosts done): n2: health gate not passed"
        ),
        "{}",
        outcome.message
    );
}

#[test]
fn a_failed_sub_step_rolls_the_host_back() {
    let (mut run, first) = Run::start(book(ROLLING), rolling_ctx());
    let log = drive_rolling(
        &mut run,
        first,
        &|h, s| h == "n1" && s == "upgrade.switch",
        &[],
    );
    assert!(
        log.iter().any(|l| l == "exec#3 n1 /opt/switch --back"),
        "{log:#?}"
    );
    assert!(!log.iter().any(|l| l.contains(" n2 ")), "{log:#?}");
    assert!(
        run.outcome()
            .unwrap()
            .message
            .contains("n1: sub-step `switch`: exit status 1, expected 0; rolled back")
    );
}

#[test]
fn the_quorum_guard_refuses_when_a_member_is_already_down() {
    let mut c = rolling_ctx();
    c.health.insert(
        "n3".into(),
        HealthFact {
            reachable: false,
            ..HealthFact::default()
        },
    );
    c.targets = vec!["n1".into(), "n2".into(), "n4".into()];
    let (mut run, first) = Run::start(book(ROLLING), c);
    let reason = "quorum guard: consensus group `g0` has N = 4 voting members and tolerates F = 1 \
                  down; already down: n3; taking n1 down would make 2 down";
    // Refused before the typed confirmation is asked: the operator could not usefully give it.
    let lines = brief(&first);
    assert_eq!(
        lines[lines.len() - 3..],
        [
            format!("audit denied step=upgrade reason={reason}"),
            format!("refused: {reason}"),
            format!("finished refused: {reason}"),
        ],
        "{lines:#?}"
    );
    assert!(!first.iter().any(|e| matches!(e, Effect::AskConfirm { .. })));
    assert_eq!(run.records()[0].status, StepStatus::Refused);
    assert_eq!(
        brief(&run.handle(Event::Confirmed { typed: "3".into() })),
        ["ignored: no confirmation was asked for"]
    );
}

#[test]
fn the_quorum_guard_lets_a_rollout_start_with_the_member_already_down() {
    // n3 is down, but rolling n3 first adds nothing to the count: the rollout may start, so
    // the confirmation is asked as usual.
    let mut c = rolling_ctx();
    c.health.insert("n3".into(), HealthFact::default());
    c.targets = vec!["n3".into(), "n1".into()];
    let (_, first) = Run::start(book(ROLLING), c);
    assert_eq!(
        brief(&first).last().map(String::as_str),
        Some("ask-confirm upgrade type=2")
    );
}

#[test]
fn dry_run_lists_every_command_per_host_with_secrets_masked() {
    let mut c = rolling_ctx();
    c.targets = vec!["n1".into(), "n2".into()];
    let plan = crate::runbook::plan_dry_run(&book(ROLLING), &c).unwrap();
    let lines: Vec<String> = plan
        .iter()
        .map(|p| {
            format!(
                "{} {} {}",
                p.host.as_deref().unwrap_or("-"),
                p.step,
                p.command.as_deref().unwrap_or_else(|e| e)
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "n1 upgrade.stop systemctl stop geth",
            "n1 upgrade.switch /opt/switch 1.2.0",
            "n1 upgrade.start systemctl start geth",
            "n1 upgrade.rollback.back /opt/switch --back",
            "n1 upgrade.rollback.restart systemctl start geth",
            "n2 upgrade.stop systemctl stop geth",
            "n2 upgrade.switch /opt/switch 1.2.0",
            "n2 upgrade.start systemctl start geth",
            "n2 upgrade.rollback.back /opt/switch --back",
            "n2 upgrade.rollback.restart systemctl start geth",
        ]
    );
}

#[test]
fn coalesced_results_group_identical_output() {
    let record = StepRecord {
        step: "s".into(),
        title: "s".into(),
        kind: "check".into(),
        status: StepStatus::Passed,
        hosts: BTreeMap::from([
            (
                "a".into(),
                host_result(
                    &ok("1"),
                    Verdict {
                        passed: true,
                        detail: "x".into(),
                    },
                ),
            ),
            (
                "b".into(),
                host_result(
                    &ok("2"),
                    Verdict {
                        passed: true,
                        detail: "x".into(),
                    },
                ),
            ),
            (
                "c".into(),
                host_result(
                    &ok("1"),
                    Verdict {
                        passed: true,
                        detail: "x".into(),
                    },
                ),
            ),
        ]),
        decision: None,
        preselected: None,
        reason: None,
        note: None,
        summary: String::new(),
    };
    let groups: Vec<Vec<String>> = record.coalesced().into_iter().map(|g| g.hosts).collect();
    assert_eq!(
        groups,
        [vec!["a".to_owned(), "c".to_owned()], vec!["b".to_owned()]]
    );
}

// ---------------------------------------------------------------------------------------------
// Shipped runbooks through the engine

/// Answers everything the way a cooperative operator and a healthy fleet would: the
/// pre-selection (or the first option) at a choice, ticks at checklists, typed confirmations,
/// HTTP 200 for webhooks; `exec` decides each command's result.
fn autopilot(
    run: &mut Run,
    first: Vec<Effect>,
    exec: &dyn Fn(&str, &str) -> ExecResult,
) -> Vec<String> {
    let mut log = brief(&first);
    let mut queue = first;
    let mut now = 0;
    let mut height = 500;
    for _ in 0..3000 {
        if run.is_finished() {
            break;
        }
        let mut next = Vec::new();
        for e in &queue {
            let reply = match e {
                Effect::AskConfirm { expected, .. } => Some(Event::Confirmed {
                    typed: expected.clone(),
                }),
                Effect::AskChoice {
                    options,
                    preselected,
                    ..
                } => Some(Event::Chosen {
                    option: preselected.clone().unwrap_or_else(|| options[0].clone()),
                    reason: None,
                }),
                Effect::AskManual { .. } => Some(Event::ManualDone { note: None }),
                Effect::AskNote { .. } => Some(Event::NoteGiven {
                    text: "noted".into(),
                }),
                Effect::Notify { step, .. } => Some(Event::NotifyFinished {
                    step: step.clone(),
                    result: Ok(200),
                }),
                Effect::Exec {
                    id, host, display, ..
                } => Some(Event::ExecFinished {
                    id: *id,
                    result: exec(host, display),
                }),
                Effect::ProbeHealth { hosts, .. } => {
                    height += 1;
                    Some(facts(
                        &hosts
                            .iter()
                            .map(|h| (h.as_str(), healthy(Some(height))))
                            .collect::<Vec<_>>(),
                    ))
                }
                _ => None,
            };
            if let Some(ev) = reply {
                let out = run.handle(ev);
                log.extend(brief(&out));
                next.extend(out);
            }
        }
        if next.is_empty() {
            now += 5;
            let out = run.handle(tick(now));
            log.extend(brief(&out));
            next.extend(out);
        }
        queue = next;
    }
    log
}

fn shipped(name: &str) -> Runbook {
    crate::runbook::shipped_runbook(name)
        .expect("shipped")
        .unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn the_shipped_rolling_upgrade_upgrades_every_member_of_a_group_of_four() {
    let mut c = ctx(group4(), &["n1", "n2", "n3", "n4"]);
    c.inputs.insert("version".into(), "1.2.0".into());
    c.inputs.insert("service".into(), "geth".into());
    c.inputs.insert("pause".into(), "5s".into());
    c.inputs.insert("watch".into(), "10s".into());
    let (mut run, first) = Run::start(shipped("rolling-upgrade"), c);
    let log = autopilot(&mut run, first, &|_, cmd| match cmd {
        "geth version" => ok("Geth Version: 1.2.0-stable"),
        c if c.starts_with("find ") => {
            ok("/var/lib/postgresql/postgres/backups/x-postgres-backup.sql.gz\n")
        }
        _ => ok(""),
    });
    assert_eq!(
        log.iter().filter(|l| l.contains("gate.passed")).count(),
        4,
        "{log:#?}"
    );
    assert!(
        log.contains(&"ask-confirm upgrade type=4".to_owned()),
        "{log:#?}"
    );
    assert_eq!(
        run.outcome().map(|o| o.kind),
        Some(OutcomeKind::Success),
        "{log:#?}"
    );
    let order: Vec<&String> = log
        .iter()
        .filter(|l| l.starts_with("exec#") && l.ends_with("/opt/switch 1.2.0"))
        .collect();
    assert_eq!(order.len(), 4);
    assert!(order[0].contains(" n1 ") && order[3].contains(" n4 "));
}

/// Bug (issue 10): restoring a backup that does not exist failed safely but said only "step
/// `backup-exists` failed". The check runs here for real (`sh -c`, the command as the host
/// would get it) against a path that does not exist; the failure names the file.
#[test]
fn the_shipped_restore_names_the_backup_file_it_did_not_find() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("2026-11-28-postgres-backup.sql.gz");
    let mut c = ctx(vec![host("db1", None, false)], &["db1"]);
    c.session = session(AccessRole::Admin);
    c.inputs
        .insert("backup_file".into(), missing.display().to_string());
    c.inputs.insert("service".into(), "geth".into());
    let (mut run, first) = Run::start(shipped("restore"), c);
    let log = autopilot(&mut run, first, &|_, cmd| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .output()
            .unwrap();
        ExecResult {
            exit: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            ..ok("")
        }
    });
    let outcome = run.outcome().expect("finished");
    assert_eq!(outcome.kind, OutcomeKind::Failed, "{log:#?}");
    assert_eq!(outcome.step.as_deref(), Some("backup-exists"));
    assert!(
        outcome.message.contains(&missing.display().to_string()),
        "{}",
        outcome.message
    );
    assert!(
        !log.iter().any(|l| l.contains("step=stop-service")),
        "nothing was stopped: {log:#?}"
    );
}

#[test]
fn the_shipped_rolling_upgrade_stops_at_a_broken_version() {
    let mut c = ctx(group4(), &["n1", "n2", "n3", "n4"]);
    c.inputs.insert("version".into(), "9.9.9".into());
    c.inputs.insert("service".into(), "geth".into());
    let (mut run, first) = Run::start(shipped("rolling-upgrade"), c);
    // The new version never reports itself: the version check fails on the first host.
    let log = autopilot(&mut run, first, &|_, cmd| match cmd {
        "geth version" => ok("Geth Version: 1.1.0-stable"),
        c if c.starts_with("find ") => ok("/backups/x.sql.gz\n"),
        _ => ok(""),
    });
    assert!(
        log.iter()
            .any(|l| l.starts_with("exec#") && l.ends_with(" n1 /opt/switch --back")),
        "{log:#?}"
    );
    assert!(
        !log.iter()
            .any(|l| l.contains("step=upgrade.") && l.contains("target=n2")),
        "{log:#?}"
    );
    assert_eq!(run.outcome().map(|o| o.kind), Some(OutcomeKind::Failed));
}

#[test]
fn the_shipped_troubleshoot_tree_starts_a_stopped_service_and_verifies_it() {
    let mut c = ctx(group4(), &["n1"]);
    c.inputs.insert("service".into(), "geth".into());
    let (mut run, first) = Run::start(shipped("troubleshoot"), c);
    let mut stopped = healthy(Some(1));
    stopped
        .services
        .insert("geth".into(), ServiceState::Stopped);
    assert_eq!(
        brief(&first).last().map(String::as_str),
        Some("probe service-running n1")
    );
    let out = run.handle(facts(&[("n1", stopped)]));
    assert_eq!(
        brief(&out)[..2],
        [
            "done service-running failed: failed on 1 of 1 host: n1: geth is stopped",
            "ask-choice running [yes|no] pre=no",
        ]
    );
    let log = autopilot(&mut run, out, &|_, cmd| {
        if cmd.contains("grep -ciE") {
            ok("0\n")
        } else {
            ok("")
        }
    });
    let path: Vec<&str> = run.records().iter().map(|r| r.step.as_str()).collect();
    assert_eq!(
        path,
        [
            "service-running",
            "running",
            "why-not-started",
            "start",
            "verify",
            "verify-logs",
            "solved"
        ],
        "{log:#?}"
    );
    assert_eq!(run.outcome().map(|o| o.kind), Some(OutcomeKind::Success));
}

#[test]
fn the_shipped_troubleshoot_tree_needs_a_terminal() {
    let mut c = ctx(group4(), &["n1"]);
    c.session.interactive = false;
    let (run, effects) = Run::start(shipped("troubleshoot"), c);
    assert_eq!(run.outcome().map(Outcome::exit_code), Some(2));
    assert!(
        brief(&effects)[0].contains("step `hsm-restart` is dangerous"),
        "{:#?}",
        brief(&effects)
    );
}

#[test]
fn the_shipped_daily_check_fails_when_an_item_fails_but_checks_them_all() {
    let mut c = ctx(group4(), &["n1", "n2"]);
    c.inputs.insert("service".into(), "geth".into());
    let (mut run, first) = Run::start(shipped("daily-check"), c);
    let log = autopilot(&mut run, first, &|host, cmd| {
        if cmd.starts_with("curl") {
            ok(r#"{"jsonrpc":"2.0","id":1,"result":false}"#)
        } else if cmd.starts_with("df") {
            ok(if host == "n2" { "85\n" } else { "41\n" })
        } else {
            ok("")
        }
    });
    let outcome = run.outcome().unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Failed, "{log:#?}");
    assert!(
        outcome.message.starts_with(
            "Checklist finished: 1 step failed: disk (failed on 1 of 2 hosts: n2: 85 is not < 80)"
        ),
        "{}",
        outcome.message
    );
}

const RECONNECT: &str = r#"
[[inputs]]
name = "port"
type = "int"
required = false

[targets]
hosts = "*"

[[steps]]
id = "move"
kind = "rolling"

[[steps.each]]
id = "write"
kind = "action"
dangerous = true
command = "echo Port {{port}} > /etc/ssh/x"

[[steps.each]]
id = "reconnect"
kind = "check"
probe = "reconnect"
port = "{{port}}"
update_inventory = true

[[steps.rollback]]
id = "restore"
kind = "action"
command = "restore"
"#;

/// `harden-ssh`'s proof: the reconnect probe is a command over a NEW connection with the port
/// overridden, after its own audit record and under the rolling step's confirmation; the
/// proven port goes to the inventory only once the host passed its gate, never on a rollback.
#[test]
fn a_reconnect_probe_runs_over_a_new_connection_and_only_a_passed_host_updates_the_inventory() {
    let mut c = ctx(group4(), &["n1"]);
    c.inputs.insert("port".into(), "2222".into());
    let (mut run, effects) = Run::start(book(RECONNECT), c.clone());
    assert_eq!(
        brief(&effects).last().map(String::as_str),
        Some("ask-confirm move type=n1")
    );
    let _ = run.handle(Event::Confirmed { typed: "n1".into() });
    let e = brief(&run.handle(done(1, ok(""))));
    assert_eq!(
        e[1..],
        [
            "audit exec step=move.reconnect target=n1 command=(new SSH connection, port 2222) \
             echo \"logged in as $(id -un); SSH_CONNECTION=$SSH_CONNECTION\"",
            "reconnect#2 n1 (new SSH connection, port 2222) echo \"logged in as $(id -un); \
             SSH_CONNECTION=$SSH_CONNECTION\"",
        ]
    );
    let e = brief(&run.handle(done(2, ok("logged in as root"))));
    assert_eq!(e.last().map(String::as_str), Some("probe move n1,n2,n3,n4"));
    let f: Vec<(&str, HealthFact)> = ["n1", "n2", "n3", "n4"]
        .iter()
        .map(|h| (*h, healthy(None)))
        .collect();
    let e = brief(&run.handle(facts(&f)));
    assert_eq!(
        e[..2],
        [
            "audit gate.passed step=move target=n1 result=healthy",
            "inventory-port n1 2222"
        ]
    );
    assert_eq!(run.outcome().map(|o| o.kind), Some(OutcomeKind::Success));

    // The new connection fails: rollback, and the inventory is left alone.
    let (mut run, _) = Run::start(book(RECONNECT), c);
    let _ = run.handle(Event::Confirmed { typed: "n1".into() });
    let _ = run.handle(done(1, ok("")));
    let refused = ExecResult {
        error: Some("new connection failed: connection refused".into()),
        ..ExecResult::default()
    };
    let mut all = brief(&run.handle(done(2, refused)));
    all.extend(brief(&run.handle(done(3, ok("")))));
    assert!(
        all.iter()
            .any(|l| l.starts_with("audit rollback step=move target=n1")),
        "{all:#?}"
    );
    assert!(all.iter().any(|l| l == "exec#3 n1 restore"), "{all:#?}");
    assert!(
        !all.iter().any(|l| l.starts_with("inventory-port")),
        "{all:#?}"
    );
    assert_eq!(run.outcome().map(|o| o.kind), Some(OutcomeKind::Failed));
}

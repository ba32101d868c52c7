//! Property tests of the engine's two hard promises:
//!
//! 1. The quorum guard: across random consensus-group sizes, members already down, extra
//!    observers and free hosts, batch sizes and injected failures (a sub-step that fails, a
//!    node stuck at the health gate), at no point are more than F = ⌊(N − 1) / 3⌋ voting
//!    members of a group down — members unhealthy before the step plus members the rollout
//!    has in flight (or failed). And when nothing fails and the guard leaves room, the
//!    rollout finishes every host.
//!    A first batch the guard refuses is refused before any confirmation is asked.
//! 2. Confirmation is structural: whatever events arrive in whatever order, no command of a
//!    dangerous step is emitted before a matching typed confirmation's audit record.

use std::collections::{BTreeMap, BTreeSet};
use std::time::UNIX_EPOCH;

use proptest::prelude::*;

use super::tests::{ROLLING, at, book, ctx, exit, healthy, host, ok, session};
use super::*;
use crate::runbook::AccessRole;
use crate::runbook::quorum::tolerated;

/// A generated fleet: one consensus group plus some observers and free hosts.
#[derive(Debug, Clone)]
struct Scenario {
    n: usize,
    observers: usize,
    free: usize,
    down: BTreeSet<usize>,
    batch: usize,
    failing: BTreeSet<usize>,
    stuck: BTreeSet<usize>,
    targets_mask: Vec<bool>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (1usize..=10, 0usize..=2, 0usize..=2, 1usize..=5).prop_flat_map(
        |(n, observers, free, batch)| {
            let total = n + observers + free;
            (
                Just(n),
                Just(observers),
                Just(free),
                proptest::collection::btree_set(0..n, 0..=n.min(4)),
                Just(batch),
                proptest::collection::btree_set(0..total, 0..=2),
                proptest::collection::btree_set(0..total, 0..=2),
                proptest::collection::vec(proptest::bool::weighted(0.85), total),
            )
                .prop_map(
                    |(n, observers, free, down, batch, failing, stuck, targets_mask)| Scenario {
                        n,
                        observers,
                        free,
                        down,
                        batch,
                        failing,
                        stuck,
                        targets_mask,
                    },
                )
        },
    )
}

fn name(i: usize) -> String {
    format!("h{i}")
}

fn rolling_book(batch: usize) -> Runbook {
    let text = ROLLING
        .replace("batch = 1", &format!("batch = {batch}"))
        .replace("consensus_group = \"g0\"", "hosts = \"*\"");
    book(&text)
}

/// Plays a rollout to its end, answering every effect; returns the log of violations.
fn play(s: &Scenario) -> Result<(), TestCaseError> {
    let total = s.n + s.observers + s.free;
    let mut fleet = Vec::new();
    for i in 0..total {
        let (group, voting) = if i < s.n {
            (Some("g0"), true)
        } else if i < s.n + s.observers {
            (Some("g0"), false)
        } else {
            (None, false)
        };
        fleet.push(host(&name(i), group, voting));
    }
    let targets: Vec<String> = (0..total)
        .filter(|i| s.targets_mask[*i])
        .map(name)
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    let target_refs: Vec<&str> = targets.iter().map(String::as_str).collect();
    let mut c = ctx(fleet, &target_refs);
    c.inputs.insert("version".into(), "2.0".into());
    // Down comes in three flavours: unreachable, reachable but critical, and not known at
    // all (no fact: the guard must count it as down).
    for &d in &s.down {
        match d % 3 {
            0 => {
                c.health.insert(name(d), HealthFact::default());
            }
            1 => {
                c.health.insert(
                    name(d),
                    HealthFact {
                        reachable: true,
                        healthy: false,
                        ..healthy(Some(1000))
                    },
                );
            }
            _ => {
                c.health.remove(&name(d));
            }
        }
    }
    let members: BTreeSet<String> = (0..s.n).map(name).collect();
    let f = tolerated(s.n);
    let already: BTreeSet<String> = s.down.iter().map(|&d| name(d)).collect();
    // Hosts the rollout has taken down and not yet seen pass their gate.
    let mut in_flight: BTreeSet<String> = BTreeSet::new();
    let mut passed: BTreeSet<String> = BTreeSet::new();
    let (mut run, first) = Run::start(rolling_book(s.batch), c);
    // A refusal of the very first batch must come without a confirmation prompt.
    let mut asked_confirm = false;
    let mut executed = false;
    let mut queue = first;
    let mut now = 0;
    let mut height = 1000;
    for _ in 0..2000 {
        let mut next = Vec::new();
        for e in &queue {
            match e {
                Effect::Audit(a) if a.action == AuditAction::GatePassed => {
                    let h = a.target.clone().unwrap_or_default();
                    in_flight.remove(&h);
                    passed.insert(h);
                }
                Effect::AskConfirm { .. } => asked_confirm = true,
                Effect::Exec { host, step, .. } if step == "upgrade.stop" => {
                    executed = true;
                    in_flight.insert(host.clone());
                    // Observers and free hosts never count; a voting member going down must
                    // leave the group within F.
                    if members.contains(host) {
                        let down: BTreeSet<&String> = already
                            .iter()
                            .filter(|h| !passed.contains(*h))
                            .chain(in_flight.iter())
                            .filter(|h| members.contains(*h))
                            .collect();
                        prop_assert!(
                            down.len() <= f,
                            "{} members of N = {} down (F = {f}): {:?}; scenario {:?}",
                            down.len(),
                            s.n,
                            down,
                            s
                        );
                    }
                }
                Effect::Refused { reason } => {
                    prop_assert!(
                        reason.contains(&format!("N = {}", s.n))
                            && reason.contains(&format!("F = {f}")),
                        "refusal does not name N and F: {reason}"
                    );
                    prop_assert!(
                        executed || !asked_confirm,
                        "the first batch was refused after a confirmation was asked: {reason}"
                    );
                }
                _ => {}
            }
            let reply = match e {
                Effect::AskConfirm { expected, .. } => Some(Event::Confirmed {
                    typed: expected.clone(),
                }),
                Effect::Exec { id, host, step, .. } => {
                    let i: usize = host[1..].parse().unwrap_or(0);
                    let fails = s.failing.contains(&i) && step == "upgrade.switch";
                    Some(Event::ExecFinished {
                        id: *id,
                        result: if fails { exit(1) } else { ok("") },
                    })
                }
                Effect::ProbeHealth { hosts, .. } => {
                    height += 1;
                    Some(Event::HostHealth {
                        facts: hosts
                            .iter()
                            .map(|h| {
                                let i: usize = h[1..].parse().unwrap_or(0);
                                let fact = if already.contains(h) && !in_flight.contains(h) {
                                    HealthFact::default()
                                } else if s.stuck.contains(&i) {
                                    healthy(Some(10))
                                } else {
                                    healthy(Some(height))
                                };
                                (h.clone(), fact)
                            })
                            .collect::<BTreeMap<_, _>>(),
                        now: UNIX_EPOCH,
                    })
                }
                _ => None,
            };
            if let Some(ev) = reply {
                next.extend(run.handle(ev));
            }
        }
        if run.is_finished() {
            // The last call's effects (a refusal above all) are checked too before stopping.
            if next.is_empty() {
                break;
            }
        } else if next.is_empty() {
            now += 5;
            next = run.handle(Event::Ticked { now: at(now) });
        }
        queue = next;
    }
    prop_assert!(run.is_finished(), "the rollout never ended: {s:?}");
    // Liveness: nothing failing, nothing down in the group, room for one: it all goes through.
    let voting_targets = targets.iter().filter(|t| members.contains(*t)).count();
    let injected = targets.iter().any(|t| {
        let i: usize = t[1..].parse().unwrap_or(0);
        s.failing.contains(&i) || s.stuck.contains(&i)
    });
    if !injected && already.is_empty() && (f >= 1 || voting_targets == 0) {
        prop_assert_eq!(
            run.outcome().map(|o| o.kind),
            Some(OutcomeKind::Success),
            "{:?}",
            run.outcome()
        );
    }
    if voting_targets > 0 && f == 0 {
        prop_assert_ne!(run.outcome().map(|o| o.kind), Some(OutcomeKind::Success));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_more_than_f_members_down(s in scenario()) {
        play(&s)?;
    }
}

/// Events a confused or hostile front end might send, in any order.
fn any_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (0u64..40).prop_map(|s| Event::Ticked { now: at(s) }),
        prop_oneof![
            Just("n1"),
            Just("2"),
            Just("4"),
            Just(""),
            Just("n2"),
            Just("yes")
        ]
        .prop_map(|t| Event::Confirmed {
            typed: t.to_owned()
        }),
        (1u64..12, 0i32..2).prop_map(|(id, code)| Event::ExecFinished {
            id: ExecId(id),
            result: if code == 0 { ok("") } else { exit(code) },
        }),
        Just(Event::HostHealth {
            facts: (1..=4)
                .map(|i| (format!("n{i}"), healthy(Some(500))))
                .collect(),
            now: UNIX_EPOCH,
        }),
        Just(Event::Interrupted {
            reason: "ctrl-c".into()
        }),
        Just(Event::Resume {
            session: session(AccessRole::Operator),
            now: at(41)
        }),
        prop_oneof![Just(UnknownDecision::Retry), Just(UnknownDecision::Skip),].prop_map(|d| {
            Event::ResolveUnknown {
                decision: d,
                reason: Some("x".into()),
            }
        }),
        Just(Event::ManualDone { note: None }),
        Just(Event::Chosen {
            option: "yes".into(),
            reason: None
        }),
    ]
}

const DANGEROUS_MIX: &str = r#"
[targets]
hosts = "*"

[[steps]]
id = "look"
kind = "check"
command = "uptime"
on_fail = "next"

[[steps]]
id = "wipe"
kind = "action"
dangerous = true
command = "rm -rf /data/chaindata"
"#;

fn confirm_before_exec(
    runbook: Runbook,
    targets: &[&str],
    events: Vec<Event>,
) -> Result<(), TestCaseError> {
    let dangerous: BTreeSet<String> = runbook
        .steps
        .iter()
        .filter(|s| s.is_dangerous())
        .map(|s| s.id.clone())
        .collect();
    let mut c = ctx(super::tests::group4(), targets);
    c.inputs.insert("version".into(), "2".into());
    let (mut run, first) = Run::start(runbook, c);
    let mut batches = vec![first];
    for e in events {
        let resumed = matches!(e, Event::Resume { .. });
        let out = run.handle(e);
        if resumed {
            batches.push(vec![Effect::Ignored {
                reason: "resume marker".into(),
            }]);
        }
        batches.push(out);
    }
    // A confirmation is valid from its audit record until the run is resumed (confirmations
    // are never persisted); an exec of a dangerous step needs one.
    let mut confirmed = false;
    for batch in &batches {
        // Every exec comes after its own audit record, in the same list.
        for (i, e) in batch.iter().enumerate() {
            if let Effect::Exec { step, host, .. } = e {
                let recorded = batch[..i].iter().any(|a| {
                    matches!(a, Effect::Audit(a) if a.action == AuditAction::Exec
                        && a.step.as_deref() == Some(step.as_str())
                        && a.target.as_deref() == Some(host.as_str()))
                });
                prop_assert!(
                    recorded,
                    "exec of {step} on {host} without its audit record first"
                );
            }
        }
        for e in batch {
            match e {
                Effect::Ignored { reason } if reason == "resume marker" => confirmed = false,
                Effect::Audit(a) if a.action == AuditAction::Confirm => confirmed = true,
                Effect::Exec { step, .. } => {
                    let owner = step.split('.').next().unwrap_or("");
                    if dangerous.contains(owner) {
                        prop_assert!(confirmed, "exec of dangerous {step} before a confirmation");
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_dangerous_exec_before_its_confirmation(events in proptest::collection::vec(any_event(), 0..30)) {
        confirm_before_exec(book(DANGEROUS_MIX), &["n1"], events.clone())?;
        confirm_before_exec(book(DANGEROUS_MIX), &["n1", "n2"], events.clone())?;
        confirm_before_exec(book(ROLLING), &["n1", "n2", "n3", "n4"], events)?;
    }
}

#[test]
fn the_first_exec_of_a_dangerous_step_shares_its_effect_list_with_the_confirm_record() {
    let (mut run, _) = Run::start(book(DANGEROUS_MIX), ctx(super::tests::group4(), &["n1"]));
    let _ = run.handle(Event::ExecFinished {
        id: ExecId(1),
        result: ok(""),
    });
    let out = run.handle(Event::Confirmed { typed: "n1".into() });
    let confirm = out
        .iter()
        .position(|e| matches!(e, Effect::Audit(a) if a.action == AuditAction::Confirm));
    let exec = out.iter().position(|e| matches!(e, Effect::Exec { .. }));
    assert!(
        matches!((confirm, exec), (Some(c), Some(x)) if c < x),
        "{out:#?}"
    );
}

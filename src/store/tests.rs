//! The store as a state machine: messages in, effects out, no render anywhere.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::alerts::{AlertEvent, AlertState};
use crate::inventory::{ChainKind, ConfigSource, load_fleet_from_str};
use crate::observation::{
    ChainObs, Metric, Probed, ServiceObs, ServiceState, Unreachable, UnreachableKind,
};

const FLEET: &str = r#"
[fleet]
name = "t"
interval = "5s"

[[hosts]]
name = "db-1"
address = "10.0.0.1"
services = [{ name = "api", kind = "systemd", unit = "api.service" }]

[[hosts]]
name = "eth-1"
address = "10.0.0.2"
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
"#;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn store() -> Store {
    Store::new(Arc::new(
        load_fleet_from_str(FLEET, ConfigSource::Embedded).unwrap(),
    ))
}

fn api(secs: u64, state: ServiceState) -> Msg {
    Msg::Observed(Observation {
        host: 0,
        started: at(secs),
        elapsed: Duration::from_millis(20),
        outcome: Ok(Probed {
            host_time: Some(secs as i64),
            services: vec![ServiceObs {
                name: "api".into(),
                state,
                detail: String::new(),
                since: None,
                restarts: None,
            }],
            ..Probed::default()
        }),
    })
}

fn geth(secs: u64, height: u64) -> Msg {
    Msg::Observed(Observation {
        host: 1,
        started: at(secs),
        elapsed: Duration::from_millis(20),
        outcome: Ok(Probed {
            host_time: Some(secs as i64),
            chain: Some(ChainObs {
                kind: ChainKind::Ethereum,
                height: Metric::Value(height),
                syncing: Metric::Value(false),
                peers: Metric::Value(8),
                client: None,
            }),
            ..Probed::default()
        }),
    })
}

fn unreachable(secs: u64) -> Msg {
    Msg::Observed(Observation {
        host: 0,
        started: at(secs),
        elapsed: Duration::from_secs(3),
        outcome: Err(Unreachable {
            kind: UnreachableKind::Timeout,
            message: "no SSH session within 3s".into(),
            retry_in: None,
        }),
    })
}

fn alert_events(effects: &[Effect]) -> Vec<&AlertEvent> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Alert(ev) => Some(ev),
            _ => None,
        })
        .collect()
}

fn service_down() -> AlertKey {
    AlertKey::new("db-1", "service_down", "api")
}

#[test]
fn an_observation_raises_an_alert_without_any_render() {
    let mut s = store();
    let effects = s.update(api(1_000, ServiceState::Stopped));
    assert_eq!(
        alert_events(&effects),
        [&AlertEvent::Raised(service_down())]
    );
    let t = s.alerts().get(&service_down()).expect("raised");
    assert_eq!(t.state, AlertState::New);
    // Judged as of the poll's start: the store had no earlier time.
    assert_eq!(t.since, at(1_000));
    assert_eq!(s.now(), at(1_000));
    assert!(matches!(effects.last(), Some(Effect::Changed { .. })));
}

#[test]
fn a_later_observation_resolves_it() {
    let mut s = store();
    s.update(api(1_000, ServiceState::Stopped));
    let effects = s.update(api(1_005, ServiceState::Running));
    assert_eq!(
        alert_events(&effects),
        [&AlertEvent::Resolved(service_down())]
    );
    let t = s.alerts().get(&service_down()).unwrap();
    assert_eq!(t.state, AlertState::Resolved);
    assert_eq!(t.resolved_at, Some(at(1_005)));
}

#[test]
fn an_ack_is_taken_once_and_refused_after() {
    let mut s = store();
    s.update(api(1_000, ServiceState::Stopped));
    let v = s.version();
    let ack = |who: &str| Msg::Ack {
        key: service_down(),
        operator: who.into(),
        at: at(1_002),
    };
    let effects = s.update(ack("alice"));
    match &effects[..] {
        [Effect::Acked(ev), Effect::Changed { version }] => {
            assert_eq!(ev.operator, "alice");
            assert_eq!(ev.at, at(1_002));
            assert_eq!(*version, v + 1);
        }
        other => panic!("unexpected effects {other:?}"),
    }
    assert_eq!(
        s.alerts().get(&service_down()).unwrap().state,
        AlertState::Acked
    );
    let effects = s.update(ack("bob"));
    assert!(
        matches!(&effects[..], [Effect::AckRefused(AlertError::AlreadyAcked { by, .. })] if by == "alice"),
        "{effects:?}"
    );
    assert_eq!(s.version(), v + 1, "a refused ack changes nothing");
}

#[test]
fn ticks_alone_raise_a_stall_and_a_tick_in_the_same_second_changes_nothing() {
    let mut s = store();
    s.update(api(1_000, ServiceState::Running));
    s.update(geth(1_000, 500));
    s.update(Msg::Tick { now: at(1_000) });
    assert!(s.alerts().active().is_empty());
    let v = s.version();
    // Within the same second: no evaluation, no new version (the console ticks on every key).
    let half = at(1_000) + Duration::from_millis(500);
    assert!(s.update(Msg::Tick { now: half }).is_empty());
    assert_eq!(s.version(), v);
    // No new poll: three minutes on, the clock alone makes the height stalled (2 min default).
    let stalled = AlertKey::new("eth-1", "height_stalled", "chain");
    let effects = s.update(Msg::Tick { now: at(1_180) });
    assert!(s.version() > v);
    assert_eq!(
        alert_events(&effects),
        [&AlertEvent::Raised(stalled.clone())]
    );
    assert_eq!(s.alerts().get(&stalled).unwrap().since, at(1_180));
    // A new block resolves it on the observation that shows it.
    let effects = s.update(geth(1_185, 501));
    assert_eq!(alert_events(&effects), [&AlertEvent::Resolved(stalled)]);
}

#[test]
fn an_unreachable_host_keeps_its_other_alerts() {
    let mut s = store();
    s.update(api(1_000, ServiceState::Stopped));
    let effects = s.update(unreachable(1_005));
    assert!(
        alert_events(&effects)
            .iter()
            .all(|e| !matches!(e, AlertEvent::Resolved(_))),
        "{effects:?}"
    );
    assert_eq!(
        s.alerts().get(&service_down()).unwrap().state,
        AlertState::New
    );
}

#[test]
fn a_batch_is_judged_once_and_matches_one_by_one() {
    let obs = |secs, state| match api(secs, state) {
        Msg::Observed(o) => o,
        _ => unreachable!(),
    };
    let mut batch = store();
    let effects = batch.update(Msg::ObservedAll(vec![
        obs(1_000, ServiceState::Stopped),
        obs(1_005, ServiceState::Stopped),
    ]));
    assert_eq!(
        effects
            .iter()
            .filter(|e| matches!(e, Effect::Changed { .. }))
            .count(),
        1
    );
    let mut one = store();
    one.update(api(1_000, ServiceState::Stopped));
    one.update(api(1_005, ServiceState::Stopped));
    assert_eq!(batch.health(), one.health());
    assert!(batch.update(Msg::ObservedAll(Vec::new())).is_empty());
}

#[test]
fn from_observations_judges_as_of_the_given_time() {
    let fleet = store().fleet().clone();
    let o = match api(1_000, ServiceState::Stopped) {
        Msg::Observed(o) => o,
        _ => unreachable!(),
    };
    let s = Store::from_observations(fleet, vec![o], at(1_003));
    assert_eq!(s.now(), at(1_003));
    assert_eq!(s.health().len(), 2);
    assert_eq!(s.alerts().active().len(), 1);
}

#[test]
fn a_second_observation_in_the_same_second_waits_for_the_next_tick() {
    let mut s = store();
    s.update(api(1_000, ServiceState::Running));
    // Folded (the state changed), not judged: a fleet whose polls finish one by one judges
    // once a second, not once a poll.
    let effects = s.update(api(1_000, ServiceState::Stopped));
    assert!(alert_events(&effects).is_empty(), "{effects:?}");
    assert!(matches!(effects[..], [Effect::Changed { .. }]));
    assert!(s.alerts().get(&service_down()).is_none());
    // The next tick judges it, even within the same second.
    let effects = s.update(Msg::Tick {
        now: at(1_000) + Duration::from_millis(900),
    });
    assert_eq!(
        alert_events(&effects),
        [&AlertEvent::Raised(service_down())]
    );
    assert!(
        s.update(Msg::Tick {
            now: at(1_000) + Duration::from_millis(950)
        })
        .is_empty()
    );
}

/// The fleet after a reload: web-2 new, db-1 as it was (now second), eth-1 removed.
const RELOADED: &str = r#"
[fleet]
name = "t"
interval = "5s"

[[hosts]]
name = "web-2"
address = "10.0.0.3"

[[hosts]]
name = "db-1"
address = "10.0.0.1"
services = [{ name = "api", kind = "systemd", unit = "api.service" }]
"#;

fn reload(s: &mut Store, text: &str) -> Vec<Effect> {
    let new = Arc::new(load_fleet_from_str(text, ConfigSource::Embedded).unwrap());
    let plan = crate::reload::plan(s.fleet(), &new);
    s.update(Msg::Reload {
        fleet: new,
        keep: plan.keep,
    })
}

#[test]
fn a_reload_keeps_unchanged_hosts_state_and_alerts_and_drops_removed_ones() {
    let mut s = store();
    s.update(api(1_000, ServiceState::Stopped));
    assert!(s.alerts().get(&service_down()).is_some());
    let effects = reload(&mut s, RELOADED);
    assert!(matches!(effects.last(), Some(Effect::Changed { .. })));
    assert_eq!(s.fleet().hosts.len(), 2);
    assert_eq!(s.state().hosts.len(), 2);
    assert_eq!(s.health().len(), 2);
    // web-2 is new: nothing known; db-1 moved to index 1 with its poll and alert.
    assert!(s.state().hosts[0].polled_at.is_none());
    assert_eq!(s.state().hosts[1].polled_at, Some(at(1_000)));
    assert!(s.alerts().get(&service_down()).is_some());
    // An observation for the new index lands on db-1.
    s.update(Msg::Tick { now: at(1_002) });
    let Msg::Observed(mut o) = api(1_003, ServiceState::Running) else {
        unreachable!()
    };
    o.host = 1;
    s.update(Msg::Observed(o));
    s.update(Msg::Tick { now: at(1_004) });
    assert_eq!(s.state().hosts[1].polled_at, Some(at(1_003)));
}

#[test]
fn a_reload_that_changes_how_a_host_is_reached_starts_it_afresh() {
    let mut s = store();
    s.update(api(1_000, ServiceState::Stopped));
    reload(&mut s, &FLEET.replace("10.0.0.1", "10.0.9.1"));
    assert!(s.state().hosts[0].polled_at.is_none());
    assert!(s.alerts().get(&service_down()).is_none());
    // eth-1 was not touched.
    assert_eq!(s.fleet().hosts[1].name, "eth-1");
}

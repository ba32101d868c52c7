//! The notifier's deciding parts: transitions from the alert book, the queue's bound, drop
//! count and dedupe, re-posting, and the backoff schedule on an injected clock.

use std::time::{Duration, SystemTime};

use super::*;
use crate::health::{Alert, HostHealth, Status};
use crate::inventory::{ConfigSource, load_fleet_from_str};

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

fn fleet() -> Fleet {
    load_fleet_from_str(
        "[fleet]\nname = \"prod\"\n[[hosts]]\nname = \"db-1\"\n",
        ConfigSource::Embedded,
    )
    .unwrap()
}

fn verdict(alerts: Vec<Alert>) -> HostHealth {
    let status = match alerts.iter().map(|a| a.severity).max() {
        Some(Severity::Critical) => Status::Critical,
        Some(Severity::Warning) => Status::Warning,
        None => Status::Ok,
    };
    HostHealth {
        status,
        alerts,
        lag: None,
    }
}

fn down(severity: Severity) -> Alert {
    Alert {
        severity,
        rule: "service_down",
        subject: "geth".into(),
        value: None,
        message: "geth is not running".into(),
    }
}

fn note(host: &str, severity: Severity, transition: Transition) -> AlertNote {
    AlertNote {
        fleet: "prod".into(),
        key: AlertKey::new(host, "service_down", "geth"),
        severity,
        message: "m".into(),
        value: None,
        transition,
        starts_at: at(1),
        ends_at: (transition == Transition::Resolved).then(|| at(2)),
        at: at(2),
    }
}

#[test]
fn tracker_reports_each_transition_once() {
    let f = fleet();
    let mut book = AlertBook::default();
    let mut tracker = Tracker::default();
    let mut step = |book: &mut AlertBook, alerts: Vec<Alert>, t: u64| {
        book.update(&f, &[verdict(alerts)], at(t));
        tracker
            .diff("prod", book, at(t))
            .into_iter()
            .map(|n| n.transition)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        step(&mut book, vec![down(Severity::Warning)], 10),
        [Transition::Raised]
    );
    assert_eq!(step(&mut book, vec![down(Severity::Warning)], 11), []);
    assert_eq!(
        step(&mut book, vec![down(Severity::Critical)], 12),
        [Transition::Escalated]
    );
    assert_eq!(step(&mut book, vec![], 13), [Transition::Resolved]);
    assert_eq!(step(&mut book, vec![], 14), []);
    // Failing again after a resolution the tracker saw is a new page (Reopened is for a
    // resolution and a relapse between two looks).
    assert_eq!(
        step(&mut book, vec![down(Severity::Critical)], 15),
        [Transition::Raised]
    );
}

#[test]
fn alertmanager_json_has_the_contract_labels_and_ends_at_when_resolved() {
    let firing = note("db-1", Severity::Critical, Transition::Raised).alertmanager_json();
    assert_eq!(
        firing["labels"],
        json!({"alertname": "service_down", "host": "db-1", "subject": "geth",
               "severity": "critical", "fleet": "prod"})
    );
    assert_eq!(firing["startsAt"], "1970-01-01T00:00:01Z");
    assert!(firing.get("endsAt").is_none());
    let resolved = note("db-1", Severity::Critical, Transition::Resolved).alertmanager_json();
    assert_eq!(resolved["endsAt"], "1970-01-01T00:00:02Z");
    let hook = note("db-1", Severity::Critical, Transition::Raised).webhook_json();
    assert!(
        hook["text"]
            .as_str()
            .unwrap()
            .contains("FIRING critical db-1/service_down/geth")
    );
}

#[test]
fn queue_is_bounded_and_counts_what_it_drops() {
    let mut o = Outbox::new(PeerKind::Webhook, 3, s(0));
    for i in 0..5 {
        o.push(note(
            &format!("h{i}"),
            Severity::Warning,
            Transition::Raised,
        ));
    }
    assert_eq!(o.len(), 3);
    assert_eq!(o.dropped(), 2);
    let sent = o.take(s(0)).unwrap();
    assert_eq!(sent[0].key.host, "h2", "the oldest were dropped");
}

#[test]
fn webhook_sends_every_transition_once_in_order() {
    let mut o = Outbox::new(PeerKind::Webhook, 10, s(0));
    o.push(note("a", Severity::Warning, Transition::Raised));
    o.push(note("a", Severity::Warning, Transition::Resolved));
    let first = o.take(s(0)).unwrap();
    assert_eq!(first[0].transition, Transition::Raised);
    assert_eq!(o.take(s(0)), None, "one request at a time");
    o.done(true, s(0));
    assert_eq!(o.take(s(0)).unwrap()[0].transition, Transition::Resolved);
    o.done(true, s(0));
    assert_eq!(o.take(s(0)), None);
    assert_eq!(o.wake(), None, "a webhook never re-sends");
}

#[test]
fn alertmanager_dedupes_by_label_set_and_resolves_an_old_severity() {
    let mut o = Outbox::new(PeerKind::Alertmanager, 10, s(0));
    o.push(note("a", Severity::Warning, Transition::Raised));
    o.push(note("a", Severity::Warning, Transition::Resolved));
    assert_eq!(o.len(), 1, "the latest state of one label set wins");
    o.push(note("b", Severity::Warning, Transition::Raised));
    o.push(note("b", Severity::Critical, Transition::Escalated));
    let batch = o.take(s(0)).unwrap();
    let shown: Vec<_> = batch
        .iter()
        .map(|n| (n.key.host.as_str(), n.severity, n.firing()))
        .collect();
    assert_eq!(
        shown,
        [
            ("a", Severity::Warning, false),
            ("b", Severity::Warning, false),
            ("b", Severity::Critical, true),
        ]
    );
    o.done(true, s(0));
    assert!(o.is_empty());
}

#[test]
fn alertmanager_reposts_firing_alerts_every_minute_and_not_resolved_ones() {
    let mut o = Outbox::new(PeerKind::Alertmanager, 10, s(0));
    o.push(note("a", Severity::Warning, Transition::Raised));
    o.push(note("b", Severity::Warning, Transition::Raised));
    o.take(s(0)).unwrap();
    o.done(true, s(0));
    o.push(note("b", Severity::Warning, Transition::Resolved));
    o.take(s(1)).unwrap();
    o.done(true, s(1));
    assert_eq!(o.wake(), Some(REPOST_EVERY));
    assert_eq!(o.take(s(59)), None);
    let again = o.take(s(60)).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].key.host, "a");
    o.done(true, s(60));
    assert_eq!(o.wake(), Some(s(120)));
}

#[test]
fn backoff_doubles_up_to_a_minute_and_resets_on_success() {
    assert_eq!(
        (1..=8).map(backoff).collect::<Vec<_>>(),
        [s(1), s(2), s(4), s(8), s(16), s(32), s(60), s(60)]
    );
    let mut o = Outbox::new(PeerKind::Webhook, 10, s(0));
    o.push(note("a", Severity::Warning, Transition::Raised));
    let mut now = s(0);
    let mut schedule = Vec::new();
    for _ in 0..4 {
        assert!(o.take(now).is_some());
        o.done(false, now);
        let next = o.wake().unwrap();
        assert_eq!(o.take(next - Duration::from_millis(1)), None);
        schedule.push(next - now);
        now = next;
    }
    assert_eq!(schedule, [s(1), s(2), s(4), s(8)]);
    assert_eq!(o.len(), 1, "nothing lost while the peer is down");
    o.take(now).unwrap();
    o.done(true, now);
    assert_eq!(o.failures(), 0);
    assert!(o.is_empty());
}

#[test]
fn logged_urls_keep_only_scheme_host_and_port() {
    assert_eq!(
        redact("https://hooks.slack.com/services/T0/B0/secret"),
        "https://hooks.slack.com/…"
    );
    assert_eq!(
        redact("http://u:pw@127.0.0.1:9093"),
        "http://127.0.0.1:9093/…"
    );
    assert_eq!(redact("http://127.0.0.1:9093"), "http://127.0.0.1:9093");
    assert_eq!(redact("http://h?token=x"), "http://h/…");
}

#[test]
fn only_a_client_error_other_than_timeout_or_rate_limit_is_final() {
    assert!(is_permanent_rejection(400));
    assert!(is_permanent_rejection(404));
    assert!(!is_permanent_rejection(408));
    assert!(!is_permanent_rejection(429));
    assert!(!is_permanent_rejection(500));
    assert!(!is_permanent_rejection(503));
}

//! Alertmanager as a source, against the real Alertmanager (Debian's
//! `prometheus-alertmanager`, started by PID with its own data dir): alerts posted to it are
//! read back by `fleetdeck::alert_source::fetch` and placed on inventory hosts by their `host`
//! or `instance` label (fleet-level when neither names a host), and
//! `alert_source::create_silence` creates a silence that Alertmanager lists with the alert's
//! matchers and applies to the alert.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fleetdeck::alert_source::{self, Snapshot};
use fleetdeck::inventory::{Host, HttpTarget};
use support::prometheus::Alertmanager;

const DEADLINE: Duration = Duration::from_secs(120);

fn hosts() -> Vec<Host> {
    [("web-1", "127.0.0.21"), ("node-2", "127.0.0.22")]
        .into_iter()
        .map(|(n, a)| Host {
            name: n.into(),
            address: a.into(),
            ..Host::default()
        })
        .collect()
}

/// Polls `fetch` until `done` holds for its snapshot, up to [`DEADLINE`].
async fn wait_for(
    http: &reqwest::Client,
    target: &HttpTarget,
    am: &Alertmanager,
    what: &str,
    done: impl Fn(&Snapshot) -> bool,
) -> Snapshot {
    let start = Instant::now();
    loop {
        let last = alert_source::fetch(http, target, &hosts()).await;
        match &last {
            Ok(s) if done(s) => return s.clone(),
            _ if start.elapsed() > DEADLINE => {
                panic!(
                    "{what}: never seen; last {last:?}\nalertmanager log:\n{}",
                    am.log()
                )
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

fn find<'a>(s: &'a Snapshot, name: &str) -> Option<&'a alert_source::AmAlert> {
    s.alerts.iter().find(|a| a.name == name)
}

#[tokio::test]
async fn alerts_are_read_placed_on_hosts_and_silenced() {
    let am = Alertmanager::start();
    let target = HttpTarget {
        url: format!("http://127.0.0.1:{}/", am.port()),
        auth: None,
    };
    let http = reqwest::Client::new();
    let posted = serde_json::json!([
        {"labels": {"alertname": "InByHost", "host": "web-1", "severity": "critical"},
         "annotations": {"summary": "posted by the test"}},
        {"labels": {"alertname": "InByInstance", "instance": "127.0.0.22:9100"}},
        {"labels": {"alertname": "InFleetLevel", "instance": "nowhere:9100"}},
    ]);
    let reply = http
        .post(format!("http://127.0.0.1:{}/api/v2/alerts", am.port()))
        .json(&posted)
        .send()
        .await
        .expect("post alerts");
    assert!(
        reply.status().is_success(),
        "post alerts: {}",
        reply.status()
    );

    let s = wait_for(&http, &target, &am, "the three posted alerts", |s| {
        ["InByHost", "InByInstance", "InFleetLevel"]
            .iter()
            .all(|n| find(s, n).is_some())
    })
    .await;
    let by_host = find(&s, "InByHost").unwrap();
    assert_eq!(by_host.host.as_deref(), Some("web-1"));
    assert_eq!(by_host.severity, "critical");
    assert_eq!(by_host.summary, "posted by the test");
    assert!(!by_host.silenced());
    assert_eq!(
        find(&s, "InByInstance").unwrap().host.as_deref(),
        Some("node-2")
    );
    assert_eq!(find(&s, "InFleetLevel").unwrap().host, None);

    let labels: BTreeMap<String, String> = by_host.labels.clone();
    let id =
        alert_source::create_silence(&http, &target, &labels, Duration::from_secs(7200), "alice")
            .await
            .expect("create silence");
    let s = wait_for(
        &http,
        &target,
        &am,
        "the silence applied to the alert",
        |s| find(s, "InByHost").is_some_and(|a| a.silenced_by.contains(&id)),
    )
    .await;
    let silence = s
        .silences
        .iter()
        .find(|x| x.id == id)
        .expect("the new silence is listed");
    assert_eq!(silence.created_by, "alice");
    assert!(silence.comment.contains("fleetdeck"), "{}", silence.comment);
    let mut matched: Vec<(String, String)> = silence
        .matchers
        .iter()
        .map(|m| {
            assert!(m.is_equal && !m.is_regex, "{m:?}");
            (m.name.clone(), m.value.clone())
        })
        .collect();
    matched.sort();
    assert_eq!(matched, labels.into_iter().collect::<Vec<_>>());
    assert!(
        !find(&s, "InByInstance").unwrap().silenced(),
        "the silence matches only the acked alert"
    );
}

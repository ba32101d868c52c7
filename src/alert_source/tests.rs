use super::*;

/// Recorded from Alertmanager 0.27 (`GET /api/v2/alerts?active=true`): one alert with a
/// `host` label, one with only `instance` (address and port), one silenced, one about no host.
const ALERTS: &str = r#"[
 {"annotations":{"summary":"disk almost full"},"endsAt":"2026-12-07T07:20:00.000Z",
  "fingerprint":"a1","receivers":[{"name":"null"}],"startsAt":"2026-12-07T07:00:00.000Z",
  "status":{"inhibitedBy":[],"silencedBy":[],"state":"active"},"updatedAt":"2026-12-07T07:05:00.000Z",
  "generatorURL":"http://prom/graph","labels":{"alertname":"DiskFull","host":"web-1","severity":"critical"}},
 {"annotations":{"description":"node exporter down"},"endsAt":"2026-12-07T07:20:00.000Z",
  "fingerprint":"b2","receivers":[{"name":"null"}],"startsAt":"2026-12-07T07:01:00.000Z",
  "status":{"inhibitedBy":[],"silencedBy":[],"state":"active"},"updatedAt":"2026-12-07T07:05:00.000Z",
  "labels":{"alertname":"NodeDown","instance":"10.0.0.2:9100","job":"node"}},
 {"annotations":{},"endsAt":"2026-12-07T07:20:00.000Z","fingerprint":"c3","receivers":[],
  "startsAt":"2026-12-07T07:02:00.000Z",
  "status":{"inhibitedBy":[],"silencedBy":["5f1d"],"state":"suppressed"},"updatedAt":"2026-12-07T07:05:00.000Z",
  "labels":{"alertname":"HighLoad","instance":"db-1"}},
 {"annotations":{"summary":"watchdog"},"endsAt":"2026-12-07T07:20:00.000Z","fingerprint":"d4",
  "receivers":[],"startsAt":"2026-12-07T07:03:00.000Z",
  "status":{"inhibitedBy":[],"silencedBy":[],"state":"active"},"updatedAt":"2026-12-07T07:05:00.000Z",
  "labels":{"alertname":"Watchdog","instance":"elsewhere:9100"}}
]"#;

/// Recorded from Alertmanager 0.27 (`GET /api/v2/silences`): one active, one expired.
const SILENCES: &str = r#"[
 {"id":"5f1d","status":{"state":"active"},"updatedAt":"2026-12-07T07:02:00.000Z",
  "comment":"acknowledged in fleetdeck by alice","createdBy":"alice",
  "endsAt":"2026-12-07T09:02:00.000Z","startsAt":"2026-12-07T07:02:00.000Z",
  "matchers":[{"isEqual":true,"isRegex":false,"name":"alertname","value":"HighLoad"}]},
 {"id":"0ld","status":{"state":"expired"},"updatedAt":"2026-12-06T07:02:00.000Z",
  "comment":"old","createdBy":"bob","endsAt":"2026-12-06T09:02:00.000Z",
  "startsAt":"2026-12-06T07:02:00.000Z",
  "matchers":[{"isRegex":true,"name":"job","value":"node.*"}]}
]"#;

fn hosts() -> Vec<Host> {
    [
        ("web-1", "10.0.0.1"),
        ("node-2", "10.0.0.2"),
        ("db-1", "db-1.internal"),
    ]
    .into_iter()
    .map(|(n, a)| Host {
        name: n.into(),
        address: a.into(),
        ..Host::default()
    })
    .collect()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn alerts_are_placed_on_hosts_by_host_then_instance_label() {
    let a = parse_alerts("http://am:9093/api/v2/alerts", ALERTS, &hosts()).unwrap();
    let placed: Vec<(&str, Option<&str>)> = a
        .iter()
        .map(|x| (x.name.as_str(), x.host.as_deref()))
        .collect();
    assert_eq!(
        placed,
        [
            ("DiskFull", Some("web-1")),
            ("NodeDown", Some("node-2")),
            ("HighLoad", Some("db-1")),
            ("Watchdog", None),
        ]
    );
    assert_eq!(a[0].severity, "critical");
    assert_eq!(a[0].summary, "disk almost full");
    assert_eq!(
        a[1].summary, "node exporter down",
        "description when no summary"
    );
    assert!(!a[0].silenced());
    assert!(a[2].silenced());
    assert_eq!(a[2].state, AmState::Suppressed);
    assert_eq!(a[1].labels["job"], "node");
}

#[test]
fn host_label_wins_over_instance_and_unknown_host_label_falls_back() {
    let h = hosts();
    assert_eq!(
        place(
            &labels(&[("host", "web-1"), ("instance", "10.0.0.2:9100")]),
            &h
        )
        .as_deref(),
        Some("web-1")
    );
    assert_eq!(
        place(
            &labels(&[("host", "nope"), ("instance", "10.0.0.2:9100")]),
            &h
        )
        .as_deref(),
        Some("node-2")
    );
    assert_eq!(
        place(&labels(&[("host", "10.0.0.1")]), &h).as_deref(),
        Some("web-1")
    );
    assert_eq!(place(&labels(&[("alertname", "X")]), &h), None);
}

#[test]
fn instance_ports_and_ipv6_brackets_are_stripped() {
    assert_eq!(strip_port("10.0.0.2:9100"), "10.0.0.2");
    assert_eq!(strip_port("db-1"), "db-1");
    assert_eq!(strip_port("[::1]:9100"), "::1");
    assert_eq!(strip_port("[::1]"), "::1");
    assert_eq!(
        strip_port("fe80::1"),
        "fe80::1",
        "a bare IPv6 address is not host:port"
    );
    let v6 = vec![Host {
        name: "v6".into(),
        address: "::1".into(),
        ..Host::default()
    }];
    assert_eq!(
        place(&labels(&[("instance", "[::1]:9100")]), &v6).as_deref(),
        Some("v6")
    );
}

#[test]
fn expired_silences_are_dropped() {
    let s = parse_silences("http://am:9093/api/v2/silences", SILENCES).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].id, "5f1d");
    assert_eq!(s[0].status, "active");
    assert_eq!(s[0].created_by, "alice");
    assert_eq!(
        s[0].matchers,
        [Matcher {
            name: "alertname".into(),
            value: "HighLoad".into(),
            is_regex: false,
            is_equal: true,
        }]
    );
}

#[test]
fn bad_json_is_an_error_naming_the_url_and_the_expected_shape() {
    for body in ["", "{}", "[{\"labels\":{}}]", "<html>502</html>", "[1,2]"] {
        let e = parse_alerts("http://am:9093/api/v2/alerts?active=true", body, &hosts())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("http://am:9093/api/v2/alerts?active=true"),
            "{e}"
        );
        assert!(e.contains("a JSON array of API v2 alerts"), "{e}");
        assert!(e.contains("line"), "the parser's position: {e}");
    }
    let e = parse_silences("http://am:9093/api/v2/silences", "{\"id\":1}")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/api/v2/silences") && e.contains("API v2 silences"),
        "{e}"
    );
}

#[test]
fn the_silence_body_matches_every_label_for_the_duration() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let body = silence_json(
        &labels(&[("alertname", "DiskFull"), ("host", "web-1")]),
        now,
        Duration::from_secs(2 * 3600),
        "alice",
    );
    assert_eq!(
        body["matchers"],
        json!([
            {"name": "alertname", "value": "DiskFull", "isRegex": false, "isEqual": true},
            {"name": "host", "value": "web-1", "isRegex": false, "isEqual": true},
        ])
    );
    assert_eq!(body["createdBy"], "alice");
    assert!(body["comment"].as_str().unwrap().contains("fleetdeck"));
    assert_eq!(body["startsAt"], crate::report::rfc3339(now));
    assert_eq!(
        body["endsAt"],
        crate::report::rfc3339(now + Duration::from_secs(7200))
    );
}

#[tokio::test]
async fn an_unreachable_alertmanager_is_a_clear_error() {
    // A port nothing listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = HttpTarget {
        url: format!("http://127.0.0.1:{port}"),
        auth: None,
    };
    let e = fetch(&reqwest::Client::new(), &target, &hosts())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(e.contains("could not connect"), "{e}");
}

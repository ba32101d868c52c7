//! Alertmanager in the console, end to end in a real terminal (tmux) against a real test fleet
//! and the real Alertmanager (Debian's `prometheus-alertmanager`, started by PID): an alert
//! posted for a fleet host appears in the Alerts pane attached to it (and one naming no host
//! as a host-less row); `a` on it, a confirmation showing the matchers and the inventory's
//! `[alertmanager] silence` duration, `y` — and Alertmanager lists a silence with exactly the
//! alert's labels as matchers, the row turns silenced, and the audit log has the
//! `alert.silence` record naming the silence. Alertmanager stopped (by its handle): the pane
//! shows one "Alertmanager unreachable" row and the console still answers keys.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use support::prometheus::{Alertmanager, http_get};
use support::{FleetSpec, InventoryOpts, TestFleet, Tmux};

/// Generous: the console polls Alertmanager every 15 s, and the machine may be loaded.
const WAIT: Duration = Duration::from_secs(90);

fn until(tmux: &Tmux, what: &str, pred: impl FnMut(&str) -> bool) -> String {
    tmux.wait_until(WAIT, pred)
        .unwrap_or_else(|screen| panic!("timed out waiting for {what}; screen:\n{screen}"))
}

fn post_alerts(port: u16, alerts: serde_json::Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let reply = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/api/v2/alerts"))
            .json(&alerts)
            .send()
            .await
            .expect("post alerts");
        assert!(
            reply.status().is_success(),
            "post alerts: {}",
            reply.status()
        );
    });
}

/// Alertmanager's silences (`GET /api/v2/silences`).
fn silences(port: u16) -> Vec<serde_json::Value> {
    let (code, body) = http_get(port, "/api/v2/silences").expect("get silences");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("silences {body:?}: {e}"))
}

/// The audit log's records with this action.
fn audit_records(path: &Path, action: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["action"] == action)
        .collect()
}

fn palette(tmux: &Tmux, command: &str) {
    tmux.send_keys(&[":"]);
    tmux.send_literal(command);
    tmux.send_keys(&["Enter"]);
}

#[test]
fn an_alertmanager_alert_is_shown_silenced_from_the_console_and_an_outage_is_one_row() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let am = Alertmanager::start();
    let port = am.port();
    let host = fleet.host(0).name;
    let config = fleet.write_inventory(&InventoryOpts {
        extra_toml: format!(
            "[alertmanager]\nurl = \"http://127.0.0.1:{port}\"\nsilence = \"45m\"\n"
        ),
        ..InventoryOpts::default()
    });
    let labels: BTreeMap<String, String> = [
        ("alertname", "ConsoleDiskFull"),
        ("host", host.as_str()),
        ("severity", "critical"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    post_alerts(
        port,
        serde_json::json!([
            {"labels": labels, "annotations": {"summary": "posted by the console test"}},
            {"labels": {"alertname": "FleetWideCheck", "severity": "warning"},
             "annotations": {"summary": "names no inventory host"}},
        ]),
    );

    let state = fleet.root().join("state");
    let audit = state.join("fleetdeck").join("audit.jsonl");
    let line = format!(
        "{} --config {}; echo \"EXITED=$? END\"; sleep 30",
        support::fleetdeck_bin().display(),
        config.display()
    );
    let tmux = Tmux::start_with_env(
        &line,
        200,
        40,
        &[
            ("XDG_STATE_HOME", state.to_str().unwrap()),
            ("SSH_AUTH_SOCK", ""),
            ("FLEETDECK_AUDIT_LOG", ""),
        ],
    );
    until(&tmux, "the host polled", |s| s.contains("1/1 reachable"));
    palette(&tmux, "pane alerts");
    let screen = until(&tmux, "both Alertmanager alerts in the Alerts pane", |s| {
        s.contains("posted by the console test") && s.contains("names no inventory host")
    });
    let row = screen
        .lines()
        .find(|l| l.contains("ConsoleDiskFull"))
        .expect("the alert's row");
    assert!(
        row.contains("alertmanager"),
        "marked with its source: {row}"
    );
    assert!(row.contains(&host), "attached to its host: {row}");
    assert!(row.contains("firing"), "{row}");
    let hostless = screen
        .lines()
        .find(|l| l.contains("FleetWideCheck"))
        .expect("the host-less row");
    assert!(!hostless.contains(&host), "{hostless}");

    // Only that alert on screen, then `a`: the confirmation shows matchers and duration.
    tmux.send_keys(&["/"]);
    tmux.send_literal("ConsoleDiskFull");
    tmux.send_keys(&["Enter"]);
    until(&tmux, "the filter applied", |s| {
        s.contains("ConsoleDiskFull") && !s.contains("FleetWideCheck")
    });
    tmux.send_keys(&["a"]);
    let dialog = until(&tmux, "the silence confirmation", |s| {
        s.contains("Silence ConsoleDiskFull in Alertmanager for 45m")
    });
    assert!(
        dialog.contains(&format!(
            "alertname=\"ConsoleDiskFull\", host=\"{host}\", severity=\"critical\""
        )),
        "{dialog}"
    );
    tmux.send_keys(&["y"]);

    // Alertmanager has it, with exactly the alert's labels as equality matchers.
    let start = Instant::now();
    let silence = loop {
        let found = silences(port).into_iter().find(|s| {
            s["status"]["state"] == "active"
                && s["matchers"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|m| m["value"] == "ConsoleDiskFull"))
        });
        if let Some(s) = found {
            break s;
        }
        assert!(
            start.elapsed() < WAIT,
            "no silence in Alertmanager; screen:\n{}\nalertmanager log:\n{}",
            tmux.capture(),
            am.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut matchers: BTreeMap<String, String> = BTreeMap::new();
    for m in silence["matchers"].as_array().unwrap() {
        assert_eq!(m["isRegex"], false, "{m}");
        assert_ne!(m["isEqual"], false, "{m}");
        matchers.insert(
            m["name"].as_str().unwrap().into(),
            m["value"].as_str().unwrap().into(),
        );
    }
    assert_eq!(matchers, labels);
    let id = silence["id"].as_str().expect("silence id").to_string();
    let screen = until(&tmux, "the row shown silenced", |s| {
        s.lines()
            .any(|l| l.contains("ConsoleDiskFull") && l.contains("silenced to"))
    });
    assert!(screen.contains("ConsoleDiskFull"), "{screen}");

    // The audit log names the silence, its matchers and its duration.
    let start = Instant::now();
    let record = loop {
        if let Some(r) = audit_records(&audit, "alert.silence").pop() {
            break r;
        }
        assert!(start.elapsed() < WAIT, "no alert.silence in {audit:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(record["target"], host.as_str(), "{record}");
    assert_eq!(record["result"], format!("silence {id}"), "{record}");
    assert_eq!(record["reason"], "45m", "{record}");
    let command = record["command"].as_str().unwrap_or_default();
    assert!(
        command.contains("alertname=\"ConsoleDiskFull\"") && command.contains(&host),
        "{record}"
    );

    // Alertmanager goes away: one clear row, and the console still answers.
    drop(am);
    tmux.send_keys(&["Escape"]); // the filter off: the whole pane
    let screen = until(&tmux, "the unreachable row", |s| {
        s.contains("Alertmanager unreachable: could not connect")
    });
    assert!(!screen.contains("ConsoleDiskFull"), "{screen}");
    palette(&tmux, "pane fleet");
    until(&tmux, "the fleet pane after the outage", |s| {
        s.contains("1/1 reachable") && !s.contains("Alertmanager unreachable")
    });
    tmux.send_keys(&["q"]);
    let end = until(&tmux, "the console quit", |s| s.contains(" END"));
    assert!(end.contains("EXITED=0"), "{end}");
}

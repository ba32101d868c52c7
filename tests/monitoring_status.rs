//! `fleetdeck status --format nagios|prometheus|json` against a real sshd/anvil fleet, the
//! Prometheus text checked against the exposition grammar and parsed by the real
//! node_exporter's textfile collector (Debian's `prometheus-node-exporter`).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use support::prometheus::{NodeExporter, Sample, parse_exposition};
use support::{FleetSpec, InventoryOpts, TestFleet};

/// Runs `fleetdeck status ARGS --config CONFIG`; (exit code, stdout, stderr).
fn status(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(support::fleetdeck_bin())
        .arg("status")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run fleetdeck status");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.2)
}

#[test]
fn nagios_line_and_exit_code_for_a_fleet_with_a_host_down() {
    let mut fleet = TestFleet::start(FleetSpec::hosts(3));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let (code, out, err) = status(&config, &["--format", "nagios"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out,
        "FLEETDECK OK - 3 of 3 hosts ok | ok=3 warning=0 critical=0 unknown=0\n"
    );
    let (code, out, err) = status(&config, &["--format", "nagios", "--hosts", "nope*"]);
    assert_eq!(code, 3, "{err}");
    assert_eq!(
        out,
        "FLEETDECK UNKNOWN - no hosts selected | ok=0 warning=0 critical=0 unknown=0\n"
    );
    let (code, out, err) = status(&config, &["--format", "nagios", "--hosts", "@nogroup"]);
    assert_eq!(code, 3, "{err}");
    assert!(out.starts_with("FLEETDECK UNKNOWN - no group"), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    fleet.stop_host(1);
    let (code, out, err) = status(&config, &["--format", "nagios"]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(
        out,
        "FLEETDECK CRITICAL - 1 of 3 hosts critical | ok=2 warning=0 critical=1 unknown=0\n"
    );
}

#[test]
fn format_json_is_the_json_document_and_json_conflicts_with_another_format() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let (code, out, err) = status(&config, &["--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(doc["summary"]["hosts"], 1);
    assert_eq!(doc["hosts"][0]["name"], "h1");
    let (code, _, err) = status(&config, &["--json", "--format", "nagios"]);
    assert_eq!(code, 2, "usage error: {err}");
}

#[test]
fn prometheus_format_is_valid_and_node_exporter_reads_it_from_the_textfile_directory() {
    let mut fleet = TestFleet::start(FleetSpec::hosts(3).with_anvils(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    fleet.stop_host(2);
    let (code, text, err) = status(&config, &["--format", "prometheus"]);
    assert_eq!(code, 2, "h3 is down: CRITICAL\n{text}{err}");
    let samples = parse_exposition(&text);
    let names: BTreeSet<&str> = samples.iter().map(|s| s.0.as_str()).collect();
    for (name, ..) in &samples {
        assert!(
            fleetdeck::metrics::METRICS.iter().any(|d| d.name == name),
            "{name} is not in metrics::METRICS"
        );
    }
    for (name, labels, _) in &samples {
        let d = fleetdeck::metrics::METRICS
            .iter()
            .find(|d| d.name == name)
            .unwrap();
        let want: BTreeSet<&str> = d.labels.iter().copied().collect();
        let got: BTreeSet<&str> = labels.keys().map(String::as_str).collect();
        assert_eq!(want, got, "labels of {name}");
    }
    assert_eq!(
        value(&samples, "fleetdeck_host_up", &[("host", "h1")]),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "fleetdeck_host_up", &[("host", "h3")]),
        Some(0.0)
    );
    assert_eq!(
        value(&samples, "fleetdeck_host_status", &[("host", "h3")]),
        Some(2.0)
    );
    assert_eq!(
        value(&samples, "fleetdeck_hosts", &[("status", "critical")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "fleetdeck_service_up",
            &[("host", "h1"), ("service", "app")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "fleetdeck_service_state",
            &[("host", "h1"), ("service", "app"), ("state", "running")]
        ),
        Some(1.0)
    );
    assert!(value(&samples, "fleetdeck_chain_height", &[("host", "h1")]).is_some());
    let used = value(&samples, "fleetdeck_disk_used_ratio", &[("host", "h1")]).expect("disk");
    assert!(used > 0.0 && used <= 1.0, "{used}");
    let age = value(&samples, "fleetdeck_backup_age_seconds", &[("host", "h2")]).expect("backup");
    assert!(
        (3500.0..4000.0).contains(&age),
        "newest backup is 1h old: {age}"
    );
    assert_eq!(
        value(
            &samples,
            "fleetdeck_alerts",
            &[("host", "h3"), ("severity", "critical")]
        ),
        Some(1.0)
    );
    assert!(names.contains("fleetdeck_poll_duration_seconds"));

    // The real textfile collector: written atomically (temp name, then rename) as its docs ask.
    let ne = NodeExporter::start();
    let tmp = ne.textfile_dir().join("fleetdeck.prom.tmp");
    std::fs::write(&tmp, &text).expect("write textfile");
    std::fs::rename(&tmp, ne.textfile_dir().join("fleetdeck.prom")).expect("rename");
    let deadline = Instant::now() + Duration::from_secs(60);
    let metrics = loop {
        let m = ne.metrics();
        if m.contains("fleetdeck_host_up") || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        metrics.lines().any(|l| l == "node_textfile_scrape_error 0"),
        "node_exporter could not parse the file:\n{metrics}\n{}",
        ne.log()
    );
    for line in [
        "fleetdeck_host_up{host=\"h1\"} 1",
        "fleetdeck_host_up{host=\"h2\"} 1",
        "fleetdeck_host_up{host=\"h3\"} 0",
        "fleetdeck_service_up{host=\"h1\",service=\"app\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not on node_exporter's /metrics:\n{metrics}"
        );
    }
}

#[test]
fn docs_monitoring_lists_every_metric() {
    let doc = std::fs::read_to_string(support::repo_root().join("docs/monitoring.md"))
        .expect("docs/monitoring.md");
    let mut documented = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `fleetdeck_")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_string();
        let labels: Vec<String> = cells[3]
            .split(',')
            .map(|l| l.trim().trim_matches('`').to_string())
            .filter(|l| !l.is_empty())
            .collect();
        documented.insert(name, (cells[2].to_string(), labels));
    }
    let emitted: BTreeMap<String, (String, Vec<String>)> = fleetdeck::metrics::METRICS
        .iter()
        .map(|d| {
            (
                d.name.to_string(),
                (
                    d.kind.as_str().to_string(),
                    d.labels.iter().map(|l| l.to_string()).collect(),
                ),
            )
        })
        .collect();
    assert_eq!(
        documented, emitted,
        "docs/monitoring.md's metric table and src/metrics.rs differ"
    );
}

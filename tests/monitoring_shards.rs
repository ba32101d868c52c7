//! The sharded layout of docs/monitoring.md ("A fleet too big for one poller"), with real peers:
//! two `fleetdeck serve` shards over disjoint parts of one sshd test fleet (one chosen with
//! `--group`, the other with `--hosts @GROUP`), one real Prometheus scraping both, and a second
//! Prometheus federating the first. Through each Prometheus's `/api/v1/query` the union covers
//! every host exactly once, from the shard that polls it, with the right `up` and `status`; and
//! `fleetdeck status --json` with `source = "prometheus"` on every host, reading through the
//! federating Prometheus, shows every host of both shards with what its shard saw.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::fleet::{ExtraHost, free_port};
use support::prometheus::{Prometheus, federate_job, wait_for_ok};
use support::{FleetSpec, InventoryOpts, TestFleet};

const DEADLINE: Duration = Duration::from_secs(120);

/// One `fleetdeck serve` shard; killed by PID when dropped.
struct Shard {
    child: Child,
    port: u16,
}

impl Shard {
    /// `fleetdeck serve` over the hosts `select` picks (`["--group", "odd"]`, …).
    fn start(config: &Path, select: &[&str]) -> Shard {
        let port = free_port();
        let child = Command::new(support::fleetdeck_bin())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(select)
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fleetdeck serve");
        Shard { child, port }
    }

    fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// This shard's `/status.json`.
    fn status(&self) -> serde_json::Value {
        let body = wait_for_ok(self.port, "/status.json", DEADLINE);
        serde_json::from_str(&body).expect("status.json is JSON")
    }

    /// Host names of this shard's `/status.json`, in its order.
    fn hosts(&self) -> Vec<String> {
        self.status()["hosts"]
            .as_array()
            .expect("hosts array")
            .iter()
            .map(|h| h["name"].as_str().expect("host name").to_string())
            .collect()
    }
}

impl Drop for Shard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every series of `metric` in `prom`, by host: (instance, value) per series.
fn by_host(prom: &Prometheus, metric: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let answer = prom.query(metric);
    assert_eq!(answer["status"], "success", "{answer:#}");
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for s in answer["data"]["result"].as_array().expect("result array") {
        let host = s["metric"]["host"]
            .as_str()
            .expect("host label")
            .to_string();
        let instance = s["metric"]["instance"]
            .as_str()
            .expect("instance label")
            .to_string();
        let value = s["value"][1].as_str().expect("sample value").to_string();
        out.entry(host).or_default().push((instance, value));
    }
    out
}

/// Polls `prom` until `fleetdeck_host_up` and `fleetdeck_host_status` are `want` (host → (up,
/// status)), each host from one series only, scraped from `instance_of[host]`.
fn wait_for_union(
    prom: &Prometheus,
    what: &str,
    want: &BTreeMap<&str, (&str, &str)>,
    instance_of: &BTreeMap<&str, String>,
) {
    // `status`: false for the up values, true for the status values.
    let expected = |status: bool| -> BTreeMap<String, Vec<(String, String)>> {
        want.iter()
            .map(|(h, (up, st))| {
                let v = if status { st } else { up };
                (h.to_string(), vec![(instance_of[h].clone(), v.to_string())])
            })
            .collect()
    };
    let want_up = expected(false);
    let want_status = expected(true);
    let start = Instant::now();
    loop {
        let up = by_host(prom, "fleetdeck_host_up");
        let status = by_host(prom, "fleetdeck_host_status");
        if up == want_up && status == want_status {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{what} never had every host once with the right values:\n\
             up     {up:?}\n  want {want_up:?}\nstatus {status:?}\n  want {want_status:?}\n{}",
            prom.log()
        );
        sleep(Duration::from_millis(300));
    }
}

#[test]
fn two_serve_shards_gathered_by_prometheus_and_its_federation_cover_every_host_once() {
    let fleet = TestFleet::start(FleetSpec::hosts(4));
    // h3's `app` is stopped (critical); `down1` refuses connections (down, critical) and is
    // in the `even` shard.
    std::fs::remove_file(fleet.host(2).service_marker).expect("stop h3's app");
    let opts = InventoryOpts {
        extra_hosts: vec![ExtraHost {
            groups: vec!["test".into(), "even".into()],
            ..ExtraHost::dead("down1")
        }],
        ..InventoryOpts::default()
    };
    let config = fleet.write_inventory(&opts);

    // Two shards: one by `--group`, one by `--hosts @GROUP`; disjoint, together the fleet.
    let odd = Shard::start(&config, &["--group", "odd"]);
    let even = Shard::start(&config, &["--hosts", "@even"]);
    assert_eq!(odd.hosts(), ["h1", "h3"]);
    assert_eq!(even.hosts(), ["h2", "h4", "down1"]);

    let prom = Prometheus::start("fleetdeck", &[odd.target(), even.target()]);
    // The global view of a federation: a second Prometheus reading the first's `/federate`.
    let global = Prometheus::start_with(&federate_job(
        "federate",
        r#"{job="fleetdeck"}"#,
        &[format!("127.0.0.1:{}", prom.port())],
    ));

    let want: BTreeMap<&str, (&str, &str)> = [
        ("h1", ("1", "0")),
        ("h2", ("1", "0")),
        ("h3", ("1", "2")),
        ("h4", ("1", "0")),
        ("down1", ("0", "2")),
    ]
    .into();
    let instance_of: BTreeMap<&str, String> = [
        ("h1", odd.target()),
        ("h3", odd.target()),
        ("h2", even.target()),
        ("h4", even.target()),
        ("down1", even.target()),
    ]
    .into();
    wait_for_union(&prom, "the shards' Prometheus", &want, &instance_of);
    wait_for_union(&global, "the federating Prometheus", &want, &instance_of);

    // Fleet-wide counts add up over the shards: each counts only its own hosts.
    let counts = global.query(r#"sum by (status) (fleetdeck_hosts{job="fleetdeck"})"#);
    let mut by_status: BTreeMap<String, String> = BTreeMap::new();
    for s in counts["data"]["result"].as_array().expect("result array") {
        by_status.insert(
            s["metric"]["status"].as_str().expect("status").to_string(),
            s["value"][1].as_str().expect("value").to_string(),
        );
    }
    let want_counts: BTreeMap<String, String> = [
        ("ok", "3"),
        ("warning", "0"),
        ("critical", "2"),
        ("unknown", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(by_status, want_counts, "{counts:#}");
    // The console's side: the whole fleet read from the federating Prometheus
    // (`source = "prometheus"` on every host), the shards' series matched by their `host` label.
    let mut read = opts.clone();
    for i in 0..fleet.host_count() {
        read.host_toml.insert(i, "source = \"prometheus\"".into());
    }
    read.extra_hosts[0].toml = "source = \"prometheus\"".into();
    read.extra_toml = format!(
        "[prometheus]\nurl = \"http://127.0.0.1:{}\"\n",
        global.port()
    );
    let read_config = fleet.write_inventory(&read);
    let doc = status_json(&read_config);
    let hosts = doc["hosts"].as_array().expect("hosts array");
    let seen: BTreeMap<&str, (bool, &str, &str)> = hosts
        .iter()
        .map(|h| {
            (
                h["name"].as_str().expect("name"),
                (
                    h["reachable"].as_bool().expect("reachable"),
                    h["status"].as_str().expect("status"),
                    h["status_source"].as_str().expect("status_source"),
                ),
            )
        })
        .collect();
    assert_eq!(hosts.len(), 5, "every host once: {doc:#}");
    let want_read: BTreeMap<&str, (bool, &str, &str)> = [
        ("h1", (true, "ok", "prometheus")),
        ("h2", (true, "ok", "prometheus")),
        ("h3", (true, "critical", "prometheus")),
        ("h4", (true, "ok", "prometheus")),
        ("down1", (false, "critical", "prometheus")),
    ]
    .into();
    assert_eq!(seen, want_read, "{doc:#}");
    // h3's `app`, down as its shard polled it, read back through Prometheus in the same state.
    let polled = odd.status();
    let by_shard = polled["hosts"]
        .as_array()
        .expect("hosts array")
        .iter()
        .find(|h| h["name"] == "h3")
        .expect("h3 in its shard")["services"][0]["state"]
        .clone();
    assert!(by_shard == "stopped" || by_shard == "failed", "{polled:#}");
    let h3 = hosts.iter().find(|h| h["name"] == "h3").expect("h3");
    let app = &h3["services"][0];
    assert_eq!(
        (&app["name"], &app["state"], &app["source"]),
        (
            &serde_json::json!("app"),
            &by_shard,
            &serde_json::json!("prometheus")
        ),
        "{h3:#}"
    );
    assert_eq!(doc["sources"][0]["ok"], true, "{doc:#}");

    // Each shard's own poller counters stay apart (one series per instance).
    let polls = by_instance(&global, "fleetdeck_polls_total");
    assert_eq!(
        polls.keys().cloned().collect::<Vec<_>>(),
        {
            let mut t = vec![odd.target(), even.target()];
            t.sort();
            t
        },
        "{polls:?}"
    );
}

/// `fleetdeck status --json` over `config`: the parsed document (any exit code: a critical
/// host makes it 2).
fn status_json(config: &Path) -> serde_json::Value {
    let out = Command::new(support::fleetdeck_bin())
        .args(["status", "--json", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .output()
        .expect("run fleetdeck status");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "status --json is not JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Every series of `metric` by its `instance` label: the value.
fn by_instance(prom: &Prometheus, metric: &str) -> BTreeMap<String, String> {
    let answer = prom.query(metric);
    answer["data"]["result"]
        .as_array()
        .expect("result array")
        .iter()
        .map(|s| {
            (
                s["metric"]["instance"]
                    .as_str()
                    .expect("instance")
                    .to_string(),
                s["value"][1].as_str().expect("value").to_string(),
            )
        })
        .collect()
}

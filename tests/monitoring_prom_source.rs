//! Prometheus as a status source (issue 13, item 1) against the real Debian `prometheus` and
//! `prometheus-node-exporter`: a host with `source = "prometheus"` shows node_exporter's
//! disks, load and uptime, a chain height from a textfile-collector file and a user column in
//! `status --json`, each cell marked `"source": "prometheus"`, with a `sources` entry; a
//! `source = "both"` host keeps its own poll's cells and takes the chain height SSH could not
//! read; with Prometheus stopped each dependent host gets one `source_unavailable` alert and
//! `sources[].ok` is false; a fleet without `[prometheus]` has an empty `sources`.
//!
//! The hosts use the local transport: what is under test is the Prometheus side, and a
//! `source = "prometheus"` host is never polled over its transport at all.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::prometheus::{NodeExporter, Prometheus};

const DEADLINE: Duration = Duration::from_secs(120);

fn status_json(config: &Path) -> (i32, serde_json::Value, String) {
    let out = std::process::Command::new(support::fleetdeck_bin())
        .args(["status", "--json", "--config"])
        .arg(config)
        .output()
        .expect("run fleetdeck status");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {stdout}\n{stderr}"));
    (out.status.code().expect("exit code"), doc, stderr)
}

/// Polls Prometheus until `promql` has a sample (it scrapes every second).
fn wait_for_series(prom: &Prometheus, promql: &str) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let answer = prom.query(promql);
        if let Some(first) = answer["data"]["result"].as_array().and_then(|r| r.first()) {
            return first.clone();
        }
        assert!(
            start.elapsed() < DEADLINE,
            "Prometheus never had {promql}: {answer}\n{}",
            prom.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write inventory");
    path
}

#[test]
fn a_fleet_read_from_prometheus_shows_its_cells_sources_and_outage() {
    let ne = NodeExporter::start_with(&["filesystem", "loadavg", "time", "stat"]);
    // The chain client's height as a textfile-collector file (write, then rename).
    let tmp = ne.textfile_dir().join("chain.prom.tmp");
    std::fs::write(&tmp, "# TYPE chain_head_block gauge\nchain_head_block 57\n").unwrap();
    std::fs::rename(&tmp, ne.textfile_dir().join("chain.prom")).unwrap();
    let prom = Prometheus::start("node", &[ne.target()]);
    wait_for_series(&prom, "chain_head_block");
    wait_for_series(&prom, "node_load1");
    wait_for_series(&prom, "node_boot_time_seconds");
    // A mount node_exporter reports on this machine (the root is overlay in some containers).
    let fs = wait_for_series(&prom, "node_filesystem_size_bytes");
    let mount = fs["metric"]["mountpoint"]
        .as_str()
        .expect("mountpoint")
        .to_string();

    let dir = tempfile::tempdir().unwrap();
    let port = ne.target().rsplit(':').next().unwrap().to_string();
    let inventory = format!(
        r#"
[fleet]
name = "promfleet"

[prometheus]
url = "{url}"
instance = "{{{{address}}}}:{port}"
timeout = "5s"

[[prometheus.columns]]
name = "answer"
query = "node_load1 * 0 + 42"
warn = 40
crit = 100

[[hosts]]
name = "p1"
address = "127.0.0.1"
transport = "local"
source = "prometheus"
disks = [{{ mount = "{mount}" }}]
chain = {{ kind = "ethereum", rpc = "http://127.0.0.1:9" }}
"#,
        url = prom.url()
    );
    let config = write(dir.path(), "fleet.toml", &inventory);
    let (code, doc, err) = status_json(&config);
    let h = &doc["hosts"][0];
    assert_eq!(h["reachable"], true, "{doc:#}\n{err}");
    assert_eq!(h["status_source"], "prometheus");
    let disk = &h["disks"][0];
    assert_eq!(disk["source"], "prometheus", "{doc:#}");
    assert!(disk["used_percent"].as_f64().is_some(), "{doc:#}");
    assert!(
        disk["total_bytes"].as_u64().is_some_and(|b| b > 0),
        "{doc:#}"
    );
    assert_eq!(h["load"].as_array().map(Vec::len), Some(3), "{doc:#}");
    assert_eq!(h["load_source"], "prometheus");
    assert!(
        h["uptime_seconds"].as_u64().is_some_and(|u| u > 0),
        "{doc:#}"
    );
    assert_eq!(h["chain"]["height"], 57, "{doc:#}");
    assert_eq!(h["chain"]["source"], "prometheus");
    assert_eq!(h["columns"][0]["name"], "answer");
    assert_eq!(h["columns"][0]["value"], 42.0);
    assert_eq!(h["columns"][0]["status"], "warning");
    let rules: Vec<&str> = h["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["rule"].as_str())
        .collect();
    assert!(rules.contains(&"column_warning"), "{rules:?}");
    assert!(!rules.contains(&"source_unavailable"), "{rules:?}");
    let sources = doc["sources"].as_array().expect("sources");
    assert_eq!(sources.len(), 1, "{doc:#}");
    assert_eq!(sources[0]["kind"], "prometheus");
    assert_eq!(sources[0]["url"], prom.url());
    assert_eq!(sources[0]["ok"], true);
    assert_eq!(sources[0]["error"], serde_json::Value::Null);
    assert!(sources[0]["age_seconds"].as_u64().is_some());
    // Peers are not exported by this "client": unavailable, never 0, and the height's
    // chain rules are judged; the exit code follows the worst alert.
    assert_eq!(h["chain"]["peers"], serde_json::Value::Null);
    assert!(code == 1 || code == 2, "exit {code}: {doc:#}");

    // `source = "both"`: the local poll's cells stay, Prometheus fills the chain height the
    // host's own RPC (nothing listens on port 9) could not give.
    let both = inventory.replace("source = \"prometheus\"", "source = \"both\"");
    let config_both = write(dir.path(), "both.toml", &both);
    let (_, doc, err) = status_json(&config_both);
    let h = &doc["hosts"][0];
    assert_eq!(h["status_source"], "both", "{doc:#}\n{err}");
    assert_eq!(h["load_source"], "ssh", "{doc:#}");
    assert_eq!(h["disks"][0]["source"], "ssh", "{doc:#}");
    assert_eq!(h["chain"]["height"], 57, "{doc:#}");
    assert_eq!(h["chain"]["source"], "prometheus", "{doc:#}");

    // Prometheus stopped: one source_unavailable per dependent host, the source not ok.
    let url = prom.url();
    drop(prom);
    let (code, doc, err) = status_json(&config);
    let h = &doc["hosts"][0];
    let unavailable: Vec<&serde_json::Value> = h["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rule"] == "source_unavailable")
        .collect();
    assert_eq!(unavailable.len(), 1, "{doc:#}\n{err}");
    assert_eq!(unavailable[0]["subject"], url);
    assert!(
        unavailable[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&url)),
        "{doc:#}"
    );
    assert_eq!(doc["sources"][0]["ok"], false, "{doc:#}");
    assert!(doc["sources"][0]["error"].as_str().is_some(), "{doc:#}");
    assert_eq!(doc["sources"][0]["age_seconds"], serde_json::Value::Null);
    assert_ne!(code, 0, "{doc:#}");
}

#[test]
fn a_fleet_without_prometheus_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "fleet.toml",
        "[fleet]\nname = \"plain\"\n[[hosts]]\nname = \"l1\"\ntransport = \"local\"\ndisks = [{ mount = \"/\" }]\n",
    );
    let (_, doc, err) = status_json(&config);
    assert_eq!(doc["hosts"][0]["reachable"], true, "{doc:#}\n{err}");
    assert_eq!(doc["sources"], serde_json::json!([]));
    let h = &doc["hosts"][0];
    assert_eq!(h["status_source"], "ssh");
    assert_eq!(h["disks"][0]["source"], "ssh");
    assert_eq!(h["load_source"], "ssh");
    assert_eq!(h["columns"], serde_json::json!([]));
}

/// `via = "h1"`: Prometheus is dialled through h1's SSH connection (a direct-tcpip channel to
/// the address as h1 sees it); with h1's sshd stopped the source fails and names why.
#[test]
fn prometheus_reached_through_a_hosts_ssh_connection() {
    use support::{FleetSpec, InventoryOpts, TestFleet};
    let ne = NodeExporter::start_with(&["loadavg"]);
    let prom = Prometheus::start("node", &[ne.target()]);
    wait_for_series(&prom, "node_load1");
    let mut fleet = TestFleet::start(FleetSpec::hosts(2));
    let mut opts = InventoryOpts::default();
    opts.host_toml.insert(1, "source = \"prometheus\"".into());
    opts.extra_toml = format!(
        "[prometheus]\nurl = \"{}\"\nvia = \"h1\"\ninstance = \"{}\"\ntimeout = \"20s\"\n",
        prom.url(),
        ne.target()
    );
    let config = fleet.write_inventory(&opts);
    let (_, doc, err) = status_json(&config);
    assert_eq!(doc["sources"][0]["ok"], true, "{doc:#}\n{err}");
    let h2 = &doc["hosts"][1];
    assert_eq!(h2["name"], "h2");
    assert_eq!(h2["reachable"], true, "{doc:#}");
    assert_eq!(h2["load_source"], "prometheus", "{doc:#}");

    fleet.stop_host(0);
    let (_, doc, err) = status_json(&config);
    assert_eq!(doc["sources"][0]["ok"], false, "{doc:#}\n{err}");
    let rules: Vec<&str> = doc["hosts"][1]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["rule"].as_str())
        .collect();
    assert_eq!(rules, ["source_unavailable"], "{doc:#}");
}

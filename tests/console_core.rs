//! The console core against real peers: host facts, certificates and logs read through SSH from
//! real OpenSSH hosts (tests/support), on their own cadence inside the one batched exec.
//!
//! - `status --json` (everything in one poll): a certificate made with the real `openssl` in a
//!   host's home comes back with its real expiry (and raises `cert_expiring`), a plain log's
//!   ERROR line is counted, a FISCO BCOS log is parsed into errors and warnings per module, and
//!   the facts carry the real kernel, CPU count and memory of the machine the sshd runs on.
//! - The console's poller: the first poll brings facts, certificates and logs, the next ones
//!   only the every-poll probes, and the state store keeps the slow parts in between.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use support::{FleetSpec, InventoryOpts, TestFleet};

use fleetdeck::inventory::load_fleet;
use fleetdeck::poller::{self, Poller};
use fleetdeck::probe::certs::parse_openssl_time;
use fleetdeck::state::FleetState;
use fleetdeck::transport::ssh::{NoPrompt, SshShared};

/// Runs `fleetdeck status --json` on `config`; returns (exit code, parsed JSON).
fn status_json(config: &Path) -> (i32, Value) {
    let out = Command::new(support::fleetdeck_bin())
        .args(["status", "--json", "--config"])
        .arg(config)
        .env_remove("SSH_AUTH_SOCK")
        .env("XDG_STATE_HOME", config.parent().unwrap().join("state"))
        .output()
        .expect("run fleetdeck");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "status --json printed no JSON ({e}):\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exit code"), json)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A self-signed certificate valid for `days`, made by the real openssl; returns its notAfter
/// as epoch seconds, read back by the local openssl.
fn make_cert(dir: &Path, days: u32) -> i64 {
    std::fs::create_dir_all(dir).unwrap();
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-subj"])
        .arg("/CN=node0/O=fleetdeck-test/OU=agency")
        .arg("-days")
        .arg(days.to_string())
        .arg("-keyout")
        .arg(dir.join("node.key"))
        .arg("-out")
        .arg(dir.join("node.crt")));
    let end = run(Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-in"])
        .arg(dir.join("node.crt")));
    parse_openssl_time(end.trim().trim_start_matches("notAfter="))
        .unwrap_or_else(|| panic!("unreadable openssl date {end:?}"))
}

/// `now + offset` as the host's local wall time, in FISCO's `%Y-%m-%d %H:%M:%S.ffffff`.
fn fisco_time(offset_secs: i64) -> String {
    let at = format!("@{}", epoch(SystemTime::now()) + offset_secs);
    // The host's sshd passes no TZ: its sessions use the system zone, and so must this.
    run(Command::new("date")
        .env_remove("TZ")
        .args(["-d", &at, "+%Y-%m-%d %H:%M:%S.000000"]))
    .trim()
    .to_string()
}

fn epoch(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn host<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no host {name} in {report:#}"))
}

#[test]
fn facts_certs_and_logs_are_read_through_ssh() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let h1 = fleet.host(0);
    let not_after = make_cert(&h1.home.join("certs"), 20);
    let logs = h1.home.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(
        logs.join("app.log"),
        "starting\nERROR: cannot open /data/app.db\nrunning\n",
    )
    .unwrap();
    std::fs::write(
        logs.join("node.log"),
        format!(
            "info|{}|[SCHEDULER][blk-1]BlockExecutive prepare: fillBlock end,txNum=1\n\
             error|{}|[g:1][CONSENSUS][PBFT]checkSign failed,nodeIdx=2\n\
             warning|{}|[P2P][Service] P2PSession not exist\n\
             error|{}|[SYNC] sync timeout\n\
             error|{}|[CONSENSUS] old error, outside the window\n",
            fisco_time(-120),
            fisco_time(-100),
            fisco_time(-90),
            fisco_time(-60),
            fisco_time(-7200),
        ),
    )
    .unwrap();
    let mut opts = InventoryOpts::default();
    opts.host_toml.insert(
        0,
        format!(
            "certs = [{{ name = \"node\", path = \"~/certs/node.crt\" }}, \
             {{ name = \"abs\", path = {:?} }}, {{ name = \"missing\", path = \"~/certs/none.crt\" }}]\n\
             logs = [{{ name = \"app\", file = \"~/logs/app.log\", patterns = [\"ERROR\"] }}, \
             {{ name = \"node\", file = \"~/logs/node.log\", format = \"fisco\" }}]",
            h1.home.join("certs/node.crt").display().to_string()
        ),
    );
    let config = fleet.write_inventory(&opts);
    let (code, report) = status_json(&config);
    let h = host(&report, "h1");
    assert_eq!(h["reachable"], true, "{h:#}");

    // Certificates: the real expiry, relative to the host's clock; ~/ is the host's home.
    for i in [0, 1] {
        let c = &h["certs"][i];
        assert_eq!(c["error"], Value::Null, "{c:#}");
        assert_eq!(
            c["not_after"],
            time::OffsetDateTime::from_unix_timestamp(not_after)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap(),
            "{c:#}"
        );
        let days = c["days_left"].as_f64().unwrap();
        assert!((19.8..=20.0).contains(&days), "{days}");
        assert!(c["subject"].as_str().unwrap().contains("node0"), "{c:#}");
    }
    assert_eq!(h["certs"][2]["error"], "no such file");
    let rules: Vec<(&str, &str)> = h["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["rule"].as_str().unwrap(), a["subject"].as_str().unwrap()))
        .collect();
    assert!(rules.contains(&("cert_expiring", "node")), "{rules:?}");
    assert!(rules.contains(&("cert_unreadable", "missing")), "{rules:?}");
    assert_eq!(h["status"], "warning", "{rules:?}");
    assert_eq!(code, 1, "a warning makes status exit 1");

    // Logs: the plain ERROR line, and the FISCO lines by module within the 10 minute window.
    let app = &h["logs"][0];
    assert_eq!(app["error"], Value::Null, "{app:#}");
    assert_eq!(
        (app["lines_read"].as_u64(), app["errors"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(app["recent"][0], "ERROR: cannot open /data/app.db");
    let node = &h["logs"][1];
    assert_eq!(node["error"], Value::Null, "{node:#}");
    assert_eq!(node["errors"], 2, "{node:#}");
    assert_eq!(node["warnings"], 1, "{node:#}");
    let modules: Vec<(&str, u64, u64)> = node["by_module"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["module"].as_str().unwrap(),
                m["errors"].as_u64().unwrap(),
                m["warnings"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        modules,
        [("CONSENSUS", 1, 0), ("SYNC", 1, 0), ("P2P", 0, 1)]
    );

    // Facts from the real machine behind the sshd.
    let f = &h["facts"];
    assert_eq!(f["kernel"]["os"], "Linux", "{f:#}");
    assert_eq!(
        f["kernel"]["release"],
        run(Command::new("uname").arg("-r")).trim(),
        "{f:#}"
    );
    let cpus: u64 = run(&mut Command::new("nproc")).trim().parse().unwrap();
    let listed = f["cpu"]["count"].as_u64().unwrap();
    assert!(
        listed >= cpus,
        "cpuinfo lists {listed} CPUs, nproc says {cpus}"
    );
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert_eq!(f["memory"]["total_bytes"], total_kb * 1024, "{f:#}");
    assert!(
        f["filesystems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["mount"] == "/"),
        "{f:#}"
    );
    // `last` and DMI may be missing on a host: unavailable, never an empty success by accident.
    for part in ["logins", "dmi"] {
        assert!(
            !f[part].is_null() || f["unavailable"][part].is_string(),
            "{part}: {f:#}"
        );
    }

    // The other host has none of it configured, and is fine.
    let h2 = host(&report, "h2");
    assert_eq!(h2["status"], "ok", "{h2:#}");
    assert_eq!(h2["certs"], Value::Array(vec![]));
    assert!(h2["facts"]["kernel"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poller_brings_slow_parts_on_their_cadence_in_the_same_exec() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let h1 = fleet.host(0);
    make_cert(&h1.home.join("certs"), 200);
    let mut opts = InventoryOpts::default();
    opts.host_toml.insert(
        0,
        "certs = [{ name = \"node\", path = \"~/certs/node.crt\" }]\n\
         logs = [{ name = \"app\", file = \"~/svc/app.running\" }]"
            .to_string(),
    );
    let config = fleet.write_inventory(&opts);
    let inventory = Arc::new(load_fleet(Some(&config)).expect("inventory loads"));
    let transports = poller::transports(&inventory, &SshShared::new(Arc::new(NoPrompt))).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let poller = Poller::spawn(inventory.clone(), transports, vec![0], tx);

    let mut state = FleetState::new(1);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        let obs = tokio::time::timeout(left, rx.recv())
            .await
            .expect("three polls within 30 s")
            .expect("poller running");
        let probed = obs.outcome.as_ref().expect("h1 reachable");
        assert!(probed.probe_errors.is_empty(), "{:?}", probed.probe_errors);
        seen.push((
            probed.facts.is_some(),
            probed.certs.is_some(),
            probed.logs.is_some(),
            probed.disks.len(),
        ));
        state.apply(obs);
    }
    drop(poller);
    assert_eq!(
        seen[0],
        (true, true, true, 1),
        "the first poll brings everything"
    );
    for later in &seen[1..] {
        assert_eq!(
            *later,
            (false, false, false, 1),
            "then only the every-poll probes"
        );
    }
    let hs = &state.hosts[0];
    let facts = &hs.facts.as_ref().expect("facts kept between polls").value;
    assert_eq!(facts.kernel.value().unwrap().os, "Linux");
    let certs = &hs.certs.as_ref().expect("certs kept").value;
    assert!(certs[0].info.value().is_some(), "{:?}", certs[0]);
    let logs = &hs.logs.as_ref().expect("logs kept").value;
    assert_eq!(logs[0].summary.as_ref().unwrap().lines_read, 1);
}

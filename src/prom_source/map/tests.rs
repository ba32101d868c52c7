//! Mapping recorded Prometheus replies onto an inventory, and the `source = "both"` merge.

use std::time::{Duration, SystemTime};

use super::*;
use crate::inventory::{ConfigSource, Fleet, load_fleet_from_str};
use crate::prom_source::{PromSnapshot, QueryKey, Readings, ServerReading, parse_reply, queries};

fn fleet() -> Fleet {
    load_fleet_from_str(
        r#"
[fleet]
name = "prod"
[prometheus]
url = "http://prom:9090"
[[prometheus.columns]]
name = "conntrack"
query = "node_nf_conntrack_entries"
warn = 100
crit = 200
[[hosts]]
name = "n1"
address = "10.0.0.1"
source = "prometheus"
disks = [{ mount = "/var/lib/geth" }]
services = [{ name = "geth", kind = "systemd", unit = "geth.service" }, { name = "app", kind = "port", port = 80 }]
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
[[hosts]]
name = "n2"
address = "10.0.0.2"
source = "both"
disks = [{ mount = "/" }]
[[hosts]]
name = "n3"
address = "10.0.0.3"
"#,
        ConfigSource::Embedded,
    )
    .unwrap()
}

type Series<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

fn vector(series: &[Series<'_>]) -> Result<Vec<crate::prom_source::Sample>, String> {
    let items: Vec<String> = series
        .iter()
        .map(|(name, labels, v)| {
            let mut l = format!("\"__name__\":\"{name}\"");
            for (k, val) in *labels {
                l.push_str(&format!(",\"{k}\":\"{val}\""));
            }
            format!("{{\"metric\":{{{l}}},\"value\":[1765100000,\"{v}\"]}}")
        })
        .collect();
    let body = format!(
        "{{\"status\":\"success\",\"data\":{{\"resultType\":\"vector\",\"result\":[{}]}}}}",
        items.join(",")
    );
    parse_reply(&body).map_err(|e| e.to_string())
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn snapshot() -> PromSnapshot {
    let i1: &[(&str, &str)] = &[("instance", "10.0.0.1:9100")];
    let fs = |m: &str, d: &str| -> Vec<(&'static str, String)> {
        vec![
            ("instance", "10.0.0.1:9100".into()),
            ("mountpoint", m.into()),
            ("device", d.into()),
            ("fstype", "ext4".into()),
        ]
    };
    let root = fs("/", "/dev/vda1");
    let var = fs("/var", "/dev/vdb1");
    fn r<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        v.iter().map(|(k, x)| (*k, x.as_str())).collect()
    }
    let (root, var) = (r(&root), r(&var));
    let results = vec![
        (
            QueryKey::Up,
            vector(&[
                ("up", i1, "1"),
                ("up", &[("instance", "10.0.0.2:9100")], "1"),
                ("up", &[("instance", "unrelated:9100")], "0"),
            ]),
        ),
        (
            QueryKey::FsSize,
            vector(&[
                ("node_filesystem_size_bytes", &root, "1000"),
                ("node_filesystem_size_bytes", &var, "4000"),
            ]),
        ),
        (
            QueryKey::FsAvail,
            vector(&[
                ("node_filesystem_avail_bytes", &root, "500"),
                ("node_filesystem_avail_bytes", &var, "900"),
            ]),
        ),
        (
            QueryKey::FsFree,
            vector(&[
                ("node_filesystem_free_bytes", &root, "600"),
                ("node_filesystem_free_bytes", &var, "1000"),
            ]),
        ),
        (QueryKey::Load1, vector(&[("node_load1", i1, "0.5")])),
        (QueryKey::Load5, vector(&[("node_load5", i1, "0.25")])),
        (QueryKey::Load15, vector(&[("node_load15", i1, "0.125")])),
        (QueryKey::Uptime, vector(&[("", i1, "3600.7")])),
        (
            QueryKey::Systemd,
            vector(&[(
                "node_systemd_unit_state",
                &[
                    ("instance", "10.0.0.1:9100"),
                    ("name", "geth.service"),
                    ("state", "failed"),
                ],
                "1",
            )]),
        ),
        // geth's own endpoint: another port of the same address.
        (
            QueryKey::ChainHeight(crate::inventory::ChainKind::Ethereum),
            vector(&[("chain_head_block", &[("instance", "10.0.0.1:6060")], "1234")]),
        ),
        (
            QueryKey::FdServiceState,
            vector(&[(
                "fleetdeck_service_state",
                &[("host", "n1"), ("service", "app"), ("state", "running")],
                "1",
            )]),
        ),
        (
            QueryKey::FdDiskUsed,
            vector(&[(
                "fleetdeck_disk_used_ratio",
                &[("host", "n2"), ("mount", "/")],
                "0.5",
            )]),
        ),
        (
            QueryKey::Column(0),
            vector(&[
                (
                    "node_nf_conntrack_entries",
                    &[("instance", "10.0.0.1:9100")],
                    "150",
                ),
                (
                    "node_nf_conntrack_entries",
                    &[("instance", "10.0.0.3:9100")],
                    "3",
                ),
            ]),
        ),
    ];
    PromSnapshot {
        at: at(1000),
        servers: vec![ServerReading {
            server: 0,
            url: "http://prom:9090".into(),
            result: Ok(Readings::fold(&fleet(), 0, results)),
            elapsed: Duration::from_millis(20),
        }],
    }
}

/// What a round keeps of an answer: only series of its hosts, without the labels that mapped
/// them, each string once for the round, and a host's series in the order Prometheus gave.
#[test]
fn a_folded_answer_keeps_only_its_hosts_series_and_shares_strings() {
    let f = fleet();
    let labels = |instance, mountpoint| {
        [
            ("instance", instance),
            ("device", "/dev/vda1"),
            ("mountpoint", mountpoint),
            ("job", "node"),
        ]
    };
    let (n1_root, unknown, n2_root, n1_var) = (
        labels("10.0.0.1:9100", "/"),
        labels("10.9.9.9:9100", "/"),
        labels("10.0.0.2:9100", "/"),
        labels("10.0.0.1:9100", "/var"),
    );
    let size = "node_filesystem_size_bytes";
    let r = Readings::fold(
        &f,
        0,
        vec![(
            QueryKey::FsSize,
            vector(&[
                (size, &n1_root, "1"),
                (size, &unknown, "2"),
                (size, &n2_root, "3"),
                (size, &n1_var, "4"),
            ]),
        )],
    );
    let Ok(folded) = &r.results[0].1 else {
        panic!("refused")
    };
    assert_eq!(
        folded.samples.len(),
        3,
        "the unknown host's series is dropped"
    );
    let n1: Vec<f64> = r.exact(QueryKey::FsSize, 0).map(|s| s.value).collect();
    assert_eq!(n1, [1.0, 4.0]);
    let n2: Vec<f64> = r.exact(QueryKey::FsSize, 1).map(|s| s.value).collect();
    assert_eq!(n2, [3.0]);
    assert_eq!(r.exact(QueryKey::FsSize, 2).count(), 0);
    assert_eq!(r.exact(QueryKey::Up, 0).count(), 0, "a query not asked");
    let kept: Vec<&str> = folded.samples[0].labels.keys().collect();
    assert_eq!(kept, ["device", "mountpoint"], "instance and job go");
    let device = |k: usize| folded.samples[k].labels.iter().next().unwrap().1.as_ptr();
    assert_eq!(device(0), device(1), "one copy of /dev/vda1 for every host");
}

#[test]
fn queries_are_one_per_metric_for_the_whole_fleet() {
    let f = fleet();
    let q = queries(&f, 0);
    let systemd: Vec<_> = q.iter().filter(|q| q.key == QueryKey::Systemd).collect();
    assert_eq!(systemd.len(), 1);
    assert_eq!(
        systemd[0].promql,
        "node_systemd_unit_state{name=~\"geth\\\\.service\"} == 1"
    );
    assert!(q.iter().any(|q| q.promql == "chain_head_block"));
    assert!(
        q.iter()
            .any(|q| q.key == QueryKey::Column(0) && q.promql == "node_nf_conntrack_entries")
    );
    // The same list for 3 hosts as for 3,000: nothing per host.
    let keys: std::collections::BTreeSet<String> =
        q.iter().map(|q| format!("{:?}", q.key)).collect();
    assert_eq!(keys.len(), q.len());
}

#[test]
fn series_map_to_hosts_by_label_with_each_cell() {
    let f = fleet();
    let obs = observations(&snapshot(), &f, at(1000));
    assert_eq!(obs.sources.len(), 1);
    assert!(obs.sources[0].ok);
    assert_eq!(obs.hosts.len(), 3);
    let n1 = &obs.hosts[0];
    assert_eq!(n1.instance, "10.0.0.1:9100");
    assert_eq!(n1.up, Ok(true));
    let load = n1.probed.load.unwrap();
    assert_eq!((load.one, load.five, load.fifteen), (0.5, 0.25, 0.125));
    assert_eq!(n1.probed.uptime, Some(Duration::from_secs_f64(3600.7)));
    // /var/lib/geth lives on /var: the longest mount point holding it, as `df PATH` says.
    let disk = n1.probed.disks[0].usage.as_ref().unwrap();
    assert_eq!(disk.mounted_on, "/var");
    assert_eq!(
        (disk.total_bytes, disk.avail_bytes, disk.used_bytes),
        (4000, 900, 3000)
    );
    assert!((disk.used_percent - 3000.0 * 100.0 / 3900.0).abs() < 1e-9);
    assert_eq!(n1.probed.services[0].state, ServiceState::Failed);
    // A non-systemd service from fleetdeck's own series.
    assert_eq!(n1.probed.services[1].state, ServiceState::Running);
    let chain = n1.probed.chain.as_ref().unwrap();
    assert_eq!(chain.height, Metric::Value(1234));
    assert!(matches!(chain.peers, Metric::Unavailable(_)));
    assert_eq!(n1.columns[0].value, Some(150.0));
    // n2: the disk from fleetdeck_disk_used_ratio, nothing else.
    let n2 = &obs.hosts[1];
    assert_eq!(
        n2.probed.disks[0].usage.as_ref().unwrap().used_percent,
        50.0
    );
    assert_eq!(n2.probed.load, None);
    // n3 has no `up` series: a clear reason naming the label and value.
    assert_eq!(
        obs.hosts[2].up,
        Err(
            "Prometheus has no `up` (or fleetdeck_host_up) series for instance=\"10.0.0.3:9100\""
                .into()
        )
    );
    assert_eq!(obs.hosts[2].columns[0].value, Some(3.0));
}

#[test]
fn a_failed_server_gives_its_state_and_no_host_readings() {
    let f = fleet();
    let mut snap = snapshot();
    snap.servers[0].result = Err("could not connect".into());
    let obs = observations(&snap, &f, at(1000));
    assert!(!obs.sources[0].ok);
    assert_eq!(obs.sources[0].error.as_deref(), Some("could not connect"));
    assert!(obs.hosts.is_empty());
}

#[test]
fn the_store_marks_cells_and_raises_source_unavailable() {
    use crate::store::{Msg, Store};
    let f = std::sync::Arc::new(fleet());
    let mut store = Store::new(f.clone());
    store.update(Msg::Tick { now: at(1000) });
    store.update(Msg::Prom(observations(&snapshot(), &f, at(1000))));
    store.update(Msg::Tick { now: at(1001) });
    let hs = &store.state().hosts[0];
    assert_eq!(hs.reachable(), Some(true));
    assert_eq!(hs.cells.load, CellSource::Prometheus);
    let rules: Vec<&str> = store.health()[0].alerts.iter().map(|a| a.rule).collect();
    assert!(rules.contains(&"service_down"), "{rules:?}");
    assert!(rules.contains(&"column_warning"), "{rules:?}");
    // n3 reads over SSH: never polled, still unknown; its column is judged anyway.
    assert!(store.health()[2].alerts.is_empty());

    let mut snap = snapshot();
    snap.at = at(1010);
    snap.servers[0].result = Err("no answer within 10s".into());
    store.update(Msg::Prom(observations(&snap, &f, at(1010))));
    store.update(Msg::Tick { now: at(1011) });
    for h in [0, 1] {
        let a: Vec<_> = store.health()[h]
            .alerts
            .iter()
            .filter(|a| a.rule == "source_unavailable")
            .collect();
        assert_eq!(a.len(), 1, "host {h}");
        assert_eq!(a[0].subject, "http://prom:9090");
        assert!(a[0].message.contains("no answer within 10s"));
    }
    assert!(
        !store.health()[2]
            .alerts
            .iter()
            .any(|a| a.rule == "source_unavailable")
    );
    let report =
        crate::report::status_report(&f, store.state(), store.health(), &[0, 1, 2], at(1011));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["sources"][0]["ok"], false);
    assert_eq!(json["sources"][0]["age_seconds"], 11);
    assert_eq!(json["hosts"][0]["disks"][0]["source"], "prometheus");
    assert_eq!(json["hosts"][0]["load_source"], "prometheus");
    assert_eq!(json["hosts"][0]["services"][0]["source"], "prometheus");
    assert_eq!(json["hosts"][0]["chain"]["source"], "prometheus");
    assert_eq!(json["hosts"][0]["columns"][0]["value"], 150.0);
    assert_eq!(json["hosts"][0]["columns"][0]["status"], "warning");
    // The fleet table marks the row; the host pane names the source, its age and failure.
    assert_eq!(report.rows[0].reach, "prom");
    let ctx = crate::view::Ctx {
        fleet: &f,
        state: store.state(),
        health: store.health(),
        now: at(1011),
    };
    let facts = crate::view::host_facts(&ctx, 0);
    let source = facts
        .iter()
        .find(|x| x.label == "source")
        .expect("source line");
    assert_eq!(
        source.value,
        "prometheus (instance=\"10.0.0.1:9100\", read 11s ago) — http://prom:9090 did not answer: no answer within 10s"
    );
    let column = facts
        .iter()
        .find(|x| x.label == "column")
        .expect("column line");
    assert_eq!(column.value, "conntrack: 150 (warn 100, crit 200)");
    assert!(
        !crate::view::host_facts(&ctx, 2)
            .iter()
            .any(|x| x.label == "source")
    );
}

fn probed_with(load: Option<f64>, disk: Result<f64, String>, svc: ServiceState) -> Probed {
    Probed {
        load: load.map(|x| LoadAvg {
            one: x,
            five: x,
            fifteen: x,
        }),
        disks: vec![DiskObs {
            mount: "/".into(),
            usage: disk.map(|p| DiskUsage {
                filesystem: "d".into(),
                total_bytes: 100,
                used_bytes: p as u64,
                avail_bytes: 100 - p as u64,
                used_percent: p,
                mounted_on: "/".into(),
            }),
        }],
        services: vec![ServiceObs {
            name: "s".into(),
            state: svc,
            detail: String::new(),
            since: None,
            restarts: None,
        }],
        ..Probed::default()
    }
}

#[test]
fn both_ssh_wins_and_prometheus_fills_what_ssh_lacks() {
    let ssh = probed_with(None, Err("df failed".into()), ServiceState::Running);
    let prom = probed_with(Some(2.0), Ok(40.0), ServiceState::Failed);
    let (merged, cells) = merge(&ssh, &CellSources::default(), &prom);
    assert_eq!(merged.load.unwrap().one, 2.0);
    assert_eq!(cells.load, CellSource::Prometheus);
    assert_eq!(merged.disks[0].usage.as_ref().unwrap().used_percent, 40.0);
    assert_eq!(cells.disk(0), CellSource::Prometheus);
    // SSH knew the service: it wins.
    assert_eq!(merged.services[0].state, ServiceState::Running);
    assert_eq!(cells.service(0), CellSource::Ssh);
    // A later Prometheus round refreshes the cells it filled.
    let newer = probed_with(Some(3.0), Ok(41.0), ServiceState::Failed);
    let (again, _) = merge(&merged, &cells, &newer);
    assert_eq!(again.load.unwrap().one, 3.0);
    assert_eq!(again.disks[0].usage.as_ref().unwrap().used_percent, 41.0);
    assert_eq!(again.services[0].state, ServiceState::Running);
}

/// 10,000 hosts read in one round: every host finds its own series (folded once per answer and
/// found by binary search, so the mapping is not hosts × series).
#[test]
fn ten_thousand_hosts_each_find_their_series() {
    const N: usize = 10_000;
    let mut text = String::from("[prometheus]\nurl = \"http://prom:9090\"\n");
    for i in 0..N {
        text.push_str(&format!(
            "[[hosts]]\nname = \"n{i}\"\naddress = \"10.{}.{}.{}\"\nsource = \"prometheus\"\n",
            i / 65536,
            (i / 256) % 256,
            i % 256
        ));
    }
    let f = load_fleet_from_str(&text, ConfigSource::Embedded).unwrap();
    let samples = |v: &dyn Fn(usize) -> String| -> Result<Vec<crate::prom_source::Sample>, String> {
        Ok((0..N)
            .map(|i| crate::prom_source::Sample {
                labels: [(
                    "instance".to_string(),
                    f.prometheus.as_ref().unwrap().hosts[i].instance.clone(),
                )]
                .into_iter()
                .collect(),
                value: v(i).parse().unwrap(),
            })
            .collect())
    };
    let snap = PromSnapshot {
        at: at(1000),
        servers: vec![ServerReading {
            server: 0,
            url: "http://prom:9090".into(),
            result: Ok(Readings::fold(
                &f,
                0,
                vec![
                    (QueryKey::Up, samples(&|i| (i % 2).to_string())),
                    (QueryKey::Load1, samples(&|i| i.to_string())),
                    (QueryKey::Load5, samples(&|_| "1".into())),
                    (QueryKey::Load15, samples(&|_| "1".into())),
                ],
            )),
            elapsed: Duration::ZERO,
        }],
    };
    let started = std::time::Instant::now();
    let obs = observations(&snap, &f, at(1000));
    eprintln!("observations for {N} hosts: {:?}", started.elapsed());
    assert_eq!(obs.hosts.len(), N);
    for (i, h) in obs.hosts.iter().enumerate() {
        assert_eq!(h.up, Ok(i % 2 == 1));
        assert_eq!(h.probed.load.map(|l| l.one), Some(i as f64));
    }
}

/// `source = "both"`: an SSH poll's cells win, Prometheus fills the disk it could not read;
/// once SSH cannot reach the host it is unreachable and its cells are Prometheus's.
#[test]
fn both_in_the_store_merges_and_falls_back_when_ssh_is_down() {
    use crate::observation::{Observation, Unreachable, UnreachableKind};
    use crate::store::{Msg, Store};
    let f = std::sync::Arc::new(fleet());
    let mut store = Store::new(f.clone());
    store.update(Msg::Tick { now: at(1000) });
    store.update(Msg::Prom(observations(&snapshot(), &f, at(1000))));
    store.update(Msg::Observed(Observation {
        host: 1,
        started: at(1001),
        elapsed: Duration::from_millis(5),
        outcome: Ok(probed_with(
            Some(0.7),
            Err("df: no such file".into()),
            ServiceState::Running,
        )),
    }));
    store.update(Msg::Tick { now: at(1002) });
    let report = crate::report::status_report(&f, store.state(), store.health(), &[1], at(1002));
    let json = serde_json::to_value(&report).unwrap();
    let h = &json["hosts"][0];
    assert_eq!(h["load"][0], 0.7);
    assert_eq!(h["load_source"], "ssh");
    assert_eq!(h["disks"][0]["used_percent"], 50.0);
    assert_eq!(h["disks"][0]["source"], "prometheus");
    // Only the ratio travels in fleetdeck's series: no byte counts.
    assert_eq!(h["disks"][0]["total_bytes"], serde_json::Value::Null);
    assert_eq!(report.rows[0].reach, "yes+p");

    store.update(Msg::Observed(Observation {
        host: 1,
        started: at(1005),
        elapsed: Duration::from_millis(5),
        outcome: Err(Unreachable {
            kind: UnreachableKind::Connect,
            message: "connection refused".into(),
            retry_in: None,
        }),
    }));
    store.update(Msg::Tick { now: at(1006) });
    let report = crate::report::status_report(&f, store.state(), store.health(), &[1], at(1006));
    let json = serde_json::to_value(&report).unwrap();
    let h = &json["hosts"][0];
    assert_eq!(h["reachable"], false);
    assert_eq!(h["alerts"][0]["rule"], "host_unreachable");
    assert_eq!(h["disks"][0]["used_percent"], 50.0);
    assert_eq!(h["disks"][0]["source"], "prometheus");
}

use super::*;
use crate::health::evaluate;
use crate::inventory::{ConfigSource, load_fleet_from_str};
use crate::observation::*;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

const T0: u64 = 1_800_000_000;

fn fleet() -> Fleet {
    load_fleet_from_str(
        r#"
[fleet]
name = "t"
interval = "5s"
[[hosts]]
name = "a1"
address = "10.0.0.1"
groups = ["dvn", "aws"]
consensus_group = "g0"
role = "consensus"
chain = { kind = "fisco-bcos", rpc = "http://127.0.0.1:8545" }
services = [{ name = "node", kind = "systemd", unit = "fisco.service" }]
disks = [{ mount = "/data" }]
backups = [{ name = "pg", dir = "/b", pattern = "*.gz", every = "24h" }]
[[hosts]]
name = "a2"
address = "10.0.0.2"
groups = ["dvn"]
consensus_group = "g0"
role = "consensus"
chain = { kind = "fisco-bcos", rpc = "http://127.0.0.1:8545" }
[[hosts]]
name = "b1"
address = "10.0.0.3"
consensus_group = "g0"
role = "consensus"
chain = { kind = "fisco-bcos", rpc = "http://127.0.0.1:8545" }
[[hosts]]
name = "b2"
address = "10.0.0.4"
consensus_group = "g0"
role = "consensus"
chain = { kind = "fisco-bcos", rpc = "http://127.0.0.1:8545" }
"#,
        ConfigSource::Embedded,
    )
    .unwrap()
}

fn chain_obs(height: u64) -> ChainObs {
    ChainObs {
        kind: ChainKind::FiscoBcos,
        height: Metric::Value(height),
        syncing: Metric::Value(false),
        peers: Metric::Value(3),
        client: None,
    }
}

fn ok(host: usize, secs: u64, height: u64) -> Observation {
    Observation {
        host,
        started: at(secs),
        elapsed: Duration::from_millis(5),
        outcome: Ok(Probed {
            host_time: Some(secs as i64),
            chain: Some(chain_obs(height)),
            ..Probed::default()
        }),
    }
}

fn down(host: usize, secs: u64) -> Observation {
    Observation {
        host,
        started: at(secs),
        elapsed: Duration::from_secs(1),
        outcome: Err(Unreachable {
            kind: UnreachableKind::Connect,
            message: "connection refused".into(),
            retry_in: None,
        }),
    }
}

#[test]
fn data_turns_stale_after_two_intervals() {
    let f = fleet();
    let mut s = FleetState::new(4);
    s.apply(ok(0, T0, 10));
    let h = &f.hosts[0];
    assert!(!freshness(h, &s.hosts[0], at(T0 + 10)).stale, "2 × 5s");
    let late = freshness(h, &s.hosts[0], at(T0 + 11));
    assert!(late.stale);
    assert_eq!(late.text(), "11s");
    assert_eq!(freshness(h, &s.hosts[1], at(T0)), Freshness::default());
}

/// A good poll of a1 (interval 5 s) at T0 with everything, slow parts included.
fn full_poll(secs: u64) -> Observation {
    let mut o = ok(0, secs, 130);
    if let Ok(p) = &mut o.outcome {
        p.services = vec![ServiceObs {
            name: "node".into(),
            state: ServiceState::Running,
            detail: "active (running)".into(),
            since: None,
            restarts: None,
        }];
        p.disks = vec![DiskObs {
            mount: "/data".into(),
            usage: Ok(DiskUsage {
                filesystem: "/dev/vdb".into(),
                total_bytes: 100,
                used_bytes: 82,
                avail_bytes: 18,
                used_percent: 82.0,
                mounted_on: "/data".into(),
            }),
        }];
        p.certs = Some(vec![]);
        p.logs = Some(vec![]);
    }
    o
}

fn row_at(f: &Fleet, s: &FleetState, now: SystemTime) -> FleetRow {
    let health = evaluate(f, s, now);
    let ctx = Ctx {
        fleet: f,
        state: s,
        health: &health,
        now,
    };
    fleet_rows(&ctx, &[0]).remove(0)
}

#[test]
fn each_cell_turns_stale_after_twice_its_own_interval() {
    let f = fleet();
    let mut s = FleetState::new(4);
    s.apply(full_poll(T0));
    // The host stops answering: the poll at T0+8 s says so, and is itself fresh data.
    s.apply(down(0, T0 + 8));
    let ms = |m: u64| at(T0) + Duration::from_millis(m);

    // 1.9 × 5 s after the good poll: nothing is stale, nothing carries an age.
    let r = row_at(&f, &s, ms(9_500));
    for c in [r.reach(), r.services(), r.height(), r.peers(), r.disk()] {
        assert!(!c.fresh.stale, "{c:?}");
        assert_eq!(c.shown(), c.text);
    }
    assert_eq!(r.disk().shown(), "82%");
    assert!(!r.fresh.stale);

    // 2.1 × 5 s: the cells read at T0 are stale and say how old; REACH, read at T0+8 s,
    // is not. AGE is the oldest cell.
    let r = row_at(&f, &s, ms(10_500));
    assert_eq!(r.disk().shown(), "82% ·10s");
    assert_eq!(r.height().shown(), "130 ·10s");
    assert_eq!(r.peers().shown(), "3 ·10s");
    assert_eq!(r.services().shown(), "?/1 ·10s");
    assert!(r.disk().fresh.stale && r.services().fresh.stale);
    assert_eq!(
        (r.reach().shown().as_ref(), r.reach().fresh.stale),
        ("no", false)
    );
    assert_eq!(r.reach().fresh.age, Some(Duration::from_millis(2_500)));
    assert_eq!(r.fresh.age, Some(Duration::from_millis(10_500)));
    assert!(r.fresh.stale);
    assert_eq!(r.backup().shown(), "-", "nothing read: no age, never stale");
    assert_eq!(r.keys.age, Some(10));

    // REACH goes stale on its own clock: 2.1 × 5 s after its poll.
    assert!(!row_at(&f, &s, ms(8_000 + 9_500)).reach().fresh.stale);
    assert!(row_at(&f, &s, ms(8_000 + 10_500)).reach().fresh.stale);

    // Slower parts have their own intervals: logs 30 s, facts and certificates 300 s.
    let h = &f.hosts[0];
    let hs = &s.hosts[0];
    for (part, every) in [(Part::Logs, 30), (Part::Facts, 300), (Part::Certs, 300)] {
        assert_eq!(part.interval(h), Duration::from_secs(every));
        let fresh = |x10: u64| part.freshness(h, hs, ms(every * 100 * x10)).stale;
        if part == Part::Facts {
            assert_eq!(part.read_at(hs), None, "never read: never stale");
            assert!(!fresh(21));
            continue;
        }
        assert!(!fresh(19), "{part:?} at 1.9 × {every}s");
        assert!(fresh(21), "{part:?} at 2.1 × {every}s");
    }
    assert_eq!(Part::Disks.interval(h), Duration::from_secs(5));
}

#[test]
fn data_cells_show_their_age_only_when_stale() {
    let stale = Freshness {
        age: Some(Duration::from_secs(190)),
        stale: true,
    };
    let fresh = Freshness {
        age: Some(Duration::from_secs(4)),
        stale: false,
    };
    let c = DataCell::new("82%", stale);
    assert_eq!(c.shown(), "82% ·3m");
    assert_eq!(c.width(), "82% ·3m".chars().count());
    let c = DataCell::new("82%", fresh);
    assert_eq!((c.shown().as_ref(), c.width()), ("82%", 3));
    for secs in [
        0,
        9,
        10,
        59,
        60,
        599,
        3599,
        3600,
        86_399,
        86_400,
        999 * 86_400,
    ] {
        let c = DataCell::new(
            "x",
            Freshness {
                age: Some(Duration::from_secs(secs)),
                stale: true,
            },
        );
        assert_eq!(c.width(), c.shown().chars().count(), "{secs}s");
    }
    assert_eq!(fresh.oldest(stale), stale);
    assert_eq!(Freshness::default().oldest(fresh), fresh);
    assert_eq!(Freshness::default().suffix(), "");
}

#[test]
fn hosts_group_by_their_region_or_their_profiles() {
    let f = load_fleet_from_str(
        r#"
[profiles.eu]
region = "eu-west-1"
[[hosts]]
name = "a1"
profile = "eu"
[[hosts]]
name = "a2"
region = "us-east-1"
[[hosts]]
name = "b1"
profile = "eu"
region = "us-east-1"
[[hosts]]
name = "b2"
"#,
        ConfigSource::Embedded,
    )
    .unwrap();
    let s = FleetState::new(4);
    let health = evaluate(&f, &s, at(T0));
    let ctx = Ctx {
        fleet: &f,
        state: &s,
        health: &health,
        now: at(T0),
    };
    let rows = fleet_rows(&ctx, &[0, 1, 2, 3]);
    assert_eq!(region_of(&f.hosts[0]), Some("eu-west-1"));
    assert_eq!(rows[2].region.as_deref(), Some("us-east-1"), "own wins");
    let q = FleetQuery {
        group_by: GroupBy::Region,
        ..FleetQuery::default()
    };
    assert_eq!(
        names(&rows, &arrange(&rows, &q)),
        [
            "[eu-west-1 1]",
            "a1",
            "[us-east-1 2]",
            "a2",
            "b1",
            "[(no region) 1]",
            "b2"
        ]
    );
    let q = FleetQuery {
        filter: Filter::parse("us-*").unwrap(),
        ..FleetQuery::default()
    };
    assert_eq!(
        names(&rows, &arrange(&rows, &q)),
        ["a2", "b1"],
        "/ looks at regions"
    );
}

#[test]
fn quorum_arithmetic() {
    let q = |n, healthy| Quorum {
        n,
        f: (n - 1) / 3,
        healthy,
        on_chain: None,
    };
    assert_eq!(q(4, 4).status(), Status::Ok);
    assert!(q(4, 3).one_from_stalling());
    assert_eq!(q(4, 3).status(), Status::Critical);
    assert!(q(4, 2).stalled());
    assert_eq!(q(7, 6).status(), Status::Warning, "F=2, one down");
    assert!(q(7, 5).one_from_stalling());
    assert_eq!(
        q(4, 3).text(),
        "N=4 F=1 healthy 3/4 — one failure from stalling"
    );
    assert_eq!(q(3, 3).text(), "N=3 F=0 healthy 3/3 — no failure tolerated");
    let mut listed = q(4, 4);
    listed.on_chain = Some(5);
    assert_eq!(listed.text(), "N=4 F=1 healthy 4/4 (chain lists 5 sealers)");
}

#[test]
fn a_consensus_group_with_one_member_down_is_one_failure_from_stalling() {
    let f = fleet();
    let mut s = FleetState::new(4);
    for i in 0..3 {
        s.apply(ok(i, T0 - 60, 100));
        s.apply(ok(i, T0, 130));
    }
    s.apply(down(3, T0));
    let health = evaluate(&f, &s, at(T0));
    let ctx = Ctx {
        fleet: &f,
        state: &s,
        health: &health,
        now: at(T0),
    };
    let sums = chain_summaries(&ctx, &[0, 1, 2, 3]);
    assert_eq!(sums.len(), 1);
    let q = sums[0].quorum.unwrap();
    assert_eq!((q.n, q.f, q.healthy), (4, 1, 3));
    assert_eq!(sums[0].status, Status::Critical);
    assert_eq!(sums[0].chain, "fisco-bcos/g0");
    assert_eq!(sums[0].best, "130");
    assert_eq!(sums[0].blocks_per_min, "30");
    let rows = chain_rows(&ctx, &[0, 3]);
    assert_eq!(rows[0].spark, vec![0, 30]);
    assert_eq!(rows[0].role, "consensus");
    assert_eq!(rows[0].problem, "");
    assert_eq!(rows[1].height, "-");
    assert_eq!(rows[1].problem, "unreachable: connection refused");
}

#[test]
fn filters_are_globs_regexes_or_text_and_invert() {
    let keep = |f: &str, fields: &[&str]| {
        Filter::parse(f)
            .unwrap()
            .unwrap()
            .keeps(fields.iter().copied())
    };
    assert!(keep("dvn-*", &["dvn-aws-1"]));
    assert!(!keep("dvn-*", &["xdvn-aws-1"]), "globs match whole fields");
    assert!(keep("^h[12]$", &["h2"]));
    assert!(!keep("^h[12]$", &["h3"]));
    assert!(keep("AWS", &["dvn-aws-1"]), "text is a substring, any case");
    assert!(keep("!aws", &["dvn-ali-1"]));
    assert!(!keep("!aws", &["dvn-aws-1"]));
    assert!(keep("h.*2", &["h12"]));
    assert!(Filter::parse("  ").unwrap().is_none());
    assert!(Filter::parse("!").unwrap().is_none());
    let e = Filter::parse("(unclosed").unwrap_err();
    assert!(e.starts_with("invalid regex \"(unclosed\""), "{e}");
}

/// Four hosts on one ethereum chain, no consensus group (so one host's trouble stays its
/// own).
fn plain_fleet() -> Fleet {
    load_fleet_from_str(
        r#"
[fleet]
name = "t"
interval = "5s"
[[hosts]]
name = "a1"
address = "10.0.0.1"
groups = ["dvn", "aws"]
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
services = [{ name = "node", kind = "systemd", unit = "geth.service" }]
[[hosts]]
name = "a2"
address = "10.0.0.2"
groups = ["dvn"]
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
[[hosts]]
name = "b1"
address = "10.0.0.3"
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
[[hosts]]
name = "b2"
address = "10.0.0.4"
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
"#,
        ConfigSource::Embedded,
    )
    .unwrap()
}

fn rows_for_arrange() -> Vec<FleetRow> {
    let f = plain_fleet();
    let mut s = FleetState::new(4);
    s.apply(ok(0, T0, 100));
    s.apply(ok(1, T0, 90));
    s.apply(down(2, T0));
    let health = evaluate(&f, &s, at(T0));
    let ctx = Ctx {
        fleet: &f,
        state: &s,
        health: &health,
        now: at(T0),
    };
    fleet_rows(&ctx, &[0, 1, 2, 3])
}

fn names(rows: &[FleetRow], lines: &[FleetLine]) -> Vec<String> {
    lines
        .iter()
        .map(|l| match l {
            FleetLine::Group { label, hosts, .. } => format!("[{label} {hosts}]"),
            FleetLine::Host(i) => rows[*i].name.clone(),
        })
        .collect()
}

#[test]
fn arranging_sorts_filters_and_groups() {
    let rows = rows_for_arrange();
    let q = FleetQuery::default();
    assert_eq!(names(&rows, &arrange(&rows, &q)), ["a1", "a2", "b1", "b2"]);
    let q = FleetQuery {
        worst_first: true,
        ..FleetQuery::default()
    };
    assert_eq!(
        names(&rows, &arrange(&rows, &q)),
        ["b1", "a2", "b2", "a1"],
        "critical, warning (lag 10), unknown, ok"
    );
    let q = FleetQuery {
        sort: SortColumn::Height,
        ..FleetQuery::default()
    };
    assert_eq!(
        names(&rows, &arrange(&rows, &q)),
        ["a2", "a1", "b1", "b2"],
        "lowest height first, unknown last"
    );
    let q = FleetQuery {
        sort: SortColumn::Height,
        reverse: true,
        ..FleetQuery::default()
    };
    assert_eq!(names(&rows, &arrange(&rows, &q))[0], "a1");
    let q = FleetQuery {
        group_by: GroupBy::Group,
        ..FleetQuery::default()
    };
    assert_eq!(
        names(&rows, &arrange(&rows, &q)),
        [
            "[aws 1]",
            "a1",
            "[dvn 2]",
            "a1",
            "a2",
            "[(no group) 2]",
            "b1",
            "b2"
        ]
    );
    let q = FleetQuery {
        filter: Filter::parse("!a*").unwrap(),
        ..FleetQuery::default()
    };
    assert_eq!(names(&rows, &arrange(&rows, &q)), ["b1", "b2"]);
    let q = FleetQuery {
        group: Some("dvn".into()),
        ..FleetQuery::default()
    };
    assert_eq!(names(&rows, &arrange(&rows, &q)), ["a1", "a2"]);
    let q = FleetQuery {
        filter: Filter::parse("critical").unwrap(),
        ..FleetQuery::default()
    };
    assert_eq!(
        names(&rows, &arrange(&rows, &q)),
        ["b1"],
        "status is a field"
    );
}

#[test]
fn unreachable_hosts_show_services_as_unknown_not_down() {
    let f = fleet();
    let mut s = FleetState::new(4);
    let mut first = ok(0, T0, 100);
    if let Ok(p) = &mut first.outcome {
        p.services = vec![ServiceObs {
            name: "node".into(),
            state: ServiceState::Running,
            detail: "active (running)".into(),
            since: None,
            restarts: None,
        }];
    }
    s.apply(first);
    s.apply(down(0, T0 + 5));
    let health = evaluate(&f, &s, at(T0 + 5));
    let ctx = Ctx {
        fleet: &f,
        state: &s,
        health: &health,
        now: at(T0 + 20),
    };
    let r = &fleet_rows(&ctx, &[0])[0];
    assert_eq!(r.services().text, "?/1");
    assert_eq!(r.services().shown(), "?/1 ·20s");
    assert_eq!(r.reach().text, "no");
    assert!(r.fresh.stale);
    assert_eq!(r.height().shown(), "100 ·20s", "last known, shown stale");
    let svc = &service_rows(&ctx, &[0])[0];
    assert_eq!(svc.state, "unknown");
    assert!(svc.detail.contains("last seen running"), "{}", svc.detail);
}

#[test]
fn backups_show_size_change_and_shrink() {
    let f = fleet();
    let mut s = FleetState::new(4);
    s.apply(Observation {
        host: 0,
        started: at(T0),
        elapsed: Duration::from_millis(5),
        outcome: Ok(Probed {
            host_time: Some(T0 as i64),
            backups: vec![BackupObs {
                name: "pg".into(),
                latest: Ok(Some(BackupFile {
                    path: "/b/2027-01-15.gz".into(),
                    mtime: T0 as i64 - 3600,
                    size_bytes: 100 * 1024 * 1024,
                })),
                previous: Some(BackupFile {
                    path: "/b/2027-01-14.gz".into(),
                    mtime: T0 as i64 - 90000,
                    size_bytes: 1024 * 1024 * 1024,
                }),
            }],
            ..Probed::default()
        }),
    });
    let health = evaluate(&f, &s, at(T0));
    let ctx = Ctx {
        fleet: &f,
        state: &s,
        health: &health,
        now: at(T0),
    };
    let b = &backup_rows(&ctx, &[0])[0];
    assert_eq!(b.newest, "2027-01-15.gz");
    assert_eq!(b.age, "1h");
    assert_eq!(b.size, "100 MiB");
    assert_eq!(b.change, "-90%");
    assert!(b.shrunk && !b.stale);
    assert_eq!(b.status, Status::Critical);
}

/// Issue 10: 1,000 bytes after 200,000 is 99.5% smaller, in the pane and in the alert.
#[test]
fn a_nearly_empty_backup_is_not_shown_100_percent_smaller() {
    let f = fleet();
    let mut s = FleetState::new(4);
    let file = |path: &str, mtime: i64, size_bytes: u64| BackupFile {
        path: path.into(),
        mtime,
        size_bytes,
    };
    s.apply(Observation {
        host: 0,
        started: at(T0),
        elapsed: Duration::from_millis(5),
        outcome: Ok(Probed {
            host_time: Some(T0 as i64),
            backups: vec![BackupObs {
                name: "pg".into(),
                latest: Ok(Some(file("/b/2027-01-15.gz", T0 as i64 - 3600, 1_000))),
                previous: Some(file("/b/2027-01-14.gz", T0 as i64 - 90000, 200_000)),
            }],
            ..Probed::default()
        }),
    });
    let health = evaluate(&f, &s, at(T0));
    let ctx = Ctx {
        fleet: &f,
        state: &s,
        health: &health,
        now: at(T0),
    };
    assert_eq!(backup_rows(&ctx, &[0])[0].change, "-99.5%");
    let alert = health[0]
        .alerts
        .iter()
        .find(|a| a.rule == "backup_shrunk")
        .expect("shrunk");
    assert_eq!(alert.value.as_deref(), Some("-99.5%"));
    assert!(
        alert.message.contains("is 99.5% smaller"),
        "{}",
        alert.message
    );
}

#[test]
fn human_units() {
    assert_eq!(human_bytes(512), "512 B");
    assert_eq!(human_bytes(1536), "1.5 KiB");
    assert_eq!(human_bytes(50 * 1024 * 1024 * 1024), "50 GiB");
    assert_eq!(
        humantime_short(Duration::from_secs(3 * 86400 + 4 * 3600)),
        "3d 4h"
    );
    assert_eq!(humantime_short(Duration::from_secs(250)), "4m 10s");
}

#[test]
fn problems_first_orders_worst_then_newest_problem_then_the_column() {
    let mut rows = rows_for_arrange();
    let q = FleetQuery {
        problems_first: true,
        ..FleetQuery::default()
    };
    // b1 critical, a2 warning; then a1 ok and b2 unknown (not polled yet) in inventory order.
    assert_eq!(names(&rows, &arrange(&rows, &q)), ["b1", "a2", "a1", "b2"]);
    // Same status: the newest problem first.
    rows[1].core.status = Status::Critical;
    rows[1].problem_since = Some(at(T0));
    rows[2].problem_since = Some(at(T0 - 60));
    assert_eq!(names(&rows, &arrange(&rows, &q)), ["a2", "b1", "a1", "b2"]);
    // A chosen column orders inside each part; problems stay first.
    let q = FleetQuery {
        problems_first: true,
        sort: SortColumn::Name,
        reverse: true,
        ..FleetQuery::default()
    };
    assert_eq!(names(&rows, &arrange(&rows, &q)), ["b1", "a2", "b2", "a1"]);
}

/// The console reuses rows of an unchanged state as time passes (`refresh_fleet_rows`): at
/// every step they must equal rows built from scratch — ages, the AGE key, a stale note that
/// appears, moves and goes, a verdict that changes with time, a backup age read from the
/// clock when the host gave none.
#[test]
fn reused_fleet_rows_equal_rows_built_from_scratch_as_time_passes() {
    let f = fleet();
    let hosts = [0, 1, 2, 3];
    for host_clock in [true, false] {
        let mut s = FleetState::new(4);
        let mut poll = full_poll(T0);
        if let Ok(p) = &mut poll.outcome {
            p.backups = vec![BackupObs {
                name: "pg".into(),
                latest: Ok(Some(BackupFile {
                    path: "/b/1.gz".into(),
                    mtime: T0 as i64 - 3_600,
                    size_bytes: 10,
                })),
                previous: None,
            }];
            if !host_clock {
                p.host_time = None;
            }
        }
        s.apply(poll);
        s.apply(ok(1, T0, 130));
        s.apply(down(2, T0));
        let mut previous = Vec::new();
        let mut same_state = false;
        for dt in [0, 3, 11, 12, 75, 400, 4_000, 4_000] {
            let now = at(T0 + dt);
            let health = evaluate(&f, &s, now);
            let ctx = Ctx {
                fleet: &f,
                state: &s,
                health: &health,
                now,
            };
            let fresh = fleet_rows(&ctx, &hosts);
            let reused = refresh_fleet_rows(&ctx, &hosts, previous, same_state);
            assert_eq!(reused, fresh, "host clock {host_clock}, {dt} s later");
            previous = reused;
            same_state = true;
        }
        // A new poll: the caller says the state changed, and the rows follow it.
        s.apply(ok(1, T0 + 4_001, 131));
        let now = at(T0 + 4_002);
        let health = evaluate(&f, &s, now);
        let ctx = Ctx {
            fleet: &f,
            state: &s,
            health: &health,
            now,
        };
        assert_eq!(
            refresh_fleet_rows(&ctx, &hosts, previous, false),
            fleet_rows(&ctx, &hosts)
        );
    }
}

/// After a poll of one host, the console rebuilds that host's rows and reuses the others'
/// (`refresh_fleet_rows_since`, `refresh_disk_rows`, `refresh_backup_rows`): at every step
/// they must equal rows built from scratch — the changed host's cells, the other hosts' lag
/// and group verdicts that moved with it, ages, and backup ages read from the clock.
#[test]
fn rows_rebuilt_per_changed_host_equal_rows_built_from_scratch() {
    let f = fleet();
    let hosts = [0, 1, 2, 3];
    for host_clock in [true, false] {
        let mut s = FleetState::new(4);
        let with_backup = |mut poll: Observation, mtime: i64| {
            if let Ok(p) = &mut poll.outcome {
                p.backups = vec![BackupObs {
                    name: "pg".into(),
                    latest: Ok(Some(BackupFile {
                        path: "/b/1.gz".into(),
                        mtime,
                        size_bytes: 10,
                    })),
                    previous: None,
                }];
                if !host_clock {
                    p.host_time = None;
                }
            }
            poll
        };
        s.apply(with_backup(full_poll(T0), T0 as i64 - 3_600));
        for h in 1..4 {
            s.apply(ok(h, T0, 130));
        }
        let (mut rows, mut disks, mut backups) = (Vec::new(), Vec::new(), Vec::new());
        let mut built_at = None;
        let steps: [(u64, Option<Observation>); 7] = [
            (0, None),
            (1, Some(ok(1, T0 + 1, 131))),
            // b1 ahead by 20: the others lag without a poll of their own.
            (2, Some(ok(2, T0 + 2, 151))),
            (3, Some(down(3, T0 + 3))),
            (4, Some(with_backup(full_poll(T0 + 4), T0 as i64 - 7_200))),
            (90_000, None),
            (90_001, Some(ok(3, T0 + 90_001, 152))),
        ];
        for (dt, poll) in steps {
            if let Some(poll) = poll {
                s.apply(poll);
            }
            let now = at(T0 + dt);
            let health = evaluate(&f, &s, now);
            let ctx = Ctx {
                fleet: &f,
                state: &s,
                health: &health,
                now,
            };
            rows = refresh_fleet_rows_since(&ctx, &hosts, rows, built_at);
            assert_eq!(
                rows,
                fleet_rows(&ctx, &hosts),
                "host clock {host_clock}, +{dt} s"
            );
            disks = refresh_disk_rows(&ctx, &hosts, disks, built_at, |_| true);
            assert_eq!(disks, disk_rows(&ctx, &hosts), "+{dt} s");
            backups = refresh_backup_rows(&ctx, &hosts, backups, built_at, |_| true);
            assert_eq!(backups, backup_rows(&ctx, &hosts), "+{dt} s");
            built_at = Some(s.version);
        }
    }
}

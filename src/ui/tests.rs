//! Render tests of the console: every pane at 80×24 and 120×40 with an injected clock (insta
//! snapshots of the text), colours of status and stale cells asserted cell by cell, and the
//! key, mouse, palette and filter paths driven through `App` without a terminal.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Modifier;

use super::palette::Command;
use super::*;
use crate::inventory::{ChainKind, ConfigSource, load_fleet_from_str};
use crate::observation::*;

const T0: u64 = 1_800_000_000;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn now() -> SystemTime {
    at(T0)
}

// Inventory order: these screens were drawn before problems-first became the default; the
// default order has its own tests (`problems_first_*`).
const INVENTORY: &str = r#"
[fleet]
name = "dvn-prod"
interval = "5s"

[ui]
sort = "inventory"

[thresholds]
cert_warn_days = 30

[profiles.fisco]
services = [
  { name = "fisco-node", kind = "systemd", unit = "fisco-node.service" },
  { name = "agency", kind = "docker", container = "agency" },
]
chain = { kind = "fisco-bcos", rpc = "http://127.0.0.1:8545", group = "group0" }
disks = [{ mount = "/data" }]
certs = [{ name = "node", path = "~/nodes/conf/ssl.crt" }, { name = "sdk", path = "~/sdk/sdk.crt" }]
logs = [{ name = "node", file = "~/nodes/log/log.log", format = "fisco" }]

[[hosts]]
name = "fisco-1"
address = "10.0.1.10"
profile = "fisco"
groups = ["fisco", "aws"]
consensus_group = "group0"
role = "consensus"

[[hosts]]
name = "fisco-2"
address = "10.0.1.11"
profile = "fisco"
groups = ["fisco", "aws"]
consensus_group = "group0"
role = "consensus"

[[hosts]]
name = "fisco-3"
address = "10.0.2.10"
profile = "fisco"
groups = ["fisco", "ali"]
consensus_group = "group0"
role = "consensus"

[[hosts]]
name = "fisco-4"
address = "10.0.2.11"
profile = "fisco"
groups = ["fisco", "ali"]
consensus_group = "group0"
role = "consensus"

[[hosts]]
name = "dvn-pg-1"
address = "10.0.3.10"
groups = ["dvn"]
services = [
  { name = "postgres", kind = "systemd", unit = "postgresql.service" },
  { name = "dvn-api", kind = "http", url = "http://127.0.0.1:8080/health" },
]
disks = [{ mount = "/" }, { mount = "/var/lib/postgresql" }]
backups = [{ name = "postgres", dir = "/var/backups/pg", pattern = "*-postgres-backup.sql.gz", every = "24h" }]
logs = [{ name = "api", unit = "dvn-api.service" }]

[profiles.geth]
services = [{ name = "geth", kind = "systemd", unit = "geth.service" }]
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
disks = [{ mount = "/" }]

[[hosts]]
name = "dvn-geth-1"
address = "10.0.3.11"
profile = "geth"
groups = ["dvn"]

[[hosts]]
name = "dvn-geth-2"
address = "10.0.3.12"
profile = "geth"
groups = ["dvn"]

[[hosts]]
name = "dvn-spare"
address = "10.0.3.13"
groups = ["dvn"]
"#;

fn usage(mount: &str, total_gib: u64, percent: f64) -> DiskObs {
    let total = total_gib << 30;
    let used = (total as f64 * percent / 100.0) as u64;
    DiskObs {
        mount: mount.into(),
        usage: Ok(DiskUsage {
            filesystem: "/dev/vdb".into(),
            total_bytes: total,
            used_bytes: used,
            avail_bytes: total - used,
            used_percent: percent,
            mounted_on: mount.into(),
        }),
    }
}

fn svc(name: &str, state: ServiceState, detail: &str, since_ago: i64) -> ServiceObs {
    ServiceObs {
        name: name.into(),
        state,
        detail: detail.into(),
        since: Some(T0 as i64 - since_ago),
        restarts: Some(0),
    }
}

fn facts() -> HostFacts {
    HostFacts {
        kernel: Metric::Value(KernelInfo {
            os: "Linux".into(),
            hostname: "fisco-1".into(),
            release: "6.1.0-13-amd64".into(),
            machine: "x86_64".into(),
        }),
        os: Metric::Value("Debian GNU/Linux 12 (bookworm)".into()),
        cpu: Metric::Value(CpuInfo {
            count: 8,
            sockets: Some(1),
            models: vec![CpuModel {
                name: "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz".into(),
                count: 8,
            }],
        }),
        memory: Metric::Value(MemoryInfo {
            total_bytes: 32 << 30,
            available_bytes: 20 << 30,
            swap_total_bytes: 0,
            swap_free_bytes: 0,
        }),
        filesystems: Metric::Value(vec![
            Filesystem {
                fs_type: Some("ext4".into()),
                usage: usage("/", 40, 23.0).usage.unwrap(),
            },
            Filesystem {
                fs_type: Some("xfs".into()),
                usage: usage("/data", 500, 55.0).usage.unwrap(),
            },
        ]),
        interfaces: Metric::Value(vec![NetInterface {
            name: "eth0".into(),
            mac: "52:54:00:12:34:56".into(),
            state: Some("up".into()),
        }]),
        logins: Metric::Value(vec![Login {
            user: "alice".into(),
            tty: "pts/0".into(),
            from: "10.8.0.2".into(),
            at: Some(T0 as i64 - 7200),
            when: "2027-01-15 06:00".into(),
            session: "still logged in".into(),
            night: false,
        }]),
        dmi: Metric::Unavailable("no /sys/class/dmi".into()),
    }
}

fn certs(node_days: i64, sdk_days: i64) -> Vec<CertObs> {
    let cert = |name: &str, path: &str, days: i64| CertObs {
        name: name.into(),
        path: path.into(),
        info: Metric::Value(CertInfo {
            not_after: T0 as i64 + days * 86_400,
            not_before: None,
            subject: format!("CN={name},O=fisco"),
            issuer: Some("CN=agency".into()),
        }),
    };
    vec![
        cert("node", "~/nodes/conf/ssl.crt", node_days),
        cert("sdk", "~/sdk/sdk.crt", sdk_days),
    ]
}

fn fisco_log(errors: u64) -> Vec<LogObs> {
    vec![LogObs {
        name: "node".into(),
        summary: Ok(LogSummary {
            lines_read: 500,
            window_seconds: 600,
            window_complete: true,
            errors,
            warnings: 2,
            pattern_matches: 0,
            by_module: vec![ModuleCount {
                module: "CONSENSUS".into(),
                errors,
                warnings: 1,
            }],
            recent: vec![LogLine {
                at: Some(T0 as i64 - 30),
                level: Some(LogLevel::Error),
                module: Some("CONSENSUS".into()),
                text: "view change timeout, toView=42".into(),
            }],
            tail: vec![
                LogLine {
                    at: Some(T0 as i64 - 31),
                    level: Some(LogLevel::Info),
                    module: Some("SYNC".into()),
                    text: "block sync, number=10029".into(),
                },
                LogLine {
                    at: Some(T0 as i64 - 30),
                    level: Some(LogLevel::Error),
                    module: Some("CONSENSUS".into()),
                    text: "view change timeout, toView=42".into(),
                },
                LogLine {
                    at: Some(T0 as i64 - 29),
                    level: Some(LogLevel::Info),
                    module: Some("CONSENSUS".into()),
                    text: "commit block, number=10030".into(),
                },
            ],
            newest_at: Some(T0 as i64 - 30),
        }),
    }]
}

fn fisco(host: usize, secs: u64, height: u64, with_slow: bool) -> Observation {
    Observation {
        host,
        started: at(secs),
        elapsed: Duration::from_millis(40),
        outcome: Ok(Probed {
            host_time: Some(secs as i64),
            load: Some(LoadAvg {
                one: 0.42,
                five: 0.35,
                fifteen: 0.3,
            }),
            uptime: Some(Duration::from_secs(86_400 * 41 + 3600 * 5)),
            services: vec![
                svc(
                    "fisco-node",
                    ServiceState::Running,
                    "active (running)",
                    86_400 * 3,
                ),
                svc("agency", ServiceState::Running, "running", 86_400 * 3),
            ],
            disks: vec![usage("/data", 500, 55.0 + host as f64)],
            chain: Some(ChainObs {
                kind: ChainKind::FiscoBcos,
                height: Metric::Value(height),
                syncing: Metric::Value(false),
                peers: Metric::Value(3),
                client: Some("FISCO-BCOS 3.6.0".into()),
            }),
            facts: (with_slow && host == 0).then(|| Box::new(facts())),
            certs: with_slow.then(|| certs(200, if host == 1 { 12 } else { 300 })),
            logs: with_slow.then(|| fisco_log(if host == 2 { 14 } else { 0 })),
            ..Probed::default()
        }),
    }
}

fn pg(secs: u64, with_slow: bool, data_percent: f64) -> Observation {
    Observation {
        host: 4,
        started: at(secs),
        elapsed: Duration::from_millis(55),
        outcome: Ok(Probed {
            host_time: Some(secs as i64),
            uptime: Some(Duration::from_secs(86_400 * 12)),
            services: vec![
                svc(
                    "postgres",
                    ServiceState::Running,
                    "active (running)",
                    86_400 * 12,
                ),
                ServiceObs {
                    name: "dvn-api".into(),
                    state: ServiceState::Stopped,
                    detail: "HTTP 503".into(),
                    since: None,
                    restarts: None,
                },
            ],
            service_failures: vec![ServiceFailure {
                index: 1,
                name: "dvn-api".into(),
                source: FailureSource::Output,
                lines: vec!["upstream connect error: connection refused".into()],
            }],
            disks: vec![
                usage("/", 40, 41.0),
                usage("/var/lib/postgresql", 1000, data_percent),
            ],
            backups: vec![BackupObs {
                name: "postgres".into(),
                latest: Ok(Some(BackupFile {
                    path: "/var/backups/pg/20270115-postgres-backup.sql.gz".into(),
                    mtime: secs as i64 - 5 * 3600,
                    size_bytes: 600 << 20,
                })),
                previous: Some(BackupFile {
                    path: "/var/backups/pg/20270114-postgres-backup.sql.gz".into(),
                    mtime: secs as i64 - 29 * 3600,
                    size_bytes: 7 << 30,
                }),
            }],
            logs: with_slow.then(|| {
                vec![LogObs {
                    name: "api".into(),
                    summary: Ok(LogSummary {
                        lines_read: 200,
                        window_seconds: 600,
                        window_complete: false,
                        errors: 3,
                        pattern_matches: 3,
                        recent: vec![LogLine {
                            at: None,
                            level: None,
                            module: None,
                            text: "ERROR pool exhausted".into(),
                        }],
                        ..LogSummary::default()
                    }),
                }]
            }),
            ..Probed::default()
        }),
    }
}

fn geth(host: usize, secs: u64, height: u64, disk: f64) -> Observation {
    Observation {
        host,
        started: at(secs),
        elapsed: Duration::from_millis(30),
        outcome: Ok(Probed {
            host_time: Some(secs as i64),
            uptime: Some(Duration::from_secs(86_400 * 3)),
            services: vec![svc(
                "geth",
                ServiceState::Running,
                "active (running)",
                86_400,
            )],
            disks: vec![usage("/", 200, disk)],
            chain: Some(ChainObs {
                kind: ChainKind::Ethereum,
                height: Metric::Value(height),
                syncing: Metric::Value(false),
                peers: Metric::Unavailable("not supported by this node".into()),
                client: Some("Geth/v1.14.11".into()),
            }),
            ..Probed::default()
        }),
    }
}

/// The fixture fleet, as of [`T0`]: a FISCO group of four with one member unreachable (so the
/// group is one failure from stalling), a PostgreSQL host with a stopped API, a nearly full
/// disk and a shrunk backup, a healthy geth node, one with a filling disk, and a host not
/// polled yet.
fn app_with(readonly: bool) -> App {
    app_from(INVENTORY, readonly)
}

/// [`app_with`] over another inventory text (the same hosts, other `[ui]` settings).
fn app_from(inventory: &str, readonly: bool) -> App {
    let fleet = load_fleet_from_str(inventory, ConfigSource::Embedded).unwrap();
    let n = fleet.hosts.len();
    let mut app = App::new(
        Arc::new(fleet),
        (0..n).collect(),
        Theme::default_theme(),
        readonly,
    );
    app.set_operator("alice");
    // Twenty minutes of polls every 30 s, each round arriving together (one drained queue, so
    // the store judges it once), so histories, trends and alert ages are those of a console
    // left open.
    for k in 0..=40u64 {
        let secs = T0 - 2 - 30 * (40 - k);
        let slow = k == 40;
        let behind = 15 * (40 - k);
        let mut round = vec![
            fisco(0, secs, 10_030 - behind, slow),
            fisco(1, secs, 10_030 - behind, slow),
            fisco(2, secs, 10_027 - behind, slow),
        ];
        if secs <= T0 - 120 {
            // fisco-4 answers until two minutes ago.
            round.push(fisco(3, secs, 10_030 - behind, secs > T0 - 150));
        }
        round.push(pg(secs, slow, 93.3 + 0.1 * k as f64 / 40.0));
        round.push(geth(5, secs, 19_000_004 - 2 * (40 - k), 41.0));
        round.push(geth(6, secs, 19_000_004 - 2 * (40 - k), 85.5));
        app.on_observations(round);
        app.on_tick(at(secs));
        app.ensure_model();
    }
    app.on_observation(Observation {
        host: 3,
        started: at(T0 - 3),
        elapsed: Duration::from_secs(3),
        outcome: Err(Unreachable {
            kind: UnreachableKind::Timeout,
            message: "no SSH session with 10.0.2.11:22 within 3s".into(),
            retry_in: Some(Duration::from_secs(8)),
        }),
    });
    app.on_tick(at(T0 - 3));
    app.ensure_model();
    app
}

fn app() -> App {
    app_with(false)
}

fn draw(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| app.render(f, now())).unwrap();
    terminal
}

fn key(app: &mut App, code: KeyCode) -> Option<Action> {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn typing(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn screen(t: &Terminal<TestBackend>) -> String {
    let buf = t.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The position of the first cell of `text` on screen (on a line containing `on_line`).
fn find(buf: &Buffer, text: &str, on_line: &str) -> (u16, u16) {
    (0..buf.area.height)
        .find_map(|y| {
            let line: String = (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect();
            if !line.contains(on_line) {
                return None;
            }
            line.find(text)
                .map(|col| (line[..col].chars().count() as u16, y))
        })
        .unwrap_or_else(|| panic!("{text:?} not on a line with {on_line:?}"))
}

fn goto(app: &mut App, pane: &str) {
    key(app, KeyCode::Char(':'));
    typing(app, &format!("pane {pane}"));
    key(app, KeyCode::Enter);
}

// ---------------------------------------------------------------------------------------------
// Snapshots of every pane at two sizes

macro_rules! pane_snapshots {
    ($($name:ident: $setup:expr;)*) => {$(
        #[test]
        fn $name() {
            for (w, h) in [(80, 24), (120, 40)] {
                let mut app = app();
                let setup: fn(&mut App) = $setup;
                setup(&mut app);
                let t = draw(&mut app, w, h);
                insta::assert_snapshot!(format!("{}_{w}x{h}", stringify!($name)), t.backend());
            }
        }
    )*};
}

pane_snapshots! {
    fleet_pane: |_| {};
    fleet_pane_grouped_worst_first: |a| {
        key(a, KeyCode::Char('b'));
        key(a, KeyCode::Char('w'));
    };
    host_pane: |a| {
        key(a, KeyCode::Enter);
    };
    services_pane: |a| goto(a, "services");
    chain_pane: |a| goto(a, "chain");
    disks_pane: |a| goto(a, "disks");
    certs_pane: |a| goto(a, "certs");
    logs_pane: |a| goto(a, "logs");
    logs_following_two_hosts_searched: follow_two_hosts_and_search;
    alerts_pane: |a| goto(a, "alerts");
    runbook_pane: |a| goto(a, "runbook");
    help_overlay: |a| { key(a, KeyCode::Char('?')); };
    palette_open: |a| {
        key(a, KeyCode::Char(':'));
        typing(a, "pane c");
    };
    filter_typed: |a| {
        key(a, KeyCode::Char('/'));
        typing(a, "fisco-[12]");
    };
    host_scoped_services: |a| {
        key(a, KeyCode::Enter);
        key(a, KeyCode::Tab);
    };
}

#[test]
fn too_small_a_terminal_gets_a_notice() {
    let mut app = app();
    let t = draw(&mut app, 59, 14);
    insta::assert_snapshot!("too_small_59x14", t.backend());
    let text = screen(&t);
    assert!(text.contains("need at least 60×15"), "{text}");
    // Exactly the minimum draws the panes.
    let t = draw(&mut app, 60, 15);
    assert!(screen(&t).contains("fisco-1"));
}

#[test]
fn every_size_from_tiny_to_huge_draws_without_panicking() {
    for pane in Pane::ALL {
        for (w, h) in [
            (1, 1),
            (20, 5),
            (60, 15),
            (61, 16),
            (75, 20),
            (100, 30),
            (250, 80),
        ] {
            let mut app = app();
            if pane != Pane::Fleet {
                app.run_command(Command::Host("fisco-1".into()));
                app.run_command(Command::Pane(pane));
            }
            draw(&mut app, w, h);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Colours

#[test]
fn status_cells_are_coloured_by_status() {
    let mut app = app();
    let t = draw(&mut app, 120, 40);
    let buf = t.backend().buffer();
    let theme = Theme::default_theme();
    let (x, y) = find(buf, "critical", "dvn-pg-1");
    assert_eq!(buf[(x, y)].fg, theme.colour("status.critical"));
    assert!(buf[(x, y)].modifier.contains(Modifier::BOLD));
    let (x, y) = find(buf, "ok ", "dvn-geth-1");
    assert_eq!(buf[(x, y)].fg, theme.colour("status.ok"));
    let (x, y) = find(buf, "warning", "dvn-geth-2");
    assert_eq!(buf[(x, y)].fg, theme.colour("status.warning"));
    let (x, y) = find(buf, "unknown", "dvn-spare");
    assert_eq!(buf[(x, y)].fg, theme.colour("status.unknown"));
}

#[test]
fn stale_cells_use_the_stale_slot_and_fresh_ones_do_not() {
    let mut app = app();
    let t = draw(&mut app, 120, 40);
    let buf = t.backend().buffer();
    let theme = Theme::default_theme();
    // fisco-4's last data is 2 minutes old, its interval 5 s.
    let (x, y) = find(buf, "9970", "fisco-4");
    assert_eq!(buf[(x, y)].fg, theme.colour("stale"));
    assert!(buf[(x, y)].modifier.contains(Modifier::ITALIC));
    let (x, y) = find(buf, "2m", "fisco-4");
    assert_eq!(buf[(x, y)].fg, theme.colour("stale"));
    let (x, y) = find(buf, "10030", "fisco-1");
    assert_eq!(buf[(x, y)].fg, theme.colour("text"));
    assert!(screen(&t).contains("1 stale"));
}

/// The fixture with dvn-pg-1's backup listing last read eleven minutes ago while everything
/// else about it is fresh: backups are listed on a cadence of their own (5 minutes), so the
/// listing is stale past twice that.
fn app_with_an_old_backup_listing() -> App {
    let mut app = app();
    app.store
        .edit_state(|s| s.hosts[4].parts.backups = Some(at(T0 - 660)));
    app
}

#[test]
fn a_stale_cell_shows_its_age_in_the_stale_slot_next_to_fresh_ones() {
    let mut app = app_with_an_old_backup_listing();
    let t = draw(&mut app, 120, 40);
    insta::assert_snapshot!("fleet_pane_one_stale_cell_120x40", t.backend());
    let buf = t.backend().buffer();
    let theme = Theme::default_theme();
    let (x, y) = find(buf, "5h ·11m", "dvn-pg-1");
    for dx in 0.."5h ·11m".chars().count() as u16 {
        assert_eq!(buf[(x + dx, y)].fg, theme.colour("stale"), "column {dx}");
        assert!(buf[(x + dx, y)].modifier.contains(Modifier::ITALIC));
    }
    // The disk and services of the same row were read in the latest poll: plain, no age.
    let (x, y) = find(buf, "93%", "dvn-pg-1");
    assert_eq!(buf[(x, y)].fg, theme.colour("text"));
    assert!(!screen(&t).contains("93% ·"));
    let (x, y) = find(buf, "1/2", "dvn-pg-1");
    assert_eq!(buf[(x, y)].fg, theme.colour("text"));
    // AGE is the oldest cell's, stale.
    let (x, y) = find(buf, "11m ", "dvn-pg-1");
    assert!(x > find(buf, "5h ·11m", "dvn-pg-1").0);
    assert_eq!(buf[(x, y)].fg, theme.colour("stale"));
    // An unreachable host: the failed poll is fresh news, its last readings are stale.
    let (x, y) = find(buf, " no ", "fisco-4");
    assert_eq!(buf[(x + 1, y)].fg, theme.colour("text"));
    let (x, y) = find(buf, "9970 ·2m", "fisco-4");
    assert_eq!(buf[(x, y)].fg, theme.colour("stale"));
    // The host pane says the same of its backups section.
    key(&mut app, KeyCode::Char(':'));
    typing(&mut app, "host dvn-pg-1");
    key(&mut app, KeyCode::Enter);
    let t = draw(&mut app, 120, 40);
    let buf = t.backend().buffer();
    let (x, y) = find(buf, "5h ·11m", "postgres:");
    assert_eq!(buf[(x, y)].fg, theme.colour("stale"));
    let text = screen(&t);
    assert!(
        !text.contains("running ·"),
        "fresh services carry no age: {text}"
    );
}

#[test]
fn the_theme_switches_colours_and_a_bad_theme_is_an_error_notice() {
    let mut app = app();
    key(&mut app, KeyCode::Char(':'));
    typing(&mut app, "theme high-contrast");
    key(&mut app, KeyCode::Enter);
    let t = draw(&mut app, 120, 40);
    let buf = t.backend().buffer();
    let (x, y) = find(buf, "critical", "dvn-pg-1");
    let hc = Theme::builtin("high-contrast").unwrap();
    assert_eq!(buf[(x, y)].fg, hc.colour("status.critical"));
    assert_eq!(app.theme().name(), "high-contrast");
    key(&mut app, KeyCode::Char(':'));
    typing(&mut app, "theme no-such-theme");
    key(&mut app, KeyCode::Enter);
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("no-such-theme: no such theme"), "{text}");
    assert_eq!(app.theme().name(), "high-contrast");
}

#[test]
fn the_chain_pane_shows_the_quorum_in_colour() {
    let mut app = app();
    goto(&mut app, "chain");
    let t = draw(&mut app, 120, 40);
    let text = screen(&t);
    assert!(
        text.contains("N=4 F=1 healthy 3/4 — one failure from stalling"),
        "{text}"
    );
    let buf = t.backend().buffer();
    let (x, y) = find(buf, "N=4", "fisco-bcos/group0");
    assert_eq!(
        buf[(x, y)].fg,
        Theme::default_theme().colour("status.critical")
    );
}

// ---------------------------------------------------------------------------------------------
// Keys, navigation, palette, filter

#[test]
fn keys_move_the_selection_and_quit() {
    let mut app = app();
    draw(&mut app, 120, 40);
    assert_eq!(key(&mut app, KeyCode::Char('j')), Some(Action::SelectNext));
    assert_eq!(app.selected_row(), 1);
    key(&mut app, KeyCode::Char('G'));
    assert_eq!(app.selected_row(), 7);
    key(&mut app, KeyCode::Down);
    assert_eq!(app.selected_row(), 7, "stays on the last row");
    key(&mut app, KeyCode::Char('g'));
    assert_eq!(app.selected_row(), 0);
    assert_eq!(key(&mut app, KeyCode::Char('q')), Some(Action::Quit));
    assert_eq!(
        app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(Action::Quit)
    );
}

#[test]
fn enter_drills_down_tab_cycles_and_esc_goes_back_then_quits() {
    let mut app = app();
    draw(&mut app, 120, 40);
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Enter);
    assert_eq!((app.pane(), app.host()), (Pane::Host, Some(1)));
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("fisco-2 ›"), "{text}");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.pane(), Pane::Services);
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("services of fisco-2 — 2"), "{text}");
    assert!(!text.contains("dvn-pg-1"), "scoped to the host: {text}");
    app.on_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    app.on_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(app.pane(), Pane::Alerts, "Shift-Tab wraps around");
    assert_eq!(key(&mut app, KeyCode::Esc), Some(Action::Back));
    assert_eq!((app.pane(), app.host()), (Pane::Fleet, None));
    key(&mut app, KeyCode::Char('l'));
    assert_eq!(app.pane(), Pane::Services);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.pane(), Pane::Fleet);
    assert_eq!(key(&mut app, KeyCode::Esc), Some(Action::Quit));
}

#[test]
fn enter_in_a_fleet_wide_pane_opens_that_rows_host() {
    let mut app = app();
    goto(&mut app, "alerts");
    draw(&mut app, 120, 40);
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.pane(), Pane::Host);
    // Warnings come last, in key order: the last is fisco-3's count of log errors.
    assert_eq!(app.host(), Some(2));
}

#[test]
fn the_filter_is_live_inverts_and_esc_restores() {
    let mut app = app();
    key(&mut app, KeyCode::Char('/'));
    typing(&mut app, "dvn-*");
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("dvn-prod — 4 of 8 hosts · /dvn-*"), "{text}");
    assert!(!text.contains("fisco-1"), "{text}");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('/'));
    key(&mut app, KeyCode::Home);
    // Editing restarts from the current text; make it an inverted regex.
    for _ in 0.."dvn-*".len() {
        key(&mut app, KeyCode::Backspace);
    }
    typing(&mut app, "!^fisco-[123]$");
    key(&mut app, KeyCode::Enter);
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("5 of 8 hosts"), "{text}");
    assert!(
        text.contains("fisco-4") && !text.contains("fisco-2 "),
        "{text}"
    );
    // A half-typed regex keeps the last good filter and says why.
    key(&mut app, KeyCode::Char('/'));
    typing(&mut app, "(");
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("invalid regex"), "{text}");
    assert!(text.contains("5 of 8 hosts"), "{text}");
    key(&mut app, KeyCode::Esc);
    assert_eq!(key(&mut app, KeyCode::Esc), Some(Action::Back), "clears");
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("dvn-prod — 8 hosts "), "{text}");
}

#[test]
fn the_palette_completes_and_runs_commands() {
    let mut app = app();
    key(&mut app, KeyCode::Char(':'));
    typing(&mut app, "ho");
    key(&mut app, KeyCode::Tab);
    typing(&mut app, "pg");
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains(":host dvn-pg-1"), "completion listed: {text}");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.pane(), Pane::Host);
    assert_eq!(app.host(), Some(4));
    key(&mut app, KeyCode::Char(':'));
    typing(&mut app, "group aws");
    key(&mut app, KeyCode::Enter);
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("· group aws"), "{text}");
    assert!(
        text.contains("fisco-1") && !text.contains("dvn-pg-1"),
        "{text}"
    );
    key(&mut app, KeyCode::Char(':'));
    typing(&mut app, "bogus");
    key(&mut app, KeyCode::Enter);
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("unknown command `bogus`"), "{text}");
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char(':'));
    typing(&mut app, "q");
    assert_eq!(key(&mut app, KeyCode::Enter), Some(Action::Quit));
}

#[test]
fn sort_group_and_worst_first_rearrange_the_table() {
    let mut app = app();
    key(&mut app, KeyCode::Char(':'));
    typing(&mut app, "sort disk");
    key(&mut app, KeyCode::Enter);
    let text = screen(&draw(&mut app, 120, 40));
    let first = text.lines().nth(3).unwrap();
    assert!(first.contains("dvn-pg-1"), "fullest disk first: {text}");
    key(&mut app, KeyCode::Char('O'));
    key(&mut app, KeyCode::Char('b'));
    key(&mut app, KeyCode::Char('b'));
    key(&mut app, KeyCode::Char('b'));
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("▾ group0 (4)"), "{text}");
    assert!(text.contains("▾ (no consensus group) (4)"), "{text}");
    // The selection never rests on a heading.
    key(&mut app, KeyCode::Char('g'));
    let text = screen(&draw(&mut app, 120, 40));
    assert!(
        text.lines().any(|l| l.contains("▶") && l.contains("fisco")),
        "{text}"
    );
}

#[test]
fn the_help_lists_every_binding_of_the_keymap() {
    let mut app = app();
    key(&mut app, KeyCode::Char('?'));
    let t = draw(&mut app, 120, 40);
    let text = screen(&t);
    for help in [
        "quit the console",
        "next pane",
        "command palette (Tab completes)",
    ] {
        assert!(text.contains(help), "{help} missing from:\n{text}");
    }
    let entries = help::help_entries(app.keymap(), false);
    for b in app.keymap().bindings() {
        assert!(
            entries
                .iter()
                .any(|(k, h)| *k == b.keys_label() && h == b.help)
        );
    }
    key(&mut app, KeyCode::Esc);
    assert!(!screen(&draw(&mut app, 120, 40)).contains("Help"));
}

// ---------------------------------------------------------------------------------------------
// Acks and read-only mode

#[test]
fn an_ack_goes_through_the_hook_first_and_then_shows() {
    let mut app = app();
    let seen: Arc<Mutex<Vec<AckRequest>>> = Arc::default();
    let log = seen.clone();
    app.set_ack_hook(Box::new(move |r| {
        log.lock().unwrap().push(r.clone());
        Ok(())
    }));
    goto(&mut app, "alerts");
    draw(&mut app, 120, 40);
    assert_eq!(key(&mut app, KeyCode::Char('a')), Some(Action::Ack));
    let reqs = seen.lock().unwrap().clone();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].operator, "alice");
    assert_eq!(reqs[0].at, now());
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("acked by alice"), "{text}");
    assert!(text.contains("acknowledged"), "{text}");
    // The acked alert moves below the new ones; the selection now rests on the next new one.
    key(&mut app, KeyCode::Char('a'));
    let reqs = seen.lock().unwrap().clone();
    assert_eq!(reqs.len(), 2);
    assert_ne!(reqs[0].key, reqs[1].key);
    // An acked alert is not acked again: the hook is not even asked.
    key(&mut app, KeyCode::Char('G'));
    let rows = alert_rows_of(&mut app);
    let acked = rows
        .iter()
        .position(|r| matches!(r.phase, view::AlertPhase::Acked { .. }))
        .unwrap();
    app.sels.get_mut(&Pane::Alerts).unwrap().selected = acked;
    assert_eq!(key(&mut app, KeyCode::Char('a')), None);
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert!(screen(&draw(&mut app, 120, 40)).contains("already acknowledged by alice"));
}

fn alert_rows_of(app: &mut App) -> Vec<AlertRow> {
    app.ensure_model();
    match app
        .model
        .as_ref()
        .and_then(|m| m.content::<Rows<AlertRow>>())
    {
        Some(alerts) => alerts.rows.clone(),
        None => panic!("not on the alerts pane"),
    }
}

#[test]
fn an_ack_the_hook_refuses_is_not_taken() {
    let mut app = app();
    app.set_ack_hook(Box::new(|_| Err("audit log is locked".into())));
    goto(&mut app, "alerts");
    draw(&mut app, 120, 40);
    assert_eq!(key(&mut app, KeyCode::Char('a')), None);
    let text = screen(&draw(&mut app, 120, 40));
    assert!(
        text.contains("ack not recorded, so not taken: audit log is locked"),
        "{text}"
    );
    assert!(!text.contains("acked by"), "{text}");
}

#[test]
fn readonly_strips_the_ack_everywhere_and_says_so() {
    let mut app = app_with(true);
    let called = Arc::new(Mutex::new(false));
    let flag = called.clone();
    app.set_ack_hook(Box::new(move |_| {
        *flag.lock().unwrap() = true;
        Ok(())
    }));
    goto(&mut app, "alerts");
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("READ-ONLY"), "{text}");
    assert!(
        !text.contains("a ack"),
        "no hint for a stripped key: {text}"
    );
    assert_eq!(key(&mut app, KeyCode::Char('a')), None);
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("read-only console: `a`"), "{text}");
    // The palette has no ack either, and the action itself refuses.
    key(&mut app, KeyCode::Char(':'));
    typing(&mut app, "ack");
    key(&mut app, KeyCode::Enter);
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("read-only: `ack` is disabled"), "{text}");
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.apply(Action::Ack), None);
    assert!(!*called.lock().unwrap(), "the hook never ran");
    assert!(!screen(&draw(&mut app, 120, 40)).contains("acked by"));
}

// ---------------------------------------------------------------------------------------------
// Mouse

fn click(app: &mut App, x: u16, y: u16) -> bool {
    app.on_mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: x,
        row: y,
        modifiers: KeyModifiers::NONE,
    })
}

#[test]
fn the_mouse_selects_rows_opens_hosts_switches_tabs_and_scrolls() {
    let mut app = app();
    let t = draw(&mut app, 120, 40);
    let (x, y) = find(t.backend().buffer(), "dvn-pg-1", "dvn-pg-1");
    assert!(click(&mut app, x, y));
    assert_eq!(app.selected_row(), 4);
    assert_eq!(app.pane(), Pane::Fleet);
    assert!(
        click(&mut app, x, y),
        "a click on the selected row opens it"
    );
    assert_eq!((app.pane(), app.host()), (Pane::Host, Some(4)));
    let t = draw(&mut app, 120, 40);
    let (x, y) = find(t.backend().buffer(), " Chain ", "Host");
    assert!(click(&mut app, x + 1, y));
    assert_eq!(app.pane(), Pane::Chain);
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('g'));
    draw(&mut app, 120, 40);
    assert!(app.on_mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: 10,
        row: 10,
        modifiers: KeyModifiers::NONE,
    }));
    assert_eq!(app.selected_row(), 3);
    assert!(!app.on_mouse(MouseEvent {
        kind: MouseEventKind::Moved,
        column: 10,
        row: 10,
        modifiers: KeyModifiers::NONE,
    }));
}

// ---------------------------------------------------------------------------------------------
// Scale

#[test]
fn a_thousand_host_fleet_builds_rows_only_for_the_screen() {
    let mut t = String::from("[fleet]\nname = \"big\"\n");
    for i in 0..1000 {
        t.push_str(&format!(
            "[[hosts]]\nname = \"node-{i:04}\"\naddress = \"10.0.{}.{}\"\ngroups = [\"g{}\"]\n",
            i / 256,
            i % 256,
            i % 7
        ));
    }
    let fleet = load_fleet_from_str(&t, ConfigSource::Embedded).unwrap();
    let mut app = App::new(
        Arc::new(fleet),
        (0..1000).collect(),
        Theme::default_theme(),
        false,
    );
    for i in 0..1000 {
        app.on_observation(Observation {
            host: i,
            started: at(T0 - 1),
            elapsed: Duration::from_millis(5),
            outcome: Ok(Probed::default()),
        });
    }
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("big — 1000 hosts"), "{text}");
    key(&mut app, KeyCode::Char('G'));
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("▶ node-0999"), "{text}");
    assert!(!text.contains("node-0000"), "{text}");
    let sel = app.sels[&Pane::Fleet];
    assert_eq!(sel.offset, 1000 - sel.body.height as usize);
    // The model is cached per (state version, second, query): a key that only moves the
    // selection does not rebuild it.
    let version = app.model.as_ref().unwrap().key;
    key(&mut app, KeyCode::Char('k'));
    draw(&mut app, 120, 40);
    assert_eq!(app.model.as_ref().unwrap().key, version);
}

// ---------------------------------------------------------------------------------------------
// docs/console.md: its key table, command table and pane captures are generated from here

fn capture(setup: fn(&mut App), w: u16, h: u16) -> String {
    let mut app = app();
    setup(&mut app);
    let t = draw(&mut app, w, h);
    let text: Vec<String> = screen(&t)
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect();
    format!("```text\n{}\n```\n", text.join("\n"))
}

fn replace_section(doc: &str, name: &str, body: &str) -> String {
    let begin = format!("<!-- BEGIN {name} -->\n");
    let end = format!("<!-- END {name} -->");
    let a = doc
        .find(&begin)
        .unwrap_or_else(|| panic!("docs/console.md lacks the marker {begin:?}"))
        + begin.len();
    let b = a + doc[a..]
        .find(&end)
        .unwrap_or_else(|| panic!("docs/console.md lacks the marker {end:?}"));
    format!("{}{body}{}", &doc[..a], &doc[b..])
}

#[test]
fn docs_console_md_matches_the_key_map_and_the_panes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console.md");
    let doc = std::fs::read_to_string(&path).expect("docs/console.md");
    let mut want = replace_section(&doc, "keymap", &Keymap::new(false).markdown());
    want = replace_section(&want, "commands", &palette::markdown(false));
    type Setup = fn(&mut App);
    let captures: [(&str, Setup); 12] = [
        ("fleet", |_| {}),
        ("fleet_grouped", |a| {
            key(a, KeyCode::Char('b'));
            key(a, KeyCode::Char('w'));
        }),
        ("host", |a| {
            key(a, KeyCode::Enter);
        }),
        ("services", |a| {
            goto(a, "services");
            key(a, KeyCode::Char('/'));
            typing(a, "dvn");
            key(a, KeyCode::Enter);
            key(a, KeyCode::Char('j'));
        }),
        ("chain", |a| goto(a, "chain")),
        ("disks", |a| goto(a, "disks")),
        ("certs", |a| goto(a, "certs")),
        ("logs", |a| {
            goto(a, "logs");
            key(a, KeyCode::Char('j'));
            key(a, KeyCode::Char('j'));
        }),
        ("logs_follow", follow_two_hosts_and_search),
        ("alerts", |a| goto(a, "alerts")),
        ("help", |a| {
            key(a, KeyCode::Char('?'));
        }),
        ("palette", |a| {
            key(a, KeyCode::Char(':'));
            typing(a, "host dvn");
        }),
    ];
    for (name, setup) in captures {
        want = replace_section(&want, &format!("capture:{name}"), &capture(setup, 100, 30));
    }
    if std::env::var_os("FLEETDECK_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).expect("write docs/console.md");
        return;
    }
    assert!(
        doc == want,
        "docs/console.md is out of date with the key map or the panes; \
         FLEETDECK_UPDATE_DOCS=1 cargo test --lib docs_console_md rewrites it"
    );
}

#[test]
fn the_docs_key_table_lists_every_binding() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console.md"),
    )
    .unwrap();
    for b in keymap::BINDINGS {
        assert!(
            doc.contains(&format!("| `{}` |", b.keys_label())),
            "{} is not in docs/console.md",
            b.keys_label()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The runbook pane, with a run of the real engine at a typed confirmation

const PANE_DRILL: &str = r#"
name = "drill"
title = "Restart the node after a failed check"

[targets]
hosts = "fisco-*"

[[steps]]
id = "sla"
title = "Respond within 15 minutes"
kind = "timer"
duration = "15m"
until = "restart"

[[steps]]
id = "running"
title = "Is the node running?"
kind = "check"
command = "systemctl is-active fisco-node"
on_fail = "next"

[[steps]]
id = "decide"
title = "Restart?"
kind = "choice"
question = "Restart the node?"
from = "running"
options = [
  { label = "leave it", goto = "done", when = "passed" },
  { label = "restart", goto = "restart", when = "failed" },
]

[[steps]]
id = "restart"
title = "Restart the node"
kind = "action"
dangerous = true
command = "systemctl restart fisco-node"

[[steps]]
id = "done"
title = "Done"
kind = "end"
outcome = "auto"
"#;

/// The colour of the first cell of `needle` where it first appears on screen.
fn fg_where(buf: &Buffer, needle: &str) -> Option<ratatui::style::Color> {
    let (w, h) = (buf.area.width, buf.area.height);
    (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .find_map(|(x, y)| {
            let rest: String = (x..w).map(|x| buf[(x, y)].symbol()).collect();
            rest.starts_with(needle).then(|| buf[(x, y)].fg)
        })
}

/// A console whose runbook pane shows a run of the engine that checked two hosts (one failing),
/// took the suggested branch, and now asks for the typed confirmation of the restart.
fn app_at_a_runbook_confirmation() -> App {
    use crate::runbook::{self, AccessRole, ExecResult, HostInfo, Run, RunContext, Session};
    use runbook_pane::{RunView, RunbookMsg};
    let mut app = app();
    app.enable_runbook_pane(vec![("drill".into(), "Restart the node".into())]);
    let rb = runbook::parse(PANE_DRILL, "drill.toml").expect("the drill lints");
    let targets = runbook::select_targets(&rb, &app.fleet, None, None).unwrap();
    let ctx = RunContext {
        fleet: HostInfo::from_fleet(&app.fleet),
        targets,
        inputs: Default::default(),
        health: Default::default(),
        session: Session {
            operator: "alice".into(),
            role: AccessRole::Admin,
            readonly: false,
            interactive: true,
        },
        now: at(T0 - 125),
        height_lag: 10,
    };
    let (mut run, mut effects) = Run::start(rb, ctx);
    app.on_runbook_msg(RunbookMsg::Started {
        run_id: "1800000000-abc123".into(),
    });
    let (reply, _answer) = tokio::sync::oneshot::channel();
    let mut reply = Some(reply);
    for _ in 0..20 {
        let mut events = Vec::new();
        for effect in &effects {
            if let Some(line) = crate::progress::progress_line(effect, at(T0 - 120)) {
                for l in line.lines().filter(|l| !l.is_empty()) {
                    app.on_runbook_msg(RunbookMsg::Line(l.to_string()));
                }
            }
            match effect {
                Effect::Exec { id, host, .. } => {
                    let up = host == "fisco-1";
                    events.push(crate::runbook::Event::ExecFinished {
                        id: *id,
                        result: ExecResult {
                            exit: Some(if up { 0 } else { 3 }),
                            stdout: if up { "active" } else { "failed" }.into(),
                            ..Default::default()
                        },
                    });
                }
                Effect::AskChoice { preselected, .. } => {
                    events.push(crate::runbook::Event::Chosen {
                        option: preselected.clone().unwrap(),
                        reason: None,
                    })
                }
                Effect::AskConfirm { .. } => {
                    app.on_runbook_msg(RunbookMsg::Progress(Box::new(RunView::of(&run))));
                    app.on_runbook_msg(RunbookMsg::Ask(effect.clone(), reply.take().unwrap()));
                    return app;
                }
                _ => {}
            }
        }
        effects = events.into_iter().flat_map(|e| run.handle(e)).collect();
    }
    panic!("the drill never asked for the confirmation");
}

use crate::runbook::Effect;

#[test]
fn runbook_pane_at_a_typed_confirmation() {
    for (w, h) in [(80, 24), (120, 40)] {
        let mut app = app_at_a_runbook_confirmation();
        let t = draw(&mut app, w, h);
        insta::assert_snapshot!(format!("runbook_pane_confirmation_{w}x{h}"), t.backend());
    }
    let mut app = app_at_a_runbook_confirmation();
    let t = draw(&mut app, 120, 40);
    let s = screen(&t);
    for text in [
        "runbook drill",
        "waiting for you",
        "⏱ Respond within 15 minutes",
        "→ restart",
        "DANGEROUS step `restart`",
        "Type 4 to confirm",
    ] {
        assert!(s.contains(text), "{text:?} on screen:\n{s}");
    }
    // The check's visit: the failing host and the passing one told apart, each in its colour.
    app.sels.entry(Pane::Runbook).or_default().selected = 1;
    let t = draw(&mut app, 120, 40);
    let s = screen(&t);
    let buf = t.backend().buffer();
    let mark = |needle: &str| {
        fg_where(buf, needle).unwrap_or_else(|| panic!("{needle:?} not on screen:\n{s}"))
    };
    let theme = Theme::default_theme();
    assert_eq!(mark("✓ fisco-1"), theme.colour("status.ok"), "{s}");
    assert_eq!(mark("✗ fisco-2"), theme.colour("status.critical"), "{s}");
}

#[test]
fn keys_go_to_an_open_runbook_question_and_tab_still_leaves() {
    let mut app = app_at_a_runbook_confirmation();
    draw(&mut app, 120, 40);
    assert_eq!(app.pane(), Pane::Runbook);
    // `q` and `j` are typed into the confirmation, not taken as quit and move.
    assert_eq!(key(&mut app, KeyCode::Char('q')), None);
    assert_eq!(key(&mut app, KeyCode::Char('j')), None);
    assert_eq!(app.pane(), Pane::Runbook);
    assert!(app.runbook().question().is_some());
    key(&mut app, KeyCode::Tab);
    assert_ne!(app.pane(), Pane::Runbook, "Tab leaves the pane");
    // Starting another run while one is in progress is refused.
    key(&mut app, KeyCode::Char(':'));
    typing(&mut app, "run drill");
    assert_eq!(key(&mut app, KeyCode::Enter), None);
    assert_eq!(app.pane(), Pane::Runbook, "brought back to the running one");
}

#[test]
fn x_on_a_host_offers_runbooks_for_that_host_and_run_asks_the_event_loop() {
    let mut app = app();
    app.enable_runbook_pane(vec![("drill".into(), "Restart the node".into())]);
    draw(&mut app, 120, 40);
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('x'));
    let t = draw(&mut app, 120, 40);
    assert!(screen(&t).contains(":run drill fisco-2"), "{}", screen(&t));
    key(&mut app, KeyCode::Tab);
    assert_eq!(key(&mut app, KeyCode::Enter), Some(Action::StartRunbook));
    assert_eq!(
        app.take_runbook_start(),
        Some(runbook_pane::RunStart::New {
            runbook: "drill".into(),
            hosts: Some("fisco-2".into()),
            inputs: Default::default(),
        })
    );
    // Without the runbook pane there is nothing to run.
    let mut plain = app_with(false);
    draw(&mut plain, 120, 40);
    assert_eq!(key(&mut plain, KeyCode::Char('x')), None);
}

// ---------------------------------------------------------------------------------------------
// The audit pane

fn audit_snapshot(chain: Result<u64, String>) -> audit_pane::AuditSnapshot {
    let record = |seq: u64, action: &str, target: Option<&str>, result: &str| AuditRecord {
        seq,
        time: format!("2027-01-15T07:5{seq}:00.000Z"),
        operator: "alice".into(),
        role: "admin".into(),
        source: "tty".into(),
        action: action.into(),
        phase: None,
        pair: None,
        run: Some("1800000000-abc123".into()),
        runbook: Some("restore".into()),
        step: Some("stop".into()),
        target: target.map(String::from),
        command: None,
        result: Some(result.into()),
        duration_ms: None,
        reason: None,
        note: None,
        output_bytes: None,
        output_sha256: None,
        prev: "0".repeat(64),
        hash: "0".repeat(64),
    };
    let mut records = vec![
        record(1, "runbook.start", None, "started"),
        record(
            2,
            "confirm.mismatch",
            Some("dvn-pg-1"),
            "refused: typed dvn-pg-2",
        ),
        record(3, "confirm", Some("dvn-pg-1"), "accepted"),
        record(4, "exec", Some("dvn-pg-1"), "exit 0"),
    ];
    records.reverse();
    audit_pane::AuditSnapshot {
        records,
        lines: 4,
        bad_lines: 0,
        torn_tail: None,
        chain,
    }
}

use crate::audit::AuditRecord;

#[test]
fn audit_pane_lists_the_newest_records_and_the_chain_verdict() {
    for (w, h) in [(80, 24), (120, 40)] {
        let mut app = app();
        app.enable_audit_pane("/nonexistent/audit.jsonl".into());
        app.set_audit_snapshot(Ok(audit_snapshot(Ok(4))));
        goto(&mut app, "audit");
        let t = draw(&mut app, w, h);
        insta::assert_snapshot!(format!("audit_pane_{w}x{h}"), t.backend());
    }
    // A broken chain is said in the title, in the critical colour.
    let mut app = app();
    app.enable_audit_pane("/nonexistent/audit.jsonl".into());
    app.set_audit_snapshot(Ok(audit_snapshot(Err(
        "line 3: the hash does not match the line: the record was edited".into(),
    ))));
    goto(&mut app, "audit");
    let t = draw(&mut app, 120, 40);
    let s = screen(&t);
    assert!(s.contains("CHAIN BROKEN — line 3"), "{s}");
    assert_eq!(
        fg_where(t.backend().buffer(), "CHAIN BROKEN"),
        Some(Theme::default_theme().colour("status.critical"))
    );
    // Scoped to a host, only its records; a filter narrows further.
    assert!(s.contains("confirm.mismatch") && s.contains("runbook.start"));
    key(&mut app, KeyCode::Char('/'));
    typing(&mut app, "mismatch");
    key(&mut app, KeyCode::Enter);
    let s = screen(&draw(&mut app, 120, 40));
    assert!(
        s.contains("confirm.mismatch") && !s.contains("runbook.start"),
        "{s}"
    );
}

#[test]
fn the_audit_log_is_read_again_only_when_it_changed_and_only_on_screen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut app = app();
    app.enable_audit_pane(path.clone());
    assert_eq!(app.audit_read_wanted(), None, "not on screen");
    goto(&mut app, "audit");
    assert_eq!(app.audit_read_wanted(), Some(path.clone()));
    assert_eq!(app.audit_read_wanted(), None, "one read at a time");
    app.set_audit_snapshot(audit_pane::AuditSnapshot::load(&path));
    assert_eq!(app.audit_read_wanted(), None, "unchanged");
    std::fs::write(&path, "x").unwrap();
    assert_eq!(app.audit_read_wanted(), Some(path));
}

// ---------------------------------------------------------------------------------------------
// Problems first (issue 17)

/// The shared console with the default order, `[ui] sort = "problems"`.
fn app_problems_first() -> App {
    app_from(
        &INVENTORY.replace("sort = \"inventory\"", "sort = \"problems\""),
        false,
    )
}

#[test]
fn problems_first_is_the_default_order_worst_then_newest_then_the_inventory() {
    for (w, h) in [(80, 24), (120, 40)] {
        let mut app = app_problems_first();
        let t = draw(&mut app, w, h);
        insta::assert_snapshot!(format!("fleet_pane_problems_first_{w}x{h}"), t.backend());
    }
    let mut app = app_problems_first();
    app.ensure_model();
    let m = app.model.as_ref().unwrap();
    let order: Vec<(&str, Status)> = m
        .lines
        .iter()
        .map(|l| match l {
            FleetLine::Host(k) => (m.rows[*k].name.as_str(), m.rows[*k].status),
            FleetLine::Group { .. } => unreachable!("not grouped"),
        })
        .collect();
    // Statuses never get better down the problem part (warning, critical); the rest (ok, or
    // not polled yet) follow.
    let rest = order
        .iter()
        .position(|(_, s)| *s <= Status::Unknown)
        .unwrap();
    assert!(
        order[..rest].windows(2).all(|p| p[0].1 >= p[1].1),
        "{order:?}"
    );
    assert!(
        order[rest..].iter().all(|(_, s)| *s <= Status::Unknown),
        "{order:?}"
    );
    assert!(app.store().health().iter().any(|h| h.status == Status::Ok));
}

/// Draws as of the console's own clock (the last tick), for tests that move time.
fn draw_at(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    let now = app.now;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| app.render(f, now)).unwrap();
    terminal
}

fn thousand_hosts(ui: &str) -> App {
    let mut t = format!("[fleet]\nname = \"big\"\ninterval = \"30s\"\n{ui}\n");
    for i in 0..1000 {
        t.push_str(&format!(
            "[[hosts]]\nname = \"node-{i:04}\"\naddress = \"10.0.{}.{}\"\n",
            i / 256,
            i % 256,
        ));
    }
    let fleet = load_fleet_from_str(&t, ConfigSource::Embedded).unwrap();
    let mut app = App::new(
        Arc::new(fleet),
        (0..1000).collect(),
        Theme::default_theme(),
        false,
    );
    app.on_tick(at(T0 - 2));
    app.on_observations(
        (0..1000)
            .map(|i| Observation {
                host: i,
                started: at(T0 - 2),
                elapsed: Duration::from_millis(5),
                outcome: Ok(Probed::default()),
            })
            .collect(),
    );
    app.on_tick(at(T0 - 1));
    app
}

fn unreachable(host: usize, secs: u64) -> Observation {
    Observation {
        host,
        started: at(secs),
        elapsed: Duration::from_secs(3),
        outcome: Err(Unreachable {
            kind: UnreachableKind::Timeout,
            message: "no SSH session within 3s".into(),
            retry_in: None,
        }),
    }
}

#[test]
fn problems_first_puts_a_failing_host_deep_in_a_thousand_on_the_first_screen_with_no_key() {
    let mut app = thousand_hosts("");
    // The operator looks at node-0003 before anything breaks.
    for _ in 0..3 {
        key(&mut app, KeyCode::Char('j'));
    }
    let text = screen(&draw_at(&mut app, 120, 40));
    assert!(text.contains("▶ node-0003"), "{text}");
    assert!(!app.take_bell(), "no bell unless [ui] bell = true");

    app.on_observation(unreachable(742, T0));
    app.on_tick(at(T0));
    let t = draw_at(&mut app, 80, 24);
    let text = screen(&t);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[3].contains("! node-0742"),
        "first row, marked:\n{text}"
    );
    assert!(
        lines[0..3].iter().any(|l| l.contains("problems first")),
        "{text}"
    );
    // The selection stayed on its host although every row under the new one moved down.
    assert!(text.contains("▶ node-0003"), "{text}");
    assert_eq!(app.turned_bad(), vec![742]);
    insta::assert_snapshot!("fleet_thousand_hosts_one_turned_bad_80x24", t.backend());

    // A second failure is newer: it goes on top (same status).
    app.on_observation(unreachable(17, T0 + 1));
    app.on_tick(at(T0 + 1));
    let text = screen(&draw_at(&mut app, 80, 24));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[3].contains("! node-0017"), "{text}");
    assert!(lines[4].contains("! node-0742"), "{text}");

    // Selecting a marked host is seeing it: its mark goes; the other keeps its own.
    key(&mut app, KeyCode::Char('g'));
    draw_at(&mut app, 80, 24);
    assert_eq!(app.turned_bad(), vec![742]);
    // Marks fade after a while even unseen.
    app.on_tick(at(T0 + 1) + TURNED_BAD_MARK);
    draw_at(&mut app, 80, 24);
    assert!(!app.turned_bad().contains(&742));
}

#[test]
fn the_bell_rings_once_when_a_host_turns_bad_and_only_when_asked_for() {
    let mut app = thousand_hosts("[ui]\nbell = true");
    draw_at(&mut app, 80, 24);
    assert!(!app.take_bell(), "hosts first seen ok ring nothing");
    app.on_observation(unreachable(5, T0));
    app.on_tick(at(T0));
    draw_at(&mut app, 80, 24);
    assert!(app.take_bell());
    assert!(!app.take_bell(), "once");
}

#[test]
fn inventory_and_name_orders_keep_a_failing_host_where_it_is() {
    for (ui, first) in [
        ("[ui]\nsort = \"inventory\"", "node-0000"),
        ("[ui]\nsort = \"name\"", "node-0000"),
    ] {
        let mut app = thousand_hosts(ui);
        app.on_observation(unreachable(742, T0));
        app.on_tick(at(T0));
        let text = screen(&draw_at(&mut app, 80, 24));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[3].contains(first), "{ui}:\n{text}");
        assert!(!text.contains("problems first"), "{text}");
        // The column keys still work on top: `w` brings it up.
        key(&mut app, KeyCode::Char('w'));
        let text = screen(&draw_at(&mut app, 80, 24));
        assert!(text.lines().nth(3).unwrap().contains("node-0742"), "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// From the page to the fix (issue 17): runbooks matched to what is wrong

/// The shared console with every shipped runbook behind its runbook pane.
fn app_with_shipped_runbooks() -> App {
    let mut app = app();
    let defs: Vec<crate::runbook::Runbook> = crate::runbook::shipped()
        .iter()
        .map(|(n, _)| crate::runbook::shipped_runbook(n).unwrap().unwrap())
        .collect();
    app.enable_runbook_pane(
        defs.iter()
            .map(|r| (r.name.clone(), r.title.clone()))
            .collect(),
    );
    app.set_runbook_definitions(defs);
    app
}

fn palette_lines(app: &App) -> Vec<String> {
    match &app.input {
        Input::Palette(p) => p.candidates.clone(),
        _ => panic!("no palette open"),
    }
}

#[test]
fn x_offers_the_runbook_matching_the_worst_alert_first_with_its_inputs_and_enter_runs_it() {
    let mut app = app_with_shipped_runbooks();
    draw(&mut app, 120, 40);
    for _ in 0..4 {
        key(&mut app, KeyCode::Char('j'));
    }
    assert_eq!(
        app.selected_host()
            .map(|h| app.fleet.hosts[h].name.clone())
            .as_deref(),
        Some("dvn-pg-1")
    );
    // `x`, Enter: two keys to troubleshoot with the stopped service filled in.
    key(&mut app, KeyCode::Char('x'));
    let lines = palette_lines(&app);
    assert!(
        lines[0].starts_with("run troubleshoot dvn-pg-1 ") && lines[0].contains(" service=dvn-api"),
        "{lines:?}"
    );
    // The runbooks that answer nothing wrong here follow, once each.
    assert!(
        lines.contains(&"run rolling-upgrade dvn-pg-1".to_string()),
        "{lines:?}"
    );
    assert!(
        !lines.contains(&"run troubleshoot dvn-pg-1".to_string()),
        "{lines:?}"
    );
    let t = draw(&mut app, 120, 40);
    insta::assert_snapshot!("palette_offers_for_a_stopped_service_120x40", t.backend());
    // Enter: the inputs, in the Runbook pane, before anything starts; Enter again starts it.
    assert_eq!(key(&mut app, KeyCode::Enter), None);
    assert_eq!(app.pane(), Pane::Runbook);
    assert!(app.take_runbook_start().is_none(), "nothing started yet");
    let t = draw(&mut app, 120, 40);
    insta::assert_snapshot!("runbook_inputs_before_troubleshoot_120x40", t.backend());
    assert_eq!(key(&mut app, KeyCode::Enter), Some(Action::StartRunbook));
    let Some(runbook_pane::RunStart::New {
        runbook,
        hosts,
        inputs,
    }) = app.take_runbook_start()
    else {
        panic!("no run asked for")
    };
    assert_eq!(
        (runbook.as_str(), hosts.as_deref()),
        ("troubleshoot", Some("dvn-pg-1"))
    );
    assert_eq!(inputs.get("service").map(String::as_str), Some("dvn-api"));
}

#[test]
fn enter_on_an_alert_offers_what_answers_that_alert() {
    let mut app = app_with_shipped_runbooks();
    goto(&mut app, "alerts");
    app.ensure_model();
    let rows = app
        .model
        .as_ref()
        .and_then(|m| m.content::<Rows<AlertRow>>())
        .unwrap()
        .rows
        .clone();
    let at = rows
        .iter()
        .position(|r| r.rule == "backup_shrunk")
        .expect("the shrunk backup alerts");
    app.sels.entry(Pane::Alerts).or_default().selected = at;
    assert_eq!(key(&mut app, KeyCode::Enter), Some(Action::RunOnHost));
    let lines = palette_lines(&app);
    assert!(lines[0].starts_with("run backup dvn-pg-1"), "{lines:?}");
    // Without runbooks, Enter on an alert still opens its host.
    let mut plain = app_with(false);
    goto(&mut plain, "alerts");
    assert_eq!(key(&mut plain, KeyCode::Enter), Some(Action::Open));
    assert_eq!(plain.pane(), Pane::Host);
}

#[test]
fn run_inputs_are_checked_against_the_runbook_before_anything_starts() {
    let mut app = app_with_shipped_runbooks();
    key(&mut app, KeyCode::Char(':'));
    typing(&mut app, "run troubleshoot dvn-pg-1 nope=1");
    key(&mut app, KeyCode::Enter);
    let Input::Palette(p) = &app.input else {
        panic!("the palette stays open with the error")
    };
    assert!(
        p.error
            .as_deref()
            .unwrap()
            .starts_with("unknown input `nope`: runbook `troubleshoot` takes service"),
        "{:?}",
        p.error
    );
    assert!(app.take_runbook_start().is_none());
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char(':'));
    typing(&mut app, "run troubleshoot dvn-pg-1 since=soon");
    key(&mut app, KeyCode::Enter);
    let Input::Palette(p) = &app.input else {
        panic!("the palette stays open with the error")
    };
    assert!(
        p.error
            .as_deref()
            .unwrap()
            .contains("invalid input `since`"),
        "{:?}",
        p.error
    );
}

#[test]
fn offer_lines_quote_what_has_spaces_and_drop_what_cannot_be_quoted() {
    let offer = |inputs: &[(&str, &str)]| crate::runbook::Offer {
        runbook: "p0-response".into(),
        title: String::new(),
        host: "h".into(),
        hosts: "h".into(),
        answers: None,
        inputs: inputs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        missing: Vec::new(),
        refused: Default::default(),
    };
    assert_eq!(
        input::offer_line(&offer(&[("a", "x")])),
        "run p0-response h a=x"
    );
    assert_eq!(
        input::offer_line(&offer(&[("m", "group0 lost quorum"), ("q", "it's")])),
        "run p0-response h m=\"group0 lost quorum\" q=\"it's\""
    );
    assert_eq!(
        input::offer_line(&offer(&[("b", "say \"it's\"")])),
        "run p0-response h"
    );
    // What the palette reads back is what was offered.
    let c = palette::Candidates {
        runbooks: vec!["p0-response".into()],
        ..Default::default()
    };
    let line = input::offer_line(&offer(&[("m", "a b; $(id)")]));
    let Ok(Command::Run { inputs, .. }) = palette::parse(&line, &c, false) else {
        panic!("{line}")
    };
    assert_eq!(inputs["m"], "a b; $(id)");
}

#[test]
fn esc_on_the_inputs_cancels_and_nothing_starts() {
    let mut app = app_with_shipped_runbooks();
    key(&mut app, KeyCode::Char(':'));
    typing(&mut app, "run troubleshoot dvn-pg-1 service=dvn-api");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.pane(), Pane::Runbook);
    // A bad value typed in the form is refused with the command line's words.
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    typing(&mut app, "x");
    assert_eq!(key(&mut app, KeyCode::Enter), None);
    let err = app.run_form.as_ref().unwrap().error().unwrap().to_string();
    assert!(err.starts_with("invalid input `since`"), "{err}");
    assert_eq!(key(&mut app, KeyCode::Esc), None);
    assert!(app.run_form.is_none());
    assert!(app.take_runbook_start().is_none());
}

#[test]
fn from_the_first_screen_to_troubleshoot_on_the_stopped_service_in_three_keys() {
    // 300 hosts, each running `app` under systemd; the 257th stops it.
    let mut t = String::from("[fleet]\nname = \"web\"\ninterval = \"30s\"\n");
    for i in 0..300 {
        t.push_str(&format!(
            "[[hosts]]\nname = \"web-{i}\"\naddress = \"10.1.{}.{}\"\nservices = [{{ name = \"app\", kind = \"systemd\", unit = \"app.service\" }}]\n",
            i / 256,
            i % 256
        ));
    }
    let fleet = load_fleet_from_str(&t, ConfigSource::Embedded).unwrap();
    let mut app = App::new(
        Arc::new(fleet),
        (0..300).collect(),
        Theme::default_theme(),
        false,
    );
    let defs: Vec<crate::runbook::Runbook> = crate::runbook::shipped()
        .iter()
        .map(|(n, _)| crate::runbook::shipped_runbook(n).unwrap().unwrap())
        .collect();
    app.enable_runbook_pane(
        defs.iter()
            .map(|r| (r.name.clone(), r.title.clone()))
            .collect(),
    );
    app.set_runbook_definitions(defs);
    let poll = |host: usize, state: ServiceState| Observation {
        host,
        started: at(T0 - 1),
        elapsed: Duration::from_millis(5),
        outcome: Ok(Probed {
            host_time: Some(T0 as i64 - 1),
            services: vec![ServiceObs {
                name: "app".into(),
                state,
                detail: String::new(),
                since: None,
                restarts: None,
            }],
            ..Probed::default()
        }),
    };
    app.on_tick(at(T0 - 1));
    app.on_observations(
        (0..300)
            .map(|i| {
                poll(
                    i,
                    if i == 256 {
                        ServiceState::Stopped
                    } else {
                        ServiceState::Running
                    },
                )
            })
            .collect(),
    );
    app.on_tick(at(T0));
    // 0 keys: the cause is on the first row, selected.
    let text = screen(&draw_at(&mut app, 100, 30));
    let first = text.lines().nth(3).unwrap();
    assert!(
        first.contains("▶ web-256") && first.contains("app"),
        "{text}"
    );
    // `x`: troubleshoot first, on web-256, working on `app` and reading its unit's logs.
    key(&mut app, KeyCode::Char('x'));
    assert_eq!(
        palette_lines(&app)[0],
        "run troubleshoot web-256 log_name=app.service log_source=journald service=app"
    );
    // Enter: its inputs, shown before anything runs; Enter: it starts.
    key(&mut app, KeyCode::Enter);
    assert_eq!(key(&mut app, KeyCode::Enter), Some(Action::StartRunbook));
    let Some(runbook_pane::RunStart::New {
        runbook,
        hosts,
        inputs,
    }) = app.take_runbook_start()
    else {
        panic!("no run asked for")
    };
    assert_eq!(runbook, "troubleshoot");
    assert_eq!(hosts.as_deref(), Some("web-256"));
    assert_eq!(inputs["service"], "app");
    assert_eq!(inputs["log_source"], "journald");
    assert_eq!(inputs["log_name"], "app.service");
}

/// Issue 10: alert transitions follow observations and ticks, never frames. Drawing at later
/// and later times leaves the store as it was; one tick moves it.
#[test]
fn frames_never_tick_the_store() {
    let mut app = app();
    draw(&mut app, 120, 40);
    let version = app.store().version();
    for s in 1..5 {
        let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
        t.draw(|f| app.render(f, at(T0 + 60 * s))).unwrap();
    }
    assert_eq!(app.store().version(), version, "a frame changed the store");
    app.on_tick(at(T0 + 600));
    assert!(app.store().version() > version, "a tick judges the store");
}

// ---------------------------------------------------------------------------------------------
// The logs pane following two hosts (lines fed as the follow tasks would), searched

/// `f` on fisco-3 and on dvn-pg-1, lines from both (FISCO in UTC+8, journald JSON), then a
/// search for `timeout` and `n`.
fn follow_two_hosts_and_search(a: &mut App) {
    use crate::logview::{SourceKey, SourceState};
    use logs_pane::FollowMsg;
    goto(a, "logs");
    key(a, KeyCode::Char('j'));
    key(a, KeyCode::Char('j'));
    key(a, KeyCode::Char('f'));
    key(a, KeyCode::Char('j'));
    key(a, KeyCode::Char('j'));
    key(a, KeyCode::Char('f'));
    let fisco = SourceKey { host: 2, log: 0 };
    let api = SourceKey { host: 4, log: 0 };
    assert_eq!(
        a.follows_wanted().into_iter().collect::<Vec<_>>(),
        [
            (
                fisco,
                "tail -n 0 -F -- \"$HOME\"/nodes/log/log.log".to_string()
            ),
            (
                api,
                "journalctl -f -n 0 --no-pager -o json -u dvn-api.service".to_string()
            ),
        ]
    );
    for k in [fisco, api] {
        a.on_follow(FollowMsg::State(k, SourceState::Following));
    }
    let lines = [
        (
            fisco,
            40,
            "info|2027-01-15 15:59:20.000000|[SYNC] block sync, number=10029",
        ),
        (
            api,
            35,
            r#"{"__REALTIME_TIMESTAMP":"1799999965000000","PRIORITY":"3","SYSLOG_IDENTIFIER":"dvn-api","MESSAGE":"upstream timeout after 30s"}"#,
        ),
        (
            fisco,
            30,
            "error|2027-01-15 15:59:30.000000|[CONSENSUS] view change timeout, toView=42",
        ),
        (fisco, 29, "  at pbft::checkView (pbft.cpp:812)"),
        (
            fisco,
            20,
            "warning|2027-01-15 15:59:40.000000|[P2P] session closed, nodeID=7e5f2a1b",
        ),
        (
            api,
            15,
            r#"{"__REALTIME_TIMESTAMP":"1799999985000000","PRIORITY":"6","SYSLOG_IDENTIFIER":"dvn-api","MESSAGE":"GET /health 200"}"#,
        ),
        (
            fisco,
            10,
            "error|2027-01-15 15:59:50.000000|[CONSENSUS] view change timeout, toView=43",
        ),
    ];
    for (k, ago, text) in lines {
        a.on_follow(FollowMsg::Line(k, text.to_string(), at(T0 - ago)));
    }
    key(a, KeyCode::Char('/'));
    typing(a, "timeout");
    key(a, KeyCode::Enter);
    key(a, KeyCode::Char('n'));
}

#[test]
fn a_search_in_followed_lines_highlights_matches_and_steps() {
    let mut app = app();
    follow_two_hosts_and_search(&mut app);
    assert!(
        app.query.filter.is_none(),
        "`/` searched instead of filtering rows"
    );
    let t = draw(&mut app, 120, 40);
    let text = screen(&t);
    assert!(text.contains("/timeout · 1/3"), "{text}");
    assert!(
        text.contains("following: fisco-3 node, dvn-pg-1 api"),
        "{text}"
    );
    // The matched word is drawn in the theme's search.match style, the rest of the line not.
    let buf = t.backend().buffer();
    let (x, y) = (0..buf.area.height)
        .find_map(|y| {
            let row: String = (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect();
            row.find("upstream timeout")
                .map(|i| (row[..i].chars().count() as u16 + 9, y))
        })
        .expect("the api line");
    let cell = &buf[(x, y)];
    assert_eq!(cell.symbol(), "t");
    assert_eq!(cell.fg, app.theme().colour("search.match"));
    assert!(cell.modifier.contains(Modifier::REVERSED), "{cell:?}");
    assert!(!buf[(x - 2, y)].modifier.contains(Modifier::REVERSED));
    // `n` moved from the newest match (3/3) to the first; `N` goes back.
    key(&mut app, KeyCode::Char('N'));
    assert!(screen(&draw(&mut app, 120, 40)).contains("/timeout · 3/3"));
    // Minimum level error: the warning and the info lines go, the continuation stays.
    key(&mut app, KeyCode::Char('v'));
    key(&mut app, KeyCode::Char('v'));
    key(&mut app, KeyCode::Char('v'));
    key(&mut app, KeyCode::Char('v'));
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("≥ error"), "{text}");
    assert!(
        !text.contains("session closed") && !text.contains("GET /health"),
        "{text}"
    );
    assert!(text.contains("pbft::checkView"), "{text}");
    // Side by side: one column per host, each with its own lines.
    key(&mut app, KeyCode::Char('c'));
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("· columns ·"), "{text}");
    let both = text
        .lines()
        .find(|l| l.contains("fisco-3 ") && l.contains("dvn-pg-1 "))
        .unwrap_or_else(|| panic!("no row with both column titles:\n{text}"));
    assert!(
        both.find("fisco-3").unwrap() < both.find("dvn-pg-1").unwrap(),
        "{both}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("view change") && l.contains("upstream timeout")),
        "the two hosts' lines side by side:\n{text}"
    );
    key(&mut app, KeyCode::Char('c'));
    // Leaving the pane stops every follow; coming back starts them again; `F` ends them.
    key(&mut app, KeyCode::Tab);
    assert!(app.follows_wanted().is_empty());
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.follows_wanted().len(), 2);
    key(&mut app, KeyCode::Char('F'));
    assert!(app.follows_wanted().is_empty());
    // Esc while typing a search clears it.
    key(&mut app, KeyCode::Char('/'));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.logs().view.search, None);
    assert_eq!(app.pane(), Pane::Logs, "Esc ended the search, not the pane");
}

#[test]
fn with_nothing_followed_slash_filters_the_logs_rows() {
    let mut app = app();
    goto(&mut app, "logs");
    key(&mut app, KeyCode::Char('/'));
    typing(&mut app, "dvn");
    key(&mut app, KeyCode::Enter);
    assert!(app.query.filter.is_some());
    assert!(app.logs().view.search.is_none());
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("logs — 1"), "{text}");
}

#[test]
fn a_host_with_more_logs_than_channels_to_spare_follows_four_and_says_so() {
    let five = (1..=5)
        .map(|i| format!("{{ name = \"l{i}\", file = \"/var/log/l{i}.log\" }}"))
        .collect::<Vec<_>>()
        .join(", ");
    let inventory = INVENTORY.replace(
        r#"logs = [{ name = "node", file = "~/nodes/log/log.log", format = "fisco" }]"#,
        &format!("logs = [{five}]"),
    );
    let mut app = app_from(&inventory, false);
    goto(&mut app, "logs");
    key(&mut app, KeyCode::Char('f'));
    let wanted = app.follows_wanted();
    assert_eq!(wanted.len(), logs_pane::MAX_FOLLOWS_PER_HOST);
    assert!(wanted.keys().all(|k| k.host == 0));
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("not 1 more (at most 4 per host)"), "{text}");
    // `f` again on the same host stops it.
    key(&mut app, KeyCode::Char('f'));
    assert!(app.follows_wanted().is_empty());
}

#[test]
fn following_a_marked_host_follows_every_marked_host() {
    use crate::logview::SourceKey;
    let mut app = app();
    // Space on the fleet table marks hosts; here fisco-3 (2) and dvn-pg-1 (4).
    app.marks.extend([2, 4]);
    goto(&mut app, "logs");
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('f'));
    let followed: Vec<SourceKey> = app.follows_wanted().into_keys().collect();
    assert_eq!(
        followed,
        [SourceKey { host: 2, log: 0 }, SourceKey { host: 4, log: 0 }],
        "f on a marked host follows the marks"
    );
    // `f` on a followed host stops that one only.
    key(&mut app, KeyCode::Char('f'));
    let followed: Vec<SourceKey> = app.follows_wanted().into_keys().collect();
    assert_eq!(followed, [SourceKey { host: 4, log: 0 }]);
}

// ---------------------------------------------------------------------------------------------
// Alertmanager's alerts beside fleetdeck's

/// What a poll of Alertmanager read: DiskFull on dvn-geth-1 (by `instance`), PgLag on
/// dvn-pg-1 silenced by alice (by `host`), and Watchdog on no inventory host.
fn am_snapshot(app: &App) -> crate::alert_source::Snapshot {
    let rfc = |secs: u64| crate::report::rfc3339(at(secs));
    let alerts = format!(
        r#"[
 {{"labels": {{"alertname": "DiskFull", "instance": "10.0.3.11:9100", "severity": "critical"}},
   "annotations": {{"summary": "/data is 97% full"}}, "startsAt": "{a}", "fingerprint": "f1",
   "status": {{"state": "active", "silencedBy": [], "inhibitedBy": []}}}},
 {{"labels": {{"alertname": "PgReplicationLag", "host": "dvn-pg-1", "severity": "warning"}},
   "annotations": {{"description": "replica 40 s behind"}}, "startsAt": "{b}", "fingerprint": "f2",
   "status": {{"state": "suppressed", "silencedBy": ["s1"], "inhibitedBy": []}}}},
 {{"labels": {{"alertname": "Watchdog", "severity": "none"}},
   "annotations": {{"summary": "the alerting pipeline works"}}, "startsAt": "{c}", "fingerprint": "f3",
   "status": {{"state": "active", "silencedBy": [], "inhibitedBy": []}}}}
]"#,
        a = rfc(T0 - 420),
        b = rfc(T0 - 60),
        c = rfc(T0 - 7200),
    );
    let silences = format!(
        r#"[{{"id": "s1", "matchers": [{{"name": "alertname", "value": "PgReplicationLag", "isRegex": false}}],
 "startsAt": "{s}", "endsAt": "{e}", "createdBy": "alice", "comment": "",
 "status": {{"state": "active"}}}}]"#,
        s = rfc(T0 - 60),
        e = rfc(T0 + 3600),
    );
    crate::alert_source::Snapshot {
        alerts: crate::alert_source::parse_alerts("am", &alerts, &app.fleet.hosts).unwrap(),
        silences: crate::alert_source::parse_silences("am", &silences).unwrap(),
    }
}

fn app_with_alertmanager(readonly: bool) -> App {
    let mut app = app_with(readonly);
    app.enable_alertmanager(Duration::from_secs(2 * 3600));
    let snapshot = am_snapshot(&app);
    app.on_alertmanager(alert_poll::AmMsg::Polled {
        outcome: Ok(snapshot),
        at: at(T0 - 5),
    });
    app
}

fn select_alert(app: &mut App, rule: &str) {
    let i = alert_rows_of(app)
        .iter()
        .position(|r| r.rule == rule)
        .unwrap_or_else(|| panic!("no {rule} row"));
    app.sels.entry(Pane::Alerts).or_default().selected = i;
}

#[test]
fn alerts_pane_with_alertmanager() {
    for (w, h) in [(80, 24), (120, 40)] {
        let mut app = app_with_alertmanager(false);
        goto(&mut app, "alerts");
        let t = draw(&mut app, w, h);
        insta::assert_snapshot!(
            format!("alerts_pane_with_alertmanager_{w}x{h}"),
            t.backend()
        );
    }
}

#[test]
fn alertmanager_rows_are_marked_placed_and_a_host_less_one_opens_nothing() {
    let mut app = app_with_alertmanager(false);
    goto(&mut app, "alerts");
    let rows = alert_rows_of(&mut app);
    let ours = rows
        .iter()
        .filter(|r| r.source == view::AlertOrigin::Fleetdeck)
        .count();
    assert_eq!(ours, 12, "fleetdeck's own alerts stay");
    let theirs: Vec<_> = rows[ours..]
        .iter()
        .map(|r| (r.host_name.as_str(), r.rule.as_str(), r.phase.text()))
        .collect();
    assert_eq!(
        theirs,
        [
            ("dvn-geth-1", "DiskFull", "firing".to_string()),
            (
                "dvn-pg-1",
                "PgReplicationLag",
                format!(
                    "silenced to {}Z by alice",
                    &crate::report::rfc3339(at(T0 + 3600))[11..16]
                )
            ),
            ("-", "Watchdog", "firing".to_string()),
        ]
    );
    // Enter on the host-less row opens no host; on a placed one it opens that host.
    select_alert(&mut app, "Watchdog");
    assert_eq!(app.selected_host(), None);
    select_alert(&mut app, "DiskFull");
    assert_eq!(app.selected_host(), Some(5));
    // The host pane lists the host's Alertmanager alert too.
    app.open_host(5);
    let text = screen(&draw(&mut app, 120, 40));
    assert!(
        text.contains("DiskFull: /data is 97% full [firing,"),
        "{text}"
    );
    assert!(text.contains("alertmanager]"), "{text}");
}

#[test]
fn a_on_an_alertmanager_alert_confirms_the_matchers_and_duration_then_asks_for_a_silence() {
    let mut app = app_with_alertmanager(false);
    let called = Arc::new(Mutex::new(false));
    let flag = called.clone();
    app.set_ack_hook(Box::new(move |_| {
        *flag.lock().unwrap() = true;
        Ok(())
    }));
    goto(&mut app, "alerts");
    draw(&mut app, 120, 40);
    select_alert(&mut app, "DiskFull");
    assert_eq!(key(&mut app, KeyCode::Char('a')), None);
    let t = draw(&mut app, 120, 40);
    insta::assert_snapshot!("alerts_pane_silence_confirmation_120x40", t.backend());
    let text = screen(&t);
    assert!(
        text.contains("Silence DiskFull in Alertmanager for 2h"),
        "{text}"
    );
    assert!(
        text.contains("alertname=\"DiskFull\", instance=\"10.0.3.11:9100\", severity=\"critical\""),
        "{text}"
    );
    // Other keys do nothing while it is open; n cancels.
    key(&mut app, KeyCode::Char('j'));
    assert!(app.silence_confirm_open());
    key(&mut app, KeyCode::Char('n'));
    assert!(!app.silence_confirm_open());
    assert_eq!(app.take_silence_request(), None);
    // a, then y: the event loop is handed the request.
    key(&mut app, KeyCode::Char('a'));
    key(&mut app, KeyCode::Char('y'));
    let request = app.take_silence_request().expect("a confirmed silence");
    assert_eq!(request.host.as_deref(), Some("dvn-geth-1"));
    assert_eq!(request.duration, Duration::from_secs(7200));
    assert_eq!(
        request.labels.get("instance").map(String::as_str),
        Some("10.0.3.11:9100")
    );
    assert!(!*called.lock().unwrap(), "not an ack of fleetdeck's book");
    // Its outcome comes back as a message.
    app.on_alertmanager(alert_poll::AmMsg::Silenced(Ok("abc-123".into())));
    assert!(screen(&draw(&mut app, 120, 40)).contains("silenced: silence abc-123"));
    // A silenced alert is not silenced again.
    select_alert(&mut app, "PgReplicationLag");
    key(&mut app, KeyCode::Char('a'));
    assert!(!app.silence_confirm_open());
    assert!(screen(&draw(&mut app, 120, 40)).contains("already silenced to"));
}

#[test]
fn a_read_only_console_creates_no_silence() {
    let mut app = app_with_alertmanager(true);
    goto(&mut app, "alerts");
    draw(&mut app, 120, 40);
    select_alert(&mut app, "DiskFull");
    assert_eq!(key(&mut app, KeyCode::Char('a')), None);
    assert_eq!(app.apply(Action::Ack), None);
    assert!(!app.silence_confirm_open());
    assert_eq!(app.take_silence_request(), None);
}

#[test]
fn an_unreachable_alertmanager_is_one_row_on_top_and_the_rest_stays() {
    let mut app = app_with_alertmanager(false);
    app.on_alertmanager(alert_poll::AmMsg::Polled {
        outcome: Err("could not connect".into()),
        at: at(T0 - 1),
    });
    goto(&mut app, "alerts");
    let text = screen(&draw(&mut app, 160, 40));
    let rows = alert_rows_of(&mut app);
    assert_eq!(rows.len(), 13, "fleetdeck's 12 and the one row");
    assert_eq!(
        rows[0].message,
        "Alertmanager unreachable: could not connect, last ok 5s ago"
    );
    assert!(
        text.contains("Alertmanager unreachable: could not connect, last ok 5s ago"),
        "{text}"
    );
    // `a` on it says there is nothing to silence; fleetdeck's alerts still ack.
    key(&mut app, KeyCode::Char('g'));
    key(&mut app, KeyCode::Char('a'));
    assert!(!app.silence_confirm_open());
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(key(&mut app, KeyCode::Char('a')), Some(Action::Ack));
}

#[test]
fn a_role_that_may_not_silence_gets_no_confirmation_and_the_launcher_decides() {
    let mut app = app_with_alertmanager(false);
    app.refuse_silences(Some(
        "bob is auditor: only operators and admins may silence".into(),
    ));
    goto(&mut app, "alerts");
    draw(&mut app, 120, 40);
    select_alert(&mut app, "DiskFull");
    key(&mut app, KeyCode::Char('a'));
    assert!(!app.silence_confirm_open());
    // Handed on, so the refusal is recorded (`denied`) and shown.
    assert!(app.take_silence_request().is_some());
    app.on_alertmanager(alert_poll::AmMsg::Silenced(Err(
        "bob is auditor: only operators and admins may silence".into(),
    )));
    assert!(screen(&draw(&mut app, 120, 40)).contains("silence not created: bob is auditor"));
}

#[test]
fn y_copies_the_rows_host_or_the_alert() {
    let mut app = app();
    draw(&mut app, 120, 40);
    assert_eq!(key(&mut app, KeyCode::Char('y')), Some(Action::Yank));
    let host = app.take_yank().expect("a host name");
    assert!(app.fleet.hosts.iter().any(|h| h.name == host), "{host}");
    goto(&mut app, "alerts");
    draw(&mut app, 120, 40);
    assert_eq!(key(&mut app, KeyCode::Char('y')), Some(Action::Yank));
    let row = alert_rows_of(&mut app)[0].clone();
    let text = app.take_yank().expect("the alert");
    assert!(
        text.starts_with(&format!("{} {}", row.host_name, row.rule))
            && text.ends_with(&format!(": {}", row.message)),
        "{text}"
    );
}

/// The disks pane reuses the rows of hosts a poll did not change (only their freshness
/// moves): after each poll and tick they must be the rows built from scratch, with and
/// without a filter, and a filter typed in between must not keep rows it drops.
#[test]
fn the_disks_pane_after_a_poll_shows_the_rows_built_from_scratch() {
    let mut app = app();
    goto(&mut app, "disks");
    let check = |app: &mut App, when: &str| {
        app.ensure_model();
        let m = app.model.as_ref().unwrap();
        let got = m.content::<disks_pane::Disks>().expect("the disks pane");
        let ctx = Ctx {
            fleet: &app.fleet,
            state: app.store.state(),
            health: app.store.health(),
            now: app.now,
        };
        let hosts = app.pane_hosts(m);
        let keeps = |fields: Vec<&str>| app.query.filter.as_ref().is_none_or(|f| f.keeps(fields));
        let disks: Vec<_> = view::disk_rows(&ctx, &hosts)
            .into_iter()
            .filter(|r| keeps(r.filter_fields().collect()))
            .collect();
        let backups: Vec<_> = view::backup_rows(&ctx, &hosts)
            .into_iter()
            .filter(|r| keeps(r.filter_fields().collect()))
            .collect();
        assert_eq!(got.disks, disks, "{when}");
        assert_eq!(got.backups, backups, "{when}");
    };
    check(&mut app, "at first");
    for (k, filter) in [None, Some("!fisco-2"), Some("pg")].into_iter().enumerate() {
        if let Some(f) = filter {
            key(&mut app, KeyCode::Char('/'));
            for _ in 0..20 {
                key(&mut app, KeyCode::Backspace);
            }
            typing(&mut app, f);
            key(&mut app, KeyCode::Enter);
            check(&mut app, &format!("filter {f}"));
        }
        let secs = T0 + 30 * k as u64;
        app.on_observation(fisco(2, secs + 1, 10_100, false));
        app.on_tick(at(secs + 1));
        check(&mut app, &format!("{filter:?}: fisco-3 polled"));
        app.on_observation(pg(secs + 2, false, 97.0));
        app.on_tick(at(secs + 2));
        check(&mut app, &format!("{filter:?}: pg polled"));
        app.on_tick(at(secs + 29));
        check(&mut app, &format!("{filter:?}: time passed"));
    }
}

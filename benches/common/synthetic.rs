//! A synthetic fleet of N hosts in a realistic state, for render benchmarks.
//!
//! The inventory is real TOML through `inventory::load_fleet_from_str`; the state is built by
//! feeding `Observation`s to the console's own `App`, 10 minutes of them per host at a 5 s
//! interval (so height histories are full, as in a console that has been open a while). The
//! mix: most hosts healthy, some with a full disk, a stopped service, a stale backup, a lagging
//! chain, and a few unreachable. No clock is read: everything is relative to [`NOW`].
//!
//! Callers: `benches/render.rs` and `tests/bench_smoke.rs`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fleetdeck::inventory::{ChainKind, ConfigSource, Fleet, load_fleet_from_str};
use fleetdeck::observation::{
    BackupFile, BackupObs, ChainObs, DiskObs, DiskUsage, LoadAvg, Metric, Observation, Probed,
    ServiceObs, ServiceState, Unreachable, UnreachableKind,
};
use fleetdeck::ui::theme::Theme;
use fleetdeck::ui::{Action, App};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// The instant every synthetic observation is relative to (2027-01-15T08:00:00Z).
pub const NOW_SECS: u64 = 1_800_000_000;

/// [`NOW_SECS`] as a `SystemTime`.
pub fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

/// Polls of history per host: 10 minutes at 5 s.
const HISTORY: u64 = 120;
const INTERVAL: u64 = 5;

/// Inventory text of `n` hosts in four regions: three services, two disks, a backup set each,
/// and a geth node on every other host (the even-numbered ones).
pub fn inventory_toml(n: usize) -> String {
    let mut t = String::from(
        "[fleet]\nname = \"bench\"\ninterval = \"5s\"\n\n\
         [profiles.node]\n\
         services = [\n\
         { name = \"geth\", kind = \"systemd\", unit = \"geth.service\" },\n\
         { name = \"nginx\", kind = \"systemd\", unit = \"nginx.service\" },\n\
         { name = \"exporter\", kind = \"port\", port = 9100 },\n]\n\
         disks = [{ mount = \"/\" }, { mount = \"/data\" }]\n\
         backups = [{ name = \"postgres\", dir = \"/var/backups/pg\", pattern = \"*-postgres-backup.sql.gz\", every = \"24h\" }]\n",
    );
    for i in 0..n {
        let region = ["aws", "ali", "gcp", "hetzner"][i % 4];
        t.push_str(&format!(
            "\n[[hosts]]\nname = \"{region}-node-{i:04}\"\naddress = \"10.{}.{}.{}\"\nprofile = \"node\"\ngroups = [\"{region}\"]\n",
            (i / 65536) % 256,
            (i / 256) % 256,
            i % 256
        ));
        if i % 2 == 0 {
            t.push_str("chain = { kind = \"ethereum\", rpc = \"http://127.0.0.1:8545\" }\n");
        }
    }
    t
}

/// The synthetic fleet of `n` hosts.
pub fn fleet(n: usize) -> Fleet {
    load_fleet_from_str(&inventory_toml(n), ConfigSource::Embedded)
        .unwrap_or_else(|e| panic!("the synthetic inventory must load: {e}"))
}

fn disk(mount: &str, percent: f64) -> DiskObs {
    let total = 500u64 << 30;
    let used = (total as f64 * percent / 100.0) as u64;
    DiskObs {
        mount: mount.into(),
        usage: Ok(DiskUsage {
            filesystem: format!("/dev/{}", if mount == "/" { "vda1" } else { "vdb" }),
            total_bytes: total,
            used_bytes: used,
            avail_bytes: total - used,
            used_percent: percent,
            mounted_on: mount.into(),
        }),
    }
}

fn service(name: &str, state: ServiceState) -> ServiceObs {
    ServiceObs {
        name: name.into(),
        state,
        detail: match state {
            ServiceState::Running => "active (running)".into(),
            _ => "inactive (dead) since 02:14, exit 1".into(),
        },
        since: Some(NOW_SECS as i64 - 86_400),
        restarts: Some(0),
    }
}

/// One poll of host `i`, `ago` seconds before [`NOW_SECS`].
fn observation(i: usize, ago: u64, chain: bool) -> Observation {
    observation_at(i, -(ago as i64), chain)
}

/// One poll of host `i`, `offset` seconds after [`NOW_SECS`] (before it when negative).
fn observation_at(i: usize, offset: i64, chain: bool) -> Observation {
    let t = NOW_SECS as i64 + offset;
    let started = SystemTime::UNIX_EPOCH + Duration::from_secs(t as u64);
    if i % 97 == 13 {
        return Observation {
            host: i,
            started,
            elapsed: Duration::from_secs(3),
            outcome: Err(Unreachable {
                kind: UnreachableKind::Timeout,
                message: "no SSH session with 10.0.0.1:22 within 3s".into(),
                retry_in: Some(Duration::from_secs(8)),
            }),
        };
    }
    let data = if i % 23 == 5 {
        93.5
    } else {
        40.0 + (i % 37) as f64
    };
    let nginx = if i % 31 == 7 {
        ServiceState::Stopped
    } else {
        ServiceState::Running
    };
    let backup_age = if i % 41 == 3 { 3 * 86_400 } else { 3_600 };
    let lag = if i % 19 == 11 { 40 } else { 0 };
    Observation {
        host: i,
        started,
        elapsed: Duration::from_millis(35 + (i % 20) as u64),
        outcome: Ok(Probed {
            host_time: Some(t),
            load: Some(LoadAvg {
                one: 0.4 + (i % 7) as f64 / 10.0,
                five: 0.5,
                fifteen: 0.6,
            }),
            uptime: Some(Duration::from_secs(3_000_000 + i as u64)),
            disks: vec![disk("/", 21.0), disk("/data", data)],
            services: vec![
                service("geth", ServiceState::Running),
                service("nginx", nginx),
                service("exporter", ServiceState::Running),
            ],
            backups: vec![BackupObs {
                name: "postgres".into(),
                latest: Ok(Some(BackupFile {
                    path: "/var/backups/pg/20270115-postgres-backup.sql.gz".into(),
                    mtime: t - backup_age,
                    size_bytes: 7_340_032_000 + i as u64,
                })),
                previous: Some(BackupFile {
                    path: "/var/backups/pg/20270114-postgres-backup.sql.gz".into(),
                    mtime: t - backup_age - 86_400,
                    size_bytes: 7_300_000_000,
                }),
            }],
            chain: chain.then(|| ChainObs {
                kind: ChainKind::Ethereum,
                height: Metric::Value(
                    18_000_000 + ((HISTORY * INTERVAL) as i64 + offset) as u64 / 2 - lag,
                ),
                syncing: Metric::Value(false),
                peers: Metric::Value(25 + (i % 5) as u64),
                client: Some("Geth/v1.14.11-stable/linux-amd64/go1.23.2".into()),
            }),
            ..Probed::default()
        }),
    }
}

/// A fresh poll of host `k % n`, as of [`now`]: fed to the console between frames, it makes the
/// next frame a real one (the console caches what it computed per state version).
pub fn next_observation(n: usize, k: usize) -> Observation {
    let i = k % n;
    observation(i, 0, i.is_multiple_of(2))
}

/// The console over the synthetic fleet of `n` hosts, every host selected, after 10 minutes of
/// observations.
pub fn app(n: usize) -> App {
    let fleet = Arc::new(fleet(n));
    let chains: Vec<bool> = fleet.hosts.iter().map(|h| h.chain.is_some()).collect();
    let mut app = App::new(fleet, (0..n).collect(), Theme::default_theme(), false);
    for step in 0..HISTORY {
        let ago = (HISTORY - 1 - step) * INTERVAL;
        for (i, &chain) in chains.iter().enumerate() {
            app.on_observation(observation(i, ago, chain));
        }
    }
    app
}

/// A 200×60 test terminal, the size the render benchmarks use.
pub fn terminal() -> Terminal<TestBackend> {
    Terminal::new(TestBackend::new(200, 60)).expect("a test terminal never fails")
}

/// Draws one frame of the console as of [`now`].
pub fn draw(app: &mut App, terminal: &mut Terminal<TestBackend>) {
    terminal
        .draw(|f| app.render(f, now()))
        .expect("a test terminal never fails");
}

/// Cycles `app` to the pane named `name`; false when the console has no such pane.
pub fn show_pane(app: &mut App, name: &str) -> bool {
    for _ in 0..=app.pane_cycle().len() {
        if app.pane().name() == name {
            return true;
        }
        app.apply(Action::NextPane);
    }
    false
}

/// One frame right after one new observation (the `k`-th), which the console has to derive
/// everything for again.
pub fn frame_after_observation(
    app: &mut App,
    terminal: &mut Terminal<TestBackend>,
    n: usize,
    k: &mut usize,
) {
    *k += 1;
    app.on_observation(next_observation(n, *k));
    // The store judges at most once per second of its time and leaves later observations to
    // the next tick; the console ticks every second. Tick here so every measured frame pays for
    // the health rules and alerts, as the documented figure says.
    app.on_tick(now());
    draw(app, terminal);
}

/// One fresh poll of every host of an `n`-host fleet as of [`now`] (the `round`-th such batch),
/// delivered together — how a whole-fleet refresh arrives from a batched source such as
/// Prometheus (one query per metric for the whole fleet).
pub fn refresh_batch(n: usize, round: usize) -> Vec<Observation> {
    (0..n)
        .map(|i| {
            let mut o = observation(i, 0, i.is_multiple_of(2));
            // A later round is a later poll: a new state version even where nothing changed.
            o.elapsed += Duration::from_millis(round as u64 % 7);
            o
        })
        .collect()
}

/// The console opening over the `n`-host fleet: a new `App`, every host's first poll arriving
/// in one batch, the first tick and the first frame — what an operator waits for after starting
/// `fleetdeck` on a fleet read from a batched source. `fleet` and `first` are built by the
/// caller (the inventory is read before the console starts; the batch comes from the network).
pub fn open_console(
    fleet: Arc<Fleet>,
    first: Vec<Observation>,
    terminal: &mut Terminal<TestBackend>,
) -> App {
    let n = fleet.hosts.len();
    let mut app = App::new(fleet, (0..n).collect(), Theme::default_theme(), false);
    app.on_observations(first);
    app.on_tick(now());
    draw(&mut app, terminal);
    app
}

/// One frame right after a whole-fleet refresh (`refresh_batch`, judged on the next tick).
pub fn frame_after_refresh(
    app: &mut App,
    terminal: &mut Terminal<TestBackend>,
    n: usize,
    round: &mut usize,
) {
    *round += 1;
    app.on_observations(refresh_batch(n, *round));
    app.on_tick(now());
    draw(app, terminal);
}

/// One frame `*secs` seconds after [`now`] (incremented first), after the console's tick of
/// that second; every fifth second a whole-fleet refresh of the `n` hosts, read at that second,
/// arrives first (a 5 s read interval). The other four are what a console does every second
/// between refreshes: the store judges again and the model is rebuilt with only time moved.
pub fn frame_after_tick(
    app: &mut App,
    terminal: &mut Terminal<TestBackend>,
    n: usize,
    secs: &mut u64,
) {
    *secs += 1;
    let t = now() + Duration::from_secs(*secs);
    if secs.is_multiple_of(INTERVAL) {
        app.on_observations(
            (0..n)
                .map(|i| observation_at(i, *secs as i64, i.is_multiple_of(2)))
                .collect(),
        );
    }
    app.on_tick(t);
    terminal
        .draw(|f| app.render(f, t))
        .expect("a test terminal never fails");
}

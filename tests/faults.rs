//! Network faults against real peers, with the poller running as the console runs it: a host
//! down at start, an sshd killed in the middle of a poll, a blackholed host (a network namespace
//! whose packets nftables drops: the TCP connect hangs), a listener that never sends the SSH
//! banner, and an sshd frozen with SIGSTOP under an established connection.
//!
//! What every test proves is the same promise: the bad host's poll ends on its own (a timeout or
//! an unreachable verdict with the backoff visible), every other host keeps being refreshed
//! *while* the bad poll is stuck, and the bad host recovers with no operator action once it is
//! healthy again. "While stuck" is read from the observations themselves (their start time and
//! duration), never from a stopwatch: no assertion here depends on how fast the machine is.
//!
//! The console's side of the same faults (keys still work while a host is blackholed) is in
//! `tests/fault_terminal.rs`; bounded memory under an output flood in `tests/fault_flood.rs`.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use fleetdeck::inventory::{Fleet, load_fleet};
use fleetdeck::observation::{Observation, UnreachableKind};
use fleetdeck::poller::{self, Poller};
use fleetdeck::transport::ssh::{NoPrompt, SshShared};
use fleetdeck::transport::{ExecRequest, Transport};
use support::{ExtraHost, FleetSpec, InventoryOpts, NetnsHost, TestFleet};
use tokio::sync::mpsc;

/// Generous bound for a condition the poller should reach; a test fails, never hangs, past it.
const WAIT: Duration = Duration::from_secs(30);

fn load(path: &Path) -> Fleet {
    load_fleet(Some(path)).unwrap_or_else(|e| panic!("{e}"))
}

fn transports(fleet: &Fleet) -> Vec<Transport> {
    poller::transports(fleet, &SshShared::new(Arc::new(NoPrompt))).unwrap()
}

fn index(fleet: &Fleet, name: &str) -> usize {
    fleet
        .hosts
        .iter()
        .position(|h| h.name == name)
        .unwrap_or_else(|| panic!("no host {name}"))
}

/// The poller as the console runs it (one task per host, each on its own interval), with every
/// observation it sends recorded in arrival order.
struct Recorder {
    _poller: Poller,
    seen: Arc<Mutex<Vec<Observation>>>,
    names: Vec<String>,
    _consumer: tokio::task::JoinHandle<()>,
}

impl Recorder {
    fn start(fleet: Fleet) -> Recorder {
        let ts = transports(&fleet);
        let names = fleet.hosts.iter().map(|h| h.name.clone()).collect();
        let all: Vec<usize> = (0..fleet.hosts.len()).collect();
        let (tx, mut rx) = mpsc::channel(1024);
        let poller = Poller::spawn(Arc::new(fleet), ts, all, tx);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let consumer = tokio::spawn(async move {
            while let Some(obs) = rx.recv().await {
                sink.lock().unwrap().push(obs);
            }
        });
        Recorder {
            _poller: poller,
            seen,
            names,
            _consumer: consumer,
        }
    }

    fn all(&self) -> Vec<Observation> {
        self.seen.lock().unwrap().clone()
    }

    fn of(&self, host: usize) -> Vec<Observation> {
        self.all().into_iter().filter(|o| o.host == host).collect()
    }

    /// Waits (bounded) until `pred` holds over everything recorded so far.
    async fn until(&self, what: &str, pred: impl Fn(&[Observation]) -> bool) -> Vec<Observation> {
        let deadline = Instant::now() + WAIT;
        loop {
            let all = self.all();
            if pred(&all) {
                return all;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out waiting for {what}; observations:\n{}",
                    self.story(&all)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the first observation of `host` recorded after the first `after` ones.
    async fn next_of(&self, host: usize, after: usize) -> Observation {
        let name = self.names[host].clone();
        let all = self
            .until(&format!("observation #{} of {name}", after + 1), |all| {
                all.iter().filter(|o| o.host == host).count() > after
            })
            .await;
        all.into_iter()
            .filter(|o| o.host == host)
            .nth(after)
            .unwrap()
    }

    /// One line per observation, for failure messages.
    fn story(&self, all: &[Observation]) -> String {
        let t0 = all
            .first()
            .map(|o| o.started)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        all.iter()
            .map(|o| {
                let at = o.started.duration_since(t0).unwrap_or_default();
                let what = match &o.outcome {
                    Ok(p) if p.probe_errors.is_empty() => "ok".to_string(),
                    Ok(p) => format!("reachable, probe errors {:?}", p.probe_errors),
                    Err(u) => format!("{:?}: {} (retry in {:?})", u.kind, u.message, u.retry_in),
                };
                format!(
                    "  +{:>6.2}s {:<6} took {:>5.2}s  {what}",
                    at.as_secs_f64(),
                    self.names[o.host],
                    o.elapsed.as_secs_f64()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Observations of `host` that started and finished inside `window`'s poll: what the poller did
/// for that host while `window` was stuck.
fn completed_during(all: &[Observation], host: usize, window: &Observation) -> usize {
    let from = window.started;
    let to = window.started + window.elapsed;
    all.iter()
        .filter(|o| o.host == host && o.started >= from && o.started + o.elapsed <= to)
        .count()
}

fn is_ok(o: &Observation) -> bool {
    matches!(&o.outcome, Ok(p) if p.probe_errors.is_empty())
}

/// Asserts that each of `others` completed at least `min` clean polls while `stuck` was in flight.
fn assert_refreshed_during(
    rec: &Recorder,
    all: &[Observation],
    others: &[usize],
    stuck: &Observation,
    min: usize,
) {
    for &h in others {
        let n = completed_during(all, h, stuck);
        assert!(
            n >= min,
            "{} was refreshed {n} time(s) while {}'s poll was stuck for {:?} (expected at least {min}):\n{}",
            rec.names[h],
            rec.names[stuck.host],
            stuck.elapsed,
            rec.story(all)
        );
        let during: Vec<&Observation> = all
            .iter()
            .filter(|o| {
                o.host == h
                    && o.started >= stuck.started
                    && o.started + o.elapsed <= stuck.started + stuck.elapsed
            })
            .collect();
        assert!(
            during.iter().all(|o| is_ok(o)),
            "{} stayed healthy while {} was stuck:\n{}",
            rec.names[h],
            rec.names[stuck.host],
            rec.story(all)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_down_at_start_backs_off_visibly_and_recovers_on_its_own() {
    let mut peers = TestFleet::start(FleetSpec::hosts(3));
    let config = peers.write_inventory(&InventoryOpts::default());
    peers.stop_host(1);

    // The headless view of the same moment: the backoff is in the status JSON.
    let out = std::process::Command::new(support::fleetdeck_bin())
        .args(["status", "--json", "--config"])
        .arg(&config)
        .env_remove("SSH_AUTH_SOCK")
        .env("XDG_STATE_HOME", peers.root().join("state"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let h2 = report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "h2")
        .unwrap();
    assert_eq!(h2["reachable"], false, "{h2:#}");
    assert_eq!(h2["error_kind"], "connect", "{h2:#}");
    assert!(
        h2["retry_in_seconds"].is_u64(),
        "backoff visible in status --json: {h2:#}"
    );

    let rec = Recorder::start(load(&config));
    // Two failed polls: the second one is answered at once from the backoff, with the time left.
    let all = rec
        .until(
            "two polls of the down host and two of each other host",
            |all| (0..3).all(|h| all.iter().filter(|o| o.host == h).count() >= 2),
        )
        .await;
    for o in all.iter().filter(|o| o.host == 1) {
        let err = o
            .outcome
            .as_ref()
            .err()
            .unwrap_or_else(|| panic!("h2 is down:\n{}", rec.story(&all)));
        assert_eq!(err.kind, UnreachableKind::Connect, "{}", rec.story(&all));
        assert!(
            err.retry_in.is_some(),
            "every failure says when the next attempt is: {err:?}"
        );
    }
    for h in [0, 2] {
        assert!(
            all.iter().filter(|o| o.host == h).all(is_ok),
            "{}",
            rec.story(&all)
        );
    }

    peers.start_host(1);
    let before = rec.of(1).len();
    rec.until("h2 reconnected with no operator action", |all| {
        all.iter().filter(|o| o.host == 1).skip(before).any(is_ok)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sshd_killed_in_the_middle_of_a_poll_ends_that_poll_and_the_host_comes_back() {
    let mut peers = TestFleet::start(FleetSpec::hosts(2));
    let h1 = peers.host(0);
    let marker = h1.home.join("in-poll");
    // "slow" is a second inventory entry for h1's sshd whose poll takes seconds and says when it
    // has started, so the kill provably lands inside an exec.
    let slow = ExtraHost {
        toml: format!(
            "services = [{{ name = \"slow\", kind = \"command\", command = {} }}]",
            support::fleet::toml_str("touch \"$HOME/in-poll\"; sleep 3")
        ),
        ..ExtraHost::at_port("slow", h1.port)
    };
    let config = peers.write_inventory(&InventoryOpts {
        extra_hosts: vec![slow],
        ..InventoryOpts::default()
    });
    let fleet = load(&config);
    let slow = index(&fleet, "slow");
    let rec = Recorder::start(fleet);
    rec.until("a first clean poll of every host", |all| {
        (0..3).all(|h| all.iter().any(|o| o.host == h && is_ok(o)))
    })
    .await;

    let _ = std::fs::remove_file(&marker);
    assert!(
        support::fleet::wait_until(WAIT, || marker.exists()).is_some(),
        "slow's next poll never started"
    );
    let seen = rec.of(slow).len();
    peers.stop_host(0);
    let cut = rec.next_of(slow, seen).await;
    let err = cut.outcome.as_ref().err().unwrap_or_else(|| {
        panic!(
            "a poll whose connection died under it must say the host is unreachable, not report \
             a reachable host with empty parts:\n{}",
            rec.story(&rec.all())
        )
    });
    assert!(
        matches!(
            err.kind,
            UnreachableKind::Disconnected | UnreachableKind::Connect
        ),
        "{err:?}"
    );

    // Down: every later poll of h1 fails fast with the backoff; h2 carries on.
    let h2_before = rec.of(1).len();
    let all = rec
        .until("two more failures of h1 while h2 keeps refreshing", |all| {
            let h1_fails = all
                .iter()
                .filter(|o| o.host == 0 && o.started > cut.started && o.outcome.is_err())
                .count();
            let h2_more = all.iter().filter(|o| o.host == 1).count() - h2_before;
            h1_fails >= 2 && h2_more >= 2
        })
        .await;
    assert!(
        all.iter()
            .filter(|o| o.host == 0 && o.started > cut.started)
            .filter_map(|o| o.outcome.as_ref().err())
            .all(|e| e.retry_in.is_some()),
        "{}",
        rec.story(&all)
    );
    assert!(
        all.iter().filter(|o| o.host == 1).all(is_ok),
        "{}",
        rec.story(&all)
    );

    peers.start_host(0);
    let (b0, bs) = (rec.of(0).len(), rec.of(slow).len());
    rec.until("h1 and slow reconnected on their own", |all| {
        all.iter().filter(|o| o.host == 0).skip(b0).any(is_ok)
            && all.iter().filter(|o| o.host == slow).skip(bs).any(is_ok)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_host_times_out_while_every_other_host_keeps_refreshing() {
    let peers = TestFleet::start(FleetSpec::hosts(2));
    let dark = NetnsHost::start(&peers);
    let config = peers.write_inventory(&InventoryOpts {
        known_hosts: Some(vec![
            peers.known_hosts().to_path_buf(),
            dark.known_hosts().to_path_buf(),
        ]),
        connect_timeout: "6s".into(),
        command_timeout: "5s".into(),
        extra_hosts: vec![dark.extra_host("dark")],
        ..InventoryOpts::default()
    });
    let fleet = load(&config);
    let d = index(&fleet, "dark");
    let ts = transports(&fleet);
    // Reachable before the fault: the namespace host is a real, working host.
    let first = poller::poll_once(&fleet, &ts, &[d]).await;
    assert!(is_ok(&first[0]), "{:?}", first[0].outcome);
    // A fresh transport for the poller, so its first connect meets the blackhole.
    drop(ts);
    dark.blackhole();
    assert!(dark.is_blackholed());

    let rec = Recorder::start(fleet);
    let stuck = rec.next_of(d, 0).await;
    let err = stuck
        .outcome
        .as_ref()
        .expect_err("a blackholed host is unreachable");
    assert_eq!(err.kind, UnreachableKind::Timeout, "{err:?}");
    assert!(
        err.retry_in.is_some(),
        "the next attempt is scheduled: {err:?}"
    );
    let all = rec.all();
    assert_refreshed_during(&rec, &all, &[0, 1], &stuck, 2);

    // Traffic flows again: the host comes back with nobody touching anything.
    dark.restore();
    let seen = rec.of(d).len();
    rec.until("dark reconnected after the blackhole lifted", |all| {
        all.iter().filter(|o| o.host == d).skip(seen).any(is_ok)
    })
    .await;

    // Blackholed again under an established connection: the poll still ends on its own.
    dark.blackhole();
    let seen = rec.of(d).len();
    let mut at = seen;
    let mut dark_poll = rec.next_of(d, at).await;
    // A poll that was already past its exec when the packets stopped may still come back clean.
    if is_ok(&dark_poll) {
        at += 1;
        dark_poll = rec.next_of(d, at).await;
    }
    assert!(!is_ok(&dark_poll), "{}", rec.story(&rec.all()));
    let all = rec.all();
    assert_refreshed_during(&rec, &all, &[0, 1], &dark_poll, 2);
    // …and the one after it does not wait on the dead connection forever either.
    let after = rec.next_of(d, at + 1).await;
    assert!(!is_ok(&after), "{}", rec.story(&rec.all()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_listener_and_a_frozen_sshd_time_out_while_every_other_host_keeps_refreshing() {
    let mut peers = TestFleet::start(FleetSpec::hosts(3));
    let silent = peers.silent_port();
    let config = peers.write_inventory(&InventoryOpts {
        connect_timeout: "6s".into(),
        command_timeout: "5s".into(),
        extra_hosts: vec![ExtraHost::at_port("mute", silent)],
        ..InventoryOpts::default()
    });
    let fleet = load(&config);
    let mute = index(&fleet, "mute");
    let rec = Recorder::start(fleet);

    // TCP connects, the banner never comes: the handshake timeout fires.
    let stuck = rec.next_of(mute, 0).await;
    let err = stuck
        .outcome
        .as_ref()
        .expect_err("a silent listener is unreachable");
    assert_eq!(err.kind, UnreachableKind::Timeout, "{err:?}");
    assert!(err.retry_in.is_some(), "{err:?}");
    let all = rec.all();
    assert_refreshed_during(&rec, &all, &[0, 1, 2], &stuck, 2);

    // h3 hangs (SIGSTOP) under its established connection.
    rec.until("a clean poll of h3", |all| {
        all.iter().any(|o| o.host == 2 && is_ok(o))
    })
    .await;
    peers.freeze_host(2);
    let seen = rec.of(2).len();
    let mut frozen = rec.next_of(2, seen).await;
    if is_ok(&frozen) {
        frozen = rec.next_of(2, seen + 1).await;
    }
    assert!(!is_ok(&frozen), "{}", rec.story(&rec.all()));
    let all = rec.all();
    assert_refreshed_during(&rec, &all, &[0, 1], &frozen, 2);

    peers.thaw_host(2);
    let seen = rec.of(2).len();
    rec.until("h3 healthy again after it was thawed", |all| {
        all.iter().filter(|o| o.host == 2).skip(seen).any(is_ok)
    })
    .await;
}

/// h1's sshd under a second inventory name whose only service hangs while `$HOME/hang` exists.
fn hanging_twin(peers: &TestFleet) -> ExtraHost {
    ExtraHost {
        toml: format!(
            "disks = [{{ mount = \"/\" }}]\nservices = [{{ name = \"stuck\", kind = \"command\", command = {} }}]",
            support::fleet::toml_str("if [ -f \"$HOME/hang\" ]; then sleep 60; fi")
        ),
        ..ExtraHost::at_port("stuck", peers.host(0).port)
    }
}

fn ssh_connects(t: &Transport) -> u64 {
    match t {
        Transport::Ssh(h) => h.connects(),
        Transport::Local(_) => panic!("expected an SSH transport"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_probe_command_costs_only_its_own_part_and_never_the_connection() {
    let peers = TestFleet::start(FleetSpec::hosts(1));
    std::fs::write(peers.host(0).home.join("hang"), "").unwrap();

    // The host's own per-command bound (`timeout 10` around each probe) fires before the exec's:
    // the hung service is "timed out", everything else in the batch is still read.
    let config = peers.write_inventory(&InventoryOpts {
        command_timeout: "20s".into(),
        extra_hosts: vec![hanging_twin(&peers)],
        ..InventoryOpts::default()
    });
    let fleet = load(&config);
    let s = index(&fleet, "stuck");
    let ts = transports(&fleet);
    let obs = &poller::poll_once(&fleet, &ts, &[s]).await[0];
    let p = obs
        .outcome
        .as_ref()
        .expect("a hung command is not a dead host");
    let svc = &p.services[0];
    assert_ne!(
        svc.state,
        fleetdeck::observation::ServiceState::Running,
        "{svc:?}"
    );
    assert!(svc.detail.contains("timed out"), "{svc:?}");
    assert!(
        p.disks[0].usage.is_ok(),
        "the rest of the batch survives: {:?}",
        p.disks
    );
    assert!(p.load.is_some());

    // An exec bound shorter than that: the whole batch is cut, reported as a probe error, and
    // the same connection serves the next poll.
    let config = peers.write_inventory(&InventoryOpts {
        command_timeout: "2s".into(),
        extra_hosts: vec![hanging_twin(&peers)],
        ..InventoryOpts::default()
    });
    let fleet = load(&config);
    let ts = transports(&fleet);
    let obs = &poller::poll_once(&fleet, &ts, &[s]).await[0];
    let p = obs
        .outcome
        .as_ref()
        .expect("a hung command is not a dead host");
    assert!(
        p.probe_errors.iter().any(|e| e.contains("timed out")),
        "{:?}",
        p.probe_errors
    );
    std::fs::remove_file(peers.host(0).home.join("hang")).unwrap();
    let obs = &poller::poll_once(&fleet, &ts, &[s]).await[0];
    assert!(is_ok(obs), "{:?}", obs.outcome);
    assert_eq!(
        ssh_connects(&ts[s]),
        1,
        "a timed-out command is not a lost connection"
    );

    // A command run directly (no `timeout` wrapper on the host) times out on our side, and the
    // connection carries on. fleetdeck asks sshd to kill it (a `signal` request), but OpenSSH
    // refuses signals for root logins ("session signalling requires privilege separation"),
    // which is how these test hosts log in: so the command is stopped here by its PID.
    let out = ts[s]
        .exec(&ExecRequest {
            command: "echo $$ > \"$HOME/hung.pid\"; exec sleep 30".into(),
            stdin: None,
            timeout: Duration::from_secs(1),
            max_output: 1024,
        })
        .await;
    assert!(
        matches!(out, Err(fleetdeck::transport::TransportError::Timeout(_))),
        "{out:?}"
    );
    let pid = std::fs::read_to_string(peers.host(0).home.join("hung.pid")).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status();
    let out = ts[s]
        .exec(&ExecRequest {
            command: "echo still-here".into(),
            stdin: None,
            timeout: Duration::from_secs(10),
            max_output: 1024,
        })
        .await
        .unwrap();
    assert_eq!(out.stdout, b"still-here\n");
    assert_eq!(ssh_connects(&ts[s]), 1);
}

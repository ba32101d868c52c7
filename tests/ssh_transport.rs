//! The SSH transport and poller against real OpenSSH sshd hosts: one persistent connection per
//! host, bounded channels, output caps, timeouts, reconnection with backoff, encrypted keys, and a
//! chain height that advances through the forward.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use fleetdeck::inventory::{Fleet, load_fleet};
use fleetdeck::observation::UnreachableKind;
use fleetdeck::poller;
use fleetdeck::transport::ssh::{NoPrompt, PassphrasePrompt, SshShared};
use fleetdeck::transport::{ExecRequest, Transport, TransportError};
use futures::future::BoxFuture;
use support::{FleetSpec, InventoryOpts, TestFleet};

fn load(path: &Path) -> Fleet {
    load_fleet(Some(path)).unwrap_or_else(|e| panic!("{e}"))
}

fn transports(fleet: &Fleet) -> Vec<Transport> {
    poller::transports(fleet, &SshShared::new(Arc::new(NoPrompt))).unwrap()
}

fn ssh_connects(t: &Transport) -> u64 {
    match t {
        Transport::Ssh(h) => h.connects(),
        Transport::Local(_) => panic!("expected an SSH transport"),
    }
}

fn req(command: &str, timeout: Duration, max_output: usize) -> ExecRequest {
    ExecRequest {
        command: command.into(),
        stdin: None,
        timeout,
        max_output,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_serves_every_poll_and_more_commands_than_max_sessions() {
    let fleet_peers = TestFleet::start(FleetSpec::hosts(2));
    let fleet = load(&fleet_peers.write_inventory(&InventoryOpts::default()));
    let ts = transports(&fleet);
    for _ in 0..3 {
        for obs in poller::poll_once(&fleet, &ts, &[0, 1]).await {
            assert!(obs.outcome.is_ok(), "{:?}", obs.outcome.err());
        }
    }
    assert_eq!(ssh_connects(&ts[0]), 1, "three polls, one connection");
    assert_eq!(ssh_connects(&ts[1]), 1);
    // sshd refuses the 11th concurrent session (MaxSessions 10); the transport queues instead.
    let runs = (0..24).map(|i| {
        let t = ts[0].clone();
        async move {
            t.exec(&req(
                &format!("sleep 0.3; echo {i}"),
                Duration::from_secs(20),
                1024,
            ))
            .await
        }
    });
    let results = futures::future::join_all(runs).await;
    for (i, r) in results.into_iter().enumerate() {
        let out = r.unwrap_or_else(|e| panic!("command {i}: {e}"));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), i.to_string());
        assert_eq!(out.status, Some(0));
    }
    assert_eq!(ssh_connects(&ts[0]), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_capped_and_reported_and_a_hung_command_times_out_without_losing_the_connection()
{
    let peers = TestFleet::start(FleetSpec::hosts(1));
    let fleet = load(&peers.write_inventory(&InventoryOpts::default()));
    let ts = transports(&fleet);
    let out = ts[0]
        .exec(&req(
            "head -c 3000000 /dev/urandom; echo err >&2",
            Duration::from_secs(20),
            1 << 20,
        ))
        .await
        .unwrap();
    assert_eq!(out.stdout.len(), 1 << 20);
    assert_eq!(out.dropped_bytes, 3_000_000 - (1 << 20));
    assert!(out.truncated());
    assert_eq!(out.stderr, b"err\n");
    let err = ts[0]
        .exec(&req("sleep 30", Duration::from_millis(500), 1024))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout(_)), "{err:?}");
    let out = ts[0]
        .exec(&req("echo still-here", Duration::from_secs(10), 1024))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"still-here\n");
    assert_eq!(ssh_connects(&ts[0]), 1, "a timeout is not a dead host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_comes_back_is_reconnected_on_its_own() {
    let mut peers = TestFleet::start(FleetSpec::hosts(2));
    let fleet = load(&peers.write_inventory(&InventoryOpts::default()));
    let ts = transports(&fleet);
    let first = poller::poll_once(&fleet, &ts, &[0, 1]).await;
    assert!(first.iter().all(|o| o.outcome.is_ok()));
    peers.stop_host(0);
    let down = poller::poll_once(&fleet, &ts, &[0, 1]).await;
    let err = down[0].outcome.as_ref().expect_err("h1 is down");
    assert!(
        matches!(
            err.kind,
            UnreachableKind::Connect | UnreachableKind::Disconnected
        ),
        "{err:?}"
    );
    assert!(down[1].outcome.is_ok(), "h2 is unaffected");
    // While backing off, the transport answers at once with the time of the next attempt.
    let again = poller::poll_once(&fleet, &ts, &[0]).await;
    let err = again[0].outcome.as_ref().expect_err("still down");
    assert!(err.retry_in.is_some(), "backoff is visible: {err:?}");
    peers.start_host(0);
    let mut recovered = false;
    for _ in 0..60 {
        if poller::poll_once(&fleet, &ts, &[0]).await[0]
            .outcome
            .is_ok()
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        recovered,
        "h1 came back and was reconnected without any operator action"
    );
    assert_eq!(ssh_connects(&ts[0]), 2);
    assert_eq!(ssh_connects(&ts[1]), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_height_read_through_the_forward_advances() {
    let peers = TestFleet::start(FleetSpec::hosts(1).with_anvils(1));
    let fleet = load(&peers.write_inventory(&InventoryOpts::default()));
    let ts = transports(&fleet);
    let height = |obs: &fleetdeck::observation::Observation| {
        let probed = obs.outcome.as_ref().expect("reachable");
        let chain = probed.chain.as_ref().expect("chain observed");
        *chain
            .height
            .value()
            .unwrap_or_else(|| panic!("height: {:?}", chain.height))
    };
    let first = height(&poller::poll_once(&fleet, &ts, &[0]).await[0]);
    let mut later = first;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        later = height(&poller::poll_once(&fleet, &ts, &[0]).await[0]);
        if later > first {
            break;
        }
    }
    assert!(
        later > first,
        "anvil mines a block a second: {first} → {later}"
    );
    assert_eq!(ssh_connects(&ts[0]), 1);
}

/// Answers with a fixed passphrase, wrong the first time, and counts how often it was asked.
struct Scripted {
    asked: AtomicU32,
    right: String,
}

impl PassphrasePrompt for Scripted {
    fn ask(&self, _key: &Path, attempt: u32) -> BoxFuture<'static, Option<String>> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let answer = if attempt == 1 {
            "wrong".to_string()
        } else {
            self.right.clone()
        };
        Box::pin(async move { Some(answer) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_identity_file_is_unlocked_once_for_every_host() {
    let peers = TestFleet::start(FleetSpec::hosts(2));
    let key = peers.root().join("encrypted_ed25519");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "correct horse", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(keygen.success());
    let public = std::fs::read_to_string(PathBuf::from(format!("{}.pub", key.display()))).unwrap();
    let authorized = peers.root().join("authorized_keys");
    let mut text = std::fs::read_to_string(&authorized).unwrap();
    text.push_str(&public);
    std::fs::write(&authorized, text).unwrap();
    let fleet = load(&peers.write_inventory(&InventoryOpts {
        identity_files: Some(vec![key.clone()]),
        ..InventoryOpts::default()
    }));
    let prompt = Arc::new(Scripted {
        asked: AtomicU32::new(0),
        right: "correct horse".into(),
    });
    let shared = SshShared::new(prompt.clone());
    let ts = poller::transports(&fleet, &shared).unwrap();
    for obs in poller::poll_once(&fleet, &ts, &[0, 1]).await {
        assert!(obs.outcome.is_ok(), "{:?}", obs.outcome.err());
    }
    assert_eq!(
        prompt.asked.load(Ordering::SeqCst),
        2,
        "one wrong try, one right, then cached for both hosts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_and_ecdsa_identity_files_authenticate() {
    let peers = TestFleet::start(FleetSpec::hosts(1));
    let authorized = peers.root().join("authorized_keys");
    for (kind, bits) in [("rsa", "3072"), ("ecdsa", "256")] {
        let key = peers.root().join(format!("id_{kind}"));
        let keygen = Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-b", bits, "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(keygen.success());
        // Only this key is authorized, so success proves this key type worked.
        std::fs::copy(PathBuf::from(format!("{}.pub", key.display())), &authorized).unwrap();
        let fleet = load(&peers.write_inventory(&InventoryOpts {
            identity_files: Some(vec![key.clone()]),
            ..InventoryOpts::default()
        }));
        let obs = poller::poll_once(&fleet, &transports(&fleet), &[0]).await;
        assert!(
            obs[0].outcome.is_ok(),
            "{kind}: {:?}",
            obs[0].outcome.as_ref().err()
        );
    }
}

//! The SSH transport and poller against real OpenSSH sshd hosts: one persistent connection per
//! host, bounded channels, output caps, timeouts, reconnection with backoff, encrypted keys, the
//! committed fixture keys (tests/fixtures/keys: RSA and ECDSA, short private scalars included)
//! as identity files, through an ssh-agent and as host keys, and a chain height that advances
//! through the forward.

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

/// Passphrase of the encrypted fixture keys (tests/fixtures/keys/README.md).
const FIXTURE_PASSPHRASE: &str = "fleetdeck test passphrase";

/// Fixture keys that authenticate as they are, each a different shape.
const PLAIN_KEYS: [&str; 5] = [
    "rsa-3072",
    "ecdsa-p256",
    "ecdsa-p256-short",
    "ecdsa-p384-short",
    "ecdsa-p521-short",
];

/// The short-scalar P-256 key, encrypted with ssh-keygen's default cipher and with an AEAD one.
const ENCRYPTED_KEYS: [&str; 2] = ["ecdsa-p256-short-aes256", "ecdsa-p256-short-chacha20"];

/// Copies fixture key `name` (and its `.pub`) into `dir` with mode 0600, which `ssh-add` and
/// `sshd` insist on and git does not keep; returns the private key's path.
fn fixture_key(dir: &Path, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let from = support::repo_root().join("tests/fixtures/keys");
    let key = dir.join(name);
    for suffix in ["", ".pub"] {
        let to = PathBuf::from(format!("{}{suffix}", key.display()));
        std::fs::copy(from.join(format!("{name}{suffix}")), &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    key
}

fn public_key_line(key: &Path) -> String {
    std::fs::read_to_string(format!("{}.pub", key.display())).unwrap()
}

/// Answers every passphrase question with the fixtures' passphrase.
struct FixturePassphrase;

impl PassphrasePrompt for FixturePassphrase {
    fn ask(&self, _key: &Path, _attempt: u32) -> BoxFuture<'static, Option<String>> {
        Box::pin(async { Some(FIXTURE_PASSPHRASE.to_string()) })
    }
}

/// Every fixture key logs in as an identity file: RSA, a full-size P-256, and P-256, P-384 and
/// P-521 keys whose private scalar is shorter than the curve (issue 10: ~1 in 512 fresh P-256
/// keys failed with "SshKey: length invalid"; this test generated a random key per run and so
/// failed at that rate), plain and encrypted. Fixed keys: the same keys every run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_and_ecdsa_identity_files_authenticate() {
    let peers = TestFleet::start(FleetSpec::hosts(1));
    let authorized = peers.root().join("authorized_keys");
    for name in PLAIN_KEYS.iter().chain(&ENCRYPTED_KEYS) {
        let key = fixture_key(peers.root(), name);
        // Only this key is authorized, so success proves this key worked.
        std::fs::write(&authorized, public_key_line(&key)).unwrap();
        let fleet = load(&peers.write_inventory(&InventoryOpts {
            identity_files: Some(vec![key.clone()]),
            ..InventoryOpts::default()
        }));
        let ts = poller::transports(&fleet, &SshShared::new(Arc::new(FixturePassphrase))).unwrap();
        let obs = poller::poll_once(&fleet, &ts, &[0]).await;
        assert!(
            obs[0].outcome.is_ok(),
            "{name}: {:?}",
            obs[0].outcome.as_ref().err()
        );
    }
}

/// The same keys offered by a real ssh-agent (the identity file configured is not authorized,
/// so only the agent can succeed). The console runs as its own process here, with
/// `SSH_AUTH_SOCK` set for it alone, so no other test sees the agent.
#[test]
fn the_same_keys_authenticate_through_an_ssh_agent() {
    let peers = TestFleet::start(FleetSpec::hosts(1));
    let authorized = peers.root().join("authorized_keys");
    let sock = peers.root().join("agent.sock");
    // `-D`: in the foreground, as this test's own child, stopped by its PID when dropped.
    let _agent = Agent(
        Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ssh-agent (openssh-client) must be installed"),
    );
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let config = peers.write_inventory(&InventoryOpts::default());
    for name in PLAIN_KEYS {
        let key = fixture_key(peers.root(), name);
        let ssh_add = |args: &[&std::ffi::OsStr]| {
            let out = Command::new("ssh-add")
                .args(args)
                .env("SSH_AUTH_SOCK", &sock)
                .output()
                .unwrap();
            assert!(out.status.success(), "ssh-add {args:?}: {out:?}");
        };
        ssh_add(&["-D".as_ref()]);
        ssh_add(&["-q".as_ref(), key.as_os_str()]);
        std::fs::write(&authorized, public_key_line(&key)).unwrap();
        let out = Command::new(support::fleetdeck_bin())
            .args(["status", "--json", "--config"])
            .arg(&config)
            .env("SSH_AUTH_SOCK", &sock)
            .env("XDG_STATE_HOME", peers.root().join("state"))
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{name}: no JSON ({e}): {out:?}"));
        assert_eq!(
            report["hosts"][0]["reachable"],
            true,
            "{name}: {report:#}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// An ssh-agent this test started; killed by its PID and reaped when dropped, so it stops even
/// when an assertion fails.
struct Agent(std::process::Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// sshd serving a short-scalar ECDSA host key of each curve: known_hosts verification accepts
/// the recorded key and still refuses a different one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_scalar_ecdsa_host_keys_are_verified() {
    let mut peers = TestFleet::start(FleetSpec::hosts(1));
    let h = peers.host(0);
    let original = h.host_public_key.clone();
    for name in ["ecdsa-p256-short", "ecdsa-p384-short", "ecdsa-p521-short"] {
        let key = fixture_key(peers.root(), name);
        // The host restarts on the same port and config, now with this key in its key file.
        std::fs::copy(&key, &h.host_key).unwrap();
        peers.stop_host(0);
        peers.start_host(0);
        let recorded = public_key_line(&key);
        let known = peers.root().join(format!("known_hosts_{name}"));
        std::fs::write(&known, format!("[127.0.0.1]:{} {recorded}", h.port)).unwrap();
        let fleet = load(&peers.write_inventory(&InventoryOpts {
            known_hosts: Some(vec![known]),
            ..InventoryOpts::default()
        }));
        let obs = poller::poll_once(&fleet, &transports(&fleet), &[0]).await;
        assert!(
            obs[0].outcome.is_ok(),
            "{name}: {:?}",
            obs[0].outcome.as_ref().err()
        );
        // OpenSSH agrees about the key it serves.
        let oracle = Command::new("ssh-keyscan")
            .args(["-t", "ecdsa", "-p", &h.port.to_string(), "127.0.0.1"])
            .output()
            .unwrap();
        let scanned = String::from_utf8_lossy(&oracle.stdout);
        let key_body = recorded.split_whitespace().nth(1).unwrap();
        assert!(scanned.contains(key_body), "{name}: {scanned}");

        // The ed25519 key the host had before is now the wrong one: refused.
        let stale = peers.root().join(format!("known_hosts_stale_{name}"));
        std::fs::write(&stale, format!("[127.0.0.1]:{} {original}\n", h.port)).unwrap();
        let fleet = load(&peers.write_inventory(&InventoryOpts {
            known_hosts: Some(vec![stale]),
            ..InventoryOpts::default()
        }));
        let obs = poller::poll_once(&fleet, &transports(&fleet), &[0]).await;
        let err = obs[0]
            .outcome
            .as_ref()
            .expect_err("a different key is refused");
        assert!(
            matches!(
                err.kind,
                UnreachableKind::HostKeyUnknown | UnreachableKind::HostKeyChanged
            ),
            "{name}: {err:?}"
        );
    }
}

//! SSH certificates against real OpenSSH (issue 11, item 3): host certificates checked against
//! `@cert-authority` lines (valid, expired, not yet valid, wrong principal, revoked key, revoked
//! CA, unknown CA, a CA-signed host whose key rotated) and user certificates accepted by sshd's
//! `TrustedUserCAKeys` (beside the identity file, `CertificateFile`, the inventory's
//! `certificate_files`, in an ssh-agent).
//!
//! Every CA and certificate is made here with `ssh-keygen -s`. The real `ssh` client is the
//! oracle: for each host-certificate case it is run with the same known_hosts file, and
//! fleetdeck must accept exactly when it does (fleetdeck is stricter in one place, checked
//! below: `accept-new` never records the key of a certificate that failed).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fleetdeck::inventory::{Fleet, load_fleet};
use fleetdeck::observation::{Unreachable, UnreachableKind};
use fleetdeck::poller;
use fleetdeck::transport::ssh::{NoPrompt, SshShared};
use support::{InventoryOpts, TestFleet};

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A new ed25519 key at `path` (no passphrase).
fn keygen(path: &Path) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(with_suffix(path, ".pub"));
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "", "-f"])
        .arg(path));
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `ssh-ed25519 AAAA…` of the key at `private`.
fn public_of(private: &Path) -> String {
    let text = std::fs::read_to_string(with_suffix(private, ".pub")).unwrap();
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `SHA256:…` of the key at `private`, as ssh-keygen prints it.
fn fingerprint_of(private: &Path) -> String {
    let out = run(Command::new("ssh-keygen")
        .arg("-lf")
        .arg(with_suffix(private, ".pub")));
    out.split_whitespace().nth(1).unwrap().to_string()
}

/// Signs `key`'s public half with `ca` (`-h` for a host certificate); returns `<key>-cert.pub`.
fn sign(ca: &Path, key: &Path, host: bool, principals: &str, validity: &str, id: &str) -> PathBuf {
    let mut c = Command::new("ssh-keygen");
    c.args(["-q", "-s"]).arg(ca).args(["-I", id]);
    if host {
        c.arg("-h");
    }
    if !principals.is_empty() {
        c.args(["-n", principals]);
    }
    c.args(["-V", validity]).arg(with_suffix(key, ".pub"));
    run(&mut c);
    with_suffix(key, "-cert.pub")
}

/// Host 0 serves `cert` (of its own host key) from now on.
fn serve(peers: &mut TestFleet, cert: &Path) {
    peers.restart_host_with(0, &format!("HostCertificate {}", cert.display()));
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

fn load(path: &Path) -> Fleet {
    load_fleet(Some(path)).unwrap_or_else(|e| panic!("{e}"))
}

/// One poll of host 0 by fleetdeck with `known_hosts` under `policy`.
async fn reach(peers: &TestFleet, known_hosts: &Path, policy: &str) -> Result<(), Unreachable> {
    let fleet = load(&peers.write_inventory(&InventoryOpts {
        known_hosts: Some(vec![known_hosts.to_path_buf()]),
        host_key_policy: policy.to_string(),
        ..InventoryOpts::default()
    }));
    let ts = poller::transports(&fleet, &SshShared::new(Arc::new(NoPrompt))).unwrap();
    let mut obs = poller::poll_once(&fleet, &ts, &[0]).await;
    obs.remove(0).outcome.map(|_| ())
}

/// Whether the real `ssh` client reaches host 0 with `known_hosts` (strict), and what it said.
fn openssh_reaches(peers: &TestFleet, known_hosts: &Path) -> (bool, String) {
    let out = Command::new("ssh")
        .args(["-F", "/dev/null", "-i"])
        .arg(peers.client_key())
        .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o"])
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "ConnectTimeout=10",
            "-p",
        ])
        .arg(peers.host(0).port.to_string())
        .arg(format!("{}@127.0.0.1", peers.user()))
        .arg("true")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A CA (an ed25519 key pair) in the fleet's directory.
fn new_ca(peers: &TestFleet, name: &str) -> PathBuf {
    let ca = peers.root().join(name);
    keygen(&ca);
    ca
}

fn refusal(result: Result<(), Unreachable>, case: &str) -> Unreachable {
    result.expect_err(&format!("{case}: fleetdeck must refuse"))
}

/// Both fleetdeck (strict and accept-new) and OpenSSH refuse host 0 with `known_hosts`;
/// `accept-new` records nothing. Returns fleetdeck's refusal.
async fn all_refuse(peers: &TestFleet, known_hosts: &Path, case: &str) -> Unreachable {
    let before = std::fs::read(known_hosts).unwrap();
    let strict = refusal(reach(peers, known_hosts, "strict").await, case);
    let accept_new = refusal(reach(peers, known_hosts, "accept-new").await, case);
    // The same refusal under both policies; the clock reading in it is taken at each attempt.
    assert_eq!(
        without_clock(&strict.message),
        without_clock(&accept_new.message),
        "{case}"
    );
    assert_eq!(
        std::fs::read(known_hosts).unwrap(),
        before,
        "{case}: accept-new recorded a key whose certificate was refused"
    );
    let (ok, said) = openssh_reaches(peers, known_hosts);
    assert!(!ok, "{case}: OpenSSH accepted what fleetdeck refused");
    eprintln!("{case}: OpenSSH said {said:?}; fleetdeck said {strict:?}");
    strict
}

/// `message` with the time after "this machine's clock says" blanked: two attempts a second
/// apart read the clock differently and are still the same refusal.
fn without_clock(message: &str) -> String {
    const CLOCK: &str = "this machine's clock says ";
    match message.find(CLOCK) {
        Some(at) => {
            let from = at + CLOCK.len();
            let to = message[from..]
                .find(')')
                .map_or(message.len(), |i| from + i);
            format!("{}…{}", &message[..from], &message[to..])
        }
        None => message.to_string(),
    }
}

/// Both fleetdeck and OpenSSH reach host 0 with `known_hosts`.
async fn all_accept(peers: &TestFleet, known_hosts: &Path, case: &str) {
    if let Err(e) = reach(peers, known_hosts, "strict").await {
        panic!("{case}: fleetdeck refused: {e:?}");
    }
    let (ok, said) = openssh_reaches(peers, known_hosts);
    assert!(ok, "{case}: OpenSSH refused: {said}");
}

fn assert_says(err: &Unreachable, words: &[&str], case: &str) {
    for w in words {
        assert!(
            err.message.contains(w),
            "{case}: {w:?} missing from {:?}",
            err.message
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_signed_host_is_accepted_with_only_a_cert_authority_line_and_nothing_is_recorded() {
    let mut peers = TestFleet::start(support::FleetSpec::hosts(1));
    let ca = new_ca(&peers, "host_ca");
    let h = peers.host(0);
    let cert = sign(&ca, &h.host_key, true, "127.0.0.1", "-5m:+1h", "h1");
    serve(&mut peers, &cert);
    for (case, pattern) in [
        ("wildcard port", "[127.0.0.1]:*"),
        ("exact port", &format!("[127.0.0.1]:{}", h.port)),
        // OpenSSH also tries the bare host name on another port.
        ("bare host", "127.0.0.1"),
    ] {
        let kh = write(
            &peers.root().join("kh_ca_only"),
            &format!("@cert-authority {pattern} {}\n", public_of(&ca)),
        );
        all_accept(&peers, &kh, case).await;
        // accept-new has nothing to record: the certificate is the trust.
        reach(&peers, &kh, "accept-new").await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&kh).unwrap().lines().count(),
            1,
            "{case}: a plain key was recorded for a CA-signed host"
        );
    }
}

/// Trusting a CA changes nothing for a host that has no certificate: it is asked for
/// certificates first, answers with its plain key, and that key is checked (and recorded by
/// `accept-new`) as before — OpenSSH does the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_without_a_certificate_is_checked_by_its_key_when_a_ca_is_trusted() {
    let peers = TestFleet::start(support::FleetSpec::hosts(1));
    let ca = new_ca(&peers, "host_ca");
    let h = peers.host(0);
    let ca_line = format!("@cert-authority [127.0.0.1]:* {}\n", public_of(&ca));
    let known = write(
        &peers.root().join("kh_known"),
        &format!("{ca_line}[127.0.0.1]:{} {}\n", h.port, h.host_public_key),
    );
    all_accept(&peers, &known, "key recorded").await;
    let only_ca = write(&peers.root().join("kh_only_ca"), &ca_line);
    let err = refusal(reach(&peers, &only_ca, "strict").await, "strict");
    assert_eq!(err.kind, UnreachableKind::HostKeyUnknown, "{err:?}");
    assert!(!openssh_reaches(&peers, &only_ca).0);
    reach(&peers, &only_ca, "accept-new").await.unwrap();
    let recorded = std::fs::read_to_string(&only_ca).unwrap();
    assert!(
        recorded.contains(&h.host_public_key),
        "accept-new records the plain key: {recorded}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_signed_host_whose_key_rotated_is_still_accepted() {
    let mut peers = TestFleet::start(support::FleetSpec::hosts(1));
    let ca = new_ca(&peers, "host_ca");
    let h = peers.host(0);
    let old_key = public_of(&h.host_key);
    serve(
        &mut peers,
        &sign(&ca, &h.host_key, true, "127.0.0.1", "-5m:+1h", "before"),
    );
    // The operator once recorded the plain key too, and trusts the CA.
    let kh = write(
        &peers.root().join("kh_rotation"),
        &format!(
            "[127.0.0.1]:{} {old_key}\n@cert-authority [127.0.0.1]:* {}\n",
            h.port,
            public_of(&ca)
        ),
    );
    all_accept(&peers, &kh, "before rotation").await;

    // Rotation: a new host key and a new certificate from the same CA.
    keygen(&h.host_key);
    assert_ne!(public_of(&h.host_key), old_key);
    serve(
        &mut peers,
        &sign(&ca, &h.host_key, true, "127.0.0.1", "-5m:+1h", "after"),
    );
    all_accept(&peers, &kh, "after rotation").await;

    // Without the CA line the same host is a changed key: the CA is what carries the rotation.
    let plain = write(
        &peers.root().join("kh_plain_old"),
        &format!("[127.0.0.1]:{} {old_key}\n", h.port),
    );
    let err = refusal(reach(&peers, &plain, "strict").await, "no CA");
    assert_eq!(err.kind, UnreachableKind::HostKeyChanged, "{err:?}");
    assert!(!openssh_reaches(&peers, &plain).0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_not_yet_valid_and_wrong_principal_host_certificates_are_refused_saying_which() {
    let mut peers = TestFleet::start(support::FleetSpec::hosts(1));
    let ca = new_ca(&peers, "host_ca");
    let ca_fp = fingerprint_of(&ca);
    let h = peers.host(0);
    let name = format!("[127.0.0.1]:{}", h.port);
    let kh = write(
        &peers.root().join("kh_ca"),
        &format!("@cert-authority [127.0.0.1]:* {}\n", public_of(&ca)),
    );
    let trusted_at = format!("{}:1", kh.display());
    for (case, principals, validity, words) in [
        (
            "expired",
            "127.0.0.1",
            "20200101:20200102",
            vec!["certificate of", "expired at 2020-01-02T00:00:00Z"],
        ),
        (
            "not yet valid",
            "127.0.0.1",
            "+1d:+2d",
            vec!["certificate of", "is not yet valid"],
        ),
        (
            "wrong principal",
            "db9.example,127.0.0.2",
            "-5m:+1h",
            vec![
                "does not list \"127.0.0.1\" as a principal",
                "db9.example, 127.0.0.2",
            ],
        ),
    ] {
        serve(
            &mut peers,
            &sign(&ca, &h.host_key, true, principals, validity, case),
        );
        let err = all_refuse(&peers, &kh, case).await;
        assert_eq!(err.kind, UnreachableKind::HostKeyUnknown, "{case}: {err:?}");
        assert_says(&err, &words, case);
        // Host, CA and the known_hosts line that trusts it are named.
        assert_says(&err, &[&name, &ca_fp, &trusted_at], case);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_host_certificate_falls_back_to_the_recorded_plain_key_as_openssh_does() {
    let mut peers = TestFleet::start(support::FleetSpec::hosts(1));
    let ca = new_ca(&peers, "host_ca");
    let h = peers.host(0);
    serve(
        &mut peers,
        &sign(
            &ca,
            &h.host_key,
            true,
            "127.0.0.1",
            "20200101:20200102",
            "old",
        ),
    );
    let ca_line = format!("@cert-authority [127.0.0.1]:* {}\n", public_of(&ca));
    // The key is recorded as well: OpenSSH warns "Certificate invalid: expired" and connects.
    let kh = write(
        &peers.root().join("kh_fallback"),
        &format!("{ca_line}[127.0.0.1]:{} {}\n", h.port, h.host_public_key),
    );
    all_accept(&peers, &kh, "expired certificate, key recorded").await;
    // A different key recorded: changed, under every policy.
    let wrong = peers.known_hosts_with_wrong_key_for(0);
    let changed = write(
        &peers.root().join("kh_fallback_changed"),
        &format!("{ca_line}{}", std::fs::read_to_string(&wrong).unwrap()),
    );
    let err = all_refuse(&peers, &changed, "expired certificate, other key recorded").await;
    assert_eq!(err.kind, UnreachableKind::HostKeyChanged, "{err:?}");
    assert_says(&err, &["expired", "HOST KEY CHANGED"], "changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_host_keys_and_revoked_cas_are_refused_even_with_the_key_recorded() {
    let mut peers = TestFleet::start(support::FleetSpec::hosts(1));
    let ca = new_ca(&peers, "host_ca");
    let ca_fp = fingerprint_of(&ca);
    let h = peers.host(0);
    serve(
        &mut peers,
        &sign(&ca, &h.host_key, true, "127.0.0.1", "-5m:+1h", "h1"),
    );
    let trusted = format!(
        "@cert-authority [127.0.0.1]:* {}\n[127.0.0.1]:{} {}\n",
        public_of(&ca),
        h.port,
        h.host_public_key
    );
    let key = write(
        &peers.root().join("kh_revoked_key"),
        &format!("{trusted}@revoked * {}\n", h.host_public_key),
    );
    let err = all_refuse(&peers, &key, "key revoked").await;
    assert_says(
        &err,
        &[
            "is revoked: its key",
            &fingerprint_of(&h.host_key),
            &format!("{}:3", key.display()),
        ],
        "key revoked",
    );
    let authority = write(
        &peers.root().join("kh_revoked_ca"),
        &format!("{trusted}@revoked [127.0.0.1]:* {}\n", public_of(&ca)),
    );
    let err = all_refuse(&peers, &authority, "CA revoked").await;
    assert_says(
        &err,
        &[
            &format!("is revoked: its CA {ca_fp}"),
            &format!("{}:3", authority.display()),
        ],
        "CA revoked",
    );
    assert_eq!(err.kind, UnreachableKind::HostKeyChanged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_certificate_from_an_unknown_ca_is_refused_under_every_policy() {
    let mut peers = TestFleet::start(support::FleetSpec::hosts(1));
    let trusted_ca = new_ca(&peers, "trusted_ca");
    let rogue_ca = new_ca(&peers, "rogue_ca");
    let h = peers.host(0);
    serve(
        &mut peers,
        &sign(
            &rogue_ca,
            &h.host_key,
            true,
            "127.0.0.1",
            "-5m:+1h",
            "rogue",
        ),
    );
    let kh = write(
        &peers.root().join("kh_unknown_ca"),
        &format!("@cert-authority [127.0.0.1]:* {}\n", public_of(&trusted_ca)),
    );
    // OpenSSH's accept-new would record the certificate's key here; fleetdeck does not.
    let err = all_refuse(&peers, &kh, "unknown CA").await;
    assert_eq!(err.kind, UnreachableKind::HostKeyUnknown);
    assert_says(
        &err,
        &[
            &format!("signed by an unknown CA {}", fingerprint_of(&rogue_ca)),
            &format!("{} at {}:1", fingerprint_of(&trusted_ca), kh.display()),
        ],
        "unknown CA",
    );
}

// --- user certificates -------------------------------------------------------------------------

/// A user key that sshd does not list in authorized_keys, and host 0 trusting `ca` for users:
/// only a certificate can log this key in.
fn user_ca_setup(peers: &mut TestFleet) -> (PathBuf, PathBuf) {
    let ca = new_ca(peers, "user_ca");
    let key = peers.root().join("alice");
    keygen(&key);
    peers.restart_host_with(
        0,
        &format!("TrustedUserCAKeys {}", with_suffix(&ca, ".pub").display()),
    );
    (ca, key)
}

/// One poll of host 0 logging in with `identity` (and the ssh_config at `ssh_config`, if any).
async fn login(
    peers: &TestFleet,
    identity: &Path,
    ssh_config: Option<&Path>,
) -> Result<(), Unreachable> {
    login_with(peers, identity, ssh_config, "").await
}

/// [`login`] with raw TOML lines added to host 0's table.
async fn login_with(
    peers: &TestFleet,
    identity: &Path,
    ssh_config: Option<&Path>,
    host_toml: &str,
) -> Result<(), Unreachable> {
    let mut toml = peers.inventory_toml(&InventoryOpts {
        identity_files: Some(vec![identity.to_path_buf()]),
        host_toml: [(0, host_toml.to_string())].into(),
        ..InventoryOpts::default()
    });
    if let Some(cfg) = ssh_config {
        toml = toml.replacen(
            "[ssh]\n",
            &format!(
                "[ssh]\nconfig_file = {}\n",
                support::fleet::toml_str(&cfg.to_string_lossy())
            ),
            1,
        );
    }
    let path = write(&peers.root().join("fleet-login.toml"), &toml);
    let fleet = load(&path);
    let ts = poller::transports(&fleet, &SshShared::new(Arc::new(NoPrompt))).unwrap();
    let mut obs = poller::poll_once(&fleet, &ts, &[0]).await;
    obs.remove(0).outcome.map(|_| ())
}

/// The real `ssh` logs in with `identity` (and its `-cert.pub`), for the oracle.
fn openssh_logs_in(peers: &TestFleet, identity: &Path) -> bool {
    Command::new("ssh")
        .args(["-F", "/dev/null", "-i"])
        .arg(identity)
        .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o"])
        .arg(format!(
            "UserKnownHostsFile={}",
            peers.known_hosts().display()
        ))
        .args(["-o", "GlobalKnownHostsFile=/dev/null", "-p"])
        .arg(peers.host(0).port.to_string())
        .arg(format!("{}@127.0.0.1", peers.user()))
        .arg("true")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_certificates_beside_the_key_and_from_certificate_file_log_in() {
    let mut peers = TestFleet::start(support::FleetSpec::hosts(1));
    let (ca, key) = user_ca_setup(&mut peers);
    let user = peers.user().to_string();

    // The key alone is not authorized.
    let err = login(&peers, &key, None)
        .await
        .expect_err("no certificate yet");
    assert_eq!(err.kind, UnreachableKind::Auth, "{err:?}");
    assert!(!openssh_logs_in(&peers, &key));

    // `alice-cert.pub` beside `alice`: OpenSSH's default, no configuration.
    let cert = sign(&ca, &key, false, &user, "-5m:+1h", "alice");
    login(&peers, &key, None).await.unwrap();
    assert!(openssh_logs_in(&peers, &key));

    // The same certificate elsewhere, named by `CertificateFile` in ssh_config …
    let elsewhere = peers.root().join("signed-elsewhere.pub");
    std::fs::rename(&cert, &elsewhere).unwrap();
    login(&peers, &key, None)
        .await
        .expect_err("the certificate moved away");
    let cfg = write(
        &peers.root().join("ssh_config"),
        &format!(
            "Host 127.0.0.1\n  CertificateFile {}\n",
            elsewhere.display()
        ),
    );
    login(&peers, &key, Some(&cfg)).await.unwrap();
    // … or by the inventory's `certificate_files`.
    login_with(
        &peers,
        &key,
        None,
        &format!(
            "certificate_files = [{}]",
            support::fleet::toml_str(&elsewhere.to_string_lossy())
        ),
    )
    .await
    .unwrap();

    // An expired certificate: sshd refuses, and the error says which certificate and why.
    let expired = sign(&ca, &key, false, &user, "20200101:20200102", "alice-2020");
    let err = login(&peers, &key, None)
        .await
        .expect_err("sshd refuses an expired certificate");
    assert_eq!(err.kind, UnreachableKind::Auth, "{err:?}");
    assert_says(
        &err,
        &[
            &format!("certificate {}", expired.display()),
            "ID \"alice-2020\"",
            &fingerprint_of(&ca),
            "expired at 2020-01-02T00:00:00Z",
        ],
        "expired user certificate",
    );
}

/// An ssh-agent this test started (`-D`: a child of this test), killed by its PID when dropped.
struct Agent(std::process::Child, PathBuf);

impl Agent {
    fn start(sock: &Path) -> Agent {
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(sock)
            .stdout(Stdio::null())
            .spawn()
            .expect("ssh-agent (openssh-client) must be installed");
        let agent = Agent(child, sock.to_path_buf());
        support::fleet::wait_until(Duration::from_secs(10), || sock.exists())
            .expect("ssh-agent did not create its socket");
        agent
    }

    fn add(&self, args: &[&std::ffi::OsStr]) {
        let out = Command::new("ssh-add")
            .args(args)
            .env("SSH_AUTH_SOCK", &self.1)
            .output()
            .unwrap();
        assert!(out.status.success(), "ssh-add {args:?}: {out:?}");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `fleetdeck status --json` as its own process with `SSH_AUTH_SOCK` set for it alone (so no
/// other test sees this agent); whether host 0 was reachable, and the report.
fn status_with_agent(peers: &TestFleet, config: &Path, sock: &Path) -> (bool, String) {
    let out = Command::new(support::fleetdeck_bin())
        .args(["status", "--json", "--config"])
        .arg(config)
        .env("SSH_AUTH_SOCK", sock)
        .env("XDG_STATE_HOME", peers.root().join("state"))
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("no JSON ({e}): {out:?}"));
    (
        report["hosts"][0]["reachable"] == true,
        format!("{report:#}\n{}", String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn user_certificates_through_an_ssh_agent_log_in() {
    let mut peers = TestFleet::start(support::FleetSpec::hosts(1));
    let (ca, key) = user_ca_setup(&mut peers);
    let user = peers.user().to_string();
    let sock = peers.root().join("agent.sock");
    let agent = Agent::start(&sock);
    // No identity file that could log in: only the agent can.
    let nothing = peers.root().join("no-such-key");
    let toml = peers.inventory_toml(&InventoryOpts {
        identity_files: Some(vec![nothing]),
        ..InventoryOpts::default()
    });
    let config = write(&peers.root().join("fleet-agent.toml"), &toml);

    // The agent holds the plain key only: refused.
    agent.add(&["-q".as_ref(), key.as_os_str()]);
    let (reachable, report) = status_with_agent(&peers, &config, &sock);
    assert!(!reachable, "the plain key is not authorized: {report}");

    // `ssh-add` of a key with `-cert.pub` beside it loads the certificate into the agent too.
    let cert = sign(&ca, &key, false, &user, "-5m:+1h", "alice-agent");
    agent.add(&["-D".as_ref()]);
    agent.add(&["-q".as_ref(), key.as_os_str()]);
    let listed = Command::new("ssh-add")
        .arg("-l")
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("CERT"),
        "{listed:?}"
    );
    std::fs::remove_file(&cert).unwrap();
    let (reachable, report) = status_with_agent(&peers, &config, &sock);
    assert!(reachable, "certificate in the agent: {report}");

    // The plain key in the agent, the certificate on disk (`CertificateFile`): OpenSSH pairs
    // them, and so does fleetdeck.
    agent.add(&["-D".as_ref()]);
    let elsewhere = sign(&ca, &key, false, &user, "-5m:+1h", "alice-file");
    let on_disk = peers.root().join("alice-signed.pub");
    std::fs::rename(&elsewhere, &on_disk).unwrap();
    agent.add(&["-q".as_ref(), key.as_os_str()]);
    let cfg = write(
        &peers.root().join("ssh_config_agent"),
        &format!("Host 127.0.0.1\n  CertificateFile {}\n", on_disk.display()),
    );
    let with_cfg = write(
        &peers.root().join("fleet-agent-cfg.toml"),
        &toml.replacen(
            "[ssh]\n",
            &format!(
                "[ssh]\nconfig_file = {}\n",
                support::fleet::toml_str(&cfg.to_string_lossy())
            ),
            1,
        ),
    );
    let (reachable, report) = status_with_agent(&peers, &with_cfg, &sock);
    assert!(reachable, "agent key + CertificateFile: {report}");
}

//! `~` in host paths against a real sshd host (issue 10: `dir = "~/backups"` reported "no such
//! directory: ~/backups" although it existed). Every inventory key that names a path on the
//! host is given as `~/…` — some with spaces, quotes and `$` in the rest — and each probe
//! section must find its file in the SSH session's `$HOME` (which the test fleet sets per host).
//!
//! Not here: a docker service's `compose_file`, because this machine's docker CLI has no compose
//! plugin; `src/probe/script.rs` covers it with a stub `docker` that checks the file it is
//! given. A disk's `mount` must be an absolute path (the loader says so).

mod support;

use std::process::Command;
use std::sync::Arc;

use fleetdeck::inventory::load_fleet;
use fleetdeck::observation::{Metric, ServiceState};
use fleetdeck::poller;
use fleetdeck::transport::ssh::{NoPrompt, SshShared};
use support::{FleetSpec, InventoryOpts, TestFleet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_host_path_key_accepts_a_home_relative_path() {
    let peers = TestFleet::start(FleetSpec::hosts(1));
    let h = peers.host(0);
    let home = &h.home;

    // A certificate, a log and a pidfile in directories whose names need quoting.
    let tls = home.join("tls dir");
    std::fs::create_dir_all(&tls).unwrap();
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "30"])
        .args(["-subj", "/CN=node0"])
        .arg("-keyout")
        .arg(tls.join("node.key"))
        .arg("-out")
        .arg(tls.join("node's.crt"))
        .output()
        .expect("openssl must be installed");
    assert!(made.status.success(), "{made:?}");
    let logs = home.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("$app.log"), "ok\nERROR: boom\nok\n").unwrap();
    let run = home.join("run \"x\"");
    std::fs::create_dir_all(&run).unwrap();
    let sshd_pid = h.pid.expect("host running");
    std::fs::write(run.join("app.pid"), format!("{sshd_pid}\n")).unwrap();

    let toml = peers
        .inventory_toml(&InventoryOpts::default())
        .lines()
        .map(|line| {
            if line.starts_with("backups = ") {
                // The reported case, word for word, and a directory that is not there.
                "backups = [{ name = \"postgres\", dir = \"~/backups\", pattern = \"*-postgres-backup.sql.gz\", every = \"24h\" }, \
                 { name = \"gone\", dir = \"~/no backups\", pattern = \"*\", every = \"24h\" }]\n\
                 certs = [{ name = \"node\", path = \"~/tls dir/node's.crt\" }]\n\
                 logs = [{ name = \"app\", file = \"~/logs/$app.log\", patterns = [\"ERROR\"] }]"
                    .to_string()
            } else if line.starts_with("services = ") {
                line.replace(
                    "}]",
                    "}, { name = \"pid\", kind = \"process\", pidfile = '~/run \"x\"/app.pid' }]",
                )
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let config = peers.root().join("paths.toml");
    std::fs::write(&config, toml).unwrap();
    let fleet = load_fleet(Some(&config)).unwrap_or_else(|e| panic!("{e}"));
    let ts = poller::transports(&fleet, &SshShared::new(Arc::new(NoPrompt))).unwrap();
    let obs = poller::poll_once(&fleet, &ts, &[0]).await;
    let p = obs[0].outcome.as_ref().expect("reachable");
    assert!(p.probe_errors.is_empty(), "{:?}", p.probe_errors);

    let newest = p.backups[0].latest.as_ref().expect("backups listed");
    let newest = newest.as_ref().expect("a backup found");
    assert!(
        newest
            .path
            .starts_with(&home.join("backups").display().to_string()),
        "{newest:?}"
    );
    assert!(p.backups[0].previous.is_some());
    // A missing directory names where it was looked for: the expanded path.
    let gone = p.backups[1].latest.as_ref().unwrap_err();
    assert_eq!(
        gone,
        &format!("no such directory: {}", home.join("no backups").display())
    );

    let certs = p.certs.as_ref().expect("certificates read");
    let Metric::Value(cert) = &certs[0].info else {
        panic!("certificate: {:?}", certs[0].info)
    };
    assert!(cert.subject.contains("node0"), "{}", cert.subject);

    let logs = p.logs.as_ref().expect("logs tailed");
    let app = logs[0].summary.as_ref().expect("log read");
    assert_eq!((app.lines_read, app.errors), (3, 1));

    let pid = &p.services[1];
    assert_eq!(pid.state, ServiceState::Running, "{pid:?}");
    assert!(pid.detail.contains(&sshd_pid.to_string()), "{pid:?}");
}

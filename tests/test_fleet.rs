//! Tests of the test-fleet helper itself (tests/support) against real peers: OpenSSH sshd, anvil, tmux.
//! If these fail, every other integration test's peers are suspect; a missing peer is a failure here too.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::fleet::{block_number, port_accepts, wait_until};
use support::{ExtraHost, FleetSpec, InventoryOpts, TestFleet, Tmux};

/// Runs `cmd` with piped stdio; writes `input` (stdin stays open until the command ends, so a
/// forwarded connection is not half-closed early); kills it and panics after `timeout`.
fn run_with_timeout(mut cmd: Command, input: Option<&[u8]>, timeout: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut stdin = child.stdin.take();
    if let (Some(bytes), Some(w)) = (input, stdin.as_mut()) {
        w.write_all(bytes).expect("write stdin");
        w.flush().expect("flush stdin");
    }
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    drop(stdin);
    Output {
        status,
        stdout: t_out.join().expect("stdout reader"),
        stderr: t_err.join().expect("stderr reader"),
    }
}

fn ssh_ok(fleet: &TestFleet, i: usize, remote: &str) -> String {
    let out = run_with_timeout(fleet.ssh_command(i, remote), None, Duration::from_secs(15));
    assert!(
        out.status.success(),
        "ssh to {} ({remote:?}) failed with {}: {}",
        fleet.host(i).name,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Replaces the `UserKnownHostsFile=` option of an ssh command built by `ssh_command`.
fn ssh_with_known_hosts(fleet: &TestFleet, i: usize, known_hosts: &Path, remote: &str) -> Command {
    let base = fleet.ssh_command(i, remote);
    let mut c = Command::new("ssh");
    for a in base.get_args() {
        let s = a.to_string_lossy();
        if s.starts_with("UserKnownHostsFile=") {
            c.arg(format!("UserKnownHostsFile={}", known_hosts.display()));
        } else {
            c.arg(a);
        }
    }
    c
}

fn proc_alive(pid: u32) -> bool {
    // A zombie still has /proc/PID; count it as gone.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z"),
        Err(_) => false,
    }
}

fn children_of(pid: u32) -> Vec<u32> {
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(s) = fs::read_to_string(format!("/proc/{p}/stat"))
            && let Some(i) = s.rfind(')')
            && s[i + 1..].split_whitespace().nth(1) == Some(pid.to_string().as_str())
        {
            v.push(p);
        }
    }
    v
}

/// Starts `ssh host 'sleep 60'` and waits until sshd has forked for it.
fn open_session(fleet: &TestFleet, i: usize) -> Child {
    let mut cmd = fleet.ssh_command(i, "sleep 60");
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ssh");
    let pid = fleet.host(i).pid.expect("host running");
    wait_until(Duration::from_secs(10), || !children_of(pid).is_empty())
        .expect("sshd forked a process for the session");
    child
}

#[test]
fn hosts_have_their_own_host_keys_homes_and_fixtures() {
    let fleet = TestFleet::start(FleetSpec::hosts(3).with_anvils(1));
    assert_eq!(fleet.host_count(), 3);

    let mut ports = Vec::new();
    let mut keys = Vec::new();
    for i in 0..3 {
        let h = fleet.host(i);
        assert_eq!(h.name, format!("h{}", i + 1));
        // Strict host key checking against the fleet's known_hosts: proves key, port and file agree.
        let home = ssh_ok(&fleet, i, "echo $HOME");
        assert_eq!(home.trim(), h.home.to_str().unwrap(), "HOME of {}", h.name);
        let listing = ssh_ok(
            &fleet,
            i,
            r#"ls "$HOME/backups"; test -f "$HOME/svc/app.running" && echo app-up; test -d "$HOME/data" && echo data-dir"#,
        );
        let backups: Vec<&str> = listing.lines().filter(|l| l.ends_with(".sql.gz")).collect();
        assert_eq!(backups.len(), 2, "two backups on {}: {listing}", h.name);
        assert!(
            backups
                .iter()
                .all(|b| b.len() == "YYYYMMDD-postgres-backup.sql.gz".len())
        );
        assert!(
            listing.contains("app-up") && listing.contains("data-dir"),
            "{listing}"
        );
        ports.push(h.port);
        keys.push(h.host_public_key.clone());
    }
    ports.sort_unstable();
    ports.dedup();
    keys.sort();
    keys.dedup();
    assert_eq!(
        (ports.len(), keys.len()),
        (3, 3),
        "distinct ports and host keys"
    );

    // Backups: real gzip, newest one hour old, the other a day older.
    let files = fleet.backups(0);
    let gz = fs::read(&files[1]).unwrap();
    assert_eq!(&gz[..2], &[0x1f, 0x8b], "gzip magic");
    let test = Command::new("gzip")
        .arg("-t")
        .arg(&files[1])
        .status()
        .unwrap();
    assert!(test.success(), "gzip -t {}", files[1].display());
    let age = |p: &Path| {
        fs::metadata(p)
            .unwrap()
            .modified()
            .unwrap()
            .elapsed()
            .unwrap()
    };
    let newest = age(&files[1]).as_secs();
    assert!(
        (3500..3700).contains(&newest),
        "newest backup age {newest}s"
    );
    assert!(age(&files[0]).as_secs() > 24 * 3600);

    // The service marker drives the app service's command.
    fleet.set_service_running(1, false);
    let out = run_with_timeout(
        fleet.ssh_command(1, support::fleet::APP_SERVICE_COMMAND),
        None,
        Duration::from_secs(15),
    );
    assert_eq!(out.status.code(), Some(1), "app stopped on h2");
    fleet.set_service_running(1, true);
    ssh_ok(&fleet, 1, support::fleet::APP_SERVICE_COMMAND);

    // Hashed known_hosts works; a wrong key for h2 is refused while h1 still passes.
    let hashed = fleet.write_known_hosts_hashed();
    let out = run_with_timeout(
        ssh_with_known_hosts(&fleet, 2, &hashed, "echo ok"),
        None,
        Duration::from_secs(15),
    );
    assert!(
        out.status.success(),
        "hashed known_hosts: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wrong = fleet.known_hosts_with_wrong_key_for(1);
    let out = run_with_timeout(
        ssh_with_known_hosts(&fleet, 1, &wrong, "echo ok"),
        None,
        Duration::from_secs(15),
    );
    assert!(!out.status.success(), "a changed host key must be refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Host key verification failed"), "{err}");
    let out = run_with_timeout(
        ssh_with_known_hosts(&fleet, 0, &wrong, "echo ok"),
        None,
        Duration::from_secs(15),
    );
    assert!(
        out.status.success(),
        "h1 unaffected: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // anvil advances (block time 1 s) and is reachable through a host's SSH connection (direct-tcpip).
    let anvil = fleet.anvil(0);
    let h0 = fleet.anvil_height(0).expect("eth_blockNumber");
    wait_until(Duration::from_secs(8), || {
        fleet.anvil_height(0).is_ok_and(|h| h > h0)
    })
    .expect("anvil height advances within 8 s");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let fwd = fleet.ssh_command(0, "");
    // `ssh … -W host:port` with no remote command: the last argument (empty command) is replaced.
    let args: Vec<_> = fwd.get_args().map(|a| a.to_owned()).collect();
    let mut via = Command::new("ssh");
    via.args(&args[..args.len() - 1])
        .arg("-W")
        .arg(format!("127.0.0.1:{}", anvil.port));
    let out = run_with_timeout(via, Some(request.as_bytes()), Duration::from_secs(15));
    let resp = String::from_utf8_lossy(&out.stdout);
    assert!(
        resp.starts_with("HTTP/1.1 200") && resp.contains("\"result\":\"0x"),
        "RPC through the SSH host: {resp}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The inventory is valid TOML with what DESIGN.md asks for.
    let toml_text = fleet.inventory_toml(&InventoryOpts::default());
    let inv: toml::Value =
        toml::from_str(&toml_text).unwrap_or_else(|e| panic!("{e}\n{toml_text}"));
    assert_eq!(inv["fleet"]["name"].as_str(), Some("testfleet"));
    assert_eq!(inv["fleet"]["host_key_policy"].as_str(), Some("strict"));
    assert_eq!(
        inv["fleet"]["known_hosts"][0].as_str(),
        fleet.known_hosts().to_str()
    );
    assert_eq!(inv["ssh"]["user"].as_str(), Some(fleet.user()));
    let hosts = inv["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 3);
    assert_eq!(
        hosts[0]["port"].as_integer(),
        Some(i64::from(fleet.host(0).port))
    );
    assert_eq!(
        hosts[0]["chain"]["rpc"].as_str(),
        Some(anvil.rpc_url.as_str())
    );
    assert!(hosts[1].get("chain").is_none(), "one chain host per anvil");
    assert_eq!(
        hosts[2]["services"][0]["command"].as_str(),
        Some(r#"test -f "$HOME/svc/app.running""#)
    );
    assert_eq!(
        hosts[2]["backups"][0]["dir"].as_str(),
        fleet.host(2).backups_dir.to_str()
    );
}

#[test]
fn inventory_options_and_extra_hosts() {
    let mut fleet = TestFleet::start(FleetSpec::hosts(2));
    let silent = fleet.silent_port();
    let dead = ExtraHost::dead("dead1");
    assert!(!port_accepts(dead.port), "a dead host's port refuses");
    let mut opts = InventoryOpts {
        host_key_policy: "accept-new".into(),
        interval: "250ms".into(),
        consensus_group: Some("group0".into()),
        extra_hosts: vec![dead, ExtraHost::at_port("silent1", silent)],
        extra_toml:
            "[thresholds]\nmin_peers = 0\n\n[profiles.custom]\ndisks = [{ mount = \"/tmp\" }]"
                .into(),
        ..InventoryOpts::default()
    };
    opts.host_toml.insert(1, "profile = \"custom\"".into());
    let path = fleet.write_inventory(&opts);
    let text = fs::read_to_string(&path).unwrap();
    let inv: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(inv["fleet"]["host_key_policy"].as_str(), Some("accept-new"));
    assert_eq!(inv["fleet"]["interval"].as_str(), Some("250ms"));
    assert_eq!(inv["thresholds"]["min_peers"].as_integer(), Some(0));
    let hosts = inv["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 4);
    assert_eq!(hosts[0]["consensus_group"].as_str(), Some("group0"));
    assert_eq!(hosts[1]["profile"].as_str(), Some("custom"));
    assert_eq!(
        inv["profiles"]["custom"]["disks"][0]["mount"].as_str(),
        Some("/tmp")
    );
    assert!(
        hosts.iter().all(|h| h.get("chain").is_none()),
        "no anvil, no chain"
    );
    assert_eq!(hosts[3]["name"].as_str(), Some("silent1"));
    assert_eq!(hosts[3]["port"].as_integer(), Some(i64::from(silent)));

    // The silent port completes the TCP handshake but never sends an SSH banner.
    let mut s = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], silent))).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 8];
    assert!(s.read(&mut buf).is_err(), "no banner from a silent port");
}

#[test]
fn stop_and_start_host_keep_port_and_key_and_cut_open_sessions() {
    let mut fleet = TestFleet::start(FleetSpec::hosts(2));
    let before = fleet.host(0);
    let mut session = open_session(&fleet, 0);

    fleet.stop_host(0);
    assert!(fleet.host(0).pid.is_none());
    assert!(
        !port_accepts(before.port),
        "a stopped host refuses connections"
    );
    assert!(
        !proc_alive(before.pid.unwrap()),
        "the sshd listener is gone"
    );
    // Its open connection died with it, as when a machine goes down.
    wait_until(Duration::from_secs(10), || {
        session.try_wait().ok().flatten().is_some()
    })
    .expect("the open ssh session ends when its host stops");
    let out = run_with_timeout(fleet.ssh_command(0, "true"), None, Duration::from_secs(15));
    assert!(!out.status.success(), "ssh to a stopped host fails");
    ssh_ok(&fleet, 1, "true"); // the other host is untouched

    fleet.start_host(0);
    let after = fleet.host(0);
    assert_eq!(after.port, before.port);
    assert_eq!(after.host_public_key, before.host_public_key);
    assert_ne!(after.pid, before.pid);
    // Same known_hosts, strict checking: same port and key.
    assert_eq!(
        ssh_ok(&fleet, 0, "echo $HOME").trim(),
        after.home.to_str().unwrap()
    );
}

#[test]
fn frozen_host_accepts_tcp_but_does_not_answer_until_thawed() {
    let mut fleet = TestFleet::start(FleetSpec::hosts(1));
    let port = fleet.host(0).port;
    fleet.freeze_host(0);
    let mut s = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(s.read(&mut buf).is_err(), "a frozen sshd sends no banner");
    fleet.thaw_host(0);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = s.read(&mut buf).expect("banner after thaw");
    assert!(
        buf[..n].starts_with(b"SSH-2.0-"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
}

#[test]
fn anvil_stops_and_restarts_on_the_same_port() {
    let mut fleet = TestFleet::start(FleetSpec::hosts(0).with_anvils(2));
    let a = fleet.anvil(1);
    assert_ne!(a.port, fleet.anvil(0).port);
    fleet.stop_anvil(1);
    assert!(
        block_number(a.port).is_err(),
        "a stopped anvil does not answer"
    );
    assert!(!proc_alive(a.pid.unwrap()));
    assert!(
        fleet.anvil_height(0).is_ok(),
        "the other anvil is untouched"
    );
    fleet.start_anvil(1);
    assert_eq!(fleet.anvil(1).port, a.port);
    assert!(fleet.anvil_height(1).is_ok());
}

#[test]
fn drop_stops_every_process_it_started_and_removes_its_directory() {
    let fleet = TestFleet::start(FleetSpec::hosts(2).with_anvils(1));
    let mut session = open_session(&fleet, 1);
    let mut pids: Vec<u32> = (0..2).map(|i| fleet.host(i).pid.unwrap()).collect();
    pids.push(fleet.anvil(0).pid.unwrap());
    let forked = children_of(fleet.host(1).pid.unwrap());
    assert!(!forked.is_empty());
    pids.extend(&forked);
    let root = fleet.root().to_path_buf();
    assert!(pids.iter().all(|&p| proc_alive(p)));

    drop(fleet);
    for p in &pids {
        assert!(!proc_alive(*p), "PID {p} still alive after drop");
    }
    assert!(!root.exists(), "{} removed", root.display());
    wait_until(Duration::from_secs(10), || {
        session.try_wait().ok().flatten().is_some()
    })
    .expect("the ssh client saw its host go away");
}

#[test]
fn tmux_runs_a_program_types_reads_resizes_and_sees_it_exit() {
    let t = Tmux::start("sh", 80, 24);
    t.send_literal("stty size; printf 'na''me? '; read n; echo \"hello $n\"");
    t.send_keys(&["Enter"]);
    t.wait_for("name?", Duration::from_secs(5));
    let screen = t.capture();
    assert!(screen.contains("24 80"), "{screen}");
    t.send_literal("fleet");
    t.send_keys(&["Enter"]);
    t.wait_for("hello fleet", Duration::from_secs(5));

    t.resize(100, 30);
    t.send_literal("stty size");
    t.send_keys(&["Enter"]);
    t.wait_for("30 100", Duration::from_secs(5));

    assert_eq!(t.exit_status(), None);
    t.send_literal("exit 3");
    t.send_keys(&["Enter"]);
    assert_eq!(t.wait_for_exit(Duration::from_secs(5)), 3);
}

#[test]
fn the_binary_under_test_is_built() {
    let bin = support::fleetdeck_bin();
    assert!(bin.is_file(), "{}", bin.display());
}

/// The private PostgreSQL peer used by restore drills starts, answers and stops by PID.
#[test]
fn a_private_postgres_starts_answers_and_stops() {
    let pg = support::Postgres::start();
    pg.query(
        "postgres",
        "create table t (n int); insert into t values (41), (1)",
    );
    assert_eq!(pg.query("postgres", "select sum(n) from t"), "42");
    let pid = pg.pid;
    drop(pg);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "postgres {pid} still running after drop"
    );
}

//! `fleetdeck status` against a real fleet: OpenSSH sshd hosts and anvil nodes on 127.0.0.1.
//!
//! These run the built binary exactly as cron or an operator would, and assert on the
//! `status --json` contract and the exit code.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::{ExtraHost, FleetSpec, InventoryOpts, TestFleet};

/// Runs `fleetdeck status --json` on `config`; returns (exit code, parsed JSON, stderr).
fn status_json(config: &Path, env: &[(&str, &str)]) -> (i32, Value, String) {
    let mut cmd = Command::new(support::fleetdeck_bin());
    cmd.args(["status", "--json", "--config"]).arg(config);
    // A developer's own agent must not change what the tests prove.
    cmd.env_remove("SSH_AUTH_SOCK");
    cmd.env("XDG_STATE_HOME", config.parent().unwrap().join("state"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run fleetdeck");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("status --json printed no JSON ({e}):\n{stdout}\nstderr:\n{stderr}")
    });
    (out.status.code().expect("exit code"), json, stderr)
}

fn host<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no host {name} in {report:#}"))
}

#[test]
fn five_hosts_are_polled_with_chain_height_read_through_the_ssh_forward() {
    let fleet = TestFleet::start(FleetSpec::hosts(5).with_anvils(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let (code, report, stderr) = status_json(&config, &[]);
    assert_eq!(code, 0, "all hosts should be OK:\n{report:#}\n{stderr}");
    assert_eq!(report["fleet"], "testfleet");
    assert_eq!(report["summary"]["hosts"], 5);
    assert_eq!(report["summary"]["reachable"], 5);
    assert_eq!(report["summary"]["ok"], 5);
    for i in 0..5 {
        let h = host(&report, &fleet.host(i).name);
        assert_eq!(h["reachable"], true, "{h:#}");
        assert_eq!(h["status"], "ok", "{h:#}");
        assert_eq!(h["services"][0]["name"], "app");
        assert_eq!(h["services"][0]["state"], "running", "{h:#}");
        assert!(
            h["disks"][0]["used_percent"].as_f64().unwrap() > 0.0,
            "{h:#}"
        );
        let age = h["backups"][0]["age_seconds"].as_u64().expect("backup age");
        assert!(
            (3500..4000).contains(&age),
            "newest backup is 1h old, got {age}s"
        );
        assert_eq!(h["backups"][0]["stale"], false);
        assert!(h["load"][0].is_number(), "{h:#}");
    }
    // h1 has the anvil node; its RPC listens on the host's loopback and is reached through the SSH
    // connection (direct-tcpip), never from this process directly.
    let chain = &host(&report, "h1")["chain"];
    assert_eq!(chain["kind"], "ethereum");
    assert!(chain["height"].as_u64().is_some(), "{chain:#}");
    assert_eq!(chain["syncing"], false);
    assert_eq!(
        chain["peers"],
        Value::Null,
        "anvil lacks net_peerCount: unavailable, never 0"
    );
    assert_eq!(chain["unavailable"]["peers"], "not supported by this node");
    assert!(host(&report, "h2")["chain"].is_null());
}

#[test]
fn a_stopped_sshd_makes_only_that_host_critical_and_unreachable() {
    let mut fleet = TestFleet::start(FleetSpec::hosts(4));
    let config = fleet.write_inventory(&InventoryOpts::default());
    fleet.stop_host(2);
    let (code, report, _) = status_json(&config, &[]);
    assert_eq!(code, 2, "CRITICAL:\n{report:#}");
    assert_eq!(report["summary"]["reachable"], 3);
    assert_eq!(report["summary"]["critical"], 1);
    let down = host(&report, "h3");
    assert_eq!(down["reachable"], false);
    assert_eq!(down["status"], "critical");
    assert_eq!(down["error_kind"], "connect");
    assert!(
        down["error"].as_str().unwrap().contains("refused"),
        "{down:#}"
    );
    assert_eq!(down["alerts"][0]["rule"], "host_unreachable");
    assert_eq!(down["services"][0]["state"], "unknown");
    for name in ["h1", "h2", "h4"] {
        assert_eq!(host(&report, name)["status"], "ok");
    }
}

#[test]
fn a_dead_address_and_a_silent_listener_time_out_without_holding_up_the_rest() {
    let mut fleet = TestFleet::start(FleetSpec::hosts(2));
    let silent = fleet.silent_port();
    let opts = InventoryOpts {
        connect_timeout: "2s".into(),
        extra_hosts: vec![ExtraHost::dead("gone"), ExtraHost::at_port("mute", silent)],
        ..InventoryOpts::default()
    };
    let config = fleet.write_inventory(&opts);
    let (code, report, _) = status_json(&config, &[]);
    assert_eq!(code, 2);
    assert_eq!(host(&report, "gone")["error_kind"], "connect");
    let mute = host(&report, "mute");
    assert_eq!(
        mute["error_kind"], "timeout",
        "a listener that never sends a banner: {mute:#}"
    );
    assert_eq!(host(&report, "h1")["status"], "ok");
    assert_eq!(host(&report, "h2")["status"], "ok");
    // Each attempt says how long it waited for a handshake turn and how long the handshake
    // took; the silent listener used its whole connect_timeout on the handshake itself.
    assert_eq!(mute["connect"]["connected"], false, "{mute:#}");
    assert!(
        mute["connect"]["handshake_ms"].as_u64().unwrap() >= 2000,
        "{mute:#}"
    );
    assert!(mute["connect"]["queued_ms"].is_u64(), "{mute:#}");
    assert_eq!(host(&report, "h1")["connect"]["connected"], true);
}

#[test]
fn a_stopped_service_is_critical_with_the_rule_named() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let config = fleet.write_inventory(&InventoryOpts::default());
    fleet.set_service_running(1, false);
    let (code, report, _) = status_json(&config, &[]);
    assert_eq!(code, 2);
    let h = host(&report, "h2");
    assert_eq!(h["reachable"], true);
    assert_eq!(h["status"], "critical");
    assert_ne!(h["services"][0]["state"], "running");
    assert_eq!(h["alerts"][0]["rule"], "service_down");
    assert!(
        h["alerts"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("app is "),
        "{h:#}"
    );
}

#[test]
fn an_unknown_host_key_is_refused_with_its_fingerprint_and_how_to_accept_it() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let empty = fleet.root().join("known_hosts_empty");
    std::fs::write(&empty, "").unwrap();
    let config = fleet.write_inventory(&InventoryOpts {
        known_hosts: Some(vec![empty.clone()]),
        ..InventoryOpts::default()
    });
    let (code, report, _) = status_json(&config, &[]);
    assert_eq!(code, 2);
    for h in report["hosts"].as_array().unwrap() {
        assert_eq!(h["reachable"], false);
        assert_eq!(h["error_kind"], "host-key-unknown", "{h:#}");
        assert_eq!(h["alerts"][0]["rule"], "host_key_unknown");
        let error = h["error"].as_str().unwrap();
        assert!(error.contains("SHA256:"), "names the fingerprint: {error}");
        assert!(
            error.contains("ssh-keyscan"),
            "says how to accept it: {error}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&empty).unwrap(),
        "",
        "strict never writes known_hosts"
    );
}

#[test]
fn a_changed_host_key_is_refused_loudly_even_under_accept_new() {
    let fleet = TestFleet::start(FleetSpec::hosts(3));
    let wrong = fleet.known_hosts_with_wrong_key_for(1);
    let before = std::fs::read_to_string(&wrong).unwrap();
    let config = fleet.write_inventory(&InventoryOpts {
        known_hosts: Some(vec![wrong.clone()]),
        host_key_policy: "accept-new".into(),
        ..InventoryOpts::default()
    });
    let (code, report, _) = status_json(&config, &[]);
    assert_eq!(code, 2);
    let h = host(&report, "h2");
    assert_eq!(h["error_kind"], "host-key-changed", "{h:#}");
    assert_eq!(h["alerts"][0]["rule"], "host_key_changed");
    assert!(
        h["error"].as_str().unwrap().contains("HOST KEY CHANGED"),
        "{h:#}"
    );
    assert_eq!(host(&report, "h1")["status"], "ok");
    assert_eq!(host(&report, "h3")["status"], "ok");
    assert_eq!(
        std::fs::read_to_string(&wrong).unwrap(),
        before,
        "a changed key is never recorded"
    );
}

#[test]
fn accept_new_records_unknown_keys_which_strict_then_trusts() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let fresh = fleet.root().join("new/known_hosts");
    let accept = fleet.write_inventory(&InventoryOpts {
        known_hosts: Some(vec![fresh.clone()]),
        host_key_policy: "accept-new".into(),
        ..InventoryOpts::default()
    });
    let (code, report, _) = status_json(&accept, &[]);
    assert_eq!(code, 0, "{report:#}");
    let recorded = std::fs::read_to_string(&fresh).unwrap();
    for i in 0..2 {
        let line = format!(
            "[127.0.0.1]:{} {}",
            fleet.host(i).port,
            fleet.host(i).host_public_key.trim()
        );
        assert!(recorded.contains(&line), "missing {line:?} in\n{recorded}");
    }
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let strict = fleet.write_inventory(&InventoryOpts {
        known_hosts: Some(vec![fresh.clone()]),
        ..InventoryOpts::default()
    });
    let (code, report, _) = status_json(&strict, &[]);
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn hashed_known_hosts_entries_are_honoured() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let hashed = fleet.write_known_hosts_hashed();
    let config = fleet.write_inventory(&InventoryOpts {
        known_hosts: Some(vec![hashed]),
        ..InventoryOpts::default()
    });
    let (code, report, _) = status_json(&config, &[]);
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn an_ssh_config_alias_gives_hostname_port_user_and_identity() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let h = fleet.host(0);
    let ssh_config = fleet.root().join("ssh_config");
    std::fs::write(
        &ssh_config,
        format!(
            "Host db-primary\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n",
            h.port,
            fleet.user(),
            fleet.client_key().display()
        ),
    )
    .unwrap();
    let config = fleet.root().join("alias.toml");
    std::fs::write(
        &config,
        format!(
            r#"[fleet]
name = "alias"
known_hosts = ["{}"]
[ssh]
config_file = "{}"
identity_files = []
connect_timeout = "3s"
[[hosts]]
name = "db"
address = "db-primary"
services = [{{ name = "app", kind = "command", command = "test -f \"$HOME/svc/app.running\"" }}]
"#,
            fleet.known_hosts().display(),
            ssh_config.display()
        ),
    )
    .unwrap();
    let (code, report, stderr) = status_json(&config, &[]);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(host(&report, "db")["services"][0]["state"], "running");
}

#[test]
fn ssh_agent_identities_are_used() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let sock = fleet.root().join("agent.sock");
    let agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start ssh-agent (openssh-client)");
    let _agent = KillOnDrop(agent);
    assert!(
        support::fleet::wait_until(std::time::Duration::from_secs(5), || sock.exists()).is_some(),
        "ssh-agent did not create its socket"
    );
    let add = Command::new("ssh-add")
        .arg(fleet.client_key())
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(
        add.status.success(),
        "ssh-add: {}",
        String::from_utf8_lossy(&add.stderr)
    );
    // No identity file at all: only the agent can authenticate.
    let config = fleet.write_inventory(&InventoryOpts {
        identity_files: Some(vec![fleet.root().join("no-such-key")]),
        ..InventoryOpts::default()
    });
    let sock_str = sock.display().to_string();
    let (code, report, _) = status_json(&config, &[("SSH_AUTH_SOCK", &sock_str)]);
    assert_eq!(code, 0, "{report:#}");
    let (code, report, _) = status_json(&config, &[]);
    assert_eq!(code, 2, "without the agent nothing authenticates");
    assert_eq!(host(&report, "h1")["error_kind"], "auth", "{report:#}");
}

#[test]
fn host_and_group_selection_and_the_table_output() {
    let fleet = TestFleet::start(FleetSpec::hosts(3));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let out = Command::new(support::fleetdeck_bin())
        .args(["status", "--hosts", "h[12]", "--config"])
        .arg(&config)
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}");
    assert!(table.starts_with("HOST"), "{table}");
    assert!(
        table.contains("h1 ") && table.contains("h2 ") && !table.contains("h3 "),
        "{table}"
    );
    assert!(
        !table.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    let out = Command::new(support::fleetdeck_bin())
        .args(["status", "--json", "--group", "nope", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "an empty selection is UNKNOWN");
}

/// A process service whose process is a zombie — exited, never reaped by its parent — is
/// not running: `pgrep -f` still matches a zombie by its name and its /proc entry stays, so
/// both the pattern and the pidfile check must look at its state.
#[test]
fn a_zombie_process_does_not_count_as_a_running_service() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let dir = fleet.root().join("zombie");
    std::fs::create_dir_all(&dir).unwrap();
    // A name of its own (a zombie's name is its command's file name, at most 15 bytes), so
    // the pattern matches the zombie and nothing else.
    let name = format!("fdz{}", std::process::id());
    let link = dir.join(&name);
    let sleep = ["/bin/sleep", "/usr/bin/sleep"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("sleep(1)");
    std::os::unix::fs::symlink(sleep, &link).unwrap();
    // The child exits at once; its parent becomes `sleep 600`, which never reaps it. The
    // child's path comes through the environment so no command line but the child's holds
    // the name.
    let parent = KillOnDrop(
        Command::new("sh")
            .arg("-c")
            .arg("\"$FDZ\" 0 & exec sleep 600")
            .env("FDZ", &link)
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let parent_pid = parent.0.id();
    let mut zombie = 0;
    support::fleet::wait_until(std::time::Duration::from_secs(10), || {
        zombie_child_of(parent_pid).map(|z| zombie = z).is_some()
    })
    .unwrap_or_else(|| panic!("no zombie child of {parent_pid} appeared"));
    let stat = std::fs::read_to_string(format!("/proc/{zombie}/stat")).unwrap();
    assert!(
        stat.contains(&format!("({name}) Z ")),
        "pid {zombie} is a zombie named {name}: {stat}"
    );
    let pidfile = dir.join("z.pid");
    std::fs::write(&pidfile, format!("{zombie}\n")).unwrap();
    let live = dir.join("live.pid");
    std::fs::write(&live, format!("{parent_pid}\n")).unwrap();

    let mut opts = InventoryOpts::default();
    opts.extra_hosts.push(ExtraHost {
        name: "z".into(),
        address: "127.0.0.1".into(),
        port: fleet.host(0).port,
        groups: vec!["test".into()],
        toml: format!(
            "services = [{{ name = \"by-pattern\", kind = \"process\", pattern = {name:?} }}, \
             {{ name = \"by-pidfile\", kind = \"process\", pidfile = {:?} }}, \
             {{ name = \"live\", kind = \"process\", pidfile = {:?} }}]",
            pidfile.display().to_string(),
            live.display().to_string()
        ),
    });
    let config = fleet.write_inventory(&opts);
    let (_, report, stderr) = status_json(&config, &[]);
    let z = host(&report, "z");
    let service = |n: &str| {
        z["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == n)
            .unwrap_or_else(|| panic!("no service {n}: {z:#}\n{stderr}"))
            .clone()
    };
    // The control: the zombie's live parent reads running through the same check.
    assert_eq!(service("live")["state"], "running", "{z:#}");
    let by_pattern = service("by-pattern");
    assert_eq!(by_pattern["state"], "stopped", "{z:#}");
    assert!(
        by_pattern["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("zombie (exited, not reaped): pid {zombie}")),
        "{by_pattern:#}"
    );
    // A pidfile naming an exited process is a crash, zombie or not.
    let by_pidfile = service("by-pidfile");
    assert_eq!(by_pidfile["state"], "failed", "{z:#}");
    assert!(
        by_pidfile["detail"].as_str().unwrap().contains("zombie"),
        "{by_pidfile:#}"
    );
    drop(parent);
}

/// The pid of a zombie child of `parent`, if there is one (found through /proc).
fn zombie_child_of(parent: u32) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // After the command name (which may hold anything): state, ppid, …
        let mut rest = stat.rsplit_once(')')?.1.split_whitespace();
        let (state, ppid) = (rest.next()?, rest.next()?);
        (state == "Z" && ppid == parent.to_string()).then_some(pid)
    })
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

//! The shipped `harden-ssh` runbook against real OpenSSH hosts of the test fleet (each with its
//! own sshd_config and PidFile, running as root on 127.0.0.1), driven in a real terminal (tmux)
//! through its typed confirmation.
//!
//! One fleet of two hosts, in order:
//! (c) PermitRootLogin no while fleetdeck logs in as root is refused by the guard before any
//!     change — no exec of the rolling step, the config's bytes as they were;
//! the dry run shows each command with the chosen options and the new connection's port;
//! (a) h1 (password login on): new port + PasswordAuthentication no — backed up, written,
//!     `sshd -t`, reloaded by SIGHUP to the pid in its PidFile, proven by a new connection on
//!     the new port; `sshd -T` shows both, the old port is closed, the inventory file holds the
//!     new port and `fleetdeck exec` reaches the host there;
//! (b) h2, whose `ListenAddress 127.0.0.1:PORT` pins its listener (a real trap: `Port` then
//!     changes nothing): the new connection to the new port is refused, so the backup is
//!     restored over the old connection, sshd reloaded, the old way in proven, the run stopped —
//!     the config byte for byte as before, the host reachable as before, all audited;
//!     then a port sshd rejects (99999): `sshd -t` fails, nothing is reloaded, the same rollback.

mod support;

#[path = "runbook_drills/common.rs"]
mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::*;
use support::fleet::{free_port, port_accepts};
use support::{FleetSpec, TestFleet};

/// How long a prompt may take to show up.
const STEP: Duration = Duration::from_secs(60);
/// How long a whole run may take (reload waits, the gate, the rollback).
const RUN: Duration = Duration::from_secs(150);

fn args(host: &str, config: &Path, vars: &[(&str, &str)]) -> Vec<String> {
    let mut out: Vec<String> = [
        "run",
        "harden-ssh",
        "--hosts",
        host,
        "--var",
        &format!("sshd_config={}", config.display()),
        "--var",
        "pause=0s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (k, v) in vars {
        out.push("--var".into());
        out.push(format!("{k}={v}"));
    }
    out
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Records of the run of `harden-ssh` started last.
fn last_run(d: &Drill) -> Vec<serde_json::Value> {
    let records = d.audit();
    let run = runs_of(&records, "harden-ssh")
        .pop()
        .expect("a harden-ssh run");
    records_of_run(&records, &run)
        .into_iter()
        .cloned()
        .collect()
}

/// The `exec.result` of sub-step (or step) `step` on `host`, `""` when it never ran.
fn result_of<'a>(run: &'a [serde_json::Value], step: &str, host: &str) -> &'a str {
    run.iter()
        .find(|r| {
            field(r, "action") == "exec.result"
                && field(r, "step") == step
                && field(r, "target") == host
        })
        .map_or("", |r| field(r, "result"))
}

fn ran(run: &[serde_json::Value], prefix: &str) -> bool {
    run.iter()
        .any(|r| field(r, "action") == "exec" && field(r, "step").starts_with(prefix))
}

/// Files beside `config` whose name says they are a backup of it.
fn backups_beside(config: &Path) -> Vec<String> {
    fs::read_dir(config.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("sshd_config.fleetdeck-"))
        .collect()
}

/// `sshd -T -f CONFIG`: the effective settings of a config file, lowercase keywords.
fn effective(config: &Path) -> String {
    let out = std::process::Command::new("/usr/sbin/sshd")
        .arg("-T")
        .arg("-f")
        .arg(config)
        .output()
        .expect("run sshd -T");
    assert!(
        out.status.success(),
        "sshd -T -f {}: {}",
        config.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    // A leading newline, so every setting reads `\nkeyword value\n`, the first one too.
    format!("\n{}", String::from_utf8_lossy(&out.stdout))
}

/// The `port` of host `name` in the inventory file.
fn inventory_port(path: &Path, name: &str) -> Option<i64> {
    let doc: toml::Table = fs::read_to_string(path).unwrap().parse().unwrap();
    doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"].as_str() == Some(name))
        .and_then(|h| h.get("port"))
        .and_then(toml::Value::as_integer)
}

/// `fleetdeck exec --hosts HOST -- true` exits 0: fleetdeck reaches the host as its inventory
/// says, over a connection of its own.
fn assert_reachable(d: &Drill, host: &str) {
    let out = d.run(&["exec", "--hosts", host, "--", "true"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "fleetdeck exec on {host}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn harden_ssh_on_real_hosts_is_lockout_safe() {
    let mut fleet = TestFleet::start(FleetSpec::hosts(2));
    assert_eq!(
        fleet.user(),
        "root",
        "the harden-ssh drill writes sshd_config and signals sshd as the login user: run the \
         suite as root, as the test hosts do"
    );
    // h1 allows password login, so turning it off is a real change; h2 pins its listener.
    fleet.restart_host_replacing(
        0,
        "PasswordAuthentication no\n",
        "PasswordAuthentication yes\n",
    );
    let h2_port = fleet.host(1).port;
    fleet.restart_host_replacing(
        1,
        "ListenAddress 127.0.0.1\n",
        &format!("ListenAddress 127.0.0.1:{h2_port}\n"),
    );
    let d = Drill::new(fleet);
    let (h1, h2) = (d.fleet.host(0), d.fleet.host(1));
    assert!(effective(&h1.config).contains("\npasswordauthentication yes\n"));

    // --- (c) root login off while fleetdeck logs in as root: refused before any change -------
    let h1_before = fs::read(&h1.config).unwrap();
    let a = args(
        "h1",
        &h1.config,
        &[
            ("permit_root_login", "no"),
            ("password_authentication", "no"),
        ],
    );
    let t = d.terminal(&strs(&a));
    let code = t.exit_code(RUN);
    let history = t.history();
    assert_eq!(code, 1, "the guard fails the run:\n{history}");
    assert!(
        history.contains("refused: fleetdeck logs in to h1 as root, and PermitRootLogin no"),
        "{history}"
    );
    assert!(!history.contains("Type h1 to confirm"), "{history}");
    assert_eq!(fs::read(&h1.config).unwrap(), h1_before, "nothing changed");
    assert!(backups_beside(&h1.config).is_empty());
    let run = last_run(&d);
    assert!(!ran(&run, "harden"), "no command of the rolling step ran");
    let guard = run
        .iter()
        .find(|r| field(r, "action") == "step.result" && field(r, "step") == "guard")
        .expect("the guard's step.result");
    assert_eq!(field(guard, "result"), "failed");
    assert!(
        field(guard, "reason").contains("refused: fleetdeck logs in to h1 as root"),
        "the audit log says why: {guard}"
    );

    // --- the dry run shows the options and the new connection, and changes nothing -----------
    let new_port = free_port();
    let a = args(
        "h1",
        &h1.config,
        &[
            ("port", &new_port.to_string()),
            ("password_authentication", "no"),
        ],
    );
    let mut dry = a.clone();
    dry.push("--dry-run".into());
    let out = d.run(&strs(&dry));
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(
        printed.contains(&format!("Port={new_port} PasswordAuthentication=no")),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("(new SSH connection, port {new_port})")),
        "{printed}"
    );
    assert_eq!(fs::read(&h1.config).unwrap(), h1_before);

    // --- (a) success: a new port and password login off, proven by a new connection ----------
    let mut t = d.terminal(&strs(&a));
    let screen = t.expect("Type h1 to confirm", STEP);
    // The preview check showed the exact diff before the confirmation.
    assert!(screen.contains(&format!("+Port {new_port}")), "{screen}");
    t.tmux.send_literal("h1");
    t.tmux.send_keys(&["Enter"]);
    let code = t.exit_code(RUN);
    let history = t.history();
    assert_eq!(code, 0, "harden-ssh failed:\n{history}");
    assert!(
        history.contains(&format!(
            "✎ inventory: port = {new_port} in {}",
            d.config.display()
        )),
        "the operator is told where the port was written:\n{history}"
    );
    let now = effective(&h1.config);
    assert!(now.contains(&format!("\nport {new_port}\n")), "{now}");
    assert!(now.contains("\npasswordauthentication no\n"), "{now}");
    assert!(port_accepts(new_port), "sshd listens on the new port");
    assert!(!port_accepts(h1.port), "the old port is closed");
    assert_eq!(
        inventory_port(&d.config, "h1"),
        Some(i64::from(new_port)),
        "the inventory holds the new port"
    );
    assert_eq!(
        inventory_port(&d.config, "h2"),
        Some(i64::from(h2_port)),
        "h2 untouched"
    );
    assert_reachable(&d, "h1");
    // The health gate after the new connection polled over the pooled connection, opened on
    // the old port that is closed now: it passed only because that connection stayed open.
    let run = last_run(&d);
    let refs: Vec<&serde_json::Value> = run.iter().collect();
    assert_confirm_precedes_exec(&refs, &["harden"]);
    let order: Vec<&str> = run
        .iter()
        .filter(|r| field(r, "action") == "exec")
        .map(|r| field(r, "step"))
        .collect();
    assert_eq!(
        order,
        [
            "guard",
            "preview",
            "harden.backup",
            "harden.write",
            "harden.validate",
            "harden.reload",
            "harden.reconnect"
        ]
    );
    let reconnect = run
        .iter()
        .find(|r| field(r, "action") == "exec" && field(r, "step") == "harden.reconnect")
        .unwrap();
    assert!(
        field(reconnect, "command").starts_with(&format!("(new SSH connection, port {new_port})")),
        "{reconnect}"
    );
    assert_eq!(result_of(&run, "harden.reconnect", "h1"), "exit 0");
    let edit = run
        .iter()
        .find(|r| field(r, "action") == "inventory.edit")
        .expect("an inventory.edit record");
    assert_eq!(field(edit, "result"), "written", "{edit}");
    assert_eq!(field(edit, "target"), "h1");
    let kept = backups_beside(&h1.config);
    assert_eq!(kept.len(), 1, "the backup stays: {kept:?}");

    // --- (b) a port the new connection cannot reach: rolled back, host as before --------------
    let h2_before = fs::read(&h2.config).unwrap();
    let a = args(
        "h2",
        &h2.config,
        &[
            ("port", &free_port().to_string()),
            ("password_authentication", "no"),
        ],
    );
    let mut t = d.terminal(&strs(&a));
    t.answer("Type h2 to confirm", "h2", STEP);
    let code = t.exit_code(RUN);
    let history = t.history();
    assert_eq!(code, 1, "the run stops:\n{history}");
    assert!(
        history.contains("stopped at the first failure"),
        "{history}"
    );
    assert_eq!(
        fs::read(&h2.config).unwrap(),
        h2_before,
        "h2's sshd_config is byte for byte as before"
    );
    assert!(backups_beside(&h2.config).is_empty(), "no backup left");
    assert!(port_accepts(h2_port), "h2 still listens on its port");
    assert_reachable(&d, "h2");
    assert_eq!(inventory_port(&d.config, "h2"), Some(i64::from(h2_port)));
    let run = last_run(&d);
    assert!(
        result_of(&run, "harden.reconnect", "h2").starts_with("error: new connection failed"),
        "{}",
        result_of(&run, "harden.reconnect", "h2")
    );
    assert!(
        run.iter()
            .any(|r| field(r, "action") == "rollback" && field(r, "target") == "h2")
    );
    // The rollback ran over the old connection, which stayed open through it all.
    for step in [
        "harden.rollback.restore",
        "harden.rollback.reload-again",
        "harden.rollback.old-way-in",
    ] {
        assert_eq!(result_of(&run, step, "h2"), "exit 0", "{step}");
    }
    assert!(!run.iter().any(|r| field(r, "action") == "inventory.edit"));
    assert!(
        run.iter()
            .any(|r| field(r, "action") == "runbook.finish" && field(r, "result") == "failed")
    );

    // --- (b) an option sshd rejects: `sshd -t` fails, nothing reloaded, rolled back ------------
    let a = args("h2", &h2.config, &[("port", "99999")]);
    let mut t = d.terminal(&strs(&a));
    t.answer("Type h2 to confirm", "h2", STEP);
    let code = t.exit_code(RUN);
    assert_eq!(code, 1, "the run stops:\n{}", t.history());
    assert_eq!(fs::read(&h2.config).unwrap(), h2_before);
    assert!(backups_beside(&h2.config).is_empty());
    assert_reachable(&d, "h2");
    let run = last_run(&d);
    assert!(
        result_of(&run, "harden.validate", "h2").starts_with("exit ")
            && result_of(&run, "harden.validate", "h2") != "exit 0",
        "sshd -t refused Port 99999: {}",
        result_of(&run, "harden.validate", "h2")
    );
    assert!(
        !ran(&run, "harden.reload"),
        "a rejected config is never loaded"
    );
    assert!(!ran(&run, "harden.reconnect"));
    assert_eq!(result_of(&run, "harden.rollback.restore", "h2"), "exit 0");
    d.assert_audit_intact();
}

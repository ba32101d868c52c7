//! The shipped `harden-ssh` runbook against real OpenSSH hosts of the test fleet (each with its
//! own sshd_config and PidFile, running as root on 127.0.0.1), driven in a real terminal (tmux)
//! through its typed confirmation.
//!
//! One fleet of two hosts; each host's sshd_config is reached as `~/sshd_config` (a link in its
//! home), so one run covers both. In order:
//! (c) PermitRootLogin no while fleetdeck logs in as root is refused by the guard on every host
//!     before any change — no exec of the rolling step, every config's bytes as they were;
//! (b) h1 pins its listener with `ListenAddress 127.0.0.1:PORT` (a real trap: `Port` then
//!     changes nothing): after the preview (each host's diff) and the typed confirmation, the new
//!     connection to the new port is refused, so the backup is restored over the old connection,
//!     sshd reloaded, the old way in proven, and the run stopped — h1's config byte for byte as
//!     before and reachable, h2 never touched, all audited; then a port sshd rejects (99999):
//!     `sshd -t` fails, nothing is reloaded, the same rollback;
//! the dry run shows each command with the chosen options and the new connection's port;
//! (a) h2 (password login on): new port + PasswordAuthentication no — backed up, written,
//!     `sshd -t`, reloaded by SIGHUP to the pid in its PidFile, proven by a new connection on
//!     the new port; `sshd -T` shows both, the old port is closed, the inventory file holds the
//!     new port and `fleetdeck exec` reaches the host there.

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

/// `fleetdeck run harden-ssh` on `hosts` with each host's own sshd_config: `~/sshd_config`, a
/// link in every test host's home to its config (`~` is the SSH session's `$HOME`, which differs
/// per host).
fn args(hosts: &str, vars: &[(&str, &str)]) -> Vec<String> {
    let mut out: Vec<String> = [
        "run",
        "harden-ssh",
        "--hosts",
        hosts,
        "--var",
        "sshd_config=~/sshd_config",
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

/// Files in `dir` whose name says they are a backup of `sshd_config` (the backup goes next to
/// the path given, here the link in the host's home).
fn backups_in(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
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
    // h1 pins its listener (`Port` then changes nothing); h2 allows password login, so turning
    // it off is a real change.
    let h1_port = fleet.host(0).port;
    fleet.restart_host_replacing(
        0,
        "ListenAddress 127.0.0.1\n",
        &format!("ListenAddress 127.0.0.1:{h1_port}\n"),
    );
    fleet.restart_host_replacing(
        1,
        "PasswordAuthentication no\n",
        "PasswordAuthentication yes\n",
    );
    let d = Drill::new(fleet);
    let (h1, h2) = (d.fleet.host(0), d.fleet.host(1));
    for h in [&h1, &h2] {
        std::os::unix::fs::symlink(&h.config, h.home.join("sshd_config")).unwrap();
    }
    let h2_port = h2.port;
    assert!(effective(&h2.config).contains("\npasswordauthentication yes\n"));
    let h1_before = fs::read(&h1.config).unwrap();
    let h2_before = fs::read(&h2.config).unwrap();

    // --- (c) root login off while fleetdeck logs in as root: refused on every host, before any
    // change on any of them -------------------------------------------------------------------
    let a = args(
        "*",
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
    assert!(!history.contains("to confirm"), "{history}");
    assert_eq!(fs::read(&h1.config).unwrap(), h1_before, "nothing changed");
    assert_eq!(fs::read(&h2.config).unwrap(), h2_before, "nothing changed");
    assert!(backups_in(&h1.home).is_empty() && backups_in(&h2.home).is_empty());
    let run = last_run(&d);
    assert!(!ran(&run, "harden"), "no command of the rolling step ran");
    let guard = run
        .iter()
        .find(|r| field(r, "action") == "step.result" && field(r, "step") == "guard")
        .expect("the guard's step.result");
    assert_eq!(field(guard, "result"), "failed");
    for host in ["h1", "h2"] {
        assert!(
            field(guard, "reason")
                .contains(&format!("refused: fleetdeck logs in to {host} as root")),
            "the audit log says why, per host: {guard}"
        );
    }

    // --- (b) a port the new connection cannot reach, on the first of two hosts: rolled back
    // over the old connection, the run stopped, the second host never touched ------------------
    let a = args(
        "*",
        &[
            ("port", &free_port().to_string()),
            ("password_authentication", "no"),
        ],
    );
    let mut t = d.terminal(&strs(&a));
    let screen = t.expect("Type 2 to confirm", STEP);
    // The preview printed each host's exact diff before the confirmation.
    for host in ["h1", "h2"] {
        assert!(
            screen.contains(&format!("┌ {host}, output of [preview]:")),
            "{screen}"
        );
    }
    assert!(screen.contains("+PasswordAuthentication no"), "{screen}");
    assert!(screen.contains("-PasswordAuthentication yes"), "{screen}");
    t.tmux.send_literal("2");
    t.tmux.send_keys(&["Enter"]);
    let code = t.exit_code(RUN);
    let history = t.history();
    assert_eq!(code, 1, "the run stops:\n{history}");
    assert!(
        history.contains("stopped at the first failure"),
        "{history}"
    );
    assert_eq!(
        fs::read(&h1.config).unwrap(),
        h1_before,
        "h1's sshd_config is byte for byte as before"
    );
    assert_eq!(fs::read(&h2.config).unwrap(), h2_before, "h2 untouched");
    assert!(backups_in(&h1.home).is_empty(), "no backup left");
    assert!(port_accepts(h1_port), "h1 still listens on its port");
    assert_reachable(&d, "h1");
    assert_eq!(inventory_port(&d.config, "h1"), Some(i64::from(h1_port)));
    let run = last_run(&d);
    assert!(
        result_of(&run, "harden.reconnect", "h1").starts_with("error: new connection failed"),
        "{}",
        result_of(&run, "harden.reconnect", "h1")
    );
    assert!(
        run.iter()
            .any(|r| field(r, "action") == "rollback" && field(r, "target") == "h1")
    );
    // The rollback ran over the old connection, which stayed open through it all.
    for step in [
        "harden.rollback.restore",
        "harden.rollback.reload-again",
        "harden.rollback.old-way-in",
    ] {
        assert_eq!(result_of(&run, step, "h1"), "exit 0", "{step}");
    }
    assert!(
        !run.iter()
            .any(|r| field(r, "step").starts_with("harden.") && field(r, "target") == "h2"),
        "no command of the rolling step ran on h2"
    );
    assert!(!run.iter().any(|r| field(r, "action") == "inventory.edit"));
    assert!(
        run.iter()
            .any(|r| field(r, "action") == "runbook.finish" && field(r, "result") == "failed")
    );

    // --- (b) an option sshd rejects: `sshd -t` fails, nothing reloaded, rolled back ------------
    let a = args("h1", &[("port", "99999")]);
    let mut t = d.terminal(&strs(&a));
    t.answer("Type h1 to confirm", "h1", STEP);
    let code = t.exit_code(RUN);
    assert_eq!(code, 1, "the run stops:\n{}", t.history());
    assert_eq!(fs::read(&h1.config).unwrap(), h1_before);
    assert!(backups_in(&h1.home).is_empty());
    assert_reachable(&d, "h1");
    let run = last_run(&d);
    let validate = result_of(&run, "harden.validate", "h1");
    assert!(
        validate.starts_with("exit ") && validate != "exit 0",
        "sshd -t refused Port 99999: {validate}"
    );
    assert!(
        !ran(&run, "harden.reload"),
        "a rejected config is never loaded"
    );
    assert!(!ran(&run, "harden.reconnect"));
    assert_eq!(result_of(&run, "harden.rollback.restore", "h1"), "exit 0");

    // --- the dry run shows the options and the new connection, and changes nothing -----------
    let new_port = free_port();
    let a = args(
        "h2",
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
    assert_eq!(fs::read(&h2.config).unwrap(), h2_before);

    // --- (a) success: a new port and password login off, proven by a new connection ----------
    let mut t = d.terminal(&strs(&a));
    let screen = t.expect("Type h2 to confirm", STEP);
    assert!(screen.contains(&format!("+Port {new_port}")), "{screen}");
    t.tmux.send_literal("h2");
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
    let now = effective(&h2.config);
    assert!(now.contains(&format!("\nport {new_port}\n")), "{now}");
    assert!(now.contains("\npasswordauthentication no\n"), "{now}");
    assert!(port_accepts(new_port), "sshd listens on the new port");
    assert!(!port_accepts(h2_port), "the old port is closed");
    assert_eq!(
        inventory_port(&d.config, "h2"),
        Some(i64::from(new_port)),
        "the inventory holds the new port"
    );
    assert_eq!(
        inventory_port(&d.config, "h1"),
        Some(i64::from(h1_port)),
        "h1 untouched"
    );
    // The new port's host key was accepted as the one known for the old port (the fleet's
    // policy is strict) and recorded for the new name, so the next connection verifies it.
    let known = fs::read_to_string(d.fleet.known_hosts()).unwrap();
    assert!(
        known.contains(&format!("[127.0.0.1]:{new_port} {}", h2.host_public_key)),
        "{known}"
    );
    assert_reachable(&d, "h2");
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
    assert_eq!(result_of(&run, "harden.reconnect", "h2"), "exit 0");
    let edit = run
        .iter()
        .find(|r| field(r, "action") == "inventory.edit")
        .expect("an inventory.edit record");
    assert_eq!(field(edit, "result"), "written", "{edit}");
    assert_eq!(field(edit, "target"), "h2");
    let kept = backups_in(&h2.home);
    assert_eq!(kept.len(), 1, "the backup stays: {kept:?}");
    d.assert_audit_intact();
}

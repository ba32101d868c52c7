//! The security posture (issue 16, Mixin manual §2.1–2.4) against real sshd hosts: one weakly
//! configured (password login, empty passwords and root login on, root's history kept, an extra
//! listener on a port nobody expects) and one strong (key-only, history cleared by its profile).
//! The verdicts are read from `status --json` and from the Posture pane in a real terminal.
//!
//! Each test host's sshd runs as root from its own config file, so the inventory gives that file
//! as the host's `posture.sshd_config` (`sshd -T -f FILE`). The tests log in as root with `HOME`
//! set per host by sshd, so root's history and profile files are the host's own home's.

mod support;

use std::io::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use fleetdeck::observation::Metric;
use fleetdeck::posture::{CheckState, HistoryFile};

use serde_json::Value;
use support::{FleetSpec, InventoryOpts, TestFleet, Tmux};

const WAIT: Duration = Duration::from_secs(30);

/// A fleet of two: h1 weak, h2 strong; the returned listener is h1's unexpected port (held for
/// the test's life; every test host shares this machine's loopback).
fn weak_and_strong() -> (TestFleet, TcpListener, std::path::PathBuf) {
    let mut fleet = TestFleet::start(FleetSpec::hosts(2));
    fleet.restart_host_overriding(
        0,
        "PasswordAuthentication yes\nPermitEmptyPasswords yes\nPermitRootLogin yes\n",
    );
    let weak = fleet.host(0);
    let strong = fleet.host(1);
    std::fs::write(weak.home.join(".bash_history"), "cat /etc/secret\n").unwrap();
    std::fs::write(
        strong.home.join(".profile"),
        "# Mixin §2.4\nhistory -c\nrm -f ~/.bash_history\n",
    )
    .unwrap();
    let extra = TcpListener::bind("127.0.0.1:0").expect("bind the unexpected listener");
    let mut opts = InventoryOpts::default();
    // h1 judges loopback listeners (the test's extra port is on 127.0.0.1); h2 does not, so
    // this machine's other tests' loopback peers cannot make it deviate.
    opts.host_toml.insert(
        0,
        format!(
            "posture = {{ sshd_config = {}, include_loopback = true }}",
            support::fleet::toml_str(&weak.config.to_string_lossy())
        ),
    );
    opts.host_toml.insert(
        1,
        format!(
            "posture = {{ sshd_config = {} }}",
            support::fleet::toml_str(&strong.config.to_string_lossy())
        ),
    );
    // Root login is judged critical here (warning by default): the severity is the operator's.
    opts.extra_toml = "[posture]\nseverity = { root_login = \"critical\" }\n".into();
    let config = fleet.write_inventory(&opts);
    (fleet, extra, config)
}

fn status_json(config: &Path) -> Value {
    let out = Command::new(support::fleetdeck_bin())
        .args(["status", "--json", "--config"])
        .arg(config)
        .env_remove("SSH_AUTH_SOCK")
        .env("XDG_STATE_HOME", config.parent().unwrap().join("state"))
        .output()
        .expect("run fleetdeck");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "status --json printed no JSON ({e}):\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn host<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no host {name} in {report:#}"))
}

fn state<'a>(h: &'a Value, check: &str) -> &'a Value {
    &h["posture"]["checks"][check]["state"]
}

fn alert<'a>(h: &'a Value, rule: &str) -> Option<&'a Value> {
    h["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == rule)
}

#[test]
fn status_json_gives_each_hosts_posture_and_its_deviations_as_alerts() {
    let (fleet, extra, config) = weak_and_strong();
    let extra_port = extra.local_addr().unwrap().port();
    let report = status_json(&config);

    let weak = host(&report, "h1");
    assert_eq!(weak["reachable"], true, "{weak:#}");
    let p = &weak["posture"];
    assert_eq!(p["sshd"]["ports"][0], fleet.host(0).port, "{p:#}");
    assert_eq!(p["sshd"]["password_authentication"], "yes", "{p:#}");
    for check in [
        "password_login",
        "empty_passwords",
        "root_login",
        "root_history",
    ] {
        assert_eq!(state(weak, check), "deviation", "{check}: {p:#}");
    }
    for check in ["pubkey", "kbd_interactive", "ssh_port"] {
        assert_eq!(state(weak, check), "ok", "{check}: {p:#}");
    }
    assert_eq!(state(weak, "ports"), "deviation", "{p:#}");
    let unexpected: Vec<u64> = p["checks"]["ports"]["unexpected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(unexpected.contains(&u64::from(extra_port)), "{p:#}");
    assert!(
        !unexpected.contains(&u64::from(fleet.host(0).port)),
        "sshd's own port is expected: {p:#}"
    );
    let pw = alert(weak, "posture_password_login").expect("password login alert");
    assert_eq!(pw["severity"], "critical", "{weak:#}");
    assert!(
        pw["message"].as_str().unwrap().contains("Mixin §2.1"),
        "{pw:#}"
    );
    assert_eq!(
        alert(weak, "posture_root_login").unwrap()["severity"],
        "critical",
        "configured severity: {weak:#}"
    );
    let port_subject = extra_port.to_string();
    let port_alert = weak["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "posture_unexpected_port" && a["subject"] == port_subject.as_str())
        .unwrap_or_else(|| panic!("no alert for port {extra_port}: {weak:#}"));
    assert_eq!(port_alert["severity"], "warning");
    assert!(alert(weak, "posture_root_history").is_some(), "{weak:#}");
    assert_eq!(weak["status"], "critical");

    let strong = host(&report, "h2");
    let p = &strong["posture"];
    for check in [
        "password_login",
        "empty_passwords",
        "pubkey",
        "kbd_interactive",
        "ssh_port",
        "root_history",
    ] {
        assert_eq!(state(strong, check), "ok", "{check}: {p:#}");
    }
    assert!(
        p["checks"]["root_history"]["detail"]
            .as_str()
            .unwrap()
            .contains(".profile:2: history -c"),
        "{p:#}"
    );
    // The test logs in as root, so root login stays allowed (by key only) on the strong host.
    assert_eq!(state(strong, "root_login"), "deviation", "{p:#}");
    // `sshd -T` prints the old name of prohibit-password.
    let root = p["sshd"]["permit_root_login"].as_str().unwrap();
    assert!(
        root == "prohibit-password" || root == "without-password",
        "{p:#}"
    );
    // Loopback listeners are not judged by default: the weak host's extra port is not h2's.
    let unexpected = p["checks"]["ports"]["unexpected"].as_array();
    assert!(
        unexpected.is_none_or(|u| !u.contains(&Value::from(extra_port))),
        "{p:#}"
    );
    assert!(
        alert(strong, "posture_password_login").is_none(),
        "{strong:#}"
    );
    drop(extra);
}

#[test]
fn an_unreadable_sshd_config_is_said_not_guessed() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let mut opts = InventoryOpts::default();
    opts.host_toml.insert(
        0,
        "posture = { sshd_config = \"/nonexistent/sshd_config\" }".into(),
    );
    let config = fleet.write_inventory(&opts);
    let report = status_json(&config);
    let h = host(&report, "h1");
    assert_eq!(state(h, "password_login"), "unreadable", "{h:#}");
    assert_eq!(h["posture"]["sshd"], Value::Null, "{h:#}");
    assert!(
        h["posture"]["unavailable"]["sshd"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/sshd_config"),
        "{h:#}"
    );
    let a = alert(h, "posture_unreadable").unwrap_or_else(|| panic!("{h:#}"));
    assert_eq!(a["subject"], "sshd");
    assert!(alert(h, "posture_password_login").is_none(), "{h:#}");
}

/// The probe's own shell text run as `nobody` on this machine: real `sshd -T` refuses a
/// non-root login (it cannot load the host keys), which must read as "not readable", and root's
/// home cannot be looked into, which is "?" unless a system profile clears history.
#[test]
fn sshd_t_as_a_non_root_login_is_not_readable() {
    assert_eq!(
        support::fleet::current_user(),
        "root",
        "this test runs the probe as `nobody` through su, which needs root (as the test fleet's \
         sshd does)"
    );
    let mut host = fleetdeck::inventory::Host {
        name: "here".into(),
        ..Default::default()
    };
    host.posture.enabled = true;
    let script = fleetdeck::probe::script::build(&host);
    let mut child = Command::new("su")
        .args(["-s", "/bin/sh", "nobody", "-c", "sh -s"])
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run su");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.text().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let r = script.parse(&fleetdeck::transport::ExecOutput {
        status: out.status.code().map(|c| c as u32),
        stdout: out.stdout,
        stderr: out.stderr,
        dropped_bytes: 0,
    });
    let p = r.posture.expect("posture planned");
    match &p.sshd {
        Metric::Unavailable(why) => {
            assert!(why.starts_with("not readable"), "{why}");
            assert!(why.contains("uid 65534"), "{why}");
        }
        other => panic!("sshd -T as nobody must be not readable, got {other:?}"),
    }
    assert!(matches!(p.listening, Metric::Value(_)), "{:?}", p.listening);
    let Metric::Value(h) = &p.root_history else {
        panic!("{:?}", p.root_history);
    };
    assert_eq!(h.home, "/root");
    assert_eq!(h.file, HistoryFile::Unreadable, "{h:?}");
    let checks = fleetdeck::posture::judge(&p, &host.posture, 22);
    assert!(
        checks
            .iter()
            .filter(|c| c.check.reading() == "sshd")
            .all(|c| c.state == CheckState::Unreadable),
        "{checks:?}"
    );
}

#[test]
fn posture_is_off_without_a_posture_table() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let report = status_json(&config);
    let h = host(&report, "h1");
    assert_eq!(h["posture"], Value::Null, "{h:#}");
    assert_eq!(h["status"], "ok", "{h:#}");
}

#[test]
fn the_posture_pane_shows_which_hosts_allow_password_login() {
    let (fleet, _extra, config) = weak_and_strong();
    let state_dir = fleet.root().join("state");
    let tmux = Tmux::start_with_env(
        &format!(
            "{} --config {}; sleep 30",
            support::fleetdeck_bin().display(),
            config.display()
        ),
        140,
        30,
        &[
            ("XDG_STATE_HOME", state_dir.to_str().unwrap()),
            ("SSH_AUTH_SOCK", ""),
        ],
    );
    tmux.wait_for("2/2 reachable", WAIT);
    tmux.send_keys(&[":"]);
    tmux.send_literal("pane posture");
    tmux.send_keys(&["Enter"]);
    // The whole matrix drawn (not a frame caught half-way through a redraw): eight marks on
    // both rows and the palette closed.
    let screen = tmux
        .wait_until(WAIT, |s| {
            s.contains("PASSWORD")
                && !s.contains(":pane posture")
                && [cells(s, "h1"), cells(s, "h2")].iter().all(|c| {
                    c.len() == 8 && c.iter().all(|m| ["✓", "✗", "?"].contains(&m.as_str()))
                })
        })
        .unwrap_or_else(|s| panic!("no posture matrix; screen:\n{s}"));
    let cells = |name: &str| cells(&screen, name);
    let weak = cells("h1");
    let strong = cells("h2");
    assert_eq!(weak[0], "✗", "h1 allows password login:\n{screen}");
    assert_eq!(strong[0], "✓", "h2 does not:\n{screen}");
    // Empty passwords, then root login: both ✗ on h1; root login ✗ on h2 too (tests log in as root).
    assert_eq!(weak[1], "✗", "{screen}");
    assert_eq!(strong[1], "✓", "{screen}");
    assert_eq!(strong[2], "✗", "{screen}");
    // Root's history: last column.
    assert_eq!(weak[7], "✗", "{screen}");
    assert_eq!(strong[7], "✓", "{screen}");
    tmux.send_keys(&["q"]);
}

/// The eight check cells of host `name`'s row, in `Check::ALL` order (PASSWORD first).
fn cells(screen: &str, name: &str) -> Vec<String> {
    row(screen, name).map_or_else(Vec::new, |r| {
        r.split_whitespace()
            .skip_while(|w| !w.ends_with(name))
            .skip(1)
            .take(8)
            .map(str::to_string)
            .collect()
    })
}

/// The screen line of host `name`'s row.
fn row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen.lines().find(|l| {
        l.split_whitespace()
            .any(|w| w == name || w.trim_start_matches('▶') == name)
    })
}

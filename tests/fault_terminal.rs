//! The console under faults, in a real terminal (tmux): keys still work and quitting is prompt
//! while a host is blackholed, and the terminal is restored (cooked mode, echo) after a panic and
//! after a SIGHUP (which reloads the configuration while the terminal is there; reloading
//! itself is `tests/console_reload.rs`). Quitting with `q` and SIGTERM are covered in
//! `tests/console_tmux.rs`.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{FleetSpec, InventoryOpts, NetnsHost, TestFleet, Tmux};

const WAIT: Duration = Duration::from_secs(20);

fn until(tmux: &Tmux, what: &str, pred: impl FnMut(&str) -> bool) -> String {
    tmux.wait_until(WAIT, pred)
        .unwrap_or_else(|screen| panic!("timed out waiting for {what}; screen:\n{screen}"))
}

/// A shell line that runs the console, then prints how it exited and whether the terminal is
/// back in cooked mode with echo.
fn console_then_report(config: &Path) -> String {
    format!(
        "{} --config {}; code=$?; modes=$(stty -a | tr ' ' '\\n' | grep -x -e icanon -e echo | tr '\\n' ' '); echo \"EXITED=$code MODES=$modes END\"; sleep 30",
        support::fleetdeck_bin().display(),
        config.display()
    )
}

/// The console's PID: the only child of the pane's shell.
fn console_pid(tmux: &Tmux) -> String {
    let shell = tmux.pane_pid();
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
        .expect("children of the pane shell");
    children
        .split_whitespace()
        .next()
        .expect("the console process")
        .to_string()
}

fn env(fleet: &TestFleet) -> Vec<(&'static str, String)> {
    vec![
        (
            "XDG_STATE_HOME",
            fleet.root().join("state").display().to_string(),
        ),
        ("SSH_AUTH_SOCK", String::new()),
    ]
}

fn start(cmd: &str, env: &[(&'static str, String)]) -> Tmux {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Tmux::start_with_env(cmd, 120, 30, &env)
}

#[test]
fn keys_and_quit_work_while_a_host_is_blackholed() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let dark = NetnsHost::start(&fleet);
    dark.blackhole();
    let known_hosts = Some(vec![
        fleet.known_hosts().to_path_buf(),
        dark.known_hosts().to_path_buf(),
    ]);
    // A connect timeout far longer than this test looks: the dark host's first poll is stuck in
    // its TCP connect for the whole time the keys are pressed.
    let config = fleet.write_inventory(&InventoryOpts {
        known_hosts: known_hosts.clone(),
        connect_timeout: "60s".into(),
        extra_hosts: vec![dark.extra_host("dark")],
        ..InventoryOpts::default()
    });
    let tmux = start(&console_then_report(&config), &env(&fleet));
    let screen = until(&tmux, "the two good hosts polled", |s| {
        s.contains("2 ok") && s.contains("2/3 reachable")
    });
    let row = screen
        .lines()
        .find(|l| l.contains(" dark "))
        .expect("dark row");
    assert!(
        row.contains('…'),
        "dark's first poll is still in flight: {row}"
    );

    tmux.send_keys(&["j", "j"]);
    until(&tmux, "selection on dark", |s| {
        s.lines().any(|l| l.contains("▶ dark"))
    });
    tmux.send_keys(&["k"]);
    until(&tmux, "selection back on h2", |s| {
        s.lines().any(|l| l.contains("▶ h2"))
    });
    tmux.send_keys(&["r"]);
    tmux.send_keys(&["g"]);
    until(&tmux, "selection on h1", |s| {
        s.lines().any(|l| l.contains("▶ h1"))
    });

    // The headless view of the same host, with a short connect timeout: a timeout, not a hang.
    let short = fleet.write_inventory(&InventoryOpts {
        known_hosts,
        connect_timeout: "2s".into(),
        extra_hosts: vec![dark.extra_host("dark")],
        ..InventoryOpts::default()
    });
    let out = std::process::Command::new(support::fleetdeck_bin())
        .args(["status", "--json", "--config"])
        .arg(&short)
        .env_remove("SSH_AUTH_SOCK")
        .env("XDG_STATE_HOME", fleet.root().join("state"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "dark")
        .unwrap();
    assert_eq!(d["error_kind"], "timeout", "{d:#}");
    assert_eq!(report["summary"]["reachable"], 2, "{report:#}");

    // Quitting does not wait for the stuck connect.
    tmux.send_keys(&["q"]);
    let after = tmux.wait_for(" END", WAIT);
    assert!(after.contains("EXITED=0"), "{after}");
    assert!(after.contains("MODES=icanon echo"), "{after}");
}

#[test]
fn sighup_reloads_and_the_terminal_is_restored_after() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let tmux = start(&console_then_report(&config), &env(&fleet));
    tmux.wait_for("1/1 reachable", WAIT);
    let pid = console_pid(&tmux);
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    // The terminal is still there: SIGHUP reloads (docs/console.md) instead of quitting.
    let log = fleet
        .root()
        .join("state")
        .join("fleetdeck")
        .join("fleetdeck.log");
    let reloaded = support::fleet::wait_until(WAIT, || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("reloaded (SIGHUP)"))
    });
    assert!(reloaded.is_some(), "no reload after SIGHUP");
    tmux.wait_for("1/1 reachable", WAIT);
    tmux.send_keys(&["q"]);
    let after = tmux.wait_for(" END", WAIT);
    assert!(after.contains("EXITED=0"), "{after}");
    assert!(
        after.contains("MODES=icanon echo"),
        "terminal left in raw mode:\n{after}"
    );
}

#[test]
fn a_panic_restores_the_terminal_and_prints_no_state() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let mut vars = env(&fleet);
    // Debug builds only: the console panics on purpose once it has drawn this many frames.
    vars.push(("FLEETDECK_TEST_PANIC_AFTER_FRAMES", "3".to_string()));
    // The message, not a backtrace, is what must stay on the screen.
    vars.push(("RUST_BACKTRACE", "0".to_string()));
    let tmux = start(&console_then_report(&config), &vars);
    let after = tmux.wait_for(" END", WAIT);
    assert!(
        after.contains("EXITED=101"),
        "a panic exits with Rust's panic status:\n{after}"
    );
    assert!(
        after.contains("MODES=icanon echo"),
        "terminal left in raw mode after a panic:\n{after}"
    );
    assert!(
        after.contains("FLEETDECK_TEST_PANIC_AFTER_FRAMES"),
        "the panic message is shown on the restored screen:\n{after}"
    );
    // The message names the trigger and nothing of the console's state (no path, no key).
    let panic_line = after
        .lines()
        .find(|l| l.contains("panicked"))
        .unwrap_or_else(|| panic!("no panic line:\n{after}"));
    assert!(
        !panic_line.contains(&fleet.client_key().display().to_string())
            && !panic_line.contains(&config.display().to_string()),
        "{panic_line}"
    );
}

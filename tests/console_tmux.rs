//! The console in a real terminal (tmux) against a real fleet: the first screen lists every host
//! with live data, keys work, and quitting — by key or by SIGTERM — leaves a usable terminal.

mod support;

use std::time::Duration;

use support::{FleetSpec, InventoryOpts, TestFleet, Tmux};

const WAIT: Duration = Duration::from_secs(20);

/// Polls the screen until `pred` holds; panics with `what` and the last screen otherwise.
fn until(tmux: &Tmux, what: &str, timeout: Duration, pred: impl FnMut(&str) -> bool) -> String {
    tmux.wait_until(timeout, pred)
        .unwrap_or_else(|screen| panic!("timed out waiting for {what}; screen:\n{screen}"))
}

/// A shell line that runs the console, then reports how it exited and whether the terminal is
/// back in cooked mode with echo (what a raw-mode leftover would break).
fn console_then_report(config: &std::path::Path) -> String {
    format!(
        "{} --config {}; code=$?; modes=$(stty -a | tr ' ' '\\n' | grep -x -e icanon -e echo | tr '\\n' ' '); echo \"EXITED=$code MODES=$modes END\"; sleep 30",
        support::fleetdeck_bin().display(),
        config.display()
    )
}

#[test]
fn the_first_screen_shows_every_host_and_quitting_restores_the_terminal() {
    let mut fleet = TestFleet::start(FleetSpec::hosts(5).with_anvils(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let state = fleet.root().join("state");
    let tmux = Tmux::start_with_env(
        &console_then_report(&config),
        120,
        40,
        &[
            ("XDG_STATE_HOME", state.to_str().unwrap()),
            ("SSH_AUTH_SOCK", ""),
        ],
    );
    let screen = until(&tmux, "every host polled", WAIT, |s| {
        s.contains("5 ok") && s.contains("5/5 reachable")
    });
    for i in 0..5 {
        assert!(
            screen.contains(&format!(" {} ", fleet.host(i).name)),
            "{screen}"
        );
    }
    assert!(screen.contains("testfleet — 5 hosts"), "{screen}");
    assert!(
        screen.contains("n/a"),
        "anvil's peers shown as unavailable:\n{screen}"
    );

    // A host going away shows up on its own, with no key pressed.
    fleet.stop_host(3);
    let screen = until(&tmux, "h4 critical", WAIT, |s| {
        s.contains("1 crit") && s.contains("4/5 reachable")
    });
    let h4 = screen.lines().find(|l| l.contains(" h4 ")).expect("h4 row");
    assert!(h4.contains("critical") && h4.contains(" no "), "{h4}");
    fleet.start_host(3);
    until(&tmux, "h4 recovers", Duration::from_secs(40), |s| {
        s.contains("5 ok")
    });

    // Keys move the selection marker.
    tmux.send_keys(&["j", "j"]);
    until(&tmux, "selection on h3", WAIT, |s| {
        s.lines().any(|l| l.contains("▶ h3"))
    });

    tmux.send_keys(&["q"]);
    let after = tmux.wait_for(" END", WAIT);
    assert!(after.contains("EXITED=0"), "{after}");
    assert!(
        after.contains("MODES=icanon echo"),
        "terminal left in raw mode:\n{after}"
    );
}

#[test]
fn sigterm_restores_the_terminal() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let state = fleet.root().join("state");
    let tmux = Tmux::start_with_env(
        &console_then_report(&config),
        100,
        30,
        &[
            ("XDG_STATE_HOME", state.to_str().unwrap()),
            ("SSH_AUTH_SOCK", ""),
        ],
    );
    tmux.wait_for("1/1 reachable", WAIT);
    // The pane runs `sh -c "<line>"`; the console is that shell's child.
    let shell = tmux.pane_pid();
    let console = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
        .expect("children of the pane shell");
    let pid = console
        .split_whitespace()
        .next()
        .expect("the console process");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let after = tmux.wait_for(" END", WAIT);
    assert!(
        after.contains("MODES=icanon echo"),
        "terminal left in raw mode:\n{after}"
    );
}

#[test]
fn the_embedded_default_fleet_opens_on_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_str().unwrap();
    // No inventory anywhere: cwd and XDG dirs are empty, so the embedded default is used.
    let line = format!(
        "cd {home} && {} ; echo EXITED=$?; sleep 30",
        support::fleetdeck_bin().display()
    );
    let tmux = Tmux::start_with_env(
        &line,
        100,
        30,
        &[("XDG_CONFIG_HOME", home), ("XDG_STATE_HOME", home)],
    );
    let screen = tmux.wait_for("1/1 reachable", WAIT);
    assert!(screen.contains("local — 1 hosts"), "{screen}");
    assert!(screen.contains("1 ok"), "{screen}");
    tmux.send_keys(&["Escape"]);
    assert!(tmux.wait_for("EXITED=", WAIT).contains("EXITED=0"));
}

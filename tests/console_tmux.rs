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
    console_with_args_then_report(config, "")
}

/// The same, with extra console arguments (`--readonly`, `--theme …`).
fn console_with_args_then_report(config: &std::path::Path, args: &str) -> String {
    format!(
        "{} --config {} {args}; code=$?; modes=$(stty -a | tr ' ' '\\n' | grep -x -e icanon -e echo | tr '\\n' ' '); echo \"EXITED=$code MODES=$modes END\"; sleep 30",
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

/// The environment every console run gets: its own state dir for the log, and no ssh-agent.
fn env_for(fleet: &TestFleet) -> (String, Vec<(&'static str, String)>) {
    let state = fleet.root().join("state");
    let state = state.to_str().unwrap().to_string();
    (
        state.clone(),
        vec![
            ("XDG_STATE_HOME", state),
            ("SSH_AUTH_SOCK", String::new()),
            ("USER", "alice".to_string()),
        ],
    )
}

fn start(fleet: &TestFleet, line: &str, width: u16, height: u16) -> Tmux {
    let (_, env) = env_for(fleet);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Tmux::start_with_env(line, width, height, &env)
}

/// The screen line of host `name`'s row (the name between spaces, as the table draws it).
fn row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|l| l.contains(&format!(" {name} ")) && l.starts_with('│'))
}

fn quit_and_check_terminal(tmux: &Tmux) {
    tmux.send_keys(&["q"]);
    let after = tmux.wait_for(" END", WAIT);
    assert!(after.contains("EXITED=0"), "{after}");
    assert!(
        after.contains("MODES=icanon echo"),
        "terminal left in raw mode:\n{after}"
    );
}

#[test]
fn a_stopped_service_turns_its_row_critical_and_lists_in_alerts_until_it_resolves() {
    let fleet = TestFleet::start(FleetSpec::hosts(3));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let tmux = start(&fleet, &console_then_report(&config), 120, 40);
    until(&tmux, "every host polled", WAIT, |s| {
        s.contains("3 ok") && s.contains("3/3 reachable")
    });

    // One poll interval is 1 s; the row must turn without a key being pressed.
    fleet.set_service_running(1, false);
    let screen = until(&tmux, "h2 critical", WAIT, |s| {
        row(s, "h2").is_some_and(|l| l.contains("critical"))
    });
    let h2 = row(&screen, "h2").unwrap();
    assert!(h2.contains("0/1") && h2.contains("app is"), "{h2}");
    assert!(row(&screen, "h1").unwrap().contains(" ok "), "{screen}");

    tmux.send_keys(&[":"]);
    tmux.send_literal("pane alerts");
    tmux.send_keys(&["Enter"]);
    let screen = until(&tmux, "the alert listed", WAIT, |s| {
        s.contains("alerts — 1")
            && s.lines()
                .any(|l| l.contains("service_down") && l.contains("h2"))
    });
    assert!(screen.contains("critical"), "{screen}");

    // Acknowledge it: the operator is $USER.
    tmux.send_keys(&["a"]);
    until(&tmux, "acked", WAIT, |s| {
        s.lines()
            .any(|l| l.contains("service_down") && l.contains("acked by alice"))
    });
    // The ack is an operator action: it is in the audit log, with who and what.
    let audit = fleet.root().join("state/fleetdeck/audit.jsonl");
    let log = std::fs::read_to_string(&audit).expect("the ack was written to the audit log");
    assert!(
        log.lines().any(|l| l.contains("\"alert.ack\"")
            && l.contains("\"h2\"")
            && l.contains("\"alice\"")
            && l.contains("service_down")
            // Since when it had been failing: the incident timeline's "alert raised".
            && l.contains("\"reason\":\"failing since 20")),
        "{log}"
    );

    // Back up: the alert resolves on its own and stays listed as resolved.
    fleet.set_service_running(1, true);
    until(&tmux, "resolved", WAIT, |s| {
        s.lines()
            .any(|l| l.contains("service_down") && l.contains("resolved"))
    });
    // Each Escape is seen through before the next key: an Esc and a key arriving in one read
    // are Alt+key to the terminal.
    tmux.send_keys(&["Escape"]);
    until(&tmux, "all ok again on the fleet pane", WAIT, |s| {
        s.contains("3 ok") && s.contains("testfleet — 3 hosts")
    });
    quit_and_check_terminal(&tmux);
}

#[test]
fn filter_drill_down_palette_help_mouse_and_resize() {
    let fleet = TestFleet::start(FleetSpec::hosts(3).with_anvils(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let tmux = start(&fleet, &console_then_report(&config), 120, 40);
    until(&tmux, "every host polled", WAIT, |s| {
        s.contains("3 ok") && s.contains("3/3 reachable")
    });

    // `/` filters as you type; Enter keeps it.
    tmux.send_keys(&["/"]);
    tmux.send_literal("h2");
    tmux.send_keys(&["Enter"]);
    let screen = until(&tmux, "only h2", WAIT, |s| s.contains("1 of 3 hosts · /h2"));
    assert!(
        row(&screen, "h2").is_some() && row(&screen, "h1").is_none(),
        "{screen}"
    );

    // Enter drills down into the selected host: its facts, read over SSH.
    tmux.send_keys(&["Enter"]);
    let screen = until(&tmux, "h2's facts", WAIT, |s| {
        s.contains("h2 ›") && s.contains("kernel") && s.contains("memory")
    });
    assert!(screen.contains("reachable    yes"), "{screen}");
    // Esc leaves the host, then clears the filter.
    tmux.send_keys(&["Escape"]);
    until(&tmux, "back on the filtered fleet", WAIT, |s| {
        s.contains("1 of 3 hosts") && !s.contains("h2 ›")
    });
    tmux.send_keys(&["Escape"]);
    until(&tmux, "filter cleared", WAIT, |s| {
        s.contains("testfleet — 3 hosts ")
    });

    // `:` completes and runs commands.
    tmux.send_keys(&[":"]);
    tmux.send_literal("pa");
    tmux.send_keys(&["Tab"]);
    until(&tmux, "completed", WAIT, |s| s.contains(":pane ▏"));
    tmux.send_literal("chain");
    tmux.send_keys(&["Enter"]);
    let screen = until(&tmux, "the chain pane", WAIT, |s| {
        s.contains("chain nodes — 1") && s.contains("ethereum")
    });
    assert!(row(&screen, "h1").is_some(), "{screen}");

    // `?` shows the help generated from the key map.
    tmux.send_keys(&["?"]);
    until(&tmux, "help", WAIT, |s| {
        s.contains("keys everywhere") && s.contains("command palette (Tab completes)")
    });
    tmux.send_keys(&["Escape"]);
    tmux.wait_for_absent("keys everywhere", WAIT);

    // The mouse: a click on the Fleet tab (SGR mouse report, 1-based column and row).
    let screen = tmux.capture();
    let tabs = screen.lines().next().unwrap();
    let col = tabs.find("Fleet").expect("the Fleet tab") + 1;
    tmux.send_literal(&format!("\x1b[<0;{col};1M\x1b[<0;{col};1m"));
    until(&tmux, "the fleet pane after a click", WAIT, |s| {
        s.contains("testfleet — 3 hosts")
    });
    // A click on h3's row selects it; a second click opens it.
    let screen = tmux.capture();
    let y = screen
        .lines()
        .position(|l| row(l, "h3").is_some())
        .expect("h3's row")
        + 1;
    tmux.send_literal(&format!("\x1b[<0;10;{y}M\x1b[<0;10;{y}m"));
    until(&tmux, "h3 selected", WAIT, |s| {
        s.lines().any(|l| l.contains("▶ h3"))
    });
    tmux.send_literal(&format!("\x1b[<0;10;{y}M\x1b[<0;10;{y}m"));
    until(&tmux, "h3 opened", WAIT, |s| s.contains("h3 ›"));
    tmux.send_keys(&["Escape"]);
    tmux.wait_for_absent("h3 ›", WAIT);

    // Any size: below the minimum a notice, and back.
    tmux.resize(50, 12);
    until(&tmux, "too-small notice", WAIT, |s| {
        s.contains("Terminal too small") && s.contains("need at least 60×15")
    });
    tmux.resize(80, 24);
    let screen = until(&tmux, "the table at 80×24", WAIT, |s| {
        s.contains("testfleet — 3 hosts")
    });
    assert!(row(&screen, "h3").is_some(), "{screen}");
    quit_and_check_terminal(&tmux);
}

#[test]
fn a_readonly_console_says_so_and_refuses_acks() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    fleet.set_service_running(0, false);
    let config = fleet.write_inventory(&InventoryOpts::default());
    let tmux = start(
        &fleet,
        &console_with_args_then_report(&config, "--readonly --theme high-contrast"),
        100,
        30,
    );
    until(&tmux, "read-only and critical", WAIT, |s| {
        s.contains("READ-ONLY") && s.contains("1 crit")
    });
    tmux.send_keys(&[":"]);
    tmux.send_literal("pane alerts");
    tmux.send_keys(&["Enter"]);
    until(&tmux, "the alert", WAIT, |s| s.contains("service_down"));
    tmux.send_keys(&["a"]);
    let screen = until(&tmux, "the refusal", WAIT, |s| {
        s.contains("read-only console: `a`")
    });
    assert!(!screen.contains("acked by"), "{screen}");
    assert!(
        !screen.contains("a ack"),
        "no hint for a stripped key:\n{screen}"
    );
    tmux.send_keys(&[":"]);
    tmux.send_literal("ack");
    tmux.send_keys(&["Enter"]);
    until(&tmux, "the palette refusal", WAIT, |s| {
        s.contains("read-only: `ack` is disabled")
    });
    tmux.send_keys(&["Escape"]);
    tmux.wait_for_absent("read-only: `ack` is disabled", WAIT);
    quit_and_check_terminal(&tmux);
}

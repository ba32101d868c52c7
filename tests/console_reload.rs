//! Reloading the console's configuration in a real terminal (tmux) against real sshd hosts:
//! a host added to the inventory appears after `:reload`, a broken edit keeps the running
//! configuration and shows the error with FILE:LINE:COL, the fixed file is applied on its own
//! (the file is watched), SIGHUP reloads too, and an unchanged host keeps its SSH connection
//! (the same TCP connection, seen from the kernel's socket table, before and after).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{FleetSpec, InventoryOpts, TestFleet, Tmux};

const WAIT: Duration = Duration::from_secs(30);

fn until(tmux: &Tmux, what: &str, pred: impl FnMut(&str) -> bool) -> String {
    tmux.wait_until(WAIT, pred)
        .unwrap_or_else(|screen| panic!("timed out waiting for {what}; screen:\n{screen}"))
}

/// The inventory with only the fleet hosts at `keep` (0-based): the generated text is a
/// header followed by one `[[hosts]]` table per host.
fn inventory_with(full: &str, keep: &[usize]) -> String {
    let mut blocks = full.split("\n[[hosts]]\n");
    let mut out = blocks.next().unwrap().to_string();
    for (i, b) in blocks.enumerate() {
        if keep.contains(&i) {
            out.push_str("\n[[hosts]]\n");
            out.push_str(b);
        }
    }
    out
}

/// The client ends (`127.0.0.1:PORT`) of the established TCP connections to `port`.
fn connections_to(port: u16) -> Vec<String> {
    let out = Command::new("ss")
        .args([
            "-Htn",
            "state",
            "established",
            &format!("( dport = :{port} )"),
        ])
        .output()
        .expect("run ss");
    assert!(out.status.success(), "ss failed: {out:?}");
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        // Recv-Q Send-Q Local Peer (state is filtered, so not printed).
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect();
    v.sort();
    v
}

fn console_pid(tmux: &Tmux) -> String {
    let shell = tmux.pane_pid();
    std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
        .expect("children of the pane shell")
        .split_whitespace()
        .next()
        .expect("the console process")
        .to_string()
}

fn log_text(state: &Path) -> String {
    std::fs::read_to_string(state.join("fleetdeck").join("fleetdeck.log")).unwrap_or_default()
}

fn wait_log(state: &Path, text: &str) {
    support::fleet::wait_until(WAIT, || log_text(state).contains(text))
        .unwrap_or_else(|| panic!("the log never said {text:?}:\n{}", log_text(state)));
}

#[test]
fn reload_adds_keeps_and_refuses_a_broken_file() {
    let fleet = TestFleet::start(FleetSpec::hosts(3));
    let full = fleet.inventory_toml(&InventoryOpts::default());
    let config = fleet.root().join("fleet.toml");
    std::fs::write(&config, inventory_with(&full, &[0, 1])).unwrap();
    let state = fleet.root().join("state");
    let line = format!(
        "{} --config {}; echo EXITED=$? END; sleep 30",
        support::fleetdeck_bin().display(),
        config.display()
    );
    let tmux = Tmux::start_with_env(
        &line,
        200,
        30,
        &[
            ("XDG_STATE_HOME", state.to_str().unwrap()),
            ("SSH_AUTH_SOCK", ""),
        ],
    );
    until(&tmux, "two hosts polled", |s| s.contains("2/2 reachable"));
    let h1 = fleet.host(0).port;
    let before = connections_to(h1);
    assert_eq!(before.len(), 1, "one connection to h1: {before:?}");

    // A host added to the file appears after `:reload`; h1 keeps its connection.
    std::fs::write(&config, &full).unwrap();
    tmux.send_literal(":reload");
    tmux.send_keys(&["Enter"]);
    let screen = until(&tmux, "h3 polled", |s| s.contains("3/3 reachable"));
    assert!(screen.contains(" h3 "), "{screen}");
    wait_log(&state, "reloaded (:reload)");
    assert_eq!(connections_to(h1), before, "h1's connection was replaced");

    // A broken edit: the watched file reloads on its own, fails, and the three hosts stay.
    let broken = format!("{full}\n[[hosts]]\nname = \n");
    let bad_line = broken.lines().count();
    std::fs::write(&config, &broken).unwrap();
    let at = format!("fleet.toml:{bad_line}:8:");
    let screen = until(&tmux, "the reload error", |s| {
        s.contains("reload failed") && s.contains(&at)
    });
    // The long error squeezes the summary; the rows show the three hosts still polled.
    for h in [" h1 ", " h2 ", " h3 "] {
        assert!(screen.contains(h), "{h} gone after a bad edit:\n{screen}");
    }
    assert!(screen.contains("3 ok"), "{screen}");
    wait_log(&state, "previous configuration kept");

    // Fixed (h2 removed this time): applied without a key.
    std::fs::write(&config, inventory_with(&full, &[0, 2])).unwrap();
    let screen = until(&tmux, "h2 gone", |s| {
        s.contains("2/2 reachable") && !s.contains(" h2 ")
    });
    assert!(screen.contains(" h3 "), "{screen}");
    wait_log(&state, "reloaded (file changed)");
    assert_eq!(connections_to(h1), before, "h1's connection was replaced");
    // h2's poller stopped and its connection was closed.
    let h2 = fleet.host(1).port;
    support::fleet::wait_until(WAIT, || connections_to(h2).is_empty())
        .unwrap_or_else(|| panic!("h2 still connected: {:?}", connections_to(h2)));

    // SIGHUP reloads too (nothing changed: every host kept) and the console keeps running.
    let pid = console_pid(&tmux);
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_log(&state, "reloaded (SIGHUP)");
    let log = log_text(&state);
    assert!(
        log.contains("2 kept, 0 added, 0 changed, 0 removed"),
        "{log}"
    );
    // The status line's notice is gone after 4 s, which a loaded machine may take to capture:
    // the log says what was reloaded, the screen that the console still runs.
    until(&tmux, "still running", |s| s.contains("2/2 reachable"));
    assert_eq!(connections_to(h1), before, "h1's connection was replaced");

    tmux.send_keys(&["q"]);
    let after = tmux.wait_for(" END", WAIT);
    assert!(after.contains("EXITED=0"), "{after}");
}

/// `fleetdeck serve` reloads on SIGHUP too: a host added to the file is exported, a broken
/// file keeps the running configuration (and the process).
#[test]
fn serve_reloads_on_sighup() {
    use support::prometheus::wait_for_ok;
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let full = fleet.inventory_toml(&InventoryOpts::default());
    let config = fleet.root().join("fleet.toml");
    std::fs::write(&config, inventory_with(&full, &[0])).unwrap();
    let port = support::fleet::free_port();
    let mut child = Command::new(support::fleetdeck_bin())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
        ])
        .arg(&config)
        .env("XDG_STATE_HOME", fleet.root().join("state"))
        .env("SSH_AUTH_SOCK", "")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start fleetdeck serve");
    let pid = child.id().to_string();
    let metrics_with = |want: &str| {
        support::fleet::wait_until(WAIT, || {
            wait_for_ok(port, "/metrics", WAIT)
                .lines()
                .any(|l| l == want)
        })
        .is_some()
    };
    let hup = || {
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .unwrap()
                .success()
        )
    };
    let ok = metrics_with("fleetdeck_host_up{host=\"h1\"} 1");
    std::fs::write(&config, &full).unwrap();
    hup();
    let added = ok && metrics_with("fleetdeck_host_up{host=\"h2\"} 1");
    std::fs::write(&config, format!("{full}\n[[hosts]]\nname = \n")).unwrap();
    hup();
    let state = fleet.root().join("state");
    let refused = support::fleet::wait_until(WAIT, || {
        log_text(&state).contains("reload (SIGHUP) failed, previous configuration kept")
    })
    .is_some();
    let still =
        child.try_wait().unwrap().is_none() && metrics_with("fleetdeck_host_up{host=\"h2\"} 1");
    let _ = child.kill();
    let _ = child.wait();
    assert!(ok, "h1 never exported");
    assert!(added, "h2 not exported after SIGHUP");
    assert!(
        refused,
        "the broken file was not reported:\n{}",
        log_text(&state)
    );
    assert!(
        still,
        "serve did not keep running the previous configuration"
    );
}

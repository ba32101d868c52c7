//! `:exec` in the console, end to end: the real binary in tmux against real sshd hosts. Two
//! hosts marked with Space run `cat ~/mark` after a y/N naming the count and the marks, and
//! their answers show as one group; the whole fleet (`@test`) shows the odd host apart; Ctrl-C
//! in the Exec pane cancels the hosts still sleeping, names them, and leaves the console open;
//! a developer is refused with a notice and a `denied` record. The audit log verifies, every
//! confirmation precedes the `exec` records it guards, and every `exec` has its result.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::{FleetSpec, InventoryOpts, TestFleet, Tmux};

const WAIT: Duration = Duration::from_secs(30);

fn until(t: &Tmux, what: &str, pred: impl FnMut(&str) -> bool) -> String {
    t.wait_until(WAIT, pred)
        .unwrap_or_else(|screen| panic!("timed out waiting for {what}; screen:\n{screen}"))
}

/// The inventory, with a per-host timeout long enough for `sleep 60` to be cancelled rather
/// than timed out, and `extra` appended.
fn inventory(fleet: &TestFleet, extra: &str) -> PathBuf {
    fleet.write_inventory(&InventoryOpts {
        command_timeout: "2m".into(),
        extra_toml: extra.into(),
        ..InventoryOpts::default()
    })
}

/// The console in tmux (120×40) as the current user, its state (audit log) under `state`.
fn console(config: &Path, state: &Path) -> Tmux {
    let cmd = format!(
        "{} --config {}; echo \"EXITED=$? END\"; sleep 60",
        support::fleetdeck_bin().display(),
        config.display()
    );
    let user = support::fleet::current_user();
    Tmux::start_with_env(
        &cmd,
        120,
        40,
        &[
            ("XDG_STATE_HOME", state.to_str().unwrap()),
            ("FLEETDECK_AUDIT_LOG", ""),
            ("FLEETDECK_LOG", "off"),
            ("SSH_AUTH_SOCK", ""),
            ("USER", &user),
            ("TERM", "xterm-256color"),
        ],
    )
}

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn audit_verify(path: &Path) {
    let out = Command::new(support::fleetdeck_bin())
        .args(["audit", "verify"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "audit verify failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `:LINE` Enter.
fn palette(t: &Tmux, line: &str) {
    t.send_keys(&[":"]);
    t.send_literal(line);
    t.send_keys(&["Enter"]);
}

fn seq(r: &Value) -> u64 {
    r["seq"].as_u64().unwrap()
}

#[test]
fn marked_hosts_confirm_group_and_ctrl_c_cancels_the_sleepers() {
    let fleet = TestFleet::start(FleetSpec::hosts(3));
    for (i, mark) in ["alpha", "alpha", "beta"].iter().enumerate() {
        std::fs::write(fleet.host(i).home.join("mark"), format!("{mark}\n")).unwrap();
    }
    // Only h1 answers the sleeper at once.
    std::fs::write(fleet.host(0).home.join("quick"), "").unwrap();
    let config = inventory(&fleet, "");
    let state = fleet.root().join("state");
    let audit = state.join("fleetdeck/audit.jsonl");
    let t = console(&config, &state);
    until(&t, "the fleet up", |s| {
        s.contains("3 ok") && s.contains("3/3 reachable")
    });

    // Space marks h1 and h2 (each moves down a row).
    t.send_keys(&["g"]);
    until(&t, "h1 selected", |s| s.lines().any(|l| l.contains("▶ h1")));
    t.send_keys(&["Space"]);
    until(&t, "h1 marked", |s| s.contains("1 marked"));
    t.send_keys(&["Space"]);
    until(&t, "h1 and h2 marked", |s| {
        s.contains("2 marked") && s.contains("● h1") && s.contains("● h2")
    });

    palette(&t, "exec cat ~/mark");
    until(&t, "the y/N with the count", |s| {
        s.contains("on 2 hosts (2 marked hosts: h[1-2])? [y/N]")
    });
    t.send_literal("y");
    t.send_keys(&["Enter"]);
    let screen = until(&t, "two answers grouped", |s| {
        s.contains("done 2/2 done") && s.contains("h[1-2] (2 hosts) exit 0")
    });
    assert!(screen.contains("    alpha"), "{screen}");
    assert!(screen.contains("on 2 marked hosts"), "{screen}");

    // The whole fleet: the odd host out after the majority.
    t.send_keys(&["Escape"]);
    until(&t, "back on the fleet", |s| s.contains("HOST"));
    t.send_keys(&["u"]);
    until(&t, "marks cleared", |s| !s.contains("marked"));
    palette(&t, "exec @test cat ~/mark");
    until(&t, "the y/N for the group", |s| {
        s.contains("on 3 hosts (group test, 3 hosts: h[1-3])? [y/N]")
    });
    t.send_literal("y");
    t.send_keys(&["Enter"]);
    let screen = until(&t, "the odd host apart", |s| s.contains("done 3/3 done"));
    assert!(
        screen.contains("h[1-2] (2 hosts) exit 0") && screen.contains("h3 (1 host) exit 0"),
        "{screen}"
    );
    assert!(screen.contains("≠ differs from the majority"), "{screen}");
    let majority = screen.find("h[1-2] (2 hosts)").unwrap();
    assert!(screen.find("h3 (1 host)").unwrap() > majority, "{screen}");
    assert!(screen.contains("    beta"), "{screen}");

    // Sleepers: h1 answers, Ctrl-C cancels h2 and h3, the console stays open.
    palette(
        &t,
        "exec @test test -e ~/quick && echo quick || exec sleep 60",
    );
    until(&t, "the y/N", |s| s.contains("[y/N]"));
    t.send_literal("y");
    t.send_keys(&["Enter"]);
    until(&t, "h1 answered, the others sleeping", |s| {
        s.contains("running 1/3 done") && s.contains("waiting for h[2-3]") && s.contains("quick")
    });
    t.send_keys(&["C-c"]);
    // The cancelled hosts are named as soon as the kill is sent; the run is done once their
    // channels have closed, a frame or two later.
    let screen = until(&t, "the cancelled hosts named and the run done", |s| {
        s.contains("Ctrl-C: cancelled h[2-3] (2 hosts)") && s.contains("done 3/3 done")
    });
    assert!(
        screen.contains("h2  cancelled while running") && screen.contains("h1 (1 host) exit 0"),
        "{screen}"
    );
    assert_eq!(
        t.exit_status(),
        None,
        "Ctrl-C in the Exec pane must not quit"
    );

    // Quitting over an open confirmation declines it: recorded, nothing run.
    palette(&t, "exec @test touch ~/never");
    until(&t, "the y/N", |s| s.contains("[y/N]"));
    t.send_keys(&["Tab"]);
    until(&t, "another pane", |s| !s.contains("[y/N]"));
    t.send_keys(&["q"]);
    let done = until(&t, "the console to quit", |s| s.contains(" END"));
    assert!(done.contains("EXITED=0"), "{done}");

    let all = records(&audit);
    let execs: Vec<&Value> = all.iter().filter(|r| r["action"] == "exec").collect();
    assert_eq!(execs.len(), 2 + 3 + 3, "{all:#?}");
    // Every confirmation precedes every `exec` of its command, and each `exec` has its result.
    let confirms: Vec<&Value> = all.iter().filter(|r| r["action"] == "confirm").collect();
    assert_eq!(confirms.len(), 3, "{all:#?}");
    for c in &confirms {
        let run = &c["run"];
        let guarded: Vec<&&Value> = execs.iter().filter(|e| &e["run"] == run).collect();
        assert!(!guarded.is_empty(), "confirm {c} guards nothing");
        assert!(guarded.iter().all(|e| seq(e) > seq(c)), "{all:#?}");
        assert_eq!(
            c["result"],
            format!("confirmed for {} hosts", guarded.len())
        );
    }
    for e in &execs {
        let result = all
            .iter()
            .find(|r| r["action"] == "exec.result" && r["pair"] == e["seq"])
            .unwrap_or_else(|| panic!("no exec.result for {e}"));
        assert!(seq(result) > seq(e));
    }
    let cancelled: Vec<&str> = all
        .iter()
        .filter(|r| r["action"] == "exec.result" && r["result"] == "cancelled")
        .map(|r| r["target"].as_str().unwrap())
        .collect();
    assert_eq!(cancelled.len(), 2, "{all:#?}");
    assert!(cancelled.contains(&"h2") && cancelled.contains(&"h3"));
    let last = all.last().unwrap();
    assert_eq!(last["action"], "denied", "{last}");
    assert_eq!(
        last["reason"], "exec refused: not confirmed: nothing was run",
        "{last}"
    );
    for i in 0..3 {
        assert!(!fleet.host(i).home.join("never").exists());
    }
    audit_verify(&audit);

    // The commands are kept for the next console, privately.
    let history = state.join("fleetdeck/exec_history");
    let text = std::fs::read_to_string(&history).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "cat ~/mark",
            "@test cat ~/mark",
            "@test test -e ~/quick && echo quick || exec sleep 60",
            "@test touch ~/never"
        ]
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&history).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_developer_is_refused_with_a_notice_and_a_denied_record() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let user = support::fleet::current_user();
    let config = inventory(
        &fleet,
        &format!("[operators]\n\"{user}\" = \"developer\"\n"),
    );
    let state = fleet.root().join("state");
    let audit = state.join("fleetdeck/audit.jsonl");
    let marker = fleet.host(0).home.join("ran");
    let t = console(&config, &state);
    until(&t, "the host up", |s| s.contains("1/1 reachable"));
    palette(&t, &format!("exec touch {}", marker.display()));
    until(&t, "the refusal", |s| {
        s.contains("refused:") && s.contains("only operators and admins")
    });
    assert!(
        support::fleet::wait_until(WAIT, || records(&audit)
            .iter()
            .any(|r| r["action"] == "denied"))
        .is_some(),
        "no denied record; screen:\n{}",
        t.capture()
    );
    t.send_keys(&["q"]);
    until(&t, "the console to quit", |s| s.contains(" END"));
    assert!(!marker.exists(), "a refused command ran");
    let all = records(&audit);
    assert!(all.iter().all(|r| r["action"] != "exec"), "{all:#?}");
    let denied = all.iter().find(|r| r["action"] == "denied").unwrap();
    assert_eq!(denied["role"], "developer");
    assert_eq!(denied["target"], "h1");
    assert!(
        denied["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("exec refused:")),
        "{denied}"
    );
    audit_verify(&audit);
}

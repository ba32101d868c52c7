//! Who may open a shell: developers and auditors are refused, `--readonly` refuses everyone, a
//! shell without a terminal is refused, and an unknown host too — each with exit status 2,
//! before anything reaches the host, and each written to the audit log as `denied` (which still
//! verifies). In the console, a developer's `s` is a notice and a `denied` record, and the
//! console stays as it was.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::{FleetSpec, InventoryOpts, TestFleet, Tmux};

const WAIT: Duration = Duration::from_secs(30);

fn inventory(fleet: &TestFleet, role: Option<&str>) -> PathBuf {
    let extra_toml = match role {
        Some(r) => format!("[operators]\n{} = \"{r}\"\n", fleet.user()),
        None => String::new(),
    };
    fleet.write_inventory(&InventoryOpts {
        extra_toml,
        ..InventoryOpts::default()
    })
}

/// `fleetdeck ssh` with no terminal (stdin from /dev/null, output captured).
fn ssh(config: &Path, audit: &Path, args: &[&str]) -> Output {
    Command::new(support::fleetdeck_bin())
        // The operator's name is `$USER` (the `[operators]` key the inventory gives a role).
        .env("USER", support::fleet::current_user())
        .arg("--config")
        .arg(config)
        .args(args)
        .arg("--audit-log")
        .arg(audit)
        .env("SSH_AUTH_SOCK", "")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn verify(path: &Path) {
    let out = Command::new(support::fleetdeck_bin())
        .args(["audit", "verify"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn roles_readonly_no_terminal_and_unknown_hosts_are_refused_and_audited() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let dir = fleet.root().join("refusals");
    std::fs::create_dir_all(&dir).unwrap();
    // What a shell would leave behind on the host: nothing may run there.
    let history = fleet.host(0).home.join(".bash_history");

    let cases: Vec<(&str, Option<&str>, Vec<&str>, &str)> = vec![
        (
            "developer",
            Some("developer"),
            vec!["ssh", "h1"],
            "is developer",
        ),
        ("auditor", Some("auditor"), vec!["ssh", "h1"], "is auditor"),
        (
            "readonly",
            Some("admin"),
            vec!["--readonly", "ssh", "h1"],
            "read-only",
        ),
        (
            "no-terminal",
            Some("operator"),
            vec!["ssh", "h1"],
            "needs a terminal",
        ),
        (
            "unknown-host",
            Some("admin"),
            vec!["ssh", "nope"],
            "not a host",
        ),
    ];
    for (name, role, args, why) in cases {
        let config = inventory(&fleet, role);
        let audit = dir.join(format!("{name}.jsonl"));
        let out = ssh(&config, &audit, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains("refused") && stderr.contains(why),
            "{name}: {stderr}"
        );
        let recs = records(&audit);
        assert_eq!(recs.len(), 1, "{name}: one record, the refusal: {recs:#?}");
        let r = &recs[0];
        assert_eq!(r["action"], "denied", "{name}");
        assert_eq!(r["command"], "shell", "{name}");
        assert_eq!(r["target"], args[args.len() - 1], "{name}");
        assert_eq!(r["operator"], fleet.user(), "{name}");
        if let Some(role) = role {
            assert_eq!(r["role"], role, "{name}");
        }
        assert!(
            r["reason"].as_str().unwrap_or_default().contains(why),
            "{name}: {r}"
        );
        verify(&audit);
    }
    assert!(!history.exists(), "no shell ran on the host");
}

#[test]
fn a_developer_pressing_s_gets_a_notice_and_a_denied_record_and_no_shell() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let config = inventory(&fleet, Some("developer"));
    let state = fleet.root().join("state");
    let audit = state.join("fleetdeck/audit.jsonl");
    let cmd = format!(
        "{} --config {}; echo \"EXITED=$? END\"; sleep 60",
        support::fleetdeck_bin().display(),
        config.display()
    );
    let tmux = Tmux::start_with_env(
        &cmd,
        120,
        40,
        &[
            ("XDG_STATE_HOME", state.to_str().unwrap()),
            ("SSH_AUTH_SOCK", ""),
            ("USER", &support::fleet::current_user()),
        ],
    );
    tmux.wait_until(WAIT, |s| s.contains("1/1 reachable"))
        .unwrap_or_else(|s| panic!("the fleet never came up:\n{s}"));
    tmux.send_keys(&["s"]);
    let screen = tmux
        .wait_until(WAIT, |s| s.contains("no shell on h1"))
        .unwrap_or_else(|s| panic!("no refusal notice:\n{s}"));
    assert!(screen.contains("developer"), "{screen}");
    assert!(
        screen.contains("testfleet — 1 hosts") && screen.contains("▶ h1"),
        "still the console:\n{screen}"
    );
    tmux.send_keys(&["q"]);
    let done = tmux.wait_for(" END", WAIT);
    assert!(done.contains("EXITED=0"), "{done}");

    let recs = records(&audit);
    let denied: Vec<_> = recs.iter().filter(|r| r["action"] == "denied").collect();
    assert_eq!(denied.len(), 1, "{recs:#?}");
    assert_eq!(denied[0]["target"], "h1");
    assert_eq!(denied[0]["role"], "developer");
    assert!(
        !recs.iter().any(|r| r["action"] == "shell.start"),
        "{recs:#?}"
    );
    verify(&audit);
}

#[test]
fn a_readonly_console_has_no_s() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let config = inventory(&fleet, None);
    let state = fleet.root().join("state");
    let cmd = format!(
        "{} --config {} --readonly; echo \"EXITED=$? END\"; sleep 60",
        support::fleetdeck_bin().display(),
        config.display()
    );
    let tmux = Tmux::start_with_env(
        &cmd,
        120,
        40,
        &[
            ("XDG_STATE_HOME", state.to_str().unwrap()),
            ("SSH_AUTH_SOCK", ""),
            ("USER", &support::fleet::current_user()),
        ],
    );
    tmux.wait_until(WAIT, |s| s.contains("1/1 reachable"))
        .unwrap_or_else(|s| panic!("the fleet never came up:\n{s}"));
    tmux.send_keys(&["s"]);
    let screen = tmux
        .wait_until(WAIT, |s| s.contains("read-only console"))
        .unwrap_or_else(|s| panic!("no read-only notice:\n{s}"));
    assert!(screen.contains("`s`"), "{screen}");
    tmux.send_keys(&["q"]);
    tmux.wait_for(" END", WAIT);
    let audit = state.join("fleetdeck/audit.jsonl");
    assert!(
        !records(&audit).iter().any(|r| r["action"] == "shell.start"),
        "no shell in a read-only console"
    );
}

//! Where the headless commands' output goes, through the real binary.
//!
//! A closed pipe: every command that prints, run with its stdout a pipe nobody reads
//! (`fleetdeck status | head -1`, `| grep -q ok`, `| true`): it must stop quietly — no panic
//! text on stderr — and exit with its documented code (0–3 for `status`, by the fleet's health;
//! see README.md and `src/cli.rs`). Regression test for the "closed pipe" bug of issue 10,
//! where `println!` panicked with "Broken pipe" and the process exited 101.
//!
//! The pipe's read end is closed before the command starts, so the very first write fails with
//! `EPIPE` whatever the timing: a reader that takes one line and leaves (`head -1`) is the same
//! case a few bytes later. `status` runs against real sshd hosts from tests/support.
//!
//! The log file: `$XDG_STATE_HOME/fleetdeck/fleetdeck.log` rotates by size, so it cannot grow
//! forever (the "log file grows forever" bug of issue 10); the writer's own rules are unit-tested
//! in `src/logfile.rs`, this checks the binary uses it.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fleetdeck::audit::{Actor, AuditEntry, AuditLog};
use support::{FleetSpec, InventoryOpts, TestFleet};

/// The outcome of one run with a closed stdout.
struct Closed {
    code: Option<i32>,
    stderr: String,
}

/// A command in a sandbox: its own state and config directories, no agent, no log noise.
fn fleetdeck(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(support::fleetdeck_bin());
    cmd.args(args)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("FLEETDECK_CONFIG")
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("FLEETDECK_LOG", "off")
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` with stdout a pipe whose read end is already closed, stderr captured.
fn with_closed_stdout(mut cmd: Command) -> Closed {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = cmd
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run fleetdeck");
    Closed {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `cmd` with stdout and stderr both the closed pipe (`2>&1 | head -1`): only the exit code
/// can tell, and a panic would make it 101.
fn with_both_closed(mut cmd: Command) -> Option<i32> {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let err = writer.try_clone().expect("clone pipe");
    cmd.stdout(Stdio::from(writer))
        .stderr(Stdio::from(err))
        .status()
        .expect("run fleetdeck")
        .code()
}

/// Runs `cmd` normally; returns (exit code, stdout, stderr) to compare against.
fn normally(mut cmd: Command) -> (Option<i32>, String, String) {
    let out = cmd.output().expect("run fleetdeck");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts the quiet stop: `expected` code with a closed stdout, with stdout and stderr closed,
/// and when run normally (so the case is not vacuous: the command does print something).
fn assert_quiet(home: &Path, args: &[&str], expected: i32) {
    let (code, stdout, stderr) = normally(fleetdeck(home, args));
    assert_eq!(
        code,
        Some(expected),
        "{args:?} run normally:\n{stdout}\n{stderr}"
    );
    assert!(
        !stdout.is_empty(),
        "{args:?} printed nothing: nothing to test"
    );

    let closed = with_closed_stdout(fleetdeck(home, args));
    assert_eq!(
        closed.code,
        Some(expected),
        "{args:?} with stdout closed:\n{}",
        closed.stderr
    );
    for bad in ["panicked", "Broken pipe", "os error 32", "cannot write"] {
        assert!(
            !closed.stderr.contains(bad),
            "{args:?} with stdout closed wrote {bad:?} on stderr:\n{}",
            closed.stderr
        );
    }
    // What the command has to say on stderr is still said (a lint problem, a refusal).
    assert_eq!(closed.stderr, stderr, "{args:?}: stderr changed");

    assert_eq!(
        with_both_closed(fleetdeck(home, args)),
        Some(expected),
        "{args:?} with stdout and stderr closed"
    );
}

#[test]
fn status_table_and_json_keep_the_health_exit_code_when_stdout_closes() {
    let mut fleet = TestFleet::start(FleetSpec::hosts(2));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let config = config.to_str().unwrap();
    let home = fleet.root().to_path_buf();
    // All OK: 0.
    assert_quiet(&home, &["status", "--config", config], 0);
    assert_quiet(&home, &["status", "--json", "--config", config], 0);
    // One sshd stopped: CRITICAL, 2 — the code comes from the poll, not from the printing.
    fleet.stop_host(1);
    assert_quiet(&home, &["status", "--config", config], 2);
    assert_quiet(&home, &["status", "--json", "--config", config], 2);
}

#[test]
fn config_check_and_a_dry_run_stop_quietly() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let config = config.to_str().unwrap();
    let home = fleet.root().to_path_buf();
    assert_quiet(&home, &["config", "check", "--config", config], 0);
    assert_quiet(
        &home,
        &["run", "daily-check", "--dry-run", "--config", config],
        0,
    );
}

#[test]
fn runbook_list_show_and_lint_stop_quietly() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    assert_quiet(home, &["runbook", "list"], 0);
    assert_quiet(home, &["runbook", "show", "rolling-upgrade"], 0);
    assert_quiet(home, &["runbook", "lint"], 0);
    // Lint problems go to stderr with exit 1; the "OK" line would have gone to stdout.
    let bad = home.join("bad.toml");
    std::fs::write(&bad, "name = \"bad\"\n").unwrap();
    let runbooks = support::repo_root().join("runbooks/daily-check.toml");
    assert_quiet(home, &["runbook", "lint", runbooks.to_str().unwrap()], 0);
    let (code, _, stderr) = normally(fleetdeck(home, &["runbook", "lint", bad.to_str().unwrap()]));
    assert_eq!(code, Some(1), "{stderr}");
    let closed = with_closed_stdout(fleetdeck(home, &["runbook", "lint", bad.to_str().unwrap()]));
    assert_eq!(closed.code, Some(1));
    assert_eq!(closed.stderr, stderr);
}

fn audit_log(dir: &Path) -> PathBuf {
    let path = dir.join("audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    let actor = Actor::new("alice", "operator", "127.0.0.1");
    for n in 0..50 {
        log.append(
            AuditEntry::new(&actor, "exec")
                .target(format!("h{n}"))
                .command("systemctl restart app")
                .result("ok"),
        )
        .unwrap();
    }
    path
}

#[test]
fn audit_show_and_verify_stop_quietly() {
    let home = tempfile::tempdir().unwrap();
    let log = audit_log(home.path());
    let log = log.to_str().unwrap();
    assert_quiet(home.path(), &["audit", "show", log], 0);
    assert_quiet(home.path(), &["audit", "show", "--json", log], 0);
    assert_quiet(home.path(), &["audit", "verify", log], 0);
}

#[test]
fn an_oversized_log_file_is_rotated_and_only_three_old_ones_are_kept() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("state/fleetdeck");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("fleetdeck.log");
    let numbered = |n: u64| dir.join(format!("fleetdeck.log.{n}"));
    // Three old files already, and a current one past the limit (sparse: sizes, not bytes).
    let over = fleetdeck::logfile::MAX_BYTES + 1;
    for (path, len) in [
        (&log, over),
        (&numbered(1), 1),
        (&numbered(2), 2),
        (&numbered(3), 3),
    ] {
        std::fs::File::create(path).unwrap().set_len(len).unwrap();
    }
    let mut cmd = fleetdeck(home.path(), &["runbook", "list"]);
    cmd.env("FLEETDECK_LOG", "info");
    let (code, _, stderr) = normally(cmd);
    assert_eq!(code, Some(0), "{stderr}");
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).ok();
    assert_eq!(len(&numbered(1)), Some(over), "the full file became .1");
    assert_eq!(len(&numbered(2)), Some(1));
    assert_eq!(len(&numbered(3)), Some(2));
    assert_eq!(len(&numbered(4)), None, "the oldest (.3) was dropped");
    assert!(len(&log).unwrap() < 4096, "a fresh current file");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

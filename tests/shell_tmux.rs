//! A shell in one key, end to end: the real binary in tmux against a real sshd host. `s` in
//! the console opens a shell on the selected host, what is typed runs there, and the console
//! comes back exactly as it was; `fleetdeck ssh HOST` passes a window resize on to the remote
//! pty, exits with the remote shell's status, and with `record_sessions = true` leaves a
//! private asciicast v2 file. Both are audited (`shell.start` before, `shell.end` after, paired)
//! and `audit verify` passes afterwards.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{FleetSpec, InventoryOpts, TestFleet, Tmux};

const WAIT: Duration = Duration::from_secs(30);

/// A marker only the host's home holds: seeing it on screen proves the shell ran there.
fn plant_marker(fleet: &TestFleet, i: usize) -> String {
    let mark = format!("fleetmark{}x{}", std::process::id(), i + 7);
    let home = fleet.host(i).home;
    std::fs::write(home.join("mark"), format!("{mark}\n")).unwrap();
    // A prompt that is the same whatever /etc/profile says, so a test can wait for it.
    for rc in [".bash_profile", ".profile", ".bashrc"] {
        std::fs::write(home.join(rc), "PS1='remote-ready$ '\n").unwrap();
    }
    mark
}

/// The inventory with `record_sessions = true` in its `[fleet]` table.
fn inventory(fleet: &TestFleet, record: bool, extra_toml: &str) -> PathBuf {
    let opts = InventoryOpts {
        extra_toml: extra_toml.to_string(),
        ..InventoryOpts::default()
    };
    let mut text = fleet.inventory_toml(&opts);
    if record {
        text = text.replacen("[fleet]\n", "[fleet]\nrecord_sessions = true\n", 1);
    }
    let path = fleet.root().join(format!(
        "shell-{}.toml",
        if record { "rec" } else { "plain" }
    ));
    std::fs::write(&path, text).unwrap();
    path
}

/// Every audit record, as JSON.
fn audit_records(path: &Path) -> Vec<serde_json::Value> {
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

/// The one `shell.start` and its `shell.end`, checked to be a pair on `host`.
fn shell_pair(records: &[serde_json::Value], host: &str) -> (serde_json::Value, serde_json::Value) {
    let starts = records
        .iter()
        .filter(|r| r["action"] == "shell.start")
        .count();
    assert_eq!(starts, 1, "{records:#?}");
    nth_shell_pair(records, 0, host)
}

/// The `n`th `shell.start` and its `shell.end`, checked to be a pair on `host`.
fn nth_shell_pair(
    records: &[serde_json::Value],
    n: usize,
    host: &str,
) -> (serde_json::Value, serde_json::Value) {
    let start = records
        .iter()
        .filter(|r| r["action"] == "shell.start")
        .nth(n)
        .unwrap_or_else(|| panic!("no shell.start #{n} in {records:#?}"))
        .clone();
    assert_eq!(start["phase"], "before");
    assert_eq!(start["target"], host);
    let end = records
        .iter()
        .find(|r| r["action"] == "shell.end" && r["pair"] == start["seq"])
        .unwrap_or_else(|| panic!("no shell.end for {start} in {records:#?}"))
        .clone();
    assert_eq!(end["phase"], "after");
    assert_eq!(end["pair"], start["seq"]);
    assert_eq!(end["target"], host);
    assert!(end["seq"].as_u64() > start["seq"].as_u64());
    assert!(end["duration_ms"].is_u64(), "{end}");
    (start, end)
}

/// The screen with what moves on its own (ages, times, counters) blanked: digits become `#`,
/// runs of spaces one space, so "9s" and "10s" compare equal.
fn steady(screen: &str) -> String {
    let digits = regex::Regex::new(r"[0-9]+").unwrap();
    let spaces = regex::Regex::new(r" +").unwrap();
    screen
        .lines()
        .map(|l| {
            spaces
                .replace_all(&digits.replace_all(l, "#"), " ")
                .into_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The last line of the screen that is not blank.
fn last_line(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}

#[test]
fn s_opens_a_shell_on_the_host_and_the_console_comes_back_as_it_was() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let mark = plant_marker(&fleet, 0);
    plant_marker(&fleet, 1);
    let config = inventory(&fleet, false, "");
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
            ("TERM", "xterm-256color"),
        ],
    );
    tmux.wait_until(WAIT, |s| s.contains("2 ok") && s.contains("2/2 reachable"))
        .unwrap_or_else(|s| panic!("the fleet never came up:\n{s}"));
    // `[ui] sort = problems` keeps inventory order when all is well: h1 is the first row.
    tmux.send_keys(&["g"]);
    let before = tmux
        .wait_until(WAIT, |s| s.lines().any(|l| l.contains("▶ h1")))
        .unwrap_or_else(|s| panic!("h1 never selected:\n{s}"));

    tmux.send_keys(&["s"]);
    tmux.wait_until(WAIT, |s| last_line(s).trim_end().ends_with("remote-ready$"))
        .unwrap_or_else(|s| panic!("no remote prompt:\n{s}"));
    tmux.send_literal("cat ~/mark; echo \"size=$(stty size)\"; exit\r");
    // The shell's output is on the primary screen, which the console covers again at once:
    // read it back from the pane's history once the console is back.
    let after = tmux
        .wait_until(WAIT, |s| steady(s) == steady(&before))
        .unwrap_or_else(|s| {
            panic!("the console did not come back as it was.\nbefore:\n{before}\nnow:\n{s}")
        });
    assert!(after.contains("▶ h1"), "{after}");
    let primary = tmux.ok(&["capture-pane", "-p", "-a", "-t", "main"]);
    assert!(
        primary.contains(&mark) && primary.contains("size=40 120"),
        "the shell's output on the primary screen:\n{primary}"
    );

    // The console still works: keys reach it.
    tmux.send_keys(&["j"]);
    tmux.wait_until(WAIT, |s| s.lines().any(|l| l.contains("▶ h2")))
        .unwrap_or_else(|s| panic!("keys no longer reach the console:\n{s}"));

    // A window resized while a shell runs: the console comes back at the new size (the
    // resize that arrived meanwhile is not lost), on the same row.
    tmux.send_keys(&["s"]);
    tmux.wait_until(WAIT, |s| last_line(s).trim_end().ends_with("remote-ready$"))
        .unwrap_or_else(|s| panic!("no remote prompt on h2:\n{s}"));
    tmux.resize(100, 30);
    tmux.send_literal("exit 4\r");
    tmux.wait_until(WAIT, |s| {
        let lines: Vec<&str> = s.lines().collect();
        lines.len() == 30
            && lines[1].starts_with('┌')
            && lines[1].chars().count() == 100
            && s.contains("▶ h2")
    })
    .unwrap_or_else(|s| panic!("the console did not come back at 100x30:\n{s}"));
    tmux.send_keys(&["q"]);
    let done = tmux.wait_for(" END", WAIT);
    assert!(done.contains("EXITED=0"), "{done}");

    let records = audit_records(&audit);
    let (_, end) = nth_shell_pair(&records, 1, "h2");
    assert_eq!(end["result"], "exit 4");
    let (start, end) = nth_shell_pair(&records, 0, "h1");
    assert_eq!(start["role"], "admin", "no [operators]: everyone is admin");
    assert_eq!(end["result"], "exit 0");
    let note = end["note"].as_str().unwrap_or_default();
    assert!(note.contains("in ") && note.contains("out "), "{note}");
    audit_verify(&audit);
}

#[test]
fn fleetdeck_ssh_passes_resizes_on_records_the_session_and_exits_with_the_remote_status() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let mark = plant_marker(&fleet, 0);
    let config = inventory(&fleet, true, "");
    let state = fleet.root().join("state");
    let audit = state.join("fleetdeck/audit.jsonl");
    let cmd = format!(
        "{} --config {} ssh h1; echo \"EXITED=$? END\"; sleep 60",
        support::fleetdeck_bin().display(),
        config.display()
    );
    let tmux = Tmux::start_with_env(
        &cmd,
        100,
        30,
        &[
            ("XDG_STATE_HOME", state.to_str().unwrap()),
            ("SSH_AUTH_SOCK", ""),
            ("TERM", "xterm-256color"),
        ],
    );
    tmux.wait_until(WAIT, |s| last_line(s).trim_end().ends_with("remote-ready$"))
        .unwrap_or_else(|s| panic!("no remote prompt:\n{s}"));
    tmux.send_literal("echo \"size=$(stty size)\"; cat ~/mark\r");
    tmux.wait_for("size=30 100", WAIT);
    tmux.wait_for(&mark, WAIT);

    tmux.resize(90, 25);
    // The remote pty learns the new size from the window-change request; poll for it.
    tmux.wait_until(WAIT, |_| {
        tmux.send_literal("echo \"now=$(stty size)\"\r");
        std::thread::sleep(Duration::from_millis(200));
        tmux.capture().contains("now=25 90")
    })
    .unwrap_or_else(|s| panic!("the resize never reached the remote pty:\n{s}"));

    tmux.send_literal("exit 7\r");
    let done = tmux.wait_for(" END", WAIT);
    assert!(done.contains("EXITED=7"), "{done}");

    let records = audit_records(&audit);
    let (start, end) = shell_pair(&records, "h1");
    assert_eq!(end["result"], "exit 7");
    let cast_dir = state.join("fleetdeck/sessions");
    let casts: Vec<PathBuf> = std::fs::read_dir(&cast_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(casts.len(), 1, "{casts:?}");
    let cast = &casts[0];
    let name = cast.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("h1-") && name.ends_with("Z.cast"),
        "{name}"
    );
    let shown = cast.display().to_string();
    assert!(
        start["note"].as_str().unwrap_or_default().contains(&shown),
        "shell.start names the recording: {start}"
    );
    assert!(
        end["note"].as_str().unwrap_or_default().contains(&shown),
        "shell.end names the recording: {end}"
    );
    let mode = std::fs::metadata(cast).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "recording mode");
    let dir_mode = std::fs::metadata(&cast_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700, "sessions directory mode");

    let text = std::fs::read_to_string(cast).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    assert_eq!(header["width"], 100);
    assert_eq!(header["height"], 30);
    assert!(header["timestamp"].as_u64().unwrap() > 1_700_000_000);
    let events: Vec<serde_json::Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut last = 0.0;
    let mut output = String::new();
    for e in &events {
        let t = e[0].as_f64().unwrap();
        assert!(t >= last, "times rise: {e}");
        last = t;
        match e[1].as_str().unwrap() {
            "o" => output.push_str(e[2].as_str().unwrap()),
            "r" => assert_eq!(e[2], "90x25"),
            other => panic!("unexpected event kind {other}"),
        }
    }
    assert!(output.contains(&mark), "the output is recorded:\n{output}");
    assert!(events.iter().any(|e| e[1] == "r"), "the resize is recorded");
    audit_verify(&audit);
}

/// An inventory of this machine over the local transport (what the embedded default fleet is).
fn local_inventory(dir: &Path) -> PathBuf {
    let path = dir.join("local.toml");
    std::fs::write(
        &path,
        "[fleet]\nname = \"here\"\ninterval = \"1s\"\n\n[[hosts]]\nname = \"me\"\naddress = \"localhost\"\ntransport = \"local\"\n",
    )
    .unwrap();
    path
}

#[test]
fn the_local_transport_runs_shell_on_this_terminal_in_the_console_and_headless() {
    let dir = tempfile::tempdir().unwrap();
    let config = local_inventory(dir.path());
    let state = dir.path().join("state");
    let audit = state.join("fleetdeck/audit.jsonl");
    // tmux sets `SHELL` for the pane itself and the pane's non-interactive shell drops `PS1`,
    // so the command line sets both for fleetdeck (and `/bin/sh` reads no rc file: `ENV=`).
    let env = [("XDG_STATE_HOME", state.to_str().unwrap())];

    // Headless: the shell's status is the command's.
    let cmd = format!(
        "SHELL=/bin/sh PS1='local-ready$ ' ENV= {} --config {} ssh me; echo \"EXITED=$? END\"; sleep 60",
        support::fleetdeck_bin().display(),
        config.display()
    );
    let tmux = Tmux::start_with_env(&cmd, 100, 30, &env);
    tmux.wait_until(WAIT, |s| last_line(s).trim_end().ends_with("local-ready$"))
        .unwrap_or_else(|s| panic!("no local prompt:\n{s}"));
    tmux.send_literal("echo local-$((6*7)); exit 5\r");
    let done = tmux.wait_for(" END", WAIT);
    assert!(
        done.contains("local-42") && done.contains("EXITED=5"),
        "{done}"
    );
    drop(tmux);

    // In the console: the same shell, and the console back as it was.
    let cmd = format!(
        "SHELL=/bin/sh PS1='local-ready$ ' ENV= {} --config {}; echo \"EXITED=$? END\"; sleep 60",
        support::fleetdeck_bin().display(),
        config.display()
    );
    let tmux = Tmux::start_with_env(&cmd, 120, 40, &env);
    let before = tmux
        .wait_until(WAIT, |s| s.contains("1/1 reachable") && s.contains("▶ me"))
        .unwrap_or_else(|s| panic!("the console never showed this machine:\n{s}"));
    tmux.send_keys(&["s"]);
    tmux.wait_until(WAIT, |s| last_line(s).trim_end().ends_with("local-ready$"))
        .unwrap_or_else(|s| panic!("no local prompt:\n{s}"));
    tmux.send_literal("echo local-$((7*7)); exit\r");
    tmux.wait_until(WAIT, |s| steady(s) == steady(&before))
        .unwrap_or_else(|s| {
            panic!("the console did not come back as it was.\nbefore:\n{before}\nnow:\n{s}")
        });
    let primary = tmux.ok(&["capture-pane", "-p", "-a", "-t", "main"]);
    assert!(primary.contains("local-49"), "{primary}");
    tmux.send_keys(&["q"]);
    let done = tmux.wait_for(" END", WAIT);
    assert!(done.contains("EXITED=0"), "{done}");

    let records = audit_records(&audit);
    let ends: Vec<_> = records
        .iter()
        .filter(|r| r["action"] == "shell.end")
        .collect();
    assert_eq!(ends.len(), 2, "{records:#?}");
    assert_eq!(ends[0]["result"], "exit 5");
    assert_eq!(ends[1]["result"], "exit 0");
    audit_verify(&audit);
}

#[test]
fn a_host_going_down_ends_the_shell_and_says_so() {
    let mut fleet = TestFleet::start(FleetSpec::hosts(1));
    plant_marker(&fleet, 0);
    let config = inventory(&fleet, false, "");
    let state = fleet.root().join("state");
    let audit = state.join("fleetdeck/audit.jsonl");
    let cmd = format!(
        "{} --config {} ssh h1; echo \"EXITED=$? END\"; sleep 60",
        support::fleetdeck_bin().display(),
        config.display()
    );
    let tmux = Tmux::start_with_env(
        &cmd,
        100,
        30,
        &[
            ("XDG_STATE_HOME", state.to_str().unwrap()),
            ("SSH_AUTH_SOCK", ""),
        ],
    );
    tmux.wait_until(WAIT, |s| last_line(s).trim_end().ends_with("remote-ready$"))
        .unwrap_or_else(|s| panic!("no remote prompt:\n{s}"));
    fleet.stop_host(0);
    let done = tmux.wait_for(" END", WAIT);
    assert!(
        done.contains("EXITED=1") && done.contains("fleetdeck: h1: connection to 127.0.0.1:"),
        "{done}"
    );
    let records = audit_records(&audit);
    let (_, end) = shell_pair(&records, "h1");
    let result = end["result"].as_str().unwrap_or_default();
    assert!(
        result.starts_with("error: connection to 127.0.0.1:") && result.ends_with(" lost"),
        "{end}"
    );
    audit_verify(&audit);
}

#[test]
fn sigterm_ends_the_shell_cleanly_restoring_the_terminal_and_recording_the_end() {
    sigterm_during_a_shell("ssh h1", 1);
}

#[test]
fn sigterm_during_the_consoles_shell_ends_both_and_restores_the_terminal() {
    sigterm_during_a_shell("", 0);
}

/// `fleetdeck [ARGS]` in tmux (the console when `args` is empty, then `s`), SIGTERM at the
/// remote prompt: the shell ends, `shell.end` says why, the terminal is cooked again.
fn sigterm_during_a_shell(args: &str, exit_code: i32) {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    plant_marker(&fleet, 0);
    let config = inventory(&fleet, false, "");
    let state = fleet.root().join("state");
    let audit = state.join("fleetdeck/audit.jsonl");
    let cmd = format!(
        "{} --config {} {args}; code=$?; modes=$(stty -a | tr ' ' '\\n' | grep -x -e icanon -e echo | tr '\\n' ' '); echo \"EXITED=$code MODES=$modes END\"; sleep 60",
        support::fleetdeck_bin().display(),
        config.display()
    );
    let tmux = Tmux::start_with_env(
        &cmd,
        100,
        30,
        &[
            ("XDG_STATE_HOME", state.to_str().unwrap()),
            ("SSH_AUTH_SOCK", ""),
        ],
    );
    if args.is_empty() {
        tmux.wait_until(WAIT, |s| s.contains("1/1 reachable"))
            .unwrap_or_else(|s| panic!("the fleet never came up:\n{s}"));
        tmux.send_keys(&["s"]);
    }
    tmux.wait_until(WAIT, |s| last_line(s).trim_end().ends_with("remote-ready$"))
        .unwrap_or_else(|s| panic!("no remote prompt:\n{s}"));
    // The pane runs `sh -c "<line>"`; fleetdeck is that shell's child.
    let pane = tmux.pane_pid();
    let children = std::fs::read_to_string(format!("/proc/{pane}/task/{pane}/children")).unwrap();
    let pid = children.split_whitespace().next().expect("fleetdeck's pid");
    assert!(
        Command::new("kill")
            .args(["-TERM", pid])
            .status()
            .unwrap()
            .success()
    );
    let done = tmux.wait_for(" END", WAIT);
    assert!(done.contains(&format!("EXITED={exit_code} ")), "{done}");
    assert!(
        done.contains("MODES=icanon echo"),
        "terminal left in raw mode:\n{done}"
    );
    let records = audit_records(&audit);
    let (_, end) = shell_pair(&records, "h1");
    assert!(
        end["note"]
            .as_str()
            .unwrap_or_default()
            .contains("ended by fleetdeck: SIGTERM"),
        "{end}"
    );
    audit_verify(&audit);
}

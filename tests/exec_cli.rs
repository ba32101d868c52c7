//! `fleetdeck exec` through the real binary against real sshd hosts (tests/support): grouping
//! with an odd host out, an unreachable host, a timeout, a 64 MiB output flood, the `--json`
//! document against docs/exec-json.md, exit statuses, a hostile argument list, role, read-only
//! and danger-list refusals (each proved with marker files on the hosts: nothing ran), the audit
//! records of every run, and `audit verify` afterwards. Then, in tmux, the questions asked on a
//! terminal: the typed confirmation of a dangerous command (a wrong word refuses, the right one
//! runs, and the `confirm` record precedes the commands) and the y/N for several hosts.
//!
//! Issue 12, items 1 and 3.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{ExtraHost, FleetSpec, InventoryOpts, TestFleet, Tmux};

/// A sandbox: its own state (audit log) and config directories, no agent, no log noise.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn audit_path(&self) -> PathBuf {
        self.dir.path().join("state/fleetdeck/audit.jsonl")
    }

    fn command(&self, config: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(support::fleetdeck_bin());
        cmd.arg("--config")
            .arg(config)
            .args(args)
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("FLEETDECK_CONFIG")
            .env_remove("FLEETDECK_AUDIT_LOG")
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("FLEETDECK_LOG", "off")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, config: &Path, args: &[&str]) -> Outcome {
        self.run_cmd(self.command(config, args))
    }

    fn run_cmd(&self, mut cmd: Command) -> Outcome {
        let out = cmd.output().expect("run fleetdeck");
        Outcome {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Every audit record written so far.
    fn records(&self) -> Vec<Value> {
        match std::fs::read_to_string(self.audit_path()) {
            Ok(text) => text
                .lines()
                .map(|l| serde_json::from_str(l).expect("an audit line is JSON"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// `fleetdeck audit verify` passes, and every `exec` has its `exec.result`.
    fn assert_audit_verifies(&self) {
        let out = Command::new(support::fleetdeck_bin())
            .args(["audit", "verify"])
            .arg(self.audit_path())
            .env("FLEETDECK_LOG", "off")
            .output()
            .expect("run audit verify");
        assert_eq!(
            out.status.code(),
            Some(0),
            "audit verify:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.contains("unfinished"), "{stdout}");
        let records = self.records();
        for r in records.iter().filter(|r| r["action"] == "exec.result") {
            let pair = r["pair"].as_u64().expect("exec.result has a pair");
            let before = &records[pair as usize - 1];
            assert_eq!(before["action"], "exec");
            assert_eq!(before["phase"], "before");
            assert_eq!(before["target"], r["target"]);
        }
    }
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }

    fn show(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn actions(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The fleet's inventory with a dead host `dead1` after the fleet's own.
fn with_dead_host(fleet: &TestFleet) -> PathBuf {
    fleet.write_inventory(&InventoryOpts {
        extra_hosts: vec![ExtraHost::dead("dead1")],
        ..InventoryOpts::default()
    })
}

#[test]
fn identical_answers_group_the_odd_host_comes_after_and_the_dead_one_is_listed() {
    let fleet = TestFleet::start(FleetSpec::hosts(3));
    std::fs::write(fleet.host(1).home.join("odd"), "odd\n").expect("write odd");
    let config = with_dead_host(&fleet);
    let sandbox = Sandbox::new();
    let command = [
        "exec",
        "--",
        "sh",
        "-c",
        r#"cat "$HOME/odd" 2>/dev/null || echo same"#,
    ];

    let out = sandbox.run(&config, &command);
    assert_eq!(out.code, Some(1), "a dead host makes it 1\n{}", out.show());
    let expected_start = "==== h[1,3] (2 hosts) exit 0 ====\nsame\n\n\
                          ==== h2 (1 host) exit 0  (differs from the majority) ====\nodd\n\n\
                          ==== did not run (1 host) ====\ndead1: unreachable: ";
    assert!(
        out.stdout.starts_with(expected_start),
        "grouped output\n{}",
        out.show()
    );
    assert!(
        out.stdout
            .ends_with("4 host(s): 3 exited 0, 0 failed, 1 did not run\n"),
        "{}",
        out.show()
    );

    let mut json_cmd = command.to_vec();
    json_cmd.insert(1, "--json");
    let doc = sandbox.run(&config, &json_cmd);
    assert_eq!(doc.code, Some(1), "{}", doc.show());
    let doc = doc.json();
    let groups = doc["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["hosts"], serde_json::json!(["h1", "h3"]));
    assert_eq!(groups[0]["hosts_folded"], "h[1,3]");
    assert_eq!(groups[0]["stdout"], "same\n");
    assert_eq!(groups[1]["hosts"], serde_json::json!(["h2"]));
    let hosts = doc["hosts"].as_array().expect("hosts");
    let names: Vec<&str> = hosts.iter().filter_map(|h| h["name"].as_str()).collect();
    assert_eq!(names, ["h1", "h2", "h3", "dead1"]);
    let dead = &hosts[3];
    assert_eq!(dead["exit_code"], Value::Null);
    assert_eq!(dead["status"], "unreachable");
    assert!(dead["error"].as_str().is_some_and(|e| !e.is_empty()));

    // Audit: per host an `exec` before anything ran, then its `exec.result`, with the size and
    // hash of the output and never the output.
    let records = sandbox.records();
    let first_run: Vec<String> = actions(&records[..8]);
    assert_eq!(
        first_run,
        [
            "exec",
            "exec",
            "exec",
            "exec",
            "exec.result",
            "exec.result",
            "exec.result",
            "exec.result"
        ],
        "no confirmation without a terminal"
    );
    for r in records.iter().filter(|r| r["action"] == "exec.result") {
        let text = r.to_string();
        assert!(
            !text.contains("same\\n") && !text.contains("odd\\n"),
            "{text}"
        );
        if r["target"] == "dead1" {
            assert!(
                r["result"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("error: "))
            );
            assert_eq!(r["output_sha256"], Value::Null);
        } else {
            assert_eq!(r["result"], "exit 0");
            assert!(r["output_bytes"].as_u64().is_some_and(|n| n == 4 || n == 5));
            assert_eq!(r["output_sha256"].as_str().map(str::len), Some(64));
        }
    }
    sandbox.assert_audit_verifies();
}

#[test]
fn a_timeout_flood_and_exit_statuses() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let sandbox = Sandbox::new();

    // Exit statuses: 0 when every host exited 0, 1 when any did not.
    assert_eq!(sandbox.run(&config, &["exec", "--", "true"]).code, Some(0));
    let failed = sandbox.run(
        &config,
        &[
            "exec",
            "--",
            "sh",
            "-c",
            "[ \"$HOME\" = \"$0\" ] || exit 3",
            fleet.host(0).home.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(failed.code, Some(1), "{}", failed.show());
    assert!(
        failed.stdout.contains("==== h2 (1 host) exit 3"),
        "{}",
        failed.show()
    );

    // A timeout: no exit status, an error that says so. (3 s, not less: opening the channel
    // shares the command's deadline, and a loaded machine must not turn that into unreachable.)
    let slow = sandbox.run(
        &config,
        &[
            "exec",
            "--json",
            "--hosts",
            "h1",
            "--timeout",
            "3s",
            "--",
            "sleep",
            "30",
        ],
    );
    assert_eq!(slow.code, Some(1), "{}", slow.show());
    let doc = slow.json();
    let h1 = &doc["hosts"][0];
    assert_eq!(h1["exit_code"], Value::Null);
    assert_eq!(h1["status"], "timed_out");
    assert!(
        h1["error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out")),
        "{h1}"
    );
    assert_eq!(doc["groups"], serde_json::json!([]));

    // A 64 MiB flood: 1 MiB kept (the default max_output_bytes), the rest counted and reported,
    // and fleetdeck's peak memory stays below the size of the flood itself: holding it would
    // take more than that on top of the binary's own ~35 MiB (debug build; the flood adds
    // about 7 MiB, and 256 MiB adds no more).
    const FLOOD: u64 = 64 * 1024 * 1024;
    const CAP: u64 = 1024 * 1024;
    let flood = sandbox.run(
        &config,
        &[
            "exec",
            "--json",
            "--hosts",
            "h1",
            "--timeout",
            "10m",
            "--",
            "sh",
            "-c",
            "head -c 67108864 /dev/zero | tr '\\0' x",
        ],
    );
    assert_eq!(
        flood.code,
        Some(0),
        "{}",
        flood.show().chars().take(2000).collect::<String>()
    );
    let doc = flood.json();
    let h1 = &doc["hosts"][0];
    assert_eq!(h1["truncated"], true);
    assert_eq!(h1["stdout"].as_str().map(str::len), Some(CAP as usize));
    assert_eq!(h1["dropped_bytes"], FLOOD - CAP);
    assert_eq!(h1["output_bytes"], FLOOD);
    assert_eq!(doc["groups"][0]["truncated"], true);
    let peak = children_peak_rss_bytes();
    assert!(
        peak < FLOOD,
        "a child of this test (fleetdeck) peaked at {} MiB",
        peak / (1024 * 1024)
    );
    let records = sandbox.records();
    let last = records.last().expect("records");
    assert_eq!(last["action"], "exec.result");
    assert_eq!(last["output_bytes"], FLOOD);
    assert!(
        last["reason"]
            .as_str()
            .is_some_and(|r| r.contains("truncated")),
        "{last}"
    );
    let timed_out = records.iter().find(|r| {
        r["action"] == "exec.result"
            && r["result"]
                .as_str()
                .is_some_and(|s| s.contains("timed out"))
    });
    assert!(timed_out.is_some(), "the timeout is recorded");
    sandbox.assert_audit_verifies();
}

/// The largest resident set of any child this test process has waited for (fleetdeck runs;
/// the sshd hosts are still running, so they do not count).
fn children_peak_rss_bytes() -> u64 {
    // SAFETY: getrusage only writes the struct we pass; a zeroed rusage is a valid value.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage
    };
    // Linux reports ru_maxrss in KiB.
    u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024
}

#[test]
fn a_hostile_argument_list_arrives_as_the_same_words() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let sandbox = Sandbox::new();
    let words = [
        "a b",
        "it's",
        "\"q\"",
        "$(touch pwned)",
        "`touch pwned2`",
        ";",
        "&&",
        "|",
        "x\ny",
        "*",
        "",
        "$HOME",
        "--",
        "\\",
        "{{NOT_A_SECRET}}",
    ];
    let mut args = vec!["exec", "--json", "--", "printf", "[%s]\\n"];
    args.extend(words);
    let out = sandbox.run(&config, &args);
    assert_eq!(out.code, Some(0), "{}", out.show());
    let expected: String = words.iter().map(|w| format!("[{w}]\n")).collect();
    assert_eq!(out.json()["hosts"][0]["stdout"], expected);
    for file in ["pwned", "pwned2"] {
        assert!(
            !fleet.host(0).home.join(file).exists(),
            "{file} was created"
        );
    }
    sandbox.assert_audit_verifies();
}

#[test]
fn secrets_reach_the_host_but_never_the_audit_log() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let sandbox = Sandbox::new();
    let mut cmd = sandbox.command(
        &config,
        &[
            "exec",
            "--secret-env",
            "FD_TEST_TOKEN",
            "--",
            "sh",
            "-c",
            "echo \"$1\" > \"$HOME/got\"; echo PGPASSWORD=hunter22 >/dev/null",
            "x",
            "{{FD_TEST_TOKEN}}",
        ],
    );
    cmd.env("FD_TEST_TOKEN", "tok-3e1f9c")
        .env("FLEETDECK_LOG", "debug");
    let out = sandbox.run_cmd(cmd);
    assert_eq!(out.code, Some(0), "{}", out.show());
    let got = std::fs::read_to_string(fleet.host(0).home.join("got")).expect("the host got it");
    assert_eq!(got, "tok-3e1f9c\n");
    let log = std::fs::read_to_string(sandbox.audit_path()).expect("audit log");
    assert!(!log.contains("tok-3e1f9c"), "{log}");
    assert!(!log.contains("hunter22"), "{log}");
    assert!(log.contains("{{FD_TEST_TOKEN}}"), "{log}");
    // The log file (at debug level) has the run, and neither secret either.
    let logfile = std::fs::read_to_string(sandbox.dir.path().join("state/fleetdeck/fleetdeck.log"))
        .expect("log file");
    assert!(logfile.contains("exec started"), "{logfile}");
    assert!(
        !logfile.contains("tok-3e1f9c") && !logfile.contains("hunter22"),
        "{logfile}"
    );
    sandbox.assert_audit_verifies();

    let missing = sandbox.run(
        &config,
        &["exec", "--secret-env", "FD_UNSET_VAR", "--", "true"],
    );
    assert_eq!(missing.code, Some(2), "{}", missing.show());
}

#[test]
fn roles_read_only_and_the_danger_list_refuse_before_anything_runs() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let config = fleet.write_inventory(&InventoryOpts {
        extra_toml: "[operators]\ndev1 = \"developer\"\naud1 = \"auditor\"\nops1 = \"operator\"\nboss = \"admin\"\n".into(),
        ..InventoryOpts::default()
    });
    let sandbox = Sandbox::new();
    let marker = |i: usize| fleet.host(i).home.join("marker");
    let touch = ["exec", "--", "sh", "-c", "touch \"$HOME/marker\""];
    let as_user = |user: &str, args: &[&str]| {
        let mut cmd = sandbox.command(&config, args);
        cmd.env("USER", user);
        sandbox.run_cmd(cmd)
    };

    for user in ["dev1", "aud1", "stranger"] {
        let out = as_user(user, &touch);
        assert_eq!(out.code, Some(2), "{user}: {}", out.show());
        assert!(
            out.stderr.contains("refused") && out.stderr.contains("only operators and admins"),
            "{user}: {}",
            out.show()
        );
    }
    let mut readonly = vec!["--readonly"];
    readonly.extend(touch);
    let out = as_user("boss", &readonly);
    assert_eq!(out.code, Some(2), "{}", out.show());
    assert!(out.stderr.contains("read-only"), "{}", out.show());

    // Dangerous, no terminal: refused whatever the flags, nothing runs.
    for args in [
        vec![
            "exec",
            "--",
            "sh",
            "-c",
            "touch \"$HOME/marker\"; rm -rf \"$HOME/nothing\"",
        ],
        vec![
            "exec",
            "--yes",
            "--",
            "sh",
            "-c",
            "touch \"$HOME/marker\"; rm  -rf \"$HOME/nothing\"",
        ],
        vec![
            "exec",
            "--hosts",
            "h1",
            "--",
            "sh",
            "-c",
            "touch \"$HOME/marker\"\nsudo\treboot",
        ],
    ] {
        let out = as_user("ops1", &args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.show());
        assert!(out.stderr.contains("dangerous"), "{}", out.show());
        assert!(out.stdout.is_empty(), "{}", out.show());
    }
    for i in 0..2 {
        assert!(!marker(i).exists(), "something ran on h{}", i + 1);
    }

    let records = sandbox.records();
    assert_eq!(
        actions(&records),
        vec!["denied"; 7],
        "refusals only, no exec: {records:#?}"
    );
    let operators: Vec<&str> = records
        .iter()
        .filter_map(|r| r["operator"].as_str())
        .collect();
    assert_eq!(
        operators,
        ["dev1", "aud1", "stranger", "boss", "ops1", "ops1", "ops1"]
    );
    let targets: Vec<&str> = records
        .iter()
        .filter_map(|r| r["target"].as_str())
        .collect();
    assert_eq!(
        targets,
        ["h1,h2", "h1,h2", "h1,h2", "h1,h2", "h1,h2", "h1,h2", "h1"]
    );
    for r in &records {
        assert!(
            r["command"].as_str().is_some_and(|c| c.contains("marker")),
            "{r}"
        );
    }

    // An operator may, and a non-dangerous command runs on every host without a terminal.
    let out = as_user("ops1", &touch);
    assert_eq!(out.code, Some(0), "{}", out.show());
    for i in 0..2 {
        assert!(marker(i).exists(), "h{} did not run it", i + 1);
    }
    sandbox.assert_audit_verifies();
}

/// The documented field paths: the first column of the table under "### Fields".
fn documented_fields() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(support::repo_root().join("docs/exec-json.md"))
        .expect("docs/exec-json.md");
    let table = doc
        .split("### Fields")
        .nth(1)
        .expect("a ### Fields section");
    table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

/// Every field path in `value`: object keys joined with `.`, array elements as `[]`.
fn paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(path.clone());
                paths(v, &path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                if item.is_object() {
                    paths(item, &format!("{prefix}[]"), out);
                }
            }
        }
        _ => {}
    }
}

#[test]
fn the_json_document_is_exactly_the_documented_one() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let config = with_dead_host(&fleet);
    let sandbox = Sandbox::new();
    let out = sandbox.run(
        &config,
        &[
            "exec",
            "--json",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; [ \"$HOME\" = \"$0\" ] && exit 1; exit 0",
            fleet.host(0).home.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(out.code, Some(1), "{}", out.show());
    let doc = out.json();
    let mut found = BTreeSet::new();
    paths(&doc, "", &mut found);
    assert_eq!(
        found,
        documented_fields(),
        "docs/exec-json.md and the output differ"
    );
    let script = "echo out; echo err >&2; [ \"$HOME\" = \"$0\" ] && exit 1; exit 0";
    let home0 = fleet.host(0).home.display().to_string();
    assert_eq!(
        doc["command"].as_str(),
        shlex::try_join(["sh", "-c", script, home0.as_str()])
            .ok()
            .as_deref()
    );
    for h in doc["hosts"].as_array().expect("hosts") {
        assert!(h["name"].is_string() && h["stdout"].is_string() && h["stderr"].is_string());
        assert!(h["duration_ms"].is_u64() && h["truncated"].is_boolean());
        assert!(h["exit_code"].is_u64() || (h["exit_code"].is_null() && h["error"].is_string()));
        assert!(h["error"].is_null() || h["error"].is_string());
    }
    let run = doc["run"].as_str().expect("run");
    assert!(run.starts_with("exec-"), "{run}");
    let records = sandbox.records();
    assert_eq!(records.len(), 6, "{records:#?}");
    assert!(records.iter().all(|r| r["run"] == run), "{records:#?}");
    assert_eq!(doc["hosts"][0]["exit_code"], 1);
    assert_eq!(doc["hosts"][0]["stderr"], "err\n");
    assert_eq!(doc["hosts"][1]["exit_code"], 0);
    for g in doc["groups"].as_array().expect("groups") {
        assert!(
            g["hosts"]
                .as_array()
                .is_some_and(|h| h.iter().all(Value::is_string))
        );
        assert!(g["exit_code"].is_u64() && g["stdout"].is_string());
    }
}

/// The pane with its scrollback.
fn history(ui: &Tmux) -> String {
    ui.ok(&["capture-pane", "-p", "-S", "-200", "-t", "main"])
}

fn shell_line(sandbox: &Sandbox, config: &Path, args: &[&str], user: &str) -> String {
    let mut words: Vec<String> = vec![
        "env".into(),
        format!("USER={user}"),
        format!(
            "XDG_STATE_HOME={}",
            sandbox.dir.path().join("state").display()
        ),
        format!(
            "XDG_CONFIG_HOME={}",
            sandbox.dir.path().join("config").display()
        ),
        "FLEETDECK_LOG=off".into(),
        "FLEETDECK_AUDIT_LOG=".into(),
        "SSH_AUTH_SOCK=".into(),
        support::fleetdeck_bin().display().to_string(),
        "--config".into(),
        config.display().to_string(),
    ];
    words.extend(args.iter().map(|a| a.to_string()));
    shlex::try_join(words.iter().map(String::as_str)).expect("no NUL")
}

#[test]
fn on_a_terminal_a_dangerous_command_asks_the_typed_word_and_several_hosts_ask_y_or_n() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let sandbox = Sandbox::new();
    let user = support::fleet::current_user();
    let marker = |i: usize| fleet.host(i).home.join("marker");
    let dangerous = [
        "exec",
        "--yes",
        "--",
        "sh",
        "-c",
        "touch \"$HOME/marker\"; rm -rf \"$HOME/nothing-here\"",
    ];
    let wait = Duration::from_secs(30);

    // A wrong word: refused, nothing ran.
    let ui = Tmux::start(&shell_line(&sandbox, &config, &dangerous, &user), 120, 30);
    ui.wait_for("Type the number of hosts, 2, to confirm:", wait);
    ui.send_literal("3");
    ui.send_keys(&["Enter"]);
    ui.wait_for("refused: typed confirmation did not match", wait);
    assert_eq!(ui.wait_for_exit(wait), 2);
    for i in 0..2 {
        assert!(!marker(i).exists(), "ran on h{} after a wrong word", i + 1);
    }
    drop(ui);

    // The right word: it runs, and the confirmation is on record before the commands.
    let ui = Tmux::start(&shell_line(&sandbox, &config, &dangerous, &user), 120, 30);
    ui.wait_for("to confirm:", wait);
    ui.send_literal("2");
    ui.send_keys(&["Enter"]);
    ui.wait_for("2 host(s): 2 exited 0", wait);
    assert_eq!(ui.wait_for_exit(wait), 0);
    for i in 0..2 {
        assert!(marker(i).exists(), "h{} did not run it", i + 1);
    }
    drop(ui);

    // Several hosts, not dangerous: y/N with the host count; `n` refuses.
    let plain = ["exec", "--", "sh", "-c", "touch \"$HOME/plain\""];
    let ui = Tmux::start(&shell_line(&sandbox, &config, &plain, &user), 120, 30);
    ui.wait_for("on 2 hosts (h[1-2])? [y/N]", wait);
    ui.send_literal("n");
    ui.send_keys(&["Enter"]);
    ui.wait_for("refused: not confirmed", wait);
    assert_eq!(ui.wait_for_exit(wait), 2);
    assert!(!fleet.host(0).home.join("plain").exists());
    drop(ui);

    let ui = Tmux::start(&shell_line(&sandbox, &config, &plain, &user), 120, 30);
    ui.wait_for("[y/N]", wait);
    ui.send_literal("y");
    ui.send_keys(&["Enter"]);
    assert_eq!(ui.wait_for_exit(wait), 0, "{}", ui.capture());
    assert!(fleet.host(1).home.join("plain").exists());
    drop(ui);

    let records = sandbox.records();
    assert_eq!(
        actions(&records),
        [
            "denied",
            "confirm",
            "exec",
            "exec",
            "exec.result",
            "exec.result",
            "denied",
            "confirm",
            "exec",
            "exec",
            "exec.result",
            "exec.result",
        ]
    );
    assert!(
        records[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("did not match"))
    );
    assert_eq!(records[1]["result"], "typed 2");
    assert_eq!(records[7]["result"], "confirmed for 2 hosts");
    sandbox.assert_audit_verifies();
}

#[test]
fn ctrl_c_cancels_the_hosts_that_have_not_finished_and_names_them() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let sandbox = Sandbox::new();
    let user = support::fleet::current_user();
    let h2_home = fleet.host(1).home.display().to_string();
    // h2 answers at once, h1 sleeps until cancelled.
    let args = [
        "exec",
        "--yes",
        "--timeout",
        "10m",
        "--",
        "sh",
        "-c",
        "[ \"$HOME\" = \"$0\" ] && echo quick || sleep 600",
        h2_home.as_str(),
    ];
    let wait = Duration::from_secs(30);
    let ui = Tmux::start(&shell_line(&sandbox, &config, &args, &user), 120, 30);
    let h2_done = || {
        sandbox
            .records()
            .iter()
            .any(|r| r["action"] == "exec.result" && r["target"] == "h2")
    };
    assert!(
        support::fleet::wait_until(wait, h2_done).is_some(),
        "h2 never reported; screen:\n{}",
        ui.capture()
    );
    ui.send_keys(&["C-c"]);
    assert_eq!(ui.wait_for_exit(wait), 1, "{}", history(&ui));
    // Read with the scrollback: the first lines may have scrolled off the visible screen.
    let screen = history(&ui);
    for line in [
        "fleetdeck: Ctrl-C: cancelling what has not finished",
        "fleetdeck: cancelled: h1\n",
        "==== h2 (1 host) exit 0 ====\nquick\n",
        "h1: cancelled while running: its outcome is unknown",
    ] {
        assert!(screen.contains(line), "{line:?} missing:\n{screen}");
    }
    drop(ui);

    let records = sandbox.records();
    let h1 = records
        .iter()
        .find(|r| r["action"] == "exec.result" && r["target"] == "h1")
        .expect("h1's result is recorded");
    assert_eq!(h1["result"], "cancelled");
    sandbox.assert_audit_verifies();
}

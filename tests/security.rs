//! Security promises, against real peers and the real binary: nobody gets in by accident and no
//! secret leaks out.
//!
//! - A changed host key is refused with a loud alert in the console (the `status` side, unknown
//!   keys, `accept-new`, hashed and `[host]:port` entries are in `tests/ssh_status.rs`), and a
//!   known_hosts file with a stray non-UTF-8 byte still protects every host it lists.
//! - Inventory values with shell metacharacters reach a real sshd host as data: a canary file
//!   that any injection would create never appears.
//! - The log file and its directory, and known_hosts written under `accept-new`, are private
//!   (0600/0700) whatever the umask (the audit log's own modes: `tests/audit_log.rs`).
//! - A passphrase typed for an encrypted key — in the console's dialog or at the `status` TTY
//!   prompt — never reaches the log file, even with `FLEETDECK_LOG=trace`.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::{ExtraHost, FleetSpec, InventoryOpts, TestFleet, Tmux};

const WAIT: Duration = Duration::from_secs(20);

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `fleetdeck status --json` with `XDG_STATE_HOME=state`; returns (exit code, report, stderr).
fn status_json(config: &Path, state: &Path) -> (i32, Value, String) {
    let out = Command::new(support::fleetdeck_bin())
        .args(["status", "--json", "--config"])
        .arg(config)
        .env_remove("SSH_AUTH_SOCK")
        .env("XDG_STATE_HOME", state)
        .output()
        .expect("run fleetdeck");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}):\n{}\nstderr:\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap_or(-1), report, stderr)
}

fn host<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no host {name} in {report:#}"))
}

#[test]
fn a_changed_host_key_is_a_loud_alert_in_the_console() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    let wrong = fleet.known_hosts_with_wrong_key_for(1);
    let config = fleet.write_inventory(&InventoryOpts {
        known_hosts: Some(vec![wrong]),
        // Even the lenient policy refuses a changed key.
        host_key_policy: "accept-new".into(),
        ..InventoryOpts::default()
    });
    let state = fleet.root().join("state");
    let line = format!(
        "{} --config {}; echo EXITED=$?; sleep 30",
        support::fleetdeck_bin().display(),
        config.display()
    );
    let tmux = Tmux::start_with_env(
        &line,
        160,
        40,
        &[
            ("XDG_STATE_HOME", state.to_str().unwrap()),
            ("SSH_AUTH_SOCK", ""),
        ],
    );
    let screen = tmux
        .wait_until(WAIT, |s| {
            s.contains("HOST KEY CHANGED")
                && s.lines().any(|l| l.contains(" h1 ") && l.contains(" ok "))
        })
        .unwrap_or_else(|s| panic!("no host key alert on screen:\n{s}"));
    let row = screen
        .lines()
        .find(|l| l.contains(" h2 "))
        .unwrap_or_else(|| panic!("no h2 row:\n{screen}"));
    assert!(row.contains("critical"), "h2 is critical: {row}\n{screen}");
    assert!(
        screen
            .lines()
            .any(|l| l.contains(" h1 ") && l.contains("ok")),
        "h1 is unaffected:\n{screen}"
    );
    tmux.send_keys(&["q"]);
    assert!(tmux.wait_for("EXITED=", WAIT).contains("EXITED=0"));
}

#[test]
fn a_non_utf8_byte_in_known_hosts_does_not_disable_host_key_checking() {
    let fleet = TestFleet::start(FleetSpec::hosts(2));
    // A Latin-1 comment ("café", 0xE9) above the entries: OpenSSH reads such a file bytewise and
    // still knows every host in it. Host 2's recorded key differs from the one it presents.
    let wrong = fleet.known_hosts_with_wrong_key_for(1);
    let mut bytes = b"# serveur de test caf\xe9\n".to_vec();
    bytes.extend(std::fs::read(&wrong).unwrap());
    let latin1 = fleet.root().join("known_hosts_latin1");
    std::fs::write(&latin1, &bytes).unwrap();
    let config = fleet.write_inventory(&InventoryOpts {
        known_hosts: Some(vec![latin1.clone()]),
        host_key_policy: "accept-new".into(),
        ..InventoryOpts::default()
    });
    let (code, report, _) = status_json(&config, &fleet.root().join("state"));
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(host(&report, "h1")["status"], "ok", "{report:#}");
    let h2 = host(&report, "h2");
    assert_eq!(
        h2["error_kind"], "host-key-changed",
        "a changed key must never be accepted as new: {h2:#}"
    );
    assert_eq!(
        std::fs::read(&latin1).unwrap(),
        bytes,
        "nothing was appended to known_hosts"
    );
}

/// Values an attacker (or a careless copy-paste) could put in an inventory; `{c}` is the canary.
fn hostile_values(c: &str) -> Vec<String> {
    vec![
        format!("x'; touch {c} #"),
        format!("x\"; touch {c}; echo \""),
        format!("$(touch {c})"),
        format!("`touch {c}`"),
        format!("x\ntouch {c}\n"),
        format!("-x; touch {c}"),
        format!("{{a,b}}; touch {c} #"),
        format!("x && touch {c}"),
        format!("x | touch {c}"),
        format!("x & touch {c} &"),
        format!("$HOME/$(touch {c})"),
        format!("~/../*; touch {c}"),
        "*".to_string(),
        "/*".to_string(),
        format!("x\\ ; touch {c}"),
    ]
}

#[test]
fn hostile_inventory_values_run_nothing_on_a_real_host() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let h1 = fleet.host(0);
    let canary = h1.home.join("pwned");
    let values = hostile_values(&canary.display().to_string());
    let q = support::fleet::toml_str;
    let mut services = Vec::new();
    let mut disks = Vec::new();
    let mut backups = Vec::new();
    let mut certs = Vec::new();
    let mut logs = Vec::new();
    for (i, raw) in values.iter().enumerate() {
        // Names are taken as they are; paths must be absolute to pass validation, so they get
        // a leading directory and keep the hostile rest.
        let v = q(raw);
        let p = q(&format!("/srv/{raw}"));
        services.push(format!(
            "{{ name = \"unit{i}\", kind = \"systemd\", unit = {v} }}"
        ));
        services.push(format!(
            "{{ name = \"ctr{i}\", kind = \"docker\", container = {v} }}"
        ));
        services.push(format!(
            "{{ name = \"compose{i}\", kind = \"docker\", compose_file = {p}, compose_service = {v} }}"
        ));
        services.push(format!(
            "{{ name = \"pidfile{i}\", kind = \"process\", pidfile = {p} }}"
        ));
        services.push(format!(
            "{{ name = \"pattern{i}\", kind = \"process\", pattern = {v} }}"
        ));
        services.push(format!(
            "{{ name = \"port{i}\", kind = \"port\", address = {v}, port = 9 }}"
        ));
        disks.push(format!("{{ mount = {p} }}"));
        backups.push(format!(
            "{{ name = \"b{i}\", dir = {p}, pattern = {v}, every = \"1h\" }}"
        ));
        certs.push(format!("{{ name = \"c{i}\", path = {p} }}"));
        logs.push(format!("{{ name = \"lu{i}\", unit = {v} }}"));
        logs.push(format!("{{ name = \"lf{i}\", file = {p} }}"));
    }
    let evil = ExtraHost {
        toml: format!(
            "services = [{}]\ndisks = [{}]\nbackups = [{}]\ncerts = [{}]\nlogs = [{}]",
            services.join(", "),
            disks.join(", "),
            backups.join(", "),
            certs.join(", "),
            logs.join(", ")
        ),
        ..ExtraHost::at_port("evil", h1.port)
    };
    let config = fleet.write_inventory(&InventoryOpts {
        command_timeout: "20s".into(),
        extra_hosts: vec![evil],
        ..InventoryOpts::default()
    });
    let check = Command::new(support::fleetdeck_bin())
        .args(["config", "check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "the inventory holds odd but legal values: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    let (_, report, stderr) = status_json(&config, &fleet.root().join("state"));
    let e = host(&report, "evil");
    assert_eq!(e["reachable"], true, "{e:#}\n{stderr}");
    assert!(
        !canary.exists(),
        "an inventory value ran as shell code on the host"
    );
    // The frame of the probe batch survived every value: the plain host is probed as usual,
    // and every hostile service got a reading of its own.
    assert_eq!(host(&report, "h1")["status"], "ok", "{report:#}");
    assert_eq!(
        e["services"].as_array().unwrap().len(),
        services.len(),
        "{e:#}"
    );
    // Each value arrived whole, as one literal argument: df looked for exactly that path.
    for d in e["disks"].as_array().unwrap() {
        let err = d["error"].as_str().unwrap_or_default();
        assert!(
            err.contains("No such file or directory"),
            "df was given the mount verbatim: {d:#}"
        );
    }
    let h1_home_entries: Vec<PathBuf> = std::fs::read_dir(&h1.home)
        .unwrap()
        .map(|d| d.unwrap().path())
        .collect();
    assert!(
        !h1_home_entries.iter().any(|p| p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("pwned"))),
        "{h1_home_entries:?}"
    );
}

#[test]
fn the_log_and_known_hosts_are_private_whatever_the_umask() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let state = fleet.root().join("fresh-state");
    let known = fleet.root().join("new-dir/known_hosts");
    let config = fleet.write_inventory(&InventoryOpts {
        known_hosts: Some(vec![known.clone()]),
        host_key_policy: "accept-new".into(),
        ..InventoryOpts::default()
    });
    // umask 000: every mode below comes from fleetdeck itself, not from a careful shell.
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 000; exec \"$0\" status --json --config \"$1\"")
        .arg(support::fleetdeck_bin())
        .arg(&config)
        .env_remove("SSH_AUTH_SOCK")
        .env("XDG_STATE_HOME", &state)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log_dir = state.join("fleetdeck");
    let log = log_dir.join("fleetdeck.log");
    assert_eq!(mode(&state), 0o700, "{}", state.display());
    assert_eq!(mode(&log_dir), 0o700, "{}", log_dir.display());
    assert_eq!(mode(&log), 0o600, "{}", log.display());
    assert_eq!(mode(&known), 0o600, "{}", known.display());
    assert_eq!(mode(known.parent().unwrap()), 0o700);

    // A log file left world-readable by something else is made private again.
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, _) = status_json(&config, &state);
    assert_eq!(code, 0);
    assert_eq!(mode(&log), 0o600);
}

/// Makes an encrypted ed25519 key authorized on every host of `fleet`; returns its path.
fn encrypted_key(fleet: &TestFleet, passphrase: &str) -> PathBuf {
    let key = fleet.root().join("encrypted_ed25519");
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", passphrase, "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(ok.success());
    let public = std::fs::read_to_string(format!("{}.pub", key.display())).unwrap();
    let authorized = fleet.root().join("authorized_keys");
    let mut text = std::fs::read_to_string(&authorized).unwrap();
    text.push_str(&public);
    std::fs::write(&authorized, text).unwrap();
    key
}

#[test]
fn a_typed_passphrase_never_reaches_the_log_even_at_trace_level() {
    const RIGHT: &str = "correct-horse-4b1d";
    const WRONG: &str = "wrong-staple-9f3a";
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let key = encrypted_key(&fleet, RIGHT);
    let config = fleet.write_inventory(&InventoryOpts {
        identity_files: Some(vec![key.clone()]),
        ..InventoryOpts::default()
    });
    let state = fleet.root().join("state");
    let env = [
        ("XDG_STATE_HOME", state.to_str().unwrap()),
        ("SSH_AUTH_SOCK", ""),
        ("FLEETDECK_LOG", "trace"),
    ];

    // The console's dialog: a wrong passphrase first, then the right one.
    let console = Tmux::start_with_env(
        &format!(
            "{} --config {}; echo EXITED=$?; sleep 30",
            support::fleetdeck_bin().display(),
            config.display()
        ),
        120,
        30,
        &env,
    );
    console.wait_for("Passphrase for", WAIT);
    console.send_literal(WRONG);
    console.send_keys(&["Enter"]);
    console.wait_for("Wrong passphrase", WAIT);
    console.send_literal(RIGHT);
    console.send_keys(&["Enter"]);
    let screen = console.wait_for("1/1 reachable", WAIT);
    assert!(
        !screen.contains(RIGHT) && !screen.contains(WRONG),
        "{screen}"
    );
    console.send_keys(&["q"]);
    console.wait_for("EXITED=", WAIT);

    // The headless prompt on the terminal (`status`).
    let headless = Tmux::start_with_env(
        &format!(
            "{} status --config {}; echo EXITED=$?; sleep 30",
            support::fleetdeck_bin().display(),
            config.display()
        ),
        120,
        30,
        &env,
    );
    headless.wait_for("passphrase for", WAIT);
    headless.send_literal(RIGHT);
    headless.send_keys(&["Enter"]);
    let screen = headless.wait_for("EXITED=", WAIT);
    assert!(screen.contains("EXITED=0"), "{screen}");
    assert!(
        !screen.contains(RIGHT),
        "the passphrase is not echoed:\n{screen}"
    );

    let log_path = state.join("fleetdeck/fleetdeck.log");
    let log = std::fs::read(&log_path).unwrap();
    let text = String::from_utf8_lossy(&log);
    assert!(
        text.contains("TRACE") || text.contains("DEBUG"),
        "the log really was at trace level ({} bytes)",
        log.len()
    );
    for secret in [RIGHT, WRONG] {
        assert!(
            !text.contains(secret),
            "{secret:?} found in {}",
            log_path.display()
        );
    }
}

/// Runbook inputs and host names reach a real host as data: a command template rendered with
/// hostile values prints exactly those values back over SSH, and the canary never appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_runbook_inputs_are_quoted_for_the_remote_shell() {
    use fleetdeck::runbook::template::{self, Context, Values};
    use fleetdeck::transport::ExecRequest;
    use std::collections::BTreeMap;

    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let inventory = fleetdeck::inventory::load_fleet(Some(&config)).unwrap();
    let transports = fleetdeck::poller::transports(
        &inventory,
        &fleetdeck::transport::ssh::SshShared::new(std::sync::Arc::new(
            fleetdeck::transport::ssh::NoPrompt,
        )),
    )
    .unwrap();
    let canary = fleet.host(0).home.join("pwned-by-input");
    let mut values = hostile_values(&canary.display().to_string());
    values.extend(
        [
            "",
            "'",
            "''",
            "\\",
            "$HOME",
            "%s%n",
            "-n",
            "--",
            " lead and trail ",
        ]
        .map(String::from),
    );
    let mut host = fleetdeck::runbook::HostInfo::from_host(&inventory.hosts[0]);
    for value in &values {
        host.name = format!("h1{value}");
        let mut inputs = BTreeMap::new();
        inputs.insert("msg".to_string(), value.clone());
        let targets = vec![host.name.clone()];
        let decisions = BTreeMap::new();
        let not_secret = |_: &str| false;
        let vals = Values {
            host: Some(&host),
            targets: &targets,
            inputs: &inputs,
            secret: &not_secret,
            path: &not_secret,
            stamp: "20260101000000",
            decisions: &decisions,
        };
        let rendered = template::render("printf '%s|%s' {{msg}} {{host}}", Context::Command, &vals)
            .unwrap_or_else(|e| panic!("render {value:?}: {e}"));
        let out = transports[0]
            .exec(&ExecRequest {
                command: rendered.real.clone(),
                stdin: None,
                timeout: Duration::from_secs(10),
                max_output: 1 << 16,
            })
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{value}|h1{value}"),
            "{value:?} rendered as {:?}",
            rendered.real
        );
    }
    assert!(!canary.exists(), "a runbook input ran as shell code");
}

/// A secret input renders into the command that runs, and only as `***` into what is shown,
/// logged and audited.
#[test]
fn a_secret_input_is_masked_in_every_copy_but_the_one_that_runs() {
    use fleetdeck::runbook::template::{self, Context, MASK, Values};
    use std::collections::BTreeMap;
    const SECRET: &str = "tok-3e1f-very-secret";
    let mut inputs = BTreeMap::new();
    inputs.insert("token".to_string(), SECRET.to_string());
    let is_secret = |n: &str| n == "token";
    let targets = vec!["h1".to_string()];
    let decisions = BTreeMap::new();
    let vals = Values {
        host: None,
        targets: &targets,
        inputs: &inputs,
        secret: &is_secret,
        path: &|_: &str| false,
        stamp: "20260101000000",
        decisions: &decisions,
    };
    for (text, context) in [
        (
            "curl -H 'Authorization: Bearer '{{token}} https://x",
            Context::Command,
        ),
        ("https://hooks.example/{{token}}?t={{token}}", Context::Url),
        ("{\"token\": \"{{token}}\"}", Context::Request),
    ] {
        let r = template::render(text, context, &vals).unwrap();
        assert!(r.real.contains("tok-3e1f"), "{context:?}: {}", r.real);
        assert!(!r.display.contains(SECRET), "{context:?}: {}", r.display);
        assert!(r.display.contains(MASK), "{context:?}: {}", r.display);
    }
    // Where a secret has no business (an expectation, display text) it is refused outright.
    for context in [Context::Regex, Context::Display] {
        assert!(template::render("x {{token}}", context, &vals).is_err());
    }
}

/// `fleetdeck run` end to end on a real host: the secret input reaches the command that runs
/// (the host records it), and appears nowhere else — not in `--dry-run` output, not in what the
/// run prints (even though the command echoes it), not in the log at trace level, not in the
/// audit log.
#[test]
fn a_secret_input_never_reaches_dry_run_output_the_log_or_the_audit_log() {
    const SECRET: &str = "tok-51c4-do-not-leak";
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let dir = fleet.root().join("runbooks");
    std::fs::create_dir_all(&dir).unwrap();
    let runbook = dir.join("secret-demo.toml");
    std::fs::write(
        &runbook,
        r#"name = "secret-demo"
title = "Use a secret"
description = "Hands a secret input to a command that also echoes it."

[[inputs]]
name = "token"
prompt = "API token"
secret = true

[targets]
hosts = "*"

[[steps]]
id = "use"
title = "Use the token"
kind = "check"
command = "printf '%s' {{token}} > \"$HOME/token-seen\"; echo the token is {{token}}"
expect = { exit = 0 }
"#,
    )
    .unwrap();
    let state = fleet.root().join("state");
    let run = |extra: &[&str]| {
        let out = Command::new(support::fleetdeck_bin())
            .arg("--config")
            .arg(&config)
            .arg("run")
            .arg(&runbook)
            .args(["--var", &format!("token={SECRET}")])
            .args(extra)
            .env_remove("SSH_AUTH_SOCK")
            .env("XDG_STATE_HOME", &state)
            .env("FLEETDECK_LOG", "trace")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), shown)
    };
    let (code, dry) = run(&["--dry-run"]);
    assert_eq!(code, Some(0), "{dry}");
    assert!(
        dry.contains("***"),
        "the dry run shows where the secret goes:\n{dry}"
    );
    let seen = fleet.host(0).home.join("token-seen");
    assert!(!seen.exists(), "a dry run runs nothing");
    let (code, shown) = run(&[]);
    assert_eq!(code, Some(0), "{shown}");
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        SECRET,
        "the command that ran had the real value"
    );
    for (what, text) in [("--dry-run output", &dry), ("run output", &shown)] {
        assert!(!text.contains(SECRET), "secret in {what}:\n{text}");
    }
    let mut files = 0;
    for entry in std::fs::read_dir(state.join("fleetdeck")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET),
            "secret in {}",
            path.display()
        );
        files += 1;
    }
    assert!(
        state.join("fleetdeck/audit.jsonl").exists() && files >= 2,
        "the log and the audit log were written and checked"
    );
}

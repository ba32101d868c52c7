//! Runbook drills against real peers: the shipped runbooks driven through the real `fleetdeck`
//! binary over real OpenSSH hosts, against a real PostgreSQL, in a real terminal (tmux).
//!
//! - `restore_drill_on_real_postgres`: `backup` writes a real `pg_dumpall | gzip` file, the data
//!   is damaged, a headless `restore` is refused before anything runs, then `restore` driven in
//!   tmux through its typed confirmations brings the rows back; the audit log holds the run in
//!   order, every confirm before the exec it allowed.
//! - `troubleshoot_tree_in_a_terminal`: the decision tree, branches chosen (and pre-selections
//!   overridden with a reason) in tmux, through the typed confirmation of a dangerous step.
//! - `dry_run_runs_nothing`: every command per host printed, dangerous ones too, without a
//!   terminal; nothing on the hosts changes and no audit record is written. (Secrets in a dry
//!   run: the interruption drill below and the rolling upgrade drill.)
//! - `interrupted_run_resumes_and_secrets_stay_secret`: an operator's own runbook with secret
//!   inputs is interrupted with Ctrl-C while a command runs, suspends (audited), and
//!   `--resume` asks what to do with the unknown step, then finishes; the webhook got its JSON
//!   body with the real token, and the token is nowhere in the audit log, the log file, the
//!   saved run state or the dry-run output.
//! - `lost_connection_suspends_and_resume_waits_for_a_terminal`: the host goes down while a
//!   command runs; the run suspends (audited), a resume without a terminal is refused and keeps
//!   the run saved, and a resume in a terminal finishes it.
//! - `exec_records_pair_and_a_killed_run_leaves_an_unfinished_exec`: each command's `exec`
//!   record is a `before` and its `exec.result` the `after` pointing at it; a run killed while
//!   a command runs leaves that `before` alone, and `audit show --unfinished` and `audit verify`
//!   name it.
//!
//! The rolling upgrade drill lives in tests/rolling_upgrade_drill.rs.

mod support;

#[path = "runbook_drills/common.rs"]
mod common;

use std::fs;
use std::process::Command;
use std::time::Duration;

use common::*;
use support::{FleetSpec, InventoryOpts, Postgres, TestFleet};

/// How long a prompt or a run may take before the test fails (generous: a loaded CI machine).
const STEP: Duration = Duration::from_secs(60);

/// An inventory where the hosts `indices` also run a `writer` service (the service that writes
/// to the database): running while a marker file in the host's home exists, with start and stop
/// templates. Each host gets its own profile because the marker path differs per home.
fn writer_inventory(d: &Drill, indices: &[usize]) -> InventoryOpts {
    let mut opts = InventoryOpts::default();
    for &index in indices {
        let home = d.fleet.host(index).home;
        let marker = home.join("svc/writer.running");
        fs::write(&marker, "running\n").unwrap();
        let m = marker.display().to_string();
        opts.host_toml
            .insert(index, format!("profile = \"db-writer-{index}\""));
        opts.extra_toml.push_str(&format!(
            "[profiles.db-writer-{index}]\nservices = [{{ name = \"writer\", kind = \"command\", command = {}, start = {}, stop = {} }}]\n",
            toml_str(&format!("test -f {m}")),
            toml_str(&format!("touch {m}")),
            toml_str(&format!("rm -f {m}")),
        ));
    }
    opts
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn restore_drill_on_real_postgres() {
    let pg = Postgres::start();
    pg.query("postgres", "CREATE DATABASE drill");
    pg.query(
        "drill",
        "CREATE TABLE accounts (id integer PRIMARY KEY, owner text NOT NULL, balance numeric NOT NULL); \
         INSERT INTO accounts SELECT g, 'owner-' || g, g * 10 FROM generate_series(1, 100) g; \
         CREATE TABLE ledger (id serial PRIMARY KEY, account integer REFERENCES accounts, amount numeric); \
         INSERT INTO ledger (account, amount) SELECT g % 100 + 1, g FROM generate_series(1, 250) g;",
    );
    let fingerprint = "SELECT (SELECT count(*) FROM accounts) || '/' || (SELECT sum(balance) FROM accounts) \
                       || '/' || (SELECT count(*) FROM ledger)";
    let original = pg.query("drill", fingerprint);
    assert_eq!(original, "100/50500/250");

    let mut d = Drill::new(TestFleet::start(FleetSpec::hosts(1)));
    let opts = writer_inventory(&d, &[0]);
    d.set_inventory(&opts);
    let h1 = d.fleet.host(0);
    let marker = h1.home.join("svc/writer.running");
    let backups = h1.backups_dir.clone();
    let port = pg.port.to_string();
    let pg_bin = pg.bin_dir().display().to_string();
    let db_vars = [
        "--var".to_string(),
        "pg_host=127.0.0.1".to_string(),
        "--var".to_string(),
        format!("pg_port={port}"),
        "--var".to_string(),
        "pg_user=postgres".to_string(),
        "--var".to_string(),
        format!("pg_bin={pg_bin}"),
    ];

    // --- backup (no dangerous step: it runs headless) ------------------------------------------
    let before: Vec<_> = d.fleet.backups(0);
    let backup_dir_var = format!("backup_dir={}", backups.display());
    let mut args: Vec<&str> = vec!["run", "backup", "--hosts", "h1", "--var", &backup_dir_var];
    args.extend(db_vars.iter().map(String::as_str));
    let out = d.run(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "backup failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let new: Vec<_> = d
        .fleet
        .backups(0)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert_eq!(new.len(), 1, "exactly one new backup file: {new:?}");
    let backup = new[0].clone();
    let name = backup.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        regex::Regex::new(r"^\d{14}-postgres-backup\.sql\.gz$")
            .unwrap()
            .is_match(&name),
        "timestamped name: {name}"
    );
    assert!(
        fs::metadata(&backup).unwrap().len() > 100,
        "backup is not empty"
    );
    let gz = Command::new("gzip")
        .arg("-t")
        .arg(&backup)
        .status()
        .unwrap();
    assert!(gz.success(), "gzip -t {}", backup.display());
    let dump = Command::new("gzip")
        .arg("-dc")
        .arg(&backup)
        .output()
        .unwrap();
    let dump = text(&dump.stdout);
    assert!(
        dump.contains("CREATE DATABASE drill"),
        "the dump holds the database"
    );
    assert!(
        dump.contains("COPY public.accounts"),
        "the dump holds the rows"
    );
    assert!(dump.contains("PostgreSQL database cluster dump complete"));

    // --- damage -------------------------------------------------------------------------------
    pg.query(
        "drill",
        "DROP TABLE ledger; DELETE FROM accounts WHERE id > 10;",
    );
    let damaged = pg.query("drill", "SELECT count(*) FROM accounts");
    assert_eq!(damaged, "10");

    // --- restore without a terminal: refused before anything runs ----------------------------
    let restore_dir = h1.home.join("restore-scratch");
    let restore_vars = [
        "--var".to_string(),
        format!("backup_file={}", backup.display()),
        "--var".to_string(),
        "service=writer".to_string(),
        "--var".to_string(),
        format!("restore_dir={}", restore_dir.display()),
        "--var".to_string(),
        "start_timeout=30s".to_string(),
    ];
    let mut args: Vec<&str> = vec!["run", "restore", "--hosts", "h1"];
    args.extend(restore_vars.iter().map(String::as_str));
    args.extend(db_vars.iter().map(String::as_str));
    let audit_before = d.audit().len();
    let out = d.run(&args);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "headless restore must be refused with exit 2:\n{stderr}"
    );
    assert!(
        stderr.contains("typed confirmation") && stderr.contains("no terminal"),
        "the refusal says why: {stderr}"
    );
    assert!(marker.exists(), "the writer service was not stopped");
    assert!(!restore_dir.exists(), "nothing was unpacked");
    assert_eq!(
        pg.query("drill", "SELECT count(*) FROM accounts"),
        "10",
        "nothing was restored"
    );
    let records = d.audit();
    let refusal: Vec<&serde_json::Value> = records[audit_before..].iter().collect();
    let acts = actions(&refusal);
    assert!(
        acts.contains(&"denied".to_string()),
        "a denied record: {acts:?}"
    );
    assert!(
        !acts.iter().any(|a| a == "exec" || a == "runbook.start"),
        "nothing started: {acts:?}"
    );
    let denied = refusal
        .iter()
        .find(|r| field(r, "action") == "denied")
        .unwrap();
    assert_eq!(field(denied, "runbook"), "restore");
    assert!(
        field(denied, "reason").contains("stop-service")
            && field(denied, "reason").contains("no terminal"),
        "denied record names the dangerous steps and why: {denied}"
    );

    // --- restore in a terminal, through both typed confirmations -------------------------------
    let mut t = d.terminal(&args);
    t.answer("Press Enter when done", "", STEP);
    t.expect("DANGEROUS step `stop-service`", STEP);
    t.answer("Type h1 to confirm", "h1", STEP);
    t.expect("DANGEROUS step `restore`", STEP);
    assert!(
        !marker.exists(),
        "the writer service is stopped while the database is restored"
    );
    // A wrong answer is refused and asked again; only the host name goes on.
    t.answer("Type h1 to confirm", "h2", STEP);
    t.answer("Type h1 to confirm", "h1", STEP);
    let code = t.exit_code(STEP);
    assert_eq!(code, 0, "restore failed:\n{}", t.history());

    assert_eq!(
        pg.query("drill", fingerprint),
        original,
        "the rows are back"
    );
    assert!(marker.exists(), "the writer service runs again");
    assert!(!restore_dir.exists(), "the unpacked backup was removed");

    // --- the audit log -------------------------------------------------------------------------
    d.assert_audit_intact();
    let records = d.audit();
    let backup_runs = runs_of(&records, "backup");
    let restore_runs = runs_of(&records, "restore");
    assert_eq!(backup_runs.len(), 1, "one backup run started");
    assert_eq!(
        restore_runs.len(),
        1,
        "one restore run started (the refused one never started)"
    );
    let run = records_of_run(&records, &restore_runs[0]);
    let acts = actions(&run);
    assert_eq!(acts.first().map(String::as_str), Some("runbook.start"));
    assert_eq!(acts.last().map(String::as_str), Some("runbook.finish"));
    assert_confirm_precedes_exec(&run, &["stop-service", "restore"]);
    let pos = |action: &str, step: &str| {
        run.iter()
            .position(|r| field(r, "action") == action && field(r, "step") == step)
            .unwrap_or_else(|| panic!("no {action} record for {step}: {acts:?}"))
    };
    assert!(pos("exec", "unpack") < pos("confirm", "stop-service"));
    assert!(pos("confirm", "stop-service") < pos("exec", "stop-service"));
    assert!(pos("exec", "stop-service") < pos("confirm", "restore"));
    assert!(pos("confirm.mismatch", "restore") < pos("confirm", "restore"));
    assert!(pos("confirm", "restore") < pos("exec", "restore"));
    assert!(pos("exec", "restore") < pos("exec", "start"));
    let exec_restore = run[pos("exec", "restore")];
    assert_eq!(field(exec_restore, "target"), "h1");
    assert!(
        field(exec_restore, "command").contains("psql"),
        "{exec_restore}"
    );
    let finish = run.last().unwrap();
    assert_eq!(field(finish, "result"), "success", "{finish}");
}

/// Chooses `label` at the choice step `step`; when that overrides the check's pre-selection the
/// front end asks why, and `reason` is typed. Returns whether it was an override.
fn choose(t: &mut Term, step: &str, label: &str, reason: &str, next: &str) -> bool {
    t.expect(&format!("? [{step}]"), STEP);
    t.answer("Choose (number or label, empty = suggested)", label, STEP);
    let why = "You are overriding the check's suggestion. Why?";
    let overridden = t.first_of(why, next, STEP);
    if overridden {
        t.answer(why, reason, STEP);
    }
    overridden
}

#[test]
fn troubleshoot_tree_in_a_terminal() {
    let d = Drill::new(TestFleet::start(FleetSpec::hosts(1)));
    let closed = support::fleet::closed_port().to_string();
    let home = d.fleet.host(0).home.display().to_string();
    let vars = [
        "service=app".to_string(),
        "log_source=journald".to_string(),
        "log_name=fleetdeck-drill-none".to_string(),
        "hsm_address=127.0.0.1".to_string(),
        format!("hsm_port={closed}"),
        format!("data_dir={home}"),
    ];
    let mut args: Vec<&str> = vec!["run", "troubleshoot", "--hosts", "h1"];
    for v in &vars {
        args.push("--var");
        args.push(v);
    }
    let mut t = d.terminal(&args);

    // Service running? The check on the real host says yes; take its suggestion.
    t.expect("? [running]", STEP);
    let screen = t.expect("yes ← suggested by the check", STEP);
    assert!(screen.contains("service-running"), "{screen}");
    t.answer("Choose (number or label, empty = suggested)", "", STEP);

    // Errors in the logs? The unit has none; the operator saw some in the console and says so.
    let reason_errors = "drill: the console showed HSM errors from another source";
    let overrode_errors = choose(&mut t, "errors", "errors", reason_errors, "? [error-kind]");
    // Kind of error: HSM, chosen by number.
    let reason_kind = "drill: the errors name the CloudHSM client";
    let overrode_kind = choose(
        &mut t,
        "error-kind",
        "1",
        reason_kind,
        "DANGEROUS step `hsm-restart`",
    );

    // The HSM checks ran on the host (and failed: nothing listens there), then the restart of
    // the HSM client needs the host name typed.
    let screen = t.expect("DANGEROUS step `hsm-restart`", STEP);
    assert!(
        screen.contains(&format!("$ h1: nc -z -w 5 127.0.0.1 {closed}")),
        "{screen}"
    );
    t.answer("Type h1 to confirm", "h1", STEP);
    let code = t.exit_code(STEP);
    let history = t.history();
    assert_eq!(
        code, 0,
        "the tree should end in `solved` (service verified):\n{history}"
    );
    assert!(
        history.contains("[verify]"),
        "every leaf ends in verifying the service:\n{history}"
    );

    d.assert_audit_intact();
    let records = d.audit();
    let runs = runs_of(&records, "troubleshoot");
    assert_eq!(runs.len(), 1);
    let run = records_of_run(&records, &runs[0]);
    let path: Vec<&str> = run
        .iter()
        .filter(|r| field(r, "action") == "step.run")
        .map(|r| field(r, "step"))
        .collect();
    assert_eq!(
        path,
        [
            "service-running",
            "running",
            "log-errors",
            "errors",
            "error-lines",
            "error-kind",
            "hsm-network",
            "hsm-cluster",
            "hsm-restart",
            "verify",
            "verify-logs",
            "solved"
        ],
        "the path taken through the tree"
    );
    assert_confirm_precedes_exec(&run, &["hsm-restart"]);
    let decision = |step: &str| {
        *run.iter()
            .find(|r| field(r, "action") == "decision" && field(r, "step") == step)
            .unwrap_or_else(|| panic!("no decision record for {step}"))
    };
    assert_eq!(field(decision("running"), "result"), "yes");
    assert_eq!(field(decision("errors"), "result"), "errors");
    assert_eq!(field(decision("error-kind"), "result"), "HSM error");
    if overrode_errors {
        assert!(
            field(decision("errors"), "reason").contains(reason_errors),
            "{}",
            decision("errors")
        );
    }
    assert!(
        overrode_kind,
        "no log line names the HSM, so choosing it overrides the check"
    );
    assert!(field(decision("error-kind"), "reason").contains(reason_kind));
    // Checks ran on the real host and their results were recorded.
    for step in [
        "log-errors",
        "hsm-network",
        "hsm-cluster",
        "hsm-restart",
        "verify-logs",
    ] {
        let exec = run
            .iter()
            .position(|r| field(r, "action") == "exec" && field(r, "step") == step)
            .unwrap_or_else(|| panic!("no exec record for {step}"));
        assert_eq!(field(run[exec], "target"), "h1");
        assert!(
            run[exec..]
                .iter()
                .any(|r| field(r, "action") == "exec.result" && field(r, "step") == step),
            "no result recorded for {step}"
        );
    }
}

#[test]
fn dry_run_runs_nothing() {
    let mut d = Drill::new(TestFleet::start(FleetSpec::hosts(2)));
    let opts = writer_inventory(&d, &[0, 1]);
    d.set_inventory(&opts);
    let marker2 = d.fleet.host(1).home.join("svc/writer.running");
    let homes: Vec<_> = (0..2).map(|i| d.fleet.host(i).home).collect();
    let before: Vec<_> = homes
        .iter()
        .map(|h| {
            (
                dir_fingerprint(&h.join("backups")),
                dir_fingerprint(&h.join("svc")),
                dir_fingerprint(h),
            )
        })
        .collect();

    let out = d.run(&[
        "run",
        "backup",
        "--dry-run",
        "--var",
        "backup_dir=/srv/backups",
        "--var",
        "pg_port=6543",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    for host in ["h1", "h2"] {
        for step in [
            "tools",
            "reachable",
            "prepare",
            "space",
            "dump",
            "not-empty",
            "readable",
            "complete",
            "listing",
        ] {
            assert!(
                stdout
                    .lines()
                    .any(|l| l.starts_with(host) && l.contains(step)),
                "no {step} line for {host}:\n{stdout}"
            );
        }
        // No pg_host given: libpq finds the database (PGHOST, else the local socket).
        assert!(
            stdout.lines().any(|l| l.starts_with(host)
                && l.contains("h=''; p=6543;")
                && l.contains("pg_dumpall\" --clean --if-exists ${h:+-h \"$h\"} ${p:+-p \"$p\"}")),
            "the dump command of {host}:\n{stdout}"
        );
    }

    // A runbook with dangerous steps is printed too, with no terminal: nothing runs.
    let out = d.run(&[
        "run",
        "restore",
        "--dry-run",
        "--var",
        "backup_file=/srv/backups/x-postgres-backup.sql.gz",
        "--var",
        "service=writer",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    for (i, host) in ["h1", "h2"].iter().enumerate() {
        let marker = homes[i].join("svc/writer.running").display().to_string();
        assert!(
            stdout.lines().any(|l| l.starts_with(host)
                && l.contains("stop-service")
                && l.contains(&format!("rm -f {marker}"))),
            "the stop command of {host}:\n{stdout}"
        );
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(host) && l.contains("restore") && l.contains("psql")),
            "the restore command of {host}:\n{stdout}"
        );
    }

    let after: Vec<_> = homes
        .iter()
        .map(|h| {
            (
                dir_fingerprint(&h.join("backups")),
                dir_fingerprint(&h.join("svc")),
                dir_fingerprint(h),
            )
        })
        .collect();
    assert_eq!(before, after, "a dry run changes nothing on the hosts");
    assert!(marker2.exists());
    assert!(!d.audit_path().exists(), "a dry run writes no audit record");
}

/// The operator's own runbook for the interruption drill: a secret token used on the host and
/// in a webhook header, and a long command to interrupt.
const MAINTENANCE: &str = r#"
name = "maintenance-drill"
title = "Rotate a token on the hosts, then tell the team"
description = "A long maintenance command that uses a secret token, then a webhook notice."

[[inputs]]
name = "token"
prompt = "Maintenance API token"
secret = true
pattern = "[A-Za-z0-9-]+"

[[inputs]]
name = "hook"
prompt = "Webhook URL for the notice"
pattern = "https?://.+"

[targets]
hosts = "*"

[[steps]]
id = "prepare"
title = "Record the token's fingerprint"
kind = "action"
command = "cd \"$HOME\" && printf '%s' {{token}} | sha256sum | cut -d' ' -f1 > token.sha && echo prepared"

[[steps]]
id = "long"
title = "The long maintenance command"
kind = "action"
command = "cd \"$HOME\" && touch long.started && sleep 30 && touch long.done"
timeout = "60s"

[[steps]]
id = "after"
title = "Use the token again"
kind = "action"
command = "cd \"$HOME\" && printf '%s' {{token}} | wc -c > after.ran"

[[steps]]
id = "notice"
title = "Tell the team"
kind = "notify"
url = "{{hook}}"
headers = { Authorization = "Bearer {{token}}" }
body = { text = "maintenance done on {{hosts}}", token = "{{token}}" }

[[steps]]
id = "done"
title = "Maintenance done"
kind = "end"
outcome = "auto"
"#;

#[test]
fn interrupted_run_resumes_and_secrets_stay_secret() {
    let d = Drill::new(TestFleet::start(FleetSpec::hosts(1)));
    fs::write(d.own_runbooks().join("maintenance-drill.toml"), MAINTENANCE).unwrap();
    let hook = Webhook::start();
    let secret = "s3cr3t-Tok3n-7f2c9a";
    let home = d.fleet.host(0).home;
    let token_var = format!("token={secret}");
    let hook_var = format!("hook=http://127.0.0.1:{}/notice", hook.port);
    let args = [
        "run",
        "maintenance-drill",
        "--hosts",
        "h1",
        "--var",
        &token_var,
        "--var",
        &hook_var,
    ];

    // Dry run first: the secret is masked in what it prints.
    let mut dry: Vec<&str> = args.to_vec();
    dry.push("--dry-run");
    let out = d.run(&dry);
    let dry_out = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{dry_out}");
    assert!(
        dry_out.contains("***"),
        "the secret is shown masked:\n{dry_out}"
    );
    assert!(
        !dry_out.contains(secret),
        "the dry run printed the secret:\n{dry_out}"
    );

    // Start it in a terminal and press Ctrl-C while the long command runs on the host.
    let mut t = d.terminal(&args);
    t.expect("touch long.started", STEP);
    support::fleet::wait_until(STEP, || home.join("long.started").exists())
        .expect("the long command started on the host");
    t.tmux.send_keys(&["C-c"]);
    t.expect("resume with: fleetdeck run --resume ", STEP);
    assert_eq!(t.exit_code(STEP), 1, "{}", t.history());
    // Read once the process has ended: stderr is unbuffered, so a capture taken as the line
    // appears may hold it only up to the run id.
    let history = t.history();
    assert!(history.contains("suspended at long"), "{history}");
    let run_id = history
        .split("resume with: fleetdeck run --resume ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a run id")
        .to_string();
    let expected_sha = {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "printf '%s' '{secret}' | sha256sum | cut -d' ' -f1"
            ))
            .output()
            .unwrap();
        text(&out.stdout)
    };
    assert_eq!(
        fs::read_to_string(home.join("token.sha")).unwrap(),
        expected_sha,
        "the real token reached the host"
    );

    // The interruption is audited, the run saved without its secret.
    let records = d.audit();
    let run = records_of_run(&records, &run_id);
    let interrupt = run
        .iter()
        .find(|r| field(r, "action") == "interrupt")
        .unwrap_or_else(|| panic!("no interrupt record: {:?}", actions(&run)));
    assert_eq!(field(interrupt, "step"), "long");
    assert!(field(interrupt, "reason").contains("Ctrl-C"), "{interrupt}");
    assert!(
        field(interrupt, "reason").contains("outcome unknown"),
        "{interrupt}"
    );
    // A suspension closes the run (`interrupt` pairs with `runbook.start`) and the step in
    // progress (`step.result` `suspended`); only the command whose outcome is unknown stays open.
    let opened = |action: &str| {
        run.iter()
            .find(|r| field(r, "action") == action)
            .unwrap_or_else(|| panic!("no {action}: {:?}", actions(&run)))
    };
    assert_eq!(interrupt["phase"], "after", "{interrupt}");
    assert_eq!(interrupt["pair"], opened("runbook.start")["seq"]);
    let suspended = run
        .iter()
        .find(|r| field(r, "action") == "step.result" && field(r, "step") == "long")
        .unwrap_or_else(|| panic!("no step.result for long: {:?}", actions(&run)));
    assert_eq!(field(suspended, "result"), "suspended", "{suspended}");
    let long_step = run
        .iter()
        .find(|r| field(r, "action") == "step.run" && field(r, "step") == "long")
        .expect("step.run long");
    assert_eq!(suspended["pair"], long_step["seq"], "{suspended}");
    let out = d.run(&["audit", "show", "--unfinished", "--json"]);
    let open: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let open: Vec<&str> = open
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(open, ["exec"], "only the interrupted command is unfinished");
    let saved = d.runs_dir().join(format!("{run_id}.json"));
    assert!(
        saved.is_file(),
        "the run state is saved at {}",
        saved.display()
    );
    assert_secret_absent(secret, &files_under(&d.runs_dir()));
    assert!(
        hook.received().is_empty(),
        "nothing was posted before the interruption"
    );

    // Resume: the secret is asked again (never stored), then what to do with the unknown step.
    let resume = ["run", "--resume", &run_id];
    let mut t = d.terminal(&resume);
    t.answer("Maintenance API token", secret, STEP);
    let screen = t.expect("outcome unknown", STEP);
    assert!(screen.contains("[long]"), "{screen}");
    t.answer("retry, skip or abort?", "skip", STEP);
    t.answer(
        "Why?",
        "checked on the host by hand: the maintenance finished",
        STEP,
    );
    let code = t.exit_code(STEP);
    assert_eq!(code, 0, "the resumed run finishes:\n{}", t.history());
    assert!(
        home.join("after.ran").exists(),
        "the run went on after the skipped step"
    );
    assert_eq!(
        fs::read_to_string(home.join("after.ran")).unwrap().trim(),
        secret.len().to_string(),
        "the re-entered secret was used"
    );
    assert!(!saved.exists(), "a finished run's saved state is removed");

    // The webhook got the JSON body with the real token; the records only ever show ***.
    let got = hook.wait_for(1, STEP);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].request_line.starts_with("POST /notice "),
        "{:?}",
        got[0]
    );
    let auth = got[0]
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone());
    assert_eq!(auth.as_deref(), Some(format!("Bearer {secret}").as_str()));
    let body: serde_json::Value = serde_json::from_str(&got[0].body).expect("a JSON body");
    assert_eq!(body["text"], "maintenance done on h1");
    assert_eq!(body["token"], secret);

    d.assert_audit_intact();
    let records = d.audit();
    let run = records_of_run(&records, &run_id);
    let acts = actions(&run);
    for a in [
        "runbook.start",
        "interrupt",
        "runbook.resume",
        "skip",
        "notify",
        "runbook.finish",
    ] {
        assert!(acts.iter().any(|x| x == a), "no {a} record: {acts:?}");
    }
    let pos = |a: &str| acts.iter().position(|x| x == a).unwrap();
    assert!(pos("interrupt") < pos("runbook.resume") && pos("runbook.resume") < pos("skip"));
    let skip = run[pos("skip")];
    assert_eq!(field(skip, "step"), "long");
    assert!(field(skip, "reason").contains("checked on the host by hand"));
    let notify = run[pos("notify")];
    assert!(field(notify, "command").contains("***"), "{notify}");
    assert_eq!(field(run.last().unwrap(), "result"), "success");

    let mut files = files_under(&d.state_home);
    assert!(
        files.iter().any(|(p, _)| p == &d.log_path()),
        "fleetdeck.log exists in {}",
        d.state_home.display()
    );
    files.retain(|(p, _)| !p.starts_with(d.own_runbooks()));
    assert_secret_absent(secret, &files);
}

#[test]
fn lost_connection_suspends_and_resume_waits_for_a_terminal() {
    let mut d = Drill::new(TestFleet::start(FleetSpec::hosts(1)));
    fs::write(d.own_runbooks().join("maintenance-drill.toml"), MAINTENANCE).unwrap();
    let hook = Webhook::start();
    let secret = "an0ther-s3cret-91d";
    let home = d.fleet.host(0).home;
    let token_var = format!("token={secret}");
    let hook_var = format!("hook=http://127.0.0.1:{}/notice", hook.port);

    // Headless: this runbook needs no answers, so it runs without a terminal.
    let child = d
        .command(&[
            "run",
            "maintenance-drill",
            "--var",
            &token_var,
            "--var",
            &hook_var,
        ])
        .spawn()
        .unwrap();
    support::fleet::wait_until(STEP, || home.join("long.started").exists())
        .expect("the long command started on the host");
    // The host goes down while the command runs: its outcome is unknown.
    d.fleet.stop_host(0);
    let out = wait_output(child);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}{stderr}", text(&out.stdout));
    assert!(stderr.contains("suspended at long"), "{stderr}");
    let run_id = stderr
        .split("resume with: fleetdeck run --resume ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a run id")
        .to_string();
    let records = d.audit();
    let run = records_of_run(&records, &run_id);
    let interrupt = run
        .iter()
        .find(|r| field(r, "action") == "interrupt")
        .unwrap_or_else(|| panic!("no interrupt record: {:?}", actions(&run)));
    assert_eq!(field(interrupt, "step"), "long");
    assert!(
        field(interrupt, "reason").contains("connection to h1 lost"),
        "{interrupt}"
    );
    let saved = d.runs_dir().join(format!("{run_id}.json"));
    assert!(saved.is_file());

    // The host is back. Resuming without a terminal is refused (the secret must be typed again
    // and the unknown step decided by a person), and the run stays resumable.
    d.fleet.start_host(0);
    let out = d.run(&["run", "--resume", &run_id]);
    let stderr = text(&out.stderr);
    // Refused before anything ran: exit 2, like any refusal before anything ran.
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("terminal"),
        "the refusal says why: {stderr}\n{}",
        text(&out.stdout)
    );
    assert!(saved.is_file(), "a refused resume keeps the saved run");
    assert!(
        !home.join("after.ran").exists(),
        "nothing after the unknown step ran"
    );

    // From a terminal it goes on.
    let mut t = d.terminal(&["run", "--resume", &run_id]);
    t.answer("Maintenance API token", secret, STEP);
    t.answer("retry, skip or abort?", "skip", STEP);
    t.answer(
        "Why?",
        "the host rebooted; maintenance redone by hand",
        STEP,
    );
    assert_eq!(t.exit_code(STEP), 0, "{}", t.history());
    assert!(home.join("after.ran").exists());
    hook.wait_for(1, STEP);
    d.assert_audit_intact();
    assert_secret_absent(secret, &files_under(&d.state_home));
}

/// Waits (bounded) for a child started with piped output and returns its output.
fn wait_output(child: std::process::Child) -> std::process::Output {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(STEP)
        .expect("fleetdeck did not end")
        .expect("wait for fleetdeck")
}

const PAIRS: &str = r#"
name = "pairs-drill"
title = "A quick command, then a long one"

[targets]
hosts = "*"

[[steps]]
id = "quick"
kind = "action"
command = "echo quick"

[[steps]]
id = "long"
kind = "action"
command = "cd \"$HOME\" && touch pairs.started && sleep 20"
timeout = "60s"
"#;

/// Bug (issue 10): runbook runs wrote `exec` and `exec.result` with `phase` and `pair` null, so
/// an action that started and never finished could not be found in the log.
#[test]
fn exec_records_pair_and_a_killed_run_leaves_an_unfinished_exec() {
    let d = Drill::new(TestFleet::start(FleetSpec::hosts(1)));
    fs::write(d.own_runbooks().join("pairs-drill.toml"), PAIRS).unwrap();
    let home = d.fleet.host(0).home;
    let mut child = d
        .command(&["run", "pairs-drill", "--hosts", "h1"])
        .spawn()
        .expect("start fleetdeck run");
    support::fleet::wait_until(STEP, || home.join("pairs.started").exists())
        .expect("the long command started on the host");
    // Killed outright: no chance to write anything more.
    child.kill().unwrap();
    let _ = child.wait();

    d.assert_audit_intact();
    let records = d.audit();
    let by = |action: &str, step: &str| {
        records
            .iter()
            .find(|r| field(r, "action") == action && field(r, "step") == step)
            .unwrap_or_else(|| panic!("no {action} record for {step}: {records:?}"))
    };
    let quick = by("exec", "quick");
    let quick_result = by("exec.result", "quick");
    assert_eq!(quick["phase"], "before", "{quick}");
    assert_eq!(quick_result["phase"], "after", "{quick_result}");
    assert_eq!(quick_result["pair"], quick["seq"], "{quick_result}");
    let long = by("exec", "long");
    assert_eq!(long["phase"], "before", "{long}");
    assert!(
        !records
            .iter()
            .any(|r| field(r, "action") == "exec.result" && field(r, "step") == "long"),
        "the killed command has no result"
    );

    // Steps pair the same way: the finished step closed, the killed one open.
    let quick_step = by("step.run", "quick");
    let quick_step_result = by("step.result", "quick");
    assert_eq!(quick_step["phase"], "before", "{quick_step}");
    assert_eq!(quick_step_result["phase"], "after", "{quick_step_result}");
    assert_eq!(quick_step_result["pair"], quick_step["seq"]);
    let long_step = by("step.run", "long");
    let start = records
        .iter()
        .find(|r| field(r, "action") == "runbook.start")
        .expect("a runbook.start record");
    assert_eq!(start["phase"], "before", "{start}");

    // The run, the step in progress and its command never reported: all three are listed.
    let out = d.run(&["audit", "show", "--unfinished", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let open: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let open: Vec<&serde_json::Value> =
        open.as_array().unwrap().iter().map(|r| &r["seq"]).collect();
    assert_eq!(open, [&start["seq"], &long_step["seq"], &long["seq"]]);
    let out = d.run(&["audit", "verify"]);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains(&format!(
            "unfinished: 3 action(s) started and never reported, at line(s) {}, {}, {} ",
            start["seq"], long_step["seq"], long["seq"]
        )),
        "{said}"
    );
}

/// An operator's runbook with a `path` input, checked on a real host.
const HOME_PATH: &str = r#"
name = "home-path-drill"
title = "A directory given relative to the home"

[[inputs]]
name = "dir"
type = "path"
prompt = "Directory on the host"

[targets]
hosts = "*"

[[steps]]
id = "exists"
kind = "check"
command = "test -d {{dir}} && test -f {{dir}}/marker"
"#;

/// Bug (issue 10): runbook values are shell-quoted whole, so `backup_dir = "~/backups"` named
/// a directory literally called `~`. A `path` input renders through the inventory's host-path
/// rule: `~/…` is the SSH user's home on the host.
#[test]
fn a_path_input_given_with_a_tilde_names_the_home_relative_directory() {
    let mut d = Drill::new(TestFleet::start(FleetSpec::hosts(1)));
    let opts = writer_inventory(&d, &[0]);
    d.set_inventory(&opts);
    fs::write(d.own_runbooks().join("home-path-drill.toml"), HOME_PATH).unwrap();
    let home = d.fleet.host(0).home;
    fs::create_dir_all(home.join("fd backups")).unwrap();
    fs::write(home.join("fd backups/marker"), "x").unwrap();

    // The shipped backup runbook shows the home-relative form in its plan.
    let out = d.run(&[
        "run",
        "backup",
        "--dry-run",
        "--hosts",
        "h1",
        "--var",
        "backup_dir=~/fd backups",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("\"$HOME\"/'fd backups'"),
        "the backup directory renders as a home path:\n{stdout}"
    );
    assert!(!stdout.contains("'~/fd backups'"), "{stdout}");

    // And a real run acts on that directory of the host.
    let out = d.run(&[
        "run",
        "home-path-drill",
        "--hosts",
        "h1",
        "--var",
        "dir=~/fd backups",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let out = d.run(&[
        "run",
        "home-path-drill",
        "--hosts",
        "h1",
        "--var",
        "dir=~/absent",
    ]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "a missing directory fails the check"
    );
    // A relative path is refused before anything runs: relative to what?
    let out = d.run(&[
        "run",
        "home-path-drill",
        "--hosts",
        "h1",
        "--var",
        "dir=fd backups",
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("is not a host path"),
        "{}",
        text(&out.stderr)
    );
}

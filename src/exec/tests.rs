//! The exec core without a network: quoting, the safety checks and what they ask, and the whole
//! path through the local transport with a real audit log.

use std::sync::Arc;

use super::*;
use crate::audit::{AuditLog, Phase, read_log};
use crate::inventory::{ConfigSource, Role, load_fleet_from_str};
use crate::transport::local::LocalHost;

fn fleet(extra: &str) -> Fleet {
    let text = format!(
        r#"
[fleet]
name = "t"
{extra}
[[hosts]]
name = "h01"
transport = "local"
[[hosts]]
name = "h02"
transport = "local"
[[hosts]]
name = "h03"
transport = "local"
[[hosts]]
name = "db"
transport = "local"
groups = ["db"]
"#
    );
    load_fleet_from_str(&text, ConfigSource::File("fleet.toml".into()))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn session(role: Role, readonly: bool) -> Session {
    Session {
        operator: "alice".into(),
        role,
        readonly,
        interactive: true,
    }
}

const TTY: Asking = Asking {
    interactive: true,
    yes: false,
};
const SCRIPT: Asking = Asking {
    interactive: false,
    yes: false,
};

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn cmd(words: &[&str]) -> CommandText {
    CommandText::from_args(&args(words), &[]).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn arguments_reach_the_shell_as_the_same_words() {
    let hostile = [
        "printf",
        "[%s]\\n",
        "a b",
        "it's",
        "$(touch pwned)",
        "`id`",
        ";",
        "x\ny",
        "*",
        "",
        "--",
        "\"q\"",
        "$HOME",
    ];
    let c = cmd(&hostile);
    // The oracle: a POSIX word splitter gives back exactly the words we were given.
    assert_eq!(shlex::split(c.sent()), Some(args(&hostile)));
    assert_eq!(c.sent(), c.shown());
    assert!(CommandText::from_args(&args(&["a\0b"]), &[]).is_err());
    assert!(CommandText::from_args(&[], &[]).is_err());
}

#[test]
fn plain_words_are_not_quoted() {
    assert_eq!(
        cmd(&["journalctl", "-u", "geth", "-n", "50"]).sent(),
        "journalctl -u geth -n 50"
    );
}

#[test]
fn secrets_are_filled_in_for_the_host_and_never_shown() {
    let c = CommandText::from_args(
        &args(&["curl", "-H", "X-Key: {{KEY}}", "http://x/{{OTHER}}"]),
        &[("KEY".into(), "s3cr3t-value".into())],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(c.sent().contains("s3cr3t-value"));
    assert!(!c.shown().contains("s3cr3t-value"), "{}", c.shown());
    assert!(c.shown().contains("{{OTHER}}"));
    assert!(!format!("{c:?}").contains("s3cr3t-value"), "Debug leaks it");
    let typed = cmd(&["env", "PGPASSWORD=hunter2", "psql"]);
    assert_eq!(typed.shown(), "env 'PGPASSWORD=***' psql");
    assert!(typed.sent().contains("hunter2"));
}

#[test]
fn roles_and_read_only_refuse_before_any_question() {
    let f = fleet("");
    let plan = Plan::new(&f, cmd(&["uptime"]), &[0]);
    for role in [Role::Developer, Role::Auditor] {
        let e = plan.question(&session(role, false), TTY).unwrap_err();
        assert!(e.reason.contains("only operators and admins"), "{e}");
    }
    for role in [Role::Operator, Role::Admin] {
        assert_eq!(plan.question(&session(role, false), TTY), Ok(None));
        let e = plan.question(&session(role, true), TTY).unwrap_err();
        assert!(e.reason.contains("read-only"), "{e}");
    }
}

#[test]
fn several_hosts_ask_yes_or_no_on_a_terminal_only() {
    let f = fleet("");
    let s = session(Role::Operator, false);
    let plan = Plan::new(&f, cmd(&["uptime"]), &[0, 1, 2]);
    assert_eq!(
        plan.question(&s, TTY),
        Ok(Some(Question::YesNo { hosts: 3 }))
    );
    let yes = Asking {
        interactive: true,
        yes: true,
    };
    assert_eq!(plan.question(&s, yes), Ok(None));
    assert_eq!(
        plan.question(&s, SCRIPT),
        Ok(None),
        "scripts run, as with pdsh"
    );
    assert!(plan.clone().approve(&s, TTY, Some("n")).is_err());
    assert!(plan.clone().approve(&s, TTY, None).is_err());
    assert!(plan.clone().approve(&s, TTY, Some("y")).is_ok());
    assert!(plan.approve(&s, SCRIPT, None).is_ok());
}

#[test]
fn a_dangerous_command_needs_the_typed_word_and_is_refused_without_a_terminal() {
    let f = fleet("");
    let s = session(Role::Admin, false);
    let plan = Plan::new(&f, cmd(&["sh", "-c", "rm -rf /tmp/x"]), &[0, 1]);
    assert_eq!(plan.danger(), Some("rm -rf"));
    let yes = Asking {
        interactive: true,
        yes: true,
    };
    assert_eq!(
        plan.question(&s, yes),
        Ok(Some(Question::Typed {
            expected: "2".into(),
            pattern: "rm -rf".into(),
            hosts: 2
        })),
        "--yes never skips the typed confirmation"
    );
    let e = plan.question(&s, SCRIPT).unwrap_err();
    assert!(e.reason.contains("no terminal"), "{e}");
    assert!(plan.clone().approve(&s, TTY, Some("y")).is_err());
    assert!(plan.clone().approve(&s, TTY, Some("3")).is_err());
    assert!(plan.approve(&s, TTY, Some("2")).is_ok());

    let one = Plan::new(&f, cmd(&["reboot"]), &[3]);
    assert!(matches!(
        one.question(&s, TTY),
        Ok(Some(Question::Typed { expected, .. })) if expected == "db"
    ));
    // Quotes cannot split a pattern apart.
    let quoted = Plan::new(&f, cmd(&["rm", "-rf", "/tmp/a b"]), &[0]);
    assert_eq!(quoted.danger(), Some("rm -rf"));
}

#[test]
fn the_inventory_replaces_or_extends_the_danger_list() {
    let replaced = fleet("[exec]\ndanger = [\"deploy  --prod\"]\n");
    assert_eq!(replaced.exec.danger, ["deploy --prod"]);
    let p = Plan::new(&replaced, cmd(&["rm", "-rf", "x"]), &[0]);
    assert_eq!(p.danger(), None);
    let p = Plan::new(&replaced, cmd(&["deploy", "--prod"]), &[0]);
    assert_eq!(p.danger(), Some("deploy --prod"));

    let extended = fleet("[exec]\ndanger_extra = [\"terraform destroy\"]\nconcurrency = 4\n");
    assert!(extended.exec.danger.iter().any(|p| p == "rm -rf"));
    assert!(
        extended
            .exec
            .danger
            .iter()
            .any(|p| p == "terraform destroy")
    );
    assert_eq!(extended.exec.concurrency, 4);
    assert_eq!(fleet("").exec.concurrency, 32);
}

#[test]
fn bad_exec_settings_are_located_errors() {
    for (extra, wanted) in [
        (
            "[exec]\ndanger = [\"  \"]\n",
            "empty pattern in `danger` in [exec]",
        ),
        (
            "[exec]\ndanger_extra = [\"\"]\n",
            "empty pattern in `danger_extra` in [exec]",
        ),
        (
            "[exec]\nconcurrency = 0\n",
            "invalid `concurrency` 0 in [exec]",
        ),
        ("[exec]\nfanout = 3\n", "fanout"),
    ] {
        let text = format!(
            "[fleet]\nname = \"t\"\n{extra}[[hosts]]\nname = \"a\"\ntransport = \"local\"\n"
        );
        let e = load_fleet_from_str(&text, ConfigSource::File("fleet.toml".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains(wanted), "{extra:?}: {e}");
        assert!(e.contains(":4:") || e.contains(":3:"), "no line in {e}");
    }
}

#[test]
fn select_refuses_an_empty_selection() {
    let f = fleet("");
    assert_eq!(select(&f, None, None), Ok(vec![0, 1, 2, 3]));
    assert_eq!(select(&f, Some("h0*"), None), Ok(vec![0, 1, 2]));
    assert_eq!(select(&f, None, Some("db")), Ok(vec![3]));
    let e = select(&f, Some("nope*"), None).unwrap_err();
    assert!(e.contains("no host matches --hosts \"nope*\""), "{e}");
    assert!(select(&f, Some("[bad"), None).is_err());
}

fn local_transports(f: &Fleet) -> Vec<Transport> {
    f.hosts
        .iter()
        .map(|_| Transport::Local(LocalHost::new()))
        .collect()
}

fn actor() -> Actor {
    Actor::new("alice", "operator", "test")
}

#[tokio::test]
async fn a_run_is_audited_before_and_after_and_groups_its_answers() {
    let f = fleet("");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("audit.jsonl");
    let log = Arc::new(AuditLog::open(&path).unwrap_or_else(|e| panic!("{e}")));
    let s = session(Role::Operator, false);
    let plan = Plan::new(&f, cmd(&["echo", "same"]), &[0, 1, 2]);
    let approved = plan
        .approve(&s, TTY, Some("y"))
        .unwrap_or_else(|e| panic!("{e}"));
    let running = approved
        .start(log, &actor(), &local_transports(&f), Limits::of(&f, None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(running.total(), 3);
    let results = running.collect().await;
    let g = group(&results);
    assert_eq!(g.groups.len(), 1);
    assert_eq!(g.groups[0].folded(), "h[01-03]");
    assert_eq!(g.groups[0].stdout, b"same\n");

    let lines = read_log(&path).unwrap_or_else(|e| panic!("{e}")).lines;
    let records: Vec<_> = lines
        .iter()
        .map(|l| l.record.clone().unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "confirm",
            "exec",
            "exec",
            "exec",
            "exec.result",
            "exec.result",
            "exec.result"
        ]
    );
    let run = records[0].run.clone().unwrap_or_default();
    assert!(run.starts_with("exec-"), "{run}");
    assert!(
        records
            .iter()
            .all(|r| r.run.as_deref() == Some(run.as_str()))
    );
    for r in &records[4..] {
        assert_eq!(r.phase, Some(Phase::After));
        let before = &records[r.pair.unwrap_or(0) as usize - 1];
        assert_eq!(before.action, "exec");
        assert_eq!(before.target, r.target);
        assert_eq!(r.result.as_deref(), Some("exit 0"));
        assert_eq!(r.output_bytes, Some(5));
        let expected: String = {
            use sha2::{Digest, Sha256};
            Sha256::digest(b"same\n")
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        assert_eq!(r.output_sha256.as_deref(), Some(expected.as_str()));
        assert!(
            !lines[(r.seq - 1) as usize].raw.contains("same\\n"),
            "output recorded"
        );
    }
}

#[tokio::test]
async fn a_cancel_from_another_task_ends_what_has_not_finished() {
    let f = fleet("[exec]\nconcurrency = 1\n");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("audit.jsonl");
    let log = Arc::new(AuditLog::open(&path).unwrap_or_else(|e| panic!("{e}")));
    let s = session(Role::Operator, false);
    let plan = Plan::new(&f, cmd(&["sleep", "30"]), &[0, 1]);
    let approved = plan
        .approve(&s, SCRIPT, None)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut running = approved
        .start(log, &actor(), &local_transports(&f), Limits::of(&f, None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(running.pending(), ["h01", "h02"]);
    // From another task, as the console will: the owner keeps reading.
    let canceller = running.canceller();
    tokio::spawn(async move { canceller.cancel() });
    let mut reasons = Vec::new();
    while let Some(r) = running.next().await {
        match r.outcome {
            HostOutcome::NotRun(n) => {
                assert_eq!(n.kind, NotRunKind::Cancelled);
                reasons.push(n.reason);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(reasons.len(), 2);
    assert_eq!(running.done(), 2);
    let report = crate::audit::verify(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.problem.is_none(), "{report:?}");
    let lines = read_log(&path).unwrap_or_else(|e| panic!("{e}")).lines;
    assert!(crate::audit::unfinished(&lines).is_empty());
}

#[tokio::test]
async fn refusals_are_written_with_the_command_and_targets() {
    let f = fleet("");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let plan = Plan::new(&f, cmd(&["env", "TOKEN=abc123", "reboot"]), &[0, 1]);
    let refusal = plan
        .question(&session(Role::Developer, false), TTY)
        .unwrap_err();
    deny(&log, &actor(), &plan, &refusal).unwrap_or_else(|e| panic!("{e}"));
    let lines = read_log(&path).unwrap_or_else(|e| panic!("{e}")).lines;
    let r = lines[0].record.clone().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.action, "denied");
    assert_eq!(r.target.as_deref(), Some("h01,h02"));
    assert_eq!(r.command.as_deref(), Some("env 'TOKEN=***' reboot"));
    assert!(!lines[0].raw.contains("abc123"));
}

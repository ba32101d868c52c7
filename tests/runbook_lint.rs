//! Runbook lint: every shipped runbook in `runbooks/` is clean, traced to a manual, and renders
//! every command for a sample fleet; every `tests/fixtures/runbooks/valid/*.toml` is clean;
//! every `tests/fixtures/runbooks/invalid/*.toml` fails with exactly the lines of its sibling
//! `*.expected` file (one `LintError` per line, in position order). Fixture folders go through
//! the shared runner [`support::fixtures::run_dir`]. `runbook list` and `runbook show`, through
//! the binary, print the health rules a runbook answers (its `for`) and what an alert fills.
//!
//! Files are linted under their bare file name, so the expected text reads
//! `bad-regex.toml:7:9: …` wherever the repository is checked out. After changing a message on
//! purpose, run with `FLEETDECK_BLESS=1` to rewrite the `.expected` files, then review the diff.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use fleetdeck::runbook::{
    AccessRole, HostInfo, Input, InputType, LintError, RunContext, ServiceOps, Session, lint,
    plan_dry_run, shipped,
};
use support::fixtures::{Expect, Fixture, run_dir, toml_files};

fn root() -> &'static Path {
    support::repo_root()
}

/// Lints a fixture under its bare file name: every problem, one per line, or `Ok` when clean.
fn lint_fixture(f: &Fixture) -> Result<(), String> {
    let errors = lint(&f.text, &f.name);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(joined(&errors))
    }
}

fn joined(errors: &[LintError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_shipped_runbook_lints_clean() {
    run_dir(&root().join("runbooks"), Expect::Valid, 8, lint_fixture);
}

#[test]
fn every_file_in_runbooks_is_embedded_in_the_binary() {
    let on_disk: Vec<String> = toml_files(&root().join("runbooks"))
        .iter()
        .map(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    let embedded: Vec<String> = shipped().iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(on_disk, embedded);
    for (name, text) in shipped() {
        let disk = std::fs::read_to_string(root().join("runbooks").join(format!("{name}.toml")))
            .expect("shipped runbook on disk");
        assert_eq!(&disk, text, "{name}: embedded text differs from the file");
    }
}

#[test]
fn every_shipped_runbook_names_its_manual_and_section() {
    let manual = regex::Regex::new(r"\b00[0-4]_[0-9a-f]{16}\.txt\b").expect("regex");
    for (name, text) in shipped() {
        let rb = fleetdeck::runbook::parse(text, &format!("{name}.toml"))
            .unwrap_or_else(|e| panic!("{}", joined(&e)));
        let source = rb.source.unwrap_or_default();
        assert!(
            manual.is_match(&source),
            "{name}: `source` names no manual file: {source:?}"
        );
        assert!(
            source.contains('§'),
            "{name}: `source` names no section: {source:?}"
        );
        for step in &rb.steps {
            assert_ne!(
                step.title, step.id,
                "{name}: step `{}` has no title",
                step.id
            );
        }
    }
}

/// A fleet where every service has every command template, as an inventory would give it.
fn sample_fleet() -> Vec<HostInfo> {
    let ops = |svc: &str| ServiceOps {
        start: Some(format!("systemctl start {svc}")),
        stop: Some(format!("systemctl stop {svc}")),
        restart: Some(format!("systemctl restart {svc}")),
        version: Some(format!("{svc} --version")),
        upgrade: Some(format!("/opt/{svc}/switch {{{{version}}}}")),
        rollback: Some(format!("/opt/{svc}/switch --previous")),
    };
    (1..=4)
        .map(|i| HostInfo {
            name: format!("node-{i}"),
            address: format!("10.0.0.{i}"),
            consensus_group: Some("group0".into()),
            consensus: true,
            chain: true,
            services: ["dvn", "geth", "fisco", "postgres"]
                .iter()
                .map(|s| ((*s).to_owned(), ops(s)))
                .collect(),
        })
        .collect()
}

fn sample_value(input: &Input) -> String {
    let (name, kind, choices) = (input.name.as_str(), input.kind, &input.choices);
    if input.pattern.as_deref().is_some_and(|p| p.starts_with('/')) {
        return "/srv/sample".into();
    }
    match (name, kind) {
        ("node_id", _) => "ab".repeat(64),
        ("version", _) => "1.2.3".into(),
        ("service", _) => "dvn".into(),
        (_, InputType::Host) => "node-4".into(),
        (_, InputType::Int) => "7".into(),
        (_, InputType::Bool) => "true".into(),
        (_, InputType::Duration) => "30s".into(),
        (_, InputType::Choice) => choices.first().cloned().unwrap_or_default(),
        _ if name.contains("url") => "https://hooks.example/x".into(),
        _ if name.contains("dir") || name.contains("file") => "/srv/sample".into(),
        _ => "sample".into(),
    }
}

#[test]
fn every_command_of_every_shipped_runbook_renders() {
    for (name, text) in shipped() {
        let rb = fleetdeck::runbook::parse(text, &format!("{name}.toml"))
            .unwrap_or_else(|e| panic!("{}", joined(&e)));
        let inputs: BTreeMap<String, String> = rb
            .inputs
            .iter()
            .filter(|i| i.default.is_none())
            .map(|i| (i.name.clone(), sample_value(i)))
            .collect();
        let ctx = RunContext {
            fleet: sample_fleet(),
            targets: vec!["node-1".into(), "node-2".into(), "node-3".into()],
            inputs,
            health: BTreeMap::new(),
            session: Session {
                operator: "test".into(),
                role: AccessRole::Admin,
                readonly: false,
                interactive: true,
            },
            now: UNIX_EPOCH + Duration::from_secs(1_790_000_000),
            height_lag: 5,
        };
        let plan = plan_dry_run(&rb, &ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
        let broken: Vec<String> = plan
            .iter()
            .filter_map(|p| {
                p.command
                    .as_ref()
                    .err()
                    .map(|e| format!("{} {}: {e}", name, p.step))
            })
            .collect();
        assert!(broken.is_empty(), "{}", broken.join("\n"));
        assert!(
            !plan.is_empty() || *name == "p0-response",
            "{name}: no commands at all"
        );
    }
}

#[test]
fn valid_fixtures_lint_clean() {
    let dir = root().join("tests/fixtures/runbooks/valid");
    run_dir(&dir, Expect::Valid, 1, lint_fixture);
}

#[test]
fn invalid_fixtures_fail_with_the_expected_messages() {
    let dir = root().join("tests/fixtures/runbooks/invalid");
    run_dir(&dir, Expect::Invalid, 20, lint_fixture);
}

/// Issue 17: a runbook says what it fixes, and the headless listing says so too.
#[test]
fn list_and_show_print_the_rules_a_runbook_answers() {
    let home = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(support::fleetdeck_bin())
            .args(args)
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_STATE_HOME", home.path().join("state"))
            .env_remove("FLEETDECK_CONFIG")
            .env("FLEETDECK_LOG", "off")
            .output()
            .expect("run fleetdeck");
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let list = run(&["runbook", "list"]);
    let line = |name: &str| {
        list.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} not listed:\n{list}"))
            .to_owned()
    };
    assert!(
        line("troubleshoot").ends_with("[for service_down]"),
        "{list}"
    );
    assert!(!line("daily-check").contains("[for"), "{list}");
    let show = run(&["runbook", "show", "troubleshoot"]);
    assert!(
        show.contains("for (health rules it answers):\n  service_down "),
        "{show}"
    );
    assert!(show.contains("  service ← alert.subject\n"), "{show}");
    assert!(show.contains("  log_name ← service.log_name\n"), "{show}");
    let show = run(&["runbook", "show", "backup"]);
    assert!(show.contains("  backup_dir ← backup.dir\n"), "{show}");
    let show = run(&["runbook", "show", "cert-rotation"]);
    assert!(show.contains("  conf_dir ← cert.dir\n"), "{show}");
}

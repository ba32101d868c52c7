//! The conventions a command-line user expects, through the real binary (issue 14, item 4):
//! completions that a real bash loads, a man page that `man -l` renders, `--json` on every
//! command that lists or checks, and `--color` with `NO_COLOR` / `CLICOLOR_FORCE`.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use fleetdeck::audit::{Actor, AuditEntry, AuditLog};

/// A command in a sandbox: its own state and config directories, no agent, no log noise, no
/// colour variables inherited from the caller's environment.
fn fleetdeck(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(support::fleetdeck_bin());
    cmd.args(args)
        .current_dir(home)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("FLEETDECK_CONFIG")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE")
        .env("HOME", home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("FLEETDECK_LOG", "off")
        .stdin(Stdio::null());
    cmd
}

fn run(mut cmd: Command) -> (Option<i32>, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run fleetdeck");
    (
        status.code(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn bash_loads_the_completion_script() {
    let home = tempfile::tempdir().unwrap();
    let (code, script, stderr) = run(fleetdeck(home.path(), &["completions", "bash"]));
    assert_eq!(code, Some(0), "{stderr}");
    let file = home.path().join("fleetdeck.bash");
    std::fs::write(&file, script).unwrap();
    // A real bash sources it and reports the completion it registered, then completes a
    // subcommand from its first letters the way readline would ask.
    let probe = format!(
        "source {} && complete -p fleetdeck && COMP_WORDS=(fleetdeck sta) COMP_CWORD=1 \
         COMP_LINE='fleetdeck sta' COMP_POINT=13 && _fleetdeck fleetdeck sta fleetdeck && \
         printf 'reply: %s\\n' \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &probe])
        .output()
        .expect("bash");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("complete") && text.contains(" fleetdeck"),
        "{text}"
    );
    assert!(text.contains("reply: status"), "{text}");
}

#[test]
fn every_completion_shell_is_generated_and_a_bad_one_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, script, stderr) = run(fleetdeck(home.path(), &["completions", shell]));
        assert_eq!(code, Some(0), "{shell}: {stderr}");
        assert!(script.contains("runbook"), "{shell}: {script}");
    }
    let (code, _, stderr) = run(fleetdeck(home.path(), &["completions", "tcsh"]));
    assert_eq!(code, Some(2), "{stderr}");
}

#[test]
fn man_renders_the_page_with_examples_and_environment() {
    let home = tempfile::tempdir().unwrap();
    let (code, roff, stderr) = run(fleetdeck(home.path(), &["man"]));
    assert_eq!(code, Some(0), "{stderr}");
    let page = home.path().join("fleetdeck.1");
    std::fs::write(&page, roff).unwrap();
    let out = Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("man");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for word in [
        "NAME",
        "SYNOPSIS",
        "fleetdeck-status(1)",
        "FLEETDECK_CONFIG",
        "NO_COLOR",
        "Examples:",
    ] {
        assert!(text.contains(word), "no {word} in:\n{text}");
    }
    // One page per command on request.
    let dir = home.path().join("man1");
    let (code, _, stderr) = run(fleetdeck(
        home.path(),
        &["man", "--dir", dir.to_str().unwrap()],
    ));
    assert_eq!(code, Some(0), "{stderr}");
    for page in [
        "fleetdeck.1",
        "fleetdeck-status.1",
        "fleetdeck-audit-verify.1",
    ] {
        assert!(dir.join(page).is_file(), "no {page}");
    }
}

#[test]
fn help_shows_examples_and_the_environment_it_reads() {
    let home = tempfile::tempdir().unwrap();
    let (code, text, stderr) = run(fleetdeck(home.path(), &["--help"]));
    assert_eq!(code, Some(0), "{stderr}");
    for word in [
        "Examples:",
        "Environment:",
        "FLEETDECK_CONFIG",
        "XDG_STATE_HOME",
        "--color",
    ] {
        assert!(text.contains(word), "no {word} in:\n{text}");
    }
}

#[test]
fn config_check_json_for_a_valid_and_an_invalid_inventory() {
    let home = tempfile::tempdir().unwrap();
    let good = home.path().join("fleet.toml");
    std::fs::write(
        &good,
        "[fleet]\nname = \"lab\"\n\n[[hosts]]\nname = \"n1\"\naddress = \"127.0.0.1\"\nport = 2222\n",
    )
    .unwrap();
    let (code, out, stderr) = run(fleetdeck(
        home.path(),
        &[
            "--config",
            good.to_str().unwrap(),
            "config",
            "check",
            "--json",
        ],
    ));
    assert_eq!(code, Some(0), "{stderr}");
    let doc = json(&out);
    assert_eq!(doc["valid"], true, "{doc:#}");
    assert_eq!(doc["fleet"]["name"], "lab", "{doc:#}");
    assert_eq!(doc["fleet"]["hosts"][0]["name"], "n1", "{doc:#}");
    assert_eq!(doc["fleet"]["hosts"][0]["port"], 2222, "{doc:#}");
    assert_eq!(doc["routes"][0]["host"], "n1", "{doc:#}");

    let bad = home.path().join("bad.toml");
    std::fs::write(&bad, "[fleet]\nname = \"lab\"\ninterval = 5\n").unwrap();
    let (code, out, _) = run(fleetdeck(
        home.path(),
        &[
            "--config",
            bad.to_str().unwrap(),
            "config",
            "check",
            "--json",
        ],
    ));
    assert_eq!(code, Some(2));
    let doc = json(&out);
    assert_eq!(doc["valid"], false, "{doc:#}");
    assert_eq!(doc["error"]["path"], bad.to_str().unwrap(), "{doc:#}");
    assert_eq!(doc["error"]["line"], 3, "{doc:#}");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("interval"),
        "{doc:#}"
    );
}

#[test]
fn runbook_list_and_show_json() {
    let home = tempfile::tempdir().unwrap();
    let (code, out, stderr) = run(fleetdeck(home.path(), &["runbook", "list", "--json"]));
    assert_eq!(code, Some(0), "{stderr}");
    let list = json(&out);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for name in ["troubleshoot", "p0-response", "restore", "rolling-upgrade"] {
        assert!(names.contains(&name), "{names:?}");
    }
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|e| e["origin"] == "shipped" && e["valid"] == true),
        "{list:#}"
    );

    let (code, out, stderr) = run(fleetdeck(
        home.path(),
        &["runbook", "show", "restore", "--json"],
    ));
    assert_eq!(code, Some(0), "{stderr}");
    let doc = json(&out);
    assert_eq!(doc["runbook"]["name"], "restore", "{doc:#}");
    assert!(!doc["runbook"]["steps"].as_array().unwrap().is_empty());
    assert!(
        !doc["dangerous_steps"].as_array().unwrap().is_empty(),
        "restore has dangerous steps: {doc:#}"
    );

    let (code, out, _) = run(fleetdeck(
        home.path(),
        &["runbook", "show", "no-such-runbook", "--json"],
    ));
    assert_eq!(code, Some(2));
    assert!(
        json(&out)["errors"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
}

#[test]
fn audit_verify_json_intact_and_tampered() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join("audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    let actor = Actor::new("alice", "operator", "127.0.0.1");
    for n in 0..3 {
        log.append(
            AuditEntry::new(&actor, "exec")
                .target(format!("h{n}"))
                .result("ok"),
        )
        .unwrap();
    }
    let verify = |home: &Path| {
        run(fleetdeck(
            home,
            &["audit", "verify", path.to_str().unwrap(), "--json"],
        ))
    };
    let (code, out, stderr) = verify(home.path());
    assert_eq!(code, Some(0), "{stderr}");
    let doc = json(&out);
    assert_eq!(doc["ok"], true, "{doc:#}");
    assert_eq!(doc["records"], 3, "{doc:#}");
    assert!(doc["problem"].is_null(), "{doc:#}");

    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"h1\"", "\"hX\"", 1)).unwrap();
    let (code, out, _) = verify(home.path());
    assert_eq!(code, Some(1));
    let doc = json(&out);
    assert_eq!(doc["ok"], false, "{doc:#}");
    assert_eq!(doc["problem"]["line"], 2, "{doc:#}");
    assert_eq!(doc["problem"]["kind"], "hash_mismatch", "{doc:#}");
}

/// `status` on the embedded default fleet (this machine), stdout a pipe.
fn status_table(home: &Path, color: Option<&str>, vars: &[(&str, &str)]) -> String {
    let mut args = vec!["status"];
    if let Some(c) = color {
        args.extend(["--color", c]);
    }
    let mut cmd = fleetdeck(home, &args);
    cmd.envs(vars.iter().copied());
    let (code, out, stderr) = run(cmd);
    assert!(matches!(code, Some(0..=3)), "{code:?} {stderr}");
    assert!(out.contains("HOST"), "{out}{stderr}");
    out
}

#[test]
fn color_follows_the_flag_no_color_and_clicolor_force() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let coloured = |s: &str| s.contains("\x1b[");
    assert!(
        !coloured(&status_table(h, None, &[])),
        "a pipe is not coloured"
    );
    assert!(coloured(&status_table(h, Some("always"), &[])));
    assert!(coloured(&status_table(h, None, &[("CLICOLOR_FORCE", "1")])));
    assert!(!coloured(&status_table(
        h,
        None,
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    )));
    assert!(!coloured(&status_table(
        h,
        Some("never"),
        &[("CLICOLOR_FORCE", "1")]
    )));
    assert!(coloured(&status_table(
        h,
        Some("always"),
        &[("NO_COLOR", "1")]
    )));
    let (code, _, stderr) = run(fleetdeck(h, &["--color", "sometimes", "status"]));
    assert_eq!(code, Some(2), "{stderr}");
}

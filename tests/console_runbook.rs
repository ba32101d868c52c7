//! Runbooks in the console, in a real terminal (tmux) against a real host: started from a host
//! with `x`, every kind of question answered in the runbook pane (a secret input, a choice
//! pre-selected by a check, a typed confirmation — wrong first — and a multi-line note), an
//! override that needs a reason, Ctrl-C at a confirmation suspending the run with nothing run,
//! and `:resume` finishing it in a new console. The audit log holds every decision and verifies;
//! the secret is nowhere on disk, and the console's Audit pane shows the run and an intact chain.

#[path = "runbook_drills/common.rs"]
mod common;
mod support;

use std::fs;
use std::time::Duration;

use common::{Drill, actions, field, files_under, records_of_run, runs_of};
use support::{FleetSpec, TestFleet, Tmux};

const WAIT: Duration = Duration::from_secs(30);

const PANE_DRILL: &str = r#"
name = "pane-drill"
title = "Console drill: check, decide, confirm, note"

[[inputs]]
name = "token"
prompt = "Drill token"
secret = true
pattern = "[A-Za-z0-9-]+"

[targets]
hosts = "*"

[[steps]]
id = "marker"
title = "Is the marker there?"
kind = "check"
command = "test -f \"$HOME/pane.marker\""
on_fail = "next"

[[steps]]
id = "decide"
title = "Marker present?"
kind = "choice"
question = "Is the marker present?"
from = "marker"
options = [
  { label = "present", goto = "note", when = "passed" },
  { label = "absent", goto = "make", when = "failed" },
]

[[steps]]
id = "make"
title = "Write the marker"
kind = "action"
dangerous = true
command = "cd \"$HOME\" && printf '%s' {{token}} | wc -c > pane.marker && echo written"

[[steps]]
id = "note"
title = "What the operator saw"
kind = "note"
text = "What did you see?"

[[steps]]
id = "done"
title = "Drill done"
kind = "end"
outcome = "success"
"#;

fn until(t: &Tmux, what: &str, pred: impl FnMut(&str) -> bool) -> String {
    t.wait_until(WAIT, pred)
        .unwrap_or_else(|screen| panic!("timed out waiting for {what}; screen:\n{screen}"))
}

fn console(d: &Drill) -> Tmux {
    let t = Tmux::start(&d.shell_line(&[]), 160, 45);
    until(&t, "the host polled", |s| s.contains("1/1 reachable"));
    t
}

#[test]
fn a_runbook_runs_in_the_console_pane_and_a_suspended_run_resumes_there() {
    let d = Drill::new(TestFleet::start(FleetSpec::hosts(1)));
    fs::write(d.own_runbooks().join("pane-drill.toml"), PANE_DRILL).unwrap();
    let secret = "pane-S3cret-4b1d";
    let home = d.fleet.host(0).home;
    let marker = home.join("pane.marker");

    // Run 1: from the host row with `x`; the palette offers the host as the target.
    let t = console(&d);
    t.send_keys(&["x"]);
    until(&t, "the palette offers the host", |s| {
        s.contains(":run ") && s.contains(":run pane-drill h1")
    });
    t.send_literal("pane-drill h1");
    t.send_keys(&["Enter"]);
    until(&t, "the secret input", |s| {
        s.contains("Drill token") && s.contains("(hidden)")
    });
    t.send_literal(secret);
    let screen = t.capture();
    assert!(!screen.contains(secret), "a secret is masked:\n{screen}");
    t.send_keys(&["Enter"]);
    let screen = until(&t, "the choice suggested by the check", |s| {
        s.contains("Is the marker present?") && s.contains("← suggested by the check")
    });
    let suggested = screen.lines().find(|l| l.contains("← suggested")).unwrap();
    assert!(suggested.contains("absent"), "{screen}");
    t.send_keys(&["Enter"]);
    until(&t, "the typed confirmation", |s| {
        s.contains("DANGEROUS step `make`") && s.contains("Type h1 to confirm")
    });
    // A wrong answer is refused and asked again; nothing runs.
    t.send_literal("h2");
    t.send_keys(&["Enter"]);
    until(&t, "the refusal of a wrong confirmation", |s| {
        s.contains("typed \"h2\"; type exactly \"h1\" to go on") && s.contains("Type h1 to confirm")
    });
    assert!(!marker.exists(), "nothing ran before the confirmation");
    t.send_literal("h1");
    t.send_keys(&["Enter"]);
    until(&t, "the note", |s| s.contains("What did you see?"));
    assert_eq!(
        fs::read_to_string(&marker).unwrap().trim(),
        secret.len().to_string(),
        "the command got the secret itself"
    );
    t.send_literal("marker was missing");
    t.send_keys(&["Enter"]);
    t.send_literal("wrote it");
    t.send_keys(&["C-s"]);
    let screen = until(&t, "the run's success", |s| s.contains("success:"));
    for step in ["marker", "decide", "make", "note", "done"] {
        assert!(screen.contains(step), "{step} on the path:\n{screen}");
    }
    assert!(screen.contains("→ absent"), "the decision taken:\n{screen}");

    // Run 2 from the palette: the check now passes; overriding its suggestion needs a reason.
    t.send_keys(&[":"]);
    t.send_literal("run pane-drill");
    t.send_keys(&["Enter"]);
    until(&t, "the secret input again", |s| s.contains("Drill token"));
    t.send_literal(secret);
    t.send_keys(&["Enter"]);
    until(&t, "the choice", |s| s.contains("Is the marker present?"));
    t.send_keys(&["2", "Enter"]);
    until(&t, "the reason for the override", |s| {
        s.contains("over the check's suggestion. Why?")
    });
    t.send_literal("drill: write it again");
    t.send_keys(&["Enter"]);
    until(&t, "the confirmation", |s| s.contains("Type h1 to confirm"));
    fs::remove_file(&marker).unwrap();
    // Ctrl-C leaves the console at the confirmation: the run is suspended, nothing ran.
    t.send_keys(&["C-c"]);
    t.wait_for_exit(WAIT);
    assert!(!marker.exists(), "an unconfirmed action never runs");

    let records = d.audit();
    let runs = runs_of(&records, "pane-drill");
    assert_eq!(runs.len(), 2, "{records:?}");
    let first = records_of_run(&records, &runs[0]);
    let acts = actions(&first);
    // The token was typed into the pane's inputs form before the run started (issue 17), so it
    // is recorded, masked, with `runbook.start` as a `--var` value is, not as an answer later.
    let start = first
        .iter()
        .find(|r| field(r, "action") == "runbook.start")
        .expect("the start audited");
    assert!(
        field(start, "reason").starts_with("inputs: token=") && !start.to_string().contains(secret),
        "{start}"
    );
    for a in ["decision", "confirm.mismatch", "confirm", "exec", "note"] {
        assert!(acts.iter().any(|x| x == a), "{a} audited: {acts:?}");
    }
    let second = records_of_run(&records, &runs[1]);
    let override_record = second
        .iter()
        .find(|r| field(r, "action") == "decision")
        .expect("the override audited");
    assert_eq!(
        field(override_record, "reason"),
        "overrode the pre-selection: drill: write it again",
        "{override_record}"
    );
    assert!(
        second.iter().any(|r| field(r, "action") == "interrupt"),
        "the suspension audited: {:?}",
        actions(&second)
    );
    assert!(
        !second
            .iter()
            .any(|r| field(r, "action") == "exec" && field(r, "step") == "make"),
        "the unconfirmed action never ran"
    );
    let saved = d.runs_dir().join(format!("{}.json", runs[1]));
    assert!(saved.is_file(), "the suspended run is saved");

    // A new console resumes it with `:resume ID`: the secret is asked again (never saved).
    let t = console(&d);
    t.send_keys(&[":"]);
    t.send_literal(&format!("resume {}", runs[1]));
    t.send_keys(&["Enter"]);
    until(&t, "the secret asked again", |s| s.contains("Drill token"));
    t.send_literal(secret);
    t.send_keys(&["Enter"]);
    until(&t, "the confirmation again", |s| {
        s.contains("Type h1 to confirm")
    });
    t.send_literal("h1");
    t.send_keys(&["Enter"]);
    until(&t, "the note", |s| s.contains("What did you see?"));
    t.send_keys(&["C-s"]);
    until(&t, "the resumed run's success", |s| s.contains("success:"));
    assert!(marker.exists(), "the resumed action ran");
    assert!(!saved.exists(), "a finished run is no longer saved");
    // The Audit pane shows the run's records, newest first, and that the chain verifies.
    t.send_keys(&[":"]);
    t.send_literal("pane audit");
    t.send_keys(&["Enter"]);
    let screen = until(&t, "the audit pane", |s| {
        s.contains("chain intact") && s.contains("runbook.finish")
    });
    assert!(screen.contains("pane-drill/make"), "{screen}");
    t.send_keys(&["q"]);
    t.wait_for_exit(WAIT);

    d.assert_audit_intact();
    common::assert_secret_absent(secret, &files_under(&d.state_home));
}

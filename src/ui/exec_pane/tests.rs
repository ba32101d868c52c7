//! The Exec pane without a terminal: which hosts a command runs on (marks, filter, current
//! host, `@GROUP`), the confirmations, refusals handed to the event loop, results regrouping
//! as they arrive, Ctrl-C, the history; snapshots of the pane with an odd host out; and the
//! launcher against this machine's local transport (cancel and the audit records).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;

use super::*;
use crate::exec::{NotRun, Ran};
use crate::inventory::{ConfigSource, load_fleet_from_str};
use crate::runbook::AccessRole;
use crate::transport::Transport;
use crate::ui::theme::Theme;

const T0: u64 = 1_800_000_000;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

const INVENTORY: &str = r#"
[fleet]
name = "web-prod"

[ui]
sort = "inventory"

[[hosts]]
name = "web-1"
address = "10.0.0.1"
groups = ["web"]

[[hosts]]
name = "web-2"
address = "10.0.0.2"
groups = ["web"]

[[hosts]]
name = "web-3"
address = "10.0.0.3"
groups = ["web"]

[[hosts]]
name = "web-4"
address = "10.0.0.4"
groups = ["web"]

[[hosts]]
name = "db-1"
address = "10.0.0.9"
groups = ["db"]
"#;

fn session(role: AccessRole, readonly: bool) -> Session {
    Session {
        operator: "alice".into(),
        role,
        readonly,
        interactive: true,
    }
}

fn app_as(role: AccessRole, readonly: bool) -> App {
    let fleet = load_fleet_from_str(INVENTORY, ConfigSource::Embedded).unwrap();
    let n = fleet.hosts.len();
    let mut app = App::new(
        Arc::new(fleet),
        (0..n).collect(),
        Theme::default_theme(),
        readonly,
    );
    app.set_operator("alice");
    app.enable_exec(session(role, readonly));
    app.on_tick(at(T0));
    app
}

fn app() -> App {
    app_as(AccessRole::Operator, false)
}

fn key(app: &mut App, code: KeyCode) -> Option<Action> {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl_c(app: &mut App) -> Option<Action> {
    app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL))
}

fn typing(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// `:LINE` Enter; returns what the last key asked of the event loop.
fn palette(app: &mut App, line: &str) -> Option<Action> {
    key(app, KeyCode::Char(':'));
    typing(app, line);
    key(app, KeyCode::Enter)
}

fn draw(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| app.render(f, at(T0 + 4))).unwrap();
    terminal
}

fn screen(t: &Terminal<TestBackend>) -> String {
    let buf = t.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn notice(app: &App) -> String {
    app.notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default()
}

fn ran(app: &App, name: &str, exit: u32, out: &str) -> HostResult {
    let index = app.fleet.hosts.iter().position(|h| h.name == name).unwrap();
    HostResult {
        index,
        name: name.into(),
        duration: Duration::from_millis(40),
        outcome: HostOutcome::Ran(Ran {
            exit_code: Some(exit),
            stdout: out.as_bytes().to_vec(),
            stderr: Vec::new(),
            dropped_bytes: 0,
        }),
    }
}

fn not_run(app: &App, name: &str, kind: NotRunKind, reason: &str) -> HostResult {
    let index = app.fleet.hosts.iter().position(|h| h.name == name).unwrap();
    HostResult {
        index,
        name: name.into(),
        duration: Duration::ZERO,
        outcome: HostOutcome::NotRun(NotRun {
            kind,
            reason: reason.into(),
        }),
    }
}

fn plan_hosts(app: &mut App) -> Vec<String> {
    match app.take_exec_request() {
        Some(ExecRequest::Start(a)) => a.plan().host_names(),
        Some(ExecRequest::Deny(_, r)) => panic!("refused: {}", r.reason),
        None => panic!("nothing asked of the event loop"),
    }
}

/// Marks every web host with Space (from the first row down), confirms `:exec uname -n` with
/// `y`, and feeds results: three alike, one odd, the database host unreachable (marked too).
fn app_with_grouped_results() -> App {
    let mut app = app();
    key(&mut app, KeyCode::Char('g'));
    for _ in 0..5 {
        key(&mut app, KeyCode::Char(' '));
    }
    assert_eq!(palette(&mut app, "exec uname -n; cat /etc/role"), None);
    assert!(app.exec_pane().asking(), "5 hosts: y/N first");
    typing(&mut app, "y");
    assert_eq!(key(&mut app, KeyCode::Enter), Some(Action::StartExec));
    assert_eq!(
        plan_hosts(&mut app),
        ["web-1", "web-2", "web-3", "web-4", "db-1"]
    );
    app.on_exec_msg(ExecMsg::Started(None), at(T0));
    for r in [
        ran(
            &app,
            "web-1",
            0,
            "web\nrole=frontend\nnginx 1.24\nuptime 3 days\n",
        ),
        ran(
            &app,
            "web-3",
            0,
            "web\nrole=frontend\nnginx 1.24\nuptime 3 days\n",
        ),
        ran(&app, "web-2", 2, "web\nrole=frontend\nnginx 1.22\n"),
        ran(
            &app,
            "web-4",
            0,
            "web\nrole=frontend\nnginx 1.24\nuptime 3 days\n",
        ),
        not_run(
            &app,
            "db-1",
            NotRunKind::Unreachable,
            "no SSH session with 10.0.0.9:22 within 3s",
        ),
    ] {
        app.on_exec_msg(ExecMsg::Result(r), at(T0 + 2));
    }
    app
}

#[test]
fn results_arriving_regroup_and_the_odd_host_is_drawn_apart() {
    let mut app = app_with_grouped_results();
    let run = app.exec_pane().run().unwrap();
    assert_eq!(run.progress(), (5, 5));
    let g = run.grouped();
    assert_eq!(g.groups.len(), 2);
    assert_eq!(g.groups[0].folded(), "web-[1,3-4]");
    assert_eq!(g.groups[1].folded(), "web-2");
    assert_eq!(g.missing[0].name, "db-1");
    assert!(run.active(), "not ended yet");
    for (w, h) in [(80, 24), (120, 40)] {
        let t = draw(&mut app, w, h);
        insta::assert_snapshot!(format!("exec_pane_odd_host_out_{w}x{h}"), t.backend());
    }
    // The odd host is in the theme's `exec.odd` colour, the majority is not.
    let t = draw(&mut app, 120, 40);
    let buf = t.backend().buffer();
    let text = screen(&t);
    let odd = app.theme.colour("exec.odd");
    let row_of = |needle: &str| {
        text.lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{text}")) as u16
    };
    let y = row_of("web-2 (1 host)");
    let x = text.lines().nth(y as usize).unwrap().find("web-2").unwrap() as u16;
    assert_eq!(buf[(x, y)].fg, odd);
    let y = row_of("web-[1,3-4]");
    let x = text.lines().nth(y as usize).unwrap().find("web-[").unwrap() as u16;
    assert_ne!(buf[(x, y)].fg, odd);
    assert!(text.contains("differs from the majority"), "{text}");

    app.on_exec_msg(
        ExecMsg::Ended {
            audit_errors: vec![],
        },
        at(T0 + 3),
    );
    let text = screen(&draw(&mut app, 120, 40));
    assert!(
        text.contains("done 5/5 done · 3s · 3 exited 0, 1 failed, 1 did not run"),
        "{text}"
    );
}

#[test]
fn enter_shows_a_groups_whole_output_and_esc_returns_without_leaving_the_pane() {
    let mut app = app_with_grouped_results();
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("… 1 more line (Enter shows all)"), "{text}");
    key(&mut app, KeyCode::Enter);
    let text = screen(&draw(&mut app, 120, 40));
    assert!(text.contains("uptime 3 days"), "{text}");
    assert!(text.contains("Esc back to the groups"), "{text}");
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.pane(), Pane::Exec);
    // The second group: j, Enter.
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Enter);
    let text = screen(&draw(&mut app, 120, 40));
    assert!(
        text.contains("nginx 1.22") && text.contains("exit 2"),
        "{text}"
    );
    key(&mut app, KeyCode::Esc);
    // Esc on the groups leaves the pane; the command is still there to come back to.
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.pane(), Pane::Fleet);
    assert!(app.pane_cycle().contains(&Pane::Exec));
    palette(&mut app, "pane exec");
    assert_eq!(app.pane(), Pane::Exec);
}

#[test]
fn ctrl_c_cancels_what_has_not_finished_and_the_pane_names_the_cancelled_hosts() {
    let mut app = app();
    palette(&mut app, "exec @web sleep 60");
    typing(&mut app, "y");
    assert_eq!(key(&mut app, KeyCode::Enter), Some(Action::StartExec));
    assert_eq!(plan_hosts(&mut app).len(), 4);
    app.on_exec_msg(ExecMsg::Started(None), at(T0));
    app.on_exec_msg(ExecMsg::Result(ran(&app, "web-2", 0, "")), at(T0 + 1));
    // Ctrl-C in the pane cancels; it does not quit.
    assert_eq!(ctrl_c(&mut app), None);
    assert_eq!(notice(&app), "cancelling web-[1,3-4]");
    for h in ["web-1", "web-3", "web-4"] {
        let r = not_run(
            &app,
            h,
            NotRunKind::Cancelled,
            "cancelled while running: its outcome is unknown",
        );
        app.on_exec_msg(ExecMsg::Result(r), at(T0 + 2));
    }
    app.on_exec_msg(
        ExecMsg::Ended {
            audit_errors: vec![],
        },
        at(T0 + 2),
    );
    let run = app.exec_pane().run().unwrap();
    assert_eq!(run.cancelled(), ["web-1", "web-3", "web-4"]);
    assert!(!run.active());
    let text = screen(&draw(&mut app, 120, 40));
    assert!(
        text.contains("Ctrl-C: cancelled web-[1,3-4] (3 hosts)"),
        "{text}"
    );
    assert!(text.contains("cancelled while running"), "{text}");
    // Once it is over, Ctrl-C says so instead of quitting.
    assert_eq!(ctrl_c(&mut app), None);
    assert_eq!(notice(&app), "no command is running (q quits)");
}

#[test]
fn marks_win_over_the_filter_which_wins_over_the_current_host_and_marks_survive_sorting() {
    let mut app = app();
    // Nothing marked, no filter: the selected row's host.
    palette(&mut app, "exec uptime");
    assert_eq!(plan_hosts(&mut app), ["web-1"], "one host: no question");
    assert_eq!(app.pane(), Pane::Exec);
    app.on_exec_msg(
        ExecMsg::Ended {
            audit_errors: vec![],
        },
        at(T0),
    );
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.pane(), Pane::Fleet);

    // A filter: every host it shows, said in the question.
    key(&mut app, KeyCode::Char('/'));
    typing(&mut app, "web-[23]");
    key(&mut app, KeyCode::Enter);
    palette(&mut app, "exec uptime");
    let text = screen(&draw(&mut app, 120, 40));
    assert!(
        text.contains("on 2 hosts (2 hosts shown by /web-[23]: web-[2-3])?"),
        "{text}"
    );
    typing(&mut app, "y");
    key(&mut app, KeyCode::Enter);
    assert_eq!(plan_hosts(&mut app), ["web-2", "web-3"]);
    app.on_exec_msg(
        ExecMsg::Ended {
            audit_errors: vec![],
        },
        at(T0),
    );
    palette(&mut app, "pane fleet");
    palette(&mut app, "filter");

    // Marks beat the filter; they follow the host, not the row, through a re-sort.
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char(' '));
    assert_eq!(app.marks().iter().copied().collect::<Vec<_>>(), [4]);
    key(&mut app, KeyCode::Char('o'));
    key(&mut app, KeyCode::Char('O'));
    let text = screen(&draw(&mut app, 120, 40));
    assert!(
        text.contains("● db-1") && text.contains("1 marked"),
        "{text}"
    );
    key(&mut app, KeyCode::Char('/'));
    typing(&mut app, "web");
    key(&mut app, KeyCode::Enter);
    palette(&mut app, "exec uptime");
    assert_eq!(plan_hosts(&mut app), ["db-1"]);
    app.on_exec_msg(
        ExecMsg::Ended {
            audit_errors: vec![],
        },
        at(T0),
    );
    // `@GROUP` beats everything.
    palette(&mut app, "exec @db uptime");
    assert_eq!(plan_hosts(&mut app), ["db-1"]);
    app.on_exec_msg(
        ExecMsg::Ended {
            audit_errors: vec![],
        },
        at(T0),
    );
    // `u` clears the marks.
    palette(&mut app, "pane fleet");
    key(&mut app, KeyCode::Char('u'));
    assert!(app.marks().is_empty());
    assert_eq!(notice(&app), "1 mark(s) cleared");
}

#[test]
fn a_dangerous_command_needs_the_typed_word_and_a_wrong_one_is_refused() {
    let mut app = app();
    palette(&mut app, "exec rm -rf /tmp/cache");
    assert!(app.exec_pane().asking());
    let text = screen(&draw(&mut app, 120, 40));
    assert!(
        text.contains("DANGEROUS") && text.contains("Type web-1 to confirm"),
        "{text}"
    );
    typing(&mut app, "web-2");
    assert_eq!(key(&mut app, KeyCode::Enter), Some(Action::StartExec));
    match app.take_exec_request() {
        Some(ExecRequest::Deny(_, r)) => assert!(r.reason.contains("did not match"), "{r}"),
        _ => panic!("a wrong word must be refused"),
    }
    assert!(notice(&app).starts_with("refused: typed confirmation did not match"));
    // Esc declines, and that is a refusal too (recorded, nothing runs).
    palette(&mut app, "exec rm -rf /tmp/cache");
    assert_eq!(key(&mut app, KeyCode::Esc), Some(Action::StartExec));
    assert!(matches!(
        app.take_exec_request(),
        Some(ExecRequest::Deny(..))
    ));
    // The right word runs it.
    palette(&mut app, "exec rm -rf /tmp/cache");
    typing(&mut app, "web-1");
    assert_eq!(key(&mut app, KeyCode::Enter), Some(Action::StartExec));
    assert_eq!(plan_hosts(&mut app), ["web-1"]);
}

#[test]
fn developers_and_auditors_are_refused_with_a_notice_and_read_only_has_no_exec() {
    for role in [AccessRole::Developer, AccessRole::Auditor] {
        let mut app = app_as(role, false);
        assert_eq!(palette(&mut app, "exec uptime"), Some(Action::StartExec));
        match app.take_exec_request() {
            Some(ExecRequest::Deny(plan, r)) => {
                assert_eq!(plan.host_names(), ["web-1"]);
                assert!(r.reason.contains("only operators and admins"), "{r}");
            }
            _ => panic!("{role:?} must be refused"),
        }
        assert!(
            notice(&app).starts_with("refused: alice is"),
            "{}",
            notice(&app)
        );
        assert!(!app.exec_pane().asking() && app.exec_pane().run().is_none());
    }
    let mut app = app_as(AccessRole::Admin, true);
    assert_eq!(key(&mut app, KeyCode::Char('!')), None);
    assert!(
        notice(&app).contains("read-only console"),
        "{}",
        notice(&app)
    );
    palette(&mut app, "exec uptime");
    assert!(app.take_exec_request().is_none());
    assert!(!app.keymap().has(Action::ExecPrompt));
}

#[test]
fn bang_opens_the_prompt_and_up_recalls_earlier_commands() {
    let mut app = app();
    palette(&mut app, "exec uptime");
    app.take_exec_request();
    app.on_exec_msg(
        ExecMsg::Ended {
            audit_errors: vec![],
        },
        at(T0),
    );
    palette(&mut app, "exec @db df -h");
    app.take_exec_request();
    app.on_exec_msg(
        ExecMsg::Ended {
            audit_errors: vec![],
        },
        at(T0),
    );
    assert_eq!(app.exec_pane().history(), ["uptime", "@db df -h"]);
    palette(&mut app, "pane fleet");
    assert_eq!(key(&mut app, KeyCode::Char('!')), Some(Action::ExecPrompt));
    let line = |app: &App| match &app.input {
        super::super::Input::Palette(p) => p.line.clone(),
        _ => panic!("palette closed"),
    };
    assert_eq!(line(&app), "exec ");
    key(&mut app, KeyCode::Up);
    assert_eq!(line(&app), "exec @db df -h");
    key(&mut app, KeyCode::Up);
    assert_eq!(line(&app), "exec uptime");
    key(&mut app, KeyCode::Up);
    assert_eq!(line(&app), "exec uptime", "the oldest stays");
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    assert_eq!(line(&app), "exec ");
}

#[test]
fn parse_exec_takes_a_group_and_the_command_as_typed() {
    use crate::ui::palette::{Candidates, Command, parse};
    let c = Candidates {
        groups: vec!["web".into()],
        ..Default::default()
    };
    assert_eq!(
        parse("exec  echo 'a  b' | wc -c", &c, false),
        Ok(Command::Exec {
            group: None,
            command: "echo 'a  b' | wc -c".into()
        })
    );
    assert_eq!(
        parse("exec @web uptime", &c, false),
        Ok(Command::Exec {
            group: Some("web".into()),
            command: "uptime".into()
        })
    );
    assert!(
        parse("exec @nope uptime", &c, false)
            .unwrap_err()
            .contains("no group")
    );
    assert!(parse("exec @web", &c, false).is_err());
    assert_eq!(
        parse("exec", &c, false),
        Err("`exec` needs a command".into())
    );
    assert_eq!(
        parse("exec uptime", &c, true),
        Err("read-only: `exec` is disabled".into())
    );
    assert_eq!(parse("unmark", &c, false), Ok(Command::Unmark));
}

// ---------------------------------------------------------------------------------------------
// The launcher on this machine (the local transport): cancel, and the records it leaves

const LOCAL: &str = r#"
[fleet]
name = "here"

[ssh]
command_timeout = "2m"

[[hosts]]
name = "a"
address = "localhost"
transport = "local"

[[hosts]]
name = "b"
address = "localhost"
transport = "local"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_launcher_streams_results_and_a_cancel_ends_the_hosts_still_running() {
    let dir = tempfile::tempdir().unwrap();
    let audit_path = dir.path().join("audit.jsonl");
    let fleet = Arc::new(load_fleet_from_str(LOCAL, ConfigSource::Embedded).unwrap());
    let transports = vec![
        Transport::Local(crate::transport::local::LocalHost::new()),
        Transport::Local(crate::transport::local::LocalHost::new()),
    ];
    let launcher = ExecLauncher {
        fleet: fleet.clone(),
        transports,
        audit_path: audit_path.clone(),
        session: session(AccessRole::Operator, false),
        history: None,
    };
    // One host, harmless: no question, the answer streams in.
    let plan = Plan::new(&fleet, CommandText::shell("echo quick"), &[0]);
    let mut pane = ExecPane::default();
    pane.starting(&plan, "host a".into(), at(T0));
    let approved = plan
        .approve(&launcher.session, ASKING, None)
        .expect("one host, harmless");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = launcher.spawn(approved, tx);
    while let Some(msg) = rx.recv().await {
        let end = matches!(msg, ExecMsg::Ended { .. } | ExecMsg::Failed(_));
        pane.on_msg(msg, at(T0 + 1));
        if end {
            break;
        }
    }
    handle.settle(Duration::from_secs(5)).await;
    let run = pane.run().unwrap();
    assert_eq!(run.progress(), (1, 1));
    assert_eq!(run.grouped().groups[0].stdout, b"quick\n");

    // Two hosts sleeping: Ctrl-C through the canceller the task sent.
    let plan = Plan::new(&fleet, CommandText::shell("sleep 60"), &[0, 1]);
    let approved = plan
        .clone()
        .approve(&launcher.session, ASKING, Some("y"))
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = launcher.spawn(approved, tx);
    let mut pane = ExecPane::default();
    pane.starting(&plan, "2 marked hosts".into(), at(T0));
    while let Some(msg) = rx.recv().await {
        let started = matches!(msg, ExecMsg::Started(_));
        let end = matches!(msg, ExecMsg::Ended { .. } | ExecMsg::Failed(_));
        pane.on_msg(msg, at(T0 + 1));
        if started {
            assert_eq!(pane.cancel(), Some(vec!["a".to_string(), "b".to_string()]));
        }
        if end {
            break;
        }
    }
    handle.settle(Duration::from_secs(5)).await;
    let run = pane.run().unwrap();
    assert_eq!(run.cancelled(), ["a", "b"]);
    assert!(!run.active());

    // Every exec has its result, the confirmation comes first, and the chain verifies.
    let text = std::fs::read_to_string(&audit_path).unwrap();
    let actions: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        actions,
        [
            "exec",
            "exec.result",
            "confirm",
            "exec",
            "exec",
            "exec.result",
            "exec.result"
        ]
    );
    let report = crate::audit::verify(&audit_path).unwrap();
    assert!(report.is_ok(), "{report:?}");
}

#[test]
fn a_long_dangerous_command_wraps_and_the_word_to_type_stays_on_screen() {
    let mut app = app();
    palette(
        &mut app,
        "exec systemctl stop nginx && journalctl -u nginx -n 200 --no-pager | tail -n 40",
    );
    for (w, h) in [(60, 15), (80, 24)] {
        let text = screen(&draw(&mut app, w, h));
        assert!(text.contains("Type web-1 to confirm"), "{text}");
        assert!(text.contains("›"), "{text}");
    }
}

#[test]
fn the_history_outlives_the_console_without_what_looks_like_a_credential() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleetdeck/exec_history");
    let mut app = app();
    app.keep_exec_history_in(path.clone());
    for line in ["exec uptime", "exec mysql --password hunter2 -e 'select 1'"] {
        palette(&mut app, line);
        app.take_exec_request();
        app.on_exec_msg(
            ExecMsg::Ended {
                audit_errors: vec![],
            },
            at(T0),
        );
    }
    assert_eq!(app.exec_pane().history().len(), 2, "both for this session");
    let mut next = app_as(AccessRole::Operator, false);
    next.keep_exec_history_in(path);
    assert_eq!(next.exec_pane().history(), ["uptime"]);
}

#[test]
fn closing_the_console_over_an_open_confirmation_declines_it() {
    let mut app = app();
    palette(&mut app, "exec @web uptime");
    assert!(app.exec_pane().asking());
    let (plan, refusal) = app.decline_open_exec().expect("an open question");
    assert_eq!(plan.host_names().len(), 4);
    assert_eq!(refusal.reason, "not confirmed: nothing was run");
    assert!(!app.exec_pane().asking());
    assert!(app.decline_open_exec().is_none());
}

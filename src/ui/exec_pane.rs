//! The Exec pane: ad-hoc commands from the console (`:exec COMMAND`, `!` on a row), their
//! confirmation, and their results streaming in, grouped like `clush -b`.
//!
//! The rules are the core's ([`crate::exec`]): this module picks the hosts (see
//! `App::exec_targets`: marks, else the hosts a `/` filter or `:group` shows, else the current
//! host; `@GROUP` names a group instead), asks the question the [`Plan`] names with the runbook
//! pane's confirmation widget ([`Question`]: a y/N for several hosts, the typed word for a
//! dangerous command), hands the approved plan to the event loop, and shows what arrives. A
//! refusal (role, read-only, a confirmation not given) is written as `denied` by the launcher.
//!
//! Three parts, as in the runbook pane, each on its own side of a channel so the UI never waits
//! on a host or on the audit log:
//! - [`ExecLauncher`] (in `launch`) runs an [`Approved`](crate::exec::Approved) command in a task of its own over the console's
//!   connections and sends [`ExecMsg`]s: started (with a [`Canceller`]), one result per host as it
//!   finishes (after its `exec.result` record), ended;
//! - [`ExecPane`] is what the console keeps: the open question, the command in flight or last
//!   run with its results regrouped as they arrive, the group whose whole output is open, and
//!   the history of commands (`↑` in the `:exec` prompt; kept on disk by [`history`](mod@history));
//! - the pane's rows and drawing ([`ExecRows`], in `draw`).
//!
//! Rooms: `launch` (the task and its messages), `draw` (drawing), [`history`](mod@history)
//! (the `:exec` history on disk), `tests`.
//!
//! Leaving the pane (Esc, Tab) does not stop the command: it keeps running and the pane shows it
//! again when reopened (`:pane exec`, Tab). Ctrl-C in the pane cancels what has not finished;
//! quitting the console cancels too, and waits (bounded) until every host's record is written.

mod draw;
pub mod history;
mod launch;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::SystemTime;

use crossterm::event::{KeyCode, KeyEvent};

use super::App;
use super::keymap::{Action, Context, Key, Lookup};
use super::panes::{Pane, PaneSpec};
use super::runbook_pane::Question;
use crate::exec::{
    self, Asking, Canceller, CommandText, Grouped, HostOutcome, HostResult, NotRunKind, Plan,
    Refusal,
};
use crate::runbook::{Effect, Event, InputType, Session};

pub use draw::ExecRows;
pub use launch::{ExecHandle, ExecLauncher, ExecMsg, ExecRequest};

/// The console always has a person at the keyboard, and `--yes` does not exist here.
const ASKING: Asking = Asking {
    interactive: true,
    yes: false,
};

/// Lines of each group's output shown under its host list (Enter shows all of it).
const PREVIEW_LINES: usize = 3;

/// Commands kept in the `:exec` history of a session.
const HISTORY: usize = 100;

/// The Exec pane in the registry: in the Tab cycle once a command was asked for.
pub const SPEC: PaneSpec = PaneSpec {
    pane: Pane::Exec,
    name: "exec",
    label: "Exec",
    context: Some(Context::Exec),
    shown: |app| app.exec.run.is_some() || app.exec.question.is_some(),
    build: |cx| Box::new(ExecRows(cx.app.exec.entries())),
    keys: Some(exec_keys),
};

// ---------------------------------------------------------------------------------------------
// What the console keeps

/// A confirmation waiting for the operator: the plan it guards and the widget it is typed in.
struct Pending {
    plan: Plan,
    /// Which hosts and why (`2 marked hosts`).
    scope: String,
    widget: Question,
}

/// Where a command stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Approved, its records being written.
    Starting,
    /// On the hosts.
    Running,
    /// Every host reported.
    Done,
    /// Nothing ran.
    Failed(String),
}

/// A command in flight or the last one run, and what came back.
pub struct ExecRun {
    command: String,
    scope: String,
    hosts: Vec<String>,
    results: Vec<HostResult>,
    grouped: Grouped,
    started: SystemTime,
    ended: Option<SystemTime>,
    phase: Phase,
    canceller: Option<Canceller>,
    cancel_asked: bool,
    audit_errors: Vec<String>,
}

impl ExecRun {
    fn new(plan: &Plan, scope: String, now: SystemTime) -> ExecRun {
        ExecRun {
            command: plan.command().shown().to_owned(),
            scope,
            hosts: plan.host_names(),
            results: Vec::new(),
            grouped: Grouped::default(),
            started: now,
            ended: None,
            phase: Phase::Starting,
            canceller: None,
            cancel_asked: false,
            audit_errors: Vec::new(),
        }
    }

    /// The command as shown (credentials masked).
    pub fn command(&self) -> &str {
        &self.command
    }

    /// How many hosts reported, of how many.
    pub fn progress(&self) -> (usize, usize) {
        (self.results.len(), self.hosts.len())
    }

    /// The results so far, grouped.
    pub fn grouped(&self) -> &Grouped {
        &self.grouped
    }

    /// Whether the command is still on its way or on the hosts.
    pub fn active(&self) -> bool {
        matches!(self.phase, Phase::Starting | Phase::Running)
    }

    /// Hosts cancelled by the operator (named from the results: a host that finished just
    /// before the Ctrl-C keeps its real answer).
    pub fn cancelled(&self) -> Vec<String> {
        let mut hosts: Vec<(usize, String)> = self
            .results
            .iter()
            .filter(
                |r| matches!(&r.outcome, HostOutcome::NotRun(n) if n.kind == NotRunKind::Cancelled),
            )
            .map(|r| (r.index, r.name.clone()))
            .collect();
        hosts.sort();
        hosts.into_iter().map(|(_, n)| n).collect()
    }

    /// Hosts that have not reported yet, inventory order.
    pub fn waiting(&self) -> Vec<String> {
        let done: BTreeSet<&str> = self.results.iter().map(|r| r.name.as_str()).collect();
        self.hosts
            .iter()
            .filter(|h| !done.contains(h.as_str()))
            .cloned()
            .collect()
    }
}

/// The group or host whose whole output is open, and how far it is scrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Detail {
    entry: usize,
    scroll: u16,
}

/// What the console keeps of ad-hoc commands.
#[derive(Default)]
pub struct ExecPane {
    question: Option<Pending>,
    run: Option<ExecRun>,
    detail: Option<Detail>,
    history: Vec<String>,
    /// The history's file ([`history`](mod@history)); `None`: kept for the session only.
    history_file: Option<PathBuf>,
}

impl ExecPane {
    /// The command in flight or last run.
    pub fn run(&self) -> Option<&ExecRun> {
        self.run.as_ref()
    }

    /// Whether a confirmation is open.
    pub fn asking(&self) -> bool {
        self.question.is_some()
    }

    /// Whether a command is in flight.
    pub fn busy(&self) -> bool {
        self.run.as_ref().is_some_and(ExecRun::active)
    }

    /// Earlier `:exec` lines of this session, oldest first.
    pub fn history(&self) -> &[String] {
        &self.history
    }

    /// Keeps the history in `path` too: loads what it holds now (a file that cannot be read
    /// is logged and the history starts empty).
    pub fn keep_history_in(&mut self, path: PathBuf) {
        match history::load(&path) {
            Ok(lines) => self.history = lines,
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "exec history not read"),
        }
        self.history_file = Some(path);
    }

    /// Remembers a typed `:exec` argument (the same line twice in a row is kept once), and
    /// appends it to the history's file unless it looks like it holds a credential. A small
    /// append, done here: the file is private to this operator and never locked.
    pub fn remember(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() || self.history.last().is_some_and(|l| l == line) {
            return;
        }
        if self.history.len() == HISTORY {
            self.history.remove(0);
        }
        self.history.push(line.to_owned());
        if let Some(path) = &self.history_file
            && let Err(e) = history::append(path, line)
        {
            tracing::warn!(path = %path.display(), error = %e, "exec history not written");
        }
    }

    /// Rows the selection moves through: each group, then each host that did not run it.
    fn entries(&self) -> usize {
        self.run
            .as_ref()
            .map_or(0, |r| r.grouped.groups.len() + r.grouped.missing.len())
    }

    fn ask(&mut self, plan: Plan, question: exec::Question, scope: String) {
        let widget = Question::new(ask_effect(&plan, &question, &scope), None);
        self.question = Some(Pending {
            plan,
            scope,
            widget,
        });
    }

    fn starting(&mut self, plan: &Plan, scope: String, now: SystemTime) {
        self.run = Some(ExecRun::new(plan, scope, now));
        self.detail = None;
    }

    /// Folds in a message of the command's task.
    pub fn on_msg(&mut self, msg: ExecMsg, now: SystemTime) {
        let Some(run) = &mut self.run else { return };
        match msg {
            ExecMsg::Started(canceller) => {
                run.phase = Phase::Running;
                // A Ctrl-C that came before the command had left is carried out now.
                if run.cancel_asked
                    && let Some(c) = &canceller
                {
                    c.cancel();
                }
                run.canceller = canceller;
            }
            ExecMsg::Result(r) => {
                run.results.retain(|x| x.index != r.index);
                run.results.push(r);
                run.grouped = exec::group(&run.results);
            }
            ExecMsg::Ended { audit_errors } => {
                run.phase = Phase::Done;
                run.ended = Some(now);
                run.canceller = None;
                run.audit_errors = audit_errors;
            }
            ExecMsg::Failed(why) => {
                run.phase = Phase::Failed(why);
                run.ended = Some(now);
                run.canceller = None;
            }
            ExecMsg::Notice { .. } => {}
        }
    }

    /// Ctrl-C: cancels what has not finished. Returns the hosts not reported yet, or `None`
    /// when nothing runs.
    pub fn cancel(&mut self) -> Option<Vec<String>> {
        let run = self.run.as_mut().filter(|r| r.active())?;
        run.cancel_asked = true;
        if let Some(c) = &run.canceller {
            c.cancel();
        }
        Some(run.waiting())
    }
}

/// The question as the runbook pane's widget asks it: the typed word of a dangerous command
/// (an `AskConfirm`, as a dangerous step asks), or a y/N line for several hosts.
fn ask_effect(plan: &Plan, question: &exec::Question, scope: &str) -> Effect {
    let hosts = exec::hostlist::fold(&plan.host_names());
    let command = plan.command().shown().to_owned();
    match question {
        exec::Question::Typed {
            expected, pattern, ..
        } => Effect::AskConfirm {
            step: String::new(),
            expected: expected.clone(),
            summary: format!("`{command}` matches {pattern:?} of the danger list, on {scope}"),
            commands: vec![(hosts, command)],
            error: None,
        },
        exec::Question::YesNo { hosts: n } => Effect::AskInput {
            name: "confirm".into(),
            prompt: format!("Run `{command}` on {n} hosts ({scope}: {hosts})?"),
            kind: InputType::String,
            secret: false,
            choices: vec!["y".into(), "N".into()],
            default: None,
            error: None,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// The console's side: picking hosts, asking, starting, cancelling

impl App {
    /// Lets this console run ad-hoc commands as `session` (the launcher lives in the event loop).
    pub fn enable_exec(&mut self, session: Session) {
        self.exec_session = Some(session);
    }

    /// Keeps the `:exec` history in `path` between consoles (loaded now).
    pub fn keep_exec_history_in(&mut self, path: PathBuf) {
        self.exec.keep_history_in(path);
    }

    /// The Exec pane's state.
    pub fn exec_pane(&self) -> &ExecPane {
        &self.exec
    }

    /// Hosts marked with Space (inventory indices).
    pub fn marks(&self) -> &BTreeSet<usize> {
        &self.marks
    }

    /// What the operator asked the event loop to do with an ad-hoc command.
    pub fn take_exec_request(&mut self) -> Option<ExecRequest> {
        self.exec_request.take()
    }

    /// Folds in a message of the command's task.
    pub fn on_exec_msg(&mut self, msg: ExecMsg, now: SystemTime) {
        match &msg {
            ExecMsg::Notice { text, error } => self.notify(text.clone(), *error),
            ExecMsg::Failed(why) => self.notify(why.clone(), true),
            ExecMsg::Ended { .. } if self.pane != Pane::Exec => {
                self.notify("the command finished (Exec pane)", false);
            }
            _ => {}
        }
        self.exec.on_msg(msg, now);
        self.invalidate();
    }

    /// Space on the fleet table: marks the selected host, or unmarks it, and moves on.
    pub(super) fn toggle_mark(&mut self) {
        let Some(h) = self.selected_fleet_host() else {
            self.notify("select a host first", true);
            return;
        };
        if !self.marks.remove(&h) {
            self.marks.insert(h);
        }
        self.move_selection(1);
        self.invalidate();
    }

    /// `u`, `:unmark`: forgets every mark.
    pub(super) fn clear_marks(&mut self) {
        let n = self.marks.len();
        self.marks.clear();
        self.invalidate();
        self.notify(
            match n {
                0 => "no host is marked".to_owned(),
                n => format!("{n} mark(s) cleared"),
            },
            false,
        );
    }

    /// `!`: the palette on `exec `.
    pub(super) fn open_exec_prompt(&mut self) {
        self.input = super::Input::Palette(super::palette::Palette::with_line(
            "exec ",
            &self.candidates(),
            self.readonly,
        ));
    }

    /// The hosts a command typed now runs on, and how they were chosen: `@GROUP` when given;
    /// else the marked hosts; else, with no host looked at, every host the fleet table shows when
    /// a `/` filter or `:group` narrows it; else the host looked at or the selected row's.
    pub(super) fn exec_targets(
        &mut self,
        group: Option<&str>,
    ) -> Result<(Vec<usize>, String), String> {
        if let Some(g) = group {
            let hosts: Vec<usize> = self
                .fleet
                .select(None, Some(g))?
                .into_iter()
                .filter(|h| self.selected.contains(h))
                .collect();
            let n = hosts.len();
            return Ok((hosts, format!("group {g}, {n} host{}", plural(n))));
        }
        if !self.marks.is_empty() {
            let n = self.marks.len();
            return Ok((
                self.marks.iter().copied().collect(),
                format!("{n} marked host{}", plural(n)),
            ));
        }
        if self.host.is_none() && (self.query.filter.is_some() || self.query.group.is_some()) {
            self.ensure_model();
            let m = self.model.as_ref().expect("ensured");
            let hosts: Vec<usize> = m
                .lines
                .iter()
                .filter_map(|l| match l {
                    crate::view::FleetLine::Host(k) => m.rows.get(*k).map(|r| r.host),
                    crate::view::FleetLine::Group { .. } => None,
                })
                .collect();
            let mut how = Vec::new();
            if let Some(f) = &self.query.filter {
                how.push(format!("/{}", f.text()));
            }
            if let Some(g) = &self.query.group {
                how.push(format!("group {g}"));
            }
            let n = hosts.len();
            return Ok((
                hosts,
                format!("{n} host{} shown by {}", plural(n), how.join(" and ")),
            ));
        }
        let host = self
            .host
            .or_else(|| self.selected_host())
            .or_else(|| self.selected_fleet_host())
            .ok_or("select a host, mark some with Space, or filter with /")?;
        Ok((vec![host], format!("host {}", self.fleet.hosts[host].name)))
    }

    /// `:exec [@GROUP] COMMAND`: picks the hosts, then asks what the plan needs, refuses, or
    /// hands the approved command to the event loop.
    pub(super) fn request_exec(&mut self, group: Option<String>, text: String) -> Option<Action> {
        let Some(session) = self.exec_session.clone() else {
            self.notify("this console runs no commands", true);
            return None;
        };
        self.exec.remember(&match &group {
            Some(g) => format!("@{g} {text}"),
            None => text.clone(),
        });
        if self.exec.busy() || self.exec.asking() {
            self.notify(
                "a command is still running or asking: Ctrl-C in the Exec pane cancels it",
                true,
            );
            self.pane = Pane::Exec;
            return None;
        }
        let (targets, scope) = match self.exec_targets(group.as_deref()) {
            Ok(t) => t,
            Err(e) => {
                self.notify(e, true);
                return None;
            }
        };
        if targets.is_empty() {
            self.notify(format!("no host to run it on ({scope})"), true);
            return None;
        }
        let plan = Plan::new(&self.fleet, CommandText::shell(&text), &targets);
        match plan.question(&session, ASKING) {
            Err(refusal) => self.refuse_exec(plan, refusal),
            Ok(None) => self.approve_exec(plan, scope, None),
            Ok(Some(question)) => {
                self.exec.ask(plan, question, scope);
                self.pane = Pane::Exec;
                self.invalidate();
                None
            }
        }
    }

    fn refuse_exec(&mut self, plan: Plan, refusal: Refusal) -> Option<Action> {
        self.notify(format!("refused: {}", refusal.reason), true);
        self.exec_request = Some(ExecRequest::Deny(Box::new(plan), refusal));
        Some(Action::StartExec)
    }

    /// The answer to the open question (`None`: declined), checked again by the core.
    fn approve_exec(&mut self, plan: Plan, scope: String, answer: Option<&str>) -> Option<Action> {
        let session = self.exec_session.clone()?;
        match plan.clone().approve(&session, ASKING, answer) {
            Ok(approved) => {
                self.exec.starting(&plan, scope, self.now);
                self.sels.remove(&Pane::Exec);
                self.pane = Pane::Exec;
                self.invalidate();
                self.exec_request = Some(ExecRequest::Start(Box::new(approved)));
                Some(Action::StartExec)
            }
            Err(refusal) => self.refuse_exec(plan, refusal),
        }
    }

    /// The console is closing: an open confirmation counts as declined (nothing ran), as end
    /// of input does for `fleetdeck exec`. Returns the plan and the core's refusal to record.
    pub fn decline_open_exec(&mut self) -> Option<(Plan, Refusal)> {
        let p = self.exec.question.take()?;
        let session = self.exec_session.clone()?;
        match p.plan.clone().approve(&session, ASKING, None) {
            Err(refusal) => Some((p.plan, refusal)),
            // No question is answered by nothing: cannot happen, and nothing starts here.
            Ok(_) => None,
        }
    }

    /// Ctrl-C in the pane.
    fn cancel_exec(&mut self) {
        match self.exec.cancel() {
            None => self.notify("no command is running (q quits)", false),
            Some(waiting) if waiting.is_empty() => {
                self.notify("every host has already answered", false);
            }
            Some(waiting) => self.notify(
                format!("cancelling {}", exec::hostlist::fold(&waiting)),
                false,
            ),
        }
        self.invalidate();
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The pane's keys before the key map's: an open confirmation takes them all (Esc and Ctrl-C
/// decline it, Tab leaves it open); an open output scrolls; else the pane's own bindings
/// ([`Context::Exec`]: Enter, Ctrl-C) come first, so Ctrl-C cancels here instead of quitting.
fn exec_keys(app: &mut App, key: KeyEvent) -> bool {
    if app.exec.question.is_some() {
        if Key::Tab.matches(&key) || Key::BackTab.matches(&key) {
            return false;
        }
        let answer = if Key::Esc.matches(&key) || Key::Ctrl('c').matches(&key) {
            Some(None)
        } else {
            let p = app.exec.question.as_mut().expect("open");
            p.widget.on_key(key).map(|event| match event {
                Event::Confirmed { typed } => Some(typed),
                Event::InputGiven { value, .. } => Some(value),
                _ => None,
            })
        };
        if let Some(answer) = answer {
            let p = app.exec.question.take().expect("open");
            app.approve_exec(p.plan, p.scope, answer.as_deref());
        }
        app.invalidate();
        return true;
    }
    if let Some(d) = &mut app.exec.detail {
        let page = 10;
        let handled = match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                d.scroll = d.scroll.saturating_add(1);
                true
            }
            KeyCode::Up | KeyCode::Char('k') => {
                d.scroll = d.scroll.saturating_sub(1);
                true
            }
            KeyCode::PageDown => {
                d.scroll = d.scroll.saturating_add(page);
                true
            }
            KeyCode::PageUp => {
                d.scroll = d.scroll.saturating_sub(page);
                true
            }
            KeyCode::Char('g') | KeyCode::Home => {
                d.scroll = 0;
                true
            }
            KeyCode::Esc | KeyCode::Enter => {
                app.exec.detail = None;
                true
            }
            _ => false,
        };
        if handled {
            app.invalidate();
            return true;
        }
    }
    match app.keymap.lookup(&key, &[Context::Exec]) {
        Lookup::Action(Action::CancelExec) => {
            app.cancel_exec();
            true
        }
        Lookup::Action(Action::ShowOutput) => {
            if app.exec.entries() > 0 {
                app.exec.detail = Some(Detail {
                    entry: app.selected_row(),
                    scroll: 0,
                });
                app.invalidate();
            }
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;

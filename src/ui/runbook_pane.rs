//! The console's runbook pane: a run of the runbook engine driven from the console, over the
//! console's own persistent connections, with its questions answered in the pane.
//!
//! Three parts, each on its own side of a channel so the executor never touches the terminal and
//! the drawing never waits on a host:
//! - [`RunbookLauncher`] starts (`:run NAME [HOSTS]`, `x` on a host) or resumes (`:resume ID`) a
//!   run in a task of its own: the same [`Executor`] as `fleetdeck run`, so audit, typed
//!   confirmations, quorum guard, roles and suspension behave exactly as headless;
//! - [`PaneFrontend`] is that task's [`Frontend`]: it turns progress into [`RunbookMsg`]s and
//!   parks each question until the operator answers it in the pane;
//! - [`RunbookPane`] is what the console keeps: the last [`RunView`] (step list, path taken with
//!   per-host results, timers), the progress log, and the open [`Question`] with its editor.
//!
//! Secrets never reach this module: the engine masks them in records, inputs and displayed
//! commands, and a secret input is typed into a masked editor whose text goes straight into the
//! answer.
//!
//! The rooms: `launch` (the run's task and what it sends: [`RunbookLauncher`], [`PaneFrontend`],
//! [`RunbookMsg`], [`RunView`]), `question` (an open [`Question`]: its keys, its answer and its
//! lines), `draw` (drawing the pane); this file keeps the pane's registration and its state.
//!
//! [`Executor`]: crate::executor::Executor
//! [`Frontend`]: crate::executor::Frontend

mod draw;
mod launch;
mod question;

use std::collections::VecDeque;
use std::time::SystemTime;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;

use super::keymap::{Context, Key};
use super::panes::{Pane, PaneContent, PaneSpec};
use super::theme::Theme;
use super::{App, Model};

pub use launch::{
    PaneFrontend, RunHandle, RunStart, RunView, RunbookLauncher, RunbookMsg, StepLine,
};
pub use question::Question;

/// Progress lines kept for the pane (older ones scroll away; the audit log keeps everything).
const LOG_LINES: usize = 200;

/// The runbook pane in the registry: in consoles that run runbooks.
pub const SPEC: PaneSpec = PaneSpec {
    pane: Pane::Runbook,
    name: "runbook",
    label: "Runbook",
    context: Some(Context::Runbook),
    shown: |app| app.runbooks.is_some(),
    build: |cx| Box::new(PathRows(cx.app.runbook.path_len())),
    keys: Some(question_keys),
};

/// An open question of the runbook owns the keyboard in its pane, except for leaving the pane
/// and quitting (which suspends the run, resumably).
fn question_keys(app: &mut App, key: KeyEvent) -> bool {
    if app.runbook.question().is_none() {
        return false;
    }
    let leaves = [Key::Tab, Key::BackTab, Key::Ctrl('c')]
        .iter()
        .any(|k| k.matches(&key));
    if leaves {
        return false;
    }
    app.runbook.question_key(key);
    app.invalidate();
    true
}

/// The pane's rows: the run's path, by its number of steps (the run itself lives in
/// [`RunbookPane`], which the console keeps across frames).
pub struct PathRows(usize);

impl PaneContent for PathRows {
    fn len(&self, _: &Model) -> usize {
        self.0
    }

    fn host_at(&self, _: &Model, _: usize) -> Option<usize> {
        None
    }

    fn render(&self, app: &mut App, _: &Model, frame: &mut Frame, area: Rect, hints: String) {
        if let Some(form) = &app.run_form {
            form.render(frame, area, &app.theme);
            return;
        }
        let sel = app.sels.entry(Pane::Runbook).or_default();
        let catalog = app.runbooks.as_deref().unwrap_or_default();
        app.runbook.render(
            frame,
            area,
            sel,
            PaneDraw {
                theme: &app.theme,
                hints,
                catalog,
                now: app.now,
            },
        );
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// What drawing the pane needs from the console.
pub struct PaneDraw<'a> {
    /// Colours.
    pub theme: &'a Theme,
    /// Key hints for the border.
    pub hints: String,
    /// Runbooks that can be started (shown when none runs).
    pub catalog: &'a [(String, String)],
    /// The clock, for timers.
    pub now: SystemTime,
}

/// What the console keeps of the run in its pane.
#[derive(Default)]
pub struct RunbookPane {
    run_id: Option<String>,
    view: Option<RunView>,
    log: VecDeque<String>,
    question: Option<Question>,
    ended: Option<(String, bool)>,
    active: bool,
}

impl RunbookPane {
    /// A run is in progress (started and not ended).
    pub fn active(&self) -> bool {
        self.active
    }

    /// A question waits for the operator.
    pub fn question(&self) -> Option<&Question> {
        self.question.as_ref()
    }

    /// The run as last seen.
    pub fn view(&self) -> Option<&RunView> {
        self.view.as_ref()
    }

    /// How the last run ended, and whether it succeeded.
    pub fn ended(&self) -> Option<(&str, bool)> {
        self.ended.as_ref().map(|(t, ok)| (t.as_str(), *ok))
    }

    /// Rows of the path (one per step visit) for the selection.
    pub fn path_len(&self) -> usize {
        self.view.as_ref().map_or(0, |v| v.records.len())
    }

    /// A run is about to start: forget the previous one.
    pub fn starting(&mut self, what: &str) {
        *self = RunbookPane {
            active: true,
            ..RunbookPane::default()
        };
        self.push_line(format!("starting {what}…"));
    }

    fn push_line(&mut self, line: String) {
        if self.log.len() == LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }

    /// Folds in a message of the run's task.
    pub fn on_msg(&mut self, msg: RunbookMsg) {
        match msg {
            RunbookMsg::Started { run_id } => {
                self.active = true;
                self.push_line(format!("run {run_id}"));
                self.run_id = Some(run_id);
            }
            RunbookMsg::Progress(view) => self.view = Some(*view),
            RunbookMsg::Line(line) => self.push_line(line),
            RunbookMsg::Ask(ask, reply) => self.question = Some(Question::new(ask, Some(reply))),
            RunbookMsg::Ended { text, ok } => {
                self.push_line(text.clone());
                self.ended = Some((text, ok));
                self.question = None;
                self.active = false;
            }
        }
    }

    /// Hands a key to the open question; true when it took the key.
    pub fn question_key(&mut self, key: KeyEvent) -> bool {
        let Some(q) = &mut self.question else {
            return false;
        };
        if let Some(answer) = q.on_key(key) {
            let q = self.question.take().expect("open");
            if let Some(reply) = q.reply {
                let _ = reply.send(answer);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyModifiers};
    use tokio::sync::oneshot;

    use super::*;
    use crate::runbook::{Effect, Event};

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn confirm() -> Effect {
        Effect::AskConfirm {
            step: "stop".into(),
            expected: "h1".into(),
            summary: "stop the database".into(),
            commands: vec![("h1".into(), "systemctl stop postgresql".into())],
            error: None,
        }
    }

    #[test]
    fn an_answer_goes_back_through_the_reply_and_closes_the_question() {
        let mut pane = RunbookPane::default();
        let (reply, mut answer) = oneshot::channel();
        pane.on_msg(RunbookMsg::Started {
            run_id: "1-abc".into(),
        });
        pane.on_msg(RunbookMsg::Ask(confirm(), reply));
        assert!(pane.question().is_some());
        for c in "h1".chars() {
            assert!(pane.question_key(key(KeyCode::Char(c))));
        }
        assert!(pane.question_key(key(KeyCode::Enter)));
        assert!(pane.question().is_none());
        assert_eq!(
            answer.try_recv().unwrap(),
            Event::Confirmed { typed: "h1".into() }
        );
        pane.on_msg(RunbookMsg::Ended {
            text: "success: done".into(),
            ok: true,
        });
        assert!(!pane.active());
        assert_eq!(pane.ended(), Some(("success: done", true)));
        assert!(!pane.question_key(key(KeyCode::Enter)), "no question open");
    }
}

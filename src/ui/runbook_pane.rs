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

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use futures::future::BoxFuture;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui_textarea::TextArea;
use tokio::sync::{mpsc, oneshot};

use super::keymap::{Context, Key};
use super::panes::{Pane, PaneContent, PaneSpec};
use super::table::{Selection, pane_block};
use super::theme::Theme;
use super::{App, Model};
use crate::audit::AuditLog;
use crate::executor::{self, Ending, Executor, Frontend};
use crate::inventory::Fleet;
use crate::progress::progress_line;
use crate::runbook::{
    self, Effect, Event, Outcome, OutcomeKind, Run, Session, StepRecord, StepStatus, TimerView,
    UnknownDecision,
};
use crate::transport::Transport;

/// Progress lines kept for the pane (older ones scroll away; the audit log keeps everything).
const LOG_LINES: usize = 200;

/// One step of the runbook, for the pane's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepLine {
    /// Step id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Kind name.
    pub kind: &'static str,
    /// Needs a typed confirmation.
    pub dangerous: bool,
}

/// What the pane shows of a run, taken from the engine after every round of events. Built only
/// from the engine's public, masked views: it holds no secret.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    /// Runbook name.
    pub runbook: String,
    /// Runbook title.
    pub title: String,
    /// Every step, in file order.
    pub steps: Vec<StepLine>,
    /// Target hosts.
    pub targets: Vec<String>,
    /// Who runs it, and as what.
    pub operator: String,
    /// Their role.
    pub role: &'static str,
    /// Read-only session (writes are refused by the engine).
    pub readonly: bool,
    /// The path taken: every visit of every step, in order, with per-host results.
    pub records: Vec<StepRecord>,
    /// Countdowns.
    pub timers: Vec<TimerView>,
    /// The step in progress (or where the run stopped).
    pub current: Option<String>,
    /// How it ended, once it has.
    pub outcome: Option<Outcome>,
    /// Suspended, waiting for a resume.
    pub suspended: bool,
}

impl RunView {
    /// The view of `run` now.
    pub fn of(run: &Run) -> RunView {
        let rb = run.runbook();
        let session = run.session();
        RunView {
            runbook: rb.name.clone(),
            title: rb.title.clone(),
            steps: rb
                .steps
                .iter()
                .map(|s| StepLine {
                    id: s.id.clone(),
                    title: s.title.clone(),
                    kind: s.kind_name(),
                    dangerous: s.is_dangerous(),
                })
                .collect(),
            targets: run.targets().to_vec(),
            operator: session.operator.clone(),
            role: session.role.as_str(),
            readonly: session.readonly,
            records: run.records().to_vec(),
            timers: run.timers().to_vec(),
            current: run.current_step().map(|s| s.id.clone()),
            outcome: run.outcome().cloned(),
            suspended: run.is_suspended(),
        }
    }
}

/// What the run's task tells the console.
#[derive(Debug)]
pub enum RunbookMsg {
    /// A run began (or was resumed) with this id.
    Started {
        /// Run id (the file name under the runs directory; `:resume ID`).
        run_id: String,
    },
    /// The run as it stands now.
    Progress(Box<RunView>),
    /// A line of progress (steps, commands, timers, refusals).
    Line(String),
    /// A question; answer through the sender (dropping it interrupts the run, resumably).
    Ask(Effect, oneshot::Sender<Event>),
    /// The run's task is over.
    Ended {
        /// What happened, for the operator.
        text: String,
        /// It succeeded.
        ok: bool,
    },
}

/// The executor's front end inside the console.
pub struct PaneFrontend {
    tx: mpsc::UnboundedSender<RunbookMsg>,
}

impl Frontend for PaneFrontend {
    fn answer(&self, ask: &Effect) -> BoxFuture<'static, Event> {
        let (reply, answer) = oneshot::channel();
        let sent = self.tx.send(RunbookMsg::Ask(ask.clone(), reply)).is_ok();
        Box::pin(async move {
            let closed = || Event::Interrupted {
                reason: "the console closed while a question was open".into(),
            };
            if !sent {
                return closed();
            }
            answer.await.unwrap_or_else(|_| closed())
        })
    }

    fn show(&self, effect: &Effect) {
        // How the run ended arrives once, as `RunbookMsg::Ended`.
        if matches!(effect, Effect::Finished { .. } | Effect::Suspended { .. }) {
            return;
        }
        if let Some(text) = progress_line(effect, SystemTime::now()) {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let _ = self.tx.send(RunbookMsg::Line(line.to_string()));
            }
        }
    }

    fn progress(&self, run: &Run) {
        let _ = self
            .tx
            .send(RunbookMsg::Progress(Box::new(RunView::of(run))));
    }
}

/// How to begin a run from the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStart {
    /// A runbook by name or file, on the hosts matching a glob (default: its own targets).
    New {
        /// Runbook name or file.
        runbook: String,
        /// Host glob (`--hosts`).
        hosts: Option<String>,
        /// Input values (`--var NAME=VALUE`); the engine validates them and asks what is
        /// missing.
        inputs: BTreeMap<String, String>,
    },
    /// A suspended run by id.
    Resume(String),
}

/// Everything the console needs to run runbooks: the fleet, its connections, where audit
/// records and suspended runs go, and who is at the keyboard.
#[derive(Clone)]
pub struct RunbookLauncher {
    /// The fleet.
    pub fleet: Arc<Fleet>,
    /// The console's persistent connections (shared with the poller).
    pub transports: Vec<Transport>,
    /// The audit log file.
    pub audit_path: PathBuf,
    /// Where suspended runs are saved.
    pub runs_dir: PathBuf,
    /// The operator's own runbooks.
    pub user_dir: Option<PathBuf>,
    /// Operator, role, read-only; always interactive.
    pub session: Session,
}

/// A run in progress: interrupting it suspends it (saved, audited, resumable).
pub struct RunHandle {
    interrupt: Option<oneshot::Sender<executor::Interrupt>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunHandle {
    /// The operator suspends the run where it is (`X`, `:stop`); it is saved, audited as a
    /// suspension by the operator, and can be resumed.
    pub fn suspend(&mut self) {
        self.stop(executor::Interrupt::Suspend);
    }

    fn stop(&mut self, why: executor::Interrupt) {
        if let Some(tx) = self.interrupt.take() {
            let _ = tx.send(why);
        }
    }

    /// Interrupts the run (the console is closing) and waits (bounded) until it has been
    /// saved and audited.
    pub async fn settle(mut self, bound: std::time::Duration) {
        self.stop(executor::Interrupt::ConsoleClosed);
        let _ = tokio::time::timeout(bound, self.task).await;
    }
}

impl RunbookLauncher {
    /// Names and titles of the runbooks (shipped and own). An invalid one is listed too, so
    /// starting it shows its lint errors instead of "no such runbook".
    pub fn catalog(&self) -> Vec<(String, String)> {
        runbook::catalog(self.user_dir.as_deref())
            .into_iter()
            .map(|e| {
                let title = match e.runbook {
                    Ok(rb) => rb.title,
                    Err(_) => "(invalid: run `fleetdeck runbook lint`)".into(),
                };
                (e.name, title)
            })
            .collect()
    }

    /// The runbooks that lint, for matching them to problems and for asking their inputs
    /// before a run starts.
    pub fn definitions(&self) -> Vec<runbook::Runbook> {
        runbook::catalog(self.user_dir.as_deref())
            .into_iter()
            .filter_map(|e| e.runbook.ok())
            .collect()
    }

    /// Starts `start` in a task of its own; its progress and questions arrive on `tx`.
    pub fn spawn(&self, start: RunStart, tx: mpsc::UnboundedSender<RunbookMsg>) -> RunHandle {
        let (interrupt, stop) = oneshot::channel();
        let launcher = self.clone();
        let task = tokio::spawn(async move {
            let (text, ok) = match launcher.drive(start, &tx, stop).await {
                Ok(Ending::Finished(outcome)) => (
                    format!("{}: {}", outcome.kind.as_str(), outcome.message),
                    outcome.kind == OutcomeKind::Success,
                ),
                Ok(Ending::Suspended {
                    run_id,
                    step,
                    reason,
                }) => (
                    format!(
                        "suspended at {}: {reason} — resume with :resume {run_id} (or fleetdeck run --resume {run_id})",
                        step.as_deref().unwrap_or("start")
                    ),
                    false,
                ),
                Err(e) => (e, false),
            };
            let _ = tx.send(RunbookMsg::Ended { text, ok });
        });
        RunHandle {
            interrupt: Some(interrupt),
            task,
        }
    }

    async fn drive(
        &self,
        start: RunStart,
        tx: &mpsc::UnboundedSender<RunbookMsg>,
        stop: oneshot::Receiver<executor::Interrupt>,
    ) -> Result<Ending, String> {
        let audit = AuditLog::open(&self.audit_path)
            .map(Arc::new)
            .map_err(|e| format!("audit log: {e}"))?;
        let session = self.session.clone();
        let (mut run, effects, run_id) = match start {
            RunStart::Resume(run_id) => {
                let mut run =
                    executor::load_saved(&self.runs_dir, &run_id).map_err(|e| e.to_string())?;
                let effects = run.handle(Event::Resume {
                    session: session.clone(),
                    now: SystemTime::now(),
                });
                (run, effects, run_id)
            }
            RunStart::New {
                runbook,
                hosts,
                inputs,
            } => {
                let rb = runbook::find(&runbook, self.user_dir.as_deref()).map_err(|errors| {
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                })?;
                let targets = runbook::select_targets(&rb, &self.fleet, hosts.as_deref(), None)?;
                let run_id = executor::new_run_id(SystemTime::now());
                let exec = self.executor(&audit, &run_id);
                let _ = tx.send(RunbookMsg::Line(format!(
                    "checking the health of {} target(s) and their consensus groups…",
                    targets.len()
                )));
                let ctx = exec.context(targets, inputs, session.clone()).await;
                let (run, effects) = Run::start(rb, ctx);
                (run, effects, run_id)
            }
        };
        let _ = tx.send(RunbookMsg::Started {
            run_id: run_id.clone(),
        });
        let exec = self.executor(&audit, &run_id);
        let frontend = PaneFrontend { tx: tx.clone() };
        let mut interrupt = Box::pin(async move {
            // A dropped handle (the console closing) interrupts too.
            stop.await.unwrap_or(executor::Interrupt::ConsoleClosed)
        });
        let ending = exec
            .drive(&mut run, effects, &frontend, &mut interrupt)
            .await
            .map_err(|e| e.to_string());
        frontend.progress(&run);
        ending
    }

    fn executor(&self, audit: &Arc<AuditLog>, run_id: &str) -> Executor {
        Executor::new(
            self.fleet.clone(),
            self.transports.clone(),
            audit.clone(),
            &self.session,
            run_id.to_string(),
            self.runs_dir.clone(),
        )
    }
}

// =============================================================================================
// Questions

/// Where a question stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    /// The question itself.
    Answer,
    /// A reason for `option` (overriding a check's suggestion, skipping or aborting an unknown
    /// step).
    Reason { option: String },
}

/// An open question of the engine, with the editor the operator types into.
pub struct Question {
    ask: Effect,
    reply: Option<oneshot::Sender<Event>>,
    input: TextArea<'static>,
    choice: usize,
    stage: Stage,
}

const UNKNOWN_OPTIONS: [&str; 3] = ["retry", "skip", "abort"];

fn plain_editor(secret: bool) -> TextArea<'static> {
    let mut input = TextArea::default();
    if secret {
        input.set_mask_char('•');
    }
    input.set_cursor_line_style(Style::default());
    input
}

impl Question {
    /// A question for `ask`, answered through `reply`.
    pub fn new(ask: Effect, reply: Option<oneshot::Sender<Event>>) -> Question {
        let secret = matches!(ask, Effect::AskInput { secret: true, .. });
        let choice = match &ask {
            Effect::AskChoice {
                options,
                preselected: Some(p),
                ..
            } => options.iter().position(|o| o == p).unwrap_or(0),
            _ => 0,
        };
        Question {
            ask,
            reply,
            input: plain_editor(secret),
            choice,
            stage: Stage::Answer,
        }
    }

    /// The engine's question.
    pub fn ask(&self) -> &Effect {
        &self.ask
    }

    fn options(&self) -> Vec<String> {
        match &self.ask {
            Effect::AskChoice { options, .. } => options.clone(),
            Effect::AskUnknown { .. } => UNKNOWN_OPTIONS.iter().map(|s| s.to_string()).collect(),
            _ => Vec::new(),
        }
    }

    fn text(&self) -> String {
        self.input.lines().join("\n")
    }

    fn step(&self) -> &str {
        match &self.ask {
            Effect::AskConfirm { step, .. }
            | Effect::AskChoice { step, .. }
            | Effect::AskManual { step, .. }
            | Effect::AskNote { step, .. }
            | Effect::AskUnknown { step, .. } => step,
            Effect::AskInput { name, .. } => name,
            _ => "",
        }
    }

    /// Handles a key; returns the answer once the operator gave one.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Event> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('x') {
            return Some(Event::Abort {
                reason: format!(
                    "aborted by the operator in the console at `{}`",
                    self.step()
                ),
            });
        }
        if let Stage::Reason { option } = &self.stage {
            let option = option.clone();
            match key.code {
                KeyCode::Esc => {
                    self.stage = Stage::Answer;
                    self.input = plain_editor(false);
                }
                KeyCode::Enter => {
                    let reason = self.text().trim().to_string();
                    if reason.is_empty() {
                        return None;
                    }
                    return Some(match &self.ask {
                        Effect::AskUnknown { .. } => Event::ResolveUnknown {
                            decision: if option == "skip" {
                                UnknownDecision::Skip
                            } else {
                                UnknownDecision::Abort
                            },
                            reason: Some(reason),
                        },
                        _ => Event::Chosen {
                            option,
                            reason: Some(reason),
                        },
                    });
                }
                _ => {
                    self.input.input(key);
                }
            }
            return None;
        }
        let options = self.options();
        if !options.is_empty() {
            match key.code {
                KeyCode::Down | KeyCode::Char('j') => {
                    self.choice = (self.choice + 1) % options.len();
                }
                KeyCode::Up | KeyCode::Char('k') => {
                    self.choice = (self.choice + options.len() - 1) % options.len();
                }
                KeyCode::Char(c @ '1'..='9') => {
                    let n = c as usize - '1' as usize;
                    if n < options.len() {
                        self.choice = n;
                    }
                }
                KeyCode::Enter => return self.choose(&options[self.choice]),
                _ => {}
            }
            return None;
        }
        match (&self.ask, key.code) {
            (Effect::AskNote { .. }, KeyCode::Char('s')) if ctrl => Some(Event::NoteGiven {
                text: self.text().trim_end().to_string(),
            }),
            (Effect::AskNote { .. }, _) => {
                self.input.input(key);
                None
            }
            (_, KeyCode::Enter) => Some(match &self.ask {
                Effect::AskConfirm { .. } => {
                    let typed = self.text();
                    if typed.trim() == "abort" {
                        Event::Abort {
                            reason: "operator declined the confirmation".into(),
                        }
                    } else {
                        Event::Confirmed { typed }
                    }
                }
                Effect::AskInput { name, .. } => Event::InputGiven {
                    name: name.clone(),
                    value: self.text(),
                },
                Effect::AskManual { .. } => {
                    let note = self.text();
                    Event::ManualDone {
                        note: (!note.trim().is_empty()).then_some(note),
                    }
                }
                other => Event::Abort {
                    reason: format!("not a question: {other:?}"),
                },
            }),
            (_, KeyCode::Esc) => {
                self.input =
                    plain_editor(matches!(self.ask, Effect::AskInput { secret: true, .. }));
                None
            }
            _ => {
                self.input.input(key);
                None
            }
        }
    }

    fn choose(&mut self, option: &str) -> Option<Event> {
        match &self.ask {
            Effect::AskUnknown { .. } if option == "retry" => Some(Event::ResolveUnknown {
                decision: UnknownDecision::Retry,
                reason: None,
            }),
            Effect::AskChoice { preselected, .. }
                if preselected.as_deref().is_none_or(|p| p == option) =>
            {
                Some(Event::Chosen {
                    option: option.to_string(),
                    reason: None,
                })
            }
            _ => {
                self.stage = Stage::Reason {
                    option: option.to_string(),
                };
                self.input = plain_editor(false);
                None
            }
        }
    }

    /// What the operator sees: the question, its context and the editor's hint.
    fn lines(&self, t: &Theme) -> Vec<Line<'static>> {
        let dim = Style::new().fg(t.colour("text.dim"));
        let danger = Style::new()
            .fg(t.colour("danger"))
            .add_modifier(Modifier::BOLD);
        let key = Style::new().fg(t.colour("key"));
        let mut out = Vec::new();
        let error = match &self.ask {
            Effect::AskConfirm { error, .. }
            | Effect::AskInput { error, .. }
            | Effect::AskChoice { error, .. }
            | Effect::AskUnknown { error, .. } => error.clone(),
            _ => None,
        };
        if let Some(e) = error {
            out.push(Line::from(Span::styled(format!("✗ {e}"), danger)));
        }
        match &self.ask {
            Effect::AskConfirm {
                step,
                expected,
                summary,
                commands,
                ..
            } => {
                out.push(Line::from(Span::styled(
                    format!("⚠ DANGEROUS step `{step}`: {summary}"),
                    danger,
                )));
                for (host, command) in commands {
                    out.push(Line::from(format!("    {host}: {command}")));
                }
                out.push(Line::from(vec![
                    Span::raw("Type "),
                    Span::styled(expected.clone(), key.add_modifier(Modifier::BOLD)),
                    Span::raw(" to confirm, or "),
                    Span::styled("abort", key),
                    Span::raw(":"),
                ]));
            }
            Effect::AskInput {
                prompt,
                choices,
                default,
                secret,
                ..
            } => {
                let mut p = prompt.clone();
                if !choices.is_empty() {
                    p.push_str(&format!(" [{}]", choices.join("/")));
                }
                if let (Some(d), false) = (default, secret) {
                    p.push_str(&format!(" (default {d})"));
                }
                if *secret {
                    p.push_str(" (hidden)");
                }
                out.push(Line::from(format!("{p}:")));
            }
            Effect::AskChoice {
                step,
                question,
                preselected,
                ..
            } => {
                out.push(Line::from(format!("? [{step}] {question}")));
                for (i, o) in self.options().iter().enumerate() {
                    let mark = if preselected.as_ref() == Some(o) {
                        "  ← suggested by the check"
                    } else {
                        ""
                    };
                    out.push(self.option_line(i, o, mark, t));
                }
            }
            Effect::AskUnknown { step, reason, .. } => {
                out.push(Line::from(Span::styled(
                    format!("? [{step}] outcome unknown: {reason}"),
                    Style::new().fg(t.colour("status.warning")),
                )));
                for (i, o) in self.options().iter().enumerate() {
                    out.push(self.option_line(i, o, "", t));
                }
            }
            Effect::AskManual { step, item, text } => {
                out.push(Line::from(format!("☐ [{step}] {item}")));
                if !text.is_empty() {
                    out.push(Line::from(Span::styled(format!("    {text}"), dim)));
                }
                out.push(Line::from("Optional note, then Enter when done:"));
            }
            Effect::AskNote { step, prompt } => {
                out.push(Line::from(format!("✎ [{step}] {prompt}")));
            }
            _ => {}
        }
        if let Stage::Reason { option } = &self.stage {
            let why = match &self.ask {
                Effect::AskChoice { .. } => {
                    format!("You chose `{option}` over the check's suggestion. Why?")
                }
                _ => format!("Why {option}?"),
            };
            out.push(Line::from(Span::styled(why, key)));
        }
        out
    }

    fn option_line(&self, i: usize, option: &str, mark: &str, t: &Theme) -> Line<'static> {
        let chosen = i == self.choice && self.stage == Stage::Answer;
        let style = if chosen {
            Style::new()
                .bg(t.colour("selected.bg"))
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        Line::from(vec![
            Span::styled(
                format!("  {} {}. {option}", if chosen { "›" } else { " " }, i + 1),
                style,
            ),
            Span::styled(mark.to_string(), Style::new().fg(t.colour("text.dim"))),
        ])
    }

    fn has_editor(&self) -> bool {
        self.options().is_empty() || matches!(self.stage, Stage::Reason { .. })
    }

    /// Lines the editor takes: several for a note, one for a line of text, none for a choice.
    fn editor_height(&self) -> u16 {
        match (&self.ask, &self.stage) {
            _ if !self.has_editor() => 0,
            (Effect::AskNote { .. }, Stage::Answer) => 5,
            _ => 1,
        }
    }

    fn hint(&self) -> &'static str {
        match (&self.ask, &self.stage) {
            (_, Stage::Reason { .. }) => "Enter give the reason   Esc back   Ctrl-X abort the run",
            (Effect::AskNote { .. }, _) => "Ctrl-S done   Enter new line   Ctrl-X abort the run",
            (Effect::AskChoice { .. } | Effect::AskUnknown { .. }, _) => {
                "↑↓/1-9 choose   Enter take it   Ctrl-X abort the run   Tab other panes"
            }
            _ => "Enter answer   Esc clear   Ctrl-X abort the run   Tab other panes",
        }
    }
}

// =============================================================================================
// The pane's state

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

    /// Draws the pane.
    pub fn render(&mut self, frame: &mut Frame, area: Rect, sel: &mut Selection, with: PaneDraw) {
        let PaneDraw {
            theme: t,
            hints,
            catalog,
            now,
        } = with;
        let dim = Style::new().fg(t.colour("text.dim"));
        let Some(view) = &self.view else {
            let block = pane_block(t, " runbook ", hints, true);
            let mut lines: Vec<Line> = self.log.iter().map(|l| Line::from(l.clone())).collect();
            if lines.is_empty() {
                lines.push(Line::from(Span::styled(
                    "  no runbook is running — start one with :run NAME [HOSTS], or x on a host",
                    dim,
                )));
                lines.push(Line::from(""));
                for (name, title) in catalog {
                    lines.push(Line::from(vec![
                        Span::styled(format!("  {name:<18}"), Style::new().fg(t.colour("key"))),
                        Span::raw(title.clone()),
                    ]));
                }
            }
            frame.render_widget(
                Paragraph::new(lines)
                    .block(block)
                    .wrap(Wrap { trim: false }),
                area,
            );
            return;
        };

        let state = match (&view.outcome, self.active, view.suspended) {
            (Some(o), _, _) => o.kind.as_str().to_string(),
            (None, _, true) => "suspended".into(),
            (None, true, _) if self.question.is_some() => "waiting for you".into(),
            (None, true, _) => "running".into(),
            (None, false, _) => "stopped".into(),
        };
        let title = format!(
            " runbook {} — {}{} · {state} ",
            view.runbook,
            view.title,
            self.run_id
                .as_deref()
                .map(|id| format!(" · run {id}"))
                .unwrap_or_default()
        );
        // An open question has the keyboard and its own hints.
        let hints = if self.question.is_some() {
            String::new()
        } else {
            hints
        };
        let block = pane_block(t, title, hints, true);
        let inner = block.inner(area);
        frame.render_widget(block, area);

        let question_lines = self.question.as_ref().map(|q| q.lines(t));
        let bottom_height = match (&self.question, &question_lines) {
            (Some(q), Some(lines)) => {
                let editor = q.editor_height();
                (lines.len() as u16 + editor + 3).min(inner.height / 2 + 2)
            }
            _ => 6.min(inner.height / 3 + 1),
        };
        let [head, body, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(bottom_height),
        ])
        .areas(inner);

        // Header: timers first (an SLA must never be cut off), then targets and who.
        let mut spans = Vec::new();
        for timer in view.timers.iter().filter(|t| !t.stopped) {
            let left = timer.deadline.duration_since(now).map(|d| d.as_secs()).ok();
            let (text, slot) = match left {
                Some(s) if !timer.expired => (
                    format!(" ⏱ {} {}:{:02} left", timer.title, s / 60, s % 60),
                    if s < 120 {
                        "status.warning"
                    } else {
                        "status.ok"
                    },
                ),
                _ => {
                    let over = now
                        .duration_since(timer.deadline)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    (
                        format!(" ⏱ {} OVERDUE {}:{:02}", timer.title, over / 60, over % 60),
                        "status.critical",
                    )
                }
            };
            spans.push(Span::styled(
                text,
                Style::new().fg(t.colour(slot)).add_modifier(Modifier::BOLD),
            ));
        }
        spans.push(Span::styled("  targets ", dim));
        spans.push(Span::raw(view.targets.join(", ")));
        spans.push(Span::styled(
            format!(" · {} ({})", view.operator, view.role),
            dim,
        ));
        if view.readonly {
            spans.push(Span::styled(
                " · read-only",
                Style::new().fg(t.colour("status.warning")),
            ));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), head);

        // Body: the path taken (left), the selected visit's per-host results (right).
        let [path_area, detail_area] =
            Layout::horizontal([Constraint::Percentage(42), Constraint::Percentage(58)])
                .areas(body);
        let path_block = Block::new()
            .borders(Borders::RIGHT)
            .border_style(Style::new().fg(t.colour("border")))
            .title(Span::styled(
                format!(
                    "path — {} of {} steps",
                    view.records.len(),
                    view.steps.len()
                ),
                Style::new().fg(t.colour("header")),
            ));
        let path_inner = path_block.inner(path_area);
        frame.render_widget(path_block, path_area);
        sel.body = path_inner;
        let rows = sel.window(view.records.len(), path_inner.height as usize);
        let mut path_lines = Vec::new();
        for i in rows {
            let r = &view.records[i];
            let (mark, slot) = status_mark(r.status);
            let dangerous = view.steps.iter().any(|s| s.id == r.step && s.dangerous);
            let mut line = vec![
                Span::styled(format!("{mark} "), Style::new().fg(t.colour(slot))),
                Span::raw(r.step.clone()),
            ];
            if dangerous {
                line.push(Span::styled(" ⚠", Style::new().fg(t.colour("danger"))));
            }
            if let Some(d) = &r.decision {
                line.push(Span::styled(
                    format!(" → {d}"),
                    Style::new().fg(t.colour("key")),
                ));
            }
            let mut l = Line::from(line);
            if i == sel.selected {
                l = l.style(Style::new().bg(t.colour("selected.bg")));
            }
            path_lines.push(l);
        }
        frame.render_widget(Paragraph::new(path_lines), path_inner);

        let mut detail: Vec<Line> = Vec::new();
        if let Some(r) = view.records.get(sel.selected) {
            let (mark, slot) = status_mark(r.status);
            detail.push(Line::from(vec![
                Span::styled(format!("{mark} "), Style::new().fg(t.colour(slot))),
                Span::styled(
                    format!("{} ({})", r.title, r.kind),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
            ]));
            if !r.summary.is_empty() {
                detail.push(Line::from(format!("  {}", r.summary)));
            }
            if let Some(p) = &r.preselected {
                detail.push(Line::from(Span::styled(
                    format!("  suggested by the check: {p}"),
                    dim,
                )));
            }
            if let Some(reason) = &r.reason {
                detail.push(Line::from(format!("  reason: {reason}")));
            }
            if let Some(note) = &r.note {
                for l in note.lines() {
                    detail.push(Line::from(format!("  ✎ {l}")));
                }
            }
            for group in r.coalesced() {
                let ok = group.result.passed;
                detail.push(Line::from(vec![
                    Span::styled(
                        if ok { "  ✓ " } else { "  ✗ " },
                        Style::new().fg(t.colour(if ok { "status.ok" } else { "status.critical" })),
                    ),
                    Span::styled(
                        group.hosts.join(", "),
                        Style::new().add_modifier(Modifier::BOLD),
                    ),
                    Span::styled(format!("  {}", group.result.detail), dim),
                ]));
                for l in group
                    .result
                    .output
                    .lines()
                    .chain(group.result.stderr.lines())
                    .take(6)
                {
                    detail.push(Line::from(format!("      {l}")));
                }
            }
        } else if let Some(current) = &view.current {
            detail.push(Line::from(format!("current step: {current}")));
        }
        frame.render_widget(
            Paragraph::new(detail).wrap(Wrap { trim: false }),
            detail_area.inner(ratatui::layout::Margin::new(1, 0)),
        );

        // Bottom: the open question, or the latest progress.
        let bottom_block = Block::new()
            .borders(Borders::TOP)
            .border_style(Style::new().fg(t.colour("border")));
        match (&mut self.question, question_lines) {
            (Some(q), Some(lines)) => {
                let bottom_block = bottom_block.title(Span::styled(
                    format!(" {} ", q.hint()),
                    Style::new().fg(t.colour("text.dim")),
                ));
                let inner = bottom_block.inner(bottom);
                frame.render_widget(bottom_block, bottom);
                let editor_height = q.editor_height();
                let [text_area, editor_area] =
                    Layout::vertical([Constraint::Min(1), Constraint::Length(editor_height)])
                        .areas(inner);
                frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), text_area);
                if editor_height > 0 {
                    q.input.set_style(Style::new().fg(t.colour("text")));
                    q.input
                        .set_cursor_style(Style::new().add_modifier(Modifier::REVERSED));
                    let [prompt, field] =
                        Layout::horizontal([Constraint::Length(2), Constraint::Min(1)])
                            .areas(editor_area);
                    frame.render_widget(
                        Paragraph::new(Span::styled("› ", Style::new().fg(t.colour("key")))),
                        prompt,
                    );
                    frame.render_widget(&q.input, field);
                }
            }
            _ => {
                let inner = bottom_block.inner(bottom);
                frame.render_widget(bottom_block, bottom);
                let n = inner.height as usize;
                let skip = self.log.len().saturating_sub(n);
                let mut lines: Vec<Line> = self
                    .log
                    .iter()
                    .skip(skip)
                    .map(|l| Line::from(Span::styled(l.clone(), dim)))
                    .collect();
                // The ending is the log's last line: made to stand out.
                if let (Some((text, ok)), Some(last)) = (&self.ended, lines.last_mut()) {
                    *last = Line::from(Span::styled(
                        text.clone(),
                        Style::new()
                            .fg(t.colour(if *ok { "status.ok" } else { "status.critical" }))
                            .add_modifier(Modifier::BOLD),
                    ));
                }
                frame.render_widget(Paragraph::new(lines), inner);
            }
        }
    }
}

fn status_mark(status: StepStatus) -> (&'static str, &'static str) {
    match status {
        StepStatus::Running => ("▶", "title"),
        StepStatus::Passed => ("✓", "status.ok"),
        StepStatus::Failed => ("✗", "status.critical"),
        StepStatus::Skipped => ("↷", "status.warning"),
        StepStatus::Unknown => ("?", "status.warning"),
        StepStatus::Refused => ("⊘", "status.critical"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn typing(q: &mut Question, text: &str) {
        for c in text.chars() {
            assert_eq!(q.on_key(key(KeyCode::Char(c))), None);
        }
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
    fn a_confirmation_answers_what_was_typed_and_abort_declines() {
        let mut q = Question::new(confirm(), None);
        typing(&mut q, "h2");
        assert_eq!(
            q.on_key(key(KeyCode::Enter)),
            Some(Event::Confirmed { typed: "h2".into() })
        );
        let mut q = Question::new(confirm(), None);
        typing(&mut q, "abort");
        assert!(matches!(
            q.on_key(key(KeyCode::Enter)),
            Some(Event::Abort { .. })
        ));
        let mut q = Question::new(confirm(), None);
        assert!(matches!(
            q.on_key(KeyEvent::new(KeyCode::Char('x'), KeyModifiers::CONTROL)),
            Some(Event::Abort { .. })
        ));
    }

    #[test]
    fn overriding_a_suggested_option_asks_for_a_reason() {
        let ask = Effect::AskChoice {
            step: "kind".into(),
            question: "Which error?".into(),
            options: vec!["hsm".into(), "rpc".into(), "other".into()],
            preselected: Some("rpc".into()),
            error: None,
        };
        // The suggestion is selected first and taken without a reason.
        let mut q = Question::new(ask.clone(), None);
        assert_eq!(
            q.on_key(key(KeyCode::Enter)),
            Some(Event::Chosen {
                option: "rpc".into(),
                reason: None
            })
        );
        // Another option needs one; an empty reason is not taken.
        let mut q = Question::new(ask, None);
        assert_eq!(q.on_key(key(KeyCode::Char('3'))), None);
        assert_eq!(q.on_key(key(KeyCode::Enter)), None);
        assert_eq!(q.on_key(key(KeyCode::Enter)), None, "empty reason");
        typing(&mut q, "seen it in the log");
        assert_eq!(
            q.on_key(key(KeyCode::Enter)),
            Some(Event::Chosen {
                option: "other".into(),
                reason: Some("seen it in the log".into())
            })
        );
    }

    #[test]
    fn an_unknown_step_is_retried_at_once_or_skipped_with_a_reason() {
        let ask = Effect::AskUnknown {
            step: "long".into(),
            reason: "connection lost".into(),
            error: None,
        };
        let mut q = Question::new(ask.clone(), None);
        assert_eq!(
            q.on_key(key(KeyCode::Enter)),
            Some(Event::ResolveUnknown {
                decision: UnknownDecision::Retry,
                reason: None
            })
        );
        let mut q = Question::new(ask, None);
        q.on_key(key(KeyCode::Down));
        assert_eq!(q.on_key(key(KeyCode::Enter)), None);
        typing(&mut q, "done by hand");
        assert_eq!(
            q.on_key(key(KeyCode::Enter)),
            Some(Event::ResolveUnknown {
                decision: UnknownDecision::Skip,
                reason: Some("done by hand".into())
            })
        );
    }

    #[test]
    fn notes_take_several_lines_and_end_with_ctrl_s() {
        let mut q = Question::new(
            Effect::AskNote {
                step: "post".into(),
                prompt: "What happened?".into(),
            },
            None,
        );
        typing(&mut q, "disk full");
        assert_eq!(q.on_key(key(KeyCode::Enter)), None);
        typing(&mut q, "cleaned /var/log");
        assert_eq!(
            q.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL)),
            Some(Event::NoteGiven {
                text: "disk full\ncleaned /var/log".into()
            })
        );
    }

    #[test]
    fn a_secret_input_is_masked_on_screen_and_given_whole() {
        let mut q = Question::new(
            Effect::AskInput {
                name: "token".into(),
                prompt: "API token".into(),
                kind: runbook::InputType::String,
                secret: true,
                choices: vec![],
                default: None,
                error: None,
            },
            None,
        );
        typing(&mut q, "s3cret");
        let theme = Theme::default_theme();
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(40, 3)).unwrap();
        terminal
            .draw(|f| f.render_widget(&q.input, f.area()))
            .unwrap();
        let screen = format!("{:?}", terminal.backend().buffer());
        assert!(!screen.contains("s3cret") && screen.contains("••••••"));
        assert!(
            q.lines(&theme)
                .iter()
                .all(|l| !l.to_string().contains("s3cret"))
        );
        assert_eq!(
            q.on_key(key(KeyCode::Enter)),
            Some(Event::InputGiven {
                name: "token".into(),
                value: "s3cret".into()
            })
        );
    }

    #[test]
    fn a_manual_item_takes_an_optional_note() {
        let ask = Effect::AskManual {
            step: "call".into(),
            item: "Call the DBA".into(),
            text: String::new(),
        };
        let mut q = Question::new(ask.clone(), None);
        assert_eq!(
            q.on_key(key(KeyCode::Enter)),
            Some(Event::ManualDone { note: None })
        );
        let mut q = Question::new(ask, None);
        typing(&mut q, "no answer");
        assert_eq!(
            q.on_key(key(KeyCode::Enter)),
            Some(Event::ManualDone {
                note: Some("no answer".into())
            })
        );
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

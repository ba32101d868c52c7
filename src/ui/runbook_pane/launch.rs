//! The run's side of the channel: [`RunbookLauncher`] starts or resumes a run in a task of its
//! own with the same executor as `fleetdeck run`, [`PaneFrontend`] is that task's front end, and
//! [`RunbookMsg`] (carrying the masked [`RunView`]) is all it tells the console. Nothing here
//! touches the terminal.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use crate::audit::AuditLog;
use crate::executor::{self, Ending, Executor, Frontend};
use crate::inventory::Fleet;
use crate::progress::progress_line;
use crate::runbook::{
    self, Effect, Event, Outcome, OutcomeKind, Run, Session, StepRecord, TimerView,
};
use crate::transport::Transport;

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

    fn note(&self, text: &str) {
        let _ = self.tx.send(RunbookMsg::Line(format!("  ✎ {text}")));
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

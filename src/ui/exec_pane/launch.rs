//! The command's side of the channel: [`ExecLauncher`] records a refusal or runs an approved
//! command in a task of its own over the console's connections, and [`ExecMsg`] is all that
//! task tells the console (started with a canceller, each host's result after its record,
//! ended). Nothing here touches the terminal.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::audit::{Actor, AuditLog};
use crate::exec::{self, Approved, Canceller, HostResult, Limits, Plan, Refusal};
use crate::inventory::Fleet;
use crate::runbook::Session;
use crate::transport::Transport;

/// What the command's task tells the console.
pub enum ExecMsg {
    /// Every `exec` record is written and the command left for the hosts; the canceller stops
    /// what has not finished (`None` only in tests).
    Started(Option<Canceller>),
    /// One host finished (its `exec.result` is on disk).
    Result(HostResult),
    /// Every host reported; `exec.result` records that could not be written, if any.
    Ended {
        /// `HOST: error` for each record not written.
        audit_errors: Vec<String>,
    },
    /// Nothing ran (the audit log could not take the records).
    Failed(String),
    /// Something to tell the operator (a refusal that could not be recorded).
    Notice {
        /// The text.
        text: String,
        /// An error.
        error: bool,
    },
}

/// Everything the console needs to run ad-hoc commands: the fleet, its connections, the audit
/// log and who is at the keyboard.
#[derive(Clone)]
pub struct ExecLauncher {
    /// The fleet.
    pub fleet: Arc<Fleet>,
    /// The console's persistent connections (shared with the poller).
    pub transports: Vec<Transport>,
    /// The audit log file.
    pub audit_path: PathBuf,
    /// Operator, role, read-only; always interactive.
    pub session: Session,
    /// Where the `:exec` history is kept between consoles (`None`: for the session only).
    pub history: Option<PathBuf>,
}

/// A command in flight: [`settle`](ExecHandle::settle) cancels what has not finished and waits
/// for the records; dropping it cancels without waiting.
pub struct ExecHandle {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl ExecHandle {
    /// Cancels what has not finished (the console is closing) and waits, at most `bound`, until
    /// every host's `exec.result` is written.
    pub async fn settle(mut self, bound: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(bound, self.task).await;
    }
}

/// What the console asks the event loop to do with an ad-hoc command.
pub enum ExecRequest {
    /// Record this refusal (`denied`); nothing runs.
    Deny(Box<Plan>, Refusal),
    /// Run this.
    Start(Box<Approved>),
}

impl ExecLauncher {
    fn actor(&self) -> Actor {
        Actor::new(
            &self.session.operator,
            self.session.role.as_str(),
            crate::audit::detect_source(),
        )
    }

    /// Carries out `request` off the UI: a refusal is recorded on a blocking thread (a failure
    /// to record it is sent back as a notice); an approved command runs in a task of its own
    /// whose messages arrive on `tx`. Returns the handle of a command started.
    pub fn carry_out(
        &self,
        request: ExecRequest,
        tx: mpsc::UnboundedSender<ExecMsg>,
    ) -> Option<ExecHandle> {
        match request {
            ExecRequest::Deny(plan, refusal) => {
                let (path, actor) = (self.audit_path.clone(), self.actor());
                tokio::task::spawn_blocking(move || {
                    let written = AuditLog::open(&path)
                        .and_then(|log| exec::deny(&log, &actor, &plan, &refusal));
                    if let Err(e) = written {
                        let _ = tx.send(ExecMsg::Notice {
                            text: format!("the refusal could not be recorded: {e}"),
                            error: true,
                        });
                    }
                });
                None
            }
            ExecRequest::Start(approved) => Some(self.spawn(*approved, tx)),
        }
    }

    /// Records a refusal and waits for it (the console is closing over an open confirmation).
    pub async fn record_refusal(&self, plan: Plan, refusal: Refusal) {
        let (path, actor) = (self.audit_path.clone(), self.actor());
        let written = tokio::task::spawn_blocking(move || {
            AuditLog::open(&path).and_then(|log| exec::deny(&log, &actor, &plan, &refusal))
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::warn!("a declined ad-hoc command could not be recorded");
        }
    }

    /// Starts `approved` in a task of its own; its results arrive on `tx`.
    pub fn spawn(&self, approved: Approved, tx: mpsc::UnboundedSender<ExecMsg>) -> ExecHandle {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let launcher = self.clone();
        let task = tokio::spawn(async move {
            let log = match AuditLog::open(&launcher.audit_path) {
                Ok(log) => Arc::new(log),
                Err(e) => {
                    let _ = tx.send(ExecMsg::Failed(format!("audit log: {e}: nothing was run")));
                    return;
                }
            };
            let limits = Limits::of(&launcher.fleet, None);
            let actor = launcher.actor();
            let mut running = match approved
                .start(log, &actor, &launcher.transports, limits)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(ExecMsg::Failed(format!("audit log: {e}: nothing was run")));
                    return;
                }
            };
            let _ = tx.send(ExecMsg::Started(Some(running.canceller())));
            let mut stop_open = true;
            loop {
                tokio::select! {
                    r = running.next() => match r {
                        Some(r) => { let _ = tx.send(ExecMsg::Result(r)); }
                        None => break,
                    },
                    // The console closing (or its handle dropped): cancel, then drain so every
                    // host's record is written.
                    _ = &mut stopped, if stop_open => {
                        stop_open = false;
                        running.cancel();
                    }
                }
            }
            let _ = tx.send(ExecMsg::Ended {
                audit_errors: running.audit_errors(),
            });
        });
        ExecHandle {
            stop: Some(stop),
            task,
        }
    }
}

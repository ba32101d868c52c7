//! The runbook executor: carries out what the pure engine ([`crate::runbook::Run`]) asks, in the
//! real world, and feeds the results back.
//!
//! Order is the safety property. Effects are performed in the order the engine emits them, and
//! every [`Effect::Audit`] is appended and fsync'd by the audit log before any later effect is
//! acted on, so the record of a confirmation or of a command always precedes the command. If the
//! audit log cannot be written, nothing further runs: the run is interrupted and left resumable.
//!
//! Commands of one batch (the hosts of one step) run concurrently over each host's persistent
//! connection. A connection lost *while* a command ran makes its outcome unknown: the run is
//! interrupted (never continued automatically), the engine marks the step unknown, and the run
//! state is saved so `fleetdeck run --resume ID` (or the console) can decide. Prompts go to a
//! [`Frontend`]: a terminal for `fleetdeck run`, the console's runbook pane.
//!
//! Callers: `fleetdeck run` (src/main.rs) and the console.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::future::BoxFuture;

use crate::audit::{Actor, AuditEntry as LogEntry, AuditLog};
use crate::health::{self, Severity};
use crate::inventory::{Fleet, Role};
use crate::observation::{ServiceState as ObservedState, UnreachableKind};
use crate::runbook::{
    self, AccessRole, AuditAction, Effect, Event, ExecResult, HealthFact, Outcome, OutcomeKind,
    Run, RunContext, ServiceState, Session,
};
use crate::store::Store;
use crate::transport::{ExecRequest, Transport, TransportError};

mod write_back;

/// Output kept per command and stream; the engine keeps less.
const MAX_OUTPUT: usize = 1 << 20;
/// Health rules about a whole consensus group, raised on every member: they describe the
/// other members, so they never make this member count as down.
const GROUP_RULES: [&str; 2] = ["consensus_at_risk", "consensus_lost"];
/// A webhook that does not answer within this is a failed notify, not a hung run.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a run could not be driven.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The audit log refused a record: nothing after it may run.
    #[error("audit log: {0}")]
    Audit(#[from] crate::audit::AuditError),
    /// The run state could not be saved or loaded.
    #[error("run state {path}: {message}")]
    State {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// How a drive ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// The run is over.
    Finished(Outcome),
    /// The run stopped and was saved; resume it with this id.
    Suspended {
        /// Run id (file name under the runs directory).
        run_id: String,
        /// Where it stopped.
        step: Option<String>,
        /// Why.
        reason: String,
    },
}

/// Why the operator stopped a run: the words recorded in [`Event::Interrupted`], the audit
/// record and the saved run, so a suspension from the console never reads as a Ctrl-C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// Ctrl-C at the terminal (`fleetdeck run`).
    CtrlC,
    /// The console's suspend: `X` in the Runbook pane, or `:stop`.
    Suspend,
    /// The console closed (quit, or its run handle dropped) with the run in progress.
    ConsoleClosed,
}

impl Interrupt {
    /// The recorded reason; `during` says what was going on (`" while waiting"`, or empty).
    pub fn reason(self, during: &str) -> String {
        let why = match self {
            Self::CtrlC => "interrupted by the operator (Ctrl-C)",
            Self::Suspend => "suspended by the operator from the console",
            Self::ConsoleClosed => "interrupted: the console closed",
        };
        format!("{why}{during}")
    }
}

/// The person at the keyboard, as the executor sees them.
pub trait Frontend: Send + Sync {
    /// Answers an `Ask*` effect with the matching event (or [`Event::Abort`] /
    /// [`Event::Interrupted`]).
    fn answer(&self, ask: &Effect) -> BoxFuture<'static, Event>;
    /// Shows progress: steps started and finished, timers, refusals, command results.
    fn show(&self, effect: &Effect);
    /// Sees the whole run after every round of events (the console's runbook pane redraws its
    /// step list, per-host results, path and timers from it). Line front ends ignore it.
    fn progress(&self, _run: &Run) {}
    /// A line for the operator about what the executor itself did (an inventory write-back,
    /// or the exact edit to make by hand).
    fn note(&self, _text: &str) {}
}

/// The operator's name and role from the inventory: `$USER` (or `override_name`), looked up in
/// `[operators]`. With no `[operators]` table the fleet is a one-person setup and its user is
/// admin; an operator missing from a non-empty table is an auditor (read-only), so a stranger at
/// the keyboard cannot change hosts.
pub fn operator_session(
    fleet: &Fleet,
    override_name: Option<&str>,
    readonly: bool,
    interactive: bool,
) -> Session {
    let operator = override_name
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_string());
    let role = if fleet.operators.is_empty() {
        AccessRole::Admin
    } else {
        match fleet.operators.get(&operator) {
            Some(Role::Admin) => AccessRole::Admin,
            Some(Role::Operator) => AccessRole::Operator,
            Some(Role::Developer) => AccessRole::Developer,
            Some(Role::Auditor) | None => AccessRole::Auditor,
        }
    };
    Session {
        operator,
        role,
        readonly: readonly || fleet.readonly,
        interactive,
    }
}

/// Where suspended runs are kept: `$XDG_STATE_HOME/fleetdeck/runs`.
pub fn runs_dir() -> PathBuf {
    crate::paths::state_dir()
        .unwrap_or_else(|| PathBuf::from("fleetdeck"))
        .join("runs")
}

/// A fresh run id: time plus randomness, sortable and unique enough for one machine.
pub fn new_run_id(now: SystemTime) -> String {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{secs}-{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// Performs a run's effects until it finishes or suspends.
pub struct Executor {
    fleet: Arc<Fleet>,
    transports: Vec<Transport>,
    audit: Arc<AuditLog>,
    actor: Actor,
    run_id: String,
    runs_dir: PathBuf,
    http: reqwest::Client,
    /// `seq` of each `before` record written by this process whose `after` is not written
    /// yet: the after record's `pair`. An entry left here when the process ends is what
    /// `audit show --unfinished` lists.
    open: std::sync::Mutex<BTreeMap<Opened, u64>>,
}

/// What an open `before` record is about, so its `after` finds it (docs/audit.md, "Actions").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Opened {
    /// `runbook.start` or `runbook.resume`, closed by `runbook.finish` or `interrupt`.
    Run,
    /// `step.run` of this step, closed by its `step.result`.
    Step(String),
    /// `notify` of this step, closed by its `notify.result`.
    Notify(String),
    /// `exec` of the engine's command id, closed by its `exec.result`.
    Exec(u64),
}

/// How an audit record takes part in a pair: it opens one, closes one, or stands alone.
enum Pairing {
    Open(Opened),
    Close(Opened),
    Single,
}

/// The pairing of the engine's record: the one table of which action opens and which closes.
fn pairing(entry: &runbook::AuditEntry) -> Pairing {
    let step = || entry.step.clone().unwrap_or_default();
    match (entry.action, entry.exec) {
        (AuditAction::RunbookStart | AuditAction::RunbookResume, _) => Pairing::Open(Opened::Run),
        (AuditAction::RunbookFinish | AuditAction::Interrupt, _) => Pairing::Close(Opened::Run),
        (AuditAction::StepRun, _) => Pairing::Open(Opened::Step(step())),
        (AuditAction::StepResult, _) => Pairing::Close(Opened::Step(step())),
        (AuditAction::Notify, _) => Pairing::Open(Opened::Notify(step())),
        (AuditAction::NotifyResult, _) => Pairing::Close(Opened::Notify(step())),
        (AuditAction::Exec, Some(exec)) => Pairing::Open(Opened::Exec(exec.0)),
        (AuditAction::ExecResult, Some(exec)) => Pairing::Close(Opened::Exec(exec.0)),
        _ => Pairing::Single,
    }
}

impl Executor {
    /// An executor for one run.
    pub fn new(
        fleet: Arc<Fleet>,
        transports: Vec<Transport>,
        audit: Arc<AuditLog>,
        session: &Session,
        run_id: String,
        runs_dir: PathBuf,
    ) -> Executor {
        let actor = Actor::new(
            &session.operator,
            session.role.as_str(),
            crate::audit::detect_source(),
        );
        let http = reqwest::Client::builder()
            .timeout(NOTIFY_TIMEOUT)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Executor {
            fleet,
            transports,
            audit,
            actor,
            run_id,
            runs_dir,
            http,
            open: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// A [`RunContext`] for `targets`, with a fresh health snapshot of every host that shares a
    /// consensus group with a target (the quorum guard counts members already down).
    pub async fn context(
        &self,
        targets: Vec<String>,
        inputs: BTreeMap<String, String>,
        session: Session,
    ) -> RunContext {
        let groups: Vec<&str> = self
            .fleet
            .hosts
            .iter()
            .filter(|h| targets.contains(&h.name))
            .filter_map(|h| h.consensus_group.as_deref())
            .collect();
        let watched: Vec<String> = self
            .fleet
            .hosts
            .iter()
            .filter(|h| {
                targets.contains(&h.name)
                    || h.consensus_group
                        .as_deref()
                        .is_some_and(|g| groups.contains(&g))
            })
            .map(|h| h.name.clone())
            .collect();
        let health = self.probe_health(&watched).await;
        RunContext {
            fleet: runbook::HostInfo::from_fleet(&self.fleet),
            targets,
            inputs,
            health,
            session,
            now: SystemTime::now(),
            height_lag: self.fleet.thresholds.height_lag_warn,
        }
    }

    /// Drives `run` from `effects` until it finishes or suspends. `interrupt` resolves, with
    /// why, when the operator presses Ctrl-C, suspends from the console or the console closes:
    /// the run is then interrupted with that reason and saved.
    pub async fn drive(
        &self,
        run: &mut Run,
        mut effects: Vec<Effect>,
        frontend: &dyn Frontend,
        interrupt: &mut (dyn futures::Future<Output = Interrupt> + Send + Unpin),
    ) -> Result<Ending, ExecutorError> {
        loop {
            frontend.progress(run);
            let mut events = Vec::new();
            let mut index = 0;
            while index < effects.len() {
                // The engine emits each command as its `exec` record followed by the command,
                // host after host. Such a run of pairs is one batch: every record is written
                // (in order, fsync'd) first, then the commands run together, so each record
                // still precedes its command and the hosts of a step run concurrently.
                let batch_end = exec_batch_end(&effects, index);
                if batch_end > index {
                    let mut unwritten = None;
                    for effect in &effects[index..batch_end] {
                        if let Effect::Audit(entry) = effect
                            && let Err(e) = self.write_audit(entry, run)
                        {
                            unwritten = Some(e);
                            break;
                        }
                    }
                    if let Some(e) = unwritten {
                        // Nothing may act on an unrecorded decision: stop here, resumably.
                        frontend.show(&Effect::Refused {
                            reason: format!("audit log unwritable: {e}"),
                        });
                        events.push(Event::Interrupted {
                            reason: format!("audit log unwritable: {e}"),
                        });
                        break;
                    }
                    let execs: Vec<Effect> = effects[index..batch_end]
                        .iter()
                        .filter(|e| matches!(e, Effect::Exec { .. }))
                        .cloned()
                        .collect();
                    let (finished, lost) = tokio::select! {
                        r = self.exec_batch(&execs, frontend) => r,
                        why = &mut *interrupt => (Vec::new(), Some(why.reason(" while commands ran"))),
                    };
                    events.extend(finished);
                    if let Some(reason) = lost {
                        events.push(Event::Interrupted { reason });
                        break;
                    }
                    index = batch_end;
                    continue;
                }
                let effect = &effects[index];
                index += 1;
                match effect {
                    Effect::Audit(entry) => {
                        if let Err(e) = self.write_audit(entry, run) {
                            // Nothing may act on an unrecorded decision: stop here, resumably.
                            frontend.show(&Effect::Refused {
                                reason: format!("audit log unwritable: {e}"),
                            });
                            events.push(Event::Interrupted {
                                reason: format!("audit log unwritable: {e}"),
                            });
                            break;
                        }
                    }
                    Effect::Exec { .. } => unreachable!("execs are batched above"),
                    Effect::Reconnect {
                        id,
                        host,
                        port,
                        command,
                        timeout,
                        ..
                    } => {
                        frontend.show(effect);
                        let tried = self.reconnect(host, *port, command, *timeout);
                        tokio::select! {
                            result = tried => events.push(Event::ExecFinished { id: *id, result }),
                            why = &mut *interrupt => {
                                events.push(Event::Interrupted {
                                    reason: why.reason(" while a new connection was tried"),
                                });
                                break;
                            }
                        }
                    }
                    Effect::InventoryPort { step, host, port } => {
                        frontend.show(effect);
                        let written = self.write_back_port(run, step, host, *port);
                        match &written {
                            Ok(write_back::PortEdit::Written(what)) => {
                                frontend.note(&format!("inventory: {what}"));
                            }
                            Ok(write_back::PortEdit::Manual { reason, edit }) => frontend.note(
                                &format!("inventory NOT written ({reason}): edit by hand: {edit}"),
                            ),
                            Err(_) => {}
                        }
                        if let Err(e) = written {
                            frontend.show(&Effect::Refused {
                                reason: format!("audit log unwritable: {e}"),
                            });
                            events.push(Event::Interrupted {
                                reason: format!("audit log unwritable: {e}"),
                            });
                            break;
                        }
                    }
                    Effect::AskInput { .. }
                    | Effect::AskConfirm { .. }
                    | Effect::AskChoice { .. }
                    | Effect::AskManual { .. }
                    | Effect::AskNote { .. }
                    | Effect::AskUnknown { .. } => {
                        let answer = frontend.answer(effect);
                        let event = tokio::select! {
                            e = answer => e,
                            why = &mut *interrupt => Event::Interrupted { reason: why.reason("") },
                        };
                        events.push(event);
                    }
                    Effect::Wait { until, .. } => {
                        frontend.show(effect);
                        let wait = until.duration_since(SystemTime::now()).unwrap_or_default();
                        tokio::select! {
                            () = tokio::time::sleep(wait) => events.push(Event::Ticked { now: SystemTime::now() }),
                            why = &mut *interrupt => events.push(Event::Interrupted { reason: why.reason(" while waiting") }),
                        }
                    }
                    Effect::ProbeHealth { hosts, .. } => {
                        let facts = self.probe_health(hosts).await;
                        events.push(Event::HostHealth {
                            facts,
                            now: SystemTime::now(),
                        });
                    }
                    Effect::Notify {
                        step,
                        url,
                        headers,
                        body,
                        ..
                    } => {
                        frontend.show(effect);
                        let result = self.notify(url, headers, body).await;
                        events.push(Event::NotifyFinished {
                            step: step.clone(),
                            result,
                        });
                    }
                    Effect::Suspended { step, reason } => {
                        frontend.show(effect);
                        self.save(run)?;
                        return Ok(Ending::Suspended {
                            run_id: self.run_id.clone(),
                            step: step.clone(),
                            reason: reason.clone(),
                        });
                    }
                    Effect::Finished { outcome } => {
                        frontend.show(effect);
                        // A refusal before this start or resume ran a command or posted a
                        // webhook leaves a saved run as it was (e.g. `--resume` without a
                        // terminal), so it can still be resumed.
                        if outcome.acted || outcome.kind != OutcomeKind::Refused {
                            self.forget_saved();
                        }
                        return Ok(Ending::Finished(outcome.clone()));
                    }
                    Effect::StepStarted { .. }
                    | Effect::StepFinished { .. }
                    | Effect::StartTimer { .. }
                    | Effect::StopTimer { .. }
                    | Effect::TimerExpired { .. }
                    | Effect::Refused { .. }
                    | Effect::Ignored { .. } => frontend.show(effect),
                }
            }
            if !run.timers().is_empty() {
                events.push(Event::Ticked {
                    now: SystemTime::now(),
                });
            }
            if events.is_empty() {
                // The engine asked for nothing and is not finished: it waits for time to pass.
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => events.push(Event::Ticked { now: SystemTime::now() }),
                    why = &mut *interrupt => events.push(Event::Interrupted { reason: why.reason("") }),
                }
            }
            effects = events.into_iter().flat_map(|e| run.handle(e)).collect();
        }
    }

    fn write_audit(
        &self,
        entry: &runbook::AuditEntry,
        run: &Run,
    ) -> Result<(), crate::audit::AuditError> {
        let mut e = LogEntry::new(&self.actor, entry.action.as_str())
            .run(&self.run_id)
            .runbook(&entry.runbook);
        let _ = run;
        e.step = entry.step.clone();
        e.target = entry.target.clone();
        e.command = entry.command.clone();
        e.result = entry.result.clone();
        e.reason = entry.reason.clone();
        e.duration_ms = entry.duration_ms;
        // Append blocks on the file lock and fsync; keep the other tasks of this runtime going.
        tokio::task::block_in_place(|| match pairing(entry) {
            Pairing::Open(key) => {
                let before = self.audit.append_before(e)?;
                if let Ok(mut open) = self.open.lock() {
                    open.insert(key, before.seq);
                }
                Ok(())
            }
            Pairing::Close(Opened::Run) => {
                // The run ends or is suspended while a step is in progress (an abort, a refusal,
                // Ctrl-C): that step's `step.run` gets its `step.result` first, so a run that
                // ended or was suspended leaves no step open. Commands whose outcome is unknown
                // keep their open `exec`: that is worth finding.
                self.close_steps(entry)?;
                self.append_closing(e, Opened::Run)
            }
            Pairing::Close(key) => self.append_closing(e, key),
            Pairing::Single => self.audit.append(e).map(|_| ()),
        })
    }

    /// Writes `e` as the `after` of the open record `key`, or as a single record when this
    /// process wrote no such `before` (a resumed run: its opening record belongs to the
    /// process that was interrupted).
    fn append_closing(&self, e: LogEntry, key: Opened) -> Result<(), crate::audit::AuditError> {
        let before = self.open.lock().ok().and_then(|mut open| open.remove(&key));
        match before {
            Some(seq) => self.audit.append_after(e, seq).map(|_| ()),
            None => self.audit.append(e).map(|_| ()),
        }
    }

    /// Closes every open `step.run` with a `step.result` whose result says how the run left
    /// it: `suspended` on an `interrupt`, else the run's outcome (`aborted`, `refused`, …).
    fn close_steps(&self, ending: &runbook::AuditEntry) -> Result<(), crate::audit::AuditError> {
        let steps: Vec<String> = match self.open.lock() {
            Ok(open) => open
                .keys()
                .filter_map(|k| match k {
                    Opened::Step(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        let suspended = ending.action == AuditAction::Interrupt;
        for step in steps {
            let mut e = LogEntry::new(&self.actor, AuditAction::StepResult.as_str())
                .run(&self.run_id)
                .runbook(&ending.runbook)
                .step(&step);
            e.result = Some(if suspended {
                "suspended".to_owned()
            } else {
                ending.result.clone().unwrap_or_else(|| "ended".to_owned())
            });
            let how = if suspended { "suspended" } else { "ended" };
            e.reason = Some(match &ending.reason {
                Some(r) => format!("the run {how} during this step: {r}"),
                None => format!("the run {how} during this step"),
            });
            self.append_closing(e, Opened::Step(step))?;
        }
        Ok(())
    }

    /// Runs one batch of execs concurrently. Returns the results, and a reason when a
    /// connection was lost while a command ran (its outcome is then unknown).
    async fn exec_batch(
        &self,
        batch: &[Effect],
        frontend: &dyn Frontend,
    ) -> (Vec<Event>, Option<String>) {
        let runs = batch.iter().map(|effect| async move {
            let Effect::Exec {
                id,
                host,
                command,
                timeout,
                ..
            } = effect
            else {
                unreachable!("only execs are batched")
            };
            frontend.show(effect);
            let started = Instant::now();
            let Some(index) = self.fleet.hosts.iter().position(|h| &h.name == host) else {
                return (
                    *id,
                    host.clone(),
                    Err(TransportError::Other(format!("unknown host {host}"))),
                    started.elapsed(),
                );
            };
            let req = ExecRequest {
                command: command.clone(),
                stdin: None,
                timeout: timeout.unwrap_or(self.fleet.ssh.command_timeout),
                max_output: MAX_OUTPUT,
            };
            let result = self.transports[index].exec(&req).await;
            (*id, host.clone(), result, started.elapsed())
        });
        let mut events = Vec::new();
        let mut lost = None;
        for (id, host, result, elapsed) in futures::future::join_all(runs).await {
            let duration_ms = Some(elapsed.as_millis() as u64);
            let result = match result {
                Ok(out) => ExecResult {
                    exit: out.status.map(|s| s as i32),
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    error: out
                        .truncated()
                        .then(|| format!("output truncated: {} bytes dropped", out.dropped_bytes)),
                    duration_ms,
                },
                Err(TransportError::Unreachable(u)) if u.kind == UnreachableKind::Disconnected => {
                    lost = Some(format!(
                        "connection to {host} lost while the command ran: {}",
                        u.message
                    ));
                    continue;
                }
                Err(e) => ExecResult {
                    exit: None,
                    stdout: String::new(),
                    stderr: String::new(),
                    error: Some(e.to_string()),
                    duration_ms,
                },
            };
            events.push(Event::ExecFinished { id, result });
        }
        (events, lost)
    }

    /// Runs `command` over a new connection to `host` (on `port` when given) and closes it:
    /// the `reconnect` probe. The pooled connection is not used; every failure — refused,
    /// timed out, host key, login — is the probe's failed result.
    async fn reconnect(
        &self,
        host: &str,
        port: Option<u16>,
        command: &str,
        timeout: Option<Duration>,
    ) -> ExecResult {
        let started = Instant::now();
        let failed = |error: String| ExecResult {
            exit: None,
            stdout: String::new(),
            stderr: String::new(),
            error: Some(error),
            duration_ms: Some(started.elapsed().as_millis() as u64),
        };
        let Some(index) = self.fleet.hosts.iter().position(|h| h.name == host) else {
            return failed(format!("unknown host {host}"));
        };
        let req = ExecRequest {
            command: command.to_owned(),
            stdin: None,
            timeout: timeout.unwrap_or(self.fleet.ssh.command_timeout),
            max_output: MAX_OUTPUT,
        };
        match self.transports[index].exec_fresh(port, &req).await {
            Ok(out) => ExecResult {
                exit: out.status.map(|s| s as i32),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                error: None,
                duration_ms: Some(started.elapsed().as_millis() as u64),
            },
            Err(e) => failed(format!("new connection failed: {e}")),
        }
    }

    /// Writes a port proven by a `reconnect` probe to the inventory (or says exactly what to
    /// edit by hand), and audits either as `inventory.edit`.
    fn write_back_port(
        &self,
        run: &Run,
        step: &str,
        host: &str,
        port: u16,
    ) -> Result<write_back::PortEdit, crate::audit::AuditError> {
        let current = self
            .fleet
            .hosts
            .iter()
            .position(|h| h.name == host)
            .and_then(|i| match &self.transports[i] {
                Transport::Ssh(h) => Some(h.target().port),
                Transport::Local(_) => None,
            })
            .unwrap_or(22);
        let edit = write_back::write_port(&self.fleet, host, current, port);
        let mut e = LogEntry::new(&self.actor, AuditAction::InventoryEdit.as_str())
            .run(&self.run_id)
            .runbook(&run.runbook().name)
            .step(step);
        e.target = Some(host.to_owned());
        match &edit {
            write_back::PortEdit::Written(what) => {
                e.command = Some(what.clone());
                e.result = Some("written".to_owned());
                tracing::info!(%host, %what, "inventory port written");
            }
            write_back::PortEdit::Manual { reason, edit } => {
                e.command = Some(format!("port = {port}"));
                e.result = Some("not written".to_owned());
                e.reason = Some(format!("{reason}; edit by hand: {edit}"));
                tracing::warn!(%host, %reason, %edit, "inventory port not written");
            }
        }
        tokio::task::block_in_place(|| self.audit.append(e))?;
        Ok(edit)
    }

    /// Polls `hosts` now and judges them with the health rules.
    async fn probe_health(&self, hosts: &[String]) -> BTreeMap<String, HealthFact> {
        let selected: Vec<usize> = self
            .fleet
            .hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| hosts.contains(&h.name))
            .map(|(i, _)| i)
            .collect();
        let store = Store::poll_once(
            self.fleet.clone(),
            &self.transports,
            &selected,
            SystemTime::now,
        )
        .await;
        let (state, verdicts) = (store.state(), store.health());
        // What makes a consensus member count as down for the quorum guard is its group's
        // judgment of that member (unreachable, no height, stalled, syncing, lagging), not the
        // group alert (`consensus_at_risk`, `consensus_lost`) every member carries when *other*
        // members are down: counting that would make one member down look like N down.
        let member_ok: BTreeMap<usize, bool> = store
            .consensus_groups()
            .iter()
            .flat_map(|g| g.members.iter().map(|m| (m.host, m.healthy)))
            .collect();
        selected
            .into_iter()
            .map(|i| {
                let hs = &state.hosts[i];
                let reachable = hs.reachable() == Some(true);
                let probed = hs.probed.as_ref().filter(|_| reachable);
                let services = probed
                    .map(|p| {
                        p.services
                            .iter()
                            .map(|s| {
                                let state = match s.state {
                                    ObservedState::Running => ServiceState::Running,
                                    ObservedState::Stopped => ServiceState::Stopped,
                                    ObservedState::Failed => ServiceState::Failed,
                                    ObservedState::Unknown => ServiceState::Unknown,
                                };
                                (s.name.clone(), state)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let height = probed
                    .and_then(|p| p.chain.as_ref())
                    .and_then(|c| c.height.value().copied());
                let fact = HealthFact {
                    reachable,
                    healthy: counts_as_healthy(reachable, &verdicts[i], member_ok.get(&i).copied()),
                    services,
                    height,
                };
                (self.fleet.hosts[i].name.clone(), fact)
            })
            .collect()
    }

    async fn notify(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &serde_json::Value,
    ) -> Result<u16, String> {
        let mut request = self.http.post(url).json(body);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        match request.send().await {
            Ok(reply) => Ok(reply.status().as_u16()),
            // reqwest's error text can carry the URL, which may hold a token: keep only the kind.
            Err(e) if e.is_timeout() => Err("timed out".into()),
            Err(e) if e.is_connect() => Err("could not connect".into()),
            Err(_) => Err("request failed".into()),
        }
    }

    fn state_path(&self) -> PathBuf {
        self.runs_dir.join(format!("{}.json", self.run_id))
    }

    fn save(&self, run: &Run) -> Result<(), ExecutorError> {
        let path = self.state_path();
        let err = |message: String| ExecutorError::State {
            path: path.clone(),
            message,
        };
        let text = serde_json::to_vec_pretty(run).map_err(|e| err(e.to_string()))?;
        write_private(&path, &text).map_err(|e| err(e.to_string()))
    }

    fn forget_saved(&self) {
        let _ = std::fs::remove_file(self.state_path());
    }
}

/// End (exclusive) of the exec batch starting at `start`: consecutive commands, each optionally
/// preceded by its own `exec` audit record. `start` when the effect there starts no batch.
fn exec_batch_end(effects: &[Effect], start: usize) -> usize {
    let mut end = start;
    loop {
        match (effects.get(end), effects.get(end + 1)) {
            (Some(Effect::Exec { .. }), _) => end += 1,
            (Some(Effect::Audit(a)), Some(Effect::Exec { .. }))
                if a.action == AuditAction::Exec =>
            {
                end += 2
            }
            _ => return end,
        }
    }
}

/// Whether a polled host counts as up for the engine (and its quorum guard): reachable, no
/// critical alert of its own, and — for a consensus member — healthy in its group's judgment.
/// The group alerts every member carries are left out: they are about the other members.
fn counts_as_healthy(
    reachable: bool,
    verdict: &health::HostHealth,
    member_ok: Option<bool>,
) -> bool {
    let own_critical = verdict
        .alerts
        .iter()
        .any(|a| a.severity == Severity::Critical && !GROUP_RULES.contains(&a.rule));
    reachable && !own_critical && member_ok.unwrap_or(true)
}

/// Loads a saved run.
pub fn load_saved(runs_dir: &Path, run_id: &str) -> Result<Run, ExecutorError> {
    let path = runs_dir.join(format!("{run_id}.json"));
    let err = |message: String| ExecutorError::State {
        path: path.clone(),
        message,
    };
    if run_id.contains('/') || run_id.contains("..") {
        return Err(err("not a run id".into()));
    }
    let text = std::fs::read(&path).map_err(|e| err(e.to_string()))?;
    serde_json::from_slice(&text).map_err(|e| err(format!("not a saved run: {e}")))
}

/// Writes `bytes` to `path` atomically (temp file + rename) with mode 0600, directory 0700.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{ConfigSource, load_fleet_from_str};

    #[test]
    fn roles_come_from_the_operators_table_and_strangers_are_read_only() {
        let fleet = load_fleet_from_str(
            "[fleet]\nname = \"t\"\n[operators]\nalice = \"admin\"\nbob = \"operator\"\ncarol = \"auditor\"\n[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\n",
            ConfigSource::Embedded,
        )
        .unwrap();
        assert_eq!(
            operator_session(&fleet, Some("alice"), false, true).role,
            AccessRole::Admin
        );
        assert_eq!(
            operator_session(&fleet, Some("bob"), false, true).role,
            AccessRole::Operator
        );
        assert_eq!(
            operator_session(&fleet, Some("carol"), false, true).role,
            AccessRole::Auditor
        );
        assert_eq!(
            operator_session(&fleet, Some("mallory"), false, true).role,
            AccessRole::Auditor
        );
        assert!(operator_session(&fleet, Some("alice"), true, true).readonly);
        let solo = load_fleet_from_str(
            "[fleet]\nname = \"t\"\n[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\n",
            ConfigSource::Embedded,
        )
        .unwrap();
        assert_eq!(
            operator_session(&solo, Some("anyone"), false, false).role,
            AccessRole::Admin
        );
    }

    #[test]
    fn saved_runs_are_private_and_ids_cannot_escape_the_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs/x.json");
        write_private(&path, b"{}").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        assert!(load_saved(dir.path(), "../etc/passwd").is_err());
    }

    #[test]
    fn a_group_alert_about_other_members_does_not_make_a_member_down() {
        let alert = |severity, rule| health::Alert {
            severity,
            rule,
            subject: "group0".into(),
            value: None,
            message: String::new(),
        };
        let verdict = |alerts| health::HostHealth {
            status: health::Status::Critical,
            alerts,
            lag: Some(0),
        };
        // One member of four down: the others carry `consensus_at_risk` and are still up.
        let at_risk = verdict(vec![alert(Severity::Critical, "consensus_at_risk")]);
        assert!(counts_as_healthy(true, &at_risk, Some(true)));
        assert!(
            !counts_as_healthy(true, &at_risk, Some(false)),
            "the group's own judgment of it counts"
        );
        assert!(
            !counts_as_healthy(false, &at_risk, Some(true)),
            "unreachable is down"
        );
        let own = verdict(vec![alert(Severity::Critical, "service_down")]);
        assert!(
            !counts_as_healthy(true, &own, None),
            "its own critical alert makes it down"
        );
        let warned = verdict(vec![alert(Severity::Warning, "height_lag")]);
        assert!(counts_as_healthy(true, &warned, None));
    }

    #[test]
    fn a_step_s_commands_on_several_hosts_form_one_batch_after_their_records() {
        let record = |action| {
            Effect::Audit(runbook::AuditEntry {
                action,
                runbook: "r".into(),
                step: Some("s".into()),
                target: None,
                command: None,
                result: None,
                reason: None,
                duration_ms: None,
                exec: None,
            })
        };
        let exec = |n| Effect::Exec {
            id: runbook::ExecId(n),
            step: "s".into(),
            host: format!("h{n}"),
            command: "true".into(),
            display: "true".into(),
            timeout: None,
        };
        let effects = vec![
            record(AuditAction::StepRun),
            record(AuditAction::Exec),
            exec(1),
            record(AuditAction::Exec),
            exec(2),
            record(AuditAction::Exec),
            exec(3),
            record(AuditAction::StepResult),
        ];
        assert_eq!(
            exec_batch_end(&effects, 0),
            0,
            "a step record starts no batch"
        );
        assert_eq!(exec_batch_end(&effects, 1), 7, "three hosts, one batch");
        assert_eq!(exec_batch_end(&effects, 7), 7);
        // A record that is not the command's own never joins a batch.
        let effects = vec![record(AuditAction::Confirm), exec(1)];
        assert_eq!(exec_batch_end(&effects, 0), 0);
        assert_eq!(exec_batch_end(&effects, 1), 2);
    }

    /// Which engine records open and close a pair (docs/audit.md, "Actions"): the run, each
    /// step, each webhook and each command.
    #[test]
    fn pairing_opens_and_closes_the_documented_pairs() {
        let entry = |action, step: Option<&str>, exec: Option<u64>| runbook::AuditEntry {
            action,
            runbook: "r".into(),
            step: step.map(str::to_owned),
            target: None,
            command: None,
            result: None,
            reason: None,
            duration_ms: None,
            exec: exec.map(runbook::ExecId),
        };
        let key = |e: &runbook::AuditEntry| match pairing(e) {
            Pairing::Open(k) => format!("open {k:?}"),
            Pairing::Close(k) => format!("close {k:?}"),
            Pairing::Single => "single".to_owned(),
        };
        let s = Some("s");
        let cases = [
            (AuditAction::RunbookStart, None, None, "open Run"),
            (AuditAction::RunbookResume, s, None, "open Run"),
            (AuditAction::RunbookFinish, s, None, "close Run"),
            (AuditAction::Interrupt, s, None, "close Run"),
            (AuditAction::StepRun, s, None, "open Step(\"s\")"),
            (AuditAction::StepResult, s, None, "close Step(\"s\")"),
            (AuditAction::Notify, s, None, "open Notify(\"s\")"),
            (AuditAction::NotifyResult, s, None, "close Notify(\"s\")"),
            (AuditAction::Exec, s, Some(7), "open Exec(7)"),
            (AuditAction::ExecResult, s, Some(7), "close Exec(7)"),
            (AuditAction::Confirm, s, None, "single"),
            (AuditAction::Abort, s, None, "single"),
        ];
        for (action, step, exec, want) in cases {
            assert_eq!(key(&entry(action, step, exec)), want, "{action}");
        }
    }

    /// A front end at which nobody answers: only the interrupt can end the question.
    struct Silent;

    impl Frontend for Silent {
        fn answer(&self, _: &Effect) -> BoxFuture<'static, Event> {
            Box::pin(futures::future::pending())
        }
        fn show(&self, _: &Effect) {}
    }

    /// Issue 17: `X` in the console was recorded as "interrupted by the operator (Ctrl-C)".
    /// The interrupt's own reason must reach the engine, the audit record and the ending.
    #[test]
    fn a_suspension_from_the_console_is_audited_in_its_own_words() {
        let fleet = load_fleet_from_str(
            "[fleet]\nname = \"t\"\n[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\n",
            ConfigSource::Embedded,
        )
        .unwrap();
        let rb = runbook::parse(
            "name = \"tick\"\ntitle = \"t\"\n[[steps]]\nid = \"tick\"\nkind = \"manual\"\n",
            "tick.toml",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let audit = Arc::new(AuditLog::open(dir.path().join("audit.log")).unwrap());
        let session = operator_session(&fleet, Some("alice"), false, true);
        let exec = Executor::new(
            Arc::new(fleet.clone()),
            Vec::new(),
            audit,
            &session,
            "r1".into(),
            dir.path().join("runs"),
        );
        let ctx = RunContext {
            fleet: runbook::HostInfo::from_fleet(&fleet),
            targets: vec!["a".into()],
            inputs: BTreeMap::new(),
            health: BTreeMap::new(),
            session,
            now: SystemTime::now(),
            height_lag: 10,
        };
        let (mut run, effects) = Run::start(rb, ctx);
        // The audit log is written with `block_in_place`: a multi-threaded runtime, as in use.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut suspend = Box::pin(async { Interrupt::Suspend });
        let ending = runtime
            .block_on(exec.drive(&mut run, effects, &Silent, &mut suspend))
            .unwrap();
        let Ending::Suspended { reason, .. } = ending else {
            panic!("expected a suspension, got {ending:?}");
        };
        assert_eq!(reason, "suspended by the operator from the console");
        let log = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
        let record = log
            .lines()
            .find(|l| l.contains("\"interrupt\""))
            .unwrap_or_else(|| panic!("no interrupt record in:\n{log}"));
        assert!(
            record.contains("suspended by the operator from the console"),
            "{record}"
        );
        assert!(!log.contains("Ctrl-C"), "{log}");
    }

    #[test]
    fn run_ids_are_unique_and_start_with_the_time() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let a = new_run_id(t);
        assert!(a.starts_with("1800000000-"), "{a}");
        assert_ne!(a, new_run_id(t));
    }
}

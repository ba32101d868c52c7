//! The fan-out: one task per host, at most `concurrency` running at once, each bounded by the
//! per-host timeout, each writing its `exec.result` record (paired with the `exec` record
//! written before anything started) before its result is handed on. Results come out in the
//! order hosts finish, so a front end can show "n/N done" as they arrive.
//!
//! Cancelling ends every host that has not finished: one still waiting for its turn never
//! starts; one running is dropped (its channel closes, sshd ends the session) and reported as
//! cancelled while running, its outcome unknown. Both are recorded as `cancelled`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, watch};

use super::{HostOutcome, HostResult, Limits, NotRun, NotRunKind, Ran};
use crate::audit::{Actor, AuditAction, AuditEntry, AuditLog};
use crate::transport::{ExecRequest, Transport, TransportError};

/// Slack on top of the command timeout for connecting and the channel's own bookkeeping: the
/// transport bounds each part itself, this outer bound is the last line of defence.
const OUTER_SLACK: Duration = Duration::from_secs(5);

/// One host to run on, with the `seq` of its `exec` record.
pub(super) struct Target {
    pub(super) index: usize,
    pub(super) name: String,
    pub(super) transport: Transport,
    pub(super) audit_seq: u64,
}

/// A command running on the fleet. Results arrive through [`next`](Running::next) as hosts
/// finish; dropping it cancels what has not finished (without waiting for their records:
/// use [`cancel`](Running::cancel) then drain `next` to have them).
pub struct Running {
    rx: mpsc::UnboundedReceiver<HostResult>,
    cancel: Arc<watch::Sender<bool>>,
    total: usize,
    /// Hosts that have not reported yet: index → name.
    pending: BTreeMap<usize, String>,
    audit_errors: Arc<Mutex<Vec<String>>>,
    started: Instant,
}

impl Running {
    /// How many hosts the command was started on.
    pub fn total(&self) -> usize {
        self.total
    }

    /// How many have reported.
    pub fn done(&self) -> usize {
        self.total - self.pending.len()
    }

    /// Time since the command started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The hosts that have not reported yet, inventory order.
    pub fn pending(&self) -> Vec<String> {
        self.pending.values().cloned().collect()
    }

    /// The next host to finish, after its `exec.result` record was written; `None` once every
    /// host has reported.
    pub async fn next(&mut self) -> Option<HostResult> {
        let r = self.rx.recv().await?;
        self.pending.remove(&r.index);
        Some(r)
    }

    /// Cancels every host that has not finished; each still reports (as cancelled) through
    /// [`next`](Self::next). Returns the names of the hosts not reported yet: one of them that
    /// finished a moment before still reports its real answer, so name the cancelled hosts
    /// from the results ([`super::NotRunKind::Cancelled`]), not from this list.
    pub fn cancel(&self) -> Vec<String> {
        let _ = self.cancel.send(true);
        self.pending()
    }

    /// A handle that cancels this command from elsewhere (the console's key handler, while a
    /// task owns the [`Running`] and forwards its results).
    pub fn canceller(&self) -> Canceller {
        Canceller {
            cancel: self.cancel.clone(),
        }
    }

    /// Waits for every host; results in inventory order.
    pub async fn collect(mut self) -> Vec<HostResult> {
        let mut all = Vec::with_capacity(self.total);
        while let Some(r) = self.next().await {
            all.push(r);
        }
        all.sort_by_key(|r| r.index);
        all
    }

    /// `exec.result` records that could not be written (the host's result is still reported).
    pub fn audit_errors(&self) -> Vec<String> {
        self.audit_errors
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }
}

/// Cancels a [`Running`] command from another task; cheap to clone.
#[derive(Clone)]
pub struct Canceller {
    cancel: Arc<watch::Sender<bool>>,
}

impl Canceller {
    /// Same as [`Running::cancel`], without the list: the cancelled hosts report through the
    /// `Running` as cancelled.
    pub fn cancel(&self) {
        let _ = self.cancel.send(true);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.cancel.send(true);
    }
}

pub(super) fn spawn(
    targets: Vec<Target>,
    run_id: String,
    sent: String,
    shown: String,
    limits: Limits,
    log: Arc<AuditLog>,
    actor: Actor,
) -> Running {
    let (tx, rx) = mpsc::unbounded_channel();
    let (cancel, cancelled) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(limits.concurrency.max(1)));
    let audit_errors = Arc::new(Mutex::new(Vec::new()));
    let pending = targets
        .iter()
        .map(|t| (t.index, t.name.clone()))
        .collect::<BTreeMap<_, _>>();
    let total = targets.len();
    let request = Arc::new(ExecRequest {
        command: sent,
        stdin: None,
        timeout: limits.timeout,
        max_output: limits.max_output,
    });
    let shown = Arc::new(shown);
    let run_id = Arc::new(run_id);
    for target in targets {
        let run_id = run_id.clone();
        let tx = tx.clone();
        let mut cancelled = cancelled.clone();
        let slots = slots.clone();
        let request = request.clone();
        let log = log.clone();
        let actor = actor.clone();
        let shown = shown.clone();
        let audit_errors = audit_errors.clone();
        let bound = limits.timeout + limits.connect_timeout + OUTER_SLACK;
        tokio::spawn(async move {
            // Set when the host's turn comes: its duration and whether a cancel caught it
            // running count from there, not from the queue.
            let began: OnceLock<Instant> = OnceLock::new();
            let run = async {
                let Ok(_slot) = slots.acquire().await else {
                    return not_run(NotRunKind::Failed, "the fan-out closed".into());
                };
                let _ = began.set(Instant::now());
                match tokio::time::timeout(bound, target.transport.exec(&request)).await {
                    Ok(Ok(out)) => HostOutcome::Ran(Ran {
                        exit_code: out.status,
                        stdout: out.stdout,
                        stderr: out.stderr,
                        dropped_bytes: out.dropped_bytes,
                    }),
                    Ok(Err(TransportError::Timeout(d))) => not_run(
                        NotRunKind::TimedOut,
                        format!("timed out after {}", humantime::format_duration(d)),
                    ),
                    Ok(Err(TransportError::Unreachable(u))) => {
                        not_run(NotRunKind::Unreachable, u.message)
                    }
                    Ok(Err(e)) => not_run(NotRunKind::Failed, e.to_string()),
                    Err(_) => not_run(
                        NotRunKind::TimedOut,
                        format!(
                            "timed out after {} (connecting included)",
                            humantime::format_duration(bound)
                        ),
                    ),
                }
            };
            let outcome = tokio::select! {
                biased;
                _ = cancelled.wait_for(|c| *c) => {
                    let reason = if began.get().is_some() {
                        "cancelled while running: its outcome is unknown"
                    } else {
                        "cancelled before it started"
                    };
                    not_run(NotRunKind::Cancelled, reason.into())
                }
                outcome = run => outcome,
            };
            let result = HostResult {
                index: target.index,
                name: target.name,
                duration: began.get().map_or(Duration::ZERO, Instant::elapsed),
                outcome,
            };
            let entry = result_entry(&actor, &result, &shown).run(run_id.as_str());
            let seq = target.audit_seq;
            let written =
                tokio::task::spawn_blocking(move || log.append_after(entry, seq).map(|_| ())).await;
            let failure = match written {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(e.to_string()),
            };
            if let Some(e) = failure {
                tracing::warn!(host = result.name, error = e, "exec.result not recorded");
                if let Ok(mut errors) = audit_errors.lock() {
                    errors.push(format!("{}: {e}", result.name));
                }
            }
            let _ = tx.send(result);
        });
    }
    Running {
        rx,
        cancel: Arc::new(cancel),
        total,
        pending,
        audit_errors,
        started: Instant::now(),
    }
}

fn not_run(kind: NotRunKind, reason: String) -> HostOutcome {
    HostOutcome::NotRun(NotRun { kind, reason })
}

/// The `exec.result` record of one host: result, duration, and for a command that ran the size
/// and hash of its output (never the output).
fn result_entry(actor: &Actor, r: &HostResult, shown: &str) -> AuditEntry {
    let entry = AuditEntry::new(actor, AuditAction::ExecResult)
        .target(r.name.clone())
        .command(shown)
        .duration(r.duration);
    match &r.outcome {
        HostOutcome::Ran(ran) => {
            let result = match ran.exit_code {
                Some(code) => format!("exit {code}"),
                None => "error: no exit status (killed by a signal?)".to_owned(),
            };
            let entry = entry
                .result(result)
                .output(ran.output_bytes(), ran.output_sha256());
            if ran.dropped_bytes > 0 {
                entry.reason(format!(
                    "output truncated: {} bytes beyond the cap were dropped",
                    ran.dropped_bytes
                ))
            } else {
                entry
            }
        }
        HostOutcome::NotRun(n) if n.kind == NotRunKind::Cancelled => {
            entry.result("cancelled").reason(n.reason.clone())
        }
        HostOutcome::NotRun(n) => entry.result(format!("error: {}", n.reason)),
    }
}

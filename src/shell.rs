//! An interactive shell on one host, as an audited action: who may open one, the audit records
//! around it, the operator's terminal while it runs, and the optional session recording.
//!
//! A shell is an action like a runbook step: only roles that may act (operators, admins) open
//! one, never in read-only mode, and a refusal is written to the audit log (`denied`). The
//! only way to a shell is [`ShellLauncher::authorize`], whose [`Authorized`] ticket
//! [`ShellLauncher::run`] requires, so no caller can skip the check. `shell.start` is on disk
//! before the shell opens and `shell.end` (how it ended, duration, bytes each way, the
//! recording) after it, paired like `exec`/`exec.result`.
//!
//! The pump itself is the transport's (`transport/ssh/pty.rs`, `transport/local.rs`); this
//! module owns the terminal around it ([`terminal`]: raw mode, keys, window changes) and the
//! recording ([`record`]). It draws nothing: the console suspends its own screen before
//! calling [`ShellLauncher::run`] and restores it after; `fleetdeck ssh` calls it directly.

pub mod record;
pub mod terminal;

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::audit::{Actor, AuditAction, AuditEntry, AuditError, AuditLog};
use crate::inventory::Fleet;
use crate::runbook::Session;
use crate::transport::interactive::{PtySize, ShellIo, ShellOutcome};
use crate::transport::{Transport, TransportError};

use record::Recording;

/// Why a shell did not open or did not end cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// Refused before anything ran (role, read-only, no terminal, unknown host); audited.
    #[error("refused: {0}")]
    Refused(String),
    /// The audit log could not be written: nothing is done without its record.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The host could not be reached, or refused the session.
    #[error("{host}: {source}")]
    Transport {
        /// The host.
        host: String,
        /// What the transport said.
        #[source]
        source: TransportError,
    },
    /// The recording could not be started (with `record_sessions = true` no shell opens
    /// unrecorded).
    #[error(transparent)]
    Record(#[from] record::RecordError),
    /// The terminal could not be put in raw mode.
    #[error("terminal: {0}")]
    Terminal(std::io::Error),
}

/// A shell the checks let through: made only by [`ShellLauncher::authorize`].
#[derive(Debug)]
pub struct Authorized {
    host: usize,
}

impl Authorized {
    /// The host's index in the fleet.
    pub fn host(&self) -> usize {
        self.host
    }
}

/// What a finished shell did.
#[derive(Debug, Clone)]
pub struct ShellReport {
    /// The host's name.
    pub host: String,
    /// How it ended, with the bytes each way.
    pub outcome: ShellOutcome,
    /// From `shell.start` to the end.
    pub duration: Duration,
    /// The asciicast file, when the session was recorded.
    pub recording: Option<PathBuf>,
    /// Why a requested recording is missing or incomplete.
    pub recording_problem: Option<String>,
}

/// Opens shells for one operator on one fleet: the same for the console and `fleetdeck ssh`.
#[derive(Clone)]
pub struct ShellLauncher {
    /// The inventory (hosts, `record_sessions`).
    pub fleet: Arc<Fleet>,
    /// Who acts, with their role and whether the console is read-only.
    pub session: Session,
    /// The audit log.
    pub audit_path: PathBuf,
    /// Where recordings go ([`record::sessions_dir`] unless a test says otherwise).
    pub sessions_dir: PathBuf,
}

impl ShellLauncher {
    fn actor(&self) -> Actor {
        Actor::new(
            &self.session.operator,
            self.session.role.as_str(),
            crate::audit::detect_source(),
        )
    }

    /// The checks before a shell on `host`: a known host, a role that may act, not read-only,
    /// a terminal. A refusal is written to the audit log (`denied`) before it is returned.
    pub fn authorize(&self, host: &str) -> Result<Authorized, ShellError> {
        let index = self.fleet.hosts.iter().position(|h| h.name == host);
        let refusal = if index.is_none() {
            Some(format!("{host:?} is not a host of the inventory"))
        } else if !self.session.role.may_write() {
            Some(format!(
                "{} is {}: only operators and admins may open a shell",
                self.session.operator,
                self.session.role.as_str()
            ))
        } else if self.session.readonly {
            Some("read-only: a shell can change the host".to_string())
        } else if !terminal::is_terminal() {
            Some("a shell needs a terminal".to_string())
        } else {
            None
        };
        match (refusal, index) {
            (None, Some(host)) => Ok(Authorized { host }),
            (refusal, _) => {
                let reason = refusal.unwrap_or_default();
                let log = AuditLog::open(&self.audit_path)?;
                log.append(
                    AuditEntry::new(&self.actor(), AuditAction::Denied)
                        .target(host)
                        .command("shell")
                        .reason(&reason),
                )?;
                Err(ShellError::Refused(reason))
            }
        }
    }

    /// Opens the shell on this terminal and returns when it ends. The terminal must be in
    /// cooked mode, on the primary screen (the console suspends itself first).
    ///
    /// When `stop` completes (fleetdeck is asked to stop: [`stop_signals`]), an SSH shell is
    /// closed and its end recorded with `stop`'s reason before this returns, so the terminal
    /// and the audit log are left whole. A local shell owns the terminal and is waited for.
    pub async fn run(
        &self,
        ticket: Authorized,
        transport: &Transport,
        stop: impl Future<Output = String>,
    ) -> Result<ShellReport, ShellError> {
        let host = self.fleet.hosts[ticket.host].name.clone();
        let transport_err = |source| ShellError::Transport {
            host: host.clone(),
            source,
        };
        // Connecting is not acting on the host: a host that cannot be reached gets no record.
        transport.ensure_connected().await.map_err(transport_err)?;
        let size = terminal::window_size();
        let term = terminal::term();
        // The log first: nothing, not even a recording file, exists for a shell it cannot record.
        let log = AuditLog::open(&self.audit_path)?;
        let wants_recording = self.fleet.record_sessions;
        let recording = match transport {
            Transport::Ssh(_) if wants_recording => Some(Recording::create(
                &self.sessions_dir,
                &host,
                SystemTime::now(),
                size,
                &term,
            )?),
            _ => None,
        };
        let mut problem = (wants_recording && recording.is_none())
            .then(|| "not recorded: the local shell reads the terminal itself".to_string());
        let mut start = AuditEntry::new(&self.actor(), AuditAction::ShellStart)
            .target(&host)
            .command(format!("shell (TERM={term}, {}x{})", size.cols, size.rows));
        if let Some(r) = &recording {
            start = start.note(format!("recording to {}", r.path().display()));
        }
        let before = log.append_before(start)?;
        let started = Instant::now();

        let mut stopped_by = None;
        let (outcome, recording_path) = match transport {
            Transport::Local(local) => {
                drop(stop);
                (local.shell().await, None)
            }
            Transport::Ssh(ssh) => {
                let recording = Arc::new(Mutex::new(recording));
                let (outcome, problem_here, stopped) =
                    pump(ssh, term, size, &recording, started, stop).await;
                stopped_by = stopped;
                if problem.is_none() {
                    problem = problem_here;
                }
                let finished = recording
                    .lock()
                    .ok()
                    .and_then(|mut r| r.take())
                    .map(|r| r.finish(started.elapsed()));
                let path = match finished {
                    Some(Ok(path)) => Some(path),
                    Some(Err(e)) => {
                        problem.get_or_insert(format!("recording: {e}"));
                        None
                    }
                    None => None,
                };
                (outcome, path)
            }
        };
        let duration = started.elapsed();
        let (result, note, report) = match outcome {
            Ok(outcome) => {
                let mut note = Vec::new();
                if let (Some(i), Some(o)) = (outcome.bytes_in, outcome.bytes_out) {
                    note.push(format!("in {i} bytes, out {o} bytes"));
                }
                if let Some(p) = &recording_path {
                    note.push(format!("recorded in {}", p.display()));
                }
                if let Some(p) = &problem {
                    note.push(p.clone());
                }
                if let Some(why) = &stopped_by {
                    note.push(format!("ended by fleetdeck: {why}"));
                }
                let report = ShellReport {
                    host: host.clone(),
                    outcome: outcome.clone(),
                    duration,
                    recording: recording_path.clone(),
                    recording_problem: problem.clone(),
                };
                (outcome.end.result_text(), note.join("; "), Ok(report))
            }
            Err(e) => (format!("error: {e}"), String::new(), Err(transport_err(e))),
        };
        let mut end = AuditEntry::new(&self.actor(), AuditAction::ShellEnd)
            .target(&host)
            .result(result)
            .duration(duration);
        if !note.is_empty() {
            end = end.note(note);
        }
        log.append_after(end, before.seq)?;
        report
    }
}

/// Waits for SIGTERM or SIGHUP and names it: the `stop` of [`ShellLauncher::run`] for a
/// front end that must end its shell cleanly when asked to stop. Never completes if the
/// handlers cannot be installed.
pub async fn stop_signals() -> String {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(mut term), Ok(mut hup)) => tokio::select! {
            _ = term.recv() => "SIGTERM".to_string(),
            _ = hup.recv() => "SIGHUP".to_string(),
        },
        _ => std::future::pending().await,
    }
}

/// The SSH shell on this terminal: raw mode and key reader, window watch, output to stdout
/// and the recording. Returns the outcome, a recording problem if one came up, and `stop`'s
/// reason if it ended the shell.
async fn pump(
    ssh: &crate::transport::ssh::SshHost,
    term: String,
    size: PtySize,
    recording: &Arc<Mutex<Option<Recording>>>,
    started: Instant,
    stop: impl Future<Output = String>,
) -> (
    Result<ShellOutcome, TransportError>,
    Option<String>,
    Option<String>,
) {
    let problem: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let (raw, input) = match terminal::RawTerminal::enter() {
        Ok(t) => t,
        Err(e) => {
            return (
                Err(TransportError::Other(format!(
                    "cannot put the terminal in raw mode: {e}"
                ))),
                None,
                None,
            );
        }
    };
    let on_resize = {
        let recording = recording.clone();
        let problem = problem.clone();
        move |size: PtySize| record(&recording, &problem, |r| r.resize(started.elapsed(), size))
    };
    let watch = terminal::WindowWatch::start(on_resize);
    let (watch, resize) = match watch {
        Ok((w, rx)) => (Some(w), rx),
        // No SIGWINCH handler: the shell keeps its first size.
        Err(_) => (None, tokio::sync::mpsc::unbounded_channel().1),
    };
    let io = ShellIo {
        term,
        size,
        input,
        resize,
    };
    let mut output = {
        let recording = recording.clone();
        let problem = problem.clone();
        move |data: &[u8]| {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(data).and_then(|()| out.flush());
            record(&recording, &problem, |r| r.output(started.elapsed(), data));
        }
    };
    // Stopping closes the key reader's channel, which ends the session: the shell's end is
    // then recorded as any other.
    let stopper = raw.stopper();
    let shell = ssh.shell(io, &mut output);
    tokio::pin!(shell);
    tokio::pin!(stop);
    let mut stopped = None;
    let outcome = loop {
        tokio::select! {
            outcome = &mut shell => break outcome,
            why = &mut stop, if stopped.is_none() => {
                stopper.stop();
                stopped = Some(why);
            }
        }
    };
    drop(watch);
    raw.leave();
    let problem = problem.lock().ok().and_then(|mut p| p.take());
    (outcome, problem, stopped)
}

/// Writes to the recording; the first failure stops it and is kept as the problem.
fn record(
    recording: &Mutex<Option<Recording>>,
    problem: &Mutex<Option<String>>,
    write: impl FnOnce(&mut Recording) -> std::io::Result<()>,
) {
    let Ok(mut slot) = recording.lock() else {
        return;
    };
    if let Some(r) = slot.as_mut()
        && let Err(e) = write(r)
    {
        let path = r.path().display().to_string();
        *slot = None;
        if let Ok(mut p) = problem.lock() {
            p.get_or_insert(format!("recording to {path} stopped: {e}"));
        }
    }
}

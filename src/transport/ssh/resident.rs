//! The resident shell over SSH: one session channel per host running `sh`, fed each poll's
//! script on stdin ([`crate::transport::resident`] frames it), so a warm poll costs the host a
//! subshell fork instead of an sshd session, a login shell and its rc files.
//!
//! The channel holds one of the connection's channel permits for as long as it lives (it is a
//! session to sshd's `MaxSessions` too). Rules:
//! - One script at a time; a second caller while one runs (a runbook's health probe during a
//!   poll) gets a plain exec channel instead of waiting.
//! - A script that times out: the shell's whole process group is killed — the script's
//!   children with it — by a `kill -KILL -- -PGID` on an exec channel (the group is read from
//!   /proc when the shell starts), and the session gets `KILL` too (which OpenSSH turns into a
//!   `killpg`, but only with privilege separation: a root login's session refuses signals).
//!   The next poll starts a new shell.
//! - A shell that died (killed on the host, out of memory): the poll that notices runs the
//!   script on an exec channel instead (probe scripts only read), and the next poll starts a
//!   new shell. A shell that never once answered — a restricted or forced-command login that
//!   does not run `sh` — is given up after two tries: that host is polled over exec channels,
//!   as before, and the log says so.
//! - A new connection means a new shell (the old channel went with the old connection).

use std::sync::Arc;
use std::time::Duration;

use russh::client::Handle;
use russh::{ChannelMsg, Sig};
use tokio::sync::OwnedSemaphorePermit;

use super::host_key::Client;
use super::{SshHost, open_session_with_retry};
use crate::observation::UnreachableKind;
use crate::transport::resident::Framed;
use crate::transport::{ExecOutput, ScriptRequest, TransportError};

/// Tries of a shell that never answered before the host is polled over exec channels.
const GIVE_UP_AFTER: u32 = 2;

/// The resident shell of one host, when there is one, and what it has shown so far.
#[derive(Default)]
pub(super) struct ResidentSlot {
    shell: Option<Shell>,
    /// A shell of this host has answered a script at least once.
    answered_once: bool,
    /// Shells that died or never answered since the last answer.
    failures: u32,
    /// This host does not run a resident shell: poll over exec channels.
    exec_only: bool,
}

struct Shell {
    channel: russh::Channel<russh::client::Msg>,
    /// The shell's process group on the host (killed on a timeout), when it could be read.
    pgid: Option<u32>,
    /// The connection it lives on: a reconnect leaves it behind.
    connection: Arc<Handle<Client>>,
    _permit: OwnedSemaphorePermit,
}

/// How one script on the resident shell ended.
enum Outcome {
    Done(ExecOutput),
    TimedOut,
    /// The shell or its channel ended before the script's end marker.
    ShellGone,
    Failed(russh::Error),
}

impl SshHost {
    /// Runs a probe script on the host's resident shell (see the module docs), or on an exec
    /// channel where that is not possible.
    pub async fn run_script(&self, req: &ScriptRequest) -> Result<ExecOutput, TransportError> {
        let Ok(mut slot) = self.resident.try_lock() else {
            return self.exec(&req.as_exec()).await;
        };
        if slot.exec_only || !self.target.resident_shell {
            drop(slot);
            return self.exec(&req.as_exec()).await;
        }
        let handle = self.handle().await?;
        if slot
            .shell
            .as_ref()
            .is_some_and(|s| !Arc::ptr_eq(&s.connection, &handle))
        {
            slot.shell = None;
        }
        if slot.shell.is_none() {
            match self.start_shell(&handle, req.timeout).await {
                Ok(shell) => slot.shell = Some(shell),
                Err(e @ TransportError::Unreachable(_)) => return Err(e),
                Err(e) => {
                    self.shell_failed(&mut slot, &e.to_string());
                    drop(slot);
                    return self.exec(&req.as_exec()).await;
                }
            }
        }
        let Some(shell) = slot.shell.as_mut() else {
            return self.exec(&req.as_exec()).await;
        };
        match run_framed(shell, req).await {
            Outcome::Done(out) => {
                slot.answered_once = true;
                slot.failures = 0;
                Ok(out)
            }
            Outcome::TimedOut => {
                if let Some(shell) = slot.shell.take() {
                    self.kill_shell(shell).await;
                }
                Err(TransportError::Timeout(req.timeout))
            }
            Outcome::ShellGone | Outcome::Failed(_) if handle.is_closed() => {
                // The connection went, not just the shell.
                slot.shell = None;
                self.forget(&handle).await;
                Err(TransportError::unreachable(
                    UnreachableKind::Disconnected,
                    format!(
                        "connection to {}:{} lost while a command ran",
                        self.target.address, self.target.port
                    ),
                ))
            }
            gone @ (Outcome::ShellGone | Outcome::Failed(_)) => {
                let why = match gone {
                    Outcome::Failed(e) => e.to_string(),
                    _ => "the shell ended".to_owned(),
                };
                slot.shell = None;
                self.shell_failed(&mut slot, &why);
                drop(slot);
                self.exec(&req.as_exec()).await
            }
        }
    }

    /// Counts a shell that could not start or ended under a script; gives up on resident shells
    /// for this host when none ever answered.
    fn shell_failed(&self, slot: &mut ResidentSlot, why: &str) {
        slot.failures += 1;
        if !slot.answered_once && slot.failures >= GIVE_UP_AFTER {
            slot.exec_only = true;
            tracing::warn!(
                host = %self.target.name,
                why,
                "the login does not keep a shell open (restricted or forced command?); \
                 polling over one exec channel per poll"
            );
        } else {
            tracing::info!(host = %self.target.name, why, "resident shell lost; exec for this poll, a new shell next poll");
        }
    }

    /// Whether this host was found not to keep a shell open, so its probe scripts run on one
    /// exec channel each; `None` while a script is running.
    pub fn polls_over_exec(&self) -> Option<bool> {
        self.resident.try_lock().ok().map(|slot| slot.exec_only)
    }

    /// Opens the session channel and starts `sh` on it, within `timeout`.
    async fn start_shell(
        &self,
        handle: &Arc<Handle<Client>>,
        timeout: Duration,
    ) -> Result<Shell, TransportError> {
        let opening = async {
            let permit = self.permit().await?;
            let channel = match open_session_with_retry(handle).await {
                Ok(c) => c,
                Err(e) => return Err(self.channel_error(handle, e).await),
            };
            if let Err(e) = channel.exec(true, &b"sh"[..]).await {
                return Err(self.channel_error(handle, e).await);
            }
            let mut shell = Shell {
                channel,
                pgid: None,
                connection: handle.clone(),
                _permit: permit,
            };
            let ask = ScriptRequest {
                script: PGID_SCRIPT.as_bytes().to_vec(),
                timeout,
                max_output: 64,
            };
            match run_framed(&mut shell, &ask).await {
                Outcome::Done(out) => {
                    shell.pgid = String::from_utf8_lossy(&out.stdout).trim().parse().ok();
                    Ok(shell)
                }
                _ => Err(TransportError::Other(
                    "the login did not run a shell on its session".into(),
                )),
            }
        };
        match tokio::time::timeout(timeout, opening).await {
            Ok(result) => result,
            Err(_) => {
                self.forget(handle).await;
                Err(TransportError::unreachable(
                    UnreachableKind::Timeout,
                    format!(
                        "{}:{} did not open a session within {}; connection dropped",
                        self.target.address,
                        self.target.port,
                        humantime::format_duration(timeout)
                    ),
                ))
            }
        }
    }
}

/// Prints the resident shell's process group: from /proc with shell built-ins only (field 5
/// of `/proc/$$/stat`, counted after the command name, which may hold spaces), else `ps`.
const PGID_SCRIPT: &str = r#"if read -r stat < /proc/$$/stat 2>/dev/null; then
  set -- ${stat##*) }
  echo "$3"
else
  ps -o pgid= -p $$
fi"#;

impl SshHost {
    /// Ends a shell whose script timed out: its process group (the script's children too),
    /// then the session.
    async fn kill_shell(&self, shell: Shell) {
        if let Some(pgid) = shell.pgid.filter(|&p| p > 1) {
            let kill = crate::transport::ExecRequest {
                command: format!("kill -KILL -- -{pgid}"),
                stdin: None,
                timeout: KILL_TIMEOUT,
                max_output: 1024,
            };
            if let Err(e) = self.exec(&kill).await {
                tracing::warn!(host = %self.target.name, pgid, error = %e, "could not kill a timed-out probe script");
            }
        }
        let _ = shell.channel.signal(Sig::KILL).await;
        let _ = shell.channel.close().await;
    }
}

/// How long the kill of a timed-out script may take.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);

/// Writes the framed script and reads both streams to their end markers, within the timeout.
async fn run_framed(shell: &mut Shell, req: &ScriptRequest) -> Outcome {
    let framed = Framed::new(&req.script);
    let mut stdout = framed.capture(req.max_output);
    let mut stderr = framed.capture(req.max_output);
    let run = async {
        if let Err(e) = shell.channel.data(&framed.input[..]).await {
            return Outcome::Failed(e);
        }
        while !(stdout.is_done() && stderr.is_done()) {
            match shell.channel.wait().await {
                Some(ChannelMsg::Data { data }) => {
                    stdout.push(&data);
                }
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                    stderr.push(&data);
                }
                Some(
                    ChannelMsg::Eof
                    | ChannelMsg::Close
                    | ChannelMsg::ExitStatus { .. }
                    | ChannelMsg::ExitSignal { .. },
                )
                | None => return Outcome::ShellGone,
                Some(_) => {}
            }
        }
        Outcome::Done(ExecOutput::default())
    };
    match tokio::time::timeout(req.timeout, run).await {
        Ok(Outcome::Done(_)) => {
            let status = stdout.status();
            let (out, out_dropped) = stdout.finish();
            let (err, err_dropped) = stderr.finish();
            Outcome::Done(ExecOutput {
                status,
                stdout: out,
                stderr: err,
                dropped_bytes: out_dropped + err_dropped,
            })
        }
        Ok(other) => other,
        Err(_) => Outcome::TimedOut,
    }
}

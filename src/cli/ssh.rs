//! `fleetdeck ssh HOST`: an interactive shell on one inventory host over fleetdeck's own
//! verified connection (the same route, host key check and identities as `status` and `run`),
//! audited like every action (`crate::shell`).
//!
//! Exit status: the remote shell's own; 1 when the host could not be reached, the connection
//! dropped, or the shell ended without a status; 2 when it was refused before anything ran
//! (unknown host, a role that may not act, `--readonly`, no terminal).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::out;
use super::prompt::TtyPrompt;
use crate::inventory::Fleet;
use crate::poller;
use crate::shell::{ShellError, ShellLauncher, record};
use crate::transport::interactive::ShellEnd;
use crate::transport::ssh::SshShared;

/// `fleetdeck ssh` options.
#[derive(Args)]
pub struct SshArgs {
    /// The inventory host's name.
    host: String,
    /// Audit log file (default $XDG_STATE_HOME/fleetdeck/audit.jsonl).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
}

/// `fleetdeck ssh`.
pub async fn run(fleet: Fleet, readonly: bool, args: SshArgs) -> u8 {
    let mut err = out::stderr();
    let interactive = crate::shell::terminal::is_terminal();
    let session = crate::executor::operator_session(&fleet, None, readonly, interactive);
    let audit_path = match args
        .audit_log
        .clone()
        .map(Ok)
        .unwrap_or_else(crate::audit::default_path)
    {
        Ok(p) => p,
        Err(e) => {
            writeln!(err, "fleetdeck: {e}");
            return 1;
        }
    };
    let fleet = Arc::new(fleet);
    let launcher = ShellLauncher {
        fleet: fleet.clone(),
        session,
        audit_path,
        sessions_dir: record::sessions_dir(),
    };
    let ticket = match launcher.authorize(&args.host) {
        Ok(t) => t,
        Err(e) => {
            writeln!(err, "fleetdeck: {e}");
            return if matches!(e, ShellError::Refused(_)) {
                2
            } else {
                1
            };
        }
    };
    let shared = SshShared::new(Arc::new(TtyPrompt));
    let transports = match poller::transports(&fleet, &shared) {
        Ok(t) => t,
        Err(e) => {
            writeln!(err, "fleetdeck: {e}");
            return 2;
        }
    };
    let transport = &transports[ticket.host()];
    // SIGTERM or SIGHUP ends the shell cleanly: terminal restored, `shell.end` written.
    let result = launcher
        .run(ticket, transport, crate::shell::stop_signals())
        .await;
    if let crate::transport::Transport::Ssh(h) = transport {
        h.disconnect().await;
    }
    match result {
        Ok(report) => {
            match &report.outcome.end {
                ShellEnd::Exited(_) => {}
                // On a line of its own: the remote prompt is still where the cursor is.
                ShellEnd::Lost(why) => writeln!(err, "\r\nfleetdeck: {}: {why}", report.host),
                other => writeln!(
                    err,
                    "fleetdeck: {}: shell ended: {}",
                    report.host,
                    other.result_text()
                ),
            }
            if let Some(problem) = &report.recording_problem {
                writeln!(err, "fleetdeck: {problem}");
            }
            report.outcome.end.exit_code()
        }
        Err(e) => {
            writeln!(err, "fleetdeck: {e}");
            if matches!(e, ShellError::Refused(_)) {
                2
            } else {
                1
            }
        }
    }
}

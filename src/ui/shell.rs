//! `s`: a shell on the selected host, as in k9s. The console steps aside (mouse capture off,
//! primary screen, cursor shown, cooked mode), `crate::shell` runs the audited shell on the
//! terminal, and the console comes back exactly as it was (raw mode, alternate screen, a full
//! redraw).
//!
//! Keys must reach exactly one reader. The console's [`EventStream`] reads the terminal on a
//! thread of crossterm's, so it is dropped before the shell starts — and crossterm's lock taken
//! once, which waits for that thread to let go — and a new one is made after; what the shell
//! did not read stays in the terminal for the console. Poll results keep being folded in while
//! the shell runs, so the first frame after it is current. Role checks and the audit records
//! are the core's: this module only moves the screen out of the way.

use std::time::Duration;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture, EventStream};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};
use tokio::sync::mpsc;

use super::App;
use crate::observation::Observation;
use crate::shell::{ShellError, ShellLauncher};
use crate::transport::Transport;
use crate::transport::interactive::ShellEnd;

impl App {
    /// The host a shell would open on: the one looked at, else the selected row's.
    pub(super) fn shell_target(&mut self) -> Option<usize> {
        self.host.or_else(|| self.selected_host())
    }
}

/// Opens a shell on `host` if the operator may, with the console suspended meanwhile; returns
/// the event stream to go on with (a new one when the console stepped aside).
pub(super) async fn open(
    terminal: &mut ratatui::DefaultTerminal,
    events: EventStream,
    app: &mut App,
    observations: &mut mpsc::Receiver<Observation>,
    launcher: &ShellLauncher,
    host: usize,
    transport: &Transport,
) -> std::io::Result<EventStream> {
    let name = launcher.fleet.hosts[host].name.clone();
    let ticket = match launcher.authorize(&name) {
        Ok(t) => t,
        Err(ShellError::Refused(why)) => {
            app.notify(format!("no shell on {name}: {why}"), true);
            return Ok(events);
        }
        Err(e) => {
            app.notify(format!("no shell on {name}: {e}"), true);
            return Ok(events);
        }
    };
    // Connect while the console still shows (normally a no-op: the poller holds the
    // connection). Bounded, so a host that cannot be reached only costs a notice.
    let limit = launcher.fleet.ssh.connect_timeout + Duration::from_secs(2);
    match tokio::time::timeout(limit, transport.ensure_connected()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            app.notify(format!("no shell on {name}: {e}"), true);
            return Ok(events);
        }
        Err(_) => {
            app.notify(format!("no shell on {name}: not connected"), true);
            return Ok(events);
        }
    }

    drop(events);
    // The dropped stream's reader thread may still be waiting on the terminal; crossterm's
    // lock is ours once it has let go, so no key typed for the shell is read by the console.
    let _ = crossterm::event::poll(Duration::ZERO);
    step_aside()?;
    let result = {
        // SIGTERM or SIGHUP ends the shell cleanly; the event loop sees the same signal next
        // and quits.
        let shell = launcher.run(ticket, transport, crate::shell::stop_signals());
        tokio::pin!(shell);
        loop {
            tokio::select! {
                r = &mut shell => break r,
                Some(obs) = observations.recv() => {
                    let mut all = vec![obs];
                    while let Ok(more) = observations.try_recv() {
                        all.push(more);
                    }
                    app.on_observations(all);
                }
            }
        }
    };
    come_back(terminal)?;
    match result {
        // A normal end says nothing: the console is back as it was.
        Ok(report) => {
            if let ShellEnd::Lost(why) = &report.outcome.end {
                app.notify(format!("shell on {name} ended: {why}"), true);
            } else if let Some(problem) = report.recording_problem {
                app.notify(format!("shell on {name}: {problem}"), true);
            }
        }
        Err(e) => app.notify(format!("shell on {name}: {e}"), true),
    }
    Ok(EventStream::new())
}

/// Gives the terminal back as the shell expects it: primary screen, cursor, cooked mode.
fn step_aside() -> std::io::Result<()> {
    let mut out = std::io::stdout();
    crossterm::execute!(
        out,
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    )?;
    crossterm::terminal::disable_raw_mode()
}

/// Takes the terminal again and forces a full redraw (the shell drew over everything).
fn come_back(terminal: &mut ratatui::DefaultTerminal) -> std::io::Result<()> {
    crossterm::terminal::enable_raw_mode()?;
    crossterm::execute!(std::io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
    terminal.clear()
}

//! The console's event loop: takes the terminal (alternate screen, raw mode, mouse capture) and
//! gives it back on every way out, then waits on keys and mouse ([`EventStream`]), poll
//! observations, Alertmanager polls (`alert_poll`), Prometheus rounds, the 1 s tick, SIGTERM
//! (quit), SIGHUP and edited inventory files (reload, `ui::reload`), passphrase requests, audit
//! log reads and the
//! runbook task's and the ad-hoc command's messages, and redraws (stepping aside while a shell runs, `ui::shell`): at once after the operator did something, at most
//! every [`DATA_FRAME`] for new poll data while the operator is active (a key, the mouse or a
//! followed log within [`ACTIVE_WINDOW`]), and once a second otherwise — new data then rides
//! on the second's frame (ages move), so a console left open costs one frame a second.
//!
//! Owns the tasks around the console (the poller, the runbook run, the ad-hoc command, audit log reads off the
//! drawing path) and nothing the screen shows: every fact goes into [`App`] through its
//! `on_*` methods. Called by `fleetdeck console` through [`run`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::alert_poll::AlertPoll;
use super::exec_pane::{ExecHandle, ExecMsg};
use super::logs_pane::{FollowMsg, follow_task};
use super::prompt::PassphraseRequest;
use super::reload::Reloader;
use super::runbook_pane::{self, RunStart, RunbookLauncher, RunbookMsg};
use super::theme::Theme;
use super::{AckHook, Action, App, audit_pane};
use crate::inventory::Fleet;
use crate::poller::Poller;
use crate::transport::Transport;

/// Options of the console.
pub struct ConsoleOptions {
    /// Hosts to show (indices into the fleet).
    pub selected: Vec<usize>,
    /// Colours.
    pub theme: Theme,
    /// Read-only (`--readonly` or the inventory's `readonly`).
    pub readonly: bool,
    /// Who acknowledges alerts (default `$USER`).
    pub operator: Option<String>,
    /// Records acks before they take effect (the audit log).
    pub ack_hook: Option<AckHook>,
    /// Runs runbooks in the runbook pane (`None`: no runbook pane).
    pub runbooks: Option<RunbookLauncher>,
    /// The audit log the Audit pane shows (`None`: no Audit pane).
    pub audit_log: Option<std::path::PathBuf>,
    /// Opens shells on hosts (`s`; `None`: this console opens none).
    pub shell: Option<crate::shell::ShellLauncher>,
    /// Runs ad-hoc commands (`:exec`; `None`: this console runs none).
    pub exec: Option<super::exec_pane::ExecLauncher>,
    /// Creates Alertmanager silences (`a` on its alerts; `None`: this console creates none).
    pub silences: Option<super::alert_poll::SilenceLauncher>,
    /// Capture the mouse (`[ui] mouse`, `--no-mouse`); off, the terminal's own selection works.
    pub mouse: bool,
    /// What reloading needs to build connections for new hosts (`None`: no reloading).
    pub ssh_shared: Option<Arc<crate::transport::ssh::SshShared>>,
    /// The theme as given at start (`--theme`), re-read by a reload.
    pub theme_spec: Option<String>,
}

impl ConsoleOptions {
    /// Options with no operator override, no ack hook and no runbook pane.
    pub fn new(selected: Vec<usize>, theme: Theme, readonly: bool) -> ConsoleOptions {
        ConsoleOptions {
            selected,
            theme,
            readonly,
            operator: None,
            ack_hook: None,
            runbooks: None,
            audit_log: None,
            shell: None,
            exec: None,
            silences: None,
            mouse: true,
            ssh_shared: None,
            theme_spec: None,
        }
    }
}

/// Runs the console until the operator quits, a SIGTERM arrives or the terminal hangs up. The terminal is
/// restored on every way out, including a panic (ratatui's hook, plus mouse capture off).
pub async fn run(
    fleet: Arc<Fleet>,
    transports: Vec<Transport>,
    passphrases: mpsc::UnboundedReceiver<PassphraseRequest>,
    options: ConsoleOptions,
) -> std::io::Result<()> {
    use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
    super::colour_depth::set_current(super::colour_depth::ColourDepth::from_env());
    let mouse = options.mouse;
    let mut terminal = ratatui::init();
    if mouse {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
            previous(info);
        }));
        // Off (`[ui] mouse = false`, `--no-mouse`), no mouse mode is ever asked of the
        // terminal, so its own selection and scrollback work as in a shell.
        let _ = crossterm::execute!(std::io::stdout(), EnableMouseCapture);
    }
    let result = event_loop(
        &mut terminal,
        fleet,
        transports.clone(),
        passphrases,
        options,
    )
    .await;
    if mouse {
        let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
    }
    ratatui::restore();
    for t in &transports {
        if let Transport::Ssh(h) = t {
            // Bounded: a dead connection must not hold up quitting.
            let _ = tokio::time::timeout(Duration::from_millis(300), h.disconnect()).await;
        }
    }
    result
}

/// A deliberate panic for the fault tests (`tests/fault_terminal.rs`), compiled into debug builds
/// only: with `FLEETDECK_TEST_PANIC_AFTER_FRAMES=N` the console panics once it has drawn N frames,
/// so a test can check that ratatui's panic hook gives the terminal back. The message is fixed
/// text: nothing of the console's state (paths, hosts, typed input) can leak through it.
#[cfg(debug_assertions)]
struct PanicAfterFrames {
    after: Option<u64>,
    drawn: u64,
}

#[cfg(debug_assertions)]
impl PanicAfterFrames {
    fn from_env() -> Self {
        PanicAfterFrames {
            after: std::env::var("FLEETDECK_TEST_PANIC_AFTER_FRAMES")
                .ok()
                .and_then(|v| v.parse().ok()),
            drawn: 0,
        }
    }

    fn frame_drawn(&mut self) {
        self.drawn += 1;
        if self.after.is_some_and(|n| self.drawn >= n) {
            panic!("FLEETDECK_TEST_PANIC_AFTER_FRAMES reached: deliberate test panic");
        }
    }
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    fleet: Arc<Fleet>,
    mut transports: Vec<Transport>,
    mut passphrases: mpsc::UnboundedReceiver<PassphraseRequest>,
    options: ConsoleOptions,
) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut reloader = Reloader::new(
        &fleet,
        options.ssh_shared.clone(),
        options.theme_spec.clone(),
    );
    let (tx, mut observations) = mpsc::channel(1024);
    let mut app = App::new(
        fleet.clone(),
        options.selected.clone(),
        options.theme,
        options.readonly,
    );
    if let Some(op) = options.operator {
        app.set_operator(op);
    }
    if let Some(hook) = options.ack_hook {
        app.set_ack_hook(hook);
    }
    let mut launcher = options.runbooks;
    let mut shell_launcher = options.shell;
    let mut exec_launcher = options.exec;
    if let Some(l) = &exec_launcher {
        app.enable_exec(l.session.clone());
        if let Some(path) = &l.history {
            app.keep_exec_history_in(path.clone());
        }
    }
    if let Some(l) = &launcher {
        app.enable_runbook_pane(l.catalog());
        app.set_runbook_definitions(l.definitions());
    }
    if let Some(path) = options.audit_log {
        app.enable_audit_pane(path);
    }
    let (audit_tx, mut audit_reads) = mpsc::unbounded_channel();
    let (runbook_tx, mut runbook_msgs) = mpsc::unbounded_channel();
    let mut running: Option<runbook_pane::RunHandle> = None;
    let (exec_tx, mut exec_msgs) = mpsc::unbounded_channel();
    let mut exec_running: Option<ExecHandle> = None;
    // Follows of the logs pane: one task per followed log, stopped when no longer wanted.
    let (follow_tx, mut follow_msgs) = mpsc::channel::<FollowMsg>(4096);
    let mut follows = Follows::default();
    // Only with `[alertmanager] sender = "console"`; an unreadable credential is logged.
    let mut notifier =
        crate::alert_sink::Notifier::start(&fleet, crate::inventory::AlertSender::Console)
            .unwrap_or_else(|e| {
                tracing::error!("alerts are not sent out: {e}");
                None
            });
    // `[alertmanager] url`: its alerts and silences, read by a task of their own.
    let (am_tx, mut am_msgs) = mpsc::unbounded_channel();
    let mut alert_poll = AlertPoll::start(&fleet, am_tx.clone());
    if alert_poll.is_some() {
        app.enable_alertmanager(fleet.alerts_out.silence_duration());
    }
    let silences = options.silences;
    app.refuse_silences(silences.as_ref().and_then(|s| s.refusal()));
    // Prometheus (`[prometheus]`) is read by a task of its own: a slow one never holds a
    // frame. Without it the sender stays here, so the branch below simply never fires.
    let (prom_tx, mut prom_rounds) = mpsc::channel(4);
    let prom_refresh = Arc::new(tokio::sync::Notify::new());
    let prom_task = crate::prom_source::spawn_with_refresh(
        fleet.clone(),
        transports.clone(),
        prom_tx.clone(),
        prom_refresh.clone(),
    );
    let mut _prom = (prom_tx, prom_task.map(crate::prom_source::AbortOnDrop));
    let mut poller = Poller::spawn(fleet, transports.clone(), options.selected, tx);
    // An edited inventory reloads itself: the watched files are stat'ed every 2 s (see
    // `crate::reload::Stamps` for why polling).
    let mut watch = tokio::time::interval(WATCH_EVERY);
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    // `dirty`: the operator did something, draw now. `fresh_data`: polls came in; they are
    // folded into the state at once but drawn at most every DATA_FRAME, so a large fleet whose
    // polls finish one by one costs a few frames a second, not one per host.
    let mut dirty = true;
    let mut fresh_data = false;
    let mut last_draw = tokio::time::Instant::now();
    let mut last_activity = tokio::time::Instant::now();
    #[cfg(debug_assertions)]
    let mut panic_test = PanicAfterFrames::from_env();
    let mut reload_why: Option<&'static str> = None;
    loop {
        if let Some(why) = reload_why.take() {
            if running.is_some() || exec_running.is_some() {
                // Runs hold host indices and connections of the fleet they started with.
                app.notify(
                    "reload waits: a runbook or command is running (`:reload` after it)",
                    true,
                );
            } else if let Some(r) = reloader.reload(&mut app, &transports, why) {
                // A new channel: the old poller's last observations (numbered by the old
                // inventory) go to the old receiver, dropped here, never to the new fleet.
                let (tx, rx) = mpsc::channel(1024);
                observations = rx;
                transports = r.transports;
                let new = Poller::spawn(
                    r.fleet.clone(),
                    transports.clone(),
                    app.selected.clone(),
                    tx,
                );
                std::mem::replace(&mut poller, new).retire();
                // Prometheus rounds and Alertmanager placements are by host index too: new
                // tasks for the new inventory (the old ones stop when dropped).
                let (prom_tx, rx) = mpsc::channel(4);
                prom_rounds = rx;
                let task = crate::prom_source::spawn_with_refresh(
                    r.fleet.clone(),
                    transports.clone(),
                    prom_tx.clone(),
                    prom_refresh.clone(),
                );
                _prom = (prom_tx, task.map(crate::prom_source::AbortOnDrop));
                alert_poll = AlertPoll::start(&r.fleet, am_tx.clone());
                if let Some(l) = &mut launcher {
                    l.fleet = r.fleet.clone();
                    l.transports = transports.clone();
                    app.enable_runbook_pane(l.catalog());
                    app.set_runbook_definitions(l.definitions());
                }
                if let Some(l) = &mut exec_launcher {
                    l.fleet = r.fleet.clone();
                    l.transports = transports.clone();
                }
                if let Some(l) = &mut shell_launcher {
                    l.fleet = r.fleet.clone();
                }
                disconnect_later(r.dropped);
            }
            dirty = true;
        }
        follows.reconcile(app.follows_wanted(), &transports, &follow_tx);
        if let Some(path) = app.audit_read_wanted() {
            let tx = audit_tx.clone();
            tokio::task::spawn_blocking(move || {
                let _ = tx.send(audit_pane::AuditSnapshot::load(&path));
            });
        }
        let active = last_activity.elapsed() < ACTIVE_WINDOW;
        if dirty || (fresh_data && active && last_draw.elapsed() >= DATA_FRAME) {
            if fresh_data {
                // New polls are drawn judged: the store judges what it deferred (at most once a
                // second otherwise), so a frame never shows a host reachable but not yet rated.
                app.on_tick(SystemTime::now());
            }
            terminal.draw(|f| app.render(f, SystemTime::now()))?;
            // `[ui] bell = true` and a host just turned bad: BEL, once, outside the frame.
            if app.take_bell() {
                use std::io::Write;
                let mut out = std::io::stdout();
                let _ = out.write_all(b"\x07").and_then(|()| out.flush());
            }
            dirty = false;
            fresh_data = false;
            last_draw = tokio::time::Instant::now();
            #[cfg(debug_assertions)]
            panic_test.frame_drawn();
        }
        tokio::select! {
            Some(obs) = observations.recv() => {
                // Fold in everything already queued, judged once; the frame comes within
                // DATA_FRAME.
                let mut all = vec![obs];
                while let Ok(more) = observations.try_recv() {
                    all.push(more);
                }
                app.on_observations(all);
                fresh_data = true;
            }
            Some(round) = prom_rounds.recv() => {
                app.on_prom(round);
                fresh_data = true;
            }
            () = tokio::time::sleep_until(last_draw + DATA_FRAME), if fresh_data && active => {}
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) => {
                    last_activity = tokio::time::Instant::now();
                    app.on_tick(SystemTime::now());
                    match app.on_key(key) {
                        Some(Action::Quit) => break,
                        Some(Action::RefreshNow) => {
                            poller.refresh_now();
                            prom_refresh.notify_one();
                        }
                        Some(Action::Reload) => reload_why = Some(":reload"),
                        Some(Action::Yank) => {
                            if let Some(text) = app.take_yank() {
                                // Through the backend, between frames: the sequence draws nothing.
                                use std::io::Write;
                                let out = terminal.backend_mut();
                                let _ = out
                                    .write_all(&super::clipboard::osc52(&text))
                                    .and_then(|()| out.flush());
                            }
                        }
                        Some(Action::StartRunbook) => {
                            if let (Some(l), Some(start)) = (&launcher, app.take_runbook_start()) {
                                app.runbook_starting(&match &start {
                                    RunStart::New { runbook, .. } => format!("runbook {runbook}"),
                                    RunStart::Resume(id) => format!("resuming run {id}"),
                                });
                                running = Some(l.spawn(start, runbook_tx.clone()));
                            }
                        }
                        Some(Action::StartExec) => {
                            if let (Some(l), Some(request)) = (&exec_launcher, app.take_exec_request())
                                && let Some(handle) = l.carry_out(request, exec_tx.clone())
                            {
                                exec_running = Some(handle);
                            }
                        }
                        Some(Action::StopRun) => {
                            if let Some(run) = &mut running {
                                run.suspend();
                            }
                        }
                        Some(Action::Shell) => match (&shell_launcher, app.shell_target()) {
                            (Some(launcher), Some(host)) => {
                                events = super::shell::open(
                                    terminal,
                                    events,
                                    &mut app,
                                    &mut observations,
                                    launcher,
                                    host,
                                    &transports[host],
                                )
                                .await?;
                            }
                            _ => app.notify("this console opens no shells", true),
                        },
                        _ => {}
                    }
                    if let Some(request) = app.take_silence_request() {
                        match (&alert_poll, &silences) {
                            (Some(p), Some(s)) => p.silence(s, request),
                            _ => app.notify("this console creates no silences", true),
                        }
                    }
                    dirty = true;
                }
                Some(Ok(Event::Mouse(m))) => {
                    app.on_tick(SystemTime::now());
                    // Mouse motion arrives constantly: redraw only when something changed.
                    if app.on_mouse(m) {
                        dirty = true;
                        last_activity = tokio::time::Instant::now();
                    }
                }
                Some(Ok(Event::Resize(..))) => {
                    dirty = true;
                    last_activity = tokio::time::Instant::now();
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    follows.stop_all().await;
                    settle(running.take()).await;
                    settle_exec(exec_running.take()).await;
                    return Err(e);
                }
                None => break,
            },
            Some(msg) = follow_msgs.recv() => {
                // Lines come in bursts: fold in what is queued, drawn within DATA_FRAME (someone
                // following a log is watching: that counts as activity).
                last_activity = tokio::time::Instant::now();
                app.on_follow(msg);
                while let Ok(more) = follow_msgs.try_recv() {
                    app.on_follow(more);
                }
                fresh_data = true;
            }
            Some(msg) = am_msgs.recv() => {
                app.on_alertmanager(msg);
                dirty = true;
            }
            Some(snapshot) = audit_reads.recv() => {
                app.set_audit_snapshot(snapshot);
                dirty = true;
            }
            Some(msg) = runbook_msgs.recv() => {
                if matches!(msg, RunbookMsg::Ended { .. }) {
                    running = None;
                }
                app.on_runbook_msg(msg);
                dirty = true;
            }
            Some(msg) = exec_msgs.recv() => {
                if matches!(msg, ExecMsg::Ended { .. } | ExecMsg::Failed(_)) {
                    exec_running = None;
                }
                app.on_exec_msg(msg, SystemTime::now());
                dirty = true;
            }
            Some(request) = passphrases.recv() => {
                app.ask_passphrase(request);
                dirty = true;
            }
            _ = tick.tick() => {
                // Time is a message: data ages and alerts follow the clock, not the frames.
                app.on_tick(SystemTime::now());
                if let Some(n) = &mut notifier { n.observe(app.store().alerts(), app.store().now()) }
                dirty = true;
            }
            _ = watch.tick() => {
                if reloader.files_changed() {
                    reload_why = Some("file changed");
                }
            }
            _ = sigterm.recv() => break,
            // SIGHUP reloads, as daemons do; but a hang-up of the terminal also sends it, and
            // then there is nothing left to draw on: quit, restoring what can be restored.
            _ = sighup.recv() => {
                if crossterm::terminal::size().is_err() {
                    break;
                }
                reload_why = Some("SIGHUP");
            }
        }
    }
    follows.stop_all().await;
    settle(running.take()).await;
    settle_exec(exec_running.take()).await;
    if let (Some(l), Some((plan, refusal))) = (&exec_launcher, app.decline_open_exec()) {
        l.record_refusal(plan, refusal).await;
    }
    Ok(())
}

/// Leaving the console with a command in flight cancels what has not finished and waits
/// (bounded) until every host's `exec.result` is written.
async fn settle_exec(exec: Option<ExecHandle>) {
    if let Some(exec) = exec {
        exec.settle(Duration::from_secs(10)).await;
    }
}

/// The running follow tasks of the logs pane, by followed log.
#[derive(Default)]
struct Follows {
    running: std::collections::HashMap<crate::logview::SourceKey, Follow>,
    /// Tasks told to stop that may still be killing their command: awaited on quit.
    stopping: Vec<tokio::task::JoinHandle<()>>,
}

struct Follow {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Follows {
    /// Starts a task for every wanted log without one and stops those no longer wanted. A
    /// task that ended (failed, command exited) stays until its log is unwanted, so a broken
    /// follow is not restarted in a loop; `f` twice starts it again.
    fn reconcile(
        &mut self,
        wanted: std::collections::BTreeMap<crate::logview::SourceKey, String>,
        transports: &[Transport],
        tx: &mpsc::Sender<FollowMsg>,
    ) {
        let gone: Vec<_> = self
            .running
            .keys()
            .filter(|k| !wanted.contains_key(k))
            .copied()
            .collect();
        for k in gone {
            if let Some(f) = self.running.remove(&k) {
                let _ = f.stop.send(());
                self.stopping.push(f.task);
            }
        }
        self.stopping.retain(|t| !t.is_finished());
        for (key, command) in wanted {
            if self.running.contains_key(&key) {
                continue;
            }
            let Some(transport) = transports.get(key.host).cloned() else {
                continue;
            };
            let (stop, stopped) = tokio::sync::oneshot::channel();
            let task = tokio::spawn(follow_task(transport, key, command, tx.clone(), stopped));
            self.running.insert(key, Follow { stop, task });
        }
    }

    /// Stops every follow and waits (bounded: a dead host must not hold the terminal) until
    /// each has killed its command and closed its channel.
    async fn stop_all(&mut self) {
        for (_, f) in self.running.drain() {
            let _ = f.stop.send(());
            self.stopping.push(f.task);
        }
        let all = futures::future::join_all(self.stopping.drain(..));
        let _ = tokio::time::timeout(Duration::from_secs(5), all).await;
    }
}

/// How often the inventory's files are checked for an edit.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Closes the connections a reload left without a host, off the event loop (bounded: a dead
/// host must not hold anything up).
fn disconnect_later(dropped: Vec<Transport>) {
    for t in dropped {
        if let Transport::Ssh(h) = t {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(2), h.disconnect()).await;
            });
        }
    }
}

/// The shortest time between two frames drawn for new poll data (keys draw at once).
const DATA_FRAME: Duration = Duration::from_millis(250);

/// How long after the last key, mouse action or followed log line new poll data is drawn
/// within [`DATA_FRAME`]; after it, on the next second's frame.
const ACTIVE_WINDOW: Duration = Duration::from_secs(10);

/// Leaving the console with a run in progress suspends it: saved and audited (bounded, so a
/// dead host cannot hold the terminal), and `fleetdeck run --resume ID` or `:resume ID` goes on.
async fn settle(run: Option<runbook_pane::RunHandle>) {
    if let Some(run) = run {
        run.settle(Duration::from_secs(10)).await;
    }
}

//! The full-screen console: renders the state store and turns keys into actions.
//!
//! The only module that uses ratatui and crossterm. [`App`] holds what the screen needs
//! (the state store, the selection, an open dialog) and is driven by [`App::on_key`] and
//! [`App::on_observation`]; [`App::render`] is a function of that state and of the `now` it is
//! given, so render tests are deterministic. [`run`] is the event loop: it redraws when
//! something changed or once a second (ages move), and sleeps otherwise.

pub mod fleet_table;
pub mod prompt;
pub mod theme;
pub mod tty;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crossterm::event::{Event, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use futures::StreamExt;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, TableState, Wrap};
use ratatui_textarea::TextArea;
use tokio::sync::mpsc;

use crate::health::{self, Status};
use crate::inventory::Fleet;
use crate::observation::Observation;
use crate::poller::Poller;
use crate::report;
use crate::state::FleetState;
use crate::transport::Transport;
use fleet_table::{FleetTable, status_slot};
use prompt::PassphraseRequest;
use theme::Theme;

/// What the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave the console.
    Quit,
    /// Move the selection down.
    SelectNext,
    /// Move the selection up.
    SelectPrevious,
    /// Jump to the first host.
    SelectFirst,
    /// Jump to the last host.
    SelectLast,
    /// Poll every host now.
    RefreshNow,
}

/// One key binding; the status bar hints are generated from the same table that dispatches.
pub struct Binding {
    /// Keys, as shown to the operator.
    pub keys: &'static str,
    /// What they do.
    pub action: Action,
    /// Short hint.
    pub hint: &'static str,
    matches: fn(&KeyEvent) -> bool,
}

/// The console's key map.
pub const KEYMAP: &[Binding] = &[
    Binding {
        keys: "↑/k",
        action: Action::SelectPrevious,
        hint: "up",
        matches: |k| matches!(k.code, KeyCode::Up | KeyCode::Char('k')),
    },
    Binding {
        keys: "↓/j",
        action: Action::SelectNext,
        hint: "down",
        matches: |k| matches!(k.code, KeyCode::Down | KeyCode::Char('j')),
    },
    Binding {
        keys: "g/G",
        action: Action::SelectFirst,
        hint: "first/last",
        matches: |k| matches!(k.code, KeyCode::Home | KeyCode::Char('g')),
    },
    Binding {
        keys: "",
        action: Action::SelectLast,
        hint: "",
        matches: |k| matches!(k.code, KeyCode::End | KeyCode::Char('G')),
    },
    Binding {
        keys: "r",
        action: Action::RefreshNow,
        hint: "refresh",
        matches: |k| k.code == KeyCode::Char('r'),
    },
    Binding {
        keys: "q/Esc",
        action: Action::Quit,
        hint: "quit",
        matches: |k| {
            matches!(k.code, KeyCode::Char('q') | KeyCode::Esc)
                || (k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL))
        },
    },
];

/// The action bound to `key`, if any.
pub fn action_for(key: &KeyEvent) -> Option<Action> {
    KEYMAP.iter().find(|b| (b.matches)(key)).map(|b| b.action)
}

/// The passphrase dialog, open while a key waits to be unlocked.
struct PassphraseDialog {
    request: PassphraseRequest,
    input: TextArea<'static>,
}

/// What the console shows.
pub struct App {
    fleet: Arc<Fleet>,
    /// The state store.
    pub state: FleetState,
    selected: Vec<usize>,
    table: TableState,
    theme: Theme,
    readonly: bool,
    dialog: Option<PassphraseDialog>,
}

impl App {
    /// A console over `selected` hosts of `fleet`.
    pub fn new(fleet: Arc<Fleet>, selected: Vec<usize>, theme: Theme, readonly: bool) -> App {
        let state = FleetState::new(fleet.hosts.len());
        let mut table = TableState::default();
        if !selected.is_empty() {
            table.select(Some(0));
        }
        App {
            fleet,
            state,
            selected,
            table,
            theme,
            readonly,
            dialog: None,
        }
    }

    /// Folds an observation into the state store.
    pub fn on_observation(&mut self, obs: Observation) {
        self.state.apply(obs);
    }

    /// Opens the passphrase dialog for `request`.
    pub fn ask_passphrase(&mut self, request: PassphraseRequest) {
        let mut input = TextArea::default();
        input.set_mask_char('•');
        self.dialog = Some(PassphraseDialog { request, input });
    }

    /// Handles a key; returns the action it triggered, if any.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        if let Some(dialog) = &mut self.dialog {
            match key.code {
                KeyCode::Enter => {
                    let d = self.dialog.take().expect("dialog is open");
                    let text = d.input.lines().join("");
                    let _ = d.request.reply.send(Some(text));
                }
                KeyCode::Esc => {
                    let d = self.dialog.take().expect("dialog is open");
                    let _ = d.request.reply.send(None);
                }
                _ => {
                    dialog.input.input(key);
                }
            }
            return None;
        }
        let action = action_for(&key)?;
        let n = self.selected.len();
        match action {
            Action::SelectNext if n > 0 => self
                .table
                .select(Some((self.table.selected().unwrap_or(0) + 1).min(n - 1))),
            Action::SelectPrevious if n > 0 => self
                .table
                .select(Some(self.table.selected().unwrap_or(0).saturating_sub(1))),
            Action::SelectFirst if n > 0 => self.table.select(Some(0)),
            Action::SelectLast if n > 0 => self.table.select(Some(n - 1)),
            _ => {}
        }
        Some(action)
    }

    /// Draws the console as of `now`.
    pub fn render(&mut self, frame: &mut Frame, now: SystemTime) {
        let area = frame.area();
        let [main, status] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
        let health = health::evaluate(&self.fleet, &self.state, now);
        let report = report::status_report(&self.fleet, &self.state, &health, &self.selected, now);
        let rows = report::fleet_rows(&report);
        let s = &report.summary;
        let title = format!(" {} — {} hosts ", self.fleet.name, s.hosts);
        let hints: Vec<String> = KEYMAP
            .iter()
            .filter(|b| !b.keys.is_empty())
            .map(|b| format!("{} {}", b.keys, b.hint))
            .collect();
        frame.render_stateful_widget(
            FleetTable {
                rows: &rows,
                theme: &self.theme,
                title,
                hints: format!(" {} ", hints.join("  ")),
            },
            main,
            &mut self.table,
        );
        self.render_status_line(frame, status, &report, now);
        if let Some(dialog) = &mut self.dialog {
            render_dialog(frame, area, dialog, &self.theme);
        }
    }

    fn render_status_line(
        &self,
        frame: &mut Frame,
        area: Rect,
        report: &report::StatusReport,
        now: SystemTime,
    ) {
        let t = &self.theme;
        let s = &report.summary;
        let mut spans = vec![];
        for (n, label, status) in [
            (s.ok, "ok", Status::Ok),
            (s.warning, "warn", Status::Warning),
            (s.critical, "crit", Status::Critical),
            (s.unknown, "unknown", Status::Unknown),
        ] {
            let style = if n > 0 {
                Style::new()
                    .fg(t.colour(status_slot(status)))
                    .add_modifier(Modifier::BOLD)
            } else {
                Style::new().fg(t.colour("text.dim"))
            };
            spans.push(Span::styled(format!("{n} {label}"), style));
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(
            format!("{}/{} reachable  ", s.reachable, s.hosts),
            Style::new().fg(t.colour("text")),
        ));
        if self.readonly {
            spans.push(Span::styled(
                "READ-ONLY  ",
                Style::new().fg(t.colour("status.warning")),
            ));
        }
        let clock = report::rfc3339(now);
        let right = Span::styled(clock, Style::new().fg(t.colour("text.dim")));
        let [left_area, right_area] =
            Layout::horizontal([Constraint::Min(0), Constraint::Length(21)]).areas(area);
        frame.render_widget(Paragraph::new(Line::from(spans)), left_area);
        frame.render_widget(Paragraph::new(Line::from(right)), right_area);
    }
}

fn render_dialog(frame: &mut Frame, area: Rect, dialog: &mut PassphraseDialog, theme: &Theme) {
    let width = area.width.clamp(20, 70);
    let popup = Rect {
        x: area.x + (area.width.saturating_sub(width)) / 2,
        y: area.y + area.height.saturating_sub(7) / 2,
        width,
        height: 7.min(area.height),
    };
    frame.render_widget(Clear, popup);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(theme.colour("border.focused")))
        .title(" SSH key passphrase ");
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let [text, input, help] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let again = if dialog.request.attempt > 1 {
        "Wrong passphrase. "
    } else {
        ""
    };
    frame.render_widget(
        Paragraph::new(format!(
            "{again}Passphrase for {}:",
            dialog.request.key.display()
        ))
        .wrap(Wrap { trim: true }),
        text,
    );
    frame.render_widget(&dialog.input, input);
    frame.render_widget(
        Paragraph::new("Enter unlock   Esc skip this key")
            .style(Style::new().fg(theme.colour("text.dim"))),
        help,
    );
}

/// Options of the console.
pub struct ConsoleOptions {
    /// Hosts to show (indices into the fleet).
    pub selected: Vec<usize>,
    /// Colours.
    pub theme: Theme,
    /// Read-only (`--readonly` or the inventory's `readonly`).
    pub readonly: bool,
}

/// Runs the console until the operator quits or a SIGTERM/SIGHUP arrives. The terminal is
/// restored on every way out, including a panic (ratatui's hook).
pub async fn run(
    fleet: Arc<Fleet>,
    transports: Vec<Transport>,
    passphrases: mpsc::UnboundedReceiver<PassphraseRequest>,
    options: ConsoleOptions,
) -> std::io::Result<()> {
    let mut terminal = ratatui::init();
    let result = event_loop(
        &mut terminal,
        fleet,
        transports.clone(),
        passphrases,
        options,
    )
    .await;
    ratatui::restore();
    for t in &transports {
        if let Transport::Ssh(h) = t {
            // Bounded: a dead connection must not hold up quitting.
            let _ = tokio::time::timeout(Duration::from_millis(300), h.disconnect()).await;
        }
    }
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    fleet: Arc<Fleet>,
    transports: Vec<Transport>,
    mut passphrases: mpsc::UnboundedReceiver<PassphraseRequest>,
    options: ConsoleOptions,
) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, mut observations) = mpsc::channel(1024);
    let mut app = App::new(
        fleet.clone(),
        options.selected.clone(),
        options.theme,
        options.readonly,
    );
    let poller = Poller::spawn(fleet, transports, options.selected, tx);
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut dirty = true;
    loop {
        if dirty {
            terminal.draw(|f| app.render(f, SystemTime::now()))?;
            dirty = false;
        }
        tokio::select! {
            Some(obs) = observations.recv() => {
                app.on_observation(obs);
                // Fold in everything already queued, then draw once.
                while let Ok(more) = observations.try_recv() {
                    app.on_observation(more);
                }
                dirty = true;
            }
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) => {
                    match app.on_key(key) {
                        Some(Action::Quit) => return Ok(()),
                        Some(Action::RefreshNow) => poller.refresh_now(),
                        _ => {}
                    }
                    dirty = true;
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            Some(request) = passphrases.recv() => {
                app.ask_passphrase(request);
                dirty = true;
            }
            _ = tick.tick() => dirty = true,
            _ = sigterm.recv() => return Ok(()),
            _ = sighup.recv() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::inventory::{ConfigSource, load_fleet_from_str};
    use crate::observation::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn app() -> App {
        let fleet = load_fleet_from_str(
            r#"
[fleet]
name = "dvn-prod"
[[hosts]]
name = "dvn-aws-1"
address = "10.0.1.10"
services = [{ name = "geth", kind = "systemd", unit = "geth.service" }]
disks = [{ mount = "/data" }]
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
[[hosts]]
name = "dvn-aws-2"
address = "10.0.1.11"
services = [{ name = "geth", kind = "systemd", unit = "geth.service" }]
[[hosts]]
name = "dvn-ali-1"
address = "10.0.2.10"
"#,
            ConfigSource::Embedded,
        )
        .unwrap();
        let mut app = App::new(
            Arc::new(fleet),
            vec![0, 1, 2],
            Theme::default_theme(),
            false,
        );
        app.on_observation(Observation {
            host: 0,
            started: at(1_800_000_000),
            elapsed: Duration::from_millis(40),
            outcome: Ok(Probed {
                services: vec![ServiceObs {
                    name: "geth".into(),
                    state: ServiceState::Running,
                    detail: String::new(),
                    since: None,
                    restarts: None,
                }],
                disks: vec![DiskObs {
                    mount: "/data".into(),
                    usage: Ok(DiskUsage {
                        filesystem: "/dev/vdb".into(),
                        total_bytes: 100,
                        used_bytes: 41,
                        avail_bytes: 59,
                        used_percent: 41.0,
                        mounted_on: "/data".into(),
                    }),
                }],
                chain: Some(ChainObs {
                    kind: crate::inventory::ChainKind::Ethereum,
                    height: Metric::Value(18_000_123),
                    syncing: Metric::Value(false),
                    peers: Metric::Unavailable("not supported by this node".into()),
                    client: None,
                }),
                ..Probed::default()
            }),
        });
        app.on_observation(Observation {
            host: 1,
            started: at(1_800_000_000),
            elapsed: Duration::from_secs(3),
            outcome: Err(Unreachable {
                kind: UnreachableKind::Connect,
                message: "connection refused".into(),
                retry_in: None,
            }),
        });
        app
    }

    fn draw(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        terminal.draw(|f| app.render(f, at(1_800_000_000))).unwrap();
        terminal
    }

    #[test]
    fn first_screen_120x40() {
        let mut app = app();
        insta::assert_snapshot!(draw(&mut app, 120, 40).backend());
    }

    #[test]
    fn first_screen_80x24() {
        let mut app = app();
        insta::assert_snapshot!(draw(&mut app, 80, 24).backend());
    }

    #[test]
    fn status_cells_are_coloured_by_status() {
        let mut app = app();
        let terminal = draw(&mut app, 120, 40);
        let buf = terminal.backend().buffer();
        let theme = Theme::default_theme();
        let find = |text: &str| {
            (0..buf.area.height)
                .find_map(|y| {
                    let line: String = (0..buf.area.width)
                        .map(|x| buf[(x, y)].symbol().to_string())
                        .collect();
                    line.find(text)
                        .map(|col| (line[..col].chars().count() as u16, y))
                })
                .unwrap_or_else(|| panic!("{text} not on screen"))
        };
        let (x, y) = find("critical");
        assert_eq!(buf[(x, y)].fg, theme.colour("status.critical"));
        let (x, y) = find("ok ");
        assert_eq!(buf[(x, y)].fg, theme.colour("status.ok"));
    }

    #[test]
    fn keys_move_the_selection_and_quit() {
        let mut app = app();
        let key = |c| KeyEvent::new(c, KeyModifiers::NONE);
        assert_eq!(
            app.on_key(key(KeyCode::Char('j'))),
            Some(Action::SelectNext)
        );
        assert_eq!(app.table.selected(), Some(1));
        app.on_key(key(KeyCode::Char('G')));
        assert_eq!(app.table.selected(), Some(2));
        app.on_key(key(KeyCode::Down));
        assert_eq!(app.table.selected(), Some(2), "stays on the last row");
        app.on_key(key(KeyCode::Char('g')));
        assert_eq!(app.table.selected(), Some(0));
        assert_eq!(app.on_key(key(KeyCode::Char('q'))), Some(Action::Quit));
        assert_eq!(
            app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
    }

    #[test]
    fn the_passphrase_dialog_captures_keys_and_replies() {
        let mut app = app();
        let (reply, answer) = tokio::sync::oneshot::channel();
        app.ask_passphrase(PassphraseRequest {
            key: "/k/id_ed25519".into(),
            attempt: 1,
            reply,
        });
        for c in "s3cret".chars() {
            assert_eq!(
                app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
                None
            );
        }
        let screen = format!("{:?}", draw(&mut app, 80, 24).backend());
        assert!(screen.contains("Passphrase for /k/id_ed25519"), "{screen}");
        assert!(!screen.contains("s3cret"), "the passphrase is masked");
        app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(answer.blocking_recv().unwrap(), Some("s3cret".to_string()));
    }
}

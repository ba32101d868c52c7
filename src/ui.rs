//! The full-screen console: renders the state store pane by pane and turns keys, mouse and
//! palette commands into actions.
//!
//! The only module (with its children) that uses ratatui and crossterm. [`App`] holds what the
//! screen needs — the state store, the pane and host being looked at, selections, the filter,
//! an open palette, help or dialog — and is driven by [`App::on_key`], [`App::on_mouse`],
//! [`App::on_observation`] and [`App::on_tick`]; [`App::render`] is a function of that state and
//! of the `now` it is given, so render tests are deterministic. Rows come from the pure
//! [`crate::view`] module and are cached per state version, query and second; tables build
//! widgets only for the lines on screen. [`run`] is the event loop: it redraws when something
//! changed or once a second (ages move), and sleeps otherwise.
//!
//! Keys are data ([`keymap`]): dispatch, hints, `?` help and `docs/console.md` come from the
//! same table, and a read-only console strips the dangerous bindings and palette commands where
//! they are registered. Acknowledging an alert is an operator action: it goes through the
//! [`AckHook`] (the audit log) before it takes effect.

pub mod alerts_pane;
pub mod audit_pane;
pub mod certs_pane;
pub mod chain_pane;
pub mod disks_pane;
pub mod fleet_table;
pub mod help;
pub mod host_pane;
pub mod keymap;
pub mod logs_pane;
pub mod palette;
pub mod prompt;
pub mod runbook_pane;
pub mod services_pane;
pub mod table;
#[cfg(test)]
mod tests;
pub mod theme;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crossterm::event::{
    Event, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent,
    MouseEventKind,
};
use futures::StreamExt;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};
use ratatui_textarea::TextArea;
use tokio::sync::mpsc;

use crate::alerts::{AlertBook, AlertState};
use crate::health::{self, HostHealth, Status};
use crate::inventory::Fleet;
use crate::observation::Observation;
use crate::poller::Poller;
use crate::report;
use crate::state::FleetState;
use crate::transport::Transport;
use crate::view::{
    self, AlertPhase, AlertRow, BackupRow, CertRow, ChainRow, ChainSummary, Ctx, DiskRow, Fact,
    Filter, FleetLine, FleetQuery, FleetRow, LogRow, ServiceRow, Summary,
};
use alerts_pane::AlertsPane;
use certs_pane::CertsPane;
use chain_pane::ChainPane;
use disks_pane::{BackupsPane, DisksPane};
use fleet_table::FleetTable;
use help::HelpOverlay;
use host_pane::HostPane;
pub use keymap::Action;
use keymap::{Context, Key, Keymap, Lookup};
use logs_pane::LogsPane;
use palette::{Candidates, Command, Palette, PaletteOutcome};
use prompt::PassphraseRequest;
use runbook_pane::{RunStart, RunbookLauncher, RunbookMsg, RunbookPane};
use services_pane::ServicesPane;
use table::{Selection, status_slot};
use theme::Theme;

/// Below this size the console shows a notice instead of panes.
pub const MIN_WIDTH: u16 = 60;
/// Below this size the console shows a notice instead of panes.
pub const MIN_HEIGHT: u16 = 15;

/// The console's panes, in palette order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pane {
    /// Every host, one row each.
    Fleet,
    /// One host: facts and everything below for it.
    Host,
    /// Services.
    Services,
    /// Chain nodes and consensus groups.
    Chain,
    /// Disks and backups.
    Disks,
    /// Certificates.
    Certs,
    /// Logs.
    Logs,
    /// Alerts.
    Alerts,
    /// The audit log: newest records and the chain's verdict.
    Audit,
    /// A runbook running in the console.
    Runbook,
}

impl Pane {
    /// Every pane.
    pub const ALL: [Pane; 10] = [
        Pane::Fleet,
        Pane::Host,
        Pane::Services,
        Pane::Chain,
        Pane::Disks,
        Pane::Certs,
        Pane::Logs,
        Pane::Alerts,
        Pane::Audit,
        Pane::Runbook,
    ];

    /// Name used by `:pane`.
    pub fn name(self) -> &'static str {
        match self {
            Pane::Fleet => "fleet",
            Pane::Host => "host",
            Pane::Services => "services",
            Pane::Chain => "chain",
            Pane::Disks => "disks",
            Pane::Certs => "certs",
            Pane::Logs => "logs",
            Pane::Alerts => "alerts",
            Pane::Audit => "audit",
            Pane::Runbook => "runbook",
        }
    }

    /// Tab label.
    pub fn label(self) -> &'static str {
        match self {
            Pane::Fleet => "Fleet",
            Pane::Host => "Host",
            Pane::Services => "Services",
            Pane::Chain => "Chain",
            Pane::Disks => "Disks",
            Pane::Certs => "Certs",
            Pane::Logs => "Logs",
            Pane::Alerts => "Alerts",
            Pane::Audit => "Audit",
            Pane::Runbook => "Runbook",
        }
    }

    /// The pane called `name`.
    pub fn from_name(name: &str) -> Option<Pane> {
        Pane::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// An operator's acknowledgement of an alert, handed to the [`AckHook`] before it takes effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckRequest {
    /// The alert.
    pub key: crate::alerts::AlertKey,
    /// Its severity.
    pub severity: crate::health::Severity,
    /// Its message.
    pub message: String,
    /// Since when it has been failing.
    pub since: SystemTime,
    /// Who acknowledges.
    pub operator: String,
    /// When.
    pub at: SystemTime,
}

/// Records an ack (the audit log) before it takes effect; an error refuses the ack.
pub type AckHook = Box<dyn FnMut(&AckRequest) -> Result<(), String> + Send>;

/// The passphrase dialog, open while a key waits to be unlocked.
struct PassphraseDialog {
    request: PassphraseRequest,
    input: TextArea<'static>,
}

/// What the bottom line is being used for.
enum Input {
    /// Nothing typed.
    None,
    /// `/` filter being typed; Esc restores `previous`.
    Filter {
        text: String,
        previous: Option<Filter>,
        error: Option<String>,
    },
    /// `:` palette open.
    Palette(Palette),
    /// `?` help open.
    Help { scroll: u16 },
}

/// A message in the status line until `until`.
struct Notice {
    text: String,
    error: bool,
    until: SystemTime,
}

/// The rows of the pane on screen.
enum PaneRows {
    Fleet,
    Host(Box<HostRows>),
    Services(Vec<ServiceRow>),
    Chain(Vec<ChainSummary>, Vec<ChainRow>),
    Disks(Vec<DiskRow>, Vec<BackupRow>),
    Certs(Vec<CertRow>),
    Logs(Vec<LogRow>),
    Alerts(Vec<AlertRow>),
    /// The audit log's newest records.
    Audit(Vec<audit_pane::AuditRow>),
    /// The runbook pane's path, by its number of rows.
    Runbook(usize),
}

struct HostRows {
    host: usize,
    facts: Vec<Fact>,
    alerts: Vec<AlertRow>,
    services: Vec<ServiceRow>,
    chain: Vec<ChainRow>,
    chain_summary: Vec<ChainSummary>,
    disks: Vec<DiskRow>,
    backups: Vec<BackupRow>,
    certs: Vec<CertRow>,
    logs: Vec<LogRow>,
}

impl PaneRows {
    fn len(&self, model: &Model) -> usize {
        match self {
            PaneRows::Fleet => model.lines.len(),
            PaneRows::Host(_) => 0,
            PaneRows::Runbook(n) => *n,
            PaneRows::Services(r) => r.len(),
            PaneRows::Chain(_, r) => r.len(),
            PaneRows::Disks(d, b) => d.len() + b.len(),
            PaneRows::Certs(r) => r.len(),
            PaneRows::Logs(r) => r.len(),
            PaneRows::Alerts(r) => r.len(),
            PaneRows::Audit(r) => r.len(),
        }
    }

    fn host_at(&self, model: &Model, i: usize) -> Option<usize> {
        match self {
            PaneRows::Fleet => match model.lines.get(i)? {
                FleetLine::Host(k) => Some(model.rows[*k].host),
                FleetLine::Group { .. } => None,
            },
            PaneRows::Host(h) => Some(h.host),
            PaneRows::Runbook(_) | PaneRows::Audit(_) => None,
            PaneRows::Services(r) => r.get(i).map(|r| r.host),
            PaneRows::Chain(_, r) => r.get(i).map(|r| r.host),
            PaneRows::Disks(d, b) => d
                .get(i)
                .map(|r| r.host)
                .or_else(|| b.get(i - d.len().min(i)).map(|r| r.host)),
            PaneRows::Certs(r) => r.get(i).map(|r| r.host),
            PaneRows::Logs(r) => r.get(i).map(|r| r.host),
            PaneRows::Alerts(r) => r.get(i).map(|r| r.host),
        }
    }
}

/// Everything computed from the state for one (state version, second, query): cached so keys
/// that only move the selection cost a redraw, not a recomputation.
struct Model {
    key: (u64, u64, u64),
    health: Vec<HostHealth>,
    rows: Vec<FleetRow>,
    lines: Vec<FleetLine>,
    summary: Summary,
    alerts: usize,
    pane: Option<((Pane, Option<usize>), PaneRows)>,
}

/// The audit log behind the Audit pane, and what was last read of it.
struct AuditSource {
    path: std::path::PathBuf,
    snapshot: Option<Result<audit_pane::AuditSnapshot, String>>,
    /// Length and modification time at the last read: the log is read again when they change.
    stamp: Option<(u64, SystemTime)>,
    loading: bool,
}

/// What the console shows.
pub struct App {
    fleet: Arc<Fleet>,
    /// The state store.
    pub state: FleetState,
    selected: Vec<usize>,
    theme: Theme,
    readonly: bool,
    keymap: Keymap,
    pane: Pane,
    host: Option<usize>,
    back: Vec<(Pane, Option<usize>)>,
    sels: HashMap<Pane, Selection>,
    disk_sels: [Selection; 2],
    query: FleetQuery,
    rev: u64,
    input: Input,
    dialog: Option<PassphraseDialog>,
    notice: Option<Notice>,
    now: SystemTime,
    operator: String,
    ack_hook: Option<AckHook>,
    alerts: AlertBook,
    /// Runbooks that can be run here (name, title); `None`: no runbook pane.
    runbooks: Option<Vec<(String, String)>>,
    runbook: RunbookPane,
    runbook_start: Option<RunStart>,
    /// The host a palette opened with `x` (or on a host) offers as the run's target.
    palette_focus: Option<String>,
    /// The audit log the Audit pane reads (`None`: no Audit pane).
    audit: Option<AuditSource>,
    tabs: Vec<(Rect, Pane)>,
    model: Option<Model>,
}

fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl App {
    /// A console over `selected` hosts of `fleet`.
    pub fn new(fleet: Arc<Fleet>, selected: Vec<usize>, theme: Theme, readonly: bool) -> App {
        let state = FleetState::new(fleet.hosts.len());
        App {
            fleet,
            state,
            selected,
            theme,
            readonly,
            keymap: Keymap::new(readonly),
            pane: Pane::Fleet,
            host: None,
            back: Vec::new(),
            sels: HashMap::new(),
            disk_sels: [Selection::default(); 2],
            query: FleetQuery::default(),
            rev: 0,
            input: Input::None,
            dialog: None,
            notice: None,
            now: SystemTime::UNIX_EPOCH,
            operator: std::env::var("USER").unwrap_or_else(|_| "operator".into()),
            ack_hook: None,
            alerts: AlertBook::default(),
            runbooks: None,
            runbook: RunbookPane::default(),
            runbook_start: None,
            palette_focus: None,
            audit: None,
            tabs: Vec::new(),
            model: None,
        }
    }

    /// Sets who acknowledges alerts in this console (default `$USER`).
    pub fn set_operator(&mut self, operator: impl Into<String>) {
        self.operator = operator.into();
    }

    /// Sets the hook every ack goes through first (the audit log).
    pub fn set_ack_hook(&mut self, hook: AckHook) {
        self.ack_hook = Some(hook);
    }

    /// Adds the runbook pane to the Tab cycle, offering these runbooks (name, title).
    pub fn enable_runbook_pane(&mut self, catalog: Vec<(String, String)>) {
        self.runbooks = Some(catalog);
    }

    /// Adds the Audit pane, reading the audit log at `path`.
    pub fn enable_audit_pane(&mut self, path: std::path::PathBuf) {
        self.audit = Some(AuditSource {
            path,
            snapshot: None,
            stamp: None,
            loading: false,
        });
    }

    /// The audit log to read now, if the Audit pane is on screen and the file changed since it
    /// was last read (one read at a time). The event loop reads it off the drawing path and
    /// hands the result to [`App::set_audit_snapshot`].
    pub fn audit_read_wanted(&mut self) -> Option<std::path::PathBuf> {
        if self.pane != Pane::Audit {
            return None;
        }
        let source = self.audit.as_mut()?;
        if source.loading {
            return None;
        }
        let stamp = std::fs::metadata(&source.path)
            .ok()
            .map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
        if source.snapshot.is_some() && stamp == source.stamp {
            return None;
        }
        source.stamp = stamp;
        source.loading = true;
        Some(source.path.clone())
    }

    /// What was read of the audit log.
    pub fn set_audit_snapshot(&mut self, snapshot: Result<audit_pane::AuditSnapshot, String>) {
        if let Some(source) = &mut self.audit {
            source.snapshot = Some(snapshot);
            source.loading = false;
            self.invalidate();
        }
    }

    /// The runbook pane's state.
    pub fn runbook(&self) -> &RunbookPane {
        &self.runbook
    }

    /// Folds in a message of the running runbook; a run that starts brings its pane forward.
    pub fn on_runbook_msg(&mut self, msg: RunbookMsg) {
        let before = self.runbook.path_len();
        let started = matches!(msg, RunbookMsg::Started { .. });
        let asks = matches!(msg, RunbookMsg::Ask(..));
        self.runbook.on_msg(msg);
        let after = self.runbook.path_len();
        // Follow the path as it grows unless the operator is looking further up.
        let sel = self.sels.entry(Pane::Runbook).or_default();
        if after > before && sel.selected + 1 >= before {
            sel.selected = after - 1;
        }
        if started || (asks && self.pane != Pane::Runbook) {
            if asks {
                self.notify("the runbook asks you something (runbook pane)", false);
            }
            if started {
                self.pane = Pane::Runbook;
            }
        }
        self.invalidate();
    }

    /// The run the operator asked for (`:run`, `:resume`), for the event loop to start.
    pub fn take_runbook_start(&mut self) -> Option<RunStart> {
        self.runbook_start.take()
    }

    /// Marks a run as starting (the pane shows it at once).
    pub fn runbook_starting(&mut self, what: &str) {
        self.runbook.starting(what);
        self.sels.remove(&Pane::Runbook);
        self.pane = Pane::Runbook;
        self.invalidate();
    }

    /// Whether this console is read-only.
    pub fn readonly(&self) -> bool {
        self.readonly
    }

    /// The pane on screen.
    pub fn pane(&self) -> Pane {
        self.pane
    }

    /// The host being looked at (host pane and panes scoped to it).
    pub fn host(&self) -> Option<usize> {
        self.host
    }

    /// The key map in use (read-only consoles have the dangerous bindings stripped).
    pub fn keymap(&self) -> &Keymap {
        &self.keymap
    }

    /// The current theme.
    pub fn theme(&self) -> &Theme {
        &self.theme
    }

    /// The selected row of the pane on screen.
    pub fn selected_row(&self) -> usize {
        self.sels.get(&self.pane).map_or(0, |s| s.selected)
    }

    /// Folds an observation into the state store.
    pub fn on_observation(&mut self, obs: Observation) {
        self.state.apply(obs);
    }

    /// Tells the console what time it is (notices expire, acks are timestamped).
    pub fn on_tick(&mut self, now: SystemTime) {
        self.now = now;
        if self.notice.as_ref().is_some_and(|n| n.until <= now) {
            self.notice = None;
        }
    }

    /// Opens the passphrase dialog for `request`.
    pub fn ask_passphrase(&mut self, request: PassphraseRequest) {
        let mut input = TextArea::default();
        input.set_mask_char('•');
        self.dialog = Some(PassphraseDialog { request, input });
    }

    fn notify(&mut self, text: impl Into<String>, error: bool) {
        self.notice = Some(Notice {
            text: text.into(),
            error,
            until: self.now + Duration::from_secs(if error { 8 } else { 4 }),
        });
    }

    fn contexts(&self) -> Vec<Context> {
        let mut c = vec![Context::Global, Context::List];
        match self.pane {
            Pane::Fleet => c.push(Context::Fleet),
            Pane::Alerts => c.push(Context::Alerts),
            Pane::Runbook => c.push(Context::Runbook),
            _ => {}
        }
        c
    }

    /// The panes Tab cycles through: fleet-wide, or for one host.
    pub fn pane_cycle(&self) -> Vec<Pane> {
        let first = if self.host.is_some() {
            Pane::Host
        } else {
            Pane::Fleet
        };
        let mut v = vec![
            first,
            Pane::Services,
            Pane::Chain,
            Pane::Disks,
            Pane::Certs,
            Pane::Logs,
            Pane::Alerts,
        ];
        if self.audit.is_some() {
            v.push(Pane::Audit);
        }
        if self.runbooks.is_some() {
            v.push(Pane::Runbook);
        }
        v
    }

    // -----------------------------------------------------------------------------------------
    // The model

    fn ensure_model(&mut self) {
        let key = (self.state.version, epoch_secs(self.now), self.rev);
        if self.model.as_ref().is_none_or(|m| m.key != key) {
            let health = health::evaluate(&self.fleet, &self.state, self.now);
            // The lifecycle follows every evaluation the console makes (at most one per state
            // change and second).
            self.alerts.update(&self.fleet, &health, self.now);
            let ctx = Ctx {
                fleet: &self.fleet,
                state: &self.state,
                health: &health,
                now: self.now,
            };
            let rows = view::fleet_rows(&ctx, &self.selected);
            let lines = view::arrange(&rows, &self.query);
            let summary = view::summary(&rows);
            let alerts = self.alerts.counts();
            let alerts = alerts.new + alerts.acked;
            self.model = Some(Model {
                key,
                health,
                rows,
                lines,
                summary,
                alerts,
                pane: None,
            });
        }
        let scope = (self.pane, self.host);
        let model = self.model.as_ref().expect("just built");
        if model.pane.as_ref().is_none_or(|(s, _)| *s != scope) {
            let rows = self.build_pane_rows(model);
            self.model.as_mut().expect("just built").pane = Some((scope, rows));
        }
        if self.pane == Pane::Fleet {
            self.settle_fleet_selection(1);
        }
    }

    /// Hosts the non-fleet panes show: the host looked at, or every host the `:group` keeps.
    fn pane_hosts(&self, model: &Model) -> Vec<usize> {
        if let Some(h) = self.host {
            return vec![h];
        }
        model
            .rows
            .iter()
            .filter(|r| {
                self.query.group.as_deref().is_none_or(|g| {
                    r.groups.iter().any(|x| x == g) || r.consensus_group.as_deref() == Some(g)
                })
            })
            .map(|r| r.host)
            .collect()
    }

    fn build_pane_rows(&self, model: &Model) -> PaneRows {
        let ctx = Ctx {
            fleet: &self.fleet,
            state: &self.state,
            health: &model.health,
            now: self.now,
        };
        let hosts = self.pane_hosts(model);
        let f = self.query.filter.as_ref();
        fn keep<T>(rows: Vec<T>, f: Option<&Filter>, fields: impl Fn(&T) -> Vec<&str>) -> Vec<T> {
            match f {
                None => rows,
                Some(f) => rows.into_iter().filter(|r| f.keeps(fields(r))).collect(),
            }
        }
        match self.pane {
            Pane::Fleet => PaneRows::Fleet,
            Pane::Runbook => PaneRows::Runbook(self.runbook.path_len()),
            Pane::Audit => {
                let host = self.host.map(|h| self.fleet.hosts[h].name.as_str());
                let today = report::rfc3339(self.now);
                let rows = match self.audit.as_ref().and_then(|a| a.snapshot.as_ref()) {
                    Some(Ok(snap)) => {
                        audit_pane::audit_rows(snap, host, today.get(..10).unwrap_or(""))
                    }
                    _ => Vec::new(),
                };
                PaneRows::Audit(keep(rows, f, |r| r.fields()))
            }
            Pane::Host => match self.host {
                None => PaneRows::Runbook(0),
                Some(h) => {
                    let one = [h];
                    let chain = view::chain_rows(&ctx, &one);
                    let chain_summary = match self.fleet.hosts[h].consensus_group {
                        Some(_) => {
                            // The quorum counts every member of the group, not just this host.
                            let label = chain.first().map(|c| c.chain.clone());
                            view::chain_summaries(&ctx, &self.selected)
                                .into_iter()
                                .filter(|s| Some(&s.chain) == label.as_ref())
                                .collect()
                        }
                        None => Vec::new(),
                    };
                    PaneRows::Host(Box::new(HostRows {
                        host: h,
                        facts: view::host_facts(&ctx, h),
                        alerts: view::alert_rows(&ctx, &one, &self.alerts),
                        services: view::service_rows(&ctx, &one),
                        chain,
                        chain_summary,
                        disks: view::disk_rows(&ctx, &one),
                        backups: view::backup_rows(&ctx, &one),
                        certs: view::cert_rows(&ctx, &one),
                        logs: view::log_rows(&ctx, &one),
                    }))
                }
            },
            Pane::Services => PaneRows::Services(keep(view::service_rows(&ctx, &hosts), f, |r| {
                r.filter_fields().collect()
            })),
            Pane::Chain => {
                let rows = keep(view::chain_rows(&ctx, &hosts), f, |r| {
                    r.filter_fields().collect()
                });
                // Quorum is about the whole group: summaries count every selected member.
                let mut labels: BTreeSet<String> = rows.iter().map(|r| r.chain.clone()).collect();
                if self.host.is_none() && f.is_none() {
                    labels.clear();
                }
                let sums = view::chain_summaries(&ctx, &self.selected)
                    .into_iter()
                    .filter(|s| {
                        labels.is_empty() && self.host.is_none() || labels.contains(&s.chain)
                    })
                    .collect();
                PaneRows::Chain(sums, rows)
            }
            Pane::Disks => PaneRows::Disks(
                keep(view::disk_rows(&ctx, &hosts), f, |r| {
                    r.filter_fields().collect()
                }),
                keep(view::backup_rows(&ctx, &hosts), f, |r| {
                    r.filter_fields().collect()
                }),
            ),
            Pane::Certs => PaneRows::Certs(keep(view::cert_rows(&ctx, &hosts), f, |r| {
                r.filter_fields().collect()
            })),
            Pane::Logs => PaneRows::Logs(keep(view::log_rows(&ctx, &hosts), f, |r| {
                r.filter_fields().collect()
            })),
            Pane::Alerts => {
                PaneRows::Alerts(keep(view::alert_rows(&ctx, &hosts, &self.alerts), f, |r| {
                    r.filter_fields().collect()
                }))
            }
        }
    }

    /// Moves the fleet selection off group headings, in direction `dir` first.
    fn settle_fleet_selection(&mut self, dir: isize) {
        let Some(model) = &self.model else { return };
        let lines = &model.lines;
        let sel = self.sels.entry(Pane::Fleet).or_default();
        if lines.is_empty() {
            sel.selected = 0;
            return;
        }
        sel.selected = sel.selected.min(lines.len() - 1);
        let is_host = |i: usize| matches!(lines[i], FleetLine::Host(_));
        if is_host(sel.selected) {
            return;
        }
        let forward = (sel.selected..lines.len()).find(|&i| is_host(i));
        let backward = (0..sel.selected).rev().find(|&i| is_host(i));
        let pick = if dir >= 0 {
            forward.or(backward)
        } else {
            backward.or(forward)
        };
        if let Some(p) = pick {
            sel.selected = p;
        }
    }

    fn invalidate(&mut self) {
        self.rev += 1;
    }

    fn current_len(&mut self) -> usize {
        self.ensure_model();
        let m = self.model.as_ref().expect("ensured");
        m.pane.as_ref().map_or(0, |(_, p)| p.len(m))
    }

    fn selected_host(&mut self) -> Option<usize> {
        self.ensure_model();
        let i = self.selected_row();
        let m = self.model.as_ref().expect("ensured");
        m.pane.as_ref().and_then(|(_, p)| p.host_at(m, i))
    }

    fn move_selection(&mut self, delta: isize) {
        let len = self.current_len();
        let sel = self.sels.entry(self.pane).or_default();
        if self.pane == Pane::Host {
            // The host pane scrolls; render clamps it to the text.
            sel.selected = sel.selected.saturating_add_signed(delta);
            return;
        }
        if len == 0 {
            return;
        }
        let before = sel.selected;
        sel.selected = sel.selected.saturating_add_signed(delta).min(len - 1);
        if self.pane == Pane::Fleet {
            self.settle_fleet_selection(delta.signum());
            let sel = self.sels.entry(Pane::Fleet).or_default();
            // Only a heading beyond the last host: stay put.
            if let Some(m) = &self.model
                && matches!(m.lines.get(sel.selected), Some(FleetLine::Group { .. }))
            {
                sel.selected = before;
            }
        }
    }

    fn select_absolute(&mut self, index: usize) {
        let len = self.current_len();
        let sel = self.sels.entry(self.pane).or_default();
        sel.selected = index.min(len.saturating_sub(1));
        if self.pane == Pane::Fleet {
            self.settle_fleet_selection(if index == 0 { 1 } else { -1 });
        }
    }

    // -----------------------------------------------------------------------------------------
    // Navigation

    fn switch_pane(&mut self, pane: Pane) {
        if pane == Pane::Host && self.host.is_none() {
            match self.selected_host() {
                Some(h) => return self.open_host(h),
                None => {
                    self.notify("select a host first", true);
                    return;
                }
            }
        }
        if pane == Pane::Fleet && self.host.is_some() {
            self.host = None;
            self.back.clear();
        }
        self.pane = pane;
    }

    fn open_host(&mut self, host: usize) {
        if self.host == Some(host) && self.pane == Pane::Host {
            return;
        }
        self.back.push((self.pane, self.host));
        self.host = Some(host);
        self.pane = Pane::Host;
        // Scoped panes start at the top for the new host.
        for p in Pane::ALL {
            if p != Pane::Fleet {
                self.sels.remove(&p);
            }
        }
    }

    fn cycle_pane(&mut self, forward: bool) {
        let cycle = self.pane_cycle();
        let i = cycle.iter().position(|p| *p == self.pane).unwrap_or(0);
        let n = cycle.len();
        self.pane = cycle[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }];
    }

    fn go_back(&mut self) -> Option<Action> {
        // Innermost first: the host looked at, then the filter, then the pane.
        if self.host.is_some() {
            let (pane, host) = self.back.pop().unwrap_or((Pane::Fleet, None));
            self.host = host;
            self.pane = if host.is_none() && pane == Pane::Host {
                Pane::Fleet
            } else {
                pane
            };
            return Some(Action::Back);
        }
        if self.query.filter.is_some() {
            self.query.filter = None;
            self.invalidate();
            return Some(Action::Back);
        }
        if self.pane != Pane::Fleet {
            self.pane = Pane::Fleet;
            return Some(Action::Back);
        }
        Some(Action::Quit)
    }

    // -----------------------------------------------------------------------------------------
    // Keys

    /// Handles a key; returns the action it triggered, if any (`Quit` and `RefreshNow` are for
    /// the event loop to carry out).
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        if self.dialog.is_some() {
            self.dialog_key(key);
            return None;
        }
        match std::mem::replace(&mut self.input, Input::None) {
            Input::None => {}
            Input::Palette(mut p) => {
                let c = self.candidates();
                match p.on_key(key, &c, self.readonly) {
                    PaletteOutcome::Editing => self.input = Input::Palette(p),
                    PaletteOutcome::Cancelled => {}
                    PaletteOutcome::Submit(line) => {
                        match palette::parse(&line, &c, self.readonly) {
                            Ok(cmd) => return self.run_command(cmd),
                            Err(e) => {
                                p.error = Some(e);
                                self.input = Input::Palette(p);
                            }
                        }
                    }
                }
                return None;
            }
            Input::Filter {
                mut text,
                previous,
                mut error,
            } => {
                match key.code {
                    KeyCode::Esc => {
                        self.query.filter = previous;
                        self.invalidate();
                        return None;
                    }
                    KeyCode::Enter => {
                        if let Some(e) = error {
                            self.notify(e, true);
                        }
                        return None;
                    }
                    KeyCode::Backspace => {
                        text.pop();
                    }
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        self.query.filter = previous;
                        self.invalidate();
                        return None;
                    }
                    KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        text.clear();
                    }
                    KeyCode::Char(c) => text.push(c),
                    _ => {}
                }
                // Filter as you type; a half-typed regex keeps the last good filter.
                match Filter::parse(&text) {
                    Ok(f) => {
                        self.query.filter = f;
                        error = None;
                        self.invalidate();
                    }
                    Err(e) => error = Some(e),
                }
                self.input = Input::Filter {
                    text,
                    previous,
                    error,
                };
                return None;
            }
            Input::Help { scroll } => {
                let scroll = match key.code {
                    KeyCode::Down | KeyCode::Char('j') => scroll.saturating_add(1),
                    KeyCode::Up | KeyCode::Char('k') => scroll.saturating_sub(1),
                    KeyCode::PageDown => scroll.saturating_add(10),
                    KeyCode::PageUp => scroll.saturating_sub(10),
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        return Some(Action::Quit);
                    }
                    _ => return None,
                };
                self.input = Input::Help { scroll };
                return None;
            }
        }
        // An open question of the runbook owns the keyboard in its pane, except for leaving the
        // pane and quitting (which suspends the run, resumably).
        if self.pane == Pane::Runbook && self.runbook.question().is_some() {
            let leaves = [Key::Tab, Key::BackTab, Key::Ctrl('c')]
                .iter()
                .any(|k| k.matches(&key));
            if !leaves {
                self.runbook.question_key(key);
                self.invalidate();
                return None;
            }
        }
        match self.keymap.lookup(&key, &self.contexts()) {
            Lookup::Unbound => None,
            Lookup::Refused(b) => {
                self.notify(
                    format!(
                        "read-only console: `{}` ({}) is disabled",
                        b.keys_label(),
                        b.help
                    ),
                    true,
                );
                None
            }
            Lookup::Action(a) => self.apply(a),
        }
    }

    fn dialog_key(&mut self, key: KeyEvent) {
        let Some(dialog) = &mut self.dialog else {
            return;
        };
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
    }

    /// Carries out `action` (as a key would).
    pub fn apply(&mut self, action: Action) -> Option<Action> {
        match action {
            Action::Quit | Action::RefreshNow => {}
            Action::Back => return self.go_back(),
            Action::SelectNext => self.move_selection(1),
            Action::SelectPrevious => self.move_selection(-1),
            Action::PageDown => {
                let page = self.sels.get(&self.pane).map_or(10, |s| s.page()) as isize;
                self.move_selection(page);
            }
            Action::PageUp => {
                let page = self.sels.get(&self.pane).map_or(10, |s| s.page()) as isize;
                self.move_selection(-page);
            }
            Action::SelectFirst => self.select_absolute(0),
            Action::SelectLast => self.select_absolute(usize::MAX),
            Action::NextPane => self.cycle_pane(true),
            Action::PreviousPane => self.cycle_pane(false),
            Action::Open => match self.selected_host() {
                Some(h) if self.host != Some(h) => self.open_host(h),
                _ => return None,
            },
            Action::Filter => {
                self.input = Input::Filter {
                    text: self
                        .query
                        .filter
                        .as_ref()
                        .map(|f| f.text().to_string())
                        .unwrap_or_default(),
                    previous: self.query.filter.clone(),
                    error: None,
                };
            }
            Action::Palette => {
                self.palette_focus = self.focus_host_name();
                self.input = Input::Palette(Palette::open(&self.candidates(), self.readonly));
            }
            Action::RunOnHost => {
                if self.runbooks.is_none() {
                    self.notify("this console runs no runbooks", true);
                    return None;
                }
                let Some(host) = self.focus_host_name() else {
                    self.notify("select a host first", true);
                    return None;
                };
                self.palette_focus = Some(host);
                self.input = Input::Palette(Palette::with_line(
                    "run ",
                    &self.candidates(),
                    self.readonly,
                ));
            }
            Action::StartRunbook => {}
            Action::StopRun => {
                if !self.runbook.active() {
                    self.notify("no runbook is running", true);
                    return None;
                }
            }
            Action::Help => self.input = Input::Help { scroll: 0 },
            Action::CycleSort => {
                self.query.sort = self.query.sort.next();
                self.invalidate();
            }
            Action::ReverseSort => {
                self.query.reverse = !self.query.reverse;
                self.invalidate();
            }
            Action::WorstFirst => {
                self.query.worst_first = !self.query.worst_first;
                self.invalidate();
            }
            Action::CycleGroupBy => {
                self.query.group_by = self.query.group_by.next();
                self.invalidate();
            }
            Action::Ack => return self.ack_selected(),
        }
        Some(action)
    }

    /// The host a run started now would be offered for: the one looked at, or the selected row's.
    fn focus_host_name(&mut self) -> Option<String> {
        let host = self.host.or_else(|| self.selected_host())?;
        Some(self.fleet.hosts[host].name.clone())
    }

    fn candidates(&self) -> Candidates {
        let mut groups = BTreeSet::new();
        for &i in &self.selected {
            let h = &self.fleet.hosts[i];
            groups.extend(h.groups.iter().cloned());
            groups.extend(h.consensus_group.iter().cloned());
        }
        let mut themes: Vec<String> = theme::builtin_names().map(String::from).collect();
        if let Some(dir) = theme::user_theme_dir()
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            let mut own: Vec<String> = entries
                .flatten()
                .filter_map(|e| {
                    let p = e.path();
                    (p.extension()? == "toml").then(|| p.file_stem()?.to_str().map(String::from))?
                })
                .filter(|n| !themes.contains(n))
                .collect();
            own.sort();
            themes.extend(own);
        }
        Candidates {
            hosts: self
                .selected
                .iter()
                .map(|&i| self.fleet.hosts[i].name.clone())
                .collect(),
            groups: groups.into_iter().collect(),
            themes,
            runbooks: self
                .runbooks
                .iter()
                .flatten()
                .map(|(name, _)| name.clone())
                .collect(),
            focus_host: self.palette_focus.clone(),
        }
    }

    fn request_run(&mut self, start: RunStart) -> Option<Action> {
        if self.runbooks.is_none() {
            self.notify("this console runs no runbooks", true);
            return None;
        }
        if self.runbook.active() {
            self.notify(
                "a runbook is already running: finish it, or suspend it with X or :stop",
                true,
            );
            self.pane = Pane::Runbook;
            return None;
        }
        self.runbook_start = Some(start);
        Some(Action::StartRunbook)
    }

    /// Runs a palette command.
    pub fn run_command(&mut self, cmd: Command) -> Option<Action> {
        match cmd {
            Command::Quit => return Some(Action::Quit),
            Command::Refresh => return Some(Action::RefreshNow),
            Command::Help => self.input = Input::Help { scroll: 0 },
            Command::Ack => {
                if self.pane != Pane::Alerts {
                    self.notify("select an alert in the Alerts pane first", true);
                    return None;
                }
                return self.ack_selected();
            }
            Command::Run { runbook, hosts } => {
                return self.request_run(RunStart::New { runbook, hosts });
            }
            Command::Resume(id) => return self.request_run(RunStart::Resume(id)),
            Command::Stop => return self.apply(Action::StopRun),
            Command::Host(name) => {
                if let Some(i) = self
                    .selected
                    .iter()
                    .copied()
                    .find(|&i| self.fleet.hosts[i].name == name)
                {
                    self.open_host(i);
                }
            }
            Command::Group(g) => {
                self.query.group = g;
                self.invalidate();
                if self.host.is_some() {
                    self.host = None;
                    self.back.clear();
                    self.pane = Pane::Fleet;
                }
            }
            Command::Pane(p) => self.switch_pane(p),
            Command::Theme(name) => match Theme::load(&name, theme::user_theme_dir().as_deref()) {
                Ok(t) => {
                    self.notify(format!("theme {}", t.name()), false);
                    self.theme = t;
                }
                Err(e) => self.notify(e.to_string(), true),
            },
            Command::Sort(c) => {
                self.query.sort = c;
                self.invalidate();
            }
            Command::GroupBy(g) => {
                self.query.group_by = g;
                self.invalidate();
            }
            Command::Filter(text) => match Filter::parse(text.as_deref().unwrap_or("")) {
                Ok(f) => {
                    self.query.filter = f;
                    self.invalidate();
                }
                Err(e) => self.notify(e, true),
            },
        }
        None
    }

    fn ack_selected(&mut self) -> Option<Action> {
        if self.readonly || !self.keymap.has(Action::Ack) {
            self.notify("read-only console: acknowledging alerts is disabled", true);
            return None;
        }
        self.ensure_model();
        let i = self.selected_row();
        let row = match self.model.as_ref().and_then(|m| m.pane.as_ref()) {
            Some((_, PaneRows::Alerts(rows))) => rows.get(i).cloned(),
            _ => None,
        };
        let Some(row) = row else {
            self.notify("no alert selected", true);
            return None;
        };
        match &row.phase {
            AlertPhase::Acked { by } => {
                self.notify(format!("already acknowledged by {by}"), false);
                return None;
            }
            AlertPhase::Resolved => {
                self.notify("resolved: nothing to acknowledge", false);
                return None;
            }
            AlertPhase::New => {}
        }
        let Some(tracked) = self
            .alerts
            .get(&row.key)
            .filter(|t| t.state == AlertState::New)
        else {
            self.notify(format!("no new alert {}", row.key), true);
            return None;
        };
        let request = AckRequest {
            key: row.key.clone(),
            severity: tracked.severity,
            message: tracked.message.clone(),
            since: tracked.since,
            operator: self.operator.clone(),
            at: self.now,
        };
        // Recorded first: an ack the audit log did not take does not happen.
        if let Some(hook) = &mut self.ack_hook
            && let Err(e) = hook(&request)
        {
            self.notify(format!("ack not recorded, so not taken: {e}"), true);
            return None;
        }
        match self.alerts.ack(&row.key, &self.operator, self.now) {
            Ok(ev) => {
                self.invalidate();
                self.notify(format!("acknowledged {} as {}", ev.key, ev.operator), false);
                Some(Action::Ack)
            }
            Err(e) => {
                self.notify(e.to_string(), true);
                None
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Mouse

    /// Handles a mouse event: wheel scrolls, a click selects a tab or a row, a click on the
    /// selected row opens its host. Returns whether anything changed.
    pub fn on_mouse(&mut self, ev: MouseEvent) -> bool {
        if self.dialog.is_some() {
            return false;
        }
        match ev.kind {
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let d = if ev.kind == MouseEventKind::ScrollDown {
                    1
                } else {
                    -1
                };
                if let Input::Help { scroll } = &mut self.input {
                    *scroll = scroll.saturating_add_signed(d as i16);
                } else {
                    self.move_selection(d * 3);
                }
                true
            }
            MouseEventKind::Down(MouseButton::Left) => {
                if !matches!(self.input, Input::None) {
                    return false;
                }
                let (x, y) = (ev.column, ev.row);
                if let Some((_, pane)) = self
                    .tabs
                    .iter()
                    .find(|(r, _)| r.contains(ratatui::layout::Position { x, y }))
                {
                    let pane = *pane;
                    self.switch_pane(pane);
                    return true;
                }
                let Some(row) = self.row_at(x, y) else {
                    return false;
                };
                if row == self.selected_row() {
                    self.apply(Action::Open);
                } else {
                    let len = self.current_len();
                    if row < len {
                        self.sels.entry(self.pane).or_default().selected = row;
                        if self.pane == Pane::Fleet {
                            self.settle_fleet_selection(1);
                        }
                    }
                }
                true
            }
            _ => false,
        }
    }

    fn row_at(&self, x: u16, y: u16) -> Option<usize> {
        if self.pane == Pane::Disks {
            if let Some(r) = self.disk_sels[0].row_at(x, y) {
                return Some(r);
            }
            let disks = match self.model.as_ref().and_then(|m| m.pane.as_ref()) {
                Some((_, PaneRows::Disks(d, _))) => d.len(),
                _ => 0,
            };
            return self.disk_sels[1].row_at(x, y).map(|r| r + disks);
        }
        self.sels.get(&self.pane)?.row_at(x, y)
    }

    // -----------------------------------------------------------------------------------------
    // Drawing

    /// Draws the console as of `now`.
    pub fn render(&mut self, frame: &mut Frame, now: SystemTime) {
        self.on_tick(now);
        let area = frame.area();
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            self.tabs.clear();
            render_too_small(frame, area, &self.theme);
            return;
        }
        self.ensure_model();
        let [tabs, main, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(area);
        self.render_tabs(frame, tabs);
        self.render_pane(frame, main);
        self.render_status_line(frame, status);
        if let Input::Palette(p) = &self.input {
            render_palette_popup(frame, main, p, &self.theme);
        }
        if let Input::Help { scroll } = &mut self.input {
            let max = help::help_entries(&self.keymap, self.readonly).len() as u16;
            *scroll = (*scroll).min(max.saturating_sub(main.height.saturating_sub(4)));
            frame.render_widget(
                HelpOverlay {
                    keymap: &self.keymap,
                    readonly: self.readonly,
                    theme: &self.theme,
                    scroll: *scroll,
                },
                main,
            );
        }
        if let Some(dialog) = &mut self.dialog {
            render_dialog(frame, area, dialog, &self.theme);
        }
    }

    fn render_tabs(&mut self, frame: &mut Frame, area: Rect) {
        let t = &self.theme;
        let alerts = self.model.as_ref().map_or(0, |m| m.alerts);
        let mut parts: Vec<(String, Style, Option<Pane>)> = Vec::new();
        if let Some(h) = self.host {
            parts.push((
                format!(" {} ›", self.fleet.hosts[h].name),
                Style::new()
                    .fg(t.colour("title"))
                    .add_modifier(Modifier::BOLD),
                None,
            ));
        }
        for p in self.pane_cycle() {
            let label = if p == Pane::Alerts && alerts > 0 {
                format!(" {} {alerts} ", p.label())
            } else {
                format!(" {} ", p.label())
            };
            let style = if p == self.pane {
                Style::new()
                    .fg(t.colour("tab.active"))
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED)
            } else if p == Pane::Alerts && alerts > 0 {
                Style::new().fg(t.colour("status.warning"))
            } else {
                Style::new().fg(t.colour("text.dim"))
            };
            parts.push((" ".into(), Style::new(), None));
            parts.push((label, style, Some(p)));
        }
        self.tabs.clear();
        let mut x = area.x;
        let mut spans = Vec::new();
        for (text, style, pane) in parts {
            let w = text.chars().count() as u16;
            if let Some(p) = pane {
                self.tabs.push((Rect::new(x, area.y, w, 1), p));
            }
            x = x.saturating_add(w);
            spans.push(Span::styled(text, style));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn fleet_title(&self, model: &Model) -> String {
        let shown = model
            .lines
            .iter()
            .filter(|l| matches!(l, FleetLine::Host(_)))
            .count();
        let n = model.rows.len();
        let mut title = if shown == n || self.query.group_by != view::GroupBy::None {
            format!(" {} — {n} hosts", self.fleet.name)
        } else {
            format!(" {} — {shown} of {n} hosts", self.fleet.name)
        };
        if let Some(g) = &self.query.group {
            title.push_str(&format!(" · group {g}"));
        }
        if let Some(f) = &self.query.filter {
            title.push_str(&format!(" · /{}", f.text()));
        }
        if self.query.worst_first {
            title.push_str(" · worst first");
        }
        if self.query.sort != view::SortColumn::Inventory || self.query.reverse {
            title.push_str(&format!(
                " · sort {}{}",
                self.query.sort.name(),
                if self.query.reverse { " ↑" } else { "" }
            ));
        }
        if self.query.group_by != view::GroupBy::None {
            title.push_str(&format!(" · by {}", self.query.group_by.name()));
        }
        title.push(' ');
        title
    }

    fn pane_title(&self, name: &str, count: usize) -> String {
        let scope = match self.host {
            Some(h) => format!(" of {}", self.fleet.hosts[h].name),
            None => match &self.query.group {
                Some(g) => format!(" of group {g}"),
                None => String::new(),
            },
        };
        let filter = self
            .query
            .filter
            .as_ref()
            .map(|f| format!(" · /{}", f.text()))
            .unwrap_or_default();
        format!(" {name}{scope} — {count}{filter} ")
    }

    fn hints(&self, width: u16) -> String {
        let items = self.keymap.hint_items(&self.contexts());
        let mut out = String::new();
        for item in items {
            let candidate = if out.is_empty() {
                item
            } else {
                format!("{out}  {item}")
            };
            if candidate.chars().count() + 6 > width as usize / 2 + width as usize / 4 {
                break;
            }
            out = candidate;
        }
        out
    }

    fn render_pane(&mut self, frame: &mut Frame, area: Rect) {
        let hints = self.hints(area.width);
        let model = self.model.take().expect("ensured before drawing");
        use ratatui::widgets::StatefulWidget as _;
        match model.pane.as_ref().map(|(_, p)| p) {
            Some(PaneRows::Fleet) | None => {
                let title = self.fleet_title(&model);
                let sel = self.sels.entry(Pane::Fleet).or_default();
                FleetTable {
                    rows: &model.rows,
                    lines: &model.lines,
                    theme: &self.theme,
                    title,
                    hints,
                }
                .render(area, frame.buffer_mut(), sel);
            }
            Some(PaneRows::Host(h)) => {
                let title = format!(" {} ", self.fleet.hosts[h.host].name);
                let sel = self.sels.entry(Pane::Host).or_default();
                HostPane {
                    facts: &h.facts,
                    alerts: &h.alerts,
                    services: &h.services,
                    chain: h.chain.first(),
                    chain_summary: h.chain_summary.first(),
                    disks: &h.disks,
                    backups: &h.backups,
                    certs: &h.certs,
                    logs: &h.logs,
                    theme: &self.theme,
                    title,
                    hints,
                }
                .render(area, frame.buffer_mut(), sel);
            }
            Some(PaneRows::Services(rows)) => {
                let title = self.pane_title("services", rows.len());
                let sel = self.sels.entry(Pane::Services).or_default();
                ServicesPane {
                    rows,
                    theme: &self.theme,
                    title,
                    hints,
                }
                .render(area, frame.buffer_mut(), sel);
            }
            Some(PaneRows::Chain(chains, rows)) => {
                let title = self.pane_title("chain nodes", rows.len());
                let sel = self.sels.entry(Pane::Chain).or_default();
                ChainPane {
                    chains,
                    rows,
                    theme: &self.theme,
                    title,
                    hints,
                }
                .render(area, frame.buffer_mut(), sel);
            }
            Some(PaneRows::Disks(disks, backups)) => {
                let disks_title = self.pane_title("disks", disks.len());
                let backups_title = self.pane_title("backups", backups.len());
                let sel = *self.sels.entry(Pane::Disks).or_default();
                let total = disks.len() + backups.len();
                let selected = sel.selected.min(total.saturating_sub(1));
                let want = (disks.len() as u16 + 3).max(5);
                let [top, bottom] = Layout::vertical([
                    Constraint::Max(want.min(area.height / 2).max(4)),
                    Constraint::Min(4),
                ])
                .areas(area);
                let in_disks = selected < disks.len();
                if in_disks {
                    self.disk_sels[0].selected = selected;
                } else {
                    self.disk_sels[1].selected = selected - disks.len();
                }
                DisksPane {
                    rows: disks,
                    theme: &self.theme,
                    title: disks_title,
                    hints: String::new(),
                    focused: in_disks,
                }
                .render(top, frame.buffer_mut(), &mut self.disk_sels[0]);
                BackupsPane {
                    rows: backups,
                    theme: &self.theme,
                    title: backups_title,
                    hints,
                    focused: !in_disks,
                }
                .render(bottom, frame.buffer_mut(), &mut self.disk_sels[1]);
                let sel = self.sels.entry(Pane::Disks).or_default();
                sel.selected = selected;
                sel.body = Rect::default();
            }
            Some(PaneRows::Certs(rows)) => {
                let title = self.pane_title("certificates", rows.len());
                let sel = self.sels.entry(Pane::Certs).or_default();
                CertsPane {
                    rows,
                    theme: &self.theme,
                    title,
                    hints,
                }
                .render(area, frame.buffer_mut(), sel);
            }
            Some(PaneRows::Logs(rows)) => {
                let title = self.pane_title("logs", rows.len());
                let sel = self.sels.entry(Pane::Logs).or_default();
                LogsPane {
                    rows,
                    theme: &self.theme,
                    title,
                    hints,
                }
                .render(area, frame.buffer_mut(), sel);
            }
            Some(PaneRows::Alerts(rows)) => {
                let title = self.pane_title("alerts", rows.len());
                let sel = self.sels.entry(Pane::Alerts).or_default();
                AlertsPane {
                    rows,
                    theme: &self.theme,
                    title,
                    hints,
                }
                .render(area, frame.buffer_mut(), sel);
            }
            Some(PaneRows::Audit(rows)) => {
                let snapshot = self.audit.as_ref().and_then(|a| a.snapshot.as_ref());
                let (title, intact, empty) = match snapshot {
                    Some(Ok(snap)) => (
                        snap.title(rows.len()),
                        snap.chain.is_ok(),
                        "no records (yet)",
                    ),
                    Some(Err(e)) => (
                        format!(" audit — cannot read the log: {e} "),
                        false,
                        "the audit log cannot be read",
                    ),
                    None => (" audit ".to_string(), true, "reading the audit log…"),
                };
                let sel = self.sels.entry(Pane::Audit).or_default();
                audit_pane::AuditPane {
                    rows,
                    intact,
                    theme: &self.theme,
                    title,
                    hints,
                    empty,
                }
                .render(area, frame.buffer_mut(), sel);
            }
            Some(PaneRows::Runbook(_)) => {
                let sel = self.sels.entry(Pane::Runbook).or_default();
                let catalog = self.runbooks.as_deref().unwrap_or_default();
                self.runbook.render(
                    frame,
                    area,
                    sel,
                    runbook_pane::PaneDraw {
                        theme: &self.theme,
                        hints,
                        catalog,
                        now: self.now,
                    },
                );
            }
        }
        self.model = Some(model);
    }

    fn render_status_line(&self, frame: &mut Frame, area: Rect) {
        let t = &self.theme;
        let clock = report::rfc3339(self.now);
        let [left_area, right_area] =
            Layout::horizontal([Constraint::Min(0), Constraint::Length(21)]).areas(area);
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(
                clock,
                Style::new().fg(t.colour("text.dim")),
            ))),
            right_area,
        );
        let line = match &self.input {
            Input::Filter { text, error, .. } => {
                let mut spans = vec![
                    Span::styled(
                        "/",
                        Style::new()
                            .fg(t.colour("key"))
                            .add_modifier(Modifier::BOLD),
                    ),
                    Span::styled(text.clone(), Style::new().fg(t.colour("text"))),
                    Span::styled("▏", Style::new().fg(t.colour("key"))),
                ];
                match error {
                    Some(e) => spans.push(Span::styled(
                        format!("  {e}"),
                        Style::new().fg(t.colour("status.critical")),
                    )),
                    None => spans.push(Span::styled(
                        "  Enter keep  Esc cancel  !pattern inverts",
                        Style::new().fg(t.colour("text.dim")),
                    )),
                }
                Line::from(spans)
            }
            Input::Palette(p) => {
                let mut spans = vec![
                    Span::styled(
                        ":",
                        Style::new()
                            .fg(t.colour("key"))
                            .add_modifier(Modifier::BOLD),
                    ),
                    Span::styled(p.line.clone(), Style::new().fg(t.colour("text"))),
                    Span::styled("▏", Style::new().fg(t.colour("key"))),
                ];
                if let Some(e) = &p.error {
                    spans.push(Span::styled(
                        format!("  {e}"),
                        Style::new().fg(t.colour("status.critical")),
                    ));
                }
                Line::from(spans)
            }
            _ => self.summary_line(),
        };
        frame.render_widget(Paragraph::new(line), left_area);
    }

    fn summary_line(&self) -> Line<'static> {
        let t = &self.theme;
        let s = self.model.as_ref().map(|m| m.summary).unwrap_or_default();
        let mut spans = vec![];
        // A notice answers what the operator just did: it goes first, where it is read.
        if let Some(n) = &self.notice {
            spans.push(Span::styled(
                n.text.clone(),
                Style::new()
                    .fg(t.colour(if n.error { "status.critical" } else { "title" }))
                    .add_modifier(Modifier::BOLD),
            ));
            spans.push(Span::raw("  "));
        }
        if self.readonly {
            spans.push(Span::styled(
                "READ-ONLY",
                Style::new()
                    .fg(t.colour("status.warning"))
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            ));
            spans.push(Span::raw("  "));
        }
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
            format!("{}/{} reachable", s.reachable, s.hosts),
            Style::new().fg(t.colour("text")),
        ));
        if s.stale > 0 {
            spans.push(Span::raw("  "));
            spans.push(Span::styled(
                format!("{} stale", s.stale),
                Style::new()
                    .fg(t.colour("stale"))
                    .add_modifier(Modifier::ITALIC | Modifier::BOLD),
            ));
        }
        Line::from(spans)
    }
}

fn render_too_small(frame: &mut Frame, area: Rect, theme: &Theme) {
    let text = vec![
        Line::from(Span::styled(
            "Terminal too small",
            Style::new()
                .fg(theme.colour("status.warning"))
                .add_modifier(Modifier::BOLD),
        )),
        Line::from(format!("{}×{}", area.width, area.height)),
        Line::from(format!("need at least {MIN_WIDTH}×{MIN_HEIGHT}")),
        Line::from(Span::styled(
            "q quits",
            Style::new().fg(theme.colour("text.dim")),
        )),
    ];
    let y = area.y + area.height.saturating_sub(4) / 2;
    let rect = Rect::new(area.x, y, area.width, 4.min(area.height));
    frame.render_widget(
        Paragraph::new(text)
            .alignment(ratatui::layout::Alignment::Center)
            .wrap(Wrap { trim: true }),
        rect,
    );
}

fn render_palette_popup(frame: &mut Frame, main: Rect, p: &Palette, theme: &Theme) {
    if p.candidates.is_empty() {
        return;
    }
    let height = (p.candidates.len() as u16 + 2)
        .min(10)
        .min(main.height.saturating_sub(2));
    let width = p
        .candidates
        .iter()
        .map(|c| c.chars().count() as u16 + 6)
        .max()
        .unwrap_or(20)
        .clamp(24, main.width);
    // Just above the pane's bottom border, next to the `:` line it completes.
    let rect = Rect::new(
        main.x + 1,
        main.y + main.height.saturating_sub(height + 1),
        width.min(main.width.saturating_sub(1)),
        height,
    );
    frame.render_widget(Clear, rect);
    let items: Vec<ListItem> = p
        .candidates
        .iter()
        .map(|c| ListItem::new(format!(":{c}")))
        .collect();
    let list = List::new(items)
        .block(
            Block::new()
                .borders(Borders::ALL)
                .border_style(Style::new().fg(theme.colour("border.focused")))
                .title(Span::styled(
                    " Tab completes ",
                    Style::new().fg(theme.colour("text.dim")),
                )),
        )
        .style(Style::new().fg(theme.colour("text")))
        .highlight_style(
            Style::new()
                .bg(theme.colour("selected.bg"))
                .add_modifier(Modifier::BOLD),
        );
    let mut state = ListState::default();
    state.select(Some(p.selected));
    frame.render_stateful_widget(list, rect, &mut state);
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
    /// Who acknowledges alerts (default `$USER`).
    pub operator: Option<String>,
    /// Records acks before they take effect (the audit log).
    pub ack_hook: Option<AckHook>,
    /// Runs runbooks in the runbook pane (`None`: no runbook pane).
    pub runbooks: Option<RunbookLauncher>,
    /// The audit log the Audit pane shows (`None`: no Audit pane).
    pub audit_log: Option<std::path::PathBuf>,
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
        }
    }
}

/// Runs the console until the operator quits or a SIGTERM/SIGHUP arrives. The terminal is
/// restored on every way out, including a panic (ratatui's hook, plus mouse capture off).
pub async fn run(
    fleet: Arc<Fleet>,
    transports: Vec<Transport>,
    passphrases: mpsc::UnboundedReceiver<PassphraseRequest>,
    options: ConsoleOptions,
) -> std::io::Result<()> {
    use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
    let mut terminal = ratatui::init();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
        previous(info);
    }));
    let _ = crossterm::execute!(std::io::stdout(), EnableMouseCapture);
    let result = event_loop(
        &mut terminal,
        fleet,
        transports.clone(),
        passphrases,
        options,
    )
    .await;
    let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
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
    if let Some(op) = options.operator {
        app.set_operator(op);
    }
    if let Some(hook) = options.ack_hook {
        app.set_ack_hook(hook);
    }
    let launcher = options.runbooks;
    if let Some(l) = &launcher {
        app.enable_runbook_pane(l.catalog());
    }
    if let Some(path) = options.audit_log {
        app.enable_audit_pane(path);
    }
    let (audit_tx, mut audit_reads) = mpsc::unbounded_channel();
    let (runbook_tx, mut runbook_msgs) = mpsc::unbounded_channel();
    let mut running: Option<runbook_pane::RunHandle> = None;
    let poller = Poller::spawn(fleet, transports, options.selected, tx);
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
    #[cfg(debug_assertions)]
    let mut panic_test = PanicAfterFrames::from_env();
    loop {
        if let Some(path) = app.audit_read_wanted() {
            let tx = audit_tx.clone();
            tokio::task::spawn_blocking(move || {
                let _ = tx.send(audit_pane::AuditSnapshot::load(&path));
            });
        }
        if dirty || (fresh_data && last_draw.elapsed() >= DATA_FRAME) {
            terminal.draw(|f| app.render(f, SystemTime::now()))?;
            dirty = false;
            fresh_data = false;
            last_draw = tokio::time::Instant::now();
            #[cfg(debug_assertions)]
            panic_test.frame_drawn();
        }
        tokio::select! {
            Some(obs) = observations.recv() => {
                app.on_observation(obs);
                // Fold in everything already queued; the frame comes within DATA_FRAME.
                while let Ok(more) = observations.try_recv() {
                    app.on_observation(more);
                }
                fresh_data = true;
            }
            () = tokio::time::sleep_until(last_draw + DATA_FRAME), if fresh_data => {}
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) => {
                    app.on_tick(SystemTime::now());
                    match app.on_key(key) {
                        Some(Action::Quit) => break,
                        Some(Action::RefreshNow) => poller.refresh_now(),
                        Some(Action::StartRunbook) => {
                            if let (Some(l), Some(start)) = (&launcher, app.take_runbook_start()) {
                                app.runbook_starting(&match &start {
                                    RunStart::New { runbook, .. } => format!("runbook {runbook}"),
                                    RunStart::Resume(id) => format!("resuming run {id}"),
                                });
                                running = Some(l.spawn(start, runbook_tx.clone()));
                            }
                        }
                        Some(Action::StopRun) => {
                            if let Some(run) = &mut running {
                                run.interrupt();
                            }
                        }
                        _ => {}
                    }
                    dirty = true;
                }
                Some(Ok(Event::Mouse(m))) => {
                    app.on_tick(SystemTime::now());
                    // Mouse motion arrives constantly: redraw only when something changed.
                    dirty |= app.on_mouse(m);
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    settle(running.take()).await;
                    return Err(e);
                }
                None => break,
            },
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
            Some(request) = passphrases.recv() => {
                app.ask_passphrase(request);
                dirty = true;
            }
            _ = tick.tick() => dirty = true,
            _ = sigterm.recv() => break,
            _ = sighup.recv() => break,
        }
    }
    settle(running.take()).await;
    Ok(())
}

/// The shortest time between two frames drawn for new poll data (keys draw at once).
const DATA_FRAME: Duration = Duration::from_millis(250);

/// Leaving the console with a run in progress suspends it: saved and audited (bounded, so a
/// dead host cannot hold the terminal), and `fleetdeck run --resume ID` or `:resume ID` goes on.
async fn settle(run: Option<runbook_pane::RunHandle>) {
    if let Some(run) = run {
        run.settle(Duration::from_secs(10)).await;
    }
}

//! The full-screen console: renders the state store pane by pane and turns keys, mouse and
//! palette commands into actions.
//!
//! The only module (with its children) that uses ratatui and crossterm. [`App`] holds what the
//! screen needs — the core [`Store`] it routes observations, ticks and acks to (the fleet
//! state, verdicts and alert book live there, not here), the pane and host being looked at,
//! selections, the filter,
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
//!
//! Where things are: this file holds [`App`]'s state, the block that sends observations, ticks
//! and acks to the store and caches what it derives (the [`Model`]) and selection and
//! navigation; `input.rs` keys, actions, palette commands and the mouse; `chrome.rs` everything
//! drawn around the pane; `panes.rs` the pane registry (each `*_pane.rs` registers its
//! [`panes::PaneSpec`]); `event_loop.rs` the terminal and the tasks around the console.

pub mod alert_poll;
// The panes: each one registers itself in `panes::PANES`.
pub mod alerts_pane;
pub mod audit_pane;
pub mod certs_pane;
pub mod chain_pane;
pub mod disks_pane;
pub mod exec_pane;
pub mod fleet_table;
pub mod host_pane;
pub mod logs_pane;
pub mod posture_pane;
pub mod runbook_pane;
pub mod services_pane;
mod shell;

mod chrome;
pub mod clipboard;
pub mod colour_depth;
mod event_loop;
pub mod help;
mod input;
pub mod keymap;
pub mod palette;
pub mod panes;
pub mod prompt;
mod reload;
pub mod run_form;
pub mod table;
#[cfg(test)]
mod tests;
pub mod theme;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ratatui::layout::Rect;
use ratatui_textarea::TextArea;

use crate::alerts::AlertState;
use crate::health::Status;
use crate::inventory::{Fleet, UiSort};
use crate::observation::Observation;
use crate::store::{Effect, Msg, Store};
use crate::units::epoch_secs;
use crate::view::{
    self, AlertPhase, AlertRow, Ctx, Filter, FleetLine, FleetQuery, FleetRow, Summary,
};
pub use event_loop::{ConsoleOptions, run};
pub use keymap::Action;
use keymap::{Context, Keymap};
use palette::Palette;
pub use panes::Pane;
use panes::{BuildCx, PaneContent, Rows};
use prompt::PassphraseRequest;
use runbook_pane::{RunStart, RunbookMsg, RunbookPane};
use table::Selection;
use theme::Theme;

/// Below this size the console shows a notice instead of panes.
pub const MIN_WIDTH: u16 = 60;
/// Below this size the console shows a notice instead of panes.
pub const MIN_HEIGHT: u16 = 15;

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

/// A pane and the host it is scoped to.
type Scope = (Pane, Option<usize>);

/// Everything computed from the state for one (state version, second, query): cached so keys
/// that only move the selection cost a redraw, not a recomputation. Panes read it when they
/// build and draw their rows.
pub struct Model {
    key: (u64, i64, u64),
    /// `FleetState::version` the rows were built from.
    state_version: u64,
    rows: Vec<FleetRow>,
    lines: Vec<FleetLine>,
    fleet_widths: fleet_table::ColumnWidths,
    summary: Summary,
    alerts: usize,
    /// The rows of the pane on screen, for the scope (pane, host) they were built for.
    pane: Option<(Scope, Box<dyn PaneContent>)>,
}

impl Model {
    /// The rows of the pane on screen, if they are a `T`.
    pub fn content<T: PaneContent>(&self) -> Option<&T> {
        let (_, content) = self.pane.as_ref()?;
        content.as_any().downcast_ref()
    }
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
    // Domain state lives in the store; only the block of `impl App` under "The fleet state"
    // sends it messages.
    fleet: Arc<Fleet>,
    /// The core store: fleet state, verdicts and alerts, changed only through its messages.
    store: Store,
    // View state.
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
    /// Runbooks that can be run here (name, title); `None`: no runbook pane.
    runbooks: Option<Vec<(String, String)>>,
    /// The runbooks of that list that lint: what they answer, what inputs they take.
    runbook_defs: Vec<crate::runbook::Runbook>,
    runbook: RunbookPane,
    runbook_start: Option<RunStart>,
    /// A run waiting for its inputs in the Runbook pane (nothing has started).
    run_form: Option<run_form::RunForm>,
    /// The host a palette opened with `x` (or on a host) offers as the run's target.
    palette_focus: Option<String>,
    /// Runs matched to that host's problems, as palette lines, best first.
    palette_offers: Vec<String>,
    /// The audit log the Audit pane reads (`None`: no Audit pane).
    audit: Option<AuditSource>,
    tabs: Vec<(Rect, Pane)>,
    model: Option<Model>,
    /// What the pane's previous build handed over for the next one (between taking the old
    /// model apart and building the new pane's rows), with the state version it was built from.
    reusable_pane: Option<(u64, Box<dyn std::any::Any>)>,
    /// Each host's status at the last model build (by inventory index; `None`: not shown
    /// yet), to see which ones just turned bad. A vector, not a map: every host is looked up
    /// on every build.
    last_status: Vec<Option<Status>>,
    /// Hosts that turned bad (ok → warning or critical), and when the console saw it: marked in
    /// the fleet table until selected or [`TURNED_BAD_MARK`] has passed.
    turned_bad: HashMap<usize, SystemTime>,
    /// A host turned bad and `[ui] bell` is on: the event loop rings the terminal bell once.
    bell: bool,
    /// The operator moved the fleet selection: from then on it follows its host when rows
    /// move. Until then it stays on the first row, which problems-first makes the worst host.
    fleet_sel_moved: bool,
    /// Hosts marked with Space (inventory indices): what `:exec` runs on first. Indices, not
    /// rows, so marks survive sorting, grouping and filtering.
    marks: BTreeSet<usize>,
    /// Ad-hoc commands: the open confirmation, the command in flight, the history.
    exec: exec_pane::ExecPane,
    /// Who runs ad-hoc commands here (`None`: this console runs none).
    exec_session: Option<crate::runbook::Session>,
    /// A refusal to record or a command to start, for the event loop.
    exec_request: Option<exec_pane::ExecRequest>,
    /// What the logs pane follows (`f`) and how it shows the followed lines.
    logs: logs_pane::LogsState,
    /// Alertmanager's alerts and silences, and a silence being confirmed (`None`: no
    /// `[alertmanager]`).
    am: Option<alert_poll::AmConsole>,
    /// What `y` copied, for the event loop to write to the terminal (OSC 52).
    yank_text: Option<String>,
}

/// How long a host that just turned bad stays marked in the fleet table (unless selected).
pub const TURNED_BAD_MARK: Duration = Duration::from_secs(60);

impl App {
    /// A console over `selected` hosts of `fleet`.
    pub fn new(fleet: Arc<Fleet>, selected: Vec<usize>, theme: Theme, readonly: bool) -> App {
        let store = Store::new(fleet.clone());
        let (sort, problems_first) = match fleet.ui.sort {
            UiSort::Problems => (view::SortColumn::Inventory, true),
            UiSort::Inventory => (view::SortColumn::Inventory, false),
            UiSort::Name => (view::SortColumn::Name, false),
        };
        App {
            fleet,
            store,
            selected,
            theme,
            readonly,
            keymap: Keymap::new(readonly),
            pane: Pane::Fleet,
            host: None,
            back: Vec::new(),
            sels: HashMap::new(),
            disk_sels: [Selection::default(); 2],
            query: FleetQuery {
                sort,
                problems_first,
                ..FleetQuery::default()
            },
            rev: 0,
            input: Input::None,
            dialog: None,
            notice: None,
            now: SystemTime::UNIX_EPOCH,
            operator: std::env::var("USER").unwrap_or_else(|_| "operator".into()),
            ack_hook: None,
            runbooks: None,
            runbook_defs: Vec::new(),
            runbook: RunbookPane::default(),
            runbook_start: None,
            run_form: None,
            palette_focus: None,
            palette_offers: Vec::new(),
            audit: None,
            tabs: Vec::new(),
            model: None,
            reusable_pane: None,
            last_status: Vec::new(),
            turned_bad: HashMap::new(),
            bell: false,
            fleet_sel_moved: false,
            marks: BTreeSet::new(),
            exec: exec_pane::ExecPane::default(),
            exec_session: None,
            exec_request: None,
            logs: logs_pane::LogsState::default(),
            am: None,
            yank_text: None,
        }
    }

    /// Whether the terminal bell should ring now (a host turned bad and `[ui] bell` is on);
    /// asking clears it.
    pub fn take_bell(&mut self) -> bool {
        std::mem::take(&mut self.bell)
    }

    /// Hosts marked as having just turned bad (inventory indices).
    pub fn turned_bad(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.turned_bad.keys().copied().collect();
        v.sort_unstable();
        v
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

    /// The runbooks (that lint) behind the runbook pane's list: matched to a host's problems
    /// when `x` offers runs, and their inputs checked before a run starts.
    pub fn set_runbook_definitions(&mut self, defs: Vec<crate::runbook::Runbook>) {
        self.runbook_defs = defs;
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
        c.extend(self.pane.spec().context);
        c
    }

    /// The panes Tab cycles through: fleet-wide, or for one host.
    pub fn pane_cycle(&self) -> Vec<Pane> {
        panes::PANES
            .iter()
            .filter(|s| (s.shown)(self))
            .map(|s| s.pane)
            .collect()
    }

    // -----------------------------------------------------------------------------------------
    // The fleet state: observations, the clock, acks, and what is derived from them

    /// The core store the console shows.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Folds an observation into the store (which judges it).
    pub fn on_observation(&mut self, obs: Observation) {
        self.store.update(Msg::Observed(obs));
    }

    /// Folds several observations into the store, judged once (a drained queue).
    pub fn on_observations(&mut self, all: Vec<Observation>) {
        self.store.update(Msg::ObservedAll(all));
    }

    /// Folds a round of Prometheus readings into the store (`crate::prom_source`).
    pub fn on_prom(&mut self, round: crate::prom_source::PromObservations) {
        self.store.update(Msg::Prom(round));
    }

    /// Tells the console and its store what time it is (notices expire, acks are timestamped,
    /// data ages, alerts follow).
    pub fn on_tick(&mut self, now: SystemTime) {
        self.store.update(Msg::Tick { now });
        self.show_at(now);
    }

    /// Moves what the screen shows to `now` (data ages, countdowns, notices) without telling
    /// the store: a frame is not a tick.
    fn show_at(&mut self, now: SystemTime) {
        self.now = now;
        if self.notice.as_ref().is_some_and(|n| n.until <= now) {
            self.notice = None;
        }
    }

    /// Acknowledges the alert selected in the Alerts pane: recorded through the ack hook
    /// first, then taken by the alert book.
    fn ack_selected(&mut self) -> Option<Action> {
        if self.readonly || !self.keymap.has(Action::Ack) {
            self.notify("read-only console: acknowledging alerts is disabled", true);
            return None;
        }
        self.ensure_model();
        let i = self.selected_row();
        let row = self
            .model
            .as_ref()
            .and_then(|m| m.content::<Rows<AlertRow>>())
            .and_then(|a| a.rows.get(i).cloned());
        let Some(row) = row else {
            self.notify("no alert selected", true);
            return None;
        };
        if row.source != view::AlertOrigin::Fleetdeck {
            // Alertmanager's alerts are not in the book: acking one asks for a silence.
            return self.ask_silence(&row);
        }
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
            AlertPhase::Firing | AlertPhase::Silenced { .. } | AlertPhase::Inhibited => {
                return None;
            }
        }
        let Some(tracked) = self
            .store
            .alerts()
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
        let effects = self.store.update(Msg::Ack {
            key: row.key.clone(),
            operator: self.operator.clone(),
            at: self.now,
        });
        for effect in effects {
            match effect {
                Effect::Acked(ev) => {
                    self.notify(format!("acknowledged {} as {}", ev.key, ev.operator), false);
                    return Some(Action::Ack);
                }
                Effect::AckRefused(e) => {
                    self.notify(e.to_string(), true);
                    return None;
                }
                _ => {}
            }
        }
        None
    }

    fn ensure_model(&mut self) {
        let key = (self.store.version(), epoch_secs(self.now), self.rev);
        if self.model.as_ref().is_none_or(|m| m.key != key) {
            // The store judged the state when it changed (observations, ticks): the model only
            // reads its verdicts and alerts.
            let ctx = Ctx {
                fleet: &self.fleet,
                state: self.store.state(),
                health: self.store.health(),
                now: self.now,
            };
            // The selection follows its host when the rows move (a host turning bad jumps up):
            // the host selected in the model being replaced.
            let followed = self.selected_fleet_host().filter(|_| self.fleet_sel_moved);
            // Rows of hosts whose state did not change are reused (only their ages move): the
            // store judges every second, so at 10,000 hosts most builds have no new poll
            // behind them, and a poll changes one host.
            let state_version = self.store.state().version;
            let (previous, built_at, previous_pane) = match self.model.take() {
                Some(m) => (m.rows, Some(m.state_version), m.pane),
                None => (Vec::new(), None, None),
            };
            // What the pane on screen can reuse of its previous build (same pane and host).
            self.reusable_pane = previous_pane
                .filter(|(scope, _)| *scope == (self.pane, self.host))
                .zip(built_at)
                .and_then(|((_, mut content), v)| Some((v, content.take_reusable()?)));
            let mut rows = view::refresh_fleet_rows_since(&ctx, &self.selected, previous, built_at);
            view::note_problems(&mut rows, self.store.alerts());
            self.note_turned_bad(&rows);
            let lines = view::arrange(&rows, &self.query);
            if let Some(h) = followed
                && let Some(at) = lines
                    .iter()
                    .position(|l| matches!(l, FleetLine::Host(k) if rows[*k].host == h))
            {
                self.sels.entry(Pane::Fleet).or_default().selected = at;
            }
            let summary = view::summary(&rows);
            let alerts = self.store.alerts().counts();
            // Alertmanager's firing ones count too (not the silenced or inhibited).
            let alerts = alerts.new + alerts.acked + self.am_firing();
            let fleet_widths = fleet_table::ColumnWidths::of(&rows, &lines);
            self.model = Some(Model {
                key,
                state_version,
                rows,
                lines,
                fleet_widths,
                summary,
                alerts,
                pane: None,
            });
        }
        let scope = (self.pane, self.host);
        let model = self.model.as_ref().expect("just built");
        if model.pane.as_ref().is_none_or(|(s, _)| *s != scope) {
            let previous = self.reusable_pane.take();
            let rows = self.build_pane_rows(model, previous);
            self.model.as_mut().expect("just built").pane = Some((scope, rows));
        }
        if self.pane == Pane::Fleet {
            self.settle_fleet_selection(1);
            // Selecting a marked host is seeing it: the mark has done its job.
            if let Some(h) = self.selected_fleet_host() {
                self.turned_bad.remove(&h);
            }
        }
    }

    /// The host on the selected line of the fleet table in the current model.
    fn selected_fleet_host(&self) -> Option<usize> {
        let m = self.model.as_ref()?;
        let i = self.sels.get(&Pane::Fleet).map_or(0, |s| s.selected);
        match m.lines.get(i)? {
            FleetLine::Host(k) => m.rows.get(*k).map(|r| r.host),
            FleetLine::Group { .. } => None,
        }
    }

    /// Marks hosts that went from ok to warning or critical since the last build (a host first
    /// seen bad is not "turned": the console was not watching it turn), drops old marks, and
    /// asks for the bell when `[ui] bell` is on.
    fn note_turned_bad(&mut self, rows: &[FleetRow]) {
        for r in rows {
            if self.last_status.len() <= r.host {
                self.last_status.resize(r.host + 1, None);
            }
            let before = self.last_status[r.host].replace(r.status);
            if before == Some(Status::Ok) && r.status > Status::Unknown {
                self.turned_bad.insert(r.host, self.now);
                self.bell |= self.fleet.ui.bell;
            } else if r.status == Status::Ok {
                self.turned_bad.remove(&r.host);
            }
        }
        let now = self.now;
        self.turned_bad
            .retain(|_, at| now.duration_since(*at).unwrap_or_default() < TURNED_BAD_MARK);
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

    fn build_pane_rows(
        &self,
        model: &Model,
        previous: Option<(u64, Box<dyn std::any::Any>)>,
    ) -> Box<dyn PaneContent> {
        let cx = BuildCx {
            app: self,
            model,
            ctx: Ctx {
                fleet: &self.fleet,
                state: self.store.state(),
                health: self.store.health(),
                now: self.now,
            },
            alerts: self.store.alerts(),
            hosts: self.pane_hosts(model),
            filter: self.query.filter.as_ref(),
            previous: std::cell::RefCell::new(previous),
        };
        (self.pane.spec().build)(&cx)
    }

    // -----------------------------------------------------------------------------------------
    // Selection

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
            self.fleet_sel_moved = true;
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
            self.fleet_sel_moved = true;
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
}

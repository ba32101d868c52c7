//! What the operator does to the console: keys (through the input line, the passphrase dialog,
//! the pane on screen, then the key map), the actions they name, palette commands and the mouse.
//! Each turns into a change of the console's view state, or into an [`Action`] the event loop
//! carries out (quit, refresh, start or stop a run).
//!
//! Must not draw and must not change the fleet state: an ack goes through
//! [`App::ack_selected`](super::App) beside the state it changes. Called by the event loop and
//! the render tests.

use std::collections::BTreeSet;

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use super::keymap::Lookup;
use super::palette::{self, Candidates, Command, Palette, PaletteOutcome};
use super::panes::Rows;
use super::run_form::{FormOutcome, RunForm};
use super::runbook_pane::RunStart;
use super::theme::{self, Theme};
use super::{Action, App, Input, Pane};
use crate::runbook::{AlertFacts, HostFacts, Offer};
use crate::view::{AlertRow, Filter};

impl App {
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
        if self.silence_confirm_open() {
            return self.silence_confirm_key(key);
        }
        match std::mem::replace(&mut self.input, Input::None) {
            Input::None => {}
            Input::Palette(mut p) => {
                let c = self.candidates();
                match p.on_key(key, &c, self.readonly) {
                    PaletteOutcome::Editing => self.input = Input::Palette(p),
                    PaletteOutcome::Cancelled => {}
                    PaletteOutcome::Submit(line) => {
                        match palette::parse(&line, &c, self.readonly)
                            .and_then(|cmd| self.check_command(cmd))
                        {
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
        // A run waiting for its inputs owns the keys of its pane (Tab still leaves it).
        if self.pane == Pane::Runbook
            && let Some(form) = &mut self.run_form
            && !matches!(key.code, KeyCode::Tab | KeyCode::BackTab)
        {
            let fleet = crate::runbook::HostInfo::from_fleet(&self.fleet);
            match form.on_key(key, &fleet) {
                FormOutcome::Editing => {}
                FormOutcome::Cancelled => {
                    let name = form.runbook().to_string();
                    self.run_form = None;
                    self.notify(format!("{name} cancelled: nothing ran"), false);
                }
                FormOutcome::Start(start) => {
                    self.run_form = None;
                    return self.request_run_as(start, false);
                }
            }
            self.invalidate();
            return None;
        }
        // The pane on screen may take the key first (a runbook's open question).
        if let Some(keys) = self.pane.spec().keys
            && keys(self, key)
        {
            // An answered exec confirmation leaves work for the event loop.
            return self.exec_request.is_some().then_some(Action::StartExec);
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
            Action::Quit | Action::RefreshNow | Action::Reload => {}
            Action::Yank => return self.yank(),
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
            // Enter on an alert offers what fixes it (when this console runs runbooks).
            Action::Open if self.pane == Pane::Alerts && self.runbooks.is_some() => {
                let alert = self.selected_alert();
                let host = alert.as_ref().and_then(|a| a.host);
                return self.open_run_palette(host, alert);
            }
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
                self.palette_offers.clear();
                self.input = Input::Palette(Palette::open(&self.candidates(), self.readonly));
            }
            Action::RunOnHost => {
                let host = self.host.or_else(|| self.selected_host());
                return self.open_run_palette(host, None);
            }
            Action::StartRunbook => {}
            Action::StopRun => {
                if !self.runbook.active() {
                    self.notify("no runbook is running", true);
                    return None;
                }
            }
            Action::Shell => {
                if self.shell_target().is_none() {
                    self.notify("select a host first", true);
                    return None;
                }
            }
            Action::Mark => {
                if self.pane == Pane::Fleet {
                    self.toggle_mark();
                }
            }
            Action::ClearMarks => self.clear_marks(),
            Action::ExecPrompt => self.open_exec_prompt(),
            Action::StartExec | Action::CancelExec | Action::ShowOutput => {}
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
            Action::FollowLogs
            | Action::StopFollowing
            | Action::SearchLogs
            | Action::NextMatch
            | Action::PreviousMatch
            | Action::CycleLogLevel
            | Action::CycleLogWindow
            | Action::ToggleLogLayout => self.logs_action(action),
        }
        Some(action)
    }

    /// Opens the palette on `run ` for `host`, the runbooks matching its problems first with
    /// their inputs filled: ranked by `alert` when one was picked in the Alerts pane, else by
    /// the host's worst alert. Without runbooks or a host, says why.
    fn open_run_palette(&mut self, host: Option<usize>, alert: Option<AlertRow>) -> Option<Action> {
        if self.runbooks.is_none() {
            self.notify("this console runs no runbooks", true);
            return None;
        }
        let Some(host) = host else {
            self.notify("select a host first", true);
            return None;
        };
        let h = &self.fleet.hosts[host];
        let facts = match &alert {
            Some(a) => vec![AlertFacts {
                rule: a.rule.clone(),
                subject: a.subject.clone(),
                severity: a.severity,
                message: a.message.clone(),
                value: self
                    .store
                    .alerts()
                    .get(&a.key)
                    .and_then(|t| t.value.clone()),
            }],
            None => self
                .store
                .health()
                .get(host)
                .map(|hh| hh.alerts.iter().map(AlertFacts::from).collect())
                .unwrap_or_default(),
        };
        self.palette_offers =
            crate::runbook::offers(&self.runbook_defs, &HostFacts::from_host(h), &facts)
                .into_iter()
                .filter(|o| o.answers.is_some())
                .map(|o| offer_line(&o))
                .collect();
        self.palette_focus = Some(h.name.clone());
        self.input = Input::Palette(Palette::with_line(
            "run ",
            &self.candidates(),
            self.readonly,
        ));
        Some(Action::RunOnHost)
    }

    /// The alert selected in the Alerts pane.
    fn selected_alert(&mut self) -> Option<AlertRow> {
        self.ensure_model();
        let i = self.selected_row();
        self.model
            .as_ref()
            .and_then(|m| m.content::<Rows<AlertRow>>())
            .and_then(|a| a.rows.get(i).cloned())
    }

    /// The host a run started now would be offered for: the one looked at, or the selected row's.
    fn focus_host_name(&mut self) -> Option<String> {
        let host = self.host.or_else(|| self.selected_host())?;
        Some(self.fleet.hosts[host].name.clone())
    }

    pub(super) fn candidates(&self) -> Candidates {
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
            offers: self.palette_offers.clone(),
            history: self.exec.history().to_vec(),
        }
    }

    fn request_run(&mut self, start: RunStart) -> Option<Action> {
        self.request_run_as(start, true)
    }

    /// Asks for a run; a new run whose runbook takes inputs shows them first when `show_inputs`
    /// (the form itself sends its confirmed values with `false`).
    fn request_run_as(&mut self, start: RunStart, show_inputs: bool) -> Option<Action> {
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
        // A new run with inputs shows them first.
        if let RunStart::New {
            runbook,
            hosts,
            inputs,
        } = &start
            && show_inputs
            && let Some(rb) = self.runbook_defs.iter().find(|r| &r.name == runbook)
            && !rb.inputs.is_empty()
        {
            self.run_form = Some(RunForm::new(rb.clone(), hosts.clone(), inputs));
            self.pane = Pane::Runbook;
            self.invalidate();
            return None;
        }
        self.runbook_start = Some(start);
        Some(Action::StartRunbook)
    }

    /// Checks a command against what only the console knows: a run's inputs against its
    /// runbook, with the same check as `fleetdeck run --var` (an error keeps the palette open
    /// with it).
    fn check_command(&self, cmd: Command) -> Result<Command, String> {
        if let Command::Run {
            runbook, inputs, ..
        } = &cmd
            && let Some(rb) = self.runbook_defs.iter().find(|r| &r.name == runbook)
        {
            let fleet = crate::runbook::HostInfo::from_fleet(&self.fleet);
            crate::runbook::validate_inputs(rb, inputs, &fleet)?;
        }
        Ok(cmd)
    }

    /// Runs a palette command.
    pub fn run_command(&mut self, cmd: Command) -> Option<Action> {
        match cmd {
            Command::Quit => return Some(Action::Quit),
            Command::Reload => return Some(Action::Reload),
            Command::Refresh => return Some(Action::RefreshNow),
            Command::Help => self.input = Input::Help { scroll: 0 },
            Command::Ack => {
                if self.pane != Pane::Alerts {
                    self.notify("select an alert in the Alerts pane first", true);
                    return None;
                }
                return self.ack_selected();
            }
            Command::Run {
                runbook,
                hosts,
                inputs,
            } => {
                return self.request_run(RunStart::New {
                    runbook,
                    hosts,
                    inputs,
                });
            }
            Command::Resume(id) => return self.request_run(RunStart::Resume(id)),
            Command::Stop => return self.apply(Action::StopRun),
            Command::Exec { group, command } => return self.request_exec(group, command),
            Command::Unmark => self.clear_marks(),
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
                            self.fleet_sel_moved = true;
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
        let (_, content) = self.model.as_ref()?.pane.as_ref()?;
        content.row_at(self, x, y)
    }
}

/// An offer as the palette line that runs it: `run troubleshoot web-3 service=app`, or
/// `run p0-response @group0 summary=…` for an alert about a consensus group. A value
/// with spaces is quoted the way the palette reads it back; one that cannot be (both quote
/// kinds) is left out, and the run asks for it.
pub(super) fn offer_line(o: &Offer) -> String {
    let mut line = format!("run {} {}", o.runbook, o.hosts);
    for (k, v) in &o.inputs {
        let plain =
            !v.is_empty() && !v.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'');
        let v = if plain {
            v.clone()
        } else if !v.contains('"') {
            format!("\"{v}\"")
        } else if !v.contains('\'') {
            format!("'{v}'")
        } else {
            continue;
        };
        line.push_str(&format!(" {k}={v}"));
    }
    line
}

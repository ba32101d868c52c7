//! The logs pane: every tailed log with its error, warning and pattern-match counts over the
//! window, and below the table the selected log's counts by module (FISCO's
//! `level|time|[module] content` format) and its last interesting lines — or, once `f` follows
//! a host's logs, the lines as they are written, searched (`/`, `n`/`N`), filtered by level
//! (`v`) and time window (`t`), several hosts merged by time or side by side (`c`).
//!
//! What is followed and how it is shown lives in [`LogsState`] (the lines themselves in the pure
//! [`crate::logview::LogView`]); the event loop reads [`App::follows_wanted`] and runs one
//! `Transport::stream` per followed log while this pane is on screen, handing lines back
//! through [`App::on_follow`]. Leaving the pane, `f` again, `F` or quitting stops them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, StatefulWidget, Widget};

use super::keymap::{Action, Context, Lookup};
use super::panes::{HostRow, Pane, PaneContent, PaneSpec, Rows};
use super::table::{
    Selection, TablePane, TableSpec, data_style, pane_block, render_table, status_style,
};
use super::theme::Theme;
use super::{App, Model};
use crate::logview::{self, Layout as LogLayout, LogView, SourceKey, SourceState};
use crate::observation::LogLevel;
use crate::units::epoch_secs;
use crate::view::{self, LogRow};

/// Logs followed at once per host: half the connection's channels, so probes and runbooks
/// always have room on it.
pub const MAX_FOLLOWS_PER_HOST: usize = crate::transport::ssh::MAX_CHANNELS / 2;

/// Hosts shown side by side at most; the status line says how many more there are.
const MAX_COLUMNS: usize = 4;

/// The logs pane in the registry.
pub const SPEC: PaneSpec = PaneSpec {
    pane: Pane::Logs,
    name: "logs",
    label: "Logs",
    context: Some(Context::Logs),
    shown: PaneSpec::always,
    build: |cx| {
        Box::new(LogsContent(Rows::new(
            Pane::Logs,
            "logs",
            cx.keep(view::log_rows(&cx.ctx, &cx.hosts), |r| {
                r.filter_fields().collect()
            }),
        )))
    },
    keys: Some(logs_key),
};

/// What the logs pane follows and how it shows the followed lines.
#[derive(Debug, Default)]
pub struct LogsState {
    /// The followed lines and the filters, search and layout over them.
    pub view: LogView,
    /// Hosts whose logs are followed while the pane is on screen.
    hosts: BTreeSet<usize>,
    /// The search being typed (`/`), if any.
    search_input: Option<String>,
}

impl LogsState {
    /// Whether any host is being followed.
    pub fn following(&self) -> bool {
        !self.hosts.is_empty()
    }
}

/// What a follow task reports.
#[derive(Debug, Clone, PartialEq)]
pub enum FollowMsg {
    /// Where a followed log stands.
    State(SourceKey, SourceState),
    /// A line, and when it arrived.
    Line(SourceKey, String, SystemTime),
}

/// One followed log, until `stop` fires: opens the stream, reports its state and every line,
/// and on stop closes it (the command is killed and its channel closed before this returns,
/// bounded).
pub async fn follow_task(
    transport: crate::transport::Transport,
    key: SourceKey,
    command: String,
    tx: tokio::sync::mpsc::Sender<FollowMsg>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    use crate::transport::stream::{StreamEvent, StreamRequest};
    let req = StreamRequest {
        command,
        open_timeout: std::time::Duration::from_secs(15),
    };
    // Not raced against `stop`: a half-opened channel dropped mid-way could leave its command
    // running until the connection closes. Opening is bounded by `open_timeout`; a stop that
    // came meanwhile closes the stream at once.
    let opened = transport.stream(&req).await;
    let stop_came = !matches!(
        stop.try_recv(),
        Err(tokio::sync::oneshot::error::TryRecvError::Empty)
    );
    let mut stream = match opened {
        Ok(s) if stop_came => {
            s.close(std::time::Duration::from_secs(3)).await;
            return;
        }
        Ok(s) => s,
        Err(e) => {
            if !stop_came {
                let _ = tx
                    .send(FollowMsg::State(key, SourceState::Failed(e.to_string())))
                    .await;
            }
            return;
        }
    };
    let _ = tx.send(FollowMsg::State(key, SourceState::Following)).await;
    loop {
        let msg = tokio::select! {
            _ = &mut stop => break,
            ev = stream.next() => match ev {
                Some(StreamEvent::Line(l)) => FollowMsg::Line(key, l, SystemTime::now()),
                // `tail: 'x' has become inaccessible`: worth seeing among the lines.
                Some(StreamEvent::Stderr(l)) => FollowMsg::Line(key, format!("[stderr] {l}"), SystemTime::now()),
                Some(StreamEvent::Ended(status)) => FollowMsg::State(
                    key,
                    SourceState::Failed(match status {
                        Some(s) => format!("ended, exit {s}"),
                        None => "ended".into(),
                    }),
                ),
                Some(StreamEvent::Lost(e)) => FollowMsg::State(key, SourceState::Failed(e)),
                None => break,
            },
        };
        let last = matches!(msg, FollowMsg::State(..));
        tokio::select! {
            _ = &mut stop => break,
            r = tx.send(msg) => if r.is_err() { break },
        }
        if last {
            break;
        }
    }
    stream.close(std::time::Duration::from_secs(3)).await;
}

/// Keys of the pane, before the key map's global ones: the search being typed takes every
/// key; otherwise the logs bindings (`/` searches here instead of filtering rows).
fn logs_key(app: &mut App, key: KeyEvent) -> bool {
    if let Some(mut text) = app.logs.search_input.take() {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => {
                app.logs.view.set_search("");
                return true;
            }
            KeyCode::Char('c') if ctrl => {
                app.logs.view.set_search("");
                return true;
            }
            KeyCode::Enter => return true,
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char('u') if ctrl => text.clear(),
            KeyCode::Char(c) if !ctrl => text.push(c),
            _ => {}
        }
        // Search as you type: the newest match is the current one.
        app.logs.view.set_search(&text);
        let now = epoch_secs(app.now);
        app.logs.view.search_step(now, false);
        app.logs.search_input = Some(text);
        return true;
    }
    match app.keymap.lookup(&key, &[Context::Logs]) {
        // Nothing followed: `/` filters the rows, as in every other pane.
        Lookup::Action(Action::SearchLogs) if app.logs.view.is_empty() => false,
        Lookup::Action(a) => {
            app.logs_action(a);
            true
        }
        _ => false,
    }
}

impl App {
    /// Carries out a logs-pane action.
    pub(super) fn logs_action(&mut self, action: Action) {
        let now = epoch_secs(self.now);
        let v = &mut self.logs.view;
        match action {
            Action::FollowLogs => self.toggle_follow(),
            Action::StopFollowing => {
                self.logs.hosts.clear();
                self.notify("stopped following every log", false);
            }
            Action::SearchLogs => {
                let current = v.search.as_ref().map(|s| s.query.clone());
                self.logs.search_input = Some(current.unwrap_or_default());
            }
            Action::NextMatch => {
                v.search_step(now, true);
            }
            Action::PreviousMatch => {
                v.search_step(now, false);
            }
            Action::CycleLogLevel => v.level = v.level.next(),
            Action::CycleLogWindow => v.window = v.window.next(),
            Action::ToggleLogLayout => {
                v.layout = match v.layout {
                    LogLayout::Merged => LogLayout::Columns,
                    LogLayout::Columns => LogLayout::Merged,
                }
            }
            _ => {}
        }
    }

    /// `f`: follows the selected row's host's logs, or stops following that host.
    fn toggle_follow(&mut self) {
        let Some(host) = self.selected_host() else {
            self.notify("no log selected: nothing to follow", true);
            return;
        };
        let name = self.fleet.hosts[host].name.clone();
        if self.logs.hosts.remove(&host) {
            self.notify(format!("stopped following {name}"), false);
            return;
        }
        // A marked host brings the other marked ones (Space on the fleet table), as `:exec`
        // runs on the marks: several hosts' logs side by side or merged in one key.
        let hosts: Vec<usize> = if self.marks.contains(&host) {
            self.marks.iter().copied().collect()
        } else {
            vec![host]
        };
        for h in hosts {
            self.follow_host(h);
        }
    }

    fn follow_host(&mut self, host: usize) {
        let name = self.fleet.hosts[host].name.clone();
        let logs = &self.fleet.hosts[host].logs;
        if logs.is_empty() {
            self.notify(format!("{name} has no logs configured"), true);
            return;
        }
        for (i, l) in logs.iter().enumerate().take(MAX_FOLLOWS_PER_HOST) {
            self.logs
                .view
                .add_source(SourceKey { host, log: i }, &name, l);
        }
        self.logs.hosts.insert(host);
        let skipped = logs.len().saturating_sub(MAX_FOLLOWS_PER_HOST);
        if skipped > 0 {
            self.notify(
                format!(
                    "following {MAX_FOLLOWS_PER_HOST} logs of {name}, not {skipped} more (at most {MAX_FOLLOWS_PER_HOST} per host)"
                ),
                true,
            );
        }
    }

    /// The logs to follow now, with their commands: those of the followed hosts while this
    /// pane is on screen, none otherwise. The event loop starts what is missing and stops what
    /// is no longer here. Sources that stop being wanted are marked stopped.
    pub fn follows_wanted(&mut self) -> BTreeMap<SourceKey, String> {
        let mut out = BTreeMap::new();
        if self.pane == Pane::Logs {
            for &host in &self.logs.hosts {
                let logs = &self.fleet.hosts[host].logs;
                for (i, l) in logs.iter().enumerate().take(MAX_FOLLOWS_PER_HOST) {
                    let key = SourceKey { host, log: i };
                    match logview::follow_command(l) {
                        Ok(cmd) => {
                            out.insert(key, cmd);
                        }
                        Err(e) => self.logs.view.set_state(key, SourceState::Failed(e)),
                    }
                }
            }
        }
        let stale: Vec<SourceKey> = self
            .logs
            .view
            .sources()
            .filter(|(k, s)| {
                !out.contains_key(k)
                    && matches!(s.state, SourceState::Starting | SourceState::Following)
            })
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            self.logs.view.set_state(k, SourceState::Stopped);
        }
        out
    }

    /// Folds in what a follow task reports.
    pub fn on_follow(&mut self, msg: FollowMsg) {
        match msg {
            FollowMsg::State(key, state) => self.logs.view.set_state(key, state),
            FollowMsg::Line(key, text, at) => self.logs.view.push(key, &text, epoch_secs(at)),
        }
    }

    /// What the logs pane follows and shows.
    pub fn logs(&self) -> &LogsState {
        &self.logs
    }
}

/// The logs pane's rows: the table, and below it the followed lines or the selected log's tail.
pub struct LogsContent(pub Rows<LogRow>);

impl PaneContent for LogsContent {
    fn len(&self, model: &Model) -> usize {
        self.0.len(model)
    }

    fn host_at(&self, model: &Model, i: usize) -> Option<usize> {
        self.0.host_at(model, i)
    }

    fn text_at(&self, _: &Model, i: usize) -> Option<String> {
        // The newest error or warning, else the newest line: what an operator pastes into a
        // ticket.
        let row = self.0.rows.get(i)?;
        row.recent.last().or(row.tail.last()).cloned()
    }

    fn render(&self, app: &mut App, model: &Model, frame: &mut Frame, area: Rect, hints: String) {
        if app.logs.view.is_empty() && app.logs.search_input.is_none() {
            return self.0.render(app, model, frame, area, hints);
        }
        // The table keeps a few rows (no tail of its own); the followed lines take the rest.
        let table_height = (self.0.rows.len() as u16 + 4).clamp(5, (area.height / 3).max(5));
        let [top, bottom] =
            Layout::vertical([Constraint::Length(table_height), Constraint::Min(3)]).areas(area);
        self.0.render(app, model, frame, top, hints);
        FollowView {
            state: &app.logs,
            theme: &app.theme,
            now: epoch_secs(app.now),
            hosts: &app.fleet.hosts,
        }
        .render(bottom, frame.buffer_mut());
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The followed lines: merged by time with a host prefix, or one column per host.
pub struct FollowView<'a> {
    /// What is followed, filtered and searched.
    pub state: &'a LogsState,
    /// Colours.
    pub theme: &'a Theme,
    /// Epoch seconds, for the time window.
    pub now: i64,
    /// The fleet's hosts (names).
    pub hosts: &'a [crate::inventory::Host],
}

impl Widget for FollowView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let v = &self.state.view;
        let following: Vec<String> = v
            .sources()
            .map(|(_, s)| {
                let state = match &s.state {
                    SourceState::Starting => " (starting)".to_string(),
                    SourceState::Following => String::new(),
                    SourceState::Stopped => " (stopped)".to_string(),
                    SourceState::Failed(e) => format!(" ({e})"),
                };
                format!("{} {}{state}", s.host_name, s.log_name)
            })
            .collect();
        let verb = if self.state.following() {
            "following"
        } else {
            "followed"
        };
        let title = format!(" {verb}: {} ", following.join(", "));
        let mut status = vec![v.level.label(), v.window.label()];
        let host_count = v
            .sources()
            .map(|(k, _)| k.host)
            .collect::<BTreeSet<_>>()
            .len();
        if v.layout == LogLayout::Columns && host_count > MAX_COLUMNS {
            status.push(format!(
                "{} more hosts not shown: c merges",
                host_count - MAX_COLUMNS
            ));
        }
        if host_count > 1 {
            status.push(
                match v.layout {
                    LogLayout::Merged => "merged",
                    LogLayout::Columns => "columns",
                }
                .into(),
            );
        }
        if let Some(text) = &self.state.search_input {
            status.push(format!("/{text}▏"));
        } else if let Some(s) = &v.search {
            status.push(format!("/{}", s.query));
        }
        let merged = v.merged(self.now);
        if let Some(c) = v.match_count_in(&merged) {
            status.push(format!("{}/{}", c.current, c.total));
        }
        if v.dropped() > 0 {
            status.push(format!("{} dropped", v.dropped()));
        }
        let block = Block::new()
            .borders(Borders::ALL)
            .border_style(Style::new().fg(t.colour("border")))
            .title(Span::styled(
                title,
                Style::new()
                    .fg(t.colour("header"))
                    .add_modifier(Modifier::BOLD),
            ))
            .title_bottom(Span::styled(
                format!(" {} ", status.join(" · ")),
                Style::new().fg(t.colour("text.dim")),
            ));
        let inner = block.inner(area);
        block.render(area, buf);
        let current = v.search.as_ref().and_then(|s| s.current);
        let query = v.search.as_ref().map(|s| s.query.as_str()).unwrap_or("");
        match v.layout {
            LogLayout::Merged => {
                // `host log │ ` before each line, padded to one width, when there are several.
                let names: BTreeMap<SourceKey, String> = v
                    .sources()
                    .map(|(k, s)| (*k, format!("{} {}", s.host_name, s.log_name)))
                    .collect();
                let width = names.values().map(|n| n.chars().count()).max().unwrap_or(0);
                let several = names.len() > 1;
                let prefix = |l: &logview::Line| match names.get(&l.key) {
                    Some(n) if several => format!("{n:<width$} │ "),
                    _ => String::new(),
                };
                draw_lines(t, &merged, current, query, &prefix, inner, buf);
            }
            LogLayout::Columns => {
                let cols = v.columns(self.now);
                let n = cols.len().clamp(1, MAX_COLUMNS);
                let areas =
                    Layout::horizontal(vec![Constraint::Ratio(1, n as u32); n]).split(inner);
                for (i, ((host, lines), col)) in cols.iter().zip(areas.iter()).enumerate() {
                    let name = self.hosts.get(*host).map_or("?", |h| h.name.as_str());
                    // A rule between columns; the last one has the pane's border.
                    let rule = if i + 1 < areas.len() {
                        Borders::RIGHT
                    } else {
                        Borders::NONE
                    };
                    let b = Block::new()
                        .borders(rule)
                        .border_style(Style::new().fg(t.colour("border")))
                        .title(Span::styled(
                            format!("{name} "),
                            Style::new()
                                .fg(t.colour("header"))
                                .add_modifier(Modifier::BOLD),
                        ));
                    let in_col = b.inner(*col);
                    b.render(*col, buf);
                    draw_lines(t, lines, current, query, &|_| String::new(), in_col, buf);
                }
            }
        }
    }
}

/// Draws the lines that fit in `area`: the newest ones, or those around the current match.
fn draw_lines(
    t: &Theme,
    lines: &[&logview::Line],
    current: Option<u64>,
    query: &str,
    prefix: &dyn Fn(&logview::Line) -> String,
    area: Rect,
    buf: &mut Buffer,
) {
    let height = area.height as usize;
    if height == 0 {
        return;
    }
    if lines.is_empty() {
        Paragraph::new(Span::styled(
            "no lines yet: new lines appear here as they are written",
            Style::new().fg(t.colour("text.dim")),
        ))
        .render(area, buf);
        return;
    }
    let end = match current.and_then(|c| lines.iter().position(|l| l.seq == c)) {
        // Keep the current match on screen, a third from the bottom when it can be.
        Some(i) => (i + 1 + height / 3).clamp(height.min(lines.len()), lines.len()),
        None => lines.len(),
    };
    let start = end.saturating_sub(height);
    let highlight = Style::new()
        .fg(t.colour("search.match"))
        .add_modifier(Modifier::REVERSED | Modifier::BOLD);
    let out: Vec<Line> = lines[start..end]
        .iter()
        .map(|l| {
            let base = Style::new().fg(t.colour(level_slot(l.level)));
            let mark = if Some(l.seq) == current { "▶" } else { " " };
            let mut spans = vec![
                Span::styled(mark, Style::new().fg(t.colour("key"))),
                Span::styled(prefix(l), Style::new().fg(t.colour("text.dim"))),
            ];
            let mut at = 0;
            for r in logview::find_matches(&l.text, query) {
                spans.push(Span::styled(l.text[at..r.start].to_string(), base));
                spans.push(Span::styled(l.text[r.clone()].to_string(), highlight));
                at = r.end;
            }
            spans.push(Span::styled(l.text[at..].to_string(), base));
            Line::from(spans)
        })
        .collect();
    Paragraph::new(out).render(area, buf);
}

/// The colour slot of a line of `level`.
fn level_slot(level: Option<LogLevel>) -> &'static str {
    match level {
        Some(LogLevel::Error | LogLevel::Fatal) => "status.critical",
        Some(LogLevel::Warning) => "status.warning",
        Some(LogLevel::Debug | LogLevel::Trace) => "text.dim",
        _ => "text",
    }
}

impl HostRow for LogRow {
    fn host(&self) -> usize {
        self.host
    }
}

/// Draws [`LogRow`]s and the selected one's tail.
impl StatefulWidget for TablePane<'_, [LogRow]> {
    type State = Selection;

    fn render(self, area: Rect, buf: &mut Buffer, sel: &mut Selection) {
        let t = self.theme;
        let rows = self.rows;
        let tail_height = if area.height >= 16 {
            area.height / 2
        } else {
            0
        };
        let [top, bottom] =
            Layout::vertical([Constraint::Min(4), Constraint::Length(tail_height)]).areas(area);
        let width = |f: fn(&LogRow) -> &str, min: usize, max: usize| {
            rows.iter()
                .map(|r| f(r).chars().count())
                .max()
                .unwrap_or(min)
                .clamp(min, max) as u16
        };
        let spec = TableSpec {
            block: pane_block(t, self.title, self.hints, self.focused),
            header: vec![
                "HOST", "LOG", "FORMAT", "ERRORS", "WARN", "MATCH", "WINDOW", "SOURCE",
            ],
            widths: vec![
                Constraint::Length(width(|r| &r.host_name, 4, 20)),
                Constraint::Length(width(|r| &r.name, 3, 16)),
                Constraint::Length(6),
                Constraint::Length(6),
                Constraint::Length(5),
                Constraint::Length(5),
                Constraint::Length(6),
                Constraint::Min(6),
            ],
            theme: t,
            empty: "no logs configured (logs = [{ name, unit | file }] in the inventory)",
            focused: self.focused,
        };
        render_table(spec, top, buf, rows.len(), sel, |i| {
            let r = &rows[i];
            let d = data_style(t, r.fresh.stale);
            Row::new([
                Cell::from(Span::styled(
                    r.host_name.as_str(),
                    Style::new().fg(t.colour("text")),
                )),
                Cell::from(Span::styled(
                    r.name.as_str(),
                    Style::new().fg(t.colour("text")),
                )),
                Cell::from(Span::styled(
                    r.format,
                    Style::new().fg(t.colour("text.dim")),
                )),
                Cell::from(Span::styled(
                    r.errors.as_str(),
                    if r.fresh.stale {
                        d
                    } else {
                        status_style(t, r.status)
                    },
                )),
                Cell::from(Span::styled(r.warnings.as_str(), d)),
                Cell::from(Span::styled(r.matches.as_str(), d)),
                Cell::from(Span::styled(r.window.as_str(), d)),
                Cell::from(Span::styled(
                    r.error.clone().unwrap_or_else(|| r.origin.clone()),
                    Style::new().fg(t.colour("text.dim")),
                )),
            ])
        });
        if tail_height == 0 {
            return;
        }
        let Some(r) = rows.get(sel.selected) else {
            return;
        };
        let block = Block::new()
            .borders(Borders::ALL)
            .border_style(Style::new().fg(t.colour("border")))
            .title(Span::styled(
                format!(" {} on {} ", r.name, r.host_name),
                Style::new()
                    .fg(t.colour("header"))
                    .add_modifier(Modifier::BOLD),
            ));
        let mut lines = Vec::new();
        if !r.modules.is_empty() {
            lines.push(Line::from(vec![
                Span::styled("by module: ", Style::new().fg(t.colour("header"))),
                Span::styled(r.modules.join("  "), Style::new().fg(t.colour("text"))),
            ]));
        }
        if r.tail.is_empty() {
            lines.push(Line::from(Span::styled(
                "no error, warning or matching line in the window",
                Style::new().fg(t.colour("text.dim")),
            )));
        }
        // The newest lines are the ones that matter: keep the end of the tail that fits.
        let room = (bottom.height.saturating_sub(2) as usize).saturating_sub(lines.len());
        let tail = &r.tail[r.tail.len().saturating_sub(room)..];
        lines.extend(tail.iter().map(|l| {
            let lower = l.to_lowercase();
            let slot = if lower.contains(" error ") || lower.contains(" fatal ") {
                "status.critical"
            } else if lower.contains(" warning ") {
                "status.warning"
            } else {
                "text"
            };
            Line::from(Span::styled(l.as_str(), Style::new().fg(t.colour(slot))))
        }));
        Paragraph::new(lines).block(block).render(bottom, buf);
    }
}

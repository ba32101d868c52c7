//! The console's chrome: the frame around the pane on screen — tabs, the status line (notice,
//! read-only badge, fleet summary, clock; or the `/` filter and `:` palette being typed), the
//! palette's completion popup, the `?` help overlay, the passphrase dialog and the "terminal too
//! small" notice. The pane itself is drawn by its [`PaneContent`](super::panes::PaneContent).
//!
//! Drawing only: nothing here changes what the console shows except the tab hit areas it
//! records for the mouse. Called by [`App::render`], which the event loop and the render tests
//! call.

use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};

use super::help::{self, HelpOverlay};
use super::palette::Palette;
use super::table::status_slot;
use super::theme::Theme;
use super::{App, Input, MIN_HEIGHT, MIN_WIDTH, Pane, PassphraseDialog, fleet_table};
use crate::health::Status;
use crate::report;

impl App {
    // -----------------------------------------------------------------------------------------
    // Drawing

    /// Draws the console as of `now`.
    pub fn render(&mut self, frame: &mut Frame, now: SystemTime) {
        // Only what the frame shows moves with `now` (ages, countdowns, notices); the store is
        // ticked by the event loop, so alert transitions never follow the redraw rate.
        self.show_at(now);
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
        self.render_silence_confirm(frame, main);
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

    pub(super) fn pane_title(&self, name: &str, count: usize) -> String {
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
        // Out of `self` while drawing: the pane's content draws with the console's state.
        let model = self.model.take().expect("ensured before drawing");
        match &model.pane {
            Some((_, content)) => content.render(self, &model, frame, area, hints),
            None => {
                use super::panes::PaneContent as _;
                fleet_table::Fleet.render(self, &model, frame, area, hints);
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

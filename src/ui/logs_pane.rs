//! The logs pane: every tailed log with its error, warning and pattern-match counts over the
//! window, and below the table the selected log's counts by module (FISCO's
//! `level|time|[module] content` format) and its last interesting lines.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, StatefulWidget, Widget};

use super::panes::{HostRow, Pane, PaneSpec, Rows};
use super::table::{
    Selection, TablePane, TableSpec, data_style, pane_block, render_table, status_style,
};
use crate::view::{self, LogRow};

/// The logs pane in the registry.
pub const SPEC: PaneSpec = PaneSpec {
    pane: Pane::Logs,
    name: "logs",
    label: "Logs",
    context: None,
    shown: PaneSpec::always,
    build: |cx| {
        Box::new(Rows::new(
            Pane::Logs,
            "logs",
            cx.keep(view::log_rows(&cx.ctx, &cx.hosts), |r| {
                r.filter_fields().collect()
            }),
        ))
    },
    keys: None,
};

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

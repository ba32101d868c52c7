//! The alerts pane: every active alert fleet-wide (or of one host), worst first, with rule,
//! host, how long it has fired, its value and its lifecycle phase (new, acked by whom). `a`
//! acknowledges the selected one — an operator action the console records through its ack hook
//! before the ack takes effect, and which a read-only console does not have.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, StatefulWidget};

use super::table::{Selection, TableSpec, pane_block, render_table, status_style};
use super::theme::Theme;
use crate::view::{AlertPhase, AlertRow};

/// Renders [`AlertRow`]s.
pub struct AlertsPane<'a> {
    /// Rows in display order.
    pub rows: &'a [AlertRow],
    /// Colours.
    pub theme: &'a Theme,
    /// Block title.
    pub title: String,
    /// Key hints.
    pub hints: String,
}

impl StatefulWidget for AlertsPane<'_> {
    type State = Selection;

    fn render(self, area: Rect, buf: &mut Buffer, sel: &mut Selection) {
        let t = self.theme;
        let rows = self.rows;
        let width = |f: fn(&AlertRow) -> &str, min: usize, max: usize| {
            rows.iter()
                .map(|r| f(r).chars().count())
                .max()
                .unwrap_or(min)
                .clamp(min, max) as u16
        };
        let wide = area.width >= 100;
        let spec = TableSpec {
            block: pane_block(t, self.title, self.hints, true),
            header: vec![
                "SEVERITY", "HOST", "RULE", "SINCE", "STATE", "VALUE", "MESSAGE",
            ],
            widths: vec![
                Constraint::Length(8),
                Constraint::Length(width(|r| &r.host_name, 4, 20)),
                Constraint::Length(width(|r| &r.rule, 4, if wide { 24 } else { 14 })),
                Constraint::Length(5),
                Constraint::Length(if wide { 16 } else { 8 }),
                Constraint::Length(width(|r| &r.value, 5, if wide { 12 } else { 8 })),
                Constraint::Min(10),
            ],
            theme: t,
            empty: "no active alerts",
            focused: true,
        };
        render_table(spec, area, buf, rows.len(), sel, |i| {
            let r = &rows[i];
            let acked = !matches!(r.phase, AlertPhase::New);
            let text = if acked {
                Style::new().fg(t.colour("text.dim"))
            } else {
                Style::new().fg(t.colour("text"))
            };
            let state = match &r.phase {
                AlertPhase::New => Style::new()
                    .fg(t.colour("danger"))
                    .add_modifier(Modifier::BOLD),
                _ => Style::new().fg(t.colour("text.dim")),
            };
            Row::new([
                Cell::from(Span::styled(
                    match r.severity {
                        crate::health::Severity::Critical => "critical",
                        crate::health::Severity::Warning => "warning",
                    },
                    status_style(t, r.status()),
                )),
                Cell::from(Span::styled(r.host_name.as_str(), text)),
                Cell::from(Span::styled(r.rule.as_str(), text)),
                Cell::from(Span::styled(r.since.as_str(), text)),
                Cell::from(Span::styled(r.phase.text(), state)),
                Cell::from(Span::styled(r.value.as_str(), text)),
                Cell::from(Span::styled(r.message.as_str(), text)),
            ])
        });
    }
}

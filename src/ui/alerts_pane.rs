//! The alerts pane: every active alert fleet-wide (or of one host), worst first, with rule,
//! host, how long it has fired, its value and its lifecycle phase (new, acked by whom). `a`
//! acknowledges the selected one — an operator action the console records through its ack hook
//! before the ack takes effect, and which a read-only console does not have.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, StatefulWidget};

use super::keymap::Context;
use super::panes::{HostRow, Pane, PaneSpec, Rows};
use super::table::{Selection, TablePane, TableSpec, pane_block, render_table, status_style};
use crate::view::{self, AlertPhase, AlertRow};

/// The alerts pane in the registry.
pub const SPEC: PaneSpec = PaneSpec {
    pane: Pane::Alerts,
    name: "alerts",
    label: "Alerts",
    context: Some(Context::Alerts),
    shown: PaneSpec::always,
    build: |cx| {
        Box::new(Rows::new(
            Pane::Alerts,
            "alerts",
            cx.keep(view::alert_rows(&cx.ctx, &cx.hosts, cx.alerts), |r| {
                r.filter_fields().collect()
            }),
        ))
    },
    keys: None,
};

impl HostRow for AlertRow {
    fn host(&self) -> usize {
        self.host
    }

    /// The alert as one line for a ticket: `HOST RULE SUBJECT: MESSAGE`.
    fn yank(&self) -> Option<String> {
        let subject = if self.subject.is_empty() {
            String::new()
        } else {
            format!(" {}", self.subject)
        };
        Some(format!(
            "{} {}{subject}: {}",
            self.host_name, self.rule, self.message
        ))
    }
}

/// Draws [`AlertRow`]s, new ones loud, acknowledged ones dim.
impl StatefulWidget for TablePane<'_, [AlertRow]> {
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
            block: pane_block(t, self.title, self.hints, self.focused),
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
            focused: self.focused,
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

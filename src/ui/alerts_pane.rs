//! The alerts pane: every active alert fleet-wide (or of one host), worst first, with rule,
//! host, how long it has fired, its value and its lifecycle phase (new, acked by whom). `a`
//! acknowledges the selected one — an operator action the console records through its ack hook
//! before the ack takes effect, and which a read-only console does not have.
//!
//! With `[alertmanager]`, Alertmanager's active alerts follow fleetdeck's own (a SOURCE column
//! tells them apart; those that name no inventory host last, fleet-wide only), silenced and
//! inhibited ones say so, and an unreachable Alertmanager is one row at the top. `a` on one of
//! them asks for a silence (`alert_poll.rs`).

use std::any::Any;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, StatefulWidget};

use super::keymap::Context;
use super::panes::{BuildCx, Pane, PaneContent, PaneSpec, Rows};
use super::table::{Selection, TablePane, TableSpec, pane_block, render_table, status_style};
use super::{App, Model};
use crate::view::{self, AlertOrigin, AlertPhase, AlertRow, ExternalScope};

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
            cx.keep(rows(cx), |r| r.filter_fields().collect()),
        ))
    },
    keys: None,
};

/// fleetdeck's alerts, then Alertmanager's (an unreachable Alertmanager's row first, so it is
/// seen).
fn rows(cx: &BuildCx) -> Vec<AlertRow> {
    let mut rows = view::alert_rows(&cx.ctx, &cx.hosts, cx.alerts);
    if let Some(am) = cx.app.am_status() {
        // Host-less alerts belong to the whole fleet: shown when no host or group narrows it.
        let scope = if cx.app.host.is_none() && cx.app.query.group.is_none() {
            ExternalScope::All
        } else {
            ExternalScope::Hosts(&cx.hosts)
        };
        let external = view::external_alert_rows(&cx.ctx, scope, am);
        if external
            .first()
            .is_some_and(|r| r.source == AlertOrigin::Unreachable)
        {
            rows.splice(0..0, external);
        } else {
            rows.extend(external);
        }
    }
    rows
}

/// Like every table pane, except that a row may have no host (an Alertmanager alert that names
/// none): Enter opens nothing there.
impl PaneContent for Rows<AlertRow> {
    fn len(&self, _: &Model) -> usize {
        self.rows.len()
    }

    fn host_at(&self, _: &Model, i: usize) -> Option<usize> {
        self.rows.get(i).and_then(|r| r.host)
    }

    fn render(&self, app: &mut App, _: &Model, frame: &mut Frame, area: Rect, hints: String) {
        let title = app.pane_title("alerts", self.rows.len());
        let sel = app.sels.entry(Pane::Alerts).or_default();
        TablePane {
            rows: &self.rows[..],
            theme: &app.theme,
            title,
            hints,
            focused: true,
        }
        .render(area, frame.buffer_mut(), sel);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    /// The alert as one line for a ticket: `HOST RULE SUBJECT: MESSAGE`.
    fn text_at(&self, _: &Model, i: usize) -> Option<String> {
        let row = self.rows.get(i)?;
        let subject = if row.subject.is_empty() {
            String::new()
        } else {
            format!(" {}", row.subject)
        };
        Some(format!(
            "{} {}{subject}: {}",
            row.host_name, row.rule, row.message
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
        // The SOURCE column only when there is something to tell apart: a console without
        // Alertmanager (or with none of its alerts) looks as it always did.
        let sourced = rows.iter().any(|r| r.source != AlertOrigin::Fleetdeck);
        let mut header = vec!["SEVERITY"];
        let mut widths = vec![Constraint::Length(8)];
        // The long tag only where the message keeps room.
        let long_tags = area.width >= 160;
        if sourced {
            header.push("SOURCE");
            widths.push(Constraint::Length(if long_tags { 12 } else { 6 }));
        }
        header.extend(["HOST", "RULE", "SINCE", "STATE", "VALUE", "MESSAGE"]);
        // A silence's state names its end and author: wider when there is room.
        let state_max = if wide && sourced {
            34
        } else if wide {
            16
        } else {
            8
        };
        widths.extend([
            Constraint::Length(width(|r| &r.host_name, 4, 20)),
            Constraint::Length(width(|r| &r.rule, 4, if wide { 24 } else { 14 })),
            Constraint::Length(5),
            Constraint::Length(if sourced {
                rows.iter()
                    .map(|r| r.phase.text().chars().count())
                    .max()
                    .unwrap_or(8)
                    .clamp(8, state_max) as u16
            } else {
                state_max as u16
            }),
            Constraint::Length(width(|r| &r.value, 5, if wide { 12 } else { 8 })),
            Constraint::Min(10),
        ]);
        let spec = TableSpec {
            block: pane_block(t, self.title, self.hints, self.focused),
            header,
            widths,
            theme: t,
            empty: "no active alerts",
            focused: self.focused,
        };
        render_table(spec, area, buf, rows.len(), sel, |i| {
            let r = &rows[i];
            let acked = !matches!(r.phase, AlertPhase::New | AlertPhase::Firing);
            let text = if acked {
                Style::new().fg(t.colour("text.dim"))
            } else {
                Style::new().fg(t.colour("text"))
            };
            let state = match &r.phase {
                AlertPhase::New | AlertPhase::Firing => Style::new()
                    .fg(t.colour("danger"))
                    .add_modifier(Modifier::BOLD),
                _ => Style::new().fg(t.colour("text.dim")),
            };
            let mut cells = vec![Cell::from(Span::styled(
                r.severity_text.as_str(),
                status_style(t, r.status()),
            ))];
            if sourced {
                let tag = if long_tags {
                    r.source.tag()
                } else {
                    r.source.short_tag()
                };
                cells.push(Cell::from(Span::styled(tag, text)));
            }
            cells.extend([
                Cell::from(Span::styled(r.host_name.as_str(), text)),
                Cell::from(Span::styled(r.rule.as_str(), text)),
                Cell::from(Span::styled(r.since.as_str(), text)),
                Cell::from(Span::styled(r.phase.text(), state)),
                Cell::from(Span::styled(r.value.as_str(), text)),
                Cell::from(Span::styled(r.message.as_str(), text)),
            ]);
            Row::new(cells)
        });
    }
}

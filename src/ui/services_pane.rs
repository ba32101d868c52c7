//! The services pane: every watched service (of the fleet, or of one host) with its state, how
//! long it has been in it, restarts seen, and below the table the selected service's detail and
//! last failure output — what the DVN runbook's "is it running, since when, why did it stop"
//! steps ask for.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, StatefulWidget, Widget, Wrap};

use super::panes::{HostRow, Pane, PaneSpec, Rows};
use super::table::{
    Selection, TablePane, TableSpec, data_style, pane_block, render_table, status_style,
};
use crate::view::{self, ServiceRow};

/// The services pane in the registry.
pub const SPEC: PaneSpec = PaneSpec {
    pane: Pane::Services,
    name: "services",
    label: "Services",
    context: None,
    shown: PaneSpec::always,
    build: |cx| {
        Box::new(Rows::new(
            Pane::Services,
            "services",
            cx.keep(view::service_rows(&cx.ctx, &cx.hosts), |r| {
                r.filter_fields().collect()
            }),
        ))
    },
    keys: None,
};

impl HostRow for ServiceRow {
    fn host(&self) -> usize {
        self.host
    }
}

/// Draws [`ServiceRow`]s and the selected one's failure output.
impl StatefulWidget for TablePane<'_, [ServiceRow]> {
    type State = Selection;

    fn render(self, area: Rect, buf: &mut Buffer, sel: &mut Selection) {
        let t = self.theme;
        let detail_height = if area.height >= 16 { 6 } else { 0 };
        let [top, bottom] =
            Layout::vertical([Constraint::Min(4), Constraint::Length(detail_height)]).areas(area);
        let host_width = self
            .rows
            .iter()
            .map(|r| r.host_name.chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 20) as u16;
        let name_width = self
            .rows
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(7)
            .clamp(7, 20) as u16;
        let wide = area.width >= 100;
        let mut header = vec!["HOST", "SERVICE", "KIND", "STATE", "SINCE", "RESTARTS"];
        let mut widths = vec![
            Constraint::Length(host_width),
            Constraint::Length(name_width),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(8),
        ];
        if wide {
            header.push("TARGET");
            widths.push(Constraint::Length(24));
        }
        header.push("DETAIL");
        widths.push(Constraint::Min(8));
        let spec = TableSpec {
            block: pane_block(t, self.title, self.hints, self.focused),
            header,
            widths,
            theme: t,
            empty: "no services configured",
            focused: self.focused,
        };
        let rows = self.rows;
        render_table(spec, top, buf, rows.len(), sel, |i| {
            let r = &rows[i];
            let d = data_style(t, r.fresh.stale);
            let mut cells = vec![
                Cell::from(Span::styled(
                    r.host_name.as_str(),
                    Style::new().fg(t.colour("text")),
                )),
                Cell::from(Span::styled(
                    r.name.as_str(),
                    Style::new().fg(t.colour("text")),
                )),
                Cell::from(Span::styled(r.kind, Style::new().fg(t.colour("text.dim")))),
                Cell::from(Span::styled(r.state, status_style(t, r.status))),
                Cell::from(Span::styled(r.since.as_str(), d)),
                Cell::from(Span::styled(r.restarts.as_str(), d)),
            ];
            if wide {
                cells.push(Cell::from(Span::styled(
                    r.target.as_str(),
                    Style::new().fg(t.colour("text.dim")),
                )));
            }
            cells.push(Cell::from(Span::styled(r.detail.as_str(), d)));
            Row::new(cells)
        });
        if detail_height == 0 {
            return;
        }
        let block = Block::new()
            .borders(Borders::ALL)
            .border_style(Style::new().fg(t.colour("border")))
            .title(Span::styled(
                " last failure ",
                Style::new()
                    .fg(t.colour("header"))
                    .add_modifier(Modifier::BOLD),
            ));
        let lines: Vec<Line> = match rows.get(sel.selected) {
            None => vec![],
            Some(r) if r.last_failure.is_empty() => vec![Line::from(Span::styled(
                format!("{} on {}: no failure output seen", r.name, r.host_name),
                Style::new().fg(t.colour("text.dim")),
            ))],
            Some(r) => r
                .last_failure
                .iter()
                .map(|l| Line::from(Span::styled(l.as_str(), Style::new().fg(t.colour("text")))))
                .collect(),
        };
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .render(bottom, buf);
    }
}

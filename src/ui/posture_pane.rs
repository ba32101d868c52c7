//! The Posture pane: the fleet's security posture as a host × check matrix — ✓ as the Mixin
//! manual asks (§2.1 sshd settings, §2.2 open ports, §2.4 root's history), ✗ a deviation in
//! its configured severity's colour, ? not readable (never guessed) — so "which hosts still
//! allow password login" is one glance down the PASSWORD column.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, StatefulWidget};

use super::panes::{HostRow, Pane, PaneSpec, Rows};
use super::table::{
    Selection, TablePane, TableSpec, data_style, pane_block, render_table, status_style,
};
use crate::posture::Check;
use crate::view::{self, PostureRow};

/// The posture pane in the registry (`:pane posture`): in the Tab cycle while the inventory
/// reads the posture of at least one host (a `[posture]` table), so a fleet without it keeps
/// its tabs.
pub const SPEC: PaneSpec = PaneSpec {
    pane: Pane::Posture,
    name: "posture",
    label: "Posture",
    context: None,
    shown: |app| app.fleet.hosts.iter().any(|h| h.posture.enabled),
    build: |cx| {
        Box::new(Rows::new(
            Pane::Posture,
            "hosts",
            cx.keep(view::posture_rows(&cx.ctx, &cx.hosts), |r| {
                r.filter_fields().collect()
            }),
        ))
    },
    keys: None,
};

impl HostRow for PostureRow {
    fn host(&self) -> usize {
        self.host
    }
}

/// Draws [`PostureRow`]s.
impl StatefulWidget for TablePane<'_, [PostureRow]> {
    type State = Selection;

    fn render(self, area: Rect, buf: &mut Buffer, sel: &mut Selection) {
        let t = self.theme;
        let rows = self.rows;
        let name_width = rows
            .iter()
            .map(|r| r.host_name.chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 20) as u16;
        let mut header = vec!["HOST"];
        let mut widths = vec![Constraint::Length(name_width)];
        for c in Check::ALL {
            header.push(c.column());
            widths.push(Constraint::Length(c.column().len() as u16));
        }
        header.push("NOTE");
        widths.push(Constraint::Min(6));
        let spec = TableSpec {
            block: pane_block(t, self.title, self.hints, self.focused),
            header,
            widths,
            theme: t,
            empty: "no hosts",
            focused: self.focused,
        };
        render_table(spec, area, buf, rows.len(), sel, |i| {
            let r = &rows[i];
            let mut cells = vec![Cell::from(Span::styled(
                r.host_name.as_str(),
                status_style(t, r.status),
            ))];
            for (mark, status) in &r.cells {
                let style = if r.fresh.stale {
                    data_style(t, true)
                } else {
                    status_style(t, *status)
                };
                cells.push(Cell::from(Span::styled(*mark, style)));
            }
            cells.push(Cell::from(Span::styled(
                format!("{}{}", r.note, r.fresh.suffix()),
                Style::new().fg(t.colour("text.dim")),
            )));
            Row::new(cells)
        });
    }
}

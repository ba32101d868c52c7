//! The certificates pane: every watched TLS certificate (node, agency, chain and SDK certificates
//! of a consortium chain) with its days to expiry — expired in red, within the host's
//! `cert_warn_days` in amber — so the FISCO manual's certificate rotation is started in time.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, StatefulWidget};

use super::panes::{HostRow, Pane, PaneSpec, Rows};
use super::table::{
    Selection, TablePane, TableSpec, data_style, pane_block, render_table, status_style,
};
use crate::view::{self, CertRow};

/// The certs pane in the registry.
pub const SPEC: PaneSpec = PaneSpec {
    pane: Pane::Certs,
    name: "certs",
    label: "Certs",
    context: None,
    shown: PaneSpec::always,
    build: |cx| {
        Box::new(Rows::new(
            Pane::Certs,
            "certificates",
            cx.keep(view::cert_rows(&cx.ctx, &cx.hosts), |r| {
                r.filter_fields().collect()
            }),
        ))
    },
    keys: None,
};

impl HostRow for CertRow {
    fn host(&self) -> usize {
        self.host
    }
}

/// Draws [`CertRow`]s.
impl StatefulWidget for TablePane<'_, [CertRow]> {
    type State = Selection;

    fn render(self, area: Rect, buf: &mut Buffer, sel: &mut Selection) {
        let t = self.theme;
        let rows = self.rows;
        let wide = area.width >= 100;
        let width = |f: fn(&CertRow) -> &str, min: usize, max: usize| {
            rows.iter()
                .map(|r| f(r).chars().count())
                .max()
                .unwrap_or(min)
                .clamp(min, max) as u16
        };
        let mut header = vec!["HOST", "CERT", "EXPIRES IN", "NOT AFTER"];
        let mut widths = vec![
            Constraint::Length(width(|r| &r.host_name, 4, 20)),
            Constraint::Length(width(|r| &r.name, 4, 16)),
            Constraint::Length(14),
            Constraint::Length(10),
        ];
        if wide {
            header.push("PATH");
            widths.push(Constraint::Length(width(|r| &r.path, 4, 36)));
        }
        header.push("SUBJECT / NOTE");
        widths.push(Constraint::Min(6));
        let spec = TableSpec {
            block: pane_block(t, self.title, self.hints, self.focused),
            header,
            widths,
            theme: t,
            empty: "no certificates configured (certs = [{ name, path }] in the inventory)",
            focused: self.focused,
        };
        render_table(spec, area, buf, rows.len(), sel, |i| {
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
                Cell::from(Span::styled(
                    r.expires_in.as_str(),
                    if r.fresh.stale {
                        d
                    } else {
                        status_style(t, r.status)
                    },
                )),
                Cell::from(Span::styled(r.not_after.as_str(), d)),
            ];
            if wide {
                cells.push(Cell::from(Span::styled(
                    r.path.as_str(),
                    Style::new().fg(t.colour("text.dim")),
                )));
            }
            cells.push(Cell::from(Span::styled(
                r.error.clone().unwrap_or_else(|| r.subject.clone()),
                Style::new().fg(t.colour("text.dim")),
            )));
            Row::new(cells)
        });
    }
}

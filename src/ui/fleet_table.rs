//! The fleet table: one row per host (under group headings when grouped), worst news in colour,
//! every data cell in the `stale` slot once its host's data is older than twice its interval.
//! Columns that do not fit are dropped by priority, the NOTE column last of all.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, StatefulWidget};

use super::table::{
    Selection, TableSpec, data_style, fit_columns, pane_block, render_table, status_style,
};
use super::theme::Theme;
use crate::view::{FleetLine, FleetRow};

pub use super::table::status_slot;

/// Renders arranged [`FleetRow`]s; owns no state beyond what it is given.
pub struct FleetTable<'a> {
    /// Every row (indices in `lines` point here).
    pub rows: &'a [FleetRow],
    /// Display lines: group headings and hosts.
    pub lines: &'a [FleetLine],
    /// Colours.
    pub theme: &'a Theme,
    /// Block title.
    pub title: String,
    /// Key hints, shown right-aligned on the bottom border.
    pub hints: String,
}

const HEADERS: [&str; 10] = [
    "HOST", "STATUS", "REACH", "SVC", "HEIGHT", "PEERS", "DISK", "BACKUP", "AGE", "NOTE",
];

impl StatefulWidget for FleetTable<'_> {
    type State = Selection;

    fn render(self, area: Rect, buf: &mut Buffer, sel: &mut Selection) {
        let t = self.theme;
        let name_width = self
            .lines
            .iter()
            .map(|l| match l {
                FleetLine::Host(i) => self.rows[*i].name.chars().count(),
                FleetLine::Group { label, hosts, .. } => {
                    label.chars().count() + 6 + hosts.to_string().len()
                }
            })
            .max()
            .unwrap_or(4)
            .clamp(4, 28) as u16;
        // (width, priority): 0 is never dropped; higher numbers go first.
        let cols = [
            (name_width, 0),
            (8, 0),
            (5, 4),
            (5, 1),
            (9, 2),
            (5, 5),
            (5, 1),
            (6, 3),
            (5, 0),
        ];
        let keep = fit_columns(&cols, area.width.saturating_sub(2), 10);
        let mut widths: Vec<Constraint> = keep
            .iter()
            .map(|&i| Constraint::Length(cols[i].0))
            .collect();
        widths.push(Constraint::Min(10));
        let mut header: Vec<&'static str> = keep.iter().map(|&i| HEADERS[i]).collect();
        header.push(HEADERS[9]);
        let spec = TableSpec {
            block: pane_block(t, self.title, self.hints, true),
            header,
            widths,
            theme: t,
            empty: "no host matches",
            focused: true,
        };
        let rows = self.rows;
        let lines = self.lines;
        render_table(spec, area, buf, lines.len(), sel, |k| match &lines[k] {
            FleetLine::Group {
                label,
                hosts,
                worst,
            } => {
                let mut cells = vec![Cell::from(Span::styled(
                    format!("▾ {label} ({hosts})"),
                    Style::new()
                        .fg(t.colour("header"))
                        .add_modifier(Modifier::BOLD),
                ))];
                if keep.contains(&1) {
                    cells.push(Cell::from(Span::styled(
                        worst.as_str(),
                        status_style(t, *worst),
                    )));
                }
                Row::new(cells)
            }
            FleetLine::Host(i) => {
                let r = &rows[*i];
                let d = data_style(t, r.fresh.stale);
                let all = [
                    Cell::from(Span::styled(
                        r.name.as_str(),
                        Style::new().fg(t.colour("text")),
                    )),
                    Cell::from(Span::styled(r.status.as_str(), status_style(t, r.status))),
                    Cell::from(Span::styled(r.reach, d)),
                    Cell::from(Span::styled(r.services.as_str(), d)),
                    Cell::from(Span::styled(r.height.as_str(), d)),
                    Cell::from(Span::styled(r.peers.as_str(), d)),
                    Cell::from(Span::styled(r.disk.as_str(), d)),
                    Cell::from(Span::styled(r.backup.as_str(), d)),
                    Cell::from(Span::styled(
                        r.fresh.text(),
                        if r.fresh.stale {
                            data_style(t, true).add_modifier(Modifier::BOLD)
                        } else {
                            Style::new().fg(t.colour("text.dim"))
                        },
                    )),
                ];
                let mut cells: Vec<Cell> = keep.iter().map(|&c| all[c].clone()).collect();
                cells.push(Cell::from(Span::styled(
                    r.note.as_str(),
                    Style::new().fg(t.colour("text.dim")),
                )));
                Row::new(cells)
            }
        });
    }
}

//! The disks and backups pane: used % with its trend and a days-until-full estimate per watched
//! mount ([`DisksPane`]), and per backup set the newest file, its age, size and size change
//! against the one before ([`BackupsPane`]) — the backup manual's silent failure made loud: a
//! stale set or a backup suddenly far smaller is red. The console draws the two stacked; the
//! selection runs through the disks, then the backups.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, StatefulWidget};

use super::table::{Selection, TableSpec, data_style, pane_block, render_table, status_style};
use super::theme::Theme;
use crate::health::Status;
use crate::view::{BackupRow, DiskRow};

/// Renders [`DiskRow`]s.
pub struct DisksPane<'a> {
    /// Rows in display order.
    pub rows: &'a [DiskRow],
    /// Colours.
    pub theme: &'a Theme,
    /// Block title.
    pub title: String,
    /// Key hints.
    pub hints: String,
    /// Whether the selection is in this table.
    pub focused: bool,
}

fn host_width<'a>(names: impl Iterator<Item = &'a str>) -> u16 {
    names
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 20) as u16
}

impl StatefulWidget for DisksPane<'_> {
    type State = Selection;

    fn render(self, area: Rect, buf: &mut Buffer, sel: &mut Selection) {
        let t = self.theme;
        let rows = self.rows;
        let spec = TableSpec {
            block: pane_block(t, self.title, self.hints, self.focused),
            header: vec![
                "HOST", "MOUNT", "USED", "SIZE", "AVAIL", "TREND", "FULL IN", "NOTE",
            ],
            widths: vec![
                Constraint::Length(host_width(rows.iter().map(|r| r.host_name.as_str()))),
                Constraint::Length(
                    rows.iter()
                        .map(|r| r.mount.chars().count())
                        .max()
                        .unwrap_or(5)
                        .clamp(5, 24) as u16,
                ),
                Constraint::Length(5),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(10),
                Constraint::Length(7),
                Constraint::Min(4),
            ],
            theme: t,
            empty: "no disks configured",
            focused: self.focused,
        };
        render_table(spec, area, buf, rows.len(), sel, |i| {
            let r = &rows[i];
            let d = data_style(t, r.fresh.stale);
            let used = if r.fresh.stale {
                d
            } else {
                status_style(t, r.status)
            };
            let full_in =
                if r.status == Status::Warning && r.used_percent.is_some() && !r.fresh.stale {
                    status_style(t, Status::Warning)
                } else {
                    d
                };
            Row::new([
                Cell::from(Span::styled(
                    r.host_name.as_str(),
                    Style::new().fg(t.colour("text")),
                )),
                Cell::from(Span::styled(
                    r.mount.as_str(),
                    Style::new().fg(t.colour("text")),
                )),
                Cell::from(Span::styled(r.used.as_str(), used)),
                Cell::from(Span::styled(r.size.as_str(), d)),
                Cell::from(Span::styled(r.avail.as_str(), d)),
                Cell::from(Span::styled(r.trend.as_str(), d)),
                Cell::from(Span::styled(r.full_in.as_str(), full_in)),
                Cell::from(Span::styled(
                    r.error.as_deref().unwrap_or(""),
                    Style::new().fg(t.colour("text.dim")),
                )),
            ])
        });
    }
}

/// Renders [`BackupRow`]s.
pub struct BackupsPane<'a> {
    /// Rows in display order.
    pub rows: &'a [BackupRow],
    /// Colours.
    pub theme: &'a Theme,
    /// Block title.
    pub title: String,
    /// Key hints.
    pub hints: String,
    /// Whether the selection is in this table.
    pub focused: bool,
}

impl StatefulWidget for BackupsPane<'_> {
    type State = Selection;

    fn render(self, area: Rect, buf: &mut Buffer, sel: &mut Selection) {
        let t = self.theme;
        let rows = self.rows;
        let wide = area.width >= 100;
        let mut header = vec!["HOST", "SET", "AGE", "EVERY", "SIZE", "CHANGE"];
        let mut widths = vec![
            Constraint::Length(host_width(rows.iter().map(|r| r.host_name.as_str()))),
            Constraint::Length(
                rows.iter()
                    .map(|r| r.name.chars().count())
                    .max()
                    .unwrap_or(3)
                    .clamp(3, 16) as u16,
            ),
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Length(9),
            Constraint::Length(6),
        ];
        if wide {
            header.push("NEWEST");
            widths.push(Constraint::Length(34));
        }
        header.push("NOTE");
        widths.push(Constraint::Min(4));
        let spec = TableSpec {
            block: pane_block(t, self.title, self.hints, self.focused),
            header,
            widths,
            theme: t,
            empty: "no backup sets configured",
            focused: self.focused,
        };
        render_table(spec, area, buf, rows.len(), sel, |i| {
            let r = &rows[i];
            let d = data_style(t, r.fresh.stale);
            let flag = |bad: bool| {
                if bad && !r.fresh.stale {
                    status_style(t, Status::Critical)
                } else {
                    d
                }
            };
            let note = match (&r.error, r.stale, r.shrunk) {
                (Some(e), _, _) => e.clone(),
                (None, true, _) if r.newest == "none" => "no backup file".into(),
                (None, true, true) => "stale and shrunk".into(),
                (None, true, false) => "stale".into(),
                (None, false, true) => "shrunk".into(),
                _ => String::new(),
            };
            let mut cells = vec![
                Cell::from(Span::styled(
                    r.host_name.as_str(),
                    Style::new().fg(t.colour("text")),
                )),
                Cell::from(Span::styled(
                    r.name.as_str(),
                    Style::new().fg(t.colour("text")),
                )),
                Cell::from(Span::styled(r.age.as_str(), flag(r.stale))),
                Cell::from(Span::styled(
                    r.every.as_str(),
                    Style::new().fg(t.colour("text.dim")),
                )),
                Cell::from(Span::styled(r.size.as_str(), d)),
                Cell::from(Span::styled(r.change.as_str(), flag(r.shrunk))),
            ];
            if wide {
                cells.push(Cell::from(Span::styled(r.newest.as_str(), d)));
            }
            cells.push(Cell::from(Span::styled(note, status_style(t, r.status))));
            Row::new(cells)
        });
    }
}

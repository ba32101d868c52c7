//! The disks and backups pane: used % with its trend and a days-until-full estimate per watched
//! mount, and per backup set the newest file, its age, size and size change against the one
//! before — the backup manual's silent failure made loud: a stale set or a backup suddenly far
//! smaller is red. [`Disks`] draws the two tables stacked; the selection runs through the
//! disks, then the backups.

use std::any::Any;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, StatefulWidget};

use super::panes::{Pane, PaneContent, PaneSpec};
use super::table::{
    Selection, TablePane, TableSpec, data_style, pane_block, render_table, status_style,
};
use super::{App, Model};
use crate::health::Status;
use crate::view::{self, BackupRow, DiskRow};

/// The disks pane in the registry.
pub const SPEC: PaneSpec = PaneSpec {
    pane: Pane::Disks,
    name: "disks",
    label: "Disks",
    context: None,
    shown: PaneSpec::always,
    build: build_disks,
    keys: None,
};

/// The pane's rows: the disks, then the backups (one selection runs through both).
pub struct Disks {
    /// Watched mounts.
    pub disks: Vec<DiskRow>,
    /// Backup sets.
    pub backups: Vec<BackupRow>,
    /// The hosts and the filter the rows were built for: a next build for the same ones
    /// reuses the rows of the hosts that did not change.
    built_for: (Vec<usize>, Option<String>),
}

/// What a build hands the next one.
struct Reusable {
    disks: Vec<DiskRow>,
    backups: Vec<BackupRow>,
    built_for: (Vec<usize>, Option<String>),
}

fn build_disks(cx: &super::panes::BuildCx) -> Box<dyn PaneContent> {
    let built_for = (cx.hosts.clone(), cx.filter.map(|f| f.text().to_string()));
    let (disks, backups, built_at) = match cx.previous::<Reusable>() {
        Some((v, r)) if r.built_for == built_for => (r.disks, r.backups, Some(v)),
        _ => (Vec::new(), Vec::new(), None),
    };
    let keeps = |fields: Vec<&str>| cx.filter.is_none_or(|f| f.keeps(fields));
    Box::new(Disks {
        disks: view::refresh_disk_rows(&cx.ctx, &cx.hosts, disks, built_at, |r| {
            keeps(r.filter_fields().collect())
        }),
        backups: view::refresh_backup_rows(&cx.ctx, &cx.hosts, backups, built_at, |r| {
            keeps(r.filter_fields().collect())
        }),
        built_for,
    })
}

impl PaneContent for Disks {
    fn len(&self, _: &Model) -> usize {
        self.disks.len() + self.backups.len()
    }

    fn host_at(&self, _: &Model, i: usize) -> Option<usize> {
        let (d, b) = (&self.disks, &self.backups);
        d.get(i)
            .map(|r| r.host)
            .or_else(|| b.get(i - d.len().min(i)).map(|r| r.host))
    }

    fn render(&self, app: &mut App, _: &Model, frame: &mut Frame, area: Rect, hints: String) {
        let (disks, backups) = (&self.disks, &self.backups);
        let disks_title = app.pane_title("disks", disks.len());
        let backups_title = app.pane_title("backups", backups.len());
        let sel = *app.sels.entry(Pane::Disks).or_default();
        let total = disks.len() + backups.len();
        let selected = sel.selected.min(total.saturating_sub(1));
        let want = (disks.len() as u16 + 3).max(5);
        let [top, bottom] = Layout::vertical([
            Constraint::Max(want.min(area.height / 2).max(4)),
            Constraint::Min(4),
        ])
        .areas(area);
        let in_disks = selected < disks.len();
        if in_disks {
            app.disk_sels[0].selected = selected;
        } else {
            app.disk_sels[1].selected = selected - disks.len();
        }
        TablePane {
            rows: &disks[..],
            theme: &app.theme,
            title: disks_title,
            hints: String::new(),
            focused: in_disks,
        }
        .render(top, frame.buffer_mut(), &mut app.disk_sels[0]);
        TablePane {
            rows: &backups[..],
            theme: &app.theme,
            title: backups_title,
            hints,
            focused: !in_disks,
        }
        .render(bottom, frame.buffer_mut(), &mut app.disk_sels[1]);
        let sel = app.sels.entry(Pane::Disks).or_default();
        sel.selected = selected;
        sel.body = Rect::default();
    }

    fn row_at(&self, app: &App, x: u16, y: u16) -> Option<usize> {
        if let Some(r) = app.disk_sels[0].row_at(x, y) {
            return Some(r);
        }
        app.disk_sels[1].row_at(x, y).map(|r| r + self.disks.len())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn take_reusable(&mut self) -> Option<Box<dyn Any>> {
        Some(Box::new(Reusable {
            disks: std::mem::take(&mut self.disks),
            backups: std::mem::take(&mut self.backups),
            built_for: std::mem::take(&mut self.built_for),
        }))
    }
}

fn host_width<'a>(names: impl Iterator<Item = &'a str>) -> u16 {
    names
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 20) as u16
}

/// Draws [`DiskRow`]s.
impl StatefulWidget for TablePane<'_, [DiskRow]> {
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

/// Draws [`BackupRow`]s.
impl StatefulWidget for TablePane<'_, [BackupRow]> {
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

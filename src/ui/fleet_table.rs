//! The fleet table: one row per host (under group headings when grouped), worst news in colour.
//! Each value cell ages on its own: once the data behind it is older than twice its probe's
//! interval it is drawn in the `stale` slot with its age after it (`82% ·3m`), and its column
//! widens to keep that visible; fresh cells stay bare. AGE shows the oldest cell of the row.
//! Columns that do not fit are dropped by priority, the NOTE column last of all.

use std::any::Any;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, StatefulWidget};

use super::keymap::Context;
use super::panes::{Pane, PaneContent, PaneSpec};
use super::table::{
    Selection, TableSpec, data_style, fit_columns, pane_block, render_table, status_style,
};
use super::theme::Theme;
use super::{App, Model};
use crate::health::Status;
use crate::view::{self, FleetLine, FleetRow};

pub use super::table::status_slot;

/// The fleet table in the registry: first in the Tab cycle while no host is looked at.
pub const SPEC: PaneSpec = PaneSpec {
    pane: Pane::Fleet,
    name: "fleet",
    label: "Fleet",
    context: Some(Context::Fleet),
    shown: |app| app.host.is_none(),
    build: |_| Box::new(Fleet),
    keys: None,
};

/// The fleet table's rows are the console's own ([`Model`]'s rows and lines, which the status
/// line's summary counts too), so this holds nothing.
pub struct Fleet;

impl PaneContent for Fleet {
    fn len(&self, model: &Model) -> usize {
        model.lines.len()
    }

    fn host_at(&self, model: &Model, i: usize) -> Option<usize> {
        match model.lines.get(i)? {
            FleetLine::Host(k) => Some(model.rows[*k].host),
            FleetLine::Group { .. } => None,
        }
    }

    fn render(&self, app: &mut App, model: &Model, frame: &mut Frame, area: Rect, hints: String) {
        let title = fleet_title(app, model);
        let marked = app.turned_bad();
        let picked: Vec<usize> = app.marks.iter().copied().collect();
        let sel = app.sels.entry(Pane::Fleet).or_default();
        FleetTable {
            rows: &model.rows,
            lines: &model.lines,
            marked: &marked,
            picked: &picked,
            widths: model.fleet_widths,
            theme: &app.theme,
            title,
            hints,
        }
        .render(area, frame.buffer_mut(), sel);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The fleet table's title: hosts shown, then the query that shapes them.
fn fleet_title(app: &App, model: &Model) -> String {
    let query = &app.query;
    let shown = model
        .lines
        .iter()
        .filter(|l| matches!(l, FleetLine::Host(_)))
        .count();
    let n = model.rows.len();
    let mut title = if shown == n || query.group_by != view::GroupBy::None {
        format!(" {} — {n} hosts", app.fleet.name)
    } else {
        format!(" {} — {shown} of {n} hosts", app.fleet.name)
    };
    if let Some(g) = &query.group {
        title.push_str(&format!(" · group {g}"));
    }
    if !app.marks.is_empty() {
        title.push_str(&format!(" · {} marked", app.marks.len()));
    }
    if let Some(f) = &query.filter {
        title.push_str(&format!(" · /{}", f.text()));
    }
    // Said only when it moves something: with every host ok the order is the column's.
    if query.problems_first
        && model
            .rows
            .iter()
            .any(|r| r.status > crate::health::Status::Unknown)
    {
        title.push_str(" · problems first");
    }
    if query.worst_first {
        title.push_str(" · worst first");
    }
    if query.sort != view::SortColumn::Inventory || query.reverse {
        title.push_str(&format!(
            " · sort {}{}",
            query.sort.name(),
            if query.reverse { " ↑" } else { "" }
        ));
    }
    if query.group_by != view::GroupBy::None {
        title.push_str(&format!(" · by {}", query.group_by.name()));
    }
    title.push(' ');
    title
}

/// Renders arranged [`FleetRow`]s; owns no state beyond what it is given.
pub struct FleetTable<'a> {
    /// Every row (indices in `lines` point here).
    pub rows: &'a [FleetRow],
    /// Display lines: group headings and hosts.
    pub lines: &'a [FleetLine],
    /// Hosts (inventory indices) that just turned bad: their name is marked `!`.
    pub marked: &'a [usize],
    /// Hosts the operator marked with Space (`:exec` runs on them): their name is marked `●`.
    pub picked: &'a [usize],
    /// Column widths of `lines`, measured once per model ([`ColumnWidths::of`]).
    pub widths: ColumnWidths,
    /// Colours.
    pub theme: &'a Theme,
    /// Block title.
    pub title: String,
    /// Key hints, shown right-aligned on the bottom border.
    pub hints: String,
}

/// The widths the fleet table's text needs: measured over every line when the model is built,
/// not on every frame (a redraw with nothing new draws only the lines on screen).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ColumnWidths {
    /// HOST, without marks.
    pub name: usize,
    /// REACH..BACKUP as their cells are shown, stale ages included.
    pub values: [usize; 6],
}

impl ColumnWidths {
    /// Measures `lines` of `rows`.
    pub fn of(rows: &[FleetRow], lines: &[FleetLine]) -> Self {
        let mut name = 4;
        let mut values = [0usize; 6];
        for l in lines {
            match l {
                FleetLine::Host(i) => {
                    let r = &rows[*i];
                    name = name.max(r.name.chars().count());
                    for (w, c) in values.iter_mut().zip(r.cells()) {
                        // Fresh cells fit the base width; only stale ones can widen a column.
                        if c.fresh.stale {
                            *w = (*w).max(c.width());
                        }
                    }
                }
                FleetLine::Group { label, hosts, .. } => {
                    name = name.max(label.chars().count() + 6 + hosts.to_string().len());
                }
            }
        }
        Self { name, values }
    }
}

const HEADERS: [&str; 10] = [
    "HOST", "STATUS", "REACH", "SVC", "HEIGHT", "PEERS", "DISK", "BACKUP", "AGE", "NOTE",
];

/// A value column widens by at most this much for the age of its stale cells (` ·59m`).
const MAX_AGE_SUFFIX: u16 = 6;

impl StatefulWidget for FleetTable<'_> {
    type State = Selection;

    fn render(self, area: Rect, buf: &mut Buffer, sel: &mut Selection) {
        let t = self.theme;
        let widths = self.widths;
        // A mark (`! `) widens a name; the marked hosts are few, the cached widths cover the rest.
        let mut name_width = widths.name;
        for l in self.lines {
            if let FleetLine::Host(i) = l
                && (self.marked.contains(&self.rows[*i].host)
                    || self.picked.contains(&self.rows[*i].host))
            {
                name_width = name_width.max(self.rows[*i].name.chars().count() + 2);
            }
        }
        let value_widths = widths.values;
        let name_width = name_width.clamp(4, 28) as u16;
        let value =
            |k: usize, base: u16| (value_widths[k] as u16).clamp(base, base + MAX_AGE_SUFFIX);
        // (width, priority): 0 is never dropped; higher numbers go first.
        let cols = [
            (name_width, 0),
            (8, 0),
            (value(0, 5), 4),
            (value(1, 5), 1),
            (value(2, 9), 2),
            (value(3, 5), 5),
            (value(4, 5), 1),
            (value(5, 6), 3),
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
        let marked = self.marked;
        // The theme's slots are looked up by name: once per frame, not once per cell.
        let text = Style::new().fg(t.colour("text"));
        let dim = Style::new().fg(t.colour("text.dim"));
        let data = [data_style(t, false), data_style(t, true)];
        let age_stale = data[1].add_modifier(Modifier::BOLD);
        let status = [
            Status::Ok,
            Status::Unknown,
            Status::Warning,
            Status::Critical,
        ]
        .map(|s| status_style(t, s));
        // Indexed by the enum's declaration order, which the array above follows.
        let status_of = |s: Status| status[s as usize];
        let picked = self.picked;
        let picked_style = Style::new()
            .fg(t.colour("key"))
            .add_modifier(Modifier::BOLD);
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
                let values = r.cells();
                // Only the kept columns' cells are built: each one allocates its text's lines.
                let cell = |c: usize| match c {
                    0 if picked.contains(&r.host) => {
                        Cell::from(Span::styled(format!("● {}", r.name), picked_style))
                    }
                    0 if marked.contains(&r.host) => Cell::from(Span::styled(
                        format!("! {}", r.name),
                        status_of(r.status).add_modifier(Modifier::BOLD),
                    )),
                    0 => Cell::from(Span::styled(r.name.as_str(), text)),
                    1 => Cell::from(Span::styled(r.status.as_str(), status_of(r.status))),
                    2..=7 => {
                        let v = values[c - 2];
                        Cell::from(Span::styled(v.shown(), data[usize::from(v.fresh.stale)]))
                    }
                    _ => Cell::from(Span::styled(
                        r.fresh.text(),
                        if r.fresh.stale { age_stale } else { dim },
                    )),
                };
                let mut cells: Vec<Cell> = Vec::with_capacity(keep.len() + 1);
                cells.extend(keep.iter().map(|&c| cell(c)));
                cells.push(Cell::from(Span::styled(r.note.as_str(), dim)));
                Row::new(cells)
            }
        });
    }
}

//! The fleet table: one row per host, worst news in colour.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, StatefulWidget, Table, TableState};

use super::theme::Theme;
use crate::health::Status;
use crate::report::FleetRow;

/// Renders [`FleetRow`]s; owns no state beyond what it is given.
pub struct FleetTable<'a> {
    /// Rows in display order.
    pub rows: &'a [FleetRow],
    /// Colours.
    pub theme: &'a Theme,
    /// Block title.
    pub title: String,
    /// Key hints, shown right-aligned on the bottom border.
    pub hints: String,
}

/// The theme slot for a status.
pub fn status_slot(s: Status) -> &'static str {
    match s {
        Status::Ok => "status.ok",
        Status::Warning => "status.warning",
        Status::Critical => "status.critical",
        Status::Unknown => "status.unknown",
    }
}

impl StatefulWidget for FleetTable<'_> {
    type State = TableState;

    fn render(self, area: Rect, buf: &mut Buffer, state: &mut TableState) {
        let t = self.theme;
        let header = Row::new([
            "HOST", "STATUS", "REACH", "SVC", "HEIGHT", "PEERS", "DISK", "BACKUP", "NOTE",
        ])
        .style(
            Style::new()
                .fg(t.colour("header"))
                .add_modifier(Modifier::BOLD),
        );
        let name_width = self
            .rows
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 28) as u16;
        let rows = self.rows.iter().map(|r| {
            let status_style = Style::new().fg(t.colour(status_slot(r.status)));
            let status_style = if r.status == Status::Critical {
                status_style.add_modifier(Modifier::BOLD)
            } else {
                status_style
            };
            Row::new([
                Cell::from(r.name.as_str()),
                Cell::from(Span::styled(r.status.as_str(), status_style)),
                Cell::from(r.reach),
                Cell::from(r.services.as_str()),
                Cell::from(r.height.as_str()),
                Cell::from(r.peers.as_str()),
                Cell::from(r.disk.as_str()),
                Cell::from(r.backup.as_str()),
                Cell::from(Span::styled(
                    r.note.as_str(),
                    Style::new().fg(t.colour("text.dim")),
                )),
            ])
        });
        let widths = [
            Constraint::Length(name_width),
            Constraint::Length(8),
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Length(9),
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Min(10),
        ];
        let table = Table::new(rows, widths)
            .header(header)
            .block(
                Block::new()
                    .borders(Borders::ALL)
                    .border_style(Style::new().fg(t.colour("border.focused")))
                    .title(Span::styled(
                        self.title,
                        Style::new()
                            .fg(t.colour("title"))
                            .add_modifier(Modifier::BOLD),
                    ))
                    .title_bottom(
                        Line::from(Span::styled(
                            self.hints,
                            Style::new().fg(t.colour("text.dim")),
                        ))
                        .right_aligned(),
                    ),
            )
            .row_highlight_style(
                Style::new()
                    .bg(t.colour("selected.bg"))
                    .add_modifier(Modifier::BOLD),
            )
            .highlight_symbol("▶ ");
        StatefulWidget::render(table, area, buf, state);
    }
}

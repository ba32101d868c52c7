//! What every pane's table shares: the selection with its scroll offset and the area its rows
//! were last drawn in (for mouse hits), the bordered block with title and key hints, status
//! colours, and a windowed table that builds ratatui rows only for the lines on screen — so a
//! 1000-host fleet costs what one screen of it costs.

use std::ops::Range;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, StatefulWidget, Table, TableState, Widget};

use super::theme::Theme;
use crate::health::Status;

/// A pane's selected row, its scroll offset, and where its rows were drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection {
    /// Selected row.
    pub selected: usize,
    /// First row on screen.
    pub offset: usize,
    /// The rows' area at the last draw (empty before it).
    pub body: Rect,
}

impl Selection {
    /// Keeps the selection inside `total` rows.
    pub fn clamp(&mut self, total: usize) {
        self.selected = self.selected.min(total.saturating_sub(1));
    }

    /// Scrolls so the selection is visible in `height` lines; returns the rows to draw.
    pub fn window(&mut self, total: usize, height: usize) -> Range<usize> {
        self.clamp(total);
        if height == 0 || total == 0 {
            self.offset = 0;
            return 0..0;
        }
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        self.offset = self.offset.min(total.saturating_sub(height));
        self.offset..(self.offset + height).min(total)
    }

    /// The row under the screen cell `(x, y)`, if it was drawn there.
    pub fn row_at(&self, x: u16, y: u16) -> Option<usize> {
        self.body
            .contains(Position { x, y })
            .then(|| self.offset + (y - self.body.y) as usize)
    }

    /// Lines a page move jumps.
    pub fn page(&self) -> usize {
        (self.body.height as usize).max(1)
    }
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

/// The style of a status word: its colour, bold when critical.
pub fn status_style(t: &Theme, s: Status) -> Style {
    let st = Style::new().fg(t.colour(status_slot(s)));
    if s == Status::Critical {
        st.add_modifier(Modifier::BOLD)
    } else {
        st
    }
}

/// The style of a data cell: plain text, or the `stale` slot when the data is too old.
pub fn data_style(t: &Theme, stale: bool) -> Style {
    if stale {
        Style::new()
            .fg(t.colour("stale"))
            .add_modifier(Modifier::ITALIC)
    } else {
        Style::new().fg(t.colour("text"))
    }
}

/// A pane's frame: borders, a bold title and key hints on the bottom border.
pub fn pane_block<'a>(
    t: &Theme,
    title: impl Into<Line<'a>>,
    hints: String,
    focused: bool,
) -> Block<'a> {
    let title: Line = title.into();
    let mut b = Block::new()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(t.colour(if focused { "border.focused" } else { "border" })))
        .title(
            title.style(
                Style::new()
                    .fg(t.colour("title"))
                    .add_modifier(Modifier::BOLD),
            ),
        );
    if !hints.is_empty() {
        b = b.title_bottom(
            Line::from(Span::styled(
                format!(" {hints} "),
                Style::new().fg(t.colour("text.dim")),
            ))
            .right_aligned(),
        );
    }
    b
}

/// A pane's table widget: its rows and the frame around them. Each table pane implements
/// `StatefulWidget` for `TablePane<'_, ItsRows>`, so the frame's fields are written once.
pub struct TablePane<'a, R: ?Sized> {
    /// Rows in display order.
    pub rows: &'a R,
    /// Colours.
    pub theme: &'a Theme,
    /// Block title.
    pub title: String,
    /// Key hints.
    pub hints: String,
    /// Whether the selection is in this table (a pane of two tables has one focused).
    pub focused: bool,
}

/// A table drawn through [`render_table`].
pub struct TableSpec<'a> {
    /// The frame around it.
    pub block: Block<'a>,
    /// Column titles.
    pub header: Vec<&'static str>,
    /// Column widths.
    pub widths: Vec<Constraint>,
    /// Colours.
    pub theme: &'a Theme,
    /// Shown when there are no rows.
    pub empty: &'a str,
    /// Whether the selection is shown.
    pub focused: bool,
}

/// Draws `total` rows of which only the visible ones are built by `row`.
pub fn render_table<'a>(
    spec: TableSpec<'a>,
    area: Rect,
    buf: &mut Buffer,
    total: usize,
    sel: &mut Selection,
    row: impl Fn(usize) -> Row<'a>,
) {
    let t = spec.theme;
    let inner = spec.block.inner(area);
    spec.block.render(area, buf);
    let [_, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    sel.body = body;
    if total == 0 {
        sel.selected = 0;
        sel.offset = 0;
        Paragraph::new(Line::from(Span::styled(
            format!("  {}", spec.empty),
            Style::new().fg(t.colour("text.dim")),
        )))
        .render(body, buf);
    }
    let range = sel.window(total, body.height as usize);
    let offset = range.start;
    let rows: Vec<Row> = range.map(row).collect();
    let header = Row::new(spec.header).style(
        Style::new()
            .fg(t.colour("header"))
            .add_modifier(Modifier::BOLD),
    );
    let table = Table::new(rows, spec.widths)
        .header(header)
        .row_highlight_style(
            Style::new()
                .bg(t.colour("selected.bg"))
                .add_modifier(Modifier::BOLD),
        )
        .highlight_symbol("▶ ")
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always);
    let mut state = TableState::default();
    if total > 0 && spec.focused {
        state.select(Some(sel.selected - offset));
    }
    StatefulWidget::render(table, inner, buf, &mut state);
}

/// Word-wraps `text` into lines of at most `width` columns (a word longer than that is cut),
/// so callers can indent the continuation lines under the first.
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let fits = if len == 0 {
                word.len() <= width
            } else {
                len + 1 + word.len() <= width
            };
            if fits {
                if len > 0 {
                    line.push(' ');
                    len += 1;
                }
                line.extend(word.iter());
                len += word.len();
                break;
            }
            if len > 0 {
                lines.push(std::mem::take(&mut line));
                len = 0;
                continue;
            }
            // A word wider than the column: cut it.
            let rest = word.split_off(width);
            lines.push(word.iter().collect());
            word = rest;
        }
    }
    if len > 0 || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// `prefix` then `text` wrapped to `width`, continuation lines indented under the text.
pub fn hanging<'a>(prefix: Vec<Span<'a>>, text: &str, style: Style, width: usize) -> Vec<Line<'a>> {
    let indent: usize = prefix.iter().map(|s| s.width()).sum();
    let parts = wrap_words(text, width.saturating_sub(indent).max(8));
    let mut out = Vec::with_capacity(parts.len());
    let mut prefix = Some(prefix);
    for part in parts {
        let mut spans = prefix
            .take()
            .unwrap_or_else(|| vec![Span::raw(" ".repeat(indent))]);
        spans.push(Span::styled(part, style));
        out.push(Line::from(spans));
    }
    out
}

/// Keeps only as many columns as fit in `width`, by priority (lower number = kept longer);
/// returns the indices of the kept columns in their original order.
pub fn fit_columns(widths: &[(u16, u8)], width: u16, min_last: u16) -> Vec<usize> {
    let mut keep: Vec<usize> = (0..widths.len()).collect();
    let need = |keep: &[usize]| -> u16 {
        keep.iter().map(|&i| widths[i].0 + 1).sum::<u16>() + 2 + min_last
    };
    while need(&keep) > width {
        let Some((pos, _)) = keep
            .iter()
            .enumerate()
            .filter(|(_, i)| widths[**i].1 > 0)
            .max_by_key(|(_, i)| widths[**i].1)
        else {
            break;
        };
        keep.remove(pos);
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_follows_the_selection() {
        let mut s = Selection::default();
        assert_eq!(s.window(100, 10), 0..10);
        s.selected = 15;
        assert_eq!(s.window(100, 10), 6..16);
        s.selected = 3;
        assert_eq!(s.window(100, 10), 3..13);
        s.selected = 500;
        assert_eq!(s.window(100, 10), 90..100);
        assert_eq!(s.selected, 99);
        assert_eq!(s.window(0, 10), 0..0);
        assert_eq!(s.selected, 0);
    }

    #[test]
    fn mouse_hits_map_to_rows() {
        let s = Selection {
            selected: 0,
            offset: 5,
            body: Rect::new(2, 3, 40, 10),
        };
        assert_eq!(s.row_at(10, 3), Some(5));
        assert_eq!(s.row_at(10, 12), Some(14));
        assert_eq!(s.row_at(10, 13), None);
        assert_eq!(s.row_at(1, 5), None);
    }

    #[test]
    fn words_wrap_and_long_words_are_cut() {
        assert_eq!(wrap_words("a bb ccc dddd", 6), vec!["a bb", "ccc", "dddd"]);
        assert_eq!(wrap_words("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap_words("", 4), vec![""]);
        let lines = hanging(
            vec![Span::raw("  key  ")],
            "one two three",
            Style::new(),
            15,
        );
        let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        assert_eq!(text, vec!["  key  one two", "       three"]);
    }

    #[test]
    fn columns_drop_by_priority() {
        let cols = [(10, 0), (8, 1), (5, 3), (9, 2)];
        assert_eq!(fit_columns(&cols, 200, 10), vec![0, 1, 2, 3]);
        assert_eq!(fit_columns(&cols, 45, 10), vec![0, 1, 3]);
        assert_eq!(fit_columns(&cols, 40, 10), vec![0, 1]);
        assert_eq!(fit_columns(&cols, 10, 10), vec![0]);
    }
}

//! The `?` help overlay, generated from the key map that dispatches keys and from the palette's
//! command table, so it can never describe a key that does something else. A read-only console
//! shows its own (stripped) key map and says so.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};

use super::keymap::{Context, Keymap};
use super::palette;
use super::table::hanging;
use super::theme::Theme;

/// The help text as lines of (keys, description); headings have empty keys and start with `#`.
pub fn help_entries(keymap: &Keymap, readonly: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for ctx in [
        Context::Global,
        Context::List,
        Context::Fleet,
        Context::Alerts,
        Context::Runbook,
        Context::Exec,
        Context::Logs,
    ] {
        let bindings: Vec<_> = keymap
            .bindings()
            .iter()
            .filter(|b| b.context == ctx)
            .collect();
        if bindings.is_empty() {
            continue;
        }
        out.push((String::new(), format!("# keys {}", ctx.title())));
        for b in bindings {
            out.push((b.keys_label(), b.help.to_string()));
        }
    }
    out.push((
        String::new(),
        "# commands (type : then Tab to complete)".into(),
    ));
    for c in palette::commands(readonly) {
        let mut name = format!(":{}", c.name);
        if !c.usage.is_empty() {
            name.push(' ');
            name.push_str(c.usage);
        }
        out.push((name, c.help.to_string()));
    }
    out.push((String::new(), "# mouse".into()));
    out.push(("click".into(), "select a row or a pane tab".into()));
    out.push(("click again".into(), "open the selected row's host".into()));
    out.push(("wheel".into(), "scroll the rows".into()));
    out
}

/// The help overlay, centred over `area`.
pub struct HelpOverlay<'a> {
    /// The console's key map.
    pub keymap: &'a Keymap,
    /// Read-only console.
    pub readonly: bool,
    /// Colours.
    pub theme: &'a Theme,
    /// Lines scrolled off the top.
    pub scroll: u16,
}

impl Widget for HelpOverlay<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let width = area.width.saturating_sub(4).min(110);
        let height = area.height.saturating_sub(2);
        let popup = Rect {
            x: area.x + (area.width - width) / 2,
            y: area.y + (area.height - height) / 2,
            width,
            height,
        };
        Clear.render(popup, buf);
        let mode = if self.readonly {
            " — READ-ONLY: actions that change anything are disabled"
        } else {
            ""
        };
        let block = Block::new()
            .borders(Borders::ALL)
            .border_style(Style::new().fg(t.colour("border.focused")))
            .title(Span::styled(
                format!(" Help{mode} "),
                Style::new()
                    .fg(t.colour("title"))
                    .add_modifier(Modifier::BOLD),
            ))
            .title_bottom(
                Line::from(Span::styled(
                    " j/k scroll  Esc/? close ",
                    Style::new().fg(t.colour("text.dim")),
                ))
                .right_aligned(),
            );
        let entries = help_entries(self.keymap, self.readonly);
        // Sized for the key bindings; a longer command usage just pushes its text along.
        let key_width = self
            .keymap
            .bindings()
            .iter()
            .map(|b| b.keys_label().chars().count())
            .max()
            .unwrap_or(0);
        let inner_width = popup.width.saturating_sub(2) as usize;
        let lines: Vec<Line> = entries
            .into_iter()
            .flat_map(|(keys, text)| {
                if keys.is_empty() {
                    vec![Line::from(Span::styled(
                        text.trim_start_matches("# ").to_string(),
                        Style::new()
                            .fg(t.colour("header"))
                            .add_modifier(Modifier::BOLD),
                    ))]
                } else {
                    hanging(
                        vec![Span::styled(
                            format!("  {keys:<key_width$}  "),
                            Style::new().fg(t.colour("key")),
                        )],
                        &text,
                        Style::new().fg(t.colour("text")),
                        inner_width,
                    )
                }
            })
            .collect();
        Paragraph::new(lines)
            .block(block)
            .scroll((self.scroll, 0))
            .render(popup, buf);
    }
}

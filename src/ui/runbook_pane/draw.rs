//! Drawing the runbook pane: the catalog when no run has begun; else the header (timers first,
//! targets, who), the path taken beside the selected visit's per-host results, and at the bottom
//! the open question with its editor or the latest progress. It reads the pane's state and
//! changes only the selection's window.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::{PaneDraw, RunbookPane};
use crate::runbook::StepStatus;
use crate::ui::table::{Selection, pane_block};

impl RunbookPane {
    /// Draws the pane.
    pub fn render(&mut self, frame: &mut Frame, area: Rect, sel: &mut Selection, with: PaneDraw) {
        let PaneDraw {
            theme: t,
            hints,
            catalog,
            now,
        } = with;
        let dim = Style::new().fg(t.colour("text.dim"));
        let Some(view) = &self.view else {
            let block = pane_block(t, " runbook ", hints, true);
            let mut lines: Vec<Line> = self.log.iter().map(|l| Line::from(l.clone())).collect();
            if lines.is_empty() {
                lines.push(Line::from(Span::styled(
                    "  no runbook is running — start one with :run NAME [HOSTS], or x on a host",
                    dim,
                )));
                lines.push(Line::from(""));
                for (name, title) in catalog {
                    lines.push(Line::from(vec![
                        Span::styled(format!("  {name:<18}"), Style::new().fg(t.colour("key"))),
                        Span::raw(title.clone()),
                    ]));
                }
            }
            frame.render_widget(
                Paragraph::new(lines)
                    .block(block)
                    .wrap(Wrap { trim: false }),
                area,
            );
            return;
        };

        let state = match (&view.outcome, self.active, view.suspended) {
            (Some(o), _, _) => o.kind.as_str().to_string(),
            (None, _, true) => "suspended".into(),
            (None, true, _) if self.question.is_some() => "waiting for you".into(),
            (None, true, _) => "running".into(),
            (None, false, _) => "stopped".into(),
        };
        let title = format!(
            " runbook {} — {}{} · {state} ",
            view.runbook,
            view.title,
            self.run_id
                .as_deref()
                .map(|id| format!(" · run {id}"))
                .unwrap_or_default()
        );
        // An open question has the keyboard and its own hints.
        let hints = if self.question.is_some() {
            String::new()
        } else {
            hints
        };
        let block = pane_block(t, title, hints, true);
        let inner = block.inner(area);
        frame.render_widget(block, area);

        let question_lines = self.question.as_ref().map(|q| q.lines(t));
        let bottom_height = match (&self.question, &question_lines) {
            (Some(q), Some(lines)) => {
                let editor = q.editor_height();
                (lines.len() as u16 + editor + 3).min(inner.height / 2 + 2)
            }
            _ => 6.min(inner.height / 3 + 1),
        };
        let [head, body, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(bottom_height),
        ])
        .areas(inner);

        // Header: timers first (an SLA must never be cut off), then targets and who.
        let mut spans = Vec::new();
        for timer in view.timers.iter().filter(|t| !t.stopped) {
            let left = timer.deadline.duration_since(now).map(|d| d.as_secs()).ok();
            let (text, slot) = match left {
                Some(s) if !timer.expired => (
                    format!(" ⏱ {} {}:{:02} left", timer.title, s / 60, s % 60),
                    if s < 120 {
                        "status.warning"
                    } else {
                        "status.ok"
                    },
                ),
                _ => {
                    let over = now
                        .duration_since(timer.deadline)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    (
                        format!(" ⏱ {} OVERDUE {}:{:02}", timer.title, over / 60, over % 60),
                        "status.critical",
                    )
                }
            };
            spans.push(Span::styled(
                text,
                Style::new().fg(t.colour(slot)).add_modifier(Modifier::BOLD),
            ));
        }
        spans.push(Span::styled("  targets ", dim));
        spans.push(Span::raw(view.targets.join(", ")));
        spans.push(Span::styled(
            format!(" · {} ({})", view.operator, view.role),
            dim,
        ));
        if view.readonly {
            spans.push(Span::styled(
                " · read-only",
                Style::new().fg(t.colour("status.warning")),
            ));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), head);

        // Body: the path taken (left), the selected visit's per-host results (right).
        let [path_area, detail_area] =
            Layout::horizontal([Constraint::Percentage(42), Constraint::Percentage(58)])
                .areas(body);
        let path_block = Block::new()
            .borders(Borders::RIGHT)
            .border_style(Style::new().fg(t.colour("border")))
            .title(Span::styled(
                format!(
                    "path — {} of {} steps",
                    view.records.len(),
                    view.steps.len()
                ),
                Style::new().fg(t.colour("header")),
            ));
        let path_inner = path_block.inner(path_area);
        frame.render_widget(path_block, path_area);
        sel.body = path_inner;
        let rows = sel.window(view.records.len(), path_inner.height as usize);
        let mut path_lines = Vec::new();
        for i in rows {
            let r = &view.records[i];
            let (mark, slot) = status_mark(r.status);
            let dangerous = view.steps.iter().any(|s| s.id == r.step && s.dangerous);
            let mut line = vec![
                Span::styled(format!("{mark} "), Style::new().fg(t.colour(slot))),
                Span::raw(r.step.clone()),
            ];
            if dangerous {
                line.push(Span::styled(" ⚠", Style::new().fg(t.colour("danger"))));
            }
            if let Some(d) = &r.decision {
                line.push(Span::styled(
                    format!(" → {d}"),
                    Style::new().fg(t.colour("key")),
                ));
            }
            let mut l = Line::from(line);
            if i == sel.selected {
                l = l.style(Style::new().bg(t.colour("selected.bg")));
            }
            path_lines.push(l);
        }
        frame.render_widget(Paragraph::new(path_lines), path_inner);

        let mut detail: Vec<Line> = Vec::new();
        if let Some(r) = view.records.get(sel.selected) {
            let (mark, slot) = status_mark(r.status);
            detail.push(Line::from(vec![
                Span::styled(format!("{mark} "), Style::new().fg(t.colour(slot))),
                Span::styled(
                    format!("{} ({})", r.title, r.kind),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
            ]));
            if !r.summary.is_empty() {
                detail.push(Line::from(format!("  {}", r.summary)));
            }
            if let Some(p) = &r.preselected {
                detail.push(Line::from(Span::styled(
                    format!("  suggested by the check: {p}"),
                    dim,
                )));
            }
            if let Some(reason) = &r.reason {
                detail.push(Line::from(format!("  reason: {reason}")));
            }
            if let Some(note) = &r.note {
                for l in note.lines() {
                    detail.push(Line::from(format!("  ✎ {l}")));
                }
            }
            for group in r.coalesced() {
                let ok = group.result.passed;
                detail.push(Line::from(vec![
                    Span::styled(
                        if ok { "  ✓ " } else { "  ✗ " },
                        Style::new().fg(t.colour(if ok { "status.ok" } else { "status.critical" })),
                    ),
                    Span::styled(
                        group.hosts.join(", "),
                        Style::new().add_modifier(Modifier::BOLD),
                    ),
                    Span::styled(format!("  {}", group.result.detail), dim),
                ]));
                for l in group
                    .result
                    .output
                    .lines()
                    .chain(group.result.stderr.lines())
                    .take(6)
                {
                    detail.push(Line::from(format!("      {l}")));
                }
            }
        } else if let Some(current) = &view.current {
            detail.push(Line::from(format!("current step: {current}")));
        }
        frame.render_widget(
            Paragraph::new(detail).wrap(Wrap { trim: false }),
            detail_area.inner(ratatui::layout::Margin::new(1, 0)),
        );

        // Bottom: the open question, or the latest progress.
        let bottom_block = Block::new()
            .borders(Borders::TOP)
            .border_style(Style::new().fg(t.colour("border")));
        match (&mut self.question, question_lines) {
            (Some(q), Some(lines)) => {
                let bottom_block = bottom_block.title(Span::styled(
                    format!(" {} ", q.hint()),
                    Style::new().fg(t.colour("text.dim")),
                ));
                let inner = bottom_block.inner(bottom);
                frame.render_widget(bottom_block, bottom);
                let editor_height = q.editor_height();
                let [text_area, editor_area] =
                    Layout::vertical([Constraint::Min(1), Constraint::Length(editor_height)])
                        .areas(inner);
                frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), text_area);
                if editor_height > 0 {
                    q.input.set_style(Style::new().fg(t.colour("text")));
                    q.input
                        .set_cursor_style(Style::new().add_modifier(Modifier::REVERSED));
                    let [prompt, field] =
                        Layout::horizontal([Constraint::Length(2), Constraint::Min(1)])
                            .areas(editor_area);
                    frame.render_widget(
                        Paragraph::new(Span::styled("› ", Style::new().fg(t.colour("key")))),
                        prompt,
                    );
                    frame.render_widget(&q.input, field);
                }
            }
            _ => {
                let inner = bottom_block.inner(bottom);
                frame.render_widget(bottom_block, bottom);
                let n = inner.height as usize;
                let skip = self.log.len().saturating_sub(n);
                let mut lines: Vec<Line> = self
                    .log
                    .iter()
                    .skip(skip)
                    .map(|l| Line::from(Span::styled(l.clone(), dim)))
                    .collect();
                // The ending is the log's last line: made to stand out.
                if let (Some((text, ok)), Some(last)) = (&self.ended, lines.last_mut()) {
                    *last = Line::from(Span::styled(
                        text.clone(),
                        Style::new()
                            .fg(t.colour(if *ok { "status.ok" } else { "status.critical" }))
                            .add_modifier(Modifier::BOLD),
                    ));
                }
                frame.render_widget(Paragraph::new(lines), inner);
            }
        }
    }
}

fn status_mark(status: StepStatus) -> (&'static str, &'static str) {
    match status {
        StepStatus::Running => ("▶", "title"),
        StepStatus::Passed => ("✓", "status.ok"),
        StepStatus::Failed => ("✗", "status.critical"),
        StepStatus::Skipped => ("↷", "status.warning"),
        StepStatus::Unknown => ("?", "status.warning"),
        StepStatus::Refused => ("⊘", "status.critical"),
    }
}

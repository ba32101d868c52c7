//! Drawing the Exec pane: the open confirmation (the runbook pane's widget), or the command's
//! state line, its groups (folded hosts, size, exit, first lines; the odd ones out in the
//! `exec.odd` slot) and the hosts that did not run it, or one entry's whole output. It reads the
//! pane's state and changes only the open output's scroll.

use std::time::{Duration, SystemTime};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::{Detail, ExecPane, ExecRun, PREVIEW_LINES, Phase, plural};
use crate::exec::{self, HostOutcome, HostResult, NotRunKind};
use crate::ui::panes::{Pane, PaneContent};
use crate::ui::table::pane_block;
use crate::ui::theme::Theme;
use crate::ui::{App, Model};

/// The pane's rows: one per group and per host that did not run the command (the command
/// itself lives in [`ExecPane`], which the console keeps across frames).
pub struct ExecRows(pub(super) usize);

impl PaneContent for ExecRows {
    fn len(&self, _: &Model) -> usize {
        self.0
    }

    fn host_at(&self, _: &Model, _: usize) -> Option<usize> {
        None
    }

    fn render(&self, app: &mut App, _: &Model, frame: &mut Frame, area: Rect, hints: String) {
        let now = app.now;
        let selected = app.sels.get(&Pane::Exec).map_or(0, |s| s.selected);
        let App { exec, theme, .. } = app;
        exec.render(frame, area, &*theme, hints, selected, now);
    }

    fn row_at(&self, _: &App, _: u16, _: u16) -> Option<usize> {
        // Groups take several lines each: the mouse only scrolls here.
        None
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

fn output_lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| l.replace('\t', "    "))
        .collect()
}

impl ExecPane {
    fn render(
        &mut self,
        frame: &mut Frame,
        area: Rect,
        t: &Theme,
        hints: String,
        selected: usize,
        now: SystemTime,
    ) {
        let dim = Style::new().fg(t.colour("text.dim"));
        if let Some(p) = &mut self.question {
            let block = pane_block(t, " exec — confirm ", String::new(), true);
            let inner = block.inner(area);
            frame.render_widget(block, area);
            let lines = p.widget.lines(t);
            let editor = p.widget.editor_height();
            // Wrapped, a long command takes several rows: the editor goes below all of them.
            let width = inner.width.max(1) as usize;
            let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(width)).sum();
            let [text, _, editor_area, _, hint] = Layout::vertical([
                Constraint::Length(rows as u16),
                Constraint::Length(1),
                Constraint::Length(editor),
                Constraint::Length(1),
                Constraint::Min(1),
            ])
            .areas(inner);
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), text);
            p.widget.input.set_style(Style::new().fg(t.colour("text")));
            p.widget
                .input
                .set_cursor_style(Style::new().add_modifier(Modifier::REVERSED));
            let [prompt, field] =
                Layout::horizontal([Constraint::Length(2), Constraint::Min(1)]).areas(editor_area);
            frame.render_widget(
                Paragraph::new(Span::styled("› ", Style::new().fg(t.colour("key")))),
                prompt,
            );
            frame.render_widget(&p.widget.input, field);
            frame.render_widget(
                Paragraph::new(Span::styled(
                    "Enter answer   Esc/Ctrl-C decline: nothing runs   Tab other panes",
                    dim,
                )),
                hint,
            );
            return;
        }
        let Some(run) = &self.run else {
            let block = pane_block(t, " exec ", hints, true);
            frame.render_widget(
                Paragraph::new(Span::styled(
                    "  no command yet — :exec COMMAND, or ! on a host (Space marks several)",
                    dim,
                ))
                .block(block),
                area,
            );
            return;
        };
        let (done, total) = run.progress();
        let took = run
            .ended
            .unwrap_or(now)
            .duration_since(run.started)
            .unwrap_or_default();
        let title = format!(" exec `{}` · on {} ", run.command, run.scope);
        let block = pane_block(t, title, hints, true);
        let inner = block.inner(area);
        frame.render_widget(block, area);

        // The state line: n/N, elapsed, and what is still awaited or how it ended.
        let mut state = vec![];
        let (word, slot) = match &run.phase {
            Phase::Starting => ("starting", "title"),
            Phase::Running if run.cancel_asked => ("cancelling", "status.warning"),
            Phase::Running => ("running", "title"),
            Phase::Done if run.results.iter().all(HostResult::ok) => ("done", "status.ok"),
            Phase::Done => ("done", "status.warning"),
            Phase::Failed(_) => ("failed", "status.critical"),
        };
        state.push(Span::styled(
            format!("{word} "),
            Style::new().fg(t.colour(slot)).add_modifier(Modifier::BOLD),
        ));
        state.push(Span::raw(format!(
            "{done}/{total} done · {}",
            elapsed(took)
        )));
        let waiting = run.waiting();
        if run.active() && !waiting.is_empty() {
            state.push(Span::styled(
                format!(" · waiting for {}", exec::hostlist::fold(&waiting)),
                dim,
            ));
        }
        if run.phase == Phase::Done {
            let ok = run.results.iter().filter(|r| r.ok()).count();
            let ran = run
                .results
                .iter()
                .filter(|r| matches!(r.outcome, HostOutcome::Ran(_)))
                .count();
            state.push(Span::styled(
                format!(
                    " · {ok} exited 0, {} failed, {} did not run",
                    ran - ok,
                    run.results.len() - ran
                ),
                dim,
            ));
        }
        let mut head = vec![Line::from(state)];
        if let Phase::Failed(why) = &run.phase {
            head.push(Line::from(Span::styled(
                why.clone(),
                Style::new().fg(t.colour("status.critical")),
            )));
        }
        let cancelled = run.cancelled();
        if !cancelled.is_empty() {
            head.push(Line::from(Span::styled(
                format!(
                    "Ctrl-C: cancelled {} ({} host{})",
                    exec::hostlist::fold(&cancelled),
                    cancelled.len(),
                    plural(cancelled.len())
                ),
                Style::new()
                    .fg(t.colour("status.warning"))
                    .add_modifier(Modifier::BOLD),
            )));
        } else if run.cancel_asked && run.phase == Phase::Done {
            head.push(Line::from(Span::styled(
                "Ctrl-C: nothing to cancel, every host had answered",
                dim,
            )));
        }
        for e in &run.audit_errors {
            head.push(Line::from(Span::styled(
                format!("audit log: exec.result not recorded for {e}"),
                Style::new().fg(t.colour("status.critical")),
            )));
        }
        let [head_area, body] = Layout::vertical([
            Constraint::Length(head.len() as u16 + 1),
            Constraint::Min(1),
        ])
        .areas(inner);
        frame.render_widget(Paragraph::new(head), head_area);

        if let Some(d) = &mut self.detail {
            d.scroll = render_detail(frame, body, t, run, *d);
            return;
        }
        let (lines, starts) = group_lines(run, t, selected);
        // Scroll so the selected entry's first line is on screen.
        let start = starts.get(selected).copied().unwrap_or(0);
        let height = body.height as usize;
        let scroll = if start + 2 <= height {
            0
        } else {
            start.saturating_sub(height / 3)
        };
        frame.render_widget(Paragraph::new(lines).scroll((scroll as u16, 0)), body);
    }
}

/// Every group (its folded hosts, size, exit, first lines), then the hosts that did not run it;
/// and the line each entry starts at.
fn group_lines(run: &ExecRun, t: &Theme, selected: usize) -> (Vec<Line<'static>>, Vec<usize>) {
    let dim = Style::new().fg(t.colour("text.dim"));
    let odd = Style::new()
        .fg(t.colour("exec.odd"))
        .add_modifier(Modifier::BOLD);
    let g = &run.grouped;
    let majority = g.groups.first().map(|f| (f.indices.len(), f.exit_code));
    let mut lines = Vec::new();
    let mut starts = Vec::new();
    for (i, group) in g.groups.iter().enumerate() {
        starts.push(lines.len());
        let n = group.indices.len();
        // The odd ones out: every group after the first, unless it is as large as the first
        // and exits alike (a tie is not a majority).
        let is_odd =
            i > 0 && majority.is_some_and(|(size, exit)| n < size || group.exit_code != exit);
        let exit = match group.exit_code {
            Some(0) => Span::styled("exit 0", Style::new().fg(t.colour("status.ok"))),
            Some(c) => Span::styled(
                format!("exit {c}"),
                Style::new().fg(t.colour("status.critical")),
            ),
            None => Span::styled(
                "no exit status",
                Style::new().fg(t.colour("status.critical")),
            ),
        };
        let marker = if i == selected { "▶ " } else { "  " };
        let mut head = vec![
            Span::styled(
                format!("{marker}{}", group.folded()),
                if is_odd {
                    odd
                } else {
                    Style::new().add_modifier(Modifier::BOLD)
                },
            ),
            Span::styled(format!(" ({n} host{}) ", plural(n)), dim),
            exit,
        ];
        if is_odd {
            head.push(Span::styled("  ≠ differs from the majority", odd));
        }
        if group.dropped_bytes > 0 {
            head.push(Span::styled(
                format!("  truncated: {} bytes dropped", group.dropped_bytes),
                Style::new().fg(t.colour("status.warning")),
            ));
        }
        let mut head = Line::from(head);
        if i == selected {
            head = head.style(Style::new().bg(t.colour("selected.bg")));
        }
        lines.push(head);
        let mut out = output_lines(&group.stdout);
        let err = output_lines(&group.stderr);
        if !err.is_empty() {
            out.push("---- stderr ----".into());
            out.extend(err);
        }
        if out.is_empty() {
            lines.push(Line::from(Span::styled("    (no output)", dim)));
        }
        for l in out.iter().take(PREVIEW_LINES) {
            lines.push(Line::from(format!("    {l}")));
        }
        if out.len() > PREVIEW_LINES {
            lines.push(Line::from(Span::styled(
                format!(
                    "    … {} more line{} (Enter shows all)",
                    out.len() - PREVIEW_LINES,
                    plural(out.len() - PREVIEW_LINES)
                ),
                dim,
            )));
        }
    }
    if !g.missing.is_empty() {
        if !g.groups.is_empty() {
            lines.push(Line::from(""));
        }
        lines.push(Line::from(Span::styled(
            format!(
                "did not run ({} host{})",
                g.missing.len(),
                plural(g.missing.len())
            ),
            Style::new()
                .fg(t.colour("header"))
                .add_modifier(Modifier::BOLD),
        )));
        for (k, m) in g.missing.iter().enumerate() {
            let entry = g.groups.len() + k;
            starts.push(lines.len());
            let marker = if entry == selected { "▶ " } else { "  " };
            let what = match m.not_run.kind {
                NotRunKind::Unreachable => "unreachable: ",
                NotRunKind::Failed => "failed: ",
                NotRunKind::TimedOut | NotRunKind::Cancelled => "",
            };
            let mut line = Line::from(vec![
                Span::styled(format!("{marker}{}", m.name), odd),
                Span::raw(format!("  {what}{}", m.not_run.reason)),
            ]);
            if entry == selected {
                line = line.style(Style::new().bg(t.colour("selected.bg")));
            }
            lines.push(line);
        }
    }
    if g.groups.is_empty() && g.missing.is_empty() {
        lines.push(Line::from(Span::styled("  no host has answered yet", dim)));
    }
    (lines, starts)
}

/// One entry's whole output (or why the host did not run it), scrolled; returns the scroll
/// kept inside the text.
fn render_detail(frame: &mut Frame, area: Rect, t: &Theme, run: &ExecRun, d: Detail) -> u16 {
    let g = &run.grouped;
    let mut lines: Vec<Line> = Vec::new();
    let title;
    if let Some(group) = g.groups.get(d.entry) {
        title = format!(
            " {} ({} host{}) · {} ",
            group.folded(),
            group.indices.len(),
            plural(group.indices.len()),
            match group.exit_code {
                Some(c) => format!("exit {c}"),
                None => "no exit status".into(),
            }
        );
        lines.extend(output_lines(&group.stdout).into_iter().map(Line::from));
        let err = output_lines(&group.stderr);
        if !err.is_empty() {
            lines.push(Line::from(Span::styled(
                "---- stderr ----",
                Style::new().fg(t.colour("header")),
            )));
            lines.extend(err.into_iter().map(Line::from));
        }
        if group.dropped_bytes > 0 {
            lines.push(Line::from(Span::styled(
                format!(
                    "[output truncated: {} bytes beyond the output cap were dropped on each]",
                    group.dropped_bytes
                ),
                Style::new().fg(t.colour("status.warning")),
            )));
        }
    } else if let Some(m) = d
        .entry
        .checked_sub(g.groups.len())
        .and_then(|k| g.missing.get(k))
    {
        title = format!(" {} · did not run ", m.name);
        lines.push(Line::from(format!(
            "{}: {}",
            m.not_run.kind.as_str(),
            m.not_run.reason
        )));
    } else {
        title = " output ".into();
    }
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(Style::new().fg(t.colour("border")))
        .title(Span::styled(title, Style::new().fg(t.colour("header"))))
        .title_bottom(
            Line::from(Span::styled(
                " ↑↓ PgUp/PgDn scroll   Esc back to the groups ",
                Style::new().fg(t.colour("text.dim")),
            ))
            .right_aligned(),
        );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let max = (lines.len() as u16).saturating_sub(inner.height);
    let scroll = d.scroll.min(max);
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
    scroll
}

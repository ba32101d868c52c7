//! The chain pane: per chain (kind and consensus group) the best height, blocks per minute and
//! the quorum of a BFT group — N, F = ⌊(N−1)/3⌋, healthy members, and whether it is one
//! failure from stalling — then per node height, lag, rate, peers, syncing and role, and a
//! height sparkline of the selected node. This is the FISCO manual's "N = 3F+1" arithmetic
//! made visible before anyone restarts a node.

use std::any::Any;
use std::collections::BTreeSet;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Sparkline, StatefulWidget, Table, Widget};

use super::panes::{BuildCx, Pane, PaneContent, PaneSpec};
use super::table::{
    Selection, TablePane, TableSpec, data_style, pane_block, render_table, status_style,
};
use super::{App, Model};
use crate::view::{self, ChainRow, ChainSummary};

/// The chain pane in the registry.
pub const SPEC: PaneSpec = PaneSpec {
    pane: Pane::Chain,
    name: "chain",
    label: "Chain",
    context: None,
    shown: PaneSpec::always,
    build: |cx| Box::new(Chain::build(cx)),
    keys: None,
};

/// The pane's rows: one summary per chain, one row per node.
pub struct Chain {
    /// One line per chain.
    pub chains: Vec<ChainSummary>,
    /// One row per node.
    pub rows: Vec<ChainRow>,
}

impl Chain {
    fn build(cx: &BuildCx) -> Chain {
        let rows = cx.keep(view::chain_rows(&cx.ctx, &cx.hosts), |r| {
            r.filter_fields().collect()
        });
        let host = cx.app.host;
        // Quorum is about the whole group: summaries count every selected member.
        let mut labels: BTreeSet<String> = rows.iter().map(|r| r.chain.clone()).collect();
        if host.is_none() && cx.filter.is_none() {
            labels.clear();
        }
        let chains = view::chain_summaries(&cx.ctx, &cx.app.selected)
            .into_iter()
            .filter(|s| labels.is_empty() && host.is_none() || labels.contains(&s.chain))
            .collect();
        Chain { chains, rows }
    }
}

impl PaneContent for Chain {
    fn len(&self, _: &Model) -> usize {
        self.rows.len()
    }

    fn host_at(&self, _: &Model, i: usize) -> Option<usize> {
        self.rows.get(i).map(|r| r.host)
    }

    fn render(&self, app: &mut App, _: &Model, frame: &mut Frame, area: Rect, hints: String) {
        let title = app.pane_title("chain nodes", self.rows.len());
        let sel = app.sels.entry(Pane::Chain).or_default();
        TablePane {
            rows: self,
            theme: &app.theme,
            title,
            hints,
            focused: true,
        }
        .render(area, frame.buffer_mut(), sel);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Draws the chain summaries, the nodes, and the selected node's height sparkline.
impl StatefulWidget for TablePane<'_, Chain> {
    type State = Selection;

    fn render(self, area: Rect, buf: &mut Buffer, sel: &mut Selection) {
        let t = self.theme;
        let chains_height = if self.rows.chains.is_empty() {
            0
        } else {
            (self.rows.chains.len() as u16).min(4) + 3
        };
        let spark_height = if area.height >= 22 { 7 } else { 0 };
        let [top, middle, bottom] = Layout::vertical([
            Constraint::Length(chains_height),
            Constraint::Min(4),
            Constraint::Length(spark_height),
        ])
        .areas(area);

        if chains_height > 0 {
            let block = Block::new()
                .borders(Borders::ALL)
                .border_style(Style::new().fg(t.colour("border")))
                .title(Span::styled(
                    " chains ",
                    Style::new()
                        .fg(t.colour("header"))
                        .add_modifier(Modifier::BOLD),
                ));
            let rows = self.rows.chains.iter().map(|c| {
                Row::new([
                    Cell::from(c.chain.as_str()),
                    Cell::from(c.nodes.to_string()),
                    Cell::from(c.best.as_str()),
                    Cell::from(c.blocks_per_min.as_str()),
                    Cell::from(Span::styled(
                        c.quorum
                            .map_or_else(|| "no consensus group".into(), |q| q.text()),
                        status_style(t, c.status),
                    )),
                ])
                .style(Style::new().fg(t.colour("text")))
            });
            let width = self
                .rows
                .chains
                .iter()
                .map(|c| c.chain.chars().count())
                .max()
                .unwrap_or(5)
                .clamp(5, 30) as u16;
            let table = Table::new(
                rows,
                [
                    Constraint::Length(width),
                    Constraint::Length(5),
                    Constraint::Length(10),
                    Constraint::Length(7),
                    Constraint::Min(10),
                ],
            )
            .header(
                Row::new(["CHAIN", "NODES", "BEST", "BLK/MIN", "QUORUM"]).style(
                    Style::new()
                        .fg(t.colour("header"))
                        .add_modifier(Modifier::BOLD),
                ),
            )
            .block(block);
            Widget::render(table, top, buf);
        }

        let host_width = self
            .rows
            .rows
            .iter()
            .map(|r| r.host_name.chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 20) as u16;
        let wide = area.width >= 100;
        let rows = &self.rows.rows[..];
        let mut header = vec!["HOST", "HEIGHT", "LAG", "BLK/MIN", "PEERS", "SYNC", "ROLE"];
        let mut widths = vec![
            Constraint::Length(host_width),
            Constraint::Length(10),
            Constraint::Length(5),
            Constraint::Length(7),
            Constraint::Length(5),
            Constraint::Length(4),
            Constraint::Length(
                rows.iter()
                    .map(|r| r.role.chars().count())
                    .max()
                    .unwrap_or(4)
                    .clamp(4, if wide { 30 } else { 10 }) as u16,
            ),
        ];
        if wide {
            header.push("CHAIN");
            widths.push(Constraint::Length(18));
        }
        header.push("NOTE");
        widths.push(Constraint::Min(6));
        let spec = TableSpec {
            block: pane_block(t, self.title, self.hints, self.focused),
            header,
            widths,
            theme: t,
            empty: "no chain nodes configured",
            focused: self.focused,
        };
        render_table(spec, middle, buf, rows.len(), sel, |i| {
            let r = &rows[i];
            let d = data_style(t, r.fresh.stale);
            let height_style = if r.fresh.stale {
                d
            } else {
                status_style(t, r.status)
            };
            let mut cells = vec![
                Cell::from(Span::styled(
                    r.host_name.as_str(),
                    Style::new().fg(t.colour("text")),
                )),
                Cell::from(Span::styled(r.height.as_str(), height_style)),
                Cell::from(Span::styled(r.lag.as_str(), d)),
                Cell::from(Span::styled(r.blocks_per_min.as_str(), d)),
                Cell::from(Span::styled(r.peers.as_str(), d)),
                Cell::from(Span::styled(r.syncing.as_str(), d)),
                Cell::from(Span::styled(r.role.as_str(), d)),
            ];
            if wide {
                cells.push(Cell::from(Span::styled(r.chain.as_str(), d)));
            }
            // Why the node is not healthy matters more than which client it runs.
            cells.push(if r.problem.is_empty() {
                Cell::from(Span::styled(
                    r.client.as_str(),
                    Style::new().fg(t.colour("text.dim")),
                ))
            } else {
                Cell::from(Span::styled(r.problem.as_str(), status_style(t, r.status)))
            });
            Row::new(cells)
        });

        if spark_height == 0 {
            return;
        }
        let Some(r) = rows.get(sel.selected) else {
            return;
        };
        let title = Line::from(vec![Span::styled(
            format!(
                " height of {} — {} blocks over {} samples ",
                r.host_name,
                r.spark.last().copied().unwrap_or(0),
                r.spark.len()
            ),
            Style::new()
                .fg(t.colour("header"))
                .add_modifier(Modifier::BOLD),
        )]);
        let block = Block::new()
            .borders(Borders::ALL)
            .border_style(Style::new().fg(t.colour("border")))
            .title(title);
        // The newest samples that fit, right-aligned like a strip chart.
        let inner_width = bottom.width.saturating_sub(2) as usize;
        let data: &[u64] = &r.spark[r.spark.len().saturating_sub(inner_width)..];
        Sparkline::default()
            .block(block)
            .data(data)
            .style(Style::new().fg(t.colour("chart")))
            .render(bottom, buf);
    }
}

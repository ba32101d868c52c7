//! The host pane (Enter on a host): its facts in the spirit of the manuals' server-inventory
//! script (address, reachability, uptime, load, kernel, CPU, memory and swap, filesystems, MAC
//! addresses, recent logins) and everything the other panes know about it — alerts, services,
//! chain, disks, backups, certificates, logs — on one scrollable page; two columns when the
//! terminal is wide enough. Each section's values age with their own probe, as in the fleet
//! table: once stale they are drawn in the `stale` slot with their age after the status word
//! (`running ·3m`).

use std::any::Any;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, StatefulWidget, Widget};

use super::panes::{BuildCx, Empty, Pane, PaneContent, PaneSpec};
use super::table::{Selection, data_style, hanging, pane_block, status_style};
use super::theme::Theme;
use super::{App, Model};
use crate::health::Status;
use crate::view::{
    self, AlertRow, BackupRow, CertRow, ChainRow, ChainSummary, DiskRow, Fact, Freshness, LogRow,
    PostureRow, ServiceRow,
};

/// The host pane in the registry: first in the Tab cycle while a host is looked at.
pub const SPEC: PaneSpec = PaneSpec {
    pane: Pane::Host,
    name: "host",
    label: "Host",
    context: None,
    shown: |app| app.host.is_some(),
    build: |cx| match cx.app.host {
        None => Box::new(Empty),
        Some(h) => Box::new(HostRows::build(cx, h)),
    },
    keys: None,
};

/// Everything the other panes know about one host, as their rows.
pub struct HostRows {
    host: usize,
    facts: Vec<Fact>,
    alerts: Vec<AlertRow>,
    services: Vec<ServiceRow>,
    chain: Vec<ChainRow>,
    chain_summary: Vec<ChainSummary>,
    disks: Vec<DiskRow>,
    backups: Vec<BackupRow>,
    certs: Vec<CertRow>,
    logs: Vec<LogRow>,
    posture: Vec<PostureRow>,
}

impl HostRows {
    fn build(cx: &BuildCx, h: usize) -> HostRows {
        let ctx = &cx.ctx;
        let one = [h];
        let chain = view::chain_rows(ctx, &one);
        let chain_summary = match cx.ctx.fleet.hosts[h].consensus_group {
            Some(_) => {
                // The quorum counts every member of the group, not just this host.
                let label = chain.first().map(|c| c.chain.clone());
                view::chain_summaries(ctx, &cx.app.selected)
                    .into_iter()
                    .filter(|s| Some(&s.chain) == label.as_ref())
                    .collect()
            }
            None => Vec::new(),
        };
        let mut facts = view::host_facts(ctx, h);
        // How the host is reached, right under its address, when that is not direct: a host
        // behind a bastion that is down says so in `reachable`, and this names the bastion.
        let via = &cx.ctx.fleet.hosts[h].via;
        if !via.is_empty() {
            let at = facts
                .iter()
                .position(|f| f.label == "address")
                .map_or(0, |i| i + 1);
            facts.insert(
                at,
                Fact {
                    label: "route",
                    value: format!("via {}", via.join(" → ")),
                },
            );
        }
        let mut alerts = view::alert_rows(ctx, &one, cx.alerts);
        if let Some(am) = cx.app.am_status() {
            alerts.extend(view::external_alert_rows(
                ctx,
                view::ExternalScope::Hosts(&one),
                am,
            ));
        }
        HostRows {
            host: h,
            facts,
            alerts,
            services: view::service_rows(ctx, &one),
            chain,
            chain_summary,
            disks: view::disk_rows(ctx, &one),
            backups: view::backup_rows(ctx, &one),
            certs: view::cert_rows(ctx, &one),
            logs: view::log_rows(ctx, &one),
            posture: view::posture_rows(ctx, &one),
        }
    }
}

impl PaneContent for HostRows {
    /// The host pane scrolls rather than selects: no rows to move through.
    fn len(&self, _: &Model) -> usize {
        0
    }

    fn host_at(&self, _: &Model, _: usize) -> Option<usize> {
        Some(self.host)
    }

    fn render(&self, app: &mut App, _: &Model, frame: &mut Frame, area: Rect, hints: String) {
        let h = self;
        let title = format!(" {} ", app.fleet.hosts[h.host].name);
        let sel = app.sels.entry(Pane::Host).or_default();
        HostPane {
            facts: &h.facts,
            alerts: &h.alerts,
            services: &h.services,
            chain: h.chain.first(),
            chain_summary: h.chain_summary.first(),
            disks: &h.disks,
            backups: &h.backups,
            certs: &h.certs,
            logs: &h.logs,
            posture: h.posture.first(),
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

/// Everything known about one host, as rows of the other panes.
pub struct HostPane<'a> {
    /// Facts, in display order.
    pub facts: &'a [Fact],
    /// Its alerts.
    pub alerts: &'a [AlertRow],
    /// Its services.
    pub services: &'a [ServiceRow],
    /// Its chain node.
    pub chain: Option<&'a ChainRow>,
    /// The chain it belongs to (with the quorum of its consensus group).
    pub chain_summary: Option<&'a ChainSummary>,
    /// Its disks.
    pub disks: &'a [DiskRow],
    /// Its backup sets.
    pub backups: &'a [BackupRow],
    /// Its certificates.
    pub certs: &'a [CertRow],
    /// Its logs.
    pub logs: &'a [LogRow],
    /// Its security posture.
    pub posture: Option<&'a PostureRow>,
    /// Colours.
    pub theme: &'a Theme,
    /// Block title.
    pub title: String,
    /// Key hints.
    pub hints: String,
}

fn heading<'a>(t: &Theme, text: &str) -> Line<'a> {
    Line::from(Span::styled(
        text.to_string(),
        Style::new()
            .fg(t.colour("header"))
            .add_modifier(Modifier::BOLD),
    ))
}

fn dim<'a>(t: &Theme, text: impl Into<String>) -> Line<'a> {
    Line::from(Span::styled(
        format!("  {}", text.into()),
        Style::new().fg(t.colour("text.dim")),
    ))
}

/// `  critical message…`, the message wrapped under itself; a stale value in the `stale`
/// slot with its age after the word (`running ·3m`).
fn status_line<'a>(
    w: usize,
    t: &Theme,
    status: Status,
    word: &str,
    rest: String,
    fresh: Freshness,
) -> Vec<Line<'a>> {
    let word_style = if fresh.stale {
        data_style(t, true)
    } else {
        status_style(t, status)
    };
    let word = format!("{word}{}", fresh.suffix());
    hanging(
        vec![
            Span::raw("  "),
            Span::styled(format!("{word:<8} "), word_style),
        ],
        &rest,
        data_style(t, fresh.stale),
        w,
    )
}

impl HostPane<'_> {
    fn facts_lines(&self, w: usize) -> Vec<Line<'static>> {
        let t = self.theme;
        let mut out = vec![heading(t, "facts")];
        let width = self.facts.iter().map(|f| f.label.len()).max().unwrap_or(0);
        for f in self.facts {
            let style = match (f.label, f.value.as_str()) {
                ("status", v) => status_style(
                    t,
                    match v {
                        "ok" => Status::Ok,
                        "warning" => Status::Warning,
                        "critical" => Status::Critical,
                        _ => Status::Unknown,
                    },
                ),
                ("data", v) if v.contains("stale") => data_style(t, true),
                _ => Style::new().fg(t.colour("text")),
            };
            out.extend(hanging(
                vec![Span::styled(
                    format!("  {:<width$}  ", f.label),
                    Style::new().fg(t.colour("text.dim")),
                )],
                &f.value,
                style,
                w,
            ));
        }
        out.push(Line::raw(""));
        out.push(heading(t, &format!("alerts ({})", self.alerts.len())));
        if self.alerts.is_empty() {
            out.push(dim(t, "none"));
        }
        for a in self.alerts {
            out.extend(status_line(
                w,
                t,
                a.status(),
                &a.severity_text,
                match &a.source {
                    view::AlertOrigin::Fleetdeck => {
                        format!("{}: {} [{}]", a.rule, a.message, a.phase.text())
                    }
                    _ => format!(
                        "{}: {} [{}, alertmanager]",
                        a.rule,
                        a.message,
                        a.phase.text()
                    ),
                },
                Freshness::default(),
            ));
        }
        out
    }

    fn detail_lines(&self, w: usize) -> Vec<Line<'static>> {
        let t = self.theme;
        let mut out = vec![heading(t, "services")];
        if self.services.is_empty() {
            out.push(dim(t, "none configured"));
        }
        for s in self.services {
            let mut rest = format!("{} ({})", s.name, s.kind);
            if s.since != "-" {
                rest.push_str(&format!(", since {}", s.since));
            }
            if s.restarts != "-" {
                rest.push_str(&format!(", {} restarts", s.restarts));
            }
            if !s.detail.is_empty() {
                rest.push_str(&format!(" — {}", s.detail));
            }
            out.extend(status_line(w, t, s.status, s.state, rest, s.fresh));
            for l in s.last_failure.iter().rev().take(2).rev() {
                out.push(dim(t, format!("  │ {l}")));
            }
        }
        out.push(Line::raw(""));
        out.push(heading(t, "chain"));
        match self.chain {
            None => out.push(dim(t, "no chain node")),
            Some(c) => {
                out.extend(status_line(
                    w,
                    t,
                    c.status,
                    &c.height,
                    format!(
                        "{} — lag {}, {} blk/min, peers {}, syncing {}, role {}",
                        c.kind, c.lag, c.blocks_per_min, c.peers, c.syncing, c.role
                    ),
                    c.fresh,
                ));
                if let Some(q) = self.chain_summary.and_then(|s| s.quorum.map(|q| (s, q))) {
                    out.extend(status_line(
                        w,
                        t,
                        q.1.status(),
                        "quorum",
                        format!("{} {}", q.0.chain, q.1.text()),
                        Freshness::default(),
                    ));
                }
            }
        }
        out.push(Line::raw(""));
        out.push(heading(t, "disks"));
        if self.disks.is_empty() {
            out.push(dim(t, "none configured"));
        }
        for d in self.disks {
            out.extend(status_line(
                w,
                t,
                d.status,
                &d.used,
                format!(
                    "{} of {} ({} free), trend {}, full in {}{}",
                    d.mount,
                    d.size,
                    d.avail,
                    d.trend,
                    d.full_in,
                    d.error
                        .as_deref()
                        .map(|e| format!(" — {e}"))
                        .unwrap_or_default()
                ),
                d.fresh,
            ));
        }
        out.push(Line::raw(""));
        out.push(heading(t, "backups"));
        if self.backups.is_empty() {
            out.push(dim(t, "none configured"));
        }
        for b in self.backups {
            out.extend(status_line(
                w,
                t,
                b.status,
                &b.age,
                format!(
                    "{}: {} {} ({}), every {}{}",
                    b.name,
                    b.newest,
                    b.size,
                    b.change,
                    b.every,
                    b.error
                        .as_deref()
                        .map(|e| format!(" — {e}"))
                        .unwrap_or_default()
                ),
                b.fresh,
            ));
        }
        out.push(Line::raw(""));
        out.push(heading(t, "certificates"));
        if self.certs.is_empty() {
            out.push(dim(t, "none configured"));
        }
        for c in self.certs {
            out.extend(status_line(
                w,
                t,
                c.status,
                &c.expires_in,
                format!(
                    "{} ({}) until {}{}",
                    c.name,
                    c.path,
                    c.not_after,
                    c.error
                        .as_deref()
                        .map(|e| format!(" — {e}"))
                        .unwrap_or_default()
                ),
                c.fresh,
            ));
        }
        out.push(Line::raw(""));
        out.push(heading(t, "logs"));
        if self.logs.is_empty() {
            out.push(dim(t, "none configured"));
        }
        for l in self.logs {
            out.extend(status_line(
                w,
                t,
                l.status,
                &format!("{}E {}W", l.errors, l.warnings),
                format!(
                    "{} ({}) over {}{}",
                    l.name,
                    l.origin,
                    l.window,
                    l.error
                        .as_deref()
                        .map(|e| format!(" — {e}"))
                        .unwrap_or_default()
                ),
                l.fresh,
            ));
            if !l.modules.is_empty() {
                out.push(dim(t, format!("  {}", l.modules.join("  "))));
            }
            if let Some(last) = l.recent.last() {
                out.push(dim(t, format!("  │ {last}")));
            }
        }
        // A host whose posture is not read has no section (no noise for fleets without it).
        let Some(p) = self.posture.filter(|p| p.enabled) else {
            return out;
        };
        out.push(Line::raw(""));
        out.push(heading(t, "posture"));
        if p.checks.is_empty() {
            out.push(dim(t, p.note.clone()));
        }
        for (c, (_, status)) in p.checks.iter().zip(&p.cells) {
            out.extend(status_line(
                w,
                t,
                *status,
                c.state.mark(),
                format!("{}: {}", c.check.key(), c.detail),
                p.fresh,
            ));
        }
        out
    }
}

impl StatefulWidget for HostPane<'_> {
    type State = Selection;

    fn render(self, area: Rect, buf: &mut Buffer, sel: &mut Selection) {
        let block = pane_block(self.theme, self.title.clone(), self.hints.clone(), true);
        let inner = block.inner(area);
        block.render(area, buf);
        // The host pane scrolls instead of selecting: no rows for the mouse to hit.
        sel.body = Rect::default();
        let height = inner.height as usize;
        let columns: Vec<(Rect, Vec<Line>)> = if inner.width >= 110 {
            let [left, right] =
                Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                    .spacing(2)
                    .areas(inner);
            vec![
                (left, self.facts_lines(left.width as usize)),
                (right, self.detail_lines(right.width as usize)),
            ]
        } else {
            let w = inner.width as usize;
            let mut all = self.facts_lines(w);
            all.push(Line::raw(""));
            all.extend(self.detail_lines(w));
            vec![(inner, all)]
        };
        let longest = columns.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
        sel.selected = sel.selected.min(longest.saturating_sub(height));
        sel.offset = sel.selected;
        for (rect, lines) in columns {
            Paragraph::new(lines)
                .scroll((sel.selected as u16, 0))
                .render(rect, buf);
        }
    }
}

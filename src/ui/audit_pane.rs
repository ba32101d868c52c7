//! The audit pane: the newest records of the audit log, newest first — who did what, where, with
//! what result — and whether the whole hash chain still verifies, so an operator sees at a glance
//! both the last actions of an incident and that nobody has edited the record of them.
//!
//! Reading the log is file I/O and verifying it hashes every line, so [`AuditSnapshot::load`] is
//! called off the drawing path (the console's event loop runs it on a blocking thread when the
//! file changed while the pane is on screen); the pane only draws a snapshot.

use std::any::Any;
use std::path::Path;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, StatefulWidget};

use super::panes::{BuildCx, Pane, PaneContent, PaneSpec};
use super::table::{Selection, TableSpec, pane_block, render_table};
use super::theme::Theme;
use super::{App, Model};
use crate::audit::{self, AuditRecord};
use crate::report;

/// The audit pane in the registry: in consoles given an audit log.
pub const SPEC: PaneSpec = PaneSpec {
    pane: Pane::Audit,
    name: "audit",
    label: "Audit",
    context: None,
    shown: |app| app.audit.is_some(),
    build: |cx| Box::new(AuditRows::build(cx)),
    keys: None,
};

/// The pane's rows: the newest records of the last snapshot read, of the host looked at.
pub struct AuditRows(pub Vec<AuditRow>);

impl AuditRows {
    fn build(cx: &BuildCx) -> AuditRows {
        let app = cx.app;
        let host = app.host.map(|h| app.fleet.hosts[h].name.as_str());
        let today = report::rfc3339(cx.ctx.now);
        let rows = match app.audit.as_ref().and_then(|a| a.snapshot.as_ref()) {
            Some(Ok(snap)) => audit_rows(snap, host, today.get(..10).unwrap_or("")),
            _ => Vec::new(),
        };
        AuditRows(cx.keep(rows, |r| r.fields()))
    }
}

impl PaneContent for AuditRows {
    fn len(&self, _: &Model) -> usize {
        self.0.len()
    }

    fn host_at(&self, _: &Model, _: usize) -> Option<usize> {
        None
    }

    fn render(&self, app: &mut App, _: &Model, frame: &mut Frame, area: Rect, hints: String) {
        let rows = &self.0;
        let snapshot = app.audit.as_ref().and_then(|a| a.snapshot.as_ref());
        let (title, intact, empty) = match snapshot {
            Some(Ok(snap)) => (
                snap.title(rows.len()),
                snap.chain.is_ok(),
                "no records (yet)",
            ),
            Some(Err(e)) => (
                format!(" audit — cannot read the log: {e} "),
                false,
                "the audit log cannot be read",
            ),
            None => (" audit ".to_string(), true, "reading the audit log…"),
        };
        let sel = app.sels.entry(Pane::Audit).or_default();
        AuditPane {
            rows,
            intact,
            theme: &app.theme,
            title,
            hints,
            empty,
        }
        .render(area, frame.buffer_mut(), sel);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Records the pane keeps (the newest ones; `fleetdeck audit show` has them all).
pub const KEPT_RECORDS: usize = 500;

/// What the pane shows of the log at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSnapshot {
    /// The newest records, newest first.
    pub records: Vec<AuditRecord>,
    /// Lines in the file.
    pub lines: u64,
    /// Lines among the newest that are not records.
    pub bad_lines: usize,
    /// Bytes after the last newline (a torn tail), if any.
    pub torn_tail: Option<u64>,
    /// The verdict on the whole chain: records verified, or what is wrong and where.
    pub chain: Result<u64, String>,
}

impl AuditSnapshot {
    /// Reads the newest [`KEPT_RECORDS`] records of `path` and verifies the whole chain. Blocks.
    /// A log that does not exist yet is an empty, intact one.
    pub fn load(path: &Path) -> Result<AuditSnapshot, String> {
        if !path.exists() {
            return Ok(AuditSnapshot {
                records: Vec::new(),
                lines: 0,
                bad_lines: 0,
                torn_tail: None,
                chain: Ok(0),
            });
        }
        let contents = audit::read_last(path, KEPT_RECORDS).map_err(|e| e.to_string())?;
        let chain = match audit::verify(path) {
            Ok(report) => match report.problem {
                None => Ok(report.records),
                Some(p) => Err(match p.line {
                    Some(line) => format!("line {line}: {}", p.detail),
                    None => p.detail,
                }),
            },
            Err(e) => Err(e.to_string()),
        };
        let lines = contents.lines.last().map_or(0, |l| l.line);
        let bad_lines = contents.lines.iter().filter(|l| l.record.is_err()).count();
        let mut records: Vec<AuditRecord> = contents
            .lines
            .into_iter()
            .filter_map(|l| l.record.ok())
            .collect();
        records.reverse();
        Ok(AuditSnapshot {
            records,
            lines,
            bad_lines,
            torn_tail: contents.torn_tail_bytes,
            chain,
        })
    }

    /// The pane's title: how many records, and the chain's verdict.
    pub fn title(&self, shown: usize) -> String {
        let verdict = match &self.chain {
            Ok(n) => format!("chain intact ({n} records)"),
            Err(e) => format!("CHAIN BROKEN — {e}"),
        };
        let torn = self
            .torn_tail
            .map(|n| format!(" · torn tail of {n} bytes (fleetdeck audit repair)"))
            .unwrap_or_default();
        format!(" audit — {shown} of {} · {verdict}{torn} ", self.lines)
    }
}

/// One record, as the pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Line / sequence number.
    pub seq: u64,
    /// `HH:MM:SS` of the record's UTC time (the date when it is not today's).
    pub time: String,
    /// `operator (role)`.
    pub who: String,
    /// The action, with `…` on a `before` record.
    pub action: String,
    /// `runbook/step`, or the command for actions outside runbooks.
    pub what: String,
    /// The host.
    pub target: String,
    /// The result, or the reason of a refusal.
    pub result: String,
    /// A refusal, a denial, a mismatch, a failure: shown in the danger colour.
    pub alarming: bool,
}

impl AuditRow {
    /// The fields a filter looks at.
    pub fn fields(&self) -> Vec<&str> {
        vec![
            &self.who,
            &self.action,
            &self.what,
            &self.target,
            &self.result,
        ]
    }
}

/// Rows of `snapshot`, only those about `host` when one is given. `today` is the UTC date
/// (`YYYY-MM-DD`) whose records show the time alone.
pub fn audit_rows(snapshot: &AuditSnapshot, host: Option<&str>, today: &str) -> Vec<AuditRow> {
    snapshot
        .records
        .iter()
        .filter(|r| host.is_none_or(|h| r.target.as_deref() == Some(h)))
        .map(|r| {
            let time = match r.time.split_once('T') {
                Some((date, rest)) if date == today => rest.chars().take(8).collect(),
                Some((date, rest)) => {
                    format!("{date} {}", rest.chars().take(8).collect::<String>())
                }
                None => r.time.clone(),
            };
            let before = matches!(r.phase, Some(audit::Phase::Before));
            let what = match (&r.runbook, &r.step) {
                (Some(rb), Some(step)) => format!("{rb}/{step}"),
                (Some(rb), None) => rb.clone(),
                _ => r.command.clone().unwrap_or_default(),
            };
            let result = r
                .result
                .clone()
                .or_else(|| r.reason.clone())
                .unwrap_or_default();
            let alarming = ["denied", "mismatch", "abort", "interrupt", "failed"]
                .iter()
                .any(|w| r.action.contains(w))
                || ["refused", "failed", "denied"]
                    .iter()
                    .any(|w| result.starts_with(w));
            AuditRow {
                seq: r.seq,
                time,
                who: format!("{} ({})", r.operator, r.role),
                action: if before {
                    format!("{} …", r.action)
                } else {
                    r.action.clone()
                },
                what,
                target: r.target.clone().unwrap_or_default(),
                result: result.replace('\n', " "),
                alarming,
            }
        })
        .collect()
}

/// Renders [`AuditRow`]s under the chain's verdict.
pub struct AuditPane<'a> {
    /// Rows, newest first.
    pub rows: &'a [AuditRow],
    /// The chain is intact.
    pub intact: bool,
    /// Colours.
    pub theme: &'a Theme,
    /// Block title (with the verdict).
    pub title: String,
    /// Key hints.
    pub hints: String,
    /// Shown with no rows.
    pub empty: &'a str,
}

impl StatefulWidget for AuditPane<'_> {
    type State = Selection;

    fn render(self, area: Rect, buf: &mut Buffer, sel: &mut Selection) {
        let t = self.theme;
        let rows = self.rows;
        let width = |f: fn(&AuditRow) -> &str, min: usize, max: usize| {
            rows.iter()
                .map(|r| f(r).chars().count())
                .max()
                .unwrap_or(min)
                .clamp(min, max) as u16
        };
        let wide = area.width >= 100;
        let verdict = if self.intact {
            Style::new().fg(t.colour("title"))
        } else {
            Style::new()
                .fg(t.colour("status.critical"))
                .add_modifier(Modifier::BOLD)
        };
        let spec = TableSpec {
            block: pane_block(
                t,
                Line::from(Span::styled(self.title, verdict)),
                self.hints,
                true,
            ),
            header: vec![
                "SEQ",
                "TIME",
                "WHO",
                "ACTION",
                "RUNBOOK/STEP",
                "TARGET",
                "RESULT",
            ],
            widths: vec![
                Constraint::Length(
                    rows.iter()
                        .map(|r| r.seq.to_string().len())
                        .max()
                        .unwrap_or(3)
                        .max(3) as u16,
                ),
                Constraint::Length(width(|r| &r.time, 8, 19)),
                Constraint::Length(width(|r| &r.who, 3, if wide { 22 } else { 8 })),
                Constraint::Length(width(|r| &r.action, 6, if wide { 18 } else { 16 })),
                Constraint::Length(width(|r| &r.what, 12, if wide { 30 } else { 14 })),
                Constraint::Length(width(|r| &r.target, 6, 16)),
                Constraint::Min(8),
            ],
            theme: t,
            empty: self.empty,
            focused: true,
        };
        render_table(spec, area, buf, rows.len(), sel, |i| {
            let r = &rows[i];
            let text = Style::new().fg(t.colour("text"));
            let dim = Style::new().fg(t.colour("text.dim"));
            let result = if r.alarming {
                Style::new().fg(t.colour("danger"))
            } else {
                text
            };
            Row::new([
                Cell::from(Span::styled(r.seq.to_string(), dim)),
                Cell::from(Span::styled(r.time.as_str(), dim)),
                Cell::from(Span::styled(r.who.as_str(), text)),
                Cell::from(Span::styled(r.action.as_str(), result)),
                Cell::from(Span::styled(r.what.as_str(), text)),
                Cell::from(Span::styled(r.target.as_str(), text)),
                Cell::from(Span::styled(r.result.as_str(), result)),
            ])
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Actor, AuditEntry, AuditLog};

    #[test]
    fn a_snapshot_holds_the_newest_records_first_and_the_chain_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let empty = AuditSnapshot::load(&path).unwrap();
        assert_eq!((empty.lines, empty.chain.clone()), (0, Ok(0)));

        let log = AuditLog::open(&path).unwrap();
        let actor = Actor::new("alice", "admin", "tty");
        log.append(
            AuditEntry::new(&actor, "alert.ack")
                .target("h1")
                .result("critical"),
        )
        .unwrap();
        log.append(
            AuditEntry::new(&actor, "denied")
                .runbook("restore")
                .step("stop")
                .reason("refused: alice is auditor (read-only)"),
        )
        .unwrap();
        let snap = AuditSnapshot::load(&path).unwrap();
        assert_eq!(snap.chain, Ok(2));
        assert_eq!(snap.records[0].action, "denied");
        let rows = audit_rows(&snap, None, "1970-01-01");
        assert_eq!(rows[0].what, "restore/stop");
        assert!(rows[0].alarming && !rows[1].alarming);
        assert!(rows[0].time.contains(' '), "another day shows its date");
        assert_eq!(audit_rows(&snap, Some("h1"), "").len(), 1);
        assert!(snap.title(2).contains("chain intact (2 records)"));

        // An edited record breaks the chain, and the pane says where.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("critical", "warning", 1)).unwrap();
        let snap = AuditSnapshot::load(&path).unwrap();
        let broken = snap.chain.clone().unwrap_err();
        assert!(broken.starts_with("line 1:"), "{broken}");
        assert!(snap.title(2).contains("CHAIN BROKEN — line 1:"));
    }
}

//! `fleetdeck audit verify | show | repair | timeline`: argument types for clap and the commands
//! themselves, writing plain text (no colours, no terminal control) to the writers they are
//! given so tests can read it; [`run`] gives them the process's stdout and stderr through
//! [`super::out`]. The log itself (format, chain, repair) is `crate::audit`'s, the timeline
//! `crate::audit::timeline`'s; this file only prints them.
//!
//! Exit codes: 0 success (for `verify`: the log is intact); 1 failure (`verify`: tampered or
//! damaged; `show`, `timeline`: lines that are not records; `repair`: could not write); 2 bad
//! usage or a log that cannot be read (missing file, permissions; `timeline`: also a `--since`
//! that does not parse, or nothing selected).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::out;
use crate::audit::{
    AuditLog, AuditRecord, LogContents, LogLine, Phase, VerifyOptions, default_path, read_log,
    verify_with,
};

/// The `fleetdeck audit` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain and the head file; print the first bad line. Exit 0 intact,
    /// 1 tampered or damaged, 2 unreadable.
    Verify {
        /// The log (default: $XDG_STATE_HOME/fleetdeck/audit.jsonl).
        file: Option<PathBuf>,
        /// Do not require the `.head` file beside the log (a copy taken without it); records
        /// removed from the end can then not be detected.
        #[arg(long)]
        no_head: bool,
        /// The verdict as one JSON document (docs/cli-json.md); the exit code is the same.
        #[arg(long)]
        json: bool,
    },
    /// Print the records as a table, or as a JSON array of the records exactly as stored.
    Show {
        /// The log (default: $XDG_STATE_HOME/fleetdeck/audit.jsonl).
        file: Option<PathBuf>,
        /// A JSON array of the stored records (each element byte-for-byte the log's line).
        #[arg(long)]
        json: bool,
        /// Only actions that started and never reported: `before` records no `after` pairs with.
        #[arg(long)]
        unfinished: bool,
    },
    /// Remove a torn tail and recreate a missing head file, recording each repair in the log.
    Repair {
        /// The log (default: $XDG_STATE_HOME/fleetdeck/audit.jsonl).
        file: Option<PathBuf>,
    },
    /// The incident timeline for a postmortem: one run's records (and the alerts acknowledged
    /// on its targets just before), or everything since a time, as a Markdown table or JSON,
    /// with the time to acknowledge and the time to fix (docs/audit.md, "Timeline").
    Timeline {
        /// The run id (`run` in `audit show --json`; printed when a run is suspended).
        #[arg(required_unless_present = "since", conflicts_with = "since")]
        run: Option<String>,
        /// Everything at or after this time: RFC 3339 (2026-12-07T10:00:00Z), a run stamp
        /// (20261207100000, UTC, as `{{run.stamp}}` gives it) or a duration before now (2h).
        #[arg(long)]
        since: Option<String>,
        /// md: a Markdown table to paste into the postmortem; json: docs/audit.md's schema.
        #[arg(long, value_enum, default_value_t = TimelineFormat::Md)]
        format: TimelineFormat,
        /// With a run id: how far before the run's first record alerts on its targets count.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        lookback: std::time::Duration,
        /// The log (default: $XDG_STATE_HOME/fleetdeck/audit.jsonl).
        #[arg(long)]
        audit_log: Option<PathBuf>,
    },
}

/// `audit timeline --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TimelineFormat {
    /// A Markdown table.
    Md,
    /// JSON (`fleetdeck.timeline/1`).
    Json,
}

/// Runs a parsed `fleetdeck audit` command on stdout/stderr; returns the exit code.
pub fn run(command: AuditCommand) -> u8 {
    let (mut out, mut err) = (out::stdout(), out::stderr());
    let code = match command {
        AuditCommand::Verify {
            file,
            no_head,
            json,
        } => cli_verify(
            file.as_deref(),
            &VerifyOptions {
                require_head: !no_head,
            },
            json,
            &mut out,
            &mut err,
        ),
        AuditCommand::Show {
            file,
            json,
            unfinished,
        } => cli_show(file.as_deref(), json, unfinished, &mut out, &mut err),
        AuditCommand::Repair { file } => cli_repair(file.as_deref(), &mut out, &mut err),
        AuditCommand::Timeline {
            run,
            since,
            format,
            lookback,
            audit_log,
        } => {
            let selector = match (run, since) {
                (Some(id), _) => TimelineSelector::Run { id, lookback },
                (None, Some(since)) => TimelineSelector::Since(since),
                // clap requires one of the two.
                (None, None) => TimelineSelector::Since(String::new()),
            };
            cli_timeline(
                audit_log.as_deref(),
                &selector,
                format,
                time::OffsetDateTime::now_utc(),
                &mut out,
                &mut err,
            )
        }
    };
    out.flush_now();
    code
}

fn resolve(path: Option<&Path>, err: &mut dyn Write) -> Result<PathBuf, u8> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => default_path().map_err(|e| {
            let _ = writeln!(err, "fleetdeck: {e}");
            2
        })?,
    };
    if !path.is_file() {
        let _ = writeln!(err, "fleetdeck: no audit log at {}", path.display());
        return Err(2);
    }
    Ok(path)
}

/// The log at `path` (or the default) and its contents, read whole; the error on `err` and exit
/// code 2 otherwise.
fn read_resolved(path: Option<&Path>, err: &mut dyn Write) -> Result<(PathBuf, LogContents), u8> {
    let path = resolve(path, err)?;
    match read_log(&path) {
        Ok(contents) => Ok((path, contents)),
        Err(e) => {
            let _ = writeln!(err, "fleetdeck: {e}");
            Err(2)
        }
    }
}

/// `fleetdeck audit verify [FILE] [--no-head]`.
pub fn cli_verify(
    path: Option<&Path>,
    options: &VerifyOptions,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let path = match resolve(path, err) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let report = match verify_with(&path, options) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "fleetdeck: {e}");
            return 2;
        }
    };
    if json {
        #[derive(serde::Serialize)]
        struct Verdict<'a> {
            ok: bool,
            #[serde(flatten)]
            report: &'a crate::audit::VerifyReport,
        }
        let doc = Verdict {
            ok: report.is_ok(),
            report: &report,
        };
        let _ = match serde_json::to_string_pretty(&doc) {
            Ok(text) => writeln!(out, "{text}"),
            Err(e) => writeln!(err, "fleetdeck: {e}"),
        };
        return report.exit_code();
    }
    let _ = match &report.problem {
        None => {
            let head = match report.head_seq {
                Some(s) => format!("head file names record {s}"),
                None if options.require_head => "empty log".to_string(),
                None => "head file not checked".to_string(),
            };
            writeln!(out, "OK: {} records, chain intact, {head}", report.records)
        }
        Some(p) => writeln!(
            out,
            "TAMPERED or damaged: {p}\n{} records before it verified",
            report.records
        ),
    };
    if let Some(sha) = &report.last_line_sha256 {
        let _ = writeln!(out, "last verified line sha256: {sha}");
    }
    for r in &report.repairs {
        let _ = writeln!(out, "repair at line {} ({}): {}", r.line, r.time, r.reason);
    }
    if !report.unfinished.is_empty() {
        let seqs: Vec<String> = report.unfinished.iter().map(u64::to_string).collect();
        let _ = writeln!(
            out,
            "unfinished: {} action(s) started and never reported, at line(s) {} (`fleetdeck \
             audit show --unfinished` lists them)",
            seqs.len(),
            seqs.join(", ")
        );
    }
    report.exit_code()
}

/// `fleetdeck audit show [FILE] [--json] [--unfinished]`.
pub fn cli_show(
    path: Option<&Path>,
    json: bool,
    unfinished: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let (_, contents) = match read_resolved(path, err) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut code = 0;
    for l in &contents.lines {
        if let Err(e) = &l.record {
            let _ = writeln!(
                err,
                "fleetdeck: line {} is not an audit record ({e}); left out",
                l.line
            );
            code = 1;
        }
    }
    if let Some(n) = contents.torn_tail_bytes {
        let _ = writeln!(
            err,
            "fleetdeck: the log ends in a torn tail of {n} bytes (not a record; `fleetdeck audit \
             repair` removes it)"
        );
    }
    let shown: Vec<LogLine>;
    let lines = if unfinished {
        let open: Vec<u64> = crate::audit::unfinished(&contents.lines)
            .iter()
            .map(|r| r.seq)
            .collect();
        shown = contents
            .lines
            .iter()
            .filter(|l| open.contains(&l.line))
            .cloned()
            .collect();
        &shown
    } else {
        &contents.lines
    };
    let _ = if json {
        write_json(lines, out)
    } else {
        out.write_all(table(lines).as_bytes())
    };
    code
}

fn write_json(lines: &[LogLine], out: &mut dyn Write) -> std::io::Result<()> {
    // The stored bytes, not a re-serialisation: each element can still be hash-checked.
    let records: Vec<&str> = lines
        .iter()
        .filter(|l| l.record.is_ok())
        .map(|l| l.raw.as_str())
        .collect();
    if records.is_empty() {
        return out.write_all(b"[]\n");
    }
    out.write_all(b"[\n")?;
    for (i, r) in records.iter().enumerate() {
        out.write_all(r.as_bytes())?;
        out.write_all(if i + 1 < records.len() { b",\n" } else { b"\n" })?;
    }
    out.write_all(b"]\n")
}

const MAX_TARGET: usize = 24;
const MAX_RESULT: usize = 60;

/// The table of `audit show`: SEQ, TIME, OPERATOR, ACTION, TARGET, RESULT. An action's `before`
/// record shows `…` after the action; RESULT falls back to the reason (refusals).
pub fn table(lines: &[LogLine]) -> String {
    let rows: Vec<[String; 6]> = lines
        .iter()
        .filter_map(|l| l.record.as_ref().ok())
        .map(row)
        .collect();
    let header = ["SEQ", "TIME", "OPERATOR", "ACTION", "TARGET", "RESULT"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut s = String::new();
    for r in std::iter::once(&header).chain(rows.iter()) {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(widths).enumerate() {
            if i == 0 {
                line.push_str(&format!("{c:>w$}"));
            } else if i + 1 == r.len() {
                line.push_str(&format!("  {c}"));
            } else {
                line.push_str(&format!("  {c:<w$}"));
            }
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

fn row(r: &AuditRecord) -> [String; 6] {
    let action = match r.phase {
        Some(Phase::Before) => format!("{}…", r.action),
        _ => r.action.clone(),
    };
    let result = r
        .result
        .as_deref()
        .or(r.reason.as_deref())
        .unwrap_or_default();
    [
        r.seq.to_string(),
        r.time.clone(),
        r.operator.clone(),
        action,
        clip(r.target.as_deref().unwrap_or_default(), MAX_TARGET),
        clip(result, MAX_RESULT),
    ]
}

/// At most `max` characters on one line, `…` marking a cut.
fn clip(s: &str, max: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// What `audit timeline` was asked for, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimelineSelector {
    /// `RUN_ID [--lookback D]`.
    Run {
        /// The run id.
        id: String,
        /// How far back alerts on its targets count.
        lookback: std::time::Duration,
    },
    /// `--since T`, unparsed.
    Since(String),
}

/// `fleetdeck audit timeline RUN_ID | --since T [--format md|json] [--audit-log FILE]`. Exit 0
/// printed; 1 when lines of the log are not records (left out, named on stderr; the timeline
/// is still printed); 2 when the log cannot be read, `--since` does not parse, or nothing is
/// selected.
pub fn cli_timeline(
    path: Option<&Path>,
    selector: &TimelineSelector,
    format: TimelineFormat,
    now: time::OffsetDateTime,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    use crate::audit::timeline;
    let (selection, run, since) = match selector {
        TimelineSelector::Run { id, lookback } => (
            timeline::Selection::Run {
                id: id.clone(),
                lookback: *lookback,
            },
            Some(id.as_str()),
            None,
        ),
        TimelineSelector::Since(text) => match timeline::parse_since(text, now) {
            Ok(at) => (timeline::Selection::Since(at), None, Some(at)),
            Err(e) => {
                let _ = writeln!(err, "fleetdeck: {e}");
                return 2;
            }
        },
    };
    let (path, contents) = match read_resolved(path, err) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut code = 0;
    let mut records = Vec::with_capacity(contents.lines.len());
    for l in contents.lines {
        match l.record {
            Ok(r) => records.push(r),
            Err(e) => {
                let _ = writeln!(
                    err,
                    "fleetdeck: {}:{}: not an audit record ({e}); left out of the timeline",
                    path.display(),
                    l.line
                );
                code = 1;
            }
        }
    }
    let picked = match timeline::select(&records, &selection) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "fleetdeck: {}: {e}", path.display());
            return 2;
        }
    };
    let t = timeline::build(&picked, run, since);
    let written = match format {
        TimelineFormat::Md => out.write_all(timeline::to_markdown(&t).as_bytes()),
        TimelineFormat::Json => serde_json::to_writer_pretty(&mut *out, &t)
            .map_err(std::io::Error::other)
            .and_then(|()| out.write_all(b"\n")),
    };
    if let Err(e) = written {
        let _ = writeln!(err, "fleetdeck: cannot write the timeline: {e}");
        return 1;
    }
    code
}

/// `fleetdeck audit repair [FILE]`.
pub fn cli_repair(path: Option<&Path>, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let path = match resolve(path, err) {
        Ok(p) => p,
        Err(code) => return code,
    };
    // Opening the log for writing is what repairs it.
    let log = match AuditLog::open(&path) {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(err, "fleetdeck: {e}");
            return 1;
        }
    };
    let repairs = log.repaired_at_open();
    if repairs.is_empty() {
        let _ = writeln!(out, "{}: nothing to repair", path.display());
        return 0;
    }
    let contents = match read_log(log.path()) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "fleetdeck: {e}");
            return 1;
        }
    };
    for l in contents.lines.iter().filter(|l| repairs.contains(&l.line)) {
        let reason = l
            .record
            .as_ref()
            .ok()
            .and_then(|r| r.reason.clone())
            .unwrap_or_default();
        let _ = writeln!(out, "repaired (audit.repair at line {}): {reason}", l.line);
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Actor, AuditAction, AuditEntry};

    /// Bug (issue 10): runbook runs wrote `exec` and `exec.result` without `phase` and `pair`,
    /// so an action that started and never finished could not be found. Written as a pair, the
    /// open one is what `show --unfinished` lists and what `verify` reports.
    #[test]
    fn show_unfinished_lists_a_before_without_its_after_and_verify_counts_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        let me = Actor::new("alice", "operator", "127.0.0.1");
        let exec = |host: &str| {
            AuditEntry::new(&me, AuditAction::Exec)
                .target(host)
                .command("systemctl stop db")
        };
        let h1 = log.append_before(exec("h1")).unwrap();
        let h2 = log.append_before(exec("h2")).unwrap();
        log.append_after(
            AuditEntry::new(&me, AuditAction::ExecResult)
                .target("h1")
                .result("exit 0"),
            h1.seq,
        )
        .unwrap();

        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(cli_show(Some(&path), false, true, &mut out, &mut err), 0);
        let shown = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = shown.lines().skip(1).collect();
        assert_eq!(rows.len(), 1, "{shown}");
        assert!(
            rows[0].trim_start().starts_with(&format!("{} ", h2.seq))
                && rows[0].contains("exec…")
                && rows[0].contains("h2"),
            "{shown}"
        );

        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = cli_verify(
            Some(&path),
            &VerifyOptions::default(),
            false,
            &mut out,
            &mut err,
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(code, 0, "an unfinished action is not damage: {text}");
        assert!(
            text.contains("unfinished: 1 action(s)") && text.contains("line(s) 2 "),
            "{text}"
        );
    }

    /// Logs written before runbook, step and notify records were paired carry `phase` and
    /// `pair` null on them: still valid, and nothing in them counts as unfinished.
    #[test]
    fn records_without_phase_from_older_versions_verify_and_are_never_unfinished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        let me = Actor::new("alice", "operator", "127.0.0.1");
        for action in [
            AuditAction::RunbookStart,
            AuditAction::StepRun,
            AuditAction::Notify,
            AuditAction::Interrupt,
        ] {
            log.append(AuditEntry::new(&me, action).step("s")).unwrap();
        }
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = cli_verify(
            Some(&path),
            &VerifyOptions::default(),
            false,
            &mut out,
            &mut err,
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(code, 0, "{text}");
        assert!(!text.contains("unfinished"), "{text}");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(cli_show(Some(&path), true, true, &mut out, &mut err), 0);
        assert_eq!(String::from_utf8(out).unwrap().trim(), "[]");
    }
}

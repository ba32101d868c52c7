//! Logs: the tail of a unit's journal or of a file, read into counts for the Logs pane and the
//! `log_errors` rule.
//!
//! This module owns the commands (`journalctl -u UNIT -n N --no-pager -o short-iso`,
//! `tail -n N FILE`), the journal's `short-iso` line prefix, the FISCO BCOS log format from the
//! consortium-chain manual — `level|time|[module] content`, e.g.
//! `info|2022-11-21 20:00:35.479505|[SCHEDULER][blk-1]BlockExecutive prepare: …`, levels
//! trace < debug < info < warning < error < fatal, the time in the node's local zone — and the
//! counting: FISCO errors and warnings per module within the window, lines matching the
//! configured patterns (regular expressions), and the last few such lines.
//!
//! It must not run anything or read clocks: the host's clock and UTC offset arrive from the
//! same probe batch. Everything is pure and never panics on garbage.
//!
//! Callers: [`super::script`], on polls whose plan includes logs.

use std::collections::BTreeMap;

use regex::RegexSet;
use time::macros::format_description;
use time::{Date, PrimitiveDateTime, Time, UtcOffset};

use super::parse::{ParseError, shorten};
use crate::inventory::{LogFormat, LogOrigin, LogSource};
use crate::observation::{LogLevel, LogLine, LogSummary, ModuleCount};

/// Error, warning and matching lines kept for display.
pub const RECENT_LINES: usize = 8;

/// Last lines of the tail kept for display, whatever they say.
pub const TAIL_LINES: usize = 20;

/// Longest line kept for display, in characters.
const LINE_CHARS: usize = 300;

/// What the batch knows that a log's lines are judged against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogClock {
    /// The host's clock, epoch seconds (`None`: the window cannot be applied; all lines count).
    pub host_now: Option<i64>,
    /// The host's local UTC offset in seconds, for FISCO times read from a file.
    pub utc_offset: Option<i32>,
}

/// The shell text (without framing) that prints the tail of `log`; `quoted` is the unit or the
/// path already made safe for `sh` by the caller.
pub fn tail_command(log: &LogSource, quoted: &str) -> String {
    match &log.origin {
        LogOrigin::Unit(_) => format!(
            "journalctl -u {quoted} -n {} --no-pager -o short-iso",
            log.lines
        ),
        LogOrigin::File(_) => format!("tail -n {} -- {quoted}", log.lines),
    }
}

/// `date +%z` of the host's local zone: `+0800`, `-0330` → seconds east of UTC.
pub fn parse_utc_offset(text: &str) -> Result<i32, ParseError> {
    let t = text.trim();
    parse_offset(t).ok_or_else(|| ParseError::new("a UTC offset like +0800 (date +%z)", t))
}

fn parse_offset(t: &str) -> Option<i32> {
    let (sign, rest) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits[2..].parse().ok()?;
    (h <= 23 && m <= 59).then_some(sign * (h * 3600 + m * 60))
}

/// Compiles a log's patterns (the inventory already checked that each compiles).
pub fn compile_patterns(log: &LogSource) -> Result<RegexSet, String> {
    RegexSet::new(&log.patterns).map_err(|e| format!("bad pattern: {e}"))
}

/// One line, taken apart.
#[derive(Debug, Clone, PartialEq)]
struct Parsed {
    at: Option<i64>,
    level: Option<LogLevel>,
    module: Option<String>,
    /// The line without a journal prefix.
    text: String,
}

/// Reads a tail (`journalctl … -o short-iso` or `tail` output) of `log` into a summary.
pub fn summarize(text: &str, log: &LogSource, patterns: &RegexSet, clock: LogClock) -> LogSummary {
    let journal = matches!(log.origin, LogOrigin::Unit(_));
    let window = log.window.as_secs();
    let start = clock.host_now.map(|now| now - window as i64);
    let lines: Vec<Parsed> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        // journalctl's own notes: `-- No entries --`, `-- Boot 1f2e… --`.
        .filter(|l| !(journal && l.starts_with("-- ")))
        .map(|l| parse_line(l, journal, log.format, clock.utc_offset))
        .collect();

    let mut s = LogSummary {
        lines_read: lines.len() as u32,
        window_seconds: window,
        ..LogSummary::default()
    };
    let oldest = lines.iter().filter_map(|l| l.at).min();
    s.newest_at = lines.iter().filter_map(|l| l.at).max();
    // Fewer lines than asked for: the whole log was read. Otherwise complete only when the
    // oldest line read is already before the window.
    s.window_complete = (lines.len() as u32) < log.lines
        || matches!((oldest, start), (Some(o), Some(st)) if o <= st);

    let mut modules: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut recent: Vec<LogLine> = Vec::new();
    for l in &lines {
        if let (Some(at), Some(st)) = (l.at, start)
            && at < st
        {
            continue;
        }
        let matched = !patterns.is_empty() && patterns.is_match(&l.text);
        let is_error = matches!(l.level, Some(LogLevel::Error | LogLevel::Fatal));
        let is_warning = l.level == Some(LogLevel::Warning);
        if matched {
            s.pattern_matches += 1;
        }
        if is_error || matched {
            s.errors += 1;
        } else if is_warning {
            s.warnings += 1;
        }
        if (is_error || is_warning)
            && let Some(m) = &l.module
        {
            let e = modules.entry(m.clone()).or_default();
            if is_error {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
        if is_error || is_warning || matched {
            recent.push(display(l));
        }
    }
    let keep_from = recent.len().saturating_sub(RECENT_LINES);
    s.recent = recent.split_off(keep_from);
    let tail_from = lines.len().saturating_sub(TAIL_LINES);
    s.tail = lines[tail_from..].iter().map(display).collect();
    let mut by_module: Vec<ModuleCount> = modules
        .into_iter()
        .map(|(module, (errors, warnings))| ModuleCount {
            module,
            errors,
            warnings,
        })
        .collect();
    by_module.sort_by(|a, b| {
        (b.errors, b.warnings)
            .cmp(&(a.errors, a.warnings))
            .then_with(|| a.module.cmp(&b.module))
    });
    s.by_module = by_module;
    s
}

fn display(l: &Parsed) -> LogLine {
    LogLine {
        at: l.at,
        level: l.level,
        module: l.module.clone(),
        text: shorten(&l.text, LINE_CHARS),
    }
}

fn parse_line(line: &str, journal: bool, format: LogFormat, offset: Option<i32>) -> Parsed {
    let (journal_at, text) = if journal {
        split_journal_prefix(line)
    } else {
        (None, line)
    };
    let fisco = if format == LogFormat::Fisco {
        parse_fisco_line(text, offset)
    } else {
        None
    };
    match fisco {
        Some(f) => Parsed {
            // The journal's time is exact (it carries its offset); the node's own is local.
            at: journal_at.or(f.at),
            level: Some(f.level),
            module: f.module,
            text: text.to_string(),
        },
        None => Parsed {
            at: journal_at,
            level: None,
            module: None,
            text: text.to_string(),
        },
    }
}

/// `2026-11-22T04:45:50+0000 host unit[123]: message` → (time, message). A line that does not
/// look like that is kept whole, without a time.
pub fn split_journal_prefix(line: &str) -> (Option<i64>, &str) {
    let Some((stamp, rest)) = line.split_once(' ') else {
        return (None, line);
    };
    let Some(at) = parse_short_iso(stamp) else {
        return (None, line);
    };
    // host, then `ident[pid]:` or `ident:`.
    let message = rest
        .split_once(' ')
        .and_then(|(_host, r)| r.split_once(": ").map(|(_ident, m)| m))
        .unwrap_or(rest);
    (Some(at), message)
}

/// `2026-11-22T04:45:50+0000` or `…+08:00` (newer systemd) → epoch seconds.
fn parse_short_iso(stamp: &str) -> Option<i64> {
    let (date, rest) = stamp.split_once('T')?;
    let split = rest.find(['+', '-', 'Z'])?;
    let (clock, zone) = rest.split_at(split);
    let offset = if zone == "Z" { 0 } else { parse_offset(zone)? };
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let clock = clock.split('.').next()?;
    let t = PrimitiveDateTime::parse(&format!("{date} {clock}"), &fmt).ok()?;
    Some(t.assume_utc().unix_timestamp() - i64::from(offset))
}

/// A FISCO BCOS line's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiscoLine<'a> {
    /// Level.
    pub level: LogLevel,
    /// Epoch seconds (the node's local time converted with the host's offset, UTC when the
    /// offset is unknown), `None` when the time field is unreadable.
    pub at: Option<i64>,
    /// First bracketed tag that is not a 2.x group tag (`[g:1]`).
    pub module: Option<String>,
    /// The content after the tags.
    pub content: &'a str,
}

/// `level|time|[module] content` → its parts; `None` for a line in another format (a stack
/// trace, a line from the shell that started the node).
pub fn parse_fisco_line(line: &str, offset: Option<i32>) -> Option<FiscoLine<'_>> {
    let mut parts = line.splitn(3, '|');
    let level = match parts.next()?.trim() {
        "trace" => LogLevel::Trace,
        "debug" => LogLevel::Debug,
        "info" => LogLevel::Info,
        "warning" | "warn" => LogLevel::Warning,
        "error" => LogLevel::Error,
        "fatal" => LogLevel::Fatal,
        _ => return None,
    };
    let time_field = parts.next()?;
    let rest = parts.next()?;
    let at = parse_fisco_time(time_field).map(|t| t - i64::from(offset.unwrap_or(0)));
    let mut module = None;
    let mut content = rest.trim_start();
    while let Some(after) = content.strip_prefix('[') {
        let Some((tag, tail)) = after.split_once(']') else {
            break;
        };
        let is_group = tag
            .strip_prefix("g:")
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        if module.is_none() && !is_group && !tag.is_empty() {
            module = Some(tag.to_string());
        }
        content = tail;
    }
    Some(FiscoLine {
        level,
        at,
        module,
        content: content.trim_start(),
    })
}

/// `2022-11-21 20:00:35.479505` as if it were UTC.
fn parse_fisco_time(t: &str) -> Option<i64> {
    let (date, clock) = t.trim().split_once(' ')?;
    let date = Date::parse(date, format_description!("[year]-[month]-[day]")).ok()?;
    let clock = Time::parse(
        clock.split('.').next()?,
        format_description!("[hour]:[minute]:[second]"),
    )
    .ok()?;
    Some(
        PrimitiveDateTime::new(date, clock)
            .assume_offset(UtcOffset::UTC)
            .unix_timestamp(),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn log(format: LogFormat, origin: LogOrigin, patterns: &[&str]) -> LogSource {
        LogSource {
            name: "node".into(),
            origin,
            format,
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            lines: 200,
            window: Duration::from_secs(600),
        }
    }

    /// FISCO BCOS lines: the manual's example (3.x), and 2.x lines as in the FISCO-BCOS-DOC
    /// log description (group tag first), node ids shortened.
    const FISCO: &str = "\
info|2022-11-21 20:00:35.479505|[SCHEDULER][blk-1]BlockExecutive prepare: fillBlock end,txNum=1,cost=0,fetchNum=1
info|2022-11-21 20:01:02.100000|[g:1][CONSENSUS][SEALER]++++++++++++++++ Generating seal on,blkNum=1,tx=0,nodeIdx=3
warning|2022-11-21 20:02:10.000001|[P2P][Service] P2PSession not exist,nodeID=7e5f2a1b
error|2022-11-21 20:03:00.250000|[g:1][CONSENSUS][PBFT]checkSign failed,nodeIdx=2,idx=1
error|2022-11-21 20:04:00.250000|[g:1][CONSENSUS][PBFT]checkSign failed,nodeIdx=2,idx=2
error|2022-11-21 20:05:00.000000|[SYNC] sync timeout,peer=4a3e
fatal|2022-11-21 20:05:30.000000|[STORAGE] rocksdb write failed: IO error: No space left on device
Segmentation fault (core dumped)
";

    /// 2022-11-21 20:10:00 in UTC+8, as epoch seconds.
    const NOW_PLUS8: i64 = 1_669_032_600;

    #[test]
    fn fisco_lines_are_taken_apart() {
        let l = parse_fisco_line(FISCO.lines().next().unwrap(), Some(8 * 3600)).unwrap();
        assert_eq!(l.level, LogLevel::Info);
        assert_eq!(l.module.as_deref(), Some("SCHEDULER"));
        assert_eq!(l.at, Some(NOW_PLUS8 - 600 + 35));
        assert!(l.content.starts_with("BlockExecutive prepare"));
        let g = parse_fisco_line(FISCO.lines().nth(1).unwrap(), None).unwrap();
        assert_eq!(g.module.as_deref(), Some("CONSENSUS"), "group tag skipped");
        assert!(parse_fisco_line("Segmentation fault", None).is_none());
        assert!(parse_fisco_line("notice|x|y", None).is_none());
        let bad_time = parse_fisco_line("error|yesterday|[X] y", None).unwrap();
        assert_eq!((bad_time.at, bad_time.module.as_deref()), (None, Some("X")));
    }

    #[test]
    fn fisco_counts_by_module_within_the_window() {
        let l = log(LogFormat::Fisco, LogOrigin::File("/n/log".into()), &[]);
        let clock = LogClock {
            host_now: Some(NOW_PLUS8),
            utc_offset: Some(8 * 3600),
        };
        let s = summarize(FISCO, &l, &compile_patterns(&l).unwrap(), clock);
        assert_eq!(s.lines_read, 8);
        assert_eq!((s.errors, s.warnings), (4, 1));
        assert_eq!(s.pattern_matches, 0);
        let m: Vec<_> = s
            .by_module
            .iter()
            .map(|m| (m.module.as_str(), m.errors, m.warnings))
            .collect();
        assert_eq!(
            m,
            [
                ("CONSENSUS", 2, 0),
                ("STORAGE", 1, 0),
                ("SYNC", 1, 0),
                ("P2P", 0, 1)
            ]
        );
        assert_eq!(s.recent.len(), 5);
        assert_eq!(s.recent[4].level, Some(LogLevel::Fatal));
        assert!(s.window_complete, "fewer lines than asked: the whole log");
        assert_eq!(s.tail.len(), 8);
        assert_eq!(s.tail[7].text, "Segmentation fault (core dumped)");

        // Four minutes later the first error and the warning fall out of the window.
        let later = LogClock {
            host_now: Some(NOW_PLUS8 + 240),
            ..clock
        };
        let s = summarize(FISCO, &l, &compile_patterns(&l).unwrap(), later);
        assert_eq!((s.errors, s.warnings), (3, 0), "{s:?}");

        // With a pattern, the plain line counts as an error too.
        let l = log(
            LogFormat::Fisco,
            LogOrigin::File("/n/log".into()),
            &["Segmentation"],
        );
        let s = summarize(FISCO, &l, &compile_patterns(&l).unwrap(), clock);
        assert_eq!((s.errors, s.pattern_matches), (5, 1));
    }

    #[test]
    fn plain_logs_count_pattern_matches() {
        let text =
            "starting\nERROR: disk quota exceeded\nall good\npanic: runtime error\nerror lower\n";
        let l = log(
            LogFormat::Plain,
            LogOrigin::File("/var/log/app.log".into()),
            &["ERROR", "panic"],
        );
        let s = summarize(
            text,
            &l,
            &compile_patterns(&l).unwrap(),
            LogClock::default(),
        );
        assert_eq!((s.errors, s.pattern_matches, s.warnings), (2, 2, 0));
        assert_eq!(s.recent[0].text, "ERROR: disk quota exceeded");
        assert_eq!(s.recent[0].at, None);
        // The inventory's default pattern is case-insensitive and word-bounded.
        let d = log(
            LogFormat::Plain,
            LogOrigin::File("/x".into()),
            crate::inventory::DEFAULT_LOG_PATTERNS,
        );
        let s = summarize(
            "error lower\nterrorist\nFATAL x\nok\n",
            &d,
            &compile_patterns(&d).unwrap(),
            LogClock::default(),
        );
        assert_eq!(s.errors, 2);
    }

    #[test]
    fn journal_lines_use_the_journal_time() {
        // `journalctl -o short-iso` as systemd 252 prints it (and +hh:mm as newer ones do).
        let text = "\
-- Boot 6e1f7d1a5c4a4d0c9a5b6f3c2b1a0f9e --
2026-11-22T04:40:00+0000 node-1 fisco-bcos[812]: info|2026-11-22 12:40:00.000000|[SYNC] ok
2026-11-22T12:44:00+08:00 node-1 fisco-bcos[812]: error|2026-11-22 12:44:00.000000|[PBFT] view change timeout
2026-11-22T04:45:00+0000 node-1 systemd[1]: fisco-bcos.service: Main process exited, code=killed, status=9/KILL
";
        let now = 1_795_322_800; // 2026-11-22T04:46:40Z
        let l = log(
            LogFormat::Fisco,
            LogOrigin::Unit("fisco-bcos.service".into()),
            &["killed"],
        );
        let s = summarize(
            text,
            &l,
            &compile_patterns(&l).unwrap(),
            LogClock {
                host_now: Some(now),
                utc_offset: None,
            },
        );
        assert_eq!(s.lines_read, 3, "journal notes are not lines");
        assert_eq!((s.errors, s.pattern_matches), (2, 1));
        assert_eq!(s.by_module[0].module, "PBFT");
        assert_eq!(s.recent[0].at, Some(now - 160));
        assert!(s.recent[0].text.starts_with("error|"), "prefix removed");
        assert_eq!(s.newest_at, Some(now - 100));
        assert_eq!(
            split_journal_prefix("-- No entries --"),
            (None, "-- No entries --")
        );
    }

    #[test]
    fn offsets_and_tail_commands() {
        assert_eq!(parse_utc_offset("+0800\n").unwrap(), 28_800);
        assert_eq!(parse_utc_offset("-0330").unwrap(), -12_600);
        assert!(parse_utc_offset("CET").is_err());
        let l = log(LogFormat::Plain, LogOrigin::Unit("x".into()), &[]);
        assert_eq!(
            tail_command(&l, "'x'"),
            "journalctl -u 'x' -n 200 --no-pager -o short-iso"
        );
        let f = log(LogFormat::Plain, LogOrigin::File("/a b".into()), &[]);
        assert_eq!(tail_command(&f, "'/a b'"), "tail -n 200 -- '/a b'");
    }

    #[test]
    fn a_full_tail_inside_the_window_is_incomplete() {
        let mut l = log(LogFormat::Plain, LogOrigin::Unit("x".into()), &["E"]);
        l.lines = 2;
        let text =
            "2026-11-22T04:45:00+0000 h x[1]: E one\n2026-11-22T04:46:00+0000 h x[1]: E two\n";
        let s = summarize(
            text,
            &l,
            &compile_patterns(&l).unwrap(),
            LogClock {
                host_now: Some(1_795_322_800),
                utc_offset: None,
            },
        );
        assert!(!s.window_complete, "both lines are inside the 10m window");
        assert_eq!(s.errors, 2);
    }
}

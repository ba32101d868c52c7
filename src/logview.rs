//! Followed logs as the console shows them: one bounded ring of lines per followed source, the
//! level of each line (FISCO BCOS `level|time|[module] …`, journald priorities, `ERROR`/`WARN`
//! words in plain files), a minimum-level filter, a time window, a search with next/previous,
//! and the lines of several sources merged by time or grouped per host for side-by-side
//! columns.
//!
//! Pure: lines arrive with the time they arrived, `now` is an argument, nothing here runs a
//! command or reads a clock, so every rule is unit-tested. The commands that produce the lines
//! ([`follow_command`]) are text only; the console's follow tasks run them through
//! `Transport::stream`, and `ui::logs_pane` draws what [`LogView`] selects.
//!
//! Rules worth knowing (docs/console.md repeats them for operators):
//! - a line's time is its own timestamp where one parses (journald's, FISCO's), else the time
//!   it arrived. FISCO writes local time without a zone: the zone is learned from the first
//!   followed line (a line followed with `tail -n 0 -F` arrives within moments of being
//!   written, so the difference to its arrival, rounded to a quarter hour, is the zone).
//! - a line without a level of its own (a stack trace, a continuation) takes the level of the
//!   line before it from the same source; a line whose level still cannot be told is always
//!   shown, whatever the minimum level.
//! - search is plain text with smart case: case-insensitive unless the query has an upper-case
//!   letter.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;

use crate::inventory::{LogFormat, LogOrigin, LogSource};
use crate::observation::LogLevel;
use crate::probe::logs::{parse_fisco_line, split_journal_prefix};

/// Lines kept per followed source; older ones are dropped and counted.
pub const RING_LINES: usize = 10_000;

/// One followed log: a host (index into `Fleet::hosts`) and one of its `logs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceKey {
    /// Index into `Fleet::hosts`.
    pub host: usize,
    /// Index into that host's `logs`.
    pub log: usize,
}

/// The shell command that follows `log` from now on: `tail -n 0 -F` for a file,
/// `journalctl -f -n 0 -o json` for a unit (JSON carries the priority). `Err` for a name no
/// shell word can carry (a NUL byte).
pub fn follow_command(log: &LogSource) -> Result<String, String> {
    match &log.origin {
        LogOrigin::File(f) => Ok(format!(
            "tail -n 0 -F -- {}",
            crate::host_path::shell_word(f)?
        )),
        LogOrigin::Unit(u) => {
            let unit = shlex::try_quote(u).map_err(|e| format!("{e}: {u:?}"))?;
            Ok(format!("journalctl -f -n 0 --no-pager -o json -u {unit}"))
        }
    }
}

/// Where a followed source stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceState {
    /// Being started.
    Starting,
    /// Lines are arriving as they are written.
    Following,
    /// Not followed now (follow off, pane left); the lines stay.
    Stopped,
    /// The follow ended or failed: why.
    Failed(String),
}

/// A line as shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Arrival order over every source (ties in time keep it).
    pub seq: u64,
    /// Where it came from.
    pub key: SourceKey,
    /// Its own time, epoch seconds, when one parsed.
    pub at: Option<i64>,
    /// When it arrived, epoch seconds.
    pub arrived: i64,
    /// Its level, or the level of the line before it from the same source.
    pub level: Option<LogLevel>,
    /// The text shown (a journal entry as `HH:MM:SS ident: message`).
    pub text: String,
    /// Whether the search holds it: worked out once, when the line comes or the search
    /// changes, not on every frame.
    pub matched: bool,
}

impl Line {
    /// The time the line is placed and windowed by.
    pub fn time(&self) -> i64 {
        self.at.unwrap_or(self.arrived)
    }
}

/// One followed source and its ring.
#[derive(Debug, Clone)]
pub struct Source {
    /// Host name.
    pub host_name: String,
    /// Log name.
    pub log_name: String,
    format: LogFormat,
    journal: bool,
    lines: VecDeque<Line>,
    /// Lines dropped off the ring's far end.
    pub dropped: u64,
    /// Where it stands.
    pub state: SourceState,
    /// Learned offset of the node's local time (FISCO), seconds east of UTC.
    fisco_offset: Option<i32>,
    last_level: Option<LogLevel>,
}

impl Source {
    /// Lines held, oldest first.
    pub fn lines(&self) -> impl Iterator<Item = &Line> {
        self.lines.iter()
    }
}

/// The minimum level shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LevelFilter {
    /// Every line.
    #[default]
    All,
    /// Lines at this level or above, and lines whose level is unknown.
    AtLeast(LogLevel),
}

impl LevelFilter {
    /// The next one in the cycle all → debug → info → warning → error → all.
    pub fn next(self) -> LevelFilter {
        match self {
            LevelFilter::All => LevelFilter::AtLeast(LogLevel::Debug),
            LevelFilter::AtLeast(LogLevel::Trace | LogLevel::Debug) => {
                LevelFilter::AtLeast(LogLevel::Info)
            }
            LevelFilter::AtLeast(LogLevel::Info) => LevelFilter::AtLeast(LogLevel::Warning),
            LevelFilter::AtLeast(LogLevel::Warning) => LevelFilter::AtLeast(LogLevel::Error),
            LevelFilter::AtLeast(LogLevel::Error | LogLevel::Fatal) => LevelFilter::All,
        }
    }

    /// Whether a line of `level` passes.
    pub fn keeps(self, level: Option<LogLevel>) -> bool {
        match (self, level) {
            (LevelFilter::All, _) | (_, None) => true,
            (LevelFilter::AtLeast(min), Some(l)) => l >= min,
        }
    }

    /// `all`, `≥ warning`.
    pub fn label(self) -> String {
        match self {
            LevelFilter::All => "all levels".into(),
            LevelFilter::AtLeast(l) => format!("≥ {}", level_name(l)),
        }
    }
}

/// `warning` for [`LogLevel::Warning`].
pub fn level_name(l: LogLevel) -> &'static str {
    match l {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warning => "warning",
        LogLevel::Error => "error",
        LogLevel::Fatal => "fatal",
    }
}

/// How far back lines are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeWindow {
    /// Everything held.
    #[default]
    All,
    /// The last this many seconds.
    Last(i64),
}

impl TimeWindow {
    /// The next one in the cycle all → 5m → 15m → 1h → all.
    pub fn next(self) -> TimeWindow {
        match self {
            TimeWindow::All => TimeWindow::Last(300),
            TimeWindow::Last(s) if s < 900 => TimeWindow::Last(900),
            TimeWindow::Last(s) if s < 3600 => TimeWindow::Last(3600),
            TimeWindow::Last(_) => TimeWindow::All,
        }
    }

    /// Whether a line at `time` is inside the window at `now`.
    pub fn keeps(self, time: i64, now: i64) -> bool {
        match self {
            TimeWindow::All => true,
            TimeWindow::Last(s) => time >= now - s,
        }
    }

    /// `all time`, `last 15m`.
    pub fn label(self) -> String {
        match self {
            TimeWindow::All => "all time".into(),
            TimeWindow::Last(s) if s % 3600 == 0 => format!("last {}h", s / 3600),
            TimeWindow::Last(s) => format!("last {}m", s / 60),
        }
    }
}

/// Several hosts: one list merged by time, or one column per host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// One list, each line prefixed with its host (and log).
    #[default]
    Merged,
    /// One column per host, side by side.
    Columns,
}

/// A search and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Search {
    /// The text searched for.
    pub query: String,
    /// The current match: the line's `seq`.
    pub current: Option<u64>,
}

/// Where the current match is among all of them: `3/17`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchCount {
    /// 1-based position of the current match (0: none is current).
    pub current: usize,
    /// Matching lines shown.
    pub total: usize,
}

/// Every followed source, and how they are shown.
#[derive(Debug, Clone, Default)]
pub struct LogView {
    sources: BTreeMap<SourceKey, Source>,
    seq: u64,
    /// The minimum level.
    pub level: LevelFilter,
    /// The time window.
    pub window: TimeWindow,
    /// Merged or in columns.
    pub layout: Layout,
    /// The search, if one was typed.
    pub search: Option<Search>,
}

impl LogView {
    /// Starts (or restarts) holding lines for `key`; lines already held stay.
    pub fn add_source(&mut self, key: SourceKey, host_name: &str, log: &LogSource) {
        let s = self.sources.entry(key).or_insert_with(|| Source {
            host_name: host_name.to_string(),
            log_name: log.name.clone(),
            format: log.format,
            journal: matches!(log.origin, LogOrigin::Unit(_)),
            lines: VecDeque::new(),
            dropped: 0,
            state: SourceState::Starting,
            fisco_offset: None,
            last_level: None,
        });
        s.state = SourceState::Starting;
    }

    /// Sets where `key` stands.
    pub fn set_state(&mut self, key: SourceKey, state: SourceState) {
        if let Some(s) = self.sources.get_mut(&key) {
            s.state = state;
        }
    }

    /// Forgets every source and line.
    pub fn clear(&mut self) {
        self.sources.clear();
        if let Some(s) = &mut self.search {
            s.current = None;
        }
    }

    /// The sources, in key order.
    pub fn sources(&self) -> impl Iterator<Item = (&SourceKey, &Source)> {
        self.sources.iter()
    }

    /// Whether any source is held.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Adds one raw line of `key`'s follow, arrived at `arrived` (epoch seconds). A line of an
    /// unknown source is ignored.
    pub fn push(&mut self, key: SourceKey, raw: &str, arrived: i64) {
        let Some(src) = self.sources.get_mut(&key) else {
            return;
        };
        if src.journal && raw.starts_with("-- ") {
            // journalctl's own notes (`-- Boot …`, `-- No entries --`).
            return;
        }
        let parsed = parse_followed(raw, src.journal, src.format, src.fisco_offset, arrived);
        if let Some(o) = parsed.learned_offset {
            src.fisco_offset = Some(o);
        }
        let level = parsed.level.or(src.last_level);
        src.last_level = level;
        self.seq += 1;
        if src.lines.len() >= RING_LINES {
            src.lines.pop_front();
            src.dropped += 1;
        }
        src.lines.push_back(Line {
            seq: self.seq,
            key,
            at: parsed.at,
            arrived,
            level,
            matched: self
                .search
                .as_ref()
                .is_some_and(|s| has_match(&parsed.text, &s.query)),
            text: parsed.text,
        });
    }

    fn keeps(&self, l: &Line, now: i64) -> bool {
        self.level.keeps(l.level) && self.window.keeps(l.time(), now)
    }

    /// The lines shown at `now`, every source merged by time (ties and lines of one source
    /// keep their arrival order).
    pub fn merged(&self, now: i64) -> Vec<&Line> {
        let lists: Vec<Vec<&Line>> = self
            .sources
            .values()
            .map(|s| s.lines.iter().filter(|l| self.keeps(l, now)).collect())
            .collect();
        merge_by_time(lists)
    }

    /// The lines shown at `now`, one column per host (its sources merged), hosts in order.
    pub fn columns(&self, now: i64) -> Vec<(usize, Vec<&Line>)> {
        let mut by_host: BTreeMap<usize, Vec<Vec<&Line>>> = BTreeMap::new();
        for (k, s) in &self.sources {
            by_host
                .entry(k.host)
                .or_default()
                .push(s.lines.iter().filter(|l| self.keeps(l, now)).collect());
        }
        by_host
            .into_iter()
            .map(|(h, lists)| (h, merge_by_time(lists)))
            .collect()
    }

    /// Sets the search text (empty: no search); the current match is cleared.
    pub fn set_search(&mut self, query: &str) {
        self.search = (!query.is_empty()).then(|| Search {
            query: query.to_string(),
            current: None,
        });
        for l in self.sources.values_mut().flat_map(|s| s.lines.iter_mut()) {
            l.matched = !query.is_empty() && has_match(&l.text, query);
        }
    }

    /// Matching lines shown at `now`, in merged order: their `seq`.
    fn match_seqs(&self, now: i64) -> Vec<u64> {
        if self.search.is_none() {
            return Vec::new();
        }
        self.merged(now)
            .into_iter()
            .filter(|l| l.matched)
            .map(|l| l.seq)
            .collect()
    }

    /// Moves to the next match after the current one (the first, newest-last order; wraps),
    /// or the previous with `forward = false` (from none: the newest). Returns the match.
    pub fn search_step(&mut self, now: i64, forward: bool) -> Option<u64> {
        let seqs = self.match_seqs(now);
        let search = self.search.as_mut()?;
        if seqs.is_empty() {
            search.current = None;
            return None;
        }
        let pos = search
            .current
            .and_then(|c| seqs.iter().position(|&s| s == c));
        let next = match (pos, forward) {
            (None, true) => 0,
            (None, false) => seqs.len() - 1,
            (Some(i), true) => (i + 1) % seqs.len(),
            (Some(i), false) => (i + seqs.len() - 1) % seqs.len(),
        };
        search.current = Some(seqs[next]);
        search.current
    }

    /// `3/17`: the current match among the matching lines shown, if a search is set.
    pub fn match_count(&self, now: i64) -> Option<MatchCount> {
        self.match_count_in(&self.merged(now))
    }

    /// [`LogView::match_count`] over `lines` already selected by [`LogView::merged`] (a frame
    /// merges once).
    pub fn match_count_in(&self, lines: &[&Line]) -> Option<MatchCount> {
        let s = self.search.as_ref()?;
        let mut total = 0;
        let mut current = 0;
        for l in lines {
            if l.matched {
                total += 1;
                if Some(l.seq) == s.current {
                    current = total;
                }
            }
        }
        Some(MatchCount { current, total })
    }

    /// Lines dropped off every ring.
    pub fn dropped(&self) -> u64 {
        self.sources.values().map(|s| s.dropped).sum()
    }
}

/// Merges lists that are each in arrival order into one ordered by time: repeatedly the head
/// with the smallest (time, seq). A list's own order is never changed, so a source whose
/// clock steps back still reads in the order it was written.
pub fn merge_by_time(lists: Vec<Vec<&Line>>) -> Vec<&Line> {
    let total = lists.iter().map(Vec::len).sum();
    let mut heads = vec![0usize; lists.len()];
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        let mut best: Option<(usize, (i64, u64))> = None;
        for (i, list) in lists.iter().enumerate() {
            if let Some(l) = list.get(heads[i]) {
                let k = (l.time(), l.seq);
                if best.is_none_or(|(_, b)| k < b) {
                    best = Some((i, k));
                }
            }
        }
        let Some((i, _)) = best else { break };
        out.push(lists[i][heads[i]]);
        heads[i] += 1;
    }
    out
}

/// Byte ranges of `query` in `text`: smart case (case-insensitive unless the query has an
/// upper-case letter), non-overlapping, left to right. Empty for an empty query.
pub fn find_matches(text: &str, query: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(r) = find_from(text, query, from) {
        from = r.end;
        out.push(r);
    }
    out
}

/// Whether `text` holds `query` (smart case, as [`find_matches`]).
pub fn has_match(text: &str, query: &str) -> bool {
    find_from(text, query, 0).is_some()
}

/// The first match of `query` at or after byte `from` of `text`.
fn find_from(text: &str, query: &str, from: usize) -> Option<Range<usize>> {
    if query.is_empty() || from >= text.len() {
        return None;
    }
    if query.chars().any(char::is_uppercase) {
        return text[from..]
            .find(query)
            .map(|i| from + i..from + i + query.len());
    }
    if query.is_ascii() {
        // The common case, kept cheap (every followed line is searched on every frame): bytes
        // compared without case; an ASCII needle never matches inside a multi-byte character.
        let (hay, needle) = (text.as_bytes(), query.as_bytes());
        let last_start = hay.len().checked_sub(needle.len())?;
        let first = needle[0].to_ascii_lowercase();
        return (from..=last_start)
            .filter(|&i| hay[i].to_ascii_lowercase() == first)
            .find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
            .map(|i| i..i + needle.len());
    }
    // Any other text, a character at a time; one char in, one char out keeps byte offsets.
    let fold = |c: char| c.to_lowercase().next().unwrap_or(c);
    let q: Vec<char> = query.chars().map(fold).collect();
    let mut start = from;
    while start < text.len() {
        let mut matched = 0;
        for (off, c) in text[start..].char_indices() {
            if fold(c) != q[matched] {
                break;
            }
            matched += 1;
            if matched == q.len() {
                return Some(start..start + off + c.len_utf8());
            }
        }
        start += text[start..].chars().next().map_or(1, char::len_utf8);
    }
    None
}

/// A followed line, taken apart.
#[derive(Debug, Clone, PartialEq)]
struct Parsed {
    at: Option<i64>,
    level: Option<LogLevel>,
    text: String,
    /// A FISCO zone offset learned from this line.
    learned_offset: Option<i32>,
}

fn parse_followed(
    raw: &str,
    journal: bool,
    format: LogFormat,
    offset: Option<i32>,
    arrived: i64,
) -> Parsed {
    if journal && let Some(p) = parse_journal_json(raw, format) {
        return p;
    }
    let (journal_at, text) = if journal {
        split_journal_prefix(raw)
    } else {
        (None, raw)
    };
    let mut learned_offset = None;
    let (at, level) = match content_level(text, format) {
        Content::Fisco { level, local_at } => {
            let at = local_at.map(|t| {
                let o = offset.unwrap_or_else(|| {
                    let o = learn_offset(t, arrived);
                    learned_offset = Some(o);
                    o
                });
                t - i64::from(o)
            });
            (journal_at.or(at), Some(level))
        }
        Content::Word(level) => (journal_at, level),
    };
    Parsed {
        at,
        level,
        text: text.to_string(),
        learned_offset,
    }
}

/// The zone of a FISCO time read as if it were UTC, from when the line arrived: the
/// difference rounded to a quarter hour, within ±14 h (else UTC).
fn learn_offset(local_as_utc: i64, arrived: i64) -> i32 {
    let diff = local_as_utc - arrived;
    let quarter = 900;
    let rounded = (diff + diff.signum() * quarter / 2) / quarter * quarter;
    if rounded.abs() <= 14 * 3600 {
        rounded as i32
    } else {
        0
    }
}

enum Content {
    Fisco {
        level: LogLevel,
        /// The node's local time read as UTC.
        local_at: Option<i64>,
    },
    Word(Option<LogLevel>),
}

fn content_level(text: &str, format: LogFormat) -> Content {
    if format == LogFormat::Fisco
        && let Some(f) = parse_fisco_line(text, Some(0))
    {
        return Content::Fisco {
            level: f.level,
            local_at: f.at,
        };
    }
    Content::Word(word_level(text))
}

/// The first level word of a plain line (case-insensitive, whole words): `ERROR`, `error`,
/// `ERR`, `FATAL`, `PANIC`, `CRIT(ICAL)`, `WARN(ING)`, `INFO`, `DEBUG`, `TRACE` — so
/// `level=warn`, `[ERROR]` and `2026-… INFO …` all read. `None` when there is none.
pub fn word_level(text: &str) -> Option<LogLevel> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .find_map(|w| match w.to_ascii_lowercase().as_str() {
            "fatal" | "panic" | "crit" | "critical" | "emerg" | "alert" => Some(LogLevel::Fatal),
            "error" | "err" => Some(LogLevel::Error),
            "warn" | "warning" => Some(LogLevel::Warning),
            "info" | "notice" => Some(LogLevel::Info),
            "debug" => Some(LogLevel::Debug),
            "trace" => Some(LogLevel::Trace),
            _ => None,
        })
}

/// A journald priority (`PRIORITY`, syslog numbering) as a level: 0–2 fatal, 3 error,
/// 4 warning, 5–6 info, 7 debug.
pub fn priority_level(priority: u8) -> Option<LogLevel> {
    Some(match priority {
        0..=2 => LogLevel::Fatal,
        3 => LogLevel::Error,
        4 => LogLevel::Warning,
        5 | 6 => LogLevel::Info,
        7 => LogLevel::Debug,
        _ => return None,
    })
}

/// One `journalctl -o json` entry: its time (`__REALTIME_TIMESTAMP`, µs), its message (a string,
/// or an array of bytes when not UTF-8) and its level: the message's own (FISCO level, a level
/// word) if it has one, else the journal's `PRIORITY`. `None` when the line is not such JSON.
fn parse_journal_json(raw: &str, format: LogFormat) -> Option<Parsed> {
    let v: serde_json::Value = serde_json::from_str(raw).ok()?;
    let obj = v.as_object()?;
    let message = match obj.get("MESSAGE")? {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(bytes) => {
            let b: Vec<u8> = bytes
                .iter()
                .filter_map(|x| x.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect();
            String::from_utf8_lossy(&b).into_owned()
        }
        _ => return None,
    };
    let at = obj
        .get("__REALTIME_TIMESTAMP")
        .and_then(|t| t.as_str())
        .and_then(|t| t.parse::<i64>().ok())
        .map(|us| us / 1_000_000);
    let priority = obj
        .get("PRIORITY")
        .and_then(|p| p.as_str())
        .and_then(|p| p.parse::<u8>().ok())
        .and_then(priority_level);
    let own = match content_level(&message, format) {
        Content::Fisco { level, .. } => Some(level),
        Content::Word(l) => l,
    };
    let ident = obj
        .get("SYSLOG_IDENTIFIER")
        .and_then(|s| s.as_str())
        .unwrap_or("");
    let clock = at.map(clock_time).unwrap_or_default();
    let text = match (clock.is_empty(), ident.is_empty()) {
        (false, false) => format!("{clock} {ident}: {message}"),
        (false, true) => format!("{clock} {message}"),
        (true, false) => format!("{ident}: {message}"),
        (true, true) => message,
    };
    Some(Parsed {
        at,
        level: own.or(priority),
        text,
        learned_offset: None,
    })
}

/// `08:00:00` (UTC) of an epoch time.
fn clock_time(epoch_secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch_secs)
        .map(|d| format!("{:02}:{:02}:{:02}", d.hour(), d.minute(), d.second()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn log(name: &str, format: LogFormat, origin: LogOrigin) -> LogSource {
        LogSource {
            name: name.into(),
            origin,
            format,
            patterns: Vec::new(),
            lines: 200,
            window: Duration::from_secs(600),
        }
    }

    fn file(name: &str, format: LogFormat) -> LogSource {
        log(
            name,
            format,
            LogOrigin::File(format!("/var/log/{name}.log")),
        )
    }

    const K1: SourceKey = SourceKey { host: 0, log: 0 };
    const K2: SourceKey = SourceKey { host: 1, log: 0 };

    fn texts(lines: &[&Line]) -> Vec<String> {
        lines.iter().map(|l| l.text.clone()).collect()
    }

    #[test]
    fn follow_commands_quote_and_start_from_now() {
        let f = log(
            "a",
            LogFormat::Plain,
            LogOrigin::File("~/logs/it's.log".into()),
        );
        assert_eq!(
            follow_command(&f).unwrap(),
            "tail -n 0 -F -- \"$HOME\"/\"logs/it's.log\""
        );
        let u = log(
            "g",
            LogFormat::Plain,
            LogOrigin::Unit("geth service".into()),
        );
        assert_eq!(
            follow_command(&u).unwrap(),
            "journalctl -f -n 0 --no-pager -o json -u 'geth service'"
        );
    }

    #[test]
    fn the_ring_is_bounded_and_counts_what_it_dropped() {
        let mut v = LogView::default();
        v.add_source(K1, "h1", &file("app", LogFormat::Plain));
        for i in 0..RING_LINES + 5 {
            v.push(K1, &format!("line {i}"), 1000);
        }
        let s = v.sources().next().unwrap().1;
        assert_eq!(s.lines().count(), RING_LINES);
        assert_eq!(s.dropped, 5);
        assert_eq!(v.dropped(), 5);
        assert_eq!(s.lines().next().unwrap().text, "line 5");
        // Re-adding keeps what is held.
        v.add_source(K1, "h1", &file("app", LogFormat::Plain));
        assert_eq!(v.merged(1000).len(), RING_LINES);
        v.push(SourceKey { host: 9, log: 9 }, "stray", 1000);
        assert_eq!(v.merged(1000).len(), RING_LINES);
    }

    #[test]
    fn levels_of_each_format() {
        // FISCO, as in the manual and src/probe/logs.rs.
        let p = parse_followed(
            "error|2022-11-21 20:03:00.250000|[g:1][CONSENSUS][PBFT]checkSign failed",
            false,
            LogFormat::Fisco,
            Some(8 * 3600),
            0,
        );
        assert_eq!(p.level, Some(LogLevel::Error));
        assert_eq!(p.at, Some(1_669_032_180));
        // Plain words.
        for (line, level) in [
            (
                "2026-12-07 05:00:01 ERROR disk quota exceeded",
                Some(LogLevel::Error),
            ),
            ("[WARN] slow peer", Some(LogLevel::Warning)),
            ("ts=1 level=warn msg=x", Some(LogLevel::Warning)),
            ("INFO retrying after error", Some(LogLevel::Info)),
            ("panic: runtime error", Some(LogLevel::Fatal)),
            ("terrorist errors", None),
            ("all good", None),
        ] {
            assert_eq!(word_level(line), level, "{line}");
        }
        // journald JSON: PRIORITY when the message has no level of its own.
        let j = r#"{"__REALTIME_TIMESTAMP":"1795322800123456","PRIORITY":"3","SYSLOG_IDENTIFIER":"geth","MESSAGE":"state root mismatch"}"#;
        let p = parse_followed(j, true, LogFormat::Plain, None, 0);
        assert_eq!(p.level, Some(LogLevel::Error));
        assert_eq!(p.at, Some(1_795_322_800));
        assert_eq!(p.text, "04:46:40 geth: state root mismatch");
        let j = r#"{"PRIORITY":"6","MESSAGE":"warning|2026-11-22 12:40:00.000000|[SYNC] slow"}"#;
        let p = parse_followed(j, true, LogFormat::Fisco, None, 0);
        assert_eq!(
            p.level,
            Some(LogLevel::Warning),
            "the message's own level wins"
        );
        let j = r#"{"PRIORITY":"4","MESSAGE":[104,105,255]}"#;
        let p = parse_followed(j, true, LogFormat::Plain, None, 0);
        assert_eq!(
            (p.level, p.text.as_str()),
            (Some(LogLevel::Warning), "hi\u{fffd}")
        );
        for (prio, level) in [
            (0, LogLevel::Fatal),
            (3, LogLevel::Error),
            (5, LogLevel::Info),
        ] {
            assert_eq!(priority_level(prio), Some(level));
        }
        assert_eq!(priority_level(9), None);
        // short-iso text from an older journalctl still reads.
        let p = parse_followed(
            "2026-11-22T04:45:00+0000 node-1 app[1]: ERROR boom",
            true,
            LogFormat::Plain,
            None,
            0,
        );
        assert_eq!(
            (p.at, p.level),
            (Some(1_795_322_700), Some(LogLevel::Error))
        );
    }

    #[test]
    fn fisco_zone_is_learned_from_arrival_and_continuations_inherit_the_level() {
        let mut v = LogView::default();
        v.add_source(K1, "n1", &file("node", LogFormat::Fisco));
        // 20:03:00 local in UTC+8 is 12:03:00Z; it arrived two seconds later.
        let arrived = 1_669_032_180 + 2;
        v.push(
            K1,
            "error|2022-11-21 20:03:00.250000|[PBFT] checkSign failed",
            arrived,
        );
        v.push(K1, "  at pbft::check (pbft.cpp:12)", arrived);
        v.push(K1, "info|2022-11-21 20:03:01.000000|[SYNC] ok", arrived);
        let lines = v.merged(arrived);
        assert_eq!(lines[0].at, Some(1_669_032_180));
        assert_eq!(lines[1].level, Some(LogLevel::Error), "a continuation");
        assert_eq!(lines[2].at, Some(1_669_032_181));
        v.level = LevelFilter::AtLeast(LogLevel::Warning);
        assert_eq!(v.merged(arrived).len(), 2);
    }

    #[test]
    fn level_filter_cycles_and_keeps_unknown_lines() {
        let mut f = LevelFilter::All;
        let mut seen = Vec::new();
        for _ in 0..5 {
            f = f.next();
            seen.push(f.label());
        }
        assert_eq!(
            seen,
            ["≥ debug", "≥ info", "≥ warning", "≥ error", "all levels"]
        );
        let e = LevelFilter::AtLeast(LogLevel::Error);
        assert!(e.keeps(Some(LogLevel::Fatal)) && e.keeps(None));
        assert!(!e.keeps(Some(LogLevel::Warning)));
    }

    #[test]
    fn the_time_window_uses_the_line_time_else_arrival() {
        let mut v = LogView::default();
        v.add_source(K1, "h1", &file("app", LogFormat::Plain));
        v.add_source(
            K2,
            "h2",
            &log("j", LogFormat::Plain, LogOrigin::Unit("j".into())),
        );
        let now = 10_000;
        v.push(K1, "arrived long ago", now - 4000);
        v.push(K1, "arrived recently", now - 100);
        // Arrived now, but written 20 minutes ago by its own clock.
        v.push(
            K2,
            r#"{"__REALTIME_TIMESTAMP":"8800000000","MESSAGE":"old by its own time"}"#,
            now,
        );
        let mut w = TimeWindow::All;
        let mut shown = Vec::new();
        for _ in 0..4 {
            v.window = w;
            shown.push((w.label(), v.merged(now).len()));
            w = w.next();
        }
        assert_eq!(
            shown,
            [
                ("all time".to_string(), 3),
                ("last 5m".to_string(), 1),
                ("last 15m".to_string(), 1),
                ("last 1h".to_string(), 2)
            ]
        );
        assert_eq!(w, TimeWindow::All);
    }

    #[test]
    fn merging_orders_by_time_and_keeps_each_sources_order() {
        let mut v = LogView::default();
        v.add_source(K1, "h1", &file("a", LogFormat::Plain));
        v.add_source(K2, "h2", &file("b", LogFormat::Plain));
        v.push(K1, "h1 first", 10);
        v.push(K2, "h2 at 5", 5);
        v.push(K1, "h1 second", 12);
        v.push(K2, "h2 at 11", 11);
        v.push(K2, "h2 at 12", 12);
        assert_eq!(
            texts(&v.merged(100)),
            ["h2 at 5", "h1 first", "h2 at 11", "h1 second", "h2 at 12"]
        );
        // A source whose clock steps back still reads in its own order.
        let (a, b) = (
            Line {
                seq: 1,
                key: K1,
                at: Some(50),
                arrived: 0,
                level: None,
                text: "a50".into(),
                matched: false,
            },
            Line {
                seq: 2,
                key: K1,
                at: Some(40),
                arrived: 0,
                level: None,
                text: "a40".into(),
                matched: false,
            },
        );
        let c = Line {
            seq: 3,
            key: K2,
            at: Some(45),
            arrived: 0,
            level: None,
            text: "b45".into(),
            matched: false,
        };
        assert_eq!(
            texts(&merge_by_time(vec![vec![&a, &b], vec![&c]])),
            ["b45", "a50", "a40"]
        );
        let cols = v.columns(100);
        assert_eq!(cols.len(), 2);
        assert_eq!(texts(&cols[1].1), ["h2 at 5", "h2 at 11", "h2 at 12"]);
    }

    #[test]
    fn search_matches_with_smart_case_and_steps_both_ways() {
        assert_eq!(find_matches("Error: an error", "error"), [0..5, 10..15]);
        assert_eq!(find_matches("Error: an error", "Error"), vec![0..5]);
        assert_eq!(find_matches("ÄÖ äö", "äö"), [0..4, 5..9]);
        assert_eq!(find_matches("aaa", "aa"), vec![0..2]);
        assert_eq!(find_matches("ä ERROR error", "error"), vec![3..8, 9..14]);
        assert_eq!(find_matches("ab", "abc"), Vec::<Range<usize>>::new());
        assert!(has_match("x TimeOut", "timeout") && !has_match("x timeout", "TimeOut"));
        assert!(find_matches("abc", "").is_empty());

        let mut v = LogView::default();
        v.add_source(K1, "h1", &file("a", LogFormat::Plain));
        for (i, t) in ["x error", "fine", "ERROR y", "ok", "error z"]
            .iter()
            .enumerate()
        {
            v.push(K1, t, i as i64);
        }
        assert_eq!(v.match_count(10), None);
        v.set_search("error");
        assert_eq!(
            v.match_count(10),
            Some(MatchCount {
                current: 0,
                total: 3
            })
        );
        let seqs: Vec<_> = (0..4).map(|_| v.search_step(10, true).unwrap()).collect();
        assert_eq!(seqs, [1, 3, 5, 1], "wraps to the first");
        assert_eq!(v.match_count(10).unwrap().current, 1);
        assert_eq!(v.search_step(10, false), Some(5), "back wraps to the last");
        assert_eq!(
            v.match_count(10),
            Some(MatchCount {
                current: 3,
                total: 3
            })
        );
        // A line that comes after the search is judged as it comes.
        v.push(K1, "late error", 5);
        assert_eq!(v.match_count(10).unwrap().total, 4);
        assert_eq!(v.search_step(10, true), Some(6));
        // Filtered out lines are not matches.
        v.level = LevelFilter::AtLeast(LogLevel::Error);
        v.window = TimeWindow::Last(8);
        assert_eq!(
            v.match_count(10).unwrap().total,
            3,
            "ERROR y, error z, late error"
        );
        v.set_search("");
        assert_eq!(v.search, None);
    }
}

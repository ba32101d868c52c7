//! The Logs pane: one row per tailed log, with its latest lines.
//!
//! Part of [`crate::view`]: pure rows from the inventory, the state, the verdicts and `now`.

use super::*;

/// One tailed log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRow {
    /// Index into `Fleet::hosts`.
    pub host: usize,
    /// Host name.
    pub host_name: String,
    /// Log name.
    pub name: String,
    /// `unit geth.service` or `file /var/log/x.log`.
    pub origin: String,
    /// `plain` or `fisco`.
    pub format: &'static str,
    /// Error lines in the window, or `-`.
    pub errors: String,
    /// Warning lines in the window, or `-`.
    pub warnings: String,
    /// Pattern matches in the window, or `-`.
    pub matches: String,
    /// `10m`, with `+` when the tail did not reach back over the whole window.
    pub window: String,
    /// Errors and warnings per module, most errors first: `CONSENSUS 3E 1W`.
    pub modules: Vec<String>,
    /// The last lines of the log, oldest first, already formatted.
    pub tail: Vec<String>,
    /// The last error, warning and matching lines, oldest first, already formatted.
    pub recent: Vec<String>,
    /// Errors at or above the host's `log_errors_warn` warn.
    pub status: Status,
    /// Why it could not be read.
    pub error: Option<String>,
    /// Freshness of the log summaries.
    pub fresh: Freshness,
}

impl LogRow {
    /// Fields a filter looks at.
    pub fn filter_fields(&self) -> impl Iterator<Item = &str> {
        [
            self.host_name.as_str(),
            self.name.as_str(),
            self.origin.as_str(),
        ]
        .into_iter()
        .chain(self.modules.iter().map(String::as_str))
    }
}

/// The tailed logs of `hosts`.
pub fn log_rows(ctx: &Ctx, hosts: &[usize]) -> Vec<LogRow> {
    let mut out = Vec::new();
    for &i in hosts {
        let (host, hs, _) = ctx.host(i);
        let logs = logs_of(hs);
        let fresh = Part::Logs.freshness(host, hs, ctx.now);
        for (k, l) in host.logs.iter().enumerate() {
            let mut row = LogRow {
                host: i,
                host_name: host.name.clone(),
                name: l.name.clone(),
                origin: match &l.origin {
                    LogOrigin::Unit(u) => format!("unit {u}"),
                    LogOrigin::File(f) => format!("file {f}"),
                },
                format: match l.format {
                    LogFormat::Plain => "plain",
                    LogFormat::Fisco => "fisco",
                },
                errors: "-".into(),
                warnings: "-".into(),
                matches: "-".into(),
                window: short_duration(l.window),
                modules: Vec::new(),
                tail: Vec::new(),
                recent: Vec::new(),
                status: Status::Unknown,
                error: None,
                fresh,
            };
            match logs.and_then(|ls| ls.get(k)).map(|o| &o.summary) {
                Some(Ok(s)) => {
                    row.errors = s.errors.to_string();
                    row.warnings = s.warnings.to_string();
                    row.matches = s.pattern_matches.to_string();
                    if !s.window_complete {
                        row.window.push('+');
                    }
                    row.modules = s
                        .by_module
                        .iter()
                        .map(|m| format!("{} {}E {}W", m.module, m.errors, m.warnings))
                        .collect();
                    row.tail = s.tail.iter().map(log_line_text).collect();
                    row.recent = s.recent.iter().map(log_line_text).collect();
                    row.status = if s.errors >= host.thresholds.log_errors_warn {
                        Status::Warning
                    } else {
                        Status::Ok
                    };
                }
                Some(Err(e)) => {
                    row.error = Some(e.clone());
                    row.status = Status::Warning;
                }
                None => {}
            }
            out.push(row);
        }
    }
    out
}

/// `08:00:00 error [CONSENSUS] text`: a log line as the panes show it.
fn log_line_text(line: &crate::observation::LogLine) -> String {
    let when = line.at.map(clock_time).unwrap_or_default();
    let level = line
        .level
        .map(|l| format!("{l:?}").to_lowercase())
        .unwrap_or_default();
    let module = line
        .module
        .as_deref()
        .map(|m| format!("[{m}] "))
        .unwrap_or_default();
    let head = [when, level]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if head.is_empty() {
        format!("{module}{}", line.text)
    } else {
        format!("{head} {module}{}", line.text)
    }
}

/// `08:00:00` (UTC) of an epoch time.
fn clock_time(epoch_secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch_secs)
        .map(|d| format!("{:02}:{:02}:{:02}", d.hour(), d.minute(), d.second()))
        .unwrap_or_default()
}

//! Pure parsers of probe command output: `&str` in, a typed reading or a [`ParseError`] out.
//!
//! This module owns the knowledge of what `df -P -k`, `/proc/loadavg`, `/proc/uptime`,
//! `systemctl show`, `docker inspect`, `docker compose ps`, `pgrep`, GNU `find -printf` and a
//! chain height command print, and what each means for fleetdeck. It must not run commands,
//! read files, look at clocks or decide health: every function here is a pure function of its
//! input, tested on recorded real outputs, and never panics on garbage (it returns `Err`).
//!
//! Callers: [`super::script`] (splitting a batch's output into sections, then calling these)
//! and [`super::chain`] (for `kind = "command"` chains).

use std::time::Duration;

use serde::Deserialize;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::observation::{BackupFile, DiskUsage, LoadAvg, ServiceObs, ServiceState};

/// Output a parser could not understand: what it expected and the offending line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, got {}", show_found(.found))]
pub struct ParseError {
    /// What the parser was looking for.
    pub expected: String,
    /// The offending line (shortened), empty when there was no output at all.
    pub found: String,
}

fn show_found(found: &str) -> String {
    if found.trim().is_empty() {
        "nothing".to_string()
    } else {
        format!("{found:?}")
    }
}

impl ParseError {
    /// An error saying `expected` was not found in `found` (kept to 160 characters).
    pub fn new(expected: impl Into<String>, found: &str) -> Self {
        ParseError {
            expected: expected.into(),
            found: shorten(found, 160),
        }
    }
}

/// `s` cut to at most `max` characters, with an ellipsis when cut.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

/// A service's state as read from one tool, before it is given the service's name.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceReading {
    /// Running, stopped, failed or unknown.
    pub state: ServiceState,
    /// One line of detail for the operator.
    pub detail: String,
    /// When it entered its current state (epoch seconds, host clock), if the tool says.
    pub since: Option<i64>,
    /// Restart count, if the tool says.
    pub restarts: Option<u64>,
}

impl ServiceReading {
    /// A reading with only a state and a detail.
    pub fn new(state: ServiceState, detail: impl Into<String>) -> Self {
        ServiceReading {
            state,
            detail: detail.into(),
            since: None,
            restarts: None,
        }
    }

    /// The observation of the service called `name`.
    pub fn into_obs(self, name: &str) -> ServiceObs {
        ServiceObs {
            name: name.to_string(),
            state: self.state,
            detail: self.detail,
            since: self.since,
            restarts: self.restarts,
        }
    }
}

/// Host clock from `date +%s`.
pub fn parse_epoch(text: &str) -> Result<i64, ParseError> {
    let t = text.trim();
    t.parse::<i64>()
        .map_err(|_| ParseError::new("seconds since the epoch (date +%s)", first_line(text)))
}

/// `/proc/loadavg`: `0.98 0.89 0.47 2/96 11883`.
pub fn parse_loadavg(text: &str) -> Result<LoadAvg, ParseError> {
    let line = first_line(text);
    let err = || ParseError::new("three load averages (/proc/loadavg)", line);
    let mut it = line.split_whitespace();
    let mut next = || -> Result<f64, ParseError> {
        let v: f64 = it.next().ok_or_else(err)?.parse().map_err(|_| err())?;
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(err())
        }
    };
    Ok(LoadAvg {
        one: next()?,
        five: next()?,
        fifteen: next()?,
    })
}

/// `/proc/uptime`: `512.55 521.00` (seconds up, seconds idle summed over CPUs).
pub fn parse_uptime(text: &str) -> Result<Duration, ParseError> {
    let line = first_line(text);
    let secs: f64 = line
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|v: &f64| v.is_finite() && *v >= 0.0 && *v < 1e12)
        .ok_or_else(|| ParseError::new("seconds of uptime (/proc/uptime)", line))?;
    Ok(Duration::from_secs_f64(secs))
}

/// `df -P -k` output, header included: one [`DiskUsage`] per data line.
///
/// Copes with device names long enough that a non-POSIX `df` wraps the line, a block size other
/// than 1024 announced in the header (`512-blocks`), mount points with spaces, and pseudo
/// filesystems whose capacity column is `-`. `used_percent` is computed exactly from used and
/// available (df rounds it up); when both are 0 the percent column is used.
pub fn parse_df(text: &str) -> Result<Vec<DiskUsage>, ParseError> {
    Ok(parse_df_typed(text)?.into_iter().map(|(_, u)| u).collect())
}

/// `df -P -k` output with or without a `Type` column (`df -P -k -T`): each line's filesystem
/// type (when the header has that column) and its [`DiskUsage`].
pub fn parse_df_typed(text: &str) -> Result<Vec<(Option<String>, DiskUsage)>, ParseError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty()).peekable();
    let header = lines
        .next()
        .ok_or_else(|| ParseError::new("a df header line", ""))?;
    if !header.starts_with("Filesystem") {
        return Err(ParseError::new(
            "a df header line starting with \"Filesystem\"",
            header,
        ));
    }
    let typed = header.split_whitespace().nth(1) == Some("Type");
    let block = header
        .split_whitespace()
        .nth(if typed { 2 } else { 1 })
        .and_then(|t| t.strip_suffix("-blocks"))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(1024);
    let mut out = Vec::new();
    while let Some(line) = lines.next() {
        let mut joined = line.to_string();
        // A long device name alone on its line: the numbers follow on the next one.
        if tokens(&joined).len() == 1
            && let Some(next) = lines.next()
        {
            joined.push(' ');
            joined.push_str(next);
        }
        out.push(parse_df_line(&joined, block, typed)?);
    }
    if out.is_empty() {
        return Err(ParseError::new("at least one df data line", header));
    }
    Ok(out)
}

fn parse_df_line(
    line: &str,
    block: u64,
    typed: bool,
) -> Result<(Option<String>, DiskUsage), ParseError> {
    let toks = tokens(line);
    let err = || {
        ParseError::new(
            "a df line: filesystem, blocks, used, available, capacity, mount point",
            line,
        )
    };
    // The capacity column ("14%" or "-") preceded by three numbers; everything before is the
    // device, everything after it the mount point (either may contain spaces).
    let first_cap = if typed { 5 } else { 4 };
    let cap_idx = (first_cap..toks.len())
        .find(|&i| {
            is_capacity(toks[i].1) && toks[i - 3..i].iter().all(|(_, t)| t.parse::<u64>().is_ok())
        })
        .ok_or_else(err)?;
    if cap_idx + 1 >= toks.len() {
        return Err(err());
    }
    let num = |i: usize| -> Result<u64, ParseError> {
        toks[i]
            .1
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(block))
            .ok_or_else(err)
    };
    let total_bytes = num(cap_idx - 3)?;
    let used_bytes = num(cap_idx - 2)?;
    let avail_bytes = num(cap_idx - 1)?;
    let (fs_last, fs_type) = if typed {
        (cap_idx - 5, Some(toks[cap_idx - 4].1.to_string()))
    } else {
        (cap_idx - 4, None)
    };
    let fs_end = toks[fs_last].0 + toks[fs_last].1.len();
    let filesystem = line[..fs_end].trim().to_string();
    let mounted_on = line[toks[cap_idx + 1].0..].trim_end().to_string();
    let denom = used_bytes as f64 + avail_bytes as f64;
    let used_percent = if denom > 0.0 {
        used_bytes as f64 * 100.0 / denom
    } else {
        toks[cap_idx]
            .1
            .strip_suffix('%')
            .and_then(|p| p.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok((
        fs_type,
        DiskUsage {
            filesystem,
            total_bytes,
            used_bytes,
            avail_bytes,
            used_percent,
            mounted_on,
        },
    ))
}

fn is_capacity(t: &str) -> bool {
    t == "-"
        || t.strip_suffix('%')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Whitespace-separated tokens with their byte offsets in `line`.
fn tokens(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, &line[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &line[s..]));
    }
    out
}

/// `systemctl show --property=ActiveState,SubState,Result,ExecMainStatus,ActiveEnterTimestamp,
/// InactiveEnterTimestamp,NRestarts,LoadState` (run with `TZ=UTC`).
///
/// `active` → running; `inactive` → stopped; `failed` → failed; `activating`/`reloading` →
/// running with the sub-state in the detail, except `activating (auto-restart)`: the main
/// process died and systemd is waiting to restart it, which is a crash loop, so failed.
/// `LoadState=not-found` → unknown, "unit not found".
pub fn parse_systemctl_show(text: &str) -> Result<ServiceReading, ParseError> {
    let mut props = std::collections::HashMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| ParseError::new("Key=Value lines from systemctl show", line))?;
        props.insert(k, v);
    }
    let active = *props
        .get("ActiveState")
        .ok_or_else(|| ParseError::new("an ActiveState= line from systemctl show", text))?;
    let sub = props.get("SubState").copied().unwrap_or("");
    let load = props.get("LoadState").copied().unwrap_or("");
    let result = props.get("Result").copied().unwrap_or("");
    let status = props.get("ExecMainStatus").copied().unwrap_or("0");
    let restarts = props.get("NRestarts").and_then(|v| v.parse::<u64>().ok());
    let entered = |key: &str| props.get(key).and_then(|v| parse_systemd_timestamp(v));
    let with_sub = |s: &str| {
        if sub.is_empty() {
            s.to_string()
        } else {
            format!("{s} ({sub})")
        }
    };
    let last_result = || {
        let mut d = format!("Result: {result}");
        if status != "0" && !status.is_empty() {
            d.push_str(&format!(", status {status}"));
        }
        d
    };

    if load == "not-found" {
        return Ok(ServiceReading {
            restarts,
            ..ServiceReading::new(ServiceState::Unknown, "unit not found")
        });
    }
    let (state, detail, since) = match active {
        "active" | "reloading" | "refreshing" | "deactivating" => (
            ServiceState::Running,
            with_sub(active),
            entered("ActiveEnterTimestamp"),
        ),
        "activating" if sub.starts_with("auto-restart") => (
            ServiceState::Failed,
            format!("{}, last {}", with_sub(active), last_result()),
            entered("InactiveEnterTimestamp"),
        ),
        "activating" => (
            ServiceState::Running,
            with_sub(active),
            entered("ActiveEnterTimestamp"),
        ),
        "inactive" => {
            let mut d = with_sub(active);
            if !result.is_empty() && result != "success" {
                d.push_str(&format!(", last {}", last_result()));
            }
            (ServiceState::Stopped, d, entered("InactiveEnterTimestamp"))
        }
        "failed" => (
            ServiceState::Failed,
            format!("failed ({})", last_result()),
            entered("InactiveEnterTimestamp"),
        ),
        other => (ServiceState::Unknown, format!("ActiveState={other}"), None),
    };
    let detail = match load {
        "" | "loaded" => detail,
        masked @ "masked" => format!("{detail}, {masked}"),
        other => format!("{detail}, unit {other}"),
    };
    Ok(ServiceReading {
        state,
        detail,
        since,
        restarts,
    })
}

/// A systemd timestamp as `systemctl show` prints it: `Sat 2026-09-12 07:59:10 UTC` (the probe
/// sets `TZ=UTC`, because zone abbreviations are ambiguous), `@1757663950` (`--timestamp=unix`),
/// empty or `n/a` (never entered). Any other zone gives `None` rather than a wrong time.
pub fn parse_systemd_timestamp(v: &str) -> Option<i64> {
    let v = v.trim();
    if let Some(secs) = v.strip_prefix('@') {
        return secs.split('.').next()?.parse().ok();
    }
    let mut parts = v.split_whitespace();
    let (_weekday, date, time, zone) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !matches!(zone, "UTC" | "GMT") {
        return None;
    }
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let at = PrimitiveDateTime::parse(&format!("{date} {time}"), &fmt).ok()?;
    Some(at.assume_utc().unix_timestamp())
}

/// The `.State` object of `docker inspect` (only the fields fleetdeck reads).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerState {
    #[serde(default)]
    status: String,
    #[serde(default)]
    running: bool,
    #[serde(default)]
    paused: bool,
    #[serde(default)]
    restarting: bool,
    #[serde(default, rename = "OOMKilled")]
    oom_killed: bool,
    #[serde(default)]
    dead: bool,
    #[serde(default)]
    exit_code: i64,
    #[serde(default)]
    error: String,
    #[serde(default)]
    started_at: String,
    #[serde(default)]
    finished_at: String,
    #[serde(default)]
    health: Option<DockerHealth>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerHealth {
    #[serde(default)]
    status: String,
}

/// `docker inspect --format '{{.RestartCount}} {{json .State}}' NAME`: `3 {"Status":…}`.
///
/// running → running (failed when its health check says unhealthy); restarting, dead, or exited
/// with a non-zero code or OOM-killed → failed; exited 0, created, paused → stopped. A bare
/// `{…}` without the restart count is accepted too.
pub fn parse_docker_inspect_state(text: &str) -> Result<ServiceReading, ParseError> {
    let t = text.trim();
    let (restarts, json) = match t.split_once(' ') {
        Some((n, rest)) if !n.starts_with('{') => {
            let n = n
                .parse::<u64>()
                .map_err(|_| ParseError::new("a restart count before the state JSON", t))?;
            (Some(n), rest.trim())
        }
        _ => (None, t),
    };
    let st: DockerState = serde_json::from_str(json)
        .map_err(|e| ParseError::new(format!("docker's State JSON ({e})"), json))?;
    let health = st.health.as_ref().map(|h| h.status.as_str()).unwrap_or("");
    let code = st.exit_code;
    let (state, detail) = if st.restarting || st.status == "restarting" {
        (
            ServiceState::Failed,
            format!("restarting (last exit {code})"),
        )
    } else if st.running && !st.paused {
        match health {
            "unhealthy" => (ServiceState::Failed, "running, unhealthy".to_string()),
            "" | "none" => (ServiceState::Running, "running".to_string()),
            h => (ServiceState::Running, format!("running ({h})")),
        }
    } else if st.paused || st.status == "paused" {
        (ServiceState::Stopped, "paused".to_string())
    } else if st.dead || st.status == "dead" {
        (ServiceState::Failed, "dead".to_string())
    } else if st.oom_killed {
        (ServiceState::Failed, format!("exited ({code}), OOM killed"))
    } else if st.status == "created" {
        (ServiceState::Stopped, "created, never started".to_string())
    } else if code != 0 {
        let mut d = format!("exited ({code})");
        if !st.error.is_empty() {
            d.push_str(&format!(": {}", st.error));
        }
        (ServiceState::Failed, d)
    } else if st.status.is_empty() {
        return Err(ParseError::new(
            "a Status field in docker's State JSON",
            json,
        ));
    } else {
        (ServiceState::Stopped, format!("{} ({code})", st.status))
    };
    let since = if st.running {
        parse_rfc3339(&st.started_at)
    } else {
        parse_rfc3339(&st.finished_at)
    };
    Ok(ServiceReading {
        state,
        detail,
        since,
        restarts,
    })
}

/// An RFC 3339 time as Docker prints it; `0001-01-01T00:00:00Z` (never) gives `None`.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    (t.year() >= 1970).then(|| t.unix_timestamp())
}

/// One container of `docker compose ps --format json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ComposeContainer {
    #[serde(default)]
    name: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    health: String,
    #[serde(default)]
    exit_code: i64,
    #[serde(default)]
    status: String,
}

/// `docker compose -f FILE ps --all --format json SERVICE`.
///
/// Compose ≥ 2.21 prints one JSON object per line, older 2.x one JSON array; both are read. All
/// containers running (none unhealthy) → running; some running → failed ("1/2 running"); none
/// running → failed when one crashed (non-zero exit, restarting, dead), else stopped; no
/// container at all → stopped.
pub fn parse_compose_ps(text: &str) -> Result<ServiceReading, ParseError> {
    let t = text.trim();
    let containers: Vec<ComposeContainer> = if t.starts_with('[') {
        serde_json::from_str(t)
            .map_err(|e| ParseError::new(format!("a JSON array of containers ({e})"), t))?
    } else {
        t.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .map_err(|e| ParseError::new(format!("one JSON container per line ({e})"), l))
            })
            .collect::<Result<_, _>>()?
    };
    if containers.is_empty() {
        return Ok(ServiceReading::new(ServiceState::Stopped, "no container"));
    }
    let total = containers.len();
    let up: Vec<&ComposeContainer> = containers.iter().filter(|c| c.state == "running").collect();
    let describe = |c: &ComposeContainer| {
        let what = if c.status.is_empty() {
            format!("{} ({})", c.state, c.exit_code)
        } else {
            c.status.clone()
        };
        if total > 1 {
            format!("{}: {what}", c.name)
        } else {
            what
        }
    };
    if let Some(sick) = up.iter().find(|c| c.health == "unhealthy") {
        return Ok(ServiceReading::new(
            ServiceState::Failed,
            format!("unhealthy: {}", describe(sick)),
        ));
    }
    if up.len() == total {
        let detail = if total == 1 {
            describe(up[0])
        } else {
            format!("{total}/{total} running")
        };
        return Ok(ServiceReading::new(ServiceState::Running, detail));
    }
    let down: Vec<&ComposeContainer> = containers.iter().filter(|c| c.state != "running").collect();
    let crashed = |c: &ComposeContainer| {
        matches!(c.state.as_str(), "restarting" | "dead")
            || (c.state == "exited" && c.exit_code != 0)
    };
    let first_bad = down.iter().find(|c| crashed(c)).unwrap_or(&down[0]);
    if !up.is_empty() {
        return Ok(ServiceReading::new(
            ServiceState::Failed,
            format!("{}/{total} running; {}", up.len(), describe(first_bad)),
        ));
    }
    let state = if down.iter().any(|c| crashed(c)) {
        ServiceState::Failed
    } else {
        ServiceState::Stopped
    };
    Ok(ServiceReading::new(state, describe(first_bad)))
}

/// Whether a state letter of `/proc/PID/stat` means the process has exited: `Z` zombie (its
/// parent has not reaped it) or `X` dead. Such a process matches `pgrep` (by its name) and
/// keeps its `/proc` entry, but runs nothing.
fn exited_state(state: &str) -> bool {
    matches!(state, "Z" | "X" | "x")
}

/// The probe script's process match (exit status 0 or 1): one `PID STATE` line per process
/// `pgrep -f -- PATTERN` found, STATE being the state letter of `/proc/PID/stat` (empty where
/// it cannot be read: no /proc, or the process just went). Zombies do not count; no running
/// match → stopped.
pub fn parse_pgrep(text: &str) -> Result<ServiceReading, ParseError> {
    let mut running: Vec<u32> = Vec::new();
    let mut zombies: Vec<u32> = Vec::new();
    for l in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut words = l.split_whitespace();
        let pid = words
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .ok_or_else(|| ParseError::new("a process id and its state per line", l))?;
        match (words.next(), words.next()) {
            (Some(state), None) if exited_state(state) => zombies.push(pid),
            (_, None) => running.push(pid),
            _ => return Err(ParseError::new("a process id and its state per line", l)),
        }
    }
    let list = |pids: &[u32]| {
        let shown: Vec<String> = pids.iter().take(5).map(u32::to_string).collect();
        let more = if pids.len() > 5 { ", …" } else { "" };
        format!("{}{more}", shown.join(", "))
    };
    Ok(match running.as_slice() {
        [] if zombies.is_empty() => {
            ServiceReading::new(ServiceState::Stopped, "no matching process")
        }
        [] => ServiceReading::new(
            ServiceState::Stopped,
            format!(
                "no running process; only zombie{} (exited, not reaped): pid{} {}",
                if zombies.len() == 1 { "" } else { "s" },
                if zombies.len() == 1 { "" } else { "s" },
                list(&zombies)
            ),
        ),
        [one] => ServiceReading::new(ServiceState::Running, format!("pid {one}")),
        many => ServiceReading::new(
            ServiceState::Running,
            format!("{} processes (pids {})", many.len(), list(many)),
        ),
    })
}

/// The probe script's pidfile check, which prints one of `alive PID STATE` (STATE from
/// `/proc/PID/stat`, empty where unreadable), `dead PID`, `nofile`, `unreadable` or `badpid
/// CONTENT`. A pidfile naming a dead process is a crash → failed; so is one naming a zombie,
/// which has exited too and only waits for its parent to reap it.
pub fn parse_pidfile_check(text: &str) -> Result<ServiceReading, ParseError> {
    let line = first_line(text).trim();
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    let (pid, state) = rest.split_once(' ').unwrap_or((rest, ""));
    let reading = match word {
        "alive" if exited_state(state.trim()) => ServiceReading::new(
            ServiceState::Failed,
            format!("pid {pid} is a zombie (exited, not reaped; stale pidfile)"),
        ),
        "alive" => ServiceReading::new(ServiceState::Running, format!("pid {pid}")),
        "dead" => ServiceReading::new(
            ServiceState::Failed,
            format!("pid {rest} is not running (stale pidfile)"),
        ),
        "nofile" => ServiceReading::new(ServiceState::Stopped, "no pidfile"),
        "unreadable" => ServiceReading::new(ServiceState::Unknown, "pidfile is not readable"),
        "badpid" => ServiceReading::new(
            ServiceState::Unknown,
            format!("pidfile holds {:?}, not a pid", shorten(rest, 40)),
        ),
        _ => {
            return Err(ParseError::new(
                "alive PID STATE, dead PID, nofile, unreadable or badpid",
                line,
            ));
        }
    };
    let pid_ok = match word {
        "alive" => pid.parse::<u32>().is_ok() && !state.trim().contains(' '),
        "dead" => rest.parse::<u32>().is_ok(),
        _ => true,
    };
    if !pid_ok {
        return Err(ParseError::new("a numeric pid", line));
    }
    Ok(reading)
}

/// GNU `find DIR -maxdepth 1 -type f -name PATTERN -printf '%T@ %s %p\n'` output (possibly
/// already cut to the newest lines): returns the newest file and the one before it. Order of
/// the lines does not matter. No line at all → `(None, None)`.
pub fn parse_backup_listing(
    text: &str,
) -> Result<(Option<BackupFile>, Option<BackupFile>), ParseError> {
    let mut files = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let err = || ParseError::new("\"MTIME SIZE PATH\" from find -printf", line);
        let mut parts = line.splitn(3, ' ');
        let (mtime, size, path) = (
            parts.next().ok_or_else(err)?,
            parts.next().ok_or_else(err)?,
            parts.next().ok_or_else(err)?,
        );
        let secs = mtime.split('.').next().unwrap_or("");
        let mtime: i64 = secs.parse().map_err(|_| err())?;
        if path.is_empty() {
            return Err(err());
        }
        files.push(BackupFile {
            path: path.to_string(),
            mtime,
            size_bytes: size.parse().map_err(|_| err())?,
        });
    }
    // Newest last; ties broken by path so the result is deterministic.
    files.sort_by(|a, b| a.mtime.cmp(&b.mtime).then_with(|| a.path.cmp(&b.path)));
    let latest = files.pop();
    let previous = files.pop();
    Ok((latest, previous))
}

/// A block height printed by a `kind = "command"` chain: decimal or `0x` hex, on the last
/// non-empty line (so a tool that prints a banner first still works).
pub fn parse_height(text: &str) -> Result<u64, ParseError> {
    let line = text
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("");
    parse_quantity_str(line)
        .ok_or_else(|| ParseError::new("a block height (decimal or 0x hex)", line))
}

/// `123` or `0x7b` → 123.
pub(crate) fn parse_quantity_str(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.is_empty() {
            return None;
        }
        u64::from_str_radix(hex, 16).ok()
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// The first line of `text` (without its newline), or `""`.
pub(crate) fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- recorded on this machine (Debian 12, coreutils 9.1, procps 4.0.2, GNU findutils 4.9) ----

    /// `LC_ALL=C df -P -k / /tmp /proc`, recorded verbatim.
    const DF_REAL: &str = "Filesystem     1024-blocks     Used Available Capacity Mounted on
/dev/vda         264212084 12944252  82341636      14% /
/dev/vda         264212084 12944252  82341636      14% /
proc                     0        0         0        - /proc
";

    /// `cat /proc/loadavg`, recorded verbatim.
    const LOADAVG_REAL: &str = "0.98 0.89 0.47 2/96 11883\n";

    /// `cat /proc/uptime`, recorded verbatim.
    const UPTIME_REAL: &str = "512.55 521.00\n";

    /// `find /tmp/bk -maxdepth 1 -type f -name '*-postgres-backup.sql.gz' -printf '%T@ %s %p\n'
    /// | sort -n | tail -n 2`, recorded verbatim (files made with `touch -d`).
    const FIND_REAL: &str = "1795312800.0000000000 2 /tmp/bk/db-2-postgres-backup.sql.gz
1795399200.0000000000 2 /tmp/bk/db-3-postgres-backup.sql.gz
";

    #[test]
    fn df_real_output() {
        let disks = parse_df(DF_REAL).unwrap();
        assert_eq!(disks.len(), 3);
        let root = &disks[0];
        assert_eq!(root.filesystem, "/dev/vda");
        assert_eq!(root.mounted_on, "/");
        assert_eq!(root.total_bytes, 264_212_084 * 1024);
        assert_eq!(root.used_bytes, 12_944_252 * 1024);
        assert_eq!(root.avail_bytes, 82_341_636 * 1024);
        // df printed 14% (rounded up); the exact figure is used / (used + avail).
        assert!(
            (root.used_percent - 13.5846).abs() < 0.001,
            "{}",
            root.used_percent
        );
        assert_eq!(disks[2].filesystem, "proc");
        assert_eq!(disks[2].used_percent, 0.0);
        assert_eq!(disks[2].mounted_on, "/proc");
    }

    #[test]
    fn df_long_device_names_spaces_and_wrapped_lines() {
        // A device-mapper name longer than the column, as `df -P` prints it (never wrapped),
        // and a mount point with a space.
        let posix = "Filesystem                                   1024-blocks      Used Available Capacity Mounted on
/dev/mapper/ubuntu--vg-ubuntu--lv--very--long--name  102626232  95000000   2384640      98% /var/lib/my data
";
        let d = &parse_df(posix).unwrap()[0];
        assert_eq!(
            d.filesystem,
            "/dev/mapper/ubuntu--vg-ubuntu--lv--very--long--name"
        );
        assert_eq!(d.mounted_on, "/var/lib/my data");
        assert!(d.used_percent > 97.0 && d.used_percent < 98.0);

        // Without -P, older GNU df wraps a long device name onto its own line.
        let wrapped = "Filesystem     1K-blocks     Used Available Use% Mounted on
/dev/mapper/ubuntu--vg-ubuntu--lv--very--long--name
                102626232 95000000   2384640  98% /data
";
        let d = &parse_df(wrapped).unwrap()[0];
        assert_eq!(
            d.filesystem,
            "/dev/mapper/ubuntu--vg-ubuntu--lv--very--long--name"
        );
        assert_eq!(d.mounted_on, "/data");
        assert_eq!(d.total_bytes, 102_626_232 * 1024);

        // POSIX default block size.
        let half = "Filesystem 512-blocks Used Available Capacity Mounted on\n/dev/sda1 200 100 100 50% /\n";
        assert_eq!(parse_df(half).unwrap()[0].total_bytes, 200 * 512);
    }

    #[test]
    fn df_garbage_is_an_error() {
        assert!(parse_df("").is_err());
        assert!(parse_df("Filesystem 1024-blocks Used Available Capacity Mounted on\n").is_err());
        assert!(parse_df("df: /data: No such file or directory\n").is_err());
        // Truncated mid-line.
        let cut = "Filesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/vda         264212084 1294";
        let e = parse_df(cut).unwrap_err();
        assert!(e.to_string().contains("/dev/vda"), "{e}");
        assert!(parse_df("Filesystem x\n/dev/sda1 a b c 10% /\n").is_err());
        assert!(parse_df("Filesystem x\n/dev/sda1 99999999999999999999 1 1 10% /\n").is_err());
    }

    #[test]
    fn loadavg_and_uptime_real() {
        let l = parse_loadavg(LOADAVG_REAL).unwrap();
        assert_eq!((l.one, l.five, l.fifteen), (0.98, 0.89, 0.47));
        assert_eq!(
            parse_uptime(UPTIME_REAL).unwrap(),
            Duration::from_millis(512_550)
        );
        assert!(parse_loadavg("").is_err());
        assert!(parse_loadavg("0.98 0.89").is_err());
        assert!(parse_loadavg("nan 1 1").is_err());
        assert!(parse_uptime("").is_err());
        assert!(parse_uptime("-5 1").is_err());
        assert!(parse_uptime("1e300 0").is_err());
        assert!(parse_uptime("cat: /proc/uptime: No such file or directory").is_err());
    }

    #[test]
    fn epoch() {
        assert_eq!(parse_epoch("1795321591\n").unwrap(), 1_795_321_591);
        assert!(parse_epoch("").is_err());
        assert!(parse_epoch("Sun Nov 22 04:26:14 UTC 2026").is_err());
    }

    // ---- systemctl show. Samples follow systemd 252 (Debian 12): properties come out in
    // systemd's own order (service properties first, then unit properties), not the order
    // requested; this machine's container has no systemd as PID 1, so the outputs below are
    // written from public logs of real `systemctl show` runs, not recorded here. ----

    const SYSTEMD_RUNNING: &str = "Result=success
NRestarts=0
ExecMainStatus=0
LoadState=loaded
ActiveState=active
SubState=running
ActiveEnterTimestamp=Sat 2026-09-12 07:59:10 UTC
InactiveEnterTimestamp=Sat 2026-09-12 07:59:09 UTC
";

    const SYSTEMD_FAILED: &str = "Result=exit-code
NRestarts=5
ExecMainStatus=1
LoadState=loaded
ActiveState=failed
SubState=failed
ActiveEnterTimestamp=Sat 2026-09-12 07:14:45 UTC
InactiveEnterTimestamp=Sat 2026-09-12 07:20:01 UTC
";

    const SYSTEMD_NOT_FOUND: &str = "Result=success
NRestarts=0
ExecMainStatus=0
LoadState=not-found
ActiveState=inactive
SubState=dead
ActiveEnterTimestamp=
InactiveEnterTimestamp=
";

    const SYSTEMD_AUTO_RESTART: &str = "Result=exit-code
NRestarts=17
ExecMainStatus=2
LoadState=loaded
ActiveState=activating
SubState=auto-restart
ActiveEnterTimestamp=Sat 2026-09-12 07:14:45 UTC
InactiveEnterTimestamp=Sat 2026-09-12 08:00:03 UTC
";

    const SYSTEMD_INACTIVE: &str = "Result=success
NRestarts=0
ExecMainStatus=0
LoadState=loaded
ActiveState=inactive
SubState=dead
ActiveEnterTimestamp=
InactiveEnterTimestamp=n/a
";

    #[test]
    fn systemctl_running() {
        let r = parse_systemctl_show(SYSTEMD_RUNNING).unwrap();
        assert_eq!(r.state, ServiceState::Running);
        assert_eq!(r.detail, "active (running)");
        assert_eq!(r.since, Some(1_789_199_950));
        assert_eq!(r.restarts, Some(0));
    }

    #[test]
    fn systemctl_failed_not_found_auto_restart_inactive() {
        let r = parse_systemctl_show(SYSTEMD_FAILED).unwrap();
        assert_eq!(r.state, ServiceState::Failed);
        assert_eq!(r.detail, "failed (Result: exit-code, status 1)");
        assert_eq!(r.restarts, Some(5));
        assert_eq!(
            r.since,
            parse_systemd_timestamp("Sat 2026-09-12 07:20:01 UTC")
        );

        let r = parse_systemctl_show(SYSTEMD_NOT_FOUND).unwrap();
        assert_eq!(r.state, ServiceState::Unknown);
        assert_eq!(r.detail, "unit not found");

        let r = parse_systemctl_show(SYSTEMD_AUTO_RESTART).unwrap();
        assert_eq!(r.state, ServiceState::Failed);
        assert!(r.detail.contains("auto-restart"), "{}", r.detail);
        assert!(r.detail.contains("status 2"), "{}", r.detail);
        assert_eq!(r.restarts, Some(17));

        let r = parse_systemctl_show(SYSTEMD_INACTIVE).unwrap();
        assert_eq!(r.state, ServiceState::Stopped);
        assert_eq!(r.detail, "inactive (dead)");
        assert_eq!(r.since, None);

        let starting = "ActiveState=activating\nSubState=start\nLoadState=loaded\n";
        let r = parse_systemctl_show(starting).unwrap();
        assert_eq!(r.state, ServiceState::Running);
        assert_eq!(r.detail, "activating (start)");
        assert_eq!(r.restarts, None);

        let reloading = "ActiveState=reloading\nSubState=reload\n";
        assert_eq!(
            parse_systemctl_show(reloading).unwrap().state,
            ServiceState::Running
        );
        let masked = "LoadState=masked\nActiveState=inactive\nSubState=dead\n";
        let r = parse_systemctl_show(masked).unwrap();
        assert_eq!(
            (r.state, r.detail.as_str()),
            (ServiceState::Stopped, "inactive (dead), masked")
        );
    }

    #[test]
    fn systemctl_garbage() {
        assert!(parse_systemctl_show("").is_err());
        assert!(
            parse_systemctl_show(
                "System has not been booted with systemd as init system (PID 1). Can't operate.\n"
            )
            .is_err()
        );
        assert!(parse_systemctl_show("Result=success\nNRestarts=0\n").is_err());
        // Truncated before ActiveState.
        assert!(
            parse_systemctl_show("Result=success\nNRestarts=0\nExecMainStatus=0\nLoadSt").is_err()
        );
    }

    #[test]
    fn systemd_timestamps() {
        assert_eq!(
            parse_systemd_timestamp("Thu 1970-01-01 00:00:10 UTC"),
            Some(10)
        );
        assert_eq!(parse_systemd_timestamp("@1757663950"), Some(1_757_663_950));
        assert_eq!(parse_systemd_timestamp(""), None);
        assert_eq!(parse_systemd_timestamp("n/a"), None);
        // An ambiguous zone abbreviation is refused rather than guessed.
        assert_eq!(
            parse_systemd_timestamp("Sat 2026-09-12 07:59:10 CEST"),
            None
        );
        assert_eq!(parse_systemd_timestamp("Sat 2026-13-12 07:59:10 UTC"), None);
    }

    // ---- docker inspect: the State object as Docker Engine 28 prints it for
    // `docker inspect --format '{{.RestartCount}} {{json .State}}'` (shape of the Engine API's
    // ContainerState; this machine's docker CLI has no daemon, see DOCKER_NO_DAEMON). ----

    const DOCKER_RUNNING_HEALTHY: &str = r#"0 {"Status":"running","Running":true,"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"Pid":4242,"ExitCode":0,"Error":"","StartedAt":"2026-11-20T08:15:42.123456789Z","FinishedAt":"0001-01-01T00:00:00Z","Health":{"Status":"healthy","FailingStreak":0,"Log":[{"Start":"2026-11-22T04:00:00.1Z","End":"2026-11-22T04:00:00.2Z","ExitCode":0,"Output":"ok"}]}}
"#;

    const DOCKER_EXITED_137: &str = r#"4 {"Status":"exited","Running":false,"Paused":false,"Restarting":false,"OOMKilled":true,"Dead":false,"Pid":0,"ExitCode":137,"Error":"","StartedAt":"2026-11-20T08:15:42.123456789Z","FinishedAt":"2026-11-21T23:59:59.5Z"}
"#;

    const DOCKER_RESTARTING: &str = r#"12 {"Status":"restarting","Running":true,"Paused":false,"Restarting":true,"OOMKilled":false,"Dead":false,"Pid":0,"ExitCode":1,"Error":"","StartedAt":"2026-11-22T04:25:00Z","FinishedAt":"2026-11-22T04:25:01Z"}
"#;

    /// Recorded on this machine: `docker inspect …` with no daemon prints an empty stdout line
    /// (and the message below on stderr, exit status 1).
    const DOCKER_NO_DAEMON: &str = "\n";

    #[test]
    fn docker_inspect_states() {
        let r = parse_docker_inspect_state(DOCKER_RUNNING_HEALTHY).unwrap();
        assert_eq!(r.state, ServiceState::Running);
        assert_eq!(r.detail, "running (healthy)");
        assert_eq!(r.restarts, Some(0));
        assert_eq!(r.since, Some(1_795_162_542));

        let r = parse_docker_inspect_state(DOCKER_EXITED_137).unwrap();
        assert_eq!(r.state, ServiceState::Failed);
        assert_eq!(r.detail, "exited (137), OOM killed");
        assert_eq!(r.restarts, Some(4));
        assert_eq!(r.since, Some(1_795_305_599));

        let r = parse_docker_inspect_state(DOCKER_RESTARTING).unwrap();
        assert_eq!(r.state, ServiceState::Failed);
        assert_eq!(r.detail, "restarting (last exit 1)");

        let clean = r#"{"Status":"exited","Running":false,"ExitCode":0,"FinishedAt":"2026-11-21T23:59:59Z"}"#;
        let r = parse_docker_inspect_state(clean).unwrap();
        assert_eq!(
            (r.state, r.detail.as_str(), r.restarts),
            (ServiceState::Stopped, "exited (0)", None)
        );

        let unhealthy = r#"1 {"Status":"running","Running":true,"Health":{"Status":"unhealthy"}}"#;
        assert_eq!(
            parse_docker_inspect_state(unhealthy).unwrap().state,
            ServiceState::Failed
        );
        let paused = r#"0 {"Status":"paused","Running":true,"Paused":true}"#;
        assert_eq!(
            parse_docker_inspect_state(paused).unwrap().state,
            ServiceState::Stopped
        );
    }

    #[test]
    fn docker_inspect_garbage() {
        assert!(parse_docker_inspect_state(DOCKER_NO_DAEMON).is_err());
        assert!(parse_docker_inspect_state("").is_err());
        assert!(parse_docker_inspect_state("Error: No such object: web").is_err());
        assert!(parse_docker_inspect_state(r#"0 {"Status":"running","Runn"#).is_err());
        assert!(parse_docker_inspect_state("0 {}").is_err());
    }

    // ---- docker compose ps --all --format json. Lines follow the field set Compose 2.40 prints
    // (one object per line); the array form is what Compose 2.0–2.20 printed. ----

    const COMPOSE_NDJSON: &str = r#"{"Command":"\"docker-entrypoint.s…\"","CreatedAt":"2026-11-20 08:15:41 +0000 UTC","ExitCode":0,"Health":"healthy","ID":"3f1c0a9b2d4e","Image":"postgres:16","Labels":"com.docker.compose.project=app,com.docker.compose.service=db","LocalVolumes":"1","Mounts":"app_pgdata","Name":"app-db-1","Names":"app-db-1","Networks":"app_default","Ports":"5432/tcp","Project":"app","Publishers":[{"URL":"","TargetPort":5432,"PublishedPort":0,"Protocol":"tcp"}],"RunningFor":"2 days ago","Service":"db","Size":"0B","State":"running","Status":"Up 2 days (healthy)"}
"#;

    const COMPOSE_NDJSON_SCALED: &str = r#"{"Command":"\"/app/server\"","CreatedAt":"2026-11-20 08:15:41 +0000 UTC","ExitCode":0,"Health":"","ID":"aa11","Image":"app-web","Labels":"","LocalVolumes":"0","Mounts":"","Name":"app-web-1","Names":"app-web-1","Networks":"app_default","Ports":"","Project":"app","Publishers":null,"RunningFor":"2 days ago","Service":"web","Size":"0B","State":"running","Status":"Up 2 days"}
{"Command":"\"/app/server\"","CreatedAt":"2026-11-20 08:15:41 +0000 UTC","ExitCode":2,"Health":"","ID":"bb22","Image":"app-web","Labels":"","LocalVolumes":"0","Mounts":"","Name":"app-web-2","Names":"app-web-2","Networks":"app_default","Ports":"","Project":"app","Publishers":null,"RunningFor":"2 days ago","Service":"web","Size":"0B","State":"exited","Status":"Exited (2) 5 minutes ago"}
"#;

    const COMPOSE_ARRAY_OLD: &str = r#"[{"ID":"3f1c0a9b2d4e","Name":"app-db-1","Command":"docker-entrypoint.sh postgres","Project":"app","Service":"db","State":"exited","Health":"","ExitCode":0,"Publishers":null}]"#;

    #[test]
    fn compose_ps_both_formats() {
        let r = parse_compose_ps(COMPOSE_NDJSON).unwrap();
        assert_eq!(
            (r.state, r.detail.as_str()),
            (ServiceState::Running, "Up 2 days (healthy)")
        );

        let r = parse_compose_ps(COMPOSE_NDJSON_SCALED).unwrap();
        assert_eq!(r.state, ServiceState::Failed);
        assert_eq!(r.detail, "1/2 running; app-web-2: Exited (2) 5 minutes ago");

        let r = parse_compose_ps(COMPOSE_ARRAY_OLD).unwrap();
        assert_eq!(
            (r.state, r.detail.as_str()),
            (ServiceState::Stopped, "exited (0)")
        );

        assert_eq!(parse_compose_ps("").unwrap().state, ServiceState::Stopped);
        assert_eq!(parse_compose_ps("[]").unwrap().state, ServiceState::Stopped);
    }

    #[test]
    fn compose_ps_garbage() {
        assert!(parse_compose_ps("no configuration file provided: not found").is_err());
        assert!(parse_compose_ps(&COMPOSE_NDJSON[..200]).is_err());
        assert!(parse_compose_ps("[{\"State\":").is_err());
    }

    #[test]
    fn pgrep_outputs() {
        // `pgrep -f -- anvil` while anvil ran, recorded: one pid.
        let r = parse_pgrep("11161\n").unwrap();
        assert_eq!(
            (r.state, r.detail.as_str()),
            (ServiceState::Running, "pid 11161")
        );
        let r = parse_pgrep("1\n2\n3\n4\n5\n6\n").unwrap();
        assert_eq!(r.detail, "6 processes (pids 1, 2, 3, 4, 5, …)");
        // Exit status 1, no output: nothing matched.
        assert_eq!(parse_pgrep("").unwrap().state, ServiceState::Stopped);
        assert!(parse_pgrep("pgrep: regex error: Unmatched ( or \\(\n").is_err());
        assert!(parse_pgrep("11161 S extra\n").is_err());
    }

    #[test]
    fn pgrep_matches_that_are_zombies_are_not_running() {
        // The script's `PID STATE` lines, recorded on Debian 12 with `sh -c 'fdz-zomb 0.1 &
        // exec sleep 600'`: the child exited and was never reaped, and `pgrep -f` still
        // matched it by its name (a zombie has no command line).
        let r = parse_pgrep("26459 Z\n").unwrap();
        assert_eq!(r.state, ServiceState::Stopped, "{r:?}");
        assert_eq!(
            r.detail,
            "no running process; only zombie (exited, not reaped): pid 26459"
        );
        // A live process next to a zombie: running, and only the live one counts.
        let r = parse_pgrep("26458 S\n26459 Z\n").unwrap();
        assert_eq!(
            (r.state, r.detail.as_str()),
            (ServiceState::Running, "pid 26458")
        );
        let r = parse_pgrep("11161 S\n11162 R\n11163 D\n").unwrap();
        assert_eq!(r.detail, "3 processes (pids 11161, 11162, 11163)");
        // `X` (dead) is gone too; an unreadable state (no /proc, or just gone) counts as
        // running, as pgrep said.
        assert_eq!(
            parse_pgrep("7 X\n8 Z\n").unwrap().detail,
            "no running process; only zombies (exited, not reaped): pids 7, 8"
        );
        assert_eq!(parse_pgrep("9 \n").unwrap().state, ServiceState::Running);
    }

    #[test]
    fn pidfile_outputs() {
        assert_eq!(
            parse_pidfile_check("alive 812\n").unwrap().state,
            ServiceState::Running
        );
        let r = parse_pidfile_check("dead 812\n").unwrap();
        assert_eq!(r.state, ServiceState::Failed);
        assert!(r.detail.contains("stale"));
        assert_eq!(
            parse_pidfile_check("nofile\n").unwrap().state,
            ServiceState::Stopped
        );
        assert_eq!(
            parse_pidfile_check("badpid hello\n").unwrap().state,
            ServiceState::Unknown
        );
        assert_eq!(
            parse_pidfile_check("unreadable\n").unwrap().state,
            ServiceState::Unknown
        );
        assert!(parse_pidfile_check("").is_err());
        assert!(parse_pidfile_check("alive x").is_err());
        assert!(parse_pidfile_check("alive x S").is_err());
        assert!(parse_pidfile_check("alive 812 S junk").is_err());
        assert!(parse_pidfile_check("ali").is_err());
    }

    #[test]
    fn a_pidfile_naming_a_zombie_is_not_running() {
        // What the script prints for a live node, and for one whose process exited but was
        // never reaped by its parent (state `Z` in /proc/PID/stat).
        let r = parse_pidfile_check("alive 812 S\n").unwrap();
        assert_eq!(
            (r.state, r.detail.as_str()),
            (ServiceState::Running, "pid 812")
        );
        let r = parse_pidfile_check("alive 812 Z\n").unwrap();
        assert_eq!(r.state, ServiceState::Failed, "{r:?}");
        assert_eq!(
            r.detail,
            "pid 812 is a zombie (exited, not reaped; stale pidfile)"
        );
        // Without /proc (kill -0 said yes) the state is empty: running, as before.
        assert_eq!(
            parse_pidfile_check("alive 812 \n").unwrap().state,
            ServiceState::Running
        );
    }

    #[test]
    fn backup_listing_real() {
        let (latest, previous) = parse_backup_listing(FIND_REAL).unwrap();
        let latest = latest.unwrap();
        assert_eq!(latest.path, "/tmp/bk/db-3-postgres-backup.sql.gz");
        assert_eq!(latest.mtime, 1_795_399_200);
        assert_eq!(latest.size_bytes, 2);
        assert_eq!(previous.unwrap().mtime, 1_795_312_800);
        // Unsorted input and a path with spaces.
        let (l, p) = parse_backup_listing("20.5 9 /b/new one.gz\n10.1 7 /b/old.gz\n").unwrap();
        assert_eq!(l.unwrap().path, "/b/new one.gz");
        assert_eq!(p.unwrap().path, "/b/old.gz");
        assert_eq!(parse_backup_listing("").unwrap(), (None, None));
        let (l, p) = parse_backup_listing("10 7 /b/only.gz\n").unwrap();
        assert!(l.is_some() && p.is_none());
    }

    #[test]
    fn backup_listing_garbage() {
        assert!(parse_backup_listing("find: unrecognized: -printf\n").is_err());
        assert!(parse_backup_listing("1795312800.0000000000 2").is_err());
        assert!(parse_backup_listing("1795312800.0000000000 two /x").is_err());
    }

    #[test]
    fn heights() {
        assert_eq!(parse_height("123\n").unwrap(), 123);
        assert_eq!(parse_height("0x1b4").unwrap(), 436);
        assert_eq!(parse_height("connecting...\n  42  \n\n").unwrap(), 42);
        assert!(parse_height("").is_err());
        assert!(parse_height("0x").is_err());
        assert!(parse_height("-5").is_err());
        assert!(parse_height("12.5").is_err());
        assert!(parse_height("0xffffffffffffffffff").is_err());
        let e = parse_height("error: node down").unwrap_err();
        assert!(e.to_string().contains("error: node down"), "{e}");
    }

    #[test]
    fn parse_error_message_names_what_and_where() {
        let e = ParseError::new("three load averages", "");
        assert_eq!(e.to_string(), "expected three load averages, got nothing");
        let e = ParseError::new("x", &"y".repeat(500));
        assert!(e.found.chars().count() <= 161);
    }
}

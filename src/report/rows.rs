//! The fleet table's rows (shared by `status`'s table and the console's fleet pane) and the
//! status table text: render-ready cells and their sort keys, built from a [`StatusReport`].

use super::*;

/// Sort keys of a fleet row (numbers, not the display text).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetKeys {
    /// Services not running.
    pub services_down: usize,
    /// Chain height.
    pub height: Option<u64>,
    /// Peers.
    pub peers: Option<u64>,
    /// Worst disk use.
    pub disk: Option<f64>,
    /// Age of the oldest newest-backup, seconds.
    pub backup_age: Option<u64>,
    /// Data age, seconds. Only the console knows it (it is how old the row's oldest cell is),
    /// so [`fleet_row`] leaves it `None` and `view::fleet_rows` fills it in.
    pub age: Option<u64>,
}

/// The value cells of a fleet row, in column order: REACH, SVC, HEIGHT, PEERS, DISK, BACKUP.
pub const FLEET_CELLS: usize = 6;

/// One host's line of a fleet table, every cell text: the one row type of both fleet tables.
/// The `status` table prints it as it is; the console's fleet table shows it through
/// `view::FleetRow`, which adds how old each cell's data is (and goes stale) and the AGE
/// column. Built by [`fleet_row`] from the state, so both tables say the same of the same host.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRow {
    /// Index into `Fleet::hosts`.
    pub host: usize,
    /// Host name.
    pub name: String,
    /// Overall status.
    pub status: Status,
    /// `yes`, `no`, or `…` before the first poll; `prom` for a host read from Prometheus,
    /// `yes+p` for one whose SSH poll Prometheus filled in.
    pub reach: &'static str,
    /// `running/total`; `?/total` while unreachable (unknown, not down); empty when no services
    /// are configured.
    pub services: String,
    /// Chain height, `-` without a chain (or before it was read), `n/a` when the node does not
    /// say, `err` when asking failed.
    pub height: String,
    /// Peers, like `height`.
    pub peers: String,
    /// Worst disk use, `41%`; `-` when none was read.
    pub disk: String,
    /// Age of the oldest newest-backup, `1h`; `none` when a set has no file; `-` when nothing
    /// was read.
    pub backup: String,
    /// Which value cells (in [`FLEET_CELLS`] order) show data read from the host rather than a
    /// placeholder for something not configured or not read: only those age in the console.
    pub read: [bool; FLEET_CELLS],
    /// First alert, or the connection error; empty otherwise (the console puts a stale row's
    /// age here).
    pub note: String,
    /// Inventory groups.
    pub groups: Vec<String>,
    /// Region, when the inventory gives one.
    pub region: Option<String>,
    /// Consensus group.
    pub consensus_group: Option<String>,
    /// Numbers for sorting.
    pub keys: FleetKeys,
}

impl FleetRow {
    /// The value cells' text, in [`FLEET_CELLS`] order.
    pub fn cells(&self) -> [&str; FLEET_CELLS] {
        [
            self.reach,
            &self.services,
            &self.height,
            &self.peers,
            &self.disk,
            &self.backup,
        ]
    }
}

/// The status table's rows: one per host of the report, in its order (built with the report,
/// from the same state).
pub fn fleet_rows(report: &StatusReport) -> &[FleetRow] {
    &report.rows
}

/// The fleet row of host `i` at `now`. Values are the latest read, even from a poll before the
/// host stopped answering: the console shows them with their age (a one-shot `status` has no
/// earlier poll, so there they are always the current ones).
pub fn fleet_row(
    fleet: &Fleet,
    state: &FleetState,
    health: &HostHealth,
    i: usize,
    now: SystemTime,
) -> FleetRow {
    let (host, hs) = (&fleet.hosts[i], &state.hosts[i]);
    let reachable = hs.reachable();
    let p = hs.probed.as_ref();
    let mut keys = FleetKeys::default();
    let mut read = [true; FLEET_CELLS];
    let services = if host.services.is_empty() {
        read[1] = false;
        String::new()
    } else if let (Some(true), Some(p)) = (reachable, p) {
        let up = p
            .services
            .iter()
            .filter(|s| s.state == ServiceState::Running)
            .count();
        keys.services_down = host.services.len().saturating_sub(up);
        format!("{up}/{}", host.services.len())
    } else {
        // Unknown, not down: "0/1" would send the operator after the wrong problem. Its age
        // is that of the last states read, which are what is not known any more.
        format!("?/{}", host.services.len())
    };
    let chain = p.and_then(|p| p.chain.as_ref());
    let (height, peers) = match (&host.chain, chain) {
        (Some(_), Some(c)) => {
            keys.height = c.height.value().copied();
            keys.peers = c.peers.value().copied();
            (metric_text(&c.height), metric_text(&c.peers))
        }
        _ => {
            (read[2], read[3]) = (false, false);
            ("-".into(), "-".into())
        }
    };
    keys.disk = p
        .into_iter()
        .flat_map(|p| &p.disks)
        .filter_map(|d| d.usage.as_ref().ok().map(|u| u.used_percent))
        .fold(None, |w: Option<f64>, x| Some(w.map_or(x, |w| w.max(x))));
    let disk = match keys.disk {
        None => {
            read[4] = false;
            "-".into()
        }
        Some(pct) => percent_text(pct),
    };
    let backup = match p {
        Some(p) if !host.backups.is_empty() => {
            if p.backups.iter().any(|b| matches!(b.latest, Ok(None))) {
                "none".into()
            } else {
                let host_now = p.host_time.unwrap_or_else(|| epoch_secs(now));
                keys.backup_age = p
                    .backups
                    .iter()
                    .filter_map(|b| b.latest.as_ref().ok().and_then(Option::as_ref))
                    .map(|f| host_now.saturating_sub(f.mtime).max(0) as u64)
                    .max();
                keys.backup_age.map_or_else(
                    || {
                        read[5] = false;
                        "-".into()
                    },
                    |s| short_duration(Duration::from_secs(s)),
                )
            }
        }
        _ => {
            read[5] = false;
            "-".into()
        }
    };
    let note = health
        .alerts
        .first()
        .map(|a| a.message.clone())
        .or_else(|| hs.error.as_ref().map(|e| e.message.clone()))
        .unwrap_or_default();
    FleetRow {
        host: i,
        name: host.name.clone(),
        status: health.status,
        // Read from Prometheus: `prom`; SSH with cells Prometheus filled: `yes+p`.
        reach: match (reachable, fleet.status_source(i)) {
            (Some(true), crate::inventory::StatusSource::Prometheus) => "prom",
            (Some(true), _) if hs.cells.any_prometheus() => "yes+p",
            (Some(true), _) => "yes",
            (Some(false), _) => "no",
            (None, _) => "…",
        },
        services,
        height,
        peers,
        disk,
        backup,
        read,
        note,
        groups: host.groups.clone(),
        region: host.region.clone(),
        consensus_group: host.consensus_group.clone(),
        keys,
    }
}

/// `pct` as `{pct:.0}%` prints it. The console builds this cell for every host on every state
/// change, and a float with a precision goes through the exact (Grisu, then Dragon) formatter —
/// a tenth of a 1,000-host frame; an integer costs a fraction of that. `{:.0}` rounds a tie to
/// even, as `round_ties_even` does; what is not a plain non-negative number keeps the formatter.
pub(super) fn percent_text(pct: f64) -> String {
    if pct.is_sign_positive() && pct < 1e15 {
        format!("{}%", pct.round_ties_even() as u64)
    } else {
        format!("{pct:.0}%")
    }
}

fn metric_text<T: ToString>(m: &Metric<T>) -> String {
    match m {
        Metric::Value(v) => v.to_string(),
        Metric::Unavailable(_) => "n/a".into(),
        Metric::Error(_) => "err".into(),
    }
}

/// The status table as text; `colour` adds ANSI colours to the status column.
pub fn status_table(report: &StatusReport, colour: bool) -> String {
    let rows = fleet_rows(report);
    let headers = [
        "HOST", "STATUS", "REACH", "SVC", "HEIGHT", "PEERS", "DISK", "BACKUP", "NOTE",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.status.as_str().to_string(),
                r.reach.to_string(),
                r.services.clone(),
                r.height.clone(),
                r.peers.clone(),
                r.disk.clone(),
                r.backup.clone(),
                r.note.clone(),
            ]
        })
        .collect();
    let mut widths = headers.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row.iter()).take(8) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cols: &[String], status: Option<Status>, out: &mut String| {
        for (k, c) in cols.iter().enumerate() {
            let padded = if k < 8 {
                format!("{c:<w$}  ", w = widths[k])
            } else {
                c.clone()
            };
            match (k, status, colour) {
                (1, Some(s), true) => out.push_str(&format!("{}{padded}\x1b[0m", ansi(s))),
                _ => out.push_str(&padded),
            }
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push('\n');
    };
    line(&headers.map(String::from), None, &mut out);
    for (row, r) in cells.iter().zip(rows) {
        line(row, Some(r.status), &mut out);
    }
    let s = &report.summary;
    out.push_str(&format!(
        "\n{}: {} hosts, {} reachable — {} ok, {} warning, {} critical, {} unknown\n",
        report.fleet, s.hosts, s.reachable, s.ok, s.warning, s.critical, s.unknown
    ));
    out
}

fn ansi(s: Status) -> &'static str {
    match s {
        Status::Ok => "\x1b[32m",
        Status::Warning => "\x1b[33m",
        Status::Critical => "\x1b[1;31m",
        Status::Unknown => "\x1b[2m",
    }
}

//! The Disks and Backups pane: watched mount points with their trend, backup sets with age
//! and size change.
//!
//! Part of [`crate::view`]: pure rows from the inventory, the state, the verdicts and `now`.

use super::*;

/// One watched mount point.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskRow {
    /// Index into `Fleet::hosts`.
    pub host: usize,
    /// Host name.
    pub host_name: String,
    /// Mount point as configured.
    pub mount: String,
    /// Used percent, when read.
    pub used_percent: Option<f64>,
    /// `41%`.
    pub used: String,
    /// `1.0 TiB`.
    pub size: String,
    /// Available, `590 GiB`.
    pub avail: String,
    /// `+1.2 GiB/d`, `flat`, or `-` without enough history.
    pub trend: String,
    /// `12d`, `never` (not growing), or `-`.
    pub full_in: String,
    /// By the host's disk thresholds.
    pub status: Status,
    /// Why it could not be read.
    pub error: Option<String>,
    /// Freshness of the disk reading.
    pub fresh: Freshness,
}

impl DiskRow {
    /// Fields a filter looks at.
    pub fn filter_fields(&self) -> impl Iterator<Item = &str> {
        [self.host_name.as_str(), self.mount.as_str()].into_iter()
    }
}

/// The watched disks of `hosts`.
pub fn disk_rows(ctx: &Ctx, hosts: &[usize]) -> Vec<DiskRow> {
    let mut out = Vec::new();
    for &i in hosts {
        push_disk_rows(ctx, i, &mut out);
    }
    out
}

/// The rows [`disk_rows`] and [`backup_rows`] build, reusing `previous` — the rows of the same
/// `hosts`, kept by the same `keep`, built from the state at version `built_at` (`None`: no
/// such rows) — for every host whose state did not change since: only their freshness is
/// redone. A host's rows are built again when its state changed, or (backups) when their age
/// reads the console's clock because the host did not say its time. One poll then builds the
/// rows of one host, and the trends and sizes of the others are not formatted again.
pub fn refresh_disk_rows(
    ctx: &Ctx,
    hosts: &[usize],
    previous: Vec<DiskRow>,
    built_at: Option<u64>,
    keep: impl Fn(&DiskRow) -> bool,
) -> Vec<DiskRow> {
    refresh_rows(
        ctx,
        hosts,
        previous,
        built_at,
        |r| r.host,
        |_| true,
        |i, out| push_disk_rows(ctx, i, out),
        |r, host, hs| r.fresh = Part::Disks.freshness(host, hs, ctx.now),
        keep,
    )
}

/// [`refresh_disk_rows`] for the backup sets.
pub fn refresh_backup_rows(
    ctx: &Ctx,
    hosts: &[usize],
    previous: Vec<BackupRow>,
    built_at: Option<u64>,
    keep: impl Fn(&BackupRow) -> bool,
) -> Vec<BackupRow> {
    refresh_rows(
        ctx,
        hosts,
        previous,
        built_at,
        |r| r.host,
        // Ages computed from the console's clock move with it.
        |hs| hs.probed.as_ref().is_none_or(|p| p.host_time.is_some()),
        |i, out| push_backup_rows(ctx, i, out),
        |r, host, hs| r.fresh = Part::Backups.freshness(host, hs, ctx.now),
        keep,
    )
}

/// Rows per host in `hosts` order: those of a host unchanged since `built_at` (and
/// `clock_free`) moved over from `previous` and aged, the others built and kept by `keep`.
#[allow(clippy::too_many_arguments)]
fn refresh_rows<T>(
    ctx: &Ctx,
    hosts: &[usize],
    previous: Vec<T>,
    built_at: Option<u64>,
    host_of: impl Fn(&T) -> usize,
    clock_free: impl Fn(&HostState) -> bool,
    build: impl Fn(usize, &mut Vec<T>),
    age: impl Fn(&mut T, &Host, &HostState),
    keep: impl Fn(&T) -> bool,
) -> Vec<T> {
    let mut out = Vec::with_capacity(previous.len());
    let mut previous = previous.into_iter().peekable();
    let mut fresh = Vec::new();
    for &i in hosts {
        let (host, hs, _) = ctx.host(i);
        // Rows are in host order: this host's previous rows, if any, are next (a host the
        // filter kept nothing of has none).
        let mut before = Vec::new();
        while let Some(r) = previous.next_if(|r| host_of(r) == i) {
            before.push(r);
        }
        let reuse = built_at.is_some_and(|b| hs.changed <= b) && clock_free(hs);
        if reuse {
            for mut r in before {
                age(&mut r, host, hs);
                out.push(r);
            }
        } else {
            build(i, &mut fresh);
            out.extend(fresh.drain(..).filter(|r| keep(r)));
        }
    }
    out
}

/// Appends the watched disks of host `i` to `out`.
fn push_disk_rows(ctx: &Ctx, i: usize, out: &mut Vec<DiskRow>) {
    {
        let (host, hs, _) = ctx.host(i);
        let t = &host.thresholds;
        let p = hs.probed.as_ref();
        for (k, d) in host.disks.iter().enumerate() {
            let usage = p.and_then(|p| p.disks.get(k)).map(|o| &o.usage);
            let trend = disk_trend(hs, k);
            let (used_percent, used, size, avail, status, error) = match usage {
                Some(Ok(u)) => (
                    Some(u.used_percent),
                    format!("{:.0}%", u.used_percent),
                    human_bytes(u.total_bytes),
                    human_bytes(u.avail_bytes),
                    if u.used_percent >= t.disk_crit_percent {
                        Status::Critical
                    } else if u.used_percent >= t.disk_warn_percent
                        || trend
                            .and_then(|t| t.days_until_full)
                            .is_some_and(|d| d < t.disk_full_warn_days)
                    {
                        Status::Warning
                    } else {
                        Status::Ok
                    },
                    None,
                ),
                Some(Err(e)) => (
                    None,
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    Status::Warning,
                    Some(e.clone()),
                ),
                None => (
                    None,
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    Status::Unknown,
                    None,
                ),
            };
            out.push(DiskRow {
                host: i,
                host_name: host.name.clone(),
                mount: d.mount.clone(),
                used_percent,
                used,
                size,
                avail,
                trend: trend.map_or_else(
                    || "-".into(),
                    |t| {
                        if t.bytes_per_day.abs() < 1024.0 * 1024.0 {
                            "flat".into()
                        } else {
                            let sign = if t.bytes_per_day < 0.0 { "-" } else { "+" };
                            format!("{sign}{}/d", human_bytes(t.bytes_per_day.abs() as u64))
                        }
                    },
                ),
                full_in: match trend {
                    None => "-".into(),
                    Some(DiskTrend {
                        days_until_full: None,
                        ..
                    }) => "never".into(),
                    Some(DiskTrend {
                        days_until_full: Some(d),
                        ..
                    }) => format!("{d:.0}d"),
                },
                status,
                error,
                fresh: Part::Disks.freshness(host, hs, ctx.now),
            });
        }
    }
}

/// One backup set.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupRow {
    /// Index into `Fleet::hosts`.
    pub host: usize,
    /// Host name.
    pub host_name: String,
    /// Set name.
    pub name: String,
    /// File name of the newest backup, `none`, or `-` before data.
    pub newest: String,
    /// Its age, `5h`.
    pub age: String,
    /// Expected every, `24h`.
    pub every: String,
    /// Its size, `1.2 GiB`.
    pub size: String,
    /// Size change against the previous file, `-92%`, or `-`.
    pub change: String,
    /// Older than 1.5 × `every`, or missing.
    pub stale: bool,
    /// Shrunk by at least the host's `backup_shrink_percent`.
    pub shrunk: bool,
    /// Colour of the line.
    pub status: Status,
    /// Why it could not be read.
    pub error: Option<String>,
    /// Freshness of the backup listing.
    pub fresh: Freshness,
}

impl BackupRow {
    /// Fields a filter looks at.
    pub fn filter_fields(&self) -> impl Iterator<Item = &str> {
        [self.host_name.as_str(), self.name.as_str()].into_iter()
    }
}

/// The backup sets of `hosts`.
pub fn backup_rows(ctx: &Ctx, hosts: &[usize]) -> Vec<BackupRow> {
    let mut out = Vec::new();
    for &i in hosts {
        push_backup_rows(ctx, i, &mut out);
    }
    out
}

/// Appends the backup sets of host `i` to `out`.
fn push_backup_rows(ctx: &Ctx, i: usize, out: &mut Vec<BackupRow>) {
    {
        let (host, hs, _) = ctx.host(i);
        let p = hs.probed.as_ref();
        let hnow = host_now(p, ctx.now);
        for (k, set) in host.backups.iter().enumerate() {
            let obs = p.and_then(|p| p.backups.get(k));
            let mut row = BackupRow {
                host: i,
                host_name: host.name.clone(),
                name: set.name.clone(),
                newest: "-".into(),
                age: "-".into(),
                every: short_duration(set.every),
                size: "-".into(),
                change: "-".into(),
                stale: false,
                shrunk: false,
                status: Status::Unknown,
                error: None,
                fresh: Part::Backups.freshness(host, hs, ctx.now),
            };
            match obs.map(|b| (&b.latest, &b.previous)) {
                Some((Ok(Some(f)), _)) => {
                    let age = hnow.saturating_sub(f.mtime).max(0) as u64;
                    row.newest = f.path.rsplit('/').next().unwrap_or(&f.path).to_string();
                    row.age = short_duration(Duration::from_secs(age));
                    row.size = human_bytes(f.size_bytes);
                    row.stale = age as f64 > set.every.as_secs_f64() * 1.5;
                    if let Some(change) = obs.and_then(health::backup_change) {
                        row.change = change.percent_text();
                        row.shrunk = change.shrunk(host.thresholds.backup_shrink_percent);
                    }
                    row.status = if row.stale || row.shrunk {
                        Status::Critical
                    } else {
                        Status::Ok
                    };
                }
                Some((Ok(None), _)) => {
                    row.newest = "none".into();
                    row.stale = true;
                    row.status = Status::Critical;
                }
                Some((Err(e), _)) => {
                    row.error = Some(e.clone());
                    row.status = Status::Warning;
                }
                None => {}
            }
            out.push(row);
        }
    }
}

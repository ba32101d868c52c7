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
    out
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
    out
}

//! From a [`PromSnapshot`] to per-host readings (pure, no clock: time comes with the
//! snapshot), and how a `source = "both"` host merges them with its SSH poll.
//!
//! Mapping: a node_exporter series belongs to the host whose rendered `instance` equals the
//! series' mapping label (`[prometheus] label`, default `instance`). A chain client's series
//! may also match by address alone (its metrics port differs from node_exporter's) when
//! exactly one host of the server has that address. fleetdeck's own series map by their
//! `host` label to the inventory name. node_exporter's series win over fleetdeck's.

use std::time::{Duration, SystemTime};

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::{PromSnapshot, QueryKey, Sample, StringPool};
use crate::inventory::{Fleet, Host, ServiceKind, StatusSource};
use crate::observation::{
    BackupFile, BackupObs, CellSource, CellSources, ChainObs, DiskObs, DiskUsage, LoadAvg, Metric,
    Probed, ServiceObs, ServiceState,
};
use crate::units::epoch_secs;

/// The labels read of a series once it is mapped to its host (the mapping labels themselves,
/// `[prometheus] label` and `host`, are not kept past the mapping).
pub(super) const LABELS_READ: &[&str] = &[
    "backup",
    "mountpoint",
    "device",
    "mount",
    "name",
    "state",
    "service",
];

/// One query's answer, folded to the hosts of its server as it arrived.
///
/// Only the series that map to a host are kept, without the labels that mapped them, their
/// strings shared across the round ([`Labels::intern`](super::Labels::intern)); for each way
/// of mapping, (host, series) pairs sorted by host. A round of a 10,000-host fleet then never
/// holds the whole fleet's raw samples, and finding a host's series is a binary search.
#[derive(Debug, Clone, Default)]
pub struct Folded {
    samples: Vec<Sample>,
    /// By the mapping label, exactly.
    exact: Vec<(u32, u32)>,
    /// Exactly, else by address when one host has it.
    loose: Vec<(u32, u32)>,
    /// By fleetdeck's `host` label.
    named: Vec<(u32, u32)>,
}

impl Folded {
    /// Maps `samples` (one query's whole answer) with `ix`, keeping strings in `pool`.
    pub(super) fn new(samples: Vec<Sample>, ix: &Index<'_>, pool: &mut StringPool) -> Folded {
        let mut out = Folded::default();
        for mut s in samples {
            let exact = ix.exact(&s);
            // Exactly, else by address when one host has it.
            let loose = exact.or_else(|| ix.by_address(&s));
            let named = ix.named(&s);
            if exact.is_none() && loose.is_none() && named.is_none() {
                continue;
            }
            let k = out.samples.len() as u32;
            let put = |to: &mut Vec<(u32, u32)>, host: Option<usize>| {
                if let Some(h) = host {
                    to.push((h as u32, k));
                }
            };
            put(&mut out.exact, exact);
            put(&mut out.loose, loose);
            put(&mut out.named, named);
            s.labels.retain(|k| LABELS_READ.contains(&k));
            s.labels.intern(pool);
            out.samples.push(s);
        }
        for pairs in [&mut out.exact, &mut out.loose, &mut out.named] {
            pairs.sort_unstable();
            pairs.shrink_to_fit();
        }
        out.samples.shrink_to_fit();
        out
    }

    fn of<'a>(&'a self, pairs: &'a [(u32, u32)], host: usize) -> impl Iterator<Item = &'a Sample> {
        let host = host as u32;
        let from = pairs.partition_point(|&(h, _)| h < host);
        pairs[from..]
            .iter()
            .take_while(move |&&(h, _)| h == host)
            .map(|&(_, k)| &self.samples[k as usize])
    }
}

/// One server's answers: per query, its samples folded to hosts or Prometheus's refusal.
#[derive(Debug, Clone, Default)]
pub struct Readings {
    /// In query order.
    pub results: Vec<(QueryKey, Result<Folded, String>)>,
}

impl Readings {
    /// Folds whole answers of server `server` (query key, its samples or the refusal).
    pub fn fold(
        fleet: &Fleet,
        server: usize,
        answers: Vec<(QueryKey, Result<Vec<Sample>, String>)>,
    ) -> Readings {
        let ix = Index::new(fleet, server);
        let mut pool = StringPool::default();
        Readings {
            results: answers
                .into_iter()
                .map(|(key, r)| (key, r.map(|samples| Folded::new(samples, &ix, &mut pool))))
                .collect(),
        }
    }

    fn result(&self, key: QueryKey) -> Option<&Result<Folded, String>> {
        self.results.iter().find(|(k, _)| *k == key).map(|(_, r)| r)
    }

    fn answer(&self, key: QueryKey) -> Option<&Folded> {
        self.result(key)?.as_ref().ok()
    }

    /// Prometheus's refusal of the query under `key`, if it refused it.
    pub fn refusal(&self, key: QueryKey) -> Option<&str> {
        self.result(key)?.as_ref().err().map(String::as_str)
    }

    fn exact(&self, key: QueryKey, host: usize) -> impl Iterator<Item = &Sample> {
        self.answer(key)
            .into_iter()
            .flat_map(move |f| f.of(&f.exact, host))
    }

    fn loose(&self, key: QueryKey, host: usize) -> impl Iterator<Item = &Sample> {
        self.answer(key)
            .into_iter()
            .flat_map(move |f| f.of(&f.loose, host))
    }

    fn named(&self, key: QueryKey, host: usize) -> impl Iterator<Item = &Sample> {
        self.answer(key)
            .into_iter()
            .flat_map(move |f| f.of(&f.named, host))
    }
}

/// The state of one source (`sources[]` in `status --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceStatus {
    /// `prometheus`.
    pub kind: &'static str,
    /// Index into `Prometheus::servers`.
    #[serde(skip)]
    pub server: usize,
    /// Redacted URL.
    pub url: String,
    /// Whether the latest round read it.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// When the latest round started.
    #[serde(skip)]
    pub at: SystemTime,
    /// When a round last read it (kept across failures by the state store).
    #[serde(skip)]
    pub last_ok: Option<SystemTime>,
}

/// A user column's value on one host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnValue {
    /// Column name.
    pub name: String,
    /// The value (the largest when several series map to the host), `None` without a series.
    pub value: Option<f64>,
    /// Prometheus's refusal of the query, when it refused it.
    pub error: Option<String>,
}

/// What one round says about one host.
#[derive(Debug, Clone)]
pub struct PromHostObs {
    /// Index in `Fleet::hosts`.
    pub host: usize,
    /// The host's configured source.
    pub source: StatusSource,
    /// The label value it was looked up by.
    pub instance: String,
    /// Whether Prometheus says it is up (`up`, else `fleetdeck_host_up`), or why it cannot.
    pub up: Result<bool, String>,
    /// The cells read, in inventory order, each with its own error when missing.
    pub probed: Probed,
    /// User columns, `[[prometheus.columns]]` order.
    pub columns: Vec<ColumnValue>,
}

/// One round for the whole fleet.
#[derive(Debug, Clone)]
pub struct PromObservations {
    /// When the round started.
    pub at: SystemTime,
    /// One entry per server read.
    pub sources: Vec<SourceStatus>,
    /// Hosts of the servers that answered (a failed server's hosts keep their earlier reading).
    pub hosts: Vec<PromHostObs>,
    /// How long the slowest server took.
    pub elapsed: Duration,
}

/// Host lookup for one server's series.
pub(super) struct Index<'a> {
    label: &'a str,
    by_instance: FxHashMap<&'a str, usize>,
    by_address: FxHashMap<&'a str, Option<usize>>,
    by_name: FxHashMap<&'a str, usize>,
}

impl<'a> Index<'a> {
    pub(super) fn new(fleet: &'a Fleet, server: usize) -> Index<'a> {
        let p = fleet.prometheus.as_ref();
        let label = p.map_or("instance", |p| p.servers[server].label.as_str());
        let mut ix = Index {
            label,
            by_instance: FxHashMap::default(),
            by_address: FxHashMap::default(),
            by_name: FxHashMap::default(),
        };
        // Hosts whose status comes from Prometheus first: when two hosts render the same
        // instance, the one that depends on it gets its series.
        let mut order: Vec<usize> = (0..fleet.hosts.len()).collect();
        order.sort_by_key(|&i| fleet.status_source(i) == StatusSource::Ssh);
        for i in order {
            let h = &fleet.hosts[i];
            let Some(ph) = p.and_then(|p| p.hosts.get(i)) else {
                continue;
            };
            if ph.server != server {
                continue;
            }
            ix.by_instance.entry(ph.instance.as_str()).or_insert(i);
            ix.by_address
                .entry(address_of(&ph.instance))
                .and_modify(|e| *e = None)
                .or_insert(Some(i));
            ix.by_name.insert(h.name.as_str(), i);
        }
        ix
    }

    /// By the mapping label, exactly.
    fn exact(&self, s: &Sample) -> Option<usize> {
        self.by_instance.get(s.labels.get(self.label)?).copied()
    }

    /// By the address in the mapping label, when one host has it (exact or not).
    fn by_address(&self, s: &Sample) -> Option<usize> {
        let v = s.labels.get(self.label)?;
        self.by_address.get(address_of(v)).copied().flatten()
    }

    /// By fleetdeck's `host` label.
    fn named(&self, s: &Sample) -> Option<usize> {
        self.by_name.get(s.labels.get("host")?).copied()
    }
}

/// `host` of `host:port` (`[v6]:port` too).
fn address_of(instance: &str) -> &str {
    match instance.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.is_empty() => {
            h.trim_start_matches('[').trim_end_matches(']')
        }
        _ => instance,
    }
}

/// The per-host readings of `snapshot` and each server's state, judged at nothing: the store
/// ages them against its own clock. `now` dates what Prometheus gives as an age (backups).
pub fn observations(snapshot: &PromSnapshot, fleet: &Fleet, now: SystemTime) -> PromObservations {
    let mut out = PromObservations {
        at: snapshot.at,
        sources: Vec::new(),
        hosts: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let Some(p) = &fleet.prometheus else {
        return out;
    };
    for reading in &snapshot.servers {
        out.elapsed = out.elapsed.max(reading.elapsed);
        out.sources.push(SourceStatus {
            kind: "prometheus",
            server: reading.server,
            url: reading.url.clone(),
            ok: reading.result.is_ok(),
            error: reading.result.as_ref().err().cloned(),
            at: snapshot.at,
            last_ok: reading.result.is_ok().then_some(snapshot.at),
        });
        let Ok(readings) = &reading.result else {
            continue;
        };
        let label = p.servers[reading.server].label.as_str();
        for (i, host) in fleet.hosts.iter().enumerate() {
            let Some(ph) = p.hosts.get(i).filter(|h| h.server == reading.server) else {
                continue;
            };
            out.hosts.push(host_obs(
                fleet,
                i,
                host,
                (label, &ph.instance),
                ph.source,
                readings,
                now,
            ));
        }
    }
    out
}

fn max_value<'s>(it: impl Iterator<Item = &'s Sample>) -> Option<f64> {
    it.map(|s| s.value)
        .filter(|v| !v.is_nan())
        .fold(None, |m, v| Some(m.map_or(v, |m: f64| m.max(v))))
}

#[allow(clippy::too_many_arguments)]
fn host_obs(
    fleet: &Fleet,
    i: usize,
    host: &Host,
    (label, instance): (&str, &str),
    source: StatusSource,
    g: &Readings,
    now: SystemTime,
) -> PromHostObs {
    let exact = |key| max_value(g.exact(key, i));
    let named =
        |key, extra: &dyn Fn(&Sample) -> bool| max_value(g.named(key, i).filter(|s| extra(s)));
    let any = |_: &Sample| true;
    let up = match exact(QueryKey::Up).or_else(|| named(QueryKey::FdHostUp, &any)) {
        Some(v) => Ok(v >= 1.0),
        None => Err(format!(
            "Prometheus has no `up` (or fleetdeck_host_up) series for {label}=\"{instance}\""
        )),
    };
    let load = match (
        exact(QueryKey::Load1),
        exact(QueryKey::Load5),
        exact(QueryKey::Load15),
    ) {
        (Some(one), Some(five), Some(fifteen)) => Some(LoadAvg { one, five, fifteen }),
        _ => None,
    };
    let uptime = exact(QueryKey::Uptime)
        .filter(|v| *v >= 0.0 && v.is_finite())
        .map(Duration::from_secs_f64);
    let disks = host
        .disks
        .iter()
        .map(|d| DiskObs {
            mount: d.mount.clone(),
            usage: disk_usage(g, i, &d.mount).ok_or_else(|| {
                format!("Prometheus has no node_filesystem series for the filesystem of {} ({label}=\"{instance}\")", d.mount)
            }),
        })
        .collect();
    let services = host
        .services
        .iter()
        .map(|svc| service(g, i, &svc.name, &svc.kind))
        .collect();
    let chain = host.chain.as_ref().map(|c| {
        let client =
            |key: fn(crate::inventory::ChainKind) -> QueryKey| max_value(g.loose(key(c.kind), i));
        let height = client(QueryKey::ChainHeight).or_else(|| named(QueryKey::FdChainHeight, &any));
        let peers = client(QueryKey::ChainPeers).or_else(|| named(QueryKey::FdChainPeers, &any));
        let not_there = |what: &str| {
            Metric::Unavailable(format!("no {what} series in Prometheus for this host"))
        };
        ChainObs {
            kind: c.kind,
            height: height
                .filter(|h| *h >= 0.0)
                .map_or_else(|| not_there("height"), |h| Metric::Value(h as u64)),
            syncing: Metric::Unavailable("not read from Prometheus".into()),
            peers: peers
                .filter(|h| *h >= 0.0)
                .map_or_else(|| not_there("peers"), |h| Metric::Value(h as u64)),
            client: None,
        }
    });
    let host_now = epoch_secs(now);
    let backups = host
        .backups
        .iter()
        .map(|b| {
            let age = named(QueryKey::FdBackupAge, &|s: &Sample| {
                s.labels.get("backup") == Some(b.name.as_str())
            });
            BackupObs {
                name: b.name.clone(),
                latest: age
                    .filter(|a| a.is_finite())
                    .map(|age| {
                        Some(BackupFile {
                            path: "(from fleetdeck_backup_age_seconds)".into(),
                            mtime: host_now - age as i64,
                            size_bytes: 0,
                        })
                    })
                    .ok_or_else(|| {
                        "Prometheus has no fleetdeck_backup_age_seconds series for this set"
                            .to_string()
                    }),
                previous: None,
            }
        })
        .collect();
    let columns = fleet
        .prometheus
        .as_ref()
        .map(|p| {
            p.columns
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    let value = max_value(g.exact(QueryKey::Column(k), i))
                        .or_else(|| max_value(g.named(QueryKey::Column(k), i)));
                    ColumnValue {
                        name: c.name.clone(),
                        value,
                        error: g.refusal(QueryKey::Column(k)).map(str::to_string),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    PromHostObs {
        host: i,
        source,
        instance: instance.to_string(),
        up,
        probed: Probed {
            host_time: Some(host_now),
            load,
            uptime,
            disks,
            services,
            backups,
            chain,
            ..Probed::default()
        },
        columns,
    }
}

/// The filesystem holding `mount` (the longest mount point that is a path prefix of it, as
/// `df PATH` picks), else fleetdeck's own `fleetdeck_disk_used_ratio{mount}`.
fn disk_usage(g: &Readings, i: usize, mount: &str) -> Option<DiskUsage> {
    let holds = |mp: &str| {
        mp == "/"
            || mount == mp
            || mount
                .strip_prefix(mp)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    let best = g
        .exact(QueryKey::FsSize, i)
        .filter(|s| s.labels.get("mountpoint").is_some_and(&holds))
        .max_by_key(|s| s.labels.get("mountpoint").map_or(0, str::len));
    if let Some(size) = best {
        let same = |key| {
            g.exact(key, i)
                .find(|s| {
                    s.labels.get("mountpoint") == size.labels.get("mountpoint")
                        && s.labels.get("device") == size.labels.get("device")
                })
                .map(|s| s.value)
        };
        let (avail, free) = (same(QueryKey::FsAvail)?, same(QueryKey::FsFree)?);
        let total = size.value.max(0.0) as u64;
        let avail = avail.max(0.0) as u64;
        let used = total.saturating_sub(free.max(0.0) as u64);
        let denominator = used + avail;
        return Some(DiskUsage {
            filesystem: size.labels.get("device").unwrap_or_default().to_string(),
            total_bytes: total,
            used_bytes: used,
            avail_bytes: avail,
            used_percent: if denominator == 0 {
                0.0
            } else {
                used as f64 * 100.0 / denominator as f64
            },
            mounted_on: size
                .labels
                .get("mountpoint")
                .unwrap_or_default()
                .to_string(),
        });
    }
    let ratio = g
        .named(QueryKey::FdDiskUsed, i)
        .find(|s| s.labels.get("mount").is_some_and(|m| m == mount))?
        .value;
    // Only the ratio travels in fleetdeck's series: the byte counts stay 0 (`status --json`
    // shows them as null).
    Some(DiskUsage {
        filesystem: String::new(),
        total_bytes: 0,
        used_bytes: 0,
        avail_bytes: 0,
        used_percent: ratio * 100.0,
        mounted_on: mount.to_string(),
    })
}

fn service(g: &Readings, i: usize, name: &str, kind: &ServiceKind) -> ServiceObs {
    let state_of = |word: &str| match word {
        "active" | "running" | "reloading" => Some(ServiceState::Running),
        "inactive" | "stopped" => Some(ServiceState::Stopped),
        "failed" => Some(ServiceState::Failed),
        _ => None,
    };
    if let ServiceKind::Systemd { unit } = kind {
        let found = g
            .exact(QueryKey::Systemd, i)
            .find(|s| s.labels.get("name") == Some(unit.as_str()));
        if let Some(s) = found {
            let word = s.labels.get("state").unwrap_or_default();
            return ServiceObs {
                name: name.to_string(),
                state: state_of(word).unwrap_or(ServiceState::Unknown),
                detail: format!("{word} (node_systemd_unit_state)"),
                since: None,
                restarts: None,
            };
        }
    }
    let found = g
        .named(QueryKey::FdServiceState, i)
        .find(|s| s.labels.get("service") == Some(name));
    match found {
        Some(s) => {
            let word = s.labels.get("state").unwrap_or_default();
            ServiceObs {
                name: name.to_string(),
                state: state_of(word).unwrap_or(ServiceState::Unknown),
                detail: format!("{word} (fleetdeck_service_state)"),
                since: None,
                restarts: None,
            }
        }
        None => ServiceObs {
            name: name.to_string(),
            state: ServiceState::Unknown,
            detail: "not in Prometheus".into(),
            since: None,
            restarts: None,
        },
    }
}

/// How a `source = "both"` host's cells combine: SSH wins for every cell its poll gave
/// (a load, an uptime, a disk read, a service in a known state, a chain height, a backup set
/// read); Prometheus fills the cells SSH lacks, and a cell Prometheus filled earlier is
/// refreshed by it. `current` is what the host holds now with `cells` saying where each
/// cell came from.
pub fn merge(current: &Probed, cells: &CellSources, prom: &Probed) -> (Probed, CellSources) {
    use CellSource::{Prometheus, Ssh};
    let mut out = current.clone();
    let mut src = cells.clone();
    src.disks.resize(out.disks.len(), Ssh);
    src.services.resize(out.services.len(), Ssh);
    src.backups.resize(out.backups.len(), Ssh);
    if (cells.load == Prometheus || out.load.is_none()) && prom.load.is_some() {
        out.load = prom.load;
        src.load = Prometheus;
    }
    if (cells.uptime == Prometheus || out.uptime.is_none()) && prom.uptime.is_some() {
        out.uptime = prom.uptime;
        src.uptime = Prometheus;
    }
    let ssh_height = out
        .chain
        .as_ref()
        .is_some_and(|c| matches!(c.height, Metric::Value(_)));
    if (cells.chain == Prometheus || !ssh_height)
        && prom
            .chain
            .as_ref()
            .is_some_and(|c| matches!(c.height, Metric::Value(_)))
    {
        out.chain = prom.chain.clone();
        src.chain = Prometheus;
    }
    for (k, d) in out.disks.iter_mut().enumerate() {
        let theirs = prom.disks.iter().find(|p| p.mount == d.mount);
        if (src.disks[k] == Prometheus || d.usage.is_err())
            && let Some(t) = theirs.filter(|t| t.usage.is_ok())
        {
            d.usage = t.usage.clone();
            src.disks[k] = Prometheus;
        }
    }
    for (k, s) in out.services.iter_mut().enumerate() {
        let theirs = prom.services.iter().find(|p| p.name == s.name);
        if (src.services[k] == Prometheus || s.state == ServiceState::Unknown)
            && let Some(t) = theirs.filter(|t| t.state != ServiceState::Unknown)
        {
            *s = t.clone();
            src.services[k] = Prometheus;
        }
    }
    for (k, b) in out.backups.iter_mut().enumerate() {
        let theirs = prom.backups.iter().find(|p| p.name == b.name);
        if (src.backups[k] == Prometheus || b.latest.is_err())
            && let Some(t) = theirs.filter(|t| t.latest.is_ok())
        {
            *b = t.clone();
            src.backups[k] = Prometheus;
        }
    }
    (out, src)
}

#[cfg(test)]
mod tests;

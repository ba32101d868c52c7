//! Render-ready rows for the console's panes: the last stage of Observation → host state → row.
//!
//! Each pane of the console (fleet table, host detail, services, chain, disks and backups,
//! certificates, logs, alerts) gets a `*Row` struct here with every cell already turned into
//! text, plus the few numbers a widget needs for colour or sorting. The functions are pure:
//! they read the inventory, the state store, the health verdicts and a `now` passed in, never
//! the clock, the network or a terminal (no ratatui here, so the rows are unit-tested as
//! plain data and could feed another front end). Filtering, sorting and grouping of the fleet
//! table live here too, for the same reason.
//!
//! Callers: `ui` (every pane) and its tests. `report` keeps its own `FleetRow` for the
//! headless status table, so the `status --json` contract is untouched by console changes.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::alerts::{AlertBook, AlertKey, AlertState};
use crate::health::{self, GroupHealth, HostHealth, Severity, Status};
use crate::inventory::{ChainKind, Fleet, Host, LogFormat, LogOrigin, ServiceKind};
use crate::observation::{CertObs, HostFacts, LogObs, Metric, Probed, ServiceState};
use crate::probe::Cadence;
use crate::state::{DiskTrend, FleetState, HostState, Timed};
use crate::units::{epoch_secs as epoch, short_duration};

/// Everything a row is computed from.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The inventory.
    pub fleet: &'a Fleet,
    /// The state store.
    pub state: &'a FleetState,
    /// `health::evaluate` of `state` at `now`, one entry per inventory host.
    pub health: &'a [HostHealth],
    /// The time the screen is drawn for.
    pub now: SystemTime,
}

impl Ctx<'_> {
    fn host(&self, i: usize) -> (&Host, &HostState, &HostHealth) {
        (&self.fleet.hosts[i], &self.state.hosts[i], &self.health[i])
    }
}

// ---------------------------------------------------------------------------------------------
// Freshness

/// How old a host's data is, and whether it is too old to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Freshness {
    /// Time since the latest successful poll started; `None` before the first one.
    pub age: Option<Duration>,
    /// Older than twice the host's interval: shown in the theme's `stale` slot.
    pub stale: bool,
}

impl Freshness {
    /// Data read at `read` by a probe that runs every `every`, seen at `now`: stale once older
    /// than twice `every` — the probe was due twice and nothing new arrived, so nobody should
    /// act on it. No data (`None`) is not stale: there is nothing to mistake for fresh.
    pub fn of(read: Option<SystemTime>, every: Duration, now: SystemTime) -> Freshness {
        let Some(at) = read else {
            return Freshness::default();
        };
        let age = now.duration_since(at).unwrap_or(Duration::ZERO);
        Freshness {
            age: Some(age),
            stale: age > every * 2,
        }
    }

    /// `3s`, `2m`, or `-` before the first data.
    pub fn text(&self) -> String {
        self.age.map_or_else(|| "-".into(), short_duration)
    }

    /// ` ·3m` when stale, empty otherwise: what a stale value carries after it, so it cannot
    /// pass for fresh even where colours do not show.
    pub fn suffix(&self) -> String {
        match self.age {
            Some(age) if self.stale => format!(" ·{}", short_duration(age)),
            _ => String::new(),
        }
    }

    /// The older of two (a known age beats none); stale when either is.
    pub fn oldest(self, other: Freshness) -> Freshness {
        Freshness {
            age: match (self.age, other.age) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            stale: self.stale || other.stale,
        }
    }
}

/// The freshness of `hs`'s latest successful poll at `now`: stale once older than 2 ×
/// `host.interval`.
pub fn freshness(host: &Host, hs: &HostState, now: SystemTime) -> Freshness {
    Freshness::of(hs.probed_at, host.interval, now)
}

/// The freshness of a slower-cadence part read at `at`: stale once older than twice its
/// cadence.
pub fn freshness_of<T>(part: Option<&Timed<T>>, every: Duration, now: SystemTime) -> Freshness {
    Freshness::of(part.map(|t| t.at), every, now)
}

/// The parts of a host's data that are read (and so age) separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Whether the host was reached: every poll attempt says, even a failed one.
    Reach,
    /// Service states.
    Services,
    /// Chain height, peers and sync state.
    Chain,
    /// Disk usage.
    Disks,
    /// Backup sets.
    Backups,
    /// Host facts.
    Facts,
    /// Certificates.
    Certs,
    /// Logs.
    Logs,
}

impl Part {
    /// How often this part of `host` is read: the host's interval for the every-poll parts,
    /// the slower cadences for facts, certificates and logs.
    pub fn interval(self, host: &Host) -> Duration {
        match self {
            Part::Reach | Part::Services | Part::Chain | Part::Disks | Part::Backups => {
                host.interval
            }
            Part::Facts => Cadence::for_host(host).facts,
            Part::Certs => Cadence::for_host(host).certs,
            Part::Logs => Cadence::for_host(host).logs,
        }
    }

    /// When the data of this part now held in `hs` was read.
    pub fn read_at(self, hs: &HostState) -> Option<SystemTime> {
        match self {
            Part::Reach => hs.polled_at,
            Part::Services => hs.parts.services,
            Part::Chain => hs.parts.chain,
            Part::Disks => hs.parts.disks,
            Part::Backups => hs.parts.backups,
            Part::Facts => hs.facts.as_ref().map(|t| t.at),
            Part::Certs => hs.certs.as_ref().map(|t| t.at),
            Part::Logs => hs.logs.as_ref().map(|t| t.at),
        }
    }

    /// The freshness of this part of `hs` at `now`.
    pub fn freshness(self, host: &Host, hs: &HostState, now: SystemTime) -> Freshness {
        Freshness::of(self.read_at(hs), self.interval(host), now)
    }
}

/// One value cell: the text and the freshness of the data behind it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataCell {
    /// The value as read (`82%`), without any age.
    pub text: String,
    /// How old the data behind it is.
    pub fresh: Freshness,
}

impl DataCell {
    fn new(text: impl Into<String>, fresh: Freshness) -> DataCell {
        DataCell {
            text: text.into(),
            fresh,
        }
    }

    /// A cell with nothing behind it (`-` for a part not configured): never stale.
    fn none(text: impl Into<String>) -> DataCell {
        DataCell::new(text, Freshness::default())
    }

    /// What is displayed: the value, and once stale its age after it (`82% ·3m`).
    pub fn shown(&self) -> Cow<'_, str> {
        if self.fresh.stale && self.fresh.age.is_some() {
            Cow::Owned(format!("{}{}", self.text, self.fresh.suffix()))
        } else {
            Cow::Borrowed(&self.text)
        }
    }

    /// Characters of [`DataCell::shown`], counted without building it: the fleet table asks
    /// this of every row on every frame to size its columns.
    pub fn width(&self) -> usize {
        let suffix = match self.fresh.age {
            // ` ·` plus the short age: its digits and a one-letter unit (see `short_duration`).
            Some(age) if self.fresh.stale => {
                let s = age.as_secs();
                let n = match s {
                    0..60 => s,
                    60..3600 => s / 60,
                    3600..86400 => s / 3600,
                    _ => s / 86400,
                };
                2 + n.checked_ilog10().unwrap_or(0) as usize + 1 + 1
            }
            _ => 0,
        };
        self.text.chars().count() + suffix
    }
}

/// The host's clock at its latest poll, or `now` when it did not say.
fn host_now(p: Option<&Probed>, now: SystemTime) -> i64 {
    p.and_then(|p| p.host_time).unwrap_or_else(|| epoch(now))
}

fn ago(host_now: i64, then: i64) -> String {
    short_duration(Duration::from_secs(
        host_now.saturating_sub(then).max(0) as u64
    ))
}

/// `1536` → `1.5 KiB`: binary units, one decimal below 10.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else if v < 10.0 {
        format!("{v:.1} {}", UNITS[u])
    } else {
        format!("{v:.0} {}", UNITS[u])
    }
}

fn metric_text<T: ToString>(m: &Metric<T>) -> String {
    match m {
        Metric::Value(v) => v.to_string(),
        Metric::Unavailable(_) => "n/a".into(),
        Metric::Error(_) => "err".into(),
    }
}

/// Worst of several statuses (`Critical` > `Warning` > `Unknown` > `Ok`).
pub fn worst(statuses: impl IntoIterator<Item = Status>) -> Status {
    statuses.into_iter().max().unwrap_or(Status::Ok)
}

// ---------------------------------------------------------------------------------------------
// Where the latest of each slower-cadence part is kept.

/// The latest host facts.
pub fn facts_of(hs: &HostState) -> Option<&HostFacts> {
    hs.facts.as_ref().map(|t| &t.value)
}

/// The latest certificate readings, inventory order.
pub fn certs_of(hs: &HostState) -> Option<&[CertObs]> {
    hs.certs.as_ref().map(|t| t.value.as_slice())
}

/// The latest log summaries, inventory order.
pub fn logs_of(hs: &HostState) -> Option<&[LogObs]> {
    hs.logs.as_ref().map(|t| t.value.as_slice())
}

/// The region a host is in (its own `region`, else its profile's), for grouping the fleet
/// table.
pub fn region_of(host: &Host) -> Option<&str> {
    host.region.as_deref()
}

/// The trend of the `k`-th configured disk of a host.
pub fn disk_trend(hs: &HostState, k: usize) -> Option<DiskTrend> {
    hs.disks.get(k)?.trend()
}

// ---------------------------------------------------------------------------------------------
// Fleet table

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
    /// Data age, seconds.
    pub age: Option<u64>,
}

/// One host in the fleet table.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRow {
    /// Index into `Fleet::hosts`.
    pub host: usize,
    /// Host name.
    pub name: String,
    /// Overall status.
    pub status: Status,
    /// `yes`, `no`, or `…` before the first poll; as old as the latest poll attempt.
    pub reach: DataCell,
    /// `running/total`; `?/total` while unreachable.
    pub services: DataCell,
    /// Chain height, `-` without a chain, `n/a` when the node does not say.
    pub height: DataCell,
    /// Peers, `n/a` when the node does not say.
    pub peers: DataCell,
    /// Worst disk use, `41%`.
    pub disk: DataCell,
    /// Age of the oldest newest-backup, `1h`; `none` when a set has no file.
    pub backup: DataCell,
    /// The oldest cell's age (the AGE column); stale when any cell is.
    pub fresh: Freshness,
    /// First alert, or the connection error.
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

/// Builds the fleet rows of `hosts` (inventory indices), in that order.
pub fn fleet_rows(ctx: &Ctx, hosts: &[usize]) -> Vec<FleetRow> {
    hosts.iter().map(|&i| fleet_row(ctx, i)).collect()
}

fn fleet_row(ctx: &Ctx, i: usize) -> FleetRow {
    let (host, hs, health) = ctx.host(i);
    let reachable = hs.reachable();
    let p = hs.probed.as_ref();
    let fresh = |part: Part| part.freshness(host, hs, ctx.now);
    let mut keys = FleetKeys::default();
    let services = if host.services.is_empty() {
        DataCell::none("")
    } else if reachable != Some(true) || p.is_none() {
        // Unknown, not down: "0/1" would send the operator after the wrong problem. Its age
        // is that of the last states read, which are what is not known any more.
        DataCell::new(format!("?/{}", host.services.len()), fresh(Part::Services))
    } else {
        let p = p.expect("checked above");
        let up = p
            .services
            .iter()
            .filter(|s| s.state == ServiceState::Running)
            .count();
        keys.services_down = host.services.len().saturating_sub(up);
        DataCell::new(
            format!("{up}/{}", host.services.len()),
            fresh(Part::Services),
        )
    };
    let chain = p.and_then(|p| p.chain.as_ref());
    let (height, peers) = match (&host.chain, chain) {
        (None, _) | (Some(_), None) => (DataCell::none("-"), DataCell::none("-")),
        (Some(_), Some(c)) => {
            keys.height = c.height.value().copied();
            keys.peers = c.peers.value().copied();
            let f = fresh(Part::Chain);
            (
                DataCell::new(metric_text(&c.height), f),
                DataCell::new(metric_text(&c.peers), f),
            )
        }
    };
    keys.disk = p
        .into_iter()
        .flat_map(|p| &p.disks)
        .filter_map(|d| d.usage.as_ref().ok().map(|u| u.used_percent))
        .fold(None, |w: Option<f64>, x| Some(w.map_or(x, |w| w.max(x))));
    let disk = match keys.disk {
        None => DataCell::none("-"),
        Some(pct) => DataCell::new(format!("{pct:.0}%"), fresh(Part::Disks)),
    };
    let hnow = host_now(p, ctx.now);
    let backup = match p {
        _ if host.backups.is_empty() => DataCell::none("-"),
        None => DataCell::none("-"),
        Some(p) if p.backups.iter().any(|b| matches!(b.latest, Ok(None))) => {
            DataCell::new("none", fresh(Part::Backups))
        }
        Some(p) => {
            keys.backup_age = p
                .backups
                .iter()
                .filter_map(|b| b.latest.as_ref().ok().and_then(Option::as_ref))
                .map(|f| hnow.saturating_sub(f.mtime).max(0) as u64)
                .max();
            match keys.backup_age {
                None => DataCell::none("-"),
                Some(s) => {
                    DataCell::new(short_duration(Duration::from_secs(s)), fresh(Part::Backups))
                }
            }
        }
    };
    let reach = DataCell::new(
        match reachable {
            Some(true) => "yes",
            Some(false) => "no",
            None => "…",
        },
        fresh(Part::Reach),
    );
    let row_fresh = [&reach, &services, &height, &peers, &disk, &backup]
        .into_iter()
        .fold(Freshness::default(), |acc, c| acc.oldest(c.fresh));
    keys.age = row_fresh.age.map(|a| a.as_secs());
    let note = health
        .alerts
        .first()
        .map(|a| a.message.clone())
        .or_else(|| hs.error.as_ref().map(|e| e.message.clone()))
        .unwrap_or_else(|| {
            if row_fresh.stale {
                format!("stale: no data for {}", row_fresh.text())
            } else {
                String::new()
            }
        });
    FleetRow {
        host: i,
        name: host.name.clone(),
        status: health.status,
        reach,
        services,
        height,
        peers,
        disk,
        backup,
        fresh: row_fresh,
        note,
        groups: host.groups.clone(),
        region: region_of(host).map(str::to_string),
        consensus_group: host.consensus_group.clone(),
        keys,
    }
}

/// Columns the fleet table sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortColumn {
    /// Inventory order.
    #[default]
    Inventory,
    /// Host name.
    Name,
    /// Status, worst first.
    Status,
    /// Services not running, most first.
    Services,
    /// Chain height, lowest first (the laggards).
    Height,
    /// Peers, fewest first.
    Peers,
    /// Disk use, fullest first.
    Disk,
    /// Oldest backup first.
    Backup,
    /// Oldest data first.
    Age,
}

impl SortColumn {
    /// Every column, in the order `s` cycles through them.
    pub const ALL: [SortColumn; 9] = [
        SortColumn::Inventory,
        SortColumn::Name,
        SortColumn::Status,
        SortColumn::Services,
        SortColumn::Height,
        SortColumn::Peers,
        SortColumn::Disk,
        SortColumn::Backup,
        SortColumn::Age,
    ];

    /// The name used by `:sort` and shown in the title.
    pub fn name(self) -> &'static str {
        match self {
            SortColumn::Inventory => "inventory",
            SortColumn::Name => "name",
            SortColumn::Status => "status",
            SortColumn::Services => "services",
            SortColumn::Height => "height",
            SortColumn::Peers => "peers",
            SortColumn::Disk => "disk",
            SortColumn::Backup => "backup",
            SortColumn::Age => "age",
        }
    }

    /// The column called `name`.
    pub fn from_name(name: &str) -> Option<SortColumn> {
        SortColumn::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The next column in the cycle.
    pub fn next(self) -> SortColumn {
        let i = SortColumn::ALL.iter().position(|c| *c == self).unwrap_or(0);
        SortColumn::ALL[(i + 1) % SortColumn::ALL.len()]
    }
}

/// How the fleet table groups hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    /// One flat list.
    #[default]
    None,
    /// By inventory group (a host in two groups shows under both).
    Group,
    /// By region.
    Region,
    /// By consensus group.
    Consensus,
}

impl GroupBy {
    /// Every grouping, in the order `b` cycles through them.
    pub const ALL: [GroupBy; 4] = [
        GroupBy::None,
        GroupBy::Group,
        GroupBy::Region,
        GroupBy::Consensus,
    ];

    /// The name used by `:groupby` and shown in the title.
    pub fn name(self) -> &'static str {
        match self {
            GroupBy::None => "none",
            GroupBy::Group => "group",
            GroupBy::Region => "region",
            GroupBy::Consensus => "consensus",
        }
    }

    /// The grouping called `name`.
    pub fn from_name(name: &str) -> Option<GroupBy> {
        GroupBy::ALL.into_iter().find(|g| g.name() == name)
    }

    /// The next grouping in the cycle.
    pub fn next(self) -> GroupBy {
        let i = GroupBy::ALL.iter().position(|c| *c == self).unwrap_or(0);
        GroupBy::ALL[(i + 1) % GroupBy::ALL.len()]
    }
}

/// A row filter typed after `/`: a glob (`dvn-*`), a regular expression (`^h[12]$`) or plain
/// text (a case-insensitive substring); a leading `!` keeps the rows that do *not* match.
#[derive(Debug, Clone)]
pub struct Filter {
    text: String,
    invert: bool,
    how: Matcher,
}

#[derive(Debug, Clone)]
enum Matcher {
    Glob(globset::GlobMatcher),
    Regex(regex::Regex),
    Text(String),
}

impl Filter {
    /// Parses a filter; `Ok(None)` for an empty one. A pattern with `*`, `?` or `[` and no
    /// other regex syntax is a glob (matched against whole fields); one with regex syntax is a
    /// regular expression (searched in each field); anything else is a substring. All are
    /// case-insensitive.
    pub fn parse(text: &str) -> Result<Option<Filter>, String> {
        let trimmed = text.trim();
        let (invert, pattern) = match trimmed.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, trimmed),
        };
        if pattern.is_empty() {
            return Ok(None);
        }
        let regex_syntax = pattern.contains(['^', '$', '(', ')', '|', '+', '\\', '{', '}']);
        let glob_syntax = pattern.contains(['*', '?', '[']);
        let how = if glob_syntax && !regex_syntax && !pattern.contains(".*") {
            let glob = globset::GlobBuilder::new(pattern)
                .case_insensitive(true)
                .build()
                .map_err(|e| format!("invalid glob {pattern:?}: {e}"))?;
            Matcher::Glob(glob.compile_matcher())
        } else if regex_syntax || glob_syntax || pattern.contains('.') {
            let re = regex::RegexBuilder::new(pattern)
                .case_insensitive(true)
                .build()
                .map_err(|e| format!("invalid regex {pattern:?}: {e}"))?;
            Matcher::Regex(re)
        } else {
            Matcher::Text(pattern.to_lowercase())
        };
        Ok(Some(Filter {
            text: trimmed.to_string(),
            invert,
            how,
        }))
    }

    /// The text as typed (trimmed).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether a row with these fields passes.
    pub fn keeps<'a>(&self, fields: impl IntoIterator<Item = &'a str>) -> bool {
        let mut fields = fields.into_iter();
        let hit = match &self.how {
            Matcher::Glob(g) => fields.any(|f| g.is_match(f)),
            Matcher::Regex(r) => fields.any(|f| r.is_match(f)),
            Matcher::Text(t) => fields.any(|f| f.to_lowercase().contains(t.as_str())),
        };
        hit != self.invert
    }
}

impl FleetRow {
    /// The fields a filter looks at: name, status, groups, consensus group, region.
    pub fn filter_fields(&self) -> impl Iterator<Item = &str> {
        [self.name.as_str(), self.status.as_str()]
            .into_iter()
            .chain(self.groups.iter().map(String::as_str))
            .chain(self.consensus_group.as_deref())
            .chain(self.region.as_deref())
    }
}

/// How the fleet table is arranged.
#[derive(Debug, Clone, Default)]
pub struct FleetQuery {
    /// Column to sort by.
    pub sort: SortColumn,
    /// Reverse the column's natural order.
    pub reverse: bool,
    /// Worst status first, before the sort column.
    pub worst_first: bool,
    /// Grouping.
    pub group_by: GroupBy,
    /// Only hosts passing this filter.
    pub filter: Option<Filter>,
    /// Only hosts in this group or consensus group (`:group G`).
    pub group: Option<String>,
}

/// One line of the arranged fleet table.
#[derive(Debug, Clone, PartialEq)]
pub enum FleetLine {
    /// A group heading.
    Group {
        /// Group name (`(none)` for hosts outside every group).
        label: String,
        /// Hosts under it.
        hosts: usize,
        /// Their worst status.
        worst: Status,
    },
    /// A host: index into the rows given to [`arrange`].
    Host(usize),
}

fn cmp_opt<T: PartialOrd>(a: &Option<T>, b: &Option<T>) -> Ordering {
    // Missing values sort last whichever way the column runs.
    match (a, b) {
        (Some(a), Some(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn cmp_opt_desc<T: PartialOrd>(a: &Option<T>, b: &Option<T>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => b.partial_cmp(a).unwrap_or(Ordering::Equal),
        _ => cmp_opt(a, b),
    }
}

fn compare(a: &FleetRow, b: &FleetRow, col: SortColumn) -> Ordering {
    let k = (&a.keys, &b.keys);
    match col {
        SortColumn::Inventory => a.host.cmp(&b.host),
        SortColumn::Name => a.name.cmp(&b.name),
        SortColumn::Status => b.status.cmp(&a.status),
        SortColumn::Services => k.1.services_down.cmp(&k.0.services_down),
        SortColumn::Height => cmp_opt(&k.0.height, &k.1.height),
        SortColumn::Peers => cmp_opt(&k.0.peers, &k.1.peers),
        SortColumn::Disk => cmp_opt_desc(&k.0.disk, &k.1.disk),
        SortColumn::Backup => cmp_opt_desc(&k.0.backup_age, &k.1.backup_age),
        SortColumn::Age => cmp_opt_desc(&k.0.age, &k.1.age),
    }
}

fn missing(r: &FleetRow, col: SortColumn) -> bool {
    let k = &r.keys;
    match col {
        SortColumn::Height => k.height.is_none(),
        SortColumn::Peers => k.peers.is_none(),
        SortColumn::Disk => k.disk.is_none(),
        SortColumn::Backup => k.backup_age.is_none(),
        SortColumn::Age => k.age.is_none(),
        _ => false,
    }
}

/// Filters, sorts and groups `rows` into display lines.
pub fn arrange(rows: &[FleetRow], q: &FleetQuery) -> Vec<FleetLine> {
    let mut order: Vec<usize> = (0..rows.len())
        .filter(|&i| {
            let r = &rows[i];
            q.group.as_deref().is_none_or(|g| {
                r.groups.iter().any(|x| x == g) || r.consensus_group.as_deref() == Some(g)
            }) && q.filter.as_ref().is_none_or(|f| f.keeps(r.filter_fields()))
        })
        .collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (&rows[a], &rows[b]);
        let first = if q.worst_first {
            rb.status.cmp(&ra.status)
        } else {
            Ordering::Equal
        };
        // Reversing flips the values, never where missing ones go: they stay last.
        let missing = missing(ra, q.sort).cmp(&missing(rb, q.sort));
        let by_col = compare(ra, rb, q.sort);
        let by_col = if q.reverse { by_col.reverse() } else { by_col };
        first.then(missing).then(by_col).then(ra.host.cmp(&rb.host))
    });
    if q.group_by == GroupBy::None {
        return order.into_iter().map(FleetLine::Host).collect();
    }
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for i in order {
        let r = &rows[i];
        let labels: Vec<String> = match q.group_by {
            GroupBy::None => unreachable!("handled above"),
            GroupBy::Group => r.groups.clone(),
            GroupBy::Region => r.region.iter().cloned().collect(),
            GroupBy::Consensus => r.consensus_group.iter().cloned().collect(),
        };
        if labels.is_empty() {
            groups.entry(String::new()).or_default().push(i);
        }
        for l in labels {
            groups.entry(l).or_default().push(i);
        }
    }
    let mut groups: Vec<(String, Vec<usize>)> = groups.into_iter().collect();
    // The catch-all group goes last; with worst-first, the worst group goes first.
    groups.sort_by(|(la, a), (lb, b)| {
        let wa = worst(a.iter().map(|&i| rows[i].status));
        let wb = worst(b.iter().map(|&i| rows[i].status));
        let w = if q.worst_first {
            wb.cmp(&wa)
        } else {
            Ordering::Equal
        };
        la.is_empty().cmp(&lb.is_empty()).then(w).then(la.cmp(lb))
    });
    let mut lines = Vec::new();
    for (label, members) in groups {
        let none = match q.group_by {
            GroupBy::Region => "(no region)",
            GroupBy::Consensus => "(no consensus group)",
            _ => "(no group)",
        };
        lines.push(FleetLine::Group {
            label: if label.is_empty() {
                none.to_string()
            } else {
                label
            },
            hosts: members.len(),
            worst: worst(members.iter().map(|&i| rows[i].status)),
        });
        lines.extend(members.into_iter().map(FleetLine::Host));
    }
    lines
}

/// Counts over the hosts shown, for the status line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Hosts.
    pub hosts: usize,
    /// Reached by their latest poll.
    pub reachable: usize,
    /// Status ok.
    pub ok: usize,
    /// Status warning.
    pub warning: usize,
    /// Status critical.
    pub critical: usize,
    /// Status unknown.
    pub unknown: usize,
    /// Hosts with at least one stale cell.
    pub stale: usize,
}

/// Counts over `rows`.
pub fn summary(rows: &[FleetRow]) -> Summary {
    let mut s = Summary::default();
    for r in rows {
        s.hosts += 1;
        s.reachable += usize::from(r.reach.text == "yes");
        s.stale += usize::from(r.fresh.stale);
        match r.status {
            Status::Ok => s.ok += 1,
            Status::Warning => s.warning += 1,
            Status::Critical => s.critical += 1,
            Status::Unknown => s.unknown += 1,
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Host detail

/// One `label: value` line of the host pane's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// Label.
    pub label: &'static str,
    /// Value.
    pub value: String,
}

/// The facts of one host, in the order the host pane lists them.
pub fn host_facts(ctx: &Ctx, i: usize) -> Vec<Fact> {
    let (host, hs, health) = ctx.host(i);
    let p = hs.probed.as_ref();
    let fresh = freshness(host, hs, ctx.now);
    let mut out = Vec::new();
    let mut push = |label, value: String| out.push(Fact { label, value });
    let address = match host.port {
        Some(port) => format!("{}:{port}", host.address),
        None => host.address.clone(),
    };
    push("address", address);
    push("status", health.status.as_str().to_string());
    let reach = match (hs.reachable(), &hs.error) {
        (None, _) => "not polled yet".to_string(),
        (Some(true), _) => "yes".into(),
        (Some(false), Some(e)) => match e.retry_in {
            Some(r) => format!("no: {} (retry in {})", e.message, short_duration(r)),
            None => format!("no: {}", e.message),
        },
        (Some(false), None) => "no".into(),
    };
    push("reachable", reach);
    let mut data = format!("{} old", fresh.text());
    if fresh.stale {
        data.push_str(" (stale)");
    }
    if let Some(ms) = hs.poll_elapsed {
        data.push_str(&format!(", poll took {} ms", ms.as_millis()));
    }
    push("data", data);
    if let Some(f) = &hs.facts {
        let ff = freshness_of(Some(f), Part::Facts.interval(host), ctx.now);
        push(
            "facts",
            format!(
                "read {} ago{}",
                ff.text(),
                if ff.stale { " (stale)" } else { "" }
            ),
        );
    }
    if !host.groups.is_empty() {
        push("groups", host.groups.join(", "));
    }
    if let Some(g) = &host.consensus_group {
        push("consensus", format!("{g} ({})", host.role.as_str()));
    }
    if let Some(u) = p.and_then(|p| p.uptime) {
        push("uptime", humantime_short(u));
    }
    if let Some(l) = p.and_then(|p| p.load) {
        push(
            "load",
            format!("{:.2} {:.2} {:.2}", l.one, l.five, l.fifteen),
        );
    }
    if let Some(f) = facts_of(hs) {
        if let Metric::Value(os) = &f.os {
            push("os", os.clone());
        }
        if let Metric::Value(k) = &f.kernel {
            push(
                "kernel",
                format!("{} {} {} ({})", k.os, k.release, k.machine, k.hostname),
            );
        }
        match &f.cpu {
            Metric::Value(c) => {
                let models: Vec<String> = c
                    .models
                    .iter()
                    .map(|m| format!("{} (*{})", m.name, m.count))
                    .collect();
                let sockets = c
                    .sockets
                    .map(|s| format!(", {s} socket(s)"))
                    .unwrap_or_default();
                push(
                    "cpu",
                    format!("{} CPUs{sockets}: {}", c.count, models.join("; ")),
                );
            }
            other => push("cpu", metric_text_unit(other)),
        }
        match &f.memory {
            Metric::Value(m) => {
                push(
                    "memory",
                    format!(
                        "{} total, {} available",
                        human_bytes(m.total_bytes),
                        human_bytes(m.available_bytes)
                    ),
                );
                push(
                    "swap",
                    if m.swap_total_bytes == 0 {
                        "none".into()
                    } else {
                        format!(
                            "{} total, {} free",
                            human_bytes(m.swap_total_bytes),
                            human_bytes(m.swap_free_bytes)
                        )
                    },
                );
            }
            other => push("memory", metric_text_unit(other)),
        }
        if let Metric::Value(d) = &f.dmi {
            let parts: Vec<&str> = [&d.vendor, &d.product, &d.bios_version]
                .into_iter()
                .filter_map(|x| x.as_deref())
                .collect();
            if !parts.is_empty() {
                push("hardware", parts.join(" / "));
            }
        }
        if let Metric::Value(fs) = &f.filesystems {
            let list: Vec<String> = fs
                .iter()
                .map(|f| {
                    format!(
                        "{} {:.0}% of {}",
                        f.usage.mounted_on,
                        f.usage.used_percent,
                        human_bytes(f.usage.total_bytes)
                    )
                })
                .collect();
            push(
                "filesystems",
                if list.is_empty() {
                    "none reported".into()
                } else {
                    list.join(", ")
                },
            );
        }
        match &f.interfaces {
            Metric::Value(ifs) => {
                let list: Vec<String> = ifs
                    .iter()
                    .map(|n| format!("{} {}", n.name, n.mac))
                    .collect();
                push("macs", list.join(", "));
            }
            other => push("macs", metric_text_unit(other)),
        }
        match &f.logins {
            Metric::Value(l) => {
                let list: Vec<String> = l
                    .iter()
                    .take(3)
                    .map(|l| {
                        let night = if l.night { " (night)" } else { "" };
                        format!("{} from {} {}{night}", l.user, l.from, l.when)
                    })
                    .collect();
                push(
                    "logins",
                    if list.is_empty() {
                        "none recorded".into()
                    } else {
                        list.join("; ")
                    },
                );
            }
            other => push("logins", metric_text_unit(other)),
        }
    }
    out
}

fn metric_text_unit<T>(m: &Metric<T>) -> String {
    match m {
        Metric::Value(_) => String::new(),
        Metric::Unavailable(why) => format!("unavailable: {why}"),
        Metric::Error(e) => format!("error: {e}"),
    }
}

/// `3d 4h`, `2h 5m`, `4m 10s`: two units, for uptimes.
pub fn humantime_short(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins, secs) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {mins}m")
    } else {
        format!("{mins}m {secs}s")
    }
}

// ---------------------------------------------------------------------------------------------
// Services

/// One service on one host.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    /// Index into `Fleet::hosts`.
    pub host: usize,
    /// Host name.
    pub host_name: String,
    /// Service name.
    pub name: String,
    /// `systemd`, `docker`, `process`, `port`, `http`, `command`.
    pub kind: &'static str,
    /// What is watched: the unit, container, pattern, address, URL or command.
    pub target: String,
    /// `running`, `stopped`, `failed`, `unknown`.
    pub state: &'static str,
    /// Status for colour: running ok, stopped/failed critical, unknown unknown.
    pub status: Status,
    /// Time in the current state, `3h`, or `-`.
    pub since: String,
    /// Restarts seen, or `-`.
    pub restarts: String,
    /// One line of detail.
    pub detail: String,
    /// The last lines of its failure output.
    pub last_failure: Vec<String>,
    /// Freshness of the service states.
    pub fresh: Freshness,
}

impl ServiceRow {
    /// Fields a filter looks at.
    pub fn filter_fields(&self) -> impl Iterator<Item = &str> {
        [
            self.host_name.as_str(),
            self.name.as_str(),
            self.kind,
            self.state,
        ]
        .into_iter()
    }
}

fn kind_and_target(k: &ServiceKind) -> (&'static str, String) {
    match k {
        ServiceKind::Systemd { unit } => ("systemd", unit.clone()),
        ServiceKind::Docker {
            container,
            compose_file,
            compose_service,
        } => (
            "docker",
            match (container, compose_file, compose_service) {
                (Some(c), _, _) => c.clone(),
                (None, Some(f), Some(s)) => format!("{s} ({f})"),
                (None, _, Some(s)) => s.clone(),
                _ => String::new(),
            },
        ),
        ServiceKind::Process { pidfile, pattern } => (
            "process",
            pidfile
                .clone()
                .or_else(|| pattern.clone())
                .unwrap_or_default(),
        ),
        ServiceKind::Port { address, port } => ("port", format!("{address}:{port}")),
        ServiceKind::Http { url, .. } => ("http", url.clone()),
        ServiceKind::Command { command } => ("command", command.clone()),
    }
}

fn service_state_name(s: ServiceState) -> &'static str {
    match s {
        ServiceState::Running => "running",
        ServiceState::Stopped => "stopped",
        ServiceState::Failed => "failed",
        ServiceState::Unknown => "unknown",
    }
}

/// The services of `hosts`, host by host in inventory order of services.
pub fn service_rows(ctx: &Ctx, hosts: &[usize]) -> Vec<ServiceRow> {
    let mut out = Vec::new();
    for &i in hosts {
        let (host, hs, _) = ctx.host(i);
        let fresh = Part::Services.freshness(host, hs, ctx.now);
        let reachable = hs.reachable() == Some(true);
        let p = hs.probed.as_ref();
        let hnow = host_now(p, ctx.now);
        for (k, svc) in host.services.iter().enumerate() {
            let (kind, target) = kind_and_target(&svc.kind);
            let obs = p.and_then(|p| p.services.get(k));
            let track = hs.service(&svc.name);
            let last_failure = track
                .and_then(|t| t.last_failure.as_ref())
                .map(|f| {
                    let mut lines = vec![format!(
                        "{} {} ago: {}",
                        service_state_name(f.state),
                        short_duration(ctx.now.duration_since(f.at).unwrap_or_default()),
                        f.detail
                    )];
                    lines.extend(f.lines.iter().cloned());
                    lines
                })
                .unwrap_or_default();
            let (state, status, detail) = match obs {
                Some(o) if reachable => (
                    o.state,
                    match o.state {
                        ServiceState::Running => Status::Ok,
                        ServiceState::Stopped | ServiceState::Failed => Status::Critical,
                        ServiceState::Unknown => Status::Unknown,
                    },
                    o.detail.clone(),
                ),
                Some(o) => (
                    ServiceState::Unknown,
                    Status::Unknown,
                    format!(
                        "host not reached; last seen {}",
                        service_state_name(o.state)
                    ),
                ),
                None => (
                    ServiceState::Unknown,
                    Status::Unknown,
                    if hs.polled_at.is_none() {
                        "not polled yet".into()
                    } else {
                        "host not reached".into()
                    },
                ),
            };
            out.push(ServiceRow {
                host: i,
                host_name: host.name.clone(),
                name: svc.name.clone(),
                kind,
                target,
                state: service_state_name(state),
                status,
                // The tool's own timestamp when it gives one, else when fleetdeck saw the change.
                since: match (obs.and_then(|o| o.since), track) {
                    (Some(s), _) => ago(hnow, s),
                    (None, Some(t)) => short_duration(
                        ctx.now
                            .duration_since(t.state_seen_since)
                            .unwrap_or_default(),
                    ),
                    (None, None) => "-".into(),
                },
                restarts: match track {
                    None => "-".into(),
                    Some(t) => match t.restarts_reported {
                        Some(r) if r != t.restarts_seen => format!("{} ({r})", t.restarts_seen),
                        _ => t.restarts_seen.to_string(),
                    },
                },
                detail,
                last_failure,
                fresh,
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Chain

/// One chain node.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainRow {
    /// Index into `Fleet::hosts`.
    pub host: usize,
    /// Host name.
    pub host_name: String,
    /// `ethereum`, `conflux`, `fisco-bcos`, `command`.
    pub kind: &'static str,
    /// Which chain it belongs to (kind and consensus group), as in [`ChainSummary::chain`].
    pub chain: String,
    /// Height, `n/a`, `err`, or `-` before data.
    pub height: String,
    /// Blocks behind the highest node of the same chain.
    pub lag: String,
    /// Blocks per minute over the recent history.
    pub blocks_per_min: String,
    /// Recent heights minus the lowest of them (so growth shows), oldest first.
    pub spark: Vec<u64>,
    /// Peers.
    pub peers: String,
    /// `yes`, `no`, `n/a`.
    pub syncing: String,
    /// The configured role, and the chain's own view when it differs.
    pub role: String,
    /// Client version.
    pub client: String,
    /// Why the node does not count as healthy in its consensus group, or its worst chain
    /// alert; empty when fine.
    pub problem: String,
    /// Worst status of the chain rules for this node (colour of the height cell).
    pub status: Status,
    /// Freshness of the chain reading.
    pub fresh: Freshness,
}

impl ChainRow {
    /// Fields a filter looks at.
    pub fn filter_fields(&self) -> impl Iterator<Item = &str> {
        [
            self.host_name.as_str(),
            self.kind,
            self.chain.as_str(),
            self.role.as_str(),
        ]
        .into_iter()
    }
}

/// Quorum arithmetic of a BFT consensus group, as `health::consensus_groups` judged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quorum {
    /// Consensus members (N).
    pub n: usize,
    /// Failures tolerated, ⌊(N−1)/3⌋ (F).
    pub f: usize,
    /// Members that are healthy now.
    pub healthy: usize,
    /// Sealers the chain itself lists, when a member said.
    pub on_chain: Option<usize>,
}

impl Quorum {
    /// The quorum of a judged group.
    pub fn of(g: &GroupHealth) -> Quorum {
        Quorum {
            n: g.n,
            f: g.f,
            healthy: g.healthy,
            on_chain: g.on_chain_sealers,
        }
    }

    /// Unhealthy members.
    pub fn faulty(&self) -> usize {
        self.n - self.healthy
    }

    /// More than F members are down: the group cannot make progress.
    pub fn stalled(&self) -> bool {
        self.n > 0 && self.faulty() > self.f
    }

    /// Exactly F members are down (F ≥ 1): one more failure stalls the group.
    pub fn one_from_stalling(&self) -> bool {
        self.n > 0 && self.faulty() > 0 && self.faulty() == self.f
    }

    /// Critical when stalled or one failure away, warning with any member down.
    pub fn status(&self) -> Status {
        if self.n == 0 {
            Status::Unknown
        } else if self.stalled() || self.one_from_stalling() {
            Status::Critical
        } else if self.faulty() > 0 {
            Status::Warning
        } else {
            Status::Ok
        }
    }

    /// `N=4 F=1 healthy 3/4 — one failure from stalling`.
    pub fn text(&self) -> String {
        let verdict = if self.stalled() {
            " — STALLED (more than F down)"
        } else if self.one_from_stalling() {
            " — one failure from stalling"
        } else if self.f == 0 {
            " — no failure tolerated"
        } else {
            ""
        };
        let chain = match self.on_chain {
            Some(c) if c != self.n => format!(" (chain lists {c} sealers)"),
            _ => String::new(),
        };
        format!(
            "N={} F={} healthy {}/{}{verdict}{chain}",
            self.n, self.f, self.healthy, self.n
        )
    }
}

/// One chain: nodes of the same kind in the same consensus group.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainSummary {
    /// `ethereum`, `fisco-bcos/group0`.
    pub chain: String,
    /// Nodes configured.
    pub nodes: usize,
    /// Highest height seen.
    pub best: String,
    /// Blocks per minute of the highest node.
    pub blocks_per_min: String,
    /// The consensus group's quorum, when the chain has one.
    pub quorum: Option<Quorum>,
    /// Colour of the line.
    pub status: Status,
}

fn kind_name(k: ChainKind) -> &'static str {
    match k {
        ChainKind::Ethereum => "ethereum",
        ChainKind::Conflux => "conflux",
        ChainKind::FiscoBcos => "fisco-bcos",
        ChainKind::Command => "command",
    }
}

fn chain_label(host: &Host) -> Option<String> {
    let c = host.chain.as_ref()?;
    Some(match &host.consensus_group {
        Some(g) => format!("{}/{g}", kind_name(c.kind)),
        None => kind_name(c.kind).to_string(),
    })
}

fn rate_text(r: Option<f64>) -> String {
    match r {
        None => "-".into(),
        Some(r) if r >= 10.0 => format!("{r:.0}"),
        Some(r) => format!("{r:.1}"),
    }
}

const CHAIN_RULES: &[&str] = &[
    "height_stalled",
    "chain_rpc_error",
    "height_lag",
    "chain_height_unavailable",
    "peers_low",
    "syncing",
    "consensus_lost",
    "consensus_at_risk",
];

/// The chain nodes among `hosts`.
pub fn chain_rows(ctx: &Ctx, hosts: &[usize]) -> Vec<ChainRow> {
    let groups = health::consensus_groups(ctx.fleet, ctx.state, ctx.now);
    let mut out = Vec::new();
    for &i in hosts {
        let (host, hs, health) = ctx.host(i);
        let Some(cfg) = &host.chain else { continue };
        let p = hs.probed.as_ref();
        let c = p.and_then(|p| p.chain.as_ref());
        let min = hs.heights.iter().map(|(_, h)| *h).min().unwrap_or(0);
        let member = groups.iter().flat_map(|g| &g.members).find(|m| m.host == i);
        let observed_role = member.and_then(|m| m.observed_role).or_else(|| {
            p.and_then(|p| p.chain_detail.as_ref())
                .and_then(|d| d.observed_role())
        });
        let problem = member
            .and_then(|m| m.problem.clone())
            .or_else(|| {
                health
                    .alerts
                    .iter()
                    .find(|a| CHAIN_RULES.contains(&a.rule) && !a.rule.starts_with("consensus"))
                    .map(|a| a.message.clone())
            })
            .unwrap_or_default();
        let role = match observed_role {
            Some(seen) if seen != host.role => {
                format!("{} (chain: {})", host.role.as_str(), seen.as_str())
            }
            _ => host.role.as_str().to_string(),
        };
        let status = worst(
            health
                .alerts
                .iter()
                .filter(|a| CHAIN_RULES.contains(&a.rule))
                .map(|a| match a.severity {
                    Severity::Critical => Status::Critical,
                    Severity::Warning => Status::Warning,
                }),
        );
        out.push(ChainRow {
            host: i,
            host_name: host.name.clone(),
            kind: kind_name(cfg.kind),
            chain: chain_label(host).unwrap_or_default(),
            height: c.map_or_else(|| "-".into(), |c| metric_text(&c.height)),
            lag: health.lag.map_or_else(|| "-".into(), |l| l.to_string()),
            blocks_per_min: rate_text(hs.blocks_per_minute()),
            spark: hs.heights.iter().map(|(_, h)| h - min).collect(),
            peers: c.map_or_else(|| "-".into(), |c| metric_text(&c.peers)),
            syncing: c.map_or_else(
                || "-".into(),
                |c| match c.syncing {
                    Metric::Value(true) => "yes".into(),
                    Metric::Value(false) => "no".into(),
                    ref other => metric_text(other),
                },
            ),
            role,
            client: c.and_then(|c| c.client.clone()).unwrap_or_default(),
            problem,
            status: if hs.polled_at.is_none() {
                Status::Unknown
            } else {
                status
            },
            fresh: Part::Chain.freshness(host, hs, ctx.now),
        });
    }
    out
}

/// One summary per chain among `hosts`, with the quorum of chains in a consensus group.
pub fn chain_summaries(ctx: &Ctx, hosts: &[usize]) -> Vec<ChainSummary> {
    let groups = health::consensus_groups(ctx.fleet, ctx.state, ctx.now);
    let mut chains: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for &i in hosts {
        if let Some(label) = chain_label(&ctx.fleet.hosts[i]) {
            chains.entry(label).or_default().push(i);
        }
    }
    chains
        .into_iter()
        .map(|(chain, members)| {
            let best = members
                .iter()
                .filter_map(|&i| {
                    let hs = &ctx.state.hosts[i];
                    hs.heights.back().map(|(_, h)| (*h, i))
                })
                .max();
            let group = ctx.fleet.hosts[members[0]].consensus_group.as_deref();
            let quorum = group
                .and_then(|g| groups.iter().find(|x| x.name == g))
                .filter(|g| g.n > 0)
                .map(Quorum::of);
            let status = quorum.map_or_else(
                || worst(members.iter().map(|&i| ctx.health[i].status)),
                |q| q.status(),
            );
            ChainSummary {
                chain,
                nodes: members.len(),
                best: best.map_or_else(|| "-".into(), |(h, _)| h.to_string()),
                blocks_per_min: rate_text(
                    best.and_then(|(_, i)| ctx.state.hosts[i].blocks_per_minute()),
                ),
                quorum,
                status,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Disks and backups

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

// ---------------------------------------------------------------------------------------------
// Certificates

/// One watched certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct CertRow {
    /// Index into `Fleet::hosts`.
    pub host: usize,
    /// Host name.
    pub host_name: String,
    /// Certificate name.
    pub name: String,
    /// PEM path on the host.
    pub path: String,
    /// Days to expiry (negative: expired).
    pub days_left: Option<i64>,
    /// `23d`, `expired 3d ago`, `n/a`, `-`.
    pub expires_in: String,
    /// Expiry date, `2027-03-01`.
    pub not_after: String,
    /// Subject.
    pub subject: String,
    /// Expired critical, within `cert_warn_days` warning.
    pub status: Status,
    /// Why it could not be read.
    pub error: Option<String>,
    /// Freshness of the certificate readings.
    pub fresh: Freshness,
}

impl CertRow {
    /// Fields a filter looks at.
    pub fn filter_fields(&self) -> impl Iterator<Item = &str> {
        [
            self.host_name.as_str(),
            self.name.as_str(),
            self.path.as_str(),
        ]
        .into_iter()
    }
}

fn date(epoch_secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch_secs)
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
        .unwrap_or_else(|_| "-".into())
}

/// The watched certificates of `hosts`.
pub fn cert_rows(ctx: &Ctx, hosts: &[usize]) -> Vec<CertRow> {
    let mut out = Vec::new();
    for &i in hosts {
        let (host, hs, _) = ctx.host(i);
        let hnow = host_now(hs.probed.as_ref(), ctx.now);
        let certs = certs_of(hs);
        let fresh = Part::Certs.freshness(host, hs, ctx.now);
        for (k, c) in host.certs.iter().enumerate() {
            let mut row = CertRow {
                host: i,
                host_name: host.name.clone(),
                name: c.name.clone(),
                path: c.path.clone(),
                days_left: None,
                expires_in: "-".into(),
                not_after: "-".into(),
                subject: String::new(),
                status: Status::Unknown,
                error: None,
                fresh,
            };
            match certs.and_then(|cs| cs.get(k)).map(|o| &o.info) {
                Some(Metric::Value(info)) => {
                    let days = (info.not_after - hnow).div_euclid(86_400);
                    row.days_left = Some(days);
                    row.expires_in = if info.not_after <= hnow {
                        format!("expired {}d ago", (hnow - info.not_after) / 86_400)
                    } else {
                        format!("{days}d")
                    };
                    row.not_after = date(info.not_after);
                    row.subject = info.subject.clone();
                    row.status = if info.not_after <= hnow {
                        Status::Critical
                    } else if days < host.thresholds.cert_warn_days as i64 {
                        Status::Warning
                    } else {
                        Status::Ok
                    };
                }
                Some(Metric::Unavailable(why)) => {
                    row.expires_in = "n/a".into();
                    row.error = Some(why.clone());
                }
                Some(Metric::Error(e)) => {
                    row.expires_in = "err".into();
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

// ---------------------------------------------------------------------------------------------
// Logs

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

// ---------------------------------------------------------------------------------------------
// Alerts

/// Where an alert is in its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertPhase {
    /// Firing and nobody has acknowledged it.
    New,
    /// An operator has taken it.
    Acked {
        /// Who.
        by: String,
    },
    /// Cleared (kept for a while so the operator sees it went away).
    Resolved,
}

impl AlertPhase {
    /// `new`, `acked by alice`, `resolved`.
    pub fn text(&self) -> String {
        match self {
            AlertPhase::New => "new".into(),
            AlertPhase::Acked { by } => format!("acked by {by}"),
            AlertPhase::Resolved => "resolved".into(),
        }
    }
}

/// One alert, fleet-wide list.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    /// Identity of the alert in the alert book (what an ack names).
    pub key: AlertKey,
    /// Index into `Fleet::hosts`.
    pub host: usize,
    /// Host name.
    pub host_name: String,
    /// How bad.
    pub severity: Severity,
    /// Rule name.
    pub rule: String,
    /// What on the host it is about (service, mount, …), empty for the host itself.
    pub subject: String,
    /// The measured value, short (`93%`), or `-`.
    pub value: String,
    /// One sentence for the operator.
    pub message: String,
    /// Time since it was raised, `5m`.
    pub since: String,
    /// Lifecycle phase.
    pub phase: AlertPhase,
}

impl AlertRow {
    /// Fields a filter looks at.
    pub fn filter_fields(&self) -> impl Iterator<Item = &str> {
        [
            self.host_name.as_str(),
            self.rule.as_str(),
            self.subject.as_str(),
            self.message.as_str(),
        ]
        .into_iter()
    }

    /// The status used for the severity cell's colour (resolved ones are fine again).
    pub fn status(&self) -> Status {
        match (&self.phase, self.severity) {
            (AlertPhase::Resolved, _) => Status::Ok,
            (_, Severity::Critical) => Status::Critical,
            (_, Severity::Warning) => Status::Warning,
        }
    }
}

/// The alerts of `hosts` from the lifecycle book, in its order (active before resolved,
/// critical first, new before acked, oldest first).
pub fn alert_rows(ctx: &Ctx, hosts: &[usize], book: &AlertBook) -> Vec<AlertRow> {
    let by_name: BTreeMap<&str, usize> = hosts
        .iter()
        .map(|&i| (ctx.fleet.hosts[i].name.as_str(), i))
        .collect();
    book.list()
        .into_iter()
        .filter_map(|t| {
            let host = *by_name.get(t.key.host.as_str())?;
            Some(AlertRow {
                key: t.key.clone(),
                host,
                host_name: t.key.host.clone(),
                severity: t.severity,
                rule: t.key.rule.clone(),
                subject: t.key.subject.clone(),
                value: t.value.clone().unwrap_or_else(|| "-".into()),
                message: t.message.clone(),
                since: short_duration(ctx.now.duration_since(t.since).unwrap_or_default()),
                phase: match t.state {
                    AlertState::New => AlertPhase::New,
                    AlertState::Acked => AlertPhase::Acked {
                        by: t.acked_by.clone().unwrap_or_default(),
                    },
                    AlertState::Resolved => AlertPhase::Resolved,
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::evaluate;
    use crate::inventory::{ConfigSource, load_fleet_from_str};
    use crate::observation::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    const T0: u64 = 1_800_000_000;

    fn fleet() -> Fleet {
        load_fleet_from_str(
            r#"
[fleet]
name = "t"
interval = "5s"
[[hosts]]
name = "a1"
address = "10.0.0.1"
groups = ["dvn", "aws"]
consensus_group = "g0"
role = "consensus"
chain = { kind = "fisco-bcos", rpc = "http://127.0.0.1:8545" }
services = [{ name = "node", kind = "systemd", unit = "fisco.service" }]
disks = [{ mount = "/data" }]
backups = [{ name = "pg", dir = "/b", pattern = "*.gz", every = "24h" }]
[[hosts]]
name = "a2"
address = "10.0.0.2"
groups = ["dvn"]
consensus_group = "g0"
role = "consensus"
chain = { kind = "fisco-bcos", rpc = "http://127.0.0.1:8545" }
[[hosts]]
name = "b1"
address = "10.0.0.3"
consensus_group = "g0"
role = "consensus"
chain = { kind = "fisco-bcos", rpc = "http://127.0.0.1:8545" }
[[hosts]]
name = "b2"
address = "10.0.0.4"
consensus_group = "g0"
role = "consensus"
chain = { kind = "fisco-bcos", rpc = "http://127.0.0.1:8545" }
"#,
            ConfigSource::Embedded,
        )
        .unwrap()
    }

    fn chain_obs(height: u64) -> ChainObs {
        ChainObs {
            kind: ChainKind::FiscoBcos,
            height: Metric::Value(height),
            syncing: Metric::Value(false),
            peers: Metric::Value(3),
            client: None,
        }
    }

    fn ok(host: usize, secs: u64, height: u64) -> Observation {
        Observation {
            host,
            started: at(secs),
            elapsed: Duration::from_millis(5),
            outcome: Ok(Probed {
                host_time: Some(secs as i64),
                chain: Some(chain_obs(height)),
                ..Probed::default()
            }),
        }
    }

    fn down(host: usize, secs: u64) -> Observation {
        Observation {
            host,
            started: at(secs),
            elapsed: Duration::from_secs(1),
            outcome: Err(Unreachable {
                kind: UnreachableKind::Connect,
                message: "connection refused".into(),
                retry_in: None,
            }),
        }
    }

    #[test]
    fn data_turns_stale_after_two_intervals() {
        let f = fleet();
        let mut s = FleetState::new(4);
        s.apply(ok(0, T0, 10));
        let h = &f.hosts[0];
        assert!(!freshness(h, &s.hosts[0], at(T0 + 10)).stale, "2 × 5s");
        let late = freshness(h, &s.hosts[0], at(T0 + 11));
        assert!(late.stale);
        assert_eq!(late.text(), "11s");
        assert_eq!(freshness(h, &s.hosts[1], at(T0)), Freshness::default());
    }

    /// A good poll of a1 (interval 5 s) at T0 with everything, slow parts included.
    fn full_poll(secs: u64) -> Observation {
        let mut o = ok(0, secs, 130);
        if let Ok(p) = &mut o.outcome {
            p.services = vec![ServiceObs {
                name: "node".into(),
                state: ServiceState::Running,
                detail: "active (running)".into(),
                since: None,
                restarts: None,
            }];
            p.disks = vec![DiskObs {
                mount: "/data".into(),
                usage: Ok(DiskUsage {
                    filesystem: "/dev/vdb".into(),
                    total_bytes: 100,
                    used_bytes: 82,
                    avail_bytes: 18,
                    used_percent: 82.0,
                    mounted_on: "/data".into(),
                }),
            }];
            p.certs = Some(vec![]);
            p.logs = Some(vec![]);
        }
        o
    }

    fn row_at(f: &Fleet, s: &FleetState, now: SystemTime) -> FleetRow {
        let health = evaluate(f, s, now);
        let ctx = Ctx {
            fleet: f,
            state: s,
            health: &health,
            now,
        };
        fleet_rows(&ctx, &[0]).remove(0)
    }

    #[test]
    fn each_cell_turns_stale_after_twice_its_own_interval() {
        let f = fleet();
        let mut s = FleetState::new(4);
        s.apply(full_poll(T0));
        // The host stops answering: the poll at T0+8 s says so, and is itself fresh data.
        s.apply(down(0, T0 + 8));
        let ms = |m: u64| at(T0) + Duration::from_millis(m);

        // 1.9 × 5 s after the good poll: nothing is stale, nothing carries an age.
        let r = row_at(&f, &s, ms(9_500));
        for c in [&r.reach, &r.services, &r.height, &r.peers, &r.disk] {
            assert!(!c.fresh.stale, "{c:?}");
            assert_eq!(c.shown(), c.text);
        }
        assert_eq!(r.disk.shown(), "82%");
        assert!(!r.fresh.stale);

        // 2.1 × 5 s: the cells read at T0 are stale and say how old; REACH, read at T0+8 s,
        // is not. AGE is the oldest cell.
        let r = row_at(&f, &s, ms(10_500));
        assert_eq!(r.disk.shown(), "82% ·10s");
        assert_eq!(r.height.shown(), "130 ·10s");
        assert_eq!(r.peers.shown(), "3 ·10s");
        assert_eq!(r.services.shown(), "?/1 ·10s");
        assert!(r.disk.fresh.stale && r.services.fresh.stale);
        assert_eq!(
            (r.reach.shown().as_ref(), r.reach.fresh.stale),
            ("no", false)
        );
        assert_eq!(r.reach.fresh.age, Some(Duration::from_millis(2_500)));
        assert_eq!(r.fresh.age, Some(Duration::from_millis(10_500)));
        assert!(r.fresh.stale);
        assert_eq!(r.backup.shown(), "-", "nothing read: no age, never stale");
        assert_eq!(r.keys.age, Some(10));

        // REACH goes stale on its own clock: 2.1 × 5 s after its poll.
        assert!(!row_at(&f, &s, ms(8_000 + 9_500)).reach.fresh.stale);
        assert!(row_at(&f, &s, ms(8_000 + 10_500)).reach.fresh.stale);

        // Slower parts have their own intervals: logs 30 s, facts 60 s, certificates 300 s.
        let h = &f.hosts[0];
        let hs = &s.hosts[0];
        for (part, every) in [(Part::Logs, 30), (Part::Facts, 60), (Part::Certs, 300)] {
            assert_eq!(part.interval(h), Duration::from_secs(every));
            let fresh = |x10: u64| part.freshness(h, hs, ms(every * 100 * x10)).stale;
            if part == Part::Facts {
                assert_eq!(part.read_at(hs), None, "never read: never stale");
                assert!(!fresh(21));
                continue;
            }
            assert!(!fresh(19), "{part:?} at 1.9 × {every}s");
            assert!(fresh(21), "{part:?} at 2.1 × {every}s");
        }
        assert_eq!(Part::Disks.interval(h), Duration::from_secs(5));
    }

    #[test]
    fn data_cells_show_their_age_only_when_stale() {
        let stale = Freshness {
            age: Some(Duration::from_secs(190)),
            stale: true,
        };
        let fresh = Freshness {
            age: Some(Duration::from_secs(4)),
            stale: false,
        };
        let c = DataCell::new("82%", stale);
        assert_eq!(c.shown(), "82% ·3m");
        assert_eq!(c.width(), "82% ·3m".chars().count());
        let c = DataCell::new("82%", fresh);
        assert_eq!((c.shown().as_ref(), c.width()), ("82%", 3));
        for secs in [
            0,
            9,
            10,
            59,
            60,
            599,
            3599,
            3600,
            86_399,
            86_400,
            999 * 86_400,
        ] {
            let c = DataCell::new(
                "x",
                Freshness {
                    age: Some(Duration::from_secs(secs)),
                    stale: true,
                },
            );
            assert_eq!(c.width(), c.shown().chars().count(), "{secs}s");
        }
        assert_eq!(fresh.oldest(stale), stale);
        assert_eq!(Freshness::default().oldest(fresh), fresh);
        assert_eq!(Freshness::default().suffix(), "");
    }

    #[test]
    fn hosts_group_by_their_region_or_their_profiles() {
        let f = load_fleet_from_str(
            r#"
[profiles.eu]
region = "eu-west-1"
[[hosts]]
name = "a1"
profile = "eu"
[[hosts]]
name = "a2"
region = "us-east-1"
[[hosts]]
name = "b1"
profile = "eu"
region = "us-east-1"
[[hosts]]
name = "b2"
"#,
            ConfigSource::Embedded,
        )
        .unwrap();
        let s = FleetState::new(4);
        let health = evaluate(&f, &s, at(T0));
        let ctx = Ctx {
            fleet: &f,
            state: &s,
            health: &health,
            now: at(T0),
        };
        let rows = fleet_rows(&ctx, &[0, 1, 2, 3]);
        assert_eq!(region_of(&f.hosts[0]), Some("eu-west-1"));
        assert_eq!(rows[2].region.as_deref(), Some("us-east-1"), "own wins");
        let q = FleetQuery {
            group_by: GroupBy::Region,
            ..FleetQuery::default()
        };
        assert_eq!(
            names(&rows, &arrange(&rows, &q)),
            [
                "[eu-west-1 1]",
                "a1",
                "[us-east-1 2]",
                "a2",
                "b1",
                "[(no region) 1]",
                "b2"
            ]
        );
        let q = FleetQuery {
            filter: Filter::parse("us-*").unwrap(),
            ..FleetQuery::default()
        };
        assert_eq!(
            names(&rows, &arrange(&rows, &q)),
            ["a2", "b1"],
            "/ looks at regions"
        );
    }

    #[test]
    fn quorum_arithmetic() {
        let q = |n, healthy| Quorum {
            n,
            f: (n - 1) / 3,
            healthy,
            on_chain: None,
        };
        assert_eq!(q(4, 4).status(), Status::Ok);
        assert!(q(4, 3).one_from_stalling());
        assert_eq!(q(4, 3).status(), Status::Critical);
        assert!(q(4, 2).stalled());
        assert_eq!(q(7, 6).status(), Status::Warning, "F=2, one down");
        assert!(q(7, 5).one_from_stalling());
        assert_eq!(
            q(4, 3).text(),
            "N=4 F=1 healthy 3/4 — one failure from stalling"
        );
        assert_eq!(q(3, 3).text(), "N=3 F=0 healthy 3/3 — no failure tolerated");
        let mut listed = q(4, 4);
        listed.on_chain = Some(5);
        assert_eq!(listed.text(), "N=4 F=1 healthy 4/4 (chain lists 5 sealers)");
    }

    #[test]
    fn a_consensus_group_with_one_member_down_is_one_failure_from_stalling() {
        let f = fleet();
        let mut s = FleetState::new(4);
        for i in 0..3 {
            s.apply(ok(i, T0 - 60, 100));
            s.apply(ok(i, T0, 130));
        }
        s.apply(down(3, T0));
        let health = evaluate(&f, &s, at(T0));
        let ctx = Ctx {
            fleet: &f,
            state: &s,
            health: &health,
            now: at(T0),
        };
        let sums = chain_summaries(&ctx, &[0, 1, 2, 3]);
        assert_eq!(sums.len(), 1);
        let q = sums[0].quorum.unwrap();
        assert_eq!((q.n, q.f, q.healthy), (4, 1, 3));
        assert_eq!(sums[0].status, Status::Critical);
        assert_eq!(sums[0].chain, "fisco-bcos/g0");
        assert_eq!(sums[0].best, "130");
        assert_eq!(sums[0].blocks_per_min, "30");
        let rows = chain_rows(&ctx, &[0, 3]);
        assert_eq!(rows[0].spark, vec![0, 30]);
        assert_eq!(rows[0].role, "consensus");
        assert_eq!(rows[0].problem, "");
        assert_eq!(rows[1].height, "-");
        assert_eq!(rows[1].problem, "unreachable: connection refused");
    }

    #[test]
    fn filters_are_globs_regexes_or_text_and_invert() {
        let keep = |f: &str, fields: &[&str]| {
            Filter::parse(f)
                .unwrap()
                .unwrap()
                .keeps(fields.iter().copied())
        };
        assert!(keep("dvn-*", &["dvn-aws-1"]));
        assert!(!keep("dvn-*", &["xdvn-aws-1"]), "globs match whole fields");
        assert!(keep("^h[12]$", &["h2"]));
        assert!(!keep("^h[12]$", &["h3"]));
        assert!(keep("AWS", &["dvn-aws-1"]), "text is a substring, any case");
        assert!(keep("!aws", &["dvn-ali-1"]));
        assert!(!keep("!aws", &["dvn-aws-1"]));
        assert!(keep("h.*2", &["h12"]));
        assert!(Filter::parse("  ").unwrap().is_none());
        assert!(Filter::parse("!").unwrap().is_none());
        let e = Filter::parse("(unclosed").unwrap_err();
        assert!(e.starts_with("invalid regex \"(unclosed\""), "{e}");
    }

    /// Four hosts on one ethereum chain, no consensus group (so one host's trouble stays its
    /// own).
    fn plain_fleet() -> Fleet {
        load_fleet_from_str(
            r#"
[fleet]
name = "t"
interval = "5s"
[[hosts]]
name = "a1"
address = "10.0.0.1"
groups = ["dvn", "aws"]
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
services = [{ name = "node", kind = "systemd", unit = "geth.service" }]
[[hosts]]
name = "a2"
address = "10.0.0.2"
groups = ["dvn"]
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
[[hosts]]
name = "b1"
address = "10.0.0.3"
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
[[hosts]]
name = "b2"
address = "10.0.0.4"
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
"#,
            ConfigSource::Embedded,
        )
        .unwrap()
    }

    fn rows_for_arrange() -> Vec<FleetRow> {
        let f = plain_fleet();
        let mut s = FleetState::new(4);
        s.apply(ok(0, T0, 100));
        s.apply(ok(1, T0, 90));
        s.apply(down(2, T0));
        let health = evaluate(&f, &s, at(T0));
        let ctx = Ctx {
            fleet: &f,
            state: &s,
            health: &health,
            now: at(T0),
        };
        fleet_rows(&ctx, &[0, 1, 2, 3])
    }

    fn names(rows: &[FleetRow], lines: &[FleetLine]) -> Vec<String> {
        lines
            .iter()
            .map(|l| match l {
                FleetLine::Group { label, hosts, .. } => format!("[{label} {hosts}]"),
                FleetLine::Host(i) => rows[*i].name.clone(),
            })
            .collect()
    }

    #[test]
    fn arranging_sorts_filters_and_groups() {
        let rows = rows_for_arrange();
        let q = FleetQuery::default();
        assert_eq!(names(&rows, &arrange(&rows, &q)), ["a1", "a2", "b1", "b2"]);
        let q = FleetQuery {
            worst_first: true,
            ..FleetQuery::default()
        };
        assert_eq!(
            names(&rows, &arrange(&rows, &q)),
            ["b1", "a2", "b2", "a1"],
            "critical, warning (lag 10), unknown, ok"
        );
        let q = FleetQuery {
            sort: SortColumn::Height,
            ..FleetQuery::default()
        };
        assert_eq!(
            names(&rows, &arrange(&rows, &q)),
            ["a2", "a1", "b1", "b2"],
            "lowest height first, unknown last"
        );
        let q = FleetQuery {
            sort: SortColumn::Height,
            reverse: true,
            ..FleetQuery::default()
        };
        assert_eq!(names(&rows, &arrange(&rows, &q))[0], "a1");
        let q = FleetQuery {
            group_by: GroupBy::Group,
            ..FleetQuery::default()
        };
        assert_eq!(
            names(&rows, &arrange(&rows, &q)),
            [
                "[aws 1]",
                "a1",
                "[dvn 2]",
                "a1",
                "a2",
                "[(no group) 2]",
                "b1",
                "b2"
            ]
        );
        let q = FleetQuery {
            filter: Filter::parse("!a*").unwrap(),
            ..FleetQuery::default()
        };
        assert_eq!(names(&rows, &arrange(&rows, &q)), ["b1", "b2"]);
        let q = FleetQuery {
            group: Some("dvn".into()),
            ..FleetQuery::default()
        };
        assert_eq!(names(&rows, &arrange(&rows, &q)), ["a1", "a2"]);
        let q = FleetQuery {
            filter: Filter::parse("critical").unwrap(),
            ..FleetQuery::default()
        };
        assert_eq!(
            names(&rows, &arrange(&rows, &q)),
            ["b1"],
            "status is a field"
        );
    }

    #[test]
    fn unreachable_hosts_show_services_as_unknown_not_down() {
        let f = fleet();
        let mut s = FleetState::new(4);
        let mut first = ok(0, T0, 100);
        if let Ok(p) = &mut first.outcome {
            p.services = vec![ServiceObs {
                name: "node".into(),
                state: ServiceState::Running,
                detail: "active (running)".into(),
                since: None,
                restarts: None,
            }];
        }
        s.apply(first);
        s.apply(down(0, T0 + 5));
        let health = evaluate(&f, &s, at(T0 + 5));
        let ctx = Ctx {
            fleet: &f,
            state: &s,
            health: &health,
            now: at(T0 + 20),
        };
        let r = &fleet_rows(&ctx, &[0])[0];
        assert_eq!(r.services.text, "?/1");
        assert_eq!(r.services.shown(), "?/1 ·20s");
        assert_eq!(r.reach.text, "no");
        assert!(r.fresh.stale);
        assert_eq!(r.height.shown(), "100 ·20s", "last known, shown stale");
        let svc = &service_rows(&ctx, &[0])[0];
        assert_eq!(svc.state, "unknown");
        assert!(svc.detail.contains("last seen running"), "{}", svc.detail);
    }

    #[test]
    fn backups_show_size_change_and_shrink() {
        let f = fleet();
        let mut s = FleetState::new(4);
        s.apply(Observation {
            host: 0,
            started: at(T0),
            elapsed: Duration::from_millis(5),
            outcome: Ok(Probed {
                host_time: Some(T0 as i64),
                backups: vec![BackupObs {
                    name: "pg".into(),
                    latest: Ok(Some(BackupFile {
                        path: "/b/2027-01-15.gz".into(),
                        mtime: T0 as i64 - 3600,
                        size_bytes: 100 * 1024 * 1024,
                    })),
                    previous: Some(BackupFile {
                        path: "/b/2027-01-14.gz".into(),
                        mtime: T0 as i64 - 90000,
                        size_bytes: 1024 * 1024 * 1024,
                    }),
                }],
                ..Probed::default()
            }),
        });
        let health = evaluate(&f, &s, at(T0));
        let ctx = Ctx {
            fleet: &f,
            state: &s,
            health: &health,
            now: at(T0),
        };
        let b = &backup_rows(&ctx, &[0])[0];
        assert_eq!(b.newest, "2027-01-15.gz");
        assert_eq!(b.age, "1h");
        assert_eq!(b.size, "100 MiB");
        assert_eq!(b.change, "-90%");
        assert!(b.shrunk && !b.stale);
        assert_eq!(b.status, Status::Critical);
    }

    /// Issue 10: 1,000 bytes after 200,000 is 99.5% smaller, in the pane and in the alert.
    #[test]
    fn a_nearly_empty_backup_is_not_shown_100_percent_smaller() {
        let f = fleet();
        let mut s = FleetState::new(4);
        let file = |path: &str, mtime: i64, size_bytes: u64| BackupFile {
            path: path.into(),
            mtime,
            size_bytes,
        };
        s.apply(Observation {
            host: 0,
            started: at(T0),
            elapsed: Duration::from_millis(5),
            outcome: Ok(Probed {
                host_time: Some(T0 as i64),
                backups: vec![BackupObs {
                    name: "pg".into(),
                    latest: Ok(Some(file("/b/2027-01-15.gz", T0 as i64 - 3600, 1_000))),
                    previous: Some(file("/b/2027-01-14.gz", T0 as i64 - 90000, 200_000)),
                }],
                ..Probed::default()
            }),
        });
        let health = evaluate(&f, &s, at(T0));
        let ctx = Ctx {
            fleet: &f,
            state: &s,
            health: &health,
            now: at(T0),
        };
        assert_eq!(backup_rows(&ctx, &[0])[0].change, "-99.5%");
        let alert = health[0]
            .alerts
            .iter()
            .find(|a| a.rule == "backup_shrunk")
            .expect("shrunk");
        assert_eq!(alert.value.as_deref(), Some("-99.5%"));
        assert!(
            alert.message.contains("is 99.5% smaller"),
            "{}",
            alert.message
        );
    }

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(50 * 1024 * 1024 * 1024), "50 GiB");
        assert_eq!(
            humantime_short(Duration::from_secs(3 * 86400 + 4 * 3600)),
            "3d 4h"
        );
        assert_eq!(humantime_short(Duration::from_secs(250)), "4m 10s");
    }
}

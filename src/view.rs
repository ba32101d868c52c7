//! Render-ready rows for the console's panes: the last stage of Observation → host state → row.
//!
//! Each pane of the console (fleet table, host detail, services, chain, disks and backups,
//! certificates, logs, alerts) gets a `*Row` struct in a file of its own beneath this one
//! (`view/fleet.rs`, `view/chain.rs`, …; re-exported here, so callers say `view::ChainRow`),
//! with every cell already turned into text, plus the few numbers a widget needs for colour or
//! sorting. This file keeps what every pane shares: [`Ctx`], freshness and the cell type. The functions are pure:
//! they read the inventory, the state store, the health verdicts and a `now` passed in, never
//! the clock, the network or a terminal (no ratatui here, so the rows are unit-tested as
//! plain data and could feed another front end). Filtering, sorting and grouping of the fleet
//! table live here too, for the same reason.
//!
//! Callers: `ui` (every pane) and its tests. The fleet table's [`FleetRow`] is the core
//! `report::FleetRow` (the row `fleetdeck status` prints) with the age of each cell added, and
//! both tables count hosts with the one [`Summary`]: this module builds on `report`, never the
//! other way round.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use crate::alerts::{AlertBook, AlertKey, AlertState};
use crate::health::{self, GroupHealth, HostHealth, Severity, Status};
use crate::inventory::{ChainKind, Fleet, Host, LogFormat, LogOrigin, ServiceKind};
use crate::observation::{CertObs, HostFacts, LogObs, Metric, Probed, ServiceState};
use crate::probe::Cadence;
use crate::report;
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
    /// the slower cadences for backups, facts, certificates and logs.
    pub fn interval(self, host: &Host) -> Duration {
        match self {
            Part::Reach | Part::Services | Part::Chain | Part::Disks => host.interval,
            Part::Backups => Cadence::for_host(host).backups,
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
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DataCell<'a> {
    /// The value as read (`82%`), without any age.
    pub text: &'a str,
    /// How old the data behind it is.
    pub fresh: Freshness,
}

impl<'a> DataCell<'a> {
    /// The cell showing `text`, read as old as `fresh` says.
    pub fn new(text: &'a str, fresh: Freshness) -> DataCell<'a> {
        DataCell { text, fresh }
    }

    /// What is displayed: the value, and once stale its age after it (`82% ·3m`).
    pub fn shown(&self) -> Cow<'a, str> {
        if self.fresh.stale && self.fresh.age.is_some() {
            Cow::Owned(format!("{}{}", self.text, self.fresh.suffix()))
        } else {
            Cow::Borrowed(self.text)
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

mod alerts;
mod certs;
mod chain;
mod disks;
mod fleet;
mod host;
mod logs;
mod posture;
mod services;

pub use alerts::*;
pub use certs::*;
pub use chain::*;
pub use disks::*;
pub use fleet::*;
pub use host::*;
pub use logs::*;
pub use posture::*;
pub use services::*;

#[cfg(test)]
mod tests;

//! The state store: the single source of truth the console and `status` render from.
//!
//! Observations are reduced into per-host state with a short history: chain heights (lag,
//! stall, blocks per minute, sparklines), disk usage sampled once a minute (trend and
//! days-until-full), per-service tracks (since when, restarts seen, the last failure's output)
//! and the latest facts, certificates and logs with the time they were read (those are probed
//! on a slower cadence, so a poll without them keeps the previous ones; so are backup listings,
//! kept in `probed` across the polls that skip them), and the time each part of `probed` was
//! read ([`PartTimes`]), so the console can age every cell on its own. The store never reads
//! the clock and never renders: time arrives with each observation, and judgement is
//! `health`'s job.
//!
//! Callers: the console (`App::on_observation`) and `fleetdeck status` fold observations in;
//! `health`, `report` and the panes read.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use crate::inventory::StatusSource;
use crate::observation::{
    CellSource, CellSources, CertObs, FailureSource, HostFacts, LogObs, Observation, Probed,
    ServiceObs, ServiceState, Unreachable, UnreachableKind,
};
use crate::prom_source::{PromHostObs, PromObservations, SourceStatus};

/// Heights kept per host: 10 minutes at a 5 s interval.
const HEIGHT_HISTORY: usize = 120;

/// Disk samples are kept at most this often…
///
/// A growth trend over hours gains nothing from minute samples, and every sample is kept for
/// every disk of the fleet: at 10,000 hosts one a minute would hold ≈ 0.8 GB after 12 hours.
pub const DISK_SAMPLE_EVERY: Duration = Duration::from_secs(300);
/// …and this many of them: 12 hours at one per five minutes.
pub const DISK_HISTORY: usize = 144;
/// A disk trend needs samples spanning at least this long to be shown.
pub const DISK_TREND_MIN_SPAN: Duration = Duration::from_secs(600);
/// Blocks per minute are measured over at most this much recent history.
pub const RATE_WINDOW: Duration = Duration::from_secs(300);

/// A value with the time (console clock, from the observation) it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Timed<T> {
    /// When the poll that read it started.
    pub at: SystemTime,
    /// The value.
    pub value: T,
}

/// When each part now held in `HostState::probed` was read (console clock, from the
/// observation). The console's cells read their own part's time: backups are listed on a
/// slower cadence, so theirs is the time of the latest poll that listed them; a part the poll
/// did not carry (no chain configured) has none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartTimes {
    /// The services.
    pub services: Option<SystemTime>,
    /// The chain node's height, peers and sync state.
    pub chain: Option<SystemTime>,
    /// Disk usage.
    pub disks: Option<SystemTime>,
    /// Backup sets.
    pub backups: Option<SystemTime>,
}

/// What the store knows about one service across polls.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceTrack {
    /// Service name.
    pub name: String,
    /// Latest state.
    pub state: ServiceState,
    /// When fleetdeck first saw the service in its current state (console clock).
    pub state_seen_since: SystemTime,
    /// When the service entered its current state by its own tool (host clock, epoch seconds;
    /// systemd `ActiveEnterTimestamp`, docker `StartedAt`).
    pub since: Option<i64>,
    /// Restarts the tool reports (systemd `NRestarts`, docker `RestartCount`).
    pub restarts_reported: Option<u64>,
    /// Restarts the store saw: `since` moving on, the reported count growing, or the service
    /// coming back after being down.
    pub restarts_seen: u64,
    /// When the latest restart was seen.
    pub last_restart_seen: Option<SystemTime>,
    /// The latest failure, kept after the service recovers.
    pub last_failure: Option<FailureRecord>,
}

/// A service failure as it was last seen.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureRecord {
    /// When this failure was first seen (console clock).
    pub at: SystemTime,
    /// When it was last seen failing.
    pub last_seen: SystemTime,
    /// Stopped or failed.
    pub state: ServiceState,
    /// The one-line detail at the time.
    pub detail: String,
    /// Where `lines` came from.
    pub source: Option<FailureSource>,
    /// The service's own output or journal lines (oldest first); may be empty.
    pub lines: Vec<String>,
}

/// One disk usage sample: only what the trend reads, in 16 bytes, because the history of every
/// disk of the fleet is held for 12 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSample {
    /// Seconds after the history's first sample (console clock).
    pub after_first_s: u32,
    /// Used bytes.
    pub used_bytes: u64,
}

/// Usage history of one configured disk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiskHistory {
    /// Mount point.
    pub mount: String,
    /// When the first sample kept was taken; `None` before any.
    pub first_at: Option<SystemTime>,
    /// Samples, oldest first, at most one per [`DISK_SAMPLE_EVERY`].
    pub samples: VecDeque<DiskSample>,
    /// The trend through `samples`, computed when a sample is added (every frame and every
    /// judgement reads it; the samples change once per [`DISK_SAMPLE_EVERY`]).
    trend: Option<DiskTrend>,
}

/// Where a disk is heading, from a least-squares line through its samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiskTrend {
    /// Growth of used bytes per day (negative: shrinking).
    pub bytes_per_day: f64,
    /// Days until the available bytes run out at that rate; `None` when not growing.
    pub days_until_full: Option<f64>,
    /// Time between the first and last sample used.
    pub span: Duration,
    /// Samples used.
    pub samples: usize,
}

impl DiskHistory {
    /// An empty history of `mount`.
    pub fn new(mount: String) -> Self {
        DiskHistory {
            mount,
            ..DiskHistory::default()
        }
    }

    /// The trend, once the samples span at least [`DISK_TREND_MIN_SPAN`].
    pub fn trend(&self) -> Option<DiskTrend> {
        self.trend
    }

    /// When the newest sample was taken.
    pub fn last_at(&self) -> Option<SystemTime> {
        let first = self.first_at?;
        let last = self.samples.back()?;
        Some(first + Duration::from_secs(last.after_first_s.into()))
    }

    /// Adds a sample taken at `at` when one is due, and recomputes the trend.
    fn record(&mut self, at: SystemTime, used_bytes: u64, avail_bytes: u64) {
        let due = self.last_at().is_none_or(|last| {
            at.duration_since(last)
                .is_ok_and(|since| since >= DISK_SAMPLE_EVERY)
        });
        if !due {
            return;
        }
        if self.samples.len() == DISK_HISTORY {
            self.samples.pop_front();
        }
        let first_at = match (self.first_at, self.samples.front()) {
            (Some(first), Some(oldest)) if oldest.after_first_s > 0 => {
                // Re-base on the oldest sample kept, so offsets stay small for ever.
                let shift = oldest.after_first_s;
                for s in self.samples.iter_mut() {
                    s.after_first_s -= shift;
                }
                first + Duration::from_secs(shift.into())
            }
            (Some(first), Some(_)) => first,
            _ => at,
        };
        self.first_at = Some(first_at);
        let after_first_s = at
            .duration_since(first_at)
            .unwrap_or_default()
            .as_secs()
            .min(u32::MAX.into()) as u32;
        // Grow in steps but never past the bound, so a full history holds exactly
        // DISK_HISTORY samples rather than the next power of two.
        if self.samples.len() == self.samples.capacity() {
            let more = self.samples.capacity().clamp(4, DISK_HISTORY);
            self.samples
                .reserve_exact(more.min(DISK_HISTORY - self.samples.len()));
        }
        self.samples.push_back(DiskSample {
            after_first_s,
            used_bytes,
        });
        self.trend = self.compute_trend(avail_bytes);
    }

    fn compute_trend(&self, avail_bytes: u64) -> Option<DiskTrend> {
        let first = self.samples.front()?;
        let last = self.samples.back()?;
        let span = Duration::from_secs((last.after_first_s - first.after_first_s).into());
        if self.samples.len() < 3 || span < DISK_TREND_MIN_SPAN {
            return None;
        }
        let n = self.samples.len() as f64;
        let x = |s: &DiskSample| f64::from(s.after_first_s - first.after_first_s);
        let mx = self.samples.iter().map(x).sum::<f64>() / n;
        let my = self
            .samples
            .iter()
            .map(|s| s.used_bytes as f64)
            .sum::<f64>()
            / n;
        let sxx: f64 = self.samples.iter().map(|s| (x(s) - mx).powi(2)).sum();
        if sxx <= 0.0 {
            return None;
        }
        let sxy: f64 = self
            .samples
            .iter()
            .map(|s| (x(s) - mx) * (s.used_bytes as f64 - my))
            .sum();
        let per_sec = sxy / sxx;
        let bytes_per_day = per_sec * 86_400.0;
        let days_until_full = (per_sec > 0.0).then(|| avail_bytes as f64 / per_sec / 86_400.0);
        Some(DiskTrend {
            bytes_per_day,
            days_until_full,
            span,
            samples: self.samples.len(),
        })
    }
}

/// Everything known about the fleet.
#[derive(Debug, Clone, Default)]
pub struct FleetState {
    /// One entry per inventory host, same order.
    pub hosts: Vec<HostState>,
    /// Bumped on every change, so a front end redraws only when something happened.
    pub version: u64,
    /// The latest state of each Prometheus server read (empty without `[prometheus]`).
    pub sources: Vec<SourceStatus>,
}

/// Everything known about one host.
#[derive(Debug, Clone, Default)]
pub struct HostState {
    /// When the latest poll started; `None` until the first poll finishes.
    pub polled_at: Option<SystemTime>,
    /// How long the latest poll took.
    pub poll_elapsed: Option<Duration>,
    /// Why the latest poll could not reach the host.
    pub error: Option<Unreachable>,
    /// The latest successful poll (kept while the host is unreachable, marked by `error`).
    pub probed: Option<Probed>,
    /// When `probed` was taken.
    pub probed_at: Option<SystemTime>,
    /// When each part of `probed` was read.
    pub parts: PartTimes,
    /// Recent chain heights with the time they were seen.
    pub heights: VecDeque<(SystemTime, u64)>,
    /// When the height last went up (for stall detection).
    pub height_changed_at: Option<SystemTime>,
    /// Unreachable polls in a row.
    pub failures_in_a_row: u32,
    /// The latest host facts (probed on a slower cadence).
    pub facts: Option<Box<Timed<HostFacts>>>,
    /// The latest certificate readings, inventory order.
    pub certs: Option<Timed<Vec<CertObs>>>,
    /// The latest log summaries, inventory order.
    pub logs: Option<Timed<Vec<LogObs>>>,
    /// The latest security posture reading.
    pub posture: Option<Box<Timed<crate::posture::PostureObs>>>,
    /// Per-service tracks, in the order of the observed services (inventory order).
    pub services: Vec<ServiceTrack>,
    /// Per-disk usage history, inventory order.
    pub disks: Vec<DiskHistory>,
    /// The latest Prometheus reading of the host (`[prometheus]` only).
    pub prom: Option<Timed<PromHostObs>>,
    /// Where each cell of `probed` came from.
    pub cells: CellSources,
    /// The [`FleetState::version`] of the latest change to this host: what the console and the
    /// store key what they derive from one host by, so one poll re-derives one host.
    pub changed: u64,
}

impl HostState {
    /// `None` before the first poll, then whether the latest poll reached the host.
    pub fn reachable(&self) -> Option<bool> {
        self.polled_at.map(|_| self.error.is_none())
    }

    /// Blocks (or epochs) per minute over the recent height history (at most
    /// [`RATE_WINDOW`], since the last time the height went down — a chain reset), or `None`
    /// with fewer than two samples over at least ten seconds.
    pub fn blocks_per_minute(&self) -> Option<f64> {
        let (last_at, last_h) = *self.heights.back()?;
        let mut first = (last_at, last_h);
        for &(at, h) in self.heights.iter().rev().skip(1) {
            if h > first.1 || last_at.duration_since(at).ok()? > RATE_WINDOW {
                break;
            }
            first = (at, h);
        }
        let span = last_at.duration_since(first.0).ok()?.as_secs_f64();
        (span >= 10.0).then(|| (last_h - first.1) as f64 * 60.0 / span)
    }

    /// The current chain height, when the latest poll reached the host and the node gave one.
    pub fn height(&self) -> Option<u64> {
        if self.error.is_some() {
            return None;
        }
        self.probed
            .as_ref()?
            .chain
            .as_ref()?
            .height
            .value()
            .copied()
    }

    /// The track of the service called `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceTrack> {
        self.services.iter().find(|t| t.name == name)
    }

    fn track_services(&mut self, probed: &Probed, at: SystemTime) {
        let mut tracks = Vec::with_capacity(probed.services.len());
        for (i, obs) in probed.services.iter().enumerate() {
            let previous = self
                .services
                .iter()
                .position(|t| t.name == obs.name)
                .map(|k| self.services.swap_remove(k));
            let failure = probed.service_failures.iter().find(|f| f.index == i);
            tracks.push(next_track(previous, obs, failure, at));
        }
        self.services = tracks;
    }

    fn sample_disks(&mut self, probed: &Probed, at: SystemTime) {
        let mut histories = Vec::with_capacity(probed.disks.len());
        for d in &probed.disks {
            let mut h = self
                .disks
                .iter()
                .position(|x| x.mount == d.mount)
                .map(|k| self.disks.swap_remove(k))
                .unwrap_or_else(|| DiskHistory::new(d.mount.clone()));
            if let Ok(u) = &d.usage {
                h.record(at, u.used_bytes, u.avail_bytes);
            }
            histories.push(h);
        }
        self.disks = histories;
    }
}

/// A service's track after one more observation.
fn next_track(
    previous: Option<ServiceTrack>,
    obs: &ServiceObs,
    failure: Option<&crate::observation::ServiceFailure>,
    at: SystemTime,
) -> ServiceTrack {
    let down = matches!(obs.state, ServiceState::Stopped | ServiceState::Failed);
    let Some(mut t) = previous else {
        return ServiceTrack {
            name: obs.name.clone(),
            state: obs.state,
            state_seen_since: at,
            since: obs.since,
            restarts_reported: obs.restarts,
            restarts_seen: 0,
            last_restart_seen: None,
            last_failure: down.then(|| failure_record(obs, failure, at, None)),
        };
    };
    // An unknown state (probe trouble) says nothing about restarts: keep what was known.
    if obs.state != ServiceState::Unknown {
        let since_moved = obs.state == ServiceState::Running
            && matches!((t.since, obs.since), (Some(a), Some(b)) if a != b);
        let came_back = obs.state == ServiceState::Running
            && matches!(t.state, ServiceState::Stopped | ServiceState::Failed);
        let reported = match (t.restarts_reported, obs.restarts) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => 0,
        };
        let seen = reported.max(u64::from(since_moved || came_back));
        if seen > 0 {
            t.restarts_seen += seen;
            t.last_restart_seen = Some(at);
        }
        t.since = obs.since.or(t.since);
        t.restarts_reported = obs.restarts.or(t.restarts_reported);
    }
    if obs.state != t.state {
        t.state = obs.state;
        t.state_seen_since = at;
    }
    if down {
        let ongoing = t
            .last_failure
            .as_ref()
            .filter(|f| f.last_seen >= t.state_seen_since);
        let first_at = ongoing.map(|f| f.at);
        let mut record = failure_record(obs, failure, at, first_at);
        // A poll without lines (journal not read this time) keeps the ones already seen.
        if record.lines.is_empty()
            && let Some(prev) = ongoing
        {
            record.lines = prev.lines.clone();
            record.source = prev.source;
        }
        t.last_failure = Some(record);
    }
    t
}

fn failure_record(
    obs: &ServiceObs,
    failure: Option<&crate::observation::ServiceFailure>,
    at: SystemTime,
    first_at: Option<SystemTime>,
) -> FailureRecord {
    FailureRecord {
        at: first_at.unwrap_or(at),
        last_seen: at,
        state: obs.state,
        detail: obs.detail.clone(),
        source: failure.map(|f| f.source),
        lines: failure.map(|f| f.lines.clone()).unwrap_or_default(),
    }
}

impl FleetState {
    /// Empty state for `hosts` hosts.
    pub fn new(hosts: usize) -> Self {
        FleetState {
            hosts: vec![HostState::default(); hosts],
            version: 0,
            sources: Vec::new(),
        }
    }

    /// Marks every host as changed now (bumping [`FleetState::version`]): after a change that
    /// is not one host's, such as a reload that moved hosts to other places.
    pub fn touch_all(&mut self) {
        self.version += 1;
        for h in &mut self.hosts {
            h.changed = self.version;
        }
    }

    /// Folds one observation in.
    pub fn apply(&mut self, obs: Observation) {
        let Some(host) = self.hosts.get_mut(obs.host) else {
            return;
        };
        self.version += 1;
        host.changed = self.version;
        host.polled_at = Some(obs.started);
        host.poll_elapsed = Some(obs.elapsed);
        match obs.outcome {
            Ok(probed) => {
                // Backups kept from an earlier poll keep where their cells came from.
                let kept_backup_cells = if probed.backups_skipped {
                    std::mem::take(&mut host.cells.backups)
                } else {
                    Vec::new()
                };
                host.fold_probed(probed, obs.started);
                host.cells = CellSources {
                    backups: kept_backup_cells,
                    ..CellSources::default()
                };
                host.remerge();
            }
            Err(unreachable) => {
                host.error = Some(unreachable);
                host.failures_in_a_row = host.failures_in_a_row.saturating_add(1);
            }
        }
    }
}

impl HostState {
    /// Folds a successful reading (an SSH poll, or Prometheus for a `source = "prometheus"`
    /// host) taken at `at`.
    fn fold_probed(&mut self, probed: Probed, at: SystemTime) {
        let host = self;
        host.error = None;
        host.failures_in_a_row = 0;
        if let Some(height) = probed
            .chain
            .as_ref()
            .and_then(|c| c.height.value().copied())
        {
            // A lower height is a change too: a reset or reorganised chain that then
            // grows from below its old height is not stalled.
            let changed = host.heights.back().is_none_or(|(_, last)| height != *last);
            if changed {
                host.height_changed_at = Some(at);
            }
            if host.heights.len() == HEIGHT_HISTORY {
                host.heights.pop_front();
            }
            host.heights.push_back((at, height));
        }
        host.track_services(&probed, at);
        host.sample_disks(&probed, at);
        let mut probed = probed;
        if let Some(facts) = probed.facts.take() {
            host.facts = Some(Box::new(Timed { at, value: *facts }));
        }
        if let Some(certs) = probed.certs.take() {
            host.certs = Some(Timed { at, value: certs });
        }
        if let Some(logs) = probed.logs.take() {
            host.logs = Some(Timed { at, value: logs });
        }
        if let Some(posture) = probed.posture.take() {
            host.posture = Some(Box::new(Timed {
                at,
                value: *posture,
            }));
        }
        // A poll that did not list the backups (slow cadence) keeps the previous listing and
        // the time it was read, so the cells age from that reading.
        let backups_at = if probed.backups_skipped {
            if let Some(old) = host.probed.as_mut() {
                probed.backups = std::mem::take(&mut old.backups);
            }
            host.parts.backups
        } else {
            Some(at)
        };
        host.parts = PartTimes {
            services: Some(at),
            chain: probed.chain.as_ref().map(|_| at),
            disks: Some(at),
            backups: backups_at,
        };
        host.probed = Some(probed);
        host.probed_at = Some(at);
    }

    /// For a `source = "both"` host: fills the cells its SSH poll lacks from the latest
    /// Prometheus reading ([`crate::prom_source::merge`]).
    fn remerge(&mut self) {
        let Some(prom) = self
            .prom
            .as_ref()
            .filter(|p| p.value.source == StatusSource::Both)
        else {
            return;
        };
        let Some(current) = self.probed.as_ref() else {
            return;
        };
        let (probed, cells) = crate::prom_source::merge(current, &self.cells, &prom.value.probed);
        self.probed = Some(probed);
        self.cells = cells;
    }

    /// The cells to show for a host its SSH poll did not reach: a `source = "both"` host's
    /// latest Prometheus reading (every cell then from Prometheus), else none.
    pub fn fallback(&self) -> Option<&Probed> {
        self.prom
            .as_ref()
            .filter(|p| p.value.source == StatusSource::Both && p.value.up == Ok(true))
            .map(|p| &p.value.probed)
    }

    /// The source of the cells [`HostState::fallback`] gives.
    pub fn fallback_cells(&self) -> CellSources {
        self.fallback()
            .map(|p| CellSources::all(CellSource::Prometheus, p))
            .unwrap_or_default()
    }
}

impl FleetState {
    /// Folds one round of Prometheus readings in: the servers' states (a failed one keeps
    /// the time it last answered), each host's reading, and for a `source = "prometheus"`
    /// host its status as a poll would give it; a `source = "both"` host's cells are merged.
    pub fn apply_prom(&mut self, round: PromObservations) {
        self.version += 1;
        let mut sources = round.sources;
        for s in &mut sources {
            if s.last_ok.is_none() {
                s.last_ok = self
                    .sources
                    .iter()
                    .find(|o| o.server == s.server)
                    .and_then(|o| o.last_ok);
            }
        }
        self.sources = sources;
        for reading in round.hosts {
            let Some(host) = self.hosts.get_mut(reading.host) else {
                continue;
            };
            let at = round.at;
            host.changed = self.version;
            if reading.source == StatusSource::Prometheus {
                host.polled_at = Some(at);
                host.poll_elapsed = Some(round.elapsed);
                match &reading.up {
                    Ok(true) => {
                        host.fold_probed(reading.probed.clone(), at);
                        host.cells = CellSources::all(CellSource::Prometheus, &reading.probed);
                    }
                    Ok(false) => {
                        host.error = Some(Unreachable {
                            kind: UnreachableKind::Connect,
                            message: format!(
                                "down according to Prometheus: up == 0 for {}",
                                reading.instance
                            ),
                            retry_in: None,
                        });
                        host.failures_in_a_row = host.failures_in_a_row.saturating_add(1);
                    }
                    Err(why) => {
                        host.error = Some(Unreachable {
                            kind: UnreachableKind::Other,
                            message: why.clone(),
                            retry_in: None,
                        });
                        host.failures_in_a_row = host.failures_in_a_row.saturating_add(1);
                    }
                }
            }
            host.prom = Some(Timed { at, value: reading });
            host.remerge();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::ChainKind;
    use crate::observation::{ChainObs, Metric, UnreachableKind};

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn with_height(host: usize, secs: u64, height: u64) -> Observation {
        Observation {
            host,
            started: at(secs),
            elapsed: Duration::from_millis(5),
            outcome: Ok(Probed {
                chain: Some(ChainObs {
                    kind: ChainKind::Ethereum,
                    height: Metric::Value(height),
                    syncing: Metric::Value(false),
                    peers: Metric::Unavailable("not supported by this node".into()),
                    client: None,
                }),
                ..Probed::default()
            }),
        }
    }

    #[test]
    fn height_changes_are_timestamped_only_when_the_height_grows() {
        let mut s = FleetState::new(1);
        s.apply(with_height(0, 100, 5));
        s.apply(with_height(0, 105, 5));
        assert_eq!(s.hosts[0].height_changed_at, Some(at(100)));
        s.apply(with_height(0, 110, 6));
        assert_eq!(s.hosts[0].height_changed_at, Some(at(110)));
        assert_eq!(s.hosts[0].heights.len(), 3);
        assert_eq!(s.version, 3);
    }

    #[test]
    fn an_unreachable_poll_keeps_the_last_good_data_and_counts_failures() {
        let mut s = FleetState::new(1);
        s.apply(with_height(0, 100, 5));
        for secs in [105, 110] {
            s.apply(Observation {
                host: 0,
                started: at(secs),
                elapsed: Duration::from_secs(3),
                outcome: Err(Unreachable {
                    kind: UnreachableKind::Connect,
                    message: "connection refused".into(),
                    retry_in: None,
                }),
            });
        }
        let h = &s.hosts[0];
        assert_eq!(h.reachable(), Some(false));
        assert_eq!(h.failures_in_a_row, 2);
        assert!(h.probed.is_some());
        assert_eq!(h.probed_at, Some(at(100)));
        assert_eq!(h.polled_at, Some(at(110)));
        assert_eq!(
            h.parts,
            PartTimes {
                services: Some(at(100)),
                chain: Some(at(100)),
                disks: Some(at(100)),
                backups: Some(at(100)),
            },
            "each part keeps the time it was read, not the time of the failed poll"
        );
    }

    #[test]
    fn history_is_bounded() {
        let mut s = FleetState::new(1);
        for i in 0..(HEIGHT_HISTORY as u64 + 50) {
            s.apply(with_height(0, i, i));
        }
        assert_eq!(s.hosts[0].heights.len(), HEIGHT_HISTORY);
    }

    fn service(state: ServiceState, since: Option<i64>, restarts: Option<u64>) -> ServiceObs {
        ServiceObs {
            name: "geth".into(),
            state,
            detail: format!("{state:?}"),
            since,
            restarts,
        }
    }

    fn with_service(secs: u64, s: ServiceObs, failure: Option<Vec<&str>>) -> Observation {
        Observation {
            host: 0,
            started: at(secs),
            elapsed: Duration::ZERO,
            outcome: Ok(Probed {
                services: vec![s],
                service_failures: failure
                    .map(|lines| {
                        vec![crate::observation::ServiceFailure {
                            index: 0,
                            name: "geth".into(),
                            source: FailureSource::Journal,
                            lines: lines.iter().map(|l| l.to_string()).collect(),
                        }]
                    })
                    .unwrap_or_default(),
                ..Probed::default()
            }),
        }
    }

    #[test]
    fn restarts_are_seen_when_since_moves_the_count_grows_or_a_service_comes_back() {
        use ServiceState::*;
        let mut s = FleetState::new(1);
        s.apply(with_service(0, service(Running, Some(100), Some(0)), None));
        s.apply(with_service(5, service(Running, Some(100), Some(0)), None));
        assert_eq!(s.hosts[0].services[0].restarts_seen, 0);
        // systemd restarted it between polls: since moved and NRestarts grew by one.
        s.apply(with_service(10, service(Running, Some(107), Some(1)), None));
        assert_eq!(s.hosts[0].services[0].restarts_seen, 1);
        assert_eq!(s.hosts[0].services[0].last_restart_seen, Some(at(10)));
        // A crash loop restarted it three times between two polls.
        s.apply(with_service(15, service(Running, Some(114), Some(4)), None));
        assert_eq!(s.hosts[0].services[0].restarts_seen, 4);
        // A command service has no since: down then up again counts once.
        s.apply(with_service(
            20,
            service(Failed, None, None),
            Some(vec!["Fatal: db locked"]),
        ));
        let t = &s.hosts[0].services[0];
        assert_eq!((t.state, t.state_seen_since), (Failed, at(20)));
        let f = t.last_failure.as_ref().unwrap();
        assert_eq!(
            (f.at, f.lines.as_slice()),
            (at(20), &["Fatal: db locked".to_string()][..])
        );
        // Still failing, this time without lines: the episode and its lines are kept.
        s.apply(with_service(25, service(Failed, None, None), None));
        let f = s.hosts[0].services[0].last_failure.as_ref().unwrap();
        assert_eq!((f.at, f.last_seen, f.lines.len()), (at(20), at(25), 1));
        s.apply(with_service(30, service(Running, None, None), None));
        let t = &s.hosts[0].services[0];
        assert_eq!(t.restarts_seen, 5);
        assert_eq!(
            t.since,
            Some(114),
            "a reading without since keeps the last one"
        );
        assert!(t.last_failure.is_some(), "kept after recovery");
        // Unknown (probe trouble) changes no counts.
        s.apply(with_service(35, service(Unknown, None, None), None));
        s.apply(with_service(40, service(Running, None, None), None));
        assert_eq!(s.hosts[0].services[0].restarts_seen, 5);
    }

    fn with_disk(secs: u64, used: u64) -> Observation {
        Observation {
            host: 0,
            started: at(secs),
            elapsed: Duration::ZERO,
            outcome: Ok(Probed {
                disks: vec![crate::observation::DiskObs {
                    mount: "/data".into(),
                    usage: Ok(crate::observation::DiskUsage {
                        filesystem: "/dev/vdb".into(),
                        total_bytes: 1_000_000,
                        used_bytes: used,
                        avail_bytes: 1_000_000 - used,
                        used_percent: used as f64 / 10_000.0,
                        mounted_on: "/data".into(),
                    }),
                }],
                ..Probed::default()
            }),
        }
    }

    #[test]
    fn disk_history_is_bounded_compact_and_keeps_its_trend() {
        let mut s = FleetState::new(1);
        // Three days of polls every 5 minutes, growing 100 bytes a sample.
        let polls = 3 * 24 * 12u64;
        for k in 0..polls {
            s.apply(with_disk(k * 300, 100_000 + k * 100));
        }
        let d = &s.hosts[0].disks[0];
        assert_eq!(d.samples.len(), DISK_HISTORY);
        assert_eq!(
            d.samples.capacity(),
            DISK_HISTORY,
            "no slack past the bound"
        );
        assert_eq!(std::mem::size_of::<DiskSample>(), 16);
        // Offsets are re-based on the oldest kept sample, and the times survive it.
        assert_eq!(d.samples.front().unwrap().after_first_s, 0);
        assert_eq!(d.last_at(), Some(at((polls - 1) * 300)));
        assert_eq!(d.first_at, Some(at((polls - DISK_HISTORY as u64) * 300)));
        let t = d.trend().unwrap();
        assert!((t.bytes_per_day - 28_800.0).abs() < 1.0, "{t:?}");
        assert_eq!(t.span, Duration::from_secs(300 * (DISK_HISTORY as u64 - 1)));
    }

    #[test]
    fn host_state_stays_small() {
        // Held for every host of the fleet, all the time: the parts most polls do not carry
        // (facts, posture, chain detail) are boxed, so 10,000 hosts cost ~13 MB, not ~41 MB.
        assert!(std::mem::size_of::<HostState>() <= 1_536);
        assert!(std::mem::size_of::<Probed>() <= 512);
    }

    #[test]
    fn disk_trend_and_days_until_full() {
        let mut s = FleetState::new(1);
        // 100 bytes a minute for 20 minutes, polled every 5 s: one sample per five minutes is
        // kept.
        for k in 0..=240u64 {
            s.apply(with_disk(k * 5, 500_000 + (k * 5 / 60) * 100));
        }
        let d = &s.hosts[0].disks[0];
        assert_eq!(d.samples.len(), 5);
        let t = d.trend().unwrap();
        assert!((t.bytes_per_day - 144_000.0).abs() < 1.0, "{t:?}");
        let days = t.days_until_full.unwrap();
        assert!((days - 498_000.0 / 144_000.0).abs() < 0.01, "{days}");
        // Too short a history says nothing.
        let mut s = FleetState::new(1);
        for k in 0..5u64 {
            s.apply(with_disk(k * 60, 500_000 + k));
        }
        assert_eq!(s.hosts[0].disks[0].trend(), None);
        // Shrinking: no days-until-full.
        let mut s = FleetState::new(1);
        for k in 0..20u64 {
            s.apply(with_disk(k * 60, 500_000 - k * 100));
        }
        let t = s.hosts[0].disks[0].trend().unwrap();
        assert!(t.bytes_per_day < 0.0 && t.days_until_full.is_none());
    }

    #[test]
    fn blocks_per_minute_over_recent_history() {
        let mut s = FleetState::new(1);
        assert_eq!(s.hosts[0].blocks_per_minute(), None);
        for k in 0..=12u64 {
            s.apply(with_height(0, 1000 + k * 5, 10 + k)); // one block per 5 s
        }
        assert_eq!(s.hosts[0].blocks_per_minute(), Some(12.0));
        assert_eq!(s.hosts[0].height(), Some(22));
        // A reset chain (anvil restarted) counts from where it restarted, and is not stalled.
        s.apply(with_height(0, 1065, 0));
        assert_eq!(s.hosts[0].height_changed_at, Some(at(1065)));
        s.apply(with_height(0, 1085, 2));
        assert_eq!(s.hosts[0].blocks_per_minute(), Some(6.0));
    }

    #[test]
    fn slow_parts_are_kept_until_probed_again() {
        let mut s = FleetState::new(1);
        fn unavailable<T>() -> crate::observation::Metric<T> {
            crate::observation::Metric::Unavailable("x".into())
        }
        let p = Probed {
            certs: Some(vec![]),
            facts: Some(Box::new(crate::observation::HostFacts {
                kernel: unavailable(),
                os: unavailable(),
                cpu: unavailable(),
                memory: unavailable(),
                filesystems: unavailable(),
                interfaces: unavailable(),
                logins: unavailable(),
                dmi: unavailable(),
            })),
            ..Probed::default()
        };
        s.apply(Observation {
            host: 0,
            started: at(10),
            elapsed: Duration::ZERO,
            outcome: Ok(p),
        });
        s.apply(with_height(0, 15, 1));
        let h = &s.hosts[0];
        assert_eq!(h.facts.as_ref().map(|f| f.at), Some(at(10)));
        assert_eq!(h.certs.as_ref().map(|c| c.at), Some(at(10)));
        assert!(h.logs.is_none());
        assert!(
            h.probed.as_ref().unwrap().facts.is_none(),
            "moved into the host state"
        );
    }

    /// A poll that did not list the backups (their slower cadence) keeps the previous listing
    /// and its time: the cells neither go empty nor look fresher than they are; the next
    /// listing replaces both. Unreachable polls in between change nothing of it.
    #[test]
    fn backups_not_listed_in_a_poll_keep_the_previous_listing_and_its_time() {
        use crate::observation::{BackupFile, BackupObs};
        let listing = |mtime: i64| BackupObs {
            name: "pg".into(),
            latest: Ok(Some(BackupFile {
                path: format!("/b/{mtime}.sql.gz"),
                size_bytes: 10,
                mtime,
            })),
            previous: None,
        };
        let poll = |secs: u64, backups: Option<Vec<BackupObs>>| Observation {
            host: 0,
            started: at(secs),
            elapsed: Duration::ZERO,
            outcome: Ok(Probed {
                backups_skipped: backups.is_none(),
                backups: backups.unwrap_or_default(),
                ..Probed::default()
            }),
        };
        let mut s = FleetState::new(1);
        s.apply(poll(10, Some(vec![listing(1)])));
        s.apply(poll(15, None));
        s.apply(Observation {
            host: 0,
            started: at(20),
            elapsed: Duration::ZERO,
            outcome: Err(Unreachable {
                kind: UnreachableKind::Timeout,
                message: "x".into(),
                retry_in: None,
            }),
        });
        s.apply(poll(25, None));
        let h = &s.hosts[0];
        assert_eq!(h.probed.as_ref().unwrap().backups, vec![listing(1)]);
        assert_eq!(h.parts.backups, Some(at(10)));
        assert_eq!(h.parts.disks, Some(at(25)), "the every-poll parts move on");
        s.apply(poll(310, Some(vec![listing(2)])));
        let h = &s.hosts[0];
        assert_eq!(h.probed.as_ref().unwrap().backups, vec![listing(2)]);
        assert_eq!(h.parts.backups, Some(at(310)));
    }

    #[test]
    fn observations_for_unknown_hosts_are_ignored() {
        let mut s = FleetState::new(1);
        s.apply(with_height(7, 1, 1));
        assert_eq!(s.version, 0);
    }
}

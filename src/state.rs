//! The state store: the single source of truth the console and `status` render from.
//!
//! Observations are reduced into per-host state with a short history (chain heights for lag,
//! stall and sparklines). The store never reads the clock and never renders: time arrives with
//! each observation, and judgement is `health`'s job.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use crate::observation::{Observation, Probed, Unreachable};

/// Heights kept per host: 10 minutes at a 5 s interval.
const HEIGHT_HISTORY: usize = 120;

/// Everything known about the fleet.
#[derive(Debug, Clone, Default)]
pub struct FleetState {
    /// One entry per inventory host, same order.
    pub hosts: Vec<HostState>,
    /// Bumped on every change, so a front end redraws only when something happened.
    pub version: u64,
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
    /// Recent chain heights with the time they were seen.
    pub heights: VecDeque<(SystemTime, u64)>,
    /// When the height last went up (for stall detection).
    pub height_changed_at: Option<SystemTime>,
    /// Unreachable polls in a row.
    pub failures_in_a_row: u32,
}

impl HostState {
    /// `None` before the first poll, then whether the latest poll reached the host.
    pub fn reachable(&self) -> Option<bool> {
        self.polled_at.map(|_| self.error.is_none())
    }
}

impl FleetState {
    /// Empty state for `hosts` hosts.
    pub fn new(hosts: usize) -> Self {
        FleetState {
            hosts: vec![HostState::default(); hosts],
            version: 0,
        }
    }

    /// Folds one observation in.
    pub fn apply(&mut self, obs: Observation) {
        let Some(host) = self.hosts.get_mut(obs.host) else {
            return;
        };
        self.version += 1;
        host.polled_at = Some(obs.started);
        host.poll_elapsed = Some(obs.elapsed);
        match obs.outcome {
            Ok(probed) => {
                host.error = None;
                host.failures_in_a_row = 0;
                if let Some(height) = probed
                    .chain
                    .as_ref()
                    .and_then(|c| c.height.value().copied())
                {
                    let grew = host.heights.back().is_none_or(|(_, last)| height > *last);
                    if grew {
                        host.height_changed_at = Some(obs.started);
                    }
                    if host.heights.len() == HEIGHT_HISTORY {
                        host.heights.pop_front();
                    }
                    host.heights.push_back((obs.started, height));
                }
                host.probed = Some(probed);
                host.probed_at = Some(obs.started);
            }
            Err(unreachable) => {
                host.error = Some(unreachable);
                host.failures_in_a_row = host.failures_in_a_row.saturating_add(1);
            }
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
    }

    #[test]
    fn history_is_bounded() {
        let mut s = FleetState::new(1);
        for i in 0..(HEIGHT_HISTORY as u64 + 50) {
            s.apply(with_height(0, i, i));
        }
        assert_eq!(s.hosts[0].heights.len(), HEIGHT_HISTORY);
    }

    #[test]
    fn observations_for_unknown_hosts_are_ignored() {
        let mut s = FleetState::new(1);
        s.apply(with_height(7, 1, 1));
        assert_eq!(s.version, 0);
    }
}

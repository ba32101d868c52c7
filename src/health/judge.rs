//! Judging on change: [`Judge`] keeps each host's verdict between evaluations and redoes a host
//! only when something its rules read has changed, so one new observation costs one host's
//! rules instead of the whole fleet's.
//!
//! A host's own rules ([`super::evaluate_host`]) read its state, the best height of the nodes
//! it is compared with (lag) and the time (the age-based rules, see [`Holds`]). Its verdict is
//! kept with the host's state stamp (`HostState::changed`), that best height and the times it
//! holds at; it is judged again when any of them moved. The fleet-wide parts — Prometheus's
//! alerts (the servers' states) and the consensus groups — are recomputed on every
//! evaluation (they cost nothing on a fleet without them, and a pass over the groups'
//! members otherwise) and only added where they changed. The result is always what
//! [`super::evaluate`] would say at the same time: the tests check one against the other.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use super::{
    Alert, HostHealth, add_group_alert, chain_key, evaluate_host_holding, finish, group_alerts,
    source_alerts_of,
};
use crate::inventory::Fleet;
use crate::state::FleetState;

/// The times at which a verdict judged at some instant still holds if no new data arrives:
/// from `from` to `until`, both included (`None`: unbounded).
///
/// Most rules read only the host's data, so their verdict holds forever. A height that has not
/// moved holds until `height_stall` has passed since it last moved, and once stalled only at
/// that instant (the alert says for how long). A backup or certificate aged by the console's
/// clock (the host did not say its time) holds for that second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holds {
    from: Option<SystemTime>,
    until: Option<SystemTime>,
}

impl Holds {
    /// Holds at any time.
    pub const ALWAYS: Holds = Holds {
        from: None,
        until: None,
    };

    /// Holds at `t` only.
    pub fn instant(t: SystemTime) -> Holds {
        Holds {
            from: Some(t),
            until: Some(t),
        }
    }

    /// Holds up to `t` included (`None`: always).
    pub fn until(t: Option<SystemTime>) -> Holds {
        Holds {
            from: None,
            until: t,
        }
    }

    /// Holds within the Unix second of `t` (what [`crate::units::epoch_secs`] reads).
    pub fn second_of(t: SystemTime) -> Holds {
        match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => {
                let start = SystemTime::UNIX_EPOCH + Duration::from_secs(d.as_secs());
                Holds {
                    from: Some(start),
                    until: start.checked_add(Duration::from_nanos(999_999_999)),
                }
            }
            // Before the epoch every instant reads 0; judging each again is simpler than
            // saying so.
            Err(_) => Holds::instant(t),
        }
    }

    /// Holds only where both hold.
    pub fn narrow(&mut self, other: Holds) {
        self.from = match (self.from, other.from) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.until = match (self.until, other.until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// Whether the verdict holds at `t`.
    pub fn at(&self, t: SystemTime) -> bool {
        self.from.is_none_or(|f| f <= t) && self.until.is_none_or(|u| t <= u)
    }
}

/// One host's kept verdict and what it was judged from.
#[derive(Debug, Clone)]
struct Kept {
    /// `HostState::changed` of the state judged.
    stamp: u64,
    /// The best height of the nodes it is compared with.
    best: Option<u64>,
    /// When the host's own verdict holds.
    holds: Holds,
    /// The host's own verdict ([`evaluate_host_holding`]).
    own: HostHealth,
    /// Prometheus's alerts added to it.
    source: Vec<Alert>,
    /// Consensus group alerts added to it.
    group: Vec<Alert>,
}

/// The fleet's verdicts, kept between evaluations and redone per host on change.
#[derive(Debug, Clone, Default)]
pub struct Judge {
    /// Per host, the index of the chain key it is compared under (lag), for the fleet judged.
    keys: Vec<Option<usize>>,
    /// The chain keys, by index.
    key_names: Vec<String>,
    /// The fleet has consensus groups.
    groups: bool,
    kept: Vec<Option<Kept>>,
    verdicts: Vec<HostHealth>,
}

impl Judge {
    /// A judge that has judged nothing yet.
    pub fn new() -> Judge {
        Judge::default()
    }

    /// Forgets everything kept: the next evaluation judges every host (the inventory changed).
    pub fn reset(&mut self) {
        *self = Judge::default();
    }

    /// The latest verdicts, one per inventory host.
    pub fn verdicts(&self) -> &[HostHealth] {
        &self.verdicts
    }

    /// Judges `state` as of `now`, like [`super::evaluate`], redoing only the hosts whose
    /// inputs changed. Returns the hosts whose verdict differs from the previous evaluation's
    /// (every host on the first one), in inventory order.
    pub fn judge(&mut self, fleet: &Fleet, state: &FleetState, now: SystemTime) -> Vec<usize> {
        let n = fleet.hosts.len().min(state.hosts.len());
        if self.keys.len() != fleet.hosts.len() || self.kept.len() != n {
            self.start(fleet, n);
        }
        let mut best: Vec<Option<u64>> = vec![None; self.key_names.len()];
        for (k, hs) in self.keys.iter().zip(&state.hosts) {
            if let (Some(k), Some(h)) = (k, hs.height()) {
                best[*k] = Some(best[*k].map_or(h, |b| b.max(h)));
            }
        }
        let mut group: HashMap<usize, Vec<Alert>> = HashMap::new();
        if self.groups {
            let by_name: HashMap<String, u64> = self
                .key_names
                .iter()
                .zip(&best)
                .filter_map(|(k, b)| b.map(|b| (k.clone(), b)))
                .collect();
            for (i, alert) in group_alerts(fleet, state, &by_name, now) {
                group.entry(i).or_default().push(alert);
            }
        }
        let mut changed = Vec::new();
        for i in 0..n {
            let (host, hs) = (&fleet.hosts[i], &state.hosts[i]);
            let best_i = self.keys[i].and_then(|k| best[k]);
            let source = source_alerts_of(fleet, state, i);
            let group = if group.is_empty() {
                Vec::new()
            } else {
                group.remove(&i).unwrap_or_default()
            };
            let kept = &mut self.kept[i];
            // Never judged: its verdict is a placeholder, whatever it says.
            let first = kept.is_none();
            let own_holds = kept
                .as_ref()
                .is_some_and(|k| k.stamp == hs.changed && k.best == best_i && k.holds.at(now));
            if own_holds {
                let k = kept.as_ref().expect("checked above");
                if k.source == source && k.group == group {
                    continue;
                }
            }
            let (own, holds) = match kept.take() {
                Some(k) if own_holds => (k.own, k.holds),
                _ => evaluate_host_holding(fleet, host, hs, best_i, now),
            };
            let verdict = combine(&own, &source, &group);
            *kept = Some(Kept {
                stamp: hs.changed,
                best: best_i,
                holds,
                own,
                source,
                group,
            });
            if first || self.verdicts[i] != verdict {
                self.verdicts[i] = verdict;
                changed.push(i);
            }
        }
        self.verdicts.truncate(n);
        changed
    }

    /// Starts over for `fleet`: the chain keys, nothing kept, every verdict a placeholder.
    fn start(&mut self, fleet: &Fleet, n: usize) {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut names = Vec::new();
        self.keys = fleet
            .hosts
            .iter()
            .map(|h| {
                let key = chain_key(h)?;
                Some(*index.entry(key.clone()).or_insert_with(|| {
                    names.push(key);
                    names.len() - 1
                }))
            })
            .collect();
        self.key_names = names;
        self.groups = fleet.hosts.iter().any(|h| h.consensus_group.is_some());
        self.kept = vec![None; n];
        self.verdicts = vec![
            HostHealth {
                status: super::Status::Unknown,
                alerts: Vec::new(),
                lag: None,
            };
            n
        ];
    }
}

/// A host's verdict: its own, then Prometheus's alerts, then its consensus group's, added as
/// [`super::evaluate`] adds them.
fn combine(own: &HostHealth, source: &[Alert], group: &[Alert]) -> HostHealth {
    let mut v = if source.is_empty() {
        own.clone()
    } else {
        let mut alerts = own.alerts.clone();
        alerts.extend(source.iter().cloned());
        finish(alerts, own.lag)
    };
    for a in group {
        add_group_alert(&mut v, a.clone());
    }
    v
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::health::{Status, evaluate};
    use crate::inventory::{ChainKind, ConfigSource, load_fleet_from_str};
    use crate::observation::{
        BackupFile, BackupObs, ChainObs, Metric, Observation, Probed, ServiceObs, ServiceState,
    };

    // Three chain nodes compared with each other (lag), one of them also with a backup set,
    // and a consensus group of four so its alert depends on the others.
    const FLEET: &str = r#"
[fleet]
name = "t"
interval = "5s"
[thresholds]
height_lag_warn = 5
height_stall = "2m"
[[hosts]]
name = "a"
address = "10.0.0.1"
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
services = [{ name = "api", kind = "systemd", unit = "api.service" }]
backups = [{ name = "pg", dir = "/b", pattern = "*.gz", every = "1h" }]
[[hosts]]
name = "b"
address = "10.0.0.2"
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
[[hosts]]
name = "c"
address = "10.0.0.3"
[[hosts]]
name = "v1"
address = "10.0.1.1"
consensus_group = "bft"
role = "consensus"
[[hosts]]
name = "v2"
address = "10.0.1.2"
consensus_group = "bft"
role = "consensus"
[[hosts]]
name = "v3"
address = "10.0.1.3"
consensus_group = "bft"
role = "consensus"
[[hosts]]
name = "v4"
address = "10.0.1.4"
consensus_group = "bft"
role = "consensus"
"#;

    fn fleet() -> Fleet {
        load_fleet_from_str(FLEET, ConfigSource::Embedded).unwrap()
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// A poll of `host` at `secs`: a chain node at `height` if given, the host's clock only
    /// when `clock`, the backup written at `backup` (epoch seconds) on host `a`.
    fn poll(host: usize, secs: u64, height: Option<u64>, clock: bool) -> Observation {
        Observation {
            host,
            started: at(secs),
            elapsed: Duration::from_millis(20),
            outcome: Ok(Probed {
                host_time: clock.then_some(secs as i64),
                services: (host == 0)
                    .then(|| ServiceObs {
                        name: "api".into(),
                        state: ServiceState::Running,
                        detail: String::new(),
                        since: None,
                        restarts: None,
                    })
                    .into_iter()
                    .collect(),
                backups: (host == 0)
                    .then(|| BackupObs {
                        name: "pg".into(),
                        latest: Ok(Some(BackupFile {
                            path: "/b/1.gz".into(),
                            mtime: 1_000,
                            size_bytes: 100,
                        })),
                        previous: None,
                    })
                    .into_iter()
                    .collect(),
                chain: height.map(|h| ChainObs {
                    kind: ChainKind::Ethereum,
                    height: Metric::Value(h),
                    syncing: Metric::Value(false),
                    peers: Metric::Value(8),
                    client: None,
                }),
                ..Probed::default()
            }),
        }
    }

    fn down(host: usize, secs: u64) -> Observation {
        Observation {
            host,
            started: at(secs),
            elapsed: Duration::from_secs(3),
            outcome: Err(crate::observation::Unreachable {
                kind: crate::observation::UnreachableKind::Timeout,
                message: "no answer".into(),
                retry_in: None,
            }),
        }
    }

    /// Judges and checks the kept verdicts against a full evaluation at the same time.
    fn judged(judge: &mut Judge, fleet: &Fleet, state: &FleetState, now: SystemTime) -> Vec<usize> {
        let changed = judge.judge(fleet, state, now);
        assert_eq!(
            judge.verdicts(),
            &evaluate(fleet, state, now)[..],
            "kept verdicts differ from a full evaluation at {now:?}"
        );
        changed
    }

    fn rules(judge: &Judge, host: usize) -> Vec<&'static str> {
        judge.verdicts()[host]
            .alerts
            .iter()
            .map(|a| a.rule)
            .collect()
    }

    #[test]
    fn a_changed_host_is_judged_again_and_only_it_counts_as_changed() {
        let fleet = fleet();
        let mut state = FleetState::new(fleet.hosts.len());
        let mut judge = Judge::new();
        for h in 0..3 {
            state.apply(poll(h, 1_000, (h < 2).then_some(100), true));
        }
        let first = judged(&mut judge, &fleet, &state, at(1_000));
        assert_eq!(first, (0..fleet.hosts.len()).collect::<Vec<_>>());
        assert_eq!(judge.verdicts()[2].status, Status::Ok);
        // Host c goes away: its verdict changes, nobody else's.
        state.apply(down(2, 1_005));
        assert_eq!(judged(&mut judge, &fleet, &state, at(1_005)), [2]);
        assert_eq!(rules(&judge, 2), ["host_unreachable"]);
        // The same again: a new state version, the same verdict.
        state.apply(down(2, 1_010));
        assert!(judged(&mut judge, &fleet, &state, at(1_010)).is_empty());
        state.apply(poll(2, 1_015, None, true));
        assert_eq!(judged(&mut judge, &fleet, &state, at(1_015)), [2]);
        assert_eq!(judge.verdicts()[2].status, Status::Ok);
    }

    #[test]
    fn a_lag_on_one_host_follows_the_best_height_another_host_raises() {
        let fleet = fleet();
        let mut state = FleetState::new(fleet.hosts.len());
        let mut judge = Judge::new();
        state.apply(poll(0, 1_000, Some(100), true));
        state.apply(poll(1, 1_000, Some(100), true));
        judged(&mut judge, &fleet, &state, at(1_000));
        assert!(rules(&judge, 1).is_empty());
        // Only host a polls again, with a height 10 blocks ahead: b, whose own state did not
        // change, is now lagging.
        state.apply(poll(0, 1_005, Some(110), true));
        let changed = judged(&mut judge, &fleet, &state, at(1_005));
        assert!(changed.contains(&1), "b's lag changed: {changed:?}");
        assert_eq!(rules(&judge, 1), ["height_lag"]);
        assert_eq!(judge.verdicts()[1].lag, Some(10));
        // a falls back (a reset): b is the best again and its lag alert goes.
        state.apply(poll(0, 1_010, Some(100), true));
        judged(&mut judge, &fleet, &state, at(1_010));
        assert!(rules(&judge, 1).is_empty());
        assert_eq!(judge.verdicts()[1].lag, Some(0));
    }

    #[test]
    fn age_based_rules_fire_as_time_passes_with_no_new_data() {
        let fleet = fleet();
        let mut state = FleetState::new(fleet.hosts.len());
        let mut judge = Judge::new();
        // Host a without its own clock: the backup (written at 1,000, every 1h) ages by the
        // console's; its height does not move after this poll.
        state.apply(poll(0, 1_000, Some(100), false));
        judged(&mut judge, &fleet, &state, at(1_000));
        assert!(rules(&judge, 0).is_empty());
        // Within the stall limit (2m): nothing yet, judged again or not.
        judged(&mut judge, &fleet, &state, at(1_100));
        assert!(rules(&judge, 0).is_empty());
        // Past it, with no new data: stalled, and the alert says for how long each time.
        assert_eq!(judged(&mut judge, &fleet, &state, at(1_121)), [0]);
        assert_eq!(rules(&judge, 0), ["height_stalled"]);
        let said = judge.verdicts()[0].alerts[0].message.clone();
        assert_eq!(judged(&mut judge, &fleet, &state, at(1_190)), [0]);
        assert_ne!(judge.verdicts()[0].alerts[0].message, said);
        // An hour and a half after the backup was written it is stale by the console's clock.
        judged(&mut judge, &fleet, &state, at(1_000 + 5_400));
        assert!(!rules(&judge, 0).contains(&"backup_stale"));
        judged(&mut judge, &fleet, &state, at(1_000 + 5_401));
        assert!(rules(&judge, 0).contains(&"backup_stale"));
        // A moving height clears the stall; a clock that goes back is judged too.
        state.apply(poll(0, 6_500, Some(101), false));
        judged(&mut judge, &fleet, &state, at(6_500));
        assert!(!rules(&judge, 0).contains(&"height_stalled"));
        judged(&mut judge, &fleet, &state, at(1_500));
    }

    #[test]
    fn consensus_group_alerts_follow_the_other_members() {
        let fleet = fleet();
        let mut state = FleetState::new(fleet.hosts.len());
        let mut judge = Judge::new();
        for h in 3..7 {
            state.apply(poll(h, 1_000, None, true));
        }
        judged(&mut judge, &fleet, &state, at(1_000));
        assert!(rules(&judge, 3).is_empty());
        // One of four down: the group is one failure from stalling, and says so on every
        // member, including those whose own state did not change.
        state.apply(down(6, 1_005));
        let changed = judged(&mut judge, &fleet, &state, at(1_005));
        assert_eq!(changed, [3, 4, 5, 6]);
        assert_eq!(rules(&judge, 3), ["consensus_at_risk"]);
        state.apply(down(5, 1_010));
        judged(&mut judge, &fleet, &state, at(1_010));
        assert_eq!(rules(&judge, 3), ["consensus_lost"]);
        state.apply(poll(5, 1_015, None, true));
        state.apply(poll(6, 1_015, None, true));
        judged(&mut judge, &fleet, &state, at(1_015));
        assert!(rules(&judge, 3).is_empty());
    }

    #[test]
    fn holds_bounds_are_inclusive_and_narrow_to_the_tighter() {
        let mut h = Holds::until(Some(at(10)));
        assert!(h.at(at(0)) && h.at(at(10)) && !h.at(at(11)));
        h.narrow(Holds::second_of(at(7) + Duration::from_millis(300)));
        assert!(h.at(at(7)) && h.at(at(7) + Duration::from_millis(999)));
        assert!(!h.at(at(6)) && !h.at(at(8)));
        h.narrow(Holds::instant(at(9)));
        assert!(!h.at(at(9)) && !h.at(at(7)), "disjoint bounds hold nowhere");
        assert!(Holds::ALWAYS.at(at(0)) && Holds::until(None).at(at(u32::MAX as u64)));
    }
}

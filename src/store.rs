//! The core store: the fleet state, the health verdicts and the alert book behind one door that
//! opens only to messages.
//!
//! [`Store::update`] takes a [`Msg`] — an observation folded in, a tick carrying `now`, an
//! operator's acknowledgement — and returns the [`Effect`]s the caller should act on (alert
//! transitions to notify about, an acknowledgement to confirm, a new version to redraw). Health
//! is evaluated ([`crate::health::Judge`], which says what [`crate::health::evaluate`] says but
//! judges again only the hosts whose state, best height or time-bound verdict moved) and the
//! alert lifecycle advanced ([`AlertBook::update_hosts`], for the verdicts that changed) here,
//! when observations arrive and when ticks come, so alert transitions follow the data and the
//! clock, never the redraw rate of a front end. Judging still looks at every host (cheaply:
//! a comparison of stamps for an unchanged one), so it happens at most once per second of
//! store time for observations: the first observation of a second is judged at once, later
//! ones in the same second are folded and judged by the next tick (the console ticks every
//! second).
//!
//! The store never reads the clock and does no I/O: time arrives with [`Msg::Tick`] (and an
//! observation moves the store's time up to the moment its poll started, so data is never judged
//! as of a time before it was read), which keeps every test deterministic. The one exception is
//! the headless edge [`Store::poll_once`], which polls through [`crate::poller`] and takes the
//! clock as an argument. No terminal code here.
//!
//! Callers: the console (`ui::App` owns one and routes observations, ticks and acks through
//! it), `fleetdeck status` and the executor's health gate ([`Store::poll_once`]).

use std::sync::Arc;
use std::time::SystemTime;

use crate::alerts::{AckEvent, AlertBook, AlertError, AlertEvent, AlertKey};
use crate::health::{self, GroupHealth, HostHealth};
use crate::inventory::Fleet;
use crate::observation::Observation;
use crate::state::FleetState;
use crate::transport::Transport;
use crate::units::epoch_secs;

/// A fact the store folds in.
// A message is built once and consumed at once by `update`; boxing the observation would only
// add an allocation per poll.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Msg {
    /// One poll finished.
    Observed(Observation),
    /// Several polls finished (a drained queue): folded in order, judged once.
    ObservedAll(Vec<Observation>),
    /// A round of Prometheus readings finished (`crate::prom_source`).
    Prom(crate::prom_source::PromObservations),
    /// The time is now `now`.
    Tick {
        /// The caller's clock.
        now: SystemTime,
    },
    /// An operator acknowledges an alert.
    Ack {
        /// The alert.
        key: AlertKey,
        /// Who.
        operator: String,
        /// When (the caller's clock).
        at: SystemTime,
    },
    /// The inventory was reloaded ([`crate::reload::plan`]): host `i` of the new fleet keeps
    /// the state and history of old host `keep[i]`; the others start unknown. Alerts of hosts
    /// that were not kept (removed, or reached differently now) are forgotten.
    Reload {
        /// The new inventory.
        fleet: Arc<Fleet>,
        /// One entry per new host: the old index it carries over, if any.
        keep: Vec<Option<usize>>,
    },
}

/// What the caller should do after a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// An alert changed phase (raised, reopened, escalated, resolved): notify.
    Alert(AlertEvent),
    /// An acknowledgement was taken.
    Acked(AckEvent),
    /// An acknowledgement was refused.
    AckRefused(AlertError),
    /// What the store holds changed; front ends redraw what depends on it.
    Changed {
        /// The new [`Store::version`].
        version: u64,
    },
}

/// The fleet state, its health verdicts and the alert book.
#[derive(Debug, Clone)]
pub struct Store {
    fleet: Arc<Fleet>,
    state: FleetState,
    /// The verdicts, kept per host and redone on change ([`health::Judge`]).
    judge: health::Judge,
    alerts: AlertBook,
    now: SystemTime,
    /// The epoch second of the latest evaluation: a tick within the same second changes nothing
    /// (the console ticks on every key and mouse move).
    judged_at: Option<i64>,
    /// State folded in since the latest evaluation (judged by the next tick).
    unjudged: bool,
    version: u64,
}

impl Store {
    /// An empty store for `fleet`: nothing polled, every host unknown, no alerts, the time the
    /// Unix epoch until a tick or an observation says otherwise.
    pub fn new(fleet: Arc<Fleet>) -> Store {
        let state = FleetState::new(fleet.hosts.len());
        let now = SystemTime::UNIX_EPOCH;
        let mut judge = health::Judge::new();
        judge.judge(&fleet, &state, now);
        Store {
            fleet,
            state,
            judge,
            alerts: AlertBook::default(),
            now,
            judged_at: None,
            unjudged: false,
            version: 0,
        }
    }

    /// A store that has seen `observations` and is judged as of `now`: what `fleetdeck status`
    /// and the executor's health gate read after one poll.
    pub fn from_observations(
        fleet: Arc<Fleet>,
        observations: Vec<Observation>,
        now: SystemTime,
    ) -> Store {
        let mut store = Store::new(fleet);
        // The clock first: every poll started before it, so the store judges as of `now`.
        store.update(Msg::Tick { now });
        store.update(Msg::ObservedAll(observations));
        if store.unjudged {
            store.update(Msg::Tick { now });
        }
        store
    }

    /// Polls the `selected` hosts once over `transports` and returns the store that has seen
    /// the results, judged at `clock()` read after the poll finished. With `[prometheus]`,
    /// the hosts that read their status from it are not polled over SSH, and one round of
    /// Prometheus queries runs beside the SSH polls.
    pub async fn poll_once(
        fleet: Arc<Fleet>,
        transports: &[Transport],
        selected: &[usize],
        clock: fn() -> SystemTime,
    ) -> Store {
        let over_ssh: Vec<usize> = selected
            .iter()
            .copied()
            .filter(|&i| fleet.polled_over_ssh(i))
            .collect();
        let ssh = crate::poller::poll_once(&fleet, transports, &over_ssh);
        let prom = async {
            fleet.prometheus.as_ref()?;
            let snapshot = crate::prom_source::query_fleet(&fleet, transports, clock()).await;
            Some(crate::prom_source::observations(&snapshot, &fleet, clock()))
        };
        let (observations, prom) = futures::future::join(ssh, prom).await;
        let mut store = Store::from_observations(fleet, observations, clock());
        if let Some(round) = prom {
            store.update(Msg::Prom(round));
            let now = clock().max(store.now);
            store.update(Msg::Tick { now });
        }
        store
    }

    /// Folds `msg` in and says what should happen next.
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        let mut effects = Vec::new();
        match msg {
            Msg::Observed(obs) => {
                self.fold(obs);
                self.judge_or_defer(&mut effects);
            }
            Msg::ObservedAll(all) => {
                if all.is_empty() {
                    return effects;
                }
                for obs in all {
                    self.fold(obs);
                }
                self.judge_or_defer(&mut effects);
            }
            Msg::Prom(round) => {
                self.now = self.now.max(round.at);
                self.state.apply_prom(round);
                self.judge_or_defer(&mut effects);
            }
            Msg::Tick { now } => {
                self.now = now;
                if self.unjudged || self.judged_at != Some(epoch_secs(now)) {
                    self.judge(&mut effects);
                }
            }
            Msg::Ack { key, operator, at } => match self.alerts.ack(&key, &operator, at) {
                Ok(ev) => {
                    self.version += 1;
                    effects.push(Effect::Acked(ev));
                    effects.push(Effect::Changed {
                        version: self.version,
                    });
                }
                Err(e) => effects.push(Effect::AckRefused(e)),
            },
            Msg::Reload { fleet, keep } => {
                let mut old = std::mem::take(&mut self.state.hosts);
                self.state.hosts = keep
                    .iter()
                    .map(|k| {
                        k.and_then(|j| old.get_mut(j).map(std::mem::take))
                            .unwrap_or_default()
                    })
                    .collect();
                // Every host moved or started over: everything derived per host is redone.
                self.state.touch_all();
                let kept: std::collections::HashSet<&str> = keep
                    .iter()
                    .zip(&fleet.hosts)
                    .filter(|(k, _)| k.is_some())
                    .map(|(_, h)| h.name.as_str())
                    .collect();
                self.alerts.forget_hosts_except(|h| kept.contains(h));
                self.fleet = fleet;
                self.judge.reset();
                self.judge(&mut effects);
            }
        }
        effects
    }

    fn fold(&mut self, obs: Observation) {
        // Data is never judged as of a time before it was read.
        self.now = self.now.max(obs.started);
        self.state.apply(obs);
    }

    /// Judges now if nothing was judged in this second yet; otherwise leaves it to the next
    /// tick and only says that the state changed.
    fn judge_or_defer(&mut self, effects: &mut Vec<Effect>) {
        if self.judged_at != Some(epoch_secs(self.now)) {
            self.judge(effects);
        } else {
            self.unjudged = true;
            self.version += 1;
            effects.push(Effect::Changed {
                version: self.version,
            });
        }
    }

    /// Evaluates the fleet at the store's time and advances the alert lifecycle: only the
    /// hosts whose inputs changed are judged again ([`health::Judge`]), and only those whose
    /// verdict changed are folded into the alert book anew.
    fn judge(&mut self, effects: &mut Vec<Effect>) {
        let changed = self.judge.judge(&self.fleet, &self.state, self.now);
        let events =
            self.alerts
                .update_hosts(&self.fleet, self.judge.verdicts(), &changed, self.now);
        effects.extend(events.into_iter().map(Effect::Alert));
        self.judged_at = Some(epoch_secs(self.now));
        self.unjudged = false;
        self.version += 1;
        effects.push(Effect::Changed {
            version: self.version,
        });
    }

    /// The inventory the store judges against.
    pub fn fleet(&self) -> &Arc<Fleet> {
        &self.fleet
    }

    /// Everything observed, folded.
    pub fn state(&self) -> &FleetState {
        &self.state
    }

    /// The latest verdicts, one per inventory host (as of [`Store::now`]).
    pub fn health(&self) -> &[HostHealth] {
        self.judge.verdicts()
    }

    /// The consensus groups, judged as of [`Store::now`].
    pub fn consensus_groups(&self) -> Vec<GroupHealth> {
        health::consensus_groups(&self.fleet, &self.state, self.now)
    }

    /// The alert lifecycle.
    pub fn alerts(&self) -> &AlertBook {
        &self.alerts
    }

    /// The time the store judges as of: the latest tick, or the start of a later poll.
    pub fn now(&self) -> SystemTime {
        self.now
    }

    /// Bumped on every change of what the store holds (state, verdicts, alerts), so a front end
    /// recomputes only when something happened.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Changes the state behind the messages' back, then judges it like an observation: for
    /// tests that need a state no poll produces.
    #[cfg(test)]
    pub(crate) fn edit_state(&mut self, edit: impl FnOnce(&mut FleetState)) {
        edit(&mut self.state);
        self.state.touch_all();
        let mut effects = Vec::new();
        self.judge(&mut effects);
    }
}

#[cfg(test)]
mod tests;

//! Alert lifecycle: every failed health rule fleet-wide, followed from new through acked to
//! resolved.
//!
//! An alert is keyed by (host, rule, subject) — `("db-1", "disk_full", "/data")` — so the
//! same problem seen on every poll is one alert with a `since`, while a second disk filling up
//! is another. [`AlertBook::update`] folds the latest health verdicts in: new problems are
//! raised, known ones refreshed (value, message, severity), vanished ones resolved and kept for
//! [`AlertBook::keep_resolved`] so the Alerts pane can still show what just recovered.
//! Acknowledging ([`AlertBook::ack`]) is an operator action: it returns an [`AckEvent`] for the
//! caller to audit (this module never writes the audit log) and fails with a clear
//! [`AlertError`] otherwise. An acknowledged alert that gets worse (warning → critical) is new
//! again: the operator acknowledged something milder.
//!
//! While a host is unreachable its other alerts are neither refreshed nor resolved: nobody
//! knows whether the disk is still full, and resolving it would make the alert flap with the
//! network.
//!
//! Pure: no I/O, no clock (every call takes `now`), no terminal. Callers: the console (once
//! per evaluation, and on the ack key) and anything headless that wants lifecycles.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::health::{HostHealth, Severity, Status, is_connection_rule};
use crate::inventory::Fleet;

/// What identifies an alert across evaluations.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct AlertKey {
    /// Host name.
    pub host: String,
    /// Rule name (`disk_full`, `service_down`, …).
    pub rule: String,
    /// What on the host: a service, mount, backup set, certificate, log, `chain`, a consensus
    /// group; empty for the host as a whole.
    pub subject: String,
}

impl AlertKey {
    /// A key from its parts.
    pub fn new(host: &str, rule: &str, subject: &str) -> Self {
        AlertKey {
            host: host.to_string(),
            rule: rule.to_string(),
            subject: subject.to_string(),
        }
    }
}

impl std::fmt::Display for AlertKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.subject.is_empty() {
            write!(f, "{}/{}", self.host, self.rule)
        } else {
            write!(f, "{}/{}/{}", self.host, self.rule, self.subject)
        }
    }
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertState {
    /// Raised and nobody has acknowledged it.
    New,
    /// An operator acknowledged it; still failing.
    Acked,
    /// The rule passes again (kept for a while).
    Resolved,
}

impl AlertState {
    /// The name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::New => "new",
            AlertState::Acked => "acked",
            AlertState::Resolved => "resolved",
        }
    }
}

/// One alert and its history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackedAlert {
    /// Identity.
    pub key: AlertKey,
    /// Latest severity.
    pub severity: Severity,
    /// Latest message.
    pub message: String,
    /// Latest measured value (`93%`, `12 blocks`).
    pub value: Option<String>,
    /// New, acked or resolved.
    pub state: AlertState,
    /// When this episode was raised (re-raised after a resolution starts a new one).
    pub since: SystemTime,
    /// When an evaluation last found it failing.
    pub last_seen: SystemTime,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// When.
    pub acked_at: Option<SystemTime>,
    /// When it resolved.
    pub resolved_at: Option<SystemTime>,
}

/// What [`AlertBook::update`] changed, for notifications and the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertEvent {
    /// A problem nobody had seen.
    Raised(AlertKey),
    /// A resolved alert failing again.
    Reopened(AlertKey),
    /// Warning became critical (an acknowledged alert is new again).
    Escalated(AlertKey),
    /// The rule passes again.
    Resolved(AlertKey),
}

/// A successful acknowledgement, for the caller to audit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AckEvent {
    /// The alert.
    pub key: AlertKey,
    /// Who.
    pub operator: String,
    /// When.
    pub at: SystemTime,
    /// Its severity when acknowledged.
    pub severity: Severity,
    /// Its message when acknowledged.
    pub message: String,
    /// Since when it had been failing.
    pub since: SystemTime,
}

/// Why an acknowledgement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    /// No alert with that key (never raised, or resolved long ago and forgotten).
    #[error("no alert {0}")]
    NotFound(AlertKey),
    /// Already acknowledged.
    #[error("alert {key} was already acknowledged by {by}")]
    AlreadyAcked {
        /// The alert.
        key: AlertKey,
        /// Who acknowledged it.
        by: String,
    },
    /// It resolved: there is nothing left to acknowledge.
    #[error("alert {0} is resolved")]
    Resolved(AlertKey),
    /// An acknowledgement must name the operator.
    #[error("an acknowledgement needs an operator name")]
    NoOperator,
}

/// Counts for a status line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AlertCounts {
    /// New (unacknowledged) alerts.
    pub new: usize,
    /// Acknowledged, still failing.
    pub acked: usize,
    /// Resolved, still kept.
    pub resolved: usize,
    /// Active (new or acked) critical alerts.
    pub critical: usize,
    /// Active warning alerts.
    pub warning: usize,
}

/// Every alert of the fleet.
#[derive(Debug, Clone)]
pub struct AlertBook {
    alerts: BTreeMap<AlertKey, TrackedAlert>,
    keep_resolved: Duration,
}

impl Default for AlertBook {
    fn default() -> Self {
        AlertBook::new(AlertBook::DEFAULT_KEEP_RESOLVED)
    }
}

impl AlertBook {
    /// How long resolved alerts stay visible unless told otherwise.
    pub const DEFAULT_KEEP_RESOLVED: Duration = Duration::from_secs(3600);

    /// An empty book keeping resolved alerts for `keep_resolved`.
    pub fn new(keep_resolved: Duration) -> Self {
        AlertBook {
            alerts: BTreeMap::new(),
            keep_resolved,
        }
    }

    /// How long resolved alerts are kept.
    pub fn keep_resolved(&self) -> Duration {
        self.keep_resolved
    }

    /// Folds the verdicts of one evaluation (`health[i]` judges `fleet.hosts[i]`) in.
    pub fn update(
        &mut self,
        fleet: &Fleet,
        health: &[HostHealth],
        now: SystemTime,
    ) -> Vec<AlertEvent> {
        let every: Vec<usize> = (0..fleet.hosts.len().min(health.len())).collect();
        self.update_hosts(fleet, health, &every, now)
    }

    /// [`AlertBook::update`] when only the hosts in `changed` (ascending) may have a verdict
    /// different from the previous update's: the others' alerts are only seen again
    /// (`last_seen`), which is all a full update would do to them. What the store calls after
    /// [`crate::health::Judge::judge`], so one changed host costs one host here too.
    pub fn update_hosts(
        &mut self,
        fleet: &Fleet,
        health: &[HostHealth],
        changed: &[usize],
        now: SystemTime,
    ) -> Vec<AlertEvent> {
        let mut events = Vec::new();
        let mut changed = changed.iter().copied().peekable();
        for (i, (host, verdict)) in fleet.hosts.iter().zip(health).enumerate() {
            if changed.next_if_eq(&i).is_some() {
                self.update_host(&host.name, verdict, now, &mut events);
            } else if !verdict.alerts.is_empty() {
                self.seen_again(&host.name, verdict, now);
            }
        }
        let keep = self.keep_resolved;
        self.alerts.retain(|_, t| {
            t.resolved_at
                .is_none_or(|r| now.duration_since(r).is_ok_and(|d| d <= keep) || r > now)
        });
        events
    }

    /// Folds in the verdict of one host whose verdict may have changed: raises, refreshes,
    /// escalates and resolves its alerts.
    fn update_host(
        &mut self,
        name: &str,
        verdict: &HostHealth,
        now: SystemTime,
        events: &mut Vec<AlertEvent>,
    ) {
        if verdict.status == Status::Unknown {
            return;
        }
        let unreachable = verdict.unreachable();
        let mut failing = Vec::with_capacity(verdict.alerts.len());
        for a in &verdict.alerts {
            let key = AlertKey::new(name, a.rule, &a.subject);
            failing.push(key.clone());
            match self.alerts.get_mut(&key) {
                None => {
                    self.alerts.insert(
                        key.clone(),
                        TrackedAlert {
                            key: key.clone(),
                            severity: a.severity,
                            message: a.message.clone(),
                            value: a.value.clone(),
                            state: AlertState::New,
                            since: now,
                            last_seen: now,
                            acked_by: None,
                            acked_at: None,
                            resolved_at: None,
                        },
                    );
                    events.push(AlertEvent::Raised(key));
                }
                Some(t) => {
                    if t.state == AlertState::Resolved {
                        t.state = AlertState::New;
                        t.since = now;
                        t.acked_by = None;
                        t.acked_at = None;
                        t.resolved_at = None;
                        events.push(AlertEvent::Reopened(key));
                    } else if a.severity > t.severity {
                        t.state = AlertState::New;
                        t.acked_by = None;
                        t.acked_at = None;
                        events.push(AlertEvent::Escalated(key));
                    }
                    t.severity = a.severity;
                    t.message = a.message.clone();
                    t.value = a.value.clone();
                    t.last_seen = now;
                }
            }
        }
        // Keys sort by host first: this host's alerts are one contiguous range, so a
        // fleet-wide update stays linear in the number of alerts, not hosts × alerts.
        let first = AlertKey::new(name, "", "");
        for t in self
            .alerts
            .range_mut(first..)
            .map(|(_, t)| t)
            .take_while(|t| t.key.host == name)
        {
            let judged = !unreachable || is_connection_rule(&t.key.rule);
            if judged && t.state != AlertState::Resolved && !failing.contains(&t.key) {
                t.state = AlertState::Resolved;
                t.resolved_at = Some(now);
                events.push(AlertEvent::Resolved(t.key.clone()));
            }
        }
    }

    /// A host's unchanged verdict seen again at `now`: its failing alerts were raised or
    /// refreshed by an earlier update, so only their `last_seen` moves.
    fn seen_again(&mut self, name: &str, verdict: &HostHealth, now: SystemTime) {
        let first = AlertKey::new(name, "", "");
        for t in self
            .alerts
            .range_mut(first..)
            .map(|(_, t)| t)
            .take_while(|t| t.key.host == name)
        {
            if verdict
                .alerts
                .iter()
                .any(|a| a.rule == t.key.rule && a.subject == t.key.subject)
            {
                t.last_seen = now;
            }
        }
    }

    /// Acknowledges the alert `key` on behalf of `operator`.
    pub fn ack(
        &mut self,
        key: &AlertKey,
        operator: &str,
        now: SystemTime,
    ) -> Result<AckEvent, AlertError> {
        if operator.trim().is_empty() {
            return Err(AlertError::NoOperator);
        }
        let t = self
            .alerts
            .get_mut(key)
            .ok_or_else(|| AlertError::NotFound(key.clone()))?;
        match t.state {
            AlertState::Resolved => Err(AlertError::Resolved(key.clone())),
            AlertState::Acked => Err(AlertError::AlreadyAcked {
                key: key.clone(),
                by: t.acked_by.clone().unwrap_or_default(),
            }),
            AlertState::New => {
                t.state = AlertState::Acked;
                t.acked_by = Some(operator.to_string());
                t.acked_at = Some(now);
                Ok(AckEvent {
                    key: key.clone(),
                    operator: operator.to_string(),
                    at: now,
                    severity: t.severity,
                    message: t.message.clone(),
                    since: t.since,
                })
            }
        }
    }

    /// The alert `key`.
    pub fn get(&self, key: &AlertKey) -> Option<&TrackedAlert> {
        self.alerts.get(key)
    }

    /// Every alert kept, in the Alerts pane's order: active before resolved, critical before
    /// warning, new before acked, oldest first.
    pub fn list(&self) -> Vec<&TrackedAlert> {
        let mut v: Vec<&TrackedAlert> = self.alerts.values().collect();
        v.sort_by(|a, b| {
            let rank = |t: &TrackedAlert| {
                (
                    t.state == AlertState::Resolved,
                    std::cmp::Reverse(t.severity),
                    t.state,
                )
            };
            rank(a)
                .cmp(&rank(b))
                .then(a.since.cmp(&b.since))
                .then_with(|| a.key.cmp(&b.key))
        });
        v
    }

    /// New and acknowledged alerts, in [`AlertBook::list`] order.
    pub fn active(&self) -> Vec<&TrackedAlert> {
        self.list()
            .into_iter()
            .filter(|t| t.state != AlertState::Resolved)
            .collect()
    }

    /// Forgets every alert of a host `keep` refuses: a reload removed the host or reaches it
    /// differently now, so its old alerts say nothing about it any more.
    pub fn forget_hosts_except(&mut self, keep: impl Fn(&str) -> bool) {
        self.alerts.retain(|k, _| keep(&k.host));
    }

    /// Counts by state and severity.
    pub fn counts(&self) -> AlertCounts {
        let mut c = AlertCounts::default();
        for t in self.alerts.values() {
            match t.state {
                AlertState::New => c.new += 1,
                AlertState::Acked => c.acked += 1,
                AlertState::Resolved => c.resolved += 1,
            }
            if t.state != AlertState::Resolved {
                match t.severity {
                    Severity::Critical => c.critical += 1,
                    Severity::Warning => c.warning += 1,
                }
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Alert;
    use crate::inventory::{ConfigSource, load_fleet_from_str};

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn fleet() -> Fleet {
        load_fleet_from_str(
            "[[hosts]]\nname = \"db-1\"\n[[hosts]]\nname = \"db-2\"\n",
            ConfigSource::Embedded,
        )
        .unwrap()
    }

    fn alert(severity: Severity, rule: &'static str, subject: &str, value: &str) -> Alert {
        Alert {
            severity,
            rule,
            subject: subject.into(),
            value: Some(value.into()),
            message: format!("{rule} {subject} {value}"),
        }
    }

    fn verdict(alerts: Vec<Alert>) -> HostHealth {
        let status = match alerts.iter().map(|a| a.severity).max() {
            Some(Severity::Critical) => Status::Critical,
            Some(Severity::Warning) => Status::Warning,
            None => Status::Ok,
        };
        HostHealth {
            status,
            alerts,
            lag: None,
        }
    }

    fn ok() -> HostHealth {
        verdict(vec![])
    }

    fn disk(percent: &str) -> Alert {
        alert(Severity::Warning, "disk_usage", "/data", percent)
    }

    #[test]
    fn updating_only_the_changed_hosts_keeps_the_book_a_full_update_keeps() {
        let f = fleet();
        let (mut full, mut partial) = (AlertBook::default(), AlertBook::default());
        let steps = [
            (vec![verdict(vec![disk("81%")]), ok()], vec![0, 1]),
            // db-1 unchanged (seen again), db-2 changed.
            (
                vec![
                    verdict(vec![disk("81%")]),
                    verdict(vec![alert(Severity::Critical, "service_down", "api", "x")]),
                ],
                vec![1],
            ),
            (
                vec![
                    verdict(vec![disk("81%")]),
                    verdict(vec![alert(Severity::Critical, "service_down", "api", "x")]),
                ],
                vec![],
            ),
            (
                vec![
                    ok(),
                    verdict(vec![alert(Severity::Critical, "service_down", "api", "x")]),
                ],
                vec![0],
            ),
        ];
        for (k, (health, changed)) in steps.into_iter().enumerate() {
            let now = at(100 + 5 * k as u64);
            let a = full.update(&f, &health, now);
            let b = partial.update_hosts(&f, &health, &changed, now);
            assert_eq!(a, b, "step {k}");
            assert_eq!(full.list(), partial.list(), "step {k}");
        }
        let t = partial
            .get(&AlertKey::new("db-2", "service_down", "api"))
            .unwrap();
        assert_eq!(
            t.last_seen,
            at(115),
            "an unchanged failing alert is seen again"
        );
    }

    #[test]
    fn new_then_acked_then_resolved() {
        let f = fleet();
        let key = AlertKey::new("db-1", "disk_usage", "/data");
        let mut book = AlertBook::default();
        let ev = book.update(&f, &[verdict(vec![disk("81%")]), ok()], at(100));
        assert_eq!(ev, [AlertEvent::Raised(key.clone())]);
        let ev = book.update(&f, &[verdict(vec![disk("84%")]), ok()], at(105));
        assert!(ev.is_empty(), "the same problem is one alert");
        let t = book.get(&key).unwrap();
        assert_eq!(
            (t.state, t.since, t.last_seen),
            (AlertState::New, at(100), at(105))
        );
        assert_eq!(t.value.as_deref(), Some("84%"));

        let ack = book.ack(&key, "alice", at(110)).unwrap();
        assert_eq!(
            (ack.operator.as_str(), ack.at, ack.since),
            ("alice", at(110), at(100))
        );
        assert_eq!(
            book.ack(&key, "bob", at(111)),
            Err(AlertError::AlreadyAcked {
                key: key.clone(),
                by: "alice".into()
            })
        );
        book.update(&f, &[verdict(vec![disk("85%")]), ok()], at(115));
        assert_eq!(
            book.get(&key).unwrap().state,
            AlertState::Acked,
            "ack survives refreshes"
        );

        let ev = book.update(&f, &[ok(), ok()], at(120));
        assert_eq!(ev, [AlertEvent::Resolved(key.clone())]);
        let t = book.get(&key).unwrap();
        assert_eq!(
            (t.state, t.resolved_at),
            (AlertState::Resolved, Some(at(120)))
        );
        assert_eq!(t.acked_by.as_deref(), Some("alice"), "kept for the record");
        assert_eq!(
            book.ack(&key, "bob", at(121)),
            Err(AlertError::Resolved(key.clone()))
        );
    }

    #[test]
    fn a_resolved_alert_failing_again_is_a_new_episode() {
        let f = fleet();
        let key = AlertKey::new("db-1", "disk_usage", "/data");
        let mut book = AlertBook::default();
        book.update(&f, &[verdict(vec![disk("81%")]), ok()], at(100));
        book.ack(&key, "alice", at(101)).unwrap();
        book.update(&f, &[ok(), ok()], at(110));
        let ev = book.update(&f, &[verdict(vec![disk("82%")]), ok()], at(200));
        assert_eq!(ev, [AlertEvent::Reopened(key.clone())]);
        let t = book.get(&key).unwrap();
        assert_eq!(
            (t.state, t.since, t.acked_by.clone()),
            (AlertState::New, at(200), None)
        );
    }

    #[test]
    fn getting_worse_reopens_an_acknowledged_alert() {
        let f = fleet();
        let key = AlertKey::new("db-1", "backup_stale", "pg");
        let mut book = AlertBook::default();
        book.update(
            &f,
            &[
                verdict(vec![alert(Severity::Warning, "backup_stale", "pg", "30h")]),
                ok(),
            ],
            at(100),
        );
        book.ack(&key, "alice", at(101)).unwrap();
        let ev = book.update(
            &f,
            &[
                verdict(vec![alert(Severity::Critical, "backup_stale", "pg", "40h")]),
                ok(),
            ],
            at(102),
        );
        assert_eq!(ev, [AlertEvent::Escalated(key.clone())]);
        let t = book.get(&key).unwrap();
        assert_eq!(
            (t.state, t.severity, t.since),
            (AlertState::New, Severity::Critical, at(100))
        );
    }

    #[test]
    fn an_unreachable_host_keeps_its_other_alerts() {
        let f = fleet();
        let mut book = AlertBook::default();
        let down = alert(Severity::Critical, "host_unreachable", "", "");
        book.update(&f, &[verdict(vec![disk("90%")]), ok()], at(100));
        let ev = book.update(&f, &[verdict(vec![down.clone()]), ok()], at(105));
        assert_eq!(
            ev,
            [AlertEvent::Raised(AlertKey::new(
                "db-1",
                "host_unreachable",
                ""
            ))]
        );
        let disk_key = AlertKey::new("db-1", "disk_usage", "/data");
        assert_eq!(
            book.get(&disk_key).unwrap().state,
            AlertState::New,
            "not resolved"
        );
        let ev = book.update(&f, &[verdict(vec![disk("90%")]), ok()], at(110));
        assert_eq!(
            ev,
            [AlertEvent::Resolved(AlertKey::new(
                "db-1",
                "host_unreachable",
                ""
            ))]
        );
        assert_eq!(
            book.get(&disk_key).unwrap().since,
            at(100),
            "one episode throughout"
        );
        // A host never polled (unknown) changes nothing either.
        let unknown = HostHealth {
            status: Status::Unknown,
            alerts: vec![],
            lag: None,
        };
        assert!(book.update(&f, &[unknown, ok()], at(115)).is_empty());
    }

    #[test]
    fn keys_separate_subjects_and_hosts_and_resolved_ones_expire() {
        let f = fleet();
        let mut book = AlertBook::new(Duration::from_secs(60));
        let two_disks = vec![
            disk("81%"),
            alert(Severity::Warning, "disk_usage", "/var", "85%"),
        ];
        book.update(
            &f,
            &[verdict(two_disks), verdict(vec![disk("95%")])],
            at(100),
        );
        assert_eq!(book.list().len(), 3);
        assert_eq!(
            book.counts(),
            AlertCounts {
                new: 3,
                warning: 3,
                ..AlertCounts::default()
            }
        );
        book.update(&f, &[ok(), verdict(vec![disk("95%")])], at(110));
        assert_eq!(book.counts().resolved, 2);
        assert_eq!(book.active().len(), 1);
        // Resolved ones sort last, and go away after keep_resolved.
        assert_eq!(book.list()[0].key.host, "db-2");
        book.update(&f, &[ok(), verdict(vec![disk("95%")])], at(170));
        assert_eq!(book.list().len(), 3, "60 s is still kept");
        book.update(&f, &[ok(), verdict(vec![disk("95%")])], at(171));
        assert_eq!(book.list().len(), 1);
    }

    #[test]
    fn list_order_and_bad_acks() {
        let f = fleet();
        let mut book = AlertBook::default();
        book.update(
            &f,
            &[
                verdict(vec![disk("81%")]),
                verdict(vec![alert(
                    Severity::Critical,
                    "service_down",
                    "geth",
                    "stopped",
                )]),
            ],
            at(100),
        );
        book.update(
            &f,
            &[
                verdict(vec![
                    disk("81%"),
                    alert(Severity::Critical, "cert_expired", "node", "2 days ago"),
                ]),
                verdict(vec![alert(
                    Severity::Critical,
                    "service_down",
                    "geth",
                    "stopped",
                )]),
            ],
            at(105),
        );
        let geth = AlertKey::new("db-2", "service_down", "geth");
        book.ack(&geth, "alice", at(106)).unwrap();
        let order: Vec<String> = book.list().iter().map(|t| t.key.to_string()).collect();
        assert_eq!(
            order,
            [
                "db-1/cert_expired/node",
                "db-2/service_down/geth",
                "db-1/disk_usage//data"
            ]
        );
        assert_eq!(
            book.ack(&AlertKey::new("db-9", "x", ""), "alice", at(107)),
            Err(AlertError::NotFound(AlertKey::new("db-9", "x", "")))
        );
        assert_eq!(book.ack(&geth, " ", at(107)), Err(AlertError::NoOperator));
        assert_eq!(
            AlertError::Resolved(geth).to_string(),
            "alert db-2/service_down/geth is resolved"
        );
    }
}

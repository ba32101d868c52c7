//! Health rules: pure functions from inventory + state + "now" to a status and alerts per host,
//! and the verdict on each consensus group.
//!
//! Nothing here does I/O or reads the clock; the console and `status` call [`evaluate`] with
//! the time they render for. Each host is judged with its own thresholds (`[thresholds]`, then
//! its profile's, then its own: `Host::thresholds`). Each rule has a stable name
//! (`service_down`, `disk_usage`, …) that appears in `status --json` and, with the alert's
//! subject (a service, mount, backup set, certificate, log or consensus group), keys the alert
//! lifecycle in `alerts`.
//!
//! Callers: the console and `status` ([`evaluate`]), the Chain pane ([`consensus_groups`]),
//! the Disk/Backups and Certificates panes (the small helpers at the end).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::inventory::{Fleet, Host, NodeRole};
use crate::observation::{BackupObs, CertInfo, Metric, ServiceState, UnreachableKind};
use crate::posture::{Check, CheckState};
use crate::state::{FleetState, HostState};
use crate::units::{epoch_secs, short_duration};

mod judge;
pub use judge::{Holds, Judge};

/// A disk trend must span this long before it may raise `disk_filling`: a short history
/// extrapolates one large file into "full tomorrow".
pub const TREND_ALERT_MIN_SPAN: Duration = Duration::from_secs(3600);

/// A host's overall status, ordered from best to worst for sorting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// All rules pass.
    Ok,
    /// Nothing known yet.
    Unknown,
    /// Needs attention.
    Warning,
    /// Broken or about to break.
    Critical,
}

impl Status {
    /// The name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unknown => "unknown",
            Status::Warning => "warning",
            Status::Critical => "critical",
        }
    }
}

/// Alert severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Needs attention.
    Warning,
    /// Broken or about to break.
    Critical,
}

impl Severity {
    /// The name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One failed rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// How bad.
    pub severity: Severity,
    /// Stable rule name.
    pub rule: &'static str,
    /// What on the host it is about: a service, mount, backup set, certificate or log name,
    /// `chain`, a consensus group; empty for the host as a whole.
    pub subject: String,
    /// The measured value that broke the rule, short (`93%`, `12 blocks`, `3 days`).
    pub value: Option<String>,
    /// One sentence for the operator.
    pub message: String,
}

/// The verdict on one host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostHealth {
    /// Worst of the alerts (or `unknown` before the first poll).
    pub status: Status,
    /// Failed rules, worst first.
    pub alerts: Vec<Alert>,
    /// Blocks behind the best node of the same chain, when known.
    pub lag: Option<u64>,
}

impl HostHealth {
    /// Whether the alerts say the host itself could not be reached (its other alerts are
    /// then not judged, and an alert lifecycle must not resolve them).
    pub fn unreachable(&self) -> bool {
        self.alerts.iter().any(|a| is_connection_rule(a.rule))
    }
}

/// Rules that say the host could not be polled at all.
pub fn is_connection_rule(rule: &str) -> bool {
    matches!(
        rule,
        "host_unreachable" | "host_key_changed" | "host_key_unknown" | "ssh_auth_failed"
    )
}

/// Hosts whose chain heights are compared for lag: same chain kind and consensus group.
fn chain_key(host: &Host) -> Option<String> {
    let chain = host.chain.as_ref()?;
    Some(format!(
        "{:?}/{}",
        chain.kind,
        host.consensus_group.as_deref().unwrap_or("")
    ))
}

/// The highest current height per chain key.
fn best_heights(fleet: &Fleet, state: &FleetState) -> HashMap<String, u64> {
    let mut best: HashMap<String, u64> = HashMap::new();
    for (host, hs) in fleet.hosts.iter().zip(&state.hosts) {
        if let (Some(key), Some(h)) = (chain_key(host), hs.height()) {
            let e = best.entry(key).or_insert(h);
            *e = (*e).max(h);
        }
    }
    best
}

/// The highest height among the nodes compared with `host` (same chain kind and group).
pub fn best_height_for(fleet: &Fleet, state: &FleetState, host: &Host) -> Option<u64> {
    chain_key(host).and_then(|k| best_heights(fleet, state).get(&k).copied())
}

/// Judges every host, consensus groups included.
pub fn evaluate(fleet: &Fleet, state: &FleetState, now: SystemTime) -> Vec<HostHealth> {
    let best = best_heights(fleet, state);
    let mut verdicts: Vec<HostHealth> = fleet
        .hosts
        .iter()
        .zip(&state.hosts)
        .map(|(host, hs)| {
            let best = chain_key(host).and_then(|k| best.get(&k).copied());
            evaluate_host(fleet, host, hs, best, now)
        })
        .collect();
    source_alerts(fleet, state, &mut verdicts);
    for (i, alert) in group_alerts(fleet, state, &best, now) {
        if let Some(v) = verdicts.get_mut(i) {
            add_group_alert(v, alert);
        }
    }
    verdicts
}

/// Prometheus's part: one `source_unavailable` per host whose status depends on a server
/// that did not answer its latest round, and the user columns against their thresholds.
fn source_alerts(fleet: &Fleet, state: &FleetState, verdicts: &mut [HostHealth]) {
    if fleet.prometheus.is_none() {
        return;
    }
    for (i, v) in verdicts.iter_mut().enumerate() {
        let extra = source_alerts_of(fleet, state, i);
        if extra.is_empty() {
            continue;
        }
        let mut alerts = std::mem::take(&mut v.alerts);
        alerts.extend(extra);
        let lag = v.lag;
        *v = finish(alerts, lag);
    }
}

/// The Prometheus alerts of host `i` (none without `[prometheus]`).
fn source_alerts_of(fleet: &Fleet, state: &FleetState, i: usize) -> Vec<Alert> {
    let mut extra = Vec::new();
    let Some(p) = &fleet.prometheus else {
        return extra;
    };
    let (Some(ph), Some(hs)) = (p.hosts.get(i), state.hosts.get(i)) else {
        return extra;
    };
    let failed = state
        .sources
        .iter()
        .find(|s| s.server == ph.server && !s.ok);
    if let (Some(s), true) = (failed, ph.source != crate::inventory::StatusSource::Ssh) {
        extra.push(Alert {
            severity: Severity::Warning,
            rule: "source_unavailable",
            subject: s.url.clone(),
            value: None,
            message: format!(
                "Prometheus {} did not answer: {}",
                s.url,
                s.error.as_deref().unwrap_or("no reply")
            ),
        });
    }
    // Columns are judged while their reading is current (its server answered).
    if let (Some(prom), None) = (&hs.prom, failed) {
        for (c, value) in p.columns.iter().zip(&prom.value.columns) {
            let Some(x) = value.value else {
                continue;
            };
            let (rule, severity, limit) = match (c.crit, c.warn) {
                (Some(k), _) if x >= k => ("column_critical", Severity::Critical, k),
                (_, Some(w)) if x >= w => ("column_warning", Severity::Warning, w),
                _ => continue,
            };
            extra.push(Alert {
                severity,
                rule,
                subject: c.name.clone(),
                value: Some(format_value(x)),
                message: format!(
                    "{} is {} (at or above {})",
                    c.name,
                    format_value(x),
                    format_value(limit)
                ),
            });
        }
    }
    extra
}

/// The consensus group alerts, as (host, alert) in group order then member order: every
/// member of a group that has lost or is about to lose consensus gets one.
fn group_alerts(
    fleet: &Fleet,
    state: &FleetState,
    best: &HashMap<String, u64>,
    now: SystemTime,
) -> Vec<(usize, Alert)> {
    let mut out = Vec::new();
    for group in consensus_groups_with(fleet, state, best, now) {
        let Some((rule, message)) = group.alert() else {
            continue;
        };
        let value = format!("{} of {} down (F={})", group.faulty, group.n, group.f);
        for m in &group.members {
            out.push((
                m.host,
                Alert {
                    severity: Severity::Critical,
                    rule,
                    subject: group.name.clone(),
                    value: Some(value.clone()),
                    message: message.clone(),
                },
            ));
        }
    }
    out
}

/// Adds a consensus group's alert to a verdict (not to a host not judged yet).
fn add_group_alert(v: &mut HostHealth, alert: Alert) {
    if v.status == Status::Unknown {
        return;
    }
    v.alerts.push(alert);
    let lag = v.lag;
    *v = finish(std::mem::take(&mut v.alerts), lag);
}

/// A column value as shown: whole numbers without decimals, others with two.
pub fn format_value(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// The consensus (BFT) groups of the fleet, judged: hosts sharing a `consensus_group`, of
/// which those with `role = "consensus"` count towards N = 3F+1.
pub fn consensus_groups(fleet: &Fleet, state: &FleetState, now: SystemTime) -> Vec<GroupHealth> {
    consensus_groups_with(fleet, state, &best_heights(fleet, state), now)
}

/// One consensus group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupHealth {
    /// `consensus_group` name.
    pub name: String,
    /// Every host of the group, inventory order (observers and free nodes too).
    pub members: Vec<GroupMember>,
    /// Consensus members in the inventory.
    pub n: usize,
    /// Faults tolerated: ⌊(N−1)/3⌋.
    pub f: usize,
    /// Consensus members that are healthy now.
    pub healthy: usize,
    /// Consensus members that are not (N − healthy).
    pub faulty: usize,
    /// One more failure stalls the group: `faulty == f` (and the group tolerates any).
    pub one_failure_from_stalling: bool,
    /// More than F consensus members are down: the group cannot commit blocks.
    pub stalled: bool,
    /// Sealers the chain itself lists (FISCO `getSealerList`, from any member that answered):
    /// a number different from `n` means the inventory does not match the chain.
    pub on_chain_sealers: Option<usize>,
}

impl GroupHealth {
    /// The group alert every member gets, if any: `consensus_lost` past F failures,
    /// `consensus_at_risk` at exactly F (F ≥ 1). A group of fewer than four (F = 0) that is
    /// whole raises nothing: it has no tolerance to lose, and the Chain pane shows that.
    pub fn alert(&self) -> Option<(&'static str, String)> {
        if self.stalled {
            Some((
                "consensus_lost",
                format!(
                    "consensus group {}: {} of {} consensus nodes down, it tolerates {}: \
                     no blocks can be committed",
                    self.name, self.faulty, self.n, self.f
                ),
            ))
        } else if self.one_failure_from_stalling {
            Some((
                "consensus_at_risk",
                format!(
                    "consensus group {}: {} of {} consensus nodes down, one more failure stalls it",
                    self.name, self.faulty, self.n
                ),
            ))
        } else {
            None
        }
    }
}

/// One host of a consensus group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupMember {
    /// Index in `Fleet::hosts`.
    pub host: usize,
    /// Role in the inventory.
    pub role: NodeRole,
    /// Role the chain gives it (FISCO sealer/observer lists), when known.
    pub observed_role: Option<NodeRole>,
    /// Reachable, its node answers a height that is moving, not syncing, not lagging.
    pub healthy: bool,
    /// Why not, when not.
    pub problem: Option<String>,
}

fn consensus_groups_with(
    fleet: &Fleet,
    state: &FleetState,
    best: &HashMap<String, u64>,
    now: SystemTime,
) -> Vec<GroupHealth> {
    let mut groups: Vec<GroupHealth> = Vec::new();
    for (i, (host, hs)) in fleet.hosts.iter().zip(&state.hosts).enumerate() {
        let Some(name) = &host.consensus_group else {
            continue;
        };
        let best = chain_key(host).and_then(|k| best.get(&k).copied());
        let problem = member_problem(host, hs, best, now);
        let detail = hs
            .probed
            .as_ref()
            .filter(|_| hs.error.is_none())
            .and_then(|p| p.chain_detail.as_ref());
        let member = GroupMember {
            host: i,
            role: host.role,
            observed_role: detail.and_then(|d| d.observed_role()),
            healthy: problem.is_none(),
            problem,
        };
        let sealers = detail.and_then(|d| d.sealers.value().map(Vec::len));
        match groups.iter_mut().find(|g| &g.name == name) {
            Some(g) => {
                g.members.push(member);
                g.on_chain_sealers = g.on_chain_sealers.or(sealers);
            }
            None => groups.push(GroupHealth {
                name: name.clone(),
                members: vec![member],
                n: 0,
                f: 0,
                healthy: 0,
                faulty: 0,
                one_failure_from_stalling: false,
                stalled: false,
                on_chain_sealers: sealers,
            }),
        }
    }
    for g in &mut groups {
        let voters = g.members.iter().filter(|m| m.role == NodeRole::Consensus);
        g.n = voters.clone().count();
        g.healthy = voters.filter(|m| m.healthy).count();
        g.faulty = g.n - g.healthy;
        g.f = g.n.saturating_sub(1) / 3;
        g.stalled = g.n > 0 && g.faulty > g.f;
        g.one_failure_from_stalling = g.n > 0 && g.faulty > 0 && g.faulty == g.f;
    }
    groups
}

/// Why a group member does not count as healthy, or `None` when it does.
fn member_problem(
    host: &Host,
    hs: &HostState,
    best: Option<u64>,
    now: SystemTime,
) -> Option<String> {
    if hs.polled_at.is_none() {
        return Some("not polled yet".into());
    }
    if let Some(e) = &hs.error {
        return Some(format!("unreachable: {}", e.message));
    }
    // Nothing but reachability can be judged of a member without a configured node.
    host.chain.as_ref()?;
    let Some(chain) = hs.probed.as_ref().and_then(|p| p.chain.as_ref()) else {
        return Some("no chain node observed".into());
    };
    let h = match &chain.height {
        Metric::Value(h) => *h,
        Metric::Unavailable(why) => return Some(format!("height unavailable: {why}")),
        Metric::Error(e) => return Some(format!("chain RPC failed: {e}")),
    };
    let t = &host.thresholds;
    if let Some(changed) = hs.height_changed_at
        && now
            .duration_since(changed)
            .is_ok_and(|d| d > t.height_stall)
    {
        return Some(format!("no new block since height {h}"));
    }
    if let Metric::Value(true) = chain.syncing {
        return Some("syncing".into());
    }
    if let Some(best) = best
        && best.saturating_sub(h) > t.height_lag_warn
    {
        return Some(format!("{} blocks behind", best - h));
    }
    None
}

/// Judges one host given the best height of its chain (consensus group alerts are added by
/// [`evaluate`]).
pub fn evaluate_host(
    fleet: &Fleet,
    host: &Host,
    hs: &HostState,
    best_height: Option<u64>,
    now: SystemTime,
) -> HostHealth {
    evaluate_host_holding(fleet, host, hs, best_height, now).0
}

/// [`evaluate_host`], and the times at which that verdict holds as time passes with no new
/// data (the age-based rules: a stalled height, a backup or certificate aged by the console's
/// clock when the host did not say its own).
pub fn evaluate_host_holding(
    _fleet: &Fleet,
    host: &Host,
    hs: &HostState,
    best_height: Option<u64>,
    now: SystemTime,
) -> (HostHealth, Holds) {
    let mut holds = Holds::ALWAYS;
    let t = &host.thresholds;
    let mut alerts = Vec::new();
    let mut push = |severity, rule, subject: &str, value: Option<String>, message: String| {
        alerts.push(Alert {
            severity,
            rule,
            subject: subject.to_string(),
            value,
            message,
        })
    };

    if hs.polled_at.is_none() {
        let unknown = HostHealth {
            status: Status::Unknown,
            alerts: Vec::new(),
            lag: None,
        };
        return (unknown, holds);
    }
    if let Some(err) = &hs.error {
        let rule = match err.kind {
            UnreachableKind::HostKeyChanged => "host_key_changed",
            UnreachableKind::HostKeyUnknown => "host_key_unknown",
            UnreachableKind::Auth => "ssh_auth_failed",
            _ => "host_unreachable",
        };
        push(Severity::Critical, rule, "", None, err.message.clone());
        // Data from before the host went away is not judged: it may be stale.
        return (finish(alerts, None), holds);
    }
    let Some(p) = &hs.probed else {
        return (finish(alerts, None), holds);
    };

    for s in &p.services {
        match s.state {
            ServiceState::Running => {}
            ServiceState::Stopped | ServiceState::Failed => {
                let state = if s.state == ServiceState::Stopped {
                    "stopped"
                } else {
                    "failed"
                };
                let detail = if s.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", s.detail)
                };
                push(
                    Severity::Critical,
                    "service_down",
                    &s.name,
                    Some(state.into()),
                    format!("{} is {state}{detail}", s.name),
                );
            }
            ServiceState::Unknown => push(
                Severity::Warning,
                "service_unknown",
                &s.name,
                Some("unknown".into()),
                format!("state of {} is unknown: {}", s.name, s.detail),
            ),
        }
    }
    for (k, d) in p.disks.iter().enumerate() {
        match &d.usage {
            Ok(u) if u.used_percent >= t.disk_crit_percent => push(
                Severity::Critical,
                "disk_full",
                &d.mount,
                Some(format!("{:.0}%", u.used_percent)),
                format!(
                    "{} is {:.0}% full (critical at {:.0}%)",
                    d.mount, u.used_percent, t.disk_crit_percent
                ),
            ),
            Ok(u) if u.used_percent >= t.disk_warn_percent => push(
                Severity::Warning,
                "disk_usage",
                &d.mount,
                Some(format!("{:.0}%", u.used_percent)),
                format!(
                    "{} is {:.0}% full (warning at {:.0}%)",
                    d.mount, u.used_percent, t.disk_warn_percent
                ),
            ),
            Ok(_) => {}
            Err(e) => push(
                Severity::Warning,
                "probe_error",
                &d.mount,
                None,
                format!("disk {}: {e}", d.mount),
            ),
        }
        if d.usage.is_ok()
            && t.disk_full_warn_days > 0.0
            && let Some(trend) = hs
                .disks
                .get(k)
                .filter(|h| h.mount == d.mount)
                .and_then(|h| h.trend())
            && trend.span >= TREND_ALERT_MIN_SPAN
            && let Some(days) = trend.days_until_full
            && days < t.disk_full_warn_days
        {
            push(
                Severity::Warning,
                "disk_filling",
                &d.mount,
                Some(format!("{days:.1} days")),
                format!(
                    "{} fills in about {days:.1} days at its current rate (warning under {} days)",
                    d.mount, t.disk_full_warn_days
                ),
            );
        }
    }
    let host_now = p.host_time.unwrap_or_else(|| {
        // Backup and certificate ages then read the console's clock, to the second.
        let certs = hs.certs.as_ref().is_some_and(|c| !c.value.is_empty());
        if !p.backups.is_empty() || certs {
            holds.narrow(Holds::second_of(now));
        }
        epoch_secs(now)
    });
    for (b, set) in p.backups.iter().zip(&host.backups) {
        match &b.latest {
            Ok(Some(file)) => {
                let age = host_now.saturating_sub(file.mtime).max(0) as u64;
                let limit = set.every.as_secs_f64() * 1.5;
                if age as f64 > limit {
                    push(
                        Severity::Critical,
                        "backup_stale",
                        &b.name,
                        Some(short_duration(Duration::from_secs(age))),
                        format!(
                            "newest {} backup is {} old (expected every {})",
                            b.name,
                            humantime::format_duration(Duration::from_secs(age)),
                            humantime::format_duration(set.every)
                        ),
                    );
                }
                if let Some(change) = backup_change(b)
                    && change.shrunk(t.backup_shrink_percent)
                {
                    push(
                        Severity::Critical,
                        "backup_shrunk",
                        &b.name,
                        Some(change.percent_text()),
                        format!(
                            "newest {} backup is {} smaller than the one before ({} bytes, \
                             was {})",
                            b.name,
                            change.shrink_text(),
                            change.latest_bytes,
                            change.previous_bytes
                        ),
                    );
                }
            }
            Ok(None) => push(
                Severity::Critical,
                "backup_missing",
                &b.name,
                None,
                format!(
                    "no {} backup matching {} in {}",
                    b.name, set.pattern, set.dir
                ),
            ),
            Err(e) => push(
                Severity::Warning,
                "probe_error",
                &b.name,
                None,
                format!("backup {}: {e}", b.name),
            ),
        }
    }
    let mut lag = None;
    if let Some(c) = &p.chain {
        match &c.height {
            Metric::Value(h) => {
                if let Some(best) = best_height {
                    let behind = best.saturating_sub(*h);
                    lag = Some(behind);
                    if behind > t.height_lag_warn {
                        push(
                            Severity::Warning,
                            "height_lag",
                            "chain",
                            Some(format!("{behind} blocks")),
                            format!("{behind} blocks behind the best node ({best})"),
                        );
                    }
                }
                if let Some(changed) = hs.height_changed_at {
                    // Not stalled until `height_stall` has passed; once stalled, the value
                    // says for how long, so it holds for this instant only.
                    holds.narrow(match now.duration_since(changed) {
                        Ok(still) if still > t.height_stall => Holds::instant(now),
                        _ => Holds::until(changed.checked_add(t.height_stall)),
                    });
                }
                if let Some(changed) = hs.height_changed_at
                    && let Ok(still) = now.duration_since(changed)
                    && still > t.height_stall
                {
                    push(
                        Severity::Critical,
                        "height_stalled",
                        "chain",
                        Some(short_duration(still)),
                        format!(
                            "no new block for {} (height {h})",
                            humantime::format_duration(Duration::from_secs(still.as_secs()))
                        ),
                    );
                }
            }
            Metric::Unavailable(why) => push(
                Severity::Warning,
                "chain_height_unavailable",
                "chain",
                None,
                format!("height unavailable: {why}"),
            ),
            Metric::Error(e) => push(
                Severity::Critical,
                "chain_rpc_error",
                "chain",
                None,
                format!("chain RPC failed: {e}"),
            ),
        }
        if let Metric::Value(peers) = &c.peers
            && *peers < t.min_peers
        {
            push(
                Severity::Warning,
                "peers_low",
                "chain",
                Some(peers.to_string()),
                format!("{peers} peers (minimum {})", t.min_peers),
            );
        }
        if let Metric::Value(true) = &c.syncing {
            push(
                Severity::Warning,
                "syncing",
                "chain",
                None,
                "node reports it is syncing".into(),
            );
        }
        if let Some(observed) = p.chain_detail.as_ref().and_then(|d| d.observed_role())
            && host.consensus_group.is_some()
            && observed != host.role
        {
            push(
                Severity::Warning,
                "role_mismatch",
                "chain",
                Some(observed.as_str().into()),
                format!(
                    "the chain lists this node as {}, the inventory as {}",
                    observed.as_str(),
                    host.role.as_str()
                ),
            );
        }
    }
    if let Some(certs) = &hs.certs {
        for c in &certs.value {
            match &c.info {
                Metric::Value(info) => {
                    let days = cert_days_left(info, host_now);
                    if days <= 0.0 {
                        push(
                            Severity::Critical,
                            "cert_expired",
                            &c.name,
                            Some(format!("{:.0} days ago", -days.floor())),
                            format!("certificate {} ({}) has expired", c.name, c.path),
                        );
                    } else if days < t.cert_warn_days as f64 {
                        push(
                            Severity::Warning,
                            "cert_expiring",
                            &c.name,
                            Some(format!("{} days", days.floor())),
                            format!(
                                "certificate {} ({}) expires in {} days (warning under {})",
                                c.name,
                                c.path,
                                days.floor(),
                                t.cert_warn_days
                            ),
                        );
                    }
                }
                Metric::Unavailable(why) | Metric::Error(why) => push(
                    Severity::Warning,
                    "cert_unreadable",
                    &c.name,
                    None,
                    format!("certificate {} ({}): {why}", c.name, c.path),
                ),
            }
        }
    }
    if let Some(logs) = &hs.logs {
        for l in &logs.value {
            match &l.summary {
                Ok(s) if s.errors >= t.log_errors_warn && t.log_errors_warn > 0 => {
                    let window = short_duration(Duration::from_secs(s.window_seconds));
                    push(
                        Severity::Warning,
                        "log_errors",
                        &l.name,
                        Some(format!("{}/{window}", s.errors)),
                        format!(
                            "{} error lines in log {} (last {window}; warning at {})",
                            s.errors, l.name, t.log_errors_warn
                        ),
                    );
                }
                Ok(_) => {}
                Err(e) => push(
                    Severity::Warning,
                    "log_unreadable",
                    &l.name,
                    None,
                    format!("log {}: {e}", l.name),
                ),
            }
        }
    }
    if host.posture.enabled
        && let Some(posture) = &hs.posture
    {
        let settings = &host.posture;
        let mut unreadable: Vec<(&'static str, String)> = Vec::new();
        for r in crate::posture::judge(&posture.value, settings, crate::posture::ssh_port(host)) {
            match r.state {
                CheckState::Ok => {}
                CheckState::Unreadable => {
                    if !unreadable
                        .iter()
                        .any(|(what, _)| *what == r.check.reading())
                    {
                        unreadable.push((r.check.reading(), r.detail));
                    }
                }
                CheckState::Deviation => {
                    let Some(severity) = settings.severity(r.check) else {
                        continue;
                    };
                    let rule = posture_rule(r.check);
                    if r.check == Check::Ports {
                        for port in &r.unexpected {
                            push(
                                severity,
                                rule,
                                &port.to_string(),
                                Some(format!("tcp/{port}")),
                                format!("port {port} is listening: {}", r.check.reason()),
                            );
                        }
                    } else {
                        push(
                            severity,
                            rule,
                            "",
                            Some(r.value.clone()),
                            format!("{}: {}", r.detail, r.check.reason()),
                        );
                    }
                }
            }
        }
        if let Some(severity) = settings.unreadable() {
            for (what, detail) in unreadable {
                push(severity, "posture_unreadable", what, None, detail);
            }
        }
    }
    for e in &p.probe_errors {
        push(Severity::Warning, "probe_error", "", None, e.clone());
    }
    (finish(alerts, lag), holds)
}

/// The rule a posture deviation raises.
fn posture_rule(check: Check) -> &'static str {
    match check {
        Check::PasswordLogin => "posture_password_login",
        Check::EmptyPasswords => "posture_empty_passwords",
        Check::RootLogin => "posture_root_login",
        Check::Pubkey => "posture_pubkey_off",
        Check::KbdInteractive => "posture_kbd_interactive",
        Check::SshPort => "posture_default_port",
        Check::Ports => "posture_unexpected_port",
        Check::RootHistory => "posture_root_history",
    }
}

fn finish(mut alerts: Vec<Alert>, lag: Option<u64>) -> HostHealth {
    alerts.sort_by_key(|a| std::cmp::Reverse(a.severity));
    let status = match alerts.first().map(|a| a.severity) {
        Some(Severity::Critical) => Status::Critical,
        Some(Severity::Warning) => Status::Warning,
        None => Status::Ok,
    };
    HostHealth {
        status,
        alerts,
        lag,
    }
}

/// Days until `cert` expires at host time `host_now` (negative once expired).
pub fn cert_days_left(cert: &CertInfo, host_now: i64) -> f64 {
    (cert.not_after - host_now) as f64 / 86_400.0
}

/// How the newest backup of a set compares with the one before.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BackupChange {
    /// Size of the newest file.
    pub latest_bytes: u64,
    /// Size of the one before.
    pub previous_bytes: u64,
    /// Change in percent of the previous size (−95 = 95% smaller).
    pub percent: f64,
}

impl BackupChange {
    /// Whether the newest is at least `shrink_percent` smaller than the previous one.
    pub fn shrunk(&self, shrink_percent: f64) -> bool {
        self.previous_bytes > 0 && -self.percent >= shrink_percent
    }

    /// The change as the panes and alert values print it: `-95%`, `+3%`.
    pub fn percent_text(&self) -> String {
        if self.percent < 0.0 {
            format!("-{}", self.shrink_text())
        } else {
            format!("{:+.0}%", self.percent)
        }
    }

    /// How much smaller the newest is, unsigned: `95%`. Whole percents, except that a shrink
    /// which left something never reads `100%`: 1,000 bytes after 200,000 is `99.5%`
    /// (truncated to a tenth, at most `99.9%`), so "100% smaller" always means an empty file.
    pub fn shrink_text(&self) -> String {
        let shrink = -self.percent;
        if format!("{shrink:.0}") == "100" && self.latest_bytes > 0 {
            let tenths = ((shrink * 10.0).floor() / 10.0).min(99.9);
            format!("{tenths:.1}%")
        } else {
            format!("{shrink:.0}%")
        }
    }
}

/// The size change of a set's newest backup against the one before, when both exist.
pub fn backup_change(b: &BackupObs) -> Option<BackupChange> {
    let latest = b.latest.as_ref().ok()?.as_ref()?;
    let previous = b.previous.as_ref()?;
    let percent = if previous.size_bytes == 0 {
        if latest.size_bytes == 0 { 0.0 } else { 100.0 }
    } else {
        (latest.size_bytes as f64 - previous.size_bytes as f64) * 100.0 / previous.size_bytes as f64
    };
    Some(BackupChange {
        latest_bytes: latest.size_bytes,
        previous_bytes: previous.size_bytes,
        percent,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::inventory::{ChainKind, ConfigSource, load_fleet_from_str};
    use crate::observation::*;
    use crate::state::Timed;

    const INVENTORY: &str = r#"
[fleet]
name = "t"
[thresholds]
disk_warn_percent = 80
disk_crit_percent = 90
height_lag_warn = 5
height_stall = "2m"
min_peers = 2
cert_warn_days = 30
log_errors_warn = 10
[[hosts]]
name = "a"
address = "10.0.0.1"
services = [{ name = "geth", kind = "systemd", unit = "geth.service" }]
disks = [{ mount = "/data" }]
backups = [{ name = "pg", dir = "/b", pattern = "*.gz", every = "24h" }]
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
certs = [{ name = "node", path = "/c/node.crt" }]
logs = [{ name = "node", file = "/l/node.log", format = "fisco" }]
[[hosts]]
name = "b"
address = "10.0.0.2"
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
"#;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[derive(Clone)]
    enum CertCase {
        NotRead,
        Days(i64),
        Unreadable,
    }

    #[derive(Clone)]
    struct Case {
        name: &'static str,
        service: ServiceState,
        disk_percent: f64,
        backup_age: i64,
        previous_backup: Option<u64>,
        height: Metric<u64>,
        peers: Metric<u64>,
        syncing: bool,
        other_height: u64,
        cert: CertCase,
        log_errors: Option<Result<u64, &'static str>>,
        probe_error: bool,
        expect_status: Status,
        expect_rules: &'static [&'static str],
    }

    fn probed(c: &Case, now: i64) -> Probed {
        Probed {
            host_time: Some(now),
            services: vec![ServiceObs {
                name: "geth".into(),
                state: c.service,
                detail: String::new(),
                since: None,
                restarts: None,
            }],
            disks: vec![DiskObs {
                mount: "/data".into(),
                usage: Ok(DiskUsage {
                    filesystem: "/dev/vda1".into(),
                    total_bytes: 100,
                    used_bytes: c.disk_percent as u64,
                    avail_bytes: 100 - c.disk_percent as u64,
                    used_percent: c.disk_percent,
                    mounted_on: "/data".into(),
                }),
            }],
            backups: vec![BackupObs {
                name: "pg".into(),
                latest: Ok(Some(BackupFile {
                    path: "/b/x.gz".into(),
                    mtime: now - c.backup_age,
                    size_bytes: 10_000,
                })),
                previous: c.previous_backup.map(|size_bytes| BackupFile {
                    path: "/b/w.gz".into(),
                    mtime: now - c.backup_age - 86_400,
                    size_bytes,
                }),
            }],
            chain: Some(ChainObs {
                kind: ChainKind::Ethereum,
                height: c.height.clone(),
                syncing: Metric::Value(c.syncing),
                peers: c.peers.clone(),
                client: None,
            }),
            certs: match c.cert {
                CertCase::NotRead => None,
                CertCase::Days(days) => Some(vec![CertObs {
                    name: "node".into(),
                    path: "/c/node.crt".into(),
                    info: Metric::Value(CertInfo {
                        not_after: now + days * 86_400 + 60,
                        not_before: None,
                        subject: "CN = node0".into(),
                        issuer: None,
                    }),
                }]),
                CertCase::Unreadable => Some(vec![CertObs {
                    name: "node".into(),
                    path: "/c/node.crt".into(),
                    info: Metric::Error("no such file".into()),
                }]),
            },
            logs: c.log_errors.map(|r| {
                vec![LogObs {
                    name: "node".into(),
                    summary: r
                        .map(|errors| LogSummary {
                            errors,
                            window_seconds: 600,
                            ..LogSummary::default()
                        })
                        .map_err(str::to_string),
                }]
            }),
            probe_errors: if c.probe_error {
                vec!["probe output truncated: 10 bytes dropped".into()]
            } else {
                vec![]
            },
            ..Probed::default()
        }
    }

    fn ok_case() -> Case {
        Case {
            name: "all fine",
            service: ServiceState::Running,
            disk_percent: 41.0,
            backup_age: 3600,
            previous_backup: Some(9_000),
            height: Metric::Value(100),
            peers: Metric::Value(5),
            syncing: false,
            other_height: 100,
            cert: CertCase::Days(200),
            log_errors: Some(Ok(0)),
            probe_error: false,
            expect_status: Status::Ok,
            expect_rules: &[],
        }
    }

    #[test]
    fn rule_table() {
        let fleet = load_fleet_from_str(INVENTORY, ConfigSource::Embedded).unwrap();
        let ok = ok_case();
        let cases = [
            Case {
                name: "service stopped",
                service: ServiceState::Stopped,
                expect_status: Status::Critical,
                expect_rules: &["service_down"],
                ..ok.clone()
            },
            Case {
                name: "service unknown",
                service: ServiceState::Unknown,
                expect_status: Status::Warning,
                expect_rules: &["service_unknown"],
                ..ok.clone()
            },
            Case {
                name: "disk warn",
                disk_percent: 80.0,
                expect_status: Status::Warning,
                expect_rules: &["disk_usage"],
                ..ok.clone()
            },
            Case {
                name: "disk crit",
                disk_percent: 95.0,
                expect_status: Status::Critical,
                expect_rules: &["disk_full"],
                ..ok.clone()
            },
            Case {
                name: "backup just fresh",
                backup_age: 36 * 3600,
                ..ok.clone()
            },
            Case {
                name: "backup stale",
                backup_age: 36 * 3600 + 1,
                expect_status: Status::Critical,
                expect_rules: &["backup_stale"],
                ..ok.clone()
            },
            Case {
                name: "backup 89% smaller is not yet shrunk",
                previous_backup: Some(90_910),
                ..ok.clone()
            },
            Case {
                name: "backup 90% smaller",
                previous_backup: Some(100_000),
                expect_status: Status::Critical,
                expect_rules: &["backup_shrunk"],
                ..ok.clone()
            },
            Case {
                name: "backup grew a lot",
                previous_backup: Some(10),
                ..ok.clone()
            },
            Case {
                name: "only one backup: nothing to compare",
                previous_backup: None,
                ..ok.clone()
            },
            Case {
                name: "lag at threshold",
                other_height: 105,
                ..ok.clone()
            },
            Case {
                name: "lag over threshold",
                other_height: 106,
                expect_status: Status::Warning,
                expect_rules: &["height_lag"],
                ..ok.clone()
            },
            Case {
                name: "peers low",
                peers: Metric::Value(1),
                expect_status: Status::Warning,
                expect_rules: &["peers_low"],
                ..ok.clone()
            },
            Case {
                name: "peers unavailable is not low",
                peers: Metric::Unavailable("not supported by this node".into()),
                ..ok.clone()
            },
            Case {
                name: "syncing",
                syncing: true,
                expect_status: Status::Warning,
                expect_rules: &["syncing"],
                ..ok.clone()
            },
            Case {
                name: "rpc down",
                height: Metric::Error("connection refused".into()),
                expect_status: Status::Critical,
                expect_rules: &["chain_rpc_error"],
                ..ok.clone()
            },
            Case {
                name: "height unavailable",
                height: Metric::Unavailable("not supported by this node".into()),
                expect_status: Status::Warning,
                expect_rules: &["chain_height_unavailable"],
                ..ok.clone()
            },
            Case {
                name: "cert at the warning line",
                cert: CertCase::Days(30),
                ..ok.clone()
            },
            Case {
                name: "cert expiring",
                cert: CertCase::Days(29),
                expect_status: Status::Warning,
                expect_rules: &["cert_expiring"],
                ..ok.clone()
            },
            Case {
                name: "cert expired",
                cert: CertCase::Days(-2),
                expect_status: Status::Critical,
                expect_rules: &["cert_expired"],
                ..ok.clone()
            },
            Case {
                name: "cert unreadable",
                cert: CertCase::Unreadable,
                expect_status: Status::Warning,
                expect_rules: &["cert_unreadable"],
                ..ok.clone()
            },
            Case {
                name: "certs not read yet",
                cert: CertCase::NotRead,
                ..ok.clone()
            },
            Case {
                name: "log errors under the rate",
                log_errors: Some(Ok(9)),
                ..ok.clone()
            },
            Case {
                name: "log errors at the rate",
                log_errors: Some(Ok(10)),
                expect_status: Status::Warning,
                expect_rules: &["log_errors"],
                ..ok.clone()
            },
            Case {
                name: "log unreadable",
                log_errors: Some(Err("no such file")),
                expect_status: Status::Warning,
                expect_rules: &["log_unreadable"],
                ..ok.clone()
            },
            Case {
                name: "probe error",
                probe_error: true,
                expect_status: Status::Warning,
                expect_rules: &["probe_error"],
                ..ok.clone()
            },
            Case {
                name: "two problems, worst first",
                service: ServiceState::Failed,
                disk_percent: 85.0,
                expect_status: Status::Critical,
                expect_rules: &["service_down", "disk_usage"],
                ..ok.clone()
            },
            ok,
        ];
        let now = 1_000_000;
        for c in &cases {
            let mut state = FleetState::new(2);
            state.apply(Observation {
                host: 0,
                started: at(now as u64),
                elapsed: Duration::ZERO,
                outcome: Ok(probed(c, now)),
            });
            let mut other = probed(c, now);
            other.chain.as_mut().unwrap().height = Metric::Value(c.other_height);
            state.apply(Observation {
                host: 1,
                started: at(now as u64),
                elapsed: Duration::ZERO,
                outcome: Ok(other),
            });
            let health = evaluate(&fleet, &state, at(now as u64));
            let rules: Vec<_> = health[0].alerts.iter().map(|a| a.rule).collect();
            assert_eq!(health[0].status, c.expect_status, "{}: {rules:?}", c.name);
            assert_eq!(rules, c.expect_rules, "{}", c.name);
        }
    }

    #[test]
    fn alerts_carry_subject_and_value() {
        let fleet = load_fleet_from_str(INVENTORY, ConfigSource::Embedded).unwrap();
        let c = Case {
            disk_percent: 93.0,
            previous_backup: Some(1_000_000),
            cert: CertCase::Days(12),
            ..ok_case()
        };
        let mut state = FleetState::new(2);
        state.apply(Observation {
            host: 0,
            started: at(1_000_000),
            elapsed: Duration::ZERO,
            outcome: Ok(probed(&c, 1_000_000)),
        });
        let h = evaluate(&fleet, &state, at(1_000_000));
        let got: Vec<_> = h[0]
            .alerts
            .iter()
            .map(|a| (a.rule, a.subject.as_str(), a.value.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("disk_full", "/data", Some("93%")),
                ("backup_shrunk", "pg", Some("-99%")),
                ("cert_expiring", "node", Some("12 days")),
            ]
        );
    }

    #[test]
    fn thresholds_follow_profile_and_host_overrides() {
        let fleet = load_fleet_from_str(
            r#"
[thresholds]
disk_warn_percent = 80
[profiles.p]
thresholds = { disk_warn_percent = 70 }
[[hosts]]
name = "own"
profile = "p"
disks = [{ mount = "/" }]
thresholds = { disk_crit_percent = 75 }
[[hosts]]
name = "profile"
profile = "p"
disks = [{ mount = "/" }]
[[hosts]]
name = "fleet"
disks = [{ mount = "/" }]
"#,
            ConfigSource::Embedded,
        )
        .unwrap();
        let disk = |percent: f64| Probed {
            disks: vec![DiskObs {
                mount: "/".into(),
                usage: std::result::Result::Ok(DiskUsage {
                    filesystem: "/dev/vda".into(),
                    total_bytes: 100,
                    used_bytes: percent as u64,
                    avail_bytes: 100 - percent as u64,
                    used_percent: percent,
                    mounted_on: "/".into(),
                }),
            }],
            ..Probed::default()
        };
        use Status::*;
        for (percent, expect) in [
            (65.0, [Ok, Ok, Ok]),
            (72.0, [Warning, Warning, Ok]),
            (76.0, [Critical, Warning, Ok]),
            (85.0, [Critical, Warning, Warning]),
            (91.0, [Critical, Critical, Critical]),
        ] {
            let mut state = FleetState::new(3);
            for host in 0..3 {
                state.apply(Observation {
                    host,
                    started: at(10),
                    elapsed: Duration::ZERO,
                    outcome: std::result::Result::Ok(disk(percent)),
                });
            }
            let got: Vec<Status> = evaluate(&fleet, &state, at(10))
                .iter()
                .map(|h| h.status)
                .collect();
            assert_eq!(got, expect, "{percent}%");
        }
    }

    /// A FISCO group of four consensus nodes and an observer, plus a group of three.
    const GROUPS: &str = r#"
[thresholds]
height_stall = "1m"
[profiles.fisco]
chain = { kind = "fisco-bcos", rpc = "http://127.0.0.1:20200", group = "group0" }
[[hosts]]
name = "c1"
profile = "fisco"
consensus_group = "g4"
role = "consensus"
[[hosts]]
name = "c2"
profile = "fisco"
consensus_group = "g4"
role = "consensus"
[[hosts]]
name = "c3"
profile = "fisco"
consensus_group = "g4"
role = "consensus"
[[hosts]]
name = "c4"
profile = "fisco"
consensus_group = "g4"
role = "consensus"
[[hosts]]
name = "obs"
profile = "fisco"
consensus_group = "g4"
role = "observer"
[[hosts]]
name = "t1"
profile = "fisco"
consensus_group = "g3"
role = "consensus"
[[hosts]]
name = "t2"
profile = "fisco"
consensus_group = "g3"
role = "consensus"
[[hosts]]
name = "t3"
profile = "fisco"
consensus_group = "g3"
role = "consensus"
"#;

    fn node(height: u64, node_id: &str) -> Probed {
        Probed {
            chain: Some(ChainObs {
                kind: ChainKind::FiscoBcos,
                height: Metric::Value(height),
                syncing: Metric::Value(false),
                peers: Metric::Value(3),
                client: None,
            }),
            chain_detail: Some(Box::new(ChainDetail {
                node_id: Some(node_id.into()),
                sealers: Metric::Value(vec!["n1".into(), "n2".into(), "n3".into(), "n4".into()]),
                observers: Metric::Value(vec!["n5".into()]),
                pbft_view: Metric::Value(7),
                known_highest: Some(height),
                cfx_status: Metric::Unavailable("not asked for this chain kind".into()),
            })),
            ..Probed::default()
        }
    }

    fn down() -> Result<Probed, Unreachable> {
        Err(Unreachable {
            kind: UnreachableKind::Connect,
            message: "connection refused".into(),
            retry_in: None,
        })
    }

    /// Polls every host once at `secs`; hosts in `dead` are unreachable.
    fn poll_groups(state: &mut FleetState, secs: u64, height: u64, dead: &[usize]) {
        for host in 0..8 {
            let outcome = if dead.contains(&host) {
                down()
            } else {
                Ok(node(height, &format!("n{}", host + 1)))
            };
            state.apply(Observation {
                host,
                started: at(secs),
                elapsed: Duration::ZERO,
                outcome,
            });
        }
    }

    #[test]
    fn consensus_groups_count_n_f_and_healthy_members() {
        let fleet = load_fleet_from_str(GROUPS, ConfigSource::Embedded).unwrap();
        let rules =
            |h: &HostHealth| -> Vec<&'static str> { h.alerts.iter().map(|a| a.rule).collect() };
        // Rows: dead hosts → (g4 faulty, at risk, stalled), (g3 faulty, stalled), rules of c1.
        type Row = (
            &'static [usize],
            (usize, bool, bool),
            (usize, bool),
            &'static [&'static str],
        );
        let table: [Row; 5] = [
            (&[], (0, false, false), (0, false), &[]),
            (&[3], (1, true, false), (0, false), &["consensus_at_risk"]),
            (&[4], (0, false, false), (0, false), &[]),
            (&[2, 3], (2, false, true), (0, false), &["consensus_lost"]),
            (&[6], (0, false, false), (1, true), &[]),
        ];
        for (dead, (g4_faulty, at_risk, g4_stalled), (g3_faulty, g3_stalled), c1_rules) in table {
            let mut state = FleetState::new(8);
            poll_groups(&mut state, 100, 10, &[]);
            poll_groups(&mut state, 105, 11, dead);
            let groups = consensus_groups(&fleet, &state, at(105));
            let g4 = &groups[0];
            assert_eq!((g4.name.as_str(), g4.n, g4.f), ("g4", 4, 1));
            assert_eq!(g4.members.len(), 5, "the observer is listed");
            assert_eq!(
                (g4.faulty, g4.one_failure_from_stalling, g4.stalled),
                (g4_faulty, at_risk, g4_stalled),
                "dead {dead:?}"
            );
            assert_eq!(g4.healthy, 4 - g4_faulty);
            assert_eq!(g4.on_chain_sealers, Some(4));
            let g3 = &groups[1];
            assert_eq!((g3.n, g3.f), (3, 0));
            assert_eq!(
                (g3.faulty, g3.stalled),
                (g3_faulty, g3_stalled),
                "dead {dead:?}"
            );
            assert!(
                !g3.one_failure_from_stalling,
                "F = 0: nothing to be one failure from"
            );

            let h = evaluate(&fleet, &state, at(105));
            assert_eq!(rules(&h[0]), c1_rules, "dead {dead:?}");
            if !c1_rules.is_empty() {
                // Every member of the group, the observer too, is critical.
                for (m, verdict) in h.iter().enumerate().take(5) {
                    assert_eq!(verdict.status, Status::Critical, "host {m}, dead {dead:?}");
                }
            }
        }
    }

    #[test]
    fn a_stalled_member_is_unhealthy_and_roles_are_checked_against_the_chain() {
        let fleet = load_fleet_from_str(GROUPS, ConfigSource::Embedded).unwrap();
        let mut state = FleetState::new(8);
        poll_groups(&mut state, 100, 10, &[]);
        // c4 stops moving; the others go on.
        for secs in [130, 170] {
            for host in 0..8 {
                let h = if host == 3 { 10 } else { secs };
                state.apply(Observation {
                    host,
                    started: at(secs),
                    elapsed: Duration::ZERO,
                    outcome: Ok(node(h, &format!("n{}", host + 1))),
                });
            }
        }
        let g = &consensus_groups(&fleet, &state, at(170))[0];
        assert_eq!(g.faulty, 1);
        let c4 = &g.members[3];
        assert!(!c4.healthy);
        assert!(
            c4.problem.as_deref().unwrap().contains("no new block"),
            "{c4:?}"
        );
        assert_eq!(g.members[4].observed_role, Some(NodeRole::Observer));

        // t1 claims to be a sealer but the chain does not list it.
        let h = evaluate(&fleet, &state, at(170));
        let t1: Vec<_> = h[5].alerts.iter().map(|a| a.rule).collect();
        assert!(t1.contains(&"role_mismatch"), "{t1:?}");
        assert!(!h[0].alerts.iter().any(|a| a.rule == "role_mismatch"));
    }

    #[test]
    fn a_disk_filling_fast_warns_once_the_trend_is_long_enough() {
        let fleet = load_fleet_from_str(INVENTORY, ConfigSource::Embedded).unwrap();
        let mut state = FleetState::new(2);
        let mut c = ok_case();
        let now0 = 1_000_000u64;
        // 1% of the disk a minute: full in about an hour from 41%.
        let mut last = Vec::new();
        for k in 0..=61u64 {
            c.disk_percent = 20.0 + (k as f64) * 0.5;
            let secs = now0 + k * 60;
            state.apply(Observation {
                host: 0,
                started: at(secs),
                elapsed: Duration::ZERO,
                outcome: Ok(probed(&c, secs as i64)),
            });
            let h = evaluate(&fleet, &state, at(secs));
            last = h[0].alerts.iter().map(|a| a.rule).collect::<Vec<_>>();
            if k < 60 {
                assert!(!last.contains(&"disk_filling"), "minute {k}: {last:?}");
            }
        }
        assert!(last.contains(&"disk_filling"), "{last:?}");
    }

    #[test]
    fn slow_parts_read_earlier_are_still_judged() {
        let fleet = load_fleet_from_str(INVENTORY, ConfigSource::Embedded).unwrap();
        let mut state = FleetState::new(2);
        let c = Case {
            cert: CertCase::Days(3),
            ..ok_case()
        };
        state.apply(Observation {
            host: 0,
            started: at(1_000_000),
            elapsed: Duration::ZERO,
            outcome: Ok(probed(&c, 1_000_000)),
        });
        let later = Case {
            cert: CertCase::NotRead,
            log_errors: None,
            ..c
        };
        state.apply(Observation {
            host: 0,
            started: at(1_000_005),
            elapsed: Duration::ZERO,
            outcome: Ok(probed(&later, 1_000_005)),
        });
        assert!(matches!(state.hosts[0].certs, Some(Timed { .. })));
        let h = evaluate(&fleet, &state, at(1_000_005));
        assert_eq!(h[0].alerts[0].rule, "cert_expiring");
    }

    #[test]
    fn unreachable_host_is_critical_and_names_the_reason() {
        let fleet = load_fleet_from_str(INVENTORY, ConfigSource::Embedded).unwrap();
        let mut state = FleetState::new(2);
        state.apply(Observation {
            host: 0,
            started: at(10),
            elapsed: Duration::ZERO,
            outcome: Err(Unreachable {
                kind: UnreachableKind::HostKeyChanged,
                message: "HOST KEY CHANGED".into(),
                retry_in: None,
            }),
        });
        let h = evaluate(&fleet, &state, at(10));
        assert_eq!(h[0].status, Status::Critical);
        assert_eq!(h[0].alerts[0].rule, "host_key_changed");
        assert!(h[0].unreachable());
        assert_eq!(h[1].status, Status::Unknown, "never polled");
    }

    #[test]
    fn a_stalled_height_is_critical_after_the_threshold() {
        let fleet = load_fleet_from_str(INVENTORY, ConfigSource::Embedded).unwrap();
        let c = Case {
            height: Metric::Value(7),
            other_height: 7,
            ..ok_case()
        };
        let mut state = FleetState::new(2);
        state.apply(Observation {
            host: 0,
            started: at(1000),
            elapsed: Duration::ZERO,
            outcome: Ok(probed(&c, 1000)),
        });
        state.apply(Observation {
            host: 0,
            started: at(1120),
            elapsed: Duration::ZERO,
            outcome: Ok(probed(&c, 1120)),
        });
        assert_eq!(
            evaluate(&fleet, &state, at(1120))[0].status,
            Status::Ok,
            "exactly 2m is not yet stalled"
        );
        state.apply(Observation {
            host: 0,
            started: at(1121),
            elapsed: Duration::ZERO,
            outcome: Ok(probed(&c, 1121)),
        });
        let h = evaluate(&fleet, &state, at(1121));
        assert_eq!(h[0].alerts[0].rule, "height_stalled");
    }

    #[test]
    fn backup_change_helper() {
        let b = |latest: u64, previous: Option<u64>| BackupObs {
            name: "pg".into(),
            latest: Ok(Some(BackupFile {
                path: "/b/2".into(),
                mtime: 2,
                size_bytes: latest,
            })),
            previous: previous.map(|size_bytes| BackupFile {
                path: "/b/1".into(),
                mtime: 1,
                size_bytes,
            }),
        };
        let c = backup_change(&b(50, Some(200))).unwrap();
        assert_eq!(c.percent, -75.0);
        assert!(c.shrunk(75.0) && !c.shrunk(76.0));
        assert_eq!(backup_change(&b(50, None)), None);
        assert!(!backup_change(&b(0, Some(0))).unwrap().shrunk(90.0));
    }

    /// Issue 10: a 1,000-byte backup after a 200,000-byte one read "100% smaller" (it is
    /// 99.5%). Only an empty file is 100% smaller.
    #[test]
    fn a_shrink_that_leaves_bytes_never_reads_100_percent() {
        let change = |latest: u64, previous: u64| {
            let percent = (latest as f64 - previous as f64) * 100.0 / previous as f64;
            BackupChange {
                latest_bytes: latest,
                previous_bytes: previous,
                percent,
            }
        };
        let c = change(1_000, 200_000);
        assert_eq!(c.shrink_text(), "99.5%");
        assert_eq!(c.percent_text(), "-99.5%");
        assert_eq!(change(1, 1_000_000_000).shrink_text(), "99.9%");
        assert_eq!(change(0, 200_000).percent_text(), "-100%");
        assert_eq!(change(5_000, 200_000).percent_text(), "-98%");
        assert_eq!(change(50, 200).percent_text(), "-75%");
        assert_eq!(change(210, 200).percent_text(), "+5%");
        assert_eq!(change(200, 200).percent_text(), "+0%");
    }
}

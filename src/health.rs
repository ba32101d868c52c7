//! Health rules: pure functions from inventory + state + "now" to a status and alerts per host.
//!
//! Nothing here does I/O or reads the clock; the console and `status` call [`evaluate`] with
//! the time they render for. Each rule has a stable name (`service_down`, `disk_usage`, …) that
//! appears in `status --json` and will key alert lifecycles.

use std::collections::HashMap;
use std::time::SystemTime;

use serde::Serialize;

use crate::inventory::{Fleet, Host};
use crate::observation::{Metric, ServiceState, UnreachableKind};
use crate::state::{FleetState, HostState};

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

/// One failed rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// How bad.
    pub severity: Severity,
    /// Stable rule name.
    pub rule: &'static str,
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

/// Hosts whose chain heights are compared for lag: same chain kind and consensus group.
fn chain_key(host: &Host) -> Option<String> {
    let chain = host.chain.as_ref()?;
    Some(format!(
        "{:?}/{}",
        chain.kind,
        host.consensus_group.as_deref().unwrap_or("")
    ))
}

/// Judges every host.
pub fn evaluate(fleet: &Fleet, state: &FleetState, now: SystemTime) -> Vec<HostHealth> {
    let mut best: HashMap<String, u64> = HashMap::new();
    for (host, hs) in fleet.hosts.iter().zip(&state.hosts) {
        if let (Some(key), Some(h)) = (chain_key(host), current_height(hs)) {
            let e = best.entry(key).or_insert(h);
            *e = (*e).max(h);
        }
    }
    fleet
        .hosts
        .iter()
        .zip(&state.hosts)
        .map(|(host, hs)| {
            let best = chain_key(host).and_then(|k| best.get(&k).copied());
            evaluate_host(fleet, host, hs, best, now)
        })
        .collect()
}

fn current_height(hs: &HostState) -> Option<u64> {
    if hs.error.is_some() {
        return None;
    }
    hs.probed.as_ref()?.chain.as_ref()?.height.value().copied()
}

/// Judges one host given the best height of its chain.
pub fn evaluate_host(
    fleet: &Fleet,
    host: &Host,
    hs: &HostState,
    best_height: Option<u64>,
    now: SystemTime,
) -> HostHealth {
    let t = &fleet.thresholds;
    let mut alerts = Vec::new();
    let mut push = |severity, rule, message: String| {
        alerts.push(Alert {
            severity,
            rule,
            message,
        })
    };

    if hs.polled_at.is_none() {
        return HostHealth {
            status: Status::Unknown,
            alerts: Vec::new(),
            lag: None,
        };
    }
    if let Some(err) = &hs.error {
        let rule = match err.kind {
            UnreachableKind::HostKeyChanged => "host_key_changed",
            UnreachableKind::HostKeyUnknown => "host_key_unknown",
            UnreachableKind::Auth => "ssh_auth_failed",
            _ => "host_unreachable",
        };
        push(Severity::Critical, rule, err.message.clone());
        // Data from before the host went away is not judged: it may be stale.
        return finish(alerts, None);
    }
    let Some(p) = &hs.probed else {
        return finish(alerts, None);
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
                    format!("{} is {state}{detail}", s.name),
                );
            }
            ServiceState::Unknown => push(
                Severity::Warning,
                "service_unknown",
                format!("state of {} is unknown: {}", s.name, s.detail),
            ),
        }
    }
    for d in &p.disks {
        match &d.usage {
            Ok(u) if u.used_percent >= t.disk_crit_percent => push(
                Severity::Critical,
                "disk_full",
                format!(
                    "{} is {:.0}% full (critical at {:.0}%)",
                    d.mount, u.used_percent, t.disk_crit_percent
                ),
            ),
            Ok(u) if u.used_percent >= t.disk_warn_percent => push(
                Severity::Warning,
                "disk_usage",
                format!(
                    "{} is {:.0}% full (warning at {:.0}%)",
                    d.mount, u.used_percent, t.disk_warn_percent
                ),
            ),
            Ok(_) => {}
            Err(e) => push(
                Severity::Warning,
                "probe_error",
                format!("disk {}: {e}", d.mount),
            ),
        }
    }
    let host_now = p.host_time.unwrap_or_else(|| epoch_secs(now));
    for (b, set) in p.backups.iter().zip(&host.backups) {
        match &b.latest {
            Ok(Some(file)) => {
                let age = host_now.saturating_sub(file.mtime).max(0) as u64;
                let limit = set.every.as_secs_f64() * 1.5;
                if age as f64 > limit {
                    push(
                        Severity::Critical,
                        "backup_stale",
                        format!(
                            "newest {} backup is {} old (expected every {})",
                            b.name,
                            humantime::format_duration(std::time::Duration::from_secs(age)),
                            humantime::format_duration(set.every)
                        ),
                    );
                }
            }
            Ok(None) => push(
                Severity::Critical,
                "backup_missing",
                format!(
                    "no {} backup matching {} in {}",
                    b.name, set.pattern, set.dir
                ),
            ),
            Err(e) => push(
                Severity::Warning,
                "probe_error",
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
                            format!("{behind} blocks behind the best node ({best})"),
                        );
                    }
                }
                if let Some(changed) = hs.height_changed_at
                    && let Ok(still) = now.duration_since(changed)
                    && still > t.height_stall
                {
                    push(
                        Severity::Critical,
                        "height_stalled",
                        format!(
                            "no new block for {} (height {h})",
                            humantime::format_duration(std::time::Duration::from_secs(
                                still.as_secs()
                            ))
                        ),
                    );
                }
            }
            Metric::Unavailable(why) => push(
                Severity::Warning,
                "chain_height_unavailable",
                format!("height unavailable: {why}"),
            ),
            Metric::Error(e) => push(
                Severity::Critical,
                "chain_rpc_error",
                format!("chain RPC failed: {e}"),
            ),
        }
        if let Metric::Value(peers) = &c.peers
            && *peers < t.min_peers
        {
            push(
                Severity::Warning,
                "peers_low",
                format!("{peers} peers (minimum {})", t.min_peers),
            );
        }
        if let Metric::Value(true) = &c.syncing {
            push(
                Severity::Warning,
                "syncing",
                "node reports it is syncing".into(),
            );
        }
    }
    for e in &p.probe_errors {
        push(Severity::Warning, "probe_error", e.clone());
    }
    finish(alerts, lag)
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

fn epoch_secs(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::inventory::{ChainKind, ConfigSource, load_fleet_from_str};
    use crate::observation::*;

    const INVENTORY: &str = r#"
[fleet]
name = "t"
[thresholds]
disk_warn_percent = 80
disk_crit_percent = 90
height_lag_warn = 5
height_stall = "2m"
min_peers = 2
[[hosts]]
name = "a"
address = "10.0.0.1"
services = [{ name = "geth", kind = "systemd", unit = "geth.service" }]
disks = [{ mount = "/data" }]
backups = [{ name = "pg", dir = "/b", pattern = "*.gz", every = "24h" }]
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
[[hosts]]
name = "b"
address = "10.0.0.2"
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
"#;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[derive(Clone)]
    struct Case {
        name: &'static str,
        service: ServiceState,
        disk_percent: f64,
        backup_age: i64,
        height: Metric<u64>,
        peers: Metric<u64>,
        other_height: u64,
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
                    size_bytes: 10,
                })),
                previous: None,
            }],
            chain: Some(ChainObs {
                kind: ChainKind::Ethereum,
                height: c.height.clone(),
                syncing: Metric::Value(false),
                peers: c.peers.clone(),
                client: None,
            }),
            ..Probed::default()
        }
    }

    #[test]
    fn rule_table() {
        let fleet = load_fleet_from_str(INVENTORY, ConfigSource::Embedded).unwrap();
        let ok = Case {
            name: "all fine",
            service: ServiceState::Running,
            disk_percent: 41.0,
            backup_age: 3600,
            height: Metric::Value(100),
            peers: Metric::Value(5),
            other_height: 100,
            expect_status: Status::Ok,
            expect_rules: &[],
        };
        let cases = [
            Case {
                name: "service stopped",
                service: ServiceState::Stopped,
                expect_status: Status::Critical,
                expect_rules: &["service_down"],
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
                name: "rpc down",
                height: Metric::Error("connection refused".into()),
                expect_status: Status::Critical,
                expect_rules: &["chain_rpc_error"],
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
        assert_eq!(h[1].status, Status::Unknown, "never polled");
    }

    #[test]
    fn a_stalled_height_is_critical_after_the_threshold() {
        let fleet = load_fleet_from_str(INVENTORY, ConfigSource::Embedded).unwrap();
        let c = Case {
            name: "",
            service: ServiceState::Running,
            disk_percent: 1.0,
            backup_age: 1,
            height: Metric::Value(7),
            peers: Metric::Value(5),
            other_height: 7,
            expect_status: Status::Ok,
            expect_rules: &[],
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
}

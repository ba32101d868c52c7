//! The monitoring-stack renderings of a [`StatusReport`]: the Prometheus text exposition format
//! (`status --format prometheus`, for node_exporter's textfile collector, and `serve`'s
//! `/metrics`) and the monitoring-plugin first line (`status --format nagios`).
//!
//! Pure: text from a report, nothing else. The metric names, types and labels are a contract
//! listed in [`METRICS`] and in docs/monitoring.md (a test compares the two); add metrics, never
//! rename one.

use std::fmt::Write as _;

use crate::observation::ServiceState;
use crate::report::{StatusReport, Summary};

/// The Prometheus metric type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// A value that goes up and down.
    Gauge,
    /// A count that only goes up (from 0 when the process started).
    Counter,
}

impl MetricType {
    /// The name used on the `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
        }
    }
}

/// One metric family fleetdeck exports.
#[derive(Debug, Clone, Copy)]
pub struct MetricDesc {
    /// Metric name (`fleetdeck_*`).
    pub name: &'static str,
    /// Its type.
    pub kind: MetricType,
    /// Its labels, in the order they are written.
    pub labels: &'static [&'static str],
    /// The `# HELP` text.
    pub help: &'static str,
}

const fn gauge(
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
) -> MetricDesc {
    MetricDesc {
        name,
        kind: MetricType::Gauge,
        labels,
        help,
    }
}

const HOSTS: MetricDesc = gauge(
    "fleetdeck_hosts",
    &["status"],
    "Selected hosts by status (ok, warning, critical, unknown).",
);
const HOST_UP: MetricDesc = gauge(
    "fleetdeck_host_up",
    &["host"],
    "1 when the latest poll reached the host, else 0.",
);
const HOST_STATUS: MetricDesc = gauge(
    "fleetdeck_host_status",
    &["host"],
    "Host status as a monitoring plugin code: 0 ok, 1 warning, 2 critical, 3 unknown.",
);
const POLL: MetricDesc = gauge(
    "fleetdeck_poll_duration_seconds",
    &["host"],
    "How long fleetdeck's latest poll of the host took.",
);
const SERVICE_UP: MetricDesc = gauge(
    "fleetdeck_service_up",
    &["host", "service"],
    "1 when the service is running, else 0.",
);
const SERVICE_STATE: MetricDesc = gauge(
    "fleetdeck_service_state",
    &["host", "service", "state"],
    "1 for the service's current state (running, stopped, failed, unknown), 0 for the others.",
);
const CHAIN_HEIGHT: MetricDesc = gauge(
    "fleetdeck_chain_height",
    &["host"],
    "Block height (epoch for Conflux) of the host's chain node.",
);
const CHAIN_LAG: MetricDesc = gauge(
    "fleetdeck_chain_lag_blocks",
    &["host"],
    "Blocks behind the best node of the same chain.",
);
const CHAIN_PEERS: MetricDesc = gauge(
    "fleetdeck_chain_peers",
    &["host"],
    "Peer count of the host's chain node.",
);
const DISK: MetricDesc = gauge(
    "fleetdeck_disk_used_ratio",
    &["host", "mount"],
    "Used fraction of the filesystem (0 to 1).",
);
const BACKUP: MetricDesc = gauge(
    "fleetdeck_backup_age_seconds",
    &["host", "backup"],
    "Age of the newest file of the backup set (host clock).",
);
const CERT: MetricDesc = gauge(
    "fleetdeck_cert_expiry_seconds",
    &["host", "cert"],
    "Seconds until the certificate expires (negative once expired).",
);
const ALERTS: MetricDesc = gauge(
    "fleetdeck_alerts",
    &["host", "severity"],
    "Failed health rules on the host by severity (warning, critical).",
);

const POLLS: MetricDesc = MetricDesc {
    name: "fleetdeck_polls_total",
    kind: MetricType::Counter,
    labels: &[],
    help: "Polls finished by this fleetdeck serve process (all hosts).",
};
const SKIPPED: MetricDesc = MetricDesc {
    name: "fleetdeck_poll_skipped_ticks_total",
    kind: MetricType::Counter,
    labels: &[],
    help: "Poll ticks skipped because the previous poll of the same host was still running.",
};

/// The running poller's own counters (`fleetdeck serve` only: a one-shot `status` has none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollerCounters {
    /// Polls finished.
    pub polls: u64,
    /// Ticks skipped because a host's previous poll was still running.
    pub skipped_ticks: u64,
}

/// Every metric family, in the order they are written.
pub const METRICS: &[MetricDesc] = &[
    HOSTS,
    HOST_UP,
    HOST_STATUS,
    POLL,
    SERVICE_UP,
    SERVICE_STATE,
    CHAIN_HEIGHT,
    CHAIN_LAG,
    CHAIN_PEERS,
    DISK,
    BACKUP,
    CERT,
    ALERTS,
    POLLS,
    SKIPPED,
];

/// One sample: its label values (in [`MetricDesc::labels`] order) and value.
type Sample = (Vec<String>, f64);

/// The Prometheus text exposition format (version 0.0.4) of a report. Families with no sample
/// are left out; no timestamps (the textfile collector refuses them).
pub fn prometheus_text(report: &StatusReport) -> String {
    prometheus_text_with(report, None)
}

/// [`prometheus_text`] plus the running poller's counters, when there is one (`serve`).
pub fn prometheus_text_with(report: &StatusReport, poller: Option<PollerCounters>) -> String {
    let mut families: Vec<(MetricDesc, Vec<Sample>)> =
        METRICS.iter().map(|d| (*d, Vec::new())).collect();
    let mut push = |d: MetricDesc, labels: Vec<String>, value: f64| {
        if let Some((_, samples)) = families.iter_mut().find(|(f, _)| f.name == d.name) {
            samples.push((labels, value));
        }
    };
    let s = &report.summary;
    for (status, n) in [
        ("ok", s.ok),
        ("warning", s.warning),
        ("critical", s.critical),
        ("unknown", s.unknown),
    ] {
        push(HOSTS, vec![status.into()], n as f64);
    }
    for h in &report.hosts {
        let host = || h.name.clone();
        push(HOST_UP, vec![host()], f64::from(u8::from(h.reachable)));
        push(HOST_STATUS, vec![host()], f64::from(status_code(h.status)));
        if let Some(ms) = h.poll_ms {
            push(POLL, vec![host()], ms as f64 / 1000.0);
        }
        for svc in &h.services {
            let up = svc.state == ServiceState::Running;
            push(
                SERVICE_UP,
                vec![host(), svc.name.clone()],
                f64::from(u8::from(up)),
            );
            for state in [
                ServiceState::Running,
                ServiceState::Stopped,
                ServiceState::Failed,
                ServiceState::Unknown,
            ] {
                push(
                    SERVICE_STATE,
                    vec![host(), svc.name.clone(), service_state(state).into()],
                    f64::from(u8::from(svc.state == state)),
                );
            }
        }
        if let Some(c) = &h.chain {
            if let Some(v) = c.height {
                push(CHAIN_HEIGHT, vec![host()], v as f64);
            }
            if let Some(v) = c.lag {
                push(CHAIN_LAG, vec![host()], v as f64);
            }
            if let Some(v) = c.peers {
                push(CHAIN_PEERS, vec![host()], v as f64);
            }
        }
        for d in &h.disks {
            if let Some(p) = d.used_percent {
                push(DISK, vec![host(), d.mount.clone()], p / 100.0);
            }
        }
        for b in &h.backups {
            if let Some(age) = b.age_seconds {
                push(BACKUP, vec![host(), b.name.clone()], age as f64);
            }
        }
        for c in &h.certs {
            if let Some(days) = c.days_left {
                push(
                    CERT,
                    vec![host(), c.name.clone()],
                    (days * 86_400.0).round(),
                );
            }
        }
        for sev in [
            crate::health::Severity::Warning,
            crate::health::Severity::Critical,
        ] {
            let n = h.alerts.iter().filter(|a| a.severity == sev).count();
            push(ALERTS, vec![host(), sev.as_str().into()], n as f64);
        }
    }
    if let Some(c) = poller {
        push(POLLS, Vec::new(), c.polls as f64);
        push(SKIPPED, Vec::new(), c.skipped_ticks as f64);
    }
    let mut out = String::new();
    for (d, samples) in &families {
        if samples.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {} {}", d.name, escape_help(d.help));
        let _ = writeln!(out, "# TYPE {} {}", d.name, d.kind.as_str());
        for (values, v) in samples {
            out.push_str(d.name);
            if !d.labels.is_empty() {
                out.push('{');
                for (i, (k, val)) in d.labels.iter().zip(values).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape_label(val));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", value_text(*v));
        }
    }
    out
}

/// The monitoring-plugin first line (Nagios plugin guidelines): `FLEETDECK CRITICAL - 2 of 40
/// hosts critical | ok=38 warning=0 critical=2 unknown=0`. The state word follows
/// [`crate::report::exit_code`], so the line and the exit code always agree.
pub fn nagios_line(report: &StatusReport) -> String {
    let s: &Summary = &report.summary;
    let code = crate::report::exit_code(report);
    let text = match code {
        0 => format!("{} of {} hosts ok", s.ok, s.hosts),
        1 => format!("{} of {} hosts warning", s.warning, s.hosts),
        2 => format!("{} of {} hosts critical", s.critical, s.hosts),
        _ if s.hosts == 0 => "no hosts selected".to_string(),
        _ => format!("{} of {} hosts unknown", s.unknown, s.hosts),
    };
    format!(
        "FLEETDECK {} - {text} | ok={} warning={} critical={} unknown={}",
        nagios_state(code),
        s.ok,
        s.warning,
        s.critical,
        s.unknown
    )
}

fn nagios_state(code: u8) -> &'static str {
    match code {
        0 => "OK",
        1 => "WARNING",
        2 => "CRITICAL",
        _ => "UNKNOWN",
    }
}

fn status_code(s: crate::health::Status) -> u8 {
    use crate::health::Status;
    match s {
        Status::Ok => 0,
        Status::Warning => 1,
        Status::Critical => 2,
        Status::Unknown => 3,
    }
}

fn service_state(s: ServiceState) -> &'static str {
    match s {
        ServiceState::Running => "running",
        ServiceState::Stopped => "stopped",
        ServiceState::Failed => "failed",
        ServiceState::Unknown => "unknown",
    }
}

/// A label value as the text format wants it: `\`, `"` and newline escaped.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// HELP text: `\` and newline escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value: Go's float syntax as Prometheus reads it (`+Inf`, `-Inf`, `NaN`).
fn value_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::StatusReport;

    fn report(ok: usize, warning: usize, critical: usize, unknown: usize) -> StatusReport {
        StatusReport {
            fleet: "t".into(),
            generated_at: "2026-01-01T00:00:00Z".into(),
            summary: Summary {
                hosts: ok + warning + critical + unknown,
                reachable: ok + warning + critical,
                ok,
                warning,
                critical,
                unknown,
                stale: 0,
            },
            hosts: Vec::new(),
            sources: Vec::new(),
            rows: Vec::new(),
        }
    }

    #[test]
    fn nagios_lines_for_each_state() {
        assert_eq!(
            nagios_line(&report(38, 0, 2, 0)),
            "FLEETDECK CRITICAL - 2 of 40 hosts critical | ok=38 warning=0 critical=2 unknown=0"
        );
        assert_eq!(
            nagios_line(&report(3, 1, 0, 1)),
            "FLEETDECK WARNING - 1 of 5 hosts warning | ok=3 warning=1 critical=0 unknown=1"
        );
        assert_eq!(
            nagios_line(&report(4, 0, 0, 0)),
            "FLEETDECK OK - 4 of 4 hosts ok | ok=4 warning=0 critical=0 unknown=0"
        );
        assert_eq!(
            nagios_line(&report(2, 0, 0, 1)),
            "FLEETDECK UNKNOWN - 1 of 3 hosts unknown | ok=2 warning=0 critical=0 unknown=1"
        );
        assert_eq!(
            nagios_line(&report(0, 0, 0, 0)),
            "FLEETDECK UNKNOWN - no hosts selected | ok=0 warning=0 critical=0 unknown=0"
        );
    }

    #[test]
    fn nagios_line_agrees_with_exit_code() {
        for (r, code) in [
            (report(1, 1, 1, 1), 2),
            (report(1, 1, 0, 1), 1),
            (report(1, 0, 0, 1), 3),
            (report(1, 0, 0, 0), 0),
        ] {
            assert_eq!(crate::report::exit_code(&r), code);
            let word = nagios_state(code);
            assert!(nagios_line(&r).starts_with(&format!("FLEETDECK {word} - ")));
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(value_text(f64::INFINITY), "+Inf");
        assert_eq!(value_text(0.5), "0.5");
        assert_eq!(value_text(3.0), "3");
    }

    #[test]
    fn exposition_of_a_polled_host_escapes_label_values() {
        use crate::inventory::{ConfigSource, load_fleet_from_str};
        use crate::observation::*;
        use std::time::{Duration, SystemTime};
        let fleet = load_fleet_from_str(
            r#"
[fleet]
name = "t"
[[hosts]]
name = "a1"
address = "10.0.0.1"
services = [{ name = "geth", kind = "systemd", unit = "geth.service" }]
disks = [{ mount = "/data" }]
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
"#,
            ConfigSource::Embedded,
        )
        .unwrap();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut state = crate::state::FleetState::new(1);
        state.apply(Observation {
            host: 0,
            started: now,
            elapsed: Duration::from_millis(250),
            outcome: Ok(Probed {
                host_time: Some(1_800_000_000),
                services: vec![ServiceObs {
                    name: "geth".into(),
                    state: ServiceState::Failed,
                    detail: String::new(),
                    since: None,
                    restarts: None,
                }],
                disks: vec![DiskObs {
                    mount: "/data".into(),
                    usage: Ok(DiskUsage {
                        filesystem: "/dev/vdb".into(),
                        total_bytes: 1000,
                        used_bytes: 412,
                        avail_bytes: 588,
                        used_percent: 41.2,
                        mounted_on: "/data".into(),
                    }),
                }],
                chain: Some(ChainObs {
                    kind: crate::inventory::ChainKind::Ethereum,
                    height: Metric::Value(123),
                    syncing: Metric::Value(false),
                    peers: Metric::Unavailable("not supported by this node".into()),
                    client: None,
                }),
                ..Probed::default()
            }),
        });
        let health = crate::health::evaluate(&fleet, &state, now);
        let mut report = crate::report::status_report(&fleet, &state, &health, &[0], now);
        report.hosts[0].disks[0].mount = "/we\"ird\\path\n".into();
        let text = prometheus_text(&report);
        assert!(text.ends_with('\n'));
        for line in [
            "# TYPE fleetdeck_host_up gauge",
            "fleetdeck_host_up{host=\"a1\"} 1",
            "fleetdeck_poll_duration_seconds{host=\"a1\"} 0.25",
            "fleetdeck_service_up{host=\"a1\",service=\"geth\"} 0",
            "fleetdeck_service_state{host=\"a1\",service=\"geth\",state=\"failed\"} 1",
            "fleetdeck_service_state{host=\"a1\",service=\"geth\",state=\"running\"} 0",
            "fleetdeck_chain_height{host=\"a1\"} 123",
            "fleetdeck_disk_used_ratio{host=\"a1\",mount=\"/we\\\"ird\\\\path\\n\"} 0.41200000000000003",
            "fleetdeck_alerts{host=\"a1\",severity=\"critical\"} 1",
            "fleetdeck_hosts{status=\"critical\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
        // Peers are unavailable: no sample, never 0.
        assert!(!text.contains("fleetdeck_chain_peers"), "{text}");
    }

    #[test]
    fn metric_names_are_valid_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for d in METRICS {
            assert!(d.name.starts_with("fleetdeck_"));
            assert!(
                d.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            );
            assert!(seen.insert(d.name), "{} twice", d.name);
        }
    }
}

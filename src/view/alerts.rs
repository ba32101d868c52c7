//! The Alerts pane: the lifecycle book's alerts as rows, and beside them Alertmanager's
//! ([`external_alert_rows`]), each row marked with where it comes from.
//!
//! Part of [`crate::view`]: pure rows from the inventory, the state, the verdicts and `now`.

use super::*;

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
    /// An Alertmanager alert that fires and is routed (no silence, no inhibition).
    Firing,
    /// An Alertmanager alert muted by a silence.
    Silenced {
        /// When the silence ends (`HH:MMZ`), empty when the silence is not known.
        until: String,
        /// Who created it.
        by: String,
    },
    /// An Alertmanager alert inhibited by another alert.
    Inhibited,
}

impl AlertPhase {
    /// `new`, `acked by alice`, `resolved`.
    pub fn text(&self) -> String {
        match self {
            AlertPhase::New => "new".into(),
            AlertPhase::Acked { by } => format!("acked by {by}"),
            AlertPhase::Resolved => "resolved".into(),
            AlertPhase::Firing => "firing".into(),
            AlertPhase::Silenced { until, by } => match (until.is_empty(), by.is_empty()) {
                (true, true) => "silenced".into(),
                (true, false) => format!("silenced by {by}"),
                (false, true) => format!("silenced to {until}"),
                (false, false) => format!("silenced to {until} by {by}"),
            },
            AlertPhase::Inhibited => "inhibited".into(),
        }
    }
}

/// Where an alert row comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertOrigin {
    /// fleetdeck's own rules (the alert book): `a` acknowledges it.
    Fleetdeck,
    /// Alertmanager: `a` silences it, matching exactly these labels.
    Alertmanager {
        /// The alert's labels.
        labels: BTreeMap<String, String>,
    },
    /// Alertmanager could not be read: the row says why and since when.
    Unreachable,
}

impl AlertOrigin {
    /// The SOURCE cell: `fleetdeck` or `alertmanager`.
    pub fn tag(&self) -> &'static str {
        match self {
            AlertOrigin::Fleetdeck => "fleetdeck",
            AlertOrigin::Alertmanager { .. } | AlertOrigin::Unreachable => "alertmanager",
        }
    }

    /// The SOURCE cell of a narrow table: `fd` or `am`.
    pub fn short_tag(&self) -> &'static str {
        match self {
            AlertOrigin::Fleetdeck => "fd",
            AlertOrigin::Alertmanager { .. } | AlertOrigin::Unreachable => "am",
        }
    }
}

/// One alert, fleet-wide list.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    /// Identity of the alert in the alert book (what an ack names). For an Alertmanager alert:
    /// host (empty when it maps to none), `alertname` and its fingerprint.
    pub key: AlertKey,
    /// Index into `Fleet::hosts`; `None` for an Alertmanager alert that names no inventory host.
    pub host: Option<usize>,
    /// Host name (`-` when none).
    pub host_name: String,
    /// How bad (for colour; an Alertmanager `severity` other than critical/page/error is a
    /// warning).
    pub severity: Severity,
    /// The SEVERITY cell: `critical`, `warning`, or Alertmanager's own label as written.
    pub severity_text: String,
    /// Where it comes from.
    pub source: AlertOrigin,
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
            self.source.tag(),
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
            (AlertPhase::Silenced { .. } | AlertPhase::Inhibited, _) => Status::Unknown,
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
                host: Some(host),
                host_name: t.key.host.clone(),
                severity: t.severity,
                severity_text: t.severity.as_str().to_string(),
                source: AlertOrigin::Fleetdeck,
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

/// Which Alertmanager alerts [`external_alert_rows`] keeps.
#[derive(Debug, Clone, Copy)]
pub enum ExternalScope<'a> {
    /// Those on these hosts (a host looked at, a `:group`).
    Hosts(&'a [usize]),
    /// Every one, host-less ones included (the whole fleet in scope).
    All,
}

/// Alertmanager's active alerts as rows: those placed on a host in scope, then (fleet-wide)
/// those that name no inventory host; each muted one says by which silence, until when and by
/// whom. Alertmanager unreachable at the last poll: one row saying why and when it was last
/// read, instead of alerts that may be gone.
pub fn external_alert_rows(
    ctx: &Ctx,
    scope: ExternalScope,
    am: &crate::alert_source::SourceStatus,
) -> Vec<AlertRow> {
    use crate::alert_source::AmState;
    if let Some(why) = &am.error {
        if matches!(scope, ExternalScope::Hosts(_)) {
            return Vec::new();
        }
        let last_ok = match am.last_ok {
            Some(t) => format!(
                "{} ago",
                short_duration(ctx.now.duration_since(t).unwrap_or_default())
            ),
            None => "never".into(),
        };
        return vec![AlertRow {
            key: AlertKey::new("", "alertmanager_unreachable", ""),
            host: None,
            host_name: "-".into(),
            severity: Severity::Warning,
            severity_text: "warning".into(),
            source: AlertOrigin::Unreachable,
            rule: "unreachable".into(),
            subject: String::new(),
            // Also in its own cell: the message may be cut on a narrow screen.
            value: match am.last_ok {
                Some(_) => format!("ok {}", last_ok),
                None => "never ok".into(),
            },
            message: format!("Alertmanager unreachable: {why}, last ok {last_ok}"),
            since: "-".into(),
            phase: AlertPhase::Firing,
        }];
    }
    let index: BTreeMap<&str, usize> = ctx
        .fleet
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.name.as_str(), i))
        .collect();
    let mut placed = Vec::new();
    let mut hostless = Vec::new();
    for a in &am.snapshot.alerts {
        let host = a.host.as_deref().and_then(|n| index.get(n).copied());
        let keep = match (scope, host) {
            (ExternalScope::Hosts(hs), Some(h)) => hs.contains(&h),
            (ExternalScope::Hosts(_), None) => false,
            (ExternalScope::All, _) => true,
        };
        if !keep {
            continue;
        }
        let severity = match a.severity.to_ascii_lowercase().as_str() {
            "critical" | "page" | "error" | "emergency" | "alert" => Severity::Critical,
            _ => Severity::Warning,
        };
        let phase = if let Some(id) = a.silenced_by.first() {
            let silence = am.silence(id);
            AlertPhase::Silenced {
                until: silence.map(|s| clock_of(&s.ends_at)).unwrap_or_default(),
                by: silence.map(|s| s.created_by.clone()).unwrap_or_default(),
            }
        } else if !a.inhibited_by.is_empty() || a.state == AmState::Suppressed {
            AlertPhase::Inhibited
        } else {
            AlertPhase::Firing
        };
        let since = humantime::parse_rfc3339_weak(&a.starts_at)
            .ok()
            .map(|t| short_duration(ctx.now.duration_since(t).unwrap_or_default()))
            .unwrap_or_else(|| "-".into());
        let host_name = host.map_or_else(|| "-".to_string(), |h| ctx.fleet.hosts[h].name.clone());
        let row = AlertRow {
            key: AlertKey::new(a.host.as_deref().unwrap_or(""), &a.name, &a.fingerprint),
            host,
            host_name,
            severity,
            severity_text: if a.severity.is_empty() {
                "-".into()
            } else {
                a.severity.clone()
            },
            source: AlertOrigin::Alertmanager {
                labels: a.labels.clone(),
            },
            rule: if a.name.is_empty() {
                "-".into()
            } else {
                a.name.clone()
            },
            subject: String::new(),
            value: "-".into(),
            message: a.summary.clone(),
            since,
            phase,
        };
        if host.is_some() {
            placed.push(row);
        } else {
            hostless.push(row);
        }
    }
    // Firing before muted, critical first, then by host and name: stable across polls.
    let order = |r: &AlertRow| {
        (
            !matches!(r.phase, AlertPhase::Firing),
            r.severity != Severity::Critical,
            r.host_name.clone(),
            r.rule.clone(),
            r.key.subject.clone(),
        )
    };
    placed.sort_by_key(order);
    hostless.sort_by_key(order);
    placed.extend(hostless);
    placed
}

/// `HH:MMZ` of an RFC 3339 time (UTC), or the text as written when it does not parse.
fn clock_of(rfc3339: &str) -> String {
    match humantime::parse_rfc3339_weak(rfc3339) {
        Ok(t) => {
            let s = humantime::format_rfc3339_seconds(t).to_string();
            format!("{}Z", s.get(11..16).unwrap_or(&s))
        }
        Err(_) => rfc3339.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert_source::{SourceStatus, parse_alerts, parse_silences};
    use crate::inventory::{ConfigSource, load_fleet_from_str};

    const T0: u64 = 1_800_000_000;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn fleet() -> Fleet {
        load_fleet_from_str(
            "[[hosts]]\nname = \"web-1\"\naddress = \"10.0.0.1\"\n\
             [[hosts]]\nname = \"db-1\"\naddress = \"10.0.0.2\"\n",
            ConfigSource::Embedded,
        )
        .unwrap()
    }

    fn rfc(secs: u64) -> String {
        crate::report::rfc3339(at(secs))
    }

    /// Three alerts as Alertmanager writes them: one on web-1 by `instance`, one silenced on
    /// db-1 by `host`, one naming no inventory host; and the silence muting the second.
    fn status(f: &Fleet) -> SourceStatus {
        let alerts = format!(
            r#"[
 {{"labels": {{"alertname": "DiskFull", "instance": "10.0.0.1:9100", "severity": "critical"}},
   "annotations": {{"summary": "/ is 97% full"}}, "startsAt": "{a}", "fingerprint": "f1",
   "status": {{"state": "active", "silencedBy": [], "inhibitedBy": []}}}},
 {{"labels": {{"alertname": "PgLag", "host": "db-1", "severity": "warning"}},
   "annotations": {{"description": "replica 40 s behind"}}, "startsAt": "{b}", "fingerprint": "f2",
   "status": {{"state": "suppressed", "silencedBy": ["s1"], "inhibitedBy": []}}}},
 {{"labels": {{"alertname": "Watchdog", "severity": "none"}},
   "annotations": {{}}, "startsAt": "{b}", "fingerprint": "f3",
   "status": {{"state": "active", "silencedBy": [], "inhibitedBy": []}}}}
]"#,
            a = rfc(T0 - 300),
            b = rfc(T0 - 60),
        );
        let silences = format!(
            r#"[{{"id": "s1", "matchers": [{{"name": "alertname", "value": "PgLag", "isRegex": false}}],
 "startsAt": "{s}", "endsAt": "{e}", "createdBy": "alice", "comment": "",
 "status": {{"state": "active"}}}}]"#,
            s = rfc(T0 - 60),
            e = rfc(T0 + 7200),
        );
        let mut st = SourceStatus::default();
        st.record(
            Ok(crate::alert_source::Snapshot {
                alerts: parse_alerts("am", &alerts, &f.hosts).unwrap(),
                silences: parse_silences("am", &silences).unwrap(),
            }),
            at(T0 - 10),
        );
        st
    }

    fn rows(f: &Fleet, scope: ExternalScope, st: &SourceStatus) -> Vec<AlertRow> {
        let s = FleetState::new(f.hosts.len());
        let health = crate::health::evaluate(f, &s, at(T0));
        let ctx = Ctx {
            fleet: f,
            state: &s,
            health: &health,
            now: at(T0),
        };
        external_alert_rows(&ctx, scope, st)
    }

    #[test]
    fn alertmanager_alerts_are_placed_on_hosts_firing_first_host_less_last() {
        let f = fleet();
        let r = rows(&f, ExternalScope::All, &status(&f));
        let names: Vec<_> = r
            .iter()
            .map(|r| (r.host_name.as_str(), r.rule.as_str()))
            .collect();
        assert_eq!(
            names,
            [("web-1", "DiskFull"), ("db-1", "PgLag"), ("-", "Watchdog")]
        );
        let disk = &r[0];
        assert_eq!(disk.host, Some(0));
        assert_eq!(disk.severity, Severity::Critical);
        assert_eq!(disk.severity_text, "critical");
        assert_eq!(disk.source.tag(), "alertmanager");
        assert_eq!(disk.message, "/ is 97% full");
        assert_eq!(disk.since, "5m");
        assert_eq!(disk.phase, AlertPhase::Firing);
        let AlertOrigin::Alertmanager { labels } = &disk.source else {
            panic!("not an Alertmanager row: {:?}", disk.source)
        };
        assert_eq!(
            labels.get("instance").map(String::as_str),
            Some("10.0.0.1:9100")
        );
        let lag = &r[1];
        assert_eq!(
            lag.message, "replica 40 s behind",
            "description when no summary"
        );
        assert_eq!(lag.severity, Severity::Warning);
        assert_eq!(
            lag.phase.text(),
            format!(
                "silenced to {}Z by alice",
                &crate::report::rfc3339(at(T0 + 7200))[11..16]
            )
        );
        assert_eq!(lag.status(), Status::Unknown, "a muted alert is not loud");
        let dog = &r[2];
        assert_eq!((dog.host, dog.severity_text.as_str()), (None, "none"));
    }

    #[test]
    fn a_host_scope_keeps_its_alerts_and_drops_the_host_less_ones() {
        let f = fleet();
        let st = status(&f);
        let r = rows(&f, ExternalScope::Hosts(&[1]), &st);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].rule, "PgLag");
        assert!(rows(&f, ExternalScope::Hosts(&[]), &st).is_empty());
    }

    #[test]
    fn an_unreachable_alertmanager_is_one_row_with_why_and_the_last_good_read() {
        let f = fleet();
        let mut st = status(&f);
        st.record(Err("could not connect".into()), at(T0 - 5));
        let r = rows(&f, ExternalScope::All, &st);
        assert_eq!(r.len(), 1, "{r:#?}");
        assert_eq!(r[0].source, AlertOrigin::Unreachable);
        assert_eq!(r[0].host, None);
        assert_eq!(
            r[0].message,
            "Alertmanager unreachable: could not connect, last ok 10s ago"
        );
        // A host's own view has nothing to say about it (the Alerts pane does).
        assert!(rows(&f, ExternalScope::Hosts(&[0]), &st).is_empty());
        let never = SourceStatus {
            error: Some("timed out".into()),
            ..SourceStatus::default()
        };
        let r = rows(&f, ExternalScope::All, &never);
        assert_eq!(
            r[0].message,
            "Alertmanager unreachable: timed out, last ok never"
        );
        // Read again: the alerts come back.
        st.record(Ok(status(&f).snapshot), at(T0));
        assert_eq!(rows(&f, ExternalScope::All, &st).len(), 3);
    }
}

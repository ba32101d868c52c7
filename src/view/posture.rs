//! The Posture pane: one row per host, one cell per security-posture check (✓, ✗, ?), so
//! "which hosts still allow password login" is one glance down a column; and the host pane's
//! posture lines.
//!
//! Part of [`crate::view`]: pure rows from the inventory, the state and `now`.

use super::*;
use crate::posture::{self, Check, CheckResult, CheckState};

/// One host's posture.
#[derive(Debug, Clone, PartialEq)]
pub struct PostureRow {
    /// Index into `Fleet::hosts`.
    pub host: usize,
    /// Host name.
    pub host_name: String,
    /// Whether the inventory reads this host's posture.
    pub enabled: bool,
    /// One per [`Check::ALL`], in that order; empty when the posture is off or not read yet.
    pub checks: Vec<CheckResult>,
    /// One cell per [`Check::ALL`]: its mark and the status it is drawn in (a deviation in
    /// its configured severity; one turned off, or unreadable, as unknown).
    pub cells: Vec<(&'static str, Status)>,
    /// Deviations critical, else warning; unreadable unknown; all passing ok.
    pub status: Status,
    /// `posture off`, `not read yet`, or the deviations in a few words.
    pub note: String,
    /// Freshness of the posture reading.
    pub fresh: Freshness,
}

impl PostureRow {
    /// Fields a filter looks at.
    pub fn filter_fields(&self) -> impl Iterator<Item = &str> {
        [self.host_name.as_str(), self.note.as_str()].into_iter()
    }

    /// The cell of `check`: `✓`, `✗`, `?`, or `-` when nothing was read.
    pub fn mark(&self, check: Check) -> &'static str {
        self.checks
            .iter()
            .find(|c| c.check == check)
            .map_or("-", |c| c.state.mark())
    }

    /// The state of `check`, when read.
    pub fn state(&self, check: Check) -> Option<CheckState> {
        self.checks
            .iter()
            .find(|c| c.check == check)
            .map(|c| c.state)
    }
}

/// The posture of `hosts`.
pub fn posture_rows(ctx: &Ctx, hosts: &[usize]) -> Vec<PostureRow> {
    hosts
        .iter()
        .map(|&i| {
            let (host, hs, _) = ctx.host(i);
            let mut row = PostureRow {
                host: i,
                host_name: host.name.clone(),
                enabled: host.posture.enabled,
                checks: Vec::new(),
                cells: Check::ALL.iter().map(|_| ("-", Status::Unknown)).collect(),
                status: Status::Unknown,
                note: String::new(),
                fresh: Freshness::default(),
            };
            if !host.posture.enabled {
                row.note = "posture off ([posture] in the inventory)".into();
                return row;
            }
            let Some(t) = hs.posture.as_ref() else {
                row.note = "not read yet".into();
                return row;
            };
            row.fresh = Freshness::of(Some(t.at), Cadence::for_host(host).posture, ctx.now);
            row.checks = posture::judge(&t.value, &host.posture, posture::ssh_port(host));
            row.cells = row
                .checks
                .iter()
                .map(|c| {
                    let status = match (c.state, host.posture.severity(c.check)) {
                        (CheckState::Ok, _) => Status::Ok,
                        (CheckState::Deviation, Some(Severity::Critical)) => Status::Critical,
                        (CheckState::Deviation, Some(Severity::Warning)) => Status::Warning,
                        (CheckState::Deviation, None) | (CheckState::Unreadable, _) => {
                            Status::Unknown
                        }
                    };
                    (c.state.mark(), status)
                })
                .collect();
            let deviations: Vec<&CheckResult> = row
                .checks
                .iter()
                .filter(|c| c.state == CheckState::Deviation)
                .collect();
            let severity = deviations
                .iter()
                .filter_map(|c| host.posture.severity(c.check))
                .max();
            row.status = match severity {
                Some(Severity::Critical) => Status::Critical,
                Some(Severity::Warning) => Status::Warning,
                None if row.checks.iter().any(|c| c.state == CheckState::Unreadable) => {
                    Status::Unknown
                }
                None => Status::Ok,
            };
            row.note = if deviations.is_empty() {
                match row
                    .checks
                    .iter()
                    .find(|c| c.state == CheckState::Unreadable)
                {
                    Some(c) => c.detail.clone(),
                    None => "as the manual asks".into(),
                }
            } else {
                deviations
                    .iter()
                    .map(|c| format!("{} {}", c.check.key(), c.value))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::evaluate;
    use crate::inventory::{ConfigSource, load_fleet_from_str};
    use crate::observation::{Observation, Probed};
    use crate::posture::{HistoryFile, HistoryReading, Listener, PostureObs, SshdSettings};

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn reading(password: &str) -> PostureObs {
        PostureObs {
            sshd: Metric::Value(SshdSettings {
                ports: vec![22022],
                password_authentication: password.into(),
                permit_empty_passwords: "no".into(),
                permit_root_login: "no".into(),
                pubkey_authentication: "yes".into(),
                kbd_interactive_authentication: Some("no".into()),
            }),
            listening: Metric::Value(vec![Listener {
                address: "0.0.0.0".into(),
                port: 22022,
            }]),
            root_history: Metric::Value(HistoryReading {
                home: "/root".into(),
                clearing: vec!["/etc/profile:9: history -c".into()],
                file: HistoryFile::Absent,
            }),
        }
    }

    #[test]
    fn one_row_per_host_with_a_mark_per_check_and_the_severity_colour() {
        let fleet = load_fleet_from_str(
            r#"
[posture]
severity = { password_login = "warning" }
[[hosts]]
name = "weak"
port = 22022
[[hosts]]
name = "strong"
port = 22022
[[hosts]]
name = "unread"
[[hosts]]
name = "off"
posture = { enabled = false }
"#,
            ConfigSource::Embedded,
        )
        .unwrap();
        let mut state = FleetState::new(4);
        for (host, password) in [(0, "yes"), (1, "no")] {
            state.apply(Observation {
                host,
                started: at(100),
                elapsed: Duration::from_millis(5),
                outcome: Ok(Probed {
                    posture: Some(Box::new(reading(password))),
                    ..Probed::default()
                }),
            });
        }
        state.apply(Observation {
            host: 2,
            started: at(100),
            elapsed: Duration::from_millis(5),
            outcome: Ok(Probed::default()),
        });
        let now = at(110);
        let health = evaluate(&fleet, &state, now);
        let ctx = Ctx {
            fleet: &fleet,
            state: &state,
            health: &health,
            now,
        };
        let rows = posture_rows(&ctx, &[0, 1, 2, 3]);
        assert_eq!(rows[0].mark(Check::PasswordLogin), "✗");
        assert_eq!(
            rows[0].cells[0],
            ("✗", Status::Warning),
            "configured severity"
        );
        assert_eq!(rows[0].status, Status::Warning);
        assert_eq!(rows[0].note, "password_login yes");
        assert!(rows[1].checks.iter().all(|c| c.state == CheckState::Ok));
        assert_eq!(rows[1].status, Status::Ok);
        assert_eq!(rows[2].note, "not read yet");
        assert_eq!(rows[2].mark(Check::PasswordLogin), "-");
        assert!(!rows[3].enabled);
        // The verdicts: one alert on the weak host, none on the strong one.
        assert_eq!(health[0].alerts[0].rule, "posture_password_login");
        assert_eq!(health[0].alerts[0].severity, Severity::Warning);
        assert!(health[1].alerts.is_empty(), "{:?}", health[1].alerts);
    }
}

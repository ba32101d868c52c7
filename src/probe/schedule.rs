//! Which slow parts a poll includes: host facts, certificates and logs change slowly and cost
//! more (a dozen forks for the facts, one `openssl` per certificate, a tail per log), so they
//! ride along in the same batched exec only when due.
//!
//! This module owns the cadences ([`Cadence`]) and the bookkeeping of when each part last ran
//! ([`Schedule`]); it never reads a clock — the caller passes `Instant`s — and never polls.
//! A part that was due on a poll that did not reach the host stays due, so the first poll
//! after a host comes back brings everything.
//!
//! Callers: the poller (one [`Schedule`] per host task) and the panes, which use
//! [`Cadence::for_host`] to tell whether facts, certificates or logs are stale (older than
//! twice their cadence).

use std::time::{Duration, Instant};

use crate::inventory::Host;

/// What a poll includes beyond the every-poll probes (time, load, uptime, disks, services,
/// backups, chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPlan {
    /// Host facts (kernel, CPU, memory, filesystems, MACs, logins, DMI).
    pub facts: bool,
    /// Certificates.
    pub certs: bool,
    /// Logs.
    pub logs: bool,
    /// Security posture (sshd settings, listening ports, root's history).
    pub posture: bool,
}

impl PollPlan {
    /// Everything: what a one-shot `fleetdeck status` polls.
    pub const ALL: PollPlan = PollPlan {
        facts: true,
        certs: true,
        logs: true,
        posture: true,
    };

    /// Only the every-poll probes.
    pub const BASIC: PollPlan = PollPlan {
        facts: false,
        certs: false,
        logs: false,
        posture: false,
    };
}

/// How often each slow part is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// Host facts.
    pub facts: Duration,
    /// Certificates (days to expiry move slowly; a renewed file should show within minutes).
    pub certs: Duration,
    /// Log tails.
    pub logs: Duration,
    /// Security posture (a hardened sshd changes rarely; a fix should show within minutes).
    pub posture: Duration,
}

impl Cadence {
    /// The cadences used unless a host polls even less often.
    pub const DEFAULT: Cadence = Cadence {
        facts: Duration::from_secs(60),
        certs: Duration::from_secs(300),
        logs: Duration::from_secs(30),
        posture: Duration::from_secs(300),
    };

    /// The cadences of `host`: the defaults, but never more often than the host is polled.
    pub fn for_host(host: &Host) -> Cadence {
        let at_least = |d: Duration| d.max(host.interval);
        Cadence {
            facts: at_least(Self::DEFAULT.facts),
            certs: at_least(Self::DEFAULT.certs),
            logs: at_least(Self::DEFAULT.logs),
            posture: at_least(Self::DEFAULT.posture),
        }
    }
}

/// When each slow part of one host last ran.
#[derive(Debug, Clone)]
pub struct Schedule {
    cadence: Cadence,
    has_certs: bool,
    has_logs: bool,
    has_posture: bool,
    facts_at: Option<Instant>,
    certs_at: Option<Instant>,
    logs_at: Option<Instant>,
    posture_at: Option<Instant>,
}

impl Schedule {
    /// A schedule for `host`; everything is due on the first poll.
    pub fn for_host(host: &Host) -> Schedule {
        Schedule {
            cadence: Cadence::for_host(host),
            has_certs: !host.certs.is_empty(),
            has_logs: !host.logs.is_empty(),
            has_posture: host.posture.enabled,
            facts_at: None,
            certs_at: None,
            logs_at: None,
            posture_at: None,
        }
    }

    /// The cadences in use.
    pub fn cadence(&self) -> Cadence {
        self.cadence
    }

    /// What a poll starting at `now` should include.
    pub fn plan(&self, now: Instant) -> PollPlan {
        // A poll a little early (ticks jitter) still counts: the cadence is not a deadline.
        let slack = |every: Duration| every.mul_f64(0.9);
        let due = |last: Option<Instant>, every: Duration| {
            last.is_none_or(|t| now.saturating_duration_since(t) >= slack(every))
        };
        PollPlan {
            facts: due(self.facts_at, self.cadence.facts),
            certs: self.has_certs && due(self.certs_at, self.cadence.certs),
            logs: self.has_logs && due(self.logs_at, self.cadence.logs),
            posture: self.has_posture && due(self.posture_at, self.cadence.posture),
        }
    }

    /// Records a poll made with `plan` at `now`; a poll that did not reach the host records
    /// nothing, so its parts stay due.
    pub fn ran(&mut self, plan: PollPlan, now: Instant, reached: bool) {
        if !reached {
            return;
        }
        if plan.facts {
            self.facts_at = Some(now);
        }
        if plan.certs {
            self.certs_at = Some(now);
        }
        if plan.logs {
            self.logs_at = Some(now);
        }
        if plan.posture {
            self.posture_at = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{CertPath, Host};

    fn host(interval: u64) -> Host {
        Host {
            name: "h".into(),
            interval: Duration::from_secs(interval),
            certs: vec![CertPath {
                name: "node".into(),
                path: "/c".into(),
            }],
            ..Host::default()
        }
    }

    #[test]
    fn everything_first_then_by_cadence() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut s = Schedule::for_host(&host(5));
        let p = s.plan(at(0));
        assert_eq!(
            p,
            PollPlan {
                facts: true,
                certs: true,
                logs: false,
                posture: false
            },
            "no logs configured: never planned"
        );
        s.ran(p, at(0), true);
        assert_eq!(s.plan(at(5)), PollPlan::BASIC);
        assert!(s.plan(at(55)).facts, "a tick early still counts");
        assert!(!s.plan(at(55)).certs);
        s.ran(s.plan(at(60)), at(60), true);
        assert!(!s.plan(at(65)).facts);
        assert!(s.plan(at(300)).certs);
    }

    #[test]
    fn an_unreachable_poll_keeps_parts_due() {
        let t0 = Instant::now();
        let mut s = Schedule::for_host(&host(5));
        s.ran(s.plan(t0), t0, false);
        assert!(s.plan(t0 + Duration::from_secs(5)).facts);
    }

    #[test]
    fn a_slow_host_is_never_asked_more_often_than_it_is_polled() {
        let c = Cadence::for_host(&host(600));
        assert_eq!(c.facts, Duration::from_secs(600));
        assert_eq!(c.logs, Duration::from_secs(600));
        assert_eq!(Cadence::for_host(&host(1)), Cadence::DEFAULT);
    }
}

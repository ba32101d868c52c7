//! Which slow parts a poll includes: host facts, certificates, logs and backup listings change
//! slowly and cost more (a dozen forks for the facts, one `openssl` per certificate, a tail per
//! log, `find | sort | tail` per backup set), so they ride along in the same batched exec only
//! when due.
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
use crate::observation::Probed;

/// What a poll includes beyond the every-poll probes (time, load, uptime, disks, services,
/// chain).
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
    /// The newest files of each backup set.
    pub backups: bool,
    /// The host's wall clock (`date`); between readings [`Schedule::host_time`] derives it
    /// from the host's uptime, which every poll reads with a shell builtin.
    pub clock: bool,
}

impl PollPlan {
    /// Everything: what a one-shot `fleetdeck status` polls.
    pub const ALL: PollPlan = PollPlan {
        facts: true,
        certs: true,
        logs: true,
        posture: true,
        backups: true,
        clock: true,
    };

    /// Only the every-poll probes.
    pub const BASIC: PollPlan = PollPlan {
        facts: false,
        certs: false,
        logs: false,
        posture: false,
        backups: false,
        clock: false,
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
    /// Backup listings (a new file lands hourly at most, usually daily).
    pub backups: Duration,
    /// The host's wall clock: a step of it (NTP, an operator) shows within this long.
    pub clock: Duration,
}

impl Cadence {
    /// The cadences used unless a host polls even less often.
    pub const DEFAULT: Cadence = Cadence {
        // Kernel, CPU, memory size, filesystems, MACs, logins and DMI change rarely, and
        // their dozen forks were the largest part of a host's CPU per poll left (issue 15).
        facts: Duration::from_secs(300),
        certs: Duration::from_secs(300),
        logs: Duration::from_secs(30),
        posture: Duration::from_secs(300),
        backups: Duration::from_secs(300),
        clock: Duration::from_secs(60),
    };

    /// The cadences of `host`: the defaults, but never more often than the host is polled.
    /// Backups are also read at least four times per the most frequent set's `every`: the
    /// newest file kept between readings is then never old enough to make an on-time backup
    /// look late (the stale rule allows 1.5 × `every`; a reading misses at most a quarter).
    pub fn for_host(host: &Host) -> Cadence {
        let at_least = |d: Duration| d.max(host.interval);
        let backups = host
            .backups
            .iter()
            .map(|b| b.every / 4)
            .fold(Self::DEFAULT.backups, Duration::min);
        Cadence {
            facts: at_least(Self::DEFAULT.facts),
            certs: at_least(Self::DEFAULT.certs),
            logs: at_least(Self::DEFAULT.logs),
            posture: at_least(Self::DEFAULT.posture),
            backups: at_least(backups),
            clock: at_least(Self::DEFAULT.clock),
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
    has_backups: bool,
    /// The latest listing left something to watch for (see [`backups_settled`]): list the
    /// backups on every poll until it does not.
    backups_watch: bool,
    /// The host's wall clock at its boot (epoch seconds), from the latest clock reading minus
    /// the uptime read with it; `None` until read, and again after a reboot or a lost poll.
    booted_at: Option<f64>,
    /// The uptime of the latest poll, to notice a reboot (it goes back).
    last_uptime: Option<Duration>,
    clock_at: Option<Instant>,
    facts_at: Option<Instant>,
    certs_at: Option<Instant>,
    logs_at: Option<Instant>,
    posture_at: Option<Instant>,
    backups_at: Option<Instant>,
}

impl Schedule {
    /// A schedule for `host`; everything is due on the first poll.
    pub fn for_host(host: &Host) -> Schedule {
        Schedule {
            cadence: Cadence::for_host(host),
            has_certs: !host.certs.is_empty(),
            has_logs: !host.logs.is_empty(),
            has_posture: host.posture.enabled,
            has_backups: !host.backups.is_empty(),
            backups_watch: false,
            booted_at: None,
            last_uptime: None,
            clock_at: None,
            facts_at: None,
            certs_at: None,
            logs_at: None,
            posture_at: None,
            backups_at: None,
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
            backups: self.has_backups
                && (self.backups_watch || due(self.backups_at, self.cadence.backups)),
            clock: self.booted_at.is_none() || due(self.clock_at, self.cadence.clock),
        }
    }

    /// Records a poll made with `plan` at `now`; a poll that did not reach the host records
    /// nothing, so its parts stay due.
    pub fn ran(&mut self, plan: PollPlan, now: Instant, reached: bool) {
        if !reached {
            // The host may have rebooted meanwhile: its uptime no longer counts from the
            // same boot, so the next poll reads the clock.
            self.booted_at = None;
            return;
        }
        let mark = |last: &mut Option<Instant>, ran: bool| {
            if ran {
                *last = Some(now);
            }
        };
        mark(&mut self.clock_at, plan.clock);
        mark(&mut self.facts_at, plan.facts);
        mark(&mut self.certs_at, plan.certs);
        mark(&mut self.logs_at, plan.logs);
        mark(&mut self.posture_at, plan.posture);
        mark(&mut self.backups_at, plan.backups);
    }

    /// The host's clock of a reached poll: remembered from a poll that read it (as the wall
    /// clock at boot: the reading minus the uptime read with it), derived as that plus the
    /// poll's uptime for a poll that did not. Derived, it is the host's clock within a second
    /// unless the clock was stepped since the reading (then it shows by the next reading,
    /// [`Cadence::clock`]). An uptime that went back (a reboot) forgets the reading, so the
    /// next poll reads the clock again.
    pub fn host_time(&mut self, probed: &mut Probed) {
        let rebooted =
            matches!((probed.uptime, self.last_uptime), (Some(now), Some(before)) if now < before);
        self.last_uptime = probed.uptime;
        if rebooted {
            self.booted_at = None;
        }
        match (probed.host_time, probed.uptime) {
            (Some(t), Some(up)) => self.booted_at = Some(t as f64 - up.as_secs_f64()),
            (None, Some(up)) => {
                probed.host_time = self
                    .booted_at
                    .map(|b| (b + up.as_secs_f64()).floor() as i64);
            }
            _ => {}
        }
    }

    /// Records what a poll that listed the backups found: `settled` as [`backups_settled`]
    /// says. An unsettled listing makes every poll list them until one is settled.
    pub fn backups_listed(&mut self, settled: bool) {
        self.backups_watch = !settled;
    }
}

/// Whether a backup listing leaves nothing to watch for: every set's newest file is younger
/// than its `every` and no smaller than the one before it. Otherwise — a backup due any moment,
/// a set missing, unreadable or shrunk, no host clock to age it by — the next poll lists the
/// backups again, so the new file that answers it shows at once, as when every poll listed
/// them; a settled host is listed on [`Cadence::backups`] only.
pub fn backups_settled(host: &Host, probed: &Probed) -> bool {
    let Some(now) = probed.host_time else {
        return false;
    };
    probed.backups.len() == host.backups.len()
        && probed.backups.iter().zip(&host.backups).all(|(b, set)| {
            let Ok(Some(latest)) = &b.latest else {
                return false;
            };
            let young = now.saturating_sub(latest.mtime) < set.every.as_secs() as i64;
            let shrunk = b
                .previous
                .as_ref()
                .is_some_and(|p| latest.size_bytes < p.size_bytes);
            young && !shrunk
        })
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
                posture: false,
                backups: false,
                clock: true,
            },
            "no logs or backups configured: never planned"
        );
        s.ran(p, at(0), true);
        s.host_time(&mut read_clock(1_000_000, 100.0));
        assert_eq!(s.plan(at(5)), PollPlan::BASIC);
        assert!(!s.plan(at(55)).facts);
        assert!(s.plan(at(295)).facts, "a tick early still counts");
        assert!(s.plan(at(295)).certs);
        s.ran(s.plan(at(300)), at(300), true);
        assert!(!s.plan(at(305)).facts);
        assert!(!s.plan(at(305)).certs);
    }

    #[test]
    fn backups_are_listed_on_their_own_cadence_never_late_for_their_every() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut h = host(5);
        h.backups = vec![crate::inventory::BackupSet {
            name: "pg".into(),
            dir: "/b".into(),
            pattern: "*".into(),
            every: Duration::from_secs(86_400),
        }];
        let mut s = Schedule::for_host(&h);
        assert_eq!(s.cadence().backups, Duration::from_secs(300));
        assert!(s.plan(at(0)).backups, "listed on the first poll");
        s.ran(s.plan(at(0)), at(0), true);
        assert!(!s.plan(at(5)).backups && !s.plan(at(250)).backups);
        assert!(s.plan(at(300)).backups);
        // A set backed up every 10 minutes is listed at least every 2.5 minutes…
        h.backups[0].every = Duration::from_secs(600);
        assert_eq!(Cadence::for_host(&h).backups, Duration::from_secs(150));
        // …but never more often than the host is polled.
        h.backups[0].every = Duration::from_secs(4);
        assert_eq!(Cadence::for_host(&h).backups, Duration::from_secs(5));
    }

    /// A listing with something to watch for — a backup due, a set missing or unreadable, a
    /// shrunk one — makes every poll list the backups until the answer shows.
    #[test]
    fn an_unsettled_listing_is_watched_on_every_poll() {
        use crate::observation::{BackupFile, BackupObs};
        let t0 = Instant::now();
        let mut h = host(5);
        h.backups = vec![crate::inventory::BackupSet {
            name: "pg".into(),
            dir: "/b".into(),
            pattern: "*".into(),
            every: Duration::from_secs(86_400),
        }];
        let file = |age: i64, size: u64| BackupFile {
            path: "/b/x".into(),
            mtime: 1_000_000 - age,
            size_bytes: size,
        };
        let probed = |latest: Result<Option<BackupFile>, String>, previous| Probed {
            host_time: Some(1_000_000),
            backups: vec![BackupObs {
                name: "pg".into(),
                latest,
                previous,
            }],
            ..Probed::default()
        };
        let settled = probed(Ok(Some(file(3600, 10))), Some(file(90_000, 10)));
        assert!(backups_settled(&h, &settled));
        for (why, p) in [
            ("due", probed(Ok(Some(file(90_000, 10))), None)),
            ("missing", probed(Ok(None), None)),
            ("unreadable", probed(Err("denied".into()), None)),
            (
                "shrunk",
                probed(Ok(Some(file(3600, 1))), Some(file(90_000, 10))),
            ),
            (
                "no host clock",
                Probed {
                    host_time: None,
                    ..settled.clone()
                },
            ),
        ] {
            assert!(!backups_settled(&h, &p), "{why}");
        }
        let mut s = Schedule::for_host(&h);
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        s.ran(s.plan(at(0)), at(0), true);
        s.backups_listed(false);
        assert!(s.plan(at(5)).backups, "watched");
        s.ran(s.plan(at(5)), at(5), true);
        s.backups_listed(true);
        assert!(!s.plan(at(10)).backups, "settled: back to the cadence");
        assert!(s.plan(at(305)).backups);
    }

    /// A poll that read `date` (`host_time`) and the uptime.
    fn read_clock(host_time: i64, uptime: f64) -> Probed {
        Probed {
            host_time: Some(host_time),
            uptime: Some(Duration::from_secs_f64(uptime)),
            ..Probed::default()
        }
    }

    /// A poll that read only the uptime.
    fn uptime_only(uptime: f64) -> Probed {
        Probed {
            uptime: Some(Duration::from_secs_f64(uptime)),
            ..Probed::default()
        }
    }

    /// Between clock readings the host's time is the reading's boot time plus the uptime,
    /// within a second of `date`; a reboot (the uptime going back) or a lost poll makes the
    /// next poll read the clock again, and nothing is made up meanwhile.
    #[test]
    fn the_host_clock_is_derived_from_the_uptime_between_readings() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut s = Schedule::for_host(&host(5));
        assert!(s.plan(at(0)).clock, "read on the first poll");
        s.ran(s.plan(at(0)), at(0), true);
        // `date +%s` says …000 while the uptime is 100.25 s: booted at 999 899.75.
        s.host_time(&mut read_clock(1_000_000, 100.25));
        let plan = s.plan(at(5));
        assert!(!plan.clock);
        s.ran(plan, at(5), true);
        let mut p = uptime_only(105.5);
        s.host_time(&mut p);
        assert_eq!(
            p.host_time,
            Some(1_000_005),
            "999 899.75 + 105.5, whole seconds"
        );
        assert!(s.plan(at(60)).clock, "read again on its cadence");
        // A reboot: the uptime went back. No time is made up; the next poll reads it.
        let mut p = uptime_only(3.0);
        s.host_time(&mut p);
        assert_eq!(p.host_time, None);
        let plan = s.plan(at(10));
        assert!(plan.clock);
        s.ran(plan, at(10), true);
        s.host_time(&mut read_clock(1_000_010, 4.0));
        assert!(!s.plan(at(15)).clock);
        // A poll that did not reach the host: the host may have rebooted in between.
        s.ran(s.plan(at(15)), at(15), false);
        assert!(s.plan(at(20)).clock);
        let mut p = uptime_only(20.0);
        s.host_time(&mut p);
        assert_eq!(p.host_time, None);
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

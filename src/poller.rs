//! The poller: one independent task per host, each on its own interval.
//!
//! A host's task polls, sends one [`Observation`], then waits for its next tick. A poll still
//! running when the next tick comes makes that tick be skipped (and counted), never stacked, so
//! a slow host costs at most one poll in flight. Every poll is bounded by the connect and
//! command timeouts, so a hung or dead host delays nobody else. The poller only produces facts;
//! the state store judges them.
//!
//! Callers: the console (`spawn`) and `fleetdeck status` (`poll_once`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::inventory::{Fleet, TransportKind};
use crate::observation::{Observation, Unreachable, UnreachableKind};
use crate::probe::{self, PollPlan, ProbeLimits, Schedule, backups_settled};
use crate::transport::bastions;
use crate::transport::ssh::{self, SshShared};
use crate::transport::{Transport, TransportError};

/// Builds one transport per host, in inventory order; hosts behind a common jump host share
/// one connection to it.
pub fn transports(fleet: &Fleet, shared: &Arc<SshShared>) -> Result<Vec<Transport>, String> {
    let config_path = ssh::ssh_config_path(fleet);
    let needs_ssh = fleet
        .hosts
        .iter()
        .any(|h| h.transport == TransportKind::Ssh);
    let ssh_config = if needs_ssh {
        ssh::read_ssh_config(&config_path)?
    } else {
        None
    };
    // Jump hosts and ProxyCommands are resolved here too: one connection per bastion.
    Ok(bastions::build(fleet, shared, ssh_config.as_ref()))
}

/// Reads the OpenSSH client config the fleet names (`[ssh] config_file`, default
/// `~/.ssh/config`); `None` when the file does not exist.
pub fn ssh_config(fleet: &Fleet) -> Result<Option<ssh::SshConfig>, String> {
    ssh::read_ssh_config(&ssh::ssh_config_path(fleet))
}

/// Probe limits from the fleet's `[ssh]` settings.
pub fn limits(fleet: &Fleet) -> ProbeLimits {
    ProbeLimits {
        command_timeout: fleet.ssh.command_timeout,
        max_output_bytes: fleet.ssh.max_output_bytes,
        rpc_timeout: fleet.ssh.command_timeout.min(Duration::from_secs(10)),
    }
}

/// Polls one host once, everything included, never longer than connect + command timeouts.
pub async fn poll(
    fleet: &Fleet,
    index: usize,
    transport: &Transport,
    limits: &ProbeLimits,
) -> Observation {
    poll_planned(fleet, index, transport, limits, PollPlan::ALL).await
}

/// [`poll`] with only the slow parts (facts, certificates, logs) that `plan` includes.
pub async fn poll_planned(
    fleet: &Fleet,
    index: usize,
    transport: &Transport,
    limits: &ProbeLimits,
    plan: PollPlan,
) -> Observation {
    let host = &fleet.hosts[index];
    let started = SystemTime::now();
    let clock = Instant::now();
    // Connecting first, outside the poll's bound: it is bounded itself (a turn among the
    // handshakes, then `connect_timeout` from the handshake's start), and a host that waited
    // its turn must not have that wait taken from its poll. A failure is reported by the probe
    // below at once (the host is in backoff).
    let _ = transport.ensure_connected().await;
    // The probe bounds each part itself; this outer bound is the last line of defence.
    // A host's own ConnectTimeout may be longer than the fleet's: the bound must not cut it short.
    let connect = transport
        .connect_timeout()
        .map_or(fleet.ssh.connect_timeout, |own| {
            own.max(fleet.ssh.connect_timeout)
        });
    let bound = connect + limits.command_timeout + Duration::from_secs(2);
    let outcome = match tokio::time::timeout(
        bound,
        probe::poll_host_planned(host, transport, limits, plan),
    )
    .await
    {
        Ok(Ok(probed)) => Ok(probed),
        Ok(Err(TransportError::Unreachable(u))) => Err(u),
        Ok(Err(other)) => Err(Unreachable {
            kind: UnreachableKind::Other,
            message: other.to_string(),
            retry_in: None,
        }),
        Err(_) => Err(Unreachable {
            kind: UnreachableKind::Timeout,
            message: format!(
                "poll did not finish within {}",
                humantime::format_duration(bound)
            ),
            retry_in: None,
        }),
    };
    Observation {
        host: index,
        started,
        elapsed: clock.elapsed(),
        outcome,
    }
}

/// Polls every selected host once, concurrently; results in the order of `selected`.
pub async fn poll_once(
    fleet: &Fleet,
    transports: &[Transport],
    selected: &[usize],
) -> Vec<Observation> {
    let limits = limits(fleet);
    let polls = selected
        .iter()
        .map(|&i| poll(fleet, i, &transports[i], &limits));
    futures::future::join_all(polls).await
}

/// Counters the console shows in its status line.
#[derive(Debug, Default)]
pub struct PollerStats {
    /// Polls finished.
    pub polls: AtomicU64,
    /// Ticks skipped because the previous poll of the same host was still running.
    pub skipped_ticks: AtomicU64,
}

/// Running poller tasks; dropping it stops them.
pub struct Poller {
    tasks: Vec<JoinHandle<()>>,
    refresh: Arc<Notify>,
    /// How many refreshes were asked for: each host task polls everything once per new one.
    refreshes: Arc<AtomicU64>,
    /// Shared counters.
    pub stats: Arc<PollerStats>,
    /// Tells the tasks to stop between polls ([`Poller::retire`]).
    stop: tokio::sync::watch::Sender<bool>,
}

impl Poller {
    /// Starts one task per host in `selected`, each sending observations to `tx`; a host
    /// whose status is read from Prometheus (`source = "prometheus"`) gets none.
    pub fn spawn(
        fleet: Arc<Fleet>,
        transports: Vec<Transport>,
        selected: Vec<usize>,
        tx: mpsc::Sender<Observation>,
    ) -> Poller {
        let refresh = Arc::new(Notify::new());
        let refreshes = Arc::new(AtomicU64::new(0));
        let stats = Arc::new(PollerStats::default());
        let limits = Arc::new(limits(&fleet));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let tasks = selected
            .into_iter()
            .filter(|&index| fleet.polled_over_ssh(index))
            .map(|index| {
                let fleet = fleet.clone();
                let transport = transports[index].clone();
                let tx = tx.clone();
                let refresh = refresh.clone();
                let asked = refreshes.clone();
                let stats = stats.clone();
                let limits = limits.clone();
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    let interval_len = fleet.hosts[index].interval;
                    let mut interval = tokio::time::interval(interval_len);
                    // Facts, certificates and logs ride along in the same exec when due.
                    let mut schedule = Schedule::for_host(&fleet.hosts[index]);
                    let mut served = asked.load(Ordering::Relaxed);
                    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                    loop {
                        tokio::select! {
                            _ = interval.tick() => {}
                            _ = refresh.notified() => {}
                            // Retired (or the poller is gone): no new poll.
                            _ = stopped.changed() => break,
                        }
                        // A refresh asked while this host's poll was in flight wakes nothing
                        // (only waiters are notified): the count makes the next poll full.
                        let now_asked = asked.load(Ordering::Relaxed);
                        let asked_since = now_asked != served;
                        served = now_asked;
                        let began = Instant::now();
                        // Asked for (`r`, `:refresh`): the slow parts too — after a fix they
                        // are what must show it (a renewed certificate would wait 5 minutes).
                        let plan = if asked_since {
                            PollPlan::ALL
                        } else {
                            schedule.plan(began)
                        };
                        let mut obs = poll_planned(&fleet, index, &transport, &limits, plan).await;
                        schedule.ran(plan, began, obs.outcome.is_ok());
                        if let Ok(probed) = &mut obs.outcome {
                            // The host's clock between readings, before anything ages by it.
                            schedule.host_time(probed);
                            if plan.backups {
                                schedule
                                    .backups_listed(backups_settled(&fleet.hosts[index], probed));
                            }
                        }
                        stats.polls.fetch_add(1, Ordering::Relaxed);
                        let overran = began.elapsed().as_nanos() / interval_len.as_nanos().max(1);
                        if overran > 0 {
                            stats
                                .skipped_ticks
                                .fetch_add(overran as u64, Ordering::Relaxed);
                        }
                        if tx.send(obs).await.is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        Poller {
            tasks,
            refresh,
            refreshes,
            stats,
            stop,
        }
    }

    /// Stops the tasks without cutting a poll short: a task waiting for its next tick ends at
    /// once, one in the middle of a poll finishes it (its observation goes nowhere once the
    /// receiver is gone) and ends. A reload retires the old poller this way because a poll
    /// aborted halfway can leave a host's resident shell with half a script on its stdin.
    pub fn retire(mut self) {
        let _ = self.stop.send(true);
        // Not aborted by `Drop`: each ends on its own.
        self.tasks.clear();
    }

    /// Asks every host to poll now, everything (facts, certificates and logs too); each still
    /// polls at most once at a time.
    pub fn refresh_now(&self) {
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        self.refresh.notify_waiters();
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

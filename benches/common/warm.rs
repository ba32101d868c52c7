//! The fleet-side benchmark drivers: warm refreshes over persistent connections, and the limit
//! (one exec round trip on an open connection, one fresh handshake).
//!
//! Built only from the library's public API, exactly as the console and `fleetdeck status` use
//! it: `inventory::load_fleet`, `poller::transports`, `poller::poll_planned`,
//! `probe::poll_host_planned` and `Transport::exec`. It owns no process: the hosts are a running test fleet (the caller's
//! `scripts/test-fleet` or `TestFleet`), whose sshd PIDs it only reads in `/proc` to count the
//! CPU the work cost the hosts. It never asserts on speed.
//!
//! Callers: `examples/bench_driver.rs` (driven by `scripts/bench`) and `tests/bench_smoke.rs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetdeck::inventory::{self, Fleet};
use fleetdeck::observation::Observation;
use fleetdeck::poller;
use fleetdeck::probe::{self, PollPlan};
use fleetdeck::transport::ssh::{NoPrompt, SshHost, SshShared};
use fleetdeck::transport::{ExecRequest, Transport};
use serde::Serialize;

use super::procfs;

/// What to measure and against which fleet.
#[derive(Debug, Clone)]
pub struct Options {
    /// The fleetdeck inventory of the test fleet.
    pub config: PathBuf,
    /// Timed repetitions.
    pub reps: usize,
    /// Untimed repetitions after connecting, before timing.
    pub warmup: usize,
    /// PIDs of the fleet's sshd listeners; their process trees' CPU is counted per repetition.
    pub sshd_pids: Vec<u32>,
    /// Pause after each repetition before reading the hosts' CPU, so sshd has reaped what it forked.
    pub settle: Duration,
    /// What each poll includes: [`PollPlan::BASIC`] is the console's refresh every interval (the
    /// slow parts — facts, certificates, logs — ride along only every minute or more);
    /// [`PollPlan::ALL`] is what `fleetdeck status` polls.
    pub plan: PollPlan,
}

/// One timed repetition.
#[derive(Debug, Clone, Serialize)]
pub struct Rep {
    /// Wall time, nanoseconds.
    pub wall_ns: u64,
    /// CPU of this process (all threads), nanoseconds.
    pub client_cpu_ns: u64,
    /// CPU of the sshd process trees (own + reaped), nanoseconds (10 ms resolution).
    pub sshd_cpu_ns: u64,
    /// Hosts whose poll reached the host.
    pub reachable: usize,
    /// Probe errors over all hosts (a healthy test fleet has none).
    pub probe_errors: usize,
}

/// The result of [`warm`].
#[derive(Debug, Clone, Serialize)]
pub struct WarmReport {
    /// Hosts in the inventory.
    pub hosts: usize,
    /// Wall time of the first refresh, which also connects, authenticates and verifies every host.
    pub connect_refresh_ns: u64,
    /// Hosts that the first refresh reached.
    pub connected: usize,
    /// The timed refreshes.
    pub reps: Vec<Rep>,
    /// Peak resident memory of this process (`VmHWM`), kB.
    pub peak_rss_kb: u64,
    /// Resident memory at the end, with every connection open, kB.
    pub rss_kb: u64,
    /// Worker threads of the runtime (= cores).
    pub threads: usize,
    /// First error seen, to tell a broken fleet from a slow one.
    pub first_error: Option<String>,
}

/// The result of [`limit`].
#[derive(Debug, Clone, Serialize)]
pub struct LimitReport {
    /// Host measured (inventory name).
    pub host: String,
    /// One `true` on an exec channel of the open russh connection, per call.
    pub exec_true: Vec<Rep>,
    /// One poll of the host with the options' plan (the batched probe script + parsing) on the
    /// open connection.
    pub poll: Vec<Rep>,
    /// One fresh connection: TCP, key exchange, host key check against known_hosts and
    /// public-key authentication (the disconnect afterwards is not timed).
    pub handshake: Vec<Rep>,
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    // The same runtime as the `fleetdeck` binary: multi-threaded, one worker per core.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

fn load(config: &std::path::Path) -> Result<(Fleet, Vec<Transport>), String> {
    let fleet = inventory::load_fleet(Some(config)).map_err(|e| e.to_string())?;
    let shared = SshShared::new(Arc::new(NoPrompt));
    let transports = poller::transports(&fleet, &shared)?;
    Ok((fleet, transports))
}

fn count(observations: &[Observation]) -> (usize, usize, Option<String>) {
    let mut reachable = 0;
    let mut errors = 0;
    let mut first = None;
    for o in observations {
        match &o.outcome {
            Ok(p) => {
                reachable += 1;
                errors += p.probe_errors.len();
                if first.is_none() {
                    first = p.probe_errors.first().cloned();
                }
            }
            Err(u) => {
                if first.is_none() {
                    first = Some(u.message.clone());
                }
            }
        }
    }
    (reachable, errors, first)
}

fn sshd_ns(pids: &[u32]) -> u64 {
    if pids.is_empty() {
        return 0;
    }
    procfs::tree_cpu_ticks(pids).0 * 1_000_000_000 / procfs::clock_ticks_per_second()
}

/// Times one piece of work, with this process's CPU and the hosts' CPU around it.
async fn timed<F, T>(opts: &Options, work: F) -> (Rep, T)
where
    F: std::future::Future<Output = T>,
{
    let sshd0 = sshd_ns(&opts.sshd_pids);
    let cpu0 = procfs::self_cpu_snapshot();
    let t0 = Instant::now();
    let out = work.await;
    let wall_ns = t0.elapsed().as_nanos() as u64;
    let cpu1 = procfs::self_cpu_snapshot();
    if !opts.settle.is_zero() {
        tokio::time::sleep(opts.settle).await;
    }
    let sshd1 = sshd_ns(&opts.sshd_pids);
    (
        Rep {
            wall_ns,
            client_cpu_ns: procfs::cpu_delta_ns(&cpu0, &cpu1),
            sshd_cpu_ns: sshd1.saturating_sub(sshd0),
            reachable: 0,
            probe_errors: 0,
        },
        out,
    )
}

async fn disconnect_all(transports: &[Transport]) {
    let closing = transports.iter().filter_map(|t| match t {
        Transport::Ssh(h) => Some(async move {
            let _ = tokio::time::timeout(Duration::from_secs(1), h.disconnect()).await;
        }),
        Transport::Local(_) => None,
    });
    futures::future::join_all(closing).await;
}

/// Every selected host polled once, concurrently, with `plan` — `poller::poll_once` with a plan.
async fn refresh(
    fleet: &Fleet,
    transports: &[Transport],
    selected: &[usize],
    plan: PollPlan,
) -> Vec<Observation> {
    let limits = poller::limits(fleet);
    let polls = selected
        .iter()
        .map(|&i| poller::poll_planned(fleet, i, &transports[i], &limits, plan));
    futures::future::join_all(polls).await
}

/// Connects to every host of the inventory (one refresh), then times `reps` refreshes of every
/// host over the open connections — with [`PollPlan::BASIC`], what a running console does each
/// interval.
pub fn warm(opts: &Options) -> Result<WarmReport, String> {
    let rt = runtime()?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    rt.block_on(async {
        let (fleet, transports) = load(&opts.config)?;
        let selected: Vec<usize> = (0..fleet.hosts.len()).collect();
        let t0 = Instant::now();
        let first = refresh(&fleet, &transports, &selected, opts.plan).await;
        let connect_refresh_ns = t0.elapsed().as_nanos() as u64;
        let (connected, _, mut first_error) = count(&first);
        for _ in 0..opts.warmup {
            refresh(&fleet, &transports, &selected, opts.plan).await;
        }
        let mut reps = Vec::with_capacity(opts.reps);
        for _ in 0..opts.reps {
            let (mut rep, obs) =
                timed(opts, refresh(&fleet, &transports, &selected, opts.plan)).await;
            let (reachable, errors, err) = count(&obs);
            rep.reachable = reachable;
            rep.probe_errors = errors;
            first_error = first_error.or(err);
            reps.push(rep);
        }
        let report = WarmReport {
            hosts: fleet.hosts.len(),
            connect_refresh_ns,
            connected,
            reps,
            peak_rss_kb: procfs::self_status_kb("VmHWM").unwrap_or(0),
            rss_kb: procfs::self_status_kb("VmRSS").unwrap_or(0),
            threads,
            first_error,
        };
        disconnect_all(&transports).await;
        Ok(report)
    })
}

/// The limit on one host (`host`, 0-based): `reps` sequential exec round trips of `true` and
/// full polls over one open russh connection, and `reps` fresh handshakes.
pub fn limit(opts: &Options, host: usize) -> Result<LimitReport, String> {
    let rt = runtime()?;
    rt.block_on(async {
        let (fleet, transports) = load(&opts.config)?;
        let Some(h) = fleet.hosts.get(host) else {
            return Err(format!("host index {host} is not in the inventory"));
        };
        let Transport::Ssh(ssh) = &transports[host] else {
            return Err(format!("{} is not an SSH host", h.name));
        };
        let limits = poller::limits(&fleet);
        let request = ExecRequest {
            command: "true".into(),
            stdin: None,
            timeout: Duration::from_secs(10),
            max_output: 64 * 1024,
        };
        ssh.ensure_connected()
            .await
            .map_err(|e| format!("{}: {e}", h.name))?;
        let transport = &transports[host];
        for _ in 0..opts.warmup {
            let _ = transport.exec(&request).await;
            let _ = probe::poll_host_planned(h, transport, &limits, opts.plan).await;
        }
        let mut exec_true = Vec::new();
        for _ in 0..opts.reps {
            let (mut rep, out) = timed(opts, transport.exec(&request)).await;
            let out = out.map_err(|e| format!("exec true on {}: {e}", h.name))?;
            rep.reachable = usize::from(out.status == Some(0));
            exec_true.push(rep);
        }
        let mut poll = Vec::new();
        for _ in 0..opts.reps {
            let (mut rep, out) = timed(
                opts,
                probe::poll_host_planned(h, transport, &limits, opts.plan),
            )
            .await;
            let probed = out.map_err(|e| format!("poll of {}: {e}", h.name))?;
            rep.reachable = 1;
            rep.probe_errors = probed.probe_errors.len();
            poll.push(rep);
        }
        ssh.disconnect().await;
        let shared = SshShared::new(Arc::new(NoPrompt));
        let mut handshake = Vec::new();
        for _ in 0..opts.reps {
            let fresh = SshHost::new(ssh.target().clone(), shared.clone());
            let (mut rep, out) = timed(opts, fresh.ensure_connected()).await;
            fresh.disconnect().await;
            out.map_err(|e| format!("connect to {}: {e}", h.name))?;
            rep.reachable = 1;
            handshake.push(rep);
        }
        Ok(LimitReport {
            host: h.name.clone(),
            exec_true,
            poll,
            handshake,
        })
    })
}

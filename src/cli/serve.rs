//! `fleetdeck serve`: the poller without a screen, read over HTTP by the monitoring stack
//! (docs/monitoring.md).
//!
//! It polls the selected hosts on their intervals (the same [`Poller`] and [`Store`] the console
//! uses: observations folded in, a tick every second) and answers two read-only paths:
//! `GET /metrics` (the Prometheus text format of [`crate::metrics`]) and `GET /status.json` (the
//! `status --json` document). Any other path is 404, any other method 405: nothing that acts on
//! a host is reachable over HTTP. Both answers are rendered on the second's tick when the store
//! changed, and shared, so a scrape costs a copy, not a pass over the fleet. SIGTERM or SIGINT stops it (exit 0).
//! SIGHUP re-reads the inventory ([`crate::reload`]): the selection is applied again, unchanged
//! hosts keep their connections and state, and a bad edit is reported on stderr and in the log
//! while the previous configuration keeps running. The poll counters restart with the new
//! poller (Prometheus reads that as a counter reset); `[alertmanager]` and `[[notify]]` changes
//! apply at the next start.
//!
//! Exit codes: 0 stopped by a signal, 1 it could not start (listen address taken, a transport
//! it cannot build), 2 bad usage (an inventory or selection it cannot use).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use super::out;
use super::prompt::TtyPrompt;
use crate::alert_sink;
use crate::inventory::{AlertSender, Fleet};
use crate::poller::{self, Poller};
use crate::store::{Msg, Store};
use crate::transport::ssh::SshShared;
use crate::{metrics, reload, report};

/// The default listen address: loopback only (another address must be named with `--listen`).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9184";

/// `fleetdeck serve` options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; loopback by default, any other address only when named here.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Only hosts whose name matches this glob, or `@GROUP`: the hosts of that group.
    #[arg(long, value_name = "GLOB")]
    pub hosts: Option<String>,
    /// Only hosts in this group (or consensus group).
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
}

/// What the HTTP side answers: rendered from the store after each change.
#[derive(Debug, Default)]
struct Snapshot {
    metrics: Bytes,
    status_json: Bytes,
}

/// Runs `fleetdeck serve`; returns the exit code.
pub async fn run(fleet: Fleet, args: ServeArgs) -> u8 {
    let selected = match fleet.select(args.hosts.as_deref(), args.group.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            writeln!(out::stderr(), "fleetdeck: {e}");
            return 2;
        }
    };
    let selection = (args.hosts.clone(), args.group.clone());
    match serve(fleet, selected, args.listen, selection).await {
        Ok(()) => 0,
        Err(e) => {
            writeln!(out::stderr(), "fleetdeck: {e:#}");
            1
        }
    }
}

/// `--hosts` and `--group`, applied again to a reloaded inventory.
type Selection = (Option<String>, Option<String>);

async fn serve(
    fleet: Fleet,
    mut selected: Vec<usize>,
    listen: SocketAddr,
    selection: Selection,
) -> anyhow::Result<()> {
    let shared = SshShared::new(Arc::new(TtyPrompt));
    let mut transports = poller::transports(&fleet, &shared).map_err(anyhow::Error::msg)?;
    // `[alertmanager] sender = "serve"` (the default): this process pages, consoles do not.
    let mut notifier = alert_sink::Notifier::start(&fleet, AlertSender::Serve)?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let local = listener.local_addr()?;
    writeln!(
        out::stderr(),
        "fleetdeck: serving /metrics and /status.json on http://{local}"
    );
    let fleet = Arc::new(fleet);
    let mut store = Store::new(fleet.clone());
    let snapshot = Arc::new(RwLock::new(render(&store, &selected, None)?));
    let (tx, mut observations) = mpsc::channel(1024);
    // Prometheus (`[prometheus]`) in a task of its own; without it the sender stays here.
    let (prom_tx, mut prom_rounds) = mpsc::channel(4);
    let prom_task = crate::prom_source::spawn(fleet.clone(), transports.clone(), prom_tx.clone());
    let mut _prom = (prom_tx, prom_task.map(crate::prom_source::AbortOnDrop));
    let mut poller = Poller::spawn(fleet, transports.clone(), selected.clone(), tx);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut rendered = store.version();
    loop {
        tokio::select! {
            Some(obs) = observations.recv() => {
                let mut all = vec![obs];
                while let Ok(more) = observations.try_recv() {
                    all.push(more);
                }
                store.update(Msg::ObservedAll(all));
            }
            Some(round) = prom_rounds.recv() => {
                store.update(Msg::Prom(round));
            }
            _ = tick.tick() => {
                store.update(Msg::Tick { now: SystemTime::now() });
                if let Some(n) = &mut notifier { n.observe(store.alerts(), store.now()) }
                // Rendered at most once a second: a large fleet whose polls finish one by one
                // costs one rendering per tick, not one per host.
                let counters = metrics::PollerCounters {
                    polls: poller.stats.polls.load(Ordering::Relaxed),
                    skipped_ticks: poller.stats.skipped_ticks.load(Ordering::Relaxed),
                };
                if store.version() != rendered {
                    rendered = store.version();
                    let fresh = render(&store, &selected, Some(counters))?;
                    *snapshot.write().unwrap_or_else(|p| p.into_inner()) = fresh;
                }
            }
            accepted = listener.accept() => {
                // A failed accept (out of descriptors) loses one connection, not the server.
                if let Ok((stream, _)) = accepted {
                    let snapshot = snapshot.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let snapshot = snapshot.clone();
                            async move { Ok::<_, std::convert::Infallible>(answer(&req, &snapshot)) }
                        });
                        // The timer arms hyper's header read timeout (30 s): a client that
                        // opens a connection and sends nothing does not hold it forever.
                        let _ = hyper::server::conn::http1::Builder::new()
                            .timer(TokioTimer::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
            _ = sighup.recv() => match reread(&store, &shared, &selection) {
                Ok((fleet, sel, mut fresh)) => {
                    let plan = reload::plan(store.fleet(), &fleet);
                    for (i, keep) in plan.keep.iter().enumerate() {
                        if let (Some(j), Some(slot)) = (keep, fresh.get_mut(i))
                            && let Some(t) = transports.get(*j)
                        {
                            *slot = t.clone();
                        }
                    }
                    // A new channel: the old poller's last observations (numbered by the old
                    // inventory) go to the old receiver, dropped here.
                    let (tx, rx) = mpsc::channel(1024);
                    observations = rx;
                    let fleet = Arc::new(fleet);
                    store.update(Msg::Reload { fleet: fleet.clone(), keep: plan.keep.clone() });
                    transports = fresh;
                    selected = sel;
                    let new = Poller::spawn(fleet.clone(), transports.clone(), selected.clone(), tx);
                    std::mem::replace(&mut poller, new).retire();
                    // Prometheus rounds are numbered by host index too: a new task and channel
                    // for the new inventory (the old task is aborted when dropped).
                    let (prom_tx, rx) = mpsc::channel(4);
                    prom_rounds = rx;
                    let task = crate::prom_source::spawn(fleet.clone(), transports.clone(), prom_tx.clone());
                    _prom = (prom_tx, task.map(crate::prom_source::AbortOnDrop));
                    tracing::info!("reloaded (SIGHUP) {}: {}", fleet.source, plan.summary());
                    writeln!(out::stderr(), "fleetdeck: reloaded {}: {}", fleet.source, plan.summary());
                }
                Err(e) => {
                    tracing::warn!("reload (SIGHUP) failed, previous configuration kept: {e}");
                    writeln!(out::stderr(), "fleetdeck: reload failed, previous configuration kept: {e}");
                }
            },
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
        }
    }
    Ok(())
}

/// The inventory read again, the selection applied to it, and transports for its hosts.
fn reread(
    store: &Store,
    shared: &Arc<SshShared>,
    (hosts, group): &Selection,
) -> Result<(Fleet, Vec<usize>, Vec<crate::transport::Transport>), String> {
    let fleet = reload::load(store.fleet()).map_err(|e| e.to_string())?;
    let selected = fleet
        .select(hosts.as_deref(), group.as_deref())
        .map_err(|e| e.to_string())?;
    let transports = poller::transports(&fleet, shared)?;
    Ok((fleet, selected, transports))
}

fn render(
    store: &Store,
    selected: &[usize],
    counters: Option<metrics::PollerCounters>,
) -> anyhow::Result<Snapshot> {
    let report = report::status_report(
        store.fleet(),
        store.state(),
        store.health(),
        selected,
        store.now(),
    );
    let mut json = serde_json::to_string_pretty(&report)?;
    json.push('\n');
    Ok(Snapshot {
        metrics: Bytes::from(metrics::prometheus_text_with(&report, counters)),
        status_json: Bytes::from(json),
    })
}

/// The answer to one request: read-only, two paths.
fn answer<B>(req: &Request<B>, snapshot: &RwLock<Snapshot>) -> Response<Full<Bytes>> {
    let snap = snapshot.read().unwrap_or_else(|p| p.into_inner());
    let (body, content_type) = match req.uri().path() {
        "/metrics" => (
            snap.metrics.clone(),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        "/status.json" => (snap.status_json.clone(), "application/json"),
        _ => return plain(StatusCode::NOT_FOUND, "not found: /metrics, /status.json\n"),
    };
    if req.method() != Method::GET {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET"));
        return r;
    }
    let mut r = Response::new(Full::new(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

//! Prometheus as a status source (issue 13, item 1): the whole fleet read with a handful of
//! instant queries over `/api/v1/query` — one per metric for every host at once, never one per
//! host — and each series mapped to an inventory host by a label.
//!
//! Read here: node_exporter's disks, load, uptime, `up` and systemd units; a chain client's
//! height and peers where it exports them ([`CHAIN_METRICS`], one row per chain kind);
//! fleetdeck's own series (`fleetdeck_host_up`, `fleetdeck_service_state`, … from
//! [`crate::metrics`], label `host`) so a console can read a fleet that sharded `fleetdeck
//! serve` instances poll; and the user's `[[prometheus.columns]]`.
//!
//! Split: [`query_fleet`] is the only I/O (reqwest, directly or through a host's SSH
//! connection by a loopback forwarder over `Transport::dial`), bounded by the configured
//! timeout, each answer folded to its server's hosts as it arrives ([`Folded`]), so a round
//! holds the series of the fleet's hosts, not every raw reply; [`observations`] turns its
//! [`PromSnapshot`] into per-host readings, pure and clock-free; [`merge`] says how a `source = "both"` host combines them with its SSH poll.
//! The state store folds the result in (`store::Msg::Prom`); `health` judges it. [`spawn`]
//! runs the reading as a task of its own on the configured interval, so a slow or dead
//! Prometheus never holds a poll or a frame. No terminal code here.
//!
//! Callers: `fleetdeck status` ([`query_fleet`] once), `fleetdeck serve` and the console
//! ([`spawn`]).

pub mod map;
pub mod parse;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::alert_sink::{authorize, redact};
use crate::inventory::{ChainKind, Fleet, ServiceKind, StatusSource};
use crate::transport::Transport;

pub use map::{Folded, PromHostObs, PromObservations, Readings, SourceStatus, merge, observations};
pub use parse::{Labels, ReplyError, Sample, StringPool, parse_reply, parse_reply_keeping};

/// Queries in flight at once to a server reached directly.
const DIRECT_QUERIES_AT_ONCE: usize = 16;
/// Queries in flight at once through a host's SSH connection (`via`).
const VIA_QUERIES_AT_ONCE: usize = 2;

/// What a query reads: the key its result is found under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKey {
    /// `up`.
    Up,
    /// `node_filesystem_size_bytes`.
    FsSize,
    /// `node_filesystem_avail_bytes`.
    FsAvail,
    /// `node_filesystem_free_bytes`.
    FsFree,
    /// `node_load1`.
    Load1,
    /// `node_load5`.
    Load5,
    /// `node_load15`.
    Load15,
    /// `node_time_seconds - node_boot_time_seconds`.
    Uptime,
    /// `node_systemd_unit_state == 1` for the inventory's units.
    Systemd,
    /// A chain client's height.
    ChainHeight(ChainKind),
    /// A chain client's peer count.
    ChainPeers(ChainKind),
    /// `fleetdeck_host_up`.
    FdHostUp,
    /// `fleetdeck_service_state == 1`.
    FdServiceState,
    /// `fleetdeck_chain_height`.
    FdChainHeight,
    /// `fleetdeck_chain_peers`.
    FdChainPeers,
    /// `fleetdeck_disk_used_ratio`.
    FdDiskUsed,
    /// `fleetdeck_backup_age_seconds`.
    FdBackupAge,
    /// User column number N of `[[prometheus.columns]]`.
    Column(usize),
}

/// One instant query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Where its result goes.
    pub key: QueryKey,
    /// The PromQL.
    pub promql: String,
}

/// Filesystems that are not disks: left out as `df`'s pseudo filesystems are.
pub const PSEUDO_FSTYPES: &str =
    "tmpfs|devtmpfs|overlay|squashfs|ramfs|nsfs|autofs|proc|sysfs|cgroup2?|fuse.lxcfs";

/// Chain clients' own metrics, one row per chain kind: (kind, height metric, peers metric).
/// A kind missing here is read from fleetdeck's own series only.
pub const CHAIN_METRICS: &[(ChainKind, &str, Option<&str>)] =
    &[(ChainKind::Ethereum, "chain_head_block", Some("p2p_peers"))];

/// The queries for the hosts that read server `server`: the fixed ones, the systemd units
/// and chain kinds its hosts have, and every user column.
pub fn queries(fleet: &Fleet, server: usize) -> Vec<Query> {
    let q = |key, promql: &str| Query {
        key,
        promql: promql.to_string(),
    };
    let fs = format!("{{fstype!~\"{PSEUDO_FSTYPES}\"}}");
    let mut out = vec![
        q(QueryKey::Up, "up"),
        q(QueryKey::FsSize, &format!("node_filesystem_size_bytes{fs}")),
        q(
            QueryKey::FsAvail,
            &format!("node_filesystem_avail_bytes{fs}"),
        ),
        q(QueryKey::FsFree, &format!("node_filesystem_free_bytes{fs}")),
        q(QueryKey::Load1, "node_load1"),
        q(QueryKey::Load5, "node_load5"),
        q(QueryKey::Load15, "node_load15"),
        q(
            QueryKey::Uptime,
            "node_time_seconds - node_boot_time_seconds",
        ),
        q(QueryKey::FdHostUp, "fleetdeck_host_up"),
        q(QueryKey::FdServiceState, "fleetdeck_service_state == 1"),
        q(QueryKey::FdChainHeight, "fleetdeck_chain_height"),
        q(QueryKey::FdChainPeers, "fleetdeck_chain_peers"),
        q(QueryKey::FdDiskUsed, "fleetdeck_disk_used_ratio"),
        q(QueryKey::FdBackupAge, "fleetdeck_backup_age_seconds"),
    ];
    let Some(p) = &fleet.prometheus else {
        return out;
    };
    let mine: Vec<usize> = (0..fleet.hosts.len())
        .filter(|&i| p.hosts.get(i).is_some_and(|h| h.server == server))
        .collect();
    let mut units: Vec<&str> = mine
        .iter()
        .flat_map(|&i| &fleet.hosts[i].services)
        .filter_map(|s| match &s.kind {
            ServiceKind::Systemd { unit } => Some(unit.as_str()),
            _ => None,
        })
        .collect();
    units.sort_unstable();
    units.dedup();
    if !units.is_empty() {
        let alternatives: Vec<String> = units.iter().map(|u| regex::escape(u)).collect();
        out.push(q(
            QueryKey::Systemd,
            &format!(
                "node_systemd_unit_state{{name=~\"{}\"}} == 1",
                promql_string(&alternatives.join("|"))
            ),
        ));
    }
    for (kind, height, peers) in CHAIN_METRICS {
        let used = mine.iter().any(|&i| {
            fleet.hosts[i]
                .chain
                .as_ref()
                .is_some_and(|c| c.kind == *kind)
        });
        if used {
            out.push(q(QueryKey::ChainHeight(*kind), height));
            if let Some(peers) = peers {
                out.push(q(QueryKey::ChainPeers(*kind), peers));
            }
        }
    }
    for (i, c) in p.columns.iter().enumerate() {
        out.push(q(QueryKey::Column(i), &c.query));
    }
    out
}

/// `s` escaped for a double-quoted PromQL string.
fn promql_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// One round of reading one server.
#[derive(Debug, Clone)]
pub struct ServerReading {
    /// Index into `Prometheus::servers`.
    pub server: usize,
    /// Its URL, redacted ([`redact`]).
    pub url: String,
    /// The answers, or why the server could not be read at all (unreachable, timed out, an
    /// unreadable secret, a reply that is not the API's).
    pub result: Result<Readings, String>,
    /// How long the round took.
    pub elapsed: Duration,
}

/// One round of reading every server the fleet uses.
#[derive(Debug, Clone)]
pub struct PromSnapshot {
    /// When the round started (wall clock, from the caller).
    pub at: SystemTime,
    /// One entry per server that some host reads.
    pub servers: Vec<ServerReading>,
}

/// Whether any host reads server `server` (its status or a column).
fn server_used(fleet: &Fleet, server: usize) -> bool {
    fleet.prometheus.as_ref().is_some_and(|p| {
        p.hosts
            .iter()
            .any(|h| h.server == server && (h.source != StatusSource::Ssh || !p.columns.is_empty()))
    })
}

/// Reads every server the fleet uses, all queries of a server concurrently, each server's
/// round bounded by `[prometheus] timeout`. `transports` (inventory order) carry a server's
/// `via`; `at` is the caller's clock. An empty snapshot without `[prometheus]`.
pub async fn query_fleet(fleet: &Fleet, transports: &[Transport], at: SystemTime) -> PromSnapshot {
    let Some(p) = &fleet.prometheus else {
        return PromSnapshot {
            at,
            servers: Vec::new(),
        };
    };
    let http = reqwest::Client::builder()
        .timeout(p.timeout)
        .build()
        .unwrap_or_default();
    let rounds = (0..p.servers.len())
        .filter(|&s| server_used(fleet, s))
        .map(|s| {
            let http = http.clone();
            async move {
                let began = Instant::now();
                let server = &p.servers[s];
                let url = redact(&server.target.url);
                let round = read_server(fleet, transports, &http, s);
                let result = match tokio::time::timeout(p.timeout, round).await {
                    Ok(r) => r,
                    Err(_) => Err(format!(
                        "no answer within {}",
                        humantime::format_duration(p.timeout)
                    )),
                };
                ServerReading {
                    server: s,
                    url,
                    result,
                    elapsed: began.elapsed(),
                }
            }
        });
    PromSnapshot {
        at,
        servers: futures::future::join_all(rounds).await,
    }
}

/// Whether a mapping reads label `key` of a server whose host label is `host_label`: a whole
/// fleet's answers hold hundreds of thousands of series, and each would otherwise keep every
/// label (`__name__`, `job`, exporter labels) until it is folded.
fn mapped_label(key: &str, host_label: &str) -> bool {
    key == host_label || key == "host" || map::LABELS_READ.contains(&key)
}

async fn read_server(
    fleet: &Fleet,
    transports: &[Transport],
    http: &reqwest::Client,
    s: usize,
) -> Result<Readings, String> {
    let p = fleet.prometheus.as_ref().ok_or("no [prometheus]")?;
    let server = &p.servers[s];
    // Through a host's SSH connection: a loopback listener whose connections are
    // direct-tcpip channels to the server's address as the host sees it.
    let _forwarder;
    let base = match &server.via {
        None => server.target.url.trim_end_matches('/').to_string(),
        Some(via) => {
            let index = fleet
                .hosts
                .iter()
                .position(|h| &h.name == via)
                .ok_or_else(|| format!("via host {via:?} is not in the inventory"))?;
            let transport = transports
                .get(index)
                .ok_or_else(|| format!("no transport for via host {via:?}"))?;
            let (forwarder, base) = forward(&server.target.url, transport.clone(), via).await?;
            _forwarder = forwarder;
            base
        }
    };
    // Each answer is folded to hosts as it arrives, so a round holds one query's raw samples
    // at a time (per query in flight), never the whole fleet's.
    let ix = map::Index::new(fleet, s);
    let pool = std::sync::Mutex::new(StringPool::default());
    let asks = queries(fleet, s).into_iter().map(|q| {
        let (base, ix, pool) = (&base, &ix, &pool);
        async move {
            let url = reqwest::Url::parse_with_params(
                &format!("{base}/api/v1/query"),
                [("query", q.promql.as_str())],
            )
            .map_err(|e| format!("bad url {}: {e}", redact(base)))?;
            let request = authorize(http.get(url), &server.target).map_err(|e| e.to_string())?;
            let reply = request.send().await.map_err(|e| describe(&e))?;
            let status = reply.status();
            // Bytes, read in place: `text()` would copy a whole-fleet body (megabytes) once more
            // to own it, for every query in flight.
            let bytes = reply.bytes().await.map_err(|e| describe(&e))?;
            let body = String::from_utf8_lossy(&bytes);
            // 400 and 422 carry the API's own error document: a refusal of this query only.
            let parsed = parse_reply_keeping(&body, &|k| mapped_label(k, &server.label));
            drop(body);
            drop(bytes);
            match parsed {
                Ok(samples) => {
                    let mut pool = pool.lock().unwrap_or_else(|e| e.into_inner());
                    Ok((q.key, Ok(Folded::new(samples, ix, &mut pool))))
                }
                Err(e @ ReplyError::Refused { .. }) => Ok((q.key, Err(e.to_string()))),
                Err(e) if status.is_success() => Err(format!("{}: {e}", q.promql)),
                Err(_) => Err(format!("HTTP {}", status.as_u16())),
            }
        }
    });
    // Through SSH each connection is a channel holding one of the host's few channel permits
    // (its polls need them too): two queries at a time there, over kept-alive connections.
    let at_once = if server.via.is_some() {
        VIA_QUERIES_AT_ONCE
    } else {
        DIRECT_QUERIES_AT_ONCE
    };
    use futures::{StreamExt as _, TryStreamExt as _};
    let results = futures::stream::iter(asks)
        .buffered(at_once)
        .try_collect()
        .await?;
    Ok(Readings { results })
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        // The cause only: the error's own text names the URL, which may carry credentials.
        std::error::Error::source(e).map_or_else(|| "request failed".into(), |s| s.to_string())
    }
}

/// A running loopback forwarder; dropping it stops accepting.
struct Forwarder(JoinHandle<()>);

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Listens on 127.0.0.1:0 and carries each connection to `url`'s host and port as
/// `transport`'s host sees them; returns the base URL to use instead.
async fn forward(
    url: &str,
    transport: Transport,
    via: &str,
) -> Result<(Forwarder, String), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("bad url {}", redact(url)))?;
    if scheme != "http" {
        return Err(format!(
            "{}: only http:// can be reached through `via` (the tunnel is the encryption)",
            redact(url)
        ));
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
            h.trim_start_matches('[').trim_end_matches(']').to_string(),
            p.parse::<u16>()
                .map_err(|_| format!("bad port in {}", redact(url)))?,
        ),
        _ => (authority.to_string(), 80),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen on loopback for via {via}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on loopback for via {via}: {e}"))?;
    let via = via.to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let transport = transport.clone();
            let host = host.clone();
            let via = via.clone();
            tokio::spawn(async move {
                match transport.dial(&host, port).await {
                    Ok(mut outbound) => {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                    Err(e) => tracing::warn!("prometheus via {via}: {e}"),
                }
            });
        }
    });
    Ok((
        Forwarder(task),
        format!("http://{local}{}", path.trim_end_matches('/')),
    ))
}

/// A task handle that stops its task when dropped (the front ends hold the reading task so).
pub struct AbortOnDrop(pub JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads the fleet from Prometheus every `[prometheus] interval` in a task of its own and
/// sends each round's [`PromObservations`] to `tx`; `None` without `[prometheus]`. A round
/// is bounded by the timeout, so the task never stacks rounds; dropping the handle's
/// `abort` stops it.
pub fn spawn(
    fleet: Arc<Fleet>,
    transports: Vec<Transport>,
    tx: mpsc::Sender<PromObservations>,
) -> Option<JoinHandle<()>> {
    spawn_with_refresh(fleet, transports, tx, Arc::new(Notify::new()))
}

/// [`spawn`], with `refresh` starting a round at once when notified (the console's `r`); a
/// notice during a round starts the next one right after it.
pub fn spawn_with_refresh(
    fleet: Arc<Fleet>,
    transports: Vec<Transport>,
    tx: mpsc::Sender<PromObservations>,
    refresh: Arc<Notify>,
) -> Option<JoinHandle<()>> {
    let interval = fleet.prometheus.as_ref()?.interval;
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = refresh.notified() => {}
            }
            let snapshot = query_fleet(&fleet, &transports, SystemTime::now()).await;
            for s in &snapshot.servers {
                if let Err(e) = &s.result {
                    tracing::warn!("prometheus {}: {e}", s.url);
                }
            }
            let round = observations(&snapshot, &fleet, SystemTime::now());
            drop(snapshot);
            if tx.send(round).await.is_err() {
                break;
            }
            release_freed_memory();
        }
    }))
}

/// Hands the memory a round freed back to the system.
///
/// A round of a large fleet allocates its replies and samples (tens of megabytes at 10,000
/// hosts) and frees them all; glibc keeps freed memory in its per-thread arenas, so without
/// this the console's resident size is the high-water mark of every round on every worker
/// thread rather than what it holds. One `malloc_trim` per round (seconds apart) costs well
/// under a millisecond.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the kernel; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_labels_a_mapping_reads_are_kept() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"node_filesystem_size_bytes","instance":"10.0.0.1:9100","job":"node","mountpoint":"/","device":"/dev/vda1","fstype":"ext4","node":"n1"},"value":[1,"1"]}]}}"#;
        let samples = parse_reply_keeping(body, &|k| mapped_label(k, "node")).unwrap();
        let kept: Vec<&str> = samples[0].labels.keys().collect();
        assert_eq!(kept, ["device", "mountpoint", "node"]);
        // An escaped label (not borrowable from the body) reads the same.
        let escaped = body.replace(r#""node":"n1""#, r#""node":"n\u0031""#);
        let samples = parse_reply_keeping(&escaped, &|k| mapped_label(k, "node")).unwrap();
        assert_eq!(&samples[0].labels["node"], "n1");
    }
}

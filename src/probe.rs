//! Probes: one poll of one host, turned into a [`Probed`].
//!
//! A poll is one exec of the batched shell script ([`script`]: time, load, uptime, disks, the
//! shell-checked services, backups, a command chain's height, and — when the [`PollPlan`] says
//! they are due ([`Schedule`]) — host facts ([`facts`]), certificates ([`certs`]) and log
//! tails ([`logs`])) plus, concurrently, the probes
//! that need a TCP stream opened *from* the host through [`Transport::dial`]: `port` services
//! (connect: success = running, refused = stopped), plain `http://` services (an HTTP/1.1 GET,
//! [`http`]) and the chain node's JSON-RPC calls ([`chain`]). Pure parsers of every output live
//! in [`parse`] and [`chain`].
//!
//! This module owns the orchestration and the rule of what becomes a host error: only a host
//! that cannot be reached at all is `Err`; a slow command, truncated output, a missing tool or
//! an unreadable reply is recorded in the part it concerns or in `Probed::probe_errors`. It
//! must not judge health, keep state between polls, or read the wall clock (the poller stamps
//! observations).
//!
//! Callers: the poller (one task per host) and `fleetdeck status`.

pub mod certs;
pub mod chain;
pub mod facts;
pub mod http;
pub mod logs;
pub mod parse;
pub mod posture;
pub mod schedule;
pub mod script;

pub use schedule::{Cadence, PollPlan, Schedule, backups_settled};

use std::time::Duration;

use futures::StreamExt;

use crate::inventory::{ChainKind, Host};
use crate::observation::{ChainObs, Metric, Probed, ServiceObs, ServiceState, UnreachableKind};
use crate::transport::{ScriptRequest, Transport, TransportError};
use parse::ServiceReading;
use script::ServiceCheck;

/// Bounds of one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeLimits {
    /// The batch script must finish within this.
    pub command_timeout: Duration,
    /// Keep at most this many bytes of the script's stdout (and of its stderr).
    pub max_output_bytes: usize,
    /// Each network probe (port connect, HTTP GET, a chain's RPC calls together) within this.
    pub rpc_timeout: Duration,
}

/// Network probes in flight at once per host. The SSH transport allows a handful of channels
/// per connection; the batch exec and the chain connection need one each, and runbooks more.
const NETWORK_CONCURRENCY: usize = 3;

/// Polls everything configured on `host` once over `transport`, slow parts included
/// ([`PollPlan::ALL`]). Never panics; per-part errors go into the parts, probe-level problems
/// into [`Probed::probe_errors`]. Returns `Err` only when the host itself is unreachable
/// ([`TransportError::Unreachable`]) — a command timeout or truncated output is not
/// unreachable, it becomes `probe_errors`.
pub async fn poll_host(
    host: &Host,
    transport: &Transport,
    limits: &ProbeLimits,
) -> Result<Probed, TransportError> {
    poll_host_planned(host, transport, limits, PollPlan::ALL).await
}

/// [`poll_host`] with the slow parts (facts, certificates, logs) that `plan` includes; the
/// others are `None` in the result. They travel in the same exec: a plan never costs another
/// channel.
pub async fn poll_host_planned(
    host: &Host,
    transport: &Transport,
    limits: &ProbeLimits,
    plan: PollPlan,
) -> Result<Probed, TransportError> {
    match transport.ensure_connected().await {
        Ok(()) => {}
        Err(e @ TransportError::Unreachable(_)) => return Err(e),
        Err(TransportError::Timeout(d)) => {
            return Err(TransportError::unreachable(
                UnreachableKind::Timeout,
                format!("connect timed out after {}", humantime::format_duration(d)),
            ));
        }
        Err(other) => {
            return Err(TransportError::unreachable(
                UnreachableKind::Other,
                other.to_string(),
            ));
        }
    }

    let script = script::build_planned(host, plan);
    let request = ScriptRequest {
        script: script.text().as_bytes().to_vec(),
        timeout: limits.command_timeout,
        max_output: limits.max_output_bytes,
    };
    let shell = transport.run_script(&request);

    // Futures built up front by a plain async fn (no async closures over borrowed items), so
    // the whole poll stays `Send` for every lifetime and can be spawned.
    let checks: Vec<_> = host
        .services
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match ServiceCheck::of(&s.kind) {
            check @ (ServiceCheck::Dial { .. } | ServiceCheck::HttpGet { .. }) => Some((i, check)),
            _ => None,
        })
        .map(|(i, check)| indexed_network_check(i, check, transport, limits.rpc_timeout))
        .collect();
    let network = futures::stream::iter(checks)
        .buffered(NETWORK_CONCURRENCY)
        .collect::<Vec<_>>();

    let node = async {
        match &host.chain {
            Some(c) if c.kind != ChainKind::Command => {
                Some(chain::poll_chain_detail(c, transport, limits.rpc_timeout).await)
            }
            _ => None,
        }
    };

    let (shell, network, node) = tokio::join!(shell, network, node);

    let result = match shell {
        Ok(output) => script.parse(&output),
        // The connection broke under the poll: the host is unreachable, whatever else answered.
        Err(e @ TransportError::Unreachable(_)) => return Err(e),
        Err(e @ TransportError::Timeout(_)) => script.failed(&format!("probe script: {e}")),
        Err(e) => script.failed(&format!("probe script could not run: {e}")),
    };

    let mut services: Vec<Option<ServiceObs>> = result.services;
    for (i, reading) in network {
        services[i] = Some(reading.into_obs(&host.services[i].name));
    }
    let services = services
        .into_iter()
        .zip(&host.services)
        .map(|(obs, svc)| {
            obs.unwrap_or_else(|| {
                let why = match ServiceCheck::of(&svc.kind) {
                    ServiceCheck::Invalid(why) => why,
                    _ => "not probed".to_string(),
                };
                ServiceReading::new(ServiceState::Unknown, why).into_obs(&svc.name)
            })
        })
        .collect();

    let mut probe_errors = result.problems;
    let host_time = keep(&mut probe_errors, "host time", result.host_time).flatten();
    let load = keep(&mut probe_errors, "load average", result.load);
    let uptime = keep(&mut probe_errors, "uptime", result.uptime);

    let (node, chain_detail) = match node {
        Some((obs, detail)) => (Some(obs), Some(detail)),
        None => (None, host.chain.as_ref().map(|_| chain::no_detail())),
    };
    let chain: Option<ChainObs> = node.or_else(|| {
        host.chain.as_ref().map(|_| {
            chain::command_obs(
                result
                    .chain_height
                    .unwrap_or_else(|| Metric::Error("height command was not run".to_string())),
            )
        })
    });

    Ok(Probed {
        host_time,
        load,
        uptime,
        disks: result.disks,
        services,
        backups_skipped: result.backups.is_none(),
        backups: result.backups.unwrap_or_default(),
        chain,
        probe_errors,
        facts: result.facts.map(Box::new),
        certs: result.certs,
        posture: result.posture.map(Box::new),
        logs: result.logs,
        service_failures: result.service_failures,
        chain_detail: chain_detail.map(Box::new),
    })
}

/// The value, or `None` with the error recorded as a probe error about `what` (once: when
/// the whole batch failed, its reason is already there).
fn keep<T>(errors: &mut Vec<String>, what: &str, r: Result<T, String>) -> Option<T> {
    r.map_err(|e| {
        if !errors.iter().any(|known| known.contains(&e)) {
            errors.push(format!("{what}: {e}"));
        }
    })
    .ok()
}

async fn indexed_network_check(
    index: usize,
    check: ServiceCheck,
    transport: &Transport,
    limit: Duration,
) -> (usize, ServiceReading) {
    (index, network_check(&check, transport, limit).await)
}

/// A `port` or plain-`http` service, checked over a stream dialled from the host.
async fn network_check(
    check: &ServiceCheck,
    transport: &Transport,
    limit: Duration,
) -> ServiceReading {
    let within = humantime::format_duration(limit);
    match check {
        ServiceCheck::Dial { address, port } => {
            match tokio::time::timeout(limit, transport.dial(address, *port)).await {
                Ok(Ok(_stream)) => {
                    ServiceReading::new(ServiceState::Running, format!("{address}:{port} open"))
                }
                Ok(Err(e)) => dial_failure(address, *port, e),
                Err(_) => ServiceReading::new(
                    ServiceState::Failed,
                    format!("{address}:{port}: no answer within {within}"),
                ),
            }
        }
        ServiceCheck::HttpGet { url, expect_status } => {
            let target = match http::parse_url(url) {
                Ok(t) => t,
                Err(e) => return ServiceReading::new(ServiceState::Unknown, e.to_string()),
            };
            let get = async {
                let stream = transport
                    .dial(&target.host, target.port)
                    .await
                    .map_err(|e| dial_failure(&target.host, target.port, e))?;
                http::request(stream, "GET", url, None, None, 0)
                    .await
                    .map_err(|e| ServiceReading::new(ServiceState::Failed, e.to_string()))
            };
            match tokio::time::timeout(limit, get).await {
                Ok(Ok(reply)) if reply.status == *expect_status => {
                    ServiceReading::new(ServiceState::Running, format!("HTTP {}", reply.status))
                }
                Ok(Ok(reply)) => {
                    ServiceReading::new(ServiceState::Failed, format!("HTTP {}", reply.status))
                }
                Ok(Err(reading)) => reading,
                Err(_) => ServiceReading::new(
                    ServiceState::Failed,
                    format!("no HTTP reply within {within}"),
                ),
            }
        }
        _ => ServiceReading::new(ServiceState::Unknown, "not a network check"),
    }
}

/// A refused connect means nothing listens (stopped); sshd refusing to forward at all
/// (AllowTcpForwarding no) says nothing about the service (unknown).
fn dial_failure(address: &str, port: u16, e: TransportError) -> ServiceReading {
    match e {
        TransportError::ChannelRefused(msg) => {
            let lower = msg.to_ascii_lowercase();
            if lower.contains("prohibited") {
                ServiceReading::new(
                    ServiceState::Unknown,
                    format!("the host refused to forward to {address}:{port} ({msg})"),
                )
            } else {
                ServiceReading::new(
                    ServiceState::Stopped,
                    format!("{address}:{port} refused ({msg})"),
                )
            }
        }
        TransportError::Timeout(d) => ServiceReading::new(
            ServiceState::Failed,
            format!(
                "{address}:{port}: no answer within {}",
                humantime::format_duration(d)
            ),
        ),
        other => ServiceReading::new(ServiceState::Unknown, format!("{address}:{port}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{
        Chain, Disk, NodeRole, Service, ServiceCommands, ServiceKind, TransportKind,
    };
    use crate::transport::local::LocalHost;

    fn host() -> Host {
        Host {
            name: "local".into(),
            address: "127.0.0.1".into(),
            port: None,
            user: None,
            identity_files: vec![],
            certificate_files: vec![],
            jump: None,
            via: vec![],
            transport: TransportKind::Local,
            profile: None,
            groups: vec![],
            consensus_group: None,
            region: None,
            role: NodeRole::Free,
            interval: Duration::from_secs(5),
            services: vec![],
            chain: None,
            disks: vec![Disk { mount: "/".into() }],
            backups: vec![],
            certs: vec![],
            logs: vec![],
            thresholds: Default::default(),
            posture: Default::default(),
        }
    }

    fn limits() -> ProbeLimits {
        ProbeLimits {
            command_timeout: Duration::from_secs(20),
            max_output_bytes: 256 * 1024,
            rpc_timeout: Duration::from_secs(3),
        }
    }

    fn svc(name: &str, kind: ServiceKind) -> Service {
        Service {
            name: name.into(),
            kind,
            commands: ServiceCommands::default(),
        }
    }

    /// The poller spawns each host's poll: it must be `Send + 'static` once its inputs are owned.
    #[test]
    fn poll_host_can_be_spawned() {
        fn spawnable<T: std::future::Future + Send + 'static>(_: T) {}
        let (h, t, l) = (host(), Transport::Local(LocalHost::new()), limits());
        spawnable(async move {
            let _ = poll_host(&h, &t, &l).await;
        });
        let c = Chain {
            kind: ChainKind::Ethereum,
            rpc: None,
            command: None,
            group_id: 1,
            group: None,
        };
        let t = Transport::Local(LocalHost::new());
        spawnable(async move {
            let _ = chain::poll_chain(&c, &t, Duration::from_secs(1)).await;
        });
    }

    #[tokio::test]
    async fn polls_this_machine() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap().port();
        // A port that was just free: nothing listens there.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut h = host();
        h.services = vec![
            svc(
                "open",
                ServiceKind::Port {
                    address: "127.0.0.1".into(),
                    port: open,
                },
            ),
            svc(
                "closed",
                ServiceKind::Port {
                    address: "127.0.0.1".into(),
                    port: closed,
                },
            ),
            svc(
                "cmd",
                ServiceKind::Command {
                    command: "true".into(),
                },
            ),
            svc(
                "http-closed",
                ServiceKind::Http {
                    url: format!("http://127.0.0.1:{closed}/health"),
                    expect_status: 200,
                },
            ),
            svc(
                "broken",
                ServiceKind::Process {
                    pidfile: None,
                    pattern: None,
                },
            ),
        ];
        h.chain = Some(Chain {
            kind: ChainKind::Ethereum,
            rpc: Some(format!("http://127.0.0.1:{closed}")),
            command: None,
            group_id: 1,
            group: None,
        });
        let t = Transport::Local(LocalHost::new());
        let p = poll_host(&h, &t, &limits()).await.unwrap();
        assert!(p.probe_errors.is_empty(), "{:?}", p.probe_errors);
        assert!(p.host_time.is_some() && p.load.is_some() && p.uptime.is_some());
        assert!(p.disks[0].usage.is_ok());
        let names: Vec<&str> = p.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["open", "closed", "cmd", "http-closed", "broken"]);
        assert_eq!(p.services[0].state, ServiceState::Running);
        assert_eq!(
            p.services[1].state,
            ServiceState::Stopped,
            "{:?}",
            p.services[1]
        );
        assert_eq!(p.services[2].state, ServiceState::Running);
        assert_eq!(
            p.services[3].state,
            ServiceState::Stopped,
            "{:?}",
            p.services[3]
        );
        assert_eq!(p.services[4].state, ServiceState::Unknown);
        assert!(p.services[4].detail.contains("pidfile or pattern"));
        let c = p.chain.unwrap();
        assert!(
            matches!(c.height, Metric::Error(ref e) if e.contains("cannot reach RPC")),
            "{c:?}"
        );
        drop(listener);
    }

    #[tokio::test]
    async fn a_slow_script_is_a_probe_error_not_unreachable() {
        let mut h = host();
        h.services = vec![svc(
            "slow",
            ServiceKind::Command {
                command: "sleep 5".into(),
            },
        )];
        let mut l = limits();
        l.command_timeout = Duration::from_millis(500);
        let t = Transport::Local(LocalHost::new());
        let p = poll_host(&h, &t, &l).await.unwrap();
        assert!(
            p.probe_errors.iter().any(|e| e.contains("timed out")),
            "{:?}",
            p.probe_errors
        );
        assert_eq!(p.services[0].state, ServiceState::Unknown);
        assert!(p.disks[0].usage.is_err());
        assert!(p.load.is_none());
    }

    #[tokio::test]
    async fn truncated_output_is_reported() {
        let mut h = host();
        h.services = vec![svc(
            "chatty",
            ServiceKind::Command {
                command: "head -c 100000 /dev/zero | tr '\\0' x".into(),
            },
        )];
        h.backups = vec![crate::inventory::BackupSet {
            name: "after-the-flood".into(),
            dir: "/tmp".into(),
            pattern: "*.gz".into(),
            every: Duration::from_secs(3600),
        }];
        let mut l = limits();
        l.max_output_bytes = 4096;
        let t = Transport::Local(LocalHost::new());
        let p = poll_host(&h, &t, &l).await.unwrap();
        assert!(
            p.probe_errors.iter().any(|e| e.contains("truncated")),
            "{:?}",
            p.probe_errors
        );
        assert!(
            p.disks[0].usage.is_ok(),
            "sections before the flood survive"
        );
        let err = p.backups[0].latest.as_ref().unwrap_err();
        assert!(
            err.contains("truncated") || err.contains("cut off"),
            "{err}"
        );
    }
}

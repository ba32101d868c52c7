//! Chain probes against a real anvil (Foundry's local Ethereum node), reached the way a remote
//! node would be: dialled through a transport (here the local one) and spoken to over HTTP/1.1.
//!
//! The anvil binary comes from `$FLEETDECK_ANVIL` or, under the repository root,
//! `.tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil`
//! (`npm install --prefix .tools @foundry-rs/anvil-linux-amd64`). A missing binary fails the
//! test with that instruction; it is never skipped. anvil is stopped by its PID on drop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fleetdeck::inventory::{
    Chain, ChainKind, Disk, Host, NodeRole, Service, ServiceCommands, ServiceKind, TransportKind,
};
use fleetdeck::observation::{Metric, ServiceState};
use fleetdeck::probe::{self, ProbeLimits, chain};
use fleetdeck::transport::Transport;
use fleetdeck::transport::local::LocalHost;

/// A running anvil, killed (by PID) and reaped on drop.
struct Anvil {
    child: Child,
    port: u16,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn anvil_binary() -> PathBuf {
    let path = std::env::var_os("FLEETDECK_ANVIL")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(".tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
        });
    assert!(
        path.is_file(),
        "anvil not found at {}: run `npm install --prefix .tools @foundry-rs/anvil-linux-amd64` \
         in the repository root, or set FLEETDECK_ANVIL to the anvil binary",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_anvil() -> Anvil {
    let port = free_port();
    let child = Command::new(anvil_binary())
        .args([
            "--port",
            &port.to_string(),
            "--host",
            "127.0.0.1",
            "--block-time",
            "1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start anvil");
    let anvil = Anvil { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "anvil did not listen on port {port} within 20s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    anvil
}

fn ethereum(port: u16) -> Chain {
    Chain {
        kind: ChainKind::Ethereum,
        rpc: Some(format!("http://127.0.0.1:{port}")),
        command: None,
        group_id: 1,
        group: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn anvil_height_advances_and_peers_are_unavailable() {
    let anvil = start_anvil();
    let transport = Transport::Local(LocalHost::new());
    let chain = ethereum(anvil.port);

    let first = chain::poll_chain(&chain, &transport, Duration::from_secs(5)).await;
    let Metric::Value(h1) = first.height else {
        panic!("no height: {first:?}");
    };
    assert_eq!(first.kind, ChainKind::Ethereum);
    assert_eq!(first.syncing, Metric::Value(false));
    // anvil answers net_peerCount with -32601: unavailable, never 0, never an error.
    assert_eq!(
        first.peers,
        Metric::Unavailable(chain::NOT_SUPPORTED.to_string())
    );
    assert!(
        first
            .client
            .as_deref()
            .is_some_and(|c| c.starts_with("anvil/")),
        "{:?}",
        first.client
    );

    // --block-time 1: the height moves within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let next = chain::poll_chain(&chain, &transport, Duration::from_secs(5)).await;
        match next.height {
            Metric::Value(h2) if h2 > h1 => break,
            Metric::Value(_) => {}
            other => panic!("height went missing: {other:?}"),
        }
        assert!(Instant::now() < deadline, "height stayed at {h1} for 10s");
    }
    drop(anvil);
}

#[tokio::test(flavor = "multi_thread")]
async fn poll_host_reads_anvil_and_its_port_through_the_local_transport() {
    let anvil = start_anvil();
    let closed = free_port();
    let svc = |name: &str, kind| Service {
        name: name.to_string(),
        kind,
        commands: ServiceCommands::default(),
    };
    let host = Host {
        name: "node-1".into(),
        address: "127.0.0.1".into(),
        port: None,
        user: None,
        jump: None,
        via: vec![],
        identity_files: vec![],
        certificate_files: vec![],
        transport: TransportKind::Local,
        profile: None,
        groups: vec![],
        consensus_group: None,
        region: None,
        role: NodeRole::Consensus,
        interval: Duration::from_secs(5),
        services: vec![
            svc(
                "rpc-port",
                ServiceKind::Port {
                    address: "127.0.0.1".into(),
                    port: anvil.port,
                },
            ),
            svc(
                "nothing-here",
                ServiceKind::Port {
                    address: "127.0.0.1".into(),
                    port: closed,
                },
            ),
            // anvil answers a plain GET with 400 (it wants JSON-RPC POSTs or a websocket).
            svc(
                "rpc-http",
                ServiceKind::Http {
                    url: format!("http://127.0.0.1:{}/", anvil.port),
                    expect_status: 200,
                },
            ),
            svc(
                "rpc-http-400-expected",
                ServiceKind::Http {
                    url: format!("http://127.0.0.1:{}/", anvil.port),
                    expect_status: 400,
                },
            ),
        ],
        chain: Some(ethereum(anvil.port)),
        disks: vec![Disk { mount: "/".into() }],
        backups: vec![],
        certs: vec![],
        logs: vec![],
        thresholds: Default::default(),
        posture: Default::default(),
    };
    let limits = ProbeLimits {
        command_timeout: Duration::from_secs(20),
        max_output_bytes: 256 * 1024,
        rpc_timeout: Duration::from_secs(5),
    };
    let p = probe::poll_host(&host, &Transport::Local(LocalHost::new()), &limits)
        .await
        .expect("this machine is reachable");
    assert!(p.probe_errors.is_empty(), "{:?}", p.probe_errors);
    let states: Vec<_> = p
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.state))
        .collect();
    assert_eq!(
        states,
        [
            ("rpc-port", ServiceState::Running),
            ("nothing-here", ServiceState::Stopped),
            ("rpc-http", ServiceState::Failed),
            ("rpc-http-400-expected", ServiceState::Running),
        ]
    );
    assert_eq!(p.services[2].detail, "HTTP 400");
    let c = p.chain.expect("chain observed");
    assert!(matches!(c.height, Metric::Value(_)), "{c:?}");
    assert_eq!(
        c.peers,
        Metric::Unavailable(chain::NOT_SUPPORTED.to_string())
    );
    assert!(p.disks[0].usage.is_ok());
    drop(anvil);
}

//! `fleetdeck serve` against a real sshd/anvil fleet: `/metrics` and `/status.json` read over
//! HTTP, the read-only surface (404, 405), the real Prometheus (Debian's `prometheus`) scraping
//! it every second and answering `/api/v1/query`, and SIGTERM stopping it with exit 0.

mod support;

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::fleet::free_port;
use support::prometheus::{Prometheus, http_get, http_request, parse_exposition, wait_for_ok};
use support::{FleetSpec, InventoryOpts, TestFleet};

const DEADLINE: Duration = Duration::from_secs(90);

/// The `serve` child; killed by PID if the test fails before it is stopped.
struct Serve {
    child: Option<Child>,
    port: u16,
}

impl Serve {
    fn start(config: &std::path::Path) -> Serve {
        let port = free_port();
        let child = Command::new(support::fleetdeck_bin())
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--config",
            ])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fleetdeck serve");
        Serve {
            child: Some(child),
            port,
        }
    }

    /// `/metrics` once it has every line of `want`.
    fn metrics_with(&self, want: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let text = wait_for_ok(self.port, "/metrics", DEADLINE);
            if want.iter().all(|w| text.lines().any(|l| l == *w)) {
                return text;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "/metrics never had {want:?}:\n{text}"
            );
            sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn serve_exports_metrics_and_status_json_read_only_scraped_by_prometheus_and_stops_on_sigterm() {
    let fleet = TestFleet::start(FleetSpec::hosts(2).with_anvils(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let mut serve = Serve::start(&config);

    let metrics = serve.metrics_with(&[
        "fleetdeck_host_up{host=\"h1\"} 1",
        "fleetdeck_host_up{host=\"h2\"} 1",
        "fleetdeck_service_up{host=\"h1\",service=\"app\"} 1",
    ]);
    assert!(
        metrics.contains("# TYPE fleetdeck_host_up gauge"),
        "{metrics}"
    );
    // Strictly the exposition grammar, with serve's own poller counters.
    let samples = parse_exposition(&metrics);
    assert!(
        samples
            .iter()
            .any(|s| s.0 == "fleetdeck_polls_total" && s.1.is_empty() && s.2 >= 2.0),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE fleetdeck_polls_total counter\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("fleetdeck_chain_height{host=\"h1\"} "),
        "{metrics}"
    );
    let body = wait_for_ok(serve.port, "/status.json", DEADLINE);
    let doc: serde_json::Value = serde_json::from_str(&body).expect("status.json is JSON");
    assert_eq!(doc["fleet"], "testfleet");
    assert_eq!(doc["summary"]["hosts"], 2);
    assert_eq!(doc["hosts"][0]["name"], "h1");
    assert_eq!(doc["hosts"][0]["reachable"], true);

    // Read-only: nothing else answers.
    assert_eq!(http_get(serve.port, "/").unwrap().0, 404);
    assert_eq!(http_get(serve.port, "/refresh").unwrap().0, 404);
    assert_eq!(http_request(serve.port, "POST", "/metrics").unwrap().0, 405);
    assert_eq!(
        http_request(serve.port, "DELETE", "/status.json")
            .unwrap()
            .0,
        405
    );

    // The real Prometheus scrapes it; every host has a series.
    let prom = Prometheus::start("fleetdeck", &[format!("127.0.0.1:{}", serve.port)]);
    let start = Instant::now();
    let hosts = loop {
        let answer = prom.query("fleetdeck_host_up");
        let mut hosts: Vec<String> = answer["data"]["result"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|s| s["metric"]["host"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        hosts.sort();
        if hosts.len() == 2 {
            break hosts;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "Prometheus never had fleetdeck_host_up for both hosts: {answer:#}\n{}",
            prom.log()
        );
        sleep(Duration::from_millis(300));
    };
    assert_eq!(hosts, ["h1", "h2"]);
    let up = prom.query("fleetdeck_host_up{host=\"h1\",job=\"fleetdeck\"}");
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up:#}");
    drop(prom);

    // SIGTERM: exit 0 and the port closed.
    let mut child = serve.child.take().expect("serve child");
    let sent = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill -TERM");
    assert!(sent.success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(start.elapsed() < DEADLINE, "serve did not stop on SIGTERM");
        sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(
        TcpStream::connect(("127.0.0.1", serve.port)).is_err(),
        "port still open after exit"
    );
}

#[test]
fn serve_refuses_an_address_it_cannot_listen_on() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let config = fleet.write_inventory(&InventoryOpts::default());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = Command::new(support::fleetdeck_bin())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
        ])
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .expect("run serve");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
}

//! The monitoring peers: Debian's `prometheus-node-exporter` and `prometheus`, started on free
//! loopback ports with their own temp directories and stopped by PID when dropped (never by name).
//! Debian's `prometheus-alertmanager` likewise, with a null receiver.
//! A missing binary is a test failure saying how to install it (`scripts/test` does).
//!
//! [`http_get`] is a minimal HTTP/1.0 client over `std::net` for the tests' reads of
//! `/metrics` and `/api/v1/query` (no extra client features needed); [`parse_exposition`] checks
//! text the way fleetdeck writes it against the exposition grammar.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::fleet::free_port;

/// How long a peer may take to answer its first request (generous: 2 shared cores).
const START_DEADLINE: Duration = Duration::from_secs(60);

fn binary(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.exists(),
        "{path} is missing: install Debian's prometheus prometheus-node-exporter \
         prometheus-alertmanager (scripts/test does, with no service started)"
    );
    p
}

/// `GET path` on 127.0.0.1:port; the status code and body, or why it failed.
pub fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    http_request(port, "GET", path)
}

/// One HTTP/1.0 request with no body on 127.0.0.1:port; the status code and body.
pub fn http_request(port: u16, method: &str, path: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no header end in {text:?}"))?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status code in {head:?}"))?;
    Ok((code, body.to_string()))
}

/// Polls `GET path` until it answers 200, up to `deadline`; the body.
pub fn wait_for_ok(port: u16, path: &str, deadline: Duration) -> String {
    let start = Instant::now();
    loop {
        match http_get(port, path) {
            Ok((200, body)) => return body,
            other if start.elapsed() > deadline => {
                panic!("GET 127.0.0.1:{port}{path} never answered 200: last {other:?}")
            }
            _ => sleep(Duration::from_millis(100)),
        }
    }
}

fn stop(child: &mut Child) {
    // SIGTERM by PID lets the peer flush and exit; SIGKILL if it has not within 10 s.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A node_exporter with only the textfile collector, reading `textfile_dir()`.
pub struct NodeExporter {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl NodeExporter {
    /// Starts it and waits until `/metrics` answers.
    pub fn start() -> NodeExporter {
        NodeExporter::start_with(&[])
    }

    /// Starts it with these collectors enabled besides the textfile one (`filesystem`,
    /// `loadavg`, `time`, `stat`, …) and waits until `/metrics` answers.
    pub fn start_with(collectors: &[&str]) -> NodeExporter {
        let bin = binary("/usr/bin/prometheus-node-exporter");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("textfile")).expect("textfile dir");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("node_exporter.log")).expect("log");
        let child = Command::new(bin)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile")
            .args(collectors.iter().map(|c| format!("--collector.{c}")))
            .arg(format!(
                "--collector.textfile.directory={}",
                dir.path().join("textfile").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus-node-exporter");
        let ne = NodeExporter { child, port, dir };
        wait_for_ok(port, "/metrics", START_DEADLINE);
        ne
    }

    /// The textfile collector's directory (`*.prom` files).
    pub fn textfile_dir(&self) -> PathBuf {
        self.dir.path().join("textfile")
    }

    /// Its `/metrics` text.
    pub fn metrics(&self) -> String {
        wait_for_ok(self.port, "/metrics", START_DEADLINE)
    }

    /// Its log (stderr), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node_exporter.log")).unwrap_or_default()
    }

    /// `127.0.0.1:PORT`, as a scrape target (and so its `instance` label).
    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// A Prometheus server scraping the given targets every second.
pub struct Prometheus {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts it with one job, `job`, scraping `targets` (`127.0.0.1:PORT`) every second, and
    /// waits until it is ready.
    pub fn start(job: &str, targets: &[String]) -> Prometheus {
        Prometheus::start_with(&scrape_job(job, targets))
    }

    /// Starts it with `scrape_configs` (YAML list items, each `  - job_name: …`, as
    /// [`scrape_job`] and [`federate_job`] write them) under a 1 s global scrape interval, and
    /// waits until it is ready.
    pub fn start_with(scrape_configs: &str) -> Prometheus {
        let bin = binary("/usr/bin/prometheus");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n{scrape_configs}"
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let p = Prometheus { child, port, dir };
        wait_for_ok(port, "/-/ready", START_DEADLINE);
        p
    }

    /// The instant query `promql` through `/api/v1/query`: the parsed JSON answer.
    pub fn query(&self, promql: &str) -> serde_json::Value {
        let encoded: String = promql
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'_' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let body = wait_for_ok(
            self.port,
            &format!("/api/v1/query?query={encoded}"),
            START_DEADLINE,
        );
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("query answer {body:?}: {e}"))
    }

    /// Its port on 127.0.0.1 (a federating Prometheus scrapes `127.0.0.1:PORT/federate`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Its data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// One scrape job (a `scrape_configs` item for [`Prometheus::start_with`]): `targets`
/// (`127.0.0.1:PORT`) scraped at `/metrics`.
pub fn scrape_job(job: &str, targets: &[String]) -> String {
    let list = targets
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("  - job_name: '{job}'\n    static_configs:\n      - targets: [{list}]\n")
}

/// A federation job (a `scrape_configs` item for [`Prometheus::start_with`]): the series
/// matching `matcher` (a PromQL selector such as `{job="fleetdeck"}`) read from each of
/// `upstreams`' `/federate`, their labels kept (`honor_labels`), as Prometheus's federation
/// documentation sets it up.
pub fn federate_job(job: &str, matcher: &str, upstreams: &[String]) -> String {
    let list = upstreams
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "  - job_name: '{job}'\n    honor_labels: true\n    metrics_path: '/federate'\n\
         \x20   params:\n      'match[]':\n        - '{matcher}'\n\
         \x20   static_configs:\n      - targets: [{list}]\n"
    )
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Debian's `prometheus-alertmanager` with a null receiver, no clustering, its own data dir.
pub struct Alertmanager {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts it on a free loopback port and waits until it is ready.
    pub fn start() -> Alertmanager {
        Alertmanager::start_on(free_port())
    }

    /// Starts it on `port` (one a test reserved, to start it late) and waits until it is ready.
    pub fn start_on(port: u16) -> Alertmanager {
        let bin = binary("/usr/bin/prometheus-alertmanager");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = "route:\n  receiver: 'null'\n  group_wait: 1s\nreceivers:\n  - name: 'null'\n";
        let config_path = dir.path().join("alertmanager.yml");
        std::fs::write(&config_path, config).expect("write alertmanager.yml");
        let log = std::fs::File::create(dir.path().join("alertmanager.log")).expect("log");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus-alertmanager");
        let am = Alertmanager { child, port, dir };
        wait_for_ok(port, "/-/ready", START_DEADLINE);
        am
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `GET /api/v2/alerts` (the active ones): the parsed JSON array.
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let body = wait_for_ok(self.port, "/api/v2/alerts", START_DEADLINE);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("alerts answer {body:?}: {e}"))
    }

    /// Its log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// One sample line of the text format: (metric name, labels, value).
pub type Sample = (String, BTreeMap<String, String>, f64);

/// Strict checks of the text exposition format (0.0.4) as fleetdeck writes it: `# HELP` then
/// `# TYPE` before each family's samples, each family in one block, valid metric and label
/// names, quoted and escaped label values, Go float values, no timestamps, a final newline.
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    let name_re = regex::Regex::new(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$").unwrap();
    let label_re = regex::Regex::new(r"^[a-zA-Z_][a-zA-Z0-9_]*$").unwrap();
    assert!(text.ends_with('\n'), "no final newline");
    let mut samples = Vec::new();
    let mut helped = BTreeSet::new();
    let mut typed = BTreeSet::new();
    let mut done = BTreeSet::new();
    let mut current: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let at = format!("line {}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _help) = rest.split_once(' ').expect(&at);
            assert!(name_re.is_match(name), "{at}");
            if let Some(prev) = current.replace(name.to_string()) {
                done.insert(prev);
            }
            assert!(!done.contains(name), "family in two blocks: {at}");
            assert!(helped.insert(name.to_string()), "second HELP: {at}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect(&at);
            assert_eq!(Some(name), current.as_deref(), "TYPE without HELP: {at}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{at}"
            );
            assert!(typed.insert(name.to_string()), "second TYPE: {at}");
        } else {
            assert!(!line.starts_with('#'), "stray comment {at}");
            let brace = line.find(['{', ' ']).expect(&at);
            let name = &line[..brace];
            assert_eq!(
                Some(name),
                current.as_deref(),
                "sample outside its family {at}"
            );
            assert!(typed.contains(name), "sample before TYPE {at}");
            let mut labels = BTreeMap::new();
            let mut rest = &line[brace..];
            // No labels: `name value`; else `name{…} value`.
            let mut in_labels = rest.starts_with('{');
            if in_labels {
                rest = &rest[1..];
            }
            while in_labels {
                if let Some(r) = rest.strip_prefix('}') {
                    rest = r;
                    in_labels = false;
                    continue;
                }
                let eq = rest.find("=\"").expect(&at);
                let label = &rest[..eq];
                assert!(label_re.is_match(label), "label name {at}");
                let mut value = String::new();
                let mut chars = rest[eq + 2..].char_indices();
                let end = loop {
                    let (i, c) = chars.next().expect(&at);
                    match c {
                        '\\' => match chars.next().expect(&at).1 {
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            'n' => value.push('\n'),
                            other => panic!("bad escape \\{other} {at}"),
                        },
                        '"' => break eq + 2 + i + 1,
                        '\n' => panic!("raw newline {at}"),
                        c => value.push(c),
                    }
                };
                assert!(labels.insert(label.to_string(), value).is_none(), "{at}");
                rest = &rest[end..];
                rest = rest.strip_prefix(',').unwrap_or(rest);
            }
            let value = rest.strip_prefix(' ').expect(&at);
            assert!(!value.contains(' '), "timestamp or junk: {at}");
            let v: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                "NaN" => f64::NAN,
                v => v.parse().expect(&at),
            };
            samples.push((name.to_string(), labels, v));
        }
    }
    assert_eq!(helped, typed, "every family has HELP and TYPE");
    samples
}

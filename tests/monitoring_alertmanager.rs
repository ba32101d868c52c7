//! fleetdeck's own alerts sent out by `fleetdeck serve` on the real sshd test fleet: to the
//! real Alertmanager (Debian's `prometheus-alertmanager`, read back through `/api/v2/alerts`)
//! and to a generic webhook (a small HTTP listener here counting POSTs). A stopped service is
//! raised with the contract labels, queued while Alertmanager is down and delivered once it
//! starts, and resolved when the service runs again; the webhook gets one Slack-compatible
//! JSON per transition; with `sender = "console"` serve sends nothing; credentials come from a
//! file or an environment variable, and an unreadable one stops serve; with `sender =
//! "console"` the console (in tmux) pages instead.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::fleet::{closed_port, free_port};
use support::prometheus::{Alertmanager, wait_for_ok};
use support::{FleetSpec, InventoryOpts, TestFleet, Tmux};

const DEADLINE: Duration = Duration::from_secs(120);

/// The `serve` child; killed by PID when the test ends.
struct Serve {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Serve {
    fn start(config: &Path) -> Serve {
        Serve::start_with_env(config, &[])
    }

    fn start_with_env(config: &Path, env: &[(&str, &str)]) -> Serve {
        let port = free_port();
        let log = config.with_extension("serve.log");
        let child = Command::new(support::fleetdeck_bin())
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--config",
            ])
            .arg(config)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("serve log"))
            .spawn()
            .expect("start fleetdeck serve");
        Serve {
            child: Some(child),
            port,
            log,
        }
    }

    /// The rules of host `i`'s alerts in `/status.json`.
    fn rules_of(&self, i: usize) -> Vec<String> {
        let body = wait_for_ok(self.port, "/status.json", DEADLINE);
        let doc: serde_json::Value = serde_json::from_str(&body).expect("status.json");
        doc["hosts"][i]["alerts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["rule"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn polls(&self) -> f64 {
        let text = wait_for_ok(self.port, "/metrics", DEADLINE);
        text.lines()
            .find_map(|l| l.strip_prefix("fleetdeck_polls_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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

/// A webhook receiver: answers 200 to every request and keeps each POST's head and body.
struct Hook {
    port: u16,
    posts: Arc<Mutex<Vec<(String, String)>>>,
}

impl Hook {
    fn start() -> Hook {
        Hook::start_answering(200)
    }

    /// A receiver answering every request with `status`.
    fn start_answering(status: u16) -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind webhook");
        let port = listener.local_addr().expect("addr").port();
        let posts = Arc::new(Mutex::new(Vec::new()));
        let kept = posts.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                let mut raw = Vec::new();
                let mut buf = [0u8; 4096];
                let body = loop {
                    let Ok(n) = s.read(&mut buf) else { break None };
                    if n == 0 {
                        break None;
                    }
                    raw.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&raw).into_owned();
                    if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if rest.len() >= len {
                            break Some((head.to_string(), rest[..len].to_string()));
                        }
                    }
                };
                if let Some((head, body)) = body {
                    if head.starts_with("POST ") {
                        kept.lock().unwrap().push((head, body));
                    }
                    let _ = write!(
                        s,
                        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                }
            }
        });
        Hook { port, posts }
    }

    fn bodies(&self) -> Vec<String> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.1.clone())
            .collect()
    }

    /// The `Authorization` header of each POST (empty when absent).
    fn authorizations(&self) -> Vec<String> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .map(|(head, _)| {
                head.lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("authorization")
                            .then(|| v.trim().to_string())
                    })
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Waits until a body contains `what`; all bodies then.
    fn wait_for(&self, what: &str, serve: &Serve) -> Vec<String> {
        let start = Instant::now();
        loop {
            let all = self.bodies();
            if all.iter().any(|b| b.contains(what)) {
                return all;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "the webhook never got {what:?}: {all:?}\nserve: {}",
                serve.log()
            );
            sleep(Duration::from_millis(200));
        }
    }
}

fn inventory(fleet: &TestFleet, extra: &str) -> PathBuf {
    let text = fleet.inventory_toml(&InventoryOpts::default()) + "\n" + extra;
    let path = fleet
        .root()
        .join(format!("alerts-out-{}.toml", free_port()));
    std::fs::write(&path, text).expect("write inventory");
    path
}

/// Alertmanager's active alerts for host h1, service `app`.
fn app_alerts(am: &Alertmanager) -> Vec<serde_json::Value> {
    am.alerts()
        .into_iter()
        .filter(|a| a["labels"]["host"] == "h1" && a["labels"]["subject"] == "app")
        .collect()
}

#[test]
fn serve_queues_while_alertmanager_is_down_delivers_resolves_and_pages_the_webhook_once_per_transition()
 {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let am_port = free_port();
    let hook = Hook::start();
    let config = inventory(
        &fleet,
        &format!(
            "[alertmanager]\nurl = \"http://127.0.0.1:{am_port}\"\n\n\
             [[notify]]\nurl = \"http://127.0.0.1:{}/hook\"\n",
            hook.port
        ),
    );
    let serve = Serve::start(&config);
    fleet.set_service_running(0, false);

    // Alertmanager is down: the webhook still pages, the Alertmanager notice waits.
    let fired = hook.wait_for("FIRING critical h1/service_down/app", &serve);
    let page = fired
        .iter()
        .find(|b| b.contains("service_down/app"))
        .expect("the page");
    let doc: serde_json::Value = serde_json::from_str(page).expect("webhook JSON");
    let text = doc["text"]
        .as_str()
        .expect("Slack-compatible {\"text\": …}");
    assert!(
        text.contains("[testfleet]") && text.contains("h1/service_down/app"),
        "{text}"
    );

    let am = Alertmanager::start_on(am_port);
    let start = Instant::now();
    let alert = loop {
        if let Some(a) = app_alerts(&am).into_iter().next() {
            break a;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the queued alert never reached Alertmanager: {:?}\nserve: {}\nalertmanager: {}",
            am.alerts(),
            serve.log(),
            am.log()
        );
        sleep(Duration::from_millis(300));
    };
    assert_eq!(
        app_alerts(&am).len(),
        1,
        "one firing alert is one Alertmanager alert"
    );
    assert_eq!(
        alert["labels"],
        serde_json::json!({"alertname": "service_down", "host": "h1", "subject": "app",
                           "severity": "critical", "fleet": "testfleet"}),
        "{alert:#}"
    );

    // Running again: resolved in Alertmanager (no longer active) and one RESOLVED page.
    fleet.set_service_running(0, true);
    let start = Instant::now();
    while !app_alerts(&am).is_empty() {
        assert!(
            start.elapsed() < DEADLINE,
            "Alertmanager still has the alert active: {:?}\nserve: {}",
            am.alerts(),
            serve.log()
        );
        sleep(Duration::from_millis(300));
    }
    let all = hook.wait_for("RESOLVED critical h1/service_down/app", &serve);
    // Only this alert's pages count: the test machine may have other problems (a full disk).
    let app: Vec<&String> = all
        .iter()
        .filter(|b| b.contains("service_down/app"))
        .collect();
    assert_eq!(
        app.len(),
        2,
        "one page per transition, no duplicates: {app:?}"
    );
}

#[test]
fn with_sender_console_serve_sends_nothing() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let am = Alertmanager::start();
    let hook = Hook::start();
    let config = inventory(
        &fleet,
        &format!(
            "[alertmanager]\nurl = \"http://127.0.0.1:{}\"\nsender = \"console\"\n\n\
             [[notify]]\nurl = \"http://127.0.0.1:{}/hook\"\n",
            am.port(),
            hook.port
        ),
    );
    let serve = Serve::start(&config);
    fleet.set_service_running(0, false);
    let start = Instant::now();
    while !serve.rules_of(0).iter().any(|r| r == "service_down") {
        assert!(
            start.elapsed() < DEADLINE,
            "serve never saw the stopped service: {}",
            serve.log()
        );
        sleep(Duration::from_millis(200));
    }
    // Several more polls (and ticks) after the alert: a sender would have posted by now.
    let seen = serve.polls();
    while serve.polls() < seen + 5.0 {
        assert!(start.elapsed() < DEADLINE, "serve stopped polling");
        sleep(Duration::from_millis(200));
    }
    assert_eq!(hook.bodies(), Vec::<String>::new());
    assert!(app_alerts(&am).is_empty(), "{:?}", am.alerts());
}

#[test]
fn credentials_come_from_a_file_or_an_environment_variable_and_an_unreadable_one_stops_serve() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let bearer = Hook::start();
    let basic = Hook::start();
    let password = fleet.root().join("hook-password");
    std::fs::write(&password, "s3cret\n").expect("write password");
    let config = inventory(
        &fleet,
        &format!(
            "[[notify]]\nurl = \"http://127.0.0.1:{}/hook\"\nbearer_token_env = \"FD_TEST_HOOK_TOKEN\"\n\n\
             [[notify]]\nurl = \"http://127.0.0.1:{}/hook\"\nusername = \"bot\"\npassword_file = \"{}\"\n",
            bearer.port,
            basic.port,
            password.display()
        ),
    );
    let serve = Serve::start_with_env(&config, &[("FD_TEST_HOOK_TOKEN", "tok-123")]);
    fleet.set_service_running(0, false);
    bearer.wait_for("service_down/app", &serve);
    basic.wait_for("service_down/app", &serve);
    // Every POST carries the credential (the machine may have other alerts too).
    let every = |hook: &Hook, want: &str| hook.authorizations().iter().all(|a| a == want);
    assert!(
        every(&bearer, "Bearer tok-123"),
        "{:?}",
        bearer.authorizations()
    );
    // base64("bot:s3cret"): the file's trailing newline is not part of the password.
    assert!(
        every(&basic, "Basic Ym90OnMzY3JldA=="),
        "{:?}",
        basic.authorizations()
    );
    drop(serve);

    // The variable unset: serve refuses to start (exit 1) and names the variable, not a secret.
    let mut failed = Serve::start(&config);
    let status = failed
        .child
        .take()
        .expect("child")
        .wait()
        .expect("wait for serve");
    assert_eq!(status.code(), Some(1), "{}", failed.log());
    let log = failed.log();
    assert!(log.contains("FD_TEST_HOOK_TOKEN is not set"), "{log}");
}

#[test]
fn with_sender_console_the_console_pages_the_webhook() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let hook = Hook::start();
    let config = inventory(
        &fleet,
        &format!(
            "[alertmanager]\nurl = \"http://127.0.0.1:{}\"\nsender = \"console\"\n\n\
             [[notify]]\nurl = \"http://127.0.0.1:{}/hook\"\n",
            closed_port(),
            hook.port
        ),
    );
    let state = fleet.root().join("state");
    let state = state.to_str().expect("utf-8 path");
    let line = format!(
        "{} --config {}; echo \"EXITED=$? END\"; sleep 30",
        support::fleetdeck_bin().display(),
        config.display()
    );
    let tmux = Tmux::start_with_env(
        &line,
        120,
        40,
        &[
            ("XDG_STATE_HOME", state),
            ("SSH_AUTH_SOCK", ""),
            ("USER", "alice"),
        ],
    );
    tmux.wait_until(DEADLINE, |s| s.contains("1/1 reachable"))
        .unwrap_or_else(|screen| panic!("the console never polled h1:\n{screen}"));
    fleet.set_service_running(0, false);
    let start = Instant::now();
    while !hook.bodies().iter().any(|b| b.contains("service_down/app")) {
        assert!(
            start.elapsed() < DEADLINE,
            "the console never paged the webhook: {:?}\nscreen:\n{}",
            hook.bodies(),
            tmux.capture()
        );
        sleep(Duration::from_millis(200));
    }
    // Alertmanager is down here: the console stays responsive and quits cleanly.
    tmux.send_keys(&["q"]);
    let after = tmux.wait_for(" END", DEADLINE);
    assert!(after.contains("EXITED=0"), "{after}");
}

#[test]
fn a_webhook_that_rejects_a_notice_is_not_retried_and_later_notices_still_go() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let hook = Hook::start_answering(400);
    let config = inventory(
        &fleet,
        &format!(
            "[[notify]]\nurl = \"http://127.0.0.1:{}/hook\"\n",
            hook.port
        ),
    );
    let serve = Serve::start(&config);
    fleet.set_service_running(0, false);
    hook.wait_for("FIRING critical h1/service_down/app", &serve);
    fleet.set_service_running(0, true);
    // A retried FIRING would come again before RESOLVED (the webhook keeps order).
    let all = hook.wait_for("RESOLVED critical h1/service_down/app", &serve);
    let app: Vec<&String> = all
        .iter()
        .filter(|b| b.contains("service_down/app"))
        .collect();
    assert_eq!(app.len(), 2, "a 400 is final, not retried: {app:?}");
}

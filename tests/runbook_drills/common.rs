//! Shared pieces of the runbook drills: the `fleetdeck` binary run against a [`TestFleet`] with
//! its own state and config homes, a terminal driver over [`Tmux`] that answers prompts in
//! order, readers of the audit log through `fleetdeck audit`, and a tiny webhook receiver.
//!
//! Everything talks to real peers: the hosts are OpenSSH sshd processes of the test fleet, the
//! terminal is a real tmux, the webhook is a real TCP listener on 127.0.0.1. Waiting is always a
//! bounded poll for a condition; a timeout fails with what was seen last.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, sleep};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::tmux::Exit;
use crate::support::{self, InventoryOpts, TestFleet, Tmux};

/// A fleet, an inventory for it, and the XDG homes every `fleetdeck` process of the drill uses.
pub struct Drill {
    /// The real peers.
    pub fleet: TestFleet,
    /// `XDG_STATE_HOME`: audit log, run states, fleetdeck.log.
    pub state_home: PathBuf,
    /// `XDG_CONFIG_HOME`: the operator's own runbooks.
    pub config_home: PathBuf,
    /// The inventory written by [`Drill::set_inventory`].
    pub config: PathBuf,
}

impl Drill {
    /// Wraps `fleet` and writes the standard inventory for it.
    pub fn new(fleet: TestFleet) -> Drill {
        let state_home = fleet.root().join("xdg-state");
        let config_home = fleet.root().join("xdg-config");
        std::fs::create_dir_all(&state_home).unwrap();
        std::fs::create_dir_all(config_home.join("fleetdeck/runbooks")).unwrap();
        let config = fleet.write_inventory(&InventoryOpts::default());
        Drill {
            fleet,
            state_home,
            config_home,
            config,
        }
    }

    /// Writes a new inventory and uses it from now on.
    pub fn set_inventory(&mut self, opts: &InventoryOpts) {
        self.config = self.fleet.write_inventory(opts);
    }

    /// The default audit log: `$XDG_STATE_HOME/fleetdeck/audit.jsonl`.
    pub fn audit_path(&self) -> PathBuf {
        self.state_home.join("fleetdeck/audit.jsonl")
    }

    /// `$XDG_STATE_HOME/fleetdeck/fleetdeck.log`.
    pub fn log_path(&self) -> PathBuf {
        self.state_home.join("fleetdeck/fleetdeck.log")
    }

    /// Where suspended runs are saved.
    pub fn runs_dir(&self) -> PathBuf {
        self.state_home.join("fleetdeck/runs")
    }

    /// The operator's own runbook directory.
    pub fn own_runbooks(&self) -> PathBuf {
        self.config_home.join("fleetdeck/runbooks")
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "XDG_STATE_HOME".into(),
                self.state_home.display().to_string(),
            ),
            (
                "XDG_CONFIG_HOME".into(),
                self.config_home.display().to_string(),
            ),
            ("USER".into(), self.fleet.user().to_string()),
        ]
    }

    /// `fleetdeck --config INVENTORY ARGS…` with no terminal: stdin is /dev/null, output piped.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(support::fleetdeck_bin());
        c.arg("--config").arg(&self.config).args(args);
        for (k, v) in self.env() {
            c.env(k, v);
        }
        c.env_remove("SSH_AUTH_SOCK")
            .env_remove("FLEETDECK_CONFIG")
            .current_dir(self.fleet.root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs [`Drill::command`] to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run fleetdeck")
    }

    /// The same command as a shell line for tmux (its environment set inline, the agent removed).
    pub fn shell_line(&self, args: &[&str]) -> String {
        let mut words: Vec<String> = vec![
            "exec".into(),
            "env".into(),
            "-u".into(),
            "SSH_AUTH_SOCK".into(),
        ];
        words.push("-u".into());
        words.push("FLEETDECK_CONFIG".into());
        for (k, v) in self.env() {
            words.push(format!("{k}={v}"));
        }
        words.push(support::fleetdeck_bin().display().to_string());
        words.push("--config".into());
        words.push(self.config.display().to_string());
        words.extend(args.iter().map(|a| a.to_string()));
        let quoted: Vec<String> = words
            .iter()
            .map(|w| shlex::try_quote(w).expect("quotable argument").into_owned())
            .collect();
        format!(
            "cd {} && {}",
            shlex::try_quote(&self.fleet.root().display().to_string()).unwrap(),
            quoted.join(" ")
        )
    }

    /// Starts `fleetdeck ARGS…` in a real terminal (tmux, 200×50).
    pub fn terminal(&self, args: &[&str]) -> Term {
        Term {
            tmux: Tmux::start(&self.shell_line(args), 200, 50),
            seen: BTreeMap::new(),
        }
    }

    /// Every audit record, as `fleetdeck audit show --json` prints them (exit 0 required).
    pub fn audit(&self) -> Vec<Value> {
        let out = self.run(&["audit", "show", "--json"]);
        assert!(
            out.status.success(),
            "audit show --json failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("audit show --json prints JSON");
        v.as_array().expect("a JSON array of records").clone()
    }

    /// `fleetdeck audit verify` must say the chain is intact (exit 0).
    pub fn assert_audit_intact(&self) {
        let out = self.run(&["audit", "verify"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "audit verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Text of a field of an audit record (`""` when null).
pub fn field<'a>(record: &'a Value, key: &str) -> &'a str {
    record.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The records of one run (the `run` field), in log order.
pub fn records_of_run<'a>(records: &'a [Value], run: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| field(r, "run") == run).collect()
}

/// Run ids in the order their `runbook.start` records appear, for `runbook`.
pub fn runs_of(records: &[Value], runbook: &str) -> Vec<String> {
    records
        .iter()
        .filter(|r| field(r, "action") == "runbook.start" && field(r, "runbook") == runbook)
        .map(|r| field(r, "run").to_string())
        .collect()
}

/// Actions of `records`, in order.
pub fn actions(records: &[&Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| field(r, "action").to_string())
        .collect()
}

/// Asserts that every `exec` of a step in `dangerous` (a rolling sub-step `STEP.SUB` counts as
/// `STEP`) comes after a `confirm` of that step in the same run, with no new visit of the step
/// (`step.run`) in between: each confirmation allows only the commands of its own visit.
pub fn assert_confirm_precedes_exec(records: &[&Value], dangerous: &[&str]) {
    let mut confirmed: BTreeMap<(String, String), bool> = BTreeMap::new();
    let mut execs = 0;
    for r in records {
        let run = field(r, "run").to_string();
        let step = field(r, "step");
        let top = step.split('.').next().unwrap_or("").to_string();
        match field(r, "action") {
            "step.run" => {
                confirmed.insert((run, top), false);
            }
            "confirm" => {
                confirmed.insert((run, top), true);
            }
            "exec" if dangerous.contains(&top.as_str()) => {
                execs += 1;
                assert!(
                    confirmed.get(&(run, top.clone())).copied().unwrap_or(false),
                    "exec of dangerous step `{step}` (seq {}) without a confirm record before it",
                    r.get("seq").cloned().unwrap_or_default()
                );
            }
            _ => {}
        }
    }
    assert!(
        execs > 0,
        "no exec of the dangerous steps {dangerous:?} was recorded"
    );
}

/// A real terminal running fleetdeck, answered prompt by prompt.
pub struct Term {
    /// The tmux session.
    pub tmux: Tmux,
    seen: BTreeMap<String, usize>,
}

impl Term {
    /// Everything the terminal showed so far (scrollback included, wrapped lines joined).
    pub fn history(&self) -> String {
        self.tmux.ok(&[
            "capture-pane",
            "-p",
            "-J",
            "-S",
            "-",
            "-E",
            "-",
            "-t",
            "main",
        ])
    }

    /// Waits for the next occurrence of `needle` (one more than this terminal has waited for
    /// so far) and returns the history. Panics with the history on timeout.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> String {
        let want = self.seen.get(needle).copied().unwrap_or(0) + 1;
        let deadline = Instant::now() + timeout;
        loop {
            let history = self.history();
            if history.matches(needle).count() >= want {
                self.seen.insert(needle.to_string(), want);
                return history;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the terminal did not show {needle:?} (occurrence {want}) within {timeout:?}:\n{history}"
                );
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the next `prompt`, then types `text` and Enter.
    pub fn answer(&mut self, prompt: &str, text: &str, timeout: Duration) {
        self.expect(prompt, timeout);
        if !text.is_empty() {
            self.tmux.send_literal(text);
        }
        self.tmux.send_keys(&["Enter"]);
    }

    /// Waits until either `a` or `b` shows up once more and says which came (true = `a`),
    /// without counting it as seen: follow with [`Term::expect`] or [`Term::answer`] on it.
    pub fn first_of(&self, a: &str, b: &str, timeout: Duration) -> bool {
        let want_a = self.seen.get(a).copied().unwrap_or(0) + 1;
        let want_b = self.seen.get(b).copied().unwrap_or(0) + 1;
        let deadline = Instant::now() + timeout;
        loop {
            let history = self.history();
            if history.matches(a).count() >= want_a {
                return true;
            }
            if history.matches(b).count() >= want_b {
                return false;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the terminal showed neither {a:?} nor {b:?} within {timeout:?}:\n{history}"
                );
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the command to end; returns its exit status ([`Tmux::exit`], which copes
    /// with tmux 3.3 not reaping it). Panics with the history on timeout, or when the
    /// command was killed by a signal.
    pub fn exit_code(&self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            match self.tmux.exit() {
                Some(Exit::Code(code)) => return code,
                Some(Exit::Signal(signal)) => panic!(
                    "fleetdeck was killed by signal {signal}:\n{}",
                    self.history()
                ),
                None => {}
            }
            if Instant::now() >= deadline {
                let panes = self.tmux.ok(&[
                    "list-panes",
                    "-a",
                    "-F",
                    "#{pane_pid} dead=#{pane_dead} status=#{pane_dead_status} signal=#{pane_dead_signal}",
                ]);
                let server_cpu = |pid: u32| {
                    std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .unwrap_or_default()
                        .rsplit(')')
                        .next()
                        .map(|r| {
                            r.split_whitespace()
                                .skip(11)
                                .take(2)
                                .collect::<Vec<_>>()
                                .join("+")
                        })
                        .unwrap_or_default()
                };
                let pane = self.tmux.pane_pid();
                let ppid: u32 = std::fs::read_to_string(format!("/proc/{pane}/stat"))
                    .unwrap_or_default()
                    .rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().nth(1).map(str::to_string))
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                let c1 = server_cpu(ppid);
                sleep(Duration::from_secs(1));
                let c2 = server_cpu(ppid);
                panic!(
                    "fleetdeck still running after {timeout:?}:\n{}\nits threads:\n{}\npanes: {panes}\ntmux server cpu {c1} -> {c2} (utime+stime ticks)\nwchan {}",
                    self.history(),
                    threads_of(pane),
                    std::fs::read_to_string(format!("/proc/{ppid}/wchan")).unwrap_or_default()
                );
            }
            sleep(Duration::from_millis(50));
        }
    }
}

/// Name, state and wait channel of every thread of `pid`: what a hung process is waiting for.
fn threads_of(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let ppid = status
        .lines()
        .find(|l| l.starts_with("PPid:"))
        .unwrap_or("PPid: ?")
        .to_string();
    let parent = ppid
        .split_whitespace()
        .nth(1)
        .and_then(|p| std::fs::read_to_string(format!("/proc/{p}/cmdline")).ok())
        .unwrap_or_default()
        .replace('\0', " ");
    let masks: String = ppid
        .split_whitespace()
        .nth(1)
        .and_then(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("Sig") || l.starts_with("State"))
        .collect::<Vec<_>>()
        .join(" | ");
    let mut out = format!("  pid {pid}, {ppid} ({parent})\n  parent: {masks}\n");
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return format!("(no process {pid})");
    };
    for t in tasks.flatten() {
        let p = t.path();
        let read = |f: &str| {
            std::fs::read_to_string(p.join(f))
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        let stat = read("stat");
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("?")
            .to_string();
        out.push_str(&format!(
            "  {} {:<16} {state} {}\n",
            t.file_name().to_string_lossy(),
            read("comm"),
            read("wchan")
        ));
    }
    out
}

/// One HTTP request the webhook receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST /path HTTP/1.1`
    pub request_line: String,
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

/// A webhook on 127.0.0.1: answers every request 200 and keeps it. Stopped on drop.
pub struct Webhook {
    /// Its port.
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Webhook {
    /// Listens on a free port.
    pub fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (received.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Some(req) = serve(stream) {
                            r.lock().unwrap().push(req);
                        }
                    }
                    Err(_) => sleep(Duration::from_millis(20)),
                }
            }
        });
        Webhook {
            port,
            received,
            stop,
            thread: Some(thread),
        }
    }

    /// Requests so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the webhook got {} request(s), expected {n}: {got:?}",
                    got.len()
                );
            }
            sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut stream: TcpStream) -> Option<Received> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    Some(Received {
        request_line,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Every regular file under `dir` (recursively), with its contents; missing dir = none.
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((p, bytes));
        }
    }
    out
}

/// Asserts that `secret` appears in none of `files`.
pub fn assert_secret_absent(secret: &str, files: &[(PathBuf, Vec<u8>)]) {
    for (path, bytes) in files {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains(secret),
            "the secret leaked into {}:\n{text}",
            path.display()
        );
    }
}

/// Names, sizes and modification times of the files in `dir`: a fingerprint that shows any
/// change made there.
pub fn dir_fingerprint(dir: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .map(|e| {
            let m = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                m.len(),
                m.modified().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Runs `sh -c SCRIPT` locally with `HOME` set to a test host's home (the same files a
/// session on that host sees) and returns its stdout; panics when it fails.
pub fn on_host_home(home: &Path, script: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("HOME", home)
        .current_dir(home)
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "`{script}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A TOML basic string.
pub fn toml_str(s: &str) -> String {
    support::fleet::toml_str(s)
}

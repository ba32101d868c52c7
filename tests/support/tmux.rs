//! `Tmux`: runs one command in a private tmux server so a test can type and read the screen.
//!
//! Each instance has its own server (`tmux -L fleetdeck-test-<pid>-<n>`, config `-f` of its own with
//! `escape-time 0` so a bare Esc arrives at once, and `remain-on-exit on` so the last screen and the exit
//! status stay readable after the command ends). `Drop` runs `kill-server` on that socket only.
//! Read the screen by polling ([`Tmux::wait_for`]), never by sleeping.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The session target inside the private server.
const TARGET: &str = "main";

/// How the pane's command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// This signal killed it.
    Signal(i32),
}

pub struct Tmux {
    socket: String,
    _dir: tempfile::TempDir,
}

impl Tmux {
    /// Starts `cmd` (a shell command line) in a detached `width`×`height` session.
    pub fn start(cmd: &str, width: u16, height: u16) -> Tmux {
        Tmux::start_with_env(cmd, width, height, &[])
    }

    /// The same, with extra environment variables for the command.
    pub fn start_with_env(cmd: &str, width: u16, height: u16, env: &[(&str, &str)]) -> Tmux {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let socket = format!("fleetdeck-test-{}-{n}", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix("fleetdeck-tmux-")
            .tempdir()
            .expect("create tmux temp dir");
        let conf = dir.path().join("tmux.conf");
        std::fs::write(
            &conf,
            "set -s escape-time 0\nset -g remain-on-exit on\nset -g history-limit 5000\n\
             set -g status off\n",
        )
        .expect("write tmux.conf");
        let t = Tmux { socket, _dir: dir };
        let mut args: Vec<String> = vec![
            "new-session".into(),
            "-d".into(),
            "-s".into(),
            TARGET.into(),
            "-x".into(),
            width.to_string(),
            "-y".into(),
            height.to_string(),
        ];
        for (k, v) in env {
            args.push("-e".into());
            args.push(format!("{k}={v}"));
        }
        args.push(cmd.into());
        let out = t.raw(&conf, &args);
        assert!(
            out.status.success(),
            "tmux new-session failed for {cmd:?}: {}\n(is tmux installed? scripts/test installs it)",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    /// The private socket name (`tmux -L <this>`), e.g. to attach by hand while debugging.
    pub fn socket(&self) -> &str {
        &self.socket
    }

    /// Sends keys by tmux name (`Enter`, `Escape`, `C-c`, `Down`, `q`, …).
    pub fn send_keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", TARGET];
        args.extend_from_slice(keys);
        self.ok(&args);
    }

    /// Types `text` literally (`send-keys -l`).
    pub fn send_literal(&self, text: &str) {
        self.ok(&["send-keys", "-t", TARGET, "-l", text]);
    }

    /// The visible screen, one line per row (trailing blanks trimmed by tmux).
    pub fn capture(&self) -> String {
        self.ok(&["capture-pane", "-p", "-t", TARGET])
    }

    /// Polls the screen until it contains `text`; returns that screen. Panics with the last screen.
    pub fn wait_for(&self, text: &str, timeout: Duration) -> String {
        self.wait_until(timeout, |screen| screen.contains(text))
            .unwrap_or_else(|last| {
                panic!("screen did not show {text:?} within {timeout:?}; last screen:\n{last}")
            })
    }

    /// Polls the screen until it no longer contains `text`; returns that screen. Panics with the last one.
    pub fn wait_for_absent(&self, text: &str, timeout: Duration) -> String {
        self.wait_until(timeout, |screen| !screen.contains(text))
            .unwrap_or_else(|last| {
                panic!("screen still showed {text:?} after {timeout:?}; last screen:\n{last}")
            })
    }

    /// Polls the screen until `pred` holds: `Ok(screen)`, or `Err(last screen)` after `timeout`.
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return Ok(screen);
            }
            if Instant::now() >= deadline {
                return Err(screen);
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// Resizes the window (the command gets SIGWINCH).
    pub fn resize(&self, width: u16, height: u16) {
        self.ok(&[
            "resize-window",
            "-t",
            TARGET,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ]);
    }

    /// How the command ended, `None` while it runs.
    ///
    /// tmux marks a pane dead when the terminal closes, which can be a moment before it has
    /// reaped the process, and tmux 3.3 sometimes never reaps it at all (no SIGCHLD
    /// handled): `#{pane_dead_status}` is then empty although the command is over. The status
    /// is read from the zombie's /proc entry in that case, and `None` (not yet readable) is
    /// returned while neither source has it.
    pub fn exit(&self) -> Option<Exit> {
        let s = self.ok(&[
            "display-message",
            "-p",
            "-t",
            TARGET,
            "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}",
        ]);
        let parts: Vec<&str> = s.trim().split(':').collect();
        let ["1", status, signal] = parts.as_slice() else {
            return None;
        };
        if let Ok(code) = status.parse() {
            return Some(Exit::Code(code));
        }
        if !signal.is_empty() {
            return Some(Exit::Signal(signal.parse().unwrap_or(-1)));
        }
        let status = zombie_wait_status(self.pane_pid())?;
        Some(if status & 0x7f == 0 {
            Exit::Code((status >> 8) & 0xff)
        } else {
            Exit::Signal(status & 0x7f)
        })
    }

    /// The exit status of the command once it has ended (`-1` when a signal killed it),
    /// `None` while it runs. See [`Tmux::exit`].
    pub fn exit_status(&self) -> Option<i32> {
        self.exit().map(|e| match e {
            Exit::Code(code) => code,
            Exit::Signal(_) => -1,
        })
    }

    /// Waits until the command ends and returns its exit status. Panics with the screen on timeout.
    pub fn wait_for_exit(&self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(code) = self.exit_status() {
                return code;
            }
            if Instant::now() >= deadline {
                panic!(
                    "command still running after {timeout:?}; screen:\n{}",
                    self.capture()
                );
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// PID of the command running in the pane.
    pub fn pane_pid(&self) -> u32 {
        let s = self.ok(&["display-message", "-p", "-t", TARGET, "#{pane_pid}"]);
        s.trim()
            .parse()
            .unwrap_or_else(|e| panic!("pane_pid {s:?}: {e}"))
    }

    /// Runs a tmux command on this server; panics when it fails; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.raw(Path::new("/dev/null"), args);
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn raw<S: AsRef<std::ffi::OsStr>>(&self, conf: &Path, args: &[S]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg(conf)
            .args(args)
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run tmux (scripts/test installs it): {e}"))
    }
}

/// The wait status of `pid` if it is a zombie (dead, not reaped): field 52 of
/// /proc/PID/stat, in the form waitpid(2) reports.
fn zombie_wait_status(pid: u32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold anything; the fields after it start at field 3 (state).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    if fields.first() != Some(&"Z") {
        return None;
    }
    fields.get(52 - 3)?.parse().ok()
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

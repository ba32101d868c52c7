//! Following logs against real OpenSSH hosts: `Transport::stream` delivers lines as they are
//! written and leaves nothing running on the host once closed (proven with `pgrep` run on the
//! host through its own sshd), and its channel permit comes back; and the console end to end in
//! tmux — `f` follows a log file under the host's home, appended lines appear, `/` highlights
//! matches, `n`/`N` step, `f` again stops the remote `tail`, and quitting while following leaves
//! no `tail` either.

mod support;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetdeck::inventory::load_fleet;
use fleetdeck::poller;
use fleetdeck::transport::ssh::{MAX_CHANNELS, NoPrompt, SshShared};
use fleetdeck::transport::stream::{StreamEvent, StreamRequest};
use fleetdeck::transport::{ExecRequest, Transport};
use support::{FleetSpec, InventoryOpts, TestFleet, Tmux};

const WAIT: Duration = Duration::from_secs(30);

/// The follow command the console runs for `file` (an absolute path here).
fn tail_of(file: &Path) -> String {
    format!("tail -n 0 -F -- {}", file.display())
}

/// PIDs of processes on host `i` whose command line matches `pattern` (an extended regex),
/// as `pgrep -f` run on that host over its own sshd sees them.
fn remote_pgrep(fleet: &TestFleet, i: usize, pattern: &str) -> Vec<u32> {
    let out = fleet
        .ssh_command(i, &format!("pgrep -f -- '{pattern}'; true"))
        .output()
        .expect("run ssh");
    assert!(out.status.success(), "ssh pgrep: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The `tail` processes following `file` on host `i` (the program itself, by its command line
/// from its first word).
fn remote_tails(fleet: &TestFleet, i: usize, file: &Path) -> Vec<u32> {
    remote_pgrep(fleet, i, &format!("^tail -n 0 -F -- {}$", file.display()))
}

/// Every process on host `i` a follow of `logs/app.log` started: the tail and the guard shell
/// around it (whose command line carries the tail's text). The `[t]` keeps the pattern from
/// matching the shell that runs pgrep. Every test host is an sshd on this machine, so only
/// processes under host `i`'s own sshd count: another test's follow is not this host's.
fn remote_follow_processes(fleet: &TestFleet, i: usize) -> Vec<u32> {
    let sshd = fleet.host(i).pid.expect("host is running");
    remote_pgrep(fleet, i, "[t]ail -n 0 -F -- .*logs/app[.]log")
        .into_iter()
        .filter(|&pid| descends_from(pid, sshd))
        .collect()
}

/// Whether `ancestor` is among `pid`'s parents (read from /proc; a process that is gone is not).
fn descends_from(mut pid: u32, ancestor: u32) -> bool {
    while pid > 1 {
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // The command name may hold spaces and parentheses: the fields start after the last ')'.
        let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
        else {
            return false;
        };
        if ppid == ancestor {
            return true;
        }
        pid = ppid;
    }
    false
}

/// Polls until `pred` holds, panicking with `what` after a generous deadline.
fn eventually(what: &str, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn append(file: &Path, line: &str) {
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(file)
        .expect("open the log");
    writeln!(f, "{line}").expect("append to the log");
}

/// A log file under host 0's home, configured as its `app` log.
fn fleet_with_a_log(hosts: usize) -> (TestFleet, PathBuf, PathBuf) {
    let fleet = TestFleet::start(FleetSpec::hosts(hosts));
    let dir = fleet.host(0).home.join("logs");
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join("app.log");
    fs::write(&file, "an old line before the follow\n").unwrap();
    let mut opts = InventoryOpts::default();
    opts.host_toml.insert(
        0,
        "logs = [{ name = \"app\", file = \"~/logs/app.log\" }]".into(),
    );
    let config = fleet.write_inventory(&opts);
    (fleet, config, file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_delivers_appended_lines_and_closing_it_leaves_nothing_on_the_host() {
    let (peers, config, file) = fleet_with_a_log(1);
    let fleet = load_fleet(Some(&config)).unwrap_or_else(|e| panic!("{e}"));
    let ts: Vec<Transport> =
        poller::transports(&fleet, &SshShared::new(Arc::new(NoPrompt))).unwrap();
    let req = StreamRequest {
        command: tail_of(&file),
        open_timeout: WAIT,
    };
    let mut stream = ts[0].stream(&req).await.expect("stream opens");
    let tails = {
        let (peers, file) = (&peers, file.clone());
        tokio::task::block_in_place(|| {
            eventually("tail running on the host", || {
                !remote_tails(peers, 0, &file).is_empty()
            });
            remote_tails(peers, 0, &file)
        })
    };
    assert_eq!(tails.len(), 1, "one tail: {tails:?}");
    // `tail -n 0` starts at the end: write until a line comes through (the first may land
    // before tail has reached the end of the file), then the lines that count.
    let mut first = None;
    let deadline = Instant::now() + WAIT;
    let mut k = 0;
    while first.is_none() {
        assert!(Instant::now() < deadline, "no followed line arrived");
        append(&file, &format!("sync-{k}"));
        k += 1;
        if let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(300), stream.next()).await
        {
            first = Some(ev);
        }
    }
    assert!(
        matches!(&first, Some(StreamEvent::Line(l)) if l.starts_with("sync-")),
        "{first:?}"
    );
    append(&file, "ERROR disk quota exceeded");
    append(&file, "all good again");
    let mut got = Vec::new();
    while got.len() < 2 {
        match tokio::time::timeout(WAIT, stream.next()).await {
            Ok(Some(StreamEvent::Line(l))) if l.starts_with("sync-") => {}
            Ok(Some(StreamEvent::Line(l))) => got.push(l),
            other => panic!("expected a line, got {other:?}"),
        }
    }
    assert_eq!(got, ["ERROR disk quota exceeded", "all good again"]);
    assert!(
        !got.iter().any(|l| l.contains("old line")),
        "started at the end"
    );

    stream.close(WAIT).await;
    tokio::task::block_in_place(|| {
        eventually("the remote tail to be gone", || {
            remote_follow_processes(&peers, 0).is_empty()
        });
    });

    // Permits come back: fill every channel of the connection with follows, close them all,
    // fill them again, and an exec still runs.
    for _ in 0..2 {
        let mut open = Vec::new();
        for _ in 0..MAX_CHANNELS {
            open.push(ts[0].stream(&req).await.expect("stream opens"));
        }
        for s in open {
            s.close(WAIT).await;
        }
    }
    let out = tokio::time::timeout(
        WAIT,
        ts[0].exec(&ExecRequest {
            command: "echo still-here".into(),
            stdin: None,
            timeout: WAIT,
            max_output: 1024,
        }),
    )
    .await
    .expect("a channel permit was free")
    .expect("exec runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "still-here");
    tokio::task::block_in_place(|| {
        eventually("every follow's tail to be gone", || {
            remote_follow_processes(&peers, 0).is_empty()
        });
    });

    // Dropping a stream (no close) stops its command too.
    let stream = ts[0].stream(&req).await.expect("stream opens");
    tokio::task::block_in_place(|| {
        eventually("tail running again", || {
            !remote_tails(&peers, 0, &file).is_empty()
        })
    });
    drop(stream);
    tokio::task::block_in_place(|| {
        eventually("the dropped stream's tail to be gone", || {
            remote_follow_processes(&peers, 0).is_empty()
        });
    });
}

/// SGR attributes in effect at byte `at` of a `capture-pane -e` line: whether reverse (7) is on.
fn reversed_at(line: &str, at: usize) -> bool {
    let mut reverse = false;
    let mut rest = &line[..at];
    while let Some(i) = rest.find("\x1b[") {
        let after = &rest[i + 2..];
        let Some(end) = after.find('m') else { break };
        let params: Vec<&str> = after[..end].split(';').collect();
        let mut p = 0;
        while p < params.len() {
            match params[p] {
                "" | "0" => reverse = false,
                "7" => reverse = true,
                "27" => reverse = false,
                // Colours: skip their arguments (`38;5;N`, `38;2;R;G;B`).
                "38" | "48" | "58" => {
                    p += if params.get(p + 1) == Some(&"2") {
                        4
                    } else {
                        2
                    };
                }
                _ => {}
            }
            p += 1;
        }
        rest = &after[end + 1..];
    }
    reverse
}

#[test]
fn the_console_follows_a_log_searches_it_and_stops_the_remote_tail() {
    let (fleet, config, file) = fleet_with_a_log(1);
    let state = fleet.root().join("state");
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
            ("XDG_STATE_HOME", state.to_str().unwrap()),
            ("SSH_AUTH_SOCK", ""),
            ("USER", "alice"),
        ],
    );
    tmux.wait_for("1/1 reachable", WAIT);
    tmux.send_keys(&[":"]);
    tmux.send_literal("pane logs");
    tmux.send_keys(&["Enter"]);
    tmux.wait_for("file ~/logs/app.log", WAIT);
    assert!(remote_follow_processes(&fleet, 0).is_empty());

    // `f` follows: one tail on the host, and lines written to the file show up.
    tmux.send_keys(&["f"]);
    tmux.wait_for("following: h1 app ─", WAIT);
    eventually("tail running on the host", || {
        remote_tails(&fleet, 0, &file).len() == 1
    });
    let deadline = Instant::now() + WAIT;
    let mut k = 0;
    while !tmux.capture().contains("│ sync-") {
        assert!(
            Instant::now() < deadline,
            "no followed line shown:\n{}",
            tmux.capture()
        );
        append(&file, &format!("sync-{k}"));
        k += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    append(&file, "INFO worker started");
    append(&file, "ERROR boom-2 upstream timeout");
    let screen = tmux.wait_for("ERROR boom-2 upstream timeout", WAIT);
    assert!(screen.contains("INFO worker started"), "{screen}");
    assert!(!screen.contains("an old line"), "{screen}");

    // `/` searches (not the row filter): the match count, and the match drawn reversed.
    tmux.send_keys(&["/"]);
    tmux.send_literal("boom");
    tmux.send_keys(&["Enter"]);
    tmux.wait_for("/boom · 1/1", WAIT);
    let colours = tmux.ok(&["capture-pane", "-p", "-e", "-t", "main"]);
    let row = colours
        .lines()
        .find(|l| l.contains("upstream timeout"))
        .expect("the matching line");
    let at = row.find("boom").unwrap();
    assert!(reversed_at(row, at + 1), "match not highlighted: {row:?}");
    let before = row.find("ERROR").unwrap();
    assert!(!reversed_at(row, before + 1), "{row:?}");
    // A second match, then `n` and `N` move between them.
    append(&file, "ERROR boom-3 again");
    tmux.wait_for("/boom · 1/2", WAIT);
    tmux.send_keys(&["n"]);
    tmux.wait_for("/boom · 2/2", WAIT);
    tmux.send_keys(&["N"]);
    tmux.wait_for("/boom · 1/2", WAIT);

    // `f` again stops following that host: the tail on the host is gone.
    tmux.send_keys(&["f"]);
    tmux.wait_for("followed: h1 app (stopped)", WAIT);
    eventually("the remote tail to be gone after follow off", || {
        remote_follow_processes(&fleet, 0).is_empty()
    });

    // Following again, then quitting: nothing is left behind either.
    tmux.send_keys(&["f"]);
    tmux.wait_for("following: h1 app ─", WAIT);
    eventually("tail running again", || {
        remote_tails(&fleet, 0, &file).len() == 1
    });
    tmux.send_keys(&["q"]);
    tmux.wait_for("EXITED=0 END", WAIT);
    eventually("the remote tail to be gone after quitting", || {
        remote_follow_processes(&fleet, 0).is_empty()
    });
}

/// A journald entry as `journalctl -o json` prints it, stamped now.
fn journal_entry(priority: u8, message: &str) -> String {
    let us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    format!(
        r#"{{"__REALTIME_TIMESTAMP":"{us}","PRIORITY":"{priority}","SYSLOG_IDENTIFIER":"api","MESSAGE":"{message}"}}"#
    )
}

/// Two hosts followed at once: h1's log file and h2's journald unit (the host has no systemd:
/// its `journalctl`, first on the session's PATH, follows a file of JSON entries the test
/// writes), merged with host prefixes, filtered by level (journald priorities and a `WARN`
/// word), side by side with `c`; quitting leaves nothing on either host.
#[test]
fn two_hosts_merge_filter_by_level_and_sit_side_by_side() {
    let mut fleet = TestFleet::start(FleetSpec::hosts(2));
    let h1_log = fleet.host(0).home.join("logs").join("app.log");
    fs::create_dir_all(h1_log.parent().unwrap()).unwrap();
    fs::write(&h1_log, "").unwrap();
    let h2_home = fleet.host(1).home;
    let bin = h2_home.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let journal = h2_home.join("journal.json");
    fs::write(&journal, "").unwrap();
    let fake = bin.join("journalctl");
    fs::write(
        &fake,
        "#!/bin/sh\n# A stand-in for journalctl: -f follows the entries the test writes; the\n\
         # probe's tail (no -f) finds none.\n\
         case \" $* \" in *\" -f \"*) exec tail -n 0 -F \"$HOME/journal.json\";; esac\n",
    )
    .unwrap();
    fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display());
    fleet.set_host_env(1, &[("PATH", &path)]);
    let mut opts = InventoryOpts::default();
    opts.host_toml.insert(
        0,
        "logs = [{ name = \"app\", file = \"~/logs/app.log\" }]".into(),
    );
    opts.host_toml.insert(
        1,
        "logs = [{ name = \"api\", unit = \"dvn-api.service\" }]".into(),
    );
    let config = fleet.write_inventory(&opts);
    let state = fleet.root().join("state");
    let line = format!(
        "{} --config {}; echo \"EXITED=$? END\"; sleep 30",
        support::fleetdeck_bin().display(),
        config.display()
    );
    let tmux = Tmux::start_with_env(
        &line,
        140,
        40,
        &[
            ("XDG_STATE_HOME", state.to_str().unwrap()),
            ("SSH_AUTH_SOCK", ""),
            ("USER", "alice"),
        ],
    );
    tmux.wait_for("2/2 reachable", WAIT);
    tmux.send_keys(&[":"]);
    tmux.send_literal("pane logs");
    tmux.send_keys(&["Enter"]);
    tmux.wait_for("unit dvn-api.service", WAIT);
    tmux.send_keys(&["f", "j", "f"]);
    tmux.wait_for("following: h1 app, h2 api ─", WAIT);
    let journal_follows = || remote_pgrep(&fleet, 1, "[t]ail -n 0 -F .*journal[.]json");
    eventually("both follows running on their hosts", || {
        remote_tails(&fleet, 0, &h1_log).len() == 1 && !journal_follows().is_empty()
    });
    // Write to both until a line of each has come through, then the lines that count.
    let deadline = Instant::now() + WAIT;
    let mut k = 0;
    loop {
        let screen = tmux.capture();
        if screen.contains("h1 app │ sync-") && screen.contains("api: sync-") {
            break;
        }
        assert!(Instant::now() < deadline, "no followed lines:\n{screen}");
        append(&h1_log, &format!("sync-{k}"));
        append(&journal, &journal_entry(6, &format!("sync-{k}")));
        k += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    append(&journal, &journal_entry(3, "db connection lost"));
    append(&h1_log, "WARN cache cold");
    append(&journal, &journal_entry(6, "GET /health 200"));
    let screen = tmux.wait_until(WAIT, |s| {
        s.contains("h2 api │")
            && s.contains("db connection lost")
            && s.contains("h1 app │ WARN cache cold")
            && s.contains("GET /health 200")
    });
    let screen = screen.unwrap_or_else(|s| panic!("merged lines missing:\n{s}"));
    assert!(screen.contains("· merged"), "{screen}");

    // Minimum level error: the journald priority 3 entry stays; the WARN and info lines go.
    tmux.send_keys(&["v", "v", "v", "v"]);
    let screen = tmux.wait_for("≥ error", WAIT);
    assert!(screen.contains("db connection lost"), "{screen}");
    assert!(!screen.contains("cache cold"), "{screen}");
    assert!(!screen.contains("GET /health"), "{screen}");

    // Side by side: a column per host.
    tmux.send_keys(&["c"]);
    let screen = tmux.wait_for("· columns", WAIT);
    assert!(
        screen
            .lines()
            .any(|l| l.contains("│h1 ") && l.contains("│h2 ")),
        "{screen}"
    );

    tmux.send_keys(&["q"]);
    tmux.wait_for("EXITED=0 END", WAIT);
    eventually("nothing left on either host after quitting", || {
        remote_follow_processes(&fleet, 0).is_empty() && journal_follows().is_empty()
    });
}

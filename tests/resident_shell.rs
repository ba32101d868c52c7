//! The resident shell (issue 15): probe scripts run one after another on one long-lived `sh`
//! per host over the host's one connection, against real OpenSSH sshd hosts. Nothing is lost
//! for it: a hung script still times out (and its processes are killed), output is still
//! capped, a dead shell is noticed and replaced, and a login that does not keep a shell open
//! is polled over exec channels as before.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetdeck::inventory::{Fleet, load_fleet};
use fleetdeck::poller;
use fleetdeck::transport::ssh::{NoPrompt, SshShared};
use fleetdeck::transport::{ExecOutput, ScriptRequest, Transport, TransportError};
use support::{FleetSpec, InventoryOpts, TestFleet};

fn load(path: &Path) -> Fleet {
    load_fleet(Some(path)).unwrap_or_else(|e| panic!("{e}"))
}

fn transports(fleet: &Fleet) -> Vec<Transport> {
    poller::transports(fleet, &SshShared::new(Arc::new(NoPrompt))).unwrap()
}

fn connects(t: &Transport) -> u64 {
    match t {
        Transport::Ssh(h) => h.connects(),
        Transport::Local(_) => panic!("expected an SSH transport"),
    }
}

async fn script(
    t: &Transport,
    text: &str,
    timeout: Duration,
    max: usize,
) -> Result<ExecOutput, TransportError> {
    t.run_script(&ScriptRequest {
        script: text.as_bytes().to_vec(),
        timeout,
        max_output: max,
    })
    .await
}

async fn ok(t: &Transport, text: &str) -> ExecOutput {
    script(t, text, Duration::from_secs(30), 1 << 16)
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

async fn shell_pid(t: &Transport) -> u32 {
    // In a subshell `$$` is still the shell that forked it: the resident shell's pid.
    let out = ok(t, "echo $$").await;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {:?}", out))
}

/// Whether a process whose command line contains `needle` runs on this machine (the test
/// hosts are sshd processes on 127.0.0.1, so their children are ours to see).
fn process_running(needle: &str) -> bool {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .any(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c)
                    .replace('\0', " ")
                    .contains(needle)
            })
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_run_on_one_shell_and_exit_or_set_e_do_not_end_it() {
    let peers = TestFleet::start(FleetSpec::hosts(1));
    let fleet = load(&peers.write_inventory(&InventoryOpts::default()));
    let ts = transports(&fleet);
    let first = shell_pid(&ts[0]).await;
    for _ in 0..3 {
        for obs in poller::poll_once(&fleet, &ts, &[0]).await {
            assert!(obs.outcome.is_ok(), "{:?}", obs.outcome.err());
        }
    }
    assert_eq!(
        shell_pid(&ts[0]).await,
        first,
        "every poll on the same shell"
    );

    let out = ok(&ts[0], "echo out; echo err >&2; exit 3").await;
    assert_eq!(out.status, Some(3));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    let out = ok(&ts[0], "set -e\nfalse\necho not reached").await;
    assert_eq!(out.status, Some(1));
    assert!(out.stdout.is_empty(), "{out:?}");
    // A script that tries to read stdin gets /dev/null, not the next script.
    let out = ok(&ts[0], "cat; echo after-cat").await;
    assert_eq!(out.stdout, b"after-cat\n");
    let out = ok(&ts[0], "printf 'no newline'").await;
    assert_eq!(out.stdout, b"no newline");
    assert_eq!(shell_pid(&ts[0]).await, first, "still the same shell");
    assert_eq!(connects(&ts[0]), 1);
    let Transport::Ssh(host) = &ts[0] else {
        panic!("expected an SSH transport")
    };
    assert_eq!(host.polls_over_exec(), Some(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_capped_and_counted_and_the_shell_goes_on() {
    let peers = TestFleet::start(FleetSpec::hosts(1));
    let fleet = load(&peers.write_inventory(&InventoryOpts::default()));
    let ts = transports(&fleet);
    let first = shell_pid(&ts[0]).await;
    let out = script(
        &ts[0],
        "head -c 300000 /dev/zero | tr '\\0' a; echo err >&2",
        Duration::from_secs(30),
        1000,
    )
    .await
    .unwrap();
    assert_eq!(out.stdout, vec![b'a'; 1000]);
    assert_eq!(out.dropped_bytes, 299_000);
    assert!(out.truncated());
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(shell_pid(&ts[0]).await, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_script_times_out_its_processes_are_killed_and_a_new_shell_follows() {
    let peers = TestFleet::start(FleetSpec::hosts(1));
    let fleet = load(&peers.write_inventory(&InventoryOpts::default()));
    let ts = transports(&fleet);
    let first = shell_pid(&ts[0]).await;
    let err = script(&ts[0], "sleep 4321.25", Duration::from_millis(800), 1024)
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout(_)), "{err:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while process_running("sleep 4321.25") {
        assert!(
            Instant::now() < deadline,
            "the hung script outlived its timeout"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = shell_pid(&ts[0]).await;
    assert_ne!(second, first, "a new shell after the timeout");
    assert_eq!(connects(&ts[0]), 1, "a timeout is not a dead host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_killed_on_the_host_is_noticed_and_replaced_without_losing_a_poll() {
    let peers = TestFleet::start(FleetSpec::hosts(1));
    let fleet = load(&peers.write_inventory(&InventoryOpts::default()));
    let ts = transports(&fleet);
    let first = shell_pid(&ts[0]).await;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // The poll that meets the dead shell still answers (over an exec channel)…
    let out = ok(&ts[0], "echo answered").await;
    assert_eq!(out.stdout, b"answered\n");
    // …and the next one runs on a new shell.
    let second = shell_pid(&ts[0]).await;
    assert_ne!(second, first);
    assert_eq!(shell_pid(&ts[0]).await, second);
    assert_eq!(connects(&ts[0]), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_that_keeps_no_shell_open_is_polled_over_exec_channels() {
    let mut peers = TestFleet::start(FleetSpec::hosts(1));
    // A forced command that refuses a bare `sh` (a restricted login) but runs other commands.
    peers.restart_host_with(
        0,
        "ForceCommand case \"$SSH_ORIGINAL_COMMAND\" in sh) echo 'no shell for you' >&2; exit 1;; \
         *) exec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\";; esac",
    );
    let fleet = load(&peers.write_inventory(&InventoryOpts::default()));
    let ts = transports(&fleet);
    let mut pids = Vec::new();
    for _ in 0..4 {
        let out = ok(&ts[0], "echo polled; echo $$").await;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.starts_with("polled\n"), "{text}");
        pids.push(text.lines().nth(1).unwrap().to_owned());
        for obs in poller::poll_once(&fleet, &ts, &[0]).await {
            assert!(obs.outcome.is_ok(), "{:?}", obs.outcome.err());
        }
    }
    pids.dedup();
    assert_eq!(pids.len(), 4, "one exec (one shell) per script: {pids:?}");
    let Transport::Ssh(host) = &ts[0] else {
        panic!("expected an SSH transport")
    };
    assert_eq!(host.polls_over_exec(), Some(true));
    assert_eq!(connects(&ts[0]), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_shell_false_polls_over_one_exec_channel_each_time() {
    let peers = TestFleet::start(FleetSpec::hosts(1));
    let path = peers.write_inventory(&InventoryOpts::default());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("[ssh]\n"), "{text}");
    std::fs::write(
        &path,
        text.replacen("[ssh]\n", "[ssh]\nresident_shell = false\n", 1),
    )
    .unwrap();
    let fleet = load(&path);
    assert!(!fleet.ssh.resident_shell);
    let ts = transports(&fleet);
    let (a, b) = (shell_pid(&ts[0]).await, shell_pid(&ts[0]).await);
    assert_ne!(a, b, "a new shell per script");
    for obs in poller::poll_once(&fleet, &ts, &[0]).await {
        assert!(obs.outcome.is_ok(), "{:?}", obs.outcome.err());
    }
}

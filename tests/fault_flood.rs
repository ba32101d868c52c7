//! A command that floods output over SSH — hundreds of MiB of binary, non-UTF-8 bytes on stdout
//! and stderr — costs bounded memory, is reported as truncated, ends with the channel closed
//! cleanly, and leaves the connection usable; the same flood inside a `command` service of the
//! probe script costs only the sections after it.
//!
//! Memory is read from the kernel (`VmHWM`, the peak resident set) of this test process and of a
//! `fleetdeck status` child: a bound on bytes, not on time. This file holds a single test on
//! purpose: `VmHWM` is per process, and a test running beside it would blur the figure.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetdeck::inventory::{Fleet, load_fleet};
use fleetdeck::poller;
use fleetdeck::transport::ssh::{NoPrompt, SshShared};
use fleetdeck::transport::{ExecRequest, Transport};
use support::{ExtraHost, FleetSpec, InventoryOpts, TestFleet};

const MIB: u64 = 1024 * 1024;
/// Peak resident memory allowed while the floods run (the test binary itself is ~20 MiB).
const MEMORY_BOUND: u64 = 64 * MIB;
/// Bytes of the exec flood on stdout (64 MiB more go to stderr at the same time).
const FLOOD: u64 = 256 * MIB;
/// Bytes of the flood inside the probe script (run twice: by the library and by the binary).
const SERVICE_FLOOD: u64 = 128 * MIB;
/// Non-UTF-8 binary bytes: 1 MiB of random data, then 0xff (never valid UTF-8) to the end.
fn flood_command(bytes: u64, fd: u8) -> String {
    format!(
        "{{ head -c {MIB} /dev/urandom; head -c {} /dev/zero | tr '\\0' '\\377'; }} >&{fd}",
        bytes - MIB
    )
}

fn load(path: &Path) -> Fleet {
    load_fleet(Some(path)).unwrap_or_else(|e| panic!("{e}"))
}

/// `VmHWM` (peak resident set) of `pid` in bytes, from /proc; `None` once it has exited.
fn peak_rss(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn connects(t: &Transport) -> u64 {
    match t {
        Transport::Ssh(h) => h.connects(),
        Transport::Local(_) => panic!("expected an SSH transport"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_of_binary_output_cost_bounded_memory_and_leave_the_connection_usable() {
    let peers = TestFleet::start(FleetSpec::hosts(1));
    let flooder = ExtraHost {
        toml: format!(
            "disks = [{{ mount = \"/\" }}]\n\
             services = [{{ name = \"flood\", kind = \"command\", command = {} }}]\n\
             backups = [{{ name = \"after\", dir = \"/tmp\", pattern = \"*.none\", every = \"1h\" }}]",
            support::fleet::toml_str(&flood_command(SERVICE_FLOOD, 1))
        ),
        ..ExtraHost::at_port("flooder", peers.host(0).port)
    };
    let config = peers.write_inventory(&InventoryOpts {
        command_timeout: "25s".into(),
        extra_hosts: vec![flooder],
        ..InventoryOpts::default()
    });
    let fleet = load(&config);
    let ts = poller::transports(&fleet, &SshShared::new(Arc::new(NoPrompt))).unwrap();
    let me = std::process::id().to_string();

    // 1. One exec: 256 MiB on stdout and 64 MiB on stderr at once, kept to 1 MiB each.
    let cap = MIB as usize;
    let out = ts[0]
        .exec(&ExecRequest {
            command: format!(
                "{} & {}; wait; echo done >&2",
                flood_command(FLOOD, 1),
                flood_command(64 * MIB, 2)
            ),
            stdin: None,
            timeout: Duration::from_secs(25),
            max_output: cap,
        })
        .await
        .expect("the flood finishes and the exec reports it");
    assert_eq!(
        out.status,
        Some(0),
        "the channel ended with the command's own status"
    );
    assert_eq!(out.stdout.len(), cap);
    assert_eq!(out.stderr.len(), cap);
    assert_eq!(out.dropped_bytes, FLOOD + 64 * MIB + 5 - 2 * MIB);
    assert!(out.truncated());
    assert!(
        std::str::from_utf8(&out.stdout).is_err(),
        "the kept bytes are raw binary, passed through untouched"
    );
    let again = ts[0]
        .exec(&ExecRequest {
            command: "echo still-here".into(),
            stdin: None,
            timeout: Duration::from_secs(10),
            max_output: 1024,
        })
        .await
        .unwrap();
    assert_eq!(again.stdout, b"still-here\n");
    assert_eq!(connects(&ts[0]), 1, "the flood did not cost the connection");

    // 2. The same flood inside the probe script: the parts before it are read, the parts after
    //    it say they were truncated, and the host stays reachable on the same connection.
    let f = fleet
        .hosts
        .iter()
        .position(|h| h.name == "flooder")
        .unwrap();
    let obs = &poller::poll_once(&fleet, &ts, &[f]).await[0];
    let p = obs
        .outcome
        .as_ref()
        .expect("a flooding command is not a dead host");
    assert!(
        p.probe_errors.iter().any(|e| e.contains("truncated")),
        "{:?}",
        p.probe_errors
    );
    assert!(
        p.disks[0].usage.is_ok(),
        "the section before the flood survives: {:?}",
        p.disks
    );
    let after = p.backups[0]
        .latest
        .as_ref()
        .expect_err("the section after the flood is lost");
    assert!(
        after.contains("truncated") || after.contains("cut off"),
        "{after}"
    );
    let obs = &poller::poll_once(&fleet, &ts, &[0]).await[0];
    assert!(obs.outcome.is_ok(), "{:?}", obs.outcome);
    assert_eq!(connects(&ts[f]), 1);

    let peak = peak_rss(&me).expect("own /proc status");
    assert!(
        peak < MEMORY_BOUND,
        "peak resident memory {} MiB while {} MiB flowed through (bound {} MiB)",
        peak / MIB,
        (FLOOD + 64 * MIB + SERVICE_FLOOD) / MIB,
        MEMORY_BOUND / MIB
    );

    // 3. The real binary: `fleetdeck status` polling the flooder, its peak memory sampled from
    //    /proc while it runs (VmHWM only grows, so the last sample is the peak so far).
    let mut child = std::process::Command::new(support::fleetdeck_bin())
        .args(["status", "--json", "--config"])
        .arg(&config)
        .env_remove("SSH_AUTH_SOCK")
        .env("XDG_STATE_HOME", peers.root().join("state"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let mut child_peak = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if let Some(p) = peak_rss(&pid) {
            child_peak = child_peak.max(p);
        }
        assert!(Instant::now() < deadline, "fleetdeck status did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let flooder = report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "flooder")
        .unwrap();
    assert_eq!(flooder["reachable"], true, "{flooder:#}");
    assert!(child_peak > 0, "sampled the child's memory at least once");
    assert!(
        child_peak < MEMORY_BOUND,
        "fleetdeck status peaked at {} MiB while a host flooded {} MiB (bound {} MiB)",
        child_peak / MIB,
        SERVICE_FLOOD / MIB,
        MEMORY_BOUND / MIB
    );
    eprintln!(
        "peak resident memory: test process {} MiB, fleetdeck status {} MiB",
        peak / MIB,
        child_peak / MIB
    );
}

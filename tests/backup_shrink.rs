//! The backup-shrink alert against a real sshd host (issue 10: "A 1,000-byte backup after a
//! 200,000-byte one reads '100% smaller' (it is 99.5 %): never round a shrink to 100 %").
//!
//! The unit tests in `src/health.rs` pin the formatter; this one proves the whole path — the
//! probe listing the host's backup directory over SSH, the store, the rules and `status --json`
//! and the status table — says 99.5%.

mod support;

use std::fs;
use std::process::Command;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use support::{FleetSpec, InventoryOpts, TestFleet};

#[test]
fn a_1000_byte_backup_after_a_200000_byte_one_reads_99_5_percent_smaller() {
    let fleet = TestFleet::start(FleetSpec::hosts(1));
    let dir = fleet.host(0).backups_dir;
    // Replace the fixture's backups with the reported pair: the big one two hours old, the
    // small one (the newest) one hour old, both matching the set's `*-postgres-backup.sql.gz`.
    for old in fleet.backups(0) {
        fs::remove_file(old).unwrap();
    }
    let now = SystemTime::now();
    for (name, bytes, hours) in [
        ("20261121-postgres-backup.sql.gz", 200_000, 2),
        ("20261122-postgres-backup.sql.gz", 1_000, 1),
    ] {
        let path = dir.join(name);
        fs::write(&path, vec![b'x'; bytes]).unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(now - Duration::from_secs(hours * 3600)))
            .unwrap();
    }
    let config = fleet.write_inventory(&InventoryOpts::default());
    let status = |json: bool| {
        let mut cmd = Command::new(support::fleetdeck_bin());
        cmd.arg("status");
        if json {
            cmd.arg("--json");
        }
        cmd.arg("--config").arg(&config);
        cmd.env_remove("SSH_AUTH_SOCK");
        cmd.env("XDG_STATE_HOME", config.parent().unwrap().join("state"));
        cmd.output().expect("run fleetdeck")
    };

    let out = status(true);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "status --json printed no JSON ({e}):\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(
        out.status.code(),
        Some(2),
        "a shrunk backup is critical: {report:#}"
    );
    let host = &report["hosts"][0];
    let backup = &host["backups"][0];
    assert_eq!(backup["size_bytes"], 1_000, "{report:#}");
    assert_eq!(backup["previous_size_bytes"], 200_000, "{report:#}");
    assert_eq!(backup["shrunk"], true, "{report:#}");
    let alert = host["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "backup_shrunk")
        .unwrap_or_else(|| panic!("no backup_shrunk alert: {report:#}"));
    let message = alert["message"].as_str().unwrap();
    assert_eq!(
        message,
        "newest postgres backup is 99.5% smaller than the one before (1000 bytes, was 200000)"
    );

    // The table's NOTE column carries the same message; nothing anywhere says 100%.
    let out = status(false);
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{table}");
    assert!(table.contains("99.5% smaller"), "{table}");
    for text in [stdout.as_ref(), table.as_ref()] {
        assert!(!text.contains("100%"), "a shrink read as 100%:\n{text}");
    }
}

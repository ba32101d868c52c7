//! Audit log cost: one append with its fsync (appends per second = 1 / the median), and
//! `audit verify` of a log of 100 000 records.
//!
//! Appends go to a directory under Cargo's target tmpdir, on the real disk: the fsync is the
//! cost being measured. The 100 000-record log for `verify` is written once through the same
//! `AuditLog::append` on tmpfs (`/dev/shm`, where fsync is free) to keep the setup short; verify
//! reads it from the page cache either way, so it measures hashing and parsing, not the disk.
//! Run with `cargo bench --bench audit`. Under `cargo test` (no `--bench` argument) the log has
//! 1 000 records, so the test run stays quick.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use fleetdeck::audit::{self, Actor, AuditAction, AuditEntry, AuditLog};

fn entry(actor: &Actor, i: u64) -> AuditEntry {
    AuditEntry::new(actor, AuditAction::Exec)
        .run("20270115T080000Z-rolling-upgrade")
        .runbook("rolling-upgrade")
        .step("upgrade")
        .target(format!("aws-node-{:04}", i % 1000))
        .command("systemctl restart geth.service")
        .result("exit 0")
        .duration(Duration::from_millis(1234))
}

fn actor() -> Actor {
    Actor::new("alice", "operator", "10.0.0.5")
}

fn append_fsync(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a directory on disk");
    let log = AuditLog::open(dir.path().join("audit.jsonl")).expect("open the audit log");
    let actor = actor();
    let mut i = 0u64;
    let mut group = c.benchmark_group("audit");
    group.sample_size(20);
    group.bench_function("append_fsync", |b| {
        b.iter(|| {
            i += 1;
            black_box(log.append(entry(&actor, i)).expect("append"))
        })
    });
    group.finish();
}

fn verify(c: &mut Criterion) {
    let records: u64 = if std::env::args().any(|a| a == "--bench") {
        100_000
    } else {
        1_000
    };
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
    }
    .expect("a scratch directory");
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path).expect("open the audit log");
    let actor = actor();
    for i in 1..=records {
        log.append(entry(&actor, i)).expect("append");
    }
    let report = audit::verify(&path).expect("verify");
    assert!(report.problem.is_none(), "{:?}", report.problem);
    assert_eq!(report.records, records);
    let mut group = c.benchmark_group("audit");
    group.sample_size(10);
    group.bench_function(format!("verify_{records}"), |b| {
        b.iter(|| black_box(audit::verify(&path).expect("verify")))
    });
    group.finish();
}

criterion_group!(benches, append_fsync, verify);
criterion_main!(benches);

//! The audit log against the real filesystem and real processes: permissions, a long chain,
//! every kind of tampering caught on the right line (through the library and the `fleetdeck
//! audit` command), torn tails and removed records repaired with a record saying so, secrets kept
//! out, two processes appending at once, and `kill -9` of a writer mid-loop.
//!
//! The writer processes are this test executable run again with `--exact audit_writer_process`
//! (see that function): real separate processes with their own file descriptors and locks, no
//! extra binary to build, and nothing added to the user's command line.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use fleetdeck::audit::{
    self, Actor, AuditAction, AuditEntry, AuditLog, ProblemKind, VerifyOptions, VerifyReport,
};
use sha2::{Digest, Sha256};

fn actor() -> Actor {
    Actor::new("alice", "operator", "127.0.0.1")
}

fn clock() -> impl Fn() -> SystemTime + Send + Sync + 'static {
    || SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000)
}

/// A log of `n` `exec` records on `host-1` … `host-n`.
fn log_with(path: &Path, n: usize) -> AuditLog {
    let log = AuditLog::options().clock(clock()).open(path).unwrap();
    for i in 1..=n {
        log.append(
            AuditEntry::new(&actor(), AuditAction::Exec)
                .runbook("restore")
                .step("stop")
                .target(format!("host-{i}"))
                .command("systemctl stop geth")
                .result("exit 0")
                .duration(Duration::from_millis(12)),
        )
        .unwrap();
    }
    log
}

/// The complete lines of a file, without their newlines.
fn lines(path: &Path) -> Vec<Vec<u8>> {
    let bytes = fs::read(path).unwrap();
    let mut out: Vec<Vec<u8>> = bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    // The piece after the last newline is empty for a whole file, a torn tail otherwise.
    out.pop();
    out
}

fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    let mut bytes = Vec::new();
    for l in lines {
        bytes.extend_from_slice(l);
        bytes.push(b'\n');
    }
    fs::write(path, bytes).unwrap();
}

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a forger who read docs/audit.md does: edit the text, then recompute `hash` over the line
/// without its `,"hash":"…"` member.
fn reseal(line: &[u8], edit: impl Fn(String) -> String) -> Vec<u8> {
    let text = std::str::from_utf8(line).unwrap();
    let body = &text[..text.len() - (",\"hash\":\"".len() + 64 + 2)];
    let body = edit(body.to_string());
    let hash = sha_hex(format!("{body}}}").as_bytes());
    format!("{body},\"hash\":\"{hash}\"}}").into_bytes()
}

fn replace_prev(body: String, new_prev: &str) -> String {
    let at = body.find("\"prev\":\"").unwrap() + "\"prev\":\"".len();
    format!("{}{}{}", &body[..at], new_prev, &body[at + 64..])
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn fleetdeck(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(args)
        .env("FLEETDECK_LOG", "off")
        .output()
        .expect("run fleetdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn problem_of(report: &VerifyReport) -> (Option<u64>, ProblemKind, String) {
    let p = report
        .problem
        .as_ref()
        .unwrap_or_else(|| panic!("expected a problem, got {report:?}"));
    (p.line, p.kind, p.to_string())
}

#[test]
fn open_creates_private_directory_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let path = state.join("fleetdeck").join("audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("fleetdeck")), 0o700);
    assert_eq!(mode(&path), 0o600);
    log.append(AuditEntry::new(&actor(), AuditAction::Exec))
        .unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(log.head_path()), 0o600);

    // A log someone made world-readable is tightened when opened.
    let loose = dir.path().join("loose.jsonl");
    fs::write(&loose, b"").unwrap();
    fs::set_permissions(&loose, fs::Permissions::from_mode(0o644)).unwrap();
    AuditLog::open(&loose).unwrap();
    assert_eq!(mode(&loose), 0o600);
}

#[test]
fn default_path_is_under_xdg_state_home() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(["audit", "verify"])
        .env("XDG_STATE_HOME", dir.path())
        .env("FLEETDECK_LOG", "off")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = dir.path().join("fleetdeck").join("audit.jsonl");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("no audit log at {}", expected.display())),
        "{stderr}"
    );

    log_with(&expected, 3);
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(["audit", "verify"])
        .env("XDG_STATE_HOME", dir.path())
        .env("FLEETDECK_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("OK: 3 records"));
}

#[test]
fn fleetdeck_audit_log_names_one_log_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("team").join("audit.jsonl");
    log_with(&shared, 2);
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(["audit", "verify"])
        .env("XDG_STATE_HOME", dir.path().join("elsewhere"))
        .env("FLEETDECK_AUDIT_LOG", &shared)
        .env("FLEETDECK_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("OK: 2 records"));
    assert!(!dir.path().join("elsewhere/fleetdeck/audit.jsonl").exists());
}

#[test]
fn a_chain_of_1000_appends_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = log_with(&path, 1000);
    let report = log.verify().unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records, 1000);
    assert_eq!(report.head_seq, Some(1000));
    assert!(report.repairs.is_empty());
    let last = lines(&path).pop().unwrap();
    assert_eq!(report.last_line_sha256, Some(sha_hex(&last)));

    let (code, stdout, _) = fleetdeck(&["audit", "verify", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.starts_with("OK: 1000 records, chain intact, head file names record 1000"),
        "{stdout}"
    );
}

/// One tampering scenario: the damage done to a fresh 20-record log, and the verdict expected.
struct Tamper {
    name: &'static str,
    damage: fn(&Path),
    line: Option<u64>,
    kind: ProblemKind,
    message: &'static str,
}

fn edit_line(path: &Path, n: usize, f: impl Fn(&[u8]) -> Vec<u8>) {
    let mut l = lines(path);
    l[n - 1] = f(&l[n - 1]);
    write_lines(path, &l);
}

const TAMPERING: &[Tamper] = &[
    Tamper {
        name: "edit a field",
        damage: |p| {
            edit_line(p, 7, |l| {
                String::from_utf8_lossy(l)
                    .replace("\"exit 0\"", "\"exit 1\"")
                    .into_bytes()
            })
        },
        line: Some(7),
        kind: ProblemKind::HashMismatch,
        message: "line 7: hash mismatch (record edited)",
    },
    Tamper {
        name: "delete a line",
        damage: |p| {
            let mut l = lines(p);
            l.remove(4);
            write_lines(p, &l);
        },
        line: Some(5),
        kind: ProblemKind::Deleted,
        message: "line 5: seq 6 where 5 was expected: record 5 is missing",
    },
    Tamper {
        name: "delete the first line",
        damage: |p| {
            let mut l = lines(p);
            l.remove(0);
            write_lines(p, &l);
        },
        line: Some(1),
        kind: ProblemKind::Deleted,
        message: "line 1: seq 2 where 1 was expected: record 1 is missing",
    },
    Tamper {
        name: "swap two lines",
        damage: |p| {
            let mut l = lines(p);
            l.swap(7, 8);
            write_lines(p, &l);
        },
        line: Some(8),
        kind: ProblemKind::Reordered,
        message: "line 8: seq 9 where 8 was expected: records reordered",
    },
    Tamper {
        name: "truncate mid-line",
        damage: |p| {
            let bytes = fs::read(p).unwrap();
            let last_start = bytes[..bytes.len() - 1]
                .iter()
                .rposition(|b| *b == b'\n')
                .unwrap()
                + 1;
            fs::write(p, &bytes[..last_start + 40]).unwrap();
        },
        line: Some(20),
        kind: ProblemKind::TornTail,
        message: "line 20: torn tail: 40 bytes without a final newline",
    },
    Tamper {
        name: "truncate a whole last line",
        damage: |p| {
            let mut l = lines(p);
            l.pop();
            write_lines(p, &l);
        },
        line: Some(20),
        kind: ProblemKind::Truncated,
        message: "line 20: missing: the log ends at record 19 but its head file names record 20",
    },
    Tamper {
        name: "insert a forged line with a recomputed hash but a wrong prev",
        damage: |p| {
            let mut l = lines(p);
            let wrong_prev = sha_hex(&l[3]);
            let forged = reseal(&l[9], |b| {
                replace_prev(b.replace("host-10", "host-666"), &wrong_prev)
            });
            l.insert(9, forged);
            write_lines(p, &l);
        },
        line: Some(10),
        kind: ProblemKind::PrevMismatch,
        message: "line 10: prev does not match line 9",
    },
    Tamper {
        name: "insert a forged line with a recomputed hash and the right prev",
        damage: |p| {
            let mut l = lines(p);
            let forged = reseal(&l[9], |b| b.replace("host-10", "host-666"));
            l.insert(9, forged);
            write_lines(p, &l);
        },
        line: Some(11),
        kind: ProblemKind::Reordered,
        message: "line 11: seq 10 where 11 was expected",
    },
    Tamper {
        name: "replace a line by one with a recomputed hash",
        damage: |p| edit_line(p, 10, |l| reseal(l, |b| b.replace("host-10", "host-666"))),
        line: Some(11),
        kind: ProblemKind::PrevMismatch,
        message: "line 11: prev does not match line 10: a record was inserted here, or line 10 \
                  was replaced",
    },
    Tamper {
        name: "rewrite the end of the chain with recomputed hashes",
        damage: |p| {
            let mut l = lines(p);
            for i in 14..20 {
                let prev = sha_hex(&l[i - 1]);
                l[i] = reseal(&l[i], |b| {
                    replace_prev(b.replace("exit 0", "exit 9"), &prev)
                });
            }
            write_lines(p, &l);
        },
        line: Some(20),
        kind: ProblemKind::HeadMismatch,
        message: "line 20: not the record the head file names",
    },
    Tamper {
        name: "a line that is not JSON",
        damage: |p| edit_line(p, 3, |_| b"rm -rf / # not json".to_vec()),
        line: Some(3),
        kind: ProblemKind::NotARecord,
        message: "line 3: not an audit record",
    },
    Tamper {
        name: "a record re-serialised by another tool (hash no longer last)",
        damage: |p| {
            edit_line(p, 4, |l| {
                let v: serde_json::Value = serde_json::from_slice(l).unwrap();
                serde_json::to_vec(&v).unwrap()
            })
        },
        line: Some(4),
        kind: ProblemKind::MissingHash,
        message: "line 4: the line does not end in its \"hash\"",
    },
    Tamper {
        name: "delete the head file",
        damage: |p| fs::remove_file(audit::head_path(p)).unwrap(),
        line: None,
        kind: ProblemKind::HeadMissing,
        message: "is missing: cannot tell whether records were removed from the end",
    },
];

#[test]
fn every_kind_of_tampering_is_caught_on_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine.jsonl");
    log_with(&pristine, 20);
    assert!(audit::verify(&pristine).unwrap().is_ok());
    for (i, t) in TAMPERING.iter().enumerate() {
        let path = dir.path().join(format!("case{i}.jsonl"));
        fs::copy(&pristine, &path).unwrap();
        fs::copy(audit::head_path(&pristine), audit::head_path(&path)).unwrap();
        (t.damage)(&path);

        let report = audit::verify(&path).unwrap();
        let (line, kind, message) = problem_of(&report);
        assert_eq!((line, kind), (t.line, t.kind), "{}: {message}", t.name);
        assert!(
            message.contains(t.message),
            "{}: {message:?} lacks {:?}",
            t.name,
            t.message
        );

        let (code, stdout, stderr) = fleetdeck(&["audit", "verify", path.to_str().unwrap()]);
        assert_eq!(code, 1, "{}: {stdout}{stderr}", t.name);
        assert!(
            stdout.starts_with("TAMPERED or damaged: ") && stdout.contains(t.message),
            "{}: {stdout}",
            t.name
        );
    }
}

#[test]
fn a_copy_without_its_head_file_verifies_with_no_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    log_with(&path, 5);
    let copy = dir.path().join("copy.jsonl");
    fs::copy(&path, &copy).unwrap();
    let report = audit::verify_with(
        &copy,
        &VerifyOptions {
            require_head: false,
        },
    )
    .unwrap();
    assert!(report.is_ok(), "{report:?}");
    let (code, stdout, _) = fleetdeck(&["audit", "verify", "--no-head", copy.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("head file not checked"), "{stdout}");
    let (code, _, _) = fleetdeck(&["audit", "verify", copy.to_str().unwrap()]);
    assert_eq!(code, 1);
}

/// A power loss leaves the start of an unacknowledged record without its newline. The next open
/// removes it, keeps its bytes in an `audit.repair` record, and the chain verifies again.
#[test]
fn a_torn_tail_is_repaired_with_a_record_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    for torn_len in [30usize, 5000] {
        let path = dir.path().join(format!("torn{torn_len}.jsonl"));
        log_with(&path, 10);
        let before = fs::read(&path).unwrap();
        // Short: the start of a real record. Long: longer than the repair record written over it.
        let mut torn = lines(&path)[9].clone();
        torn.resize(torn_len, b'x');
        let mut damaged = before.clone();
        damaged.extend_from_slice(&torn);
        fs::write(&path, &damaged).unwrap();
        let (line, kind, message) = problem_of(&audit::verify(&path).unwrap());
        assert_eq!((line, kind), (Some(11), ProblemKind::TornTail));
        assert!(message.contains("fleetdeck audit repair"), "{message}");

        let log = AuditLog::options().clock(clock()).open(&path).unwrap();
        assert_eq!(log.repaired_at_open(), vec![11]);
        let after = fs::read(&path).unwrap();
        assert_eq!(&after[..before.len()], &before[..], "complete records kept");
        let report = log.verify().unwrap();
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(report.records, 11);
        assert_eq!(report.repairs.len(), 1);
        assert!(
            report.repairs[0]
                .reason
                .contains(&format!("torn tail: {torn_len} bytes after line 10")),
            "{:?}",
            report.repairs[0]
        );
        let rec = audit::read_log(&path).unwrap().lines[10]
            .record
            .clone()
            .unwrap();
        assert_eq!(rec.action, AuditAction::AuditRepair.as_str());
        assert_eq!(rec.role, audit::SYSTEM_ROLE);
        let kept = rec.result.unwrap();
        assert!(kept.starts_with("{\\\"seq\\\":10,"), "{kept}");
        if torn_len > 512 {
            assert!(kept.ends_with(&format!("… ({} more bytes)", torn_len - 512)));
        }
        // The next record chains on the repair.
        let a = log
            .append(AuditEntry::new(&actor(), AuditAction::Exec))
            .unwrap();
        assert_eq!(a.seq, 12);
        assert!(log.verify().unwrap().is_ok());
    }
}

#[test]
fn removed_trailing_records_are_recorded_when_the_log_is_next_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    log_with(&path, 20);
    let mut l = lines(&path);
    l.truncate(17);
    write_lines(&path, &l);
    assert_eq!(
        problem_of(&audit::verify(&path).unwrap()).1,
        ProblemKind::Truncated
    );
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(log.repaired_at_open(), vec![18]);
    let report = log.verify().unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert!(
        report.repairs[0]
            .reason
            .contains("the log ends at record 17 but its head file names record 20"),
        "{:?}",
        report.repairs
    );

    // A missing head file is recreated, and that is recorded too.
    fs::remove_file(log.head_path()).unwrap();
    let (code, stdout, _) = fleetdeck(&["audit", "repair", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("repaired (audit.repair at line 19): head file missing"),
        "{stdout}"
    );
    let (code, stdout, _) = fleetdeck(&["audit", "repair", path.to_str().unwrap()]);
    assert_eq!((code, stdout.contains("nothing to repair")), (0, true));
    let (code, stdout, _) = fleetdeck(&["audit", "verify", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("repair at line 18"), "{stdout}");
    assert!(stdout.contains("repair at line 19"), "{stdout}");
}

#[test]
fn secrets_never_reach_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    log.add_secret("hunter2-db-pass");
    log.add_secret("tok_9f8e7d");
    let p = log
        .begin(
            AuditEntry::new(&actor(), AuditAction::Exec)
                .target("db1")
                .command("PGPASSWORD=hunter2-db-pass pg_dumpall | pigz")
                .note("webhook tok_9f8e7d"),
        )
        .unwrap();
    p.finish_with(
        "error: auth failed for hunter2-db-pass",
        Duration::from_secs(1),
        Some("token tok_9f8e7d rejected".into()),
    )
    .unwrap();
    // The free function for callers that build their own strings.
    let cmd = audit::redact("curl -H 'X-Token: tok_9f8e7d'", &["tok_9f8e7d"]);
    log.append(AuditEntry::new(&actor(), AuditAction::Notify).command(cmd))
        .unwrap();

    let bytes = fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains("tok_9f8e7d"), "{text}");
    assert!(text.contains("PGPASSWORD=*** pg_dumpall"), "{text}");
    assert!(log.verify().unwrap().is_ok());
}

#[test]
fn show_prints_a_table_and_the_stored_records_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::options().clock(clock()).open(&path).unwrap();
    log.append(
        AuditEntry::new(&actor(), AuditAction::Denied)
            .runbook("restore")
            .target("db1")
            .reason("role developer may not run restore"),
    )
    .unwrap();
    log.begin(AuditEntry::new(&actor(), AuditAction::Exec).target("db1"))
        .unwrap()
        .finish("exit 0", Duration::from_millis(40))
        .unwrap();

    let (code, stdout, _) = fleetdeck(&["audit", "show", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "\
SEQ  TIME                      OPERATOR  ACTION  TARGET  RESULT
  1  2026-09-21T14:13:20.000Z  alice     denied  db1     role developer may not run restore
  2  2026-09-21T14:13:20.000Z  alice     exec…   db1
  3  2026-09-21T14:13:20.000Z  alice     exec    db1     exit 0
"
    );

    let (code, stdout, _) = fleetdeck(&["audit", "show", "--json", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    let v: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!(v[2]["pair"], 2);
    assert_eq!(v[2]["phase"], "after");
    // Elements are the stored lines byte for byte, so each can still be hash-checked.
    for (stored, shown) in lines(&path).iter().zip(stdout.lines().skip(1)) {
        assert_eq!(shown.trim_end_matches(','), String::from_utf8_lossy(stored));
    }
}

#[test]
fn threads_with_their_own_handles_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    log.append(
                        AuditEntry::new(&actor(), AuditAction::Exec).command(format!("t{t} {i}")),
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let report = log.verify().unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records, 200);
}

// ---- Separate processes ----

/// The body of the writer processes the tests below start: this test executable again, run as
/// `--exact audit_writer_process` with `FLEETDECK_AUDIT_WRITER` set. Run any other way (the
/// normal suite), it has nothing to do and passes at once.
#[test]
fn audit_writer_process() {
    let Ok(path) = std::env::var("FLEETDECK_AUDIT_WRITER") else {
        return;
    };
    let name = std::env::var("WRITER_NAME").unwrap();
    let count: u64 = std::env::var("WRITER_COUNT").unwrap().parse().unwrap();
    let go = PathBuf::from(std::env::var("WRITER_GO").unwrap());
    // Start together, so the appends really contend for the lock.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !go.exists() {
        assert!(Instant::now() < deadline, "no go signal");
        std::thread::sleep(Duration::from_millis(1));
    }
    let log = AuditLog::open(&path).unwrap();
    let me = Actor::new(name.clone(), "operator", "127.0.0.1");
    let mut i = 0;
    while count == 0 || i < count {
        i += 1;
        log.append(
            AuditEntry::new(&me, AuditAction::Exec)
                .target(format!("{name}-host"))
                .command(format!("{name} {i}")),
        )
        .unwrap();
    }
}

fn spawn_writer(path: &Path, name: &str, count: u64, go: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "audit_writer_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FLEETDECK_AUDIT_WRITER", path)
        .env("WRITER_NAME", name)
        .env("WRITER_COUNT", count.to_string())
        .env("WRITER_GO", go)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start a writer process")
}

/// Stops a child by PID if the test fails before it does.
struct Reap(Option<Child>);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_exit(reap: &mut Reap, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    let child = reap.0.as_mut().unwrap();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            reap.0 = None;
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "writer {} still running",
            child.id()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn commands_of(path: &Path, writer: &str) -> Vec<String> {
    audit::read_log(path)
        .unwrap()
        .lines
        .into_iter()
        .filter_map(|l| l.record.ok())
        .filter(|r| r.operator == writer)
        .map(|r| r.command.unwrap_or_default())
        .collect()
}

#[test]
fn two_processes_appending_at_once_leave_one_valid_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let go = dir.path().join("go");
    let mut a = Reap(Some(spawn_writer(&path, "writer-a", 500, &go)));
    let mut b = Reap(Some(spawn_writer(&path, "writer-b", 500, &go)));
    fs::write(&go, b"").unwrap();
    assert!(wait_exit(&mut a, Duration::from_secs(300)).success());
    assert!(wait_exit(&mut b, Duration::from_secs(300)).success());

    let report = audit::verify(&path).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records, 1000);
    for w in ["writer-a", "writer-b"] {
        let expected: Vec<String> = (1..=500).map(|i| format!("{w} {i}")).collect();
        assert_eq!(commands_of(&path, w), expected, "{w}'s records, in order");
    }
    let ops: Vec<String> = audit::read_log(&path)
        .unwrap()
        .lines
        .into_iter()
        .map(|l| l.record.unwrap().operator)
        .collect();
    let switches = ops.windows(2).filter(|w| w[0] != w[1]).count();
    eprintln!("two writers: 1000 records, the writer changed {switches} times along the chain");
}

#[test]
fn kill_9_of_a_writer_loses_no_complete_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let go = dir.path().join("go");
    fs::write(&go, b"").unwrap();
    let mut w = Reap(Some(spawn_writer(&path, "looper", 0, &go)));
    let deadline = Instant::now() + Duration::from_secs(120);
    while !path.exists() || lines(&path).len() < 200 {
        assert!(
            Instant::now() < deadline,
            "the writer did not reach 200 records"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let child = w.0.as_mut().unwrap();
    child.kill().unwrap(); // SIGKILL, mid-loop
    child.wait().unwrap();
    w.0 = None;

    let killed = fs::read(&path).unwrap();
    let complete = killed
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let complete_lines = lines(&path).len() as u64;
    let report = audit::verify(&path).unwrap();
    match &report.problem {
        None => {}
        // A write(2) cut by SIGKILL between two pages: possible, rarely seen.
        Some(p) => assert_eq!(p.kind, ProblemKind::TornTail, "{p}"),
    }
    assert_eq!(report.records, complete_lines);
    // The commands are numbered 1, 2, 3 … with none missing.
    let cmds = commands_of(&path, "looper");
    assert_eq!(cmds.len() as u64, complete_lines);
    assert!(
        cmds.iter()
            .enumerate()
            .all(|(i, c)| *c == format!("looper {}", i + 1))
    );

    // SIGKILL cannot cut a single small write(2) in practice, but a power loss leaves exactly
    // this: the first part of a record that was never fsync'd. Add one if the kill did not.
    let mut damaged = killed.clone();
    if complete == killed.len() {
        let last = lines(&path).pop().unwrap();
        damaged.extend_from_slice(&last[..last.len() / 2]);
        fs::write(&path, &damaged).unwrap();
    }
    let torn_bytes = damaged.len() - complete;

    // The killed writer held the lock at times; opening must not wait for it.
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(log.repaired_at_open(), vec![complete_lines + 1]);
    let after = fs::read(&path).unwrap();
    assert_eq!(
        &after[..complete],
        &killed[..complete],
        "every complete record intact"
    );
    let report = log.verify().unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records, complete_lines + 1);
    assert!(
        report.repairs[0].reason.contains(&format!(
            "torn tail: {torn_bytes} bytes after line {complete_lines}"
        )),
        "{:?}",
        report.repairs
    );
    let (code, stdout, _) = fleetdeck(&["audit", "verify", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
}

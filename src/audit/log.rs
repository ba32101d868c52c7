//! The append path: [`AuditLog`] opens (and creates, 0700/0600) the log, and appends records
//! under an exclusive file lock, reading the tail afresh each time and repairing a torn tail or a
//! disagreeing head file before it writes. Owns the head file beside the log. Never reads the
//! clock except through the injected [`Clock`]; never prints.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::head::{HeadState, read_head, write_head};
use super::{
    Actor, Appended, AuditAction, AuditEntry, AuditError, Body, GENESIS_PREV, Phase, Redactor,
    SYSTEM_ROLE, duration_ms, encode_line, escape_bounded, format_time, head_path, hex_string,
    hex32,
};

/// Where record times come from: [`SystemTime::now`] unless a test injects another.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Torn bytes kept (escaped) in the `audit.repair` record's `result`.
const TORN_SAMPLE: usize = 512;
/// A last line longer than this is hashed but not parsed for its `seq` (the line count is used).
const MAX_PARSED_LINE: u64 = 1 << 20;

/// An append-only, hash-chained, fsync'd audit log shared by every console on the machine.
///
/// Cheap to clone (the clones share the path, clock and secrets). Every method that writes takes
/// an exclusive lock on the file, so two processes, two consoles or two threads can append to one
/// log and the chain stays whole. Appends block (lock wait + `fsync`): call them from a blocking
/// context (`tokio::task::spawn_blocking`) in async code.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    head: PathBuf,
    clock: Clock,
    system: Actor,
    redactor: Mutex<Redactor>,
    repaired_at_open: Mutex<Vec<u64>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// How to open an [`AuditLog`]: clock, the actor named on `audit.repair` records, secrets.
#[derive(Default)]
pub struct AuditLogOptions {
    clock: Option<Clock>,
    system: Option<Actor>,
    redactor: Redactor,
}

impl AuditLogOptions {
    /// Takes record times from `clock` instead of the system clock (tests, replays).
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Names `actor` on the records the log writes about itself (default: `$USER`, role
    /// `system`, this machine's source).
    pub fn system_actor(mut self, actor: Actor) -> Self {
        self.system = Some(actor);
        self
    }

    /// Redacts these secrets from every record written through the log.
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Opens (creating if needed) the log at `path`; see [`AuditLog::open`].
    pub fn open(self, path: impl AsRef<Path>) -> Result<AuditLog, AuditError> {
        let path = path.as_ref().to_path_buf();
        let log = AuditLog {
            inner: Arc::new(Inner {
                head: head_path(&path),
                path,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemTime::now)),
                system: self.system.unwrap_or_else(|| Actor::from_env(SYSTEM_ROLE)),
                redactor: Mutex::new(self.redactor),
                repaired_at_open: Mutex::new(Vec::new()),
            }),
        };
        log.create()?;
        let repairs = log.repair()?;
        if let Ok(mut r) = log.inner.repaired_at_open.lock() {
            *r = repairs;
        }
        Ok(log)
    }
}

impl AuditLog {
    /// Opens the log at `path` with the system clock: creates the parent directory (mode 0700)
    /// and the file (mode 0600) when missing, tightens an existing file to 0600, then repairs a
    /// torn tail or a missing or disagreeing head file, writing an `audit.repair` record for each.
    pub fn open(path: impl AsRef<Path>) -> Result<AuditLog, AuditError> {
        AuditLogOptions::default().open(path)
    }

    /// Options for [`AuditLogOptions::open`].
    pub fn options() -> AuditLogOptions {
        AuditLogOptions::default()
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The head file beside it.
    pub fn head_path(&self) -> &Path {
        &self.inner.head
    }

    /// The `seq` of each `audit.repair` record written when the log was opened.
    pub fn repaired_at_open(&self) -> Vec<u64> {
        self.inner
            .repaired_at_open
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Keeps `secret` out of every later record (each text field has it replaced by `***`).
    pub fn add_secret(&self, secret: impl Into<String>) {
        if let Ok(mut r) = self.inner.redactor.lock() {
            r.add(secret);
        }
    }

    /// Writes one record and returns once it is on disk (`fsync`): act only after this returns
    /// `Ok`. Fills `seq`, `time`, `prev` and `hash` under the lock from the file as it is now.
    pub fn append(&self, entry: AuditEntry) -> Result<Appended, AuditError> {
        self.write(Some((entry, None, None)))
    }

    /// Writes the opening record of an action (phase `before`) whose result another part of
    /// the program records later with [`append_after`](Self::append_after) and the returned
    /// `seq`. Use [`begin`](Self::begin) when one caller holds both ends.
    pub fn append_before(&self, entry: AuditEntry) -> Result<Appended, AuditError> {
        self.write(Some((entry, Some(Phase::Before), None)))
    }

    /// Writes the result of the action opened at record `before` (phase `after`, `pair` =
    /// `before`). The entry is written as given: its action may differ from the opening one
    /// (`exec` → `exec.result`).
    pub fn append_after(&self, entry: AuditEntry, before: u64) -> Result<Appended, AuditError> {
        self.write(Some((entry, Some(Phase::After), Some(before))))
    }

    /// Writes the "before" record of an action (phase `before`); the returned [`Pending`] writes
    /// its result. A `before` without an `after` means fleetdeck stopped while the action ran.
    pub fn begin(&self, entry: AuditEntry) -> Result<Pending, AuditError> {
        let appended = self.write(Some((entry.clone(), Some(Phase::Before), None)))?;
        Ok(Pending {
            log: self.clone(),
            entry,
            before: appended,
        })
    }

    /// Repairs the log now if it needs it (torn tail; missing, unreadable or disagreeing head
    /// file) and returns the `seq` of each `audit.repair` record written. [`AuditLog::open`]
    /// and every append do this too.
    pub fn repair(&self) -> Result<Vec<u64>, AuditError> {
        Ok(self.write(None)?.repairs)
    }

    /// Checks the whole log; see [`verify`](super::verify()).
    pub fn verify(&self) -> Result<super::VerifyReport, AuditError> {
        super::verify(self.path())
    }

    fn err(&self, what: &'static str) -> impl FnOnce(io::Error) -> AuditError + '_ {
        move |e| AuditError::io(&self.inner.path, what, e)
    }

    /// Creates the directory and the file with private permissions.
    fn create(&self) -> Result<(), AuditError> {
        let path = &self.inner.path;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| AuditError::io(dir, "create the directory", e))?;
        }
        let existed = path.exists();
        let file = self.open_append()?;
        let meta = file.metadata().map_err(self.err("stat"))?;
        if meta.permissions().mode() & 0o077 != 0 {
            // An audit log readable by others leaks who did what where; an older or hand-made
            // file is tightened rather than refused.
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(self.err("set permissions 0600 on"))?;
        }
        if !existed {
            // The new directory entry must survive a crash too, or the first records vanish
            // with it.
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
                && let Ok(d) = File::open(dir)
            {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    fn open_append(&self) -> Result<File, AuditError> {
        // Opened afresh for every append: a log moved away or deleted behind our back is then
        // noticed (the head file disagrees) instead of written to unseen.
        OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.inner.path)
            .map_err(self.err("open"))
    }

    /// Under the lock: repairs what needs repair, then writes `entry` (if any).
    fn write(
        &self,
        entry: Option<(AuditEntry, Option<Phase>, Option<u64>)>,
    ) -> Result<Appended, AuditError> {
        let file = self.open_append()?;
        file.lock().map_err(self.err("lock"))?;
        let result = self.write_locked(&file, entry);
        // Closing the file releases the lock even if unlock fails.
        let _ = file.unlock();
        result
    }

    fn write_locked(
        &self,
        file: &File,
        entry: Option<(AuditEntry, Option<Phase>, Option<u64>)>,
    ) -> Result<Appended, AuditError> {
        let tail = read_tail(file).map_err(self.err("read"))?;
        let head = read_head(&self.inner.head)?;
        let mut last_line = tail.lines;
        let mut prev = tail.last_sha.unwrap_or_else(genesis);
        let head_problem = head_disagreement(&head, last_line, tail.last_sha.as_ref());
        let time = format_time((self.inner.clock)());
        let redactor = self
            .inner
            .redactor
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default();
        let mut repairs = Vec::new();
        let mut wrote = false;

        if let Some(torn) = &tail.torn {
            let mut shown = escape_bounded(&torn.sample, TORN_SAMPLE);
            if torn.len > torn.sample.len() as u64 {
                shown.push_str(&format!(
                    "… ({} more bytes)",
                    torn.len - torn.sample.len() as u64
                ));
            }
            let e = self.system_entry(format!(
                "torn tail: {} bytes after line {} did not end in a newline (a write cut short by \
                 a crash or power loss, never acknowledged to its caller); removed, and kept here \
                 in `result`",
                torn.len, last_line
            ));
            let e = e.result(shown);
            let (line, _, sha) = build(&redactor, last_line + 1, &time, &e, None, None, &prev);
            self.overwrite_torn(torn, &line)?;
            last_line += 1;
            prev = sha;
            repairs.push(last_line);
            wrote = true;
        }
        if let Some(reason) = head_problem {
            let e = self.system_entry(reason);
            let (line, _, sha) = build(&redactor, last_line + 1, &time, &e, None, None, &prev);
            write_once(file, &line).map_err(self.err("write"))?;
            last_line += 1;
            prev = sha;
            repairs.push(last_line);
            wrote = true;
        }
        let mut appended = None;
        if let Some((e, phase, pair)) = entry {
            let (line, hash, sha) = build(&redactor, last_line + 1, &time, &e, phase, pair, &prev);
            write_once(file, &line).map_err(self.err("write"))?;
            last_line += 1;
            prev = sha;
            appended = Some(Appended {
                seq: last_line,
                hash: hex_string(&hash),
                line_sha256: hex_string(&sha),
                repairs: Vec::new(),
            });
            wrote = true;
        }
        if wrote {
            // "fsync before acting": the caller runs the action only after this returns.
            file.sync_data().map_err(self.err("fsync"))?;
        }
        let head_current = matches!(&head, HeadState::Valid(h)
            if h.seq == last_line && h.line_sha256.as_bytes() == prev.as_slice());
        if last_line > 0 && !head_current {
            // The record is durable already; a head file that could not be written only weakens
            // the detection of removed trailing records (verify and the next append say so), so
            // it must not turn a recorded action into a failed one.
            if let Err(e) = write_head(&self.inner.head, last_line, &prev) {
                tracing::warn!(head = %self.inner.head.display(), error = %e, "cannot update the audit head file");
            }
        }
        Ok(match appended {
            Some(mut a) => {
                a.repairs = repairs;
                a
            }
            None => Appended {
                seq: last_line,
                hash: String::new(),
                line_sha256: hex_string(&prev),
                repairs,
            },
        })
    }

    fn system_entry(&self, reason: String) -> AuditEntry {
        AuditEntry::new(&self.inner.system, AuditAction::AuditRepair)
            .target(self.inner.path.display().to_string())
            .reason(reason)
    }

    /// Writes the repair record over the torn bytes, so that at no moment are the torn bytes gone
    /// without a record of them: a crash during this leaves a (new) torn tail, repaired next time.
    fn overwrite_torn(&self, torn: &Torn, line: &[u8]) -> Result<(), AuditError> {
        let f = OpenOptions::new()
            .write(true)
            .open(&self.inner.path)
            .map_err(self.err("open for repair"))?;
        f.write_all_at(line, torn.start)
            .map_err(self.err("write the repair record to"))?;
        let end = torn.start + line.len() as u64;
        if torn.start + torn.len > end {
            f.set_len(end)
                .map_err(self.err("truncate the torn tail of"))?;
        }
        Ok(())
    }
}

/// A record written before an action, waiting for the action's result.
#[must_use = "an action's result must be recorded with finish()"]
#[derive(Debug)]
pub struct Pending {
    log: AuditLog,
    entry: AuditEntry,
    before: Appended,
}

impl Pending {
    /// The `seq` of the `before` record.
    pub fn seq(&self) -> u64 {
        self.before.seq
    }

    /// What the `before` append wrote.
    pub fn before(&self) -> &Appended {
        &self.before
    }

    /// Writes the `after` record: same action, operator and target, with `result` and
    /// `duration`, `pair` = the `before` record's `seq`.
    pub fn finish(
        self,
        result: impl Into<String>,
        duration: Duration,
    ) -> Result<Appended, AuditError> {
        self.finish_with(result, duration, None)
    }

    /// [`finish`](Self::finish) with a reason (a failure's cause, an abort's why).
    pub fn finish_with(
        self,
        result: impl Into<String>,
        duration: Duration,
        reason: Option<String>,
    ) -> Result<Appended, AuditError> {
        let mut e = self.entry;
        e.result = Some(result.into());
        e.duration_ms = Some(duration_ms(duration));
        e.reason = reason;
        e.note = None;
        self.log
            .write(Some((e, Some(Phase::After), Some(self.before.seq))))
    }
}

fn genesis() -> [u8; 64] {
    let mut z = [b'0'; 64];
    z.copy_from_slice(GENESIS_PREV.as_bytes());
    z
}

/// The line for a record, its `hash` and the SHA-256 of the line (the next `prev`).
fn build(
    redactor: &Redactor,
    seq: u64,
    time: &str,
    e: &AuditEntry,
    phase: Option<Phase>,
    pair: Option<u64>,
    prev: &[u8; 64],
) -> (Vec<u8>, [u8; 64], [u8; 64]) {
    let e = redactor.entry(e);
    let prev = std::str::from_utf8(prev).unwrap_or(GENESIS_PREV);
    let body = Body {
        seq,
        time,
        operator: &e.operator,
        role: &e.role,
        source: &e.source,
        action: &e.action,
        phase,
        pair,
        run: e.run.as_deref(),
        runbook: e.runbook.as_deref(),
        step: e.step.as_deref(),
        target: e.target.as_deref(),
        command: e.command.as_deref(),
        result: e.result.as_deref(),
        duration_ms: e.duration_ms,
        reason: e.reason.as_deref(),
        note: e.note.as_deref(),
        output_bytes: e.output_bytes,
        output_sha256: e.output_sha256.as_deref(),
        prev,
    };
    let (line, hash) = encode_line(&body);
    let sha = hex32(&Sha256::digest(&line[..line.len() - 1]));
    (line, hash, sha)
}

/// One `write(2)` of the whole line on the O_APPEND descriptor; the lock is held, so even a
/// short write's continuation lands right behind it.
fn write_once(mut file: &File, line: &[u8]) -> io::Result<()> {
    file.write_all(line)
}

/// The end of the log as found under the lock.
struct Tail {
    /// Complete lines in the file (the last one's line number).
    lines: u64,
    /// SHA-256 hex of the last complete line.
    last_sha: Option<[u8; 64]>,
    /// Bytes after the last newline.
    torn: Option<Torn>,
}

struct Torn {
    start: u64,
    len: u64,
    sample: Vec<u8>,
}

#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
}

fn read_tail(file: &File) -> io::Result<Tail> {
    let len = file.metadata()?.len();
    let mut tail = Tail {
        lines: 0,
        last_sha: None,
        torn: None,
    };
    if len == 0 {
        return Ok(tail);
    }
    let complete_end = rfind_newline(file, len)?.map_or(0, |p| p + 1);
    if complete_end < len {
        let n = (len - complete_end).min(TORN_SAMPLE as u64) as usize;
        let mut sample = vec![0; n];
        file.read_exact_at(&mut sample, complete_end)?;
        tail.torn = Some(Torn {
            start: complete_end,
            len: len - complete_end,
            sample,
        });
    }
    if complete_end == 0 {
        return Ok(tail);
    }
    let line_end = complete_end - 1;
    let start = rfind_newline(file, line_end)?.map_or(0, |p| p + 1);
    let (sha, text) = hash_range(file, start, line_end)?;
    tail.last_sha = Some(sha);
    // seq == line number on every log this module wrote; a last line that does not say its
    // seq (damaged, forged) is counted instead, so new records still land on their line number.
    tail.lines = match text.and_then(|t| serde_json::from_slice::<SeqOnly>(&t).ok()) {
        Some(s) => s.seq,
        None => count_newlines(file, complete_end)?,
    };
    Ok(tail)
}

/// SHA-256 hex of `[start, end)` and the bytes themselves when short enough to parse.
fn hash_range(file: &File, start: u64, end: u64) -> io::Result<([u8; 64], Option<Vec<u8>>)> {
    let keep = end - start <= MAX_PARSED_LINE;
    let mut kept = Vec::new();
    let mut h = Sha256::new();
    let mut buf = vec![0; 64 * 1024];
    let mut at = start;
    while at < end {
        let n = ((end - at) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], at)?;
        h.update(&buf[..n]);
        if keep {
            kept.extend_from_slice(&buf[..n]);
        }
        at += n as u64;
    }
    Ok((hex32(&h.finalize()), keep.then_some(kept)))
}

/// The offset of the last `\n` before `end`.
fn rfind_newline(file: &File, end: u64) -> io::Result<Option<u64>> {
    let mut buf = vec![0; 8192];
    let mut hi = end;
    while hi > 0 {
        let lo = hi.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(hi - lo) as usize];
        file.read_exact_at(chunk, lo)?;
        if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
            return Ok(Some(lo + i as u64));
        }
        hi = lo;
    }
    Ok(None)
}

fn count_newlines(file: &File, end: u64) -> io::Result<u64> {
    let mut buf = vec![0; 256 * 1024];
    let mut at = 0;
    let mut count = 0;
    while at < end {
        let n = ((end - at) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], at)?;
        count += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        at += n as u64;
    }
    Ok(count)
}

/// Why the head file and the end of the log disagree, as an `audit.repair` reason; `None` when
/// they agree or the head merely lags (a crash between the log's fsync and the head's rename).
fn head_disagreement(head: &HeadState, lines: u64, last_sha: Option<&[u8; 64]>) -> Option<String> {
    match head {
        HeadState::Missing if lines == 0 => None,
        HeadState::Missing => Some(format!(
            "head file missing while the log ends at record {lines}: recreated (records removed \
             from the end before now cannot be ruled out)"
        )),
        HeadState::Unreadable(content) => Some(format!(
            "head file unreadable ({content}); recreated at record {lines}"
        )),
        HeadState::Valid(h) if h.seq > lines => Some(format!(
            "the log ends at record {lines} but its head file names record {} (line sha256 {}): \
             records {}..={} were removed or the log was replaced",
            h.seq,
            h.line_sha256,
            lines + 1,
            h.seq
        )),
        HeadState::Valid(h)
            if h.seq == lines
                && last_sha.is_some_and(|s| s.as_slice() != h.line_sha256.as_bytes()) =>
        {
            Some(format!(
                "record {lines} is not the one the head file names (line sha256 {}): the end of \
                 the log was rewritten",
                h.line_sha256
            ))
        }
        HeadState::Valid(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::head::Head;
    use super::*;

    fn fixed_clock() -> impl Fn() -> SystemTime + Send + Sync + 'static {
        || SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000)
    }

    fn actor() -> Actor {
        Actor::new("alice", "admin", "127.0.0.1")
    }

    #[test]
    fn appends_chain_and_head_follows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::options()
            .clock(fixed_clock())
            .open(&path)
            .unwrap();
        let a = log
            .append(AuditEntry::new(&actor(), AuditAction::Exec).target("h1"))
            .unwrap();
        let b = log
            .append(AuditEntry::new(&actor(), AuditAction::Exec).target("h2"))
            .unwrap();
        assert_eq!((a.seq, b.seq), (1, 2));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains(&format!("\"prev\":\"{GENESIS_PREV}\"")));
        assert!(lines[1].contains(&format!("\"prev\":\"{}\"", a.line_sha256)));
        assert_eq!(
            read_head(&head_path(&path)).unwrap(),
            HeadState::Valid(Head {
                seq: 2,
                line_sha256: b.line_sha256.clone()
            })
        );
        assert!(
            lines[0].starts_with("{\"seq\":1,\"time\":\"2026-09-21T14:13:20.000Z\",\"operator\":\"alice\",\"role\":\"admin\",\"source\":\"127.0.0.1\",\"action\":\"exec\",\"phase\":null,\"pair\":null,\"run\":null,\"runbook\":null,\"step\":null,\"target\":\"h1\",\"command\":null,\"result\":null,\"duration_ms\":null,\"reason\":null,\"note\":null,\"output_bytes\":null,\"output_sha256\":null,\"prev\":\""),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn begin_and_finish_write_a_linked_pair() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path().join("a.jsonl")).unwrap();
        let p = log
            .begin(
                AuditEntry::new(&actor(), AuditAction::Exec)
                    .target("h1")
                    .command("systemctl restart geth"),
            )
            .unwrap();
        let after = p.finish("exit 0", Duration::from_millis(1500)).unwrap();
        assert_eq!(after.seq, 2);
        let contents = super::super::read_log(log.path()).unwrap();
        let recs: Vec<_> = contents
            .lines
            .iter()
            .map(|l| l.record.clone().unwrap())
            .collect();
        assert_eq!(recs[0].phase, Some(Phase::Before));
        assert_eq!(recs[0].result, None);
        assert_eq!(recs[1].phase, Some(Phase::After));
        assert_eq!(recs[1].pair, Some(1));
        assert_eq!(recs[1].result.as_deref(), Some("exit 0"));
        assert_eq!(recs[1].duration_ms, Some(1500));
        assert_eq!(recs[1].command.as_deref(), Some("systemctl restart geth"));
    }

    #[test]
    fn head_disagreements_are_named() {
        let sha = [b'a'; 64];
        let h = |seq| {
            HeadState::Valid(Head {
                seq,
                line_sha256: "a".repeat(64),
            })
        };
        assert_eq!(head_disagreement(&HeadState::Missing, 0, None), None);
        assert!(
            head_disagreement(&HeadState::Missing, 3, Some(&sha))
                .unwrap()
                .contains("missing")
        );
        assert_eq!(head_disagreement(&h(3), 3, Some(&sha)), None);
        // Lagging head: a crash between the log's fsync and the head's rename.
        assert_eq!(head_disagreement(&h(2), 3, Some(&sha)), None);
        assert!(
            head_disagreement(&h(5), 3, Some(&sha))
                .unwrap()
                .contains("records 4..=5 were removed")
        );
        assert!(
            head_disagreement(&h(3), 3, Some(&[b'b'; 64]))
                .unwrap()
                .contains("rewritten")
        );
    }
}

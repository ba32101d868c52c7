//! Reading the log back: [`verify()`] checks every line's hash, sequence number and link in one
//! streaming pass and names the first bad line; [`read_log`] and [`read_last`] return records
//! for `audit show` and the console's Audit pane. Nothing here writes or repairs: a damaged log is
//! reported as found.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;
use sha2::{Digest, Sha256};

use super::head::{HeadState, read_head};
use super::{
    AuditAction, AuditError, AuditRecord, GENESIS_PREV, Phase, head_path, hex_string, hex32,
    split_hash,
};

/// What [`verify_with`] insists on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// A non-empty log must have its head file (default). Off for a copy of the log taken
    /// without its `.head` file; then records removed from the end cannot be detected.
    pub require_head: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions { require_head: true }
    }
}

/// The verdict on a log (`audit verify --json` prints it, docs/cli-json.md).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// The log checked.
    pub path: PathBuf,
    /// Lines that verified (all of them when [`problem`](Self::problem) is `None`; those before
    /// the problem otherwise).
    pub records: u64,
    /// SHA-256 of the last verified line: copy it elsewhere to anchor the log's current state.
    pub last_line_sha256: Option<String>,
    /// The record the head file names, when it has one.
    pub head_seq: Option<u64>,
    /// The `audit.repair` records met (repairs are legitimate, but an auditor wants to see them).
    pub repairs: Vec<RepairNote>,
    /// The first thing wrong, or `None` if the log is intact.
    pub problem: Option<Problem>,
    /// The `seq` of each `before` record among the verified lines that no `after` record
    /// pairs with: an action that started and never reported (fleetdeck stopped meanwhile).
    /// Not damage: the log is intact, but an auditor wants to see them.
    pub unfinished: Vec<u64>,
}

impl VerifyReport {
    /// Whether the log is intact.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }

    /// The process exit code for `fleetdeck audit verify`: 0 intact, 1 tampered or damaged.
    pub fn exit_code(&self) -> u8 {
        if self.is_ok() { 0 } else { 1 }
    }
}

/// An `audit.repair` record found while verifying.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RepairNote {
    /// Its line (= seq).
    pub line: u64,
    /// Its time.
    pub time: String,
    /// What was repaired.
    pub reason: String,
}

/// The first thing wrong with a log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The first bad line (1-based); `None` for a problem with the head file itself.
    pub line: Option<u64>,
    /// What kind of damage.
    pub kind: ProblemKind,
    /// The explanation shown to the operator (without the `line N:` prefix).
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(n) => write!(f, "line {n}: {}", self.detail),
            None => f.write_str(&self.detail),
        }
    }
}

/// The kinds of damage [`verify()`] tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The line is not a JSON object with the record's keys.
    NotARecord,
    /// The line does not end in its `"hash"` member (rewritten by another tool, or forged).
    MissingHash,
    /// The hash does not match the line: the record was edited.
    HashMismatch,
    /// `seq` jumps ahead: records before this line were deleted (or moved away).
    Deleted,
    /// Records are out of order (or one appears twice).
    Reordered,
    /// `prev` does not match the previous line: a record was inserted, or the previous line was
    /// replaced by one with a recomputed hash.
    PrevMismatch,
    /// The file ends in bytes without a newline: a write cut short. Repaired by the next writer.
    TornTail,
    /// The head file names a record beyond the end: whole records were removed from the end.
    Truncated,
    /// The record at the head file's `seq` is not the one it names: the end was rewritten.
    HeadMismatch,
    /// A non-empty log without its head file (see [`VerifyOptions::require_head`]).
    HeadMissing,
    /// The head file is not one.
    HeadUnreadable,
}

#[derive(Deserialize)]
struct Check<'a> {
    seq: u64,
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[allow(dead_code)]
    operator: IgnoredAny,
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow)]
    prev: Cow<'a, str>,
    #[serde(borrow)]
    hash: Cow<'a, str>,
    #[serde(default, borrow)]
    reason: Option<Cow<'a, str>>,
    #[serde(default)]
    phase: Option<Phase>,
    #[serde(default)]
    pair: Option<u64>,
}

/// Checks the log at `path` with the default [`VerifyOptions`].
pub fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
    verify_with(path, &VerifyOptions::default())
}

/// Checks every line in one pass: JSON, hash, `seq` = line number, `prev` = SHA-256 of the
/// previous line; then the end: no torn tail, and the head file's record present and unchanged.
/// Stops at the first bad line. `Err` only when the file cannot be read.
pub fn verify_with(path: &Path, options: &VerifyOptions) -> Result<VerifyReport, AuditError> {
    let io_err = |e: io::Error| AuditError::io(path, "read", e);
    let head_file = head_path(path);
    let head = read_head(&head_file)?;
    let file = File::open(path).map_err(io_err)?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut report = VerifyReport {
        path: path.to_path_buf(),
        records: 0,
        last_line_sha256: None,
        head_seq: match &head {
            HeadState::Valid(h) => Some(h.seq),
            _ => None,
        },
        repairs: Vec::new(),
        problem: None,
        unfinished: Vec::new(),
    };
    let mut open = std::collections::BTreeSet::new();
    let mut prev = [b'0'; 64];
    prev.copy_from_slice(GENESIS_PREV.as_bytes());
    let mut seen_prev = false;
    let mut buf = Vec::with_capacity(1024);
    let mut head_line_sha: Option<[u8; 64]> = None;
    let mut torn: Option<usize> = None;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io_err)?;
        if n == 0 {
            break;
        }
        if buf.last() != Some(&b'\n') {
            torn = Some(buf.len());
            break;
        }
        buf.pop();
        let line_no = report.records + 1;
        match check_line(&buf, line_no, &prev) {
            Ok(ok) => {
                if ok.repair.is_some() {
                    report.repairs.push(RepairNote {
                        line: line_no,
                        time: ok.time,
                        reason: ok.repair.unwrap_or_default(),
                    });
                }
                match ok.phase {
                    Some(Phase::Before) => {
                        open.insert(line_no);
                    }
                    Some(Phase::After) => {
                        if let Some(pair) = ok.pair {
                            open.remove(&pair);
                        }
                    }
                    None => {}
                }
                prev = ok.line_sha;
                seen_prev = true;
                report.records = line_no;
                if let HeadState::Valid(h) = &head
                    && h.seq == line_no
                {
                    head_line_sha = Some(ok.line_sha);
                }
            }
            Err(Bad::Problem(p)) => {
                report.problem = Some(p);
                break;
            }
            Err(Bad::SeqAhead { seq }) => {
                // Deleted or reordered? The next line tells: if it carries the seq expected
                // here, this one was moved ahead of it.
                buf.clear();
                let mut next_seq = None;
                if reader.read_until(b'\n', &mut buf).map_err(io_err)? > 0 {
                    next_seq = serde_json::from_slice::<SeqOnly>(buf.trim_ascii_end())
                        .ok()
                        .map(|s| s.seq);
                }
                report.problem = Some(seq_problem(line_no, seq, next_seq));
                break;
            }
        }
    }
    if seen_prev {
        report.last_line_sha256 = Some(hex_string(&prev));
    }
    report.unfinished = open.into_iter().collect();
    if report.problem.is_some() {
        return Ok(report);
    }
    let lines = report.records;
    report.problem = end_problem(&head, &head_file, lines, head_line_sha, torn, options);
    Ok(report)
}

/// What is wrong at the end of a log whose every complete line verified, if anything.
fn end_problem(
    head: &HeadState,
    head_file: &Path,
    lines: u64,
    head_line_sha: Option<[u8; 64]>,
    torn: Option<usize>,
    options: &VerifyOptions,
) -> Option<Problem> {
    // Ordered by line: a head naming an earlier record comes before the torn tail.
    if let HeadState::Valid(h) = head
        && h.seq <= lines
        && h.seq > 0
        && head_line_sha.is_some_and(|s| s.as_slice() != h.line_sha256.as_bytes())
    {
        return Some(Problem {
            line: Some(h.seq),
            kind: ProblemKind::HeadMismatch,
            detail: format!(
                "not the record the head file names (line sha256 {}): the log was rewritten \
                 from here or earlier",
                h.line_sha256
            ),
        });
    }
    if let Some(bytes) = torn {
        return Some(Problem {
            line: Some(lines + 1),
            kind: ProblemKind::TornTail,
            detail: format!(
                "torn tail: {bytes} bytes without a final newline (a write cut short by a crash \
                 or power loss; its action never ran). Run `fleetdeck audit repair` (or any \
                 fleetdeck command that writes the audit log) to remove it; the bytes are kept \
                 in an audit.repair record"
            ),
        });
    }
    match head {
        HeadState::Valid(h) if h.seq > lines => Some(Problem {
            line: Some(lines + 1),
            kind: ProblemKind::Truncated,
            detail: format!(
                "missing: the log ends at record {lines} but its head file names record {}: \
                 records were removed from the end",
                h.seq
            ),
        }),
        HeadState::Missing if lines > 0 && options.require_head => Some(Problem {
            line: None,
            kind: ProblemKind::HeadMissing,
            detail: format!(
                "head file {} is missing: cannot tell whether records were removed from the end \
                 (to check a copy taken without it, pass --no-head)",
                head_file.display()
            ),
        }),
        HeadState::Unreadable(content) => Some(Problem {
            line: None,
            kind: ProblemKind::HeadUnreadable,
            detail: format!(
                "head file {} is not a head file ({content})",
                head_file.display()
            ),
        }),
        _ => None,
    }
}

#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
}

struct LineOk {
    line_sha: [u8; 64],
    time: String,
    repair: Option<String>,
    phase: Option<Phase>,
    pair: Option<u64>,
}

enum Bad {
    Problem(Problem),
    /// `seq` greater than the line number: decided with a look at the next line.
    SeqAhead {
        seq: u64,
    },
}

fn problem(line: u64, kind: ProblemKind, detail: impl Into<String>) -> Bad {
    Bad::Problem(Problem {
        line: Some(line),
        kind,
        detail: detail.into(),
    })
}

fn check_line(line: &[u8], line_no: u64, prev: &[u8; 64]) -> Result<LineOk, Bad> {
    let rec: Check<'_> = serde_json::from_slice(line).map_err(|e| {
        problem(
            line_no,
            ProblemKind::NotARecord,
            format!("not an audit record ({e})"),
        )
    })?;
    let Some((covered, claimed)) = split_hash(line) else {
        return Err(problem(
            line_no,
            ProblemKind::MissingHash,
            "the line does not end in its \"hash\" (record rewritten or forged)",
        ));
    };
    if rec.hash.as_bytes() != claimed {
        return Err(problem(
            line_no,
            ProblemKind::MissingHash,
            "the line does not end in its \"hash\" (record rewritten or forged)",
        ));
    }
    // The record hash covers `covered` + "}", the line hash the whole line: hash the shared
    // prefix once and finish both from there.
    let mut h = Sha256::new();
    h.update(covered);
    let mut whole = h.clone();
    h.update(b"}");
    if hex32(&h.finalize()).as_slice() != claimed {
        return Err(problem(
            line_no,
            ProblemKind::HashMismatch,
            "hash mismatch (record edited)",
        ));
    }
    whole.update(&line[covered.len()..]);
    let line_sha = hex32(&whole.finalize());
    if rec.seq > line_no {
        return Err(Bad::SeqAhead { seq: rec.seq });
    }
    if rec.seq < line_no {
        return Err(problem(
            line_no,
            ProblemKind::Reordered,
            format!(
                "seq {} where {line_no} was expected: records reordered (record {} appears again \
                 or was moved here)",
                rec.seq, rec.seq
            ),
        ));
    }
    if rec.prev.as_bytes() != prev.as_slice() {
        let detail = if line_no == 1 {
            "prev is not 64 zeros on the first line: records were removed from the start, or \
             this line was forged"
                .to_string()
        } else {
            format!(
                "prev does not match line {}: a record was inserted here, or line {} was \
                 replaced",
                line_no - 1,
                line_no - 1
            )
        };
        return Err(problem(line_no, ProblemKind::PrevMismatch, detail));
    }
    Ok(LineOk {
        line_sha,
        time: rec.time.into_owned(),
        repair: (rec.action == AuditAction::AuditRepair.as_str())
            .then(|| rec.reason.map(Cow::into_owned).unwrap_or_default()),
        phase: rec.phase,
        pair: rec.pair,
    })
}

fn seq_problem(line_no: u64, seq: u64, next_seq: Option<u64>) -> Problem {
    if next_seq == Some(line_no) {
        return Problem {
            line: Some(line_no),
            kind: ProblemKind::Reordered,
            detail: format!(
                "seq {seq} where {line_no} was expected: records reordered (record {line_no} \
                 comes after it)"
            ),
        };
    }
    let missing = if seq == line_no + 1 {
        format!("record {line_no} is missing")
    } else {
        format!("records {line_no}..={} are missing", seq - 1)
    };
    Problem {
        line: Some(line_no),
        kind: ProblemKind::Deleted,
        detail: format!("seq {seq} where {line_no} was expected: {missing} (deleted or moved)"),
    }
}

/// The lines of a log as records, for display.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogContents {
    /// Complete lines, in file order.
    pub lines: Vec<LogLine>,
    /// Bytes after the last newline (a torn tail), if any.
    pub torn_tail_bytes: Option<u64>,
}

/// One complete line of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// 1-based line number.
    pub line: u64,
    /// The line as written (invalid UTF-8 replaced), without its newline.
    pub raw: String,
    /// The record, or why the line is not one.
    pub record: Result<AuditRecord, String>,
}

/// The `before` records among `lines` that no `after` record pairs with, in log order: actions
/// that started and never reported (`fleetdeck audit show --unfinished`).
pub fn unfinished(lines: &[LogLine]) -> Vec<&AuditRecord> {
    let records = lines.iter().filter_map(|l| l.record.as_ref().ok());
    let closed: std::collections::BTreeSet<u64> = records
        .clone()
        .filter(|r| r.phase == Some(Phase::After))
        .filter_map(|r| r.pair)
        .collect();
    records
        .filter(|r| r.phase == Some(Phase::Before) && !closed.contains(&r.seq))
        .collect()
}

/// Every line of the log. Does not verify: use [`verify()`] for that.
pub fn read_log(path: &Path) -> Result<LogContents, AuditError> {
    read_lines(path, None)
}

/// The last `n` lines of the log (the console's Audit pane). Reads the file once, keeping `n`.
pub fn read_last(path: &Path, n: usize) -> Result<LogContents, AuditError> {
    read_lines(path, Some(n))
}

fn read_lines(path: &Path, keep: Option<usize>) -> Result<LogContents, AuditError> {
    let io_err = |e: io::Error| AuditError::io(path, "read", e);
    let file = File::open(path).map_err(io_err)?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut kept: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
    let mut out = LogContents::default();
    let mut line_no = 0;
    loop {
        let mut buf = Vec::new();
        let n = reader.read_until(b'\n', &mut buf).map_err(io_err)?;
        if n == 0 {
            break;
        }
        if buf.last() != Some(&b'\n') {
            out.torn_tail_bytes = Some(buf.len() as u64);
            break;
        }
        buf.pop();
        line_no += 1;
        if keep == Some(0) {
            continue;
        }
        kept.push_back((line_no, buf));
        if keep.is_some_and(|k| kept.len() > k) {
            kept.pop_front();
        }
    }
    out.lines = kept
        .into_iter()
        .map(|(line, bytes)| LogLine {
            line,
            record: serde_json::from_slice::<AuditRecord>(&bytes).map_err(|e| e.to_string()),
            raw: String::from_utf8_lossy(&bytes).into_owned(),
        })
        .collect();
    Ok(out)
}

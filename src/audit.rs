//! The tamper-evident audit log: every operator action, written before it happens and its result
//! after, as hash-chained JSON lines.
//!
//! This module owns the record format ([`AuditEntry`] in, [`AuditRecord`] out), the append path
//! ([`AuditLog`]: file lock, re-read of the tail under the lock, one write, `fsync` before the
//! caller acts, repair of a torn tail) and the checker ([`verify()`]). It must not draw on a
//! terminal, print, or touch the network, and it never decides *whether* an action is allowed:
//! the runbook engine, the roles check and the console decide, and write what they decided here.
//! Callers: the runbook executor (`fleetdeck run` and the console's runbook pane), the console's
//! Audit pane ([`read_last`]), and the `fleetdeck audit` commands in `src/cli/audit.rs`.
//!
//! The format, the hash definition, locking, repair and the meaning of each `verify` verdict are
//! specified in `docs/audit.md`; the constants and functions here are that specification's code.

mod action;
mod head;
mod log;
pub mod timeline;
mod verify;

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use action::AuditAction;
pub use log::{AuditLog, AuditLogOptions, Clock, Pending};
pub use verify::{
    LogContents, LogLine, Problem, ProblemKind, RepairNote, VerifyOptions, VerifyReport, read_last,
    read_log, unfinished, verify, verify_with,
};

/// The `prev` of the first record: 64 zeros.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The role written on records the log writes about itself (`audit.repair`).
pub const SYSTEM_ROLE: &str = "system";

/// Errors from opening, appending to or reading an audit log. A *tampered* log is not an error:
/// [`verify()`] returns it as a [`VerifyReport`] with a [`Problem`].
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A filesystem operation failed.
    #[error("audit log {}: cannot {what}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What was being done ("open", "lock", "write", "fsync", …).
        what: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Neither `$XDG_STATE_HOME` nor a home directory is known, so there is no default log path.
    #[error(
        "no default audit log location: set XDG_STATE_HOME or HOME, or name the file explicitly"
    )]
    NoDefaultPath,
}

impl AuditError {
    fn io(path: &Path, what: &'static str, source: std::io::Error) -> Self {
        AuditError::Io {
            path: path.to_path_buf(),
            what,
            source,
        }
    }
}

/// Who acts, as written on every record: the operator's name, their role and where they sit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Actor {
    /// The operator name (`$USER` unless the inventory says otherwise).
    pub operator: String,
    /// The operator's role: `admin`, `operator`, `developer`, `auditor` (or [`SYSTEM_ROLE`]).
    pub role: String,
    /// Where the operator sits: the `SSH_CLIENT` address, else this machine's host name.
    pub source: String,
}

impl Actor {
    /// An actor with the given name, role and source.
    pub fn new(
        operator: impl Into<String>,
        role: impl Into<String>,
        source: impl Into<String>,
    ) -> Self {
        Actor {
            operator: operator.into(),
            role: role.into(),
            source: source.into(),
        }
    }

    /// `$USER` (else `$LOGNAME`, else `unknown`) with `role`, sitting at [`detect_source`].
    pub fn from_env(role: impl Into<String>) -> Self {
        let operator = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "unknown".to_string());
        Actor::new(operator, role, detect_source())
    }
}

/// Where the operator sits: the client address from `SSH_CLIENT` when fleetdeck runs in an SSH
/// session, else this machine's host name, else `localhost`.
pub fn detect_source() -> String {
    source_from(
        std::env::var("SSH_CLIENT").ok().as_deref(),
        sysinfo::System::host_name().ok(),
    )
}

/// [`detect_source`] without reading the environment.
fn source_from(ssh_client: Option<&str>, host_name: Option<String>) -> String {
    // SSH_CLIENT is "client-address client-port server-port".
    if let Some(addr) = ssh_client
        .and_then(|s| s.split_whitespace().next())
        .filter(|a| !a.is_empty())
    {
        return addr.to_string();
    }
    host_name
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// What a caller asks to be recorded. `seq`, `time`, `prev`, `hash` (and `phase`/`pair` for
/// [`AuditLog::begin`]) are filled in by the log under its lock.
///
/// Free-text fields must not carry secrets: pass them through a [`Redactor`], or register the
/// secrets with [`AuditLog::add_secret`] so every field is redacted on the way in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditEntry {
    /// The operator name.
    pub operator: String,
    /// The operator's role.
    pub role: String,
    /// Where the operator sits.
    pub source: String,
    /// What happened: an [`AuditAction`]'s name.
    pub action: String,
    /// An identifier shared by every record of one runbook run (for resume and for reading).
    pub run: Option<String>,
    /// The runbook's name.
    pub runbook: Option<String>,
    /// The step's id within the runbook.
    pub step: Option<String>,
    /// The host, or hosts, acted on.
    pub target: Option<String>,
    /// The command run (already redacted).
    pub command: Option<String>,
    /// The outcome: `exit 0`, `exit 3`, `signal 9`, `error: …`, `confirmed`, a branch name.
    pub result: Option<String>,
    /// How long the action took.
    pub duration_ms: Option<u64>,
    /// Why: for refusals, overrides and aborts.
    pub reason: Option<String>,
    /// Free text typed by the operator (manual steps, notes).
    pub note: Option<String>,
    /// On an ad-hoc `exec.result`: every byte the command wrote (kept or cut by the cap).
    pub output_bytes: Option<u64>,
    /// On an ad-hoc `exec.result`: SHA-256 (hex) of the output kept; the output itself is
    /// never recorded.
    pub output_sha256: Option<String>,
}

impl AuditEntry {
    /// An entry for `action` by `actor`, every optional field empty.
    pub fn new(actor: &Actor, action: impl Into<String>) -> Self {
        AuditEntry {
            operator: actor.operator.clone(),
            role: actor.role.clone(),
            source: actor.source.clone(),
            action: action.into(),
            ..AuditEntry::default()
        }
    }

    /// Sets [`run`](Self::run).
    pub fn run(mut self, run: impl Into<String>) -> Self {
        self.run = Some(run.into());
        self
    }

    /// Sets [`runbook`](Self::runbook).
    pub fn runbook(mut self, runbook: impl Into<String>) -> Self {
        self.runbook = Some(runbook.into());
        self
    }

    /// Sets [`step`](Self::step).
    pub fn step(mut self, step: impl Into<String>) -> Self {
        self.step = Some(step.into());
        self
    }

    /// Sets [`target`](Self::target).
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Sets [`command`](Self::command).
    pub fn command(mut self, command: impl Into<String>) -> Self {
        self.command = Some(command.into());
        self
    }

    /// Sets [`result`](Self::result).
    pub fn result(mut self, result: impl Into<String>) -> Self {
        self.result = Some(result.into());
        self
    }

    /// Sets [`duration_ms`](Self::duration_ms).
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration_ms = Some(duration_ms(duration));
        self
    }

    /// Sets [`reason`](Self::reason).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Sets [`note`](Self::note).
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Sets [`output_bytes`](Self::output_bytes) and [`output_sha256`](Self::output_sha256).
    pub fn output(mut self, bytes: u64, sha256: impl Into<String>) -> Self {
        self.output_bytes = Some(bytes);
        self.output_sha256 = Some(sha256.into());
        self
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Whether a record opens an action (written before it runs) or closes one (its result).
/// Single records (a refusal, a decision) have no phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Written before the action; its `after` record may be missing if fleetdeck died meanwhile.
    Before,
    /// The result of the action opened by the record whose `seq` is in `pair`.
    After,
}

/// One record as read back from the log. Every key is always present in the file, in this order;
/// an empty optional field is `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log, from 1; always equal to the line number.
    pub seq: u64,
    /// UTC, RFC 3339 with milliseconds: `2026-11-22T02:00:00.123Z`.
    pub time: String,
    /// See [`AuditEntry::operator`].
    pub operator: String,
    /// See [`AuditEntry::role`].
    pub role: String,
    /// See [`AuditEntry::source`].
    pub source: String,
    /// See [`AuditEntry::action`].
    pub action: String,
    /// `before`, `after` or null.
    pub phase: Option<Phase>,
    /// On an `after` record: the `seq` of its `before` record.
    pub pair: Option<u64>,
    /// See [`AuditEntry::run`].
    pub run: Option<String>,
    /// See [`AuditEntry::runbook`].
    pub runbook: Option<String>,
    /// See [`AuditEntry::step`].
    pub step: Option<String>,
    /// See [`AuditEntry::target`].
    pub target: Option<String>,
    /// See [`AuditEntry::command`].
    pub command: Option<String>,
    /// See [`AuditEntry::result`].
    pub result: Option<String>,
    /// See [`AuditEntry::duration_ms`].
    pub duration_ms: Option<u64>,
    /// See [`AuditEntry::reason`].
    pub reason: Option<String>,
    /// See [`AuditEntry::note`].
    pub note: Option<String>,
    /// See [`AuditEntry::output_bytes`]; absent (read as null) in logs written before it existed.
    #[serde(default)]
    pub output_bytes: Option<u64>,
    /// See [`AuditEntry::output_sha256`]; absent (read as null) in older logs.
    #[serde(default)]
    pub output_sha256: Option<String>,
    /// Lower-case hex SHA-256 of the previous line's bytes (without its newline); 64 zeros first.
    pub prev: String,
    /// Lower-case hex SHA-256 of this line with its `,"hash":"…"` member removed.
    pub hash: String,
}

/// The serialised form of a record without `hash`: the exact bytes `hash` is computed over.
/// Field order is the file's key order and part of the format.
#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    time: &'a str,
    operator: &'a str,
    role: &'a str,
    source: &'a str,
    action: &'a str,
    phase: Option<Phase>,
    pair: Option<u64>,
    run: Option<&'a str>,
    runbook: Option<&'a str>,
    step: Option<&'a str>,
    target: Option<&'a str>,
    command: Option<&'a str>,
    result: Option<&'a str>,
    duration_ms: Option<u64>,
    reason: Option<&'a str>,
    note: Option<&'a str>,
    output_bytes: Option<u64>,
    output_sha256: Option<&'a str>,
    prev: &'a str,
}

/// `,"hash":"` + 64 hex digits + `"}`: how every line ends.
const HASH_SUFFIX_LEN: usize = HASH_KEY.len() + 64 + 2;
const HASH_KEY: &[u8] = b",\"hash\":\"";

/// Builds the line for a record (with its final newline) and returns it with its record hash.
fn encode_line(body: &Body<'_>) -> (Vec<u8>, [u8; 64]) {
    // Serialising a struct of strings and integers cannot fail.
    let json = serde_json::to_vec(body).unwrap_or_default();
    let hash = hex32(&Sha256::digest(&json));
    let mut line = Vec::with_capacity(json.len() + HASH_SUFFIX_LEN + 1);
    line.extend_from_slice(&json[..json.len() - 1]);
    line.extend_from_slice(HASH_KEY);
    line.extend_from_slice(&hash);
    line.extend_from_slice(b"\"}\n");
    (line, hash)
}

/// Splits a line (without its newline) into the part its hash covers and the hex hash it claims:
/// `hash` = SHA-256(`prefix` + `}`). `None` when the line does not end in the hash member.
fn split_hash(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = line.len();
    if n < HASH_SUFFIX_LEN + 2 || !line.ends_with(b"\"}") {
        return None;
    }
    let start = n - HASH_SUFFIX_LEN;
    if &line[start..start + HASH_KEY.len()] != HASH_KEY {
        return None;
    }
    let hex = &line[start + HASH_KEY.len()..n - 2];
    if !hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    Some((&line[..start], hex))
}

/// Lower-case hex of a SHA-256 digest, without allocating.
fn hex32(digest: &[u8]) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'0'; 64];
    for (i, b) in digest.iter().take(32).enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0x0f)];
    }
    out
}

fn hex_string(hex: &[u8; 64]) -> String {
    // Hex digits are ASCII.
    String::from_utf8_lossy(hex).into_owned()
}

/// SHA-256 of a line's bytes (without its newline), as hex: the next record's `prev`.
pub fn line_sha256(line: &[u8]) -> String {
    hex_string(&hex32(&Sha256::digest(line)))
}

/// `time` for a record: UTC, RFC 3339 with exactly three fractional digits and `Z`.
pub fn format_time(t: SystemTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from(t)
        .format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_string())
}

/// `$FLEETDECK_AUDIT_LOG` when set (one log shared by every console and `fleetdeck run` of a
/// team, e.g. on a shared disk), else `$XDG_STATE_HOME/fleetdeck/audit.jsonl`, falling back to
/// `~/.local/state/fleetdeck/audit.jsonl`.
pub fn default_path() -> Result<PathBuf, AuditError> {
    if let Some(path) = std::env::var_os("FLEETDECK_AUDIT_LOG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    crate::paths::state_dir()
        .map(|d| d.join("audit.jsonl"))
        .ok_or(AuditError::NoDefaultPath)
}

/// The head file beside a log: `audit.jsonl` → `audit.jsonl.head`. It names the last record
/// written, so removing whole records from the end of the log is detected (docs/audit.md).
pub fn head_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".head");
    PathBuf::from(name)
}

/// Replaces every occurrence of each secret in `text` with `***`. Empty secrets are ignored;
/// longer secrets are replaced first, so a secret that contains another is hidden whole.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut r = Redactor::new();
    for s in secrets {
        r.add(*s);
    }
    r.apply(text).into_owned()
}

/// A set of secret values to keep out of the log (runbook inputs marked `secret = true`,
/// passphrases, webhook tokens). Cheap when empty.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, no empties, no duplicates.
    secrets: Vec<String>,
}

/// What a secret is replaced with.
pub const REDACTED: &str = "***";

impl Redactor {
    /// An empty set.
    pub fn new() -> Self {
        Redactor::default()
    }

    /// Adds a secret value; empty strings and duplicates are ignored.
    pub fn add(&mut self, secret: impl Into<String>) {
        let secret = secret.into();
        if secret.is_empty() || self.secrets.contains(&secret) {
            return;
        }
        let at = self
            .secrets
            .iter()
            .position(|s| s.len() < secret.len())
            .unwrap_or(self.secrets.len());
        self.secrets.insert(at, secret);
    }

    /// Whether no secret is registered.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret replaced by [`REDACTED`]; borrowed when nothing matched.
    pub fn apply<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), REDACTED));
            }
        }
        out
    }

    /// A copy of `entry` with every free-text field redacted.
    pub fn entry(&self, entry: &AuditEntry) -> AuditEntry {
        if self.is_empty() {
            return entry.clone();
        }
        let r = |s: &String| self.apply(s).into_owned();
        let ro = |s: &Option<String>| s.as_ref().map(r);
        AuditEntry {
            operator: r(&entry.operator),
            role: r(&entry.role),
            source: r(&entry.source),
            action: r(&entry.action),
            run: ro(&entry.run),
            runbook: ro(&entry.runbook),
            step: ro(&entry.step),
            target: ro(&entry.target),
            command: ro(&entry.command),
            result: ro(&entry.result),
            duration_ms: entry.duration_ms,
            reason: ro(&entry.reason),
            note: ro(&entry.note),
            output_bytes: entry.output_bytes,
            output_sha256: entry.output_sha256.clone(),
        }
    }
}

/// What an append wrote (for [`AuditLog::repair`]: the state of the end of the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The record's `seq` (its line number); for a repair, the last line's.
    pub seq: u64,
    /// The record's `hash`; empty for a repair.
    pub hash: String,
    /// SHA-256 of the whole line: the next record's `prev`, and what the head file now names.
    pub line_sha256: String,
    /// `audit.repair` records written first because the log needed repair (torn tail, missing
    /// or disagreeing head file); empty almost always.
    pub repairs: Vec<u64>,
}

/// Bytes shown escaped, at most `max` of them, with a note of how many were left out.
fn escape_bounded(bytes: &[u8], max: usize) -> String {
    let shown = &bytes[..bytes.len().min(max)];
    let mut s = shown.escape_ascii().to_string();
    if bytes.len() > max {
        s.push_str(&format!("… ({} more bytes)", bytes.len() - max));
    }
    s
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Before => "before",
            Phase::After => "after",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_every_secret_longest_first() {
        assert_eq!(
            redact(
                "pw=hunter2 token=hunter2xyz",
                &["hunter2", "hunter2xyz", ""]
            ),
            "pw=*** token=***"
        );
        assert_eq!(redact("nothing here", &["zzz"]), "nothing here");
        assert_eq!(redact("aaa", &[""]), "aaa");
    }

    #[test]
    fn redactor_covers_every_text_field() {
        let mut r = Redactor::new();
        r.add("s3cret");
        let e = AuditEntry::new(&Actor::new("s3cret", "admin", "h"), AuditAction::Exec)
            .command("psql -p s3cret")
            .target("s3cret-host")
            .result("error: s3cret")
            .reason("s3cret")
            .note("typed s3cret")
            .run("s3cret")
            .runbook("s3cret")
            .step("s3cret");
        let red = r.entry(&e);
        let dump = format!("{red:?}");
        assert!(!dump.contains("s3cret"), "{dump}");
        assert_eq!(red.command.as_deref(), Some("psql -p ***"));
    }

    #[test]
    fn time_has_millis_and_z() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_831_200_123);
        assert_eq!(format_time(t), "2026-11-28T02:00:00.123Z");
        assert_eq!(
            format_time(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn source_prefers_ssh_client_address() {
        assert_eq!(
            source_from(Some("10.0.0.7 51000 22"), Some("box".into())),
            "10.0.0.7"
        );
        assert_eq!(source_from(None, Some("box".into())), "box");
        assert_eq!(source_from(Some(""), None), "localhost");
    }

    #[test]
    fn encoded_line_hash_covers_the_line_without_its_hash_member() {
        let body = Body {
            seq: 1,
            time: "2026-01-01T00:00:00.000Z",
            operator: "alice",
            role: "admin",
            source: "h",
            action: "exec",
            phase: None,
            pair: None,
            run: None,
            runbook: None,
            step: None,
            target: Some("h1"),
            command: Some("echo \"hi\"\n"),
            result: None,
            duration_ms: None,
            reason: None,
            note: None,
            output_bytes: None,
            output_sha256: None,
            prev: GENESIS_PREV,
        };
        let (line, hash) = encode_line(&body);
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        let text = &line[..line.len() - 1];
        let (prefix, claimed) = split_hash(text).expect("hash member at the end");
        assert_eq!(claimed, hash);
        let mut covered = prefix.to_vec();
        covered.push(b'}');
        assert_eq!(hex32(&Sha256::digest(&covered)), hash);
        let rec: AuditRecord = serde_json::from_slice(text).unwrap();
        assert_eq!(rec.hash, hex_string(&hash));
        assert_eq!(rec.command.as_deref(), Some("echo \"hi\"\n"));
        assert!(std::str::from_utf8(text).unwrap().starts_with(
            "{\"seq\":1,\"time\":\"2026-01-01T00:00:00.000Z\",\"operator\":\"alice\""
        ));
    }

    #[test]
    fn split_hash_rejects_lines_without_a_final_hash() {
        assert!(split_hash(b"{\"seq\":1}").is_none());
        let fake = format!("{{\"seq\":1,\"hash\":\"{}\"}}", "G".repeat(64));
        assert!(split_hash(fake.as_bytes()).is_none());
        let ok = format!("{{\"seq\":1,\"hash\":\"{}\"}}", "a".repeat(64));
        assert!(split_hash(ok.as_bytes()).is_some());
    }

    #[test]
    fn head_path_appends_suffix() {
        assert_eq!(
            head_path(Path::new("/x/audit.jsonl")),
            PathBuf::from("/x/audit.jsonl.head")
        );
    }
}

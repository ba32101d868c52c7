//! The head file beside an audit log (`audit.jsonl.head`): it names the last record written, so
//! removing whole records from the end of the log shows. This module only reads and replaces
//! that small file; deciding what a disagreement means is the appender's ([`super::log`], which
//! repairs) and the checker's ([`super::verify`], which reports). Both sit above this module, so
//! neither imports the other for it.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{AuditError, escape_bounded, hex_string};

/// A head file longer than this is not a head file.
const MAX_HEAD: u64 = 4096;

/// The head file: the last record written, so removing whole records from the end shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Head {
    pub(super) seq: u64,
    pub(super) line_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HeadState {
    Missing,
    /// Present but not a head file; the escaped start of its content.
    Unreadable(String),
    Valid(Head),
}

pub(super) fn read_head(path: &Path) -> Result<HeadState, AuditError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HeadState::Missing),
        Err(e) => return Err(AuditError::io(path, "read", e)),
    };
    if bytes.len() as u64 > MAX_HEAD {
        return Ok(HeadState::Unreadable(escape_bounded(&bytes, 64)));
    }
    match serde_json::from_slice::<Head>(&bytes) {
        Ok(h)
            if h.line_sha256.len() == 64
                && h.line_sha256
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Ok(HeadState::Valid(h))
        }
        _ => Ok(HeadState::Unreadable(escape_bounded(&bytes, 200))),
    }
}

/// Replaces the head file atomically (write a temporary file, rename it over). Not fsync'd:
/// after a power loss the head may lag behind the log, which `verify` accepts (the head is a
/// lower bound), or be empty, which the next open reports in an `audit.repair` record.
pub(super) fn write_head(path: &Path, seq: u64, line_sha: &[u8; 64]) -> Result<(), AuditError> {
    let head = Head {
        seq,
        line_sha256: hex_string(line_sha),
    };
    let mut text = serde_json::to_vec(&head).unwrap_or_default();
    text.push(b'\n');
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| AuditError::io(&tmp, "create", e))?;
    f.write_all(&text)
        .map_err(|e| AuditError::io(&tmp, "write", e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| AuditError::io(path, "replace", e))
}

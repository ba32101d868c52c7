//! Session recording: what a shell printed, as an asciicast v2 file that `asciinema play`
//! replays.
//!
//! Format (asciinema's "asciicast v2"): a header line, a JSON object with `version` 2, `width`,
//! `height`, `timestamp` (Unix seconds), `env` and `title`; then one JSON array per event,
//! `[seconds since start, "o", text]` for output and `[seconds, "r", "COLSxROWS"]` for a window
//! change. Only output is recorded, never keys: what an operator types at a `sudo` prompt is not
//! echoed, and must not end up in a file either.
//!
//! Terminal output is bytes, JSON text is Unicode: a multi-byte character split across two
//! reads is held back until its end arrives, and bytes that are not UTF-8 become U+FFFD.
//!
//! Files live under the state directory (`$XDG_STATE_HOME/fleetdeck/sessions/`, mode 0700),
//! one per session, mode 0600, named `HOST-YYYYMMDDTHHMMSSZ.cast`. Callers: `crate::shell`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::transport::interactive::PtySize;

/// What the header line says about a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CastHeader {
    /// Columns when the session started.
    pub width: u16,
    /// Rows when the session started.
    pub height: u16,
    /// When it started (Unix seconds).
    pub timestamp: u64,
    /// The terminal type the remote side was given.
    pub term: String,
    /// The title players show: the host's name.
    pub title: String,
}

/// Writes an asciicast v2 stream to `W`.
#[derive(Debug)]
pub struct Asciicast<W: Write> {
    out: W,
    /// The start of a UTF-8 character whose remaining bytes have not arrived yet (≤ 3 bytes).
    carry: Vec<u8>,
}

impl<W: Write> Asciicast<W> {
    /// Writes the header line.
    pub fn new(mut out: W, header: &CastHeader) -> std::io::Result<Self> {
        let line = serde_json::json!({
            "version": 2,
            "width": header.width,
            "height": header.height,
            "timestamp": header.timestamp,
            "env": { "TERM": header.term },
            "title": header.title,
        });
        writeln!(out, "{line}")?;
        out.flush()?;
        Ok(Asciicast {
            out,
            carry: Vec::new(),
        })
    }

    /// Records output that arrived `at` after the start.
    pub fn output(&mut self, at: Duration, data: &[u8]) -> std::io::Result<()> {
        self.carry.extend_from_slice(data);
        let (text, rest) = decode_utf8(&self.carry);
        self.carry = rest.to_vec();
        if text.is_empty() {
            return Ok(());
        }
        self.event(at, "o", &text)
    }

    /// Records a window change.
    pub fn resize(&mut self, at: Duration, size: PtySize) -> std::io::Result<()> {
        self.event(at, "r", &format!("{}x{}", size.cols, size.rows))
    }

    /// Writes what is still held back (an incomplete character, as U+FFFD) and returns the
    /// writer.
    pub fn finish(mut self, at: Duration) -> std::io::Result<W> {
        if !self.carry.is_empty() {
            let text = String::from_utf8_lossy(&self.carry).into_owned();
            self.carry.clear();
            self.event(at, "o", &text)?;
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn event(&mut self, at: Duration, kind: &str, text: &str) -> std::io::Result<()> {
        let line = serde_json::json!([seconds(at), kind, text]);
        writeln!(self.out, "{line}")?;
        self.out.flush()
    }
}

/// Seconds with microseconds, as a JSON number (`1.250000` is written `1.25`).
fn seconds(at: Duration) -> f64 {
    (at.as_micros() as f64) / 1_000_000.0
}

/// Splits `bytes` into the text it holds and an incomplete character at its end (to be
/// completed by the next read). Invalid bytes become U+FFFD.
fn decode_utf8(bytes: &[u8]) -> (String, &[u8]) {
    let mut text = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                text.push_str(s);
                return (text, &[]);
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                // `valid_up_to` bytes are UTF-8 by definition.
                text.push_str(std::str::from_utf8(good).unwrap_or_default());
                match e.error_len() {
                    // The input ends inside a character: keep it for the next read.
                    None => return (text, bad),
                    Some(n) => {
                        text.push('\u{fffd}');
                        rest = &bad[n..];
                    }
                }
            }
        }
    }
}

/// A recording being written to its file.
#[derive(Debug)]
pub struct Recording {
    path: PathBuf,
    cast: Asciicast<std::fs::File>,
}

/// Why a recording could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot record the session in {}: {source}", path.display())]
pub struct RecordError {
    /// The file or directory concerned.
    pub path: PathBuf,
    /// The operating system's error.
    #[source]
    pub source: std::io::Error,
}

impl Recording {
    /// Creates `DIR/HOST-YYYYMMDDTHHMMSSZ.cast` (0600; the directory 0700), never replacing a
    /// file: a second session in the same second gets `-2`, `-3`, ….
    pub fn create(
        dir: &Path,
        host: &str,
        started: SystemTime,
        size: PtySize,
        term: &str,
    ) -> Result<Recording, RecordError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RecordError { path, source }
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(err(dir))?;
        let stem = format!("{}-{}", file_safe(host), compact_time(started));
        let mut n = 1;
        let (path, file) = loop {
            let name = if n == 1 {
                format!("{stem}.cast")
            } else {
                format!("{stem}-{n}.cast")
            };
            let path = dir.join(name);
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(f) => break (path, f),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
                Err(e) => return Err(err(&path)(e)),
            }
        };
        let header = CastHeader {
            width: size.cols,
            height: size.rows,
            timestamp: started
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            term: term.to_string(),
            title: host.to_string(),
        };
        let cast = Asciicast::new(file, &header).map_err(err(&path))?;
        Ok(Recording { path, cast })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records output.
    pub fn output(&mut self, at: Duration, data: &[u8]) -> std::io::Result<()> {
        self.cast.output(at, data)
    }

    /// Records a window change.
    pub fn resize(&mut self, at: Duration, size: PtySize) -> std::io::Result<()> {
        self.cast.resize(at, size)
    }

    /// Writes the rest and closes the file (synced: the audit record names it next).
    pub fn finish(self, at: Duration) -> std::io::Result<PathBuf> {
        let file = self.cast.finish(at)?;
        file.sync_all()?;
        Ok(self.path)
    }
}

/// `$XDG_STATE_HOME/fleetdeck/sessions` (else `~/.local/state/fleetdeck/sessions`).
pub fn sessions_dir() -> PathBuf {
    crate::paths::state_dir()
        .unwrap_or_else(|| PathBuf::from("fleetdeck"))
        .join("sessions")
}

/// A host name as a file name: letters, digits, `.`, `-`, `_`; anything else becomes `_`.
fn file_safe(host: &str) -> String {
    let s: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // `.` and `..` alone would name a directory.
    if s.trim_matches('.').is_empty() {
        format!("host{s}")
    } else {
        s
    }
}

/// `20261207T051500Z`.
fn compact_time(t: SystemTime) -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::from(t)
        .format(&format)
        .unwrap_or_else(|_| "19700101T000000Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> CastHeader {
        CastHeader {
            width: 120,
            height: 40,
            timestamp: 1_796_000_000,
            term: "xterm-256color".into(),
            title: "h1".into(),
        }
    }

    fn lines(buf: &[u8]) -> Vec<serde_json::Value> {
        std::str::from_utf8(buf)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn the_header_and_events_are_asciicast_v2() {
        let mut cast = Asciicast::new(Vec::new(), &header()).unwrap();
        cast.output(Duration::from_millis(250), b"$ echo hi\r\nhi\r\n")
            .unwrap();
        cast.resize(
            Duration::from_millis(1500),
            PtySize {
                cols: 100,
                rows: 30,
            },
        )
        .unwrap();
        cast.output(Duration::from_secs(2), b"\x1b[1mbold\x1b[0m \"q\"")
            .unwrap();
        let out = cast.finish(Duration::from_secs(3)).unwrap();
        let l = lines(&out);
        assert_eq!(l.len(), 4, "{}", String::from_utf8_lossy(&out));
        assert_eq!(
            l[0],
            serde_json::json!({"version": 2, "width": 120, "height": 40,
                "timestamp": 1_796_000_000u64, "env": {"TERM": "xterm-256color"}, "title": "h1"})
        );
        assert_eq!(l[1], serde_json::json!([0.25, "o", "$ echo hi\r\nhi\r\n"]));
        assert_eq!(l[2], serde_json::json!([1.5, "r", "100x30"]));
        assert_eq!(
            l[3],
            serde_json::json!([2.0, "o", "\u{1b}[1mbold\u{1b}[0m \"q\""])
        );
    }

    #[test]
    fn a_character_split_across_reads_is_written_whole() {
        let euro = "€".as_bytes();
        let mut cast = Asciicast::new(Vec::new(), &header()).unwrap();
        cast.output(Duration::from_secs(1), &[b'a', euro[0]])
            .unwrap();
        cast.output(Duration::from_secs(2), &euro[1..2]).unwrap();
        cast.output(Duration::from_secs(3), &[euro[2], b'b'])
            .unwrap();
        let l = lines(&cast.finish(Duration::from_secs(4)).unwrap());
        assert_eq!(l.len(), 3);
        assert_eq!(l[1], serde_json::json!([1.0, "o", "a"]));
        assert_eq!(l[2], serde_json::json!([3.0, "o", "€b"]));
    }

    #[test]
    fn bytes_that_are_not_utf8_become_replacement_characters() {
        let mut cast = Asciicast::new(Vec::new(), &header()).unwrap();
        cast.output(Duration::ZERO, b"x\xffy").unwrap();
        // A dangling lead byte at the very end is written at finish.
        cast.output(Duration::ZERO, b"z\xe2").unwrap();
        let l = lines(&cast.finish(Duration::from_secs(1)).unwrap());
        assert_eq!(l[1], serde_json::json!([0.0, "o", "x\u{fffd}y"]));
        assert_eq!(l[2], serde_json::json!([0.0, "o", "z"]));
        assert_eq!(l[3], serde_json::json!([1.0, "o", "\u{fffd}"]));
    }

    #[test]
    fn a_recording_file_is_private_and_never_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sessions = dir.path().join("state/fleetdeck/sessions");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        let size = PtySize { cols: 80, rows: 24 };
        let mut a = Recording::create(&sessions, "db/1 prod", at, size, "xterm").unwrap();
        let b = Recording::create(&sessions, "db/1 prod", at, size, "xterm").unwrap();
        assert_eq!(
            a.path().file_name().unwrap(),
            "db_1_prod-20261130T005320Z.cast"
        );
        assert_eq!(
            b.path().file_name().unwrap(),
            "db_1_prod-20261130T005320Z-2.cast"
        );
        a.output(Duration::from_millis(10), b"hello").unwrap();
        let path = a.finish(Duration::from_millis(20)).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(&sessions).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().nth(1).unwrap().contains("hello"), "{text}");
        assert_eq!(file_safe(".."), "host..");
    }
}

//! The diagnostic log file, `$XDG_STATE_HOME/fleetdeck/fleetdeck.log`, kept to a bounded size: a
//! [`RotatingFile`] writer that, when the file would pass [`MAX_BYTES`], renames it to
//! `fleetdeck.log.1` (shifting older ones up to `.{KEEP}`, the oldest dropped) and starts a new
//! one. At most `1 + KEEP` files of about `MAX_BYTES` each exist, so a console left running for
//! months, or `status` from cron every minute, never fills the disk.
//!
//! Size-based rather than daily so the current file keeps its documented name and a quiet
//! installation keeps its history. Files are created 0600 in a 0700 directory: logs name hosts
//! and users. This module only writes bytes; `src/main.rs` sets up `tracing` on top of it (through
//! a background writer, so rotation never runs on the console's thread). It is not the audit log.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Size at which the current file is rotated.
pub const MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Rotated files kept beside the current one.
pub const KEEP: usize = 3;
/// The current file's name.
pub const FILE_NAME: &str = "fleetdeck.log";

/// Where the log lives: `$XDG_STATE_HOME/fleetdeck` (else `~/.local/state/fleetdeck`).
pub fn default_dir() -> Option<PathBuf> {
    crate::paths::state_dir()
}

/// An append-only file that rotates itself by size.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    len: u64,
    max_bytes: u64,
    keep: usize,
}

impl RotatingFile {
    /// Opens (creating the directory 0700 and the file 0600) `dir/fleetdeck.log` with the
    /// product's limits.
    pub fn open(dir: &Path) -> io::Result<RotatingFile> {
        Self::with_limits(dir, FILE_NAME, MAX_BYTES, KEEP)
    }

    /// Opens `dir/name`, rotating at `max_bytes` and keeping `keep` old files. A file already
    /// over the limit (left by an earlier run, or by a version that did not rotate) is rotated
    /// first.
    pub fn with_limits(
        dir: &Path,
        name: &str,
        max_bytes: u64,
        keep: usize,
    ) -> io::Result<RotatingFile> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let path = dir.join(name);
        let file = open_append(&path)?;
        let len = file.metadata()?.len();
        let mut log = RotatingFile {
            path,
            file,
            len,
            max_bytes,
            keep,
        };
        if log.len >= log.max_bytes {
            log.rotate()?;
        }
        Ok(log)
    }

    /// The current file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn numbered(&self, n: usize) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.keep == 0 {
            // Nothing kept: start the same file over.
            self.file.set_len(0)?;
        } else {
            // .keep-1 → .keep, …, .1 → .2, current → .1; a rename over the oldest drops it.
            for n in (1..self.keep).rev() {
                let from = self.numbered(n);
                if from.exists() {
                    std::fs::rename(&from, self.numbered(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.numbered(1))?;
            self.file = open_append(&self.path)?;
        }
        self.len = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    // Created 0600 (not chmod'ed after the fact): under a lax umask the file would otherwise be
    // readable, and openable for good, for a moment.
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
    }
    Ok(file)
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Rotate before a write that would pass the limit, so a log line (one write: the
        // background writer hands over each event whole) is never split across two files; a
        // single line longer than the limit still goes whole into a fresh file.
        if self.len > 0 && self.len + buf.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        let n = self.file.write(buf)?;
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    #[test]
    fn rotates_by_size_and_keeps_only_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RotatingFile::with_limits(dir.path(), "x.log", 20, 2).unwrap();
        for n in 0..5 {
            // 15 bytes each, one write per line as the background writer does: two never fit in
            // one 20-byte file.
            log.write_all(format!("line {n} .......\n").as_bytes())
                .unwrap();
        }
        let current = dir.path().join("x.log");
        assert_eq!(read(&current), "line 4 .......\n");
        assert_eq!(read(&dir.path().join("x.log.1")), "line 3 .......\n");
        assert_eq!(read(&dir.path().join("x.log.2")), "line 2 .......\n");
        assert!(
            !dir.path().join("x.log.3").exists(),
            "only 2 old files kept"
        );
        for path in [&current, &dir.path().join("x.log.1")] {
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
    }

    #[test]
    fn lines_that_fit_share_a_file_and_an_oversized_file_is_rotated_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let current = dir.path().join("x.log");
        std::fs::write(&current, "x".repeat(30)).unwrap();
        let mut log = RotatingFile::with_limits(dir.path(), "x.log", 20, 3).unwrap();
        assert_eq!(read(&dir.path().join("x.log.1")), "x".repeat(30));
        log.write_all(b"a\n").unwrap();
        log.write_all(b"b\n").unwrap();
        assert_eq!(read(&current), "a\nb\n");
    }

    #[test]
    fn keeping_nothing_truncates_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RotatingFile::with_limits(dir.path(), "x.log", 4, 0).unwrap();
        log.write_all(b"abc\n").unwrap();
        log.write_all(b"de\n").unwrap();
        assert_eq!(read(&dir.path().join("x.log")), "de\n");
        assert!(!dir.path().join("x.log.1").exists());
    }
}

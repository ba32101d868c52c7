//! The `:exec` history on disk: `$XDG_STATE_HOME/fleetdeck/exec_history`, one command per
//! line, newest last, the last [`KEEP`] kept, the file private (0600). A command in which
//! anything looks like a credential (what [`crate::exec::redact::mask_tokens`] would mask) is
//! kept for the session only, never written. Errors are the caller's to show or ignore: a
//! history that cannot be read or written costs the operator a convenience, never an action.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Commands kept on disk (and loaded at start).
pub const KEEP: usize = 100;

/// Where the history lives: `$XDG_STATE_HOME/fleetdeck/exec_history`.
pub fn default_path() -> Option<PathBuf> {
    crate::paths::state_dir().map(|d| d.join("exec_history"))
}

/// The last [`KEEP`] commands of `path`, oldest first (none when the file does not exist).
pub fn load(path: &Path) -> std::io::Result<Vec<String>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    let skip = lines.len().saturating_sub(KEEP);
    Ok(lines.into_iter().skip(skip).collect())
}

/// Whether `line` may be written: one line, nothing credential-like in it.
pub fn storable(line: &str) -> bool {
    !line.chars().any(char::is_control) && crate::exec::redact::mask_tokens(line) == line
}

/// Appends `line` (if [`storable`]), creating the file 0600 (and its directory 0700); once
/// the file holds twice [`KEEP`] lines it is rewritten with the last [`KEEP`]. Returns whether
/// the line was written.
pub fn append(path: &Path, line: &str) -> std::io::Result<bool> {
    if !storable(line) {
        return Ok(false);
    }
    if let Some(dir) = path.parent()
        && !dir.exists()
    {
        fs::create_dir_all(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    // An older file made by hand keeps no wider mode than ours.
    f.set_permissions(fs::Permissions::from_mode(0o600))?;
    writeln!(f, "{line}")?;
    drop(f);
    let text = fs::read_to_string(path)?;
    if text.lines().count() >= 2 * KEEP {
        let kept = load(path)?;
        let tmp = path.with_extension("tmp");
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        for l in &kept {
            writeln!(f, "{l}")?;
        }
        drop(f);
        fs::rename(&tmp, path)?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_privately_and_credentials_never_reach_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/fleetdeck/exec_history");
        assert_eq!(load(&path).unwrap(), Vec::<String>::new());
        assert!(append(&path, "uptime").unwrap());
        assert!(append(&path, "df -h | tail -1").unwrap());
        assert!(!append(&path, "PGPASSWORD=hunter2 psql -c 'select 1'").unwrap());
        assert!(!append(&path, "curl -H 'Authorization: Bearer abc.def.ghi' x").unwrap());
        assert_eq!(load(&path).unwrap(), ["uptime", "df -h | tail -1"]);
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("hunter2") && !text.contains("Bearer"),
            "{text}"
        );
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
    }

    #[test]
    fn the_file_keeps_the_newest_commands() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exec_history");
        for i in 0..(2 * KEEP + 5) {
            append(&path, &format!("echo {i}")).unwrap();
        }
        let kept = load(&path).unwrap();
        assert_eq!(kept.len(), KEEP);
        assert_eq!(kept.last().unwrap(), &format!("echo {}", 2 * KEEP + 4));
        assert!(fs::read_to_string(&path).unwrap().lines().count() < 2 * KEEP);
    }
}

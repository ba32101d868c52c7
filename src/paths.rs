//! Where fleetdeck keeps its files, the same way on every OS: the XDG base directories, with
//! their defaults under the home directory when the variables are unset.
//!
//! - configuration (`fleet.toml`, `runbooks/`, `themes/`): `$XDG_CONFIG_HOME/fleetdeck`, else
//!   `~/.config/fleetdeck`;
//! - state (audit log, suspended runs, session recordings, the log file, `:exec` history):
//!   `$XDG_STATE_HOME/fleetdeck`, else `~/.local/state/fleetdeck`.
//!
//! Why not the platform's own directories: on macOS those are `~/Library/Application Support`
//! for both, so a fleetdeck config would live in one place on a laptop and another on the
//! servers, and the docs, the examples and operators' dotfiles could not name one path. A
//! relative `XDG_*` value is ignored, as the XDG specification says. Every path fleetdeck
//! computes goes through this module (`grep dirs::` finds only `home_dir` elsewhere).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The application's directory name under each base.
const APP: &str = "fleetdeck";

/// `$XDG_CONFIG_HOME/fleetdeck`, else `~/.config/fleetdeck`; `None` without either.
pub fn config_dir() -> Option<PathBuf> {
    config_dir_with(
        std::env::var_os("XDG_CONFIG_HOME"),
        dirs::home_dir().as_deref(),
    )
}

/// `$XDG_STATE_HOME/fleetdeck`, else `~/.local/state/fleetdeck`; `None` without either.
pub fn state_dir() -> Option<PathBuf> {
    state_dir_with(
        std::env::var_os("XDG_STATE_HOME"),
        dirs::home_dir().as_deref(),
    )
}

/// [`config_dir`] from the given variable value and home directory (for tests and lookups
/// that inject their environment).
pub fn config_dir_with(xdg: Option<OsString>, home: Option<&Path>) -> Option<PathBuf> {
    base(xdg, home, ".config")
}

/// [`state_dir`] from the given variable value and home directory.
pub fn state_dir_with(xdg: Option<OsString>, home: Option<&Path>) -> Option<PathBuf> {
    base(xdg, home, ".local/state")
}

fn base(xdg: Option<OsString>, home: Option<&Path>, default: &str) -> Option<PathBuf> {
    xdg.map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| h.join(default)))
        .map(|d| d.join(APP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdg_variables_first_then_the_home_defaults() {
        let home = Path::new("/home/op");
        assert_eq!(
            config_dir_with(Some("/x/cfg".into()), Some(home)),
            Some(PathBuf::from("/x/cfg/fleetdeck"))
        );
        assert_eq!(
            config_dir_with(None, Some(home)),
            Some(PathBuf::from("/home/op/.config/fleetdeck"))
        );
        assert_eq!(
            state_dir_with(None, Some(home)),
            Some(PathBuf::from("/home/op/.local/state/fleetdeck"))
        );
        // A relative value is invalid by the spec and ignored.
        assert_eq!(
            state_dir_with(Some("rel".into()), Some(home)),
            Some(PathBuf::from("/home/op/.local/state/fleetdeck"))
        );
        assert_eq!(state_dir_with(None, None), None);
    }
}

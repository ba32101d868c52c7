//! Finding the inventory file: the lookup order (`--config`, `$FLEETDECK_CONFIG`,
//! `./fleetdeck.toml`, `$XDG_CONFIG_HOME/fleetdeck/fleet.toml`) and `~` expansion of local paths.
//!
//! It reads only file metadata and the environment, never a file's contents, and knows nothing
//! of the inventory format. Callers: [`super::load::load_fleet`] and
//! the resolver (for `~` in local paths).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::load::ConfigError;

/// Name of the inventory looked up in the working directory.
const CWD_CONFIG: &str = "fleetdeck.toml";
/// Environment variable naming the inventory.
pub(super) const CONFIG_ENV: &str = "FLEETDECK_CONFIG";

/// Finds the inventory file: `explicit` (`--config`), then `$FLEETDECK_CONFIG`, then
/// `./fleetdeck.toml`, then `$XDG_CONFIG_HOME/fleetdeck/fleet.toml` (`~/.config` when unset).
///
/// A file named explicitly or by the environment must exist; the two implicit places are only
/// used when they do. `Ok(None)` means "use [`super::load::embedded_default`]".
pub fn find_config(explicit: Option<&Path>) -> Result<Option<PathBuf>, ConfigError> {
    let cwd = std::env::current_dir().ok();
    let home = dirs::home_dir();
    find_config_in(
        explicit,
        |name| std::env::var_os(name),
        cwd.as_deref(),
        home.as_deref(),
    )
}

/// [`find_config`] with the environment, working directory and home passed in, so the order
/// can be tested without mutating process-wide state.
pub(super) fn find_config_in(
    explicit: Option<&Path>,
    env: impl Fn(&str) -> Option<OsString>,
    cwd: Option<&Path>,
    home: Option<&Path>,
) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(path) = explicit {
        // `--config=~/x` reaches us unexpanded: no shell expands a tilde after `=`.
        let path = expand_home(path, home);
        return must_exist(&path, "given with --config").map(Some);
    }
    if let Some(value) = env(CONFIG_ENV).filter(|v| !v.is_empty()) {
        let path = expand_home(Path::new(&value), home);
        return must_exist(&path, "named by $FLEETDECK_CONFIG").map(Some);
    }
    if let Some(cwd) = cwd {
        let path = cwd.join(CWD_CONFIG);
        if path.is_file() {
            // Shown to operators, so keep it as short as they would type it.
            return Ok(Some(PathBuf::from(CWD_CONFIG)));
        }
    }
    if let Some(dir) = crate::paths::config_dir_with(env("XDG_CONFIG_HOME"), home) {
        let path = dir.join("fleet.toml");
        if path.is_file() {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// `$XDG_CONFIG_HOME/fleetdeck/fleet.toml` (`~/.config` when unset or relative): the last place
/// [`find_config`] looks and where `fleetdeck init` writes by default. `None` without a home.
pub fn xdg_inventory_path() -> Option<PathBuf> {
    crate::paths::config_dir().map(|dir| dir.join("fleet.toml"))
}

fn must_exist(path: &Path, how: &str) -> Result<PathBuf, ConfigError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(ConfigError::whole(
            path.display(),
            format!("is a directory ({how}), expected an inventory file"),
        )),
        Ok(_) => Ok(path.to_path_buf()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(ConfigError::whole(
            path.display(),
            format!("no such inventory file ({how})"),
        )),
        Err(err) => Err(ConfigError::whole(
            path.display(),
            format!("cannot read the inventory ({how}): {err}"),
        )),
    }
}

/// `~` and `~/…` → the home directory; anything else (including `~user`) unchanged.
pub(super) fn expand_home(path: &Path, home: Option<&Path>) -> PathBuf {
    let Some(home) = home else {
        return path.to_path_buf();
    };
    match path.strip_prefix("~") {
        Ok(rest) if rest.as_os_str().is_empty() => home.to_path_buf(),
        Ok(rest) => home.join(rest),
        Err(_) => path.to_path_buf(),
    }
}

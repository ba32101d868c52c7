//! Reloading in the console: `:reload`, SIGHUP and an edited inventory file swap in the new
//! configuration without a restart.
//!
//! [`Reloader`] (owned by the event loop) re-reads the inventory and the theme, builds
//! transports for the hosts that need new ones and keeps the running ones for the hosts
//! [`crate::reload::plan`] keeps; only when everything read cleanly does [`App::apply_reload`]
//! swap the fleet into the store ([`crate::store::Msg::Reload`]) and remap what the screen holds
//! by host index (selection, marks, the host looked at). A bad edit changes nothing: the error,
//! `FILE:LINE:COL: message`, stays in the status line until the next reload, and is logged.
//! The event loop then restarts the poller over the new transports, updates the runbook,
//! exec and shell launchers and re-reads the runbook catalog.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::theme::{Theme, user_theme_dir};
use super::{App, Notice, Pane, logs_pane};
use crate::inventory::Fleet;
use crate::reload::{self, ReloadPlan, Stamps};
use crate::store::Msg;
use crate::transport::Transport;
use crate::transport::ssh::SshShared;

/// How long a reload error stays in the status line (a later reload or notice replaces it).
const ERROR_SHOWN: Duration = Duration::from_secs(3600);

impl App {
    /// Swaps in a reloaded fleet: the store keeps the state of the hosts `plan` keeps, and
    /// the screen's host indices (selection, marks, the host looked at) follow their hosts.
    pub fn apply_reload(&mut self, fleet: Arc<Fleet>, plan: &ReloadPlan) {
        let old_to_new = plan.old_to_new(self.fleet.hosts.len());
        let remap = |i: usize| old_to_new.get(i).copied().flatten();
        let shown: HashSet<usize> = self.selected.iter().copied().collect();
        // Hosts shown before stay shown; hosts new to this console are shown.
        self.selected = plan
            .keep
            .iter()
            .enumerate()
            .filter(|(_, k)| k.is_none_or(|j| shown.contains(&j)))
            .map(|(i, _)| i)
            .collect();
        self.marks = self.marks.iter().filter_map(|&i| remap(i)).collect();
        self.turned_bad = self
            .turned_bad
            .iter()
            .filter_map(|(&i, &at)| remap(i).map(|n| (n, at)))
            .collect();
        self.last_status = plan
            .keep
            .iter()
            .map(|k| k.and_then(|j| self.last_status.get(j).copied().flatten()))
            .collect();
        let had_host = self.host.is_some();
        self.host = self.host.and_then(remap);
        self.back = self
            .back
            .iter()
            .filter_map(|&(p, h)| match h {
                None => Some((p, None)),
                Some(h) => remap(h).map(|n| (p, Some(n))),
            })
            .collect();
        if had_host && self.host.is_none() {
            self.pane = Pane::Fleet;
            self.back.clear();
        }
        // Followed logs are keyed by host index: stop them (`f` starts them again).
        self.logs = logs_pane::LogsState::default();
        self.store.update(Msg::Reload {
            fleet: fleet.clone(),
            keep: plan.keep.clone(),
        });
        self.fleet = fleet;
        self.model = None;
        self.invalidate();
        self.notify(format!("reloaded: {}", plan.summary()), false);
    }

    /// A reload that could not be applied: the error stays in the status line (the previous
    /// configuration keeps running).
    pub fn reload_failed(&mut self, error: &str) {
        self.notice = Some(Notice {
            text: format!("reload failed, previous configuration kept: {error}"),
            error: true,
            until: self.now + ERROR_SHOWN,
        });
    }

    /// Replaces the theme (a reload re-read it).
    pub fn set_theme(&mut self, theme: Theme) {
        self.theme = theme;
        self.invalidate();
    }

    /// The fleet on screen.
    pub fn fleet(&self) -> &Arc<Fleet> {
        &self.fleet
    }
}

/// What a successful reload hands the event loop.
pub struct Reloaded {
    /// The new inventory.
    pub fleet: Arc<Fleet>,
    /// One transport per new host (kept hosts keep theirs).
    pub transports: Vec<Transport>,
    /// Transports no host uses any more (removed or changed hosts): to disconnect.
    pub dropped: Vec<Transport>,
}

/// Watches the configuration files and reloads them (see the module doc).
pub struct Reloader {
    /// Key cache and passphrase prompt for new SSH hosts (`None`: this console cannot build
    /// transports, so it does not reload).
    shared: Option<Arc<SshShared>>,
    /// The theme as given at start (`--theme`), re-read on reload while it is the one shown.
    theme_spec: Option<String>,
    stamps: Stamps,
}

impl Reloader {
    /// A reloader for `fleet`.
    pub fn new(fleet: &Fleet, shared: Option<Arc<SshShared>>, theme_spec: Option<String>) -> Self {
        Reloader {
            shared,
            theme_spec,
            stamps: Stamps::read(reload::watched_files(fleet)),
        }
    }

    /// Whether a watched file changed since the last reload or look.
    pub fn files_changed(&mut self) -> bool {
        let now = self.stamps.reread();
        if now == self.stamps {
            return false;
        }
        self.stamps = now;
        true
    }

    /// Re-reads everything; applies it to `app` and returns the new fleet and transports, or
    /// shows the error and returns `None`. `why` names the trigger in the log.
    pub fn reload(
        &mut self,
        app: &mut App,
        transports: &[Transport],
        why: &str,
    ) -> Option<Reloaded> {
        let current = app.fleet().clone();
        // Stamped before reading: an edit made while reading is seen next time.
        self.stamps = Stamps::read(reload::watched_files(&current));
        let Some(shared) = self.shared.clone() else {
            app.reload_failed("this console was started without reload support");
            return None;
        };
        let loaded = reload::load(&current)
            .map_err(|e| e.to_string())
            .and_then(|f| self.theme(app).map(|t| (f, t)));
        let (fleet, theme) = match loaded {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("reload ({why}) failed, previous configuration kept: {e}");
                app.reload_failed(&e);
                return None;
            }
        };
        let mut fresh = match crate::poller::transports(&fleet, &shared) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("reload ({why}) failed, previous configuration kept: {e}");
                app.reload_failed(&e);
                return None;
            }
        };
        let plan = reload::plan(&current, &fleet);
        for (i, keep) in plan.keep.iter().enumerate() {
            if let (Some(j), Some(slot)) = (keep, fresh.get_mut(i))
                && let Some(t) = transports.get(*j)
            {
                *slot = t.clone();
            }
        }
        let kept: HashSet<usize> = plan.keep.iter().flatten().copied().collect();
        let dropped = transports
            .iter()
            .enumerate()
            .filter(|(j, _)| !kept.contains(j))
            .map(|(_, t)| t.clone())
            .collect();
        tracing::info!("reloaded ({why}) {}: {}", fleet.source, plan.summary());
        let fleet = Arc::new(fleet);
        self.stamps = Stamps::read(reload::watched_files(&fleet));
        app.set_theme(theme);
        app.apply_reload(fleet.clone(), &plan);
        Some(Reloaded {
            fleet,
            transports: fresh,
            dropped,
        })
    }

    /// The theme shown, read again: the one given at start while it is on screen, else the
    /// one `:theme` chose, by name.
    fn theme(&self, app: &App) -> Result<Theme, String> {
        let dir = user_theme_dir();
        let shown = app.theme().name().to_string();
        if let Some(spec) = &self.theme_spec
            && let Ok(t) = Theme::load(spec, dir.as_deref())
            && t.name() == shown
        {
            return Ok(t);
        }
        if let Some(spec) = &self.theme_spec {
            // The start theme no longer loads: say so if it is the one shown.
            if let Err(e) = Theme::load(spec, dir.as_deref())
                && Theme::load(&shown, dir.as_deref()).is_err()
            {
                return Err(e.to_string());
            }
        }
        Theme::load(&shown, dir.as_deref()).or_else(|_| Ok(app.theme().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{ConfigSource, load_fleet_from_str};
    use crate::ui::keymap::Action;

    fn fleet(names: &[&str]) -> Arc<Fleet> {
        let text: String = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                format!(
                    "[[hosts]]\nname = \"{n}\"\naddress = \"10.0.0.{}\"\n",
                    i + 1
                )
            })
            .collect();
        Arc::new(load_fleet_from_str(&text, ConfigSource::Embedded).unwrap())
    }

    /// A fleet whose hosts keep their addresses whatever their order: address from the name.
    fn fleet_by_name(names: &[&str]) -> Arc<Fleet> {
        let text: String = names
            .iter()
            .map(|n| format!("[[hosts]]\nname = \"{n}\"\naddress = \"{n}.example\"\n"))
            .collect();
        Arc::new(load_fleet_from_str(&text, ConfigSource::Embedded).unwrap())
    }

    #[test]
    fn the_screen_follows_its_hosts_across_a_reload() {
        let old = fleet_by_name(&["a", "b", "c"]);
        let mut app = App::new(old.clone(), vec![0, 1, 2], Theme::default_theme(), false);
        app.marks.insert(1);
        app.marks.insert(2);
        app.open_host(2);
        let new = fleet_by_name(&["c", "d", "a"]);
        let plan = reload::plan(&old, &new);
        app.apply_reload(new, &plan);
        assert_eq!(app.host(), Some(0), "still looking at c");
        assert_eq!(app.pane(), Pane::Host);
        assert_eq!(
            app.marks.iter().copied().collect::<Vec<_>>(),
            [0],
            "b's mark gone"
        );
        assert_eq!(app.selected, [0, 1, 2]);
        assert_eq!(app.store().fleet().hosts.len(), 3);
        assert_eq!(app.store().state().hosts.len(), 3);
        // `y` copies the host looked at.
        assert_eq!(app.apply(Action::Yank), Some(Action::Yank));
        assert_eq!(app.take_yank().as_deref(), Some("c"));
    }

    #[test]
    fn a_removed_host_sends_the_screen_back_to_the_fleet() {
        let old = fleet(&["a", "b"]);
        let mut app = App::new(old.clone(), vec![0, 1], Theme::default_theme(), false);
        app.open_host(1);
        let new = fleet(&["a"]);
        let plan = reload::plan(&old, &new);
        app.apply_reload(new, &plan);
        assert_eq!(app.host(), None);
        assert_eq!(app.pane(), Pane::Fleet);
        assert_eq!(app.selected, [0]);
    }

    #[test]
    fn a_failed_reload_keeps_its_error_in_the_status_line() {
        let mut app = App::new(fleet(&["a"]), vec![0], Theme::default_theme(), false);
        app.on_tick(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000));
        app.reload_failed("fleet.toml:3:8: expected a string");
        app.on_tick(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_600));
        let n = app.notice.as_ref().expect("still shown after ten minutes");
        assert!(n.error && n.text.contains("fleet.toml:3:8:"), "{}", n.text);
    }
}

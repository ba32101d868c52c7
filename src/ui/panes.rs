//! The pane registry: every pane of the console is one [`PaneSpec`] in [`PANES`] — its id,
//! `:pane` name, tab label, the key context its own bindings live in, when it is in the Tab
//! cycle, how its rows are built from the state, and (through the [`PaneContent`] it builds) how
//! they are drawn and hit by the mouse. The console's tabs, `:pane` completion, key contexts and
//! dispatch read this table; nothing else in `ui.rs` names a pane's rows.
//!
//! Adding a pane: a new `ui/foo_pane.rs` with its `SPEC` and its content type, a variant of
//! [`Pane`] and a line in [`PANES`] here, and its `mod` line in `ui.rs`. The key map
//! ([`super::keymap`]) stays the one source of key bindings, hints and help; a pane only names
//! the [`Context`] its bindings are registered under.
//!
//! Must not hold domain state: panes get the state through [`BuildCx`] and keep only rows.

use std::any::Any;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::StatefulWidget;

use super::keymap::Context;
use super::table::{Selection, TablePane};
use super::{App, Model};
use crate::alerts::AlertBook;
use crate::view::{Ctx, Filter};

/// The console's panes, in palette order (the order of [`PANES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pane {
    /// Every host, one row each.
    Fleet,
    /// One host: facts and everything below for it.
    Host,
    /// Services.
    Services,
    /// Chain nodes and consensus groups.
    Chain,
    /// Disks and backups.
    Disks,
    /// Certificates.
    Certs,
    /// Logs.
    Logs,
    /// Alerts.
    Alerts,
    /// The audit log: newest records and the chain's verdict.
    Audit,
    /// A runbook running in the console.
    Runbook,
    /// Ad-hoc commands (`:exec`) and their grouped results.
    Exec,
    /// The security posture: host × check.
    Posture,
}

/// Every pane, in palette and Tab order.
pub const PANES: &[&PaneSpec] = &[
    &super::fleet_table::SPEC,
    &super::host_pane::SPEC,
    &super::services_pane::SPEC,
    &super::chain_pane::SPEC,
    &super::disks_pane::SPEC,
    &super::certs_pane::SPEC,
    &super::logs_pane::SPEC,
    &super::alerts_pane::SPEC,
    &super::audit_pane::SPEC,
    &super::runbook_pane::SPEC,
    &super::exec_pane::SPEC,
    &super::posture_pane::SPEC,
];

impl Pane {
    /// Every pane.
    pub const ALL: [Pane; PANES.len()] = {
        let mut all = [Pane::Fleet; PANES.len()];
        let mut i = 0;
        while i < PANES.len() {
            all[i] = PANES[i].pane;
            i += 1;
        }
        all
    };

    /// Its entry in [`PANES`].
    pub fn spec(self) -> &'static PaneSpec {
        PANES
            .iter()
            .find(|s| s.pane == self)
            .expect("every pane is registered in PANES")
    }

    /// Name used by `:pane`.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Tab label.
    pub fn label(self) -> &'static str {
        self.spec().label
    }

    /// The pane called `name`.
    pub fn from_name(name: &str) -> Option<Pane> {
        PANES.iter().find(|s| s.name == name).map(|s| s.pane)
    }
}

/// One pane, as the console knows it.
pub struct PaneSpec {
    /// Its id.
    pub pane: Pane,
    /// Name used by `:pane`.
    pub name: &'static str,
    /// Tab label.
    pub label: &'static str,
    /// The key context of its own bindings, besides [`Context::Global`] and [`Context::List`].
    pub context: Option<Context>,
    /// Whether it is in the Tab cycle of this console now.
    pub shown: fn(&App) -> bool,
    /// Its rows for the state, scope and query in `cx`.
    pub build: fn(&BuildCx) -> Box<dyn PaneContent>,
    /// Takes a key before the key map does (true: taken).
    pub keys: Option<fn(&mut App, KeyEvent) -> bool>,
}

impl PaneSpec {
    /// For [`PaneSpec::shown`]: in every console.
    pub fn always(_: &App) -> bool {
        true
    }
}

/// The rows of the pane on screen, built once per (state version, second, query, scope).
pub trait PaneContent: Any {
    /// Rows the selection moves through.
    fn len(&self, model: &Model) -> usize;
    /// The host of row `i`, if it has one (Enter opens it).
    fn host_at(&self, model: &Model, i: usize) -> Option<usize>;
    /// Draws the pane in `area`, with `hints` on its border.
    fn render(&self, app: &mut App, model: &Model, frame: &mut Frame, area: Rect, hints: String);
    /// The row under the screen cell `(x, y)`, as last drawn.
    fn row_at(&self, app: &App, x: u16, y: u16) -> Option<usize> {
        app.sels.get(&app.pane)?.row_at(x, y)
    }
    /// What `y` copies from row `i` when it is more than its host's name (an alert, a log
    /// line); `None`: the host's name.
    fn text_at(&self, _model: &Model, _i: usize) -> Option<String> {
        None
    }
    /// For reading a pane's own rows back ([`Model::content`]).
    fn as_any(&self) -> &dyn Any;
    /// Hands over what the next build of the same pane may reuse ([`BuildCx::previous`]);
    /// `None` (the default): nothing, the pane is built from scratch each time.
    fn take_reusable(&mut self) -> Option<Box<dyn Any>> {
        None
    }
}

/// What building a pane's rows reads: the state as of `now`, the hosts in scope and the filter.
pub struct BuildCx<'a> {
    /// The console (view state: scope, query, runbook and audit sources).
    pub app: &'a App,
    /// What the console derived for this state version and second.
    pub model: &'a Model,
    /// The state, its health and the clock.
    pub ctx: Ctx<'a>,
    /// The alert book.
    pub alerts: &'a AlertBook,
    /// Hosts the pane shows: the host looked at, or every host the `:group` keeps.
    pub hosts: Vec<usize>,
    /// The `/` filter.
    pub filter: Option<&'a Filter>,
    /// What the pane's previous build in the same scope handed over
    /// ([`PaneContent::take_reusable`]) and the state version it was built from: panes that
    /// build rows per host reuse those of hosts that did not change.
    pub previous: std::cell::RefCell<Option<(u64, Box<dyn Any>)>>,
}

impl BuildCx<'_> {
    /// The previous build's reusable part, if it is a `T`, and the state version it was built
    /// from (taken: asked once).
    pub fn previous<T: 'static>(&self) -> Option<(u64, T)> {
        let (version, any) = self.previous.borrow_mut().take()?;
        any.downcast::<T>().ok().map(|t| (version, *t))
    }

    /// The rows the filter keeps, matched on `fields`.
    pub fn keep<T>(&self, rows: Vec<T>, fields: impl Fn(&T) -> Vec<&str>) -> Vec<T> {
        match self.filter {
            None => rows,
            Some(f) => rows.into_iter().filter(|r| f.keeps(fields(r))).collect(),
        }
    }
}

/// A row that belongs to one host.
pub trait HostRow: 'static {
    /// Index of its host in the fleet.
    fn host(&self) -> usize;
    /// What `y` copies when it is more than the host's name; `None`: the host's name.
    fn yank(&self) -> Option<String> {
        None
    }
}

/// The rows of a pane that is one table of one kind of row ([`TablePane`] draws them).
pub struct Rows<T> {
    pane: Pane,
    /// What a row is, for the title (`services`, `certificates`).
    noun: &'static str,
    /// Rows in display order.
    pub rows: Vec<T>,
}

impl<T> Rows<T> {
    /// `rows` of `pane`, titled by `noun`.
    pub fn new(pane: Pane, noun: &'static str, rows: Vec<T>) -> Rows<T> {
        Rows { pane, noun, rows }
    }
}

impl<T: HostRow> PaneContent for Rows<T>
where
    for<'a> TablePane<'a, [T]>: StatefulWidget<State = Selection>,
{
    fn len(&self, _: &Model) -> usize {
        self.rows.len()
    }

    fn host_at(&self, _: &Model, i: usize) -> Option<usize> {
        self.rows.get(i).map(|r| r.host())
    }

    fn text_at(&self, _: &Model, i: usize) -> Option<String> {
        self.rows.get(i)?.yank()
    }

    fn render(&self, app: &mut App, _: &Model, frame: &mut Frame, area: Rect, hints: String) {
        let title = app.pane_title(self.noun, self.rows.len());
        let sel = app.sels.entry(self.pane).or_default();
        TablePane {
            rows: &self.rows[..],
            theme: &app.theme,
            title,
            hints,
            focused: true,
        }
        .render(area, frame.buffer_mut(), sel);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Nothing to show (the host pane with no host).
pub struct Empty;

impl PaneContent for Empty {
    fn len(&self, _: &Model) -> usize {
        0
    }

    fn host_at(&self, _: &Model, _: usize) -> Option<usize> {
        None
    }

    fn render(&self, _: &mut App, _: &Model, _: &mut Frame, _: Rect, _: String) {}

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pane_is_registered_once_with_a_unique_name() {
        for (i, spec) in PANES.iter().enumerate() {
            assert_eq!(spec.pane.spec().name, spec.name);
            assert_eq!(Pane::from_name(spec.name), Some(spec.pane));
            assert!(
                PANES[..i]
                    .iter()
                    .all(|s| s.pane != spec.pane && s.name != spec.name),
                "{} registered twice",
                spec.name
            );
        }
        assert_eq!(Pane::ALL.len(), PANES.len());
    }
}

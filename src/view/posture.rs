//! The Posture pane: one row per host, one cell per security-posture check (✓, ✗, ?), so
//! "which hosts still allow password login" is one glance down a column; and the host pane's
//! posture lines.
//!
//! Part of [`crate::view`]: pure rows from the inventory, the state and `now`.

use super::*;
use crate::posture::{self, Check, CheckResult, CheckState};

/// One host's posture.
#[derive(Debug, Clone, PartialEq)]
pub struct PostureRow {
    /// Index into `Fleet::hosts`.
    pub host: usize,
    /// Host name.
    pub host_name: String,
    /// Whether the inventory reads this host's posture.
    pub enabled: bool,
    /// One per [`Check::ALL`], in that order; empty when the posture is off or not read yet.
    pub checks: Vec<CheckResult>,
    /// One cell per [`Check::ALL`]: its mark and the status it is drawn in (a deviation in
    /// its configured severity; one turned off, or unreadable, as unknown).
    pub cells: Vec<(&'static str, Status)>,
    /// Deviations critical, else warning; unreadable unknown; all passing ok.
    pub status: Status,
    /// `posture off`, `not read yet`, or the deviations in a few words.
    pub note: String,
    /// Freshness of the posture reading.
    pub fresh: Freshness,
}

impl PostureRow {
    /// Fields a filter looks at.
    pub fn filter_fields(&self) -> impl Iterator<Item = &str> {
        [self.host_name.as_str(), self.note.as_str()].into_iter()
    }

    /// The cell of `check`: `✓`, `✗`, `?`, or `-` when nothing was read.
    pub fn mark(&self, check: Check) -> &'static str {
        self.checks
            .iter()
            .find(|c| c.check == check)
            .map_or("-", |c| c.state.mark())
    }

    /// The state of `check`, when read.
    pub fn state(&self, check: Check) -> Option<CheckState> {
        self.checks
            .iter()
            .find(|c| c.check == check)
            .map(|c| c.state)
    }
}

/// The posture of `hosts`.
pub fn posture_rows(ctx: &Ctx, hosts: &[usize]) -> Vec<PostureRow> {
    hosts
        .iter()
        .map(|&i| {
            let (host, hs, _) = ctx.host(i);
            let mut row = PostureRow {
                host: i,
                host_name: host.name.clone(),
                enabled: host.posture.enabled,
                checks: Vec::new(),
                cells: Check::ALL.iter().map(|_| ("-", Status::Unknown)).collect(),
                status: Status::Unknown,
                note: String::new(),
                fresh: Freshness::default(),
            };
            if !host.posture.enabled {
                row.note = "posture off ([posture] in the inventory)".into();
                return row;
            }
            let Some(t) = hs.posture.as_ref() else {
                row.note = "not read yet".into();
                return row;
            };
            row.fresh = Freshness::of(Some(t.at), Cadence::for_host(host).posture, ctx.now);
            row.checks = posture::judge(&t.value, &host.posture, posture::ssh_port(host));
            row.cells = row
                .checks
                .iter()
                .map(|c| {
                    let status = match (c.state, host.posture.severity(c.check)) {
                        (CheckState::Ok, _) => Status::Ok,
                        (CheckState::Deviation, Some(Severity::Critical)) => Status::Critical,
                        (CheckState::Deviation, Some(Severity::Warning)) => Status::Warning,
                        (CheckState::Deviation, None) | (CheckState::Unreadable, _) => {
                            Status::Unknown
                        }
                    };
                    (c.state.mark(), status)
                })
                .collect();
            let deviations: Vec<&CheckResult> = row
                .checks
                .iter()
                .filter(|c| c.state == CheckState::Deviation)
                .collect();
            let severity = deviations
                .iter()
                .filter_map(|c| host.posture.severity(c.check))
                .max();
            row.status = match severity {
                Some(Severity::Critical) => Status::Critical,
                Some(Severity::Warning) => Status::Warning,
                None if row.checks.iter().any(|c| c.state == CheckState::Unreadable) => {
                    Status::Unknown
                }
                None => Status::Ok,
            };
            row.note = if deviations.is_empty() {
                match row
                    .checks
                    .iter()
                    .find(|c| c.state == CheckState::Unreadable)
                {
                    Some(c) => c.detail.clone(),
                    None => "as the manual asks".into(),
                }
            } else {
                deviations
                    .iter()
                    .map(|c| format!("{} {}", c.check.key(), c.value))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            row
        })
        .collect()
}

//! The Alerts pane: the lifecycle book's alerts as rows.
//!
//! Part of [`crate::view`]: pure rows from the inventory, the state, the verdicts and `now`.

use super::*;

/// Where an alert is in its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertPhase {
    /// Firing and nobody has acknowledged it.
    New,
    /// An operator has taken it.
    Acked {
        /// Who.
        by: String,
    },
    /// Cleared (kept for a while so the operator sees it went away).
    Resolved,
}

impl AlertPhase {
    /// `new`, `acked by alice`, `resolved`.
    pub fn text(&self) -> String {
        match self {
            AlertPhase::New => "new".into(),
            AlertPhase::Acked { by } => format!("acked by {by}"),
            AlertPhase::Resolved => "resolved".into(),
        }
    }
}

/// One alert, fleet-wide list.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    /// Identity of the alert in the alert book (what an ack names).
    pub key: AlertKey,
    /// Index into `Fleet::hosts`.
    pub host: usize,
    /// Host name.
    pub host_name: String,
    /// How bad.
    pub severity: Severity,
    /// Rule name.
    pub rule: String,
    /// What on the host it is about (service, mount, …), empty for the host itself.
    pub subject: String,
    /// The measured value, short (`93%`), or `-`.
    pub value: String,
    /// One sentence for the operator.
    pub message: String,
    /// Time since it was raised, `5m`.
    pub since: String,
    /// Lifecycle phase.
    pub phase: AlertPhase,
}

impl AlertRow {
    /// Fields a filter looks at.
    pub fn filter_fields(&self) -> impl Iterator<Item = &str> {
        [
            self.host_name.as_str(),
            self.rule.as_str(),
            self.subject.as_str(),
            self.message.as_str(),
        ]
        .into_iter()
    }

    /// The status used for the severity cell's colour (resolved ones are fine again).
    pub fn status(&self) -> Status {
        match (&self.phase, self.severity) {
            (AlertPhase::Resolved, _) => Status::Ok,
            (_, Severity::Critical) => Status::Critical,
            (_, Severity::Warning) => Status::Warning,
        }
    }
}

/// The alerts of `hosts` from the lifecycle book, in its order (active before resolved,
/// critical first, new before acked, oldest first).
pub fn alert_rows(ctx: &Ctx, hosts: &[usize], book: &AlertBook) -> Vec<AlertRow> {
    let by_name: BTreeMap<&str, usize> = hosts
        .iter()
        .map(|&i| (ctx.fleet.hosts[i].name.as_str(), i))
        .collect();
    book.list()
        .into_iter()
        .filter_map(|t| {
            let host = *by_name.get(t.key.host.as_str())?;
            Some(AlertRow {
                key: t.key.clone(),
                host,
                host_name: t.key.host.clone(),
                severity: t.severity,
                rule: t.key.rule.clone(),
                subject: t.key.subject.clone(),
                value: t.value.clone().unwrap_or_else(|| "-".into()),
                message: t.message.clone(),
                since: short_duration(ctx.now.duration_since(t.since).unwrap_or_default()),
                phase: match t.state {
                    AlertState::New => AlertPhase::New,
                    AlertState::Acked => AlertPhase::Acked {
                        by: t.acked_by.clone().unwrap_or_default(),
                    },
                    AlertState::Resolved => AlertPhase::Resolved,
                },
            })
        })
        .collect()
}

//! The Services pane: one row per configured service, with its track across polls.
//!
//! Part of [`crate::view`]: pure rows from the inventory, the state, the verdicts and `now`.

use super::*;

/// One service on one host.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    /// Index into `Fleet::hosts`.
    pub host: usize,
    /// Host name.
    pub host_name: String,
    /// Service name.
    pub name: String,
    /// `systemd`, `docker`, `process`, `port`, `http`, `command`.
    pub kind: &'static str,
    /// What is watched: the unit, container, pattern, address, URL or command.
    pub target: String,
    /// `running`, `stopped`, `failed`, `unknown`.
    pub state: &'static str,
    /// Status for colour: running ok, stopped/failed critical, unknown unknown.
    pub status: Status,
    /// Time in the current state, `3h`, or `-`.
    pub since: String,
    /// Restarts seen, or `-`.
    pub restarts: String,
    /// One line of detail.
    pub detail: String,
    /// The last lines of its failure output.
    pub last_failure: Vec<String>,
    /// Freshness of the service states.
    pub fresh: Freshness,
}

impl ServiceRow {
    /// Fields a filter looks at.
    pub fn filter_fields(&self) -> impl Iterator<Item = &str> {
        [
            self.host_name.as_str(),
            self.name.as_str(),
            self.kind,
            self.state,
        ]
        .into_iter()
    }
}

fn kind_and_target(k: &ServiceKind) -> (&'static str, String) {
    match k {
        ServiceKind::Systemd { unit } => ("systemd", unit.clone()),
        ServiceKind::Docker {
            container,
            compose_file,
            compose_service,
        } => (
            "docker",
            match (container, compose_file, compose_service) {
                (Some(c), _, _) => c.clone(),
                (None, Some(f), Some(s)) => format!("{s} ({f})"),
                (None, _, Some(s)) => s.clone(),
                _ => String::new(),
            },
        ),
        ServiceKind::Process { pidfile, pattern } => (
            "process",
            pidfile
                .clone()
                .or_else(|| pattern.clone())
                .unwrap_or_default(),
        ),
        ServiceKind::Port { address, port } => ("port", format!("{address}:{port}")),
        ServiceKind::Http { url, .. } => ("http", url.clone()),
        ServiceKind::Command { command } => ("command", command.clone()),
    }
}

fn service_state_name(s: ServiceState) -> &'static str {
    match s {
        ServiceState::Running => "running",
        ServiceState::Stopped => "stopped",
        ServiceState::Failed => "failed",
        ServiceState::Unknown => "unknown",
    }
}

/// The services of `hosts`, host by host in inventory order of services.
pub fn service_rows(ctx: &Ctx, hosts: &[usize]) -> Vec<ServiceRow> {
    let mut out = Vec::new();
    for &i in hosts {
        let (host, hs, _) = ctx.host(i);
        let fresh = Part::Services.freshness(host, hs, ctx.now);
        let reachable = hs.reachable() == Some(true);
        let p = hs.probed.as_ref();
        let hnow = host_now(p, ctx.now);
        for (k, svc) in host.services.iter().enumerate() {
            let (kind, target) = kind_and_target(&svc.kind);
            let obs = p.and_then(|p| p.services.get(k));
            let track = hs.service(&svc.name);
            let last_failure = track
                .and_then(|t| t.last_failure.as_ref())
                .map(|f| {
                    let mut lines = vec![format!(
                        "{} {} ago: {}",
                        service_state_name(f.state),
                        short_duration(ctx.now.duration_since(f.at).unwrap_or_default()),
                        f.detail
                    )];
                    lines.extend(f.lines.iter().cloned());
                    lines
                })
                .unwrap_or_default();
            let (state, status, detail) = match obs {
                Some(o) if reachable => (
                    o.state,
                    match o.state {
                        ServiceState::Running => Status::Ok,
                        ServiceState::Stopped | ServiceState::Failed => Status::Critical,
                        ServiceState::Unknown => Status::Unknown,
                    },
                    o.detail.clone(),
                ),
                Some(o) => (
                    ServiceState::Unknown,
                    Status::Unknown,
                    format!(
                        "host not reached; last seen {}",
                        service_state_name(o.state)
                    ),
                ),
                None => (
                    ServiceState::Unknown,
                    Status::Unknown,
                    if hs.polled_at.is_none() {
                        "not polled yet".into()
                    } else {
                        "host not reached".into()
                    },
                ),
            };
            out.push(ServiceRow {
                host: i,
                host_name: host.name.clone(),
                name: svc.name.clone(),
                kind,
                target,
                state: service_state_name(state),
                status,
                // The tool's own timestamp when it gives one, else when fleetdeck saw the change.
                since: match (obs.and_then(|o| o.since), track) {
                    (Some(s), _) => ago(hnow, s),
                    (None, Some(t)) => short_duration(
                        ctx.now
                            .duration_since(t.state_seen_since)
                            .unwrap_or_default(),
                    ),
                    (None, None) => "-".into(),
                },
                restarts: match track {
                    None => "-".into(),
                    Some(t) => match t.restarts_reported {
                        Some(r) if r != t.restarts_seen => format!("{} ({r})", t.restarts_seen),
                        _ => t.restarts_seen.to_string(),
                    },
                },
                detail,
                last_failure,
                fresh,
            });
        }
    }
    out
}

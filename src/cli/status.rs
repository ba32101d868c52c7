//! `fleetdeck status`: poll every selected host once, print the status table, the
//! `status --json` document (docs/status-json.md), the monitoring-plugin line (`--format nagios`)
//! or the Prometheus text format (`--format prometheus`, docs/monitoring.md), and exit like a monitoring plugin: 0 OK,
//! 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for an inventory or selection it cannot use).
//!
//! The document, the table text and the exit code are built by [`crate::report`] (pure, shared
//! with the console); this file only wires the poll and prints. The exit code is decided before
//! anything is printed, so a reader that stops early (`| head -1`) cannot change it.

use std::sync::Arc;
use std::time::SystemTime;

use super::color::ColorChoice;
use super::out;
use super::prompt::TtyPrompt;
use crate::inventory::Fleet;
use crate::store::Store;
use crate::transport::ssh::SshShared;
use crate::{metrics, poller, report};

/// What `status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// The status table.
    #[default]
    Table,
    /// The JSON document of docs/status-json.md (same as `--json`).
    Json,
    /// The monitoring-plugin first line with perfdata.
    Nagios,
    /// The Prometheus text format (node_exporter's textfile collector).
    Prometheus,
}

/// Runs `fleetdeck status`; returns the exit code.
pub async fn run(
    fleet: Fleet,
    format: Format,
    color: ColorChoice,
    hosts: Option<&str>,
    group: Option<&str>,
) -> u8 {
    match status(fleet, format, color, hosts, group).await {
        Ok(code) => code,
        Err(e) => {
            writeln!(out::stderr(), "fleetdeck: {e:#}");
            // A monitoring plugin always says something on stdout, UNKNOWN included.
            if format == Format::Nagios {
                let first = format!("{e:#}");
                let first = first.lines().next().unwrap_or_default();
                writeln!(out::stdout(), "FLEETDECK UNKNOWN - {first}");
            }
            3
        }
    }
}

async fn status(
    fleet: Fleet,
    format: Format,
    color: ColorChoice,
    hosts: Option<&str>,
    group: Option<&str>,
) -> anyhow::Result<u8> {
    let selected = fleet.select(hosts, group).map_err(anyhow::Error::msg)?;
    let shared = SshShared::new(Arc::new(TtyPrompt));
    let transports = poller::transports(&fleet, &shared).map_err(anyhow::Error::msg)?;
    let store = Store::poll_once(Arc::new(fleet), &transports, &selected, SystemTime::now).await;
    let mut report = report::status_report(
        store.fleet(),
        store.state(),
        store.health(),
        &selected,
        store.now(),
    );
    // What only the transports know: how each host's connection attempt went.
    for (host, &index) in report.hosts.iter_mut().zip(&selected) {
        host.connect = transports[index]
            .last_connect()
            .map(|t| report::ConnectReport {
                queued_ms: t.queued.as_millis() as u64,
                handshake_ms: t.handshake.as_millis() as u64,
                connected: t.connected,
            });
    }
    let mut out = out::stdout();
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?),
        Format::Table => {
            out.write_str(&report::status_table(&report, color.for_stdout()));
        }
        Format::Nagios => writeln!(out, "{}", metrics::nagios_line(&report)),
        Format::Prometheus => out.write_str(&metrics::prometheus_text(&report)),
    }
    Ok(report::exit_code(&report))
}

//! fleetdeck: a terminal operations console for fleets of servers and blockchain nodes.
//!
//! The crate is a core without a terminal (inventory, transports, probes, state and health,
//! the runbook engine, the audit log, the [`report`] documents) plus two thin front ends over
//! it: the full-screen console in [`ui`] and the headless commands in [`cli`]. Only `ui` may use
//! ratatui/crossterm, and nothing but `src/main.rs` may reach into `ui`; only `transport` and
//! `probe` may touch the network.

pub mod alert_sink;
pub mod alert_source;
pub mod alerts;
pub mod audit;
pub mod cli;
pub mod diag;
pub mod exec;
pub mod executor;
pub mod health;
pub mod host_path;
pub mod inventory;
pub mod logfile;
pub mod logview;
pub mod metrics;
pub mod mounts;
pub mod observation;
pub mod paths;
pub mod poller;
pub mod posture;
pub mod probe;
pub mod progress;
pub mod prom_source;
pub mod reload;
pub mod report;
pub mod rules;
pub mod runbook;
pub mod shell;
pub mod state;
pub mod store;
pub mod transport;
pub mod ui;
pub mod units;
pub mod view;

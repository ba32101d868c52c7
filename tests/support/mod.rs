//! Shared support for the integration tests: real test peers and terminal driving.
//!
//! - [`fleet`]: [`TestFleet`] starts real OpenSSH `sshd` hosts and `anvil` chain nodes on 127.0.0.1, each
//!   with its own port, host key, config and home, writes a fleetdeck inventory for them, and stops
//!   exactly the processes it started (by PID) when dropped.
//! - [`netns`]: [`NetnsHost`] runs an sshd in a network namespace the test creates, which
//!   nftables can blackhole (a connect that hangs instead of being refused).
//! - [`tmux`]: [`Tmux`] runs a command in a private tmux server so a test can type keys and read the screen.
//! - [`prometheus`]: Debian's `prometheus-node-exporter` and `prometheus` on free loopback ports
//!   (temp dirs, stopped by PID), a minimal HTTP GET, and a strict exposition-format checker.
//! - [`fixtures`]: [`fixtures::run_dir`] checks a folder of valid or invalid fixture files against
//!   their expected error text (inventories, runbooks, themes).
//!
//! Use it from an integration test with `mod support;`. A missing peer (no sshd, no anvil) is a test
//! failure with a message that says how to install it (`scripts/test` does), never a silent skip.
//!
//! ```ignore
//! mod support;
//! use support::{FleetSpec, InventoryOpts, TestFleet, Tmux};
//!
//! let mut fleet = TestFleet::start(FleetSpec::hosts(3).with_anvils(1));
//! let config = fleet.write_inventory(&InventoryOpts::default());
//! let out = std::process::Command::new(support::fleetdeck_bin())
//!     .args(["status", "--json", "--config"]).arg(&config).output().unwrap();
//! fleet.stop_host(1); // h2 goes down (its open connections too); fleet.start_host(1) brings it back
//! let ui = Tmux::start(&format!("{} --config {}", support::fleetdeck_bin().display(), config.display()), 120, 40);
//! ui.wait_for("h1", std::time::Duration::from_secs(10));
//! ```
//!
//! Not every test binary uses every helper, hence the crate-level `allow`s below.
#![allow(dead_code, unused_imports)]

pub mod fixtures;
pub mod fleet;
pub mod netns;
pub mod postgres;
pub mod prometheus;
pub mod tmux;

use std::path::{Path, PathBuf};

pub use fleet::{AnvilInfo, ExtraHost, FleetSpec, HostInfo, InventoryOpts, TestFleet};
pub use netns::NetnsHost;
pub use postgres::Postgres;
pub use tmux::Tmux;

/// The `fleetdeck` binary built for this test run.
pub fn fleetdeck_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fleetdeck"))
}

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

//! `fleetdeck config check`: validate the inventory and print what was understood. The
//! description itself is the inventory's (`inventory::load::describe`); this only prints it.
//! Exit codes: 0 a valid inventory (an invalid one exits 2 before this runs, in `super::load_fleet`).

use clap::Subcommand;

use super::out;
use crate::inventory::{self, Fleet};

/// `fleetdeck config …`.
#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate the inventory and print what was understood.
    Check,
}

/// Runs a `fleetdeck config` command on a loaded inventory; returns the exit code.
pub fn run(fleet: &Fleet, command: ConfigCommand) -> u8 {
    match command {
        ConfigCommand::Check => {
            out::stdout().write_str(&inventory::load::describe(fleet));
            0
        }
    }
}

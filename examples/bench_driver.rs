//! Benchmark driver for `scripts/bench`: measurements that need fleetdeck's own connections.
//!
//! - `warm`: connect to every host of an inventory once, then time full refreshes of every
//!   probe over the open connections (what a running console does each interval).
//! - `limit`: on one host, time exec round trips of `true` and full polls over one open
//!   connection, and fresh handshakes (TCP + key exchange + host key check + auth).
//!
//! Prints one JSON document on stdout. Reads (never signals) the test fleet's sshd PIDs to
//! count the CPU the hosts spent. Build with `cargo build --release --example bench_driver`.

#[path = "../benches/common/procfs.rs"]
mod procfs;
#[path = "../benches/common/warm.rs"]
mod warm;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use fleetdeck::probe::PollPlan;

#[derive(Parser)]
#[command(about = "fleetdeck benchmark driver (see docs/benchmarks.md)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Common {
    /// fleetdeck inventory of the test fleet.
    #[arg(long)]
    config: PathBuf,
    /// Timed repetitions.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Untimed repetitions first.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// `scripts/test-fleet` pids file: the sshd listeners whose CPU is counted.
    #[arg(long)]
    pids_file: Option<PathBuf>,
    /// Milliseconds to wait after each repetition before reading the hosts' CPU.
    #[arg(long, default_value_t = 100)]
    settle_ms: u64,
    /// What each poll includes: `basic` (the console's refresh every interval) or `all` (what
    /// `fleetdeck status` polls: host facts, certificates and logs too).
    #[arg(long, value_parser = ["basic", "all"], default_value = "basic")]
    plan: String,
}

#[derive(Subcommand)]
enum Command {
    /// Full refreshes of every host over persistent connections.
    Warm(Common),
    /// Exec round trip, full poll and fresh handshake on one host.
    Limit {
        #[command(flatten)]
        common: Common,
        /// Host index (0-based) in the inventory.
        #[arg(long, default_value_t = 0)]
        host: usize,
    },
}

fn options(c: &Common) -> Result<warm::Options, String> {
    let sshd_pids = match &c.pids_file {
        Some(p) => procfs::fleet_sshd_pids(p)?,
        None => Vec::new(),
    };
    Ok(warm::Options {
        config: c.config.clone(),
        reps: c.reps,
        warmup: c.warmup,
        sshd_pids,
        settle: Duration::from_millis(c.settle_ms),
        plan: if c.plan == "all" {
            PollPlan::ALL
        } else {
            PollPlan::BASIC
        },
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Warm(c) => options(c)
            .and_then(|o| warm::warm(&o))
            .and_then(|r| serde_json::to_string_pretty(&r).map_err(|e| e.to_string())),
        Command::Limit { common, host } => options(common)
            .and_then(|o| warm::limit(&o, *host))
            .and_then(|r| serde_json::to_string_pretty(&r).map_err(|e| e.to_string())),
    };
    match result {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench_driver: {e}");
            ExitCode::FAILURE
        }
    }
}

//! The headless front end: every `fleetdeck` subcommand (`status`, `run`, `exec`, `runbook`,
//! `audit`, `config`, `ssh`, `serve`), the questions they ask on a terminal ([`prompt`], `tty`) and the one
//! place their text reaches stdout and stderr ([`out`]).
//!
//! Each command is a thin reader of the core (inventory, poller, state, health, [`crate::report`],
//! the runbook engine and executor, the audit log): it formats and prints, it decides exit codes,
//! it never owns domain rules. It must not import `crate::ui` or any terminal UI library (a test
//! in `tests/console_panes.rs` fails if it does): the full-screen console is the other front end,
//! started from `src/main.rs`, which parses the command line and dispatches here through
//! [`Command::run`].
//!
//! Exit codes: `status` exits like a monitoring plugin (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN,
//! and 3 for an inventory it cannot read); every other command exits 0 on success, 1 on failure
//! and 2 on bad usage or bad input; `ssh` exits with the remote shell's status (1 when it has
//! none, 2 when refused). A closed stdout never changes them (see [`out`]).

pub mod args;
pub mod audit;
pub mod color;
pub mod config;
pub mod exec;
pub mod init;
pub mod out;
pub mod prompt;
pub mod run;
pub mod runbook;
pub mod serve;
pub mod shell_docs;
pub mod ssh;
pub mod status;
mod tty;

use std::path::Path;

use clap::Subcommand;

use crate::inventory::{self, Fleet};

/// The options every command takes (`fleetdeck --config F --readonly --color never status`).
#[derive(Debug, Clone, Default)]
pub struct Globals {
    /// `--config`: the inventory file.
    pub config: Option<std::path::PathBuf>,
    /// `--readonly`: nothing that changes a host can run.
    pub readonly: bool,
    /// `--color`: ANSI colour in headless output.
    pub color: color::ColorChoice,
}

/// The headless `fleetdeck` subcommands (no subcommand starts the console).
#[derive(Subcommand)]
pub enum Command {
    /// Poll every selected host once and print a table or JSON; exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Status {
        /// Print the JSON document described in docs/status-json.md (same as `--format json`).
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// What to print: table, json, nagios (the monitoring-plugin line) or prometheus (the
        /// text format for node_exporter's textfile collector); docs/monitoring.md.
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<status::Format>,
        /// Only hosts whose name matches this glob, or `@GROUP`: the hosts of that group.
        #[arg(long, value_name = "GLOB")]
        hosts: Option<String>,
        /// Only hosts in this group (or consensus group).
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
    },
    /// Inventory commands.
    Config {
        #[command(subcommand)]
        command: config::ConfigCommand,
    },
    /// Run a runbook without the console; dangerous steps need a typed confirmation on a terminal.
    Run(run::RunArgs),
    /// Shipped and own runbooks: list, show, lint.
    Runbook {
        #[command(subcommand)]
        command: runbook::RunbookCommand,
    },
    /// One command on the selected hosts, output grouped; exits 0 all exited 0, 1 any failed or
    /// unreachable, 2 refused before anything ran.
    Exec(exec::ExecArgs),
    /// The audit log: verify the hash chain, show the records, repair a torn tail.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// An interactive shell on an inventory host over fleetdeck's verified connection (audited);
    /// exits with the remote shell's status.
    Ssh(ssh::SshArgs),
    /// Poll without a screen and serve `GET /metrics` (Prometheus) and `GET /status.json`
    /// read-only over HTTP (loopback unless `--listen` names another address); SIGTERM stops it.
    Serve(serve::ServeArgs),
    /// Print a shell completion script: `fleetdeck completions bash > /etc/bash_completion.d/fleetdeck`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff; `fleetdeck man | man -l -`), or write one page per command.
    Man {
        /// Write fleetdeck.1, fleetdeck-status.1, … into this directory instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
    /// Write a commented inventory from ~/.ssh/config and/or Ansible inventories (never over an
    /// existing file without --force); lists hosts whose key is not in known_hosts.
    Init(init::InitArgs),
}

impl Command {
    /// Runs the command with the global options; returns the exit code.
    pub async fn run(self, globals: &Globals) -> u8 {
        let config = globals.config.as_deref();
        let readonly = globals.readonly;
        match self {
            Command::Status {
                json,
                format,
                hosts,
                group,
            } => match load_fleet(config, 3) {
                Ok(fleet) => {
                    let format = if json {
                        status::Format::Json
                    } else {
                        format.unwrap_or_default()
                    };
                    status::run(
                        fleet,
                        format,
                        globals.color,
                        hosts.as_deref(),
                        group.as_deref(),
                    )
                    .await
                }
                Err(code) => code,
            },
            Command::Config { command } if command.json() => match inventory::load_fleet(config) {
                Ok(fleet) => config::run(&with_routes(fleet), command),
                Err(e) => {
                    config::print_load_error(&e);
                    2
                }
            },
            Command::Config { command } => match load_fleet(config, 2) {
                Ok(fleet) => config::run(&fleet, command),
                Err(code) => code,
            },
            Command::Run(args) => match load_fleet(config, 2) {
                Ok(fleet) => run::run_command(fleet, readonly, args).await,
                Err(code) => code,
            },
            Command::Exec(args) => match load_fleet(config, 2) {
                Ok(fleet) => exec::run_command(fleet, readonly, args).await,
                Err(code) => code,
            },
            Command::Runbook { command } => runbook::runbook_command(command),
            Command::Audit { command } => audit::run(command),
            Command::Ssh(args) => match load_fleet(config, 2) {
                Ok(fleet) => ssh::run(fleet, readonly, args).await,
                Err(code) => code,
            },
            Command::Serve(args) => match load_fleet(config, 2) {
                Ok(fleet) => serve::run(fleet, args).await,
                Err(code) => code,
            },
            Command::Completions { shell } => shell_docs::completions(shell),
            Command::Man { dir } => shell_docs::man(dir.as_deref()),
            Command::Init(args) => init::run(args).await,
        }
    }
}

/// The inventory, or the error on stderr and `code` (3 for `status`, whose exit codes are a
/// monitoring plugin's; 2 for every other command).
pub fn load_fleet(config: Option<&Path>, code: u8) -> Result<Fleet, u8> {
    let fleet = inventory::load_fleet(config).map_err(|e| {
        writeln!(out::stderr(), "fleetdeck: {e}");
        code
    })?;
    Ok(with_routes(fleet))
}

/// The fleet with each SSH host's route filled in.
fn with_routes(mut fleet: Fleet) -> Fleet {
    // Each host's route (`via` in status --json and the host pane) needs ~/.ssh/config. One
    // that cannot be read leaves the routes empty here: the command that connects says why.
    if fleet
        .hosts
        .iter()
        .any(|h| h.transport == inventory::TransportKind::Ssh)
        && let Ok(ssh_config) = crate::poller::ssh_config(&fleet)
    {
        crate::transport::route::annotate(&mut fleet, ssh_config.as_ref());
    }
    fleet
}

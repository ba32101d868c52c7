//! The whole command line, defined once: parsed by `src/main.rs`, and read again by
//! `fleetdeck completions` and `fleetdeck man`, so the completions and the man page can never
//! drift from what the parser accepts.

use std::path::PathBuf;

use clap::{CommandFactory, Parser};

use super::Globals;
use super::color::ColorChoice;

/// Examples shown at the end of `fleetdeck --help` and in the man page.
const EXAMPLES: &str = "\
Examples:
  fleetdeck
      open the console (no inventory: this machine as a one-host fleet)
  fleetdeck init --from-ssh-config
      write an inventory from ~/.ssh/config
  fleetdeck --config fleet.toml status --json
      poll every host once and print the JSON document
  fleetdeck status --format nagios --group dvn
      a monitoring-plugin check of one group
  fleetdeck run troubleshoot --hosts node-1
      a runbook on a terminal
  fleetdeck exec --hosts 'node-*' -- uptime
      one command on many hosts
  fleetdeck audit verify --json
      check the audit log's hash chain
  fleetdeck completions bash > ~/.local/share/bash-completion/completions/fleetdeck
      shell completions (also zsh, fish, elvish, powershell)";

/// The environment variables fleetdeck reads, shown in `--help` and the man page.
const ENVIRONMENT: &str = "\
Environment:
  FLEETDECK_CONFIG     the inventory file when --config is not given
  FLEETDECK_AUDIT_LOG  the audit log ($XDG_STATE_HOME/fleetdeck/audit.jsonl)
  FLEETDECK_LOG        the log file's filter (tracing syntax: debug, fleetdeck=trace)
  XDG_CONFIG_HOME      fleet.toml, themes/, runbooks/ (default ~/.config)
  XDG_STATE_HOME       audit log, runs, logs, history (default ~/.local/state)
  SSH_AUTH_SOCK        the ssh-agent, offered before identity files
  NO_COLOR             no colour in headless output (unless --color always)
  CLICOLOR_FORCE       colour even into a pipe (unless NO_COLOR, --color never)
  TERM, COLORTERM      what the terminal can show";

/// `fleetdeck` and its global options.
#[derive(Parser)]
#[command(
    name = "fleetdeck",
    version,
    about = "A terminal operations console for fleets of servers and chain nodes",
    after_help = format!("{EXAMPLES}\n\n{ENVIRONMENT}"),
)]
pub struct Cli {
    /// Inventory file (default: $FLEETDECK_CONFIG, ./fleetdeck.toml, $XDG_CONFIG_HOME/fleetdeck/fleet.toml,
    /// else this machine as a one-host fleet).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Theme: a built-in name or a TOML file (partial themes override the default).
    #[arg(long, value_name = "THEME")]
    pub theme: Option<String>,
    /// Read-only: nothing that changes a host can run (console, `run`, `exec`, `ssh`).
    #[arg(long, global = true)]
    pub readonly: bool,
    /// Leave the mouse to the terminal (its own selection and scrolling work); the same as
    /// `[ui] mouse = false`.
    #[arg(long, global = true)]
    pub no_mouse: bool,
    /// Colour in headless output: auto (a terminal, unless NO_COLOR; CLICOLOR_FORCE forces it),
    /// always or never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// A headless command; none opens the console.
    #[command(subcommand)]
    pub command: Option<super::Command>,
}

impl Cli {
    /// The global options, for [`super::Command::run`].
    pub fn globals(&self) -> Globals {
        Globals {
            config: self.config.clone(),
            readonly: self.readonly,
            color: self.color,
        }
    }

    /// The clap definition, for completions and the man page.
    pub fn definition() -> clap::Command {
        Self::command()
    }
}

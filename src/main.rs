//! The `fleetdeck` command: parses the command line, sets up logging and hands over to the
//! console (`ui::run`) or a headless command (`fleetdeck::cli`), returning its exit code.
//!
//! Exit codes: `status` exits like a monitoring plugin (0 OK, 1 WARNING, 2 CRITICAL,
//! 3 UNKNOWN, and 3 for an inventory it cannot read); every other command exits 0 on success,
//! 1 on failure and 2 on bad usage or bad input (see `src/cli.rs`).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use fleetdeck::cli::args::Cli;
use fleetdeck::inventory::Fleet;
use fleetdeck::transport::ssh::SshShared;
use fleetdeck::ui::theme::Theme;
use fleetdeck::{cli, logfile, poller, ui};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    let _log_guard = init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fleetdeck: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(dispatch(cli))
}

async fn dispatch(cli: Cli) -> ExitCode {
    let globals = cli.globals();
    if let Some(command) = cli.command {
        return ExitCode::from(command.run(&globals).await);
    }
    let fleet = match cli::load_fleet(cli.config.as_deref(), 2) {
        Ok(f) => f,
        Err(code) => return ExitCode::from(code),
    };
    let theme = match load_theme(cli.theme.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("fleetdeck: {e:#}");
            return ExitCode::from(2);
        }
    };
    // Colour follows `--color` and `NO_COLOR` in the console too; set before the console
    // starts (the first setting wins).
    ui::colour_depth::set_current(ui::colour_depth::ColourDepth::for_choice(cli.color));
    let start = Start {
        readonly: cli.readonly,
        no_mouse: cli.no_mouse,
        theme_spec: cli.theme.clone(),
    };
    match console(fleet, theme, start).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleetdeck: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// What the command line says about the console.
struct Start {
    readonly: bool,
    no_mouse: bool,
    theme_spec: Option<String>,
}

async fn console(fleet: Fleet, theme: Theme, start: Start) -> anyhow::Result<()> {
    let readonly = start.readonly || fleet.readonly;
    let selected: Vec<usize> = (0..fleet.hosts.len()).collect();
    let (prompt, passphrases) = ui::prompt::TuiPrompt::new();
    let shared = SshShared::new(Arc::new(prompt));
    let transports = poller::transports(&fleet, &shared).map_err(anyhow::Error::msg)?;
    let session = fleetdeck::executor::operator_session(&fleet, None, readonly, true);
    let mut options = ui::ConsoleOptions::new(selected, theme, readonly);
    options.mouse = fleet.ui.mouse && !start.no_mouse;
    options.ssh_shared = Some(shared.clone());
    options.theme_spec = start.theme_spec;
    options.operator = Some(session.operator.clone());
    // Acknowledging an alert is an operator action: it is on disk before it takes effect, and an
    // unwritable log refuses the ack rather than losing the record.
    let audit_path = fleetdeck::audit::default_path()?;
    options.audit_log = Some(audit_path.clone());
    let fleet = Arc::new(fleet);
    // Runbooks started in the console run over its own connections and write the same audit
    // log as `fleetdeck run`.
    options.runbooks = Some(ui::runbook_pane::RunbookLauncher {
        fleet: fleet.clone(),
        transports: transports.clone(),
        audit_path: audit_path.clone(),
        runs_dir: fleetdeck::executor::runs_dir(),
        user_dir: fleetdeck::runbook::user_dir(),
        session: session.clone(),
    });
    // `s` opens a shell: the same checks and audit records as `fleetdeck ssh`.
    options.shell = Some(fleetdeck::shell::ShellLauncher {
        fleet: fleet.clone(),
        session: session.clone(),
        audit_path: audit_path.clone(),
        sessions_dir: fleetdeck::shell::record::sessions_dir(),
    });
    // `:exec` runs ad-hoc commands over the same connections, with the checks and audit
    // records of `fleetdeck exec`.
    options.exec = Some(ui::exec_pane::ExecLauncher {
        fleet: fleet.clone(),
        transports: transports.clone(),
        audit_path: audit_path.clone(),
        session: session.clone(),
        history: ui::exec_pane::history::default_path(),
    });
    // `a` on an Alertmanager alert creates a silence: the role and read-only checks of every
    // action, recorded as `alert.silence`.
    options.silences = Some(ui::alert_poll::SilenceLauncher {
        session: session.clone(),
        audit_path: audit_path.clone(),
    });
    let actor = fleetdeck::audit::Actor::new(
        &session.operator,
        session.role.as_str(),
        fleetdeck::audit::detect_source(),
    );
    options.ack_hook = Some(Box::new(move |ack: &ui::AckRequest| {
        let log = fleetdeck::audit::AuditLog::open(&audit_path).map_err(|e| e.to_string())?;
        let subject = if ack.key.subject.is_empty() {
            ack.key.rule.clone()
        } else {
            format!("{}:{}", ack.key.rule, ack.key.subject)
        };
        log.append(
            fleetdeck::audit::AuditEntry::new(&actor, fleetdeck::audit::AuditAction::AlertAck)
                .target(&ack.key.host)
                .command(subject)
                .result(ack.severity.as_str())
                .reason(format!(
                    "{}{}",
                    fleetdeck::audit::timeline::FAILING_SINCE,
                    humantime::format_rfc3339_millis(ack.since)
                ))
                .note(&ack.message),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }));
    ui::run(fleet, transports, passphrases, options)
        .await
        .context("terminal error")
}

fn load_theme(name: Option<&str>) -> anyhow::Result<Theme> {
    match name {
        None => Ok(Theme::default_theme()),
        Some(spec) => Ok(Theme::load(
            spec,
            fleetdeck::ui::theme::user_theme_dir().as_deref(),
        )?),
    }
}

/// Logs go to `$XDG_STATE_HOME/fleetdeck/fleetdeck.log` (never to the screen the console owns),
/// rotated by size ([`logfile`]); `FLEETDECK_LOG` sets the filter (default `info`).
fn init_logging() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let file = logfile::RotatingFile::open(&logfile::default_dir()?).ok()?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLEETDECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,russh=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .init();
    Some(guard)
}

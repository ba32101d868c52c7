//! `fleetdeck run`: the headless front end of the runbook engine, asking and reporting through
//! `cli::tty`. Exit codes: 0 success, 1 failure (a step failed or the run was aborted), 2 bad
//! usage or bad input, including a refusal before anything ran (no terminal for a dangerous
//! step, a role that may not, bad inputs, the quorum guard) — and a `--resume` refused before it
//! ran anything (a secret to type again or an unknown step to decide, with no terminal), which
//! keeps the saved run. [`runbook::Outcome::exit_code`] is the one place that decides between 1
//! and 2.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use clap::Args;

use super::out;
use super::prompt::TtyPrompt;
use super::tty::TtyFrontend;
use crate::audit::AuditLog;
use crate::executor::{self, Ending, Executor};
use crate::inventory::Fleet;
use crate::poller;
use crate::runbook::{self, Event, LintError, OutcomeKind, Run, Runbook};
use crate::transport::ssh::SshShared;

/// `fleetdeck run` options.
#[derive(Args)]
pub struct RunArgs {
    /// A shipped runbook or one in $XDG_CONFIG_HOME/fleetdeck/runbooks (by name), or a file.
    #[arg(required_unless_present = "resume")]
    runbook: Option<String>,
    /// Only hosts whose name matches this glob, or `@GROUP`: the hosts of that group.
    #[arg(long, value_name = "GLOB")]
    hosts: Option<String>,
    /// Only hosts in this group (or consensus group).
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
    /// An input value, `name=value`; repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Print every command per host without running anything.
    #[arg(long)]
    dry_run: bool,
    /// Continue a suspended run by its id.
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["runbook", "dry_run"])]
    resume: Option<String>,
    /// Audit log file (default $XDG_STATE_HOME/fleetdeck/audit.jsonl).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
}

/// Finds a runbook: a file path, the operator's own by name, or a shipped one by name.
pub(super) fn find(name: &str) -> Result<Runbook, Vec<LintError>> {
    runbook::find(name, runbook::user_dir().as_deref())
}

/// Lint errors go to stderr, one per line.
pub(super) fn print_lint(errors: &[LintError]) {
    let mut err = out::stderr();
    for e in errors {
        writeln!(err, "{e}");
    }
}

fn parse_vars(vars: &[String]) -> Result<BTreeMap<String, String>, String> {
    vars.iter()
        .map(|v| {
            v.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| format!("--var {v:?}: expected NAME=VALUE"))
        })
        .collect()
}

/// `fleetdeck run`.
pub async fn run_command(fleet: Fleet, readonly: bool, args: RunArgs) -> u8 {
    let mut out = out::stdout();
    let mut err = out::stderr();
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let session = executor::operator_session(&fleet, None, readonly, interactive);
    let inputs = match parse_vars(&args.vars) {
        Ok(v) => v,
        Err(e) => {
            writeln!(err, "fleetdeck: {e}");
            return 2;
        }
    };
    let fleet = Arc::new(fleet);
    let shared = SshShared::new(Arc::new(TtyPrompt));
    let transports = match poller::transports(&fleet, &shared) {
        Ok(t) => t,
        Err(e) => {
            writeln!(err, "fleetdeck: {e}");
            return 2;
        }
    };
    let audit_path = match args
        .audit_log
        .clone()
        .map(Ok)
        .unwrap_or_else(crate::audit::default_path)
    {
        Ok(p) => p,
        Err(e) => {
            writeln!(err, "fleetdeck: {e}");
            return 1;
        }
    };
    let runs_dir = executor::runs_dir();

    // Resume: the saved run carries its runbook, targets and non-secret inputs.
    if let Some(run_id) = &args.resume {
        let mut run = match executor::load_saved(&runs_dir, run_id) {
            Ok(r) => r,
            Err(e) => {
                writeln!(err, "fleetdeck: {e}");
                return 2;
            }
        };
        let audit = match AuditLog::open(&audit_path) {
            Ok(a) => Arc::new(a),
            Err(e) => {
                writeln!(err, "fleetdeck: {e}");
                return 1;
            }
        };
        let saved = runs_dir.join(format!("{run_id}.json"));
        let exec = Executor::new(fleet, transports, audit, &session, run_id.clone(), runs_dir);
        let effects = run.handle(Event::Resume {
            session,
            now: SystemTime::now(),
        });
        let ending = drive(&exec, &mut run, effects).await;
        let refused = matches!(&ending, Ok(Ending::Finished(o)) if o.kind == OutcomeKind::Refused);
        let code = finish(ending);
        if refused && saved.exists() {
            writeln!(
                err,
                "  the run is still saved: fleetdeck run --resume {run_id}"
            );
        }
        return code;
    }

    let name = args.runbook.as_deref().unwrap_or_default();
    let rb = match find(name) {
        Ok(rb) => rb,
        Err(errors) => {
            print_lint(&errors);
            return 2;
        }
    };
    let targets =
        match runbook::select_targets(&rb, &fleet, args.hosts.as_deref(), args.group.as_deref()) {
            Ok(t) => t,
            Err(e) => {
                writeln!(err, "fleetdeck: {e}");
                return 2;
            }
        };

    if args.dry_run {
        // No connection, no audit: a dry run changes nothing and reaches no host.
        let ctx = runbook::RunContext {
            fleet: runbook::HostInfo::from_fleet(&fleet),
            targets,
            inputs,
            health: BTreeMap::new(),
            session,
            now: SystemTime::now(),
            height_lag: fleet.thresholds.height_lag_warn,
        };
        return match runbook::plan_dry_run(&rb, &ctx) {
            Ok(plan) => {
                writeln!(
                    out,
                    "dry run of `{}` on {} host(s); nothing is executed",
                    rb.name,
                    ctx.targets.len()
                );
                for line in plan {
                    let host = line.host.as_deref().unwrap_or("(webhook)");
                    match line.command {
                        Ok(c) => writeln!(out, "{host:<16} {:<28} {c}", line.step),
                        Err(e) => {
                            writeln!(out, "{host:<16} {:<28} (cannot render: {e})", line.step)
                        }
                    }
                }
                0
            }
            Err(e) => {
                writeln!(err, "fleetdeck: {e}");
                2
            }
        };
    }

    let audit = match AuditLog::open(&audit_path) {
        Ok(a) => Arc::new(a),
        Err(e) => {
            writeln!(err, "fleetdeck: {e}");
            return 1;
        }
    };
    let run_id = executor::new_run_id(SystemTime::now());
    let exec = Executor::new(fleet, transports, audit, &session, run_id, runs_dir);
    let ctx = exec.context(targets, inputs, session).await;
    let (mut run, effects) = Run::start(rb, ctx);
    finish(drive(&exec, &mut run, effects).await)
}

async fn drive(
    exec: &Executor,
    run: &mut Run,
    effects: Vec<runbook::Effect>,
) -> Result<Ending, executor::ExecutorError> {
    let mut interrupt = Box::pin(async {
        let _ = tokio::signal::ctrl_c().await;
        executor::Interrupt::CtrlC
    });
    exec.drive(run, effects, &TtyFrontend::default(), &mut interrupt)
        .await
}

fn finish(ending: Result<Ending, executor::ExecutorError>) -> u8 {
    let mut err = out::stderr();
    match ending {
        Ok(Ending::Finished(outcome)) => {
            // A refusal is an error message whatever its exit status (the progress on stdout
            // shows it too, but scripts read stderr).
            if outcome.kind == OutcomeKind::Refused {
                writeln!(err, "fleetdeck: refused: {}", outcome.message);
            }
            outcome.exit_code()
        }
        Ok(Ending::Suspended {
            run_id,
            step,
            reason,
        }) => {
            writeln!(
                err,
                "fleetdeck: run suspended at {}: {reason}\n  resume with: fleetdeck run --resume {run_id}",
                step.as_deref().unwrap_or("start")
            );
            1
        }
        Err(e) => {
            writeln!(err, "fleetdeck: {e}");
            1
        }
    }
}

//! `fleetdeck exec`: one ad-hoc command on the selected hosts, over fleetdeck's own
//! connections, with the output grouped like `clush -b` (or the JSON of docs/exec-json.md).
//!
//! The rules live in [`crate::exec`] (who may, what needs which confirmation, the audit
//! records, the fan-out, the grouping); this file asks the question on the terminal, prints
//! and decides the exit status: 0 every host exited 0; 1 any host failed, could not be reached,
//! timed out or was cancelled (Ctrl-C); 2 refused before anything ran (bad usage, a role that
//! may not, read-only, a dangerous command without a terminal, a confirmation not given, an
//! audit log that cannot take the records).

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::out;
use super::prompt::TtyPrompt;
use crate::audit::{Actor, AuditLog};
use crate::exec::{
    self, Asking, CommandText, Grouped, HostOutcome, HostResult, Limits, NotRunKind, Plan,
    Question, Refusal,
};
use crate::executor;
use crate::inventory::Fleet;
use crate::poller;
use crate::transport::ssh::SshShared;

/// `fleetdeck exec` options.
#[derive(Args)]
pub struct ExecArgs {
    /// Only hosts whose name matches this glob.
    #[arg(long, value_name = "GLOB")]
    hosts: Option<String>,
    /// Only hosts in this group (or consensus group).
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
    /// Print the JSON document described in docs/exec-json.md.
    #[arg(long)]
    json: bool,
    /// Per host: kill the command after this long ("30s", "2m"); default [ssh] command_timeout.
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// Skip the y/N asked on a terminal for more than one host (never the typed confirmation
    /// of a dangerous command).
    #[arg(long)]
    yes: bool,
    /// Fill `{{NAME}}` in the command with the value of the environment variable NAME; the
    /// value never reaches the audit log or the log file. Repeatable.
    #[arg(long = "secret-env", value_name = "NAME")]
    secret_env: Vec<String>,
    /// Audit log file (default $FLEETDECK_AUDIT_LOG, else $XDG_STATE_HOME/fleetdeck/audit.jsonl).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// The command and its arguments, after `--`; each argument reaches the remote shell as
    /// one word (use `sh -c '…'` for pipes and redirections).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// Runs `fleetdeck exec`; returns the exit status.
pub async fn run_command(fleet: Fleet, readonly: bool, args: ExecArgs) -> u8 {
    let mut err = out::stderr();
    // Questions go to stderr and answers come from stdin, so `--json | jq` can still confirm.
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let session = executor::operator_session(&fleet, None, readonly, interactive);
    let secrets = match secret_values(&args.secret_env) {
        Ok(s) => s,
        Err(e) => {
            writeln!(err, "fleetdeck: {e}");
            return 2;
        }
    };
    let command = match CommandText::from_args(&args.command, &secrets) {
        Ok(c) => c,
        Err(e) => {
            writeln!(err, "fleetdeck: {e}");
            return 2;
        }
    };
    if args.timeout.is_some_and(|t| t.is_zero()) {
        writeln!(err, "fleetdeck: --timeout must be longer than zero");
        return 2;
    }
    let targets = match exec::select(&fleet, args.hosts.as_deref(), args.group.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            writeln!(err, "fleetdeck: {e}");
            return 2;
        }
    };
    let shared = SshShared::new(Arc::new(TtyPrompt));
    let transports = match poller::transports(&fleet, &shared) {
        Ok(t) => t,
        Err(e) => {
            writeln!(err, "fleetdeck: {e}");
            return 2;
        }
    };
    let log = match args
        .audit_log
        .clone()
        .map(Ok)
        .unwrap_or_else(crate::audit::default_path)
        .and_then(AuditLog::open)
    {
        Ok(log) => Arc::new(log),
        Err(e) => {
            writeln!(err, "fleetdeck: {e}: nothing was run");
            return 2;
        }
    };
    let actor = Actor::new(
        &session.operator,
        session.role.as_str(),
        crate::audit::detect_source(),
    );
    let limits = Limits::of(&fleet, args.timeout);
    let plan = Plan::new(&fleet, command, &targets);
    let asking = Asking {
        interactive,
        yes: args.yes,
    };

    let answer = match plan.question(&session, asking) {
        Err(refusal) => return refuse(&log, &actor, &plan, &refusal).await,
        Ok(None) => None,
        Ok(Some(question)) => {
            let text = question_text(&plan, &question);
            let asked = tokio::task::spawn_blocking(move || ask(&text))
                .await
                .ok()
                .flatten();
            // End of input is no answer: refused below like a wrong one.
            asked
        }
    };
    let approved = match plan.clone().approve(&session, asking, answer.as_deref()) {
        Ok(a) => a,
        Err(refusal) => return refuse(&log, &actor, &plan, &refusal).await,
    };
    // Ctrl-C from here on cancels what has not finished instead of killing fleetdeck (which
    // would leave `exec` records without results); registered before anything starts.
    let mut sigint = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
    {
        Ok(s) => Some(s),
        Err(e) => {
            writeln!(
                err,
                "fleetdeck: cannot catch Ctrl-C ({e}); it will stop fleetdeck at once"
            );
            None
        }
    };
    let mut running = match approved.start(log, &actor, &transports, limits).await {
        Ok(r) => r,
        Err(e) => {
            writeln!(err, "fleetdeck: audit log: {e}: nothing was run");
            return 2;
        }
    };

    let total = running.total();
    let mut results: Vec<HostResult> = Vec::with_capacity(total);
    let mut cancelled_by_operator = false;
    loop {
        tokio::select! {
            r = running.next() => match r {
                Some(r) => results.push(r),
                None => break,
            },
            Some(()) = async {
                match sigint.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            }, if !cancelled_by_operator => {
                cancelled_by_operator = true;
                let waiting = running.cancel();
                writeln!(
                    err,
                    "fleetdeck: Ctrl-C: cancelling what has not finished ({} of {total} host(s) not reported yet)",
                    waiting.len()
                );
            }
        }
    }
    if cancelled_by_operator {
        // Named from the results: a host that finished just before the Ctrl-C keeps its answer.
        let cancelled: Vec<&str> = results
            .iter()
            .filter(
                |r| matches!(&r.outcome, HostOutcome::NotRun(n) if n.kind == NotRunKind::Cancelled),
            )
            .map(|r| r.name.as_str())
            .collect();
        writeln!(
            err,
            "fleetdeck: cancelled: {}",
            if cancelled.is_empty() {
                "none (every host had finished)".to_owned()
            } else {
                exec::hostlist::fold(&cancelled)
            }
        );
    }
    results.sort_by_key(|r| r.index);
    let grouped = exec::group(&results);
    let mut stdout = out::stdout();
    if args.json {
        let doc = json_document(plan.id(), plan.command().shown(), &results, &grouped);
        match serde_json::to_string_pretty(&doc) {
            Ok(text) => writeln!(stdout, "{text}"),
            Err(e) => writeln!(err, "fleetdeck: {e}"),
        }
    } else {
        stdout.write_str(&text_report(&grouped, total));
    }
    let audit_errors = running.audit_errors();
    for e in &audit_errors {
        writeln!(
            err,
            "fleetdeck: audit log: exec.result not recorded for {e}"
        );
    }
    if results.iter().all(HostResult::ok) && audit_errors.is_empty() {
        0
    } else {
        1
    }
}

/// `--secret-env NAME` → (NAME, value); a missing or empty variable is bad usage.
fn secret_values(names: &[String]) -> Result<Vec<(String, String)>, String> {
    names
        .iter()
        .map(|name| match std::env::var(name) {
            Ok(v) if !v.is_empty() => Ok((name.clone(), v)),
            _ => Err(format!(
                "--secret-env {name}: the environment variable {name} is not set (or empty)"
            )),
        })
        .collect()
}

/// Records the refusal, says it on stderr, and returns 2. An audit log that cannot take the
/// record is said too: the refusal stands either way.
async fn refuse(log: &Arc<AuditLog>, actor: &Actor, plan: &Plan, refusal: &Refusal) -> u8 {
    let (log, actor, plan, r) = (log.clone(), actor.clone(), plan.clone(), refusal.clone());
    let written = tokio::task::spawn_blocking(move || exec::deny(&log, &actor, &plan, &r)).await;
    let mut err = out::stderr();
    writeln!(err, "fleetdeck: refused: {}", refusal.reason);
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => writeln!(err, "fleetdeck: audit log: {e}"),
        Err(e) => writeln!(err, "fleetdeck: audit log: {e}"),
    }
    2
}

fn question_text(plan: &Plan, question: &Question) -> String {
    let hosts = exec::hostlist::fold(&plan.host_names());
    let command = plan.command().shown();
    match question {
        Question::YesNo { hosts: n } => {
            format!("Run `{command}` on {n} hosts ({hosts})? [y/N] ")
        }
        Question::Typed {
            expected,
            pattern,
            hosts: n,
        } => {
            let what = if *n == 1 {
                "the host's name"
            } else {
                "the number of hosts"
            };
            format!(
                "\n⚠ DANGEROUS command (matches {pattern:?} of the danger list)\n    \
                 {command}\n  on {n} host(s): {hosts}\n  Type {what}, {expected}, to confirm: "
            )
        }
    }
}

/// Prints `prompt` on stderr and reads one line from stdin; `None` at end of input.
fn ask(prompt: &str) -> Option<String> {
    let mut err = out::stderr();
    err.write_str(prompt);
    err.flush_now();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_owned()),
    }
}

/// Grouped text: each group once under its folded host list, largest first; then the hosts
/// that did not run it, with why; then one summary line.
fn text_report(g: &Grouped, total: usize) -> String {
    let mut t = String::new();
    let majority = g.groups.first().map_or(0, |f| f.indices.len());
    for (i, group) in g.groups.iter().enumerate() {
        let n = group.indices.len();
        let exit = match group.exit_code {
            Some(code) => format!("exit {code}"),
            None => "no exit status".to_owned(),
        };
        let odd = if i > 0 && n < majority {
            "  (differs from the majority)"
        } else {
            ""
        };
        t.push_str(&format!(
            "==== {} ({n} host{}) {exit}{odd} ====\n",
            group.folded(),
            if n == 1 { "" } else { "s" }
        ));
        push_output(&mut t, &group.stdout);
        if !group.stderr.is_empty() {
            t.push_str("---- stderr ----\n");
            push_output(&mut t, &group.stderr);
        }
        if group.dropped_bytes > 0 {
            t.push_str(&format!(
                "[output truncated: {} bytes beyond the output cap were dropped on each]\n",
                group.dropped_bytes
            ));
        }
        t.push('\n');
    }
    if !g.missing.is_empty() {
        t.push_str(&format!(
            "==== did not run ({} host{}) ====\n",
            g.missing.len(),
            if g.missing.len() == 1 { "" } else { "s" }
        ));
        for m in &g.missing {
            let what = match m.not_run.kind {
                NotRunKind::Unreachable => "unreachable: ",
                NotRunKind::Failed => "failed: ",
                NotRunKind::TimedOut | NotRunKind::Cancelled => "",
            };
            t.push_str(&format!("{}: {what}{}\n", m.name, m.not_run.reason));
        }
        t.push('\n');
    }
    let ok: usize = g
        .groups
        .iter()
        .filter(|g| g.exit_code == Some(0))
        .map(|g| g.indices.len())
        .sum();
    let ran: usize = g.groups.iter().map(|g| g.indices.len()).sum();
    t.push_str(&format!(
        "{total} host(s): {ok} exited 0, {} failed, {} did not run\n",
        ran - ok,
        g.missing.len()
    ));
    t
}

fn push_output(t: &mut String, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    t.push_str(&text);
    if !text.is_empty() && !text.ends_with('\n') {
        t.push('\n');
    }
}

/// The `exec --json` document (docs/exec-json.md).
#[derive(Serialize)]
struct ExecDocument<'a> {
    run: &'a str,
    command: &'a str,
    hosts: Vec<HostJson>,
    groups: Vec<GroupJson>,
}

#[derive(Serialize)]
struct HostJson {
    name: String,
    exit_code: Option<u32>,
    stdout: String,
    stderr: String,
    duration_ms: u64,
    error: Option<String>,
    truncated: bool,
    dropped_bytes: u64,
    output_bytes: u64,
    status: &'static str,
}

#[derive(Serialize)]
struct GroupJson {
    hosts: Vec<String>,
    hosts_folded: String,
    exit_code: Option<u32>,
    stdout: String,
    stderr: String,
    truncated: bool,
}

fn json_document<'a>(
    run: &'a str,
    command: &'a str,
    results: &[HostResult],
    g: &Grouped,
) -> ExecDocument<'a> {
    let hosts = results
        .iter()
        .map(|r| {
            let duration_ms = u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX);
            match &r.outcome {
                HostOutcome::Ran(ran) => HostJson {
                    name: r.name.clone(),
                    exit_code: ran.exit_code,
                    stdout: String::from_utf8_lossy(&ran.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&ran.stderr).into_owned(),
                    duration_ms,
                    error: ran
                        .exit_code
                        .is_none()
                        .then(|| "no exit status (killed by a signal?)".to_owned()),
                    truncated: ran.dropped_bytes > 0,
                    dropped_bytes: ran.dropped_bytes,
                    output_bytes: ran.output_bytes(),
                    status: "ran",
                },
                HostOutcome::NotRun(n) => HostJson {
                    name: r.name.clone(),
                    exit_code: None,
                    stdout: String::new(),
                    stderr: String::new(),
                    duration_ms,
                    error: Some(n.reason.clone()),
                    truncated: false,
                    dropped_bytes: 0,
                    output_bytes: 0,
                    status: n.kind.as_str(),
                },
            }
        })
        .collect();
    let groups = g
        .groups
        .iter()
        .map(|group| GroupJson {
            hosts: group.names.clone(),
            hosts_folded: group.folded(),
            exit_code: group.exit_code,
            stdout: String::from_utf8_lossy(&group.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&group.stderr).into_owned(),
            truncated: group.dropped_bytes > 0,
        })
        .collect();
    ExecDocument {
        run,
        command,
        hosts,
        groups,
    }
}

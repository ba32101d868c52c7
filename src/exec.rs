//! Ad-hoc commands on the fleet: one command on many hosts over fleetdeck's own connections,
//! with the safety of runbooks (roles, read-only, confirmations, the audit log before acting)
//! and output grouped like `clush -b`.
//!
//! This module owns the whole path from "the operator typed a command" to "every host
//! answered", without a terminal: the front ends (`fleetdeck exec` in `src/cli/exec.rs`, later
//! the console's `:exec` and its Exec pane) only ask the question the [`Plan`] names and show
//! what [`Running`] yields. It must not print or read a terminal.
//!
//! The safety path is structural, as in gitui's `ConfirmAction` → `ConfirmedAction`: a
//! [`Plan`] says which question it needs ([`Plan::question`]: none, a y/N with the host count,
//! or the typed confirmation runbooks use for a dangerous command); only [`Plan::approve`] makes
//! an [`Approved`], and it re-checks the role, read-only mode, the terminal and the answer; only
//! an [`Approved`] can [`start`](Approved::start), which writes the `confirm` record and one
//! `exec` record per host to the audit log (fsync'd) *before* the first command leaves.
//! Refusals are written with [`deny`]. Results arrive per host as they finish ([`Running::next`]),
//! each after its `exec.result` record (exit, duration, `output_bytes`, `output_sha256`, never the
//! output); [`Running::cancel`] stops what has not finished, and those hosts report as
//! cancelled.
//!
//! Rooms: [`danger`] (the danger list), [`redact`] (secrets out of the log), [`group`](mod@group) (grouping),
//! [`hostlist`] (`h[01-03]` folding), `fanout` (the concurrent runs and their audit records).

pub mod danger;
mod fanout;
pub mod group;
pub mod hostlist;
pub mod redact;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::audit::{Actor, AuditAction, AuditEntry, AuditError, AuditLog, Redactor};
use crate::inventory::Fleet;
use crate::runbook::Session;
use crate::transport::Transport;

pub use fanout::{Canceller, Running};
pub use group::{Group, Grouped, Missing, group};

/// A command as it goes to the hosts and as it is recorded. Its `Debug` shows only the
/// recorded text, so a `{:?}` in a log line cannot leak a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct CommandText {
    /// What the remote shell runs (secret values filled in). Never logged or audited.
    sent: String,
    /// What the audit log, the log file and the screen show: placeholders instead of secret
    /// values, credential-looking words masked.
    shown: String,
    /// Secret values filled in, kept out of every record.
    secrets: Vec<String>,
}

impl CommandText {
    /// An argument list (what follows `--` on the command line), each argument shell-quoted so
    /// the remote shell sees exactly these words: `["printf", "%s\n", "a b", "$(x)"]` becomes
    /// `printf '%s\n' 'a b' '$(x)'`. `{{NAME}}` in an argument is replaced by the value of a
    /// secret from `secrets` (name → value) inside that argument before quoting; placeholders
    /// naming no secret stay as typed. An argument with a NUL byte cannot be sent.
    pub fn from_args(args: &[String], secrets: &[(String, String)]) -> Result<Self, String> {
        if args.is_empty() {
            return Err("no command given: write it after `--`".into());
        }
        let mut sent = Vec::with_capacity(args.len());
        let mut shown = Vec::with_capacity(args.len());
        for arg in args {
            let mut filled = arg.clone();
            for (name, value) in secrets {
                filled = filled.replace(&format!("{{{{{name}}}}}"), value);
            }
            sent.push(quote(&filled)?);
            shown.push(quote(arg)?);
        }
        Ok(Self::build(
            sent.join(" "),
            shown.join(" "),
            secrets.iter().map(|(_, v)| v.clone()).collect(),
        ))
    }

    /// A line of shell text as typed (the console's `:exec`): run as it is by the remote shell.
    pub fn shell(text: &str) -> Self {
        Self::build(text.to_owned(), text.to_owned(), Vec::new())
    }

    fn build(sent: String, shown: String, secrets: Vec<String>) -> Self {
        let mut masker = Redactor::new();
        for s in &secrets {
            masker.add(s.clone());
        }
        let shown = redact::mask_tokens(&masker.apply(&shown));
        CommandText {
            sent,
            shown,
            secrets,
        }
    }

    /// The text for the audit log, the log file and the screen.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The text the remote shell runs (for [`danger`] matching too). Never record it.
    pub fn sent(&self) -> &str {
        &self.sent
    }
}

impl std::fmt::Debug for CommandText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandText")
            .field("shown", &self.shown)
            .finish_non_exhaustive()
    }
}

/// POSIX single-quoting where needed (`shlex`), so no argument can add a command.
fn quote(arg: &str) -> Result<String, String> {
    shlex::try_quote(arg)
        .map(|q| q.into_owned())
        .map_err(|_| format!("argument {arg:?} contains a NUL byte, which no shell can receive"))
}

/// The hosts a command runs on: `--hosts GLOB` and `--group G` as `status` and `run` read them,
/// every host when neither is given. An empty selection is an error here (nothing to run on).
pub fn select(
    fleet: &Fleet,
    hosts: Option<&str>,
    group: Option<&str>,
) -> Result<Vec<usize>, String> {
    let selected = fleet.select(hosts, group)?;
    if selected.is_empty() {
        let mut what = Vec::new();
        if let Some(h) = hosts {
            what.push(format!("--hosts {h:?}"));
        }
        if let Some(g) = group {
            what.push(format!("--group {g:?}"));
        }
        return Err(format!("no host matches {}", what.join(" and ")));
    }
    Ok(selected)
}

/// How each host runs the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Per host: the command must finish within this (connecting has the fleet's own timeout).
    pub timeout: Duration,
    /// Keep at most this many bytes of stdout and of stderr per host; the rest is counted.
    pub max_output: usize,
    /// Hosts running at once.
    pub concurrency: usize,
    /// Connecting to a host must finish within this (`[ssh] connect_timeout`).
    pub connect_timeout: Duration,
}

impl Limits {
    /// The fleet's settings: `[ssh] command_timeout` and `max_output_bytes`, `[exec]
    /// concurrency`; `timeout` overrides the first.
    pub fn of(fleet: &Fleet, timeout: Option<Duration>) -> Limits {
        Limits {
            timeout: timeout.unwrap_or(fleet.ssh.command_timeout),
            max_output: fleet.ssh.max_output_bytes,
            concurrency: fleet.exec.concurrency.max(1),
            connect_timeout: fleet.ssh.connect_timeout,
        }
    }
}

/// What the operator must answer before the command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Question {
    /// More than one host: `y` to go on (skipped by `--yes`).
    YesNo {
        /// How many hosts.
        hosts: usize,
    },
    /// A dangerous command: type `expected` exactly (the host's name, or the number of hosts,
    /// as runbooks ask); `--yes` never skips it.
    Typed {
        /// What must be typed.
        expected: String,
        /// The danger-list pattern the command matched.
        pattern: String,
        /// How many hosts.
        hosts: usize,
    },
}

/// Why a command was refused before anything ran (exit status 2). Written with [`deny`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    /// The reason, as recorded and shown.
    pub reason: String,
}

impl Refusal {
    fn new(reason: impl Into<String>) -> Self {
        Refusal {
            reason: reason.into(),
        }
    }
}

/// How the front end is placed to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asking {
    /// A person can answer (a terminal; always in the console).
    pub interactive: bool,
    /// `--yes`: skip the y/N (never the typed confirmation).
    pub yes: bool,
}

/// One command about to run on some hosts, not yet allowed.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `run` of every record this command writes, so a reader finds them together.
    id: String,
    command: CommandText,
    /// (inventory index, name), inventory order.
    hosts: Vec<(usize, String)>,
    /// The danger-list pattern the command matched.
    danger: Option<String>,
}

impl Plan {
    /// A plan for `command` on the hosts `targets` (indices into `fleet.hosts`), matched
    /// against the fleet's danger list.
    pub fn new(fleet: &Fleet, command: CommandText, targets: &[usize]) -> Plan {
        let mut targets = targets.to_vec();
        targets.sort_unstable();
        targets.dedup();
        let hosts = targets
            .into_iter()
            .filter_map(|i| fleet.hosts.get(i).map(|h| (i, h.name.clone())))
            .collect();
        // Both spellings: the quoted text the shell gets, and the words as typed (quotes could
        // otherwise split `rm -rf` into `rm '-rf'`).
        let danger = danger::first_match(command.sent(), &fleet.exec.danger)
            .or_else(|| danger::first_match(&unquoted(command.sent()), &fleet.exec.danger))
            .map(str::to_owned);
        Plan {
            id: format!("exec-{}", crate::executor::new_run_id(SystemTime::now())),
            command,
            hosts,
            danger,
        }
    }

    /// The id shared by every audit record of this command (their `run`): `exec-…`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The command.
    pub fn command(&self) -> &CommandText {
        &self.command
    }

    /// The target names, inventory order.
    pub fn host_names(&self) -> Vec<String> {
        self.hosts.iter().map(|(_, n)| n.clone()).collect()
    }

    /// The danger-list pattern matched, if any.
    pub fn danger(&self) -> Option<&str> {
        self.danger.as_deref()
    }

    /// The question to ask before running, or why it may not run at all.
    pub fn question(&self, session: &Session, asking: Asking) -> Result<Option<Question>, Refusal> {
        if self.hosts.is_empty() {
            return Err(Refusal::new("no host selected"));
        }
        if !session.role.may_write() {
            return Err(Refusal::new(format!(
                "{} is {}: only operators and admins may run commands on hosts",
                session.operator,
                session.role.as_str()
            )));
        }
        if session.readonly {
            return Err(Refusal::new(
                "read-only mode: no command may run on hosts (--readonly or [fleet] readonly)",
            ));
        }
        let n = self.hosts.len();
        if let Some(pattern) = &self.danger {
            if !asking.interactive {
                return Err(Refusal::new(format!(
                    "dangerous command (matches {pattern:?} of the danger list) needs a typed \
                     confirmation, and there is no terminal to type it: nothing was run"
                )));
            }
            // The word runbooks ask for a dangerous step: one rule for both.
            let expected = crate::runbook::expected_text(&self.host_names());
            return Ok(Some(Question::Typed {
                expected,
                pattern: pattern.clone(),
                hosts: n,
            }));
        }
        if n > 1 && asking.interactive && !asking.yes {
            return Ok(Some(Question::YesNo { hosts: n }));
        }
        Ok(None)
    }

    /// Lets the plan run if every check passes again and `answer` answers its question (`None`
    /// when there is none). A wrong or missing answer is a refusal.
    pub fn approve(
        self,
        session: &Session,
        asking: Asking,
        answer: Option<&str>,
    ) -> Result<Approved, Refusal> {
        let question = self.question(session, asking)?;
        let confirmed = match &question {
            None => None,
            Some(Question::YesNo { .. }) => match answer.map(str::trim) {
                Some(a) if a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes") => {
                    Some(format!("confirmed for {} hosts", self.hosts.len()))
                }
                _ => return Err(Refusal::new("not confirmed: nothing was run")),
            },
            Some(Question::Typed { expected, .. }) => match answer {
                Some(a) if a == expected => Some(format!("typed {expected}")),
                Some(a) => {
                    return Err(Refusal::new(format!(
                        "typed confirmation did not match (typed {a:?}, expected {expected:?}): \
                         nothing was run"
                    )));
                }
                None => return Err(Refusal::new("no typed confirmation: nothing was run")),
            },
        };
        Ok(Approved {
            plan: self,
            confirmed,
        })
    }
}

/// The words of `text` with shell quotes taken off (`rm '-rf'` → `rm -rf`), for danger matching.
fn unquoted(text: &str) -> String {
    shlex::split(text)
        .map(|w| w.join(" "))
        .unwrap_or_else(|| text.to_owned())
}

/// Writes a refusal (`denied`) with the command and its targets.
pub fn deny(
    log: &AuditLog,
    actor: &Actor,
    plan: &Plan,
    refusal: &Refusal,
) -> Result<(), AuditError> {
    register_secrets(log, &plan.command);
    log.append(
        AuditEntry::new(actor, AuditAction::Denied)
            .run(plan.id.clone())
            .target(plan.host_names().join(","))
            .command(plan.command.shown())
            .reason(format!("exec refused: {}", refusal.reason)),
    )
    .map(|_| ())
}

fn register_secrets(log: &AuditLog, command: &CommandText) {
    for s in &command.secrets {
        log.add_secret(s.clone());
    }
}

/// A plan allowed to run: the only way to [`start`](Approved::start) one.
#[derive(Debug)]
pub struct Approved {
    plan: Plan,
    /// The confirmation given, as recorded (`None`: none was needed).
    confirmed: Option<String>,
}

impl Approved {
    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Writes the `confirm` record (when a question was answered) and one `exec` record per
    /// host, each fsync'd (on a blocking thread), then starts the command on every host (at
    /// most `limits.concurrency` at once). `transports` is indexed like `fleet.hosts`. Nothing
    /// runs if a record cannot be written.
    pub async fn start(
        self,
        log: Arc<AuditLog>,
        actor: &Actor,
        transports: &[Transport],
        limits: Limits,
    ) -> Result<Running, AuditError> {
        let plan = self.plan;
        let hosts: Vec<(usize, String, Transport)> = plan
            .hosts
            .iter()
            .filter_map(|(i, name)| transports.get(*i).map(|t| (*i, name.clone(), t.clone())))
            .collect();
        let records = {
            let path = log.path().to_path_buf();
            let (log, actor, plan) = (log.clone(), actor.clone(), plan.clone());
            let names: Vec<String> = hosts.iter().map(|(_, n, _)| n.clone()).collect();
            let confirmed = self.confirmed;
            tokio::task::spawn_blocking(move || {
                write_before(&log, &actor, &plan, confirmed, &names)
            })
            .await
            .map_err(|e| AuditError::Io {
                path,
                what: "write (the writing task failed)",
                source: std::io::Error::other(e.to_string()),
            })??
        };
        let targets = hosts
            .into_iter()
            .zip(records)
            .map(|((index, name, transport), audit_seq)| fanout::Target {
                index,
                name,
                transport,
                audit_seq,
            })
            .collect::<Vec<_>>();
        tracing::info!(
            command = plan.command.shown(),
            hosts = targets.len(),
            operator = actor.operator,
            "exec started"
        );
        Ok(fanout::spawn(
            targets,
            plan.id.clone(),
            plan.command.sent.clone(),
            plan.command.shown.clone(),
            limits,
            log,
            actor.clone(),
        ))
    }
}

/// The records written before anything runs: `confirm` (when one was given), then one `exec`
/// (phase `before`) per host; returns each host's `exec` seq, in `names` order.
fn write_before(
    log: &AuditLog,
    actor: &Actor,
    plan: &Plan,
    confirmed: Option<String>,
    names: &[String],
) -> Result<Vec<u64>, AuditError> {
    register_secrets(log, &plan.command);
    if let Some(confirmed) = confirmed {
        log.append(
            AuditEntry::new(actor, AuditAction::Confirm)
                .run(plan.id.clone())
                .target(names.join(","))
                .command(plan.command.shown())
                .result(confirmed)
                .reason(match &plan.danger {
                    Some(p) => format!("dangerous ad-hoc command (matches {p:?})"),
                    None => format!("ad-hoc command on {} hosts", names.len()),
                }),
        )?;
    }
    names
        .iter()
        .map(|name| {
            log.append_before(
                AuditEntry::new(actor, AuditAction::Exec)
                    .run(plan.id.clone())
                    .target(name.clone())
                    .command(plan.command.shown()),
            )
            .map(|a| a.seq)
        })
        .collect()
}

/// One host's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostResult {
    /// Inventory index.
    pub index: usize,
    /// Host name.
    pub name: String,
    /// From the start of this host's run to its end (connecting included).
    pub duration: Duration,
    /// What happened.
    pub outcome: HostOutcome,
}

impl HostResult {
    /// The exit status when the command ran and reported one.
    pub fn exit_code(&self) -> Option<u32> {
        match &self.outcome {
            HostOutcome::Ran(r) => r.exit_code,
            HostOutcome::NotRun(_) => None,
        }
    }

    /// Whether this host succeeded (ran and exited 0).
    pub fn ok(&self) -> bool {
        self.exit_code() == Some(0)
    }
}

/// How a host's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostOutcome {
    /// The command ran to its end.
    Ran(Ran),
    /// It did not run, or did not finish.
    NotRun(NotRun),
}

/// A command that ran to its end.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ran {
    /// Exit status; `None` when killed by a signal.
    pub exit_code: Option<u32>,
    /// Stdout, at most the output cap.
    pub stdout: Vec<u8>,
    /// Stderr, at most the output cap.
    pub stderr: Vec<u8>,
    /// Bytes cut by the cap (stdout and stderr together); non-zero means truncated.
    pub dropped_bytes: u64,
}

impl Ran {
    /// Every byte the command wrote, kept or cut.
    pub fn output_bytes(&self) -> u64 {
        self.stdout.len() as u64 + self.stderr.len() as u64 + self.dropped_bytes
    }

    /// SHA-256 (hex) of the kept output: stdout, then stderr. What the audit log records
    /// instead of the output.
    pub fn output_sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(&self.stdout);
        h.update(&self.stderr);
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    }
}

/// Why a host has no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRun {
    /// Which kind.
    pub kind: NotRunKind,
    /// The reason, for people (a timeout says "timed out").
    pub reason: String,
}

/// Kinds of [`NotRun`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRunKind {
    /// The host could not be reached.
    Unreachable,
    /// The command did not finish within the timeout (and was killed).
    TimedOut,
    /// Cancelled by the operator before it finished.
    Cancelled,
    /// Any other failure (a refused channel, …).
    Failed,
}

impl NotRunKind {
    /// The word used in JSON (`status`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::TimedOut => "timed_out",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }
}

#[cfg(test)]
mod tests;

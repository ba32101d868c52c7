//! The one list of health rule names: every rule [`crate::health`] can raise, with its
//! severity, what it means in one line, and what its alert's subject names.
//!
//! Rule names are a public vocabulary: they appear in `status --json` alerts, key the alert
//! lifecycle ([`crate::alerts::AlertKey`]) and are what a runbook's `for` declares it answers.
//! This module owns that list so runbook lint can check a name without evaluating anything; a
//! unit test below fails when `health.rs` raises a rule missing here (or this list names one
//! `health.rs` no longer raises). It must not judge anything itself: the rules live in
//! `health`. Callers: runbook lint and matching ([`crate::runbook`]), `runbook show`, docs.

use crate::health::Severity;
use crate::health::Severity::{Critical, Warning};

/// What an alert's subject names, per rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// Empty: the alert is about the host as a whole.
    Host,
    /// An inventory service name.
    Service,
    /// A mount point (`/data`).
    Mount,
    /// An inventory backup set name.
    Backup,
    /// An inventory certificate name.
    Cert,
    /// An inventory log name.
    Log,
    /// The literal `chain`: the host's chain node.
    Chain,
    /// A consensus group name.
    ConsensusGroup,
    /// Whatever failed to probe: a mount, a backup set, or empty.
    Probe,
    /// A status source: the Prometheus server's URL (redacted).
    Source,
    /// A `[[prometheus.columns]]` name.
    Column,
    /// A listening TCP port number.
    Port,
    /// What part of the security posture could not be read: `sshd`, `ports`, `root_history`.
    Posture,
}

impl Subject {
    /// What the subject is, as a docs or lint message names it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Host => "nothing (the host as a whole)",
            Self::Service => "a service",
            Self::Mount => "a mount point",
            Self::Backup => "a backup set",
            Self::Cert => "a certificate",
            Self::Log => "a log",
            Self::Chain => "`chain`",
            Self::ConsensusGroup => "a consensus group",
            Self::Probe => "a mount, a backup set or nothing",
            Self::Source => "a status source (the Prometheus URL)",
            Self::Column => "a Prometheus column",
            Self::Port => "a listening TCP port",
            Self::Posture => "`sshd`, `ports` or `root_history`",
        }
    }
}

/// One health rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Stable name, as in `status --json`.
    pub name: &'static str,
    /// Severity of its alerts (every rule raises one severity today).
    pub severity: Severity,
    /// What it means, one line.
    pub meaning: &'static str,
    /// What its alert's subject names.
    pub subject: Subject,
}

const fn rule(
    name: &'static str,
    severity: Severity,
    subject: Subject,
    meaning: &'static str,
) -> Rule {
    Rule {
        name,
        severity,
        meaning,
        subject,
    }
}

/// Every rule, grouped as `health.rs` judges them.
pub const RULES: &[Rule] = &[
    rule(
        "host_unreachable",
        Critical,
        Subject::Host,
        "the host could not be reached",
    ),
    rule(
        "host_key_changed",
        Critical,
        Subject::Host,
        "the host's SSH key differs from the one known",
    ),
    rule(
        "host_key_unknown",
        Critical,
        Subject::Host,
        "the host's SSH key is not known yet",
    ),
    rule(
        "ssh_auth_failed",
        Critical,
        Subject::Host,
        "no offered SSH key or agent identity was accepted",
    ),
    rule(
        "service_down",
        Critical,
        Subject::Service,
        "a service is stopped or failed",
    ),
    rule(
        "service_unknown",
        Warning,
        Subject::Service,
        "a service's state could not be determined",
    ),
    rule(
        "disk_full",
        Critical,
        Subject::Mount,
        "a filesystem is past the critical usage threshold",
    ),
    rule(
        "disk_usage",
        Warning,
        Subject::Mount,
        "a filesystem is past the warning usage threshold",
    ),
    rule(
        "disk_filling",
        Warning,
        Subject::Mount,
        "a filesystem fills up within the warning window at its current rate",
    ),
    rule(
        "backup_stale",
        Critical,
        Subject::Backup,
        "the newest backup is older than 1.5 × its interval",
    ),
    rule(
        "backup_shrunk",
        Critical,
        Subject::Backup,
        "the newest backup is much smaller than the one before",
    ),
    rule(
        "backup_missing",
        Critical,
        Subject::Backup,
        "no backup file matches the set's pattern",
    ),
    rule(
        "height_lag",
        Warning,
        Subject::Chain,
        "the node is blocks behind the best of its group",
    ),
    rule(
        "height_stalled",
        Critical,
        Subject::Chain,
        "no new block for longer than the stall threshold",
    ),
    rule(
        "chain_height_unavailable",
        Warning,
        Subject::Chain,
        "the node does not report a height",
    ),
    rule(
        "chain_rpc_error",
        Critical,
        Subject::Chain,
        "the node's JSON-RPC call failed",
    ),
    rule(
        "peers_low",
        Warning,
        Subject::Chain,
        "fewer peers than the minimum",
    ),
    rule(
        "syncing",
        Warning,
        Subject::Chain,
        "the node reports it is syncing",
    ),
    rule(
        "role_mismatch",
        Warning,
        Subject::Chain,
        "the chain lists the node in another role than the inventory",
    ),
    rule(
        "cert_expired",
        Critical,
        Subject::Cert,
        "a certificate has expired",
    ),
    rule(
        "cert_expiring",
        Warning,
        Subject::Cert,
        "a certificate expires within the warning window",
    ),
    rule(
        "cert_unreadable",
        Warning,
        Subject::Cert,
        "a certificate could not be read",
    ),
    rule(
        "log_errors",
        Warning,
        Subject::Log,
        "error lines in a log past the warning count",
    ),
    rule(
        "log_unreadable",
        Warning,
        Subject::Log,
        "a log could not be read",
    ),
    rule(
        "probe_error",
        Warning,
        Subject::Probe,
        "part of the host could not be probed",
    ),
    rule(
        "source_unavailable",
        Warning,
        Subject::Source,
        "the Prometheus server the host's status is read from did not answer (its cells age)",
    ),
    rule(
        "column_warning",
        Warning,
        Subject::Column,
        "a Prometheus column's value is at or above its `warn`",
    ),
    rule(
        "column_critical",
        Critical,
        Subject::Column,
        "a Prometheus column's value is at or above its `crit`",
    ),
    rule(
        "posture_password_login",
        Critical,
        Subject::Host,
        "sshd allows password login: root passwords can be brute-forced (Mixin §2.1: keys only)",
    ),
    rule(
        "posture_empty_passwords",
        Critical,
        Subject::Host,
        "sshd permits empty passwords (Mixin §2.1: PermitEmptyPasswords no)",
    ),
    rule(
        "posture_root_login",
        Warning,
        Subject::Host,
        "sshd lets root log in (Mixin §2.1: PermitRootLogin no, log in as a user)",
    ),
    rule(
        "posture_pubkey_off",
        Warning,
        Subject::Host,
        "sshd has public key authentication off (Mixin §2.1: PubkeyAuthentication yes)",
    ),
    rule(
        "posture_kbd_interactive",
        Warning,
        Subject::Host,
        "sshd allows keyboard-interactive login, a password by another prompt (Mixin §2.1)",
    ),
    rule(
        "posture_default_port",
        Warning,
        Subject::Host,
        "sshd listens on port 22, the first one brute-forced (Mixin §2.1: a non-standard port)",
    ),
    rule(
        "posture_unexpected_port",
        Warning,
        Subject::Port,
        "a TCP port listens that is not expected (Mixin §2.2: only SSH, 80 and 443)",
    ),
    rule(
        "posture_root_history",
        Warning,
        Subject::Host,
        "root's shell history is kept and would reveal secrets (Mixin §2.4: clear it at login)",
    ),
    rule(
        "posture_unreadable",
        Warning,
        Subject::Posture,
        "part of the security posture could not be read (sshd -T needs root)",
    ),
    rule(
        "consensus_lost",
        Critical,
        Subject::ConsensusGroup,
        "more than F consensus members are down: no blocks",
    ),
    rule(
        "consensus_at_risk",
        Critical,
        Subject::ConsensusGroup,
        "exactly F consensus members are down: one more stalls the group",
    ),
];

/// The rule called `name`.
pub fn find(name: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.name == name)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Lowercase string literals of `health.rs` that are not rule names: statuses, severities,
    /// the `chain` subject, node roles, service states. A new literal there that is neither a
    /// rule here nor listed below fails the test, so a new rule cannot slip past the list.
    const NOT_RULES: &[&str] = &[
        "ok",
        "unknown",
        "warning",
        "critical",
        "chain",
        "consensus",
        "observer",
        "free",
        "stopped",
        "failed",
    ];

    /// Every `"lowercase_literal"` in the code (not the comments, not the tests) of `health.rs`.
    fn health_literals() -> BTreeSet<String> {
        let source = include_str!("health.rs");
        let code = source.split("#[cfg(test)]").next().unwrap_or(source);
        let literal = regex::Regex::new(r#""([a-z][a-z_]*)""#).expect("regex");
        code.lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .flat_map(|l| literal.captures_iter(l).map(|c| c[1].to_owned()))
            .filter(|l| !NOT_RULES.contains(&l.as_str()))
            .collect()
    }

    #[test]
    fn every_rule_health_raises_is_in_the_list_and_back() {
        let raised = health_literals();
        let listed: BTreeSet<String> = RULES.iter().map(|r| r.name.to_owned()).collect();
        let unlisted: Vec<&String> = raised.difference(&listed).collect();
        assert!(
            unlisted.is_empty(),
            "health.rs raises rules missing from src/rules.rs (or has a new literal that is \
             not a rule: add it to NOT_RULES): {unlisted:?}"
        );
        let gone: Vec<&String> = listed.difference(&raised).collect();
        assert!(
            gone.is_empty(),
            "src/rules.rs lists rules health.rs never raises: {gone:?}"
        );
    }

    #[test]
    fn names_are_unique_and_found() {
        let names: BTreeSet<&str> = RULES.iter().map(|r| r.name).collect();
        assert_eq!(names.len(), RULES.len());
        assert_eq!(
            find("service_down").map(|r| r.subject),
            Some(Subject::Service)
        );
        assert_eq!(find("chain_stalled"), None);
    }
}

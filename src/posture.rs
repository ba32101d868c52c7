//! Security posture: what the Mixin operations manual (§2.1 SSH, §2.2 open ports, §2.4 shell
//! history) asks of every host, as checks judged against what the posture probe read.
//!
//! This module owns the vocabulary (the [`Check`]s and their keys, as in the inventory's
//! `[posture] severity`, `status --json` and the Posture pane), the inventory settings
//! ([`PostureSettings`]), the readings ([`PostureObs`]) and the pure judgement of one host
//! ([`judge`]). It must not run anything (the shell text and the parsers of its output are in
//! `probe::posture`) nor raise alerts (each deviation becomes a rule verdict in `health`,
//! whose names and the manual's reasons are in `rules`).
//!
//! Callers: `health` (the verdicts), `report` (the `posture` section of `status --json`),
//! `view` (the host pane's posture lines and the Posture pane's matrix).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::health::Severity;
use crate::observation::Metric;

/// One thing the manual asks of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// `PasswordAuthentication no` (§2.1).
    PasswordLogin,
    /// `PermitEmptyPasswords no` (§2.1).
    EmptyPasswords,
    /// `PermitRootLogin no` (§2.1).
    RootLogin,
    /// `PubkeyAuthentication yes` (§2.1).
    Pubkey,
    /// `KbdInteractiveAuthentication no`: a password asked by another prompt is still a
    /// password login.
    KbdInteractive,
    /// sshd not on the default port 22 (§2.1: a non-standard port, above 10000 suggested).
    SshPort,
    /// Only SSH, 80 and 443 listening (§2.2), or the inventory's `expected_ports`.
    Ports,
    /// Root's shell history not kept (§2.4: `history -c` and `rm -f ~/.bash_history` in
    /// `/etc/profile`).
    RootHistory,
}

impl Check {
    /// Every check, in pane column order.
    pub const ALL: [Check; 8] = [
        Check::PasswordLogin,
        Check::EmptyPasswords,
        Check::RootLogin,
        Check::Pubkey,
        Check::KbdInteractive,
        Check::SshPort,
        Check::Ports,
        Check::RootHistory,
    ];

    /// Its key in the inventory (`severity.password_login`) and in `status --json`.
    pub fn key(self) -> &'static str {
        match self {
            Check::PasswordLogin => "password_login",
            Check::EmptyPasswords => "empty_passwords",
            Check::RootLogin => "root_login",
            Check::Pubkey => "pubkey",
            Check::KbdInteractive => "kbd_interactive",
            Check::SshPort => "ssh_port",
            Check::Ports => "ports",
            Check::RootHistory => "root_history",
        }
    }

    /// A short column title for the Posture pane.
    pub fn column(self) -> &'static str {
        match self {
            Check::PasswordLogin => "PASSWORD",
            Check::EmptyPasswords => "EMPTY PW",
            Check::RootLogin => "ROOT",
            Check::Pubkey => "PUBKEY",
            Check::KbdInteractive => "KBD-INT",
            Check::SshPort => "SSH PORT",
            Check::Ports => "PORTS",
            Check::RootHistory => "HISTORY",
        }
    }

    /// The check whose inventory key is `key`.
    pub fn from_key(key: &str) -> Option<Check> {
        Check::ALL.into_iter().find(|c| c.key() == key)
    }

    /// What it reads: `sshd`, `ports` or `root_history` (the subject of an "unreadable"
    /// verdict).
    pub fn reading(self) -> &'static str {
        match self {
            Check::Ports => "ports",
            Check::RootHistory => "root_history",
            _ => "sshd",
        }
    }

    /// Why the manual asks for it, one clause.
    pub fn reason(self) -> &'static str {
        match self {
            Check::PasswordLogin => {
                "password login lets root passwords be brute-forced; use keys only (Mixin §2.1)"
            }
            Check::EmptyPasswords => "an account with an empty password is open (Mixin §2.1)",
            Check::RootLogin => "root may log in over SSH; log in as a user (Mixin §2.1)",
            Check::Pubkey => "public key authentication is off (Mixin §2.1)",
            Check::KbdInteractive => {
                "keyboard-interactive authentication still asks for passwords (Mixin §2.1)"
            }
            Check::SshPort => {
                "port 22 is the first one brute-forced; use a non-standard port (Mixin §2.1)"
            }
            Check::Ports => "only SSH, 80 and 443 should be open (Mixin §2.2)",
            Check::RootHistory => {
                "a broken-into root's history reveals secrets; clear it at login (Mixin §2.4)"
            }
        }
    }

    /// Severity of its verdict unless the inventory says otherwise.
    pub fn default_severity(self) -> Severity {
        match self {
            Check::PasswordLogin | Check::EmptyPasswords => Severity::Critical,
            _ => Severity::Warning,
        }
    }
}

/// The inventory key of the "could not be read" verdict's severity (`severity.unreadable`).
pub const UNREADABLE_KEY: &str = "unreadable";

/// Ports the manual expects open besides SSH (§2.2: "SSH, 80 and 443 only").
pub const WEB_PORTS: [u16; 2] = [80, 443];

/// A host's `[posture]` settings, resolved from the top level, its profile and its own table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PostureSettings {
    /// Whether the posture is read on this host (a `[posture]` table anywhere above it turns
    /// it on; `enabled = false` turns it off).
    pub enabled: bool,
    /// `sshd_config` of a non-default install, read with `sshd -T -f PATH`; `None`: sshd's own.
    pub sshd_config: Option<String>,
    /// Ports allowed to listen; `None`: sshd's port(s), 80 and 443.
    pub expected_ports: Option<Vec<u16>>,
    /// Whether listeners on loopback addresses count (they are not reachable from outside,
    /// so by default they do not).
    pub include_loopback: bool,
    /// Severity per check, overriding [`Check::default_severity`]; `None` = off.
    pub severity: BTreeMap<Check, Option<Severity>>,
    /// Severity of `posture_unreadable`; `None` in the map's sense = off. Default warning.
    pub unreadable_severity: Option<Option<Severity>>,
}

impl PostureSettings {
    /// The severity of `check`'s verdict, `None` when turned off.
    pub fn severity(&self, check: Check) -> Option<Severity> {
        self.severity
            .get(&check)
            .copied()
            .unwrap_or(Some(check.default_severity()))
    }

    /// The severity of the "could not be read" verdict, `None` when turned off.
    pub fn unreadable(&self) -> Option<Severity> {
        self.unreadable_severity.unwrap_or(Some(Severity::Warning))
    }
}

/// What the posture probe read on one host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostureObs {
    /// The effective sshd settings (`sshd -T`); unavailable ("not readable") when sshd
    /// refused to print them for this login.
    pub sshd: Metric<SshdSettings>,
    /// Listening TCP sockets (`ss -ltn`, or `/proc/net/tcp{,6}` without ss).
    pub listening: Metric<Vec<Listener>>,
    /// Root's shell history and the profile lines that clear it.
    pub root_history: Metric<HistoryReading>,
}

/// The sshd settings the manual names, as `sshd -T` prints them (lowercase values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SshdSettings {
    /// `port` lines.
    pub ports: Vec<u16>,
    /// `passwordauthentication`.
    pub password_authentication: String,
    /// `permitemptypasswords`.
    pub permit_empty_passwords: String,
    /// `permitrootlogin`.
    pub permit_root_login: String,
    /// `pubkeyauthentication`.
    pub pubkey_authentication: String,
    /// `kbdinteractiveauthentication` (`challengeresponseauthentication` before OpenSSH 8.7).
    pub kbd_interactive_authentication: Option<String>,
}

/// One listening TCP socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    /// Local address as printed (`0.0.0.0`, `::`, `127.0.0.1`).
    pub address: String,
    /// Local port.
    pub port: u16,
}

impl Listener {
    /// Whether it listens on a loopback address only.
    pub fn loopback(&self) -> bool {
        let a = self.address.trim_matches(['[', ']']);
        let a = a.split('%').next().unwrap_or(a);
        a.starts_with("127.") || a == "::1" || a.starts_with("::ffff:127.") || a == "localhost"
    }
}

/// Root's shell history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryReading {
    /// The home whose `.bash_history` was looked at (`$HOME` when logged in as root, else
    /// `/root`).
    pub home: String,
    /// Profile lines that clear or disable history, `FILE:LINE: text`.
    pub clearing: Vec<String>,
    /// The history file itself.
    pub file: HistoryFile,
}

/// Root's `~/.bash_history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum HistoryFile {
    /// Present with this many bytes.
    Present {
        /// Size.
        bytes: u64,
    },
    /// Present and empty.
    Empty,
    /// Not there.
    Absent,
    /// The login cannot look into root's home.
    Unreadable,
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckState {
    /// As the manual asks.
    Ok,
    /// Not as the manual asks.
    Deviation,
    /// Could not be read (never guessed).
    Unreadable,
}

impl CheckState {
    /// The Posture pane's cell: ✓, ✗ or ?.
    pub fn mark(self) -> &'static str {
        match self {
            CheckState::Ok => "✓",
            CheckState::Deviation => "✗",
            CheckState::Unreadable => "?",
        }
    }
}

/// One check judged on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// Which check.
    pub check: Check,
    /// Its outcome.
    pub state: CheckState,
    /// What was read, short (`yes`, `22`, `8080, 9000`, `1234 bytes`).
    pub value: String,
    /// One sentence for the operator.
    pub detail: String,
    /// For [`Check::Ports`]: the unexpected ports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unexpected: Vec<u16>,
}

/// Judges every [`Check`] of one host from `obs`. `ssh_port` is the port fleetdeck reaches
/// sshd on, always counted as expected (an sshd that could not be read still listens there).
pub fn judge(obs: &PostureObs, settings: &PostureSettings, ssh_port: u16) -> Vec<CheckResult> {
    let mut out = Vec::with_capacity(Check::ALL.len());
    for check in Check::ALL {
        out.push(match check {
            Check::Ports => judge_ports(obs, settings, ssh_port),
            Check::RootHistory => judge_history(&obs.root_history),
            _ => judge_sshd(check, &obs.sshd),
        });
    }
    out
}

fn result(check: Check, state: CheckState, value: String, detail: String) -> CheckResult {
    CheckResult {
        check,
        state,
        value,
        detail,
        unexpected: Vec::new(),
    }
}

fn unreadable_why<T>(m: &Metric<T>) -> String {
    match m {
        Metric::Value(_) => String::new(),
        Metric::Unavailable(why) | Metric::Error(why) => why.clone(),
    }
}

fn judge_sshd(check: Check, sshd: &Metric<SshdSettings>) -> CheckResult {
    let Metric::Value(s) = sshd else {
        return result(
            check,
            CheckState::Unreadable,
            "?".into(),
            format!("sshd settings not readable: {}", unreadable_why(sshd)),
        );
    };
    let (keyword, value, ok): (&str, Option<&str>, fn(&str) -> bool) = match check {
        Check::PasswordLogin => (
            "PasswordAuthentication",
            Some(&s.password_authentication),
            |v| v == "no",
        ),
        Check::EmptyPasswords => (
            "PermitEmptyPasswords",
            Some(&s.permit_empty_passwords),
            |v| v == "no",
        ),
        Check::RootLogin => ("PermitRootLogin", Some(&s.permit_root_login), |v| v == "no"),
        Check::Pubkey => (
            "PubkeyAuthentication",
            Some(&s.pubkey_authentication),
            |v| v == "yes",
        ),
        Check::KbdInteractive => (
            "KbdInteractiveAuthentication",
            s.kbd_interactive_authentication.as_deref(),
            |v| v == "no",
        ),
        Check::SshPort => {
            let ports: Vec<String> = s.ports.iter().map(u16::to_string).collect();
            let value = ports.join(", ");
            return if s.ports.contains(&22) {
                result(
                    check,
                    CheckState::Deviation,
                    value,
                    "sshd listens on the default port 22, the first one brute-forced".into(),
                )
            } else {
                result(check, CheckState::Ok, value, "sshd is off port 22".into())
            };
        }
        // `judge` never sends these here; answering "unreadable" keeps this total.
        Check::Ports | Check::RootHistory => (check.key(), None, |_| true),
    };
    let Some(value) = value else {
        return result(
            check,
            CheckState::Unreadable,
            "?".into(),
            format!("sshd -T did not print {keyword}"),
        );
    };
    let state = if ok(value) {
        CheckState::Ok
    } else {
        CheckState::Deviation
    };
    result(
        check,
        state,
        value.to_string(),
        format!("{keyword} {value}"),
    )
}

/// The ports allowed to listen on a host: the inventory's list, or sshd's port(s) (and the
/// port fleetdeck reaches it on) plus 80 and 443.
pub fn expected_ports(obs: &PostureObs, settings: &PostureSettings, ssh_port: u16) -> Vec<u16> {
    if let Some(p) = &settings.expected_ports {
        return p.clone();
    }
    let mut ports = vec![ssh_port];
    if let Metric::Value(s) = &obs.sshd {
        ports.extend(&s.ports);
    }
    ports.extend(WEB_PORTS);
    ports.sort_unstable();
    ports.dedup();
    ports
}

fn judge_ports(obs: &PostureObs, settings: &PostureSettings, ssh_port: u16) -> CheckResult {
    let Metric::Value(listeners) = &obs.listening else {
        return result(
            Check::Ports,
            CheckState::Unreadable,
            "?".into(),
            format!(
                "listening ports not readable: {}",
                unreadable_why(&obs.listening)
            ),
        );
    };
    let expected = expected_ports(obs, settings, ssh_port);
    let mut unexpected: Vec<u16> = listeners
        .iter()
        .filter(|l| settings.include_loopback || !l.loopback())
        .map(|l| l.port)
        .filter(|p| !expected.contains(p))
        .collect();
    unexpected.sort_unstable();
    unexpected.dedup();
    let list = |ps: &[u16]| ps.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
    if unexpected.is_empty() {
        result(
            Check::Ports,
            CheckState::Ok,
            "expected only".into(),
            format!("only expected ports listen ({})", list(&expected)),
        )
    } else {
        CheckResult {
            check: Check::Ports,
            state: CheckState::Deviation,
            value: list(&unexpected),
            detail: format!(
                "unexpected listening ports {} (expected {})",
                list(&unexpected),
                list(&expected)
            ),
            unexpected,
        }
    }
}

fn judge_history(h: &Metric<HistoryReading>) -> CheckResult {
    let Metric::Value(h) = h else {
        return result(
            Check::RootHistory,
            CheckState::Unreadable,
            "?".into(),
            format!("root's history not readable: {}", unreadable_why(h)),
        );
    };
    let file = format!("{}/.bash_history", h.home.trim_end_matches('/'));
    match (h.file, h.clearing.first()) {
        (HistoryFile::Present { bytes }, _) => CheckResult {
            check: Check::RootHistory,
            state: CheckState::Deviation,
            value: format!("{bytes} bytes"),
            detail: format!("{file} keeps root's commands ({bytes} bytes)"),
            unexpected: Vec::new(),
        },
        (_, Some(line)) => result(
            Check::RootHistory,
            CheckState::Ok,
            "cleared".into(),
            format!("cleared by {line}"),
        ),
        (HistoryFile::Unreadable, None) => result(
            Check::RootHistory,
            CheckState::Unreadable,
            "?".into(),
            format!("no system profile clears history and {file} cannot be looked at"),
        ),
        (HistoryFile::Empty | HistoryFile::Absent, None) => result(
            Check::RootHistory,
            CheckState::Deviation,
            "kept".into(),
            "no profile clears root's history (history -c, rm -f ~/.bash_history, \
             HISTFILE=/dev/null or HISTSIZE=0)"
                .into(),
        ),
    }
}

/// The `posture` section of a host in `status --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostureReport {
    /// Seconds since the posture was read.
    pub age_seconds: u64,
    /// Every check by its key (`password_login`, …): `ok`, `deviation` or `unreadable`.
    pub checks: BTreeMap<&'static str, CheckReport>,
    /// The sshd settings read, `null` when not readable (see `unavailable.sshd`).
    pub sshd: Option<SshdSettings>,
    /// Listening TCP sockets, `null` when not readable.
    pub listening: Option<Vec<Listener>>,
    /// The ports allowed to listen.
    pub expected_ports: Vec<u16>,
    /// Root's history reading, `null` when not readable.
    pub root_history: Option<HistoryReading>,
    /// Why a reading is `null`, by reading name.
    pub unavailable: BTreeMap<&'static str, String>,
}

/// One check in [`PostureReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// `ok`, `deviation` or `unreadable`.
    pub state: CheckState,
    /// What was read, short.
    pub value: String,
    /// One sentence.
    pub detail: String,
    /// For `ports`: the unexpected ports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unexpected: Vec<u16>,
}

/// The port fleetdeck reaches `host`'s sshd on.
pub fn ssh_port(host: &crate::inventory::Host) -> u16 {
    host.port.unwrap_or(22)
}

/// The `posture` section for `host`, `None` when its posture is off or not read yet.
pub fn report(
    host: &crate::inventory::Host,
    hs: &crate::state::HostState,
    now: std::time::SystemTime,
) -> Option<PostureReport> {
    if !host.posture.enabled {
        return None;
    }
    let t = hs.posture.as_ref()?;
    let obs = &t.value;
    let port = ssh_port(host);
    let checks = judge(obs, &host.posture, port)
        .into_iter()
        .map(|r| {
            (
                r.check.key(),
                CheckReport {
                    state: r.state,
                    value: r.value,
                    detail: r.detail,
                    unexpected: r.unexpected,
                },
            )
        })
        .collect();
    let mut unavailable = BTreeMap::new();
    Some(PostureReport {
        age_seconds: now.duration_since(t.at).map_or(0, |d| d.as_secs()),
        checks,
        sshd: obs.sshd.value_or_note("sshd", &mut unavailable),
        listening: obs.listening.value_or_note("listening", &mut unavailable),
        expected_ports: expected_ports(obs, &host.posture, port),
        root_history: obs
            .root_history
            .value_or_note("root_history", &mut unavailable),
        unavailable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sshd(password: &str, root: &str, port: u16) -> SshdSettings {
        SshdSettings {
            ports: vec![port],
            password_authentication: password.into(),
            permit_empty_passwords: "no".into(),
            permit_root_login: root.into(),
            pubkey_authentication: "yes".into(),
            kbd_interactive_authentication: Some("no".into()),
        }
    }

    fn listen(address: &str, port: u16) -> Listener {
        Listener {
            address: address.into(),
            port,
        }
    }

    fn obs(s: SshdSettings, l: Vec<Listener>, file: HistoryFile, clearing: &[&str]) -> PostureObs {
        PostureObs {
            sshd: Metric::Value(s),
            listening: Metric::Value(l),
            root_history: Metric::Value(HistoryReading {
                home: "/root".into(),
                clearing: clearing.iter().map(|s| s.to_string()).collect(),
                file,
            }),
        }
    }

    fn state(r: &[CheckResult], c: Check) -> CheckState {
        r.iter().find(|x| x.check == c).map(|x| x.state).unwrap()
    }

    #[test]
    fn a_hardened_host_passes_everything() {
        let o = obs(
            sshd("no", "no", 22022),
            vec![
                listen("0.0.0.0", 22022),
                listen("[::]", 443),
                listen("127.0.0.1", 5432),
            ],
            HistoryFile::Absent,
            &["/etc/profile:30: history -c"],
        );
        let r = judge(&o, &PostureSettings::default(), 22022);
        for c in &r {
            assert_eq!(c.state, CheckState::Ok, "{c:?}");
        }
    }

    #[test]
    fn a_weak_host_deviates_with_the_reason() {
        let o = obs(
            sshd("yes", "prohibit-password", 22),
            vec![listen("0.0.0.0", 22), listen("0.0.0.0", 8080)],
            HistoryFile::Present { bytes: 120 },
            &["/etc/profile:30: history -c"],
        );
        let r = judge(&o, &PostureSettings::default(), 22);
        assert_eq!(state(&r, Check::PasswordLogin), CheckState::Deviation);
        assert_eq!(state(&r, Check::RootLogin), CheckState::Deviation);
        assert_eq!(state(&r, Check::SshPort), CheckState::Deviation);
        assert_eq!(state(&r, Check::EmptyPasswords), CheckState::Ok);
        let ports = r.iter().find(|x| x.check == Check::Ports).unwrap();
        assert_eq!(ports.unexpected, vec![8080]);
        assert!(ports.detail.contains("expected 22, 80, 443"), "{ports:?}");
        assert_eq!(state(&r, Check::RootHistory), CheckState::Deviation);
    }

    #[test]
    fn loopback_counts_only_when_asked_and_expected_ports_replace_the_default() {
        let o = obs(
            sshd("no", "no", 2222),
            vec![listen("127.0.0.1", 9000), listen("[::1]", 9001)],
            HistoryFile::Absent,
            &[],
        );
        let mut s = PostureSettings::default();
        assert_eq!(state(&judge(&o, &s, 2222), Check::Ports), CheckState::Ok);
        s.include_loopback = true;
        let r = judge(&o, &s, 2222);
        let ports = r.iter().find(|x| x.check == Check::Ports).unwrap();
        assert_eq!(ports.unexpected, vec![9000, 9001]);
        s.expected_ports = Some(vec![9000, 9001]);
        assert_eq!(state(&judge(&o, &s, 2222), Check::Ports), CheckState::Ok);
    }

    #[test]
    fn unreadable_is_never_guessed() {
        let o = PostureObs {
            sshd: Metric::Unavailable("not readable: sshd -T needs root".into()),
            listening: Metric::Error("ss: exit 1".into()),
            root_history: Metric::Value(HistoryReading {
                home: "/root".into(),
                clearing: vec![],
                file: HistoryFile::Unreadable,
            }),
        };
        for c in judge(&o, &PostureSettings::default(), 22) {
            assert_eq!(c.state, CheckState::Unreadable, "{c:?}");
        }
    }

    #[test]
    fn severities_default_and_override() {
        let mut s = PostureSettings::default();
        assert_eq!(s.severity(Check::PasswordLogin), Some(Severity::Critical));
        assert_eq!(s.severity(Check::RootLogin), Some(Severity::Warning));
        s.severity.insert(Check::RootLogin, None);
        assert_eq!(s.severity(Check::RootLogin), None);
        assert_eq!(s.unreadable(), Some(Severity::Warning));
        for c in Check::ALL {
            assert_eq!(Check::from_key(c.key()), Some(c));
        }
    }
}

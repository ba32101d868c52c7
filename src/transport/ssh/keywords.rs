//! Every ssh_config keyword and what fleetdeck does with it: honoured, not honoured (then it is
//! listed by `fleetdeck config check` and in the log, never silently ignored), or of no effect
//! on a non-interactive, key-authenticated connection. docs/ssh-config.md is this table in
//! prose; a test keeps the two in step.

use super::ssh_config::HostParams;

/// What fleetdeck does with a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Acted on as OpenSSH does (details in docs/ssh-config.md).
    Honoured,
    /// OpenSSH would act on it and fleetdeck does not: listed for every host it applies to.
    /// Values in [`Keyword::harmless`] (usually the default) are of no effect instead.
    Listed,
    /// Changes nothing for fleetdeck's connections (interactive-only, cosmetic, deprecated).
    NoEffect,
}

/// One keyword of ssh_config(5).
#[derive(Debug, Clone, Copy)]
pub struct Keyword {
    /// As spelled in ssh_config(5).
    pub name: &'static str,
    /// What fleetdeck does with it.
    pub support: Support,
    /// For [`Support::Listed`]: lowercase first arguments that make the line harmless
    /// (e.g. `Compression no`): not listed.
    pub harmless: &'static [&'static str],
    /// Why, in a few words (shown by `config check` for listed keywords).
    pub why: &'static str,
}

use Support::{Honoured, Listed, NoEffect};

const fn k(
    name: &'static str,
    support: Support,
    harmless: &'static [&'static str],
    why: &'static str,
) -> Keyword {
    Keyword {
        name,
        support,
        harmless,
        why,
    }
}

const NO: &[&str] = &["no"];

/// The keywords of ssh_config(5) (OpenSSH 9.x and 10.x, plus Debian's GSSAPI key exchange ones).
#[rustfmt::skip]
pub const KEYWORDS: &[Keyword] = &[
    k("AddKeysToAgent", NoEffect, &[], "changes the agent, not the connection"),
    k("AddressFamily", Listed, &["any"], "fleetdeck uses whatever address family the name resolves to"),
    k("BatchMode", NoEffect, &[], "fleetdeck never prompts during a connection"),
    k("BindAddress", Listed, &[], "the local source address is not chosen"),
    k("BindInterface", Listed, &[], "the local interface is not chosen"),
    k("CanonicalDomains", NoEffect, &[], "only used with CanonicalizeHostname, which is listed"),
    k("CanonicalizeFallbackLocal", NoEffect, &[], "only used with CanonicalizeHostname, which is listed"),
    k("CanonicalizeHostname", Listed, NO, "host names are not canonicalized"),
    k("CanonicalizeMaxDots", NoEffect, &[], "only used with CanonicalizeHostname, which is listed"),
    k("CanonicalizePermittedCNAMEs", NoEffect, &[], "only used with CanonicalizeHostname, which is listed"),
    k("CASignatureAlgorithms", Listed, &[], "russh's algorithm choice is used"),
    k("CertificateFile", Honoured, &[], ""),
    k("ChallengeResponseAuthentication", NoEffect, &[], "fleetdeck authenticates with keys only"),
    k("ChannelTimeout", NoEffect, &[], "fleetdeck closes its own channels"),
    k("CheckHostIP", Listed, NO, "the host's IP address is not checked in known_hosts"),
    k("Ciphers", Listed, &[], "russh's cipher choice is used"),
    k("ClearAllForwardings", NoEffect, &[], "fleetdeck sets up no forwardings"),
    k("Compression", Listed, NO, "no compression"),
    k("ConnectionAttempts", Listed, &["1"], "one attempt per connect; the backoff retries later"),
    k("ConnectTimeout", Honoured, &[], ""),
    k("ControlMaster", Listed, NO, "fleetdeck keeps its own connection and never shares an OpenSSH master"),
    k("ControlPath", Listed, &["none"], "fleetdeck keeps its own connection and never shares an OpenSSH master"),
    k("ControlPersist", NoEffect, &[], "only used with ControlMaster, which is listed"),
    k("DynamicForward", Listed, &[], "fleetdeck sets up no forwardings"),
    k("EnableEscapeCommandline", NoEffect, &[], "interactive sessions only"),
    k("EnableSSHKeysign", NoEffect, &[], "only used with HostbasedAuthentication, which is listed"),
    k("EscapeChar", NoEffect, &[], "interactive sessions only"),
    k("ExitOnForwardFailure", NoEffect, &[], "fleetdeck sets up no forwardings"),
    k("FingerprintHash", NoEffect, &[], "fleetdeck prints SHA256 fingerprints"),
    k("ForkAfterAuthentication", NoEffect, &[], "command-line behaviour of ssh"),
    k("ForwardAgent", Listed, NO, "the agent is not forwarded"),
    k("ForwardX11", Listed, NO, "X11 is not forwarded"),
    k("ForwardX11Timeout", NoEffect, &[], "only used with ForwardX11, which is listed"),
    k("ForwardX11Trusted", NoEffect, &[], "only used with ForwardX11, which is listed"),
    k("GatewayPorts", NoEffect, &[], "fleetdeck sets up no forwardings"),
    k("GlobalKnownHostsFile", Honoured, &[], ""),
    k("GSSAPIAuthentication", Listed, NO, "no GSSAPI (Kerberos) authentication"),
    k("GSSAPIClientIdentity", NoEffect, &[], "only used with GSSAPIAuthentication, which is listed"),
    k("GSSAPIDelegateCredentials", NoEffect, &[], "only used with GSSAPIAuthentication, which is listed"),
    k("GSSAPIKexAlgorithms", NoEffect, &[], "only used with GSSAPIKeyExchange, which is listed"),
    k("GSSAPIKeyExchange", Listed, NO, "no GSSAPI key exchange"),
    k("GSSAPIRenewalForcesRekey", NoEffect, &[], "only used with GSSAPIKeyExchange, which is listed"),
    k("GSSAPIServerIdentity", NoEffect, &[], "only used with GSSAPIAuthentication, which is listed"),
    k("GSSAPITrustDns", NoEffect, &[], "only used with GSSAPIAuthentication, which is listed"),
    k("HashKnownHosts", Listed, NO, "accept-new records host names in clear text"),
    k("Host", Honoured, &[], ""),
    k("HostbasedAcceptedAlgorithms", NoEffect, &[], "only used with HostbasedAuthentication, which is listed"),
    k("HostbasedAuthentication", Listed, NO, "no host-based authentication"),
    k("HostbasedKeyTypes", NoEffect, &[], "only used with HostbasedAuthentication, which is listed"),
    k("HostKeyAlgorithms", Listed, &[], "russh's host key algorithm choice is used"),
    k("HostKeyAlias", Listed, &[], "known_hosts is searched for the real host name and port"),
    k("HostName", Honoured, &[], ""),
    k("IdentitiesOnly", Honoured, &[], ""),
    k("IdentityAgent", Honoured, &[], ""),
    k("IdentityFile", Honoured, &[], ""),
    k("IgnoreUnknown", Honoured, &[], ""),
    k("Include", Honoured, &[], ""),
    k("IPQoS", NoEffect, &[], "packet marking only"),
    k("KbdInteractiveAuthentication", Listed, NO, "fleetdeck authenticates with keys only"),
    k("KbdInteractiveDevices", NoEffect, &[], "only used with KbdInteractiveAuthentication, which is listed"),
    k("KexAlgorithms", Listed, &[], "russh's key exchange choice is used"),
    k("KnownHostsCommand", Listed, &[], "the command is not run; only known_hosts files are read"),
    k("LocalCommand", NoEffect, &[], "only used with PermitLocalCommand, which is listed"),
    k("LocalForward", Listed, &[], "fleetdeck sets up no forwardings"),
    k("LogLevel", NoEffect, &[], "fleetdeck has its own log"),
    k("LogVerbose", NoEffect, &[], "fleetdeck has its own log"),
    k("MACs", Listed, &[], "russh's MAC choice is used"),
    k("Match", Honoured, &[], ""),
    k("NoHostAuthenticationForLocalhost", Listed, NO, "never weakens the fleet's host key policy"),
    k("NumberOfPasswordPrompts", NoEffect, &[], "fleetdeck never asks for passwords"),
    k("ObscureKeystrokeTiming", NoEffect, &[], "interactive sessions only"),
    k("PasswordAuthentication", Listed, NO, "fleetdeck authenticates with keys only"),
    k("PermitLocalCommand", Listed, NO, "LocalCommand is not run"),
    k("PermitRemoteOpen", NoEffect, &[], "fleetdeck sets up no forwardings"),
    k("PKCS11Provider", Listed, &["none"], "no PKCS#11 tokens; keys must be files or in the agent"),
    k("Port", Honoured, &[], ""),
    k("PreferredAuthentications", Listed, &["publickey"], "fleetdeck only tries public keys"),
    k("ProxyCommand", Honoured, &[], ""),
    k("ProxyJump", Honoured, &[], ""),
    k("ProxyUseFdpass", Listed, NO, "the ProxyCommand's stdin/stdout carry the stream"),
    k("PubkeyAcceptedAlgorithms", Listed, &[], "russh's signature algorithm choice is used"),
    k("PubkeyAcceptedKeyTypes", Listed, &[], "russh's signature algorithm choice is used"),
    k("PubkeyAuthentication", Listed, &["yes", "unbound", "host-bound"], "fleetdeck always authenticates with keys"),
    k("RefuseConnection", Listed, NO, "fleetdeck connects anyway"),
    k("RekeyLimit", Listed, &[], "russh's rekeying limits are used"),
    k("RemoteCommand", NoEffect, &[], "fleetdeck runs its own commands (ssh refuses a command with it too)"),
    k("RemoteForward", Listed, &[], "fleetdeck sets up no forwardings"),
    k("RequestTTY", NoEffect, &[], "fleetdeck never asks for a terminal"),
    k("RequiredRSASize", Listed, &[], "RSA keys are not checked against a minimum size"),
    k("RevokedHostKeys", Listed, &["none"], "only @revoked lines of known_hosts are checked"),
    k("SecurityKeyProvider", Listed, &["internal"], "no FIDO security keys"),
    k("SendEnv", Listed, &[], "no environment is sent"),
    k("ServerAliveCountMax", Honoured, &[], ""),
    k("ServerAliveInterval", Honoured, &[], ""),
    k("SessionType", NoEffect, &[], "fleetdeck opens its own sessions"),
    k("SetEnv", Listed, &[], "no environment is sent"),
    k("StdinNull", NoEffect, &[], "command-line behaviour of ssh"),
    k("StreamLocalBindMask", NoEffect, &[], "fleetdeck sets up no forwardings"),
    k("StreamLocalBindUnlink", NoEffect, &[], "fleetdeck sets up no forwardings"),
    k("StrictHostKeyChecking", Honoured, &[], ""),
    k("SyslogFacility", NoEffect, &[], "fleetdeck has its own log"),
    k("Tag", Honoured, &[], ""),
    k("TCPKeepAlive", NoEffect, &[], "fleetdeck finds dead peers with SSH keepalives (ServerAliveInterval)"),
    k("Tunnel", Listed, NO, "no tun/tap tunnel"),
    k("TunnelDevice", NoEffect, &[], "only used with Tunnel, which is listed"),
    k("UpdateHostKeys", Listed, NO, "new host keys announced by the server are not recorded"),
    k("UseKeychain", NoEffect, &[], "macOS keychain passphrases: fleetdeck asks itself"),
    k("User", Honoured, &[], ""),
    k("UserKnownHostsFile", Honoured, &[], ""),
    k("VerifyHostKeyDNS", Listed, NO, "SSHFP records are not consulted"),
    k("VisualHostKey", NoEffect, &[], "cosmetic"),
    k("WarnWeakCrypto", NoEffect, &[], "cosmetic"),
    k("XAuthLocation", NoEffect, &[], "only used with ForwardX11, which is listed"),
    // Removed or deprecated in OpenSSH: it ignores them (with a warning) too.
    k("Cipher", NoEffect, &[], "deprecated: OpenSSH ignores it"),
    k("CompressionLevel", NoEffect, &[], "deprecated: OpenSSH ignores it"),
    k("Protocol", NoEffect, &[], "deprecated: OpenSSH ignores it"),
    k("RhostsRSAAuthentication", NoEffect, &[], "deprecated: OpenSSH ignores it"),
    k("RSAAuthentication", NoEffect, &[], "deprecated: OpenSSH ignores it"),
    k("UsePrivilegedPort", NoEffect, &[], "deprecated: OpenSSH ignores it"),
    k("UseRoaming", NoEffect, &[], "deprecated: OpenSSH ignores it"),
];

/// The table entry of `keyword` (case-insensitive).
pub fn lookup(keyword: &str) -> Option<&'static Keyword> {
    KEYWORDS
        .iter()
        .find(|k| k.name.eq_ignore_ascii_case(keyword))
}

/// An option in a host's effective ssh_config that fleetdeck does not act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unhonoured {
    /// The keyword as written (or `Match` for an undecided block).
    pub keyword: String,
    /// Its value as written.
    pub value: String,
    /// `file:line`.
    pub at: String,
    /// Why it changes nothing / what fleetdeck does instead.
    pub why: String,
}

impl std::fmt::Display for Unhonoured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} ({}): {}",
            self.keyword, self.value, self.at, self.why
        )
    }
}

/// The options of `params` that OpenSSH would act on and fleetdeck does not, in keyword order:
/// listed keywords (unless harmless), unknown keywords (unless `IgnoreUnknown` covers them) and
/// `Match` blocks that could not be decided.
pub fn unhonoured(params: &HostParams) -> Vec<Unhonoured> {
    let ignore_unknown: Vec<String> = params
        .get("IgnoreUnknown")
        .map(|s| {
            s.args
                .iter()
                .flat_map(|a| a.split(','))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for setting in params.settings() {
        let first = setting
            .args
            .first()
            .map(|a| a.to_ascii_lowercase())
            .unwrap_or_default();
        let why = match lookup(&setting.keyword) {
            Some(k) if k.support == Listed && !k.harmless.contains(&first.as_str()) => k.why,
            Some(_) => continue,
            None if ignore_unknown.iter().any(|p| {
                super::ssh_config::wildcard_match(
                    &setting.keyword.to_ascii_lowercase(),
                    &p.to_ascii_lowercase(),
                )
            }) =>
            {
                continue;
            }
            None => "unknown keyword: neither fleetdeck nor this table knows it",
        };
        let all = params.all(&setting.keyword);
        let value = if all.len() > 1 {
            format!("{} (and {} more)", setting.value(), all.len() - 1)
        } else {
            setting.value()
        };
        out.push(Unhonoured {
            keyword: setting.keyword.clone(),
            value,
            at: setting.at.to_string(),
            why: why.to_string(),
        });
    }
    for (at, criteria) in &params.unevaluated {
        out.push(Unhonoured {
            keyword: "Match".into(),
            value: criteria.clone(),
            at: at.to_string(),
            why: "fleetdeck cannot evaluate this criterion; the block was not applied".into(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_is_in_the_documented_table() {
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ssh-config.md"),
        )
        .expect("docs/ssh-config.md");
        for k in KEYWORDS {
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", k.name)))
                .unwrap_or_else(|| panic!("docs/ssh-config.md has no row for `{}`", k.name));
            let class = match k.support {
                Honoured => "honoured",
                Listed => "listed",
                NoEffect => "no effect",
            };
            assert!(
                row.contains(&format!("| {class} |")),
                "docs/ssh-config.md says otherwise for `{}` (expected {class}): {row}",
                k.name
            );
        }
        let names: std::collections::HashSet<_> = KEYWORDS
            .iter()
            .map(|k| k.name.to_ascii_lowercase())
            .collect();
        assert_eq!(
            names.len(),
            KEYWORDS.len(),
            "a keyword is in the table twice"
        );
    }

    #[test]
    fn listed_keywords_with_harmless_values_are_not_listed() {
        let c = super::super::ssh_config::SshConfig::parse(
            "Host *\n  Compression no\n  KexAlgorithms curve25519-sha256\n  LocalForward 8080 localhost:80\n  LocalForward 8081 localhost:81\n  FooBar 1\n  IgnoreUnknown Baz*\n  BazQux 2\n  LogLevel DEBUG\n",
            std::path::Path::new("/cfg"),
            None,
        )
        .unwrap();
        let p = c.query(&super::super::ssh_config::Query {
            host: "h",
            user: None,
            local_user: "me",
        });
        let listed: Vec<String> = unhonoured(&p).iter().map(|u| u.to_string()).collect();
        assert_eq!(
            listed,
            vec![
                "FooBar 1 (/cfg:6): unknown keyword: neither fleetdeck nor this table knows it",
                "KexAlgorithms curve25519-sha256 (/cfg:3): russh's key exchange choice is used",
                "LocalForward 8080 localhost:80 (and 1 more) (/cfg:4): fleetdeck sets up no forwardings",
            ]
        );
    }
}

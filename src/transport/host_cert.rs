//! Host certificates: whether a certificate a server presents is vouched for, for this host and
//! now, by a certificate authority that a known_hosts file trusts (`@cert-authority`).
//!
//! The checks are OpenSSH's (`check_host_key` → `check_host_cert` in sshconnect.c, checked
//! against the real `ssh` 9.2 client, see docs/ssh-certificates.md), in its order: the CA
//! signature must verify against the CA key the certificate names (OpenSSH checks it when it
//! parses the key); the certificate's key or its CA marked `@revoked` for the host refuses it
//! outright; the CA must be listed by an `@cert-authority` line whose patterns match the host
//! (`[host]:port`, or the bare host on any port); it must be a *host* certificate; the clock must
//! be inside its validity window; the name the operator dialled must be one of its principals
//! (exactly — OpenSSH 9.2 has no wildcard principals; an empty list matches every name, as in
//! OpenSSH); and it must carry no critical options.
//!
//! Pure: the files and the clock come in as arguments, so every verdict is unit-tested with
//! fixed certificates. What to do with a verdict (refuse, or fall back to the certificate's key
//! as a plain host key where OpenSSH does) is the SSH handler's decision (`ssh/host_key.rs`).

use std::path::PathBuf;

use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::{Certificate, HashAlg};

use super::known_hosts::{self, Location};

/// What the known_hosts files say about a host certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertVerdict {
    /// Signed by a CA trusted for this host, valid now, naming this host.
    Trusted {
        /// The `@cert-authority` line that trusts the CA.
        ca: Location,
    },
    /// The signature in the certificate does not verify against the CA key it names: forged or
    /// damaged. OpenSSH fails the key exchange on it, so it is refused, with no fallback.
    BadSignature,
    /// The certificate's key or its CA is marked `@revoked`: refused, with no fallback.
    Revoked {
        /// Which of the two is revoked.
        what: RevokedPart,
        /// The `@revoked` line.
        at: Location,
    },
    /// Signed by a CA trusted for this host, but not valid for it now.
    Invalid {
        /// What is wrong with it.
        problem: CertProblem,
        /// The `@cert-authority` line that trusts the CA.
        ca: Location,
    },
    /// No `@cert-authority` line for this host lists the CA that signed the certificate.
    UnknownCa {
        /// The `@cert-authority` lines that do apply to this host (other CAs), with their
        /// fingerprints, so the message can say which CAs would have been accepted.
        trusted_here: Vec<(Location, String)>,
    },
}

/// Which part of a certificate an `@revoked` line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedPart {
    /// The host key inside the certificate.
    Key,
    /// The CA that signed it.
    Authority,
}

/// Why a certificate from a trusted CA is still not valid for the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertProblem {
    /// A user certificate presented as a host key.
    NotHostCertificate,
    /// The clock is before the validity window (seconds since the epoch).
    NotYetValid {
        /// Start of the window.
        valid_after: u64,
    },
    /// The clock is past the validity window (seconds since the epoch).
    Expired {
        /// End of the window (exclusive).
        valid_before: u64,
    },
    /// The dialled name is not one of the certificate's principals.
    Principal {
        /// The name that was checked.
        name: String,
        /// The principals the certificate lists.
        principals: Vec<String>,
    },
    /// Critical options, which OpenSSH does not accept in host certificates.
    CriticalOptions(Vec<String>),
}

/// SHA-256 fingerprint of the CA that signed `cert`, as OpenSSH prints it.
pub fn ca_fingerprint(cert: &Certificate) -> String {
    cert.signature_key()
        .fingerprint(HashAlg::Sha256)
        .to_string()
}

/// Checks `cert`, presented by `host:port`, against the known_hosts `files` at `now` (seconds
/// since the epoch). `host` is the name the operator dialled (after `HostName`), which OpenSSH
/// matches against the certificate's principals.
pub fn check(
    files: &[PathBuf],
    host: &str,
    port: u16,
    cert: &Certificate,
    now: u64,
) -> CertVerdict {
    if !signature_verifies(cert, now) {
        return CertVerdict::BadSignature;
    }
    // Then revocation, of either part: OpenSSH refuses a revoked certificate even when a
    // trusted CA signed it, and does not fall back to its plain key.
    if let Some(at) = known_hosts::revoked(files, host, port, cert.public_key()) {
        return CertVerdict::Revoked {
            what: RevokedPart::Key,
            at,
        };
    }
    if let Some(at) = known_hosts::revoked(files, host, port, cert.signature_key()) {
        return CertVerdict::Revoked {
            what: RevokedPart::Authority,
            at,
        };
    }
    let authorities = known_hosts::cert_authorities(files, host, port);
    let Some((ca, _)) = authorities
        .iter()
        .find(|(_, key)| key.key_data() == cert.signature_key())
    else {
        return CertVerdict::UnknownCa {
            trusted_here: authorities
                .iter()
                .map(|(at, key)| (at.clone(), known_hosts::fingerprint(key)))
                .collect(),
        };
    };
    // The signature was verified above against this very key (`signature_verifies`).
    let ca = ca.clone();
    match problem(cert, host, now) {
        None => CertVerdict::Trusted { ca },
        Some(problem) => CertVerdict::Invalid { problem, ca },
    }
}

/// Whether the CA signature in `cert` verifies against the CA key the certificate names — what
/// OpenSSH checks when it parses a certificate, before asking whether anyone trusts that CA.
fn signature_verifies(cert: &Certificate, now: u64) -> bool {
    if cert.valid_after() >= cert.valid_before() {
        // An empty window leaves no moment to ask ssh-key at; such a certificate is never
        // valid anyway ([`problem`] calls it expired).
        return true;
    }
    let own_ca = cert.signature_key().fingerprint(HashAlg::Sha256);
    cert.validate_at(moment_inside(cert, now), [&own_ca])
        .is_ok()
}

/// A moment inside the certificate's validity window, as near `now` as possible: ssh-key checks
/// the signature only together with the window, and the window is judged separately, against
/// the real clock, in [`problem`].
fn moment_inside(cert: &Certificate, now: u64) -> u64 {
    now.clamp(
        cert.valid_after(),
        cert.valid_before()
            .saturating_sub(1)
            .max(cert.valid_after()),
    )
}

/// The first problem OpenSSH would find with a certificate from a trusted CA, in its order.
fn problem(cert: &Certificate, host: &str, now: u64) -> Option<CertProblem> {
    if cert.valid_after() >= cert.valid_before() {
        return Some(CertProblem::Expired {
            valid_before: cert.valid_before(),
        });
    }
    if cert.cert_type() != CertType::Host {
        return Some(CertProblem::NotHostCertificate);
    }
    if now < cert.valid_after() {
        return Some(CertProblem::NotYetValid {
            valid_after: cert.valid_after(),
        });
    }
    if now >= cert.valid_before() {
        return Some(CertProblem::Expired {
            valid_before: cert.valid_before(),
        });
    }
    // OpenSSH lower-cases the host name it dials and compares principals exactly.
    let name = host.to_ascii_lowercase();
    let principals = cert.valid_principals();
    if !principals.is_empty() && !principals.contains(&name) {
        return Some(CertProblem::Principal {
            name,
            principals: principals.to_vec(),
        });
    }
    if !cert.critical_options().is_empty() {
        return Some(CertProblem::CriticalOptions(
            cert.critical_options().keys().cloned().collect(),
        ));
    }
    None
}

/// The system clock in seconds since the epoch, for [`check`]. A clock before 1970 reads as 0:
/// every certificate is then "not yet valid", never valid.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A certificate time in a message: RFC 3339 in UTC, or the raw number when it is out of range
/// (`ssh-keygen -V forever` writes u64::MAX).
pub fn when(secs: u64) -> String {
    std::time::UNIX_EPOCH
        .checked_add(std::time::Duration::from_secs(secs))
        .filter(|_| secs < 253_402_300_800) // year 10000: humantime's limit
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_else(|| format!("{secs} (seconds since 1970)"))
}

/// The sentence an operator reads (and greps) for a refused certificate: says what is wrong,
/// names the host (`name`, as in known_hosts), the CA's fingerprint and the known_hosts line.
pub fn describe(verdict: &CertVerdict, name: &str, cert: &Certificate, now: u64) -> String {
    let ca_fp = ca_fingerprint(cert);
    let key_fp = cert.public_key().fingerprint(HashAlg::Sha256);
    let id = cert.key_id();
    match verdict {
        CertVerdict::Trusted { ca } => {
            format!("host certificate of {name} (ID \"{id}\") is trusted: CA {ca_fp} at {ca}")
        }
        CertVerdict::BadSignature => format!(
            "host certificate of {name} (ID \"{id}\") is forged or damaged: its signature does not verify \
             against the CA key it names, {ca_fp}"
        ),
        CertVerdict::Revoked {
            what: RevokedPart::Key,
            at,
        } => format!(
            "host certificate of {name} (ID \"{id}\") is revoked: its key {key_fp} is marked @revoked at {at} \
             (signed by CA {ca_fp})"
        ),
        CertVerdict::Revoked {
            what: RevokedPart::Authority,
            at,
        } => format!(
            "host certificate of {name} (ID \"{id}\") is revoked: its CA {ca_fp} is marked @revoked at {at}"
        ),
        CertVerdict::UnknownCa { trusted_here } => {
            let trusted = if trusted_here.is_empty() {
                format!("no @cert-authority line applies to {name}")
            } else {
                format!(
                    "the CAs trusted for {name} are {}",
                    trusted_here
                        .iter()
                        .map(|(at, fp)| format!("{fp} at {at}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            format!(
                "host certificate of {name} (ID \"{id}\") is signed by an unknown CA {ca_fp}: {trusted}"
            )
        }
        CertVerdict::Invalid { problem, ca } => {
            let what = match problem {
                CertProblem::NotHostCertificate => {
                    "is a user certificate, not a host certificate".to_string()
                }
                CertProblem::NotYetValid { valid_after } => format!(
                    "is not yet valid: valid from {} (this machine's clock says {})",
                    when(*valid_after),
                    when(now)
                ),
                CertProblem::Expired { valid_before } => format!(
                    "expired at {} (this machine's clock says {})",
                    when(*valid_before),
                    when(now)
                ),
                CertProblem::Principal { name, principals } => format!(
                    "does not list \"{name}\" as a principal (it lists: {})",
                    principals.join(", ")
                ),
                CertProblem::CriticalOptions(options) => format!(
                    "carries critical options ({}), which OpenSSH refuses in a host certificate",
                    options.join(", ")
                ),
            };
            format!(
                "host certificate of {name} (ID \"{id}\") {what}; CA {ca_fp} is trusted at {ca}"
            )
        }
    }
}

/// Certificates made with ssh-keygen for unit tests (here and in `ssh::auth`).
#[cfg(test)]
pub(crate) mod fixtures {
    // Made with ssh-keygen (OpenSSH 9.2) for the unit tests: CA_A and CA_B are ed25519 keys, every
    // certificate is of the same host key HOST_KEY and valid from 2026-01-01 to 2026-02-01 UTC
    // (`-V 20260101:20260201`), so the injected clock decides expired / not yet valid.
    pub(crate) const CA_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBauIwm3W95FenCcu/vVRTB1G9vjbM5U+yV1krfOE3gT";
    pub(crate) const CA_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB/KSvQkb6pQioj2Jo+bmpgE834ARTRV5Y68bxrh7qe5";
    pub(crate) const HOST_KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAVhJi34QN2Nqjr5BDalxaHazmWfNHfO498BEyMO/jfP";
    /// `ssh-keygen -s ca_a -I host -h -n 127.0.0.1,db1.example`
    pub(crate) const CERT_HOST: &str = "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIG84/jdnlbZ4XUExmQheZdiP3iCa2GRtkrYBVEXkhCDBAAAAIAVhJi34QN2Nqjr5BDalxaHazmWfNHfO498BEyMO/jfPAAAAAAAAAAAAAAACAAAABGhvc3QAAAAcAAAACTEyNy4wLjAuMQAAAAtkYjEuZXhhbXBsZQAAAABpVbkAAAAAAGl+l4AAAAAAAAAAAAAAAAAAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIBauIwm3W95FenCcu/vVRTB1G9vjbM5U+yV1krfOE3gTAAAAUwAAAAtzc2gtZWQyNTUxOQAAAEBHJUqk92KnzPhgc4PcGJ/tGHAhZ0pOTSXbqfEWBl2QDgtcEgzAZDY7ebTGlb//3veDRHmmdJW8cQdTN1ZQ7wIK";
    /// `ssh-keygen -s ca_a -I user -n 127.0.0.1` (a user certificate).
    pub(crate) const CERT_USER: &str = "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIOAS5pufVc6pY9wO1b1eDC8nIvm7+pKr4fi9JrZBNsf9AAAAIAVhJi34QN2Nqjr5BDalxaHazmWfNHfO498BEyMO/jfPAAAAAAAAAAAAAAABAAAABHVzZXIAAAANAAAACTEyNy4wLjAuMQAAAABpVbkAAAAAAGl+l4AAAAAAAAAAggAAABVwZXJtaXQtWDExLWZvcndhcmRpbmcAAAAAAAAAF3Blcm1pdC1hZ2VudC1mb3J3YXJkaW5nAAAAAAAAABZwZXJtaXQtcG9ydC1mb3J3YXJkaW5nAAAAAAAAAApwZXJtaXQtcHR5AAAAAAAAAA5wZXJtaXQtdXNlci1yYwAAAAAAAAAAAAAAMwAAAAtzc2gtZWQyNTUxOQAAACAWriMJt1veRXpwnLv71UUwdRvb42zOVPsldZK3zhN4EwAAAFMAAAALc3NoLWVkMjU1MTkAAABATpSitrmPbzNjybJEx3GDG797ismO3VjEInTuXcs1etpd9ElzhehX4n7oWxNIb1W369WDuLVsXkhBn9iJ1JOhBg==";
    /// `ssh-keygen -s ca_a -I noprinc -h` (no principals).
    pub(crate) const CERT_NO_PRINCIPALS: &str = "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIPdFxGwcp4CqlFpjIGfsQyIamiGcPIxR8Yg5AtTAUk87AAAAIAVhJi34QN2Nqjr5BDalxaHazmWfNHfO498BEyMO/jfPAAAAAAAAAAAAAAACAAAAB25vcHJpbmMAAAAAAAAAAGlVuQAAAAAAaX6XgAAAAAAAAAAAAAAAAAAAADMAAAALc3NoLWVkMjU1MTkAAAAgFq4jCbdb3kV6cJy7+9VFMHUb2+NszlT7JXWSt84TeBMAAABTAAAAC3NzaC1lZDI1NTE5AAAAQKMftP8gnfRtaTNq90eMXGOI9DiqB9qvjuoL3g1YbCo2jvJDIMqLI4b5St9LnLVHUngx9f3iajPwBMxSSwbCcQw=";
    /// `ssh-keygen -s ca_a -I crit -h -n 127.0.0.1 -O force-command=true`
    pub(crate) const CERT_CRITICAL: &str = "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAICT08rINf3QfV+9qjbNoKTV6pz1WLii4NK0s6aGvj1NNAAAAIAVhJi34QN2Nqjr5BDalxaHazmWfNHfO498BEyMO/jfPAAAAAAAAAAAAAAACAAAABGNyaXQAAAANAAAACTEyNy4wLjAuMQAAAABpVbkAAAAAAGl+l4AAAAAdAAAADWZvcmNlLWNvbW1hbmQAAAAIAAAABHRydWUAAAAAAAAAAAAAADMAAAALc3NoLWVkMjU1MTkAAAAgFq4jCbdb3kV6cJy7+9VFMHUb2+NszlT7JXWSt84TeBMAAABTAAAAC3NzaC1lZDI1NTE5AAAAQPnOkmMVgRLa5ts1FJ7iZb45e0RIYKSU+l3EE6FfiZhvxRFeiTYr/cfC9Fj++lGQkXAfJa/riDWOKs/uMS/K0ww=";
    /// `ssh-keygen -s ca_b -I byb -h -n 127.0.0.1`
    pub(crate) const CERT_BY_B: &str = "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIFuacKZfqb2IaP/2H/WwHWrKwI+CAXI0I1fWE6SmGiB3AAAAIAVhJi34QN2Nqjr5BDalxaHazmWfNHfO498BEyMO/jfPAAAAAAAAAAAAAAACAAAAA2J5YgAAAA0AAAAJMTI3LjAuMC4xAAAAAGlVuQAAAAAAaX6XgAAAAAAAAAAAAAAAAAAAADMAAAALc3NoLWVkMjU1MTkAAAAgH8pK9CRvqlCKiPYmj5uamATzfgBFNFXljrxvGuHup7kAAABTAAAAC3NzaC1lZDI1NTE5AAAAQNRz/ZQYk3ofI7/CIlnastiZ2oqil7ZcC9dRFOkwwHBZwgYPmzZC925Ko+ooxTXd2368+rqhsfaFwVs8RMql4gs=";
    /// 2026-01-15T00:00:00Z: inside every fixture's window.
    pub(crate) const INSIDE: u64 = 1_768_435_200;
    /// Start of every fixture's window (2026-01-01T00:00:00Z).
    pub(crate) const VALID_AFTER: u64 = 1_767_225_600;
    /// End of every fixture's window (2026-02-01T00:00:00Z, exclusive).
    pub(crate) const VALID_BEFORE: u64 = 1_769_904_000;
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::fixtures::*;

    fn cert(s: &str) -> Certificate {
        Certificate::from_openssh(s).unwrap()
    }

    fn known_hosts(dir: &tempfile::TempDir, text: &str) -> Vec<PathBuf> {
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, text).unwrap();
        vec![path]
    }

    fn verdict(text: &str, host: &str, port: u16, c: &str, now: u64) -> CertVerdict {
        let dir = tempfile::tempdir().unwrap();
        check(&known_hosts(&dir, text), host, port, &cert(c), now)
    }

    fn line(v: &CertVerdict) -> usize {
        match v {
            CertVerdict::Trusted { ca } | CertVerdict::Invalid { ca, .. } => ca.line,
            CertVerdict::Revoked { at, .. } => at.line,
            CertVerdict::UnknownCa { .. } | CertVerdict::BadSignature => 0,
        }
    }

    #[test]
    fn a_trusted_ca_for_the_host_pattern_vouches_for_a_valid_certificate() {
        for (pattern, port) in [
            ("[127.0.0.1]:*", 2222),
            ("[127.0.0.1]:2222", 2222),
            ("[127.0.0.?]:22*", 2222),
            ("*", 2222),
            // OpenSSH also honours the bare host on any port ("checking without port identifier").
            ("127.0.0.1", 2222),
            ("127.0.0.1", 22),
        ] {
            let v = verdict(
                &format!("# CA\n@cert-authority {pattern} {CA_A}\n"),
                "127.0.0.1",
                port,
                CERT_HOST,
                INSIDE,
            );
            assert!(matches!(v, CertVerdict::Trusted { .. }), "{pattern}: {v:?}");
            assert_eq!(line(&v), 2, "{pattern}");
        }
        // The second principal works too, by its own name.
        let v = verdict(
            &format!("@cert-authority *.example {CA_A}\n"),
            "db1.example",
            22,
            CERT_HOST,
            INSIDE,
        );
        assert!(matches!(v, CertVerdict::Trusted { .. }), "{v:?}");
    }

    #[test]
    fn a_ca_line_for_other_hosts_or_ports_does_not_apply() {
        for pattern in [
            "[127.0.0.1]:2223",
            "10.0.0.*",
            "[127.0.0.1]:*,![127.0.0.1]:2222",
        ] {
            let v = verdict(
                &format!("@cert-authority {pattern} {CA_A}\n"),
                "127.0.0.1",
                2222,
                CERT_HOST,
                INSIDE,
            );
            assert_eq!(
                v,
                CertVerdict::UnknownCa {
                    trusted_here: vec![]
                },
                "{pattern}"
            );
        }
    }

    #[test]
    fn a_ca_trusted_only_as_a_plain_key_is_not_a_ca() {
        let v = verdict(
            &format!("[127.0.0.1]:2222 {CA_A}\n"),
            "127.0.0.1",
            2222,
            CERT_HOST,
            INSIDE,
        );
        assert!(matches!(v, CertVerdict::UnknownCa { .. }), "{v:?}");
    }

    #[test]
    fn another_ca_is_unknown_and_the_trusted_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let files = known_hosts(&dir, &format!("@cert-authority [127.0.0.1]:* {CA_A}\n"));
        let c = cert(CERT_BY_B);
        let v = check(&files, "127.0.0.1", 2222, &c, INSIDE);
        let CertVerdict::UnknownCa { trusted_here } = &v else {
            panic!("{v:?}")
        };
        assert_eq!(trusted_here.len(), 1);
        let message = describe(&v, "[127.0.0.1]:2222", &c, INSIDE);
        assert!(message.contains("unknown CA"), "{message}");
        assert!(message.contains(&ca_fingerprint(&c)), "{message}");
        assert!(
            message.contains(&format!("{}:1", files[0].display())),
            "{message}"
        );
        // Trusting CA_B as well makes the same certificate good.
        let both = known_hosts(
            &dir,
            &format!("@cert-authority [127.0.0.1]:* {CA_A}\n@cert-authority * {CA_B}\n"),
        );
        assert!(matches!(
            check(&both, "127.0.0.1", 2222, &c, INSIDE),
            CertVerdict::Trusted {
                ca: Location { line: 2, .. }
            }
        ));
    }

    #[test]
    fn the_validity_window_is_judged_by_the_injected_clock() {
        let kh = format!("@cert-authority [127.0.0.1]:* {CA_A}\n");
        let at = |now| verdict(&kh, "127.0.0.1", 2222, CERT_HOST, now);
        assert!(matches!(at(VALID_AFTER), CertVerdict::Trusted { .. }));
        assert!(matches!(at(VALID_BEFORE - 1), CertVerdict::Trusted { .. }));
        assert!(matches!(
            at(VALID_AFTER - 1),
            CertVerdict::Invalid {
                problem: CertProblem::NotYetValid { .. },
                ..
            }
        ));
        let expired = at(VALID_BEFORE);
        assert!(
            matches!(
                expired,
                CertVerdict::Invalid {
                    problem: CertProblem::Expired {
                        valid_before: VALID_BEFORE
                    },
                    ..
                }
            ),
            "{expired:?}"
        );
        let message = describe(
            &expired,
            "[127.0.0.1]:2222",
            &cert(CERT_HOST),
            VALID_BEFORE + 3600,
        );
        assert!(
            message.contains(
                "certificate of [127.0.0.1]:2222 (ID \"host\") expired at 2026-02-01T00:00:00Z"
            ),
            "{message}"
        );
    }

    #[test]
    fn the_dialled_name_must_be_a_principal_exactly() {
        let kh = format!("@cert-authority * {CA_A}\n");
        for (host, ok) in [
            ("127.0.0.1", true),
            ("DB1.example", true), // OpenSSH lower-cases the name it dials
            ("127.0.0.2", false),
            ("db1", false),
            ("db1.example.org", false),
        ] {
            let v = verdict(&kh, host, 22, CERT_HOST, INSIDE);
            if ok {
                assert!(matches!(v, CertVerdict::Trusted { .. }), "{host}: {v:?}");
            } else {
                assert!(
                    matches!(
                        v,
                        CertVerdict::Invalid {
                            problem: CertProblem::Principal { .. },
                            ..
                        }
                    ),
                    "{host}: {v:?}"
                );
                let message = describe(&v, host, &cert(CERT_HOST), INSIDE);
                assert!(
                    message.contains("principal") && message.contains("127.0.0.1, db1.example"),
                    "{message}"
                );
            }
        }
        // No principals at all: OpenSSH 9.2 accepts it for any name, and so do we.
        let v = verdict(&kh, "anything", 22, CERT_NO_PRINCIPALS, INSIDE);
        assert!(matches!(v, CertVerdict::Trusted { .. }), "{v:?}");
    }

    #[test]
    fn user_certificates_and_critical_options_are_refused() {
        let kh = format!("@cert-authority * {CA_A}\n");
        assert!(matches!(
            verdict(&kh, "127.0.0.1", 22, CERT_USER, INSIDE),
            CertVerdict::Invalid {
                problem: CertProblem::NotHostCertificate,
                ..
            }
        ));
        let v = verdict(&kh, "127.0.0.1", 22, CERT_CRITICAL, INSIDE);
        assert_eq!(
            v,
            CertVerdict::Invalid {
                problem: CertProblem::CriticalOptions(vec!["force-command".into()]),
                ca: Location {
                    file: match &v {
                        CertVerdict::Invalid { ca, .. } => ca.file.clone(),
                        _ => unreachable!(),
                    },
                    line: 1
                }
            }
        );
    }

    #[test]
    fn a_tampered_certificate_does_not_verify() {
        // Rename the key ID "host" to "hosT" inside the signed bytes: the CA never signed that.
        let mut bytes = cert(CERT_HOST).to_bytes().unwrap();
        let at = bytes
            .windows(8)
            .position(|w| w == b"\0\0\0\x04host")
            .unwrap();
        bytes[at + 7] = b'T';
        let forged = Certificate::from_bytes(&bytes).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = known_hosts(&dir, &format!("@cert-authority * {CA_A}\n"));
        assert_eq!(
            check(&files, "127.0.0.1", 22, &forged, INSIDE),
            CertVerdict::BadSignature
        );
        // Whoever signed it, and whether or not its CA is trusted here.
        assert_eq!(
            check(&[], "127.0.0.1", 22, &forged, INSIDE),
            CertVerdict::BadSignature
        );
    }

    #[test]
    fn a_revoked_key_or_ca_is_refused_before_anything_else() {
        let trusted = format!("@cert-authority [127.0.0.1]:* {CA_A}\n");
        let key = verdict(
            &format!("{trusted}@revoked * {HOST_KEY}\n"),
            "127.0.0.1",
            2222,
            CERT_HOST,
            INSIDE,
        );
        assert!(
            matches!(
                key,
                CertVerdict::Revoked {
                    what: RevokedPart::Key,
                    ..
                }
            ),
            "{key:?}"
        );
        assert_eq!(line(&key), 2);
        let ca = verdict(
            &format!("{trusted}@revoked [127.0.0.1]:2222 {CA_A}\n"),
            "127.0.0.1",
            2222,
            CERT_HOST,
            // Even an expired certificate reads "revoked": that is the stronger reason.
            VALID_BEFORE + 1,
        );
        assert!(
            matches!(
                ca,
                CertVerdict::Revoked {
                    what: RevokedPart::Authority,
                    ..
                }
            ),
            "{ca:?}"
        );
        let message = describe(&ca, "[127.0.0.1]:2222", &cert(CERT_HOST), INSIDE);
        assert!(
            message.contains("revoked") && message.contains(&ca_fingerprint(&cert(CERT_HOST))),
            "{message}"
        );
        // A revocation for other hosts does not apply here (OpenSSH agrees).
        let elsewhere = verdict(
            &format!("{trusted}@revoked otherhost {CA_A}\n"),
            "127.0.0.1",
            2222,
            CERT_HOST,
            INSIDE,
        );
        assert!(
            matches!(elsewhere, CertVerdict::Trusted { .. }),
            "{elsewhere:?}"
        );
    }

    #[test]
    fn times_out_of_range_are_printed_as_numbers() {
        assert_eq!(when(VALID_AFTER), "2026-01-01T00:00:00Z");
        assert!(when(u64::MAX).contains("seconds since 1970"));
    }
}

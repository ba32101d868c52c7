//! Verifying the server: russh's per-connection handler checks the host key against the
//! known_hosts files under the fleet's policy and keeps the reason for a refusal.
//!
//! A host certificate is judged by [`host_cert`] against the `@cert-authority` lines. When it is
//! not trusted (but neither revoked nor forged), OpenSSH checks the certificate's key as a plain host key; so
//! do we, with one difference: such a key is never *recorded* under `accept-new` — a
//! certificate that failed is never turned into trust (docs/ssh-certificates.md).

use std::sync::{Arc, Mutex as StdMutex};

use russh::client;
use russh::keys::PublicKey;
use russh::keys::ssh_key::{Algorithm, Certificate, EcdsaCurve, HashAlg};

use super::SshTarget;
use crate::inventory::HostKeyPolicy;
use crate::observation::{Unreachable, UnreachableKind};
use crate::transport::host_cert::{self, CertVerdict};
use crate::transport::known_hosts::{self, Verdict};

/// Host-key certificate algorithms asked for when a CA is trusted for the host, most preferred
/// first (the plain algorithms follow, so a host without a certificate still answers).
const CERTIFICATE_ALGORITHMS: &[Algorithm] = &[
    Algorithm::Ed25519,
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP256,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP384,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP521,
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha512),
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha256),
    },
];

/// The algorithms to negotiate with `t`: certificate host keys first when an `@cert-authority`
/// line applies to the host — as OpenSSH orders its host key algorithms by what known_hosts can
/// verify — and plain keys only otherwise, so a host nobody vouches for by CA is verified (and
/// recorded under `accept-new`) by its plain key exactly as before.
pub(super) fn preferred(t: &SshTarget) -> russh::Preferred {
    let trusts_a_ca = !known_hosts::cert_authorities(&t.known_hosts, &t.address, t.port).is_empty();
    russh::Preferred {
        host_key_certificates: if trusts_a_ca {
            CERTIFICATE_ALGORITHMS.into()
        } else {
            (&[]).into()
        },
        ..russh::Preferred::default()
    }
}

/// russh's per-connection event handler: host key verification happens here.
pub(super) struct Client {
    pub(super) target: SshTarget,
    /// Why the key was refused, read by `connect` to turn russh's generic error into ours.
    pub(super) verdict: Arc<StdMutex<Option<Unreachable>>>,
}

impl Client {
    fn refuse(&self, kind: UnreachableKind, message: String) -> Result<bool, russh::Error> {
        tracing::error!(host = %self.target.name, %message, "host key refused");
        *self.verdict.lock().expect("verdict lock") = Some(Unreachable {
            kind,
            message,
            retry_in: None,
        });
        Ok(false)
    }

    /// A host certificate: trusted by a CA, refused, or (where OpenSSH does) judged by its key.
    fn check_certificate(&self, cert: &Certificate) -> Result<bool, russh::Error> {
        let t = &self.target;
        let name = known_hosts::host_key_name(&t.address, t.port);
        let now = host_cert::now_unix();
        let verdict = host_cert::check(&t.known_hosts, &t.address, t.port, cert, now);
        let reason = host_cert::describe(&verdict, &name, cert, now);
        match verdict {
            CertVerdict::Trusted { .. } => {
                tracing::debug!(host = %t.name, %reason, "host certificate accepted");
                return Ok(true);
            }
            // No fallback: OpenSSH refuses a revoked certificate outright, and fails the key
            // exchange on a forged one.
            CertVerdict::Revoked { .. } | CertVerdict::BadSignature => {
                return self.refuse(UnreachableKind::HostKeyChanged, reason);
            }
            CertVerdict::Invalid { .. } | CertVerdict::UnknownCa { .. } => {}
        }
        // OpenSSH: "No matching CA found. Retry with plain key".
        let key = PublicKey::from(cert.public_key().clone());
        let fp = known_hosts::fingerprint(&key);
        match known_hosts::check(&t.known_hosts, &t.address, t.port, &key) {
            Verdict::Known(at) => {
                tracing::warn!(host = %t.name, %reason, known_at = %at,
                    "host certificate not trusted; its key is recorded as a plain host key, accepted as OpenSSH does");
                Ok(true)
            }
            Verdict::Revoked(at) => self.refuse(
                UnreachableKind::HostKeyChanged,
                format!("{reason}; and its key {fp} is marked @revoked at {at}"),
            ),
            Verdict::Changed {
                recorded,
                recorded_fingerprint,
            } => self.refuse(
                UnreachableKind::HostKeyChanged,
                format!(
                    "{reason}; and HOST KEY CHANGED: its key {fp} differs from {recorded_fingerprint} recorded at \
                     {recorded}. Refusing under every policy."
                ),
            ),
            Verdict::Unknown { .. } => self.refuse(
                UnreachableKind::HostKeyUnknown,
                format!(
                    "{reason}. No known_hosts line records its key {fp} either: refused under every policy \
                     (accept-new never records the key of a certificate that failed)."
                ),
            ),
        }
    }
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key: PublicKey = match server {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            russh::keys::PublicKeyOrCertificate::Certificate(cert) => {
                return self.check_certificate(cert);
            }
        };
        let t = &self.target;
        let fp = known_hosts::fingerprint(&key);
        let name = known_hosts::host_key_name(&t.address, t.port);
        match known_hosts::check(&t.known_hosts, &t.address, t.port, &key) {
            Verdict::Known(_) => Ok(true),
            Verdict::Changed { recorded, recorded_fingerprint } => self.refuse(
                UnreachableKind::HostKeyChanged,
                format!(
                    "HOST KEY CHANGED for {name}: it now presents {} {fp}, but {recorded} records {recorded_fingerprint}. \
                     Someone may be intercepting the connection. Refusing under every policy; if the host was \
                     really reinstalled, remove line {} from {} after checking the new key out of band.",
                    key.algorithm(),
                    recorded.line,
                    recorded.file.display()
                ),
            ),
            Verdict::Revoked(at) => self.refuse(
                UnreachableKind::HostKeyChanged,
                format!("host key {fp} of {name} is marked @revoked at {at}"),
            ),
            Verdict::Unknown { .. }
                if t.moved_from.is_some_and(|old| {
                    matches!(
                        known_hosts::check(&t.known_hosts, &t.address, old, &key),
                        Verdict::Known(_)
                    )
                }) =>
            {
                // The host's sshd moved to this port (harden-ssh): the key is the one recorded
                // for its old port, so it is the same server. Record it for the new name, or
                // the next connection on this port would find it unknown.
                let old = t.moved_from.unwrap_or_default();
                if let Some(file) = t.known_hosts.first()
                    && let Err(e) = known_hosts::append(file, &t.address, t.port, &key)
                {
                    tracing::warn!(host = %t.name, file = %file.display(), error = %e,
                        "could not record the host key for its new port");
                }
                tracing::info!(host = %t.name, fingerprint = %fp, old_port = old,
                    "host key of the new port is the one recorded for the old port");
                Ok(true)
            }
            Verdict::Unknown { other_algorithms } => match t.policy {
                HostKeyPolicy::AcceptNew => {
                    let Some(file) = t.known_hosts.first() else {
                        return self.refuse(
                            UnreachableKind::HostKeyUnknown,
                            format!("host key of {name} is unknown and no known_hosts file is configured to record it"),
                        );
                    };
                    match known_hosts::append(file, &t.address, t.port, &key) {
                        Ok(()) => {
                            tracing::warn!(host = %t.name, fingerprint = %fp, file = %file.display(), "new host key recorded (accept-new)");
                            Ok(true)
                        }
                        Err(e) => self.refuse(
                            UnreachableKind::HostKeyUnknown,
                            format!("host key {fp} of {name} is unknown and could not be recorded in {}: {e}", file.display()),
                        ),
                    }
                }
                HostKeyPolicy::Strict => {
                    let also = if other_algorithms.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (keys of other types are recorded at {})",
                            other_algorithms.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                        )
                    };
                    let file = t
                        .known_hosts
                        .first()
                        .map(|f| f.display().to_string())
                        .unwrap_or_else(|| "~/.ssh/known_hosts".into());
                    self.refuse(
                        UnreachableKind::HostKeyUnknown,
                        format!(
                            "unknown host key for {name}: {} {fp}{also}. Verify it out of band, then accept it with \
                             `ssh-keyscan -p {} {} >> {file}` (check the fingerprint it prints with `ssh-keygen -lf`), \
                             or set host_key_policy = \"accept-new\" in [fleet].",
                            key.algorithm(),
                            t.port,
                            t.address
                        ),
                    )
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const CA: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBauIwm3W95FenCcu/vVRTB1G9vjbM5U+yV1krfOE3gT";

    /// The target of one inventory host (built the way the poller builds it, so new fields
    /// need no change here).
    fn target(address: &str, port: u16, known_hosts: &Path) -> SshTarget {
        let fleet = crate::inventory::load_fleet_from_str(
            &format!(
                "[fleet]\nname = \"t\"\nknown_hosts = [{:?}]\n[[hosts]]\nname = \"db1\"\naddress = {address:?}\nport = {port}\n",
                known_hosts.display().to_string()
            ),
            crate::inventory::ConfigSource::Embedded,
        )
        .unwrap();
        super::super::resolve_target(&fleet, &fleet.hosts[0], None)
    }

    #[test]
    fn certificates_are_asked_for_only_where_a_ca_is_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        std::fs::write(&kh, format!("@cert-authority [10.0.0.*]:*,db1 {CA}\n")).unwrap();
        let asked = |address: &str, port: u16| {
            preferred(&target(address, port, &kh))
                .host_key_certificates
                .iter()
                .map(Algorithm::to_certificate_type)
                .collect::<Vec<_>>()
        };
        let with = asked("10.0.0.5", 2222);
        assert_eq!(with[0], "ssh-ed25519-cert-v01@openssh.com");
        assert!(with.contains(&"rsa-sha2-512-cert-v01@openssh.com".to_string()));
        assert!(!asked("db1", 2200).is_empty(), "bare host, any port");
        assert!(
            asked("10.0.0.5", 22).is_empty(),
            "[10.0.0.*]:* is not port 22"
        );
        assert!(asked("10.9.9.9", 2222).is_empty());
        // The plain algorithms are still offered after them.
        let p = preferred(&target("10.0.0.5", 2222, &kh));
        assert_eq!(p.key, russh::Preferred::default().key);
    }
}

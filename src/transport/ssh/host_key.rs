//! Verifying the server: russh's per-connection handler checks the host key against the
//! known_hosts files under the fleet's policy and keeps the reason for a refusal.

use std::sync::{Arc, Mutex as StdMutex};

use russh::client;
use russh::keys::PublicKey;

use super::SshTarget;
use crate::inventory::HostKeyPolicy;
use crate::observation::{Unreachable, UnreachableKind};
use crate::transport::known_hosts::{self, Verdict};

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
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key: PublicKey = match server {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            // Host certificates are checked as their plain key: no @cert-authority trust yet.
            russh::keys::PublicKeyOrCertificate::Certificate(cert) => {
                PublicKey::from(cert.public_key().clone())
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

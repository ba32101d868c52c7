//! Logging in: private keys (loaded once per process, passphrases asked once) and the order
//! in which the agent's and the identity files' keys are offered.
//!
//! User certificates are offered as OpenSSH offers them: those the agent holds, and those on
//! disk — each `CertificateFile`, and `<identity>-cert.pub` beside each identity file — with the
//! private key they certify, whether that key is in the agent or in the identity file. A
//! certificate is offered before its plain key. When nothing is accepted, the error names every
//! certificate offered (file, key ID, CA, and "expired" when it is), because sshd's refusal
//! says nothing about why.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use russh::client::Handle;
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::ssh_key::public::KeyData;
use russh::keys::ssh_key::{Certificate, HashAlg};
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Mutex;

use super::SshTarget;
use super::host_key::Client;
use super::offer;
use crate::observation::{Unreachable, UnreachableKind};
use crate::transport::host_cert;

/// Asks the operator for a key's passphrase (a TUI dialog, a TTY prompt, or nobody).
pub trait PassphrasePrompt: Send + Sync {
    /// `attempt` starts at 1; `None` means the operator declined.
    fn ask(&self, key: &Path, attempt: u32) -> BoxFuture<'static, Option<String>>;
}

/// A prompt that never answers: encrypted keys must then come through the agent.
pub struct NoPrompt;

impl PassphrasePrompt for NoPrompt {
    fn ask(&self, _key: &Path, _attempt: u32) -> BoxFuture<'static, Option<String>> {
        Box::pin(async { None })
    }
}

/// State shared by all SSH hosts of one process: decrypted keys and the passphrase prompt.
pub struct SshShared {
    prompt: Arc<dyn PassphrasePrompt>,
    /// Keys already loaded, so a passphrase is asked once per key, not once per host.
    keys: Mutex<HashMap<PathBuf, Option<Arc<PrivateKey>>>>,
    /// Handshakes in progress at once, over every host ([`MAX_HANDSHAKES`]).
    handshakes: Arc<tokio::sync::Semaphore>,
}

/// Handshakes in progress at once. A cold start of hundreds of hosts would otherwise start every
/// key exchange together, and on a small client each would crawl — each host's
/// `connect_timeout` then measured the client's own queue, not the peer. Beyond this many, a
/// host waits for a turn *before* its clock starts (the wait is reported as queued time).
pub const MAX_HANDSHAKES: usize = 32;

impl SshShared {
    /// Shared state using `prompt` for encrypted keys.
    pub fn new(prompt: Arc<dyn PassphrasePrompt>) -> Arc<Self> {
        Arc::new(SshShared {
            prompt,
            keys: Mutex::new(HashMap::new()),
            handshakes: Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES)),
        })
    }

    /// A turn to run a handshake; held until the handshake ends.
    pub(super) async fn handshake_turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.handshakes.clone().acquire_owned().await.ok()
    }

    /// Loads (once) the private key at `path`, asking for its passphrase when it is encrypted.
    /// `None` when the file is missing, unreadable or the operator gave up.
    pub(super) async fn key(&self, path: &Path) -> Option<Arc<PrivateKey>> {
        let mut keys = self.keys.lock().await;
        if let Some(cached) = keys.get(path) {
            return cached.clone();
        }
        let loaded = self.load_key(path).await;
        keys.insert(path.to_path_buf(), loaded.clone());
        loaded
    }

    async fn load_key(&self, path: &Path) -> Option<Arc<PrivateKey>> {
        if !path.exists() {
            return None;
        }
        match crate::transport::key_file::load_secret_key(path, None) {
            Ok(key) => return Some(Arc::new(key)),
            Err(russh::keys::Error::KeyIsEncrypted) => {}
            Err(e) => {
                tracing::warn!(key = %path.display(), error = %e, "cannot load identity file");
                return None;
            }
        }
        for attempt in 1..=3 {
            let passphrase = self.prompt.ask(path, attempt).await?;
            match crate::transport::key_file::load_secret_key(path, Some(&passphrase)) {
                Ok(key) => return Some(Arc::new(key)),
                // A wrong passphrase shows up as a decryption failure: ask again.
                Err(e) => {
                    tracing::warn!(key = %path.display(), attempt, error = %e, "passphrase rejected")
                }
            }
        }
        None
    }
}

/// A user certificate read from disk.
struct UserCert {
    path: PathBuf,
    cert: Certificate,
}

/// The certificates configured for `t`, in OpenSSH's order: each `CertificateFile`, then the
/// `-cert.pub` (or `-cert`) beside each identity file. Missing files are skipped (most keys have
/// no certificate); unreadable ones are logged and skipped, as OpenSSH does.
fn user_certificates(t: &SshTarget) -> Vec<UserCert> {
    let beside = t.identity_files.iter().flat_map(|key| {
        ["-cert.pub", "-cert"].map(|suffix| {
            let mut name = key.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
    });
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for path in t.certificate_files.iter().cloned().chain(beside) {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot read certificate file");
                continue;
            }
        };
        match Certificate::from_openssh(text.trim()) {
            Ok(cert) => {
                if seen.insert(cert.to_bytes().unwrap_or_default()) {
                    out.push(UserCert { path, cert });
                }
            }
            Err(e) => tracing::warn!(
                file = %path.display(),
                error = %e,
                "not an OpenSSH certificate (expected one line `…-cert-v01@openssh.com AAAA…`)"
            ),
        }
    }
    out
}

/// How an offered certificate is named in the refusal: where it came from, its key ID, its CA,
/// and whether this machine's clock already finds it out of date (sshd then refuses it).
fn cert_label(source: &str, cert: &Certificate, now: u64) -> String {
    let validity = if now >= cert.valid_before() {
        format!(", expired at {}", host_cert::when(cert.valid_before()))
    } else if now < cert.valid_after() {
        format!(", not valid before {}", host_cert::when(cert.valid_after()))
    } else {
        String::new()
    };
    format!(
        "certificate {source} (ID \"{}\", CA {}{validity})",
        cert.key_id(),
        host_cert::ca_fingerprint(cert)
    )
}

/// Signs with the agent's *plain* key for a certificate read from disk: OpenSSH's agent signs
/// only for identities it holds, and it holds the key, not the certificate. The signed data
/// already names the certificate, so the signature is the same either way.
struct PlainKeyInAgent<'a, R: AsyncRead + AsyncWrite + Unpin + Send> {
    agent: &'a mut AgentClient<R>,
    key: AgentIdentity,
}

impl<R: AsyncRead + AsyncWrite + Unpin + Send> russh::Signer for PlainKeyInAgent<'_, R> {
    type Error = russh::AgentAuthError;

    async fn auth_sign(
        &mut self,
        _certificate: &AgentIdentity,
        hash_alg: Option<HashAlg>,
        to_sign: Vec<u8>,
    ) -> Result<Vec<u8>, Self::Error> {
        self.agent
            .sign_request(&self.key, hash_alg, to_sign)
            .await
            .map_err(Into::into)
    }
}

fn certifies(cert: &Certificate, key: &KeyData) -> bool {
    cert.public_key() == key
}

pub(super) async fn authenticate(
    handle: &mut Handle<Client>,
    t: &SshTarget,
    identities: &[(PathBuf, Arc<PrivateKey>)],
) -> Result<(), Unreachable> {
    let certs = user_certificates(t);
    let now = host_cert::now_unix();
    // Each certificate is offered once, however many ways it is reachable.
    let mut offered: HashSet<Vec<u8>> = HashSet::new();
    let mut first_offer = |cert: &Certificate| offered.insert(cert.to_bytes().unwrap_or_default());
    let mut tried = Vec::new();
    // Keys the agent offered, so the same key is not offered again from its file.
    let mut offered_by_agent = Vec::new();
    // Keys and certificates offered through the agent, for the MaxAuthTries message.
    let mut attempts = 0usize;
    // `IdentityAgent` or `$SSH_AUTH_SOCK`, resolved with the target.
    if let Some(socket) = &t.identity_agent {
        match AgentClient::connect_uds(socket).await {
            Ok(mut agent) => match agent.request_identities().await {
                Ok(all) => {
                    // OpenSSH's order (configured keys first, IdentitiesOnly): see `offer`.
                    let configured = offer::configured_keys(&t.identity_files, identities);
                    let agent_keys = offer::agent_order(
                        all,
                        |i| i.public_key().key_data().clone(),
                        &configured,
                        t.identities_only,
                    );
                    let rsa_hash = handle
                        .best_supported_rsa_hash()
                        .await
                        .ok()
                        .flatten()
                        .flatten();
                    for identity in &agent_keys {
                        let key = identity.public_key().into_owned();
                        let hash = if key.algorithm().is_rsa() {
                            rsa_hash
                        } else {
                            None
                        };
                        if let AgentIdentity::Certificate { certificate, .. } = identity {
                            if !first_offer(certificate) {
                                continue;
                            }
                            tried.push(cert_label("in ssh-agent", certificate, now));
                            attempts += 1;
                            match handle
                                .authenticate_certificate_with(
                                    &t.user,
                                    certificate.clone(),
                                    hash,
                                    &mut agent,
                                )
                                .await
                            {
                                Ok(r) if r.success() => return Ok(()),
                                Ok(_) => {}
                                Err(e) => {
                                    tracing::debug!(host = %t.name, error = %e, "agent signing failed");
                                    if handle.is_closed() {
                                        return Err(too_many_tries(t, attempts - 1));
                                    }
                                }
                            }
                            continue;
                        }
                        for uc in certs.iter().filter(|c| certifies(&c.cert, key.key_data())) {
                            if !first_offer(&uc.cert) {
                                continue;
                            }
                            tried.push(cert_label(
                                &format!("{} (key in ssh-agent)", uc.path.display()),
                                &uc.cert,
                                now,
                            ));
                            attempts += 1;
                            let mut signer = PlainKeyInAgent {
                                agent: &mut agent,
                                key: AgentIdentity::from(key.clone()),
                            };
                            match handle
                                .authenticate_certificate_with(
                                    &t.user,
                                    uc.cert.clone(),
                                    hash,
                                    &mut signer,
                                )
                                .await
                            {
                                Ok(r) if r.success() => return Ok(()),
                                Ok(_) => {}
                                Err(e) => {
                                    tracing::debug!(host = %t.name, error = %e, "agent signing failed");
                                    if handle.is_closed() {
                                        return Err(too_many_tries(t, attempts - 1));
                                    }
                                }
                            }
                        }
                        // Only a plain key offered here spares its file a second offer.
                        offered_by_agent.push(key.key_data().clone());
                        attempts += 1;
                        match handle
                            .authenticate_publickey_with(&t.user, key, hash, &mut agent)
                            .await
                        {
                            Ok(r) if r.success() => return Ok(()),
                            Ok(_) => {}
                            Err(e) => {
                                tracing::debug!(host = %t.name, error = %e, "agent signing failed");
                                if handle.is_closed() {
                                    return Err(too_many_tries(t, attempts - 1));
                                }
                            }
                        }
                    }
                    if !agent_keys.is_empty() {
                        tried.push(format!("ssh-agent ({} keys)", agent_keys.len()));
                    }
                }
                Err(e) => tracing::debug!(error = %e, "agent has no identities"),
            },
            Err(e) => tracing::debug!(error = %e, "cannot reach ssh-agent"),
        }
    }
    for (path, key) in offer::files_after_agent(identities, &offered_by_agent) {
        let key = key.clone();
        let public = key.public_key().clone();
        for uc in certs
            .iter()
            .filter(|c| certifies(&c.cert, public.key_data()))
        {
            if !first_offer(&uc.cert) {
                continue;
            }
            tried.push(cert_label(&uc.path.display().to_string(), &uc.cert, now));
            match handle
                .authenticate_openssh_cert(&t.user, key.clone(), uc.cert.clone())
                .await
            {
                Ok(r) if r.success() => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(lost_during_auth(&e)),
            }
        }
        let hash = if key.algorithm().is_rsa() {
            handle
                .best_supported_rsa_hash()
                .await
                .ok()
                .flatten()
                .flatten()
        } else {
            None
        };
        tried.push(path.display().to_string());
        match handle
            .authenticate_publickey(&t.user, PrivateKeyWithHashAlg::new(key, hash))
            .await
        {
            Ok(r) if r.success() => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(lost_during_auth(&e)),
        }
    }
    Err(Unreachable {
        kind: UnreachableKind::Auth,
        message: if tried.is_empty() {
            format!(
                "no usable key for {}@{}: no ssh-agent identities and none of the identity files could be loaded",
                t.user, t.address
            )
        } else {
            format!(
                "{}@{} accepted none of: {}",
                t.user,
                t.address,
                tried.join(", ")
            )
        },
        retry_in: None,
    })
}

/// sshd closed the connection while keys were being offered: almost always `MaxAuthTries`
/// (6 by default) reached because the agent holds many keys ("Too many authentication
/// failures" in OpenSSH's words).
fn too_many_tries(t: &SshTarget, refused: usize) -> Unreachable {
    Unreachable {
        kind: UnreachableKind::Auth,
        message: format!(
            "{}@{} closed the connection after {refused} keys were refused (too many authentication \
             failures: most likely sshd's MaxAuthTries); set IdentityFile and `IdentitiesOnly yes` for this host \
             in ~/.ssh/config, or identity_files in the inventory, so the right key is offered first",
            t.user, t.address
        ),
        retry_in: None,
    }
}

fn lost_during_auth(e: &russh::Error) -> Unreachable {
    Unreachable {
        kind: UnreachableKind::Disconnected,
        message: format!("connection lost during authentication: {e}"),
        retry_in: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::host_cert::fixtures::{
        CERT_HOST, CERT_USER, INSIDE, VALID_AFTER, VALID_BEFORE,
    };

    /// The target of one inventory host with these files (built the way the poller builds it,
    /// so new fields need no change here).
    fn target(identity_files: Vec<PathBuf>, certificate_files: Vec<PathBuf>) -> SshTarget {
        let list = |paths: Vec<PathBuf>| {
            paths
                .iter()
                .map(|p| format!("{:?}", p.display().to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let fleet = crate::inventory::load_fleet_from_str(
            &format!(
                "[fleet]\nname = \"t\"\n[[hosts]]\nname = \"db1\"\naddress = \"10.0.0.5\"\n\
                 identity_files = [{}]\ncertificate_files = [{}]\n",
                list(identity_files),
                list(certificate_files)
            ),
            crate::inventory::ConfigSource::Embedded,
        )
        .unwrap();
        super::super::resolve_target(&fleet, &fleet.hosts[0], None)
    }

    #[test]
    fn certificates_are_found_in_certificate_file_and_beside_identity_files_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name);
        // The same certificate under two names, another beside a second key (no `.pub`, which
        // OpenSSH also reads), garbage beside a third, nothing beside a fourth.
        std::fs::write(p("signed.pub"), format!("{CERT_USER} alice@laptop\n")).unwrap();
        std::fs::write(p("id_a-cert.pub"), CERT_USER).unwrap();
        std::fs::write(p("id_b-cert"), CERT_HOST).unwrap();
        std::fs::write(p("id_c-cert.pub"), "ssh-ed25519 AAAA not a certificate").unwrap();
        let t = target(
            vec![p("id_a"), p("id_b"), p("id_c"), p("id_d")],
            vec![p("signed.pub"), p("missing.pub")],
        );
        let found: Vec<(PathBuf, String)> = user_certificates(&t)
            .into_iter()
            .map(|c| (c.path, c.cert.key_id().to_string()))
            .collect();
        assert_eq!(
            found,
            vec![
                (p("signed.pub"), "user".to_string()),
                (p("id_b-cert"), "host".to_string()),
            ]
        );
    }

    #[test]
    fn an_offered_certificate_is_named_with_its_id_ca_and_validity() {
        let cert = Certificate::from_openssh(CERT_USER).unwrap();
        let fp = host_cert::ca_fingerprint(&cert);
        assert_eq!(
            cert_label("/k/id-cert.pub", &cert, INSIDE),
            format!("certificate /k/id-cert.pub (ID \"user\", CA {fp})")
        );
        assert!(
            cert_label("x", &cert, VALID_BEFORE).ends_with(", expired at 2026-02-01T00:00:00Z)")
        );
        assert!(
            cert_label("x", &cert, VALID_AFTER - 1)
                .ends_with(", not valid before 2026-01-01T00:00:00Z)")
        );
    }

    #[test]
    fn a_certificate_pairs_only_with_the_key_it_certifies() {
        let cert = Certificate::from_openssh(CERT_USER).unwrap();
        let other = russh::keys::ssh_key::PublicKey::from_openssh(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBauIwm3W95FenCcu/vVRTB1G9vjbM5U+yV1krfOE3gT",
        )
        .unwrap();
        assert!(certifies(&cert, cert.public_key()));
        assert!(!certifies(&cert, other.key_data()));
    }
}

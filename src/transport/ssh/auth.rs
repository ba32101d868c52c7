//! Logging in: private keys (loaded once per process, passphrases asked once) and the order
//! in which the agent's and the identity files' keys are offered.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use russh::client::Handle;
use russh::keys::agent::client::AgentClient;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
use tokio::sync::Mutex;

use super::SshTarget;
use super::host_key::Client;
use super::offer;
use crate::observation::{Unreachable, UnreachableKind};

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
}

impl SshShared {
    /// Shared state using `prompt` for encrypted keys.
    pub fn new(prompt: Arc<dyn PassphrasePrompt>) -> Arc<Self> {
        Arc::new(SshShared {
            prompt,
            keys: Mutex::new(HashMap::new()),
        })
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

pub(super) async fn authenticate(
    handle: &mut Handle<Client>,
    t: &SshTarget,
    identities: &[(PathBuf, Arc<PrivateKey>)],
) -> Result<(), Unreachable> {
    let mut tried = Vec::new();
    // Keys the agent offered, so the same key is not offered again from its file.
    let mut offered_by_agent = Vec::new();
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
                        offered_by_agent.push(key.key_data().clone());
                        let hash = if key.algorithm().is_rsa() {
                            rsa_hash
                        } else {
                            None
                        };
                        match handle
                            .authenticate_publickey_with(&t.user, key, hash, &mut agent)
                            .await
                        {
                            Ok(r) if r.success() => return Ok(()),
                            Ok(_) => {}
                            Err(e) => {
                                tracing::debug!(host = %t.name, error = %e, "agent signing failed");
                                if handle.is_closed() {
                                    return Err(too_many_tries(t, offered_by_agent.len() - 1));
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
            Err(e) => {
                return Err(Unreachable {
                    kind: UnreachableKind::Disconnected,
                    message: format!("connection lost during authentication: {e}"),
                    retry_in: None,
                });
            }
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

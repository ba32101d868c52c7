//! The order keys are offered in at login, as OpenSSH's `pubkey_prepare` (sshconnect2.c):
//!
//! 1. agent keys that are also configured identity files (in the agent's order),
//! 2. the agent's other keys, unless `IdentitiesOnly yes`,
//! 3. the configured identity files the agent does not hold (in configured order).
//!
//! So the configured key is tried first even with many keys in the agent, and sshd's
//! `MaxAuthTries` (6 by default) does not end the login before it; `IdentitiesOnly` keeps the
//! agent's unrelated keys out entirely. `ssh -v` shows the same order ("Will attempt key: …").

use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::keys::ssh_key::public::KeyData;
use russh::keys::{PrivateKey, PublicKey};

/// The public keys of the configured identity files: the loaded private key's, else the
/// `.pub` file beside it (an encrypted key whose passphrase was not given can still be matched
/// with the agent's copy, as OpenSSH does).
pub(super) fn configured_keys(
    files: &[PathBuf],
    loaded: &[(PathBuf, Arc<PrivateKey>)],
) -> Vec<KeyData> {
    files
        .iter()
        .filter_map(|path| {
            loaded
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, k)| k.public_key().key_data().clone())
                .or_else(|| public_key_beside(path))
        })
        .collect()
}

fn public_key_beside(path: &Path) -> Option<KeyData> {
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    PublicKey::read_openssh_file(Path::new(&pub_path))
        .ok()
        .map(|k| k.key_data().clone())
}

/// The agent's keys in the order to offer them (steps 1 and 2 above).
pub(super) fn agent_order<T>(
    agent: Vec<T>,
    key: impl Fn(&T) -> KeyData,
    configured: &[KeyData],
    identities_only: bool,
) -> Vec<T> {
    let (mut first, rest): (Vec<T>, Vec<T>) = agent
        .into_iter()
        .partition(|k| configured.contains(&key(k)));
    if !identities_only {
        first.extend(rest);
    }
    first
}

/// The identity files to offer after the agent (step 3): those whose key the agent did not
/// already offer.
pub(super) fn files_after_agent<'a>(
    files: &'a [(PathBuf, Arc<PrivateKey>)],
    offered_by_agent: &[KeyData],
) -> impl Iterator<Item = &'a (PathBuf, Arc<PrivateKey>)> {
    files
        .iter()
        .filter(move |(_, k)| !offered_by_agent.contains(k.public_key().key_data()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::ssh_key::private::Ed25519Keypair;
    use std::sync::atomic::{AtomicU8, Ordering};

    /// A distinct ed25519 key per call (from a counter seed: tests need no randomness).
    fn key() -> PrivateKey {
        static SEED: AtomicU8 = AtomicU8::new(1);
        let seed = [SEED.fetch_add(1, Ordering::Relaxed); 32];
        PrivateKey::from(Ed25519Keypair::from_seed(&seed))
    }

    #[test]
    fn configured_agent_keys_come_first_and_identities_only_drops_the_rest() {
        let keys: Vec<PrivateKey> = (0..8).map(|_| key()).collect();
        let data = |i: usize| keys[i].public_key().key_data().clone();
        let agent: Vec<usize> = (0..8).collect();
        let configured = vec![data(7)];
        assert_eq!(
            agent_order(agent.clone(), |&i| data(i), &configured, false),
            vec![7, 0, 1, 2, 3, 4, 5, 6]
        );
        assert_eq!(agent_order(agent, |&i| data(i), &configured, true), vec![7]);
    }

    #[test]
    fn files_the_agent_offered_are_not_offered_twice() {
        let (a, b) = (Arc::new(key()), Arc::new(key()));
        let files = vec![(PathBuf::from("/a"), a.clone()), (PathBuf::from("/b"), b)];
        let offered = vec![a.public_key().key_data().clone()];
        let left: Vec<&PathBuf> = files_after_agent(&files, &offered)
            .map(|(p, _)| p)
            .collect();
        assert_eq!(left, vec![&PathBuf::from("/b")]);
    }
}

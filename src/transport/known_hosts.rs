//! Host key verification against OpenSSH known_hosts files.
//!
//! `ssh-key` parses the file format (markers, hashed names, patterns) but does not match, and
//! russh's own checker misses wildcards, `!` negation and `@revoked`. This module is the thin
//! matcher with OpenSSH's semantics on top of the parser: a line applies to a host when one of
//! its patterns matches and none of its negated ones does; `[host]:port` is the name for a
//! non-22 port (and, as OpenSSH retries "without port identifier", a bare host line applies on
//! any port for a key that is otherwise unknown); a key of the same algorithm that differs is a
//! *changed* key, which is refused under every policy. `@cert-authority` and `@revoked` lines are
//! found here for [`super::host_cert`], which judges host certificates.
//!
//! Callers: the SSH transport's `check_server_key`, and `accept-new` appending a new key.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::known_hosts::{Entry, HostPatterns, Marker};
use russh::keys::ssh_key::public::KeyData;
use russh::keys::ssh_key::{HashAlg, PublicKey};
use sha1::Sha1;

/// Where a known_hosts line came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// The outcome of checking a server's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The key is recorded for this host.
    Known(Location),
    /// No line lists this key for this host.
    Unknown {
        /// Lines that record keys of *other* algorithms for this host (OpenSSH warns about them).
        other_algorithms: Vec<Location>,
    },
    /// A different key of the same algorithm is recorded: possible man-in-the-middle.
    Changed {
        /// Where the recorded key is.
        recorded: Location,
        /// SHA-256 fingerprint of the recorded key.
        recorded_fingerprint: String,
    },
    /// The key is marked `@revoked`.
    Revoked(Location),
}

/// The name a host has in known_hosts: `host` on port 22, `[host]:port` otherwise.
pub fn host_key_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// SHA-256 fingerprint as OpenSSH prints it (`SHA256:…`).
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Checks `key` for `host:port` against `files`, in order. Missing files are skipped (a fresh
/// machine has no `~/.ssh/known_hosts`); unparsable lines are skipped, as OpenSSH does.
///
/// On a non-default port a key recorded under the bare host name (`db1 KEY` for `[db1]:2222`)
/// also counts as known, as OpenSSH's "checking without port identifier" does; such a line can
/// make a key known but never changed (OpenSSH's retry is read-only too). `@revoked` lines under
/// either name are honoured: a revocation is never escaped by writing the port.
pub fn check(files: &[PathBuf], host: &str, port: u16, key: &PublicKey) -> Verdict {
    if let Some(at) = revoked(files, host, port, key.key_data()) {
        return Verdict::Revoked(at);
    }
    let verdict = check_name(files, &host_key_name(host, port), key);
    if port != 22
        && matches!(verdict, Verdict::Unknown { .. })
        && let known @ Verdict::Known(_) = check_name(files, host, key)
    {
        return known;
    }
    verdict
}

fn check_name(files: &[PathBuf], name: &str, key: &PublicKey) -> Verdict {
    let mut known = None;
    let mut changed = None;
    let mut other_algorithms = Vec::new();
    for (location, entry) in lines_for(files, &[name]) {
        let recorded = entry.public_key();
        let same_key = recorded.key_data() == key.key_data();
        match entry.marker() {
            // A revoked key is refused whatever else is recorded.
            Some(Marker::Revoked) if same_key => return Verdict::Revoked(location),
            Some(_) => continue,
            None => {}
        }
        if same_key {
            known.get_or_insert(location);
        } else if recorded.algorithm() == key.algorithm() {
            changed.get_or_insert((location, fingerprint(recorded)));
        } else {
            other_algorithms.push(location);
        }
    }
    // A matching line wins over a conflicting one, as in OpenSSH (several keys may be listed).
    if let Some(location) = known {
        Verdict::Known(location)
    } else if let Some((recorded, recorded_fingerprint)) = changed {
        Verdict::Changed {
            recorded,
            recorded_fingerprint,
        }
    } else {
        Verdict::Unknown { other_algorithms }
    }
}

/// Whether `files` record any key for `host:port` (a plain key, or a `@cert-authority` that
/// signs host certificates for it; on another port the bare host name counts too, as in
/// [`check`]). `fleetdeck init` uses it to list hosts that strict checking would refuse.
pub fn has_key(files: &[PathBuf], host: &str, port: u16) -> bool {
    let name = host_key_name(host, port);
    lines_for(files, &[name.as_str(), host])
        .iter()
        .any(|(_, entry)| matches!(entry.marker(), None | Some(Marker::CertAuthority)))
}

/// The `@cert-authority` lines that apply to `host:port`, in file order: first those naming
/// `[host]:port` (or `host` on port 22), then, on another port, those naming the bare host (which
/// OpenSSH also honours, "checking without port identifier").
pub fn cert_authorities(files: &[PathBuf], host: &str, port: u16) -> Vec<(Location, PublicKey)> {
    let name = host_key_name(host, port);
    let mut names = vec![name.as_str()];
    if port != 22 {
        names.push(host);
    }
    let mut found: Vec<(Location, PublicKey)> = Vec::new();
    for name in names {
        for (location, entry) in lines_for(files, &[name]) {
            if entry.marker() == Some(&Marker::CertAuthority)
                && !found.iter().any(|(l, _)| *l == location)
            {
                found.push((location, entry.public_key().clone()));
            }
        }
    }
    found
}

/// The first `@revoked` line that applies to `host:port` (or the bare host) and lists `key`.
/// Both names are searched: a revocation is never escaped by writing the port.
pub fn revoked(files: &[PathBuf], host: &str, port: u16, key: &KeyData) -> Option<Location> {
    let name = host_key_name(host, port);
    lines_for(files, &[name.as_str(), host])
        .into_iter()
        .find(|(_, entry)| {
            entry.marker() == Some(&Marker::Revoked) && entry.public_key().key_data() == key
        })
        .map(|(location, _)| location)
}

/// Every parsable line of `files` whose host patterns match one of `names`, with where it is.
fn lines_for(files: &[PathBuf], names: &[&str]) -> Vec<(Location, Entry)> {
    let mut out = Vec::new();
    for file in files {
        // Bytes, not a UTF-8 string: one stray non-UTF-8 byte (a Latin-1 comment) must not make
        // every key in the file unknown, which `accept-new` would then answer by trusting a
        // changed key. OpenSSH reads the file bytewise and skips only the lines it cannot parse.
        let Ok(bytes) = std::fs::read(file) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for (index, line) in text.lines().enumerate() {
            let Some(entry) = parse_line(line) else {
                continue;
            };
            if names.iter().any(|name| entry_matches(&entry, name)) {
                let location = Location {
                    file: file.clone(),
                    line: index + 1,
                };
                out.push((location, entry));
            }
        }
    }
    out
}

/// Appends `key` for `host:port` to `file` (the `accept-new` policy), creating the file with
/// 0600 and its directory with 0700 when they do not exist.
pub fn append(file: &Path, host: &str, port: u16, key: &PublicKey) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let openssh = key
        .to_openssh()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut needs_newline = false;
    if let Ok(existing) = std::fs::read(file) {
        needs_newline = existing.last().is_some_and(|b| *b != b'\n');
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(file)?;
    let line = format!(
        "{}{} {}\n",
        if needs_newline { "\n" } else { "" },
        host_key_name(host, port),
        openssh
    );
    // One write call so two consoles appending at once do not interleave inside a line.
    f.write_all(line.as_bytes())?;
    f.sync_all()
}

fn parse_line(line: &str) -> Option<Entry> {
    // ssh-key splits on single spaces; OpenSSH also accepts tabs and runs of blanks.
    let normalised = line.split_whitespace().collect::<Vec<_>>().join(" ");
    if normalised.is_empty() || normalised.starts_with('#') {
        return None;
    }
    normalised.parse().ok()
}

fn entry_matches(entry: &Entry, name: &str) -> bool {
    match entry.host_patterns() {
        HostPatterns::HashedName { salt, hash } => {
            let Ok(mac) = Hmac::<Sha1>::new_from_slice(salt) else {
                return false;
            };
            mac.chain_update(name.as_bytes()).verify_slice(hash).is_ok()
        }
        HostPatterns::Patterns(patterns) => {
            let mut positive = false;
            for pattern in patterns {
                if let Some(negated) = pattern.strip_prefix('!') {
                    if wildcard_match(negated, name) {
                        return false;
                    }
                } else if wildcard_match(pattern, name) {
                    positive = true;
                }
            }
            positive
        }
    }
}

/// OpenSSH's host pattern match: `*` and `?` only, case-insensitive. Hand-written because glob
/// crates give `[` a meaning, and `[host]:port` must match literally.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let n: Vec<char> = name.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ni));
            pi += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ni = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real keys made with `ssh-keygen -t ed25519|ecdsa -N ''` for these tests.
    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINA5rQ+EI5HUSa72egIiuiryQJu2SDfpAm2QYN+5CPyL";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKp6P6aXh215uTQKEojGNuJJkxa9UAkEYIxkbAvm8Oox";
    const KEY_ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBKkP9IusfABjY8L9dsRgQAi5w9Cv56XCTGwybTGgMi6XUMELaC1UPrvrLnprhrOHYyqsx3/p3MQ/rqHE9nJSIUo=";
    /// `ssh-keygen -H` of "[127.0.0.1]:2222 KEY_A".
    const HASHED_A_2222: &str = "|1|nDEXsC14Y93YcmOjhjwXLiZqYTM=|pmPDGFniuP8XaR97I1nIfzbnGbM= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINA5rQ+EI5HUSa72egIiuiryQJu2SDfpAm2QYN+5CPyL";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    fn file_with(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn plain_entry_on_a_non_default_port_is_known() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(&dir, &format!("# comment\n[127.0.0.1]:2222 {KEY_A}\n"));
        let v = check(std::slice::from_ref(&f), "127.0.0.1", 2222, &key(KEY_A));
        assert_eq!(v, Verdict::Known(Location { file: f, line: 2 }));
    }

    #[test]
    fn the_same_key_on_another_port_is_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(&dir, &format!("[127.0.0.1]:2222 {KEY_A}\n"));
        let v = check(&[f], "127.0.0.1", 2223, &key(KEY_A));
        assert!(matches!(v, Verdict::Unknown { .. }), "{v:?}");
    }

    #[test]
    fn a_different_key_of_the_same_algorithm_is_changed() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(&dir, &format!("db1,10.0.0.5 {KEY_A}\n"));
        match check(&[f], "db1", 22, &key(KEY_B)) {
            Verdict::Changed {
                recorded,
                recorded_fingerprint,
            } => {
                assert_eq!(recorded.line, 1);
                assert_eq!(recorded_fingerprint, fingerprint(&key(KEY_A)));
            }
            v => panic!("expected Changed, got {v:?}"),
        }
    }

    #[test]
    fn a_key_of_another_algorithm_is_unknown_and_names_the_other_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(&dir, &format!("db1 {KEY_ECDSA}\n"));
        match check(&[f], "db1", 22, &key(KEY_A)) {
            Verdict::Unknown { other_algorithms } => assert_eq!(other_algorithms.len(), 1),
            v => panic!("expected Unknown, got {v:?}"),
        }
    }

    #[test]
    fn hashed_entries_from_ssh_keygen_match() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(&dir, &format!("{HASHED_A_2222}\n"));
        assert!(matches!(
            check(std::slice::from_ref(&f), "127.0.0.1", 2222, &key(KEY_A)),
            Verdict::Known(_)
        ));
        assert!(matches!(
            check(std::slice::from_ref(&f), "127.0.0.1", 2223, &key(KEY_A)),
            Verdict::Unknown { .. }
        ));
        assert!(matches!(
            check(&[f], "127.0.0.1", 2222, &key(KEY_B)),
            Verdict::Changed { .. }
        ));
    }

    #[test]
    fn wildcards_and_negation_follow_openssh() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(&dir, &format!("*.prod,!bad.prod {KEY_A}\n"));
        assert!(matches!(
            check(std::slice::from_ref(&f), "node1.prod", 22, &key(KEY_A)),
            Verdict::Known(_)
        ));
        assert!(matches!(
            check(&[f], "bad.prod", 22, &key(KEY_A)),
            Verdict::Unknown { .. }
        ));
    }

    #[test]
    fn revoked_keys_are_refused_even_when_also_listed() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(&dir, &format!("db1 {KEY_A}\n@revoked * {KEY_A}\n"));
        assert!(matches!(
            check(&[f], "db1", 22, &key(KEY_A)),
            Verdict::Revoked(_)
        ));
    }

    #[test]
    fn tabs_garbage_and_missing_files_are_tolerated() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(&dir, &format!("garbage line\n\ndb1\t{KEY_A}\n"));
        let missing = dir.path().join("nope");
        assert!(matches!(
            check(&[missing, f], "db1", 22, &key(KEY_A)),
            Verdict::Known(Location { line: 3, .. })
        ));
    }

    #[test]
    fn append_creates_a_private_file_that_check_then_accepts() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub/known_hosts");
        append(&f, "127.0.0.1", 2200, &key(KEY_A)).unwrap();
        append(&f, "127.0.0.1", 22, &key(KEY_B)).unwrap();
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(
            check(std::slice::from_ref(&f), "127.0.0.1", 2200, &key(KEY_A)),
            Verdict::Known(Location { line: 1, .. })
        ));
        assert!(matches!(
            check(&[f], "127.0.0.1", 22, &key(KEY_B)),
            Verdict::Known(Location { line: 2, .. })
        ));
    }

    #[test]
    fn a_key_under_the_bare_host_name_is_known_on_any_port_but_never_changed_there() {
        // OpenSSH: "checking without port identifier" (read-only).
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(&dir, &format!("db1 {KEY_A}\n"));
        assert!(matches!(
            check(std::slice::from_ref(&f), "db1", 2222, &key(KEY_A)),
            Verdict::Known(Location { line: 1, .. })
        ));
        assert!(matches!(
            check(std::slice::from_ref(&f), "db1", 2222, &key(KEY_B)),
            Verdict::Unknown { .. }
        ));
        // A key recorded for the port wins over the bare name's.
        let g = file_with(&dir, &format!("db1 {KEY_A}\n[db1]:2222 {KEY_B}\n"));
        assert!(matches!(
            check(std::slice::from_ref(&g), "db1", 2222, &key(KEY_A)),
            Verdict::Changed { .. }
        ));
        // A revocation under the bare name is not escaped by the port.
        let r = file_with(&dir, &format!("[db1]:2222 {KEY_A}\n@revoked db1 {KEY_A}\n"));
        assert!(matches!(
            check(&[r], "db1", 2222, &key(KEY_A)),
            Verdict::Revoked(Location { line: 2, .. })
        ));
    }

    #[test]
    fn cert_authority_lines_match_like_host_lines() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(
            &dir,
            &format!(
                "@cert-authority [127.0.0.1]:* {KEY_A}\n\
                 @cert-authority *.prod,!bad.prod {KEY_B}\n\
                 @cert-authority 10.0.0.5 {KEY_ECDSA}\n\
                 [127.0.0.1]:2222 {KEY_B}\n"
            ),
        );
        let files = std::slice::from_ref(&f);
        let lines = |host: &str, port: u16| -> Vec<usize> {
            cert_authorities(files, host, port)
                .iter()
                .map(|(l, _)| l.line)
                .collect()
        };
        // `[127.0.0.1]:*` covers every non-default port, never port 22 (whose name is bare).
        assert_eq!(lines("127.0.0.1", 2222), vec![1]);
        assert_eq!(lines("127.0.0.1", 22), Vec::<usize>::new());
        assert_eq!(lines("node1.prod", 22), vec![2]);
        assert_eq!(lines("bad.prod", 22), Vec::<usize>::new());
        // The bare host's CA applies on another port too, after those naming the port.
        assert_eq!(lines("10.0.0.5", 2200), vec![3]);
        // A plain key line is never a CA, and a CA line never a host key.
        assert!(matches!(
            check(files, "127.0.0.1", 2223, &key(KEY_A)),
            Verdict::Unknown { .. }
        ));
        assert_eq!(
            cert_authorities(files, "127.0.0.1", 2222)[0].1.key_data(),
            key(KEY_A).key_data()
        );
    }

    #[test]
    fn hashed_cert_authority_lines_match() {
        let dir = tempfile::tempdir().unwrap();
        let hashed = HASHED_A_2222;
        let f = file_with(&dir, &format!("@cert-authority {hashed}\n"));
        assert_eq!(
            cert_authorities(std::slice::from_ref(&f), "127.0.0.1", 2222).len(),
            1
        );
        assert!(cert_authorities(&[f], "127.0.0.1", 2223).is_empty());
    }

    #[test]
    fn revoked_cas_are_found_for_the_host_only() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(
            &dir,
            &format!("@revoked otherhost {KEY_A}\n@revoked [127.0.0.1]:* {KEY_B}\n"),
        );
        let files = std::slice::from_ref(&f);
        assert_eq!(
            revoked(files, "127.0.0.1", 2222, key(KEY_A).key_data()),
            None
        );
        assert_eq!(
            revoked(files, "127.0.0.1", 2222, key(KEY_B).key_data()).map(|l| l.line),
            Some(2)
        );
        assert_eq!(
            revoked(files, "otherhost", 22, key(KEY_A).key_data()).map(|l| l.line),
            Some(1)
        );
    }

    #[test]
    fn wildcard_match_cases() {
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("node?.prod", "node1.prod"));
        assert!(!wildcard_match("node?.prod", "node10.prod"));
        assert!(wildcard_match("[10.0.0.*]:2222", "[10.0.0.7]:2222"));
        assert!(wildcard_match("DB1", "db1"));
        assert!(!wildcard_match("a*b", "acbd"));
    }
}

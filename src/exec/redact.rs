//! Keeping secrets typed into an ad-hoc command out of the audit log and the log file.
//!
//! Two kinds: values fleetdeck knows are secret (a `{{NAME}}` placeholder filled from
//! `--secret-env NAME`: the command text that is recorded keeps the placeholder, and the value
//! is masked wherever it shows anyway), and words that *look* like credentials in text the
//! operator typed — `PGPASSWORD=…`, `--token …`, `Authorization: Bearer …`, `https://user:pw@…`,
//! `curl -u user:pw`,
//! well-known token prefixes (`ghp_`, `glpat-`, `xoxb-`, `AKIA…`, JWTs) and long random-looking
//! words. What is masked becomes [`crate::audit::REDACTED`]. This errs on the side of masking:
//! a 40-digit commit hash is hidden too, which costs the reader of the log a detail, never a
//! secret.
//!
//! Pure; callers: [`super::CommandText`].

use std::sync::LazyLock;

use regex::{Captures, Regex};

use crate::audit::REDACTED;

/// `KEY=value` / `key: value` where KEY names a credential (the key is kept, the value masked).
static ASSIGNED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(\b[a-z0-9_.-]*(?:passwd|password|pass|pwd|secret|token|api[_-]?key|apikey|auth|credentials?|private[_-]?key|access[_-]?key)[a-z0-9_.-]*\s*(?:=|:\s*))((?:(?:bearer|basic)\s+)?(?:'[^']*'|\x22[^\x22]*\x22|[^\s'\x22;&|]+))",
    )
    .unwrap_or_else(|e| panic!("built-in pattern: {e}"))
});

/// `--password VALUE`, `-p VALUE` is too ambiguous to touch (`ps -p 1`), the long forms are not.
static FLAG_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(--?(?:password|passwd|pass|token|secret|api-key|apikey|auth-token|access-key|secret-key)\s+)('[^']*'|\x22[^\x22]*\x22|[^\s'\x22;&|]+)",
    )
    .unwrap_or_else(|e| panic!("built-in pattern: {e}"))
});

/// `Bearer xyz`, `Basic xyz`, `token xyz` after an Authorization header.
static SCHEME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(\b(?:bearer|basic)\s+)([A-Za-z0-9._~+/=-]+)")
        .unwrap_or_else(|e| panic!("built-in pattern: {e}"))
});

/// `scheme://user:password@host`.
static USERINFO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)(@)")
        .unwrap_or_else(|e| panic!("built-in pattern: {e}"))
});

/// `curl -u user:password`, `--user user:password` (wget, httpie and friends): the user is kept.
static USER_FLAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"((?:^|\s)(?:-u\s*|--user[=\s]\s*)['\x22]?[^\s:'\x22]+:)([^\s'\x22;&|]+)")
        .unwrap_or_else(|e| panic!("built-in pattern: {e}"))
});

/// Well-known token shapes (group 1), and long words (group 2) that may be keys.
static TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,}|glpat-[A-Za-z0-9_-]{16,}|xox[abprs]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{16,}|sk_live_[A-Za-z0-9]{16,}|AKIA[A-Z0-9]{16}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})|([A-Za-z0-9+=_-]{32,})",
    )
    .unwrap_or_else(|e| panic!("built-in pattern: {e}"))
});

/// `text` with every credential-looking value masked.
pub fn mask_tokens(text: &str) -> String {
    let keep_key = |c: &Captures<'_>| format!("{}{REDACTED}", &c[1]);
    let text = ASSIGNED.replace_all(text, keep_key);
    let text = FLAG_VALUE.replace_all(&text, keep_key);
    let text = SCHEME.replace_all(&text, keep_key);
    let text = USER_FLAG.replace_all(&text, keep_key);
    let text = USERINFO.replace_all(&text, |c: &Captures<'_>| {
        format!("{}{REDACTED}{}", &c[1], &c[3])
    });
    TOKEN
        .replace_all(&text, |c: &Captures<'_>| {
            let word = &c[0];
            if c.get(1).is_some() || looks_random(word) {
                REDACTED.to_owned()
            } else {
                word.to_owned()
            }
        })
        .into_owned()
}

/// A long word (32 characters and more, no `/` or `.`) counts when it mixes letters and
/// digits (`aB3…`), which words, paths and flags almost never do at that length.
fn looks_random(word: &str) -> bool {
    let digits = word.chars().filter(char::is_ascii_digit).count();
    let letters = word.chars().filter(char::is_ascii_alphabetic).count();
    digits > 0 && letters > 0
}

#[cfg(test)]
mod tests {
    use super::mask_tokens;

    #[test]
    fn assignments_of_credentials_keep_the_key_and_lose_the_value() {
        assert_eq!(
            mask_tokens("PGPASSWORD=hunter2 psql -c 'select 1'"),
            "PGPASSWORD=*** psql -c 'select 1'"
        );
        assert_eq!(
            mask_tokens("mysql --password=s3cret db"),
            "mysql --password=*** db"
        );
        assert_eq!(
            mask_tokens("export API_KEY='abc def'; run"),
            "export API_KEY=***; run"
        );
        assert_eq!(
            mask_tokens("curl -H 'X-Auth-Token: abc123' x"),
            "curl -H 'X-Auth-Token: ***' x"
        );
    }

    #[test]
    fn user_and_password_flags_keep_the_user_and_lose_the_password() {
        assert_eq!(
            mask_tokens("curl -u ops:hunter2 https://x/"),
            "curl -u ops:*** https://x/"
        );
        assert_eq!(
            mask_tokens("curl -s --user 'ops:hunter2' x"),
            "curl -s --user 'ops:***' x"
        );
        assert_eq!(mask_tokens("wget --user=ops:pw x"), "wget --user=ops:*** x");
        // A user alone, and `-u` meaning something else, are left as they are.
        assert_eq!(mask_tokens("curl -u ops x"), "curl -u ops x");
        assert_eq!(mask_tokens("sort -u a.txt"), "sort -u a.txt");
        assert_eq!(mask_tokens("ps -u root"), "ps -u root");
    }

    #[test]
    fn long_flags_with_a_separate_value_are_masked() {
        assert_eq!(
            mask_tokens("vault login --token s.abcdef now"),
            "vault login --token *** now"
        );
        assert_eq!(mask_tokens("ps -p 1"), "ps -p 1");
    }

    #[test]
    fn bearer_userinfo_and_known_token_shapes_are_masked() {
        assert_eq!(
            mask_tokens("curl -H 'Authorization: Bearer abc.def' https://x"),
            "curl -H 'Authorization: ***' https://x"
        );
        assert_eq!(
            mask_tokens("curl https://bob:pw123@example.com/x"),
            "curl https://bob:***@example.com/x"
        );
        assert_eq!(
            mask_tokens("git clone https://ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/x"),
            "git clone https://***@github.com/x"
        );
        assert_eq!(
            mask_tokens("echo ghp_abcdefghijklmnopqrstuvwx12"),
            "echo ***"
        );
        assert_eq!(
            mask_tokens("aws s3 ls --profile AKIAABCDEFGHIJKLMNOP"),
            "aws s3 ls --profile ***"
        );
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(mask_tokens(&format!("x {jwt} y")), "x *** y");
        assert_eq!(
            mask_tokens("key 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
            "key ***"
        );
    }

    #[test]
    fn ordinary_commands_are_left_alone() {
        for text in [
            "uptime",
            "journalctl -u geth -n 50 --no-pager",
            "systemctl status geth.service",
            "ls /var/lib/postgresql/backups/2026-11-22-postgres-backup.sql.gz",
            "printf '%s\\n' 'a b' '$(touch pwned)' ';' '*'",
            "echo authentication_is_fine_here",
            "grep -r password_policy /etc",
        ] {
            assert_eq!(mask_tokens(text), text, "{text:?}");
        }
    }
}

//! Paths that live on a host, rendered as shell text: the one rule for `~`.
//!
//! Every inventory key that names a file or directory on a host — a disk's `mount`, a backup
//! set's `dir`, a certificate's `path`, a log's `file`, a process service's `pidfile`, a docker
//! service's `compose_file` — reaches the probe script through [`shell_word`], so a leading `~`
//! means the same for all of them:
//!
//! - `~` and `~/rest`: the login user's home on the host, `"$HOME"` and `"$HOME"/'rest'`. It is
//!   the SSH session's `$HOME` (sshd sets it, `SetEnv` may override it), never the console's:
//!   the inventory keeps host paths verbatim for exactly this reason.
//! - `~name` and `~name/rest`, where `name` is a portable user name (`[A-Za-z0-9._-]`, not
//!   starting with `-`): that user's home as the host's shell resolves it, left unquoted for
//!   the shell to expand. An unknown user stays literal (POSIX sh leaves `~nobody-here` as it
//!   is), so the probe reports the path as missing rather than probing somewhere else.
//! - Anything else is one shell-quoted word, taken as written. A relative path that starts with
//!   `-` gets `./` in front so that no command (`find`, `[`) reads it as an option.
//!
//! Why it must be done here: sh expands `~` only when it is unquoted at the start of a word, so
//! quoting the whole value (`'~/backups'`) names a directory literally called `~` (issue 10:
//! "no such directory: ~/backups" for a directory that exists). Only the tilde prefix is left to
//! the shell; the rest is always quoted, so spaces, quotes and `$` in a path stay text.
//!
//! Runbook inputs of `type = "path"` (a backup directory, a data directory) follow the same
//! rule when a template puts them into a command, so `backup_dir = "~/backups"` means the
//! same directory in a runbook as in the inventory.
//!
//! This module only renders text; it runs nothing, reads no environment and imports nothing of
//! fleetdeck, so both the probe and the runbook engine use it without depending on each other.
//! Callers: `crate::probe::script` (every path section of the probe batch) and
//! `crate::runbook` templates (path inputs).

/// `path` as one word of POSIX sh text that names the same file on the host, with a leading
/// `~` / `~/` / `~name/` expanded by the host's shell (see the module rules). `Err` only for a
/// NUL byte, which no shell word can carry.
pub fn shell_word(path: &str) -> Result<String, String> {
    let Some(after) = path.strip_prefix('~') else {
        return quote(&not_an_option(path));
    };
    let (user, rest) = match after.split_once('/') {
        Some((user, rest)) => (user, Some(rest)),
        None => (after, None),
    };
    let prefix = if user.is_empty() {
        // `"$HOME"` rather than a bare `~`: the same expansion, and it stays right when the
        // rest is glued on as a quoted string.
        "\"$HOME\"".to_string()
    } else if is_portable_user_name(user) {
        format!("~{user}")
    } else {
        // `~+`, `~-` (bash's PWD forms), `~$(…)`, `~a b`: not a home, taken as written.
        return quote(&not_an_option(path));
    };
    Ok(match rest {
        None => prefix,
        Some("") => format!("{prefix}/"),
        Some(rest) => format!("{prefix}/{}", quote(rest)?),
    })
}

/// Whether `name` can follow `~` unquoted: a POSIX portable user name, so the shell reads it
/// as a login name and nothing else (no expansion, no word split, no option).
fn is_portable_user_name(name: &str) -> bool {
    !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `./-x` for a path `-x`, so it cannot be read as an option; any other path unchanged.
fn not_an_option(path: &str) -> String {
    if path.starts_with('-') {
        format!("./{path}")
    } else {
        path.to_string()
    }
}

/// `s` quoted for sh; `Err` only for a NUL byte.
fn quote(s: &str) -> Result<String, String> {
    shlex::try_quote(s)
        .map(|c| c.into_owned())
        .map_err(|e| format!("{e}: {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// What `sh` makes of `word`: the single argument it expands to, with `HOME` set to `home`.
    fn expand(word: &str, home: &str) -> Vec<String> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("for a in {word}; do printf '%s\\0' \"$a\"; done"))
            .env("HOME", home)
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "{word}: {out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .split_terminator('\0')
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn the_rendered_text() {
        let cases = [
            ("~", "\"$HOME\""),
            ("~/", "\"$HOME\"/"),
            ("~/backups", "\"$HOME\"/backups"),
            ("~/my backups/x", "\"$HOME\"/'my backups/x'"),
            ("~postgres/backups", "~postgres/backups"),
            ("~postgres", "~postgres"),
            ("/var/lib/x", "/var/lib/x"),
            ("/a b", "'/a b'"),
            ("-x", "./-x"),
            ("relative/x", "relative/x"),
            ("a~/b", "'a~/b'"),
            ("~-/x", "'~-/x'"),
            ("~+/x", "'~+/x'"),
            ("~$(id)/x", "'~$(id)/x'"),
        ];
        for (path, want) in cases {
            assert_eq!(shell_word(path).unwrap(), want, "{path}");
        }
        assert!(shell_word("~/a\0b").unwrap_err().contains("nul"));
        assert!(shell_word("/a\0b").is_err());
    }

    /// Run through a real sh: a tilde path lands in `$HOME` however hostile the rest, and any
    /// other path comes out exactly as written, as one word.
    #[test]
    fn sh_expands_only_the_tilde_prefix() {
        let home = "/home/op with space/$HOME";
        let hostile = [
            "it's",
            "a \"quoted\" name",
            "$HOME",
            "$(touch /tmp/fleetdeck-host-path-canary)",
            "`id`",
            "semi; colon & amp | pipe",
            "glob * ? [x]",
            "new\nline",
            "back\\slash",
            "~/again",
            "-dash",
        ];
        for rest in hostile {
            let tilde = format!("~/{rest}");
            assert_eq!(
                expand(&shell_word(&tilde).unwrap(), home),
                [format!("{home}/{rest}")],
                "{tilde:?}"
            );
            let plain = format!("/srv/{rest}");
            assert_eq!(
                expand(&shell_word(&plain).unwrap(), home),
                [plain.as_str()],
                "{plain:?}"
            );
        }
        assert_eq!(expand(&shell_word("~").unwrap(), home), [home]);
        assert_eq!(expand(&shell_word("-x").unwrap(), home), ["./-x"]);
        assert_eq!(expand(&shell_word("~$(id)").unwrap(), home), ["~$(id)"]);
        assert!(!std::path::Path::new("/tmp/fleetdeck-host-path-canary").exists());
    }

    /// `~name/` is that user's home as the shell knows it: `~root` is in every passwd file, and
    /// an unknown user stays literal, so the probe reports it missing.
    #[test]
    fn another_users_home_is_the_shells_to_resolve() {
        let root_home = expand("~root", "/nowhere").remove(0);
        assert!(root_home.starts_with('/'), "{root_home}");
        assert_eq!(
            expand(&shell_word("~root/a b").unwrap(), "/nowhere"),
            [format!("{root_home}/a b")]
        );
        assert_eq!(
            expand(&shell_word("~no-such-user-fd/x").unwrap(), "/nowhere"),
            ["~no-such-user-fd/x"]
        );
    }
}

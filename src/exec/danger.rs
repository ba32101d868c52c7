//! The danger list: command text that makes an ad-hoc command dangerous, so that it needs the
//! typed confirmation runbooks use on a terminal and is refused without one.
//!
//! A pattern matches anywhere in the command text, after whitespace is normalised on both sides
//! (runs of spaces, tabs and newlines become one space), ignoring ASCII case (`drop table` is as
//! dangerous as `DROP TABLE`). A pattern that starts with a letter or digit must start a word
//! (`dd ` matches `dd if=…` and `sudo dd …`, not `git add .`; `kill` matches `killall`, not
//! `skill`). It is a guard against slips at 3 a.m., not a sandbox: `r''m -rf` gets past it.
//!
//! This file sits at the bottom of the crate: it imports nothing of fleetdeck, so the inventory
//! (which validates `[exec] danger`) and the exec core can both use it.

/// The built-in danger list, used unless the inventory's `[exec] danger` replaces it
/// (`[exec] danger_extra` adds to it). The list plus the obvious siblings (`pkill`,
/// `poweroff`, `halt`, `rm -fr`).
pub const DEFAULT_DANGER: [&str; 14] = [
    "rm -rf",
    "rm -fr",
    "reboot",
    "shutdown",
    "poweroff",
    "halt",
    "systemctl stop",
    "kill",
    "pkill",
    "dropdb",
    "DROP ",
    "mkfs",
    "dd ",
    "wipefs",
];

/// `text` with every run of whitespace (spaces, tabs, newlines) turned into one space. Leading
/// and trailing whitespace is kept as one space too: `DROP ` must keep its space to mean "the
/// word DROP", and `dd ` the same.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    out
}

/// The first pattern of `patterns` found in `command`, if any (see the module docs for how).
/// `patterns` are expected normalised already (the inventory does it); they are normalised
/// again here at little cost so a caller cannot get that wrong.
pub fn first_match<'p>(command: &str, patterns: &'p [String]) -> Option<&'p str> {
    let text = normalise(command).to_ascii_lowercase();
    patterns
        .iter()
        .find(|p| {
            let p = normalise(p).to_ascii_lowercase();
            !p.trim().is_empty() && occurs(&text, &p)
        })
        .map(String::as_str)
}

/// Whether `pattern` occurs in `text` where a word may start (when it starts with a word
/// character). Both are lower-case and normalised.
fn occurs(text: &str, pattern: &str) -> bool {
    let needs_word_start = pattern.chars().next().is_some_and(is_word_char);
    text.match_indices(pattern).any(|(at, _)| {
        !needs_word_start
            || text[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !is_word_char(c))
    })
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<String> {
        DEFAULT_DANGER.iter().map(|p| normalise(p)).collect()
    }

    fn matched(command: &str) -> Option<String> {
        first_match(command, &defaults()).map(str::to_owned)
    }

    #[test]
    fn the_default_list_catches_the_classics_anywhere() {
        for (command, pattern) in [
            ("rm -rf /var/lib/geth", "rm -rf"),
            ("cd /tmp && rm   -rf\tx", "rm -rf"),
            ("sh -c 'rm \n -rf /data'", "rm -rf"),
            ("sudo reboot", "reboot"),
            ("/sbin/shutdown -h now", "shutdown"),
            ("systemctl  stop geth", "systemctl stop"),
            ("kill -9 1234", "kill"),
            ("killall geth", "kill"),
            ("pkill -f geth", "pkill"),
            ("dropdb prod", "dropdb"),
            ("psql -c 'DROP TABLE users'", "DROP "),
            ("psql -c 'drop table users'", "DROP "),
            ("mkfs.ext4 /dev/sdb", "mkfs"),
            ("dd if=/dev/zero of=/dev/sda", "dd "),
            ("x; sudo dd if=/dev/zero", "dd "),
        ] {
            assert_eq!(matched(command).as_deref(), Some(pattern), "{command:?}");
        }
    }

    #[test]
    fn harmless_commands_and_words_that_merely_contain_a_pattern_pass() {
        for command in [
            "uptime",
            "journalctl -u geth -n 50",
            "git add .",
            "skill_check",
            "df -h /data",
            "systemctl status geth",
            "echo ok",
            "ls -la",
        ] {
            assert_eq!(matched(command), None, "{command:?}");
        }
    }

    #[test]
    fn normalise_folds_every_whitespace_run_to_one_space() {
        assert_eq!(normalise("a \t\n b"), "a b");
        assert_eq!(normalise("DROP "), "DROP ");
        assert_eq!(normalise("  x  "), " x ");
        assert_eq!(normalise(""), "");
    }

    #[test]
    fn a_pattern_ending_in_a_space_needs_the_space() {
        let list = vec!["DROP ".to_string()];
        assert_eq!(first_match("DROPDB", &list), None);
        assert_eq!(first_match("x DROP\nTABLE", &list), Some("DROP "));
    }

    #[test]
    fn an_empty_list_or_blank_patterns_never_match() {
        assert_eq!(first_match("rm -rf /", &[]), None);
        assert_eq!(first_match("rm -rf /", &[" ".to_string()]), None);
    }
}

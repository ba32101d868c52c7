//! `fleetdeck completions SHELL` and `fleetdeck man`: generated from the parser's own
//! definition ([`super::args::Cli`]) with clap_complete and clap_mangen, so they always match
//! what the command line accepts.

use std::path::Path;

use clap_complete::Shell;

use super::args::Cli;
use super::out;

/// Prints the completion script for `shell` to stdout; returns the exit code.
pub fn completions(shell: Shell) -> u8 {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::definition(), "fleetdeck", &mut buf);
    out::stdout().write_str(&String::from_utf8_lossy(&buf));
    0
}

/// Prints the man page (roff) of `fleetdeck` to stdout, or with `dir` writes one page per
/// command (`fleetdeck.1`, `fleetdeck-status.1`, …) there; returns the exit code.
pub fn man(dir: Option<&Path>) -> u8 {
    let result = match dir {
        Some(dir) => std::fs::create_dir_all(dir)
            .and_then(|()| clap_mangen::generate_to(Cli::definition(), dir))
            .map(|()| format!("man pages written to {}\n", dir.display())),
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::definition())
                .render(&mut buf)
                .map(|()| String::from_utf8_lossy(&buf).into_owned())
        }
    };
    match result {
        Ok(text) => {
            out::stdout().write_str(&text);
            0
        }
        Err(e) => {
            out::stderr().write_str(&format!("fleetdeck: man: {e}\n"));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::definition(), "fleetdeck", &mut buf);
            let text = String::from_utf8(buf).unwrap();
            for word in ["status", "runbook", "completions", "color"] {
                assert!(text.contains(word), "{shell}: no {word}");
            }
        }
    }

    #[test]
    fn the_man_page_has_the_examples_and_environment() {
        let mut buf = Vec::new();
        clap_mangen::Man::new(Cli::definition())
            .render(&mut buf)
            .unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(
            text.starts_with(".ie") || text.contains(".TH fleetdeck"),
            "{text}"
        );
        assert!(text.contains("FLEETDECK_CONFIG"), "{text}");
        assert!(text.contains("NO_COLOR"), "{text}");
    }
}

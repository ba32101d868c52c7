//! `--color auto|always|never`: whether headless output (the `status` table) carries ANSI
//! colour, following the conventions other command-line tools share: an explicit `always` or
//! `never` wins; `auto` is off when `NO_COLOR` is set to anything non-empty (no-color.org),
//! forced on when `CLICOLOR_FORCE` is set to anything but `0`, off when `CLICOLOR=0`, and
//! otherwise on only when stdout is a terminal.

use std::ffi::OsString;

/// The global `--color` option.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal, unless `NO_COLOR`/`CLICOLOR` say otherwise.
    #[default]
    Auto,
    /// Always colour, even into a pipe.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether to colour stdout, reading the process environment.
    pub fn for_stdout(self) -> bool {
        use std::io::IsTerminal;
        self.resolve(std::io::stdout().is_terminal(), |k| std::env::var_os(k))
    }

    /// The decision, given whether the output is a terminal and a way to read the environment
    /// (a function, so the rules are testable without touching the process's environment).
    pub fn resolve(self, is_terminal: bool, env: impl Fn(&str) -> Option<OsString>) -> bool {
        let set = |k: &str| env(k).filter(|v| !v.is_empty());
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto if set("NO_COLOR").is_some() => false,
            Self::Auto if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") => true,
            Self::Auto if env("CLICOLOR").is_some_and(|v| v == "0") => false,
            Self::Auto => is_terminal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ColorChoice::{self, *};

    fn decide(choice: ColorChoice, tty: bool, vars: &[(&str, &str)]) -> bool {
        choice.resolve(tty, |k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.into())
        })
    }

    #[test]
    fn auto_follows_the_terminal_when_nothing_is_set() {
        assert!(decide(Auto, true, &[]));
        assert!(!decide(Auto, false, &[]));
    }

    #[test]
    fn no_color_turns_auto_off_but_not_an_explicit_always() {
        assert!(!decide(Auto, true, &[("NO_COLOR", "1")]));
        assert!(decide(Always, false, &[("NO_COLOR", "1")]));
        // An empty NO_COLOR is unset, as the convention says.
        assert!(decide(Auto, true, &[("NO_COLOR", "")]));
    }

    #[test]
    fn clicolor_force_colours_a_pipe_unless_no_color_or_never() {
        assert!(decide(Auto, false, &[("CLICOLOR_FORCE", "1")]));
        assert!(!decide(Auto, false, &[("CLICOLOR_FORCE", "0")]));
        assert!(!decide(
            Auto,
            false,
            &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "x")]
        ));
        assert!(!decide(Never, true, &[("CLICOLOR_FORCE", "1")]));
    }

    #[test]
    fn clicolor_zero_turns_auto_off_on_a_terminal() {
        assert!(!decide(Auto, true, &[("CLICOLOR", "0")]));
        assert!(decide(Auto, true, &[("CLICOLOR", "1")]));
    }
}

//! The `:` command palette: the command table (data, like the key map), parsing a typed line
//! into a [`Command`], completion against the fleet's names, and the one-line editor with its
//! candidate list.
//!
//! Parsing and completion are pure and tested without a terminal; `ui::App` owns the open
//! [`Palette`] and runs the command. Commands that change anything are `dangerous` and are
//! left out of a read-only console's table, like dangerous key bindings.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::Pane;
use crate::view::{GroupBy, SortColumn};

/// What a command's argument is, for completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// No argument.
    None,
    /// A host name.
    Host,
    /// A group or consensus group (optional: none clears).
    Group,
    /// A pane name.
    Pane,
    /// A theme name or file.
    Theme,
    /// A sort column.
    Sort,
    /// A grouping.
    GroupBy,
    /// Free text (optional).
    Text,
    /// A runbook name, then optionally a host glob.
    Runbook,
    /// A shell command, optionally after `@GROUP`.
    Exec,
}

/// One palette command.
#[derive(Debug)]
pub struct CommandSpec {
    /// Name typed after `:`.
    pub name: &'static str,
    /// Other names.
    pub aliases: &'static [&'static str],
    /// Argument shown in help, e.g. `NAME`.
    pub usage: &'static str,
    /// Its argument.
    pub arg: ArgKind,
    /// One line of help.
    pub help: &'static str,
    /// Changes something: left out in read-only mode.
    pub dangerous: bool,
}

/// Every palette command.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "host",
        aliases: &[],
        usage: "NAME",
        arg: ArgKind::Host,
        help: "open a host's detail",
        dangerous: false,
    },
    CommandSpec {
        name: "group",
        aliases: &[],
        usage: "[GROUP]",
        arg: ArgKind::Group,
        help: "show only a group or consensus group (no argument: all hosts)",
        dangerous: false,
    },
    CommandSpec {
        name: "pane",
        aliases: &[],
        usage: "PANE",
        arg: ArgKind::Pane,
        help: "switch pane: fleet, host, services, chain, disks, certs, logs, alerts",
        dangerous: false,
    },
    CommandSpec {
        name: "theme",
        aliases: &[],
        usage: "NAME|FILE",
        arg: ArgKind::Theme,
        help: "switch theme: a built-in, a file, or a theme in ~/.config/fleetdeck/themes",
        dangerous: false,
    },
    CommandSpec {
        name: "sort",
        aliases: &[],
        usage: "COLUMN",
        arg: ArgKind::Sort,
        help: "sort the fleet table by a column",
        dangerous: false,
    },
    CommandSpec {
        name: "groupby",
        aliases: &[],
        usage: "none|group|region|consensus",
        arg: ArgKind::GroupBy,
        help: "group the fleet table",
        dangerous: false,
    },
    CommandSpec {
        name: "filter",
        aliases: &[],
        usage: "[PATTERN]",
        arg: ArgKind::Text,
        help: "filter rows, as `/` does (no argument: clear)",
        dangerous: false,
    },
    CommandSpec {
        name: "ack",
        aliases: &[],
        usage: "",
        arg: ArgKind::None,
        help: "acknowledge the selected alert",
        dangerous: true,
    },
    CommandSpec {
        name: "run",
        aliases: &[],
        usage: "RUNBOOK [HOSTS] [NAME=VALUE…]",
        arg: ArgKind::Runbook,
        help: "run a runbook in the runbook pane, on hosts matching a glob or the hosts of `@GROUP` (default: its targets), with inputs as `--var` takes them (quote a value with spaces: `msg=\"a b\"`)",
        dangerous: false,
    },
    CommandSpec {
        name: "exec",
        aliases: &[],
        usage: "[@GROUP] COMMAND",
        arg: ArgKind::Exec,
        help: "run a shell command on the marked hosts, else those the filter or :group shows, else the current host (`@GROUP`: that group); asks y/N for several hosts, the typed word for a dangerous command; results in the Exec pane; ↑/↓ recall earlier commands",
        dangerous: true,
    },
    CommandSpec {
        name: "unmark",
        aliases: &[],
        usage: "",
        arg: ArgKind::None,
        help: "clear every host marked with Space",
        dangerous: false,
    },
    CommandSpec {
        name: "stop",
        aliases: &[],
        usage: "",
        arg: ArgKind::None,
        help: "suspend the running runbook where it is (saved, audited, resumable)",
        dangerous: false,
    },
    CommandSpec {
        name: "resume",
        aliases: &[],
        usage: "RUN_ID",
        arg: ArgKind::Text,
        help: "resume a suspended run (the id `fleetdeck run` or the pane printed)",
        dangerous: false,
    },
    CommandSpec {
        name: "reload",
        aliases: &[],
        usage: "",
        arg: ArgKind::None,
        help: "re-read the inventory, runbooks and theme; unchanged hosts keep their connections",
        dangerous: false,
    },
    CommandSpec {
        name: "refresh",
        aliases: &[],
        usage: "",
        arg: ArgKind::None,
        help: "poll every host now",
        dangerous: false,
    },
    CommandSpec {
        name: "help",
        aliases: &[],
        usage: "",
        arg: ArgKind::None,
        help: "show the help",
        dangerous: false,
    },
    CommandSpec {
        name: "quit",
        aliases: &["q", "q!"],
        usage: "",
        arg: ArgKind::None,
        help: "quit the console",
        dangerous: false,
    },
];

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Open a host.
    Host(String),
    /// Show a group only, or all.
    Group(Option<String>),
    /// Switch pane.
    Pane(Pane),
    /// Switch theme.
    Theme(String),
    /// Sort the fleet table.
    Sort(SortColumn),
    /// Group the fleet table.
    GroupBy(GroupBy),
    /// Set or clear the filter.
    Filter(Option<String>),
    /// Acknowledge the selected alert.
    Ack,
    /// Run a runbook.
    Run {
        /// Runbook name or file.
        runbook: String,
        /// Host glob; `None`: the runbook's own targets.
        hosts: Option<String>,
        /// Input values (`NAME=VALUE`), as `fleetdeck run --var` takes them.
        inputs: BTreeMap<String, String>,
    },
    /// Suspend the running runbook.
    Stop,
    /// Run a shell command on hosts.
    Exec {
        /// `@GROUP`: the group's hosts instead of the selection.
        group: Option<String>,
        /// The command line, as typed.
        command: String,
    },
    /// Clear the marks.
    Unmark,
    /// Resume a suspended run.
    Resume(String),
    /// Re-read the configuration.
    Reload,
    /// Poll now.
    Refresh,
    /// Show help.
    Help,
    /// Quit.
    Quit,
}

/// Names the palette completes against.
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    /// Host names.
    pub hosts: Vec<String>,
    /// Groups and consensus groups.
    pub groups: Vec<String>,
    /// Theme names.
    pub themes: Vec<String>,
    /// Runbook names (empty: this console runs no runbooks).
    pub runbooks: Vec<String>,
    /// The host the palette was opened on, offered as a run's target.
    pub focus_host: Option<String>,
    /// Runs matched to what is wrong with that host, best first, as whole lines
    /// (`run troubleshoot web-3 service=app`): offered before every other `run` line.
    pub offers: Vec<String>,
    /// Earlier `:exec` arguments of this session, oldest first (`↑` recalls them).
    pub history: Vec<String>,
}

/// The commands a console offers: all, or the harmless ones when read-only.
pub fn commands(readonly: bool) -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS.iter().filter(move |c| !(readonly && c.dangerous))
}

fn find(name: &str, readonly: bool) -> Option<&'static CommandSpec> {
    commands(readonly).find(|c| c.name == name || c.aliases.contains(&name))
}

fn arg_values(kind: ArgKind, c: &Candidates) -> Vec<String> {
    match kind {
        ArgKind::None | ArgKind::Text => Vec::new(),
        ArgKind::Exec => c.groups.iter().map(|g| format!("@{g} ")).collect(),
        ArgKind::Runbook => c.runbooks.clone(),
        ArgKind::Host => c.hosts.clone(),
        ArgKind::Group => c.groups.clone(),
        ArgKind::Pane => Pane::ALL.iter().map(|p| p.name().to_string()).collect(),
        ArgKind::Theme => c.themes.clone(),
        ArgKind::Sort => SortColumn::ALL
            .iter()
            .map(|s| s.name().to_string())
            .collect(),
        ArgKind::GroupBy => GroupBy::ALL.iter().map(|g| g.name().to_string()).collect(),
    }
}

/// Parses a palette line (without the `:`).
pub fn parse(line: &str, c: &Candidates, readonly: bool) -> Result<Command, String> {
    let line = line.trim();
    let (name, arg) = match line.split_once(char::is_whitespace) {
        Some((n, a)) => (n, a.trim()),
        None => (line, ""),
    };
    if name.is_empty() {
        return Err("type a command; Tab completes".into());
    }
    let Some(spec) = find(name, readonly) else {
        if readonly && COMMANDS.iter().any(|c| c.name == name && c.dangerous) {
            return Err(format!("read-only: `{name}` is disabled"));
        }
        return Err(format!(
            "unknown command `{name}`; expected one of {}",
            commands(readonly)
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    let need = |what: &str| -> Result<&str, String> {
        if arg.is_empty() {
            Err(format!("`{}` needs {what}", spec.name))
        } else {
            Ok(arg)
        }
    };
    let none = |cmd: Command| -> Result<Command, String> {
        if arg.is_empty() {
            Ok(cmd)
        } else {
            Err(format!("`{}` takes no argument", spec.name))
        }
    };
    match spec.name {
        "host" => {
            let h = need("a host name")?;
            if c.hosts.iter().any(|x| x == h) {
                Ok(Command::Host(h.to_string()))
            } else {
                Err(format!("no host called `{h}`"))
            }
        }
        "group" => {
            if arg.is_empty() {
                Ok(Command::Group(None))
            } else if c.groups.iter().any(|g| g == arg) {
                Ok(Command::Group(Some(arg.to_string())))
            } else {
                Err(format!("no group called `{arg}`"))
            }
        }
        "pane" => {
            let p = need("a pane name")?;
            Pane::from_name(p).map(Command::Pane).ok_or_else(|| {
                format!(
                    "no pane called `{p}`; expected one of {}",
                    arg_values(ArgKind::Pane, c).join(", ")
                )
            })
        }
        "theme" => Ok(Command::Theme(need("a theme name or file")?.to_string())),
        "sort" => {
            let s = need("a column")?;
            SortColumn::from_name(s).map(Command::Sort).ok_or_else(|| {
                format!(
                    "no column `{s}`; expected one of {}",
                    arg_values(ArgKind::Sort, c).join(", ")
                )
            })
        }
        "groupby" => {
            let g = need("a grouping")?;
            GroupBy::from_name(g).map(Command::GroupBy).ok_or_else(|| {
                format!(
                    "no grouping `{g}`; expected one of {}",
                    arg_values(ArgKind::GroupBy, c).join(", ")
                )
            })
        }
        "filter" => Ok(Command::Filter((!arg.is_empty()).then(|| arg.to_string()))),
        "ack" => none(Command::Ack),
        "run" => {
            if c.runbooks.is_empty() {
                return Err("this console runs no runbooks".into());
            }
            need("a runbook name")?;
            let (name, hosts, inputs) = run_args(arg)?;
            let is_file = name.contains('/') || name.ends_with(".toml");
            if !is_file && !c.runbooks.contains(&name) {
                return Err(format!(
                    "no runbook called `{name}`; expected one of {}",
                    c.runbooks.join(", ")
                ));
            }
            Ok(Command::Run {
                runbook: name,
                hosts,
                inputs,
            })
        }
        "exec" => {
            let arg = need("a command")?;
            let (group, command) = match arg.strip_prefix('@') {
                Some(rest) => {
                    let (g, cmd) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                    if !c.groups.iter().any(|x| x == g) {
                        return Err(format!(
                            "no group called `{g}`; expected one of {}",
                            c.groups.join(", ")
                        ));
                    }
                    (Some(g.to_string()), cmd.trim())
                }
                None => (None, arg),
            };
            if command.is_empty() {
                return Err("`exec` needs a command after the group".into());
            }
            if command.chars().any(|ch| ch.is_control()) {
                return Err("`exec`: control characters are not allowed in the command".into());
            }
            Ok(Command::Exec {
                group,
                command: command.to_string(),
            })
        }
        "unmark" => none(Command::Unmark),
        "stop" => none(Command::Stop),
        "resume" => Ok(Command::Resume(need("a run id")?.to_string())),
        "reload" => none(Command::Reload),
        "refresh" => none(Command::Refresh),
        "help" => none(Command::Help),
        "quit" => none(Command::Quit),
        other => unreachable!("command `{other}` has no parser"),
    }
}

/// Splits a line into words: whitespace separates them, and a `"…"` or `'…'` run keeps its
/// spaces (`msg="two words"`). No escapes and no expansion: the value is data, quoted again
/// where the engine puts it into a command.
fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for ch in line.chars() {
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => word.push(ch),
            None if ch == '"' || ch == '\'' => {
                quote = Some(ch);
                in_word = true;
            }
            None if ch.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None => {
                word.push(ch);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("unclosed {q} in `{line}`"));
    }
    if in_word {
        out.push(word);
    }
    Ok(out)
}

/// A runbook, its host glob and its inputs.
type RunArgs = (String, Option<String>, BTreeMap<String, String>);

/// `RUNBOOK [HOSTS] [NAME=VALUE…]`: the runbook, the host glob (the one word without `=`),
/// and the inputs. A name is what `--var` accepts (letters, digits, `_`, `-`); each at most
/// once; control characters are refused in any value (nothing a terminal or a log line should
/// interpret).
fn run_args(arg: &str) -> Result<RunArgs, String> {
    let mut words = words(arg)?.into_iter();
    let name = words.next().ok_or("`run` needs a runbook name")?;
    let mut hosts = None;
    let mut inputs = BTreeMap::new();
    for w in words {
        match w.split_once('=') {
            None if hosts.is_none() => hosts = Some(w),
            None => {
                return Err(format!(
                    "`{w}`: one host glob only (`{}` already); inputs are NAME=VALUE",
                    hosts.unwrap_or_default()
                ));
            }
            Some((k, v)) => {
                let k = k.trim();
                if k.is_empty()
                    || !k
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(format!(
                        "`{w}`: an input is NAME=VALUE with a name of letters, digits, _ or -"
                    ));
                }
                if v.chars().any(char::is_control) {
                    return Err(format!("input `{k}`: control characters are not allowed"));
                }
                if inputs.insert(k.to_string(), v.to_string()).is_some() {
                    return Err(format!("input `{k}` is given twice"));
                }
            }
        }
    }
    Ok((name, hosts, inputs))
}

/// Completions of `line`: whole lines the operator may want, best first.
pub fn complete(line: &str, c: &Candidates, readonly: bool) -> Vec<String> {
    let trimmed = line.trim_start();
    match trimmed.split_once(char::is_whitespace) {
        None => commands(readonly)
            .filter(|spec| spec.name.starts_with(trimmed))
            .map(|spec| {
                if spec.arg == ArgKind::None {
                    spec.name.to_string()
                } else {
                    format!("{} ", spec.name)
                }
            })
            .collect(),
        Some((name, arg)) => {
            let Some(spec) = find(name, readonly) else {
                return Vec::new();
            };
            let arg = arg.trim_start();
            if spec.arg == ArgKind::Runbook {
                return complete_run(spec.name, arg, c);
            }
            let naming_a_group = arg.starts_with('@') && !arg.contains(' ');
            if spec.arg == ArgKind::Exec && !naming_a_group {
                // A command is free text: nothing to complete (↑ recalls earlier ones).
                return Vec::new();
            }
            let values = arg_values(spec.arg, c);
            let mut out: Vec<String> = values
                .iter()
                .filter(|v| v.starts_with(arg))
                .map(|v| format!("{} {v}", spec.name))
                .collect();
            // Then anything containing it, so `:host 12` finds `dvn-aws-12`.
            out.extend(
                values
                    .iter()
                    .filter(|v| !v.starts_with(arg) && v.contains(arg))
                    .map(|v| format!("{} {v}", spec.name)),
            );
            out
        }
    }
}

/// Completions of `run ARG`: runbook names (first with the focused host as target), then, once
/// a name is typed, host names for the glob.
fn complete_run(name: &str, arg: &str, c: &Candidates) -> Vec<String> {
    let mut out: Vec<String> = c
        .offers
        .iter()
        .filter(|o| {
            o.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(' '))
                .is_some_and(|rest| rest.starts_with(arg))
        })
        .cloned()
        .collect();
    if let Some((runbook, hosts)) = arg.split_once(char::is_whitespace) {
        let hosts = hosts.trim_start();
        out.extend(
            c.hosts
                .iter()
                .filter(|h| h.starts_with(hosts))
                .map(|h| format!("{name} {runbook} {h}")),
        );
    } else {
        let names = c.runbooks.iter().filter(|r| r.starts_with(arg));
        for r in names.clone() {
            if let Some(h) = &c.focus_host {
                // An offer for this runbook and host already says it, inputs and all.
                let plain = format!("{name} {r} {h}");
                let offered = c.offers.iter().any(|o| {
                    o.strip_prefix(plain.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
                });
                if !offered {
                    out.push(plain);
                }
            }
        }
        out.extend(names.map(|r| format!("{name} {r}")));
    }
    // An offer already is the line for its runbook and host: said once.
    let mut seen = std::collections::HashSet::new();
    out.retain(|l| seen.insert(l.clone()));
    out
}

/// The open palette: the line being typed and its completions.
#[derive(Debug, Clone, Default)]
pub struct Palette {
    /// The line (without `:`).
    pub line: String,
    /// Completions of `line`.
    pub candidates: Vec<String>,
    /// The highlighted completion.
    pub selected: usize,
    /// Why the last Enter did not run.
    pub error: Option<String>,
    /// The operator moved the highlight (Up/Down) since the list was last computed.
    pub moved: bool,
    /// Which `:exec` history entry the line shows (counted from the newest), while `↑`/`↓`
    /// walk it.
    pub recalled: Option<usize>,
}

/// What a key did to the palette.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaletteOutcome {
    /// Still open.
    Editing,
    /// Closed without running.
    Cancelled,
    /// Run this line.
    Submit(String),
}

impl Palette {
    /// An empty palette with the command list as its completions.
    pub fn open(c: &Candidates, readonly: bool) -> Palette {
        let mut p = Palette::default();
        p.refresh(c, readonly);
        p
    }

    /// A palette with `line` already typed (`x` opens it on `run `).
    pub fn with_line(line: &str, c: &Candidates, readonly: bool) -> Palette {
        let mut p = Palette {
            line: line.to_string(),
            ..Palette::default()
        };
        p.refresh(c, readonly);
        p
    }

    fn refresh(&mut self, c: &Candidates, readonly: bool) {
        self.candidates = complete(&self.line, c, readonly);
        self.selected = 0;
        self.moved = false;
        self.recalled = None;
    }

    /// `↑`/`↓` walk the `:exec` history on an `exec` line with nothing to complete (or one
    /// already recalled).
    fn walks_history(&self, c: &Candidates) -> bool {
        !c.history.is_empty()
            && self.line.trim_start().starts_with("exec ")
            && (self.candidates.is_empty() || self.recalled.is_some())
    }

    /// The line Enter runs: the highlighted completion when the typed line leads to it (the
    /// operator accepted what was offered), else the line as typed. A typed line that is
    /// itself one of the completions wins over an untouched highlight, so `run restore`
    /// still runs on the runbook's own targets.
    pub fn submitted(&self) -> String {
        let typed = self.line.trim();
        let Some(pick) = self.candidates.get(self.selected) else {
            return self.line.clone();
        };
        let exact = self.candidates.iter().any(|c| c.trim() == typed);
        if (exact && !self.moved) || !pick.starts_with(self.line.trim_start()) {
            return self.line.clone();
        }
        pick.clone()
    }

    /// Handles a key.
    pub fn on_key(&mut self, key: KeyEvent, c: &Candidates, readonly: bool) -> PaletteOutcome {
        match key.code {
            KeyCode::Esc => return PaletteOutcome::Cancelled,
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                return PaletteOutcome::Cancelled;
            }
            KeyCode::Enter => return PaletteOutcome::Submit(self.submitted()),
            KeyCode::Tab => {
                if let Some(pick) = self.candidates.get(self.selected) {
                    self.line = pick.clone();
                    self.refresh(c, readonly);
                }
            }
            KeyCode::Up | KeyCode::Down if self.walks_history(c) => {
                let n = c.history.len();
                let next = match (key.code, self.recalled) {
                    (KeyCode::Up, None) => Some(0),
                    (KeyCode::Up, Some(k)) => Some((k + 1).min(n - 1)),
                    (_, Some(0) | None) => None,
                    (_, Some(k)) => Some(k - 1),
                };
                self.recalled = next;
                self.line = match next {
                    Some(k) => format!("exec {}", c.history[n - 1 - k]),
                    None => "exec ".to_string(),
                };
                self.candidates = complete(&self.line, c, readonly);
                self.selected = 0;
                self.error = None;
                return PaletteOutcome::Editing;
            }
            KeyCode::Down if !self.candidates.is_empty() => {
                self.selected = (self.selected + 1) % self.candidates.len();
                self.moved = true;
            }
            KeyCode::Up if !self.candidates.is_empty() => {
                self.selected = (self.selected + self.candidates.len() - 1) % self.candidates.len();
                self.moved = true;
            }
            KeyCode::Backspace => {
                if self.line.pop().is_none() {
                    return PaletteOutcome::Cancelled;
                }
                self.error = None;
                self.refresh(c, readonly);
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.line.clear();
                self.refresh(c, readonly);
            }
            KeyCode::Char(ch) => {
                self.line.push(ch);
                self.error = None;
                self.refresh(c, readonly);
            }
            _ => {}
        }
        PaletteOutcome::Editing
    }
}

/// The palette commands as a Markdown table (for `docs/console.md`).
pub fn markdown(readonly: bool) -> String {
    let mut t = String::from("| command | does |\n|---|---|\n");
    for c in commands(readonly) {
        let mut name = format!(":{}", c.name);
        if !c.usage.is_empty() {
            name.push(' ');
            name.push_str(c.usage);
        }
        for a in c.aliases {
            name.push_str(&format!("`, `:{a}"));
        }
        let danger = if c.dangerous {
            " *(changes something: removed in read-only mode)*"
        } else {
            ""
        };
        t.push_str(&format!(
            "| `{}` | {}{danger} |\n",
            name.replace('|', "\\|"),
            c.help
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands() -> Candidates {
        Candidates {
            hosts: vec!["dvn-aws-1".into(), "dvn-aws-12".into(), "h2".into()],
            groups: vec!["dvn".into(), "group0".into()],
            themes: vec!["default".into(), "light".into()],
            runbooks: vec!["restore".into(), "rolling-upgrade".into()],
            focus_host: None,
            offers: Vec::new(),
            history: Vec::new(),
        }
    }

    #[test]
    fn run_takes_a_runbook_and_an_optional_host_glob() {
        let c = cands();
        let p = |l: &str| parse(l, &c, true);
        assert_eq!(
            p("run restore"),
            Ok(Command::Run {
                runbook: "restore".into(),
                hosts: None,
                inputs: BTreeMap::new(),
            })
        );
        assert_eq!(
            p("run rolling-upgrade  dvn-*"),
            Ok(Command::Run {
                runbook: "rolling-upgrade".into(),
                hosts: Some("dvn-*".into()),
                inputs: BTreeMap::new(),
            })
        );
        assert_eq!(
            p("run ./mine.toml"),
            Ok(Command::Run {
                runbook: "./mine.toml".into(),
                hosts: None,
                inputs: BTreeMap::new(),
            })
        );
        assert!(
            p("run nope")
                .unwrap_err()
                .contains("expected one of restore")
        );
        assert_eq!(p("run"), Err("`run` needs a runbook name".into()));
        assert_eq!(p("stop"), Ok(Command::Stop));
        assert_eq!(p("resume 17-ab"), Ok(Command::Resume("17-ab".into())));
        let none = Candidates::default();
        assert_eq!(
            parse("run restore", &none, false),
            Err("this console runs no runbooks".into())
        );
    }

    #[test]
    fn run_takes_inputs_as_var_does_and_refuses_what_is_not_one() {
        let c = cands();
        let p = |l: &str| parse(l, &c, false);
        let vars = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            p("run restore h2 backup=nightly dir=/srv/b"),
            Ok(Command::Run {
                runbook: "restore".into(),
                hosts: Some("h2".into()),
                inputs: vars(&[("backup", "nightly"), ("dir", "/srv/b")]),
            })
        );
        // Inputs without a host glob; values are data, hostile or not, kept as typed.
        assert_eq!(
            p(r#"run restore msg="a b; rm -rf /" x='$(id)' y=a=b z="#),
            Ok(Command::Run {
                runbook: "restore".into(),
                hosts: None,
                inputs: vars(&[
                    ("msg", "a b; rm -rf /"),
                    ("x", "$(id)"),
                    ("y", "a=b"),
                    ("z", "")
                ]),
            })
        );
        assert_eq!(
            p("run restore h1 h2"),
            Err("`h2`: one host glob only (`h1` already); inputs are NAME=VALUE".into())
        );
        assert_eq!(
            p("run restore a=1 a=2"),
            Err("input `a` is given twice".into())
        );
        assert!(p("run restore =x").unwrap_err().contains("NAME=VALUE"));
        assert!(p("run restore $(x)=1").unwrap_err().contains("NAME=VALUE"));
        assert_eq!(
            p("run restore m=\"open"),
            Err("unclosed \" in `restore m=\"open`".into())
        );
        assert_eq!(
            p("run restore m=\"a\u{1b}[2J\""),
            Err("input `m`: control characters are not allowed".into())
        );
    }

    #[test]
    fn run_completes_names_with_the_focused_host_first_then_hosts() {
        let mut c = cands();
        c.focus_host = Some("h2".into());
        assert_eq!(
            complete("run re", &c, false),
            vec!["run restore h2", "run restore"]
        );
        assert_eq!(
            complete("run restore dvn-aws-1", &c, false),
            vec!["run restore dvn-aws-1", "run restore dvn-aws-12"]
        );
    }

    #[test]
    fn parses_every_command() {
        let c = cands();
        let p = |l: &str| parse(l, &c, false);
        assert_eq!(p("host h2"), Ok(Command::Host("h2".into())));
        assert_eq!(p("  pane   chain "), Ok(Command::Pane(Pane::Chain)));
        assert_eq!(p("group dvn"), Ok(Command::Group(Some("dvn".into()))));
        assert_eq!(p("group"), Ok(Command::Group(None)));
        assert_eq!(p("theme light"), Ok(Command::Theme("light".into())));
        assert_eq!(p("sort disk"), Ok(Command::Sort(SortColumn::Disk)));
        assert_eq!(
            p("groupby consensus"),
            Ok(Command::GroupBy(GroupBy::Consensus))
        );
        assert_eq!(p("filter !h*"), Ok(Command::Filter(Some("!h*".into()))));
        assert_eq!(p("filter"), Ok(Command::Filter(None)));
        assert_eq!(p("q"), Ok(Command::Quit));
        assert_eq!(p("quit"), Ok(Command::Quit));
        assert_eq!(p("ack"), Ok(Command::Ack));
        assert_eq!(p("host nope"), Err("no host called `nope`".into()));
        assert_eq!(p("host"), Err("`host` needs a host name".into()));
        assert!(
            p("pane nope")
                .unwrap_err()
                .contains("expected one of fleet, host")
        );
        assert!(
            p("frobnicate")
                .unwrap_err()
                .starts_with("unknown command `frobnicate`")
        );
        assert_eq!(p("q now"), Err("`quit` takes no argument".into()));
    }

    #[test]
    fn readonly_has_no_dangerous_commands() {
        let c = cands();
        assert_eq!(
            parse("ack", &c, true),
            Err("read-only: `ack` is disabled".into())
        );
        assert!(!complete("a", &c, true).contains(&"ack".to_string()));
        assert!(complete("a", &c, false).contains(&"ack".to_string()));
        assert!(!markdown(true).contains(":ack"));
    }

    #[test]
    fn completes_commands_then_arguments() {
        let c = cands();
        assert_eq!(complete("pa", &c, false), vec!["pane "]);
        assert_eq!(
            complete("pane c", &c, false),
            vec!["pane chain", "pane certs", "pane services", "pane exec"],
            "prefix matches first, then anything containing it"
        );
        assert_eq!(
            complete("host dvn-aws-1", &c, false),
            vec!["host dvn-aws-1", "host dvn-aws-12"]
        );
        assert_eq!(complete("host 12", &c, false), vec!["host dvn-aws-12"]);
        assert_eq!(complete("theme li", &c, false), vec!["theme light"]);
        assert!(complete("", &c, false).len() >= 10);
        assert!(complete("nope x", &c, false).is_empty());
    }

    #[test]
    fn offers_come_first_then_the_other_runbooks_once_each() {
        let mut c = cands();
        c.focus_host = Some("h2".into());
        c.offers = vec!["run rolling-upgrade h2 version=2".into()];
        assert_eq!(
            complete("run ", &c, false),
            vec![
                "run rolling-upgrade h2 version=2",
                "run restore h2",
                "run restore",
                "run rolling-upgrade"
            ]
        );
        assert_eq!(
            complete("run rol", &c, false),
            vec!["run rolling-upgrade h2 version=2", "run rolling-upgrade"]
        );
        assert_eq!(
            complete("run re", &c, false),
            vec!["run restore h2", "run restore"]
        );
    }

    #[test]
    fn enter_takes_the_highlighted_offer_when_the_line_leads_to_it() {
        let mut c = cands();
        c.focus_host = Some("h2".into());
        c.offers = vec!["run rolling-upgrade h2 version=2".into()];
        let k = |code| KeyEvent::new(code, KeyModifiers::NONE);
        // `x` opens on `run `: Enter runs the first offer, inputs and all.
        let mut p = Palette::with_line("run ", &c, false);
        assert_eq!(
            p.on_key(k(KeyCode::Enter), &c, false),
            PaletteOutcome::Submit("run rolling-upgrade h2 version=2".into())
        );
        // Down, Enter: the one highlighted.
        p.on_key(k(KeyCode::Down), &c, false);
        assert_eq!(
            p.on_key(k(KeyCode::Enter), &c, false),
            PaletteOutcome::Submit("run restore h2".into())
        );
        // A prefix of a command is that command.
        let mut p = Palette::with_line("pane c", &c, false);
        assert_eq!(
            p.on_key(k(KeyCode::Enter), &c, false),
            PaletteOutcome::Submit("pane chain".into())
        );
        // A typed line that is a completion itself runs as typed (its own targets)…
        let mut p = Palette::with_line("run restore", &c, false);
        assert_eq!(p.candidates[0], "run restore h2");
        assert_eq!(
            p.on_key(k(KeyCode::Enter), &c, false),
            PaletteOutcome::Submit("run restore".into())
        );
        // …and a line the highlight does not continue runs as typed.
        let mut p = Palette::with_line("filter x", &c, false);
        assert_eq!(
            p.on_key(k(KeyCode::Enter), &c, false),
            PaletteOutcome::Submit("filter x".into())
        );
    }

    #[test]
    fn tab_takes_the_highlighted_completion() {
        let c = cands();
        let mut p = Palette::open(&c, false);
        let k = |code| KeyEvent::new(code, KeyModifiers::NONE);
        for ch in "pa".chars() {
            p.on_key(k(KeyCode::Char(ch)), &c, false);
        }
        p.on_key(k(KeyCode::Tab), &c, false);
        assert_eq!(p.line, "pane ");
        p.on_key(k(KeyCode::Char('c')), &c, false);
        p.on_key(k(KeyCode::Down), &c, false);
        p.on_key(k(KeyCode::Tab), &c, false);
        assert_eq!(p.line, "pane certs");
        assert_eq!(
            p.on_key(k(KeyCode::Enter), &c, false),
            PaletteOutcome::Submit("pane certs".into())
        );
        assert_eq!(
            p.on_key(k(KeyCode::Esc), &c, false),
            PaletteOutcome::Cancelled
        );
    }
}

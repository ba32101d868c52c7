//! The console's key map, as data: one table ([`BINDINGS`]) that dispatches keys, writes the
//! status-bar hints, the `?` help and the key table of `docs/console.md`, so none of them can
//! disagree with what a key does.
//!
//! Actions that change anything carry `dangerous: true`. A read-only console builds its
//! [`Keymap`] without them (k9s's `ClearDanger`): the binding is gone from dispatch, not merely
//! hidden, so no key reaches it; pressing its key only explains why nothing happens.
//!
//! Callers: `ui::App` (dispatch and hints), `ui::help` (the help overlay), the docs test.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Leave the console.
    Quit,
    /// Go back: leave the host, clear the filter, return to the fleet; quit at the top.
    Back,
    /// Move the selection down.
    SelectNext,
    /// Move the selection up.
    SelectPrevious,
    /// Move the selection a page down.
    PageDown,
    /// Move the selection a page up.
    PageUp,
    /// Jump to the first row.
    SelectFirst,
    /// Jump to the last row.
    SelectLast,
    /// Next pane.
    NextPane,
    /// Previous pane.
    PreviousPane,
    /// Drill down: open the selected row's host.
    Open,
    /// Type a filter.
    Filter,
    /// Open the command palette.
    Palette,
    /// Show the help.
    Help,
    /// Poll every host now.
    RefreshNow,
    /// Sort the fleet table by the next column.
    CycleSort,
    /// Reverse the sort order.
    ReverseSort,
    /// Worst status first, on or off.
    WorstFirst,
    /// Group the fleet table by the next grouping.
    CycleGroupBy,
    /// Acknowledge the selected alert.
    Ack,
    /// Open the palette to run a runbook on the selected row's host.
    RunOnHost,
    /// Start the runbook the palette asked for (`:run`, `:resume`); for the event loop.
    StartRunbook,
    /// Suspend the running runbook where it is (saved, audited, resumable).
    StopRun,
    /// Open an interactive shell on the row's host (the console steps aside meanwhile).
    Shell,
    /// Mark or unmark the selected host of the fleet table (what `:exec` runs on).
    Mark,
    /// Forget every mark.
    ClearMarks,
    /// Open the palette on `exec ` to run a command on the selection.
    ExecPrompt,
    /// Record the refusal or start the command the console asked for (`:exec`); for the event
    /// loop.
    StartExec,
    /// Cancel what has not finished of the running command.
    CancelExec,
    /// Show the selected group's whole output in the Exec pane.
    ShowOutput,
    /// Follow the selected row's host's logs, or stop following that host.
    FollowLogs,
    /// Stop following every log.
    StopFollowing,
    /// Type a search in the followed lines.
    SearchLogs,
    /// Jump to the next search match.
    NextMatch,
    /// Jump to the previous search match.
    PreviousMatch,
    /// Show only lines at the next minimum level.
    CycleLogLevel,
    /// Show only lines of the next time window.
    CycleLogWindow,
    /// Several hosts: merged by time, or side by side.
    ToggleLogLayout,
    /// Copy the selected row's text (host name, alert, log line) to the clipboard (OSC 52);
    /// for the event loop, which writes it to the terminal.
    Yank,
    /// Re-read the inventory, runbooks and theme (`:reload`); for the event loop.
    Reload,
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// Everywhere.
    Global,
    /// Every pane with rows (all of them).
    List,
    /// The fleet table.
    Fleet,
    /// The alerts pane.
    Alerts,
    /// The runbook pane.
    Runbook,
    /// The Exec pane.
    Exec,
    /// The logs pane (its keys come before the global ones there: `/` searches the lines).
    Logs,
}

impl Context {
    /// Heading in the help and the docs.
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "everywhere",
            Context::List => "in every pane",
            Context::Fleet => "fleet table",
            Context::Alerts => "alerts pane",
            Context::Runbook => {
                "runbook pane (while a question is open, keys go to it; Tab leaves)"
            }
            Context::Exec => "exec pane (while a confirmation is open, keys go to it; Tab leaves)",
            Context::Logs => "logs pane",
        }
    }
}

/// One key, as the operator types and reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A character (upper case implies Shift).
    Char(char),
    /// Ctrl and a character.
    Ctrl(char),
    /// Arrow up.
    Up,
    /// Arrow down.
    Down,
    /// Arrow left.
    Left,
    /// Arrow right.
    Right,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Home.
    Home,
    /// End.
    End,
    /// Enter.
    Enter,
    /// Escape.
    Esc,
    /// Tab.
    Tab,
    /// Shift-Tab.
    BackTab,
}

impl Key {
    /// How the key is written in hints, help and docs.
    pub fn label(self) -> String {
        match self {
            Key::Char(' ') => "Space".into(),
            Key::Char(c) => c.to_string(),
            Key::Ctrl(c) => format!("Ctrl-{}", c.to_ascii_uppercase()),
            Key::Up => "↑".into(),
            Key::Down => "↓".into(),
            Key::Left => "←".into(),
            Key::Right => "→".into(),
            Key::PageUp => "PgUp".into(),
            Key::PageDown => "PgDn".into(),
            Key::Home => "Home".into(),
            Key::End => "End".into(),
            Key::Enter => "Enter".into(),
            Key::Esc => "Esc".into(),
            Key::Tab => "Tab".into(),
            Key::BackTab => "Shift-Tab".into(),
        }
    }

    /// Whether `ev` is this key.
    pub fn matches(self, ev: &KeyEvent) -> bool {
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        let alt = ev.modifiers.contains(KeyModifiers::ALT);
        match self {
            Key::Char(c) => ev.code == KeyCode::Char(c) && !ctrl && !alt,
            Key::Ctrl(c) => ev.code == KeyCode::Char(c) && ctrl,
            Key::Up => ev.code == KeyCode::Up,
            Key::Down => ev.code == KeyCode::Down,
            Key::Left => ev.code == KeyCode::Left,
            Key::Right => ev.code == KeyCode::Right,
            Key::PageUp => ev.code == KeyCode::PageUp,
            Key::PageDown => ev.code == KeyCode::PageDown,
            Key::Home => ev.code == KeyCode::Home,
            Key::End => ev.code == KeyCode::End,
            Key::Enter => ev.code == KeyCode::Enter,
            Key::Esc => ev.code == KeyCode::Esc,
            Key::Tab => ev.code == KeyCode::Tab && !ev.modifiers.contains(KeyModifiers::SHIFT),
            Key::BackTab => {
                ev.code == KeyCode::BackTab
                    || (ev.code == KeyCode::Tab && ev.modifiers.contains(KeyModifiers::SHIFT))
            }
        }
    }
}

/// One binding: keys, what they do, where, and whether it changes anything.
#[derive(Debug, PartialEq, Eq)]
pub struct Binding {
    /// The keys, first one shown first.
    pub keys: &'static [Key],
    /// What they do.
    pub action: Action,
    /// Where they apply.
    pub context: Context,
    /// One line for the help and the docs.
    pub help: &'static str,
    /// A word or two for the status-bar hints; `None` keeps it out of the hints.
    pub hint: Option<&'static str>,
    /// Changes something (on a host, in the alert lifecycle, …): stripped in read-only mode.
    pub dangerous: bool,
}

impl Binding {
    /// `↑/k`: the keys joined for display.
    pub fn keys_label(&self) -> String {
        self.keys
            .iter()
            .map(|k| k.label())
            .collect::<Vec<_>>()
            .join("/")
    }
}

const fn bind(
    keys: &'static [Key],
    action: Action,
    context: Context,
    help: &'static str,
    hint: Option<&'static str>,
) -> Binding {
    Binding {
        keys,
        action,
        context,
        help,
        hint,
        dangerous: false,
    }
}

/// Every binding of the console, in the order the help lists them.
pub const BINDINGS: &[Binding] = &[
    bind(
        &[Key::Char('q'), Key::Ctrl('c')],
        Action::Quit,
        Context::Global,
        "quit the console",
        Some("quit"),
    ),
    bind(
        &[Key::Esc],
        Action::Back,
        Context::Global,
        "back: leave the host, clear the filter, return to the fleet (quits at the top)",
        Some("back"),
    ),
    bind(
        &[Key::Tab, Key::Right, Key::Char('l')],
        Action::NextPane,
        Context::Global,
        "next pane",
        Some("pane"),
    ),
    bind(
        &[Key::BackTab, Key::Left, Key::Char('h')],
        Action::PreviousPane,
        Context::Global,
        "previous pane",
        None,
    ),
    bind(
        &[Key::Char('/')],
        Action::Filter,
        Context::Global,
        "filter rows: text, glob (h*) or regex (^h[12]$); !pattern inverts",
        Some("filter"),
    ),
    bind(
        &[Key::Char(':')],
        Action::Palette,
        Context::Global,
        "command palette (Tab completes)",
        Some("cmd"),
    ),
    bind(
        &[Key::Char('?')],
        Action::Help,
        Context::Global,
        "this help",
        Some("help"),
    ),
    bind(
        &[Key::Char('r')],
        Action::RefreshNow,
        Context::Global,
        "poll every host now",
        None,
    ),
    bind(
        &[Key::Char('y')],
        Action::Yank,
        Context::List,
        "copy the row's host name, alert or log line to the clipboard (OSC 52)",
        None,
    ),
    bind(
        &[Key::Down, Key::Char('j')],
        Action::SelectNext,
        Context::List,
        "next row",
        None,
    ),
    bind(
        &[Key::Up, Key::Char('k')],
        Action::SelectPrevious,
        Context::List,
        "previous row",
        None,
    ),
    bind(
        &[Key::PageDown, Key::Ctrl('d')],
        Action::PageDown,
        Context::List,
        "a page down",
        None,
    ),
    bind(
        &[Key::PageUp, Key::Ctrl('u')],
        Action::PageUp,
        Context::List,
        "a page up",
        None,
    ),
    bind(
        &[Key::Char('g'), Key::Home],
        Action::SelectFirst,
        Context::List,
        "first row",
        None,
    ),
    bind(
        &[Key::Char('G'), Key::End],
        Action::SelectLast,
        Context::List,
        "last row",
        None,
    ),
    bind(
        &[Key::Enter],
        Action::Open,
        Context::List,
        "open the selected row's host (an alert: offer what answers it, as `x`)",
        Some("open"),
    ),
    bind(
        &[Key::Char('o')],
        Action::CycleSort,
        Context::Fleet,
        "order: sort by the next column",
        Some("sort"),
    ),
    bind(
        &[Key::Char('O')],
        Action::ReverseSort,
        Context::Fleet,
        "reverse the sort order",
        None,
    ),
    bind(
        &[Key::Char('w')],
        Action::WorstFirst,
        Context::Fleet,
        "worst status first, on or off",
        Some("worst"),
    ),
    bind(
        &[Key::Char('b')],
        Action::CycleGroupBy,
        Context::Fleet,
        "group by: none, group, region, consensus group",
        Some("group"),
    ),
    Binding {
        keys: &[Key::Char('a')],
        action: Action::Ack,
        context: Context::Alerts,
        help: "acknowledge the selected alert (handed to the audit hook first); an Alertmanager one: silence it",
        hint: Some("ack"),
        dangerous: true,
    },
    bind(
        &[Key::Char('x')],
        Action::RunOnHost,
        Context::List,
        "run a runbook on the row's host: those answering its worst alert first, inputs filled",
        None,
    ),
    // A shell is an action: gone in read-only mode, and roles are checked (and a refusal
    // audited) by `crate::shell` before the console steps aside.
    Binding {
        keys: &[Key::Char('s')],
        action: Action::Shell,
        context: Context::List,
        help: "a shell on the row's host (audited; the console comes back when it exits)",
        // Out of the footer: it would push `q quit` and `Esc back` off narrow screens.
        hint: None,
        dangerous: true,
    },
    bind(
        &[Key::Char(' ')],
        Action::Mark,
        Context::Fleet,
        "mark or unmark the row's host and move down: `:exec` and `!` run on the marked hosts",
        None,
    ),
    bind(
        &[Key::Char('u')],
        Action::ClearMarks,
        Context::Fleet,
        "clear every mark (as `:unmark`)",
        None,
    ),
    // Running a command is an action: gone in read-only mode; roles are checked (and a
    // refusal audited) by `crate::exec` when the command is submitted.
    Binding {
        keys: &[Key::Char('!')],
        action: Action::ExecPrompt,
        context: Context::List,
        help: "run a command (`:exec`) on the marked hosts, else those the filter shows, else the row's host",
        hint: None,
        dangerous: true,
    },
    bind(
        &[Key::Enter],
        Action::ShowOutput,
        Context::Exec,
        "show the selected group's whole output, scrollable (Esc returns to the groups)",
        Some("output"),
    ),
    bind(
        &[Key::Ctrl('c')],
        Action::CancelExec,
        Context::Exec,
        "cancel what has not finished and name the cancelled hosts (the console stays open)",
        Some("cancel"),
    ),
    bind(
        &[Key::Char('X')],
        Action::StopRun,
        Context::Runbook,
        "suspend the running runbook where it is: saved, audited, `:resume ID` continues it",
        Some("stop"),
    ),
    bind(
        &[Key::Char('f')],
        Action::FollowLogs,
        Context::Logs,
        "follow the row's host's logs as they are written (`tail -F`, `journalctl -f`) — every marked host's when it is marked — or stop following that host",
        Some("follow"),
    ),
    bind(
        &[Key::Char('F')],
        Action::StopFollowing,
        Context::Logs,
        "stop following every log (nothing is left running on the hosts)",
        None,
    ),
    bind(
        &[Key::Char('/')],
        Action::SearchLogs,
        Context::Logs,
        "search the followed lines (with none, `/` filters rows as elsewhere): plain text, case-insensitive unless it has a capital; Enter keeps it, Esc clears",
        Some("search"),
    ),
    bind(
        &[Key::Char('n')],
        Action::NextMatch,
        Context::Logs,
        "next search match",
        None,
    ),
    bind(
        &[Key::Char('N')],
        Action::PreviousMatch,
        Context::Logs,
        "previous search match",
        None,
    ),
    bind(
        &[Key::Char('v')],
        Action::CycleLogLevel,
        Context::Logs,
        "minimum level: all, debug, info, warning, error (lines of unknown level stay)",
        None,
    ),
    bind(
        &[Key::Char('t')],
        Action::CycleLogWindow,
        Context::Logs,
        "time window: all, last 5m, 15m, 1h (by the line's own time, else its arrival)",
        None,
    ),
    bind(
        &[Key::Char('c')],
        Action::ToggleLogLayout,
        Context::Logs,
        "several hosts: merged by time with a host prefix, or side by side in columns",
        None,
    ),
];

/// What a key does in a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// This action.
    Action(Action),
    /// A binding that read-only mode removed; the console says so.
    Refused(&'static Binding),
    /// Nothing.
    Unbound,
}

/// The key map a console runs with: [`BINDINGS`], without the dangerous ones when read-only.
#[derive(Debug, Clone)]
pub struct Keymap {
    active: Vec<&'static Binding>,
    stripped: Vec<&'static Binding>,
}

impl Keymap {
    /// The key map; `readonly` strips every dangerous binding.
    pub fn new(readonly: bool) -> Keymap {
        let (stripped, active) = BINDINGS.iter().partition(|b| readonly && b.dangerous);
        Keymap { active, stripped }
    }

    /// The bindings that dispatch.
    pub fn bindings(&self) -> &[&'static Binding] {
        &self.active
    }

    /// What `ev` does where `contexts` apply (the first matching binding wins).
    pub fn lookup(&self, ev: &KeyEvent, contexts: &[Context]) -> Lookup {
        let find = |list: &[&'static Binding]| {
            list.iter()
                .copied()
                .find(|b| contexts.contains(&b.context) && b.keys.iter().any(|k| k.matches(ev)))
        };
        if let Some(b) = find(&self.active) {
            Lookup::Action(b.action)
        } else if let Some(b) = find(&self.stripped) {
            Lookup::Refused(b)
        } else {
            Lookup::Unbound
        }
    }

    /// Whether `action` can be dispatched at all (false for stripped ones).
    pub fn has(&self, action: Action) -> bool {
        self.active.iter().any(|b| b.action == action)
    }

    /// Hint items (`? help`, `s sort`, …) for the given contexts: help first, then the most
    /// specific context's, then the rest; the caller keeps as many as fit.
    pub fn hint_items(&self, contexts: &[Context]) -> Vec<String> {
        let mut out = Vec::new();
        let item = |b: &Binding| b.hint.map(|h| format!("{} {h}", b.keys[0].label()));
        out.extend(
            self.active
                .iter()
                .filter(|b| b.action == Action::Help && contexts.contains(&b.context))
                .filter_map(|b| item(b)),
        );
        // A key a more specific context binds (Enter in the Exec pane, the logs pane's `/`) is
        // hinted once, for what it does there.
        let mut hinted: Vec<Key> = Vec::new();
        for ctx in contexts.iter().rev() {
            for b in self
                .active
                .iter()
                .filter(|b| b.context == *ctx && b.action != Action::Help)
            {
                if b.hint.is_some() && !hinted.contains(&b.keys[0]) {
                    hinted.push(b.keys[0]);
                    out.extend(item(b));
                }
            }
        }
        out
    }

    /// `q quit  Esc back  …` for the given contexts, most specific context first.
    pub fn hints(&self, contexts: &[Context]) -> String {
        let mut out = Vec::new();
        for ctx in contexts.iter().rev() {
            for b in self.active.iter().filter(|b| b.context == *ctx) {
                if let Some(h) = b.hint {
                    out.push(format!("{} {h}", b.keys[0].label()));
                }
            }
        }
        out.join("  ")
    }

    /// The key table in Markdown (`docs/console.md` holds this text between markers).
    pub fn markdown(&self) -> String {
        let mut t = String::from("| keys | where | does |\n|---|---|---|\n");
        for b in &self.active {
            let danger = if b.dangerous {
                " *(changes something: removed in read-only mode)*"
            } else {
                ""
            };
            t.push_str(&format!(
                "| `{}` | {} | {}{danger} |\n",
                b.keys_label().replace('|', "\\|"),
                b.context.title(),
                b.help
            ));
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    const ALL: &[Context] = &[
        Context::Global,
        Context::List,
        Context::Fleet,
        Context::Alerts,
    ];

    #[test]
    fn keys_dispatch_in_their_context_only() {
        let km = Keymap::new(false);
        assert_eq!(
            km.lookup(&key(KeyCode::Char('j')), ALL),
            Lookup::Action(Action::SelectNext)
        );
        assert_eq!(
            km.lookup(&key(KeyCode::Char('o')), &[Context::Global, Context::List]),
            Lookup::Unbound,
            "sorting is the fleet table's"
        );
        assert_eq!(
            km.lookup(&key(KeyCode::Char('s')), ALL),
            Lookup::Action(Action::Shell),
            "`s` opens a shell, as in k9s"
        );
        assert_eq!(
            km.lookup(
                &KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
                ALL
            ),
            Lookup::Action(Action::Quit)
        );
        assert_eq!(
            km.lookup(&KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT), ALL),
            Lookup::Action(Action::SelectLast)
        );
        assert_eq!(
            km.lookup(&KeyEvent::new(KeyCode::Tab, KeyModifiers::SHIFT), ALL),
            Lookup::Action(Action::PreviousPane)
        );
        assert_eq!(
            km.lookup(&key(KeyCode::BackTab), ALL),
            Lookup::Action(Action::PreviousPane)
        );
    }

    #[test]
    fn readonly_strips_dangerous_bindings_where_they_are_registered() {
        let km = Keymap::new(true);
        assert!(!km.has(Action::Ack));
        assert!(!km.has(Action::Shell), "a shell is an action");
        assert!(km.bindings().iter().all(|b| !b.dangerous));
        match km.lookup(&key(KeyCode::Char('a')), ALL) {
            Lookup::Refused(b) => assert_eq!(b.action, Action::Ack),
            other => panic!("{other:?}"),
        }
        assert!(!km.hints(ALL).contains("a ack"));
        assert!(!km.markdown().contains("acknowledge"));
        let rw = Keymap::new(false);
        assert!(rw.has(Action::Ack));
        assert!(rw.hints(ALL).contains("a ack"));
    }

    #[test]
    fn no_key_is_bound_twice_in_overlapping_contexts() {
        // Contexts that can be active together: Global+List+Fleet, Global+List+Alerts.
        for pair in [Context::Fleet, Context::Alerts] {
            let ctxs = [Context::Global, Context::List, pair];
            let mut seen: Vec<(Key, Action)> = Vec::new();
            for b in BINDINGS.iter().filter(|b| ctxs.contains(&b.context)) {
                for k in b.keys {
                    if let Some((_, other)) = seen.iter().find(|(s, _)| s == k) {
                        panic!("{k:?} is bound to both {other:?} and {:?}", b.action);
                    }
                    seen.push((*k, b.action));
                }
            }
        }
    }

    /// The logs pane's keys come before the key map's (its pane hook looks them up first), so
    /// a clash with a global or list key hides that key there: only `/` may do that, on purpose
    /// (search instead of the row filter once lines are followed).
    #[test]
    fn the_logs_pane_shadows_only_the_slash() {
        let logs: Vec<&Binding> = BINDINGS
            .iter()
            .filter(|b| b.context == Context::Logs)
            .collect();
        for b in BINDINGS
            .iter()
            .filter(|b| matches!(b.context, Context::Global | Context::List))
        {
            for k in b.keys {
                if let Some(l) = logs.iter().find(|l| l.keys.contains(k)) {
                    assert_eq!(
                        (*k, l.action),
                        (Key::Char('/'), Action::SearchLogs),
                        "{k:?} of {:?} is hidden in the logs pane",
                        b.action
                    );
                }
            }
        }
        let km = Keymap::new(false);
        let hints = km.hint_items(&[Context::Global, Context::List, Context::Logs]);
        assert!(hints.contains(&"/ search".to_string()), "{hints:?}");
        assert!(!hints.contains(&"/ filter".to_string()), "{hints:?}");
    }
}

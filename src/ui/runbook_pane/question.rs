//! An open question of the engine in the pane: the editor the operator types into (masked for
//! a secret), the keys that choose, confirm or give a reason, the [`Event`] that answers it, and
//! the lines that show it. It knows nothing of the run or the channel beyond its reply. The
//! Exec pane asks its y/N and typed confirmations with it too (`ui::exec_pane`), so both
//! confirmations look and behave alike.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui_textarea::TextArea;
use tokio::sync::oneshot;

use crate::runbook::{Effect, Event, UnknownDecision};
use crate::ui::theme::Theme;

/// Where a question stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    /// The question itself.
    Answer,
    /// A reason for `option` (overriding a check's suggestion, skipping or aborting an unknown
    /// step).
    Reason { option: String },
}

/// An open question of the engine, with the editor the operator types into.
pub struct Question {
    ask: Effect,
    pub(super) reply: Option<oneshot::Sender<Event>>,
    pub(in crate::ui) input: TextArea<'static>,
    choice: usize,
    stage: Stage,
}

const UNKNOWN_OPTIONS: [&str; 3] = ["retry", "skip", "abort"];

fn plain_editor(secret: bool) -> TextArea<'static> {
    let mut input = TextArea::default();
    if secret {
        input.set_mask_char('•');
    }
    input.set_cursor_line_style(Style::default());
    input
}

impl Question {
    /// A question for `ask`, answered through `reply`.
    pub fn new(ask: Effect, reply: Option<oneshot::Sender<Event>>) -> Question {
        let secret = matches!(ask, Effect::AskInput { secret: true, .. });
        let choice = match &ask {
            Effect::AskChoice {
                options,
                preselected: Some(p),
                ..
            } => options.iter().position(|o| o == p).unwrap_or(0),
            _ => 0,
        };
        Question {
            ask,
            reply,
            input: plain_editor(secret),
            choice,
            stage: Stage::Answer,
        }
    }

    /// The engine's question.
    pub fn ask(&self) -> &Effect {
        &self.ask
    }

    fn options(&self) -> Vec<String> {
        match &self.ask {
            Effect::AskChoice { options, .. } => options.clone(),
            Effect::AskUnknown { .. } => UNKNOWN_OPTIONS.iter().map(|s| s.to_string()).collect(),
            _ => Vec::new(),
        }
    }

    fn text(&self) -> String {
        self.input.lines().join("\n")
    }

    fn step(&self) -> &str {
        match &self.ask {
            Effect::AskConfirm { step, .. }
            | Effect::AskChoice { step, .. }
            | Effect::AskManual { step, .. }
            | Effect::AskNote { step, .. }
            | Effect::AskUnknown { step, .. } => step,
            Effect::AskInput { name, .. } => name,
            _ => "",
        }
    }

    /// Handles a key; returns the answer once the operator gave one.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Event> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('x') {
            return Some(Event::Abort {
                reason: format!(
                    "aborted by the operator in the console at `{}`",
                    self.step()
                ),
            });
        }
        if let Stage::Reason { option } = &self.stage {
            let option = option.clone();
            match key.code {
                KeyCode::Esc => {
                    self.stage = Stage::Answer;
                    self.input = plain_editor(false);
                }
                KeyCode::Enter => {
                    let reason = self.text().trim().to_string();
                    if reason.is_empty() {
                        return None;
                    }
                    return Some(match &self.ask {
                        Effect::AskUnknown { .. } => Event::ResolveUnknown {
                            decision: if option == "skip" {
                                UnknownDecision::Skip
                            } else {
                                UnknownDecision::Abort
                            },
                            reason: Some(reason),
                        },
                        _ => Event::Chosen {
                            option,
                            reason: Some(reason),
                        },
                    });
                }
                _ => {
                    self.input.input(key);
                }
            }
            return None;
        }
        let options = self.options();
        if !options.is_empty() {
            match key.code {
                KeyCode::Down | KeyCode::Char('j') => {
                    self.choice = (self.choice + 1) % options.len();
                }
                KeyCode::Up | KeyCode::Char('k') => {
                    self.choice = (self.choice + options.len() - 1) % options.len();
                }
                KeyCode::Char(c @ '1'..='9') => {
                    let n = c as usize - '1' as usize;
                    if n < options.len() {
                        self.choice = n;
                    }
                }
                KeyCode::Enter => return self.choose(&options[self.choice]),
                _ => {}
            }
            return None;
        }
        match (&self.ask, key.code) {
            (Effect::AskNote { .. }, KeyCode::Char('s')) if ctrl => Some(Event::NoteGiven {
                text: self.text().trim_end().to_string(),
            }),
            (Effect::AskNote { .. }, _) => {
                self.input.input(key);
                None
            }
            (_, KeyCode::Enter) => Some(match &self.ask {
                Effect::AskConfirm { .. } => {
                    let typed = self.text();
                    if typed.trim() == "abort" {
                        Event::Abort {
                            reason: "operator declined the confirmation".into(),
                        }
                    } else {
                        Event::Confirmed { typed }
                    }
                }
                Effect::AskInput { name, .. } => Event::InputGiven {
                    name: name.clone(),
                    value: self.text(),
                },
                Effect::AskManual { .. } => {
                    let note = self.text();
                    Event::ManualDone {
                        note: (!note.trim().is_empty()).then_some(note),
                    }
                }
                other => Event::Abort {
                    reason: format!("not a question: {other:?}"),
                },
            }),
            (_, KeyCode::Esc) => {
                self.input =
                    plain_editor(matches!(self.ask, Effect::AskInput { secret: true, .. }));
                None
            }
            _ => {
                self.input.input(key);
                None
            }
        }
    }

    fn choose(&mut self, option: &str) -> Option<Event> {
        match &self.ask {
            Effect::AskUnknown { .. } if option == "retry" => Some(Event::ResolveUnknown {
                decision: UnknownDecision::Retry,
                reason: None,
            }),
            Effect::AskChoice { preselected, .. }
                if preselected.as_deref().is_none_or(|p| p == option) =>
            {
                Some(Event::Chosen {
                    option: option.to_string(),
                    reason: None,
                })
            }
            _ => {
                self.stage = Stage::Reason {
                    option: option.to_string(),
                };
                self.input = plain_editor(false);
                None
            }
        }
    }

    /// What the operator sees: the question, its context and the editor's hint.
    pub(in crate::ui) fn lines(&self, t: &Theme) -> Vec<Line<'static>> {
        let dim = Style::new().fg(t.colour("text.dim"));
        let danger = Style::new()
            .fg(t.colour("danger"))
            .add_modifier(Modifier::BOLD);
        let key = Style::new().fg(t.colour("key"));
        let mut out = Vec::new();
        let error = match &self.ask {
            Effect::AskConfirm { error, .. }
            | Effect::AskInput { error, .. }
            | Effect::AskChoice { error, .. }
            | Effect::AskUnknown { error, .. } => error.clone(),
            _ => None,
        };
        if let Some(e) = error {
            out.push(Line::from(Span::styled(format!("✗ {e}"), danger)));
        }
        match &self.ask {
            Effect::AskConfirm {
                step,
                expected,
                summary,
                commands,
                ..
            } => {
                // No step: an ad-hoc command (the Exec pane asks with this widget too).
                let what = if step.is_empty() {
                    format!("⚠ DANGEROUS: {summary}")
                } else {
                    format!("⚠ DANGEROUS step `{step}`: {summary}")
                };
                out.push(Line::from(Span::styled(what, danger)));
                for (host, command) in commands {
                    out.push(Line::from(format!("    {host}: {command}")));
                }
                out.push(Line::from(vec![
                    Span::raw("Type "),
                    Span::styled(expected.clone(), key.add_modifier(Modifier::BOLD)),
                    Span::raw(" to confirm, or "),
                    Span::styled("abort", key),
                    Span::raw(":"),
                ]));
            }
            Effect::AskInput {
                prompt,
                choices,
                default,
                secret,
                ..
            } => {
                let mut p = prompt.clone();
                if !choices.is_empty() {
                    p.push_str(&format!(" [{}]", choices.join("/")));
                }
                if let (Some(d), false) = (default, secret) {
                    p.push_str(&format!(" (default {d})"));
                }
                if *secret {
                    p.push_str(" (hidden)");
                }
                out.push(Line::from(format!("{p}:")));
            }
            Effect::AskChoice {
                step,
                question,
                preselected,
                ..
            } => {
                out.push(Line::from(format!("? [{step}] {question}")));
                for (i, o) in self.options().iter().enumerate() {
                    let mark = if preselected.as_ref() == Some(o) {
                        "  ← suggested by the check"
                    } else {
                        ""
                    };
                    out.push(self.option_line(i, o, mark, t));
                }
            }
            Effect::AskUnknown { step, reason, .. } => {
                out.push(Line::from(Span::styled(
                    format!("? [{step}] outcome unknown: {reason}"),
                    Style::new().fg(t.colour("status.warning")),
                )));
                for (i, o) in self.options().iter().enumerate() {
                    out.push(self.option_line(i, o, "", t));
                }
            }
            Effect::AskManual { step, item, text } => {
                out.push(Line::from(format!("☐ [{step}] {item}")));
                if !text.is_empty() {
                    out.push(Line::from(Span::styled(format!("    {text}"), dim)));
                }
                out.push(Line::from("Optional note, then Enter when done:"));
            }
            Effect::AskNote { step, prompt } => {
                out.push(Line::from(format!("✎ [{step}] {prompt}")));
            }
            _ => {}
        }
        if let Stage::Reason { option } = &self.stage {
            let why = match &self.ask {
                Effect::AskChoice { .. } => {
                    format!("You chose `{option}` over the check's suggestion. Why?")
                }
                _ => format!("Why {option}?"),
            };
            out.push(Line::from(Span::styled(why, key)));
        }
        out
    }

    fn option_line(&self, i: usize, option: &str, mark: &str, t: &Theme) -> Line<'static> {
        let chosen = i == self.choice && self.stage == Stage::Answer;
        let style = if chosen {
            Style::new()
                .bg(t.colour("selected.bg"))
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        Line::from(vec![
            Span::styled(
                format!("  {} {}. {option}", if chosen { "›" } else { " " }, i + 1),
                style,
            ),
            Span::styled(mark.to_string(), Style::new().fg(t.colour("text.dim"))),
        ])
    }

    fn has_editor(&self) -> bool {
        self.options().is_empty() || matches!(self.stage, Stage::Reason { .. })
    }

    /// Lines the editor takes: several for a note, one for a line of text, none for a choice.
    pub(in crate::ui) fn editor_height(&self) -> u16 {
        match (&self.ask, &self.stage) {
            _ if !self.has_editor() => 0,
            (Effect::AskNote { .. }, Stage::Answer) => 5,
            _ => 1,
        }
    }

    pub(in crate::ui) fn hint(&self) -> &'static str {
        match (&self.ask, &self.stage) {
            (_, Stage::Reason { .. }) => "Enter give the reason   Esc back   Ctrl-X abort the run",
            (Effect::AskNote { .. }, _) => "Ctrl-S done   Enter new line   Ctrl-X abort the run",
            (Effect::AskChoice { .. } | Effect::AskUnknown { .. }, _) => {
                "↑↓/1-9 choose   Enter take it   Ctrl-X abort the run   Tab other panes"
            }
            _ => "Enter answer   Esc clear   Ctrl-X abort the run   Tab other panes",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn typing(q: &mut Question, text: &str) {
        for c in text.chars() {
            assert_eq!(q.on_key(key(KeyCode::Char(c))), None);
        }
    }

    fn confirm() -> Effect {
        Effect::AskConfirm {
            step: "stop".into(),
            expected: "h1".into(),
            summary: "stop the database".into(),
            commands: vec![("h1".into(), "systemctl stop postgresql".into())],
            error: None,
        }
    }

    #[test]
    fn a_confirmation_answers_what_was_typed_and_abort_declines() {
        let mut q = Question::new(confirm(), None);
        typing(&mut q, "h2");
        assert_eq!(
            q.on_key(key(KeyCode::Enter)),
            Some(Event::Confirmed { typed: "h2".into() })
        );
        let mut q = Question::new(confirm(), None);
        typing(&mut q, "abort");
        assert!(matches!(
            q.on_key(key(KeyCode::Enter)),
            Some(Event::Abort { .. })
        ));
        let mut q = Question::new(confirm(), None);
        assert!(matches!(
            q.on_key(KeyEvent::new(KeyCode::Char('x'), KeyModifiers::CONTROL)),
            Some(Event::Abort { .. })
        ));
    }

    #[test]
    fn overriding_a_suggested_option_asks_for_a_reason() {
        let ask = Effect::AskChoice {
            step: "kind".into(),
            question: "Which error?".into(),
            options: vec!["hsm".into(), "rpc".into(), "other".into()],
            preselected: Some("rpc".into()),
            error: None,
        };
        // The suggestion is selected first and taken without a reason.
        let mut q = Question::new(ask.clone(), None);
        assert_eq!(
            q.on_key(key(KeyCode::Enter)),
            Some(Event::Chosen {
                option: "rpc".into(),
                reason: None
            })
        );
        // Another option needs one; an empty reason is not taken.
        let mut q = Question::new(ask, None);
        assert_eq!(q.on_key(key(KeyCode::Char('3'))), None);
        assert_eq!(q.on_key(key(KeyCode::Enter)), None);
        assert_eq!(q.on_key(key(KeyCode::Enter)), None, "empty reason");
        typing(&mut q, "seen it in the log");
        assert_eq!(
            q.on_key(key(KeyCode::Enter)),
            Some(Event::Chosen {
                option: "other".into(),
                reason: Some("seen it in the log".into())
            })
        );
    }

    #[test]
    fn an_unknown_step_is_retried_at_once_or_skipped_with_a_reason() {
        let ask = Effect::AskUnknown {
            step: "long".into(),
            reason: "connection lost".into(),
            error: None,
        };
        let mut q = Question::new(ask.clone(), None);
        assert_eq!(
            q.on_key(key(KeyCode::Enter)),
            Some(Event::ResolveUnknown {
                decision: UnknownDecision::Retry,
                reason: None
            })
        );
        let mut q = Question::new(ask, None);
        q.on_key(key(KeyCode::Down));
        assert_eq!(q.on_key(key(KeyCode::Enter)), None);
        typing(&mut q, "done by hand");
        assert_eq!(
            q.on_key(key(KeyCode::Enter)),
            Some(Event::ResolveUnknown {
                decision: UnknownDecision::Skip,
                reason: Some("done by hand".into())
            })
        );
    }

    #[test]
    fn notes_take_several_lines_and_end_with_ctrl_s() {
        let mut q = Question::new(
            Effect::AskNote {
                step: "post".into(),
                prompt: "What happened?".into(),
            },
            None,
        );
        typing(&mut q, "disk full");
        assert_eq!(q.on_key(key(KeyCode::Enter)), None);
        typing(&mut q, "cleaned /var/log");
        assert_eq!(
            q.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL)),
            Some(Event::NoteGiven {
                text: "disk full\ncleaned /var/log".into()
            })
        );
    }

    #[test]
    fn a_secret_input_is_masked_on_screen_and_given_whole() {
        let mut q = Question::new(
            Effect::AskInput {
                name: "token".into(),
                prompt: "API token".into(),
                kind: runbook::InputType::String,
                secret: true,
                choices: vec![],
                default: None,
                error: None,
            },
            None,
        );
        typing(&mut q, "s3cret");
        let theme = Theme::default_theme();
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(40, 3)).unwrap();
        terminal
            .draw(|f| f.render_widget(&q.input, f.area()))
            .unwrap();
        let screen = format!("{:?}", terminal.backend().buffer());
        assert!(!screen.contains("s3cret") && screen.contains("••••••"));
        assert!(
            q.lines(&theme)
                .iter()
                .all(|l| !l.to_string().contains("s3cret"))
        );
        assert_eq!(
            q.on_key(key(KeyCode::Enter)),
            Some(Event::InputGiven {
                name: "token".into(),
                value: "s3cret".into()
            })
        );
    }

    #[test]
    fn a_manual_item_takes_an_optional_note() {
        let ask = Effect::AskManual {
            step: "call".into(),
            item: "Call the DBA".into(),
            text: String::new(),
        };
        let mut q = Question::new(ask.clone(), None);
        assert_eq!(
            q.on_key(key(KeyCode::Enter)),
            Some(Event::ManualDone { note: None })
        );
        let mut q = Question::new(ask, None);
        typing(&mut q, "no answer");
        assert_eq!(
            q.on_key(key(KeyCode::Enter)),
            Some(Event::ManualDone {
                note: Some("no answer".into())
            })
        );
    }
}

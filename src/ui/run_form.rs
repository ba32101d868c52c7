//! The inputs of a run about to start, shown in the Runbook pane before anything runs: the
//! values given (`:run … NAME=VALUE`, or filled from an alert by an offer) and the defaults are
//! editable, required ones without a value are asked; choices cycle with ←/→ and secrets are
//! masked. Enter checks every value with the command line's own rules
//! ([`crate::runbook::validate_inputs`], as `--var` is checked) and only then hands the run to
//! the event loop; Esc cancels and nothing starts.
//!
//! It holds view state only (the values being typed) and never starts a run itself: `App`
//! opens it from a run request and turns its [`FormOutcome::Start`] into the same
//! [`RunStart`] the palette would have sent. The engine still asks for anything it finds
//! missing, and typed confirmations of dangerous steps are untouched: they come later, from the
//! engine, exactly as before.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::runbook_pane::RunStart;
use super::table::pane_block;
use super::theme::Theme;
use crate::runbook::{HostInfo, Input, InputType, Runbook};

/// One input of the form.
#[derive(Debug, Clone)]
struct Field {
    input: Input,
    value: String,
    /// Given on the command line or filled from an alert (shown as such).
    given: bool,
}

/// A run waiting for its inputs.
#[derive(Debug, Clone)]
pub struct RunForm {
    runbook: Runbook,
    hosts: Option<String>,
    fields: Vec<Field>,
    selected: usize,
    error: Option<String>,
}

/// What a key did to the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormOutcome {
    /// Still editing.
    Editing,
    /// Esc: nothing starts.
    Cancelled,
    /// Every value checked: start this run.
    Start(RunStart),
}

impl RunForm {
    /// The form for `runbook` on `hosts`, with `given` values (already parsed, not yet checked).
    pub fn new(runbook: Runbook, hosts: Option<String>, given: &BTreeMap<String, String>) -> Self {
        let fields = runbook
            .inputs
            .iter()
            .map(|i| Field {
                input: i.clone(),
                value: given
                    .get(&i.name)
                    .or(i.default.as_ref())
                    .cloned()
                    .unwrap_or_default(),
                given: given.contains_key(&i.name),
            })
            .collect();
        // Start on the first required input with no value, the one that must be answered.
        let mut form = RunForm {
            runbook,
            hosts,
            fields,
            selected: 0,
            error: None,
        };
        form.selected = form
            .fields
            .iter()
            .position(|f| f.value.is_empty() && f.input.required)
            .unwrap_or(0);
        form
    }

    /// The runbook's name.
    pub fn runbook(&self) -> &str {
        &self.runbook.name
    }

    /// Why the last Enter did not start the run.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Handles a key; `fleet` is what `host` inputs must name.
    pub fn on_key(&mut self, key: KeyEvent, fleet: &[HostInfo]) -> FormOutcome {
        let n = self.fields.len();
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return FormOutcome::Cancelled,
            KeyCode::Char('c') if ctrl => return FormOutcome::Cancelled,
            KeyCode::Enter => match self.values(fleet) {
                Ok(inputs) => {
                    return FormOutcome::Start(RunStart::New {
                        runbook: self.runbook.name.clone(),
                        hosts: self.hosts.clone(),
                        inputs,
                    });
                }
                Err(e) => self.error = Some(e),
            },
            KeyCode::Down if n > 0 => self.selected = (self.selected + 1) % n,
            KeyCode::Up if n > 0 => self.selected = (self.selected + n - 1) % n,
            KeyCode::Left | KeyCode::Right if n > 0 => {
                let f = &mut self.fields[self.selected];
                if f.input.kind == InputType::Choice && !f.input.choices.is_empty() {
                    let c = &f.input.choices;
                    let k = c.len();
                    let at = c.iter().position(|x| *x == f.value);
                    let next = match (at, key.code == KeyCode::Right) {
                        (None, _) => 0,
                        (Some(i), true) => (i + 1) % k,
                        (Some(i), false) => (i + k - 1) % k,
                    };
                    f.value = c[next].clone();
                    self.error = None;
                }
            }
            KeyCode::Backspace if n > 0 => {
                self.fields[self.selected].value.pop();
                self.error = None;
            }
            KeyCode::Char('u') if ctrl && n > 0 => {
                self.fields[self.selected].value.clear();
                self.error = None;
            }
            KeyCode::Char(ch) if !ctrl && n > 0 => {
                let f = &mut self.fields[self.selected];
                // A choice is picked, not typed: ←/→ only.
                if f.input.kind != InputType::Choice {
                    f.value.push(ch);
                    self.error = None;
                }
            }
            _ => {}
        }
        FormOutcome::Editing
    }

    /// Every value, checked as `--var` values are: unknown names cannot occur here, bad values
    /// and required inputs left empty are errors naming the input.
    fn values(&self, fleet: &[HostInfo]) -> Result<BTreeMap<String, String>, String> {
        let given: BTreeMap<String, String> = self
            .fields
            .iter()
            .filter(|f| !f.value.is_empty())
            .map(|f| (f.input.name.clone(), f.value.clone()))
            .collect();
        let (values, missing) = crate::runbook::validate_inputs(&self.runbook, &given, fleet)?;
        if let Some(m) = missing.first() {
            return Err(format!("input `{m}` is required: type a value"));
        }
        // Only what the operator sees a value for goes to the run; the rest keep their
        // defaults in the engine, as on the command line.
        Ok(values
            .into_iter()
            .filter(|(k, _)| given.contains_key(k))
            .collect())
    }

    /// Draws the form in `area` (the Runbook pane).
    pub fn render(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let t = theme;
        let dim = Style::new().fg(t.colour("text.dim"));
        let text = Style::new().fg(t.colour("text"));
        let mut lines = vec![
            Line::from(Span::styled(
                self.runbook.title.clone(),
                text.add_modifier(Modifier::BOLD),
            )),
            Line::from(Span::styled(
                format!(
                    "on {} — check its inputs, then Enter starts it (Esc: nothing runs)",
                    self.hosts.as_deref().unwrap_or("its own targets")
                ),
                dim,
            )),
            Line::default(),
        ];
        let width = self
            .fields
            .iter()
            .map(|f| f.input.name.chars().count())
            .max()
            .unwrap_or(0);
        for (k, f) in self.fields.iter().enumerate() {
            let here = k == self.selected;
            let shown = if f.input.secret {
                "•".repeat(f.value.chars().count())
            } else {
                f.value.clone()
            };
            let shown = match f.input.kind {
                InputType::Choice => format!("‹ {shown} ›"),
                _ if here => format!("{shown}▏"),
                _ => shown,
            };
            let note = if f.value.is_empty() && f.input.required {
                "required"
            } else if f.given {
                "filled"
            } else if f.input.default.as_deref() == Some(f.value.as_str()) {
                "default"
            } else {
                ""
            };
            // Said in the words the engine's own question uses.
            let note = if f.input.secret {
                format!("{note} (hidden)").trim_start().to_string()
            } else {
                note.to_string()
            };
            let mark = if here { "▶ " } else { "  " };
            let value_style = if here {
                text.add_modifier(Modifier::BOLD)
            } else {
                text
            };
            lines.push(Line::from(vec![
                Span::styled(format!("{mark}{:width$}  ", f.input.name), text),
                Span::styled(shown, value_style),
                Span::styled(format!("  {note}"), dim),
            ]));
            if here {
                lines.push(Line::from(Span::styled(
                    format!("    {}", f.input.prompt),
                    dim,
                )));
            }
        }
        if self.fields.is_empty() {
            lines.push(Line::from(Span::styled("no inputs", dim)));
        }
        if let Some(e) = &self.error {
            lines.push(Line::default());
            lines.push(Line::from(Span::styled(
                e.clone(),
                Style::new().fg(t.colour("status.critical")),
            )));
        }
        let block = pane_block(
            t,
            format!(" Run {} ", self.runbook.name),
            "Enter start  Esc cancel  ↑↓ input  ←→ choice".to_string(),
            true,
        );
        frame.render_widget(
            Paragraph::new(lines)
                .block(block)
                .wrap(Wrap { trim: false }),
            area,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runbook() -> Runbook {
        crate::runbook::parse(
            r#"
name = "fix"
title = "Fix a service"
description = "d"

[[inputs]]
name = "service"
prompt = "Service"
default = "dvn"

[[inputs]]
name = "mode"
type = "choice"
prompt = "How"
choices = ["soft", "hard"]
default = "soft"

[[inputs]]
name = "token"
prompt = "Token"
secret = true

[[steps]]
id = "look"
title = "Look"
text = "Look at {{service}}."
kind = "manual"
"#,
            "fix.toml",
        )
        .unwrap()
    }

    fn k(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn a_form_starts_on_what_must_be_asked_checks_and_starts_with_the_values_shown() {
        let given = BTreeMap::from([("service".to_string(), "app".to_string())]);
        let mut f = RunForm::new(runbook(), Some("web-3".into()), &given);
        assert_eq!(f.fields[f.selected].input.name, "token", "required, empty");
        assert_eq!(
            f.on_key(k(KeyCode::Enter), &[]),
            FormOutcome::Editing,
            "the required input is empty"
        );
        assert_eq!(f.error(), Some("input `token` is required: type a value"));
        for ch in "s3cr3t".chars() {
            f.on_key(k(KeyCode::Char(ch)), &[]);
        }
        f.on_key(k(KeyCode::Up), &[]);
        f.on_key(k(KeyCode::Right), &[]);
        f.on_key(k(KeyCode::Char('x')), &[]);
        assert_eq!(f.fields[1].value, "hard", "a choice is picked, not typed");
        let FormOutcome::Start(RunStart::New {
            runbook,
            hosts,
            inputs,
        }) = f.on_key(k(KeyCode::Enter), &[])
        else {
            panic!("starts")
        };
        assert_eq!((runbook.as_str(), hosts.as_deref()), ("fix", Some("web-3")));
        assert_eq!(
            inputs,
            BTreeMap::from([
                ("mode".to_string(), "hard".to_string()),
                ("service".to_string(), "app".to_string()),
                ("token".to_string(), "s3cr3t".to_string()),
            ])
        );
        assert_eq!(f.on_key(k(KeyCode::Esc), &[]), FormOutcome::Cancelled);
    }
}

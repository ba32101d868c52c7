//! The line-oriented front end of `fleetdeck run`: progress on stdout, questions on the
//! terminal (through [`super::out`], so a closed stdout never stops or crashes a run). Secret inputs are read with echo off. Without a terminal the engine refuses every
//! step that would need an answer before anything runs, so this front end is only asked when a
//! person is there.

use std::io::BufRead;

use futures::future::BoxFuture;

use super::out;
use crate::executor::Frontend;
use crate::progress::progress_line;
use crate::runbook::{Effect, Event, UnknownDecision};

/// Asks on stdin/stdout (and `/dev/tty` for hidden input).
#[derive(Default)]
pub struct TtyFrontend {
    /// Step records (by index) of `show_output` checks whose output was printed.
    printed: std::sync::Mutex<std::collections::BTreeSet<usize>>,
}

fn line(prompt: &str) -> Option<String> {
    let mut out = out::stdout();
    out.write_str(prompt);
    out.flush_now();
    let mut text = String::new();
    match std::io::stdin().lock().read_line(&mut text) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(text.trim_end_matches(['\n', '\r']).to_string()),
    }
}

fn abort(reason: &str) -> Event {
    Event::Abort {
        reason: reason.to_string(),
    }
}

fn ask_blocking(ask: Effect) -> Event {
    let mut out = out::stdout();
    let eof = || abort("end of input");
    match ask {
        Effect::AskConfirm {
            step,
            expected,
            summary,
            commands,
            error,
        } => {
            if let Some(e) = error {
                writeln!(out, "  ✗ {e}");
            }
            writeln!(out, "\n⚠ DANGEROUS step `{step}`: {summary}");
            for (host, command) in &commands {
                writeln!(out, "    {host}: {command}");
            }
            match line(&format!("  Type {expected} to confirm, or `abort`: ")) {
                Some(t) if t == "abort" => abort("operator declined the confirmation"),
                Some(typed) => Event::Confirmed { typed },
                None => eof(),
            }
        }
        Effect::AskInput {
            name,
            prompt,
            secret,
            choices,
            default,
            error,
            ..
        } => {
            if let Some(e) = error {
                writeln!(out, "  ✗ {e}");
            }
            let mut p = format!("  {prompt}");
            if !choices.is_empty() {
                p.push_str(&format!(" [{}]", choices.join("/")));
            }
            if let (Some(d), false) = (&default, secret) {
                p.push_str(&format!(" (default {d})"));
            }
            p.push_str(": ");
            let value = if secret {
                super::prompt::read_hidden_line(&p)
            } else {
                line(&p)
            };
            match value {
                Some(value) => Event::InputGiven { name, value },
                None => eof(),
            }
        }
        Effect::AskChoice {
            step,
            question,
            options,
            preselected,
            error,
        } => {
            if let Some(e) = error {
                writeln!(out, "  ✗ {e}");
            }
            writeln!(out, "\n? [{step}] {question}");
            for (i, o) in options.iter().enumerate() {
                let mark = if preselected.as_ref() == Some(o) {
                    " ← suggested by the check"
                } else {
                    ""
                };
                writeln!(out, "    {}. {o}{mark}", i + 1);
            }
            let Some(answer) = line("  Choose (number or label, empty = suggested): ") else {
                return eof();
            };
            let option = match answer.trim() {
                "" => match &preselected {
                    Some(p) => p.clone(),
                    None => return ask_blocking_again_choice(step, question, options, preselected),
                },
                a => a
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| options.get(n.wrapping_sub(1)).cloned())
                    .unwrap_or_else(|| a.to_string()),
            };
            let reason = if preselected.as_ref().is_some_and(|p| p != &option) {
                line("  You are overriding the check's suggestion. Why? ")
            } else {
                None
            };
            Event::Chosen { option, reason }
        }
        Effect::AskManual { step, item, text } => {
            writeln!(out, "\n☐ [{step}] {item}");
            if !text.is_empty() {
                writeln!(out, "    {text}");
            }
            match line("  Press Enter when done (optional note): ") {
                Some(n) => Event::ManualDone {
                    note: (!n.trim().is_empty()).then_some(n),
                },
                None => eof(),
            }
        }
        Effect::AskNote { step, prompt } => {
            writeln!(out, "\n✎ [{step}] {prompt} (end with an empty line)");
            let mut text = Vec::new();
            loop {
                match line("  > ") {
                    Some(l) if l.is_empty() => break,
                    Some(l) => text.push(l),
                    None => break,
                }
            }
            Event::NoteGiven {
                text: text.join("\n"),
            }
        }
        Effect::AskUnknown {
            step,
            reason,
            error,
        } => {
            if let Some(e) = error {
                writeln!(out, "  ✗ {e}");
            }
            writeln!(out, "\n? [{step}] outcome unknown: {reason}");
            let Some(answer) = line("  retry, skip or abort? ") else {
                return eof();
            };
            let decision = match answer.trim() {
                "retry" => UnknownDecision::Retry,
                "skip" => UnknownDecision::Skip,
                _ => UnknownDecision::Abort,
            };
            let reason =
                (decision != UnknownDecision::Retry).then(|| line("  Why? ").unwrap_or_default());
            Event::ResolveUnknown { decision, reason }
        }
        other => abort(&format!("not a question: {other:?}")),
    }
}

fn ask_blocking_again_choice(
    step: String,
    question: String,
    options: Vec<String>,
    preselected: Option<String>,
) -> Event {
    ask_blocking(Effect::AskChoice {
        step,
        question,
        options,
        preselected,
        error: Some("choose one of the options".into()),
    })
}

impl Frontend for TtyFrontend {
    fn answer(&self, ask: &Effect) -> BoxFuture<'static, Event> {
        let ask = ask.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || ask_blocking(ask))
                .await
                .unwrap_or_else(|_| abort("prompt failed"))
        })
    }

    fn show(&self, effect: &Effect) {
        if let Some(line) = progress_line(effect, std::time::SystemTime::now()) {
            writeln!(out::stdout(), "{line}");
        }
    }

    fn note(&self, text: &str) {
        writeln!(out::stdout(), "  ✎ {text}");
    }

    /// Prints each host's output of a finished `show_output = true` check, once.
    fn progress(&self, run: &crate::runbook::Run) {
        let Ok(mut printed) = self.printed.lock() else {
            return;
        };
        for (i, record) in run.records().iter().enumerate() {
            let shows = run.runbook().step(&record.step).is_some_and(
                |(_, s)| matches!(&s.kind, crate::runbook::StepKind::Check(c) if c.show_output),
            );
            if !shows || record.status == crate::runbook::StepStatus::Running || !printed.insert(i)
            {
                continue;
            }
            for (host, result) in &record.hosts {
                writeln!(out::stdout(), "  ┌ {host}, output of [{}]:", record.step);
                for line in result.output.lines() {
                    writeln!(out::stdout(), "  │ {line}");
                }
                writeln!(out::stdout(), "  └");
            }
        }
    }
}

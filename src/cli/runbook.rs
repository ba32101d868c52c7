//! `fleetdeck runbook list | show | lint`: the shipped runbooks and the operator's own, as text.
//! Exit codes: 0 success, 1 lint found problems, 2 a runbook that cannot be found or read.
//! Callers: `src/main.rs`, through [`super::Command::run`](super::Command).

use std::path::PathBuf;

use clap::Subcommand;
use serde::Serialize;

use super::out;
use super::run::{find, print_lint};
use crate::rules;
use crate::runbook::{self, LintError};

/// `fleetdeck runbook …`.
#[derive(Subcommand)]
pub enum RunbookCommand {
    /// List shipped runbooks and the operator's own, with the health rules each answers.
    List {
        /// A JSON array (docs/cli-json.md).
        #[arg(long)]
        json: bool,
    },
    /// Show one runbook: the health rules it answers, inputs (and what an alert fills), steps.
    Show {
        /// Runbook name or file.
        name: String,
        /// The validated runbook as JSON (docs/cli-json.md).
        #[arg(long)]
        json: bool,
    },
    /// Check runbook files (all shipped and own ones when none is given).
    Lint {
        /// Files to check.
        files: Vec<PathBuf>,
    },
}

/// `fleetdeck runbook …`.
pub fn runbook_command(command: RunbookCommand) -> u8 {
    let mut out = out::stdout();
    let mut err = out::stderr();
    match command {
        RunbookCommand::List { json: true } => {
            let list: Vec<ListEntry> = runbook::catalog(runbook::user_dir().as_deref())
                .into_iter()
                .map(ListEntry::from)
                .collect();
            print_json(&list)
        }
        RunbookCommand::Show { name, json: true } => match find(&name) {
            Ok(rb) => print_json(&ShowDocument::new(&rb)),
            Err(errors) => {
                print_json(&serde_json::json!({ "name": name, "errors": errors }));
                2
            }
        },
        RunbookCommand::List { json: false } => {
            writeln!(out, "{:<18} {:<9} TITLE", "NAME", "FROM");
            for entry in runbook::catalog(runbook::user_dir().as_deref()) {
                let from = match entry.origin {
                    runbook::Origin::Shipped => "shipped",
                    runbook::Origin::User(_) => "own",
                };
                let title = entry.runbook.map_or_else(
                    |_| "(invalid: run `fleetdeck runbook lint`)".into(),
                    |r| {
                        if r.answers.is_empty() {
                            r.title
                        } else {
                            format!("{} [for {}]", r.title, r.answers.join(", "))
                        }
                    },
                );
                writeln!(out, "{:<18} {from:<9} {title}", entry.name);
            }
            0
        }
        RunbookCommand::Show { name, json: false } => match find(&name) {
            Ok(rb) => {
                writeln!(out, "{} — {}", rb.name, rb.title);
                if let Some(source) = &rb.source {
                    writeln!(out, "source: {source}");
                }
                if !rb.description.is_empty() {
                    writeln!(out, "\n{}", rb.description.trim());
                }
                if !rb.answers.is_empty() {
                    writeln!(out, "\nfor (health rules it answers):");
                    for name in &rb.answers {
                        let meaning = rules::find(name).map_or("", |r| r.meaning);
                        writeln!(out, "  {name:<24} {meaning}");
                    }
                }
                if !rb.inputs.is_empty() {
                    writeln!(out, "\ninputs:");
                    for i in &rb.inputs {
                        let secret = if i.secret { " (secret)" } else { "" };
                        let fill = rb
                            .fill
                            .get(&i.name)
                            .map_or_else(String::new, |f| format!(" ← {}", f.as_str()));
                        writeln!(out, "  {}{secret}{fill}", i.name);
                    }
                }
                writeln!(out, "\nsteps:");
                for (n, s) in rb.steps.iter().enumerate() {
                    let danger = if s.is_dangerous() {
                        "  ⚠ dangerous: typed confirmation"
                    } else {
                        ""
                    };
                    writeln!(
                        out,
                        "  {:>2}. {:<20} {:<8} {}{danger}",
                        n + 1,
                        s.id,
                        s.kind_name(),
                        s.title
                    );
                }
                0
            }
            Err(errors) => {
                print_lint(&errors);
                2
            }
        },
        RunbookCommand::Lint { files } => {
            let results: Vec<Vec<LintError>> = if files.is_empty() {
                runbook::catalog(runbook::user_dir().as_deref())
                    .into_iter()
                    .map(|e| e.runbook.err().unwrap_or_default())
                    .collect()
            } else {
                files.iter().map(|f| runbook::lint_file(f)).collect()
            };
            let problems: usize = results.iter().map(Vec::len).sum();
            for errors in &results {
                print_lint(errors);
            }
            if problems == 0 {
                writeln!(out, "{} runbook(s) OK", results.len());
                0
            } else {
                writeln!(err, "{problems} problem(s) in {} runbook(s)", results.len());
                1
            }
        }
    }
}

/// `runbook list --json`: one element per runbook.
#[derive(Serialize)]
struct ListEntry {
    name: String,
    /// `shipped` or `own`.
    origin: &'static str,
    /// The operator's file, for `own`.
    path: Option<PathBuf>,
    /// `None` when it does not lint (see `errors`).
    title: Option<String>,
    /// Health rules it answers.
    answers: Vec<String>,
    valid: bool,
    errors: Vec<LintError>,
}

impl From<runbook::CatalogEntry> for ListEntry {
    fn from(entry: runbook::CatalogEntry) -> Self {
        let (origin, path) = match entry.origin {
            runbook::Origin::Shipped => ("shipped", None),
            runbook::Origin::User(p) => ("own", Some(p)),
        };
        let (title, answers, errors) = match entry.runbook {
            Ok(r) => (Some(r.title), r.answers, Vec::new()),
            Err(errors) => (None, Vec::new(), errors),
        };
        Self {
            name: entry.name,
            origin,
            path,
            title,
            answers,
            valid: errors.is_empty(),
            errors,
        }
    }
}

/// `runbook show --json`: the validated runbook, plus what the text view derives (each step's
/// danger, each answered rule's meaning).
#[derive(Serialize)]
struct ShowDocument<'a> {
    runbook: &'a runbook::Runbook,
    /// Ids of the steps that need a typed confirmation.
    dangerous_steps: Vec<&'a str>,
    /// Each health rule of `answers` with its meaning.
    rules: Vec<RuleMeaning<'a>>,
}

#[derive(Serialize)]
struct RuleMeaning<'a> {
    name: &'a str,
    meaning: &'static str,
}

impl<'a> ShowDocument<'a> {
    fn new(runbook: &'a runbook::Runbook) -> Self {
        Self {
            runbook,
            dangerous_steps: runbook
                .steps
                .iter()
                .filter(|s| s.is_dangerous())
                .map(|s| s.id.as_str())
                .collect(),
            rules: runbook
                .answers
                .iter()
                .map(|name| RuleMeaning {
                    name,
                    meaning: rules::find(name).map_or("", |r| r.meaning),
                })
                .collect(),
        }
    }
}

/// Prints a JSON document; 0, or 1 when it cannot be serialised (never expected).
fn print_json(value: &impl Serialize) -> u8 {
    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            writeln!(out::stdout(), "{text}");
            0
        }
        Err(e) => {
            writeln!(out::stderr(), "fleetdeck: {e}");
            1
        }
    }
}

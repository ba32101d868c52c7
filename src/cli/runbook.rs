//! `fleetdeck runbook list | show | lint`: the shipped runbooks and the operator's own, as text.
//! Exit codes: 0 success, 1 lint found problems, 2 a runbook that cannot be found or read.
//! Callers: `src/main.rs`, through [`super::Command::run`](super::Command).

use std::path::PathBuf;

use clap::Subcommand;

use super::out;
use super::run::{find, print_lint};
use crate::rules;
use crate::runbook::{self, LintError};

/// `fleetdeck runbook …`.
#[derive(Subcommand)]
pub enum RunbookCommand {
    /// List shipped runbooks and the operator's own, with the health rules each answers.
    List,
    /// Show one runbook: the health rules it answers, inputs (and what an alert fills), steps.
    Show {
        /// Runbook name or file.
        name: String,
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
        RunbookCommand::List => {
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
        RunbookCommand::Show { name } => match find(&name) {
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

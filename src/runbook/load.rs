//! Parsing and linting runbooks: TOML text in, a validated [`Runbook`] or every problem found,
//! each naming the file, line, column and what was expected.
//!
//! This module finds runbooks (the shipped ones embedded from `runbooks/`, the operator's in
//! [`user_dir`], a path) and is the entry point for parsing. The rules a runbook must follow
//! before it may run (known keys per step kind, references between steps, reachability, loops
//! that would spin without a wait or a person, placeholders known where they are used, secrets
//! only where they cannot be shown, regexes and JSON paths that compile, dangerous steps only
//! with declared targets) live in `runbook::validate`; TOML and serde errors are located and
//! worded by [`crate::diag`], like every file fleetdeck reads.
//!
//! It never panics on any input and reads no file except in [`load_file`] / [`lint_file`].
//! Callers: `fleetdeck runbook lint|show|list`, `fleetdeck run`, the TUI's runbook pane, and the
//! tests under `tests/runbook_lint.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Runbook;
use crate::diag::Located;

// Kept reachable here for the engine and `expect`, which import them from `load`.
pub use super::validate::parse_comparison;
pub(crate) use super::validate::single_placeholder;

/// The runbooks shipped in `runbooks/`, embedded so every install has them: (name, TOML text).
pub fn shipped() -> &'static [(&'static str, &'static str)] {
    const SHIPPED: &[(&str, &str)] = &[
        ("backup", include_str!("../../runbooks/backup.toml")),
        (
            "cert-rotation",
            include_str!("../../runbooks/cert-rotation.toml"),
        ),
        (
            "daily-check",
            include_str!("../../runbooks/daily-check.toml"),
        ),
        (
            "disk-expansion",
            include_str!("../../runbooks/disk-expansion.toml"),
        ),
        ("harden-ssh", include_str!("../../runbooks/harden-ssh.toml")),
        (
            "node-expansion",
            include_str!("../../runbooks/node-expansion.toml"),
        ),
        (
            "p0-response",
            include_str!("../../runbooks/p0-response.toml"),
        ),
        ("restore", include_str!("../../runbooks/restore.toml")),
        (
            "rolling-upgrade",
            include_str!("../../runbooks/rolling-upgrade.toml"),
        ),
        (
            "troubleshoot",
            include_str!("../../runbooks/troubleshoot.toml"),
        ),
    ];
    SHIPPED
}

/// The shipped runbook called `name`, parsed (reported under `runbooks/NAME.toml`).
pub fn shipped_runbook(name: &str) -> Option<Result<Runbook, Vec<LintError>>> {
    shipped()
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, text)| parse(text, &format!("runbooks/{n}.toml")))
}

/// The operator's own runbooks: `$XDG_CONFIG_HOME/fleetdeck/runbooks` (`~/.config/…` when
/// unset).
pub fn user_dir() -> Option<PathBuf> {
    crate::paths::config_dir().map(|d| d.join("runbooks"))
}

/// Where a runbook of the catalog comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Built in (`runbooks/` of the source tree).
    Shipped,
    /// A file of the operator's.
    User(PathBuf),
}

/// One runbook of [`catalog`], parsed or not.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    /// Its name (the file stem).
    pub name: String,
    /// Shipped or the operator's.
    pub origin: Origin,
    /// The runbook, or why it does not lint.
    pub runbook: Result<Runbook, Vec<LintError>>,
}

/// Every runbook available, sorted by name: the shipped ones and the `*.toml` files of
/// `user_dir`; an operator's file of the same name as a shipped runbook replaces it. A
/// missing or unreadable directory just contributes nothing.
pub fn catalog(user_dir: Option<&Path>) -> Vec<CatalogEntry> {
    let mut entries: BTreeMap<String, CatalogEntry> = shipped()
        .iter()
        .map(|(name, text)| {
            (
                (*name).to_owned(),
                CatalogEntry {
                    name: (*name).to_owned(),
                    origin: Origin::Shipped,
                    runbook: parse(text, &format!("runbooks/{name}.toml")),
                },
            )
        })
        .collect();
    if let Some(dir) = user_dir
        && let Ok(read) = std::fs::read_dir(dir)
    {
        let mut files: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        for path in files {
            let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
                continue;
            };
            let runbook = load_file(&path);
            entries.insert(
                name.clone(),
                CatalogEntry {
                    name,
                    origin: Origin::User(path),
                    runbook,
                },
            );
        }
    }
    entries.into_values().collect()
}

/// The runbook `name_or_path` names: a file when it contains `/` or ends in `.toml`,
/// otherwise a name looked up in `user_dir` first, then among the shipped ones.
pub fn find(name_or_path: &str, user_dir: Option<&Path>) -> Result<Runbook, Vec<LintError>> {
    if name_or_path.contains('/') || name_or_path.ends_with(".toml") {
        return load_file(Path::new(name_or_path));
    }
    if let Some(dir) = user_dir {
        let path = dir.join(format!("{name_or_path}.toml"));
        if path.is_file() {
            return load_file(&path);
        }
    }
    shipped_runbook(name_or_path).unwrap_or_else(|| {
        let known: Vec<&str> = shipped().iter().map(|(n, _)| *n).collect();
        Err(vec![LintError {
            path: name_or_path.to_owned(),
            line: None,
            column: None,
            message: format!(
                "no runbook called {name_or_path:?}{}; shipped: {}",
                user_dir.map_or_else(String::new, |d| format!(" in {}", d.display())),
                known.join(", ")
            ),
        }])
    })
}

/// One problem with a runbook: `PATH:LINE:COL: MESSAGE` (or `PATH: MESSAGE`), the shape of
/// every file fleetdeck reads.
pub type LintError = Located;

/// Reads and parses a runbook file; its `name` must equal the file's stem.
pub fn load_file(path: &Path) -> Result<Runbook, Vec<LintError>> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![LintError {
            path: shown.clone(),
            line: None,
            column: None,
            message: format!("cannot read the runbook: {e}"),
        }]
    })?;
    parse(&text, &shown)
}

/// Every problem of a runbook file (empty = clean).
pub fn lint_file(path: &Path) -> Vec<LintError> {
    load_file(path).err().unwrap_or_default()
}

/// Every problem of runbook text reported under `path` (empty = clean).
pub fn lint(text: &str, path: &str) -> Vec<LintError> {
    parse(text, path).err().unwrap_or_default()
}

/// Parses and validates runbook text reported under `path`. When `path` ends in `.toml`, the
/// runbook's `name` must equal its stem. Errors come sorted by position.
pub fn parse(text: &str, path: &str) -> Result<Runbook, Vec<LintError>> {
    super::validate::validate(text, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::{CmpOp, Comparison, StepKind};

    fn errs(text: &str) -> Vec<String> {
        lint(text, "t.toml")
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    const HEAD: &str = "name = \"t\"\ntitle = \"T\"\n";

    #[test]
    fn a_minimal_runbook_parses() {
        let rb = parse(
            &format!("{HEAD}[[steps]]\nid = \"a\"\nkind = \"note\"\ntext = \"why?\"\n"),
            "t.toml",
        )
        .unwrap();
        assert_eq!(rb.steps.len(), 1);
        assert_eq!(rb.steps[0].kind, StepKind::Note);
    }

    #[test]
    fn the_catalog_lets_the_operator_replace_a_shipped_runbook() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("backup.toml"),
            "name = \"backup\"\ntitle = \"Mine\"\n[[steps]]\nid = \"a\"\nkind = \"note\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("broken.toml"), "name = \"broken\"\n").unwrap();
        let entries = catalog(Some(dir.path()));
        let backup = entries.iter().find(|e| e.name == "backup").unwrap();
        assert!(matches!(backup.origin, Origin::User(_)));
        assert_eq!(backup.runbook.as_ref().unwrap().title, "Mine");
        let broken = entries.iter().find(|e| e.name == "broken").unwrap();
        assert!(broken.runbook.is_err());
        assert!(
            entries
                .iter()
                .any(|e| e.name == "restore" && e.origin == Origin::Shipped)
        );
        assert_eq!(find("backup", Some(dir.path())).unwrap().title, "Mine");
        assert_eq!(find("restore", Some(dir.path())).unwrap().name, "restore");
        let err = find("nope", None).unwrap_err();
        assert!(
            err[0]
                .to_string()
                .starts_with("nope: no runbook called \"nope\"; shipped: backup")
        );
    }

    #[test]
    fn comparisons() {
        assert_eq!(
            parse_comparison(">5"),
            Some(Comparison {
                op: CmpOp::Gt,
                value: 5.0
            })
        );
        assert_eq!(parse_comparison(" <= 100 ").map(|c| c.op), Some(CmpOp::Le));
        assert_eq!(parse_comparison("!= -1.5").map(|c| c.value), Some(-1.5));
        assert_eq!(parse_comparison("> five"), None);
        assert_eq!(parse_comparison("5"), None);
        assert_eq!(parse_comparison("=> 5"), None);
    }

    #[test]
    fn every_problem_is_reported_with_a_position() {
        let text = format!(
            "{HEAD}[[steps]]\nid = \"a\"\nkind = \"action\"\ncommand = \"echo {{{{nope}}}}\"\n\
             next = \"zz\"\n"
        );
        let errors = errs(&text);
        assert_eq!(
            errors,
            [
                "t.toml:6:17: `command` of step `a`: unknown placeholder `{{nope}}`",
                "t.toml:7:8: `next` of step `a` goes to `zz`, but no step has that id",
            ]
        );
    }

    #[test]
    fn name_must_match_the_file() {
        let errors: Vec<String> = lint(HEAD, "other.toml")
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errors,
            [
                "other.toml: the runbook has no steps: add at least one [[steps]] table",
                "other.toml:1:8: runbook name \"t\" does not match the file name \"other\".toml",
            ]
        );
    }

    #[test]
    fn successors_follow_file_order_next_and_failures() {
        let rb = parse(
            &format!(
                "{HEAD}[[steps]]\nid = \"a\"\nkind = \"check\"\ncommand = \"true\"\non_fail = \"c\"\n\
                 [[steps]]\nid = \"b\"\nkind = \"end\"\n\
                 [[steps]]\nid = \"c\"\nkind = \"manual\"\nnext = \"b\"\n"
            ),
            "t.toml",
        )
        .unwrap();
        assert_eq!(rb.successors(0), [1, 2]);
        assert_eq!(rb.successors(1), Vec::<usize>::new());
        assert_eq!(rb.successors(2), [1]);
    }
}

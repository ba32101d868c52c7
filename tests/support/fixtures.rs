//! The valid/invalid fixture runner shared by the inventory, runbook and theme tests.
//!
//! A fixture folder holds `*.toml` files. In a valid folder every file must pass the check; in
//! an invalid folder every file must fail with exactly the text of its sibling `*.expected`
//! file (trailing whitespace ignored), and every `*.expected` must have its `*.toml`. Files are
//! handed to the check under their bare file name, so expected text reads
//! `bad-duration.toml:3:12: …` wherever the repository is checked out.
//!
//! After changing a message on purpose, run with `FLEETDECK_BLESS=1` to rewrite the
//! `.expected` files, then review the diff like any other change. All failures of a folder are
//! reported together, in file order.

use std::path::{Path, PathBuf};

/// What every file of a folder must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The check passes.
    Valid,
    /// The check fails with the text of the sibling `.expected` file.
    Invalid,
}

/// One fixture file, read.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Its full path.
    pub path: PathBuf,
    /// Its bare file name (`bad-colour.toml`), the name to report errors under.
    pub name: String,
    /// Its text.
    pub text: String,
}

/// The `.toml` files of `dir`, sorted so failures come out in a stable order.
pub fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// Runs `check` on every `.toml` file of `dir` (at least `at_least` of them) and asserts
/// what `expect` says; `check` returns the error text (its `Display`) when the file is refused.
pub fn run_dir(
    dir: &Path,
    expect: Expect,
    at_least: usize,
    check: impl Fn(&Fixture) -> Result<(), String>,
) {
    let files = toml_files(dir);
    assert!(
        files.len() >= at_least.max(1),
        "{}: expected at least {} fixtures, found {}",
        dir.display(),
        at_least.max(1),
        files.len()
    );
    let bless = std::env::var_os("FLEETDECK_BLESS").is_some();
    let mut failures = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("fixture has a file name")
            .to_owned();
        let fixture = Fixture { path, name, text };
        let path = &fixture.path;
        match (expect, check(&fixture)) {
            (Expect::Valid, Ok(())) => {}
            (Expect::Valid, Err(e)) => failures.push(e),
            (Expect::Invalid, Ok(())) => {
                failures.push(format!("{}: passes, but must fail", path.display()))
            }
            (Expect::Invalid, Err(actual)) => {
                let expected_path = path.with_extension("expected");
                if bless {
                    std::fs::write(&expected_path, format!("{actual}\n")).unwrap_or_else(|e| {
                        panic!("cannot write {}: {e}", expected_path.display())
                    });
                    continue;
                }
                match std::fs::read_to_string(&expected_path) {
                    Err(e) => failures.push(format!(
                        "{}: cannot read ({e}); the actual error is:\n{actual}",
                        expected_path.display()
                    )),
                    Ok(expected) if expected.trim_end() != actual => failures.push(format!(
                        "{}:\n  expected:\n{}\n  actual:\n{actual}",
                        path.display(),
                        expected.trim_end()
                    )),
                    Ok(_) => {}
                }
            }
        }
    }
    if expect == Expect::Invalid {
        for entry in std::fs::read_dir(dir).expect("fixture dir") {
            let path = entry.expect("directory entry").path();
            if path.extension().is_some_and(|e| e == "expected")
                && !path.with_extension("toml").is_file()
            {
                failures.push(format!("{} has no .toml beside it", path.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{}:\n{}",
        dir.display(),
        failures.join("\n")
    );
}

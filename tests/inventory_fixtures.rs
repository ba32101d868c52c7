//! Inventory fixtures: every `tests/fixtures/inventory/valid/*.toml` must load, and every
//! `tests/fixtures/inventory/invalid/*.toml` must fail with exactly the text of its sibling
//! `*.expected` file (the `Display` of the `ConfigError`).
//!
//! Files are loaded under their bare file name, so the expected text reads
//! `bad-duration.toml:3:12: …` wherever the repository is checked out.
//!
//! After changing a message on purpose, run with `FLEETDECK_BLESS=1` to rewrite the
//! `.expected` files, then review the diff like any other change.

use std::path::{Path, PathBuf};

use fleetdeck::inventory::{ConfigError, ConfigSource, Fleet, load_fleet_from_str};

fn fixture_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/inventory")
        .join(kind)
}

/// The `.toml` files of one fixture folder, sorted so failures come out in a stable order.
fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = fixture_dir(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> Result<Fleet, ConfigError> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let name = path.file_name().expect("fixture has a file name");
    load_fleet_from_str(&text, ConfigSource::File(PathBuf::from(name)))
}

#[test]
fn valid_inventories_load() {
    let files = fixtures("valid");
    assert!(!files.is_empty(), "no valid fixtures found");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| load(path).err().map(|e| e.to_string()))
        .collect();
    assert!(
        failures.is_empty(),
        "valid fixtures failed to load:\n{}",
        failures.join("\n")
    );
}

#[test]
fn invalid_inventories_fail_with_the_expected_message() {
    let files = fixtures("invalid");
    assert!(
        files.len() >= 10,
        "expected at least 10 invalid fixtures, found {}",
        files.len()
    );
    let bless = std::env::var_os("FLEETDECK_BLESS").is_some();
    let mut failures = Vec::new();
    for path in &files {
        let expected_path = path.with_extension("expected");
        let actual = match load(path) {
            Ok(_) => {
                failures.push(format!("{}: loaded, but must fail", path.display()));
                continue;
            }
            Err(e) => e.to_string(),
        };
        if bless {
            std::fs::write(&expected_path, format!("{actual}\n"))
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", expected_path.display()));
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Err(e) => failures.push(format!(
                "{}: cannot read ({e}); the actual error is:\n  {actual}",
                expected_path.display()
            )),
            Ok(expected) if expected.trim_end() != actual => failures.push(format!(
                "{}:\n  expected: {}\n  actual:   {actual}",
                path.display(),
                expected.trim_end()
            )),
            Ok(_) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "invalid fixtures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_expected_file_has_its_fixture() {
    let dir = fixture_dir("invalid");
    for entry in std::fs::read_dir(&dir).expect("invalid fixture dir") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "expected") {
            assert!(
                path.with_extension("toml").is_file(),
                "{} has no .toml beside it",
                path.display()
            );
        }
    }
}

//! Inventory fixtures: every `tests/fixtures/inventory/valid/*.toml` must load, and every
//! `tests/fixtures/inventory/invalid/*.toml` must fail with exactly the text of its sibling
//! `*.expected` file (the `Display` of the `ConfigError`), through the shared runner
//! [`support::fixtures::run_dir`].
//!
//! Files are loaded under their bare file name, so the expected text reads
//! `bad-duration.toml:3:12: …` wherever the repository is checked out.
//!
//! After changing a message on purpose, run with `FLEETDECK_BLESS=1` to rewrite the
//! `.expected` files, then review the diff like any other change.

mod support;

use std::path::PathBuf;

use fleetdeck::inventory::{ConfigSource, load_fleet_from_str};
use support::fixtures::{Expect, Fixture, run_dir};

fn fixture_dir(kind: &str) -> PathBuf {
    support::repo_root()
        .join("tests/fixtures/inventory")
        .join(kind)
}

fn load(f: &Fixture) -> Result<(), String> {
    load_fleet_from_str(&f.text, ConfigSource::File(PathBuf::from(&f.name)))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn valid_inventories_load() {
    run_dir(&fixture_dir("valid"), Expect::Valid, 1, load);
}

#[test]
fn invalid_inventories_fail_with_the_expected_message() {
    run_dir(&fixture_dir("invalid"), Expect::Invalid, 10, load);
}

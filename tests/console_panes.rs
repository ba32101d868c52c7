//! Console themes and docs through the public API: every shipped theme (`themes/*.toml`) is
//! embedded, parses on its own and sets every slot; every `tests/fixtures/themes/valid/*.toml`
//! loads over the default theme; every `tests/fixtures/themes/invalid/*.toml` fails with exactly
//! the text of its sibling `*.expected` (file, line, column, slot); and `docs/console.md`
//! describes every key binding and palette command the console has.
//!
//! Files are parsed under their bare file name, so expected text reads `bad-colour.toml:5:15: …`
//! wherever the repository is checked out. After changing a message on purpose, run with
//! `FLEETDECK_BLESS=1` to rewrite the `.expected` files, then review the diff.

mod support;

use std::path::Path;

use fleetdeck::ui::keymap::{BINDINGS, Keymap};
use fleetdeck::ui::palette;
use fleetdeck::ui::theme::{BUILTIN_THEMES, SLOTS, Theme, ThemeError};
use support::fixtures::{Expect, Fixture, run_dir, toml_files};

fn root() -> &'static Path {
    support::repo_root()
}

/// Parses a fixture the way `--theme FILE` does: over the default theme, unless it names a base.
fn parse(f: &Fixture) -> Result<Theme, ThemeError> {
    Theme::parse(&f.text, &f.name, Some(&Theme::default_theme()))
}

#[test]
fn every_shipped_theme_is_built_in_parses_alone_and_sets_every_slot() {
    let files = toml_files(&root().join("themes"));
    assert!(
        files.len() >= 4,
        "at least default, light, high-contrast and one more"
    );
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let (_, embedded) = BUILTIN_THEMES
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("themes/{name}.toml is not embedded in BUILTIN_THEMES"));
        assert_eq!(*embedded, text, "{name}: the embedded text is the file");
        // Alone: no base to fill gaps from, so a missing slot is an error.
        let theme =
            Theme::parse(&text, &name, None).unwrap_or_else(|e| panic!("themes/{name}.toml: {e}"));
        assert!(theme.is_complete(), "{name}");
        for slot in SLOTS {
            let (_, set) = text
                .lines()
                .filter_map(|l| l.split_once('='))
                .find(|(k, _)| k.trim().trim_matches('"') == *slot)
                .unwrap_or_else(|| panic!("themes/{name}.toml does not set `{slot}` itself"));
            assert!(!set.trim().is_empty());
        }
        assert_eq!(Theme::load(&name, None).unwrap().name(), name);
    }
    for required in ["default", "light", "high-contrast"] {
        assert!(Theme::builtin(required).is_some(), "{required}");
    }
}

#[test]
fn valid_theme_fixtures_load() {
    let dir = root().join("tests/fixtures/themes/valid");
    run_dir(&dir, Expect::Valid, 1, |f| {
        let theme = parse(f).map_err(|e| e.to_string())?;
        assert!(theme.is_complete(), "{}", f.name);
        // Loading the file by path (as `--theme FILE` does) gives the same colours.
        let loaded = Theme::load(f.path.to_str().unwrap(), None).map_err(|e| e.to_string())?;
        for slot in SLOTS {
            assert_eq!(loaded.colour(slot), theme.colour(slot), "{slot}");
        }
        Ok(())
    });
    let light = Theme::builtin("light").unwrap();
    let based = Theme::load(dir.join("based-on-light.toml").to_str().unwrap(), None).unwrap();
    assert_eq!(based.colour("text.dim"), light.colour("text.dim"));
    assert_ne!(based.colour("status.ok"), light.colour("status.ok"));
}

#[test]
fn invalid_theme_fixtures_fail_with_the_expected_message() {
    let dir = root().join("tests/fixtures/themes/invalid");
    run_dir(&dir, Expect::Invalid, 6, |f| {
        parse(f).map(|_| ()).map_err(|e| e.to_string())
    });
}

#[test]
fn the_docs_describe_every_binding_and_command() {
    let doc = std::fs::read_to_string(root().join("docs/console.md")).unwrap();
    let table = Keymap::new(false).markdown();
    assert!(
        doc.contains(&table),
        "docs/console.md's key table differs from the key map:\n{table}"
    );
    assert!(doc.contains(&palette::markdown(false)));
    for b in BINDINGS {
        assert!(doc.contains(b.help), "{}", b.help);
    }
}

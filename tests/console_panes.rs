//! Console themes and docs through the public API: every shipped theme (`themes/*.toml`) is
//! embedded, parses on its own and sets every slot; every `tests/fixtures/themes/valid/*.toml`
//! loads over the default theme; every `tests/fixtures/themes/invalid/*.toml` fails with exactly
//! the text of its sibling `*.expected` (file, line, column, slot); and `docs/console.md`
//! describes every key binding and palette command the console has.
//!
//! Files are parsed under their bare file name, so expected text reads `bad-colour.toml:5:15: …`
//! wherever the repository is checked out. After changing a message on purpose, run with
//! `FLEETDECK_BLESS=1` to rewrite the `.expected` files, then review the diff.

use std::path::{Path, PathBuf};

use fleetdeck::ui::keymap::{BINDINGS, Keymap};
use fleetdeck::ui::palette;
use fleetdeck::ui::theme::{BUILTIN_THEMES, SLOTS, Theme, ThemeError};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// Parses a fixture the way `--theme FILE` does: over the default theme, unless it names a base.
fn parse(path: &Path) -> Result<Theme, ThemeError> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy();
    Theme::parse(&text, &name, Some(&Theme::default_theme()))
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
    let files = toml_files(&root().join("tests/fixtures/themes/valid"));
    assert!(!files.is_empty());
    for path in files {
        let theme = parse(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(theme.is_complete(), "{}", path.display());
        // Loading the file by path (as `--theme FILE` does) gives the same colours.
        let loaded = Theme::load(path.to_str().unwrap(), None).unwrap();
        for slot in SLOTS {
            assert_eq!(loaded.colour(slot), theme.colour(slot), "{slot}");
        }
    }
    let light = Theme::builtin("light").unwrap();
    let based = parse(&root().join("tests/fixtures/themes/valid/based-on-light.toml")).unwrap();
    assert_eq!(based.colour("text.dim"), light.colour("text.dim"));
    assert_ne!(based.colour("status.ok"), light.colour("status.ok"));
}

#[test]
fn invalid_theme_fixtures_fail_with_the_expected_message() {
    let files = toml_files(&root().join("tests/fixtures/themes/invalid"));
    assert!(files.len() >= 6, "found {}", files.len());
    let bless = std::env::var_os("FLEETDECK_BLESS").is_some();
    let mut failures = Vec::new();
    for path in &files {
        let expected_path = path.with_extension("expected");
        let actual = match parse(path) {
            Ok(_) => {
                failures.push(format!("{}: loaded, but must fail", path.display()));
                continue;
            }
            Err(e) => e.to_string(),
        };
        if bless {
            std::fs::write(&expected_path, format!("{actual}\n")).unwrap();
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
        "invalid theme fixtures:\n{}",
        failures.join("\n")
    );
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

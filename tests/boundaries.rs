//! The map of the crate, checked: only the console (`src/ui.rs`, `src/ui/`) touches the terminal
//! UI libraries, and nothing outside it reaches into it — the core and the headless commands in
//! `src/cli/` are plain code a future front end (`serve`) can reuse. `src/main.rs` is the one
//! file that may name `fleetdeck::ui`: it starts the console. Comment lines are not code and are
//! skipped, so module docs may still name what they must not use.

use std::path::{Path, PathBuf};

use regex::Regex;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `.rs` file under `src/` outside the console, with its code (comment lines blanked, so
/// line numbers stay right).
fn files_outside_the_console() -> Vec<(PathBuf, String)> {
    let src = src();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|p| *p != src.join("ui.rs") && !p.starts_with(src.join("ui")))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let code: Vec<&str> = text
                .lines()
                .map(|l| {
                    if l.trim_start().starts_with("//") {
                        ""
                    } else {
                        l
                    }
                })
                .collect();
            (p, code.join("\n"))
        })
        .collect()
}

fn leaks(pattern: &Regex, skip: &[PathBuf]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, code) in files_outside_the_console() {
        if skip.contains(&path) {
            continue;
        }
        for m in pattern.find_iter(&code) {
            let line = code[..m.start()].matches('\n').count() + 1;
            found.push(format!("{}:{line}: {}", path.display(), m.as_str()));
        }
    }
    found
}

#[test]
fn ratatui_and_crossterm_stay_inside_the_ui_module() {
    let terminal = Regex::new(r"\b(ratatui|crossterm)\b").unwrap();
    let found = leaks(&terminal, &[]);
    assert!(
        found.is_empty(),
        "terminal code outside src/ui:\n{}",
        found.join("\n")
    );
}

#[test]
fn nothing_but_main_reaches_into_the_console() {
    // `crate::ui::…`, `fleetdeck::ui::…`, and `ui` inside a `use crate::{…};` group (which may
    // span lines).
    let ui =
        Regex::new(r"\b(crate|fleetdeck)::ui\b|\buse\s+(crate|fleetdeck)::\{[^;]*\bui\b").unwrap();
    let found = leaks(&ui, &[src().join("main.rs")]);
    assert!(
        found.is_empty(),
        "outside src/ui, only src/main.rs may use the console module:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_headless_commands_live_in_src_cli_and_print_only_through_out() {
    // One place handles a closed stdout (`src/cli/out.rs`): a `println!` anywhere in the headless
    // front end would panic on `fleetdeck status | head -1` again.
    let print = Regex::new(r"\be?print(ln)?!").unwrap();
    let cli: Vec<String> = leaks(&print, &[])
        .into_iter()
        .filter(|l| l.starts_with(&src().join("cli").display().to_string()))
        .collect();
    assert!(
        cli.is_empty(),
        "print macros in src/cli (write through cli::out instead):\n{}",
        cli.join("\n")
    );
    assert!(src().join("cli.rs").is_file() && src().join("cli/status.rs").is_file());
}

//! Themes: a palette declared once, and semantic slots (`status.ok`, `border.focused`, …) that
//! name palette entries. The only place where theme text becomes ratatui colours.
//!
//! Built-in themes live in `themes/*.toml` and are embedded in the binary; a user theme is a
//! file (or `NAME.toml` in `$XDG_CONFIG_HOME/fleetdeck/themes/`) that may set only some slots,
//! the rest coming from its `base` (a built-in, `default` unless it says). A broken theme is an
//! error naming the file, line, column and slot. Callers: `main` (`--theme`), the console
//! (`:theme`), and every widget through [`Theme::colour`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ratatui::style::Color;
use serde::Deserialize;
use serde_spanned::Spanned;

use crate::diag::{Located, Plain, Source};

/// The built-in dark theme, shipped in `themes/default.toml`.
pub const DEFAULT_THEME: &str = include_str!("../../themes/default.toml");

/// Every built-in theme: name and text.
pub const BUILTIN_THEMES: &[(&str, &str)] = &[
    ("default", DEFAULT_THEME),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("solarized", include_str!("../../themes/solarized.toml")),
    ("monochrome", include_str!("../../themes/monochrome.toml")),
];

/// Every slot a theme must define (after merging with its base).
pub const SLOTS: &[&str] = &[
    "text",
    "text.dim",
    "title",
    "header",
    "border",
    "border.focused",
    "selected.bg",
    "status.ok",
    "status.warning",
    "status.critical",
    "status.unknown",
    "stale",
    "danger",
    "tab.active",
    "chart",
    "key",
    "exec.odd",
    "search.match",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    /// Built-in theme the file starts from (default `default`).
    base: Option<Spanned<String>>,
    #[serde(default)]
    palette: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    slots: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// A theme, resolved to colours.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    name: String,
    slots: BTreeMap<String, Color>,
}

/// A theme file that cannot be used: `FILE:LINE:COL: MESSAGE` naming the slot, like every
/// other file fleetdeck reads (`themes/NAME.toml` for a built-in).
pub type ThemeError = Located;

/// Names of the built-in themes.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN_THEMES.iter().map(|(n, _)| *n)
}

/// Where the operator's own themes live: `$XDG_CONFIG_HOME/fleetdeck/themes`.
pub fn user_theme_dir() -> Option<PathBuf> {
    crate::paths::config_dir().map(|d| d.join("themes"))
}

impl Theme {
    /// The default theme.
    pub fn default_theme() -> Theme {
        Theme::builtin("default").expect("the built-in theme is valid")
    }

    /// A built-in theme by name.
    pub fn builtin(name: &str) -> Option<Theme> {
        let (_, text) = BUILTIN_THEMES.iter().find(|(n, _)| *n == name)?;
        let mut t = Theme::parse(text, &format!("themes/{name}.toml"), None)
            .expect("built-in themes are tested to parse");
        t.name = name.to_string();
        Some(t)
    }

    /// Resolves `spec` as `--theme` and `:theme` take it: a built-in name, a path to a TOML
    /// file, or `NAME` for `NAME.toml` in `user_dir`.
    pub fn load(spec: &str, user_dir: Option<&Path>) -> Result<Theme, ThemeError> {
        if let Some(t) = Theme::builtin(spec) {
            return Ok(t);
        }
        let as_path = Path::new(spec);
        let path = if as_path.is_file() {
            as_path.to_path_buf()
        } else if let Some(p) = user_dir
            .map(|d| d.join(format!("{spec}.toml")))
            .filter(|p| p.is_file())
        {
            p
        } else {
            let names: Vec<&str> = builtin_names().collect();
            return Err(Located::whole(
                spec,
                format!(
                    "no such theme: expected a built-in ({}), a theme file, or NAME.toml in {}",
                    names.join(", "),
                    user_dir.map_or_else(
                        || "$XDG_CONFIG_HOME/fleetdeck/themes".into(),
                        |d| d.display().to_string()
                    )
                ),
            ));
        };
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Located::whole(&origin, format!("cannot read: {e}")))?;
        let mut t = Theme::parse(&text, &origin, Some(&Theme::default_theme()))?;
        t.name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| spec.to_string());
        Ok(t)
    }

    /// Parses `text`. Slots it does not set come from the built-in its `base` key names, else
    /// from `base`; with neither, the text must set every slot itself (as built-ins do).
    pub fn parse(text: &str, origin: &str, base: Option<&Theme>) -> Result<Theme, ThemeError> {
        let source = Source::new(origin, text);
        let err = |span: Option<std::ops::Range<usize>>, message: String| match span {
            Some(span) => source.at(span, message),
            None => source.whole(message),
        };
        // A theme has no named items: plain table names (`in [slots]`) say where.
        let file: ThemeFile = source.deserialize(&Plain)?;
        let inherited;
        let mut slots = match (&file.base, base) {
            (Some(name), _) => {
                inherited = Theme::builtin(name.get_ref()).ok_or_else(|| {
                    err(
                        Some(name.span()),
                        format!(
                            "base = \"{}\": expected a built-in theme ({})",
                            name.get_ref(),
                            builtin_names().collect::<Vec<_>>().join(", ")
                        ),
                    )
                })?;
                inherited.slots.clone()
            }
            (None, Some(b)) => b.slots.clone(),
            (None, None) => BTreeMap::new(),
        };
        for (entry, value) in &file.palette {
            if parse_colour(value.get_ref()).is_none() {
                return Err(err(
                    Some(value.span()),
                    format!(
                        "palette `{entry}` = \"{}\": expected \"#rrggbb\" or a terminal colour name",
                        value.get_ref()
                    ),
                ));
            }
        }
        for (slot, value) in &file.slots {
            let name = slot.get_ref();
            if !SLOTS.contains(&name.as_str()) {
                return Err(err(
                    Some(slot.span()),
                    format!(
                        "unknown slot `{name}`; expected one of {}",
                        SLOTS.join(", ")
                    ),
                ));
            }
            let v = value.get_ref();
            let colour_text = file.palette.get(v).map_or(v.as_str(), |p| p.get_ref());
            let colour = parse_colour(colour_text).ok_or_else(|| {
                err(
                    Some(value.span()),
                    format!(
                        "slot `{name}` = \"{v}\": expected a palette name, \"#rrggbb\" or a terminal colour name"
                    ),
                )
            })?;
            slots.insert(name.clone(), colour);
        }
        if let Some(missing) = SLOTS.iter().find(|s| !slots.contains_key(**s)) {
            return Err(err(None, format!("slot `{missing}` is not set")));
        }
        Ok(Theme {
            name: origin.to_string(),
            slots,
        })
    }

    /// The theme's name (built-in name or file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The colour of `slot` (a slot from [`SLOTS`]), brought down to what the terminal shows
    /// ([`super::colour_depth`]).
    pub fn colour(&self, slot: &str) -> Color {
        let c = self.slots.get(slot).copied().unwrap_or(Color::Reset);
        super::colour_depth::degrade(c, super::colour_depth::current())
    }

    /// Whether every slot is set (true of every theme [`Theme::parse`] returns).
    pub fn is_complete(&self) -> bool {
        SLOTS.iter().all(|s| self.slots.contains_key(*s))
    }
}

fn parse_colour(s: &str) -> Option<Color> {
    if let Some(hex) = s.strip_prefix('#') {
        if hex.len() != 6 {
            return None;
        }
        let v = u32::from_str_radix(hex, 16).ok()?;
        return Some(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
    }
    Some(match s.to_ascii_lowercase().as_str() {
        "reset" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "darkgray" | "darkgrey" => Color::DarkGray,
        "lightred" => Color::LightRed,
        "lightgreen" => Color::LightGreen,
        "lightyellow" => Color::LightYellow,
        "lightblue" => Color::LightBlue,
        "lightmagenta" => Color::LightMagenta,
        "lightcyan" => Color::LightCyan,
        "white" => Color::White,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_parses_on_its_own_and_sets_every_slot() {
        assert!(BUILTIN_THEMES.len() >= 4);
        for (name, text) in BUILTIN_THEMES {
            let t = Theme::parse(text, name, None)
                .unwrap_or_else(|e| panic!("built-in theme {name}: {e}"));
            assert!(t.is_complete(), "{name}");
            assert_eq!(Theme::builtin(name).unwrap().name(), *name);
        }
        assert_eq!(
            Theme::default_theme().colour("status.critical"),
            Color::Rgb(0xff, 0x5f, 0x5f)
        );
    }

    #[test]
    fn a_partial_theme_overrides_the_base() {
        let base = Theme::default_theme();
        let t = Theme::parse(
            "[slots]\n\"status.ok\" = \"lightgreen\"\n",
            "mine.toml",
            Some(&base),
        )
        .unwrap();
        assert_eq!(t.colour("status.ok"), Color::LightGreen);
        assert_eq!(t.colour("status.critical"), base.colour("status.critical"));
        let light = Theme::builtin("light").unwrap();
        let t = Theme::parse(
            "base = \"light\"\n[slots]\n\"status.ok\" = \"lightgreen\"\n",
            "mine.toml",
            None,
        )
        .unwrap();
        assert_eq!(t.colour("status.ok"), Color::LightGreen);
        assert_eq!(t.colour("text.dim"), light.colour("text.dim"));
    }

    #[test]
    fn errors_name_the_file_position_and_slot() {
        let e = Theme::parse(
            "[slots]\n\"status.ok\" = \"chartreuse-ish\"\n",
            "mine.toml",
            Some(&Theme::default_theme()),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "mine.toml:2:15: slot `status.ok` = \"chartreuse-ish\": expected a palette name, \"#rrggbb\" or a terminal colour name"
        );
        let e =
            Theme::parse("[slots]\n\"status.okay\" = \"red\"\n", "mine.toml", None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("mine.toml:2:1: unknown slot `status.okay`"),
            "{e}"
        );
        let e = Theme::parse("[slots]\n\"status.ok\" = \"red\"\n", "mine.toml", None).unwrap_err();
        assert_eq!(e.to_string(), "mine.toml: slot `text` is not set");
    }

    #[test]
    fn load_finds_builtins_files_and_user_themes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("night.toml"),
            "base = \"solarized\"\n[slots]\n\"chart\" = \"red\"\n",
        )
        .unwrap();
        assert_eq!(Theme::load("light", None).unwrap().name(), "light");
        let t = Theme::load("night", Some(dir.path())).unwrap();
        assert_eq!(t.name(), "night");
        assert_eq!(t.colour("chart"), Color::Red);
        let path = dir.path().join("night.toml");
        assert_eq!(
            Theme::load(path.to_str().unwrap(), None)
                .unwrap()
                .colour("chart"),
            Color::Red
        );
        let e = Theme::load("nope", Some(dir.path())).unwrap_err();
        assert!(e.to_string().starts_with("nope: no such theme"), "{e}");
    }
}

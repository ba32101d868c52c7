//! Themes: a palette declared once, and semantic slots (`status.ok`, `border.focused`, …) that
//! name palette entries. The only place where theme text becomes ratatui colours.

use std::collections::BTreeMap;

use ratatui::style::Color;
use serde::Deserialize;

/// The built-in dark theme, shipped in `themes/default.toml`.
pub const DEFAULT_THEME: &str = include_str!("../../themes/default.toml");

/// Every slot a theme must define (after merging with the default).
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
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    #[serde(default)]
    palette: BTreeMap<String, String>,
    #[serde(default)]
    slots: BTreeMap<String, String>,
}

/// A theme, resolved to colours.
#[derive(Debug, Clone)]
pub struct Theme {
    slots: BTreeMap<String, Color>,
}

/// A theme file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ThemeError {
    /// File name or `built-in`.
    pub origin: String,
    /// What is wrong, naming the slot.
    pub message: String,
}

impl Theme {
    /// The default theme.
    pub fn default_theme() -> Theme {
        Theme::parse(DEFAULT_THEME, "themes/default.toml", None)
            .expect("the built-in theme is valid")
    }

    /// Parses `text`; with `base`, slots and palette entries it does not set come from `base`.
    pub fn parse(text: &str, origin: &str, base: Option<&Theme>) -> Result<Theme, ThemeError> {
        let err = |message: String| ThemeError {
            origin: origin.to_string(),
            message,
        };
        let file: ThemeFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let mut slots = base.map(|b| b.slots.clone()).unwrap_or_default();
        for (slot, value) in &file.slots {
            if !SLOTS.contains(&slot.as_str()) {
                return Err(err(format!(
                    "unknown slot `{slot}`; expected one of {}",
                    SLOTS.join(", ")
                )));
            }
            let colour_text = file.palette.get(value).map(String::as_str).unwrap_or(value);
            let colour = parse_colour(colour_text).ok_or_else(|| {
                err(format!(
                    "slot `{slot}` = \"{value}\": expected a palette name, \"#rrggbb\" or a terminal colour name"
                ))
            })?;
            slots.insert(slot.clone(), colour);
        }
        if let Some(missing) = SLOTS.iter().find(|s| !slots.contains_key(**s)) {
            return Err(err(format!("slot `{missing}` is not set")));
        }
        Ok(Theme { slots })
    }

    /// The colour of `slot` (a slot from [`SLOTS`]).
    pub fn colour(&self, slot: &str) -> Color {
        self.slots.get(slot).copied().unwrap_or(Color::Reset)
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
    fn the_default_theme_sets_every_slot() {
        let t = Theme::default_theme();
        assert_eq!(t.colour("status.critical"), Color::Rgb(0xff, 0x5f, 0x5f));
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
    }

    #[test]
    fn errors_name_the_slot() {
        let e = Theme::parse(
            "[slots]\n\"status.ok\" = \"chartreuse-ish\"\n",
            "mine.toml",
            Some(&Theme::default_theme()),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "mine.toml: slot `status.ok` = \"chartreuse-ish\": expected a palette name, \"#rrggbb\" or a terminal colour name"
        );
        let e =
            Theme::parse("[slots]\n\"status.okay\" = \"red\"\n", "mine.toml", None).unwrap_err();
        assert!(e.to_string().contains("unknown slot `status.okay`"), "{e}");
        let e = Theme::parse("[slots]\n\"status.ok\" = \"red\"\n", "mine.toml", None).unwrap_err();
        assert!(e.to_string().contains("slot `text` is not set"), "{e}");
    }
}

//! How many colours the terminal shows, and themes brought down to that many with their
//! meaning kept: ok stays green, warning yellow, critical red.
//!
//! [`ColourDepth::detect`] reads `COLORTERM` (`truecolor`/`24bit`: 24-bit colour) and then
//! `TERM` (`*-256color`: the xterm 256-colour palette; `*-direct`: 24-bit; anything else: the 16
//! ANSI colours); `NO_COLOR` or `--color never` turn colour off altogether
//! ([`ColourDepth::for_choice`]: every colour becomes the terminal's default, meaning stays in
//! the text, the symbols and bold/reverse). The console sets the depth once at start ([`set_current`]) and every theme
//! colour goes through [`degrade`] when a widget asks for it ([`super::theme::Theme::colour`]),
//! so `:theme` and `:reload` need nothing of their own.
//!
//! Down to 256 colours an RGB colour becomes the nearest entry of the 6×6×6 cube or the grey
//! ramp (by the "redmean" weighted distance, close enough to perceived difference for picking
//! among 240 candidates). Down to 16 a nearest-RGB match is not good enough: solarized's green
//! `#859900` is nearest to ANSI yellow, which would make ok look like warning. So a saturated
//! colour keeps its hue family (red, yellow, green, cyan, blue, magenta, bright when light)
//! and an unsaturated one becomes black, dark grey, grey or white by lightness. Named ANSI
//! colours are left alone everywhere; the user's terminal palette decides what they look like.

use std::sync::OnceLock;

use ratatui::style::Color;

/// What the terminal can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColourDepth {
    /// No colour at all (`NO_COLOR`, `--color never`): text, symbols and bold/reverse only.
    NoColour,
    /// The 16 ANSI colours.
    Ansi16,
    /// The xterm 256-colour palette.
    Ansi256,
    /// 24-bit RGB.
    TrueColour,
}

impl ColourDepth {
    /// The depth `COLORTERM` and `TERM` announce.
    pub fn detect(colorterm: Option<&str>, term: Option<&str>) -> ColourDepth {
        let colorterm = colorterm.unwrap_or("").to_ascii_lowercase();
        if colorterm == "truecolor" || colorterm == "24bit" {
            return ColourDepth::TrueColour;
        }
        let term = term.unwrap_or("").to_ascii_lowercase();
        if term.ends_with("-direct") {
            ColourDepth::TrueColour
        } else if term.contains("256color") {
            ColourDepth::Ansi256
        } else {
            ColourDepth::Ansi16
        }
    }

    /// The console's depth under the global `--color`: `never` is no colour; `auto` is no
    /// colour when `NO_COLOR` is set (non-empty), else what the terminal announces; `always`
    /// is what the terminal announces, `NO_COLOR` or not.
    pub fn for_choice(choice: crate::cli::color::ColorChoice) -> ColourDepth {
        use crate::cli::color::ColorChoice;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        match choice {
            ColorChoice::Never => ColourDepth::NoColour,
            ColorChoice::Auto if no_color => ColourDepth::NoColour,
            _ => ColourDepth::from_env(),
        }
    }

    /// [`ColourDepth::detect`] from this process's environment, then the terminal's terminfo
    /// entry (`colors`) for a `TERM` whose name says nothing (`screen`, `tmux`, `rxvt-unicode`):
    /// a depth is only ever raised by it, never lowered.
    pub fn from_env() -> ColourDepth {
        let var = |n: &str| std::env::var(n).ok();
        let named = ColourDepth::detect(var("COLORTERM").as_deref(), var("TERM").as_deref());
        let max_colors = terminfo::Database::from_env().ok().and_then(|db| {
            db.get::<terminfo::capability::MaxColors>()
                .map(|terminfo::capability::MaxColors(n)| n)
        });
        named.with_max_colors(max_colors)
    }

    /// This depth, raised to what terminfo's `colors` says the terminal shows.
    pub fn with_max_colors(self, max_colors: Option<i32>) -> ColourDepth {
        let said = match max_colors {
            Some(n) if n >= 1 << 24 => ColourDepth::TrueColour,
            Some(n) if n >= 256 => ColourDepth::Ansi256,
            _ => ColourDepth::Ansi16,
        };
        self.max(said)
    }
}

static CURRENT: OnceLock<ColourDepth> = OnceLock::new();

/// Sets the depth every theme colour is brought down to (once, by the console at start; a
/// second call is ignored).
pub fn set_current(depth: ColourDepth) {
    if CURRENT.set(depth).is_ok() {
        // crossterm drops every colour by itself when NO_COLOR is set; the depth decided here
        // (`--color always` included) is the one rule.
        crossterm::style::force_color_output(depth != ColourDepth::NoColour);
    }
}

/// The depth set at start; true colour when none was (render tests, headless commands).
pub fn current() -> ColourDepth {
    CURRENT.get().copied().unwrap_or(ColourDepth::TrueColour)
}

/// `c` as the terminal at `depth` can show it.
pub fn degrade(c: Color, depth: ColourDepth) -> Color {
    match (depth, c) {
        (ColourDepth::NoColour, _) => Color::Reset,
        (ColourDepth::TrueColour, _) => c,
        (ColourDepth::Ansi256, Color::Rgb(r, g, b)) => Color::Indexed(nearest_256(r, g, b)),
        (ColourDepth::Ansi16, Color::Rgb(r, g, b)) => ansi16(r, g, b),
        (ColourDepth::Ansi16, Color::Indexed(i)) if i >= 16 => {
            let (r, g, b) = rgb_of_256(i);
            ansi16(r, g, b)
        }
        _ => c,
    }
}

/// The RGB value of xterm palette entry `i` (16..=255).
fn rgb_of_256(i: u8) -> (u8, u8, u8) {
    const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    if i >= 232 {
        let v = 8 + 10 * (i - 232);
        return (v, v, v);
    }
    let i = i.saturating_sub(16);
    (
        LEVELS[(i / 36) as usize],
        LEVELS[((i / 6) % 6) as usize],
        LEVELS[(i % 6) as usize],
    )
}

/// The weighted ("redmean") squared distance between two colours.
fn distance(a: (u8, u8, u8), b: (u8, u8, u8)) -> u32 {
    let rmean = (a.0 as i32 + b.0 as i32) / 2;
    let dr = a.0 as i32 - b.0 as i32;
    let dg = a.1 as i32 - b.1 as i32;
    let db = a.2 as i32 - b.2 as i32;
    (((512 + rmean) * dr * dr) / 256 + 4 * dg * dg + ((767 - rmean) * db * db) / 256) as u32
}

/// The nearest entry of the cube or the grey ramp (16..=255; the first 16 are the user's own
/// palette and may look like anything).
fn nearest_256(r: u8, g: u8, b: u8) -> u8 {
    (16..=255u8)
        .min_by_key(|&i| distance((r, g, b), rgb_of_256(i)))
        .unwrap_or(16)
}

/// The ANSI colour of the same hue family (see the module doc).
fn ansi16(r: u8, g: u8, b: u8) -> Color {
    let (rf, gf, bf) = (r as f32 / 255.0, g as f32 / 255.0, b as f32 / 255.0);
    let max = rf.max(gf).max(bf);
    let min = rf.min(gf).min(bf);
    let lightness = (max + min) / 2.0;
    let chroma = max - min;
    if chroma < 0.15 {
        return match lightness {
            l if l < 0.2 => Color::Black,
            l if l < 0.45 => Color::DarkGray,
            l if l < 0.8 => Color::Gray,
            _ => Color::White,
        };
    }
    let hue = if max == rf {
        60.0 * (((gf - bf) / chroma).rem_euclid(6.0))
    } else if max == gf {
        60.0 * ((bf - rf) / chroma + 2.0)
    } else {
        60.0 * ((rf - gf) / chroma + 4.0)
    };
    // Light, or a full-intensity pure colour (amber `#ffaf00` has HSL lightness 0.5 but is
    // no dark yellow).
    let bright = lightness >= 0.55 || max > 0.9;
    // Orange (amber) counts as yellow: it is what themes use for warnings.
    let family = match hue {
        h if !(15.0..345.0).contains(&h) => 0,
        // 64, not 60: solarized's green (#859900) sits at 68 degrees.
        h if h < 64.0 => 1,
        h if h < 160.0 => 2,
        h if h < 200.0 => 3,
        h if h < 260.0 => 4,
        _ => 5,
    };
    match (family, bright) {
        (0, false) => Color::Red,
        (0, true) => Color::LightRed,
        (1, false) => Color::Yellow,
        (1, true) => Color::LightYellow,
        (2, false) => Color::Green,
        (2, true) => Color::LightGreen,
        (3, false) => Color::Cyan,
        (3, true) => Color::LightCyan,
        (4, false) => Color::Blue,
        (4, true) => Color::LightBlue,
        (_, false) => Color::Magenta,
        (_, true) => Color::LightMagenta,
    }
}

#[cfg(test)]
mod tests {
    use super::super::theme::{BUILTIN_THEMES, Theme};
    use super::*;

    #[test]
    fn detection_follows_colorterm_then_term() {
        use ColourDepth::*;
        assert_eq!(
            ColourDepth::detect(Some("truecolor"), Some("xterm")),
            TrueColour
        );
        assert_eq!(ColourDepth::detect(Some("24bit"), None), TrueColour);
        assert_eq!(ColourDepth::detect(None, Some("xterm-256color")), Ansi256);
        assert_eq!(
            ColourDepth::detect(Some(""), Some("tmux-256color")),
            Ansi256
        );
        assert_eq!(ColourDepth::detect(None, Some("xterm-direct")), TrueColour);
        assert_eq!(ColourDepth::detect(None, Some("xterm")), Ansi16);
        assert_eq!(ColourDepth::detect(None, Some("linux")), Ansi16);
        assert_eq!(ColourDepth::detect(None, None), Ansi16);
    }

    #[test]
    fn the_256_palette_round_trips_and_finds_near_entries() {
        for i in 16..=255u8 {
            let (r, g, b) = rgb_of_256(i);
            assert_eq!(rgb_of_256(nearest_256(r, g, b)), (r, g, b), "entry {i}");
        }
        assert_eq!(nearest_256(0xff, 0x5f, 0x5f), 203);
        assert_eq!(nearest_256(0x12, 0x12, 0x12), 233);
    }

    #[test]
    fn sixteen_colours_keep_the_hue_family() {
        assert_eq!(ansi16(0x85, 0x99, 0x00), Color::Green, "solarized green");
        assert_eq!(ansi16(0xb5, 0x89, 0x00), Color::Yellow, "solarized yellow");
        assert_eq!(ansi16(0xdc, 0x32, 0x2f), Color::Red, "solarized red");
        assert_eq!(ansi16(0xff, 0xaf, 0x00), Color::LightYellow, "amber");
        assert_eq!(ansi16(0x3a, 0x3a, 0x3a), Color::DarkGray);
        assert_eq!(ansi16(0xee, 0xee, 0xee), Color::White);
    }

    /// Every shipped theme: the severity slots that differ in 24-bit colour still differ, and
    /// keep their meaning (ok is green, warning yellow, critical red) in 256 and 16 colours;
    /// no RGB colour is left below true colour.
    #[test]
    fn every_shipped_theme_keeps_its_severities_apart_in_256_and_16_colours() {
        let family16 = |c: Color| match c {
            Color::Red | Color::LightRed => "red",
            Color::Yellow | Color::LightYellow => "yellow",
            Color::Green | Color::LightGreen => "green",
            _ => "other",
        };
        for (name, _) in BUILTIN_THEMES {
            let t = Theme::builtin(name).unwrap();
            let slots = ["status.ok", "status.warning", "status.critical"];
            let full: Vec<Color> = slots.iter().map(|s| t.colour(s)).collect();
            for depth in [ColourDepth::Ansi256, ColourDepth::Ansi16] {
                let low: Vec<Color> = full.iter().map(|c| degrade(*c, depth)).collect();
                for i in 0..3 {
                    for j in i + 1..3 {
                        if full[i] != full[j] {
                            assert_ne!(
                                low[i], low[j],
                                "{name} at {depth:?}: {} and {} merge",
                                slots[i], slots[j]
                            );
                        }
                    }
                }
                if depth == ColourDepth::Ansi16 && *name != "monochrome" {
                    assert_eq!(
                        low.iter().map(|c| family16(*c)).collect::<Vec<_>>(),
                        ["green", "yellow", "red"],
                        "{name}: {low:?}"
                    );
                }
                for slot in super::super::theme::SLOTS {
                    let c = degrade(t.colour(slot), depth);
                    assert!(!matches!(c, Color::Rgb(..)), "{name} {slot} at {depth:?}");
                }
            }
        }
    }

    #[test]
    fn no_colour_turns_every_colour_into_the_terminal_default() {
        use ratatui::style::Color;
        for c in [Color::Rgb(95, 215, 95), Color::Indexed(196), Color::Red] {
            assert_eq!(degrade(c, ColourDepth::NoColour), Color::Reset);
        }
        assert_eq!(
            ColourDepth::for_choice(crate::cli::color::ColorChoice::Never),
            ColourDepth::NoColour
        );
    }

    #[test]
    fn terminfo_colors_raise_a_depth_the_name_did_not_give() {
        assert_eq!(
            ColourDepth::Ansi16.with_max_colors(Some(256)),
            ColourDepth::Ansi256
        );
        assert_eq!(
            ColourDepth::Ansi16.with_max_colors(Some(16_777_216)),
            ColourDepth::TrueColour
        );
        assert_eq!(
            ColourDepth::Ansi256.with_max_colors(Some(8)),
            ColourDepth::Ansi256
        );
        assert_eq!(
            ColourDepth::Ansi16.with_max_colors(None),
            ColourDepth::Ansi16
        );
    }
}

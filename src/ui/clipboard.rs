//! `y`: the selected row's text to the clipboard over OSC 52, the escape sequence terminals
//! (xterm, kitty, WezTerm, iTerm2, Windows Terminal) and tmux (`set-clipboard on`) turn into a
//! clipboard write, so copying works over SSH and inside tmux without a clipboard tool.
//!
//! What is copied: a pane's own text for the selected row where it has one (the Alerts pane:
//! `HOST RULE SUBJECT: MESSAGE`; the Logs pane: the log's newest error or line;
//! [`super::panes::PaneContent::text_at`]), else the name of the row's host (fleet table,
//! services, disks, …). The text is bounded ([`MAX_YANK`]) and
//! control characters are dropped, so a copied log line cannot smuggle escapes into the
//! sequence. The event loop writes the bytes through the terminal backend, between frames.

use base64::Engine;

use super::{Action, App};

/// The most text `y` copies (bytes, before encoding): terminals cap OSC 52 (xterm ~100 kB,
/// tmux's input buffer similar), and a row is never near this.
pub const MAX_YANK: usize = 64 * 1024;

/// The OSC 52 sequence that puts `text` on the clipboard (`c`), terminated by BEL (which
/// tmux and every terminal above accept; ST is not understood by some).
pub fn osc52(text: &str) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    format!("\x1b]52;c;{encoded}\x07").into_bytes()
}

/// `text` without control characters (tabs become spaces), cut at [`MAX_YANK`] bytes on a
/// character boundary.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_YANK));
    for ch in text.chars() {
        let ch = if ch == '\t' { ' ' } else { ch };
        if ch.is_control() {
            continue;
        }
        if out.len() + ch.len_utf8() > MAX_YANK {
            break;
        }
        out.push(ch);
    }
    out
}

impl App {
    /// Takes the selected row's text for the event loop to copy (`Action::Yank`).
    pub(super) fn yank(&mut self) -> Option<Action> {
        self.ensure_model();
        let i = self.selected_row();
        let model = self.model.as_ref().expect("ensured");
        let text = model.pane.as_ref().and_then(|(_, p)| {
            p.text_at(model, i).or_else(|| {
                p.host_at(model, i)
                    .and_then(|h| self.fleet.hosts.get(h))
                    .map(|h| h.name.clone())
            })
        });
        let text = text.or_else(|| {
            self.host
                .and_then(|h| self.fleet.hosts.get(h))
                .map(|h| h.name.clone())
        });
        match text.map(|t| clean(&t)).filter(|t| !t.is_empty()) {
            Some(t) => {
                let shown: String = t.chars().take(40).collect();
                let more = if shown.len() < t.len() { "…" } else { "" };
                self.notify(format!("copied: {shown}{more}"), false);
                self.yank_text = Some(t);
                Some(Action::Yank)
            }
            None => {
                self.notify("nothing to copy here", true);
                None
            }
        }
    }

    /// The text `y` copied, for the event loop to write as OSC 52; asking clears it.
    pub fn take_yank(&mut self) -> Option<String> {
        self.yank_text.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_is_base64_between_the_introducer_and_bel() {
        assert_eq!(osc52("web-1"), b"\x1b]52;c;d2ViLTE=\x07");
    }

    #[test]
    fn clean_drops_controls_and_bounds_the_size() {
        assert_eq!(clean("a\tb\x1b[31mc\x07"), "a b[31mc");
        let long = "é".repeat(MAX_YANK);
        let c = clean(&long);
        assert!(c.len() <= MAX_YANK && c.len() > MAX_YANK - 2);
        assert!(c.chars().all(|ch| ch == 'é'));
    }
}

//! Questions on the controlling terminal for headless commands: the passphrase of an encrypted
//! identity file ([`TtyPrompt`], what `status` and `run` give the SSH transport) and any hidden
//! line ([`read_hidden_line`], secret runbook inputs). The console asks in a dialog instead
//! (`ui::prompt`). The transport only sees [`PassphrasePrompt`]; a passphrase never reaches logs.
//!
//! Echo is turned off with termios directly (no terminal UI library outside `src/ui`); the
//! terminal's previous mode is restored on every path out, including a panic.

use std::io::{IsTerminal, Read};
use std::path::Path;

use futures::future::BoxFuture;
use rustix::termios::{self, OptionalActions, Termios};

use super::out;
use crate::transport::ssh::PassphrasePrompt;

/// Asks on the controlling terminal with echo off (headless commands run from a shell).
/// Without a terminal it declines, and the key must come through the agent.
pub struct TtyPrompt;

impl PassphrasePrompt for TtyPrompt {
    fn ask(&self, key: &Path, attempt: u32) -> BoxFuture<'static, Option<String>> {
        let key = key.to_path_buf();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || read_hidden(&key, attempt))
                .await
                .ok()
                .flatten()
        })
    }
}

fn read_hidden(key: &Path, attempt: u32) -> Option<String> {
    let retry = if attempt > 1 {
        "wrong passphrase; "
    } else {
        ""
    };
    read_hidden_line(&format!("{retry}passphrase for {}: ", key.display()))
}

/// Puts the terminal back as it was when dropped.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enable() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        // Raw, not just echo off: the answer ends at Enter, and Esc or Ctrl-C cancel it, which
        // needs every byte as it is typed and no signal for Ctrl-C.
        raw.make_raw();
        termios::tcsetattr(&stdin, OptionalActions::Now, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

const CTRL_C: u8 = 0x03;
const ESC: u8 = 0x1b;
const BACKSPACE: u8 = 0x7f;
const CTRL_H: u8 = 0x08;

/// Reads one line from the terminal with echo off, after printing `prompt` on stderr; `None`
/// without a terminal, on Esc or on Ctrl-C.
pub fn read_hidden_line(prompt: &str) -> Option<String> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    let mut err = out::stderr();
    err.write_str(prompt);
    err.flush_now();
    let answer = {
        let _raw = RawMode::enable()?;
        edit_line(std::io::stdin().lock().bytes().map_while(Result::ok))
    };
    err.write_str("\n");
    answer
}

/// The line typed as `keys`: Enter ends it, Esc (or a key that sends an escape sequence) and
/// Ctrl-C cancel it, Backspace removes the last character, other control keys are ignored.
fn edit_line(keys: impl Iterator<Item = u8>) -> Option<String> {
    let mut text: Vec<u8> = Vec::new();
    for b in keys {
        match b {
            b'\r' | b'\n' => return Some(String::from_utf8_lossy(&text).into_owned()),
            ESC | CTRL_C => return None,
            BACKSPACE | CTRL_H => {
                // One character, not one byte: drop UTF-8 continuation bytes, then the lead.
                while text.pop().is_some_and(|c| c & 0b1100_0000 == 0b1000_0000) {}
            }
            c if c < 0x20 => {}
            c => text.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::edit_line;

    fn typed(keys: &[u8]) -> Option<String> {
        edit_line(keys.iter().copied())
    }

    #[test]
    fn enter_ends_the_line_and_backspace_removes_whole_characters() {
        assert_eq!(typed(b"secret\r").as_deref(), Some("secret"));
        assert_eq!(typed(b"ab\x7fc\n").as_deref(), Some("ac"));
        assert_eq!(typed("pä\x7fa\r".as_bytes()).as_deref(), Some("pa"));
        assert_eq!(typed(b"\x7f\x7fx\r").as_deref(), Some("x"));
        assert_eq!(
            typed(b"a\x15b\r").as_deref(),
            Some("ab"),
            "Ctrl-U is ignored"
        );
    }

    #[test]
    fn esc_ctrl_c_and_end_of_input_cancel() {
        assert_eq!(typed(b"abc\x1b"), None);
        assert_eq!(typed(b"abc\x03\r"), None);
        assert_eq!(typed(b"abc"), None);
    }
}

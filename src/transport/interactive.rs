//! Interactive sessions: what a shell on a host is given and what it reports when it ends.
//!
//! The SSH side (a PTY channel on the host's one verified connection) lives in
//! `ssh/pty.rs`; the local side (the user's `$SHELL` on this terminal) in [`super::local`]. Both
//! are plain byte pumps: they never touch the operator's terminal themselves. Whoever calls them
//! (`crate::shell`) owns the terminal — raw mode, reading keys, window-size changes — and hands
//! them over as channels, so the pump is the same for the CLI, the console and the tests.

use tokio::sync::mpsc;

/// A terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PtySize {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// What the remote side of a shell gets from the operator.
#[derive(Debug)]
pub struct ShellIo {
    /// `TERM` for the remote pty (the operator's own).
    pub term: String,
    /// The window size when the shell starts.
    pub size: PtySize,
    /// Keys typed, as raw bytes. When it closes, the session ends (EOF, then close): the
    /// terminal is gone, or fleetdeck is stopping.
    pub input: mpsc::Receiver<Vec<u8>>,
    /// Window-size changes, passed on as they come.
    pub resize: mpsc::UnboundedReceiver<PtySize>,
}

/// How a shell ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellEnd {
    /// The shell exited with this status.
    Exited(u32),
    /// A signal killed it (the signal's name, `KILL`, `HUP`, …).
    Signalled(String),
    /// The session closed without saying how the shell ended (no status sent).
    Closed,
    /// The connection dropped under the shell (the reason).
    Lost(String),
}

impl ShellEnd {
    /// The audit `result` spelling: `exit 0`, `signal HUP`, `closed`, `error: connection lost: …`.
    pub fn result_text(&self) -> String {
        match self {
            ShellEnd::Exited(n) => format!("exit {n}"),
            ShellEnd::Signalled(s) => format!("signal {s}"),
            ShellEnd::Closed => "closed".to_string(),
            ShellEnd::Lost(why) => format!("error: {why}"),
        }
    }

    /// The exit status a command that ran this shell should return: the shell's own, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            ShellEnd::Exited(n) => u8::try_from(*n & 0xff).unwrap_or(1),
            _ => 1,
        }
    }
}

/// What a shell session did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellOutcome {
    /// How it ended.
    pub end: ShellEnd,
    /// Bytes typed by the operator and sent to the host; `None` when the shell read the
    /// terminal itself (the local transport).
    pub bytes_in: Option<u64>,
    /// Bytes the host sent back to the terminal; `None` as for `bytes_in`.
    pub bytes_out: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_is_spelled_for_the_audit_log_and_gives_an_exit_code() {
        let cases = [
            (ShellEnd::Exited(0), "exit 0", 0),
            (ShellEnd::Exited(7), "exit 7", 7),
            // A status past 255 keeps its low byte, as a shell's `$?` would.
            (ShellEnd::Exited(258), "exit 258", 2),
            (ShellEnd::Signalled("HUP".into()), "signal HUP", 1),
            (ShellEnd::Closed, "closed", 1),
            (
                ShellEnd::Lost("connection to 10.0.0.1:22 lost".into()),
                "error: connection to 10.0.0.1:22 lost",
                1,
            ),
        ];
        for (end, text, code) in cases {
            assert_eq!(end.result_text(), text);
            assert_eq!(end.exit_code(), code, "{end:?}");
        }
    }
}

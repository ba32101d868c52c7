//! Passphrase prompts for encrypted identity files: a dialog inside the console, or a prompt on
//! the controlling terminal for headless commands. The transport only sees
//! [`PassphrasePrompt`]; the passphrase itself never reaches logs.

use std::io::Write;
use std::path::{Path, PathBuf};

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use crate::transport::ssh::PassphrasePrompt;

/// A request for the console to ask the operator.
pub struct PassphraseRequest {
    /// The encrypted key.
    pub key: PathBuf,
    /// 1 for the first ask, more after a wrong passphrase.
    pub attempt: u32,
    /// Where the answer goes; `None` = cancelled.
    pub reply: oneshot::Sender<Option<String>>,
}

/// Sends passphrase requests to the console's event loop.
pub struct TuiPrompt {
    tx: mpsc::UnboundedSender<PassphraseRequest>,
}

impl TuiPrompt {
    /// A prompt and the receiver the event loop listens on.
    pub fn new() -> (TuiPrompt, mpsc::UnboundedReceiver<PassphraseRequest>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (TuiPrompt { tx }, rx)
    }
}

impl PassphrasePrompt for TuiPrompt {
    fn ask(&self, key: &Path, attempt: u32) -> BoxFuture<'static, Option<String>> {
        let (reply, answer) = oneshot::channel();
        let sent = self.tx.send(PassphraseRequest {
            key: key.to_path_buf(),
            attempt,
            reply,
        });
        Box::pin(async move {
            sent.ok()?;
            answer.await.ok().flatten()
        })
    }
}

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

/// Reads one line from the terminal with echo off, after printing `prompt` on stderr; `None`
/// without a terminal, on Esc or on Ctrl-C.
pub fn read_hidden_line(prompt: &str) -> Option<String> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return None;
    }
    eprint!("{prompt}");
    std::io::stderr().flush().ok();
    crossterm::terminal::enable_raw_mode().ok()?;
    let mut text = String::new();
    let answer = loop {
        match event::read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => match k.code {
                KeyCode::Enter => break Some(std::mem::take(&mut text)),
                KeyCode::Esc => break None,
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => break None,
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Char(c) => text.push(c),
                _ => {}
            },
            Ok(_) => {}
            Err(_) => break None,
        }
    };
    crossterm::terminal::disable_raw_mode().ok();
    eprintln!();
    answer
}

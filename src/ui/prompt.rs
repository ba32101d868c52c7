//! The console's passphrase prompt for encrypted identity files: the transport's request becomes
//! a dialog in the event loop (headless commands ask on the terminal instead, `cli::prompt`).
//! The transport only sees [`PassphrasePrompt`]; the passphrase itself never reaches logs.

use std::path::{Path, PathBuf};

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

//! An interactive shell on a host: a PTY session channel on the host's existing, verified
//! connection (the same one the poller and runbooks use, so a bastion route or certificate
//! that works for them works here), with window-size changes passed on.
//!
//! This is only the pump between [`ShellIo`] and the channel. It never touches the operator's
//! terminal: `crate::shell` puts the terminal in raw mode, reads keys and window changes and
//! writes what this returns through `output`. The shell holds one of the connection's channel
//! permits for its whole life, so it counts against `MaxSessions` like any other channel.

use std::time::Duration;

use russh::{ChannelMsg, Disconnect, Sig};

use super::{SshHost, open_session_with_retry};
use crate::transport::TransportError;
use crate::transport::interactive::{ShellEnd, ShellIo, ShellOutcome};

impl SshHost {
    /// Opens a shell with a pty (`io.term`, `io.size`) and pumps bytes until the shell exits or
    /// the connection drops. Everything the host sends goes to `output` in order, as it comes.
    ///
    /// An error means no shell ran (no connection, the channel, pty or shell request refused);
    /// once the shell has started, its end — including a lost connection — is the outcome.
    pub async fn shell(
        &self,
        io: ShellIo,
        output: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<ShellOutcome, TransportError> {
        let ShellIo {
            term,
            size,
            mut input,
            mut resize,
        } = io;
        let handle = self.handle().await?;
        let _permit = self.permit().await?;
        let channel = match open_session_with_retry(&handle).await {
            Ok(c) => c,
            Err(e) => return Err(self.channel_error(&handle, e).await),
        };
        let (mut rx, tx) = channel.split();
        let refused = |what: &str| TransportError::ChannelRefused(format!("{what} refused"));
        // Output that arrives before the shell request's answer (sshd answers first, but
        // nothing in the protocol promises it) is kept and shown first, never dropped.
        let mut early = Vec::new();
        let start = async {
            tx.request_pty(
                true,
                &term,
                u32::from(size.cols),
                u32::from(size.rows),
                0,
                0,
                &[],
            )
            .await?;
            if !reply(&mut rx, &mut early).await {
                return Ok(Err(refused("pty request")));
            }
            tx.request_shell(true).await?;
            if !reply(&mut rx, &mut early).await {
                return Ok(Err(refused("shell request")));
            }
            Ok::<_, russh::Error>(Ok(()))
        };
        match start.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(self.channel_error(&handle, e).await),
        }

        let mut bytes_in = 0u64;
        let mut bytes_out = early.len() as u64;
        if !early.is_empty() {
            output(&early);
        }
        // Keys and window changes go out on their own future, so a host slow to take input
        // never stops us reading what it prints (a stalled reader would stall the whole
        // connection, the poller's channels included).
        let send = async {
            loop {
                // A window change goes before keys typed after it.
                let sent = tokio::select! {
                    biased;
                    Some(size) = resize.recv() => {
                        tx.window_change(u32::from(size.cols), u32::from(size.rows), 0, 0)
                            .await
                    }
                    keys = input.recv() => match keys {
                        Some(keys) => {
                            bytes_in += keys.len() as u64;
                            tx.data_bytes(keys).await
                        }
                        // No more keys: the terminal is gone, or fleetdeck is stopping. An
                        // interactive session without its terminal is over.
                        None => return SendEnd::InputClosed,
                    },
                };
                if let Err(e) = sent {
                    return SendEnd::Failed(e);
                }
            }
        };
        let judge = |(status, closed): (Option<ShellEnd>, bool)| match (status, closed) {
            (Some(end), _) => end,
            (None, true) => ShellEnd::Closed,
            // The channel's messages stopped without sshd closing it: the connection died.
            (None, false) => ShellEnd::Lost(format!(
                "connection to {}:{} lost",
                self.target.address, self.target.port
            )),
        };
        // In a block of its own: the pinned reader borrows the byte counter until it ends.
        let ended = {
            let receive = async {
                let mut status = None;
                let mut closed = false;
                while let Some(msg) = rx.wait().await {
                    match msg {
                        ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } => {
                            bytes_out += data.len() as u64;
                            output(&data);
                        }
                        ChannelMsg::ExitStatus { exit_status } => {
                            status = Some(ShellEnd::Exited(exit_status))
                        }
                        ChannelMsg::ExitSignal { signal_name, .. } => {
                            status = Some(ShellEnd::Signalled(signal_text(&signal_name)))
                        }
                        ChannelMsg::Close => {
                            closed = true;
                            break;
                        }
                        _ => {}
                    }
                }
                (status, closed)
            };
            tokio::pin!(receive);
            tokio::select! {
                ended = &mut receive => judge(ended),
                sent = send => match sent {
                SendEnd::Failed(e) => {
                    // Keys typed just after `exit` meet a channel that is closing: that is not a
                    // lost connection. What the host says last decides, if it says it soon.
                    match tokio::time::timeout(SEND_FAILED_GRACE, &mut receive).await {
                        Ok(ended) => judge(ended),
                        Err(_) => ShellEnd::Lost(format!("connection lost: {e}")),
                    }
                }
                SendEnd::InputClosed => {
                    // EOF and close; OpenSSH keeps a pty session (and its shell) open after
                    // both, so unless the shell ends on its own at once, the connection is
                    // closed: that is what hangs the remote shell up, as when ssh dies.
                    let _ = tx.eof().await;
                    let _ = tx.close().await;
                    match tokio::time::timeout(HANG_UP_GRACE, &mut receive).await {
                        Ok((Some(end), _)) => end,
                        _ => {
                            self.forget(&handle).await;
                            let _ = handle
                                .disconnect(
                                    Disconnect::ByApplication,
                                    "fleetdeck: the shell's terminal is gone",
                                    "en",
                                )
                                .await;
                            ShellEnd::Closed
                        }
                    }
                }
                },
            }
        };
        if let ShellEnd::Lost(why) = &ended {
            self.forget(&handle).await;
            tracing::warn!(host = %self.target.name, error = %why, "shell ended by a lost connection");
        } else {
            let _ = tx.close().await;
        }
        Ok(ShellOutcome {
            end: ended,
            bytes_in: Some(bytes_in),
            bytes_out: Some(bytes_out),
        })
    }
}

/// How long the end of a shell whose keys could not be sent is waited for before the
/// connection is called lost.
const SEND_FAILED_GRACE: Duration = Duration::from_secs(5);

/// How long a shell whose terminal went away may take to end on its own before its
/// connection is closed to hang it up.
const HANG_UP_GRACE: Duration = Duration::from_secs(1);

/// Why the sending side of a shell stopped.
enum SendEnd {
    /// A key or a window change could not be sent.
    Failed(russh::Error),
    /// The terminal side closed the keys' channel.
    InputClosed,
}

/// Waits for the answer to a request sent with `want_reply`: true for success. Output that
/// comes first is kept in `early`.
async fn reply(rx: &mut russh::ChannelReadHalf, early: &mut Vec<u8>) -> bool {
    while let Some(msg) = rx.wait().await {
        match msg {
            ChannelMsg::Success => return true,
            ChannelMsg::Failure | ChannelMsg::Close => return false,
            ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } => {
                early.extend_from_slice(&data)
            }
            _ => {}
        }
    }
    false
}

/// A signal's name as sshd sends it (`HUP`, `KILL`, …).
fn signal_text(sig: &Sig) -> String {
    match sig {
        Sig::Custom(name) => name.clone(),
        other => format!("{other:?}"),
    }
}

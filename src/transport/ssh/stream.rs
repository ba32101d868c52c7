//! [`Transport::stream`](crate::transport::Transport::stream) over SSH: one exec channel read
//! incrementally, holding one of the connection's channel permits ([`super::MAX_CHANNELS`])
//! for as long as it is open, so follows and probes share sshd's `MaxSessions` honestly.
//!
//! The channel's stdin is never closed by us: the guard around the command
//! ([`crate::transport::stream::guarded`]) reads it and stops the command when sshd closes it,
//! which happens when the channel or the connection goes. Stopping sends `KILL` first (OpenSSH
//! `killpg`s a session without a terminal), then closes the channel.

use russh::{ChannelMsg, Sig};

use super::{SshHost, open_session_with_retry};
use crate::observation::UnreachableKind;
use crate::transport::TransportError;
use crate::transport::stream::{
    LineSplitter, LineStream, StreamEvent, StreamRequest, guarded, send_all,
};

impl SshHost {
    /// Starts `req.command` on an exec channel of this host's connection and streams it.
    pub async fn stream(&self, req: &StreamRequest) -> Result<LineStream, TransportError> {
        let handle = self.handle().await?;
        let opening = async {
            let permit = self.permit().await?;
            match open_session_with_retry(&handle).await {
                Ok(channel) => Ok((permit, channel)),
                Err(e) => Err(self.channel_error(&handle, e).await),
            }
        };
        let (permit, channel) = match tokio::time::timeout(req.open_timeout, opening).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(TransportError::unreachable(
                    UnreachableKind::Timeout,
                    format!(
                        "no channel to {}:{} within {} for a follow",
                        self.target.address,
                        self.target.port,
                        humantime::format_duration(req.open_timeout)
                    ),
                ));
            }
        };
        if let Err(e) = channel.exec(true, guarded(&req.command).as_bytes()).await {
            return Err(self.channel_error(&handle, e).await);
        }
        let host = self.target.name.clone();
        Ok(LineStream::spawn(move |tx| async move {
            let mut channel = channel;
            let (mut out, mut err) = (LineSplitter::default(), LineSplitter::default());
            let mut status = None;
            let mut closed = false;
            let stopped = loop {
                tokio::select! {
                    () = tx.closed() => break true,
                    msg = channel.wait() => {
                        let events: Vec<StreamEvent> = match msg {
                            Some(ChannelMsg::Data { data }) => {
                                out.push(&data).into_iter().map(StreamEvent::Line).collect()
                            }
                            Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                                err.push(&data).into_iter().map(StreamEvent::Stderr).collect()
                            }
                            Some(ChannelMsg::ExitStatus { exit_status }) => {
                                status = Some(exit_status);
                                Vec::new()
                            }
                            Some(ChannelMsg::Close) => {
                                closed = true;
                                Vec::new()
                            }
                            Some(_) => Vec::new(),
                            None => break false,
                        };
                        if !send_all(&tx, events).await {
                            break true;
                        }
                    }
                }
            };
            if stopped {
                // Kill the session's processes, then close; the permit goes with this task.
                let _ = channel.signal(Sig::KILL).await;
                let _ = channel.close().await;
                tracing::debug!(host = %host, "follow stopped");
                return;
            }
            let rest = out
                .finish()
                .map(StreamEvent::Line)
                .into_iter()
                .chain(err.finish().map(StreamEvent::Stderr));
            let end = if closed || status.is_some() {
                StreamEvent::Ended(status)
            } else {
                StreamEvent::Lost(format!("connection to {host} lost while following"))
            };
            let _ = send_all(&tx, rest.chain([end])).await;
            drop(permit);
        }))
    }
}

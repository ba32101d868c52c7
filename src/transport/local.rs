//! The local transport: this machine, no SSH.
//!
//! Runs commands with `sh -c` under the same timeout and output cap as the SSH transport and
//! dials TCP directly, so the embedded default fleet (this machine) runs exactly the probes a
//! remote host would. Its interactive shell ([`LocalHost::shell`]) is the user's `$SHELL` on the
//! operator's own terminal: no pty of ours and no pump, so window changes need nothing.

use std::process::Stdio;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use super::interactive::{ShellEnd, ShellOutcome};
use super::{BoxStream, ExecOutput, ExecRequest, TransportError};

/// This machine as a host.
#[derive(Debug, Clone, Default)]
pub struct LocalHost;

impl LocalHost {
    /// A local transport.
    pub fn new() -> Self {
        LocalHost
    }

    /// Runs `req.command` with `sh -c`, feeding `req.stdin`.
    pub async fn exec(&self, req: &ExecRequest) -> Result<ExecOutput, TransportError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&req.command)
            .stdin(if req.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A timed-out probe must not outlive us as an orphan.
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TransportError::Other(format!("cannot start sh: {e}")))?;

        let stdin = child.stdin.take();
        let input = req.stdin.clone();
        let feed = async move {
            if let (Some(mut pipe), Some(bytes)) = (stdin, input) {
                // A command that exits without reading its stdin closes the pipe: not an error.
                let _ = pipe.write_all(&bytes).await;
                let _ = pipe.shutdown().await;
            }
        };
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let max = req.max_output;

        let run = async {
            let ((), (out, out_dropped), (err, err_dropped)) =
                tokio::join!(feed, read_capped(stdout, max), read_capped(stderr, max));
            let status = child.wait().await;
            (status, out, err, out_dropped + err_dropped)
        };
        match tokio::time::timeout(req.timeout, run).await {
            Ok((status, stdout, stderr, dropped_bytes)) => {
                let status = status
                    .map_err(|e| TransportError::Other(format!("wait for sh: {e}")))?
                    .code()
                    .map(|c| c as u32);
                Ok(ExecOutput {
                    status,
                    stdout,
                    stderr,
                    dropped_bytes,
                })
            }
            Err(_) => Err(TransportError::Timeout(req.timeout)),
        }
    }

    /// Runs `$SHELL` (else `/bin/sh`) on this terminal, which the caller has left in cooked
    /// mode, and waits for it. Bytes are not counted: the shell reads the terminal itself.
    pub async fn shell(&self) -> Result<ShellOutcome, TransportError> {
        use std::os::unix::process::ExitStatusExt;
        use tokio::signal::unix::{SignalKind, signal};
        let program = std::env::var_os("SHELL")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/bin/sh".into());
        // A shell without job control shares our process group, so a Ctrl-C at its prompt
        // reaches us too: catch SIGINT and SIGQUIT while it runs, so they end only what the
        // shell runs, never fleetdeck.
        let mut interrupt = signal(SignalKind::interrupt()).ok();
        let mut quit = signal(SignalKind::quit()).ok();
        let mut child = Command::new(&program)
            .stdin(Stdio::inherit())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                TransportError::Other(format!(
                    "cannot start {}: {e}",
                    std::path::Path::new(&program).display()
                ))
            })?;
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                Some(()) = async { interrupt.as_mut()?.recv().await } => {}
                Some(()) = async { quit.as_mut()?.recv().await } => {}
            }
        }
        .map_err(|e| TransportError::Other(format!("wait for the shell: {e}")))?;
        let end = match (status.code(), status.signal()) {
            (Some(code), _) => ShellEnd::Exited(code as u32),
            (None, Some(sig)) => ShellEnd::Signalled(sig.to_string()),
            (None, None) => ShellEnd::Closed,
        };
        Ok(ShellOutcome {
            end,
            bytes_in: None,
            bytes_out: None,
        })
    }

    /// Connects to `address:port` on this machine.
    pub async fn dial(&self, address: &str, port: u16) -> Result<BoxStream, TransportError> {
        let stream = TcpStream::connect((address, port))
            .await
            .map_err(|e| TransportError::ChannelRefused(format!("{address}:{port}: {e}")))?;
        stream.set_nodelay(true).ok();
        Ok(Box::pin(stream))
    }
}

/// Reads a pipe to the end, keeping at most `max` bytes and counting the rest.
async fn read_capped<R: AsyncRead + Unpin>(mut reader: R, max: usize) -> (Vec<u8>, u64) {
    let mut kept = Vec::new();
    let mut dropped = 0u64;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = max.saturating_sub(kept.len());
                let take = room.min(n);
                kept.extend_from_slice(&buf[..take]);
                dropped += (n - take) as u64;
            }
        }
    }
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn req(command: &str) -> ExecRequest {
        ExecRequest {
            command: command.into(),
            stdin: None,
            timeout: Duration::from_secs(10),
            max_output: 1024,
        }
    }

    #[tokio::test]
    async fn runs_a_command_and_reports_its_status() {
        let out = LocalHost::new()
            .exec(&req("echo hi; echo err >&2; exit 3"))
            .await
            .unwrap();
        assert_eq!(out.status, Some(3));
        assert_eq!(out.stdout, b"hi\n");
        assert_eq!(out.stderr, b"err\n");
        assert!(!out.truncated());
    }

    #[tokio::test]
    async fn feeds_stdin_to_the_command() {
        let mut r = req("sh -s");
        r.stdin = Some(b"echo from-stdin\n".to_vec());
        let out = LocalHost::new().exec(&r).await.unwrap();
        assert_eq!(out.stdout, b"from-stdin\n");
    }

    #[tokio::test]
    async fn caps_output_and_reports_the_dropped_bytes() {
        let out = LocalHost::new()
            .exec(&req("head -c 5000 /dev/zero"))
            .await
            .unwrap();
        assert_eq!(out.stdout.len(), 1024);
        assert_eq!(out.dropped_bytes, 5000 - 1024);
        assert!(out.truncated());
    }

    #[tokio::test]
    async fn a_hung_command_times_out() {
        let mut r = req("sleep 30");
        r.timeout = Duration::from_millis(200);
        let err = LocalHost::new().exec(&r).await.unwrap_err();
        assert!(matches!(err, TransportError::Timeout(_)), "{err:?}");
    }
}

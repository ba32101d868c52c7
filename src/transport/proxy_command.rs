//! `ProxyCommand`: the SSH stream carried by a command's stdin and stdout, as OpenSSH does it.
//!
//! The command (tokens already expanded by [`super::route`]) runs under `sh -c`; its stdout is
//! what we read, its stdin what we write. Its stderr is not part of the stream: each line goes
//! to the log under the host's name, and the last one is kept so a connection that fails can
//! say what the command said. The child is killed when the stream is dropped, which russh does
//! when the connection ends, so a command never outlives its connection.

use std::io;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex as StdMutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The last line the command wrote to stderr, if any.
pub type LastStderr = Arc<StdMutex<Option<String>>>;

/// A running `ProxyCommand` as a byte stream.
pub struct ProxyStream {
    stdout: ChildStdout,
    /// `None` once shut down: closing the pipe is how the command sees end of input.
    stdin: Option<ChildStdin>,
    /// Held so the command dies with the stream (`kill_on_drop`).
    _child: Child,
}

/// Starts `sh -c COMMAND` for `host` (the name is for the log).
pub fn spawn(command: &str, host: &str) -> io::Result<(ProxyStream, LastStderr)> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| io::Error::other("no stdin pipe"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no stdout pipe"))?;
    let last: LastStderr = Arc::new(StdMutex::new(None));
    if let Some(stderr) = child.stderr.take() {
        let last = last.clone();
        let host = host.to_owned();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::warn!(host = %host, line = %line, "ProxyCommand stderr");
                *last.lock().expect("stderr lock") = Some(line);
            }
        });
    }
    Ok((
        ProxyStream {
            stdout,
            stdin: Some(stdin),
            _child: child,
        },
        last,
    ))
}

impl AsyncRead for ProxyStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for ProxyStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.stdin.as_mut() {
            Some(stdin) => Pin::new(stdin).poll_write(cx, buf),
            None => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stdin.as_mut() {
            Some(stdin) => Pin::new(stdin).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A pipe has no half-close of its own: dropping our end is the EOF.
        if let Some(stdin) = self.stdin.as_mut() {
            std::task::ready!(Pin::new(stdin).poll_flush(cx))?;
        }
        self.stdin = None;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn stdin_and_stdout_are_the_stream_and_stderr_is_kept_apart() {
        let (mut s, last) = spawn("echo oops >&2; cat", "h").unwrap();
        s.write_all(b"ping").await.unwrap();
        s.shutdown().await.unwrap();
        let mut back = Vec::new();
        s.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"ping");
        // The stderr reader runs on its own task: wait for it rather than for a fixed time.
        for _ in 0..500 {
            if last.lock().unwrap().is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(last.lock().unwrap().as_deref(), Some("oops"));
    }

    #[tokio::test]
    async fn dropping_the_stream_kills_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let (s, _) = spawn(
            &format!("echo $$ > {}; exec sleep 600", pidfile.display()),
            "h",
        )
        .unwrap();
        let mut pid = String::new();
        for _ in 0..500 {
            pid = std::fs::read_to_string(&pidfile).unwrap_or_default();
            if pid.ends_with('\n') {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let proc_dir = std::path::PathBuf::from(format!("/proc/{}", pid.trim()));
        assert!(proc_dir.exists());
        drop(s);
        let mut gone = false;
        for _ in 0..500 {
            // A killed child may linger as a zombie until reaped: its state says so.
            let stat = std::fs::read_to_string(proc_dir.join("stat")).unwrap_or_default();
            if stat.is_empty() || stat.contains(") Z ") {
                gone = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(gone, "the ProxyCommand outlived its stream");
    }
}

//! Streaming exec: a command whose stdout lines arrive as they are produced (`tail -F`,
//! `journalctl -f`), over one channel, for as long as the caller keeps the [`LineStream`].
//!
//! This module owns the stream's surface ([`Transport::stream`], [`StreamRequest`],
//! [`StreamEvent`], [`LineStream`]), the local implementation, the splitting of bytes into
//! lines and the remote guard every streamed command runs under; the SSH side (an exec channel
//! read incrementally, holding one of the connection's channel permits while open) is
//! `ssh/stream.rs`.
//!
//! Ending a stream must leave nothing running on the host. Two things make sure of it:
//! - closing (or dropping) the stream sends `KILL` to the session (OpenSSH signals the whole
//!   process group of a session without a terminal — but only with privilege separation, i.e.
//!   an sshd started as root; an unprivileged sshd, like the test hosts', logs "session
//!   signalling requires privilege separation" and ignores it) and closes the channel;
//! - the command runs under [`guarded`]: a watchdog in the same shell reads the channel's stdin,
//!   which nothing writes to, and kills the command when that stdin reaches its end — which
//!   happens when the channel or the whole connection closes, even if the console died before
//!   it could send a signal, or the server ignores signal requests. A follow that writes
//!   nothing for hours would otherwise never hit the SIGPIPE that usually ends such commands.
//!
//! Must not parse what the lines say (that is `crate::logview`). Callers: the console's
//! follow tasks (`ui::logs_pane`), tests.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::local::LocalHost;
use super::{Transport, TransportError};

/// Longest line passed on, in bytes; a longer one is cut into pieces of this size (a binary
/// file followed by mistake must not grow one line without bound).
pub const MAX_LINE: usize = 16 * 1024;

/// Events queued between the reader and the consumer; a slow consumer slows the reader (the
/// SSH window then slows the host), it never grows memory.
const QUEUE: usize = 1024;

/// A command to stream.
#[derive(Debug, Clone)]
pub struct StreamRequest {
    /// A simple command (one program and its arguments, already quoted for `sh`): it is
    /// started in the background of a guard shell, so it must not itself be a pipeline or a
    /// list.
    pub command: String,
    /// Give up opening the stream after this long (waiting for the connection, a channel
    /// permit, the channel itself).
    pub open_timeout: Duration,
}

/// What a stream delivers, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// One line of stdout, without its line end (invalid UTF-8 replaced).
    Line(String),
    /// One line of stderr (`tail: cannot open …`).
    Stderr(String),
    /// The command ended by itself: its exit status (`None`: killed by a signal, or no status
    /// came). Nothing follows.
    Ended(Option<u32>),
    /// The connection failed under the stream. Nothing follows.
    Lost(String),
}

/// A running stream: [`LineStream::next`] yields its events. Dropping it stops the command in
/// the background; [`LineStream::close`] stops it and waits until that is done.
pub struct LineStream {
    rx: Option<mpsc::Receiver<StreamEvent>>,
    pump: Option<JoinHandle<()>>,
}

impl LineStream {
    /// A stream fed by `pump`, which gets the sending side and must stop (kill and close its
    /// command) once that sender reports closed.
    pub(super) fn spawn<F, Fut>(pump: F) -> LineStream
    where
        F: FnOnce(mpsc::Sender<StreamEvent>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(QUEUE);
        LineStream {
            rx: Some(rx),
            pump: Some(tokio::spawn(pump(tx))),
        }
    }

    /// The next event; `None` once the stream has ended and everything was read.
    pub async fn next(&mut self) -> Option<StreamEvent> {
        self.rx.as_mut()?.recv().await
    }

    /// Stops the command (KILL, channel closed, permit released) and waits, at most `within`,
    /// until that has been done.
    pub async fn close(mut self, within: Duration) {
        // Closing the receiver is the stop signal the pump watches for.
        drop(self.rx.take());
        if let Some(pump) = self.pump.take() {
            let _ = tokio::time::timeout(within, pump).await;
        }
    }
}

impl Transport {
    /// Starts `req.command` on the host and streams its output line by line (see the module
    /// docs for how it is stopped). An error means nothing was started.
    pub async fn stream(&self, req: &StreamRequest) -> Result<LineStream, TransportError> {
        match self {
            Transport::Ssh(h) => h.stream(req).await,
            Transport::Local(h) => h.stream(req).await,
        }
    }
}

/// `command` wrapped so that it dies with its channel: it runs in the background with its
/// stdin from /dev/null, a watchdog reads the shell's own stdin (the channel's, which nobody
/// writes) and kills it at end of file, and the shell waits for it, so the shell's exit status
/// is the command's and the stream ends when the command does.
///
/// The watchdog gets the shell's stdin through fd 3: a background list in a non-interactive
/// shell otherwise reads /dev/null (POSIX), which would end it at once.
pub fn guarded(command: &str) -> String {
    format!(
        "exec 3<&0\n\
         {command} </dev/null 3<&- & p=$!\n\
         {{ cat >/dev/null 2>&1; kill $p 2>/dev/null; }} <&3 3<&- >/dev/null 2>&1 &\n\
         exec 3<&-\n\
         wait $p\n"
    )
}

/// Cuts a byte stream into lines.
#[derive(Debug, Default)]
pub(super) struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// Adds `data`; returns the lines it completed (without `\n` or `\r\n`).
    pub(super) fn push(&mut self, data: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for &b in data {
            if b == b'\n' {
                out.push(self.take());
            } else {
                self.partial.push(b);
                if self.partial.len() >= MAX_LINE {
                    out.push(self.take());
                }
            }
        }
        out
    }

    /// What is left without a line end, if anything (at the end of the stream).
    pub(super) fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> String {
        let mut bytes = std::mem::take(&mut self.partial);
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Sends every event; `false` once the consumer is gone (the stop signal).
pub(super) async fn send_all(
    tx: &mpsc::Sender<StreamEvent>,
    events: impl IntoIterator<Item = StreamEvent>,
) -> bool {
    for e in events {
        if tx.send(e).await.is_err() {
            return false;
        }
    }
    true
}

impl LocalHost {
    /// [`Transport::stream`] on this machine: `sh -c` with the guard, stdin a pipe kept open
    /// until the stream stops.
    pub async fn stream(&self, req: &StreamRequest) -> Result<LineStream, TransportError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(guarded(&req.command))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            // Last resort only: the guard stops the command when stdin closes.
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TransportError::Other(format!("cannot start sh: {e}")))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        Ok(LineStream::spawn(move |tx| async move {
            let (mut out, mut err) = (LineSplitter::default(), LineSplitter::default());
            let (mut stdout, mut stderr) = (Some(stdout), Some(stderr));
            let (mut obuf, mut ebuf) = (vec![0u8; 8192], vec![0u8; 8192]);
            let stopped = loop {
                if stdout.is_none() && stderr.is_none() {
                    break false;
                }
                tokio::select! {
                    () = tx.closed() => break true,
                    n = read_some(&mut stdout, &mut obuf) => {
                        let lines = match n {
                            Some(n) => out.push(&obuf[..n]),
                            None => { stdout = None; out.finish().into_iter().collect() }
                        };
                        if !send_all(&tx, lines.into_iter().map(StreamEvent::Line)).await {
                            break true;
                        }
                    }
                    n = read_some(&mut stderr, &mut ebuf) => {
                        let lines = match n {
                            Some(n) => err.push(&ebuf[..n]),
                            None => { stderr = None; err.finish().into_iter().collect() }
                        };
                        if !send_all(&tx, lines.into_iter().map(StreamEvent::Stderr)).await {
                            break true;
                        }
                    }
                }
            };
            // Closing stdin is what the guard waits for: it kills the command, and the shell,
            // waiting for it, exits.
            drop(stdin);
            let status = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
                Ok(Ok(s)) => s.code().map(|c| c as u32),
                _ => {
                    let _ = child.start_kill();
                    None
                }
            };
            if !stopped {
                let _ = tx.send(StreamEvent::Ended(status)).await;
            }
        }))
    }
}

/// Reads once from `pipe`; `None` at its end (or on an error). Pending forever once the pipe
/// is gone, so a `select!` stops polling it.
async fn read_some<R: AsyncRead + Unpin>(pipe: &mut Option<R>, buf: &mut [u8]) -> Option<usize> {
    match pipe {
        Some(p) => match p.read(buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        },
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(command: &str) -> StreamRequest {
        StreamRequest {
            command: command.into(),
            open_timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn lines_are_split_across_chunks_and_long_ones_cut() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"ab"), Vec::<String>::new());
        assert_eq!(s.push(b"c\r\nde\nf"), ["abc", "de"]);
        assert_eq!(s.finish().as_deref(), Some("f"));
        assert_eq!(s.finish(), None);
        let long = vec![b'x'; MAX_LINE + 3];
        let lines = s.push(&long);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(s.push(b"\n"), ["xxx"]);
        assert_eq!(s.push(b"\xff\n"), ["\u{fffd}"]);
    }

    #[tokio::test]
    async fn lines_arrive_as_they_are_written_and_the_end_is_reported() {
        let mut s = LocalHost::new()
            .stream(&req(
                "sh -c 'echo one; echo oops >&2; sleep 0.2; echo two; exit 3'",
            ))
            .await
            .unwrap();
        let mut got = Vec::new();
        while let Some(e) = s.next().await {
            got.push(e);
        }
        assert!(got.contains(&StreamEvent::Stderr("oops".into())), "{got:?}");
        let out: Vec<_> = got
            .iter()
            .filter(|e| !matches!(e, StreamEvent::Stderr(_)))
            .cloned()
            .collect();
        assert_eq!(
            out,
            [
                StreamEvent::Line("one".into()),
                StreamEvent::Line("two".into()),
                StreamEvent::Ended(Some(3))
            ]
        );
    }

    /// The command of a closed stream is gone: its pid (written by the command itself) no
    /// longer exists.
    #[tokio::test]
    async fn closing_a_stream_stops_its_command() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let command = format!(
            "sh -c 'echo $$ > {}; echo started; exec sleep 600'",
            pidfile.display()
        );
        let mut s = LocalHost::new().stream(&req(&command)).await.unwrap();
        assert_eq!(s.next().await, Some(StreamEvent::Line("started".into())));
        let pid = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .to_string();
        let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
        assert!(proc_dir.exists());
        s.close(Duration::from_secs(10)).await;
        // The guard's kill is asynchronous to our close: poll, bounded.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while alive(&proc_dir) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!alive(&proc_dir), "sleep {pid} outlived its stream");
    }

    /// Alive and not a zombie waiting to be reaped.
    fn alive(proc_dir: &std::path::Path) -> bool {
        std::fs::read_to_string(proc_dir.join("stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(false)
    }

    #[test]
    fn the_guard_keeps_the_command_simple_and_last() {
        let g = guarded("tail -n 0 -F -- '/a b'");
        assert!(g.contains("tail -n 0 -F -- '/a b' </dev/null 3<&- & p=$!"));
        assert!(g.trim_end().ends_with("wait $p"));
    }
}

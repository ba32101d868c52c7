//! The operator's terminal while a remote shell has it: raw mode, keys read off stdin and
//! window-size changes, handed to the transport's pump as channels.
//!
//! Keys are read by one thread with a read timeout (`VMIN 0`, `VTIME 1`: a read returns after
//! at most 0.1 s with nothing), so when the shell ends the thread notices within 0.1 s and stops
//! *without* having taken a key meant for whoever reads the terminal next (the console). Raw
//! mode is undone on drop, on every way out.

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::termios::{self, OptionalActions, SpecialCodeIndex, Termios};
use tokio::sync::mpsc;

use crate::transport::interactive::PtySize;

/// Whether stdin and stdout are both a terminal.
pub fn is_terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// The window size of the terminal on stdout (80×24 when it cannot be read).
pub fn window_size() -> PtySize {
    match termios::tcgetwinsize(std::io::stdout().as_fd()) {
        Ok(w) if w.ws_col > 0 && w.ws_row > 0 => PtySize {
            cols: w.ws_col,
            rows: w.ws_row,
        },
        _ => PtySize { cols: 80, rows: 24 },
    }
}

/// `$TERM`, else `xterm-256color`.
pub fn term() -> String {
    std::env::var("TERM")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "xterm-256color".to_string())
}

/// The terminal in raw mode, with a thread reading keys; cooked again when dropped.
pub struct RawTerminal {
    saved: Termios,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl RawTerminal {
    /// Puts stdin in raw mode and starts reading keys into the returned channel.
    pub fn enter() -> std::io::Result<(RawTerminal, mpsc::Receiver<Vec<u8>>)> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd())?;
        let mut raw = saved.clone();
        raw.make_raw();
        raw.special_codes[SpecialCodeIndex::VMIN] = 0;
        raw.special_codes[SpecialCodeIndex::VTIME] = 1;
        termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &raw)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel(64);
        let flag = stop.clone();
        let reader = std::thread::Builder::new()
            .name("shell-keys".into())
            .spawn(move || read_keys(&flag, &tx));
        let reader = match reader {
            Ok(r) => r,
            Err(e) => {
                let _ = termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &saved);
                return Err(e);
            }
        };
        Ok((
            RawTerminal {
                saved,
                stop,
                reader: Some(reader),
            },
            rx,
        ))
    }

    /// A handle that stops the key reader from elsewhere: its channel closes, which ends the
    /// session (fleetdeck is stopping).
    pub fn stopper(&self) -> StopKeys {
        StopKeys(self.stop.clone())
    }

    /// Stops reading keys (waits for the reader, at most one read timeout) and restores the
    /// terminal mode it found.
    pub fn leave(mut self) {
        self.restore();
    }

    fn restore(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), OptionalActions::Now, &self.saved);
    }
}

/// See [`RawTerminal::stopper`].
#[derive(Clone)]
pub struct StopKeys(Arc<AtomicBool>);

impl StopKeys {
    /// Stops the key reader (within one read timeout).
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if self.reader.is_some() {
            self.restore();
        }
    }
}

fn read_keys(stop: &AtomicBool, tx: &mpsc::Sender<Vec<u8>>) {
    let stdin = std::io::stdin();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        match rustix::io::read(stdin.as_fd(), &mut buf) {
            // The read timeout (VTIME) passed with nothing typed.
            Ok(0) => {}
            Ok(n) => {
                if tx.blocking_send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
            Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
            // The terminal is gone: the remote side gets EOF.
            Err(_) => break,
        }
    }
}

/// Forwards window-size changes (SIGWINCH) until dropped; each one also goes to `also`.
pub struct WindowWatch {
    task: tokio::task::JoinHandle<()>,
}

impl WindowWatch {
    /// Starts watching; sizes go to the returned channel.
    pub fn start(
        mut also: impl FnMut(PtySize) + Send + 'static,
    ) -> std::io::Result<(WindowWatch, mpsc::UnboundedReceiver<PtySize>)> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut winch = signal(SignalKind::window_change())?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut last = window_size();
            while winch.recv().await.is_some() {
                let size = window_size();
                if size != last {
                    last = size;
                    also(size);
                    if tx.send(size).is_err() {
                        break;
                    }
                }
            }
        });
        Ok((WindowWatch { task }, rx))
    }
}

impl Drop for WindowWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

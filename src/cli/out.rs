//! Where every headless command's text goes: [`stdout()`] and [`stderr()`] are the only ways
//! `src/cli/` writes to the process's standard streams (no `println!` there), so a closed pipe is
//! handled in this one place.
//!
//! `fleetdeck status | head -1` closes the pipe after one line; `println!` would then panic with
//! "Broken pipe" and the process would exit 101 instead of the documented status code. Here the
//! first failed write marks the stream gone and every later write to it is dropped quietly, so
//! the command finishes and exits with the code it means (Rust ignores SIGPIPE, so the failure
//! arrives as `EPIPE`, never as a signal). A failure other than a closed pipe (a full disk under
//! `> file`) is reported once on stderr and treated the same way. A running `fleetdeck run` does
//! not stop because its reader went away: the audit log keeps the record of what it did.
//!
//! Callers: the commands in `src/cli/`. It must not decide exit codes.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
static STDERR_GONE: AtomicBool = AtomicBool::new(false);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

/// A handle on stdout or stderr whose writes never fail and never panic: once the stream is
/// gone, output is dropped. Cheap to create; every handle on a stream shares its "gone" mark.
#[derive(Clone, Copy, Debug)]
pub struct Out {
    stream: Stream,
}

/// The process's stdout.
pub fn stdout() -> Out {
    Out {
        stream: Stream::Stdout,
    }
}

/// The process's stderr.
pub fn stderr() -> Out {
    Out {
        stream: Stream::Stderr,
    }
}

impl Out {
    fn gone_flag(self) -> &'static AtomicBool {
        match self.stream {
            Stream::Stdout => &STDOUT_GONE,
            Stream::Stderr => &STDERR_GONE,
        }
    }

    /// Whether an earlier write found the stream closed (or broken).
    pub fn is_gone(self) -> bool {
        self.gone_flag().load(Ordering::Relaxed)
    }

    fn attempt(self, op: impl FnOnce(&mut dyn Write) -> io::Result<()>) {
        if self.is_gone() {
            return;
        }
        let result = match self.stream {
            Stream::Stdout => op(&mut io::stdout().lock()),
            Stream::Stderr => op(&mut io::stderr().lock()),
        };
        if let Err(e) = result {
            self.mark_gone(&e);
        }
    }

    fn mark_gone(self, e: &io::Error) {
        if self.gone_flag().swap(true, Ordering::Relaxed) {
            return;
        }
        // A closed pipe is the reader's choice (`| head`, `| grep -q`): nothing to say. Any
        // other failure loses output the operator expected, so it is named once.
        if e.kind() != io::ErrorKind::BrokenPipe && self.stream == Stream::Stdout {
            stderr().write_fmt(format_args!("fleetdeck: cannot write to stdout: {e}\n"));
        }
    }

    /// What `write!`/`writeln!` call: formats and writes, dropping the text if the stream is
    /// gone. Shadows [`Write::write_fmt`] so command code has no `Result` to ignore.
    pub fn write_fmt(&mut self, args: fmt::Arguments<'_>) {
        self.attempt(|w| w.write_fmt(args));
    }

    /// Writes `text` as it is.
    pub fn write_str(&mut self, text: &str) {
        self.attempt(|w| w.write_all(text.as_bytes()));
    }

    /// Flushes what is buffered (before reading an answer to a prompt).
    pub fn flush_now(&mut self) {
        self.attempt(|w| w.flush());
    }
}

/// For code written against `dyn Write` (the audit commands): every write reports success, so a
/// closed pipe never turns into an error there either.
impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.attempt(|w| w.write_all(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_now();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gone_stream_drops_output_and_reports_success() {
        // The flag is process-wide: test on a handle whose stream is marked gone by hand, then
        // restore it so other tests in this binary still print.
        let mut out = stderr();
        let was = STDERR_GONE.swap(true, Ordering::Relaxed);
        assert!(out.is_gone());
        assert_eq!(Write::write(&mut out, b"dropped").unwrap(), 7);
        assert!(Write::flush(&mut out).is_ok());
        writeln!(out, "also dropped {}", 1);
        STDERR_GONE.store(was, Ordering::Relaxed);
    }
}

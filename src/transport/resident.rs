//! The framing of a resident shell: one long-lived `sh` per host, fed one probe script after
//! another on its stdin and read back by a random end marker, instead of a new session (sshd
//! fork, login shell, rc files) for every poll. This file is the pure part — wrapping a script
//! and finding where its output ends in a byte stream, with the output cap — so it is tested
//! without a host; the SSH side is `ssh/resident.rs`.
//!
//! A script runs in a subshell with stdin from /dev/null: an `exit` or a `set -e` in it ends
//! the subshell, never the resident shell, and no command in it can eat the next script from
//! the shell's stdin. After it, the shell prints `\n<marker>:end <status>\n` on stdout and on
//! stderr; the leading newline is ours (output that does not end in one stays intact) and is
//! removed with the marker line.

use rand::Rng;

/// Bytes kept after the cap so the end marker is seen whole even when the output was cut.
const SLACK: usize = 48;

/// A script wrapped for the resident shell, and the marker its output ends with.
#[derive(Debug, Clone)]
pub struct Framed {
    /// What to write to the shell's stdin.
    pub input: Vec<u8>,
    /// `\n<marker>:end ` — what [`Capture`] looks for.
    needle: Vec<u8>,
}

impl Framed {
    /// Wraps `script` under a fresh random marker.
    pub fn new(script: &[u8]) -> Self {
        let marker = format!("__fleetdeck_{:016x}", rand::rng().random::<u64>());
        Self::with_marker(script, &marker)
    }

    fn with_marker(script: &[u8], marker: &str) -> Self {
        let mut input = Vec::with_capacity(script.len() + 200);
        input.extend_from_slice(b"(\n");
        input.extend_from_slice(script);
        if !script.ends_with(b"\n") {
            input.push(b'\n');
        }
        input.extend_from_slice(
            format!(
                ") </dev/null\n__fleetdeck_s=$?\n\
                 printf '\\n%s:end %s\\n' '{marker}' \"$__fleetdeck_s\"\n\
                 printf '\\n%s:end %s\\n' '{marker}' \"$__fleetdeck_s\" >&2\n"
            )
            .as_bytes(),
        );
        Self {
            input,
            needle: format!("\n{marker}:end ").into_bytes(),
        }
    }

    /// A reader of one output stream (stdout or stderr) of this script, keeping at most `max`
    /// bytes of it.
    pub fn capture(&self, max: usize) -> Capture {
        Capture {
            needle: self.needle.clone(),
            max,
            kept: Vec::new(),
            seen: 0,
            window: Vec::new(),
            window_start: 0,
            end: None,
        }
    }
}

/// One output stream of a framed script, read until its end marker.
#[derive(Debug)]
pub struct Capture {
    needle: Vec<u8>,
    max: usize,
    /// The first `max + needle + SLACK` bytes seen.
    kept: Vec<u8>,
    /// Every byte seen.
    seen: u64,
    /// The latest bytes seen (where the marker is looked for), starting at `window_start`.
    window: Vec<u8>,
    window_start: u64,
    /// Where the marker line starts (= the script's output length) and the status it carries.
    end: Option<(u64, Option<u32>)>,
}

impl Capture {
    /// Takes the next bytes of the stream; true once the end marker has been seen (bytes after
    /// it — a background job still writing — are ignored).
    pub fn push(&mut self, data: &[u8]) -> bool {
        if self.end.is_some() {
            return true;
        }
        let room = (self.max + self.needle.len() + SLACK).saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&data[..room.min(data.len())]);
        self.seen += data.len() as u64;
        self.window.extend_from_slice(data);
        if let Some(at) = find(&self.window, &self.needle) {
            let rest = &self.window[at + self.needle.len()..];
            if let Some(nl) = rest.iter().position(|&b| b == b'\n') {
                let status = std::str::from_utf8(&rest[..nl])
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                self.end = Some((self.window_start + at as u64, status));
                return true;
            }
            if rest.len() <= SLACK {
                // The marker line is still arriving: keep it whole in the window.
                let drop = at;
                self.window.drain(..drop);
                self.window_start += drop as u64;
                return false;
            }
        }
        let keep = self.needle.len() + SLACK;
        if self.window.len() > keep {
            let drop = self.window.len() - keep;
            self.window.drain(..drop);
            self.window_start += drop as u64;
        }
        false
    }

    /// Whether the end marker has been seen.
    pub fn is_done(&self) -> bool {
        self.end.is_some()
    }

    /// The script's exit status as the shell printed it.
    pub fn status(&self) -> Option<u32> {
        self.end.and_then(|(_, s)| s)
    }

    /// The script's output (at most `max` bytes) and how many bytes of it were dropped; the
    /// marker line is not part of either. Before the end was seen: everything so far.
    pub fn finish(self) -> (Vec<u8>, u64) {
        let length = self.end.map_or(self.seen, |(at, _)| at);
        let keep = usize::try_from(length).unwrap_or(usize::MAX).min(self.max);
        let mut kept = self.kept;
        kept.truncate(keep);
        (kept, length - keep as u64)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed() -> Framed {
        Framed::with_marker(b"echo hi", "__fleetdeck_M")
    }

    fn feed(capture: &mut Capture, stream: &[u8], chunk: usize) -> bool {
        let mut done = false;
        for piece in stream.chunks(chunk.max(1)) {
            done = capture.push(piece);
        }
        done
    }

    #[test]
    fn wraps_the_script_in_a_subshell_and_prints_the_marker_on_both_streams() {
        let text = String::from_utf8(framed().input).unwrap();
        assert!(text.starts_with("(\necho hi\n) </dev/null\n"), "{text}");
        assert_eq!(text.matches("'__fleetdeck_M'").count(), 2, "{text}");
        assert!(text.trim_end().ends_with(">&2"), "{text}");
    }

    #[test]
    fn output_and_status_come_back_whatever_the_chunking() {
        let stream = b"line one\nline two\n\n__fleetdeck_M:end 3\n";
        for chunk in 1..stream.len() + 1 {
            let mut c = framed().capture(1024);
            assert!(feed(&mut c, stream, chunk), "chunk {chunk}");
            assert_eq!(c.status(), Some(3));
            let (out, dropped) = c.finish();
            assert_eq!(out, b"line one\nline two\n", "chunk {chunk}");
            assert_eq!(dropped, 0);
        }
    }

    #[test]
    fn output_without_a_final_newline_is_intact() {
        let mut c = framed().capture(1024);
        assert!(c.push(b"no newline\n__fleetdeck_M:end 0\n"));
        assert_eq!(c.finish(), (b"no newline".to_vec(), 0));
    }

    #[test]
    fn empty_output() {
        let mut c = framed().capture(1024);
        assert!(c.push(b"\n__fleetdeck_M:end 0\n"));
        assert_eq!(c.finish(), (Vec::new(), 0));
    }

    #[test]
    fn the_cap_keeps_the_first_bytes_and_counts_the_rest_exactly() {
        let mut stream = vec![b'a'; 10_000];
        stream.extend_from_slice(b"\n__fleetdeck_M:end 0\n");
        for chunk in [1, 7, 100, 4096, stream.len()] {
            let mut c = framed().capture(1000);
            assert!(feed(&mut c, &stream, chunk), "chunk {chunk}");
            let (out, dropped) = c.finish();
            assert_eq!(out.len(), 1000);
            assert_eq!(dropped, 9000, "chunk {chunk}");
        }
        // Exactly at the cap is not truncated.
        let mut exact = vec![b'b'; 1000];
        exact.extend_from_slice(b"\n__fleetdeck_M:end 0\n");
        let mut c = framed().capture(1000);
        assert!(c.push(&exact));
        assert_eq!(c.finish().1, 0);
    }

    #[test]
    fn another_marker_or_a_partial_one_is_output() {
        let mut c = framed().capture(1024);
        assert!(!c.push(b"\n__fleetdeck_X:end 0\n__fleetdeck_M:end"));
        assert!(!c.is_done());
        assert!(c.push(b" 0\n"));
        assert_eq!(c.finish().0, b"\n__fleetdeck_X:end 0".to_vec());
    }

    #[test]
    fn a_marker_line_that_never_ends_is_not_an_end() {
        let mut c = framed().capture(1024);
        let mut stream = b"\n__fleetdeck_M:end ".to_vec();
        stream.extend(std::iter::repeat_n(b'9', 200));
        assert!(!feed(&mut c, &stream, 5));
        assert!(!c.is_done());
    }

    #[test]
    fn bytes_after_the_end_are_ignored() {
        let mut c = framed().capture(1024);
        assert!(c.push(b"x\n__fleetdeck_M:end 0\nlate"));
        assert!(c.push(b"more"));
        assert_eq!(c.finish(), (b"x".to_vec(), 0));
    }

    #[test]
    fn a_fresh_marker_every_time() {
        let a = Framed::new(b"true");
        let b = Framed::new(b"true");
        assert_ne!(a.needle, b.needle);
    }
}

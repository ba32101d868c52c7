//! The posture probe: the shell text that reads a host's effective sshd settings, its
//! listening TCP ports and root's shell history, and the pure parsers of what it prints.
//!
//! Three sections of the batched probe script ([`super::script`]), on the slow cadence of
//! certificates:
//! - `sshd -T` (`-f PATH` for a non-default install), preceded by the login's uid. When it
//!   fails and the login is not root, or sshd says permission denied / no host keys, the
//!   settings are *not readable* ([`Metric::Unavailable`]) — never guessed from a file.
//! - `ss -ltn`, or `/proc/net/tcp` and `/proc/net/tcp6` on hosts without `ss`.
//! - the system and root profile files grepped for lines that clear history (the manual's
//!   §2.4: `history -c` and `rm -f ~/.bash_history` in `/etc/profile`; also
//!   `HISTFILE=/dev/null`, `unset HISTFILE`, `HISTSIZE=0`), and the size of root's
//!   `~/.bash_history`. Root's home is `$HOME` when the login is root (the history file its
//!   sessions write), else `/root`.
//!
//! It must not judge (that is [`crate::posture::judge`]) nor run anything.

use super::parse::{ParseError, first_line, shorten};
use crate::observation::Metric;
use crate::posture::{HistoryFile, HistoryReading, Listener, SshdSettings};

/// The sshd section: the uid, then `sshd -T` (`config` already shell-quoted).
pub fn sshd_command(config: Option<&str>) -> String {
    let file = config.map(|c| format!(" -f {c}")).unwrap_or_default();
    // sshd is often outside a non-root login's PATH.
    format!(
        "printf 'uid=%s\\n' \"$(id -u)\"; _fd_x=$(command -v sshd 2>/dev/null); \
         if [ -z \"$_fd_x\" ]; then for _fd_x in /usr/sbin/sshd /usr/local/sbin/sshd /sbin/sshd; \
         do [ -x \"$_fd_x\" ] && break; done; fi; _fd_t \"$_fd_x\" -T{file}"
    )
}

/// The listening-ports section.
pub const PORTS_COMMAND: &str = "if command -v ss >/dev/null 2>&1; then echo source=ss; \
     _fd_t ss -ltn; else echo source=proc; for _fd_f in /proc/net/tcp /proc/net/tcp6; do \
     [ -r \"$_fd_f\" ] && cat \"$_fd_f\"; done; fi";

/// The root-history section.
pub const HISTORY_COMMAND: &str = "if [ \"$(id -u)\" = 0 ]; then _fd_h=${HOME:-/root}; \
     else _fd_h=/root; fi; printf 'home=%s\\n' \"$_fd_h\"; \
     for _fd_f in /etc/profile /etc/profile.d/*.sh /etc/bash.bashrc /etc/bashrc \
     \"$_fd_h/.bashrc\" \"$_fd_h/.profile\" \"$_fd_h/.bash_profile\" \"$_fd_h/.bash_logout\"; do \
     [ -r \"$_fd_f\" ] && grep -nE \
     '^[[:space:]]*(history[[:space:]]+-c|unset[[:space:]]+HISTFILE|(export[[:space:]]+)?HISTFILE=.?/dev/null|(export[[:space:]]+)?HISTSIZE=.?0([^0-9]|$)|rm[[:space:]].*\\.bash_history)' \
     \"$_fd_f\" /dev/null | sed 's/^/clear /'; done; \
     if [ ! -x \"$_fd_h\" ]; then echo 'file unreadable'; \
     elif [ -s \"$_fd_h/.bash_history\" ]; then printf 'file present %s\\n' \"$(stat -c %s \"$_fd_h/.bash_history\")\"; \
     elif [ -e \"$_fd_h/.bash_history\" ]; then echo 'file empty'; else echo 'file absent'; fi";

/// Reads the sshd section (`out`, `err`, exit status `rc`).
pub fn read_sshd(out: &str, err: &str, rc: i32) -> Metric<SshdSettings> {
    let (uid, rest) = match out.split_once('\n') {
        Some((first, rest)) => (first.trim().strip_prefix("uid="), rest),
        None => (out.trim().strip_prefix("uid="), ""),
    };
    let uid = uid.map(str::trim);
    if rc == 0 {
        return match parse_sshd_t(rest) {
            Ok(s) => Metric::Value(s),
            Err(e) => Metric::Error(e.to_string()),
        };
    }
    let why = shorten(first_line(err.trim_start()).trim(), 160);
    if rc == 127 || rc == 126 {
        return Metric::Unavailable("sshd not found on host".into());
    }
    let permission = [
        "Permission denied",
        "must be root",
        "no hostkeys",
        "load host key",
    ]
    .iter()
    .any(|p| err.contains(p));
    if permission || uid.is_some_and(|u| u != "0") {
        let who = uid.map(|u| format!(" (login uid {u})")).unwrap_or_default();
        let why = if why.is_empty() {
            format!("exit {rc}")
        } else {
            why
        };
        return Metric::Unavailable(format!("not readable: sshd -T needs root{who}: {why}"));
    }
    Metric::Error(if why.is_empty() {
        format!("sshd -T exited {rc}")
    } else {
        format!("sshd -T: {why}")
    })
}

/// `sshd -T` output: one `keyword value` line per setting, lowercase keywords.
pub fn parse_sshd_t(text: &str) -> Result<SshdSettings, ParseError> {
    let mut ports = Vec::new();
    let mut password = None;
    let mut empty = None;
    let mut root = None;
    let mut pubkey = None;
    let mut kbd = None;
    let mut challenge = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let value = value.trim().to_ascii_lowercase();
        match key.to_ascii_lowercase().as_str() {
            "port" => ports.push(
                value
                    .parse::<u16>()
                    .map_err(|_| ParseError::new("port N with N a TCP port", line))?,
            ),
            "passwordauthentication" => password = Some(value),
            "permitemptypasswords" => empty = Some(value),
            "permitrootlogin" => root = Some(value),
            "pubkeyauthentication" => pubkey = Some(value),
            "kbdinteractiveauthentication" => kbd = Some(value),
            "challengeresponseauthentication" => challenge = Some(value),
            _ => {}
        }
    }
    let need =
        |v: Option<String>, what: &str| v.ok_or_else(|| ParseError::new(what, first_line(text)));
    if ports.is_empty() {
        return Err(ParseError::new(
            "sshd -T output with a `port` line",
            first_line(text),
        ));
    }
    Ok(SshdSettings {
        ports,
        password_authentication: need(password, "a passwordauthentication line from sshd -T")?,
        permit_empty_passwords: need(empty, "a permitemptypasswords line from sshd -T")?,
        permit_root_login: need(root, "a permitrootlogin line from sshd -T")?,
        pubkey_authentication: need(pubkey, "a pubkeyauthentication line from sshd -T")?,
        kbd_interactive_authentication: kbd.or(challenge),
    })
}

/// Reads the ports section.
pub fn read_ports(out: &str, err: &str, rc: i32) -> Metric<Vec<Listener>> {
    if rc != 0 {
        let why = shorten(first_line(err.trim_start()).trim(), 160);
        return Metric::Error(if why.is_empty() {
            format!("ss exited {rc}")
        } else {
            format!("ss: {why}")
        });
    }
    match parse_listening(out) {
        Ok(l) => Metric::Value(l),
        Err(e) => Metric::Error(e.to_string()),
    }
}

/// The ports section's output: `source=ss` then `ss -ltn`, or `source=proc` then the
/// concatenated `/proc/net/tcp` and `/proc/net/tcp6`.
pub fn parse_listening(text: &str) -> Result<Vec<Listener>, ParseError> {
    let mut lines = text.lines();
    match lines.next().map(str::trim) {
        Some("source=ss") => parse_ss(lines),
        Some("source=proc") => parse_proc_net_tcp(lines),
        _ => Err(ParseError::new(
            "source=ss or source=proc, then the listeners",
            first_line(text),
        )),
    }
}

fn parse_ss<'a>(lines: impl Iterator<Item = &'a str>) -> Result<Vec<Listener>, ParseError> {
    let mut out = Vec::new();
    for line in lines.map(str::trim).filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.first() == Some(&"State") {
            continue;
        }
        let (Some(&"LISTEN"), Some(local)) = (fields.first(), fields.get(3)) else {
            return Err(ParseError::new(
                "ss -ltn lines: LISTEN RECV-Q SEND-Q ADDRESS:PORT …",
                line,
            ));
        };
        out.push(
            split_address(local)
                .ok_or_else(|| ParseError::new("a local ADDRESS:PORT in ss -ltn output", line))?,
        );
    }
    Ok(out)
}

/// `127.0.0.1:22`, `[::]:443`, `*:80`, `127.0.0.53%lo:53` → address and port.
fn split_address(s: &str) -> Option<Listener> {
    let (address, port) = s.rsplit_once(':')?;
    Some(Listener {
        address: address.trim_matches(['[', ']']).to_string(),
        port: port.parse().ok()?,
    })
}

fn parse_proc_net_tcp<'a>(
    lines: impl Iterator<Item = &'a str>,
) -> Result<Vec<Listener>, ParseError> {
    let mut out = Vec::new();
    for line in lines.map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("sl ") {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let bad = || ParseError::new("/proc/net/tcp lines: SL: ADDR:PORT ADDR:PORT ST …", line);
        let (Some(local), Some(st)) = (fields.get(1), fields.get(3)) else {
            return Err(bad());
        };
        // 0A is TCP_LISTEN.
        if *st != "0A" {
            continue;
        }
        let (addr, port) = local.split_once(':').ok_or_else(bad)?;
        let port = u16::from_str_radix(port, 16).map_err(|_| bad())?;
        out.push(Listener {
            address: proc_address(addr).ok_or_else(bad)?,
            port,
        });
    }
    Ok(out)
}

/// A `/proc/net/tcp{,6}` address: 32-bit words in host (little-endian) byte order.
fn proc_address(hex: &str) -> Option<String> {
    let words: Vec<u32> = (0..hex.len() / 8)
        .map(|i| {
            hex.get(i * 8..i * 8 + 8)
                .and_then(|w| u32::from_str_radix(w, 16).ok())
        })
        .collect::<Option<_>>()?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()),
        16 => {
            let b: [u8; 16] = bytes.try_into().ok()?;
            Some(std::net::Ipv6Addr::from(b).to_string())
        }
        _ => None,
    }
}

/// Reads the history section.
pub fn read_history(out: &str, err: &str, rc: i32) -> Metric<HistoryReading> {
    match parse_history(out) {
        Ok(h) => Metric::Value(h),
        Err(e) if rc != 0 => Metric::Error(format!(
            "{e} (exit {rc}: {})",
            shorten(first_line(err.trim_start()).trim(), 120)
        )),
        Err(e) => Metric::Error(e.to_string()),
    }
}

/// The history section's output: `home=DIR`, `clear FILE:LINE:TEXT` lines, then
/// `file present BYTES|empty|absent|unreadable`.
pub fn parse_history(text: &str) -> Result<HistoryReading, ParseError> {
    let mut home = None;
    let mut clearing = Vec::new();
    let mut file = None;
    for line in text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
    {
        if let Some(h) = line.strip_prefix("home=") {
            home = Some(h.to_string());
        } else if let Some(c) = line.strip_prefix("clear ") {
            // FILE:LINE:TEXT → "FILE:LINE: TEXT"
            let mut parts = c.splitn(3, ':');
            let (f, n, t) = (parts.next(), parts.next(), parts.next());
            clearing.push(match (f, n, t) {
                (Some(f), Some(n), Some(t)) => shorten(&format!("{f}:{n}: {}", t.trim()), 160),
                _ => shorten(c, 160),
            });
        } else if let Some(f) = line.strip_prefix("file ") {
            let mut w = f.split_whitespace();
            file = Some(match (w.next(), w.next()) {
                (Some("present"), Some(n)) => HistoryFile::Present {
                    bytes: n
                        .parse()
                        .map_err(|_| ParseError::new("file present BYTES", line))?,
                },
                (Some("empty"), None) => HistoryFile::Empty,
                (Some("absent"), None) => HistoryFile::Absent,
                (Some("unreadable"), None) => HistoryFile::Unreadable,
                _ => {
                    return Err(ParseError::new(
                        "file present BYTES|empty|absent|unreadable",
                        line,
                    ));
                }
            });
        } else {
            return Err(ParseError::new(
                "home=DIR, clear FILE:LINE:TEXT or file … lines",
                line,
            ));
        }
    }
    match (home, file) {
        (Some(home), Some(file)) => Ok(HistoryReading {
            home,
            clearing,
            file,
        }),
        _ => Err(ParseError::new(
            "a home= line and a file … line",
            first_line(text),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Trimmed from `sshd -T` of OpenSSH 9.2 (Debian 12).
    const SSHD_T: &str = "uid=0\nport 2222\naddressfamily any\nlistenaddress 127.0.0.1:2222\n\
        permitrootlogin prohibit-password\npubkeyauthentication yes\n\
        passwordauthentication no\nkbdinteractiveauthentication no\npermitemptypasswords no\n\
        usepam no\n";

    #[test]
    fn reads_sshd_t() {
        let Metric::Value(s) = read_sshd(SSHD_T, "", 0) else {
            panic!("not read");
        };
        assert_eq!(s.ports, vec![2222]);
        assert_eq!(s.permit_root_login, "prohibit-password");
        assert_eq!(s.password_authentication, "no");
        assert_eq!(s.kbd_interactive_authentication.as_deref(), Some("no"));
        // OpenSSH before 8.7 names kbd-interactive challenge-response; two ports.
        let old = "port 22\nport 2200\npasswordauthentication yes\npermitemptypasswords no\n\
                   permitrootlogin without-password\npubkeyauthentication yes\n\
                   challengeresponseauthentication yes\n";
        let s = parse_sshd_t(old).unwrap();
        assert_eq!(s.ports, vec![22, 2200]);
        assert_eq!(s.kbd_interactive_authentication.as_deref(), Some("yes"));
    }

    #[test]
    fn sshd_failures_are_not_readable_or_errors_never_values() {
        let non_root = read_sshd("uid=1000\n", "sshd: no hostkeys available -- exiting.\n", 1);
        assert!(
            matches!(&non_root, Metric::Unavailable(w) if w.contains("not readable") && w.contains("uid 1000")),
            "{non_root:?}"
        );
        let denied = read_sshd("uid=0\n", "/etc/ssh/x: Permission denied\n", 255);
        assert!(matches!(denied, Metric::Unavailable(_)), "{denied:?}");
        let bad_file = read_sshd("uid=0\n", "/nope: No such file or directory\n", 255);
        assert!(
            matches!(&bad_file, Metric::Error(e) if e.contains("No such file")),
            "{bad_file:?}"
        );
        assert!(matches!(
            read_sshd("uid=0\n", "", 127),
            Metric::Unavailable(_)
        ));
        assert!(parse_sshd_t("").is_err());
        assert!(parse_sshd_t("port 22\n").is_err());
        assert!(parse_sshd_t("port ssh\n").is_err());
        assert!(matches!(read_sshd("garbage", "", 0), Metric::Error(_)));
    }

    #[test]
    fn reads_ss() {
        let out = "source=ss\n\
            State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess\n\
            LISTEN 0      128          0.0.0.0:2024      0.0.0.0:*\n\
            LISTEN 0      4096   127.0.0.53%lo:53        0.0.0.0:*\n\
            LISTEN 0      511             [::]:443          [::]:*\n\
            LISTEN 0      128                *:80              *:*\n";
        let l = parse_listening(out).unwrap();
        let got: Vec<(&str, u16)> = l.iter().map(|l| (l.address.as_str(), l.port)).collect();
        assert_eq!(
            got,
            vec![
                ("0.0.0.0", 2024),
                ("127.0.0.53%lo", 53),
                ("::", 443),
                ("*", 80)
            ]
        );
        assert!(l[1].loopback() && !l[0].loopback() && !l[2].loopback());
    }

    #[test]
    fn reads_proc_net_tcp() {
        let out = "source=proc\n\
            \x20 sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
            \x20  0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n\
            \x20  1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1\n\
            \x20  2: 0100007F:0CEA 0100007F:D2C4 01 00000000:00000000 00:00000000 00000000     0        0 3 1\n\
            \x20 sl  local_address                         remote_address                        st\n\
            \x20  0: 00000000000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 0\n";
        let l = parse_listening(out).unwrap();
        let got: Vec<(&str, u16)> = l.iter().map(|l| (l.address.as_str(), l.port)).collect();
        assert_eq!(
            got,
            vec![("127.0.0.1", 3306), ("0.0.0.0", 22), ("::1", 443)]
        );
    }

    #[test]
    fn bad_port_output_is_an_error() {
        assert!(parse_listening("").is_err());
        assert!(parse_listening("LISTEN 0 1 a:1 b:*\n").is_err());
        assert!(parse_listening("source=ss\nLISTEN 0 1\n").is_err());
        assert!(parse_listening("source=ss\nLISTEN 0 1 noport *:*\n").is_err());
        assert!(parse_listening("source=proc\n 0: ZZ:0016 0:0 0A\n").is_err());
        assert!(matches!(
            read_ports("", "ss: bad\n", 1),
            Metric::Error(e) if e.contains("bad")
        ));
    }

    #[test]
    fn reads_history() {
        let out = "home=/root\nclear /etc/profile:30:history -c\n\
                   clear /etc/profile:31:rm -f ~/.bash_history\nfile present 1234\n";
        let h = parse_history(out).unwrap();
        assert_eq!(h.home, "/root");
        assert_eq!(h.clearing[0], "/etc/profile:30: history -c");
        assert_eq!(h.file, HistoryFile::Present { bytes: 1234 });
        let h = parse_history("home=/root\nfile unreadable\n").unwrap();
        assert_eq!(h.file, HistoryFile::Unreadable);
        assert!(parse_history("").is_err());
        assert!(parse_history("home=/root\n").is_err());
        assert!(parse_history("home=/root\nfile present lots\n").is_err());
        assert!(parse_history("home=/root\nwhat\nfile absent\n").is_err());
    }
}

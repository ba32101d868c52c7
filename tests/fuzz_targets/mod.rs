//! The fuzz targets of fleetdeck: every parser of untrusted input, each as `fn(&[u8])` that
//! panics when a property breaks. One definition serves two drivers:
//!
//! - `tests/fuzz.rs` (inside `cargo test`, so in CI): a short proptest run per target over the
//!   seed corpus in `tests/fuzz_corpus/<target>/` and mutations of it;
//! - `fuzz/` (`scripts/fuzz`, the long run): cargo-fuzz/libFuzzer, coverage-guided, which includes
//!   this file by path.
//!
//! Properties, for every target: it never panics (nor overflows: both drivers build with
//! overflow checks), and an error about input that has a position says where, within the input.
//! Some targets check more (a host key accepted under `accept-new` is known afterwards; a secret
//! input never shows in the display copy of a rendered template). Inputs are bytes; text parsers
//! get them as lossy UTF-8, as fleetdeck itself reads command output.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use fleetdeck::inventory::{self, ConfigSource, Fleet};
use fleetdeck::probe::{certs, chain, facts, logs, parse, posture, script};
use fleetdeck::transport::ExecOutput;
use fleetdeck::transport::known_hosts::{self, Verdict};
use fleetdeck::ui::theme::Theme;

/// A fuzz target: panics when a property breaks.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus folder.
pub const TARGETS: &[(&str, Target)] = &[
    ("inventory", inventory),
    ("theme", theme),
    ("probe_parsers", probe_parsers),
    ("probe_script", probe_script),
    ("rpc_reply", rpc_reply),
    ("known_hosts", known_hosts),
    ("runbook", runbook),
];

/// The target called `name`.
pub fn target(name: &str) -> Target {
    TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fuzz target {name}"))
        .1
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Asserts that a 1-based (line, column) lies inside `text` (a column may point one past the
/// end of its line, where a missing token was expected).
fn assert_position_inside(text: &str, line: usize, column: Option<usize>, what: &str) {
    let lines: Vec<&str> = text.split('\n').collect();
    assert!(
        line >= 1 && line <= lines.len(),
        "{what}: line {line} outside the input's {} lines",
        lines.len()
    );
    if let Some(column) = column {
        let width = lines[line - 1].chars().count();
        assert!(
            column >= 1 && column <= width + 1,
            "{what}: column {column} outside line {line} ({width} characters)"
        );
    }
}

/// Whether `text` is TOML at all (a syntax error has a position in every parser that reads it).
fn toml_syntax_ok(text: &str) -> bool {
    text.parse::<toml::Table>().is_ok()
}

/// The inventory loader: syntax and every semantic check, errors as `FILE:LINE:COL: message`.
pub fn inventory(data: &[u8]) {
    let text = text(data);
    match inventory::load_fleet_from_str(&text, ConfigSource::File(PathBuf::from("fuzz.toml"))) {
        Ok(fleet) => assert!(!fleet.hosts.is_empty(), "a loaded fleet has hosts"),
        Err(e) => {
            assert!(!e.message.trim().is_empty(), "an error says what is wrong");
            let shown = e.to_string();
            assert!(
                shown.starts_with("fuzz.toml"),
                "an error names the file: {shown}"
            );
            if !toml_syntax_ok(&text) {
                assert!(
                    e.line.is_some(),
                    "a TOML syntax error has a position: {shown}"
                );
            }
            if let Some(line) = e.line {
                assert_position_inside(&text, line, e.column, &shown);
            }
        }
    }
}

/// Theme files, over the default theme and alone.
pub fn theme(data: &[u8]) {
    static BASE: OnceLock<Theme> = OnceLock::new();
    let text = text(data);
    let base = BASE.get_or_init(Theme::default_theme);
    for b in [Some(base), None] {
        if let Err(e) = Theme::parse(&text, "fuzz-theme.toml", b) {
            assert!(!e.message.trim().is_empty());
            assert_eq!(e.path, "fuzz-theme.toml");
            if !toml_syntax_ok(&text) {
                assert!(e.line.is_some(), "a TOML syntax error has a position: {e}");
            }
            if let Some(line) = e.line {
                assert_position_inside(&text, line, e.column, &e.to_string());
            }
        }
    }
}

/// The offending text a [`parse::ParseError`] quotes comes from the input: every word of it is
/// there (a parser may join a line that `df` wrapped, or shorten a long one).
fn assert_quotes_input(input: &str, e: &parse::ParseError) {
    assert!(!e.expected.trim().is_empty(), "{e}");
    let quoted = e.found.trim_end_matches('…');
    for word in quoted.split_whitespace() {
        assert!(
            input.contains(word),
            "the error quotes {word:?}, which is not in the input: {e}"
        );
    }
}

/// Every parser of probe command output (`df`, `/proc`, `systemctl show`, `docker`, `pgrep`,
/// `find`, heights, certificates, host facts, log lines), on the same text.
pub fn probe_parsers(data: &[u8]) {
    let t = text(data);
    let t = t.as_str();
    macro_rules! quoting {
        ($($f:expr),* $(,)?) => {$(
            if let Err(e) = $f(t) {
                assert_quotes_input(t, &e);
            }
        )*};
    }
    quoting!(
        parse::parse_epoch,
        parse::parse_loadavg,
        parse::parse_uptime,
        parse::parse_df,
        parse::parse_df_typed,
        parse::parse_systemctl_show,
        parse::parse_docker_inspect_state,
        parse::parse_compose_ps,
        parse::parse_pgrep,
        parse::parse_pidfile_check,
        parse::parse_backup_listing,
        parse::parse_height,
        posture::parse_sshd_t,
        posture::parse_listening,
        posture::parse_history,
    );
    for rc in [0, 1, 127, 255] {
        let _ = posture::read_sshd(t, t, rc);
        let _ = posture::read_ports(t, t, rc);
        let _ = posture::read_history(t, t, rc);
    }
    let _ = parse::parse_systemd_timestamp(t);
    let _ = certs::parse_x509_dates(t);
    let _ = certs::parse_openssl_time(t);
    let _ = certs::openssl_failure(t);
    let _ = facts::parse_uname(t);
    let _ = facts::parse_os_release(t);
    let _ = facts::parse_cpuinfo(t);
    let _ = facts::parse_meminfo(t);
    let _ = facts::parse_filesystems(t);
    let _ = facts::parse_interfaces(t);
    let _ = facts::parse_dmi(t);
    let _ = facts::parse_last(t);
    let _ = logs::parse_utc_offset(t);
    for line in t.lines() {
        let _ = logs::split_journal_prefix(line);
        let _ = logs::parse_fisco_line(line, Some(28_800));
        let _ = logs::parse_fisco_line(line, None);
    }
}

/// An inventory whose one host exercises every section of the probe script.
pub const SCRIPT_HOST: &str = r#"
[fleet]
name = "fuzz"
[[hosts]]
name = "h"
address = "127.0.0.1"
disks = [{ mount = "/" }, { mount = "/data" }]
services = [
  { name = "unit", kind = "systemd", unit = "geth.service" },
  { name = "ctr", kind = "docker", container = "geth" },
  { name = "compose", kind = "docker", compose_file = "/srv/c.yml", compose_service = "db" },
  { name = "pid", kind = "process", pidfile = "/run/x.pid" },
  { name = "pat", kind = "process", pattern = "geth --datadir" },
  { name = "cmd", kind = "command", command = "true" },
  { name = "tls", kind = "http", url = "https://127.0.0.1:8443/health" },
]
backups = [{ name = "pg", dir = "/backups", pattern = "*.gz", every = "24h" }]
certs = [{ name = "ca", path = "/etc/ssl/ca.pem" }]
logs = [{ name = "node", file = "/var/log/node.log", format = "fisco" }, { name = "j", unit = "geth.service" }]
chain = { kind = "command", command = "echo 42" }
"#;

fn script_fleet() -> &'static Fleet {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    FLEET.get_or_init(|| {
        inventory::load_fleet_from_str(SCRIPT_HOST, ConfigSource::Embedded)
            .unwrap_or_else(|e| panic!("the fuzz host inventory loads: {e}"))
    })
}

/// Byte that stands for the script's random frame marker in fuzz inputs and seeds.
pub const MARKER_BYTE: u8 = 0x01;
/// Byte that separates stdout from stderr in a `probe_script` input.
pub const STDERR_BYTE: u8 = 0xFE;

/// Turns a fuzz input into what the probe exec returned: byte 0 picks the exit status, byte 1
/// the dropped-byte count, the rest is stdout, then `STDERR_BYTE`, then stderr; every
/// `MARKER_BYTE` becomes the script's marker, so inputs can forge or break frames.
pub fn script_output(data: &[u8], marker: &str) -> ExecOutput {
    let (status, dropped, rest) = match data {
        [s, d, rest @ ..] => (*s, *d, rest),
        [s] => (*s, 0, &[][..]),
        [] => (0, 0, &[][..]),
    };
    let expand = |part: &[u8]| {
        let mut out = Vec::with_capacity(part.len());
        for &b in part {
            if b == MARKER_BYTE {
                out.extend_from_slice(marker.as_bytes());
            } else {
                out.push(b);
            }
        }
        out
    };
    let (stdout, stderr) = match rest.iter().position(|&b| b == STDERR_BYTE) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    ExecOutput {
        status: match status {
            0..=127 => Some(0),
            128 => None,
            n => Some(u32::from(n - 128)),
        },
        stdout: expand(stdout),
        stderr: expand(stderr),
        dropped_bytes: if dropped > 200 { u64::from(dropped) } else { 0 },
    }
}

/// The probe script's output splitter and every section reader behind it.
pub fn probe_script(data: &[u8]) {
    let host = &script_fleet().hosts[0];
    let script = script::build(host);
    let output = script_output(data, script.marker());
    let r = script.parse(&output);
    assert_eq!(r.disks.len(), host.disks.len());
    assert_eq!(r.services.len(), host.services.len());
    assert_eq!(
        r.backups.map(|b| b.len()),
        Some(host.backups.len()),
        "a full build lists every backup set"
    );
    if output.truncated() {
        assert!(
            r.problems.iter().any(|p| p.contains("truncated")),
            "truncation is reported: {:?}",
            r.problems
        );
    }
}

const CHAINS: &str = r#"
[fleet]
name = "fuzz"
[[hosts]]
name = "eth"
address = "127.0.0.1"
chain = { kind = "ethereum", rpc = "http://127.0.0.1:8545" }
[[hosts]]
name = "cfx"
address = "127.0.0.1"
chain = { kind = "conflux", rpc = "http://127.0.0.1:12537" }
[[hosts]]
name = "fisco2"
address = "127.0.0.1"
chain = { kind = "fisco-bcos", rpc = "http://127.0.0.1:8545", group_id = 1 }
[[hosts]]
name = "fisco3"
address = "127.0.0.1"
chain = { kind = "fisco-bcos", rpc = "http://127.0.0.1:20200", group = "group0" }
"#;

fn chain_fleet() -> &'static Fleet {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    FLEET.get_or_init(|| {
        inventory::load_fleet_from_str(CHAINS, ConfigSource::Embedded)
            .unwrap_or_else(|e| panic!("the fuzz chain inventory loads: {e}"))
    })
}

/// A JSON-RPC reply body, read as every call of every chain kind would read it.
pub fn rpc_reply(data: &[u8]) {
    match chain::parse_rpc_reply(data) {
        Ok(_) => {}
        Err(e) => {
            if serde_json::from_slice::<serde_json::Value>(data).is_err() {
                assert!(
                    e.expected.contains("line") && e.expected.contains("column"),
                    "a JSON syntax error says where: {e}"
                );
            }
        }
    }
    for host in &chain_fleet().hosts {
        let c = host.chain.as_ref().expect("chain host");
        let mut results = Vec::new();
        for call in chain::plan(c) {
            results.push((call.field, chain::reading_of(&call, data)));
        }
        let _ = chain::assemble(c.kind, results);
    }
}

/// A fixed ed25519 server key (generated once with ssh-keygen for these tests).
const SERVER_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM3t08ay4udC8F7pubhLrCn7ILtnkN6MQRCACJ9ixCUv";

/// A host certificate of 127.0.0.1 and db1.example signed by HOST_CA, valid through January 2026
/// (`ssh-keygen -s ca -h -n 127.0.0.1,db1.example -V 20260101:20260201`).
const HOST_CERT: &str = "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIG84/jdnlbZ4XUExmQheZdiP3iCa2GRtkrYBVEXkhCDBAAAAIAVhJi34QN2Nqjr5BDalxaHazmWfNHfO498BEyMO/jfPAAAAAAAAAAAAAAACAAAABGhvc3QAAAAcAAAACTEyNy4wLjAuMQAAAAtkYjEuZXhhbXBsZQAAAABpVbkAAAAAAGl+l4AAAAAAAAAAAAAAAAAAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIBauIwm3W95FenCcu/vVRTB1G9vjbM5U+yV1krfOE3gTAAAAUwAAAAtzc2gtZWQyNTUxOQAAAEBHJUqk92KnzPhgc4PcGJ/tGHAhZ0pOTSXbqfEWBl2QDgtcEgzAZDY7ebTGlb//3veDRHmmdJW8cQdTN1ZQ7wIK";

fn scratch_file() -> PathBuf {
    let thread = format!("{:?}", std::thread::current().id())
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>();
    // tmpfs when there is one: `append` fsyncs, which on a disk would cost milliseconds a case.
    let dir = std::path::Path::new("/dev/shm");
    let dir = if dir.is_dir() {
        dir.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join(format!(
        "fleetdeck-fuzz-known-hosts-{}-{thread}",
        std::process::id()
    ))
}

/// A known_hosts file's contents: checking never panics, and once `accept-new` has appended the
/// key, the key is known (unless the file already revoked it). A host certificate is trusted
/// only through an `@cert-authority` line, and judging it never panics either.
pub fn known_hosts(data: &[u8]) {
    use fleetdeck::transport::host_cert::{self, CertVerdict};
    let key = russh::keys::ssh_key::PublicKey::from_openssh(SERVER_KEY).expect("test key");
    let cert = russh::keys::ssh_key::Certificate::from_openssh(HOST_CERT).expect("test cert");
    let file = scratch_file();
    std::fs::write(&file, data).expect("write scratch known_hosts");
    let files = [file.clone()];
    for (host, port) in [("127.0.0.1", 2222), ("db.example", 22)] {
        std::fs::write(&file, data).expect("write scratch known_hosts");
        let authorities = known_hosts::cert_authorities(&files, host, port);
        let text = String::from_utf8_lossy(data);
        for (at, _) in &authorities {
            let line = text.lines().nth(at.line - 1).unwrap_or_default();
            assert!(
                line.trim_start().starts_with("@cert-authority"),
                "{at} is not an @cert-authority line: {line:?}"
            );
        }
        // Judged only where a CA applies: the signature check costs milliseconds in a debug
        // build, and elsewhere the verdict is decided by the lookups above.
        if !authorities.is_empty() {
            // 2026-01-15: inside the certificate's window.
            let verdict = host_cert::check(&files, host, port, &cert, 1_768_435_200);
            let _ = host_cert::describe(&verdict, host, &cert, 1_768_435_200);
            if matches!(verdict, CertVerdict::Trusted { .. }) {
                assert!(
                    authorities
                        .iter()
                        .any(|(_, ca)| ca.key_data() == cert.signature_key()),
                    "trusted without an @cert-authority line for its CA: {verdict:?}"
                );
            }
        }
        let before = known_hosts::check(&files, host, port, &key);
        known_hosts::append(&file, host, port, &key).expect("append to scratch known_hosts");
        let after = known_hosts::check(&files, host, port, &key);
        match (&before, &after) {
            (Verdict::Revoked(_), Verdict::Revoked(_)) => {}
            (Verdict::Revoked(_), _) => panic!("a revoked key stays revoked: {after:?}"),
            (_, Verdict::Known(_)) => {}
            _ => panic!(
                "after accept-new appended the key for {host}:{port}, it is {after:?} (was {before:?})"
            ),
        }
    }
    let _ = std::fs::remove_file(&file);
}

/// Runbook files (parse and lint), and template rendering: a secret input never shows in the
/// display copy.
pub fn runbook(data: &[u8]) {
    let text = text(data);
    let lint = fleetdeck::runbook::lint(&text, "fuzz-runbook.toml");
    match fleetdeck::runbook::parse(&text, "fuzz-runbook.toml") {
        Ok(_) => {}
        Err(errors) => {
            assert!(!errors.is_empty(), "a refused runbook says why");
            assert!(!lint.is_empty(), "lint agrees that the runbook is refused");
            if !toml_syntax_ok(&text) {
                assert!(
                    errors.iter().any(|e| e.line.is_some()),
                    "a TOML syntax error has a position: {errors:?}"
                );
            }
            for e in &errors {
                assert!(!e.message.trim().is_empty());
                if let Some(line) = e.line {
                    assert_position_inside(&text, line, e.column, &e.to_string());
                }
            }
        }
    }
    render_keeps_secrets(&text);
}

fn render_keeps_secrets(text: &str) {
    use fleetdeck::runbook::template::{self, Context, Values};
    // The input's last line is the secret's value, the rest the template.
    let (template_text, secret) = match text.rsplit_once('\n') {
        Some((t, s)) => (t, s),
        None => (text, "s3cret-value"),
    };
    let mut inputs = BTreeMap::new();
    inputs.insert("token".to_string(), secret.to_string());
    inputs.insert("plain".to_string(), "visible".to_string());
    let is_secret = |name: &str| name == "token";
    let targets = vec!["h1".to_string()];
    let decisions = BTreeMap::new();
    let values = Values {
        host: None,
        targets: &targets,
        inputs: &inputs,
        secret: &is_secret,
        path: &|_: &str| false,
        stamp: "20260101000000",
        decisions: &decisions,
    };
    let _ = template::segments(template_text);
    for context in [
        Context::Command,
        Context::Url,
        Context::Request,
        Context::Regex,
        Context::Display,
    ] {
        if let Ok(r) = template::render(template_text, context, &values) {
            let meaningful = secret.chars().count() >= 6
                && !secret.contains('*')
                && !template_text.contains(secret)
                && !"visible h1 20260101000000".contains(secret);
            if meaningful {
                assert!(
                    !r.display.contains(secret),
                    "the secret shows in the display copy ({context:?}): {:?}",
                    r.display
                );
            }
        }
    }
}

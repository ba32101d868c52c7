//! The batched probe script: every shell probe of one host for one poll, as one POSIX `sh`
//! script run by a single exec (`sh -s`, script on stdin), and the splitting of its output back
//! into per-probe results.
//!
//! Why one script: each exec channel makes sshd fork a session and a shell, so a refresh costs
//! what the probe commands themselves cost only when they share one exec. Why stdin: the probe
//! text then never shows up in a process list, so `pgrep -f PATTERN` cannot match the probe.
//!
//! The output is framed by marker lines `@@fleetdeck-<random hex>@@ begin|end <section>` (the
//! hex is fresh for every build, so no real output can forge one); each section's end line
//! carries its exit status (`rc=N`). The same frames are written to stderr, so a probe's
//! error messages stay with it without mixing them into what the parsers read. A section that
//! never arrived (script killed, output truncated) becomes an explicit error for that part —
//! never a silent zero.
//!
//! This module owns the shell text and the mapping from sections to observation parts. Every
//! value taken from the inventory is shell-quoted with `shlex`; operator-supplied commands run
//! as one quoted argument of `sh -c`, so they cannot break the script's frame. It must not
//! run anything itself (the caller execs [`ProbeScript::text`]), nor read clocks; the only
//! impurity is the random marker chosen by [`build`].
//!
//! Callers: [`super::poll_host`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::parse::{self, ServiceReading, first_line, shorten};
use crate::inventory::{Host, ServiceKind};
use crate::observation::{
    BackupObs, DiskObs, DiskUsage, LoadAvg, Metric, ServiceObs, ServiceState,
};
use crate::transport::ExecOutput;

/// Seconds every external probe command may run (via `timeout`, when the host has it).
pub const COMMAND_SECONDS: u64 = 10;

/// Properties read from `systemctl show`.
pub const SYSTEMD_PROPERTIES: &str = "ActiveState,SubState,Result,ExecMainStatus,\
ActiveEnterTimestamp,InactiveEnterTimestamp,NRestarts,LoadState";

/// How one configured service is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceCheck {
    /// `systemctl show UNIT` in the script.
    Systemd {
        /// Unit name.
        unit: String,
    },
    /// `docker inspect` of a container in the script.
    DockerContainer {
        /// Container name or id.
        container: String,
    },
    /// `docker compose ps` of a compose service in the script.
    Compose {
        /// Compose file on the host.
        file: String,
        /// Service name in it.
        service: String,
    },
    /// Pidfile read in the script; the pid is looked up in `/proc`.
    Pidfile {
        /// Pidfile path.
        path: String,
    },
    /// `pgrep -f` in the script.
    Pattern {
        /// The pattern.
        pattern: String,
    },
    /// An operator command in the script: exit 0 = running.
    Command {
        /// Shell command.
        command: String,
    },
    /// An `https://` URL fetched by `curl` in the script: the transport's forwarded stream
    /// carries plain TCP and fleetdeck has no TLS stack of its own to put on it.
    Https {
        /// URL.
        url: String,
        /// Expected status.
        expect_status: u16,
    },
    /// A TCP connect from the host, through [`crate::transport::Transport::dial`].
    Dial {
        /// Address as seen from the host.
        address: String,
        /// Port.
        port: u16,
    },
    /// A plain `http://` GET over a dialled stream.
    HttpGet {
        /// URL.
        url: String,
        /// Expected status.
        expect_status: u16,
    },
    /// The service's configuration cannot be probed.
    Invalid(String),
}

impl ServiceCheck {
    /// How a service of `kind` is checked.
    pub fn of(kind: &ServiceKind) -> Self {
        match kind {
            ServiceKind::Systemd { unit } => ServiceCheck::Systemd { unit: unit.clone() },
            ServiceKind::Docker {
                container: Some(c), ..
            } => ServiceCheck::DockerContainer {
                container: c.clone(),
            },
            ServiceKind::Docker {
                compose_file: Some(f),
                compose_service: Some(s),
                ..
            } => ServiceCheck::Compose {
                file: f.clone(),
                service: s.clone(),
            },
            ServiceKind::Docker { .. } => ServiceCheck::Invalid(
                "docker service needs container, or compose_file and compose_service".into(),
            ),
            ServiceKind::Process {
                pidfile: Some(p), ..
            } => ServiceCheck::Pidfile { path: p.clone() },
            ServiceKind::Process {
                pattern: Some(p), ..
            } => ServiceCheck::Pattern { pattern: p.clone() },
            ServiceKind::Process { .. } => {
                ServiceCheck::Invalid("process service needs pidfile or pattern".into())
            }
            ServiceKind::Port { address, port } => ServiceCheck::Dial {
                address: address.clone(),
                port: *port,
            },
            ServiceKind::Http { url, expect_status } => {
                let lower = url.to_ascii_lowercase();
                if lower.starts_with("https://") {
                    ServiceCheck::Https {
                        url: url.clone(),
                        expect_status: *expect_status,
                    }
                } else if lower.starts_with("http://") {
                    ServiceCheck::HttpGet {
                        url: url.clone(),
                        expect_status: *expect_status,
                    }
                } else {
                    ServiceCheck::Invalid(format!("unsupported URL {url:?} (http:// or https://)"))
                }
            }
            ServiceKind::Command { command } => ServiceCheck::Command {
                command: command.clone(),
            },
        }
    }

    /// Whether the batch script checks it (otherwise the network probes or nobody do).
    pub fn in_script(&self) -> bool {
        !matches!(
            self,
            ServiceCheck::Dial { .. } | ServiceCheck::HttpGet { .. } | ServiceCheck::Invalid(_)
        )
    }
}

/// What a section of the script feeds.
#[derive(Debug, Clone)]
enum Target {
    HostTime,
    Load,
    Uptime,
    Disk(usize),
    Service(usize, ServiceCheck),
    Backup(usize),
    ChainHeight,
}

/// One section: its id in the output, what it feeds, and an error when it could not even be
/// written (a value that cannot be shell-quoted), in which case it is not in the script.
#[derive(Debug, Clone)]
struct Part {
    id: String,
    target: Target,
    unbuildable: Option<String>,
}

/// A host's probe batch for one poll.
#[derive(Debug, Clone)]
pub struct ProbeScript {
    text: String,
    marker: String,
    parts: Vec<Part>,
    service_names: Vec<String>,
    mounts: Vec<String>,
    backup_names: Vec<String>,
}

/// The batch's output, split back into observation parts.
#[derive(Debug, Clone)]
pub struct ScriptResult {
    /// Host clock, epoch seconds.
    pub host_time: Result<i64, String>,
    /// `/proc/loadavg`.
    pub load: Result<LoadAvg, String>,
    /// `/proc/uptime`.
    pub uptime: Result<Duration, String>,
    /// One per configured disk, in inventory order.
    pub disks: Vec<DiskObs>,
    /// One per configured service, in inventory order; `None` for services the script does not
    /// check (port and plain-http services, probed over the network instead).
    pub services: Vec<Option<ServiceObs>>,
    /// One per configured backup set, in inventory order.
    pub backups: Vec<BackupObs>,
    /// Height of a `kind = "command"` chain, when the host has one.
    pub chain_height: Option<Metric<u64>>,
    /// Problems with the batch itself (truncation, a non-zero exit, stray shell errors).
    pub problems: Vec<String>,
}

/// Builds the probe script for `host`, with a fresh random marker.
pub fn build(host: &Host) -> ProbeScript {
    build_with_marker(
        host,
        &format!("@@fleetdeck-{:016x}@@", rand::random::<u64>()),
    )
}

/// `s` quoted for `sh`; `Err` only for a NUL byte, which no shell argument can carry.
fn q(s: &str) -> Result<String, String> {
    shlex::try_quote(s)
        .map(|c| c.into_owned())
        .map_err(|e| format!("{e}: {s:?}"))
}

/// A path made safe to pass where a leading `-` would be read as an option (`find`).
fn not_an_option(path: &str) -> String {
    if path.starts_with('-') {
        format!("./{path}")
    } else {
        path.to_string()
    }
}

fn build_with_marker(host: &Host, marker: &str) -> ProbeScript {
    let mut parts = Vec::new();
    let mut body = String::new();
    let mut section = |id: String, target: Target, cmd: Result<String, String>| match cmd {
        Ok(cmd) => {
            let _ = writeln!(body, "_fd_b {id}\n{cmd}\n_fd_e {id} $?");
            parts.push(Part {
                id,
                target,
                unbuildable: None,
            });
        }
        Err(e) => parts.push(Part {
            id,
            target,
            unbuildable: Some(format!("not probed: {e}")),
        }),
    };

    section("time".into(), Target::HostTime, Ok("date +%s".into()));
    // `read` is a shell builtin: no fork for these two.
    section(
        "loadavg".into(),
        Target::Load,
        Ok("read -r _fd_l </proc/loadavg && printf '%s\\n' \"$_fd_l\"".into()),
    );
    section(
        "uptime".into(),
        Target::Uptime,
        Ok("read -r _fd_l </proc/uptime && printf '%s\\n' \"$_fd_l\"".into()),
    );
    // One df per mount, so one missing mount cannot hide or shift the others; under `timeout`
    // because df hangs on a dead NFS server.
    for (i, disk) in host.disks.iter().enumerate() {
        let cmd = q(&disk.mount).map(|m| format!("_fd_t df -P -k -- {m}"));
        section(format!("disk.{i}"), Target::Disk(i), cmd);
    }
    for (i, svc) in host.services.iter().enumerate() {
        let check = ServiceCheck::of(&svc.kind);
        if !check.in_script() {
            continue;
        }
        let cmd = service_command(&check);
        section(format!("svc.{i}"), Target::Service(i, check), cmd);
    }
    for (i, b) in host.backups.iter().enumerate() {
        let cmd = (|| -> Result<String, String> {
            let dir = q(&not_an_option(&b.dir))?;
            let pattern = q(&b.pattern)?;
            // Only the newest two lines leave the host, however many backups the directory
            // holds; find's own errors (no -printf in busybox, permission denied) go to stderr.
            Ok(format!(
                "if [ -d {dir} ]; then _fd_t find {dir} -maxdepth 1 -type f -name {pattern} \
                 -printf '%T@ %s %p\\n' | sort -n | tail -n 2; \
                 else printf 'no such directory: %s\\n' {dir} >&2; false; fi"
            ))
        })();
        section(format!("backup.{i}"), Target::Backup(i), cmd);
    }
    if let Some(chain) = host
        .chain
        .as_ref()
        .filter(|c| c.kind == crate::inventory::ChainKind::Command)
    {
        let cmd = match chain.command.as_deref() {
            Some(c) => q(c).map(|c| format!("_fd_t sh -c {c}")),
            None => Err("kind = \"command\" chain without a command".into()),
        };
        section("chain".into(), Target::ChainHeight, cmd);
    }

    let mut text = String::new();
    let _ = write!(
        text,
        "# fleetdeck probe batch: read by `sh -s` from stdin, never seen in a process list.\n\
         _fd_m='{marker}'\n\
         LC_ALL=C; TZ=UTC; export LC_ALL TZ\n\
         if command -v timeout >/dev/null 2>&1; then _fd_t() {{ timeout {COMMAND_SECONDS} \"$@\"; }}; \
         else _fd_t() {{ \"$@\"; }}; fi\n\
         _fd_b() {{ printf '%s begin %s\\n' \"$_fd_m\" \"$1\"; printf '%s begin %s\\n' \"$_fd_m\" \"$1\" >&2; }}\n\
         _fd_e() {{ printf '\\n%s end %s rc=%s\\n' \"$_fd_m\" \"$1\" \"$2\"; printf '\\n%s end %s\\n' \"$_fd_m\" \"$1\" >&2; }}\n\
         # One compound command, parsed whole before it runs; its stdin is /dev/null so no probe\n\
         # can swallow the rest of the script from the shell's stdin.\n\
         {{\n{body}}} </dev/null\n"
    );
    ProbeScript {
        text,
        marker: marker.to_string(),
        parts,
        service_names: host.services.iter().map(|s| s.name.clone()).collect(),
        mounts: host.disks.iter().map(|d| d.mount.clone()).collect(),
        backup_names: host.backups.iter().map(|b| b.name.clone()).collect(),
    }
}

/// The shell text of one service check (only for checks that run in the script).
fn service_command(check: &ServiceCheck) -> Result<String, String> {
    Ok(match check {
        ServiceCheck::Systemd { unit } => format!(
            "_fd_t systemctl show --no-pager --property={SYSTEMD_PROPERTIES} -- {}",
            q(unit)?
        ),
        ServiceCheck::DockerContainer { container } => format!(
            "_fd_t docker inspect --type container --format '{{{{.RestartCount}}}} {{{{json .State}}}}' -- {}",
            q(container)?
        ),
        ServiceCheck::Compose { file, service } => format!(
            "_fd_t docker compose -f {} ps --all --format json -- {}",
            q(file)?,
            q(service)?
        ),
        ServiceCheck::Pidfile { path } => {
            let f = q(path)?;
            format!(
                "if [ ! -e {f} ]; then echo nofile; elif [ ! -r {f} ]; then echo unreadable; \
                 else _fd_p=; read -r _fd_p _fd_x <{f}; case $_fd_p in \
                 ''|*[!0-9]*) printf 'badpid %s\\n' \"$_fd_p\";; \
                 *) if [ -d \"/proc/$_fd_p\" ] || kill -0 \"$_fd_p\" 2>/dev/null; \
                 then printf 'alive %s\\n' \"$_fd_p\"; else printf 'dead %s\\n' \"$_fd_p\"; fi;; \
                 esac; fi"
            )
        }
        // Not under `timeout`: pgrep skips itself, but `timeout … PATTERN` would match.
        ServiceCheck::Pattern { pattern } => format!("pgrep -f -- {}", q(pattern)?),
        ServiceCheck::Command { command } => format!("_fd_t sh -c {}", q(command)?),
        ServiceCheck::Https { url, .. } => format!(
            "_fd_t curl -sSk -o /dev/null -w '%{{http_code}}' --max-time {} {}",
            COMMAND_SECONDS - 2,
            q(url)?
        ),
        ServiceCheck::Dial { .. } | ServiceCheck::HttpGet { .. } | ServiceCheck::Invalid(_) => {
            return Err("not a script check".into());
        }
    })
}

/// One section as found in the output.
#[derive(Debug, Default, Clone)]
struct Section {
    body: String,
    /// Exit status from the end line; `None` when the end line never came.
    rc: Option<i32>,
}

/// Splits one stream into sections by marker lines. Lines outside any section are returned
/// separately (shell errors land there).
fn split_sections(out: &str, marker: &str) -> (HashMap<String, Section>, Vec<String>) {
    let mut found = HashMap::new();
    let mut stray = Vec::new();
    let mut open: Option<(String, Vec<&str>)> = None;
    for line in out.split('\n') {
        let framed = line
            .strip_prefix(marker)
            .and_then(|rest| rest.strip_prefix(' '));
        match framed.map(|r| r.split(' ').collect::<Vec<_>>()).as_deref() {
            Some(["begin", id]) => {
                if let Some((prev, lines)) = open.take() {
                    found.insert(
                        prev,
                        Section {
                            body: lines.join("\n"),
                            rc: None,
                        },
                    );
                }
                open = Some((id.to_string(), Vec::new()));
            }
            Some(["end", id, rest @ ..]) if open.as_ref().is_some_and(|(o, _)| o == id) => {
                let (id, lines) = open.take().expect("checked open");
                let rc = match rest {
                    [rc] => rc.strip_prefix("rc=").and_then(|n| n.parse::<i32>().ok()),
                    // stderr frames carry no status; a completed section counts as rc 0 there.
                    [] => Some(0),
                    _ => None,
                };
                found.insert(
                    id,
                    Section {
                        body: lines.join("\n"),
                        rc,
                    },
                );
            }
            _ => match open.as_mut() {
                Some((_, lines)) => lines.push(line),
                None if !line.trim().is_empty() => stray.push(line.to_string()),
                None => {}
            },
        }
    }
    if let Some((id, lines)) = open {
        found.insert(
            id,
            Section {
                body: lines.join("\n"),
                rc: None,
            },
        );
    }
    (found, stray)
}

/// What one section produced, handed to the per-target readers.
struct Got<'a> {
    out: &'a str,
    err: &'a str,
    rc: i32,
}

impl Got<'_> {
    /// The first line of stderr (or stdout), for details.
    fn why(&self) -> String {
        let line = first_line(self.err.trim_start());
        let line = if line.trim().is_empty() {
            first_line(self.out.trim_start())
        } else {
            line
        };
        let line = shorten(line.trim(), 200);
        match self.rc {
            124 => format!("timed out after {COMMAND_SECONDS}s"),
            127 if line.is_empty() => "command not found on host".to_string(),
            _ if line.is_empty() => format!("exit {}", self.rc),
            _ => line,
        }
    }
}

impl ProbeScript {
    /// The script text, to be fed on stdin to `sh -s`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The marker framing this build's sections.
    pub fn marker(&self) -> &str {
        &self.marker
    }

    /// Splits `output` into sections and parses each into its observation part. Never panics.
    pub fn parse(&self, output: &ExecOutput) -> ScriptResult {
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let (outs, _) = split_sections(&stdout, &self.marker);
        let (errs, stray) = split_sections(&stderr, &self.marker);

        let mut problems = Vec::new();
        if output.truncated() {
            problems.push(format!(
                "probe output truncated: {} bytes dropped",
                output.dropped_bytes
            ));
        }
        let missing_reason = if output.truncated() {
            "probe output was truncated before this section".to_string()
        } else {
            match output.status {
                None => "probe script was killed before this section".to_string(),
                Some(0) => "section missing from probe output".to_string(),
                Some(n) => format!("probe script exited {n} before this section"),
            }
        };
        match output.status {
            Some(0) => {}
            None => problems.push("probe script was killed (no exit status)".to_string()),
            Some(n) => problems.push(format!(
                "probe script exited {n}{}",
                stray
                    .first()
                    .map(|l| format!(": {}", shorten(l.trim(), 200)))
                    .unwrap_or_default()
            )),
        }
        if output.status == Some(0)
            && let Some(line) = stray.first()
        {
            problems.push(format!("probe shell said: {}", shorten(line.trim(), 200)));
        }

        let mut result = self.empty_result();
        for part in &self.parts {
            let got: Result<Got<'_>, String> = match (&part.unbuildable, outs.get(&part.id)) {
                (Some(e), _) => Err(e.clone()),
                (None, None) => Err(missing_reason.clone()),
                (None, Some(Section { rc: None, .. })) => {
                    Err("section cut off before it finished (truncated or killed)".to_string())
                }
                (None, Some(Section { body, rc: Some(rc) })) => Ok(Got {
                    out: body,
                    err: errs.get(&part.id).map(|s| s.body.as_str()).unwrap_or(""),
                    rc: *rc,
                }),
            };
            self.apply(&mut result, &part.target, got);
        }
        result.problems = problems;
        result
    }

    /// A result with every part errored by `reason` (the exec itself failed).
    pub fn failed(&self, reason: &str) -> ScriptResult {
        let mut result = self.empty_result();
        for part in &self.parts {
            let why = part
                .unbuildable
                .clone()
                .unwrap_or_else(|| reason.to_string());
            self.apply(&mut result, &part.target, Err(why));
        }
        result.problems.push(reason.to_string());
        result
    }

    fn empty_result(&self) -> ScriptResult {
        ScriptResult {
            host_time: Err("not probed".into()),
            load: Err("not probed".into()),
            uptime: Err("not probed".into()),
            disks: self
                .mounts
                .iter()
                .map(|m| DiskObs {
                    mount: m.clone(),
                    usage: Err("not probed".into()),
                })
                .collect(),
            services: vec![None; self.service_names.len()],
            backups: self
                .backup_names
                .iter()
                .map(|n| BackupObs {
                    name: n.clone(),
                    latest: Err("not probed".into()),
                    previous: None,
                })
                .collect(),
            chain_height: None,
            problems: Vec::new(),
        }
    }

    fn apply(&self, r: &mut ScriptResult, target: &Target, got: Result<Got<'_>, String>) {
        match target {
            Target::HostTime => r.host_time = simple(got, parse::parse_epoch),
            Target::Load => r.load = simple(got, parse::parse_loadavg),
            Target::Uptime => r.uptime = simple(got, parse::parse_uptime),
            Target::Disk(i) => r.disks[*i].usage = disk(got),
            Target::Backup(i) => {
                let (latest, previous) = match backup(got) {
                    Ok((l, p)) => (Ok(l), p),
                    Err(e) => (Err(e), None),
                };
                r.backups[*i].latest = latest;
                r.backups[*i].previous = previous;
            }
            Target::Service(i, check) => {
                let reading = match got {
                    Ok(g) => service(check, &g),
                    Err(e) => ServiceReading::new(ServiceState::Unknown, e),
                };
                r.services[*i] = Some(reading.into_obs(&self.service_names[*i]));
            }
            Target::ChainHeight => {
                r.chain_height = Some(match got {
                    Ok(g) if g.rc == 0 => match parse::parse_height(g.out) {
                        Ok(h) => Metric::Value(h),
                        Err(e) => Metric::Error(e.to_string()),
                    },
                    Ok(g) => Metric::Error(format!("height command failed: {}", g.why())),
                    Err(e) => Metric::Error(e),
                });
            }
        }
    }
}

/// A section whose command must exit 0 and whose stdout one parser reads.
fn simple<T>(
    got: Result<Got<'_>, String>,
    parser: fn(&str) -> Result<T, parse::ParseError>,
) -> Result<T, String> {
    let g = got?;
    if g.rc != 0 {
        return Err(g.why());
    }
    parser(g.out).map_err(|e| e.to_string())
}

fn disk(got: Result<Got<'_>, String>) -> Result<DiskUsage, String> {
    let g = got?;
    if g.rc != 0 {
        return Err(g.why());
    }
    let mut all = parse::parse_df(g.out).map_err(|e| e.to_string())?;
    Ok(all.remove(0))
}

type Newest = (
    Option<crate::observation::BackupFile>,
    Option<crate::observation::BackupFile>,
);

fn backup(got: Result<Got<'_>, String>) -> Result<Newest, String> {
    let g = got?;
    // The pipeline's status is tail's; find's failures show as stderr with no listing.
    if g.out.trim().is_empty() && (g.rc != 0 || !g.err.trim().is_empty()) {
        return Err(g.why());
    }
    parse::parse_backup_listing(g.out).map_err(|e| e.to_string())
}

fn service(check: &ServiceCheck, g: &Got<'_>) -> ServiceReading {
    let unknown = |d: String| ServiceReading::new(ServiceState::Unknown, d);
    let parsed = |r: Result<ServiceReading, parse::ParseError>, tool: &str| {
        r.unwrap_or_else(|e| unknown(format!("unreadable {tool} output: {e}")))
    };
    match check {
        ServiceCheck::Systemd { .. } if g.rc == 0 => {
            parsed(parse::parse_systemctl_show(g.out), "systemctl")
        }
        ServiceCheck::DockerContainer { .. } if g.rc == 0 => {
            parsed(parse::parse_docker_inspect_state(g.out), "docker inspect")
        }
        ServiceCheck::DockerContainer { .. }
            if g.err.contains("No such object") || g.err.contains("No such container") =>
        {
            unknown("container not found".into())
        }
        ServiceCheck::Compose { .. } if g.rc == 0 => {
            parsed(parse::parse_compose_ps(g.out), "docker compose ps")
        }
        ServiceCheck::Pidfile { .. } => parsed(parse::parse_pidfile_check(g.out), "pidfile check"),
        ServiceCheck::Pattern { .. } if g.rc == 0 || g.rc == 1 => {
            parsed(parse::parse_pgrep(g.out), "pgrep")
        }
        ServiceCheck::Command { .. } => {
            if g.rc == 0 {
                let line = shorten(first_line(g.out.trim_start()).trim(), 200);
                let detail = if line.is_empty() {
                    "exit 0".to_string()
                } else {
                    line
                };
                ServiceReading::new(ServiceState::Running, detail)
            } else if g.rc == 124 {
                ServiceReading::new(ServiceState::Failed, g.why())
            } else {
                ServiceReading::new(ServiceState::Failed, format!("exit {}: {}", g.rc, g.why()))
            }
        }
        ServiceCheck::Https { expect_status, .. } => https(g, *expect_status),
        _ => unknown(g.why()),
    }
}

/// `curl -w '%{http_code}'` prints the status, or `000` when no HTTP reply came (then curl's
/// exit status says why).
fn https(g: &Got<'_>, expect: u16) -> ServiceReading {
    let code = g.out.trim().parse::<u16>().unwrap_or(0);
    if code != 0 {
        return if code == expect {
            ServiceReading::new(ServiceState::Running, format!("HTTP {code}"))
        } else {
            ServiceReading::new(ServiceState::Failed, format!("HTTP {code}"))
        };
    }
    match g.rc {
        7 => ServiceReading::new(
            ServiceState::Stopped,
            format!("connection refused: {}", g.why()),
        ),
        127 => ServiceReading::new(ServiceState::Unknown, "curl not found on host"),
        // 6: cannot resolve, 28: timeout, 35/60: TLS failures, 52: empty reply…
        0 => ServiceReading::new(ServiceState::Unknown, "curl printed no status"),
        rc => ServiceReading::new(ServiceState::Failed, format!("curl exit {rc}: {}", g.why())),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::process::{Command, Stdio};

    use super::*;
    use crate::inventory::{
        BackupSet, Chain, ChainKind, Disk, NodeRole, Service, ServiceCommands, TransportKind,
    };

    fn host() -> Host {
        Host {
            name: "t".into(),
            address: "127.0.0.1".into(),
            port: None,
            user: None,
            identity_files: vec![],
            transport: TransportKind::Local,
            profile: None,
            groups: vec![],
            consensus_group: None,
            role: NodeRole::Free,
            interval: Duration::from_secs(5),
            services: vec![],
            chain: None,
            disks: vec![],
            backups: vec![],
        }
    }

    fn svc(name: &str, kind: ServiceKind) -> Service {
        Service {
            name: name.into(),
            kind,
            commands: ServiceCommands::default(),
        }
    }

    /// Runs a script the way the transports do (`sh -s`, script on stdin) on this machine.
    fn run(script: &ProbeScript) -> ExecOutput {
        let mut child = Command::new("sh")
            .arg("-s")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.text().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        ExecOutput {
            status: out.status.code().map(|c| c as u32),
            stdout: out.stdout,
            stderr: out.stderr,
            dropped_bytes: 0,
        }
    }

    #[test]
    fn markers_are_fresh_per_build() {
        let h = host();
        let (a, b) = (build(&h), build(&h));
        assert_ne!(a.marker(), b.marker());
        assert!(a.marker().starts_with("@@fleetdeck-") && a.marker().ends_with("@@"));
        assert!(a.text().contains(a.marker()));
    }

    #[test]
    fn split_reconstructs_bodies_exactly() {
        let m = "@@M@@";
        let out = format!(
            "{m} begin a\nx\ny\n\n{m} end a rc=0\n{m} begin b\nno newline\n{m} end b rc=3\n\
             {m} begin c\n\n{m} end c rc=0\n{m} begin d\n\n\n{m} end d rc=0\n{m} begin e\npartial"
        );
        let (s, stray) = split_sections(&out, m);
        assert!(stray.is_empty());
        assert_eq!((s["a"].body.as_str(), s["a"].rc), ("x\ny\n", Some(0)));
        assert_eq!((s["b"].body.as_str(), s["b"].rc), ("no newline", Some(3)));
        assert_eq!(s["c"].body, "");
        assert_eq!(s["d"].body, "\n");
        assert_eq!((s["e"].body.as_str(), s["e"].rc), ("partial", None));
        // A marker with a different token is just data.
        let (s, _) = split_sections("@@M@@ begin a\n@@X@@ end a rc=0\n", m);
        assert_eq!(s["a"].rc, None);
    }

    #[test]
    fn runs_on_this_machine() {
        let dir = tempfile::tempdir().unwrap();
        for (i, age) in [(1, 300), (2, 200), (3, 100)] {
            let p = dir.path().join(format!("db-{i}-postgres-backup.sql.gz"));
            std::fs::write(&p, vec![b'x'; i * 10]).unwrap();
            let t = std::time::SystemTime::now() - Duration::from_secs(age);
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        let pidfile = dir.path().join("me.pid");
        std::fs::write(&pidfile, format!("{}\n", std::process::id())).unwrap();
        let mut h = host();
        h.disks = vec![
            Disk { mount: "/".into() },
            Disk {
                mount: "/nonexistent-fleetdeck".into(),
            },
            Disk {
                mount: "/tmp".into(),
            },
        ];
        h.services = vec![
            svc(
                "pid",
                ServiceKind::Process {
                    pidfile: Some(pidfile.display().to_string()),
                    pattern: None,
                },
            ),
            svc(
                "nopid",
                ServiceKind::Process {
                    pidfile: Some(dir.path().join("none.pid").display().to_string()),
                    pattern: None,
                },
            ),
            // The probe itself must not match: its text only travels on stdin.
            svc(
                "self",
                ServiceKind::Process {
                    pidfile: None,
                    pattern: Some("fleetdeck-no-such-process-xyz".into()),
                },
            ),
            svc(
                "ok",
                ServiceKind::Command {
                    command: "echo all good; exit 0".into(),
                },
            ),
            svc(
                "bad",
                ServiceKind::Command {
                    command: "echo oops >&2; exit 3".into(),
                },
            ),
            svc(
                "port",
                ServiceKind::Port {
                    address: "127.0.0.1".into(),
                    port: 1,
                },
            ),
            svc(
                "stdin-eater",
                ServiceKind::Command {
                    command: "cat".into(),
                },
            ),
        ];
        h.backups = vec![
            BackupSet {
                name: "pg".into(),
                dir: dir.path().display().to_string(),
                pattern: "*-postgres-backup.sql.gz".into(),
                every: Duration::from_secs(3600),
            },
            BackupSet {
                name: "empty".into(),
                dir: dir.path().display().to_string(),
                pattern: "*.tar".into(),
                every: Duration::from_secs(3600),
            },
            BackupSet {
                name: "gone".into(),
                dir: "/nonexistent-fleetdeck".into(),
                pattern: "*".into(),
                every: Duration::from_secs(3600),
            },
        ];
        h.chain = Some(Chain {
            kind: ChainKind::Command,
            rpc: None,
            command: Some("echo 0x2a".into()),
            group_id: 1,
        });
        let script = build(&h);
        let out = run(&script);
        let r = script.parse(&out);
        assert!(
            r.problems.is_empty(),
            "{:?}\n{}",
            r.problems,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(r.host_time.unwrap() > 1_700_000_000);
        assert!(r.load.is_ok());
        assert!(r.uptime.unwrap() > Duration::ZERO);
        let root = r.disks[0].usage.as_ref().unwrap();
        assert_eq!(root.mounted_on, "/");
        assert!(root.total_bytes > 0);
        let missing = r.disks[1].usage.as_ref().unwrap_err();
        assert!(missing.contains("No such file"), "{missing}");
        assert!(r.disks[2].usage.is_ok(), "one missing mount hides no other");

        let s = |i: usize| r.services[i].as_ref().unwrap();
        assert_eq!(s(0).state, ServiceState::Running, "{:?}", s(0));
        assert_eq!(s(0).detail, format!("pid {}", std::process::id()));
        assert_eq!(s(1).state, ServiceState::Stopped);
        assert_eq!(
            s(2).state,
            ServiceState::Stopped,
            "pgrep matched the probe: {:?}",
            s(2)
        );
        assert_eq!(
            (s(3).state, s(3).detail.as_str()),
            (ServiceState::Running, "all good")
        );
        assert_eq!(
            (s(4).state, s(4).detail.as_str()),
            (ServiceState::Failed, "exit 3: oops")
        );
        assert!(
            r.services[5].is_none(),
            "port services are probed over the network"
        );
        // `cat` reads /dev/null, not the rest of the script.
        assert_eq!(s(6).state, ServiceState::Running);

        let pg = r.backups[0].latest.as_ref().unwrap().as_ref().unwrap();
        assert!(
            pg.path.ends_with("db-3-postgres-backup.sql.gz"),
            "{}",
            pg.path
        );
        assert_eq!(pg.size_bytes, 30);
        assert!(
            r.backups[0]
                .previous
                .as_ref()
                .unwrap()
                .path
                .ends_with("db-2-postgres-backup.sql.gz")
        );
        assert_eq!(r.backups[1].latest, Ok(None));
        assert!(
            r.backups[2]
                .latest
                .as_ref()
                .unwrap_err()
                .contains("no such directory")
        );
        assert_eq!(r.chain_height, Some(Metric::Value(42)));
    }

    /// Inventory values are data, never shell code: none of these may run `touch`.
    #[test]
    fn inventory_values_cannot_inject() {
        let dir = tempfile::tempdir().unwrap();
        let canary = dir.path().join("pwned");
        let c = canary.display().to_string();
        let evil = [
            format!("x'; touch {c}; echo '"),
            format!("x\"; touch {c}; echo \""),
            format!("$(touch {c})"),
            format!("`touch {c}`"),
            format!("x\ntouch {c}\n"),
            format!("-x; touch {c}"),
            format!("{{a,b}}; touch {c} #"),
        ];
        let mut h = host();
        for e in &evil {
            h.disks.push(Disk { mount: e.clone() });
            h.services
                .push(svc("u", ServiceKind::Systemd { unit: e.clone() }));
            h.services.push(svc(
                "d",
                ServiceKind::Docker {
                    container: Some(e.clone()),
                    compose_file: None,
                    compose_service: None,
                },
            ));
            h.services.push(svc(
                "c",
                ServiceKind::Docker {
                    container: None,
                    compose_file: Some(e.clone()),
                    compose_service: Some(e.clone()),
                },
            ));
            h.services.push(svc(
                "p",
                ServiceKind::Process {
                    pidfile: Some(e.clone()),
                    pattern: None,
                },
            ));
            h.services.push(svc(
                "g",
                ServiceKind::Process {
                    pidfile: None,
                    pattern: Some(e.clone()),
                },
            ));
            h.services.push(svc(
                "h",
                ServiceKind::Http {
                    url: format!("https://127.0.0.1:1/{e}"),
                    expect_status: 200,
                },
            ));
            h.backups.push(BackupSet {
                name: "b".into(),
                dir: e.clone(),
                pattern: e.clone(),
                every: Duration::from_secs(60),
            });
        }
        let script = build(&h);
        let out = run(&script);
        assert!(!canary.exists(), "an inventory value ran as shell code");
        let r = script.parse(&out);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert!(r.host_time.is_ok(), "the frame survived");
        assert_eq!(r.disks.len(), evil.len());
        assert!(r.disks.iter().all(|d| d.usage.is_err()));
        assert!(r.services.iter().all(Option::is_some));
    }

    /// An operator command runs as written, inside its own `sh -c`: quotes, semicolons and an
    /// `exit` stay inside it.
    #[test]
    fn operator_commands_run_as_written_and_stay_contained() {
        let mut h = host();
        h.services = vec![
            svc(
                "q",
                ServiceKind::Command {
                    command: r#"echo "it's; fine" $((1+1))"#.into(),
                },
            ),
            svc(
                "x",
                ServiceKind::Command {
                    command: "exit 0; echo never".into(),
                },
            ),
        ];
        h.disks = vec![Disk { mount: "/".into() }];
        let script = build(&h);
        let r = script.parse(&run(&script));
        assert_eq!(r.services[0].as_ref().unwrap().detail, "it's; fine 2");
        assert_eq!(r.services[1].as_ref().unwrap().detail, "exit 0");
        assert!(
            r.disks[0].usage.is_ok(),
            "an exit in a command does not end the batch"
        );
    }

    #[test]
    fn nul_bytes_make_an_explicit_error() {
        let mut h = host();
        h.disks = vec![
            Disk {
                mount: "/a\0b".into(),
            },
            Disk { mount: "/".into() },
        ];
        let script = build(&h);
        assert!(!script.text().contains('\0'));
        let r = script.parse(&run(&script));
        assert!(
            r.disks[0].usage.as_ref().unwrap_err().contains("nul"),
            "{:?}",
            r.disks[0]
        );
        assert!(r.disks[1].usage.is_ok());
    }

    #[test]
    fn missing_and_cut_sections_are_errors_not_zeros() {
        let mut h = host();
        h.disks = vec![Disk { mount: "/".into() }];
        h.services = vec![svc(
            "u",
            ServiceKind::Systemd {
                unit: "x.service".into(),
            },
        )];
        h.backups = vec![BackupSet {
            name: "b".into(),
            dir: "/".into(),
            pattern: "*".into(),
            every: Duration::from_secs(60),
        }];
        let script = build(&h);
        let full = run(&script);
        // Cut the output in the middle of the df section, as a truncated capture would.
        let text = String::from_utf8_lossy(&full.stdout).to_string();
        let cut_at = text.find("begin disk.0").unwrap() + 40;
        let cut = ExecOutput {
            status: Some(0),
            stdout: text.as_bytes()[..cut_at].to_vec(),
            stderr: vec![],
            dropped_bytes: 1234,
        };
        let r = script.parse(&cut);
        assert!(r.host_time.is_ok());
        assert!(r.disks[0].usage.as_ref().unwrap_err().contains("cut off"));
        assert!(
            r.backups[0]
                .latest
                .as_ref()
                .unwrap_err()
                .contains("truncated")
        );
        let s = r.services[0].as_ref().unwrap();
        assert_eq!(s.state, ServiceState::Unknown);
        assert!(s.detail.contains("truncated"), "{}", s.detail);
        assert!(r.problems.iter().any(|p| p.contains("1234 bytes dropped")));

        // Nothing at all (the shell was killed).
        let r = script.parse(&ExecOutput::default());
        assert!(r.load.unwrap_err().contains("killed"));
        assert!(r.problems.iter().any(|p| p.contains("killed")));

        // Garbage instead of a script's output.
        let junk = ExecOutput {
            status: Some(2),
            stdout: b"\xff\xfe random".to_vec(),
            stderr: b"sh: 1: Syntax error: end of file unexpected\n".to_vec(),
            dropped_bytes: 0,
        };
        let r = script.parse(&junk);
        assert!(r.uptime.unwrap_err().contains("exited 2"));
        assert!(r.problems[0].contains("Syntax error"), "{:?}", r.problems);

        let r = script.failed("command timed out after 10s");
        assert_eq!(r.disks[0].usage, Err("command timed out after 10s".into()));
        assert_eq!(r.services[0].as_ref().unwrap().state, ServiceState::Unknown);
    }

    #[test]
    fn service_tool_failures_read_well() {
        let g = |out, err, rc| Got { out, err, rc };
        // Recorded on this machine (no systemd as PID 1).
        let no_systemd = "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n";
        let r = service(
            &ServiceCheck::Systemd { unit: "x".into() },
            &g("", no_systemd, 1),
        );
        assert_eq!(r.state, ServiceState::Unknown);
        assert!(
            r.detail.starts_with("System has not been booted"),
            "{}",
            r.detail
        );
        // Recorded on this machine: docker CLI without a daemon.
        let no_daemon = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n";
        let r = service(
            &ServiceCheck::DockerContainer {
                container: "web".into(),
            },
            &g("\n", no_daemon, 1),
        );
        assert!(r.detail.starts_with("Cannot connect to the Docker daemon"));
        let r = service(
            &ServiceCheck::DockerContainer {
                container: "web".into(),
            },
            &g("\n", "Error: No such object: web\n", 1),
        );
        assert_eq!(r.detail, "container not found");
        let r = service(
            &ServiceCheck::Pattern {
                pattern: "(".into(),
            },
            &g("", "pgrep: regex error: Unmatched ( or \\(\n", 2),
        );
        assert_eq!(r.state, ServiceState::Unknown);
        let r = service(
            &ServiceCheck::Command {
                command: "x".into(),
            },
            &g("", "", 124),
        );
        assert_eq!(
            (r.state, r.detail.as_str()),
            (ServiceState::Failed, "timed out after 10s")
        );
        let r = service(&ServiceCheck::Systemd { unit: "x".into() }, &g("", "", 127));
        assert_eq!(r.detail, "command not found on host");

        let https = ServiceCheck::Https {
            url: "https://x".into(),
            expect_status: 200,
        };
        assert_eq!(
            service(&https, &g("200", "", 0)).state,
            ServiceState::Running
        );
        let r = service(&https, &g("503", "", 0));
        assert_eq!(
            (r.state, r.detail.as_str()),
            (ServiceState::Failed, "HTTP 503")
        );
        let refused = "curl: (7) Failed to connect to 127.0.0.1 port 1 after 0 ms: Couldn't connect to server\n";
        assert_eq!(
            service(&https, &g("000", refused, 7)).state,
            ServiceState::Stopped
        );
        assert_eq!(
            service(&https, &g("000", "", 28)).state,
            ServiceState::Failed
        );
    }

    #[test]
    fn classification() {
        let http = |u: &str| {
            ServiceCheck::of(&ServiceKind::Http {
                url: u.into(),
                expect_status: 200,
            })
        };
        assert!(matches!(
            http("http://127.0.0.1/"),
            ServiceCheck::HttpGet { .. }
        ));
        assert!(matches!(http("HTTPS://x/"), ServiceCheck::Https { .. }));
        assert!(matches!(http("ftp://x/"), ServiceCheck::Invalid(_)));
        let none = ServiceCheck::of(&ServiceKind::Docker {
            container: None,
            compose_file: None,
            compose_service: None,
        });
        assert!(!none.in_script());
    }
}

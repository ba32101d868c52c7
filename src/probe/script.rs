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
//! value taken from the inventory is shell-quoted with `shlex`; every path on the host goes
//! through [`super::host_path`] (the one place that decides what a leading `~` means);
//! operator-supplied commands run as one quoted argument of `sh -c`, so they cannot break the
//! script's frame. It must not
//! run anything itself (the caller execs [`ProbeScript::text`]), nor read clocks; the only
//! impurity is the random marker chosen by [`build`].
//!
//! Callers: [`super::poll_host`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::PollPlan;
use super::parse::{self, ServiceReading, first_line, shorten};
use super::{certs, facts, logs, posture};
use crate::host_path::shell_word as host_path;
use crate::inventory::{Host, LogOrigin, LogSource, ServiceKind};
use crate::observation::{
    BackupObs, CertObs, DiskObs, DiskUsage, FailureSource, HostFacts, LoadAvg, LogObs, Metric,
    ServiceFailure, ServiceObs, ServiceState,
};
use crate::transport::ExecOutput;

mod read;
#[cfg(test)]
use read::{Got, disks, service, split_sections};

/// Seconds every external probe command may run (via `timeout`, when the host has it).
pub const COMMAND_SECONDS: u64 = 10;

/// Lines of a failed service's own output or journal kept as its failure output.
pub const FAILURE_LINES: usize = 5;

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
    /// One `df` of these disks (inventory indices, in its argument order).
    Disks(Vec<usize>),
    Service(usize, ServiceCheck),
    Backup(usize),
    ChainHeight,
    /// The journal of failed systemd service `i` (present only when it failed).
    ServiceJournal(usize),
    Fact(Fact),
    /// The host's local UTC offset, for FISCO log times.
    LocalOffset,
    Cert(usize),
    Log(usize),
    Posture(PosturePart),
}

/// One posture section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PosturePart {
    Sshd,
    Ports,
    History,
}

/// One facts section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fact {
    Kernel,
    Os,
    Cpu,
    Memory,
    Filesystems,
    Interfaces,
    Logins,
    Dmi,
}

/// One section: its id in the output, what it feeds, and an error when it could not even be
/// written (a value that cannot be shell-quoted), in which case it is not in the script.
#[derive(Debug, Clone)]
struct Part {
    id: String,
    target: Target,
    unbuildable: Option<String>,
    /// Written only when there is something to say (a failed unit's journal): its absence is
    /// no error.
    optional: bool,
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
    plan: PollPlan,
    certs: Vec<(String, String)>,
    logs: Vec<LogSource>,
    /// Whether the posture sections are in this build.
    posture: bool,
}

/// The batch's output, split back into observation parts.
#[derive(Debug, Clone)]
pub struct ScriptResult {
    /// Host clock, epoch seconds; `Ok(None)` when this poll did not read it (the plan's
    /// `clock`): the poller derives it from the uptime ([`super::Schedule::host_time`]).
    pub host_time: Result<Option<i64>, String>,
    /// `/proc/loadavg`.
    pub load: Result<LoadAvg, String>,
    /// `/proc/uptime`.
    pub uptime: Result<Duration, String>,
    /// One per configured disk, in inventory order.
    pub disks: Vec<DiskObs>,
    /// One per configured service, in inventory order; `None` for services the script does not
    /// check (port and plain-http services, probed over the network instead).
    pub services: Vec<Option<ServiceObs>>,
    /// One per configured backup set, in inventory order, when the plan included them.
    pub backups: Option<Vec<BackupObs>>,
    /// Height of a `kind = "command"` chain, when the host has one.
    pub chain_height: Option<Metric<u64>>,
    /// Host facts, when the plan included them.
    pub facts: Option<HostFacts>,
    /// The host's local UTC offset in seconds, when logs were read.
    pub utc_offset: Option<Result<i32, String>>,
    /// One per configured certificate, when the plan included them.
    pub certs: Option<Vec<CertObs>>,
    /// One per configured log, when the plan included them.
    pub logs: Option<Vec<LogObs>>,
    /// The security posture, when the plan included it and the host has it enabled.
    pub posture: Option<crate::posture::PostureObs>,
    /// Output of the services found failed.
    pub service_failures: Vec<ServiceFailure>,
    /// Problems with the batch itself (truncation, a non-zero exit, stray shell errors).
    pub problems: Vec<String>,
}

/// Builds the full probe script for `host` (facts, certificates and logs included), with a
/// fresh random marker.
pub fn build(host: &Host) -> ProbeScript {
    build_planned(host, PollPlan::ALL)
}

/// Builds the probe script for `host` with the slow-cadence parts `plan` asks for.
pub fn build_planned(host: &Host, plan: PollPlan) -> ProbeScript {
    build_with_marker(
        host,
        &format!("@@fleetdeck-{:016x}@@", rand::random::<u64>()),
        plan,
    )
}

/// `s` quoted for `sh`; `Err` only for a NUL byte, which no shell argument can carry.
fn q(s: &str) -> Result<String, String> {
    shlex::try_quote(s)
        .map(|c| c.into_owned())
        .map_err(|e| format!("{e}: {s:?}"))
}

/// The script body and its parts, as they are written.
struct Body {
    text: String,
    parts: Vec<Part>,
}

impl Body {
    /// A framed section running `cmd`, or, when it could not be written, an error for its part.
    fn section(&mut self, id: String, target: Target, cmd: Result<String, String>) {
        let unbuildable = match cmd {
            Ok(cmd) => {
                let _ = writeln!(self.text, "_fd_b {id}\n{cmd}\n_fd_e {id} $?");
                None
            }
            Err(e) => Some(format!("not probed: {e}")),
        };
        self.parts.push(Part {
            id,
            target,
            unbuildable,
            optional: false,
        });
    }

    /// A part whose section the shell writes only in some cases (a failed unit's journal,
    /// the per-mount df after a failed `df` of all mounts): its absence is no error.
    fn optional(&mut self, id: String, target: Target) {
        self.parts.push(Part {
            id,
            target,
            unbuildable: None,
            optional: true,
        });
    }
}

/// Whether a script of `plan` reads the host's wall clock.
fn reads_clock(plan: PollPlan) -> bool {
    plan.clock || plan.logs
}

/// `df` of one mount (`m` quoted), under `timeout` because df hangs on a dead NFS server.
fn df_command(m: &str) -> String {
    format!("_fd_t df -P -k -- {m}")
}

/// The disks: one `df` for all of them, so a poll costs one `timeout` and one `df` however
/// many mounts the host has. df prints its rows in argument order and an error on stderr for
/// a mount it cannot read, skipping its row — so when it does not exit 0 (a missing mount, a
/// hung one killed by `timeout`), each mount gets its own `df` right after, and a missing or
/// hung mount is still its own error that cannot shift or hide the others.
fn disk_sections(body: &mut Body, host: &Host) {
    let mut batch: Vec<(usize, String)> = Vec::new();
    for (i, disk) in host.disks.iter().enumerate() {
        match host_path(&disk.mount) {
            Ok(m) => batch.push((i, m)),
            Err(e) => body.section(format!("disk.{i}"), Target::Disk(i), Err(e)),
        }
    }
    if let [(i, m)] = batch.as_slice() {
        body.section(format!("disk.{i}"), Target::Disk(*i), Ok(df_command(m)));
        return;
    }
    if batch.is_empty() {
        return;
    }
    let all: Vec<&str> = batch.iter().map(|(_, m)| m.as_str()).collect();
    let _ = writeln!(
        body.text,
        "_fd_b disks\n{}\n_fd_r=$?\n_fd_e disks $_fd_r\nif [ \"$_fd_r\" != 0 ]; then",
        df_command(&all.join(" "))
    );
    body.parts.push(Part {
        id: "disks".into(),
        target: Target::Disks(batch.iter().map(|(i, _)| *i).collect()),
        unbuildable: None,
        optional: false,
    });
    for (i, m) in &batch {
        let id = format!("disk.{i}");
        let _ = writeln!(body.text, "_fd_b {id}\n{}\n_fd_e {id} $?", df_command(m));
        body.optional(id, Target::Disk(*i));
    }
    body.text.push_str("fi\n");
}

/// The shell of one systemd unit's reading (`unit` quoted): `systemctl show` kept in `_fd_s`,
/// so the unit's journal can be read when (and only when) it failed.
fn systemd_show(units: &str) -> String {
    format!("$($_fd_to systemctl show --no-pager --property={SYSTEMD_PROPERTIES} -- {units})")
}

/// One `systemctl show` for every systemd unit of the host (when there are two or more),
/// before the services: its output is one block of properties per unit, in argument order,
/// separated by blank lines (an unknown unit too, with `LoadState=not-found`). The blocks
/// are split with parameter expansions (no fork) into each unit's own section. When it does
/// not exit 0, or gives another number of blocks, each unit is read on its own as before —
/// except after a timeout: a hung systemctl (PID 1 or D-Bus busy) hangs for every unit alike,
/// so each unit reads "timed out" at once instead of costing another timeout each.
fn systemd_batch(body: &mut Body, units: &[String]) {
    let _ = writeln!(
        body.text,
        "_fd_b svc.systemd\n_fd_x={}; _fd_sr=$?\n_fd_e svc.systemd $_fd_sr\n\
         _fd_ok=; _fd_y=$_fd_x; _fd_n=0\n\
         if [ \"$_fd_sr\" = 0 ]; then while _fd_next; do _fd_n=$((_fd_n + 1)); done; \
         [ \"$_fd_n\" = {} ] && _fd_ok=1; fi\n_fd_y=$_fd_x",
        systemd_show(&units.join(" ")),
        units.len()
    );
}

/// The section of systemd unit `i` (`unit` quoted), taking its block of the batch when there
/// is one, and the journal of the unit when it failed.
fn systemd_section(body: &mut Body, i: usize, check: ServiceCheck, unit: &str, batched: bool) {
    let show = systemd_show(unit);
    let read = if batched {
        format!(
            "if [ -n \"$_fd_ok\" ]; then _fd_next; _fd_s=$_fd_u; _fd_r=0; \
             elif [ \"$_fd_sr\" = 124 ]; then _fd_s=; _fd_r=124; \
             else _fd_s={show}; _fd_r=$?; fi"
        )
    } else {
        format!("_fd_s={show}; _fd_r=$?")
    };
    body.section(
        format!("svc.{i}"),
        Target::Service(i, check),
        Ok(format!("{read}; printf '%s\\n' \"$_fd_s\"; _fd_rc $_fd_r")),
    );
    let _ = writeln!(
        body.text,
        "case $_fd_s in *ActiveState=failed*|*SubState=auto-restart*) \
         _fd_b svcj.{i}; _fd_t journalctl -u {unit} -n {FAILURE_LINES} --no-pager \
         -o short-iso; _fd_e svcj.{i} $?;; esac"
    );
}

fn build_with_marker(host: &Host, marker: &str, plan: PollPlan) -> ProbeScript {
    let mut body = Body {
        text: String::new(),
        parts: Vec::new(),
    };
    let mut journals: Vec<usize> = Vec::new();

    // `date` is a fork and an exec on every poll; between readings of the clock (its own
    // cadence, and every poll that tails logs, whose windows need it) the uptime read below
    // dates the poll. Without a readable /proc/uptime, `date` it is.
    let time = if reads_clock(plan) {
        "date +%s"
    } else {
        "[ -r /proc/uptime ] || date +%s"
    };
    body.section("time".into(), Target::HostTime, Ok(time.into()));
    // `read` is a shell builtin: no fork for these two.
    body.section(
        "loadavg".into(),
        Target::Load,
        Ok("read -r _fd_l </proc/loadavg && printf '%s\\n' \"$_fd_l\"".into()),
    );
    body.section(
        "uptime".into(),
        Target::Uptime,
        Ok("read -r _fd_l </proc/uptime && printf '%s\\n' \"$_fd_l\"".into()),
    );
    disk_sections(&mut body, host);
    let checks: Vec<ServiceCheck> = host
        .services
        .iter()
        .map(|svc| ServiceCheck::of(&svc.kind))
        .collect();
    let units: Vec<Option<String>> = checks
        .iter()
        .map(|c| match c {
            ServiceCheck::Systemd { unit } => q(unit).ok(),
            _ => None,
        })
        .collect();
    let batched = units.iter().flatten().count() >= 2;
    if batched {
        let all: Vec<String> = units.iter().flatten().cloned().collect();
        systemd_batch(&mut body, &all);
    }
    for (i, check) in checks.into_iter().enumerate() {
        if !check.in_script() {
            continue;
        }
        match (&check, &units[i]) {
            (ServiceCheck::Systemd { .. }, Some(unit)) => {
                systemd_section(&mut body, i, check.clone(), unit, batched);
                journals.push(i);
            }
            _ => {
                let cmd = service_command(&check);
                body.section(format!("svc.{i}"), Target::Service(i, check), cmd);
            }
        }
    }
    // The newest-file listing forks `find | sort | tail` per set for a value that changes when
    // a backup lands: read on its own slower cadence (`PollPlan::backups`).
    if plan.backups {
        for (i, b) in host.backups.iter().enumerate() {
            let cmd = (|| -> Result<String, String> {
                let dir = host_path(&b.dir)?;
                let pattern = q(&b.pattern)?;
                // Only the newest two lines leave the host, however many backups the directory
                // holds; find's own errors (no -printf in busybox, permission denied) go to stderr.
                Ok(format!(
                    "if [ -d {dir} ]; then _fd_t find {dir} -maxdepth 1 -type f -name {pattern} \
                     -printf '%T@ %s %p\\n' | sort -n | tail -n 2; \
                     else printf 'no such directory: %s\\n' {dir} >&2; false; fi"
                ))
            })();
            body.section(format!("backup.{i}"), Target::Backup(i), cmd);
        }
    }
    let mut section =
        |id: String, target: Target, cmd: Result<String, String>| body.section(id, target, cmd);
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
    if plan.facts {
        for (id, fact, cmd) in [
            // uname is one system call, it cannot hang: no `timeout` (one exec less).
            (
                "fact.kernel",
                Fact::Kernel,
                facts::UNAME_COMMAND.to_string(),
            ),
            ("fact.os", Fact::Os, facts::OS_COMMAND.to_string()),
            ("fact.cpu", Fact::Cpu, facts::CPU_COMMAND.to_string()),
            ("fact.memory", Fact::Memory, facts::MEM_COMMAND.to_string()),
            (
                "fact.fs",
                Fact::Filesystems,
                format!("_fd_t {}", facts::DF_COMMAND),
            ),
            ("fact.net", Fact::Interfaces, facts::NET_COMMAND.to_string()),
            ("fact.logins", Fact::Logins, facts::LAST_COMMAND.to_string()),
            ("fact.dmi", Fact::Dmi, facts::DMI_COMMAND.to_string()),
        ] {
            section(id.into(), Target::Fact(fact), Ok(cmd));
        }
    }
    if plan.certs {
        for (i, c) in host.certs.iter().enumerate() {
            let cmd = host_path(&c.path)
                .map(|p| format!("_fd_t openssl {} -in {p}", certs::OPENSSL_ARGS));
            section(format!("cert.{i}"), Target::Cert(i), cmd);
        }
    }
    if plan.logs && !host.logs.is_empty() {
        section(
            "tz".into(),
            Target::LocalOffset,
            Ok("_fd_local date +%z".into()),
        );
        for (i, l) in host.logs.iter().enumerate() {
            let quoted = match &l.origin {
                LogOrigin::Unit(u) => q(u),
                LogOrigin::File(f) => host_path(f),
            };
            let cmd = quoted.map(|q| format!("_fd_t {}", logs::tail_command(l, &q)));
            section(format!("log.{i}"), Target::Log(i), cmd);
        }
    }
    let with_posture = plan.posture && host.posture.enabled;
    if with_posture {
        let sshd = match &host.posture.sshd_config {
            Some(path) => host_path(path).map(|p| posture::sshd_command(Some(&p))),
            None => Ok(posture::sshd_command(None)),
        };
        section(
            "posture.sshd".into(),
            Target::Posture(PosturePart::Sshd),
            sshd,
        );
        section(
            "posture.ports".into(),
            Target::Posture(PosturePart::Ports),
            Ok(posture::PORTS_COMMAND.into()),
        );
        section(
            "posture.history".into(),
            Target::Posture(PosturePart::History),
            Ok(posture::HISTORY_COMMAND.into()),
        );
    }
    for i in journals {
        body.optional(format!("svcj.{i}"), Target::ServiceJournal(i));
    }
    let Body { text: body, parts } = body;

    let mut text = String::new();
    let _ = write!(
        text,
        "# fleetdeck probe batch: read by `sh -s` from stdin, never seen in a process list.\n\
         _fd_m='{marker}'\n\
         _fd_tz0=${{TZ-}}; _fd_tzset=${{TZ+x}}\n\
         LC_ALL=C; TZ=UTC; export LC_ALL TZ\n\
         _fd_rc() {{ return \"$1\"; }}\n\
         _fd_st() {{ _fd_z=; [ -r \"/proc/$1/stat\" ] && read -r _fd_z 2>/dev/null <\"/proc/$1/stat\"; \
         _fd_z=${{_fd_z##*[)] }}; _fd_z=${{_fd_z%% *}}; }}\n\
         _fd_local() {{ ( if [ -n \"$_fd_tzset\" ]; then TZ=$_fd_tz0; export TZ; else unset TZ; fi; \"$@\" ) }}\n\
         _fd_s=\n\
         _fd_nl='\n'\n\
         _fd_next() {{ [ -n \"$_fd_y\" ] || return 1; _fd_u=${{_fd_y%%\"$_fd_nl$_fd_nl\"*}}; \
         case $_fd_y in *\"$_fd_nl$_fd_nl\"*) _fd_y=${{_fd_y#*\"$_fd_nl$_fd_nl\"}};; *) _fd_y=;; esac; }}\n\
         if command -v timeout >/dev/null 2>&1; then _fd_to='timeout {COMMAND_SECONDS}'; \
         else _fd_to=; fi\n\
         _fd_t() {{ $_fd_to \"$@\"; }}\n\
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
        plan,
        certs: host
            .certs
            .iter()
            .map(|c| (c.name.clone(), c.path.clone()))
            .collect(),
        logs: host.logs.clone(),
        posture: with_posture,
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
            host_path(file)?,
            q(service)?
        ),
        // A process that exists may still be a zombie (exited, not reaped): each pid goes
        // out with its state letter from /proc/PID/stat, the field after the last `)` (the
        // command name before it may hold anything), and the parser decides.
        ServiceCheck::Pidfile { path } => {
            let f = host_path(path)?;
            format!(
                "if [ ! -e {f} ]; then echo nofile; elif [ ! -r {f} ]; then echo unreadable; \
                 else _fd_p=; read -r _fd_p _fd_x <{f}; case $_fd_p in \
                 ''|*[!0-9]*) printf 'badpid %s\\n' \"$_fd_p\";; \
                 *) if [ -d \"/proc/$_fd_p\" ] || kill -0 \"$_fd_p\" 2>/dev/null; \
                 then _fd_st \"$_fd_p\"; printf 'alive %s %s\\n' \"$_fd_p\" \"$_fd_z\"; \
                 else printf 'dead %s\\n' \"$_fd_p\"; fi;; \
                 esac; fi"
            )
        }
        // Not under `timeout`: pgrep skips itself, but `timeout … PATTERN` would match.
        ServiceCheck::Pattern { pattern } => format!(
            "_fd_g=$(pgrep -f -- {}); _fd_r=$?; for _fd_q in $_fd_g; do \
             _fd_st \"$_fd_q\"; printf '%s %s\\n' \"$_fd_q\" \"$_fd_z\"; done; _fd_rc $_fd_r",
            q(pattern)?
        ),
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
            certificate_files: vec![],
            jump: None,
            via: vec![],
            transport: TransportKind::Local,
            profile: None,
            groups: vec![],
            consensus_group: None,
            region: None,
            role: NodeRole::Free,
            interval: Duration::from_secs(5),
            services: vec![],
            chain: None,
            disks: vec![],
            backups: vec![],
            certs: vec![],
            logs: vec![],
            thresholds: Default::default(),
            posture: Default::default(),
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
        run_sh(script, Command::new("sh"))
    }

    /// Runs `script` on the stdin of `sh`, a `Command` the caller may have given an
    /// environment.
    fn run_sh(script: &ProbeScript, mut sh: Command) -> ExecOutput {
        let mut child = sh
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
            group: None,
        });
        let script = build(&h);
        let out = run(&script);
        let r = script.parse(&out);
        let backups = r.backups.clone().expect("planned");
        assert!(
            r.problems.is_empty(),
            "{:?}\n{}",
            r.problems,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(r.host_time.unwrap().expect("a full build reads the clock") > 1_700_000_000);
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

        let pg = backups[0].latest.as_ref().unwrap().as_ref().unwrap();
        assert!(
            pg.path.ends_with("db-3-postgres-backup.sql.gz"),
            "{}",
            pg.path
        );
        assert_eq!(pg.size_bytes, 30);
        assert!(
            backups[0]
                .previous
                .as_ref()
                .unwrap()
                .path
                .ends_with("db-2-postgres-backup.sql.gz")
        );
        assert_eq!(backups[1].latest, Ok(None));
        assert!(
            backups[2]
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
            for path in [e.clone(), format!("~/{e}")] {
                h.certs.push(crate::inventory::CertPath {
                    name: "c".into(),
                    path: path.clone(),
                });
                h.logs.push(LogSource {
                    name: "l".into(),
                    origin: LogOrigin::File(path),
                    format: crate::inventory::LogFormat::Fisco,
                    patterns: vec![],
                    lines: 5,
                    window: Duration::from_secs(60),
                });
            }
            h.logs.push(LogSource {
                name: "u".into(),
                origin: LogOrigin::Unit(e.clone()),
                format: crate::inventory::LogFormat::Plain,
                patterns: vec![],
                lines: 5,
                window: Duration::from_secs(60),
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
        assert!(r.certs.unwrap().iter().all(|c| c.info.value().is_none()));
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
            svc(
                "silent-failure",
                ServiceKind::Command {
                    command: "exit 3".into(),
                },
            ),
            svc(
                "loud-failure",
                ServiceKind::Command {
                    command: "echo no pid >&2; exit 1".into(),
                },
            ),
        ];
        h.disks = vec![Disk { mount: "/".into() }];
        let script = build(&h);
        let r = script.parse(&run(&script));
        assert_eq!(r.services[0].as_ref().unwrap().detail, "it's; fine 2");
        assert_eq!(r.services[1].as_ref().unwrap().detail, "exit 0");
        assert_eq!(r.services[2].as_ref().unwrap().detail, "exit 3");
        assert_eq!(r.services[3].as_ref().unwrap().detail, "exit 1: no pid");
        assert!(
            r.disks[0].usage.is_ok(),
            "an exit in a command does not end the batch"
        );
    }

    /// The slow parts on this machine: facts from the real /proc and tools, a certificate made
    /// with the real openssl, a plain and a FISCO log, a failing command's output.
    #[test]
    fn facts_certs_logs_and_failure_output_on_this_machine() {
        let dir = tempfile::tempdir().unwrap();
        let crt = dir.path().join("node.crt");
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args([
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "30",
                "-subj",
            ])
            .arg("/CN=node0/O=fisco")
            .arg("-keyout")
            .arg(dir.path().join("node.key"))
            .arg("-out")
            .arg(&crt)
            .output()
            .expect("openssl must be installed (it is on every test host)");
        assert!(made.status.success(), "{made:?}");
        let app = dir.path().join("app.log");
        std::fs::write(&app, "ok\nERROR: boom\nok\n").unwrap();
        let node = dir.path().join("node.log");
        std::fs::write(
            &node,
            "error|2020-01-01 00:00:00.000000|[PBFT] old\nwarning|2099-01-01 00:00:00.000000|[SYNC] future\n",
        )
        .unwrap();
        let mut h = host();
        h.certs = vec![
            crate::inventory::CertPath {
                name: "node".into(),
                path: crt.display().to_string(),
            },
            crate::inventory::CertPath {
                name: "gone".into(),
                path: dir.path().join("none.crt").display().to_string(),
            },
        ];
        let log = |name: &str, path: &std::path::Path, format, patterns: &[&str]| LogSource {
            name: name.into(),
            origin: LogOrigin::File(path.display().to_string()),
            format,
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            lines: 50,
            window: Duration::from_secs(600),
        };
        h.logs = vec![
            log("app", &app, crate::inventory::LogFormat::Plain, &["ERROR"]),
            log("node", &node, crate::inventory::LogFormat::Fisco, &[]),
            log(
                "missing",
                &dir.path().join("x.log"),
                crate::inventory::LogFormat::Plain,
                &[],
            ),
        ];
        h.services = vec![svc(
            "bad",
            ServiceKind::Command {
                command: "echo starting; echo 'cannot bind :8545' >&2; exit 2".into(),
            },
        )];
        let script = build(&h);
        let r = script.parse(&run(&script));
        assert!(r.problems.is_empty(), "{:?}", r.problems);

        let f = r.facts.expect("facts planned");
        let k = f.kernel.value().expect("uname");
        assert_eq!(k.os, "Linux");
        assert!(f.cpu.value().unwrap().count >= 1);
        assert!(f.memory.value().unwrap().total_bytes > 0);
        assert!(
            f.filesystems
                .value()
                .unwrap()
                .iter()
                .any(|x| x.usage.mounted_on == "/"),
            "{:?}",
            f.filesystems
        );
        assert!(
            matches!(f.logins, Metric::Value(_) | Metric::Unavailable(_)),
            "{:?}",
            f.logins
        );
        assert!(
            matches!(f.dmi, Metric::Value(_) | Metric::Unavailable(_)),
            "{:?}",
            f.dmi
        );
        assert!(f.interfaces.value().is_some(), "{:?}", f.interfaces);
        assert!(f.os.value().is_some(), "{:?}", f.os);

        let certs = r.certs.expect("certs planned");
        let c = certs[0].info.value().expect("cert read");
        let days = (c.not_after - r.host_time.clone().unwrap().unwrap()) / 86_400;
        assert!((29..=30).contains(&days), "{days}");
        assert!(c.subject.contains("node0"), "{}", c.subject);
        assert_eq!(certs[1].info, Metric::Error("no such file".into()));

        let logs = r.logs.expect("logs planned");
        let app = logs[0].summary.as_ref().unwrap();
        assert_eq!((app.lines_read, app.errors), (3, 1));
        let node = logs[1].summary.as_ref().unwrap();
        assert_eq!(
            (node.errors, node.warnings),
            (0, 1),
            "the 2020 error is outside the window"
        );
        assert!(
            logs[2]
                .summary
                .as_ref()
                .unwrap_err()
                .contains("No such file")
        );
        assert!(r.utc_offset.unwrap().is_ok());

        assert_eq!(r.service_failures.len(), 1);
        let fail = &r.service_failures[0];
        assert_eq!((fail.index, fail.source), (0, FailureSource::Output));
        assert_eq!(fail.lines, ["starting", "cannot bind :8545"]);

        // A basic plan leaves the slow parts out, and out of the script.
        let basic = build_planned(&h, PollPlan::BASIC);
        assert!(!basic.text().contains("openssl") && !basic.text().contains("uname"));
        let r = basic.parse(&run(&basic));
        assert!(r.facts.is_none() && r.certs.is_none() && r.logs.is_none());
    }

    #[test]
    fn a_failed_unit_gets_its_journal_read() {
        // This machine has no systemd: feed the parser what a failed unit's batch prints.
        let mut h = host();
        h.services = vec![svc(
            "geth",
            ServiceKind::Systemd {
                unit: "geth.service".into(),
            },
        )];
        let script = build_planned(&h, PollPlan::BASIC);
        assert!(script.text().contains("journalctl -u geth.service -n 5"));
        let m = script.marker();
        let out = format!(
            "{m} begin time\n1795322800\n\n{m} end time rc=0\n\
             {m} begin loadavg\n0.1 0.1 0.1 1/1 1\n\n{m} end loadavg rc=0\n\
             {m} begin uptime\n100.0 100.0\n\n{m} end uptime rc=0\n\
             {m} begin svc.0\nActiveState=failed\nSubState=failed\nResult=exit-code\nExecMainStatus=1\nNRestarts=3\nLoadState=loaded\n\n{m} end svc.0 rc=0\n\
             {m} begin svcj.0\n2026-11-22T04:45:00+0000 node-1 geth[99]: Fatal: Failed to open database\n2026-11-22T04:45:00+0000 node-1 systemd[1]: geth.service: Failed with result 'exit-code'.\n\n{m} end svcj.0 rc=0\n"
        );
        let r = script.parse(&ExecOutput {
            status: Some(0),
            stdout: out.into_bytes(),
            stderr: vec![],
            dropped_bytes: 0,
        });
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.services[0].as_ref().unwrap().state, ServiceState::Failed);
        assert_eq!(r.service_failures.len(), 1);
        assert_eq!(r.service_failures[0].source, FailureSource::Journal);
        assert!(r.service_failures[0].lines[0].ends_with("Fatal: Failed to open database"));
        // A running unit's batch has no journal section, and that is no problem.
        let r = script.parse(&run(&script));
        assert!(r.service_failures.is_empty());
        assert!(r.problems.is_empty(), "{:?}", r.problems);
    }

    /// A stub tool first on `PATH` that logs each call (its arguments, one line) to `log`
    /// and then runs `body`.
    fn stub(bin: &std::path::Path, name: &str, log: &std::path::Path, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = bin.join(name);
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho \"$*\" >>'{}'\n{body}\n", log.display()),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Runs `script` with `bin` first on `PATH` and `vars` in the environment.
    fn run_with_path(
        script: &ProbeScript,
        bin: &std::path::Path,
        vars: &[(&str, &str)],
    ) -> ExecOutput {
        let mut sh = Command::new("sh");
        sh.envs(vars.iter().copied()).env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        );
        run_sh(script, sh)
    }

    fn calls(log: &std::path::Path) -> Vec<String> {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Every systemd unit of a host in one `systemctl show`, its blocks split back per unit in
    /// argument order (a not-found unit has its own block), a failed unit's journal read, and
    /// the fallbacks: a failing batch reads each unit on its own, a timed-out one reads none.
    #[test]
    fn systemd_units_are_read_in_one_systemctl_and_split_back_per_unit() {
        let bin = tempfile::tempdir().unwrap();
        let log = bin.path().join("calls");
        // What systemctl prints for `show --property=… -- a.service nosuch.service c.service`
        // (blocks in argument order, a blank line between); $FD_SD_RC sets its exit status.
        stub(
            bin.path(),
            "systemctl",
            &log,
            r#"[ -n "$FD_SD_RC" ] && { echo "Failed to connect to bus" >&2; exit "$FD_SD_RC"; }
while [ "$1" != -- ]; do shift; done; shift
first=1
for u; do
  [ -n "$first" ] || echo; first=
  case $u in
    a.service) printf 'ActiveState=active\nSubState=running\nResult=success\nNRestarts=0\nLoadState=loaded\n';;
    c.service) printf 'ActiveState=failed\nSubState=failed\nResult=exit-code\nExecMainStatus=1\nNRestarts=3\nLoadState=loaded\n';;
    *) printf 'ActiveState=inactive\nSubState=dead\nResult=success\nLoadState=not-found\n';;
  esac
done"#,
        );
        stub(
            bin.path(),
            "journalctl",
            &log,
            "echo '2026-11-22T04:45:00+0000 n c[9]: Fatal: no database'",
        );
        let mut h = host();
        h.services = vec![
            svc(
                "a",
                ServiceKind::Systemd {
                    unit: "a.service".into(),
                },
            ),
            svc(
                "ok",
                ServiceKind::Command {
                    command: "true".into(),
                },
            ),
            svc(
                "gone",
                ServiceKind::Systemd {
                    unit: "nosuch.service".into(),
                },
            ),
            svc(
                "c",
                ServiceKind::Systemd {
                    unit: "c.service".into(),
                },
            ),
        ];
        let script = build_planned(&h, PollPlan::BASIC);
        let r = script.parse(&run_with_path(&script, bin.path(), &[]));
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        let s = |i: usize| r.services[i].clone().unwrap();
        assert_eq!(s(0).state, ServiceState::Running, "{:?}", s(0));
        assert_eq!(s(1).state, ServiceState::Running);
        assert_eq!(
            (s(2).state, s(2).detail.as_str()),
            (ServiceState::Unknown, "unit not found")
        );
        assert_eq!(s(3).state, ServiceState::Failed, "{:?}", s(3));
        assert_eq!(r.service_failures.len(), 1, "{:?}", r.service_failures);
        assert_eq!(r.service_failures[0].index, 3);
        assert_eq!(r.service_failures[0].source, FailureSource::Journal);
        let c = calls(&log);
        assert_eq!(
            c.iter().filter(|l| l.starts_with("show")).count(),
            1,
            "one systemctl for every unit: {c:?}"
        );
        assert!(
            c[0].ends_with("-- a.service nosuch.service c.service"),
            "{c:?}"
        );
        assert_eq!(
            c.iter().filter(|l| l.starts_with("-u")).count(),
            1,
            "the journal of the failed unit only: {c:?}"
        );

        // systemctl fails: each unit is read on its own, with its own error.
        std::fs::remove_file(&log).unwrap();
        let r = script.parse(&run_with_path(&script, bin.path(), &[("FD_SD_RC", "1")]));
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        for i in [0, 2, 3] {
            let s = r.services[i].clone().unwrap();
            assert_eq!(s.state, ServiceState::Unknown, "{s:?}");
            assert_eq!(s.detail, "Failed to connect to bus");
        }
        assert_eq!(calls(&log).len(), 4, "the batch, then one per unit");

        // systemctl timed out: every unit reads so at once, none is asked again.
        std::fs::remove_file(&log).unwrap();
        let r = script.parse(&run_with_path(&script, bin.path(), &[("FD_SD_RC", "124")]));
        for i in [0, 2, 3] {
            let s = r.services[i].clone().unwrap();
            assert_eq!(
                (s.state, s.detail.as_str()),
                (ServiceState::Unknown, "timed out after 10s")
            );
        }
        assert_eq!(calls(&log).len(), 1);
        assert!(r.service_failures.is_empty());
    }

    /// A poll that does not read the clock forks no `date` (the poller dates it by the
    /// uptime); one that tails logs reads it, since their windows are in host time.
    #[test]
    fn the_clock_is_read_only_when_planned() {
        let mut h = host();
        let basic = build_planned(&h, PollPlan::BASIC);
        assert!(basic.text().contains("[ -r /proc/uptime ] || date +%s"));
        let r = basic.parse(&run(&basic));
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.host_time, Ok(None));
        assert!(r.uptime.is_ok());
        let clock = PollPlan {
            clock: true,
            ..PollPlan::BASIC
        };
        let s = build_planned(&h, clock);
        let r = s.parse(&run(&s));
        assert!(r.host_time.unwrap().unwrap() > 1_700_000_000);
        h.logs = vec![LogSource {
            name: "l".into(),
            origin: LogOrigin::File("/nonexistent-fleetdeck.log".into()),
            format: crate::inventory::LogFormat::Plain,
            patterns: vec![],
            lines: 5,
            window: Duration::from_secs(60),
        }];
        let logs = PollPlan {
            logs: true,
            ..PollPlan::BASIC
        };
        let s = build_planned(&h, logs);
        assert!(s.parse(&run(&s)).host_time.unwrap().is_some());
    }

    /// Every mount in one `df` (the real one, counted through a wrapper); a missing mount makes
    /// each mount read on its own, so it is its own error and shifts no other.
    #[test]
    fn disks_are_read_in_one_df_and_a_missing_mount_stays_its_own_error() {
        let real = Command::new("sh")
            .args(["-c", "command -v df"])
            .output()
            .unwrap();
        let real = String::from_utf8(real.stdout).unwrap().trim().to_string();
        assert!(!real.is_empty(), "df must be installed");
        let bin = tempfile::tempdir().unwrap();
        let log = bin.path().join("calls");
        stub(bin.path(), "df", &log, &format!("exec {real} \"$@\""));
        let mut h = host();
        h.disks = vec![
            Disk { mount: "/".into() },
            Disk {
                mount: "/tmp".into(),
            },
        ];
        let script = build_planned(&h, PollPlan::BASIC);
        let r = script.parse(&run_with_path(&script, bin.path(), &[]));
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert!(r.disks.iter().all(|d| d.usage.is_ok()), "{:?}", r.disks);
        assert_eq!(calls(&log), ["-P -k -- / /tmp"]);

        std::fs::remove_file(&log).unwrap();
        h.disks.insert(
            1,
            Disk {
                mount: "/nonexistent-fleetdeck".into(),
            },
        );
        let script = build_planned(&h, PollPlan::BASIC);
        let r = script.parse(&run_with_path(&script, bin.path(), &[]));
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.disks[0].usage.as_ref().unwrap().mounted_on, "/");
        let missing = r.disks[1].usage.as_ref().unwrap_err();
        assert!(missing.contains("No such file"), "{missing}");
        assert!(r.disks[2].usage.is_ok(), "{:?}", r.disks[2]);
        assert_eq!(calls(&log).len(), 4, "the batch, then one per mount");
    }

    /// The rows of one df, read back in argument order: each row on its own, so one odd row
    /// is that mount's error only; a count that does not match is nobody's value.
    #[test]
    fn a_df_of_several_mounts_maps_back_in_argument_order() {
        let g = |out, rc| Ok(Got { out, err: "", rc });
        let out = "Filesystem 1024-blocks Used Available Capacity Mounted on\n\
                   /dev/vda 100 50 50 50% /\n\
                   tmpfs 10 0 10 0% /dev/shm\n\
                   /dev/vdb 200 20 180 10% /data\n";
        let d = disks(g(out, 0), 3);
        let on: Vec<_> = d
            .iter()
            .map(|u| u.as_ref().unwrap().mounted_on.clone())
            .collect();
        assert_eq!(on, ["/", "/dev/shm", "/data"]);
        let odd = "Filesystem 1024-blocks Used Available Capacity Mounted on\n\
                   /dev/vda 100 50 50 50% /\n\
                   garbage\n\
                   /dev/vdb 200 20 180 10% /data\n";
        let d = disks(g(odd, 0), 3);
        assert!(d[0].is_ok() && d[1].is_err() && d[2].is_ok(), "{d:?}");
        let d = disks(g(out, 0), 2);
        assert!(
            d.iter()
                .all(|u| u.as_ref().unwrap_err().contains("3 rows for 2 mounts")),
            "{d:?}"
        );
        // Busybox puts a long device name on a line of its own.
        let wrapped = "Filesystem 1024-blocks Used Available Capacity Mounted on\n\
                       /dev/mapper/very-long-volume-group-name\n\
                       100 50 50 50% /\n\
                       tmpfs 10 0 10 0% /dev/shm\n";
        let d = disks(g(wrapped, 0), 2);
        assert_eq!(d[0].as_ref().unwrap().mounted_on, "/");
        assert_eq!(d[1].as_ref().unwrap().mounted_on, "/dev/shm");
        // A df that failed: placeholders, replaced by each mount's own df.
        let d = disks(g("", 1), 2);
        assert!(
            d.iter()
                .all(|u| u.as_ref().unwrap_err().contains("own df did not report"))
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
            r.backups.as_ref().unwrap()[0]
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

    /// Every path section with a `~/` path, run by a real `sh` whose `$HOME` is a temporary
    /// directory: each finds its file there (issue 10). The compose file too, which the sshd
    /// test cannot cover: a stub `docker` first on `PATH` answers only when `-f` names a file
    /// that exists.
    #[test]
    fn home_relative_paths_are_found_in_every_section() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let h_ = home.path();
        let bin = tempfile::tempdir().unwrap();
        let docker = bin.path().join("docker");
        std::fs::write(
            &docker,
            "#!/bin/sh\n[ \"$1 $2\" = 'compose -f' ] && [ -f \"$3\" ] || { echo \"no file: $3\" >&2; exit 1; }\n\
             echo '{\"Name\":\"web-1\",\"State\":\"running\",\"Status\":\"Up 1 minute\"}'\n",
        )
        .unwrap();
        std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
        for dir in ["my backups", "run", "it's"] {
            std::fs::create_dir_all(h_.join(dir)).unwrap();
        }
        std::fs::write(h_.join("my backups/a-postgres-backup.sql.gz"), "x").unwrap();
        std::fs::write(h_.join("run/app.pid"), format!("{}\n", std::process::id())).unwrap();
        std::fs::write(h_.join("it's/compose $x.yml"), "services: {}\n").unwrap();
        std::fs::write(h_.join("it's/app.log"), "ERROR one\nok\n").unwrap();

        let mut h = host();
        h.disks = vec![Disk { mount: "~".into() }];
        h.backups = vec![BackupSet {
            name: "b".into(),
            dir: "~/my backups".into(),
            pattern: "*-postgres-backup.sql.gz".into(),
            every: Duration::from_secs(60),
        }];
        h.services = vec![
            svc(
                "pid",
                ServiceKind::Process {
                    pidfile: Some("~/run/app.pid".into()),
                    pattern: None,
                },
            ),
            svc(
                "web",
                ServiceKind::Docker {
                    container: None,
                    compose_file: Some("~/it's/compose $x.yml".into()),
                    compose_service: Some("web".into()),
                },
            ),
        ];
        h.logs = vec![LogSource {
            name: "app".into(),
            origin: LogOrigin::File("~/it's/app.log".into()),
            format: crate::inventory::LogFormat::Plain,
            patterns: vec!["ERROR".into()],
            lines: 10,
            window: Duration::from_secs(600),
        }];
        let script = build(&h);
        let mut child = Command::new("sh")
            .arg("-s")
            .env("HOME", h_)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin.path().display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
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
        let r = script.parse(&ExecOutput {
            status: out.status.code().map(|c| c as u32),
            stdout: out.stdout,
            stderr: out.stderr,
            dropped_bytes: 0,
        });
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert!(r.disks[0].usage.is_ok(), "{:?}", r.disks[0]);
        let latest = r.backups.unwrap()[0]
            .latest
            .clone()
            .unwrap()
            .expect("a backup");
        assert_eq!(
            latest.path,
            h_.join("my backups/a-postgres-backup.sql.gz")
                .display()
                .to_string()
        );
        let pid = r.services[0].as_ref().unwrap();
        assert_eq!(pid.state, ServiceState::Running, "{pid:?}");
        let web = r.services[1].as_ref().unwrap();
        assert_eq!(web.state, ServiceState::Running, "{web:?}");
        let log = r.logs.unwrap()[0].summary.clone().unwrap();
        assert_eq!((log.lines_read, log.errors), (2, 1));
    }

    #[test]
    fn posture_sections_only_when_enabled_and_planned_and_they_run_here() {
        let mut h = Host {
            name: "h".into(),
            ..Host::default()
        };
        assert!(!build(&h).text().contains("posture.sshd"), "off by default");
        h.posture.enabled = true;
        assert!(
            !build_planned(&h, PollPlan::BASIC)
                .text()
                .contains("posture.")
        );
        h.posture.sshd_config = Some("/nonexistent dir/sshd_config".into());
        let s = build(&h);
        assert!(
            s.text().contains("-T -f '/nonexistent dir/sshd_config'"),
            "{}",
            s.text()
        );
        let failed = s.failed("exec failed").posture.expect("planned");
        assert!(matches!(failed.sshd, Metric::Error(_)));
        // On this machine: the shell text runs; no sshd config there is an error or "not
        // readable", never values; ports and history read.
        let p = s.parse(&run(&s)).posture.expect("planned");
        assert!(!matches!(p.sshd, Metric::Value(_)), "{:?}", p.sshd);
        assert!(matches!(p.listening, Metric::Value(_)), "{:?}", p.listening);
        assert!(
            matches!(p.root_history, Metric::Value(_)),
            "{:?}",
            p.root_history
        );
    }
}

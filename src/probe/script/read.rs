//! The output side of the probe script: the batch's output split back into sections by its
//! markers, and each section read into its observation part (disks, services, backups, facts,
//! certificates, logs, posture). Pure: it reads the bytes the caller captured.

use super::*;

/// One section as found in the output.
#[derive(Debug, Default, Clone)]
pub(super) struct Section {
    pub(super) body: String,
    /// Exit status from the end line; `None` when the end line never came.
    pub(super) rc: Option<i32>,
}

/// Splits one stream into sections by marker lines. Lines outside any section are returned
/// separately (shell errors land there).
pub(super) fn split_sections(out: &str, marker: &str) -> (HashMap<String, Section>, Vec<String>) {
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
pub(super) struct Got<'a> {
    pub(super) out: &'a str,
    pub(super) err: &'a str,
    pub(super) rc: i32,
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
            if part.optional && !outs.contains_key(&part.id) {
                continue;
            }
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
        for part in self.parts.iter().filter(|p| !p.optional) {
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
            backups: self.plan.backups.then(|| {
                self.backup_names
                    .iter()
                    .map(|n| BackupObs {
                        name: n.clone(),
                        latest: Err("not probed".into()),
                        previous: None,
                    })
                    .collect()
            }),
            chain_height: None,
            facts: self.plan.facts.then(|| {
                fn np<T>() -> Metric<T> {
                    Metric::Error("not probed".to_string())
                }
                HostFacts {
                    kernel: np(),
                    os: np(),
                    cpu: np(),
                    memory: np(),
                    filesystems: np(),
                    interfaces: np(),
                    logins: np(),
                    dmi: np(),
                }
            }),
            utc_offset: None,
            certs: self.plan.certs.then(|| {
                self.certs
                    .iter()
                    .map(|(name, path)| CertObs {
                        name: name.clone(),
                        path: path.clone(),
                        info: Metric::Error("not probed".into()),
                    })
                    .collect()
            }),
            logs: self.plan.logs.then(|| {
                self.logs
                    .iter()
                    .map(|l| LogObs {
                        name: l.name.clone(),
                        summary: Err("not probed".into()),
                    })
                    .collect()
            }),
            posture: self.posture.then(|| crate::posture::PostureObs {
                sshd: Metric::Error("not probed".into()),
                listening: Metric::Error("not probed".into()),
                root_history: Metric::Error("not probed".into()),
            }),
            service_failures: Vec::new(),
            problems: Vec::new(),
        }
    }

    fn apply(&self, r: &mut ScriptResult, target: &Target, got: Result<Got<'_>, String>) {
        match target {
            Target::HostTime => {
                r.host_time = match got {
                    Ok(g) if g.rc == 0 && g.out.trim().is_empty() && !reads_clock(self.plan) => {
                        Ok(None)
                    }
                    other => simple(other, parse::parse_epoch).map(Some),
                }
            }
            Target::Load => r.load = simple(got, parse::parse_loadavg),
            Target::Uptime => r.uptime = simple(got, parse::parse_uptime),
            Target::Disk(i) => r.disks[*i].usage = disk(got),
            Target::Disks(indices) => {
                for (i, usage) in indices.iter().zip(disks(got, indices.len())) {
                    r.disks[*i].usage = usage;
                }
            }
            Target::Backup(i) => {
                let (latest, previous) = match backup(got) {
                    Ok((l, p)) => (Ok(l), p),
                    Err(e) => (Err(e), None),
                };
                if let Some(b) = r.backups.as_mut().and_then(|b| b.get_mut(*i)) {
                    b.latest = latest;
                    b.previous = previous;
                }
            }
            Target::Service(i, check) => {
                let reading = match &got {
                    Ok(g) => service(check, g),
                    Err(e) => ServiceReading::new(ServiceState::Unknown, e.clone()),
                };
                if let (ServiceCheck::Command { .. }, Ok(g)) = (check, &got)
                    && reading.state == ServiceState::Failed
                {
                    r.service_failures.push(ServiceFailure {
                        index: *i,
                        name: self.service_names[*i].clone(),
                        source: FailureSource::Output,
                        lines: last_lines(&[g.out, g.err], FAILURE_LINES),
                    });
                }
                r.services[*i] = Some(reading.into_obs(&self.service_names[*i]));
            }
            Target::ServiceJournal(i) => {
                let lines = match got {
                    Ok(g) if g.rc == 0 => last_lines(&[g.out], FAILURE_LINES)
                        .into_iter()
                        .filter(|l| !l.starts_with("-- "))
                        .collect(),
                    Ok(g) => vec![format!("journalctl: {}", g.why())],
                    Err(e) => vec![e],
                };
                r.service_failures.push(ServiceFailure {
                    index: *i,
                    name: self.service_names[*i].clone(),
                    source: FailureSource::Journal,
                    lines,
                });
            }
            Target::Fact(fact) => {
                if let Some(f) = r.facts.as_mut() {
                    apply_fact(f, *fact, got);
                }
            }
            Target::LocalOffset => {
                r.utc_offset = Some(simple(got, logs::parse_utc_offset));
            }
            Target::Cert(i) => {
                if let Some(c) = r.certs.as_mut().and_then(|c| c.get_mut(*i)) {
                    c.info = cert(got);
                }
            }
            Target::Log(i) => {
                let clock = logs::LogClock {
                    host_now: r.host_time.as_ref().ok().copied().flatten(),
                    utc_offset: r.utc_offset.as_ref().and_then(|o| o.as_ref().ok().copied()),
                };
                if let (Some(obs), Some(spec)) = (
                    r.logs.as_mut().and_then(|l| l.get_mut(*i)),
                    self.logs.get(*i),
                ) {
                    obs.summary = log(got, spec, clock);
                }
            }
            Target::Posture(part) => {
                if let Some(p) = r.posture.as_mut() {
                    match (part, got) {
                        (_, Err(e)) => match part {
                            PosturePart::Sshd => p.sshd = Metric::Error(e),
                            PosturePart::Ports => p.listening = Metric::Error(e),
                            PosturePart::History => p.root_history = Metric::Error(e),
                        },
                        (PosturePart::Sshd, Ok(g)) => {
                            p.sshd = posture::read_sshd(g.out, g.err, g.rc)
                        }
                        (PosturePart::Ports, Ok(g)) => {
                            p.listening = posture::read_ports(g.out, g.err, g.rc)
                        }
                        (PosturePart::History, Ok(g)) => {
                            p.root_history = posture::read_history(g.out, g.err, g.rc)
                        }
                    }
                }
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

/// The last `n` non-empty lines of `texts` taken in order (stdout, then stderr), shortened.
fn last_lines(texts: &[&str], n: usize) -> Vec<String> {
    let all: Vec<&str> = texts
        .iter()
        .flat_map(|t| t.lines())
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    all[all.len().saturating_sub(n)..]
        .iter()
        .map(|l| shorten(l, 300))
        .collect()
}

/// A facts section into its metric: a missing tool is unavailable, a failure an error.
fn fact_metric<T>(
    got: Result<Got<'_>, String>,
    tool: &str,
    parser: fn(&str) -> Result<T, parse::ParseError>,
) -> Metric<T> {
    let g = match got {
        Ok(g) => g,
        Err(e) => return Metric::Error(e),
    };
    if g.rc == 127 {
        return Metric::Unavailable(format!("{tool} not found on host"));
    }
    if g.rc != 0 {
        return Metric::Error(g.why());
    }
    match parser(g.out) {
        Ok(v) => Metric::Value(v),
        Err(e) => Metric::Error(e.to_string()),
    }
}

fn apply_fact(f: &mut HostFacts, fact: Fact, got: Result<Got<'_>, String>) {
    match fact {
        Fact::Kernel => f.kernel = fact_metric(got, "uname", facts::parse_uname),
        Fact::Os => {
            f.os = match got {
                // The shell could not open /etc/os-release (busybox images, old distributions).
                Ok(g) if g.rc != 0 && g.out.trim().is_empty() => {
                    Metric::Unavailable("no /etc/os-release on this host".into())
                }
                other => fact_metric(other, "os-release", facts::parse_os_release),
            }
        }
        Fact::Cpu => f.cpu = fact_metric(got, "grep", facts::parse_cpuinfo),
        Fact::Memory => f.memory = fact_metric(got, "grep", facts::parse_meminfo),
        Fact::Filesystems => f.filesystems = fact_metric(got, "df", facts::parse_filesystems),
        Fact::Interfaces => f.interfaces = fact_metric(got, "sh", facts::parse_interfaces),
        Fact::Logins => {
            f.logins = match got {
                Ok(g) if g.rc != 0 && g.err.contains("No such file") => {
                    Metric::Unavailable("no login records (wtmp) on this host".into())
                }
                other => fact_metric(other, "last", facts::parse_last),
            }
        }
        Fact::Dmi => {
            f.dmi = match fact_metric(got, "sh", facts::parse_dmi) {
                Metric::Value(Some(d)) => Metric::Value(d),
                Metric::Value(None) => Metric::Unavailable(
                    "no DMI on this host (a container or non-PC hardware)".into(),
                ),
                Metric::Unavailable(u) => Metric::Unavailable(u),
                Metric::Error(e) => Metric::Error(e),
            }
        }
    }
}

fn cert(got: Result<Got<'_>, String>) -> Metric<crate::observation::CertInfo> {
    let g = match got {
        Ok(g) => g,
        Err(e) => return Metric::Error(e),
    };
    match g.rc {
        0 => match certs::parse_x509_dates(g.out) {
            Ok(c) => Metric::Value(c),
            Err(e) => Metric::Error(e.to_string()),
        },
        127 => Metric::Unavailable("openssl not found on host".into()),
        124 => Metric::Error(g.why()),
        _ => Metric::Error(certs::openssl_failure(g.err)),
    }
}

fn log(
    got: Result<Got<'_>, String>,
    spec: &LogSource,
    clock: logs::LogClock,
) -> Result<crate::observation::LogSummary, String> {
    let g = got?;
    if g.rc != 0 {
        return Err(g.why());
    }
    // journalctl exits 0 with "-- No entries --" on a host that keeps no journal at all.
    if g.err.contains("No journal files were found") {
        return Err("no journal on this host".into());
    }
    let patterns = logs::compile_patterns(spec)?;
    Ok(logs::summarize(g.out, spec, &patterns, clock))
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

/// The rows of one `df` of `n` mounts, in argument order. Only a `df` that exited 0 is read
/// here (then every mount has its row); otherwise the shell ran one `df` per mount, whose
/// sections replace these placeholders. Each row is parsed on its own, so an odd row is that
/// mount's error only.
pub(super) fn disks(got: Result<Got<'_>, String>, n: usize) -> Vec<Result<DiskUsage, String>> {
    let all = |e: String| vec![Err(e); n];
    let g = match got {
        Ok(g) => g,
        Err(e) => return all(e),
    };
    if g.rc != 0 {
        return all(format!(
            "not read: df of all mounts failed ({}) and this mount's own df did not report",
            g.why()
        ));
    }
    let lines: Vec<&str> = g.out.lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.split_first() {
        // One line per mount after the header: each parsed with the header alone.
        Some((header, rows)) if rows.len() == n => rows
            .iter()
            .map(|row| {
                parse::parse_df(&format!("{header}\n{row}"))
                    .map(|mut u| u.remove(0))
                    .map_err(|e| e.to_string())
            })
            .collect(),
        // A long device name on a line of its own (busybox): the parser joins the lines.
        _ => match parse::parse_df(g.out) {
            Ok(rows) if rows.len() == n => rows.into_iter().map(Ok).collect(),
            Ok(rows) => all(format!(
                "df printed {} rows for {n} mounts: cannot tell which is which",
                rows.len()
            )),
            Err(e) => all(e.to_string()),
        },
    }
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

pub(super) fn service(check: &ServiceCheck, g: &Got<'_>) -> ServiceReading {
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
                // `why` already says "exit N" when the command printed nothing.
                let why = g.why();
                let detail = if why == format!("exit {}", g.rc) {
                    why
                } else {
                    format!("exit {}: {why}", g.rc)
                };
                ServiceReading::new(ServiceState::Failed, detail)
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

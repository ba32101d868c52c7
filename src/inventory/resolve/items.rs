//! Resolving the named entries of a host or profile — services, chains, disks, backup sets,
//! certificates and logs — each checked where it is written, with duplicates refused by name.

use super::*;

impl Resolver<'_> {
    /// Appends the entries of `files` to `list`, each resolved by `one` (which also gives
    /// the span its name is reported at), rejecting a name already there. `list` may already
    /// hold the entries of the profile called `profile`, for the duplicate message.
    pub(super) fn add<F, T: Named>(
        &self,
        list: &mut Vec<T>,
        files: &[Spanned<F>],
        owner: &str,
        profile: Option<&str>,
        one: impl Fn(&Self, usize, &Spanned<F>, &str) -> Result<(T, Range<usize>), ConfigError>,
    ) -> Result<(), ConfigError> {
        let inherited = list.len();
        for (i, file) in files.iter().enumerate() {
            let (item, name_span) = one(self, i, file, owner)?;
            if let Some(pos) = list.iter().position(|x| x.name() == item.name()) {
                return Err(self.src.at(
                    name_span,
                    duplicate_message(T::WHAT, item.name(), owner, pos < inherited, profile),
                ));
            }
            list.push(item);
        }
        Ok(())
    }

    pub(super) fn cert(
        &self,
        index: usize,
        file: &Spanned<CertFile>,
        owner: &str,
    ) -> Result<(CertPath, Range<usize>), ConfigError> {
        let c = file.get_ref();
        let name = self.non_empty(&c.name, "name", &item_label("cert", None, index, owner))?;
        let label = item_label("cert", Some(name), index, owner);
        let path = self.non_empty(&c.path, "path", &label)?;
        let cert = CertPath {
            name: name.to_owned(),
            path: path.to_owned(),
        };
        Ok((cert, c.name.span()))
    }

    pub(super) fn disk(
        &self,
        index: usize,
        file: &Spanned<DiskFile>,
        owner: &str,
    ) -> Result<(Disk, Range<usize>), ConfigError> {
        let mount = &file.get_ref().mount;
        let label = item_label("disk", Some(mount.get_ref()), index, owner);
        let value = self.non_empty(mount, "mount", &item_label("disk", None, index, owner))?;
        if !value.starts_with('/') {
            return Err(self.src.at(
                mount.span(),
                format!(
                    "invalid `mount` {value:?} {}: expected an absolute path like \"/data\"",
                    within(&label)
                ),
            ));
        }
        let disk = Disk {
            mount: value.to_owned(),
        };
        Ok((disk, mount.span()))
    }

    pub(super) fn backup(
        &self,
        index: usize,
        file: &Spanned<BackupFile>,
        owner: &str,
    ) -> Result<(BackupSet, Range<usize>), ConfigError> {
        let b = file.get_ref();
        let name = self.non_empty(&b.name, "name", &item_label("backup", None, index, owner))?;
        let label = item_label("backup", Some(name), index, owner);
        let dir = self.non_empty(&b.dir, "dir", &label)?;
        let pattern = self.non_empty(&b.pattern, "pattern", &label)?;
        if let Err(err) = globset::Glob::new(pattern) {
            return Err(self.src.at(
                b.pattern.span(),
                format!(
                    "invalid glob {pattern:?} for `pattern` {}: {}",
                    within(&label),
                    err.kind()
                ),
            ));
        }
        let every = self.duration(&b.every, "every", &label)?;
        let backup = BackupSet {
            name: name.to_owned(),
            dir: dir.to_owned(),
            pattern: pattern.to_owned(),
            every,
        };
        Ok((backup, b.name.span()))
    }

    pub(super) fn log(
        &self,
        index: usize,
        file: &Spanned<LogFile>,
        owner: &str,
    ) -> Result<(LogSource, Range<usize>), ConfigError> {
        let l = file.get_ref();
        let name = self.non_empty(&l.name, "name", &item_label("log", None, index, owner))?;
        let label = item_label("log", Some(name), index, owner);
        let takes = "`unit` (a systemd unit whose journal is read) or `file` (a path on the host)";
        let origin = match (&l.unit, &l.file) {
            (Some(unit), None) => LogOrigin::Unit(self.non_empty(unit, "unit", &label)?.to_owned()),
            (None, Some(path)) => LogOrigin::File(self.non_empty(path, "file", &label)?.to_owned()),
            (None, None) => {
                return Err(self.src.at(
                    file.span(),
                    format!("missing key `unit` or `file` in {label}: give {takes}"),
                ));
            }
            (Some(_), Some(path)) => {
                return Err(self.src.at(
                    path.span(),
                    format!("{label} has both `unit` and `file`: give one of them"),
                ));
            }
        };
        let format = match l.format.as_ref().map(|f| *f.get_ref()) {
            None | Some(LogFormatFile::Plain) => LogFormat::Plain,
            Some(LogFormatFile::Fisco) => LogFormat::Fisco,
        };
        let patterns = match &l.patterns {
            None if format == LogFormat::Plain => DEFAULT_LOG_PATTERNS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            None => Vec::new(),
            Some(list) => {
                let mut out = Vec::new();
                for p in list.get_ref() {
                    let text = self.non_empty(p, "patterns", &label)?;
                    if let Err(e) = regex::Regex::new(text) {
                        return Err(self.src.at(
                            p.span(),
                            format!(
                                "invalid regular expression {text:?} in `patterns` {}: {}",
                                within(&label),
                                regex_problem(&e)
                            ),
                        ));
                    }
                    out.push(text.to_owned());
                }
                out
            }
        };
        let lines = match &l.lines {
            None => DEFAULT_LOG_LINES,
            Some(v) if (1..=MAX_LOG_LINES).contains(v.get_ref()) => *v.get_ref() as u32,
            Some(v) => {
                return Err(self.src.at(
                    v.span(),
                    format!(
                        "invalid `lines` {} {}: expected 1 to {MAX_LOG_LINES} (the tail travels \
                         over SSH on every log probe)",
                        v.get_ref(),
                        within(&label)
                    ),
                ));
            }
        };
        let window = self.duration_or(&l.window, "window", &label, DEFAULT_LOG_WINDOW)?;
        let log = LogSource {
            name: name.to_owned(),
            origin,
            format,
            patterns,
            lines,
            window,
        };
        Ok((log, l.name.span()))
    }

    pub(super) fn service(
        &self,
        index: usize,
        file: &Spanned<ServiceFile>,
        owner: &str,
    ) -> Result<(Service, Range<usize>), ConfigError> {
        let s = file.get_ref();
        let name = self.non_empty(&s.name, "name", &item_label("service", None, index, owner))?;
        let label = item_label("service", Some(name), index, owner);
        let kind = *s.kind.get_ref();
        let (allowed, takes): (&[&str], &str) = match kind {
            ServiceKindFile::Systemd => (&["unit"], "`unit`"),
            ServiceKindFile::Docker => (
                &["container", "compose_file", "compose_service"],
                "`container`, or `compose_file` + `compose_service`",
            ),
            ServiceKindFile::Process => (&["pidfile", "pattern"], "`pidfile` or `pattern`"),
            ServiceKindFile::Port => (&["port", "address"], "`port` and optionally `address`"),
            ServiceKindFile::Http => (
                &["url", "expect_status"],
                "`url` and optionally `expect_status`",
            ),
            ServiceKindFile::Command => (&["command"], "`command`"),
        };
        let present = [
            ("unit", s.unit.as_ref().map(Spanned::span)),
            ("container", s.container.as_ref().map(Spanned::span)),
            ("compose_file", s.compose_file.as_ref().map(Spanned::span)),
            (
                "compose_service",
                s.compose_service.as_ref().map(Spanned::span),
            ),
            ("pidfile", s.pidfile.as_ref().map(Spanned::span)),
            ("pattern", s.pattern.as_ref().map(Spanned::span)),
            ("port", s.port.as_ref().map(Spanned::span)),
            ("address", s.address.as_ref().map(Spanned::span)),
            ("url", s.url.as_ref().map(Spanned::span)),
            ("expect_status", s.expect_status.as_ref().map(Spanned::span)),
            ("command", s.command.as_ref().map(Spanned::span)),
        ];
        for (key, span) in present {
            if let Some(span) = span
                && !allowed.contains(&key)
            {
                return Err(self.src.at(
                    span,
                    format!(
                        "key `{key}` does not apply to {label}: kind `{}` takes {takes}",
                        kind.as_str()
                    ),
                ));
            }
        }
        let missing = |key: &str| {
            self.src.at(
                file.span(),
                format!(
                    "missing key `{key}` in {label}: kind `{}` takes {takes}",
                    kind.as_str()
                ),
            )
        };
        let text =
            |v: &Option<Spanned<String>>, key: &str| -> Result<Option<String>, ConfigError> {
                v.as_ref()
                    .map(|v| self.non_empty(v, key, &label).map(str::to_owned))
                    .transpose()
            };
        let service_kind = match kind {
            ServiceKindFile::Systemd => ServiceKind::Systemd {
                unit: text(&s.unit, "unit")?.ok_or_else(|| missing("unit"))?,
            },
            ServiceKindFile::Docker => {
                let container = text(&s.container, "container")?;
                let compose_file = text(&s.compose_file, "compose_file")?;
                let compose_service = text(&s.compose_service, "compose_service")?;
                match (&container, &compose_file, &compose_service) {
                    (Some(_), None, None) | (None, Some(_), Some(_)) => {}
                    (None, None, None) => return Err(missing("container")),
                    (None, Some(_), None) => return Err(missing("compose_service")),
                    (None, None, Some(_)) => return Err(missing("compose_file")),
                    (Some(_), _, _) => {
                        let span = s
                            .compose_file
                            .as_ref()
                            .or(s.compose_service.as_ref())
                            .map_or_else(|| file.span(), Spanned::span);
                        return Err(self.src.at(
                            span,
                            format!(
                                "{label} has both `container` and compose keys: \
                                 give `container`, or `compose_file` + `compose_service`"
                            ),
                        ));
                    }
                }
                ServiceKind::Docker {
                    container,
                    compose_file,
                    compose_service,
                }
            }
            ServiceKindFile::Process => {
                let pidfile = text(&s.pidfile, "pidfile")?;
                let pattern = text(&s.pattern, "pattern")?;
                match (&pidfile, &pattern) {
                    (None, None) => return Err(missing("pidfile")),
                    (Some(_), Some(_)) => {
                        let span = s
                            .pattern
                            .as_ref()
                            .map_or_else(|| file.span(), Spanned::span);
                        return Err(self.src.at(
                            span,
                            format!("{label} has both `pidfile` and `pattern`: give one of them"),
                        ));
                    }
                    _ => {}
                }
                ServiceKind::Process { pidfile, pattern }
            }
            ServiceKindFile::Port => {
                let port = s.port.as_ref().ok_or_else(|| missing("port"))?;
                if *port.get_ref() == 0 {
                    return Err(self.src.at(
                        port.span(),
                        format!(
                            "invalid port 0 for `port` {}: expected 1-65535",
                            within(&label)
                        ),
                    ));
                }
                ServiceKind::Port {
                    address: text(&s.address, "address")?.unwrap_or_else(|| "127.0.0.1".to_owned()),
                    port: *port.get_ref(),
                }
            }
            ServiceKindFile::Http => {
                let url = s.url.as_ref().ok_or_else(|| missing("url"))?;
                self.check_url(url, "url", &label)?;
                let expect_status = match &s.expect_status {
                    None => 200,
                    Some(v) if (100..=599).contains(v.get_ref()) => *v.get_ref(),
                    Some(v) => {
                        return Err(self.src.at(
                            v.span(),
                            format!(
                                "invalid `expect_status` {} {}: expected an HTTP status \
                                 from 100 to 599",
                                v.get_ref(),
                                within(&label)
                            ),
                        ));
                    }
                };
                ServiceKind::Http {
                    url: url.get_ref().clone(),
                    expect_status,
                }
            }
            ServiceKindFile::Command => ServiceKind::Command {
                command: text(&s.command, "command")?.ok_or_else(|| missing("command"))?,
            },
        };
        let commands = ServiceCommands {
            start: text(&s.start, "start")?,
            stop: text(&s.stop, "stop")?,
            restart: text(&s.restart, "restart")?,
            version: text(&s.version, "version")?,
            upgrade: text(&s.upgrade, "upgrade")?,
            rollback: text(&s.rollback, "rollback")?,
        };
        let service = Service {
            name: name.to_owned(),
            kind: service_kind,
            commands,
        };
        Ok((service, s.name.span()))
    }

    pub(super) fn chain(
        &self,
        file: &Spanned<ChainFile>,
        owner: &str,
    ) -> Result<Chain, ConfigError> {
        let c = file.get_ref();
        let label = chain_label(owner);
        let kind = *c.kind.get_ref();
        let (kind_model, wants_rpc) = match kind {
            ChainKindFile::Ethereum => (ChainKind::Ethereum, true),
            ChainKindFile::Conflux => (ChainKind::Conflux, true),
            ChainKindFile::FiscoBcos => (ChainKind::FiscoBcos, true),
            ChainKindFile::Command => (ChainKind::Command, false),
        };
        let (needed, unwanted) = if wants_rpc {
            ("rpc", c.command.as_ref())
        } else {
            ("command", c.rpc.as_ref())
        };
        if let Some(extra) = unwanted {
            let key = if wants_rpc { "command" } else { "rpc" };
            return Err(self.src.at(
                extra.span(),
                format!(
                    "key `{key}` does not apply to {label}: kind `{}` takes `{needed}`",
                    kind.as_str()
                ),
            ));
        }
        if let Some(group) = &c.group_id
            && kind != ChainKindFile::FiscoBcos
        {
            return Err(self.src.at(
                group.span(),
                format!(
                    "key `group_id` does not apply to {label}: only kind `fisco-bcos` takes it"
                ),
            ));
        }
        if let Some(group) = &c.group {
            if kind != ChainKindFile::FiscoBcos {
                return Err(self.src.at(
                    group.span(),
                    format!(
                        "key `group` does not apply to {label}: only kind `fisco-bcos` takes it"
                    ),
                ));
            }
            if c.group_id.is_some() {
                return Err(self.src.at(
                    group.span(),
                    format!(
                        "{label} has both `group_id` and `group`: give `group_id` (a number) \
                         for FISCO BCOS 2.x or `group` (a name like \"group0\") for 3.x"
                    ),
                ));
            }
            self.non_empty(group, "group", &label)?;
        }
        let given = if wants_rpc { &c.rpc } else { &c.command };
        let Some(value) = given else {
            return Err(self.src.at(
                file.span(),
                format!(
                    "missing key `{needed}` in {label}: kind `{}` takes `{needed}`",
                    kind.as_str()
                ),
            ));
        };
        if wants_rpc {
            self.check_url(value, "rpc", &label)?;
        } else {
            self.non_empty(value, "command", &label)?;
        }
        Ok(Chain {
            kind: kind_model,
            rpc: c.rpc.as_ref().map(|v| v.get_ref().clone()),
            command: c.command.as_ref().map(|v| v.get_ref().clone()),
            group_id: c.group_id.as_ref().map_or(1, |g| *g.get_ref()),
            group: c.group.as_ref().map(|g| g.get_ref().clone()),
        })
    }
}

/// An entry of a host's or profile's lists, by the name duplicates are found by.
pub(super) trait Named {
    /// What the entry is called in messages (`service`, `disk`, …).
    const WHAT: &'static str;
    /// Its name (a disk's is its mount).
    fn name(&self) -> &str;
}

impl Named for Service {
    const WHAT: &'static str = "service";
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for Disk {
    const WHAT: &'static str = "disk";
    fn name(&self) -> &str {
        &self.mount
    }
}

impl Named for BackupSet {
    const WHAT: &'static str = "backup";
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for CertPath {
    const WHAT: &'static str = "cert";
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for LogSource {
    const WHAT: &'static str = "log";
    fn name(&self) -> &str {
        &self.name
    }
}

fn duplicate_message(
    what: &str,
    name: &str,
    owner: &str,
    inherited: bool,
    profile: Option<&str>,
) -> String {
    match (inherited, profile) {
        (true, Some(profile)) => format!(
            "duplicate {what} {name:?} in {owner}: its profile `{profile}` already defines it"
        ),
        _ => format!("duplicate {what} {name:?} in {owner}: names must be unique"),
    }
}

//! `[prometheus]` and the hosts' `source` keys: servers (fleet-wide and per group), the label
//! mapping (`label`, the `instance` template rendered per host), user columns, and which hosts
//! read their status from Prometheus. Credentials only by reference, as for `[alertmanager]`.

use std::time::Duration;

use serde_spanned::Spanned;

use super::Resolver;
use crate::inventory::file::{DurationFile, InventoryFile, PromServerFile, PrometheusFile};
use crate::inventory::load::ConfigError;
use crate::inventory::{
    Host, HttpTarget, PromColumn, PromHost, PromServer, Prometheus, StatusSource,
};

/// Default label naming a host in Prometheus.
pub const DEFAULT_LABEL: &str = "instance";
/// Default template of that label's value: node_exporter's usual target.
pub const DEFAULT_INSTANCE: &str = "{{address}}:9100";
/// Default bound of one round of queries.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A `source` as written: its value and where.
type Written = (StatusSource, std::ops::Range<usize>);

/// Fields of a host an `instance` template may name.
const TEMPLATE_NAMES: &str = "name, address, port, region, profile";

impl Resolver<'_> {
    /// `[prometheus]` resolved against the hosts; `None` without the table (then any host
    /// `source` other than `ssh` is an error). A host read from Prometheus only takes
    /// `[prometheus] interval` as its own: its cells are new that often (and age by it).
    pub(super) fn prometheus(
        &self,
        file: &InventoryFile,
        hosts: &mut [Host],
        fleet_interval: Duration,
    ) -> Result<Option<Prometheus>, ConfigError> {
        let sources = self.host_sources(file)?;
        let Some(table) = &file.prometheus else {
            if let Some((_, span)) = sources
                .iter()
                .flatten()
                .find(|(s, _)| *s != StatusSource::Ssh)
            {
                return Err(self.src.at(
                    span.clone(),
                    "`source` other than \"ssh\" needs a [prometheus] table with `url`",
                ));
            }
            return Ok(None);
        };
        let p = table.get_ref();
        let Some(url) = &p.url else {
            return Err(self.src.at(
                table.span(),
                "[prometheus] needs `url`: expected its base URL such as \"http://127.0.0.1:9090\"",
            ));
        };
        let fleet_wide = self.prom_server(
            "",
            url,
            &p.via,
            &p.label,
            &p.instance,
            &p.auth(),
            hosts,
            "[prometheus]",
            None,
        )?;
        let mut servers = vec![fleet_wide];
        for (group, server) in &p.groups {
            let place = format!("[prometheus.groups.{group}]");
            if !hosts.iter().any(|h| h.groups.iter().any(|g| g == group)) {
                return Err(self.src.at(
                    server.span(),
                    format!("{place}: no host is in group {group:?}"),
                ));
            }
            servers.push(self.group_server(group, server, p, hosts, &place, &servers[0])?);
        }
        let mut columns = Vec::new();
        for c in &p.columns {
            let c = c.get_ref();
            let name = self.non_empty(&c.name, "name", "[[prometheus.columns]]")?;
            if columns.iter().any(|x: &PromColumn| x.name == name) {
                return Err(self.src.at(
                    c.name.span(),
                    format!(
                        "duplicate column {name:?} in [[prometheus.columns]]: names must be unique"
                    ),
                ));
            }
            let query = self.non_empty(&c.query, "query", "[[prometheus.columns]]")?;
            let (warn, crit) = (
                c.warn.as_ref().map(|v| *v.get_ref()),
                c.crit.as_ref().map(|v| *v.get_ref()),
            );
            if let (Some(w), Some(k), Some(span)) = (warn, crit, c.crit.as_ref().map(Spanned::span))
                && k < w
            {
                return Err(self.src.at(
                    span,
                    format!(
                        "`crit` {k} below `warn` {w} in column {name:?}: expected crit >= warn"
                    ),
                ));
            }
            columns.push(PromColumn {
                name: name.to_owned(),
                query: query.to_owned(),
                warn,
                crit,
            });
        }
        let interval = self.prom_duration(&p.interval, "interval", fleet_interval)?;
        let timeout = self.prom_duration(&p.timeout, "timeout", DEFAULT_TIMEOUT)?;
        let mut prom_hosts = Vec::with_capacity(hosts.len());
        for (i, host) in hosts.iter().enumerate() {
            let server = host
                .groups
                .iter()
                .find_map(|g| servers.iter().position(|s| &s.group == g))
                .unwrap_or(0);
            let instance = render_instance(&servers[server].instance, host).map_err(|e| {
                self.src.whole(format!(
                    "[prometheus] `instance` for host {:?}: {e}",
                    host.name
                ))
            })?;
            prom_hosts.push(PromHost {
                source: sources[i].as_ref().map_or(StatusSource::Ssh, |(s, _)| *s),
                server,
                instance,
            });
        }
        for (host, ph) in hosts.iter_mut().zip(&prom_hosts) {
            if ph.source == StatusSource::Prometheus {
                host.interval = interval;
            }
        }
        Ok(Some(Prometheus {
            servers,
            columns,
            interval,
            timeout,
            hosts: prom_hosts,
        }))
    }

    fn prom_duration(
        &self,
        value: &Option<Spanned<DurationFile>>,
        key: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) => self.duration(v, key, "[prometheus]"),
        }
    }

    /// Each host's own `source`, else its profile's, with where it is written.
    fn host_sources(&self, file: &InventoryFile) -> Result<Vec<Option<Written>>, ConfigError> {
        file.hosts
            .iter()
            .map(|h| {
                let h = h.get_ref();
                let written = h.source.as_ref().or_else(|| {
                    let profile = h.profile.as_ref()?;
                    file.profiles.get(profile.get_ref())?.source.as_ref()
                });
                written
                    .map(|s| {
                        let source = match s.get_ref().trim() {
                            "ssh" => StatusSource::Ssh,
                            "prometheus" => StatusSource::Prometheus,
                            "both" => StatusSource::Both,
                            other => {
                                return Err(self.src.at(
                                    s.span(),
                                    format!("unknown `source` {other:?}: expected \"ssh\", \"prometheus\" or \"both\""),
                                ));
                            }
                        };
                        Ok((source, s.span()))
                    })
                    .transpose()
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn prom_server(
        &self,
        group: &str,
        url: &Spanned<String>,
        via: &Option<Spanned<String>>,
        label: &Option<Spanned<String>>,
        instance: &Option<Spanned<String>>,
        auth: &crate::inventory::file::AuthFile,
        hosts: &[Host],
        place: &str,
        inherit: Option<&PromServer>,
    ) -> Result<PromServer, ConfigError> {
        let url_text = self.http_url(url, place)?;
        let via = match via {
            None => inherit.and_then(|s| s.via.clone()),
            Some(v) => {
                let name = v.get_ref().trim();
                if !hosts.iter().any(|h| h.name == name) {
                    return Err(self.src.at(
                        v.span(),
                        format!("`via` {name:?} in {place} is not an inventory host: expected the name of the host whose SSH connection reaches Prometheus"),
                    ));
                }
                Some(name.to_owned())
            }
        };
        let label = match label {
            None => inherit.map_or_else(|| DEFAULT_LABEL.to_owned(), |s| s.label.clone()),
            Some(l) => {
                let l = self.non_empty(l, "label", place)?;
                if !l.chars().enumerate().all(|(i, c)| {
                    c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
                }) {
                    return Err(self.src.whole(format!(
                        "bad `label` {l:?} in {place}: expected a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)"
                    )));
                }
                l.to_owned()
            }
        };
        let instance = match instance {
            None => inherit.map_or_else(|| DEFAULT_INSTANCE.to_owned(), |s| s.instance.clone()),
            Some(t) => {
                if let Err(e) = check_instance(t.get_ref()) {
                    return Err(self
                        .src
                        .at(t.span(), format!("bad `instance` in {place}: {e}")));
                }
                t.get_ref().clone()
            }
        };
        let own_auth = self.http_auth(auth, place)?;
        Ok(PromServer {
            group: group.to_owned(),
            target: HttpTarget {
                url: url_text,
                auth: own_auth,
            },
            via,
            label,
            instance,
        })
    }

    fn group_server(
        &self,
        group: &str,
        server: &Spanned<PromServerFile>,
        fleet: &PrometheusFile,
        hosts: &[Host],
        place: &str,
        fleet_wide: &PromServer,
    ) -> Result<PromServer, ConfigError> {
        let s = server.get_ref();
        match &s.url {
            Some(url) => self.prom_server(
                group,
                url,
                &s.via,
                &s.label,
                &s.instance,
                &s.auth(),
                hosts,
                place,
                Some(fleet_wide),
            ),
            None => {
                // The fleet-wide server with another label mapping: its credentials too.
                if let Some(u) = &s.username {
                    return Err(self.src.at(
                        u.span(),
                        format!(
                            "credentials in {place} without `url`: the fleet-wide server's are used"
                        ),
                    ));
                }
                let fleet_url = fleet.url.as_ref().expect("checked by the caller");
                let mut out = self.prom_server(
                    group,
                    fleet_url,
                    &s.via,
                    &s.label,
                    &s.instance,
                    &s.auth(),
                    hosts,
                    place,
                    Some(fleet_wide),
                )?;
                out.target.auth = fleet_wide.target.auth.clone();
                Ok(out)
            }
        }
    }
}

/// Checks an `instance` template: `{{NAME}}` placeholders of [`TEMPLATE_NAMES`] only.
fn check_instance(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(format!("unclosed `{{{{` in {template:?}"));
        };
        let name = after[..close].trim();
        if !TEMPLATE_NAMES.split(", ").any(|n| n == name) {
            return Err(format!(
                "unknown placeholder {{{{{name}}}}} in {template:?}: expected one of {TEMPLATE_NAMES}"
            ));
        }
        rest = &after[close + 2..];
    }
    Ok(())
}

/// The `instance` template rendered for `host`.
pub fn render_instance(template: &str, host: &Host) -> Result<String, String> {
    check_instance(template)?;
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after.find("}}").unwrap_or(after.len());
        let value = match after[..close].trim() {
            "name" => host.name.clone(),
            "address" => host.address.clone(),
            "port" => host.port.unwrap_or(22).to_string(),
            "region" => host
                .region
                .clone()
                .ok_or_else(|| "{{region}} but the host has no region".to_string())?,
            _ => host
                .profile
                .clone()
                .ok_or_else(|| "{{profile}} but the host has no profile".to_string())?,
        };
        out.push_str(&value);
        rest = after.get(close + 2..).unwrap_or("");
    }
    out.push_str(rest);
    Ok(out)
}

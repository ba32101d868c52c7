//! The host pane's facts: every `label: value` line about one host.
//!
//! Part of [`crate::view`]: pure rows from the inventory, the state, the verdicts and `now`.

use super::*;

/// One `label: value` line of the host pane's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// Label.
    pub label: &'static str,
    /// Value.
    pub value: String,
}

/// The facts of one host, in the order the host pane lists them.
pub fn host_facts(ctx: &Ctx, i: usize) -> Vec<Fact> {
    let (host, hs, health) = ctx.host(i);
    let p = hs.probed.as_ref();
    let fresh = freshness(host, hs, ctx.now);
    let mut out = Vec::new();
    let mut push = |label, value: String| out.push(Fact { label, value });
    let address = match host.port {
        Some(port) => format!("{}:{port}", host.address),
        None => host.address.clone(),
    };
    push("address", address);
    push("status", health.status.as_str().to_string());
    let reach = match (hs.reachable(), &hs.error) {
        (None, _) => "not polled yet".to_string(),
        (Some(true), _) => "yes".into(),
        (Some(false), Some(e)) => match e.retry_in {
            Some(r) => format!("no: {} (retry in {})", e.message, short_duration(r)),
            None => format!("no: {}", e.message),
        },
        (Some(false), None) => "no".into(),
    };
    push("reachable", reach);
    let mut data = format!("{} old", fresh.text());
    if fresh.stale {
        data.push_str(" (stale)");
    }
    if let Some(ms) = hs.poll_elapsed {
        data.push_str(&format!(", poll took {} ms", ms.as_millis()));
    }
    push("data", data);
    if let Some(text) = source_text(ctx, i) {
        push("source", text);
    }
    for text in column_texts(ctx, i) {
        push("column", text);
    }
    if let Some(f) = &hs.facts {
        let ff = freshness_of(Some(f), Part::Facts.interval(host), ctx.now);
        push(
            "facts",
            format!(
                "read {} ago{}",
                ff.text(),
                if ff.stale { " (stale)" } else { "" }
            ),
        );
    }
    if !host.groups.is_empty() {
        push("groups", host.groups.join(", "));
    }
    if let Some(g) = &host.consensus_group {
        push("consensus", format!("{g} ({})", host.role.as_str()));
    }
    if let Some(u) = p.and_then(|p| p.uptime) {
        push("uptime", humantime_short(u));
    }
    if let Some(l) = p.and_then(|p| p.load) {
        push(
            "load",
            format!("{:.2} {:.2} {:.2}", l.one, l.five, l.fifteen),
        );
    }
    if let Some(f) = facts_of(hs) {
        if let Metric::Value(os) = &f.os {
            push("os", os.clone());
        }
        if let Metric::Value(k) = &f.kernel {
            push(
                "kernel",
                format!("{} {} {} ({})", k.os, k.release, k.machine, k.hostname),
            );
        }
        match &f.cpu {
            Metric::Value(c) => {
                let models: Vec<String> = c
                    .models
                    .iter()
                    .map(|m| format!("{} (*{})", m.name, m.count))
                    .collect();
                let sockets = c
                    .sockets
                    .map(|s| format!(", {s} socket(s)"))
                    .unwrap_or_default();
                push(
                    "cpu",
                    format!("{} CPUs{sockets}: {}", c.count, models.join("; ")),
                );
            }
            other => push("cpu", metric_text_unit(other)),
        }
        match &f.memory {
            Metric::Value(m) => {
                push(
                    "memory",
                    format!(
                        "{} total, {} available",
                        human_bytes(m.total_bytes),
                        human_bytes(m.available_bytes)
                    ),
                );
                push(
                    "swap",
                    if m.swap_total_bytes == 0 {
                        "none".into()
                    } else {
                        format!(
                            "{} total, {} free",
                            human_bytes(m.swap_total_bytes),
                            human_bytes(m.swap_free_bytes)
                        )
                    },
                );
            }
            other => push("memory", metric_text_unit(other)),
        }
        if let Metric::Value(d) = &f.dmi {
            let parts: Vec<&str> = [&d.vendor, &d.product, &d.bios_version]
                .into_iter()
                .filter_map(|x| x.as_deref())
                .collect();
            if !parts.is_empty() {
                push("hardware", parts.join(" / "));
            }
        }
        if let Metric::Value(fs) = &f.filesystems {
            let list: Vec<String> = fs
                .iter()
                .map(|f| {
                    format!(
                        "{} {:.0}% of {}",
                        f.usage.mounted_on,
                        f.usage.used_percent,
                        human_bytes(f.usage.total_bytes)
                    )
                })
                .collect();
            push(
                "filesystems",
                if list.is_empty() {
                    "none reported".into()
                } else {
                    list.join(", ")
                },
            );
        }
        match &f.interfaces {
            Metric::Value(ifs) => {
                let list: Vec<String> = ifs
                    .iter()
                    .map(|n| format!("{} {}", n.name, n.mac))
                    .collect();
                push("macs", list.join(", "));
            }
            other => push("macs", metric_text_unit(other)),
        }
        match &f.logins {
            Metric::Value(l) => {
                let list: Vec<String> = l
                    .iter()
                    .take(3)
                    .map(|l| {
                        let night = if l.night { " (night)" } else { "" };
                        format!("{} from {} {}{night}", l.user, l.from, l.when)
                    })
                    .collect();
                push(
                    "logins",
                    if list.is_empty() {
                        "none recorded".into()
                    } else {
                        list.join("; ")
                    },
                );
            }
            other => push("logins", metric_text_unit(other)),
        }
    }
    out
}

fn metric_text_unit<T>(m: &Metric<T>) -> String {
    match m {
        Metric::Value(_) => String::new(),
        Metric::Unavailable(why) => format!("unavailable: {why}"),
        Metric::Error(e) => format!("error: {e}"),
    }
}

/// Where the host's cells come from when Prometheus is involved, with the reading's age:
/// `prometheus (instance="10.0.0.1:9100", read 4s ago)`, `both: load, / from prometheus
/// (read 4s ago)`, and the server's failure when it did not answer.
fn source_text(ctx: &Ctx, i: usize) -> Option<String> {
    use crate::inventory::StatusSource;
    use crate::observation::CellSource::Prometheus;
    let p = ctx.fleet.prometheus.as_ref()?;
    let ph = p.hosts.get(i)?;
    let hs = &ctx.state.hosts[i];
    let age = match &hs.prom {
        Some(t) => format!(
            "read {} ago",
            short_duration(ctx.now.duration_since(t.at).unwrap_or_default())
        ),
        None => "not read yet".into(),
    };
    let mut text = match ph.source {
        StatusSource::Ssh => return None,
        StatusSource::Prometheus => {
            let label = &p.servers[ph.server].label;
            format!("prometheus ({label}=\"{}\", {age})", ph.instance)
        }
        StatusSource::Both => {
            let host = &ctx.fleet.hosts[i];
            let c = if hs.reachable() == Some(true) {
                hs.cells.clone()
            } else {
                hs.fallback_cells()
            };
            let mut filled: Vec<String> = Vec::new();
            if c.load == Prometheus {
                filled.push("load".into());
            }
            if c.uptime == Prometheus {
                filled.push("uptime".into());
            }
            if c.chain == Prometheus {
                filled.push("chain".into());
            }
            for (k, d) in host.disks.iter().enumerate() {
                if c.disk(k) == Prometheus {
                    filled.push(d.mount.clone());
                }
            }
            for (k, s) in host.services.iter().enumerate() {
                if c.service(k) == Prometheus {
                    filled.push(s.name.clone());
                }
            }
            if filled.is_empty() {
                format!("ssh, prometheus fills what it lacks ({age})")
            } else {
                format!("ssh; {} from prometheus ({age})", filled.join(", "))
            }
        }
    };
    if let Some(s) = ctx
        .state
        .sources
        .iter()
        .find(|s| s.server == ph.server && !s.ok)
    {
        text.push_str(&format!(
            " — {} did not answer: {}",
            s.url,
            s.error.as_deref().unwrap_or("no reply")
        ));
    }
    Some(text)
}

/// `[[prometheus.columns]]` on the host: `conntrack: 0.42 (warn 0.8, crit 0.95)`.
fn column_texts(ctx: &Ctx, i: usize) -> Vec<String> {
    let Some(p) = &ctx.fleet.prometheus else {
        return Vec::new();
    };
    let reading = ctx.state.hosts[i].prom.as_ref();
    p.columns
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let v = reading.and_then(|r| r.value.columns.get(k));
            let value = match (v.and_then(|v| v.value), v.and_then(|v| v.error.as_ref())) {
                (Some(x), _) => crate::health::format_value(x),
                (None, Some(e)) => format!("error: {e}"),
                (None, None) => "-".into(),
            };
            let limits: Vec<String> = [("warn", c.warn), ("crit", c.crit)]
                .into_iter()
                .filter_map(|(n, l)| l.map(|l| format!("{n} {}", crate::health::format_value(l))))
                .collect();
            if limits.is_empty() {
                format!("{}: {value}", c.name)
            } else {
                format!("{}: {value} ({})", c.name, limits.join(", "))
            }
        })
        .collect()
}

/// `3d 4h`, `2h 5m`, `4m 10s`: two units, for uptimes.
pub fn humantime_short(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins, secs) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {mins}m")
    } else {
        format!("{mins}m {secs}s")
    }
}

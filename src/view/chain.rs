//! The Chain pane: one row per chain node and one summary per chain, with the quorum
//! arithmetic of consensus groups.
//!
//! Part of [`crate::view`]: pure rows from the inventory, the state, the verdicts and `now`.

use super::*;

/// One chain node.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainRow {
    /// Index into `Fleet::hosts`.
    pub host: usize,
    /// Host name.
    pub host_name: String,
    /// `ethereum`, `conflux`, `fisco-bcos`, `command`.
    pub kind: &'static str,
    /// Which chain it belongs to (kind and consensus group), as in [`ChainSummary::chain`].
    pub chain: String,
    /// Height, `n/a`, `err`, or `-` before data.
    pub height: String,
    /// Blocks behind the highest node of the same chain.
    pub lag: String,
    /// Blocks per minute over the recent history.
    pub blocks_per_min: String,
    /// Recent heights minus the lowest of them (so growth shows), oldest first.
    pub spark: Vec<u64>,
    /// Peers.
    pub peers: String,
    /// `yes`, `no`, `n/a`.
    pub syncing: String,
    /// The configured role, and the chain's own view when it differs.
    pub role: String,
    /// Client version.
    pub client: String,
    /// Why the node does not count as healthy in its consensus group, or its worst chain
    /// alert; empty when fine.
    pub problem: String,
    /// Worst status of the chain rules for this node (colour of the height cell).
    pub status: Status,
    /// Freshness of the chain reading.
    pub fresh: Freshness,
}

impl ChainRow {
    /// Fields a filter looks at.
    pub fn filter_fields(&self) -> impl Iterator<Item = &str> {
        [
            self.host_name.as_str(),
            self.kind,
            self.chain.as_str(),
            self.role.as_str(),
        ]
        .into_iter()
    }
}

/// Quorum arithmetic of a BFT consensus group, as `health::consensus_groups` judged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quorum {
    /// Consensus members (N).
    pub n: usize,
    /// Failures tolerated, ⌊(N−1)/3⌋ (F).
    pub f: usize,
    /// Members that are healthy now.
    pub healthy: usize,
    /// Sealers the chain itself lists, when a member said.
    pub on_chain: Option<usize>,
}

impl Quorum {
    /// The quorum of a judged group.
    pub fn of(g: &GroupHealth) -> Quorum {
        Quorum {
            n: g.n,
            f: g.f,
            healthy: g.healthy,
            on_chain: g.on_chain_sealers,
        }
    }

    /// Unhealthy members.
    pub fn faulty(&self) -> usize {
        self.n - self.healthy
    }

    /// More than F members are down: the group cannot make progress.
    pub fn stalled(&self) -> bool {
        self.n > 0 && self.faulty() > self.f
    }

    /// Exactly F members are down (F ≥ 1): one more failure stalls the group.
    pub fn one_from_stalling(&self) -> bool {
        self.n > 0 && self.faulty() > 0 && self.faulty() == self.f
    }

    /// Critical when stalled or one failure away, warning with any member down.
    pub fn status(&self) -> Status {
        if self.n == 0 {
            Status::Unknown
        } else if self.stalled() || self.one_from_stalling() {
            Status::Critical
        } else if self.faulty() > 0 {
            Status::Warning
        } else {
            Status::Ok
        }
    }

    /// `N=4 F=1 healthy 3/4 — one failure from stalling`.
    pub fn text(&self) -> String {
        let verdict = if self.stalled() {
            " — STALLED (more than F down)"
        } else if self.one_from_stalling() {
            " — one failure from stalling"
        } else if self.f == 0 {
            " — no failure tolerated"
        } else {
            ""
        };
        let chain = match self.on_chain {
            Some(c) if c != self.n => format!(" (chain lists {c} sealers)"),
            _ => String::new(),
        };
        format!(
            "N={} F={} healthy {}/{}{verdict}{chain}",
            self.n, self.f, self.healthy, self.n
        )
    }
}

/// One chain: nodes of the same kind in the same consensus group.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainSummary {
    /// `ethereum`, `fisco-bcos/group0`.
    pub chain: String,
    /// Nodes configured.
    pub nodes: usize,
    /// Highest height seen.
    pub best: String,
    /// Blocks per minute of the highest node.
    pub blocks_per_min: String,
    /// The consensus group's quorum, when the chain has one.
    pub quorum: Option<Quorum>,
    /// Colour of the line.
    pub status: Status,
}

fn kind_name(k: ChainKind) -> &'static str {
    match k {
        ChainKind::Ethereum => "ethereum",
        ChainKind::Conflux => "conflux",
        ChainKind::FiscoBcos => "fisco-bcos",
        ChainKind::Command => "command",
    }
}

fn chain_label(host: &Host) -> Option<String> {
    let c = host.chain.as_ref()?;
    Some(match &host.consensus_group {
        Some(g) => format!("{}/{g}", kind_name(c.kind)),
        None => kind_name(c.kind).to_string(),
    })
}

fn rate_text(r: Option<f64>) -> String {
    match r {
        None => "-".into(),
        Some(r) if r >= 10.0 => format!("{r:.0}"),
        Some(r) => format!("{r:.1}"),
    }
}

const CHAIN_RULES: &[&str] = &[
    "height_stalled",
    "chain_rpc_error",
    "height_lag",
    "chain_height_unavailable",
    "peers_low",
    "syncing",
    "consensus_lost",
    "consensus_at_risk",
];

/// The chain nodes among `hosts`.
pub fn chain_rows(ctx: &Ctx, hosts: &[usize]) -> Vec<ChainRow> {
    let groups = health::consensus_groups(ctx.fleet, ctx.state, ctx.now);
    let mut out = Vec::new();
    for &i in hosts {
        let (host, hs, health) = ctx.host(i);
        let Some(cfg) = &host.chain else { continue };
        let p = hs.probed.as_ref();
        let c = p.and_then(|p| p.chain.as_ref());
        let min = hs.heights.iter().map(|(_, h)| *h).min().unwrap_or(0);
        let member = groups.iter().flat_map(|g| &g.members).find(|m| m.host == i);
        let observed_role = member.and_then(|m| m.observed_role).or_else(|| {
            p.and_then(|p| p.chain_detail.as_ref())
                .and_then(|d| d.observed_role())
        });
        let problem = member
            .and_then(|m| m.problem.clone())
            .or_else(|| {
                health
                    .alerts
                    .iter()
                    .find(|a| CHAIN_RULES.contains(&a.rule) && !a.rule.starts_with("consensus"))
                    .map(|a| a.message.clone())
            })
            .unwrap_or_default();
        let role = match observed_role {
            Some(seen) if seen != host.role => {
                format!("{} (chain: {})", host.role.as_str(), seen.as_str())
            }
            _ => host.role.as_str().to_string(),
        };
        let status = worst(
            health
                .alerts
                .iter()
                .filter(|a| CHAIN_RULES.contains(&a.rule))
                .map(|a| match a.severity {
                    Severity::Critical => Status::Critical,
                    Severity::Warning => Status::Warning,
                }),
        );
        out.push(ChainRow {
            host: i,
            host_name: host.name.clone(),
            kind: kind_name(cfg.kind),
            chain: chain_label(host).unwrap_or_default(),
            height: c.map_or_else(|| "-".into(), |c| metric_text(&c.height)),
            lag: health.lag.map_or_else(|| "-".into(), |l| l.to_string()),
            blocks_per_min: rate_text(hs.blocks_per_minute()),
            spark: hs.heights.iter().map(|(_, h)| h - min).collect(),
            peers: c.map_or_else(|| "-".into(), |c| metric_text(&c.peers)),
            syncing: c.map_or_else(
                || "-".into(),
                |c| match c.syncing {
                    Metric::Value(true) => "yes".into(),
                    Metric::Value(false) => "no".into(),
                    ref other => metric_text(other),
                },
            ),
            role,
            client: c.and_then(|c| c.client.clone()).unwrap_or_default(),
            problem,
            status: if hs.polled_at.is_none() {
                Status::Unknown
            } else {
                status
            },
            fresh: Part::Chain.freshness(host, hs, ctx.now),
        });
    }
    out
}

/// One summary per chain among `hosts`, with the quorum of chains in a consensus group.
pub fn chain_summaries(ctx: &Ctx, hosts: &[usize]) -> Vec<ChainSummary> {
    let groups = health::consensus_groups(ctx.fleet, ctx.state, ctx.now);
    let mut chains: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for &i in hosts {
        if let Some(label) = chain_label(&ctx.fleet.hosts[i]) {
            chains.entry(label).or_default().push(i);
        }
    }
    chains
        .into_iter()
        .map(|(chain, members)| {
            let best = members
                .iter()
                .filter_map(|&i| {
                    let hs = &ctx.state.hosts[i];
                    hs.heights.back().map(|(_, h)| (*h, i))
                })
                .max();
            let group = ctx.fleet.hosts[members[0]].consensus_group.as_deref();
            let quorum = group
                .and_then(|g| groups.iter().find(|x| x.name == g))
                .filter(|g| g.n > 0)
                .map(Quorum::of);
            let status = quorum.map_or_else(
                || worst(members.iter().map(|&i| ctx.health[i].status)),
                |q| q.status(),
            );
            ChainSummary {
                chain,
                nodes: members.len(),
                best: best.map_or_else(|| "-".into(), |(h, _)| h.to_string()),
                blocks_per_min: rate_text(
                    best.and_then(|(_, i)| ctx.state.hosts[i].blocks_per_minute()),
                ),
                quorum,
                status,
            }
        })
        .collect()
}

//! The fleet table: one row per host, its filter, sort and grouping, and the counts for the
//! status line.
//!
//! Part of [`crate::view`]: pure rows from the inventory, the state, the verdicts and `now`.

use super::*;

pub use crate::report::FleetKeys;

/// One host in the console's fleet table: the core [`report::FleetRow`] — the row the `status`
/// table prints, every cell's text computed there once — plus how old the data behind each value
/// cell is. It dereferences to the core row (`row.name`, `row.status`, `row.keys` read
/// through), since it is that row with ages, not another description of the host.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRow {
    /// The text of every cell, the note and the sort keys (`keys.age` filled in here).
    pub core: report::FleetRow,
    /// Freshness of each value cell, in [`report::FLEET_CELLS`] order; a placeholder cell
    /// (`-`) has nothing behind it and never goes stale.
    pub ages: [Freshness; report::FLEET_CELLS],
    /// The oldest cell's age (the AGE column); stale when any cell is.
    pub fresh: Freshness,
    /// When the newest of the host's open alerts was raised (set by [`note_problems`]): the
    /// console's "newest problem first"; the status table has no alert book, so not in `core`.
    pub problem_since: Option<SystemTime>,
    /// `core.note` is the stale note this module wrote, not the report's (an alert, an error):
    /// [`refresh_fleet_rows`] rewrites it as the data ages.
    stale_note: bool,
}

impl std::ops::Deref for FleetRow {
    type Target = report::FleetRow;

    fn deref(&self) -> &report::FleetRow {
        &self.core
    }
}

impl FleetRow {
    /// The value cells with their ages, in [`report::FLEET_CELLS`] order.
    pub fn cells(&self) -> [DataCell<'_>; report::FLEET_CELLS] {
        let text = self.core.cells();
        std::array::from_fn(|k| DataCell::new(text[k], self.ages[k]))
    }

    /// REACH: `yes`, `no`, or `…` (`prom`, `yes+p` with Prometheus); as old as the latest
    /// poll attempt.
    pub fn reach(&self) -> DataCell<'_> {
        self.cells()[0]
    }

    /// SVC.
    pub fn services(&self) -> DataCell<'_> {
        self.cells()[1]
    }

    /// HEIGHT.
    pub fn height(&self) -> DataCell<'_> {
        self.cells()[2]
    }

    /// PEERS.
    pub fn peers(&self) -> DataCell<'_> {
        self.cells()[3]
    }

    /// DISK.
    pub fn disk(&self) -> DataCell<'_> {
        self.cells()[4]
    }

    /// BACKUP.
    pub fn backup(&self) -> DataCell<'_> {
        self.cells()[5]
    }
}

/// Builds the fleet rows of `hosts` (inventory indices), in that order.
pub fn fleet_rows(ctx: &Ctx, hosts: &[usize]) -> Vec<FleetRow> {
    hosts.iter().map(|&i| fleet_row(ctx, i)).collect()
}

/// The fleet rows of `hosts` at `ctx`, as [`fleet_rows`] builds them, reusing `previous` — the
/// rows of the same hosts built from the same state (`ctx.state.version` unchanged) at an
/// earlier `now` — where nothing but time moved: only the ages and the stale note are redone.
/// A row is built again when its host's verdict changed (status or first alert) or its cells
/// read the clock (a backup age without the host's clock). With `previous` from another state
/// or another host list, every row is built again.
///
/// Why: the store judges the fleet every second, so the console builds its model every second
/// even when no poll arrived; at 10,000 hosts, formatting every row's text was most of that
/// (docs/benchmarks.md, "A fleet read from Prometheus").
pub fn refresh_fleet_rows(
    ctx: &Ctx,
    hosts: &[usize],
    previous: Vec<FleetRow>,
    same_state: bool,
) -> Vec<FleetRow> {
    let built_at = same_state.then_some(ctx.state.version);
    refresh_fleet_rows_since(ctx, hosts, previous, built_at)
}

/// [`refresh_fleet_rows`] for `previous` rows built from the state at version `built_at`
/// (`None`: unknown, or for another host list): the row of a host whose state changed since
/// (`HostState::changed`) is built again, the others are reused as [`refresh_fleet_rows`]
/// reuses rows of an unchanged state. What the console does after a poll: one observation
/// builds one row, not the fleet's.
pub fn refresh_fleet_rows_since(
    ctx: &Ctx,
    hosts: &[usize],
    previous: Vec<FleetRow>,
    built_at: Option<u64>,
) -> Vec<FleetRow> {
    let Some(built_at) = built_at.filter(|_| previous.len() == hosts.len()) else {
        return fleet_rows(ctx, hosts);
    };
    previous
        .into_iter()
        .zip(hosts)
        .map(|(row, &i)| {
            let unchanged = ctx
                .state
                .hosts
                .get(i)
                .is_some_and(|hs| hs.changed <= built_at);
            if row.host == i && unchanged && reusable(ctx, i, &row) {
                aged(ctx, i, row)
            } else {
                fleet_row(ctx, i)
            }
        })
        .collect()
}

/// Whether `row`, built from the current state, still says what [`fleet_row`] would say now
/// apart from ages: the same verdict, and no cell computed from `now`.
fn reusable(ctx: &Ctx, i: usize, row: &FleetRow) -> bool {
    let (host, hs, health) = ctx.host(i);
    // `report::fleet_row` reads the clock only for a backup age when the host gave no time.
    let clock_free =
        host.backups.is_empty() || hs.probed.as_ref().is_none_or(|p| p.host_time.is_some());
    let note = health
        .alerts
        .first()
        .map(|a| a.message.as_str())
        .or_else(|| hs.error.as_ref().map(|e| e.message.as_str()))
        .unwrap_or_default();
    let same_note = if row.stale_note {
        note.is_empty()
    } else {
        row.core.note == note
    };
    clock_free && row.core.status == health.status && same_note
}

fn fleet_row(ctx: &Ctx, i: usize) -> FleetRow {
    let core = report::fleet_row(ctx.fleet, ctx.state, &ctx.health[i], i, ctx.now);
    aged(
        ctx,
        i,
        FleetRow {
            core,
            ages: Default::default(),
            fresh: Freshness::default(),
            problem_since: None,
            stale_note: false,
        },
    )
}

/// The part each value cell is read by, in [`report::FLEET_CELLS`] order.
const CELL_PARTS: [Part; report::FLEET_CELLS] = [
    Part::Reach,
    Part::Services,
    Part::Chain,
    Part::Chain,
    Part::Disks,
    Part::Backups,
];

/// `row` with the ages of its cells, the AGE key and the stale note as of `ctx.now`.
fn aged(ctx: &Ctx, i: usize, mut row: FleetRow) -> FleetRow {
    let (host, hs, _) = ctx.host(i);
    let core = &mut row.core;
    row.ages = std::array::from_fn(|k| {
        if core.read[k] {
            CELL_PARTS[k].freshness(host, hs, ctx.now)
        } else {
            Freshness::default()
        }
    });
    row.fresh = row
        .ages
        .iter()
        .fold(Freshness::default(), |acc, f| acc.oldest(*f));
    core.keys.age = row.fresh.age.map(|a| a.as_secs());
    if row.stale_note {
        core.note.clear();
        row.stale_note = false;
    }
    if core.note.is_empty() && row.fresh.stale {
        core.note = format!("stale: no data for {}", row.fresh.text());
        row.stale_note = true;
    }
    row.problem_since = None;
    row
}

/// Columns the fleet table sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortColumn {
    /// Inventory order.
    #[default]
    Inventory,
    /// Host name.
    Name,
    /// Status, worst first.
    Status,
    /// Services not running, most first.
    Services,
    /// Chain height, lowest first (the laggards).
    Height,
    /// Peers, fewest first.
    Peers,
    /// Disk use, fullest first.
    Disk,
    /// Oldest backup first.
    Backup,
    /// Oldest data first.
    Age,
}

impl SortColumn {
    /// Every column, in the order `s` cycles through them.
    pub const ALL: [SortColumn; 9] = [
        SortColumn::Inventory,
        SortColumn::Name,
        SortColumn::Status,
        SortColumn::Services,
        SortColumn::Height,
        SortColumn::Peers,
        SortColumn::Disk,
        SortColumn::Backup,
        SortColumn::Age,
    ];

    /// The name used by `:sort` and shown in the title.
    pub fn name(self) -> &'static str {
        match self {
            SortColumn::Inventory => "inventory",
            SortColumn::Name => "name",
            SortColumn::Status => "status",
            SortColumn::Services => "services",
            SortColumn::Height => "height",
            SortColumn::Peers => "peers",
            SortColumn::Disk => "disk",
            SortColumn::Backup => "backup",
            SortColumn::Age => "age",
        }
    }

    /// The column called `name`.
    pub fn from_name(name: &str) -> Option<SortColumn> {
        SortColumn::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The next column in the cycle.
    pub fn next(self) -> SortColumn {
        let i = SortColumn::ALL.iter().position(|c| *c == self).unwrap_or(0);
        SortColumn::ALL[(i + 1) % SortColumn::ALL.len()]
    }
}

/// How the fleet table groups hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    /// One flat list.
    #[default]
    None,
    /// By inventory group (a host in two groups shows under both).
    Group,
    /// By region.
    Region,
    /// By consensus group.
    Consensus,
}

impl GroupBy {
    /// Every grouping, in the order `b` cycles through them.
    pub const ALL: [GroupBy; 4] = [
        GroupBy::None,
        GroupBy::Group,
        GroupBy::Region,
        GroupBy::Consensus,
    ];

    /// The name used by `:groupby` and shown in the title.
    pub fn name(self) -> &'static str {
        match self {
            GroupBy::None => "none",
            GroupBy::Group => "group",
            GroupBy::Region => "region",
            GroupBy::Consensus => "consensus",
        }
    }

    /// The grouping called `name`.
    pub fn from_name(name: &str) -> Option<GroupBy> {
        GroupBy::ALL.into_iter().find(|g| g.name() == name)
    }

    /// The next grouping in the cycle.
    pub fn next(self) -> GroupBy {
        let i = GroupBy::ALL.iter().position(|c| *c == self).unwrap_or(0);
        GroupBy::ALL[(i + 1) % GroupBy::ALL.len()]
    }
}

/// A row filter typed after `/`: a glob (`dvn-*`), a regular expression (`^h[12]$`) or plain
/// text (a case-insensitive substring); a leading `!` keeps the rows that do *not* match.
#[derive(Debug, Clone)]
pub struct Filter {
    text: String,
    invert: bool,
    how: Matcher,
}

#[derive(Debug, Clone)]
enum Matcher {
    Glob(globset::GlobMatcher),
    Regex(regex::Regex),
    Text(String),
}

impl Filter {
    /// Parses a filter; `Ok(None)` for an empty one. A pattern with `*`, `?` or `[` and no
    /// other regex syntax is a glob (matched against whole fields); one with regex syntax is a
    /// regular expression (searched in each field); anything else is a substring. All are
    /// case-insensitive.
    pub fn parse(text: &str) -> Result<Option<Filter>, String> {
        let trimmed = text.trim();
        let (invert, pattern) = match trimmed.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, trimmed),
        };
        if pattern.is_empty() {
            return Ok(None);
        }
        let regex_syntax = pattern.contains(['^', '$', '(', ')', '|', '+', '\\', '{', '}']);
        let glob_syntax = pattern.contains(['*', '?', '[']);
        let how = if glob_syntax && !regex_syntax && !pattern.contains(".*") {
            let glob = globset::GlobBuilder::new(pattern)
                .case_insensitive(true)
                .build()
                .map_err(|e| format!("invalid glob {pattern:?}: {e}"))?;
            Matcher::Glob(glob.compile_matcher())
        } else if regex_syntax || glob_syntax || pattern.contains('.') {
            let re = regex::RegexBuilder::new(pattern)
                .case_insensitive(true)
                .build()
                .map_err(|e| format!("invalid regex {pattern:?}: {e}"))?;
            Matcher::Regex(re)
        } else {
            Matcher::Text(pattern.to_lowercase())
        };
        Ok(Some(Filter {
            text: trimmed.to_string(),
            invert,
            how,
        }))
    }

    /// The text as typed (trimmed).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether a row with these fields passes.
    pub fn keeps<'a>(&self, fields: impl IntoIterator<Item = &'a str>) -> bool {
        let mut fields = fields.into_iter();
        let hit = match &self.how {
            Matcher::Glob(g) => fields.any(|f| g.is_match(f)),
            Matcher::Regex(r) => fields.any(|f| r.is_match(f)),
            Matcher::Text(t) => fields.any(|f| f.to_lowercase().contains(t.as_str())),
        };
        hit != self.invert
    }
}

impl FleetRow {
    /// The fields a filter looks at: name, status, groups, consensus group, region.
    pub fn filter_fields(&self) -> impl Iterator<Item = &str> {
        [self.name.as_str(), self.status.as_str()]
            .into_iter()
            .chain(self.groups.iter().map(String::as_str))
            .chain(self.consensus_group.as_deref())
            .chain(self.region.as_deref())
    }
}

/// Records in each row when its newest open alert was raised, for "newest problem first".
/// The alert book is the one place that knows since when something has been failing.
pub fn note_problems(rows: &mut [FleetRow], alerts: &AlertBook) {
    let mut newest: HashMap<&str, SystemTime> = HashMap::new();
    for a in alerts.active() {
        let e = newest.entry(a.key.host.as_str()).or_insert(a.since);
        *e = (*e).max(a.since);
    }
    for r in rows {
        r.problem_since = newest.get(r.name.as_str()).copied();
    }
}

/// How the fleet table is arranged.
#[derive(Debug, Clone, Default)]
pub struct FleetQuery {
    /// Hosts in warning or critical before the rest (worst status, then newest problem), each part
    /// then ordered by the sort column (`[ui] sort = "problems"`, the default).
    pub problems_first: bool,
    /// Column to sort by.
    pub sort: SortColumn,
    /// Reverse the column's natural order.
    pub reverse: bool,
    /// Worst status first, before the sort column.
    pub worst_first: bool,
    /// Grouping.
    pub group_by: GroupBy,
    /// Only hosts passing this filter.
    pub filter: Option<Filter>,
    /// Only hosts in this group or consensus group (`:group G`).
    pub group: Option<String>,
}

/// One line of the arranged fleet table.
#[derive(Debug, Clone, PartialEq)]
pub enum FleetLine {
    /// A group heading.
    Group {
        /// Group name (`(none)` for hosts outside every group).
        label: String,
        /// Hosts under it.
        hosts: usize,
        /// Their worst status.
        worst: Status,
    },
    /// A host: index into the rows given to [`arrange`].
    Host(usize),
}

fn cmp_opt<T: PartialOrd>(a: &Option<T>, b: &Option<T>) -> Ordering {
    // Missing values sort last whichever way the column runs.
    match (a, b) {
        (Some(a), Some(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn cmp_opt_desc<T: PartialOrd>(a: &Option<T>, b: &Option<T>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => b.partial_cmp(a).unwrap_or(Ordering::Equal),
        _ => cmp_opt(a, b),
    }
}

fn compare(a: &FleetRow, b: &FleetRow, col: SortColumn) -> Ordering {
    let k = (&a.keys, &b.keys);
    match col {
        SortColumn::Inventory => a.host.cmp(&b.host),
        SortColumn::Name => a.name.cmp(&b.name),
        SortColumn::Status => b.status.cmp(&a.status),
        SortColumn::Services => k.1.services_down.cmp(&k.0.services_down),
        SortColumn::Height => cmp_opt(&k.0.height, &k.1.height),
        SortColumn::Peers => cmp_opt(&k.0.peers, &k.1.peers),
        SortColumn::Disk => cmp_opt_desc(&k.0.disk, &k.1.disk),
        SortColumn::Backup => cmp_opt_desc(&k.0.backup_age, &k.1.backup_age),
        SortColumn::Age => cmp_opt_desc(&k.0.age, &k.1.age),
    }
}

fn missing(r: &FleetRow, col: SortColumn) -> bool {
    let k = &r.keys;
    match col {
        SortColumn::Height => k.height.is_none(),
        SortColumn::Peers => k.peers.is_none(),
        SortColumn::Disk => k.disk.is_none(),
        SortColumn::Backup => k.backup_age.is_none(),
        SortColumn::Age => k.age.is_none(),
        _ => false,
    }
}

/// Problems (warning, critical) before the rest; among problems, in inventory order (the default column), the worst
/// status and then the newest problem first, so the host that just broke is on top. An operator
/// who picked a column gets it inside each part.
fn problem_order(a: &FleetRow, b: &FleetRow, col: SortColumn) -> Ordering {
    // A problem is a warning or worse: a host not polled yet (unknown) is news of nothing, and
    // an unreachable one is critical anyway.
    let pa = a.status > Status::Unknown;
    let pb = b.status > Status::Unknown;
    let by_part = pb.cmp(&pa);
    if !(pa && pb) || col != SortColumn::Inventory {
        return by_part;
    }
    b.status
        .cmp(&a.status)
        .then_with(|| b.problem_since.cmp(&a.problem_since))
}

/// Filters, sorts and groups `rows` into display lines.
pub fn arrange(rows: &[FleetRow], q: &FleetQuery) -> Vec<FleetLine> {
    let mut order: Vec<usize> = (0..rows.len())
        .filter(|&i| {
            let r = &rows[i];
            q.group.as_deref().is_none_or(|g| {
                r.groups.iter().any(|x| x == g) || r.consensus_group.as_deref() == Some(g)
            }) && q.filter.as_ref().is_none_or(|f| f.keeps(r.filter_fields()))
        })
        .collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (&rows[a], &rows[b]);
        let problems = if q.problems_first {
            problem_order(ra, rb, q.sort)
        } else {
            Ordering::Equal
        };
        let first = if q.worst_first {
            rb.status.cmp(&ra.status)
        } else {
            Ordering::Equal
        };
        let first = problems.then(first);
        // Reversing flips the values, never where missing ones go: they stay last.
        let missing = missing(ra, q.sort).cmp(&missing(rb, q.sort));
        let by_col = compare(ra, rb, q.sort);
        let by_col = if q.reverse { by_col.reverse() } else { by_col };
        first.then(missing).then(by_col).then(ra.host.cmp(&rb.host))
    });
    if q.group_by == GroupBy::None {
        return order.into_iter().map(FleetLine::Host).collect();
    }
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for i in order {
        let r = &rows[i];
        let labels: Vec<String> = match q.group_by {
            GroupBy::None => unreachable!("handled above"),
            GroupBy::Group => r.groups.clone(),
            GroupBy::Region => r.region.iter().cloned().collect(),
            GroupBy::Consensus => r.consensus_group.iter().cloned().collect(),
        };
        if labels.is_empty() {
            groups.entry(String::new()).or_default().push(i);
        }
        for l in labels {
            groups.entry(l).or_default().push(i);
        }
    }
    let mut groups: Vec<(String, Vec<usize>)> = groups.into_iter().collect();
    // The catch-all group goes last; with worst-first, the worst group goes first.
    groups.sort_by(|(la, a), (lb, b)| {
        let wa = worst(a.iter().map(|&i| rows[i].status));
        let wb = worst(b.iter().map(|&i| rows[i].status));
        let w = if q.worst_first {
            wb.cmp(&wa)
        } else {
            Ordering::Equal
        };
        la.is_empty().cmp(&lb.is_empty()).then(w).then(la.cmp(lb))
    });
    let mut lines = Vec::new();
    for (label, members) in groups {
        let none = match q.group_by {
            GroupBy::Region => "(no region)",
            GroupBy::Consensus => "(no consensus group)",
            _ => "(no group)",
        };
        lines.push(FleetLine::Group {
            label: if label.is_empty() {
                none.to_string()
            } else {
                label
            },
            hosts: members.len(),
            worst: worst(members.iter().map(|&i| rows[i].status)),
        });
        lines.extend(members.into_iter().map(FleetLine::Host));
    }
    lines
}

pub use crate::report::Summary;

/// Counts over `rows` (the hosts shown), for the status line.
pub fn summary(rows: &[FleetRow]) -> Summary {
    let mut s = Summary::default();
    for r in rows {
        // Reached by its own poll (`yes`) or read as up from Prometheus (`prom`, `yes+p`).
        let reached = matches!(r.reach, "yes" | "yes+p" | "prom");
        s.count(r.status, reached, r.fresh.stale);
    }
    s
}

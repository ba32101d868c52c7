//! Reading Ansible inventories: INI and YAML files, a directory of them, and the JSON that
//! `ansible-inventory --list` prints, with `group_vars/` and `host_vars/` beside them. The
//! result is one [`AnsibleHost`] per inventory host with its variables already layered the way
//! Ansible layers them (the `all` group, then parent groups before child groups, then the host's
//! own; a `group_vars/`/`host_vars/` file over the inventory file's vars of the same group or
//! host), and every group it belongs to, directly or through `children`.
//!
//! What it reads and why it parses Ansible's INI itself: Ansible's INI is not plain INI (a host
//! line is a shell-split list `NAME [KEY=VALUE …]`, sections are `[group]`, `[group:vars]`,
//! `[group:children]`, host names carry ranges `web[01:03]` and `host:port`), so a generic INI
//! crate would read it wrong. [`ini`] follows Ansible's `plugins/inventory/ini.py` for those
//! forms; YAML and JSON go through `serde_norway` ([`yaml`]). Dynamic inventory scripts are never
//! run: `ansible-inventory -i SCRIPT --list > inventory.json` turns one into a file this reads.
//!
//! Every error names the Ansible file, and its line when it has one. Pure apart from reading the
//! files it is given. Callers: `inventory::import` (the `[[import]]` table) and `fleetdeck init`.

mod ini;
mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::diag::Located;

/// A variable's value: text (numbers and booleans as Ansible would print them) or something
/// structured that fleetdeck does not use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarValue {
    /// A scalar, as text.
    Text(String),
    /// A list or mapping.
    Structured,
}

/// One variable with where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Var {
    /// Its value.
    pub value: VarValue,
    /// The file that set it.
    pub file: PathBuf,
    /// The line, when the format tells it.
    pub line: Option<usize>,
}

impl Var {
    /// The value as text, `None` for a structured one.
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            VarValue::Text(t) => Some(t),
            VarValue::Structured => None,
        }
    }

    /// An error at this variable's place.
    pub fn error(&self, message: impl Into<String>) -> Located {
        Located {
            path: self.file.display().to_string(),
            line: self.line,
            column: None,
            message: message.into(),
        }
    }
}

/// Variables by name.
pub type Vars = BTreeMap<String, Var>;

/// One host of an Ansible inventory, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnsibleHost {
    /// The inventory host name (`inventory_hostname`).
    pub name: String,
    /// Its variables, layered as Ansible does.
    pub vars: Vars,
    /// Every group it belongs to (directly or through `children`), `all` and `ungrouped`
    /// left out, nearest first.
    pub groups: Vec<String>,
    /// The file that first named it.
    pub file: PathBuf,
    /// The line there, when the format tells it.
    pub line: Option<usize>,
}

/// An Ansible inventory read from disk.
#[derive(Debug, Clone, Default)]
pub struct AnsibleInventory {
    /// The hosts, in the order they were first named.
    pub hosts: Vec<AnsibleHost>,
    /// Every file and directory read (for watching them).
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Default)]
struct Group {
    hosts: Vec<String>,
    children: Vec<String>,
    vars: Vars,
}

/// What the parsers add to, in file order; resolved once everything is read.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    groups: BTreeMap<String, Group>,
    /// Host name → (first file, line, inline vars), in the order first named.
    hosts: Vec<(String, PathBuf, Option<usize>, Vars)>,
    host_index: BTreeMap<String, usize>,
    /// `host_vars/` over inline host vars.
    host_file_vars: BTreeMap<String, Vars>,
    /// `group_vars/` over inventory group vars.
    group_file_vars: BTreeMap<String, Vars>,
}

impl Builder {
    fn group(&mut self, name: &str) -> &mut Group {
        self.groups.entry(name.to_owned()).or_default()
    }

    /// A host in `group` (its inline vars added over earlier ones).
    pub(crate) fn add_host(
        &mut self,
        group: &str,
        name: &str,
        vars: Vars,
        file: &Path,
        line: Option<usize>,
    ) {
        let g = self.group(group);
        if !g.hosts.iter().any(|h| h == name) {
            g.hosts.push(name.to_owned());
        }
        match self.host_index.get(name) {
            Some(&i) => self.hosts[i].3.extend(vars),
            None => {
                self.host_index.insert(name.to_owned(), self.hosts.len());
                self.hosts
                    .push((name.to_owned(), file.to_path_buf(), line, vars));
            }
        }
    }

    /// `child` is a child group of `group`.
    pub(crate) fn add_child(&mut self, group: &str, child: &str) {
        self.group(child);
        let g = self.group(group);
        if !g.children.iter().any(|c| c == child) {
            g.children.push(child.to_owned());
        }
    }

    /// Vars of `group` from the inventory file itself.
    pub(crate) fn add_group_vars(&mut self, group: &str, vars: Vars) {
        self.group(group).vars.extend(vars);
    }

    /// Hosts and groups of the inventory, resolved.
    fn finish(self) -> Vec<AnsibleHost> {
        let Builder {
            groups,
            hosts,
            host_file_vars,
            group_file_vars,
            ..
        } = self;
        // Parents of each group, for membership through `children`.
        let mut parents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, g) in &groups {
            for child in &g.children {
                parents
                    .entry(child.as_str())
                    .or_default()
                    .push(name.as_str());
            }
        }
        // Depth: the longest chain of parents above a group (Ansible sorts group vars by it,
        // so a child group's vars win over its parent's).
        let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
        fn depth_of<'a>(
            g: &'a str,
            parents: &BTreeMap<&'a str, Vec<&'a str>>,
            depth: &mut BTreeMap<&'a str, usize>,
            seen: &mut BTreeSet<&'a str>,
        ) -> usize {
            if let Some(&d) = depth.get(g) {
                return d;
            }
            if !seen.insert(g) {
                return 0; // a cycle in `children`: Ansible refuses it, we stop climbing
            }
            let d = parents.get(g).map_or(0, |ps| {
                ps.iter()
                    .map(|p| depth_of(p, parents, depth, seen) + 1)
                    .max()
                    .unwrap_or(0)
            });
            depth.insert(g, d);
            d
        }
        for name in groups.keys() {
            depth_of(name, &parents, &mut depth, &mut BTreeSet::new());
        }
        // Host → the groups that list it directly, built once (not a scan of every group per
        // host: an inventory of thousands of hosts in one group would be quadratic).
        let mut direct: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (g, group) in &groups {
            for h in &group.hosts {
                direct.entry(h.as_str()).or_default().push(g.as_str());
            }
        }
        let mut out = Vec::with_capacity(hosts.len());
        for (name, file, line, inline) in &hosts {
            // Direct groups first, then their ancestors, breadth first.
            let mut member: Vec<&str> = direct.get(name.as_str()).cloned().unwrap_or_default();
            let mut i = 0;
            while i < member.len() {
                for p in parents.get(member[i]).into_iter().flatten() {
                    if !member.contains(p) {
                        member.push(p);
                    }
                }
                i += 1;
            }
            let mut layered: Vec<&str> = member.clone();
            if !layered.contains(&"all") {
                layered.push("all");
            }
            layered.sort_by_key(|g| (if *g == "all" { 0 } else { 1 }, depth.get(g), *g));
            let mut vars = Vars::new();
            for g in &layered {
                if let Some(group) = groups.get(*g) {
                    vars.extend(group.vars.clone());
                }
                if let Some(v) = group_file_vars.get(*g) {
                    vars.extend(v.clone());
                }
            }
            vars.extend(inline.clone());
            if let Some(v) = host_file_vars.get(name) {
                vars.extend(v.clone());
            }
            out.push(AnsibleHost {
                groups: member
                    .into_iter()
                    .filter(|g| *g != "all" && *g != "ungrouped")
                    .map(str::to_owned)
                    .collect(),
                name: name.clone(),
                vars,
                file: file.clone(),
                line: *line,
            });
        }
        out
    }
}

/// Extensions Ansible skips in an inventory directory (its `INVENTORY_IGNORE_EXTS`).
const IGNORED_EXTENSIONS: &[&str] = &[
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry",
];

/// Reads the Ansible inventory at `path`: an INI, YAML or JSON file, or a directory of them.
/// `group_vars/` and `host_vars/` beside the file (or inside the directory) are read too.
pub fn read(path: &Path) -> Result<AnsibleInventory, Located> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Located::whole(
            path.display(),
            format!("cannot read the Ansible inventory: {e}"),
        )
    })?;
    let mut builder = Builder::default();
    let mut files = vec![path.to_path_buf()];
    if !meta.is_dir() && !meta.is_file() {
        return Err(Located::whole(
            path.display(),
            "not a regular file or directory: expected an Ansible inventory",
        ));
    }
    let vars_base = if meta.is_dir() {
        for entry in sorted_entries(path)? {
            let name = entry
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with('.')
                || name == "group_vars"
                || name == "host_vars"
                || entry.is_dir()
                || IGNORED_EXTENSIONS.iter().any(|x| name.ends_with(x))
            {
                continue;
            }
            read_file(&entry, &mut builder)?;
            files.push(entry);
        }
        path.to_path_buf()
    } else {
        read_file(path, &mut builder)?;
        path.parent().unwrap_or(Path::new(".")).to_path_buf()
    };
    read_vars_dir(&vars_base.join("group_vars"), &mut files, |name, vars| {
        builder
            .group_file_vars
            .entry(name.to_owned())
            .or_default()
            .extend(vars);
    })?;
    read_vars_dir(&vars_base.join("host_vars"), &mut files, |name, vars| {
        builder
            .host_file_vars
            .entry(name.to_owned())
            .or_default()
            .extend(vars);
    })?;
    Ok(AnsibleInventory {
        hosts: builder.finish(),
        files,
    })
}

/// Parses one inventory text as if read from `path` (the format chosen by its extension and
/// content, as [`read`] does), without `group_vars/`.
pub fn parse(text: &str, path: &Path) -> Result<Vec<AnsibleHost>, Located> {
    let mut builder = Builder::default();
    parse_into(text, path, &mut builder)?;
    Ok(builder.finish())
}

fn read_file(path: &Path, builder: &mut Builder) -> Result<(), Located> {
    let text = read_text(path)?;
    parse_into(&text, path, builder)
}

/// The most bytes one Ansible file may have (a generous bound: the largest real inventories
/// are a few MiB), so a wrong `path` (a device, a log) cannot exhaust memory.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

fn read_text(path: &Path) -> Result<String, Located> {
    let err = |m: String| Located::whole(path.display(), m);
    let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
    // A FIFO or device (`/dev/zero`) would block or never end: only regular files are read.
    if !meta.is_file() {
        return Err(err(
            "not a regular file: expected an Ansible inventory file".into(),
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(err(format!(
            "{} bytes is more than an Ansible inventory file may have ({MAX_FILE_BYTES})",
            meta.len()
        )));
    }
    std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))
}

/// YAML for `.yml`/`.yaml`/`.json` (and text starting like JSON or a YAML document), INI
/// otherwise: Ansible's own auto plugin order for files.
fn parse_into(text: &str, path: &Path, builder: &mut Builder) -> Result<(), Located> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let start = text.trim_start();
    let yamlish = matches!(ext.as_deref(), Some("yml" | "yaml" | "json"))
        || start.starts_with('{')
        || start.starts_with("---");
    if yamlish {
        yaml::parse(text, path, builder)
    } else {
        ini::parse(text, path, builder)
    }
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, Located> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| Located::whole(dir.display(), format!("cannot list the directory: {e}")))?;
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    Ok(entries)
}

/// `group_vars/NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json` or a directory `NAME/` of such
/// files: each a YAML mapping of variables, handed to `add` under NAME. A missing directory
/// adds nothing.
fn read_vars_dir(
    dir: &Path,
    files: &mut Vec<PathBuf>,
    mut add: impl FnMut(&str, Vars),
) -> Result<(), Located> {
    if !dir.is_dir() {
        return Ok(());
    }
    files.push(dir.to_path_buf());
    for entry in sorted_entries(dir)? {
        let file_name = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if file_name.starts_with('.') || IGNORED_EXTENSIONS.iter().any(|x| file_name.ends_with(x)) {
            continue;
        }
        let name = ["yml", "yaml", "json"]
            .iter()
            .find_map(|x| file_name.strip_suffix(&format!(".{x}")))
            .unwrap_or(&file_name)
            .to_owned();
        let parts = if entry.is_dir() {
            files.push(entry.clone());
            sorted_entries(&entry)?
                .into_iter()
                .filter(|p| {
                    p.is_file()
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect()
        } else {
            vec![entry]
        };
        for part in parts {
            let text = read_text(&part)?;
            add(&name, yaml::vars_file(&text, &part)?);
            files.push(part);
        }
    }
    Ok(())
}

/// The most hosts one pattern may expand to (a typo like `[1:100000000]` must not exhaust
/// memory).
const MAX_RANGE_HOSTS: usize = 10_000;

/// Expands Ansible's host ranges: `web[01:03]` → web01, web02, web03 (the width of the start
/// kept), `db-[a:c]` → db-a, db-b, db-c, with an optional step `[1:9:2]`; several ranges in one
/// pattern multiply. A name without `[` is itself.
pub fn expand_range(pattern: &str) -> Result<Vec<String>, String> {
    let Some(open) = pattern.find('[') else {
        return Ok(vec![pattern.to_owned()]);
    };
    let Some(close_rel) = pattern[open..].find(']') else {
        return Err(format!("`[` without `]` in host pattern {pattern:?}"));
    };
    let close = open + close_rel;
    let inner = &pattern[open + 1..close];
    let head = &pattern[..open];
    let tail = &pattern[close + 1..];
    let parts: Vec<&str> = inner.split(':').collect();
    let (beg, end, step) = match parts.as_slice() {
        [b, e] => (*b, *e, 1usize),
        [b, e, s] => match s.parse::<usize>() {
            Ok(s) if s > 0 => (*b, *e, s),
            _ => return Err(format!("bad step {s:?} in host range {pattern:?}")),
        },
        _ => {
            return Err(format!(
                "bad host range {pattern:?}: expected [START:END] or [START:END:STEP]"
            ));
        }
    };
    let mut items = Vec::new();
    if let (Ok(b), Ok(e)) = (beg.parse::<u64>(), end.parse::<u64>()) {
        if b > e {
            return Err(format!("host range {pattern:?} starts after it ends"));
        }
        if (e - b) / step as u64 > 10_000 {
            return Err(format!(
                "host range {pattern:?} names more than 10000 hosts"
            ));
        }
        let width = if beg.starts_with('0') { beg.len() } else { 0 };
        let mut n = b;
        while n <= e {
            items.push(format!("{n:0width$}"));
            n += step as u64;
        }
    } else {
        let (bs, es): (Vec<char>, Vec<char>) = (beg.chars().collect(), end.chars().collect());
        let (b, e) = match (bs.as_slice(), es.as_slice()) {
            (&[b], &[e]) if b.is_ascii_alphabetic() && e.is_ascii_alphabetic() && b <= e => (b, e),
            _ => {
                return Err(format!(
                    "bad host range {pattern:?}: expected numbers [01:10] or single letters [a:f]"
                ));
            }
        };
        for c in (b..=e).step_by(step) {
            items.push(c.to_string());
        }
    }
    let rests = expand_range(tail)?;
    // Several ranges multiply: cap the product too, or `a[0:9999]b[0:9999]` would ask for 10^8.
    if items.len().saturating_mul(rests.len()) > MAX_RANGE_HOSTS {
        return Err(format!(
            "host pattern {pattern:?} names more than {MAX_RANGE_HOSTS} hosts"
        ));
    }
    let mut out = Vec::new();
    for item in &items {
        for rest in &rests {
            out.push(format!("{head}{item}{rest}"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

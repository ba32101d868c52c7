//! Hosts that come from somewhere else than the TOML: what `fleetdeck init` writes and what an
//! `[[import]] kind = "ansible"` table merges in at load.
//!
//! [`FoundHost`] is the common shape (name, address, port, user, keys, jump, groups, where it was
//! found). [`from_ansible`] maps an Ansible host's variables onto it (`ansible_host`,
//! `ansible_port`, `ansible_user`, `ansible_ssh_private_key_file`, `ansible_connection=local`,
//! and `ProxyJump`/`-J`/a `ProxyCommand` of the form `ssh -W %h:%p BASTION` in
//! `ansible_ssh_common_args`/`ansible_ssh_extra_args`), each bad value an error at the Ansible
//! file and line. [`merge`] adds imported hosts to an inventory file's `[[hosts]]`: a host the
//! TOML names keeps every key the TOML sets and takes the rest from the import, groups added;
//! other imported hosts are appended. Imported values carry the span of the `[[import]]`
//! table's `path`, so a later error about one (a `jump` naming no host, …) points there.
//!
//! Reads files only through [`super::ansible::read`]. Callers: [`super::load`] and `fleetdeck
//! init` (`crate::cli::init`).

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_spanned::Spanned;

use super::ansible::{self, AnsibleHost, Vars};
use super::file::{HostFile, ImportKindFile, InventoryFile, TransportFile};
use super::jump;
use crate::diag::{Located, Source};

/// A host found in `~/.ssh/config` or an Ansible inventory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FoundHost {
    /// Inventory name (the ssh_config alias, the Ansible inventory host name).
    pub name: String,
    /// Address when it differs from the name (`HostName`, `ansible_host`).
    pub address: Option<String>,
    /// SSH port, when set.
    pub port: Option<u16>,
    /// SSH user, when set.
    pub user: Option<String>,
    /// Private keys, as written (`~` unexpanded).
    pub identity_files: Vec<String>,
    /// Jump hosts, in the inventory's `jump` syntax.
    pub jump: Option<String>,
    /// Reached without SSH (`ansible_connection=local`).
    pub local: bool,
    /// Groups, nearest first.
    pub groups: Vec<String>,
    /// `FILE:LINE` where it was found, for the comment `init` writes and for messages.
    pub origin: String,
    /// A route that could not be carried over (a `ProxyCommand` fleetdeck cannot follow): an
    /// error when the host is used without a `jump` of its own, a warning from `init`.
    pub unconverted: Option<Located>,
    /// Something the operator should know about how the host is reached, written above it.
    pub note: Option<String>,
    /// Keys whose Ansible value is a Jinja2 template (`{{ … }}`), which fleetdeck does not
    /// evaluate: left unset, each an error (at the variable's line) when the TOML does not set
    /// that key itself; `init` warns.
    pub templated: Vec<(&'static str, Located)>,
}

/// The inventory keys taken from Ansible variables, and the variables, first set wins.
const MAPPED: &[(&str, &[&str])] = &[
    ("address", &["ansible_host", "ansible_ssh_host"]),
    ("port", &["ansible_port", "ansible_ssh_port"]),
    ("user", &["ansible_user", "ansible_ssh_user"]),
    (
        "identity_files",
        &["ansible_ssh_private_key_file", "ansible_private_key_file"],
    ),
    ("jump", &["ansible_ssh_common_args"]),
    ("jump", &["ansible_ssh_extra_args"]),
    ("transport", &["ansible_connection"]),
];

/// Whether Ansible would render `text` as a Jinja2 template.
fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// The first variable of `names` that is set, as text.
fn first<'a>(vars: &'a Vars, names: &[&str]) -> Option<(&'a ansible::Var, &'a str)> {
    names
        .iter()
        .find_map(|n| vars.get(*n))
        .map(|v| (v, v.text().unwrap_or("")))
}

/// Maps one Ansible host onto a [`FoundHost`].
pub fn from_ansible(h: &AnsibleHost) -> Result<FoundHost, Located> {
    let mut vars = h.vars.clone();
    let mut templated = Vec::new();
    for (key, names) in MAPPED {
        // ssh arguments matter only for the jump host they may name.
        let relevant = |t: &str| *key != "jump" || t.contains("Proxy") || t.contains("-J");
        if let Some((var, t)) = first(&vars, names)
            && is_template(t)
            && relevant(t)
        {
            templated.push((
                *key,
                var.error(format!(
                    "{:?} for host {:?} is a Jinja2 template, which fleetdeck does not evaluate; \
                     set `{key}` for this host in the TOML inventory (it wins over Ansible's)",
                    t, h.name
                )),
            ));
            for n in *names {
                vars.remove(*n);
            }
        }
    }
    let vars = &vars;
    let text = |names: &[&str], what: &str| -> Result<Option<String>, Located> {
        match first(vars, names) {
            None => Ok(None),
            Some((var, t)) if t.trim().is_empty() => Err(var.error(format!(
                "empty `{}` for host {:?}: expected {what}",
                names[0], h.name
            ))),
            Some((_, t)) => Ok(Some(t.trim().to_owned())),
        }
    };
    let address =
        text(&["ansible_host", "ansible_ssh_host"], "an address or name")?.filter(|a| *a != h.name);
    let port = match first(vars, &["ansible_port", "ansible_ssh_port"]) {
        None => None,
        Some((var, t)) => match t.trim().parse::<u16>() {
            Ok(p) if p > 0 => Some(p),
            _ => {
                return Err(var.error(format!(
                    "invalid `ansible_port` {t:?} for host {:?}: expected a port from 1 to 65535",
                    h.name
                )));
            }
        },
    };
    let user = text(&["ansible_user", "ansible_ssh_user"], "a user name")?;
    let identity_files = text(
        &["ansible_ssh_private_key_file", "ansible_private_key_file"],
        "a key file",
    )?
    .into_iter()
    .collect();
    let local = match first(vars, &["ansible_connection"]) {
        None => false,
        Some((var, t)) => match t.trim() {
            "local" => true,
            "ssh" | "paramiko" | "smart" | "" => false,
            other => {
                return Err(var.error(format!(
                    "`ansible_connection` {other:?} for host {:?}: fleetdeck reaches hosts over \
                     SSH or locally (expected ssh, paramiko, smart or local)",
                    h.name
                )));
            }
        },
    };
    let mut jump = None;
    let mut unconverted = None;
    for name in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        let Some(var) = vars.get(name) else { continue };
        let Some(args) = var.text() else { continue };
        match jump_from_ssh_args(args) {
            Ok(Some(j)) => {
                if let Err(why) = jump::parse_jump(&j) {
                    return Err(var.error(format!(
                        "the jump host {j:?} in `{name}` of host {:?}: {why}",
                        h.name
                    )));
                }
                jump.get_or_insert(j);
            }
            Ok(None) => {}
            Err(why) => {
                unconverted.get_or_insert(var.error(format!(
                    "host {:?}: {why}; write `jump` for it in the TOML inventory",
                    h.name
                )));
            }
        }
    }
    if jump.is_some() {
        unconverted = None;
    }
    Ok(FoundHost {
        name: h.name.clone(),
        address,
        port,
        user,
        identity_files,
        jump,
        local,
        groups: h.groups.clone(),
        note: None,
        templated,
        origin: match h.line {
            Some(l) => format!("{}:{l}", h.file.display()),
            None => h.file.display().to_string(),
        },
        unconverted,
    })
}

/// Options of `ssh` that take an argument (from ssh(1)), to find the destination of a
/// `ProxyCommand ssh …`.
const SSH_OPTS_WITH_ARG: &str = "BbcDEeFIiJLlmOoPpQRSWw";

/// The jump host of `ssh` arguments: `-J X`, `-JX`, `-o ProxyJump=X`, `-o 'ProxyJump X'`, or a
/// `ProxyCommand` of the form `ssh [-q] [-p PORT] [-l USER] -W %h:%p [USER@]BASTION`. `Err` with
/// the reason for any other `ProxyCommand` (fleetdeck runs none).
pub fn jump_from_ssh_args(args: &str) -> Result<Option<String>, String> {
    let words = shlex::split(args).ok_or_else(|| format!("unbalanced quotes in {args:?}"))?;
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let (flag, inline) = if let Some(rest) = w.strip_prefix("-J") {
            ("J", rest)
        } else if let Some(rest) = w.strip_prefix("-o") {
            ("o", rest)
        } else {
            i += 1;
            continue;
        };
        let value = if inline.is_empty() {
            i += 1;
            match words.get(i) {
                Some(v) => v.as_str(),
                None => return Err(format!("`-{flag}` without a value in {args:?}")),
            }
        } else {
            inline
        };
        i += 1;
        if flag == "J" {
            return Ok(Some(value.to_owned()));
        }
        let (key, val) = match value.split_once(['=', ' ']) {
            Some((k, v)) => (k.trim(), v.trim_start_matches(['=', ' ']).trim()),
            None => (value, ""),
        };
        if key.eq_ignore_ascii_case("ProxyJump") {
            return Ok(Some(val.to_owned()));
        }
        if key.eq_ignore_ascii_case("ProxyCommand") {
            return proxy_command_hop(val).map(Some);
        }
    }
    Ok(None)
}

/// `ssh [opts] -W %h:%p [user@]bastion` → `[user@]bastion[:port]`.
pub fn proxy_command_hop(command: &str) -> Result<String, String> {
    let cannot = || {
        format!(
            "fleetdeck cannot follow the ProxyCommand {command:?} (only `ssh -W %h:%p BASTION` \
             converts to a jump host)"
        )
    };
    let words = shlex::split(command).ok_or_else(cannot)?;
    let Some((prog, rest)) = words.split_first() else {
        return Err(cannot());
    };
    if Path::new(prog).file_name().and_then(|n| n.to_str()) != Some("ssh") {
        return Err(cannot());
    }
    let (mut port, mut user, mut dest, mut forwards) = (None, None, None, false);
    let mut i = 0;
    while i < rest.len() {
        let w = &rest[i];
        if let Some(opt) = w.strip_prefix('-').filter(|o| !o.is_empty()) {
            let c = opt.chars().next().unwrap_or('-');
            if SSH_OPTS_WITH_ARG.contains(c) {
                let value = if opt.len() > 1 {
                    opt[1..].to_owned()
                } else {
                    i += 1;
                    rest.get(i).cloned().ok_or_else(cannot)?
                };
                match c {
                    'p' => port = Some(value),
                    'l' => user = Some(value),
                    'W' => forwards = value == "%h:%p",
                    // Other options (keys, config files, nested jumps) cannot be carried over.
                    'i' | 'o' | 'F' | 'J' => return Err(cannot()),
                    _ => {}
                }
            }
        } else if dest.is_none() {
            dest = Some(w.clone());
        } else {
            return Err(cannot()); // a remote command
        }
        i += 1;
    }
    let (Some(dest), true) = (dest, forwards) else {
        return Err(cannot());
    };
    let mut hop = match (user, dest.contains('@')) {
        (Some(u), false) => format!("{u}@{dest}"),
        _ => dest,
    };
    if let Some(p) = port {
        hop = format!("{hop}:{p}");
    }
    Ok(hop)
}

/// Every `[[import]]` of `file` read and merged into `file.hosts` (see the module doc).
/// Relative paths are under `base_dir`. Returns every file and directory read, for watching.
pub(super) fn merge(
    file: &mut InventoryFile,
    src: &Source<'_>,
    base_dir: Option<&Path>,
    home: Option<&Path>,
) -> Result<Vec<PathBuf>, Located> {
    let mut read = Vec::new();
    let imports = std::mem::take(&mut file.import);
    let mut by_name: HashMap<String, usize> = file
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.get_ref().name.get_ref().clone(), i))
        .collect();
    // Hosts the TOML itself sets `jump` on: an unconvertible ProxyCommand is not their problem.
    let own_jump: Vec<bool> = file
        .hosts
        .iter()
        .map(|h| h.get_ref().jump.is_some())
        .collect();
    for import in &imports {
        let imp = import.get_ref();
        let ImportKindFile::Ansible = *imp.kind.get_ref();
        let raw = imp.path.get_ref().trim();
        if raw.is_empty() {
            return Err(src.at(
                imp.path.span(),
                "empty `path` in [[import]]: expected an Ansible inventory file or directory",
            ));
        }
        let path = super::lookup::expand_home(Path::new(raw), home);
        let path = match base_dir {
            Some(base) if path.is_relative() => base.join(path),
            _ => path,
        };
        if !path.exists() {
            return Err(src.at(
                imp.path.span(),
                format!(
                    "no Ansible inventory at {raw:?} (`path` in [[import]], relative to the \
                     inventory's directory): expected a file or directory"
                ),
            ));
        }
        let inventory = ansible::read(&path)?;
        read.extend(inventory.files.iter().cloned());
        let span = imp.path.span();
        for host in &inventory.hosts {
            let found = from_ansible(host)?;
            match by_name.get(&found.name) {
                Some(&i) => {
                    let toml_jump = own_jump.get(i).copied().unwrap_or(false);
                    let merged = file.hosts[i].get_mut();
                    if let Some((_, problem)) =
                        found.templated.iter().find(|(key, _)| !sets(merged, key))
                    {
                        return Err(problem.clone());
                    }
                    if let Some(problem) = &found.unconverted
                        && !toml_jump
                        && merged.jump.is_none()
                    {
                        return Err(problem.clone());
                    }
                    fill(merged, &found, &span);
                }
                None => {
                    if let Some(problem) = found.unconverted {
                        return Err(problem);
                    }
                    if let Some((_, problem)) = found.templated.first() {
                        return Err(problem.clone());
                    }
                    by_name.insert(found.name.clone(), file.hosts.len());
                    let host = host_file(&found, &span);
                    file.hosts.push(Spanned::new(span.clone(), host));
                }
            }
        }
    }
    file.import = imports;
    Ok(read)
}

/// Whether the TOML host sets inventory key `key` itself.
fn sets(h: &HostFile, key: &str) -> bool {
    match key {
        "address" => h.address.is_some(),
        "port" => h.port.is_some(),
        "user" => h.user.is_some(),
        "identity_files" => !h.identity_files.is_empty(),
        "jump" => h.jump.is_some(),
        "transport" => h.transport.is_some(),
        _ => false,
    }
}

fn spanned(span: &Range<usize>, value: &str) -> Spanned<String> {
    Spanned::new(span.clone(), value.to_owned())
}

/// A new `[[hosts]]` table for an imported host.
fn host_file(found: &FoundHost, span: &Range<usize>) -> HostFile {
    let mut h = HostFile {
        name: spanned(span, &found.name),
        address: None,
        port: None,
        user: None,
        identity_files: Vec::new(),
        certificate_files: Vec::new(),
        jump: None,
        transport: None,
        profile: None,
        groups: Vec::new(),
        consensus_group: None,
        region: None,
        role: None,
        interval: None,
        services: Vec::new(),
        chain: None,
        disks: Vec::new(),
        backups: Vec::new(),
        certs: Vec::new(),
        logs: Vec::new(),
        thresholds: None,
        source: None,
        posture: None,
    };
    fill(&mut h, found, span);
    h
}

/// The imported keys the TOML host `h` does not set; groups added after its own.
fn fill(h: &mut HostFile, found: &FoundHost, span: &Range<usize>) {
    if h.address.is_none() {
        h.address = found.address.as_deref().map(|a| spanned(span, a));
    }
    if h.port.is_none() {
        h.port = found.port.map(|p| Spanned::new(span.clone(), p));
    }
    if h.user.is_none() {
        h.user = found.user.as_deref().map(|u| spanned(span, u));
    }
    if h.identity_files.is_empty() {
        h.identity_files = found
            .identity_files
            .iter()
            .map(|f| spanned(span, f))
            .collect();
    }
    if h.jump.is_none() {
        h.jump = found.jump.as_deref().map(|j| spanned(span, j));
    }
    if h.transport.is_none() && found.local {
        h.transport = Some(TransportFile::Local);
    }
    for g in &found.groups {
        if !h.groups.iter().any(|own| own.get_ref() == g) {
            h.groups.push(spanned(span, g));
        }
    }
}

#[cfg(test)]
mod tests;

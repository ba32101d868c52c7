//! Ansible's YAML inventory (`all: {hosts: {h: {vars}}, vars: {…}, children: {g: {…}}}`), the
//! JSON of `ansible-inventory --list` (groups with lists of `hosts` and `children`, host vars in
//! `_meta.hostvars`; JSON is YAML, so one reader takes both) and the YAML mappings of
//! `group_vars/` and `host_vars/` files, read with `serde_norway`.
//!
//! A syntax error carries the parser's line and column. `serde_norway`'s values carry no
//! positions, so the line of a host or variable is found in the text (the first line at or after
//! its group's that starts with the key); it is only used to point errors at the right place.

use std::path::Path;

use serde_norway::{Mapping, Value};

use super::{Builder, Var, VarValue, Vars, expand_range};
use crate::diag::Located;

/// Parses a YAML or JSON inventory `text` (read from `path`) into `builder`.
pub(crate) fn parse(text: &str, path: &Path, builder: &mut Builder) -> Result<(), Located> {
    let doc = load(text, path)?;
    let top = match doc {
        Value::Mapping(m) => m,
        Value::Null => return Ok(()),
        _ => {
            return Err(Located::whole(
                path.display(),
                "expected a mapping of group names at the top of the inventory",
            ));
        }
    };
    let ctx = Ctx { text, path };
    let list_format = top.iter().any(|(k, v)| {
        k.as_str() == Some("_meta")
            || v.get("hosts").is_some_and(Value::is_sequence)
            || v.get("children").is_some_and(Value::is_sequence)
            || v.is_sequence()
    });
    if list_format {
        ctx.list(&top, builder)
    } else {
        for (name, group) in &top {
            let name = ctx.key(name)?;
            ctx.group(&name, group, builder, 1)?;
        }
        Ok(())
    }
}

/// A `group_vars/`/`host_vars/` file: a mapping of variables (empty when the file is).
pub(crate) fn vars_file(text: &str, path: &Path) -> Result<Vars, Located> {
    let ctx = Ctx { text, path };
    match load(text, path)? {
        Value::Null => Ok(Vars::new()),
        Value::Mapping(m) => ctx.vars(&m, 1),
        _ => Err(Located::whole(
            path.display(),
            "expected a mapping of variable names to values",
        )),
    }
}

fn load(text: &str, path: &Path) -> Result<Value, Located> {
    serde_norway::from_str::<Value>(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map_or((None, None), |l| (Some(l.line()), Some(l.column())));
        Located {
            path: path.display().to_string(),
            line,
            column,
            message: format!("not valid YAML/JSON: {e}"),
        }
    })
}

struct Ctx<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Ctx<'_> {
    fn error(&self, line: Option<usize>, message: impl Into<String>) -> Located {
        Located {
            path: self.path.display().to_string(),
            line,
            column: None,
            message: message.into(),
        }
    }

    /// The first line at or after `from` whose text starts with `key` (bare or quoted) and a
    /// colon, or is `key` as a JSON list item.
    fn line_of(&self, key: &str, from: usize) -> Option<usize> {
        let forms = [
            format!("{key}:"),
            format!("\"{key}\":"),
            format!("'{key}':"),
            format!("\"{key}\""),
            format!("- {key}"),
        ];
        self.text
            .lines()
            .enumerate()
            .skip(from.saturating_sub(1))
            .find(|(_, l)| {
                let t = l.trim_start();
                forms.iter().any(|f| t.starts_with(f.as_str()))
            })
            .map(|(i, _)| i + 1)
    }

    fn key(&self, k: &Value) -> Result<String, Located> {
        scalar(k).ok_or_else(|| self.error(None, format!("expected a name as key, got {k:?}")))
    }

    fn vars(&self, m: &Mapping, from: usize) -> Result<Vars, Located> {
        let mut vars = Vars::new();
        for (k, v) in m {
            let key = self.key(k)?;
            if v.is_null() {
                continue;
            }
            let value = match scalar(v) {
                Some(t) => VarValue::Text(t),
                None => VarValue::Structured,
            };
            let line = self.line_of(&key, from);
            vars.insert(
                key,
                Var {
                    value,
                    file: self.path.to_path_buf(),
                    line,
                },
            );
        }
        Ok(vars)
    }

    /// One group of the YAML format: `hosts`, `vars`, `children` (each optional).
    fn group(
        &self,
        name: &str,
        group: &Value,
        builder: &mut Builder,
        from: usize,
    ) -> Result<(), Located> {
        let at = self.line_of(name, from);
        let from = at.unwrap_or(from);
        builder.add_group_vars(name, Vars::new());
        let group = match group {
            Value::Null => return Ok(()),
            Value::Mapping(m) => m,
            _ => {
                return Err(self.error(
                    at,
                    format!("group {name:?}: expected a mapping with hosts, vars or children"),
                ));
            }
        };
        for (k, v) in group {
            let key = self.key(k)?;
            match (key.as_str(), v) {
                (_, Value::Null) => {}
                ("hosts", Value::Mapping(hosts)) => {
                    for (h, hv) in hosts {
                        let pattern = self.key(h)?;
                        let line = self.line_of(&pattern, from);
                        let mut vars = match hv {
                            Value::Null => Vars::new(),
                            Value::Mapping(m) => self.vars(m, line.unwrap_or(from))?,
                            _ => {
                                return Err(self.error(
                                    line,
                                    format!(
                                        "host {pattern:?} in group {name:?}: expected a \
                                         mapping of variables or nothing"
                                    ),
                                ));
                            }
                        };
                        let (pattern, port) = match pattern.rsplit_once(':') {
                            Some((h, p))
                                if !p.is_empty()
                                    && p.bytes().all(|b| b.is_ascii_digit())
                                    && !h.contains(':') =>
                            {
                                (h.to_owned(), Some(p.to_owned()))
                            }
                            _ => (pattern, None),
                        };
                        if let Some(port) = port {
                            vars.entry("ansible_port".to_owned()).or_insert(Var {
                                value: VarValue::Text(port),
                                file: self.path.to_path_buf(),
                                line,
                            });
                        }
                        for host in expand_range(&pattern).map_err(|e| self.error(line, e))? {
                            builder.add_host(name, &host, vars.clone(), self.path, line);
                        }
                    }
                }
                ("vars", Value::Mapping(m)) => {
                    let vars = self.vars(m, from)?;
                    builder.add_group_vars(name, vars);
                }
                ("children", Value::Mapping(children)) => {
                    for (c, cv) in children {
                        let child = self.key(c)?;
                        builder.add_child(name, &child);
                        self.group(&child, cv, builder, from)?;
                    }
                }
                ("hosts" | "vars" | "children", _) => {
                    return Err(self.error(
                        self.line_of(&key, from),
                        format!("`{key}` of group {name:?}: expected a mapping"),
                    ));
                }
                (other, _) => {
                    return Err(self.error(
                        self.line_of(other, from),
                        format!(
                            "unknown key `{other}` in group {name:?}: expected hosts, vars or \
                             children"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The `ansible-inventory --list` (and inventory script) format.
    fn list(&self, top: &Mapping, builder: &mut Builder) -> Result<(), Located> {
        let hostvars = top
            .get("_meta")
            .and_then(|m| m.get("hostvars"))
            .and_then(Value::as_mapping);
        let meta_line = self.line_of("_meta", 1).unwrap_or(1);
        let host_vars = |host: &str| -> Result<Vars, Located> {
            match hostvars.and_then(|h| h.get(host)) {
                Some(Value::Mapping(m)) => {
                    self.vars(m, self.line_of(host, meta_line).unwrap_or(meta_line))
                }
                _ => Ok(Vars::new()),
            }
        };
        for (k, v) in top {
            let name = self.key(k)?;
            if name == "_meta" {
                continue;
            }
            let at = self.line_of(&name, 1);
            builder.add_group_vars(&name, Vars::new());
            let (hosts, children, vars) = match v {
                Value::Sequence(hosts) => (Some(hosts), None, None),
                Value::Mapping(m) => (
                    m.get("hosts").and_then(Value::as_sequence),
                    m.get("children").and_then(Value::as_sequence),
                    m.get("vars").and_then(Value::as_mapping),
                ),
                Value::Null => (None, None, None),
                _ => {
                    return Err(self.error(
                        at,
                        format!("group {name:?}: expected a list of hosts or a mapping"),
                    ));
                }
            };
            for h in hosts.into_iter().flatten() {
                let host = self.key(h)?;
                let vars = host_vars(&host)?;
                let line = self.line_of(&host, at.unwrap_or(1));
                builder.add_host(&name, &host, vars, self.path, line);
            }
            for c in children.into_iter().flatten() {
                builder.add_child(&name, &self.key(c)?);
            }
            if let Some(m) = vars {
                let vars = self.vars(m, at.unwrap_or(1))?;
                builder.add_group_vars(&name, vars);
            }
        }
        // Hosts only in `_meta` (no group names them) are in `ungrouped`, as Ansible has it.
        for (h, _) in hostvars.into_iter().flatten() {
            let host = self.key(h)?;
            if !builder.host_index.contains_key(&host) {
                let vars = host_vars(&host)?;
                let line = self.line_of(&host, meta_line);
                builder.add_host("ungrouped", &host, vars, self.path, line);
            }
        }
        Ok(())
    }
}

/// A scalar as text (`22`, `true`, `web1`); `None` for lists, mappings and null.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Tagged(t) => scalar(&t.value),
        _ => None,
    }
}

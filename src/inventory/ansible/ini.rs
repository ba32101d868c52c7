//! Ansible's INI inventory format, as `plugins/inventory/ini.py` reads it: `[group]` sections of
//! host lines (`PATTERN [KEY=VALUE …]`, shell-split, `#` starting a word ends the line),
//! `[group:vars]` of `KEY=VALUE` lines, `[group:children]` of group names; lines before any
//! section are in `ungrouped`; `;` and `#` start comment lines. A host pattern may carry a port
//! (`db1:2222`, an IPv6 address only in brackets) and ranges (`web[01:03]`, see
//! [`super::expand_range`]). Values are unquoted the way Python's `literal_eval` would for a
//! quoted string; anything else is kept as written.

use std::path::Path;

use super::{Builder, Var, VarValue, Vars, expand_range};
use crate::diag::Located;

enum State {
    Hosts,
    Vars,
    Children,
}

/// Parses `text` (read from `path`) into `builder`.
pub(crate) fn parse(text: &str, path: &Path, builder: &mut Builder) -> Result<(), Located> {
    let mut group = "ungrouped".to_owned();
    let mut state = State::Hosts;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let err = |message: String| Located {
            path: path.display().to_string(),
            line: Some(number),
            column: None,
            message,
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(inner) = line.strip_prefix('[') {
            let Some(end) = inner.find(']') else {
                return Err(err(format!(
                    "section {line:?} has no closing `]`: expected [group], [group:vars] or \
                     [group:children]"
                )));
            };
            let after = inner[end + 1..].trim();
            if !after.is_empty() && !after.starts_with('#') && !after.starts_with(';') {
                return Err(err(format!(
                    "unexpected {after:?} after the section header"
                )));
            }
            let header = &inner[..end];
            let (name, kind) = match header.split_once(':') {
                Some((n, k)) => (n, Some(k)),
                None => (header, None),
            };
            if name.is_empty() || name.chars().any(char::is_whitespace) {
                return Err(err(format!(
                    "invalid group name {name:?}: expected a name without spaces"
                )));
            }
            state = match kind {
                None | Some("hosts") => State::Hosts,
                Some("vars") => State::Vars,
                Some("children") => State::Children,
                Some(other) => {
                    return Err(err(format!(
                        "unknown section kind `:{other}`: expected [{name}], [{name}:vars] or \
                         [{name}:children]"
                    )));
                }
            };
            group = name.to_owned();
            // A `:vars` or `:children` section declares its group too.
            builder.add_group_vars(&group, Vars::new());
            continue;
        }
        match state {
            State::Hosts => {
                let words = split_words(line)
                    .ok_or_else(|| err(format!("unbalanced quotes in host line {line:?}")))?;
                let Some((pattern, rest)) = words.split_first() else {
                    continue;
                };
                let mut vars = Vars::new();
                for word in rest {
                    let Some((key, value)) = word.split_once('=') else {
                        return Err(err(format!(
                            "expected KEY=VALUE after the host name, got {word:?}"
                        )));
                    };
                    vars.insert(key.to_owned(), var(value.to_owned(), path, number));
                }
                let (pattern, port) = split_port(pattern).map_err(&err)?;
                if let Some(port) = port {
                    vars.entry("ansible_port".to_owned())
                        .or_insert_with(|| var(port, path, number));
                }
                for host in expand_range(&pattern).map_err(&err)? {
                    builder.add_host(&group, &host, vars.clone(), path, Some(number));
                }
            }
            State::Vars => {
                let Some((key, value)) = line.split_once('=') else {
                    return Err(err(format!(
                        "expected KEY=VALUE in [{group}:vars], got {line:?}"
                    )));
                };
                let key = key.trim();
                if key.is_empty() {
                    return Err(err(format!("empty variable name in [{group}:vars]")));
                }
                let mut vars = Vars::new();
                vars.insert(key.to_owned(), var(unquote(value.trim()), path, number));
                builder.add_group_vars(&group, vars);
            }
            State::Children => {
                let child = line.split_whitespace().next().unwrap_or(line);
                builder.add_child(&group, child);
            }
        }
    }
    Ok(())
}

fn var(value: String, path: &Path, line: usize) -> Var {
    Var {
        value: VarValue::Text(value),
        file: path.to_path_buf(),
        line: Some(line),
    }
}

/// Shell-splits a host line, a word starting with `#` (outside quotes) ending it, as
/// `shlex.split(line, comments=True)` does. `None` on unbalanced quotes.
fn split_words(line: &str) -> Option<Vec<String>> {
    let mut cut = line.len();
    let mut quote: Option<char> = None;
    let mut prev_space = true;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            prev_space = false;
            continue;
        }
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\\' => escaped = true,
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev_space => {
                cut = i;
                break;
            }
            None => {}
        }
        prev_space = quote.is_none() && c.is_whitespace();
    }
    shlex::split(&line[..cut])
}

/// `host:port` → (host, port); an IPv6 address needs brackets for a port (`[::1]:22`), as in
/// Ansible's `parse_address`.
fn split_port(pattern: &str) -> Result<(String, Option<String>), String> {
    if let Some(inner) = pattern.strip_prefix('[')
        && let Some((addr, after)) = inner.split_once(']')
        && addr.contains(':')
    {
        return match after.strip_prefix(':') {
            Some(port) => Ok((addr.to_owned(), Some(check_port(port, pattern)?))),
            None if after.is_empty() => Ok((addr.to_owned(), None)),
            None => Err(format!(
                "unexpected {after:?} after the IPv6 address in {pattern:?}"
            )),
        };
    }
    if let Some((host, port)) = pattern.rsplit_once(':')
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && host.matches('[').count() == host.matches(']').count()
        && !outside_brackets(host).contains(':')
    {
        // `web[01:03]` is a range, not a port: its `:` is inside brackets.
        return Ok((host.to_owned(), Some(check_port(port, pattern)?)));
    }
    Ok((pattern.to_owned(), None))
}

/// `host` with every `[…]` part removed.
fn outside_brackets(host: &str) -> String {
    let mut depth = 0usize;
    host.chars()
        .filter(|c| match c {
            '[' => {
                depth += 1;
                false
            }
            ']' => {
                depth = depth.saturating_sub(1);
                false
            }
            _ => depth == 0,
        })
        .collect()
}

fn check_port(port: &str, pattern: &str) -> Result<String, String> {
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(port.to_owned()),
        _ => Err(format!(
            "invalid port {port:?} in host {pattern:?}: expected 1-65535"
        )),
    }
}

/// `"x"` or `'x'` → x, as `literal_eval` reads a quoted string; anything else as written.
fn unquote(value: &str) -> String {
    let b = value.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        value[1..value.len() - 1].to_owned()
    } else {
        value.to_owned()
    }
}

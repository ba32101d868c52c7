//! The placeholder language of runbook templates, and rendering with the right quoting.
//!
//! A placeholder is exactly `{{name}}` where `name` is one or more dot-separated segments of
//! `[a-z_][a-z0-9_-]*`, with no spaces. Anything else between braces is literal text, so Docker
//! and Go format strings such as `{{.State.Status}}` or `{{json .}}` pass through untouched.
//! `{{{{` is a literal `{{` (write `{{{{host}}` to get the text `{{host}}`).
//!
//! Names: `host` and `address` (the host a command runs on), `hosts` (the run's targets, comma
//! separated), `count` (how many), `run.stamp` (UTC start of the run, `YYYYMMDDHHMMSS`), any
//! input of the runbook, `service.NAME.OP` (the inventory's `OP` command template of service
//! `NAME` on the host: start, stop, restart, version, upgrade, rollback) and `service.OP` (the
//! same for the service named by the runbook's `service` input).
//!
//! Every value is quoted for where it lands: shell-quoted with `shlex` in commands, percent-
//! encoded in URLs, regex-escaped in expectations, and left as is in JSON bodies (serde_json
//! escapes them) and display text. A service template is itself a command, so it is inserted
//! unquoted and *its* placeholders are quoted. Secrets render as `***` in the display copy.
//!
//! This module owns that grammar and nothing else; it never touches I/O. Callers:
//! [`super::load`] (lint) and [`super::engine`] / [`super::plan`] (rendering).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::hosts::{HostInfo, ServiceOp};

/// A piece of a template: literal text or a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Text copied as is (escapes already undone).
    Lit(&'a str),
    /// `{{name}}` starting at byte `offset` of the template.
    Placeholder {
        /// The name between the braces.
        name: &'a str,
        /// Byte offset of the opening `{{`.
        offset: usize,
    },
}

/// Splits a template into literal text and placeholders. Never fails: whatever is not a
/// placeholder is literal.
pub fn segments(text: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut lit_start = 0;
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        if text[i..].starts_with("{{{{") {
            if lit_start < i {
                out.push(Segment::Lit(&text[lit_start..i]));
            }
            out.push(Segment::Lit("{{"));
            i += 4;
            lit_start = i;
            continue;
        }
        if text[i..].starts_with("{{")
            && let Some(end) = text[i + 2..].find("}}")
        {
            let inner = &text[i + 2..i + 2 + end];
            if is_name(inner) {
                if lit_start < i {
                    out.push(Segment::Lit(&text[lit_start..i]));
                }
                out.push(Segment::Placeholder {
                    name: inner,
                    offset: i,
                });
                i += 2 + end + 2;
                lit_start = i;
                continue;
            }
        }
        // Step by whole characters so slices stay on boundaries.
        i += text[i..].chars().next().map_or(1, char::len_utf8);
    }
    if lit_start < text.len() {
        out.push(Segment::Lit(&text[lit_start..]));
    }
    out
}

/// Whether `s` is a placeholder name: dot-separated `[a-z_][a-z0-9_-]*` segments.
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|seg| {
            let mut chars = seg.chars();
            matches!(chars.next(), Some('a'..='z' | '_'))
                && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
        })
}

/// `{{ name }}` with spaces around a valid name: almost certainly a placeholder written wrong,
/// which would otherwise pass through as literal text. Returns (offset, name).
pub fn spaced_placeholders(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find("{{") {
        let start = from + pos;
        let Some(end) = text[start + 2..].find("}}") else {
            break;
        };
        let inner = &text[start + 2..start + 2 + end];
        let escaped = text[..start].ends_with("{{") && !text[..start].ends_with("{{{{");
        if !escaped && inner.trim() != inner && is_name(inner.trim()) {
            out.push((start, inner.trim().to_owned()));
        }
        from = start + 2;
    }
    out
}

/// Byte offsets of placeholders that sit inside single or double quotes of a shell command.
///
/// Such a placeholder is a mistake: its value is already shell-quoted, and quoting inside
/// quotes either shows the quote characters or, worse, lets a value end the author's quotes.
pub fn quoted_placeholders(text: &str) -> Vec<(usize, String)> {
    /// Quoting contexts; `$(…)` opens a fresh unquoted context even inside double quotes.
    #[derive(Clone, Copy, PartialEq)]
    enum Q {
        Plain,
        Single,
        Double,
        Subst(usize),
    }
    let mut stack = vec![Q::Plain];
    let mut escaped = false;
    let mut out = Vec::new();
    for seg in segments(text) {
        match seg {
            Segment::Lit(lit) => {
                let mut chars = lit.chars().peekable();
                while let Some(c) = chars.next() {
                    if escaped {
                        escaped = false;
                        continue;
                    }
                    let top = *stack.last().unwrap_or(&Q::Plain);
                    match (top, c) {
                        (Q::Single, '\'') => {
                            stack.pop();
                        }
                        (Q::Single, _) => {}
                        (_, '\\') => escaped = true,
                        (Q::Double, '"') => {
                            stack.pop();
                        }
                        (_, '$') if chars.peek() == Some(&'(') => {
                            chars.next();
                            stack.push(Q::Subst(0));
                        }
                        (Q::Double, _) => {}
                        (_, '\'') => stack.push(Q::Single),
                        (_, '"') => stack.push(Q::Double),
                        (Q::Subst(depth), '(') => {
                            if let Some(top) = stack.last_mut() {
                                *top = Q::Subst(depth + 1);
                            }
                        }
                        (Q::Subst(0), ')') => {
                            stack.pop();
                        }
                        (Q::Subst(depth), ')') => {
                            if let Some(top) = stack.last_mut() {
                                *top = Q::Subst(depth - 1);
                            }
                        }
                        _ => {}
                    }
                }
            }
            Segment::Placeholder { name, offset } => {
                escaped = false;
                if matches!(stack.last(), Some(Q::Single | Q::Double)) {
                    out.push((offset, name.to_owned()));
                }
            }
        }
    }
    out
}

/// What a placeholder name refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    /// `host`
    Host,
    /// `address`
    Address,
    /// `hosts`
    Hosts,
    /// `count`
    Count,
    /// `run.stamp`
    Stamp,
    /// An input of the runbook.
    Input(String),
    /// `choice.STEP`: the label of the option taken at choice step `STEP` (empty before).
    Choice(String),
    /// `service.NAME.OP` (`name` = Some) or `service.OP` (`name` = None: the `service` input).
    Service {
        /// Service name, or `None` for the one named by the `service` input.
        name: Option<String>,
        /// Operation.
        op: ServiceOp,
    },
}

/// Names that are never inputs.
pub const RESERVED: [&str; 6] = ["host", "address", "hosts", "count", "run", "choice"];

/// Where a template is used, which decides the names it may use and how values are quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// A command run on one host: everything; values shell-quoted.
    Command,
    /// A notify URL: no host names or services; values percent-encoded.
    Url,
    /// A notify header or body string: no host names or services; values as is.
    Request,
    /// A regex of an expectation on one host: no services, no secrets; values escaped.
    Regex,
    /// Text shown to the operator or used as a name: no host names, services or secrets.
    Display,
}

impl Context {
    /// Whether secret inputs may appear here.
    pub fn secret_safe(self) -> bool {
        matches!(self, Self::Command | Self::Url | Self::Request)
    }
}

/// Resolves a placeholder name against the runbook's inputs for a context, or says why not.
///
/// `input_secret(name)` is `None` for an unknown input and `Some(secret)` for a known one;
/// `is_choice(id)` says whether a choice step has that id.
pub fn resolve(
    name: &str,
    context: Context,
    input_secret: impl Fn(&str) -> Option<bool>,
    is_choice: impl Fn(&str) -> bool,
) -> Result<Name, String> {
    let resolved = match name {
        _ if name.starts_with("choice.") => {
            let step = &name["choice.".len()..];
            if step.contains('.') || !is_choice(step) {
                return Err(format!(
                    "unknown placeholder `{{{{{name}}}}}`: no choice step has the id `{step}`"
                ));
            }
            Name::Choice(step.to_owned())
        }
        "host" => Name::Host,
        "address" => Name::Address,
        "hosts" => Name::Hosts,
        "count" => Name::Count,
        "run.stamp" => Name::Stamp,
        _ if name.starts_with("service.") => {
            let rest: Vec<&str> = name.split('.').skip(1).collect();
            let (service, op) = match rest.as_slice() {
                [op] => (None, *op),
                [service, op] => (Some((*service).to_owned()), *op),
                _ => {
                    return Err(format!(
                        "unknown placeholder `{{{{{name}}}}}`: write `{{{{service.NAME.OP}}}}` \
                         or `{{{{service.OP}}}}`"
                    ));
                }
            };
            let Some(op) = ServiceOp::parse(op) else {
                return Err(format!(
                    "unknown service operation `{op}` in `{{{{{name}}}}}`: expected one of \
                     start, stop, restart, version, upgrade, rollback"
                ));
            };
            if service.is_none() && input_secret("service").is_none() {
                return Err(format!(
                    "`{{{{{name}}}}}` names the service by the `service` input, but the runbook \
                     has no input called `service`"
                ));
            }
            Name::Service { name: service, op }
        }
        _ => match input_secret(name) {
            Some(_) => Name::Input(name.to_owned()),
            None => return Err(format!("unknown placeholder `{{{{{name}}}}}`")),
        },
    };
    let what = match context {
        Context::Command => None,
        Context::Url | Context::Request => match resolved {
            Name::Host | Name::Address => Some("a notify request is not run on a host"),
            Name::Service { .. } => Some("service templates belong in commands"),
            _ => None,
        },
        Context::Regex => match resolved {
            Name::Service { .. } => Some("service templates belong in commands"),
            _ => None,
        },
        Context::Display => match resolved {
            Name::Host | Name::Address => Some("this text is not specific to one host"),
            Name::Service { .. } => Some("service templates belong in commands"),
            _ => None,
        },
    };
    if let Some(why) = what {
        return Err(format!(
            "placeholder `{{{{{name}}}}}` cannot be used here: {why}"
        ));
    }
    if let Name::Input(input) = &resolved
        && input_secret(input) == Some(true)
        && !context.secret_safe()
    {
        return Err(format!(
            "secret input `{input}` cannot be used here: secrets may only appear in commands \
             and in notify url, headers and body"
        ));
    }
    Ok(resolved)
}

/// What a template is rendered with.
#[derive(Clone, Copy)]
pub struct Values<'a> {
    /// The host a command runs on (`None` outside per-host contexts).
    pub host: Option<&'a HostInfo>,
    /// The run's targets.
    pub targets: &'a [String],
    /// Input values, secrets included.
    pub inputs: &'a BTreeMap<String, String>,
    /// Names of the secret inputs.
    pub secret: &'a dyn Fn(&str) -> bool,
    /// Names of the `path` inputs: in a command they render through
    /// [`crate::host_path::shell_word`] (`~/x` → `"$HOME"/'x'`), not quoted whole.
    pub path: &'a dyn Fn(&str) -> bool,
    /// `run.stamp`.
    pub stamp: &'a str,
    /// Choice step id → label of the option taken.
    pub decisions: &'a BTreeMap<String, String>,
}

/// A rendered template: the text to use and the text to show or log (secrets masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// What is run or sent.
    pub real: String,
    /// What is shown, logged and audited.
    pub display: String,
}

/// Text that replaces a secret in everything shown, logged or audited.
pub const MASK: &str = "***";

/// Renders `text` for `context`.
pub fn render(text: &str, context: Context, values: &Values<'_>) -> Result<Rendered, String> {
    render_inner(text, context, values, true)
}

fn render_inner(
    text: &str,
    context: Context,
    values: &Values<'_>,
    allow_service: bool,
) -> Result<Rendered, String> {
    let mut real = String::new();
    let mut display = String::new();
    let known = |n: &str| {
        if values.inputs.contains_key(n) {
            Some((values.secret)(n))
        } else {
            None
        }
    };
    for seg in segments(text) {
        match seg {
            Segment::Lit(lit) => {
                real.push_str(lit);
                display.push_str(lit);
            }
            Segment::Placeholder { name, .. } => {
                let resolved = resolve(name, context, known, |_| true)?;
                let (value, secret) = match &resolved {
                    Name::Host => (host(values, name)?.name.clone(), false),
                    Name::Address => (host(values, name)?.address.clone(), false),
                    Name::Hosts => (values.targets.join(","), false),
                    Name::Count => (values.targets.len().to_string(), false),
                    Name::Stamp => (values.stamp.to_owned(), false),
                    Name::Choice(step) => (
                        values.decisions.get(step).cloned().unwrap_or_default(),
                        false,
                    ),
                    Name::Input(input) => (
                        values.inputs.get(input).cloned().unwrap_or_default(),
                        (values.secret)(input),
                    ),
                    Name::Service { name: service, op } => {
                        if !allow_service {
                            return Err(format!(
                                "`{{{{{name}}}}}` inside a service template: service templates \
                                 cannot refer to other service templates"
                            ));
                        }
                        let host = host(values, name)?;
                        let service = match service {
                            Some(s) => s.clone(),
                            None => values.inputs.get("service").cloned().unwrap_or_default(),
                        };
                        let Some(ops) = host.services.get(&service) else {
                            return Err(format!(
                                "host {:?} has no service {service:?} (for `{{{{{name}}}}}`)",
                                host.name
                            ));
                        };
                        let Some(template) = ops.get(*op) else {
                            return Err(format!(
                                "service {service:?} on host {:?} has no `{}` command template \
                                 (for `{{{{{name}}}}}`)",
                                host.name,
                                op.as_str()
                            ));
                        };
                        if let Some((_, inner)) = quoted_placeholders(template).first() {
                            return Err(format!(
                                "the `{}` template of service {service:?} on host {:?} has \
                                 `{{{{{inner}}}}}` inside quotes: values are shell-quoted, write \
                                 it bare",
                                op.as_str(),
                                host.name
                            ));
                        }
                        let inner = render_inner(template, context, values, false)
                            .map_err(|e| format!("in the `{}` template: {e}", op.as_str()))?;
                        real.push_str(&inner.real);
                        display.push_str(&inner.display);
                        continue;
                    }
                };
                let host_path = matches!(&resolved, Name::Input(i) if (values.path)(i));
                let quoted = if host_path && context == Context::Command {
                    crate::host_path::shell_word(&value)?
                } else {
                    quote(&value, context)?
                };
                real.push_str(&quoted);
                if secret {
                    display.push_str(MASK);
                } else {
                    display.push_str(&quoted);
                }
            }
        }
    }
    Ok(Rendered { real, display })
}

fn host<'a>(values: &Values<'a>, name: &str) -> Result<&'a HostInfo, String> {
    values
        .host
        .ok_or_else(|| format!("`{{{{{name}}}}}` is only known where a command runs on a host"))
}

fn quote(value: &str, context: Context) -> Result<String, String> {
    Ok(match context {
        Context::Command => shlex::try_quote(value)
            .map_err(|_| "a value contains a NUL byte and cannot be passed to a shell".to_owned())?
            .into_owned(),
        Context::Url => percent_encode(value),
        Context::Regex => regex::escape(value),
        Context::Request | Context::Display => value.to_owned(),
    })
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so a value can never add a
/// path segment, query or fragment to a URL.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Replaces every occurrence of a secret value in `text` with [`MASK`] (command output may
/// echo a secret back).
pub fn mask_secrets<'a>(text: &str, secrets: impl IntoIterator<Item = &'a String>) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        // Very short values would mask half the output for no protection.
        if secret.len() >= 3 {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::hosts::ServiceOps;

    fn names(text: &str) -> Vec<String> {
        segments(text)
            .into_iter()
            .filter_map(|s| match s {
                Segment::Placeholder { name, .. } => Some(name.to_owned()),
                Segment::Lit(_) => None,
            })
            .collect()
    }

    fn literal(text: &str) -> String {
        segments(text)
            .into_iter()
            .map(|s| match s {
                Segment::Lit(l) => l.to_owned(),
                Segment::Placeholder { name, .. } => format!("<{name}>"),
            })
            .collect()
    }

    #[test]
    fn placeholders_and_literals() {
        let cases: &[(&str, &str)] = &[
            ("echo {{host}}", "echo <host>"),
            (
                "docker inspect -f '{{.State.Status}}' x",
                "docker inspect -f '{{.State.Status}}' x",
            ),
            (
                "docker ps --format '{{json .}}'",
                "docker ps --format '{{json .}}'",
            ),
            ("{{{{host}}", "{{host}}"),
            ("a {{ host }} b", "a {{ host }} b"),
            (
                "{{service.geth.restart}} && x",
                "<service.geth.restart> && x",
            ),
            ("{{Host}}", "{{Host}}"),
            ("{{a..b}}", "{{a..b}}"),
            ("{{", "{{"),
            ("}}{{x}}", "}}<x>"),
            ("héllo {{x}}é", "héllo <x>é"),
            (
                "{{run.stamp}}-postgres-backup.sql.gz",
                "<run.stamp>-postgres-backup.sql.gz",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&literal(text), want, "template {text:?}");
        }
        assert_eq!(names("{{a}}{{b_c}}{{d-e.f}}"), ["a", "b_c", "d-e.f"]);
    }

    #[test]
    fn spaced_placeholders_are_found_but_docker_formats_are_not() {
        assert_eq!(
            spaced_placeholders("x {{ host }}"),
            [(2, "host".to_owned())]
        );
        assert!(spaced_placeholders("{{ .Name }} {{json .}}").is_empty());
        assert!(spaced_placeholders("{{{{ host }}").is_empty());
    }

    #[test]
    fn quoted_placeholders_are_reported() {
        let cases: &[(&str, &[&str])] = &[
            ("echo {{a}}", &[]),
            ("echo '{{a}}'", &["a"]),
            ("echo \"x {{a}}\"", &["a"]),
            ("echo 'it''s' {{a}}", &[]),
            ("echo \\' {{a}}", &[]),
            ("echo \"\\\"\" {{a}}", &[]),
            ("docker inspect -f '{{.State.Status}}' {{a}}", &[]),
            ("sh -c \"$(x {{a}})\"", &[]),
            ("x=\"$(a \"$(b {{a}})\")\"", &[]),
            ("x=\"$(a '{{a}}')\"", &["a"]),
            ("x=\"$(a (b) {{a}})\" \"{{b}}\"", &["b"]),
        ];
        for (text, want) in cases {
            let got: Vec<String> = quoted_placeholders(text)
                .into_iter()
                .map(|(_, n)| n)
                .collect();
            assert_eq!(&got, want, "template {text:?}");
        }
    }

    fn info() -> HostInfo {
        let mut services = BTreeMap::new();
        services.insert(
            "geth".to_owned(),
            ServiceOps {
                restart: Some("systemctl restart geth".into()),
                upgrade: Some("/opt/switch {{version}} && {{service.geth.restart}}".into()),
                stop: Some("x '{{version}}'".into()),
                ..ServiceOps::default()
            },
        );
        HostInfo {
            name: "node-1".into(),
            address: "10.0.0.1".into(),
            consensus_group: None,
            consensus: false,
            chain: false,
            services,
        }
    }

    fn render_with(text: &str, context: Context) -> Result<Rendered, String> {
        let host = info();
        let mut inputs = BTreeMap::new();
        inputs.insert("version".to_owned(), "1.2; rm -rf /".to_owned());
        inputs.insert("token".to_owned(), "s3cr3t/x".to_owned());
        inputs.insert("service".to_owned(), "geth".to_owned());
        let targets = vec!["node-1".to_owned(), "node 2".to_owned()];
        inputs.insert("dir".to_owned(), "~/back ups".to_owned());
        inputs.insert("root".to_owned(), "/var/x y".to_owned());
        let secret = |n: &str| n == "token";
        let path = |n: &str| n == "dir" || n == "root";
        let decisions = BTreeMap::from([("level".to_owned(), "P0".to_owned())]);
        let values = Values {
            host: Some(&host),
            targets: &targets,
            inputs: &inputs,
            secret: &secret,
            path: &path,
            stamp: "20261122020000",
            decisions: &decisions,
        };
        render(text, context, &values)
    }

    /// Bug (issue 10): a path input `~/backups` was quoted whole and named a directory called
    /// `~`. A `path` input follows the inventory's rule for host paths; other contexts are as
    /// for any value.
    #[test]
    fn path_inputs_render_as_host_paths_in_commands() {
        let r = render_with("test -d {{dir}} && ls {{root}}/a", Context::Command).unwrap();
        assert_eq!(r.real, "test -d \"$HOME\"/'back ups' && ls '/var/x y'/a");
        assert_eq!(r.display, r.real);
        let r = render_with("backups in {{dir}}", Context::Display).unwrap();
        assert_eq!(r.real, "backups in ~/back ups");
        let r = render_with("https://x/?d={{dir}}", Context::Url).unwrap();
        assert_eq!(r.real, "https://x/?d=~%2Fback%20ups");
    }

    #[test]
    fn rendering_quotes_for_the_context() {
        let r = render_with("echo {{version}} {{host}} {{hosts}}", Context::Command).unwrap();
        assert_eq!(r.real, "echo '1.2; rm -rf /' node-1 'node-1,node 2'");
        let r = render_with("curl -H {{token}}", Context::Command).unwrap();
        assert_eq!(r.real, "curl -H s3cr3t/x");
        assert_eq!(r.display, "curl -H ***");
        let r = render_with("https://x/{{token}}?v={{version}}", Context::Url).unwrap();
        assert_eq!(r.real, "https://x/s3cr3t%2Fx?v=1.2%3B%20rm%20-rf%20%2F");
        assert_eq!(r.display, "https://x/***?v=1.2%3B%20rm%20-rf%20%2F");
        let r = render_with("^v{{version}}$", Context::Regex).unwrap();
        assert_eq!(r.real, "^v1\\.2; rm \\-rf /$");
        let r = render_with("{{choice.level}} on {{hosts}}", Context::Request).unwrap();
        assert_eq!(r.real, "P0 on node-1,node 2");
    }

    #[test]
    fn service_templates_are_inserted_raw_with_their_values_quoted() {
        let r = render_with("{{service.geth.restart}}", Context::Command).unwrap();
        assert_eq!(r.real, "systemctl restart geth");
        let err = render_with("{{service.geth.upgrade}}", Context::Command).unwrap_err();
        assert!(
            err.contains("cannot refer to other service templates"),
            "{err}"
        );
        let err = render_with("{{service.geth.start}}", Context::Command).unwrap_err();
        assert_eq!(
            err,
            "service \"geth\" on host \"node-1\" has no `start` command template \
             (for `{{service.geth.start}}`)"
        );
        let err = render_with("{{service.stop}}", Context::Command).unwrap_err();
        assert!(err.contains("inside quotes"), "{err}");
        let err = render_with("{{service.nope.stop}}", Context::Command).unwrap_err();
        assert!(err.contains("has no service \"nope\""), "{err}");
    }

    #[test]
    fn resolve_rejects_names_out_of_place() {
        let known = |n: &str| match n {
            "token" => Some(true),
            "v" => Some(false),
            _ => None,
        };
        let resolve = |n: &str, c: Context, k: &dyn Fn(&str) -> Option<bool>| {
            resolve(n, c, k, |step: &str| step == "level")
        };
        let inputs = &known;
        assert_eq!(
            resolve("nope", Context::Command, inputs).unwrap_err(),
            "unknown placeholder `{{nope}}`"
        );
        assert!(
            resolve("token", Context::Display, inputs)
                .unwrap_err()
                .starts_with("secret input `token` cannot be used here")
        );
        assert!(resolve("token", Context::Regex, inputs).is_err());
        assert!(resolve("token", Context::Url, inputs).is_ok());
        assert!(resolve("host", Context::Request, inputs).is_err());
        assert!(resolve("service.restart", Context::Command, inputs).is_err());
        assert!(resolve("service.g.reboot", Context::Command, inputs).is_err());
        assert!(resolve("choice.level", Context::Display, inputs).is_ok());
        assert_eq!(
            resolve("choice.nope", Context::Display, inputs).unwrap_err(),
            "unknown placeholder `{{choice.nope}}`: no choice step has the id `nope`"
        );
        assert_eq!(
            resolve("service.g.stop", Context::Command, inputs).unwrap(),
            Name::Service {
                name: Some("g".into()),
                op: ServiceOp::Stop
            }
        );
    }

    #[test]
    fn masking_output() {
        let secrets = ["hunter22".to_owned(), "ab".to_owned()];
        assert_eq!(
            mask_secrets("pw=hunter22 ab", &secrets),
            "pw=*** ab".to_owned()
        );
    }
}

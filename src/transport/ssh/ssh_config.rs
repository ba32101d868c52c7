//! Reading the OpenSSH client config (`~/.ssh/config`) the way `ssh` does: `Host` and `Match`
//! blocks, `Include` (globs, relative to `~/.ssh`), and the first value obtained for each keyword
//! wins. Pure parsing and evaluation; which keywords fleetdeck acts on is [`super::keywords`]'s
//! business, the precedence against the inventory is [`super::target`]'s.
//!
//! Why our own reader: `ssh2-config` 0.9 has no `Match`: a `Match` line becomes an unknown field
//! and every line after it lands in the preceding `Host` block, so a config with `Match` would be
//! read wrong, silently. Asking OpenSSH itself (`ssh -G HOST`) is exact but costs one process per
//! host (9–13 ms each here, 9–13 s of start-up for 1,000 hosts), needs the `ssh` client, and prints
//! every option with its default, so it cannot tell which options the operator set (needed to list
//! the ones fleetdeck does not honour). See docs/ssh-config.md.
//!
//! Follows readconf.c (OpenSSH 9.x): keyword and arguments split as `argv_split` does (quotes,
//! backslash escapes, `#` starting a word ends the line, `Keyword=value` allowed); `Host`
//! patterns with `*`, `?` and `!`; `Match` criteria `all`, `canonical`, `final`, `host`,
//! `originalhost`, `user`, `localuser` and `tagged` are evaluated, the others (`exec`,
//! `localnetwork`, `version`, `sessiontype`, `command`) are reported as not evaluated and their
//! block is not applied; `Match final` reads the config a second time with `Host` lines
//! matching the HostName obtained; `Include` inside an inactive block includes nothing that can
//! match.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// OpenSSH's `READCONF_MAX_DEPTH`: how deep `Include` may nest.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Keywords whose every occurrence counts (OpenSSH accumulates them) instead of the first.
const ACCUMULATING: &[&str] = &[
    "identityfile",
    "certificatefile",
    "localforward",
    "remoteforward",
    "dynamicforward",
    "sendenv",
    "setenv",
];

/// Where a line of the config is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file (after `Include` resolution).
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One keyword line as written: its arguments (quotes removed) and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The keyword as written (for messages; matching is case-insensitive).
    pub keyword: String,
    /// The arguments, unquoted.
    pub args: Vec<String>,
    /// The rest of the line as written: commands (`ProxyCommand`, `LocalCommand`) keep their
    /// quotes, as OpenSSH passes them to the shell unsplit.
    pub raw: String,
    /// Where the line is.
    pub at: Location,
}

impl Setting {
    /// The arguments joined by a space, as OpenSSH prints them.
    pub fn value(&self) -> String {
        self.args.join(" ")
    }
}

/// A parsed client config (every `Include` already read), ready to be queried per host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshConfig {
    items: Vec<Item>,
    /// Some `Match` asks for the final pass (`Match final`), so OpenSSH reads the config twice.
    wants_final_pass: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Host(Vec<String>),
    Match(Vec<Criterion>, Location),
    /// The files one `Include` line read, each already parsed.
    Include(Vec<Item>),
    /// A whole config file read after another (the system-wide one after the user's): it
    /// starts active again, as OpenSSH reads each file afresh.
    File(Vec<Item>),
    Set(Setting),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Criterion {
    negated: bool,
    /// Lowercase attribute: `host`, `all`, `exec`, ….
    attribute: String,
    /// Its argument (none for `all`, `canonical`, `final`).
    argument: Option<String>,
}

/// What a query needs to know besides the config: the name it was asked for and the users.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    /// The host as given (an inventory `address`: a name, an alias or an IP).
    pub host: &'a str,
    /// The remote user already decided before the config (the inventory's), for `Match user`.
    pub user: Option<&'a str>,
    /// The local user name, for `Match localuser` and as the remote user of last resort.
    pub local_user: &'a str,
}

/// The options in force for one host, with the line each came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostParams {
    /// Lowercase keyword → the first value obtained.
    first: BTreeMap<String, Setting>,
    /// Lowercase keyword → every value, in order, for the keywords OpenSSH accumulates.
    all: BTreeMap<String, Vec<Setting>>,
    /// Lowercase keywords in the order their value was obtained (which of `ProxyJump` and
    /// `ProxyCommand` came first decides, as in OpenSSH).
    order: Vec<String>,
    /// `Match` lines whose block fleetdeck could not decide (an `exec`, …): not applied.
    pub unevaluated: Vec<(Location, String)>,
}

impl HostParams {
    /// The first value obtained for `keyword` (case-insensitive).
    pub fn get(&self, keyword: &str) -> Option<&Setting> {
        self.first.get(&keyword.to_ascii_lowercase())
    }

    /// The first argument of `keyword`, if set.
    pub fn arg(&self, keyword: &str) -> Option<&str> {
        self.get(keyword)
            .and_then(|s| s.args.first())
            .map(String::as_str)
    }

    /// Every value of an accumulating keyword (`IdentityFile`, `LocalForward`, …), in order;
    /// for other keywords the one that counts.
    pub fn all(&self, keyword: &str) -> Vec<&Setting> {
        let keyword = keyword.to_ascii_lowercase();
        match self.all.get(&keyword) {
            Some(list) => list.iter().collect(),
            None => self.first.get(&keyword).into_iter().collect(),
        }
    }

    /// Every keyword in force, each once (the value that counts, or the first of many).
    pub fn settings(&self) -> impl Iterator<Item = &Setting> {
        self.first.values()
    }

    fn set(&mut self, setting: &Setting) {
        let keyword = setting.keyword.to_ascii_lowercase();
        if ACCUMULATING.contains(&keyword.as_str()) {
            let list = self.all.entry(keyword.clone()).or_default();
            // The final pass reads the same lines again: count each line once.
            if !list.iter().any(|s| s.at == setting.at) {
                list.push(setting.clone());
            }
        }
        if !self.first.contains_key(&keyword) {
            self.order.push(keyword.clone());
            self.first.insert(keyword, setting.clone());
        }
    }

    /// Whether `a` obtained its value before `b` (an unset keyword comes last).
    pub fn before(&self, a: &str, b: &str) -> bool {
        let pos = |k: &str| {
            self.order
                .iter()
                .position(|o| o.eq_ignore_ascii_case(k))
                .unwrap_or(usize::MAX)
        };
        pos(a) < pos(b)
    }
}

/// A config that OpenSSH itself would refuse, with the place and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct ConfigError {
    /// Where.
    pub at: Location,
    /// What is wrong and what was expected.
    pub message: String,
}

impl SshConfig {
    /// Reads the config at `path` and every file it includes. `home` is `~` (relative `Include`
    /// paths are under `~/.ssh`, as for OpenSSH's user config). A missing file is `Ok(None)`.
    pub fn read(path: &Path, home: Option<&Path>) -> Result<Option<SshConfig>, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ConfigError {
                    at: Location {
                        file: path.to_path_buf(),
                        line: 0,
                    },
                    message: format!("cannot read: {e}"),
                });
            }
        };
        SshConfig::parse(&text, path, home).map(Some)
    }

    /// Parses `text` as if read from `path`.
    pub fn parse(text: &str, path: &Path, home: Option<&Path>) -> Result<SshConfig, ConfigError> {
        let mut wants_final_pass = false;
        let base = home.map(|h| h.join(".ssh"));
        let items = parse_file(text, path, home, base.as_deref(), 0, &mut wants_final_pass)?;
        Ok(SshConfig {
            items,
            wants_final_pass,
        })
    }

    /// Appends the system-wide config (`/etc/ssh/ssh_config`), read after the user's as `ssh`
    /// does without `-F`; its relative `Include`s are under its own directory. A missing file
    /// adds nothing.
    pub fn append_system(&mut self, path: &Path, home: Option<&Path>) -> Result<(), ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(ConfigError {
                    at: Location {
                        file: path.to_path_buf(),
                        line: 0,
                    },
                    message: format!("cannot read: {e}"),
                });
            }
        };
        let items = parse_file(
            &text,
            path,
            home,
            path.parent(),
            0,
            &mut self.wants_final_pass,
        )?;
        self.items.push(Item::File(items));
        Ok(())
    }

    /// The names on every `Host` line (of `Include`d files too) that are literal, not patterns
    /// (no `*`, `?`, `!` or `%`), each once, in file order: the hosts `fleetdeck init` offers.
    pub fn literal_hosts(&self) -> Vec<String> {
        fn walk(items: &[Item], out: &mut Vec<String>) {
            for item in items {
                match item {
                    Item::Host(patterns) => {
                        for p in patterns {
                            if !p.contains(['*', '?', '!', '%']) && !out.contains(p) {
                                out.push(p.clone());
                            }
                        }
                    }
                    Item::Include(inner) | Item::File(inner) => walk(inner, out),
                    Item::Match(..) | Item::Set(_) => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.items, &mut out);
        out
    }

    /// The options in force for `q.host`, as `ssh q.host` would see them (first value wins).
    pub fn query(&self, q: &Query<'_>) -> HostParams {
        let mut params = HostParams::default();
        let original = q.host.to_ascii_lowercase();
        let first = Pass {
            q,
            original: &original,
            name: &original,
            final_pass: false,
        };
        evaluate(&self.items, &first, false, &mut true, &mut params);
        if self.wants_final_pass {
            // ssh.c re-reads the config with the HostName obtained so far as the name `Host`
            // lines match (`originalhost` still sees the name as given).
            let name = params
                .arg("hostname")
                .map(|h| expand_percent_h(h, &original).to_ascii_lowercase())
                .unwrap_or_else(|| original.clone());
            let last = Pass {
                name: &name,
                final_pass: true,
                ..first
            };
            evaluate(&self.items, &last, false, &mut true, &mut params);
        }
        params
    }
}

fn parse_file(
    text: &str,
    path: &Path,
    home: Option<&Path>,
    include_base: Option<&Path>,
    depth: usize,
    wants_final_pass: &mut bool,
) -> Result<Vec<Item>, ConfigError> {
    let mut items = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let at = Location {
            file: path.to_path_buf(),
            line: index + 1,
        };
        let err = |message: String| ConfigError {
            at: at.clone(),
            message,
        };
        let Some((keyword, rest)) = split_keyword(raw) else {
            continue;
        };
        let args = split_args(rest).map_err(err)?;
        if args.is_empty() {
            return Err(err(format!(
                "no argument after keyword {keyword:?}: expected `{keyword} VALUE`"
            )));
        }
        match keyword.to_ascii_lowercase().as_str() {
            "host" => items.push(Item::Host(args)),
            "match" => {
                let criteria = parse_match(&args).map_err(err)?;
                if criteria.iter().any(|c| c.attribute == "final") {
                    *wants_final_pass = true;
                }
                items.push(Item::Match(criteria, at));
            }
            "include" => {
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(err(format!(
                        "Include nested deeper than {MAX_INCLUDE_DEPTH} files (a loop?)"
                    )));
                }
                let mut included = Vec::new();
                for arg in &args {
                    for file in include_files(arg, home, include_base).map_err(err)? {
                        let text = match std::fs::read_to_string(&file) {
                            Ok(t) => t,
                            // A glob can name a directory or a file that vanished: skip, as ssh does.
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                            Err(e) if file.is_dir() => {
                                tracing::debug!(file = %file.display(), error = %e, "Include names a directory");
                                continue;
                            }
                            Err(e) => {
                                return Err(err(format!(
                                    "cannot read included file {}: {e}",
                                    file.display()
                                )));
                            }
                        };
                        included.extend(parse_file(
                            &text,
                            &file,
                            home,
                            include_base,
                            depth + 1,
                            wants_final_pass,
                        )?);
                    }
                }
                items.push(Item::Include(included));
            }
            _ => items.push(Item::Set(Setting {
                keyword: keyword.to_string(),
                args,
                raw: rest.trim_end().to_string(),
                at,
            })),
        }
    }
    Ok(items)
}

/// The files an `Include` argument names: `~` expanded, relative paths under `base` (`~/.ssh`
/// for the user's config, `/etc/ssh` for the system's), globs expanded in sorted order
/// (glob(3) order, as OpenSSH).
fn include_files(
    arg: &str,
    home: Option<&Path>,
    base: Option<&Path>,
) -> Result<Vec<PathBuf>, String> {
    let path = if let Some(rest) = arg.strip_prefix("~/") {
        match home {
            Some(h) => h.join(rest),
            None => return Err(format!("Include {arg}: no home directory to expand `~`")),
        }
    } else if Path::new(arg).is_absolute() {
        PathBuf::from(arg)
    } else {
        match base {
            Some(b) => b.join(arg),
            None => {
                return Err(format!(
                    "Include {arg}: no home directory for a relative path"
                ));
            }
        }
    };
    let pattern = path.to_string_lossy().into_owned();
    let paths = glob::glob(&pattern)
        .map_err(|e| format!("Include {arg}: invalid glob pattern: {e}"))?
        .filter_map(Result::ok)
        .collect();
    Ok(paths)
}

fn parse_match(args: &[String]) -> Result<Vec<Criterion>, String> {
    let mut criteria = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let (negated, attribute) = match word.strip_prefix('!') {
            Some(rest) => (true, rest.to_ascii_lowercase()),
            None => (false, word.to_ascii_lowercase()),
        };
        let argument = match attribute.as_str() {
            "all" | "canonical" | "final" => None,
            "host" | "originalhost" | "user" | "localuser" | "exec" | "localnetwork" | "tagged"
            | "version" | "sessiontype" | "command" => {
                Some(words.next().cloned().ok_or_else(|| {
                    format!("Match {attribute} needs an argument, e.g. `Match {attribute} PATTERN`")
                })?)
            }
            // An attribute newer than this reader: the rest of the line is its business. The
            // block is not applied and is listed, rather than refusing a config ssh accepts.
            _ => {
                let rest: Vec<String> = words.by_ref().cloned().collect();
                criteria.push(Criterion {
                    negated,
                    attribute,
                    argument: Some(rest.join(" ")),
                });
                break;
            }
        };
        criteria.push(Criterion {
            negated,
            attribute,
            argument,
        });
    }
    if criteria.iter().any(|c| c.attribute == "all")
        && criteria
            .iter()
            .any(|c| !matches!(c.attribute.as_str(), "all" | "canonical" | "final"))
    {
        return Err("Match all cannot be combined with other criteria \
                    (except canonical and final)"
            .into());
    }
    Ok(criteria)
}

/// One reading of the config for one host.
#[derive(Clone, Copy)]
struct Pass<'a> {
    q: &'a Query<'a>,
    /// The name as given, lowercase (`originalhost`, `%h`).
    original: &'a str,
    /// The name `Host` lines match: the original, or in the final pass the HostName.
    name: &'a str,
    /// The final pass (`Match final` / `canonical` match only there).
    final_pass: bool,
}

fn evaluate(
    items: &[Item],
    pass: &Pass<'_>,
    never_match: bool,
    active: &mut bool,
    params: &mut HostParams,
) {
    for item in items {
        match item {
            Item::Host(patterns) => {
                *active = !never_match && host_matches(pass.name, patterns);
            }
            Item::Match(criteria, at) => {
                *active = !never_match && match_criteria(criteria, at, pass, params);
            }
            Item::Include(included) => {
                // readconf.c: an included file read from an inactive block can match nothing,
                // and the including block's state is restored after it.
                let outer = *active;
                evaluate(included, pass, never_match || !outer, active, params);
                *active = outer;
            }
            Item::File(items) => evaluate(items, pass, false, &mut true, params),
            Item::Set(setting) if *active => params.set(setting),
            Item::Set(_) => {}
        }
    }
}

/// `Host p1 p2 !p3`: some pattern matches and no negated one does.
fn host_matches(host: &str, patterns: &[String]) -> bool {
    let mut matched = false;
    for pattern in patterns {
        match pattern.strip_prefix('!') {
            Some(negated) => {
                if wildcard_match(host, negated) {
                    return false;
                }
            }
            None => matched |= wildcard_match(host, pattern),
        }
    }
    matched
}

fn match_criteria(
    criteria: &[Criterion],
    at: &Location,
    pass: &Pass<'_>,
    params: &mut HostParams,
) -> bool {
    let (q, original, final_pass) = (pass.q, pass.original, pass.final_pass);
    // `Match host` sees the HostName obtained so far (`%h` expanded), as in OpenSSH.
    let host = params
        .arg("hostname")
        .map(|h| expand_percent_h(h, original).to_ascii_lowercase())
        .unwrap_or_else(|| original.to_string());
    let remote_user = q
        .user
        .map(str::to_string)
        .or_else(|| params.arg("user").map(str::to_string))
        .unwrap_or_else(|| q.local_user.to_string());
    let mut unevaluated = Vec::new();
    for c in criteria {
        let arg = c.argument.as_deref().unwrap_or("");
        let result = match c.attribute.as_str() {
            "all" => true,
            "canonical" | "final" => final_pass,
            "host" => list_matches(&host, arg, true),
            "originalhost" => list_matches(original, arg, true),
            "user" => list_matches(&remote_user, arg, false),
            "localuser" => list_matches(q.local_user, arg, false),
            "tagged" => {
                let tag = params.arg("tag").unwrap_or("");
                list_matches(tag, arg, false)
            }
            _ => {
                unevaluated.push(format!(
                    "{}{} {arg}",
                    if c.negated { "!" } else { "" },
                    c.attribute
                ));
                continue;
            }
        };
        if result == c.negated {
            // One false criterion decides the block, whatever the undecided ones say.
            return false;
        }
    }
    if unevaluated.is_empty() {
        return true;
    }
    let what = unevaluated.join(", ");
    if !params.unevaluated.iter().any(|(l, _)| l == at) {
        params.unevaluated.push((at.clone(), what));
    }
    false
}

/// OpenSSH's `match_pattern_list`: comma-separated patterns, `!` negates; true when some
/// positive pattern matches and no negated one does.
fn list_matches(value: &str, list: &str, lowercase: bool) -> bool {
    let value = if lowercase {
        value.to_ascii_lowercase()
    } else {
        value.to_string()
    };
    let mut matched = false;
    for pattern in list.split(',') {
        let pattern = if lowercase {
            pattern.to_ascii_lowercase()
        } else {
            pattern.to_string()
        };
        match pattern.strip_prefix('!') {
            Some(negated) => {
                if wildcard_match(&value, negated) {
                    return false;
                }
            }
            None => matched |= wildcard_match(&value, &pattern),
        }
    }
    matched
}

/// OpenSSH's `match_pattern`: `*` any run, `?` one character, everything else literal.
pub(crate) fn wildcard_match(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    // Iterative matcher with single-star backtracking: linear-ish, no recursion on hostile input.
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// `%h` → the host as given, `%%` → `%` (the only tokens `HostName` takes).
pub(crate) fn expand_percent_h(value: &str, host: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(host),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Splits off the keyword as `strdelim` does: whitespace or one `=` ends it. `None` for blank
/// and comment lines.
fn split_keyword(line: &str) -> Option<(&str, &str)> {
    let line = line.trim_start();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let keyword = &line[..end];
    let mut rest = line[end..].trim_start();
    if let Some(after) = rest.strip_prefix('=') {
        rest = after.trim_start();
    }
    if keyword.is_empty() {
        return None;
    }
    Some((keyword, rest))
}

/// OpenSSH's `argv_split(…, terminate_on_comment = 1)`: words separated by whitespace, `"…"`
/// and `'…'` quote, a backslash escapes a quote, a backslash or whitespace, and a `#` that
/// starts a word ends the line.
fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some('#') => break,
            _ => {}
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            match (quote, c) {
                (None, c) if c.is_whitespace() => break,
                (_, '\\') => {
                    chars.next();
                    match chars.peek() {
                        Some(&n)
                            if n == '\''
                                || n == '"'
                                || n == '\\'
                                || (quote.is_none() && n.is_whitespace()) =>
                        {
                            word.push(n);
                            chars.next();
                        }
                        _ => word.push('\\'),
                    }
                    continue;
                }
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, c) => word.push(c),
            }
            chars.next();
        }
        if let Some(q) = quote {
            return Err(format!("invalid quotes: no closing {q}"));
        }
        args.push(word);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(host: &str) -> Query<'_> {
        Query {
            host,
            user: None,
            local_user: "me",
        }
    }

    fn parse(text: &str) -> SshConfig {
        SshConfig::parse(text, Path::new("/cfg"), Some(Path::new("/home/me"))).unwrap()
    }

    #[test]
    fn words_split_like_openssh() {
        assert_eq!(
            split_args(r#"a "b c" 'd e' f\ g # comment"#).unwrap(),
            vec!["a", "b c", "d e", "f g"]
        );
        assert_eq!(split_keyword("  Port=2222"), Some(("Port", "2222")));
        assert_eq!(split_keyword("Port = 2222"), Some(("Port", "2222")));
        assert_eq!(split_keyword("# Port 22"), None);
        assert!(split_args("\"open").is_err());
    }

    #[test]
    fn patterns_match_like_openssh() {
        assert!(wildcard_match("db1.prod", "*.prod"));
        assert!(wildcard_match("db1", "db?"));
        assert!(!wildcard_match("db10", "db?"));
        assert!(wildcard_match("a.b.c", "*.*"));
        assert!(!wildcard_match("a", "b*"));
        assert!(host_matches(
            "x.prod",
            &["*.prod".into(), "!bad.prod".into()]
        ));
        assert!(!host_matches(
            "bad.prod",
            &["*.prod".into(), "!bad.prod".into()]
        ));
        assert!(list_matches("Web1", "web*,!web2", true));
        assert!(!list_matches("web2", "web*,!web2", true));
    }

    #[test]
    fn the_first_value_obtained_wins_and_identity_files_accumulate() {
        let c = parse(
            "Host web\n  Port 2201\n  IdentityFile ~/.ssh/web\nHost *\n  Port 22\n  User all\n  IdentityFile ~/.ssh/id\n",
        );
        let p = c.query(&q("web"));
        assert_eq!(p.arg("port"), Some("2201"));
        assert_eq!(p.arg("user"), Some("all"));
        let files: Vec<String> = p.all("IdentityFile").iter().map(|s| s.value()).collect();
        assert_eq!(files, vec!["~/.ssh/web", "~/.ssh/id"]);
        assert_eq!(p.get("port").unwrap().at.line, 2);
    }

    #[test]
    fn unevaluated_match_blocks_are_not_applied_and_are_reported() {
        let c =
            parse("Match exec \"true\" host web\n  User x\nMatch exec true host other\n  User y\n");
        let p = c.query(&q("web"));
        assert_eq!(p.arg("user"), None);
        assert_eq!(p.unevaluated.len(), 1, "{:?}", p.unevaluated);
        assert_eq!(p.unevaluated[0].0.line, 1);
    }

    #[test]
    fn match_final_is_read_on_a_second_pass() {
        let c = parse("Match final host real\n  User late\nHost alias\n  HostName real\n");
        assert_eq!(c.query(&q("alias")).arg("user"), Some("late"));
        assert_eq!(c.query(&q("real")).arg("user"), Some("late"));
        assert_eq!(c.query(&q("other")).arg("user"), None);
        // In the final pass `Host` lines match the HostName (checked with `ssh -G`).
        let c = parse("Match final all\nHost alias\n  HostName real\nHost real\n  User viareal\n");
        assert_eq!(c.query(&q("alias")).arg("user"), Some("viareal"));
        let c = parse("Host alias\n  HostName real\nHost real\n  User viareal\n");
        assert_eq!(c.query(&q("alias")).arg("user"), None);
    }

    #[test]
    fn an_include_loop_is_an_error_and_a_glob_matching_nothing_is_not() {
        let home = tempfile::tempdir().unwrap();
        let ssh = home.path().join(".ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        std::fs::write(ssh.join("loop.conf"), "Include loop.conf\n").unwrap();
        let e = SshConfig::parse(
            "Include loop.conf\n",
            &ssh.join("config"),
            Some(home.path()),
        )
        .unwrap_err();
        assert!(e.message.contains("nested deeper than 16"), "{e}");
        assert!(e.at.file.ends_with("loop.conf"), "{e}");
        let c = SshConfig::parse(
            "Include nothing.d/*\nHost *\n  User u\n",
            &ssh.join("config"),
            Some(home.path()),
        )
        .unwrap();
        assert_eq!(c.query(&q("h")).arg("user"), Some("u"));
    }

    #[test]
    fn bad_lines_name_the_file_and_line() {
        let e = SshConfig::parse("Host a\n  Port\n", Path::new("/cfg"), None).unwrap_err();
        assert_eq!(e.at.line, 2);
        assert!(e.to_string().starts_with("/cfg:2: no argument"), "{e}");
        let e = SshConfig::parse("Match host\n", Path::new("/cfg"), None).unwrap_err();
        assert!(
            e.to_string().contains("Match host needs an argument"),
            "{e}"
        );
        // An attribute this reader does not know: not applied, reported, not an error.
        let c = parse("Match newfangled x y\n  User z\n");
        let p = c.query(&q("h"));
        assert_eq!(p.arg("user"), None);
        assert_eq!(p.unevaluated[0].1, "newfangled x y");
    }

    proptest::proptest! {
        /// Whatever the file says, reading and querying it never panics (errors are fine).
        #[test]
        fn any_config_reads_and_queries_without_panicking(
            lines in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "Host", "Match", "User", "HostName", "Port", "IdentityFile",
                        "ServerAliveInterval", "Tag", "KexAlgorithms", "#", "",
                    ]),
                    "[a-z0-9*?!,=\"' %.\\-]{0,24}",
                ),
                0..12,
            ),
            host in "[a-zA-Z0-9.*?-]{0,12}",
            text in "\\PC{0,200}",
        ) {
            let written: String = lines.iter().map(|(k, a)| format!("{k} {a}\n")).collect();
            for t in [written.as_str(), text.as_str()] {
                if t.to_ascii_lowercase().contains("include") {
                    continue;
                }
                if let Ok(c) = SshConfig::parse(t, Path::new("/cfg"), None) {
                    let _ = c.query(&q(&host));
                }
            }
            let _ = wildcard_match(&host, &text);
        }
    }
}

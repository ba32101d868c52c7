//! Diagnostics for every TOML file fleetdeck reads (inventories, runbooks, themes): one
//! located-error type, one way to find the key a serde error is about, one rewording of
//! serde's and toml's messages into the words of a TOML file.
//!
//! Every message has the same shape, `PATH:LINE:COL: MESSAGE` (or `PATH: MESSAGE` when no
//! position is known), so editors and terminals can jump to it. A serde error names the key
//! and the table it is in (`unknown key `x` in host "db-1"`); how a table is named is the one
//! thing each file kind decides for itself, through [`Places`].
//!
//! This module sits below the loaders: it must not import `inventory`, `runbook` or `ui`, and
//! it never reads files. Callers: `inventory::load`, `runbook::load` and `ui::theme`.

use std::fmt::Write as _;
use std::ops::Range;

use serde::de::DeserializeOwned;
use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue};

/// One problem with a file, with its name and (when known) the 1-based line and column.
///
/// Displays as `PATH:LINE:COL: MESSAGE`, or `PATH: MESSAGE` without a position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{path}{}: {message}", position_suffix(*.line, *.column))]
pub struct Located {
    /// The file as the operator named it (or a stand-in like `<embedded default>`).
    pub path: String,
    /// 1-based line.
    pub line: Option<usize>,
    /// 1-based column, in characters.
    pub column: Option<usize>,
    /// What is wrong and what was expected.
    pub message: String,
}

fn position_suffix(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(":{line}:{column}"),
        (Some(line), None) => format!(":{line}"),
        _ => String::new(),
    }
}

impl Located {
    /// An error about the file as a whole (missing, unreadable, something absent).
    pub fn whole(path: impl std::fmt::Display, message: impl Into<String>) -> Self {
        Self {
            path: path.to_string(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// An error at byte `offset` of `text`.
    pub fn at(
        path: impl std::fmt::Display,
        text: &str,
        offset: usize,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = line_column(text, offset);
        Self {
            path: path.to_string(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The text being read and the name it is reported under.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The file as the operator named it.
    pub path: &'a str,
    /// Its whole text.
    pub text: &'a str,
}

impl<'a> Source<'a> {
    /// Text `text` reported under `path`.
    pub fn new(path: &'a str, text: &'a str) -> Self {
        Self { path, text }
    }

    /// An error at `span` of the text.
    pub fn at(&self, span: Range<usize>, message: impl Into<String>) -> Located {
        Located::at(self.path, self.text, span.start, message)
    }

    /// An error about the file as a whole.
    pub fn whole(&self, message: impl Into<String>) -> Located {
        Located::whole(self.path, message)
    }

    /// Deserialises the text into `T`, reporting a syntax or serde error at its position and
    /// in the file's words (`places` names the tables).
    ///
    /// The untyped, spanned parse comes first: it reports syntax errors, and its key paths let
    /// serde's errors say *where* ("in host \"db-1\"") and not only *what*.
    pub fn deserialize<T: DeserializeOwned>(&self, places: &dyn Places) -> Result<T, Located> {
        let doc = DeTable::parse(self.text).map_err(|err| self.toml_error(&err, None, places))?;
        toml::from_str(self.text).map_err(|err| self.toml_error(&err, Some(doc.get_ref()), places))
    }

    /// A `toml` error, reworded with the key path found in `doc` when there is one.
    pub fn toml_error(
        &self,
        err: &toml::de::Error,
        doc: Option<&DeTable<'_>>,
        places: &dyn Places,
    ) -> Located {
        let message = err.message().trim().to_owned();
        let Some(span) = err.span() else {
            return self.whole(message);
        };
        let message = match doc {
            Some(doc) => reword(&message, &span, doc, places),
            None => self.name_the_key(message, &span),
        };
        self.at(span, message)
    }

    /// toml says only "duplicate key"; the operator wants to know which one.
    fn name_the_key(&self, message: String, span: &Range<usize>) -> String {
        match self.text.get(span.clone()) {
            Some(key) if message == "duplicate key" && !key.is_empty() && !key.contains('\n') => {
                format!("duplicate key `{key}`")
            }
            _ => message,
        }
    }
}

/// One step of a key path in the parsed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A key of a table.
    Key(String),
    /// An index into an array.
    Index(usize),
}

/// Whether a span matched a key or a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// The span is a key's: the error is about the key itself.
    Key,
    /// The span is a value's (a table, an array, a scalar).
    Value,
}

/// The deepest key or value of `doc` whose span is exactly `span`: its path and what matched.
pub fn locate(doc: &DeTable<'_>, span: &Range<usize>) -> Option<(Vec<Seg>, Hit)> {
    let mut path = Vec::new();
    locate_in(doc, span, &mut path).map(|hit| (path, hit))
}

fn locate_in(table: &DeTable<'_>, span: &Range<usize>, path: &mut Vec<Seg>) -> Option<Hit> {
    for (key, value) in table.iter() {
        path.push(Seg::Key(key.get_ref().to_string()));
        if key.span() == *span {
            return Some(Hit::Key);
        }
        if let Some(hit) = locate_value(value, span, path) {
            return Some(hit);
        }
        path.pop();
    }
    None
}

fn locate_value(
    value: &Spanned<DeValue<'_>>,
    span: &Range<usize>,
    path: &mut Vec<Seg>,
) -> Option<Hit> {
    // Children first: an array of tables shares its span with its first table, and the
    // table is the more precise answer.
    match value.get_ref() {
        DeValue::Table(table) => {
            if let Some(hit) = locate_in(table, span, path) {
                return Some(hit);
            }
        }
        DeValue::Array(array) => {
            for (i, item) in array.iter().enumerate() {
                path.push(Seg::Index(i));
                if let Some(hit) = locate_value(item, span, path) {
                    return Some(hit);
                }
                path.pop();
            }
        }
        _ => {}
    }
    (value.span() == *span).then_some(Hit::Value)
}

/// The value at `path` in the document.
pub fn value_at<'d, 'i>(doc: &'d DeTable<'i>, path: &[Seg]) -> Option<&'d DeValue<'i>> {
    let (first, rest) = path.split_first()?;
    let Seg::Key(first) = first else {
        return None;
    };
    let mut current = doc
        .iter()
        .find(|(k, _)| k.get_ref() == first)
        .map(|(_, v)| v.get_ref())?;
    for seg in rest {
        current = match (seg, current) {
            (Seg::Key(key), DeValue::Table(table)) => table
                .iter()
                .find(|(k, _)| k.get_ref() == key)
                .map(|(_, v)| v.get_ref())?,
            (Seg::Index(i), DeValue::Array(array)) => array.get(*i).map(|v| v.get_ref())?,
            _ => return None,
        };
    }
    Some(current)
}

/// The string under `key` of the table at `path`, for naming things in messages.
pub fn string_at(doc: &DeTable<'_>, path: &[Seg], key: &str) -> Option<String> {
    let mut full = path.to_vec();
    full.push(Seg::Key(key.to_owned()));
    value_at(doc, &full)?.as_str().map(str::to_owned)
}

/// `path` written as a dotted TOML key path: `hosts[0].chain`.
pub fn dotted(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&toml_key(k));
            }
            Seg::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

/// A key as TOML would need it written: bare when possible, quoted otherwise.
pub fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

/// How one kind of file names its tables in messages; the rest of the wording is shared.
pub trait Places {
    /// Where the table at `path` is, as a phrase: `at the top level`, `in [fleet]`,
    /// `in host "db-1"`, `in step `a``.
    fn within(&self, doc: &DeTable<'_>, path: &[Seg]) -> String;

    /// What follows `unknown key `K` PLACE` for a table at `parent`, instead of serde's list
    /// of the expected keys (`None` keeps the list). For tables whose list would mislead.
    fn unknown_key_tail(&self, _parent: &[Seg]) -> Option<String> {
        None
    }

    /// A hint appended to an invalid-type message for the value at `path`, whose found/expected
    /// part is `rest` (e.g. `[hosts]` written for `[[hosts]]`).
    fn type_hint(&self, _path: &[Seg], _rest: &str) -> &'static str {
        ""
    }
}

/// Plain naming: `at the top level`, `in [table]`, otherwise `in `dotted.path``. Files with no
/// named items (themes) need nothing more.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

impl Places for Plain {
    fn within(&self, _doc: &DeTable<'_>, path: &[Seg]) -> String {
        match path {
            [] => "at the top level".to_owned(),
            [Seg::Key(table)] => format!("in [{}]", toml_key(table)),
            _ => format!("in `{}`", dotted(path)),
        }
    }
}

/// Rewords serde's message about the key or value at `span` into TOML terms ("key", "table",
/// "array") and adds which key and where.
pub fn reword(
    message: &str,
    span: &Range<usize>,
    doc: &DeTable<'_>,
    places: &dyn Places,
) -> String {
    let Some((path, hit)) = locate(doc, span) else {
        return message.to_owned();
    };
    // What the error is about (the last key, or `list[i]`) and the table holding it.
    let (target, parent): (String, &[Seg]) = match path.as_slice() {
        [parent @ .., Seg::Key(list), Seg::Index(i)] => (format!("{list}[{i}]"), parent),
        [parent @ .., Seg::Key(key)] => (key.clone(), parent),
        _ => (String::new(), &[]),
    };
    let parent_place = places.within(doc, parent);

    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((key, tail)) = rest.split_once('`')
    {
        let tail = places.unknown_key_tail(parent).unwrap_or_else(|| {
            tail.strip_prefix(", there are no fields")
                .unwrap_or(tail)
                .to_owned()
        });
        return format!("unknown key `{key}` {parent_place}{tail}");
    }
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((key, _)) = rest.split_once('`')
    {
        // A span on a table value means the key is missing from that table itself.
        let place = if hit == Hit::Value {
            places.within(doc, &path)
        } else {
            parent_place
        };
        return format!("missing key `{key}` {place}");
    }
    if let Some(rest) = message.strip_prefix("unknown variant `")
        && let Some((value, tail)) = rest.split_once('`')
    {
        return format!("invalid value {value:?} for `{target}` {parent_place}{tail}");
    }
    for (prefix, what) in [
        ("invalid type: ", "invalid type"),
        ("invalid value: ", "invalid value"),
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let rest = match rest.rsplit_once(", expected ") {
                Some((found, expected)) => format!(
                    "{}, expected {}",
                    friendly_found(found),
                    friendly_expected(expected)
                ),
                None => rest.to_owned(),
            };
            let hint = places.type_hint(&path, &rest);
            return format!("{what} for `{target}` {parent_place}: {rest}{hint}");
        }
    }
    // toml's words for a non-string where a unit enum was wanted.
    if message == "wanted string or table" {
        return format!("invalid type for `{target}` {parent_place}: expected a string");
    }
    if target.is_empty() {
        message.to_owned()
    } else {
        format!("{message} (`{target}` {parent_place})")
    }
}

/// Serde's names of what was found, in the words of a TOML file.
fn friendly_found(found: &str) -> &str {
    match found {
        "map" => "table",
        "sequence" => "array",
        other => other,
    }
}

/// Serde's type names in the words of a TOML file.
fn friendly_expected(expected: &str) -> String {
    match expected {
        "u8" | "u16" => "an integer from 0 to 65535".to_owned(),
        "u32" => "an integer from 0 to 4294967295".to_owned(),
        "u64" | "usize" => "a non-negative integer".to_owned(),
        "i64" | "isize" => "an integer".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a sequence" => "an array".to_owned(),
        "a map" => "a table".to_owned(),
        other if other.starts_with("struct ") => "a table".to_owned(),
        other => other.to_owned(),
    }
}

/// The one line of a `regex` error that says what is wrong (its syntax errors come with a
/// multi-line drawing of the pattern).
pub fn regex_problem(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.strip_prefix("error: ").unwrap_or(l).trim().to_owned())
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_characters_from_one() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é = 1", 2), (1, 2));
        assert_eq!(line_column("ab", 99), (1, 3));
    }

    /// The loaders sit on top of this module; it must not reach back up into them.
    #[test]
    fn diag_imports_no_loader() {
        let source = include_str!("diag.rs");
        let code = source.split("#[cfg(test)]").next().unwrap();
        for module in ["inventory", "runbook", "ui"] {
            let import = format!("crate::{module}");
            assert!(!code.contains(&import), "diag imports {import}");
        }
    }

    #[test]
    fn located_errors_have_one_shape() {
        let src = Source::new("f.toml", "a = 1\nb = 2\n");
        assert_eq!(src.at(6..7, "bad").to_string(), "f.toml:2:1: bad");
        assert_eq!(src.whole("bad").to_string(), "f.toml: bad");
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        port: u16,
        #[serde(default)]
        table: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
    }

    fn err(text: &str) -> String {
        Source::new("t.toml", text)
            .deserialize::<Doc>(&Plain)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn serde_errors_name_the_key_and_its_table() {
        assert_eq!(
            err("port = \"x\"\n"),
            "t.toml:1:8: invalid type for `port` at the top level: string \"x\", expected an integer from 0 to 65535"
        );
        assert_eq!(
            err("port = 1\n[table]\nnome = \"a\"\n"),
            "t.toml:3:1: unknown key `nome` in [table], expected `name`"
        );
        assert_eq!(
            err("port = 1\n[table]\n"),
            "t.toml:2:1: missing key `name` in [table]"
        );
        assert_eq!(
            err("port = 1\nport = 2\n"),
            "t.toml:2:1: duplicate key `port`"
        );
    }
}

//! Judging one host's command result against a step's [`Expect`].
//!
//! This module owns what "passed" means for a command: the exit status, a regex that must (or
//! must not) match stdout, a number compared with `> 5`-style operators, and a JSONPath into
//! stdout parsed as JSON with an expected value. The number is taken, in this order, from the
//! JSONPath's first value, from the `regex`'s first capture group, or from the first number
//! in stdout; `0x…` hex (JSON-RPC quantities) is understood everywhere.
//!
//! Pure: no I/O, no clock. Callers: [`super::engine`] for every check, action, wait and
//! rolling sub-step.

use regex::Regex;
use serde_json::Value;
use serde_json_path::JsonPath;

use serde::{Deserialize, Serialize};

use super::{CmpOp, Comparison, Expect};

/// The result of one command run ([`super::Effect::Exec`]), as the expectations judge it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExecResult {
    /// Exit status (`None` when killed or never started).
    pub exit: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Could not run at all: unreachable, timeout, refused channel.
    pub error: Option<String>,
    /// How long it took, for the audit record.
    pub duration_ms: Option<u64>,
}

/// One host's verdict: passed or not, and a short reason shown to the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether every expectation held.
    pub passed: bool,
    /// Why not (or a summary of what matched).
    pub detail: String,
}

impl Verdict {
    fn fail(detail: impl Into<String>) -> Self {
        Self {
            passed: false,
            detail: detail.into(),
        }
    }
}

/// Judges `result` against `expect`. `regex` and `not_regex` arrive already rendered (their
/// placeholders substituted and escaped by the caller).
pub fn judge(
    expect: &Expect,
    regex: Option<&str>,
    not_regex: Option<&str>,
    result: &ExecResult,
) -> Verdict {
    if let Some(error) = &result.error {
        return Verdict::fail(format!("could not run: {error}"));
    }
    let Some(exit) = result.exit else {
        return Verdict::fail("no exit status (killed by a signal?)");
    };
    if !expect.exit.is_empty() && !expect.exit.contains(&exit) {
        let wanted: Vec<String> = expect.exit.iter().map(i32::to_string).collect();
        return Verdict::fail(format!(
            "exit status {exit}, expected {}{}",
            wanted.join(" or "),
            stderr_hint(result)
        ));
    }
    let stdout = result.stdout.as_str();
    let mut captured: Option<String> = None;
    if let Some(pattern) = regex {
        let re = match Regex::new(pattern) {
            Ok(re) => re,
            Err(e) => return Verdict::fail(format!("invalid regex: {e}")),
        };
        match re.captures(stdout) {
            None => return Verdict::fail(format!("output does not match /{pattern}/")),
            Some(caps) => captured = caps.get(1).map(|m| m.as_str().to_owned()),
        }
    }
    if let Some(pattern) = not_regex {
        let re = match Regex::new(pattern) {
            Ok(re) => re,
            Err(e) => return Verdict::fail(format!("invalid regex: {e}")),
        };
        if let Some(m) = re.find(stdout) {
            return Verdict::fail(format!(
                "output matches /{pattern}/: {:?}",
                clip(m.as_str())
            ));
        }
    }
    let mut json_first: Option<Value> = None;
    if let Some(path) = &expect.json_path {
        let path = match JsonPath::parse(path) {
            Ok(p) => p,
            Err(e) => return Verdict::fail(format!("invalid JSON path: {e}")),
        };
        let doc: Value = match serde_json::from_str(stdout.trim()) {
            Ok(v) => v,
            Err(e) => return Verdict::fail(format!("output is not JSON: {e}")),
        };
        let nodes = path.query(&doc).all();
        if nodes.is_empty() {
            return Verdict::fail(format!("JSON path {} selects nothing", expect_path(expect)));
        }
        if let Some(want) = &expect.equals
            && !nodes.iter().any(|n| json_equal(n, want))
        {
            return Verdict::fail(format!(
                "JSON path {} is {}, expected {}",
                expect_path(expect),
                clip(&nodes[0].to_string()),
                want
            ));
        }
        json_first = Some(nodes[0].clone());
    }
    if let Some(cmp) = expect.number {
        let source = match (&json_first, &captured) {
            (Some(v), _) => number_of_json(v),
            (None, Some(c)) => parse_number(c.trim()),
            (None, None) => first_number(stdout),
        };
        let Some(n) = source else {
            return Verdict::fail("no number in the output to compare");
        };
        if !compare(n, cmp) {
            return Verdict::fail(format!(
                "{} is not {} {}",
                fmt_num(n),
                cmp.op.as_str(),
                fmt_num(cmp.value)
            ));
        }
        return Verdict {
            passed: true,
            detail: format!("{} {} {}", fmt_num(n), cmp.op.as_str(), fmt_num(cmp.value)),
        };
    }
    Verdict {
        passed: true,
        detail: format!("exit {exit}"),
    }
}

fn expect_path(expect: &Expect) -> &str {
    expect.json_path.as_deref().unwrap_or("")
}

fn stderr_hint(result: &ExecResult) -> String {
    let line = result.stderr.lines().rev().find(|l| !l.trim().is_empty());
    match line {
        Some(l) => format!(": {}", clip(l.trim())),
        None => String::new(),
    }
}

fn clip(s: &str) -> String {
    const MAX: usize = 120;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

/// Numbers compare as JSON values do: `1` equals `1.0`.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Whether `n` satisfies the comparison.
pub fn compare(n: f64, cmp: Comparison) -> bool {
    match cmp.op {
        CmpOp::Lt => n < cmp.value,
        CmpOp::Le => n <= cmp.value,
        CmpOp::Gt => n > cmp.value,
        CmpOp::Ge => n >= cmp.value,
        CmpOp::Eq => n == cmp.value,
        CmpOp::Ne => n != cmp.value,
    }
}

fn number_of_json(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_number(s.trim()),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// A decimal or `0x` hex number, the whole of `s` (a trailing `%` is allowed, for `df`).
pub fn parse_number(s: &str) -> Option<f64> {
    let s = s.strip_suffix('%').unwrap_or(s);
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let value = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()? as f64
    } else {
        body.parse::<f64>().ok().filter(|v| v.is_finite())?
    };
    Some(if neg { -value } else { value })
}

/// The first number anywhere in `text`.
pub fn first_number(text: &str) -> Option<f64> {
    static NUMBER: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let re = NUMBER.get_or_init(|| {
        Regex::new(r"-?0[xX][0-9a-fA-F]+|-?[0-9]+(?:\.[0-9]+)?").expect("static regex")
    });
    re.find(text).and_then(|m| parse_number(m.as_str()))
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::load::parse_comparison;

    fn ok(stdout: &str) -> ExecResult {
        ExecResult {
            exit: Some(0),
            stdout: stdout.to_owned(),
            ..ExecResult::default()
        }
    }

    fn expect() -> Expect {
        Expect::default()
    }

    #[test]
    fn table_of_verdicts() {
        struct Case {
            name: &'static str,
            expect: Expect,
            regex: Option<&'static str>,
            not_regex: Option<&'static str>,
            result: ExecResult,
            passed: bool,
            detail: &'static str,
        }
        let with = |f: fn(&mut Expect)| {
            let mut e = expect();
            f(&mut e);
            e
        };
        let cases = vec![
            Case {
                name: "exit 0 passes",
                expect: expect(),
                regex: None,
                not_regex: None,
                result: ok(""),
                passed: true,
                detail: "exit 0",
            },
            Case {
                name: "exit 3 fails with stderr",
                expect: expect(),
                regex: None,
                not_regex: None,
                result: ExecResult {
                    exit: Some(3),
                    stderr: "boom\nUnit geth.service not found.\n".into(),
                    ..ExecResult::default()
                },
                passed: false,
                detail: "exit status 3, expected 0: Unit geth.service not found.",
            },
            Case {
                name: "exit any",
                expect: with(|e| e.exit = vec![]),
                regex: None,
                not_regex: None,
                result: ExecResult {
                    exit: Some(1),
                    ..ExecResult::default()
                },
                passed: true,
                detail: "exit 1",
            },
            Case {
                name: "transport error",
                expect: expect(),
                regex: None,
                not_regex: None,
                result: ExecResult {
                    error: Some("connection lost".into()),
                    ..ExecResult::default()
                },
                passed: false,
                detail: "could not run: connection lost",
            },
            Case {
                name: "regex must match",
                expect: expect(),
                regex: Some("^active$"),
                not_regex: None,
                result: ok("inactive\n"),
                passed: false,
                detail: "output does not match /^active$/",
            },
            Case {
                name: "not_regex",
                expect: expect(),
                regex: None,
                not_regex: Some("(?i)error"),
                result: ok("all fine\nERROR: disk\n"),
                passed: false,
                detail: "output matches /(?i)error/: \"ERROR\"",
            },
            Case {
                name: "first number, df percent",
                expect: with(|e| e.number = parse_comparison("< 80")),
                regex: None,
                not_regex: None,
                result: ok(" Use%\n 41%\n"),
                passed: true,
                detail: "41 < 80",
            },
            Case {
                name: "number from capture",
                expect: with(|e| e.number = parse_comparison("> 0")),
                regex: Some("connected count=([0-9]+)"),
                not_regex: None,
                result: ok("2022 x [P2P] heartBeat,connected count=0\n"),
                passed: false,
                detail: "0 is not > 0",
            },
            Case {
                name: "json path equals",
                expect: with(|e| {
                    e.json_path = Some("$.result".into());
                    e.equals = Some(serde_json::json!(false));
                }),
                regex: None,
                not_regex: None,
                result: ok(r#"{"jsonrpc":"2.0","id":1,"result":false}"#),
                passed: true,
                detail: "exit 0",
            },
            Case {
                name: "json path hex number",
                expect: with(|e| {
                    e.json_path = Some("$.result".into());
                    e.number = parse_comparison(">= 100");
                }),
                regex: None,
                not_regex: None,
                result: ok(r#"{"result":"0x1b4"}"#),
                passed: true,
                detail: "436 >= 100",
            },
            Case {
                name: "json path selects nothing",
                expect: with(|e| e.json_path = Some("$.result.peers".into())),
                regex: None,
                not_regex: None,
                result: ok(r#"{"result":"0x1"}"#),
                passed: false,
                detail: "JSON path $.result.peers selects nothing",
            },
            Case {
                name: "not json",
                expect: with(|e| e.json_path = Some("$.x".into())),
                regex: None,
                not_regex: None,
                result: ok("<html>"),
                passed: false,
                detail: "output is not JSON: expected value at line 1 column 1",
            },
            Case {
                name: "json equals mismatch",
                expect: with(|e| {
                    e.json_path = Some("$.result".into());
                    e.equals = Some(serde_json::json!(false));
                }),
                regex: None,
                not_regex: None,
                result: ok(r#"{"result":{"currentBlock":"0x1"}}"#),
                passed: false,
                detail: "JSON path $.result is {\"currentBlock\":\"0x1\"}, expected false",
            },
            Case {
                name: "no number",
                expect: with(|e| e.number = parse_comparison("== 0")),
                regex: None,
                not_regex: None,
                result: ok("none here"),
                passed: false,
                detail: "no number in the output to compare",
            },
        ];
        for case in cases {
            let v = judge(&case.expect, case.regex, case.not_regex, &case.result);
            assert_eq!(
                (v.passed, v.detail.as_str()),
                (case.passed, case.detail),
                "case {}",
                case.name
            );
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("0x1b4"), Some(436.0));
        assert_eq!(parse_number("-3"), Some(-3.0));
        assert_eq!(parse_number("80%"), Some(80.0));
        assert_eq!(parse_number("x"), None);
        assert_eq!(first_number("height: 0x10 and 5"), Some(16.0));
        assert_eq!(first_number("a 1.5 b"), Some(1.5));
    }
}
